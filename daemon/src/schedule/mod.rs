//! When to send: an open-loop arrival process ([`Arrivals`]) placed on the load [`Shape`] from
//! absolute time, and the one global [`Dispatcher`] that holds `max_in_flight` as a semaphore.
//! An arrival with no permit is dropped and counted — never queued — and a late dispatcher
//! catches up on its absolute schedule, the lateness showing as schedule lag.

pub mod canary;
pub mod closed;
pub mod session;
pub mod shape;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand_distr::{Distribution, Exp1, Gamma};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Arrival;
use crate::metrics::Recorder;
use crate::metrics::catalogue::DropReason;
use crate::record::{RequestPlan, RequestRecord};
use crate::workload::PromptPool;
use crate::workload::rng::{Stream, rng_for};
pub use shape::Shape;

/// One scheduled arrival: sequence number and offset from the run's epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub seq: u64,
    pub at: Duration,
}

/// The arrival process: gaps with mean 1 in operational time, mapped through the shape.
/// Gap `k` is drawn from `(seed, Arrival, k)`, so the schedule is a pure function of the seed.
#[derive(Debug, Clone)]
pub struct Arrivals {
    shape: Shape,
    process: Arrival,
    gamma: Option<Gamma<f64>>,
    seed: u64,
    seq: u64,
    u: f64,
    shard: Shard,
    /// A tick looked at but not yet handed out.
    peeked: Option<Tick>,
}

/// This replica's slice of the schedule: arrival `seq` is ours when `seq % count == index`
/// (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`). Every replica computes the whole arrival
/// sequence from the seed and keeps its own, so N replicas together send exactly the unsharded
/// schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parse `I/N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected I/N, e.g. 0/4"))?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {i:?} is not a number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("{s:?}: the index must be in 0..{count} (0-based)"));
        }
        Ok(Shard { index, count })
    }

    pub fn owns(self, seq: u64) -> bool {
        seq % self.count == self.index
    }

    /// This shard's sequence numbers, in order.
    pub fn seqs(self) -> impl Iterator<Item = u64> + Send + 'static {
        (self.index..).step_by(usize::try_from(self.count).unwrap_or(usize::MAX))
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Arrivals {
    pub fn new(shape: Shape, process: Arrival, seed: u64) -> Self {
        let gamma = match process {
            Arrival::Gamma { burstiness } => Gamma::new(burstiness, 1.0 / burstiness).ok(),
            _ => None,
        };
        Arrivals {
            shape,
            process,
            gamma,
            seed,
            seq: 0,
            u: 0.0,
            shard: Shard::default(),
            peeked: None,
        }
    }

    /// Drop every arrival due before `at` (a replica joining a shared schedule late does not
    /// burst the arrivals it missed); returns how many were skipped.
    pub fn skip_before(&mut self, at: Duration) -> u64 {
        let mut n = 0;
        while let Some(t) = self.next() {
            if t.at >= at {
                self.peeked = Some(t);
                break;
            }
            n += 1;
        }
        n
    }

    /// Only this shard's arrivals.
    pub fn sharded(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    fn gap(&self, seq: u64) -> f64 {
        let mut rng = rng_for(self.seed, Stream::Arrival, seq);
        match (self.process, &self.gamma) {
            (Arrival::Constant, _) => 1.0,
            (Arrival::Gamma { .. }, Some(g)) => g.sample(&mut rng),
            _ => Exp1.sample(&mut rng),
        }
    }
}

impl Iterator for Arrivals {
    type Item = Tick;

    fn next(&mut self) -> Option<Tick> {
        if let Some(t) = self.peeked.take() {
            return Some(t);
        }
        loop {
            let at = self.shape.time_of(self.u)?;
            let tick = Tick { seq: self.seq, at };
            self.seq += 1;
            self.u += self.gap(self.seq);
            if self.shard.owns(tick.seq) {
                return Some(tick);
            }
        }
    }
}

/// Something that sends a plan and reports what happened (the HTTP client, or a test double).
pub trait Execute: Send + Sync + 'static {
    fn execute(
        &self,
        plan: RequestPlan,
        cancel: CancellationToken,
    ) -> impl Future<Output = RequestRecord> + Send;
}

impl Execute for crate::client::Client {
    async fn execute(&self, plan: RequestPlan, cancel: CancellationToken) -> RequestRecord {
        crate::client::Client::execute(self, &plan, &cancel).await
    }
}

/// Logs failed requests at a bounded rate (a burst of failures must not flood the logs or
/// slow the tasks that report them): at most `per_second` lines a second, then one line saying
/// how many were suppressed.
#[derive(Debug)]
pub struct FailureLog {
    per_second: u32,
    state: std::sync::Mutex<(Instant, u32, u64)>,
}

impl FailureLog {
    pub fn new(per_second: u32) -> Self {
        FailureLog {
            per_second,
            state: std::sync::Mutex::new((Instant::now(), 0, 0)),
        }
    }

    pub fn note(&self, record: &RequestRecord) {
        let Some(error) = record.error_type else {
            return;
        };
        if error == crate::record::ErrorType::Cancelled {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(st.0) >= Duration::from_secs(1) {
            if st.2 > 0 {
                tracing::warn!(suppressed = st.2, "more failed requests were not logged");
            }
            *st = (now, 0, 0);
        }
        if st.1 < self.per_second {
            st.1 += 1;
            tracing::warn!(seq = record.seq, error_type = error.as_str(), status = ?record.status, "request failed");
        } else {
            st.2 += 1;
        }
    }
}

/// How the dispatch loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchEnd {
    /// The last phase ended.
    Finished,
    /// `stop` was cancelled.
    Stopped,
}

/// The one global dispatcher.
#[derive(Debug)]
pub struct Dispatcher<E> {
    pub arrivals: Arrivals,
    pub shape: Shape,
    pub epoch: Instant,
    pub limit: Arc<Semaphore>,
    pub pool: PromptPool,
    pub recorder: Arc<Recorder>,
    pub executor: Arc<E>,
    /// Every request task; close and wait on it to drain.
    pub tracker: TaskTracker,
    /// Stops arrivals.
    pub stop: CancellationToken,
    /// Cancels requests in flight (after the drain grace period).
    pub abort: CancellationToken,
    pub failures: Arc<FailureLog>,
    /// Builds follow-up turns of multi-turn sessions.
    pub workload: Arc<crate::workload::Workload>,
    /// Sessions in flight (`load.max_sessions`).
    pub sessions: Arc<Semaphore>,
    /// The spend cap: once reached, the schedule ends.
    pub budget: Option<crate::config::Budget>,
}

impl<E: Execute> Dispatcher<E> {
    fn publish_shape(&self, now: Instant) {
        let t = now.saturating_duration_since(self.epoch);
        match self.shape.phase_at(t) {
            Some(i) => self.recorder.set_schedule(self.shape.rate_at(t), i as i64),
            None => self.recorder.set_schedule(0.0, -1),
        }
    }

    pub async fn run(mut self) -> DispatchEnd {
        let ctx = Arc::new(session::SessionContext {
            executor: Arc::clone(&self.executor),
            recorder: Arc::clone(&self.recorder),
            failures: Arc::clone(&self.failures),
            workload: Arc::clone(&self.workload),
            limit: Arc::clone(&self.limit),
            stop: self.stop.clone(),
            abort: self.abort.clone(),
            budget: self.budget,
        });
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let Some(tick) = self.arrivals.next() else {
                self.recorder.set_schedule(0.0, -1);
                return DispatchEnd::Finished;
            };
            let intended_at = self.epoch + tick.at;
            loop {
                tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return DispatchEnd::Stopped,
                    () = tokio::time::sleep_until(intended_at) => break,
                    now = gauges.tick() => self.publish_shape(now),
                }
            }
            if self.recorder.totals.budget_spent(self.budget.as_ref()) {
                self.recorder.dropped(DropReason::Budget);
                self.recorder.set_schedule(0.0, -1);
                tracing::info!("load.budget reached: no more requests");
                return DispatchEnd::Finished;
            }
            let Ok(permit) = Arc::clone(&self.limit).try_acquire_owned() else {
                self.recorder.dropped(DropReason::MaxInFlight);
                continue;
            };
            let prompt = tokio::select! {
                biased;
                () = self.stop.cancelled() => return DispatchEnd::Stopped,
                p = self.pool.take(tick.seq) => p,
            };
            let Some(prompt) = prompt else {
                tracing::error!("the prompt worker stopped; ending the schedule");
                return DispatchEnd::Finished;
            };
            let session_turns = prompt.session_turns;
            let plan = RequestPlan {
                seq: tick.seq,
                intended_at,
                scenario: prompt.scenario,
                max_tokens: prompt.max_tokens,
                prompt,
                keep_text: false,
                phase: self
                    .shape
                    .phase_at(tick.at)
                    .and_then(|i| u32::try_from(i).ok()),
            };
            if let Some(turns) = session_turns {
                let Ok(session) = Arc::clone(&self.sessions).try_acquire_owned() else {
                    self.recorder.dropped(DropReason::MaxSessions);
                    continue;
                };
                self.recorder.session_started();
                self.recorder.started(plan.scenario);
                self.tracker
                    .spawn(session::run(Arc::clone(&ctx), plan, permit, session, turns));
                continue;
            }
            self.recorder.started(plan.scenario);
            let recorder = Arc::clone(&self.recorder);
            let executor = Arc::clone(&self.executor);
            let abort = self.abort.clone();
            let failures = Arc::clone(&self.failures);
            self.tracker.spawn(async move {
                let record = executor.execute(plan, abort).await;
                recorder.observe(&record);
                drop(permit);
                failures.note(&record);
            });
        }
    }
}

#[cfg(test)]
mod tests;
