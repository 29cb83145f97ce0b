//! CI gates judged on a run's typed report: each [`Gate`] expression (parsed by
//! `config::gates`) is measured on the report's exact summary — a latency statistic from the
//! exact histogram, an error, drop or achieved rate — and compared with its threshold. A gate
//! with fewer samples than its minimum (default 30) is "insufficient data", never a pass.
//!
//! A threshold may be relative to an earlier report (`--baseline prev.json`):
//! `tpot.mean < 1.1 * baseline`, `error_rate < baseline + 1%`, `ttft.p95 <= baseline`. The
//! baseline value is the same metric and scope, measured the same way on that report; a
//! baseline that lacks it or has fewer samples than the gate's minimum gives insufficient data,
//! and a report that was interrupted, a checkpoint or a partial merge is refused rather than
//! guessed at.

use std::path::{Path, PathBuf};

pub use crate::config::gates::{DEFAULT_MIN_SAMPLES, Gate, Metric, Op, Selector, Threshold};
use crate::report::{GateResult, ReportError, RunReport, Summary, Verdict};

/// Why an earlier report cannot serve as a baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("the baseline {path} is {why}: compare with a whole, finished run")]
    Incomplete { path: PathBuf, why: String },
    #[error("the baseline {path} has no summary (the run measured nothing)")]
    NoSummary { path: PathBuf },
}

/// An earlier run's report (`--report` JSON), for relative gates.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub path: PathBuf,
    summary: Summary,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        Self::from_report(RunReport::load(path)?, path)
    }

    /// From a parsed report; `path` names it in messages.
    pub fn from_report(report: RunReport, path: &Path) -> Result<Self, BaselineError> {
        if let Some(why) = report.unfinished() {
            return Err(BaselineError::Incomplete {
                path: path.to_path_buf(),
                why,
            });
        }
        let summary = report.summary.ok_or_else(|| BaselineError::NoSummary {
            path: path.to_path_buf(),
        })?;
        Ok(Baseline {
            path: path.to_path_buf(),
            summary,
        })
    }

    /// The baseline's value of `metric` over `selector`'s requests and its sample count.
    pub fn value(&self, metric: Metric, selector: &Selector) -> (Option<f64>, u64) {
        measure(&self.summary, metric, selector)
    }
}

/// `metric` over the requests of `s` that `selector` picks, in the gate's unit, and the samples
/// it rests on.
pub fn measure(s: &Summary, metric: Metric, selector: &Selector) -> (Option<f64>, u64) {
    let scope = match (&selector.scenario, selector.phase) {
        (Some(name), _) => s.scope(Some(name)),
        (None, Some(i)) => s.phases.get(i).map(|p| &p.scope),
        (None, None) => Some(&s.all),
    };
    let Some(scope) = scope else {
        return (None, 0);
    };
    let run_wide = selector.is_empty();
    match metric {
        Metric::Latency { quantity, stat } => {
            let d = scope.latency.get(quantity);
            (d.stat(stat), d.samples)
        }
        Metric::ClientLag(stat) => match &s.trust {
            Some(t) if run_wide => (t.client_lag.stat(stat), t.client_lag.samples),
            _ => (None, 0),
        },
        Metric::ErrorRate => {
            let judged = scope.finished.judged();
            let rate = match &selector.error_types {
                None => scope.error_rate,
                Some(types) => {
                    let failed: u64 = types
                        .iter()
                        .map(|e| scope.error_types.get(e).copied().unwrap_or(0))
                        .sum();
                    (judged > 0).then(|| failed as f64 / judged as f64)
                }
            };
            (rate, judged)
        }
        Metric::DropRate if run_wide => (s.drop_rate, scope.started + s.dropped),
        // Drops happen before a scenario is drawn: a scoped drop rate does not exist.
        Metric::DropRate => (None, 0),
        Metric::AchievedRate => (scope.achieved_rate, scope.started),
        Metric::OutputTokensPerSecond => (scope.tokens.output_per_second, scope.finished.success),
        Metric::Attainment => scope.slo.map_or((None, 0), |a| (a.attainment, a.judged)),
        Metric::Goodput => scope.slo.map_or((None, 0), |a| (a.goodput, a.judged)),
    }
}

/// The gates of a run and the earlier report their relative thresholds refer to.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    pub list: Vec<Gate>,
    pub baseline: Option<std::sync::Arc<Baseline>>,
    /// `[gates] per_phase`: each judged on every load phase's own requests.
    pub per_phase: Vec<Gate>,
}

impl Gates {
    /// Every gate's verdict on `summary`.
    pub fn judge(&self, summary: &Summary) -> Vec<GateResult> {
        self.list
            .iter()
            .map(|g| evaluate(g, summary, self.baseline.as_deref()))
            .collect()
    }

    /// Each load phase of `summary` judged on the per-phase rules (none without such rules).
    pub fn judge_phases(&self, summary: &Summary) -> Vec<crate::report::phases::PhaseVerdict> {
        if self.per_phase.is_empty() {
            return Vec::new();
        }
        summary
            .phases
            .iter()
            .map(|p| {
                let results = self
                    .per_phase
                    .iter()
                    .map(|g| {
                        let mut scoped = g.clone();
                        scoped.selector.phase = Some(p.index);
                        evaluate(&scoped, summary, None)
                    })
                    .collect();
                crate::report::phases::PhaseVerdict::of(p.index, &p.kind, results)
            })
            .collect()
    }

    /// The first relative gate, when there is no baseline to compare with.
    pub fn missing_baseline(&self) -> Option<&Gate> {
        self.list
            .iter()
            .find(|g| g.is_relative())
            .filter(|_| self.baseline.is_none())
    }
}

/// Judge `gate` on a summary; `baseline` is the earlier report relative thresholds refer to.
pub fn evaluate(gate: &Gate, s: &Summary, baseline: Option<&Baseline>) -> GateResult {
    let (threshold, base, note) = match (gate.threshold, baseline) {
        (Threshold::Value(v), _) => (Some(v), None, None),
        (Threshold::Baseline { factor, offset }, Some(b)) => {
            match b.value(gate.metric, &gate.selector) {
                (Some(bv), n) if n >= gate.min_samples => {
                    (Some(factor * bv + offset), Some(bv), None)
                }
                (Some(bv), n) => (
                    None,
                    Some(bv),
                    Some(format!(
                        "the baseline {} has only {n} samples of it (minimum {})",
                        b.path.display(),
                        gate.min_samples
                    )),
                ),
                (None, _) => (
                    None,
                    None,
                    Some(format!(
                        "the baseline {} has no value for it",
                        b.path.display()
                    )),
                ),
            }
        }
        (Threshold::Baseline { .. }, None) => {
            (None, None, Some("no baseline report given".to_string()))
        }
    };
    let (measured, samples) = measure(s, gate.metric, &gate.selector);
    let verdict = match (measured, threshold) {
        (Some(m), Some(t)) if samples >= gate.min_samples => {
            if gate.op.holds(m, t) {
                Verdict::Pass
            } else {
                Verdict::Breach
            }
        }
        _ => Verdict::Insufficient,
    };
    GateResult {
        gate: gate.text.clone(),
        verdict,
        measured,
        threshold,
        baseline: base,
        samples,
        min_samples: gate.min_samples,
        unit: Some((gate.shown.symbol().to_string(), gate.shown.scale())),
        note,
    }
}

#[cfg(test)]
mod tests;
