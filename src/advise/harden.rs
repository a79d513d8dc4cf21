//! `chordsim harden`: the smallest set of [`Change`]s under which `explore` finds nothing for a
//! configuration. Greedy, then pruned: while explorations fail, add the candidate change whose
//! exploration fails least (ties to the earlier candidate); once nothing fails on the full case
//! count, drop every change whose removal still leaves nothing found. Each change that stays is
//! needed: without it the same exploration finds something, and that failure, shrunk, is the
//! scenario that needs it. Every step is an exploration with a fixed seed, so the answer does
//! not depend on the number of threads.

use crate::explore::{self, Options as ExploreOptions, Report, Stop};
use crate::scenario::{BackendKind, BrokerKind, Scenario};
use crate::time::SimDuration;

use super::{Change, Workload, destroys};

/// What to harden, and how hard to look.
#[derive(Clone, Debug)]
pub struct Options {
    /// The configuration (its workload and faults are what explore generates).
    pub base: Scenario,
    /// The user's workload: it scales the watchdog.
    pub workload: Workload,
    /// Cases each verifying exploration runs.
    pub cases: u64,
    /// Cases each search step runs (fewer: the search only ranks candidates).
    pub search_cases: u64,
    /// Explore's master seed.
    pub seed: u64,
    /// Largest generated header.
    pub max_tests: usize,
    /// Worker threads.
    pub threads: usize,
}

/// A change that stays, with what explore finds without it.
#[derive(Clone, Debug)]
pub struct Needed {
    /// The change.
    pub change: Change,
    /// The exploration of the suggestion without this change (its failures shrunk).
    pub without: Report,
}

/// The answer.
#[derive(Clone, Debug)]
pub struct Hardening {
    /// Explore on the configuration as it is.
    pub before: Report,
    /// The changes, each needed.
    pub changes: Vec<Needed>,
    /// Explore with every change: nothing found when `complete`.
    pub after: Report,
    /// Explorations run.
    pub explorations: u32,
    /// The search was stopped (a signal, the time budget) before it finished.
    pub stopped: bool,
}

impl Hardening {
    /// Nothing fails with the changes.
    pub fn complete(&self) -> bool {
        self.after.failed == 0 && !self.after.interrupted && !self.stopped
    }
}

/// The changes harden may suggest for `sc`, in the order ties go: settings first, then the
/// application, then operators; each scaled to the configuration and `w`.
pub fn candidates(sc: &Scenario, w: Workload) -> Vec<Change> {
    let hour = SimDuration::from_secs(3600);
    let limit = SimDuration::from_secs(30 * 60);
    let mut out = vec![Change::AcksLate, Change::RejectOnWorkerLost, Change::PrefetchOne];
    out.push(Change::TimeLimits { hard: limit, soft: SimDuration::from_secs(25 * 60) });
    if sc.topology.broker == BrokerKind::Redis {
        // Above the time limit, so a running task is never restored (§9 table, row 2).
        out.push(Change::VisibilityTimeout((limit * 2).max(sc.celery.visibility_timeout)));
    }
    if sc.topology.backend == BackendKind::Database {
        // chord_unlock polls for the liveness bound and the workload's header, then gives up.
        let span = crate::explore::strategy::LIVENESS_BOUND + w.header_time(sc) * 2;
        let interval = sc.celery.chord_retry_interval.0.max(1);
        out.push(Change::UnlockMaxRetries(span.0.div_ceil(interval).min(u64::from(u32::MAX)) as u32));
        out.push(Change::UnlockAcksEarly);
    }
    out.push(Change::ResultExpires((w.header_time(sc) * 2).max(SimDuration::from_secs(86_400))));
    out.push(Change::BackendAlwaysRetry);
    if sc.topology.backend == BackendKind::Database {
        // Through the longest partition the fault model heals (10 minutes) at 10 s apart.
        out.push(Change::BackendMaxRetries(100));
    }
    out.push(Change::StoreResults);
    out.push(Change::Errback);
    out.push(Change::TerminalGuard);
    // Twice the header, at least two hours, and a visibility timeout more on the Redis broker
    // (a restored task waits that long): a slow run is not given up on.
    let restore =
        if sc.topology.broker == BrokerKind::Redis { sc.celery.visibility_timeout } else { SimDuration::ZERO };
    out.push(Change::Watchdog((w.header_time(sc) * 2).max(hour * 2) + restore));
    if sc.policies.iter().any(destroys) {
        out.push(Change::NoRevokingPolicy);
    }
    out.retain(|c| !c.holds(sc));
    out
}

/// `base` with `changes` applied.
pub fn with(base: &Scenario, changes: &[Change]) -> Scenario {
    let mut sc = base.clone();
    for c in changes {
        c.apply(&mut sc);
    }
    sc
}

/// Search. `stop` ends it early (what was found so far is returned, marked stopped); `step`
/// hears what it is doing.
pub fn harden(opts: &Options, stop: &Stop, step: &dyn Fn(&str)) -> Hardening {
    let mut explorations = 0;
    let mut explore = |changes: &[Change], cases: u64, shrink: bool| {
        explorations += 1;
        let eo = ExploreOptions {
            base: with(&opts.base, changes),
            cases,
            seed: opts.seed,
            shard: (1, 1),
            max_tests: opts.max_tests,
            threads: opts.threads,
            shrink_runs: if shrink { 400 } else { 0 },
            config: None,
            policy_endings_fail: true,
        };
        explore::explore(&eo, stop, &|| {})
    };
    step("exploring the configuration as it is");
    let before = explore(&[], opts.cases, true);
    let mut pool = candidates(&opts.base, opts.workload);
    let mut chosen: Vec<Change> = Vec::new();
    let mut stopped = false;
    // Greedy: ranked on the search cases, confirmed on the full count.
    let mut failing = before.failed;
    let mut cases = opts.search_cases.min(opts.cases);
    // The latest exploration of `chosen` on every case that found nothing: the answer's own
    // (a clean report is the same shrunk or not), so it is not run again at the end.
    let mut clean: Option<Report> = None;
    while failing > 0 && !pool.is_empty() {
        if stop.stopped() {
            stopped = true;
            break;
        }
        step(&format!("{} changes chosen; trying {} more", chosen.len(), pool.len()));
        let mut best: Option<(Report, usize)> = None;
        for (i, c) in pool.iter().enumerate() {
            let mut trial = chosen.clone();
            trial.push(c.clone());
            let report = explore(&trial, cases, false);
            let failed = report.failed;
            if best.as_ref().is_none_or(|(b, _)| failed < b.failed) {
                best = Some((report, i));
            }
            if failed == 0 {
                break;
            }
        }
        let Some((report, i)) = best.filter(|(r, _)| r.failed < failing || cases < opts.cases) else { break };
        chosen.push(pool.remove(i));
        let mut report = report;
        if report.failed == 0 && cases < opts.cases {
            // Clean on the search cases: confirm on all of them, and go on if not.
            cases = opts.cases;
            report = explore(&chosen, cases, false);
        }
        failing = report.failed;
        clean = (failing == 0 && cases == opts.cases).then_some(report);
    }
    // Prune: a change whose removal still finds nothing is not needed. What explore finds
    // without a change that stays is kept, for as long as nothing is removed after it.
    let mut kept: Vec<(Change, Vec<Change>, Report)> = Vec::new();
    let mut i = 0;
    while failing == 0 && i < chosen.len() && !stop.stopped() {
        let mut without = chosen.clone();
        let change = without.remove(i);
        step(&format!("checking that {} is needed", change.python()));
        let report = explore(&without, opts.cases, true);
        if report.failed == 0 {
            chosen = without;
            clean = Some(report);
        } else {
            kept.push((change, without, report));
            i += 1;
        }
    }
    let mut changes = Vec::new();
    for (i, change) in chosen.iter().enumerate() {
        if stop.stopped() {
            break;
        }
        let mut without = chosen.clone();
        without.remove(i);
        let without = match kept.iter().position(|(c, w, _)| c == change && *w == without) {
            Some(k) => kept.swap_remove(k).2,
            None => {
                step(&format!("shrinking what needs {}", change.python()));
                explore(&without, opts.cases, true)
            }
        };
        changes.push(Needed { change: change.clone(), without });
    }
    let after = match clean.filter(|_| !stop.stopped()) {
        Some(r) => r,
        None => {
            step("exploring the suggestion");
            explore(&chosen, opts.cases, true)
        }
    };
    Hardening { before, changes, after, explorations, stopped: stopped || stop.stopped() }
}
