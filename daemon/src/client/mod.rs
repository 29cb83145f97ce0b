//! How to send: one keep-alive `reqwest` client per target, a streaming POST, and the read loop
//! that timestamps every read the moment it completes — before framing ([`sse`]) and parsing —
//! and turns whatever happens into a [`RequestRecord`] with an outcome from the closed set of
//! DESIGN §4. Nothing from the network is unwrapped; tokenization (only when the server sent no
//! `usage`) runs on a blocking worker after the stream ended.

mod credentials;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, HttpVersion, Secret, Target};
use crate::openai::{Endpoint, StreamChunk, Usage};
use crate::record::{ErrorType, Outcome, RequestPlan, RequestRecord, TokenSource};
use crate::workload::Tokenizer;
use crate::workload::rng::{Stream, rng_for};
pub use credentials::Credentials;
use rand::RngExt;
use sse::{Framer, SseError};

pub use crate::openai::SEQ_HEADER;

/// Received text kept per request for the tokenizer fallback; beyond it, events are counted.
const MAX_TEXT_BYTES: usize = 8 << 20;

pub use crate::tls::init_crypto;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("target {target}: {source}")]
    Build {
        target: String,
        source: reqwest::Error,
    },
    #[error("target {target}: header {name}: invalid value")]
    Header { target: String, name: String },
}

#[derive(Debug)]
struct TargetClient {
    http: reqwest::Client,
    headers: HeaderMap,
    target: Target,
    /// The target's tokenizer (output re-counts, after the stream).
    tokenizer: Arc<dyn Tokenizer>,
}

/// Per-scope request routing, built once.
#[derive(Debug)]
struct Route {
    target: usize,
    url: String,
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
}

impl Client {
    /// A client for the config's scenarios (scopes `0..scenarios`) on one connection pool per
    /// target. `tokenizers` and `credentials` come from the preparation step.
    pub fn new(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
    ) -> Result<Self, ClientError> {
        let routes = config
            .scenarios
            .iter()
            .map(|s| (s.target.index, s.endpoint))
            .collect();
        Self::build(config, tokenizers, credentials, routes, 0)
    }

    /// The canary's own client (its own connection pool), routing the canary's scope (one past
    /// the scenarios); `None` without a `[canary]`.
    pub fn for_canary(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
    ) -> Result<Option<Self>, ClientError> {
        let Some(c) = &config.canary else {
            return Ok(None);
        };
        let routes = vec![(c.target.index, c.endpoint)];
        Self::build(
            config,
            tokenizers,
            credentials,
            routes,
            config.scenarios.len(),
        )
        .map(Some)
    }

    fn build(
        config: &Config,
        tokenizers: &[Arc<dyn Tokenizer>],
        credentials: &Credentials,
        routes: Vec<(usize, Endpoint)>,
        first_scope: usize,
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
                build_target(t, credentials.key(i), tokenizer)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let routes = routes
            .into_iter()
            .map(|(target, endpoint)| Route {
                target,
                url: config.targets[target].url(endpoint),
            })
            .collect();
        Ok(Client {
            targets,
            routes,
            first_scope,
            seed: config.seed,
        })
    }

    /// Whether target `index` answers `GET /v1/models` with a success, asked with the target's
    /// own client: its headers, its authentication, its TLS and timeouts.
    pub async fn models_ready(&self, index: usize) -> Result<(), String> {
        let tc = self
            .targets
            .get(index)
            .ok_or_else(|| format!("no target {index}"))?;
        let url = format!("{}/v1/models", tc.target.base_url);
        let mut headers = tc.headers.clone();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let resp = tc
            .http
            .get(&url)
            .headers(headers)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url}: HTTP {}", resp.status()))
        }
    }

    /// Send `plan` and measure it. Never panics on anything the server does.
    pub async fn execute(&self, plan: &RequestPlan, cancel: &CancellationToken) -> RequestRecord {
        let route = plan
            .scenario
            .checked_sub(self.first_scope)
            .and_then(|i| self.routes.get(i));
        let Some(tc) = route.and_then(|r| self.targets.get(r.target)) else {
            // A plan for a scope this client does not route: nothing can be sent.
            tracing::error!(scope = plan.scenario, "no route for this request's scope");
            return RequestRecord::not_sent(plan, ErrorType::Connect, Instant::now());
        };
        let route = route.map_or("", |r| r.url.as_str());
        let request = tc
            .http
            .post(route)
            .headers(tc.headers.clone())
            .header(SEQ_HEADER, plan.seq)
            .body(plan.prompt.body.clone());
        let mut m = Measurement::new(plan.max_tokens, Instant::now());
        let deadline = m.sent_at + tc.target.request_timeout;
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => Err(ErrorType::Cancelled),
            r = stream(request, &tc.target, deadline, &mut m) => r,
        };
        let end_at = m.end_at.unwrap_or_else(Instant::now);
        let error = match outcome {
            Ok(()) if m.token_events.is_empty() => Some(ErrorType::Empty),
            Ok(()) => None,
            Err(e) => Some(e),
        };
        let (output_tokens, token_source, recounted) = self.count_output(&m, tc, plan.seq).await;
        RequestRecord {
            seq: plan.seq,
            scenario: plan.scenario,
            intended_at: plan.intended_at,
            sent_at: m.sent_at,
            first_chunk_at: m.first_chunk_at,
            first_token_at: m.first_token_at,
            first_answer_at: m.first_answer_at,
            end_at,
            output_tokens,
            token_source,
            input_tokens: m
                .usage
                .map_or(u64::from(plan.prompt.input_tokens), |u| u.prompt_tokens),
            generated_input_tokens: u64::from(plan.prompt.input_tokens),
            recounted_output_tokens: recounted,
            usage_present: m.usage.is_some(),
            stalls: m.stalls,
            outcome: error.map_or(Outcome::Success, ErrorType::outcome),
            error_type: error,
            status: m.status,
            answer_text: plan.keep_text.then(|| m.text.clone()),
            phase: plan.phase,
            token_events: m.token_events,
        }
    }

    /// `N`: server usage, else the tokenizer over the received text, else events. A sample of
    /// the requests with usage (`recount_sample`) is re-counted too, for the discrepancy.
    /// Tokenizing runs on a blocking worker, after the stream has ended.
    async fn count_output(
        &self,
        m: &Measurement,
        tc: &TargetClient,
        seq: u64,
    ) -> (u64, TokenSource, Option<u64>) {
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
            return (u.completion_tokens, TokenSource::Usage, recounted);
        }
        if !countable {
            return (events, TokenSource::Events, None);
        }
        match recount(m.text.clone()).await {
            Ok(n) => (n, TokenSource::Tokenizer, None),
            Err(_) => (events, TokenSource::Events, None),
        }
    }
}

fn build_target(
    t: &Target,
    key: Option<&Secret>,
    tokenizer: Arc<dyn Tokenizer>,
) -> Result<TargetClient, ClientError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(t.connect_timeout)
        .pool_max_idle_per_host(t.pool_max_idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("llm-soak/", env!("CARGO_PKG_VERSION")));
    b = match t.http {
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 if t.base_url.starts_with("http://") => b.http2_prior_knowledge(),
        HttpVersion::Http2 => b,
    };
    let http = b.build().map_err(|source| ClientError::Build {
        target: t.name.clone(),
        source,
    })?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("text/event-stream"),
    );
    let bad = |name: &str| ClientError::Header {
        target: t.name.clone(),
        name: name.to_string(),
    };
    if let Some(key) = key {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| bad("authorization"))?;
        v.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, v);
    }
    for h in &t.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad(&h.name))?;
        let mut v = HeaderValue::from_str(h.value.expose()).map_err(|_| bad(&h.name))?;
        v.set_sensitive(h.sensitive);
        headers.insert(name, v);
    }
    Ok(TargetClient {
        http,
        headers,
        target: t.clone(),
        tokenizer,
    })
}

/// What the read loop has seen so far.
struct Measurement {
    sent_at: Instant,
    status: Option<u16>,
    first_chunk_at: Option<Instant>,
    first_token_at: Option<Instant>,
    first_answer_at: Option<Instant>,
    token_events: Vec<Instant>,
    end_at: Option<Instant>,
    usage: Option<Usage>,
    stalls: u32,
    text: String,
    text_overflow: bool,
}

impl Measurement {
    fn new(max_tokens: u32, sent_at: Instant) -> Self {
        Measurement {
            sent_at,
            status: None,
            first_chunk_at: None,
            first_token_at: None,
            first_answer_at: None,
            token_events: Vec::with_capacity(max_tokens.min(4096) as usize + 2),
            end_at: None,
            usage: None,
            stalls: 0,
            text: String::new(),
            text_overflow: false,
        }
    }
}

fn send_error(e: &reqwest::Error) -> ErrorType {
    if e.is_connect() {
        ErrorType::Connect
    } else if e.is_redirect() {
        ErrorType::Redirect
    } else if e.is_timeout() {
        ErrorType::Timeout
    } else {
        ErrorType::Reset
    }
}

/// Send and read the whole stream; `Ok` means it ended properly (`[DONE]`, or a clean close
/// after a `finish_reason`).
async fn stream(
    request: reqwest::RequestBuilder,
    target: &Target,
    deadline: Instant,
    m: &mut Measurement,
) -> Result<(), ErrorType> {
    let resp = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Err(ErrorType::Timeout),
        Ok(Err(e)) => return Err(send_error(&e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    m.status = Some(status.as_u16());
    if !status.is_success() {
        return Err(ErrorType::from_status(status.as_u16()));
    }
    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    if !is_sse {
        return Err(ErrorType::NotSse);
    }
    let mut body = resp.bytes_stream();
    let mut reader = Reader::new(target.max_event_bytes, target.stall_threshold);
    let mut last_read = m.sent_at;
    // One timer for the whole stream, re-armed lazily: a read does not touch it; when it fires
    // early (reads came meanwhile) it moves to the deadline those reads imply. So the timer
    // wheel is not locked twice per chunk, yet no read is ever judged against a stale deadline.
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);
    loop {
        let read = tokio::select! {
            biased;
            r = body.next() => Some(r),
            () = &mut timer => None,
        };
        // The arrival timestamp: taken as the read completes, before any framing or parsing.
        let now = Instant::now();
        let Some(read) = read else {
            // The idle (stall) timeout runs mid-stream only: before the first event, a slow
            // prefill or a queue is latency to measure, bounded by the total timeout alone.
            let idle_deadline = match m.first_chunk_at {
                Some(_) => (last_read + target.idle_timeout).min(deadline),
                None => deadline,
            };
            if now < idle_deadline {
                timer.as_mut().reset(idle_deadline);
                continue;
            }
            if idle_deadline >= deadline {
                return Err(ErrorType::Timeout);
            }
            m.stalls += 1;
            return Err(ErrorType::Stall);
        };
        match read {
            None => return reader.on_close(now, m),
            Some(Err(_)) => {
                m.end_at = Some(now);
                return Err(ErrorType::Reset);
            }
            Some(Ok(bytes)) => {
                let first = m.first_chunk_at.is_none();
                last_read = now;
                if let Some(end) = reader.on_read(&bytes, now, m) {
                    return end;
                }
                // From the first event on, the idle timeout applies: bring the timer forward
                // once (later reads only push the idle deadline back, handled when it fires).
                if first && m.first_chunk_at.is_some() {
                    let idle_deadline = (now + target.idle_timeout).min(deadline);
                    if idle_deadline < timer.deadline() {
                        timer.as_mut().reset(idle_deadline);
                    }
                }
            }
        }
    }
}

/// The body-reading state machine, separate from I/O so recorded streams can be replayed
/// split at every byte offset.
struct Reader {
    framer: Framer,
    finished: bool,
    stall_threshold: Duration,
}

impl Reader {
    fn new(max_event_bytes: usize, stall_threshold: Duration) -> Self {
        Reader {
            framer: Framer::new(max_event_bytes),
            finished: false,
            stall_threshold,
        }
    }

    /// Bytes read at `now`; `Some` when the stream is over.
    fn on_read(
        &mut self,
        bytes: &[u8],
        now: Instant,
        m: &mut Measurement,
    ) -> Option<Result<(), ErrorType>> {
        self.framer.feed(bytes);
        while let Some(event) = self.framer.next_event() {
            let event = match event {
                Ok(ev) => ev,
                Err(SseError::Oversized { .. }) => {
                    m.end_at = Some(now);
                    return Some(Err(ErrorType::OversizedEvent));
                }
            };
            m.first_chunk_at.get_or_insert(now);
            if event.data == b"[DONE]" {
                m.end_at = Some(now);
                return Some(Ok(()));
            }
            match on_event(event.data, event.error, now, self.stall_threshold, m) {
                Ok(fin) => self.finished |= fin,
                Err(e) => {
                    m.end_at = Some(now);
                    return Some(Err(e));
                }
            }
        }
        None
    }

    /// The server closed the body cleanly at `now`.
    fn on_close(&mut self, now: Instant, m: &mut Measurement) -> Result<(), ErrorType> {
        m.end_at = Some(now);
        self.framer.finish();
        if self.finished {
            Ok(())
        } else {
            Err(ErrorType::Truncated)
        }
    }
}

/// Apply one event's payload; returns whether it carried a `finish_reason`.
fn on_event(
    data: &[u8],
    error_event: bool,
    now: Instant,
    stall_threshold: Duration,
    m: &mut Measurement,
) -> Result<bool, ErrorType> {
    let chunk: StreamChunk<'_> = serde_json::from_slice(data).map_err(|_| ErrorType::BadEvent)?;
    if let Some(err) = &chunk.error {
        return Err(match err.status_code() {
            Some(429) => ErrorType::Http429,
            Some(400..=499) => ErrorType::Http4xx,
            _ => ErrorType::Http5xx,
        });
    }
    if error_event {
        return Err(ErrorType::BadEvent);
    }
    let before = m.text.len();
    let content = chunk.content(&mut m.text);
    if m.text.len() > MAX_TEXT_BYTES {
        m.text_overflow = true;
        m.text.clear();
    } else if m.text_overflow {
        m.text.truncate(before);
    }
    if content.token {
        if let Some(&prev) = m.token_events.last()
            && now - prev > stall_threshold
        {
            m.stalls += 1;
        }
        m.first_token_at.get_or_insert(now);
        m.token_events.push(now);
        if content.answer {
            m.first_answer_at.get_or_insert(now);
        }
    }
    if let Some(u) = chunk.usage {
        m.usage = Some(u);
    }
    Ok(chunk.finished())
}

#[cfg(test)]
mod tests;
