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
//! requests per second and `output_tokens_per_second` tokens per second; `attainment` (a
//! percentage or a fraction) and `goodput` (requests/s) judge the latency SLO (`[slo]`).
//!
//! A gate is scoped by a [`Selector`]: `{scenario="chat"}`, `{phase="1"}` (a load phase by its
//! index; phases are run-wide, so not with a scenario), and for `error_rate` `{error_type="…"}` or
//! `{error_type=~"http_5xx|http_429"}` (a regular expression over the closed set of error types,
//! matched whole): the share of the judged requests that failed with one of those types.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::check::Check;
pub use crate::record::Metric;
use crate::record::{ErrorType, Quantity, Stat};

/// Fewest samples a gate needs before it can pass.
pub const DEFAULT_MIN_SAMPLES: u64 = 30;

/// Which requests a gate judges: all, a scenario's or a phase's, and for `error_rate` only
/// failures of some error types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    pub scenario: Option<String>,
    pub phase: Option<usize>,
    /// The error types an `error_rate` counts (`None`: every failure).
    pub error_types: Option<Vec<ErrorType>>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        *self == Selector::default()
    }

    /// `scenario="chat", phase="1", error_type=~"http_5xx|http_429"` (inside the braces).
    fn parse(inner: &str) -> Result<Selector, String> {
        let mut sel = Selector::default();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, regex, value) = match part.split_once("=~") {
                Some((k, v)) => (k.trim(), true, v.trim()),
                None => match part.split_once('=') {
                    Some((k, v)) => (k.trim(), false, v.trim()),
                    None => return Err(format!("{part:?} is not KEY=\"VALUE\"")),
                },
            };
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{part:?}: the value is a non-empty \"quoted\" string"))?;
            match (key, regex) {
                ("scenario", false) => sel.scenario = Some(value.to_string()),
                ("phase", false) => {
                    sel.phase = Some(value.parse().map_err(|_| {
                        format!("{part:?}: a phase is its index in load.phases (0, 1, …)")
                    })?)
                }
                ("error_type", _) => {
                    let matches: Vec<ErrorType> = if regex {
                        let re = regex::Regex::new(&format!("^(?:{value})$"))
                            .map_err(|e| format!("{part:?}: not a regular expression: {e}"))?;
                        ErrorType::ALL
                            .iter()
                            .copied()
                            .filter(|e| re.is_match(e.as_str()))
                            .collect()
                    } else {
                        ErrorType::ALL
                            .iter()
                            .copied()
                            .filter(|e| e.as_str() == value)
                            .collect()
                    };
                    if matches.is_empty() {
                        let all: Vec<&str> = ErrorType::ALL.iter().map(|e| e.as_str()).collect();
                        return Err(format!(
                            "{part:?} matches no error type (they are {})",
                            all.join(", ")
                        ));
                    }
                    sel.error_types = Some(matches);
                }
                (k, true) => {
                    return Err(format!(
                        "{part:?}: only error_type takes =~ ({k:?} takes =)"
                    ));
                }
                (k, false) => {
                    return Err(format!(
                        "{part:?}: unknown qualifier {k:?} (scenario, phase, error_type)"
                    ));
                }
            }
        }
        if sel.scenario.is_some() && sel.phase.is_some() {
            return Err("phases are run-wide: a gate takes a scenario or a phase, not both".into());
        }
        Ok(sel)
    }
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

/// The unit a gate's numbers are shown in: the one its threshold was written in (`800ms` →
/// milliseconds, `5%` → percent), else the metric's natural one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Micros,
    Millis,
    Seconds,
    Minutes,
    Percent,
    Fraction,
    PerSecond,
    TokensPerSecond,
}

impl Shown {
    /// The unit's symbol (empty for a plain fraction).
    pub fn symbol(self) -> &'static str {
        match self {
            Shown::Micros => "us",
            Shown::Millis => "ms",
            Shown::Seconds => "s",
            Shown::Minutes => "m",
            Shown::Percent => "%",
            Shown::Fraction => "",
            Shown::PerSecond => "/s",
            Shown::TokensPerSecond => " tokens/s",
        }
    }

    /// How many of the unit make one of the metric's base unit (seconds, a fraction, per s).
    pub fn scale(self) -> f64 {
        match self {
            Shown::Micros => 1e6,
            Shown::Millis => 1e3,
            Shown::Minutes => 1.0 / 60.0,
            Shown::Percent => 100.0,
            Shown::Seconds | Shown::Fraction | Shown::PerSecond | Shown::TokensPerSecond => 1.0,
        }
    }

    /// The unit `written` (a threshold's text; empty for a relative one) is in, for `metric`.
    fn of(metric: Metric, written: &str) -> Shown {
        let w = written.trim();
        match metric {
            Metric::Latency { .. } | Metric::ClientLag(_) => {
                if w.ends_with("us") || w.ends_with("µs") {
                    Shown::Micros
                } else if w.ends_with("ms") || w.is_empty() {
                    Shown::Millis
                } else if w.ends_with('m') {
                    Shown::Minutes
                } else {
                    Shown::Seconds
                }
            }
            Metric::ErrorRate | Metric::DropRate | Metric::Attainment => {
                if w.is_empty() || w.ends_with('%') {
                    Shown::Percent
                } else {
                    Shown::Fraction
                }
            }
            Metric::AchievedRate | Metric::Goodput => Shown::PerSecond,
            Metric::OutputTokensPerSecond => Shown::TokensPerSecond,
        }
    }
}

/// One parsed gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub text: String,
    pub selector: Selector,
    pub metric: Metric,
    pub op: Op,
    pub threshold: Threshold,
    pub min_samples: u64,
    /// The unit its results are shown in.
    pub shown: Shown,
}

impl Gate {
    /// Whether the threshold needs a baseline report.
    pub fn is_relative(&self) -> bool {
        matches!(self.threshold, Threshold::Baseline { .. })
    }
}

/// Why `gate`'s scope does not exist in a config with request scopes `scopes` (scenario names,
/// and `canary` when there is one) and `phases` load phases, or it needs an SLO there is not
/// (`has_slo`: `[slo]` or a scenario's `slo`).
pub fn scope_problem(gate: &Gate, scopes: &[&str], phases: usize, has_slo: bool) -> Option<String> {
    if matches!(gate.metric, Metric::Attainment | Metric::Goodput) && !has_slo {
        return Some(format!(
            "{:?}: attainment and goodput judge the latency SLO: set [slo] (or a scenario's slo)",
            gate.text
        ));
    }
    let sel = &gate.selector;
    if let Some(n) = sel.scenario.as_deref().filter(|n| !scopes.contains(n)) {
        return Some(format!("{:?}: no scenario is named {n:?}", gate.text));
    }
    sel.phase.filter(|p| *p >= phases).map(|p| {
        format!(
            "{:?}: load has {phases} phase(s), numbered from 0: there is no phase {p}",
            gate.text
        )
    })
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
        let (name, selector) = match lhs.split_once('{') {
            None => (lhs, Selector::default()),
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or_else(|| format!("{t:?}: unclosed '{{'"))?;
                (
                    n.trim(),
                    Selector::parse(inner).map_err(|e| format!("{t:?}: {e}"))?,
                )
            }
        };
        let metric = match name {
            "error_rate" => Metric::ErrorRate,
            "drop_rate" => Metric::DropRate,
            "achieved_rate" => Metric::AchievedRate,
            "output_tokens_per_second" => Metric::OutputTokensPerSecond,
            "attainment" => Metric::Attainment,
            "goodput" => Metric::Goodput,
            _ if name.starts_with("client_lag.") => {
                let stat = &name["client_lag.".len()..];
                if !selector.is_empty() {
                    return Err(format!(
                        "{t:?}: client_lag is the daemon's own and run-wide: it takes no {{scenario=...}} or {{phase=...}}"
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
                    .ok_or_else(|| format!("{t:?}: unknown metric {name:?} (ttft.p95, tpot.mean, e2e.max, error_rate, drop_rate, achieved_rate, output_tokens_per_second, …)"))?;
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
        if selector.error_types.is_some() && metric != Metric::ErrorRate {
            return Err(format!("{t:?}: {{error_type=...}} scopes error_rate only"));
        }
        if metric == Metric::DropRate && !selector.is_empty() {
            return Err(format!(
                "{t:?}: drops happen before a request has a scenario, and are counted run-wide: drop_rate takes no qualifier"
            ));
        }
        let value = |rhs: &str| parse_value(metric, rhs).map_err(|e| format!("{t:?}: {e}"));
        let mut written = rhs;
        let threshold = if rhs.contains("baseline") {
            let (scaled, offset) = match rhs.split_once('+') {
                Some((a, b)) => {
                    written = b.trim();
                    (a.trim(), value(b.trim())?)
                }
                None => {
                    written = "";
                    (rhs, 0.0)
                }
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
            selector,
            metric,
            op,
            threshold,
            min_samples: DEFAULT_MIN_SAMPLES,
            shown: Shown::of(metric, written),
        })
    }
}

/// A threshold value in the metric's unit: seconds for latencies, a fraction for rates of
/// failure, requests/s for the achieved rate.
fn parse_value(metric: Metric, rhs: &str) -> Result<f64, String> {
    let v = match metric {
        Metric::Latency { .. } | Metric::ClientLag(_) => parse_duration_value(rhs)
            .ok_or_else(|| format!("{rhs:?} is not a duration with a unit (e.g. 800ms, 1.5s)"))?,
        Metric::ErrorRate | Metric::DropRate | Metric::Attainment => match rhs.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|v| v / 100.0)
                .map_err(|_| format!("{rhs:?} is not a percentage"))?,
            None => rhs
                .parse::<f64>()
                .map_err(|_| format!("{rhs:?} is not a fraction or a percentage"))?,
        },
        Metric::AchievedRate | Metric::Goodput => rhs
            .trim_end_matches("/s")
            .trim_end_matches("rps")
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{rhs:?} is not a rate in requests/s"))?,
        Metric::OutputTokensPerSecond => rhs
            .trim_end_matches("tokens/s")
            .trim_end_matches("tok/s")
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{rhs:?} is not a rate in tokens/s"))?,
    };
    if !v.is_finite() || v < 0.0 {
        return Err("the threshold must be a finite, non-negative number".into());
    }
    Ok(v)
}

/// A validated `[gates]` (empty when the section is absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    /// The rules as written.
    #[serde(default, rename = "rules")]
    written: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u64>,
    /// An earlier `--report` JSON for relative thresholds (`1.1 * baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PathBuf>,
    /// The rules that parse (each one that does not is a problem), so the scopes of the others
    /// are checked too: every problem in one pass.
    #[serde(skip)]
    pub rules: Vec<Gate>,
    /// Where each of `rules` was written (`gates.rules[i]` and its line), for the checks made
    /// against the rest of the config: a rule's index among the rules written.
    #[serde(skip)]
    pub rule_origins: Vec<super::Origin>,
    /// Rules each load phase is judged on, on its own requests (PASS, FAIL or SKIP per phase).
    #[serde(default, rename = "per_phase", skip_serializing_if = "Vec::is_empty")]
    per_phase_written: Vec<String>,
    /// `per_phase` parsed: unscoped rules, scoped to each phase when judged.
    #[serde(skip)]
    pub per_phase: Vec<Gate>,
}

/// Equal when the rules and settings are, wherever they were written.
impl PartialEq for GatesConfig {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.rules,
            &self.per_phase,
            self.min_samples,
            &self.baseline,
        ) == (&o.rules, &o.per_phase, o.min_samples, &o.baseline)
    }
}

impl GatesConfig {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
            && self.per_phase_written.is_empty()
            && self.min_samples.is_none()
            && self.baseline.is_none()
    }

    pub(super) fn check(&mut self, c: &mut Check<'_>) {
        for (i, text) in self.written.iter().enumerate() {
            let at = format!("gates.rules[{i}]");
            match text.parse::<Gate>() {
                Ok(g) => {
                    self.rules.push(g);
                    self.rule_origins.push(c.origin(&at));
                }
                Err(e) => c.bad(at, e),
            }
        }
        for (i, text) in self.per_phase_written.iter().enumerate() {
            let at = format!("gates.per_phase[{i}]");
            match text.parse::<Gate>() {
                Ok(g) if g.selector.scenario.is_some() || g.selector.phase.is_some() => c.bad(
                    at,
                    "a per-phase rule is judged on each phase's requests: it takes no scenario or phase scope (use gates.rules for that)",
                ),
                Ok(g) if g.is_relative() => c.bad(
                    at,
                    "a per-phase rule takes an absolute threshold (a baseline report has no phases of this run's to compare with)",
                ),
                Ok(g) => self.per_phase.push(g),
                Err(e) => c.bad(at, e),
            }
        }
        if let Some(n) = self.min_samples {
            c.int_in("gates.min_samples", n, 1, i128::from(i64::MAX));
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
                quantity: Quantity::Ttft,
                stat: Stat::Quantile(0.95)
            }
        );
        assert_eq!((g.op, g.threshold), (Op::Lt, Threshold::Value(0.8)));
        let g: Gate = "error_rate < 5%".parse().unwrap();
        assert_eq!(g.threshold, Threshold::Value(0.05));
        let g: Gate = "tpot.mean{scenario=\"chat\"} <= 50ms".parse().unwrap();
        assert_eq!(
            (g.selector.scenario.as_deref(), g.op),
            (Some("chat"), Op::Le)
        );
        let g: Gate = "error_rate{error_type=~\"http_5xx|http_429\"} < 5%"
            .parse()
            .unwrap();
        assert_eq!(
            g.selector.error_types,
            Some(vec![ErrorType::Http429, ErrorType::Http5xx])
        );
        let g: Gate = "error_rate{error_type=\"timeout\", scenario=\"chat\"} < 1%"
            .parse()
            .unwrap();
        assert_eq!(g.selector.error_types, Some(vec![ErrorType::Timeout]));
        assert_eq!(g.selector.scenario.as_deref(), Some("chat"));
        let g: Gate = "ttft.p95{phase=\"1\"} < 2s".parse().unwrap();
        assert_eq!(g.selector.phase, Some(1));
        let g: Gate = "attainment{scenario=\"chat\"} > 95%".parse().unwrap();
        assert_eq!(
            (g.metric, g.threshold),
            (Metric::Attainment, Threshold::Value(0.95))
        );
        let g: Gate = "goodput >= 9.5/s".parse().unwrap();
        assert_eq!(
            (g.metric, g.threshold),
            (Metric::Goodput, Threshold::Value(9.5))
        );
        let g: Gate = "output_tokens_per_second >= 1500 tok/s".parse().unwrap();
        assert_eq!(
            (g.metric, g.threshold),
            (Metric::OutputTokensPerSecond, Threshold::Value(1500.0))
        );
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
            "client_lag.p99{phase=\"0\"} < 1ms",
            "error_rate{error_type=~\"nope.*\"} < 1%",
            "error_rate{error_type=\"http_5\"} < 1%",
            "error_rate{error_type=~\"(\"} < 1%",
            "ttft.p95{error_type=\"timeout\"} < 1s",
            "ttft.p95{phase=\"first\"} < 1s",
            "ttft.p95{phase=\"1\", scenario=\"chat\"} < 1s",
            "ttft.p95{scenario=~\"ch.*\"} < 1s",
            "ttft.p95{scenario=chat} < 1s",
            "drop_rate{phase=\"1\"} < 1%",
            "output_tokens_per_second > lots",
        ] {
            assert!(bad.parse::<Gate>().is_err(), "{bad} parsed");
        }
    }
}
