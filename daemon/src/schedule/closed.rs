//! Closed loop: `load.users` simulated users, each sending its next request when the previous one
//! finished plus a think time (uniform in `load.think_time`). Concurrency is held at `users` and
//! exported as the in-flight gauge and `llmsoak_users_active` (the concurrency limit is 0: a
//! closed loop drops nothing for concurrency, so "at the limit" does not mean the client is the
//! bottleneck). A user ramp
//! (`users = { from, to, over }`) starts (or stops) user k at its share of `over` after the run's
//! epoch; a stopping user finishes its request in flight first. Prompts come from the same bounded
//! pool as open-loop arrivals, in sequence order across users. There is no schedule to fall
//! behind, so schedule lag is zero by construction; latency under a fixed concurrency is the
//! question a closed loop answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::RngExt;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{DispatchEnd, Execute, Launcher};
use crate::config::{LoadConfig, UserRamp};
use crate::metrics::Recorder;
use crate::record::RequestPlan;
use crate::workload::PromptPool;
use crate::workload::rng::{Stream, rng_for};

/// Closed-loop users, ready to start.
#[derive(Debug)]
pub struct Users<E: Execute> {
    users: UserRamp,
    /// The run's start: the ramp is timed from here.
    epoch: Instant,
    think_time: crate::config::forms::Between,
    seed: u64,
    pool: PromptPool,
    launcher: Arc<Launcher<E>>,
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl<E: Execute> Users<E> {
    /// The users of `load` (ramped from `epoch`) sending prompts from `pool` through
    /// `launcher`, each pausing uniformly in `load.think_time` after an answer (drawn from
    /// `seed`); their tasks go on `tracker`.
    pub fn new(
        load: &LoadConfig,
        seed: u64,
        epoch: Instant,
        pool: PromptPool,
        launcher: Arc<Launcher<E>>,
        tracker: TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        Users {
            users: load.users,
            epoch,
            think_time: load.think_time,
            seed,
            pool,
            launcher,
            tracker,
            stop,
        }
    }

    /// Start the users on the tracker; they stop at `stop` (a request in flight finishes, or is
    /// cancelled by the launcher's abort), when they retire (a ramp down) or when the budget is
    /// spent. The returned task ends when every user has: `Finished` — a closed loop whose budget
    /// is spent ends its run like a finished schedule — or `Stopped`.
    pub fn spawn(self) -> tokio::task::JoinHandle<DispatchEnd> {
        let pool = Arc::new(Mutex::new(self.pool));
        let active = Arc::new(AtomicUsize::new(0));
        // Every user holds a sender; the channel closes when the last one is done.
        let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
        for user in 0..self.users.max() {
            let (pool, launcher, active, alive) = (
                Arc::clone(&pool),
                Arc::clone(&self.launcher),
                Arc::clone(&active),
                alive.clone(),
            );
            let (stop, think, seed) = (self.stop.clone(), self.think_time, self.seed);
            let (start, end) = self.users.active(user);
            let (start, end) = (self.epoch + start, end.map(|e| self.epoch + e));
            self.tracker.spawn(async move {
                let _alive = alive;
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until(start) => {}
                }
                let recorder = Arc::clone(launcher.recorder());
                recorder.set_users(active.fetch_add(1, Ordering::Relaxed) + 1);
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
                    // Closed loop has no in-flight cap beyond its users: only the budget refuses.
                    let Ok(slot) = launcher.admit() else { return };
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
                    slot.start(plan).run().await;
                    let (lo, hi) = (think.min, think.max);
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
        drop(alive);
        let stop = self.stop;
        tokio::spawn(async move {
            let _ = all_done.recv().await;
            if stop.is_cancelled() {
                DispatchEnd::Stopped
            } else {
                tracing::info!("every closed-loop user has finished");
                DispatchEnd::Finished
            }
        })
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
        self.recorder.set_users(now);
    }
}
