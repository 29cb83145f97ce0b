//! `[canary]`: the always-on synthetic probe — a fixed, known prompt with deterministic settings,
//! sent at a low fixed interval on its own connection pool, outside `max_in_flight`, with checks
//! on status, stream, usage, output length and (optionally) the answer. With a `[canary]` and no
//! `[[scenario]]`, llm-soak runs as a canary only.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::forms::{self, dur, opt_dur};
use super::{Target, TargetRef};
use crate::openai::Endpoint;

/// The scenario name the canary's requests carry (`llmsoak_scenario="canary"`).
pub const SCENARIO: &str = "canary";

/// The default probe: short, deterministic, with an answer a regex can check.
pub const DEFAULT_PROMPT: &str = "Reply with the single word: pong";

fn prompt() -> String {
    DEFAULT_PROMPT.into()
}

fn chat() -> Endpoint {
    Endpoint::Chat
}

/// A validated `[canary]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    #[serde(default)]
    pub target: TargetRef,
    /// `chat` or `completions`.
    #[serde(default = "chat")]
    pub endpoint: Endpoint,
    #[serde(default = "forms::secs::<30>", with = "dur")]
    pub interval: Duration,
    /// How long one probe may take (unset: `interval`): the canary's client caps the target's
    /// `request_timeout`, `first_token_timeout` and `idle_timeout` at it, so a probe with no
    /// first token, or no next one, fails with check `timeout` within it. Probes go out on the
    /// fixed schedule whether or not earlier ones are still running, so an outage does not slow
    /// the probe rate.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default = "prompt")]
    pub prompt: String,
    #[serde(default = "forms::int::<16, _>")]
    pub max_tokens: u32,
    #[serde(default = "forms::int::<1, _>")]
    pub min_output_tokens: u32,
    /// Unset: `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// A regex the answer must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Probe from every shard (default: shard 0 only).
    #[serde(default)]
    pub all_shards: bool,
    #[serde(skip)]
    pub expect_re: Option<regex::Regex>,
}

impl Canary {
    /// How long one probe may take.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.interval)
    }

    /// Most output tokens a good answer has.
    pub fn max_output_tokens(&self) -> u32 {
        self.max_output_tokens.unwrap_or(self.max_tokens)
    }

    pub(super) fn check(&mut self, c: &mut Check<'_>, targets: &[Target]) {
        if !targets.is_empty() {
            self.target.resolve(c, "canary.target", targets, false);
        }
        if !matches!(self.endpoint, Endpoint::Chat | Endpoint::Completions) {
            c.bad(
                "canary.endpoint",
                format!(
                    "must be one of \"chat\", \"completions\" (got {:?})",
                    self.endpoint.as_str()
                ),
            );
        }
        c.filled("canary.prompt", &self.prompt);
        let max_out = self.max_output_tokens();
        for (key, n) in [
            ("max_tokens", self.max_tokens),
            ("min_output_tokens", self.min_output_tokens),
            ("max_output_tokens", max_out),
        ] {
            c.int_in(&format!("canary.{key}"), n, 1, 1 << 20);
        }
        if c.fine("canary") && self.min_output_tokens > max_out {
            c.bad(
                "canary",
                format!(
                    "min_output_tokens must be <= max_output_tokens (got {} > {max_out})",
                    self.min_output_tokens
                ),
            );
        }
        self.timeout = Some(self.timeout());
        self.max_output_tokens = Some(max_out);
        if let Some(s) = &self.expect {
            match regex::Regex::new(s) {
                Ok(re) => self.expect_re = Some(re),
                Err(e) => c.bad(
                    "canary.expect",
                    format!(
                        "not a valid regex: {}",
                        e.to_string().lines().last().unwrap_or_default().trim()
                    ),
                ),
            }
        }
    }

    /// The probe as a scenario of its own (named `canary`): the fixed prompt's settings —
    /// temperature 0, seed 0, `max_tokens`, streamed — so its request body is built by the one
    /// body builder every scenario uses.
    pub fn as_scenario(&self, target: &Target) -> super::Scenario {
        use super::scenario::{Corpus, DistKind, LengthDist};
        super::Scenario {
            name: SCENARIO.to_string(),
            weight: 0.0,
            target: self.target.clone(),
            endpoint: self.endpoint,
            model: target.model.clone(),
            system_prompt: None,
            input_tokens: None,
            output_tokens: Some(LengthDist {
                dist: DistKind::Constant(self.max_tokens),
                min: self.max_tokens,
                max: self.max_tokens,
            }),
            temperature: Some(0.0),
            top_p: None,
            seed: Some(0),
            stop: Vec::new(),
            ignore_eos: false,
            min_tokens: None,
            shared_prefix: None,
            uniform: true,
            corpus: Corpus::Embedded,
            dataset: None,
            session: None,
            slo: None,
            extra_body: None,
            extra_body_override: Vec::new(),
            stream: Some(true),
            abort: None,
            connection: None,
            context_fill: None,
        }
    }
}

/// Equal when every setting is (the compiled regex follows from `expect`).
impl PartialEq for Canary {
    fn eq(&self, other: &Self) -> bool {
        let settings = |c: &Canary| {
            (
                c.target.clone(),
                c.endpoint,
                c.interval,
                c.timeout,
                c.prompt.clone(),
                c.max_tokens,
                c.min_output_tokens,
                c.max_output_tokens,
                c.expect.clone(),
                c.all_shards,
            )
        };
        settings(self) == settings(other)
    }
}
