//! The built-in OpenAI-compatible target (`llm-soak simulate`, and what `demo` and the tests run
//! against): chat and text completions, streaming or not, usage when asked, a fixed TTFT and
//! inter-token latency with tokens written on absolute deadlines, output length honouring
//! `max_tokens`, and seeded fault injection (HTTP errors, mid-stream stalls, truncated
//! streams). It keeps ground truth — what it injected, how late its own writes were — at
//! `GET /stats`. It shares only the `openai` wire types with the client.

mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngExt;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::openai::{CompletionRequest, Endpoint, ModelCard, ModelList};
use crate::workload::rng::{Stream, rng_for};

/// How the simulated engine behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub model: String,
    /// Time to the first token.
    pub ttft: Duration,
    /// Time between tokens.
    pub itl: Duration,
    /// Output length when a request sets no `max_tokens`.
    pub default_max_tokens: u32,
    /// Fraction of requests answered with `error_status` and a JSON error body.
    pub error_rate: f64,
    pub error_status: u16,
    /// Fraction of streams that stop sending halfway for `stall_for`.
    pub stall_rate: f64,
    pub stall_for: Duration,
    /// Fraction of streams closed halfway, before any `finish_reason`.
    pub truncate_rate: f64,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            model: "llm-soak-sim".into(),
            ttft: Duration::from_millis(100),
            itl: Duration::from_millis(20),
            default_max_tokens: 128,
            error_rate: 0.0,
            error_status: 503,
            stall_rate: 0.0,
            stall_for: Duration::from_secs(3600),
            truncate_rate: 0.0,
            seed: 0,
        }
    }
}

/// The fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    HttpError,
    Stall,
    Truncate,
}

/// Ground truth, served at `GET /stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub bad_requests: AtomicU64,
    pub streams_completed: AtomicU64,
    pub output_tokens: AtomicU64,
    pub injected_http_error: AtomicU64,
    pub injected_stall: AtomicU64,
    pub injected_truncate: AtomicU64,
    /// Worst lateness of a token write against its deadline, in microseconds.
    pub max_write_lateness_us: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub bad_requests: u64,
    pub streams_completed: u64,
    pub output_tokens: u64,
    pub injected_http_error: u64,
    pub injected_stall: u64,
    pub injected_truncate: u64,
    pub max_write_lateness_us: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: l(&self.requests),
            bad_requests: l(&self.bad_requests),
            streams_completed: l(&self.streams_completed),
            output_tokens: l(&self.output_tokens),
            injected_http_error: l(&self.injected_http_error),
            injected_stall: l(&self.injected_stall),
            injected_truncate: l(&self.injected_truncate),
            max_write_lateness_us: l(&self.max_write_lateness_us),
        }
    }
}

/// The simulator's shared state.
#[derive(Debug)]
pub struct Simulator {
    pub config: SimConfig,
    pub stats: Stats,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Arc<Self> {
        Arc::new(Simulator {
            config,
            stats: Stats::default(),
        })
    }

    fn choose_fault(&self, index: u64) -> Fault {
        let c = &self.config;
        let u: f64 = rng_for(c.seed, Stream::Simulator, index).random();
        if u < c.error_rate {
            Fault::HttpError
        } else if u < c.error_rate + c.stall_rate {
            Fault::Stall
        } else if u < c.error_rate + c.stall_rate + c.truncate_rate {
            Fault::Truncate
        } else {
            Fault::None
        }
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(completions))
            .route("/v1/models", get(models))
            .route("/stats", get(stats))
            .route("/health", get(|| async { "OK" }))
            .with_state(Arc::clone(self))
    }

    /// Serve on `listener` until the task is dropped or aborted.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let app = self.router();
        axum::serve(listener, app).await
    }
}

/// Bind `addr` and serve in a background task; returns the bound address.
pub async fn spawn(
    config: SimConfig,
    addr: SocketAddr,
) -> std::io::Result<(
    SocketAddr,
    Arc<Simulator>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let sim = Simulator::new(config);
    let handle = tokio::spawn(Arc::clone(&sim).serve(listener));
    Ok((local, sim, handle))
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {
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
        }],
    })
}

async fn stats(State(sim): State<Arc<Simulator>>) -> axum::Json<StatsSnapshot> {
    axum::Json(sim.stats.snapshot())
}

async fn chat(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    handle(sim, Endpoint::Chat, body).await
}

async fn completions(State(sim): State<Arc<Simulator>>, body: Bytes) -> Response {
    handle(sim, Endpoint::Completions, body).await
}

async fn handle(sim: Arc<Simulator>, endpoint: Endpoint, body: Bytes) -> Response {
    let t0 = Instant::now();
    let index = sim.stats.requests.fetch_add(1, Ordering::Relaxed);
    let req: CompletionRequest<'_> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            sim.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            return error_response(
                StatusCode::BAD_REQUEST,
                &format!("invalid request body: {e}"),
            );
        }
    };
    let wrong_shape = match endpoint {
        Endpoint::Chat => req.messages.is_none(),
        Endpoint::Completions => req.prompt.is_none(),
    };
    if wrong_shape {
        sim.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
        return error_response(
            StatusCode::BAD_REQUEST,
            "chat needs `messages`, completions need `prompt`",
        );
    }
    let fault = sim.choose_fault(index);
    if fault == Fault::HttpError {
        sim.stats
            .injected_http_error
            .fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(sim.config.error_status)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut resp = error_response(status, "injected fault");
        if status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return resp;
    }
    let plan = stream::Plan {
        endpoint,
        model: req.model.to_string(),
        tokens: req
            .max_tokens
            .unwrap_or(sim.config.default_max_tokens)
            .max(1),
        prompt_tokens: count_tokens(req.input_text()).await,
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
        t0,
        stall: fault == Fault::Stall,
        truncate: fault == Fault::Truncate,
    };
    match fault {
        Fault::Stall => sim.stats.injected_stall.fetch_add(1, Ordering::Relaxed),
        Fault::Truncate => sim.stats.injected_truncate.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    if !req.stream {
        return stream::complete(&sim, plan).await;
    }
    let mut resp = Response::new(Body::from_stream(stream::events(sim, plan)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Prompt tokens as the embedded default tokenizer counts them (on a blocking worker).
async fn count_tokens(text: String) -> u64 {
    tokio::task::spawn_blocking(move || {
        use crate::workload::Tokenizer as _;
        crate::workload::tokenizer::O200k::new().count(&text) as u64
    })
    .await
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn non_streaming_answers_models_and_bad_requests() {
        crate::client::init_crypto();
        let config = SimConfig {
            ttft: Duration::from_millis(5),
            itl: Duration::from_millis(1),
            ..SimConfig::default()
        };
        let (addr, sim, _h) = spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let body = serde_json::json!({"model": "m", "prompt": "hello there", "max_tokens": 7});
        let v: serde_json::Value = http
            .post(format!("http://{addr}/v1/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["usage"]["completion_tokens"], 7);
        assert_eq!(v["usage"]["prompt_tokens"], 2);
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        let models: ModelList = http
            .get(format!("http://{addr}/v1/models"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(models.data[0].id, "llm-soak-sim");
        // Chat without messages is a 400 with a JSON error body.
        let r = http
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let snap = sim.stats.snapshot();
        assert_eq!(
            (snap.requests, snap.bad_requests, snap.output_tokens),
            (2, 1, 7)
        );
    }
}
