//! The always-on synthetic canary: a fixed, known prompt with deterministic settings
//! (temperature 0, fixed seed), sent every `interval` on a connection pool of its own and outside
//! `max_in_flight`, checked for status, stream well-formedness, usage, output length and an
//! optional expected answer. Its requests also feed the request instruments as scenario
//! "canary", so a canary-only deployment has TTFT/TPOT series for day-over-day drift.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Launcher;
use crate::config::Config;
use crate::config::canary::Canary;
use crate::metrics::canary::CanaryInstruments;
use crate::record::{ErrorType, Outcome, Prompt, RequestPlan, RequestRecord};
use crate::workload::Tokenizer;

/// The canary's probes carry sequence numbers from here on (`x-llmsoak-seq`), apart from the
/// soak's arrivals.
pub const SEQ_BASE: u64 = 1 << 62;

/// A configured canary, ready to run.
#[derive(Debug)]
pub struct CanaryProbe {
    canary: Canary,
    body: Bytes,
    /// Its prompt's tokens, measured once its target's tokenizer is in memory: a canary-only
    /// daemon on the default tokenizer never builds its index (~3 MB) for one fixed
    /// prompt; until then its probes carry no generated-input count (the server's usage has
    /// the prompt's tokens).
    tokenizer: Arc<dyn Tokenizer>,
    input_tokens: std::sync::OnceLock<u32>,
    /// The canary's request scope (one past the configured scenarios).
    scope: usize,
}

impl CanaryProbe {
    /// `None` without a `[canary]`; `tokenizer` is its target's (to count the prompt).
    pub fn new(config: &Config, tokenizer: Arc<dyn Tokenizer>) -> Option<Self> {
        let canary = config.canary.clone()?;
        let target = config.canary_target()?;
        // The one body builder every scenario's requests come from.
        let body = crate::workload::request_body(
            &canary.as_scenario(target),
            &[("user".to_string(), canary.prompt.clone())],
            canary.max_tokens,
        );
        Some(CanaryProbe {
            canary,
            body,
            tokenizer,
            input_tokens: std::sync::OnceLock::new(),
            scope: config.canary_scope()?,
        })
    }

    /// The checks `rec` fails (empty: the probe passed).
    pub fn failed_checks(&self, rec: &RequestRecord) -> Vec<&'static str> {
        use ErrorType::*;
        match rec.error_type {
            Some(Connect | Http4xx | Http429 | Http5xx | Redirect) => return vec!["status"],
            // No first token, or no next one, within `canary.timeout` (or the target's own
            // tighter first-token, idle or request timeout): the hung backend the canary is for.
            Some(Timeout | Stall) => return vec!["timeout"],
            Some(_) => return vec!["stream"],
            None => {}
        }
        let mut failed = Vec::new();
        if !rec.usage_present || rec.output_tokens == 0 {
            failed.push("usage");
        }
        if !(u64::from(self.canary.min_output_tokens)..=u64::from(self.canary.max_output_tokens()))
            .contains(&rec.output_tokens)
        {
            failed.push("tokens");
        }
        if let Some(re) = &self.canary.expect_re
            && !re.is_match(rec.answer_text.as_deref().unwrap_or_default())
        {
            failed.push("answer");
        }
        failed
    }

    /// Probe every `interval` until `stop`, through `launcher` (the canary's own client, outside
    /// `max_in_flight` and the budget). The schedule is fixed: a probe goes out on every tick in
    /// a task of its own (on `tracker`, so the drain waits for it), whether earlier probes have
    /// answered or not — an outage must not slow the probe rate — and each ends within
    /// `canary.timeout`.
    pub async fn run<E: super::Execute>(
        self,
        launcher: Arc<Launcher<E>>,
        instruments: Arc<CanaryInstruments>,
        probes: Arc<AtomicU64>,
        tracker: TaskTracker,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.canary.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let probe = Arc::new(self);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            // Probes are numbered apart from the soak's arrivals, and on across reloads.
            let seq = SEQ_BASE + probes.fetch_add(1, Ordering::Relaxed);
            let Ok(slot) = launcher.admit() else { continue };
            let plan = probe.plan(seq);
            let (probe, instruments) = (Arc::clone(&probe), Arc::clone(&instruments));
            tracker.spawn(async move {
                let rec = slot.start(plan).run().await;
                if rec.outcome == Outcome::Cancelled {
                    return;
                }
                let failed = probe.failed_checks(&rec);
                if !failed.is_empty() {
                    probe.log_failure(&rec, &failed);
                }
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                instruments.probe(&failed, now);
            });
        }
    }

    /// One warning per failed probe: the checks, the error class, the status and — when the
    /// answer was wrong — a bounded excerpt of the answer and the pattern it missed.
    fn log_failure(&self, rec: &RequestRecord, failed: &[&'static str]) {
        let checks = failed.join(",");
        let error_type = rec.error_type.map_or("none", ErrorType::as_str);
        let status = rec.status.unwrap_or(0);
        if failed.contains(&"answer") {
            let answer = rec.answer_text.as_deref().unwrap_or_default();
            let excerpt = crate::client::excerpt(answer.as_bytes(), 200);
            let expect = self.canary.expect.as_deref().unwrap_or_default();
            tracing::warn!(seq = rec.seq, checks, error_type, status, answer = %excerpt, expect, "canary probe failed");
        } else {
            tracing::warn!(
                seq = rec.seq,
                checks,
                error_type,
                status,
                output_tokens = rec.output_tokens,
                "canary probe failed"
            );
        }
    }

    /// The prompt's tokens once they can be measured without loading a tokenizer (0: not yet).
    fn input_tokens(&self) -> u32 {
        if let Some(n) = self.input_tokens.get() {
            return *n;
        }
        if !self.tokenizer.ready() {
            return 0;
        }
        *self
            .input_tokens
            .get_or_init(|| self.tokenizer.count(&self.canary.prompt) as u32)
    }

    fn plan(&self, seq: u64) -> RequestPlan {
        let prompt = Arc::new(Prompt {
            seq,
            scenario: self.scope,
            body: self.body.clone(),
            input_tokens: self.input_tokens(),
            max_tokens: self.canary.max_tokens,
            prefix_id: None,
            session_turns: None,
            conversation: None,
        });
        RequestPlan {
            seq,
            intended_at: Instant::now(),
            scenario: self.scope,
            max_tokens: self.canary.max_tokens,
            prompt,
            keep_text: true,
            phase: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_built_by_the_scenarios_body_builder_with_its_fixed_settings() {
        let text = "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
                    [canary]\nmax_tokens = 8\nprompt = \"Reply: pong\"\n";
        let config = Config::parse(text, "t", &|_| None).expect("a canary-only config");
        let probe =
            CanaryProbe::new(&config, crate::workload::default_tokenizer()).expect("a canary");
        let body: serde_json::Value = serde_json::from_slice(&probe.body).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({
                "model": "m",
                "messages": [{ "role": "user", "content": "Reply: pong" }],
                "max_tokens": 8,
                "stream": true,
                "stream_options": { "include_usage": true },
                "temperature": 0.0,
                "seed": 0,
            })
        );
        assert_eq!(probe.scope, 0, "one past the (no) scenarios");
    }

    /// A tokenizer whose tables load when `ready` is set, counting how often it counts.
    #[derive(Debug, Default)]
    struct Lazy {
        ready: std::sync::atomic::AtomicBool,
        counted: AtomicU64,
    }

    impl Tokenizer for Lazy {
        fn encode(&self, text: &str) -> Vec<u32> {
            self.counted.fetch_add(1, Ordering::Relaxed);
            text.split_whitespace().map(|_| 1).collect()
        }
        fn decode(&self, _: &[u32]) -> Option<String> {
            None
        }
        fn name(&self) -> &str {
            "lazy"
        }
        fn ready(&self) -> bool {
            self.ready.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn the_probe_never_loads_a_tokenizer_for_its_prompt() {
        let text = "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
                    [canary]\nprompt = \"Reply with one word: pong\"\n";
        let config = Config::parse(text, "t", &|_| None).expect("a canary-only config");
        let tok = Arc::new(Lazy::default());
        let probe =
            CanaryProbe::new(&config, Arc::clone(&tok) as Arc<dyn Tokenizer>).expect("a canary");
        // Not in memory: the probes go without a count, and nothing is tokenized.
        for seq in 0..3 {
            assert_eq!(probe.plan(SEQ_BASE + seq).prompt.input_tokens, 0);
        }
        assert_eq!(tok.counted.load(Ordering::Relaxed), 0);
        // Loaded (by the soak's prompts, or an answer without usage): measured once, kept.
        tok.ready.store(true, Ordering::Relaxed);
        for seq in 3..6 {
            assert_eq!(probe.plan(SEQ_BASE + seq).prompt.input_tokens, 5);
        }
        assert_eq!(tok.counted.load(Ordering::Relaxed), 1);
    }
}
