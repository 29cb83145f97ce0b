//! The report's verdicts per load phase — each phase judged on the `[gates] per_phase` rules,
//! PASS, FAIL or SKIP with its reasons — and the soak's own question, whether the last steady
//! phase is as good as the first: the rows of `compare`'s noise-aware comparison between them
//! ([`Change`] and [`Row`] are the comparison's vocabulary, defined here so a report can carry
//! them).

use serde::{Deserialize, Serialize};

use super::{GateResult, Verdict};

/// What the numbers say about one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Improved,
    WithinNoise,
    Insufficient,
    Regression,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Improved => "improved",
            Change::WithinNoise => "within noise",
            Change::Insufficient => "insufficient data",
            Change::Regression => "REGRESSION",
        }
    }
}

/// One metric of one scope, base against new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub scope: String,
    pub metric: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub base_samples: u64,
    pub new_samples: u64,
    /// new − base, and new / base − 1.
    pub change: Option<f64>,
    pub relative: Option<f64>,
    /// 95 % interval of the change (in the limit's terms: relative or absolute).
    pub interval: Option<(f64, f64)>,
    pub limit: String,
    pub verdict: Change,
    /// The fewest samples each side needs for this row to be judged (the minimum, or — for a
    /// quantile — enough for 5 beyond it).
    pub needed: u64,
}

/// A phase's verdict on the `[gates] per_phase` rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseVerdict {
    pub index: usize,
    /// The phase's kind (`steady`, `zigzag`, …).
    pub kind: String,
    /// `pass` (every rule held), `breach` (FAIL: a rule did not) or `insufficient` (SKIP: too
    /// few samples to judge — a phase not reached, or one whose traffic the server refused).
    pub verdict: Verdict,
    /// Why, in a line each: the rules that failed, or what was missing.
    pub reasons: Vec<String>,
    pub gates: Vec<GateResult>,
}

impl PhaseVerdict {
    /// From the phase's gate results (`gates` non-empty).
    pub fn of(index: usize, kind: &str, gates: Vec<GateResult>) -> Self {
        let verdict = super::worst(gates.iter().map(|g| g.verdict)).unwrap_or(Verdict::Pass);
        let reasons = gates
            .iter()
            .filter(|g| g.verdict != Verdict::Pass)
            .map(|g| match (g.verdict, g.measured, g.threshold) {
                (Verdict::Breach, Some(m), Some(t)) => {
                    format!("{}: measured {m:.4}, threshold {t:.4}", g.gate)
                }
                _ => format!(
                    "{}: {}",
                    g.gate,
                    g.note.clone().unwrap_or_else(|| format!(
                        "{} of {} samples needed",
                        g.samples, g.min_samples
                    ))
                ),
            })
            .collect();
        PhaseVerdict {
            index,
            kind: kind.to_string(),
            verdict,
            reasons,
            gates,
        }
    }

    /// `PASS`, `FAIL` or `SKIP`.
    pub fn label(&self) -> &'static str {
        match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Breach => "FAIL",
            Verdict::Insufficient => "SKIP",
        }
    }
}

/// The last steady phase against the first: is hour 8 as good as hour 0?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstLast {
    /// The phase indices compared (the first and the last `steady` phase).
    pub first: usize,
    pub last: usize,
    /// The worst verdict of the rows that could be judged (`insufficient` when none could).
    pub verdict: Change,
    pub rows: Vec<Row>,
}

/// The terminal lines: each phase's verdict with its reasons, then the first and last steady
/// phases compared (nothing when there is neither).
pub fn render(verdicts: &[PhaseVerdict], first_last: Option<&FirstLast>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if !verdicts.is_empty() {
        out.push_str("phases:\n");
        for v in verdicts {
            let _ = write!(out, "  {} phase {} ({})", v.label(), v.index, v.kind);
            match v.reasons.as_slice() {
                [] => out.push('\n'),
                reasons => {
                    let _ = writeln!(out, ": {}", reasons.join("; "));
                }
            }
        }
    }
    if let Some(fl) = first_last {
        let _ = writeln!(
            out,
            "last steady phase ({}) against the first ({}): {}",
            fl.last,
            fl.first,
            fl.verdict.as_str()
        );
        for r in &fl.rows {
            let v = |x: Option<f64>| {
                x.map_or("-".to_string(), |x| {
                    if r.metric == "error_rate" {
                        format!("{:.2} %", x * 100.0)
                    } else {
                        format!("{:.1} ms", x * 1e3)
                    }
                })
            };
            let rel = r
                .relative
                .map_or(String::new(), |x| format!(" ({:+.1} %)", x * 100.0));
            let _ = writeln!(
                out,
                "  {:<12} {} -> {}{rel}  {}",
                r.metric,
                v(r.base),
                v(r.new),
                r.verdict.as_str()
            );
        }
    }
    out
}
