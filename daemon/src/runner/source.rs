//! The run's report as of any moment — from the recorder's totals, the summary, the series, the
//! baselines and the gates — for the checkpoints, the live page and the end of the run.

use std::sync::Arc;

use tokio::time::Instant;

use super::window;
use crate::gate::Gates;
use crate::metrics::Recorder;
use crate::metrics::run::RunIdentity;
use crate::metrics::series::SeriesSink;
use crate::record::Outcome;
use crate::report::{Outcomes, Requests, RunReport, SCHEMA_VERSION, StopSignal};
use crate::server;

/// What the report of a run is built from.
#[derive(Debug, Clone)]
pub(super) struct ReportSource {
    pub(super) recorder: Arc<Recorder>,
    pub(super) live: Arc<window::Live>,
    pub(super) series: Arc<SeriesSink>,
    pub(super) baselines: Arc<crate::metrics::baseline::BaselineSink>,
    /// The run's config, secrets redacted.
    pub(super) config: Option<serde_json::Value>,
    pub(super) identity: RunIdentity,
    pub(super) gates: Gates,
    pub(super) started: Instant,
    /// The scrapes of the targets' engines, and each request scope's target.
    pub(super) engines: Option<Arc<super::scrape::Engines>>,
    pub(super) scope_targets: Vec<usize>,
}

impl ReportSource {
    /// The report as of now (`complete` once the run has drained).
    pub(super) fn snapshot(&self, stopped_by: Option<StopSignal>, complete: bool) -> RunReport {
        self.build(stopped_by, complete, true, 0.0)
    }

    /// The report, with the summary's histograms when `keep` and the windows after `since`.
    fn build(
        &self,
        stopped_by: Option<StopSignal>,
        complete: bool,
        keep: bool,
        since: f64,
    ) -> RunReport {
        let t = &self.recorder.totals;
        let summary = Some(self.live.summary(keep));
        let gates = summary
            .as_ref()
            .map_or_else(Vec::new, |s| self.gates.judge(s));
        let phase_verdicts = summary
            .as_ref()
            .map_or_else(Vec::new, |s| self.gates.judge_phases(s));
        let first_last = summary.as_ref().and_then(crate::compare::first_last);
        let server = self.engines.as_ref().map_or_else(Vec::new, |e| {
            super::scrape::report(&e.blocks(), summary.as_ref(), &self.scope_targets)
        });
        let mut finished = Outcomes::default();
        for o in Outcome::ALL {
            finished.add(o, t.finished(o));
        }
        RunReport {
            schema_version: SCHEMA_VERSION,
            llm_soak_version: crate::VERSION.to_string(),
            run_id: self.identity.run_id.clone(),
            shard: self.identity.shard,
            complete,
            signal: stopped_by,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            requests: Requests {
                started: t.started(),
                dropped: t.dropped(),
                drops: t.drops(),
                finished,
            },
            summary,
            verdict: crate::report::worst(
                gates
                    .iter()
                    .map(|g| g.verdict)
                    .chain(phase_verdicts.iter().map(|p| p.verdict)),
            ),
            gates,
            series: Some(self.series.series(since)),
            drift_baselines: self.baselines.report(),
            config: self.config.clone(),
            server,
            partial: None,
            phase_verdicts,
            first_last,
        }
    }
}

impl server::LiveReport for ReportSource {
    fn report(&self, since: f64) -> RunReport {
        self.build(None, false, false, since)
    }
}
