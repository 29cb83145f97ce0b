//! The `[simulator]` section: the built-in target's engine model, faults and degradations —
//! its plain data ([`SimConfig`] and its parts, which the simulator reads) and the walk that
//! builds it (every problem reported with its path). It may stand alone in a file for
//! `llm-soak simulate -c FILE`, or sit beside a daemon config.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::ser_duration;
use super::walk::{Tbl, Val, Walk};

mod faults;
use faults::fault;
pub use faults::{FaultKind, FaultRule};

fn ser_pairs<S: Serializer>(pairs: &&[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Everything `[simulator]` configures. Defaults resemble an 8B model on one mid-range GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub model: String,
    pub seed: u64,
    pub engine: EngineParams,
    /// Output length when a request sets no `max_tokens`.
    pub default_max_tokens: u32,
    /// Fraction of requests (without `ignore_eos`) that stop early at a seeded length.
    pub early_stop: f64,
    pub stall_for: Duration,
    pub slow_headers_delay: Duration,
    pub oversized_bytes: usize,
    /// Where the vLLM-style `/metrics` listens (its own listener); `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
    pub leak: LeakParams,
    pub faults: Vec<FaultRule>,
    /// A reasoning model: the first `reasoning_tokens` of each chat answer are reasoning — streamed
    /// as `reasoning_content`, or (`reasoning_hidden`) generated without being streamed, as
    /// OpenAI's reasoning models do — and reported in `usage.completion_tokens_details`.
    pub reasoning_tokens: u32,
    pub reasoning_hidden: bool,
    /// Headers every OpenAI request must carry (e.g. `x-api-key`), or it gets a 401: a target
    /// that authenticates by a custom header.
    pub required_headers: Vec<(String, String)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            model: "llm-soak-sim".into(),
            seed: 0,
            engine: EngineParams {
                batch_capacity: 32,
                prefill_base: Duration::from_millis(15),
                prefill_per_token: Duration::from_micros(100),
                itl_base: Duration::from_millis(20),
                itl_per_seq: Duration::from_micros(400),
                jitter: 0.0,
                kv_cache_tokens: 131_072,
                prefix_block_tokens: 16,
                prefix_cache_blocks: 8192,
                drift_per_hour: 0.0,
                time_scale: 1.0,
            },
            default_max_tokens: 256,
            early_stop: 0.0,
            stall_for: Duration::from_secs(3600),
            slow_headers_delay: Duration::from_secs(5),
            oversized_bytes: 16 << 20,
            metrics_listen: None,
            leak: LeakParams {
                max_bytes: 1 << 30,
                ..LeakParams::default()
            },
            faults: Vec::new(),
            reasoning_tokens: 0,
            reasoning_hidden: false,
            required_headers: Vec::new(),
        }
    }
}

/// Leak settings (`[simulator.leak]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LeakParams {
    pub bytes_per_request: u64,
    pub bytes_per_minute: u64,
    /// Never hold more than this.
    pub max_bytes: u64,
}

/// Engine parameters (the timing part of `[simulator]`).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineParams {
    /// Sequences decoded concurrently; more wait in the queue.
    pub batch_capacity: usize,
    /// Fixed part of the time to first token.
    pub prefill_base: Duration,
    /// Prefill time per uncached input token.
    pub prefill_per_token: Duration,
    /// Decode step time with one running sequence.
    pub itl_base: Duration,
    /// Added to the decode step per additional running sequence.
    pub itl_per_seq: Duration,
    /// Relative uniform jitter on every duration (0.05 = ±5 %).
    pub jitter: f64,
    /// KV cache size in tokens (prompt + generated, over running sequences).
    pub kv_cache_tokens: u64,
    pub prefix_block_tokens: usize,
    /// Prefix cache size in blocks (0 disables it).
    pub prefix_cache_blocks: usize,
    /// ITL grows by this fraction per (scaled) hour since start.
    pub drift_per_hour: f64,
    /// Simulated hours per real hour, for drift and per-minute leaks (60 = a minute is an hour).
    pub time_scale: f64,
}

/// The effective `[simulator]` section, in the keys and units of the config file (what
/// `print-config` shows, and what reads back as the same section).
impl Serialize for SimConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Drift {
            itl_per_hour: f64,
        }
        #[derive(Serialize)]
        struct View<'a> {
            model: &'a str,
            seed: u64,
            batch_capacity: usize,
            #[serde(serialize_with = "ser_duration")]
            prefill_base: Duration,
            #[serde(serialize_with = "ser_duration")]
            prefill_per_token: Duration,
            #[serde(serialize_with = "ser_duration")]
            itl_base: Duration,
            #[serde(serialize_with = "ser_duration")]
            itl_per_seq: Duration,
            jitter: f64,
            kv_cache_tokens: u64,
            prefix_block_tokens: usize,
            prefix_cache_blocks: usize,
            default_max_tokens: u32,
            early_stop: f64,
            time_scale: f64,
            #[serde(serialize_with = "ser_duration")]
            stall_for: Duration,
            #[serde(serialize_with = "ser_duration")]
            slow_headers_delay: Duration,
            oversized_bytes: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics_listen: Option<SocketAddr>,
            leak: LeakParams,
            drift: Drift,
            faults: &'a [FaultRule],
            reasoning_tokens: u32,
            reasoning_hidden: bool,
            #[serde(serialize_with = "ser_pairs", skip_serializing_if = "<[_]>::is_empty")]
            required_headers: &'a [(String, String)],
        }
        let e = &self.engine;
        View {
            model: &self.model,
            seed: self.seed,
            batch_capacity: e.batch_capacity,
            prefill_base: e.prefill_base,
            prefill_per_token: e.prefill_per_token,
            itl_base: e.itl_base,
            itl_per_seq: e.itl_per_seq,
            jitter: e.jitter,
            kv_cache_tokens: e.kv_cache_tokens,
            prefix_block_tokens: e.prefix_block_tokens,
            prefix_cache_blocks: e.prefix_cache_blocks,
            default_max_tokens: self.default_max_tokens,
            early_stop: self.early_stop,
            time_scale: e.time_scale,
            stall_for: self.stall_for,
            slow_headers_delay: self.slow_headers_delay,
            oversized_bytes: self.oversized_bytes,
            metrics_listen: self.metrics_listen,
            leak: self.leak,
            drift: Drift {
                itl_per_hour: e.drift_per_hour,
            },
            faults: &self.faults,
            reasoning_tokens: self.reasoning_tokens,
            reasoning_hidden: self.reasoning_hidden,
            required_headers: &self.required_headers,
        }
        .serialize(s)
    }
}

const KEYS: &[&str] = &[
    "model",
    "seed",
    "batch_capacity",
    "prefill_base",
    "prefill_per_token",
    "itl_base",
    "itl_per_seq",
    "jitter",
    "kv_cache_tokens",
    "prefix_block_tokens",
    "prefix_cache_blocks",
    "default_max_tokens",
    "early_stop",
    "stall_for",
    "slow_headers_delay",
    "oversized_bytes",
    "time_scale",
    "metrics_listen",
    "leak",
    "drift",
    "faults",
    "reasoning_tokens",
    "reasoning_hidden",
    "required_headers",
];

fn dur(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    slot: &mut Duration,
    zero_ok: bool,
) -> bool {
    match t.get(key) {
        None => true,
        Some(v) => match if zero_ok {
            v.duration_or_zero(w)
        } else {
            v.duration(w)
        } {
            Some(d) => {
                *slot = d;
                true
            }
            None => false,
        },
    }
}

fn int<T: TryFrom<i64>>(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    min: i64,
    max: i64,
    slot: &mut T,
) -> bool {
    match t.get(key).map(|v| v.int_in(w, min, max)) {
        None => true,
        Some(Some(n)) => match T::try_from(n) {
            Ok(n) => {
                *slot = n;
                true
            }
            Err(_) => false,
        },
        Some(None) => false,
    }
}

fn float(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    lo: f64,
    hi: f64,
    slot: &mut f64,
) -> bool {
    match t.get(key).map(|v| v.float_in(w, lo, true, hi)) {
        None => true,
        Some(Some(x)) => {
            *slot = x;
            true
        }
        Some(None) => false,
    }
}

/// Walk a `[simulator]` table over the defaults.
pub fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SimConfig> {
    let mut t = v.table(w)?;
    let mut c = SimConfig::default();
    let mut ok = true;
    if let Some(m) = t.get("model") {
        match m.str(w) {
            Some(s) if !s.is_empty() => c.model = s.to_string(),
            Some(_) => {
                m.bad(w, "must not be empty");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok &= int(w, &mut t, "seed", 0, i64::MAX, &mut c.seed);
    ok &= int(
        w,
        &mut t,
        "batch_capacity",
        1,
        100_000,
        &mut c.engine.batch_capacity,
    );
    ok &= dur(w, &mut t, "prefill_base", &mut c.engine.prefill_base, true);
    ok &= dur(
        w,
        &mut t,
        "prefill_per_token",
        &mut c.engine.prefill_per_token,
        true,
    );
    ok &= dur(w, &mut t, "itl_base", &mut c.engine.itl_base, false);
    ok &= dur(w, &mut t, "itl_per_seq", &mut c.engine.itl_per_seq, true);
    ok &= float(w, &mut t, "jitter", 0.0, 1.0, &mut c.engine.jitter);
    ok &= int(
        w,
        &mut t,
        "kv_cache_tokens",
        1,
        i64::MAX,
        &mut c.engine.kv_cache_tokens,
    );
    ok &= int(
        w,
        &mut t,
        "prefix_block_tokens",
        1,
        4096,
        &mut c.engine.prefix_block_tokens,
    );
    ok &= int(
        w,
        &mut t,
        "prefix_cache_blocks",
        0,
        100_000_000,
        &mut c.engine.prefix_cache_blocks,
    );
    ok &= int(
        w,
        &mut t,
        "default_max_tokens",
        1,
        1 << 20,
        &mut c.default_max_tokens,
    );
    ok &= float(w, &mut t, "early_stop", 0.0, 1.0, &mut c.early_stop);
    ok &= int(
        w,
        &mut t,
        "reasoning_tokens",
        0,
        1 << 20,
        &mut c.reasoning_tokens,
    );
    if let Some(v) = t.get("reasoning_hidden") {
        match v.bool(w) {
            Some(b) => c.reasoning_hidden = b,
            None => ok = false,
        }
    }
    ok &= dur(w, &mut t, "stall_for", &mut c.stall_for, false);
    ok &= dur(
        w,
        &mut t,
        "slow_headers_delay",
        &mut c.slow_headers_delay,
        false,
    );
    ok &= int(
        w,
        &mut t,
        "oversized_bytes",
        1,
        1 << 30,
        &mut c.oversized_bytes,
    );
    ok &= float(w, &mut t, "time_scale", 1e-3, 1e9, &mut c.engine.time_scale);
    if let Some(m) = t.get("metrics_listen") {
        match m.str(w).map(|s| (s, s.parse())) {
            Some((_, Ok(a))) => c.metrics_listen = Some(a),
            Some((s, Err(_))) => {
                m.bad(
                    w,
                    format!("must be an IP:port address such as \"127.0.0.1:8001\" (got {s:?})"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(l) = t.get("leak") {
        match l.table(w) {
            Some(mut lt) => {
                let mut p = LeakParams {
                    max_bytes: 1 << 30,
                    ..LeakParams::default()
                };
                ok &= int(
                    w,
                    &mut lt,
                    "bytes_per_request",
                    0,
                    1 << 30,
                    &mut p.bytes_per_request,
                );
                ok &= int(
                    w,
                    &mut lt,
                    "bytes_per_minute",
                    0,
                    1 << 34,
                    &mut p.bytes_per_minute,
                );
                ok &= int(w, &mut lt, "max_bytes", 0, 1 << 36, &mut p.max_bytes);
                lt.finish(
                    w,
                    &["bytes_per_request", "bytes_per_minute", "max_bytes"],
                    |_| None,
                );
                c.leak = p;
            }
            None => ok = false,
        }
    }
    if let Some(d) = t.get("drift") {
        match d.table(w) {
            Some(mut dt) => {
                ok &= float(
                    w,
                    &mut dt,
                    "itl_per_hour",
                    0.0,
                    1e6,
                    &mut c.engine.drift_per_hour,
                );
                dt.finish(w, &["itl_per_hour"], |_| None);
            }
            None => ok = false,
        }
    }
    if let Some(f) = t.get("faults") {
        match f.array(w) {
            Some(items) => {
                for item in &items {
                    match fault(w, item) {
                        Some(rule) => c.faults.push(rule),
                        None => ok = false,
                    }
                }
                let total: f64 = c.faults.iter().map(|r| r.rate).sum();
                if total > 1.0 + 1e-9 {
                    f.bad(
                        w,
                        format!("fault rates add up to {total} (> 1) while all are active"),
                    );
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    if let Some(h) = t.get("required_headers") {
        match h.table(w) {
            Some(mut ht) => {
                for (name, val) in ht.entries() {
                    match val.str(w) {
                        Some(v)
                            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                                && reqwest::header::HeaderValue::from_str(v).is_ok() =>
                        {
                            c.required_headers
                                .push((name.to_ascii_lowercase(), v.to_string()));
                        }
                        Some(_) => {
                            val.bad(w, "is not a valid header name and value");
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                ht.finish(w, &[], |_| None);
            }
            None => ok = false,
        }
    }
    t.finish(w, KEYS, |_| None);
    ok.then_some(c)
}
