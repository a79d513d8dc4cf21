//! Seeded randomness: one master seed, one ChaCha8 stream per concern, so that adding a fault
//! does not reshuffle the workload's draws. Nothing here touches OS entropy.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The concerns that draw random numbers, each on its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Test durations drawn from ranges.
    Workload = 1,
    /// Autoretry jitter (`retry_jitter`).
    Retry = 2,
    /// Races inside a worker's shutdown (which pool children's exits its main process reads
    /// first).
    Shutdown = 3,
    /// How long each database write's own work takes (which of two writers gets the lock).
    Database = 4,
    /// When a fault given a time range comes.
    Faults = 5,
    /// Which outcome `[run] rates` draws for each test.
    Outcomes = 6,
    /// The simulated network's own seed (`--driver turmoil`).
    Network = 7,
}

/// A stream derived from the master seed.
pub fn stream(seed: u64, which: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(which as u64);
    rng
}
