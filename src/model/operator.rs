//! The operators around the chord: the policies a scenario schedules — era A1's chord monitor,
//! the documented `fix_chords.py` cron, #1597's watchdog (rhesis-model §e, §f, §g) — which
//! chords each takes for stuck by its clock, what it does to them, and the health a monitor
//! reports at any instant.
//!
//! A policy sees what its real counterpart sees: the monitor reads `inspect().active()`, a
//! broadcast over the broker that only running, connected workers answer; the documented rule
//! reads the run record (the application's own database, always reachable). Its revokes go
//! through `control.revoke` like any other (`worker.rs: revoke`); a purge deletes only what
//! waits in the queue (source notes §15).

use crate::scenario::{Action, Clock, Node, Policy, PolicyKind, RunStatus};
use crate::sim::Schedule;
use crate::time::{SimDuration, SimTime};
use crate::trace::{Loss, Note, Writer};
use crate::words::TaskRef;

use super::{Event, World};

/// What a policy's rule finds at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How old the chord is by the policy's clock: the oldest active chord_unlock's run time
    /// (`task_start`), or the time since the chord was applied (`chord_age`); None when the
    /// clock sees nothing (no chord_unlock active, or the run is terminal).
    pub age: Option<SimDuration>,
    /// What the rule saw, in words.
    pub seen: String,
}

/// Health as a monitor reports it (`chord_monitor.py status` and the health-check helpers):
/// unhealthy while a stuck chord exists by its rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// When.
    pub at: SimTime,
    /// The rule it applies, in words.
    pub rule: String,
    /// chord_unlock executions in `inspect().active()`: (worker name, `time_start`).
    pub active_chord_unlock: Vec<(String, SimTime)>,
    /// The stuck chords it finds (zero or one: the model runs one chord).
    pub stuck: Vec<String>,
    /// No stuck chord.
    pub healthy: bool,
    /// The run record's status then.
    pub run_status: RunStatus,
}

impl World {
    /// Policy `i` checks: reports, acts on a stuck chord, and comes back after `every` while
    /// there is something to watch (the run in progress, or a chord_unlock still alive).
    pub(crate) fn policy_check(&mut self, now: SimTime, i: usize, out: &mut Schedule<Event>) {
        let p = self.sc.policies[i].clone();
        let found = self.finding(&p, now);
        if let Some(age) = found.age {
            if age >= p.older_than {
                self.act(now, &p, &found, out);
            } else if p.report_older_than.is_some_and(|r| age >= r) {
                self.note(now, Note::PolicyReported { kind: p.kind, seen: found.seen.clone() });
            }
        }
        if let Some(every) = p.every
            && (!self.app.status.is_terminal() || self.unlock_live())
        {
            out.after(every, Event::Policy(i));
        }
    }

    /// What `p`'s rule sees now.
    pub(crate) fn finding(&mut self, p: &Policy, now: SimTime) -> Finding {
        match p.clock {
            Clock::TaskStart => {
                let active = self.active_unlocks();
                match active.iter().min_by_key(|(_, t)| *t) {
                    Some((w, t)) => Finding {
                        age: Some(now.since(*t)),
                        seen: format!("chord_unlock active on {w} since {t} ({} ago)", now.since(*t).human()),
                    },
                    None => Finding { age: None, seen: "no chord_unlock in inspect().active()".into() },
                }
            }
            Clock::ChordAge if self.app.status.is_terminal() => {
                Finding { age: None, seen: format!("run {}", self.app.status.name()) }
            }
            Clock::ChordAge => {
                let age = now.since(self.sc.app.submit_at);
                Finding {
                    age: Some(age),
                    seen: format!("run in {} {} after its chord", self.app.status.name(), age.human()),
                }
            }
        }
    }

    /// chord_unlock executions that `inspect().active()` returns now: on workers that are up,
    /// connected, and can hear the broadcast and answer it; with their `time_start`.
    pub(crate) fn active_unlocks(&mut self) -> Vec<(String, SimTime)> {
        if !self.broker_reachable(&Node::Producer) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (w, worker) in self.workers.iter().enumerate() {
            self.work += 1;
            let answers = worker.is_running()
                && worker.connected
                && self.net.connected(&Node::Broker, &Node::Worker(w))
                && self.net.can_send(&Node::Worker(w), &Node::Broker);
            if !answers {
                continue;
            }
            for (_, e) in worker.pool.running().filter(|(_, e)| e.msg.task == TaskRef::ChordUnlock) {
                out.push((self.sc.topology.workers[w].name.clone(), e.started));
            }
        }
        out
    }

    /// Do `p`'s actions to the stuck chord (or say what it would do, on a dry run).
    fn act(&mut self, now: SimTime, p: &Policy, found: &Finding, out: &mut Schedule<Event>) {
        for &action in &p.actions {
            self.note(
                now,
                Note::PolicyActed {
                    kind: p.kind,
                    action,
                    terminate: p.terminate,
                    dry_run: p.dry_run,
                    seen: found.seen.clone(),
                },
            );
            if p.dry_run {
                continue;
            }
            match action {
                // A Redis backend's chord has no chord_unlock (§6): the id the monitor would
                // revoke does not exist.
                Action::RevokeChordUnlock if self.native_chord() => {
                    self.note(now, Note::PolicyNoop { kind: p.kind, why: "a native Redis chord has no chord_unlock" })
                }
                Action::RevokeChordUnlock => self.revoke(now, TaskRef::ChordUnlock, p.terminate, out),
                Action::RevokeBody => self.revoke(now, TaskRef::Body, p.terminate, out),
                Action::MarkFailed if self.app.status.is_terminal() => {
                    self.note(now, Note::PolicyNoop { kind: p.kind, why: "the run is terminal already" })
                }
                Action::MarkFailed => {
                    self.app.set_status(now, RunStatus::Failed, Writer::Policy(p.kind), &mut self.trace)
                }
                Action::Purge => self.purge(now, p.kind),
            }
        }
    }

    /// `app.control.purge()`: every queue's waiting messages are deleted (kombu's `queue_purge`:
    /// Redis `DEL` of the list, AMQP `queue.purge`); messages prefetched by a worker, held in its
    /// ETA timer, or unacknowledged stay where they are.
    fn purge(&mut self, now: SimTime, kind: PolicyKind) {
        if !self.broker_reachable(&Node::Producer) {
            self.note(now, Note::PolicyNoop { kind, why: "the purge cannot reach the broker" });
            return;
        }
        self.work += self.broker.queue.len() as u64;
        let purged: Vec<TaskRef> = self.broker.queue.drain(..).map(|m| m.task).collect();
        for task in purged {
            self.note(now, Note::Lost { task, why: Loss::Purged });
        }
    }

    /// Health now, by the scenario's first monitor policy's rule (a chord-monitor or
    /// fix-chords), else by era A1's monitor's own (`task_start`, 1 h).
    pub fn health(&mut self, now: SimTime) -> Health {
        let monitor = self
            .sc
            .policies
            .iter()
            .find(|p| matches!(p.kind, PolicyKind::ChordMonitor | PolicyKind::FixChords))
            .cloned()
            .unwrap_or_else(|| Policy::shipped(PolicyKind::ChordMonitor, None).expect("the monitor has a default"));
        let found = self.finding(&monitor, now);
        let stuck = match found.age {
            Some(age) if age >= monitor.older_than => vec![found.seen],
            _ => Vec::new(),
        };
        let rule = match monitor.clock {
            Clock::TaskStart => {
                format!("{}: a chord_unlock in inspect().active() for over {}", monitor.kind.name(), monitor.older_than)
            }
            Clock::ChordAge => {
                format!("{}: a run not terminal {} after its chord", monitor.kind.name(), monitor.older_than)
            }
        };
        Health {
            at: now,
            rule,
            active_chord_unlock: self.active_unlocks(),
            healthy: stuck.is_empty(),
            stuck,
            run_status: self.app.status,
        }
    }
}
