//! The search against a model target whose knee is known: the capacity found lies within the
//! tolerance below it, whatever the ladder's estimate.

use super::*;

/// A step that passes below `knee` and fails above it (with a reason, as a real step would).
fn model(knee: f64) -> impl FnMut(f64) -> std::future::Ready<SweepStep> {
    move |rate| {
        let pass = rate <= knee;
        std::future::ready(SweepStep {
            offered_rate: rate,
            achieved_rate: rate.min(knee),
            duration: 10.0,
            arrivals: 100,
            dropped: 0,
            judged: 100,
            met: if pass { 100 } else { 50 },
            attainment: Some(if pass { 1.0 } else { 0.5 }),
            attainment_low: None,
            attainment_high: None,
            errors: 0,
            error_rate: Some(0.0),
            goodput: rate.min(knee),
            misses: Default::default(),
            ttft: Default::default(),
            tpot: Default::default(),
            e2e: Default::default(),
            schedule_lag_p99: None,
            in_flight_first: 0.0,
            in_flight_last: 0.0,
            trend: false,
            stopped: crate::report::sweep::StepStop::Stable,
            pass,
            failed: if pass {
                Vec::new()
            } else {
                vec!["attainment lower bound 40.0% < 95.0% (ttft: 50 misses)".into()]
            },
            undecided: None,
            client_limited: None,
            series: Vec::new(),
            summary: None,
        })
    }
}

fn run(estimate: f64, knee: f64) -> (Vec<SweepStep>, SweepResult) {
    let cfg = SweepConfig::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(search(estimate, &cfg, model(knee)))
}

#[test]
fn the_capacity_found_is_within_the_tolerance_below_the_knee() {
    for (estimate, knee) in [(100.0, 92.0), (100.0, 60.0), (100.0, 104.0), (10.0, 3.3)] {
        let (steps, r) = run(estimate, knee);
        let (cap, hi) = (r.capacity.unwrap(), r.failed_at.unwrap());
        assert!(cap <= knee && hi > knee, "{estimate}/{knee}: [{cap}, {hi}]");
        assert!((hi - cap) / hi <= 0.05, "{estimate}/{knee}: [{cap}, {hi}]");
        assert!(steps.len() <= 10, "{} steps", steps.len());
        assert!(r.first_failure.unwrap().contains("ttft: 50 misses"));
        // Doubling from a quarter of 1.1× the estimate: the first step is 27.5 % of it.
        assert!((steps[0].offered_rate - 0.275 * estimate).abs() < 1e-9);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }
}

#[test]
fn an_underestimating_ladder_and_a_knee_below_the_first_step_are_both_found() {
    // The ladder saw 50 req/s but the target takes 170: the search doubles past 55.
    let (_, r) = run(50.0, 170.0);
    let cap = r.capacity.unwrap();
    assert!(cap <= 170.0 && (r.failed_at.unwrap() - cap) / r.failed_at.unwrap() <= 0.05);
    assert!(
        r.notes.iter().any(|n| n.contains("underestimated")),
        "{:?}",
        r.notes
    );
    // The knee lies below the first step (27.5): halving finds a pass, then bisection.
    let (steps, r) = run(100.0, 9.0);
    assert!(steps[0].offered_rate > 9.0);
    let cap = r.capacity.unwrap();
    assert!(cap <= 9.0 && (r.failed_at.unwrap() - cap) / r.failed_at.unwrap() <= 0.05);
    // Nothing passes: no capacity, and a note says how low it went.
    let (_, r) = run(100.0, 0.0);
    assert!(r.capacity.is_none() && !r.notes.is_empty());
    // Everything passes up to the cap.
    let (_, r) = run(100.0, 1e9);
    assert_eq!((r.capacity, r.failed_at), (Some(400.0), None));
}

/// A healthy target the steps are too short to judge: every step meets the SLO on every request,
/// but a step holds `secs` seconds of judged requests, so the interval decides only from 73.
fn short_steps(secs: f64) -> impl FnMut(f64) -> std::future::Ready<SweepStep> {
    move |rate| {
        let cfg = SweepConfig::default();
        let n = (rate * secs) as u64;
        let (p, lo, hi) = crate::compare::wilson(n, n).unwrap();
        let mut s = model(f64::MAX)(rate).into_inner();
        s.judged = n;
        s.met = n;
        (s.attainment, s.attainment_low, s.attainment_high) = (Some(p), Some(lo), Some(hi));
        s.stopped = crate::report::sweep::StepStop::Cap;
        if lo < cfg.attainment {
            s.pass = false;
            s.undecided = Some(format!("{n} judged"));
        }
        std::future::ready(s)
    }
}

#[test]
fn undecided_steps_are_never_failures_and_the_result_says_so() {
    let cfg = SweepConfig::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // 6 s of judged requests: from 12.2 req/s a step has the 73 it needs. Going up, an undecided
    // step that meets the target lets the search go on to rates where a step can decide.
    let (steps, r) = rt.block_on(search(20.0, &cfg, short_steps(6.0)));
    assert_eq!(
        steps[0].verdict(),
        crate::report::sweep::StepVerdict::Undecided
    );
    assert!(r.capacity.is_some() && r.failed_at.is_none(), "{r:?}");
    assert!(steps.iter().all(|s| s.failed.is_empty()), "no step failed");
    // Every step too short, even at the highest rate: no capacity, no failure, undecided —
    // and the note says what to change.
    let (steps, r) = rt.block_on(search(2.0, &cfg, short_steps(6.0)));
    assert!(steps.iter().all(|s| s.failed.is_empty()), "no step failed");
    assert_eq!(
        (r.capacity, r.failed_at, r.first_failure.as_deref()),
        (None, None, None)
    );
    assert!(r.undecided_at.is_some(), "{r:?}");
    assert!(
        r.notes.iter().any(|n| n.contains("Raise sweep.max_step")),
        "{:?}",
        r.notes
    );
    assert!(r.line().starts_with("capacity: undecided"), "{}", r.line());
}

/// A whole sweep in paused time against a stand-in target whose every request takes 10 ms: its
/// steps go through the run's lifecycle (launcher, recorder, SLO judgement), each step's typed
/// summary counts what its samples count, and every step is an event of the run.
#[tokio::test(start_paused = true)]
async fn a_sweep_runs_its_steps_on_the_runs_lifecycle() {
    let text = "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
                [resources]\nhost = false\ngpu = false\n\
                [load]\nmax_in_flight = 256\npreset = { name = \"steady\", rate = 1 }\n\
                [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 4\n\
                [slo]\nttft = \"1s\"\n\
                [sweep]\nwindow = \"1s\"\nwarmup = \"1s\"\nmin_samples = 73\nmax_step = \"10s\"\n\
                ladder_step = \"2s\"\nladder_max = 2\nmax_rate = 40\ndrain = \"1s\"\n";
    let prepared = crate::prepare::Prepared::parse(text, "t.toml", &|_| None).unwrap();
    let fake = crate::schedule::tests::Fake::new(std::time::Duration::from_millis(10));
    let clients = crate::runner::testing::FakeClients(std::sync::Arc::clone(&fake));
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let lines = std::sync::Mutex::new(Vec::new());
    let r = run_with(
        prepared,
        Some(listen),
        |_| {},
        |l: &str| lines.lock().unwrap().push(l.to_string()),
        clients,
    )
    .await
    .unwrap();
    // The ladder: one user keeps 100 req/s busy, two 200.
    assert_eq!(r.ladder.len(), 2, "{:?}", r.ladder);
    assert!(
        (r.ladder[0].throughput - 100.0).abs() < 5.0,
        "{:?}",
        r.ladder[0]
    );
    // Every step passed or was undecided (the target never slows): capacity at the cap.
    assert!(!r.steps.is_empty());
    assert!(r.steps.iter().all(|s| s.failed.is_empty()), "{:?}", r.steps);
    assert_eq!(r.result.capacity, Some(40.0), "{:?}", r.result);
    for s in &r.steps {
        let summary = s.summary.as_ref().expect("each step's summary");
        // The summary counts the judged part (after the warm-up), as the step's own judgement.
        assert_eq!(summary.finished.success, s.judged, "{s:?}");
        let slo = summary.slo.expect("judged by the recorder's SLO");
        assert_eq!((slo.met, slo.judged), (s.met, s.judged));
    }
    let sent = fake.sent().len() as u64;
    let judged: u64 = r.steps.iter().map(|s| s.arrivals).sum::<u64>()
        + r.ladder.iter().map(|l| l.completed).sum::<u64>();
    assert!(sent >= judged, "{sent} sent, {judged} counted");
    assert_eq!(lines.lock().unwrap().len(), r.ladder.len() + r.steps.len());
}
