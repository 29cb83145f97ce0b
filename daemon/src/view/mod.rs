//! What a person looks at: [`View`], the run as the live page (`GET /`), the self-contained HTML
//! report and `compare`'s overlay draw it — built from a typed `report::RunReport` (summary,
//! gates, trust, phases, spikes, the time series and its events, the redacted config) into
//! columns a chart takes as they are, plus the distributions (histogram and CDF) of each scope's
//! exact histograms and the first-vs-last comparison of the series. [`html`] assembles the
//! pages from assets embedded in the binary (uPlot, vendored with its licence): nothing is
//! fetched from a network, so a report opens offline years later.

pub mod html;
mod series;
pub mod sweep;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::Quantity;
use crate::report::{
    Dist, GateResult, Hdr, Requests, RunReport, Scope, SpikeResult, Trust, Verdict,
};
pub use html::{live_page, report_page};
pub use series::{FirstLast, SeriesView};

/// The latency quantities the tables and distributions show, with their labels.
pub const SHOWN: [(Quantity, &str); 6] = [
    (Quantity::Ttft, "TTFT"),
    (Quantity::Tpot, "TPOT"),
    (Quantity::Itl, "ITL"),
    (Quantity::E2e, "e2e"),
    (Quantity::E2ePerToken, "e2e/token (LLMPerf TPOT)"),
    (Quantity::Ttfa, "TTFA"),
];

/// The run's identity and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub shard: String,
    pub version: String,
    pub complete: bool,
    pub interrupted: bool,
    pub elapsed_seconds: f64,
    pub measured_seconds: Option<f64>,
    /// Unix time the series starts at (`None`: a report without a series).
    pub epoch_unix: Option<f64>,
    pub verdict: Option<Verdict>,
}

/// One latency quantity's row in a scope's table (seconds).
#[derive(Debug, Clone, Serialize)]
pub struct StatRow {
    pub quantity: &'static str,
    pub label: &'static str,
    pub samples: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl StatRow {
    fn of(q: Quantity, label: &'static str, d: &Dist) -> StatRow {
        StatRow {
            quantity: q.as_str(),
            label,
            samples: d.samples,
            mean: d.mean,
            p50: d.p50,
            p90: d.p90,
            p95: d.p95,
            p99: d.p99,
            max: d.max,
        }
    }
}

/// A scope's (all, a scenario, a phase) counts and statistics.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeTable {
    pub name: String,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Closed on purpose (the scenario's `abort`).
    pub aborted: u64,
    pub error_rate: Option<f64>,
    pub achieved_rate: Option<f64>,
    pub output_tokens_per_second: Option<f64>,
    pub error_types: BTreeMap<String, u64>,
    pub latency: Vec<StatRow>,
    /// Against the latency SLO, when one applies.
    pub slo: Option<crate::report::Attainment>,
}

impl ScopeTable {
    fn of(name: &str, s: &Scope) -> ScopeTable {
        ScopeTable {
            name: name.to_string(),
            started: s.started,
            succeeded: s.finished.success,
            failed: s.finished.error + s.finished.timeout,
            cancelled: s.finished.cancelled,
            aborted: s.finished.aborted,
            error_rate: s.error_rate,
            achieved_rate: s.achieved_rate,
            output_tokens_per_second: s.tokens.output_per_second,
            error_types: s
                .error_types
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            latency: SHOWN
                .iter()
                .map(|(q, l)| StatRow::of(*q, l, s.latency.get(*q)))
                .filter(|r| r.samples > 0)
                .collect(),
            slo: s.slo,
        }
    }
}

/// A distribution drawn as a histogram and a CDF (seconds).
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub scope: String,
    pub quantity: &'static str,
    pub label: &'static str,
    pub samples: u64,
    /// Bin edges (log-spaced, `bins + 1` of them) and each bin's share of the samples.
    pub edges: Vec<f64>,
    pub shares: Vec<f64>,
    /// CDF: the value at each cumulative fraction.
    pub cdf_fraction: Vec<f64>,
    pub cdf_value: Vec<f64>,
}

/// Bins of a histogram and points of a CDF.
const BINS: usize = 40;
const CDF_POINTS: usize = 120;

impl Distribution {
    fn of(scope: &str, q: Quantity, label: &'static str, h: &Hdr) -> Option<Distribution> {
        let n = h.count();
        let (lo, hi) = (h.quantile(0.0)?, h.quantile(1.0)?);
        let (lo, hi) = (lo.max(1e-6), hi.max(lo * 1.001).max(1e-6));
        let ratio = (hi / lo).powf(1.0 / BINS as f64);
        let edges: Vec<f64> = (0..=BINS).map(|i| lo * ratio.powi(i as i32)).collect();
        let mut counts = vec![0u64; BINS];
        for (v, c) in h.recorded() {
            let i = ((v.max(lo) / lo).ln() / ratio.ln()).floor();
            counts[(i.max(0.0) as usize).min(BINS - 1)] += c;
        }
        let shares = counts.iter().map(|c| *c as f64 / n as f64).collect();
        // Denser toward the tail: 1 - 10^-k spacing up to p99.99.
        let cdf_fraction: Vec<f64> = (0..CDF_POINTS)
            .map(|i| 1.0 - 10f64.powf(-4.0 * i as f64 / (CDF_POINTS - 1) as f64))
            .collect();
        let cdf_value = cdf_fraction
            .iter()
            .map(|f| h.quantile(*f).unwrap_or(0.0))
            .collect();
        Some(Distribution {
            scope: scope.to_string(),
            quantity: q.as_str(),
            label,
            samples: n,
            edges,
            shares,
            cdf_fraction,
            cdf_value,
        })
    }
}

/// One scenario's quantity against its drift baseline.
#[derive(Debug, Clone, Serialize)]
pub struct DriftRow {
    pub scenario: String,
    pub quantity: &'static str,
    pub baseline_p50: Option<f64>,
    pub baseline_mean: Option<f64>,
    /// The p50 of the last part of the run (as in [`FirstLast`]).
    pub last_p50: Option<f64>,
    /// last / baseline − 1.
    pub change: Option<f64>,
}

fn drift_rows(r: &RunReport, fl: Option<&FirstLast>) -> Vec<DriftRow> {
    let mut out = Vec::new();
    for b in &r.drift_baselines {
        for (q, p50, mean) in [
            ("ttft", b.ttft_p50, b.ttft_mean),
            ("tpot", b.tpot_p50, b.tpot_mean),
        ] {
            let last = fl.and_then(|f| {
                f.rows
                    .iter()
                    .find(|x| x.scope == b.scenario && x.quantity == q)
                    .and_then(|x| x.last_p50)
            });
            out.push(DriftRow {
                scenario: b.scenario.clone(),
                quantity: q,
                baseline_p50: p50,
                baseline_mean: mean,
                last_p50: last,
                change: match (p50, last) {
                    (Some(b), Some(l)) if b > 0.0 => Some(l / b - 1.0),
                    _ => None,
                },
            });
        }
    }
    out
}

/// The live page's state.
#[derive(Debug, Clone, Serialize)]
pub struct LiveState {
    /// `starting`, `running`, `finished` or `draining`.
    pub state: String,
    /// The series holds the windows after this many seconds.
    pub since: f64,
}

/// A run as the pages draw it.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub title: String,
    pub run: RunInfo,
    pub requests: Requests,
    pub gates: Vec<GateResult>,
    /// Each load phase's PASS / FAIL / SKIP on the `[gates] per_phase` rules.
    pub phase_verdicts: Vec<crate::report::phases::PhaseVerdict>,
    /// The last steady phase against the first.
    pub steady_first_last: Option<crate::report::phases::FirstLast>,
    pub trust: Option<Trust>,
    pub scopes: Vec<ScopeTable>,
    pub phases: Vec<ScopeTable>,
    pub spikes: Vec<SpikeResult>,
    /// Target restarts and hooks, and the recovery from each.
    pub disruptions: Vec<crate::report::Disruption>,
    pub distributions: Vec<Distribution>,
    pub series: Option<SeriesView>,
    pub first_last: Option<FirstLast>,
    /// Each scenario's TTFT and TPOT against its drift baseline.
    pub drift: Vec<DriftRow>,
    pub config: Option<serde_json::Value>,
    /// What each scraped engine said, beside the client's numbers (report::server).
    pub server: Vec<crate::report::server::ServerBlock>,
    /// Set on the live page.
    pub live: Option<LiveState>,
    /// A second run drawn over this one (`compare`).
    pub base: Option<Box<View>>,
    /// `compare`'s verdicts, when this is its page.
    pub comparison: Option<crate::compare::Comparison>,
}

impl View {
    /// The view of `r`.
    pub fn of(r: &RunReport) -> View {
        View::with_first_last(r, r.series.as_ref().and_then(FirstLast::of))
    }

    /// The view of `r` whose series may be only its newer windows (the live page's reads):
    /// the first-vs-last comparison, `first_last`, is the whole run's, made by the caller.
    pub fn with_first_last(r: &RunReport, first_last: Option<FirstLast>) -> View {
        let summary = r.summary.as_ref();
        let mut scopes = Vec::new();
        let mut distributions = Vec::new();
        if let Some(s) = summary {
            let named = std::iter::once(("all", &s.all))
                .chain(s.scenarios.iter().map(|(n, sc)| (n.as_str(), sc)));
            for (name, scope) in named {
                if name != "all" && s.scenarios.len() == 1 && name != "canary" {
                    // One scenario: its table is "all"'s.
                    continue;
                }
                scopes.push(ScopeTable::of(name, scope));
                for (q, label) in SHOWN {
                    if let Some(d) = scope
                        .latency
                        .get(q)
                        .hdr
                        .as_ref()
                        .and_then(|h| Distribution::of(name, q, label, h))
                    {
                        distributions.push(d);
                    }
                }
            }
        }
        let series = r.series.as_ref();
        View {
            title: format!("llm-soak run {} ({})", r.run_id, r.shard),
            run: RunInfo {
                run_id: r.run_id.clone(),
                shard: r.shard.to_string(),
                version: r.llm_soak_version.clone(),
                complete: r.complete,
                interrupted: r.interrupted(),
                elapsed_seconds: r.elapsed_seconds,
                measured_seconds: summary.map(|s| s.measured_seconds),
                epoch_unix: series.map(|s| s.epoch_unix),
                verdict: r.verdict,
            },
            requests: r.requests,
            gates: r.gates.clone(),
            phase_verdicts: r.phase_verdicts.clone(),
            steady_first_last: r.first_last.clone(),
            trust: summary.and_then(|s| s.trust.clone()),
            scopes,
            phases: summary.map_or_else(Vec::new, |s| {
                s.phases
                    .iter()
                    .map(|p| ScopeTable::of(&format!("{} {}", p.index, p.kind), &p.scope))
                    .collect()
            }),
            spikes: summary.map_or_else(Vec::new, |s| s.spikes.clone()),
            disruptions: summary.map_or_else(Vec::new, |s| s.disruptions.clone()),
            distributions,
            series: series.map(SeriesView::of),
            drift: drift_rows(r, first_last.as_ref()),
            first_last,
            config: r.config.clone(),
            server: r.server.clone(),
            live: None,
            base: None,
            comparison: None,
        }
    }
}

#[cfg(test)]
mod tests;
