//! The simulator's own server-side metrics, with vLLM's names, label (`model_name`) and bucket
//! boundaries, on a registry of their own served on the simulator's metrics listener — never
//! mixed into the daemon's `/metrics` (the `vllm:` names carry a colon, which promtool's lint
//! warns about for client metrics; vLLM's real endpoint draws the same warnings).

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use super::engine::Engine;

const TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
const ITL: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
const E2E: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// vLLM-compatible metrics of one simulated model.
#[derive(Debug, Clone)]
pub struct VllmMetrics {
    registry: Registry,
    model: String,
    pub ttft: HistogramVec,
    pub itl: HistogramVec,
    pub e2e: HistogramVec,
    running: IntGaugeVec,
    waiting: IntGaugeVec,
    kv_usage: GaugeVec,
    prefix_queries: IntCounterVec,
    prefix_hits: IntCounterVec,
    preemptions: IntCounterVec,
    pub prompt_tokens: IntCounterVec,
    pub generation_tokens: IntCounterVec,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Result<HistogramVec, prometheus::Error> {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        &["model_name"],
    )
}

fn counter(name: &str, help: &str) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), &["model_name"])
}

impl VllmMetrics {
    pub fn new(model: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let m = VllmMetrics {
            model: model.to_string(),
            ttft: histogram(
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                TTFT,
            )?,
            itl: histogram(
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                ITL,
            )?,
            e2e: histogram(
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                E2E,
            )?,
            running: IntGaugeVec::new(
                Opts::new(
                    "vllm:num_requests_running",
                    "Number of requests in model execution batches.",
                ),
                &["model_name"],
            )?,
            waiting: IntGaugeVec::new(
                Opts::new(
                    "vllm:num_requests_waiting",
                    "Number of requests waiting to be processed.",
                ),
                &["model_name"],
            )?,
            kv_usage: GaugeVec::new(
                Opts::new(
                    "vllm:kv_cache_usage_perc",
                    "KV-cache usage. 1 means 100 percent usage.",
                ),
                &["model_name"],
            )?,
            prefix_queries: counter(
                "vllm:prefix_cache_queries_total",
                "Prefix cache queries, in terms of number of queried tokens.",
            )?,
            prefix_hits: counter(
                "vllm:prefix_cache_hits_total",
                "Prefix cache hits, in terms of number of cached tokens.",
            )?,
            preemptions: counter(
                "vllm:num_preemptions_total",
                "Cumulative number of preemption from the engine.",
            )?,
            prompt_tokens: counter(
                "vllm:prompt_tokens_total",
                "Number of prefill tokens processed.",
            )?,
            generation_tokens: counter(
                "vllm:generation_tokens_total",
                "Number of generation tokens processed.",
            )?,
            registry,
        };
        let collectors: [Box<dyn Collector>; 11] = [
            Box::new(m.ttft.clone()),
            Box::new(m.itl.clone()),
            Box::new(m.e2e.clone()),
            Box::new(m.running.clone()),
            Box::new(m.waiting.clone()),
            Box::new(m.kv_usage.clone()),
            Box::new(m.prefix_queries.clone()),
            Box::new(m.prefix_hits.clone()),
            Box::new(m.preemptions.clone()),
            Box::new(m.prompt_tokens.clone()),
            Box::new(m.generation_tokens.clone()),
        ];
        for c in collectors {
            m.registry.register(c)?;
        }
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        // Series exist from the start, at zero.
        for c in [
            &m.prefix_queries,
            &m.prefix_hits,
            &m.preemptions,
            &m.prompt_tokens,
            &m.generation_tokens,
        ] {
            c.with_label_values(&[model]).inc_by(0);
        }
        Ok(m)
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Bring the engine-derived series up to date and encode everything.
    pub fn encode(&self, engine: &Engine) -> Result<String, prometheus::Error> {
        let l = [self.model.as_str()];
        let (running, waiting, kv) = engine.load();
        self.running.with_label_values(&l).set(running as i64);
        self.waiting.with_label_values(&l).set(waiting as i64);
        self.kv_usage.with_label_values(&l).set(kv);
        let catch_up = |c: &IntCounterVec, total: u64| {
            let c = c.with_label_values(&l);
            c.inc_by(total.saturating_sub(c.get()));
        };
        use std::sync::atomic::Ordering::Relaxed;
        catch_up(&self.prefix_queries, engine.prefix_queries.load(Relaxed));
        catch_up(&self.prefix_hits, engine.prefix_hits.load(Relaxed));
        catch_up(&self.preemptions, engine.preemptions.load(Relaxed));
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}
