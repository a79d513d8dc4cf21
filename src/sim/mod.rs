//! The discrete-event engine: integer virtual time, an event queue ordered by
//! `(time, sequence number)` so ties resolve in insertion order, and a run loop that always ends —
//! at quiescence, at the horizon, or at an event budget — and says which. The engine knows
//! nothing about Celery: it hands each event to the model and schedules what the model asks for.

pub mod net;
pub mod rng;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::{SimDuration, SimTime};

/// A model the engine can drive: it handles one event at a time and pushes follow-ups to `out`.
pub trait Model {
    /// The event type.
    type Event;
    /// Handle `event` at `now`.
    fn handle(&mut self, now: SimTime, event: Self::Event, out: &mut Schedule<'_, Self::Event>);
}

/// The pending events: a heap of `(time, sequence << SLOT_BITS | slot)` keys (16 bytes,
/// ordered by time, then insertion) over a slab of events.
struct Queue<E> {
    heap: BinaryHeap<Reverse<(SimTime, u64)>>,
    slots: Vec<Option<E>>,
    free: Vec<usize>,
    seq: u64,
}

impl<E> Queue<E> {
    fn push(&mut self, at: SimTime, event: E) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        debug_assert!(slot < 1 << SLOT_BITS, "more than 2^24 pending events");
        self.heap.push(Reverse((at, self.seq << SLOT_BITS | slot as u64)));
        self.seq += 1;
    }

    /// The next event, if it is due by `horizon`.
    fn pop_until(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        let &Reverse((at, key)) = self.heap.peek()?;
        if at > horizon {
            return None;
        }
        self.heap.pop();
        let slot = (key & ((1 << SLOT_BITS) - 1)) as usize;
        self.free.push(slot);
        Some((at, self.slots[slot].take().expect("a queued slot holds an event")))
    }
}

/// Where the model schedules follow-up events while it handles one.
pub struct Schedule<'a, E> {
    now: SimTime,
    queue: &'a mut Queue<E>,
}

impl<E> Schedule<'_, E> {
    /// Schedule `event` at `at` (never earlier than now).
    pub fn at(&mut self, at: SimTime, event: E) {
        self.queue.push(at.max(self.now), event);
    }
    /// Schedule `event` after `d`.
    pub fn after(&mut self, d: SimDuration, event: E) {
        self.queue.push(self.now + d, event);
    }
    /// The current instant.
    pub fn now(&self) -> SimTime {
        self.now
    }
}

/// Low bits of a queue key that hold the event's slot.
const SLOT_BITS: u32 = 24;

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Nothing left to happen.
    Quiescent,
    /// The horizon was reached with events still pending.
    Horizon,
    /// The event budget ran out.
    EventBudget,
}

/// Limits for one run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Stop at this instant.
    pub horizon: SimTime,
    /// Stop after this many events.
    pub max_events: u64,
}

/// The engine.
pub struct Sim<M: Model> {
    /// The model being driven.
    pub model: M,
    queue: Queue<M::Event>,
    now: SimTime,
    events: u64,
}

impl<M: Model> Sim<M> {
    /// A new engine at time zero.
    pub fn new(model: M) -> Self {
        let queue = Queue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), seq: 0 };
        Sim { model, queue, now: SimTime::ZERO, events: 0 }
    }

    /// Schedule an event from outside the model (the initial events).
    pub fn schedule(&mut self, at: SimTime, event: M::Event) {
        self.queue.push(at, event);
    }

    /// The current instant.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events handled so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Handle the next event, if there is one before `horizon`. Returns false when there is not.
    pub fn step(&mut self, horizon: SimTime) -> bool {
        let Some((at, event)) = self.queue.pop_until(horizon) else { return false };
        self.now = at;
        self.events += 1;
        self.model.handle(at, event, &mut Schedule { now: at, queue: &mut self.queue });
        true
    }

    /// Run until quiescence, the horizon, or the event budget.
    pub fn run(&mut self, limits: Limits) -> StopReason {
        loop {
            if self.events >= limits.max_events {
                return StopReason::EventBudget;
            }
            if !self.step(limits.horizon) {
                if self.queue.heap.is_empty() {
                    return StopReason::Quiescent;
                }
                self.now = limits.horizon;
                return StopReason::Horizon;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Vec<(SimTime, u32)>);
    impl Model for Recorder {
        type Event = u32;
        fn handle(&mut self, now: SimTime, e: u32, out: &mut Schedule<u32>) {
            self.0.push((now, e));
            if e == 1 {
                out.after(SimDuration(5), 10);
                out.after(SimDuration(5), 11);
            }
        }
    }

    #[test]
    fn ties_resolve_in_insertion_order() {
        let mut sim = Sim::new(Recorder(Vec::new()));
        sim.schedule(SimTime(3), 2);
        sim.schedule(SimTime(0), 1);
        sim.schedule(SimTime(3), 3);
        let stop = sim.run(Limits { horizon: SimTime(100), max_events: 100 });
        assert_eq!(stop, StopReason::Quiescent);
        let order: Vec<u32> = sim.model.0.iter().map(|x| x.1).collect();
        assert_eq!(order, vec![1, 2, 3, 10, 11]);
    }

    #[test]
    fn a_run_stops_at_the_horizon_and_at_the_event_budget() {
        let mut sim = Sim::new(Recorder(Vec::new()));
        sim.schedule(SimTime(0), 1);
        assert_eq!(sim.run(Limits { horizon: SimTime(2), max_events: 100 }), StopReason::Horizon);
        assert_eq!(sim.now(), SimTime(2));
        let mut sim = Sim::new(Recorder(Vec::new()));
        sim.schedule(SimTime(0), 1);
        assert_eq!(sim.run(Limits { horizon: SimTime(100), max_events: 2 }), StopReason::EventBudget);
    }
}
