//! The canvas: applying the chord, chord_unlock polling (celery-semantics §5), the Redis native
//! part-return (§6), chord error delivery (`chord_error_from_stack`, §7), task retries (§3), and
//! what happens when a result-backend write lands.

use super::backend::{Part, PartReturn, StoreOutcome};
use super::worker::{Exec, Settle};
use super::{AckAfter, Attempt, Event, ExecRef, Message, World, WriteOp};
use crate::config::Source;
use crate::scenario::{BrokerKind, Errback, Node, Outcome};
use crate::sim::Schedule;
use crate::time::{SimDuration, SimTime};
use crate::trace::{Note, PartNote, Writer};
use crate::words::{ErrorKind, ResultValue, TaskRef, TaskState};

/// §5 step 1: the first poll waits for the chord's `countdown`, 1 s by default.
const UNLOCK_COUNTDOWN: SimDuration = SimDuration::from_secs(1);
/// The producer's first publish opens its broker connection (kombu connects lazily, on the
/// first `publish`): measured 9–11 ms for a client's first message, about 1 ms for the next
/// (docs/calibration.md "Applying the chord"). The chord's other messages go out after it.
pub(crate) const FIRST_PUBLISH: SimDuration = SimDuration::from_millis(10);

impl World {
    /// `chord(header)(body)`: §5 step 1–2 for polling backends, §6 step 1 for Redis.
    pub(crate) fn apply_chord(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        self.app.set_status(now, crate::scenario::RunStatus::Progress, Writer::Parent, &mut self.trace);
        let polling = !self.native_chord();
        let producer = Node::Producer;
        if !polling && !self.backend_reachable(&producer) {
            // Redis: set_chord_size raises. Polling backends write nothing at apply time
            // (fallback_chord_unlock only publishes; docs/celery-source-notes.md).
            self.note(now, Note::ApplyFailed { why: "the result backend is unreachable" });
            return;
        }
        if !self.broker.up {
            self.note(now, Note::ApplyFailed { why: "the broker is unreachable" });
            return;
        }
        if !self.broker_reachable(&producer) && self.sc.topology.broker == BrokerKind::Redis {
            // The LPUSH waits for its reply (link.rs: apply_waits).
            self.apply_waits(now, out);
            return;
        }
        self.publish_chord(now, out);
    }

    /// Applying the chord publishes its messages (on AMQP over a cut link too: they wait on it,
    /// `link.rs`).
    pub(crate) fn publish_chord(&mut self, now: SimTime, out: &mut Schedule<Event>) {
        let n = self.n() as u32;
        let polling = !self.native_chord();
        let producer = Node::Producer;
        self.note(now, Note::ChordApplied { tests: n, polling });
        if n == 0 {
            // §5 step 1: an empty header runs the body at once with [].
            self.send_body(now, &producer, Vec::new(), out);
            return;
        }
        // chord_unlock's ETA counts from before its publish (`apply_async(countdown=…)`), the
        // first; the header's messages follow it. The first message goes at once, the rest
        // after the first publish's cost.
        if polling {
            let mut unlock = Message::new(TaskRef::ChordUnlock);
            unlock.eta = Some(now + UNLOCK_COUNTDOWN);
            self.send_after(now, SimDuration::ZERO, &producer, unlock, out);
        } else {
            let ttl = self.cfg().chord_key_ttl();
            self.backend.set_chord_size(n, now, ttl);
        }
        for i in 0..n {
            let after = if i == 0 && !polling { SimDuration::ZERO } else { FIRST_PUBLISH };
            self.send_after(now, after, &producer, Message::new(TaskRef::Header(i)), out);
        }
    }

    /// chord_unlock's `max_retries` (§5 step 3): the per-chord option, else the task attribute
    /// after annotations (`'*'` last), else the class default None (poll for ever).
    pub fn unlock_max_retries(&self) -> (Option<u32>, Source) {
        match self.sc.app.chord_max_retries {
            Some(m) => (Some(m), Source::ChordOption),
            None => (self.unlock_attrs.class.max_retries, self.unlock_attrs.max_retries_source.clone()),
        }
    }

    /// How late after its ETA a poll is said to be late: a second, or an interval if longer.
    pub fn late_poll_threshold(&self) -> SimDuration {
        SimDuration::from_secs(1).max(self.unlock_interval())
    }

    /// chord_unlock's interval: the per-chord `interval`, else `default_retry_delay`, which is
    /// `result_chord_retry_interval` unless an annotation changed it (§5 step 3).
    pub fn unlock_interval(&self) -> SimDuration {
        self.sc.app.chord_interval.unwrap_or(self.unlock_attrs.class.default_retry_delay)
    }

    /// One chord_unlock run (§5 step 3–5).
    pub(crate) fn poll(&mut self, now: SimTime, r: ExecRef, e: &Exec, out: &mut Schedule<Event>) {
        if self.backend.stalled(now) {
            // `ready()` waits for the stalled backend to answer (§9 "Stall").
            out.at(self.backend.stalled_until, Event::ExecEnd(r, super::Finish::Normal));
            return;
        }
        let w = r.worker;
        let me = Node::Worker(w);
        let n_poll = e.msg.retries;
        self.stats.polls = self.stats.polls.max(n_poll + 1);
        let readable = self.backend_reachable(&me);
        // The first four results not ready, for the trace (§5 step 3: `ready()` stops at the
        // first); the backend keeps them indexed, so a poll does not read the whole header.
        let not_ready = if readable { self.backend.not_ready(now, 4) } else { Vec::new() };
        self.work += not_ready.len() as u64 + 1;
        self.note(now, Note::Poll { n: n_poll, not_ready: not_ready.clone(), read_failed: !readable });
        if !readable || !not_ready.is_empty() {
            // `self.retry(countdown=interval, max_retries=…)`; with `exc` when ready() raised.
            let (max, source) = self.unlock_max_retries();
            let next = e.msg.retries + 1;
            if max.is_some_and(|m| next > m) {
                let fails_body = self.cfg().version.unlock_give_up_fails_body();
                self.note(
                    now,
                    Note::UnlockGaveUp {
                        polls: next,
                        max_retries: max.unwrap_or(0),
                        source: source.to_string(),
                        fails_body,
                    },
                );
                self.finish_exec(now, r, Settle::Ack, out);
                if fails_body {
                    // §12 (5.7): the body fails with a ChordError and its errbacks run.
                    self.chord_error(now, &me, "chord_unlock retries exhausted".into(), out);
                }
                return;
            }
            let mut msg = Message::new(TaskRef::ChordUnlock);
            msg.retries = next;
            msg.eta = Some(now + self.unlock_interval());
            let refused = !self.send(now, &me, msg, out);
            self.finish_exec(now, r, Settle::Ack, out);
            if refused {
                // §12: a refused retry publish is Reject(requeue=False): up to 5.6 the poll chain
                // just dies; 5.7 fails the body through chord_error_from_stack.
                self.note(now, Note::RetriesExhausted { task: TaskRef::ChordUnlock });
                if self.cfg().version.unlock_give_up_fails_body() {
                    self.chord_error(now, &me, "chord_unlock could not be retried: publish refused".into(), out);
                }
            }
            return;
        }
        // Ready: join in header order with propagation. The join reads nothing: ready() cached
        // every result it read, and get() returns the cache, so result_chord_join_timeout is
        // never reached (§5 step 3; docs/celery-source-notes.md §12).
        self.work += self.n() as u64;
        let culprit = (0..self.n() as u32).find(|&i| self.backend.state(i as usize, now).propagates());
        self.finish_exec(now, r, Settle::Ack, out);
        match culprit {
            Some(i) => self.chord_error(now, &me, format!("Dependency test {i} raised"), out),
            None => {
                let parts: Vec<Part> = (0..self.n() as u32)
                    .map(|i| Part { test: i, state: TaskState::Success, value: self.backend.value(i as usize, now) })
                    .collect();
                self.send_body(now, &me, parts, out);
            }
        }
    }

    /// `body.delay(values)`; a failed publish is ChordError('Callback error') (§5, §6).
    fn send_body(&mut self, now: SimTime, from: &Node, parts: Vec<Part>, out: &mut Schedule<Event>) -> bool {
        self.note(now, Note::BodyCalled { entries: parts.len() as u32 });
        let mut msg = Message::new(TaskRef::Body);
        msg.payload = Some(self.stats.body_payloads.len() as u32);
        self.stats.body_payloads.push(parts);
        if self.send(now, from, msg, out) {
            return true;
        }
        self.chord_error(now, from, "Callback error: publishing the body failed".into(), out);
        false
    }

    /// `chord_error_from_stack` for a task body (§7): the body's errbacks (new-style inline in
    /// the process that found the failure, old-style sent as a task), then body FAILURE.
    pub(crate) fn chord_error(&mut self, now: SimTime, from: &Node, why: String, out: &mut Schedule<Event>) {
        let errback = self.sc.app.errback != Errback::None;
        self.note(now, Note::ChordError { why, errback });
        self.call_errbacks(now, from, out);
        let op = WriteOp::State {
            task: TaskRef::Body,
            state: TaskState::Failure,
            value: Some(ResultValue::Error(ErrorKind::ChordError)),
            part_return: false,
            errbacks: false,
            skip_store: false,
        };
        self.write(out, from.clone(), None, op, 0);
    }

    /// Call the errback linked to the body (§7).
    /// `_call_task_errbacks` (§7, §12): an errback whose signature takes more than the task id
    /// is called inline with `(request, exc, traceback)`; one that takes only the task id is
    /// sent as a task. A call its signature cannot take raises TypeError: up to 5.6 that ends
    /// the errback delivery, 5.7 logs it; either way nothing marks the run.
    pub(crate) fn call_errbacks(&mut self, now: SimTime, from: &Node, out: &mut Schedule<Event>) {
        match super::app::errback_call(&self.sc.app, self.cfg().version) {
            super::app::ErrbackCall::None => {}
            super::app::ErrbackCall::Inline { fits: true } => self.errback_runs(now, from.clone()),
            super::app::ErrbackCall::Inline { fits: false } => {
                self.note(now, Note::ErrbackRaised { node: from.clone() });
            }
            super::app::ErrbackCall::Task => {
                self.send(now, from, Message::new(TaskRef::Errback), out);
            }
        }
    }

    /// `Task.retry` (§3): a new ETA message with the same id and `retries + 1`; RETRY stored
    /// unless the result is ignored; the old message acked. If the publish fails the task
    /// raises Reject(requeue=False): 5.7 stores FAILURE, earlier versions nothing (§12).
    pub(crate) fn retry_task(
        &mut self,
        now: SimTime,
        r: ExecRef,
        e: &Exec,
        countdown: SimDuration,
        out: &mut Schedule<Event>,
    ) {
        let me = Node::Worker(r.worker);
        let task = e.msg.task;
        let mut msg = e.msg.clone();
        msg.retries += 1;
        msg.eta = Some(now + countdown);
        msg.redelivered = false;
        msg.deliveries = 0;
        let retries = msg.retries;
        if self.send(now, &me, msg, out) {
            self.note(now, Note::RetryScheduled { task, retries, countdown });
            let skip = self.ignores_result(task);
            let op = WriteOp::State {
                task,
                state: TaskState::Retry,
                value: None,
                part_return: false,
                errbacks: false,
                skip_store: skip,
            };
            self.write(out, me, Some(r), op, 0);
            return;
        }
        if self.cfg().version.reject_stores_failure() {
            self.fail_task(r, task, ErrorKind::Raised, out);
        } else {
            self.finish_exec(now, r, Settle::Ack, out);
        }
    }

    /// Store FAILURE for a finished execution (mark_as_failure): part-return on the native
    /// path, the task's own errbacks, then the message is settled.
    pub(crate) fn fail_task(&mut self, r: ExecRef, task: TaskRef, kind: ErrorKind, out: &mut Schedule<Event>) {
        let native = self.native_chord() && matches!(task, TaskRef::Header(_));
        let skip = !self.stores_errors(task);
        let op = WriteOp::State {
            task,
            state: TaskState::Failure,
            value: Some(ResultValue::Error(kind)),
            part_return: native,
            errbacks: true,
            skip_store: skip,
        };
        self.write(out, Node::Worker(r.worker), Some(r), op, 0);
    }

    /// Store SUCCESS for a finished execution (mark_as_done): stored unless the result is
    /// ignored; on the native path part-return runs either way (§8 `ignore_result`).
    pub(crate) fn succeed_task(
        &mut self,
        now: SimTime,
        r: ExecRef,
        task: TaskRef,
        value: ResultValue,
        out: &mut Schedule<Event>,
    ) {
        let native = self.native_chord() && matches!(task, TaskRef::Header(_));
        let skip = self.ignores_result(task);
        if skip && !native {
            self.finish_exec(now, r, Settle::Ack, out);
            return;
        }
        let op = WriteOp::State {
            task,
            state: TaskState::Success,
            value: Some(value),
            part_return: native,
            errbacks: false,
            skip_store: skip,
        };
        self.write(out, Node::Worker(r.worker), Some(r), op, 0);
    }

    /// A result-backend write arrives. If the backend cannot be reached it is retried every
    /// second until its deadline, then fails: for a task result, mark_as_done raises before
    /// part-return, so the result is lost and the message is acked as failed (§9).
    pub(crate) fn write_lands(
        &mut self,
        now: SimTime,
        from: Node,
        exec: Option<ExecRef>,
        op: WriteOp,
        (attempt, then_ack): (Attempt, Option<Box<AckAfter>>),
        out: &mut Schedule<Event>,
    ) {
        if let Some(r) = exec
            && self.exec(r).is_none()
        {
            return; // the child died before its write completed
        }
        if self.backend.stalled(now) {
            // The store waits for the stalled backend to answer (§9 "Stall").
            let attempt = match attempt {
                Attempt::First { .. } => Attempt::First { read: self.backend.stalled_until },
                again => again,
            };
            out.at(self.backend.stalled_until, Event::Write { from, exec, op, attempt, then_ack });
            return;
        }
        if !self.backend_reachable(&from) {
            let (n, deadline) = match attempt {
                Attempt::First { .. } => (0, now + self.store_patience(&from)),
                Attempt::Again { n, deadline } => (n, deadline),
            };
            if now < deadline {
                let gap = self.store_retry_gap(n);
                out.after(
                    gap,
                    Event::Write { from, exec, op, attempt: Attempt::Again { n: n + 1, deadline }, then_ack },
                );
                return;
            }
            let (task, state) = match &op {
                WriteOp::Started(t) => (*t, TaskState::Started),
                WriteOp::State { task, state, .. } => (*task, *state),
            };
            self.note(now, Note::StoreFailed { task, state });
            if let Some(r) = exec {
                if matches!(state, TaskState::Started | TaskState::Success) {
                    // The store raised outside the task's own try (build_tracer): on_error runs
                    // mark_as_failure, another store with its own retries (§9 "Backend down at
                    // store"; review of trace.py).
                    self.fail_task(r, task, ErrorKind::Raised, out);
                } else {
                    self.finish_exec(now, r, Settle::Ack, out);
                }
            }
            return;
        }
        let n = self.n();
        let read = match attempt {
            Attempt::First { read } => read,
            Attempt::Again { .. } => now,
        };
        match op {
            WriteOp::Started(task) => {
                let ttl = self.cfg().result_expires;
                let kept = self.backend.store(task.slot(n), TaskState::Started, None, (read, now), ttl)
                    == StoreOutcome::KeptSuccess;
                self.note(now, Note::Stored { task, state: TaskState::Started, kept_success: kept });
                // The task body starts once STARTED is stored.
                if let Some(r) = exec
                    && let Some(body) = self.exec(r).and_then(|e| e.body)
                {
                    self.body_starts(r, task, SimDuration::ZERO, out);
                    out.after(body, Event::ExecEnd(r, crate::model::Finish::Normal));
                }
            }
            WriteOp::State { task, state, value, part_return, errbacks, skip_store } => {
                if !skip_store {
                    let ttl = self.cfg().result_expires;
                    let kept =
                        self.backend.store(task.slot(n), state, value, (read, now), ttl) == StoreOutcome::KeptSuccess;
                    self.note(now, Note::Stored { task, state, kept_success: kept });
                }
                if part_return && let TaskRef::Header(i) = task {
                    self.part_return(now, &from, Part { test: i, state, value }, out);
                }
                if errbacks && state == TaskState::Failure {
                    self.task_errbacks(now, &from, task, out);
                }
                if let Some(r) = exec {
                    let dies = state == TaskState::Success
                        && matches!(task, TaskRef::Header(i) if self.sc.tests[i as usize].outcome == Outcome::DieAfterReturn);
                    if dies {
                        self.worker_lost(now, r.worker, r.slot as usize, out);
                    } else {
                        // §9: acks_late acks after success, retry and (by default) failure; a
                        // reject without requeue when ack-on-failure is off removes it alike.
                        self.finish_exec(now, r, Settle::Ack, out);
                    }
                }
            }
        }
        if let Some(&AckAfter { worker, inc, tag, task }) = then_ack.as_deref()
            && self.workers[worker].inc == inc
        {
            self.ack(now, worker, tag, task, crate::trace::AckWhen::Revoked, out);
        }
    }

    /// The failed task's own errbacks: the body's link_error; a header's only with
    /// `task_allow_error_cb_on_chord_header` (§7 "Header errbacks").
    fn task_errbacks(&mut self, now: SimTime, from: &Node, task: TaskRef, out: &mut Schedule<Event>) {
        let linked = match task {
            TaskRef::Body => true,
            TaskRef::Header(_) => self.cfg().allow_error_cb_on_chord_header,
            _ => false,
        };
        if linked {
            self.call_errbacks(now, from, out);
        }
    }

    /// §6 step 2–3 on the Redis backend, run by the process that stored the header's state.
    fn part_return(&mut self, now: SimTime, from: &Node, part: Part, out: &mut Schedule<Event>) {
        let task = TaskRef::Header(part.test);
        let ordered = self.cfg().chord_ordered;
        let ttl = self.cfg().chord_key_ttl();
        match self.backend.part_return(part, now, ordered, ttl) {
            PartReturn::Counted { count, size } => {
                self.note(now, Note::PartReturn { task, outcome: PartNote::Counted(count, size) })
            }
            PartReturn::Duplicate => self.note(now, Note::PartReturn { task, outcome: PartNote::Duplicate }),
            PartReturn::NoSizeKey => self.note(now, Note::PartReturn { task, outcome: PartNote::NoSizeKey }),
            PartReturn::Fire(parts) => {
                self.note(now, Note::PartReturn { task, outcome: PartNote::Fired });
                self.send_body(now, from, parts, out);
                self.backend.finish_chord(true);
            }
            PartReturn::ChordError(culprit) => {
                self.note(now, Note::PartReturn { task, outcome: PartNote::Error });
                self.chord_error(now, from, format!("Dependency test {} raised", culprit.test), out);
                self.backend.finish_chord(false);
            }
        }
    }
}
