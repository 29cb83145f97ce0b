//! The simulator's own randomness: a ChaCha8 generator per request, keyed by `(seed, index)`
//! directly (ChaCha keys need no mixing), so a fixed seed replays the same faults, jitter and
//! early stops. Deliberately not the client's generator: the target shares no code path with
//! what measures it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Domain tag in the key's last 16 bytes.
const TAG: &[u8; 16] = b"llm-soak/sim-rng";

/// The generator of the simulator's `index`-th draw under `seed`.
pub(super) fn rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&index.to_le_bytes());
    key[16..].copy_from_slice(TAG);
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn draws_are_stable_and_independent() {
        let a: u64 = rng(7, 3).random();
        assert_eq!(a, rng(7, 3).random::<u64>());
        assert_ne!(a, rng(7, 4).random::<u64>());
        assert_ne!(a, rng(8, 3).random::<u64>());
    }
}
