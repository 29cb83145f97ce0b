//! `[canary]`: the always-on synthetic probe — a fixed, known prompt with deterministic settings,
//! sent at a low fixed interval on its own connection pool, outside `max_in_flight`, with checks
//! on status, stream, usage, output length and (optionally) the answer. With a `[canary]` and no
//! `[[scenario]]`, llm-soak runs as a canary only.

use std::time::Duration;

use serde::Serialize;

use super::walk::{Val, Walk};
use super::{Target, TargetRef, ser_duration};
use crate::openai::Endpoint;

/// The scenario name the canary's requests carry (`llmsoak_scenario="canary"`).
pub const SCENARIO: &str = "canary";

const KEYS: &[&str] = &[
    "target",
    "endpoint",
    "interval",
    "timeout",
    "prompt",
    "max_tokens",
    "min_output_tokens",
    "max_output_tokens",
    "expect",
    "all_shards",
];

/// The default probe: short, deterministic, with an answer a regex can check.
pub const DEFAULT_PROMPT: &str = "Reply with the single word: pong";

/// A validated `[canary]`.
#[derive(Debug, Clone, Serialize)]
pub struct Canary {
    pub target: TargetRef,
    pub endpoint: Endpoint,
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    /// How long one probe may take (default: `interval`): the canary's client caps the target's
    /// `request_timeout`, `first_token_timeout` and `idle_timeout` at it, so a probe with no
    /// first token, or no next one, fails with check `timeout` within it. Probes go out on the
    /// fixed schedule whether or not earlier ones are still running, so an outage does not slow
    /// the probe rate.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    pub prompt: String,
    pub max_tokens: u32,
    pub min_output_tokens: u32,
    pub max_output_tokens: u32,
    /// A regex the answer must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// Probe from every shard (default: shard 0 only).
    pub all_shards: bool,
    #[serde(skip)]
    pub expect_re: Option<regex::Regex>,
}

pub(super) fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>, targets: &[Target]) -> Option<Canary> {
    let mut t = v.table(w)?;
    let target = match (t.get("target"), targets) {
        (None, [_]) => Some(0),
        (None, _) => {
            w.report(
                &format!("{}.target", t.path),
                Some(t.span.clone()),
                "is required when more than one [[target]] is configured",
            );
            None
        }
        (Some(x), ts) => {
            let name = x.str(w)?;
            let found = ts.iter().position(|t| t.name == name);
            if found.is_none() {
                x.bad(w, format!("no [[target]] named {name:?}"));
            }
            found
        }
    };
    let endpoint = match t.get("endpoint") {
        None => Some(Endpoint::Chat),
        Some(x) => x.one_of(w, &["chat", "completions"]).map(|s| {
            if s == "chat" {
                Endpoint::Chat
            } else {
                Endpoint::Completions
            }
        }),
    };
    let interval = match t.get("interval") {
        None => Some(Duration::from_secs(30)),
        Some(x) => x.duration(w),
    };
    let timeout = match (t.get("timeout"), interval) {
        (None, i) => i,
        (Some(x), _) => x.duration(w),
    };
    let prompt = match t.get("prompt") {
        None => Some(DEFAULT_PROMPT.to_string()),
        Some(x) => x
            .str(w)
            .map(str::to_string)
            .filter(|p| !p.trim().is_empty()),
    };
    let int = |w: &mut Walk<'_>, x: Option<Val<'_, '_>>, default: u32| match x {
        None => Some(default),
        Some(x) => x.int_in(w, 1, 1 << 20).map(|n| n as u32),
    };
    let max_tokens = int(w, t.get("max_tokens"), 16);
    let min_out = int(w, t.get("min_output_tokens"), 1);
    let max_out_v = t.get("max_output_tokens");
    let max_out = int(w, max_out_v, max_tokens.unwrap_or(16));
    let expect = match t.get("expect") {
        None => Some(None),
        Some(x) => x.str(w).and_then(|s| match regex::Regex::new(s) {
            Ok(re) => Some(Some((s.to_string(), re))),
            Err(e) => {
                let why = e.to_string();
                x.bad(
                    w,
                    format!(
                        "not a valid regex: {}",
                        why.lines().last().unwrap_or_default().trim()
                    ),
                );
                None
            }
        }),
    };
    let all_shards = match t.get("all_shards") {
        None => Some(false),
        Some(x) => x.bool(w),
    };
    t.finish(w, KEYS, |_| None);
    let (min_output_tokens, max_output_tokens) = (min_out?, max_out?);
    if min_output_tokens > max_output_tokens {
        v.bad(w, format!("min_output_tokens must be <= max_output_tokens (got {min_output_tokens} > {max_output_tokens})"));
        return None;
    }
    let expect = expect?;
    let target = target?;
    Some(Canary {
        target: targets[target].reference(target),
        endpoint: endpoint?,
        interval: interval?,
        timeout: timeout?,
        prompt: prompt?,
        max_tokens: max_tokens?,
        min_output_tokens,
        max_output_tokens,
        expect: expect.as_ref().map(|(s, _)| s.clone()),
        all_shards: all_shards?,
        expect_re: expect.map(|(_, re)| re),
    })
}

impl Canary {
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
            output_tokens: LengthDist {
                dist: DistKind::Constant(self.max_tokens),
                min: self.max_tokens,
                max: self.max_tokens,
            },
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
            stream: true,
        }
    }
}

/// Equal when every setting is (the compiled regex follows from `expect`).
impl PartialEq for Canary {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.target,
            self.endpoint,
            self.interval,
            self.timeout,
            &self.prompt,
            self.max_tokens,
            self.min_output_tokens,
            self.max_output_tokens,
            &self.expect,
            self.all_shards,
        ) == (
            &other.target,
            other.endpoint,
            other.interval,
            other.timeout,
            &other.prompt,
            other.max_tokens,
            other.min_output_tokens,
            other.max_output_tokens,
            &other.expect,
            other.all_shards,
        )
    }
}
