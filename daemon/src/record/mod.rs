//! Plain data that flows between the scheduler, the client and the recorder: what to send
//! ([`RequestPlan`]), what happened ([`RequestRecord`]) and how it ended ([`Outcome`],
//! [`ErrorType`]). No I/O here; the definitions of DESIGN §4 are methods on the record so every
//! consumer (metrics, reports, tests) derives them the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;

mod events;
mod quantity;
pub use events::TokenEvents;
pub use quantity::{Metric, Quantity, Stat};

/// One prepared request: the exact bytes to POST plus what the recorder needs to know.
#[derive(Debug)]
pub struct Prompt {
    pub seq: u64,
    pub scenario: usize,
    /// Serialized JSON body, ready to send.
    pub body: Bytes,
    /// Tokens of the content llm-soak generated (system prompt included), with the target's
    /// tokenizer; the server's `usage.prompt_tokens` adds its chat template.
    pub input_tokens: u32,
    pub max_tokens: u32,
    /// Which shared prefix leads the prompt, if any.
    pub prefix_id: Option<u32>,
    /// For the first turn of a multi-turn session: how many turns the session has.
    pub session_turns: Option<u32>,
    /// A conversational scenario's turns as sent — (role, text), the system prompt apart — so
    /// the next turn extends them with the answer, whatever the API's body looks like (a
    /// completions prompt joins them; a Responses `input` lists them). `None` elsewhere.
    pub conversation: Option<Vec<(String, String)>>,
}

/// One request the dispatcher decided to send.
#[derive(Debug, Clone)]
pub struct RequestPlan {
    /// Arrival sequence number in the unsharded schedule.
    pub seq: u64,
    /// When the schedule wanted it sent.
    pub intended_at: Instant,
    /// Index into the config's scenario list.
    pub scenario: usize,
    /// The prepared prompt (shared, never copied on the request path).
    pub prompt: Arc<Prompt>,
    /// `max_tokens` to ask for.
    pub max_tokens: u32,
    /// Keep the answer text in the record (the next turn of a session needs it).
    pub keep_text: bool,
    /// The load phase the arrival fell in (open loop only).
    pub phase: Option<u32>,
}

/// How a request ended (label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Error,
    Timeout,
    Cancelled,
    /// Closed by the client on purpose (a scenario's `abort`): neither a success nor a failure,
    /// never judged by an SLO, its latency in no histogram.
    Aborted,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Success,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Cancelled,
        Outcome::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::Aborted => "aborted",
        }
    }
}

/// The closed set of failure classes (label `error_type`, DESIGN §4). Serialized as its label.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The TCP connection failed or was refused.
    Connect,
    /// The TLS handshake failed: an untrusted or expired certificate, a name mismatch, a client
    /// certificate refused.
    Tls,
    /// The per-request total timeout fired.
    Timeout,
    /// No bytes for longer than the idle timeout mid-stream.
    Stall,
    /// The connection broke mid-request (reset, chunked-encoding error).
    Reset,
    /// A 4xx other than 429.
    #[serde(rename = "http_4xx")]
    Http4xx,
    #[serde(rename = "http_429")]
    Http429,
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// A 3xx (redirects are never followed).
    Redirect,
    /// 2xx without `text/event-stream`.
    NotSse,
    /// An event that is not valid UTF-8 / JSON, or an SSE `error` payload.
    BadEvent,
    /// One event larger than the configured maximum.
    OversizedEvent,
    /// Closed before any `finish_reason`.
    Truncated,
    /// Finished without a single token.
    Empty,
    /// Drain / shutdown cut it off.
    Cancelled,
    /// The client closed the stream on purpose (a scenario's `abort`): outcome `aborted`.
    Aborted,
}

impl ErrorType {
    pub const ALL: [ErrorType; 16] = [
        ErrorType::Connect,
        ErrorType::Tls,
        ErrorType::Timeout,
        ErrorType::Stall,
        ErrorType::Reset,
        ErrorType::Http4xx,
        ErrorType::Http429,
        ErrorType::Http5xx,
        ErrorType::Redirect,
        ErrorType::NotSse,
        ErrorType::BadEvent,
        ErrorType::OversizedEvent,
        ErrorType::Truncated,
        ErrorType::Empty,
        ErrorType::Cancelled,
        ErrorType::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Connect => "connect",
            ErrorType::Tls => "tls",
            ErrorType::Timeout => "timeout",
            ErrorType::Stall => "stall",
            ErrorType::Reset => "reset",
            ErrorType::Http4xx => "http_4xx",
            ErrorType::Http429 => "http_429",
            ErrorType::Http5xx => "http_5xx",
            ErrorType::Redirect => "redirect",
            ErrorType::NotSse => "not_sse",
            ErrorType::BadEvent => "bad_event",
            ErrorType::OversizedEvent => "oversized_event",
            ErrorType::Truncated => "truncated",
            ErrorType::Empty => "empty",
            ErrorType::Cancelled => "cancelled",
            ErrorType::Aborted => "aborted",
        }
    }

    /// The outcome a failure of this class belongs to.
    pub fn outcome(self) -> Outcome {
        match self {
            ErrorType::Timeout | ErrorType::Stall => Outcome::Timeout,
            ErrorType::Cancelled => Outcome::Cancelled,
            ErrorType::Aborted => Outcome::Aborted,
            _ => Outcome::Error,
        }
    }

    /// Class of an HTTP status that is not a success.
    pub fn from_status(status: u16) -> ErrorType {
        match status {
            429 => ErrorType::Http429,
            300..=399 => ErrorType::Redirect,
            500..=599 => ErrorType::Http5xx,
            _ => ErrorType::Http4xx,
        }
    }
}

/// Where the output-token count `N` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// `usage.completion_tokens` sent by the server.
    Usage,
    /// The configured tokenizer over the received text.
    Tokenizer,
    /// The number of content-bearing events (last resort).
    Events,
}

impl TokenSource {
    pub const ALL: [TokenSource; 3] = [
        TokenSource::Usage,
        TokenSource::Tokenizer,
        TokenSource::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Events => "events",
        }
    }
}

/// Everything measured about one finished request (monotonic clock throughout).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub seq: u64,
    pub scenario: usize,
    pub intended_at: Instant,
    /// Taken immediately before the request is handed to the HTTP client.
    pub sent_at: Instant,
    /// First SSE data event of any kind.
    pub first_chunk_at: Option<Instant>,
    /// First event carrying content, reasoning or tool-call text.
    pub first_token_at: Option<Instant>,
    /// First content that is not reasoning.
    pub first_answer_at: Option<Instant>,
    /// One timestamp per content-bearing event, in arrival order (held compactly).
    pub token_events: TokenEvents,
    /// End of stream (`[DONE]`, clean close, or the moment it failed).
    pub end_at: Instant,
    /// Output tokens `N` — the tokens that were streamed — and where the count came from.
    pub output_tokens: u64,
    pub token_source: TokenSource,
    /// Reasoning tokens the server generated (and billed in `usage.completion_tokens`) but never
    /// streamed: not part of `N`.
    pub hidden_reasoning_tokens: u64,
    /// Input tokens: `usage.prompt_tokens` when sent, else the generated prompt length.
    pub input_tokens: u64,
    /// Prompt tokens the server served from its prefix cache (`prompt_tokens_details`), when it
    /// says.
    pub cached_input_tokens: Option<u64>,
    /// Tokens of the content llm-soak generated, with the target's tokenizer.
    pub generated_input_tokens: u64,
    /// The received text re-counted with the tokenizer, for a sample of requests with usage.
    pub recounted_output_tokens: Option<u64>,
    /// Whether the stream carried a `usage` object.
    pub usage_present: bool,
    /// Gaps between consecutive content events above the stall threshold.
    pub stalls: u32,
    pub outcome: Outcome,
    pub error_type: Option<ErrorType>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The answer text, when the plan asked to keep it.
    pub answer_text: Option<String>,
    /// The load phase of the arrival (open loop only), for per-phase reports.
    pub phase: Option<u32>,
    /// Who the request was to the server: its trace context and the ids the server gave it.
    pub identity: Identity,
}

/// A request's identity on both sides: the W3C trace context llm-soak sent (`traceparent`, whose
/// trace is the request's span) and the ids the server answered with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub trace: Option<TraceContext>,
    /// The `id` of the first chunk (`chatcmpl-…`).
    pub response_id: Option<String>,
    /// The response's `x-request-id` header.
    pub request_id: Option<String>,
}

/// A W3C trace context: the request's trace and span ids and whether it is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

/// SplitMix64: a uniform 64-bit mix.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A failure's detail: an error with its causes, `outer: inner: innermost` (reqwest hides "connection refused"
/// two levels down).
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Whether arrival `seq` is among a `ratio` of them (the same on every shard).
pub fn sampled_by_seq(seq: u64, ratio: f64) -> bool {
    ((mix(seq) >> 11) as f64 / (1u64 << 53) as f64) < ratio
}

impl TraceContext {
    /// Request `seq`'s context under the run's random `key` (never zero ids, as W3C requires).
    pub fn of(key: u64, seq: u64, sampled: bool) -> TraceContext {
        let hi = mix(key ^ mix(seq));
        let lo = mix(key.rotate_left(21) ^ seq);
        TraceContext {
            trace_id: (u128::from(hi) << 64 | u128::from(lo)).max(1),
            span_id: mix(key.rotate_left(42) ^ seq.wrapping_mul(3)).max(1),
            sampled,
        }
    }

    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

impl RequestRecord {
    /// A request that ended before anything was sent (`at`): a failure of class `error`.
    pub fn not_sent(plan: &RequestPlan, error: ErrorType, at: Instant) -> RequestRecord {
        RequestRecord {
            seq: plan.seq,
            scenario: plan.scenario,
            intended_at: plan.intended_at,
            sent_at: at,
            first_chunk_at: None,
            first_token_at: None,
            first_answer_at: None,
            token_events: TokenEvents::default(),
            end_at: at,
            output_tokens: 0,
            token_source: TokenSource::Events,
            hidden_reasoning_tokens: 0,
            input_tokens: u64::from(plan.prompt.input_tokens),
            cached_input_tokens: None,
            generated_input_tokens: u64::from(plan.prompt.input_tokens),
            recounted_output_tokens: None,
            usage_present: false,
            stalls: 0,
            outcome: error.outcome(),
            error_type: Some(error),
            status: None,
            answer_text: None,
            phase: plan.phase,
            identity: crate::record::Identity::default(),
        }
    }

    pub fn ttft(&self) -> Option<Duration> {
        self.first_token_at.map(|t| t - self.sent_at)
    }
    pub fn time_to_first_chunk(&self) -> Option<Duration> {
        self.first_chunk_at.map(|t| t - self.sent_at)
    }
    pub fn time_to_first_answer(&self) -> Option<Duration> {
        self.first_answer_at.map(|t| t - self.sent_at)
    }
    pub fn corrected_ttft(&self) -> Option<Duration> {
        self.first_token_at.map(|t| t - self.intended_at)
    }
    pub fn e2e(&self) -> Duration {
        self.end_at - self.sent_at
    }
    pub fn corrected_e2e(&self) -> Duration {
        self.end_at - self.intended_at
    }
    pub fn schedule_lag(&self) -> Duration {
        self.sent_at.saturating_duration_since(self.intended_at)
    }
    /// `(last_token_event − first_token_at) / (N − 1)`, only when `N ≥ 2` and the tokens came
    /// in at least two token-bearing events: all of them in one event (a buffering proxy, a short
    /// answer) leaves no time to divide, so TPOT is undefined — never 0.
    pub fn tpot(&self) -> Option<Duration> {
        let first = self.first_token_at?;
        let last = self.token_events.last()?;
        if self.output_tokens < 2 || self.token_events.len() < 2 {
            return None;
        }
        let n = u32::try_from(self.output_tokens - 1).unwrap_or(u32::MAX);
        Some((last - first) / n)
    }
    /// `e2e / N`, TTFT included (LLMPerf's "inter-token latency"); `None` without tokens.
    pub fn e2e_per_token(&self) -> Option<Duration> {
        let n = u32::try_from(self.output_tokens).ok().filter(|n| *n > 0)?;
        Some(self.e2e() / n)
    }

    /// Gaps between consecutive content events (inter-chunk latency), one per gap, in whole µs.
    pub fn chunk_gaps(&self) -> impl Iterator<Item = Duration> + '_ {
        self.token_events.gaps()
    }
    /// `N / (end_at − first_token_at)`.
    pub fn output_tokens_per_second(&self) -> Option<f64> {
        let first = self.first_token_at?;
        let secs = (self.end_at - first).as_secs_f64();
        (secs > 0.0).then(|| self.output_tokens as f64 / secs)
    }
}

/// A record for unit tests: sent at `sent_at`, first token after `ttft`, 10 tokens 10 ms apart;
/// `ok = false` makes it a 5xx failure.
#[cfg(test)]
pub(crate) fn test_record(sent_at: Instant, ttft: Duration, ok: bool) -> RequestRecord {
    let first = sent_at + ttft;
    let events: Vec<Instant> = (0..10)
        .map(|i| first + Duration::from_millis(10 * i))
        .collect();
    RequestRecord {
        seq: 0,
        scenario: 0,
        intended_at: sent_at,
        sent_at,
        first_chunk_at: ok.then_some(first),
        first_token_at: ok.then_some(first),
        first_answer_at: ok.then_some(first),
        end_at: if ok { events[9] } else { sent_at + ttft },
        token_events: if ok {
            events.into_iter().collect()
        } else {
            TokenEvents::default()
        },
        output_tokens: if ok { 10 } else { 0 },
        token_source: TokenSource::Usage,
        hidden_reasoning_tokens: 0,
        input_tokens: 10,
        cached_input_tokens: None,
        generated_input_tokens: 10,
        recounted_output_tokens: None,
        usage_present: ok,
        stalls: 0,
        outcome: if ok { Outcome::Success } else { Outcome::Error },
        error_type: (!ok).then_some(ErrorType::Http5xx),
        status: Some(if ok { 200 } else { 503 }),
        answer_text: None,
        phase: None,
        identity: crate::record::Identity::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(events_ms: &[u64], n: u64) -> RequestRecord {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        RequestRecord {
            seq: 0,
            scenario: 0,
            intended_at: t0,
            sent_at: at(5),
            first_chunk_at: Some(at(50)),
            first_token_at: events_ms.first().map(|&m| at(m)),
            first_answer_at: events_ms.first().map(|&m| at(m)),
            token_events: events_ms.iter().map(|&m| at(m)).collect(),
            end_at: at(1000),
            output_tokens: n,
            token_source: TokenSource::Usage,
            hidden_reasoning_tokens: 0,
            input_tokens: 10,
            cached_input_tokens: None,
            generated_input_tokens: 10,
            recounted_output_tokens: None,
            usage_present: true,
            stalls: 0,
            outcome: Outcome::Success,
            error_type: None,
            status: Some(200),
            answer_text: None,
            phase: None,
            identity: crate::record::Identity::default(),
        }
    }

    #[test]
    fn definitions_follow_design_section_4() {
        // Three events carrying 7 tokens: TPOT divides by N-1 tokens, not by events.
        let r = record(&[100, 400, 700], 7);
        assert_eq!(r.ttft(), Some(Duration::from_millis(95)));
        assert_eq!(r.corrected_ttft(), Some(Duration::from_millis(100)));
        assert_eq!(r.time_to_first_chunk(), Some(Duration::from_millis(45)));
        assert_eq!(r.tpot(), Some(Duration::from_millis(100)));
        assert_eq!(
            r.chunk_gaps().collect::<Vec<_>>(),
            vec![Duration::from_millis(300); 2]
        );
        assert_eq!(r.e2e(), Duration::from_millis(995));
        assert_eq!(r.schedule_lag(), Duration::from_millis(5));
        let tps = r.output_tokens_per_second().unwrap_or_default();
        assert!((tps - 7.0 / 0.9).abs() < 1e-9);
    }

    #[test]
    fn tpot_needs_two_tokens_in_two_events() {
        assert_eq!(record(&[100], 1).tpot(), None);
        assert_eq!(record(&[], 0).tpot(), None);
        // Seven tokens in one event (a buffering proxy): undefined, not 0.
        assert_eq!(record(&[100], 7).tpot(), None);
        assert_eq!(
            record(&[100, 160], 7).tpot(),
            Some(Duration::from_millis(10))
        );
    }

    #[test]
    fn the_error_types_are_a_closed_set_of_distinct_labels() {
        let names: std::collections::BTreeSet<&str> =
            ErrorType::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), ErrorType::ALL.len());
        let outcomes: std::collections::BTreeSet<&str> =
            Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(outcomes.len(), Outcome::ALL.len());
        assert!(
            ErrorType::ALL
                .iter()
                .all(|e| e.outcome() != Outcome::Success)
        );
    }

    #[test]
    fn serialized_names_are_the_labels() {
        for e in ErrorType::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
            let back: ErrorType = serde_json::from_value(e.as_str().into()).unwrap();
            assert_eq!(back, e);
        }
        for o in Outcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        for (i, q) in Quantity::ALL.into_iter().enumerate() {
            assert_eq!(serde_json::to_value(q).unwrap(), q.as_str());
            assert_eq!(Quantity::parse(q.as_str()), Some(q));
            assert_eq!(
                q as usize, i,
                "ALL is in declaration order (summaries index by it)"
            );
        }
    }

    #[test]
    fn stats_parse_and_name_their_report_keys() {
        for (text, key) in [
            ("mean", "mean"),
            ("max", "max"),
            ("p95", "p95"),
            ("p99.9", "p99.9"),
        ] {
            assert_eq!(Stat::parse(text).map(Stat::key).as_deref(), Some(key));
        }
        for bad in ["p0", "p100", "median", "p"] {
            assert_eq!(Stat::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_classes_map_to_outcomes() {
        assert_eq!(ErrorType::from_status(429), ErrorType::Http429);
        assert_eq!(ErrorType::from_status(503), ErrorType::Http5xx);
        assert_eq!(ErrorType::from_status(404), ErrorType::Http4xx);
        assert_eq!(ErrorType::from_status(302), ErrorType::Redirect);
        assert_eq!(ErrorType::Stall.outcome(), Outcome::Timeout);
        assert_eq!(ErrorType::Cancelled.outcome(), Outcome::Cancelled);
        assert_eq!(ErrorType::Truncated.outcome(), Outcome::Error);
    }
}
