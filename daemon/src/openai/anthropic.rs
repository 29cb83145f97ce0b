//! Anthropic Messages (`POST /v1/messages`): the request body, the streamed events and the whole
//! answer, decoded into the same [`Step`] as an OpenAI chunk. A stream is `message_start` (the
//! input tokens), content blocks (`content_block_start`, `content_block_delta` with `text_delta`,
//! `thinking_delta` or `input_json_delta`, `content_block_stop`), `message_delta` (the
//! `stop_reason` and the *cumulative* output tokens), `message_stop`; `ping` may come anywhere,
//! and an `error` event can arrive mid-stream after HTTP 200 — an overload there is a failure.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{
    ChatMessage, ChunkContent, ErrorObject, PromptTokensDetails, Step, Usage, WireError, content_in,
};

/// The request header naming the API version; Anthropic refuses a request without it.
pub const VERSION_HEADER: &str = "anthropic-version";
/// The API version llm-soak sends (unless the target's headers set another).
pub const VERSION: &str = "2023-06-01";

/// Body of `POST /v1/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct MessagesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// Required by the API.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(borrow)]
    pub messages: Vec<ChatMessage<'a>>,
    /// A string, or (read) an array of text blocks.
    #[serde(
        default,
        borrow,
        deserialize_with = "some_content",
        skip_serializing_if = "Option::is_none"
    )]
    pub system: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

fn some_content<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    content_in(d).map(Some)
}

impl MessagesRequest<'_> {
    /// The text the request carries (the system prompt and every message).
    pub fn input_text(&self) -> String {
        self.system
            .iter()
            .map(|s| s.as_ref())
            .chain(self.messages.iter().map(|m| m.content.as_ref()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Anthropic's usage: `input_tokens` excludes the tokens read from or written to its cache.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub struct MessagesUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
}

impl MessagesUsage {
    /// (every input token, those read from the cache), when the input is given.
    fn input(&self) -> Option<(u64, Option<u64>)> {
        let plain = self.input_tokens?;
        let read = self.cache_read_input_tokens;
        let total = plain + read.unwrap_or(0) + self.cache_creation_input_tokens.unwrap_or(0);
        Some((total, read))
    }
}

fn usage(input: Option<(u64, Option<u64>)>, output: u64) -> Usage {
    let (prompt, cached) = input.unwrap_or((0, None));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: output,
        total_tokens: prompt + output,
        completion_tokens_details: None,
        prompt_tokens_details: cached.map(|c| PromptTokensDetails {
            cached_tokens: Some(c),
        }),
    }
}

/// A content block, as started in a stream or whole in an answer.
#[derive(Debug, Default, Deserialize)]
struct Block<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    /// A tool call's name…
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    /// …and its arguments (whole answers; streams send them as `input_json_delta`).
    #[serde(default, borrow)]
    input: Option<&'a serde_json::value::RawValue>,
}

impl Block<'_> {
    /// Append the block's text; what it was, for timing.
    fn content(&self, text: &mut String) -> ChunkContent {
        let mut out = ChunkContent::default();
        let nonempty = |s: &Option<Cow<'_, str>>| s.as_deref().filter(|t| !t.is_empty()).is_some();
        if nonempty(&self.thinking) {
            out.token = true;
            out.reasoning = true;
            text.push_str(self.thinking.as_deref().unwrap_or_default());
        }
        if nonempty(&self.text) {
            out.token = true;
            out.answer = true;
            text.push_str(self.text.as_deref().unwrap_or_default());
        }
        if nonempty(&self.name) {
            out.token = true;
            out.answer = true;
            text.push_str(self.name.as_deref().unwrap_or_default());
            if let Some(args) = self.input.filter(|r| !matches!(r.get(), "{}" | "null")) {
                text.push_str(args.get());
            }
        }
        out
    }
}

/// `content_block_delta.delta` and `message_delta.delta`.
#[derive(Debug, Default, Deserialize)]
struct Delta<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<MessagesUsage>,
}

/// One event's `data` (its `type` says which of the fields it has).
#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    message: Option<MessageStart>,
    #[serde(default, borrow)]
    content_block: Option<Block<'a>>,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default, borrow)]
    error: Option<ErrorObject<'a>>,
}

/// What one stream has said so far that a later event needs.
#[derive(Debug, Default)]
pub struct State {
    /// From `message_start`: (every input token, those read from the cache).
    input: Option<(u64, Option<u64>)>,
}

impl State {
    /// One event: text appended to `text`; the usage is complete once `message_delta` gives the
    /// output tokens (a stream without them has no usage, not zero output tokens).
    pub fn event<'a>(
        &mut self,
        data: &'a [u8],
        text: &mut String,
    ) -> Result<Step<'a>, serde_json::Error> {
        let ev: Event<'a> = serde_json::from_slice(data)?;
        let mut step = Step::default();
        match ev.kind.as_ref() {
            "message_start" => {
                if let Some(u) = ev.message.and_then(|m| m.usage) {
                    self.input = u.input();
                }
            }
            "content_block_start" => {
                if let Some(b) = &ev.content_block {
                    step.content = b.content(text);
                }
            }
            "content_block_delta" => {
                if let Some(d) = &ev.delta {
                    step.content = delta_content(d, text);
                }
            }
            "message_delta" => {
                step.finished = ev.delta.as_ref().is_some_and(|d| d.stop_reason.is_some());
                if let Some(u) = ev.usage {
                    // Newer servers repeat the input here; the latest word counts.
                    if let Some(input) = u.input() {
                        self.input = Some(input);
                    }
                    if let Some(out) = u.output_tokens {
                        step.usage = Some(usage(self.input, out));
                    }
                }
            }
            "message_stop" => step.done = true,
            "error" => {
                step.error = Some(WireError::Object(ev.error.unwrap_or_default()));
            }
            // ping, content_block_stop, and event types added later.
            _ => {}
        }
        Ok(step)
    }
}

fn delta_content(d: &Delta<'_>, text: &mut String) -> ChunkContent {
    let (piece, reasoning) = match d.kind.as_deref() {
        Some("text_delta") => (d.text.as_deref(), false),
        Some("thinking_delta") => (d.thinking.as_deref(), true),
        Some("input_json_delta") => (d.partial_json.as_deref(), false),
        // signature_delta, citations_delta: no generated text.
        _ => (None, false),
    };
    match piece.filter(|p| !p.is_empty()) {
        None => ChunkContent::default(),
        Some(p) => {
            text.push_str(p);
            ChunkContent {
                token: true,
                answer: !reasoning,
                reasoning,
            }
        }
    }
}

/// A whole answer (`"stream": false`), or an error body.
#[derive(Debug, Deserialize)]
struct Whole<'a> {
    #[serde(default, borrow)]
    content: Vec<Block<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default, borrow)]
    error: Option<ErrorObject<'a>>,
}

/// A whole non-streamed answer as one [`Step`].
pub fn whole<'a>(body: &'a [u8], text: &mut String) -> Result<Step<'a>, serde_json::Error> {
    let w: Whole<'a> = serde_json::from_slice(body)?;
    let mut content = ChunkContent::default();
    for b in &w.content {
        content |= b.content(text);
    }
    let usage = w
        .usage
        .and_then(|u| u.output_tokens.map(|out| usage(u.input(), out)));
    Ok(Step {
        content,
        usage,
        finished: w.stop_reason.is_some(),
        done: true,
        error: w.error.map(WireError::Object),
        error_type: None,
        id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[&str]) -> (Vec<Step<'static>>, String) {
        let mut state = State::default();
        let mut text = String::new();
        let steps = events
            .iter()
            .map(|e| {
                let data: &'static [u8] = Box::leak(e.as_bytes().to_vec().into_boxed_slice());
                state.event(data, &mut text).unwrap()
            })
            .collect();
        (steps, text)
    }

    #[test]
    fn a_thinking_then_text_stream_with_cumulative_output_tokens() {
        let (steps, text) = run(&[
            r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":20,"cache_read_input_tokens":100,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"get_weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            r#"{"type":"message_stop"}"#,
        ]);
        let tokens: Vec<(bool, bool, bool)> = steps
            .iter()
            .map(|s| (s.content.token, s.content.answer, s.content.reasoning))
            .collect();
        assert_eq!(
            tokens,
            [
                (false, false, false),
                (false, false, false),
                (false, false, false),
                (true, false, true),
                (false, false, false),
                (false, false, false),
                (false, false, false),
                (true, true, false),
                (true, true, false),
                (true, true, false),
                (false, false, false),
                (false, false, false),
            ]
        );
        assert_eq!(text, "hmHiget_weather{\"city\":");
        let end = &steps[10];
        assert!(end.finished && !end.done);
        let u = end.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens()),
            (120, 15, Some(100)),
            "input = plain + cache reads; output from message_delta"
        );
        assert!(steps[11].done);
        assert!(steps[..10].iter().all(|s| s.usage.is_none()));
    }

    #[test]
    fn an_error_event_mid_stream_is_an_error_and_a_stream_without_output_tokens_has_no_usage() {
        let (steps, _) = run(&[
            r#"{"type":"message_start","message":{"usage":{"input_tokens":5}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ]);
        let Some(WireError::Object(e)) = &steps[2].error else {
            panic!("an error")
        };
        assert_eq!(e.kind.as_deref(), Some("overloaded_error"));
        let (steps, _) = run(&[r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#]);
        assert!(steps[0].finished && steps[0].usage.is_none());
        // Not JSON, or no type: an error for the caller to classify as a bad event.
        let mut state = State::default();
        assert!(state.event(b"{\"delta\":{}}", &mut String::new()).is_err());
        assert!(state.event(b"event: x", &mut String::new()).is_err());
    }

    #[test]
    fn whole_answers_and_error_bodies() {
        let mut text = String::new();
        let body = br#"{"id":"m","type":"message","role":"assistant","content":[{"type":"thinking","thinking":"so"},{"type":"text","text":"Yes"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"max_tokens","usage":{"input_tokens":7,"output_tokens":9}}"#;
        let s = whole(body, &mut text).unwrap();
        assert!(s.content.token && s.content.answer && s.content.reasoning && s.finished);
        assert_eq!(text, "soYesf{\"a\":1}");
        assert_eq!(
            s.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((7, 9))
        );
        let s = whole(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            &mut String::new(),
        )
        .unwrap();
        assert!(s.error.is_some() && !s.content.token);
    }

    #[test]
    fn requests_round_trip_with_a_system_string_or_blocks() {
        let body = r#"{"model":"claude","max_tokens":64,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}"#;
        let r: MessagesRequest<'_> = serde_json::from_str(body).unwrap();
        assert_eq!(r.system.as_deref(), Some("Be brief."));
        assert_eq!(r.input_text(), "Be brief.\nhi");
        assert_eq!(r.max_tokens, Some(64));
        let out = serde_json::to_string(&r).unwrap();
        assert!(out.contains(r#""system":"Be brief.""#), "{out}");
        assert!(!out.contains("stop_sequences"));
    }
}
