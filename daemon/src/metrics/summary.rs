//! Exact run summaries for reports and CI gates: per scenario and overall, HDR histograms (µs,
//! 1 µs – 1 h, 3 significant digits) of the successful requests' TTFT, time to first chunk, TPOT,
//! inter-chunk gaps and e2e, plus outcome and token counts, arrivals started and dropped. Requests
//! sent before the end of the warm-up are left out. Bounded memory: fixed-size histograms and
//! counters per scenario, no samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::record::{Outcome, RequestRecord};

const MAX_MICROS: u64 = 3_600_000_000;

fn new_hist() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid HDR bounds")
}

/// One latency quantity.
#[derive(Debug, Clone)]
pub struct Quantity {
    pub name: &'static str,
    hist: Histogram<u64>,
}

impl Quantity {
    fn new(name: &'static str) -> Self {
        Quantity {
            name,
            hist: new_hist(),
        }
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        self.hist.saturating_record(us);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Quantile `q` (0..=1) in seconds (`None` without samples).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        (self.count() > 0).then(|| self.hist.value_at_quantile(q) as f64 / 1e6)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.hist.mean() / 1e6)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "samples": self.count(),
            "min": self.quantile(0.0),
            "mean": self.mean(),
            "p50": self.quantile(0.5),
            "p90": self.quantile(0.9),
            "p95": self.quantile(0.95),
            "p99": self.quantile(0.99),
            "p99.9": self.quantile(0.999),
            "max": self.quantile(1.0),
        })
    }
}

/// Exact latency distributions over the successful requests of one scope.
#[derive(Debug, Clone)]
pub struct Summary {
    pub ttft: Quantity,
    pub ttfc: Quantity,
    pub tpot: Quantity,
    pub itl: Quantity,
    pub e2e: Quantity,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            ttft: Quantity::new("ttft"),
            ttfc: Quantity::new("ttfc"),
            tpot: Quantity::new("tpot"),
            itl: Quantity::new("itl"),
            e2e: Quantity::new("e2e"),
        }
    }
}

impl Summary {
    pub fn observe(&mut self, rec: &RequestRecord) {
        if let Some(d) = rec.ttft() {
            self.ttft.record(d);
        }
        if let Some(d) = rec.time_to_first_chunk() {
            self.ttfc.record(d);
        }
        if let Some(d) = rec.tpot() {
            self.tpot.record(d);
        }
        for gap in rec.chunk_gaps() {
            self.itl.record(gap);
        }
        self.e2e.record(rec.e2e());
    }

    pub fn quantities(&self) -> [&Quantity; 5] {
        [&self.ttft, &self.ttfc, &self.tpot, &self.itl, &self.e2e]
    }

    /// The quantity named `ttft`, `ttfc`, `tpot`, `itl` or `e2e`.
    pub fn get(&self, name: &str) -> Option<&Quantity> {
        self.quantities().into_iter().find(|q| q.name == name)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.quantities()
                .iter()
                .map(|q| (q.name.to_string(), q.to_json()))
                .collect(),
        )
    }
}

/// Counts and latencies of one scenario (or of all of them).
#[derive(Debug, Clone, Default)]
pub struct ScopeSummary {
    pub latency: Summary,
    /// Finished requests, indexed like [`Outcome::ALL`].
    pub finished: [u64; 4],
    pub error_types: BTreeMap<&'static str, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub started: u64,
}

impl ScopeSummary {
    fn observe(&mut self, rec: &RequestRecord) {
        self.finished[rec.outcome as usize] += 1;
        if let Some(e) = rec.error_type {
            *self.error_types.entry(e.as_str()).or_default() += 1;
        }
        if rec.outcome == Outcome::Success {
            self.latency.observe(rec);
            self.input_tokens += rec.input_tokens;
            self.output_tokens += rec.output_tokens;
        }
    }

    /// Finished requests that count for SLOs (everything but `cancelled`).
    pub fn judged(&self) -> u64 {
        self.finished.iter().sum::<u64>() - self.finished[Outcome::Cancelled as usize]
    }

    /// Failed share of the judged requests.
    pub fn error_rate(&self) -> Option<f64> {
        let n = self.judged();
        (n > 0).then(|| (n - self.finished[Outcome::Success as usize]) as f64 / n as f64)
    }

    fn to_json(&self, seconds: f64) -> serde_json::Value {
        let by_outcome: serde_json::Map<String, serde_json::Value> = Outcome::ALL
            .iter()
            .map(|o| (o.as_str().to_string(), self.finished[*o as usize].into()))
            .collect();
        serde_json::json!({
            "started": self.started,
            "finished": by_outcome,
            "error_types": self.error_types,
            "error_rate": self.error_rate(),
            "achieved_rate": (seconds > 0.0).then(|| self.started as f64 / seconds),
            "tokens": { "input": self.input_tokens, "output": self.output_tokens,
                        "output_per_second": (seconds > 0.0).then(|| self.output_tokens as f64 / seconds) },
            "latency": self.latency.to_json(),
        })
    }
}

/// What a bounded run reports and gates judge.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub names: Vec<String>,
    pub overall: ScopeSummary,
    pub scenarios: Vec<ScopeSummary>,
    pub dropped: u64,
    /// Requests sent before this instant (the warm-up) are left out.
    pub measure_from: Instant,
    /// The canary's scope, kept out of "all" (the soak's own numbers).
    canary: Option<usize>,
    /// Per load phase (open loop): what the requests that arrived in it saw. `started` counts
    /// the requests of the phase that have finished.
    pub phases: Vec<ScopeSummary>,
    pub phase_names: Vec<String>,
    /// Spike recovery, when the shape has spike phases.
    spikes: Option<super::recovery::Tracker>,
}

impl RunSummary {
    pub fn new(
        names: Vec<String>,
        canary: Option<usize>,
        phase_names: Vec<String>,
        measure_from: Instant,
    ) -> Self {
        let scenarios = vec![ScopeSummary::default(); names.len()];
        RunSummary {
            names,
            overall: ScopeSummary::default(),
            scenarios,
            dropped: 0,
            measure_from,
            canary,
            phases: vec![ScopeSummary::default(); phase_names.len()],
            phase_names,
            spikes: None,
        }
    }

    /// Where the spikes of the (new) load shape are.
    pub fn set_spikes(&mut self, timeline: Option<super::recovery::Timeline>) {
        match (&mut self.spikes, timeline) {
            (Some(t), Some(new)) => t.retime(new),
            (None, Some(new)) => self.spikes = Some(super::recovery::Tracker::new(new)),
            (_, None) => {}
        }
    }

    /// Every spike occurrence's recovery so far.
    pub fn spike_results(&self) -> Vec<super::recovery::SpikeResult> {
        self.spikes.as_ref().map_or_else(Vec::new, |t| t.results())
    }

    fn counts(&self, at: Instant) -> bool {
        at >= self.measure_from
    }

    pub fn started(&mut self, scenario: usize, at: Instant) {
        if self.counts(at) {
            if Some(scenario) != self.canary {
                self.overall.started += 1;
            }
            if let Some(s) = self.scenarios.get_mut(scenario) {
                s.started += 1;
            }
        }
    }

    pub fn dropped(&mut self, at: Instant) {
        if self.counts(at) {
            self.dropped += 1;
        }
    }

    pub fn observe(&mut self, rec: &RequestRecord) {
        if !self.counts(rec.sent_at) {
            return;
        }
        if Some(rec.scenario) != self.canary {
            self.overall.observe(rec);
        }
        if let Some(s) = self.scenarios.get_mut(rec.scenario) {
            s.observe(rec);
        }
        if let Some(p) = rec
            .phase
            .map(|p| p as usize)
            .filter(|_| Some(rec.scenario) != self.canary)
        {
            if p >= self.phases.len() {
                self.phases.resize(p + 1, ScopeSummary::default());
            }
            self.phases[p].started += 1;
            self.phases[p].observe(rec);
            if let Some(t) = &mut self.spikes {
                t.observe(rec);
            }
        }
    }

    /// The scope of a scenario by name (`None`: all).
    pub fn scope(&self, scenario: Option<&str>) -> Option<&ScopeSummary> {
        match scenario {
            None => Some(&self.overall),
            Some(n) => self
                .names
                .iter()
                .position(|x| x == n)
                .and_then(|i| self.scenarios.get(i)),
        }
    }

    /// Dropped share of all arrivals (after the warm-up).
    pub fn drop_rate(&self) -> Option<f64> {
        let offered = self.overall.started + self.dropped;
        (offered > 0).then(|| self.dropped as f64 / offered as f64)
    }

    /// A fixed-width table per scope (seconds).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let scopes = std::iter::once(("all", &self.overall))
            .chain(self.names.iter().map(String::as_str).zip(&self.scenarios))
            .map(|(n, s)| (n.to_string(), s))
            .chain(
                self.phases
                    .iter()
                    .enumerate()
                    .filter(|_| self.phases.len() > 1)
                    .map(|(i, s)| {
                        (
                            format!(
                                "phase {i}: {}",
                                self.phase_names.get(i).map_or("?", String::as_str)
                            ),
                            s,
                        )
                    }),
            )
            .filter(|(name, s)| name == "all" || s.started > 0);
        for (name, s) in scopes {
            let _ = writeln!(
                out,
                "[{name}] started {}, success {}, error {}, timeout {}, cancelled {}, error rate {}",
                s.started,
                s.finished[0],
                s.finished[1],
                s.finished[2],
                s.finished[3],
                s.error_rate()
                    .map_or("-".into(), |r| format!("{:.2} %", r * 100.0)),
            );
            let _ = writeln!(
                out,
                "  {:<6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "", "samples", "mean", "p50", "p90", "p95", "p99", "max"
            );
            for q in s.latency.quantities() {
                let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
                let _ = writeln!(
                    out,
                    "  {:<6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    q.name,
                    q.count(),
                    f(q.mean()),
                    f(q.quantile(0.5)),
                    f(q.quantile(0.9)),
                    f(q.quantile(0.95)),
                    f(q.quantile(0.99)),
                    f(q.quantile(1.0)),
                );
            }
        }
        for r in self.spike_results() {
            let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2} %", v * 100.0));
            let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}s"));
            let _ = writeln!(
                out,
                "[spike: phase {}, pass {}, at {:.0}s for {:.0}s] TTFT p95 {} before, {} during; errors {} before, {} during",
                r.phase,
                r.pass,
                r.spike_start_seconds,
                r.spike_seconds,
                secs(r.pre_spike.ttft_p95),
                secs(r.during_spike.ttft_p95),
                pct(r.pre_spike.error_rate),
                pct(r.during_spike.error_rate),
            );
            let _ = match r.recovery_seconds {
                Some(s) => writeln!(
                    out,
                    "  recovered {s:.0}s after the spike ended ({:.0}s windows within +{:.0} % TTFT p95 and +{:.1} pt errors)",
                    r.window_seconds,
                    r.latency_tolerance * 100.0,
                    r.error_tolerance * 100.0
                ),
                None => writeln!(out, "  not recovered: {}", r.note.as_deref().unwrap_or("-")),
            };
        }
        out
    }

    /// JSON for reports and the status API; `seconds` is the measured time (for rates).
    pub fn to_json(&self, seconds: f64) -> serde_json::Value {
        let scenarios: serde_json::Map<String, serde_json::Value> = self
            .names
            .iter()
            .zip(&self.scenarios)
            .map(|(n, s)| (n.clone(), s.to_json(seconds)))
            .collect();
        serde_json::json!({
            "measured_seconds": seconds,
            "dropped": self.dropped,
            "drop_rate": self.drop_rate(),
            "all": self.overall.to_json(seconds),
            "scenarios": scenarios,
            "phases": self.phases.iter().enumerate().map(|(i, p)| {
                let mut v = p.to_json(seconds);
                v["index"] = i.into();
                v["kind"] = self.phase_names.get(i).cloned().unwrap_or_default().into();
                v
            }).collect::<Vec<_>>(),
            "spikes": self.spike_results(),
        })
    }
}
