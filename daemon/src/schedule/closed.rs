//! Closed loop: `load.users` simulated users, each sending its next request when the previous one
//! finished plus a think time (uniform in `load.think_time`). Concurrency is held at `users` and
//! exported as the in-flight gauge and the concurrency limit (the users active now). A user ramp
//! (`users = { from, to, over }`) starts (or stops) user k at its share of `over` after the run's
//! epoch; a stopping user finishes its request in flight first. Prompts come from the same bounded
//! pool as open-loop arrivals, in sequence order across users. There is no schedule to fall
//! behind, so schedule lag is zero by construction; latency under a fixed concurrency is the
//! question a closed loop answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    pub users: crate::config::UserRamp,
    /// The run's start: the ramp is timed from here.
    pub epoch: Instant,
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
        let active = Arc::new(AtomicUsize::new(0));
        for user in 0..self.users.max() {
            let (pool, recorder, executor, failures) = (
                Arc::clone(&pool),
                Arc::clone(&self.recorder),
                Arc::clone(&self.executor),
                Arc::clone(&self.failures),
            );
            let (stop, abort, think, seed, budget, active) = (
                self.stop.clone(),
                self.abort.clone(),
                self.think_time,
                self.seed,
                self.budget,
                Arc::clone(&active),
            );
            let (start, end) = self.users.active(user);
            let (start, end) = (self.epoch + start, end.map(|e| self.epoch + e));
            self.tracker.spawn(async move {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until(start) => {}
                }
                recorder.set_limit(active.fetch_add(1, Ordering::Relaxed) + 1);
                // Whatever ends this user's loop, it no longer counts as active.
                let _active = ActiveUser {
                    active: &active,
                    recorder: &recorder,
                };
                let retired = || end.is_some_and(|e| Instant::now() >= e);
                let retire = async {
                    match end {
                        Some(e) => tokio::time::sleep_until(e).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::pin!(retire);
                loop {
                    if retired() {
                        return;
                    }
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
                        () = &mut retire => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            });
        }
    }
}

/// Counts a user out of the active set (and the exported limit) when its loop ends.
struct ActiveUser<'a> {
    active: &'a AtomicUsize,
    recorder: &'a Recorder,
}

impl Drop for ActiveUser<'_> {
    fn drop(&mut self) {
        let now = self.active.fetch_sub(1, Ordering::Relaxed) - 1;
        self.recorder.set_limit(now);
    }
}
