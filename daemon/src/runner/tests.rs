//! The runner in paused time, with a stand-in executor (`schedule::tests::Fake`) instead of the
//! HTTP clients: the drain and its grace, a second signal, a spent budget, a reload that changes
//! the rate, the report checkpoints, a daemon killed and its run gone on with from the state
//! directory — each run is minutes of virtual time in milliseconds of real time, asserted on
//! exact virtual instants and counts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::testing::FakeClients;
use super::*;
use crate::schedule::tests::Fake;

/// A config with one scenario: `load` is the `[load]` section's body.
fn config_text(load: &str) -> String {
    format!(
        "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
         [resources]\nhost = false\ngpu = false\n\
         [load]\n{load}\n\
         [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 4\n"
    )
}

fn prepared(text: &str) -> Prepared {
    Prepared::parse(text, "t.toml", &|_| None).expect("a valid config")
}

fn options(duration: Option<Duration>) -> RunOptions {
    RunOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        duration,
        ..RunOptions::default()
    }
}

/// Run `text` with requests that each take `busy`; `script` gets the signal sender. Returns the
/// report, the virtual time the run took, and the executor.
async fn run_for(
    text: &str,
    opts: RunOptions,
    busy: Duration,
    script: impl FnOnce(mpsc::Sender<Signal>) -> tokio::task::JoinHandle<()>,
) -> (RunReport, Duration, Arc<Fake>) {
    let fake = Fake::new(busy);
    let (tx, rx) = mpsc::channel(SIGNAL_QUEUE);
    let driver = script(tx);
    let t0 = Instant::now();
    let report = run_with(
        prepared(text),
        opts,
        rx,
        |_| {},
        FakeClients(Arc::clone(&fake)),
    )
    .await
    .expect("the run");
    let took = t0.elapsed();
    // A script that finished has its checks propagated (a panic there fails the test); one
    // still waiting is not needed any more.
    if driver.is_finished() {
        driver.await.expect("the script's checks");
    } else {
        driver.abort();
    }
    (report, took, fake)
}

/// No signals (a closed channel is no signal either).
fn quiet(tx: mpsc::Sender<Signal>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { drop(tx) })
}

const STEADY_5: &str = "arrival = \"constant\"\nmax_in_flight = 100\ndrain_timeout = \"5s\"\n[[load.phases]]\nkind = \"steady\"\nrate = 5\nduration = \"1h\"";

#[tokio::test(start_paused = true)]
async fn requests_outliving_the_drain_grace_are_cancelled_when_it_ends() {
    // Requests of a minute; --duration 2s; drain_timeout 5s: ten sent (0, 0.2 … 1.8 s), all cut
    // off 5 s after arrivals stopped.
    let (r, took, fake) = run_for(
        &config_text(STEADY_5),
        options(Some(Duration::from_secs(2))),
        Duration::from_secs(60),
        quiet,
    )
    .await;
    assert_eq!(fake.sent().len(), 10);
    assert_eq!(r.requests.started, 10);
    assert_eq!(r.requests.finished.cancelled, 10, "{:?}", r.requests);
    assert!(r.complete && r.signal.is_none());
    let ms = took.as_millis();
    assert!(
        (7000..7100).contains(&ms),
        "2 s of load + 5 s of grace, took {ms} ms"
    );
}

#[tokio::test(start_paused = true)]
async fn requests_within_the_grace_finish_and_none_is_cancelled() {
    let (r, took, _) = run_for(
        &config_text(STEADY_5),
        options(Some(Duration::from_secs(2))),
        Duration::from_secs(1),
        quiet,
    )
    .await;
    assert_eq!((r.requests.started, r.requests.finished.success), (10, 10));
    assert_eq!(r.requests.finished.cancelled, 0);
    // The last one, sent at 1.8 s, ends at 2.8 s: the drain waits for it and no longer.
    let ms = took.as_millis();
    assert!((2800..2900).contains(&ms), "took {ms} ms");
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_cancels_the_drain_at_once() {
    // A daemon (no --duration): SIGTERM at 1.1 s starts the drain, a second at 2.1 s ends it.
    let (r, took, _) = run_for(
        &config_text(STEADY_5),
        options(None),
        Duration::from_secs(60),
        |tx| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1100)).await;
                let _ = tx.send(Signal::Terminate).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = tx.send(Signal::Interrupt).await;
            })
        },
    )
    .await;
    assert_eq!(
        r.signal,
        Some(StopSignal::Terminate),
        "the first signal is the stop"
    );
    assert_eq!(r.requests.started, 6, "0, 0.2 … 1.0 s");
    assert_eq!(r.requests.finished.cancelled, 6);
    let ms = took.as_millis();
    assert!(
        (2100..2200).contains(&ms),
        "the second signal ended it: {ms} ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_ends_a_bounded_run_and_is_not_a_drop() {
    let load = "arrival = \"constant\"\nmax_in_flight = 100\nbudget = { max_requests = 7 }\n\
                [[load.phases]]\nkind = \"steady\"\nrate = 10\nduration = \"1h\"";
    let (r, took, _) = run_for(
        &config_text(load),
        options(Some(Duration::from_secs(3600))),
        Duration::from_millis(100),
        quiet,
    )
    .await;
    assert_eq!(r.requests.started, 7);
    assert_eq!(r.requests.finished.success, 7);
    assert_eq!((r.requests.dropped, r.requests.drops.budget), (0, 1));
    // The eighth arrival (0.7 s) finds the budget spent: the schedule ends, the run drains.
    let ms = took.as_millis();
    assert!((700..900).contains(&ms), "took {ms} ms, not the hour");
}

#[tokio::test(start_paused = true)]
async fn a_reload_applies_the_new_rate_and_the_counters_go_on() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("llm-soak.toml");
    let at = |rate: u32| {
        config_text(&format!(
            "arrival = \"constant\"\nmax_in_flight = 100\n[[load.phases]]\nkind = \"steady\"\nrate = {rate}\nduration = \"1h\""
        ))
    };
    std::fs::write(&path, at(2)).expect("the config");
    let opts = RunOptions {
        config_path: Some(path.clone()),
        ..options(Some(Duration::from_secs(10)))
    };
    let text = at(2);
    let (r, _, fake) = run_for(&text, opts, Duration::from_millis(10), |tx| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            std::fs::write(&path, at(10)).expect("the new config");
            let _ = tx.send(Signal::Reload).await;
        })
    })
    .await;
    let sent = fake.sent();
    let before = sent
        .iter()
        .filter(|(_, _, at)| *at < sent[0].2 + Duration::from_secs(5))
        .count();
    // 2/s for 5 s, then 10/s for 5 s (the new generation starts its own schedule at the reload).
    assert_eq!(before, 10, "{sent:?}");
    assert_eq!(r.requests.started as usize, sent.len());
    assert!((58..=61).contains(&sent.len()), "{} sent", sent.len());
    // Sequence numbers go on: no request is sent twice.
    let mut seqs: Vec<u64> = sent.iter().map(|s| s.0).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), sent.len());
}

/// `output.checkpoint_interval` in the test below (the default is 60 s).
const CHECKPOINT: Duration = Duration::from_secs(120);

#[tokio::test(start_paused = true)]
async fn the_report_is_checkpointed_while_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.json");
    let opts = RunOptions {
        report: Some(path.clone()),
        ..options(Some(CHECKPOINT * 2 + Duration::from_secs(30)))
    };
    let watched = path.clone();
    let (r, _, _) = run_for(
        &format!(
            "{}[output]\ncheckpoint_interval = \"2m\"\n",
            config_text(STEADY_5)
        ),
        opts,
        Duration::from_millis(10),
        |tx| {
            tokio::spawn(async move {
                drop(tx);
                // Nothing before the first checkpoint; then a checkpoint, not complete.
                tokio::time::sleep(CHECKPOINT - Duration::from_secs(1)).await;
                assert!(!watched.exists(), "no checkpoint before {CHECKPOINT:?}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                let first = RunReport::load(&watched).expect("the first checkpoint");
                assert!(!first.complete);
                let started = first.requests.started;
                assert!(
                    (600..=606).contains(&started),
                    "{started} by the first checkpoint"
                );
                tokio::time::sleep(CHECKPOINT).await;
                let second = RunReport::load(&watched).expect("the second checkpoint");
                assert!(
                    second.requests.started > started,
                    "rewritten with the run's progress"
                );
            })
        },
    )
    .await;
    assert!(
        r.complete,
        "the run's own report is complete (the command line writes it)"
    );
    let last = RunReport::load(&path).expect("the last checkpoint");
    assert!(!last.complete && last.requests.started < r.requests.started);
}

#[test]
fn a_reload_that_changes_the_engine_scrape_is_refused_until_a_restart() {
    let base = config_text("[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"");
    let with = |extra: &str| {
        prepared(&base.replace("model = \"m\"\n", &format!("model = \"m\"\n{extra}\n"))).config
    };
    let vllm = with("provider = \"vllm\"");
    assert_eq!(
        generation::incompatible(&vllm, &with("provider = \"vllm\"")),
        None
    );
    for changed in [
        "provider = \"vllm\"\nmetrics = false",
        "provider = \"vllm\"\nmetrics_url = \"http://127.0.0.1:2/metrics\"",
        "provider = \"sglang\"",
    ] {
        let why = generation::incompatible(&vllm, &with(changed));
        assert!(
            why.as_deref().is_some_and(|w| w.contains("engine metrics")),
            "{changed}: {why:?}"
        );
    }
}

#[test]
fn a_resumed_schedules_prompts_start_at_its_first_arrival_sent() {
    let config = prepared(&config_text(
        "arrival = \"constant\"\n[[load.phases]]\nkind = \"steady\"\nrate = 10\nduration = \"1h\"",
    ))
    .config;
    let shape = crate::schedule::Shape::new(&config.load.phases, config.load.repeat);
    let seqs = |missed, closed| {
        super::generation::prompt_seqs(&config, Shard::default(), 1000, missed, closed)
            .next()
            .map(|(s, _)| s)
    };
    // Going on at seq 1000 with 60 s of the schedule gone: the dispatcher's first arrival.
    let missed = Duration::from_secs(60);
    let mut dispatched =
        crate::schedule::Arrivals::new(shape, config.load.arrival, config.seed).starting_at(1000);
    assert_eq!(dispatched.skip_before(missed), 600);
    let first = dispatched.next().map(|t| t.seq);
    assert_eq!(first, Some(1600));
    assert_eq!(seqs(missed, false), first, "not the 600 skipped before it");
    // A new run (nothing missed) and a closed loop start at the base.
    assert_eq!(seqs(Duration::ZERO, false), Some(1000));
    assert_eq!(seqs(missed, true), Some(1000));
}

/// A daemon (its own paused runtime, dropped — every task with it — as `kill -9` would) that
/// runs `text` with the state directory `dir` until `killed_after`; then one that goes on with
/// the checkpoint it left, restarted `down` later and run for `then`. Returns what each sent
/// (seq, intended, sent), the checkpoint gone on from and the second daemon's report.
type Sent = Vec<(u64, Instant, Instant)>;
fn killed_and_resumed(
    text: &str,
    dir: &std::path::Path,
    (killed_after, down, then): (Duration, Duration, Duration),
) -> (Sent, Sent, resume::Checkpoint, RunReport) {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime")
    };
    let config = serde_json::to_value(&prepared(text).config).expect("the config as JSON");
    let state = || {
        let lock = resume::lock(dir).expect("the state directory's lock");
        let decided = resume::decide(dir, &config, false).expect("a decision");
        State {
            dir: dir.to_path_buf(),
            config: config.clone(),
            resume: decided.resume.map(Arc::new),
            _lock: Arc::new(lock),
        }
    };
    let first = Fake::new(Duration::from_millis(100));
    runtime().block_on(async {
        let (_tx, rx) = mpsc::channel(SIGNAL_QUEUE);
        let opts = RunOptions {
            state: Some(state()),
            ..options(None)
        };
        let run = run_with(prepared(text), opts, rx, |_| {}, FakeClients(first.clone()));
        let ended = tokio::time::timeout(killed_after, run).await;
        assert!(ended.is_err(), "a daemon runs until it is killed");
    });
    // The daemon ran `killed_after` of virtual time in milliseconds of wall time: its
    // checkpoint's wall times are set to what a real run's would say when it restarts — started
    // `killed_after + down` ago, its last checkpoint written at the last whole interval.
    let mut state = state();
    let mut cp = Arc::unwrap_or_clone(state.resume.take().expect("an unfinished run"));
    let back = (killed_after + down).as_secs_f64();
    let interval = prepared(text)
        .config
        .output
        .checkpoint_interval
        .as_secs_f64();
    cp.started_unix = unix_now() - back;
    cp.epoch_unix = cp.started_unix;
    cp.written_unix = cp.started_unix + (killed_after.as_secs_f64() / interval).floor() * interval;
    state.resume = Some(Arc::new(cp.clone()));
    let second = Fake::new(Duration::from_millis(100));
    let report = runtime().block_on(async {
        let (_tx, rx) = mpsc::channel(SIGNAL_QUEUE);
        let opts = RunOptions {
            start_at: Some(std::time::UNIX_EPOCH + Duration::from_secs_f64(cp.epoch_unix)),
            state: Some(state),
            ..options(Some(then))
        };
        run_with(
            prepared(text),
            opts,
            rx,
            |_| {},
            FakeClients(second.clone()),
        )
        .await
        .expect("the resumed run")
    });
    (first.sent(), second.sent(), cp, report)
}

#[test]
fn a_killed_run_goes_on_from_its_checkpoint_where_its_schedule_stands() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = format!(
        "{}[output]\ncheckpoint_interval = \"10s\"\n",
        config_text(STEADY_5)
    );
    // Killed 25 s in (checkpoints at 10 s and 20 s), restarted 20 s later, on for 5 s.
    let secs = Duration::from_secs;
    let (first, second, cp, r) =
        killed_and_resumed(&text, dir.path(), (secs(25), secs(20), secs(5)));
    // Arrivals every 200 ms: the first daemon sent 0..=124; its last checkpoint (20 s) knew of
    // those up to about 100.
    assert!((124..=126).contains(&first.len()), "{}", first.len());
    assert!((99..=102).contains(&cp.next_seq), "{}", cp.next_seq);
    // The second goes on where the schedule stands when it starts, 45 s in and the wall time
    // its start took (the first arrival due after that: the 225th, or a later one on a busy
    // machine): what fell due while it was down is not sent, late, as a burst — every request
    // on time. Its arrivals are numbered on from the checkpoint's next sequence number, so none
    // the first daemon used is sent again.
    let seqs: Vec<u64> = second.iter().map(|s| s.0).collect();
    let from = seqs.first().copied().unwrap_or_default();
    assert_eq!(r.resumes.len(), 1);
    let due = (r.resumes[0].at_unix - cp.epoch_unix) / 0.2;
    let index = from.saturating_sub(cp.next_seq) as f64;
    assert!(
        due >= 45.0 / 0.2 && (due.floor()..=due.ceil() + 1.0).contains(&index),
        "next_seq {}, {due} arrivals due at the restart: {seqs:?}",
        cp.next_seq
    );
    assert_eq!(seqs, (from..from + seqs.len() as u64).collect::<Vec<_>>());
    let used = first.iter().map(|s| s.0).max().unwrap_or_default();
    assert!(from > used, "{from} again after the first daemon's {used}");
    assert!((24..=26).contains(&seqs.len()), "{} in 5 s", seqs.len());
    let late: Vec<_> = second
        .iter()
        .filter(|(_, intended, sent)| sent.duration_since(*intended) > Duration::from_millis(50))
        .collect();
    assert!(late.is_empty(), "late arrivals after the restart: {late:?}");
    // One run: its id, both halves counted once, the restart and its gap said.
    assert_eq!(r.run_id, cp.run_id);
    assert_eq!(
        r.requests.started,
        cp.report.requests.started + seqs.len() as u64,
        "{:?}",
        r.requests
    );
    // The summary — counts and histograms — holds both halves: the checkpoint's seeded once.
    let (Some(before), Some(after)) = (&cp.report.summary, &r.summary) else {
        panic!("a summary in the checkpoint and in the report");
    };
    assert_eq!(
        after.all.started,
        before.all.started + seqs.len() as u64,
        "{:?}",
        after.all
    );
    assert!(before.all.started > 0);
    let secs = after.measured_seconds - before.measured_seconds;
    assert!(
        (4.5..5.5).contains(&secs),
        "{secs} s measured after the restart"
    );
    let gap = r.resumes[0].gap_seconds;
    assert!(
        (24.0..30.0).contains(&gap),
        "gap {gap} s: 5 s after the checkpoint + 20 s down"
    );
}
