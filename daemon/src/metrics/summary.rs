//! Exact run summaries: HDR histograms (µs, 1 µs – 1 h, 3 significant digits) of the successful
//! requests' TTFT, TPOT, inter-chunk gaps and e2e, from which bounded runs print percentiles.
//! Bounded memory: a few fixed-size histograms, no samples.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::record::RequestRecord;

const MAX_MICROS: u64 = 3_600_000_000;

fn new_hist() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid HDR bounds")
}

/// One latency quantity over the run.
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
        // In range by construction; saturating_record cannot fail.
        self.hist.saturating_record(us);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Quantile `q` in seconds (`None` without samples).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        (self.count() > 0).then(|| self.hist.value_at_quantile(q) as f64 / 1e6)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.hist.mean() / 1e6)
    }
}

/// Exact percentiles over the successful requests of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub ttft: Quantity,
    pub tpot: Quantity,
    pub itl: Quantity,
    pub e2e: Quantity,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            ttft: Quantity::new("ttft"),
            tpot: Quantity::new("tpot"),
            itl: Quantity::new("inter_chunk"),
            e2e: Quantity::new("e2e"),
        }
    }
}

impl Summary {
    pub fn observe(&mut self, rec: &RequestRecord) {
        if let Some(d) = rec.ttft() {
            self.ttft.record(d);
        }
        if let Some(d) = rec.tpot() {
            self.tpot.record(d);
        }
        for gap in rec.chunk_gaps() {
            self.itl.record(gap);
        }
        self.e2e.record(rec.e2e());
    }

    pub fn quantities(&self) -> [&Quantity; 4] {
        [&self.ttft, &self.tpot, &self.itl, &self.e2e]
    }

    /// A small fixed-width table (seconds).
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            "quantity", "samples", "mean", "p50", "p90", "p99", "max"
        );
        for q in self.quantities() {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            let _ = writeln!(
                out,
                "{:<12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}",
                q.name,
                q.count(),
                f(q.mean()),
                f(q.quantile(0.5)),
                f(q.quantile(0.9)),
                f(q.quantile(0.99)),
                f(q.quantile(1.0)),
            );
        }
        out
    }

    /// The summary as JSON (seconds).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for q in self.quantities() {
            m.insert(
                q.name.to_string(),
                serde_json::json!({
                    "samples": q.count(),
                    "min": q.quantile(0.0),
                    "mean": q.mean(),
                    "p50": q.quantile(0.5),
                    "p90": q.quantile(0.9),
                    "p99": q.quantile(0.99),
                    "max": q.quantile(1.0),
                }),
            );
        }
        serde_json::Value::Object(m)
    }
}
