//! The result backend: stored task states and results, their expiry, the overwrite rules of
//! key-value and database backends (celery-semantics §2, §12), and the Redis chord keys
//! `.j`/`.s` with the part-return counter (§6). Pure state: the world decides when a write lands.

use std::collections::VecDeque;

use crate::scenario::BackendKind;
use crate::time::{SimDuration, SimTime};
use crate::version::CeleryVersion;
use crate::words::{ResultValue, TaskState};

/// One stored result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    state: TaskState,
    value: Option<ResultValue>,
    expires: Option<SimTime>,
    /// When it was written.
    at: SimTime,
}

/// What a store did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Written.
    Written,
    /// Skipped: a key-value backend never overwrites SUCCESS (§2), nor does 5.7's database.
    KeptSuccess,
}

/// A header task's report to the Redis chord counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Header index (the `group_index` score).
    pub test: u32,
    /// Final state.
    pub state: TaskState,
    /// Encoded value.
    pub value: Option<ResultValue>,
}

/// What a part-return decided (§6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartReturn {
    /// Recorded; the count is below the size.
    Counted {
        /// Entries after this report.
        count: u32,
        /// The size key.
        size: u32,
    },
    /// 5.7's `.d` set already had this header task (first report wins). An identical
    /// sorted-set member up to 5.6 is not reported here: it changes nothing and the count is
    /// checked again (§6 "Duplicates").
    Duplicate,
    /// The size key is missing (expired, never set, or deleted after firing): nothing happens.
    NoSizeKey,
    /// The count reached the size and every entry succeeded: publish the body with these values.
    Fire(Vec<Part>),
    /// The count reached the size and an entry failed: ChordError naming the first culprit.
    ChordError(Part),
}

/// A stored result as it reads at `now`: none once it has expired.
fn live(stored: &Option<Stored>, now: SimTime) -> Option<&Stored> {
    stored.as_ref().filter(|s| s.expires.is_none_or(|e| now < e))
}

/// The Redis chord keys of the one chord: `.j` entries, `.s` size, 5.7's `.d` and `.c`.
#[derive(Clone, Debug, Default)]
struct ChordKeys {
    entries: Vec<Part>,
    /// Which header tasks have an entry in `.j`, by index (a duplicate check scans `.j` only
    /// for a task that reported before).
    listed: Vec<bool>,
    entries_expire: Option<SimTime>,
    size: Option<u32>,
    size_expire: Option<SimTime>,
    /// 5.7's `.d` set: which header tasks have reported, by index.
    reported: Vec<bool>,
    done: bool,
}

/// Which header results read as not ready, kept up to date as results are stored, wiped and
/// expire, so that a poll finds the first few without reading every result: its cost does not
/// grow with the header (Celery's `GroupResult.ready()` stops at the first result not ready; the
/// trace names up to four). Built at the first poll: a chord on the native counter never needs
/// it.
#[derive(Clone, Debug)]
struct Readiness {
    /// Bit `t % 64` of word `t / 64` is set while header task `t`'s result reads PENDING,
    /// STARTED or RETRY (as of the last catch-up with expiry).
    not_ready: Vec<u64>,
    /// Ready header results that expire, by when (in order: a result's expiry is its store's
    /// time plus `result_expires`, which only grows). An entry whose result has since been
    /// written over stays until its time, when the catch-up finds the result live and leaves
    /// it: cheaper than finding it at each store.
    expiring: VecDeque<(SimTime, u32)>,
}

impl Readiness {
    fn set(&mut self, test: u32, not_ready: bool) {
        let (word, bit) = (test as usize / 64, 1u64 << (test % 64));
        if not_ready { self.not_ready[word] |= bit } else { self.not_ready[word] &= !bit }
    }

    /// Header task `test`'s ready result expires `at`.
    fn expires(&mut self, at: SimTime, test: u32) {
        if self.expiring.back().is_none_or(|&(last, _)| last <= at) {
            self.expiring.push_back((at, test));
        } else {
            let i = self.expiring.partition_point(|&(when, _)| when <= at);
            self.expiring.insert(i, (at, test));
        }
    }

    /// The header tasks marked not ready, in header order.
    fn marked(&self) -> Marked<'_> {
        Marked { words: &self.not_ready, i: 0, word: self.not_ready.first().copied().unwrap_or(0) }
    }
}

/// An iterator over the set bits of a bitmap, lowest first.
struct Marked<'a> {
    words: &'a [u64],
    i: usize,
    word: u64,
}

impl Iterator for Marked<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while self.word == 0 {
            self.i += 1;
            self.word = *self.words.get(self.i)?;
        }
        let bit = self.word.trailing_zeros();
        self.word &= self.word - 1;
        Some((self.i * 64) as u32 + bit)
    }
}

/// The result backend.
#[derive(Clone, Debug)]
pub struct Backend {
    kind: BackendKind,
    version: CeleryVersion,
    results: Vec<Option<Stored>>,
    header: usize,
    readiness: Option<Readiness>,
    chord: ChordKeys,
    /// Whether it answers (false during an outage).
    pub up: bool,
    /// Until when it is stalled: connections stay up, commands wait (the `stall` fault).
    pub stalled_until: SimTime,
}

impl Backend {
    /// An empty backend for a chord of `tests` header tasks (and the body, chord_unlock and the
    /// errback task after them).
    pub fn new(kind: BackendKind, version: CeleryVersion, tests: usize) -> Self {
        Backend {
            kind,
            version,
            results: vec![None; tests + 3],
            header: tests,
            readiness: None,
            chord: ChordKeys::default(),
            up: true,
            stalled_until: SimTime::ZERO,
        }
    }

    /// Whether commands wait at `now` (a stall).
    pub fn stalled(&self, now: SimTime) -> bool {
        now < self.stalled_until
    }

    /// The first `k` header tasks whose result is not ready at `now`, with their states (none:
    /// every result is ready). `now` must not go back between calls.
    pub fn not_ready(&mut self, now: SimTime, k: usize) -> Vec<(u32, TaskState)> {
        self.readiness(now);
        let r = self.readiness.as_ref().expect("built by readiness");
        r.marked().take(k).map(|t| (t, self.state(t as usize, now))).collect()
    }

    /// The first header task whose result is not ready at `now`, if any; as [`Self::not_ready`].
    pub fn first_not_ready(&mut self, now: SimTime) -> Option<u32> {
        self.readiness(now).marked().next()
    }

    /// Which results are ready at `now`: built in one pass over the header the first time,
    /// kept up to date by stores, and by expiries as time passes.
    fn readiness(&mut self, now: SimTime) -> &Readiness {
        if self.readiness.is_none() {
            let mut r = Readiness { not_ready: vec![0; self.header.div_ceil(64)], expiring: VecDeque::new() };
            let mut expiring = Vec::new();
            for t in 0..self.header {
                match self.live(t, now) {
                    Some(s) if s.state.is_ready() => expiring.extend(s.expires.map(|at| (at, t as u32))),
                    _ => r.set(t as u32, true),
                }
            }
            expiring.sort_unstable();
            r.expiring = expiring.into();
            self.readiness = Some(r);
        }
        let r = self.readiness.as_mut().expect("built above");
        while let Some(&(at, test)) = r.expiring.front()
            && at <= now
        {
            r.expiring.pop_front();
            // Unless it was written over since with a result that is still ready.
            if !live(&self.results[test as usize], now).is_some_and(|s| s.state.is_ready()) {
                r.set(test, true);
            }
        }
        r
    }

    /// The stored state at `now` (§2: unknown or expired reads PENDING).
    pub fn state(&self, slot: usize, now: SimTime) -> TaskState {
        self.live(slot, now).map_or(TaskState::Pending, |s| s.state)
    }

    /// The stored value at `now`.
    pub fn value(&self, slot: usize, now: SimTime) -> Option<ResultValue> {
        self.live(slot, now).and_then(|s| s.value)
    }

    fn live(&self, slot: usize, now: SimTime) -> Option<&Stored> {
        live(&self.results[slot], now)
    }

    /// When a stored result expires, if it does.
    pub fn expires_at(&self, slot: usize) -> Option<SimTime> {
        self.results[slot].as_ref().and_then(|s| s.expires)
    }

    /// Store a state. §2: key-value backends never overwrite SUCCESS; the database backend's
    /// last write wins up to 5.6, and from 5.7 keeps a SUCCESS its writer saw when it `read`
    /// the row: on SQLite the read comes before the write lock, so a SUCCESS another process
    /// commits in between is overwritten (celery 5.7 `database/__init__.py: _store_result`, its
    /// own comment; `sqlite.rs`). A key-value backend reads and writes at once (`read` = `now`).
    pub fn store(
        &mut self,
        slot: usize,
        state: TaskState,
        value: Option<ResultValue>,
        (read, now): (SimTime, SimTime),
        ttl: Option<SimDuration>,
    ) -> StoreOutcome {
        let current = self.live(slot, now).map(|s| (s.state, s.at));
        let keeps_success = match self.kind {
            BackendKind::Redis => true,
            BackendKind::Database => self.version.database_keeps_first_success(),
        };
        if let Some((TaskState::Success, at)) = current
            && keeps_success
            && at <= read
        {
            return StoreOutcome::KeptSuccess;
        }
        let expires = ttl.map(|t| self.expiry(now, t));
        if slot < self.header
            && let Some(r) = self.readiness.as_mut()
        {
            let test = slot as u32;
            r.set(test, !state.is_ready());
            if let (true, Some(at)) = (state.is_ready(), expires) {
                r.expires(at, test);
            }
        }
        self.results[slot] = Some(Stored { state, value, expires, at: now });
        StoreOutcome::Written
    }

    /// §1 `result_expires`: Redis sets a TTL; the database keeps rows until
    /// `celery.backend_cleanup`, which beat runs daily at 04:00. Runs start at 04:00, so a row
    /// goes at the first whole day after it has expired.
    fn expiry(&self, now: SimTime, ttl: SimDuration) -> SimTime {
        let due = now + ttl;
        match self.kind {
            BackendKind::Redis => due,
            BackendKind::Database => {
                let day = SimDuration::from_secs(86_400).0;
                SimTime(due.0.div_ceil(day).max(1) * day)
            }
        }
    }

    /// Lose everything (a restart without persistence).
    pub fn wipe(&mut self) {
        self.results.iter_mut().for_each(|r| *r = None);
        self.readiness = None;
        self.chord = ChordKeys::default();
    }

    /// §6 step 1: `set_chord_size` writes `.s` (SETEX when an expiry is set); in 5.7 it also
    /// clears the claim key.
    pub fn set_chord_size(&mut self, size: u32, now: SimTime, ttl: Option<SimDuration>) {
        self.chord.size = Some(size);
        self.chord.size_expire = ttl.map(|t| now + t);
        self.chord.done = false;
    }

    /// Whether `.s` exists at `now` (for the tests: the model reads the size itself).
    #[cfg(test)]
    fn has_size_key(&self, now: SimTime) -> bool {
        self.chord.size.is_some() && self.chord.size_expire.is_none_or(|e| now < e)
    }

    /// §6 step 2–3: one header task's `on_chord_part_return` on the Redis backend.
    pub fn part_return(&mut self, part: Part, now: SimTime, ordered: bool, ttl: Option<SimDuration>) -> PartReturn {
        let c = &mut self.chord;
        if c.entries_expire.is_some_and(|e| now >= e) {
            c.entries.clear();
            c.listed.clear();
            c.entries_expire = None;
        }
        if c.size_expire.is_some_and(|e| now >= e) {
            c.size = None;
            c.size_expire = None;
        }
        // §12 (5.7): a Lua script records at most one entry per header task in `.d`; first
        // report wins. Late reports after the chord fired (`.c = done`) do nothing.
        if self.version.native_counts_each_part_once() {
            if c.done {
                return PartReturn::NoSizeKey;
            }
            let i = part.test as usize;
            if c.reported.len() <= i {
                c.reported.resize(i + 1, false);
            }
            if std::mem::replace(&mut c.reported[i], true) {
                return PartReturn::Duplicate;
            }
            c.push(part);
        } else if ordered {
            // §6 duplicates: the same state and encoded value is the same sorted-set member.
            if c.listed.get(part.test as usize) == Some(&true) && c.entries.contains(&part) {
                reset_ttl(c, now, ttl);
                return check_count(c, ordered);
            }
            c.push(part);
        } else {
            // List mode counts every report.
            c.push(part);
        }
        reset_ttl(c, now, ttl);
        check_count(c, ordered)
    }

    /// After the body was published or the error path ran. §6: 5.5–5.6 delete `.j .t .s` after
    /// publishing; on the error path they are kept until their TTL (§12 "late report after a
    /// ChordError"). 5.7 deletes them in both cases and leaves `.c = done`.
    pub fn finish_chord(&mut self, fired_ok: bool) {
        if fired_ok || self.version.native_deletes_keys_after_error() {
            let done = self.version.native_counts_each_part_once();
            self.chord = ChordKeys { done, ..ChordKeys::default() };
        }
    }
}

impl ChordKeys {
    /// Add an entry to `.j`.
    fn push(&mut self, part: Part) {
        let i = part.test as usize;
        if self.listed.len() <= i {
            self.listed.resize(i + 1, false);
        }
        self.listed[i] = true;
        self.entries.push(part);
    }
}

fn reset_ttl(c: &mut ChordKeys, now: SimTime, ttl: Option<SimDuration>) {
    // §6 step 2: reset the TTL of all three keys to result_expires on every part.
    c.entries_expire = ttl.map(|t| now + t);
    if c.size.is_some() {
        c.size_expire = ttl.map(|t| now + t);
    }
}

fn check_count(c: &ChordKeys, ordered: bool) -> PartReturn {
    let Some(size) = c.size else { return PartReturn::NoSizeKey };
    let count = c.entries.len() as u32;
    if count != size {
        return PartReturn::Counted { count, size };
    }
    // §6 step 3: read all entries ordered by group_index (sorted set) or insertion (list).
    let mut parts = c.entries.clone();
    if ordered {
        parts.sort_by_key(|p| p.test);
    }
    match parts.iter().find(|p| p.state.propagates()) {
        Some(culprit) => PartReturn::ChordError(*culprit),
        None => PartReturn::Fire(parts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(test: u32, value: ResultValue) -> Part {
        Part { test, state: TaskState::Success, value: Some(value) }
    }

    fn backend(v: CeleryVersion) -> Backend {
        let mut b = Backend::new(BackendKind::Redis, v, 8);
        b.set_chord_size(3, SimTime::ZERO, None);
        b
    }

    #[test]
    fn key_value_backend_never_overwrites_success_but_database_does_up_to_5_6() {
        let t = SimTime::ZERO;
        let mut kv = Backend::new(BackendKind::Redis, CeleryVersion::V5_5, 1);
        kv.store(0, TaskState::Success, Some(ResultValue::Pass), (t, t), None);
        assert_eq!(kv.store(0, TaskState::Failure, None, (t, t), None), StoreOutcome::KeptSuccess);
        assert_eq!(kv.state(0, t), TaskState::Success);
        let mut db = Backend::new(BackendKind::Database, CeleryVersion::V5_6, 1);
        db.store(0, TaskState::Success, Some(ResultValue::Pass), (t, t), None);
        assert_eq!(db.store(0, TaskState::Failure, None, (t, t), None), StoreOutcome::Written);
        assert_eq!(db.state(0, t), TaskState::Failure);
        let mut db7 = Backend::new(BackendKind::Database, CeleryVersion::V5_7, 1);
        db7.store(0, TaskState::Success, Some(ResultValue::Pass), (t, t), None);
        assert_eq!(db7.store(0, TaskState::Failure, None, (t, t), None), StoreOutcome::KeptSuccess);
    }

    #[test]
    fn the_readiness_index_agrees_with_every_stored_state_through_expiry_and_wipes() {
        let mut b = Backend::new(BackendKind::Redis, CeleryVersion::V5_7, 6);
        let at = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
        let ttl = Some(SimDuration::from_secs(10));
        let check = |b: &mut Backend, now: SimTime| {
            let scanned: Vec<(u32, TaskState)> =
                (0..6).map(|t| (t, b.state(t as usize, now))).filter(|(_, s)| !s.is_ready()).collect();
            assert_eq!(b.not_ready(now, 6), scanned, "at {now}");
        };
        check(&mut b, at(0));
        b.store(1, TaskState::Started, None, (at(1), at(1)), ttl);
        b.store(2, TaskState::Success, Some(ResultValue::Pass), (at(2), at(2)), ttl);
        b.store(3, TaskState::Failure, None, (at(3), at(3)), None);
        b.store(5, TaskState::Failure, None, (at(3), at(3)), ttl);
        check(&mut b, at(3));
        // Written over: a later expiry, and a state that is not ready.
        b.store(5, TaskState::Started, None, (at(4), at(4)), ttl);
        check(&mut b, at(4));
        b.store(2, TaskState::Success, Some(ResultValue::Pass), (at(5), at(5)), ttl);
        b.store(4, TaskState::Revoked, None, (at(6), at(6)), ttl);
        check(&mut b, at(11));
        check(&mut b, at(12));
        check(&mut b, at(13));
        check(&mut b, at(17));
        b.wipe();
        check(&mut b, at(18));
        assert_eq!(b.not_ready(at(18), 2).len(), 2, "at most k");
        // Built at the first poll from what is stored by then.
        let mut late = Backend::new(BackendKind::Database, CeleryVersion::V5_5, 70);
        late.store(65, TaskState::Success, Some(ResultValue::Pass), (at(1), at(1)), ttl);
        late.store(3, TaskState::Started, None, (at(1), at(1)), ttl);
        for t in [0, 1, 2, 4, 5] {
            late.store(t, TaskState::Success, Some(ResultValue::Pass), (at(2), at(2)), None);
        }
        assert_eq!(
            late.not_ready(at(3), 3),
            vec![(3, TaskState::Started), (6, TaskState::Pending), (7, TaskState::Pending)]
        );
    }

    #[test]
    fn expired_results_read_pending() {
        let mut b = Backend::new(BackendKind::Redis, CeleryVersion::V5_7, 1);
        b.store(
            0,
            TaskState::Success,
            Some(ResultValue::Pass),
            (SimTime::ZERO, SimTime::ZERO),
            Some(SimDuration::from_secs(10)),
        );
        assert_eq!(b.state(0, SimTime::ZERO + SimDuration::from_secs(9)), TaskState::Success);
        assert_eq!(b.state(0, SimTime::ZERO + SimDuration::from_secs(10)), TaskState::Pending);
    }

    #[test]
    fn database_rows_live_until_the_daily_cleanup_after_they_expire() {
        let mut b = Backend::new(BackendKind::Database, CeleryVersion::V5_7, 1);
        b.store(0, TaskState::Success, None, (SimTime::ZERO, SimTime::ZERO), Some(SimDuration::from_secs(3600)));
        assert_eq!(b.state(0, SimTime::ZERO + SimDuration::from_secs(7200)), TaskState::Success);
        assert_eq!(b.state(0, SimTime::ZERO + SimDuration::from_secs(86_400)), TaskState::Pending);
    }

    #[test]
    fn identical_duplicate_is_one_sorted_set_member_up_to_5_6() {
        let mut b = backend(CeleryVersion::V5_5);
        let t = SimTime::ZERO;
        b.part_return(part(0, ResultValue::Pass), t, true, None);
        assert_eq!(b.part_return(part(0, ResultValue::Pass), t, true, None), PartReturn::Counted { count: 1, size: 3 });
    }

    #[test]
    fn duplicate_with_a_different_value_fires_the_body_early_up_to_5_6() {
        let mut b = backend(CeleryVersion::V5_6);
        let t = SimTime::ZERO;
        b.part_return(part(0, ResultValue::Pass), t, true, None);
        b.part_return(part(1, ResultValue::Pass), t, true, None);
        match b.part_return(part(1, ResultValue::FailDict), t, true, None) {
            PartReturn::Fire(parts) => {
                assert_eq!(parts.len(), 3);
                assert!(parts.iter().all(|p| p.test != 2), "test 2 is missing from the body's input");
            }
            other => panic!("expected an early firing, got {other:?}"),
        }
    }

    #[test]
    fn list_mode_counts_every_report_up_to_5_6() {
        let mut b = backend(CeleryVersion::V5_5);
        let t = SimTime::ZERO;
        b.part_return(part(0, ResultValue::Pass), t, false, None);
        assert_eq!(
            b.part_return(part(0, ResultValue::Pass), t, false, None),
            PartReturn::Counted { count: 2, size: 3 }
        );
    }

    #[test]
    fn list_mode_hands_the_body_its_entries_in_completion_order() {
        let mut b = backend(CeleryVersion::V5_5);
        let t = SimTime::ZERO;
        b.part_return(part(2, ResultValue::Pass), t, false, None);
        b.part_return(part(0, ResultValue::Pass), t, false, None);
        match b.part_return(part(1, ResultValue::Pass), t, false, None) {
            PartReturn::Fire(parts) => assert_eq!(parts.iter().map(|p| p.test).collect::<Vec<_>>(), vec![2, 0, 1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn version_5_7_counts_each_header_task_once() {
        let mut b = backend(CeleryVersion::V5_7);
        let t = SimTime::ZERO;
        b.part_return(part(1, ResultValue::Pass), t, true, None);
        assert_eq!(b.part_return(part(1, ResultValue::FailDict), t, true, None), PartReturn::Duplicate);
        assert_eq!(b.part_return(part(1, ResultValue::Pass), t, false, None), PartReturn::Duplicate);
    }

    #[test]
    fn a_missing_size_key_means_nothing_happens() {
        let mut b = Backend::new(BackendKind::Redis, CeleryVersion::V5_5, 4);
        assert_eq!(b.part_return(part(0, ResultValue::Pass), SimTime::ZERO, true, None), PartReturn::NoSizeKey);
    }

    #[test]
    fn every_part_resets_the_ttl_of_the_chord_keys() {
        let mut b = Backend::new(BackendKind::Redis, CeleryVersion::V5_5, 4);
        let ttl = Some(SimDuration::from_secs(10));
        b.set_chord_size(2, SimTime::ZERO, ttl);
        b.part_return(part(0, ResultValue::Pass), SimTime(9_000_000), true, ttl);
        assert!(b.has_size_key(SimTime(15_000_000)), "the part at 9 s renewed the size key");
        assert!(!b.has_size_key(SimTime(19_000_000)));
    }

    #[test]
    fn the_first_failure_in_header_order_is_the_culprit() {
        let mut b = backend(CeleryVersion::V5_7);
        let t = SimTime::ZERO;
        b.part_return(Part { test: 2, state: TaskState::Failure, value: None }, t, true, None);
        b.part_return(Part { test: 1, state: TaskState::Revoked, value: None }, t, true, None);
        match b.part_return(part(0, ResultValue::Pass), t, true, None) {
            PartReturn::ChordError(p) => assert_eq!(p.test, 1),
            other => panic!("expected a ChordError, got {other:?}"),
        }
    }

    #[test]
    fn keys_survive_a_chord_error_up_to_5_6_but_not_in_5_7() {
        for (v, kept) in [(CeleryVersion::V5_5, true), (CeleryVersion::V5_7, false)] {
            let mut b = Backend::new(BackendKind::Redis, v, 4);
            b.set_chord_size(1, SimTime::ZERO, None);
            let fail = Part { test: 0, state: TaskState::Failure, value: None };
            assert!(matches!(b.part_return(fail, SimTime::ZERO, true, None), PartReturn::ChordError(_)));
            b.finish_chord(false);
            let again = b.part_return(fail, SimTime::ZERO, true, None);
            assert_eq!(matches!(again, PartReturn::ChordError(_)), kept, "{v}");
        }
    }
}
