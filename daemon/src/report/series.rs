//! The run's own time series, as the report carries it: one [`Point`] per window (10 s, coarser
//! for older parts of a long run), each with per-scope counts and the window's quantiles *and*
//! its histogram (HDR, 2 significant digits, V2 in base64; deflated in merged points), so a
//! coarser point, a merge of shards and a redraw are computed from the same counts, never from
//! quantiles of quantiles; the gauges sampled over the window; and the run's [`Event`]s (phase
//! changes, reloads, target restarts, baselines, gate breaches). `metrics::series` builds it,
//! bounded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Hdr, Outcomes};
use crate::record::ErrorType;

/// Significant digits of a window's histogram (1 % resolution; a fifth of the memory of 3).
pub const WINDOW_DIGITS: u8 = 2;

/// One latency quantity over one window: quantiles from the window's histogram, which is kept.
/// A daemon keeps thousands of these for weeks, so it is held compact — nothing for a quantity
/// no request of the window had; else its count, the quantiles in whole microseconds (what the
/// histogram gives: exact) and the histogram's V2 bytes (deflated in merged points) — and
/// written as it always was: `{ count, p50, p90, p99, max, hdr }`, seconds and base64.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowDist(Option<Box<Counted>>);

#[derive(Debug, Clone, PartialEq)]
struct Counted {
    count: u64,
    /// p50, p90, p99 and max in microseconds ([`NONE`]: not known).
    micros: [u32; 4],
    hdr: Option<Box<[u8]>>,
}

/// A quantile not known (a window read from a report that lacked it).
const NONE: u32 = u32::MAX;

fn micros(secs: Option<f64>) -> u32 {
    // Histogram values are whole microseconds under `MAX_MICROS` (3.6e9 < u32::MAX).
    secs.filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(NONE, |s| (s * 1e6).round().min(f64::from(NONE - 1)) as u32)
}

/// The form a report carries (read; written the same way by `WindowDist`'s `Serialize`).
#[derive(Deserialize)]
struct Wire {
    count: u64,
    #[serde(default)]
    p50: Option<f64>,
    #[serde(default)]
    p90: Option<f64>,
    #[serde(default)]
    p99: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    /// The window's histogram, HdrHistogram V2 in base64 (absent when empty).
    #[serde(default, deserialize_with = "base64_bytes::deserialize")]
    hdr: Option<Box<[u8]>>,
}

impl Serialize for WindowDist {
    /// As [`Wire`], from the bytes held (nothing copied but the base64 text).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("WindowDist", 6)?;
        st.serialize_field("count", &self.count())?;
        for (name, v) in [
            ("p50", self.p50()),
            ("p90", self.p90()),
            ("p99", self.p99()),
            ("max", self.max()),
        ] {
            match v {
                Some(v) => st.serialize_field(name, &v)?,
                None => st.skip_field(name)?,
            }
        }
        match self.0.as_ref().and_then(|c| c.hdr.as_deref()) {
            Some(b) => st.serialize_field("hdr", &Base64(b))?,
            None => st.skip_field("hdr")?,
        }
        st.end()
    }
}

/// Bytes written as base64 text straight into the output (a week's series is ~100,000 of
/// these in every checkpoint: no string is made for each).
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&base64::display::Base64Display::new(
            self.0,
            &base64::engine::general_purpose::STANDARD,
        ))
    }
}

impl<'de> Deserialize<'de> for WindowDist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        Ok(WindowDist((w.count > 0 || w.hdr.is_some()).then(|| {
            Box::new(Counted {
                count: w.count,
                micros: [w.p50, w.p90, w.p99, w.max].map(micros),
                hdr: w.hdr,
            })
        })))
    }
}

/// Bytes read from the base64 string a report has always carried.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, de};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Box<[u8]>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| {
                STANDARD
                    .decode(t.trim())
                    .map(Vec::into_boxed_slice)
                    .map_err(|e| {
                        de::Error::custom(format!("a window's histogram is not base64: {e}"))
                    })
            })
            .transpose()
    }
}

impl WindowDist {
    /// The statistics and encoded form of `h` (an empty histogram keeps nothing).
    pub fn of(h: &Hdr) -> WindowDist {
        WindowDist::encoded(h, false)
    }

    fn encoded(h: &Hdr, deflate: bool) -> WindowDist {
        if h.count() == 0 {
            return WindowDist::default();
        }
        let q = h.quantiles(&[0.5, 0.9, 0.99, 1.0]);
        WindowDist(Some(Box::new(Counted {
            count: h.count(),
            micros: [q[0], q[1], q[2], q[3]].map(micros),
            hdr: h.encode_bytes(deflate).ok().map(Vec::into_boxed_slice),
        })))
    }

    /// Requests (or gaps) the window counted.
    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, |c| c.count)
    }

    fn quantile(&self, i: usize) -> Option<f64> {
        let m = self.0.as_ref()?.micros[i];
        (m != NONE).then(|| f64::from(m) / 1e6)
    }

    /// The median, seconds.
    pub fn p50(&self) -> Option<f64> {
        self.quantile(0)
    }

    pub fn p90(&self) -> Option<f64> {
        self.quantile(1)
    }

    pub fn p99(&self) -> Option<f64> {
        self.quantile(2)
    }

    pub fn max(&self) -> Option<f64> {
        self.quantile(3)
    }

    /// The heap this one holds (bytes).
    pub fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |c| {
            std::mem::size_of::<Counted>() + c.hdr.as_ref().map_or(0, |b| b.len())
        })
    }

    /// The histogram back (empty when there is none or it does not decode).
    pub fn histogram(&self) -> Hdr {
        self.0
            .as_ref()
            .and_then(|c| c.hdr.as_deref())
            .and_then(|b| Hdr::decode_bytes(b).ok())
            .unwrap_or_else(|| Hdr::with_digits(WINDOW_DIGITS))
    }

    /// The merge of windows; merged (older, coarser) points are rarer, so their histograms
    /// are deflated too.
    fn merged(parts: &[&WindowDist]) -> WindowDist {
        if parts.iter().all(|p| p.count() == 0) {
            return WindowDist::default();
        }
        let mut h = Hdr::with_digits(WINDOW_DIGITS);
        for p in parts.iter().filter(|p| p.count() > 0) {
            h.merge(&p.histogram());
        }
        WindowDist::encoded(&h, true)
    }
}

/// The latency quantities a point keeps (the ones a person charts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowLatency {
    pub ttft: WindowDist,
    pub tpot: WindowDist,
    pub itl: WindowDist,
    pub e2e: WindowDist,
    /// LLMPerf's "TPOT": e2e / output tokens, TTFT included.
    pub e2e_per_token: WindowDist,
    pub schedule_lag: WindowDist,
}

impl WindowLatency {
    /// `(name, dist)` of every quantity, in a fixed order.
    pub fn each(&self) -> [(&'static str, &WindowDist); 6] {
        [
            ("ttft", &self.ttft),
            ("tpot", &self.tpot),
            ("itl", &self.itl),
            ("e2e", &self.e2e),
            ("e2e_per_token", &self.e2e_per_token),
            ("schedule_lag", &self.schedule_lag),
        ]
    }

    fn merged(parts: &[&WindowLatency]) -> WindowLatency {
        let m = |f: fn(&WindowLatency) -> &WindowDist| {
            WindowDist::merged(&parts.iter().map(|p| f(p)).collect::<Vec<_>>())
        };
        WindowLatency {
            ttft: m(|l| &l.ttft),
            tpot: m(|l| &l.tpot),
            itl: m(|l| &l.itl),
            e2e: m(|l| &l.e2e),
            e2e_per_token: m(|l| &l.e2e_per_token),
            schedule_lag: m(|l| &l.schedule_lag),
        }
    }
}

/// One scope (all, or a scenario) over one window. Requests count in the window they started
/// (`started`) or finished (everything else) in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopePoint {
    pub started: u64,
    pub finished: Outcomes,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_types: BTreeMap<ErrorType, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency: WindowLatency,
}

impl ScopePoint {
    fn merged(parts: &[&ScopePoint]) -> ScopePoint {
        let mut out = ScopePoint {
            latency: WindowLatency::merged(&parts.iter().map(|p| &p.latency).collect::<Vec<_>>()),
            ..ScopePoint::default()
        };
        for p in parts {
            out.started += p.started;
            for o in crate::record::Outcome::ALL {
                out.finished.add(o, p.finished.get(o));
            }
            for (e, n) in &p.error_types {
                *out.error_types.entry(*e).or_default() += n;
            }
            out.input_tokens += p.input_tokens;
            out.output_tokens += p.output_tokens;
        }
        out
    }
}

/// Gauges sampled during a window: the last reading, except where the field says otherwise.
/// `None`: nothing read (no such probe, or it failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Gauges {
    /// Requests in flight (the highest seen at the window's ticks).
    pub in_flight: Option<f64>,
    /// The offered rate of the open-loop schedule (requests/s).
    pub offered_rate: Option<f64>,
    /// The daemon's own CPU (cores, mean over the window).
    pub client_cpu_cores: Option<f64>,
    /// The daemon's resident memory (bytes, the highest).
    pub client_rss_bytes: Option<f64>,
    /// The target server process's resident memory (bytes, the highest).
    pub target_rss_bytes: Option<f64>,
    /// GPU memory used, summed over the GPUs (bytes, the highest).
    pub gpu_memory_bytes: Option<f64>,
    /// GPU utilisation, mean over the GPUs (percent, mean over the window).
    pub gpu_utilization: Option<f64>,
}

impl Gauges {
    fn merged(parts: &[(&Gauges, f64)]) -> Gauges {
        let max =
            |f: fn(&Gauges) -> Option<f64>| parts.iter().filter_map(|(g, _)| f(g)).reduce(f64::max);
        let mean = |f: fn(&Gauges) -> Option<f64>| {
            let (sum, w) = parts
                .iter()
                .filter_map(|(g, span)| f(g).map(|v| (v * span, *span)))
                .fold((0.0, 0.0), |(s, w), (v, x)| (s + v, w + x));
            (w > 0.0).then(|| sum / w)
        };
        Gauges {
            in_flight: max(|g| g.in_flight),
            offered_rate: mean(|g| g.offered_rate),
            client_cpu_cores: mean(|g| g.client_cpu_cores),
            client_rss_bytes: max(|g| g.client_rss_bytes),
            target_rss_bytes: max(|g| g.target_rss_bytes),
            gpu_memory_bytes: max(|g| g.gpu_memory_bytes),
            gpu_utilization: mean(|g| g.gpu_utilization),
        }
    }
}

/// One window of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the window, seconds after the series' epoch.
    pub t: f64,
    /// Length of the window (seconds).
    pub span: f64,
    /// The load phase at the window's end (`None`: no open-loop phase, or the schedule ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<u32>,
    /// Arrivals dropped in the window.
    pub dropped: u64,
    pub gauges: Gauges,
    /// Per scope, in the order of [`Series::scopes`].
    pub scopes: Vec<ScopePoint>,
    /// What each scraped engine said of the window (by its metrics URL; from schema 4).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server: BTreeMap<String, crate::engine::window::Window>,
}

impl Point {
    /// The exact merge of windows (the same scopes): counts added, histograms merged, gauges
    /// combined as each field says. Spans from the earliest start to the latest end.
    pub fn merge(parts: &[&Point]) -> Point {
        let t = parts.iter().map(|p| p.t).fold(f64::INFINITY, f64::min);
        let end = parts
            .iter()
            .map(|p| p.t + p.span)
            .fold(f64::NEG_INFINITY, f64::max);
        let n = parts.iter().map(|p| p.scopes.len()).max().unwrap_or(0);
        let empty = ScopePoint::default();
        Point {
            t: if t.is_finite() { t } else { 0.0 },
            span: if t.is_finite() { end - t } else { 0.0 },
            phase: parts.iter().rev().find_map(|p| p.phase),
            dropped: parts.iter().map(|p| p.dropped).sum(),
            gauges: Gauges::merged(
                &parts
                    .iter()
                    .map(|p| (&p.gauges, p.span))
                    .collect::<Vec<_>>(),
            ),
            scopes: (0..n)
                .map(|i| {
                    ScopePoint::merged(
                        &parts
                            .iter()
                            .map(|p| p.scopes.get(i).unwrap_or(&empty))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect(),
            server: {
                let mut out: BTreeMap<String, crate::engine::window::Window> = BTreeMap::new();
                for p in parts {
                    for (target, w) in &p.server {
                        out.entry(target.clone()).or_default().merge(w);
                    }
                }
                out
            },
        }
    }
}

/// What happened at an instant of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The run started sending.
    Start,
    /// The warm-up ended: the summary counts from here.
    WarmupEnd,
    /// The load moved into another phase (or the schedule ended).
    Phase,
    /// The config was reloaded (or a reload failed: see the detail).
    Reload,
    /// The target server process was replaced (new pid or start time).
    TargetRestart,
    /// A drift baseline was set (measured, or reset).
    Baseline,
    /// A gate turned to breach on the summary so far.
    GateBreach,
    /// Arrivals stopped (the schedule or `--duration` ended, or a signal came).
    Stop,
    /// A phase's hook (an HTTP request at its start or end) was sent: its outcome.
    Hook,
    /// The target got over a disruption (a restart, a hook): the first success and the time
    /// until every window was back within tolerance.
    Recovered,
    /// The run went on after its daemon restarted (the gap since its last checkpoint).
    Resumed,
}

/// An instant of the run worth marking on a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds after the series' epoch.
    pub t: f64,
    pub kind: EventKind,
    pub detail: String,
}

/// The run's time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Unix time of t = 0: the schedule's epoch (shared by the shards of a run).
    pub epoch_unix: f64,
    /// The finest window (seconds).
    pub step_seconds: f64,
    /// Scope names of [`ScopePoint`]s: `all`, then each scenario (and `canary`).
    pub scopes: Vec<String>,
    /// Windows in time order; older ones are coarser (see `metrics::series`).
    pub points: Vec<Point>,
    pub events: Vec<Event>,
    /// Oldest windows dropped beyond the memory bound.
    #[serde(default)]
    pub dropped_points: u64,
    /// Oldest events dropped beyond the memory bound.
    #[serde(default)]
    pub dropped_events: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, ttft_ms: &[u64], rss: f64) -> Point {
        Point {
            t,
            span: 10.0,
            phase: Some(0),
            dropped: 1,
            gauges: Gauges {
                client_rss_bytes: Some(rss),
                client_cpu_cores: Some(rss / 1e6),
                ..Gauges::default()
            },
            scopes: vec![crate::report::testing::ttft_window(ttft_ms)],
            server: Default::default(),
        }
    }

    #[test]
    fn merging_windows_merges_their_histograms_not_their_quantiles() {
        let a = point(0.0, &[100, 100, 100, 100], 1e6);
        let b = point(10.0, &[900], 3e6);
        let m = Point::merge(&[&a, &b]);
        assert_eq!((m.t, m.span, m.dropped), (0.0, 20.0, 2));
        let s = &m.scopes[0];
        assert_eq!((s.started, s.finished.success), (5, 5));
        // The p50 of the five requests is 100 ms (the mean of the windows' p50s would be 500).
        let p50 = s.latency.ttft.p50().unwrap();
        assert!((p50 - 0.1).abs() < 0.001, "{p50}");
        assert!((s.latency.ttft.max().unwrap() - 0.9).abs() < 0.01);
        assert_eq!(m.gauges.client_rss_bytes, Some(3e6), "memory: the highest");
        assert_eq!(m.gauges.client_cpu_cores, Some(2.0), "CPU: the mean");
        let json = serde_json::to_string(&m).unwrap();
        let back: Point = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let h = back.scopes[0].latency.ttft.histogram();
        assert_eq!(
            h.quantile(0.5),
            Some(p50),
            "the kept histogram gives the same p50"
        );
    }

    #[test]
    fn a_window_is_held_compact_and_written_as_it_always_was() {
        let a = point(0.0, &[100, 200, 300], 1e6);
        let d = &a.scopes[0].latency.ttft;
        let mut h = Hdr::with_digits(WINDOW_DIGITS);
        for ms in [100, 200, 300] {
            h.record(std::time::Duration::from_millis(ms));
        }
        let q = h.quantiles(&[0.5, 0.9, 0.99, 1.0]);
        let json = serde_json::to_value(d).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "count": 3, "p50": q[0], "p90": q[1], "p99": q[2], "max": q[3],
                "hdr": h.encode_plain().unwrap(),
            }),
            "the same document as before"
        );
        assert_eq!((d.p50(), d.max()), (q[0], q[3]), "exact");
        let back: WindowDist = serde_json::from_value(json).unwrap();
        assert_eq!(&back, d);
        // An empty quantity holds nothing and is written as a count of 0.
        let empty = &a.scopes[0].latency.itl;
        assert_eq!((empty.heap_bytes(), empty.p50()), (0, None));
        assert_eq!(
            serde_json::to_value(empty).unwrap(),
            serde_json::json!({"count": 0})
        );
        assert!(std::mem::size_of::<WindowDist>() <= 8);
        // Not base64: refused with what it is, not read as an empty window.
        let err = serde_json::from_str::<WindowDist>(r#"{"count":3,"hdr":"not base64!"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a window's histogram is not base64"), "{err}");
    }
}
