//! A run that went on after its daemon restarted: its report is what its last checkpoint held
//! (every earlier segment) followed exactly by what the restarted daemon measured — counts add,
//! histograms merge (quantiles over both halves, exact), rates are over the measured time of
//! both — and each restart is a [`Resume`]: when, from which checkpoint, and what was lost. Gates
//! and phase verdicts are judged on the whole (the runner judges after [`append`]). The series is
//! not appended here: the restarted daemon's own went on from the checkpoint's windows
//! (`metrics::series::SeriesSink::preload`), so it is held once.

use serde::{Deserialize, Serialize};

use super::merge::{merge_scope, merge_trust};
use super::{PhaseScope, RunReport, Scope, Summary};

/// One restart the run survived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// When the restarted daemon went on with the run (Unix seconds).
    pub at_unix: f64,
    /// When the checkpoint it went on from was written: what finished between it and the
    /// daemon's death is in no report.
    pub checkpoint_unix: f64,
    /// `at_unix - checkpoint_unix`: at most this much of the run is unrecorded; arrivals due
    /// while the daemon was down were not sent (the schedule went on from where it stood).
    pub gap_seconds: f64,
    /// Requests in flight at that checkpoint, whose end no daemon saw (`requests.lost`).
    pub in_flight_lost: u64,
}

/// Rate of `n_a + n_b` over the time both segments measured, each segment's time read back
/// from its count and rate (a segment with no count adds no time).
fn rate(n_a: u64, r_a: Option<f64>, n_b: u64, r_b: Option<f64>) -> Option<f64> {
    let secs = |n: u64, r: Option<f64>| match r {
        Some(r) if r > 0.0 && n > 0 => n as f64 / r,
        _ => 0.0,
    };
    let t = secs(n_a, r_a) + secs(n_b, r_b);
    (t > 0.0).then(|| (n_a + n_b) as f64 / t)
}

/// One scope over two segments, one after the other.
fn scope(a: &Scope, b: &Scope) -> Scope {
    let mut out = merge_scope(&[a, b]);
    out.achieved_rate = rate(a.started, a.achieved_rate, b.started, b.achieved_rate);
    out.tokens.output_per_second = rate(
        a.tokens.output,
        a.tokens.output_per_second,
        b.tokens.output,
        b.tokens.output_per_second,
    );
    out
}

fn summary(a: &Summary, b: &Summary) -> Summary {
    let empty = Scope::default();
    let dropped = a.dropped + b.dropped;
    let all = scope(&a.all, &b.all);
    let offered = all.started + dropped;
    let phases = (0..a.phases.len().max(b.phases.len()))
        .map(|i| {
            let (pa, pb) = (a.phases.get(i), b.phases.get(i));
            PhaseScope {
                index: i,
                kind: pb.or(pa).map(|p| p.kind.clone()).unwrap_or_default(),
                scope: scope(
                    pa.map_or(&empty, |p| &p.scope),
                    pb.map_or(&empty, |p| &p.scope),
                ),
            }
        })
        .collect();
    let trusts: Vec<(&str, &super::Trust)> =
        [("before the restart", &a.trust), ("after", &b.trust)]
            .into_iter()
            .filter_map(|(k, t)| t.as_ref().map(|t| (k, t)))
            .collect();
    Summary {
        measured_seconds: a.measured_seconds + b.measured_seconds,
        dropped,
        drop_rate: (offered > 0).then(|| dropped as f64 / offered as f64),
        drops: a.drops.plus(b.drops),
        scenarios: b
            .scenarios
            .iter()
            .map(|(name, sb)| {
                let sa = a.scope(Some(name)).unwrap_or(&empty);
                (name.clone(), scope(sa, sb))
            })
            .collect(),
        all,
        phases,
        spikes: a.spikes.iter().chain(&b.spikes).cloned().collect(),
        disruptions: a
            .disruptions
            .iter()
            .chain(&b.disruptions)
            .cloned()
            .collect(),
        trust: match trusts.len() {
            0 => None,
            1 => Some(trusts[0].1.clone()),
            _ => Some(merge_trust(&trusts)),
        },
    }
}

/// The report of a resumed run: `prior` (its last checkpoint before the restart, itself every
/// earlier segment) followed by `now` (the restarted daemon's), with `resume` recorded.
pub fn append(prior: &RunReport, mut now: RunReport, resume: &Resume) -> RunReport {
    let r = &mut now.requests;
    r.started += prior.requests.started;
    r.dropped += prior.requests.dropped;
    r.drops = r.drops.plus(prior.requests.drops);
    for o in crate::record::Outcome::ALL {
        r.finished.add(o, prior.requests.finished.get(o));
    }
    r.lost += prior.requests.lost + resume.in_flight_lost;
    now.summary = match (&prior.summary, &now.summary) {
        (Some(a), Some(b)) => Some(summary(a, b)),
        (a, b) => b.clone().or_else(|| a.clone()),
    };
    if now.server.is_empty() {
        now.server = prior.server.clone();
    }
    now.elapsed_seconds += prior.elapsed_seconds + resume.gap_seconds;
    now.resumes = prior
        .resumes
        .iter()
        .cloned()
        .chain(std::iter::once(resume.clone()))
        .collect();
    now
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
