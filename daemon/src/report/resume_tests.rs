//! A resumed run's report: the checkpoint split for the restarted daemon, and what every later
//! report adds (the summary's counts and histograms are seeded, `metrics::summary`'s tests).

use super::*;
use crate::report::testing::{report_of, scope, summary};
use crate::report::{Level, Outcomes, Requests, SpikeResult};

fn segment(ttft_ms: &[u64], failed: u64, seconds: f64) -> RunReport {
    let s = scope(ttft_ms, failed, seconds);
    let mut r = report_of(summary(vec![("chat".into(), s.clone())], seconds));
    r.requests = Requests {
        started: s.started,
        finished: s.finished,
        ..Requests::default()
    };
    r
}

fn spike(phase: u32) -> SpikeResult {
    let level = Level {
        ttft_p95: Some(0.1),
        error_rate: Some(0.0),
        requests: 10,
    };
    SpikeResult {
        phase,
        pass: 0,
        spike_start_seconds: 1.0,
        spike_seconds: 1.0,
        pre_spike: level,
        during_spike: level,
        recovered: true,
        recovery_seconds: Some(1.0),
        observed_seconds: 5.0,
        window_seconds: 1.0,
        latency_tolerance: 0.2,
        error_tolerance: 0.01,
        note: None,
    }
}

#[test]
fn a_checkpoint_splits_into_the_seed_and_what_every_report_adds() {
    // Before the restart: 100 requests over 10 s, 2 more in flight at the checkpoint, a spike.
    let mut before = segment(&[100; 100], 0, 10.0);
    before.requests.started += 2;
    before.elapsed_seconds = 10.0;
    before.summary.as_mut().unwrap().spikes = vec![spike(0)];
    let (earlier, seed) = split(before.clone());
    let seed = seed.unwrap();
    assert_eq!(
        seed.all,
        before.summary.as_ref().unwrap().all,
        "counts and histograms"
    );
    assert!(
        seed.spikes.is_empty(),
        "a spike's verdict is not counted again"
    );
    assert_eq!(earlier.spikes, vec![spike(0)]);
    assert_eq!(earlier.requests.started, 102);
    // After (the daemon's own report, its summary seeded): 210 in all, a spike of its own.
    let mut after = segment(&[900; 100], 10, 40.0);
    after.elapsed_seconds = 40.0;
    after.summary.as_mut().unwrap().spikes = vec![spike(1)];
    let resume = Resume {
        at_unix: 1_000.0,
        checkpoint_unix: 990.0,
        gap_seconds: 10.0,
        in_flight_lost: 2,
    };
    let r = append(&earlier, after.clone(), &resume);
    assert_eq!(r.requests.started, 212);
    assert_eq!(
        r.requests.finished,
        Outcomes {
            success: 200,
            error: 10,
            ..Outcomes::default()
        }
    );
    assert_eq!(r.requests.lost, 2);
    assert_eq!(
        r.requests.started,
        r.requests.finished.total() + r.requests.lost
    );
    let s = r.summary.as_ref().unwrap();
    assert_eq!(
        s.all,
        after.summary.as_ref().unwrap().all,
        "not merged again"
    );
    assert_eq!(s.spikes, vec![spike(0), spike(1)]);
    // The wall time includes the gap; the restart is on record.
    assert_eq!(r.elapsed_seconds, 10.0 + 10.0 + 40.0);
    assert_eq!(r.resumes, vec![resume.clone()]);
    // A second restart appends to the first.
    let (earlier, _) = split(r);
    let again = append(&earlier, segment(&[100; 5], 0, 5.0), &resume);
    assert_eq!(again.resumes.len(), 2);
    assert_eq!(again.requests.lost, 4);
    assert_eq!(again.requests.started, 217);
    assert_eq!(again.summary.unwrap().spikes, vec![spike(0), spike(1)]);
}

#[test]
fn a_checkpoint_without_a_summary_seeds_nothing() {
    let mut before = segment(&[100; 3], 0, 1.0);
    before.summary = None;
    let (earlier, seed) = split(before);
    assert!(seed.is_none());
    assert_eq!(earlier.requests.started, 3);
}
