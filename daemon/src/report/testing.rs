//! Hand-built summaries and reports for the tests of the modules that read reports.

use std::time::Duration;

use super::*;

/// A scope whose successes had these TTFTs (ms; TPOT 10 ms, e2e 1 s) and `failed` 5xx
/// failures, over `seconds` of measured time.
pub(crate) fn scope(ttft_ms: &[u64], failed: u64, seconds: f64) -> Scope {
    let mut h: BTreeMap<Quantity, Hdr> = Quantity::ALL.iter().map(|q| (*q, Hdr::new())).collect();
    for &ms in ttft_ms {
        h.entry(Quantity::Ttft)
            .or_default()
            .record(Duration::from_millis(ms));
        h.entry(Quantity::Ttfc)
            .or_default()
            .record(Duration::from_millis(ms));
        h.entry(Quantity::Tpot)
            .or_default()
            .record(Duration::from_millis(10));
        h.entry(Quantity::E2e)
            .or_default()
            .record(Duration::from_secs(1));
    }
    let mut latency = Latency::default();
    for (q, hist) in &h {
        *latency.get_mut(*q) = Dist::of(hist, true);
    }
    let ok = ttft_ms.len() as u64;
    let n = ok + failed;
    Scope {
        started: n,
        finished: Outcomes {
            success: ok,
            error: failed,
            ..Outcomes::default()
        },
        error_types: (failed > 0)
            .then_some((ErrorType::Http5xx, failed))
            .into_iter()
            .collect(),
        error_rate: (n > 0).then(|| failed as f64 / n as f64),
        achieved_rate: Some(n as f64 / seconds),
        tokens: Tokens::default(),
        latency,
        slo: None,
    }
}

/// A complete report of one run with summary `s` (no series, gates or config).
pub(crate) fn report_of(s: Summary) -> RunReport {
    RunReport {
        server: Vec::new(),
        schema_version: SCHEMA_VERSION,
        llm_soak_version: "0.1.0".into(),
        run_id: "r".into(),
        shard: crate::report::ReportShard::Replica { index: 0, count: 1 },
        complete: true,
        signal: None,
        elapsed_seconds: s.measured_seconds,
        requests: Requests::default(),
        summary: Some(s),
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

/// One scope of a window whose requests all succeeded with these TTFTs (ms).
pub(crate) fn ttft_window(ttft_ms: &[u64]) -> series::ScopePoint {
    let mut h = Hdr::with_digits(series::WINDOW_DIGITS);
    for ms in ttft_ms {
        h.record(Duration::from_millis(*ms));
    }
    let n = ttft_ms.len() as u64;
    series::ScopePoint {
        started: n,
        finished: Outcomes {
            success: n,
            ..Outcomes::default()
        },
        latency: series::WindowLatency {
            ttft: series::WindowDist::of(&h),
            ..series::WindowLatency::default()
        },
        ..series::ScopePoint::default()
    }
}

/// A summary of named scenario scopes; `all` is the first one's.
pub(crate) fn summary(scenarios: Vec<(String, Scope)>, seconds: f64) -> Summary {
    Summary {
        measured_seconds: seconds,
        dropped: 0,
        drop_rate: Some(0.0),
        drops: DropCounts::default(),
        all: scenarios
            .first()
            .map(|(_, s)| s.clone())
            .unwrap_or_default(),
        scenarios,
        phases: Vec::new(),
        spikes: Vec::new(),
        disruptions: Vec::new(),
        trust: None,
    }
}
