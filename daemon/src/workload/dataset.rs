//! Prompt datasets: JSONL (`{"prompt": …}` or `{"messages": [...]}` per line, optional
//! `max_tokens`) and ShareGPT JSON (`conversations` with `from`/`value`: the first human turn is
//! the prompt, the reply's length the output length). A JSONL file is indexed by line offsets and
//! read on demand, never held whole; a ShareGPT array is parsed element by element and only the
//! prompts are kept. Bad entries are reported with their line (JSONL) or element index
//! (ShareGPT), skipped and counted or fatal as configured; entries can be filtered by token length.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Mutex;

use serde::Deserialize;

use super::Tokenizer;
use super::rng::splitmix64;
pub use crate::config::{DatasetSpec, Format, OnError};

/// One prompt from a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// (role, content) pairs; a plain prompt is one user message.
    pub messages: Vec<(String, String)>,
    pub max_tokens: Option<u32>,
}

impl Entry {
    /// All message contents, joined (what a completions endpoint gets).
    pub fn text(&self) -> String {
        self.messages
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Deserialize)]
struct JsonlLine {
    prompt: Option<String>,
    messages: Option<Vec<Message>>,
    max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[derive(Debug, Deserialize)]
struct ShareGptItem {
    #[serde(default)]
    conversations: Vec<Turn>,
}

#[derive(Debug, Deserialize)]
struct Turn {
    from: String,
    value: String,
}

fn parse_jsonl(line: &str) -> Result<Entry, String> {
    let l: JsonlLine = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let messages = match (l.prompt, l.messages) {
        (Some(p), None) if !p.trim().is_empty() => vec![("user".to_string(), p)],
        (None, Some(m)) if !m.is_empty() => m.into_iter().map(|m| (m.role, m.content)).collect(),
        (Some(_), Some(_)) => return Err("has both \"prompt\" and \"messages\"".into()),
        _ => return Err("needs a non-empty \"prompt\" or \"messages\"".into()),
    };
    if l.max_tokens == Some(0) {
        return Err("max_tokens must be > 0".into());
    }
    Ok(Entry {
        messages,
        max_tokens: l.max_tokens,
    })
}

/// Where entries live.
#[derive(Debug)]
enum Store {
    /// Byte offsets of the usable lines of a JSONL file, read on demand.
    Jsonl {
        offsets: Vec<u64>,
        reader: Mutex<BufReader<File>>,
    },
    Memory(Vec<Entry>),
}

/// A loaded dataset.
#[derive(Debug)]
pub struct Dataset {
    pub spec: DatasetSpec,
    store: Store,
    /// Entries skipped as bad, and as outside the token filter.
    pub skipped_bad: usize,
    pub skipped_filter: usize,
    /// Multiplier of the seeded permutation (coprime with the length).
    stride: u64,
    offset: u64,
}

/// Why a dataset could not be loaded (one line each).
pub type LoadError = Vec<String>;

impl Dataset {
    pub fn load(
        spec: DatasetSpec,
        tokenizer: &dyn Tokenizer,
        seed: u64,
    ) -> Result<Dataset, LoadError> {
        let path = spec.file.file.clone();
        let file =
            File::open(&path).map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
        let mut bad: Vec<String> = Vec::new();
        let mut skipped_filter = 0;
        let keep = |e: &Entry, skipped: &mut usize| {
            if spec.min_input_tokens.is_none() && spec.max_input_tokens.is_none() {
                return true;
            }
            let n = tokenizer.count(&e.text()) as u32;
            let ok = spec.min_input_tokens.is_none_or(|m| n >= m.0)
                && spec.max_input_tokens.is_none_or(|m| n <= m.0);
            if !ok {
                *skipped += 1;
            }
            ok
        };
        let store = match spec.format {
            Format::Jsonl => {
                let mut reader = BufReader::new(file);
                let mut offsets = Vec::new();
                let (mut pos, mut line_no, mut line) = (0u64, 0usize, String::new());
                loop {
                    line.clear();
                    let n = reader
                        .read_line(&mut line)
                        .map_err(|e| vec![format!("{}: {e}", path.display())])?;
                    if n == 0 {
                        break;
                    }
                    line_no += 1;
                    if !line.trim().is_empty() {
                        match parse_jsonl(line.trim()) {
                            Ok(e) if keep(&e, &mut skipped_filter) => offsets.push(pos),
                            Ok(_) => {}
                            Err(msg) => bad.push(format!("line {line_no}: {msg}")),
                        }
                    }
                    pos += n as u64;
                }
                let reader = BufReader::new(reader.into_inner());
                Store::Jsonl {
                    offsets,
                    reader: Mutex::new(reader),
                }
            }
            Format::Sharegpt => {
                let mut entries = Vec::new();
                let mut i = 0usize;
                let mut each = |item: serde_json::Value| {
                    match sharegpt_entry(item, tokenizer) {
                        Ok(e) if keep(&e, &mut skipped_filter) => entries.push(e),
                        Ok(_) => {}
                        Err(msg) => bad.push(format!("element {i}: {msg}")),
                    }
                    i += 1;
                };
                let mut de = serde_json::Deserializer::from_reader(BufReader::new(file));
                serde::Deserializer::deserialize_seq(&mut de, Elements(&mut each)).map_err(
                    |e| {
                        vec![format!(
                            "{}: not a JSON array of conversations: {e}",
                            path.display()
                        )]
                    },
                )?;
                Store::Memory(entries)
            }
        };
        if !bad.is_empty() && spec.on_error == OnError::Fail {
            let more = bad.len().saturating_sub(10);
            bad.truncate(10);
            if more > 0 {
                bad.push(format!("… and {more} more"));
            }
            return Err(bad);
        }
        let len = match &store {
            Store::Jsonl { offsets, .. } => offsets.len(),
            Store::Memory(v) => v.len(),
        } as u64;
        if len == 0 {
            return Err(vec![format!("{}: no usable entries", path.display())]);
        }
        // A seeded affine permutation i -> (stride * i + offset) mod len.
        let mut stride = splitmix64(seed) % len;
        while gcd(stride.max(1), len) != 1 {
            stride = (stride + 1) % len;
        }
        Ok(Dataset {
            spec,
            store,
            skipped_bad: bad.len(),
            skipped_filter,
            stride: stride.max(1),
            offset: splitmix64(seed ^ 0x5eed) % len,
        })
    }

    pub fn len(&self) -> usize {
        match &self.store {
            Store::Jsonl { offsets, .. } => offsets.len(),
            Store::Memory(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry request `seq` uses; `draw` is a uniform draw from the request's generator.
    pub fn index(&self, seq: u64, draw: u64) -> usize {
        let n = self.len() as u64;
        if self.spec.replacement {
            (draw % n) as usize
        } else {
            // Each run of `len` consecutive sequence numbers visits every entry once.
            ((self.stride.wrapping_mul(seq % n) % n + self.offset) % n) as usize
        }
    }

    pub fn get(&self, i: usize) -> Option<Entry> {
        match &self.store {
            Store::Memory(v) => v.get(i).cloned(),
            Store::Jsonl { offsets, reader } => {
                let off = *offsets.get(i)?;
                let mut r = reader.lock().ok()?;
                r.seek(SeekFrom::Start(off)).ok()?;
                let mut line = String::new();
                r.read_line(&mut line).ok()?;
                parse_jsonl(line.trim()).ok()
            }
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn sharegpt_entry(item: serde_json::Value, tokenizer: &dyn Tokenizer) -> Result<Entry, String> {
    let item: ShareGptItem =
        serde_json::from_value(item).map_err(|e| format!("not a conversation: {e}"))?;
    let mut turns = item
        .conversations
        .into_iter()
        .skip_while(|t| t.from == "system");
    let human = turns
        .next()
        .filter(|t| matches!(t.from.as_str(), "human" | "user"))
        .ok_or("does not start with a human turn")?;
    if human.value.trim().is_empty() {
        return Err("empty human turn".into());
    }
    let reply = turns
        .next()
        .filter(|t| matches!(t.from.as_str(), "gpt" | "assistant" | "chatgpt"));
    let max_tokens = reply.map(|r| tokenizer.count(&r.value).max(1) as u32);
    Ok(Entry {
        messages: vec![("user".to_string(), human.value)],
        max_tokens,
    })
}

/// Visits a JSON array one element at a time, so only one conversation is in memory at once.
struct Elements<'a, F>(&'a mut F);

impl<'de, F: FnMut(serde_json::Value)> serde::de::Visitor<'de> for Elements<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            (self.0)(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::default_tokenizer;
    use std::path::Path;

    fn spec(file: &Path, format: Format, on_error: OnError) -> DatasetSpec {
        DatasetSpec {
            file: crate::config::FileRef {
                file: file.into(),
                at: crate::config::Origin::default(),
            },
            format,
            replacement: false,
            on_error,
            min_input_tokens: None,
            max_input_tokens: None,
        }
    }

    #[test]
    fn jsonl_is_indexed_read_on_demand_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(
            &path,
            "{\"prompt\": \"first prompt\"}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"second\"}], \"max_tokens\": 12}\nnot json\n{\"prompt\": \"\"}\n{\"prompt\": \"third one here\"}\n",
        )
        .unwrap();
        let tok = default_tokenizer();
        let err =
            Dataset::load(spec(&path, Format::Jsonl, OnError::Fail), tok.as_ref(), 1).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err[0].starts_with("line 4: invalid JSON"), "{err:?}");
        assert!(err[1].starts_with("line 5: needs a non-empty"), "{err:?}");
        let d = Dataset::load(spec(&path, Format::Jsonl, OnError::Skip), tok.as_ref(), 1).unwrap();
        assert_eq!((d.len(), d.skipped_bad), (3, 2));
        assert_eq!(d.get(1).unwrap().max_tokens, Some(12));
        // Without replacement: three consecutive sequence numbers visit all three entries.
        let mut seen: Vec<usize> = (0..3).map(|s| d.index(s, 0)).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2]);
        let mut filtered = spec(&path, Format::Jsonl, OnError::Skip);
        filtered.min_input_tokens = Some(crate::config::Tokens(2));
        let d = Dataset::load(filtered, tok.as_ref(), 1).unwrap();
        assert_eq!((d.len(), d.skipped_filter), (2, 1));
    }

    #[test]
    fn sharegpt_takes_the_first_human_turn_and_the_reply_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"[{"id": "a", "conversations": [{"from": "human", "value": "What is a kludge?"}, {"from": "gpt", "value": "A clumsy but working fix, often temporary."}]},
                {"id": "b", "conversations": [{"from": "gpt", "value": "orphan reply"}]},
                {"id": "c", "conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "Hi"}]}]"#,
        )
        .unwrap();
        let tok = default_tokenizer();
        let d = Dataset::load(
            spec(&path, Format::Sharegpt, OnError::Skip),
            tok.as_ref(),
            1,
        )
        .unwrap();
        assert_eq!((d.len(), d.skipped_bad), (2, 1));
        let e = d.get(0).unwrap();
        assert_eq!(
            e.messages,
            vec![("user".to_string(), "What is a kludge?".to_string())]
        );
        assert_eq!(
            e.max_tokens,
            Some(tok.count("A clumsy but working fix, often temporary.") as u32)
        );
        assert_eq!(d.get(1).unwrap().max_tokens, None);
        let err = Dataset::load(
            spec(&path, Format::Sharegpt, OnError::Fail),
            tok.as_ref(),
            1,
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec!["element 1: does not start with a human turn".to_string()]
        );
    }
}
