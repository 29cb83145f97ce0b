//! The prompt distribution: a weighted mix of scenarios, each drawing input and output lengths
//! in tokens of the target's tokenizer and building token-exact prompts ([`prompt`]) — per-request
//! marker, optional shared prefixes, or the deliberate `uniform` trap. Every draw for request
//! `seq` comes from `(seed, seq)`, so the same seed gives the same requests. Prompts — including
//! the serialized request body — are prepared by a blocking worker into a bounded
//! [`PromptPool`]; the request path only clones an `Arc<Prompt>`.

pub mod assets;
mod body;
pub mod dataset;
pub mod dist;
pub mod plan;
pub mod prompt;
pub mod rng;
pub mod tokenizer;

use std::sync::Arc;

use rand::RngExt;
use tokio::sync::mpsc;

use crate::config::Config;
pub use crate::record::Prompt;
pub use assets::{Assets, ScenarioAssets};
pub use body::request_body;
use prompt::Builder;
use rng::{Stream, rng_for};
pub use tokenizer::{Tokenizer, default_tokenizer};

/// The embedded public-domain corpus (see `corpus/README.md`).
pub static CORPUS: &str = include_str!("corpus/jargon.txt");

/// Everything needed to compute request `seq` from `(seed, seq)` alone.
#[derive(Debug)]
pub struct Workload {
    seed: u64,
    builders: Vec<Builder>,
    /// Cumulative weights, normalised to end at 1.
    cumulative: Vec<f64>,
}

impl Workload {
    /// `run_id` goes into every prompt's marker, so a restarted run never hits the prefix
    /// cache warmed by the previous one.
    pub fn new(config: &Config, assets: &Assets, run_id: &str) -> Self {
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
        let builders = config
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Builder::new(
                    config.seed,
                    run_id,
                    i,
                    s,
                    assets.tokenizer_for(config, i),
                    assets
                        .scenarios
                        .get(i)
                        .unwrap_or(&ScenarioAssets::default()),
                )
            })
            .collect();
        Workload {
            seed: config.seed,
            builders,
            cumulative,
        }
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
        self.builders[scenario].build(seq, &mut rng)
    }

    /// Turn `turn` (1-based after the first) of session `seq`: the whole history so far plus a
    /// new user message. Tokenizes: call from a blocking worker.
    pub fn next_turn(
        &self,
        scenario: usize,
        seq: u64,
        turn: u32,
        history: &[(String, String)],
    ) -> Prompt {
        self.builders[scenario].next_turn(seq, turn, history)
    }

    /// Think time before turn `turn` of session `seq`.
    pub fn think_time(&self, scenario: usize, seq: u64, turn: u32) -> std::time::Duration {
        self.builders[scenario].think_time(seq, turn)
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
        PromptPool {
            source: Source::Worker(rx),
        }
    }

    /// A pool that draws each prompt when it is asked for, on the asking task: for tests in
    /// paused time, where a worker thread's progress is invisible to the clock (tokio would jump
    /// its timers ahead while the dispatcher waits for the thread).
    pub fn inline_pool(
        self: Arc<Self>,
        seqs: impl Iterator<Item = u64> + Send + 'static,
    ) -> PromptPool {
        PromptPool {
            source: Source::Inline(self, Box::new(seqs)),
        }
    }
}

/// Prepared prompts, consumed in sequence order by the dispatcher.
#[derive(Debug)]
pub struct PromptPool {
    source: Source,
}

/// Where a pool's prompts come from.
enum Source {
    /// Drawn ahead by the worker thread, bounded.
    Worker(mpsc::Receiver<Arc<Prompt>>),
    /// Drawn when asked for ([`Workload::inline_pool`]).
    Inline(Arc<Workload>, Box<dyn Iterator<Item = u64> + Send>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Worker(_) => "Worker",
            Source::Inline(..) => "Inline",
        })
    }
}

impl PromptPool {
    /// The next prompt, whatever its sequence number (closed-loop users).
    pub async fn next(&mut self) -> Option<Arc<Prompt>> {
        match &mut self.source {
            Source::Worker(rx) => rx.recv().await,
            Source::Inline(w, seqs) => seqs.next().map(|seq| Arc::new(w.prompt(seq))),
        }
    }

    /// A pool holding exactly `prompts` (tests, and callers that prepare prompts themselves).
    pub fn prefilled(prompts: Vec<Arc<Prompt>>) -> Self {
        let (tx, rx) = mpsc::channel(prompts.len().max(1));
        for p in prompts {
            // Capacity equals the count, so this cannot fail.
            let _ = tx.try_send(p);
        }
        PromptPool {
            source: Source::Worker(rx),
        }
    }

    /// The prompt of `seq`, skipping those of earlier (dropped) arrivals. Waits when the worker
    /// is behind — that wait shows up as schedule lag, never as server latency.
    pub async fn take(&mut self, seq: u64) -> Option<Arc<Prompt>> {
        if let Source::Inline(w, seqs) = &mut self.source {
            // Skip the dropped arrivals' sequence numbers without drawing their prompts.
            let next = seqs.find(|s| *s >= seq)?;
            return Some(Arc::new(w.prompt(next)));
        }
        loop {
            let p = self.next().await?;
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
        let config = config();
        let w = Workload::new(&config, &Assets::load(&config).unwrap(), "abcd1234");
        let tok = default_tokenizer();
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
            assert_eq!(tok.count(&text), p.input_tokens as usize);
            let sc = &config.scenarios[p.scenario];
            let lengths = sc.input_tokens.as_ref().unwrap();
            let range = lengths.min..=lengths.max;
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
        let c = config();
        let w = Arc::new(Workload::new(&c, &Assets::load(&c).unwrap(), "r"));
        let mut pool = w.spawn_pool(4, 0..10);
        assert_eq!(pool.take(0).await.unwrap().seq, 0);
        assert_eq!(pool.take(3).await.unwrap().seq, 3);
        assert_eq!(pool.take(4).await.unwrap().seq, 4);
    }
}
