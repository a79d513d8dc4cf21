//! The input language: a scenario file (TOML) names a preset, overrides Celery settings, and
//! describes the topology, the workload, the application, scripted faults and the expected
//! verdict. This module owns the domain types; `read` walks TOML with spans, `validate` builds
//! the types and collects every problem, `presets` holds the shipped starting configurations and
//! `diagnostic` renders problems as `file:line:col` messages.

mod deployment;
pub mod diagnostic;
pub mod import;
pub mod presets;
pub mod read;
pub mod source;
mod validate;
mod write;

use std::collections::BTreeSet;
use std::path::Path;

pub use diagnostic::{ScenarioError, Warning};
pub use presets::Preset;

use crate::config::CeleryConfig;
use crate::time::{SimDuration, SimTime};

/// A parsed and validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// Why it matters and which semantics rule predicts its outcome.
    pub about: String,
    /// The file it came from (for messages).
    pub file: String,
    /// The master seed.
    pub seed: u64,
    /// The preset it starts from.
    pub preset: Preset,
    /// When the run stops if nothing else stops it.
    pub horizon: SimDuration,
    /// Celery settings.
    pub celery: CeleryConfig,
    /// Broker, backend, workers, latencies.
    pub topology: Topology,
    /// The application: callback profile, errback, terminal guard.
    pub app: AppConfig,
    /// The chord's header, one entry per test.
    pub tests: Vec<TestSpec>,
    /// `[run] rates`: each rated test's outcome is drawn per seed, this outcome with this
    /// probability (the rest keep theirs).
    pub rates: Vec<(Outcome, f64)>,
    /// Scripted faults, in time order.
    pub faults: Vec<Fault>,
    /// Operator policies: the chord monitor, the fix_chords cron, the watchdog.
    pub policies: Vec<Policy>,
    /// What the run is expected to do; none for a question (`chordsim check`), which then
    /// passes when it ends terminal with every safety property intact.
    pub expect: Option<Expect>,
    /// What runs but was probably not meant (misspelt names), for `run` to print.
    pub warnings: Vec<Warning>,
}

/// The most occurrences one recurring fault (`every`) has in a run.
pub const MAX_RECURRENCES: usize = 10_000;

/// What a file must say besides its configuration and workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// `about` and `[expect]`: a regression scenario (`run`, `report`, the shipped ones).
    Expectations,
    /// Nothing: a question (`check`, `replay`); the name defaults to the file's.
    Nothing,
}

/// Which broker transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    /// kombu's Redis transport: unacked hash + visibility timeout.
    Redis,
    /// AMQP (RabbitMQ): unacked deliveries requeued when the connection closes.
    Amqp,
}

impl BrokerKind {
    /// As `[topology] broker` writes it.
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Redis => "redis",
            BrokerKind::Amqp => "amqp",
        }
    }
}

/// Which result backend, and so which chord path (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// Redis: the native sorted-set/list counter; chord_unlock never runs.
    Redis,
    /// SQLAlchemy database: chord_unlock polling.
    Database,
}

impl BackendKind {
    /// As `[topology] backend` writes it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Redis => "redis",
            BackendKind::Database => "database",
        }
    }
}

/// One worker process (a consumer plus a prefork pool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSpec {
    /// `w1`, `w2`, …
    pub name: String,
    /// Pool processes.
    pub concurrency: u32,
    /// Whether it is running when the chord is applied.
    pub start: bool,
}

/// Where things run and how long the wires are.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Broker transport.
    pub broker: BrokerKind,
    /// Result backend.
    pub backend: BackendKind,
    /// Whether the broker keeps its queues across a restart.
    pub broker_persistent: bool,
    /// The workers.
    pub workers: Vec<WorkerSpec>,
    /// One-way latency of every link.
    pub latency: SimDuration,
    /// How long a result-backend write takes to commit.
    pub backend_write_latency: SimDuration,
    /// The pool's hand-off to a child, before its STARTED write (with `task_track_started`)
    /// and its body.
    pub task_overhead: SimDuration,
}

/// How `collect_results` turns the header into a status (rhesis-model §c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Era A / the docs: classify the payload (None, `[id, result]` pairs, `status: failed`).
    Doc,
    /// Era C: count stored TestResult rows with the four-step rule.
    Rhesis,
}

/// An error callback linked to the body with `link_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errback {
    /// None linked.
    None,
    /// New-style `(request, exc, traceback)`: called inline in the worker that found the failure.
    Inline,
    /// Old-style (task id only): sent as a task.
    Task,
}

/// An errback task's signature: Celery decides from it whether to call the errback inline
/// with `(request, exc, traceback)` or send it as a task with the failed task's id (§7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrbackSignature {
    /// The function's parameters, in order.
    pub params: Vec<Param>,
    /// Keyword arguments bound by the signature.
    pub kwargs: Vec<String>,
}

/// A Python function parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// `name`, positional or keyword, required.
    Required(String),
    /// `name=default`.
    Default(String),
    /// `*name`.
    Varargs(String),
    /// `**name`.
    Varkw(String),
}

impl Param {
    /// As written in Python.
    pub fn text(&self) -> String {
        match self {
            Param::Required(n) => n.clone(),
            Param::Default(n) => format!("{n}=None"),
            Param::Varargs(n) => format!("*{n}"),
            Param::Varkw(n) => format!("**{n}"),
        }
    }
}

/// What `collect_results` does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackBehaviour {
    /// Computes and writes the status.
    Ok,
    /// Raises before writing (observation 13).
    RaiseBeforeWrite,
}

/// The application around the chord.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// `collect_results` profile.
    pub profile: Profile,
    /// Error callback on the body.
    pub errback: Errback,
    /// The errback task's parameters as Python has them (`task_id`, `run_id=None`, `*args`,
    /// `**kwargs`) and the keyword arguments its signature binds (`.s(run_id=…)`); `None`: the
    /// style's own (`inline`: request, exc, traceback; `task`: task_id).
    pub errback_signature: Option<ErrbackSignature>,
    /// Callback behaviour.
    pub callback: CallbackBehaviour,
    /// How long `collect_results` runs.
    pub callback_duration: SimDuration,
    /// Skip collect_results' and the errback's status writes when the run is already terminal
    /// (the Cancelled guard of rhesis #1597, extended to the errback).
    pub terminal_guard: bool,
    /// Per-chord `max_retries` call option (`chord(...).apply_async(max_retries=N)`).
    pub chord_max_retries: Option<u32>,
    /// Per-chord `interval` call option.
    pub chord_interval: Option<SimDuration>,
    /// When the chord is applied.
    pub submit_at: SimTime,
    /// The header task (`[app.header]`): its registered name and class attributes, over the
    /// profile's.
    pub header_task: TaskSpec,
    /// The body task (`[app.body]`).
    pub body_task: TaskSpec,
    /// How collect_results turns the results into the run's status.
    pub status_rule: StatusRule,
    /// What each outcome returns, for a [`StatusRule::Callable`] (`[app.returns]`).
    pub returns: Returns,
}

/// How `collect_results` turns the header's results into the run's status: the profile's own
/// rule, a table of the application's (`[app.status_rule]`), or a Python callable the package
/// passes (which no file can hold).
#[derive(Clone, Debug, Default)]
pub enum StatusRule {
    /// The profile's (doc: classify the payload; rhesis: count result rows; rhesis-model §c).
    #[default]
    Profile,
    /// How each result counts, and which status each tally gives.
    Table(RuleTable),
    /// `def status(results: list) -> str`, called with the results as JSON values.
    Callable(StatusFn),
}

/// How one result counts under a [`RuleTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// As a passed test.
    Passed,
    /// As a failed test.
    Failed,
    /// Not at all.
    Skipped,
}

impl Counts {
    /// As written in files.
    pub fn name(self) -> &'static str {
        match self {
            Counts::Passed => "passed",
            Counts::Failed => "failed",
            Counts::Skipped => "skipped",
        }
    }
}

/// An application's status rule as a table: how each kind of result counts, and the status
/// for each tally. The defaults are the doc profile's rule (rhesis-model §c, era A).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleTable {
    /// A passing result dict.
    pub pass: Counts,
    /// `{"status": "failed"}`.
    pub failure: Counts,
    /// None.
    pub none: Counts,
    /// Not a dict.
    pub malformed: Counts,
    /// No result at all in the payload (ignored, expired).
    pub missing: Counts,
    /// Nothing counted failed (and something passed).
    pub all_passed: RunStatus,
    /// Some counted failed, some passed.
    pub some_failed: RunStatus,
    /// Every counted result failed.
    pub all_failed: RunStatus,
    /// Nothing counted at all.
    pub none_counted: RunStatus,
}

impl Default for RuleTable {
    fn default() -> Self {
        RuleTable {
            pass: Counts::Passed,
            failure: Counts::Failed,
            none: Counts::Failed,
            malformed: Counts::Passed,
            missing: Counts::Failed,
            all_passed: RunStatus::Completed,
            some_failed: RunStatus::Partial,
            all_failed: RunStatus::Failed,
            none_counted: RunStatus::Completed,
        }
    }
}

/// A status rule the Python package passes: called with the results as a JSON array, it
/// returns a status (`Err`: the rule raised, or returned no status).
#[derive(Clone)]
pub struct StatusFn(pub std::sync::Arc<RuleFn>);

/// The signature of a [`StatusFn`]: the results as a JSON array in, a status or why not out.
pub type RuleFn = dyn Fn(&str) -> Result<RunStatus, String> + Send + Sync;

impl std::fmt::Debug for StatusFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusFn(a Python callable)")
    }
}

/// What each outcome returns, as JSON, for a callable status rule (`[app.returns]`); `None`:
/// the default (kept unset so that a scenario, cloned for every generated case, allocates
/// nothing for it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Returns {
    /// A passing test (`pass`); default `{"status": "passed"}`.
    pub pass: Option<serde_json::Value>,
    /// A failed test (`fail_status`); default `{"status": "failed"}`.
    pub failure: Option<serde_json::Value>,
    /// `malformed`; default `"not a dict"`.
    pub malformed: Option<serde_json::Value>,
}

impl Returns {
    /// A passing test's value.
    pub fn pass(&self) -> serde_json::Value {
        self.pass.clone().unwrap_or_else(|| serde_json::json!({"status": "passed"}))
    }
    /// A failed test's value.
    pub fn failure(&self) -> serde_json::Value {
        self.failure.clone().unwrap_or_else(|| serde_json::json!({"status": "failed"}))
    }
    /// A malformed result.
    pub fn malformed(&self) -> serde_json::Value {
        self.malformed.clone().unwrap_or_else(|| serde_json::json!("not a dict"))
    }
}

impl Default for AppConfig {
    /// What a file without `[app]` gets: the doc profile, no errback, no guard, applied at 0.
    fn default() -> Self {
        AppConfig {
            profile: Profile::Doc,
            errback: Errback::None,
            errback_signature: None,
            callback: CallbackBehaviour::Ok,
            callback_duration: SimDuration::from_millis(10),
            terminal_guard: false,
            chord_max_retries: None,
            chord_interval: None,
            submit_at: SimTime::ZERO,
            header_task: TaskSpec::default(),
            body_task: TaskSpec::default(),
            status_rule: StatusRule::Profile,
            returns: Returns::default(),
        }
    }
}

/// An application task as its code declares it: the name it is registered under and the class
/// attributes it sets (`@app.task(max_retries=5, acks_late=True)`); task_annotations still
/// apply over them, as in Celery.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskSpec {
    /// The registered name (`proj.tasks.execute_single_test`); `None`: the profile's.
    pub name: Option<String>,
    /// The class attributes it sets.
    pub attrs: crate::config::Annotation,
}

/// What one attempt of a header task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returns a passing result.
    Pass,
    /// Returns `{"status": "failed"}` (a failed test, stored as SUCCESS).
    FailStatus,
    /// Returns None.
    ReturnNone,
    /// Returns something that is not a dict.
    Malformed,
    /// Raises every time.
    Raise,
    /// Raises on the first `fails` attempts, then passes.
    RaiseTransient {
        /// Attempts that raise.
        fails: u32,
    },
    /// Calls `self.retry(exc=…, countdown=…, max_retries=…)` on the first `fails` attempts,
    /// then passes; once `max_retries` is used up, `retry` raises the exception instead.
    Retry {
        /// Attempts that retry.
        fails: u32,
        /// The retry's countdown.
        countdown: SimDuration,
        /// The call's `max_retries`.
        max_retries: u32,
    },
    /// Never returns.
    Hang,
    /// Catches SoftTimeLimitExceeded and returns a failure dict; otherwise passes.
    SoftCatch,
    /// Returns a passing result, stores SUCCESS, then its pool child dies before the task is
    /// acknowledged (an OOM kill in clean-up code): WorkerLostError after SUCCESS (§12).
    DieAfterReturn,
    /// Passes on odd executions and fails (`{"status": "failed"}`) on even ones, like a test
    /// judged by a non-deterministic model: a re-run reports a different result.
    Flaky,
}

impl Outcome {
    /// Scenario-file names.
    pub const NAMES: &'static [&'static str] = &[
        "pass",
        "fail_status",
        "return_none",
        "malformed",
        "raise",
        "raise_transient",
        "retry",
        "hang",
        "soft_catch",
        "flaky",
        "die_after_return",
    ];
}

/// A test's duration: fixed or drawn uniformly from a range by the workload stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationSpec {
    /// Always this long.
    Fixed(SimDuration),
    /// Uniform in `[lo, hi]`.
    Range(SimDuration, SimDuration),
    /// Log-normal with this median and 99th percentile: most tests near the median, a long
    /// tail of slow ones.
    LongTail {
        /// Half the tests take less.
        median: SimDuration,
        /// One in a hundred takes longer.
        p99: SimDuration,
    },
}

impl DurationSpec {
    /// The longest it can be: a range's end, a long tail's 99th percentile.
    pub fn longest(&self) -> SimDuration {
        match *self {
            DurationSpec::Fixed(d) | DurationSpec::Range(_, d) => d,
            DurationSpec::LongTail { p99, .. } => p99,
        }
    }

    /// One duration drawn from `rng` (the workload's stream).
    #[inline]
    pub fn draw(&self, rng: &mut impl rand::Rng) -> SimDuration {
        use rand::RngExt;
        match *self {
            DurationSpec::Fixed(d) => d,
            DurationSpec::Range(lo, hi) => SimDuration(rng.random_range(lo.0..=hi.0)),
            DurationSpec::LongTail { median, p99 } => {
                // ln(p99 / median) = 2.3263 σ for a log-normal (the normal's 99th percentile).
                let sigma = (p99.0 as f64 / median.0 as f64).ln() / 2.326_347_874;
                // Box–Muller: a standard normal from two uniform draws.
                let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                // Clamped to 100 × p99, so one draw cannot outlast any horizon.
                let us = (median.0 as f64 * (sigma * z).exp()).min(p99.0 as f64 * 100.0);
                SimDuration(us.round() as u64)
            }
        }
    }
}

/// One header task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSpec {
    /// Run time of each attempt.
    pub duration: DurationSpec,
    /// What it does.
    pub outcome: Outcome,
    /// `ignore_result=True` on this signature.
    pub ignore_result: bool,
    /// Per-signature `time_limit`.
    pub time_limit: Option<SimDuration>,
    /// Per-signature `soft_time_limit`.
    pub soft_time_limit: Option<SimDuration>,
    /// Whether `[run] rates` may draw its outcome (no override sets one).
    pub rated: bool,
    /// What it raises when it raises: the exception's class and its bases, as
    /// `type(exc).__mro__` names them (`["ConnectionError", "OSError"]`); empty: `Exception`.
    /// `autoretry_for` retries it when it names one of them, or `Exception` (§3).
    pub exception: Vec<String>,
}

/// A node of the topology, for partitions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Node {
    /// The process that applies the chord (the API / parent task).
    Producer,
    /// The broker.
    Broker,
    /// The result backend.
    Backend,
    /// A worker, by index.
    Worker(usize),
}

/// Partition direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    Both,
    /// Only from the first node to the second.
    OneWay,
}

/// What a revoke names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeTarget {
    /// A header task, by index.
    Test(usize),
    /// The chord_unlock task id (reused by every poll).
    ChordUnlock,
    /// The body (`collect_results`).
    Body,
}

/// A scripted fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// SIGKILL the whole worker; optionally start it again later.
    KillWorker {
        /// Worker index.
        worker: usize,
        /// Restart delay.
        restart_after: Option<SimDuration>,
    },
    /// Start a worker that is not running.
    StartWorker {
        /// Worker index.
        worker: usize,
    },
    /// SIGKILL the pool child running a test (nothing if it is not running then).
    KillChild {
        /// Test index.
        test: usize,
        /// Instead of at a time: this long after the test's first execution starts.
        after_start: Option<SimDuration>,
    },
    /// TERM: stop consuming, finish running tasks, then exit. Sent to the whole process group
    /// (`group`: `kill -TERM -PGID`, systemd's `KillMode=control-group`), the pool children get
    /// it too and die: their tasks fail with WorkerLostError.
    WarmShutdown {
        /// Worker index.
        worker: usize,
        /// Restart delay after it exits.
        restart_after: Option<SimDuration>,
        /// Sent to the process group, not only the main process.
        group: bool,
    },
    /// QUIT: cancel running tasks and exit (after the soft shutdown window, 5.5+).
    ColdShutdown {
        /// Worker index.
        worker: usize,
        /// Restart delay.
        restart_after: Option<SimDuration>,
        /// Sent to the process group, not only the main process.
        group: bool,
    },
    /// The broker or the result backend (or both, one Redis) stops answering without closing
    /// a connection (`CLIENT PAUSE`, `DEBUG SLEEP`, a fork or disk stall): every command waits
    /// until it ends.
    Stall {
        /// The broker stalls.
        broker: bool,
        /// The result backend stalls.
        backend: bool,
        /// How long.
        duration: SimDuration,
    },
    /// Cut the link between two nodes.
    Partition {
        /// One end.
        a: Node,
        /// The other end.
        b: Node,
        /// Both ways, or only a → b.
        direction: Direction,
        /// When it heals (never if None).
        heal_after: Option<SimDuration>,
    },
    /// Restart the broker.
    BrokerRestart {
        /// Down time.
        down_for: SimDuration,
        /// Whether it keeps its data; None: `topology.broker_persistent`.
        persistent: Option<bool>,
    },
    /// The result backend is unreachable for a while.
    BackendOutage {
        /// How long.
        duration: SimDuration,
        /// Whether it comes back empty.
        lose_data: bool,
    },
    /// An operator cancels the run: the record becomes Cancelled and the body is revoked.
    CancelRun,
    /// `app.control.revoke(id, terminate=…)`.
    Revoke {
        /// What to revoke.
        target: RevokeTarget,
        /// Signal the running child.
        terminate: bool,
    },
}

impl FaultKind {
    /// How long after its start the fault has fully healed.
    pub fn span(&self) -> SimDuration {
        match self {
            FaultKind::KillWorker { restart_after, .. }
            | FaultKind::WarmShutdown { restart_after, .. }
            | FaultKind::ColdShutdown { restart_after, .. } => restart_after.unwrap_or_default(),
            FaultKind::Partition { heal_after, .. } => heal_after.unwrap_or_default(),
            FaultKind::BrokerRestart { down_for, .. } => *down_for,
            FaultKind::BackendOutage { duration, .. } | FaultKind::Stall { duration, .. } => *duration,
            FaultKind::KillChild { after_start, .. } => after_start.unwrap_or_default(),
            _ => SimDuration::ZERO,
        }
    }
}

impl std::fmt::Display for FaultKind {
    /// As an engineer would say it: `SIGKILL w1, restart after 10s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = |i: &usize| format!("w{}", i + 1);
        let restart = |r: &Option<SimDuration>| r.map_or(String::new(), |d| format!(", restart after {d}"));
        match self {
            FaultKind::KillWorker { worker, restart_after } => {
                write!(f, "SIGKILL {}{}", w(worker), restart(restart_after))
            }
            FaultKind::StartWorker { worker } => write!(f, "start {}", w(worker)),
            FaultKind::KillChild { test, after_start: None } => write!(f, "SIGKILL the pool child running test {test}"),
            FaultKind::KillChild { test, after_start: Some(d) } => {
                write!(f, "SIGKILL the pool child running test {test}, {d} after it starts")
            }
            FaultKind::WarmShutdown { worker, restart_after, group } => {
                write!(f, "warm shutdown (TERM{}) of {}{}", to_group(*group), w(worker), restart(restart_after))
            }
            FaultKind::ColdShutdown { worker, restart_after, group } => {
                write!(f, "cold shutdown (QUIT{}) of {}{}", to_group(*group), w(worker), restart(restart_after))
            }
            FaultKind::Stall { broker, backend, duration } => {
                write!(f, "{} stalls for {duration} (commands wait; connections stay up)", stalled(*broker, *backend))
            }
            FaultKind::Partition { a, b, direction, heal_after } => write!(
                f,
                "partition {a} {} {b}{}",
                if *direction == Direction::Both { "<->" } else { "->" },
                heal_after.map_or(", never healed".to_string(), |d| format!(", healed after {d}"))
            ),
            FaultKind::BrokerRestart { down_for, persistent } => write!(
                f,
                "broker restart, down for {down_for}{}",
                match persistent {
                    Some(true) => ", keeping its data",
                    Some(false) => ", losing its data",
                    None => "",
                }
            ),
            FaultKind::BackendOutage { duration, lose_data } => {
                write!(f, "result backend outage for {duration}{}", if *lose_data { ", data lost" } else { "" })
            }
            FaultKind::Revoke { target, terminate } => {
                let what = match target {
                    RevokeTarget::Test(t) => format!("test {t}"),
                    RevokeTarget::ChordUnlock => "chord_unlock".to_string(),
                    RevokeTarget::Body => "the body".to_string(),
                };
                write!(f, "revoke {what}{}", if *terminate { " with terminate" } else { "" })
            }
            FaultKind::CancelRun => f.write_str("an operator cancels the run"),
        }
    }
}

/// `" to the process group"` when a signal goes to the whole group.
fn to_group(group: bool) -> &'static str {
    if group { " to the process group" } else { "" }
}

/// Which store a stall holds up, in words.
pub fn stalled(broker: bool, backend: bool) -> &'static str {
    match (broker, backend) {
        (true, true) => "the broker and the result backend",
        (true, false) => "the broker",
        _ => "the result backend",
    }
}

/// A fault at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// When, from the start (a range's start until [`Scenario::draw`] picks the time).
    pub at: SimTime,
    /// For `at = "LOW..HIGH"`: the range's end; each seed draws a time in it.
    pub until: Option<SimTime>,
    /// For a fault that recurs: the mean gap between occurrences, from `at` to the horizon
    /// (each seed draws the gaps, exponentially: a Poisson process).
    pub every: Option<SimDuration>,
    /// What.
    pub kind: FaultKind,
}

/// An operator policy: a check that runs after the chord is applied, once or on a schedule,
/// finds the chords it takes for stuck by its clock, and acts on them (rhesis-model §e, §f, §g).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Which one.
    pub kind: PolicyKind,
    /// The first check, this long after the chord is applied.
    pub at: SimDuration,
    /// Then a check every this long; None: the one check.
    pub every: Option<SimDuration>,
    /// What "older than" reads.
    pub clock: Clock,
    /// A chord older than this by the clock is stuck, and acted on.
    pub older_than: SimDuration,
    /// A chord older than this is reported (flagged, not acted on).
    pub report_older_than: Option<SimDuration>,
    /// What it does to a stuck chord, in order.
    pub actions: Vec<Action>,
    /// Its revokes signal the running child (`revoke(id, terminate=True)`).
    pub terminate: bool,
    /// It only says what it would do.
    pub dry_run: bool,
}

/// The shipped policies, and one a file spells out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Era A1's `chord_monitor.py revoke --max-hours H` (rhesis-model §e), run from cron.
    ChordMonitor,
    /// The documented `fix_chords.py` cron (rhesis-model §f): report over 30 minutes, revoke over 2 hours.
    FixChords,
    /// #1597's watchdog (rhesis-model §g): a run not terminal by its deadline is marked Failed
    /// and its body revoked.
    Watchdog,
    /// Every field given in the file.
    Custom,
}

impl PolicyKind {
    /// As `[[policy]] kind` writes it.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::ChordMonitor => "chord-monitor",
            PolicyKind::FixChords => "fix-chords",
            PolicyKind::Watchdog => "watchdog",
            PolicyKind::Custom => "custom",
        }
    }

    /// Who it is in a sentence: `ended by the watchdog`.
    pub fn who(self) -> &'static str {
        match self {
            PolicyKind::ChordMonitor => "the chord monitor",
            PolicyKind::FixChords => "the fix_chords cron",
            PolicyKind::Watchdog => "the watchdog",
            PolicyKind::Custom => "an operator policy",
        }
    }
}

/// What a policy's "older than" reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The era A1 monitor as implemented: the `time_start` of a chord_unlock execution in
    /// `inspect().active()`. Each poll is a new execution of a few milliseconds, so a polling
    /// chord_unlock qualifies only when one poll runs that long; a native chord has none.
    TaskStart,
    /// The documented intent: how long ago the chord was applied, while its run is not terminal.
    ChordAge,
}

impl Clock {
    /// As `clock` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Clock::TaskStart => "task_start",
            Clock::ChordAge => "chord_age",
        }
    }
}

/// What a policy does to a chord it finds stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `control.revoke(<chord_unlock id>)`: the polling stops for good (§9 "Revoke").
    RevokeChordUnlock,
    /// `control.revoke(<body id>)`.
    RevokeBody,
    /// Write Failed to the run record, unless it is terminal.
    MarkFailed,
    /// `control.purge()`: the messages waiting in the queues are deleted; prefetched and
    /// unacknowledged ones stay.
    Purge,
}

impl Action {
    /// Scenario-file names.
    pub const NAMES: &'static [&'static str] = &["revoke_chord_unlock", "revoke_body", "mark_failed", "purge"];

    /// As `action` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Action::RevokeChordUnlock => "revoke_chord_unlock",
            Action::RevokeBody => "revoke_body",
            Action::MarkFailed => "mark_failed",
            Action::Purge => "purge",
        }
    }

    /// In words, with `(terminate)` on a revoke that signals the running child.
    pub fn words(self, terminate: bool) -> String {
        let (what, revoke) = match self {
            Action::RevokeChordUnlock => ("revoke chord_unlock", true),
            Action::RevokeBody => ("revoke the body", true),
            Action::MarkFailed => ("mark the run Failed", false),
            Action::Purge => ("purge the queues", false),
        };
        format!("{what}{}", if revoke && terminate { " (terminate)" } else { "" })
    }
}

impl Policy {
    /// A shipped policy as its kind defines it (rhesis-model §e, §f, §g), its threshold
    /// `older_than` or the kind's own; None for a custom one, and for the watchdog without a
    /// deadline (it has no default). `[[policy]]` flags change fields of this one.
    pub fn shipped(kind: PolicyKind, older_than: Option<SimDuration>) -> Option<Policy> {
        let (hour, cron) = (SimDuration::from_secs(3600), Some(SimDuration::from_secs(15 * 60)));
        let (every, clock, default, report, actions, terminate) = match kind {
            // `--max-hours` defaults to 1.0; revoke is `control.revoke(id, terminate=True)`.
            PolicyKind::ChordMonitor => {
                (cron, Clock::TaskStart, Some(hour), None, vec![Action::RevokeChordUnlock], true)
            }
            // Every 15 minutes: stuck over 30 minutes reported, over 2 hours auto-revoked (the
            // monitor's revoke).
            PolicyKind::FixChords => (
                cron,
                Clock::ChordAge,
                Some(hour * 2),
                Some(SimDuration::from_secs(30 * 60)),
                vec![Action::RevokeChordUnlock],
                true,
            ),
            PolicyKind::Watchdog => {
                (None, Clock::ChordAge, None, None, vec![Action::MarkFailed, Action::RevokeBody], false)
            }
            PolicyKind::Custom => return None,
        };
        let older_than = older_than.or(default)?;
        // The first check: one period in (a cron's), or at the deadline for a one-shot policy.
        let at = every.unwrap_or(older_than);
        Some(Policy {
            kind,
            at,
            every,
            clock,
            older_than,
            report_older_than: report,
            actions,
            terminate,
            dry_run: false,
        })
    }

    /// The watchdog with this deadline, as `[[policy]] kind = "watchdog"` reads it.
    pub fn watchdog(deadline: SimDuration) -> Policy {
        Self::shipped(PolicyKind::Watchdog, Some(deadline)).expect("a watchdog with a deadline")
    }
}

impl std::fmt::Display for Policy {
    /// As an engineer would say it: `chord-monitor every 15m: a chord_unlock active for over 1h → revoke chord_unlock (terminate)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = match self.every {
            Some(e) => format!("every {e} from {}", self.at),
            None => format!("once at {}", self.at),
        };
        let rule = match self.clock {
            Clock::TaskStart => format!("a chord_unlock active for over {}", self.older_than),
            Clock::ChordAge => format!("a run not terminal {} after its chord", self.older_than),
        };
        let acts: Vec<String> = self.actions.iter().map(|a| a.words(self.terminate)).collect();
        write!(f, "{} {when}: {rule} → {}", self.kind.name(), acts.join(", "))?;
        if let Some(r) = self.report_older_than {
            write!(f, "; reported over {r}")?;
        }
        if self.dry_run {
            f.write_str(" (dry run)")?;
        }
        Ok(())
    }
}

/// The run record's status (rhesis-model §b, plus Cancelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum RunStatus {
    /// Created.
    Queued,
    /// Running.
    Progress,
    /// Every test passed (or no errors, rhesis).
    Completed,
    /// Some failed.
    Partial,
    /// All failed, or an error handler ran.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

impl RunStatus {
    /// Every status, as files name them.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Queued,
        RunStatus::Progress,
        RunStatus::Completed,
        RunStatus::Partial,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The status a file or a rule names.
    pub fn from_name(name: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Terminal statuses.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Progress)
    }
    /// As written in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Queued => "Queued",
            RunStatus::Progress => "Progress",
            RunStatus::Completed => "Completed",
            RunStatus::Partial => "Partial",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
        }
    }
}

/// An expected count: exact or an inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountRange {
    /// Lowest allowed.
    pub lo: u64,
    /// Highest allowed.
    pub hi: u64,
}

impl CountRange {
    /// Whether `n` is allowed.
    pub fn contains(self, n: u64) -> bool {
        (self.lo..=self.hi).contains(&n)
    }
}

impl std::fmt::Display for CountRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi { write!(f, "{}", self.lo) } else { write!(f, "{}..{}", self.lo, self.hi) }
    }
}

/// The expected status: terminal, or stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedStatus {
    /// Reaches this terminal status.
    Terminal(RunStatus),
    /// Never reaches a terminal status.
    Stuck,
}

/// The `[expect]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Status or stuck.
    pub status: ExpectedStatus,
    /// Terminal no later than this.
    pub within: Option<SimDuration>,
    /// `collect_results` executions.
    pub callback_runs: Option<CountRange>,
    /// Errback executions.
    pub errback_runs: Option<CountRange>,
    /// chord_unlock executions.
    pub chord_unlock_runs: Option<CountRange>,
    /// The body's final state in the result backend.
    pub body_state: Option<crate::words::TaskState>,
    /// Safety properties expected to break.
    pub violations: BTreeSet<crate::words::Property>,
}

impl Expect {
    /// Expect stuck, and nothing else.
    pub fn stuck() -> Self {
        Expect {
            status: ExpectedStatus::Stuck,
            within: None,
            callback_runs: None,
            errback_runs: None,
            chord_unlock_runs: None,
            body_state: None,
            violations: BTreeSet::new(),
        }
    }
}

impl Scenario {
    /// A preset's own configuration with an empty workload (what `explore --preset` explores).
    pub fn from_preset(preset: Preset) -> Scenario {
        Self::from_preset_with(preset, None).expect("shipped presets are valid")
    }

    /// A preset's configuration under an imported one, with an empty workload (what `explore
    /// --config` explores).
    pub fn from_preset_with(preset: Preset, import: Option<&import::Import>) -> Result<Scenario, ScenarioError> {
        let name = preset.name();
        let text = format!(
            "name = \"{name}\"\nabout = \"the {name} preset\"\npreset = \"{name}\"\n[run]\ntests = 0\n[expect]\nstatus = \"stuck\"\n"
        );
        validate::scenario(&format!("preset {name}"), &text, None, import, Needs::Expectations)
    }

    /// Read and validate a scenario file (a regular file of at most [`source::MAX_BYTES`]).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Self::load_with(path, None, Needs::Expectations)
    }

    /// Parse and validate scenario text; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        validate::scenario(file, text, None, None, Needs::Expectations)
    }

    /// [`Scenario::load`] over an imported configuration (preset < import < the file), needing
    /// what `needs` says.
    pub fn load_with(path: &Path, import: Option<&import::Import>, needs: Needs) -> Result<Scenario, ScenarioError> {
        let text = source::read_file(path)?;
        Self::parse_with(&path.display().to_string(), &text, import, needs)
    }

    /// [`Scenario::parse`] over an imported configuration (preset < import < the file), needing
    /// what `needs` says.
    pub fn parse_with(
        file: &str,
        text: &str,
        import: Option<&import::Import>,
        needs: Needs,
    ) -> Result<Scenario, ScenarioError> {
        validate::scenario(file, text, None, import, needs)
    }

    /// The scenario as one seed runs it: each fault given a time range comes at a time drawn
    /// from it, and each rated test's outcome is drawn from `[run] rates` (each on its own
    /// stream, so the workload's durations do not move).
    pub fn draw(mut self) -> Scenario {
        use rand::RngExt;
        if self.faults.iter().any(|f| f.until.is_some() || f.every.is_some()) {
            let mut rng = crate::sim::rng::stream(self.seed, crate::sim::rng::Stream::Faults);
            let end = SimTime::ZERO + self.horizon;
            let mut drawn = Vec::with_capacity(self.faults.len());
            for mut f in std::mem::take(&mut self.faults) {
                if let Some(until) = f.until.take() {
                    f.at = SimTime(rng.random_range(f.at.0..=until.0));
                }
                let Some(mean) = f.every.take() else {
                    drawn.push(f);
                    continue;
                };
                let mut at = f.at;
                for _ in 0..MAX_RECURRENCES {
                    if at >= end {
                        break;
                    }
                    drawn.push(Fault { at, ..f.clone() });
                    // An exponential gap of this mean: -ln(u) × mean.
                    let u: f64 = rng.random_range(f64::EPSILON..1.0);
                    at += SimDuration(((-u.ln()) * mean.0 as f64).round().max(1.0) as u64);
                }
            }
            drawn.sort_by_key(|f| f.at);
            self.faults = drawn;
        }
        if !self.rates.is_empty() {
            let mut rng = crate::sim::rng::stream(self.seed, crate::sim::rng::Stream::Outcomes);
            for t in self.tests.iter_mut().filter(|t| t.rated) {
                let u: f64 = rng.random();
                let mut below = 0.0;
                if let Some((o, _)) = self.rates.iter().find(|(_, p)| {
                    below += p;
                    u < below
                }) {
                    t.outcome = *o;
                }
            }
        }
        self
    }

    /// When the last scripted fault has fully healed (restart, heal, end of outage): the end of
    /// the fault phase.
    pub fn last_heal(&self) -> SimTime {
        self.faults.iter().map(|f| f.at + f.kind.span()).max().unwrap_or(SimTime::ZERO)
    }

    /// The scenario as TOML that parses back to the same scenario (every setting explicit).
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }

    /// The scenario as TOML with only the configuration lines that differ from `base`'s; read
    /// over `base`'s configuration, it is the same scenario.
    pub fn to_toml_over(&self, base: &Scenario) -> String {
        write::to_toml_over(self, base)
    }

    /// The same workload, faults, seed, horizon and topology under another preset's Celery
    /// settings, application and policies (`[celery]`, `[app]`, `[[policy]]`), keeping this
    /// scenario's Celery version, when the chord is applied, and the policies it adds to its own
    /// preset's (a scenario about a policy keeps it): what the preset's settings do on this
    /// deployment.
    pub fn under_preset(&self, preset: Preset, preset_text: &str) -> Result<Scenario, ScenarioError> {
        let text = format!(
            "name = {}\nabout = \"rerun\"\npreset = \"{}\"\n[celery]\nversion = \"{}\"\n[run]\ntests = 0\n[expect]\nstatus = \"stuck\"\n",
            write::q(&self.name),
            preset.name(),
            self.celery.version
        );
        let base = validate::scenario(
            &format!("preset {}", preset.name()),
            &text,
            Some(preset_text),
            None,
            Needs::Expectations,
        )?;
        let mut app = base.app;
        app.submit_at = self.app.submit_at;
        let own = Scenario::from_preset(self.preset).policies;
        let added: Vec<&Policy> = self.policies.iter().filter(|p| !own.contains(p)).collect();
        let mut policies: Vec<Policy> =
            base.policies.into_iter().filter(|p| added.iter().all(|a| a.kind != p.kind)).collect();
        policies.extend(added.into_iter().cloned());
        Ok(Scenario { preset, celery: base.celery, app, policies, ..self.clone() })
    }
}
