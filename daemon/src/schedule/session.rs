//! Multi-turn sessions: an arrival of a conversational scenario starts a session that sends its
//! next turn after the previous answer plus a think time, carrying the growing history (so
//! context length and prefix-cache reuse grow as in real chat). Each turn needs an in-flight
//! permit like any request — none free means the rest of the session is dropped and counted —
//! and a failed turn ends its session. Follow-up prompts are built on a blocking worker.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Execute, FailureLog};
use crate::metrics::Recorder;
use crate::metrics::catalogue::DropReason;
use crate::openai::CompletionRequest;
use crate::record::{Outcome, RequestPlan};
use crate::workload::Workload;

/// What a session task needs.
#[derive(Debug)]
pub struct SessionContext<E> {
    pub executor: Arc<E>,
    pub recorder: Arc<Recorder>,
    pub failures: Arc<FailureLog>,
    pub workload: Arc<Workload>,
    pub limit: Arc<Semaphore>,
    pub stop: CancellationToken,
    pub abort: CancellationToken,
    pub budget: Option<crate::config::Budget>,
}

/// The last user message of a request body (the text a turn added).
fn last_user_message(body: &[u8]) -> String {
    let Ok(req) = serde_json::from_slice::<CompletionRequest<'_>>(body) else {
        return String::new();
    };
    match (&req.messages, &req.prompt) {
        (Some(m), _) => m
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.to_string())
            .unwrap_or_default(),
        (None, Some(p)) => p.to_string(),
        (None, None) => String::new(),
    }
}

/// Run one session of `turns` turns, the first of which is `first` (already counted as started).
pub async fn run<E: Execute>(
    ctx: Arc<SessionContext<E>>,
    first: RequestPlan,
    permit: OwnedSemaphorePermit,
    session: OwnedSemaphorePermit,
    turns: u32,
) {
    let (seq, scenario, phase) = (first.seq, first.scenario, first.phase);
    let mut plan = RequestPlan {
        keep_text: turns > 1,
        ..first
    };
    let mut permit = Some(permit);
    let mut history: Vec<(String, String)> = Vec::new();
    for turn in 0..turns {
        if turn > 0 {
            let intended_at = Instant::now() + ctx.workload.think_time(scenario, seq, turn);
            tokio::select! {
                biased;
                () = ctx.stop.cancelled() => break,
                () = tokio::time::sleep_until(intended_at) => {}
            }
            if ctx.recorder.totals.budget_spent(ctx.budget.as_ref()) {
                ctx.recorder.dropped(DropReason::Budget);
                break;
            }
            let Ok(p) = Arc::clone(&ctx.limit).try_acquire_owned() else {
                ctx.recorder.dropped(DropReason::MaxInFlight);
                break;
            };
            permit = Some(p);
            let (workload, past) = (Arc::clone(&ctx.workload), history.clone());
            let Ok(prompt) =
                tokio::task::spawn_blocking(move || workload.next_turn(scenario, seq, turn, &past))
                    .await
            else {
                break;
            };
            plan = RequestPlan {
                seq,
                intended_at,
                scenario,
                max_tokens: prompt.max_tokens,
                prompt: Arc::new(prompt),
                keep_text: turn + 1 < turns,
                phase,
            };
            ctx.recorder.started(scenario);
        }
        let asked = last_user_message(&plan.prompt.body);
        let record = ctx.executor.execute(plan.clone(), ctx.abort.clone()).await;
        ctx.recorder.observe(&record);
        drop(permit.take());
        ctx.failures.note(&record);
        if record.outcome != Outcome::Success {
            break;
        }
        history.push(("user".to_string(), asked));
        history.push((
            "assistant".to_string(),
            record.answer_text.unwrap_or_default(),
        ));
    }
    ctx.recorder.session_ended();
    drop(session);
}
