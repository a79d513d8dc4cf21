//! The Celery version being modelled, and every behaviour that differs between 5.5, 5.6 and 5.7
//! as one named capability query (celery-semantics §12). Model code asks `version.x()`; it never
//! compares version strings.

use std::fmt;

/// A Celery minor version the model covers. 5.6 means 5.6.3, the newest 5.6 release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CeleryVersion {
    /// Celery 5.5.x (observed: 5.5.3).
    V5_5,
    /// Celery 5.6.x, as of 5.6.3.
    V5_6,
    /// Celery 5.7.x (observed: 5.7.0).
    V5_7,
}

impl CeleryVersion {
    /// Whether `_call_task_errbacks` binds a signature's stored arguments before counting the
    /// errback's parameters (5.7, `_errback_arity_greater`; 5.5 and 5.6 count the function's).
    pub fn errback_arity_binds_kwargs(self) -> bool {
        self >= CeleryVersion::V5_7
    }

    /// The newest version, the default.
    pub const NEWEST: CeleryVersion = CeleryVersion::V5_7;
    /// The names accepted in scenario files.
    pub const NAMES: &'static [&'static str] = &["5.5", "5.6", "5.7"];

    /// Parse `"5.5"`, `"5.6"`, `"5.7"` (a patch level such as `"5.5.3"` is accepted).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        match (parts.next(), parts.next()) {
            (Some("5"), Some("5")) => Some(Self::V5_5),
            (Some("5"), Some("6")) => Some(Self::V5_6),
            (Some("5"), Some("7")) => Some(Self::V5_7),
            _ => None,
        }
    }

    /// §12 chord_unlock: when retries run out or a retry is refused by the broker, 5.7 fails the
    /// body with a ChordError and calls its errbacks; up to 5.6 the body stays PENDING and
    /// nothing is called.
    pub fn unlock_give_up_fails_body(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 Redis native: 5.7 records at most one entry per header task (the `.d` set, first
    /// report wins); up to 5.6 a report with a different value or state is a new member.
    pub fn native_counts_each_part_once(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 Redis native: 5.7 deletes the chord keys after a ChordError, so late reports do
    /// nothing; up to 5.6 the keys stay until their TTL and an identical late failure report runs
    /// the error path again.
    pub fn native_deletes_keys_after_error(self) -> bool {
        self >= Self::V5_7
    }

    /// §9/§12 revoke: from 5.6.2 the control command stores REVOKED at once on every worker that
    /// receives it; 5.5 stores nothing until a worker drops the message.
    pub fn revoke_stores_revoked_at_once(self) -> bool {
        self >= Self::V5_6
    }

    /// §12 revoke in 5.7: stored only while the state is PENDING, RECEIVED, RETRY or REJECTED
    /// and the task is not active on that worker.
    pub fn revoke_store_only_if_not_started(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 DB backend: up to 5.6 the last write wins; 5.7 keeps the first SUCCESS.
    pub fn database_keeps_first_success(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 "Per-call ignore_result": from 5.6.3 the request's value also stops FAILURE and
    /// STARTED from being stored; in 5.5 it only stops SUCCESS.
    pub fn per_call_ignore_result_covers_errors(self) -> bool {
        self >= Self::V5_6
    }

    /// §12 "DB backend retries": how a database result store retries.
    pub fn database_store_retries(self) -> DatabaseRetries {
        match self {
            Self::V5_5 => DatabaseRetries::Immediate,
            Self::V5_6 => DatabaseRetries::AlwaysRetryHonoured,
            Self::V5_7 => DatabaseRetries::FourWithBackoff,
        }
    }

    /// §12 acks: 5.7 splits `task_acks_on_failure_or_timeout` into `task_acks_on_failure` and
    /// `task_acks_on_timeout`.
    pub fn has_split_ack_settings(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 worker lost: 5.7 reads the stored state first and acks without FAILURE when SUCCESS
    /// was already stored.
    pub fn worker_lost_checks_stored_success(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 cold shutdown: 5.5 stores RETRY for every cancelled task, acks_late ones included;
    /// from 5.6 acks_late tasks are only redelivered.
    pub fn cold_shutdown_retry_for_acks_late(self) -> bool {
        self == Self::V5_5
    }

    /// §12 `result_chord_expires` exists (5.7).
    pub fn has_result_chord_expires(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 `task_retry_on_worker_lost` exists (5.7).
    pub fn has_retry_on_worker_lost(self) -> bool {
        self >= Self::V5_7
    }

    /// §12 a `Reject(requeue=False)` (a `Task.retry` whose publish failed): 5.7 stores
    /// FAILURE; up to 5.6 nothing is stored.
    pub fn reject_stores_failure(self) -> bool {
        self >= Self::V5_7
    }
}

/// How the database backend retries a failed store (§12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseRetries {
    /// 3 immediate attempts; `result_backend_always_retry` has no effect (5.5).
    Immediate,
    /// 3 immediate attempts, or for ever with `result_backend_always_retry` (5.6.3).
    AlwaysRetryHonoured,
    /// always_retry on, 3 retries with jittered backoff from 10 ms (5.7).
    FourWithBackoff,
}

impl fmt::Display for CeleryVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V5_5 => "5.5",
            Self::V5_6 => "5.6",
            Self::V5_7 => "5.7",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_or_without_patch_level() {
        assert_eq!(CeleryVersion::parse("5.5.3"), Some(CeleryVersion::V5_5));
        assert_eq!(CeleryVersion::parse("5.7"), Some(CeleryVersion::V5_7));
        assert_eq!(CeleryVersion::parse("4.4"), None);
    }
}
