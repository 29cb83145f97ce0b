//! The simulated engine's prefix cache: block-granular (a block is `block_tokens` prompt
//! tokens), keyed by a chained hash so a block only matches when everything before it matched
//! too, bounded to `capacity` blocks with least-recently-used eviction.

use std::collections::{BTreeMap, HashMap};

use std::hash::{Hash, Hasher};

/// A bounded LRU set of prefix-block hashes.
#[derive(Debug)]
pub struct PrefixCache {
    block_tokens: usize,
    capacity: usize,
    /// hash -> last-use stamp
    blocks: HashMap<u64, u64>,
    /// stamp -> hash, oldest first
    order: BTreeMap<u64, u64>,
    clock: u64,
}

impl PrefixCache {
    pub fn new(block_tokens: usize, capacity: usize) -> Self {
        PrefixCache {
            block_tokens: block_tokens.max(1),
            capacity,
            blocks: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
        }
    }

    /// Forget every block (vLLM's `POST /reset_prefix_cache`).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.order.clear();
    }

    /// Chained hashes of the full blocks of `tokens`.
    pub fn block_hashes(&self, tokens: &[u32]) -> Vec<u64> {
        let mut h = 0x5851_f42d_4c95_7f2d_u64;
        tokens
            .chunks_exact(self.block_tokens)
            .map(|block| {
                // A block's hash covers every token before it: equal hashes, equal prefixes.
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                (h, block).hash(&mut hasher);
                h = hasher.finish();
                h
            })
            .collect()
    }

    /// How many leading tokens of a prompt with these block hashes are cached; the blocks are
    /// then inserted (or refreshed) as most recently used.
    pub fn lookup_insert(&mut self, hashes: &[u64]) -> usize {
        let hit_blocks = hashes
            .iter()
            .take_while(|h| self.blocks.contains_key(h))
            .count();
        for &h in hashes {
            self.touch(h);
        }
        hit_blocks * self.block_tokens
    }

    fn touch(&mut self, h: u64) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        if let Some(old) = self.blocks.insert(h, self.clock) {
            self.order.remove(&old);
        }
        self.order.insert(self.clock, h);
        while self.blocks.len() > self.capacity {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            self.blocks.remove(&victim);
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_hit_and_lru_evicts() {
        let mut c = PrefixCache::new(4, 5);
        let a: Vec<u32> = (0..16).collect();
        let mut b = a.clone();
        b[9] = 999; // diverges in the third block
        let ha = c.block_hashes(&a);
        assert_eq!(ha.len(), 4);
        assert_eq!(c.lookup_insert(&ha), 0);
        assert_eq!(c.lookup_insert(&ha), 16);
        let hb = c.block_hashes(&b);
        assert_eq!(c.lookup_insert(&hb), 8, "first two blocks shared");
        assert_eq!(c.len(), 5, "bounded");
        // b's new blocks evicted a's least recently used one (its third block).
        assert_eq!(c.lookup_insert(&ha), 8);
    }
}
