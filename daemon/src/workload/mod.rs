//! The prompt distribution: a weighted mix of scenarios, each drawing input and output lengths
//! in tokens of the target's tokenizer and building token-exact prompts ([`prompt`]) — per-request
//! marker, optional shared prefixes, or the deliberate `uniform` trap. Every draw for request
//! `seq` comes from `(seed, seq)`, so the same seed gives the same requests. Prompts — including
//! the serialized request body — are prepared by a blocking worker into a bounded
//! [`PromptPool`]; the request path only clones an `Arc<Prompt>`.

pub mod assets;
mod body;
pub mod bpe;
pub mod dataset;
pub mod dist;
pub mod plan;
pub mod prompt;
pub mod rng;
pub mod tokenizer;
pub mod trace;

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
    /// Cumulative weights, normalised to end at 1, over every scenario…
    cumulative: Vec<(usize, f64)>,
    /// …and over each load phase's own scenarios (`None`: the phase draws from all).
    phase_cumulative: Vec<Option<Vec<(usize, f64)>>>,
    /// Tokens per trace block (`load.trace.block_tokens`; unused without a trace).
    block_tokens: usize,
}

/// Scenario indices `picked` with their cumulative weights, normalised to end at 1 (equal shares
/// when every weight is 0).
fn cumulative(config: &Config, picked: &[usize]) -> Vec<(usize, f64)> {
    let weight = |i: usize| config.scenarios.get(i).map_or(0.0, |s| s.weight);
    let total: f64 = picked.iter().map(|&i| weight(i)).sum();
    let mut acc = 0.0;
    picked
        .iter()
        .map(|&i| {
            acc += if total > 0.0 {
                weight(i) / total
            } else {
                1.0 / picked.len() as f64
            };
            (i, acc)
        })
        .collect()
}

impl Workload {
    /// `run_id` goes into every prompt's marker, so a restarted run never hits the prefix
    /// cache warmed by the previous one.
    pub fn new(config: &Config, assets: &Assets, run_id: &str) -> Self {
        let all: Vec<usize> = (0..config.scenarios.len()).collect();
        let phase_cumulative = config
            .load
            .phase_scenarios
            .iter()
            .map(|picked| (!picked.is_empty()).then(|| cumulative(config, picked)))
            .collect();
        let cumulative = cumulative(config, &all);
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
            phase_cumulative,
            block_tokens: config
                .load
                .trace
                .as_ref()
                .map_or(512, |t| t.block_tokens as usize),
        }
    }

    /// Request `seq`, computed from `(seed, seq)` only.
    pub fn prompt(&self, seq: u64) -> Prompt {
        self.prompt_in(seq, None)
    }

    /// Request `seq` of load phase `phase`: its scenario drawn from the phase's own scenarios
    /// when it names some, else from all; computed from `(seed, seq, phase)` only.
    pub fn prompt_in(&self, seq: u64, phase: Option<usize>) -> Prompt {
        let (scenario, mut rng) = self.draw(seq, phase);
        self.builders[scenario].build(seq, &mut rng)
    }

    /// Request `seq` replaying trace row `row`: the scenario drawn as for any request, the
    /// lengths (and shared blocks) the row's.
    pub fn traced(&self, seq: u64, row: &trace::TraceRow) -> Prompt {
        let (scenario, mut rng) = self.draw(seq, None);
        self.builders[scenario].traced(seq, &mut rng, row, self.block_tokens)
    }

    /// Request `seq`'s scenario, and the generator its prompt is drawn from.
    fn draw(&self, seq: u64, phase: Option<usize>) -> (usize, rand_chacha::ChaCha8Rng) {
        let mut rng = rng_for(self.seed, Stream::Workload, seq);
        let u: f64 = rng.random();
        let mix = phase
            .and_then(|p| self.phase_cumulative.get(p))
            .and_then(Option::as_ref)
            .unwrap_or(&self.cumulative);
        let scenario = mix
            .iter()
            .find(|(_, c)| u < *c)
            .or(mix.last())
            .map_or(0, |(i, _)| *i);
        (scenario, rng)
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

    /// Fill a bounded pool with the prompts of `seqs` (each with its load phase, when known), in
    /// order, on a dedicated thread.
    pub fn spawn_pool(
        self: Arc<Self>,
        capacity: usize,
        seqs: impl Iterator<Item = (u64, Option<usize>)> + Send + 'static,
    ) -> PromptPool {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let spawned = std::thread::Builder::new()
            .name("llmsoak-prompts".into())
            .spawn(move || {
                for (seq, phase) in seqs {
                    if tx
                        .blocking_send(Arc::new(self.prompt_in(seq, phase)))
                        .is_err()
                    {
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

    /// Replay `replay` (a trace) into a bounded pool on a dedicated thread: each prompt with the
    /// time it is due. A row that cannot be read ends the replay, logged with its line.
    pub fn spawn_replay(self: Arc<Self>, capacity: usize, replay: trace::Replay) -> PromptPool {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let spawned = std::thread::Builder::new()
            .name("llmsoak-trace".into())
            .spawn(move || {
                for item in replay {
                    let due = match item {
                        Ok((seq, at, row)) => (at, Arc::new(self.traced(seq, &row))),
                        Err(e) => {
                            tracing::error!(error = %e, "the trace cannot be read any more (changed since the run started?): ending the replay");
                            break;
                        }
                    };
                    if tx.blocking_send(due).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the trace worker thread");
        }
        PromptPool {
            source: Source::Replay(rx),
        }
    }

    /// [`Workload::spawn_replay`] drawn when asked for, on the asking task (paused-time tests).
    pub fn inline_replay(self: Arc<Self>, replay: trace::Replay) -> PromptPool {
        PromptPool {
            source: Source::InlineReplay(self, Box::new(replay)),
        }
    }

    /// A pool that draws each prompt when it is asked for, on the asking task: for tests in
    /// paused time, where a worker thread's progress is invisible to the clock (tokio would jump
    /// its timers ahead while the dispatcher waits for the thread).
    pub fn inline_pool(
        self: Arc<Self>,
        seqs: impl Iterator<Item = (u64, Option<usize>)> + Send + 'static,
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
    Inline(
        Arc<Workload>,
        Box<dyn Iterator<Item = (u64, Option<usize>)> + Send>,
    ),
    /// A replayed trace's prompts, each with the time it is due ([`Workload::spawn_replay`]).
    Replay(mpsc::Receiver<(std::time::Duration, Arc<Prompt>)>),
    InlineReplay(Arc<Workload>, Box<trace::Replay>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Worker(_) => "Worker",
            Source::Inline(..) => "Inline",
            Source::Replay(_) => "Replay",
            Source::InlineReplay(..) => "InlineReplay",
        })
    }
}

impl PromptPool {
    /// The next prompt, whatever its sequence number (closed-loop users).
    pub async fn next(&mut self) -> Option<Arc<Prompt>> {
        match &mut self.source {
            Source::Worker(rx) => rx.recv().await,
            Source::Inline(w, seqs) => seqs
                .next()
                .map(|(seq, phase)| Arc::new(w.prompt_in(seq, phase))),
            Source::Replay(_) | Source::InlineReplay(..) => self.next_due().await.map(|(_, p)| p),
        }
    }

    /// Whether this pool replays a trace: its prompts come with their times
    /// ([`PromptPool::next_due`]), which are the schedule.
    pub fn replays(&self) -> bool {
        matches!(self.source, Source::Replay(_) | Source::InlineReplay(..))
    }

    /// A replayed trace's next prompt and when it is due (since the schedule's epoch); `None`
    /// at the replay's end, and always for a pool that does not replay.
    pub async fn next_due(&mut self) -> Option<(std::time::Duration, Arc<Prompt>)> {
        match &mut self.source {
            Source::Replay(rx) => rx.recv().await,
            Source::InlineReplay(w, replay) => match replay.next()? {
                Ok((seq, at, row)) => Some((at, Arc::new(w.traced(seq, &row)))),
                Err(e) => {
                    tracing::error!(error = %e, "the trace cannot be read any more: ending the replay");
                    None
                }
            },
            Source::Worker(_) | Source::Inline(..) => None,
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
            let (next, phase) = seqs.find(|(s, _)| *s >= seq)?;
            return Some(Arc::new(w.prompt_in(next, phase)));
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
        Config::parse(&config_text(), "test", &|_| None).unwrap()
    }

    fn config_text() -> String {
        r#"
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
        "#
        .to_string()
    }

    #[test]
    fn a_phase_draws_only_from_its_own_scenarios() {
        let text = config_text().replace(
            "duration = \"1s\"",
            "duration = \"1s\"\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\nscenarios = [\"b\"]",
        );
        let config = Config::parse(&text, "test", &|_| None).unwrap();
        assert_eq!(config.load.phase_scenarios, vec![vec![], vec![1]]);
        let w = Workload::new(&config, &Assets::load(&config).unwrap(), "abcd1234");
        let count = |phase| {
            (0..400)
                .filter(|&s| w.prompt_in(s, phase).scenario == 0)
                .count()
        };
        // Phase 0 (and no phase) mixes 3:1; phase 1 sends only "b".
        assert!((270..330).contains(&count(Some(0))), "{}", count(Some(0)));
        assert_eq!(count(None), count(Some(0)));
        assert_eq!(count(Some(1)), 0);
        // A name that is not a scenario is a problem at its path.
        let bad = text.replace("scenarios = [\"b\"]", "scenarios = [\"b\", \"zz\"]");
        let problems = Config::parse(&bad, "test", &|_| None).unwrap_err();
        assert_eq!(
            problems.problems()[0].to_string(),
            "load.phases[1].scenarios[1]: no scenario is named \"zz\" (they are a, b)"
        );
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

    #[test]
    fn trace_rows_become_token_exact_prompts_that_share_the_traces_prefixes() {
        let c = config();
        let assets = Assets::load(&c).unwrap();
        let tok = default_tokenizer();
        let row = |input_tokens, output_tokens, hash_ids: &[u64]| trace::TraceRow {
            at: std::time::Duration::ZERO,
            input_tokens,
            output_tokens,
            hash_ids: hash_ids.to_vec(),
        };
        let text = |p: &Prompt| {
            let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
            body["messages"][0]["content"]
                .as_str()
                .or(body["prompt"].as_str())
                .unwrap()
                .to_string()
        };
        // Scenario "a" (chat) for both seqs, so the bodies compare like for like.
        let w = Workload::new(&c, &assets, "run1");
        let (s1, s2) = (0..100u64)
            .map(|s| (s, w.prompt(s).scenario))
            .filter(|(_, sc)| *sc == 0)
            .map(|(s, _)| s)
            .fold((None, None), |(a, b), s| match (a, b) {
                (None, _) => (Some(s), None),
                (Some(a), None) => (Some(a), Some(s)),
                done => done,
            });
        let (s1, s2) = (s1.unwrap(), s2.unwrap());
        let a = w.traced(s1, &row(1300, 40, &[7, 8, 9]));
        let b = w.traced(s2, &row(1100, 0, &[7, 8, 12]));
        let (ta, tb) = (text(&a), text(&b));
        for (p, t, want) in [(&a, &ta, 1300), (&b, &tb, 1100)] {
            assert_eq!(p.input_tokens, want);
            assert_eq!(tok.count(t), want as usize);
        }
        // Output lengths are the row's; 0 (a failed request in the trace) asks for 1.
        assert_eq!((a.max_tokens, b.max_tokens), (40, 1));
        // Blocks 7 and 8 are 1024 tokens of identical text; the third block differs.
        let common = ta
            .bytes()
            .zip(tb.bytes())
            .take_while(|(x, y)| x == y)
            .count();
        let shared = tok.count(&ta[..common]);
        assert!((1000..=1030).contains(&shared), "{shared} tokens shared");
        assert!(ta.starts_with("[run1 block 7] "), "{}", &ta[..40]);
        // Another run's block 7 is other text: no cache warmed by a previous run is hit.
        let other = Workload::new(&c, &assets, "run2").traced(s1, &row(1300, 40, &[7, 8, 9]));
        assert!(!text(&other).starts_with(&ta[..200]));
        // Whole blocks only, and no blocks (a CSV trace): exact too, the latter led by a marker.
        let whole = w.traced(s1, &row(1024, 5, &[7, 8]));
        assert_eq!(tok.count(&text(&whole)), 1024);
        assert!(text(&whole).starts_with(&ta[..common.min(2000)]));
        let plain = w.traced(s1, &row(300, 5, &[]));
        assert_eq!(tok.count(&text(&plain)), 300);
        assert!(text(&plain).starts_with(&format!("[run1 #{s1}] ")));
    }

    #[tokio::test]
    async fn pool_skips_dropped_sequence_numbers() {
        let c = config();
        let w = Arc::new(Workload::new(&c, &Assets::load(&c).unwrap(), "r"));
        let mut pool = w.spawn_pool(4, (0..10).map(|s| (s, None)));
        assert_eq!(pool.take(0).await.unwrap().seq, 0);
        assert_eq!(pool.take(3).await.unwrap().seq, 3);
        assert_eq!(pool.take(4).await.unwrap().seq, 4);
    }
}
