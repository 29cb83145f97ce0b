//! The simulator's response bodies. A streamed answer waits for admission (batch slot + KV),
//! prefills (uncached tokens only), then writes one token per event on absolute deadlines —
//! each deadline is the previous one plus the engine's current ITL, so lateness never
//! accumulates — in its API's format ([`super::wire`]: vLLM's shape for OpenAI chat and
//! completions — role chunk, `finish_reason` on the last content chunk, a usage chunk with
//! `choices: []`, `[DONE]` — Anthropic's and Responses' events for theirs), with the request's
//! fault applied halfway. Whatever happens, dropping the body records the request's ground truth.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::Simulator;
use super::engine::Slot;
use super::faults::FaultKind;
use super::truth::Tracker;
use super::wire::{self, usage, word};
use crate::openai::Endpoint;

/// What one response will do.
#[derive(Debug)]
pub(super) struct Plan {
    pub endpoint: Endpoint,
    pub model: String,
    pub tokens: u32,
    pub prompt_tokens: u64,
    pub hashes: Vec<u64>,
    pub include_usage: bool,
    pub arrival: Instant,
    pub seq: Option<u64>,
    /// The request's `traceparent`, as received (kept in the truth row).
    pub traceparent: Option<String>,
    /// The simulator's id of the response (`x-request-id` and the first chunk's `id`).
    pub request_id: String,
    pub fault: Option<FaultKind>,
    pub rng: ChaCha8Rng,
    /// The first this many tokens are reasoning (chat, Messages, Responses; fewer than `tokens`)…
    pub reasoning: u32,
    /// …generated without being streamed.
    pub reasoning_hidden: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Admit,
    Tokens,
    Usage,
    Done,
    Forever,
    End,
}

/// A streaming response in progress.
#[derive(Debug)]
struct Gen {
    sim: Arc<Simulator>,
    plan: Plan,
    slot: Option<Slot>,
    next: u32,
    deadline: Instant,
    stage: Stage,
    fault_fired: bool,
    tracker: Tracker,
    /// Reasoning tokens generated without being streamed so far.
    hidden: u32,
}

impl Drop for Gen {
    fn drop(&mut self) {
        // Dropped before the simulator ended it: the client went away mid-request.
        let abandoned = !matches!(self.stage, Stage::End | Stage::Forever);
        if abandoned {
            self.sim.engine.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        match self.slot.take() {
            Some(slot) if abandoned => slot.abandon(),
            _ => {}
        }
        record(
            &self.sim,
            &self.tracker,
            self.plan.prompt_tokens,
            Instant::now(),
        );
    }
}

/// The engine's metrics and ground truth for a finished (or abandoned) request. The truth row
/// comes last: once a reader sees it, everything about the request is recorded.
fn record(sim: &Simulator, t: &Tracker, prompt_tokens: u64, end: Instant) {
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let first = t.chunk_at.first().copied();
    let phases = t.phases();
    let gaps: Vec<f64> = if t.completed {
        t.chunk_at.windows(2).map(|w| secs(w[1] - w[0])).collect()
    } else {
        Vec::new()
    };
    sim.metrics.finished(&super::metrics::Finished {
        completed: t.completed,
        ttft: first.map(|f| secs(f - t.arrival)),
        gaps: &gaps,
        e2e: secs(end.saturating_duration_since(t.arrival)),
        queue: phases.queue.map(secs),
        prefill: phases.prefill.map(secs),
        decode: phases.decode.map(secs),
        prompt_tokens,
        tokens: t.tokens,
    });
    sim.truth.finish(t, prompt_tokens, end);
}

impl Gen {
    /// Wait for a slot (front of the queue after a preemption) and prefill `tokens`, of which
    /// the prefix cache already holds `cached`.
    async fn admit(&mut self, kv: u64, front: bool, cached: bool) {
        let slot = self.sim.engine.admit(kv, front).await;
        let hit = if cached {
            self.sim.engine.prefix_lookup(kv, &self.plan.hashes)
        } else {
            0
        };
        // Prefill starts at arrival when a slot was free (the simulator's own request parsing and
        // tokenization are not part of the modelled engine), else when the slot was granted.
        let start = if slot.queued || front {
            Instant::now()
        } else {
            self.plan.arrival
        };
        let prefill = self
            .sim
            .engine
            .prefill_time(kv.saturating_sub(hit), &mut self.plan.rng);
        // Never behind "now": if parsing took longer than the prefill, start from here rather
        // than bursting late tokens.
        self.deadline = self.deadline.max(start + prefill).max(Instant::now());
        // Scheduled once: a preempted sequence's re-admission is not a second schedule.
        self.tracker.scheduled.get_or_insert(start);
        self.slot = Some(slot);
    }

    /// The next piece of the body, or `None` at the end.
    async fn step(&mut self) -> Option<Result<Bytes, io::Error>> {
        loop {
            match self.stage {
                Stage::Admit => {
                    self.deadline = self.plan.arrival;
                    self.admit(self.plan.prompt_tokens, false, true).await;
                    self.stage = Stage::Tokens;
                }
                Stage::Tokens => return self.token().await,
                Stage::Usage => {
                    self.stage = Stage::Done;
                    let no_usage = self.plan.fault == Some(FaultKind::NoUsage);
                    let generated = self.tracker.tokens + self.hidden;
                    let usage = (self.plan.include_usage && !no_usage)
                        .then(|| usage(&self.plan, generated));
                    if let Some(bytes) = wire::closing(&self.plan, usage) {
                        return Some(Ok(bytes));
                    }
                }
                Stage::Done => {
                    if self.plan.fault == Some(FaultKind::NeverEnds) {
                        self.stage = Stage::Forever;
                        continue;
                    }
                    self.stage = Stage::End;
                    self.tracker.completed = true;
                    self.slot = None;
                    if let Some(bytes) = wire::done(self.plan.endpoint) {
                        return Some(Ok(bytes));
                    }
                }
                Stage::Forever => {
                    self.slot = None;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    return Some(Ok(Bytes::from_static(b": keep-alive\n\n")));
                }
                Stage::End => return None,
            }
        }
    }

    async fn token(&mut self) -> Option<Result<Bytes, io::Error>> {
        // Hidden reasoning: generated, not streamed — its time passes, nothing is written (TTFT
        // grows by it, as with OpenAI's reasoning models).
        while self.plan.reasoning_hidden && self.next < self.plan.reasoning {
            self.next += 1;
            self.hidden += 1;
            self.tracker.reasoning_tokens += 1;
            let now = Instant::now().max(self.deadline);
            self.deadline += self.sim.engine.itl(now, &mut self.plan.rng);
        }
        let i = self.next;
        if i >= self.plan.tokens / 2 && !self.fault_fired {
            self.fault_fired = true;
            match self.plan.fault {
                Some(FaultKind::Truncate) => {
                    self.stage = Stage::End;
                    return None;
                }
                Some(FaultKind::Reset) => {
                    // Let hyper flush what was sent so far (it does when the body is pending),
                    // so the break really is mid-stream.
                    tokio::time::sleep_until(self.deadline).await;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    self.stage = Stage::End;
                    return Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "injected reset",
                    )));
                }
                Some(FaultKind::Stall) => tokio::time::sleep(self.sim.config.stall_for).await,
                Some(FaultKind::StreamError) => {
                    tokio::time::sleep_until(self.deadline).await;
                    self.stage = Stage::End;
                    return Some(Ok(wire::stream_error(self.plan.endpoint)));
                }
                Some(FaultKind::Malformed) => {
                    return Some(Ok(Bytes::from_static(
                        b"data: {\"choices\":[{\"delta\":{\"content\":\"oops\"\n\n",
                    )));
                }
                Some(FaultKind::Oversized) => {
                    // A memset, not a char-by-char loop: 16 MiB must not cost the simulator
                    // seconds (that would turn the fault into a timeout).
                    let n = self.sim.config.oversized_bytes;
                    let mut ev = Vec::with_capacity(n + 32);
                    ev.extend_from_slice(b"data: {\"pad\":\"");
                    ev.resize(ev.len() + n, b'x');
                    ev.extend_from_slice(b"\"}\n\n");
                    return Some(Ok(Bytes::from(ev)));
                }
                _ => {}
            }
        }
        // KV for the new token; a full cache preempts this sequence, which is recomputed.
        let grown = self.slot.as_mut().is_some_and(Slot::grow);
        if !grown {
            let kv = self.slot.take().map_or(self.plan.prompt_tokens, |s| s.kv());
            self.admit(kv, true, false).await;
            if let Some(s) = self.slot.as_mut() {
                s.grow();
            }
        }
        let last = i + 1 == self.plan.tokens;
        let reasoning = i < self.plan.reasoning;
        tokio::time::sleep_until(self.deadline).await;
        let now = Instant::now();
        self.tracker.wrote(now, self.deadline, 1);
        if reasoning {
            self.tracker.reasoning_tokens += 1;
        }
        let event = wire::token_event(&self.plan, i, last, reasoning);
        // The events a format sends before the first token, or between streamed reasoning and
        // the answer, go out with the token (once per request: the copy is not per token).
        let before = if self.tracker.tokens == 1 {
            wire::opening(&self.plan)
        } else {
            String::new()
        };
        let switch =
            if !reasoning && i == self.plan.reasoning && i > 0 && !self.plan.reasoning_hidden {
                wire::switch(&self.plan)
            } else {
                String::new()
            };
        let out = if before.is_empty() && switch.is_empty() {
            event
        } else {
            let mut b = Vec::with_capacity(before.len() + switch.len() + event.len());
            b.extend_from_slice(before.as_bytes());
            b.extend_from_slice(switch.as_bytes());
            b.extend_from_slice(&event);
            Bytes::from(b)
        };
        self.next += 1;
        if last {
            self.stage = Stage::Usage;
        } else {
            self.deadline += self.sim.engine.itl(now, &mut self.plan.rng);
        }
        Some(Ok(out))
    }
}

/// The SSE body.
pub(super) fn events(
    sim: Arc<Simulator>,
    plan: Plan,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
    let mut tracker = Tracker::new(plan.seq, plan.arrival, plan.tokens as usize);
    tracker.traceparent = plan.traceparent.clone();
    let mut gen_ = Gen {
        sim,
        deadline: plan.arrival,
        plan,
        slot: None,
        next: 0,
        stage: Stage::Admit,
        fault_fired: false,
        tracker,
        hidden: 0,
    };
    gen_.tracker.fault = gen_.plan.fault;
    futures_util::stream::unfold(gen_, |mut g| async move {
        let item = g.step().await?;
        Some((item, g))
    })
}

/// The non-streaming answer, sent when the last token would have been.
pub(super) async fn complete(sim: Arc<Simulator>, mut plan: Plan) -> Response {
    let engine = Arc::clone(&sim.engine);
    let mut slot = engine.admit(plan.prompt_tokens, false).await;
    let hit = engine.prefix_lookup(plan.prompt_tokens, &plan.hashes);
    let start = if slot.queued {
        Instant::now()
    } else {
        plan.arrival
    };
    let mut deadline = start + engine.prefill_time(plan.prompt_tokens - hit, &mut plan.rng);
    for _ in 1..plan.tokens {
        slot.grow();
        deadline += engine.itl(Instant::now(), &mut plan.rng);
    }
    tokio::time::sleep_until(deadline).await;
    drop(slot);
    let mut tracker = Tracker::new(plan.seq, plan.arrival, 1);
    tracker.traceparent = plan.traceparent.clone();
    tracker.scheduled = Some(start);
    tracker.wrote(Instant::now(), deadline, plan.tokens);
    tracker.completed = true;
    tracker.fault = plan.fault;
    record(&sim, &tracker, plan.prompt_tokens, Instant::now());
    let split = plan.reasoning.min(plan.tokens);
    let answer: String = (split..plan.tokens).map(word).collect();
    // The chat answer carries no reasoning text (its usage counts the tokens); Messages and
    // Responses carry it as their APIs do.
    let reasoning: String = match plan.endpoint {
        Endpoint::Messages | Endpoint::Responses => (0..split).map(word).collect(),
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => String::new(),
    };
    let usage = usage(&plan, plan.tokens);
    axum::Json(wire::whole(&plan, &reasoning, &answer, usage)).into_response()
}
