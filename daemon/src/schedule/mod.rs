//! When to send: an open-loop arrival process ([`Arrivals`]) placed on the load [`Shape`] from
//! absolute time (or a replayed trace's own times, which come with its prompts), and the one global [`Dispatcher`] that feeds it to the request lifecycle
//! ([`launch`]), whose launcher holds `max_in_flight` as a semaphore. An arrival with no permit
//! is dropped and counted — never queued — and a late dispatcher catches up on its absolute
//! schedule, the lateness showing as schedule lag. Closed-loop users ([`closed`]), session turns
//! ([`session`]) and canary probes ([`canary`]) are the other sources of the same lifecycle.

pub mod canary;
pub mod closed;
pub mod launch;
pub mod session;
pub mod shape;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand_distr::{Distribution, Exp1, Gamma};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Arrival;
use crate::metrics::catalogue::DropReason;
use crate::record::{RequestPlan, RequestRecord};
use crate::workload::PromptPool;
use crate::workload::rng::{Stream, rng_for};
pub use launch::{FailureLog, InFlight, InFlightLimit, Launcher, Ledger, Slot};
pub use session::Sessions;
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

/// Why a `--shard` value is not `I/N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?}: expected I/N, e.g. 0/4")]
    Form(String),
    #[error("{text:?}: {part:?} is not a number")]
    NotANumber { text: String, part: String },
    #[error("{text:?}: the index must be in 0..{count} (0-based)")]
    OutOfRange { text: String, count: u64 },
}

impl Shard {
    /// Parse `I/N`.
    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ShardError::Form(s.to_string()))?;
        let num = |x: &str| {
            x.trim().parse::<u64>().map_err(|_| ShardError::NotANumber {
                text: s.to_string(),
                part: x.to_string(),
            })
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange {
                text: s.to_string(),
                count,
            });
        }
        Ok(Shard { index, count })
    }

    pub fn owns(self, seq: u64) -> bool {
        seq % self.count == self.index
    }

    /// This shard's sequence numbers, in order.
    pub fn seqs(self) -> impl Iterator<Item = u64> + Send + 'static {
        self.seqs_from(0)
    }

    /// This shard's sequence numbers from `base` on, in order.
    pub fn seqs_from(self, base: u64) -> impl Iterator<Item = u64> + Send + 'static {
        let first = base + (self.index + self.count - base % self.count) % self.count;
        (first..).step_by(usize::try_from(self.count).unwrap_or(usize::MAX))
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

    /// Number the arrivals from `seq` on (a reload continues the run's sequence; the gaps are
    /// drawn for those numbers, so no arrival or prompt of the run is repeated).
    pub fn starting_at(mut self, seq: u64) -> Self {
        self.seq = seq;
        self.peeked = None;
        self
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

/// Something that sends a plan and reports what happened (the HTTP client, or a test double), in
/// two steps: [`Execute::send`] holds the request's in-flight slot (the stream), and
/// [`Execute::finish`] — what follows the stream, such as tokenizing the answer — runs after the
/// slot is given back.
pub trait Execute: Send + Sync + 'static {
    /// A request whose stream has ended.
    type Streamed: Send + 'static;

    fn send(
        &self,
        plan: RequestPlan,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::Streamed> + Send;

    fn finish(&self, streamed: Self::Streamed) -> impl Future<Output = RequestRecord> + Send;
}

impl Execute for crate::client::Client {
    type Streamed = crate::client::Streamed;

    async fn send(&self, plan: RequestPlan, cancel: CancellationToken) -> Self::Streamed {
        crate::client::Client::send(self, plan, &cancel).await
    }

    async fn finish(&self, streamed: Self::Streamed) -> RequestRecord {
        crate::client::Client::finish(self, streamed).await
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

/// The one global dispatcher: arrivals, on their absolute schedule, into the launcher.
#[derive(Debug)]
pub struct Dispatcher<E: Execute> {
    arrivals: Arrivals,
    shape: Shape,
    epoch: Instant,
    pool: PromptPool,
    launcher: Arc<Launcher<E>>,
    /// Multi-turn sessions (`None`: no conversational scenario can arrive).
    sessions: Option<Arc<Sessions>>,
    /// Every request task; close and wait on it to drain.
    tracker: TaskTracker,
    /// Stops arrivals.
    stop: CancellationToken,
}

impl<E: Execute> Dispatcher<E> {
    /// Dispatch `arrivals` (on `shape`, timed from `epoch`) with prompts from `pool`.
    pub fn new(
        arrivals: Arrivals,
        shape: Shape,
        epoch: Instant,
        pool: PromptPool,
        launcher: Arc<Launcher<E>>,
        tracker: TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        Dispatcher {
            arrivals,
            shape,
            epoch,
            pool,
            launcher,
            sessions: None,
            tracker,
            stop,
        }
    }

    /// Arrivals of conversational scenarios start sessions in `sessions`.
    pub fn with_sessions(mut self, sessions: Arc<Sessions>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    fn publish_shape(&self, now: Instant) {
        let t = now.saturating_duration_since(self.epoch);
        let recorder = self.launcher.recorder();
        match self.shape.phase_at(t) {
            Some(i) => recorder.set_schedule(self.shape.rate_at(t), i as i64),
            None => recorder.set_schedule(0.0, -1),
        }
    }

    pub async fn run(mut self) -> DispatchEnd {
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let recorder = Arc::clone(self.launcher.recorder());
        loop {
            // A replayed trace's prompts come with their times; otherwise the arrival process.
            let next = if self.pool.replays() {
                tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return DispatchEnd::Stopped,
                    due = self.pool.next_due() => due.map(|(at, p)| (Tick { seq: p.seq, at }, Some(p))),
                }
            } else {
                self.arrivals.next().map(|t| (t, None))
            };
            let Some((tick, ready)) = next else {
                recorder.set_schedule(0.0, -1);
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
            let slot = match self.launcher.admit() {
                Ok(slot) => slot,
                Err(DropReason::Budget) => {
                    recorder.set_schedule(0.0, -1);
                    tracing::info!("load.budget reached: no more requests");
                    return DispatchEnd::Finished;
                }
                Err(_) => continue,
            };
            // A slot dropped here (stopped while waiting) counts as dropped: shutting_down.
            let prompt = match ready {
                Some(p) => Some(p),
                None => tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return DispatchEnd::Stopped,
                    p = self.pool.take(tick.seq) => p,
                },
            };
            let Some(prompt) = prompt else {
                tracing::error!("the prompt worker stopped; ending the schedule");
                return DispatchEnd::Finished;
            };
            // Lateness at dispatch, open-loop arrivals only: what waiting for a prompt cost too.
            recorder.scheduled(Instant::now().saturating_duration_since(intended_at));
            let session_turns = prompt.session_turns;
            let plan = RequestPlan {
                seq: tick.seq,
                intended_at,
                scenario: prompt.scenario,
                max_tokens: prompt.max_tokens,
                prompt,
                // A session's next turn carries this answer.
                keep_text: session_turns.is_some_and(|t| t > 1),
                phase: self
                    .shape
                    .phase_at(tick.at)
                    .and_then(|i| u32::try_from(i).ok()),
            };
            match (session_turns, &self.sessions) {
                (Some(turns), Some(sessions)) => {
                    let Some(session) = sessions.open() else {
                        slot.refuse(DropReason::MaxSessions);
                        continue;
                    };
                    let first = slot.start(plan);
                    self.tracker.spawn(session::run(
                        Arc::clone(&self.launcher),
                        Arc::clone(sessions),
                        session,
                        first,
                        turns,
                        self.stop.clone(),
                    ));
                }
                _ => {
                    let request = slot.start(plan);
                    self.tracker.spawn(async move {
                        request.run().await;
                    });
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
