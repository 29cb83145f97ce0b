//! The simulator's own server-side metrics, as the engine it plays (`metrics_flavor`) exports
//! them — vLLM's, SGLang's, llama.cpp's or TGI's names, types, labels and bucket layouts, read
//! from each engine's source (the releases `engine::map` names) and written down here on their
//! own, so a mapping table is checked against them, never against itself. A registry of their
//! own, served at `/metrics` on the API's listener as an engine serves it (and on
//! `metrics_listen` when set), never mixed into the daemon's `/metrics` (the `vllm:` names carry
//! a colon, which promtool's lint warns about for client metrics). `POST /control/restart`
//! zeroes every series, as an engine restart does.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus::{CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry};

use super::engine::Engine;
use crate::config::simulator::MetricsFlavor;

/// vLLM's TTFT buckets (vllm/v1/metrics/loggers.py).
const VLLM_TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's inter-token buckets.
const VLLM_ITL: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's request-latency buckets: e2e, queue, prefill, decode and inference alike (coarse:
/// nothing below 0.3 s).
const VLLM_REQUEST: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
/// SGLang's (python/sglang/srt/metrics/collector.py).
const SGLANG_TTFT: &[f64] = &[
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
    400.0,
];
const SGLANG_ITL: &[f64] = &[
    0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.060, 0.080,
    0.100, 0.200, 0.400, 0.600, 0.800, 1.000, 2.000, 4.000, 6.000, 8.000,
];
const SGLANG_E2E: &[f64] = &[
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
    400.0, 600.0, 1200.0, 1800.0, 2400.0,
];
const SGLANG_QUEUE: &[f64] = &[
    0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0,
    80.0, 90.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 1200.0,
    1400.0, 1600.0, 1800.0, 2000.0, 2500.0, 3000.0,
];

/// TGI's duration buckets (router/src/server.rs): 0.0001 × 1.5^k, k = 0..35.
fn tgi_duration() -> Vec<f64> {
    (0..35).map(|k| 0.0001 * 1.5f64.powi(k)).collect()
}

/// TGI's token-length buckets: twenty even steps up to the longest input (here 4096).
fn tgi_tokens() -> Vec<f64> {
    (1..=20).map(|k| 4096.0 / 20.0 * f64::from(k)).collect()
}

/// What a request's end gives each histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H {
    Ttft,
    /// Each gap between streamed tokens.
    Itl,
    E2e,
    Queue,
    Prefill,
    Decode,
    Inference,
    /// The request's mean time per output token (TGI).
    MeanPerToken,
    InputTokens,
    GeneratedTokens,
}

/// What each counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum C {
    Prompt,
    Generation,
    /// Finished requests (labelled by finish reason where `reason` is set).
    Requests,
    PrefillSeconds,
    DecodeSeconds,
    /// From the engine model's own counts, caught up at each scrape.
    PrefixQueries,
    PrefixHits,
    Preemptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G {
    Running,
    Waiting,
    KvUsage,
}

/// One engine's series: (what, name, help) and, for histograms, the buckets.
struct Layout {
    labels: &'static [&'static str],
    /// The label of `C::Requests` carrying the finish reason.
    reason: Option<&'static str>,
    hists: Vec<(H, &'static str, &'static str, Vec<f64>)>,
    counters: Vec<(C, &'static str, &'static str)>,
    gauges: Vec<(G, &'static str, &'static str)>,
}

fn layout(flavor: MetricsFlavor) -> Layout {
    match flavor {
        MetricsFlavor::Vllm => Layout {
            labels: &["model_name"],
            reason: Some("finished_reason"),
            hists: vec![
                (
                    H::Ttft,
                    "vllm:time_to_first_token_seconds",
                    "Histogram of time to first token in seconds.",
                    VLLM_TTFT.to_vec(),
                ),
                (
                    H::Itl,
                    "vllm:inter_token_latency_seconds",
                    "Histogram of inter-token latency in seconds.",
                    VLLM_ITL.to_vec(),
                ),
                (
                    H::E2e,
                    "vllm:e2e_request_latency_seconds",
                    "Histogram of e2e request latency in seconds.",
                    VLLM_REQUEST.to_vec(),
                ),
                (
                    H::Queue,
                    "vllm:request_queue_time_seconds",
                    "Histogram of time spent in WAITING phase for request.",
                    VLLM_REQUEST.to_vec(),
                ),
                (
                    H::Prefill,
                    "vllm:request_prefill_time_seconds",
                    "Histogram of time spent in PREFILL phase for request.",
                    VLLM_REQUEST.to_vec(),
                ),
                (
                    H::Decode,
                    "vllm:request_decode_time_seconds",
                    "Histogram of time spent in DECODE phase for request.",
                    VLLM_REQUEST.to_vec(),
                ),
                (
                    H::Inference,
                    "vllm:request_inference_time_seconds",
                    "Histogram of time spent in RUNNING phase for request.",
                    VLLM_REQUEST.to_vec(),
                ),
            ],
            counters: vec![
                (
                    C::PrefixQueries,
                    "vllm:prefix_cache_queries_total",
                    "Prefix cache queries, in terms of number of queried tokens.",
                ),
                (
                    C::PrefixHits,
                    "vllm:prefix_cache_hits_total",
                    "Prefix cache hits, in terms of number of cached tokens.",
                ),
                (
                    C::Preemptions,
                    "vllm:num_preemptions_total",
                    "Cumulative number of preemption from the engine.",
                ),
                (
                    C::Prompt,
                    "vllm:prompt_tokens_total",
                    "Number of prefill tokens processed.",
                ),
                (
                    C::Generation,
                    "vllm:generation_tokens_total",
                    "Number of generation tokens processed.",
                ),
                (
                    C::Requests,
                    "vllm:request_success_total",
                    "Count of successfully processed requests.",
                ),
            ],
            gauges: vec![
                (
                    G::Running,
                    "vllm:num_requests_running",
                    "Number of requests in model execution batches.",
                ),
                (
                    G::Waiting,
                    "vllm:num_requests_waiting",
                    "Number of requests waiting to be processed.",
                ),
                (
                    G::KvUsage,
                    "vllm:kv_cache_usage_perc",
                    "KV-cache usage. 1 means 100 percent usage.",
                ),
            ],
        },
        MetricsFlavor::Sglang => Layout {
            labels: &["model_name"],
            reason: None,
            hists: vec![
                (
                    H::Ttft,
                    "sglang:time_to_first_token_seconds",
                    "Histogram of time to first token in seconds.",
                    SGLANG_TTFT.to_vec(),
                ),
                (
                    H::Itl,
                    "sglang:inter_token_latency_seconds",
                    "Histogram of inter-token latency in seconds.",
                    SGLANG_ITL.to_vec(),
                ),
                (
                    H::E2e,
                    "sglang:e2e_request_latency_seconds",
                    "Histogram of End-to-end request latency in seconds",
                    SGLANG_E2E.to_vec(),
                ),
                (
                    H::Queue,
                    "sglang:queue_time_seconds",
                    "Histogram of queueing time in seconds.",
                    SGLANG_QUEUE.to_vec(),
                ),
            ],
            counters: vec![
                (
                    C::Prompt,
                    "sglang:prompt_tokens_total",
                    "Number of prefill tokens processed.",
                ),
                (
                    C::Generation,
                    "sglang:generation_tokens_total",
                    "Number of generation tokens processed.",
                ),
                (
                    C::PrefixHits,
                    "sglang:cached_tokens_total",
                    "Number of cached prompt tokens.",
                ),
                (
                    C::Requests,
                    "sglang:num_requests_total",
                    "Number of requests processed.",
                ),
                (
                    C::Preemptions,
                    "sglang:num_retracted_requests_total",
                    "Total number of retracted requests.",
                ),
            ],
            gauges: vec![
                (
                    G::Running,
                    "sglang:num_running_reqs",
                    "The number of running requests.",
                ),
                (
                    G::Waiting,
                    "sglang:num_queue_reqs",
                    "The number of requests in the waiting queue.",
                ),
                (G::KvUsage, "sglang:token_usage", "The token usage."),
            ],
        },
        // Counters and gauges only; the KV usage ratio is gone from recent releases.
        MetricsFlavor::Llamacpp => Layout {
            labels: &[],
            reason: None,
            hists: vec![],
            counters: vec![
                (
                    C::Prompt,
                    "llamacpp:prompt_tokens_total",
                    "Number of prompt tokens processed.",
                ),
                (
                    C::PrefillSeconds,
                    "llamacpp:prompt_seconds_total",
                    "Prompt process time",
                ),
                (
                    C::Generation,
                    "llamacpp:tokens_predicted_total",
                    "Number of generation tokens processed.",
                ),
                (
                    C::DecodeSeconds,
                    "llamacpp:tokens_predicted_seconds_total",
                    "Predict process time",
                ),
            ],
            gauges: vec![
                (
                    G::Running,
                    "llamacpp:requests_processing",
                    "Number of requests processing.",
                ),
                (
                    G::Waiting,
                    "llamacpp:requests_deferred",
                    "Number of requests deferred.",
                ),
            ],
        },
        MetricsFlavor::Tgi => Layout {
            labels: &[],
            reason: None,
            hists: vec![
                (
                    H::E2e,
                    "tgi_request_duration",
                    "Request duration",
                    tgi_duration(),
                ),
                (
                    H::Queue,
                    "tgi_request_queue_duration",
                    "Queue duration",
                    tgi_duration(),
                ),
                (
                    H::Inference,
                    "tgi_request_inference_duration",
                    "Inference duration",
                    tgi_duration(),
                ),
                (
                    H::MeanPerToken,
                    "tgi_request_mean_time_per_token_duration",
                    "Mean time per token",
                    tgi_duration(),
                ),
                (
                    H::InputTokens,
                    "tgi_request_input_length",
                    "Input length",
                    tgi_tokens(),
                ),
                (
                    H::GeneratedTokens,
                    "tgi_request_generated_tokens",
                    "Generated tokens",
                    tgi_tokens(),
                ),
            ],
            counters: vec![(C::Requests, "tgi_request_success", "Successful requests")],
            gauges: vec![
                (G::Running, "tgi_batch_current_size", "Current batch size"),
                (G::Waiting, "tgi_queue_size", "Queue size"),
            ],
        },
    }
}

/// What one request's end gives the metrics (seconds).
#[derive(Debug, Clone, Default)]
pub struct Finished<'a> {
    pub completed: bool,
    pub ttft: Option<f64>,
    pub gaps: &'a [f64],
    pub e2e: f64,
    pub queue: Option<f64>,
    pub prefill: Option<f64>,
    pub decode: Option<f64>,
    pub prompt_tokens: u64,
    pub tokens: u32,
}

/// One simulated engine's metrics.
#[derive(Debug)]
pub struct EngineMetrics {
    flavor: MetricsFlavor,
    registry: Registry,
    model: String,
    reason: bool,
    hists: Vec<(H, HistogramVec)>,
    counters: Vec<(C, CounterVec)>,
    gauges: Vec<(G, GaugeVec)>,
    /// The engine model's counts at the last restart (its counters start again from there).
    since_restart: [AtomicU64; 3],
}

impl EngineMetrics {
    pub fn new(flavor: MetricsFlavor, model: &str) -> Result<Self, prometheus::Error> {
        let l = layout(flavor);
        let registry = Registry::new();
        let labels: Vec<&str> = l.labels.to_vec();
        let mut hists = Vec::new();
        for (h, name, help, buckets) in l.hists {
            let v = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &labels)?;
            registry.register(Box::new(v.clone()))?;
            hists.push((h, v));
        }
        let mut counters = Vec::new();
        for (c, name, help) in l.counters {
            let mut names = labels.clone();
            if let (C::Requests, Some(r)) = (c, l.reason) {
                names.push(r);
            }
            let v = CounterVec::new(Opts::new(name, help), &names)?;
            registry.register(Box::new(v.clone()))?;
            counters.push((c, v));
        }
        let mut gauges = Vec::new();
        for (g, name, help) in l.gauges {
            let v = GaugeVec::new(Opts::new(name, help), &labels)?;
            registry.register(Box::new(v.clone()))?;
            gauges.push((g, v));
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let m = EngineMetrics {
            flavor,
            registry,
            model: model.to_string(),
            reason: l.reason.is_some(),
            hists,
            counters,
            gauges,
            since_restart: Default::default(),
        };
        m.zero();
        Ok(m)
    }

    /// The label values of a series (the model where the engine labels it).
    fn values(&self) -> Vec<&str> {
        match self.flavor {
            MetricsFlavor::Vllm | MetricsFlavor::Sglang => vec![self.model.as_str()],
            MetricsFlavor::Llamacpp | MetricsFlavor::Tgi => Vec::new(),
        }
    }

    /// The series exist from the start, at zero (as the engines' labelled ones do).
    fn zero(&self) {
        let v = self.values();
        for (c, vec) in &self.counters {
            if *c == C::Requests && self.reason {
                for reason in ["stop", "length", "abort"] {
                    let mut l = v.clone();
                    l.push(reason);
                    vec.with_label_values(&l).inc_by(0.0);
                }
                continue;
            }
            vec.with_label_values(&v).inc_by(0.0);
        }
        for (_, vec) in &self.hists {
            let _ = vec.with_label_values(&v);
        }
    }

    /// Observe `values` in histogram `h`, if the engine has it (its labelled child looked up
    /// once, however many values: a request's token gaps are one call).
    fn hist(&self, h: H, values: &[f64]) {
        if let Some((_, v)) = self.hists.iter().find(|(k, _)| *k == h) {
            let child = v.with_label_values(&self.values());
            for x in values {
                child.observe(*x);
            }
        }
    }

    fn count(&self, c: C, by: f64, reason: &str) {
        for (k, v) in &self.counters {
            if *k == c {
                let mut l = self.values();
                if c == C::Requests && self.reason {
                    l.push(reason);
                }
                v.with_label_values(&l).inc_by(by);
            }
        }
    }

    /// A request ended: its latencies (completed requests only, as the engines record them)
    /// and its counts.
    pub fn finished(&self, f: &Finished<'_>) {
        let tgi = self.flavor == MetricsFlavor::Tgi;
        if !tgi || f.completed {
            self.count(C::Prompt, f.prompt_tokens as f64, "");
            self.count(C::Generation, f64::from(f.tokens), "");
            self.count(C::Requests, 1.0, if f.completed { "stop" } else { "abort" });
            if let Some(p) = f.prefill {
                self.count(C::PrefillSeconds, p, "");
            }
            if let Some(d) = f.decode {
                self.count(C::DecodeSeconds, d, "");
            }
        }
        if !f.completed {
            return;
        }
        if let Some(t) = f.ttft {
            self.hist(H::Ttft, &[t]);
        }
        self.hist(H::Itl, f.gaps);
        self.hist(H::E2e, &[f.e2e]);
        let parts = [
            (H::Queue, f.queue),
            (H::Prefill, f.prefill),
            (H::Decode, f.decode),
        ];
        for (h, v) in parts {
            if let Some(v) = v {
                self.hist(h, &[v]);
            }
        }
        if let (Some(p), Some(d)) = (f.prefill, f.decode) {
            self.hist(H::Inference, &[p + d]);
        }
        if let Some(d) = f.decode.filter(|_| f.tokens >= 2) {
            self.hist(H::MeanPerToken, &[d / f64::from(f.tokens - 1)]);
        }
        self.hist(H::InputTokens, &[f.prompt_tokens as f64]);
        self.hist(H::GeneratedTokens, &[f64::from(f.tokens)]);
    }

    /// An engine restart: every series starts again from zero.
    pub fn restart(&self, engine: &Engine) {
        for (_, v) in &self.hists {
            v.reset();
        }
        for (_, v) in &self.counters {
            v.reset();
        }
        for (i, n) in engine_counts(engine).into_iter().enumerate() {
            self.since_restart[i].store(n, Relaxed);
        }
        self.zero();
    }

    /// Bring the engine-derived series up to date and encode everything.
    pub fn encode(&self, engine: &Engine) -> Result<String, prometheus::Error> {
        let l = self.values();
        let (running, waiting, kv) = engine.load();
        for (g, v) in &self.gauges {
            let x = match g {
                G::Running => running as f64,
                G::Waiting => waiting as f64,
                G::KvUsage => kv,
            };
            v.with_label_values(&l).set(x);
        }
        let counts = engine_counts(engine);
        for (c, v) in &self.counters {
            let i = match c {
                C::PrefixQueries => 0,
                C::PrefixHits => 1,
                C::Preemptions => 2,
                _ => continue,
            };
            let total = counts[i].saturating_sub(self.since_restart[i].load(Relaxed)) as f64;
            let c = v.with_label_values(&l);
            c.inc_by((total - c.get()).max(0.0));
        }
        let mut buf = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// The engine model's prefix queries, hits and preemptions.
fn engine_counts(engine: &Engine) -> [u64; 3] {
    [
        engine.prefix_queries.load(Relaxed),
        engine.prefix_hits.load(Relaxed),
        engine.preemptions.load(Relaxed),
    ]
}
