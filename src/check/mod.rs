//! The checker: after a run, the verdict — the run's terminal status and when, or *stuck* with a
//! cause chain computed from the trace — and every safety property, each with a stable name
//! (design "Invariants"). Checkers only observe; `explain` builds the cause chain.

mod explain;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::World;
use crate::model::operator::Health;
use crate::scenario::{Action, Expect, ExpectedStatus, FaultKind, PolicyKind, RunStatus};
use crate::sim::StopReason;
use crate::time::SimTime;
use crate::trace::Writer;
use crate::trace::{Loss, Note, Record};
use crate::words::{Property, TaskRef, TaskState};

/// Where the run ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ending {
    /// A terminal status was reached.
    Terminal {
        /// The first terminal status.
        status: RunStatus,
        /// When, in seconds.
        at: SimTime,
    },
    /// No terminal status by the end of the run.
    Stuck,
}

/// What happened in one run.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Terminal or stuck.
    pub ending: Ending,
    /// The final status of the run record.
    pub final_status: RunStatus,
    /// Why the engine stopped.
    pub stop: StopReason,
    /// When it stopped.
    pub stopped_at: SimTime,
    /// Broken safety properties, with a one-line reason each.
    pub violations: BTreeMap<Property, String>,
    /// The cause chain, when stuck or ended by a policy.
    pub cause: Vec<String>,
    /// chord_unlock polls that ran well after their ETA, and why.
    pub late_polls: Vec<String>,
    /// The operator policy that wrote the terminal status (the watchdog's Failed, rhesis-model
    /// §g), if one did: the chord itself never finished the run.
    pub ended_by: Option<PolicyKind>,
    /// For a run a policy ended (`ended_by`): a message or result was lost that no setting
    /// brings back — the broker's data wiped, a publish to a broker that was down, a purge, the
    /// backend's data lost, chord_unlock or the body revoked — so only a policy could end it.
    /// False for every other run (the trace is not scanned for them).
    pub lost_for_good: bool,
    /// `collect_results` executions.
    pub callback_runs: u64,
    /// Errback executions.
    pub errback_runs: u64,
    /// chord_unlock executions.
    pub chord_unlock_runs: u64,
    /// The body's final state.
    pub body_state: TaskState,
    /// Each header task's final state.
    pub header_states: Vec<TaskState>,
    /// Each header task's executions.
    pub header_runs: Vec<u32>,
}

/// Compute the verdict of a finished run.
pub(crate) fn verdict(world: &World, stop: StopReason, stopped_at: SimTime) -> Verdict {
    let n = world.n();
    let ending = match world.app.terminal_at() {
        Some((at, status)) => Ending::Terminal { status, at },
        None => Ending::Stuck,
    };
    let mut violations = BTreeMap::new();
    let callback_writes: Vec<_> = world.app.writes.iter().filter(|w| w.by == Writer::Callback).collect();
    if callback_writes.len() > 1 {
        violations.insert(
            Property::CallbackAtMostOnce,
            format!(
                "collect_results wrote the run status {} times: it ran again and is not idempotent (rhesis-model §c)",
                callback_writes.len()
            ),
        );
    }
    if world.stats.errback_acted > 1 {
        violations.insert(
            Property::ErrbackAtMostOnce,
            format!(
                "the errback marked the run {} times (§7: called once per chord error delivery and per failure store)",
                world.stats.errback_acted
            ),
        );
    }
    if let Some((at, first)) = world.app.terminal_at()
        && let Some(w) = world.app.writes.iter().find(|w| w.at >= at && w.from.is_terminal() && w.to != w.from)
    {
        violations.insert(
            Property::TerminalNeverOverwritten,
            format!(
                "{} at {} was overwritten with {} by {:?} at {}: nothing enforces a terminal status (rhesis-model §b)",
                first.name(),
                at,
                w.to.name(),
                w.by,
                w.at
            ),
        );
    }
    if let Some(rule) = world.rule_status(stopped_at)
        && let Some(w) = callback_writes.iter().find(|w| w.to != rule)
    {
        violations.insert(
            Property::StatusFollowsRule,
            format!(
                "collect_results wrote {} but the header outcomes give {} under its own rule (rhesis-model §c)",
                w.to.name(),
                rule.name()
            ),
        );
    }
    for payload in &world.stats.body_payloads {
        let in_order = payload.len() == n && payload.iter().enumerate().all(|(i, p)| p.test as usize == i);
        if !in_order {
            let tests: Vec<String> = payload.iter().map(|p| p.test.to_string()).collect();
            violations.insert(
                Property::BodyOneEntryPerHeader,
                format!("the body got entries for tests [{}] of {n} (§6 \"Duplicates\")", tests.join(", ")),
            );
            break;
        }
    }
    if !world.native_chord()
        && world.stats.body_payloads.is_empty()
        && world.unlock_max_retries().0.is_none()
        && world.unlock_live()
    {
        violations.insert(
            Property::PollingBounded,
            match world.stats.polls {
                0 => format!(
                    "chord_unlock had not polled yet when the run ended, and with max_retries=None from {} nothing bounds how long it will (§5.3)",
                    world.unlock_max_retries().1
                ),
                n => format!(
                    "chord_unlock was still polling after {n} poll{} when the run ended, with max_retries=None from {} (§5.3)",
                    if n == 1 { "" } else { "s" },
                    world.unlock_max_retries().1
                ),
            },
        );
    }
    let bound = 2 + world.sc.faults.len() as u32;
    if let Some((task, retries, count)) = world.stats.most_delivered.filter(|(_, _, c)| *c > bound) {
        violations.insert(
            Property::RedeliveryBounded,
            format!(
                "{task} (attempt {}) was delivered {count} times, more than {bound}: restored again and again (§9 table, row 2)",
                retries + 1
            ),
        );
    }
    let at = stopped_at;
    // A run a policy ended was not finished by its chord: why not, as for a stuck one.
    let ended_by = world.app.writes.iter().find(|w| w.to.is_terminal()).and_then(|w| match w.by {
        Writer::Policy(k) => Some(k),
        _ => None,
    });
    let cause =
        if ending == Ending::Stuck || ended_by.is_some() { explain::cause_chain(world, at) } else { Vec::new() };
    Verdict {
        ending,
        final_status: world.app.status,
        stop,
        stopped_at,
        violations,
        cause,
        late_polls: explain::late_polls(world),
        ended_by,
        lost_for_good: ended_by.is_some()
            && (world.trace.iter().any(|r| match r.note {
                Note::Lost { why, .. } => {
                    matches!(why, Loss::BrokerWiped | Loss::BrokerDown | Loss::CutConnection | Loss::Purged)
                }
                Note::RevokedDropped { task, .. } => matches!(task, TaskRef::ChordUnlock | TaskRef::Body),
                Note::Finished { task, how: crate::trace::Ending::Terminated, .. } => {
                    matches!(task, TaskRef::ChordUnlock | TaskRef::Body)
                }
                _ => false,
            }) || world
                .sc
                .faults
                .iter()
                .any(|f| f.at <= stopped_at && matches!(f.kind, FaultKind::BackendOutage { lose_data: true, .. }))),
        callback_runs: world.stats.callback_runs,
        errback_runs: world.stats.errback_runs,
        chord_unlock_runs: world.stats.chord_unlock_runs,
        body_state: world.backend.state(TaskRef::Body.slot(n), at),
        header_states: (0..n).map(|i| world.backend.state(i, at)).collect(),
        header_runs: world.stats.header_runs.clone(),
    }
}

/// A health check's answer at an instant, judged by how the run ended.
#[derive(Clone, Debug, Serialize)]
pub struct HealthCall {
    /// What the monitor saw.
    #[serde(flatten)]
    pub health: Health,
    /// Whether "healthy" / "unhealthy" was the truth: unhealthy exactly when the run was in
    /// progress then and the chord never finishes it by itself (stuck, or ended by a policy).
    pub right: bool,
    /// Why, in words.
    pub why: String,
}

/// Judge `health` by the run's verdict and trace. A run that a policy's action leaves stuck
/// (a revoke, a purge) was not stuck before that action: a healthy answer before it is right.
pub fn health_call(health: Health, v: &Verdict, trace: &[Record]) -> HealthCall {
    let in_progress = !health.run_status.is_terminal();
    let later_act = trace.iter().find_map(|r| match &r.note {
        Note::PolicyActed { kind, dry_run: false, action, .. }
            if v.ending == Ending::Stuck && *action != Action::MarkFailed =>
        {
            Some((r.at, *kind))
        }
        _ => None,
    });
    let later_act = later_act.filter(|(at, _)| *at > health.at);
    let for_good = in_progress && later_act.is_none() && (v.ending == Ending::Stuck || v.ended_by.is_some());
    if let (true, Some((at, kind))) = (health.healthy, later_act) {
        let why = format!("right for now: the run is stuck only after {} acts at {at}", kind.who());
        return HealthCall { right: true, why, health };
    }
    let why = match (health.healthy, for_good, v.ending) {
        (false, true, _) => "right: the chord never finishes the run by itself".to_string(),
        (true, true, Ending::Terminal { status, at }) => format!(
            "missed: the chord never finishes the run; {} writes {} at {at}",
            v.ended_by.map_or("a policy", |k| k.who()),
            status.name()
        ),
        (true, true, _) => {
            format!("missed: the run is stuck for good ({})", v.cause.first().map_or("no cause found", String::as_str))
        }
        (false, false, _) if !in_progress => format!("false alarm: the run was {} already", health.run_status.name()),
        (false, false, Ending::Terminal { status, at }) => {
            format!("false alarm: the chord finishes the run by itself, {} at {at}", status.name())
        }
        (false, false, Ending::Stuck) => "false alarm".to_string(),
        (true, false, _) if !in_progress => format!("right: the run is {}", health.run_status.name()),
        (true, false, Ending::Terminal { status, at }) => {
            format!("right: the chord finishes the run by itself, {} at {at}", status.name())
        }
        (true, false, Ending::Stuck) => "right".to_string(),
    };
    HealthCall { right: health.healthy != for_good, why, health }
}

/// Every way the verdict misses the scenario's expectation, one line each. A run the event
/// budget cut short misses every expectation: what happened after it is unknown.
///
/// Without an expectation (a question), the run must end terminal with every safety property
/// intact.
pub fn misses(v: &Verdict, e: Option<&Expect>) -> Vec<String> {
    let mut out = Vec::new();
    if v.stop == StopReason::EventBudget {
        out.push(format!(
            "the run stopped at the event budget ({} events and scanned items) at {}, before its horizon: the verdict is incomplete; shorten the horizon or shrink the workload",
            crate::sim::EVENT_BUDGET,
            v.stopped_at
        ));
    }
    let Some(e) = e else {
        if v.ending == Ending::Stuck {
            out.push(format!("stuck: {}", v.cause.first().map_or("no cause found", String::as_str)));
        }
        for (p, why) in &v.violations {
            out.push(format!("violated {}: {why}", p.name()));
        }
        return out;
    };
    match (e.status, v.ending) {
        (ExpectedStatus::Stuck, Ending::Stuck) => {}
        (ExpectedStatus::Terminal(want), Ending::Terminal { status, at }) => {
            if want != status {
                out.push(format!("expected {}, got {}", want.name(), status.name()));
            }
            if let Some(within) = e.within
                && at > SimTime::ZERO + within
            {
                out.push(format!("expected terminal within {within}, reached at {at}"));
            }
        }
        (ExpectedStatus::Stuck, Ending::Terminal { status, at }) => {
            out.push(format!("expected stuck, got {} at {at}", status.name()));
        }
        (ExpectedStatus::Terminal(want), Ending::Stuck) => out.push(format!("expected {}, got stuck", want.name())),
    }
    for (name, want, got) in [
        ("callback_runs", e.callback_runs, v.callback_runs),
        ("errback_runs", e.errback_runs, v.errback_runs),
        ("chord_unlock_runs", e.chord_unlock_runs, v.chord_unlock_runs),
    ] {
        if let Some(range) = want
            && !range.contains(got)
        {
            out.push(format!("expected {name} {range}, got {got}"));
        }
    }
    if let Some(b) = e.body_state
        && b != v.body_state
    {
        out.push(format!("expected body {}, got {}", b.name(), v.body_state.name()));
    }
    for p in v.violations.keys() {
        if !e.violations.contains(p) {
            out.push(format!("unexpected violation {}: {}", p.name(), v.violations[p]));
        }
    }
    for p in &e.violations {
        if !v.violations.contains_key(p) {
            out.push(format!("expected violation {} did not happen", p.name()));
        }
    }
    out
}
