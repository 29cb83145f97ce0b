//! The exact merge of shard reports (`llm-soak merge`): the shards of one sharded run (the same
//! config, shards `i/N` each once, the same epoch) become one report whose counts are sums and
//! whose histograms are merged — so its quantiles are those of all the requests, not an average
//! of the shards'. Rates add (the shards ran over the same window); the series' windows are
//! aligned on the shared epoch and merged; events are kept with their shard named. Spike
//! recoveries are judged per shard and are not merged (each shard's stays in its own report);
//! the merged report carries no gates (judge them with `llm-soak gate`).

use std::collections::BTreeMap;

use super::series::{Event, Point, Series};
use super::{Dist, Latency, PhaseScope, RunReport, Scope, Summary, Trust, TrustVerdict};
use crate::record::Quantity;

/// Why reports cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0} has no summary (it measured nothing, or was written before summaries)")]
    NoSummary(String),
    #[error(
        "{0} carries no histograms (a report older than schema 1): it cannot be merged exactly"
    )]
    NoHistograms(String),
    #[error(
        "{0} is not complete (a checkpoint, an interrupted run or a partial merge): merge complete shards"
    )]
    Incomplete(String),
    #[error("{a} and {b} were run with different configs: they are not shards of one run")]
    Config { a: String, b: String },
    #[error("{a} and {b} started at different instants ({sa:.0} and {sb:.0}, Unix): not one run")]
    Epoch {
        a: String,
        b: String,
        sa: f64,
        sb: f64,
    },
    #[error(
        "only {merged} of {of} shards (missing {}): a partial merge is refused unless --allow-partial",
        missing.iter().map(|i| format!("{i}/{of}")).collect::<Vec<_>>().join(", ")
    )]
    Partial {
        merged: u32,
        of: u32,
        missing: Vec<u32>,
    },
    #[error("{what}: shard {shard} of {count}")]
    Shards {
        what: &'static str,
        shard: String,
        count: String,
    },
}

/// (index, count) of a replica's report; `None` for a merged one.
fn shard_of(r: &RunReport) -> Option<(u32, u32)> {
    match r.shard {
        super::ReportShard::Replica { index, count } => Some((index, count)),
        super::ReportShard::Merged { .. } => None,
    }
}

fn merge_dist(parts: &[&Dist]) -> Dist {
    let mut h = crate::report::Hdr::new();
    for d in parts {
        if let Some(x) = &d.hdr {
            h.merge(x);
        }
    }
    Dist::of(&h, true)
}

pub(super) fn merge_scope(parts: &[&Scope]) -> Scope {
    let mut out = Scope::default();
    for p in parts {
        out.started += p.started;
        for o in crate::record::Outcome::ALL {
            out.finished.add(o, p.finished.get(o));
        }
        for (e, n) in &p.error_types {
            *out.error_types.entry(*e).or_default() += n;
        }
        out.tokens.input += p.tokens.input;
        out.tokens.output += p.tokens.output;
    }
    let sum = |f: fn(&Scope) -> Option<f64>| parts.iter().filter_map(|p| f(p)).reduce(|a, b| a + b);
    out.achieved_rate = sum(|s| s.achieved_rate);
    out.tokens.output_per_second = sum(|s| s.tokens.output_per_second);
    let judged = out.finished.judged();
    out.error_rate = (judged > 0).then(|| (judged - out.finished.success) as f64 / judged as f64);
    let mut latency = Latency::default();
    for q in Quantity::ALL {
        *latency.get_mut(q) =
            merge_dist(&parts.iter().map(|p| p.latency.get(q)).collect::<Vec<_>>());
    }
    out.latency = latency;
    let slos: Vec<&super::Attainment> = parts.iter().filter_map(|p| p.slo.as_ref()).collect();
    out.slo = (!slos.is_empty()).then(|| {
        let (met, judged) = slos
            .iter()
            .fold((0, 0), |(m, j), a| (m + a.met, j + a.judged));
        super::Attainment {
            met,
            judged,
            attainment: (judged > 0).then(|| met as f64 / judged as f64),
            goodput: slos.iter().filter_map(|a| a.goodput).reduce(|a, b| a + b),
        }
    });
    out
}

pub(super) fn merge_trust(parts: &[(&str, &Trust)]) -> Trust {
    let verdict = if parts
        .iter()
        .any(|(_, t)| t.verdict == TrustVerdict::ClientLimited)
    {
        TrustVerdict::ClientLimited
    } else if parts
        .iter()
        .all(|(_, t)| t.verdict == TrustVerdict::Trustworthy)
    {
        TrustVerdict::Trustworthy
    } else {
        TrustVerdict::Unknown
    };
    let lag = merge_dist(&parts.iter().map(|(_, t)| &t.client_lag).collect::<Vec<_>>());
    Trust {
        verdict,
        bound_p99: lag.p99,
        client_lag: lag,
        cpu_cores_used: parts
            .iter()
            .filter_map(|(_, t)| t.cpu_cores_used)
            .reduce(|a, b| a + b),
        cpu_cores_available: parts
            .iter()
            .filter_map(|(_, t)| t.cpu_cores_available)
            .reduce(f64::max),
        reasons: parts
            .iter()
            .flat_map(|(s, t)| t.reasons.iter().map(move |r| format!("shard {s}: {r}")))
            .collect(),
    }
}

fn merge_series(parts: &[(&str, &Series)]) -> Series {
    let first = parts[0].1;
    let mut points: Vec<Point> = Vec::new();
    // Windows start on multiples of the step after the shared epoch: group by start and span.
    let mut all: Vec<&Point> = parts.iter().flat_map(|(_, s)| s.points.iter()).collect();
    all.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.span.total_cmp(&b.span)));
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len()
            && (all[j].t - all[i].t).abs() < 0.5
            && (all[j].span - all[i].span).abs() < 0.5
        {
            j += 1;
        }
        let mut merged = Point::merge(&all[i..j]);
        // Shards that share a server each scraped it: its window counts once (by its URL).
        merged.server = BTreeMap::new();
        for p in &all[i..j] {
            for (url, w) in &p.server {
                merged
                    .server
                    .entry(url.clone())
                    .or_insert_with(|| w.clone());
            }
        }
        // Shards ran side by side: their in-flight counts add up in a window.
        merged.gauges.in_flight = all[i..j]
            .iter()
            .filter_map(|p| p.gauges.in_flight)
            .reduce(|a, b| a + b);
        points.push(merged);
        i = j;
    }
    let mut events: Vec<Event> = parts
        .iter()
        .flat_map(|(shard, s)| {
            s.events.iter().map(move |e| Event {
                detail: format!("shard {shard}: {}", e.detail),
                ..e.clone()
            })
        })
        .collect();
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    Series {
        epoch_unix: first.epoch_unix,
        step_seconds: first.step_seconds,
        scopes: first.scopes.clone(),
        points,
        events,
        dropped_points: parts.iter().map(|(_, s)| s.dropped_points).sum(),
        dropped_events: parts.iter().map(|(_, s)| s.dropped_events).sum(),
    }
}

/// Merge the shard reports `reports` (each named by its path in errors): all of a run's shards,
/// or, with `allow_partial`, some of them — a report then marked `partial`.
pub fn merge(
    reports: &[(String, RunReport)],
    allow_partial: bool,
) -> Result<RunReport, MergeError> {
    let (name0, r0) = reports.first().ok_or(MergeError::Empty)?;
    let count = shard_of(r0).map_or(1, |s| s.1);
    let mut seen = vec![false; count as usize];
    for (name, r) in reports {
        if !r.complete || r.interrupted() || r.partial.is_some() {
            return Err(MergeError::Incomplete(name.clone()));
        }
        let s = r
            .summary
            .as_ref()
            .ok_or_else(|| MergeError::NoSummary(name.clone()))?;
        if s.all.finished.success > 0
            && s.all.latency.ttft.hdr.is_none()
            && s.all.latency.e2e.hdr.is_none()
        {
            return Err(MergeError::NoHistograms(name.clone()));
        }
        if r.config != r0.config {
            return Err(MergeError::Config {
                a: name0.clone(),
                b: name.clone(),
            });
        }
        if let (Some(a), Some(b)) = (&r0.series, &r.series)
            && (a.epoch_unix - b.epoch_unix).abs() > 1.0
        {
            return Err(MergeError::Epoch {
                a: name0.clone(),
                b: name.clone(),
                sa: a.epoch_unix,
                sb: b.epoch_unix,
            });
        }
        let bad = |what| MergeError::Shards {
            what,
            shard: r.shard.to_string(),
            count: count.to_string(),
        };
        let (i, n) = shard_of(r).ok_or_else(|| bad("not a shard I/N"))?;
        if n != count {
            return Err(bad("a shard of a run with another shard count"));
        }
        let slot = seen
            .get_mut(i as usize)
            .ok_or_else(|| bad("a shard index out of range"))?;
        if *slot {
            return Err(bad("the same shard twice"));
        }
        *slot = true;
    }
    let names: Vec<String> = reports.iter().map(|(_, r)| r.shard.to_string()).collect();
    let summaries: Vec<(&str, &Summary)> = reports
        .iter()
        .zip(&names)
        .filter_map(|((_, r), name)| r.summary.as_ref().map(|s| (name.as_str(), s)))
        .collect();
    let s0 = summaries[0].1;
    let scope = |f: &dyn Fn(&Summary) -> Option<&Scope>| {
        merge_scope(
            &summaries
                .iter()
                .filter_map(|(_, s)| f(s))
                .collect::<Vec<_>>(),
        )
    };
    let dropped: u64 = summaries.iter().map(|(_, s)| s.dropped).sum();
    let all = scope(&|s| Some(&s.all));
    let offered = all.started + dropped;
    let phase_count = summaries
        .iter()
        .map(|(_, s)| s.phases.len())
        .max()
        .unwrap_or(0);
    let trusts: Vec<(&str, &Trust)> = summaries
        .iter()
        .filter_map(|(shard, s)| s.trust.as_ref().map(|t| (*shard, t)))
        .collect();
    let summary = Summary {
        measured_seconds: summaries
            .iter()
            .map(|(_, s)| s.measured_seconds)
            .fold(0.0, f64::max),
        dropped,
        drop_rate: (offered > 0).then(|| dropped as f64 / offered as f64),
        drops: summaries
            .iter()
            .fold(super::DropCounts::default(), |n, (_, s)| n.plus(s.drops)),
        all,
        scenarios: s0
            .scenarios
            .iter()
            .map(|(name, _)| (name.clone(), scope(&|s| s.scope(Some(name)))))
            .collect(),
        phases: (0..phase_count)
            .map(|i| PhaseScope {
                index: i,
                kind: s0.phases.get(i).map(|p| p.kind.clone()).unwrap_or_default(),
                scope: scope(&|s| s.phases.get(i).map(|p| &p.scope)),
            })
            .collect(),
        spikes: Vec::new(),
        // Each shard saw its own; their times are not one run's.
        disruptions: Vec::new(),
        trust: (!trusts.is_empty()).then(|| merge_trust(&trusts)),
    };
    let series: Vec<(&str, &Series)> = reports
        .iter()
        .zip(&names)
        .filter_map(|((_, r), name)| r.series.as_ref().map(|s| (name.as_str(), s)))
        .collect();
    let mut requests = super::Requests::default();
    for (_, r) in reports {
        requests.started += r.requests.started;
        requests.dropped += r.requests.dropped;
        requests.drops = requests.drops.plus(r.requests.drops);
        for o in crate::record::Outcome::ALL {
            requests.finished.add(o, r.requests.finished.get(o));
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !seen[*i as usize]).collect();
    let partial = (!missing.is_empty()).then(|| super::Partial {
        merged: reports.len() as u32,
        of: count,
        missing: missing.clone(),
    });
    if let Some(p) = partial.as_ref().filter(|_| !allow_partial) {
        return Err(MergeError::Partial {
            merged: p.merged,
            of: p.of,
            missing: p.missing.clone(),
        });
    }
    Ok(RunReport {
        server: super::server::merged(reports.iter().map(|(_, r)| r)),
        schema_version: super::SCHEMA_VERSION,
        llm_soak_version: r0.llm_soak_version.clone(),
        run_id: reports
            .iter()
            .map(|(_, r)| r.run_id.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        shard: super::ReportShard::Merged {
            merged: reports.len() as u32,
            of: count,
        },
        complete: true,
        signal: None,
        elapsed_seconds: reports
            .iter()
            .map(|(_, r)| r.elapsed_seconds)
            .fold(0.0, f64::max),
        requests,
        summary: Some(summary),
        gates: Vec::new(),
        verdict: None,
        series: (series.len() == reports.len()).then(|| merge_series(&series)),
        // Each shard measured its own; they are not one number.
        drift_baselines: Vec::new(),
        config: r0.config.clone(),
        partial,
        phase_verdicts: Vec::new(),
        first_last: None,
        resumes: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
