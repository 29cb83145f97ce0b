//! One run's machinery, whatever drives its load: the exporter, the recorder and its sinks, the
//! HTTP server, the side tasks and the trust probe, under one cancellation tree — started by
//! [`Run::start`], given generations of load by its driver (the config's schedule in
//! [`super::run_with`], the sweep's steps in `sweep`), and closed by [`Run::finish`] in the one
//! shutdown order: the side tasks stop and the last window closes; the report is taken; the
//! resource sampler, the HTTP server, the request log and the exporter close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::generation::{Clients, Generation, Shared};
use super::sinks::{Sinks, sinks};
use super::source::ReportSource;
use super::{
    RunError, RunOptions, SIGNAL_QUEUE, notify, resume, side, telemetry, timeline, unix_now, window,
};
use crate::client::ClientError;
use crate::export::Exporter;
use crate::metrics::Recorder;
use crate::metrics::canary::CanaryInstruments;
use crate::metrics::run::{RunIdentity, RunInstruments};
use crate::metrics::series::SeriesSink;
use crate::prepare::Prepared;
use crate::report::series::EventKind;
use crate::report::{RunReport, StopSignal};
use crate::schedule::{InFlightLimit, Ledger};
use crate::server::{self, Phase, Status};

/// `POST /-/reload`'s requests to the run loop, each with where to answer.
pub(crate) type Reloads = mpsc::Receiver<oneshot::Sender<Result<String, String>>>;

/// A run's machinery, started.
#[derive(Debug)]
pub(crate) struct Run<C: Clients> {
    /// Where the run checkpoints itself to go on after a restart.
    state: Option<StateWriter>,
    pub(super) clients: C,
    pub(super) shared: Shared,
    pub(super) status: Arc<Status>,
    pub(super) instruments: RunInstruments,
    pub(super) window: Arc<window::Window>,
    /// When the schedule counts from (now, or the shared `--start-at`).
    pub(super) epoch: Instant,
    /// When the load starts (the later of now and the epoch).
    pub(super) start: Instant,
    pub(super) reloads: Reloads,
    /// `llmsoak_connections_opened_total`, read from the clients' connectors at each collection.
    _connections: Option<opentelemetry::metrics::ObservableCounter<u64>>,
    recorder: Arc<Recorder>,
    sinks: Sinks,
    exporter: Exporter,
    live: Arc<window::Live>,
    source: ReportSource,
    side: side::Side,
    telemetry: telemetry::Telemetry,
    timeline: timeline::Timeline,
    /// The scrapes of the targets' engines, when any is scraped.
    engines: Option<Arc<super::scrape::Engines>>,
    root: CancellationToken,
    server_stop: CancellationToken,
    server_task: JoinHandle<std::io::Result<()>>,
    progress: bool,
}

impl<C: Clients> Run<C> {
    /// Wire a run for `prepared` (its load is started separately, [`Run::generation`]);
    /// `extra` sinks hear of every request too (a sweep's step collector). `on_listen` is told
    /// the bound address of `/metrics` before any load is sent.
    pub(crate) async fn start(
        prepared: &Prepared,
        opts: &mut RunOptions,
        on_listen: impl FnOnce(SocketAddr),
        clients: C,
        extra: Vec<Arc<dyn crate::metrics::Sink>>,
    ) -> Result<Run<C>, RunError> {
        // A resumed run goes on under its own id, from its start. The checkpoint moves into the
        // run (its series into the tiers, its report beside): it is not kept a second time.
        let resumed = opts
            .state
            .as_mut()
            .and_then(|s| s.resume.take())
            .map(Arc::unwrap_or_clone);
        let run_id = resumed
            .as_ref()
            .map_or_else(super::new_run_id, |c| c.run_id.clone());
        let config = &prepared.config;
        let identity = RunIdentity {
            run_id: run_id.clone(),
            shard: crate::report::ReportShard::Replica {
                index: u32::try_from(opts.shard.index).unwrap_or(u32::MAX),
                count: u32::try_from(opts.shard.count).unwrap_or(u32::MAX),
            },
            start_time: resumed.as_ref().map_or_else(unix_now, |c| c.started_unix),
            tls_unverified: RunIdentity::unverified(config),
        };
        let exporter = Exporter::with_otlp(
            vec![
                KeyValue::new("service.instance.id", run_id.clone()),
                KeyValue::new("llmsoak.shard", identity.shard.to_string()),
            ],
            config.otlp.as_ref(),
        )?;
        let meter = exporter.meter();
        // The schedule's epoch: now, or the shared `--start-at` of a sharded run.
        let now = Instant::now();
        let epoch = match opts.start_at {
            None => now,
            Some(at) => match at.duration_since(SystemTime::now()) {
                Ok(ahead) => now + ahead,
                Err(e) => now.checked_sub(e.duration()).unwrap_or(now),
            },
        };
        let start = now.max(epoch);
        let measure_from = start + opts.warmup.unwrap_or_default();
        let window = Arc::new(window::Window::new(measure_from));
        let labels = crate::metrics::request_labels(config);
        let sinks = sinks(prepared, &exporter, &labels, (epoch, start, measure_from))?;
        let all_sinks = sinks.all.iter().cloned().chain(extra).collect();
        let recorder = Arc::new(Recorder::new(&meter, labels, all_sinks).with_slos(config.slos()));
        let probe = crate::trust::Probe::start(&meter, measure_from)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot start the client-lag probe; the report will carry no trust verdict"))
            .ok();
        // A resumed run's checkpoint: its series goes on in this daemon's tiers and its summary
        // seeds this daemon's (held once, as one run's); the rest is what every report adds.
        let mut before = window::Before::default();
        let resumed = resumed.map(|c| {
            let super::resume::Checkpoint {
                mut report,
                written_unix,
                next_seq,
                spent_requests,
                spent_output_tokens,
                ..
            } = c;
            if let Some(series) = report.series.take() {
                sinks.series.preload(series);
            }
            let (earlier, summary) = crate::report::resume::split(report);
            if let Some(s) = summary {
                before = window::Before::of(&s);
                sinks.summary.seed(s);
            }
            let ledger = Arc::new(Ledger::resumed(
                next_seq,
                spent_requests,
                spent_output_tokens,
            ));
            (written_unix, ledger, earlier)
        });
        let live = Arc::new(window::Live {
            summary: Arc::clone(&sinks.summary),
            window: Arc::clone(&window),
            probe,
            before,
        });
        let instruments = RunInstruments::new(&meter, &identity, config.checksum);
        let connections = clients
            .connections()
            .map(|opened| crate::metrics::connections_opened(&meter, move || opened.snapshot()));
        let canary = config
            .canary
            .as_ref()
            .map(|_| Arc::new(CanaryInstruments::new(&meter, identity.start_time)));
        // `POST /-/reload` asks the run loop and waits for the answer.
        let (reload_tx, reloads) = mpsc::channel(SIGNAL_QUEUE);
        let status = Arc::new(Status::new(
            exporter.clone(),
            server::Sources {
                recorder: Arc::clone(&recorder),
                summary: Arc::clone(&live) as Arc<dyn server::LiveSummary>,
                baselines: Arc::clone(&sinks.baselines),
                request_log: sinks.log.clone(),
                series: Arc::clone(&sinks.series),
            },
            Arc::new(config.clone()),
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
        let shared = Shared {
            recorder: Arc::clone(&recorder),
            summary: Arc::clone(&sinks.summary),
            tracker: TaskTracker::new(),
            stop: root.child_token(),
            abort: root.child_token(),
            run_id: run_id.clone(),
            shard: opts.shard,
            ledger: resumed
                .as_ref()
                .map_or_else(Arc::default, |r| Arc::clone(&r.1)),
            limit: Arc::new(InFlightLimit::new(config.load.max_in_flight)),
            canary,
            canary_seq: Arc::default(),
            window: Arc::clone(&window),
            series: Arc::clone(&sinks.series),
        };
        let prior = resumed.map(|(written_unix, _, earlier)| {
            let at_unix = unix_now();
            let r = &earlier.requests;
            let resume = crate::report::resume::Resume {
                at_unix,
                checkpoint_unix: written_unix,
                gap_seconds: (at_unix - written_unix).max(0.0),
                in_flight_lost: r.started.saturating_sub(r.finished.total() + r.lost),
            };
            tracing::warn!(
                run_id = %run_id,
                checkpoint_age = %crate::config::human(Duration::from_secs_f64(resume.gap_seconds)),
                in_flight_lost = resume.in_flight_lost,
                "going on with an unfinished run from its checkpoint (--fresh starts over)"
            );
            sinks.series.event(
                start,
                EventKind::Resumed,
                format!(
                    "run {run_id} went on after a restart: {:.0} s since its last checkpoint unrecorded, {} requests in flight lost",
                    resume.gap_seconds, resume.in_flight_lost
                ),
            );
            Arc::new((earlier, resume))
        });
        if prior.is_none() {
            sinks
                .series
                .event(start, EventKind::Start, format!("run {run_id} started"));
        }
        let started = Instant::now();
        let side = side::Side::new(&root);
        let telemetry =
            telemetry::Telemetry::start(config, &exporter, Arc::clone(&sinks.baselines), &side);
        let timeline = timeline::Timeline::start(
            timeline::Sources {
                series: Arc::clone(&sinks.series),
                recorder: Arc::clone(&recorder),
                latest: Arc::clone(&telemetry.latest),
                baselines: Arc::clone(&sinks.baselines),
                live: Arc::clone(&live),
                gates: opts.gates.clone(),
                phase_names: config.load.phase_names(),
                warmup_end: opts.warmup.filter(|w| !w.is_zero()).map(|_| measure_from),
                recovery: crate::metrics::catalogue::RECOVERY.gauge(&meter),
            },
            &side,
        );
        let engines = match &sinks.tokens {
            Some(tokens) => {
                let scrapers = clients.scrapers(prepared);
                (!scrapers.is_empty()).then(|| {
                    Arc::new(super::scrape::Engines::new(
                        scrapers,
                        Arc::clone(&sinks.series),
                        Arc::clone(&recorder),
                        crate::metrics::server::ScrapeInstruments::new(&meter),
                        Arc::clone(tokens),
                        Arc::clone(&sinks.summary),
                    ))
                })
            }
            None => None,
        };
        if let Some(e) = &engines {
            // Before any load: what the run's counters count from.
            e.round().await;
            side.spawn(Arc::clone(e).run());
        }
        let source = ReportSource {
            engines: engines.clone(),
            scope_targets: config.scope_targets(),
            recorder: Arc::clone(&recorder),
            live: Arc::clone(&live),
            series: Arc::clone(&sinks.series),
            baselines: Arc::clone(&sinks.baselines),
            config: serde_json::to_value(config).ok(),
            identity,
            gates: opts.gates.clone(),
            started,
            phase_skips: config.load.phase_skips.clone(),
            prior,
            first_last: Arc::default(),
        };
        status.set_live(Arc::new(source.clone()) as Arc<dyn server::LiveReport>);
        let redraw = opts.duration.and_then(|total| {
            crate::progress::ticker(
                Arc::clone(&recorder),
                Arc::clone(&sinks.summary),
                started,
                total,
            )
        });
        let progress = redraw.is_some();
        if let Some(redraw) = redraw {
            side.every(Duration::from_secs(1), redraw);
        }
        let state = opts.state.as_ref().map(|s| StateWriter {
            dir: s.dir.clone(),
            config: s.config.clone(),
            started_unix: source.identity.start_time,
            epoch_unix: unix_now() + signed_secs(epoch, now),
            ledger: Arc::clone(&shared.ledger),
        });
        if opts.report.is_some() || state.is_some() {
            let (source, path, state) = (source.clone(), opts.report.clone(), state.clone());
            side.every_blocking(config.output.checkpoint_interval, move || {
                let r = source.snapshot(None, false);
                if let Some(path) = &path
                    && let Err(e) = r.write(path)
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the report checkpoint");
                }
                if let Some(state) = &state {
                    state.save(r, false);
                }
            });
        }
        if let Some(every) = notify::watchdog_every() {
            side.every(every, notify::ping);
        }
        Ok(Run {
            state,
            clients,
            _connections: connections,
            shared,
            status,
            instruments,
            window,
            epoch,
            start,
            reloads,
            recorder,
            sinks,
            exporter,
            live,
            source,
            side,
            telemetry,
            timeline,
            engines,
            root,
            server_stop,
            server_task,
            progress,
        })
    }

    /// Start the load of `prepared` with its schedule's epoch at `epoch`, skipping the arrivals
    /// due in its first `missed`.
    pub(crate) fn generation(
        &self,
        prepared: &Prepared,
        epoch: Instant,
        missed: Duration,
    ) -> Result<Generation, ClientError> {
        Generation::start(prepared, &self.shared, epoch, missed, &self.clients)
    }

    /// Whether this daemon went on with a run from its checkpoint.
    pub(super) fn resumed(&self) -> bool {
        self.source.prior.is_some()
    }

    /// The recorder: its totals say what is in flight.
    pub(crate) fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The run's time series (events: a sweep's steps).
    pub(crate) fn series(&self) -> &Arc<SeriesSink> {
        &self.sinks.series
    }

    /// The run is serving load (`/-/ready` answers 200).
    pub(crate) fn running(&self, detail: &str) {
        self.status.set_phase(Phase::Running);
        notify::ready(detail);
    }

    /// Stop `generation`'s arrivals, give its requests in flight `grace` to finish (or until
    /// `stop` resolves: a second signal), then cancel the rest and wait for them: every request
    /// it started has been recorded when this returns.
    pub(crate) async fn drain(
        &self,
        generation: &mut Generation,
        grace: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        generation.stop(&self.window).await;
        let tracker = &self.shared.tracker;
        tracker.close();
        let in_flight = self.recorder.totals.in_flight();
        if in_flight > 0 {
            tracing::info!(in_flight, grace = %crate::config::human(grace), "draining in-flight requests");
        }
        tokio::select! {
            () = tracker.wait() => {}
            () = tokio::time::sleep(grace) => {
                tracing::warn!("drain grace period over; cancelling the remaining requests");
                generation.abort.cancel();
                tracker.wait().await;
            }
            () = stop => {
                tracing::warn!("second signal; cancelling in-flight requests now");
                generation.abort.cancel();
                tracker.wait().await;
            }
        }
        // The next generation (a sweep's next step) tracks its requests here again.
        tracker.reopen();
    }

    /// Say the load is ending: an event on the series, systemd's STOPPING, `/-/ready` 503.
    pub(crate) fn stopping(&self, stopped_by: Option<StopSignal>) {
        self.window.load_ended(Instant::now());
        let why = match stopped_by {
            Some(s) => format!("arrivals stopped ({s:?}); draining"),
            None => "arrivals stopped; draining".to_string(),
        };
        self.sinks
            .series
            .event(Instant::now(), EventKind::Stop, why);
        notify::stopping();
        self.status.set_phase(Phase::Draining);
    }

    /// The end, after the last drain: the shutdown order's remaining steps, and the report.
    pub(crate) async fn finish(self, stopped_by: Option<StopSignal>) -> RunReport {
        self.shared.stop.cancel();
        self.side.stop().await;
        if self.progress {
            crate::progress::clear();
        }
        // The engines' last word, after the drain: it joins the last window.
        if let Some(e) = &self.engines {
            e.round().await;
        }
        self.timeline.close(Instant::now());
        let report = self.source.snapshot(stopped_by, true);
        // A run a signal stopped is unfinished: the next daemon goes on with it.
        if let Some(state) = &self.state {
            state.save(report.clone(), stopped_by.is_none());
        }
        self.live.stop();
        self.telemetry.stop().await;
        self.server_stop.cancel();
        self.root.cancel();
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), self.server_task).await
        {
            tracing::warn!(error = %e, "metrics server");
        }
        if let Some(log) = self.sinks.log {
            let _ = tokio::task::spawn_blocking(move || log.close()).await;
        }
        let exporter = self.exporter;
        let _ = tokio::task::spawn_blocking(move || exporter.shutdown()).await;
        report
    }
}

/// Seconds from `now` to `at` (negative when `at` is past).
fn signed_secs(at: Instant, now: Instant) -> f64 {
    match at.checked_duration_since(now) {
        Some(ahead) => ahead.as_secs_f64(),
        None => -now.saturating_duration_since(at).as_secs_f64(),
    }
}

/// Writes the run's resume checkpoints into the state directory.
#[derive(Debug, Clone)]
struct StateWriter {
    dir: std::path::PathBuf,
    config: serde_json::Value,
    started_unix: f64,
    epoch_unix: f64,
    ledger: Arc<Ledger>,
}

impl StateWriter {
    fn save(&self, report: RunReport, finished: bool) {
        let cp = resume::checkpoint(
            report,
            self.config.clone(),
            (self.epoch_unix, self.started_unix),
            &self.ledger,
            finished,
        );
        if let Err(e) = resume::save(&self.dir, &cp) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write the resume checkpoint");
        }
    }
}
