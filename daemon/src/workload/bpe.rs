//! The embedded `o200k_base` byte-pair encoder, compact: the rank table is the binary's own
//! bytes (`o200k/o200k_base.bin`, 1.6 MB: each rank's length and bytes, in rank order), indexed by
//! one offset per rank and one open-addressed hash table of ranks — about 2.9 MB of heap where
//! tiktoken-rs builds three maps of the same 200,000 byte strings (tens of MB). Text is split by
//! o200k's pre-tokenizer pattern, and each piece that is not a token itself is merged pair by
//! pair, the lowest-ranked adjacent pair first (leftmost on a tie), as tiktoken does: the ids are
//! tiktoken's (the tests compare them).

use fancy_regex::Regex;

/// For each rank from 0: one byte with the token's length, then its bytes (scripts/make-o200k.py).
static TABLE: &[u8] = include_bytes!("o200k/o200k_base.bin");

/// Ordinary ranks in the table.
const RANKS: usize = 199_998;

/// The special tokens: decoded to their text, never produced by [`Bpe::encode`].
const SPECIAL: [(u32, &str); 2] = [(199_999, "<|endoftext|>"), (200_018, "<|endofprompt|>")];

/// o200k's pre-tokenizer: words with their leading punctuation and contractions, runs of up to
/// three digits, punctuation runs, newlines, whitespace.
const PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);

/// Why the embedded table cannot be used (a build that embedded a wrong file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BpeError {
    #[error("the embedded o200k_base table is malformed: {0}")]
    Table(String),
    #[error("o200k_base's pattern: {0}")]
    Pattern(String),
}

/// The encoder: offsets into [`TABLE`] and the rank index.
#[derive(Debug)]
pub struct Bpe {
    /// Where each rank's bytes start in [`TABLE`] (after its length byte).
    starts: Vec<u32>,
    /// Open addressing by the bytes' hash: `rank + 1` per slot, 0 for empty.
    slots: Vec<u32>,
    pattern: Regex,
}

/// FNV-1a over the bytes: cheap, and spreads the short keys of a BPE table well.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Bpe {
    /// Index the embedded table.
    pub fn o200k() -> Result<Self, BpeError> {
        let mut starts = Vec::with_capacity(RANKS);
        let mut at = 0usize;
        while let Some(&len) = TABLE.get(at) {
            if len == 0 || at + 1 + usize::from(len) > TABLE.len() {
                return Err(BpeError::Table(format!(
                    "rank {} at byte {at}",
                    starts.len()
                )));
            }
            starts.push((at + 1) as u32);
            at += 1 + usize::from(len);
        }
        if starts.len() != RANKS {
            return Err(BpeError::Table(format!(
                "{} ranks, not {RANKS}",
                starts.len()
            )));
        }
        let size = (RANKS * 2).next_power_of_two();
        let mut bpe = Bpe {
            starts,
            slots: vec![0; size],
            pattern: Regex::new(PATTERN).map_err(|e| BpeError::Pattern(e.to_string()))?,
        };
        for rank in 0..RANKS as u32 {
            let mut slot = bpe.slot_of(bpe.token(rank));
            while bpe.slots[slot] != 0 {
                slot = (slot + 1) & (size - 1);
            }
            bpe.slots[slot] = rank + 1;
        }
        Ok(bpe)
    }

    fn slot_of(&self, bytes: &[u8]) -> usize {
        hash(bytes) as usize & (self.slots.len() - 1)
    }

    /// The bytes of an ordinary rank.
    fn token(&self, rank: u32) -> &'static [u8] {
        let start = self.starts[rank as usize] as usize;
        let len = usize::from(TABLE[start - 1]);
        &TABLE[start..start + len]
    }

    /// The rank of `bytes`, when they are a token.
    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        let mut slot = self.slot_of(bytes);
        loop {
            match self.slots[slot] {
                0 => return None,
                r if self.token(r - 1) == bytes => return Some(r - 1),
                _ => slot = (slot + 1) & (self.slots.len() - 1),
            }
        }
    }

    /// Token ids of `text`, special-token text encoded as ordinary text.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        let mut done = 0;
        for m in self.pattern.find_iter(text) {
            // A pattern error (fancy-regex's backtracking limit) ends the split there: the rest
            // is merged as one piece — valid tokens, if not the split tiktoken would have made.
            let Ok(m) = m else { break };
            self.piece(m.as_str().as_bytes(), &mut out);
            done = m.end();
        }
        if done < text.len() {
            self.piece(&text.as_bytes()[done..], &mut out);
        }
        out
    }

    /// One pre-tokenized piece: its rank, or its byte pairs merged lowest rank first (leftmost
    /// on a tie) until no adjacent pair is a token. The parts are a linked list over the piece's
    /// byte offsets and the candidate pairs a min-heap, so a long piece (a run of whitespace, a
    /// blob without spaces) costs O(n log n), not the O(n²) of rescanning every pair per merge.
    fn piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(rank) = self.rank(piece) {
            out.push(rank);
            return;
        }
        let n = piece.len();
        // The part starting at byte s ends where the next one starts, next[s]; prev[s] is the
        // part before it (usize::MAX: none); pair[s] is the rank of part s joined with the next
        // part (u32::MAX: not a token, or s no longer starts a part).
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|s| s.wrapping_sub(1)).collect();
        let joined = |next: &[usize], s: usize| match next.get(next[s]) {
            Some(&end) => self.rank(&piece[s..end]).unwrap_or(u32::MAX),
            None => u32::MAX,
        };
        let mut pair: Vec<u32> = (0..n).map(|s| joined(&next, s)).collect();
        let mut heap: std::collections::BinaryHeap<_> = pair
            .iter()
            .enumerate()
            .filter(|(_, r)| **r != u32::MAX)
            .map(|(s, r)| std::cmp::Reverse((*r, s)))
            .collect();
        while let Some(std::cmp::Reverse((rank, s))) = heap.pop() {
            if pair[s] != rank {
                continue; // a pair that has changed since it was pushed
            }
            let gone = next[s];
            next[s] = next[gone];
            if let Some(p) = prev.get_mut(next[s]) {
                *p = s;
            }
            pair[gone] = u32::MAX;
            for t in [s, prev[s]] {
                if t < n {
                    pair[t] = joined(&next, t);
                    if pair[t] != u32::MAX {
                        heap.push(std::cmp::Reverse((pair[t], t)));
                    }
                }
            }
        }
        // Every single byte is a token, so every part is.
        let mut s = 0;
        while s < n {
            out.extend(self.rank(&piece[s..next[s]]));
            s = next[s];
        }
    }

    /// Text of `ids`; `None` for an unknown id or ids that do not end on a UTF-8 boundary.
    pub fn decode(&self, ids: &[u32]) -> Option<String> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            match SPECIAL.iter().find(|(s, _)| *s == id) {
                Some((_, text)) => bytes.extend_from_slice(text.as_bytes()),
                None if (id as usize) < RANKS => bytes.extend_from_slice(self.token(id)),
                None => return None,
            }
        }
        String::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bpe() -> &'static Bpe {
        static B: std::sync::OnceLock<Bpe> = std::sync::OnceLock::new();
        B.get_or_init(|| Bpe::o200k().unwrap())
    }

    #[test]
    fn every_rank_is_tiktokens() {
        let theirs = tiktoken_rs::o200k_base().unwrap();
        for rank in 0..RANKS as u32 {
            assert_eq!(
                bpe().token(rank),
                theirs.decode_bytes(&[rank]).unwrap().as_slice(),
                "rank {rank}"
            );
            assert_eq!(bpe().rank(bpe().token(rank)), Some(rank));
        }
        assert_eq!(bpe().rank(b"not-a-token-at-all-xyz"), None);
    }

    #[test]
    fn the_ids_are_tiktokens_on_the_corpus_and_the_edges() {
        let theirs = tiktoken_rs::o200k_base().unwrap();
        let mut texts: Vec<String> = crate::workload::CORPUS
            .split("\n\n")
            .map(str::to_string)
            .collect();
        texts.extend(
            [
                "",
                " ",
                "\n\n\n  \t \r\n",
                "Hello, world! It's 2026-12-07; they'll've  gone.",
                "1234567890 3.14159 1e-9 0xDEADBEEF",
                "naïve café — Ünïcödé, 日本語のテキスト, 한국어, emoji 🦀🚀👩‍👩‍👧",
                "fn main() {\n    println!(\"{}\", x?.y[0]);\n}\n",
                "<|endoftext|> is text here, <|endofprompt|> too",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "ÄÖÜäöüß'S 'LL 'Ve",
                "   trailing spaces   ",
            ]
            .map(str::to_string),
        );
        for text in &texts {
            let ours = bpe().encode(text);
            assert_eq!(ours, theirs.encode_ordinary(text), "{text:?}");
            assert_eq!(bpe().decode(&ours).as_deref(), Some(text.as_str()));
        }
    }

    #[test]
    fn long_pieces_are_tiktokens_and_a_huge_one_is_encoded() {
        let theirs = tiktoken_rs::o200k_base().unwrap();
        // Deterministic letters: one 3,000-byte word, no two merges alike.
        let mut x = 12345u32;
        let word: String = (0..3000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                char::from(b'a' + ((x >> 16) % 26) as u8)
            })
            .collect();
        for text in [
            word.clone(),
            "ab".repeat(1500),
            format!("x{}y", " ".repeat(2000)),
            "é".repeat(1000),
        ] {
            assert_eq!(
                bpe().encode(&text),
                theirs.encode_ordinary(&text),
                "{}",
                &text[..20]
            );
        }
        // 400 KB in one piece: quadratic merging would not finish; this one round-trips.
        let huge = word.repeat(134);
        let ids = bpe().encode(&huge);
        assert_eq!(bpe().decode(&ids).as_deref(), Some(huge.as_str()));
    }

    #[test]
    fn decode_refuses_unknown_ids_and_cut_characters_and_names_the_specials() {
        assert_eq!(bpe().decode(&[RANKS as u32 + 5]), None);
        // A multi-byte character cut in the middle is no text.
        let bytes = "é".as_bytes();
        let first = bpe().rank(&bytes[..1]).unwrap();
        assert_eq!(bpe().decode(&[first]), None);
        assert_eq!(
            bpe().decode(&[199_999, 200_018]).as_deref(),
            Some("<|endoftext|><|endofprompt|>")
        );
    }
}
