//! Closed loop: `load.users` simulated users, each sending its next request when the previous one
//! finished plus a think time (uniform in `load.think_time`). Concurrency is held at `users` and
//! exported as the in-flight gauge and the concurrency limit. Prompts come from the same bounded
//! pool as open-loop arrivals, in sequence order across users. There is no schedule to fall
//! behind, so schedule lag is zero by construction; latency under a fixed concurrency is the
//! question a closed loop answers.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Execute, FailureLog};
use crate::metrics::Recorder;
use crate::record::RequestPlan;
use crate::workload::PromptPool;
use crate::workload::rng::{Stream, rng_for};

/// Everything the users share.
#[derive(Debug)]
pub struct Users<E> {
    pub users: usize,
    pub think_time: (Duration, Duration),
    pub seed: u64,
    pub pool: PromptPool,
    pub recorder: Arc<Recorder>,
    pub executor: Arc<E>,
    pub failures: Arc<FailureLog>,
    pub tracker: TaskTracker,
    pub stop: CancellationToken,
    pub abort: CancellationToken,
    pub budget: Option<crate::config::Budget>,
}

impl<E: Execute> Users<E> {
    /// Start the users on the tracker; they stop at `stop` (a request in flight finishes, or is
    /// cancelled by `abort`).
    pub fn spawn(self) {
        let pool = Arc::new(Mutex::new(self.pool));
        for user in 0..self.users {
            let (pool, recorder, executor, failures) = (
                Arc::clone(&pool),
                Arc::clone(&self.recorder),
                Arc::clone(&self.executor),
                Arc::clone(&self.failures),
            );
            let (stop, abort, think, seed, budget) = (
                self.stop.clone(),
                self.abort.clone(),
                self.think_time,
                self.seed,
                self.budget,
            );
            self.tracker.spawn(async move {
                loop {
                    let prompt = tokio::select! {
                        biased;
                        () = stop.cancelled() => return,
                        p = async { pool.lock().await.next().await } => p,
                    };
                    let Some(prompt) = prompt else { return };
                    if recorder.totals.budget_spent(budget.as_ref()) {
                        recorder.dropped(crate::metrics::catalogue::DropReason::Budget);
                        return;
                    }
                    let seq = prompt.seq;
                    let plan = RequestPlan {
                        seq,
                        intended_at: Instant::now(),
                        scenario: prompt.scenario,
                        max_tokens: prompt.max_tokens,
                        prompt,
                        keep_text: false,
                        phase: None,
                    };
                    recorder.started(plan.scenario);
                    let record = executor.execute(plan, abort.clone()).await;
                    recorder.observe(&record);
                    failures.note(&record);
                    let (lo, hi) = think;
                    let pause = if hi > lo {
                        lo + (hi - lo).mul_f64(
                            rng_for(seed ^ user as u64, Stream::Session, seq).random::<f64>(),
                        )
                    } else {
                        lo
                    };
                    tokio::select! {
                        biased;
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            });
        }
    }
}
