//! Wires one run together under a single cancellation tree: exporter and recorder, the HTTP
//! server, the prompt pool, the client and the dispatcher; then waits for the schedule to end,
//! `--duration` to pass, or a signal, and drains. Drain: stop arrivals, let in-flight requests
//! finish within `load.drain_timeout`, cancel the rest (recorded as `cancelled`), flush.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client::ClientError;
use crate::config::Config;
use crate::export::{ExportError, Exporter};
use crate::gate::Gates;
use crate::metrics::{Recorder, RunIdentity};
use crate::record::Outcome;
use crate::report::RunReport;
use crate::schedule::{DispatchEnd, Shard};
use crate::server::{self, Phase, Status};

mod generation;
mod telemetry;
use generation::{Generation, Shared};

/// A signal from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    /// SIGHUP: re-read the config file.
    Reload,
}

/// What a run may be told from outside.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Bounded run: stop after this long (or at the end of the phases, if earlier).
    pub duration: Option<Duration>,
    /// This replica's slice of the schedule.
    pub shard: Shard,
    /// The shared epoch of a sharded schedule (default: now).
    pub start_at: Option<SystemTime>,
    /// Left out of the summary, report and gates.
    pub warmup: Option<Duration>,
    /// Where the JSON report goes (checkpointed every `CHECKPOINT` while the run goes on).
    pub report: Option<PathBuf>,
    /// CI gates judged on the summary at the end (and the baseline report they refer to).
    pub gates: Gates,
    /// The config file, for SIGHUP and `POST /-/reload`.
    pub config_path: Option<PathBuf>,
}

/// How often a long run rewrites its report file.
pub const CHECKPOINT: Duration = Duration::from_secs(120);

/// Why a run could not start or continue.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the request log {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The report as of now (`complete` once the run has drained).
#[allow(clippy::too_many_arguments)]
fn snapshot(
    recorder: &Recorder,
    identity: &RunIdentity,
    measure_from: Instant,
    started: Instant,
    bounded: bool,
    interrupted: Option<Signal>,
    gates: &Gates,
    complete: bool,
) -> RunReport {
    let t = &recorder.totals;
    let summary = recorder.summary();
    let measured = Instant::now().saturating_duration_since(measure_from);
    let gates = match &summary {
        Some(s) => gates.judge(s, measured.as_secs_f64()),
        None => Vec::new(),
    };
    RunReport {
        run_id: identity.run_id.clone(),
        shard: identity.shard.clone(),
        bounded,
        interrupted,
        complete,
        started: t.started.load(std::sync::atomic::Ordering::Relaxed),
        dropped: t.dropped.load(std::sync::atomic::Ordering::Relaxed),
        finished: Outcome::ALL.map(|o| t.finished(o)),
        summary,
        measured,
        gates,
        elapsed: started.elapsed(),
    }
}

/// Wait until every target answers `GET /v1/models` with a success, or `timeout` passes.
pub async fn wait_ready(config: &Config, timeout: Duration) -> Result<(), String> {
    crate::client::init_crypto();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    for t in &config.targets {
        let url = format!("{}/v1/models", t.base_url);
        loop {
            let mut req = http.get(&url);
            if let Some(k) = &t.api_key {
                req = req.bearer_auth(k.value.expose());
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => {
                    tracing::info!(target = %t.name, status = %r.status(), "waiting for the target to be ready")
                }
                Err(e) => {
                    tracing::info!(target = %t.name, error = %e, "waiting for the target to be ready")
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "target {} ({url}) was not ready within {}",
                    t.name,
                    humantime::format_duration(timeout)
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// A fresh run id: 8 hex digits from the clock and the pid.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let id = crate::workload::rng::splitmix64(nanos ^ (u64::from(std::process::id()) << 32));
    format!("{:08x}", id as u32)
}

/// Raise the soft open-files limit to the hard limit (thousands of streams need thousands of fds).
pub fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "RLIMIT_NOFILE raised"),
        Err(e) => tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE"),
    }
}

/// The next signal; never resolves once every sender is gone (no signal source).
async fn next_signal(rx: &mut mpsc::UnboundedReceiver<Signal>) -> Signal {
    match rx.recv().await {
        Some(s) => s,
        None => std::future::pending().await,
    }
}

/// The next SIGINT or SIGTERM (reloads are ignored while draining).
async fn next_stop_signal(rx: &mut mpsc::UnboundedReceiver<Signal>) -> Signal {
    loop {
        let s = next_signal(rx).await;
        if s != Signal::Reload {
            return s;
        }
    }
}

/// Re-read the config file and, when it is valid and compatible, replace the running load with
/// the new config's; otherwise keep the running one. Counters carry on either way.
async fn reload(
    path: Option<&std::path::Path>,
    config: &mut Config,
    shared: &Shared,
    generation: &mut Generation,
    status: &Status,
) -> Result<String, String> {
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let attempt = async {
        let path = path.ok_or("this run has no config file to reload (demo)")?;
        let new = Config::load(path).map_err(|e| e.to_string())?;
        if let Some(why) = generation::incompatible(config, &new) {
            return Err(why);
        }
        generation.stop().await;
        *generation = Generation::start(&new, shared, Instant::now(), Duration::ZERO)
            .map_err(|e| e.to_string())?;
        Ok(new)
    };
    match attempt.await {
        Ok(new) => {
            shared
                .recorder
                .config_reloaded(true, new.checksum, now_unix);
            status.set_config(new.redacted());
            status.set_phase(Phase::Running);
            let msg = format!("reloaded; checksum {:016x}", new.checksum);
            tracing::info!("{msg}");
            *config = new;
            Ok(msg)
        }
        Err(e) => {
            shared
                .recorder
                .config_reloaded(false, config.checksum, now_unix);
            tracing::error!("reload failed; keeping the running config: {e}");
            Err(e)
        }
    }
}

/// Run until the schedule ends (bounded runs), `--duration` passes, or a signal arrives.
/// `on_listen` is told the bound address of `/metrics` before any load is sent.
pub async fn run(
    config: Config,
    opts: RunOptions,
    mut signals: mpsc::UnboundedReceiver<Signal>,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<RunReport, RunError> {
    let run_id = new_run_id();
    let start_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let identity = RunIdentity {
        run_id: run_id.clone(),
        shard: opts.shard.to_string(),
        start_time,
    };
    let exporter = Exporter::with_otlp(
        vec![
            KeyValue::new("service.instance.id", run_id.clone()),
            KeyValue::new("llmsoak.shard", identity.shard.clone()),
        ],
        config.otlp.as_ref(),
    )?;
    let recorder = Arc::new(Recorder::new(&exporter.meter(), &config, &identity));
    let canary_index = config.canary.as_ref().map(|_| config.scenarios.len());
    if let Some(spans) = exporter.span_recorder(canary_index, recorder.request_labels()) {
        recorder.set_spans(spans);
    }
    if let Some(spec) = &config.requests_jsonl {
        let log =
            crate::metrics::request_log::RequestLog::start(spec.clone()).map_err(|source| {
                RunError::Output {
                    path: spec.path.clone(),
                    source,
                }
            })?;
        recorder.set_request_log(Arc::new(log));
    }
    // `POST /-/reload` asks the run loop and waits for the answer.
    let (reload_tx, mut reloads) =
        mpsc::unbounded_channel::<oneshot::Sender<Result<String, String>>>();
    let status = Arc::new(Status::new(
        exporter.clone(),
        Arc::clone(&recorder),
        config.redacted(),
        run_id.clone(),
        opts.config_path.is_some().then_some(reload_tx),
    ));

    let addr = opts.listen.unwrap_or(config.server.listen);
    let listener = server::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| RunError::Bind { addr, source })?;
    status.set_access(server::access::Access::new(&config.server, local));
    if !local.ip().is_loopback() && config.server.control_token.is_none() {
        tracing::warn!(%local, "listening beyond loopback without server.control_token_env: POST /-/reload and /api/v1/baseline/reset are refused");
    }
    let root = CancellationToken::new();
    let server_stop = root.child_token();
    let server_task = tokio::spawn(server::serve(
        listener,
        Arc::clone(&status),
        server_stop.clone(),
    ));
    on_listen(local);

    let stop = root.child_token();
    let abort = root.child_token();
    let tracker = TaskTracker::new();
    let shared = Shared {
        recorder: Arc::clone(&recorder),
        tracker: tracker.clone(),
        stop: stop.clone(),
        abort: abort.clone(),
        run_id: run_id.clone(),
        shard: opts.shard,
    };
    // The schedule's epoch: now, or the shared `--start-at` of a sharded run.
    let now = Instant::now();
    let epoch = match opts.start_at {
        None => now,
        Some(at) => match at.duration_since(SystemTime::now()) {
            Ok(ahead) => now + ahead,
            Err(e) => now.checked_sub(e.duration()).unwrap_or(now),
        },
    };
    let mut generation = Generation::start(
        &config,
        &shared,
        epoch,
        now.saturating_duration_since(epoch),
    )?;
    let started = Instant::now();
    let telemetry = telemetry::Telemetry::start(&config, &exporter, &recorder, started.max(epoch));
    let mut config = config;
    let bounded = opts.duration.is_some();
    tracing::info!(
        run_id = %run_id,
        targets = config.targets.len(),
        scenarios = config.scenarios.len(),
        max_in_flight = config.load.max_in_flight,
        schedule_end = ?generation.schedule_end,
        duration = ?opts.duration,
        "run started"
    );
    let measure_from = started.max(epoch) + opts.warmup.unwrap_or_default();
    recorder.set_measure_from(measure_from);
    let progress = opts
        .duration
        .and_then(|total| crate::progress::spawn(Arc::clone(&recorder), started, total));
    let checkpoints = {
        let (recorder, identity, gates, path) = (
            Arc::clone(&recorder),
            identity.clone(),
            opts.gates.clone(),
            opts.report.clone(),
        );
        tokio::spawn(async move {
            let Some(path) = path else { return };
            let mut tick = tokio::time::interval(CHECKPOINT);
            tick.tick().await;
            loop {
                tick.tick().await;
                let r = snapshot(
                    &recorder,
                    &identity,
                    measure_from,
                    started,
                    bounded,
                    None,
                    &gates,
                    false,
                );
                if let Err(e) = r.write(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the report checkpoint");
                }
            }
        })
    };
    status.set_phase(Phase::Running);
    let deadline = opts.duration.map(|d| started.max(epoch) + d);
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);

    let mut interrupted = None;
    loop {
        tokio::select! {
            end = async {
                match generation.dispatch.as_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            } => {
                generation.dispatch = None;
                if end.unwrap_or(DispatchEnd::Finished) == DispatchEnd::Finished {
                    tracing::info!("schedule finished");
                    if bounded {
                        break;
                    }
                    status.set_phase(Phase::Finished);
                    tracing::info!("idle; /metrics stays up until the daemon is stopped");
                }
            }
            () = &mut until_deadline => {
                tracing::info!("--duration reached");
                break;
            }
            Some(reply) = reloads.recv() => {
                let result = reload(opts.config_path.as_deref(), &mut config, &shared, &mut generation, &status).await;
                let _ = reply.send(result);
            }
            sig = next_signal(&mut signals) => {
                if sig == Signal::Reload {
                    let _ = reload(opts.config_path.as_deref(), &mut config, &shared, &mut generation, &status).await;
                    continue;
                }
                tracing::info!(signal = ?sig, "stopping");
                interrupted = Some(sig);
                break;
            }
        }
    }

    // Drain: stop arrivals, give in-flight requests the grace period, cancel the rest.
    status.set_phase(Phase::Draining);
    generation.stop().await;
    stop.cancel();
    tracker.close();
    let grace = config.load.drain_timeout;
    let in_flight = recorder
        .totals
        .in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    if in_flight > 0 {
        tracing::info!(in_flight, grace = ?grace, "draining in-flight requests");
    }
    tokio::select! {
        () = tracker.wait() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("drain grace period over; cancelling the remaining requests");
            abort.cancel();
            tracker.wait().await;
        }
        _ = next_stop_signal(&mut signals) => {
            tracing::warn!("second signal; cancelling in-flight requests now");
            abort.cancel();
            tracker.wait().await;
        }
    }
    checkpoints.abort();
    if let Some(p) = progress {
        p.abort();
        crate::progress::clear();
    }
    let report = snapshot(
        &recorder,
        &identity,
        measure_from,
        started,
        bounded,
        interrupted,
        &opts.gates,
        true,
    );
    if let Some(path) = &opts.report
        && let Err(e) = report.write(path)
    {
        tracing::error!(path = %path.display(), error = %e, "cannot write the report");
    }
    telemetry.stop().await;
    server_stop.cancel();
    root.cancel();
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), server_task).await {
        tracing::warn!(error = %e, "metrics server");
    }
    if let Some(log) = recorder.request_log().cloned() {
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
    }
    let _ = tokio::task::spawn_blocking(move || exporter.shutdown()).await;
    Ok(report)
}
