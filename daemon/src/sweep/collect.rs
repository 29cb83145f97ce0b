//! The sweep's step collector: one of the run's recorder sinks, which keeps what the current
//! step's requests did — a [`Sample`] each, judged by the recorder's one SLO judgement — its
//! capacity drops, the requests sent and finished per window (so a running step knows which
//! windows are complete), and the step's own exact summary.

use std::sync::Mutex;

use tokio::time::Instant;

use super::judge::Sample;
use crate::config::slo::Judgement;
use crate::metrics::catalogue::DropReason;
use crate::metrics::{Sink, SummarySink};
use crate::record::{Outcome, RequestRecord};
use crate::report;

/// The step in progress.
#[derive(Debug)]
struct Step {
    t0: Instant,
    window: f64,
    samples: Vec<Sample>,
    /// Arrival times (s since `t0`) of the requests the in-flight cap dropped.
    dropped: Vec<f64>,
    /// Requests sent and finished, per window of sending.
    sent: Vec<u64>,
    finished: Vec<u64>,
    summary: SummarySink,
}

/// What a step left when it ended.
#[derive(Debug)]
pub(crate) struct Collected {
    pub samples: Vec<Sample>,
    pub dropped: Vec<f64>,
    /// The step's requests after its warm-up, exactly (statistics, no histograms).
    pub summary: report::Scope,
}

/// The recorder's sink for a sweep's steps.
#[derive(Debug)]
pub(crate) struct StepSink {
    names: Vec<String>,
    canary: Option<usize>,
    step: Mutex<Option<Step>>,
}

fn bump(v: &mut Vec<u64>, i: usize) {
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    v[i] += 1;
}

impl StepSink {
    /// For request scopes `names`; `canary`'s requests are not a step's.
    pub(crate) fn new(names: Vec<String>, canary: Option<usize>) -> Self {
        StepSink {
            names,
            canary,
            step: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Step>> {
        self.step
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A step starts at `t0`, looked at every `window` s; its summary counts from `warm` s.
    pub(crate) fn begin(&self, t0: Instant, window: f64, warm: f64) {
        let measure_from = t0 + std::time::Duration::from_secs_f64(warm);
        *self.lock() = Some(Step {
            t0,
            window,
            samples: Vec::new(),
            dropped: Vec::new(),
            sent: Vec::new(),
            finished: Vec::new(),
            summary: SummarySink::new(self.names.clone(), self.canary, Vec::new(), measure_from),
        });
    }

    /// A look at the running step: its samples, and the count of windows (from its start) whose
    /// requests have all finished.
    pub(crate) fn look<R>(&self, f: impl FnOnce(&[Sample], usize, u64) -> R) -> Option<R> {
        let guard = self.lock();
        let s = guard.as_ref()?;
        let complete = (0..s.sent.len().max(s.finished.len()))
            .find(|&w| s.sent.get(w) != s.finished.get(w))
            .unwrap_or(s.sent.len());
        let arrived = s.sent.iter().sum::<u64>() + s.dropped.len() as u64;
        Some(f(&s.samples, complete, arrived))
    }

    /// The step ended (its requests drained): what it collected, over `seconds` measured.
    pub(crate) fn end(&self, seconds: f64) -> Option<Collected> {
        let s = self.lock().take()?;
        let summary = s.summary.report(seconds, &[], false).all;
        Some(Collected {
            samples: s.samples,
            dropped: s.dropped,
            summary,
        })
    }
}

impl Sink for StepSink {
    fn started(&self, scope: usize, at: Instant) {
        if Some(scope) == self.canary {
            return;
        }
        if let Some(s) = self.lock().as_mut() {
            let w = (at.saturating_duration_since(s.t0).as_secs_f64() / s.window) as usize;
            bump(&mut s.sent, w);
            Sink::started(&s.summary, scope, at);
        }
    }

    fn dropped(&self, at: Instant, reason: DropReason) {
        if let Some(s) = self.lock().as_mut() {
            if reason.is_capacity() {
                s.dropped
                    .push(at.saturating_duration_since(s.t0).as_secs_f64());
            }
            Sink::dropped(&s.summary, at, reason);
        }
    }

    fn finished(&self, rec: &RequestRecord, slo: Option<Judgement>) {
        if Some(rec.scenario) == self.canary {
            return;
        }
        let mut guard = self.lock();
        let Some(s) = guard.as_mut().filter(|s| rec.intended_at >= s.t0) else {
            return;
        };
        let secs = |t: Instant| t.saturating_duration_since(s.t0).as_secs_f64();
        bump(&mut s.finished, (secs(rec.sent_at) / s.window) as usize);
        let ok = rec.outcome == Outcome::Success;
        // No SLO for this scenario: a success is enough. Cancelled (cut off by the step's
        // drain) is not judged by the SLO, but for the step it is a failure.
        let j = slo.unwrap_or(Judgement {
            met: ok,
            missed_ttft: false,
            missed_tpot: false,
            missed_e2e: false,
        });
        s.samples.push(Sample {
            arrival: secs(rec.intended_at),
            end: secs(rec.end_at),
            lag: rec.schedule_lag().as_secs_f64(),
            failed: !ok,
            met: ok && j.met,
            miss_ttft: j.missed_ttft,
            miss_tpot: j.missed_tpot,
            miss_e2e: j.missed_e2e,
            ttft: rec.ttft().map(|d| d.as_secs_f64()),
            tpot: rec.tpot().map(|d| d.as_secs_f64()),
            e2e: rec.e2e().as_secs_f64(),
        });
        Sink::finished(&s.summary, rec, slo);
    }
}
