//! proptest strategies for generated scenarios: configurations around a preset, workloads of
//! 1–200 tests, and fault schedules within a fault budget. Every fault heals (a fault phase,
//! then a heal phase), and the run then gets [`LIVENESS_BOUND`] to reach a terminal status.
//! `explore` and the property tests draw from the same strategies.

use proptest::prelude::*;
use proptest::sample::Index;

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
    Worker(Index),
}

/// A generated fault.
#[derive(Clone, Debug)]
pub enum FaultGen {
    /// SIGKILL a worker, restart it after `restart_ms`.
    KillWorker {
        /// Which worker.
        worker: Index,
        /// Restart delay.
        restart_ms: u64,
    },
    /// SIGKILL the child running a test.
    KillChild {
        /// Which test.
        test: Index,
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
        worker: Index,
        /// Restart delay.
        restart_ms: u64,
        /// TERM to the process group.
        group: bool,
    },
    /// Cold shutdown, restart after `restart_ms`.
    ColdShutdown {
        /// Which worker.
        worker: Index,
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
        test: Index,
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

/// A policy for one case in eight, from the case's own policy stream (apart from proptest's, so
/// the workloads and faults stay what they were).
pub fn policy_gen(rng: &mut impl rand::Rng) -> Option<PolicyGen> {
    use rand::RngExt;
    if rng.random_range(0..8u32) != 0 {
        return None;
    }
    let older_ms = rng.random_range(60_000u64..1_800_000);
    let every_ms = rng.random_range(60_000u64..900_000);
    Some(match rng.random_range(0..4u32) {
        0 => PolicyGen::Monitor { chord_age: false, older_ms, every_ms },
        1 => PolicyGen::Monitor { chord_age: true, older_ms, every_ms },
        2 => PolicyGen::Purge { older_ms, every_ms },
        _ => PolicyGen::RevokeBody { older_ms },
    })
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

fn outcome() -> impl Strategy<Value = Outcome> {
    // Mostly passing tests; `Pass` first, so shrinking simplifies towards it.
    prop_oneof![
        70 => Just(Outcome::Pass),
        6 => Just(Outcome::FailStatus),
        4 => Just(Outcome::ReturnNone),
        2 => Just(Outcome::Malformed),
        6 => Just(Outcome::Raise),
        6 => (1u32..=2).prop_map(|fails| Outcome::RaiseTransient { fails }),
        2 => Just(Outcome::SoftCatch),
        2 => Just(Outcome::Flaky),
        1 => Just(Outcome::Hang),
    ]
}

fn test_gen() -> impl Strategy<Value = TestGen> {
    // 100 ms to 20 min, skewed short: shrinking moves towards 100 ms.
    let millis = prop_oneof![3 => 100u64..10_000, 2 => 10_000u64..120_000, 1 => 120_000u64..1_200_000];
    (millis, outcome()).prop_map(|(millis, outcome)| TestGen { millis, outcome })
}

fn node_gen() -> impl Strategy<Value = NodeGen> {
    prop_oneof![
        2 => any::<Index>().prop_map(NodeGen::Worker),
        1 => Just(NodeGen::Broker),
        1 => Just(NodeGen::Backend),
        1 => Just(NodeGen::Producer),
    ]
}

fn fault_gen() -> impl Strategy<Value = FaultGen> {
    let restart = 1_000u64..120_000;
    prop_oneof![
        4 => (any::<Index>(), restart.clone()).prop_map(|(worker, restart_ms)| FaultGen::KillWorker { worker, restart_ms }),
        2 => any::<Index>().prop_map(|test| FaultGen::KillChild { test }),
        4 => (node_gen(), node_gen(), any::<bool>(), 1_000u64..600_000)
            .prop_map(|(a, b, one_way, heal_ms)| FaultGen::Partition { a, b, one_way, heal_ms }),
        2 => (1_000u64..180_000, prop::bool::weighted(0.2)).prop_map(|(ms, lose_data)| FaultGen::BackendOutage { ms, lose_data }),
        2 => (1_000u64..60_000, any::<bool>()).prop_map(|(ms, p)| FaultGen::BrokerRestart { ms, persistent: !p }),
        1 => (any::<Index>(), restart.clone(), any::<bool>())
            .prop_map(|(worker, restart_ms, group)| FaultGen::WarmShutdown { worker, restart_ms, group }),
        1 => (any::<Index>(), restart, any::<bool>())
            .prop_map(|(worker, restart_ms, group)| FaultGen::ColdShutdown { worker, restart_ms, group }),
        2 => (0u8..3, 100u64..60_000).prop_map(|(which, ms)| FaultGen::Stall { broker: which != 1, backend: which != 0, ms }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(test, terminate)| FaultGen::Revoke { test, terminate }),
        1 => any::<bool>().prop_map(|body| FaultGen::RevokeCanvas { body }),
        1 => Just(FaultGen::CancelRun),
    ]
}

/// Workloads of 1 to `max_tests` tests and up to [`FAULT_BUDGET`] faults.
pub fn case(max_tests: usize) -> impl Strategy<Value = CaseGen> {
    // Faults first, so that shrinking removes them before it tries to remove tests.
    (
        prop::collection::vec((0u64..FAULT_PHASE.0 / 1_000, fault_gen()), 0..=FAULT_BUDGET),
        prop::collection::vec(test_gen(), 1..=max_tests.max(1)),
    )
        .prop_map(|(faults, tests)| CaseGen { tests, faults, policy: None })
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
