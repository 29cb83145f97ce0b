//! The time series as charts take it: columns over the windows ([`SeriesView`]: per scope the
//! request, failure and token rates, the windows' quantiles and failures by type; run-wide the
//! offered rate, in flight, drops and the resource gauges), and the first part of the run
//! against the last ([`FirstLast`], exact: each side's windows' histograms merged).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;

use crate::report::series::{Event, Point, Series, WindowDist};

/// One scope's columns.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeSeries {
    pub name: String,
    /// Requests started per second.
    pub request_rate: Vec<f64>,
    /// Successes, failures (errors and timeouts) and output tokens per second.
    pub success_rate: Vec<f64>,
    pub failure_rate: Vec<f64>,
    pub output_tokens_per_second: Vec<f64>,
    /// `QUANTITY_STAT` (e.g. `ttft_p99`) → seconds per window (`null` without samples).
    pub quantiles: BTreeMap<String, Vec<Option<f64>>>,
    /// Failures per second by error type.
    pub errors: BTreeMap<String, Vec<f64>>,
}

/// The run's series as columns, one entry per window.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesView {
    pub epoch_unix: f64,
    pub step_seconds: f64,
    /// Each window's end, seconds after the epoch.
    pub t: Vec<f64>,
    pub span: Vec<f64>,
    pub phase: Vec<Option<u32>>,
    pub offered_rate: Vec<Option<f64>>,
    pub in_flight: Vec<Option<f64>>,
    /// Arrivals dropped per second.
    pub drop_rate: Vec<f64>,
    pub client_cpu_cores: Vec<Option<f64>>,
    pub client_rss_bytes: Vec<Option<f64>>,
    pub target_rss_bytes: Vec<Option<f64>>,
    pub gpu_memory_bytes: Vec<Option<f64>>,
    pub gpu_utilization: Vec<Option<f64>>,
    pub scopes: Vec<ScopeSeries>,
    /// What each scraped engine said of each window: `STAT@URL` → values, STAT one of
    /// `ttft_p50`, `e2e_p50` (bucket-interpolated), `queue_mean`, `kv_usage` (the window's
    /// last reading), `waiting_max` and `preemptions` (per second).
    pub server: BTreeMap<String, Vec<Option<f64>>>,
    pub events: Vec<Event>,
    pub dropped_points: u64,
}

/// The server columns of `pts` (see [`SeriesView::server`]).
fn server_columns(pts: &[Point]) -> BTreeMap<String, Vec<Option<f64>>> {
    use crate::engine::window::Window;
    use crate::engine::{Counter, Gauge, Hist};
    let urls: std::collections::BTreeSet<&String> =
        pts.iter().flat_map(|p| p.server.keys()).collect();
    type Stat = fn(&Window, f64) -> Option<f64>;
    let stats: [(&str, Stat); 6] = [
        ("ttft_p50", |w, _| {
            w.hists.get(&Hist::Ttft)?.quantile(0.5).map(|a| a.value)
        }),
        ("e2e_p50", |w, _| {
            w.hists.get(&Hist::E2e)?.quantile(0.5).map(|a| a.value)
        }),
        ("queue_mean", |w, _| {
            let d = w.hists.get(&Hist::Queue)?;
            (d.count > 0.0).then(|| d.sum / d.count)
        }),
        ("kv_usage", |w, _| {
            w.gauges.get(&Gauge::KvUsage).map(|l| l.last)
        }),
        ("waiting_max", |w, _| {
            w.gauges.get(&Gauge::Waiting).map(|l| l.max)
        }),
        ("preemptions", |w, span| {
            let n = *w.counters.get(&Counter::Preemptions)?;
            (span > 0.0).then(|| n / span)
        }),
    ];
    let mut out = BTreeMap::new();
    for url in urls {
        for (stat, f) in stats {
            let col: Vec<Option<f64>> = pts
                .iter()
                .map(|p| p.server.get(url).and_then(|w| f(w, p.span)))
                .collect();
            if col.iter().any(Option::is_some) {
                out.insert(format!("{stat}@{url}"), col);
            }
        }
    }
    out
}

fn per_second(n: u64, span: f64) -> f64 {
    if span > 0.0 { n as f64 / span } else { 0.0 }
}

impl SeriesView {
    pub fn of(s: &Series) -> SeriesView {
        let pts = &s.points;
        let col = |f: &dyn Fn(&Point) -> Option<f64>| pts.iter().map(f).collect::<Vec<_>>();
        let scopes = s
            .scopes
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let sp = |p: &Point| p.scopes.get(i).cloned().unwrap_or_default();
                let rate = |f: &dyn Fn(&crate::report::series::ScopePoint) -> u64| {
                    pts.iter()
                        .map(|p| per_second(f(&sp(p)), p.span))
                        .collect::<Vec<_>>()
                };
                let mut quantiles = BTreeMap::new();
                for (qi, q) in [
                    "ttft",
                    "tpot",
                    "itl",
                    "e2e",
                    "e2e_per_token",
                    "schedule_lag",
                ]
                .iter()
                .enumerate()
                {
                    let pick = |p: &Point, stat: fn(&WindowDist) -> Option<f64>| {
                        p.scopes.get(i).and_then(|s| stat(s.latency.each()[qi].1))
                    };
                    for (stat, f) in [
                        ("p50", WindowDist::p50 as fn(&WindowDist) -> Option<f64>),
                        ("p90", WindowDist::p90),
                        ("p99", WindowDist::p99),
                        ("max", WindowDist::max),
                    ] {
                        quantiles.insert(
                            format!("{q}_{stat}"),
                            pts.iter().map(|p| pick(p, f)).collect(),
                        );
                    }
                }
                let mut errors: BTreeMap<String, Vec<f64>> = BTreeMap::new();
                for (j, p) in pts.iter().enumerate() {
                    for (e, n) in &sp(p).error_types {
                        errors
                            .entry(e.as_str().to_string())
                            .or_insert_with(|| vec![0.0; pts.len()])[j] = per_second(*n, p.span);
                    }
                }
                ScopeSeries {
                    name: name.clone(),
                    request_rate: rate(&|s| s.started),
                    success_rate: rate(&|s| s.finished.success),
                    failure_rate: rate(&|s| s.finished.error + s.finished.timeout),
                    output_tokens_per_second: rate(&|s| s.output_tokens),
                    quantiles,
                    errors,
                }
            })
            .collect();
        SeriesView {
            epoch_unix: s.epoch_unix,
            step_seconds: s.step_seconds,
            t: pts.iter().map(|p| p.t + p.span).collect(),
            span: pts.iter().map(|p| p.span).collect(),
            phase: pts.iter().map(|p| p.phase).collect(),
            offered_rate: col(&|p| p.gauges.offered_rate),
            in_flight: col(&|p| p.gauges.in_flight),
            drop_rate: pts.iter().map(|p| per_second(p.dropped, p.span)).collect(),
            client_cpu_cores: col(&|p| p.gauges.client_cpu_cores),
            client_rss_bytes: col(&|p| p.gauges.client_rss_bytes),
            target_rss_bytes: col(&|p| p.gauges.target_rss_bytes),
            gpu_memory_bytes: col(&|p| p.gauges.gpu_memory_bytes),
            gpu_utilization: col(&|p| p.gauges.gpu_utilization),
            scopes,
            server: server_columns(pts),
            events: s.events.clone(),
            dropped_points: s.dropped_points,
        }
    }
}

/// One quantity of one scope, first part against last.
#[derive(Debug, Clone, Serialize)]
pub struct FirstLastRow {
    pub scope: String,
    pub quantity: &'static str,
    pub first_samples: u64,
    pub last_samples: u64,
    pub first_p50: Option<f64>,
    pub last_p50: Option<f64>,
    pub first_p99: Option<f64>,
    pub last_p99: Option<f64>,
    /// Relative change of the p50 and p99 (last / first − 1).
    pub change_p50: Option<f64>,
    pub change_p99: Option<f64>,
}

/// The first part of the run against the last: an hour each once the series spans two, else a
/// quarter of it each; client and target memory at each end.
#[derive(Debug, Clone, Serialize)]
pub struct FirstLast {
    /// `[from, to)` seconds after the epoch of each side.
    pub first: (f64, f64),
    pub last: (f64, f64),
    pub rows: Vec<FirstLastRow>,
    pub client_rss_bytes: (Option<f64>, Option<f64>),
    pub target_rss_bytes: (Option<f64>, Option<f64>),
}

impl FirstLast {
    pub fn of(s: &Series) -> Option<FirstLast> {
        FirstLast::of_points(&s.points.iter().collect::<Vec<_>>(), &s.scopes)
    }

    /// The comparison of a series' windows (in order) whose scopes are `scopes` (`None` under
    /// two windows).
    pub fn of_points(points: &[&Point], scopes: &[String]) -> Option<FirstLast> {
        let (first, last) = FirstLast::parts(points)?;
        Some(FirstLast::of_parts(&points[first], &points[last], scopes))
    }

    /// Which of a series' windows (in order) each side is: the windows inside its part, and at
    /// least the run's first (last) window — windows are not all one length (the drain's sliver
    /// joins the last one). `None` under two windows.
    fn parts(points: &[&Point]) -> Option<(Range<usize>, Range<usize>)> {
        let (start, end) = (points.first()?.t, points.last().map(|p| p.t + p.span)?);
        let length = if end - start >= 7200.0 {
            3600.0
        } else {
            (end - start) / 4.0
        };
        let n = points.len();
        if n < 2 {
            return None;
        }
        let inside_first = points
            .iter()
            .take_while(|p| p.t + p.span <= start + length + 1e-6)
            .count();
        let inside_last = points
            .iter()
            .rev()
            .take_while(|p| p.t >= end - length - 1e-6)
            .count();
        Some((
            0..inside_first.clamp(1, n - 1),
            n - inside_last.clamp(1, n - 1)..n,
        ))
    }

    /// The comparison of the windows of each side ([`FirstLast::parts`]: neither is empty).
    fn of_parts(first: &[&Point], last: &[&Point], scopes: &[String]) -> FirstLast {
        let (a, b) = (Point::merge(first), Point::merge(last));
        let change = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) if x > 0.0 => Some(y / x - 1.0),
            _ => None,
        };
        let mut rows = Vec::new();
        for (i, name) in scopes.iter().enumerate() {
            let (Some(fa), Some(fb)) = (a.scopes.get(i), b.scopes.get(i)) else {
                continue;
            };
            for ((q, da), (_, db)) in fa.latency.each().into_iter().zip(fb.latency.each()) {
                if da.count() == 0 && db.count() == 0 {
                    continue;
                }
                rows.push(FirstLastRow {
                    scope: name.clone(),
                    quantity: q,
                    first_samples: da.count(),
                    last_samples: db.count(),
                    first_p50: da.p50(),
                    last_p50: db.p50(),
                    first_p99: da.p99(),
                    last_p99: db.p99(),
                    change_p50: change(da.p50(), db.p50()),
                    change_p99: change(da.p99(), db.p99()),
                });
            }
        }
        let edge =
            |pts: &[&Point], f: fn(&Point) -> Option<f64>| pts.iter().rev().find_map(|p| f(p));
        FirstLast {
            first: (a.t, a.t + a.span),
            last: (b.t, b.t + b.span),
            rows,
            client_rss_bytes: (
                edge(first, |p| p.gauges.client_rss_bytes),
                edge(last, |p| p.gauges.client_rss_bytes),
            ),
            target_rss_bytes: (
                edge(first, |p| p.gauges.target_rss_bytes),
                edge(last, |p| p.gauges.target_rss_bytes),
            ),
        }
    }
}
