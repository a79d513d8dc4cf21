//! The discrete-event engine: integer virtual time, an event queue ordered by
//! `(time, sequence number)` so ties resolve in insertion order, and a run loop that always ends —
//! at quiescence, at the horizon, or at an event budget — and says which. The engine knows
//! nothing about Celery: it hands each event to the model and schedules what the model asks for.

pub mod net;
pub mod rng;
pub mod tcp;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::scenario::Node;
use crate::time::{SimDuration, SimTime};

/// A model the engine can drive: it handles one event at a time and pushes follow-ups to `out`.
pub trait Model {
    /// The event type.
    type Event;
    /// Handle `event` at `now`.
    fn handle(&mut self, now: SimTime, event: Self::Event, out: &mut Schedule<'_, Self::Event>);
    /// The items the model has scanned so far (queue entries, results, workers looked at):
    /// the engine counts them against the event budget with the events, so that an event whose
    /// work grows with the input cannot make a run take unbounded time.
    fn work(&self) -> u64 {
        0
    }
    /// The fixed delays most events are scheduled after (link latencies). Events scheduled one
    /// such delay after now arrive in the order they were scheduled, so each delay gets a FIFO
    /// lane instead of the heap; the order of events is the same either way.
    fn fixed_delays(&self) -> Vec<SimDuration> {
        Vec::new()
    }
}

/// The pending events, ordered by key: `time << 64 | sequence << SLOT_BITS | slot` (one `u128`,
/// ordered by time, then insertion; one integer compares without branches), over a slab of
/// events. Keys sit in a heap, or in the FIFO lane of their fixed delay, where they are already
/// in key order (now never goes back and the sequence only grows).
struct Queue<E> {
    heap: BinaryHeap<Reverse<u128>>,
    lanes: Vec<Lane>,
    slots: Vec<Option<E>>,
    free: Vec<usize>,
    seq: u64,
}

/// The keys of events scheduled `delay` after their instant, in order.
struct Lane {
    delay: SimDuration,
    keys: VecDeque<u128>,
}

impl<E> Queue<E> {
    fn new(delays: Vec<SimDuration>) -> Self {
        let lanes = delays.into_iter().map(|delay| Lane { delay, keys: VecDeque::with_capacity(PENDING) }).collect();
        Queue {
            heap: BinaryHeap::with_capacity(PENDING),
            lanes,
            slots: Vec::with_capacity(PENDING),
            free: Vec::with_capacity(PENDING),
            seq: 0,
        }
    }

    /// Store `event` and return its key for time `at`.
    #[inline]
    fn key(&mut self, at: SimTime, event: E) -> u128 {
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
        let key = u128::from(at.0) << 64 | u128::from(self.seq << SLOT_BITS | slot as u64);
        self.seq += 1;
        key
    }

    fn push(&mut self, at: SimTime, event: E) {
        let key = self.key(at, event);
        self.heap.push(Reverse(key));
    }

    /// Schedule `event` `delay` after `now`: in its lane if the delay has one.
    #[inline]
    fn push_after(&mut self, now: SimTime, delay: SimDuration, event: E) {
        let key = self.key(now + delay, event);
        match self.lanes.iter_mut().find(|l| l.delay == delay) {
            Some(lane) => lane.keys.push_back(key),
            None => self.heap.push(Reverse(key)),
        }
    }

    fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.lanes.iter().all(|l| l.keys.is_empty())
    }

    /// The smallest key among the heap's top and each lane's front, and where it is (`None`:
    /// the heap).
    fn peek(&self) -> Option<(u128, Option<usize>)> {
        let mut next = self.heap.peek().map(|r| (r.0, None));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(&k) = lane.keys.front()
                && next.is_none_or(|(m, _)| k < m)
            {
                next = Some((k, Some(i)));
            }
        }
        next
    }

    /// The next event, if it is due by `horizon`.
    #[inline(always)]
    fn pop_until(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        let (key, from) = self.peek()?;
        let at = SimTime((key >> 64) as u64);
        if at > horizon {
            return None;
        }
        match from {
            Some(i) => self.lanes[i].keys.pop_front(),
            None => self.heap.pop().map(|r| r.0),
        };
        let slot = (key & ((1 << SLOT_BITS) - 1)) as usize;
        self.free.push(slot);
        Some((at, self.slots[slot].take().expect("a queued slot holds an event")))
    }
}

/// A message from one part to another that a network driver carries ([`tcp`]): the event, and
/// when the discrete-event engine would have delivered it.
#[derive(Debug)]
pub struct Frame<E> {
    /// The sending part.
    pub from: Node,
    /// The receiving part.
    pub to: Node,
    /// When it arrives if the network adds nothing to the model's latency.
    pub due: SimTime,
    /// What happens when it arrives.
    pub event: E,
}

/// Where the model schedules follow-up events while it handles one.
pub struct Schedule<'a, E> {
    now: SimTime,
    queue: &'a mut Queue<E>,
    /// A network driver's outbox; `None`: the engine delivers messages itself.
    wire: Option<&'a mut Vec<Frame<E>>>,
}

impl<E> Schedule<'_, E> {
    /// Schedule `event` at `at` (never earlier than now).
    pub fn at(&mut self, at: SimTime, event: E) {
        self.queue.push(at.max(self.now), event);
    }
    /// Schedule `event` after `d`.
    pub fn after(&mut self, d: SimDuration, event: E) {
        self.queue.push_after(self.now, d, event);
    }
    /// Send `event` from part `from` to part `to`, arriving `delay` after now: the engine
    /// delivers it itself, or hands it to the network driver it runs under.
    #[inline]
    pub fn send(&mut self, from: &Node, to: Node, delay: SimDuration, event: E) {
        match &mut self.wire {
            None => self.queue.push_after(self.now, delay, event),
            Some(wire) => Self::to_wire(wire, Frame { from: from.clone(), to, due: self.now + delay, event }),
        }
    }

    /// The network driver's path, kept out of the engine's.
    #[inline(never)]
    fn to_wire(wire: &mut Vec<Frame<E>>, frame: Frame<E>) {
        wire.push(frame);
    }
    /// The current instant.
    pub fn now(&self) -> SimTime {
        self.now
    }
}

/// How many pending events the queue has room for before it first grows: a small chord's worth,
/// so that it does not grow from nothing a step at a time.
const PENDING: usize = 256;

/// Low bits of a queue key that hold the event's slot.
const SLOT_BITS: u32 = 24;

/// The event budget of a run, in events plus the items they scan: far beyond any shipped
/// scenario, small enough that a runaway model stops within seconds.
pub const EVENT_BUDGET: u64 = 20_000_000;

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Nothing left to happen.
    Quiescent,
    /// The horizon was reached with events still pending.
    Horizon,
    /// The event budget ran out: events handled plus the items they scanned.
    EventBudget,
}

impl StopReason {
    /// As a person says it.
    pub fn words(self) -> &'static str {
        match self {
            StopReason::Quiescent => "nothing left to happen",
            StopReason::Horizon => "horizon",
            StopReason::EventBudget => "event budget",
        }
    }
}

/// Limits for one run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Stop at this instant.
    pub horizon: SimTime,
    /// Stop once events handled plus the model's [`Model::work`] reach this.
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
        let queue = Queue::new(model.fixed_delays());
        Sim { model, queue, now: SimTime::ZERO, events: 0 }
    }

    /// Schedule an event from outside the model (the initial events), never earlier than now:
    /// time does not go back, which also keeps each lane in order.
    pub fn schedule(&mut self, at: SimTime, event: M::Event) {
        self.queue.push(at.max(self.now), event);
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
        self.step_wired(horizon, None)
    }

    /// [`Sim::step`], with the messages between parts going to `wire` instead of the queue.
    /// Always inlined, with its pop: it is the engine's loop body, once per event.
    #[inline(always)]
    pub fn step_wired(&mut self, horizon: SimTime, wire: Option<&mut Vec<Frame<M::Event>>>) -> bool {
        let Some((at, event)) = self.queue.pop_until(horizon) else { return false };
        self.now = at;
        self.events += 1;
        self.model.handle(at, event, &mut Schedule { now: at, queue: &mut self.queue, wire });
        true
    }

    /// When the next event is due, if there is one.
    pub fn next_at(&self) -> Option<SimTime> {
        self.queue.peek().map(|(key, _)| SimTime((key >> 64) as u64))
    }

    /// Run until quiescence, the horizon, or the event budget.
    pub fn run(&mut self, limits: Limits) -> StopReason {
        loop {
            if self.events.saturating_add(self.model.work()) >= limits.max_events {
                return StopReason::EventBudget;
            }
            if !self.step(limits.horizon) {
                if self.queue.is_empty() {
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

    /// Schedules follow-ups after the two lane delays and after random ones (heap), and
    /// records `(time, id)` in handling order; ids grow in scheduling order.
    struct Mixed {
        rng: rand_chacha::ChaCha8Rng,
        next_id: u32,
        seen: Vec<(SimTime, u32)>,
    }
    impl Model for Mixed {
        type Event = u32;
        fn handle(&mut self, now: SimTime, id: u32, out: &mut Schedule<u32>) {
            use rand::RngExt;
            self.seen.push((now, id));
            if self.next_id >= 5_000 {
                return;
            }
            for _ in 0..self.rng.random_range(1..3) {
                let d = match self.rng.random_range(0..3) {
                    0 => SimDuration(5),
                    1 => SimDuration(7),
                    _ => SimDuration(self.rng.random_range(0..20)),
                };
                out.after(d, self.next_id);
                self.next_id += 1;
            }
        }
        fn fixed_delays(&self) -> Vec<SimDuration> {
            vec![SimDuration(5), SimDuration(7)]
        }
    }

    #[test]
    fn lane_and_heap_events_come_out_in_time_then_scheduling_order() {
        use rand::SeedableRng;
        let rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut sim = Sim::new(Mixed { rng, next_id: 10, seen: Vec::new() });
        for id in 0..10 {
            sim.schedule(SimTime(u64::from(id % 3)), id);
        }
        assert_eq!(sim.run(Limits { horizon: SimTime(u64::MAX), max_events: 100_000 }), StopReason::Quiescent);
        let seen = &sim.model.seen;
        assert!(seen.len() > 1_000, "the run exercised the queue: {} events", seen.len());
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "not in (time, scheduling) order");
    }
}
