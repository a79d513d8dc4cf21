//! Running one scenario: build the world, drive it to its horizon or quiescence, and check it.

use crate::check::{self, Verdict};
use crate::model::World;
use crate::model::operator::Health;
use crate::scenario::Scenario;
pub use crate::sim::StopReason;
use crate::sim::rng::{Stream, stream};
use crate::sim::tcp::Tcp;
use crate::sim::{EVENT_BUDGET, Limits, Sim};
use crate::time::SimTime;
use crate::trace::Record;

/// A finished run.
pub struct RunResult {
    /// The verdict.
    pub verdict: Verdict,
    /// The whole trace.
    pub trace: Vec<Record>,
    /// Events handled.
    pub events: u64,
    /// Items the events scanned (counted with the events against [`EVENT_BUDGET`]).
    pub work: u64,
}

/// How far a run has got, for a progress display.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Virtual time reached.
    pub now: SimTime,
    /// Where the run stops at the latest.
    pub horizon: SimTime,
    /// Events handled plus the items they scanned, against [`EVENT_BUDGET`].
    pub spent: u64,
}

/// How many events a run handles between two progress reports.
const REPORT_EVERY: u64 = 1 << 16;

/// What carries the messages between the parts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// The discrete-event engine alone: a message arrives one link latency after it is sent.
    #[default]
    Events,
    /// turmoil's simulated TCP: every part a host, every message a frame on a connection
    /// (`sim/tcp.rs`); slower, and explore stays on the engine.
    Turmoil,
}

impl Driver {
    /// What a replay line adds to name it (nothing for the default).
    pub fn flag(self) -> &'static str {
        match self {
            Driver::Events => "",
            Driver::Turmoil => " --driver turmoil",
        }
    }
}

/// Run `sc` (with its own seed unless `seed` overrides it) up to its horizon.
pub fn run(sc: Scenario, seed: Option<u64>) -> RunResult {
    run_on(sc, seed, Driver::Events)
}

/// [`run`] on `driver`.
pub fn run_on(sc: Scenario, seed: Option<u64>, driver: Driver) -> RunResult {
    drive(sc, seed, driver, &[], None).0
}

/// [`run_on`], telling `progress` how far it has got every few tens of thousands of events (a
/// long run's progress bar); what it is told never changes the run.
pub fn run_observed(sc: Scenario, seed: Option<u64>, driver: Driver, progress: &mut dyn FnMut(Progress)) -> RunResult {
    drive(sc, seed, driver, &[], Some(progress)).0
}

/// [`run_observed`], and the monitor's view of health at each of `health_at` (in any order;
/// returned in time order): the run pauses there, is looked at, and goes on unchanged.
pub fn run_with_health(
    sc: Scenario,
    seed: Option<u64>,
    driver: Driver,
    health_at: &[SimTime],
    progress: &mut dyn FnMut(Progress),
) -> (RunResult, Vec<Health>) {
    drive(sc, seed, driver, health_at, Some(progress))
}

fn drive(
    mut sc: Scenario,
    seed: Option<u64>,
    driver: Driver,
    health_at: &[SimTime],
    mut progress: Option<&mut dyn FnMut(Progress)>,
) -> (RunResult, Vec<Health>) {
    if let Some(s) = seed {
        sc.seed = s;
    }
    let sc = sc.draw();
    let horizon = SimTime::ZERO + sc.horizon;
    let (world, init) = World::new(sc);
    let mut sim = Sim::new(world);
    for (at, e) in init {
        sim.schedule(at, e);
    }
    let mut net = (driver == Driver::Turmoil).then(|| {
        let sc = &sim.model.sc;
        let net_seed = rand::Rng::next_u64(&mut stream(sc.seed, Stream::Network));
        Tcp::new(&sim.model, net_seed, sc.topology.latency)
    });
    let mut run_to = |sim: &mut Sim<World>, until: SimTime| {
        let limits = Limits { horizon: until, max_events: EVENT_BUDGET };
        match &mut net {
            Some(net) => net.run(sim, limits),
            None => advance(sim, limits, &mut progress, horizon),
        }
    };
    let mut looks: Vec<SimTime> = health_at.to_vec();
    looks.sort();
    let mut health = Vec::with_capacity(looks.len());
    for t in looks {
        // Up to and including every event at t, then look: stopping at a horizon and going on
        // changes nothing (the engine only pops what is due).
        run_to(&mut sim, t.min(horizon));
        health.push(sim.model.health(t));
    }
    let mut stop = run_to(&mut sim, horizon);
    // Parked restore sweeps stand for no-op events up to the horizon: the run ends there.
    if stop == StopReason::Quiescent && sim.model.sweeps_parked() {
        stop = StopReason::Horizon;
    }
    let at = if stop == StopReason::Horizon { horizon } else { sim.now() };
    let events = sim.events();
    let verdict = check::verdict(&sim.model, stop, at);
    let result = RunResult { verdict, trace: std::mem::take(&mut sim.model.trace), events, work: sim.model.work };
    (result, health)
}

/// Run to `limits`, reporting progress in steps of [`REPORT_EVERY`] events: the engine checks
/// its budget between events, so stopping and going on changes nothing.
fn advance(
    sim: &mut Sim<World>,
    limits: Limits,
    progress: &mut Option<&mut dyn FnMut(Progress)>,
    horizon: SimTime,
) -> StopReason {
    let Some(report) = progress.as_mut() else { return sim.run(limits) };
    loop {
        let spent = sim.events() + sim.model.work;
        let step = Limits { max_events: limits.max_events.min(spent + REPORT_EVERY), ..limits };
        match sim.run(step) {
            StopReason::EventBudget if step.max_events < limits.max_events => {
                report(Progress { now: sim.now(), horizon, spent: sim.events() + sim.model.work })
            }
            stop => return stop,
        }
    }
}
