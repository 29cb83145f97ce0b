//! How the simulator writes an answer in each API's format: the events around the tokens
//! (OpenAI's role chunk, usage chunk and `[DONE]`; Anthropic's `message_start`, content blocks,
//! `message_delta` and `message_stop`; Responses' `response.created`, output items and
//! `response.completed`), one token's event, a mid-stream error, and the whole non-streamed body.
//! A token's event is pre-encoded once per word and variant, so writing one costs a
//! reference-count increment, not a serialization.

use axum::body::Bytes;
use serde_json::json;

use super::stream::Plan;
use crate::openai::{ChunkChoice, CompletionTokensDetails, Delta, Endpoint, StreamChunk, Usage};

const WORDS: &[&str] = &[
    " the", " kernel", " cache", " token", " stream", " latency", " batch", " queue", " model",
    " prefix", " decode", " server", " soak", " metric", " signal", " drift",
];

pub(super) fn word(i: u32) -> &'static str {
    WORDS[i as usize % WORDS.len()]
}

/// What a chunk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text<'a> {
    None,
    Content(&'a str),
    Reasoning(&'a str),
}

fn openai_chunk(
    id: Option<&str>,
    endpoint: Endpoint,
    text: Text<'_>,
    role: bool,
    finish: bool,
    usage: Option<Usage>,
) -> String {
    let (content, reasoning) = match text {
        Text::None => (None, None),
        Text::Content(t) => (Some(t), None),
        Text::Reasoning(t) => (None, Some(t)),
    };
    let choice = if endpoint == Endpoint::Chat {
        ChunkChoice {
            delta: Some(Delta {
                role: role.then(|| "assistant".into()),
                content: content.map(Into::into).or_else(|| role.then(|| "".into())),
                reasoning_content: reasoning.map(Into::into),
                ..Delta::default()
            }),
            finish_reason: finish.then(|| "length".into()),
            ..ChunkChoice::default()
        }
    } else {
        ChunkChoice {
            text: content.or(reasoning).map(Into::into),
            finish_reason: finish.then(|| "length".into()),
            ..ChunkChoice::default()
        }
    };
    let chunk = StreamChunk {
        id: id.map(Into::into),
        choices: if usage.is_some() {
            Vec::new()
        } else {
            vec![choice]
        },
        usage,
        error: None,
        error_type: None,
    };
    serde_json::to_string(&chunk).unwrap_or_default()
}

/// An SSE event named `name` (Anthropic and Responses name theirs) carrying `data`.
fn named(name: &str, data: &serde_json::Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Where a format's answer text goes after streamed reasoning: Anthropic's second content
/// block, Responses' second output item.
fn answer_index(plan: &Plan) -> u32 {
    u32::from(streams_reasoning(plan))
}

/// Whether the plan's reasoning is written to the stream.
fn streams_reasoning(plan: &Plan) -> bool {
    plan.reasoning > 0 && !plan.reasoning_hidden
}

/// One token's event, encoded.
fn encode_token(endpoint: Endpoint, w: &str, reasoning: bool, variant: bool) -> String {
    let text = if reasoning {
        Text::Reasoning(w)
    } else {
        Text::Content(w)
    };
    match endpoint {
        Endpoint::Messages => {
            let (index, delta) = match text {
                Text::Reasoning(t) => (0, json!({ "type": "thinking_delta", "thinking": t })),
                _ => (
                    u32::from(variant),
                    json!({ "type": "text_delta", "text": w }),
                ),
            };
            named(
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            )
        }
        Endpoint::Responses => {
            let (kind, index, item) = if reasoning {
                ("response.reasoning_text.delta", 0, "rs_sim")
            } else {
                ("response.output_text.delta", u32::from(variant), "msg_sim")
            };
            named(
                kind,
                &json!({ "type": kind, "item_id": item, "output_index": index, "content_index": 0, "delta": w }),
            )
        }
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => {
            format!(
                "data: {}\n\n",
                openai_chunk(None, endpoint, text, false, variant, None)
            )
        }
    }
}

const FORMATS: [Endpoint; 4] = [
    Endpoint::Chat,
    Endpoint::Completions,
    Endpoint::Messages,
    Endpoint::Responses,
];

/// The event of token `i`. `last` puts OpenAI's `finish_reason` on it; Anthropic and Responses
/// end in events of their own, and instead place the answer after streamed reasoning.
pub(super) fn token_event(plan: &Plan, i: u32, last: bool, reasoning: bool) -> Bytes {
    static TABLE: std::sync::OnceLock<Vec<Bytes>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = Vec::with_capacity(FORMATS.len() * 4 * WORDS.len());
        for ep in FORMATS {
            for thinking in [false, true] {
                for variant in [false, true] {
                    for w in WORDS {
                        t.push(Bytes::from(encode_token(ep, w, thinking, variant)));
                    }
                }
            }
        }
        t
    });
    let (format, variant) = match plan.endpoint {
        Endpoint::Chat => (0, last),
        Endpoint::Completions | Endpoint::Embeddings => (1, last),
        Endpoint::Messages => (2, answer_index(plan) == 1),
        Endpoint::Responses => (3, answer_index(plan) == 1),
    };
    let row = (format * 2 + usize::from(reasoning)) * 2 + usize::from(variant);
    table[row * WORDS.len() + i as usize % WORDS.len()].clone()
}

/// Usage for `completion` generated tokens, of which the plan's reasoning tokens.
pub(super) fn usage(plan: &Plan, completion: u32) -> Usage {
    Usage {
        prompt_tokens: plan.prompt_tokens,
        completion_tokens: u64::from(completion),
        total_tokens: plan.prompt_tokens + u64::from(completion),
        completion_tokens_details: (plan.reasoning > 0).then_some(CompletionTokensDetails {
            reasoning_tokens: Some(u64::from(plan.reasoning.min(completion))),
        }),
        prompt_tokens_details: None,
    }
}

fn block_start(index: u32, thinking: bool) -> String {
    let block = if thinking {
        json!({ "type": "thinking", "thinking": "" })
    } else {
        json!({ "type": "text", "text": "" })
    };
    named(
        "content_block_start",
        &json!({ "type": "content_block_start", "index": index, "content_block": block }),
    )
}

fn item_added(index: u32, reasoning: bool) -> String {
    let item = if reasoning {
        json!({ "type": "reasoning", "id": "rs_sim", "summary": [] })
    } else {
        json!({ "type": "message", "id": "msg_sim", "role": "assistant", "content": [] })
    };
    named(
        "response.output_item.added",
        &json!({ "type": "response.output_item.added", "output_index": index, "item": item }),
    )
}

/// Written with the first token: what a format sends before any text.
pub(super) fn opening(plan: &Plan) -> String {
    let reasoning = streams_reasoning(plan);
    match plan.endpoint {
        Endpoint::Chat => format!(
            "data: {}\n\n",
            openai_chunk(
                Some(&plan.request_id),
                plan.endpoint,
                Text::None,
                true,
                false,
                None
            )
        ),
        Endpoint::Completions | Endpoint::Embeddings => String::new(),
        Endpoint::Messages => {
            let start = json!({ "type": "message_start", "message": {
                "id": "msg_sim", "type": "message", "role": "assistant", "model": plan.model,
                "content": [], "stop_reason": null,
                "usage": { "input_tokens": plan.prompt_tokens, "output_tokens": 1 } } });
            format!(
                "{}{}{}",
                named("message_start", &start),
                block_start(0, reasoning),
                named("ping", &json!({ "type": "ping" }))
            )
        }
        Endpoint::Responses => {
            let created = json!({ "type": "response.created", "response": {
                "id": "resp_sim", "object": "response", "status": "in_progress",
                "model": plan.model, "output": [], "usage": null } });
            format!(
                "{}{}",
                named("response.created", &created),
                item_added(0, reasoning)
            )
        }
    }
}

/// Written with the first answer token after streamed reasoning.
pub(super) fn switch(plan: &Plan) -> String {
    match plan.endpoint {
        Endpoint::Messages => format!(
            "{}{}",
            named(
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": 0 })
            ),
            block_start(1, false)
        ),
        Endpoint::Responses => item_added(1, false),
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => String::new(),
    }
}

/// After the last token: the usage (`None`: not asked for, or the `no_usage` fault) and, for
/// Responses, the end of the stream.
pub(super) fn closing(plan: &Plan, usage: Option<Usage>) -> Option<Bytes> {
    let text = match plan.endpoint {
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => format!(
            "data: {}\n\n",
            openai_chunk(None, plan.endpoint, Text::None, false, false, Some(usage?))
        ),
        Endpoint::Messages => {
            let mut delta = json!({ "type": "message_delta",
                "delta": { "stop_reason": "max_tokens", "stop_sequence": null } });
            if let Some(u) = usage {
                delta["usage"] = json!({ "output_tokens": u.completion_tokens });
            }
            format!(
                "{}{}",
                named(
                    "content_block_stop",
                    &json!({ "type": "content_block_stop", "index": answer_index(plan) })
                ),
                named("message_delta", &delta)
            )
        }
        Endpoint::Responses => {
            let completed = json!({ "type": "response.completed", "response": {
                "id": "resp_sim", "object": "response", "status": "completed",
                "model": plan.model, "usage": usage.map(responses_usage) } });
            named("response.completed", &completed)
        }
    };
    Some(Bytes::from(text))
}

/// The stream's last event, after the usage (`None`: the usage event was the last).
pub(super) fn done(endpoint: Endpoint) -> Option<Bytes> {
    match endpoint {
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => {
            Some(Bytes::from_static(b"data: [DONE]\n\n"))
        }
        Endpoint::Messages => Some(Bytes::from_static(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        )),
        Endpoint::Responses => None,
    }
}

/// The `stream_error` fault: an error event mid-stream, after HTTP 200 and some tokens.
pub(super) fn stream_error(endpoint: Endpoint) -> Bytes {
    Bytes::from_static(match endpoint {
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => {
            b"data: {\"error\":{\"object\":\"error\",\"message\":\"injected mid-stream error\",\"type\":\"InternalServerError\",\"code\":500}}\n\n"
        }
        Endpoint::Messages => {
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        }
        Endpoint::Responses => {
            b"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"injected mid-stream error\"}}}\n\n"
        }
    })
}

fn responses_usage(u: Usage) -> serde_json::Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": u.completion_tokens,
        "output_tokens_details": { "reasoning_tokens": u.reasoning_tokens().unwrap_or(0) },
        "total_tokens": u.total_tokens,
    })
}

/// The whole non-streamed answer: `reasoning` and `answer` text, and the usage.
pub(super) fn whole(plan: &Plan, reasoning: &str, answer: &str, u: Usage) -> serde_json::Value {
    let model = &plan.model;
    match plan.endpoint {
        Endpoint::Chat => json!({ "id": "sim", "object": "chat.completion", "model": model,
            "choices": [{ "index": 0, "finish_reason": "length",
                          "message": { "role": "assistant", "content": answer } }],
            "usage": u }),
        Endpoint::Completions | Endpoint::Embeddings => json!({ "id": "sim",
            "object": "text_completion", "model": model,
            "choices": [{ "index": 0, "finish_reason": "length", "text": answer }], "usage": u }),
        Endpoint::Messages => {
            let mut content = Vec::new();
            if !reasoning.is_empty() {
                content.push(json!({ "type": "thinking", "thinking": reasoning }));
            }
            content.push(json!({ "type": "text", "text": answer }));
            json!({ "id": "msg_sim", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": "max_tokens",
                "usage": { "input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens } })
        }
        Endpoint::Responses => {
            let mut output = Vec::new();
            if !reasoning.is_empty() {
                output.push(json!({ "type": "reasoning", "id": "rs_sim", "summary": [],
                    "content": [{ "type": "reasoning_text", "text": reasoning }] }));
            }
            output.push(
                json!({ "type": "message", "id": "msg_sim", "role": "assistant",
                "content": [{ "type": "output_text", "text": answer }] }),
            );
            json!({ "id": "resp_sim", "object": "response", "status": "completed", "model": model,
                "output": output, "usage": responses_usage(u) })
        }
    }
}
