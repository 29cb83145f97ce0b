//! The metric catalogue (DESIGN §5): every instrument's OTel name, Prometheus name, kind, unit,
//! description, bucket boundaries and exact label set, in one table. The [`super::Recorder`]
//! builds its instruments from it, docs and tests read it, and a test pins the Prometheus names
//! the exporter really produces.

use opentelemetry::metrics::{self as otel, Meter};

/// OTel attribute keys of the request labels ("R"). Prometheus turns dots into underscores.
pub const REQUEST_LABELS: &[&str] = &[
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "server.address",
    "server.port",
    "llmsoak.target",
    "llmsoak.scenario",
];

/// TTFT-like latencies (seconds); a superset of vLLM's buckets.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0, 80.0, 120.0, 160.0,
    300.0, 640.0, 2560.0,
];

/// Inter-chunk gaps and TPOT (seconds).
pub const ITL_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.0125, 0.015, 0.0175,
    0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.06, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];

/// End-to-end durations (seconds).
pub const E2E_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0,
    40.0, 50.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 480.0, 600.0, 960.0, 1920.0, 7680.0,
];

/// Token counts: the GenAI semconv boundaries 1, 4, 16, … 4^13.
pub const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Client token count ÷ server usage count.
pub const DISCREPANCY_BUCKETS: &[f64] = &[
    0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0, 1.01, 1.02, 1.05, 1.1, 1.25, 1.5, 2.0,
];

/// Schedule lag (seconds).
pub const LAG_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One instrument.
#[derive(Debug, Clone, Copy)]
pub struct Instrument {
    /// OTel instrument name (primary).
    pub name: &'static str,
    /// The name the Prometheus exporter produces (the standard OTLP→Prometheus translation).
    pub prom: &'static str,
    pub kind: Kind,
    /// UCUM unit as OTel carries it.
    pub unit: &'static str,
    pub description: &'static str,
    /// Explicit bucket boundaries (histograms only).
    pub buckets: &'static [f64],
    /// Every attribute key this instrument may carry; none other is ever written.
    pub labels: &'static [&'static str],
    /// Keys of `labels` that only some points carry (e.g. `error.type` on failures).
    pub optional: &'static [&'static str],
}

impl Instrument {
    /// The histogram, with its unit, description and explicit buckets.
    pub fn histogram(&self, meter: &Meter) -> otel::Histogram<f64> {
        debug_assert_eq!(self.kind, Kind::Histogram, "{}", self.name);
        meter
            .f64_histogram(self.name)
            .with_unit(self.unit)
            .with_description(self.description)
            .with_boundaries(self.buckets.to_vec())
            .build()
    }

    /// The counter (integral counts).
    pub fn counter(&self, meter: &Meter) -> otel::Counter<u64> {
        debug_assert_eq!(self.kind, Kind::Counter, "{}", self.name);
        meter
            .u64_counter(self.name)
            .with_unit(self.unit)
            .with_description(self.description)
            .build()
    }

    /// The observable counter: `observe` reports each series' running total at every
    /// collection (a count kept elsewhere, e.g. by a connector).
    pub fn observable_counter(
        &self,
        meter: &Meter,
        observe: impl Fn(&dyn otel::AsyncInstrument<u64>) + Send + Sync + 'static,
    ) -> otel::ObservableCounter<u64> {
        debug_assert_eq!(self.kind, Kind::Counter, "{}", self.name);
        meter
            .u64_observable_counter(self.name)
            .with_unit(self.unit)
            .with_description(self.description)
            .with_callback(observe)
            .build()
    }

    /// The counter, for fractional amounts (joules, restarts read from a float gauge).
    pub fn counter_f64(&self, meter: &Meter) -> otel::Counter<f64> {
        debug_assert_eq!(self.kind, Kind::Counter, "{}", self.name);
        meter
            .f64_counter(self.name)
            .with_unit(self.unit)
            .with_description(self.description)
            .build()
    }

    /// The (synchronous) gauge.
    pub fn gauge(&self, meter: &Meter) -> otel::Gauge<f64> {
        debug_assert_eq!(self.kind, Kind::Gauge, "{}", self.name);
        meter
            .f64_gauge(self.name)
            .with_unit(self.unit)
            .with_description(self.description)
            .build()
    }

    /// The observable gauge: `observe` reports its series at every collection, and a series it
    /// stops reporting disappears (the SDK keeps no value for it), unlike a synchronous gauge.
    pub fn observable_gauge(
        &self,
        meter: &Meter,
        observe: impl Fn(&dyn otel::AsyncInstrument<f64>) + Send + Sync + 'static,
    ) -> otel::ObservableGauge<f64> {
        debug_assert_eq!(self.kind, Kind::Gauge, "{}", self.name);
        meter
            .f64_observable_gauge(self.name)
            .with_unit(self.unit)
            .with_description(self.description)
            .with_callback(observe)
            .build()
    }
}

macro_rules! labels {
    (R) => { REQUEST_LABELS };
    (R + $($extra:literal),+) => {
        &[
            "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
            "server.address", "server.port", "llmsoak.target", "llmsoak.scenario",
            $($extra),+
        ]
    };
}

const fn inst(
    name: &'static str,
    prom: &'static str,
    kind: Kind,
    unit: &'static str,
    description: &'static str,
    buckets: &'static [f64],
    labels: &'static [&'static str],
) -> Instrument {
    Instrument {
        name,
        prom,
        kind,
        unit,
        description,
        buckets,
        labels,
        optional: &[],
    }
}

use Kind::{Counter, Gauge, Histogram};

mod load;
mod resources;
pub use load::*;
pub use resources::*;

pub const OPERATION_DURATION: Instrument = Instrument {
    optional: &["error.type"],
    ..inst(
        "gen_ai.client.operation.duration",
        "gen_ai_client_operation_duration_seconds",
        Histogram,
        "s",
        "End-to-end request duration (end_at - sent_at) of every finished request neither cancelled nor aborted; error_type set on failures.",
        E2E_BUCKETS,
        labels!(R + "error.type"),
    )
};
pub const TIME_TO_FIRST_CHUNK: Instrument = inst(
    "gen_ai.client.operation.time_to_first_chunk",
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    Histogram,
    "s",
    "Time from sending the request to the first SSE data event of any kind (first_chunk_at - sent_at), successful requests.",
    TTFT_BUCKETS,
    labels!(R),
);
pub const TIME_PER_OUTPUT_CHUNK: Instrument = inst(
    "gen_ai.client.operation.time_per_output_chunk",
    "gen_ai_client_operation_time_per_output_chunk_seconds",
    Histogram,
    "s",
    "Inter-chunk latency: one sample per gap between consecutive content-bearing events (a chunk may carry several tokens), successful requests.",
    ITL_BUCKETS,
    labels!(R),
);
pub const TOKEN_USAGE: Instrument = inst(
    "gen_ai.client.token.usage",
    "gen_ai_client_token_usage",
    Histogram,
    "{token}",
    "Input and output tokens per successful request (server usage when sent, else the tokenizer); gen_ai_token_type is input or output.",
    TOKEN_BUCKETS,
    labels!(R + "gen_ai.token.type"),
);
pub const TTFT: Instrument = inst(
    "llmsoak.request.time_to_first_token",
    "llmsoak_request_time_to_first_token_seconds",
    Histogram,
    "s",
    "TTFT: time from sending the request to the first event carrying content, reasoning or tool-call text (first_token_at - sent_at), successful requests.",
    TTFT_BUCKETS,
    labels!(R),
);
pub const TPOT: Instrument = inst(
    "llmsoak.request.time_per_output_token",
    "llmsoak_request_time_per_output_token_seconds",
    Histogram,
    "s",
    "TPOT per successful request: (last_token_event - first_token_at) / (N - 1), N the streamed output tokens; only for N >= 2 in at least two token-bearing events (otherwise undefined and counted in llmsoak_requests_tpot_undefined_total).",
    ITL_BUCKETS,
    labels!(R),
);
pub const CORRECTED_DURATION: Instrument = inst(
    "llmsoak.request.corrected_duration",
    "llmsoak_request_corrected_duration_seconds",
    Histogram,
    "s",
    "End-to-end duration measured from the scheduled send time (end_at - intended_at), the coordinated-omission view; successful requests.",
    E2E_BUCKETS,
    labels!(R),
);
pub const TIME_TO_FIRST_ANSWER: Instrument = inst(
    "llmsoak.request.time_to_first_answer_token",
    "llmsoak_request_time_to_first_answer_token_seconds",
    Histogram,
    "s",
    "Time from sending the request to the first content that is not reasoning (first_answer_at - sent_at), successful requests.",
    TTFT_BUCKETS,
    labels!(R),
);
pub const CORRECTED_TTFT: Instrument = inst(
    "llmsoak.request.corrected_time_to_first_token",
    "llmsoak_request_corrected_time_to_first_token_seconds",
    Histogram,
    "s",
    "TTFT measured from the scheduled send time (first_token_at - intended_at), successful requests.",
    TTFT_BUCKETS,
    labels!(R),
);
pub const REQUESTS_STARTED: Instrument = inst(
    "llmsoak.requests.started",
    "llmsoak_requests_started_total",
    Counter,
    "{request}",
    "Requests handed to the HTTP client; equals the sum of llmsoak_requests_total plus those in flight.",
    &[],
    labels!(R),
);
pub const REQUESTS: Instrument = Instrument {
    optional: &["error.type"],
    ..inst(
        "llmsoak.requests",
        "llmsoak_requests_total",
        Counter,
        "{request}",
        "Finished requests by outcome (success, error, timeout, cancelled by a drain or shutdown, aborted on purpose by a scenario's abort) and error_type (closed set: the failure class; cancelled and aborted name themselves).",
        &[],
        labels!(R + "outcome", "error.type"),
    )
};
pub const SLO_REQUESTS: Instrument = inst(
    "llmsoak.slo.requests",
    "llmsoak_slo_requests_total",
    Counter,
    "{request}",
    "Requests judged against their scenario's latency SLO ([slo]) by llmsoak_slo: met (succeeded within every bound) or missed (too slow, failed or timed out); cancelled and aborted requests are not judged. Attainment is met / (met + missed).",
    &[],
    labels!(R + "llmsoak.slo"),
);
pub const CANARY_PROBES: Instrument = inst(
    "llmsoak.canary.probes",
    "llmsoak_canary_probes_total",
    Counter,
    "{probe}",
    "Canary probes by outcome (success: every check passed; failure: at least one failed).",
    &[],
    &["outcome"],
);
pub const CANARY_CHECK_FAILURES: Instrument = inst(
    "llmsoak.canary.check_failures",
    "llmsoak_canary_check_failures_total",
    Counter,
    "{probe}",
    "Canary checks that failed, by check (status, timeout, stream, usage, tokens, answer).",
    &[],
    &["check"],
);
pub const CANARY_SUCCESS: Instrument = inst(
    "llmsoak.canary.success",
    "llmsoak_canary_success",
    Gauge,
    "",
    "1 if the last canary probe passed every check, else 0.",
    &[],
    &[],
);
pub const CANARY_LAST_SUCCESS: Instrument = inst(
    "llmsoak.canary.last_success_timestamp",
    "llmsoak_canary_last_success_timestamp_seconds",
    Gauge,
    "s",
    "Unix time of the last canary probe that passed; starts at the process start, so a canary failing since boot still alerts.",
    &[],
    &[],
);
pub const CONFIG_RELOAD_OK: Instrument = inst(
    "llmsoak.config.last_reload_successful",
    "llmsoak_config_last_reload_successful",
    Gauge,
    "",
    "1 if the last config reload (SIGHUP or POST /-/reload) succeeded, 0 if it failed and the previous config is still running.",
    &[],
    &[],
);
pub const CONFIG_RELOAD_TIME: Instrument = inst(
    "llmsoak.config.last_reload_timestamp",
    "llmsoak_config_last_reload_timestamp_seconds",
    Gauge,
    "s",
    "Unix time of the last reload attempt (the process start before any).",
    &[],
    &[],
);
pub const CONFIG_CHECKSUM: Instrument = inst(
    "llmsoak.config.checksum",
    "llmsoak_config_checksum",
    Gauge,
    "",
    "The running config's FNV-1a checksum (lower 48 bits, as a number: no label that changes over time).",
    &[],
    &[],
);
pub const DISCREPANCY: Instrument = inst(
    "llmsoak.tokens.discrepancy",
    "llmsoak_tokens_discrepancy",
    Histogram,
    "",
    "Output tokens re-counted with the configured tokenizer divided by the server's usage.completion_tokens, for a sample (recount_sample) of successful requests; 1 means they agree.",
    DISCREPANCY_BUCKETS,
    labels!(R),
);
pub const GENERATED_INPUT: Instrument = inst(
    "llmsoak.tokens.generated_input",
    "llmsoak_tokens_generated_input",
    Histogram,
    "{token}",
    "Input tokens of the content llm-soak generated, counted with the target's tokenizer, per successful request (the server's usage.prompt_tokens, in gen_ai_client_token_usage, also counts its chat template).",
    TOKEN_BUCKETS,
    labels!(R),
);
pub const RUN_INFO: Instrument = inst(
    "llmsoak.run.info",
    "llmsoak_run_info",
    Gauge,
    "",
    "Always 1; identifies this run (run id, shard) and names the targets whose TLS certificates are not verified (`none`: all are). Its absence means the daemon is down.",
    &[],
    &["llmsoak.run.id", "llmsoak.shard", "llmsoak.tls.unverified"],
);
pub const BUILD_INFO: Instrument = inst(
    "llmsoak.build.info",
    "llmsoak_build_info",
    Gauge,
    "",
    "Always 1; the llm-soak version.",
    &[],
    &["version"],
);
pub const RUN_START_TIME: Instrument = inst(
    "llmsoak.run.start_time",
    "llmsoak_run_start_time_seconds",
    Gauge,
    "s",
    "Unix time the run started; time() minus this is the soak's elapsed time.",
    &[],
    &[],
);
pub const RUN_PLANNED_END: Instrument = inst(
    "llmsoak.run.planned_end_timestamp",
    "llmsoak_run_planned_end_timestamp_seconds",
    Gauge,
    "s",
    "Unix time the run plans to stop sending load (--duration, or the end of its phases; updated on reload); 4102444800 (2100-01-01) for a run without an end. A run that stops reporting before it stopped early (LlmSoakRunStoppedEarly).",
    &[],
    &[],
);
pub const RUN_SHARDS: Instrument = inst(
    "llmsoak.run.shards",
    "llmsoak_run_shards",
    Gauge,
    "{replica}",
    "N of this replica's --shard I/N: how many replicas together send the schedule (LlmSoakShardMissing compares it with the replicas reporting).",
    &[],
    &[],
);

pub const RECOVERY: Instrument = inst(
    "llmsoak.recovery",
    "llmsoak_recovery_seconds",
    Gauge,
    "s",
    "The last disruption's recovery (a target restart, an engine restart, a phase hook), once it recovered, by stage: first_success (to the end of the first successful request sent after it) and within_tolerance (until every load.recovery window was back within tolerance of the minute before).",
    &[],
    &["stage"],
);

pub const CONNECTIONS_OPENED: Instrument = inst(
    "llmsoak.connections.opened",
    "llmsoak_connections_opened_total",
    Counter,
    "{connection}",
    "Connections the load's HTTP clients opened to the target (TCP connected and, over https, the TLS handshake done), the canary's included: with keep-alive far fewer than requests; a scenario's connection.fresh sends that share of its requests on a connection of their own.",
    &[],
    &["llmsoak.target"],
);

/// Every instrument, in exposition order.
pub const ALL: &[Instrument] = &[
    OPERATION_DURATION,
    TIME_TO_FIRST_CHUNK,
    TIME_PER_OUTPUT_CHUNK,
    TOKEN_USAGE,
    TTFT,
    TPOT,
    CORRECTED_DURATION,
    TIME_TO_FIRST_ANSWER,
    CORRECTED_TTFT,
    REQUESTS_STARTED,
    REQUESTS,
    CONNECTIONS_OPENED,
    SLO_REQUESTS,
    IN_FLIGHT,
    CONCURRENCY_LIMIT,
    TARGET_RATE,
    PHASE,
    SCHEDULE_LAG,
    CLIENT_LAG,
    USERS_ACTIVE,
    TOKENS_OUTPUT,
    TOKENS_HIDDEN_REASONING,
    TOKENS_CACHED_INPUT,
    REQUEST_HIDDEN_REASONING,
    REQUEST_CACHED_INPUT,
    TPOT_UNDEFINED,
    DROPPED,
    STALLS,
    USAGE_MISSING,
    SESSIONS_IN_FLIGHT,
    SESSIONS_STARTED,
    CANARY_PROBES,
    CANARY_CHECK_FAILURES,
    CANARY_SUCCESS,
    CANARY_LAST_SUCCESS,
    CONFIG_RELOAD_OK,
    CONFIG_RELOAD_TIME,
    CONFIG_CHECKSUM,
    DISCREPANCY,
    GENERATED_INPUT,
    RUN_INFO,
    BUILD_INFO,
    RUN_START_TIME,
    RUN_PLANNED_END,
    RUN_SHARDS,
    RECOVERY,
    OTLP_EXPORT_FAILURES,
    PROBE_STATUS,
    PROBE_SUCCESS,
    PROBE_DURATION,
    SCRAPE_SUCCESS,
    SCRAPE_DURATION,
    SCRAPE_SERIES,
    PROCESS_MEMORY,
    PROCESS_VIRTUAL,
    PROCESS_CPU,
    PROCESS_THREADS,
    PROCESS_FDS,
    PROCESS_MAX_FDS,
    SYSTEM_CPU,
    SYSTEM_MEMORY,
    SYSTEM_MEMORY_LIMIT,
    SYSTEM_LOAD,
    TARGET_MEMORY,
    TARGET_VIRTUAL,
    TARGET_CPU,
    TARGET_THREADS,
    TARGET_FDS,
    TARGET_RESTARTS,
    GPU_UTILIZATION,
    GPU_MEMORY,
    GPU_MEMORY_LIMIT,
    GPU_POWER,
    GPU_ENERGY,
    GPU_TEMPERATURE,
    GPU_SM_CLOCK,
    BASELINE_TPOT,
    BASELINE_TTFT,
    BASELINE_SAMPLES,
];

/// A series on `/metrics` that is not one of llm-soak's instruments: (Prometheus name, type,
/// description).
pub type Series = (&'static str, &'static str, &'static str);

/// What else `/metrics` carries: the run's OpenTelemetry resource, which the Prometheus exporter
/// renders as `target_info`, and the `prometheus` crate's process collector (`process_*`, the
/// names every Prometheus client library uses; `process.memory.usage` and its siblings above are
/// their OTLP twins). A test checks each is exported and nothing else is.
pub const OTHER: &[Series] = &[
    (
        "target_info",
        "gauge",
        "Always 1; the run's resource as labels: service_name, service_version, service_instance_id (the run id), host_name, llmsoak_shard and the attributes of otlp.resource / OTEL_RESOURCE_ATTRIBUTES. Join on it to label any series by run or host.",
    ),
    (
        "process_cpu_seconds_total",
        "counter",
        "CPU time the llm-soak process used, user and system (the process collector).",
    ),
    (
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the llm-soak process (the process collector).",
    ),
    (
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory of the llm-soak process (the process collector).",
    ),
    (
        "process_open_fds",
        "gauge",
        "Open file descriptors of the llm-soak process (the process collector).",
    ),
    (
        "process_max_fds",
        "gauge",
        "The llm-soak process's file descriptor limit (the process collector).",
    ),
    (
        "process_threads",
        "gauge",
        "Threads of the llm-soak process (the process collector).",
    ),
    (
        "process_start_time_seconds",
        "gauge",
        "Unix time the llm-soak process started (the process collector).",
    ),
];

/// Drop reasons (label `reason` of `llmsoak_schedule_dropped_total`); the discriminants index
/// [`DropReason::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    MaxInFlight = 0,
    /// `load.max_sessions` multi-turn sessions were already in flight.
    MaxSessions,
    Budget,
    ShuttingDown,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::MaxInFlight,
        DropReason::MaxSessions,
        DropReason::Budget,
        DropReason::ShuttingDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MaxInFlight => "max_in_flight",
            DropReason::MaxSessions => "max_sessions",
            DropReason::Budget => "budget",
            DropReason::ShuttingDown => "shutting_down",
        }
    }

    /// Whether this drop means the offered load was not sent for want of capacity (the
    /// in-flight or sessions cap). A spent budget or a run shutting down is not a capacity
    /// drop: nothing was offered that the run meant to send, so it stays out of `dropped`,
    /// `drop_rate`, the drop gates and the client's self-check.
    pub fn is_capacity(self) -> bool {
        matches!(self, DropReason::MaxInFlight | DropReason::MaxSessions)
    }
}
