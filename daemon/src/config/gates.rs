//! Gate expressions and `[gates]`. A gate (`ttft.p95 < 800ms`, `error_rate < 5%`,
//! `tpot.mean{scenario="chat"} < 1.1 * baseline`) is parsed here into plain data, so
//! `check-config` validates `[gates] rules` and `--gate` alike; `gate` judges them on a report.
//! `[gates]` keeps gates with the config instead of (or as well as) `--gate` flags — the same
//! expressions, their minimum sample count and the earlier report relative gates compare with.
//! Command-line gates are added to these; `--gate-min-samples` and `--baseline` override.
//!
//! Latency metrics are `ttft`, `ttfc`, `tpot`, `itl`, `e2e`, `ttfa`, `corrected_ttft`,
//! `corrected_e2e`, `schedule_lag` and `e2e_per_token` with `.mean`, `.max` or `.pNN` (`p99.9`
//! too) and need a time unit, as does `client_lag` (the client's own lag, run-wide: the trust
//! probe's); `error_rate` and `drop_rate` take a percentage or a fraction; `achieved_rate` is
//! requests per second.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::walk::{Val, Walk};
use crate::record::{Quantity, Stat};

/// Fewest samples a gate needs before it can pass.
pub const DEFAULT_MIN_SAMPLES: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Latency {
        quantity: Quantity,
        stat: Stat,
    },
    /// The client's own lag (the trust probe's), run-wide.
    ClientLag(Stat),
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
    pub fn holds(self, a: f64, b: f64) -> bool {
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

impl Gate {
    /// Whether the threshold needs a baseline report.
    pub fn is_relative(&self) -> bool {
        matches!(self.threshold, Threshold::Baseline { .. })
    }
}

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
            _ if name.starts_with("client_lag.") => {
                let stat = &name["client_lag.".len()..];
                if scenario.is_some() {
                    return Err(format!(
                        "{t:?}: client_lag is the daemon's own and run-wide: it takes no {{scenario=...}}"
                    ));
                }
                Metric::ClientLag(
                    Stat::parse(stat).ok_or_else(|| {
                        format!("{t:?}: {stat:?} is not mean, max or pNN (e.g. p99)")
                    })?,
                )
            }
            _ => {
                let (q, stat) = name
                    .split_once('.')
                    .ok_or_else(|| format!("{t:?}: unknown metric {name:?} (ttft.p95, tpot.mean, e2e.max, error_rate, drop_rate, achieved_rate, …)"))?;
                let quantity = Quantity::parse(q).ok_or_else(|| {
                    let all: Vec<&str> = Quantity::ALL.iter().map(|q| q.as_str()).collect();
                    format!("{t:?}: unknown latency {q:?} (one of {})", all.join(", "))
                })?;
                let stat = Stat::parse(stat).ok_or_else(|| {
                    format!("{t:?}: {stat:?} is not mean, max or pNN (e.g. p95, p99.9)")
                })?;
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
        Metric::Latency { .. } | Metric::ClientLag(_) => parse_duration_value(rhs)
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

const KEYS: &[&str] = &["rules", "min_samples", "baseline"];

/// A validated `[gates]` (empty when the section is absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GatesConfig {
    #[serde(serialize_with = "ser_rules")]
    pub rules: Vec<Gate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u64>,
    /// An earlier `--report` JSON for relative thresholds (`1.1 * baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PathBuf>,
}

impl GatesConfig {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.min_samples.is_none() && self.baseline.is_none()
    }
}

fn ser_rules<S: Serializer>(rules: &[Gate], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rules.iter().map(|g| g.text.as_str()))
}

pub(super) fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<GatesConfig> {
    let mut t = v.table(w)?;
    let rules = match t.get("rules") {
        None => Some(Vec::new()),
        Some(r) => r.array(w).and_then(|items| {
            let gates: Vec<Option<Gate>> = items
                .iter()
                .map(|item| {
                    let text = item.str(w)?;
                    text.parse::<Gate>().map_err(|e| item.bad(w, e)).ok()
                })
                .collect();
            gates.into_iter().collect::<Option<Vec<_>>>()
        }),
    };
    let min_samples = match t.get("min_samples") {
        None => Some(None),
        Some(m) => m.int_in(w, 1, i64::MAX).map(|n| Some(n as u64)),
    };
    let baseline = match t.get("baseline") {
        None => Some(None),
        Some(b) => b.str(w).map(|p| Some(PathBuf::from(p))),
    };
    t.finish(w, KEYS, |_| None);
    Some(GatesConfig {
        rules: rules?,
        min_samples: min_samples?,
        baseline: baseline?,
    })
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
                quantity: Quantity::Ttft,
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
            quantity: Quantity::E2e,
            stat: Stat::Quantile(q),
        } = g.metric
        else {
            panic!("{g:?}")
        };
        assert!((q - 0.999).abs() < 1e-12);
        let g: Gate = "achieved_rate >= 9.5".parse().unwrap();
        assert_eq!((g.op, g.threshold), (Op::Ge, Threshold::Value(9.5)));
        let g: Gate = "client_lag.p99 < 1ms".parse().unwrap();
        assert_eq!(g.metric, Metric::ClientLag(Stat::Quantile(0.99)));
        assert_eq!(g.threshold, Threshold::Value(0.001));
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
            "client_lag.p99 < 1",
            "client_lag.p99{scenario=\"chat\"} < 1ms",
            "client_lag.median < 1ms",
        ] {
            assert!(bad.parse::<Gate>().is_err(), "{bad} parsed");
        }
    }
}
