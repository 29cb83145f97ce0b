//! Merging shards: exact on constructed halves of a run; refusals of what is not one run.

use super::*;
use crate::report::Requests;
use crate::report::series::Gauges;
use crate::report::testing::{report_of, scope, summary, ttft_window};

fn series(epoch: f64, ttft_ms: &[u64]) -> Series {
    let sp = ttft_window(ttft_ms);
    Series {
        epoch_unix: epoch,
        step_seconds: 10.0,
        scopes: vec!["all".into(), "chat".into()],
        points: vec![Point {
            t: 0.0,
            span: 10.0,
            phase: Some(0),
            dropped: 0,
            gauges: Gauges {
                in_flight: Some(3.0),
                ..Gauges::default()
            },
            scopes: vec![sp.clone(), sp],
            server: Default::default(),
        }],
        events: vec![Event {
            t: 0.0,
            kind: crate::report::series::EventKind::Start,
            detail: "run started".into(),
        }],
        dropped_points: 0,
        dropped_events: 0,
    }
}

fn shard(i: u32, n: u32, ttft_ms: &[u64], failed: u64) -> (String, RunReport) {
    let s = summary(vec![("chat".into(), scope(ttft_ms, failed, 60.0))], 60.0);
    let r = RunReport {
        run_id: format!("run{i}"),
        shard: crate::report::ReportShard::Replica { index: i, count: n },
        elapsed_seconds: 61.0,
        requests: Requests {
            started: ttft_ms.len() as u64 + failed,
            ..Requests::default()
        },
        series: Some(series(1.7e9, ttft_ms)),
        config: Some(serde_json::json!({"load": {"rate": 10}})),
        ..report_of(s)
    };
    (format!("shard{i}.json"), r)
}

#[test]
fn merging_two_halves_of_a_run_gives_the_whole_runs_histograms() {
    let all: Vec<u64> = (1..=400).map(|i| (i * 7919) % 1000 + 1).collect();
    let (a, b) = all.split_at(150);
    let merged = merge(&[shard(0, 2, a, 2), shard(1, 2, b, 3)], false).unwrap();
    assert_eq!((merged.partial.as_ref(), merged.unfinished()), (None, None));
    let whole = scope(&all, 5, 60.0);
    let m = &merged.summary.as_ref().unwrap().all;
    assert_eq!(
        m.latency.ttft.hdr, whole.latency.ttft.hdr,
        "the exact histogram"
    );
    assert_eq!(m.latency.ttft.p99, whole.latency.ttft.p99);
    assert_eq!(m.latency.e2e, whole.latency.e2e);
    assert_eq!((m.started, m.finished.error), (405, 5));
    assert_eq!(m.error_rate, whole.error_rate);
    assert_eq!(
        m.achieved_rate, whole.achieved_rate,
        "rates add: one window"
    );
    assert_eq!(merged.requests.started, 405);
    assert_eq!(merged.shard.to_string(), "all 2");
    let s = merged.series.as_ref().unwrap();
    assert_eq!(
        s.points.len(),
        1,
        "the shards' windows line up on the epoch"
    );
    assert_eq!(s.points[0].scopes[0].started, 400);
    assert_eq!(
        s.points[0].gauges.in_flight,
        Some(6.0),
        "side by side: in flight adds"
    );
    assert_eq!(s.events.len(), 2);
    assert!(s.events[1].detail.starts_with("shard 1/2: "));
    let json = serde_json::to_string(&merged).unwrap();
    let back = RunReport::parse(&json, std::path::Path::new("m.json")).unwrap();
    assert_eq!(back, merged);
}

#[test]
fn what_is_not_one_run_is_refused_with_the_reason() {
    let ok = |i| shard(i, 2, &[100, 200], 0);
    let err = |v: Vec<(String, RunReport)>| merge(&v, false).unwrap_err();
    assert_eq!(err(vec![]), MergeError::Empty);
    assert!(matches!(
        err(vec![ok(0), ok(0)]),
        MergeError::Shards {
            what: "the same shard twice",
            ..
        }
    ));
    let mut other = ok(1);
    other.1.config = Some(serde_json::json!({"load": {"rate": 20}}));
    assert!(matches!(err(vec![ok(0), other]), MergeError::Config { .. }));
    let mut later = ok(1);
    later.1.series.as_mut().unwrap().epoch_unix += 3600.0;
    assert!(matches!(err(vec![ok(0), later]), MergeError::Epoch { .. }));
    let mut partial = ok(1);
    partial.1.complete = false;
    assert_eq!(
        err(vec![ok(0), partial]),
        MergeError::Incomplete("shard1.json".into())
    );
    let mut four = ok(1);
    four.1.shard = "1/4".parse().unwrap();
    assert!(matches!(err(vec![ok(0), four]), MergeError::Shards { .. }));
    let mut old = ok(1);
    for (_, sc) in &mut old.1.summary.as_mut().unwrap().scenarios {
        sc.latency.ttft.hdr = None;
    }
    old.1.summary.as_mut().unwrap().all.latency.ttft.hdr = None;
    old.1.summary.as_mut().unwrap().all.latency.e2e.hdr = None;
    assert_eq!(
        err(vec![ok(0), old]),
        MergeError::NoHistograms("shard1.json".into())
    );
    // A missing shard is refused, unless allowed — then said, typed, and the report is
    // refused by what judges a whole run.
    assert_eq!(
        err(vec![ok(0)]),
        MergeError::Partial {
            merged: 1,
            of: 2,
            missing: vec![1]
        }
    );
    assert_eq!(
        err(vec![ok(0)]).to_string(),
        "only 1 of 2 shards (missing 1/2): a partial merge is refused unless --allow-partial"
    );
    let one = merge(&[ok(0)], true).unwrap();
    assert_eq!(one.shard.to_string(), "1 of 2");
    assert_eq!(
        one.partial,
        Some(crate::report::Partial {
            merged: 1,
            of: 2,
            missing: vec![1]
        })
    );
    assert_eq!(
        one.unfinished().as_deref(),
        Some("a partial merge (1 of 2 shards; missing 1/2)")
    );
    // …and a partial report is not a shard to merge again.
    let mut again = one;
    again.shard = "1/2".parse().unwrap();
    assert_eq!(
        err(vec![ok(0), ("one.json".into(), again)]),
        MergeError::Incomplete("one.json".into())
    );
}
