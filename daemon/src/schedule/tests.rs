//! Scheduler tests on tokio's paused clock: exact arrival instants, drops instead of queueing,
//! and stop behaviour — no wall-clock timing involved.

use std::sync::Mutex;

use super::*;
use crate::config::{Config, Phase, PhaseKind};
use crate::export::Exporter;
use crate::metrics::{Recorder, RunIdentity};
use crate::record::{Outcome, TokenSource};
use crate::workload::Prompt;

fn steady(rate: f64, secs: u64) -> Shape {
    Shape::new(
        &[Phase {
            kind: PhaseKind::Steady { rate },
            duration: Some(Duration::from_secs(secs)),
        }],
        crate::config::Repeat::Times(1),
    )
}

#[test]
fn constant_arrivals_are_evenly_spaced_from_absolute_time() {
    let ticks: Vec<Tick> = Arrivals::new(steady(10.0, 10), Arrival::Constant, 1).collect();
    assert_eq!(ticks.len(), 100);
    for (i, t) in ticks.iter().enumerate() {
        assert_eq!(t.seq, i as u64);
        assert!((t.at.as_secs_f64() - i as f64 * 0.1).abs() < 1e-9, "{t:?}");
    }
}

#[test]
fn poisson_and_gamma_rates_are_exact_on_average_and_reproducible() {
    for process in [
        Arrival::Poisson,
        Arrival::Gamma { burstiness: 0.5 },
        Arrival::Gamma { burstiness: 4.0 },
    ] {
        let n = Arrivals::new(steady(100.0, 200), process, 9).count() as f64;
        assert!((n - 20_000.0).abs() < 20_000.0 * 0.03, "{process:?}: {n}");
        let a: Vec<Tick> = Arrivals::new(steady(100.0, 1), process, 9).collect();
        let b: Vec<Tick> = Arrivals::new(steady(100.0, 1), process, 9).collect();
        assert_eq!(a, b);
    }
    // Burstier gaps have a larger coefficient of variation.
    let cv = |process| {
        let at: Vec<f64> = Arrivals::new(steady(100.0, 100), process, 3)
            .map(|t| t.at.as_secs_f64())
            .collect();
        let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        var.sqrt() / mean
    };
    assert!(cv(Arrival::Gamma { burstiness: 0.25 }) > 1.5);
    assert!((cv(Arrival::Poisson) - 1.0).abs() < 0.1);
    assert!(cv(Arrival::Gamma { burstiness: 16.0 }) < 0.4);
}

/// (seq, message contents of the body, the answer given)
type Seen = (u64, Vec<String>, Option<String>);

/// Sleeps a fixed time per request and remembers when each was sent.
struct Fake {
    busy: Duration,
    sent: Mutex<Vec<(u64, Instant, Instant)>>,
    /// (seq, messages in the body, answer given)
    bodies: Mutex<Vec<Seen>>,
}

impl Execute for Fake {
    async fn execute(&self, plan: RequestPlan, cancel: CancellationToken) -> RequestRecord {
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
        RequestRecord {
            answer_text: answer,
            phase: plan.phase,
            seq: plan.seq,
            scenario: plan.scenario,
            intended_at: plan.intended_at,
            sent_at,
            first_chunk_at: Some(end_at),
            first_token_at: Some(end_at),
            first_answer_at: Some(end_at),
            token_events: vec![end_at],
            end_at,
            output_tokens: 1,
            token_source: TokenSource::Events,
            input_tokens: 1,
            usage_present: false,
            generated_input_tokens: 1,
            recounted_output_tokens: None,
            stalls: 0,
            outcome: if cancelled {
                Outcome::Cancelled
            } else {
                Outcome::Success
            },
            error_type: cancelled.then_some(crate::record::ErrorType::Cancelled),
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
            })
        })
        .collect()
}

fn config() -> Config {
    let text = r#"
        [[target]]
        name = "t"
        base_url = "http://127.0.0.1:9"
        model = "m"
        [load]
        max_in_flight = 5
        [[load.phases]]
        kind = "steady"
        rate = 10
        duration = "2s"
        [[scenario]]
        name = "s"
        input_tokens = 4
        output_tokens = 4
    "#;
    Config::parse(text, "test", &|_| None).unwrap()
}

fn dispatcher(busy: Duration, seconds: u64) -> (Dispatcher<Fake>, Arc<Fake>) {
    let config = config();
    let exporter = Exporter::new(vec![]).unwrap();
    let identity = RunIdentity {
        run_id: "r".into(),
        shard: "0/1".into(),
        start_time: 0.0,
    };
    let recorder = Arc::new(Recorder::new(&exporter.meter(), &config, &identity));
    let prompts = plain_prompts(200);
    let fake = Arc::new(Fake {
        busy,
        sent: Mutex::new(Vec::new()),
        bodies: Mutex::new(Vec::new()),
    });
    let shape = steady(10.0, seconds);
    let d = Dispatcher {
        arrivals: Arrivals::new(shape.clone(), Arrival::Constant, 0),
        shape,
        epoch: Instant::now(),
        limit: Arc::new(Semaphore::new(5)),
        pool: PromptPool::prefilled(prompts),
        recorder,
        executor: Arc::clone(&fake),
        tracker: TaskTracker::new(),
        stop: CancellationToken::new(),
        abort: CancellationToken::new(),
        failures: Arc::new(FailureLog::new(5)),
        workload: Arc::new(crate::workload::Workload::new(&config, "r")),
        sessions: Arc::new(Semaphore::new(5)),
        budget: None,
    };
    (d, fake)
}

#[tokio::test(start_paused = true)]
async fn full_in_flight_drops_arrivals_and_never_queues_them() {
    let (d, fake) = dispatcher(Duration::from_millis(1050), 2);
    let (recorder, tracker, epoch) = (Arc::clone(&d.recorder), d.tracker.clone(), d.epoch);
    assert_eq!(d.run().await, DispatchEnd::Finished);
    tracker.close();
    tracker.wait().await;
    let t = &recorder.totals;
    // Arrivals every 100 ms, 5 slots held 1.05 s each: 10 sent, 10 dropped.
    assert_eq!(t.started.load(std::sync::atomic::Ordering::Relaxed), 10);
    assert_eq!(t.dropped.load(std::sync::atomic::Ordering::Relaxed), 10);
    assert_eq!(t.finished(Outcome::Success), 10);
    let sent = fake.sent.lock().unwrap().clone();
    let seqs: Vec<u64> = sent.iter().map(|s| s.0).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4, 11, 12, 13, 14, 15]);
    for (seq, intended, sent_at) in sent {
        assert_eq!(
            intended,
            epoch + Duration::from_millis(100 * seq),
            "absolute schedule"
        );
        assert_eq!(sent_at, intended, "no lag on an idle client");
    }
    assert_eq!(t.phase.load(std::sync::atomic::Ordering::Relaxed), -1);
}

#[tokio::test(start_paused = true)]
async fn stop_ends_arrivals_and_abort_cancels_in_flight() {
    let (d, _fake) = dispatcher(Duration::from_secs(3600), 3600);
    let (recorder, tracker, stop, abort) = (
        Arc::clone(&d.recorder),
        d.tracker.clone(),
        d.stop.clone(),
        d.abort.clone(),
    );
    let run = tokio::spawn(d.run());
    tokio::time::sleep(Duration::from_millis(1250)).await;
    stop.cancel();
    assert_eq!(run.await.unwrap(), DispatchEnd::Stopped);
    abort.cancel();
    tracker.close();
    tracker.wait().await;
    let t = &recorder.totals;
    assert_eq!(t.started.load(std::sync::atomic::Ordering::Relaxed), 5);
    assert_eq!(t.finished(Outcome::Cancelled), 5);
    assert_eq!(t.in_flight.load(std::sync::atomic::Ordering::Relaxed), 0);
    // 13 arrivals by t = 1.25 s (0.0 … 1.2): 5 sent, 8 dropped.
    assert_eq!(t.dropped.load(std::sync::atomic::Ordering::Relaxed), 8);
}

#[tokio::test(start_paused = true)]
async fn a_session_sends_its_turns_after_think_time_with_the_growing_history() {
    let text = r#"
        [[target]]
        name = "t"
        base_url = "http://127.0.0.1:9"
        model = "m"
        [load]
        max_in_flight = 5
        max_sessions = 1
        [[load.phases]]
        kind = "steady"
        rate = 1
        duration = "2s"
        [[scenario]]
        name = "chat"
        input_tokens = 20
        output_tokens = 4
        session = { turns = 3, think_time = "1s" }
    "#;
    let config = Config::parse(text, "test", &|_| None).unwrap();
    let (mut d, fake) = dispatcher(Duration::from_millis(500), 2);
    let workload = Arc::new(crate::workload::Workload::new(&config, "r"));
    d.pool = PromptPool::prefilled((0..2).map(|seq| Arc::new(workload.prompt(seq))).collect());
    d.workload = workload;
    d.sessions = Arc::new(Semaphore::new(config.load.max_sessions));
    d.arrivals = Arrivals::new(steady(1.0, 2), Arrival::Constant, 0);
    let (recorder, tracker) = (Arc::clone(&d.recorder), d.tracker.clone());
    d.run().await;
    tracker.close();
    tracker.wait().await;
    let t = &recorder.totals;
    // Two arrivals (t = 0 s, 1 s); the second finds the one session slot taken.
    assert_eq!(t.dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(
        t.started.load(std::sync::atomic::Ordering::Relaxed),
        3,
        "three turns of one session"
    );
    assert_eq!(t.finished(Outcome::Success), 3);
    assert_eq!(t.sessions.load(std::sync::atomic::Ordering::Relaxed), 0);
    let bodies = fake.bodies.lock().unwrap().clone();
    let lens: Vec<usize> = bodies.iter().map(|b| b.1.len()).collect();
    assert_eq!(
        lens,
        vec![1, 3, 5],
        "history grows by a question and an answer per turn"
    );
    assert_eq!(bodies[1].1[1], "answer-0-1");
    assert_eq!(bodies[2].1[3], "answer-0-3");
    assert_eq!(
        bodies[2].1[0], bodies[0].1[0],
        "the first question stays at the head"
    );
    assert_eq!(bodies[2].2, None, "the last turn's answer is not kept");
    // Each turn leaves at least the think time after the previous one ended (0.5 s busy).
    let sent = fake.sent.lock().unwrap().clone();
    assert!(sent[1].2 - sent[0].2 >= Duration::from_millis(1500));
    assert!(sent[2].2 - sent[1].2 >= Duration::from_millis(1500));
}

fn window_counts(shape: Shape, process: Arrival, edges: &[u64]) -> Vec<usize> {
    let ticks: Vec<f64> = Arrivals::new(shape, process, 4)
        .map(|t| t.at.as_secs_f64())
        .collect();
    edges
        .windows(2)
        .map(|w| {
            ticks
                .iter()
                .filter(|&&t| t >= w[0] as f64 && t < w[1] as f64)
                .count()
        })
        .collect()
}

#[test]
fn each_shape_offers_its_integral_in_every_window() {
    use crate::config::Repeat;
    let one = |kind, secs| {
        Shape::new(
            &[Phase {
                kind,
                duration: Some(Duration::from_secs(secs)),
            }],
            Repeat::Times(1),
        )
    };
    // Ramp 0 -> 10 rps over 60 s: 300 arrivals, 75 in the first half.
    let ramp = one(
        PhaseKind::Ramp {
            from: 0.0,
            to: 10.0,
        },
        60,
    );
    assert_eq!(
        window_counts(ramp.clone(), Arrival::Constant, &[0, 30, 60, 1000]),
        vec![75, 225, 0]
    );
    let poisson: usize = window_counts(ramp, Arrival::Poisson, &[0, 60]).iter().sum();
    assert!(
        (poisson as f64 - 300.0).abs() < 3.0 * 300f64.sqrt(),
        "{poisson}"
    );
    // Spike 10 -> 100 rps for 2 min at 1 min, in a 5 min phase.
    let spike = one(
        PhaseKind::Spike {
            base: 10.0,
            peak: 100.0,
            at: Duration::from_secs(60),
            hold: Duration::from_secs(120),
        },
        300,
    );
    assert_eq!(
        window_counts(spike, Arrival::Constant, &[0, 60, 180, 300]),
        vec![600, 12_000, 1_200]
    );
    // Four steps 1, 2, 3, 4 rps of 10 s each.
    let step = one(
        PhaseKind::Step {
            from: 1.0,
            to: 4.0,
            steps: 4,
        },
        40,
    );
    assert_eq!(
        window_counts(step, Arrival::Constant, &[0, 10, 20, 30, 40]),
        vec![10, 20, 30, 40]
    );
    // Diurnal: the high half of the period offers more than the low half, the total is mean x time.
    let day = one(
        PhaseKind::Diurnal {
            mean: 10.0,
            amplitude: 5.0,
            period: Duration::from_secs(100),
        },
        100,
    );
    let halves = window_counts(day, Arrival::Constant, &[0, 50, 100]);
    assert_eq!(halves.iter().sum::<usize>(), 1000);
    assert!(halves[0] > 600 && halves[1] < 400, "{halves:?}");
}

#[test]
fn three_shards_together_are_exactly_the_unsharded_schedule() {
    let shape = steady(50.0, 60);
    let all: Vec<Tick> = Arrivals::new(shape.clone(), Arrival::Poisson, 8).collect();
    let mut union: Vec<Tick> = (0..3)
        .flat_map(|i| {
            let shard = Shard { index: i, count: 3 };
            let ticks: Vec<Tick> = Arrivals::new(shape.clone(), Arrival::Poisson, 8)
                .sharded(shard)
                .collect();
            assert!(
                ticks.iter().all(|t| t.seq % 3 == i),
                "shard {i} took another's arrival"
            );
            ticks
        })
        .collect();
    union.sort_by_key(|t| t.seq);
    assert_eq!(union, all, "disjoint, and together the whole schedule");
    assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
    assert!(
        Shard::parse("3/3").is_err() && Shard::parse("1").is_err() && Shard::parse("0/0").is_err()
    );
    assert_eq!(
        Shard { index: 1, count: 4 }
            .seqs()
            .take(3)
            .collect::<Vec<_>>(),
        vec![1, 5, 9]
    );
}

#[test]
fn a_late_replica_skips_the_arrivals_it_missed() {
    let mut a =
        Arrivals::new(steady(10.0, 10), Arrival::Constant, 0).sharded(Shard { index: 1, count: 2 });
    assert_eq!(
        a.skip_before(Duration::from_secs(2)),
        10,
        "seqs 1, 3, … 19 were due before 2 s"
    );
    assert_eq!(a.next().map(|t| t.seq), Some(21));
}

#[tokio::test(start_paused = true)]
async fn the_dispatcher_follows_a_ramp_exactly() {
    use crate::config::Repeat;
    let (mut d, fake) = dispatcher(Duration::from_millis(10), 60);
    let shape = Shape::new(
        &[Phase {
            kind: PhaseKind::Ramp {
                from: 0.0,
                to: 10.0,
            },
            duration: Some(Duration::from_secs(60)),
        }],
        Repeat::Times(1),
    );
    d.arrivals = Arrivals::new(shape.clone(), Arrival::Constant, 0);
    d.shape = shape;
    d.limit = Arc::new(Semaphore::new(100));
    d.pool = PromptPool::prefilled(plain_prompts(400));
    let (recorder, tracker, epoch) = (Arc::clone(&d.recorder), d.tracker.clone(), d.epoch);
    assert_eq!(d.run().await, DispatchEnd::Finished);
    tracker.close();
    tracker.wait().await;
    assert_eq!(
        recorder
            .totals
            .started
            .load(std::sync::atomic::Ordering::Relaxed),
        300
    );
    let sent = fake.sent.lock().unwrap().clone();
    let first_half = sent
        .iter()
        .filter(|s| s.1 < epoch + Duration::from_secs(30))
        .count();
    assert_eq!(first_half, 75);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_ends_the_schedule_cleanly() {
    let (mut d, _fake) = dispatcher(Duration::from_millis(10), 2);
    d.budget = Some(crate::config::Budget {
        max_requests: Some(7),
        max_output_tokens: None,
    });
    let (recorder, tracker, epoch) = (Arc::clone(&d.recorder), d.tracker.clone(), d.epoch);
    assert_eq!(d.run().await, DispatchEnd::Finished);
    // The eighth arrival (t = 0.7 s) found the budget spent and ended the schedule.
    assert_eq!(Instant::now() - epoch, Duration::from_millis(700));
    tracker.close();
    tracker.wait().await;
    let t = &recorder.totals;
    assert_eq!(t.started.load(std::sync::atomic::Ordering::Relaxed), 7);
    assert_eq!(t.dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(t.finished(Outcome::Success), 7);
}

/// Closed-loop users ramping `from` → `to` over 4 s, 100 ms per request, no think time, stopped
/// at 4.95 s (ramp up) or left to retire (ramp down): who sent what, and when.
async fn user_ramp(from: usize, to: usize) -> (u64, Vec<(u64, Instant, Instant)>, Instant) {
    let (d, fake) = dispatcher(Duration::from_millis(100), 1);
    let (recorder, tracker, stop) = (Arc::clone(&d.recorder), d.tracker.clone(), d.stop.clone());
    let epoch = Instant::now();
    closed::Users {
        users: crate::config::UserRamp {
            from,
            to,
            over: Duration::from_secs(4),
        },
        epoch,
        think_time: (Duration::ZERO, Duration::ZERO),
        seed: 1,
        pool: PromptPool::prefilled(plain_prompts(200)),
        recorder: Arc::clone(&recorder),
        executor: Arc::clone(&fake),
        failures: Arc::new(FailureLog::new(5)),
        tracker: tracker.clone(),
        stop: stop.clone(),
        abort: CancellationToken::new(),
        budget: None,
    }
    .spawn();
    tokio::time::sleep(Duration::from_millis(4950)).await;
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    let started = recorder
        .totals
        .started
        .load(std::sync::atomic::Ordering::Relaxed);
    let sent = fake.sent.lock().unwrap().clone();
    (started, sent, epoch)
}

#[tokio::test(start_paused = true)]
async fn a_user_ramp_starts_and_retires_users_at_their_share_of_the_ramp() {
    // 0 → 4 users over 4 s: user k joins at (k + 1) s and sends every 100 ms until the stop.
    let (started, sent, epoch) = user_ramp(0, 4).await;
    assert_eq!(started, 40 + 30 + 20 + 10);
    let before = |secs: f64| {
        sent.iter()
            .filter(|s| s.2 < epoch + Duration::from_secs_f64(secs))
            .count()
    };
    assert_eq!(before(1.0), 0, "nobody before the first user joins");
    assert_eq!(before(2.0), 10, "one user for the first second");
    assert_eq!(before(3.0), 10 + 20, "then two");
    // 4 → 0 users over 4 s: user k retires at (4 - k) s, after its request in flight.
    let (started, sent, epoch) = user_ramp(4, 0).await;
    assert_eq!(started, 40 + 30 + 20 + 10);
    let last = sent.iter().map(|s| s.2).max().unwrap();
    assert_eq!(last, epoch + Duration::from_millis(3900));
}
