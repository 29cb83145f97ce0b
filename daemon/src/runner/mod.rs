//! Wires one run together under a single cancellation tree: exporter, the recorder and its sinks,
//! the HTTP server, and a [`generation`] of load (prompt pool, clients, launchers, dispatcher or
//! users, canary); then waits for the schedule to end, `--duration` to pass, or a signal, and
//! drains. Drain: stop arrivals, let in-flight requests finish within `load.drain_timeout`,
//! cancel the rest (recorded as `cancelled`), flush. The report is built from the summary sink.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::{Client, ClientError};
use crate::export::ExportError;
use crate::gate::Gates;
use crate::prepare::Prepared;
use crate::report::series::EventKind;
use crate::report::{RunReport, StopSignal};
use crate::schedule::{DispatchEnd, Shard};
use crate::server::Phase;

mod capability;
mod generation;
mod hooks;
mod notify;
pub(crate) mod resume;
mod run;
mod scrape;
mod side;
mod sinks;
mod source;
mod telemetry;
mod timeline;
mod window;
pub(crate) use generation::{Clients, Generation, HttpClients};
pub(crate) use run::Run;

/// A signal from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Interrupt,
    Terminate,
    /// SIGHUP: re-read the config file.
    Reload,
}

impl Signal {
    /// The signal's name in logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Reload => "SIGHUP",
        }
    }

    /// The signal as the report records a stop (`None` for a reload, which stops nothing).
    pub(crate) fn stop(self) -> Option<StopSignal> {
        match self {
            Signal::Interrupt => Some(StopSignal::Interrupt),
            Signal::Terminate => Some(StopSignal::Terminate),
            Signal::Reload => None,
        }
    }
}

/// What a run may be told from outside.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
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
    /// Where the JSON report goes: checkpointed here every `output.checkpoint_interval` while the run goes
    /// on; the command line writes the final one from the report the run returns.
    pub report: Option<PathBuf>,
    /// CI gates judged on the summary at the end (and the baseline report they refer to).
    pub gates: Gates,
    /// The config file, for SIGHUP and `POST /-/reload`.
    pub config_path: Option<PathBuf>,
    /// Where the command line writes the HTML report once the run ends (the runner itself
    /// does not read it).
    pub report_html: Option<PathBuf>,
    /// The state directory's resume checkpoints (`run` only: a sweep keeps none).
    pub state: Option<State>,
}

/// A run that checkpoints itself into a state directory, and the run it goes on with.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub dir: PathBuf,
    /// The config as given (before anything read from the server), compared on a restart.
    pub config: serde_json::Value,
    /// The unfinished run this daemon goes on with ([`resume::decide`]).
    pub resume: Option<Arc<resume::Checkpoint>>,
    /// The state directory's lock, held while the run goes on ([`resume::lock`]).
    pub _lock: Arc<std::fs::File>,
}

/// Signals and reload requests queued at most (senders wait beyond it).
pub(crate) const SIGNAL_QUEUE: usize = 16;

/// Why a run could not start or continue.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
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
    #[error("{0}")]
    Context(String),
}

pub(crate) use capability::fill_context;

/// Why `--wait-ready` gave up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadyError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("target {target} ({url}/v1/models) was not ready within {within}")]
    Timeout {
        target: String,
        url: String,
        within: String,
    },
}

/// Wait until every target answers `GET /v1/models` with a success, or `timeout` passes. Each
/// target is asked with its own client: its headers, authentication and timeouts.
pub(crate) async fn wait_ready(prepared: &Prepared, timeout: Duration) -> Result<(), ReadyError> {
    let config = &prepared.config;
    let client = Client::new(config, &prepared.assets.tokenizers, &prepared.credentials)?;
    let deadline = Instant::now() + timeout;
    for (i, t) in config.targets.iter().enumerate() {
        loop {
            match client.models_ready(i).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::info!(target = %t.name, error = %e, "waiting for the target to be ready");
                }
            }
            if Instant::now() >= deadline {
                return Err(ReadyError::Timeout {
                    target: t.name.clone(),
                    url: t.base_url.to_string(),
                    within: humantime::format_duration(timeout).to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// A fresh run id: 8 hex digits from the clock and the pid.
pub(crate) fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let id = crate::workload::rng::splitmix64(nanos ^ (u64::from(std::process::id()) << 32));
    format!("{:08x}", id as u32)
}

/// Raise the soft open-files limit to the hard limit (thousands of streams need thousands of fds).
pub(crate) fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "RLIMIT_NOFILE raised"),
        Err(e) => tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE"),
    }
}

/// The next signal; never resolves once every sender is gone (no signal source).
async fn next_signal(rx: &mut mpsc::Receiver<Signal>) -> Signal {
    match rx.recv().await {
        Some(s) => s,
        None => std::future::pending().await,
    }
}

/// The next SIGINT or SIGTERM (reloads are ignored while draining).
async fn next_stop_signal(rx: &mut mpsc::Receiver<Signal>) -> Signal {
    loop {
        let s = next_signal(rx).await;
        if s != Signal::Reload {
            return s;
        }
    }
}

/// Unix time the run plans to stop sending: the earlier of its schedule's end and `--duration`.
fn planned_end(generation: &Generation, deadline: Option<Instant>) -> Option<f64> {
    let end = match (generation.planned_end, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }?;
    let now = Instant::now();
    Some(unix_now() + end.saturating_duration_since(now).as_secs_f64())
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Re-read the config file and, when it is valid, prepared and compatible, replace the running
/// load with the new config's; otherwise keep the running one. Counters carry on either way.
async fn reload<C: Clients>(
    path: Option<&std::path::Path>,
    running: &mut Prepared,
    run: &run::Run<C>,
    generation: &mut Generation,
) -> Result<String, String> {
    let (shared, status, instruments) = (&run.shared, &run.status, &run.instruments);
    let attempt = async {
        let path = path.ok_or("this run has no config file to reload (demo)")?;
        let mut new = Prepared::load(path).map_err(|e| e.to_string())?;
        fill_context(&mut new).await?;
        if let Some(why) = generation::incompatible(&running.config, &new.config) {
            return Err(why);
        }
        generation.stop(&shared.window).await;
        *generation = run
            .generation(&new, Instant::now(), Duration::ZERO)
            .map_err(|e| e.to_string())?;
        Ok(new)
    };
    let result = attempt.await;
    status.reloaded(result.is_ok());
    match result {
        Ok(new) => {
            let checksum = new.config.checksum;
            instruments.config_reloaded(true, checksum, unix_now());
            let detail = format!("reloaded; checksum {checksum:016x}");
            notify::status(&detail);
            shared
                .series
                .event(Instant::now(), EventKind::Reload, detail);
            status.set_config(Arc::new(new.config.clone()));
            status.set_phase(Phase::Running);
            let msg = format!("reloaded; checksum {checksum:016x}");
            tracing::info!("{msg}");
            *running = new;
            Ok(msg)
        }
        Err(e) => {
            instruments.config_reloaded(false, running.config.checksum, unix_now());
            notify::status("reload failed; keeping the running config");
            let detail = format!("reload failed: {e}");
            shared
                .series
                .event(Instant::now(), EventKind::Reload, detail);
            tracing::error!("reload failed; keeping the running config: {e}");
            Err(e)
        }
    }
}

/// Run until the schedule ends (bounded runs), `--duration` passes, or a signal arrives.
/// `on_listen` is told the bound address of `/metrics` before any load is sent.
pub(crate) async fn run(
    prepared: Prepared,
    opts: RunOptions,
    signals: mpsc::Receiver<Signal>,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<RunReport, RunError> {
    run_with(prepared, opts, signals, on_listen, HttpClients::default()).await
}

/// [`run`] with the requests executed by `clients` (the runner's tests stand in for the HTTP
/// clients). The run is one cancellation tree: `root` over the HTTP server, the side tasks
/// ([`side::Side`]) and the load, whose in-flight requests are on one tracker. Its shutdown
/// order is written once, at the end: arrivals stop; requests in flight drain (`drain_timeout`,
/// or at once on a second signal); the side tasks stop and the last window closes; the report
/// is taken; the resource sampler, the HTTP server, the request log and the exporter close.
pub(crate) async fn run_with<C: Clients>(
    mut prepared: Prepared,
    mut opts: RunOptions,
    mut signals: mpsc::Receiver<Signal>,
    on_listen: impl FnOnce(SocketAddr),
    clients: C,
) -> Result<RunReport, RunError> {
    fill_context(&mut prepared)
        .await
        .map_err(RunError::Context)?;
    let mut run = run::Run::start(&prepared, &mut opts, on_listen, clients, Vec::new()).await?;
    let config = &prepared.config;
    let (epoch, start) = (run.epoch, run.start);
    // Arrivals due before the run started (a replica joining a shared `--start-at` late) are
    // skipped; the time a new run took to wire itself is not "late". A resumed run goes on where
    // its schedule stands as its load starts: what fell due while it was down *and* while it
    // read its checkpoint and wired itself (seconds, for a long run) is not sent — a burst of it,
    // late, would be load nobody asked for, and schedule lag that is not the client's.
    let load_from = if run.resumed() { Instant::now() } else { start };
    let mut generation =
        run.generation(&prepared, epoch, load_from.saturating_duration_since(epoch))?;
    tracing::info!(
        run_id = %run.shared.run_id,
        targets = config.targets.len(),
        scenarios = config.scenarios.len(),
        max_in_flight = config.load.max_in_flight,
        schedule_end = %crate::config::human_opt(
            generation.planned_end.map(|e| e.saturating_duration_since(epoch))
        ),
        duration = %crate::config::human_opt(opts.duration),
        "run started"
    );
    let mut running = prepared;
    let bounded = opts.duration.is_some();
    let deadline = opts.duration.map(|d| start + d);
    run.instruments
        .planned_end(planned_end(&generation, deadline));
    run.running(&format!("run {}: running", run.shared.run_id));
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);

    let mut stopped_by = None;
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
                    run.window.load_ended(Instant::now());
                    if bounded {
                        break;
                    }
                    run.status.set_phase(Phase::Finished);
                    tracing::info!("idle; /metrics stays up until the daemon is stopped");
                }
            }
            () = &mut until_deadline => {
                tracing::info!("--duration reached");
                break;
            }
            Some(reply) = run.reloads.recv() => {
                let result = reload(opts.config_path.as_deref(), &mut running, &run, &mut generation).await;
                run.instruments.planned_end(planned_end(&generation, deadline));
                let _ = reply.send(result);
            }
            sig = next_signal(&mut signals) => {
                let Some(stop) = sig.stop() else {
                    let _ = reload(opts.config_path.as_deref(), &mut running, &run, &mut generation).await;
                    run.instruments.planned_end(planned_end(&generation, deadline));
                    continue;
                };
                tracing::info!(signal = sig.as_str(), "stopping");
                stopped_by = Some(stop);
                break;
            }
        }
    }
    // Drain: stop arrivals, give in-flight requests the grace period, cancel the rest. The
    // measured window ends here: rates are never diluted by the drain.
    run.stopping(stopped_by);
    let second = async {
        next_stop_signal(&mut signals).await;
    };
    run.drain(&mut generation, running.config.load.drain_timeout, second)
        .await;
    Ok(run.finish(stopped_by).await)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
