//! llm-soak: a long-running load tester and synthetic canary for OpenAI-compatible LLM APIs.
//!
//! The library holds everything; `main.rs` only parses argv and maps the result to an exit code.
//! Modules, in the order data flows through them:
//!
//! ```text
//! config::Config (TOML -> serde types + checks -> plain validated data; reads no file)
//!        |
//! prepare::Prepared (reads what the config names: workload::Assets, client::Credentials)
//!        |                                               runner: one cancellation tree, drain
//! schedule::Shape (phases -> rate, Λ, Λ⁻¹) + schedule::Arrivals (gaps from (seed, seq))
//!        | Tick{seq, at}           (closed-loop users, session turns, canary probes alike)
//!        v
//! schedule::Dispatcher --> schedule::Launcher::admit --refused--> metrics::Recorder::dropped
//!        | schedule::Slot (an in-flight permit; budget, then max_in_flight, checked once)
//!        v
//! workload::PromptPool::take(seq)  <-- blocking worker: workload::Workload::prompt(seq)
//!        |                                 (scenario, token-exact prompt, body bytes, max_tokens)
//!        v
//! schedule::Slot::start(record::RequestPlan) -> schedule::InFlight (counts started) -> run
//!        v
//! client::Client::execute --HTTP + SSE (client::sse::Framer)--> target (or simulator::Simulator)
//!        v
//! record::RequestRecord{sent_at, first_chunk_at, first_token_at, first_answer_at,
//!                       token_events, end_at, output_tokens + source, outcome, error_type}
//!        v
//! metrics::Recorder::finished(&record)   (synchronous, once per request, no channel)
//!        |  instruments (metrics::instruments) + one fan-out to every metrics::Sink:
//!        |  metrics::SummarySink (exact HDR, per phase, spike recovery),
//!        |  metrics::baseline::BaselineSink (drift baselines, persisted),
//!        |  export::spans::SpanRecorder (sampled CLIENT spans), metrics::request_log::RequestLog
//!        v
//! export::Exporter (one SdkMeterProvider; Prometheus registry + process_*;
//!        |          export::otlp periodic OTLP reader on its own thread)
//!        ^
//! resources::Sampler (own thread: process, host, target process, GPUs via NVML)
//! trust::Probe (own thread writes a socket pair, a runtime task reads: the client's own lag)
//! engine::scrape::Scraper (a runner side task, once a window: the target engine's /metrics ->
//!        engine::map table -> engine::snapshot::Snapshot -> engine::window::Window deltas,
//!        joined to the series' windows, the run's and each phase's: report::server blocks)
//!        v
//! server::serve: GET /metrics, /-/healthy, /-/ready, /api/v1/status, / and /api/v1/view (the
//!                live page), POST reload/baseline reset
//!        v
//! report::RunReport (typed, versioned; exact histograms, the run's report::series windows)
//!        |  metrics::series::SeriesSink keeps the windows, bounded; the runner rolls them
//!        +--> gate::Gates -> exit code          +--> report::merge (shards, exact)
//!        +--> view::View -> GET / (live page), --report-html, compare's overlay (uPlot, embedded)
//!        +--> compare::Comparison (base vs new: change, noise interval, verdict)
//!
//! sweep::run (llm-soak sweep): a runner::Run whose generations are the sweep's steps — a
//!        closed-loop ladder, then open-loop Poisson steps, on the same launcher, recorder
//!        (its one SLO judgement), /metrics and live page — collected by a step sink and judged
//!        by sweep::judge (compare's Wilson interval) -> report::sweep::SweepReport
//! ```
//!
//! `engine` reads an inference engine's own `/metrics` into one vocabulary (mapping tables as
//! data, windows as Prometheus computes them) and depends only on `record` (a failure's detail).
//! `openai` holds the wire types (the only code the `simulator` shares with the client) and
//! `record` the plain request data and the quantities of DESIGN §4; `config` depends on nothing
//! above them. `prepare` reads the files a validated config names; `runner` wires the pieces
//! into one cancellation tree; `report` is a run's typed document (terminal table, JSON, status
//! API, with the run's time series and the exact merge of shards) and `gate` the CI gates judged
//! on it (also relative to an earlier report); `compare` sets two reports side by side with a
//! verdict per metric; `view` is what a person looks at (the live page, the HTML report, compare's
//! overlay), drawn from a report; `resources`
//! samples the process, host, target server process and GPUs on its own thread; `trust` measures
//! the client's own lag under the run's load and states how far its numbers hold; `progress` the
//! live line of a bounded run on a terminal; `tls` the process-wide TLS set-up; `files` the
//! atomic writes of whole files (reports, pages, baselines) and the check that an output can be
//! written before a run sends anything; `sweep` searches
//! for the highest rate at which the SLOs hold (a run whose load is its steps); `simulator` is
//! the built-in OpenAI-compatible target; `cli` is the command-line surface. No top-level module
//! imports one that imports it back (`tests/checks/layout.rs` reads the graph).

pub mod cli;
pub mod client;
pub mod compare;
pub mod config;
pub mod engine;
pub mod export;
pub mod files;
pub mod gate;
pub mod metrics;
pub mod openai;
pub mod prepare;
mod progress;
pub mod record;
pub mod report;
pub mod resources;
mod runner;
pub mod schedule;
mod server;
pub mod simulator;
pub mod sweep;
mod tls;
pub mod trust;
pub mod view;
pub mod workload;

/// The version baked into `llmsoak_build_info` and the status endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
