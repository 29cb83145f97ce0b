//! The sources of load on the paused clock: the dispatcher's absolute schedule and drops, a
//! ramp, sessions, the budget, closed-loop users ramping up and down.

use super::*;

/// A dispatcher of `steady(10 rps, seconds)` constant arrivals over `fake`, five slots.
struct Rig {
    recorder: Arc<Recorder>,
    launcher: Arc<Launcher<Fake>>,
    tracker: TaskTracker,
    stop: CancellationToken,
    abort: CancellationToken,
    epoch: Instant,
}

impl Rig {
    fn new(fake: &Arc<Fake>, limit: usize, budget: Option<Budget>) -> Rig {
        let (recorder, _) = recorder();
        let abort = CancellationToken::new();
        Rig {
            launcher: launcher(fake, &recorder, Some(limit), budget, &abort),
            recorder,
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
            abort,
            epoch: Instant::now(),
        }
    }

    fn dispatcher(&self, shape: Shape, prompts: Vec<Arc<Prompt>>) -> Dispatcher<Fake> {
        Dispatcher::new(
            Arrivals::new(shape.clone(), Arrival::Constant, 0),
            shape,
            self.epoch,
            crate::workload::PromptPool::prefilled(prompts),
            Arc::clone(&self.launcher),
            self.tracker.clone(),
            self.stop.clone(),
        )
    }

    async fn drain(&self) {
        self.tracker.close();
        self.tracker.wait().await;
        check_invariants(&self.recorder);
    }
}

#[tokio::test(start_paused = true)]
async fn full_in_flight_drops_arrivals_and_never_queues_them() {
    let fake = Fake::new(Duration::from_millis(1050));
    let rig = Rig::new(&fake, 5, None);
    let d = rig.dispatcher(steady(10.0, 2), plain_prompts(200));
    assert_eq!(d.run().await, DispatchEnd::Finished);
    rig.drain().await;
    let t = &rig.recorder.totals;
    // Arrivals every 100 ms, 5 slots held 1.05 s each: 10 sent, 10 dropped.
    assert_eq!(t.started(), 10);
    assert_eq!(t.dropped(), 10);
    assert_eq!(t.finished(Outcome::Success), 10);
    let seqs: Vec<u64> = fake.sent().iter().map(|s| s.0).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4, 11, 12, 13, 14, 15]);
    for (seq, intended, sent_at) in fake.sent() {
        assert_eq!(
            intended,
            rig.epoch + Duration::from_millis(100 * seq),
            "absolute schedule"
        );
        assert_eq!(sent_at, intended, "no lag on an idle client");
    }
    assert_eq!(t.phase.load(std::sync::atomic::Ordering::Relaxed), -1);
}

#[tokio::test(start_paused = true)]
async fn stop_ends_arrivals_and_abort_cancels_in_flight() {
    let fake = Fake::new(Duration::from_secs(3600));
    let rig = Rig::new(&fake, 5, None);
    let run = tokio::spawn(rig.dispatcher(steady(10.0, 3600), plain_prompts(200)).run());
    tokio::time::sleep(Duration::from_millis(1250)).await;
    rig.stop.cancel();
    assert_eq!(run.await.unwrap(), DispatchEnd::Stopped);
    rig.abort.cancel();
    rig.drain().await;
    let t = &rig.recorder.totals;
    assert_eq!(t.started(), 5);
    assert_eq!(t.finished(Outcome::Cancelled), 5);
    assert_eq!(t.in_flight(), 0);
    // 13 arrivals by t = 1.25 s (0.0 … 1.2): 5 sent, 8 dropped.
    assert_eq!(t.dropped(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_session_sends_its_turns_after_think_time_with_the_growing_history() {
    let c = config(
        r#"
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
    "#,
    );
    let fake = Fake::new(Duration::from_millis(500));
    let rig = Rig::new(&fake, 5, None);
    let assets = crate::workload::Assets::load(&c).unwrap();
    let workload = Arc::new(crate::workload::Workload::new(&c, &assets, "r"));
    let prompts = (0..2).map(|seq| Arc::new(workload.prompt(seq))).collect();
    let d = rig
        .dispatcher(steady(1.0, 2), prompts)
        .with_sessions(Arc::new(Sessions::new(workload, c.load.max_sessions())));
    d.run().await;
    rig.drain().await;
    let t = &rig.recorder.totals;
    // Two arrivals (t = 0 s, 1 s); the second finds the one session slot taken.
    assert_eq!(t.dropped(), 1);
    assert_eq!(t.started(), 3, "three turns of one session");
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
    let sent = fake.sent();
    assert!(sent[1].2 - sent[0].2 >= Duration::from_millis(1500));
    assert!(sent[2].2 - sent[1].2 >= Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn the_dispatcher_follows_a_ramp_exactly() {
    let fake = Fake::new(Duration::from_millis(10));
    let rig = Rig::new(&fake, 100, None);
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
    assert_eq!(
        rig.dispatcher(shape, plain_prompts(400)).run().await,
        DispatchEnd::Finished
    );
    rig.drain().await;
    assert_eq!(rig.recorder.totals.started(), 300);
    let first_half = fake
        .sent()
        .iter()
        .filter(|s| s.1 < rig.epoch + Duration::from_secs(30))
        .count();
    assert_eq!(first_half, 75);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_ends_the_schedule_cleanly() {
    let fake = Fake::new(Duration::from_millis(10));
    let budget = Budget {
        max_requests: Some(7),
        max_output_tokens: None,
    };
    let rig = Rig::new(&fake, 5, Some(budget));
    assert_eq!(
        rig.dispatcher(steady(10.0, 2), plain_prompts(200))
            .run()
            .await,
        DispatchEnd::Finished
    );
    // The eighth arrival (t = 0.7 s) found the budget spent and ended the schedule.
    assert_eq!(Instant::now() - rig.epoch, Duration::from_millis(700));
    rig.drain().await;
    let t = &rig.recorder.totals;
    assert_eq!(t.started(), 7);
    assert_eq!(t.drops().budget, 1);
    assert_eq!(t.dropped(), 0, "a spent budget is not a capacity drop");
    assert_eq!(t.finished(Outcome::Success), 7);
}

/// Closed-loop users ramping `from` → `to` over 4 s, 100 ms per request, no think time, stopped
/// at 4.95 s (ramp up) or left to retire (ramp down): who sent what, and when.
async fn user_ramp(from: usize, to: usize) -> (u64, Vec<(u64, Instant, Instant)>, Instant) {
    let fake = Fake::new(Duration::from_millis(100));
    let rig = Rig::new(&fake, 1, None);
    let mut load = config(
        "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\n[load]\nmode = \"closed\"\nusers = 1\n[[scenario]]\nname = \"s\"\ninput_tokens = 4\noutput_tokens = 4\n",
    )
    .load;
    load.users = crate::config::UserRamp {
        from,
        to,
        over: Duration::from_secs(4),
    };
    // Closed loop: no in-flight cap beyond the users.
    let launcher = super::launcher(&fake, &rig.recorder, None, None, &rig.abort);
    closed::Users::new(
        &load,
        1,
        rig.epoch,
        crate::workload::PromptPool::prefilled(plain_prompts(200)),
        launcher,
        rig.tracker.clone(),
        rig.stop.clone(),
    )
    .spawn();
    tokio::time::sleep(Duration::from_millis(4950)).await;
    rig.stop.cancel();
    rig.drain().await;
    (rig.recorder.totals.started(), fake.sent(), rig.epoch)
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

#[tokio::test(start_paused = true)]
async fn a_replayed_trace_is_sent_at_its_own_times_sped_up() {
    let text = r#"
        [[target]]
        name = "t"
        base_url = "http://127.0.0.1:1"
        model = "m"
        [load]
        trace = { file = "tests/fixtures/traces/burstgpt.csv", format = "burstgpt", speedup = 2 }
        [[scenario]]
        name = "s"
        input_tokens = 10
        output_tokens = 10
    "#;
    let prepared = crate::prepare::Prepared::parse(text, "test", &|_| None).unwrap();
    let (config, summary) = (&prepared.config, prepared.assets.trace.clone().unwrap());
    let spec = config.load.trace.as_ref().unwrap();
    // The one trace phase lasts one pass sped up, at the trace's mean rate.
    assert_eq!(config.load.phases.len(), 1);
    assert_eq!(
        config.load.phases[0].duration,
        Some(summary.period().div_f64(2.0))
    );
    let truth: Vec<(u64, Duration, u32, u32)> =
        crate::workload::trace::Replay::new(spec, summary.period(), 0)
            .map(Result::unwrap)
            .map(|(seq, at, row)| (seq, at, row.input_tokens, row.output_tokens))
            .collect();
    let fake = Fake::new(Duration::from_millis(10));
    let rig = Rig::new(&fake, 64, None);
    let workload = Arc::new(crate::workload::Workload::new(
        config,
        &prepared.assets,
        "r",
    ));
    let pool = workload.inline_replay(crate::workload::trace::Replay::new(
        spec,
        summary.period(),
        0,
    ));
    let shape = Shape::new(&config.load.phases, config.load.repeat);
    let d = Dispatcher::new(
        Arrivals::new(shape.clone(), Arrival::Constant, 0),
        shape,
        rig.epoch,
        pool,
        Arc::clone(&rig.launcher),
        rig.tracker.clone(),
        rig.stop.clone(),
    );
    assert_eq!(d.run().await, DispatchEnd::Finished);
    rig.drain().await;
    // Every row once, at the epoch plus its time halved, with the row's own lengths.
    let mut sent = fake.sent();
    sent.sort_by_key(|s| s.0);
    assert_eq!(sent.len(), 40);
    assert_eq!(rig.recorder.totals.finished(Outcome::Success), 40);
    for ((seq, intended, sent_at), (want_seq, at, ..)) in sent.iter().zip(&truth) {
        assert_eq!(seq, want_seq);
        assert_eq!(*intended, rig.epoch + *at);
        assert_eq!(sent_at, intended);
    }
    let mut bodies = fake.bodies.lock().unwrap().clone();
    bodies.sort_by_key(|b| b.0);
    let tok = crate::workload::default_tokenizer();
    for ((seq, messages, _), (want_seq, _, input, _)) in bodies.iter().zip(&truth) {
        assert_eq!(seq, want_seq);
        assert_eq!(tok.count(&messages[0]), *input as usize, "row {seq}");
    }
}
