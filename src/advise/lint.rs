//! `chordsim lint`: hazards derived from a configuration alone, worst first. Each says why in
//! one line, with the bound it computed from the settings (chord_unlock's give-up time, the
//! chord keys' TTL, the visibility timeout against the tests), and comes with a generated
//! scenario that shows it — by a named symptom, checked on the run — and the same scenario with
//! the fix, which must not show it.

use crate::model::World;
use crate::run::{RunResult, run};
use crate::scenario::{
    Action, BackendKind, BrokerKind, Clock, DurationSpec, Errback, Fault, FaultKind, Outcome, Profile, Scenario,
    TestSpec,
};
use crate::time::{SimDuration, SimTime};
use crate::trace::{Note, PartNote};
use crate::words::{Property, TaskRef, TaskState};

use super::{Change, Workload};

/// What shows a hazard in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symptom {
    /// No terminal status.
    Stuck,
    /// This safety property breaks.
    Violation(Property),
    /// A header test never finishes (no execution of it ends).
    TestNeverFinishes,
    /// A header test runs more than once.
    TestRanTwice,
    /// Test 0 is stored FAILURE (WorkerLostError) although it passes.
    WorkerLostFailure,
    /// A part-return finds the Redis chord keys gone.
    ChordKeysGone,
    /// chord_unlock gives up (MaxRetriesExceeded).
    UnlockGaveUp,
    /// chord_unlock polls run well after their ETA.
    LatePolls,
}

impl Symptom {
    /// Whether the run shows it.
    pub fn shows(self, r: &RunResult) -> bool {
        let v = &r.verdict;
        match self {
            Symptom::Stuck => v.ending == crate::check::Ending::Stuck,
            Symptom::Violation(p) => v.violations.contains_key(&p),
            // From the trace, not the final states: results that expire read PENDING again.
            Symptom::TestNeverFinishes => (0..v.header_runs.len() as u32).any(|i| {
                !r.trace.iter().any(|rec| matches!(rec.note, Note::Finished { task, .. } if task == TaskRef::Header(i)))
            }),
            Symptom::TestRanTwice => v.header_runs.iter().any(|&n| n > 1),
            Symptom::WorkerLostFailure => r.trace.iter().any(|rec| {
                matches!(rec.note, Note::Stored { task: TaskRef::Header(0), state: TaskState::Failure, .. })
            }),
            // Before the body fired: after it, the keys are deleted and a duplicate finds none.
            Symptom::ChordKeysGone => r
                .trace
                .iter()
                .filter_map(|rec| match &rec.note {
                    Note::PartReturn { outcome, .. } => Some(outcome),
                    _ => None,
                })
                .take_while(|o| **o != PartNote::Fired)
                .any(|o| *o == PartNote::NoSizeKey),
            Symptom::UnlockGaveUp => r.trace.iter().any(|rec| matches!(rec.note, Note::UnlockGaveUp { .. })),
            Symptom::LatePolls => !v.late_polls.is_empty(),
        }
    }

    /// In words.
    pub fn words(self) -> String {
        match self {
            Symptom::Stuck => "the run is stuck".into(),
            Symptom::Violation(p) => format!("{} breaks", p.name()),
            Symptom::TestNeverFinishes => "a test never finishes".into(),
            Symptom::TestRanTwice => "a test runs more than once".into(),
            Symptom::WorkerLostFailure => "a passing test is stored FAILURE (WorkerLostError)".into(),
            Symptom::ChordKeysGone => "a part-return finds the chord keys gone before the body fired".into(),
            Symptom::UnlockGaveUp => "chord_unlock gives up".into(),
            Symptom::LatePolls => "chord_unlock's polls run late".into(),
        }
    }
}

/// A hazard and how it is shown.
#[derive(Clone, Debug)]
pub struct Hazard {
    /// Stable name.
    pub id: &'static str,
    /// Why, in one line, with the rule.
    pub why: String,
    /// The bound it computed.
    pub bound: String,
    /// What fixes it, if a setting or application change does.
    pub fix: Option<Change>,
    /// The scenario that shows it and the symptom it shows; none for a hazard no run can show
    /// (a key that does nothing).
    pub demo: Option<(Scenario, Symptom)>,
}

impl Hazard {
    /// The demonstration with the fix applied.
    pub fn fixed(&self) -> Option<Scenario> {
        let (demo, _) = self.demo.as_ref()?;
        let mut sc = demo.clone();
        self.fix.as_ref()?.apply(&mut sc);
        sc.name = format!("{} (fixed)", demo.name);
        sc.about = format!("{}\nFixed: {}.", demo.about, self.fix.as_ref()?.python());
        Some(sc)
    }

    /// Run the demonstration and its fixed variant: (shows the symptom, the fix takes it away).
    pub fn demonstrate(&self) -> Option<(bool, Option<bool>)> {
        let (demo, symptom) = self.demo.as_ref()?;
        let shown = symptom.shows(&run(demo.clone(), None));
        let gone = self.fixed().map(|f| !symptom.shows(&run(f, None)));
        Some((shown, gone))
    }
}

/// The hazards of `base`'s configuration (its workload and faults are ignored) for workload `w`.
pub fn lint(base: &Scenario, w: Workload) -> Vec<Hazard> {
    let (world, _) = World::new(workload(base, w));
    let cfg = &world.sc.celery;
    let header = w.header_time(base);
    let slots: usize = base.topology.workers.iter().map(|w| w.concurrency as usize).sum::<usize>().max(1);
    let polling = base.topology.backend == BackendKind::Database;
    let redis_broker = base.topology.broker == BrokerKind::Redis;
    let acks_late = world.ack_mode(TaskRef::Header(0)) == crate::config::AckMode::Late;
    let (_, hard) = world.limits(TaskRef::Header(0));
    let (max_retries, source) = world.unlock_max_retries();
    let interval = world.unlock_interval();
    let vt = cfg.visibility_timeout;
    // chord_unlock bounded, polling through twice the header and a minute.
    let polls = ((header * 2 + SimDuration::from_secs(60)).0.div_ceil(interval.0.max(1)) + 1).min(u64::from(u32::MAX));
    let bounded = Change::UnlockMaxRetries(polls as u32);
    let mut out = Vec::new();

    // chord_unlock is sent with countdown=1 and retries every interval (celery-semantics §5).
    if let (true, Some(m)) = (polling, max_retries) {
        let gives_up = SimDuration::from_secs(1) + SimDuration(interval.0.saturating_mul(u64::from(m)));
        if gives_up < header {
            out.push(Hazard {
                id: "chord_unlock_gives_up",
                why: format!(
                    "chord_unlock gives up after its countdown and {m} retries (max_retries from {source}) while the header still runs: the body is never called (§5.3)"
                ),
                bound: format!("gives up after {gives_up} (1s + {m} × {interval}); the header takes about {header}"),
                fix: Some(bounded.clone()),
                demo: Some((demo(base, w, "chord_unlock gives up", header * 2 + minutes(10)), Symptom::UnlockGaveUp)),
            });
        }
    }
    for p in base.policies.iter().filter(|p| !p.dry_run && p.actions.contains(&Action::RevokeChordUnlock)) {
        if !polling {
            continue;
        }
        let period = p.every.unwrap_or(p.at);
        let (why, sc) = match p.clock {
            Clock::ChordAge => {
                // A run longer than the threshold: tests under the time limit, in as many waves
                // of the pool slots as it takes, one slot left for the polls.
                let long = p.older_than + period + minutes(10);
                let each = hard.map_or(long, |l| SimDuration(l.0 / 10 * 9).min(long));
                let waves = long.0.div_ceil(each.0.max(1)) as usize;
                let tests = waves * slots.saturating_sub(1).max(1);
                let slow = Workload { tests, duration: each };
                let mut sc = demo(base, slow, "a policy revokes chord_unlock", SimDuration::ZERO);
                sc.policies = base.policies.clone();
                sc.horizon = long * 2 + SimDuration::from_secs(3600);
                (
                    format!(
                        "{} revokes chord_unlock of any run older than {}: a run that is only slow loses its polling for good and stays in progress (§9 \"Revoke\")",
                        p.kind.who(),
                        p.older_than
                    ),
                    sc,
                )
            }
            Clock::TaskStart => {
                let mut sc = demo(base, w, "a policy revokes chord_unlock", SimDuration::ZERO);
                sc.policies = base.policies.clone();
                sc.tests.truncate(1);
                sc.tests[0].duration = DurationSpec::Fixed(minutes(10));
                let stall = p.older_than + period + minutes(5);
                sc.faults = vec![fault(minutes(1), FaultKind::Stall { broker: false, backend: true, duration: stall })];
                sc.horizon = stall + SimDuration::from_secs(3600);
                (
                    format!(
                        "{} revokes a chord_unlock whose poll has run over {}: a backend stall that long holds one poll, and the revoke ends the polling for good (§9 \"Stall\", \"Revoke\")",
                        p.kind.who(),
                        p.older_than
                    ),
                    sc,
                )
            }
        };
        out.push(Hazard {
            id: "policy_revokes_chord_unlock",
            why,
            bound: format!("revokes after {} by {}, checked every {period}", p.older_than, p.clock.name()),
            fix: Some(Change::NoRevokingPolicy),
            demo: Some((sc, Symptom::Stuck)),
        });
    }
    // Each part-return resets the chord keys' TTL to result_expires (§6 step 2): a test that
    // ends later than that after the previous one finds no keys.
    if let (BackendKind::Redis, Some(e)) = (base.topology.backend, cfg.result_expires)
        && header > e
    {
        let long = e + minutes(30);
        let mut sc = demo(base, w, "the chord keys expire", long + SimDuration::from_secs(3600));
        if let Some(last) = sc.tests.last_mut() {
            last.duration = DurationSpec::Fixed(long);
        }
        out.push(Hazard {
            id: "result_expires_before_run_ends",
            why: "the Redis chord keys expire result_expires after the last part-return: a test that finishes later than that after the others finds no counter, and the body never runs (§6)".into(),
            bound: format!("result_expires {e} against a header of about {header}"),
            fix: Some(Change::ResultExpires((header * 2).max(long * 2).max(SimDuration::from_secs(86_400)))),
            demo: Some((sc, Symptom::ChordKeysGone)),
        });
    }
    if base.app.errback == Errback::None {
        let mut sc = demo(base, w, "a test fails", header * 2 + SimDuration::from_secs(3600));
        match base.app.profile {
            Profile::Doc => sc.tests[0].outcome = Outcome::Raise,
            // rhesis' execute_single_test turns its own exceptions into a failure dict
            // (rhesis-model §a); a revoke (the run's cancel, a monitor) still fails the task.
            Profile::Rhesis => {
                let half = SimDuration(w.duration.0 / 2).max(SimDuration::from_millis(1));
                let target = crate::scenario::RevokeTarget::Test(0);
                sc.faults = vec![fault(half, FaultKind::Revoke { target, terminate: true })];
            }
        }
        out.push(Hazard {
            id: "no_errback",
            why: "no errback on the body: a header task that fails (raises, is revoked, loses its worker) makes a ChordError that nothing handles, and the run stays in progress (§6 step 3, §7)".into(),
            bound: "errback: none".into(),
            fix: Some(Change::Errback),
            demo: Some((sc, Symptom::Stuck)),
        });
    }
    if hard.is_none() {
        let limit = (w.duration * 3).max(SimDuration::from_secs(60));
        // Long enough for the fix's limit to end the hung test.
        let mut sc = demo(base, w, "a test hangs", header * 2 + limit + SimDuration::from_secs(3600));
        sc.tests[0].outcome = Outcome::Hang;
        out.push(Hazard {
            id: "no_time_limit",
            why: "no time limit on the header task: a test that hangs (an endpoint that never answers) never finishes, and neither does the chord (§8)".into(),
            bound: "task_time_limit: none".into(),
            fix: Some(Change::TimeLimits { hard: limit, soft: SimDuration(limit.0 / 10 * 9) }),
            demo: Some((sc, Symptom::TestNeverFinishes)),
        });
    }
    if acks_late && !cfg.reject_on_worker_lost {
        let mut sc = demo(base, w, "a pool child dies", header * 2 + SimDuration::from_secs(3600));
        let half = SimDuration(w.duration.0 / 2).max(SimDuration::from_millis(1));
        sc.faults = vec![fault(SimDuration::ZERO, FaultKind::KillChild { test: 0, after_start: Some(half) })];
        out.push(Hazard {
            id: "acks_late_without_reject_on_worker_lost",
            why: "task_acks_late without task_reject_on_worker_lost: a task whose pool child dies (OOM, SIGKILL) is acked and failed with WorkerLostError instead of run again (§12)".into(),
            bound: "task_reject_on_worker_lost: false".into(),
            fix: Some(Change::RejectOnWorkerLost),
            demo: Some((sc, Symptom::WorkerLostFailure)),
        });
    }
    if redis_broker && acks_late && w.duration > vt {
        let mut sc = demo(base, w, "a test outlives the visibility timeout", w.duration * 3 + minutes(10));
        sc.tests.truncate(slots);
        out.push(Hazard {
            id: "visibility_timeout_below_test_duration",
            why: "with task_acks_late on the Redis broker a running test stays unacked: once it is older than the visibility timeout a restore sweep hands it to another worker, which runs it again (§9 table, row 2)".into(),
            bound: format!("visibility_timeout {vt} against tests of {}", w.duration),
            fix: Some(Change::VisibilityTimeout((w.duration * 2).max(hard.unwrap_or_default() * 2).max(vt))),
            demo: Some((sc, Symptom::TestRanTwice)),
        });
    }
    if let (true, true, Some(l)) = (redis_broker, acks_late, hard)
        && l > vt
    {
        let mut sc = demo(base, w, "a hung test outlives the visibility timeout", l * 3 + minutes(10));
        sc.tests.truncate(1);
        sc.tests[0].outcome = Outcome::Hang;
        out.push(Hazard {
            id: "time_limit_above_visibility_timeout",
            why: "the hard time limit is above the visibility timeout: a hung test is restored and run again before the limit ends it (§9 table, row 2)".into(),
            bound: format!("task_time_limit {l} against visibility_timeout {vt}"),
            fix: Some(Change::VisibilityTimeout(l * 2)),
            demo: Some((sc, Symptom::TestRanTwice)),
        });
    }
    let class = &world.header_attrs.class;
    let retry_wait = if class.retry_backoff > 0 { class.retry_backoff_max } else { class.default_retry_delay };
    if redis_broker && !class.autoretry_for.is_empty() && retry_wait > vt {
        let mut sc = demo(base, w, "a retry's countdown outlives the visibility timeout", retry_wait * 3 + minutes(10));
        sc.tests[0].outcome = Outcome::RaiseTransient { fails: 1 };
        out.push(Hazard {
            id: "eta_beyond_visibility_timeout",
            why: "a retry is an ETA message held unacked by a worker: a countdown longer than the visibility timeout is restored again and again, and the retry runs several times (§3, §9)".into(),
            bound: format!("retry countdown up to {retry_wait} against visibility_timeout {vt}"),
            fix: Some(Change::VisibilityTimeout(retry_wait * 2)),
            demo: Some((sc, Symptom::Violation(Property::RedeliveryBounded))),
        });
    }
    if polling && class.ignore_result {
        out.push(Hazard {
            id: "ignore_result_on_polling",
            why: "ignore_result on the header with a polling backend: results are never stored, so chord_unlock never finds the header ready (§8 \"ignore_result\")".into(),
            bound: "task_ignore_result: true".into(),
            fix: Some(Change::StoreResults),
            demo: Some((demo(base, w, "results are not stored", header * 2 + minutes(10)), Symptom::Stuck)),
        });
    }
    if let (true, None, None) = (polling, max_retries, hard) {
        let mut sc = demo(base, w, "a test hangs and chord_unlock polls", minutes(60));
        sc.tests[0].outcome = Outcome::Hang;
        out.push(Hazard {
            id: "polls_for_ever",
            why: format!(
                "a database backend with chord_unlock's max_retries=None (from {source}) and no time limit: a test that never finishes keeps chord_unlock polling every {interval} for ever (§5.3)"
            ),
            bound: format!("max_retries: None; a poll every {interval}"),
            fix: Some(bounded.clone()),
            demo: Some((sc, Symptom::Violation(Property::PollingBounded))),
        });
    }
    if polling && w.tests >= slots {
        let sc = demo(base, w, "the tests fill every pool slot", header * 2 + minutes(10));
        out.push(Hazard {
            id: "tests_delay_polls",
            why: "the tests fill every pool slot: a chord_unlock poll held by a worker runs only in a free slot, so polling waits for tests to finish (§9); route celery.chord_unlock to a queue of its own (not modelled)".into(),
            bound: format!("{} tests on {slots} slots", w.tests),
            fix: None,
            demo: Some((sc, Symptom::LatePolls)),
        });
    }
    // An annotation applies to the task whose name is its key (celery app/annotations.py:
    // MapAnnotation), or to every task under "*".
    let names = [
        world.header_attrs.class.name.as_ref(),
        world.body_attrs.class.name.as_ref(),
        world.unlock_attrs.class.name.as_ref(),
        "*",
    ];
    for key in cfg.annotations.keys().filter(|k| !names.contains(&k.as_str())) {
        out.push(Hazard {
            id: "annotation_matches_no_task",
            why: format!(
                "task_annotations['{key}'] names no task this application runs ({}, {}, {}): its values never apply",
                names[0], names[1], names[2]
            ),
            bound: format!("task_annotations['{key}']"),
            fix: None,
            demo: None,
        });
    }
    for s in &cfg.inert {
        out.push(Hazard {
            id: "inert_setting",
            why: format!("{} does nothing: {}", s.name, s.why),
            bound: format!("{} = {}", s.name, s.value),
            fix: None,
            demo: None,
        });
    }
    out
}

/// `m` minutes.
fn minutes(m: u64) -> SimDuration {
    SimDuration::from_secs(60 * m)
}

fn fault(at: SimDuration, kind: FaultKind) -> Fault {
    Fault { at: SimTime::ZERO + at, until: None, every: None, kind }
}

/// `base`'s configuration running workload `w`, every test passing, no faults.
fn workload(base: &Scenario, w: Workload) -> Scenario {
    let test = TestSpec {
        duration: DurationSpec::Fixed(w.duration),
        outcome: Outcome::Pass,
        ignore_result: false,
        time_limit: None,
        soft_time_limit: None,
        rated: false,
        exception: Vec::new(),
    };
    Scenario { tests: vec![test; w.tests.max(1)], rates: Vec::new(), faults: Vec::new(), expect: None, ..base.clone() }
}

/// A demonstration: the workload, named for what it shows, with `horizon`. Policies that
/// revoke or purge are left out, so that each hazard is shown by itself (the policy hazard
/// puts them back).
fn demo(base: &Scenario, w: Workload, what: &str, horizon: SimDuration) -> Scenario {
    let mut sc = workload(base, w);
    sc.policies.retain(|p| !super::destroys(p));
    sc.name = format!("lint: {what}");
    sc.about = format!(
        "Generated by `chordsim lint` from {}: {what}.",
        if base.file.is_empty() { base.preset.name() } else { &base.file }
    );
    sc.horizon = horizon.max(SimDuration::from_secs(60));
    for w in &mut sc.topology.workers {
        w.start = true;
    }
    sc
}
