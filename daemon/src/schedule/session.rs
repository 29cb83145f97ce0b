//! Multi-turn sessions: an arrival of a conversational scenario starts a session that sends its
//! next turn after the previous answer plus a think time, carrying the growing history (so
//! context length and prefix-cache reuse grow as in real chat). Each turn goes through the
//! launcher like any request — a refused admission (no in-flight permit, budget spent) drops the
//! rest of the session and is counted — and a failed turn ends its session. Follow-up prompts
//! are built on a blocking worker.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Execute, InFlight, Launcher};
use crate::record::{Outcome, RequestPlan};
use crate::workload::Workload;

/// What sessions share: the workload that builds follow-up turns and the cap on sessions in
/// flight (`load.max_sessions`).
#[derive(Debug)]
pub struct Sessions {
    workload: Arc<Workload>,
    slots: Arc<Semaphore>,
}

/// One session in flight: holds a `load.max_sessions` slot until dropped.
#[derive(Debug)]
pub struct SessionSlot {
    _permit: OwnedSemaphorePermit,
}

impl Sessions {
    pub fn new(workload: Arc<Workload>, max_sessions: usize) -> Self {
        Sessions {
            workload,
            slots: Arc::new(Semaphore::new(max_sessions)),
        }
    }

    /// A slot for a new session, if fewer than `max_sessions` are in flight.
    pub fn open(&self) -> Option<SessionSlot> {
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .ok()
            .map(|p| SessionSlot { _permit: p })
    }
}

/// Run one session of `turns` turns, the first of which (`first`) has started; `stop` ends it
/// before its next turn.
pub async fn run<E: Execute>(
    launcher: Arc<Launcher<E>>,
    sessions: Arc<Sessions>,
    slot: SessionSlot,
    first: InFlight<E>,
    turns: u32,
    stop: CancellationToken,
) {
    let recorder = Arc::clone(launcher.recorder());
    recorder.session_started();
    let (seq, scenario, phase) = {
        let p = first.plan();
        (p.seq, p.scenario, p.phase)
    };
    let mut next = Some(first);
    let mut turn = 0;
    while let Some(request) = next.take() {
        // The turns this request sent, as data: the next one extends them.
        let mut history = request
            .plan()
            .prompt
            .conversation
            .clone()
            .unwrap_or_default();
        let record = request.run().await;
        turn += 1;
        if record.outcome != Outcome::Success || turn >= turns {
            break;
        }
        history.push((
            "assistant".to_string(),
            record.answer_text.unwrap_or_default(),
        ));
        let intended_at = Instant::now() + sessions.workload.think_time(scenario, seq, turn);
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = tokio::time::sleep_until(intended_at) => {}
        }
        let Ok(admitted) = launcher.admit() else {
            break;
        };
        let workload = Arc::clone(&sessions.workload);
        let Ok(prompt) =
            tokio::task::spawn_blocking(move || workload.next_turn(scenario, seq, turn, &history))
                .await
        else {
            break;
        };
        let plan = RequestPlan {
            seq,
            intended_at,
            scenario,
            max_tokens: prompt.max_tokens,
            prompt: Arc::new(prompt),
            keep_text: turn + 1 < turns,
            phase,
        };
        next = Some(admitted.start(plan));
    }
    recorder.session_ended();
    drop(slot);
}
