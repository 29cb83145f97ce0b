//! The simulator's response bodies: an SSE stream whose events are written on absolute
//! deadlines (`t0 + ttft + i·itl`), shaped like vLLM's (role chunk, `finish_reason` on the last
//! content chunk, a usage chunk with `choices: []`, `[DONE]`), with the chosen fault applied;
//! and the equivalent non-streaming JSON body.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::time::Instant;

use super::Simulator;
use crate::openai::{ChunkChoice, Delta, Endpoint, StreamChunk, Usage};

/// What one response will do.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub endpoint: Endpoint,
    pub model: String,
    pub tokens: u32,
    pub prompt_tokens: u64,
    pub include_usage: bool,
    pub t0: Instant,
    pub stall: bool,
    pub truncate: bool,
}

const WORDS: &[&str] = &[
    " the", " kernel", " cache", " token", " stream", " latency", " batch", " queue", " model",
    " prefix", " decode", " server", " soak", " metric", " signal", " drift",
];

fn word(i: u32) -> &'static str {
    WORDS[i as usize % WORDS.len()]
}

fn chunk_json(
    endpoint: Endpoint,
    text: Option<&str>,
    role: bool,
    finish: bool,
    usage: Option<Usage>,
) -> String {
    let choice = match endpoint {
        Endpoint::Chat => ChunkChoice {
            delta: Some(Delta {
                role: role.then(|| "assistant".into()),
                content: text.map(Into::into).or_else(|| role.then(|| "".into())),
                ..Delta::default()
            }),
            finish_reason: finish.then(|| "length".into()),
            ..ChunkChoice::default()
        },
        Endpoint::Completions => ChunkChoice {
            text: text.map(Into::into),
            finish_reason: finish.then(|| "length".into()),
            ..ChunkChoice::default()
        },
    };
    let chunk = StreamChunk {
        choices: if usage.is_some() {
            Vec::new()
        } else {
            vec![choice]
        },
        usage,
        error: None,
    };
    serde_json::to_string(&chunk).unwrap_or_default()
}

fn sse(json: &str) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

#[derive(Debug)]
struct State {
    sim: Arc<Simulator>,
    plan: Plan,
    /// Next token index; `tokens` = content done.
    next: u32,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Tokens,
    Usage,
    Done,
    End,
}

impl State {
    fn deadline(&self, i: u32) -> Instant {
        let c = &self.sim.config;
        self.plan.t0 + c.ttft + c.itl * i
    }

    fn note_lateness(&self, deadline: Instant) {
        let late = Instant::now().saturating_duration_since(deadline);
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.sim
            .stats
            .max_write_lateness_us
            .fetch_max(us, Ordering::Relaxed);
    }
}

/// The SSE body.
pub(super) fn events(
    sim: Arc<Simulator>,
    plan: Plan,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let state = State {
        sim,
        plan,
        next: 0,
        stage: Stage::Tokens,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        let half = s.plan.tokens / 2;
        match s.stage {
            Stage::Tokens => {
                let i = s.next;
                if i == half && s.plan.truncate {
                    return None;
                }
                if i == half && s.plan.stall {
                    tokio::time::sleep(s.sim.config.stall_for).await;
                }
                let deadline = s.deadline(i);
                tokio::time::sleep_until(deadline).await;
                s.note_lateness(deadline);
                let last = i + 1 == s.plan.tokens;
                let mut out = String::new();
                if i == 0 && s.plan.endpoint == Endpoint::Chat {
                    out.push_str(&format!(
                        "data: {}\n\n",
                        chunk_json(s.plan.endpoint, None, true, false, None)
                    ));
                }
                out.push_str(&format!(
                    "data: {}\n\n",
                    chunk_json(s.plan.endpoint, Some(word(i)), false, last, None)
                ));
                s.next += 1;
                s.sim.stats.output_tokens.fetch_add(1, Ordering::Relaxed);
                if last {
                    s.stage = if s.plan.include_usage {
                        Stage::Usage
                    } else {
                        Stage::Done
                    };
                }
                Some((Ok(Bytes::from(out)), s))
            }
            Stage::Usage => {
                let usage = Usage {
                    prompt_tokens: s.plan.prompt_tokens,
                    completion_tokens: u64::from(s.plan.tokens),
                    total_tokens: s.plan.prompt_tokens + u64::from(s.plan.tokens),
                };
                s.stage = Stage::Done;
                Some((
                    Ok(sse(&chunk_json(
                        s.plan.endpoint,
                        None,
                        false,
                        false,
                        Some(usage),
                    ))),
                    s,
                ))
            }
            Stage::Done => {
                s.stage = Stage::End;
                s.sim
                    .stats
                    .streams_completed
                    .fetch_add(1, Ordering::Relaxed);
                Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), s))
            }
            Stage::End => None,
        }
    })
}

/// The non-streaming answer, sent when the last token would have been.
pub(super) async fn complete(sim: &Arc<Simulator>, plan: Plan) -> Response {
    let c = &sim.config;
    tokio::time::sleep_until(plan.t0 + c.ttft + c.itl * (plan.tokens - 1)).await;
    let text: String = (0..plan.tokens).map(word).collect();
    sim.stats
        .output_tokens
        .fetch_add(u64::from(plan.tokens), Ordering::Relaxed);
    sim.stats.streams_completed.fetch_add(1, Ordering::Relaxed);
    let usage = Usage {
        prompt_tokens: plan.prompt_tokens,
        completion_tokens: u64::from(plan.tokens),
        total_tokens: plan.prompt_tokens + u64::from(plan.tokens),
    };
    let choice = match plan.endpoint {
        Endpoint::Chat => serde_json::json!({
            "index": 0, "finish_reason": "length",
            "message": { "role": "assistant", "content": text },
        }),
        Endpoint::Completions => {
            serde_json::json!({ "index": 0, "finish_reason": "length", "text": text })
        }
    };
    let object = match plan.endpoint {
        Endpoint::Chat => "chat.completion",
        Endpoint::Completions => "text_completion",
    };
    axum::Json(serde_json::json!({
        "id": "sim", "object": object, "model": plan.model, "choices": [choice], "usage": usage,
    }))
    .into_response()
}
