//! CI gates: `--gate 'ttft.p95 < 800ms'`, `--gate 'error_rate < 5%'`,
//! `--gate 'tpot.mean{scenario="chat"} < 50ms'`, judged on a bounded run's exact summary.
//! Latency metrics are `ttft`, `ttfc`, `tpot`, `itl`, `e2e` with `.mean`, `.max` or `.pNN`
//! (`p99.9` too) and need a time unit; `error_rate` and `drop_rate` take a percentage or a
//! fraction; `achieved_rate` is requests per second. A gate with fewer samples than its minimum
//! (default 30) is "insufficient data", never a pass.

use std::fmt;
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

/// One parsed gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub text: String,
    pub scenario: Option<String>,
    pub metric: Metric,
    pub op: Op,
    /// Seconds, a fraction, or requests/s.
    pub threshold: f64,
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
    pub samples: u64,
    pub min_samples: u64,
}

impl fmt::Display for GateResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Breach => "BREACHED",
            Verdict::Insufficient => "INSUFFICIENT DATA",
        };
        let measured = self.measured.map_or("-".to_string(), |m| format!("{m:.6}"));
        write!(
            f,
            "{v:<18} {}  (measured {measured}, {} samples, minimum {})",
            self.gate, self.samples, self.min_samples
        )
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
        let threshold = match metric {
            Metric::Latency { .. } => parse_duration_value(rhs).ok_or_else(|| {
                format!("{t:?}: {rhs:?} is not a duration with a unit (e.g. 800ms, 1.5s)")
            })?,
            Metric::ErrorRate | Metric::DropRate => match rhs.strip_suffix('%') {
                Some(p) => p
                    .trim()
                    .parse::<f64>()
                    .map(|v| v / 100.0)
                    .map_err(|_| format!("{t:?}: {rhs:?} is not a percentage"))?,
                None => rhs
                    .parse::<f64>()
                    .map_err(|_| format!("{t:?}: {rhs:?} is not a fraction or a percentage"))?,
            },
            Metric::AchievedRate => rhs
                .trim_end_matches("/s")
                .trim_end_matches("rps")
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("{t:?}: {rhs:?} is not a rate in requests/s"))?,
        };
        if !threshold.is_finite() || threshold < 0.0 {
            return Err(format!(
                "{t:?}: the threshold must be a finite, non-negative number"
            ));
        }
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

impl Gate {
    /// Judge the gate on a summary; `seconds` is the measured duration (for rates).
    pub fn evaluate(&self, s: &RunSummary, seconds: f64) -> GateResult {
        let result = |verdict, measured, samples| GateResult {
            gate: self.text.clone(),
            verdict,
            measured,
            samples,
            min_samples: self.min_samples,
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
        match measured {
            Some(m) if samples >= self.min_samples => result(
                if self.op.holds(m, self.threshold) {
                    Verdict::Pass
                } else {
                    Verdict::Breach
                },
                Some(m),
                samples,
            ),
            m => result(Verdict::Insufficient, m, samples),
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
        assert_eq!((g.op, g.threshold), (Op::Lt, 0.8));
        let g: Gate = "error_rate < 5%".parse().unwrap();
        assert!((g.threshold - 0.05).abs() < 1e-12);
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
        assert_eq!((g.op, g.threshold), (Op::Ge, 9.5));
        assert!((("itl.max < 250us").parse::<Gate>().unwrap().threshold - 250e-6).abs() < 1e-12);
        for bad in [
            "ttft.p95 800ms",
            "ttft.p95 < 800",
            "latency.p95 < 1s",
            "ttft.p100 < 1s",
            "error_rate < lots",
            "ttft.mean{model=x} < 1s",
        ] {
            assert!(bad.parse::<Gate>().is_err(), "{bad} parsed");
        }
    }
}
