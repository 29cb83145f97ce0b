//! The daemon's HTTP surface (axum, 127.0.0.1:9464 unless configured): `GET /metrics`
//! (Prometheus text format from the one meter provider), `/-/healthy` (the process is up),
//! `/-/ready` (the schedule is running and not draining) and `GET /api/v1/status` (JSON: config
//! summary with secrets redacted, rates, in flight, totals by outcome, uptime, drift baselines);
//! `POST /-/reload` re-reads the config and `POST /api/v1/baseline/reset` re-measures the drift
//! baselines; `GET /` is the live page and `GET /api/v1/view?since=T` the run as that page draws
//! it (`view`; windows after `T` seconds only). [`access`] decides who may use which.

pub(crate) mod access;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::export::{CONTENT_TYPE, Exporter};
use crate::metrics::Recorder;
use crate::metrics::baseline::{Baseline, BaselineSink};
use crate::metrics::request_log::RequestLog;
use crate::metrics::series::SeriesSink;
use crate::record::Outcome;
use crate::report::{Outcomes, Summary};

/// Where the run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Starting = 0,
    Running = 1,
    /// The schedule ended; metrics stay served until the process is stopped.
    Finished = 2,
    Draining = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Running,
            2 => Phase::Finished,
            3 => Phase::Draining,
            _ => Phase::Starting,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Finished => "finished",
            Phase::Draining => "draining",
        }
    }
}

/// The run's exact summary as of now (the runner's: its measured window, its trust probe).
pub(crate) trait LiveSummary: Send + Sync + std::fmt::Debug {
    /// Statistics only; the report file carries the histograms.
    fn summary(&self) -> Summary;
}

/// The run as of now, for the live page: the view of its report (statistics without
/// histograms), with the series' windows after `since` seconds and the whole run's
/// first-vs-last comparison.
pub(crate) trait LiveReport: Send + Sync + std::fmt::Debug {
    fn view(&self, since: f64) -> crate::view::View;
}

/// Where the status API reads the run from.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    pub recorder: Arc<Recorder>,
    pub summary: Arc<dyn LiveSummary>,
    pub baselines: Arc<BaselineSink>,
    pub request_log: Option<Arc<RequestLog>>,
    /// The live page's windows.
    pub series: Arc<SeriesSink>,
}

/// Shared state behind the endpoints.
#[derive(Debug)]
pub(crate) struct Status {
    pub exporter: Exporter,
    sources: Sources,
    /// The running config (serialized with its secrets redacted).
    config: std::sync::Mutex<Arc<Config>>,
    /// Where `POST /-/reload` sends its request (none: reload unsupported).
    reload: Option<ReloadSender>,
    pub run_id: String,
    pub started: Instant,
    phase: AtomicU8,
    /// Reloads attempted and succeeded (SIGHUP and `POST /-/reload`).
    reloads: [std::sync::atomic::AtomicU64; 2],
    /// Who may read and control (set once the listener is bound).
    access: std::sync::OnceLock<access::Access>,
    /// The live page's source (set once the run is wired).
    live: std::sync::OnceLock<Arc<dyn LiveReport>>,
}

/// `/api/v1/status`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct StatusDocument {
    pub version: &'static str,
    pub run_id: String,
    pub state: &'static str,
    pub uptime_seconds: f64,
    pub schedule: ScheduleStatus,
    pub requests: RequestStatus,
    pub request_log: Option<LogStatus>,
    pub reloads: ReloadStatus,
    /// The live page's windows held in memory: what of the daemon's memory grows by design
    /// until the tiers are full (`metrics::series`).
    pub series: SeriesStatus,
    /// The exact summary so far (statistics only; the report file carries the histograms).
    pub summary: Option<Summary>,
    pub baselines: std::collections::BTreeMap<String, Baseline>,
    pub config: Arc<Config>,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct ScheduleStatus {
    pub target_rate: f64,
    pub phase: i64,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct RequestStatus {
    pub started: u64,
    pub in_flight: i64,
    pub finished: u64,
    pub by_outcome: Outcomes,
    /// Dropped for want of capacity.
    pub dropped: u64,
    /// Not sent, by reason (capacity or by design).
    pub drops: crate::report::DropCounts,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct ReloadStatus {
    pub attempted: u64,
    pub succeeded: u64,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct SeriesStatus {
    /// Points kept per tier, finest first (each tier's capacity: `metrics::series::TIERS`).
    pub tiers: Vec<usize>,
    pub events: usize,
    /// The heap they use, roughly.
    pub memory_bytes: usize,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct LogStatus {
    pub written: u64,
    pub dropped: u64,
}

impl Status {
    pub(crate) fn new(
        exporter: Exporter,
        sources: Sources,
        config: Arc<Config>,
        run_id: String,
        reload: Option<ReloadSender>,
    ) -> Self {
        Status {
            exporter,
            sources,
            config: std::sync::Mutex::new(config),
            reload,
            run_id,
            started: Instant::now(),
            phase: AtomicU8::new(Phase::Starting as u8),
            reloads: Default::default(),
            access: std::sync::OnceLock::new(),
            live: std::sync::OnceLock::new(),
        }
    }

    /// Where the live page reads the run from.
    pub(crate) fn set_live(&self, r: Arc<dyn LiveReport>) {
        let _ = self.live.set(r);
    }

    /// A reload was attempted; `ok`: it succeeded.
    pub(crate) fn reloaded(&self, ok: bool) {
        self.reloads[0].fetch_add(1, Ordering::Relaxed);
        if ok {
            self.reloads[1].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The access rules for the bound listener (default: open, for loopback).
    pub(crate) fn set_access(&self, a: access::Access) {
        let _ = self.access.set(a);
    }

    fn access(&self) -> access::Access {
        self.access
            .get()
            .cloned()
            .unwrap_or_else(access::Access::loopback)
    }

    /// The running config changed (a reload).
    pub(crate) fn set_config(&self, config: Arc<Config>) {
        if let Ok(mut c) = self.config.lock() {
            *c = config;
        }
    }

    pub(crate) fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// The status document.
    pub(crate) fn document(&self) -> StatusDocument {
        let src = &self.sources;
        let t = &src.recorder.totals;
        let mut by_outcome = Outcomes::default();
        for o in Outcome::ALL {
            by_outcome.add(o, t.finished(o));
        }
        StatusDocument {
            version: crate::VERSION,
            run_id: self.run_id.clone(),
            state: self.phase().as_str(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            schedule: ScheduleStatus {
                target_rate: t.target_rate(),
                phase: t.phase.load(Ordering::Relaxed),
            },
            requests: RequestStatus {
                started: t.started(),
                in_flight: t.in_flight(),
                finished: by_outcome.total(),
                by_outcome,
                dropped: t.dropped(),
                drops: t.drops(),
            },
            request_log: src.request_log.as_ref().map(|l| LogStatus {
                written: l.written.load(Ordering::Relaxed),
                dropped: l.dropped.load(Ordering::Relaxed),
            }),
            reloads: ReloadStatus {
                attempted: self.reloads[0].load(Ordering::Relaxed),
                succeeded: self.reloads[1].load(Ordering::Relaxed),
            },
            series: SeriesStatus {
                tiers: src.series.tier_lengths(),
                events: src.series.event_count(),
                memory_bytes: src.series.memory_bytes(),
            },
            summary: Some(src.summary.summary()),
            baselines: src.baselines.current(),
            config: match self.config.lock() {
                Ok(c) => Arc::clone(&c),
                Err(poisoned) => Arc::clone(&poisoned.into_inner()),
            },
        }
    }
}

pub(crate) fn router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "OK\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", axum::routing::post(reload))
        .route("/api/v1/status", get(status_doc))
        .route("/", get(page))
        .route("/api/v1/view", get(view_doc))
        .route(
            "/api/v1/baseline/reset",
            axum::routing::post(reset_baseline),
        )
        .with_state(status)
}

async fn metrics(State(s): State<Arc<Status>>, headers: HeaderMap) -> Response {
    if let Err(r) = s.access().read(&headers) {
        return r.into_response();
    }
    // Collecting and encoding takes milliseconds with many series: on a blocking thread, so a
    // scrape never stalls the runtime workers that timestamp chunks.
    let encoded = tokio::task::spawn_blocking(move || s.exporter.encode()).await;
    match encoded {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}\n"),
        )
            .into_response(),
    }
}

/// Asks the run loop to reload and answers with its result.
pub(crate) type ReloadSender =
    tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Result<String, String>>>;

async fn reload(State(s): State<Arc<Status>>, headers: HeaderMap) -> Response {
    let access = s.access();
    if !access.reload_api {
        return (
            StatusCode::FORBIDDEN,
            "POST /-/reload is disabled (server.reload_api = false); SIGHUP still reloads\n",
        )
            .into_response();
    }
    if let Err(r) = access.control(&headers) {
        return r.into_response();
    }
    let Some(tx) = &s.reload else {
        return (
            StatusCode::BAD_REQUEST,
            "this run has no config file to reload\n",
        )
            .into_response();
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if tx.send(reply).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the run is shutting down\n",
        )
            .into_response();
    }
    match answer.await {
        Ok(Ok(msg)) => (StatusCode::OK, format!("{msg}\n")).into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            format!("reload failed; the running config is kept:\n{e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the run is shutting down\n",
        )
            .into_response(),
    }
}

async fn ready(State(s): State<Arc<Status>>) -> Response {
    match s.phase() {
        Phase::Running | Phase::Finished => (StatusCode::OK, "ready\n").into_response(),
        p => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", p.as_str())).into_response(),
    }
}

async fn reset_baseline(State(s): State<Arc<Status>>, headers: HeaderMap) -> Response {
    if let Err(r) = s.access().control(&headers) {
        return r.into_response();
    }
    if s.sources.baselines.reset(Instant::now()) {
        tracing::info!("drift baselines reset by the API: measuring again after the warm-up");
        (
            StatusCode::OK,
            "baselines reset; measuring again after the warm-up\n",
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no baselines in this run\n",
        )
            .into_response()
    }
}

async fn status_doc(State(s): State<Arc<Status>>, headers: HeaderMap) -> Response {
    match s.access().read(&headers) {
        Ok(()) => axum::Json(s.document()).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn page(State(s): State<Arc<Status>>, headers: HeaderMap) -> Response {
    if let Err(r) = s.access().read(&headers) {
        return r.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        crate::view::live_page(),
    )
        .into_response()
}

#[derive(Debug, serde::Deserialize)]
struct Since {
    since: Option<f64>,
}

async fn view_doc(
    State(s): State<Arc<Status>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<Since>,
) -> Response {
    if let Err(r) = s.access().read(&headers) {
        return r.into_response();
    }
    let Some(live) = s.live.get().cloned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the run is starting\n").into_response();
    };
    let since = q.since.filter(|t| t.is_finite()).unwrap_or(0.0);
    // Made from the whole report and series (milliseconds for a week's windows): on a blocking
    // thread, never a runtime worker that reads streams.
    let state = s.phase().as_str().to_string();
    let made = tokio::task::spawn_blocking(move || {
        let mut view = live.view(since);
        view.live = Some(crate::view::LiveState { state, since });
        serde_json::to_vec(&view)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    match made {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Bind the listener (so a busy port fails before any load is sent).
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    status: Arc<Status>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(status))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests;
