//! The instruments of the engine scrape: whether each target's last scrape worked, how long it
//! took and how many series it kept. Only what Prometheus cannot compute itself: it scrapes the
//! engine directly, and dashboards join the two jobs in PromQL.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Gauge, Meter};

use super::catalogue as c;

/// The scrape's health gauges.
#[derive(Debug, Clone)]
pub struct ScrapeInstruments {
    success: Gauge<f64>,
    duration: Gauge<f64>,
    series: Gauge<f64>,
}

impl ScrapeInstruments {
    pub fn new(meter: &Meter) -> Self {
        ScrapeInstruments {
            success: c::SCRAPE_SUCCESS.gauge(meter),
            duration: c::SCRAPE_DURATION.gauge(meter),
            series: c::SCRAPE_SERIES.gauge(meter),
        }
    }

    /// One scrape of `target`.
    pub fn record(&self, target: &str, ok: bool, took: Duration, series: usize) {
        let l = [KeyValue::new("llmsoak.target", target.to_string())];
        self.success.record(if ok { 1.0 } else { 0.0 }, &l);
        self.duration.record(took.as_secs_f64(), &l);
        self.series.record(series as f64, &l);
    }
}
