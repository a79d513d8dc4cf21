//! From a configuration to what to change: `lint` finds hazards in the configuration alone,
//! each shown by a generated scenario; `harden` searches for the smallest set of [`Change`]s
//! under which `explore` finds nothing. A change is one setting or one piece of application or
//! operator code, written in the user's terms: an `app.conf` line and the scenario's TOML.

pub mod harden;
pub mod lint;

use std::collections::BTreeMap;

use crate::config::AckMode;
use crate::scenario::{Action, Errback, Policy, Scenario};
use crate::time::SimDuration;

/// The workload a configuration is judged against: how many tests, how long each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Header tests.
    pub tests: usize,
    /// Each test's run time.
    pub duration: SimDuration,
}

impl Workload {
    /// How long the header takes on `sc`'s workers when nothing goes wrong: the tests in waves
    /// of the pool slots.
    pub fn header_time(&self, sc: &Scenario) -> SimDuration {
        let slots: u64 = sc.topology.workers.iter().map(|w| u64::from(w.concurrency)).sum::<u64>().max(1);
        let waves = (self.tests as u64).div_ceil(slots).max(1);
        SimDuration(self.duration.0.saturating_mul(waves))
    }
}

/// One change to a configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// `task_acks_late = True`: a task is acknowledged after it runs, so a lost worker's task
    /// comes back (§9 table).
    AcksLate,
    /// `task_reject_on_worker_lost = True`: a task whose child died is requeued instead of
    /// failed (§12).
    RejectOnWorkerLost,
    /// `worker_prefetch_multiplier = 1`: a worker holds no more than it runs.
    PrefetchOne,
    /// `task_time_limit` / `task_soft_time_limit`: a hung task ends.
    TimeLimits {
        /// The hard limit.
        hard: SimDuration,
        /// The soft limit.
        soft: SimDuration,
    },
    /// `task_annotations = {'celery.chord_unlock': {'max_retries': N}}`: chord_unlock polls
    /// this many times before it gives up (§5.3).
    UnlockMaxRetries(u32),
    /// `task_annotations = {'celery.chord_unlock': {'acks_late': False}}`: a poll is acked when
    /// it starts, so one that failed to retry is not delivered again to fail the chord twice.
    UnlockAcksEarly,
    /// `result_expires`: results and the Redis chord keys outlive the run (§6).
    ResultExpires(SimDuration),
    /// `broker_transport_options = {'visibility_timeout': …}`.
    VisibilityTimeout(SimDuration),
    /// `result_backend_always_retry = True`: a store outlives a backend outage.
    BackendAlwaysRetry,
    /// `result_backend_max_retries = N`: the database backend retries a failed store this many
    /// times (with backoff up to 10 s) instead of 3 (celery-semantics §12).
    BackendMaxRetries(u32),
    /// `task_ignore_result = False`: results are stored, so the polling join can read them.
    StoreResults,
    /// A new-style errback on the body (`link_error`): a ChordError marks the run Failed.
    Errback,
    /// The terminal guard: collect_results and the errback skip their write when the run is
    /// terminal already.
    TerminalGuard,
    /// A watchdog that marks the run Failed this long after its chord, if not terminal.
    Watchdog(SimDuration),
    /// No operator policy revokes chord_unlock or the body, or purges the queues.
    NoRevokingPolicy,
}

impl Change {
    /// Apply it to a scenario.
    pub fn apply(&self, sc: &mut Scenario) {
        let c = &mut sc.celery;
        match self {
            Change::AcksLate => c.acks = AckMode::Late,
            Change::RejectOnWorkerLost => c.reject_on_worker_lost = true,
            Change::PrefetchOne => c.prefetch_multiplier = 1,
            Change::TimeLimits { hard, soft } => {
                c.time_limit = Some(*hard);
                c.soft_time_limit = Some(*soft);
            }
            Change::UnlockMaxRetries(n) => {
                let a = c.annotations.entry("celery.chord_unlock".to_string()).or_default();
                a.max_retries = Some(Some(*n));
                sc.app.chord_max_retries = None;
            }
            Change::UnlockAcksEarly => {
                c.annotations.entry("celery.chord_unlock".to_string()).or_default().acks_late = Some(false);
            }
            Change::ResultExpires(d) => c.result_expires = Some(*d),
            Change::VisibilityTimeout(d) => c.visibility_timeout = *d,
            Change::BackendAlwaysRetry => c.backend_always_retry = true,
            Change::BackendMaxRetries(n) => c.backend_max_retries = Some(*n),
            Change::StoreResults => {
                c.ignore_result = false;
                for t in &mut sc.tests {
                    t.ignore_result = false;
                }
            }
            Change::Errback => sc.app.errback = Errback::Inline,
            Change::TerminalGuard => sc.app.terminal_guard = true,
            Change::Watchdog(d) => {
                sc.policies.retain(|p| p.kind != crate::scenario::PolicyKind::Watchdog);
                sc.policies.push(Policy::watchdog(*d));
            }
            Change::NoRevokingPolicy => sc.policies.retain(|p| !destroys(p)),
        }
    }

    /// As a line of Python: the `app.conf` setting, or the application change as code.
    pub fn python(&self) -> String {
        let secs = |d: &SimDuration| d.0 / 1_000_000;
        match self {
            Change::AcksLate => "app.conf.task_acks_late = True".into(),
            Change::RejectOnWorkerLost => "app.conf.task_reject_on_worker_lost = True".into(),
            Change::PrefetchOne => "app.conf.worker_prefetch_multiplier = 1".into(),
            Change::TimeLimits { hard, soft } => format!(
                "app.conf.task_time_limit = {}; app.conf.task_soft_time_limit = {}",
                secs(hard),
                secs(soft)
            ),
            Change::UnlockMaxRetries(n) => {
                format!("app.conf.task_annotations = {{'celery.chord_unlock': {{'max_retries': {n}}}}}")
            }
            Change::UnlockAcksEarly => "app.conf.task_annotations = {'celery.chord_unlock': {'acks_late': False}}".into(),
            Change::ResultExpires(d) => format!("app.conf.result_expires = {}", secs(d)),
            Change::VisibilityTimeout(d) => {
                format!("app.conf.broker_transport_options = {{'visibility_timeout': {}}}", secs(d))
            }
            Change::BackendAlwaysRetry => "app.conf.result_backend_always_retry = True".into(),
            Change::BackendMaxRetries(n) => format!("app.conf.result_backend_max_retries = {n}"),
            Change::StoreResults => "app.conf.task_ignore_result = False  # and no ignore_result=True on the header".into(),
            Change::Errback => {
                "chord(header, collect_results.s().on_error(mark_run_failed.s()))  # def mark_run_failed(request, exc, traceback)".into()
            }
            Change::TerminalGuard => "if run.status in TERMINAL: return  # first thing in collect_results and the errback".into(),
            Change::Watchdog(d) => format!("# a periodic task: mark runs still in progress {d} after their chord Failed, revoke the body"),
            Change::NoRevokingPolicy => "# stop the cron that revokes chord_unlock, the body, or purges the queues".into(),
        }
    }

    /// As scenario TOML: (table, line).
    pub fn toml(&self) -> (&'static str, String) {
        let secs = |d: &SimDuration| d.0 / 1_000_000;
        match self {
            Change::AcksLate => ("[celery]", "task_acks_late = true".into()),
            Change::RejectOnWorkerLost => ("[celery]", "task_reject_on_worker_lost = true".into()),
            Change::PrefetchOne => ("[celery]", "worker_prefetch_multiplier = 1".into()),
            Change::TimeLimits { hard, soft } => {
                ("[celery]", format!("task_time_limit = {}\ntask_soft_time_limit = {}", secs(hard), secs(soft)))
            }
            Change::UnlockMaxRetries(n) => {
                ("[celery.task_annotations.\"celery.chord_unlock\"]", format!("max_retries = {n}"))
            }
            Change::UnlockAcksEarly => {
                ("[celery.task_annotations.\"celery.chord_unlock\"]", "acks_late = false".into())
            }
            Change::ResultExpires(d) => ("[celery]", format!("result_expires = {}", secs(d))),
            Change::VisibilityTimeout(d) => {
                ("[celery]", format!("broker_transport_options = {{ visibility_timeout = {} }}", secs(d)))
            }
            Change::BackendAlwaysRetry => ("[celery]", "result_backend_always_retry = true".into()),
            Change::BackendMaxRetries(n) => ("[celery]", format!("result_backend_max_retries = {n}")),
            Change::StoreResults => ("[celery]", "task_ignore_result = false".into()),
            Change::Errback => ("[app]", "errback = \"inline\"".into()),
            Change::TerminalGuard => ("[app]", "terminal_guard = true".into()),
            Change::Watchdog(d) => ("[[policy]]", format!("kind = \"watchdog\"\nolder_than = \"{d}\"")),
            Change::NoRevokingPolicy => ("[[policy]]", "# remove the [[policy]] tables that revoke or purge".into()),
        }
    }

    /// Whether the configuration already has it (then it is no change).
    pub fn holds(&self, sc: &Scenario) -> bool {
        let mut changed = sc.clone();
        self.apply(&mut changed);
        changed.to_toml() == sc.to_toml()
    }
}

/// Whether a policy destroys work in progress: a revoke or a purge, not on a dry run. The
/// watchdog's revoke of the body follows its Failed, so it is not one.
pub(crate) fn destroys(p: &Policy) -> bool {
    p.kind != crate::scenario::PolicyKind::Watchdog
        && !p.dry_run
        && p.actions.iter().any(|a| matches!(a, Action::RevokeChordUnlock | Action::RevokeBody | Action::Purge))
}

/// Changes as an `app.conf` snippet and as TOML lines grouped under their tables.
pub fn render(changes: &[Change]) -> (String, String) {
    // chord_unlock's annotations go in one dict: two assignments would keep only the last.
    let mut unlock = Vec::new();
    let mut python: Vec<String> = Vec::new();
    for c in changes {
        match c {
            Change::UnlockMaxRetries(n) => unlock.push(format!("'max_retries': {n}")),
            Change::UnlockAcksEarly => unlock.push("'acks_late': False".to_string()),
            _ => python.push(c.python()),
        }
    }
    if !unlock.is_empty() {
        python.push(format!("app.conf.task_annotations = {{'celery.chord_unlock': {{{}}}}}", unlock.join(", ")));
    }
    let mut tables: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in changes {
        let (table, line) = c.toml();
        tables.entry(table).or_default().push(line);
    }
    let mut toml = String::new();
    for (table, lines) in tables {
        if table == "[[policy]]" {
            for l in lines {
                toml.push_str(&format!("{table}\n{l}\n"));
            }
            continue;
        }
        toml.push_str(&format!("{table}\n{}\n", lines.join("\n")));
    }
    (python.join("\n"), toml)
}
