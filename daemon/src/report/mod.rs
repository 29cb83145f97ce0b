//! The run report: one typed, versioned document ([`RunReport`], `schema_version`) that the
//! terminal summary ([`render`]), the JSON file, gates, relative gates and the status API all
//! use — written and read by the same serde structs, never by key strings. It holds counts, the
//! exact per-scope summary (warm-up excluded) with each latency's statistics *and* its exact HDR
//! histogram ([`hdr`]), spike recoveries and the gates' verdicts. The JSON is written atomically
//! (temp file + rename) and checkpointed during long runs, so a crash at hour 7 loses nothing;
//! `signal` marks a run a signal ended.
//!
//! Schema history: version 1 added `schema_version` and the `hdr` histograms to the fields of
//! the unversioned (0) reports, which are still read (without histograms); version 2 added the
//! run's time series ([`series`]) and `config`, the run's config with its secrets redacted;
//! version 3 split the arrivals not sent by reason (`drops`) and keeps a spent budget and a
//! shutdown out of `dropped` and `drop_rate`, which now count capacity drops only; version 5
//! added the `aborted` outcome, the disruptions and the per-phase verdicts; version 6 the
//! `resumes` of a run that went on after its daemon restarted ([`resume`]) and `requests.lost`.

mod counts;
pub mod hdr;
pub mod merge;
pub mod phases;
mod render;
pub mod resume;
pub mod series;
pub mod server;
mod shard;
pub mod sweep;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::record::{ErrorType, Quantity, Stat};
pub use counts::{DropCounts, Outcomes, Requests};
pub use hdr::Hdr;
pub use shard::ReportShard;

/// The version of the report document this build writes.
pub const SCHEMA_VERSION: u32 = 6;

/// The signal that ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopSignal {
    /// SIGINT (exit 130 for a bounded run).
    Interrupt,
    /// SIGTERM (exit 143 for a bounded run; 0 for a daemon that drained).
    Terminate,
}

/// How a gate (or a set of gates) came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Breach,
    Insufficient,
}

/// One gate's verdict, with the numbers it was judged on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: String,
    pub verdict: Verdict,
    pub measured: Option<f64>,
    /// The threshold the measured value was compared with (after applying the baseline).
    pub threshold: Option<f64>,
    /// The earlier report's value, for a relative gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub samples: u64,
    pub min_samples: u64,
    /// The unit the gate was written in, to show the numbers in (`ms`, `s`, `%`, `/s`; `""`
    /// a plain fraction) and how many of it make one of `measured`'s base unit; absent in
    /// reports before schema 3 (then shown as written down: seconds, fractions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<(String, f64)>,
    /// Why there is no verdict on the numbers (e.g. the baseline lacks the metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One latency quantity's distribution over a scope: statistics in seconds and, from schema
/// version 1, the exact histogram they were computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub samples: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    #[serde(rename = "p99.9")]
    pub p99_9: Option<f64>,
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<Hdr>,
}

impl Dist {
    /// The statistics of `h`, with the histogram itself when `keep`.
    pub fn of(h: &Hdr, keep: bool) -> Dist {
        Dist {
            samples: h.count(),
            min: h.quantile(0.0),
            mean: h.mean(),
            p50: h.quantile(0.5),
            p90: h.quantile(0.9),
            p95: h.quantile(0.95),
            p99: h.quantile(0.99),
            p99_9: h.quantile(0.999),
            max: h.quantile(1.0),
            hdr: keep.then(|| h.clone()),
        }
    }

    /// A statistic: exact from the histogram when the report carries it, else one of the
    /// statistics written down (`None` for a quantile an unversioned report lacks).
    pub fn stat(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::Mean => self.mean,
            Stat::Max => self.max,
            Stat::Quantile(q) => match &self.hdr {
                Some(h) => h.quantile(q),
                None => [
                    (0.5, self.p50),
                    (0.9, self.p90),
                    (0.95, self.p95),
                    (0.99, self.p99),
                    (0.999, self.p99_9),
                ]
                .into_iter()
                .find(|(k, _)| (k - q).abs() < 1e-9)
                .and_then(|(_, v)| v),
            },
        }
    }
}

/// The latency quantities of a scope (record::Quantity).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub ttft: Dist,
    pub ttfc: Dist,
    pub tpot: Dist,
    pub itl: Dist,
    pub e2e: Dist,
    #[serde(default)]
    pub ttfa: Dist,
    #[serde(default)]
    pub corrected_ttft: Dist,
    #[serde(default)]
    pub corrected_e2e: Dist,
    #[serde(default)]
    pub schedule_lag: Dist,
    #[serde(default)]
    pub e2e_per_token: Dist,
}

impl Latency {
    pub fn get(&self, q: Quantity) -> &Dist {
        match q {
            Quantity::Ttft => &self.ttft,
            Quantity::Ttfc => &self.ttfc,
            Quantity::Tpot => &self.tpot,
            Quantity::Itl => &self.itl,
            Quantity::E2e => &self.e2e,
            Quantity::Ttfa => &self.ttfa,
            Quantity::CorrectedTtft => &self.corrected_ttft,
            Quantity::CorrectedE2e => &self.corrected_e2e,
            Quantity::ScheduleLag => &self.schedule_lag,
            Quantity::E2ePerToken => &self.e2e_per_token,
        }
    }

    pub fn get_mut(&mut self, q: Quantity) -> &mut Dist {
        match q {
            Quantity::Ttft => &mut self.ttft,
            Quantity::Ttfc => &mut self.ttfc,
            Quantity::Tpot => &mut self.tpot,
            Quantity::Itl => &mut self.itl,
            Quantity::E2e => &mut self.e2e,
            Quantity::Ttfa => &mut self.ttfa,
            Quantity::CorrectedTtft => &mut self.corrected_ttft,
            Quantity::CorrectedE2e => &mut self.corrected_e2e,
            Quantity::ScheduleLag => &mut self.schedule_lag,
            Quantity::E2ePerToken => &mut self.e2e_per_token,
        }
    }
}

/// Tokens of a scope's successful requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub output_per_second: Option<f64>,
}

/// How many of a scope's judged requests met their scenario's latency SLO (`[slo]`): a failure
/// or a timeout is a miss, a cancelled request is not judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Attainment {
    pub met: u64,
    pub judged: u64,
    /// met ÷ judged.
    pub attainment: Option<f64>,
    /// Requests that met the SLO per second of the measured time.
    pub goodput: Option<f64>,
}

/// Counts and latencies of one scope (all, a scenario, a phase).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub started: u64,
    pub finished: Outcomes,
    pub error_types: BTreeMap<ErrorType, u64>,
    /// Failed share of the judged requests.
    pub error_rate: Option<f64>,
    /// Started requests per second of the measured time.
    pub achieved_rate: Option<f64>,
    pub tokens: Tokens,
    pub latency: Latency,
    /// Against the latency SLO, when one applies to the scope's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Attainment>,
}

/// A load phase's scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseScope {
    pub index: usize,
    /// The phase's kind (`steady`, `spike`, …).
    pub kind: String,
    #[serde(flatten)]
    pub scope: Scope,
}

/// TTFT p95 (seconds) and error rate over some requests, for spike recovery.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub ttft_p95: Option<f64>,
    pub error_rate: Option<f64>,
    pub requests: u64,
}

/// What one spike occurrence did and how long the target took to get over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeResult {
    pub phase: u32,
    /// Which pass of the phase list (0-based; > 0 with `repeat`).
    pub pass: u64,
    /// When the spike started, seconds after the run's epoch.
    pub spike_start_seconds: f64,
    pub spike_seconds: f64,
    pub pre_spike: Level,
    pub during_spike: Level,
    pub recovered: bool,
    /// Seconds after the spike ended from which every later window was within tolerance.
    pub recovery_seconds: Option<f64>,
    /// How long after the spike there were requests to judge.
    pub observed_seconds: f64,
    pub window_seconds: f64,
    pub latency_tolerance: f64,
    pub error_tolerance: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A disruption of the target (a restart, a hook) and how long it took to get over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disruption {
    /// What happened: `target restart` (a new pid), `engine restart` (its counters reset),
    /// `hook (phase N start|end)`.
    pub cause: String,
    /// When, seconds after the run's epoch.
    pub at_seconds: f64,
    /// From the disruption to the end of the first successful request sent after it.
    pub first_success_seconds: Option<f64>,
    pub recovered: bool,
    /// Seconds after the disruption from which every later window was within tolerance of the
    /// level before it.
    pub recovery_seconds: Option<f64>,
    /// The last minute before it.
    pub before: Level,
    pub observed_seconds: f64,
    pub window_seconds: f64,
    pub latency_tolerance: f64,
    pub error_tolerance: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Whether a run's numbers can be trusted (the [`crate::trust`] module measures it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustVerdict {
    /// The client kept up: chunk timestamps are late by at most `bound_p99` at p99.
    Trustworthy,
    /// The client fell behind; `reasons` says how. Latencies include the client's own delay.
    ClientLimited,
    /// Nothing measured yet.
    Unknown,
}

/// The client's self-certification: its measured lag, the CPU it used, the bound that gives
/// the run's latencies and the verdict, with every reason for a client-limited one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trust {
    pub verdict: TrustVerdict,
    /// The p99 of the client's lag (seconds): how late a chunk timestamp can be, at p99.
    pub bound_p99: Option<f64>,
    /// The client's lag: from a socket becoming readable to the runtime timestamping the read.
    pub client_lag: Dist,
    /// Cores the daemon used on average since the run started.
    pub cpu_cores_used: Option<f64>,
    pub cpu_cores_available: Option<f64>,
    pub reasons: Vec<String>,
}

/// The exact summary of the measured part of a run (warm-up excluded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub measured_seconds: f64,
    /// Arrivals dropped for want of capacity (the in-flight or sessions cap).
    pub dropped: u64,
    /// Dropped share of the offered arrivals (started + dropped; [`NotSent`] is not offered).
    pub drop_rate: Option<f64>,
    /// Arrivals not sent, by reason (from schema version 3); only the capacity reasons are in
    /// `dropped` and `drop_rate`.
    #[serde(default)]
    pub drops: DropCounts,
    /// The soak's own requests (the canary's are kept out).
    pub all: Scope,
    /// By scenario name, in the config's order (a JSON object).
    #[serde(with = "named")]
    pub scenarios: Vec<(String, Scope)>,
    pub phases: Vec<PhaseScope>,
    pub spikes: Vec<SpikeResult>,
    /// Target restarts and hooks, and the recovery from each (from schema version 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disruptions: Vec<Disruption>,
    /// The client's self-certification (absent from reports written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
}

impl Summary {
    /// The scope of a scenario by name (`None`: all).
    pub fn scope(&self, scenario: Option<&str>) -> Option<&Scope> {
        match scenario {
            None => Some(&self.all),
            Some(n) => self.scenarios.iter().find(|(k, _)| k == n).map(|(_, v)| v),
        }
    }
}

/// `Vec<(name, T)>` as a JSON object, keeping its order.
mod named {
    use serde::de::{MapAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, T: Serialize>(
        v: &[(String, T)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(k, t)| (k, t)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<(String, T)>, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Vec<(String, T)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of named scopes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A scenario's drift baseline (`[baseline]`): TTFT and TPOT as measured after the warm-up,
/// the reference the drift alerts and the report's drift table compare with (seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftBaseline {
    pub scenario: String,
    pub ttft_mean: Option<f64>,
    pub ttft_p50: Option<f64>,
    pub tpot_mean: Option<f64>,
    pub tpot_p50: Option<f64>,
    pub samples: u64,
    /// Unix time it was set.
    pub computed_at: u64,
}

/// How a run ended, and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// 0 for reports written before the schema was versioned.
    #[serde(default)]
    pub schema_version: u32,
    pub llm_soak_version: String,
    pub run_id: String,
    /// The part of the run it covers: `I/N`, or a merge (`all N`, `M of N`).
    pub shard: ReportShard,
    /// `false` for a checkpoint written while the run goes on.
    pub complete: bool,
    /// The signal that ended it, if one did: an interrupted run ([`RunReport::interrupted`]).
    /// (Reports before schema 3 also carried `interrupted`, always `signal` ≠ null.)
    pub signal: Option<StopSignal>,
    pub elapsed_seconds: f64,
    pub requests: Requests,
    pub summary: Option<Summary>,
    pub gates: Vec<GateResult>,
    /// The worst verdict over the gates (`None` without gates).
    pub verdict: Option<Verdict>,
    /// The run's time series (from schema version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<series::Series>,
    /// The drift baselines set by the end of the run (from schema version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift_baselines: Vec<DriftBaseline>,
    /// The run's config with its secrets redacted, as JSON (from schema version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// What each scraped target's engine said (schema version 4; empty without scraping).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<server::ServerBlock>,
    /// Each load phase judged on the `[gates] per_phase` rules (from schema version 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phase_verdicts: Vec<phases::PhaseVerdict>,
    /// The last steady phase against the first (a run with two or more steady phases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_last: Option<phases::FirstLast>,
    /// Each restart of the daemon the run went on through (from schema version 6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<resume::Resume>,
    /// A merge of only some of a run's shards (`merge --allow-partial`, schema version 3):
    /// which were missing. Gates, relative gates and `compare` refuse it as a base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

/// The shards a partial merge lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    /// Shards merged.
    pub merged: u32,
    /// Shards of the run.
    pub of: u32,
    /// The indices of the shards that were not merged.
    pub missing: Vec<u32>,
}

/// Why a report file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read the report {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an llm-soak report: {why}")]
    NotAReport {
        path: std::path::PathBuf,
        why: String,
    },
    #[error(
        "{path} is a report of schema version {version}; this llm-soak reads up to {SCHEMA_VERSION}"
    )]
    TooNew {
        path: std::path::PathBuf,
        version: u32,
    },
}

/// The worst of some verdicts (`None` for none).
pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
    verdicts.into_iter().fold(None, |acc, v| match (acc, v) {
        (Some(Verdict::Breach), _) | (_, Verdict::Breach) => Some(Verdict::Breach),
        (Some(Verdict::Insufficient), _) | (_, Verdict::Insufficient) => {
            Some(Verdict::Insufficient)
        }
        _ => Some(Verdict::Pass),
    })
}

impl RunReport {
    /// Read a report file (any schema version up to this build's).
    pub fn load(path: &Path) -> Result<RunReport, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse a report's JSON; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<RunReport, ReportError> {
        let not = |why: String| ReportError::NotAReport {
            path: path.to_path_buf(),
            why,
        };
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            schema_version: u32,
            llm_soak_version: Option<String>,
        }
        let probe: Probe = serde_json::from_str(text).map_err(|e| not(e.to_string()))?;
        if probe.llm_soak_version.is_none() {
            return Err(not("no llm_soak_version".into()));
        }
        if probe.schema_version > SCHEMA_VERSION {
            return Err(ReportError::TooNew {
                path: path.to_path_buf(),
                version: probe.schema_version,
            });
        }
        serde_json::from_str(text).map_err(|e| not(e.to_string()))
    }

    /// Write the JSON report to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::files::write_json_atomic(path, self, true)
    }

    /// Whether a signal ended the run before its end.
    pub fn interrupted(&self) -> bool {
        self.signal.is_some()
    }

    /// Why this report is not the whole of a finished run — interrupted by a signal, a
    /// checkpoint of a run still going, or a partial merge — or `None` when it is. Such a
    /// report is never gated on, nor used as a baseline or a comparison's base.
    pub fn unfinished(&self) -> Option<String> {
        if self.interrupted() {
            return Some("a run interrupted before its end".into());
        }
        if !self.complete {
            return Some("a checkpoint of a run still going".into());
        }
        self.partial.as_ref().map(|p| {
            let missing: Vec<String> = p.missing.iter().map(|i| format!("{i}/{}", p.of)).collect();
            format!(
                "a partial merge ({} of {} shards; missing {})",
                p.merged,
                p.of,
                missing.join(", ")
            )
        })
    }

    /// When requests were sent and not one succeeded (all failed or timed out): what they
    /// failed with, e.g. `15 requests, none succeeded: http_4xx 15`.
    pub fn no_success(&self) -> Option<String> {
        let r = &self.requests;
        let failed = r.finished.error + r.finished.timeout;
        if r.started == 0 || r.finished.success > 0 || failed == 0 {
            return None;
        }
        let mut by_type: BTreeMap<ErrorType, u64> = BTreeMap::new();
        for (_, scope) in self.summary.iter().flat_map(|s| &s.scenarios) {
            for (e, n) in &scope.error_types {
                *by_type.entry(*e).or_default() += n;
            }
        }
        let types = render::error_types(&by_type);
        Some(format!(
            "{} requests, none succeeded{}",
            r.started,
            if types.is_empty() {
                String::new()
            } else {
                format!(": {types}")
            }
        ))
    }

    /// A human-readable end-of-run summary.
    pub fn render(&self) -> String {
        render::report(self)
    }
}

/// Hand-built summaries for the tests of modules that read reports.
#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
