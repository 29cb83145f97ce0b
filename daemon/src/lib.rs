//! llm-soak: a long-running load tester and synthetic canary for OpenAI-compatible LLM APIs.
//!
//! The library holds everything; `main.rs` only parses argv and maps the result to an exit code.
//! Modules, in the order data flows through them:
//!
//! ```text
//! schedule::Schedule --Arrival{seq, intended_at}--> schedule::Dispatcher --no permit--> Recorder::dropped(reason)
//!                                                     | permit (Semaphore, max_in_flight)
//!                                                     v
//!      workload::PromptPool::take(seq)  (filled ahead by a blocking worker: scenario, prompt, max_tokens)
//!                                                     v
//!               record::RequestPlan{seq, intended_at, scenario, prompt: Arc<Prompt>, max_tokens}
//!                                                     v
//!                           client::Client::execute(plan) --HTTP + SSE--> target
//!                                                     v
//!   record::RequestRecord{sent_at, first_chunk_at, first_token_at, first_answer_at, event times,
//!                         tokens(+source), end_at, outcome}
//!                                                     v
//!                          metrics::Recorder::observe(&record)   (synchronous, no channel)
//!                                                     |
//!                  export::Exporter (one SdkMeterProvider, Prometheus registry + process_*)
//!                                                     |
//!                        server: GET /metrics, /-/healthy, /-/ready, /api/v1/status
//! ```
//!
//! `config` turns TOML into a validated [`config::Config`] (every problem at once); `runner` wires
//! the pieces into one cancellation tree; `simulator` is the built-in OpenAI-compatible target,
//! sharing only the `openai` wire types with the client; `cli` is the command-line surface.

pub mod cli;
pub mod client;
pub mod config;
pub mod export;
pub mod metrics;
pub mod openai;
pub mod record;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod simulator;
pub mod workload;

/// The version baked into `llmsoak_build_info` and the status endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
