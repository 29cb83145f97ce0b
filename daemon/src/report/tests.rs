//! The report document: exact round trips, the fields of the unversioned schema kept, old
//! reports still read, newer ones and garbage refused with a clear error.

use std::path::Path;

use super::testing::{report_of, scope, summary as summary_of};
use super::*;

fn summary() -> Summary {
    let ttfts: Vec<u64> = (100..142).collect();
    let chat = scope(&ttfts, 8, 10.0);
    let rag = scope(&ttfts[..25], 0, 10.0);
    let mut s = summary_of(vec![("chat".into(), chat), ("rag".into(), rag)], 10.0);
    s.phases.push(PhaseScope {
        index: 0,
        kind: "steady".into(),
        scope: s.all.clone(),
    });
    s
}

fn report() -> RunReport {
    RunReport {
        server: Vec::new(),
        schema_version: SCHEMA_VERSION,
        llm_soak_version: crate::VERSION.into(),
        run_id: "abcd1234".into(),
        shard: crate::report::ReportShard::Replica { index: 0, count: 1 },
        complete: true,
        signal: None,
        elapsed_seconds: 12.5,
        requests: Requests {
            started: 50,
            dropped: 0,
            drops: DropCounts::default(),
            finished: Outcomes {
                success: 42,
                error: 8,
                timeout: 0,
                cancelled: 0,
                aborted: 0,
            },
            lost: 0,
        },
        summary: Some(summary()),
        gates: Vec::new(),
        verdict: None,
        series: None,
        drift_baselines: Vec::new(),
        config: None,
        partial: None,
        phase_verdicts: Vec::new(),
        first_last: None,
        resumes: Vec::new(),
    }
}

#[test]
fn a_report_round_trips_exactly_with_its_histograms() {
    let r = report();
    let text = serde_json::to_string_pretty(&r).unwrap();
    let back = RunReport::parse(&text, Path::new("r.json")).unwrap();
    assert_eq!(back, r);
    let s = back.summary.unwrap();
    let ttft = &s.all.latency.ttft;
    let h = ttft
        .hdr
        .as_ref()
        .expect("the histogram travels with the report");
    assert_eq!(h.count(), ttft.samples);
    assert_eq!(h.quantile(0.95), ttft.p95);
    // Scenarios keep the config's order.
    let names: Vec<&str> = s.scenarios.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["chat", "rag"]);
}

#[test]
fn the_fields_of_the_unversioned_schema_are_all_there_but_interrupted() {
    // `interrupted` (schema 0–2) was `signal` ≠ null said twice: schema 3 keeps `signal`.
    let v = serde_json::to_value(report()).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "complete",
            "elapsed_seconds",
            "gates",
            "llm_soak_version",
            "requests",
            "run_id",
            "schema_version",
            "shard",
            "signal",
            "summary",
            "verdict"
        ]
    );
    let s = &v["summary"];
    assert_eq!(
        keys(s),
        [
            "all",
            "drop_rate",
            "dropped",
            "drops",
            "measured_seconds",
            "phases",
            "scenarios",
            "spikes"
        ]
    );
    assert_eq!(
        keys(&s["all"]),
        [
            "achieved_rate",
            "error_rate",
            "error_types",
            "finished",
            "latency",
            "started",
            "tokens"
        ]
    );
    assert_eq!(
        keys(&s["all"]["latency"]["ttft"]),
        [
            "hdr", "max", "mean", "min", "p50", "p90", "p95", "p99", "p99.9", "samples"
        ]
    );
    assert_eq!(s["all"]["error_types"]["http_5xx"], 8);
    assert_eq!(s["phases"][0]["kind"], "steady");
    assert_eq!(s["phases"][0]["index"], 0);
    assert_eq!(v["requests"]["finished"]["success"], 42);
}

/// A report as llm-soak 0.1 wrote it (no schema_version, no histograms).
const UNVERSIONED: &str = r#"{
  "llm_soak_version": "0.1.0", "run_id": "0badf00d", "shard": "0/1", "complete": true,
  "interrupted": false, "signal": null, "elapsed_seconds": 61.2,
  "requests": { "started": 120, "dropped": 3,
                "finished": { "success": 118, "error": 2, "timeout": 0, "cancelled": 0 } },
  "summary": {
    "measured_seconds": 60.0, "dropped": 3, "drop_rate": 0.0244,
    "all": { "started": 120, "finished": { "success": 118, "error": 2, "timeout": 0, "cancelled": 0 },
             "error_types": { "http_5xx": 2 }, "error_rate": 0.0167, "achieved_rate": 2.0,
             "tokens": { "input": 1000, "output": 2000, "output_per_second": 33.3 },
             "latency": {
               "ttft": { "samples": 118, "min": 0.1, "mean": 0.2, "p50": 0.19, "p90": 0.3,
                         "p95": 0.35, "p99": 0.4, "p99.9": 0.41, "max": 0.41 },
               "ttfc": { "samples": 118, "min": 0.1, "mean": 0.2, "p50": 0.19, "p90": 0.3,
                         "p95": 0.35, "p99": 0.4, "p99.9": 0.41, "max": 0.41 },
               "tpot": { "samples": 118, "min": 0.01, "mean": 0.02, "p50": 0.02, "p90": 0.03,
                         "p95": 0.03, "p99": 0.04, "p99.9": 0.04, "max": 0.04 },
               "itl": { "samples": 0, "min": null, "mean": null, "p50": null, "p90": null,
                        "p95": null, "p99": null, "p99.9": null, "max": null },
               "e2e": { "samples": 118, "min": 1.0, "mean": 2.0, "p50": 2.0, "p90": 3.0,
                        "p95": 3.0, "p99": 4.0, "p99.9": 4.0, "max": 4.0 } } },
    "scenarios": {},
    "phases": [],
    "spikes": []
  },
  "gates": [ { "gate": "ttft.p95 < 1s", "verdict": "pass", "measured": 0.35, "threshold": 1.0,
               "samples": 118, "min_samples": 30 } ],
  "verdict": "pass"
}"#;

#[test]
fn an_unversioned_report_is_still_read() {
    let r = RunReport::parse(UNVERSIONED, Path::new("old.json")).unwrap();
    assert_eq!(r.schema_version, 0);
    let s = r.summary.unwrap();
    assert_eq!(s.all.latency.ttft.stat(Stat::Quantile(0.95)), Some(0.35));
    assert_eq!(s.all.latency.ttft.stat(Stat::Quantile(0.75)), None);
    assert_eq!(s.all.error_types.get(&ErrorType::Http5xx), Some(&2));
    assert_eq!(r.verdict, Some(Verdict::Pass));
}

#[test]
fn newer_schemas_and_garbage_are_refused_with_the_reason() {
    let newer = UNVERSIONED.replacen('{', "{ \"schema_version\": 99,", 1);
    let e = RunReport::parse(&newer, Path::new("new.json")).unwrap_err();
    assert!(e.to_string().contains("schema version 99"), "{e}");
    let e = RunReport::parse("{\"run_id\": \"x\"}", Path::new("x.json")).unwrap_err();
    assert!(e.to_string().contains("no llm_soak_version"), "{e}");
    let e = RunReport::parse("not json", Path::new("x.json")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("x.json is not an llm-soak report"),
        "{e}"
    );
    let bad_hdr =
        serde_json::to_string(&report())
            .unwrap()
            .replacen("\"hdr\":\"", "\"hdr\":\"!!", 1);
    let e = RunReport::parse(&bad_hdr, Path::new("x.json")).unwrap_err();
    assert!(e.to_string().contains("not base64"), "{e}");
}

#[test]
fn the_terminal_summary_is_rendered_from_the_typed_report() {
    let text = report().render();
    assert!(
        text.starts_with("llm-soak run abcd1234 finished after 12.5s"),
        "{text}"
    );
    assert!(text.contains("[chat] started 50"), "{text}");
    assert!(text.contains("  ttft "), "{text}");
    assert!(!text.contains("gates:"));
    assert!(text.contains("[all] started"), "{text}");
    assert!(text.contains("errors by type: http_5xx 8"), "{text}");
}

#[test]
fn a_canary_only_summary_has_no_empty_all_block() {
    let canary = scope(&[100, 110, 120], 0, 30.0);
    let mut s = summary_of(vec![("canary".into(), canary)], 30.0);
    s.all = Scope::default();
    let text = report_of(s.clone()).render();
    assert!(!text.contains("[all]"), "{text}");
    assert!(text.contains("[canary] started 3"), "{text}");
    // A run that started nothing at all still says so.
    s.scenarios[0].1 = Scope::default();
    assert!(report_of(s).render().contains("[all] started 0"));
}

#[test]
fn the_worst_verdict_wins() {
    use Verdict::*;
    assert_eq!(worst([]), None);
    assert_eq!(worst([Pass, Pass]), Some(Pass));
    assert_eq!(worst([Pass, Insufficient]), Some(Insufficient));
    assert_eq!(worst([Insufficient, Breach, Pass]), Some(Breach));
}
