//! Running one scenario: build the world, drive it to its horizon or quiescence, and check it.

use crate::check::{self, Verdict};
use crate::model::World;
use crate::scenario::Scenario;
use crate::sim::{EVENT_BUDGET, Limits, Sim, StopReason};
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

/// Run `sc` (with its own seed unless `seed` overrides it) up to its horizon.
pub fn run(sc: Scenario, seed: Option<u64>) -> RunResult {
    drive(sc, seed, None)
}

/// [`run`], telling `progress` how far it has got every few tens of thousands of events (a long
/// run's progress bar); what it is told never changes the run.
pub fn run_observed(sc: Scenario, seed: Option<u64>, progress: &mut dyn FnMut(Progress)) -> RunResult {
    drive(sc, seed, Some(progress))
}

fn drive(mut sc: Scenario, seed: Option<u64>, mut progress: Option<&mut dyn FnMut(Progress)>) -> RunResult {
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
    let whole = Limits { horizon, max_events: EVENT_BUDGET };
    let stop = match progress.as_mut() {
        None => sim.run(whole),
        // In steps of REPORT_EVERY: the engine checks its budget between events, so stopping and
        // going on changes nothing.
        Some(report) => loop {
            let spent = sim.events() + sim.model.work;
            let step = Limits { max_events: EVENT_BUDGET.min(spent + REPORT_EVERY), ..whole };
            match sim.run(step) {
                StopReason::EventBudget if step.max_events < EVENT_BUDGET => {
                    report(Progress { now: sim.now(), horizon, spent: sim.events() + sim.model.work })
                }
                stop => break stop,
            }
        },
    };
    let at = sim.now();
    let events = sim.events();
    let verdict = check::verdict(&sim.model, stop, at);
    RunResult { verdict, trace: std::mem::take(&mut sim.model.trace), events, work: sim.model.work }
}
