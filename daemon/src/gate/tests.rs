//! Gate judgement on typed summaries, against themselves and earlier reports.

use std::path::Path;

use super::*;
use crate::report::testing::{report_of, scope, summary};

/// The report as an unversioned (schema 0) one: no histograms.
fn strip_histograms(mut r: RunReport) -> RunReport {
    r.schema_version = 0;
    if let Some(s) = r.summary.as_mut() {
        let scopes = std::iter::once(&mut s.all).chain(s.scenarios.iter_mut().map(|(_, v)| v));
        for scope in scopes {
            for q in crate::record::Quantity::ALL {
                scope.latency.get_mut(q).hdr = None;
            }
        }
    }
    r
}

#[test]
fn relative_gates_compare_with_the_earlier_report() {
    // 36 successes with TTFT 100…135 ms and 4 failures, over 10 s.
    let ttfts: Vec<u64> = (100..136).collect();
    let s = summary(vec![("chat".into(), scope(&ttfts, 4, 10.0))], 10.0);
    let report = report_of(s.clone());
    let base = Baseline::from_report(report.clone(), Path::new("prev.json")).unwrap();
    // The same run against itself: within 10 % passes, a tighter bound does not.
    let judge = |text: &str| {
        let mut g: Gate = text.parse().unwrap();
        g.min_samples = 10;
        evaluate(&g, &s, Some(&base))
    };
    let r = judge("ttft.p95 <= 1.1 * baseline");
    assert_eq!(r.verdict, Verdict::Pass, "{r}");
    assert_eq!(r.baseline, r.measured);
    assert_eq!(judge("ttft.p95 < 0.5 * baseline").verdict, Verdict::Breach);
    let r = judge("error_rate < baseline + 1%");
    assert_eq!(r.verdict, Verdict::Pass, "{r}");
    assert!((r.threshold.unwrap() - 0.11).abs() < 1e-9, "{r}");
    assert_eq!(
        judge("tpot.mean{scenario=\"chat\"} <= baseline").verdict,
        Verdict::Pass
    );
    // The exact histograms answer any quantile, p75 too; a report without them (schema 0)
    // lacks it: insufficient data, with the reason.
    assert_eq!(judge("ttft.p75 <= baseline").verdict, Verdict::Pass);
    let unversioned = strip_histograms(report.clone());
    let old_base = Baseline::from_report(unversioned, Path::new("prev.json")).unwrap();
    let mut g: Gate = "ttft.p75 < baseline".parse().unwrap();
    g.min_samples = 10;
    let r = evaluate(&g, &s, Some(&old_base));
    assert_eq!(r.verdict, Verdict::Insufficient);
    assert!(r.note.unwrap().contains("prev.json"));
    // A baseline with fewer samples than the gate's minimum is not compared with.
    let mut g: Gate = "ttft.p95 < baseline".parse().unwrap();
    g.min_samples = 1000;
    let r = evaluate(&g, &s, Some(&base));
    assert_eq!(r.verdict, Verdict::Insufficient);
    let note = r.note.clone().unwrap_or_default();
    assert!(note.contains("only 36 samples"), "{r:?}");
    // A relative gate without a baseline never passes.
    let g: Gate = "ttft.p95 < baseline".parse().unwrap();
    assert_eq!(evaluate(&g, &s, None).verdict, Verdict::Insufficient);
    // Interrupted runs, checkpoints and partial merges are refused as baselines.
    let mut cut = report.clone();
    cut.signal = Some(crate::report::StopSignal::Interrupt);
    assert!(matches!(
        Baseline::from_report(cut, Path::new("x")),
        Err(BaselineError::Incomplete { .. })
    ));
    let mut checkpoint = report.clone();
    checkpoint.complete = false;
    assert!(Baseline::from_report(checkpoint, Path::new("x")).is_err());
    let mut partial = report.clone();
    partial.partial = Some(crate::report::Partial {
        merged: 1,
        of: 2,
        missing: vec![1],
    });
    let e = Baseline::from_report(partial, Path::new("one.json")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the baseline one.json is a partial merge (1 of 2 shards; missing 1/2): compare with a whole, finished run"
    );
    assert!(RunReport::parse("{\"a\": 1}", Path::new("x")).is_err());
}

#[test]
fn client_lag_gates_judge_the_trust_probe_and_are_insufficient_without_it() {
    use crate::report::{Dist, Hdr, Trust, TrustVerdict, Verdict};
    use std::time::Duration;
    let trust = |lag: &Hdr| Trust {
        verdict: TrustVerdict::Trustworthy,
        bound_p99: lag.quantile(0.99),
        client_lag: Dist::of(lag, true),
        cpu_cores_used: None,
        cpu_cores_available: None,
        reasons: Vec::new(),
    };
    let gate: Gate = "client_lag.p99 < 1ms".parse().unwrap();
    let mut s = summary(vec![("a".into(), scope(&[100; 40], 0, 10.0))], 10.0);
    // A report without a trust section (an old one, or a probe that could not start).
    let r = evaluate(&gate, &s, None);
    assert_eq!(r.verdict, Verdict::Insufficient, "{r:?}");
    let mut lag = Hdr::new();
    for _ in 0..100 {
        lag.record(Duration::from_micros(200));
    }
    s.trust = Some(trust(&lag));
    assert_eq!(evaluate(&gate, &s, None).verdict, Verdict::Pass);
    for _ in 0..10 {
        lag.record(Duration::from_millis(5));
    }
    s.trust = Some(trust(&lag));
    let r = evaluate(&gate, &s, None);
    assert_eq!(r.verdict, Verdict::Breach, "{r:?}");
    assert!(r.measured.is_some_and(|v| v > 0.004), "{r:?}");
}

#[test]
fn gates_scoped_by_error_type_phase_and_on_output_tokens() {
    // 36 successes, 4 http_5xx failures and 2 timeouts; phase 0 is the first 20 successes.
    let ttfts: Vec<u64> = (100..136).collect();
    let mut all = scope(&ttfts, 4, 10.0);
    all.finished.timeout = 2;
    all.error_types.insert(crate::record::ErrorType::Timeout, 2);
    all.error_rate = Some(6.0 / 42.0);
    all.tokens.output_per_second = Some(1234.5);
    let mut s = summary(vec![("chat".into(), all)], 10.0);
    s.phases = vec![crate::report::PhaseScope {
        index: 0,
        kind: "steady".into(),
        scope: scope(&ttfts[..20], 0, 5.0),
    }];
    let judge = |text: &str| {
        let mut g: Gate = text.parse().unwrap();
        g.min_samples = 10;
        evaluate(&g, &s, None)
    };
    // The seed's "5xx < 5 %": 4 of 42 judged requests is 9.5 %.
    let r = judge("error_rate{error_type=~\"http_5xx\"} < 5%");
    assert_eq!(r.verdict, Verdict::Breach, "{r}");
    assert!((r.measured.unwrap() - 4.0 / 42.0).abs() < 1e-12, "{r}");
    assert_eq!(r.samples, 42);
    let r = judge("error_rate{error_type=\"timeout\"} < 5%");
    assert_eq!(r.verdict, Verdict::Pass, "{r}");
    assert!((r.measured.unwrap() - 2.0 / 42.0).abs() < 1e-12);
    let r = judge("error_rate{error_type=~\"http_.*|timeout\"} < 15%");
    assert!((r.measured.unwrap() - 6.0 / 42.0).abs() < 1e-12, "{r}");
    // Unscoped, the same failures.
    assert_eq!(
        judge("error_rate < 15%").measured,
        judge("error_rate{error_type=~\".*\"} < 15%").measured
    );
    // A phase: its own requests (TTFT 100..119 ms).
    let r = judge("ttft.max{phase=\"0\"} < 1s");
    assert_eq!((r.verdict, r.samples), (Verdict::Pass, 20), "{r}");
    assert!((r.measured.unwrap() - 0.119).abs() < 0.001, "{r}");
    let r = judge("ttft.max{phase=\"3\"} < 1s");
    assert_eq!((r.verdict, r.samples), (Verdict::Insufficient, 0));
    let r = judge("output_tokens_per_second >= 1000");
    assert_eq!((r.verdict, r.measured), (Verdict::Pass, Some(1234.5)));
    assert_eq!(
        judge("output_tokens_per_second >= 2000").verdict,
        Verdict::Breach
    );
}

#[test]
fn results_are_shown_in_the_unit_the_gate_was_written_in() {
    // 36 successes with TTFT 100…135 ms and 4 failures (10 %), over 10 s.
    let ttfts: Vec<u64> = (100..136).collect();
    let s = summary(vec![("chat".into(), scope(&ttfts, 4, 10.0))], 10.0);
    let line = |text: &str| {
        let g: Gate = text.parse().unwrap();
        evaluate(&g, &s, None).to_string()
    };
    let ms = line("ttft.max < 800ms");
    assert!(ms.contains("(measured 135ms, threshold 800ms"), "{ms}");
    let secs = line("ttft.max < 0.8s");
    assert!(secs.contains("(measured 0.135s, threshold 0.8s"), "{secs}");
    let pct = line("error_rate < 5%");
    assert!(pct.contains("(measured 10%, threshold 5%"), "{pct}");
    let frac = line("error_rate < 0.05");
    assert!(frac.contains("(measured 0.1, threshold 0.05"), "{frac}");
    let rate = line("achieved_rate > 2");
    assert!(rate.contains("(measured 4/s, threshold 2/s"), "{rate}");
    // A relative latency gate shows milliseconds, baseline included.
    let report = report_of(s.clone());
    let base = Baseline::from_report(report, Path::new("prev.json")).unwrap();
    let g: Gate = "ttft.max < 1.1 * baseline".parse().unwrap();
    let rel = evaluate(&g, &s, Some(&base)).to_string();
    assert!(rel.contains("threshold 148.5ms, baseline 135ms"), "{rel}");
}
