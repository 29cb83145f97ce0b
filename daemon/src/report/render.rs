//! The terminal summary of a [`RunReport`]: counts, a fixed-width latency table per scope
//! (all, each scenario, each phase of a multi-phase shape), spike recoveries, the client's
//! self-certification and gate verdicts.
//! Rendered from the typed report only, so what the terminal says is what the JSON says.

use std::fmt::Write as _;

use super::{GateResult, RunReport, Scope, Summary, Trust, TrustVerdict, Verdict};
use crate::record::{ErrorType, Outcome, Quantity};

pub(super) fn report(r: &RunReport) -> String {
    let interrupted = r.interrupted();
    let mut out = format!(
        "llm-soak run {} {} after {:.1}s{}\nrequests: started {}, dropped {}",
        r.run_id,
        if interrupted {
            "interrupted"
        } else {
            "finished"
        },
        r.elapsed_seconds,
        if interrupted {
            " (interrupted: true)"
        } else {
            ""
        },
        r.requests.started,
        r.requests.dropped,
    );
    let caps = r.requests.drops.describe(true);
    if !caps.is_empty() {
        let _ = write!(out, " ({caps})");
    }
    let by_design = r.requests.drops.describe(false);
    if !by_design.is_empty() {
        let _ = write!(out, ", not sent by design {by_design}");
    }
    for o in Outcome::ALL {
        let _ = write!(out, ", {} {}", o.as_str(), r.requests.finished.get(o));
    }
    if r.requests.lost > 0 {
        let _ = write!(out, ", lost {}", r.requests.lost);
    }
    if !r.resumes.is_empty() {
        let gaps: Vec<String> = r
            .resumes
            .iter()
            .map(|x| format!("{:.0}s", x.gap_seconds))
            .collect();
        let _ = write!(
            out,
            "\nresumed after {} restart(s) of the daemon: since the last checkpoint {} unrecorded, {} requests in flight lost (docs/operating.md)",
            r.resumes.len(),
            gaps.join(", "),
            r.resumes.iter().map(|x| x.in_flight_lost).sum::<u64>(),
        );
    }
    if let Some(s) = &r.summary {
        let _ = write!(
            out,
            "\nsuccessful requests over {:.1}s measured, seconds (exact HDR percentiles):\n",
            s.measured_seconds
        );
        out.push_str(&summary(s));
    }
    for b in &r.server {
        out.push_str(&super::server::render(b));
    }
    if !r.gates.is_empty() {
        out.push_str("gates:\n");
        for g in &r.gates {
            let _ = writeln!(out, "  {}", gate(g));
        }
        if interrupted {
            out.push_str("  (an interrupted run never passes its gates)\n");
        }
    }
    out.push_str(&super::phases::render(
        &r.phase_verdicts,
        r.first_last.as_ref(),
    ));
    out
}

impl std::fmt::Display for GateResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&gate(self))
    }
}

/// One gate's line.
pub(super) fn gate(g: &GateResult) -> String {
    let v = match g.verdict {
        Verdict::Pass => "PASS",
        Verdict::Breach => "BREACHED",
        Verdict::Insufficient => "INSUFFICIENT DATA",
    };
    // In the unit the gate was written in (`812.4ms`, `0.52%`); bare base units for reports
    // written before the unit was recorded.
    let num = |x: Option<f64>| match (x, &g.unit) {
        (None, _) => "-".to_string(),
        (Some(m), Some((symbol, scale))) => format!("{}{symbol}", significant(m * scale)),
        (Some(m), None) => format!("{m:.6}"),
    };
    let mut line = format!(
        "{v:<18} {}  (measured {}, threshold {}",
        g.gate,
        num(g.measured),
        num(g.threshold)
    );
    if g.baseline.is_some() {
        let _ = write!(line, ", baseline {}", num(g.baseline));
    }
    let _ = write!(line, ", {} samples, minimum {})", g.samples, g.min_samples);
    if let Some(n) = &g.note {
        let _ = write!(line, ": {n}");
    }
    line
}

/// A number with four significant digits, without trailing zeros (`812.4`, `0.005123`, `12`).
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Failures by error type, most frequent first: `http_4xx 15, connect 2` (empty: none).
pub(super) fn error_types(types: &std::collections::BTreeMap<ErrorType, u64>) -> String {
    let mut v: Vec<(&ErrorType, &u64)> = types.iter().filter(|(_, n)| **n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(e, n)| format!("{} {n}", e.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn scope(out: &mut String, name: &str, s: &Scope) {
    let f = &s.finished;
    let _ = writeln!(
        out,
        "[{name}] started {}, success {}, error {}, timeout {}, cancelled {}, aborted {}, error rate {}",
        s.started,
        f.success,
        f.error,
        f.timeout,
        f.cancelled,
        f.aborted,
        s.error_rate
            .map_or("-".into(), |r| format!("{:.2} %", r * 100.0)),
    );
    let errors = error_types(&s.error_types);
    if !errors.is_empty() {
        let _ = writeln!(out, "  errors by type: {errors}");
    }
    if let Some(a) = &s.slo {
        let _ = writeln!(
            out,
            "  slo: attainment {} ({} of {} judged met every bound), goodput {} req/s",
            a.attainment
                .map_or("-".into(), |r| format!("{:.2} %", r * 100.0)),
            a.met,
            a.judged,
            a.goodput.map_or("-".into(), |g| format!("{g:.2}")),
        );
    }
    let _ = writeln!(
        out,
        "  {:<14} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "samples", "mean", "p50", "p90", "p95", "p99", "max"
    );
    for q in Quantity::ALL {
        let d = s.latency.get(q);
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            out,
            "  {:<14} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            q.as_str(),
            d.samples,
            f(d.mean),
            f(d.p50),
            f(d.p90),
            f(d.p95),
            f(d.p99),
            f(d.max),
        );
    }
}

/// A fixed-width table per scope (seconds), then the spike recoveries.
pub(super) fn summary(s: &Summary) -> String {
    let mut out = String::new();
    // A canary-only run has no soak requests: its scopes say it all, without an empty [all].
    let only_canary = s.all.started == 0 && s.scenarios.iter().any(|(_, sc)| sc.started > 0);
    if !only_canary {
        scope(&mut out, "all", &s.all);
    }
    for (name, sc) in &s.scenarios {
        if sc.started > 0 {
            scope(&mut out, name, sc);
        }
    }
    if s.phases.len() > 1 {
        for p in &s.phases {
            if p.scope.started > 0 {
                scope(
                    &mut out,
                    &format!("phase {}: {}", p.index, p.kind),
                    &p.scope,
                );
            }
        }
    }
    for r in &s.spikes {
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2} %", v * 100.0));
        let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}s"));
        let _ = writeln!(
            out,
            "[spike: phase {}, pass {}, at {:.0}s for {:.0}s] TTFT p95 {} before, {} during; errors {} before, {} during",
            r.phase,
            r.pass,
            r.spike_start_seconds,
            r.spike_seconds,
            secs(r.pre_spike.ttft_p95),
            secs(r.during_spike.ttft_p95),
            pct(r.pre_spike.error_rate),
            pct(r.during_spike.error_rate),
        );
        let _ = match r.recovery_seconds {
            Some(secs) => writeln!(
                out,
                "  recovered {secs:.0}s after the spike ended ({:.0}s windows within +{:.0} % TTFT p95 and +{:.1} pt errors)",
                r.window_seconds,
                r.latency_tolerance * 100.0,
                r.error_tolerance * 100.0
            ),
            None => writeln!(out, "  not recovered: {}", r.note.as_deref().unwrap_or("-")),
        };
    }
    for d in &s.disruptions {
        let secs = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}s"));
        let _ = writeln!(
            out,
            "[{} at {:.0}s] first success after {}; {}",
            d.cause,
            d.at_seconds,
            secs(d.first_success_seconds),
            match d.recovery_seconds {
                Some(r) => format!(
                    "back within tolerance after {r:.0}s ({:.0}s windows within +{:.0} % TTFT p95 and +{:.1} pt errors of the minute before)",
                    d.window_seconds,
                    d.latency_tolerance * 100.0,
                    d.error_tolerance * 100.0
                ),
                None => format!("not recovered: {}", d.note.as_deref().unwrap_or("-")),
            }
        );
    }
    if let Some(t) = &s.trust {
        trust(&mut out, t);
    }
    out
}

/// The client's self-certification: its verdict, the bound it puts on the timestamps, why.
fn trust(out: &mut String, t: &Trust) {
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.3} ms", v * 1e3));
    let verdict = match t.verdict {
        TrustVerdict::Trustworthy => "trustworthy",
        TrustVerdict::ClientLimited => "CLIENT-LIMITED",
        TrustVerdict::Unknown => "unknown (no probe readings yet)",
    };
    let cores = match (t.cpu_cores_used, t.cpu_cores_available) {
        (Some(u), Some(n)) => format!(", {u:.2} of {n:.0} cores used"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "[client] {verdict}: timestamps late by at most {} at p99, so ITL/TPOT within that and TTFT/e2e (a send and a receive) within twice that (client lag p50 {}, max {}, {} probes{cores})",
        ms(t.bound_p99),
        ms(t.client_lag.p50),
        ms(t.client_lag.max),
        t.client_lag.samples,
    );
    for r in &t.reasons {
        let _ = writeln!(out, "  {r}");
    }
}
