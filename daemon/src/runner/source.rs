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
    /// Per phase, why it was skipped (the server cannot serve its scenarios).
    pub(super) phase_skips: Vec<Option<String>>,
    /// A resumed run: what its checkpoint's report adds to every report (its summary seeded the
    /// live one) and this restart.
    pub(super) prior: Option<
        Arc<(
            crate::report::resume::Earlier,
            crate::report::resume::Resume,
        )>,
    >,
    /// The live page's first-vs-last comparison, as of the series' (count, last window's t and
    /// span).
    pub(super) first_last: Arc<std::sync::Mutex<Option<FirstLastCache>>>,
}

type FirstLastCache = ((usize, Option<(f64, f64)>), Option<crate::view::FirstLast>);

impl ReportSource {
    /// The report as of now (`complete` once the run has drained).
    /// A checkpoint's series ends with the window still open, so nothing it counted is
    /// missing from the series of a run that goes on from it after a restart.
    pub(super) fn snapshot(&self, stopped_by: Option<StopSignal>, complete: bool) -> RunReport {
        let mut report = self.build(stopped_by, complete, true, 0.0);
        if !complete
            && let (Some(series), Some(open)) =
                (&mut report.series, self.series.open_point(Instant::now()))
        {
            series.points.push(open);
        }
        report
    }

    /// The report, with the summary's histograms when `keep` and the windows after `since`;
    /// a resumed run's is its earlier segments' followed by this daemon's, judged as one.
    fn build(
        &self,
        stopped_by: Option<StopSignal>,
        complete: bool,
        keep: bool,
        since: f64,
    ) -> RunReport {
        let t = &self.recorder.totals;
        let summary = Some(self.live.summary(keep));
        let server = self.engines.as_ref().map_or_else(Vec::new, |e| {
            super::scrape::report(&e.blocks(), summary.as_ref(), &self.scope_targets)
        });
        let mut finished = Outcomes::default();
        for o in Outcome::ALL {
            finished.add(o, t.finished(o));
        }
        let mut report = RunReport {
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
                lost: 0,
            },
            summary,
            verdict: None,
            gates: Vec::new(),
            series: Some(self.series.series(since)),
            drift_baselines: self.baselines.report(),
            config: self.config.clone(),
            server,
            partial: None,
            phase_verdicts: Vec::new(),
            first_last: None,
            resumes: Vec::new(),
        };
        if let Some(prior) = &self.prior {
            let (earlier, resume) = &**prior;
            report = crate::report::resume::append(earlier, report, resume);
        }
        if let Some(s) = &report.summary {
            report.gates = self.gates.judge(s);
            report.phase_verdicts = self.gates.judge_phases(s);
            super::capability::mark_skipped(&mut report.phase_verdicts, &self.phase_skips);
            report.first_last = crate::compare::first_last(s);
        }
        // A phase skipped for what the server cannot do is said, and judges nothing.
        let skipped = |i: usize| matches!(self.phase_skips.get(i), Some(Some(_)));
        report.verdict = crate::report::worst(
            report.gates.iter().map(|g| g.verdict).chain(
                report
                    .phase_verdicts
                    .iter()
                    .filter(|p| !skipped(p.index))
                    .map(|p| p.verdict),
            ),
        );
        report
    }
}

impl server::LiveReport for ReportSource {
    fn view(&self, since: f64) -> crate::view::View {
        let report = self.build(None, false, false, since);
        crate::view::View::with_first_last(&report, self.first_last())
    }
}

impl ReportSource {
    /// The whole run's first-vs-last comparison, merged from the series' windows in place
    /// (nothing copied) and made again only once a window has closed since the last one: an
    /// open page reads the view every few seconds.
    fn first_last(&self) -> Option<crate::view::FirstLast> {
        let scopes = self.series.scopes();
        let mut cache = self
            .first_last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.series.with_points(|points| {
            let key = (points.len(), points.last().map(|p| (p.t, p.span)));
            if let Some((k, fl)) = &*cache
                && *k == key
            {
                return fl.clone();
            }
            let fl = crate::view::FirstLast::of_points(points, scopes);
            *cache = Some((key, fl.clone()));
            fl
        })
    }
}
