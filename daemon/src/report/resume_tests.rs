//! A resumed run's report: the two segments one after the other, exact.

use super::*;
use crate::report::testing::{report_of, scope, summary};
use crate::report::{Outcomes, Requests};

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

#[test]
fn two_segments_make_one_run_exactly() {
    // Before the restart: 100 fast requests over 10 s, 2 more in flight at the checkpoint.
    let fast: Vec<u64> = vec![100; 100];
    let mut before = segment(&fast, 0, 10.0);
    before.requests.started += 2;
    // After: 100 slow ones and 10 failures over 40 s.
    let slow: Vec<u64> = vec![900; 100];
    let after = segment(&slow, 10, 40.0);
    let resume = Resume {
        at_unix: 1_000.0,
        checkpoint_unix: 990.0,
        gap_seconds: 10.0,
        in_flight_lost: 2,
    };
    let r = append(&before, after, &resume);
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
    assert_eq!(s.measured_seconds, 50.0);
    // Quantiles over both halves, from the merged histograms: the median is between the two
    // modes' boundary, p90 the slow one.
    let ttft = &s.all.latency.ttft;
    assert_eq!(ttft.samples, 200);
    assert!((ttft.p90.unwrap() - 0.9).abs() < 0.01, "{ttft:?}");
    assert!((ttft.min.unwrap() - 0.1).abs() < 0.001, "{ttft:?}");
    // Rates over the time both measured: 210 started in 50 s.
    assert!((s.all.achieved_rate.unwrap() - 210.0 / 50.0).abs() < 1e-9);
    assert_eq!(s.scenarios[0].1.started, 210);
    assert!((s.all.error_rate.unwrap() - 10.0 / 210.0).abs() < 1e-9);
    // The wall time includes the gap; the restart is on record.
    assert_eq!(r.elapsed_seconds, 10.0 + 10.0 + 40.0);
    assert_eq!(r.resumes, vec![resume.clone()]);
    // A second restart appends to the first.
    let again = append(&r, segment(&fast, 0, 5.0), &resume);
    assert_eq!(again.resumes.len(), 2);
    assert_eq!(again.requests.lost, 4);
    assert_eq!(again.summary.unwrap().all.latency.ttft.samples, 300);
}
