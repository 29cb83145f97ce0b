//! Metrics: the [`catalogue`] of every instrument and the [`Recorder`], the only writer. The
//! recorder turns a finished [`RequestRecord`] into observations synchronously (no channel, no
//! lock on the chunk path: it runs once per request, after the stream ended), keeps atomic
//! totals for the status API, and exact HDR histograms for run summaries ([`summary`]).

pub mod baseline;
pub mod catalogue;
pub mod recovery;
pub mod request_log;
pub mod summary;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

use crate::config::Config;
use crate::record::{ErrorType, Outcome, RequestRecord};
use catalogue::{DropReason, Instrument, Kind};
pub use summary::{RunSummary, Summary};

fn histogram(meter: &Meter, i: &Instrument) -> Histogram<f64> {
    debug_assert_eq!(i.kind, Kind::Histogram);
    meter
        .f64_histogram(i.name)
        .with_unit(i.unit)
        .with_description(i.description)
        .with_boundaries(i.buckets.to_vec())
        .build()
}

fn counter(meter: &Meter, i: &Instrument) -> Counter<u64> {
    debug_assert_eq!(i.kind, Kind::Counter);
    meter
        .u64_counter(i.name)
        .with_unit(i.unit)
        .with_description(i.description)
        .build()
}

fn gauge(meter: &Meter, i: &Instrument) -> Gauge<f64> {
    debug_assert_eq!(i.kind, Kind::Gauge);
    meter
        .f64_gauge(i.name)
        .with_unit(i.unit)
        .with_description(i.description)
        .build()
}

/// The canary's checks (label `check` of `llmsoak_canary_check_failures_total`).
pub const CANARY_CHECKS: [&str; 5] = ["status", "stream", "usage", "tokens", "answer"];

/// Totals mirrored in atomics for `/api/v1/status` and the exit summary.
#[derive(Debug, Default)]
pub struct Totals {
    pub started: AtomicU64,
    pub in_flight: AtomicI64,
    pub dropped: AtomicU64,
    /// Indexed like [`Outcome::ALL`].
    pub finished: [AtomicU64; 4],
    /// f64 bits of the offered rate.
    pub target_rate: AtomicU64,
    pub phase: AtomicI64,
    /// Sessions in flight.
    pub sessions: AtomicI64,
    /// Output tokens of finished requests (for `load.budget`).
    pub output_tokens: AtomicU64,
}

impl Totals {
    /// Whether `budget` is spent: no new request may start.
    pub fn budget_spent(&self, budget: Option<&crate::config::Budget>) -> bool {
        let Some(b) = budget else { return false };
        b.max_requests
            .is_some_and(|m| self.started.load(Ordering::Relaxed) >= m)
            || b.max_output_tokens
                .is_some_and(|m| self.output_tokens.load(Ordering::Relaxed) >= m)
    }
}

impl Totals {
    pub fn finished(&self, o: Outcome) -> u64 {
        self.finished[o as usize].load(Ordering::Relaxed)
    }
    pub fn target_rate(&self) -> f64 {
        f64::from_bits(self.target_rate.load(Ordering::Relaxed))
    }
}

/// Identity of this run, exported as `llmsoak_run_info`.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run_id: String,
    pub shard: String,
    /// Unix time in seconds.
    pub start_time: f64,
}

/// The only writer of llm-soak's metrics.
#[derive(Debug)]
pub struct Recorder {
    operation_duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
    time_per_output_chunk: Histogram<f64>,
    /// `time_per_output_chunk` bound to each scenario's labels (a request records ~one
    /// observation per token; binding skips the attribute lookup for each).
    chunk_gap_bound: Vec<opentelemetry::metrics::BoundHistogram<f64>>,
    token_usage: Histogram<f64>,
    ttft: Histogram<f64>,
    tpot: Histogram<f64>,
    corrected_duration: Histogram<f64>,
    time_to_first_answer: Histogram<f64>,
    corrected_ttft: Histogram<f64>,
    started: Counter<u64>,
    requests: Counter<u64>,
    in_flight: Gauge<f64>,
    limit: Gauge<f64>,
    target_rate: Gauge<f64>,
    phase: Gauge<f64>,
    lag: Histogram<f64>,
    dropped: Counter<u64>,
    stalls: Counter<u64>,
    usage_missing: Counter<u64>,
    discrepancy: Histogram<f64>,
    generated_input: Histogram<f64>,
    sessions_in_flight: Gauge<f64>,
    sessions_started: Counter<u64>,
    canary_probes: Counter<u64>,
    canary_check_failures: Counter<u64>,
    canary_success: Gauge<f64>,
    canary_last_success: Gauge<f64>,
    /// Scenario names by index (the canary last), for the request log.
    scenario_names: Vec<String>,
    request_log: std::sync::OnceLock<Arc<request_log::RequestLog>>,
    reload_ok: Gauge<f64>,
    reload_time: Gauge<f64>,
    checksum: Gauge<f64>,
    /// Request labels per scenario, built once.
    scenario_labels: Vec<Vec<KeyValue>>,
    pub totals: Totals,
    summary: Mutex<RunSummary>,
    /// Request spans, when `[otlp] spans` is on.
    spans: std::sync::OnceLock<crate::export::spans::SpanRecorder>,
    /// Drift baselines, once the run has started them.
    baselines: Mutex<Option<baseline::Baselines>>,
}

impl Recorder {
    pub fn new(meter: &Meter, config: &Config, identity: &RunIdentity) -> Self {
        use catalogue as c;
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
        let mut scenario_labels: Vec<Vec<KeyValue>> = config
            .scenarios
            .iter()
            .map(|s| labels(s.endpoint, &s.model, s.target, &s.name))
            .collect();
        // The canary's requests feed the same request instruments, as scenario "canary"; its
        // index is one past the configured scenarios.
        if let Some(c) = &config.canary {
            scenario_labels.push(labels(
                c.endpoint,
                &config.targets[c.target].model,
                c.target,
                "canary",
            ));
        }
        let time_per_output_chunk = histogram(meter, &c::TIME_PER_OUTPUT_CHUNK);
        let chunk_gap_bound = scenario_labels
            .iter()
            .map(|l| time_per_output_chunk.bind(l))
            .collect();
        let r = Recorder {
            operation_duration: histogram(meter, &c::OPERATION_DURATION),
            time_to_first_chunk: histogram(meter, &c::TIME_TO_FIRST_CHUNK),
            time_per_output_chunk,
            chunk_gap_bound,
            token_usage: histogram(meter, &c::TOKEN_USAGE),
            ttft: histogram(meter, &c::TTFT),
            tpot: histogram(meter, &c::TPOT),
            corrected_duration: histogram(meter, &c::CORRECTED_DURATION),
            time_to_first_answer: histogram(meter, &c::TIME_TO_FIRST_ANSWER),
            corrected_ttft: histogram(meter, &c::CORRECTED_TTFT),
            started: counter(meter, &c::REQUESTS_STARTED),
            requests: counter(meter, &c::REQUESTS),
            in_flight: gauge(meter, &c::IN_FLIGHT),
            limit: gauge(meter, &c::CONCURRENCY_LIMIT),
            target_rate: gauge(meter, &c::TARGET_RATE),
            phase: gauge(meter, &c::PHASE),
            lag: histogram(meter, &c::SCHEDULE_LAG),
            dropped: counter(meter, &c::DROPPED),
            stalls: counter(meter, &c::STALLS),
            usage_missing: counter(meter, &c::USAGE_MISSING),
            discrepancy: histogram(meter, &c::DISCREPANCY),
            generated_input: histogram(meter, &c::GENERATED_INPUT),
            sessions_in_flight: gauge(meter, &c::SESSIONS_IN_FLIGHT),
            sessions_started: counter(meter, &c::SESSIONS_STARTED),
            canary_probes: counter(meter, &c::CANARY_PROBES),
            canary_check_failures: counter(meter, &c::CANARY_CHECK_FAILURES),
            canary_success: gauge(meter, &c::CANARY_SUCCESS),
            canary_last_success: gauge(meter, &c::CANARY_LAST_SUCCESS),
            scenario_names: config
                .scenarios
                .iter()
                .map(|s| s.name.clone())
                .chain(config.canary.as_ref().map(|_| "canary".to_string()))
                .collect(),
            request_log: std::sync::OnceLock::new(),
            reload_ok: gauge(meter, &c::CONFIG_RELOAD_OK),
            reload_time: gauge(meter, &c::CONFIG_RELOAD_TIME),
            checksum: gauge(meter, &c::CONFIG_CHECKSUM),
            scenario_labels,
            totals: Totals::default(),
            baselines: Mutex::new(None),
            spans: std::sync::OnceLock::new(),
            summary: Mutex::new(RunSummary::new(
                config
                    .scenarios
                    .iter()
                    .map(|s| s.name.clone())
                    .chain(config.canary.as_ref().map(|_| "canary".to_string()))
                    .collect(),
                config.canary.as_ref().map(|_| config.scenarios.len()),
                config
                    .load
                    .phases
                    .iter()
                    .map(|p| {
                        serde_json::to_value(p.kind)
                            .ok()
                            .and_then(|v| v["kind"].as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .collect(),
                tokio::time::Instant::now(),
            )),
        };
        gauge(meter, &c::RUN_INFO).record(
            1.0,
            &[
                KeyValue::new("llmsoak.run.id", identity.run_id.clone()),
                KeyValue::new("llmsoak.shard", identity.shard.clone()),
            ],
        );
        gauge(meter, &c::BUILD_INFO).record(1.0, &[KeyValue::new("version", crate::VERSION)]);
        gauge(meter, &c::RUN_START_TIME).record(identity.start_time, &[]);
        r.limit.record(config.load.max_in_flight as f64, &[]);
        r.in_flight.record(0.0, &[]);
        r.set_schedule(0.0, 0);
        // Pre-create every closed-set series at zero, so rates and absent() work from the start.
        for labels in &r.scenario_labels {
            r.started.add(0, labels);
            r.stalls.add(0, labels);
            r.usage_missing.add(0, labels);
            r.requests
                .add(0, &with(labels, &[KeyValue::new("outcome", "success")]));
        }
        for reason in [DropReason::MaxInFlight, DropReason::MaxSessions] {
            r.dropped
                .add(0, &[KeyValue::new("reason", reason.as_str())]);
        }
        r.sessions_in_flight.record(0.0, &[]);
        r.config_reloaded(true, config.checksum, identity.start_time);
        if config.canary.is_some() {
            for o in ["success", "failure"] {
                r.canary_probes.add(0, &[KeyValue::new("outcome", o)]);
            }
            for check in CANARY_CHECKS {
                r.canary_check_failures
                    .add(0, &[KeyValue::new("check", check)]);
            }
            // Initialised to the process start, so a canary failing since boot still alerts.
            r.canary_last_success.record(identity.start_time, &[]);
        }
        r.sessions_started.add(0, &[]);
        r
    }

    /// A request is about to be sent.
    pub fn started(&self, scenario: usize) {
        self.started.add(1, self.labels(scenario));
        self.totals.started.fetch_add(1, Ordering::Relaxed);
        let n = self.totals.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.in_flight.record(n as f64, &[]);
        if let Ok(mut s) = self.summary.lock() {
            s.started(scenario, tokio::time::Instant::now());
        }
    }

    /// A canary probe finished; `failed` are the checks it failed (empty: success).
    pub fn canary(&self, failed: &[&'static str], unix_now: f64) {
        let ok = failed.is_empty();
        self.canary_probes.add(
            1,
            &[KeyValue::new(
                "outcome",
                if ok { "success" } else { "failure" },
            )],
        );
        for check in failed {
            self.canary_check_failures
                .add(1, &[KeyValue::new("check", *check)]);
        }
        self.canary_success.record(if ok { 1.0 } else { 0.0 }, &[]);
        if ok {
            self.canary_last_success.record(unix_now, &[]);
        }
    }

    /// Send every finished request to this JSONL log from now on.
    pub fn set_request_log(&self, log: Arc<request_log::RequestLog>) {
        let _ = self.request_log.set(log);
    }

    pub fn request_log(&self) -> Option<&Arc<request_log::RequestLog>> {
        self.request_log.get()
    }

    /// A reload was attempted at `unix_time`; `checksum` is the config running afterwards.
    pub fn config_reloaded(&self, ok: bool, checksum: u64, unix_time: f64) {
        self.reload_ok.record(if ok { 1.0 } else { 0.0 }, &[]);
        self.reload_time.record(unix_time, &[]);
        self.checksum
            .record((checksum & ((1 << 48) - 1)) as f64, &[]);
    }

    /// The concurrency limit (closed loop: the number of users).
    pub fn set_limit(&self, n: usize) {
        self.limit.record(n as f64, &[]);
    }

    /// A multi-turn session started.
    pub fn session_started(&self) {
        self.sessions_started.add(1, &[]);
        let n = self.totals.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        self.sessions_in_flight.record(n as f64, &[]);
    }

    /// A multi-turn session ended (all turns done, failed, dropped or stopped).
    pub fn session_ended(&self) {
        let n = self.totals.sessions.fetch_sub(1, Ordering::Relaxed) - 1;
        self.sessions_in_flight.record(n as f64, &[]);
    }

    /// An arrival was not sent.
    pub fn dropped(&self, reason: DropReason) {
        self.dropped
            .add(1, &[KeyValue::new("reason", reason.as_str())]);
        self.totals.dropped.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.summary.lock() {
            s.dropped(tokio::time::Instant::now());
        }
    }

    /// The load shape's current offered rate and phase index (-1: schedule finished).
    pub fn set_schedule(&self, rate: f64, phase: i64) {
        self.target_rate.record(rate, &[]);
        self.phase.record(phase as f64, &[]);
        self.totals
            .target_rate
            .store(rate.to_bits(), Ordering::Relaxed);
        self.totals.phase.store(phase, Ordering::Relaxed);
    }

    fn labels(&self, scenario: usize) -> &[KeyValue] {
        self.scenario_labels
            .get(scenario)
            .map_or(&[], Vec::as_slice)
    }

    /// A request finished (any outcome). Called once per request, after the stream ended.
    pub fn observe(&self, rec: &RequestRecord) {
        let labels = self.labels(rec.scenario);
        let n = self.totals.in_flight.fetch_sub(1, Ordering::Relaxed) - 1;
        self.in_flight.record(n as f64, &[]);
        self.totals.finished[rec.outcome as usize].fetch_add(1, Ordering::Relaxed);
        self.totals
            .output_tokens
            .fetch_add(rec.output_tokens, Ordering::Relaxed);
        if let Some(log) = self.request_log.get() {
            let name = self
                .scenario_names
                .get(rec.scenario)
                .map_or("", String::as_str);
            log.push(request_log::line(rec, name));
        }
        if let Ok(mut s) = self.summary.lock() {
            s.observe(rec);
        }
        if let Ok(mut b) = self.baselines.lock()
            && let Some(b) = b.as_mut()
        {
            b.observe(rec);
        }
        if let Some(s) = self.spans.get() {
            s.record(rec);
        }

        let mut extra = vec![KeyValue::new("outcome", rec.outcome.as_str())];
        if let Some(e) = rec.error_type {
            extra.push(KeyValue::new("error.type", e.as_str()));
        }
        self.requests.add(1, &with(labels, &extra));
        self.lag.record(rec.schedule_lag().as_secs_f64(), &[]);
        if rec.stalls > 0 {
            self.stalls.add(u64::from(rec.stalls), labels);
        }
        if rec.outcome == Outcome::Cancelled {
            return;
        }
        if !rec.usage_present && rec.error_type.is_none_or(|e| e == ErrorType::Empty) {
            self.usage_missing.add(1, labels);
        }
        match rec.error_type {
            Some(e) => self.operation_duration.record(
                rec.e2e().as_secs_f64(),
                &with(labels, &[KeyValue::new("error.type", e.as_str())]),
            ),
            None => self
                .operation_duration
                .record(rec.e2e().as_secs_f64(), labels),
        }
        if rec.outcome != Outcome::Success {
            return;
        }
        // Latency histograms hold successes only, so `bucket{le=T} / requests_total` is an SLI
        // in which every failure is a bad event (DESIGN §4).
        let secs = |d: std::time::Duration| d.as_secs_f64();
        if let Some(d) = rec.time_to_first_chunk() {
            self.time_to_first_chunk.record(secs(d), labels);
        }
        if let Some(d) = rec.ttft() {
            self.ttft.record(secs(d), labels);
        }
        if let Some(d) = rec.corrected_ttft() {
            self.corrected_ttft.record(secs(d), labels);
        }
        if let Some(d) = rec.time_to_first_answer() {
            self.time_to_first_answer.record(secs(d), labels);
        }
        if let Some(d) = rec.tpot() {
            self.tpot.record(secs(d), labels);
        }
        match self.chunk_gap_bound.get(rec.scenario) {
            Some(bound) => rec.chunk_gaps().for_each(|gap| bound.record(secs(gap))),
            None => rec
                .chunk_gaps()
                .for_each(|gap| self.time_per_output_chunk.record(secs(gap), labels)),
        }
        self.corrected_duration
            .record(secs(rec.corrected_e2e()), labels);
        self.token_usage.record(
            rec.input_tokens as f64,
            &with(labels, &[KeyValue::new("gen_ai.token.type", "input")]),
        );
        self.token_usage.record(
            rec.output_tokens as f64,
            &with(labels, &[KeyValue::new("gen_ai.token.type", "output")]),
        );
        self.generated_input
            .record(rec.generated_input_tokens as f64, labels);
        if let Some(n) = rec
            .recounted_output_tokens
            .filter(|_| rec.output_tokens > 0)
        {
            self.discrepancy
                .record(n as f64 / rec.output_tokens as f64, labels);
        }
    }

    /// A copy of the exact run summary so far.
    /// Read the summary in place (no copy: the per-second progress line needs one number).
    pub fn with_summary<T>(&self, f: impl FnOnce(&RunSummary) -> T) -> Option<T> {
        self.summary.lock().ok().map(|s| f(&s))
    }

    pub fn summary(&self) -> Option<RunSummary> {
        self.summary.lock().ok().map(|s| s.clone())
    }

    /// Judge spike recovery on this timeline from now on (a new generation's shape).
    pub fn set_spikes(&self, timeline: Option<recovery::Timeline>) {
        if let Ok(mut s) = self.summary.lock() {
            s.set_spikes(timeline);
        }
    }

    /// The request labels of each scenario index (the canary's last).
    pub fn request_labels(&self) -> &[Vec<KeyValue>] {
        &self.scenario_labels
    }

    /// Emit request spans through `spans` from now on.
    pub fn set_spans(&self, spans: crate::export::spans::SpanRecorder) {
        let _ = self.spans.set(spans);
    }

    /// Start measuring drift baselines (`[baseline]`) from `start` + warm-up.
    pub fn start_baselines(&self, meter: &Meter, config: &Config, start: tokio::time::Instant) {
        let keys = config
            .scenarios
            .iter()
            .map(|s| (s.name.as_str(), s.target, s.model.as_str()))
            .chain(
                config
                    .canary
                    .iter()
                    .map(|c| ("canary", c.target, config.targets[c.target].model.as_str())),
            )
            .map(|(name, t, model)| {
                let t = &config.targets[t];
                format!("{name}|{}|{}|{model}", t.name, t.base_url)
            });
        let scopes = keys.zip(self.scenario_labels.iter().cloned()).collect();
        let b = baseline::Baselines::new(
            meter,
            scopes,
            start,
            (config.baseline.warmup, config.baseline.window),
            config.baseline.state_dir.as_deref(),
        );
        if let Ok(mut slot) = self.baselines.lock() {
            *slot = Some(b);
        }
    }

    /// Close the baseline window when its time has come.
    pub fn baseline_tick(&self) {
        if let Ok(mut b) = self.baselines.lock()
            && let Some(b) = b.as_mut()
        {
            b.tick(tokio::time::Instant::now());
        }
    }

    /// Forget the baselines and measure them again (after the configured warm-up).
    pub fn reset_baselines(&self) -> bool {
        match self.baselines.lock() {
            Ok(mut b) => b
                .as_mut()
                .map(|b| b.reset(tokio::time::Instant::now()))
                .is_some(),
            Err(_) => false,
        }
    }

    /// The baselines set so far (status API).
    pub fn baselines(&self) -> serde_json::Value {
        self.baselines
            .lock()
            .ok()
            .and_then(|b| {
                b.as_ref()
                    .map(|b| serde_json::to_value(b.current()).unwrap_or_default())
            })
            .unwrap_or_default()
    }

    /// Leave requests sent before `at` (the warm-up) out of the run summary.
    pub fn set_measure_from(&self, at: tokio::time::Instant) {
        if let Ok(mut s) = self.summary.lock() {
            s.measure_from = at;
        }
    }
}

fn with(base: &[KeyValue], extra: &[KeyValue]) -> Vec<KeyValue> {
    let mut v = Vec::with_capacity(base.len() + extra.len());
    v.extend_from_slice(base);
    v.extend_from_slice(extra);
    v
}
