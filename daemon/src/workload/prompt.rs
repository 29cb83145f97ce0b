//! Building one scenario's prompts: token-exact text cut from a corpus at a random offset, led by
//! a per-request marker (so no two requests share a prefix by accident), optionally led by one of
//! a pool of shared prefixes (so prefix-cache reuse is a chosen variable), or — `uniform = true`,
//! the trap — one fixed prompt for every request. The result is the serialized request body.

use std::sync::Arc;

use bytes::Bytes;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::assets::ScenarioAssets;
use super::dataset::Dataset;
use super::dist::Lengths;
use super::rng::{Stream, rng_for};
use super::{CORPUS, Prompt, Tokenizer};
use crate::config::Scenario;

/// Text prompts are cut from.
#[derive(Debug, Clone)]
enum Text {
    Embedded,
    File(Arc<String>),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Embedded => CORPUS,
            Text::File(t) => t,
        }
    }
}

/// Prepares the prompts of one scenario.
#[derive(Debug)]
pub struct Builder {
    index: usize,
    scenario: Scenario,
    tokenizer: Arc<dyn Tokenizer>,
    text: Text,
    /// Prompts from a file instead of synthetic text.
    dataset: Option<Arc<Dataset>>,
    /// `None` for dataset scenarios.
    inputs: Option<Lengths>,
    outputs: Lengths,
    run_id: String,
    /// Shared-prefix pool (texts), empty without `shared_prefix`.
    prefixes: Vec<String>,
    /// `uniform = true`: (content, its tokens, max_tokens), the same for every request.
    fixed: Option<(String, usize, u32)>,
    system_tokens: usize,
    /// Turns per session, for conversational scenarios.
    turns: Option<Lengths>,
    seed: u64,
}

impl Builder {
    pub fn new(
        seed: u64,
        run_id: &str,
        index: usize,
        scenario: &Scenario,
        tokenizer: Arc<dyn Tokenizer>,
        assets: &ScenarioAssets,
    ) -> Self {
        let text = match &assets.corpus {
            None => Text::Embedded,
            Some(text) => Text::File(Arc::clone(text)),
        };
        let system_tokens = scenario
            .system_prompt
            .as_deref()
            .map_or(0, |s| tokenizer.count(s));
        let mut b = Builder {
            index,
            inputs: scenario
                .input_tokens
                .as_ref()
                .map(|l| Lengths::new(l, assets.input.as_ref())),
            outputs: Lengths::new(scenario.output_tokens(), assets.output.as_ref()),
            dataset: assets.dataset.clone(),
            scenario: scenario.clone(),
            tokenizer,
            text,
            run_id: run_id.to_string(),
            prefixes: Vec::new(),
            fixed: None,
            system_tokens,
            turns: scenario
                .session
                .as_ref()
                .map(|s| Lengths::new(&s.turns, assets.turns.as_ref())),
            seed,
        };
        if let Some(sp) = scenario.shared_prefix {
            // Prefix k is a pure function of (seed, scenario, k).
            b.prefixes = (0..sp.pool)
                .map(|k| {
                    let mut rng =
                        rng_for(seed ^ ((index as u64) << 40), Stream::Prefix, u64::from(k));
                    let offset = rng.random_range(0..b.text.as_str().len());
                    b.cut("", offset, sp.tokens as usize).0
                })
                .collect();
        }
        if scenario.uniform {
            tracing::warn!(
                scenario = %scenario.name,
                "uniform = true: EVERY request of this scenario sends the SAME prompt. Prefix caches and \
                 request coalescing will flatter the server; use this only to demonstrate the trap"
            );
            let mut rng = rng_for(seed ^ ((index as u64) << 40), Stream::Workload, 0);
            let fixed = b.build(0, &mut rng);
            let want = b.inputs.as_ref().map_or(0, |l| l.sample(&mut rng)) as usize;
            let max_tokens = b.outputs.sample(&mut rng);
            let offset = rng.random_range(0..b.text.as_str().len());
            let (content, tokens) = match &b.dataset {
                // A dataset's first drawn entry, repeated.
                Some(_) => b.dataset_content(&fixed),
                None => b.cut("", offset, want),
            };
            b.fixed = Some((content, tokens, max_tokens));
        }
        b
    }

    /// The prompt of request `seq`, drawing from `rng` (the request's generator).
    pub fn build(&self, seq: u64, rng: &mut ChaCha8Rng) -> Prompt {
        if let Some((content, tokens, max_tokens)) = &self.fixed {
            return self.prompt(seq, content, *tokens, *max_tokens, None);
        }
        if let Some(ds) = &self.dataset {
            let i = ds.index(seq, rng.random());
            let drawn = self.outputs.sample(rng);
            let Some(entry) = ds.get(i) else {
                tracing::error!(file = %ds.spec.file.file.display(), entry = i, "cannot read a dataset entry; sending an empty prompt");
                return self.prompt(seq, "", 0, drawn, None);
            };
            let max_tokens = entry.max_tokens.unwrap_or(drawn);
            let tokens: usize = entry
                .messages
                .iter()
                .map(|(_, c)| self.tokenizer.count(c))
                .sum();
            let mut p = self.prompt(seq, "", 0, max_tokens, None);
            p.body = self.body_messages(&entry.messages, max_tokens);
            p.input_tokens = (tokens + self.system_tokens) as u32;
            p.conversation = p.conversation.map(|_| entry.messages.clone());
            return p;
        }
        let want = self.inputs.as_ref().map_or(0, |l| l.sample(rng)) as usize;
        let max_tokens = self.outputs.sample(rng);
        let offset = rng.random_range(0..self.text.as_str().len());
        let prefix_id = self.scenario.shared_prefix.and_then(|sp| {
            (rng.random_bool(sp.share) && !self.prefixes.is_empty())
                .then(|| rng.random_range(0..self.prefixes.len()))
        });
        let marker = format!("[{} #{seq}] ", self.run_id);
        let head = match prefix_id {
            Some(k) => format!("{}\n{marker}", self.prefixes[k]),
            None => marker,
        };
        let (content, tokens) = self.cut(&head, offset, want);
        self.prompt(
            seq,
            &content,
            tokens,
            max_tokens,
            prefix_id.map(|k| k as u32),
        )
    }

    /// The prompt of trace row `row`, sent as request `seq`: exactly its input tokens, its output
    /// tokens as `max_tokens` (at least 1). With Mooncake blocks, the text is the blocks' in
    /// order — block `id` is a pure function of (seed, run, id) `block_tokens` long, so rows that
    /// share leading ids share a prompt prefix exactly as in the trace, and a new run never hits
    /// the cache the previous one warmed — the last block cut to fit. Without, a per-request
    /// marker leads, as in a synthetic prompt.
    pub fn traced(
        &self,
        seq: u64,
        rng: &mut ChaCha8Rng,
        row: &super::trace::TraceRow,
        block_tokens: usize,
    ) -> Prompt {
        let want = row.input_tokens.max(1) as usize;
        let max_tokens = row.output_tokens.max(1);
        let block_tokens = block_tokens.max(1);
        let full = (want / block_tokens).min(row.hash_ids.len());
        let mut head: String = row.hash_ids[..full]
            .iter()
            .map(|&id| self.block(id, block_tokens).0)
            .collect();
        let (content, tokens) = if !row.hash_ids.is_empty() && full * block_tokens == want {
            // Whole blocks only: they are the prompt.
            let n = self.tokenizer.count(&head);
            (head, n)
        } else {
            // The partial last block is its own id's text, cut short; past the ids (or with
            // none), the request's own text after its marker.
            let offset = match row.hash_ids.get(full) {
                Some(&id) => {
                    head.push_str(&self.block_marker(id));
                    self.block_offset(id)
                }
                None => {
                    head.push_str(&format!("[{} #{seq}] ", self.run_id));
                    rng.random_range(0..self.text.as_str().len())
                }
            };
            self.cut(&head, offset, want)
        };
        self.prompt(seq, &content, tokens, max_tokens, None)
    }

    /// Block `id`'s leading marker: the run and the id, so equal ids are equal text in this run
    /// only.
    fn block_marker(&self, id: u64) -> String {
        format!("[{} block {id}] ", self.run_id)
    }

    /// Where block `id`'s text starts in the corpus.
    fn block_offset(&self, id: u64) -> usize {
        let mut rng = rng_for(self.seed, Stream::Prefix, id ^ (1 << 63));
        rng.random_range(0..self.text.as_str().len())
    }

    /// Block `id`'s text, `tokens` long (and its true count).
    fn block(&self, id: u64, tokens: usize) -> (String, usize) {
        self.cut(&self.block_marker(id), self.block_offset(id), tokens)
    }

    fn prompt(
        &self,
        seq: u64,
        content: &str,
        tokens: usize,
        max_tokens: u32,
        prefix_id: Option<u32>,
    ) -> Prompt {
        // The session length comes from the session stream, so it never shifts other draws.
        let session_turns = self.turns.as_ref().map(|t| {
            t.sample(&mut rng_for(self.seed, Stream::Session, seq))
                .max(1)
        });
        Prompt {
            seq,
            scenario: self.index,
            body: self.body(content, max_tokens),
            input_tokens: (tokens + self.system_tokens) as u32,
            max_tokens,
            prefix_id,
            session_turns,
            conversation: session_turns.map(|_| vec![("user".to_string(), content.to_string())]),
        }
    }

    fn session_rng(&self, seq: u64, turn: u32) -> ChaCha8Rng {
        rng_for(self.seed ^ (u64::from(turn) << 48), Stream::Session, seq)
    }

    /// Turn `turn` of session `seq`: `history` (the earlier turns as sent, each answer after its
    /// question) plus a new user message drawn like a first turn (without marker: the history
    /// already makes it unique).
    pub fn next_turn(&self, seq: u64, turn: u32, history: &[(String, String)]) -> Prompt {
        let mut rng = self.session_rng(seq, turn);
        let want = self.inputs.as_ref().map_or(64, |l| l.sample(&mut rng)) as usize;
        let max_tokens = self.outputs.sample(&mut rng);
        let offset = rng.random_range(0..self.text.as_str().len());
        let (content, _) = self.cut("", offset, want);
        let mut turns = history.to_vec();
        turns.push(("user".to_string(), content));
        let tokens: usize = turns.iter().map(|(_, c)| self.tokenizer.count(c)).sum();
        Prompt {
            seq,
            scenario: self.index,
            body: self.body_messages(&turns, max_tokens),
            input_tokens: (tokens + self.system_tokens) as u32,
            max_tokens,
            prefix_id: None,
            session_turns: None,
            conversation: Some(turns),
        }
    }

    /// Think time before turn `turn` of session `seq` (uniform in the configured range).
    pub fn think_time(&self, seq: u64, turn: u32) -> std::time::Duration {
        let Some(s) = &self.scenario.session else {
            return std::time::Duration::ZERO;
        };
        let (lo, hi) = (s.think_time.min, s.think_time.max);
        if hi <= lo {
            return lo;
        }
        let f: f64 = self.session_rng(seq, turn ^ 0x8000).random();
        lo + (hi - lo).mul_f64(f)
    }

    /// `head` followed by corpus text from `offset`, `want` tokens long in total (exact unless
    /// the head alone is longer; the true count is returned).
    pub fn cut(&self, head: &str, offset: usize, want: usize) -> (String, usize) {
        let tok = &self.tokenizer;
        let corpus = self.text.as_str();
        let head_tokens = if head.is_empty() { 0 } else { tok.count(head) };
        let body_tokens = want.saturating_sub(head_tokens);
        // Start after a space (a word boundary); wrap around the end of the corpus.
        let bytes = corpus.as_bytes();
        let start = (offset..bytes.len())
            .find(|&i| bytes[i] == b' ')
            .map_or(0, |i| i + 1);
        let need = body_tokens * 8 + 64;
        let mut source = String::with_capacity(need);
        let mut pos = start;
        while source.len() < need {
            let mut end = (pos + need - source.len()).min(bytes.len());
            while !corpus.is_char_boundary(end) {
                end -= 1;
            }
            source.push_str(corpus.get(pos..end).unwrap_or_default());
            if end >= bytes.len() || end <= pos {
                source.push(' ');
                pos = 0;
            } else {
                pos = end;
            }
        }
        let ids = tok.encode(&source);
        let mut take = body_tokens.min(ids.len());
        let mut text = String::new();
        let mut count = 0;
        // Merges across the seam can shift the count by a token or two: adjust.
        for _ in 0..8 {
            let body = tok.decode(&ids[..take]).unwrap_or_default();
            text = format!("{head}{body}");
            count = tok.count(&text);
            match count.cmp(&want) {
                std::cmp::Ordering::Equal => break,
                std::cmp::Ordering::Greater if take > 0 => take -= 1,
                std::cmp::Ordering::Less if take < ids.len() => take += 1,
                _ => break,
            }
        }
        (text, count)
    }

    /// The content (and its tokens) of a dataset prompt, for `uniform` on a dataset.
    fn dataset_content(&self, p: &Prompt) -> (String, usize) {
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap_or_default();
        let text = v["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .or(v["prompt"].as_str())
            .unwrap_or_default()
            .to_string();
        let n = self.tokenizer.count(&text);
        (text, n)
    }

    fn body(&self, content: &str, max_tokens: u32) -> Bytes {
        self.body_messages(&[("user".to_string(), content.to_string())], max_tokens)
    }

    fn body_messages(&self, turns: &[(String, String)], max_tokens: u32) -> Bytes {
        super::body::request_body(&self.scenario, turns, max_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::workload::Workload;

    fn config(scenario: &str) -> Config {
        let text = format!(
            "seed = 1\n[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
             [load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1m\"\n\
             [[scenario]]\nname = \"s\"\n{scenario}\n"
        );
        Config::parse(&text, "t", &|_| None).unwrap()
    }

    fn content(p: &Prompt) -> String {
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        v["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn about_half_the_requests_start_with_one_of_four_shared_prefixes() {
        let c = config(
            "shared_prefix = { tokens = 256, pool = 4, share = 0.5 }\ninput_tokens = { uniform = { min = 300, max = 600 } }\noutput_tokens = 32",
        );
        let assets = crate::workload::Assets::load(&c).unwrap();
        let w = Workload::new(&c, &assets, "r");
        let b = &w.builders[0];
        assert_eq!(b.prefixes.len(), 4);
        let tok = &assets.tokenizers[0];
        for p in &b.prefixes {
            assert_eq!(tok.count(p), 256);
        }
        assert_eq!(
            b.prefixes
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            4
        );
        let n = 2000;
        let mut with = 0;
        let mut used = std::collections::BTreeSet::new();
        for seq in 0..n {
            let p = w.prompt(seq);
            let text = content(&p);
            let starts: Vec<usize> = (0..4)
                .filter(|&k| text.starts_with(&b.prefixes[k]))
                .collect();
            match p.prefix_id {
                Some(k) => {
                    with += 1;
                    used.insert(k);
                    assert_eq!(starts, vec![k as usize], "seq {seq}");
                    assert!(text[b.prefixes[k as usize].len()..].contains(&format!("[r #{seq}] ")));
                }
                None => {
                    assert!(
                        starts.is_empty(),
                        "seq {seq} starts with a prefix it was not given"
                    );
                    assert!(text.starts_with(&format!("[r #{seq}] ")));
                }
            }
            assert_eq!(tok.count(&text), p.input_tokens as usize);
        }
        let share = f64::from(with) / n as f64;
        assert!((share - 0.5).abs() < 0.04, "share {share}");
        assert_eq!(used.len(), 4);
    }

    #[test]
    fn extra_body_reaches_every_request_and_an_override_replaces_an_owned_field() {
        let c = config(
            "input_tokens = 16\noutput_tokens = 8\ntemperature = 0.5\n\
             extra_body = { reasoning_effort = \"low\", chat_template_kwargs = { enable_thinking = false }, \
             tools = [{ type = \"function\", function = { name = \"f\", parameters = { type = \"object\" } } }], \
             stream_options = { include_usage = true, continuous_usage_stats = true } }\n\
             extra_body_override = [\"stream_options\"]",
        );
        let w = Workload::new(&c, &crate::workload::Assets::load(&c).unwrap(), "r");
        for seq in 0..3 {
            let v: serde_json::Value = serde_json::from_slice(&w.prompt(seq).body).unwrap();
            assert_eq!(v["reasoning_effort"], "low");
            assert_eq!(v["chat_template_kwargs"]["enable_thinking"], false);
            assert_eq!(v["tools"][0]["function"]["name"], "f");
            assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
            // What llm-soak owns and was not overridden is still its own.
            assert_eq!(
                (v["stream"].clone(), v["model"].clone()),
                (true.into(), "m".into())
            );
            assert_eq!(v["max_tokens"], 8);
            assert_eq!(v["temperature"], 0.5);
            assert!(v["messages"][0]["content"].as_str().is_some());
        }
    }

    #[test]
    fn uniform_sends_one_fixed_prompt_and_the_output_controls_reach_the_body() {
        let c = config(
            "uniform = true\nignore_eos = true\nmin_tokens = \"max_tokens\"\nseed = 7\ninput_tokens = { normal = { mean = 100, stddev = 30 } }\noutput_tokens = { uniform = { min = 10, max = 90 } }",
        );
        let w = Workload::new(&c, &crate::workload::Assets::load(&c).unwrap(), "r");
        let first = w.prompt(0);
        for seq in 1..50 {
            assert_eq!(w.prompt(seq).body, first.body);
        }
        let v: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["min_tokens"], v["max_tokens"]);
        assert_eq!(v["seed"], 7);
    }
}

#[cfg(test)]
mod dataset_tests {
    use crate::config::Config;
    use crate::workload::Workload;

    fn config(dataset: &str, endpoint: &str) -> Config {
        let dir = env!("CARGO_MANIFEST_DIR");
        let text = format!(
            "seed = 2\n[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
             [load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1m\"\n\
             [[scenario]]\nname = \"d\"\nendpoint = \"{endpoint}\"\noutput_tokens = 7\n\
             dataset = {{ file = \"{dir}/tests/fixtures/datasets/{dataset}\" }}\n"
        );
        Config::parse(&text, "t", &|_| None).unwrap()
    }

    #[test]
    fn dataset_prompts_carry_their_own_lengths_and_are_counted() {
        let c = config(
            "prompts.jsonl\", replacement = false, format = \"jsonl",
            "chat",
        );
        let assets = crate::workload::Assets::load(&c).unwrap();
        let w = Workload::new(&c, &assets, "r");
        let tok = &assets.tokenizers[0];
        let mut seen = std::collections::HashSet::new();
        for seq in 0..40 {
            let p = w.prompt(seq);
            let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            let content = v["messages"][0]["content"].as_str().unwrap().to_string();
            assert_eq!(tok.count(&content), p.input_tokens as usize);
            // Lines with max_tokens keep it; the others draw from output_tokens.
            if content.starts_with("Explain:") {
                assert!(p.max_tokens >= 20);
            } else {
                assert_eq!(p.max_tokens, 7);
            }
            seen.insert(content);
        }
        assert_eq!(
            seen.len(),
            40,
            "without replacement, 40 requests visit all 40 lines"
        );
    }

    #[test]
    fn sharegpt_feeds_completions_too() {
        let c = config("sharegpt.json\", format = \"sharegpt", "completions");
        let w = Workload::new(&c, &crate::workload::Assets::load(&c).unwrap(), "r");
        for seq in 0..20 {
            let p = w.prompt(seq);
            let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            assert!(
                v["prompt"]
                    .as_str()
                    .unwrap()
                    .starts_with("What does this mean?")
            );
            assert!(p.max_tokens >= 10, "the reply's length");
        }
    }
}
