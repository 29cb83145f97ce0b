//! The read loop of one streamed request: every read is timestamped the moment it completes,
//! before framing ([`super::sse`]) and parsing, and the events update a [`Measurement`]. Timers:
//! until the first token-bearing event only `first_token_timeout` (and the total timeout) apply —
//! a queued or prefilling request is latency to measure, even after a role-only chunk; from the
//! first token on, `idle_timeout` without another token-bearing event is a `stall`; after a
//! `finish_reason` only the total timeout is left. Errors a server sends (in a body or mid-stream)
//! are classified from their status or code ([`classify`]). After `[DONE]` the rest of the body
//! is read (bounded) so the connection can be reused.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header;
use tokio::time::Instant;

use super::sse::{Framer, SseError};
use crate::config::Target;
use crate::openai::{Decoder, Endpoint, Step, Usage, WireError};
use crate::record::{ErrorType, TokenEvents, causes};

/// The most of an `x-request-id` kept (it goes to the request log).
const REQUEST_ID_CHARS: usize = 128;

/// Received text kept per request for the tokenizer fallback; beyond it, events are counted.
const MAX_TEXT_BYTES: usize = 8 << 20;

/// What the read loop has seen so far.
#[derive(Debug)]
pub(super) struct Measurement {
    pub(super) sent_at: Instant,
    pub(super) status: Option<u16>,
    pub(super) first_chunk_at: Option<Instant>,
    pub(super) first_token_at: Option<Instant>,
    pub(super) first_answer_at: Option<Instant>,
    pub(super) token_events: TokenEvents,
    pub(super) end_at: Option<Instant>,
    pub(super) usage: Option<Usage>,
    pub(super) stalls: u32,
    pub(super) text: String,
    pub(super) text_overflow: bool,
    /// The stream carried reasoning text (so the server's reasoning tokens were streamed).
    pub(super) reasoning_streamed: bool,
    /// Error classes whose first failure on this target is still to be logged (bit per
    /// [`ErrorType`]): only for those is the failure's detail gathered.
    pub(super) unlogged: u32,
    /// What the failure said: the connection error's causes, or an excerpt of an error body.
    pub(super) detail: Option<String>,
    /// The trace context sent, and the ids the server answered with.
    pub(super) trace: Option<crate::record::TraceContext>,
    pub(super) response_id: Option<String>,
    pub(super) request_id: Option<String>,
}

impl Measurement {
    pub(super) fn new(max_tokens: u32, sent_at: Instant) -> Self {
        Measurement {
            sent_at,
            status: None,
            first_chunk_at: None,
            first_token_at: None,
            first_answer_at: None,
            token_events: TokenEvents::with_capacity(max_tokens.min(4096) as usize + 2),
            end_at: None,
            usage: None,
            stalls: 0,
            text: String::new(),
            text_overflow: false,
            reasoning_streamed: false,
            unlogged: 0,
            detail: None,
            trace: None,
            response_id: None,
            request_id: None,
        }
    }

    /// Whether the first failure of `class` on this target is still to be logged.
    fn wants_detail(&self, class: ErrorType) -> bool {
        self.unlogged & (1 << class as u32) != 0
    }
}

/// Bytes of an error body kept for its log line.
const ERROR_BODY_BYTES: usize = 1024;
/// How long an error body may take to arrive for its log line.
const ERROR_BODY_FOR: Duration = Duration::from_secs(2);

/// The start of an error response's body, bounded in bytes and time, on one line.
async fn body_excerpt(resp: reqwest::Response, deadline: Instant) -> String {
    let until = (Instant::now() + ERROR_BODY_FOR).min(deadline);
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_BYTES {
        match tokio::time::timeout_at(until, body.next()).await {
            Ok(Some(Ok(b))) => {
                buf.extend_from_slice(&b[..b.len().min(ERROR_BODY_BYTES - buf.len())])
            }
            _ => break,
        }
    }
    super::excerpt(&buf, 300)
}

/// Whether a TLS failure is somewhere in `e`'s chain of causes (rustls' error, which hyper's
/// connector hands up inside an `io::Error`).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|inner| is_tls(inner))
        {
            return true;
        }
        cause = c.source();
    }
    false
}

fn send_error(e: &reqwest::Error) -> ErrorType {
    if is_tls(e) {
        ErrorType::Tls
    } else if e.is_connect() {
        ErrorType::Connect
    } else if e.is_redirect() {
        ErrorType::Redirect
    } else if e.is_timeout() {
        ErrorType::Timeout
    } else {
        // Includes an HTTP/2 stream the server refused (REFUSED_STREAM, GOAWAY): never retried.
        ErrorType::Reset
    }
}

/// The class of an error a server sent: its HTTP status when it gives one, else its code or
/// type name (OpenAI, vLLM, TGI, llama.cpp and Anthropic spell them differently; docs/reliability.md
/// has the table).
pub(super) fn classify(error: &WireError<'_>, tgi_type: Option<&str>) -> ErrorType {
    match error {
        WireError::Object(o) => match o.status_code() {
            Some(status) => ErrorType::from_status(status),
            None => by_name(o.code_str().or(o.kind.as_deref())),
        },
        WireError::Message(_) => by_name(tgi_type),
    }
}

fn by_name(name: Option<&str>) -> ErrorType {
    let n = name.unwrap_or_default().to_ascii_lowercase();
    let has = |k: &str| n.contains(k);
    if n == "overloaded"
        || has("rate_limit")
        || has("ratelimit")
        || has("too_many_requests")
        || has("insufficient_quota")
    {
        // TGI's "overloaded" is its 429; OpenAI's rate limits and quota are 429s.
        ErrorType::Http429
    } else if has("invalid_request")
        || has("badrequest")
        || has("bad_request")
        || has("validation")
        || has("context_length")
        || has("not_found")
        || has("notfound")
        || has("authentication")
        || has("permission")
        || has("unauthorized")
        || has("invalid_api_key")
        || has("unprocessable")
    {
        ErrorType::Http4xx
    } else {
        // server_error, InternalServerError, generation, incomplete_generation, Anthropic's
        // overloaded_error (its 529), and anything unknown: the server failed.
        ErrorType::Http5xx
    }
}

/// Send `request` and wait for its response head until `deadline`; a non-success status is its
/// error class (the status is kept in `m`).
async fn respond(
    request: reqwest::RequestBuilder,
    deadline: Instant,
    m: &mut Measurement,
) -> Result<reqwest::Response, ErrorType> {
    let resp = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Err(ErrorType::Timeout),
        Ok(Err(e)) => {
            let class = send_error(&e);
            if m.wants_detail(class) {
                m.detail = Some(causes(&e));
            }
            return Err(class);
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    m.status = Some(status.as_u16());
    // The server's id for the request, when it gives one (vLLM, gateways).
    m.request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(REQUEST_ID_CHARS).collect());
    if !status.is_success() {
        let class = ErrorType::from_status(status.as_u16());
        if m.wants_detail(class) {
            m.detail = Some(body_excerpt(resp, deadline).await);
        }
        return Err(class);
    }
    Ok(resp)
}

/// Send a non-streamed request (`stream = false`) and read its one JSON answer. There is no
/// first token to time: only the end (the whole body read) is recorded, with the answer's text
/// and usage; TTFT, TPOT and ITL stay absent rather than faked.
pub(super) async fn whole(
    request: reqwest::RequestBuilder,
    deadline: Instant,
    endpoint: Endpoint,
    m: &mut Measurement,
) -> Result<(), ErrorType> {
    let resp = respond(request, deadline, m).await?;
    let body = match tokio::time::timeout_at(deadline, resp.bytes()).await {
        Err(_) => return Err(ErrorType::Timeout),
        Ok(Err(_)) => return Err(ErrorType::Reset),
        Ok(Ok(b)) => b,
    };
    m.end_at = Some(Instant::now());
    if endpoint == Endpoint::Embeddings {
        // Vectors: success is at least one, the usage counts the input tokens.
        let answer: crate::openai::EmbeddingResponse =
            serde_json::from_slice(&body).map_err(|_| ErrorType::BadEvent)?;
        m.usage = answer.usage;
        return if answer.data.is_empty() {
            Err(ErrorType::Empty)
        } else {
            Ok(())
        };
    }
    let step = Decoder::new(endpoint)
        .whole(&body, &mut m.text)
        .map_err(|_| ErrorType::BadEvent)?;
    if let Some(err) = &step.error {
        return Err(classify(err, step.error_type.as_deref()));
    }
    if m.text.len() > MAX_TEXT_BYTES {
        m.text_overflow = true;
        m.text.clear();
    }
    m.usage = step.usage;
    m.reasoning_streamed = step.content.reasoning;
    let generated = step.usage.is_some_and(|u| u.completion_tokens > 0);
    if step.content.token || generated {
        Ok(())
    } else {
        Err(ErrorType::Empty)
    }
}

/// Send and read the whole stream; `Ok` means it ended properly (`[DONE]`, or a clean close —
/// or a broken connection — after a `finish_reason`).
pub(super) async fn stream(
    request: reqwest::RequestBuilder,
    endpoint: Endpoint,
    target: &Target,
    deadline: Instant,
    abort_events: Option<u32>,
    m: &mut Measurement,
) -> Result<(), ErrorType> {
    let resp = respond(request, deadline, m).await?;
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
    if abort_events == Some(0) {
        // Aborted before the first token: the response (and with it the connection or the
        // HTTP/2 stream) is dropped unread.
        m.end_at = Some(Instant::now());
        return Err(ErrorType::Aborted);
    }
    // `usize::MAX`: no abort (one comparison per read either way).
    let abort_after = abort_events.map_or(usize::MAX, |n| n as usize);
    let mut body = resp.bytes_stream();
    let mut reader = Reader::new(endpoint, target.max_event_bytes, target.stall_threshold);
    let timers = Timers {
        deadline,
        first_token: (m.sent_at + target.first_token_timeout()).min(deadline),
        idle: target.idle_timeout,
    };
    // One timer for the whole stream, re-armed lazily: a read does not touch it; when it fires
    // early (tokens came meanwhile) it moves to the deadline those tokens imply. So the timer
    // wheel is not locked twice per chunk, yet no read is ever judged against a stale deadline.
    let timer = tokio::time::sleep_until(timers.first_token);
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
            let due = timers.due(m, reader.finished);
            if now < due {
                timer.as_mut().reset(due);
                continue;
            }
            if m.first_token_at.is_none() || due >= deadline {
                return Err(ErrorType::Timeout);
            }
            m.stalls += 1;
            return Err(ErrorType::Stall);
        };
        match read {
            None => return reader.on_close(now, m),
            Some(Err(_)) => {
                m.end_at = Some(now);
                // The answer was complete: a connection lost after it is not a failure.
                return if reader.finished {
                    Ok(())
                } else {
                    Err(ErrorType::Reset)
                };
            }
            Some(Ok(bytes)) => {
                let first = m.first_token_at.is_none();
                if let Some(end) = reader.on_read(&bytes, now, m) {
                    if end.is_ok() {
                        drain(&mut body, deadline).await;
                    }
                    return end;
                }
                if m.token_events.len() >= abort_after {
                    // Aborted on purpose: dropping the body closes the connection (HTTP/1) or
                    // resets the stream (HTTP/2), as a client that gives up does.
                    m.end_at = Some(now);
                    return Err(ErrorType::Aborted);
                }
                // From the first token on, the idle timeout applies: bring the timer forward
                // once (later tokens only push the idle deadline back, handled when it fires).
                if first && m.first_token_at.is_some() {
                    let due = timers.due(m, reader.finished);
                    if due < timer.deadline() {
                        timer.as_mut().reset(due);
                    }
                }
            }
        }
    }
}

/// How long the body's end may take to arrive after `[DONE]`.
const DRAIN_FOR: Duration = Duration::from_secs(1);
/// The most bytes read after `[DONE]` to reach the body's end.
const DRAIN_BYTES: usize = 64 << 10;

/// After `[DONE]` (the measurement is over: `end_at` is taken), read on to the body's end — the
/// chunked terminator, usually in the same or the next packet — so the connection goes back to
/// the pool instead of being closed: a server whose framework sends the terminator separately
/// (uvicorn: vLLM, SGLang) would otherwise cost a new connection per request. Bounded in time and
/// bytes; a server that sends more, or nothing, loses its connection as before.
async fn drain<S, E>(body: &mut S, deadline: Instant)
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    let until = (Instant::now() + DRAIN_FOR).min(deadline);
    let mut left = DRAIN_BYTES;
    while let Ok(Some(Ok(b))) = tokio::time::timeout_at(until, body.next()).await {
        let Some(rest) = left.checked_sub(b.len()) else {
            return;
        };
        left = rest;
    }
}

/// The deadlines of one stream.
struct Timers {
    deadline: Instant,
    first_token: Instant,
    idle: Duration,
}

impl Timers {
    /// When the stream has waited too long, given what it has seen.
    fn due(&self, m: &Measurement, finished: bool) -> Instant {
        match m.token_events.last() {
            None => self.first_token,
            Some(_) if finished => self.deadline,
            Some(last) => (last + self.idle).min(self.deadline),
        }
    }
}

/// The body-reading state machine, separate from I/O so recorded streams can be replayed
/// split at every byte offset.
pub(super) struct Reader {
    framer: Framer,
    decoder: Decoder,
    pub(super) finished: bool,
    stall_threshold: Duration,
}

impl Reader {
    pub(super) fn new(
        endpoint: Endpoint,
        max_event_bytes: usize,
        stall_threshold: Duration,
    ) -> Self {
        Reader {
            framer: Framer::new(max_event_bytes),
            decoder: Decoder::new(endpoint),
            finished: false,
            stall_threshold,
        }
    }

    /// Bytes read at `now`; `Some` when the stream is over.
    pub(super) fn on_read(
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
            let before = m.text.len();
            let step = self.decoder.event(event.data, &mut m.text);
            match on_step(step, event.error, before, now, self.stall_threshold, m) {
                Ok(step) if step.done => {
                    self.finished |= step.finished;
                    m.end_at = Some(now);
                    return Some(Ok(()));
                }
                Ok(step) => self.finished |= step.finished,
                Err(e) => {
                    m.end_at = Some(now);
                    return Some(Err(e));
                }
            }
        }
        None
    }

    /// The server closed the body cleanly at `now`.
    pub(super) fn on_close(&mut self, now: Instant, m: &mut Measurement) -> Result<(), ErrorType> {
        m.end_at = Some(now);
        self.framer.finish();
        if self.finished {
            Ok(())
        } else {
            Err(ErrorType::Truncated)
        }
    }
}

/// What an event said about the stream's end.
#[derive(Debug, Clone, Copy)]
struct Ended {
    finished: bool,
    done: bool,
}

/// Apply one decoded event (its text already appended from `before` on).
fn on_step(
    step: Result<Step<'_>, serde_json::Error>,
    error_event: bool,
    before: usize,
    now: Instant,
    stall_threshold: Duration,
    m: &mut Measurement,
) -> Result<Ended, ErrorType> {
    let step = step.map_err(|_| ErrorType::BadEvent)?;
    if let Some(err) = &step.error {
        return Err(classify(err, step.error_type.as_deref()));
    }
    if error_event {
        return Err(ErrorType::BadEvent);
    }
    if m.text.len() > MAX_TEXT_BYTES {
        m.text_overflow = true;
        m.text.clear();
    } else if m.text_overflow {
        m.text.truncate(before);
    }
    let content = step.content;
    if content.token {
        if let Some(prev) = m.token_events.last()
            && now - prev > stall_threshold
        {
            m.stalls += 1;
        }
        m.first_token_at.get_or_insert(now);
        m.token_events.push(now);
        if content.answer {
            m.first_answer_at.get_or_insert(now);
        }
        m.reasoning_streamed |= content.reasoning;
    }
    if let Some(u) = step.usage {
        m.usage = Some(u);
    }
    // The response's id, once (the chunk was timestamped before it was parsed).
    if m.response_id.is_none()
        && let Some(id) = step.id
    {
        m.response_id = Some(id.into_owned());
    }
    Ok(Ended {
        finished: step.finished,
        done: step.done,
    })
}
