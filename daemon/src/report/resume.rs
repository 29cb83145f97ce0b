//! A run that went on after its daemon restarted: its report is what its last checkpoint held
//! (every earlier segment) followed exactly by what the restarted daemon measured, and each
//! restart is a [`Resume`]: when, from which checkpoint, and what was lost. The checkpoint's
//! report is [`split`] once, when the daemon starts: its summary — the counts and exact
//! histograms of every earlier segment, and their measured time — seeds the daemon's own
//! (`metrics::SummarySink::seed`), so counts add, histograms merge (quantiles over both halves,
//! exact) and rates are over the measured time of both without a merge per report; the rest
//! ([`Earlier`]) is what [`append`] adds to every report after. Gates and phase verdicts are
//! judged on the whole (the runner judges after [`append`]). The series is not appended here
//! either: the restarted daemon's own went on from the checkpoint's windows
//! (`metrics::series::SeriesSink::preload`), so it is held once.

use serde::{Deserialize, Serialize};

use super::merge::merge_trust;
use super::{Disruption, Requests, RunReport, SpikeResult, Summary, Trust, server::ServerBlock};

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

/// What every report of a resumed run adds to the restarted daemon's own, beside the summary it
/// was seeded with: the earlier segments' request totals, wall time, restarts, engine blocks,
/// and the summary's parts that are results rather than counts (spike and disruption verdicts,
/// the trust verdict before the restart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Earlier {
    pub requests: Requests,
    pub elapsed_seconds: f64,
    pub resumes: Vec<Resume>,
    pub server: Vec<ServerBlock>,
    pub spikes: Vec<SpikeResult>,
    pub disruptions: Vec<Disruption>,
    pub trust: Option<Trust>,
}

/// A checkpoint's report, split for the daemon that goes on with its run: what every report
/// adds, and the summary that seeds the daemon's own (with its histograms; `None` when the
/// checkpoint had none yet). Its series is the caller's to preload first.
pub fn split(prior: RunReport) -> (Earlier, Option<Summary>) {
    let mut summary = prior.summary;
    let taken = summary.as_mut().map(|s| {
        (
            std::mem::take(&mut s.spikes),
            std::mem::take(&mut s.disruptions),
            s.trust.take(),
        )
    });
    let (spikes, disruptions, trust) = taken.unwrap_or_default();
    let earlier = Earlier {
        requests: prior.requests,
        elapsed_seconds: prior.elapsed_seconds,
        resumes: prior.resumes,
        server: prior.server,
        spikes,
        disruptions,
        trust,
    };
    (earlier, summary)
}

/// The report of a resumed run: `now` (the restarted daemon's, whose summary was seeded with
/// the earlier segments') with what came `earlier` added, and `resume` recorded.
pub fn append(earlier: &Earlier, mut now: RunReport, resume: &Resume) -> RunReport {
    let r = &mut now.requests;
    r.started += earlier.requests.started;
    r.dropped += earlier.requests.dropped;
    r.drops = r.drops.plus(earlier.requests.drops);
    for o in crate::record::Outcome::ALL {
        r.finished.add(o, earlier.requests.finished.get(o));
    }
    r.lost += earlier.requests.lost + resume.in_flight_lost;
    if let Some(s) = &mut now.summary {
        s.spikes.splice(0..0, earlier.spikes.iter().cloned());
        s.disruptions
            .splice(0..0, earlier.disruptions.iter().cloned());
        s.trust = match (&earlier.trust, s.trust.take()) {
            (Some(a), Some(b)) => Some(merge_trust(&[("before the restart", a), ("after", &b)])),
            (a, b) => b.or_else(|| a.clone()),
        };
    }
    if now.server.is_empty() {
        now.server = earlier.server.clone();
    }
    now.elapsed_seconds += earlier.elapsed_seconds + resume.gap_seconds;
    now.resumes = earlier
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
