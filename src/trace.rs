//! The trace: what happened, when, where, and which rule made it happen. Records are structured
//! so the checker can compute cause chains from them; `Display` renders the timeline an engineer
//! reads in `chordsim replay`.

use std::fmt;

// The model's names for tasks, results and their states are the trace's vocabulary too.
use crate::scenario::{Action, Node, PolicyKind, RunStatus};
use crate::time::{SimDuration, SimTime};
use crate::words::{ResultValue, TaskRef, TaskState};

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// When.
    pub at: SimTime,
    /// What.
    pub note: Note,
}

/// Who wrote a run status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// The parent task / API.
    Parent,
    /// `collect_results`.
    Callback,
    /// The error callback.
    Errback,
    /// An operator policy (the watchdog, a monitor, a cron).
    Policy(PolicyKind),
    /// An operator.
    Operator,
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Writer::Parent => f.write_str("Parent"),
            Writer::Callback => f.write_str("Callback"),
            Writer::Errback => f.write_str("Errback"),
            Writer::Operator => f.write_str("Operator"),
            Writer::Policy(k) => f.write_str(k.who()),
        }
    }
}

/// Why a message was lost for good or left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Acked on receipt, then the process died.
    AckedThenKilled,
    /// Dropped from worker memory; still in the broker's unacked hash.
    DroppedHeldUnacked,
    /// The broker restarted without persistence.
    BrokerWiped,
    /// Published while the broker was down: it never reached a queue.
    BrokerDown,
    /// Published on a link that was cut, on a connection that broke before the link healed
    /// (docs/celery-source-notes.md §16): it never reached a queue, and nothing raised.
    CutConnection,
    /// Waiting in its queue when `control.purge()` deleted the queue's messages.
    Purged,
}

/// When a delivery was acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckWhen {
    /// When the pool child accepted it (`task_acks_late=false`).
    OnReceipt,
    /// After the task ran (`task_acks_late=true`).
    AfterTask,
    /// A revoked message dropped by the worker, after REVOKED was stored.
    Revoked,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// The chord was applied.
    ChordApplied {
        /// Header size.
        tests: u32,
        /// Polling (chord_unlock) or native.
        polling: bool,
    },
    /// The application's status rule (a Python callable) raised or returned no status, so
    /// collect_results raised.
    RuleRaised {
        /// What it raised or returned.
        why: String,
    },
    /// Applying the chord raised.
    ApplyFailed {
        /// Why.
        why: &'static str,
    },
    /// Applying the chord waits: its first publish gets no reply over the cut broker link.
    ApplyWaits,
    /// A message reached the broker's queue.
    Published {
        /// Task.
        task: TaskRef,
        /// Retry number.
        retries: u32,
        /// ETA, if any.
        eta: Option<SimTime>,
        /// Sender.
        from: Node,
    },
    /// A publish failed after the publish retry policy.
    PublishFailed {
        /// Task.
        task: TaskRef,
        /// Sender.
        from: Node,
    },
    /// Delivered to a worker.
    Delivered {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
        /// Delivery tag.
        tag: u64,
        /// Redelivered after a restore or requeue.
        redelivered: bool,
    },
    /// Acked.
    Acked {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
        /// When, and so why.
        when: AckWhen,
    },
    /// An ack could not reach the broker.
    AckLost {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
    },
    /// Requeued by reject(requeue=True).
    Requeued {
        /// Task.
        task: TaskRef,
        /// Why.
        why: &'static str,
    },
    /// An execution started in a pool child.
    Started {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
        /// Pool slot.
        slot: usize,
        /// Attempt (request.retries).
        retries: u32,
    },
    /// An execution ended.
    Finished {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
        /// Pool slot.
        slot: usize,
        /// How.
        how: Ending,
    },
    /// A signal to the worker's process group made a pool child exit; its main process reaps
    /// it (and fails its task) later, from its shutdown's stop loop.
    ChildSignalled {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
        /// How long until the main process reaps the child.
        reaped_after: SimDuration,
    },
    /// A state was written to the backend.
    Stored {
        /// Task.
        task: TaskRef,
        /// State.
        state: TaskState,
        /// Whether the write was skipped because SUCCESS was kept.
        kept_success: bool,
    },
    /// A backend write failed.
    StoreFailed {
        /// Task.
        task: TaskRef,
        /// State it tried to write.
        state: TaskState,
    },
    /// Redis part-return.
    PartReturn {
        /// Header task.
        task: TaskRef,
        /// Outcome.
        outcome: PartNote,
    },
    /// A chord_unlock poll.
    Poll {
        /// Poll number (0-based).
        n: u32,
        /// Header tasks not ready, first few.
        not_ready: Vec<(u32, TaskState)>,
        /// Whether the read failed.
        read_failed: bool,
    },
    /// chord_unlock ran out of retries.
    UnlockGaveUp {
        /// Polls made.
        polls: u32,
        /// The limit.
        max_retries: u32,
        /// Where the limit came from.
        source: String,
        /// Whether this version fails the body.
        fails_body: bool,
    },
    /// A ChordError was raised and delivered (§7).
    ChordError {
        /// Why.
        why: String,
        /// Errback linked.
        errback: bool,
    },
    /// The body was published with these entries.
    BodyCalled {
        /// Number of entries.
        entries: u32,
    },
    /// An errback ran.
    ErrbackRan {
        /// Where.
        node: Node,
    },
    /// The errback was called in a way its signature does not take: TypeError, nothing marked.
    ErrbackRaised {
        /// Where.
        node: Node,
    },
    /// The run status changed.
    Status {
        /// New status.
        status: RunStatus,
        /// Who wrote it.
        by: Writer,
    },
    /// A status write was skipped because the run is terminal already.
    GuardSkipped {
        /// Who would have written.
        by: Writer,
    },
    /// A task retry was scheduled.
    RetryScheduled {
        /// Task.
        task: TaskRef,
        /// New retries count.
        retries: u32,
        /// Countdown.
        countdown: SimDuration,
    },
    /// A task ran out of retries.
    RetriesExhausted {
        /// Task.
        task: TaskRef,
    },
    /// A message was dropped because its id is revoked.
    RevokedDropped {
        /// Task.
        task: TaskRef,
        /// Worker.
        worker: usize,
    },
    /// Unacked messages were restored to the queue.
    Restored {
        /// Tasks.
        tasks: Vec<TaskRef>,
        /// Visibility-timeout sweep or connection close.
        sweep: bool,
    },
    /// A message is gone for good or left behind.
    Lost {
        /// Task.
        task: TaskRef,
        /// Why.
        why: Loss,
    },
    /// A fault began.
    Fault {
        /// Description.
        what: String,
    },
    /// A fault ended.
    Heal {
        /// Description.
        what: String,
    },
    /// A worker lost its broker connection.
    ConnectionLost {
        /// Worker.
        worker: usize,
    },
    /// A worker (re)connected and started consuming.
    ConsumerStarted {
        /// Worker.
        worker: usize,
    },
    /// A worker gave up reconnecting and exited.
    WorkerExited {
        /// Worker.
        worker: usize,
    },
    /// An operator policy found a stuck chord and acted (or, on a dry run, would have).
    PolicyActed {
        /// Which policy.
        kind: PolicyKind,
        /// What it did.
        action: Action,
        /// Its revoke signals the running child.
        terminate: bool,
        /// It only said so.
        dry_run: bool,
        /// What its rule saw.
        seen: String,
    },
    /// An operator policy reported a chord over its report threshold.
    PolicyReported {
        /// Which policy.
        kind: PolicyKind,
        /// What its rule saw.
        seen: String,
    },
    /// An operator policy's action had nothing to act on.
    PolicyNoop {
        /// Which policy.
        kind: PolicyKind,
        /// Why.
        why: &'static str,
    },
    /// The records of one subject beyond the first [`KEEP`], folded into this one, so that a
    /// trace does not grow with simulated time whatever repeats (redeliveries, restore sweeps,
    /// retries or polls for ever).
    Folded {
        /// Whose records: a task's, or the run's own (None: faults, workers, sweeps, statuses).
        task: Option<TaskRef>,
        /// When the first folded record happened.
        from: SimTime,
        /// When the last one did.
        until: SimTime,
        /// Records folded.
        records: u64,
    },
    /// Identical chord_unlock polls, folded so that a run polling for ever keeps a trace whose
    /// size does not grow with simulated time.
    PollsFolded {
        /// When the first folded record happened.
        from: SimTime,
        /// When the last one did.
        until: SimTime,
        /// Polls folded.
        polls: u32,
    },
}

/// How many records each subject (a task, or the run) keeps in full before the rest are
/// folded: far more than any run tells about one task without repeating itself.
pub const KEEP: u32 = 128;
impl Note {
    /// The kinds `replay --kind` filters by, one per note.
    pub const KINDS: &'static [&'static str] = &[
        "apply",
        "publish",
        "deliver",
        "ack",
        "requeue",
        "start",
        "finish",
        "signal",
        "store",
        "part_return",
        "poll",
        "chord_error",
        "body",
        "errback",
        "status",
        "retry",
        "revoke",
        "restore",
        "lost",
        "fault",
        "connection",
        "policy",
        "folded",
    ];

    /// This note's kind (one of [`Note::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Note::ChordApplied { .. } | Note::ApplyFailed { .. } | Note::ApplyWaits => "apply",
            Note::Published { .. } | Note::PublishFailed { .. } => "publish",
            Note::Delivered { .. } => "deliver",
            Note::Acked { .. } | Note::AckLost { .. } => "ack",
            Note::Requeued { .. } => "requeue",
            Note::Started { .. } => "start",
            Note::Finished { .. } | Note::RuleRaised { .. } => "finish",
            Note::ChildSignalled { .. } => "signal",
            Note::Stored { .. } | Note::StoreFailed { .. } | Note::GuardSkipped { .. } => "store",
            Note::PartReturn { .. } => "part_return",
            Note::Poll { .. } | Note::UnlockGaveUp { .. } | Note::PollsFolded { .. } => "poll",
            Note::ChordError { .. } => "chord_error",
            Note::BodyCalled { .. } => "body",
            Note::ErrbackRan { .. } | Note::ErrbackRaised { .. } => "errback",
            Note::Status { .. } => "status",
            Note::RetryScheduled { .. } | Note::RetriesExhausted { .. } => "retry",
            Note::RevokedDropped { .. } => "revoke",
            Note::Restored { .. } => "restore",
            Note::Lost { .. } => "lost",
            Note::Fault { .. } | Note::Heal { .. } => "fault",
            Note::ConnectionLost { .. } | Note::ConsumerStarted { .. } | Note::WorkerExited { .. } => "connection",
            Note::PolicyActed { .. } | Note::PolicyReported { .. } | Note::PolicyNoop { .. } => "policy",
            Note::Folded { .. } => "folded",
        }
    }

    /// The task a record is about, if any: the subject it is kept or folded under.
    pub fn task(&self) -> Option<TaskRef> {
        match self {
            Note::Published { task, .. }
            | Note::PublishFailed { task, .. }
            | Note::Delivered { task, .. }
            | Note::Acked { task, .. }
            | Note::AckLost { task, .. }
            | Note::Requeued { task, .. }
            | Note::Started { task, .. }
            | Note::Finished { task, .. }
            | Note::ChildSignalled { task, .. }
            | Note::Stored { task, .. }
            | Note::StoreFailed { task, .. }
            | Note::PartReturn { task, .. }
            | Note::RetryScheduled { task, .. }
            | Note::RetriesExhausted { task }
            | Note::RevokedDropped { task, .. }
            | Note::Lost { task, .. } => Some(*task),
            Note::Poll { .. } | Note::UnlockGaveUp { .. } | Note::PollsFolded { .. } => Some(TaskRef::ChordUnlock),
            Note::Folded { task, .. } => *task,
            _ => None,
        }
    }
}

impl Record {
    /// When the last of what this record tells happened: a fold's last folded record.
    pub fn latest(&self) -> SimTime {
        match &self.note {
            Note::Folded { until, .. } => *until,
            _ => self.at,
        }
    }
}

/// How an execution ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Returned a value.
    Returned(ResultValue),
    /// Raised.
    Raised,
    /// Called `self.retry()`.
    Retried,
    /// Soft limit raised inside the task.
    SoftLimit,
    /// Hard limit killed the child.
    HardLimit,
    /// The child was killed.
    ChildKilled,
    /// The whole worker died.
    WorkerKilled,
    /// Terminated by revoke.
    Terminated,
    /// Cancelled by a cold shutdown.
    Cancelled,
}

/// A part-return's outcome, for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartNote {
    /// Counted.
    Counted(u32, u32),
    /// Identical member or already reported.
    Duplicate,
    /// The size key is gone.
    NoSizeKey,
    /// Fired the body.
    Fired,
    /// Raised ChordError.
    Error,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>11}  {}", self.at.to_string(), self.note)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::ChordApplied { tests, polling } => write!(
                f,
                "chord applied: {tests} header tasks, {}",
                if *polling { "chord_unlock polling (§5)" } else { "Redis native counter (§6)" }
            ),
            Note::ApplyFailed { why } => write!(f, "applying the chord raised: {why}"),
            Note::ApplyWaits => {
                f.write_str("applying the chord waits: its publish gets no reply over the cut broker link")
            }
            Note::RuleRaised { why } => write!(f, "collect_results' status rule raised: {why}"),
            Note::Published { task, retries, eta, from } => {
                write!(f, "{task} published by {}", node(from))?;
                if *retries > 0 {
                    write!(f, " (retry {retries})")?;
                }
                if let Some(e) = eta {
                    write!(f, ", eta {e}")?;
                }
                Ok(())
            }
            Note::PublishFailed { task, from } => {
                write!(f, "{task}: publish from {} failed after the publish retry policy", node(from))
            }
            Note::Delivered { task, worker, tag, redelivered } => write!(
                f,
                "{task} delivered to w{} (tag {tag}{})",
                worker + 1,
                if *redelivered { ", redelivered" } else { "" }
            ),
            Note::Acked { task, worker, when } => write!(
                f,
                "{task} acked by w{} {}",
                worker + 1,
                match when {
                    AckWhen::OnReceipt => "on receipt (task_acks_late=false)",
                    AckWhen::AfterTask => "after the task (task_acks_late=true)",
                    AckWhen::Revoked =>
                        "once REVOKED is stored (a revoked message is acked whatever task_acks_late says, §9 \"Revoke\")",
                }
            ),
            Note::AckLost { task, worker } => {
                write!(f, "{task}: ack from w{} cannot reach the broker; the message stays unacked", worker + 1)
            }
            Note::Requeued { task, why } => write!(f, "{task} requeued ({why})"),
            Note::Started { task, worker, retries, .. } => {
                write!(f, "{task} started on w{}", worker + 1)?;
                if *retries > 0 {
                    write!(f, " (attempt {})", retries + 1)?;
                }
                Ok(())
            }
            Note::Finished { task, worker, how, .. } => write!(f, "{task} on w{}: {how}", worker + 1),
            Note::ChildSignalled { task, worker, reaped_after } => write!(
                f,
                "{task}: its pool child on w{} exits (SystemExit); the shutting-down main process reaps it in {reaped_after} (source notes §10)",
                worker + 1
            ),
            Note::Stored { task, state, kept_success } => {
                if *kept_success {
                    write!(f, "{task}: {} not stored, SUCCESS kept (§2)", state.name())
                } else {
                    write!(f, "{task} stored {}", state.name())
                }
            }
            Note::StoreFailed { task, state } => {
                write!(f, "{task}: storing {} failed, result backend unreachable", state.name())
            }
            Note::PartReturn { task, outcome } => match outcome {
                PartNote::Counted(c, s) => write!(f, "{task} part-return: {c} of {s}"),
                PartNote::Duplicate => write!(f, "{task} part-return: duplicate, not counted"),
                PartNote::NoSizeKey => write!(f, "{task} part-return: size key missing, nothing happens (§6)"),
                PartNote::Fired => write!(f, "{task} part-return: count reached the size, body published"),
                PartNote::Error => write!(f, "{task} part-return: count reached the size, a part failed"),
            },
            Note::Poll { n, not_ready, read_failed } => {
                write!(f, "chord_unlock poll {}: ", n + 1)?;
                if *read_failed {
                    return f.write_str("reading the group raised (backend unreachable)");
                }
                if not_ready.is_empty() {
                    return f.write_str("all header results ready");
                }
                let list: Vec<String> = not_ready.iter().map(|(t, s)| format!("test {t} {}", s.name())).collect();
                write!(f, "not ready ({})", list.join(", "))
            }
            Note::UnlockGaveUp { polls, max_retries, source, fails_body } => write!(
                f,
                "chord_unlock gave up after {polls} polls: MaxRetriesExceededError, max_retries={max_retries} from {source}; {}",
                if *fails_body {
                    "5.7 fails the body with a ChordError"
                } else {
                    "body left PENDING, no errback (§5.4)"
                }
            ),
            Note::ChordError { why, errback } => write!(
                f,
                "ChordError({why}): {}",
                if *errback {
                    "errbacks called, body stored FAILURE (§7)"
                } else {
                    "no errback linked, body stored FAILURE (§7)"
                }
            ),
            Note::BodyCalled { entries } => write!(f, "collect_results called with {entries} entries"),
            Note::ErrbackRan { node: n } => write!(f, "errback ran on {}", node(n)),
            Note::ErrbackRaised { node: n } => {
                write!(f, "errback raised TypeError on {}: its signature does not take the call (§7)", node(n))
            }
            Note::Status { status, by } => write!(f, "run status -> {} (by {by})", status.name()),
            Note::GuardSkipped { by } => write!(f, "run already terminal: {by}'s status write skipped (guard)"),
            Note::RetryScheduled { task, retries, countdown } => {
                write!(f, "{task}: retry {retries} in {countdown}")
            }
            Note::RetriesExhausted { task } => write!(f, "{task}: retries exhausted"),
            Note::RevokedDropped { task, worker } => {
                write!(f, "{task}: revoked, dropped by w{} (REVOKED stored, part-return)", worker + 1)
            }
            Note::Restored { tasks, sweep } => {
                let list: Vec<String> = tasks.iter().map(|t| t.to_string()).collect();
                write!(
                    f,
                    "restored to the queue ({}): {}",
                    if *sweep { "visibility timeout passed" } else { "channel closed" },
                    list.join(", ")
                )
            }
            Note::Lost { task, why } => match why {
                Loss::AckedThenKilled => write!(f, "{task}: acked on receipt and its process died: lost"),
                Loss::DroppedHeldUnacked => {
                    write!(f, "{task}: dropped from worker memory; the broker holds it unacked")
                }
                Loss::BrokerWiped => write!(f, "{task}: lost with the broker's data"),
                Loss::BrokerDown => write!(f, "{task}: published while the broker was down: never queued"),
                Loss::CutConnection => {
                    write!(f, "{task}: published on a cut link whose connection broke: never queued")
                }
                Loss::Purged => write!(f, "{task}: deleted from its queue by a purge"),
            },
            Note::Fault { what } => write!(f, "FAULT {what}"),
            Note::Heal { what } => write!(f, "HEAL {what}"),
            Note::ConnectionLost { worker } => write!(f, "w{} lost its broker connection", worker + 1),
            Note::ConsumerStarted { worker } => write!(f, "w{} consumer started", worker + 1),
            Note::WorkerExited { worker } => write!(f, "w{} gave up reconnecting and exited", worker + 1),
            Note::PolicyActed { kind, action, terminate, dry_run, seen } => {
                let would = if *dry_run { "would " } else { "" };
                let dry = if *dry_run { " (dry run)" } else { "" };
                write!(f, "POLICY {}{dry}: {seen} -> {would}{}", kind.name(), action.words(*terminate))
            }
            Note::PolicyReported { kind, seen } => write!(f, "POLICY {}: reported {seen}", kind.name()),
            Note::PolicyNoop { kind, why } => write!(f, "POLICY {}: nothing done: {why}", kind.name()),
            Note::Folded { task, from, until, records } => {
                let whose = task.map_or("the run".to_string(), |t| t.to_string());
                write!(f, "… {records} more records of {whose} from {from} to {until} (folded) …")
            }
            Note::PollsFolded { from, until, polls } => {
                write!(f, "… {polls} more identical chord_unlock polls from {from} to {until} (folded) …")
            }
        }
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Returned(v) => write!(f, "returned {}", value_name(*v)),
            Ending::Raised => f.write_str("raised"),
            Ending::Retried => f.write_str("called self.retry()"),
            Ending::SoftLimit => f.write_str("SoftTimeLimitExceeded"),
            Ending::HardLimit => f.write_str("TimeLimitExceeded (hard limit), child replaced"),
            Ending::ChildKilled => f.write_str("pool child killed (WorkerLostError)"),
            Ending::WorkerKilled => f.write_str("killed with its worker"),
            Ending::Terminated => f.write_str("terminated by revoke"),
            Ending::Cancelled => f.write_str("cancelled by cold shutdown"),
        }
    }
}

/// A short name for a result value.
pub fn value_name(v: ResultValue) -> &'static str {
    match v {
        ResultValue::Pass => "a passing result",
        ResultValue::FailDict => "a failure dict",
        ResultValue::None => "None",
        ResultValue::Malformed => "a malformed value",
        ResultValue::Summary => "its summary",
        ResultValue::Error(_) => "an error",
    }
}

fn node(n: &Node) -> String {
    match n {
        Node::Producer => "producer".into(),
        Node::Broker => "broker".into(),
        Node::Backend => "backend".into(),
        Node::Worker(w) => format!("w{}", w + 1),
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&node(self))
    }
}
