//! Running one scenario: build the world, drive it to its horizon or quiescence, and check it.

use crate::check::{self, Verdict};
use crate::model::World;
use crate::scenario::Scenario;
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

/// Run `sc` (with its own seed unless `seed` overrides it) up to its horizon.
pub fn run(mut sc: Scenario, seed: Option<u64>) -> RunResult {
    if let Some(s) = seed {
        sc.seed = s;
    }
    let horizon = SimTime::ZERO + sc.horizon;
    let (world, init) = World::new(sc);
    let mut sim = Sim::new(world);
    for (at, e) in init {
        sim.schedule(at, e);
    }
    let stop = sim.run(Limits { horizon, max_events: EVENT_BUDGET });
    let at = sim.now();
    let events = sim.events();
    let verdict = check::verdict(&sim.model, stop, at);
    RunResult { verdict, trace: std::mem::take(&mut sim.model.trace), events, work: sim.model.work }
}
