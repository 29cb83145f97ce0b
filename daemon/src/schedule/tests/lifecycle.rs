//! The one request lifecycle, tested once and exhaustively on the paused clock: every drop
//! reason, every outcome, cancellation at every stage — and after each, started = finished +
//! in flight, offered = started + dropped, and the summary agrees with the counters.

use std::sync::atomic::Ordering;

use super::*;
use crate::metrics::catalogue::DropReason;
use crate::report::DropCounts;

fn plan(seq: u64) -> RequestPlan {
    let prompt = Arc::clone(&plain_prompts(seq + 1)[seq as usize]);
    RequestPlan {
        seq,
        intended_at: Instant::now(),
        scenario: 0,
        max_tokens: 4,
        prompt,
        keep_text: false,
        phase: None,
    }
}

/// The summary's started / dropped / finished, to check it saw what the counters saw.
fn summary_counts(s: &SummarySink) -> (u64, u64, u64) {
    let all = s.scope(None).unwrap_or_default();
    let drops = s.drops();
    (
        all.started,
        drops.capacity() + drops.by_design(),
        all.finished.total(),
    )
}

#[tokio::test(start_paused = true)]
async fn every_outcome_is_recorded_once_with_its_class() {
    // seq % 4: success, 5xx, stall (a timeout), empty.
    let fake = Fake::failing(Duration::from_millis(10), |seq| match seq % 4 {
        0 => None,
        1 => Some(ErrorType::Http5xx),
        2 => Some(ErrorType::Stall),
        _ => Some(ErrorType::Empty),
    });
    let (recorder, summary) = recorder();
    let l = launcher(&fake, &recorder, Some(8), None, &CancellationToken::new());
    let mut outcomes = Vec::new();
    for seq in 0..8 {
        let rec = l.admit().unwrap().start(plan(seq)).run().await;
        outcomes.push(rec.outcome);
        check_invariants(&recorder);
    }
    assert_eq!(
        outcomes[..4],
        [
            Outcome::Success,
            Outcome::Error,
            Outcome::Timeout,
            Outcome::Error
        ]
    );
    let t = &recorder.totals;
    assert_eq!(
        (
            t.finished(Outcome::Success),
            t.finished(Outcome::Error),
            t.finished(Outcome::Timeout),
            t.finished(Outcome::Cancelled)
        ),
        (2, 4, 2, 0)
    );
    assert_eq!(summary_counts(&summary), (8, 0, 8));
    let types = summary.scope(None).unwrap_or_default().error_types;
    assert_eq!(types.get(&ErrorType::Http5xx), Some(&2));
    assert_eq!(types.get(&ErrorType::Empty), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn every_drop_reason_is_counted_and_nothing_is_started_for_it() {
    let fake = Fake::new(Duration::from_secs(10));
    let (recorder, summary) = recorder();
    let abort = CancellationToken::new();
    // max_in_flight: one slot, held.
    let l = launcher(&fake, &recorder, Some(1), None, &abort);
    let held = l.admit().unwrap().start(plan(0));
    assert_eq!(l.admit().err(), Some(DropReason::MaxInFlight));
    // shutting_down: an admitted slot never used (stopped while its prompt was prepared).
    drop(held);
    let slot = l.admit().unwrap();
    drop(slot);
    // max_sessions: a slot refused by the sessions cap.
    l.admit().unwrap().refuse(DropReason::MaxSessions);
    // budget (requests): two allowed.
    let budget = Budget {
        max_requests: Some(2),
        max_output_tokens: None,
    };
    let lb = launcher(&fake, &recorder, None, Some(budget), &abort);
    let a = lb.admit().unwrap().start(plan(1));
    let b = lb.admit().unwrap().start(plan(2));
    assert_eq!(lb.admit().err(), Some(DropReason::Budget));
    assert!(lb.budget_spent());
    abort.cancel();
    let (a, b) = (a.run().await, b.run().await);
    assert_eq!(
        (a.outcome, b.outcome),
        (Outcome::Cancelled, Outcome::Cancelled)
    );
    check_invariants(&recorder);
    let t = &recorder.totals;
    // Started: the held one (dropped unfinished: cancelled) and the two in the budget.
    assert_eq!(t.started(), 3);
    assert_eq!(t.finished(Outcome::Cancelled), 3);
    assert_eq!(
        t.drops(),
        DropCounts {
            max_in_flight: 1,
            max_sessions: 1,
            budget: 1,
            shutting_down: 1,
        },
    );
    assert_eq!(t.dropped(), 2, "only the caps are capacity drops");
    assert_eq!(summary_counts(&summary), (3, 4, 3));
}

#[tokio::test(start_paused = true)]
async fn the_output_token_budget_counts_finished_requests() {
    let fake = Fake::new(Duration::from_millis(5));
    let (recorder, _) = recorder();
    let budget = Budget {
        max_requests: None,
        max_output_tokens: Some(3),
    };
    let l = launcher(
        &fake,
        &recorder,
        None,
        Some(budget),
        &CancellationToken::new(),
    );
    // One output token per request (the fake's): three requests spend it.
    for seq in 0..3 {
        assert!(!l.budget_spent());
        l.admit().unwrap().start(plan(seq)).run().await;
    }
    assert_eq!(l.admit().err(), Some(DropReason::Budget));
    // A source outside the budget (the canary's launcher) is never refused by it.
    let canary = Arc::new(Launcher::new(
        Arc::clone(&fake),
        Arc::clone(&recorder),
        None,
        None,
        CancellationToken::new(),
    ));
    assert!(canary.admit().is_ok());
    check_invariants(&recorder);
}

#[tokio::test(start_paused = true)]
async fn cancellation_at_every_stage_is_accounted() {
    let fake = Fake::new(Duration::from_secs(60));
    let (recorder, summary) = recorder();
    let abort = CancellationToken::new();
    let l = launcher(&fake, &recorder, Some(10), None, &abort);
    // 1. Before admission: nothing is counted.
    check_invariants(&recorder);
    assert_eq!(
        (recorder.totals.started(), recorder.totals.dropped()),
        (0, 0)
    );
    // 2. Admitted, not started (stop while waiting for a prompt): dropped, shutting_down.
    drop(l.admit().unwrap());
    assert_eq!(recorder.totals.drops().shutting_down, 1);
    assert_eq!(recorder.totals.dropped(), 0, "not a capacity drop");
    // 3. Started, its task aborted before it ran: cancelled.
    let started = l.admit().unwrap().start(plan(1));
    check_invariants(&recorder);
    assert_eq!(recorder.totals.in_flight(), 1);
    drop(started);
    // 4. Running, its task aborted mid-request (the future dropped): cancelled.
    let task = tokio::spawn(l.admit().unwrap().start(plan(2)).run());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(recorder.totals.in_flight(), 1);
    task.abort();
    let _ = task.await;
    // 5. Running, cancelled by the drain's abort: the executor ends it as cancelled.
    let task = tokio::spawn(l.admit().unwrap().start(plan(3)).run());
    tokio::time::sleep(Duration::from_secs(1)).await;
    abort.cancel();
    let rec = task.await.unwrap();
    assert_eq!(rec.error_type, Some(ErrorType::Cancelled));
    check_invariants(&recorder);
    let t = &recorder.totals;
    assert_eq!(t.started(), 3);
    assert_eq!(t.finished(Outcome::Cancelled), 3);
    assert_eq!(t.in_flight(), 0);
    assert_eq!(summary_counts(&summary), (3, 1, 3));
    // Every slot came back.
    assert_eq!(
        (0..10).filter_map(|_| l.admit().ok()).count(),
        10,
        "the in-flight permits were all released"
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_stopped_between_turns_ends_and_leaves_no_request_open() {
    let c = config(
        r#"
        [[target]]
        name = "t"
        base_url = "http://127.0.0.1:9"
        model = "m"
        [load]
        [[load.phases]]
        kind = "steady"
        rate = 1
        duration = "1s"
        [[scenario]]
        name = "chat"
        input_tokens = 20
        output_tokens = 4
        session = { turns = 5, think_time = "10s" }
    "#,
    );
    let fake = Fake::new(Duration::from_millis(100));
    let (recorder, _) = recorder();
    let l = launcher(&fake, &recorder, Some(4), None, &CancellationToken::new());
    let assets = crate::workload::Assets::load(&c).unwrap();
    let workload = Arc::new(crate::workload::Workload::new(&c, &assets, "r"));
    let sessions = Arc::new(Sessions::new(Arc::clone(&workload), 1));
    let mut first = plan(0);
    first.prompt = Arc::new(workload.prompt(0));
    first.keep_text = true;
    let stop = CancellationToken::new();
    let slot = sessions.open().unwrap();
    assert!(sessions.open().is_none(), "one session at most");
    let task = tokio::spawn(session::run(
        Arc::clone(&l),
        Arc::clone(&sessions),
        slot,
        l.admit().unwrap().start(first),
        5,
        stop.clone(),
    ));
    // The first turn ends at 0.1 s; the session then thinks for 10 s: stop it there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.totals.sessions.load(Ordering::Relaxed), 1);
    stop.cancel();
    task.await.unwrap();
    check_invariants(&recorder);
    assert_eq!(recorder.totals.started(), 1);
    assert_eq!(recorder.totals.sessions.load(Ordering::Relaxed), 0);
    assert!(sessions.open().is_some(), "the session slot came back");
}

#[tokio::test]
async fn admissions_racing_for_the_last_requests_of_a_budget_never_overspend_it() {
    // Admission reserves the request: slots admitted and not yet started (their prompts being
    // prepared) count against the budget, and one given back unused frees its request again.
    let fake = Fake::new(Duration::from_millis(5));
    let (recorder, _) = recorder();
    let abort = CancellationToken::new();
    let budget = Budget {
        max_requests: Some(50),
        max_output_tokens: None,
    };
    let l = launcher(&fake, &recorder, None, Some(budget), &abort);
    let admitted: Vec<_> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                s.spawn(move || (0..40).filter_map(|_| l.admit().ok()).collect::<Vec<_>>())
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(admitted.len(), 50, "160 admissions raced for 50 requests");
    assert!(l.budget_spent());
    let mut admitted = admitted.into_iter();
    admitted.next().unwrap().refuse(DropReason::MaxSessions);
    assert!(!l.budget_spent(), "a refused slot gives its request back");
    assert!(l.admit().is_ok());
    drop(admitted);
    // 110 refused for the budget, one for max_sessions, and 50 slots dropped unused.
    let d = recorder.totals.drops();
    assert_eq!((d.budget, d.max_sessions, d.shutting_down), (110, 1, 50));
    assert_eq!(recorder.totals.dropped(), 1);
}
