//! `[sweep]`: how `llm-soak sweep` searches for the highest request rate at which the SLOs
//! hold — the attainment it must reach, the error budget, the tolerance of the bracket, and how
//! long each step runs (warm-up, window, the samples it needs, its cap, the drain after it).
//! Every key has a default: a config with an `[slo]` can be swept as it is.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::forms::dur;

/// How the sweep judges a step and how long steps last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    /// A step passes when the lower 95 % (Wilson) bound of its attainment reaches this.
    pub attainment: f64,
    /// …and its error rate (failures ÷ judged) stays within this.
    pub error_budget: f64,
    /// The search stops when the bracket (highest pass, lowest fail) is this narrow, relative.
    pub tolerance: f64,
    /// Stability is judged over windows this long (the last three must agree within 10 %).
    #[serde(with = "dur")]
    pub window: Duration,
    /// The start of every step, not judged.
    #[serde(with = "dur")]
    pub warmup: Duration,
    /// A step is judged on at least this many requests (started after its warm-up).
    pub min_samples: u64,
    /// A step never runs longer than this (warm-up included).
    #[serde(with = "dur")]
    pub max_step: Duration,
    /// Each level of the closed-loop concurrency ladder runs this long.
    #[serde(with = "dur")]
    pub ladder_step: Duration,
    /// The ladder stops at this many users.
    pub ladder_max: usize,
    /// No step is offered more than this many requests/s (`None`: 4× the ladder's estimate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// After a step, its requests still in flight get this long to finish.
    #[serde(with = "dur")]
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
pub(super) fn check(c: &mut Check<'_>, sw: &SweepConfig) {
    for (key, v, hi) in [
        ("attainment", sw.attainment, 1.0),
        ("error_budget", sw.error_budget, 1.0),
        ("tolerance", sw.tolerance, 0.5),
    ] {
        c.float_in(&format!("sweep.{key}"), v, 0.0, false, hi);
    }
    c.int_in("sweep.min_samples", sw.min_samples, 10, 10_000_000);
    c.int_in("sweep.ladder_max", sw.ladder_max as i128, 1, 1_000_000);
    if let Some(r) = sw.max_rate {
        c.float_in("sweep.max_rate", r, 0.0, false, 1e7);
    }
    if !c.fine("sweep") {
        return;
    }
    // Three windows after the warm-up must fit in a step, or no step could ever be stable.
    if sw.warmup + sw.window * 3 > sw.max_step {
        c.bad(
            "sweep.max_step",
            format!(
                "must leave room for warmup + 3 windows ({})",
                humantime::format_duration(sw.warmup + sw.window * 3)
            ),
        );
        return;
    }
    match sw.min_judged() {
        None => c.bad(
            "sweep.attainment",
            "a step is judged on the lower bound of its attainment, which never reaches 100 %: use less than 1 (e.g. 0.99)",
        ),
        Some(k) if sw.min_samples < k => c.bad(
            "sweep.min_samples",
            format!(
                "{} judged requests can never pass attainment {:.1} % (even {} of {} met gives a lower bound of {:.1} %): at least {k} are needed",
                sw.min_samples,
                sw.attainment * 100.0,
                sw.min_samples,
                sw.min_samples,
                sw.min_samples as f64 / (sw.min_samples as f64 + Z * Z) * 100.0,
            ),
        ),
        Some(_) => {}
    }
}
