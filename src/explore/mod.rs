//! `chordsim explore`: generate workloads and fault schedules for one configuration, run them,
//! and for each distinct failure (a run that is stuck after the liveness bound, or breaks a
//! safety property) shrink the first case that showed it to a minimal scenario file that
//! `chordsim run` replays to the same verdict.
//!
//! Case `i` of seed `s` is drawn from its own ChaCha stream, so results do not depend on the
//! number of threads or on which shard ran it: `--shard I/N` runs the cases with
//! `i % N == I - 1`. A failure's file depends only on the failure and the case it was shrunk
//! from, so [`merge`] can combine the shards' findings into exactly what one unsharded run
//! finds: per signature, the shard with the earliest first case, and the counts summed.

pub mod manifest;
pub mod strategy;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::check::{Ending, Verdict};
use crate::run::run;
use crate::scenario::{CountRange, ExpectedStatus, Scenario};
use strategy::{CaseGen, apply};

/// What to explore.
#[derive(Clone, Debug)]
pub struct Options {
    /// The configuration under test (its workload and faults are replaced).
    pub base: Scenario,
    /// Cases in the whole exploration (all shards).
    pub cases: u64,
    /// The master seed.
    pub seed: u64,
    /// This shard, 1-based, and the number of shards.
    pub shard: (u64, u64),
    /// Largest generated header.
    pub max_tests: usize,
    /// Worker threads.
    pub threads: usize,
    /// Most runs spent shrinking one failure.
    pub shrink_runs: u32,
    /// The imported configuration's name (its file's stem), when `--config` gave one: it names
    /// the counterexamples instead of the preset.
    pub config: Option<String>,
    /// Count a run that an operator policy ended (the watchdog's Failed) as a failure, unless
    /// what it waited for was lost for good (`harden`: a watchdog must not hide what a setting
    /// fixes).
    pub policy_endings_fail: bool,
}

/// Asks a running exploration to stop, from another thread (a signal handler, a time budget).
#[derive(Debug, Default)]
pub struct Stop {
    cases: AtomicBool,
    shrinking: AtomicBool,
}

impl Stop {
    /// Nothing asked yet.
    pub fn new() -> Self {
        Stop::default()
    }

    /// Start no more cases; what was found is still shrunk.
    pub fn stop_cases(&self) {
        self.cases.store(true, Ordering::SeqCst);
    }

    /// Start no more cases and stop shrinking: each failure is kept as far as it was shrunk.
    pub fn stop_shrinking(&self) {
        self.stop_cases();
        self.shrinking.store(true, Ordering::SeqCst);
    }

    /// Whether it was asked to stop starting cases.
    pub fn stopped(&self) -> bool {
        self.cases_stopped()
    }

    fn cases_stopped(&self) -> bool {
        self.cases.load(Ordering::Relaxed)
    }

    fn shrinking_stopped(&self) -> bool {
        self.shrinking.load(Ordering::Relaxed)
    }
}

/// One distinct failure, shrunk.
#[derive(Clone, Debug)]
pub struct Found {
    /// The cause signature it was deduplicated by.
    pub signature: String,
    /// The first case that showed it.
    pub case: u64,
    /// How many cases showed it.
    pub count: u64,
    /// Whether shrinking ran to its end (false when it was stopped).
    pub shrunk: bool,
    /// The minimal scenario, with its expectation set to what it does.
    pub minimal: Scenario,
    /// The minimal scenario's verdict.
    pub verdict: Verdict,
}

/// The result of an exploration.
#[derive(Clone, Debug)]
pub struct Report {
    /// Cases run.
    pub ran: u64,
    /// Cases that failed.
    pub failed: u64,
    /// Distinct failures, by signature.
    pub found: Vec<Found>,
    /// Stopped early (a signal or the time budget): fewer cases ran than the shard holds.
    pub interrupted: bool,
    /// Shrinking was stopped: some failures are kept as far as they were shrunk.
    pub shrinking_stopped: bool,
}

/// Whether a verdict is a failure: stuck after the liveness bound, or a broken safety property;
/// with `policy_endings_fail`, also a run a policy ended that the chord could have finished.
pub fn is_failure(v: &Verdict, policy_endings_fail: bool) -> bool {
    v.ending == Ending::Stuck
        || !v.violations.is_empty()
        || (policy_endings_fail && v.ended_by.is_some() && !v.lost_for_good)
}

/// The cause signature failures are deduplicated by: stuck or terminal, the broken properties,
/// and the first cause line with every number blanked out.
pub fn signature(v: &Verdict) -> String {
    let ending = match v.ending {
        Ending::Stuck => "stuck".to_string(),
        Ending::Terminal { status, .. } => match v.ended_by {
            Some(k) => format!("{} by {}", status.name(), k.who()),
            None => status.name().to_string(),
        },
    };
    let props: Vec<&str> = v.violations.keys().map(|p| p.name()).collect();
    // The mechanism, not the fault that set it off: the root-cause line names only the fault.
    let cause = v.cause.iter().find(|c| !c.starts_with("root cause: ")).map(|c| blank_numbers(c)).unwrap_or_default();
    format!("{ending} [{}] {cause}", props.join(","))
}

fn blank_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // A time past a minute (`1h13m51.1s`) is one number: its d, h and m go with it.
        let unit_inside = in_number && matches!(c, 'd' | 'h' | 'm') && chars.peek().is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || (in_number && c == '.') || unit_inside {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Case `index` of `seed`, from its own ChaCha stream.
fn case_of(seed: u64, index: u64, max_tests: usize) -> CaseGen {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    CaseGen::draw(&mut rng, max_tests)
}

/// The scenario of case `index`.
pub fn generate(base: &Scenario, seed: u64, index: u64, max_tests: usize) -> Scenario {
    apply(base, &case_of(seed, index, max_tests), &format!("case {index}"))
}

/// Shrink case `index` while it keeps failing with `signature`; returns the minimal case, and
/// whether shrinking ran to its end (`stop` can end it early). Greedy: take the first simpler
/// case that still fails the same way and go on from the same place in its own list of simpler
/// cases; a pass that takes none ends it.
fn shrink(opts: &Options, index: u64, signature: &str, stop: &Stop) -> (Scenario, Verdict, bool) {
    let scenario = |c: &CaseGen| apply(&opts.base, c, &format!("case {index}"));
    let mut best = case_of(opts.seed, index, opts.max_tests);
    let mut best_verdict = run(scenario(&best), None).verdict;
    let mut runs = 0;
    let mut candidates = best.simpler();
    let mut at = 0;
    let mut took = false;
    while runs < opts.shrink_runs && !stop.shrinking_stopped() {
        let Some(candidate) = candidates.get(at) else {
            if !std::mem::take(&mut took) {
                break;
            }
            at = 0;
            continue;
        };
        runs += 1;
        let v = run(scenario(candidate), None).verdict;
        if is_failure(&v, opts.policy_endings_fail) && self::signature(&v) == signature {
            (best, best_verdict, took) = (candidate.clone(), v, true);
            // The simpler cases of the new best; the same place in them is the next of a kind.
            candidates = best.simpler();
        } else {
            at += 1;
        }
    }
    (scenario(&best), best_verdict, !stop.shrinking_stopped())
}

/// Fill in the scenario's name, about and expectation from what it does. Nothing here depends
/// on the shard or on how many cases failed this way: a failure's file depends only on the
/// failure and its first case.
fn describe(mut sc: Scenario, v: &Verdict, opts: &Options, index: u64, shrunk: bool, sig: &str) -> Scenario {
    let short: String = sig.chars().take(70).collect();
    sc.name = format!("found: {short}");
    let mut about = format!(
        "Found by `chordsim explore` under preset {}{} (Celery {}), seed {}, case {index}, {}. Verdict: {}.",
        sc.preset.name(),
        opts.config.as_ref().map_or(String::new(), |c| format!(" with the configuration {c}")),
        sc.celery.version,
        opts.seed,
        if shrunk { "shrunk to a minimum" } else { "partly shrunk (shrinking was stopped)" },
        match v.ending {
            Ending::Stuck => "stuck after every fault healed and the liveness bound passed".to_string(),
            Ending::Terminal { status, at } => format!("{} at {at}", status.name()),
        }
    );
    if !v.cause.is_empty() {
        about.push_str(" Cause chain: ");
        about.push_str(&v.cause.join(" | "));
        about.push('.');
    }
    for (p, why) in &v.violations {
        about.push_str(&format!(" Breaks {}: {why}.", p.name()));
    }
    sc.about = about;
    let e = sc.expect.get_or_insert_with(crate::scenario::Expect::stuck);
    e.status = match v.ending {
        Ending::Stuck => ExpectedStatus::Stuck,
        Ending::Terminal { status, .. } => ExpectedStatus::Terminal(status),
    };
    e.violations = v.violations.keys().copied().collect();
    let exact = |n: u64| Some(CountRange { lo: n, hi: n });
    e.callback_runs = exact(v.callback_runs);
    e.errback_runs = exact(v.errback_runs);
    e.chord_unlock_runs = exact(v.chord_unlock_runs);
    sc
}

/// Run the exploration. `stop` ends it early (a signal, a time budget), keeping what was found;
/// `tick` is called after every case.
pub fn explore(opts: &Options, stop: &Stop, tick: &(dyn Fn() + Sync)) -> Report {
    let (shard, shards) = opts.shard;
    // The k-th case of this shard, and how many there are.
    let index_of = |k: u64| (shard - 1) + k * shards;
    let in_shard = shard_size(opts.cases, opts.shard);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    // Per signature: the first case that showed it and how many did. Cases are claimed in
    // order and always finish, so the cases run are a prefix of the shard's: the same set, and
    // so the same report, whichever threads ran them.
    let seen: Mutex<BTreeMap<String, (u64, u64)>> = Mutex::new(BTreeMap::new());
    on_threads(opts.threads, || {
        while !stop.cases_stopped() {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= in_shard {
                return;
            }
            let index = index_of(k);
            let v = run(generate(&opts.base, opts.seed, index, opts.max_tests), None).verdict;
            if is_failure(&v, opts.policy_endings_fail) {
                let mut seen = seen.lock().expect("no thread panics holding the lock");
                let e = seen.entry(signature(&v)).or_insert((index, 0));
                e.0 = e.0.min(index);
                e.1 += 1;
            }
            done.fetch_add(1, Ordering::Relaxed);
            tick();
        }
    });
    let ran = done.into_inner();
    let seen = seen.into_inner().expect("threads are done");
    let failed = seen.values().map(|(_, n)| n).sum();
    let interrupted = ran < in_shard;
    let distinct: Vec<(String, u64, u64)> = seen.into_iter().map(|(s, (i, n))| (s, i, n)).collect();
    let found: Mutex<BTreeMap<u64, Found>> = Mutex::new(BTreeMap::new());
    let next = AtomicU64::new(0);
    on_threads(opts.threads, || {
        while let Some((sig, index, count)) = distinct.get(next.fetch_add(1, Ordering::Relaxed) as usize) {
            let (minimal, verdict, shrunk) = shrink(opts, *index, sig, stop);
            let minimal = describe(minimal, &verdict, opts, *index, shrunk, sig);
            let f = Found { signature: sig.clone(), case: *index, count: *count, shrunk, minimal, verdict };
            found.lock().expect("no thread panics holding the lock").insert(*index, f);
        }
    });
    let found: Vec<Found> = found.into_inner().expect("threads are done").into_values().collect();
    let shrinking_stopped = found.iter().any(|f| !f.shrunk);
    Report { ran, failed, found, interrupted, shrinking_stopped }
}

/// Run `worker` on `threads` (at least one) scoped threads and wait for all of them; each
/// worker claims cases from a shared counter until none are left.
fn on_threads(threads: usize, worker: impl Fn() + Sync) {
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(&worker);
        }
    });
}

/// How many of `cases` fall in shard `(i, n)`: those with `index % n == i - 1`.
pub fn shard_size(cases: u64, (i, n): (u64, u64)) -> u64 {
    cases / n + u64::from(cases % n >= i)
}

/// The file name of a counterexample: the configuration's name (or the preset's), the
/// signature's words and a short hash of the signature, so the same failure found by two
/// shards lands in the same file.
pub fn file_name(f: &Found, config: Option<&str>) -> String {
    let words: String = f
        .signature
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|w| !w.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join("-");
    let named = config.unwrap_or(f.minimal.preset.name());
    format!("{named}-{words}-{:08x}.toml", fnv1a(f.signature.as_bytes()) as u32)
}

/// FNV-1a: a stable hash for short file-name suffixes and configuration fingerprints.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_cases_without_overflow() {
        assert_eq!((1..=3).map(|i| shard_size(10, (i, 3))).collect::<Vec<_>>(), vec![4, 3, 3]);
        assert_eq!(shard_size(u64::MAX, (1, 2)) + shard_size(u64::MAX, (2, 2)), u64::MAX);
        assert_eq!(shard_size(5, (1, u64::MAX)), 1);
        assert_eq!(shard_size(5, (6, u64::MAX)), 0);
    }

    #[test]
    fn signatures_ignore_numbers() {
        assert_eq!(blank_numbers("gave up after 4 polls at 4.016s"), "gave up after # polls at #s");
        assert_eq!(
            blank_numbers("since 1h13m51.171402s, on w2"),
            "since #s, on w#",
            "a time past a minute is one number"
        );
        assert_eq!(blank_numbers("after 3m"), "after #m", "a unit at the end stays");
    }
}
