//! The catalogue's load instruments (DESIGN §5): what the schedule offers and how the client
//! keeps up — in flight, the concurrency limit, the target rate and phase, schedule lag and the
//! client's own lag, closed-loop users, token counts by source, drops, stalls and sessions.

use super::Kind::{Counter, Gauge, Histogram};
use super::{Instrument, LAG_BUCKETS, REQUEST_LABELS, TOKEN_BUCKETS, inst};

/// The client's own lag (seconds): from a socket becoming readable to the read's timestamp.
pub const CLIENT_LAG_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

pub const IN_FLIGHT: Instrument = inst(
    "llmsoak.requests.in_flight",
    "llmsoak_requests_in_flight",
    Gauge,
    "{request}",
    "Requests started and not yet finished.",
    &[],
    &[],
);
pub const CONCURRENCY_LIMIT: Instrument = inst(
    "llmsoak.concurrency.limit",
    "llmsoak_concurrency_limit",
    Gauge,
    "{request}",
    "The in-flight limit of an open-loop run (load.max_in_flight), beyond which arrivals are dropped and counted; 0 in a closed loop, whose concurrency is its users (llmsoak_users_active).",
    &[],
    &[],
);
pub const TARGET_RATE: Instrument = inst(
    "llmsoak.schedule.target_rate",
    "llmsoak_schedule_target_rate_per_second",
    Gauge,
    "{request}/s",
    "Offered arrival rate of the load shape right now, in requests per second.",
    &[],
    &[],
);
pub const PHASE: Instrument = inst(
    "llmsoak.schedule.phase",
    "llmsoak_schedule_phase",
    Gauge,
    "",
    "Index of the current load phase (0-based; -1 after the last phase ended).",
    &[],
    &[],
);
pub const SCHEDULE_LAG: Instrument = inst(
    "llmsoak.schedule.lag",
    "llmsoak_schedule_lag_seconds",
    Histogram,
    "s",
    "Schedule lag of open-loop arrivals: when the dispatcher sent each one minus when the schedule wanted it; growth means the client, not the server, is late.",
    LAG_BUCKETS,
    &[],
);
pub const USERS_ACTIVE: Instrument = inst(
    "llmsoak.users.active",
    "llmsoak_users_active",
    Gauge,
    "{user}",
    "Closed-loop users active now (the closed loop's concurrency); 0 in an open-loop run.",
    &[],
    &[],
);
pub const TOKENS_OUTPUT: Instrument = inst(
    "llmsoak.tokens.output",
    "llmsoak_tokens_output_total",
    Counter,
    "{token}",
    "Output tokens streamed by successful requests (N: server usage less reasoning it never streamed, else the tokenizer, else the events), by where the count came from (llmsoak_token_source: usage, tokenizer, events).",
    &[],
    labels!(R + "llmsoak.token.source"),
);
pub const TOKENS_HIDDEN_REASONING: Instrument = inst(
    "llmsoak.tokens.hidden_reasoning",
    "llmsoak_tokens_hidden_reasoning_total",
    Counter,
    "{token}",
    "Reasoning tokens the server reported (usage.completion_tokens_details.reasoning_tokens) but never streamed; excluded from N, TPOT and output tokens/s.",
    &[],
    labels!(R),
);
pub const TOKENS_CACHED_INPUT: Instrument = inst(
    "llmsoak.tokens.cached_input",
    "llmsoak_tokens_cached_input_total",
    Counter,
    "{token}",
    "Prompt tokens the server reported served from its prefix cache (usage.prompt_tokens_details.cached_tokens).",
    &[],
    labels!(R),
);
pub const REQUEST_HIDDEN_REASONING: Instrument = inst(
    "llmsoak.request.hidden_reasoning_tokens",
    "llmsoak_request_hidden_reasoning_tokens",
    Histogram,
    "{token}",
    "Reasoning tokens generated but not streamed, per successful request whose server reports reasoning tokens.",
    TOKEN_BUCKETS,
    labels!(R),
);
pub const REQUEST_CACHED_INPUT: Instrument = inst(
    "llmsoak.request.cached_input_tokens",
    "llmsoak_request_cached_input_tokens",
    Histogram,
    "{token}",
    "Prompt tokens served from the server's prefix cache, per successful request whose server reports them.",
    TOKEN_BUCKETS,
    labels!(R),
);
pub const TPOT_UNDEFINED: Instrument = inst(
    "llmsoak.requests.tpot_undefined",
    "llmsoak_requests_tpot_undefined_total",
    Counter,
    "{request}",
    "Successful requests without a TPOT: fewer than two output tokens, or all of them in one event (a buffering proxy); never recorded as 0.",
    &[],
    labels!(R),
);
pub const DROPPED: Instrument = inst(
    "llmsoak.schedule.dropped",
    "llmsoak_schedule_dropped_total",
    Counter,
    "{request}",
    "Arrivals (and follow-up turns) not sent, by reason (max_in_flight, max_sessions, budget, shutting_down); never queued.",
    &[],
    &["reason"],
);
pub const STALLS: Instrument = inst(
    "llmsoak.stream.stalls",
    "llmsoak_stream_stalls_total",
    Counter,
    "{stall}",
    "Gaps between stream events longer than the target's stall_threshold.",
    &[],
    labels!(R),
);
pub const USAGE_MISSING: Instrument = inst(
    "llmsoak.tokens.usage_missing",
    "llmsoak_tokens_usage_missing_total",
    Counter,
    "{request}",
    "Finished streams without a usage object (output tokens then come from the tokenizer).",
    &[],
    labels!(R),
);
pub const SESSIONS_IN_FLIGHT: Instrument = inst(
    "llmsoak.sessions.in_flight",
    "llmsoak_sessions_in_flight",
    Gauge,
    "{session}",
    "Multi-turn sessions started and not yet ended (bounded by load.max_sessions).",
    &[],
    &[],
);
pub const SESSIONS_STARTED: Instrument = inst(
    "llmsoak.sessions.started",
    "llmsoak_sessions_started_total",
    Counter,
    "{session}",
    "Multi-turn sessions started; each turn is also a request in llmsoak_requests_started_total.",
    &[],
    &[],
);
pub const CLIENT_LAG: Instrument = inst(
    "llmsoak.client.lag",
    "llmsoak_client_lag_seconds",
    Histogram,
    "s",
    "The client's own lag: from a probe socket becoming readable to the runtime timestamping the read, the same path every chunk timestamp takes; its p99 bounds how late chunk timestamps can be.",
    CLIENT_LAG_BUCKETS,
    &[],
);
