//! The server's side of every number: what an inference engine says about itself on its
//! `/metrics`. A scrape ([`scrape`]) reads the exposition off the hot path once a window, keeps
//! only the series a mapping table ([`map`], data: one file per engine, versioned by the
//! engine's release) names, and reduces them to one vocabulary ([`Hist`], [`Gauge`],
//! [`Counter`]) in a [`Snapshot`](snapshot::Snapshot); the windows between snapshots are
//! reduced as Prometheus would ([`window`]: counter resets, bucket deltas, `histogram_quantile`'s
//! interpolation, marked approximate with the bucket bounds a quantile falls between).

pub mod exposition;
pub mod map;
pub mod scrape;
pub mod snapshot;
pub mod window;

use serde::{Deserialize, Serialize};

/// A latency the server times itself, as a histogram (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hist {
    /// Arrival to first token.
    Ttft,
    /// Between tokens (per decode step; TGI: each request's mean time per token).
    Itl,
    /// Arrival to the last token.
    E2e,
    /// Waiting before the first schedule.
    Queue,
    /// Prefill, per request.
    Prefill,
    /// Decode, per request.
    Decode,
    /// Prefill and decode together (scheduled to finished).
    Inference,
}

impl Hist {
    pub const ALL: [Hist; 7] = [
        Hist::Ttft,
        Hist::Itl,
        Hist::E2e,
        Hist::Queue,
        Hist::Prefill,
        Hist::Decode,
        Hist::Inference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Hist::Ttft => "ttft",
            Hist::Itl => "itl",
            Hist::E2e => "e2e",
            Hist::Queue => "queue",
            Hist::Prefill => "prefill",
            Hist::Decode => "decode",
            Hist::Inference => "inference",
        }
    }
}

/// A level the server reports at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gauge {
    /// Requests being decoded (in the batch).
    Running,
    /// Requests queued for the batch.
    Waiting,
    /// KV cache in use, a fraction (the mean over the engine's ranks).
    KvUsage,
}

impl Gauge {
    pub const ALL: [Gauge; 3] = [Gauge::Running, Gauge::Waiting, Gauge::KvUsage];

    /// Whether ranks add up (requests) or are averaged (a usage fraction).
    pub fn summed(self) -> bool {
        !matches!(self, Gauge::KvUsage)
    }
}

/// A running total the server counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// Requests preempted (vLLM) or retracted (SGLang).
    Preemptions,
    /// Prompt tokens looked up in the prefix cache.
    PrefixQueries,
    /// …of which were found there.
    PrefixHits,
    PromptTokens,
    GenerationTokens,
    /// Requests finished (by finish reason where the engine labels it).
    Requests,
    /// Seconds spent in prefill, summed over requests (llama.cpp).
    PrefillSeconds,
    /// Seconds spent decoding, summed over requests (llama.cpp).
    DecodeSeconds,
}

impl Counter {
    pub const ALL: [Counter; 8] = [
        Counter::Preemptions,
        Counter::PrefixQueries,
        Counter::PrefixHits,
        Counter::PromptTokens,
        Counter::GenerationTokens,
        Counter::Requests,
        Counter::PrefillSeconds,
        Counter::DecodeSeconds,
    ];
}

impl Gauge {
    pub fn as_str(self) -> &'static str {
        match self {
            Gauge::Running => "running",
            Gauge::Waiting => "waiting",
            Gauge::KvUsage => "kv_usage",
        }
    }
}

impl Counter {
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Preemptions => "preemptions",
            Counter::PrefixQueries => "prefix_queries",
            Counter::PrefixHits => "prefix_hits",
            Counter::PromptTokens => "prompt_tokens",
            Counter::GenerationTokens => "generation_tokens",
            Counter::Requests => "requests",
            Counter::PrefillSeconds => "prefill_seconds",
            Counter::DecodeSeconds => "decode_seconds",
        }
    }
}
