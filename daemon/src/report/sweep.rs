//! The sweep's document ([`SweepReport`], `kind = "sweep"`): the criteria a step was judged by,
//! every level of the closed-loop ladder (throughput, Little's-law check), every open-loop step
//! (offered and achieved rate, attainment with its interval, errors, latency quantiles, the
//! per-window series, why it stopped, what failed, any sign the client was the limit), and the
//! result — the highest passing rate, the bracket around it, and which criterion failed first.
//! Written and read by these structs only.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The version of the sweep document this build writes.
/// Version 2 added a step's `undecided` (a step that reached its cap before its attainment
/// interval could decide: neither a pass nor a failure) and the result's `undecided_at`.
pub const SWEEP_SCHEMA_VERSION: u32 = 2;

/// One sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub schema_version: u32,
    /// Always `"sweep"` (a run report has no `kind`).
    pub kind: String,
    pub llm_soak_version: String,
    /// Unix time the sweep started.
    pub started_at: f64,
    pub criteria: Criteria,
    pub ladder: Vec<LadderLevel>,
    /// The ladder's throughput estimate (requests/s), `None` when it measured nothing.
    pub estimate: Option<f64>,
    pub steps: Vec<SweepStep>,
    pub result: SweepResult,
    /// The swept config, secrets redacted.
    #[serde(default)]
    pub config: serde_json::Value,
}

/// What a step must meet to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// The lower 95 % Wilson bound of the attainment reaches this…
    pub attainment: f64,
    /// …the error rate stays within this…
    pub error_budget: f64,
    /// …the achieved rate is at least this share of the offered rate…
    pub achieved_ratio: f64,
    /// …and in-flight and TTFT show no upward trend. The search stops when the bracket is this
    /// narrow, relative.
    pub tolerance: f64,
}

/// One level of the closed-loop concurrency ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderLevel {
    pub users: usize,
    /// Completions per second after the level's first third (its warm-up).
    pub throughput: f64,
    /// Mean e2e of those requests (s).
    pub mean_e2e: f64,
    /// Little's law, N = X·R: the users the throughput and latency imply (≈ `users` when the
    /// client kept every user busy).
    pub littles_users: f64,
    pub completed: u64,
    pub errors: u64,
    pub ttft_p50: Option<f64>,
    /// Why this level cannot be trusted, when the client was the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_limited: Option<String>,
}

/// Quantiles of one latency over a step's judged requests (s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub samples: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

/// Why the judged requests missed (a request can miss several bounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Misses {
    /// Failed or timed out (or still unfinished after the drain).
    pub failed: u64,
    pub ttft: u64,
    pub tpot: u64,
    pub e2e: u64,
}

/// One window of a step (by arrival time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepPoint {
    /// Seconds since the step started.
    pub t: f64,
    pub arrivals: u64,
    pub met: u64,
    /// Requests in flight at the window's end.
    pub in_flight: u64,
    pub ttft_p50: Option<f64>,
}

/// Why a step stopped sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStop {
    /// Its estimate was stable and its queue settled.
    Stable,
    /// Its queue clearly ran away (a failure, however short the judged part).
    Overload,
    /// It reached `sweep.max_step`.
    Cap,
    /// The prompt pool ended.
    #[serde(alias = "no prompts")]
    NoPrompts,
}

impl StepStop {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStop::Stable => "stable",
            StepStop::Overload => "overload",
            StepStop::Cap => "cap",
            StepStop::NoPrompts => "no_prompts",
        }
    }
}

/// How a step came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepVerdict {
    Pass,
    Fail,
    /// Stopped at its cap with an attainment interval that straddles the target: no evidence
    /// either way. Never a failure.
    Undecided,
}

impl StepVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            StepVerdict::Pass => "pass",
            StepVerdict::Fail => "FAIL",
            StepVerdict::Undecided => "undecided",
        }
    }
}

/// One open-loop step at a fixed Poisson rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepStep {
    /// The Poisson rate offered (requests/s).
    pub offered_rate: f64,
    /// Requests that completed per second after the warm-up.
    pub achieved_rate: f64,
    /// Seconds the step ran (warm-up included, drain excluded).
    pub duration: f64,
    pub arrivals: u64,
    /// Arrivals not sent because the in-flight cap was reached (the client's limit).
    pub dropped: u64,
    /// Requests judged: started after the warm-up.
    pub judged: u64,
    pub met: u64,
    pub attainment: Option<f64>,
    /// The 95 % Wilson interval of the attainment.
    pub attainment_low: Option<f64>,
    pub attainment_high: Option<f64>,
    pub errors: u64,
    pub error_rate: Option<f64>,
    /// Met requests per second (goodput).
    pub goodput: f64,
    pub misses: Misses,
    pub ttft: Quantiles,
    pub tpot: Quantiles,
    pub e2e: Quantiles,
    /// How late requests were sent after their arrival (p99, s): the client's own lag.
    pub schedule_lag_p99: Option<f64>,
    /// Mean in-flight over the first and last third of the judged part.
    pub in_flight_first: f64,
    pub in_flight_last: f64,
    /// In-flight and TTFT grew over the step (a queue building up).
    pub trend: bool,
    /// Why it stopped sending.
    pub stopped: StepStop,
    pub pass: bool,
    /// The criteria it failed, in words.
    pub failed: Vec<String>,
    /// Why it is undecided (neither passed nor failed), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecided: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_limited: Option<String>,
    pub series: Vec<StepPoint>,
    /// The step's requests after its warm-up, as a run's report has them (statistics of every
    /// latency, outcomes, error types, tokens, SLO attainment): the same summary a run writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<super::Scope>,
}

impl SweepStep {
    pub fn verdict(&self) -> StepVerdict {
        if self.pass {
            StepVerdict::Pass
        } else if self.undecided.is_some() {
            StepVerdict::Undecided
        } else {
            StepVerdict::Fail
        }
    }

    /// The verdict with its reasons, for a table's last column.
    pub fn verdict_line(&self) -> String {
        match self.verdict() {
            StepVerdict::Pass => "pass".into(),
            StepVerdict::Fail => format!("FAIL: {}", self.failed.join("; ")),
            StepVerdict::Undecided => format!(
                "undecided: {}",
                self.undecided.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// What the sweep found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The highest rate that passed (requests/s).
    pub capacity: Option<f64>,
    /// Its goodput (met requests/s).
    pub goodput: Option<f64>,
    /// The lowest rate that failed above it.
    pub failed_at: Option<f64>,
    /// What failed at `failed_at` ("attainment … (ttft: 41 misses)", "achieved/offered …").
    pub first_failure: Option<String>,
    /// A step's result rests on a client that could not offer its load.
    pub client_limited: bool,
    /// The rate where the search stopped on an undecided step (below `failed_at`, if any):
    /// the capacity may lie above `capacity` up to here, unproven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecided_at: Option<f64>,
    pub notes: Vec<String>,
}

impl SweepResult {
    /// The result in one sentence (the terminal and the HTML page).
    pub fn line(&self) -> String {
        let undecided = self.undecided_at.map_or(String::new(), |u| {
            format!("; undecided at {u:.2} req/s (steps too short to decide: see the notes)")
        });
        let why = self.first_failure.as_deref().unwrap_or("-");
        match (self.capacity, self.failed_at, self.undecided_at) {
            (Some(c), Some(f), _) => format!(
                "capacity: {c:.2} req/s (goodput {:.2}/s); fails at {f:.2} req/s: {why}{undecided}",
                self.goodput.unwrap_or(0.0),
            ),
            (Some(c), None, _) => {
                format!("capacity: at least {c:.2} req/s (no step failed){undecided}")
            }
            (None, Some(f), Some(u)) => format!(
                "capacity: undecided — steps up to {u:.2} req/s were too short to decide (see the notes); fails at {f:.2} req/s: {why}"
            ),
            (None, Some(_), None) => {
                format!("capacity: none found — even the lowest step failed: {why}")
            }
            (None, None, Some(u)) => format!(
                "capacity: undecided — no step failed, and none could pass in the time it had (up to {u:.2} req/s): see the notes"
            ),
            (None, None, None) => "capacity: none found — no step ran".into(),
        }
    }
}

impl SweepReport {
    /// Write the JSON atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::files::write_json_atomic(path, self, true)
    }

    /// Read a sweep document.
    pub fn load(path: &Path) -> Result<SweepReport, super::ReportError> {
        use super::ReportError;
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let not = |why: String| ReportError::NotAReport {
            path: path.to_path_buf(),
            why,
        };
        let r: SweepReport = serde_json::from_str(&text).map_err(|e| not(e.to_string()))?;
        if r.kind != "sweep" {
            return Err(not(format!("its kind is {:?}, not \"sweep\"", r.kind)));
        }
        if r.schema_version > SWEEP_SCHEMA_VERSION {
            return Err(not(format!(
                "a sweep of schema version {}; this llm-soak reads up to {SWEEP_SCHEMA_VERSION}",
                r.schema_version
            )));
        }
        Ok(r)
    }

    /// The terminal table: one line per ladder level and step, then the result.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let ms = |s: Option<f64>| s.map_or("-".to_string(), |v| format!("{:.0}", v * 1000.0));
        let mut o = String::new();
        let _ = writeln!(o, "ladder (closed loop)\n  users  req/s   mean e2e  N=X·R");
        for l in &self.ladder {
            let _ = writeln!(
                o,
                "  {:>5}  {:>6.2}  {:>7.0}ms  {:>5.1}{}",
                l.users,
                l.throughput,
                l.mean_e2e * 1000.0,
                l.littles_users,
                l.client_limited
                    .as_deref()
                    .map_or(String::new(), |w| format!("  client-limited: {w}"))
            );
        }
        if let Some(e) = self.estimate {
            let _ = writeln!(o, "  estimate: {e:.2} req/s");
        }
        let _ = writeln!(
            o,
            "\nsteps (open loop, Poisson)\n  offered  achieved  judged  attainment [95% CI]     errors  TTFT p99  TPOT p99  stopped   verdict"
        );
        for s in &self.steps {
            let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
            let _ = writeln!(
                o,
                "  {:>7.2}  {:>8.2}  {:>6}  {:>6} [{:>6}, {:>6}]  {:>6}  {:>6}ms  {:>6}ms  {:<8}  {}",
                s.offered_rate,
                s.achieved_rate,
                s.judged,
                pct(s.attainment),
                pct(s.attainment_low),
                pct(s.attainment_high),
                pct(s.error_rate),
                ms(s.ttft.p99),
                ms(s.tpot.p99),
                s.stopped.as_str(),
                s.verdict_line(),
            );
        }
        let r = &self.result;
        let _ = writeln!(o, "\n{}", r.line());
        for n in &r.notes {
            let _ = writeln!(o, "note: {n}");
        }
        o
    }
}
