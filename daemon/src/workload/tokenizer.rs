//! Tokenizers: the abstraction prompts are measured with. A Hugging Face `tokenizer.json` (the
//! `tokenizers` crate, pure Rust, no network) is exact for the target model; the embedded default
//! is `o200k_base` (offline; [`super::bpe`]: tiktoken's ids from about 3 MB of heap). Tokenization
//! runs only where prompts are prepared and after a stream has ended, on blocking workers — never
//! between chunk reads.

use std::fmt;
use std::sync::Arc;

/// Counts and cuts text in a model's tokens.
pub trait Tokenizer: Send + Sync + fmt::Debug {
    /// Token ids of `text` (no special tokens).
    fn encode(&self, text: &str) -> Vec<u32>;
    /// Text of `ids`; `None` when the ids do not decode to valid UTF-8.
    fn decode(&self, ids: &[u32]) -> Option<String>;
    /// Name for logs and the status API.
    fn name(&self) -> &str;
    /// Whether its tables are in memory: measuring text now costs no memory beyond the text.
    fn ready(&self) -> bool {
        true
    }
    fn count(&self, text: &str) -> usize {
        self.encode(text).len()
    }
}

/// The embedded `o200k_base` BPE (GPT-4o family). Its index (about 3 MB over the table in the
/// binary) is built on the first use, once per process: a daemon that never measures text (a
/// canary-only config with its fixed prompt and the server's token counts) never holds it.
#[derive(Default)]
pub struct O200k;

impl fmt::Debug for O200k {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("O200k")
    }
}

/// The one `o200k_base` of the process, built on its first use.
static O200K: std::sync::OnceLock<super::bpe::Bpe> = std::sync::OnceLock::new();

impl O200k {
    pub fn new() -> Self {
        O200k
    }

    #[allow(
        clippy::expect_used,
        reason = "the table is embedded in the binary and checked by its tests: it always indexes"
    )]
    fn bpe(&self) -> &'static super::bpe::Bpe {
        O200K.get_or_init(|| super::bpe::Bpe::o200k().expect("the embedded o200k_base table"))
    }
}

impl Tokenizer for O200k {
    fn encode(&self, text: &str) -> Vec<u32> {
        self.bpe().encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Option<String> {
        self.bpe().decode(ids)
    }
    fn name(&self) -> &str {
        "o200k_base"
    }
    fn ready(&self) -> bool {
        O200K.get().is_some()
    }
}

/// A Hugging Face `tokenizer.json`.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    name: String,
}

impl fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HfTokenizer({})", self.name)
    }
}

/// Why a `tokenizer.json` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizerFileError {
    #[error("{0}")]
    Unreadable(String),
    #[error("cannot encode plain text: {0}")]
    CannotEncode(String),
    #[error("encodes plain text to no tokens")]
    NoTokens,
}

impl HfTokenizer {
    /// Load a `tokenizer.json`; the error says why in one line.
    pub fn from_file(path: &std::path::Path) -> Result<Self, TokenizerFileError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| TokenizerFileError::Unreadable(e.to_string()))?;
        // A tokenizer that cannot encode plain text is no use for measuring prompts.
        let probe = inner
            .encode_fast("llm-soak probe", false)
            .map_err(|e| TokenizerFileError::CannotEncode(e.to_string()))?;
        if probe.get_ids().is_empty() {
            return Err(TokenizerFileError::NoTokens);
        }
        Ok(HfTokenizer {
            inner,
            name: path.display().to_string(),
        })
    }
}

impl Tokenizer for HfTokenizer {
    fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }
    fn decode(&self, ids: &[u32]) -> Option<String> {
        self.inner.decode(ids, false).ok()
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The tokenizer used when none is configured.
pub fn default_tokenizer() -> Arc<dyn Tokenizer> {
    Arc::new(O200k::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trained_bpe_tokenizer_json_loads_and_round_trips() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tokenizer/bpe-2k.json");
        let t = HfTokenizer::from_file(&path).unwrap();
        let text = "The hacker culture values a clean hack.";
        let ids = t.encode(text);
        assert!(ids.len() >= 5 && ids.len() < text.len());
        assert_eq!(t.decode(&ids).as_deref(), Some(text));
        assert!(
            HfTokenizer::from_file(std::path::Path::new("/nonexistent/tokenizer.json")).is_err()
        );
    }

    #[test]
    fn o200k_round_trips() {
        let t = O200k::new();
        let ids = t.encode("Hello, soak test!");
        assert!(ids.len() >= 4);
        assert_eq!(t.decode(&ids).as_deref(), Some("Hello, soak test!"));
        assert_eq!(t.count("Hello, soak test!"), ids.len());
    }
}
