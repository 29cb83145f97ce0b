//! `[sweep]`: how `llm-soak sweep` searches for the highest request rate at which the SLOs
//! hold — the attainment it must reach, the error budget, the tolerance of the bracket, and how
//! long each step runs (warm-up, window, the samples it needs, its cap, the drain after it).
//! Every key has a default: a config with an `[slo]` can be swept as it is.

use std::time::Duration;

use serde::Serialize;

use super::schema::duration_or;
use super::ser_duration;
use super::walk::{Val, Walk};

const KEYS: &[&str] = &[
    "attainment",
    "error_budget",
    "tolerance",
    "window",
    "warmup",
    "min_samples",
    "max_step",
    "ladder_step",
    "ladder_max",
    "max_rate",
    "drain",
];

/// How the sweep judges a step and how long steps last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepConfig {
    /// A step passes when the lower 95 % (Wilson) bound of its attainment reaches this.
    pub attainment: f64,
    /// …and its error rate (failures ÷ judged) stays within this.
    pub error_budget: f64,
    /// The search stops when the bracket (highest pass, lowest fail) is this narrow, relative.
    pub tolerance: f64,
    /// Stability is judged over windows this long (the last three must agree within 10 %).
    #[serde(serialize_with = "ser_duration")]
    pub window: Duration,
    /// The start of every step, not judged.
    #[serde(serialize_with = "ser_duration")]
    pub warmup: Duration,
    /// A step is judged on at least this many requests (started after its warm-up).
    pub min_samples: u64,
    /// A step never runs longer than this (warm-up included).
    #[serde(serialize_with = "ser_duration")]
    pub max_step: Duration,
    /// Each level of the closed-loop concurrency ladder runs this long.
    #[serde(serialize_with = "ser_duration")]
    pub ladder_step: Duration,
    /// The ladder stops at this many users.
    pub ladder_max: usize,
    /// No step is offered more than this many requests/s (`None`: 4× the ladder's estimate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// After a step, its requests still in flight get this long to finish.
    #[serde(serialize_with = "ser_duration")]
    pub drain: Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            attainment: 0.95,
            error_budget: 0.01,
            tolerance: 0.05,
            window: Duration::from_secs(5),
            warmup: Duration::from_secs(10),
            min_samples: 100,
            max_step: Duration::from_secs(120),
            ladder_step: Duration::from_secs(15),
            ladder_max: 1024,
            max_rate: None,
            drain: Duration::from_secs(60),
        }
    }
}

/// The 95 % two-sided normal quantile of the Wilson interval a step is judged by.
const Z: f64 = 1.96;

impl SweepConfig {
    /// The fewest judged requests with which a step can pass: even when every one met the
    /// SLO, the Wilson lower bound of k of k is k ÷ (k + z²), so it reaches `attainment` only
    /// from k = attainment·z² ÷ (1 − attainment) (73 for 95 %). `None` for an attainment of 1,
    /// which no lower bound reaches.
    pub fn min_judged(&self) -> Option<u64> {
        (self.attainment < 1.0).then(|| {
            (self.attainment * Z * Z / (1.0 - self.attainment) - 1e-9)
                .ceil()
                .max(1.0) as u64
        })
    }
}

/// `[sweep]`.
pub(super) fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SweepConfig> {
    let d = SweepConfig::default();
    let mut t = v.table(w)?;
    let mut fraction = |key: &'static str, default: f64, hi: f64| match t.get(key) {
        None => Some(default),
        Some(v) => v.float_in(w, 0.0, false, hi),
    };
    let attainment = fraction("attainment", d.attainment, 1.0);
    let error_budget = fraction("error_budget", d.error_budget, 1.0);
    let tolerance = fraction("tolerance", d.tolerance, 0.5);
    let window = duration_or(w, &mut t, "window", d.window);
    let warmup = duration_or(w, &mut t, "warmup", d.warmup);
    let max_step = duration_or(w, &mut t, "max_step", d.max_step);
    let ladder_step = duration_or(w, &mut t, "ladder_step", d.ladder_step);
    let drain = duration_or(w, &mut t, "drain", d.drain);
    let span_of = |t: &mut super::walk::Tbl<'_, '_>, key| t.get(key).map(|v| v.span());
    let (attainment_span, min_samples_span) = (
        span_of(&mut t, "attainment"),
        span_of(&mut t, "min_samples"),
    );
    let min_samples = match t.get("min_samples") {
        None => Some(d.min_samples),
        Some(v) => v.int_in(w, 10, 10_000_000).map(|n| n as u64),
    };
    let ladder_max = match t.get("ladder_max") {
        None => Some(d.ladder_max),
        Some(v) => v.int_in(w, 1, 1_000_000).map(|n| n as usize),
    };
    let max_rate = match t.get("max_rate") {
        None => Some(None),
        Some(v) => v.float_in(w, 0.0, false, 1e7).map(Some),
    };
    let path = t.path.clone();
    let span = t.span.clone();
    t.finish(w, KEYS, |_| None);
    let c = SweepConfig {
        attainment: attainment?,
        error_budget: error_budget?,
        tolerance: tolerance?,
        window: window?,
        warmup: warmup?,
        min_samples: min_samples?,
        max_step: max_step?,
        ladder_step: ladder_step?,
        ladder_max: ladder_max?,
        max_rate: max_rate?,
        drain: drain?,
    };
    // Three windows after the warm-up must fit in a step, or no step could ever be stable.
    if c.warmup + c.window * 3 > c.max_step {
        w.report(
            &format!("{path}.max_step"),
            Some(span),
            format!(
                "must leave room for warmup + 3 windows ({})",
                humantime::format_duration(c.warmup + c.window * 3)
            ),
        );
        return None;
    }
    match c.min_judged() {
        None => {
            w.report(
                &format!("{path}.attainment"),
                attainment_span.or(Some(span)),
                "a step is judged on the lower bound of its attainment, which never reaches 100 %: use less than 1 (e.g. 0.99)",
            );
            return None;
        }
        Some(k) if c.min_samples < k => {
            w.report(
                &format!("{path}.min_samples"),
                min_samples_span.or(Some(span)),
                format!(
                    "{} judged requests can never pass attainment {:.1} % (even {} of {} met gives a lower bound of {:.1} %): at least {k} are needed",
                    c.min_samples,
                    c.attainment * 100.0,
                    c.min_samples,
                    c.min_samples,
                    c.min_samples as f64 / (c.min_samples as f64 + Z * Z) * 100.0,
                ),
            );
            return None;
        }
        Some(_) => {}
    }
    Some(c)
}
