//! Scheduler tests on tokio's paused clock: exact arrival instants, drops instead of queueing,
//! stop behaviour, and the request lifecycle's accounting — no wall-clock timing involved.

mod arrivals;
mod dispatch;
mod lifecycle;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::config::{Budget, Config, Phase, PhaseKind, Repeat};
use crate::metrics::{Recorder, SummarySink};
use crate::record::{ErrorType, Outcome, Prompt, TokenSource};

fn steady(rate: f64, secs: u64) -> Shape {
    Shape::new(
        &[Phase {
            kind: PhaseKind::Steady { rate },
            duration: Some(Duration::from_secs(secs)),
        }],
        Repeat::Times(1),
    )
}

/// (seq, message contents of the body, the answer given)
type Seen = (u64, Vec<String>, Option<String>);

/// Takes `busy` per request (or until cancelled), remembers when each was sent, and ends it as
/// `outcome(seq)` says. (The runner's tests execute their runs with it too.)
#[derive(Debug)]
pub(crate) struct Fake {
    busy: Duration,
    outcome: fn(u64) -> Option<ErrorType>,
    sent: Mutex<Vec<(u64, Instant, Instant)>>,
    bodies: Mutex<Vec<Seen>>,
}

impl Fake {
    pub(crate) fn new(busy: Duration) -> Arc<Fake> {
        Self::failing(busy, |_| None)
    }

    fn failing(busy: Duration, outcome: fn(u64) -> Option<ErrorType>) -> Arc<Fake> {
        Arc::new(Fake {
            busy,
            outcome,
            sent: Mutex::new(Vec::new()),
            bodies: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn sent(&self) -> Vec<(u64, Instant, Instant)> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Execute for Fake {
    type Streamed = RequestRecord;

    async fn finish(&self, streamed: RequestRecord) -> RequestRecord {
        streamed
    }

    async fn send(&self, plan: RequestPlan, cancel: CancellationToken) -> RequestRecord {
        let sent_at = Instant::now();
        if let Ok(mut s) = self.sent.lock() {
            s.push((plan.seq, plan.intended_at, sent_at));
        }
        let cancelled = tokio::select! {
            () = tokio::time::sleep(self.busy) => false,
            () = cancel.cancelled() => true,
        };
        let end_at = Instant::now();
        let body: serde_json::Value = serde_json::from_slice(&plan.prompt.body).unwrap_or_default();
        let messages: Vec<String> = body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| x["content"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let answer = plan
            .keep_text
            .then(|| format!("answer-{}-{}", plan.seq, messages.len()));
        if let Ok(mut b) = self.bodies.lock() {
            b.push((plan.seq, messages, answer.clone()));
        }
        let error = if cancelled {
            Some(ErrorType::Cancelled)
        } else {
            (self.outcome)(plan.seq)
        };
        let ok = error.is_none();
        RequestRecord {
            answer_text: answer,
            phase: plan.phase,
            identity: crate::record::Identity::default(),
            seq: plan.seq,
            scenario: plan.scenario,
            intended_at: plan.intended_at,
            sent_at,
            first_chunk_at: ok.then_some(end_at),
            first_token_at: ok.then_some(end_at),
            first_answer_at: ok.then_some(end_at),
            token_events: if ok {
                std::iter::once(end_at).collect()
            } else {
                Default::default()
            },
            end_at,
            output_tokens: u64::from(ok),
            token_source: TokenSource::Events,
            hidden_reasoning_tokens: 0,
            input_tokens: 1,
            cached_input_tokens: None,
            usage_present: false,
            generated_input_tokens: 1,
            recounted_output_tokens: None,
            stalls: 0,
            outcome: error.map_or(Outcome::Success, ErrorType::outcome),
            error_type: error,
            status: Some(200),
        }
    }
}

/// `n` prompts with empty bodies, for executors that never read them.
fn plain_prompts(n: u64) -> Vec<Arc<Prompt>> {
    (0..n)
        .map(|seq| {
            Arc::new(Prompt {
                seq,
                scenario: 0,
                body: bytes::Bytes::new(),
                input_tokens: 4,
                max_tokens: 4,
                prefix_id: None,
                session_turns: None,
                conversation: None,
            })
        })
        .collect()
}

/// A recorder with one scope and the run summary as its sink.
fn recorder() -> (Arc<Recorder>, Arc<SummarySink>) {
    crate::metrics::test_recorder()
}

/// A launcher over `fake` with `limit` slots (`None`: uncapped) and `budget`.
fn launcher(
    fake: &Arc<Fake>,
    recorder: &Arc<Recorder>,
    limit: Option<usize>,
    budget: Option<Budget>,
    abort: &CancellationToken,
) -> Arc<Launcher<Fake>> {
    Arc::new(Launcher::new(
        Arc::clone(fake),
        Arc::clone(recorder),
        limit.map(|n| Arc::new(Semaphore::new(n))),
        Some((Arc::new(Ledger::default()), budget)),
        abort.clone(),
    ))
}

fn config(text: &str) -> Config {
    Config::parse(text, "test", &|_| None).unwrap()
}

/// The accounting invariants, checked whenever a test looks at the totals: started requests are
/// finished or in flight, and the summary saw the same.
fn check_invariants(r: &Recorder) {
    let t = &r.totals;
    let finished: u64 = Outcome::ALL.iter().map(|o| t.finished(*o)).sum();
    assert_eq!(
        t.started() as i64,
        finished as i64 + t.in_flight(),
        "started = finished + in flight"
    );
    assert!(t.in_flight() >= 0);
}
