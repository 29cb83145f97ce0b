//! The wire types of the APIs llm-soak speaks, shared by the client and the built-in simulator:
//! OpenAI's `/v1/chat/completions`, `/v1/completions` and `/v1/embeddings` here, Anthropic
//! Messages in [`anthropic`] and OpenAI Responses in [`responses`] — request bodies, the streamed
//! event shapes (borrowed, so the client parses an event without copying its text), usage, errors,
//! `/v1/models` — and one [`Decoder`] that turns any of their events into the same [`Step`], so
//! every format has the same metric definitions and error classes.

pub mod anthropic;
pub mod responses;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The request header carrying llm-soak's request sequence number, so the target's logs (and the
/// simulator's ground truth) can be joined with llm-soak's records.
pub const SEQ_HEADER: &str = "x-llmsoak-seq";

/// Which OpenAI endpoint a scenario talks to (label `gen_ai_operation_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Chat,
    Completions,
    /// `POST /v1/embeddings`: one JSON answer, no generated tokens.
    Embeddings,
    /// Anthropic Messages, `POST /v1/messages`.
    Messages,
    /// OpenAI Responses, `POST /v1/responses`.
    Responses,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Messages => "/v1/messages",
            Endpoint::Responses => "/v1/responses",
        }
    }

    /// The name in config (`endpoint = "…"`) and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::Responses => "responses",
        }
    }

    pub const ALL: [Endpoint; 5] = [
        Endpoint::Chat,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Messages,
        Endpoint::Responses,
    ];
    /// GenAI semantic-convention operation name (Messages and Responses are chat APIs).
    pub fn operation_name(self) -> &'static str {
        match self {
            Endpoint::Chat | Endpoint::Messages | Endpoint::Responses => "chat",
            Endpoint::Completions => "text_completion",
            Endpoint::Embeddings => "embeddings",
        }
    }

    /// Whether answers are generated (and so can be streamed).
    pub fn generates(self) -> bool {
        self != Endpoint::Embeddings
    }
}

/// Body of `POST /v1/embeddings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub input: Cow<'a, str>,
}

/// `POST /v1/embeddings` answer: the vectors and the input tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    #[serde(default)]
    pub data: Vec<serde_json::Value>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    /// Sent as a string; read from a string, an array of content parts (their `text`s joined,
    /// as GuideLLM and the OpenAI SDKs send) or null.
    #[serde(borrow, deserialize_with = "content_in")]
    pub content: Cow<'a, str>,
}

/// A message's `content` as clients send it.
#[derive(Deserialize)]
#[serde(untagged)]
enum ContentIn<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Parts(#[serde(borrow)] Vec<PartIn<'a>>),
    Null(()),
}

#[derive(Deserialize)]
struct PartIn<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

fn content_in<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    Ok(match ContentIn::deserialize(d)? {
        ContentIn::Text(t) => t,
        ContentIn::Parts(parts) => {
            let texts: Vec<Cow<'a, str>> = parts.into_iter().filter_map(|p| p.text).collect();
            match <[Cow<'a, str>; 1]>::try_from(texts) {
                Ok([one]) => one,
                Err(many) => Cow::Owned(many.concat()),
            }
        }
        ContentIn::Null(()) => Cow::Borrowed(""),
    })
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Body of `POST /v1/chat/completions` and `POST /v1/completions` (one of `messages`/`prompt`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CompletionRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ChatMessage<'a>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens` (OpenAI, GuideLLM); `max_tokens` wins when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// vLLM / llama.cpp extension: keep generating past end-of-sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
    /// vLLM extension: generate at least this many tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<u32>,
}

impl CompletionRequest<'_> {
    /// The text the request carries (all message contents, or the prompt).
    pub fn input_text(&self) -> String {
        match (&self.messages, &self.prompt) {
            (Some(msgs), _) => msgs
                .iter()
                .map(|m| m.content.as_ref())
                .collect::<Vec<_>>()
                .join("\n"),
            (None, Some(p)) => p.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Token accounting as servers send it (in the last chunk, or the non-streaming body).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Every generated token, including reasoning the server may not have streamed.
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

/// `usage.completion_tokens_details` (OpenAI's reasoning models).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct CompletionTokensDetails {
    /// Reasoning tokens counted in `completion_tokens` (streamed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PromptTokensDetails {
    /// Prompt tokens the server took from its prefix cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
}

impl Usage {
    /// Reasoning tokens the server says it generated (`None`: it does not say).
    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.completion_tokens_details?.reasoning_tokens
    }

    /// Prompt tokens served from the server's prefix cache (`None`: it does not say).
    pub fn cached_tokens(&self) -> Option<u64> {
        self.prompt_tokens_details?.cached_tokens
    }
}

/// The `delta` of a streamed chat choice. Reasoning arrives as `reasoning_content` (vLLM,
/// DeepSeek) or `reasoning` (newer vLLM, OpenRouter); tool calls are kept raw.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Delta<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<&'a serde_json::value::RawValue>,
}

/// A streamed tool call's fragment: its name and arguments arrive in pieces.
#[derive(Debug, Default, Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default, borrow)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// One choice in a streamed chunk: chat (`delta`) or completions (`text`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ChunkChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// A non-streamed answer (`stream: false`): the choices carry `message` where a chunk has
/// `delta`.
#[derive(Debug, Default, Deserialize)]
pub struct Completion<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub choices: Vec<CompletionChoice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, borrow)]
    pub error: Option<WireError<'a>>,
    #[serde(default, borrow)]
    pub error_type: Option<Cow<'a, str>>,
}

/// One choice of a non-streamed answer.
#[derive(Debug, Default, Deserialize)]
pub struct CompletionChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub message: Option<Delta<'a>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

impl<'a> Completion<'a> {
    /// The answer as one chunk holding all of it (its text, reasoning, tool calls, usage).
    pub fn into_chunk(self) -> StreamChunk<'a> {
        StreamChunk {
            choices: self
                .choices
                .into_iter()
                .map(|c| ChunkChoice {
                    index: c.index,
                    delta: c.message,
                    text: c.text,
                    finish_reason: c.finish_reason,
                })
                .collect(),
            usage: self.usage,
            error: self.error,
            error_type: self.error_type,
            id: self.id,
        }
    }
}

/// The `error` of a JSON error body or mid-stream event: an object (OpenAI, vLLM, llama.cpp), or
/// a bare message string beside `error_type` (TGI).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum WireError<'a> {
    Object(#[serde(borrow)] ErrorObject<'a>),
    Message(#[serde(borrow)] Cow<'a, str>),
}

/// An error object, as sent in a JSON error body or a mid-stream `error` event.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ErrorObject<'a> {
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
    #[serde(default, rename = "type", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// Servers put an HTTP-like status here (vLLM: integer; OpenAI: sometimes a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<serde_json::Value>,
}

impl ErrorObject<'_> {
    /// The numeric status in `code`, when there is one.
    pub fn status_code(&self) -> Option<u16> {
        match self.code.as_ref()? {
            serde_json::Value::Number(n) => n.as_u64().and_then(|v| u16::try_from(v).ok()),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A string `code` (`rate_limit_exceeded`, `context_length_exceeded`, …), when there is one.
    pub fn code_str(&self) -> Option<&str> {
        match self.code.as_ref()? {
            serde_json::Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

/// One `data:` payload of a completion stream. Unknown fields (llama.cpp's `timings`, ids,
/// fingerprints) are ignored.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct StreamChunk<'a> {
    /// The response's id (`chatcmpl-…`), the same on every chunk.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError<'a>>,
    /// TGI's class of a bare-string `error` (`validation`, `generation`, `overloaded`, …).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<Cow<'a, str>>,
}

/// What a content-bearing event carried, as far as timing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkContent {
    /// Any content, reasoning or tool-call text (counts for TTFT).
    pub token: bool,
    /// Non-reasoning content or tool calls (counts for time to first answer token).
    pub answer: bool,
    /// Reasoning text (the stream shows the model's reasoning).
    pub reasoning: bool,
}

/// Everything two pieces of content carried (a whole answer's blocks, together).
impl std::ops::BitOrAssign for ChunkContent {
    fn bitor_assign(&mut self, other: ChunkContent) {
        self.token |= other.token;
        self.answer |= other.answer;
        self.reasoning |= other.reasoning;
    }
}

impl StreamChunk<'_> {
    /// Classify the chunk and append its answer/reasoning text to `text`.
    pub fn content(&self, text: &mut String) -> ChunkContent {
        let mut out = ChunkContent::default();
        for choice in &self.choices {
            if let Some(t) = choice.text.as_deref().filter(|t| !t.is_empty()) {
                out.token = true;
                out.answer = true;
                text.push_str(t);
            }
            let Some(delta) = &choice.delta else { continue };
            // Some servers and gateways send the same reasoning under both names: one is counted.
            let reasoning = [&delta.reasoning_content, &delta.reasoning]
                .into_iter()
                .find_map(|r| r.as_deref().filter(|r| !r.is_empty()));
            if let Some(r) = reasoning {
                out.token = true;
                out.reasoning = true;
                text.push_str(r);
            }
            if let Some(c) = delta.content.as_deref().filter(|c| !c.is_empty()) {
                out.token = true;
                out.answer = true;
                text.push_str(c);
            }
            if let Some(raw) = delta
                .tool_calls
                .filter(|raw| !matches!(raw.get(), "null" | "[]"))
            {
                out.token = true;
                out.answer = true;
                // A tool call's name and arguments are generated output: their text is counted
                // (when the server sends no usage) like an answer's. Parsed after the chunk was
                // timestamped, as all content is.
                let calls: Vec<ToolCallDelta<'_>> =
                    serde_json::from_str(raw.get()).unwrap_or_default();
                for f in calls.iter().filter_map(|c| c.function.as_ref()) {
                    for part in [&f.name, &f.arguments].into_iter().flatten() {
                        text.push_str(part);
                    }
                }
            }
        }
        out
    }

    /// Whether any choice carries a `finish_reason`.
    pub fn finished(&self) -> bool {
        self.choices.iter().any(|c| c.finish_reason.is_some())
    }
}

/// What one event (or a whole non-streamed answer) of any format did, once decoded: its content
/// for timing, its usage, whether the answer is complete and whether the stream is over.
#[derive(Debug, Default)]
pub struct Step<'a> {
    pub content: ChunkContent,
    /// Complete usage (input and output); `None` when this event carries none.
    pub usage: Option<Usage>,
    /// The answer is complete (`finish_reason`, `stop_reason`, `response.completed`).
    pub finished: bool,
    /// The stream's last event (`[DONE]`, `message_stop`, `response.completed`): it ends here.
    pub done: bool,
    /// An error the server sent instead of (or in the middle of) an answer.
    pub error: Option<WireError<'a>>,
    /// TGI's class of a bare-string `error`.
    pub error_type: Option<Cow<'a, str>>,
    /// The response's id, where the event carries one (OpenAI chunks).
    pub id: Option<Cow<'a, str>>,
}

impl<'a> StreamChunk<'a> {
    /// The chunk as a [`Step`], its text appended to `text`.
    fn step(self, text: &mut String) -> Step<'a> {
        let content = self.content(text);
        Step {
            content,
            usage: self.usage,
            finished: self.finished(),
            done: false,
            error: self.error,
            error_type: self.error_type,
            id: self.id,
        }
    }
}

/// Decodes the events of one stream, or one whole answer, in its endpoint's format. Holds what a
/// format spreads over several events (Anthropic's input tokens arrive before its output tokens).
#[derive(Debug)]
pub enum Decoder {
    /// Chat and text completions: `data:` chunks, then `[DONE]`.
    OpenAi,
    Anthropic(anthropic::State),
    Responses,
}

impl Decoder {
    pub fn new(endpoint: Endpoint) -> Self {
        match endpoint {
            Endpoint::Messages => Decoder::Anthropic(anthropic::State::default()),
            Endpoint::Responses => Decoder::Responses,
            Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => Decoder::OpenAi,
        }
    }

    /// One event's `data`; its text (answer, reasoning, tool calls) is appended to `text`.
    pub fn event<'a>(
        &mut self,
        data: &'a [u8],
        text: &mut String,
    ) -> Result<Step<'a>, serde_json::Error> {
        match self {
            Decoder::OpenAi => {
                if data == b"[DONE]" {
                    return Ok(Step {
                        done: true,
                        ..Step::default()
                    });
                }
                Ok(serde_json::from_slice::<StreamChunk<'_>>(data)?.step(text))
            }
            Decoder::Anthropic(state) => state.event(data, text),
            Decoder::Responses => responses::event(data, text),
        }
    }

    /// A whole non-streamed answer (`stream = false`).
    pub fn whole<'a>(
        &self,
        body: &'a [u8],
        text: &mut String,
    ) -> Result<Step<'a>, serde_json::Error> {
        match self {
            Decoder::OpenAi => Ok(serde_json::from_slice::<Completion<'_>>(body)?
                .into_chunk()
                .step(text)),
            Decoder::Anthropic(_) => anthropic::whole(body, text),
            Decoder::Responses => responses::whole(body, text),
        }
    }
}

/// `GET /v1/models` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub id: String,
    pub object: String,
    pub owned_by: String,
    /// The context window in tokens (vLLM's and SGLang's extension of the model card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u32>,
}

#[cfg(test)]
mod tests;
