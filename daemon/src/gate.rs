//! CI gates: `--gate 'ttft.p95 < 800ms'`, `--gate 'error_rate < 5%'`,
//! `--gate 'tpot.mean{scenario="chat"} < 50ms'`, judged on a bounded run's exact summary.
//! Latency metrics are `ttft`, `ttfc`, `tpot`, `itl`, `e2e` with `.mean`, `.max` or `.pNN`
//! (`p99.9` too) and need a time unit; `error_rate` and `drop_rate` take a percentage or a
//! fraction; `achieved_rate` is requests per second. A gate with fewer samples than its minimum
//! (default 30) is "insufficient data", never a pass.
//!
//! A threshold may be relative to an earlier report (`--baseline prev.json`):
//! `tpot.mean < 1.1 * baseline`, `error_rate < baseline + 1%`, `ttft.p95 <= baseline`. The
//! baseline value is the same metric and scope in that report; a baseline that lacks it, or a
//! report that was interrupted or incomplete, is refused rather than guessed at.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::metrics::RunSummary;

/// Fewest samples a gate needs before it can pass.
pub const DEFAULT_MIN_SAMPLES: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Mean,
    Max,
    Quantile(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Latency { quantity: &'static str, stat: Stat },
    ErrorRate,
    DropRate,
    AchievedRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// What a gate compares with: a fixed value (seconds, a fraction, or requests/s), or
/// `factor * baseline + offset` from an earlier report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Value(f64),
    Baseline { factor: f64, offset: f64 },
}

/// One parsed gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub text: String,
    pub scenario: Option<String>,
    pub metric: Metric,
    pub op: Op,
    pub threshold: Threshold,
    pub min_samples: u64,
}

/// How a gate came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Breach,
    Insufficient,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GateResult {
    pub gate: String,
    pub verdict: Verdict,
    pub measured: Option<f64>,
    /// The threshold the measured value was compared with (after applying the baseline).
    pub threshold: Option<f64>,
    /// The earlier report's value, for a relative gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub samples: u64,
    pub min_samples: u64,
    /// Why there is no verdict on the numbers (e.g. the baseline lacks the metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl fmt::Display for GateResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Breach => "BREACHED",
            Verdict::Insufficient => "INSUFFICIENT DATA",
        };
        let num = |x: Option<f64>| x.map_or("-".to_string(), |m| format!("{m:.6}"));
        write!(
            f,
            "{v:<18} {}  (measured {}, threshold {}",
            self.gate,
            num(self.measured),
            num(self.threshold)
        )?;
        if let Some(b) = self.baseline {
            write!(f, ", baseline {b:.6}")?;
        }
        write!(
            f,
            ", {} samples, minimum {})",
            self.samples, self.min_samples
        )?;
        if let Some(n) = &self.note {
            write!(f, ": {n}")?;
        }
        Ok(())
    }
}

const QUANTITIES: [&str; 5] = ["ttft", "ttfc", "tpot", "itl", "e2e"];

fn parse_duration_value(s: &str) -> Option<f64> {
    let units = [
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
    ];
    for (u, f) in units {
        if let Some(n) = s.strip_suffix(u) {
            // "ms" must not be read as "m" + "s": the longer suffixes come first.
            if let Ok(v) = n.trim().parse::<f64>() {
                return Some(v * f);
            }
        }
    }
    None
}

impl FromStr for Gate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (op, at, len) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .iter()
            .find_map(|(sym, op)| t.find(sym).map(|i| (*op, i, sym.len())))
            .ok_or_else(|| format!("{t:?}: expected METRIC < VALUE, e.g. 'ttft.p95 < 800ms'"))?;
        let (lhs, rhs) = (t[..at].trim(), t[at + len..].trim());
        let (name, scenario) = match lhs.split_once('{') {
            None => (lhs, None),
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or_else(|| format!("{t:?}: unclosed '{{'"))?;
                let value = inner
                    .trim()
                    .strip_prefix("scenario")
                    .and_then(|r| r.trim_start().strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_string())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("{t:?}: the only qualifier is {{scenario=\"NAME\"}}"))?;
                (n.trim(), Some(value))
            }
        };
        let metric = match name {
            "error_rate" => Metric::ErrorRate,
            "drop_rate" => Metric::DropRate,
            "achieved_rate" => Metric::AchievedRate,
            _ => {
                let (q, stat) = name
                    .split_once('.')
                    .ok_or_else(|| format!("{t:?}: unknown metric {name:?} (ttft.p95, tpot.mean, e2e.max, error_rate, drop_rate, achieved_rate, …)"))?;
                let quantity = QUANTITIES.iter().find(|x| **x == q).ok_or_else(|| {
                    format!(
                        "{t:?}: unknown latency {q:?} (one of {})",
                        QUANTITIES.join(", ")
                    )
                })?;
                let stat = match stat {
                    "mean" => Stat::Mean,
                    "max" => Stat::Max,
                    p => match p.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) {
                        Some(n) if n > 0.0 && n < 100.0 => Stat::Quantile(n / 100.0),
                        _ => {
                            return Err(format!(
                                "{t:?}: {stat:?} is not mean, max or pNN (e.g. p95, p99.9)"
                            ));
                        }
                    },
                };
                Metric::Latency { quantity, stat }
            }
        };
        let value = |rhs: &str| parse_value(metric, rhs).map_err(|e| format!("{t:?}: {e}"));
        let threshold = if rhs.contains("baseline") {
            let (scaled, offset) = match rhs.split_once('+') {
                Some((a, b)) => (a.trim(), value(b.trim())?),
                None => (rhs, 0.0),
            };
            let factor = if scaled == "baseline" {
                1.0
            } else {
                scaled
                    .strip_suffix("baseline")
                    .and_then(|k| k.trim().strip_suffix('*'))
                    .or_else(|| scaled.strip_prefix("baseline").and_then(|k| k.trim().strip_prefix('*')))
                    .and_then(|k| k.trim().parse::<f64>().ok())
                    .filter(|k| k.is_finite() && *k > 0.0)
                    .ok_or_else(|| format!("{t:?}: a relative threshold is 'baseline', 'K * baseline' or 'baseline + VALUE' (K > 0), e.g. 'tpot.mean < 1.1 * baseline'"))?
            };
            Threshold::Baseline { factor, offset }
        } else {
            Threshold::Value(value(rhs)?)
        };
        Ok(Gate {
            text: t.to_string(),
            scenario,
            metric,
            op,
            threshold,
            min_samples: DEFAULT_MIN_SAMPLES,
        })
    }
}

/// A threshold value in the metric's unit: seconds for latencies, a fraction for rates of
/// failure, requests/s for the achieved rate.
fn parse_value(metric: Metric, rhs: &str) -> Result<f64, String> {
    let v = match metric {
        Metric::Latency { .. } => parse_duration_value(rhs)
            .ok_or_else(|| format!("{rhs:?} is not a duration with a unit (e.g. 800ms, 1.5s)"))?,
        Metric::ErrorRate | Metric::DropRate => match rhs.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|v| v / 100.0)
                .map_err(|_| format!("{rhs:?} is not a percentage"))?,
            None => rhs
                .parse::<f64>()
                .map_err(|_| format!("{rhs:?} is not a fraction or a percentage"))?,
        },
        Metric::AchievedRate => rhs
            .trim_end_matches("/s")
            .trim_end_matches("rps")
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{rhs:?} is not a rate in requests/s"))?,
    };
    if !v.is_finite() || v < 0.0 {
        return Err("the threshold must be a finite, non-negative number".into());
    }
    Ok(v)
}

/// Why an earlier report cannot serve as a baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read the baseline report {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the baseline {path} is not an llm-soak report: {why}")]
    NotAReport { path: PathBuf, why: String },
    #[error(
        "the baseline {path} is from a run that did not finish (interrupted or a checkpoint): compare with a complete run"
    )]
    Incomplete { path: PathBuf },
}

/// An earlier run's report (`--report` JSON), for relative gates.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub path: PathBuf,
    summary: serde_json::Value,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| BaselineError::NotAReport {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
        Self::from_report(v, path)
    }

    /// From a parsed report; `path` names it in messages.
    pub fn from_report(v: serde_json::Value, path: &Path) -> Result<Self, BaselineError> {
        let not = |why: &str| BaselineError::NotAReport {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        if v.get("llm_soak_version").and_then(|x| x.as_str()).is_none() {
            return Err(not("no llm_soak_version"));
        }
        if v["complete"] != true || v["interrupted"] != false {
            return Err(BaselineError::Incomplete {
                path: path.to_path_buf(),
            });
        }
        let summary = v
            .get("summary")
            .filter(|s| s.is_object())
            .cloned()
            .ok_or_else(|| not("no summary"))?;
        Ok(Baseline {
            path: path.to_path_buf(),
            summary,
        })
    }

    /// The baseline's value of `metric` in `scenario` (`None`: all), in the gate's unit.
    pub fn value(&self, metric: Metric, scenario: Option<&str>) -> Option<f64> {
        if metric == Metric::DropRate {
            return scenario
                .is_none()
                .then(|| self.summary["drop_rate"].as_f64())?;
        }
        let scope = match scenario {
            None => &self.summary["all"],
            Some(n) => &self.summary["scenarios"][n],
        };
        match metric {
            Metric::ErrorRate => scope["error_rate"].as_f64(),
            Metric::AchievedRate => scope["achieved_rate"].as_f64(),
            Metric::DropRate => None,
            Metric::Latency { quantity, stat } => {
                scope["latency"][quantity][stat_key(stat).as_str()].as_f64()
            }
        }
    }
}

/// The gates of a run and the earlier report their relative thresholds refer to.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    pub list: Vec<Gate>,
    pub baseline: Option<std::sync::Arc<Baseline>>,
}

impl Gates {
    /// Every gate's verdict on `summary` (`seconds`: the measured time).
    pub fn judge(&self, summary: &RunSummary, seconds: f64) -> Vec<GateResult> {
        self.list
            .iter()
            .map(|g| g.evaluate(summary, seconds, self.baseline.as_deref()))
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

/// The report's key for a statistic: `mean`, `max`, `p95`, `p99.9`.
pub fn stat_key(stat: Stat) -> String {
    match stat {
        Stat::Mean => "mean".into(),
        Stat::Max => "max".into(),
        Stat::Quantile(q) => format!("p{}", (q * 100.0 * 1e6).round() / 1e6),
    }
}

impl Gate {
    /// Whether the threshold needs a baseline report.
    pub fn is_relative(&self) -> bool {
        matches!(self.threshold, Threshold::Baseline { .. })
    }

    /// Judge the gate on a summary; `seconds` is the measured duration (for rates); `baseline`
    /// is the earlier report relative thresholds refer to.
    pub fn evaluate(
        &self,
        s: &RunSummary,
        seconds: f64,
        baseline: Option<&Baseline>,
    ) -> GateResult {
        let (threshold, base, note) = match (self.threshold, baseline) {
            (Threshold::Value(v), _) => (Some(v), None, None),
            (Threshold::Baseline { factor, offset }, Some(b)) => {
                match b.value(self.metric, self.scenario.as_deref()) {
                    Some(bv) => (Some(factor * bv + offset), Some(bv), None),
                    None => (
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
        let result = |verdict, measured, samples| GateResult {
            gate: self.text.clone(),
            verdict,
            measured,
            threshold,
            baseline: base,
            samples,
            min_samples: self.min_samples,
            note: note.clone(),
        };
        let Some(scope) = s.scope(self.scenario.as_deref()) else {
            return result(Verdict::Insufficient, None, 0);
        };
        let (measured, samples) = match self.metric {
            Metric::Latency { quantity, stat } => {
                let q = scope.latency.get(quantity);
                let n = q.map_or(0, |q| q.count());
                let v = q.and_then(|q| match stat {
                    Stat::Mean => q.mean(),
                    Stat::Max => q.quantile(1.0),
                    Stat::Quantile(p) => q.quantile(p),
                });
                (v, n)
            }
            Metric::ErrorRate => (scope.error_rate(), scope.judged()),
            Metric::DropRate if self.scenario.is_none() => {
                (s.drop_rate(), scope.started + s.dropped)
            }
            // Drops happen before a scenario is drawn: a per-scenario drop rate does not exist.
            Metric::DropRate => (None, 0),
            Metric::AchievedRate => (
                (seconds > 0.0).then(|| scope.started as f64 / seconds),
                scope.started,
            ),
        };
        match (measured, threshold) {
            (Some(m), Some(threshold)) if samples >= self.min_samples => result(
                if self.op.holds(m, threshold) {
                    Verdict::Pass
                } else {
                    Verdict::Breach
                },
                Some(m),
                samples,
            ),
            (m, _) => result(Verdict::Insufficient, m, samples),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let g: Gate = "ttft.p95 < 800ms".parse().unwrap();
        assert_eq!(
            g.metric,
            Metric::Latency {
                quantity: "ttft",
                stat: Stat::Quantile(0.95)
            }
        );
        assert_eq!((g.op, g.threshold), (Op::Lt, Threshold::Value(0.8)));
        let g: Gate = "error_rate < 5%".parse().unwrap();
        assert_eq!(g.threshold, Threshold::Value(0.05));
        let g: Gate = "tpot.mean{scenario=\"chat\"} <= 50ms".parse().unwrap();
        assert_eq!((g.scenario.as_deref(), g.op), (Some("chat"), Op::Le));
        let g: Gate = "e2e.p99.9 < 2s".parse().unwrap();
        let Metric::Latency {
            quantity: "e2e",
            stat: Stat::Quantile(q),
        } = g.metric
        else {
            panic!("{g:?}")
        };
        assert!((q - 0.999).abs() < 1e-12);
        let g: Gate = "achieved_rate >= 9.5".parse().unwrap();
        assert_eq!((g.op, g.threshold), (Op::Ge, Threshold::Value(9.5)));
        let Threshold::Value(v) = "itl.max < 250us".parse::<Gate>().unwrap().threshold else {
            panic!()
        };
        assert!((v - 250e-6).abs() < 1e-12);
        for (text, factor, offset) in [
            ("tpot.mean < 1.1 * baseline", 1.1, 0.0),
            ("tpot.mean < baseline * 1.1", 1.1, 0.0),
            ("ttft.p95 <= baseline", 1.0, 0.0),
            ("error_rate < baseline + 1%", 1.0, 0.01),
            ("e2e.p99 < 1.2 * baseline + 50ms", 1.2, 0.05),
        ] {
            let g: Gate = text.parse().unwrap();
            assert!(g.is_relative());
            let Threshold::Baseline {
                factor: f,
                offset: o,
            } = g.threshold
            else {
                panic!("{text}")
            };
            assert!(
                (f - factor).abs() < 1e-12 && (o - offset).abs() < 1e-12,
                "{text}"
            );
        }
        for bad in [
            "ttft.p95 800ms",
            "ttft.p95 < 800",
            "latency.p95 < 1s",
            "ttft.p100 < 1s",
            "error_rate < lots",
            "ttft.mean{model=x} < 1s",
            "tpot.mean < 0 * baseline",
            "tpot.mean < baseline + soon",
            "tpot.mean < twice baseline",
        ] {
            assert!(bad.parse::<Gate>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn relative_gates_compare_with_the_earlier_report() {
        use crate::record::test_record;
        use std::time::Duration;
        let t0 = tokio::time::Instant::now();
        let mut s = RunSummary::new(vec!["chat".into()], None, Vec::new(), t0);
        for i in 0..40u64 {
            s.started(0, t0);
            s.observe(&test_record(
                t0,
                Duration::from_millis(100 + i),
                i % 10 != 0,
            ));
        }
        let report = serde_json::json!({
            "llm_soak_version": "0.1.0", "complete": true, "interrupted": false,
            "summary": s.to_json(10.0),
        });
        let base = Baseline::from_report(report.clone(), Path::new("prev.json")).unwrap();
        // The same run against itself: within 10 % passes, a tighter bound does not.
        let judge = |text: &str| {
            let mut g: Gate = text.parse().unwrap();
            g.min_samples = 10;
            g.evaluate(&s, 10.0, Some(&base))
        };
        let r = judge("ttft.p95 <= 1.1 * baseline");
        assert_eq!(r.verdict, Verdict::Pass, "{r}");
        assert_eq!(r.baseline, r.measured);
        assert_eq!(judge("ttft.p95 < 0.5 * baseline").verdict, Verdict::Breach);
        let r = judge("error_rate < baseline + 1%");
        assert_eq!(r.verdict, Verdict::Pass, "{r}");
        assert!((r.threshold.unwrap() - 0.11).abs() < 1e-9, "{r}");
        assert_eq!(
            judge("tpot.mean{scenario=\"chat\"} <= baseline").verdict,
            Verdict::Pass
        );
        // A statistic the report does not carry is insufficient data, with the reason.
        let r = judge("ttft.p75 < baseline");
        assert_eq!(r.verdict, Verdict::Insufficient);
        assert!(r.note.unwrap().contains("prev.json"));
        // A relative gate without a baseline never passes.
        let g: Gate = "ttft.p95 < baseline".parse().unwrap();
        assert_eq!(g.evaluate(&s, 10.0, None).verdict, Verdict::Insufficient);
        // Interrupted runs and checkpoints are refused as baselines.
        let mut cut = report.clone();
        cut["interrupted"] = true.into();
        assert!(matches!(
            Baseline::from_report(cut, Path::new("x")),
            Err(BaselineError::Incomplete { .. })
        ));
        assert!(Baseline::from_report(serde_json::json!({"a": 1}), Path::new("x")).is_err());
    }
}
