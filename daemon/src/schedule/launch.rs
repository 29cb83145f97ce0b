//! The one request lifecycle. Every source of requests — open-loop arrivals, closed-loop users,
//! session turns, canary probes — goes through a [`Launcher`]:
//!
//! ```text
//! admit() --budget spent / no in-flight permit--> Err(DropReason), counted as dropped
//!    | Ok(Slot)            (a slot dropped unused is counted as dropped: shutting_down)
//!    v
//! Slot::start(plan) -> InFlight   counts `started` (and in flight)
//!    v
//! InFlight::run()  -> RequestRecord   executes, records the outcome, logs a failure, adds the
//!                                     spend, releases the permit
//!    (an InFlight dropped unfinished — its task aborted — is recorded as `cancelled`)
//! ```
//!
//! So `started = finished + in flight` and `offered = started + dropped` hold by construction,
//! and the budget is checked in exactly one place.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Execute;
use crate::config::Budget;
use crate::metrics::Recorder;
use crate::metrics::catalogue::DropReason;
use crate::record::{ErrorType, RequestPlan, RequestRecord};

/// What a run's soak has used: requests started and output tokens of finished requests (what
/// `load.budget` caps), and the next unused arrival sequence number. Shared by every generation
/// of the run, so a reload neither resets the spend nor sends a sequence number (and its prompt)
/// again; the canary's probes are not part of it.
#[derive(Debug, Default)]
pub struct Ledger {
    started: AtomicU64,
    /// Admitted against `max_requests` (started, or about to be): reserved at admission so
    /// that two admissions racing for the last request cannot both get it.
    reserved: AtomicU64,
    output_tokens: AtomicU64,
    next_seq: AtomicU64,
}

impl Ledger {
    /// A ledger that goes on from a checkpoint: `next_seq`, and `requests` started and
    /// `output_tokens` spent before it (a resumed run's budget is the whole run's).
    pub fn resumed(next_seq: u64, requests: u64, output_tokens: u64) -> Self {
        Ledger {
            started: AtomicU64::new(requests),
            reserved: AtomicU64::new(requests),
            output_tokens: AtomicU64::new(output_tokens),
            next_seq: AtomicU64::new(next_seq),
        }
    }

    /// Requests started and output tokens spent so far (a checkpoint's).
    pub fn spent_so_far(&self) -> (u64, u64) {
        (
            self.started.load(Ordering::Relaxed),
            self.output_tokens.load(Ordering::Relaxed),
        )
    }

    /// The first sequence number no request of this run has used.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed)
    }

    /// Whether `budget` is spent: no new request may start.
    pub fn spent(&self, budget: &Budget) -> bool {
        budget
            .max_requests
            .is_some_and(|m| self.reserved.load(Ordering::Acquire) >= m)
            || budget
                .max_output_tokens
                .is_some_and(|m| self.output_tokens.load(Ordering::Relaxed) >= m)
    }

    /// Take one request of `budget`, atomically; `false` when it is spent.
    fn reserve(&self, budget: &Budget) -> bool {
        if budget
            .max_output_tokens
            .is_some_and(|m| self.output_tokens.load(Ordering::Relaxed) >= m)
        {
            return false;
        }
        self.reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                budget
                    .max_requests
                    .map_or(Some(r + 1), |m| (r < m).then_some(r + 1))
            })
            .is_ok()
    }

    /// Give back a reservation that did not start.
    fn release(&self) {
        let _ = self
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1));
    }
}

/// Logs failed requests at a bounded rate (a burst of failures must not flood the logs or slow
/// the tasks that report them): at most `per_second` lines a second, then one line saying how
/// many were suppressed.
#[derive(Debug)]
pub struct FailureLog {
    per_second: u32,
    window: std::sync::Mutex<LogWindow>,
}

/// The current one-second window of [`FailureLog`].
#[derive(Debug)]
struct LogWindow {
    since: Instant,
    logged: u32,
    suppressed: u64,
}

impl FailureLog {
    pub fn new(per_second: u32) -> Self {
        FailureLog {
            per_second,
            window: std::sync::Mutex::new(LogWindow {
                since: Instant::now(),
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    pub fn note(&self, record: &RequestRecord) {
        let Some(error) = record.error_type else {
            return;
        };
        if matches!(error, ErrorType::Cancelled | ErrorType::Aborted) {
            return;
        }
        let Ok(mut w) = self.window.lock() else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(w.since) >= Duration::from_secs(1) {
            if w.suppressed > 0 {
                tracing::warn!(
                    suppressed = w.suppressed,
                    "more failed requests were not logged"
                );
            }
            *w = LogWindow {
                since: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < self.per_second {
            w.logged += 1;
            tracing::warn!(
                seq = record.seq,
                error_type = error.as_str(),
                status = record.status.unwrap_or(0),
                "request failed"
            );
        } else {
            w.suppressed += 1;
        }
    }
}

/// The run's in-flight cap, one semaphore for every generation: a reload resizes it rather than
/// adding a fresh one beside the requests still running.
#[derive(Debug)]
pub struct InFlightLimit {
    semaphore: Arc<Semaphore>,
    size: std::sync::Mutex<usize>,
}

impl InFlightLimit {
    pub fn new(size: usize) -> Self {
        InFlightLimit {
            semaphore: Arc::new(Semaphore::new(size)),
            size: std::sync::Mutex::new(size),
        }
    }

    pub fn semaphore(&self) -> Arc<Semaphore> {
        Arc::clone(&self.semaphore)
    }

    /// Change the cap to `size`. Growing adds permits now; shrinking takes permits away as
    /// requests in flight give them back (a fair semaphore hands released permits to the
    /// shrink first), so the cap is never exceeded, not even during a reload. Call within the
    /// runtime.
    pub fn resize(&self, size: usize) {
        // The cap is a plain number, valid whatever panicked while it was held: a poisoned
        // lock must not keep the old cap after a reload.
        let mut current = self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if size > *current {
            self.semaphore.add_permits(size - *current);
        } else if size < *current {
            // Free permits go at once; the rest as requests in flight give theirs back.
            let excess = *current - size;
            let rest = excess - self.semaphore.forget_permits(excess);
            if rest > 0 {
                let rest = u32::try_from(rest).unwrap_or(u32::MAX);
                let semaphore = Arc::clone(&self.semaphore);
                tokio::spawn(async move {
                    if let Ok(p) = semaphore.acquire_many_owned(rest).await {
                        p.forget();
                    }
                });
            }
        }
        *current = size;
    }

    /// The cap now.
    pub fn size(&self) -> usize {
        *self
            .size
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Admits, starts and finishes requests for one source of load.
#[derive(Debug)]
pub struct Launcher<E> {
    executor: Arc<E>,
    recorder: Arc<Recorder>,
    /// The in-flight cap; `None` for a source outside it (the canary).
    limit: Option<Arc<Semaphore>>,
    /// What the soak spent, and its cap; `None` for a source outside it (the canary).
    spend: Option<(Arc<Ledger>, Option<Budget>)>,
    /// Cancels requests in flight (after the drain grace period).
    abort: CancellationToken,
    failures: FailureLog,
}

impl<E: Execute> Launcher<E> {
    pub fn new(
        executor: Arc<E>,
        recorder: Arc<Recorder>,
        limit: Option<Arc<Semaphore>>,
        spend: Option<(Arc<Ledger>, Option<Budget>)>,
        abort: CancellationToken,
    ) -> Self {
        Launcher {
            executor,
            recorder,
            limit,
            spend,
            abort,
            failures: FailureLog::new(5),
        }
    }

    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// Whether the budget is spent (no admission can succeed again).
    pub fn budget_spent(&self) -> bool {
        matches!(&self.spend, Some((s, Some(b))) if s.spent(b))
    }

    /// Admit one request: the budget, then an in-flight permit. A refusal is counted as a drop
    /// with its reason.
    pub fn admit(self: &Arc<Self>) -> Result<Slot<E>, DropReason> {
        let reserved = match &self.spend {
            Some((ledger, Some(budget))) => {
                if !ledger.reserve(budget) {
                    self.recorder.dropped(DropReason::Budget);
                    return Err(DropReason::Budget);
                }
                true
            }
            _ => false,
        };
        let permit = match &self.limit {
            None => None,
            Some(l) => match Arc::clone(l).try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    if let (true, Some((ledger, _))) = (reserved, &self.spend) {
                        ledger.release();
                    }
                    self.recorder.dropped(DropReason::MaxInFlight);
                    return Err(DropReason::MaxInFlight);
                }
            },
        };
        Ok(Slot {
            launcher: Arc::clone(self),
            permit,
            reserved,
            used: false,
        })
    }

    /// Count a drop decided outside the launcher (`load.max_sessions`).
    pub fn dropped(&self, reason: DropReason) {
        self.recorder.dropped(reason);
    }
}

/// An admitted request that has not started: it holds its in-flight permit. Dropped unused (the
/// run stopped while its prompt was being prepared), it is counted as dropped (`shutting_down`).
#[derive(Debug)]
pub struct Slot<E: Execute> {
    launcher: Arc<Launcher<E>>,
    permit: Option<OwnedSemaphorePermit>,
    /// It holds one request of the budget (given back if it does not start).
    reserved: bool,
    used: bool,
}

impl<E: Execute> Slot<E> {
    /// Start `plan` in this slot: counted as started (and in flight) now.
    pub fn start(mut self, plan: RequestPlan) -> InFlight<E> {
        self.used = true;
        let launcher = Arc::clone(&self.launcher);
        launcher.recorder.started(plan.scenario);
        if let Some((s, _)) = &launcher.spend {
            s.started.fetch_add(1, Ordering::Relaxed);
            s.next_seq.fetch_max(plan.seq + 1, Ordering::Relaxed);
        }
        InFlight {
            launcher,
            permit: self.permit.take(),
            plan,
            finished: false,
        }
    }
}

impl<E: Execute> Slot<E> {
    /// Give the slot back unused, counting the arrival as dropped for `reason`.
    pub fn refuse(mut self, reason: DropReason) {
        self.used = true;
        self.release();
        self.launcher.recorder.dropped(reason);
    }

    /// The budget reservation of a slot that will not start.
    fn release(&self) {
        if let (true, Some((ledger, _))) = (self.reserved, &self.launcher.spend) {
            ledger.release();
        }
    }
}

impl<E: Execute> Drop for Slot<E> {
    fn drop(&mut self) {
        if !self.used {
            self.release();
            self.launcher.recorder.dropped(DropReason::ShuttingDown);
        }
    }
}

/// A started request. [`InFlight::run`] executes it and records how it ended; dropped before
/// that (its task aborted), it is recorded as `cancelled`.
#[derive(Debug)]
pub struct InFlight<E: Execute> {
    launcher: Arc<Launcher<E>>,
    permit: Option<OwnedSemaphorePermit>,
    plan: RequestPlan,
    finished: bool,
}

impl<E: Execute> InFlight<E> {
    /// What is being sent.
    pub fn plan(&self) -> &RequestPlan {
        &self.plan
    }

    /// Send the request and record what happened; the record is returned (a session's next
    /// turn needs the answer). The in-flight slot is given back as soon as the stream ends,
    /// before what follows it (tokenizing an answer without usage). The request is cancelled
    /// through a token of its own, a child of the drain's: reads never contend on a shared one.
    pub async fn run(mut self) -> RequestRecord {
        let l = Arc::clone(&self.launcher);
        let cancel = l.abort.child_token();
        let streamed = l.executor.send(self.plan.clone(), cancel).await;
        self.permit.take();
        let record = l.executor.finish(streamed).await;
        self.finish(&record);
        record
    }

    fn finish(&mut self, record: &RequestRecord) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let l = &self.launcher;
        l.recorder.finished(record);
        if let Some((s, _)) = &l.spend {
            s.output_tokens
                .fetch_add(record.output_tokens, Ordering::Relaxed);
        }
        self.permit.take();
        l.failures.note(record);
    }
}

impl<E: Execute> Drop for InFlight<E> {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped before it finished: its task was aborted mid-request.
            let rec = RequestRecord::not_sent(&self.plan, ErrorType::Cancelled, Instant::now());
            self.finish(&rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InFlightLimit;

    #[tokio::test]
    async fn a_resize_applies_even_after_a_panic_poisoned_the_lock() {
        let limit = std::sync::Arc::new(InFlightLimit::new(4));
        let l = std::sync::Arc::clone(&limit);
        let poisoner = std::thread::spawn(move || {
            let _held = l.size.lock();
            panic!("a panic while the cap's lock is held");
        });
        assert!(poisoner.join().is_err());
        assert!(limit.size.is_poisoned());
        limit.resize(8);
        assert_eq!(
            (limit.size(), limit.semaphore().available_permits()),
            (8, 8)
        );
        // Shrinking with nothing in flight takes the permits at once.
        limit.resize(2);
        assert_eq!(
            (limit.size(), limit.semaphore().available_permits()),
            (2, 2)
        );
    }
}
