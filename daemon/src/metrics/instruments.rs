//! The recorder's OTel instruments, built from the catalogue: the per-request ones
//! ([`RequestInstruments`], labelled by scope) and the load's own ([`LoadInstruments`]: in flight,
//! concurrency limit, offered rate, phase, schedule lag, drops, sessions). Every closed-set series
//! is created at zero, so rates and `absent()` work from the start.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Counter, Gauge, Histogram, Meter};

use super::catalogue::{self as c, DropReason};
use crate::record::{ErrorType, Outcome, RequestRecord};

fn with(base: &[KeyValue], extra: &[KeyValue]) -> Vec<KeyValue> {
    let mut v = Vec::with_capacity(base.len() + extra.len());
    v.extend_from_slice(base);
    v.extend_from_slice(extra);
    v
}

/// Instruments written once per request, labelled by its scope.
#[derive(Debug)]
pub struct RequestInstruments {
    operation_duration: Histogram<f64>,
    time_to_first_chunk: Histogram<f64>,
    time_per_output_chunk: Histogram<f64>,
    /// `time_per_output_chunk` bound to each scope's labels (a request records ~one observation
    /// per token; binding skips the attribute lookup for each).
    chunk_gap_bound: Vec<BoundHistogram<f64>>,
    token_usage: Histogram<f64>,
    ttft: Histogram<f64>,
    tpot: Histogram<f64>,
    corrected_duration: Histogram<f64>,
    time_to_first_answer: Histogram<f64>,
    corrected_ttft: Histogram<f64>,
    started: Counter<u64>,
    requests: Counter<u64>,
    stalls: Counter<u64>,
    usage_missing: Counter<u64>,
    discrepancy: Histogram<f64>,
    generated_input: Histogram<f64>,
    output_tokens: Counter<u64>,
    hidden_reasoning: Counter<u64>,
    cached_input: Counter<u64>,
    hidden_reasoning_per_request: Histogram<f64>,
    cached_input_per_request: Histogram<f64>,
    tpot_undefined: Counter<u64>,
    slo_requests: Counter<u64>,
    /// Each scope's SLO (`None`: not judged).
    /// Request labels per scope, built once.
    labels: Vec<Vec<KeyValue>>,
}

impl RequestInstruments {
    pub fn new(meter: &Meter, labels: Vec<Vec<KeyValue>>) -> Self {
        let time_per_output_chunk = c::TIME_PER_OUTPUT_CHUNK.histogram(meter);
        let chunk_gap_bound = labels
            .iter()
            .map(|l| time_per_output_chunk.bind(l))
            .collect();
        let r = RequestInstruments {
            operation_duration: c::OPERATION_DURATION.histogram(meter),
            time_to_first_chunk: c::TIME_TO_FIRST_CHUNK.histogram(meter),
            time_per_output_chunk,
            chunk_gap_bound,
            token_usage: c::TOKEN_USAGE.histogram(meter),
            ttft: c::TTFT.histogram(meter),
            tpot: c::TPOT.histogram(meter),
            corrected_duration: c::CORRECTED_DURATION.histogram(meter),
            time_to_first_answer: c::TIME_TO_FIRST_ANSWER.histogram(meter),
            corrected_ttft: c::CORRECTED_TTFT.histogram(meter),
            started: c::REQUESTS_STARTED.counter(meter),
            requests: c::REQUESTS.counter(meter),
            stalls: c::STALLS.counter(meter),
            usage_missing: c::USAGE_MISSING.counter(meter),
            discrepancy: c::DISCREPANCY.histogram(meter),
            generated_input: c::GENERATED_INPUT.histogram(meter),
            output_tokens: c::TOKENS_OUTPUT.counter(meter),
            hidden_reasoning: c::TOKENS_HIDDEN_REASONING.counter(meter),
            cached_input: c::TOKENS_CACHED_INPUT.counter(meter),
            hidden_reasoning_per_request: c::REQUEST_HIDDEN_REASONING.histogram(meter),
            cached_input_per_request: c::REQUEST_CACHED_INPUT.histogram(meter),
            tpot_undefined: c::TPOT_UNDEFINED.counter(meter),
            slo_requests: c::SLO_REQUESTS.counter(meter),
            labels,
        };
        for labels in &r.labels {
            r.started.add(0, labels);
            r.stalls.add(0, labels);
            r.usage_missing.add(0, labels);
            r.requests
                .add(0, &with(labels, &[KeyValue::new("outcome", "success")]));
            r.hidden_reasoning.add(0, labels);
            r.cached_input.add(0, labels);
            r.tpot_undefined.add(0, labels);
            r.output_tokens.add(
                0,
                &with(labels, &[KeyValue::new("llmsoak.token.source", "usage")]),
            );
        }
        r
    }

    /// The scopes whose requests are judged by an SLO (`judged[scope]`): their met and missed
    /// series start at 0.
    pub fn slo_scopes(&mut self, judged: &[bool]) {
        for (labels, _) in self.labels.iter().zip(judged).filter(|(_, j)| **j) {
            for v in ["met", "missed"] {
                self.slo_requests
                    .add(0, &with(labels, &[KeyValue::new("llmsoak.slo", v)]));
            }
        }
    }

    fn labels(&self, scope: usize) -> &[KeyValue] {
        self.labels.get(scope).map_or(&[], Vec::as_slice)
    }

    pub fn started(&self, scope: usize) {
        self.started.add(1, self.labels(scope));
    }

    /// A finished request (any outcome), and whether it met its SLO (`None`: not judged).
    pub fn observe(&self, rec: &RequestRecord, slo: Option<bool>) {
        let labels = self.labels(rec.scenario);
        let mut extra = vec![KeyValue::new("outcome", rec.outcome.as_str())];
        if let Some(e) = rec.error_type {
            extra.push(KeyValue::new("error.type", e.as_str()));
        }
        self.requests.add(1, &with(labels, &extra));
        if let Some(met) = slo {
            let v = if met { "met" } else { "missed" };
            self.slo_requests
                .add(1, &with(labels, &[KeyValue::new("llmsoak.slo", v)]));
        }
        if rec.stalls > 0 {
            self.stalls.add(u64::from(rec.stalls), labels);
        }
        // Neither cut off by a shutdown nor closed on purpose is a duration to measure.
        if matches!(rec.outcome, Outcome::Cancelled | Outcome::Aborted) {
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
        match rec.tpot() {
            Some(d) => self.tpot.record(secs(d), labels),
            None => self.tpot_undefined.add(1, labels),
        }
        match self.chunk_gap_bound.get(rec.scenario) {
            Some(bound) => rec.chunk_gaps().for_each(|gap| bound.record(secs(gap))),
            None => rec
                .chunk_gaps()
                .for_each(|gap| self.time_per_output_chunk.record(secs(gap), labels)),
        }
        self.corrected_duration
            .record(secs(rec.corrected_e2e()), labels);
        // 0: not measured (a canary's fixed prompt before any tokenizer is in memory, on a
        // server that reports no usage) — never a sample of 0.
        if rec.input_tokens > 0 {
            self.token_usage.record(
                rec.input_tokens as f64,
                &with(labels, &[KeyValue::new("gen_ai.token.type", "input")]),
            );
        }
        self.token_usage.record(
            rec.output_tokens as f64,
            &with(labels, &[KeyValue::new("gen_ai.token.type", "output")]),
        );
        if rec.generated_input_tokens > 0 {
            self.generated_input
                .record(rec.generated_input_tokens as f64, labels);
        }
        self.output_tokens.add(
            rec.output_tokens,
            &with(
                labels,
                &[KeyValue::new(
                    "llmsoak.token.source",
                    rec.token_source.as_str(),
                )],
            ),
        );
        if rec.hidden_reasoning_tokens > 0 {
            self.hidden_reasoning
                .add(rec.hidden_reasoning_tokens, labels);
            self.hidden_reasoning_per_request
                .record(rec.hidden_reasoning_tokens as f64, labels);
        }
        if let Some(n) = rec.cached_input_tokens {
            self.cached_input.add(n, labels);
            self.cached_input_per_request.record(n as f64, labels);
        }
        if let Some(n) = rec
            .recounted_output_tokens
            .filter(|_| rec.output_tokens > 0)
        {
            self.discrepancy
                .record(n as f64 / rec.output_tokens as f64, labels);
        }
    }
}

/// The load's own instruments (no request labels).
#[derive(Debug)]
pub struct LoadInstruments {
    in_flight: Gauge<f64>,
    limit: Gauge<f64>,
    target_rate: Gauge<f64>,
    phase: Gauge<f64>,
    lag: Histogram<f64>,
    dropped: Counter<u64>,
    sessions_in_flight: Gauge<f64>,
    sessions_started: Counter<u64>,
    users_active: Gauge<f64>,
}

impl LoadInstruments {
    pub fn new(meter: &Meter) -> Self {
        let l = LoadInstruments {
            in_flight: c::IN_FLIGHT.gauge(meter),
            limit: c::CONCURRENCY_LIMIT.gauge(meter),
            target_rate: c::TARGET_RATE.gauge(meter),
            phase: c::PHASE.gauge(meter),
            lag: c::SCHEDULE_LAG.histogram(meter),
            dropped: c::DROPPED.counter(meter),
            sessions_in_flight: c::SESSIONS_IN_FLIGHT.gauge(meter),
            sessions_started: c::SESSIONS_STARTED.counter(meter),
            users_active: c::USERS_ACTIVE.gauge(meter),
        };
        l.users_active.record(0.0, &[]);
        l.in_flight.record(0.0, &[]);
        l.limit.record(0.0, &[]);
        l.schedule(0.0, 0);
        for reason in DropReason::ALL {
            l.dropped
                .add(0, &[KeyValue::new("reason", reason.as_str())]);
        }
        l.sessions_in_flight.record(0.0, &[]);
        l.sessions_started.add(0, &[]);
        l
    }

    pub fn in_flight(&self, n: i64) {
        self.in_flight.record(n as f64, &[]);
    }

    pub fn limit(&self, n: usize) {
        self.limit.record(n as f64, &[]);
    }

    pub fn schedule(&self, rate: f64, phase: i64) {
        self.target_rate.record(rate, &[]);
        self.phase.record(phase as f64, &[]);
    }

    pub fn lag(&self, lag: std::time::Duration) {
        self.lag.record(lag.as_secs_f64(), &[]);
    }

    pub fn users(&self, n: usize) {
        self.users_active.record(n as f64, &[]);
    }

    pub fn dropped(&self, reason: DropReason) {
        self.dropped
            .add(1, &[KeyValue::new("reason", reason.as_str())]);
    }

    pub fn session_started(&self, in_flight: i64) {
        self.sessions_started.add(1, &[]);
        self.sessions(in_flight);
    }

    pub fn sessions(&self, in_flight: i64) {
        self.sessions_in_flight.record(in_flight as f64, &[]);
    }
}
