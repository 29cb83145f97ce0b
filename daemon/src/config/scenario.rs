//! `[[scenario]]`: the weighted mix of request kinds — target and endpoint, token-length
//! distributions (constant, uniform, normal, lognormal, empirical) clipped to `[min, max]`,
//! content source, prefix sharing, output-length controls and sampling parameters — walked with
//! every problem reported at its path. Files (corpora, datasets, empirical length files) are
//! kept as [`FileRef`]s for the preparation step.

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};

use super::parts::{corpus, dataset, length, optional, session, shared_prefix};
use super::schema::label_name;
use super::walk::{Tbl, Val, Walk};
use super::{FileRef, Target, TargetRef};
use crate::openai::Endpoint;

const SCENARIO_KEYS: &[&str] = &[
    "name",
    "weight",
    "target",
    "endpoint",
    "model",
    "system_prompt",
    "input_tokens",
    "output_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "ignore_eos",
    "min_tokens",
    "shared_prefix",
    "uniform",
    "corpus",
    "dataset",
    "session",
    "slo",
    "extra_body",
    "extra_body_override",
    "stream",
];
pub(super) const MAX_TOKENS_LIMIT: i64 = 1 << 20;

/// A length distribution in tokens, clipped to `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LengthDist {
    #[serde(flatten)]
    pub dist: DistKind,
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DistKind {
    Constant(u32),
    /// Uniform over `[min, max]` (the same bounds as the clip range).
    Uniform {
        min: u32,
        max: u32,
    },
    Normal {
        mean: f64,
        stddev: f64,
    },
    /// `mean`/`stddev` of the resulting token counts, not of the underlying normal.
    Lognormal {
        mean: f64,
        stddev: f64,
    },
    /// Drawn uniformly from the values of a file (one token count per line).
    Empirical(Empirical),
}

/// Token counts read from a file, one per line (`#` comments and blank lines skipped), by the
/// preparation step. Without explicit `min`/`max` no value is clipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Empirical {
    #[serde(flatten)]
    pub file: FileRef,
}

/// `shared_prefix = { tokens, pool, share }`: a pool of `pool` distinct prefixes of `tokens`
/// tokens, each request reusing one with probability `share`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SharedPrefix {
    pub tokens: u32,
    pub pool: u32,
    pub share: f64,
}

/// Where prompt text is cut from (`corpus = { file = "…" }`; absent: embedded).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Corpus {
    /// The embedded public-domain corpus.
    Embedded,
    /// A user text file, read once by the preparation step.
    File(FileRef),
}

impl Corpus {
    pub fn is_embedded(&self) -> bool {
        matches!(self, Corpus::Embedded)
    }
}
/// File format of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Jsonl,
    Sharegpt,
}

/// How to treat a bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    Skip,
    Fail,
}

/// What to load and keep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSpec {
    #[serde(serialize_with = "ser_path")]
    pub file: FileRef,
    pub format: Format,
    /// Draw with replacement (default) or walk a seeded permutation.
    pub replacement: bool,
    pub on_error: OnError,
    /// Keep only entries whose prompt has this many tokens (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u32>,
}

fn ser_path<S: Serializer>(f: &FileRef, s: S) -> Result<S::Ok, S::Error> {
    f.file.serialize(s)
}

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

/// `session = { turns, think_time }`: the scenario is a conversation; arrivals start sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    /// Turns per session (the length-distribution grammar), at least 1.
    pub turns: LengthDist,
    /// Think time before each next turn, uniform in `[min, max]`.
    #[serde(serialize_with = "ser_think")]
    pub think_time: (std::time::Duration, std::time::Duration),
}

fn ser_think<S: Serializer>(
    t: &(std::time::Duration, std::time::Duration),
    s: S,
) -> Result<S::Ok, S::Error> {
    super::load::ser_span(t, s)
}

/// One `[[scenario]]`: a kind of request in the weighted mix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub weight: f64,
    /// Which of the config's targets it sends to.
    pub target: TargetRef,
    pub endpoint: Endpoint,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Tokens of the generated content (system prompt excluded); `None` with a dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<LengthDist>,
    /// Drawn per request and sent as `max_tokens`.
    pub output_tokens: LengthDist,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sampling seed sent with every request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<MinTokens>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_prefix: Option<SharedPrefix>,
    /// One fixed prompt for every request: the prompt-uniformity trap, for demonstrations.
    pub uniform: bool,
    #[serde(skip_serializing_if = "Corpus::is_embedded")]
    pub corpus: Corpus,
    /// Prompts (and their output lengths) from a file instead of synthetic text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,
    /// Multi-turn conversations (arrivals then count new sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// This scenario's SLO bounds, over `[slo]`'s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<super::slo::Slo>,
    /// JSON merged into every request (tools, response_format, vendor fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<super::body::ExtraBody>,
    /// The owned fields `extra_body` may replace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_body_override: Vec<String>,
    /// `false`: ask for one JSON answer instead of a stream (e2e and tokens only).
    pub stream: bool,
}

pub(super) fn scenarios(
    w: &mut Walk<'_>,
    v: Option<Val<'_, '_>>,
    targets: Option<&[Target]>,
) -> Option<Vec<Scenario>> {
    let Some(v) = v else {
        w.report("scenario", None, "at least one [[scenario]] is required");
        return None;
    };
    let items = v.array(w)?;
    if items.is_empty() {
        v.bad(w, "at least one [[scenario]] is required");
        return None;
    }
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    let mut ok = true;
    for item in &items {
        match scenario(w, item, targets) {
            Some(s) if !names.insert(s.name.clone()) => {
                w.report(
                    &format!("{}.name", item.path),
                    Some(item.span()),
                    format!("duplicate scenario name {:?}", s.name),
                );
                ok = false;
            }
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn scenario(w: &mut Walk<'_>, v: &Val<'_, '_>, targets: Option<&[Target]>) -> Option<Scenario> {
    let mut t = v.table(w)?;
    let name = t.require(w, "name").and_then(|v| label_name(w, &v));
    let weight = match t.get("weight") {
        None => Some(1.0),
        Some(v) => v.float_in(w, 0.0, false, 1e9),
    };
    // `None` here means "targets are broken, don't pile on"; a bad name is reported.
    let target = match (t.get("target"), targets) {
        (_, None) => None,
        (None, Some([_])) => Some(0),
        (None, Some(_)) => {
            w.report(
                &format!("{}.target", t.path),
                Some(t.span.clone()),
                "is required when more than one [[target]] is configured",
            );
            None
        }
        (Some(v), Some(ts)) => {
            let s = v.str(w)?;
            let found = ts.iter().position(|x| x.name == s);
            if found.is_none() {
                let known: Vec<&str> = ts.iter().map(|x| x.name.as_str()).collect();
                v.bad(
                    w,
                    format!("no [[target]] named {s:?} (known: {})", known.join(", ")),
                );
            }
            found
        }
    };
    let endpoint = match t.get("endpoint") {
        None => Some(Endpoint::Chat),
        Some(v) => {
            let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
            v.one_of(w, &names)
                .and_then(|s| Endpoint::ALL.into_iter().find(|e| e.as_str() == s))
        }
    };
    if let Some(e) = endpoint {
        endpoint_keys(w, &mut t, e);
    }
    let embeddings = endpoint == Some(Endpoint::Embeddings);
    let model = match t.get("model") {
        None => None,
        Some(v) => v.str(w).map(str::to_string),
    };
    let system_prompt = match t.get("system_prompt") {
        None => Some(None),
        Some(v) => v.str(w).map(|s| Some(s.to_string())),
    };
    let dataset_v = t.get("dataset");
    let input_tokens = match (t.get("input_tokens"), &dataset_v) {
        (Some(v), None) => length(w, Some(v)).map(Some),
        (None, Some(_)) => Some(None),
        (Some(v), Some(_)) => {
            v.bad(w, "a scenario with a dataset takes its prompts (and their lengths) from it; remove input_tokens");
            None
        }
        (None, None) => {
            w.report(
                &format!("{}.input_tokens", t.path),
                Some(t.span.clone()),
                "is required (or a dataset)",
            );
            None
        }
    };
    // Embeddings generate nothing: an output length is not asked for (one given is unused).
    let output_tokens = if embeddings {
        let _ = t.get("output_tokens");
        Some(LengthDist {
            dist: DistKind::Constant(1),
            min: 1,
            max: 1,
        })
    } else {
        let output_v = t.require(w, "output_tokens");
        length(w, output_v)
    };
    let temperature = optional(t.get("temperature"), |v| v.float_in(w, 0.0, true, 2.0));
    let top_p = optional(t.get("top_p"), |v| v.float_in(w, 0.0, false, 1.0));
    let stop = match t.get("stop") {
        None => Some(Vec::new()),
        Some(v) => v.array(w).and_then(|items| {
            items
                .iter()
                .map(|i| i.str(w).map(str::to_string))
                .collect::<Option<Vec<_>>>()
        }),
    };
    let seed = optional(t.get("seed"), |v| {
        v.int_in(w, 0, i64::MAX).map(|n| n as u64)
    });
    let ignore_eos = match t.get("ignore_eos") {
        None => Some(false),
        Some(v) => v.bool(w),
    };
    let min_tokens = optional(t.get("min_tokens"), |v| {
        if v.is_str() {
            v.one_of(w, &["max_tokens"]).map(|_| MinTokens::MaxTokens)
        } else {
            v.int_in(w, 1, MAX_TOKENS_LIMIT)
                .map(|n| MinTokens::Fixed(n as u32))
        }
    });
    let shared_prefix = optional(t.get("shared_prefix"), |v| shared_prefix(w, v));
    let uniform = match t.get("uniform") {
        None => Some(false),
        Some(v) => v.bool(w),
    };
    let corpus = match t.get("corpus") {
        None => Some(Corpus::Embedded),
        Some(v) => corpus(w, &v),
    };
    let dataset = match dataset_v {
        None => Some(None),
        Some(v) => dataset(w, &v).map(Some),
    };
    let session = optional(t.get("session"), |v| session(w, v));
    let slo = optional(t.get("slo"), |v| super::slo::walk(w, v));
    let stream = match t.get("stream") {
        None => Some(!embeddings),
        Some(v) => v.bool(w).map(|b| b && !embeddings),
    };
    let keyed: Vec<&str> = super::body::SCENARIO_KEYED
        .iter()
        .filter(|(_, key)| t.has(key))
        .map(|(field, _)| *field)
        .collect();
    let (body_v, override_v) = (t.get("extra_body"), t.get("extra_body_override"));
    let extra_body = super::body::walk(w, body_v, override_v.clone(), &keyed);
    let extra_body_override: Vec<String> = match (&extra_body, override_v) {
        (Some(Some(_)), Some(v)) => v
            .array(w)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.str(w).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    if let (Some(true), Some(Some(_))) = (uniform, shared_prefix) {
        w.report(
            &format!("{}.uniform", t.path),
            Some(t.span.clone()),
            "uniform = true (one fixed prompt) cannot be combined with shared_prefix",
        );
    }
    t.finish(w, SCENARIO_KEYS, |_| None);
    let target = target?;
    let target_config = targets?.get(target)?;
    let model = match model {
        Some(m) => m,
        None => target_config.model.clone(),
    };
    let target = target_config.reference(target);
    Some(Scenario {
        name: name?,
        weight: weight?,
        target,
        endpoint: endpoint?,
        model,
        system_prompt: system_prompt?,
        input_tokens: input_tokens?,
        output_tokens: output_tokens?,
        temperature: temperature?,
        top_p: top_p?,
        seed: seed?,
        stop: stop?,
        ignore_eos: ignore_eos?,
        min_tokens: min_tokens?,
        shared_prefix: shared_prefix?,
        uniform: uniform?,
        corpus: corpus?,
        dataset: dataset?,
        session: session?,
        slo: slo?,
        extra_body: extra_body?,
        extra_body_override,
        stream: stream?,
    })
}

/// Keys a scenario sets that its endpoint's API does not have: each a problem at its path.
fn endpoint_keys(w: &mut Walk<'_>, t: &mut Tbl<'_, '_>, endpoint: Endpoint) {
    let streamed = t.has("stream")
        && matches!(
            t.get("stream").map(|v| v.raw().clone()),
            Some(toml::de::DeValue::Boolean(true))
        );
    let refused: &[(&str, bool, &str)] = match endpoint {
        Endpoint::Embeddings => &[
            (
                "stream",
                streamed,
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
        if *bad && t.has(key) {
            let hint = match endpoint {
                Endpoint::Embeddings => String::new(),
                _ => " (a server that accepts it anyway can be sent it through extra_body)".into(),
            };
            w.report(
                &format!("{}.{key}", t.path),
                Some(t.span.clone()),
                format!(
                    "does not apply to endpoint = \"{}\": {why}{hint}",
                    endpoint.as_str()
                ),
            );
        }
    }
}
