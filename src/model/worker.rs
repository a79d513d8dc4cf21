//! Workers: the consumer (prefetch, ETA timer, revoked set, broker connection) and the prefork
//! pool (slots, time limits, child loss), with ack timing and what each kind of process death
//! does to running, prefetched and ETA-held messages (celery-semantics §9, §12).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::num::NonZeroU64;

use super::link::Unsent;
use super::{Event, ExecRef, Finish, Message, World, WriteOp};
use crate::config::AckMode;
use crate::scenario::{BackendKind, BrokerKind, Node, WorkerSpec};
use crate::sim::Schedule;
use crate::time::{SimDuration, SimTime};
use crate::trace::{AckWhen, Ending, Loss, Note};
use crate::words::{ErrorKind, ResultValue, TaskRef, TaskState};

/// kombu's Redis restore sweep (docs/celery-source-notes.md §8): `QoS.restore_visible` counts
/// its calls and scans on the 1st, 11th, 21st… (`unacked_restore_throttle` 10). The 1st is the
/// event loop's registration (`on_poll_init`), which scans; mingle's empty poll is the 2nd
/// (`MultiChannelPoller.get` → `maybe_restore_messages`); a 10 s timer
/// (`unacked_restore_interval`) makes the rest, so the 11th comes 90 s after registration, and
/// then one every 100 s.
const FIRST_PERIODIC_SWEEP: SimDuration = SimDuration::from_secs(90);
/// Between two scanning restore calls.
const SWEEP_EVERY: SimDuration = SimDuration::from_secs(100);
/// mingle's `inspect(timeout=1.0).hello()` reads replies until none has come for 1 s
/// (`celery/worker/consumer/mingle.py: send_hello`; kombu `pidbox.Mailbox._collect`): a
/// consumer (re)starting consumes nothing for that long.
const MINGLE: SimDuration = SimDuration::from_secs(1);
/// Starting a worker process, before it connects: the interpreter and the app imported
/// (docs/calibration.md, from the restarts of observations 07, 17c, 20).
const BOOT_IMPORTS: SimDuration = SimDuration::from_millis(600);
/// What a database result backend adds to the start: SQLAlchemy imported and the engine made
/// (docs/calibration.md, from observations 07b, 17, 17c in variant B, less the first write's
/// session set-up, which `sqlite.rs` charges).
const BOOT_DATABASE: SimDuration = SimDuration::from_millis(470);

/// One result read from the database backend: a SELECT and its decoding (measured 0.35–0.5 ms
/// per result, `tools/sqlite-costs`).
const DATABASE_READ: SimDuration = SimDuration(400);
/// A poll's own Python work besides its reads: rebuilding the group from its tuple and, to
/// retry, the signature from the request, before `apply_async` computes the retry's ETA
/// (celery `app/builtins.py: unlock_chord`, `app/task.py: Task.retry`). Measured 2.2–2.8 ms
/// from `task_prerun` to the ETA's anchor, reads included (docs/calibration.md "Polling").
const UNLOCK_WORK: SimDuration = SimDuration::from_millis(2);
/// A job's time limits are armed when the main process reads the child's ACK (billiard
/// `pool.py: ApplyResult._ack` → celery `concurrency/asynpool.py: on_timeout_set`, a
/// `hub.call_later`), between its other work: measured 0–15 ms after the job was written to the
/// child; from the child's ACK to the main process's read, median 6.5 ms on 5.5 and 8.9 ms on
/// 5.7 (`tools/apply-timing` on observation 09, docs/calibration.md "Applying the chord").
const LIMITS_ARMED: SimDuration = SimDuration::from_millis(5);
/// The prefork pool starts each child before the consumer connects.
const BOOT_PER_PROCESS: SimDuration = SimDuration::from_millis(25);

/// The wait before reconnect attempt `attempt` (1-based): kombu's `ensure_connection` defaults,
/// 2 s then 2 s more each time, at most 30 s (docs/model.md).
fn reconnect_wait(attempt: u32) -> SimDuration {
    SimDuration::from_secs((2 * u64::from(attempt)).min(30))
}

/// Whether a worker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not running.
    Down,
    /// Consuming and executing.
    Running,
    /// Warm shutdown: not consuming, finishing running tasks.
    Draining,
}

/// A message held in worker memory.
#[derive(Clone, Debug)]
struct Held {
    tag: u64,
    msg: Message,
}

/// One execution in a pool child.
#[derive(Clone, Debug)]
pub struct Exec {
    /// Execution id.
    pub id: NonZeroU64,
    /// Delivery tag.
    pub tag: u64,
    /// The message.
    pub msg: Message,
    /// Whether its message was acked.
    pub acked: bool,
    /// Which execution of this task it is (1 = first).
    pub run: u32,
    /// How long the task body runs once it starts (None: for ever).
    pub body: Option<SimDuration>,
    /// When the pool child started it: the `time_start` `inspect().active()` reports.
    pub started: SimTime,
}

/// The prefork pool's slots. Every change goes through these methods, which keep the free-slot
/// bits and the count of unacked executions right (the prefetch check reads it per delivery).
/// Slots are allocated as they are first used (the lowest free one always), so a pool of 10,000
/// processes that runs four tasks holds four.
#[derive(Clone, Debug)]
pub struct Pool {
    size: usize,
    slots: Vec<Option<Exec>>,
    /// Bit `s % 64` of word `s / 64` is set while slot `s` is free.
    free: Vec<u64>,
    busy: usize,
    unacked: usize,
}

impl Pool {
    fn new(size: usize) -> Self {
        let mut free = vec![u64::MAX; size.div_ceil(64)];
        if !size.is_multiple_of(64)
            && let Some(last) = free.last_mut()
        {
            *last = (1 << (size % 64)) - 1;
        }
        Pool { size, slots: Vec::with_capacity(size.min(128)), free, busy: 0, unacked: 0 }
    }

    /// The execution in `slot`.
    pub fn get(&self, slot: usize) -> Option<&Exec> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The lowest free slot.
    pub fn first_free(&self) -> Option<usize> {
        let (i, word) = self.free.iter().enumerate().find(|(_, w)| **w != 0)?;
        Some(i * 64 + word.trailing_zeros() as usize)
    }

    /// Start `exec` in a free `slot`.
    pub fn put(&mut self, slot: usize, exec: Exec) {
        if slot == self.slots.len() {
            // The lowest free slot: every slot below it has been used.
            self.slots.push(None);
        }
        debug_assert!(self.slots[slot].is_none());
        self.free[slot / 64] &= !(1 << (slot % 64));
        self.busy += 1;
        self.unacked += usize::from(!exec.acked);
        self.slots[slot] = Some(exec);
    }

    /// Free `slot`, returning what ran there.
    pub fn take(&mut self, slot: usize) -> Option<Exec> {
        let e = self.slots.get_mut(slot)?.take()?;
        self.unacked -= usize::from(!e.acked);
        self.busy -= 1;
        self.free[slot / 64] |= 1 << (slot % 64);
        Some(e)
    }

    /// Mark the execution in `slot` acked.
    pub fn set_acked(&mut self, slot: usize) {
        if let Some(e) = self.slots.get_mut(slot).and_then(Option::as_mut).filter(|e| !e.acked) {
            e.acked = true;
            self.unacked -= 1;
        }
    }

    /// Set how long the body of the execution in `slot` runs.
    pub fn set_body(&mut self, slot: usize, body: Option<SimDuration>) {
        if let Some(e) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            e.body = body;
        }
    }

    /// Running executions with their slots.
    pub fn running(&self) -> impl Iterator<Item = (usize, &Exec)> {
        self.slots.iter().enumerate().filter_map(|(s, e)| e.as_ref().map(|e| (s, e)))
    }

    /// Which slot runs `task`, if any.
    pub fn slot_of(&self, task: TaskRef) -> Option<usize> {
        self.running().find(|(_, e)| e.msg.task == task).map(|(s, _)| s)
    }

    /// Nothing runs.
    pub fn is_idle(&self) -> bool {
        self.busy == 0
    }

    /// Executions whose message is not acked.
    pub fn unacked(&self) -> usize {
        self.unacked
    }

    /// Pool processes (busy or not).
    pub fn size(&self) -> usize {
        self.size
    }

    fn clear(&mut self) {
        *self = Pool::new(self.size);
    }
}

/// A worker process.
#[derive(Clone, Debug)]
pub struct Worker {
    /// Status.
    pub status: Status,
    /// Incarnation: bumped by every start and death; stale events are discarded.
    pub inc: u32,
    /// Whether its consumer has a broker connection.
    pub connected: bool,
    /// Whether the consumer consumes (after mingle).
    pub consuming: bool,
    prefetch: Option<usize>,
    reserved: VecDeque<Held>,
    eta: BTreeMap<u64, Held>,
    in_transit: usize,
    /// The pool.
    pub pool: Pool,
    /// The in-memory revoked set (lost on restart; copied from peers by mingle).
    pub revoked: BTreeSet<TaskRef>,
    /// The main process handles hard limits and child loss; it is busy until then.
    pub main_busy_until: SimTime,
    restart: Option<(usize, SimDuration)>,
    /// A restore sweep not scheduled while the broker holds nothing (`World::sweep`): when it
    /// was due, and for which incarnation.
    sweep_parked: Option<(SimTime, u32)>,
    /// When the consumer's connection was made: its heartbeat or health-check timer runs
    /// from there.
    pub(crate) connected_at: SimTime,
    /// When its broker link was cut, while it has not noticed (`link.rs`).
    pub(crate) cut_at: Option<SimTime>,
    /// What it wrote on the cut link meanwhile (`link.rs`).
    pub(crate) unsent: Vec<(SimTime, Unsent)>,
}

impl Worker {
    /// A stopped worker.
    pub fn new(spec: &WorkerSpec, multiplier: u32) -> Self {
        // §1: prefetch = concurrency × worker_prefetch_multiplier (0 = no limit).
        let prefetch = (multiplier > 0).then(|| spec.concurrency as usize * multiplier as usize);
        Worker {
            status: Status::Down,
            inc: 0,
            connected: false,
            consuming: false,
            prefetch,
            reserved: VecDeque::new(),
            eta: BTreeMap::new(),
            in_transit: 0,
            pool: Pool::new(spec.concurrency as usize),
            revoked: BTreeSet::new(),
            main_busy_until: SimTime::ZERO,
            restart: None,
            sweep_parked: None,
            connected_at: SimTime::ZERO,
            cut_at: None,
            unsent: Vec::new(),
        }
    }

    /// Connected over a broker link that is cut, not yet noticed (`link.rs`).
    pub fn on_cut_link(&self) -> bool {
        self.connected && self.cut_at.is_some()
    }

    /// Running (not draining or down).
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }

    /// Whether the broker may hand it another message: prefetch counts reserved and unacked
    /// running messages; ETA-held ones do not (`qos.increment_eventually`, §1).
    pub fn can_take(&self) -> bool {
        if !self.is_running() || !self.consuming {
            return false;
        }
        let Some(limit) = self.prefetch else { return true };
        self.reserved.len() + self.in_transit + self.pool.unacked() < limit
    }

    /// A delivery is on its way.
    pub fn in_flight(&mut self, msg: &Message, now: SimTime) {
        if msg.eta.is_none_or(|e| e <= now) {
            self.in_transit += 1;
        }
    }

    fn wipe(&mut self) {
        self.reserved.clear();
        self.eta.clear();
        self.in_transit = 0;
        self.pool.clear();
        self.connected = false;
        self.consuming = false;
        self.cut_at = None;
        self.unsent.clear();
        self.inc += 1;
    }

    /// Which slot runs `task`, if any.
    pub fn running(&self, task: TaskRef) -> Option<usize> {
        self.pool.slot_of(task)
    }

    fn held_tags(&self) -> Vec<u64> {
        self.reserved.iter().map(|h| h.tag).chain(self.eta.keys().copied()).collect()
    }
}

/// How a finished execution's message is settled (§9 "Failure handling with acks_late").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Ack (late ack; a no-op if acked on receipt).
    Ack,
    /// Reject, requeue.
    Requeue,
}

impl World {
    /// Start worker `w`. One running before the chord was applied is `already_up` (consuming at
    /// once, as in every experiment); one started later boots first: imports and the pool
    /// ([`World::boot_time`]), then the consumer connects and mingle waits, and only then does
    /// it consume.
    pub(crate) fn start_worker(&mut self, now: SimTime, w: usize, already_up: bool, out: &mut Schedule<Event>) {
        if self.workers[w].status != Status::Down {
            return;
        }
        self.sqlite.forget_worker(w);
        let wk = &mut self.workers[w];
        wk.wipe();
        wk.status = Status::Running;
        wk.revoked.clear();
        wk.main_busy_until = now;
        let inc = wk.inc;
        if already_up {
            self.connect(now, w, out);
            self.consume(now, w, out);
        } else {
            out.after(self.boot_time(w), Event::Booted { worker: w, inc });
        }
    }

    /// How long worker `w` takes to start before it connects (docs/calibration.md).
    pub(crate) fn boot_time(&self, w: usize) -> SimDuration {
        let database = self.sc.topology.backend == BackendKind::Database;
        let processes = u64::from(self.sc.topology.workers[w].concurrency);
        BOOT_IMPORTS + if database { BOOT_DATABASE } else { SimDuration::ZERO } + BOOT_PER_PROCESS.times(processes)
    }

    /// The process has started: connect, or try again later.
    pub(crate) fn booted(&mut self, now: SimTime, w: usize, inc: u32, out: &mut Schedule<Event>) {
        if self.workers[w].inc != inc || !self.workers[w].is_running() {
            return;
        }
        if self.broker.up && self.net.connected(&Node::Broker, &Node::Worker(w)) {
            self.connect(now, w, out);
            out.after(MINGLE, Event::Mingled { worker: w, inc });
        } else {
            out.after(self.unanswered_connect() + reconnect_wait(1), Event::Reconnect { worker: w, inc, attempt: 1 });
        }
    }

    /// The consumer has a connection and its event loop registers the transport: on Redis the
    /// first restore sweep scans now, the first periodic one 90 s later.
    fn connect(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        self.workers[w].connected = true;
        self.workers[w].connected_at = now;
        if self.sc.topology.broker == BrokerKind::Redis {
            self.sweep_now(now);
            let inc = self.workers[w].inc;
            out.after(FIRST_PERIODIC_SWEEP, Event::Sweep { worker: w, inc });
            // What the scan restored goes at once to the peers already consuming: their BRPOP
            // is waiting on the queue (docs/celery-source-notes.md §8). This worker itself
            // consumes only after mingle.
            self.pump(now, out);
        }
    }

    /// Mingle is over: copy the revoked ids of running peers (§9 "Revoke") and consume.
    pub(crate) fn mingled(&mut self, now: SimTime, w: usize, inc: u32, out: &mut Schedule<Event>) {
        let wk = &self.workers[w];
        if wk.inc != inc || !wk.is_running() || !wk.connected {
            return;
        }
        self.consume(now, w, out);
    }

    fn consume(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        self.work += self.workers.iter().map(|p| 1 + p.revoked.len() as u64).sum::<u64>();
        let peers: BTreeSet<TaskRef> = (0..self.workers.len())
            .filter(|&p| p != w && self.workers[p].is_running())
            .flat_map(|p| self.workers[p].revoked.iter().copied())
            .collect();
        let wk = &mut self.workers[w];
        wk.revoked.extend(peers);
        wk.consuming = true;
        self.note(now, Note::ConsumerStarted { worker: w });
        self.pump(now, out);
    }

    fn sweep_now(&mut self, now: SimTime) {
        if self.broker.stalled(now) {
            return; // the restore's commands would wait; the next sweep does it
        }
        let vt = self.cfg().visibility_timeout;
        let (workers, net) = (&self.workers, &self.net);
        let waiting = || {
            workers.iter().enumerate().any(|(w, wk)| wk.can_take() && net.connected(&Node::Broker, &Node::Worker(w)))
        };
        let back = self.broker.restore_visible(now, vt, waiting);
        self.work += back.len() as u64 + 1;
        if !back.is_empty() {
            let tasks = back.iter().map(|(_, m)| m.task).collect();
            self.note(now, Note::Restored { tasks, sweep: true });
        }
    }

    pub(crate) fn sweep(&mut self, now: SimTime, w: usize, inc: u32, out: &mut Schedule<Event>) {
        let wk = &self.workers[w];
        if wk.inc != inc || wk.status == Status::Down {
            return;
        }
        if wk.connected && self.broker.up {
            self.sweep_now(now);
            self.pump(now, out);
        }
        // With nothing queued or unacknowledged the next sweeps restore nothing and pump
        // nothing, until a message is published: park the chain, keeping its phase
        // (`unpark_sweeps`), so an idle liveness tail costs no events.
        if self.broker.queue.is_empty() && self.broker.unacked.is_empty() {
            self.workers[w].sweep_parked = Some((now + SWEEP_EVERY, inc));
            self.parked_sweeps += 1;
            return;
        }
        out.after(SWEEP_EVERY, Event::Sweep { worker: w, inc });
    }

    /// Whether a live worker's sweep chain is parked: with nothing else to happen, its no-op
    /// sweeps would still run to the horizon (`run.rs` ends the run there, as they would).
    pub fn sweeps_parked(&self) -> bool {
        self.workers.iter().any(|wk| wk.sweep_parked.is_some_and(|(_, inc)| inc == wk.inc && wk.status != Status::Down))
    }

    /// A message reached the queue: every parked sweep chain goes on at its next due time
    /// after now, on the grid it would have kept.
    pub(crate) fn unpark_sweeps(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        if self.parked_sweeps == 0 {
            return;
        }
        self.parked_sweeps = 0;
        for w in 0..self.workers.len() {
            let Some((due, inc)) = self.workers[w].sweep_parked.take() else { continue };
            let next = if due > now { due } else { due + SWEEP_EVERY * (now.since(due).0 / SWEEP_EVERY.0 + 1) };
            out.at(next, Event::Sweep { worker: w, inc });
        }
    }

    pub(crate) fn reconnect(&mut self, now: SimTime, w: usize, inc: u32, attempt: u32, out: &mut Schedule<Event>) {
        let wk = &self.workers[w];
        if wk.inc != inc || !wk.is_running() || wk.connected {
            return;
        }
        let max = self.cfg().broker_connection_max_retries;
        if max.is_some_and(|max| attempt > max) {
            // §9: reconnects up to broker_connection_max_retries, then shuts down once the
            // last attempt has failed.
            self.note(now, Note::WorkerExited { worker: w });
            self.kill_worker(now, w, out);
        } else if self.broker.up && self.net.connected(&Node::Broker, &Node::Worker(w)) {
            // The consumer's blueprint restarts, mingle included (consumer.py:
            // on_connection_error_after_connected → blueprint.restart).
            self.connect(now, w, out);
            out.after(MINGLE, Event::Mingled { worker: w, inc });
        } else {
            // The attempt fails at once, or at its connect timeout across a cut
            // (link.rs: unanswered_connect); kombu sleeps before the next one.
            let last = max.is_some_and(|max| attempt >= max);
            let sleep = if last { SimDuration::ZERO } else { reconnect_wait(attempt + 1) };
            out.after(self.unanswered_connect() + sleep, Event::Reconnect { worker: w, inc, attempt: attempt + 1 });
        }
    }

    /// §9 "Broker connection lost": the consumer restarts; reserved and ETA-held requests are
    /// dropped from memory (§12: every modelled version drops them). On AMQP the broker requeues
    /// the connection's unacked deliveries at once, running acks_late ones included (their
    /// later ack fails, so they run twice); on Redis they stay in the unacked hash until a
    /// sweep finds them older than the visibility timeout.
    pub(crate) fn connection_lost(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        self.note(now, Note::ConnectionLost { worker: w });
        let wk = &mut self.workers[w];
        wk.connected = false;
        wk.consuming = false;
        wk.cut_at = None;
        let unsent = std::mem::take(&mut wk.unsent);
        self.unsent_lost(now, w, unsent);
        let wk = &mut self.workers[w];
        let dropped: Vec<Held> = wk.reserved.drain(..).chain(std::mem::take(&mut wk.eta).into_values()).collect();
        self.work += dropped.len() as u64 + self.broker.unacked.len() as u64;
        wk.in_transit = 0;
        let inc = wk.inc;
        match self.sc.topology.broker {
            BrokerKind::Amqp if self.broker.up => {
                let tags: Vec<u64> = self.broker.held_by(w).map(|(t, _)| t).collect();
                let back = self.broker.restore_tags(tags);
                if !back.is_empty() {
                    let tasks = back.iter().map(|(_, m)| m.task).collect();
                    self.note(now, Note::Restored { tasks, sweep: false });
                }
            }
            _ => {
                for h in dropped {
                    self.note(now, Note::Lost { task: h.msg.task, why: Loss::DroppedHeldUnacked });
                }
            }
        }
        if !self.cfg().broker_connection_retry {
            // broker_connection_retry=False: the worker shuts down instead of reconnecting.
            self.note(now, Note::WorkerExited { worker: w });
            self.kill_worker(now, w, out);
            return;
        }
        out.after(reconnect_wait(1), Event::Reconnect { worker: w, inc, attempt: 1 });
    }

    /// SIGKILL of the whole worker: running tasks die without storing anything; messages acked
    /// on receipt are lost; unacked ones stay with the broker (§9 table, first three rows).
    pub(crate) fn kill_worker(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        if self.workers[w].status == Status::Down {
            return;
        }
        let execs: Vec<(usize, Exec)> = self.workers[w].pool.running().map(|(s, e)| (s, e.clone())).collect();
        self.work += (execs.len() + self.workers[w].held_tags().len() + self.broker.unacked.len()) as u64;
        for (slot, e) in &execs {
            self.note(now, Note::Finished { task: e.msg.task, worker: w, slot: *slot, how: Ending::WorkerKilled });
            if e.acked {
                self.note(now, Note::Lost { task: e.msg.task, why: Loss::AckedThenKilled });
            }
        }
        let held: Vec<TaskRef> = {
            let wk = &self.workers[w];
            wk.reserved.iter().map(|h| h.msg.task).chain(wk.eta.values().map(|h| h.msg.task)).collect()
        };
        if self.sc.topology.broker == BrokerKind::Amqp && self.broker.up {
            let tags: Vec<u64> = self.broker.held_by(w).map(|(t, _)| t).collect();
            let back = self.broker.restore_tags(tags);
            if !back.is_empty() {
                let tasks = back.iter().map(|(_, m)| m.task).collect();
                self.note(now, Note::Restored { tasks, sweep: false });
            }
        } else {
            for task in held {
                self.note(now, Note::Lost { task, why: Loss::DroppedHeldUnacked });
            }
        }
        self.orphan(now, w, out);
        let wk = &mut self.workers[w];
        wk.wipe();
        wk.status = Status::Down;
        self.pump(now, out);
    }

    pub(crate) fn receive(
        &mut self,
        now: SimTime,
        w: usize,
        inc: u32,
        tag: u64,
        msg: Message,
        out: &mut Schedule<Event>,
    ) {
        let wk = &mut self.workers[w];
        // A delivery to an older incarnation, or one in flight when the connection broke, is
        // lost to this consumer; the broker still holds it unacked (or requeued it, AMQP).
        if wk.inc != inc || !wk.connected {
            return;
        }
        wk.in_transit = wk.in_transit.saturating_sub(usize::from(msg.eta.is_none_or(|e| e <= now)));
        if wk.status == Status::Draining {
            self.broker.restore_tags(vec![tag]);
            return;
        }
        if wk.revoked.contains(&msg.task) {
            self.drop_revoked(now, w, tag, msg, out);
            return;
        }
        match msg.eta {
            // Retries and countdowns wait in worker memory, unacked (§9 "Ack timing").
            Some(eta) if eta > now => {
                wk.eta.insert(tag, Held { tag, msg });
                out.at(eta, Event::EtaDue { worker: w, inc, tag });
            }
            _ => {
                wk.reserved.push_back(Held { tag, msg });
                self.dispatch(now, w, out);
            }
        }
    }

    pub(crate) fn eta_due(&mut self, now: SimTime, w: usize, inc: u32, tag: u64, out: &mut Schedule<Event>) {
        let wk = &mut self.workers[w];
        if wk.inc != inc {
            return;
        }
        let Some(h) = wk.eta.remove(&tag) else { return };
        wk.reserved.push_back(h);
        self.dispatch(now, w, out);
    }

    /// A revoked message is dropped when received or before it runs: REVOKED stored with the
    /// request, so part-return runs, and acked (§9 "Revoke"; source notes §5). No errbacks.
    fn drop_revoked(&mut self, now: SimTime, w: usize, tag: u64, msg: Message, out: &mut Schedule<Event>) {
        self.note(now, Note::RevokedDropped { task: msg.task, worker: w });
        let native = self.native_chord() && matches!(msg.task, TaskRef::Header(_));
        let op = WriteOp::State {
            task: msg.task,
            state: TaskState::Revoked,
            value: Some(ResultValue::Error(ErrorKind::Revoked)),
            part_return: native,
            errbacks: false,
            skip_store: !self.stores_errors(msg.task),
        };
        self.write_then_ack(out, w, tag, msg.task, op);
    }

    /// What one chord_unlock run spends reading: `GroupResult.ready()` reads the header's
    /// results in order and stops at the first not ready (celery `result.py: ResultSet.ready`);
    /// the join that follows reads nothing, each result being cached once ready (docs/calibration.md
    /// "The database backend's costs"). A database read is a SELECT and its decoding, 0.4 ms
    /// (measured); a Redis read a GET, one round trip.
    fn poll_cost(&mut self, now: SimTime, w: usize, slot: u32) -> SimDuration {
        let n = self.n();
        let examined = match self.backend.first_not_ready(now) {
            Some(first) => first as u64 + 1,
            None => n.max(1) as u64,
        };
        let (per_result, session) = match self.sc.topology.backend {
            BackendKind::Database => (DATABASE_READ, self.sqlite.read((w, Some(slot)))),
            BackendKind::Redis => (self.latency().times(2), SimDuration::ZERO),
        };
        UNLOCK_WORK + session + per_result.times(examined)
    }

    /// Hand reserved requests to free pool slots.
    pub(crate) fn dispatch(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        let wk = &self.workers[w];
        if wk.main_busy_until > now {
            let (at, inc) = (wk.main_busy_until, wk.inc);
            out.at(at, Event::Dispatch { worker: w, inc });
            return;
        }
        loop {
            let wk = &mut self.workers[w];
            let Some(slot) = wk.pool.first_free() else { return };
            let Some(h) = wk.reserved.pop_front() else { return };
            if wk.revoked.contains(&h.msg.task) {
                self.drop_revoked(now, w, h.tag, h.msg, out);
                continue;
            }
            self.start_exec(now, w, slot, h.tag, h.msg, out);
        }
    }

    fn start_exec(&mut self, now: SimTime, w: usize, slot: usize, tag: u64, msg: Message, out: &mut Schedule<Event>) {
        let task = msg.task;
        let early = self.ack_mode(task) == AckMode::Early;
        let id = self.exec_id();
        let inc = self.workers[w].inc;
        let run = match task {
            TaskRef::Header(i) => {
                self.stats.header_runs[i as usize] += 1;
                self.stats.header_runs[i as usize]
            }
            _ => 1,
        };
        self.workers[w].pool.put(slot, Exec { id, tag, msg: msg.clone(), acked: false, run, body: None, started: now });
        self.note(now, Note::Started { task, worker: w, slot, retries: msg.retries });
        // §9: acks_late False → acked when the pool child accepts the job.
        if early {
            self.workers[w].pool.set_acked(slot);
            self.ack(now, w, tag, task, AckWhen::OnReceipt, out);
            // The ack opens this worker's prefetch window (kombu's QoS counts unacked
            // deliveries): its consumer fetches again.
            self.pump_to(now, w, out);
        }
        let r = ExecRef { worker: w, inc, slot: slot as u32, exec: id };
        let (run, soft, hard) = match task {
            TaskRef::Header(i) => {
                let spec = &self.sc.tests[i as usize];
                let run = if spec.outcome == crate::scenario::Outcome::Hang {
                    None
                } else {
                    Some(self.durations[i as usize])
                };
                let (soft, hard) = self.limits(task);
                (run, soft, hard)
            }
            TaskRef::ChordUnlock => {
                self.stats.chord_unlock_runs += 1;
                if msg.eta.is_some_and(|eta| now >= eta + self.late_poll_threshold()) {
                    self.stats.late_polls += 1;
                }
                (Some(self.poll_cost(now, w, slot as u32)), None, None)
            }
            TaskRef::Body => {
                self.stats.callback_runs += 1;
                let (soft, hard) = self.limits(task);
                (Some(self.sc.app.callback_duration), soft, hard)
            }
            TaskRef::Errback => (Some(SimDuration::from_millis(1)), None, None),
        };
        // Time limits count from the child's acceptance as the main process reads it (§9 "Soft
        // limit"), `LIMITS_ARMED` later; the earlier one is scheduled, and whichever of it and
        // the body's end comes first ends the execution.
        let limit = match (soft, hard) {
            (Some(s), Some(h)) if s < h => Some((s, Finish::Soft)),
            (_, Some(h)) => Some((h, Finish::Hard)),
            (Some(s), None) => Some((s, Finish::Soft)),
            (None, None) => None,
        };
        if let Some((d, finish)) = limit {
            out.after(LIMITS_ARMED + d, Event::ExecEnd(r, finish));
        }
        // The job reaches the pool child `task_overhead` after this (the prefork hand-off: a
        // late copy's `task_prerun` came 1.4–2.2 ms after the postrun of the task before it in
        // the same child, docs/calibration.md); there build_tracer stores STARTED before the
        // body runs, outside the task's own try: the body waits for that write, and a failed
        // write fails the task (review of §2).
        let overhead = self.sc.topology.task_overhead;
        let tracked = matches!(task, TaskRef::Header(_)) && self.cfg().track_started && self.stores_errors(task);
        let body = run.map(|d| if tracked { d } else { overhead + d });
        self.workers[w].pool.set_body(slot, body);
        if tracked {
            self.write_after(out, overhead, Node::Worker(w), Some(r), WriteOp::Started(task), 0);
        } else if let Some(b) = body {
            self.body_starts(r, task, overhead, out);
            out.after(b, Event::ExecEnd(r, Finish::Normal));
        }
    }

    /// Whether FAILURE, REVOKED and STARTED are stored for `task` (`store_errors`): not when the
    /// task's result is ignored, unless `task_store_errors_even_if_ignored`; a per-call
    /// ignore_result counts too from 5.6.3 (§12 "Per-call ignore_result").
    pub(crate) fn stores_errors(&self, task: TaskRef) -> bool {
        let cfg = self.cfg();
        let ignored = match task {
            TaskRef::Header(i) => {
                self.header_attrs.class.ignore_result
                    || (self.sc.tests[i as usize].ignore_result && cfg.version.per_call_ignore_result_covers_errors())
            }
            TaskRef::Body => self.body_attrs.class.ignore_result,
            TaskRef::ChordUnlock | TaskRef::Errback => true,
        };
        !ignored || cfg.store_errors_even_if_ignored
    }

    /// Effective (soft, hard) limits: the signature's option, else the task's annotation,
    /// else `task_soft_time_limit` / `task_time_limit`.
    pub(crate) fn limits(&self, task: TaskRef) -> (Option<SimDuration>, Option<SimDuration>) {
        let attrs = match task {
            TaskRef::Header(_) => &self.header_attrs,
            _ => &self.body_attrs,
        };
        let mut soft = attrs.soft_time_limit.unwrap_or(self.cfg().soft_time_limit);
        let mut hard = attrs.time_limit.unwrap_or(self.cfg().time_limit);
        if let TaskRef::Header(i) = task {
            let spec = &self.sc.tests[i as usize];
            soft = spec.soft_time_limit.or(soft);
            hard = spec.time_limit.or(hard);
        }
        (soft, hard)
    }

    /// The execution `r`, if it is still the one in its slot.
    pub(crate) fn exec(&self, r: ExecRef) -> Option<&Exec> {
        let wk = &self.workers[r.worker];
        if wk.inc != r.inc {
            return None;
        }
        wk.pool.get(r.slot as usize).filter(|e| e.id == r.exec)
    }

    pub(crate) fn exec_end(&mut self, now: SimTime, r: ExecRef, finish: Finish, out: &mut Schedule<Event>) {
        let Some(e) = self.exec(r).cloned() else { return };
        match (finish, e.msg.task) {
            (Finish::Hard, _) => self.hard_limit(now, r, e, out),
            (_, TaskRef::Header(_)) => self.header_end(now, r, &e, finish, out),
            (_, TaskRef::ChordUnlock) => self.poll(now, r, &e, out),
            (_, TaskRef::Body) => self.body_end(now, r, &e, finish, out),
            (_, TaskRef::Errback) => self.errback_task_end(now, r, out),
        }
    }

    /// Ack a delivery from worker `w`; it fails while the worker has no connection, and
    /// waits on the link while the link is cut and the worker has not noticed.
    pub(crate) fn ack(
        &mut self,
        now: SimTime,
        w: usize,
        tag: u64,
        task: TaskRef,
        when: AckWhen,
        out: &mut Schedule<Event>,
    ) {
        self.settle_tag(now, w, (Settle::Ack, tag, task, when), out);
    }

    /// Free the slot and settle the message, then take more work.
    pub(crate) fn finish_exec(&mut self, now: SimTime, r: ExecRef, settle: Settle, out: &mut Schedule<Event>) {
        let Some(e) = self.exec(r).cloned() else { return };
        self.workers[r.worker].pool.take(r.slot as usize);
        self.settle(now, r.worker, &e, settle, out);
        self.after_slot_freed(now, r.worker, out);
    }

    fn settle(&mut self, now: SimTime, w: usize, e: &Exec, settle: Settle, out: &mut Schedule<Event>) {
        if settle == Settle::Ack && e.acked {
            return;
        }
        self.settle_tag(now, w, (settle, e.tag, e.msg.task, AckWhen::AfterTask), out);
    }

    fn after_slot_freed(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        if self.workers[w].status == Status::Draining && self.workers[w].pool.is_idle() {
            self.orphan(now, w, out);
            let wk = &mut self.workers[w];
            let restart = wk.restart.take();
            wk.wipe();
            wk.status = Status::Down;
            self.note(now, Note::Heal { what: format!("w{} finished its tasks and exited (warm shutdown)", w + 1) });
            if let Some((fault, after)) = restart {
                out.after(after, Event::FaultEnd(fault));
            }
            return;
        }
        self.dispatch(now, w, out);
        self.pump(now, out);
    }

    /// §9 "Hard limit": billiard fails the job with TimeLimitExceeded → `Request.on_failure`,
    /// then `Request.on_timeout(hard)`, both in the main process; both call mark_as_failure,
    /// so errbacks run twice and the part returns twice (the Redis counter dedups only in 5.7,
    /// inside `part_return`). The child is replaced. With acks_late and ack-on-timeout off,
    /// on_failure requeues instead of storing, but on_timeout still stores (source notes §3).
    fn hard_limit(&mut self, now: SimTime, r: ExecRef, e: Exec, out: &mut Schedule<Event>) {
        let w = r.worker;
        let task = e.msg.task;
        self.note(now, Note::Finished { task, worker: w, slot: r.slot as usize, how: Ending::HardLimit });
        self.workers[w].pool.take(r.slot as usize);
        let late = self.ack_mode(task) == AckMode::Late;
        let acks_on_timeout = self.cfg().acks_on_timeout;
        let skip = !self.stores_errors(task);
        let failure = |n: bool| WriteOp::State {
            task,
            state: TaskState::Failure,
            value: Some(ResultValue::Error(ErrorKind::TimeLimit)),
            part_return: n,
            errbacks: true,
            skip_store: skip,
        };
        let native = self.native_chord() && matches!(task, TaskRef::Header(_));
        // The child is killed and replaced: the new one sets up its own database session.
        self.sqlite.forget_child(w, r.slot);
        if late && !acks_on_timeout {
            self.settle(now, w, &e, Settle::Requeue, out);
        } else {
            self.settle(now, w, &e, Settle::Ack, out);
            self.write(out, Node::Worker(w), None, failure(native), 0);
        }
        let busy = self.write(out, Node::Worker(w), None, failure(native), 1);
        let wk = &mut self.workers[w];
        wk.main_busy_until = wk.main_busy_until.max(busy);
        self.after_slot_freed(now, w, out);
    }

    /// The execution `r` of `task` runs its body `lead` from now (the pool's hand-off, when it
    /// is still to come; none once STARTED is stored): a kill armed for a test's first run comes
    /// that long after its body starts.
    pub(crate) fn body_starts(&mut self, r: ExecRef, task: TaskRef, lead: SimDuration, out: &mut Schedule<Event>) {
        let TaskRef::Header(i) = task else { return };
        if self.sc.faults.is_empty() || self.exec(r).is_none_or(|e| e.run != 1) {
            return;
        }
        self.work += self.sc.faults.len() as u64;
        for (f, fault) in self.sc.faults.iter().enumerate() {
            if let crate::scenario::FaultKind::KillChild { test, after_start: Some(d) } = fault.kind
                && test == i as usize
            {
                out.after(lead + d, Event::FaultEnd(f));
            }
        }
    }

    pub(crate) fn kill_child(&mut self, now: SimTime, task: TaskRef, out: &mut Schedule<Event>) {
        self.work += self.workers.iter().map(|w| 1 + w.pool.slots.len() as u64).sum::<u64>();
        let found = (0..self.workers.len()).find_map(|w| self.workers[w].running(task).map(|s| (w, s)));
        let Some((w, slot)) = found else {
            self.note(now, Note::Fault { what: format!("no pool child is running {task}; nothing killed") });
            return;
        };
        self.worker_lost(now, w, slot, out);
    }

    /// The pool child in `slot` died: WorkerLostError, handled in the main process
    /// (`Request.on_failure`; §9 "Failure handling with acks_late", §12 "Pool child lost").
    pub(crate) fn worker_lost(&mut self, now: SimTime, w: usize, slot: usize, out: &mut Schedule<Event>) {
        let e = self.workers[w].pool.take(slot).expect("running slot");
        self.sqlite.forget_child(w, slot as u32);
        let task = e.msg.task;
        self.note(now, Note::Finished { task, worker: w, slot, how: Ending::ChildKilled });
        let late = self.ack_mode(task) == AckMode::Late;
        let cfg = self.cfg();
        let version = cfg.version;
        let native = self.native_chord() && matches!(task, TaskRef::Header(_));
        let class = match task {
            TaskRef::Body => &self.body_attrs.class,
            _ => &self.header_attrs.class,
        };
        let (max_retries, countdown) = (class.max_retries, class.default_retry_delay);
        if version.worker_lost_checks_stored_success()
            && self.backend.state(task.slot(self.n()), now) == TaskState::Success
        {
            // §12 (5.7): SUCCESS already stored → ack, task-succeeded, no FAILURE.
            self.settle(now, w, &e, Settle::Ack, out);
        } else if version.has_retry_on_worker_lost()
            && cfg.retry_on_worker_lost
            && max_retries.is_none_or(|m| e.msg.retries < m)
        {
            // §12 (5.7) task_retry_on_worker_lost: re-sent like Task.retry after
            // default_retry_delay, counting toward max_retries.
            let r = ExecRef { worker: w, inc: self.workers[w].inc, slot: slot as u32, exec: e.id };
            self.workers[w].pool.put(slot, e.clone());
            self.retry_task(now, r, &e, countdown, out);
            return;
        } else if late && cfg.reject_on_worker_lost && !(version.has_retry_on_worker_lost() && cfg.retry_on_worker_lost)
        {
            // §9: acks_late + reject_on_worker_lost ⇒ requeue on child death, nothing stored.
            self.settle(now, w, &e, Settle::Requeue, out);
        } else {
            self.settle(now, w, &e, Settle::Ack, out);
            let op = WriteOp::State {
                task,
                state: TaskState::Failure,
                value: Some(ResultValue::Error(ErrorKind::WorkerLost)),
                part_return: native,
                errbacks: true,
                skip_store: !self.stores_errors(task),
            };
            self.write(out, Node::Worker(w), None, op, 0);
        }
        self.after_slot_freed(now, w, out);
    }

    /// Warm shutdown (TERM): stop consuming; closing the channel pushes prefetched and
    /// ETA-held messages back at once (§9; source notes §4); running tasks finish.
    pub(crate) fn warm_shutdown(
        &mut self,
        now: SimTime,
        w: usize,
        restart_fault: Option<usize>,
        out: &mut Schedule<Event>,
    ) {
        if !self.workers[w].is_running() {
            return;
        }
        let tags = self.workers[w].held_tags();
        self.work += tags.len() as u64 + 1;
        let back = self.broker.restore_tags(tags);
        if !back.is_empty() {
            let tasks = back.iter().map(|(_, m)| m.task).collect();
            self.note(now, Note::Restored { tasks, sweep: false });
        }
        let restart = restart_fault.and_then(|i| match &self.sc.faults[i].kind {
            crate::scenario::FaultKind::WarmShutdown { restart_after: Some(d), .. } => Some((i, *d)),
            _ => None,
        });
        let wk = &mut self.workers[w];
        wk.reserved.clear();
        wk.eta.clear();
        wk.status = Status::Draining;
        wk.restart = restart;
        self.after_slot_freed(now, w, out);
    }

    /// SIGTERM or SIGQUIT reached the pool children too (a signal to the process group): billiard
    /// children turn either into SystemExit (`billiard/common.py: reset_signals,
    /// _shutdown_cleanup`; celery resets SIGTERM first in `prefork.py: process_initializer`), so
    /// every running task's child exits and the main process fails it with WorkerLostError (§9
    /// "Pool child killed"; §12: 5.7 counts a SystemExit as worker lost unless the worker itself
    /// cancelled the task).
    ///
    /// When it fails them depends on the shutdown. After TERM (`reaped_by_stop_loop`), the main
    /// process reaps the children from its warm shutdown's stop loop ([`stop_loop_reaps`]), 0.1
    /// to 1.2 s later. After QUIT the cold shutdown terminates the pool at once (not observed:
    /// the model fails them at once).
    pub(crate) fn children_terminated(
        &mut self,
        now: SimTime,
        w: usize,
        reaped_by_stop_loop: bool,
        out: &mut Schedule<Event>,
    ) {
        let slots: Vec<usize> = self.workers[w].pool.running().map(|(s, _)| s).collect();
        self.work += slots.len() as u64;
        if !reaped_by_stop_loop {
            for slot in slots {
                if self.workers[w].pool.get(slot).is_some() {
                    self.worker_lost(now, w, slot, out);
                }
            }
            return;
        }
        let children = self.workers[w].pool.size();
        self.work += children as u64;
        let reaps = stop_loop_reaps(&mut self.shutdown_rng, children, &slots);
        let inc = self.workers[w].inc;
        for (slot, after) in reaps {
            // The child is gone: its task's pending end and writes no longer match it (a new
            // execution id), and the slot stays taken until the main process reaps it.
            let Some(mut e) = self.workers[w].pool.take(slot) else { continue };
            e.id = self.exec_id();
            e.body = None;
            let (task, exec) = (e.msg.task, e.id);
            self.workers[w].pool.put(slot, e);
            self.note(now, Note::ChildSignalled { task, worker: w, reaped_after: after });
            out.after(after, Event::ChildReaped(ExecRef { worker: w, inc, slot: slot as u32, exec }));
        }
    }

    /// The main process reaps a child that a signal to the group killed: WorkerLostError.
    pub(crate) fn child_reaped(&mut self, now: SimTime, r: ExecRef, out: &mut Schedule<Event>) {
        if self.exec(r).is_some() {
            self.worker_lost(now, r.worker, r.slot as usize, out);
        }
    }

    /// QUIT reached the main process: from 5.5 a soft shutdown first lets running tasks go on
    /// for `worker_soft_shutdown_timeout` (if any run, or with
    /// `worker_enable_soft_shutdown_on_idle`) while nothing new is consumed, then the cold
    /// shutdown (`apps/worker.py: on_cold_shutdown`, `worker/worker.py: wait_for_soft_shutdown`).
    pub(crate) fn cold_shutdown_signal(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        let wk = &self.workers[w];
        if wk.status == Status::Down {
            return;
        }
        let cfg = self.cfg();
        let soft = cfg.soft_shutdown_timeout;
        if soft > SimDuration::ZERO && (!wk.pool.is_idle() || cfg.soft_shutdown_on_idle) {
            self.note(now, Note::Fault { what: format!("w{}: soft shutdown, cancelling in {soft}", w + 1) });
            let tags = self.workers[w].held_tags();
            let back = self.broker.restore_tags(tags);
            if !back.is_empty() {
                let tasks = back.iter().map(|(_, m)| m.task).collect();
                self.note(now, Note::Restored { tasks, sweep: false });
            }
            let wk = &mut self.workers[w];
            wk.reserved.clear();
            wk.eta.clear();
            wk.status = Status::Draining;
            let inc = wk.inc;
            out.after(soft, Event::SoftShutdownEnd { worker: w, inc });
            return;
        }
        self.cold_shutdown(now, w, out);
    }

    /// Cold shutdown (QUIT): running tasks are cancelled. Tasks acked on receipt are stored
    /// RETRY with no new message (stuck); acks_late ones are redelivered, and 5.5 also stores
    /// RETRY for them (§9, §12). Held messages go back to the queue.
    pub(crate) fn cold_shutdown(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        if self.workers[w].status == Status::Down {
            return;
        }
        let execs: Vec<(usize, Exec)> = self.workers[w].pool.running().map(|(s, e)| (s, e.clone())).collect();
        let mut tags = self.workers[w].held_tags();
        self.work += (execs.len() + tags.len() + 1) as u64;
        let retry_for_late = self.cfg().version.cold_shutdown_retry_for_acks_late();
        for (slot, e) in &execs {
            self.note(now, Note::Finished { task: e.msg.task, worker: w, slot: *slot, how: Ending::Cancelled });
            if !e.acked {
                tags.push(e.tag);
            }
            if e.acked || retry_for_late {
                let op = WriteOp::State {
                    task: e.msg.task,
                    state: TaskState::Retry,
                    value: None,
                    part_return: false,
                    errbacks: false,
                    skip_store: self.ignores_result(e.msg.task),
                };
                self.write(out, Node::Worker(w), None, op, 0);
            }
        }
        let back = self.broker.restore_tags(tags);
        if !back.is_empty() {
            let tasks = back.iter().map(|(_, m)| m.task).collect();
            self.note(now, Note::Restored { tasks, sweep: false });
        }
        self.orphan(now, w, out);
        let wk = &mut self.workers[w];
        wk.wipe();
        wk.status = Status::Down;
        self.pump(now, out);
    }

    /// `app.control.revoke(id, terminate)` (§9 "Revoke", §12): every running worker adds the
    /// id to its revoked set; from 5.6 it also stores REVOKED at once (no part-return; 5.7 only
    /// while not started or finished, and not active there); with terminate the child running
    /// it is signalled and REVOKED('terminated') is stored with part-return.
    pub(crate) fn revoke(&mut self, now: SimTime, task: TaskRef, terminate: bool, out: &mut Schedule<Event>) {
        if !self.broker_reachable(&Node::Producer) {
            self.note(
                now,
                Note::Fault { what: format!("revoke of {task} not delivered: producer cannot reach the broker") },
            );
            return;
        }
        let version = self.cfg().version;
        let slot_idx = task.slot(self.n());
        self.work += self.workers.iter().map(|w| 1 + w.pool.slots.len() as u64).sum::<u64>();
        for w in 0..self.workers.len() {
            if !self.workers[w].is_running()
                || !self.workers[w].connected
                || !self.net.can_send(&Node::Broker, &Node::Worker(w))
            {
                continue;
            }
            self.workers[w].revoked.insert(task);
            let active_here = self.workers[w].running(task);
            if version.revoke_stores_revoked_at_once() && matches!(task, TaskRef::Header(_) | TaskRef::Body) {
                let state = self.backend.state(slot_idx, now);
                let allowed = !version.revoke_store_only_if_not_started()
                    || (matches!(state, TaskState::Pending | TaskState::Retry) && active_here.is_none());
                if allowed {
                    let op = WriteOp::State {
                        task,
                        state: TaskState::Revoked,
                        value: Some(ResultValue::Error(ErrorKind::Revoked)),
                        part_return: false,
                        errbacks: false,
                        skip_store: false,
                    };
                    self.write(out, Node::Worker(w), None, op, 0);
                }
            }
            if let (true, Some(slot)) = (terminate, active_here) {
                let e = self.workers[w].pool.take(slot).expect("running slot");
                self.note(now, Note::Finished { task, worker: w, slot, how: Ending::Terminated });
                self.settle(now, w, &e, Settle::Ack, out);
                let native = self.native_chord() && matches!(task, TaskRef::Header(_));
                let op = WriteOp::State {
                    task,
                    state: TaskState::Revoked,
                    value: Some(ResultValue::Error(ErrorKind::Revoked)),
                    part_return: native,
                    errbacks: false,
                    skip_store: !self.stores_errors(task),
                };
                self.write(out, Node::Worker(w), None, op, 0);
                self.after_slot_freed(now, w, out);
            }
        }
    }

    /// Whether this chord joins through the Redis native counter (§4).
    pub(crate) fn native_chord(&self) -> bool {
        self.sc.topology.backend == BackendKind::Redis
    }

    /// Whether a chord_unlock message is still alive: queued, unacked in the broker, or held or
    /// running on a worker that is up (for the verdict, at the end of a run).
    pub fn unlock_live(&self) -> bool {
        let is = |m: &Message| m.task == TaskRef::ChordUnlock;
        self.broker.queue.iter().any(is)
            || self.broker.unacked.values().any(|u| is(&u.msg))
            || self.workers.iter().any(|w| {
                w.status != Status::Down
                    && (w.reserved.iter().any(|h| is(&h.msg))
                        || w.eta.values().any(|h| is(&h.msg))
                        || w.running(TaskRef::ChordUnlock).is_some())
            })
    }
}

/// When a warm shutdown's stop loop reaps each busy pool child after TERM reached the whole
/// process group, as offsets from the signal; `busy` lists the busy slots of a pool of
/// `children` processes (docs/celery-source-notes.md §10, measured on 5.5.3 and 5.7.0).
///
/// Every child, busy or idle, writes a DEATH message on its outqueue within 2 ms and would exit
/// by itself 1 s later (billiard `pool.py: Worker._do_exit`). The main process's event loop
/// reads some of those messages and kills their children before it notices the shutdown (a
/// race: one child up to all). Its stop loop (`asynpool.py: ResultHandler.on_stop_not_started`)
/// starts 10–70 ms after the signal and walks the outqueues in fd-set order, a fixed but
/// arbitrary order: a message waiting there is read and its child killed at once; otherwise it
/// sleeps 0.5 s (`_flush_outqueue`). After each outqueue it reaps every child already dead,
/// spending about 10 ms on each (`process_flush_queues`), then fails the busy ones' tasks
/// (`on_job_process_lost`). So a task fails 0.5·k s after the loop starts, k = 0, 1 or 2.
pub fn stop_loop_reaps(rng: &mut impl rand::Rng, children: usize, busy: &[usize]) -> Vec<(usize, SimDuration)> {
    use rand::RngExt;
    use rand::seq::SliceRandom;
    const DEAD_AFTER: SimDuration = SimDuration::from_millis(2);
    const SLEEP: SimDuration = SimDuration::from_millis(500);
    const REAP: SimDuration = SimDuration::from_millis(10);
    const SELF_EXIT: SimDuration = SimDuration::from_secs(1);
    // Each child's DEATH is read by the event loop with this chance: calibrated on 26 runs of
    // real Celery (docs/calibration.md, "Signals to the process group").
    const CAUGHT: f64 = 0.8;
    let mut order: Vec<usize> = (0..children).collect();
    order.shuffle(rng);
    // Killed by the event loop before it stopped.
    let killed_by_loop = SimDuration::from_millis(3);
    let mut killed: Vec<Option<SimDuration>> =
        (0..children).map(|_| rng.random_bool(CAUGHT).then_some(killed_by_loop)).collect();
    let mut now = SimDuration::from_millis(rng.random_range(10..=70));
    let mut is_busy = vec![false; children];
    for &b in busy {
        is_busy[b] = true;
    }
    let mut left = busy.len();
    let mut reaped = vec![false; children];
    let mut dead: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(busy.len());
    // Killed, not yet reaped: reaped by the first join at least DEAD_AFTER later.
    let mut dying: Vec<usize> = killed.iter().enumerate().filter(|(_, k)| k.is_some()).map(|(c, _)| c).collect();
    while left > 0 {
        for &c in &order {
            if reaped[c] {
                continue;
            }
            match killed[c] {
                None => {
                    // Its DEATH is read now, or it already exited by itself.
                    let at = if now >= SELF_EXIT { SELF_EXIT } else { now };
                    killed[c] = Some(at);
                    dying.push(c);
                }
                Some(_) => now = now + SLEEP,
            }
            dead.clear();
            dying.retain(|&d| {
                let gone = killed[d].is_some_and(|k| k + DEAD_AFTER <= now);
                if gone {
                    dead.push(d);
                }
                !gone
            });
            dead.sort_unstable();
            now = now + REAP.times(dead.len() as u64);
            for &d in &dead {
                reaped[d] = true;
                if is_busy[d] {
                    out.push((d, now));
                    left -= 1;
                }
            }
            if left == 0 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(id: u64, acked: bool) -> Exec {
        Exec {
            id: NonZeroU64::new(id + 1).unwrap(),
            tag: id,
            msg: Message::new(TaskRef::Header(0)),
            acked,
            run: 1,
            body: None,
            started: SimTime::ZERO,
        }
    }

    #[test]
    fn the_pool_hands_out_the_lowest_free_slot_across_words() {
        let mut pool = Pool::new(130);
        assert!(pool.is_idle());
        for s in 0..130 {
            assert_eq!(pool.first_free(), Some(s));
            pool.put(s, exec(s as u64, s % 2 == 0));
        }
        assert_eq!(pool.first_free(), None, "all 130 slots busy");
        assert_eq!(pool.unacked(), 65);
        assert_eq!(pool.take(129).map(|e| e.tag), Some(129));
        assert_eq!(pool.take(70).map(|e| e.tag), Some(70));
        assert_eq!(pool.take(70).map(|e| e.tag), None, "already free");
        assert_eq!(pool.first_free(), Some(70));
        pool.put(70, exec(1000, true));
        assert_eq!(pool.first_free(), Some(129));
        assert_eq!(pool.unacked(), 64, "129 was unacked, 70 was acked and is again");
        pool.set_acked(1);
        assert_eq!(pool.unacked(), 63);
        for s in 0..130 {
            pool.take(s);
        }
        assert!(pool.is_idle() && pool.unacked() == 0);
        assert_eq!(Pool::new(64).first_free(), Some(0));
        let mut one = Pool::new(1);
        one.put(0, exec(0, false));
        assert_eq!(one.first_free(), None, "no phantom slot past the size");
    }

    #[test]
    fn a_group_term_fails_each_busy_task_half_a_second_apart_at_most_twice() {
        // docs/calibration.md: over 26 real runs the last failure came k = 0, 1 or 2 sleeps of
        // 0.5 s after the stop loop started, in 8 %, 54 % and 38 % of runs.
        let mut bands = [0u32; 3];
        for seed in 0..1000 {
            let mut rng = crate::sim::rng::stream(seed, crate::sim::rng::Stream::Shutdown);
            let reaps = stop_loop_reaps(&mut rng, 6, &[0, 1, 2, 3]);
            let mut slots: Vec<usize> = reaps.iter().map(|(s, _)| *s).collect();
            slots.sort_unstable();
            assert_eq!(slots, vec![0, 1, 2, 3], "each busy child reaped once");
            for (_, after) in &reaps {
                let ms = after.0 / 1000;
                assert!((10..1250).contains(&ms), "seed {seed}: {ms} ms");
            }
            let last = reaps.iter().map(|(_, d)| d.0 / 1000).max().unwrap();
            bands[(last / 500).min(2) as usize] += 1;
        }
        assert!(bands[0] > 20 && bands[0] < 150, "{bands:?}");
        assert!(bands[1] > 400 && bands[1] < 650, "{bands:?}");
        assert!(bands[2] > 250 && bands[2] < 500, "{bands:?}");
        let mut rng = crate::sim::rng::stream(1, crate::sim::rng::Stream::Shutdown);
        assert!(stop_loop_reaps(&mut rng, 6, &[]).is_empty(), "no busy child, nothing to fail");
    }
}
