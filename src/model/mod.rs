//! The sans-IO model of Celery chords: broker, result backend, workers, canvas (chord_unlock and
//! the native counter) and the application, each a plain state machine. [`World::handle`] takes
//! one event at a time and schedules follow-ups through the engine's [`Schedule`]; it never
//! reads a clock or touches the network. Every rule cites the section of docs/celery-semantics.md
//! (a bare `§9`), docs/celery-source-notes.md ("source notes §4") or docs/rhesis-model.md
//! ("rhesis-model §c") that it implements; `tests/it/citations.rs` checks each one exists.

pub mod app;
pub mod backend;
pub mod broker;
pub mod canvas;
pub mod link;
pub mod operator;
pub mod sqlite;
pub mod worker;

use std::num::NonZeroU64;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{AckMode, CeleryConfig, TaskAttrs};
use crate::scenario::{BackendKind, BrokerKind, Direction, FaultKind, Node, RevokeTarget, Scenario};
use crate::sim::net::Net;
use crate::sim::rng::{Stream, stream};
use crate::sim::tcp::Parts;
use crate::sim::{Model, Schedule};
use crate::time::{SimDuration, SimTime};
use crate::trace::{KEEP, Note, Record};
use crate::version::DatabaseRetries;
use crate::words::{ResultValue, TaskRef, TaskState};

use app::App;
use backend::{Backend, Part};
use broker::Broker;
use worker::Worker;

/// A task message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The task id.
    pub task: TaskRef,
    /// `request.retries`.
    pub retries: u32,
    /// ETA/countdown.
    pub eta: Option<SimTime>,
    /// Redelivered after a restore or requeue.
    pub redelivered: bool,
    /// The body's argument (one entry per header result, as delivered): which of
    /// [`Stats::body_payloads`] it is.
    pub payload: Option<u32>,
    /// How many times this message (this task id and retry) has been delivered.
    pub deliveries: u32,
}

impl Message {
    /// A fresh message.
    pub fn new(task: TaskRef) -> Self {
        Message { task, retries: 0, eta: None, redelivered: false, payload: None, deliveries: 0 }
    }
}

/// A backend write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WriteOp {
    /// `task_track_started`.
    Started(TaskRef),
    /// A task state, with what follows it.
    State {
        /// The task.
        task: TaskRef,
        /// The state.
        state: TaskState,
        /// The value.
        value: Option<ResultValue>,
        /// Run `on_chord_part_return` after storing (Redis native, header tasks).
        part_return: bool,
        /// Call the task's own errbacks (a header with `task_allow_error_cb_on_chord_header`).
        errbacks: bool,
        /// Skip the store itself (ignore_result) but still do what follows.
        skip_store: bool,
    },
}

/// A backend write's attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attempt {
    /// The first: its writer read the row at `read` (the database backend's SUCCESS guard
    /// reads before it writes, `sqlite.rs`).
    First {
        /// When the row was read.
        read: SimTime,
    },
    /// Attempt `n + 1`, after `n` failed; the store gives up at `deadline`.
    Again {
        /// Failed attempts.
        n: u32,
        /// When it gives up.
        deadline: SimTime,
    },
}

/// A delivery to ack once a write has landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckAfter {
    /// Worker.
    pub worker: usize,
    /// Its incarnation when the write was issued.
    pub inc: u32,
    /// Delivery tag.
    pub tag: u64,
    /// The task.
    pub task: TaskRef,
}

/// Which execution a write or timer belongs to (24 bytes, and `Option<ExecRef>` too: events
/// stay small, and every event is moved several times).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRef {
    /// Worker.
    pub worker: usize,
    /// Its incarnation.
    pub inc: u32,
    /// Pool slot (below the worker's concurrency, a `u32`).
    pub slot: u32,
    /// Execution id.
    pub exec: NonZeroU64,
}

/// What ends an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    /// The task body returns or raises.
    Normal,
    /// The soft limit fires.
    Soft,
    /// The hard limit fires.
    Hard,
}

/// Everything that can happen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Apply the chord.
    Apply,
    /// A message arrives at the broker.
    Enqueue {
        /// Sender.
        from: Node,
        /// Message.
        msg: Message,
    },
    /// A delivery arrives at a worker.
    Deliver {
        /// Worker.
        worker: usize,
        /// Incarnation it was sent to.
        inc: u32,
        /// Delivery tag.
        tag: u64,
        /// Message.
        msg: Message,
    },
    /// An ETA comes due in a worker's timer.
    EtaDue {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
        /// Delivery tag.
        tag: u64,
    },
    /// An execution ends.
    ExecEnd(ExecRef, Finish),
    /// A backend write lands (or is retried).
    Write {
        /// Writer.
        from: Node,
        /// The execution waiting on it, if any.
        exec: Option<ExecRef>,
        /// The write.
        op: WriteOp,
        /// Which attempt this is.
        attempt: Attempt,
        /// A delivery to ack once the write has landed (rare: boxed to keep events small).
        then_ack: Option<Box<AckAfter>>,
    },
    /// Pool dispatch on a worker (after its main process was busy).
    Dispatch {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
    },
    /// kombu's Redis restore sweep on a worker's consumer.
    Sweep {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
    },
    /// A soft shutdown's wait is over: the cold shutdown goes on (5.5+).
    SoftShutdownEnd {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
    },
    /// A worker's reconnect attempt.
    Reconnect {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
        /// Attempts so far.
        attempt: u32,
    },
    /// A worker running before the chord is applied.
    WorkerStart(usize),
    /// A worker started later has booted (imports, pool): it connects.
    Booted {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
    },
    /// Mingle is over: the consumer consumes.
    Mingled {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
    },
    /// A scripted fault begins.
    Fault(usize),
    /// A scripted fault ends (heal, restart, outage over).
    FaultEnd(usize),
    /// An operator policy checks (its index).
    Policy(usize),
    /// A worker's main process reaps a pool child that died of a signal to the process group,
    /// and fails the child's task with WorkerLostError.
    ChildReaped(ExecRef),
    /// A worker's client would notice now that its broker link, cut at `cut_at`, is down
    /// (`link.rs: notice_at`).
    ConnectionCheck {
        /// Worker.
        worker: usize,
        /// Incarnation.
        inc: u32,
        /// When the cut it checks for began.
        cut_at: SimTime,
    },
    /// The kernel gives up on orphaned writes whose time is over (`link.rs: orphan`).
    OrphansGiveUp,
    /// Applying the chord, waiting on a cut link since `since`, raises if it still waits.
    ApplyGivesUp {
        /// When it began to wait.
        since: SimTime,
    },
    /// Publishes on cut links whose connection has failed by now are lost
    /// (`link.rs: publish_timeout`).
    PublishTimeout,
}

// Every event is moved several times between the model and the engine's slab: keep it small
// (shrinking it from 96 to 80 bytes took a sixth off a 100-test chord).
const _: () = assert!(std::mem::size_of::<Event>() <= 80);

/// Counters the verdict and the expectations read.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// `collect_results` executions.
    pub callback_runs: u64,
    /// Errback executions (inline calls and task runs).
    pub errback_runs: u64,
    /// Errback executions that acted: marked the run, not turned away by the terminal guard.
    pub errback_acted: u64,
    /// chord_unlock executions.
    pub chord_unlock_runs: u64,
    /// chord_unlock executions that started a second (or an interval) or more after their ETA
    /// (the verdict explains them, `check/explain.rs: late_polls`).
    pub late_polls: u64,
    /// Executions per header task.
    pub header_runs: Vec<u32>,
    /// The most delivered message: (task, retries, deliveries).
    pub most_delivered: Option<(TaskRef, u32, u32)>,
    /// Each payload the chord called the body with, in order (recorded before the publish,
    /// which can fail).
    pub body_payloads: Vec<Vec<Part>>,
    /// chord_unlock polls made.
    pub polls: u32,
}

/// The whole modelled system.
pub struct World {
    /// The scenario (configuration, workload, faults).
    pub sc: Scenario,
    /// Resolved header-task attributes.
    pub header_attrs: TaskAttrs,
    /// Resolved body attributes.
    pub body_attrs: TaskAttrs,
    /// Resolved chord_unlock attributes.
    pub unlock_attrs: TaskAttrs,
    /// Drawn duration of each header test.
    pub durations: Vec<SimDuration>,
    /// The broker.
    pub broker: Broker,
    /// The result backend.
    pub backend: Backend,
    /// The workers.
    pub workers: Vec<Worker>,
    /// The application.
    pub app: App,
    /// Links.
    pub net: Net,
    /// Counters.
    pub stats: Stats,
    /// The trace.
    pub trace: Vec<Record>,
    /// Items scanned by the events so far (see [`Model::work`]).
    pub work: u64,
    retry_rng: ChaCha8Rng,
    shutdown_rng: ChaCha8Rng,
    db_rng: ChaCha8Rng,
    sqlite: sqlite::Sqlite,
    last_poll: Option<(Vec<(u32, TaskState)>, bool)>,
    /// Per subject (each task slot, then the run): records kept, and where its fold is; empty
    /// until the trace holds [`COUNT_FROM`] records per subject (see [`World::keep`]).
    kept: Vec<(u32, Option<usize>)>,
    /// The trace length at which counting per subject starts.
    count_from: usize,
    next_exec: NonZeroU64,
    rr: usize,
    /// Workers whose restore sweeps are parked (`worker.rs: sweep`).
    parked_sweeps: usize,
    /// Writes of exited worker processes that the kernel still sends on a cut link
    /// (`link.rs: orphan`).
    orphans: Vec<link::Orphaned>,
    /// Since when applying the chord waits on a cut link (`link.rs: apply_waits`).
    apply_waiting: Option<SimTime>,
    /// Messages published on cut links, waiting (`link.rs: publish_on_cut_link`).
    cut_publishes: Vec<link::CutPublish>,
}

impl World {
    /// Build the world and the initial events for a scenario.
    pub fn new(sc: Scenario) -> (World, Vec<(SimTime, Event)>) {
        let n = sc.tests.len();
        let mut wl = stream(sc.seed, Stream::Workload);
        let durations = sc.tests.iter().map(|t| t.duration.draw(&mut wl)).collect();
        let classes = app::task_classes(&sc.app, &sc.celery);
        let header_attrs = sc.celery.resolve(&classes.header, &sc.app.header_task.attrs);
        let body_attrs = sc.celery.resolve(&classes.body, &sc.app.body_task.attrs);
        let unlock_attrs = sc.celery.resolve(&classes.unlock, &crate::config::Annotation::default());
        let workers = sc.topology.workers.iter().map(|w| Worker::new(w, sc.celery.prefetch_multiplier)).collect();
        let mut init: Vec<(SimTime, Event)> = (0..sc.topology.workers.len())
            .filter(|&i| sc.topology.workers[i].start)
            .map(|i| (SimTime::ZERO, Event::WorkerStart(i)))
            .collect();
        init.push((sc.app.submit_at, Event::Apply));
        for (i, f) in sc.faults.iter().enumerate() {
            init.push((f.at, Event::Fault(i)));
        }
        // Each operator policy's first check (`operator.rs`).
        for (i, p) in sc.policies.iter().enumerate() {
            init.push((sc.app.submit_at + p.at, Event::Policy(i)));
        }
        let world = World {
            header_attrs,
            body_attrs,
            unlock_attrs,
            durations,
            broker: Broker::new(sc.topology.broker),
            backend: Backend::new(sc.topology.backend, sc.celery.version, n),
            workers,
            app: App::new(n),
            net: Net::default(),
            stats: Stats { header_runs: vec![0; n], ..Stats::default() },
            // About seven records per test in a fault-free run, nine or more with faults (a
            // worker kill and a partition: 9.4). Regrowth would copy the trace and double its
            // memory; reserved pages that are never written cost nothing.
            trace: Vec::with_capacity(10 * n + 64),
            work: 0,
            retry_rng: stream(sc.seed, Stream::Retry),
            shutdown_rng: stream(sc.seed, Stream::Shutdown),
            db_rng: stream(sc.seed, Stream::Database),
            sqlite: sqlite::Sqlite::default(),
            orphans: Vec::new(),
            apply_waiting: None,
            cut_publishes: Vec::new(),
            last_poll: None,
            kept: Vec::new(),
            count_from: COUNT_FROM * (n + 4),
            next_exec: NonZeroU64::MIN,
            rr: 0,
            parked_sweeps: 0,
            sc,
        };
        (world, init)
    }

    /// The Celery configuration.
    pub fn cfg(&self) -> &CeleryConfig {
        &self.sc.celery
    }

    /// Number of header tests.
    pub fn n(&self) -> usize {
        self.sc.tests.len()
    }

    /// Record a note. After [`FOLD_AFTER`] polls, the routine records of a poll that finds the
    /// header as the previous one did (its publish, delivery, start, ack and the poll itself)
    /// are folded into one `PollsFolded` record, so memory does not grow with simulated time.
    /// Inlined for the common case, every record of a run that is neither polling for long nor
    /// repeating itself: a push.
    #[inline]
    pub(crate) fn note(&mut self, at: SimTime, note: Note) {
        if self.stats.polls <= FOLD_AFTER && self.trace.len() < self.count_from && !matches!(note, Note::Poll { .. }) {
            self.trace.push(Record { at, note });
        } else {
            self.note_folding(at, note);
        }
    }

    /// [`World::note`] past its common case.
    #[inline(never)]
    fn note_folding(&mut self, at: SimTime, note: Note) {
        let routine = self.stats.polls > FOLD_AFTER
            && match &note {
                Note::Published { task, .. }
                | Note::Delivered { task, .. }
                | Note::Started { task, .. }
                | Note::Acked { task, .. } => *task == TaskRef::ChordUnlock,
                Note::Poll { not_ready, read_failed, .. } => {
                    self.last_poll.as_ref().is_some_and(|(n, r)| n == not_ready && r == read_failed)
                }
                _ => false,
            };
        if let Note::Poll { not_ready, read_failed, .. } = &note
            && !routine
        {
            self.last_poll = Some((not_ready.clone(), *read_failed));
        }
        if !routine {
            self.keep(at, note);
            return;
        }
        // A fold opens with a poll and extends over the routine records that follow it.
        let is_poll = matches!(note, Note::Poll { .. });
        match self.trace.last_mut() {
            Some(Record { note: Note::PollsFolded { until, polls, .. }, .. }) => {
                *until = at;
                *polls += u32::from(is_poll);
            }
            _ if is_poll => self.trace.push(Record { at, note: Note::PollsFolded { from: at, until: at, polls: 1 } }),
            _ => self.trace.push(Record { at, note }),
        }
    }

    /// Keep a record, or fold it once its subject has [`KEEP`] records: each subject then has
    /// one fold record, updated in place, so the trace is proportional to the tests. Counting
    /// per subject costs a little per record, so it starts only once the trace holds
    /// [`COUNT_FROM`] records per subject on average, which no run that does not repeat itself
    /// reaches (about seven per test without faults, ten with them); from then on each subject
    /// keeps at most [`KEEP`] records or what it had by then.
    #[inline]
    fn keep(&mut self, at: SimTime, note: Note) {
        if self.trace.len() < self.count_from {
            self.trace.push(Record { at, note });
            return;
        }
        let n = self.n();
        if self.kept.is_empty() {
            self.kept = vec![(0, None); n + 4];
            for r in &self.trace {
                let subject = r.note.task().map_or(n + 3, |t| t.slot(n));
                self.kept[subject].0 = self.kept[subject].0.saturating_add(1);
            }
        }
        let subject = note.task().map_or(n + 3, |t| t.slot(n));
        let (count, fold) = &mut self.kept[subject];
        if *count < KEEP {
            *count += 1;
            self.trace.push(Record { at, note });
            return;
        }
        match *fold {
            Some(i) => {
                if let Note::Folded { until, records, .. } = &mut self.trace[i].note {
                    *until = at;
                    *records += 1;
                }
            }
            None => {
                *fold = Some(self.trace.len());
                let task = note.task();
                let folded = Note::Folded { task, from: at, until: at, records: 1 };
                self.trace.push(Record { at, note: folded });
            }
        }
    }

    pub(crate) fn latency(&self) -> SimDuration {
        self.sc.topology.latency
    }

    /// The ack mode of a task: an `acks_late` annotation wins over `task_acks_late`.
    pub(crate) fn ack_mode(&self, task: TaskRef) -> AckMode {
        let attrs = match task {
            TaskRef::Header(_) => &self.header_attrs,
            TaskRef::Body => &self.body_attrs,
            TaskRef::ChordUnlock => &self.unlock_attrs,
            TaskRef::Errback => return self.cfg().acks,
        };
        match attrs.acks_late {
            Some(true) => AckMode::Late,
            Some(false) => AckMode::Early,
            None => self.cfg().acks,
        }
    }

    /// Whether a node can write to the backend now.
    pub(crate) fn backend_reachable(&self, from: &Node) -> bool {
        self.backend.up && self.net.can_send(from, &Node::Backend)
    }

    /// Whether a node can publish now.
    pub(crate) fn broker_reachable(&self, from: &Node) -> bool {
        self.broker.up && self.net.can_send(from, &Node::Broker)
    }

    /// Publish from `from`. Celery publishes synchronously with `task_publish_retry_policy`
    /// (3 retries within about 0.6 s); the model decides at once whether the broker can be
    /// reached, and the caller handles a failure the way Celery handles the raised error.
    pub(crate) fn send(&mut self, now: SimTime, from: &Node, msg: Message, out: &mut Schedule<Event>) -> bool {
        self.send_after(now, SimDuration::ZERO, from, msg, out)
    }

    /// [`World::send`], the publish leaving `after` from now (the producer's first publish
    /// opening its connection before the chord's other messages).
    pub(crate) fn send_after(
        &mut self,
        now: SimTime,
        after: SimDuration,
        from: &Node,
        msg: Message,
        out: &mut Schedule<Event>,
    ) -> bool {
        if !self.broker_reachable(from) {
            // Across a cut nobody has noticed the publish is written and waits on the link
            // (link.rs); the producer's on Redis never gets here: its apply waits instead.
            let blind = match *from {
                Node::Worker(w) => self.workers[w].on_cut_link(),
                Node::Producer => self.sc.topology.broker == BrokerKind::Amqp,
                _ => false,
            };
            if self.broker.up && blind {
                self.publish_on_cut_link(now, from, msg, out);
                return true;
            }
            self.note(now, Note::PublishFailed { task: msg.task, from: from.clone() });
            return false;
        }
        let lat = self.latency();
        out.send(from, Node::Broker, after + lat, Event::Enqueue { from: from.clone(), msg });
        true
    }

    /// Issue a backend write from `from` (the pool child running `exec`, else that node's main
    /// process) and return when it lands. Redis: after `writes_before + 1` write latencies (a
    /// process that stores twice in a row waits for the first). The database: as SQLite charges
    /// it (`sqlite.rs`). Its retry budget starts at the first failed attempt.
    pub(crate) fn write(
        &mut self,
        out: &mut Schedule<Event>,
        from: Node,
        exec: Option<ExecRef>,
        op: WriteOp,
        writes_before: u64,
    ) -> SimTime {
        self.write_after(out, SimDuration::ZERO, from, exec, op, writes_before)
    }

    /// [`World::write`], issued `after` from now (a pool child's STARTED, once the job has
    /// reached it).
    pub(crate) fn write_after(
        &mut self,
        out: &mut Schedule<Event>,
        after: SimDuration,
        from: Node,
        exec: Option<ExecRef>,
        op: WriteOp,
        writes_before: u64,
    ) -> SimTime {
        let now = out.now();
        let (read, lands) = self.write_times(now, after, &from, exec, writes_before);
        let event = Event::Write { from: from.clone(), exec, op, attempt: Attempt::First { read }, then_ack: None };
        out.send(&from, Node::Backend, lands.since(now), event);
        lands
    }

    /// When a write issued `after` from now reads its row and when it lands.
    fn write_times(
        &mut self,
        now: SimTime,
        after: SimDuration,
        from: &Node,
        exec: Option<ExecRef>,
        writes_before: u64,
    ) -> (SimTime, SimTime) {
        let hold = self.sc.topology.backend_write_latency;
        match self.sc.topology.backend {
            BackendKind::Redis => {
                let lands = now + after + hold.times(writes_before + 1);
                (lands, lands)
            }
            BackendKind::Database => {
                let who = match (from, exec) {
                    (_, Some(r)) => (r.worker, Some(r.slot)),
                    (Node::Worker(w), None) => (*w, None),
                    _ => (usize::MAX, None),
                };
                self.sqlite.write(now, after, who, hold, &mut self.db_rng)
            }
        }
    }

    /// A write from worker `w` whose delivery `tag` is acked only once it has landed (a revoked
    /// message: `_announce_revoked` stores, then acks; a failed store leaves it unacked).
    pub(crate) fn write_then_ack(&mut self, out: &mut Schedule<Event>, w: usize, tag: u64, task: TaskRef, op: WriteOp) {
        let now = out.now();
        let (read, lands) = self.write_times(now, SimDuration::ZERO, &Node::Worker(w), None, 0);
        let then_ack = Some(Box::new(AckAfter { worker: w, inc: self.workers[w].inc, tag, task }));
        let from = Node::Worker(w);
        let event = Event::Write { from: from.clone(), exec: None, op, attempt: Attempt::First { read }, then_ack };
        out.send(&from, Node::Backend, lands.since(now), event);
    }

    /// How long a result store keeps trying (docs/celery-source-notes.md §7; celery-semantics
    /// §1, §12 "DB backend retries"). Redis: a refused connection fails at once, an unreachable
    /// host after the connect timeout (`redis_socket_connect_timeout`, else
    /// `redis_socket_timeout`, 120 s); with `result_backend_always_retry` the store retries
    /// `result_backend_max_retries` times (unlimited by default) with backoff. The database: 3
    /// immediate attempts up to 5.6, where 5.5 ignores always_retry and 5.6.3 honours it; 5.7
    /// always retries, 3 times unless `result_backend_max_retries` says otherwise.
    pub(crate) fn store_patience(&self, from: &Node) -> SimDuration {
        let cfg = self.cfg();
        let backoff = |retries: Option<u32>| match retries {
            None => SimDuration(u64::MAX / 4),
            Some(n) => (0..n).map(retry_backoff).fold(SimDuration::ZERO, |a, b| a + b),
        };
        match self.sc.topology.backend {
            BackendKind::Redis if cfg.backend_always_retry => backoff(cfg.backend_max_retries),
            BackendKind::Redis if self.backend.up && !self.net.can_send(from, &Node::Backend) => {
                cfg.redis_connect_timeout
            }
            BackendKind::Redis => SimDuration::ZERO,
            BackendKind::Database => match cfg.version.database_store_retries() {
                DatabaseRetries::Immediate => SimDuration::ZERO,
                DatabaseRetries::AlwaysRetryHonoured if cfg.backend_always_retry => backoff(cfg.backend_max_retries),
                DatabaseRetries::AlwaysRetryHonoured => SimDuration::ZERO,
                DatabaseRetries::FourWithBackoff => backoff(Some(cfg.backend_max_retries.unwrap_or(3))),
            },
        }
    }

    /// The wait before store attempt `attempt + 1`: while connecting to an unreachable Redis
    /// host, about a second per try; otherwise the always_retry backoff.
    pub(crate) fn store_retry_gap(&self, attempt: u32) -> SimDuration {
        match self.sc.topology.backend {
            BackendKind::Redis if !self.cfg().backend_always_retry => SimDuration::from_secs(1),
            _ => retry_backoff(attempt),
        }
    }

    /// The next execution id.
    pub(crate) fn exec_id(&mut self) -> NonZeroU64 {
        self.next_exec = self.next_exec.checked_add(1).expect("fewer than 2^64 executions");
        self.next_exec
    }

    /// Deliver queued messages to workers with free prefetch, round-robin.
    pub(crate) fn pump(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        if !self.broker.up || self.broker.stalled(now) {
            return;
        }
        let nw = self.workers.len();
        while !self.broker.queue.is_empty() {
            let mut chosen = None;
            for k in 0..nw {
                let w = (self.rr + k) % nw;
                if self.workers[w].can_take() && self.net.connected(&Node::Broker, &Node::Worker(w)) {
                    chosen = Some(w);
                    self.work += k as u64;
                    break;
                }
            }
            if chosen.is_none() {
                self.work += nw as u64;
            }
            let Some(w) = chosen else { return };
            self.rr = (w + 1) % nw;
            self.deliver_one(now, w, out);
        }
    }

    /// Deliver queued messages to worker `w` alone while its prefetch window has room: its
    /// window opened, nobody else's did.
    pub(crate) fn pump_to(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        if !self.broker.up || self.broker.stalled(now) || !self.net.connected(&Node::Broker, &Node::Worker(w)) {
            return;
        }
        while !self.broker.queue.is_empty() && self.workers[w].can_take() {
            self.deliver_one(now, w, out);
        }
    }

    /// Hand the queue's head, if any, to worker `w` (its callers loop while the queue is not
    /// empty).
    #[inline]
    fn deliver_one(&mut self, now: SimTime, w: usize, out: &mut Schedule<Event>) {
        let Some((tag, msg)) = self.broker.deliver(w, now) else { return };
        if self.stats.most_delivered.is_none_or(|(_, _, n)| msg.deliveries > n) {
            self.stats.most_delivered = Some((msg.task, msg.retries, msg.deliveries));
        }
        self.note(now, Note::Delivered { task: msg.task, worker: w, tag, redelivered: msg.redelivered });
        self.workers[w].in_flight(&msg, now);
        let inc = self.workers[w].inc;
        let lat = self.latency();
        out.send(&Node::Broker, Node::Worker(w), lat, Event::Deliver { worker: w, inc, tag, msg });
    }

    fn fault(&mut self, now: SimTime, i: usize, start: bool, out: &mut Schedule<Event>) {
        let kind = self.sc.faults[i].kind.clone();
        let names = |w: usize| format!("w{}", w + 1);
        match (kind, start) {
            (FaultKind::KillWorker { worker, restart_after }, true) => {
                self.note(now, Note::Fault { what: format!("SIGKILL worker {}", names(worker)) });
                self.kill_worker(now, worker, out);
                if let Some(d) = restart_after {
                    out.after(d, Event::FaultEnd(i));
                }
            }
            (FaultKind::KillWorker { worker, .. }, false)
            | (FaultKind::WarmShutdown { worker, .. }, false)
            | (FaultKind::ColdShutdown { worker, .. }, false)
            | (FaultKind::StartWorker { worker }, true) => {
                self.note(now, Note::Heal { what: format!("start worker {}", names(worker)) });
                self.start_worker(now, worker, false, out);
            }
            (FaultKind::StartWorker { .. }, false) => {}
            (FaultKind::KillChild { test, after_start: None }, true)
            | (FaultKind::KillChild { test, after_start: Some(_) }, false) => {
                self.note(now, Note::Fault { what: format!("SIGKILL the pool child running test {test}") });
                self.kill_child(now, TaskRef::Header(test as u32), out);
            }
            // Armed: the kill comes `after_start` after the test's first execution starts
            // (worker.rs: start_exec schedules this fault's end).
            (FaultKind::KillChild { after_start: Some(_), .. }, true) | (FaultKind::KillChild { .. }, false) => {}
            (FaultKind::WarmShutdown { worker, restart_after, group }, true) => {
                let to = if group { " to its process group" } else { " to its main process" };
                self.note(now, Note::Fault { what: format!("warm shutdown (TERM{to}) of {}", names(worker)) });
                self.warm_shutdown(now, worker, restart_after.map(|_| i), out);
                if group {
                    self.children_terminated(now, worker, true, out);
                }
            }
            (FaultKind::ColdShutdown { worker, restart_after, group }, true) => {
                let to = if group { " to its process group" } else { " to its main process" };
                self.note(now, Note::Fault { what: format!("cold shutdown (QUIT{to}) of {}", names(worker)) });
                if group {
                    self.children_terminated(now, worker, false, out);
                }
                self.cold_shutdown_signal(now, worker, out);
                if let Some(d) = restart_after {
                    out.after(d, Event::FaultEnd(i));
                }
            }
            (FaultKind::Stall { broker, backend, duration }, true) => {
                let what = crate::scenario::stalled(broker, backend);
                self.note(now, Note::Fault { what: format!("{what} stalls for {duration}: commands wait") });
                if broker {
                    self.broker.stalled_until = now + duration;
                }
                if backend {
                    self.backend.stalled_until = now + duration;
                }
                out.after(duration, Event::FaultEnd(i));
            }
            (FaultKind::Stall { broker, backend, .. }, false) => {
                let what = crate::scenario::stalled(broker, backend);
                self.note(now, Note::Heal { what: format!("{what} answers again") });
                self.pump(now, out);
            }
            (FaultKind::Partition { a, b, direction, heal_after }, true) => {
                let arrow = if direction == Direction::Both { "<->" } else { "->" };
                self.note(now, Note::Fault { what: format!("partition {a} {arrow} {b}") });
                self.net.cut(a.clone(), b.clone());
                if direction == Direction::Both {
                    self.net.cut(b.clone(), a.clone());
                }
                self.links_changed(now, out);
                if let Some(d) = heal_after {
                    out.after(d, Event::FaultEnd(i));
                }
            }
            (FaultKind::Partition { a, b, direction, .. }, false) => {
                self.note(now, Note::Heal { what: format!("partition {a} / {b} healed") });
                self.net.heal(a.clone(), b.clone());
                if direction == Direction::Both {
                    self.net.heal(b, a);
                }
                self.links_changed(now, out);
            }
            (FaultKind::BrokerRestart { down_for, .. }, true) => {
                self.note(now, Note::Fault { what: format!("broker restart, down for {down_for}") });
                self.broker.up = false;
                self.links_changed(now, out);
                out.after(down_for, Event::FaultEnd(i));
            }
            (FaultKind::BrokerRestart { persistent, .. }, false) => {
                let persistent = persistent.unwrap_or(self.sc.topology.broker_persistent);
                self.work += (self.broker.queue.len() + self.broker.unacked.len()) as u64;
                let lost: Vec<TaskRef> = if persistent {
                    Vec::new()
                } else {
                    self.broker
                        .queue
                        .iter()
                        .map(|m| m.task)
                        .chain(self.broker.unacked.values().map(|u| u.msg.task))
                        .collect()
                };
                self.broker.restart(persistent);
                // AMQP: deliveries of closed connections come back when the broker does.
                if self.sc.topology.broker == BrokerKind::Amqp {
                    let tags: Vec<u64> = self.broker.unacked.iter().map(|(t, _)| t).collect();
                    let back = self.broker.restore_tags(tags);
                    if !back.is_empty() {
                        let tasks = back.iter().map(|(_, m)| m.task).collect();
                        self.note(now, Note::Restored { tasks, sweep: false });
                    }
                }
                self.broker.up = true;
                self.note(
                    now,
                    Note::Heal { what: format!("broker up ({})", if persistent { "persistent" } else { "empty" }) },
                );
                for task in lost {
                    self.note(now, Note::Lost { task, why: crate::trace::Loss::BrokerWiped });
                }
                // An apply that waited on a cut link goes on if the link works (link.rs).
                self.cut_writes_settle(now, out);
            }
            (FaultKind::BackendOutage { duration, lose_data }, true) => {
                self.note(
                    now,
                    Note::Fault {
                        what: format!(
                            "result backend outage for {duration}{}",
                            if lose_data { ", data lost" } else { "" }
                        ),
                    },
                );
                self.backend.up = false;
                if lose_data {
                    self.work += self.n() as u64;
                    self.backend.wipe();
                }
                out.after(duration, Event::FaultEnd(i));
            }
            (FaultKind::BackendOutage { .. }, false) => {
                self.note(now, Note::Heal { what: "result backend up".into() });
                self.backend.up = true;
            }
            (FaultKind::Revoke { target, terminate }, true) => {
                let task = match target {
                    RevokeTarget::Test(t) => TaskRef::Header(t as u32),
                    RevokeTarget::ChordUnlock => TaskRef::ChordUnlock,
                    RevokeTarget::Body => TaskRef::Body,
                };
                self.note(
                    now,
                    Note::Fault { what: format!("revoke {task}{}", if terminate { " (terminate)" } else { "" }) },
                );
                self.revoke(now, task, terminate, out);
            }
            (FaultKind::Revoke { .. }, false) | (FaultKind::CancelRun, false) => {}
            (FaultKind::CancelRun, true) => {
                self.note(now, Note::Fault { what: "an operator cancels the run".into() });
                self.cancel_run(now, out);
            }
        }
    }

    /// After any change of links or broker state: a worker whose broker went down loses its
    /// connection at once (the server closed it); one whose link was cut loses it when its
    /// client notices (`link.rs`), and one whose link healed before that keeps it. The others
    /// may reconnect later through their retry loop.
    fn links_changed(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        self.work += self.workers.len() as u64;
        for w in 0..self.workers.len() {
            let wk = &self.workers[w];
            if wk.status == worker::Status::Down || !wk.connected {
                continue;
            }
            let linked = self.net.connected(&Node::Broker, &Node::Worker(w));
            if !self.broker.up {
                // A draining worker only acks: what it acks now fails (link.rs: settle_tag).
                if self.workers[w].is_running() {
                    self.connection_lost(now, w, out);
                }
            } else if !linked {
                self.link_cut(now, w, out);
            } else {
                self.link_healed(now, w);
            }
        }
        self.cut_writes_settle(now, out);
        self.pump(now, out);
    }
}

/// Records per subject, on average, before the trace starts counting them per subject.
const COUNT_FROM: usize = 16;

/// Polls recorded in full before identical ones are folded.
const FOLD_AFTER: u32 = 20;

/// `result_backend_always_retry`'s sleep before retry `k + 1`: from
/// `result_backend_base_sleep_between_retries_ms` (10 ms), doubling, at most
/// `result_backend_max_sleep_between_retries_ms` (10 s); the jitter is left out.
fn retry_backoff(k: u32) -> SimDuration {
    SimDuration::from_millis(10u64 << k.min(20)).min(SimDuration::from_secs(10))
}

/// The parts the network driver makes hosts of (`sim/tcp.rs`).
impl Parts for World {
    fn parts(&self) -> Vec<Node> {
        let workers = (0..self.workers.len()).map(Node::Worker);
        [Node::Producer, Node::Broker, Node::Backend].into_iter().chain(workers).collect()
    }

    fn cut(&self, from: &Node, to: &Node) -> bool {
        !self.net.can_send(from, to)
    }

    fn running(&self, part: &Node) -> Option<u32> {
        match part {
            Node::Worker(w) => (self.workers[*w].status != worker::Status::Down).then_some(self.workers[*w].inc),
            Node::Broker => self.broker.up.then_some(0),
            Node::Backend => self.backend.up.then_some(0),
            Node::Producer => Some(0),
        }
    }

    fn stalled(&self, part: &Node, now: SimTime) -> bool {
        match part {
            Node::Broker => self.broker.stalled(now),
            Node::Backend => self.backend.stalled(now),
            _ => false,
        }
    }
}

impl Model for World {
    type Event = Event;

    fn work(&self) -> u64 {
        self.work
    }

    /// Messages travel one link latency; most results land one backend write latency after
    /// they are issued (see [`World::send`], [`World::write`]).
    fn fixed_delays(&self) -> Vec<SimDuration> {
        let t = &self.sc.topology;
        // The chord's messages after the producer's first publish leave on a lane too.
        let mut delays = vec![t.latency, t.backend_write_latency, canvas::FIRST_PUBLISH + t.latency];
        delays.dedup();
        delays
    }

    fn handle(&mut self, now: SimTime, event: Event, out: &mut Schedule<Event>) {
        match event {
            Event::Apply => self.apply_chord(now, out),
            Event::Enqueue { from, msg } => {
                if self.broker.stalled(now) {
                    // A publish to a stalled broker waits until it answers (celery-semantics
                    // §9 "Stall"): nothing breaks, nothing is lost.
                    out.at(self.broker.stalled_until, Event::Enqueue { from, msg });
                    return;
                }
                if !self.broker.up {
                    self.note(now, Note::Lost { task: msg.task, why: crate::trace::Loss::BrokerDown });
                    return;
                }
                self.note(now, Note::Published { task: msg.task, retries: msg.retries, eta: msg.eta, from });
                self.broker.queue.push_back(msg);
                self.unpark_sweeps(now, out);
                self.pump(now, out);
            }
            Event::Deliver { worker, inc, tag, msg } => self.receive(now, worker, inc, tag, msg, out),
            Event::EtaDue { worker, inc, tag } => self.eta_due(now, worker, inc, tag, out),
            Event::ExecEnd(r, finish) => self.exec_end(now, r, finish, out),
            Event::Write { from, exec, op, attempt, then_ack } => {
                self.write_lands(now, from, exec, op, (attempt, then_ack), out)
            }
            Event::Dispatch { worker, inc } => {
                if self.workers[worker].inc == inc {
                    self.dispatch(now, worker, out);
                }
            }
            Event::Sweep { worker, inc } => self.sweep(now, worker, inc, out),
            Event::SoftShutdownEnd { worker, inc } => {
                if self.workers[worker].inc == inc {
                    self.cold_shutdown(now, worker, out);
                }
            }
            Event::Reconnect { worker, inc, attempt } => self.reconnect(now, worker, inc, attempt, out),
            Event::WorkerStart(w) => self.start_worker(now, w, true, out),
            Event::Booted { worker, inc } => self.booted(now, worker, inc, out),
            Event::Mingled { worker, inc } => self.mingled(now, worker, inc, out),
            Event::Fault(i) => self.fault(now, i, true, out),
            Event::FaultEnd(i) => self.fault(now, i, false, out),
            Event::Policy(i) => self.policy_check(now, i, out),
            Event::ChildReaped(r) => self.child_reaped(now, r, out),
            Event::ConnectionCheck { worker, inc, cut_at } => self.connection_check(now, worker, inc, cut_at, out),
            Event::OrphansGiveUp => self.orphans_give_up(now),
            Event::ApplyGivesUp { since } => self.apply_gives_up(now, since),
            Event::PublishTimeout => self.publish_timeout(now),
        }
    }
}
