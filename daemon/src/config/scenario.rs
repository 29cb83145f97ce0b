//! `[[scenario]]`: the weighted mix of request kinds — target and endpoint, token-length
//! distributions clipped to `[min, max]`, content source, prefix sharing, output-length controls
//! and sampling parameters — and its checks: what applies to its endpoint, what it needs and
//! what cannot go together. Files (corpora, datasets, empirical length files) are kept as
//! [`FileRef`](super::FileRef)s for the preparation step.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::check::Check;
pub use super::parts::{
    Corpus, DatasetSpec, DistKind, Empirical, Format, LengthDist, OnError, Session, SharedPrefix,
    Tokens,
};
use super::{Target, TargetRef};
use crate::openai::Endpoint;

/// `min_tokens` sent with each request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinTokens {
    /// `"max_tokens"`: the same as the drawn `max_tokens`, so output lengths follow the
    /// distribution.
    MaxTokens,
    Fixed(u32),
}

impl Serialize for MinTokens {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MinTokens::MaxTokens => s.serialize_str("max_tokens"),
            MinTokens::Fixed(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for MinTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) if s == "max_tokens" => Ok(MinTokens::MaxTokens),
            toml::Value::String(s) => Err(de::Error::custom(format!(
                "must be one of \"max_tokens\" (got {s:?})"
            ))),
            toml::Value::Integer(n) => Tokens::try_from(n)
                .map(|t| MinTokens::Fixed(t.0))
                .map_err(de::Error::custom),
            other => Err(de::Error::custom(format!(
                "expected \"max_tokens\" or an integer, got {}",
                super::forms::describe(&other)
            ))),
        }
    }
}

fn unit() -> f64 {
    1.0
}

/// One `[[scenario]]`: a kind of request in the weighted mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default = "unit")]
    pub weight: f64,
    /// Which of the config's targets it sends to (unset: the only one).
    #[serde(default)]
    pub target: TargetRef,
    #[serde(default = "chat")]
    pub endpoint: Endpoint,
    /// The model its requests name (unset: its target's).
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Tokens of the generated content (system prompt excluded); `None` with a dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<LengthDist>,
    /// Drawn per request and sent as `max_tokens` (see [`Scenario::output_tokens`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<LengthDist>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sampling seed sent with every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub ignore_eos: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<MinTokens>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix: Option<SharedPrefix>,
    /// One fixed prompt for every request: the prompt-uniformity trap, for demonstrations.
    #[serde(default)]
    pub uniform: bool,
    #[serde(default, skip_serializing_if = "Corpus::is_embedded")]
    pub corpus: Corpus,
    /// Prompts (and their output lengths) from a file instead of synthetic text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,
    /// Multi-turn conversations (arrivals then count new sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// This scenario's SLO bounds, over `[slo]`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<super::slo::Slo>,
    /// JSON merged into every request (tools, response_format, vendor fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<super::body::ExtraBody>,
    /// The owned fields `extra_body` may replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_body_override: Vec<String>,
    /// `false`: ask for one JSON answer instead of a stream (e2e and tokens only); see
    /// [`Scenario::stream`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// A share of the requests closed by the client on purpose (outcome `aborted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<super::abort::Abort>,
    /// Connection churn: a share of the requests sent on a connection of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<super::abort::Churn>,
    /// Long context: prompts that fill this share of the model's context window (with the
    /// largest answer asked for); replaces `input_tokens`. See [`Scenario::fill_context`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_fill: Option<f64>,
}

fn chat() -> Endpoint {
    Endpoint::Chat
}

/// The output length of a scenario that generates nothing (embeddings).
static ONE_TOKEN: LengthDist = LengthDist {
    dist: DistKind::Constant(1),
    min: 1,
    max: 1,
};

impl Scenario {
    /// The output-length distribution (embeddings: one token, never asked for).
    pub fn output_tokens(&self) -> &LengthDist {
        self.output_tokens.as_ref().unwrap_or(&ONE_TOKEN)
    }

    /// Set the input length of a `context_fill` scenario from its target's context `window`:
    /// `fill × window` tokens less the largest answer it asks for. `Err` says why it cannot
    /// (a window too short for it).
    pub fn fill_context(&mut self, window: u32) -> Result<(), String> {
        let Some(fill) = self.context_fill else {
            return Ok(());
        };
        let room = (f64::from(window) * fill).floor() as i64 - i64::from(self.output_tokens().max);
        match u32::try_from(room) {
            Ok(n) if n >= 1 => {
                self.input_tokens = Some(LengthDist::constant(n));
                Ok(())
            }
            _ => Err(format!(
                "context_fill = {fill} of a {window}-token context window leaves no room for a prompt beside answers of up to {} tokens",
                self.output_tokens().max
            )),
        }
    }

    /// A `context_fill` scenario whose input length waits for the server's context window.
    pub fn context_pending(&self) -> bool {
        self.context_fill.is_some() && self.input_tokens.is_none()
    }

    /// Whether its requests ask for a stream (never for embeddings).
    pub fn stream(&self) -> bool {
        self.endpoint != Endpoint::Embeddings && self.stream != Some(false)
    }
}

/// Check the scenarios (`scenario`) against the targets that are fine (`None`: they are not,
/// so a target reference is not checked).
pub(super) fn check(c: &mut Check<'_>, scenarios: &mut [Scenario], targets: Option<&[Target]>) {
    if scenarios.is_empty() {
        c.bad("scenario", "at least one [[scenario]] is required");
    }
    for i in 0..scenarios.len() {
        let at = format!("scenario[{i}]");
        if scenarios[..i].iter().any(|o| o.name == scenarios[i].name) {
            c.bad(
                format!("{at}.name"),
                format!("duplicate scenario name {:?}", scenarios[i].name),
            );
        }
        one(c, &at, &mut scenarios[i], targets);
    }
}

fn one(c: &mut Check<'_>, at: &str, s: &mut Scenario, targets: Option<&[Target]>) {
    let path = |key: &str| format!("{at}.{key}");
    c.label(&path("name"), &s.name);
    c.float_in(&path("weight"), s.weight, 0.0, false, 1e9);
    if let Some(ts) = targets {
        s.target.resolve(c, &path("target"), ts, true);
    }
    if s.model.is_empty()
        && let Some(t) = targets.and_then(|ts| ts.get(s.target.index))
    {
        s.model = t.model.clone();
    }
    endpoint_keys(c, at, s);
    let embeddings = s.endpoint == Endpoint::Embeddings;
    if let Some(fill) = s.context_fill {
        c.float_in(&path("context_fill"), fill, 0.0, false, 1.0);
        for (key, set) in [
            ("input_tokens", s.input_tokens.is_some()),
            ("dataset", s.dataset.is_some()),
            ("session", s.session.is_some()),
        ] {
            if set {
                c.bad(
                    path(key),
                    "a context_fill scenario takes its prompt length from the context window: remove this",
                );
            }
        }
    }
    match (&s.input_tokens, &s.dataset) {
        (None, None) if s.context_fill.is_some() => {}
        (Some(_), Some(_)) => c.bad(
            path("input_tokens"),
            "a scenario with a dataset takes its prompts (and their lengths) from it; remove input_tokens",
        ),
        (None, None) => c.bad(path("input_tokens"), "is required (or a dataset)"),
        _ => {}
    }
    // Embeddings generate nothing: an output length is not asked for (one given is unused).
    if embeddings {
        s.output_tokens = Some(ONE_TOKEN.clone());
    } else if s.output_tokens.is_none() {
        c.bad(path("output_tokens"), "is required");
    }
    c.opt_float(&path("temperature"), s.temperature, 0.0, true, 2.0);
    c.opt_float(&path("top_p"), s.top_p, 0.0, false, 1.0);
    if let Some(n) = s.seed {
        c.int_in(&path("seed"), n, 0, i128::from(i64::MAX));
    }
    super::parts::check(c, at, s);
    if s.uniform && s.shared_prefix.is_some() {
        c.bad(
            path("uniform"),
            "uniform = true (one fixed prompt) cannot be combined with shared_prefix",
        );
    }
    let keyed: Vec<&str> = super::body::SCENARIO_KEYED
        .iter()
        .filter(|(_, key)| has(s, key))
        .map(|(field, _)| *field)
        .collect();
    super::body::check(c, at, s.extra_body.as_ref(), &s.extra_body_override, &keyed);
    s.stream = Some(s.stream());
    // With the window configured, the length is known now; else it is read at run start.
    if let Some(window) = targets
        .and_then(|ts| ts.get(s.target.index))
        .and_then(|t| t.context_window)
        && c.fine(&path("context_fill"))
        && c.fine(&path("output_tokens"))
        && let Err(why) = s.fill_context(window)
    {
        c.bad(path("context_fill"), why);
    }
    let streams = s.stream();
    if let Some(a) = &mut s.abort {
        super::abort::check(c, at, a, streams);
    }
    if let Some(ch) = &s.connection {
        c.float_in(&format!("{at}.connection.fresh"), ch.fresh, 0.0, true, 1.0);
    }
}

/// Whether scenario `s` sets the key `key`.
fn has(s: &Scenario, key: &str) -> bool {
    match key {
        "temperature" => s.temperature.is_some(),
        "top_p" => s.top_p.is_some(),
        "seed" => s.seed.is_some(),
        "stop" => !s.stop.is_empty(),
        "ignore_eos" => s.ignore_eos,
        "min_tokens" => s.min_tokens.is_some(),
        "session" => s.session.is_some(),
        "stream" => s.stream.is_some(),
        _ => false,
    }
}

/// Keys a scenario sets that its endpoint's API does not have: each a problem at its path.
fn endpoint_keys(c: &mut Check<'_>, at: &str, s: &Scenario) {
    let refused: &[(&str, bool, &str)] = match s.endpoint {
        Endpoint::Embeddings => &[
            (
                "stream",
                s.stream == Some(true),
                "embeddings are one JSON answer, never streamed",
            ),
            ("session", true, "embeddings have no conversation"),
        ],
        Endpoint::Messages => &[
            ("seed", true, "the Anthropic Messages API has no seed"),
            (
                "ignore_eos",
                true,
                "the Anthropic Messages API has no ignore_eos",
            ),
            (
                "min_tokens",
                true,
                "the Anthropic Messages API has no min_tokens",
            ),
        ],
        Endpoint::Responses => &[
            ("stop", true, "the Responses API has no stop sequences"),
            ("seed", true, "the Responses API has no seed"),
            ("ignore_eos", true, "the Responses API has no ignore_eos"),
            ("min_tokens", true, "the Responses API has no min_tokens"),
        ],
        Endpoint::Chat | Endpoint::Completions => &[],
    };
    for (key, bad, why) in refused {
        if *bad && has(s, key) {
            let hint = match s.endpoint {
                Endpoint::Embeddings => "",
                _ => " (a server that accepts it anyway can be sent it through extra_body)",
            };
            c.bad(
                format!("{at}.{key}"),
                format!(
                    "does not apply to endpoint = \"{}\": {why}{hint}",
                    s.endpoint.as_str()
                ),
            );
        }
    }
}
