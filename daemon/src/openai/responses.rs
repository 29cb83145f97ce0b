//! OpenAI Responses (`POST /v1/responses`): the request body, the streamed events and the whole
//! answer, decoded into the same [`Step`] as a chat chunk. Text arrives as
//! `response.output_text.delta`, reasoning as `response.reasoning_text.delta` (the reasoning
//! itself, as open models stream it) or `response.reasoning_summary_text.delta` (a summary of
//! reasoning that is otherwise hidden), tool calls as `response.function_call_arguments.delta`;
//! the stream ends with `response.completed`, `response.incomplete` (a token limit: the answer is
//! complete as asked) or `response.failed`, which carry the usage — there is no `[DONE]`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{
    ChatMessage, ChunkContent, CompletionTokensDetails, ErrorObject, PromptTokensDetails, Step,
    Usage, WireError,
};

/// Body of `POST /v1/responses`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ResponsesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    /// The conversation (read: also a plain string, one user message).
    #[serde(borrow, deserialize_with = "input_in")]
    pub input: Vec<ChatMessage<'a>>,
    /// The system prompt.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    /// Sent `false`: a soak must not leave thousands of stored responses in the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InputIn<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Messages(#[serde(borrow)] Vec<ChatMessage<'a>>),
}

fn input_in<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ChatMessage<'a>>, D::Error> {
    Ok(match InputIn::deserialize(d)? {
        InputIn::Text(t) => vec![ChatMessage {
            role: "user".into(),
            content: t,
        }],
        InputIn::Messages(m) => m,
    })
}

impl ResponsesRequest<'_> {
    /// The text the request carries (the instructions and every message).
    pub fn input_text(&self) -> String {
        self.instructions
            .iter()
            .map(|s| s.as_ref())
            .chain(self.input.iter().map(|m| m.content.as_ref()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The Responses API's usage.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub struct ResponsesUsage {
    #[serde(default)]
    pub input_tokens: u64,
    /// Every generated token, reasoning included.
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<CompletionTokensDetails>,
}

impl From<ResponsesUsage> for Usage {
    fn from(u: ResponsesUsage) -> Usage {
        Usage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.total_tokens,
            completion_tokens_details: u.output_tokens_details,
            prompt_tokens_details: u.input_tokens_details,
        }
    }
}

/// One item of `output` (whole answers; a stream announces items in `response.output_item.added`).
#[derive(Debug, Default, Deserialize)]
struct Item<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    /// A function call's name and arguments.
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    /// A message's parts (`output_text`, `refusal`) or a reasoning item's `reasoning_text`s.
    #[serde(default, borrow)]
    content: Vec<Part<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Part<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
}

impl Item<'_> {
    fn content(&self, text: &mut String) -> ChunkContent {
        let mut out = ChunkContent::default();
        let reasoning = self.kind.as_deref() == Some("reasoning");
        let pieces = self
            .content
            .iter()
            .flat_map(|p| [&p.text, &p.refusal])
            .chain([&self.name, &self.arguments]);
        for p in pieces
            .filter_map(|p| p.as_deref())
            .filter(|p| !p.is_empty())
        {
            text.push_str(p);
            out.token = true;
            out.answer |= !reasoning;
            out.reasoning |= reasoning;
        }
        out
    }
}

/// `response` in `response.completed` / `incomplete` / `failed`, or a whole answer.
#[derive(Debug, Default, Deserialize)]
struct Response<'a> {
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<ResponsesUsage>,
    #[serde(default, borrow)]
    error: Option<ErrorObject<'a>>,
    #[serde(default, borrow)]
    output: Vec<Item<'a>>,
}

impl<'a> Response<'a> {
    /// A failed response's error (a server's, when it gives none).
    fn failure(&mut self) -> Option<WireError<'a>> {
        if self.status.as_deref() != Some("failed") && self.error.is_none() {
            return None;
        }
        let e = self.error.take().unwrap_or_else(|| ErrorObject {
            kind: Some("server_error".into()),
            ..ErrorObject::default()
        });
        Some(WireError::Object(e))
    }
}

/// One event's `data`.
#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    item: Option<Item<'a>>,
    #[serde(default, borrow)]
    response: Option<Response<'a>>,
    /// An `error` event's own fields.
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// One event: its text appended to `text`. A reasoning *summary* is something the user sees (a
/// token event for TTFT) but not the reasoning the usage counts, so it is neither answer nor
/// streamed reasoning and its text is not counted as output.
pub fn event<'a>(data: &'a [u8], text: &mut String) -> Result<Step<'a>, serde_json::Error> {
    let ev: Event<'a> = serde_json::from_slice(data)?;
    let mut step = Step::default();
    let delta = ev.delta.as_deref().filter(|d| !d.is_empty());
    match ev.kind.as_ref() {
        "response.output_text.delta"
        | "response.refusal.delta"
        | "response.function_call_arguments.delta"
        | "response.custom_tool_call_input.delta" => {
            if let Some(d) = delta {
                text.push_str(d);
                step.content = ChunkContent {
                    token: true,
                    answer: true,
                    reasoning: false,
                };
            }
        }
        "response.reasoning_text.delta" => {
            if let Some(d) = delta {
                text.push_str(d);
                step.content = ChunkContent {
                    token: true,
                    answer: false,
                    reasoning: true,
                };
            }
        }
        "response.reasoning_summary_text.delta" => {
            step.content.token = delta.is_some();
        }
        "response.output_item.added" => {
            // A function call announces its name here.
            if let Some(item) = ev
                .item
                .filter(|i| i.kind.as_deref() == Some("function_call"))
            {
                let named = Item {
                    name: item.name,
                    ..Item::default()
                };
                step.content = named.content(text);
            }
        }
        "response.completed" | "response.incomplete" | "response.failed" => {
            let mut r = ev.response.unwrap_or_default();
            step.error = r.failure();
            if ev.kind == "response.failed" && step.error.is_none() {
                step.error = Some(WireError::Object(ErrorObject {
                    kind: Some("server_error".into()),
                    ..ErrorObject::default()
                }));
            }
            step.usage = r.usage.map(Usage::from);
            step.finished = true;
            step.done = true;
        }
        "error" => {
            step.error = Some(WireError::Object(ErrorObject {
                message: ev.message,
                kind: None,
                code: ev.code,
            }));
        }
        // response.created, in_progress, content_part.*, *.done, and types added later.
        _ => {}
    }
    Ok(step)
}

/// A whole non-streamed answer as one [`Step`].
pub fn whole<'a>(body: &'a [u8], text: &mut String) -> Result<Step<'a>, serde_json::Error> {
    let mut r: Response<'a> = serde_json::from_slice(body)?;
    let mut content = ChunkContent::default();
    for item in &r.output {
        content |= item.content(text);
    }
    Ok(Step {
        content,
        usage: r.usage.map(Usage::from),
        finished: r.status.is_some(),
        done: true,
        error: r.failure(),
        error_type: None,
        id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(data: &'static str, text: &mut String) -> Step<'static> {
        event(data.as_bytes(), text).unwrap()
    }

    #[test]
    fn text_reasoning_summaries_tool_calls_and_the_completed_usage() {
        let mut text = String::new();
        let created = step(
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"r","status":"in_progress","usage":null}}"#,
            &mut text,
        );
        assert!(!created.content.token && !created.done && created.usage.is_none());
        let r = step(
            r#"{"type":"response.reasoning_text.delta","item_id":"rs","output_index":0,"content_index":0,"delta":"think"}"#,
            &mut text,
        );
        assert!(r.content.token && r.content.reasoning && !r.content.answer);
        let s = step(
            r#"{"type":"response.reasoning_summary_text.delta","delta":"**Plan**"}"#,
            &mut text,
        );
        assert!(s.content.token && !s.content.reasoning && !s.content.answer);
        let t = step(
            r#"{"type":"response.output_text.delta","delta":"Hello"}"#,
            &mut text,
        );
        assert!(t.content.token && t.content.answer);
        let f = step(
            r#"{"type":"response.output_item.added","item":{"type":"function_call","name":"get_weather","arguments":""}}"#,
            &mut text,
        );
        assert!(f.content.answer);
        let a = step(
            r#"{"type":"response.function_call_arguments.delta","delta":"{\"c\":1}"}"#,
            &mut text,
        );
        assert!(a.content.answer);
        let empty = step(
            r#"{"type":"response.output_text.delta","delta":""}"#,
            &mut text,
        );
        assert!(!empty.content.token);
        assert_eq!(text, "thinkHelloget_weather{\"c\":1}", "no summary text");
        let done = step(
            r#"{"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":16},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":40},"total_tokens":80}}}"#,
            &mut text,
        );
        assert!(done.done && done.finished && done.error.is_none());
        let u = done.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.reasoning_tokens(),
                u.cached_tokens()
            ),
            (30, 50, Some(40), Some(16))
        );
        let incomplete = step(
            r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}}}"#,
            &mut text,
        );
        assert!(incomplete.done && incomplete.error.is_none());
    }

    #[test]
    fn failed_responses_and_error_events_are_errors() {
        let mut text = String::new();
        let failed = step(
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"rate_limit_exceeded","message":"slow"}}}"#,
            &mut text,
        );
        let Some(WireError::Object(e)) = &failed.error else {
            panic!("an error")
        };
        assert_eq!(e.code_str(), Some("rate_limit_exceeded"));
        let bare = step(r#"{"type":"response.failed","response":{}}"#, &mut text);
        assert!(bare.error.is_some(), "failed without an error object");
        let err = step(
            r#"{"type":"error","code":"server_error","message":"boom","param":null}"#,
            &mut text,
        );
        assert!(err.error.is_some());
        assert!(event(b"{\"delta\":\"x\"}", &mut text).is_err(), "no type");
    }

    #[test]
    fn whole_answers_and_requests() {
        let mut text = String::new();
        let body = br#"{"id":"r","object":"response","status":"completed","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"S"}],"content":[{"type":"reasoning_text","text":"R"}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"A"}]},{"type":"function_call","name":"f","arguments":"{}"}],"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}"#;
        let s = whole(body, &mut text).unwrap();
        assert!(s.content.answer && s.content.reasoning && s.error.is_none());
        assert_eq!(text, "RAf{}");
        assert_eq!(s.usage.map(|u| u.completion_tokens), Some(4));
        let failed = whole(
            br#"{"status":"failed","error":{"code":"server_error","message":"x"},"output":[]}"#,
            &mut String::new(),
        )
        .unwrap();
        assert!(failed.error.is_some());
        let r: ResponsesRequest<'_> =
            serde_json::from_str(r#"{"model":"m","input":"hello","max_output_tokens":8}"#).unwrap();
        assert_eq!(r.input_text(), "hello");
        let r: ResponsesRequest<'_> = serde_json::from_str(
            r#"{"model":"m","instructions":"sys","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"stream":true}"#,
        )
        .unwrap();
        assert_eq!((r.input_text().as_str(), r.stream), ("sys\nhi", true));
    }
}
