//! llm-soak: a long-running load tester and synthetic canary for OpenAI-compatible LLM APIs.
//!
//! The library holds everything; `main.rs` only parses argv and maps the result to an exit code.
//! Modules, in the order data flows through them:
//!
//! ```text
//! config::Config (TOML -> schema walk -> typed)          runner: one cancellation tree, drain
//!        |
//! schedule::Shape (phases -> rate, Λ, Λ⁻¹) + schedule::Arrivals (gaps from (seed, seq))
//!        | Tick{seq, at}
//!        v
//! schedule::Dispatcher --no permit (Semaphore, max_in_flight)--> metrics::Recorder::dropped(reason)
//!        | permit
//!        v
//! workload::PromptPool::take(seq)  <-- blocking worker: workload::Workload::prompt(seq)
//!        |                                 (scenario, token-exact prompt, body bytes, max_tokens)
//!        v
//! record::RequestPlan{seq, intended_at, scenario, prompt: Arc<Prompt>, max_tokens}
//!        v
//! client::Client::execute --HTTP + SSE (client::sse::Framer)--> target (or simulator::Simulator)
//!        v
//! record::RequestRecord{sent_at, first_chunk_at, first_token_at, first_answer_at,
//!                       token_events, end_at, output_tokens + source, outcome, error_type}
//!        v
//! metrics::Recorder::observe(&record)   (synchronous, once per request, no channel)
//!        |  + metrics::RunSummary (exact HDR, per phase, spike recovery)
//!        |  + metrics::baseline::Baselines (drift baselines, persisted)
//!        |  + export::spans::SpanRecorder (sampled CLIENT spans, batch-exported)
//!        v
//! export::Exporter (one SdkMeterProvider; Prometheus registry + process_*;
//!        |          export::otlp periodic OTLP reader on its own thread)
//!        ^
//! resources::Sampler (own thread: process, host, target process, GPUs via NVML)
//!        v
//! server::serve: GET /metrics, /-/healthy, /-/ready, /api/v1/status, POST reload/baseline reset
//! ```
//!
//! `config` turns TOML into a validated [`config::Config`] (every problem at once); `runner` wires
//! the pieces into one cancellation tree; `report` is a run's summary (table and JSON) and `gate`
//! the CI gates judged on it (also relative to an earlier report); `resources` samples the
//! process, host, target server process and GPUs on its own thread; `progress` the live line of a bounded run on a terminal; `simulator` is the built-in OpenAI-compatible target,
//! sharing only the `openai` wire types with the client; `cli` is the command-line surface.

pub mod cli;
pub mod client;
pub mod config;
pub mod export;
pub mod gate;
pub mod metrics;
pub mod openai;
pub mod progress;
pub mod record;
pub mod report;
pub mod resources;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod simulator;
pub mod workload;

/// The version baked into `llmsoak_build_info` and the status endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
