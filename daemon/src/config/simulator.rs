//! The `[simulator]` section: the built-in target's engine model, faults and degradations —
//! its plain data ([`SimConfig`] and its parts, which the simulator reads) and its checks. It may
//! stand alone in a file for `llm-soak simulate -c FILE`, or sit beside a daemon config.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::check::Check;
use super::forms::{addr, dur, dur0};

mod faults;
pub use faults::{FaultKind, FaultRule};

/// `required_headers = { name = "value" }`, names lowercased.
mod pairs {
    use super::*;
    use std::collections::BTreeMap;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect())
    }
    pub(super) fn serialize<S: Serializer>(
        pairs: &[(String, String)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
    }
}

/// An address that may be absent.
mod opt_addr {
    use super::*;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        addr::deserialize(d).map(Some)
    }
    pub(super) fn serialize<S: Serializer>(
        a: &Option<SocketAddr>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.collect_str(a),
            None => s.serialize_none(),
        }
    }
}

/// Everything `[simulator]` configures. Defaults resemble an 8B model on one mid-range GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    pub model: String,
    pub seed: u64,
    /// Sequences decoded concurrently; more wait in the queue.
    pub batch_capacity: usize,
    /// Fixed part of the time to first token.
    #[serde(with = "dur0")]
    pub prefill_base: Duration,
    /// Prefill time per uncached input token.
    #[serde(with = "dur0")]
    pub prefill_per_token: Duration,
    /// Decode step time with one running sequence.
    #[serde(with = "dur")]
    pub itl_base: Duration,
    /// Added to the decode step per additional running sequence.
    #[serde(with = "dur0")]
    pub itl_per_seq: Duration,
    /// Relative uniform jitter on every duration (0.05 = ±5 %).
    pub jitter: f64,
    /// KV cache size in tokens (prompt + generated, over running sequences).
    pub kv_cache_tokens: u64,
    pub prefix_block_tokens: usize,
    /// Prefix cache size in blocks (0 disables it).
    pub prefix_cache_blocks: usize,
    /// Output length when a request sets no `max_tokens`.
    pub default_max_tokens: u32,
    /// The context window `/v1/models` reports (`max_model_len`, as vLLM does).
    pub max_model_len: u32,
    /// Fraction of requests (without `ignore_eos`) that stop early at a seeded length.
    pub early_stop: f64,
    /// Simulated hours per real hour, for drift and per-minute leaks (60 = a minute is an hour).
    pub time_scale: f64,
    #[serde(with = "dur")]
    pub stall_for: Duration,
    #[serde(with = "dur")]
    pub slow_headers_delay: Duration,
    pub oversized_bytes: usize,
    /// Where `/metrics` also listens (a listener of its own; it is always on the API's
    /// listener too, as an engine serves it); `None`: only there.
    #[serde(with = "opt_addr", skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Whose `/metrics` the simulator plays: the engine's names, types, labels and bucket
    /// layouts (`vllm`, `sglang`, `llamacpp`, `tgi`).
    pub metrics_flavor: MetricsFlavor,
    pub leak: LeakParams,
    /// A request the client abandons (closes mid-way) never frees its KV cache: capacity
    /// shrinks, the queue grows and KV usage climbs with every abort — the leak an abort storm
    /// is sent to find.
    pub leak_on_abort: bool,
    /// After a simulated restart (`POST /control/restart`), every prefill and decode step is
    /// slower — 4x at once, back to normal linearly over this long (0: a restart costs nothing).
    #[serde(with = "dur0")]
    pub slow_recovery: Duration,
    pub drift: Drift,
    pub faults: Vec<FaultRule>,
    /// A reasoning model: the first `reasoning_tokens` of each chat answer are reasoning — streamed
    /// as `reasoning_content`, or (`reasoning_hidden`) generated without being streamed, as
    /// OpenAI's reasoning models do — and reported in `usage.completion_tokens_details`.
    pub reasoning_tokens: u32,
    pub reasoning_hidden: bool,
    /// Headers every OpenAI request must carry (e.g. `x-api-key`), or it gets a 401: a target
    /// that authenticates by a custom header.
    #[serde(with = "pairs", skip_serializing_if = "<[_]>::is_empty")]
    pub required_headers: Vec<(String, String)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            model: "llm-soak-sim".into(),
            seed: 0,
            batch_capacity: 32,
            prefill_base: Duration::from_millis(15),
            prefill_per_token: Duration::from_micros(100),
            itl_base: Duration::from_millis(20),
            itl_per_seq: Duration::from_micros(400),
            jitter: 0.0,
            kv_cache_tokens: 131_072,
            prefix_block_tokens: 16,
            prefix_cache_blocks: 8192,
            default_max_tokens: 256,
            max_model_len: 32_768,
            early_stop: 0.0,
            time_scale: 1.0,
            stall_for: Duration::from_secs(3600),
            slow_headers_delay: Duration::from_secs(5),
            oversized_bytes: 16 << 20,
            metrics_listen: None,
            metrics_flavor: MetricsFlavor::Vllm,
            leak: LeakParams::default(),
            leak_on_abort: false,
            slow_recovery: Duration::ZERO,
            drift: Drift::default(),
            faults: Vec::new(),
            reasoning_tokens: 0,
            reasoning_hidden: false,
            required_headers: Vec::new(),
        }
    }
}

/// The engine whose `/metrics` the simulator plays (`metrics_flavor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsFlavor {
    #[default]
    Vllm,
    Sglang,
    Llamacpp,
    Tgi,
}

/// Leak settings (`[simulator.leak]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakParams {
    pub bytes_per_request: u64,
    /// Per TCP connection accepted (connection churn finds it).
    pub bytes_per_connection: u64,
    /// Each connection's socket duplicated and never closed: one file descriptor per
    /// connection, for good.
    pub fd_per_connection: bool,
    pub bytes_per_minute: u64,
    /// Never hold more than this.
    pub max_bytes: u64,
}

impl Default for LeakParams {
    fn default() -> Self {
        LeakParams {
            bytes_per_request: 0,
            bytes_per_connection: 0,
            fd_per_connection: false,
            bytes_per_minute: 0,
            max_bytes: 1 << 30,
        }
    }
}

/// Latency drift (`[simulator.drift]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Drift {
    /// ITL grows by this fraction per (scaled) hour since start.
    pub itl_per_hour: f64,
}

/// The engine's part of `[simulator]`: what the batch model reads.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineParams {
    pub batch_capacity: usize,
    pub prefill_base: Duration,
    pub prefill_per_token: Duration,
    pub itl_base: Duration,
    pub itl_per_seq: Duration,
    pub jitter: f64,
    pub kv_cache_tokens: u64,
    pub prefix_block_tokens: usize,
    pub prefix_cache_blocks: usize,
    /// ITL grows by this fraction per (scaled) hour since start.
    pub drift_per_hour: f64,
    pub time_scale: f64,
    /// An abandoned sequence keeps its KV (`leak_on_abort`).
    pub leak_on_abort: bool,
    /// How long the engine is slow after a restart (`slow_recovery`).
    pub slow_recovery: Duration,
}

impl SimConfig {
    /// The engine model's parameters.
    pub fn engine(&self) -> EngineParams {
        EngineParams {
            batch_capacity: self.batch_capacity,
            prefill_base: self.prefill_base,
            prefill_per_token: self.prefill_per_token,
            itl_base: self.itl_base,
            itl_per_seq: self.itl_per_seq,
            jitter: self.jitter,
            kv_cache_tokens: self.kv_cache_tokens,
            prefix_block_tokens: self.prefix_block_tokens,
            prefix_cache_blocks: self.prefix_cache_blocks,
            drift_per_hour: self.drift.itl_per_hour,
            time_scale: self.time_scale,
            leak_on_abort: self.leak_on_abort,
            slow_recovery: self.slow_recovery,
        }
    }

    /// The ranges and the faults of `[simulator]`.
    pub(super) fn check(&self, c: &mut Check<'_>) {
        let at = |k: &str| format!("simulator.{k}");
        c.filled(&at("model"), &self.model);
        c.int_in(&at("seed"), self.seed, 0, i128::from(i64::MAX));
        for (key, v, lo, hi) in [
            ("batch_capacity", self.batch_capacity as i128, 1, 100_000),
            (
                "kv_cache_tokens",
                i128::from(self.kv_cache_tokens),
                1,
                i128::from(i64::MAX),
            ),
            (
                "prefix_block_tokens",
                self.prefix_block_tokens as i128,
                1,
                4096,
            ),
            (
                "prefix_cache_blocks",
                self.prefix_cache_blocks as i128,
                0,
                100_000_000,
            ),
            (
                "default_max_tokens",
                i128::from(self.default_max_tokens),
                1,
                1 << 20,
            ),
            ("max_model_len", i128::from(self.max_model_len), 16, 1 << 24),
            (
                "reasoning_tokens",
                i128::from(self.reasoning_tokens),
                0,
                1 << 20,
            ),
            ("oversized_bytes", self.oversized_bytes as i128, 1, 1 << 30),
            (
                "leak.bytes_per_request",
                i128::from(self.leak.bytes_per_request),
                0,
                1 << 30,
            ),
            (
                "leak.bytes_per_connection",
                i128::from(self.leak.bytes_per_connection),
                0,
                1 << 30,
            ),
            (
                "leak.bytes_per_minute",
                i128::from(self.leak.bytes_per_minute),
                0,
                1 << 34,
            ),
            (
                "leak.max_bytes",
                i128::from(self.leak.max_bytes),
                0,
                1 << 36,
            ),
        ] {
            c.int_in(&at(key), v, lo, hi);
        }
        for (key, v, lo, hi) in [
            ("jitter", self.jitter, 0.0, 1.0),
            ("early_stop", self.early_stop, 0.0, 1.0),
            ("time_scale", self.time_scale, 1e-3, 1e9),
            ("drift.itl_per_hour", self.drift.itl_per_hour, 0.0, 1e6),
        ] {
            c.float_in(&at(key), v, lo, true, hi);
        }
        for (name, value) in &self.required_headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                c.bad(
                    at(&format!("required_headers.{name}")),
                    "is not a valid header name and value",
                );
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            f.check(c, &at(&format!("faults[{i}]")));
        }
        let total: f64 = self.faults.iter().map(|r| r.rate).sum();
        if total > 1.0 + 1e-9 && c.fine("simulator.faults") {
            c.bad(
                "simulator.faults",
                format!("fault rates add up to {total} (> 1) while all are active"),
            );
        }
    }
}
