//! The end-of-run report of a bounded run (or a stopped daemon): counts, the exact per-scenario
//! summary (warm-up excluded) and the gates' verdicts, as a terminal table and as JSON. The JSON
//! is written atomically (temp file + rename) and checkpointed during long runs, so a crash at
//! hour 7 loses nothing; `interrupted` marks a run a signal ended.

use std::path::Path;
use std::time::Duration;

use crate::gate::{GateResult, Verdict};
use crate::metrics::RunSummary;
use crate::record::Outcome;
use crate::runner::Signal;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub shard: String,
    pub bounded: bool,
    /// The signal that ended it, if one did.
    pub interrupted: Option<Signal>,
    /// `false` for a checkpoint written while the run goes on.
    pub complete: bool,
    pub started: u64,
    pub dropped: u64,
    /// Indexed like [`Outcome::ALL`].
    pub finished: [u64; 4],
    pub summary: Option<RunSummary>,
    /// Time measured for the summary (after the warm-up).
    pub measured: Duration,
    pub gates: Vec<GateResult>,
    pub elapsed: Duration,
}

impl RunReport {
    /// The worst verdict over the gates (`None` without gates).
    pub fn verdict(&self) -> Option<Verdict> {
        if self.gates.iter().any(|g| g.verdict == Verdict::Breach) {
            Some(Verdict::Breach)
        } else if self
            .gates
            .iter()
            .any(|g| g.verdict == Verdict::Insufficient)
        {
            Some(Verdict::Insufficient)
        } else {
            (!self.gates.is_empty()).then_some(Verdict::Pass)
        }
    }

    /// A human-readable end-of-run summary.
    pub fn render(&self) -> String {
        let mut out = format!(
            "llm-soak run {} {} after {:.1}s{}\nrequests: started {}, dropped {}",
            self.run_id,
            if self.interrupted.is_some() {
                "interrupted"
            } else {
                "finished"
            },
            self.elapsed.as_secs_f64(),
            if self.interrupted.is_some() {
                " (interrupted: true)"
            } else {
                ""
            },
            self.started,
            self.dropped,
        );
        for (o, n) in Outcome::ALL.iter().zip(self.finished) {
            out.push_str(&format!(", {} {n}", o.as_str()));
        }
        if let Some(s) = &self.summary {
            out.push_str(&format!(
                "\nsuccessful requests over {:.1}s measured, seconds (exact HDR percentiles):\n",
                self.measured.as_secs_f64()
            ));
            out.push_str(&s.table());
        }
        if !self.gates.is_empty() {
            out.push_str("gates:\n");
            for g in &self.gates {
                out.push_str(&format!("  {g}\n"));
            }
            if self.interrupted.is_some() {
                out.push_str("  (an interrupted run never passes its gates)\n");
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let finished: serde_json::Map<String, serde_json::Value> = Outcome::ALL
            .iter()
            .zip(self.finished)
            .map(|(o, n)| (o.as_str().to_string(), n.into()))
            .collect();
        serde_json::json!({
            "llm_soak_version": crate::VERSION,
            "run_id": self.run_id,
            "shard": self.shard,
            "complete": self.complete,
            "interrupted": self.interrupted.is_some(),
            "signal": self.interrupted.map(|s| format!("{s:?}")),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "requests": { "started": self.started, "dropped": self.dropped, "finished": finished },
            "summary": self.summary.as_ref().map(|s| s.to_json(self.measured.as_secs_f64())),
            "gates": self.gates,
            "verdict": self.verdict(),
        })
    }

    /// Write the JSON report to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let body = serde_json::to_vec_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, path)
    }
}
