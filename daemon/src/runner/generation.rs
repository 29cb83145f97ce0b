//! One "generation" of load from one prepared config: the open-loop dispatcher (or the
//! closed-loop users) and the canary, with their own clients, workload, launchers and stop token.
//! The run starts one; a reload stops it (arrivals stop, requests in flight finish) and starts
//! the next from the new config, while the recorder, its counters, the spend and the HTTP server
//! carry on.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::window::Window;
use crate::client::{Client, ClientError, Connections};
use crate::config::{Config, LoadMode};
use crate::metrics::Recorder;
use crate::metrics::canary::CanaryInstruments;
use crate::metrics::summary::SummarySink;
use crate::prepare::Prepared;
use crate::schedule::canary::CanaryProbe;
use crate::schedule::closed::Users;
use crate::schedule::{
    Arrivals, DispatchEnd, Dispatcher, Execute, InFlightLimit, Launcher, Ledger, Sessions, Shape,
    Shard,
};
use crate::workload::Workload;
use crate::workload::trace::Replay;

/// Where a generation's requests are executed: the HTTP clients of the config's targets, or
/// (the runner's tests) something that stands in for them.
pub(crate) trait Clients: Send + Sync + 'static {
    type Exec: Execute;
    /// The scenarios' executor (scopes `0..scenarios`).
    fn soak(&self, prepared: &Prepared) -> Result<Arc<Self::Exec>, ClientError>;
    /// The canary's, on a pool of its own (`None` without a `[canary]`).
    fn canary(&self, prepared: &Prepared) -> Result<Option<Arc<Self::Exec>>, ClientError>;
    /// Whether prompts are drawn on the dispatcher's task rather than ahead on the worker
    /// thread: only for runs in paused time, whose clock cannot see a thread's progress.
    fn prompts_inline(&self) -> bool {
        false
    }
    /// The scrapes of the targets' engines (target index, scraper); none by default.
    fn scrapers(&self, _prepared: &Prepared) -> Vec<(usize, crate::engine::scrape::Scraper)> {
        Vec::new()
    }
    /// The connections the clients opened, by target (over every generation), when counted.
    fn connections(&self) -> Option<Arc<Connections>> {
        None
    }
}

/// The real thing: one keep-alive HTTP client per target, their connections counted.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpClients {
    connections: Arc<Connections>,
}

impl Clients for HttpClients {
    type Exec = Client;

    fn soak(&self, p: &Prepared) -> Result<Arc<Client>, ClientError> {
        Client::counted(
            &p.config,
            &p.assets.tokenizers,
            &p.credentials,
            &self.connections,
        )
        .map(Arc::new)
    }

    fn canary(&self, p: &Prepared) -> Result<Option<Arc<Client>>, ClientError> {
        Ok(Client::for_canary(
            &p.config,
            &p.assets.tokenizers,
            &p.credentials,
            &self.connections,
        )?
        .map(Arc::new))
    }

    fn connections(&self) -> Option<Arc<Connections>> {
        Some(Arc::clone(&self.connections))
    }

    fn scrapers(&self, p: &Prepared) -> Vec<(usize, crate::engine::scrape::Scraper)> {
        let wanted: Vec<(usize, &crate::config::Target, &String)> = p
            .config
            .targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.metrics_url.as_ref().map(|u| (i, t, u)))
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        // Its own pool: the scrape never takes a connection the load would have used.
        let client = match Client::new(&p.config, &p.assets.tokenizers, &p.credentials) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the engine scrape's HTTP client; the engines are not scraped");
                return Vec::new();
            }
        };
        wanted
            .into_iter()
            .filter_map(|(i, t, url)| {
                let (http, headers) = client.target_http(i)?;
                let engine = crate::config::target::ENGINES
                    .contains(&t.provider.as_str())
                    .then_some(t.provider.as_str());
                let timeout = SCRAPE_TIMEOUT.min(t.request_timeout);
                Some((
                    i,
                    crate::engine::scrape::Scraper::new(
                        &t.name, url, engine, http, headers, timeout,
                    ),
                ))
            })
            .collect()
    }
}

/// How long a scrape of an engine's metrics may take.
const SCRAPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What every generation shares.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    pub recorder: Arc<Recorder>,
    pub summary: Arc<SummarySink>,
    pub tracker: TaskTracker,
    /// Parent of every generation's stop token (the run's drain cancels it).
    pub stop: CancellationToken,
    pub abort: CancellationToken,
    pub run_id: String,
    pub shard: Shard,
    /// What the soak spent against `load.budget`, run-wide.
    pub ledger: Arc<Ledger>,
    /// The canary's instruments, when the run has a canary.
    pub canary: Option<Arc<CanaryInstruments>>,
    /// The canary's probes so far, run-wide (their seqs go on across reloads).
    pub canary_seq: Arc<AtomicU64>,
    /// The open loop's in-flight cap, one for every generation.
    pub limit: Arc<InFlightLimit>,
    /// The measured window, told of every generation's shape.
    pub window: Arc<Window>,
    /// The run's time series (reloads are marked on it).
    pub series: Arc<crate::metrics::series::SeriesSink>,
}

/// The load a config describes, running.
#[derive(Debug)]
pub(crate) struct Generation {
    pub stop: CancellationToken,
    /// Cancels this generation's requests in flight (a child of the run's abort).
    pub abort: CancellationToken,
    /// The open-loop dispatcher or the closed-loop users, until they finish; `None` for a
    /// canary-only config.
    pub dispatch: Option<JoinHandle<DispatchEnd>>,
    /// When its schedule ends (`None`: never, or a closed loop).
    pub planned_end: Option<Instant>,
}

impl Generation {
    /// Start the load of `prepared` with its schedule's epoch at `epoch`, skipping the arrivals
    /// due in the first `missed` of it (a replica that joined a shared schedule late).
    pub(super) fn start<C: Clients>(
        prepared: &Prepared,
        shared: &Shared,
        epoch: Instant,
        missed: Duration,
        clients: &C,
    ) -> Result<Generation, ClientError> {
        let config = &prepared.config;
        let stop = shared.stop.child_token();
        let abort = shared.abort.child_token();
        let soak = !config.scenarios.is_empty();
        let closed = soak && config.load.mode == LoadMode::Closed;
        let recorder = &shared.recorder;
        let idle = Generation {
            stop: stop.clone(),
            abort: abort.clone(),
            dispatch: None,
            planned_end: None,
        };
        start_canary(prepared, shared, &stop, &abort, clients)?;
        if !soak {
            return Ok(idle);
        }
        let workload = Arc::new(Workload::new(config, &prepared.assets, &shared.run_id));
        let client = clients.soak(prepared)?;
        let pool_capacity = (config.load.max_in_flight * 2).clamp(64, 4096);
        // The run's sequence goes on where the previous generation left it: no seq (or its
        // prompt, with the same per-run marker) is sent twice.
        let base = shared.ledger.next_seq();
        let seqs = prompt_seqs(config, shared.shard, base, missed, closed);
        // A replayed trace: its rows are the arrivals, read on the prompt worker.
        let replay = match (&config.load.trace, &prepared.assets.trace) {
            (Some(spec), Some(summary)) if !closed => Some({
                tracing::info!("replaying {}", summary.describe(spec).trim_end());
                Replay::new(spec, summary.period(), base)
                    .sharded(shared.shard.index, shared.shard.count)
                    .skipping_before(missed)
            }),
            _ => None,
        };
        let pool = match (replay, clients.prompts_inline()) {
            (Some(r), true) => Arc::clone(&workload).inline_replay(r),
            (Some(r), false) => Arc::clone(&workload).spawn_replay(pool_capacity, r),
            (None, true) => Arc::clone(&workload).inline_pool(seqs),
            (None, false) => Arc::clone(&workload).spawn_pool(pool_capacity, seqs),
        };
        let spend = Some((Arc::clone(&shared.ledger), config.load.budget));
        if closed {
            recorder.set_limit(0);
            let launcher = Arc::new(Launcher::new(
                client,
                Arc::clone(recorder),
                None,
                spend,
                abort.clone(),
            ));
            let users = Users::new(
                &config.load,
                config.seed,
                epoch,
                pool,
                launcher,
                shared.tracker.clone(),
                stop.clone(),
            );
            return Ok(Generation {
                dispatch: Some(users.spawn()),
                ..idle
            });
        }
        recorder.set_limit(config.load.max_in_flight);
        recorder.set_users(0);
        shared.limit.resize(config.load.max_in_flight);
        shared
            .summary
            .set_spikes(crate::metrics::recovery::Timeline::new(
                &config.load.phases,
                epoch,
                config.load.recovery,
            ));
        let launcher = Arc::new(Launcher::new(
            client,
            Arc::clone(recorder),
            Some(shared.limit.semaphore()),
            spend,
            abort.clone(),
        ));
        let shape = Shape::new(&config.load.phases, config.load.repeat);
        let now = Instant::now();
        shared
            .window
            .shape_started(shape.clone(), epoch, now.max(epoch));
        let mut arrivals = Arrivals::new(shape.clone(), config.load.arrival, config.seed)
            .starting_at(base)
            .sharded(shared.shard);
        if shared.shard.index == 0 {
            super::hooks::spawn(
                config,
                epoch,
                missed,
                Arc::clone(&shared.series),
                Arc::clone(&shared.summary),
                stop.clone(),
            );
        }
        let missed = arrivals.skip_before(missed);
        if missed > 0 {
            tracing::warn!(
                missed,
                "arrivals due before this daemon's load started are skipped (a replica that joined a shared schedule late, or a run resumed after a restart)"
            );
        }
        if epoch > now {
            tracing::info!(wait = %crate::config::human(epoch - now), "waiting for --start-at");
        }
        let schedule_end = shape.end();
        let dispatcher = Dispatcher::new(
            arrivals,
            shape,
            epoch,
            pool,
            launcher,
            shared.tracker.clone(),
            stop.clone(),
        )
        .with_sessions(Arc::new(Sessions::new(
            workload,
            config.load.max_sessions(),
        )));
        Ok(Generation {
            stop,
            abort,
            dispatch: Some(tokio::spawn(dispatcher.run())),
            planned_end: schedule_end.map(|d| epoch + d),
        })
    }

    /// Stop arrivals (requests in flight go on) and wait for the dispatcher to return; the
    /// window's current shape ends now.
    pub(super) async fn stop(&mut self, window: &Window) {
        window.shape_stopped(Instant::now());
        self.stop.cancel();
        if let Some(h) = self.dispatch.take() {
            let _ = h.await;
        }
    }
}

/// The canary's probe on its own client and launcher (outside `max_in_flight` and the budget),
/// on shard 0 only unless `canary.all_shards`.
fn start_canary<C: Clients>(
    prepared: &Prepared,
    shared: &Shared,
    stop: &CancellationToken,
    abort: &CancellationToken,
    clients: &C,
) -> Result<(), ClientError> {
    let config = &prepared.config;
    let (Some(canary), Some(instruments)) = (&config.canary, &shared.canary) else {
        return Ok(());
    };
    if shared.shard.index != 0 && !canary.all_shards {
        tracing::info!(shard = %shared.shard, "the canary runs on shard 0 only (canary.all_shards = false)");
        return Ok(());
    }
    let Some(client) = clients.canary(prepared)? else {
        return Ok(());
    };
    let tokenizer = prepared
        .assets
        .tokenizer_for(config, config.canary_scope().unwrap_or_default());
    let Some(probe) = CanaryProbe::new(config, tokenizer) else {
        return Ok(());
    };
    let launcher = Arc::new(Launcher::new(
        client,
        Arc::clone(&shared.recorder),
        None,
        None,
        abort.clone(),
    ));
    shared.tracker.spawn(probe.run(
        launcher,
        Arc::clone(instruments),
        Arc::clone(&shared.canary_seq),
        shared.tracker.clone(),
        stop.clone(),
    ));
    Ok(())
}

/// Why `new` cannot replace `old` without a restart (label sets and pools are built from them).
pub(super) fn incompatible(old: &Config, new: &Config) -> Option<String> {
    // The engine scrape is built at the start too: where it reads, and which table it uses.
    let targets = |c: &Config| {
        c.targets
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.base_url.clone(),
                    t.model.clone(),
                    t.metrics_url.clone(),
                    t.provider.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let scenarios = |c: &Config| {
        c.scenarios
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.endpoint,
                    s.model.clone(),
                    s.target.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    if targets(old) != targets(new) {
        return Some(
            "the targets changed (names, URLs, models, providers or engine metrics): restart to apply"
                .into(),
        );
    }
    if scenarios(old) != scenarios(new) {
        return Some(
            "the scenarios changed (names, endpoints, models or targets): restart to apply".into(),
        );
    }
    if old.canary.is_some() != new.canary.is_some() {
        return Some("a [canary] was added or removed: restart to apply".into());
    }
    if old.output != new.output {
        return Some("[output] changed: restart to apply".into());
    }
    if old.otlp != new.otlp {
        return Some("[otlp] (or its environment) changed: restart to apply".into());
    }
    if old.resources != new.resources || old.baseline != new.baseline {
        return Some("[resources] or [baseline] changed: restart to apply".into());
    }
    if old.server.listen != new.server.listen {
        return Some("server.listen changed: restart to apply".into());
    }
    None
}

/// The sequence numbers (with each arrival's phase where phases draw from their own scenarios)
/// the prompt worker draws prompts for, from `base` on. The open loop's follow the schedule the
/// dispatcher does, computed again from the seed, from its first arrival that is sent: the ones
/// due before `missed` — a resumed run's whole downtime of them — are skipped by both, so none is
/// drawn and tokenized only to be thrown away while the first arrivals wait.
pub(super) fn prompt_seqs(
    config: &Config,
    shard: Shard,
    base: u64,
    missed: Duration,
    closed: bool,
) -> Box<dyn Iterator<Item = (u64, Option<usize>)> + Send> {
    if closed {
        return Box::new(shard.seqs_from(base).map(|s| (s, None)));
    }
    let mixed = config.load.phase_scenarios.iter().any(|p| !p.is_empty());
    let shape = Shape::new(&config.load.phases, config.load.repeat);
    let mut ahead = Arrivals::new(shape.clone(), config.load.arrival, config.seed)
        .starting_at(base)
        .sharded(shard);
    ahead.skip_before(missed);
    Box::new(ahead.map(move |t| (t.seq, mixed.then(|| shape.phase_at(t.at)).flatten())))
}
