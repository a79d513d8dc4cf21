//! The words every layer shares: a task of the one chord ([`TaskRef`]), the state the result
//! backend stores for it ([`TaskState`]) with what it returned or raised ([`ResultValue`]), and
//! the safety properties a run is checked against ([`Property`]). Scenario files name them, the
//! model moves them, the checker and the reports read them; they sit below all four, so no layer imports one above it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A task id of the one chord.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskRef {
    /// `execute_single_test` number i.
    Header(u32),
    /// `collect_results`, the body.
    Body,
    /// `celery.chord_unlock` (one id, reused by every poll).
    ChordUnlock,
    /// The old-style errback task.
    Errback,
}

impl TaskRef {
    /// Index into per-task tables.
    pub fn slot(self, tests: usize) -> usize {
        match self {
            TaskRef::Header(i) => i as usize,
            TaskRef::Body => tests,
            TaskRef::ChordUnlock => tests + 1,
            TaskRef::Errback => tests + 2,
        }
    }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskRef::Header(i) => write!(f, "test {i}"),
            TaskRef::Body => f.write_str("collect_results"),
            TaskRef::ChordUnlock => f.write_str("chord_unlock"),
            TaskRef::Errback => f.write_str("errback task"),
        }
    }
}

/// A task state as stored (§2). Unknown, expired or forgotten ids read as `Pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// No record.
    Pending,
    /// `task_track_started`.
    Started,
    /// Waiting for a retry.
    Retry,
    /// Returned.
    Success,
    /// Raised.
    Failure,
    /// Revoked.
    Revoked,
}

impl TaskState {
    /// Names as Celery writes them, for `[expect] body_state`.
    pub const NAMED: [(&'static str, TaskState); 6] = [
        ("PENDING", TaskState::Pending),
        ("STARTED", TaskState::Started),
        ("RETRY", TaskState::Retry),
        ("SUCCESS", TaskState::Success),
        ("FAILURE", TaskState::Failure),
        ("REVOKED", TaskState::Revoked),
    ];

    /// READY_STATES = {SUCCESS, FAILURE, REVOKED} (§2).
    pub fn is_ready(self) -> bool {
        matches!(self, TaskState::Success | TaskState::Failure | TaskState::Revoked)
    }

    /// PROPAGATE_STATES = {FAILURE, REVOKED}: a join raises on these (§5).
    pub fn propagates(self) -> bool {
        matches!(self, TaskState::Failure | TaskState::Revoked)
    }

    /// The Celery name.
    pub fn name(self) -> &'static str {
        Self::NAMED.iter().find(|(_, s)| *s == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// What a task returned or raised, as far as chords and collect_results care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultValue {
    /// A passing test result dict.
    Pass,
    /// A failed-test dict: `{"status": "failed"}` or rhesis' failure dict.
    FailDict,
    /// None.
    None,
    /// Not a dict.
    Malformed,
    /// The body's summary.
    Summary,
    /// An exception.
    Error(ErrorKind),
}

/// Exceptions the model distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The application raised.
    Raised,
    /// SoftTimeLimitExceeded, not caught.
    SoftTimeLimit,
    /// TimeLimitExceeded.
    TimeLimit,
    /// WorkerLostError.
    WorkerLost,
    /// ChordError.
    ChordError,
    /// Revoked (reason recorded in the trace).
    Revoked,
}

/// A safety property. The names are API: scenario files and reports use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// `collect_results` writes the run status at most once.
    CallbackAtMostOnce,
    /// The error callback acts at most once: a second call that the terminal guard turns
    /// away at its first line is harmless.
    ErrbackAtMostOnce,
    /// Once terminal, the status never changes.
    TerminalNeverOverwritten,
    /// The status collect_results writes is the application's rule applied to the header
    /// tasks' final outcomes.
    StatusFollowsRule,
    /// The body receives exactly one entry per header task, in header order.
    BodyOneEntryPerHeader,
    /// chord_unlock does not poll without a limit once the run has ended: a poll message is
    /// still alive (queued, held, or unacked in the broker) and `max_retries` is None.
    PollingBounded,
    /// No message is delivered more than twice for the same attempt, plus once for each
    /// scripted fault (each may cause one redelivery; anything beyond is a redelivery loop).
    RedeliveryBounded,
}

impl Property {
    /// Every property.
    pub const ALL: [Property; 7] = [
        Property::CallbackAtMostOnce,
        Property::ErrbackAtMostOnce,
        Property::TerminalNeverOverwritten,
        Property::StatusFollowsRule,
        Property::BodyOneEntryPerHeader,
        Property::PollingBounded,
        Property::RedeliveryBounded,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Property::CallbackAtMostOnce => "callback_at_most_once",
            Property::ErrbackAtMostOnce => "errback_at_most_once",
            Property::TerminalNeverOverwritten => "terminal_never_overwritten",
            Property::StatusFollowsRule => "status_follows_rule",
            Property::BodyOneEntryPerHeader => "body_one_entry_per_header",
            Property::PollingBounded => "polling_bounded",
            Property::RedeliveryBounded => "redelivery_bounded",
        }
    }
}
