//! The application modelled first (rhesis-model.md): the `execute_single_test` header task, the
//! `collect_results` body in its two profiles, the error callback, the watchdog, and the
//! test-run record with its statuses.

use std::borrow::Cow;

use super::worker::{Exec, Settle};
use super::{Event, ExecRef, Finish, World};
use crate::config::{CeleryConfig, TaskClass};
use crate::scenario::{
    CallbackBehaviour, Counts, Errback, ErrbackSignature, Node, Outcome, Param, Profile, RuleTable, RunStatus,
    StatusRule,
};
use crate::sim::Schedule;
use crate::time::{SimDuration, SimTime};
use crate::trace::{Ending, Note, Record, Writer};
use crate::version::CeleryVersion;
use crate::words::{ErrorKind, ResultValue, TaskRef};

/// A TestResult row (rhesis-model §a step 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// Every metric passed.
    Pass,
    /// Some metric failed.
    Fail,
}

/// A status write to the run record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusWrite {
    /// When.
    pub at: SimTime,
    /// The status before.
    pub from: RunStatus,
    /// The status written.
    pub to: RunStatus,
    /// Who wrote it.
    pub by: Writer,
}

/// The test-run record and the application's database rows.
#[derive(Clone, Debug)]
pub struct App {
    /// Current status.
    pub status: RunStatus,
    /// Every write, in order.
    pub writes: Vec<StatusWrite>,
    /// TestResult rows by test (rhesis profile).
    pub rows: Vec<Option<Row>>,
    /// The last value each header execution returned (ground truth for the status rule).
    pub last_value: Vec<Option<ResultValue>>,
}

impl App {
    /// A run record in Queued.
    pub fn new(tests: usize) -> Self {
        App { status: RunStatus::Queued, writes: Vec::new(), rows: vec![None; tests], last_value: vec![None; tests] }
    }

    /// Write a status. Rhesis does not enforce terminality (§b): every write lands.
    pub fn set_status(&mut self, at: SimTime, to: RunStatus, by: Writer, trace: &mut Vec<Record>) {
        self.writes.push(StatusWrite { at, from: self.status, to, by });
        self.status = to;
        trace.push(Record { at, note: Note::Status { status: to, by } });
    }

    /// When the run first reached a terminal status.
    pub fn terminal_at(&self) -> Option<(SimTime, RunStatus)> {
        self.writes.iter().find(|w| w.to.is_terminal()).map(|w| (w.at, w.to))
    }
}

/// The task classes of each profile, before annotations.
pub struct Classes {
    /// `execute_single_test`.
    pub header: TaskClass,
    /// `collect_results`.
    pub body: TaskClass,
    /// `celery.chord_unlock`.
    pub unlock: TaskClass,
}

/// Task classes: Celery's `Task` defaults (max_retries 3, default_retry_delay 180 s, §1) for
/// the doc profile; rhesis' BaseTask/SilentTask (autoretry_for=(Exception,), max_retries 3,
/// retry_backoff, default_retry_delay 10 s; rhesis-model §d) for rhesis. chord_unlock:
/// ignore_result, max_retries None, default_retry_delay = result_chord_retry_interval (§5).
/// The application's own names (`[app.header] name`, `[app.body] name`) replace the profile's;
/// its class attributes are applied when the attributes are resolved
/// ([`CeleryConfig::resolve`]).
pub fn task_classes(app: &crate::scenario::AppConfig, cfg: &CeleryConfig) -> Classes {
    let plain = |name: &'static str| TaskClass {
        name: Cow::Borrowed(name),
        max_retries: Some(3),
        default_retry_delay: SimDuration::from_secs(180),
        autoretry_for: Cow::Borrowed(&[]),
        retry_backoff: 0,
        retry_backoff_max: SimDuration::from_secs(600),
        retry_jitter: true,
        ignore_result: cfg.ignore_result,
    };
    let base = |name: &'static str| TaskClass {
        autoretry_for: Cow::Borrowed(&[Cow::Borrowed("Exception")]),
        retry_backoff: 1,
        default_retry_delay: SimDuration::from_secs(10),
        ..plain(name)
    };
    let (mut header, mut body) = match app.profile {
        Profile::Doc => (plain("execute_single_test"), plain("collect_results")),
        Profile::Rhesis => (
            base("rhesis.backend.tasks.execute_single_test"),
            base("rhesis.backend.tasks.execution.results.collect_results"),
        ),
    };
    if let Some(n) = &app.header_task.name {
        header.name = Cow::Owned(n.clone());
    }
    if let Some(n) = &app.body_task.name {
        body.name = Cow::Owned(n.clone());
    }
    let unlock = TaskClass {
        name: Cow::Borrowed("celery.chord_unlock"),
        max_retries: None,
        default_retry_delay: cfg.chord_retry_interval,
        autoretry_for: Cow::Borrowed(&[]),
        retry_backoff: 0,
        retry_backoff_max: SimDuration::from_secs(600),
        retry_jitter: true,
        ignore_result: true,
    };
    Classes { header, body, unlock }
}

/// What a task run ends in.
enum Verdict {
    Return(ResultValue),
    Raise(ErrorKind),
}

impl World {
    /// Whether `task`'s result is ignored (task attribute or the signature's option).
    pub(crate) fn ignores_result(&self, task: TaskRef) -> bool {
        match task {
            TaskRef::Header(i) => self.header_attrs.class.ignore_result || self.sc.tests[i as usize].ignore_result,
            TaskRef::Body => self.body_attrs.class.ignore_result,
            TaskRef::ChordUnlock | TaskRef::Errback => true,
        }
    }

    /// A header attempt ends: the profile decides what the task returns, raises or retries.
    pub(crate) fn header_end(&mut self, now: SimTime, r: ExecRef, e: &Exec, finish: Finish, out: &mut Schedule<Event>) {
        let TaskRef::Header(i) = e.msg.task else { return };
        let spec = &self.sc.tests[i as usize];
        let attempt = e.msg.retries;
        let soft = finish == Finish::Soft;
        if let (Outcome::Retry { fails, countdown, max_retries }, false) = (spec.outcome, soft)
            && attempt < fails
        {
            // `self.retry(exc=…, countdown=…, max_retries=…)`: a Retry while retries remain,
            // else the exception itself (celery-semantics §3; app/task.py: Task.retry).
            self.note(
                now,
                Note::Finished { task: e.msg.task, worker: r.worker, slot: r.slot as usize, how: Ending::Retried },
            );
            if attempt < max_retries {
                self.retry_task(now, r, e, countdown, out);
            } else {
                self.note(now, Note::RetriesExhausted { task: e.msg.task });
                self.fail_task(r, e.msg.task, ErrorKind::Raised, out);
            }
            return;
        }
        let verdict = match (spec.outcome, soft) {
            (Outcome::SoftCatch, true) => Verdict::Return(ResultValue::FailDict),
            (_, true) => Verdict::Raise(ErrorKind::SoftTimeLimit),
            (Outcome::Pass | Outcome::SoftCatch | Outcome::DieAfterReturn, false) => Verdict::Return(ResultValue::Pass),
            (Outcome::FailStatus, false) => Verdict::Return(ResultValue::FailDict),
            (Outcome::ReturnNone, false) => Verdict::Return(ResultValue::None),
            (Outcome::Malformed, false) => Verdict::Return(ResultValue::Malformed),
            (Outcome::Raise, false) | (Outcome::Hang, false) => Verdict::Raise(ErrorKind::Raised),
            (Outcome::RaiseTransient { fails }, false) if attempt < fails => Verdict::Raise(ErrorKind::Raised),
            (Outcome::RaiseTransient { .. } | Outcome::Retry { .. }, false) => Verdict::Return(ResultValue::Pass),
            (Outcome::Flaky, false) if e.run % 2 == 1 => Verdict::Return(ResultValue::Pass),
            (Outcome::Flaky, false) => Verdict::Return(ResultValue::FailDict),
        };
        let w = r.worker;
        match (self.sc.app.profile, verdict) {
            // rhesis-model §a step 6: execute_test writes one TestResult row and returns it;
            // None or a non-dict is normalised into a failure dict (no row).
            (Profile::Rhesis, Verdict::Return(v)) => {
                let value = match v {
                    ResultValue::Pass => {
                        self.app.rows[i as usize].get_or_insert(Row::Pass);
                        ResultValue::Pass
                    }
                    ResultValue::FailDict if !soft => {
                        self.app.rows[i as usize].get_or_insert(Row::Fail);
                        ResultValue::Pass
                    }
                    _ => ResultValue::FailDict,
                };
                self.header_returns(now, r, i, value, out);
            }
            // Any exception: `self.retry()` while retries < max_retries (default delay, no
            // backoff: explicit retries ignore it, §3), then return the failure dict (SUCCESS).
            (Profile::Rhesis, Verdict::Raise(kind)) => {
                self.note(
                    now,
                    Note::Finished { task: e.msg.task, worker: w, slot: r.slot as usize, how: raised(kind) },
                );
                let max = self.header_attrs.class.max_retries;
                if max.is_none_or(|m| attempt < m) {
                    let countdown = self.header_attrs.class.default_retry_delay;
                    self.retry_task(now, r, e, countdown, out);
                } else {
                    self.note(now, Note::RetriesExhausted { task: e.msg.task });
                    self.header_returns(now, r, i, ResultValue::FailDict, out);
                }
            }
            (Profile::Doc, Verdict::Return(v)) => self.header_returns(now, r, i, v, out),
            (Profile::Doc, Verdict::Raise(kind)) => {
                self.note(
                    now,
                    Note::Finished { task: e.msg.task, worker: w, slot: r.slot as usize, how: raised(kind) },
                );
                self.raise_or_autoretry(now, r, e, kind, out);
            }
        }
    }

    fn header_returns(&mut self, now: SimTime, r: ExecRef, i: u32, value: ResultValue, out: &mut Schedule<Event>) {
        self.app.last_value[i as usize] = Some(value);
        self.note(
            now,
            Note::Finished {
                task: TaskRef::Header(i),
                worker: r.worker,
                slot: r.slot as usize,
                how: Ending::Returned(value),
            },
        );
        self.succeed_task(now, r, TaskRef::Header(i), value, out);
    }

    /// An exception escapes `run`: autoretry when the class's `autoretry_for` names the
    /// exception's class or one of its bases (celery app/autoretry.py: `except autoretry_for`;
    /// §3, with exponential backoff and jitter), else FAILURE. A test raises the exception its
    /// spec names; an uncaught soft limit is SoftTimeLimitExceeded; the body's own raise is an
    /// Exception.
    fn raise_or_autoretry(&mut self, now: SimTime, r: ExecRef, e: &Exec, kind: ErrorKind, out: &mut Schedule<Event>) {
        let attrs = match e.msg.task {
            TaskRef::Header(_) => &self.header_attrs.class,
            _ => &self.body_attrs.class,
        };
        // What `except` can catch it by: its class and bases, and every exception's two roots.
        let raised: &[String] = match (e.msg.task, kind) {
            (TaskRef::Header(i), k) if k != ErrorKind::SoftTimeLimit => &self.sc.tests[i as usize].exception,
            _ => &[],
        };
        let retried = attrs.autoretry_for.iter().any(|a| {
            matches!(a.as_ref(), "Exception" | "BaseException")
                || (kind == ErrorKind::SoftTimeLimit && a == "SoftTimeLimitExceeded")
                || raised.iter().any(|n| n == a)
        });
        let attempt = e.msg.retries;
        if retried {
            if attrs.max_retries.is_none_or(|m| attempt < m) {
                let countdown = backoff(attrs, attempt, &mut self.retry_rng);
                self.retry_task(now, r, e, countdown, out);
                return;
            }
            self.note(now, Note::RetriesExhausted { task: e.msg.task });
        }
        self.fail_task(r, e.msg.task, kind, out);
    }

    /// collect_results runs (rhesis-model §c; observations README "collect_results").
    pub(crate) fn body_end(&mut self, now: SimTime, r: ExecRef, e: &Exec, finish: Finish, out: &mut Schedule<Event>) {
        let w = r.worker;
        if finish == Finish::Soft || self.sc.app.callback == CallbackBehaviour::RaiseBeforeWrite {
            let kind = if finish == Finish::Soft { ErrorKind::SoftTimeLimit } else { ErrorKind::Raised };
            self.note(now, Note::Finished { task: TaskRef::Body, worker: w, slot: r.slot as usize, how: raised(kind) });
            self.raise_or_autoretry(now, r, e, kind, out);
            return;
        }
        let payload = e.msg.payload.expect("send_body gives every body message its payload");
        let values: Vec<Option<ResultValue>> =
            self.stats.body_payloads[payload as usize].iter().map(|p| p.value).collect();
        let status = match self.status_of(&values) {
            Ok(s) => s,
            Err(why) => {
                // The application's rule raised inside collect_results: the task raises.
                self.note(now, Note::RuleRaised { why });
                let how = raised(ErrorKind::Raised);
                self.note(now, Note::Finished { task: TaskRef::Body, worker: w, slot: r.slot as usize, how });
                self.raise_or_autoretry(now, r, e, ErrorKind::Raised, out);
                return;
            }
        };
        if self.sc.app.terminal_guard && self.app.status.is_terminal() {
            self.note(now, Note::GuardSkipped { by: Writer::Callback });
        } else {
            self.app.set_status(now, status, Writer::Callback, &mut self.trace);
        }
        self.note(
            now,
            Note::Finished {
                task: TaskRef::Body,
                worker: w,
                slot: r.slot as usize,
                how: Ending::Returned(ResultValue::Summary),
            },
        );
        self.succeed_task(now, r, TaskRef::Body, ResultValue::Summary, out);
    }

    /// The status the application's rule gives for the header's results in order (`None`: no
    /// result): the profile's rule (rhesis-model §c), the file's table, or the Python callable
    /// (`Err`: it raised or returned no status).
    pub fn status_of(&self, values: &[Option<ResultValue>]) -> Result<RunStatus, String> {
        match &self.sc.app.status_rule {
            StatusRule::Profile => Ok(match self.sc.app.profile {
                // Era A: None or `status: failed` → failed; 0 failed → Completed, fewer than N
                // → Partial, N or more → Failed. N is the run's total_tests.
                Profile::Doc => {
                    let failed = values
                        .iter()
                        .filter(|v| matches!(v, None | Some(ResultValue::None | ResultValue::FailDict)))
                        .count();
                    doc_rule(failed, self.n())
                }
                // Era C: count rows; failure dicts left none. The four-step rule.
                Profile::Rhesis => rhesis_rule(&self.app.rows),
            }),
            StatusRule::Table(t) => Ok(table_rule(t, values)),
            StatusRule::Callable(f) => {
                let r = &self.sc.app.returns;
                let json: Vec<serde_json::Value> = values
                    .iter()
                    .map(|v| match v {
                        Some(ResultValue::Pass | ResultValue::Summary) => r.pass(),
                        Some(ResultValue::FailDict | ResultValue::Error(_)) => r.failure(),
                        Some(ResultValue::Malformed) => r.malformed(),
                        Some(ResultValue::None) | None => serde_json::Value::Null,
                    })
                    .collect();
                (f.0)(&serde_json::to_string(&json).expect("JSON values serialise"))
            }
        }
    }

    /// The status the application's rule gives from the header tasks' outcomes: each test's
    /// stored result (the first SUCCESS on a key-value backend, §2), or the value its last
    /// execution returned when nothing is stored (ignore_result, expiry). `None` when the rule
    /// raises on them.
    pub fn rule_status(&self, at: SimTime) -> Option<RunStatus> {
        let values: Vec<Option<ResultValue>> =
            (0..self.n()).map(|i| self.backend.value(i, at).or(self.app.last_value[i])).collect();
        self.status_of(&values).ok()
    }

    /// An inline errback runs (§7): it marks the run Failed, unless the terminal guard finds it
    /// terminal already.
    pub(crate) fn errback_runs(&mut self, now: SimTime, node: Node) {
        self.stats.errback_runs += 1;
        self.note(now, Note::ErrbackRan { node });
        if self.sc.app.terminal_guard && self.app.status.is_terminal() {
            self.note(now, Note::GuardSkipped { by: Writer::Errback });
        } else {
            self.stats.errback_acted += 1;
            self.app.set_status(now, RunStatus::Failed, Writer::Errback, &mut self.trace);
        }
    }

    /// The old-style errback task runs: called with the failed task's id and the signature's
    /// own keyword arguments.
    pub(crate) fn errback_task_end(&mut self, now: SimTime, r: ExecRef, out: &mut Schedule<Event>) {
        if signature(&self.sc.app).is_some_and(|s| !takes(&s, 1)) {
            self.note(now, Note::ErrbackRaised { node: Node::Worker(r.worker) });
        } else {
            self.errback_runs(now, Node::Worker(r.worker));
        }
        self.finish_exec(now, r, Settle::Ack, out);
    }

    /// An operator cancels the run (the cancel endpoint of rhesis #1597): Cancelled, and the
    /// body is revoked.
    pub(crate) fn cancel_run(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        if self.app.status.is_terminal() {
            // The cancel endpoint refuses a run that has finished.
            self.note(now, Note::GuardSkipped { by: Writer::Operator });
            return;
        }
        self.app.set_status(now, RunStatus::Cancelled, Writer::Operator, &mut self.trace);
        self.revoke(now, TaskRef::Body, false, out);
    }
}

fn raised(kind: ErrorKind) -> Ending {
    match kind {
        ErrorKind::SoftTimeLimit => Ending::SoftLimit,
        _ => Ending::Raised,
    }
}

fn doc_rule(failed: usize, n: usize) -> RunStatus {
    if failed == 0 {
        RunStatus::Completed
    } else if failed < n {
        RunStatus::Partial
    } else {
        RunStatus::Failed
    }
}

/// A [`RuleTable`]: tally the results by how each counts, then the tally's status.
fn table_rule(t: &RuleTable, values: &[Option<ResultValue>]) -> RunStatus {
    let counts = values.iter().map(|v| match v {
        Some(ResultValue::Pass | ResultValue::Summary) => t.pass,
        Some(ResultValue::FailDict | ResultValue::Error(_)) => t.failure,
        Some(ResultValue::None) => t.none,
        Some(ResultValue::Malformed) => t.malformed,
        None => t.missing,
    });
    let (passed, failed) = counts.fold((0, 0), |(p, f), c| match c {
        Counts::Passed => (p + 1, f),
        Counts::Failed => (p, f + 1),
        Counts::Skipped => (p, f),
    });
    match (passed, failed) {
        (0, 0) => t.none_counted,
        (_, 0) => t.all_passed,
        (0, _) => t.all_failed,
        _ => t.some_failed,
    }
}

fn rhesis_rule(rows: &[Option<Row>]) -> RunStatus {
    // rhesis-model §c: total == 0 → Failed; errors == 0 → Completed; errors == total → Failed;
    // else Partial. Pass and Fail rows are not errors, so any row at all gives Completed.
    let total = rows.iter().flatten().count();
    if total == 0 { RunStatus::Failed } else { RunStatus::Completed }
}

/// §3 autoretry countdown: min(retry_backoff_max, factor·2^retries), a uniform integer in
/// [0, countdown] with jitter; `default_retry_delay` when backoff is off.
fn backoff(class: &TaskClass, retries: u32, rng: &mut rand_chacha::ChaCha8Rng) -> SimDuration {
    use rand::RngExt;
    if class.retry_backoff == 0 {
        return class.default_retry_delay;
    }
    let factor = u64::from(class.retry_backoff.max(1));
    let secs = factor.saturating_mul(1u64 << retries.min(40)).min(class.retry_backoff_max.0 / 1_000_000);
    let secs = if class.retry_jitter { rng.random_range(0..=secs) } else { secs };
    SimDuration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_rule_counts_failures_against_the_header_size() {
        assert_eq!(doc_rule(0, 4), RunStatus::Completed);
        assert_eq!(doc_rule(1, 4), RunStatus::Partial);
        assert_eq!(doc_rule(4, 4), RunStatus::Failed);
    }

    #[test]
    fn rhesis_rule_completes_whenever_any_row_exists() {
        assert_eq!(rhesis_rule(&[None, None]), RunStatus::Failed);
        assert_eq!(rhesis_rule(&[Some(Row::Fail), None]), RunStatus::Completed);
    }

    #[test]
    fn autoretry_backoff_doubles_up_to_its_cap() {
        let mut class = task_classes(
            &crate::scenario::AppConfig { profile: Profile::Rhesis, ..Default::default() },
            &CeleryConfig::defaults(crate::version::CeleryVersion::V5_7),
        )
        .body;
        class.retry_jitter = false;
        class.retry_backoff_max = SimDuration::from_secs(5);
        let mut rng = crate::sim::rng::stream(1, crate::sim::rng::Stream::Retry);
        let waits: Vec<u64> = (0..5).map(|r| backoff(&class, r, &mut rng).0 / 1_000_000).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
    }
}

/// How Celery calls the body's errback (`backends/base.py: _call_task_errbacks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrbackCall {
    /// None is linked.
    None,
    /// New-style: called in the worker with `(request, exc, traceback)`; `fits` says whether
    /// the function takes that call (else TypeError).
    Inline {
        /// The call matches the signature.
        fits: bool,
    },
    /// Old-style: sent as a task with the failed task's id.
    Task,
}

/// The errback's signature: as the scenario gives it, else the style's own.
fn signature(app: &crate::scenario::AppConfig) -> Option<ErrbackSignature> {
    let names = |ps: &[&str]| ps.iter().map(|p| Param::Required(p.to_string())).collect();
    match (&app.errback_signature, app.errback) {
        (_, Errback::None) => None,
        (Some(s), _) => Some(s.clone()),
        (None, Errback::Inline) => {
            Some(ErrbackSignature { params: names(&["request", "exc", "traceback"]), kwargs: vec![] })
        }
        (None, Errback::Task) => Some(ErrbackSignature { params: names(&["task_id"]), kwargs: vec![] }),
    }
}

/// `arity_greater(header, 1)`: `*args`, or more than one positional parameter. 5.7 first
/// binds the signature's keyword arguments (`_errback_arity_greater` on a `partial`): a bound
/// parameter, and every one after it, becomes keyword-only and is not counted.
fn takes_more_than_the_task_id(s: &ErrbackSignature, version: CeleryVersion) -> bool {
    let mut positional = 0;
    for p in &s.params {
        match p {
            Param::Varargs(_) => return true,
            Param::Varkw(_) => {}
            Param::Required(n) | Param::Default(n) => {
                if version.errback_arity_binds_kwargs() && s.kwargs.contains(n) {
                    break;
                }
                positional += 1;
            }
        }
    }
    positional > 1
}

/// Whether a call with `n` positional arguments plus the bound keyword arguments fits the
/// signature (no TypeError).
fn takes(s: &ErrbackSignature, n: usize) -> bool {
    let mut filled = 0;
    let mut varargs = false;
    let mut varkw = false;
    let mut names = Vec::new();
    for p in &s.params {
        match p {
            Param::Varargs(_) => varargs = true,
            Param::Varkw(_) => varkw = true,
            Param::Required(name) | Param::Default(name) => {
                let by_position = filled < n;
                if by_position {
                    filled += 1;
                    if s.kwargs.contains(name) {
                        return false; // given twice
                    }
                } else if matches!(p, Param::Required(_)) && !s.kwargs.contains(name) {
                    return false; // missing
                }
                names.push(name.as_str());
            }
        }
    }
    (filled == n || varargs) && (varkw || s.kwargs.iter().all(|k| names.contains(&k.as_str())))
}

/// How the body's errback is called, in this version.
pub fn errback_call(app: &crate::scenario::AppConfig, version: CeleryVersion) -> ErrbackCall {
    match signature(app) {
        None => ErrbackCall::None,
        Some(s) if takes_more_than_the_task_id(&s, version) => ErrbackCall::Inline { fits: takes(&s, 3) },
        Some(_) => ErrbackCall::Task,
    }
}

#[cfg(test)]
mod errback_tests {
    use super::*;
    use crate::scenario::Param::{Default, Required, Varargs};

    fn sig(params: Vec<Param>, kwargs: &[&str]) -> ErrbackSignature {
        ErrbackSignature { params, kwargs: kwargs.iter().map(|k| k.to_string()).collect() }
    }

    #[test]
    fn a_task_id_errback_with_a_bound_keyword_is_new_style_up_to_5_6_and_old_style_in_5_7() {
        // def mark_failed(task_id, run_id=None), linked as mark_failed.s(run_id=...): observation 04b.
        let s = sig(vec![Required("task_id".into()), Default("run_id".into())], &["run_id"]);
        assert!(takes_more_than_the_task_id(&s, CeleryVersion::V5_5));
        assert!(takes_more_than_the_task_id(&s, CeleryVersion::V5_6));
        assert!(!takes_more_than_the_task_id(&s, CeleryVersion::V5_7));
        assert!(!takes(&s, 3), "(request, exc, traceback, run_id=…) does not fit: TypeError");
        assert!(takes(&s, 1), "(task_id, run_id=…) fits");
    }

    #[test]
    fn the_styles_own_signatures_fit_their_calls() {
        let inline = sig(vec![Required("request".into()), Required("exc".into()), Required("traceback".into())], &[]);
        assert!(takes_more_than_the_task_id(&inline, CeleryVersion::V5_5) && takes(&inline, 3));
        let task = sig(vec![Required("task_id".into())], &[]);
        assert!(!takes_more_than_the_task_id(&task, CeleryVersion::V5_7) && takes(&task, 1));
        let varargs = sig(vec![Varargs("args".into())], &[]);
        assert!(takes_more_than_the_task_id(&varargs, CeleryVersion::V5_7) && takes(&varargs, 3));
    }
}
