//! Recorded streams in the shapes vLLM and llama.cpp really send, replayed through the reader
//! split at every byte offset: the outcome, token accounting and event timestamps must not
//! depend on where the network cut the bytes.

use super::reader::{Measurement, Reader};
use super::*;

struct Expect {
    result: Result<(), ErrorType>,
    token_events: usize,
    answer: bool,
    usage: Option<u64>,
    text: &'static str,
}

fn replay(
    endpoint: Endpoint,
    bytes: &[u8],
    split: usize,
    t0: Instant,
) -> (Result<(), ErrorType>, Measurement) {
    let mut m = Measurement::new(16, t0);
    let mut r = Reader::new(endpoint, 1 << 20, Duration::from_secs(60));
    let parts = [(&bytes[..split], 10), (&bytes[split..], 20)];
    for (part, ms) in parts {
        if let Some(end) = r.on_read(part, t0 + Duration::from_millis(ms), &mut m) {
            return (end, m);
        }
    }
    let end = r.on_close(t0 + Duration::from_millis(30), &mut m);
    (end, m)
}

fn check(name: &str, bytes: &[u8], e: &Expect) {
    check_as(Endpoint::Chat, name, bytes, e);
}

fn check_as(endpoint: Endpoint, name: &str, bytes: &[u8], e: &Expect) {
    let t0 = Instant::now();
    for split in 0..=bytes.len() {
        let (result, m) = replay(endpoint, bytes, split, t0);
        assert_eq!(result, e.result, "{name} split {split}");
        assert_eq!(m.token_events.len(), e.token_events, "{name} split {split}");
        assert_eq!(
            m.first_answer_at.is_some(),
            e.answer,
            "{name} split {split}"
        );
        assert_eq!(
            m.usage.map(|u| u.completion_tokens),
            e.usage,
            "{name} split {split}"
        );
        assert_eq!(m.text, e.text, "{name} split {split}");
        assert_eq!(
            m.token_events.first(),
            m.first_token_at,
            "{name} split {split}"
        );
        if let (Some(first), Some(chunk)) = (m.first_token_at, m.first_chunk_at) {
            assert!(chunk <= first, "{name}: first chunk after first token");
        }
    }
    // Whole stream in one read: every event carries that read's timestamp.
    let (_, m) = replay(endpoint, bytes, bytes.len(), t0);
    if e.token_events > 0 {
        assert_eq!(
            m.first_token_at,
            Some(t0 + Duration::from_millis(10)),
            "{name}"
        );
    }
    // Nothing in the first read: the second read's timestamp.
    let (_, m) = replay(endpoint, bytes, 0, t0);
    if e.token_events > 0 {
        assert_eq!(
            m.first_token_at,
            Some(t0 + Duration::from_millis(20)),
            "{name}"
        );
    }
}

macro_rules! fixture {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sse/",
            $file
        ))
    };
}

#[test]
fn vllm_chat_role_chunk_finish_on_content_and_usage_chunk() {
    let e = Expect {
        result: Ok(()),
        token_events: 3,
        answer: true,
        usage: Some(5),
        text: "Hello world, été",
    };
    check("vllm_chat", fixture!("vllm_chat.sse"), &e);
}

#[test]
fn llamacpp_null_content_separate_finish_chunk_and_timings() {
    let e = Expect {
        result: Ok(()),
        token_events: 3,
        answer: true,
        usage: Some(3),
        text: "One two three",
    };
    check("llamacpp_chat", fixture!("llamacpp_chat.sse"), &e);
}

#[test]
fn vllm_completions_text_chunks() {
    let e = Expect {
        result: Ok(()),
        token_events: 2,
        answer: true,
        usage: Some(2),
        text: " alpha beta",
    };
    check("vllm_completions", fixture!("vllm_completions.sse"), &e);
}

#[test]
fn reasoning_counts_for_ttft_and_answer_is_separate() {
    let e = Expect {
        result: Ok(()),
        token_events: 3,
        answer: true,
        usage: None,
        text: "Let me think more42",
    };
    check("reasoning", fixture!("reasoning_no_usage.sse"), &e);
    let (_, m) = replay(
        Endpoint::Chat,
        fixture!("reasoning_no_usage.sse"),
        0,
        Instant::now(),
    );
    assert!(m.first_token_at <= m.first_answer_at);
}

#[test]
fn midstream_error_event_is_classified_by_its_code() {
    let e = Expect {
        result: Err(ErrorType::Http5xx),
        token_events: 1,
        answer: true,
        usage: None,
        text: "partial",
    };
    check("midstream_error", fixture!("midstream_error.sse"), &e);
}

/// Anthropic's shape: thinking, text and a tool call's JSON are token events; the usage is
/// complete at `message_delta` (input from `message_start`, cache reads included); the stream
/// ends at `message_stop`, whatever follows.
#[test]
fn anthropic_thinking_text_and_tool_use() {
    let e = Expect {
        result: Ok(()),
        token_events: 5,
        answer: true,
        usage: Some(41),
        text: "Let me check.The weather:get_weather{\"city\": \"Paris\"}",
    };
    let bytes = fixture!("anthropic_thinking_tool.sse");
    check_as(Endpoint::Messages, "anthropic", bytes, &e);
    let (_, m) = replay(Endpoint::Messages, bytes, bytes.len(), Instant::now());
    let u = m.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.cached_tokens()), (472, Some(400)));
    assert!(m.reasoning_streamed);
}

/// An `error` event after HTTP 200 and some text: Anthropic's overload is a failure, never a
/// success with a short answer.
#[test]
fn anthropic_overloaded_mid_stream_is_a_5xx() {
    let e = Expect {
        result: Err(ErrorType::Http5xx),
        token_events: 1,
        answer: true,
        usage: None,
        text: "Hello",
    };
    check_as(
        Endpoint::Messages,
        "anthropic_overloaded",
        fixture!("anthropic_overloaded.sse"),
        &e,
    );
}

/// Responses: reasoning text and the answer are token events, a reasoning summary is a token
/// event whose text is not counted; `response.completed` ends the stream (no `[DONE]`) with the
/// usage, reasoning and cached tokens included.
#[test]
fn responses_reasoning_summary_and_completed_usage() {
    let e = Expect {
        result: Ok(()),
        token_events: 4,
        answer: true,
        usage: Some(90),
        text: "Two primes.Hi there",
    };
    let bytes = fixture!("responses_reasoning.sse");
    check_as(Endpoint::Responses, "responses", bytes, &e);
    let (_, m) = replay(Endpoint::Responses, bytes, bytes.len(), Instant::now());
    let u = m.usage.unwrap();
    assert_eq!(
        (u.reasoning_tokens(), u.cached_tokens()),
        (Some(80), Some(0))
    );
}

#[test]
fn responses_failed_and_rate_limited_mid_stream() {
    let e = Expect {
        result: Err(ErrorType::Http429),
        token_events: 1,
        answer: true,
        usage: None,
        text: "Par",
    };
    check_as(
        Endpoint::Responses,
        "responses_failed",
        fixture!("responses_failed.sse"),
        &e,
    );
    // A stream that closes before `response.completed` was cut short.
    let cut = b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"a\"}\n\n";
    let e = Expect {
        result: Err(ErrorType::Truncated),
        token_events: 1,
        answer: true,
        usage: None,
        text: "a",
    };
    check_as(Endpoint::Responses, "responses_cut", cut, &e);
}

#[test]
fn clean_close_after_finish_reason_is_success() {
    let e = Expect {
        result: Ok(()),
        token_events: 2,
        answer: true,
        usage: Some(2),
        text: "ab",
    };
    check(
        "finish_without_done",
        fixture!("finish_without_done.sse"),
        &e,
    );
}

#[test]
fn close_before_finish_reason_is_truncated() {
    let e = Expect {
        result: Err(ErrorType::Truncated),
        token_events: 2,
        answer: true,
        usage: None,
        text: "ab",
    };
    check("truncated", fixture!("truncated.sse"), &e);
}

#[test]
fn malformed_json_is_a_bad_event() {
    let e = Expect {
        result: Err(ErrorType::BadEvent),
        token_events: 1,
        answer: true,
        usage: None,
        text: "a",
    };
    check("malformed", fixture!("malformed.sse"), &e);
}

#[test]
fn invalid_utf8_and_oversized_events() {
    let t0 = Instant::now();
    let mut m = Measurement::new(4, t0);
    let mut r = Reader::new(Endpoint::Chat, 1 << 20, Duration::from_secs(60));
    let end = r.on_read(
        b"data: {\"choices\":[{\"text\":\"\xff\xfe\"}]}\n\n",
        t0,
        &mut m,
    );
    assert_eq!(end, Some(Err(ErrorType::BadEvent)));

    let mut m = Measurement::new(4, t0);
    let mut r = Reader::new(Endpoint::Chat, 1024, Duration::from_secs(60));
    let big = format!(
        "data: {{\"choices\":[{{\"text\":\"{}\"}}]}}\n\n",
        "x".repeat(4096)
    );
    assert_eq!(
        r.on_read(big.as_bytes(), t0, &mut m),
        Some(Err(ErrorType::OversizedEvent))
    );
}

#[test]
fn gaps_above_the_stall_threshold_are_counted() {
    let t0 = Instant::now();
    let mut m = Measurement::new(4, t0);
    let mut r = Reader::new(Endpoint::Chat, 1 << 20, Duration::from_millis(100));
    let ev = b"data: {\"choices\":[{\"text\":\"x\"}]}\n\n";
    for ms in [0u64, 50, 400, 450, 1000] {
        assert!(
            r.on_read(ev, t0 + Duration::from_millis(ms), &mut m)
                .is_none()
        );
    }
    assert_eq!(m.stalls, 2);
}

#[test]
fn hidden_reasoning_tokens_are_not_output_tokens_and_cached_input_is_read() {
    // OpenAI's reasoning models: usage counts 192 reasoning tokens that were never streamed.
    let bytes = fixture!("openai_reasoning_hidden.sse");
    let e = Expect {
        result: Ok(()),
        token_events: 3,
        answer: true,
        usage: Some(196),
        text: "The answer is 4.",
    };
    check("openai_reasoning_hidden", bytes, &e);
    let (_, m) = replay(Endpoint::Chat, bytes, 0, Instant::now());
    let u = m.usage.unwrap();
    assert!(!m.reasoning_streamed);
    assert_eq!(super::streamed_tokens(&u, m.reasoning_streamed), (4, 192));
    assert_eq!(u.cached_tokens(), Some(16));
    // A stream that carried its reasoning: every completion token crossed the wire.
    let bytes = fixture!("reasoning_both_names.sse");
    let (_, m) = replay(Endpoint::Chat, bytes, 0, Instant::now());
    assert!(m.reasoning_streamed);
    assert_eq!(super::streamed_tokens(&m.usage.unwrap(), true), (3, 0));
}

#[test]
fn reasoning_sent_under_both_names_is_counted_once() {
    let e = Expect {
        result: Ok(()),
        token_events: 3,
        answer: true,
        usage: Some(3),
        text: "Let me think42",
    };
    check(
        "reasoning_both_names",
        fixture!("reasoning_both_names.sse"),
        &e,
    );
}

#[test]
fn every_token_in_one_event_is_one_token_event() {
    // A buffering proxy: five tokens in one event. TPOT is then undefined (record::tpot).
    let e = Expect {
        result: Ok(()),
        token_events: 1,
        answer: true,
        usage: Some(5),
        text: "Hello there, world",
    };
    check("one_event_burst", fixture!("one_event_burst.sse"), &e);
}

#[test]
fn string_error_codes_mid_stream_are_classified_by_name() {
    let e = Expect {
        result: Err(ErrorType::Http429),
        token_events: 1,
        answer: true,
        usage: None,
        text: "partial",
    };
    check(
        "openai_rate_limit",
        fixture!("openai_rate_limit_midstream.sse"),
        &e,
    );
    check(
        "tgi_overloaded",
        fixture!("tgi_overloaded_midstream.sse"),
        &e,
    );
}

#[test]
fn error_codes_map_to_the_class_their_server_means() {
    use crate::openai::WireError;
    // (payload, class): the shapes OpenAI, vLLM, TGI, llama.cpp and Anthropic send.
    let cases = [
        (
            r#"{"message":"m","type":"requests","code":"rate_limit_exceeded"}"#,
            ErrorType::Http429,
        ),
        (
            r#"{"message":"m","type":"insufficient_quota","code":"insufficient_quota"}"#,
            ErrorType::Http429,
        ),
        (
            r#"{"message":"m","type":"invalid_request_error","code":"context_length_exceeded"}"#,
            ErrorType::Http4xx,
        ),
        (
            r#"{"message":"m","type":"invalid_request_error","code":"invalid_api_key"}"#,
            ErrorType::Http4xx,
        ),
        (
            r#"{"message":"m","type":"server_error","code":null}"#,
            ErrorType::Http5xx,
        ),
        (
            r#"{"object":"error","message":"m","type":"BadRequestError","param":null,"code":400}"#,
            ErrorType::Http4xx,
        ),
        (
            r#"{"object":"error","message":"m","type":"InternalServerError","param":null,"code":500}"#,
            ErrorType::Http5xx,
        ),
        (
            r#"{"code":503,"message":"Loading model","type":"unavailable_error"}"#,
            ErrorType::Http5xx,
        ),
        (
            r#"{"code":400,"message":"m","type":"exceed_context_size_error"}"#,
            ErrorType::Http4xx,
        ),
        (
            r#"{"type":"overloaded_error","message":"Overloaded"}"#,
            ErrorType::Http5xx,
        ),
        (
            r#"{"type":"rate_limit_error","message":"m"}"#,
            ErrorType::Http429,
        ),
        (r#"{"message":"m","code":"429"}"#, ErrorType::Http429),
    ];
    for (json, want) in cases {
        let e: WireError<'_> = serde_json::from_str(json).unwrap();
        assert_eq!(reader::classify(&e, None), want, "{json}");
    }
    // TGI: a string error and its type beside it.
    let e: WireError<'_> = serde_json::from_str(r#""Input validation error""#).unwrap();
    assert_eq!(reader::classify(&e, Some("validation")), ErrorType::Http4xx);
    assert_eq!(reader::classify(&e, Some("overloaded")), ErrorType::Http429);
    assert_eq!(reader::classify(&e, Some("generation")), ErrorType::Http5xx);
    assert_eq!(reader::classify(&e, None), ErrorType::Http5xx);
}

#[test]
fn an_excerpt_is_bounded_on_one_line_and_says_when_it_was_cut() {
    assert_eq!(super::excerpt(b"not found", 200), "not found");
    assert_eq!(super::excerpt(b"a\nb\tc", 200), "a\\nb\\tc");
    assert_eq!(super::excerpt("ééééé".as_bytes(), 3), "ééé…");
    assert_eq!(super::excerpt(&[b'x'; 10_000], 5), "xxxxx…");
    assert_eq!(super::excerpt(&[0xff, b'a'], 5), "\u{fffd}a");
    assert_eq!(super::excerpt(b"", 5), "");
}
