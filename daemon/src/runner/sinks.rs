//! The recorder's sinks of a run, built from its config: the exact summary, the time series,
//! the drift baselines, sampled request spans and the request log.

use std::sync::Arc;

use opentelemetry::KeyValue;
use tokio::time::Instant;

use super::{RunError, unix_now};
use crate::export::Exporter;
use crate::metrics::baseline::{BaselineSink, Baselines};
use crate::metrics::request_log::RequestLog;
use crate::metrics::series::SeriesSink;
use crate::metrics::{Sink, SummarySink};
use crate::prepare::Prepared;

/// The recorder's sinks, in the order a finished request reaches them.
#[derive(Debug)]
pub(super) struct Sinks {
    pub(super) summary: Arc<SummarySink>,
    pub(super) series: Arc<SeriesSink>,
    pub(super) baselines: Arc<BaselineSink>,
    pub(super) log: Option<Arc<RequestLog>>,
    /// The client's count per target, when an engine is scraped (the token cross-check).
    pub(super) tokens: Option<Arc<super::scrape::ClientTokens>>,
    pub(super) all: Vec<Arc<dyn Sink>>,
}

pub(super) fn sinks(
    prepared: &Prepared,
    exporter: &Exporter,
    labels: &[Vec<KeyValue>],
    (epoch, start, measure_from): (Instant, Instant, Instant),
) -> Result<Sinks, RunError> {
    let config = &prepared.config;
    let canary = config.canary_scope();
    let summary = Arc::new(SummarySink::new(
        config.scope_names(),
        canary,
        config.load.phase_names(),
        measure_from,
    ));
    summary.follow_disruptions(epoch, config.load.recovery);
    let now = Instant::now();
    let ahead = epoch.saturating_duration_since(now).as_secs_f64();
    let behind = now.saturating_duration_since(epoch).as_secs_f64();
    let series = Arc::new(SeriesSink::new(
        config.scope_names(),
        canary,
        epoch,
        unix_now() + ahead - behind,
        start,
        crate::metrics::series::STEP,
    ));
    let keys = crate::metrics::baseline::scope_keys(config);
    let baselines = Arc::new(BaselineSink::new(Baselines::new(
        &exporter.meter(),
        keys.into_iter().zip(labels.iter().cloned()).collect(),
        start,
        &config.baseline,
    )));
    let log = match &config.output.requests_jsonl {
        None => None,
        Some(spec) => Some(Arc::new(
            RequestLog::start(spec.clone(), config.scope_names()).map_err(|source| {
                RunError::Output {
                    path: spec.path.clone(),
                    source,
                }
            })?,
        )),
    };
    let mut all: Vec<Arc<dyn Sink>> = vec![
        Arc::clone(&summary) as Arc<dyn Sink>,
        Arc::clone(&series) as Arc<dyn Sink>,
        Arc::clone(&baselines) as Arc<dyn Sink>,
    ];
    if let Some(spans) = exporter.span_recorder(canary, labels) {
        all.push(Arc::new(spans));
    }
    if let Some(l) = &log {
        all.push(Arc::clone(l) as Arc<dyn Sink>);
    }
    let scraped = config.targets.iter().any(|t| t.metrics_url.is_some());
    let tokens = scraped.then(|| {
        Arc::new(super::scrape::ClientTokens::new(
            config.scope_targets(),
            config.targets.len(),
        ))
    });
    if let Some(t) = &tokens {
        all.push(Arc::clone(t) as Arc<dyn Sink>);
    }
    Ok(Sinks {
        summary,
        series,
        baselines,
        log,
        tokens,
        all,
    })
}
