//! Per-request randomness: every draw for request `seq` comes from a ChaCha8 generator keyed by
//! `(seed, stream, seq)` through SplitMix64 (DESIGN §6), never from a shared sequential RNG, so
//! a run is reproducible across versions and platforms and a shard can compute its own requests.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Independent random streams; the numbers are part of the reproducibility contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Inter-arrival gaps.
    Arrival = 1,
    /// Scenario choice, lengths, prompt content.
    Workload = 2,
    /// The simulator's own draws (faults, jitter).
    Simulator = 3,
    /// Shared-prefix pool content (indexed by prefix id, not seq).
    Prefix = 4,
    /// Sampled output re-counts for the token discrepancy.
    Recount = 5,
    /// Follow-up turns of a multi-turn session (indexed by seq and turn).
    Session = 6,
    /// Which requests a scenario's `abort` closes, and when (indexed by seq).
    Abort = 7,
    /// Which requests a scenario's `connection.fresh` sends on a connection of their own.
    Connection = 8,
}

/// SplitMix64 finaliser (Steele, Lea, Flood 2014): a portable 64-bit mixer.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The generator for draw `seq` of `stream` under `seed`.
pub fn rng_for(seed: u64, stream: Stream, seq: u64) -> ChaCha8Rng {
    let mut state = splitmix64(seed)
        ^ splitmix64(stream as u64).rotate_left(17)
        ^ splitmix64(seq).rotate_left(41);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        state = splitmix64(state);
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn draws_are_stable_and_independent() {
        let a: u64 = rng_for(7, Stream::Workload, 3).random();
        let b: u64 = rng_for(7, Stream::Workload, 3).random();
        assert_eq!(a, b);
        assert_ne!(a, rng_for(7, Stream::Workload, 4).random::<u64>());
        assert_ne!(a, rng_for(7, Stream::Arrival, 3).random::<u64>());
        assert_ne!(a, rng_for(8, Stream::Workload, 3).random::<u64>());
        // Pinned: a change here breaks reproducibility of every recorded run.
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
