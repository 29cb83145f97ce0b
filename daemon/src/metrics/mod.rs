//! Metrics: the [`catalogue`] of every instrument, and the [`Recorder`] — the request
//! lifecycle's one writer, made of instruments and sinks. Per request it runs synchronously,
//! once when the request starts and once after it finished (never on the chunk path): the OTel
//! instruments ([`instruments`]), the atomic [`Totals`] the status API and budgets read, and one
//! fan-out to every [`Sink`] — the run summary ([`summary`]), its time series ([`series`]), drift baselines ([`baseline`]),
//! request spans (`export::spans`) and the request log ([`request_log`]), each owned by its
//! module. Instruments that are not per request live beside it: the run's identity and reloads
//! ([`run`]) and the canary's ([`canary`]).

pub mod baseline;
pub mod canary;
pub mod catalogue;
pub mod disruption;
pub mod instruments;
pub mod recovery;
pub mod request_log;
pub mod run;
pub mod series;
pub mod server;
pub mod summary;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio::time::Instant;

use crate::config::Config;
use crate::config::slo::Judgement;
use crate::record::{Outcome, RequestRecord};
use catalogue::DropReason;
use instruments::{LoadInstruments, RequestInstruments};
pub use summary::SummarySink;

/// Something that takes every request's lifecycle events, after the instruments: the run
/// summary, drift baselines, request spans, the request log. Called synchronously on the
/// request's task, once per event: keep it short (a lock held for microseconds, a bounded
/// channel).
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Request scope `scope` was started at `at`.
    fn started(&self, _scope: usize, _at: Instant) {}
    /// An arrival was not sent at `at`, for `reason` (capacity or not:
    /// [`DropReason::is_capacity`]).
    fn dropped(&self, _at: Instant, _reason: DropReason) {}
    /// A request finished (any outcome); `slo` is how it fared against its scenario's SLO,
    /// judged once by the recorder (`None`: no SLO applies, or it was cancelled).
    fn finished(&self, rec: &RequestRecord, slo: Option<Judgement>);
}

/// `llmsoak_connections_opened_total`: each target's count of connections opened (`snapshot`,
/// read at every collection: the clients' connectors keep the counts).
pub fn connections_opened(
    meter: &Meter,
    snapshot: impl Fn() -> Vec<(String, u64)> + Send + Sync + 'static,
) -> opentelemetry::metrics::ObservableCounter<u64> {
    catalogue::CONNECTIONS_OPENED.observable_counter(meter, move |o| {
        for (target, n) in snapshot() {
            o.observe(n, &[KeyValue::new("llmsoak.target", target)]);
        }
    })
}

/// Totals mirrored in atomics for `/api/v1/status`, the progress line and the exit summary.
#[derive(Debug, Default)]
pub struct Totals {
    pub started: AtomicU64,
    pub in_flight: AtomicI64,
    /// Arrivals not sent, indexed like [`DropReason::ALL`].
    pub dropped_by: [AtomicU64; 4],
    /// Indexed like [`Outcome::ALL`].
    pub finished: [AtomicU64; Outcome::ALL.len()],
    /// f64 bits of the offered rate.
    pub target_rate: AtomicU64,
    pub phase: AtomicI64,
    /// Sessions in flight.
    pub sessions: AtomicI64,
}

impl Totals {
    pub fn finished(&self, o: Outcome) -> u64 {
        self.finished[o as usize].load(Ordering::Relaxed)
    }
    pub fn target_rate(&self) -> f64 {
        f64::from_bits(self.target_rate.load(Ordering::Relaxed))
    }
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
    /// Arrivals dropped for want of capacity (the in-flight or sessions cap).
    pub fn dropped(&self) -> u64 {
        self.drops().capacity()
    }
    /// Arrivals not sent, by reason.
    pub fn drops(&self) -> crate::report::DropCounts {
        drop_counts(&self.dropped_by)
    }
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The typed count of one reason: the one place the reasons meet the report's fields.
fn drop_slot(d: &mut crate::report::DropCounts, r: DropReason) -> &mut u64 {
    match r {
        DropReason::MaxInFlight => &mut d.max_in_flight,
        DropReason::MaxSessions => &mut d.max_sessions,
        DropReason::Budget => &mut d.budget,
        DropReason::ShuttingDown => &mut d.shutting_down,
    }
}

/// Counters indexed like [`DropReason::ALL`] as the report's typed counts.
pub(crate) fn drop_counts(by: &[AtomicU64; 4]) -> crate::report::DropCounts {
    let mut d = crate::report::DropCounts::default();
    for r in DropReason::ALL {
        *drop_slot(&mut d, r) = by[r as usize].load(Ordering::Relaxed);
    }
    d
}

/// Add the report's typed counts to counters indexed like [`DropReason::ALL`].
pub(crate) fn add_drop_counts(by: &[AtomicU64; 4], mut d: crate::report::DropCounts) {
    for r in DropReason::ALL {
        by[r as usize].fetch_add(*drop_slot(&mut d, r), Ordering::Relaxed);
    }
}

/// The request labels of every scope: each scenario's, then the canary's (as scenario
/// `canary`) when there is one. Built once; label values come only from config names.
pub fn request_labels(config: &Config) -> Vec<Vec<KeyValue>> {
    let labels = |endpoint: crate::openai::Endpoint, model: &str, target: usize, name: &str| {
        let t = &config.targets[target];
        vec![
            KeyValue::new("gen_ai.operation.name", endpoint.operation_name()),
            KeyValue::new("gen_ai.provider.name", t.provider.clone()),
            KeyValue::new("gen_ai.request.model", model.to_string()),
            KeyValue::new("server.address", t.server_address.clone()),
            KeyValue::new("server.port", i64::from(t.server_port)),
            KeyValue::new("llmsoak.target", t.name.clone()),
            KeyValue::new("llmsoak.scenario", name.to_string()),
        ]
    };
    config
        .scenarios
        .iter()
        .map(|s| labels(s.endpoint, &s.model, s.target.index, &s.name))
        .chain(config.canary.as_ref().map(|c| {
            let model = &config.targets[c.target.index].model;
            labels(
                c.endpoint,
                model,
                c.target.index,
                crate::config::canary::SCENARIO,
            )
        }))
        .collect()
}

/// The request lifecycle's writer: instruments, totals and sinks.
#[derive(Debug)]
pub struct Recorder {
    requests: RequestInstruments,
    load: LoadInstruments,
    pub totals: Totals,
    sinks: Vec<Arc<dyn Sink>>,
    /// Each scope's SLO (`Config::slos`; `None`: not judged): judged here, once per request.
    slos: Vec<Option<crate::config::slo::Slo>>,
}

impl Recorder {
    /// Instruments for `labels` (one set per scope, see [`request_labels`]) on `meter`; every
    /// finished request also goes to each of `sinks`, in order.
    pub fn new(meter: &Meter, labels: Vec<Vec<KeyValue>>, sinks: Vec<Arc<dyn Sink>>) -> Self {
        Recorder {
            requests: RequestInstruments::new(meter, labels),
            load: LoadInstruments::new(meter),
            totals: Totals::default(),
            sinks,
            slos: Vec::new(),
        }
    }

    /// Judge each scope's requests by its SLO (`Config::slos`) in `llmsoak_slo_requests_total`.
    pub fn with_slos(mut self, slos: Vec<Option<crate::config::slo::Slo>>) -> Self {
        self.requests
            .slo_scopes(&slos.iter().map(Option::is_some).collect::<Vec<_>>());
        self.slos = slos;
        self
    }

    /// A request of `scope` is about to be sent.
    pub fn started(&self, scope: usize) {
        let now = Instant::now();
        self.requests.started(scope);
        self.totals.started.fetch_add(1, Ordering::Relaxed);
        let n = self.totals.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.load.in_flight(n);
        for s in &self.sinks {
            s.started(scope, now);
        }
    }

    /// A request finished (any outcome). Called once per started request, after the stream.
    pub fn finished(&self, rec: &RequestRecord) {
        let n = self.totals.in_flight.fetch_sub(1, Ordering::Relaxed) - 1;
        self.load.in_flight(n);
        self.totals.finished[rec.outcome as usize].fetch_add(1, Ordering::Relaxed);
        let slo = self
            .slos
            .get(rec.scenario)
            .copied()
            .flatten()
            .and_then(|s| s.judge(rec));
        self.requests.observe(rec, slo.map(|j| j.met));
        for s in &self.sinks {
            s.finished(rec, slo);
        }
    }

    /// An arrival was not sent.
    pub fn dropped(&self, reason: DropReason) {
        let now = Instant::now();
        self.load.dropped(reason);
        self.totals.dropped_by[reason as usize].fetch_add(1, Ordering::Relaxed);
        for s in &self.sinks {
            s.dropped(now, reason);
        }
    }

    /// The load shape's current offered rate and phase index (-1: schedule finished).
    pub fn set_schedule(&self, rate: f64, phase: i64) {
        self.load.schedule(rate, phase);
        self.totals
            .target_rate
            .store(rate.to_bits(), Ordering::Relaxed);
        self.totals.phase.store(phase, Ordering::Relaxed);
    }

    /// The concurrency limit of an open loop (`max_in_flight`); 0 for a closed loop.
    pub fn set_limit(&self, n: usize) {
        self.load.limit(n);
    }

    /// Closed-loop users active now.
    pub fn set_users(&self, n: usize) {
        self.load.users(n);
    }

    /// An open-loop arrival was dispatched `lag` after the schedule wanted it.
    pub fn scheduled(&self, lag: std::time::Duration) {
        self.load.lag(lag);
    }

    /// A multi-turn session started.
    pub fn session_started(&self) {
        let n = self.totals.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        self.load.session_started(n);
    }

    /// A multi-turn session ended (all turns done, failed, dropped or stopped).
    pub fn session_ended(&self) {
        let n = self.totals.sessions.fetch_sub(1, Ordering::Relaxed) - 1;
        self.load.sessions(n);
    }
}

/// A meter whose instruments land in a Prometheus registry (unit tests of this module; the
/// daemon's own provider is `export`'s). The provider is leaked so the meter outlives it.
#[cfg(test)]
pub(crate) fn test_meter() -> (Meter, prometheus::Registry) {
    use opentelemetry::metrics::MeterProvider as _;
    let registry = prometheus::Registry::new();
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .scope_info_enabled(false)
        .build()
        .expect("a prometheus reader");
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    let meter = provider.meter("test");
    std::mem::forget(provider);
    (meter, registry)
}

/// A recorder with one scope and the run summary as its only sink (unit tests).
#[cfg(test)]
pub(crate) fn test_recorder() -> (Arc<Recorder>, Arc<SummarySink>) {
    let (meter, _registry) = test_meter();
    let summary = Arc::new(SummarySink::new(
        vec!["s".into()],
        None,
        Vec::new(),
        tokio::time::Instant::now(),
    ));
    let r = Recorder::new(
        &meter,
        vec![Vec::new()],
        vec![Arc::clone(&summary) as Arc<dyn Sink>],
    );
    (Arc::new(r), summary)
}

/// The registry in the text format.
#[cfg(test)]
pub(crate) fn test_encode(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder as _;
    let mut buf = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
