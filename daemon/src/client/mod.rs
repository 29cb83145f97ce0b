//! How to send: one keep-alive `reqwest` client per target, a streaming POST, and the read loop
//! that timestamps every read the moment it completes — before framing ([`sse`]) and parsing —
//! and turns whatever happens into a [`RequestRecord`] with an outcome from the closed set of
//! DESIGN §4. Nothing from the network is unwrapped; tokenization (only when the server sent no
//! `usage`) runs on a blocking worker after the stream ended.

mod abort;
mod build;
mod cancel;
mod connections;
mod credentials;
mod reader;
pub mod sse;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Target};
use crate::openai::Endpoint;
use crate::record::{ErrorType, Outcome, RequestPlan, RequestRecord, TokenSource};
use crate::workload::Tokenizer;
use crate::workload::rng::{Stream, rng_for};
use abort::AbortPoint;
use build::{BuildTarget, build_target};
pub use connections::Connections;
pub use credentials::Credentials;
use rand::RngExt;
use reader::{Measurement, stream};

pub use crate::openai::SEQ_HEADER;

pub use crate::tls::init_crypto;

/// Why a client could not be built.
/// Why a target's `GET /v1/models` did not answer with a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("no target {0}")]
    NoTarget(usize),
    #[error("{url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("target {target}: {source}")]
    Build {
        target: String,
        source: reqwest::Error,
    },
    #[error("target {target}: header {name}: invalid value")]
    Header { target: String, name: String },
    #[error("target {target}: {message}")]
    Tls { target: String, message: String },
}

#[derive(Debug)]
struct TargetClient {
    http: reqwest::Client,
    /// Without a pool: each request on it opens a connection of its own and closes it (built
    /// when a scenario routed here churns connections).
    fresh: Option<reqwest::Client>,
    headers: HeaderMap,
    target: Target,
    /// The target's tokenizer (output re-counts, after the stream).
    tokenizer: Arc<dyn Tokenizer>,
    /// Error classes whose first failure on this target was logged (bit per [`ErrorType`]).
    logged: AtomicU32,
}

impl TargetClient {
    /// Log the first failure of each class on this target once — with the URL (no query: it
    /// may carry a key), the status and what the failure said — so a wrong base URL or a
    /// closed port is seen at once; later ones are counted, not logged.
    fn first_failure(&self, class: ErrorType, url: &str, m: &Measurement) {
        let bit = 1 << class as u32;
        if matches!(class, ErrorType::Cancelled | ErrorType::Aborted)
            || self.logged.fetch_or(bit, Ordering::Relaxed) & bit != 0
        {
            return;
        }
        let url = url.split('?').next().unwrap_or_default();
        tracing::warn!(
            target_name = %self.target.name,
            url,
            error_type = class.as_str(),
            status = m.status.unwrap_or(0),
            detail = m.detail.as_deref().unwrap_or("-"),
            "first {} failure of this target (later ones are counted, not logged)",
            class.as_str()
        );
    }
}

/// Per-scope request routing, built once.
#[derive(Debug)]
struct Route {
    target: usize,
    url: String,
    /// `false`: one JSON answer (`stream = false`), no tokens to time.
    stream: bool,
    /// The API (and so the format of its answers).
    endpoint: Endpoint,
    /// Headers the API itself requires (Anthropic's `anthropic-version`), beside the target's.
    headers: HeaderMap,
    /// The scenario's `abort`, when it has one.
    abort: Option<abort::AbortDraw>,
    /// The share of its requests sent on a connection of their own.
    fresh: f64,
}

/// What a scope's route is built from.
struct RouteSpec {
    target: usize,
    endpoint: Endpoint,
    model: String,
    stream: bool,
    abort: Option<abort::AbortDraw>,
    fresh: f64,
}

/// The HTTP side of llm-soak: executes plans against their targets.
#[derive(Debug)]
pub struct Client {
    targets: Vec<TargetClient>,
    /// Route of scope `first_scope + i` (scenarios from 0; the canary's own client starts at its
    /// scope, one past the scenarios).
    routes: Vec<Route>,
    first_scope: usize,
    seed: u64,
    /// The trace context each request carries, when request spans are on.
    tracing: Option<Tracing>,
}

/// What the `traceparent` of a request is made from: the run's random key, and the sampling of
/// the spans it joins (`[otlp.spans]`: the canary always, soak requests by `sample_ratio`).
#[derive(Debug, Clone, Copy)]
struct Tracing {
    key: u64,
    ratio: f64,
    canary: Option<usize>,
}

impl Tracing {
    fn of(config: &Config) -> Option<Tracing> {
        let spans = config
            .otlp
            .as_ref()
            .map(|o| o.spans)
            .filter(|s| s.enabled)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Some(Tracing {
            key: now ^ u64::from(std::process::id()).rotate_left(32) ^ config.seed,
            ratio: spans.sample_ratio,
            canary: config.canary_scope(),
        })
    }

    fn context(&self, plan: &RequestPlan) -> crate::record::TraceContext {
        let sampled = Some(plan.scenario) == self.canary
            || crate::record::sampled_by_seq(plan.seq, self.ratio);
        crate::record::TraceContext::of(self.key, plan.seq, sampled)
    }
}

impl Client {
    /// A client for the config's scenarios (scopes `0..scenarios`) on one connection pool per
    /// target. `tokenizers` and `credentials` come from the preparation step. The connections it
    /// opens are counted nowhere (a readiness check, the engine scrape): the load's own client
    /// is [`Client::counted`].
    pub fn new(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
    ) -> Result<Self, ClientError> {
        Self::counted(config, tokenizers, credentials, &Connections::default())
    }

    /// [`Client::new`], every connection it opens counted in `connections` by target.
    pub fn counted(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
        connections: &Connections,
    ) -> Result<Self, ClientError> {
        let routes = config
            .scenarios
            .iter()
            .map(|s| RouteSpec {
                target: s.target.index,
                endpoint: s.endpoint,
                model: s.model.clone(),
                stream: s.stream(),
                abort: s.abort.as_ref().map(abort::AbortDraw::of),
                fresh: s.connection.map_or(0.0, |c| c.fresh),
            })
            .collect();
        Self::build(config, tokenizers, credentials, routes, 0, connections)
    }

    /// The canary's own client (its own connection pool), routing the canary's scope (one past
    /// the scenarios); `None` without a `[canary]`.
    pub fn for_canary(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
        connections: &Connections,
    ) -> Result<Option<Self>, ClientError> {
        let (Some(c), Some(scope)) = (&config.canary, config.canary_scope()) else {
            return Ok(None);
        };
        let model = config.targets[c.target.index].model.clone();
        let routes = vec![RouteSpec {
            target: c.target.index,
            endpoint: c.endpoint,
            model,
            stream: true,
            abort: None,
            fresh: 0.0,
        }];
        let mut client = Self::build(config, tokenizers, credentials, routes, scope, connections)?;
        // Each probe ends within `canary.timeout`: before the first token and between tokens.
        for tc in &mut client.targets {
            let cap = c.timeout();
            tc.target.first_token_timeout = Some(tc.target.first_token_timeout().min(cap));
            tc.target.request_timeout = tc.target.request_timeout.min(cap);
            tc.target.idle_timeout = tc.target.idle_timeout.min(cap);
            // A probe's answer is not re-counted: the recount checks the soak's token
            // accounting, and would load the default tokenizer into a canary-only daemon.
            tc.target.recount_sample = 0.0;
        }
        Ok(Some(client))
    }

    fn build(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
        routes: Vec<RouteSpec>,
        first_scope: usize,
        connections: &Connections,
    ) -> Result<Self, ClientError> {
        init_crypto();
        let targets = config
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let tokenizer = tokenizers
                    .get(i)
                    .cloned()
                    .unwrap_or_else(crate::workload::default_tokenizer);
                let churns = routes.iter().any(|r| r.target == i && r.fresh > 0.0);
                let build = BuildTarget {
                    key: credentials.key(i),
                    material: credentials.tls(i),
                    tokenizer,
                    opened: connections.counter(&t.name),
                    churns,
                };
                build_target(t, build)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let routes = routes
            .into_iter()
            .map(|spec| {
                let RouteSpec {
                    target,
                    endpoint,
                    model,
                    stream,
                    abort,
                    fresh,
                } = spec;
                let t = &config.targets[target];
                let mut headers = HeaderMap::new();
                let version = HeaderName::from_static(crate::openai::anthropic::VERSION_HEADER);
                if endpoint == Endpoint::Messages
                    && !t
                        .headers
                        .iter()
                        .any(|h| h.name.eq_ignore_ascii_case(version.as_str()))
                {
                    headers.insert(
                        version,
                        HeaderValue::from_static(crate::openai::anthropic::VERSION),
                    );
                }
                Route {
                    target,
                    url: tls::connect_url(t, t.url(endpoint, &model)),
                    stream: stream && endpoint.generates(),
                    endpoint,
                    headers,
                    abort,
                    fresh,
                }
            })
            .collect();
        Ok(Client {
            targets,
            routes,
            first_scope,
            seed: config.seed,
            tracing: Tracing::of(config),
        })
    }

    /// Target `index`'s HTTP client and headers (its TLS, credentials and static headers), for
    /// the scrape of its engine's metrics.
    pub fn target_http(&self, index: usize) -> Option<(reqwest::Client, HeaderMap)> {
        self.targets
            .get(index)
            .map(|t| (t.http.clone(), t.headers.clone()))
    }

    /// `GET /v1/models` of target `index`, asked with the target's own client (its headers,
    /// authentication, TLS), answered with a success: the URL asked and the response.
    async fn models(
        &self,
        index: usize,
        timeout: Duration,
    ) -> Result<(String, reqwest::Response), NotReady> {
        let tc = self.targets.get(index).ok_or(NotReady::NoTarget(index))?;
        let url = tls::connect_url(&tc.target, tc.target.models_url());
        let mut headers = tc.headers.clone();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let resp = tc
            .http
            .get(&url)
            .headers(headers)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| NotReady::Unreachable {
                url: url.clone(),
                why: crate::record::causes(&e),
            })?;
        if resp.status().is_success() {
            Ok((url, resp))
        } else {
            Err(NotReady::Status {
                url,
                status: resp.status().as_u16(),
            })
        }
    }

    /// Whether target `index` answers `GET /v1/models` with a success.
    pub async fn models_ready(&self, index: usize) -> Result<(), NotReady> {
        self.models(index, Duration::from_secs(5)).await.map(|_| ())
    }

    /// Target `index`'s context window as its server reports it: `max_model_len` of the
    /// target's model in `GET /v1/models` (vLLM, SGLang), else of the only model listed.
    pub async fn context_window(&self, index: usize) -> Result<u32, NotReady> {
        let (url, resp) = self.models(index, Duration::from_secs(10)).await?;
        let model = self
            .targets
            .get(index)
            .map(|t| t.target.model.clone())
            .unwrap_or_default();
        let unreachable = |why: String| NotReady::Unreachable {
            url: url.clone(),
            why,
        };
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| unreachable(format!("not a model list: {}", crate::record::causes(&e))))?;
        let models = body["data"].as_array().cloned().unwrap_or_default();
        let card = models
            .iter()
            .find(|m| m["id"].as_str() == Some(model.as_str()))
            .or(if models.len() == 1 {
                models.first()
            } else {
                None
            });
        card.and_then(|m| m["max_model_len"].as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                unreachable(format!(
                    "the model list gives no max_model_len for {model:?}"
                ))
            })
    }

    /// Send `plan` and measure it: [`Client::send`], then [`Client::finish`].
    pub async fn execute(&self, plan: &RequestPlan, cancel: &CancellationToken) -> RequestRecord {
        let streamed = self.send(plan.clone(), cancel).await;
        self.finish(streamed).await
    }

    /// Send `plan` and read its stream to the end (the part that holds an in-flight slot).
    /// Never panics on anything the server does.
    pub async fn send(&self, plan: RequestPlan, cancel: &CancellationToken) -> Streamed {
        let route = plan
            .scenario
            .checked_sub(self.first_scope)
            .and_then(|i| self.routes.get(i));
        let Some(route) = route.filter(|r| r.target < self.targets.len()) else {
            // A plan for a scope this client does not route: nothing can be sent.
            tracing::error!(scope = plan.scenario, "no route for this request's scope");
            let m = Measurement::new(0, Instant::now());
            return Streamed {
                plan,
                target: None,
                m,
                error: Some(ErrorType::Connect),
            };
        };
        let tc = &self.targets[route.target];
        let trace = self.tracing.map(|t| t.context(&plan));
        // Connection churn: this request on a connection of its own, drawn by its seq.
        let own_connection = route.fresh > 0.0
            && rng_for(self.seed, Stream::Connection, plan.seq).random_bool(route.fresh.min(1.0));
        let http = match &tc.fresh {
            Some(fresh) if own_connection => fresh,
            _ => &tc.http,
        };
        let mut request = http
            .post(&route.url)
            .headers(tc.headers.clone())
            .headers(route.headers.clone())
            .header(SEQ_HEADER, plan.seq);
        if let Some(t) = trace {
            request = request.header("traceparent", t.traceparent());
        }
        let request = request.body(plan.prompt.body.clone());
        let mut m = Measurement::new(plan.max_tokens, Instant::now());
        m.trace = trace;
        m.unlogged = !tc.logged.load(Ordering::Relaxed);
        let deadline = m.sent_at + tc.target.request_timeout;
        let abort = route
            .abort
            .as_ref()
            .and_then(|a| a.draw(self.seed, plan.seq, m.sent_at));
        let (abort_events, abort_at) = match abort {
            Some(AbortPoint::Events(n)) => (Some(n), None),
            Some(AbortPoint::At(at)) => (None, Some(at)),
            None => (None, None),
        };
        let outcome = if route.stream {
            // An abort `after` a time closes the request wherever it is: dropping the request
            // closes its connection (HTTP/1) or resets its stream (HTTP/2), as a client does.
            let abort_timer = tokio::time::sleep_until(abort_at.unwrap_or(deadline));
            tokio::select! {
                biased;
                () = cancel::cancelled(cancel) => Err(ErrorType::Cancelled),
                () = abort_timer, if abort_at.is_some() => Err(ErrorType::Aborted),
                r = stream(request, route.endpoint, &tc.target, deadline, abort_events, &mut m) => r,
            }
        } else {
            tokio::select! {
                biased;
                () = cancel::cancelled(cancel) => Err(ErrorType::Cancelled),
                r = reader::whole(request, deadline, route.endpoint, &mut m) => r,
            }
        };
        if outcome == Err(ErrorType::Aborted) && m.end_at.is_none() {
            m.end_at = Some(Instant::now());
        }
        let error = match outcome {
            Ok(()) if route.stream && m.token_events.is_empty() => Some(ErrorType::Empty),
            Ok(()) => None,
            Err(e) => Some(e),
        };
        if let Some(e) = error {
            tc.first_failure(e, &route.url, &m);
        }
        Streamed {
            plan,
            target: Some(route.target),
            m,
            error,
        }
    }

    /// What follows a stream: the output-token count (tokenizing the answer on a blocking worker
    /// when the server sent no usage) and the record. Runs after the in-flight slot is free.
    pub async fn finish(&self, s: Streamed) -> RequestRecord {
        let Streamed {
            plan,
            target,
            m,
            error,
        } = s;
        let Some(tc) = target.and_then(|t| self.targets.get(t)) else {
            return RequestRecord::not_sent(&plan, error.unwrap_or(ErrorType::Connect), m.sent_at);
        };
        let end_at = m.end_at.unwrap_or_else(Instant::now);
        let count = if error == Some(ErrorType::Aborted) {
            // Closed on purpose: the events read are all there is to count (no tokenizer run
            // for an answer nobody wanted).
            OutputCount {
                output: m.token_events.len() as u64,
                source: TokenSource::Events,
                hidden_reasoning: 0,
                recounted: None,
            }
        } else {
            self.count_output(&m, tc, plan.seq).await
        };
        RequestRecord {
            seq: plan.seq,
            scenario: plan.scenario,
            intended_at: plan.intended_at,
            sent_at: m.sent_at,
            first_chunk_at: m.first_chunk_at,
            first_token_at: m.first_token_at,
            first_answer_at: m.first_answer_at,
            end_at,
            output_tokens: count.output,
            token_source: count.source,
            hidden_reasoning_tokens: count.hidden_reasoning,
            input_tokens: m
                .usage
                .map_or(u64::from(plan.prompt.input_tokens), |u| u.prompt_tokens),
            cached_input_tokens: m.usage.and_then(|u| u.cached_tokens()),
            generated_input_tokens: u64::from(plan.prompt.input_tokens),
            recounted_output_tokens: count.recounted,
            usage_present: m.usage.is_some(),
            stalls: m.stalls,
            outcome: error.map_or(Outcome::Success, ErrorType::outcome),
            // `aborted` (like `cancelled`) is its own outcome and label, never a failure.
            error_type: error,
            status: m.status,
            answer_text: plan.keep_text.then(|| m.text.clone()),
            phase: plan.phase,
            identity: crate::record::Identity {
                trace: m.trace,
                response_id: m.response_id,
                request_id: m.request_id,
            },
            token_events: m.token_events,
        }
    }

    /// `N`, the streamed output tokens: server usage less the reasoning tokens it never streamed,
    /// else the tokenizer over the received text, else events. A sample of the requests with
    /// usage (`recount_sample`) is re-counted too, for the discrepancy. Tokenizing runs on a
    /// blocking worker, after the stream has ended.
    async fn count_output(&self, m: &Measurement, tc: &TargetClient, seq: u64) -> OutputCount {
        let target = &tc.target;
        let events = m.token_events.len() as u64;
        let countable = !m.text_overflow && !m.text.is_empty();
        let recount = |text: String| {
            let tokenizer = Arc::clone(&tc.tokenizer);
            tokio::task::spawn_blocking(move || tokenizer.count(&text) as u64)
        };
        if let Some(u) = m.usage {
            let sampled = countable
                && target.recount_sample > 0.0
                && rng_for(self.seed, Stream::Recount, seq).random_bool(target.recount_sample);
            let recounted = if sampled {
                recount(m.text.clone()).await.ok()
            } else {
                None
            };
            let (output, hidden_reasoning) = streamed_tokens(&u, m.reasoning_streamed);
            return OutputCount {
                output,
                source: TokenSource::Usage,
                hidden_reasoning,
                recounted,
            };
        }
        let (output, source) = if !countable {
            (events, TokenSource::Events)
        } else {
            match recount(m.text.clone()).await {
                Ok(n) => (n, TokenSource::Tokenizer),
                Err(_) => (events, TokenSource::Events),
            }
        };
        OutputCount {
            output,
            source,
            hidden_reasoning: 0,
            recounted: None,
        }
    }
}

/// A request whose stream has ended, before the post-stream accounting.
#[derive(Debug)]
pub struct Streamed {
    plan: RequestPlan,
    /// The target it went to (`None`: it could not be sent).
    target: Option<usize>,
    m: Measurement,
    error: Option<ErrorType>,
}

/// The output-token accounting of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OutputCount {
    output: u64,
    source: TokenSource,
    hidden_reasoning: u64,
    recounted: Option<u64>,
}

/// From the server's usage: (tokens streamed, reasoning tokens it generated but never streamed).
/// `completion_tokens` counts reasoning tokens too; when the stream carried no reasoning text
/// (OpenAI's reasoning models hide it), those tokens never crossed the wire and TPOT must not be
/// divided by them.
fn streamed_tokens(u: &crate::openai::Usage, reasoning_streamed: bool) -> (u64, u64) {
    let reasoning = u.reasoning_tokens().unwrap_or(0).min(u.completion_tokens);
    let hidden = if reasoning_streamed { 0 } else { reasoning };
    (u.completion_tokens - hidden, hidden)
}

/// At most `max` characters of `bytes` (lossy UTF-8) on one line: control characters escaped,
/// `…` when cut. For logs: a server's error body, a wrong answer.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let limit = bytes.len().min(max.saturating_mul(4));
    let text = String::from_utf8_lossy(&bytes[..limit]);
    let mut out = String::with_capacity(max.min(text.len()) + 3);
    let mut chars = text.chars();
    for ch in chars.by_ref().take(max) {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    if chars.next().is_some() || limit < bytes.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
