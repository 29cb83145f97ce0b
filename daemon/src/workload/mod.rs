//! The prompt distribution: a weighted mix of scenarios, each drawing input and output lengths
//! in tokens and cutting a token-exact prompt from the embedded corpus at a random offset, with
//! a per-request marker at the very start so no two prompts share a prefix by accident.
//! Prompts — including the serialized request body — are prepared by a blocking worker into a
//! bounded [`PromptPool`]; the request path only clones an `Arc<Prompt>`.

pub mod dist;
pub mod rng;
pub mod tokenizer;

use std::sync::Arc;

use bytes::Bytes;
use rand::RngExt;
use tokio::sync::mpsc;

use crate::config::{Config, Scenario};
use crate::openai::{ChatMessage, CompletionRequest, Endpoint, StreamOptions};
use dist::Lengths;
use rng::{Stream, rng_for};
pub use tokenizer::{Tokenizer, default_tokenizer};

/// The embedded public-domain corpus (see `corpus/README.md`).
pub static CORPUS: &str = include_str!("corpus/jargon.txt");

/// One prepared request: the exact bytes to POST plus what the recorder needs to know.
#[derive(Debug)]
pub struct Prompt {
    pub seq: u64,
    pub scenario: usize,
    /// Serialized JSON body, ready to send.
    pub body: Bytes,
    /// Input tokens of the generated content (configured tokenizer).
    pub input_tokens: u32,
    pub max_tokens: u32,
}

/// Everything needed to compute request `seq` from `(seed, seq)` alone.
#[derive(Debug)]
pub struct Workload {
    seed: u64,
    run_id: String,
    scenarios: Vec<Scenario>,
    inputs: Vec<Lengths>,
    outputs: Vec<Lengths>,
    /// Cumulative weights, normalised to end at 1.
    cumulative: Vec<f64>,
    tokenizer: Arc<dyn Tokenizer>,
    corpus: &'static str,
}

impl Workload {
    /// `run_id` goes into every prompt's marker, so a restarted run never hits the prefix
    /// cache warmed by the previous one.
    pub fn new(config: &Config, run_id: &str, tokenizer: Arc<dyn Tokenizer>) -> Self {
        let total: f64 = config.scenarios.iter().map(|s| s.weight).sum();
        let mut acc = 0.0;
        let cumulative = config
            .scenarios
            .iter()
            .map(|s| {
                acc += s.weight / total;
                acc
            })
            .collect();
        Workload {
            seed: config.seed,
            run_id: run_id.to_string(),
            scenarios: config.scenarios.clone(),
            inputs: config
                .scenarios
                .iter()
                .map(|s| Lengths::new(s.input_tokens))
                .collect(),
            outputs: config
                .scenarios
                .iter()
                .map(|s| Lengths::new(s.output_tokens))
                .collect(),
            cumulative,
            tokenizer,
            corpus: CORPUS,
        }
    }

    pub fn tokenizer(&self) -> &Arc<dyn Tokenizer> {
        &self.tokenizer
    }

    /// Request `seq`, computed from `(seed, seq)` only.
    pub fn prompt(&self, seq: u64) -> Prompt {
        let mut rng = rng_for(self.seed, Stream::Workload, seq);
        let u: f64 = rng.random();
        let scenario = self
            .cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.cumulative.len().saturating_sub(1));
        let sc = &self.scenarios[scenario];
        let want = self.inputs[scenario].sample(&mut rng) as usize;
        let max_tokens = self.outputs[scenario].sample(&mut rng);
        let offset = rng.random_range(0..self.corpus.len());
        let marker = format!("[{} #{seq}] ", self.run_id);
        let (text, input_tokens) = self.cut(&marker, offset, want);
        let body = request_body(sc, &text, max_tokens);
        Prompt {
            seq,
            scenario,
            body,
            input_tokens: input_tokens as u32,
            max_tokens,
        }
    }

    /// `marker` followed by corpus text from `offset`, `want` tokens long in total (as exact
    /// as the tokenizer's merges across the cut allow; the true count is returned).
    fn cut(&self, marker: &str, offset: usize, want: usize) -> (String, usize) {
        let tok = &self.tokenizer;
        let marker_tokens = tok.count(marker);
        let body_tokens = want.saturating_sub(marker_tokens);
        // Start at a word boundary; wrap around the end of the corpus.
        let bytes = self.corpus.as_bytes();
        let start = (offset..bytes.len())
            .find(|&i| bytes[i] == b' ')
            .map_or(0, |i| i + 1);
        let mut source = String::with_capacity(body_tokens * 6 + 64);
        let mut pos = start;
        while source.len() < body_tokens * 6 + 64 {
            let end = (pos + body_tokens * 6 + 64 - source.len()).min(bytes.len());
            // The corpus is ASCII, so any byte index is a char boundary.
            source.push_str(self.corpus.get(pos..end).unwrap_or_default());
            pos = if end >= bytes.len() { 0 } else { end };
            if end >= bytes.len() {
                source.push(' ');
            }
        }
        let ids = tok.encode(&source);
        let mut take = body_tokens.min(ids.len());
        let mut text = String::new();
        let mut count = 0;
        // Merges across the marker/text seam can shift the count by a token or two.
        for _ in 0..6 {
            text = format!("{marker}{}", tok.decode(&ids[..take]).unwrap_or_default());
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

    /// Fill a bounded pool with the prompts of `seqs`, in order, on a dedicated thread.
    pub fn spawn_pool(
        self: Arc<Self>,
        capacity: usize,
        seqs: impl Iterator<Item = u64> + Send + 'static,
    ) -> PromptPool {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let spawned = std::thread::Builder::new()
            .name("llmsoak-prompts".into())
            .spawn(move || {
                for seq in seqs {
                    if tx.blocking_send(Arc::new(self.prompt(seq))).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the prompt worker thread");
        }
        PromptPool { rx }
    }
}

fn request_body(sc: &Scenario, text: &str, max_tokens: u32) -> Bytes {
    let mut req = CompletionRequest {
        model: sc.model.as_str().into(),
        max_tokens: Some(max_tokens),
        stream: true,
        stream_options: Some(StreamOptions {
            include_usage: true,
        }),
        temperature: sc.temperature,
        top_p: sc.top_p,
        stop: sc.stop.clone(),
        ..Default::default()
    };
    match sc.endpoint {
        Endpoint::Chat => {
            let mut messages = Vec::with_capacity(2);
            if let Some(system) = &sc.system_prompt {
                messages.push(ChatMessage {
                    role: "system".into(),
                    content: system.as_str().into(),
                });
            }
            messages.push(ChatMessage {
                role: "user".into(),
                content: text.into(),
            });
            req.messages = Some(messages);
        }
        Endpoint::Completions => req.prompt = Some(text.into()),
    }
    Bytes::from(serde_json::to_vec(&req).unwrap_or_default())
}

/// Prepared prompts, consumed in sequence order by the dispatcher.
#[derive(Debug)]
pub struct PromptPool {
    rx: mpsc::Receiver<Arc<Prompt>>,
}

impl PromptPool {
    /// A pool holding exactly `prompts` (tests, and callers that prepare prompts themselves).
    pub fn prefilled(prompts: Vec<Arc<Prompt>>) -> Self {
        let (tx, rx) = mpsc::channel(prompts.len().max(1));
        for p in prompts {
            // Capacity equals the count, so this cannot fail.
            let _ = tx.try_send(p);
        }
        PromptPool { rx }
    }

    /// The prompt of `seq`, skipping those of earlier (dropped) arrivals. Waits when the worker
    /// is behind — that wait shows up as schedule lag, never as server latency.
    pub async fn take(&mut self, seq: u64) -> Option<Arc<Prompt>> {
        loop {
            let p = self.rx.recv().await?;
            if p.seq >= seq {
                return Some(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = r#"
            seed = 5
            [[target]]
            name = "t"
            base_url = "http://127.0.0.1:1"
            model = "m"
            [load]
            [[load.phases]]
            kind = "steady"
            rate = 1
            duration = "1s"
            [[scenario]]
            name = "a"
            weight = 3
            input_tokens = { lognormal = { mean = 300, stddev = 100 }, min = 20, max = 900 }
            output_tokens = 50
            [[scenario]]
            name = "b"
            endpoint = "completions"
            input_tokens = { uniform = { min = 16, max = 40 } }
            output_tokens = { normal = { mean = 20, stddev = 5 } }
        "#;
        Config::parse(text, "test", &|_| None).unwrap()
    }

    #[test]
    fn prompts_are_token_exact_distinct_and_reproducible() {
        let w = Workload::new(&config(), "abcd1234", default_tokenizer());
        let mut seen = std::collections::HashSet::new();
        let mut per_scenario = [0usize; 2];
        let mut exact = 0;
        for seq in 0..200 {
            let p = w.prompt(seq);
            per_scenario[p.scenario] += 1;
            let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            let text = body["messages"][0]["content"]
                .as_str()
                .or(body["prompt"].as_str())
                .unwrap()
                .to_string();
            assert!(text.starts_with(&format!("[abcd1234 #{seq}] ")));
            assert_eq!(w.tokenizer().count(&text), p.input_tokens as usize);
            let sc = &w.scenarios[p.scenario];
            let range = sc.input_tokens.min..=sc.input_tokens.max;
            if range.contains(&p.input_tokens) {
                exact += 1;
            }
            assert!(seen.insert(text), "prompt {seq} repeated");
            assert_eq!(w.prompt(seq).body, p.body);
        }
        assert!(exact >= 198, "only {exact} prompts within their clip range");
        // 3:1 weights.
        assert!(
            per_scenario[0] > 120 && per_scenario[1] > 25,
            "{per_scenario:?}"
        );
    }

    #[tokio::test]
    async fn pool_skips_dropped_sequence_numbers() {
        let w = Arc::new(Workload::new(&config(), "r", default_tokenizer()));
        let mut pool = w.spawn_pool(4, 0..10);
        assert_eq!(pool.take(0).await.unwrap().seq, 0);
        assert_eq!(pool.take(3).await.unwrap().seq, 3);
        assert_eq!(pool.take(4).await.unwrap().seq, 4);
    }
}
