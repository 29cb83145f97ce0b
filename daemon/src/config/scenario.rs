//! `[[scenario]]`: the weighted mix of request kinds — target and endpoint, token-length
//! distributions (constant, uniform, normal, lognormal, empirical) clipped to `[min, max]`,
//! content source, prefix sharing, output-length controls and sampling parameters — walked with
//! every problem reported at its path.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use toml::de::DeValue;

use super::Target;
use super::schema::label_name;
use super::walk::{Val, Walk};
use crate::openai::Endpoint;
use crate::workload::dataset::{Dataset, DatasetSpec, Format, OnError};

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
];
const DIST_KEYS: &[&str] = &[
    "constant",
    "uniform",
    "normal",
    "lognormal",
    "empirical",
    "min",
    "max",
];
const MAX_TOKENS_LIMIT: i64 = 1 << 20;

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

/// Token counts read from a file, one per line (`#` comments and blank lines skipped).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Empirical {
    pub file: PathBuf,
    #[serde(skip)]
    pub values: Arc<Vec<u32>>,
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
    /// A user text file, read once at start.
    File {
        file: PathBuf,
        #[serde(skip)]
        text: Arc<String>,
    },
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

fn ser_think<S: serde::Serializer>(
    t: &(std::time::Duration, std::time::Duration),
    s: S,
) -> Result<S::Ok, S::Error> {
    let f = |d: std::time::Duration| humantime::format_duration(d).to_string();
    serde_json::json!({ "min": f(t.0), "max": f(t.1) }).serialize(s)
}

/// One `[[scenario]]`: a kind of request in the weighted mix.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub weight: f64,
    /// Index into [`super::Config::targets`].
    pub target: usize,
    pub endpoint: Endpoint,
    pub model: String,
    pub system_prompt: Option<String>,
    /// Tokens of the generated content (system prompt excluded); `None` with a dataset.
    pub input_tokens: Option<LengthDist>,
    /// Drawn per request and sent as `max_tokens`.
    pub output_tokens: LengthDist,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Sampling seed sent with every request.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
    pub min_tokens: Option<MinTokens>,
    pub shared_prefix: Option<SharedPrefix>,
    /// One fixed prompt for every request: the prompt-uniformity trap, for demonstrations.
    pub uniform: bool,
    pub corpus: Corpus,
    /// Prompts (and their output lengths) from a file instead of synthetic text.
    #[serde(serialize_with = "ser_dataset")]
    pub dataset: Option<Arc<Dataset>>,
    /// Multi-turn conversations (arrivals then count new sessions).
    pub session: Option<Session>,
}

pub(super) fn scenarios(
    w: &mut Walk<'_>,
    v: Option<Val<'_, '_>>,
    targets: Option<&[Target]>,
    seed: u64,
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
        match scenario(w, item, targets, seed) {
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

fn scenario(
    w: &mut Walk<'_>,
    v: &Val<'_, '_>,
    targets: Option<&[Target]>,
    run_seed: u64,
) -> Option<Scenario> {
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
        Some(v) => v.one_of(w, &["chat", "completions"]).map(|s| {
            if s == "chat" {
                Endpoint::Chat
            } else {
                Endpoint::Completions
            }
        }),
    };
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
    let output_v = t.require(w, "output_tokens");
    let output_tokens = length(w, output_v);
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
    // The dataset is loaded with the scenario's target's tokenizer (length filter, reply lengths).
    let tokenizer = targets.and_then(|ts| match &target {
        Some(i) => ts.get(*i).map(|t| std::sync::Arc::clone(&t.tokenizer)),
        None => None,
    });
    let dataset = match (dataset_v, tokenizer) {
        (None, _) => Some(None),
        (Some(v), Some(tok)) => dataset(w, &v, tok.as_ref(), run_seed).map(Some),
        (Some(_), None) => None,
    };
    let session = optional(t.get("session"), |v| session(w, v));
    if let (Some(true), Some(Some(_))) = (uniform, shared_prefix) {
        w.report(
            &format!("{}.uniform", t.path),
            Some(t.span.clone()),
            "uniform = true (one fixed prompt) cannot be combined with shared_prefix",
        );
    }
    t.finish(w, SCENARIO_KEYS, |_| None);
    let target = target?;
    let model = match model {
        Some(m) => m,
        None => targets?.get(target)?.model.clone(),
    };
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
    })
}

fn session(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Session> {
    let mut t = v.table(w)?;
    let turns_v = t.require(w, "turns");
    let turns = length(w, turns_v);
    let think = match t.get("think_time") {
        None => Some((std::time::Duration::ZERO, std::time::Duration::ZERO)),
        Some(x) if x.is_str() => x.duration_or_zero(w).map(|d| (d, d)),
        Some(x) => x.table(w).and_then(|mut tt| {
            let lo = tt.require(w, "min").and_then(|m| m.duration_or_zero(w));
            let hi = tt.require(w, "max").and_then(|m| m.duration_or_zero(w));
            tt.finish(w, &["min", "max"], |_| None);
            let (lo, hi) = (lo?, hi?);
            if lo > hi {
                x.bad(w, "min must be <= max");
                return None;
            }
            Some((lo, hi))
        }),
    };
    t.finish(w, &["turns", "think_time"], |_| None);
    Some(Session {
        turns: turns?,
        think_time: think?,
    })
}

fn dataset(
    w: &mut Walk<'_>,
    v: &Val<'_, '_>,
    tokenizer: &dyn crate::workload::Tokenizer,
    seed: u64,
) -> Option<Arc<Dataset>> {
    let mut t = v.table(w)?;
    let path = format!("{}.file", t.path);
    let file = t
        .require(w, "file")
        .and_then(|f| f.str(w).map(PathBuf::from));
    let format = match t.get("format") {
        None => Some(Format::Jsonl),
        Some(f) => f.one_of(w, &["jsonl", "sharegpt"]).map(|s| {
            if s == "jsonl" {
                Format::Jsonl
            } else {
                Format::Sharegpt
            }
        }),
    };
    let replacement = match t.get("replacement") {
        None => Some(true),
        Some(r) => r.bool(w),
    };
    let on_error = match t.get("on_error") {
        None => Some(OnError::Skip),
        Some(o) => o.one_of(w, &["skip", "fail"]).map(|s| {
            if s == "skip" {
                OnError::Skip
            } else {
                OnError::Fail
            }
        }),
    };
    let min_input_tokens = optional(t.get("min_input_tokens"), |x| {
        x.int_in(w, 1, MAX_TOKENS_LIMIT).map(|n| n as u32)
    });
    let max_input_tokens = optional(t.get("max_input_tokens"), |x| {
        x.int_in(w, 1, MAX_TOKENS_LIMIT).map(|n| n as u32)
    });
    t.finish(
        w,
        &[
            "file",
            "format",
            "replacement",
            "on_error",
            "min_input_tokens",
            "max_input_tokens",
        ],
        |_| None,
    );
    let spec = DatasetSpec {
        file: file?,
        format: format?,
        replacement: replacement?,
        on_error: on_error?,
        min_input_tokens: min_input_tokens?,
        max_input_tokens: max_input_tokens?,
    };
    match Dataset::load(spec, tokenizer, seed) {
        Ok(d) => {
            if d.skipped_bad > 0 || d.skipped_filter > 0 {
                tracing::warn!(file = %d.spec.file.display(), entries = d.len(), bad = d.skipped_bad, filtered = d.skipped_filter, "dataset entries skipped");
            }
            Some(Arc::new(d))
        }
        Err(problems) => {
            for p in problems {
                w.report(&path, Some(v.span()), p);
            }
            None
        }
    }
}

fn ser_dataset<S: serde::Serializer>(d: &Option<Arc<Dataset>>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => d.spec.serialize(s),
        None => s.serialize_none(),
    }
}

fn shared_prefix(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SharedPrefix> {
    let mut t = v.table(w)?;
    let tokens = t
        .require(w, "tokens")
        .and_then(|x| x.int_in(w, 1, MAX_TOKENS_LIMIT));
    let pool = t.require(w, "pool").and_then(|x| x.int_in(w, 1, 1_000_000));
    let share = t
        .require(w, "share")
        .and_then(|x| x.float_in(w, 0.0, true, 1.0));
    t.finish(w, &["tokens", "pool", "share"], |_| None);
    Some(SharedPrefix {
        tokens: tokens? as u32,
        pool: pool? as u32,
        share: share?,
    })
}

/// Smallest corpus file accepted: enough text to cut distinct prompts from.
const MIN_CORPUS_BYTES: usize = 4096;

fn corpus(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Corpus> {
    let mut t = v.table(w)?;
    let file = t.require(w, "file").and_then(|f| {
        let path = PathBuf::from(f.str(w)?);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= MIN_CORPUS_BYTES => Some((path, text)),
            Ok(_) => {
                f.bad(
                    w,
                    format!(
                        "{} holds less than {MIN_CORPUS_BYTES} bytes of text",
                        path.display()
                    ),
                );
                None
            }
            Err(e) => {
                f.bad(w, format!("cannot read {}: {e}", path.display()));
                None
            }
        }
    });
    t.finish(w, &["file"], |_| None);
    let (file, text) = file?;
    // Prompts are cut at byte offsets: normalise whitespace so every cut starts cleanly.
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(Corpus::File {
        file,
        text: Arc::new(text),
    })
}

/// Token counts from a file, one per line; every bad line is reported with its number.
fn empirical(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Empirical> {
    let s = v.str(w)?;
    let path = PathBuf::from(s);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            v.bad(w, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    let mut values = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        match line.parse::<u32>() {
            Ok(n) if n > 0 => values.push(n),
            _ => bad.push(i + 1),
        }
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(10).map(ToString::to_string).collect();
        v.bad(
            w,
            format!(
                "{}: not a positive integer on line(s) {}{}",
                path.display(),
                shown.join(", "),
                if bad.len() > 10 { ", ..." } else { "" }
            ),
        );
        return None;
    }
    if values.is_empty() {
        v.bad(w, format!("{} holds no token counts", path.display()));
        return None;
    }
    Some(Empirical {
        file: path,
        values: Arc::new(values),
    })
}

/// `Some(None)` when absent, `Some(Some(x))` when valid, `None` after a reported problem.
fn optional<'a, 'i, T>(
    v: Option<Val<'a, 'i>>,
    f: impl FnOnce(&Val<'a, 'i>) -> Option<T>,
) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(v) => f(&v).map(Some),
    }
}

/// A token-length distribution: an integer (constant), or a table with exactly one of
/// `constant`, `uniform = {min, max}`, `normal = {mean, stddev}`, `lognormal = {mean, stddev}`,
/// plus optional `min`/`max` clip bounds.
fn length(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<LengthDist> {
    let v = v?;
    if let DeValue::Integer(_) = v.raw() {
        let n = v.int_in(w, 1, MAX_TOKENS_LIMIT)? as u32;
        return Some(LengthDist {
            dist: DistKind::Constant(n),
            min: n,
            max: n,
        });
    }
    let mut t = v.table(w)?;
    let kinds: Vec<&str> = ["constant", "uniform", "normal", "lognormal", "empirical"]
        .into_iter()
        .filter(|k| t.has(k))
        .collect();
    if kinds.len() != 1 {
        v.bad(w, "must name exactly one of constant, uniform, normal, lognormal, empirical (e.g. { lognormal = { mean = 512, stddev = 128 }, min = 16, max = 4096 })");
        t.entries();
        t.finish(w, DIST_KEYS, |_| None);
        return None;
    }
    let min = optional(t.get("min"), |v| v.int_in(w, 1, MAX_TOKENS_LIMIT));
    let max = optional(t.get("max"), |v| v.int_in(w, 1, MAX_TOKENS_LIMIT));
    let dist = match kinds[0] {
        "constant" => t
            .get("constant")
            .and_then(|c| c.int_in(w, 1, MAX_TOKENS_LIMIT))
            .map(|n| DistKind::Constant(n as u32)),
        "uniform" => t.get("uniform").and_then(|u| {
            let mut ut = u.table(w)?;
            let lo = ut
                .require(w, "min")
                .and_then(|x| x.int_in(w, 1, MAX_TOKENS_LIMIT));
            let hi = ut
                .require(w, "max")
                .and_then(|x| x.int_in(w, 1, MAX_TOKENS_LIMIT));
            ut.finish(w, &["min", "max"], |_| None);
            let (lo, hi) = (lo? as u32, hi? as u32);
            if lo > hi {
                u.bad(w, format!("min must be <= max (got {lo} > {hi})"));
                return None;
            }
            Some(DistKind::Uniform { min: lo, max: hi })
        }),
        "empirical" => t.get("empirical").and_then(|e| {
            let mut et = e.table(w)?;
            let file = et.require(w, "file").and_then(|f| empirical(w, &f));
            et.finish(w, &["file"], |_| None);
            file.map(DistKind::Empirical)
        }),
        kind => t
            .get(if kind == "normal" {
                "normal"
            } else {
                "lognormal"
            })
            .and_then(|n| {
                let mut nt = n.table(w)?;
                let mean = nt
                    .require(w, "mean")
                    .and_then(|x| x.float_in(w, 0.0, false, MAX_TOKENS_LIMIT as f64));
                let stddev = nt
                    .require(w, "stddev")
                    .and_then(|x| x.float_in(w, 0.0, true, MAX_TOKENS_LIMIT as f64));
                nt.finish(w, &["mean", "stddev"], |_| None);
                let (mean, stddev) = (mean?, stddev?);
                Some(if kind == "normal" {
                    DistKind::Normal { mean, stddev }
                } else {
                    DistKind::Lognormal { mean, stddev }
                })
            }),
    };
    t.finish(w, DIST_KEYS, |_| None);
    let (dist, min, max) = (dist?, min?, max?);
    let (default_min, default_max) = match &dist {
        DistKind::Constant(n) => (*n, *n),
        DistKind::Uniform { min, max } => (*min, *max),
        DistKind::Normal { mean, stddev } | DistKind::Lognormal { mean, stddev } => {
            (1, ((mean + 10.0 * stddev).ceil() as u32).max(1))
        }
        DistKind::Empirical(e) => (
            e.values.iter().copied().min().unwrap_or(1),
            e.values.iter().copied().max().unwrap_or(1),
        ),
    };
    let min = min.map_or(default_min, |m| m as u32);
    let max = max.map_or(default_max, |m| m as u32);
    if min > max {
        v.bad(w, format!("min must be <= max (got {min} > {max})"));
        return None;
    }
    Some(LengthDist { dist, min, max })
}
