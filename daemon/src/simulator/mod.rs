//! The built-in OpenAI-compatible target (`llm-soak simulate`; what `demo`, the tests and alert
//! rehearsals run against). It behaves like an inference engine ([`engine`]): queueing beyond a
//! batch capacity, prefill proportional to uncached input tokens with a prefix cache
//! ([`prefix`]), decode ITL that grows with the batch, KV-cache preemption, tokens written on
//! absolute deadlines; it injects faults by rate and time window ([`faults`]), leaks memory and
//! drifts TPOT on request ([`degrade`]), exports vLLM-named metrics on its own listener
//! ([`vllm`]) and keeps ground truth at `GET /stats` ([`truth`]). It shares only the `openai`
//! wire types with the client.

mod asked;
mod control;
pub mod degrade;
pub mod engine;
pub mod faults;
pub mod metrics;
pub mod prefix;
mod rng;
mod stream;
pub mod truth;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngExt;
use tokio::net::TcpListener;
use tokio::time::Instant;

pub use crate::config::simulator::{EngineParams, FaultKind, FaultRule, LeakParams, SimConfig};
use crate::openai::{Endpoint, ModelCard, ModelList};
use degrade::Leak;
use engine::Engine;
use metrics::EngineMetrics;
use truth::{StatsReport, Truth};

pub use crate::openai::SEQ_HEADER;

/// The `Content-Type` of the Prometheus text format the metrics listener serves.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The simulator's shared state.
#[derive(Debug)]
pub struct Simulator {
    pub config: SimConfig,
    pub engine: Arc<Engine>,
    pub truth: Truth,
    /// The engine's own `/metrics`, in the flavor the config names.
    pub metrics: EngineMetrics,
    pub leak: Arc<Leak>,
    /// The active fault rules (the config's, until `PUT /control/faults` replaces them).
    faults: control::Faults,
    started: Instant,
    next_index: std::sync::atomic::AtomicU64,
    /// TCP connections accepted on the API listener.
    connections: std::sync::atomic::AtomicU64,
    /// Responses begun (their ids).
    responses: std::sync::atomic::AtomicU64,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Result<Arc<Self>, prometheus::Error> {
        Ok(Arc::new(Simulator {
            engine: Engine::new(config.engine()),
            truth: Truth::default(),
            metrics: EngineMetrics::new(config.metrics_flavor, &config.model)?,
            leak: Leak::new(config.leak),
            faults: control::Faults::new(config.faults.clone()),
            started: Instant::now(),
            next_index: std::sync::atomic::AtomicU64::new(0),
            connections: std::sync::atomic::AtomicU64::new(0),
            responses: std::sync::atomic::AtomicU64::new(0),
            config,
        }))
    }

    /// Ground truth plus the engine's state.
    pub fn report(&self) -> StatsReport {
        use std::sync::atomic::Ordering::Relaxed;
        let mut r = self.truth.report();
        (r.running, r.waiting, r.kv_cache_usage) = self.engine.load();
        r.peak_concurrency = self.engine.peak();
        r.connections_accepted = self.connections.load(Relaxed);
        r.preemptions = self.engine.preemptions.load(Relaxed);
        r.prefix_cache_queries = self.engine.prefix_queries.load(Relaxed);
        r.prefix_cache_hits = self.engine.prefix_hits.load(Relaxed);
        r.leaked_bytes = self.leak.leaked();
        r.leaked_fds = self.leak.leaked_fds();
        r.leaked_kv_tokens = self.engine.leaked_kv.load(Relaxed);
        r.streams_abandoned = self.engine.abandoned.load(Relaxed);
        r.prefix_cache_resets = self.engine.prefix_resets.load(Relaxed);
        r
    }

    /// The OpenAI API (behind `required_headers`), `/stats` and `/control`.
    pub fn router(self: &Arc<Self>) -> Router {
        let openai = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(completions))
            .route("/v1/models", get(models))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/messages", post(messages))
            .route("/v1/responses", post(responses))
            // Azure OpenAI's shape (the deployment in the path, `api-version` required) and
            // Gemini's OpenAI-compatible one (no `/v1`): targets configured with `paths`.
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(azure_chat),
            )
            .route(
                "/openai/deployments/{deployment}/completions",
                post(azure_completions),
            )
            .route("/openai/models", get(azure_models))
            .route("/v1beta/openai/chat/completions", post(chat))
            .route("/v1beta/openai/models", get(models))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(self),
                control::require_headers,
            ));
        Router::new()
            .merge(openai)
            .route(
                "/control/faults",
                get(control::get_faults).put(control::put_faults),
            )
            .route("/metrics", get(engine_metrics))
            .route("/control/restart", post(restart))
            // vLLM's own (a phase hook's usual target).
            .route("/reset_prefix_cache", post(reset_prefix_cache))
            .route("/stats", get(stats))
            .route("/stats/reset", post(reset))
            .route("/stats/requests", get(recent))
            .route("/stats/requests/drain", post(drain))
            .route("/health", get(|| async { "OK" }))
            .with_state(Arc::clone(self))
    }

    /// The engine's metrics endpoint (on `metrics_listen`, a listener of its own).
    pub fn metrics_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(engine_metrics))
            .with_state(Arc::clone(self))
    }
}

/// A running simulator: its addresses and tasks (aborted on drop).
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub sim: Arc<Simulator>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub failed: tokio::sync::oneshot::Receiver<std::io::Error>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Bind the API on `addr` (and metrics on `config.metrics_listen`) and serve in the background.
pub async fn spawn(config: SimConfig, addr: SocketAddr) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(a) => Some(TcpListener::bind(a).await?),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let time_scale = config.time_scale;
    let sim = Simulator::new(config).map_err(std::io::Error::other)?;
    // Load the tokenizer now: lazily, the first requests' TTFT would carry its ~0.3 s set-up
    // (true in the ground truth, but no engine has it once serving).
    let _ = tokenize("warm-up".to_string()).await;
    let (fail_tx, failed) = tokio::sync::oneshot::channel();
    let fail_tx = Arc::new(std::sync::Mutex::new(Some(fail_tx)));
    let report = move |e: std::io::Error| {
        if let Some(tx) = fail_tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(e);
        }
    };
    let mut tasks = Vec::new();
    let app = sim.router();
    let r = report.clone();
    let counted = Arc::clone(&sim);
    tasks.push(tokio::spawn(async move {
        // Without TCP_NODELAY a token event written right after the headers waits for the
        // client's delayed ACK (Nagle): tens of milliseconds of false TTFT.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(move |tcp| {
            let _ = tcp.set_nodelay(true);
            // Connections opened, for the client's connection-reuse test.
            counted
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            counted.leak.on_connection(std::os::fd::AsFd::as_fd(&*tcp));
        });
        if let Err(e) = axum::serve(listener, app).await {
            r(e);
        }
    }));
    if let Some(ml) = metrics_listener {
        let app = sim.metrics_router();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(ml, app).await {
                report(e);
            }
        }));
    }
    if let Some(t) = sim.leak.spawn_ticker(time_scale) {
        tasks.push(t);
    }
    Ok(Running {
        addr: local,
        metrics_addr,
        sim,
        tasks,
        failed,
    })
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "object": "error",
            "message": message,
            "type": if status.is_server_error() { "InternalServerError" } else { "BadRequestError" },
            "code": status.as_u16(),
        }
    });
    (status, axum::Json(body)).into_response()
}

async fn models(State(sim): State<Arc<Simulator>>) -> axum::Json<ModelList> {
    axum::Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: sim.config.model.clone(),
            object: "model".into(),
            owned_by: "llm-soak".into(),
            max_model_len: Some(sim.config.max_model_len),
        }],
    })
}

async fn stats(State(sim): State<Arc<Simulator>>) -> axum::Json<StatsReport> {
    axum::Json(sim.report())
}

/// An engine restart, as its `/metrics` sees one: every series from zero.
async fn restart(State(sim): State<Arc<Simulator>>) -> StatusCode {
    sim.metrics.restart(&sim.engine);
    sim.engine.restarted(tokio::time::Instant::now());
    StatusCode::NO_CONTENT
}

async fn reset_prefix_cache(State(sim): State<Arc<Simulator>>) -> StatusCode {
    sim.engine.reset_prefix_cache();
    StatusCode::OK
}

async fn reset(State(sim): State<Arc<Simulator>>) -> StatusCode {
    sim.truth.reset();
    StatusCode::NO_CONTENT
}

#[derive(Debug, serde::Deserialize)]
struct RecentQuery {
    seq: Option<u64>,
}

async fn recent(
    State(sim): State<Arc<Simulator>>,
    Query(q): Query<RecentQuery>,
) -> axum::Json<Vec<truth::RequestTruth>> {
    axum::Json(sim.truth.recent(q.seq))
}

async fn drain(State(sim): State<Arc<Simulator>>) -> axum::Json<Vec<truth::RequestTruth>> {
    axum::Json(sim.truth.drain())
}

async fn engine_metrics(State(sim): State<Arc<Simulator>>) -> Response {
    match sim.metrics.encode(&sim.engine) {
        Ok(body) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn chat(State(sim): State<Arc<Simulator>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(sim, Endpoint::Chat, &headers, body).await
}

async fn completions(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(sim, Endpoint::Completions, &headers, body).await
}

/// Anthropic Messages; like Anthropic, a request without `anthropic-version` is a 400.
async fn messages(State(sim): State<Arc<Simulator>>, headers: HeaderMap, body: Bytes) -> Response {
    if !headers.contains_key(crate::openai::anthropic::VERSION_HEADER) {
        sim.truth.arrived();
        sim.truth.bad_request();
        return error_response(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        );
    }
    handle(sim, Endpoint::Messages, &headers, body).await
}

/// OpenAI Responses.
async fn responses(State(sim): State<Arc<Simulator>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(sim, Endpoint::Responses, &headers, body).await
}

/// `POST /v1/embeddings` (input: a string, strings, token ids or arrays of them): the input's
/// prefill time (`prefill_base` + `prefill_per_token` per input token, outside the generation
/// batch), then an 8-dimensional vector per item and the usage.
async fn embeddings(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    sim.truth.arrived();
    let items = match asked::embeddings(&body) {
        Ok(items) => items,
        Err(message) => {
            sim.truth.bad_request();
            return error_response(StatusCode::BAD_REQUEST, &message);
        }
    };
    // Every item's tokens: text tokenized as the other endpoints do, token ids as given.
    let mut n = 0u64;
    for item in &items {
        n += match item {
            Ok(text) => tokenize(text.clone()).await.len() as u64,
            Err(ids) => *ids as u64,
        };
    }
    let e = &sim.config;
    let per_token = e
        .prefill_per_token
        .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
    tokio::time::sleep(e.prefill_base + per_token).await;
    let vector: Vec<f64> = (0..8).map(|i| f64::from(i) / 8.0).collect();
    let data: Vec<serde_json::Value> = (0..items.len())
        .map(|i| serde_json::json!({ "object": "embedding", "index": i, "embedding": vector }))
        .collect();
    axum::Json(serde_json::json!({
        "object": "list",
        "model": sim.config.model,
        "data": data,
        "usage": { "prompt_tokens": n, "total_tokens": n },
    }))
    .into_response()
}

/// Azure's `?api-version=…`, which every Azure OpenAI request must carry.
#[derive(Debug, serde::Deserialize)]
struct AzureQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// Azure answers 400 to a request without `api-version`.
fn azure_version_missing(q: &AzureQuery) -> Option<Response> {
    q.api_version.is_none().then(|| {
        error_response(
            StatusCode::BAD_REQUEST,
            "Missing required query parameter: api-version",
        )
    })
}

/// An Azure generation request: checked for `api-version`, then the OpenAI handler.
async fn azure(
    sim: Arc<Simulator>,
    endpoint: Endpoint,
    q: AzureQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match azure_version_missing(&q) {
        Some(r) => r,
        None => handle(sim, endpoint, &headers, body).await,
    }
}

async fn azure_chat(
    State(sim): State<Arc<Simulator>>,
    Query(q): Query<AzureQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    azure(sim, Endpoint::Chat, q, headers, body).await
}

async fn azure_completions(
    State(sim): State<Arc<Simulator>>,
    Query(q): Query<AzureQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    azure(sim, Endpoint::Completions, q, headers, body).await
}

async fn azure_models(State(sim): State<Arc<Simulator>>, Query(q): Query<AzureQuery>) -> Response {
    match azure_version_missing(&q) {
        Some(r) => r,
        None => models(State(sim)).await.into_response(),
    }
}

/// Prompt token ids in `o200k_base` (on a blocking worker).
async fn tokenize(text: String) -> Vec<u32> {
    tokio::task::spawn_blocking(move || tiktoken_rs::o200k_base_singleton().encode_ordinary(&text))
        .await
        .unwrap_or_default()
}

async fn handle(
    sim: Arc<Simulator>,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let arrival = Instant::now();
    let index = sim
        .next_index
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    sim.truth.arrived();
    sim.leak.on_request();
    let seq = headers
        .get(SEQ_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let req = match asked::parse(endpoint, &body) {
        Ok(r) => r,
        Err(message) => {
            sim.truth.bad_request();
            return error_response(StatusCode::BAD_REQUEST, &message);
        }
    };
    let mut rng = rng::rng(sim.config.seed, index);
    let u: f64 = rng.random();
    let fault = sim
        .faults
        .choose(arrival.saturating_duration_since(sim.started), u);
    if let Some(f) = &fault {
        sim.truth.fault(f.kind);
        if let Some(resp) = immediate_fault(&sim, f).await {
            return resp;
        }
    }
    let ids = tokenize(req.input).await;
    let prompt_tokens = ids.len() as u64;
    if !sim.engine.fits(prompt_tokens) {
        sim.truth.bad_request();
        return error_response(
            StatusCode::BAD_REQUEST,
            "prompt is longer than the KV cache (context length exceeded)",
        );
    }
    let mut tokens = req
        .max_tokens
        .unwrap_or(sim.config.default_max_tokens)
        .max(1);
    if !req.ignore_eos && sim.config.early_stop > 0.0 && rng.random_bool(sim.config.early_stop) {
        // An early stop never goes below `min_tokens` (vLLM's semantics).
        let floor = req.min_tokens.unwrap_or(1).clamp(1, tokens);
        tokens = rng.random_range(floor..=tokens);
    }
    let plan = stream::Plan {
        endpoint,
        model: req.model,
        tokens,
        prompt_tokens,
        hashes: sim.engine.block_hashes(&ids),
        include_usage: req.include_usage,
        arrival,
        seq,
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        request_id: format!(
            "chatcmpl-sim-{}",
            sim.responses
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        fault: fault.map(|f| f.kind),
        rng,
        // A reasoning model thinks first; at least one token of the answer is content.
        reasoning: match endpoint {
            Endpoint::Chat | Endpoint::Messages | Endpoint::Responses => {
                sim.config.reasoning_tokens.min(tokens.saturating_sub(1))
            }
            Endpoint::Completions | Endpoint::Embeddings => 0,
        },
        // Anthropic never hides thinking entirely (it streams it, or a summary): only OpenAI's
        // formats model hidden reasoning.
        reasoning_hidden: sim.config.reasoning_hidden && endpoint != Endpoint::Messages,
    };
    if !req.stream {
        return stream::complete(sim, plan).await;
    }
    let request_id = HeaderValue::from_str(&plan.request_id).ok();
    let mut resp = Response::new(Body::from_stream(stream::events(sim, plan)));
    let h = resp.headers_mut();
    if let Some(id) = request_id {
        h.insert("x-request-id", id);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Faults answered before any generation; `None` for those applied to the stream.
async fn immediate_fault(sim: &Simulator, f: &FaultRule) -> Option<Response> {
    let status = |default: StatusCode| {
        f.status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(default)
    };
    match f.kind {
        FaultKind::Http5xx => Some(error_response(status(StatusCode::SERVICE_UNAVAILABLE), "injected fault")),
        FaultKind::Http4xx => Some(error_response(status(StatusCode::BAD_REQUEST), "injected fault")),
        FaultKind::Http429 => {
            let mut resp = error_response(StatusCode::TOO_MANY_REQUESTS, "rate limited (injected)");
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Some(resp)
        }
        FaultKind::Html200 => Some(
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><body><h1>502 Bad Gateway</h1><p>injected by llm-soak simulate</p></body></html>\n",
            )
                .into_response(),
        ),
        FaultKind::SlowHeaders => {
            tokio::time::sleep(sim.config.slow_headers_delay).await;
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod router_tests;
