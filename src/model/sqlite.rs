//! What a result-backend write costs on SQLAlchemy over SQLite, the database backend the
//! observations ran (docs/calibration.md "The database backend's costs"; measured with
//! `tools/sqlite-costs/measure.py`):
//!
//! - each process's first write sets up its engine and session and runs `prepare_models`
//!   (creating or checking the tables): [`SESSION_SETUP`] (celery `backends/database/session.py`);
//! - a write's own work before it asks for the lock, a few milliseconds of Python that run in
//!   parallel with other processes: [`READ`], drawn per write. Inside it the write reads its row
//!   (`_query_task`: the 5.7 guard reads here) [`GUARD_GAP`] before it asks for the lock, so a
//!   SUCCESS another process commits in between is written over, as the guard's own comment
//!   says. While another write holds the lock the read waits in the busy handler: a writer
//!   committing holds SQLite's PENDING or EXCLUSIVE lock, which no new reader gets past
//!   (sqlite.org "File Locking And Concurrency in SQLite Version 3"), so a read sees what was
//!   committed before it. A poll's reads are timed by their own measured costs instead
//!   (`worker.rs: DATABASE_READ`);
//! - then it needs the database file's write lock, which one writer holds at a time for `hold`
//!   (`topology.backend_write_latency`). A writer that finds it taken sleeps in SQLite's busy
//!   handler steps and tries again ([`BUSY_STEPS`], `sqliteDefaultBusyCallback`), so waiters
//!   pay more than a queue would and come in no fixed order;
//! - one process writes one thing at a time: a second write from it starts when the first lands;
//! - a process that reads before it has written (a chord_unlock poll) sets up its session then:
//!   [`READ_SESSION_SETUP`].
//!
//! Pure bookkeeping: the world asks when a write reads and lands, and tells it when a worker's
//! processes are replaced.

use std::collections::VecDeque;

use rand::RngExt;

use crate::time::{SimDuration, SimTime};

/// A process's first write: engine, session and `prepare_models`, in microseconds, drawn per
/// process (128–147 ms measured for a pool child's first write on 5.7.0, `tools/sqlite-costs`;
/// docs/calibration.md).
pub const SESSION_SETUP: std::ops::RangeInclusive<u64> = 128_000..=147_000;

/// A process's first read when it has not written: its engine and session (measured 14 ms for
/// a pool child's first chord_unlock poll, 13 ms in the observations' first poll cycles;
/// docs/calibration.md "Polling").
pub const READ_SESSION_SETUP: SimDuration = SimDuration::from_millis(14);

/// The row read before the lock, in microseconds (measured: about 3 ms of each write is not
/// serialised).
pub const READ: std::ops::RangeInclusive<u64> = 2_000..=4_000;

/// From the row's read to the write asking for the lock: on 5.7.0 the guard's SELECT returning
/// to the UPDATE being issued, median 0.48 ms (10–90 %: 0.46–0.66 ms); on 5.5.3 its one SELECT
/// to the UPDATE, 0.52–0.62 ms (`tools/guard-gap`, two runs of 300 writes each;
/// docs/calibration.md).
pub const GUARD_GAP: SimDuration = SimDuration(500);

/// SQLite's busy handler sleeps, in milliseconds, then 100 ms at a time (sqlite `main.c`:
/// `sqliteDefaultBusyCallback`, with usleep).
pub const BUSY_STEPS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

/// A process that writes: a worker's pool child (`Some(slot)`) or its main process (`None`), or
/// a client outside the workers (`worker == usize::MAX`).
pub type Writer = (usize, Option<u32>);

/// The database file's write lock and each process's session.
#[derive(Clone, Debug, Default)]
pub struct Sqlite {
    lock_free: SimTime,
    /// The lock's holds not yet released when the last write was asked for, as (taken,
    /// released): in order and disjoint, since each is taken once the one before is released.
    holds: VecDeque<(SimTime, SimTime)>,
    /// Per worker, per process: its main process first, then its pool children by slot.
    workers: Vec<Vec<Process>>,
    /// A client outside the workers.
    client: Process,
}

/// One process's use of the database.
#[derive(Clone, Copy, Debug, Default)]
struct Process {
    /// When its last write lands; `None` until it has written (and set up its session for it).
    lands: Option<SimTime>,
    /// Whether it has read (and set up a session for that).
    read: bool,
}

impl Sqlite {
    /// A write issued `after` from `now` by `who`: when it reads its row and when it lands
    /// (after the writes before it have). `now` never goes back from one call to the next.
    pub fn write(
        &mut self,
        now: SimTime,
        after: SimDuration,
        who: Writer,
        hold: SimDuration,
        rng: &mut impl rand::Rng,
    ) -> (SimTime, SimTime) {
        let lock_free = self.lock_free;
        let issued = now + after;
        let p = process(&mut self.workers, &mut self.client, who);
        let start = match p.lands {
            Some(free) => issued.max(free),
            None => issued + SimDuration(rng.random_range(SESSION_SETUP)),
        };
        let asks = start + SimDuration(rng.random_range(READ));
        let read_at = SimTime(asks.0 - GUARD_GAP.0);
        // Every later read comes after `now`: holds released by then can be dropped.
        while self.holds.front().is_some_and(|&(_, released)| released <= now) {
            self.holds.pop_front();
        }
        let i = self.holds.partition_point(|&(_, released)| released <= read_at);
        let (read, asks) = if self.holds.get(i).is_some_and(|&(taken, _)| taken <= read_at) {
            // Kept out by a commit: the read comes once the lock is free, the write after it.
            let read = acquire(read_at, lock_free);
            (read, read + GUARD_GAP)
        } else {
            (read_at, asks)
        };
        let taken = acquire(asks, lock_free);
        let lands = taken + hold;
        p.lands = Some(lands);
        self.lock_free = lands;
        self.holds.push_back((taken, lands));
        (read, lands)
    }

    /// What a read by `who` costs besides its SELECT: the session set-up, once per process.
    pub fn read(&mut self, who: Writer) -> SimDuration {
        let p = process(&mut self.workers, &mut self.client, who);
        let first = p.lands.is_none() && !p.read;
        p.read = true;
        if first { READ_SESSION_SETUP } else { SimDuration::ZERO }
    }

    /// Every process of worker `w` is new (a restart): each sets up its session again.
    pub fn forget_worker(&mut self, w: usize) {
        if let Some(procs) = self.workers.get_mut(w) {
            procs.clear();
        }
    }

    /// Pool child `slot` of worker `w` was replaced (it died).
    pub fn forget_child(&mut self, w: usize, slot: u32) {
        if let Some(p) = self.workers.get_mut(w).and_then(|p| p.get_mut(slot as usize + 1)) {
            *p = Process::default();
        }
    }
}

/// Process `who`'s record, made on first use (taking the fields apart, so that a write can hold
/// it and the lock's holds at once).
fn process<'a>(workers: &'a mut Vec<Vec<Process>>, client: &'a mut Process, (worker, slot): Writer) -> &'a mut Process {
    if worker == usize::MAX {
        return client;
    }
    if workers.len() <= worker {
        workers.resize(worker + 1, Vec::new());
    }
    let procs = &mut workers[worker];
    let i = slot.map_or(0, |s| s as usize + 1);
    if procs.len() <= i {
        procs.resize(i + 1, Process::default());
    }
    &mut procs[i]
}

/// When a writer asking for the lock at `asks` gets it, the lock being held until `free`: at
/// once, or at the first of its busy-handler retries that comes after `free`.
fn acquire(asks: SimTime, free: SimTime) -> SimTime {
    if asks >= free {
        return asks;
    }
    let wait_us = free.since(asks).0;
    // The busy handler has slept this long after each of its steps.
    let mut slept_ms = 0;
    for step in BUSY_STEPS {
        slept_ms += step;
        if slept_ms * 1_000 >= wait_us {
            return asks + SimDuration::from_millis(slept_ms);
        }
    }
    // Then 100 ms at a time.
    let beyond_us = wait_us - slept_ms * 1_000;
    asks + SimDuration::from_millis(slept_ms + beyond_us.div_ceil(100_000) * 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::{Stream, stream};

    const HOLD: SimDuration = SimDuration::from_millis(2);

    #[test]
    fn a_process_pays_its_session_once_and_writes_one_thing_at_a_time() {
        let mut db = Sqlite::default();
        let mut rng = stream(1, Stream::Database);
        let (read, first) = db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(0)), HOLD, &mut rng);
        let setup = SimDuration(*SESSION_SETUP.start());
        assert!(read >= SimTime::ZERO + (setup + SimDuration::from_millis(2) - GUARD_GAP));
        assert_eq!(first, read + GUARD_GAP + HOLD, "nobody else holds the lock");
        let (read2, second) = db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(0)), HOLD, &mut rng);
        assert!(read2 >= first + (SimDuration::from_millis(2) - GUARD_GAP), "after its first write lands");
        assert!(second < first + SimDuration::from_millis(10), "no session the second time");
        db.forget_child(0, 0);
        let (read3, _) = db.write(second, SimDuration::ZERO, (0, Some(0)), HOLD, &mut rng);
        assert!(read3 >= second + setup, "a new child sets up its session again");
    }

    #[test]
    fn a_process_sets_up_a_session_for_its_first_read_unless_it_has_written() {
        let mut db = Sqlite::default();
        let mut rng = stream(1, Stream::Database);
        assert_eq!(db.read((0, Some(1))), READ_SESSION_SETUP);
        assert_eq!(db.read((0, Some(1))), SimDuration::ZERO, "once per process");
        db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(2)), HOLD, &mut rng);
        assert_eq!(db.read((0, Some(2))), SimDuration::ZERO, "a writer has its session");
        db.forget_child(0, 1);
        assert_eq!(db.read((0, Some(1))), READ_SESSION_SETUP, "a new child sets up again");
        db.forget_worker(0);
        assert_eq!(db.read((0, Some(2))), READ_SESSION_SETUP, "so does a restarted worker's");
    }

    #[test]
    fn a_writes_read_waits_for_the_write_holding_the_lock_and_sees_it() {
        // 5.7's guard reads the row before writing: while another process's SUCCESS holds the
        // lock, the read waits in the busy handler and comes after that write has landed.
        let mut db = Sqlite::default();
        let mut rng = stream(1, Stream::Database);
        let long = SimDuration::from_millis(80);
        db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(0)), HOLD, &mut rng); // sessions set up
        db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(1)), HOLD, &mut rng);
        let now = SimTime::ZERO + SimDuration::from_secs(1);
        let (_, success_lands) = db.write(now, SimDuration::ZERO, (0, Some(0)), long, &mut rng);
        let (read, lands) =
            db.write(now + SimDuration::from_millis(5), SimDuration::ZERO, (0, Some(1)), HOLD, &mut rng);
        assert!(read >= success_lands, "read at {read:?}, the SUCCESS lands at {success_lands:?}");
        assert_eq!(lands, read + GUARD_GAP + HOLD, "then it asks for the lock and gets it at once");
    }

    #[test]
    fn a_read_before_another_write_takes_the_lock_misses_that_write_and_lands_over_it() {
        // 5.7's guard reads before asking for the lock (its own comment): a SUCCESS that takes
        // the lock after the read and before the ask is written over. Two processes issue a
        // write at the same instant, over many seeds: whenever the second reads before the
        // first takes the lock, it lands after it; whenever it reads while the first holds the
        // lock, it sees the first landed.
        let (mut missed, mut waited) = (0, 0);
        for seed in 1..=200 {
            let mut db = Sqlite::default();
            let mut rng = stream(seed, Stream::Database);
            db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(0)), HOLD, &mut rng); // sessions set up
            db.write(SimTime::ZERO, SimDuration::ZERO, (0, Some(1)), HOLD, &mut rng);
            let now = SimTime::ZERO + SimDuration::from_secs(1);
            let (_, first_lands) = db.write(now, SimDuration::ZERO, (0, Some(0)), HOLD, &mut rng);
            let first_takes = SimTime(first_lands.0 - HOLD.0);
            let (read, lands) = db.write(now, SimDuration::ZERO, (0, Some(1)), HOLD, &mut rng);
            if read < first_takes {
                assert!(lands > first_lands, "seed {seed}: read before the first write, landed before it");
                missed += 1;
            } else {
                assert!(read >= first_lands, "seed {seed}: read at {read:?} while the first held the lock");
                waited += 1;
            }
        }
        assert!(missed > 0 && waited > 0, "both happen: missed {missed}, waited {waited}");
    }

    #[test]
    fn concurrent_writers_serialise_and_a_waiter_comes_on_a_busy_step() {
        let mut db = Sqlite::default();
        let mut rng = stream(1, Stream::Database);
        let now = SimTime::ZERO + SimDuration::from_secs(1);
        let writers: Vec<Writer> = (0..6).map(|s| (0, Some(s))).collect();
        for &w in &writers {
            db.write(SimTime::ZERO, SimDuration::ZERO, w, HOLD, &mut rng); // sessions set up
        }
        let mut lands: Vec<SimTime> =
            writers.iter().map(|&w| db.write(now, SimDuration::ZERO, w, HOLD, &mut rng).1).collect();
        lands.sort();
        for pair in lands.windows(2) {
            assert!(pair[1] >= pair[0] + HOLD, "one holder at a time: {lands:?}");
        }
        let last = lands[5].since(now);
        assert!(last > HOLD.times(6), "busy-handler sleeps make the last wait longer than a queue");
        assert!(last < SimDuration::from_millis(200), "{last}");
        assert_eq!(acquire(now, now), now);
        let free = now + SimDuration::from_millis(4);
        assert_eq!(acquire(now, free), now + SimDuration::from_millis(8), "1 + 2 + 5 ms of sleeps");
        let long = now + SimDuration::from_millis(500);
        assert_eq!(acquire(now, long), now + SimDuration::from_millis(528), "328 ms of steps, then 2 × 100 ms");
        let exact = now + SimDuration::from_millis(428);
        assert_eq!(acquire(now, exact), exact, "a retry that lands as the lock frees gets it");
    }
}
