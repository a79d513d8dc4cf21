//! Cause chains for stuck runs, computed from the trace: which message was lost, when and why;
//! which poller gave up and after how many polls; which ChordError nobody handled.

use crate::model::World;
use crate::scenario::{Action, Errback, FaultKind};
use crate::time::SimTime;
use crate::trace::{Loss, Note, PartNote, Record};
use crate::words::{TaskRef, TaskState};

/// Lines, most important first.
pub(crate) fn cause_chain(world: &World, end: SimTime) -> Vec<String> {
    let mut out = Vec::new();
    let trace = &world.trace;
    let n = world.n();
    let body = world.backend.state(TaskRef::Body.slot(n), end);
    let stuck: Vec<u32> = (0..n as u32).filter(|&i| !world.backend.state(i as usize, end).is_ready()).collect();
    let first = Landmarks::find(world, &stuck, body);
    if let Some(r) = first.apply_failed {
        out.push(format!("{}: {}", r.at, r.note));
        return out;
    }
    let chord_error = first.chord_error;
    if let Some(r) = chord_error {
        let handled = world.sc.app.errback != Errback::None;
        out.push(format!(
            "{}: {}{}",
            r.at,
            r.note,
            if handled { "" } else { "; nothing marks the run, so it stays in Progress" }
        ));
    }
    if let Some(r) = first.unlock_gave_up {
        out.push(format!("{}: {}", r.at, r.note));
    } else if !world.native_chord() && world.stats.body_payloads.is_empty() && world.unlock_live() {
        out.push(unlock_whereabouts(world, end));
    } else if !world.native_chord()
        && world.stats.body_payloads.is_empty()
        && chord_error.is_none()
        && let Some(r) = trace.iter().rev().find(|r| note_task(&r.note) == Some(TaskRef::ChordUnlock))
    {
        out.push(format!(
            "chord_unlock's poll chain ended: last seen at {}: {} (without a poll message nothing calls the body, §5)",
            r.latest(),
            r.note
        ));
    }
    if world.native_chord() && world.stats.body_payloads.is_empty() && chord_error.is_none() {
        let data_lost = world
            .sc
            .faults
            .iter()
            .filter(|f| f.at <= end && matches!(f.kind, FaultKind::BackendOutage { lose_data: true, .. }))
            .map(|f| f.at)
            .max();
        if let Some(at) = data_lost {
            out.push(format!("{at}: the result backend lost its data, the chord keys with it (§6)"));
        }
        let last = trace.iter().rev().find_map(|r| match &r.note {
            Note::PartReturn { outcome: PartNote::Counted(c, s), .. } => Some((r.at, *c, *s)),
            _ => None,
        });
        match last {
            Some((at, c, s)) => out.push(format!(
                "Redis chord counter at {c} of {s} since {at}: the body fires only when every part returns (§6)"
            )),
            None if body == TaskState::Pending => {
                out.push("no header task ever reached the Redis chord counter (§6)".to_string())
            }
            None => {}
        }
    }
    // A body fired once and lost on its way: the counter, or chord_unlock, fired for good.
    let body_lost = first.body_lost;
    if let Some(r) = body_lost {
        out.push(format!(
            "{}: {}; the header had completed the chord, which calls its body once: nothing publishes it again (§6)",
            r.at, r.note
        ));
    }
    if let Some(r) = first.body_raised {
        out.push(format!("{}: collect_results raised before writing the status", r.at));
    }
    let mut stories: Vec<String> = stuck.iter().take(3).map(|&i| test_story(world, i, end)).collect();
    if stuck.len() > 3 {
        let more = stuck.len() - 3;
        stories.push(format!("… and {more} more header task{} never finished", if more == 1 { "" } else { "s" }));
    }
    // Root cause first: a fault that lost a message or a result this run waits for comes before
    // what it led to (the poll held unacked, the counter short of the header).
    let root = first.lost.map(|r| r.at).and_then(|at| {
        trace.iter().rev().filter(|r| r.at <= at).find_map(|r| match &r.note {
            Note::Fault { what } => Some((r.at, what.clone())),
            Note::PolicyActed { dry_run: false, action: Action::Purge, kind, .. } => {
                Some((r.at, format!("{} purged the queues", kind.who())))
            }
            _ => None,
        })
    });
    // A policy that revoked chord_unlock ended the polling for good: nothing calls the body;
    // one that revoked the body had it dropped where it was delivered.
    let revoked = first.revoked.map(|r| match &r.note {
        Note::PolicyActed { kind, action: Action::RevokeChordUnlock, seen, .. } => format!(
            "root cause: {} revoked chord_unlock at {} ({seen}): nothing polls the header any more, so the body is never called and the run stays in {} (§9 \"Revoke\"; rhesis-model §e)",
            kind.who(),
            r.at,
            world.app.status.name()
        ),
        Note::PolicyActed { kind, seen, .. } => format!(
            "root cause: {} revoked collect_results at {} ({seen}): the worker that receives the body drops it, so nothing marks the run (§9 \"Revoke\")",
            kind.who(),
            r.at
        ),
        _ => unreachable!("Landmarks keeps only a policy's revoke"),
    });
    let root =
        revoked.or_else(|| root.map(|(at, what)| format!("root cause: {what} at {at}; what follows comes from it")));
    if let Some(line) = root {
        let mut chain = vec![line];
        chain.append(&mut stories);
        chain.append(&mut out);
        out = chain;
    } else {
        out.append(&mut stories);
    }
    if out.is_empty() {
        out.push(format!("no terminal status by {end}; body {}", body.name()));
    }
    out
}

/// The first record of each kind a cause chain starts from, found in one pass over the trace
/// (a stuck run's trace is long, and most of these records are in none).
#[derive(Default)]
struct Landmarks<'a> {
    apply_failed: Option<&'a Record>,
    chord_error: Option<&'a Record>,
    unlock_gave_up: Option<&'a Record>,
    /// The body's message lost while the body never ran (its state still PENDING).
    body_lost: Option<&'a Record>,
    body_raised: Option<&'a Record>,
    /// A loss of what the run waits for: a stuck test's message or result, chord_unlock's
    /// message, or the body's when it is lost for good.
    lost: Option<&'a Record>,
    /// A policy's revoke that explains the run: of chord_unlock while polling is the only way to
    /// the body, of the body while the run is not terminal (the watchdog revokes the body of a
    /// run it has just marked, which explains nothing).
    revoked: Option<&'a Record>,
}

impl<'a> Landmarks<'a> {
    fn find(world: &'a World, stuck: &[u32], body: TaskState) -> Self {
        let mut is_stuck = vec![false; world.n()];
        for &i in stuck {
            is_stuck[i as usize] = true;
        }
        let body_pending = body == TaskState::Pending;
        let polling_alone = !world.native_chord() && world.stats.body_payloads.is_empty();
        let run_open = !world.app.status.is_terminal();
        let mut first = Landmarks::default();
        // A failed store of the body's result counts only if the body's message was lost too,
        // anywhere in the trace: kept aside, with its place, until the pass is done.
        let mut body_store_failed: Option<(usize, &Record)> = None;
        let mut lost_at: Option<usize> = None;
        for (i, r) in world.trace.iter().enumerate() {
            let slot = match &r.note {
                Note::ApplyFailed { .. } => &mut first.apply_failed,
                Note::ChordError { .. } => &mut first.chord_error,
                Note::UnlockGaveUp { .. } => &mut first.unlock_gave_up,
                Note::Finished { task: TaskRef::Body, how: crate::trace::Ending::Raised, .. } => &mut first.body_raised,
                Note::Lost { task: TaskRef::Body, .. } if body_pending => {
                    first.body_lost.get_or_insert(r);
                    lost_at.get_or_insert(i);
                    &mut first.lost
                }
                Note::StoreFailed { task: TaskRef::Body, .. } if body_pending => {
                    body_store_failed.get_or_insert((i, r));
                    continue;
                }
                Note::Lost { task, .. } | Note::StoreFailed { task, .. }
                    if matches!(task, TaskRef::Header(t) if is_stuck[*t as usize]) || *task == TaskRef::ChordUnlock =>
                {
                    lost_at.get_or_insert(i);
                    &mut first.lost
                }
                Note::PolicyActed { action: Action::RevokeChordUnlock, dry_run: false, .. } if polling_alone => {
                    &mut first.revoked
                }
                Note::PolicyActed { action: Action::RevokeBody, dry_run: false, .. } if run_open => &mut first.revoked,
                _ => continue,
            };
            slot.get_or_insert(r);
        }
        if first.body_lost.is_some()
            && let Some((i, r)) = body_store_failed
            && lost_at.is_none_or(|l| i < l)
        {
            first.lost = Some(r);
        }
        first
    }
}

/// How many late polls are described; the rest are counted.
const LATE_SHOWN: usize = 3;

/// chord_unlock polls that ran well after their ETA (by a second, or an interval, or more),
/// the first few with where the message waited: for a free pool slot on the worker holding it
/// (a worker runs an ETA'd task only in a free slot, §9), or in the broker's queue.
pub(crate) fn late_polls(world: &World) -> Vec<String> {
    if world.stats.late_polls == 0 {
        return Vec::new();
    }
    let threshold = world.late_poll_threshold();
    let mut running = vec![0u32; world.workers.len()];
    let (mut eta, mut delivered, mut busy_at_eta) = (None, None, None);
    let (mut out, mut late) = (Vec::new(), 0usize);
    for r in &world.trace {
        if let (Some(e), None, Some((_, w))) = (eta, busy_at_eta, delivered)
            && r.at >= e
        {
            busy_at_eta = Some(running[w]);
        }
        match &r.note {
            Note::Published { task: TaskRef::ChordUnlock, eta: Some(e), .. } => {
                (eta, delivered, busy_at_eta) = (Some(*e), None, None);
            }
            Note::Delivered { task: TaskRef::ChordUnlock, worker, .. } => delivered = Some((r.at, *worker)),
            Note::Started { task, worker, .. } => {
                if *task == TaskRef::ChordUnlock
                    && let Some(e) = eta.take()
                    && r.at >= e + threshold
                {
                    late += 1;
                    if out.len() < LATE_SHOWN {
                        let slots = world.sc.topology.workers[*worker].concurrency;
                        let why = match (delivered, busy_at_eta) {
                            (Some((d, w)), Some(busy)) if d <= e && busy >= slots => format!(
                                "its message was on w{} from {d} and waited for a free pool slot: {}",
                                w + 1,
                                if slots == 1 {
                                    "its one slot ran a task".to_string()
                                } else {
                                    format!("all {slots} ran tasks")
                                }
                            ),
                            (Some((d, w)), _) if d > e => {
                                format!("its message reached w{} only at {d}: it waited in the broker's queue", w + 1)
                            }
                            _ => "its message waited in a worker's memory".to_string(),
                        };
                        out.push(format!(
                            "a poll due at {e} ran at {}, {} late: {why} (§9)",
                            r.at,
                            r.at.since(e).human()
                        ));
                    }
                }
                running[*worker] += 1;
            }
            Note::Finished { worker, .. } => running[*worker] = running[*worker].saturating_sub(1),
            _ => {}
        }
    }
    if late > LATE_SHOWN {
        out.push(format!("… and {} more polls ran late", late - LATE_SHOWN));
    }
    out
}

/// Where chord_unlock's next poll is when the run ends.
fn unlock_whereabouts(world: &World, end: SimTime) -> String {
    let is_unlock = |m: &crate::model::Message| m.task == TaskRef::ChordUnlock;
    if world.broker.queue.iter().any(is_unlock) {
        return format!(
            "chord_unlock's next poll waits in the broker's queue at {end}: no worker consumes it ({}; §9)",
            worker_states(world)
        );
    }
    if let Some(u) = world.broker.unacked.values().find(|u| is_unlock(&u.msg)) {
        let vt = world.cfg().visibility_timeout;
        return format!(
            "chord_unlock's next poll has been held unacked for w{} since {}; only a restore sweep once it is older than visibility_timeout={vt} brings it back (§9 table, row 2)",
            u.worker + 1,
            u.since
        );
    }
    let (max, source) = world.unlock_max_retries();
    let tail = if max.is_none() { ": it polls for ever (§5.3)" } else { "" };
    format!(
        "chord_unlock still polling at {end} after {} polls, every {} (max_retries={} from {source}){tail}",
        world.stats.polls,
        world.unlock_interval(),
        max.map_or("None".to_string(), |m| m.to_string()),
    )
}

fn worker_states(world: &World) -> String {
    use crate::model::worker::Status;
    let states: Vec<String> = world
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let what = match w.status {
                Status::Down => "down",
                Status::Draining => "in a warm shutdown, waiting for its running tasks",
                Status::Running if !w.connected => "disconnected from the broker",
                Status::Running => "running",
            };
            format!("w{} {what}", i + 1)
        })
        .collect();
    states.join(", ")
}

fn note_task(note: &Note) -> Option<TaskRef> {
    // Polls and part-returns say nothing of where a task's own message or execution is.
    match note {
        Note::PartReturn { .. }
        | Note::RetriesExhausted { .. }
        | Note::Poll { .. }
        | Note::UnlockGaveUp { .. }
        | Note::PollsFolded { .. } => None,
        other => other.task(),
    }
}

/// One header task's story: its last significant events and its final state.
fn test_story(world: &World, i: u32, end: SimTime) -> String {
    let task = TaskRef::Header(i);
    let state = world.backend.state(i as usize, end);
    let mut parts: Vec<String> = Vec::new();
    let mut acked_early = None;
    for r in &world.trace {
        match &r.note {
            Note::Acked { task: t, when: crate::trace::AckWhen::OnReceipt, .. } if *t == task => {
                acked_early = Some(r.at)
            }
            Note::Lost { task: t, why, .. } if *t == task => {
                let what = match why {
                    Loss::AckedThenKilled => format!(
                        "acked on receipt at {} (task_acks_late=false), then its process died at {}: the message is gone (§9 table, row 1)",
                        acked_early.unwrap_or(r.at),
                        r.at
                    ),
                    Loss::DroppedHeldUnacked => {
                        let vt = world.cfg().visibility_timeout;
                        format!(
                            "dropped from worker memory at {}; the broker holds it unacked, restored only once older than visibility_timeout={vt} (§9 table, row 2)",
                            r.at
                        )
                    }
                    Loss::BrokerWiped => {
                        format!("lost with the broker's data at {} (a restart without persistence)", r.at)
                    }
                    Loss::BrokerDown => {
                        format!("published at {} while the broker was down: the message never reached a queue", r.at)
                    }
                    Loss::CutConnection => format!(
                        "published on a cut broker link; its connection broke before the link healed, at {}: the message never reached a queue and nothing raised (docs/celery-source-notes.md §16)",
                        r.at
                    ),
                    Loss::Purged => format!("deleted from its queue by a purge at {}", r.at),
                };
                parts.push(what);
            }
            Note::StoreFailed { task: t, state: s } if *t == task => {
                parts.push(format!(
                    "storing {} failed at {} (backend unreachable): the result is lost (§9 \"Backend down at store\")",
                    s.name(),
                    r.at
                ));
            }
            Note::Stored { task: t, state: TaskState::Success, kept_success: false } if *t == task => {
                if let Some(exp) = world.backend.expires_at(i as usize).filter(|e| *e <= end) {
                    parts.push(format!(
                        "stored SUCCESS at {}, expired at {exp} (result_expires): it reads PENDING again (§2, §8)",
                        r.at
                    ));
                }
            }
            _ => {}
        }
    }
    if world.ignores_result(task) && !world.native_chord() {
        parts.push("its result is ignored (ignore_result), so it is never stored and reads PENDING (§8)".into());
    }
    let hangs = world.sc.tests[i as usize].outcome == crate::scenario::Outcome::Hang;
    let running = world.workers.iter().enumerate().find(|(_, w)| w.running(task).is_some());
    if parts.is_empty()
        && !hangs
        && let Some((w, _)) = running
    {
        let started = world.trace.iter().rev().find(|r| matches!(r.note, Note::Started { task: t, .. } if t == task));
        parts.push(format!(
            "still running on w{} when the run ended{}: the horizon ({}) came first, not a hang — lengthen `horizon` to see how it ends",
            w + 1,
            started.map_or(String::new(), |r| format!(" (started at {})", r.at)),
            world.sc.horizon
        ));
    }
    if parts.is_empty() {
        if let Some(r) = world.trace.iter().rev().find(|r| note_task(&r.note) == Some(task)) {
            let why = if world.sc.tests[i as usize].outcome == crate::scenario::Outcome::Hang {
                " (the test never returns and no time limit ends it, §9)"
            } else {
                ""
            };
            parts.push(format!("last seen at {}: {}{why}", r.latest(), r.note));
        } else {
            parts.push("never delivered".into());
        }
    }
    format!("{task}: {}; its result stays {}", parts.join("; "), state.name())
}
