//! The parts of a `[[scenario]]` that describe where content and lengths come from — token-length
//! distributions (including empirical files), corpus files, datasets, shared prefixes — and
//! conversational sessions, each walked with every problem reported at its path. The files are
//! only named here; the preparation step reads them.

use toml::de::DeValue;

use super::scenario::{
    Corpus, DatasetSpec, DistKind, Empirical, Format, LengthDist, MAX_TOKENS_LIMIT, OnError,
    Session, SharedPrefix,
};
use super::target::{file_ref, file_table};
use super::walk::{Val, Walk};

const DIST_KEYS: &[&str] = &[
    "constant",
    "uniform",
    "normal",
    "lognormal",
    "empirical",
    "min",
    "max",
];

pub(super) fn session(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Session> {
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

pub(super) fn dataset(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<DatasetSpec> {
    let mut t = v.table(w)?;
    let file = t.require(w, "file").and_then(|f| file_ref(w, &f));
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
    let (min_input_tokens, max_input_tokens) = (min_input_tokens?, max_input_tokens?);
    if let (Some(lo), Some(hi)) = (min_input_tokens, max_input_tokens)
        && lo > hi
    {
        v.bad(
            w,
            format!("min_input_tokens must be <= max_input_tokens (got {lo} > {hi})"),
        );
        return None;
    }
    Some(DatasetSpec {
        file: file?,
        format: format?,
        replacement: replacement?,
        on_error: on_error?,
        min_input_tokens,
        max_input_tokens,
    })
}

pub(super) fn shared_prefix(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SharedPrefix> {
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

pub(super) fn corpus(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Corpus> {
    file_table(w, v).map(Corpus::File)
}

/// `Some(None)` when absent, `Some(Some(x))` when valid, `None` after a reported problem.
pub(super) fn optional<'a, 'i, T>(
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
pub(super) fn length(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<LengthDist> {
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
            let file = et.require(w, "file").and_then(|f| file_ref(w, &f));
            et.finish(w, &["file"], |_| None);
            file.map(|file| DistKind::Empirical(Empirical { file }))
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
        // The file's values are read later: without explicit bounds none is clipped.
        DistKind::Empirical(_) => (1, MAX_TOKENS_LIMIT as u32),
    };
    let min = min.map_or(default_min, |m| m as u32);
    let max = max.map_or(default_max, |m| m as u32);
    if min > max {
        v.bad(w, format!("min must be <= max (got {min} > {max})"));
        return None;
    }
    Some(LengthDist { dist, min, max })
}
