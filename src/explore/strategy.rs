//! Generated scenarios: workloads of 1–200 tests, fault schedules within a fault budget and an
//! operator policy now and then, drawn straight from a case's ChaCha stream ([`CaseGen::draw`]:
//! a case costs a few hundred draws, not a proptest value tree), and the settings the property
//! tests vary around a preset ([`knobs`]). Every fault heals (a fault phase, then a heal phase),
//! and the run then gets [`LIVENESS_BOUND`] to reach a terminal status. `explore` and the
//! property tests draw from the same generator.

use proptest::prelude::*;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::AckMode;
use crate::scenario::{DurationSpec, Errback, Expect, Fault, FaultKind, Node, Outcome, Scenario, TestSpec};
use crate::time::{SimDuration, SimTime};

/// After the last fault heals, a run has this long to reach a terminal status: enough for a
/// 1 h visibility timeout to pass and the next restore sweep to run, and for a 2 h watchdog.
pub const LIVENESS_BOUND: SimDuration = SimDuration::from_secs(3 * 3600);

/// How many faults a generated schedule holds at most.
pub const FAULT_BUDGET: usize = 3;

/// The fault phase: every generated fault starts within it.
pub const FAULT_PHASE: SimDuration = SimDuration::from_secs(120);

/// A uniform pick among however many there turn out to be (workers, tests): resolved when
/// the case is applied, so it stays valid when shrinking removes a test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pick(pub u64);

impl Pick {
    /// The pick among `n` (at least one).
    pub fn index(self, n: usize) -> usize {
        ((u128::from(self.0) * n as u128) >> 64) as usize
    }
}

/// A generated header test.
#[derive(Clone, Debug)]
pub struct TestGen {
    /// Run time in milliseconds.
    pub millis: u64,
    /// What it does.
    pub outcome: Outcome,
}

/// A node picked for a partition, resolved against the topology when applied.
#[derive(Clone, Debug)]
pub enum NodeGen {
    /// The producer.
    Producer,
    /// The broker.
    Broker,
    /// The result backend.
    Backend,
    /// A worker, by index into the workers.
    Worker(Pick),
}

/// A generated fault.
#[derive(Clone, Debug)]
pub enum FaultGen {
    /// SIGKILL a worker, restart it after `restart_ms`.
    KillWorker {
        /// Which worker.
        worker: Pick,
        /// Restart delay.
        restart_ms: u64,
    },
    /// SIGKILL the child running a test.
    KillChild {
        /// Which test.
        test: Pick,
    },
    /// Cut a link, heal it after `heal_ms`.
    Partition {
        /// One end.
        a: NodeGen,
        /// The other end.
        b: NodeGen,
        /// One direction only.
        one_way: bool,
        /// Heal delay.
        heal_ms: u64,
    },
    /// The backend is down for `ms`, maybe coming back empty.
    BackendOutage {
        /// Down time.
        ms: u64,
        /// Whether it loses its data.
        lose_data: bool,
    },
    /// The broker restarts, down for `ms`, keeping its data or not.
    BrokerRestart {
        /// Down time.
        ms: u64,
        /// Whether it keeps its queues.
        persistent: bool,
    },
    /// Warm shutdown, restart after `restart_ms`.
    WarmShutdown {
        /// Which worker.
        worker: Pick,
        /// Restart delay.
        restart_ms: u64,
        /// TERM to the process group.
        group: bool,
    },
    /// Cold shutdown, restart after `restart_ms`.
    ColdShutdown {
        /// Which worker.
        worker: Pick,
        /// Restart delay.
        restart_ms: u64,
        /// QUIT to the process group.
        group: bool,
    },
    /// The broker, the backend or both stall for `ms`.
    Stall {
        /// The broker stalls.
        broker: bool,
        /// The backend stalls (at least one of the two does).
        backend: bool,
        /// How long.
        ms: u64,
    },
    /// Revoke a test.
    Revoke {
        /// Which test.
        test: Pick,
        /// With terminate.
        terminate: bool,
    },
    /// Revoke chord_unlock (a "stuck chord" cron job) or the body.
    RevokeCanvas {
        /// The body rather than chord_unlock.
        body: bool,
    },
    /// An operator cancels the run.
    CancelRun,
}

/// A generated operator policy: one that destroys work in progress, as stuck-chord crons do.
#[derive(Clone, Copy, Debug)]
pub enum PolicyGen {
    /// The chord monitor (by `time_start`, or by the chord's age) revoking chord_unlock.
    Monitor {
        /// By the chord's age instead of `time_start`.
        chord_age: bool,
        /// Its threshold.
        older_ms: u64,
        /// How often it runs.
        every_ms: u64,
    },
    /// A cron purging the queues of runs older than this.
    Purge {
        /// Its threshold.
        older_ms: u64,
        /// How often it runs.
        every_ms: u64,
    },
    /// A cron revoking the body of runs older than this.
    RevokeBody {
        /// Its threshold.
        older_ms: u64,
    },
}

impl PolicyGen {
    /// As a scenario's policy.
    pub fn policy(self) -> crate::scenario::Policy {
        use crate::scenario::{Action, Clock, Policy, PolicyKind};
        let ms = SimDuration::from_millis;
        let (clock, older, every, action, terminate) = match self {
            PolicyGen::Monitor { chord_age, older_ms, every_ms } => (
                if chord_age { Clock::ChordAge } else { Clock::TaskStart },
                older_ms,
                Some(every_ms),
                Action::RevokeChordUnlock,
                true,
            ),
            PolicyGen::Purge { older_ms, every_ms } => {
                (Clock::ChordAge, older_ms, Some(every_ms), Action::Purge, false)
            }
            PolicyGen::RevokeBody { older_ms } => (Clock::ChordAge, older_ms, None, Action::RevokeBody, false),
        };
        let kind =
            if matches!(self, PolicyGen::Monitor { .. }) { PolicyKind::ChordMonitor } else { PolicyKind::Custom };
        Policy {
            kind,
            at: ms(every.unwrap_or(older)),
            every: every.map(ms),
            clock,
            older_than: ms(older),
            report_older_than: None,
            actions: vec![action],
            terminate,
            dry_run: false,
        }
    }
}

/// A generated workload and fault schedule, applied to a base scenario's configuration.
#[derive(Clone, Debug)]
pub struct CaseGen {
    /// The header.
    pub tests: Vec<TestGen>,
    /// Faults, each with its start in milliseconds within the fault phase.
    pub faults: Vec<(u64, FaultGen)>,
    /// An operator policy added to the configuration's own.
    pub policy: Option<PolicyGen>,
}

impl CaseGen {
    /// A case drawn from `rng`: 1 to `max_tests` tests, up to [`FAULT_BUDGET`] faults within
    /// the [`FAULT_PHASE`], and in one case of eight an operator policy that destroys work in
    /// progress.
    pub fn draw(rng: &mut impl Rng, max_tests: usize) -> CaseGen {
        let tests = (0..rng.random_range(1..=max_tests.max(1))).map(|_| draw_test(rng)).collect();
        let faults = (0..rng.random_range(0..=FAULT_BUDGET))
            .map(|_| (rng.random_range(0..FAULT_PHASE.0 / 1_000), draw_fault(rng)))
            .collect();
        let policy = (rng.random_range(0..8u32) == 0).then(|| draw_policy(rng));
        CaseGen { tests, faults, policy }
    }

    /// The cases one step simpler than this one, in the order shrinking tries them: without the
    /// policy, without a fault, without a test, then each test passing, each value at its
    /// smallest or halfway there, each flag off and each pick the first. Every step shrinks a
    /// well-founded measure, so shrinking ends.
    pub fn simpler(&self) -> Vec<CaseGen> {
        let mut out = Vec::new();
        if self.policy.is_some() {
            out.push(CaseGen { policy: None, ..self.clone() });
        }
        for i in 0..self.faults.len() {
            let mut c = self.clone();
            c.faults.remove(i);
            out.push(c);
        }
        for i in (0..self.tests.len()).filter(|_| self.tests.len() > 1) {
            let mut c = self.clone();
            c.tests.remove(i);
            out.push(c);
        }
        for i in 0..self.tests.len() {
            if self.tests[i].outcome != Outcome::Pass {
                let mut c = self.clone();
                c.tests[i].outcome = Outcome::Pass;
                out.push(c);
            }
        }
        // Numbers, flags and picks, addressed by position so a candidate can change one.
        let values: Vec<(u64, u64)> = self.clone().numbers().into_iter().map(|(v, min)| (*v, min)).collect();
        for (j, (value, min)) in values.into_iter().enumerate() {
            let half = min + (value - min) / 2;
            for target in [min, half] {
                if target < value && (target == min || half > min) {
                    let mut c = self.clone();
                    *c.numbers().swap_remove(j).0 = target;
                    out.push(c);
                }
            }
        }
        for (i, (_, f)) in self.faults.iter().enumerate() {
            for j in 0..f.clone().flags().len() {
                let mut c = self.clone();
                let flag = c.faults[i].1.flags().swap_remove(j);
                if std::mem::take(flag) {
                    out.push(c);
                }
            }
        }
        for (i, (_, f)) in self.faults.iter().enumerate() {
            for j in 0..f.clone().picks().len() {
                let mut c = self.clone();
                let pick = c.faults[i].1.picks().swap_remove(j);
                if std::mem::take(pick) != Pick::default() {
                    out.push(c);
                }
            }
        }
        out
    }

    /// Its numbers (durations, start times, thresholds), each with the smallest the generator
    /// draws.
    fn numbers(&mut self) -> Vec<(&mut u64, u64)> {
        let tests = self.tests.iter_mut().map(|t| (&mut t.millis, TEST_MILLIS_MIN));
        let faults = self.faults.iter_mut().flat_map(|(at, f)| std::iter::once((at, 0)).chain(f.numbers()));
        let policy = self.policy.iter_mut().flat_map(PolicyGen::numbers);
        tests.chain(faults).chain(policy).collect()
    }
}

/// The shortest generated test, in milliseconds.
const TEST_MILLIS_MIN: u64 = 100;

/// An index into `weights`, each drawn in proportion to its weight.
fn weighted(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let mut roll = rng.random_range(0..weights.iter().sum::<u32>());
    weights
        .iter()
        .position(|&w| {
            let here = roll < w;
            roll = roll.saturating_sub(w);
            here
        })
        .expect("the roll is below the weights' sum")
}

fn draw_test(rng: &mut impl Rng) -> TestGen {
    // 100 ms to 20 min, skewed short.
    let millis = match weighted(rng, &[3, 2, 1]) {
        0 => rng.random_range(TEST_MILLIS_MIN..10_000),
        1 => rng.random_range(10_000..120_000),
        _ => rng.random_range(120_000..1_200_000),
    };
    // Mostly passing tests.
    let outcome = match weighted(rng, &[70, 6, 4, 2, 6, 6, 2, 2, 1]) {
        0 => Outcome::Pass,
        1 => Outcome::FailStatus,
        2 => Outcome::ReturnNone,
        3 => Outcome::Malformed,
        4 => Outcome::Raise,
        5 => Outcome::RaiseTransient { fails: rng.random_range(1..=2) },
        6 => Outcome::SoftCatch,
        7 => Outcome::Flaky,
        _ => Outcome::Hang,
    };
    TestGen { millis, outcome }
}

fn draw_node(rng: &mut impl Rng) -> NodeGen {
    match weighted(rng, &[2, 1, 1, 1]) {
        0 => NodeGen::Worker(Pick(rng.random())),
        1 => NodeGen::Broker,
        2 => NodeGen::Backend,
        _ => NodeGen::Producer,
    }
}

fn draw_fault(rng: &mut impl Rng) -> FaultGen {
    let restart = 1_000..120_000;
    match weighted(rng, &[4, 2, 4, 2, 2, 1, 1, 2, 1, 1, 1]) {
        0 => FaultGen::KillWorker { worker: Pick(rng.random()), restart_ms: rng.random_range(restart) },
        1 => FaultGen::KillChild { test: Pick(rng.random()) },
        2 => FaultGen::Partition {
            a: draw_node(rng),
            b: draw_node(rng),
            one_way: rng.random(),
            heal_ms: rng.random_range(1_000..600_000),
        },
        3 => FaultGen::BackendOutage { ms: rng.random_range(1_000..180_000), lose_data: rng.random_bool(0.2) },
        4 => FaultGen::BrokerRestart { ms: rng.random_range(1_000..60_000), persistent: rng.random() },
        5 => FaultGen::WarmShutdown {
            worker: Pick(rng.random()),
            restart_ms: rng.random_range(restart),
            group: rng.random(),
        },
        6 => FaultGen::ColdShutdown {
            worker: Pick(rng.random()),
            restart_ms: rng.random_range(restart),
            group: rng.random(),
        },
        7 => {
            let which = rng.random_range(0..3u8);
            FaultGen::Stall { broker: which != 1, backend: which != 0, ms: rng.random_range(100..60_000) }
        }
        8 => FaultGen::Revoke { test: Pick(rng.random()), terminate: rng.random() },
        9 => FaultGen::RevokeCanvas { body: rng.random() },
        _ => FaultGen::CancelRun,
    }
}

fn draw_policy(rng: &mut impl Rng) -> PolicyGen {
    let older_ms = rng.random_range(POLICY_MILLIS_MIN..1_800_000);
    let every_ms = rng.random_range(POLICY_MILLIS_MIN..900_000);
    match rng.random_range(0..4u32) {
        0 => PolicyGen::Monitor { chord_age: false, older_ms, every_ms },
        1 => PolicyGen::Monitor { chord_age: true, older_ms, every_ms },
        2 => PolicyGen::Purge { older_ms, every_ms },
        _ => PolicyGen::RevokeBody { older_ms },
    }
}

/// The shortest generated policy threshold and period, in milliseconds.
const POLICY_MILLIS_MIN: u64 = 60_000;

impl FaultGen {
    /// Its durations in milliseconds, each with the smallest the generator draws.
    fn numbers(&mut self) -> Vec<(&mut u64, u64)> {
        match self {
            FaultGen::KillWorker { restart_ms, .. }
            | FaultGen::WarmShutdown { restart_ms, .. }
            | FaultGen::ColdShutdown { restart_ms, .. } => vec![(restart_ms, 1_000)],
            FaultGen::Partition { heal_ms, .. } => vec![(heal_ms, 1_000)],
            FaultGen::BackendOutage { ms, .. } | FaultGen::BrokerRestart { ms, .. } => vec![(ms, 1_000)],
            FaultGen::Stall { ms, .. } => vec![(ms, 100)],
            FaultGen::KillChild { .. }
            | FaultGen::Revoke { .. }
            | FaultGen::RevokeCanvas { .. }
            | FaultGen::CancelRun => Vec::new(),
        }
    }

    /// Its flags: shrinking turns them off.
    fn flags(&mut self) -> Vec<&mut bool> {
        match self {
            FaultGen::Partition { one_way, .. } => vec![one_way],
            FaultGen::BackendOutage { lose_data, .. } => vec![lose_data],
            FaultGen::BrokerRestart { persistent, .. } => vec![persistent],
            FaultGen::WarmShutdown { group, .. } | FaultGen::ColdShutdown { group, .. } => vec![group],
            FaultGen::Revoke { terminate, .. } => vec![terminate],
            FaultGen::RevokeCanvas { body } => vec![body],
            FaultGen::Stall { .. } | FaultGen::KillWorker { .. } | FaultGen::KillChild { .. } | FaultGen::CancelRun => {
                Vec::new()
            }
        }
    }

    /// Its picks of a worker or a test: shrinking moves them to the first.
    fn picks(&mut self) -> Vec<&mut Pick> {
        match self {
            FaultGen::KillWorker { worker, .. }
            | FaultGen::WarmShutdown { worker, .. }
            | FaultGen::ColdShutdown { worker, .. } => vec![worker],
            FaultGen::KillChild { test } | FaultGen::Revoke { test, .. } => vec![test],
            FaultGen::Partition { a, b, .. } => [a, b]
                .into_iter()
                .filter_map(|n| match n {
                    NodeGen::Worker(p) => Some(p),
                    _ => None,
                })
                .collect(),
            FaultGen::BackendOutage { .. }
            | FaultGen::BrokerRestart { .. }
            | FaultGen::Stall { .. }
            | FaultGen::RevokeCanvas { .. }
            | FaultGen::CancelRun => Vec::new(),
        }
    }
}

impl PolicyGen {
    /// Its threshold and period in milliseconds, each with the smallest the generator draws.
    fn numbers(&mut self) -> Vec<(&mut u64, u64)> {
        match self {
            PolicyGen::Monitor { older_ms, every_ms, .. } | PolicyGen::Purge { older_ms, every_ms } => {
                vec![(older_ms, POLICY_MILLIS_MIN), (every_ms, POLICY_MILLIS_MIN)]
            }
            PolicyGen::RevokeBody { older_ms } => vec![(older_ms, POLICY_MILLIS_MIN)],
        }
    }
}

/// Cases for the property tests: each drawn from a seed proptest picks. proptest can shrink
/// only the seed, which is no simpler for being smaller; a failing property prints its case.
pub fn case(max_tests: usize) -> impl Strategy<Value = CaseGen> {
    any::<u64>().prop_map(move |seed| CaseGen::draw(&mut ChaCha8Rng::seed_from_u64(seed), max_tests))
}

fn resolve(node: &NodeGen, workers: usize) -> Node {
    match node {
        NodeGen::Producer => Node::Producer,
        NodeGen::Broker => Node::Broker,
        NodeGen::Backend => Node::Backend,
        NodeGen::Worker(i) => Node::Worker(i.index(workers)),
    }
}

/// The base scenario's configuration with this workload and fault schedule. Faults that make
/// no sense (a partition of a node with itself) are dropped; the horizon is the last heal plus
/// [`LIVENESS_BOUND`].
pub fn apply(base: &Scenario, case: &CaseGen, name: &str) -> Scenario {
    let ms = SimDuration::from_millis;
    let workers = base.topology.workers.len();
    let tests: Vec<TestSpec> = case
        .tests
        .iter()
        .map(|t| TestSpec {
            duration: DurationSpec::Fixed(ms(t.millis)),
            outcome: t.outcome,
            ignore_result: false,
            time_limit: None,
            soft_time_limit: None,
            rated: false,
            exception: Vec::new(),
        })
        .collect();
    let mut faults = Vec::new();
    for (at, f) in &case.faults {
        let kind = match f {
            FaultGen::KillWorker { worker, restart_ms } => {
                FaultKind::KillWorker { worker: worker.index(workers), restart_after: Some(ms(*restart_ms)) }
            }
            FaultGen::KillChild { test } => FaultKind::KillChild { test: test.index(tests.len()), after_start: None },
            FaultGen::Partition { a, b, one_way, heal_ms } => {
                let (a, b) = (resolve(a, workers), resolve(b, workers));
                if a == b {
                    continue;
                }
                let direction =
                    if *one_way { crate::scenario::Direction::OneWay } else { crate::scenario::Direction::Both };
                FaultKind::Partition { a, b, direction, heal_after: Some(ms(*heal_ms)) }
            }
            FaultGen::BackendOutage { ms: d, lose_data } => {
                FaultKind::BackendOutage { duration: ms(*d), lose_data: *lose_data }
            }
            FaultGen::BrokerRestart { ms: d, persistent } => {
                FaultKind::BrokerRestart { down_for: ms(*d), persistent: Some(*persistent) }
            }
            FaultGen::WarmShutdown { worker, restart_ms, group } => FaultKind::WarmShutdown {
                worker: worker.index(workers),
                restart_after: Some(ms(*restart_ms)),
                group: *group,
            },
            FaultGen::ColdShutdown { worker, restart_ms, group } => FaultKind::ColdShutdown {
                worker: worker.index(workers),
                restart_after: Some(ms(*restart_ms)),
                group: *group,
            },
            FaultGen::Stall { broker, backend, ms: d } => {
                FaultKind::Stall { broker: *broker, backend: *backend, duration: ms(*d) }
            }
            FaultGen::Revoke { test, terminate } => FaultKind::Revoke {
                target: crate::scenario::RevokeTarget::Test(test.index(tests.len())),
                terminate: *terminate,
            },
            FaultGen::RevokeCanvas { body } => FaultKind::Revoke {
                target: if *body {
                    crate::scenario::RevokeTarget::Body
                } else {
                    crate::scenario::RevokeTarget::ChordUnlock
                },
                terminate: false,
            },
            FaultGen::CancelRun => FaultKind::CancelRun,
        };
        faults.push(Fault { at: SimTime::ZERO + ms(*at), until: None, every: None, kind });
    }
    faults.sort_by_key(|f| f.at);
    let mut policies = base.policies.clone();
    policies.extend(case.policy.map(PolicyGen::policy));
    let mut sc = Scenario {
        policies,
        name: name.to_string(),
        about: String::new(),
        file: String::new(),
        tests,
        rates: Vec::new(),
        faults,
        expect: Some(Expect::stuck()),
        ..base.clone()
    };
    // Workers the base starts later have no fault to start them: start them all.
    for w in &mut sc.topology.workers {
        w.start = true;
    }
    // A one-shot policy (a watchdog) gets an hour past its deadline to end the run.
    let deadline = sc.policies.iter().filter(|p| p.every.is_none()).map(|p| sc.app.submit_at + p.at).max();
    let end = sc.last_heal().max(sc.app.submit_at).since(SimTime::ZERO) + LIVENESS_BOUND;
    sc.horizon = end.max(deadline.map_or(SimDuration::ZERO, |d| d.since(SimTime::ZERO) + SimDuration::from_secs(3600)));
    sc
}

/// Settings varied around a preset, for the property tests.
#[derive(Clone, Debug)]
pub struct Knobs {
    acks_late: bool,
    reject_on_worker_lost: bool,
    visibility_timeout_s: u64,
    unlock_max_retries: Option<u32>,
    unlock_interval_ms: u64,
    time_limit_s: Option<u64>,
    result_expires_s: Option<u64>,
    amqp: bool,
    database: bool,
    workers: usize,
    concurrency: u32,
    errback: Errback,
    watchdog_s: Option<u64>,
}

/// Variations of the settings that matter for chord termination.
pub fn knobs() -> impl Strategy<Value = Knobs> {
    (
        (any::<bool>(), any::<bool>(), prop_oneof![Just(3600u64), 30u64..7200]),
        (prop::option::of(0u32..10), 200u64..5_000, prop::option::of(1u64..3600), prop::option::of(60u64..86_400)),
        (any::<bool>(), any::<bool>(), 1usize..=3, 1u32..=8),
        (prop_oneof![Just(Errback::None), Just(Errback::Inline), Just(Errback::Task)], prop::option::of(600u64..7200)),
    )
        .prop_map(
            |(
                (acks_late, reject, vt),
                (max, interval, limit, expires),
                (amqp, database, workers, conc),
                (errback, watchdog),
            )| {
                Knobs {
                    acks_late,
                    reject_on_worker_lost: reject,
                    visibility_timeout_s: vt,
                    unlock_max_retries: max,
                    unlock_interval_ms: interval,
                    time_limit_s: limit,
                    result_expires_s: expires,
                    amqp,
                    database,
                    workers,
                    concurrency: conc,
                    errback,
                    watchdog_s: watchdog,
                }
            },
        )
}

impl Knobs {
    /// Apply the variations to a base scenario.
    pub fn apply(&self, base: &Scenario) -> Scenario {
        let mut sc = base.clone();
        let c = &mut sc.celery;
        c.acks = if self.acks_late { AckMode::Late } else { AckMode::Early };
        c.reject_on_worker_lost = self.reject_on_worker_lost;
        c.visibility_timeout = SimDuration::from_secs(self.visibility_timeout_s);
        c.chord_retry_interval = SimDuration::from_millis(self.unlock_interval_ms);
        c.time_limit = self.time_limit_s.map(SimDuration::from_secs);
        c.soft_time_limit = None;
        c.result_expires = self.result_expires_s.map(SimDuration::from_secs);
        sc.app.chord_max_retries = self.unlock_max_retries;
        sc.app.errback = self.errback;
        sc.policies =
            self.watchdog_s.map(|s| crate::scenario::Policy::watchdog(SimDuration::from_secs(s))).into_iter().collect();
        let t = &mut sc.topology;
        t.broker = if self.amqp { crate::scenario::BrokerKind::Amqp } else { crate::scenario::BrokerKind::Redis };
        t.backend =
            if self.database { crate::scenario::BackendKind::Database } else { crate::scenario::BackendKind::Redis };
        t.backend_write_latency = SimDuration::from_millis(if self.database { 20 } else { 1 });
        t.workers = (1..=self.workers)
            .map(|i| crate::scenario::WorkerSpec { name: format!("w{i}"), concurrency: self.concurrency, start: true })
            .collect();
        sc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measure every shrinking step must lower: what is left to remove or simplify.
    fn measure(c: &CaseGen) -> u128 {
        let mut c = c.clone();
        let numbers: u128 = c.numbers().iter().map(|(v, min)| u128::from(**v - min)).sum();
        let flags = c.faults.iter_mut().map(|(_, f)| f.flags().into_iter().filter(|b| **b).count()).sum::<usize>();
        let picks = c.faults.iter_mut().map(|(_, f)| f.picks().into_iter().filter(|p| p.0 != 0).count()).sum::<usize>();
        let failing = c.tests.iter().filter(|t| t.outcome != Outcome::Pass).count();
        let parts = c.tests.len() + c.faults.len() + usize::from(c.policy.is_some());
        numbers + (flags + picks + failing + parts) as u128
    }

    #[test]
    fn every_simpler_case_is_simpler_so_shrinking_ends() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut candidates = 0;
        for _ in 0..300 {
            let case = CaseGen::draw(&mut rng, 12);
            for c in case.simpler() {
                assert!(measure(&c) < measure(&case), "{c:?}\nis not simpler than\n{case:?}");
                assert!(!c.tests.is_empty(), "a case keeps a test");
                candidates += 1;
            }
        }
        assert!(candidates > 300 * 10, "{candidates} candidates");
    }

    #[test]
    fn draws_stay_within_the_generators_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for _ in 0..2_000 {
            let mut c = CaseGen::draw(&mut rng, 12);
            assert!((1..=12).contains(&c.tests.len()) && c.faults.len() <= FAULT_BUDGET);
            assert!(c.faults.iter().all(|(at, _)| *at < FAULT_PHASE.0 / 1_000));
            assert!(c.numbers().iter().all(|(v, min)| **v >= *min), "{c:?}");
        }
        assert_eq!(Pick(u64::MAX).index(3), 2);
        assert_eq!(Pick(0).index(3), 0);
    }
}
