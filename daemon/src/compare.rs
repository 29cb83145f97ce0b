//! `llm-soak compare BASE.json NEW.json`: per scope (all, then each scenario both runs have) and
//! metric, base → new with the absolute and relative change, the sample counts, a noise
//! interval and a verdict — regression, within noise, improved, insufficient data.
//!
//! The noise interval comes from the exact histograms, distribution-free: a quantile `q` of `n`
//! samples lies, with 95 % confidence, between the order statistics of ranks
//! `nq ∓ 1.96·√(nq(1−q))`; the change's interval takes the worst pairing of the two sides'
//! bounds. An error rate uses Wilson intervals. A metric regresses when its change is beyond
//! its limit (`--max-regression 'tpot.p95 < +10%'`; default +10 % for latencies, +1 percentage
//! point for the error rate) *and* its interval excludes no change; it improved in the mirror
//! case; too few samples (fewer than the minimum, or fewer than 5 beyond the quantile judged)
//! is insufficient data, never a pass. The comparison's verdict is drawn from the rows that
//! were judged — a regression in any of them is a regression, and the rows without enough
//! samples (a short run's p99) are named as not judged; only when no row could be judged is it
//! insufficient data. `strict` makes any row without data make the whole insufficient.

use std::fmt::Write as _;

use serde::Serialize;

use crate::record::{Metric, Quantity, Stat};
pub use crate::report::phases::{Change, Row};
use crate::report::{Dist, Hdr, RunReport, Scope};

/// The 95 % two-sided normal quantile.
const Z: f64 = 1.96;

/// How much worse a metric may get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A fraction of the base (`+10%` of a latency).
    Relative(f64),
    /// An absolute amount in the metric's unit (`+50ms`; `+1%` of an error rate: a point).
    Absolute(f64),
}

/// `METRIC < +LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub metric: Metric,
    pub limit: Limit,
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(t: &str) -> Result<Rule, String> {
        let bad = |why: &str| {
            format!("{t:?}: {why} (e.g. 'tpot.p95 < +10%', 'ttft.p99 < +50ms', 'error_rate < +1%')")
        };
        let (lhs, rhs) = t.split_once('<').ok_or_else(|| bad("no '<'"))?;
        let (lhs, rhs) = (lhs.trim(), rhs.trim());
        let metric = if lhs == "error_rate" {
            Metric::ErrorRate
        } else {
            let (q, s) = lhs
                .split_once('.')
                .ok_or_else(|| bad("a metric is QUANTITY.STAT or error_rate"))?;
            let q = Quantity::parse(q).ok_or_else(|| bad("unknown latency"))?;
            let s = Stat::parse(s).ok_or_else(|| bad("a statistic is mean, max or pNN"))?;
            Metric::Latency {
                quantity: q,
                stat: s,
            }
        };
        let amount = rhs
            .strip_prefix('+')
            .ok_or_else(|| bad("the limit is an increase: +N% or +DURATION"))?;
        let limit = match (metric, amount.strip_suffix('%')) {
            (Metric::ErrorRate, Some(p)) => {
                Limit::Absolute(p.trim().parse::<f64>().map_err(|_| bad("not a number"))? / 100.0)
            }
            (Metric::ErrorRate, None) => {
                return Err(bad("an error-rate limit is in percentage points"));
            }
            (_, Some(p)) => {
                Limit::Relative(p.trim().parse::<f64>().map_err(|_| bad("not a number"))? / 100.0)
            }
            (_, None) => Limit::Absolute(
                humantime::parse_duration(amount.trim())
                    .map_err(|_| bad("not a duration"))?
                    .as_secs_f64(),
            ),
        };
        match limit {
            Limit::Relative(v) | Limit::Absolute(v) if !(v.is_finite() && v >= 0.0) => {
                Err(bad("a limit is a finite amount ≥ 0"))
            }
            _ => Ok(Rule { metric, limit }),
        }
    }
}

/// The comparison of two runs.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub base: String,
    pub new: String,
    pub rows: Vec<Row>,
    pub verdict: Change,
    /// Every row had to be judged for a verdict (`--strict`).
    pub strict: bool,
    /// The rows without enough samples, e.g. `all ttft.p99 (320 < 500 samples)`.
    pub not_judged: Vec<String>,
}

/// The default metrics and limits.
pub fn default_rules() -> Vec<Rule> {
    let l = |q, p: f64| Rule {
        metric: Metric::Latency {
            quantity: q,
            stat: Stat::Quantile(p),
        },
        limit: Limit::Relative(0.10),
    };
    vec![
        l(Quantity::Ttft, 0.5),
        l(Quantity::Ttft, 0.95),
        l(Quantity::Ttft, 0.99),
        l(Quantity::Tpot, 0.5),
        l(Quantity::Tpot, 0.95),
        l(Quantity::Tpot, 0.99),
        l(Quantity::Itl, 0.5),
        l(Quantity::Itl, 0.99),
        l(Quantity::E2e, 0.5),
        l(Quantity::E2e, 0.99),
        l(Quantity::E2ePerToken, 0.5),
        Rule {
            metric: Metric::ErrorRate,
            limit: Limit::Absolute(0.01),
        },
    ]
}

/// The defaults with `overrides` replacing (or adding to) them, metric by metric.
pub fn rules_with(overrides: &[Rule]) -> Vec<Rule> {
    let mut rules = default_rules();
    for o in overrides {
        match rules.iter_mut().find(|r| r.metric == o.metric) {
            Some(r) => r.limit = o.limit,
            None => rules.push(*o),
        }
    }
    rules
}

/// A statistic with its 95 % interval, from the exact histogram.
fn estimate(d: &Dist, stat: Stat) -> Option<(f64, f64, f64)> {
    let h: &Hdr = d.hdr.as_ref()?;
    let n = h.count() as f64;
    match stat {
        Stat::Quantile(q) => {
            let v = h.quantile(q)?;
            let se = (n * q * (1.0 - q)).sqrt();
            let lo = ((n * q - Z * se).floor() / n).clamp(0.0, 1.0);
            let hi = ((n * q + Z * se).ceil() / n).clamp(0.0, 1.0);
            Some((v, h.quantile(lo)?, h.quantile(hi)?))
        }
        Stat::Mean => {
            let (m, sd) = (h.mean()?, h.stdev()?);
            let e = Z * sd / n.sqrt();
            Some((m, (m - e).max(0.0), m + e))
        }
        Stat::Max => h.quantile(1.0).map(|v| (v, v, v)),
    }
}

/// `k` of `n`: (the share, and its 95 % Wilson interval), `None` without trials.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64, f64)> {
    (n > 0).then(|| {
        let (k, n) = (k as f64, n as f64);
        let p = k / n;
        let d = 1.0 + Z * Z / n;
        let c = (p + Z * Z / (2.0 * n)) / d;
        let e = Z * ((p * (1.0 - p) / n) + Z * Z / (4.0 * n * n)).sqrt() / d;
        (p, (c - e).max(0.0), (c + e).min(1.0))
    })
}

fn row(scope: &str, base: &Scope, new: &Scope, rule: &Rule, min: u64) -> Row {
    let (b, n, needed) = match rule.metric {
        Metric::Latency { quantity: q, stat } => {
            let (db, dn) = (base.latency.get(q), new.latency.get(q));
            // A quantile needs samples beyond it, not only samples.
            let needed = match stat {
                Stat::Quantile(p) => min.max((5.0 / (1.0 - p) - 1e-9).ceil() as u64),
                _ => min,
            };
            (
                (estimate(db, stat), db.samples),
                (estimate(dn, stat), dn.samples),
                needed,
            )
        }
        Metric::ErrorRate => {
            let (jb, jn) = (base.finished.judged(), new.finished.judged());
            let failed = |s: &Scope| s.finished.judged() - s.finished.success;
            (
                (wilson(failed(base), jb), jb),
                (wilson(failed(new), jn), jn),
                min,
            )
        }
        // A rule names a latency or the error rate (Rule's parser): the run-wide rates and the
        // client's lag are gates' business, never compared here.
        _ => ((None, 0), (None, 0), min),
    };
    let enough = b.1 >= needed && n.1 >= needed;
    let ((eb, nb), (en, nn)) = (b, n);
    let value = |e: Option<(f64, f64, f64)>| e.map(|x| x.0);
    let mut out = Row {
        scope: scope.to_string(),
        metric: rule.metric.name(),
        base: value(eb),
        new: value(en),
        base_samples: nb,
        new_samples: nn,
        change: None,
        relative: None,
        interval: None,
        limit: match rule.limit {
            Limit::Relative(f) => format!("+{}%", f * 100.0),
            Limit::Absolute(a) if rule.metric == Metric::ErrorRate => format!("+{} pt", a * 100.0),
            Limit::Absolute(a) => format!("+{}ms", a * 1e3),
        },
        verdict: Change::Insufficient,
        needed,
    };
    let (Some((vb, lb, hb)), Some((vn, ln, hn))) = (eb, en) else {
        return out;
    };
    out.change = Some(vn - vb);
    out.relative = (vb > 0.0).then(|| vn / vb - 1.0);
    if !enough {
        return out;
    }
    let (point, lo, hi, limit) = match rule.limit {
        Limit::Relative(f) if vb > 0.0 && lb > 0.0 => {
            (vn / vb - 1.0, ln / hb - 1.0, hn / lb - 1.0, f)
        }
        Limit::Relative(_) => return out,
        Limit::Absolute(a) => (vn - vb, ln - hb, hn - lb, a),
    };
    out.interval = Some((lo, hi));
    out.verdict = if point > limit && lo > 0.0 {
        Change::Regression
    } else if point < -limit && hi < 0.0 {
        Change::Improved
    } else {
        Change::WithinNoise
    };
    out
}

/// The fewest samples each side needs in [`first_last`] (as `compare`'s default).
pub const FIRST_LAST_MIN_SAMPLES: u64 = 30;

/// The last `steady` phase of a run against its first, on the default rules: the soak's own
/// question, whether hour 8 is as good as hour 0. `None` with fewer than two steady phases.
pub fn first_last(s: &crate::report::Summary) -> Option<crate::report::phases::FirstLast> {
    let steady: Vec<&crate::report::PhaseScope> =
        s.phases.iter().filter(|p| p.kind == "steady").collect();
    let (first, last) = match steady.as_slice() {
        [first, .., last] => (*first, *last),
        _ => return None,
    };
    let scope = format!("phase {} → {}", first.index, last.index);
    let rows: Vec<Row> = default_rules()
        .iter()
        .map(|r| row(&scope, &first.scope, &last.scope, r, FIRST_LAST_MIN_SAMPLES))
        .filter(|r| r.base_samples > 0 || r.new_samples > 0)
        .collect();
    let verdict = rows
        .iter()
        .map(|r| r.verdict)
        .filter(|v| *v != Change::Insufficient)
        .max()
        .unwrap_or(Change::Insufficient);
    Some(crate::report::phases::FirstLast {
        first: first.index,
        last: last.index,
        verdict,
        rows,
    })
}

/// Compare `new` with `base` on `rules`, each metric needing `min_samples` on both sides;
/// `strict`: a row without enough samples makes the verdict insufficient data.
pub fn compare(
    (base_name, base): (&str, &RunReport),
    (new_name, new): (&str, &RunReport),
    rules: &[Rule],
    min_samples: u64,
    strict: bool,
) -> Comparison {
    let mut rows = Vec::new();
    if let (Some(sb), Some(sn)) = (&base.summary, &new.summary) {
        let mut scopes = vec![("all".to_string(), &sb.all, &sn.all)];
        for (name, b) in &sb.scenarios {
            if let Some(n) = sn.scope(Some(name)) {
                scopes.push((name.clone(), b, n));
            }
        }
        if scopes.len() == 2 {
            scopes.pop(); // One scenario: its numbers are all's.
        }
        for (name, b, n) in scopes {
            // A quantity neither run measured (no reasoning, no tool calls) is not compared.
            for r in rules {
                let row = row(&name, b, n, r, min_samples);
                if row.base_samples > 0 || row.new_samples > 0 {
                    rows.push(row);
                }
            }
        }
    }
    let judged = rows.iter().filter(|r| r.verdict != Change::Insufficient);
    let verdict = if strict {
        rows.iter().map(|r| r.verdict).max()
    } else {
        judged.map(|r| r.verdict).max()
    }
    .unwrap_or(Change::Insufficient);
    let not_judged = rows
        .iter()
        .filter(|r| r.verdict == Change::Insufficient)
        .map(|r| {
            format!(
                "{} {} ({} < {} samples)",
                r.scope,
                r.metric,
                r.base_samples.min(r.new_samples),
                r.needed
            )
        })
        .collect();
    Comparison {
        base: base_name.to_string(),
        new: new_name.to_string(),
        rows,
        verdict,
        strict,
        not_judged,
    }
}

fn fmt_value(metric: &str, v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if metric == "error_rate" => format!("{:.2}%", v * 100.0),
        Some(v) if v.abs() < 1.0 => format!("{:.1}ms", v * 1e3),
        Some(v) => format!("{v:.3}s"),
    }
}

fn fmt_rel(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{:+.1}%", r * 100.0))
}

fn fmt_interval(r: &Row) -> String {
    match r.interval {
        None => "–".into(),
        Some((lo, hi)) if r.limit.ends_with('%') => {
            format!("[{:+.1}%, {:+.1}%]", lo * 100.0, hi * 100.0)
        }
        Some((lo, hi)) if r.metric == "error_rate" => {
            format!("[{:+.2}, {:+.2}] pt", lo * 100.0, hi * 100.0)
        }
        Some((lo, hi)) => format!("[{:+.1}, {:+.1}] ms", lo * 1e3, hi * 1e3),
    }
}

impl Comparison {
    fn cells(&self) -> Vec<[String; 9]> {
        self.rows
            .iter()
            .map(|r| {
                [
                    r.scope.clone(),
                    r.metric.clone(),
                    fmt_value(&r.metric, r.base),
                    fmt_value(&r.metric, r.new),
                    fmt_rel(r.relative),
                    fmt_interval(r),
                    r.limit.clone(),
                    format!("{} / {}", r.base_samples, r.new_samples),
                    r.verdict.as_str().to_string(),
                ]
            })
            .collect()
    }

    const HEAD: [&'static str; 9] = [
        "scope",
        "metric",
        "base",
        "new",
        "change",
        "95% interval",
        "limit",
        "samples",
        "verdict",
    ];

    /// A terminal table.
    pub fn render(&self) -> String {
        let cells = self.cells();
        let widths: Vec<usize> = (0..9)
            .map(|i| {
                cells
                    .iter()
                    .map(|c| c[i].chars().count())
                    .chain([Self::HEAD[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("base {}\nnew  {}\n\n", self.base, self.new);
        let line = |cols: Vec<&str>| {
            cols.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let _ = writeln!(out, "{}", line(Self::HEAD.to_vec()));
        for c in &cells {
            let _ = writeln!(out, "{}", line(c.iter().map(String::as_str).collect()));
        }
        let _ = writeln!(out, "\nverdict: {}", self.verdict_line());
        out
    }

    /// The verdict, and what was not judged for want of samples.
    pub fn verdict_line(&self) -> String {
        match (self.not_judged.as_slice(), self.verdict) {
            ([], v) => v.as_str().to_string(),
            (_, Change::Insufficient) if !self.strict => {
                "insufficient data: no row has enough samples on both sides".to_string()
            }
            (rows, v) => format!(
                "{} ({} not judged: {}{})",
                v.as_str(),
                rows.len(),
                rows.join(", "),
                if self.strict { "; --strict" } else { "" }
            ),
        }
    }

    /// A markdown table (for a pull request comment).
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### llm-soak compare: **{}**\n\nbase `{}` → new `{}`\n\n| {} |\n|{}|\n",
            self.verdict_line(),
            self.base,
            self.new,
            Self::HEAD.join(" | "),
            Self::HEAD
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for c in self.cells() {
            let mut c = c;
            if c[8] == Change::Regression.as_str() {
                c[8] = format!("**{}**", c[8]);
            }
            let _ = writeln!(out, "| {} |", c.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests;
