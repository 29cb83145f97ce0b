//! One "generation" of load from one config: the open-loop dispatcher (or the closed-loop users)
//! and the canary, with their own client, workload and stop token. The run starts one; a reload
//! stops it (arrivals stop, requests in flight finish) and starts the next from the new config,
//! while the recorder, its counters and the HTTP server carry on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client::{Client, ClientError};
use crate::config::{Config, LoadMode};
use crate::metrics::Recorder;
use crate::schedule::canary::CanaryProbe;
use crate::schedule::closed::Users;
use crate::schedule::{Arrivals, DispatchEnd, Dispatcher, FailureLog, Shape, Shard};
use crate::workload::Workload;

/// What every generation shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub recorder: Arc<Recorder>,
    pub tracker: TaskTracker,
    /// Parent of every generation's stop token (the run's drain cancels it).
    pub stop: CancellationToken,
    pub abort: CancellationToken,
    pub run_id: String,
    pub shard: Shard,
}

/// The load a config describes, running.
#[derive(Debug)]
pub struct Generation {
    pub stop: CancellationToken,
    /// The open-loop dispatcher; `None` for closed-loop and canary-only configs.
    pub dispatch: Option<JoinHandle<DispatchEnd>>,
    pub schedule_end: Option<Duration>,
}

impl Generation {
    /// Start the load of `config` with its schedule's epoch at `epoch`, skipping the arrivals
    /// due in the first `missed` of it (a replica that joined a shared schedule late).
    pub fn start(
        config: &Config,
        shared: &Shared,
        epoch: Instant,
        missed: Duration,
    ) -> Result<Generation, ClientError> {
        let stop = shared.stop.child_token();
        let soak = !config.scenarios.is_empty();
        let closed = soak && config.load.mode == LoadMode::Closed;
        let workload = Arc::new(Workload::new(config, &shared.run_id));
        let client = Arc::new(Client::new(config)?);
        let pool_capacity = (config.load.max_in_flight * 2).clamp(64, 4096);
        let failures = Arc::new(FailureLog::new(5));
        let recorder = &shared.recorder;
        if let Some(probe) = CanaryProbe::new(config)? {
            if shared.shard.index == 0 || config.canary.as_ref().is_some_and(|c| c.all_shards) {
                shared.tracker.spawn(probe.run(
                    Arc::clone(recorder),
                    stop.clone(),
                    shared.abort.clone(),
                ));
            } else {
                tracing::info!(shard = %shared.shard, "the canary runs on shard 0 only (canary.all_shards = false)");
            }
        }
        if closed {
            recorder.set_limit(0);
            Users {
                users: config.load.users,
                epoch,
                think_time: config.load.think_time,
                seed: config.seed,
                pool: Arc::clone(&workload).spawn_pool(pool_capacity, shared.shard.seqs()),
                recorder: Arc::clone(recorder),
                executor: Arc::clone(&client),
                failures,
                tracker: shared.tracker.clone(),
                stop: stop.clone(),
                abort: shared.abort.clone(),
                budget: config.load.budget,
            }
            .spawn();
            return Ok(Generation {
                stop,
                dispatch: None,
                schedule_end: None,
            });
        }
        if !soak {
            return Ok(Generation {
                stop,
                dispatch: None,
                schedule_end: None,
            });
        }
        recorder.set_limit(config.load.max_in_flight);
        recorder.set_spikes(crate::metrics::recovery::Timeline::new(
            &config.load.phases,
            epoch,
            config.load.recovery,
        ));
        let shape = Shape::new(&config.load.phases, config.load.repeat);
        let now = Instant::now();
        let mut arrivals =
            Arrivals::new(shape.clone(), config.load.arrival, config.seed).sharded(shared.shard);
        let missed = arrivals.skip_before(missed);
        if missed > 0 {
            tracing::warn!(
                missed,
                "joined the shared schedule late: arrivals due before this replica started are skipped"
            );
        }
        if epoch > now {
            tracing::info!(wait = ?(epoch - now), "waiting for --start-at");
        }
        let schedule_end = shape.end();
        let dispatcher = Dispatcher {
            arrivals,
            shape,
            epoch,
            limit: Arc::new(Semaphore::new(config.load.max_in_flight)),
            pool: Arc::clone(&workload).spawn_pool(pool_capacity, shared.shard.seqs()),
            workload,
            sessions: Arc::new(Semaphore::new(config.load.max_sessions)),
            budget: config.load.budget,
            recorder: Arc::clone(recorder),
            executor: client,
            tracker: shared.tracker.clone(),
            stop: stop.clone(),
            abort: shared.abort.clone(),
            failures,
        };
        Ok(Generation {
            stop,
            dispatch: Some(tokio::spawn(dispatcher.run())),
            schedule_end,
        })
    }

    /// Stop arrivals (requests in flight go on) and wait for the dispatcher to return.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(h) = self.dispatch.take() {
            let _ = h.await;
        }
    }
}

/// Why `new` cannot replace `old` without a restart (label sets and pools are built from them).
pub fn incompatible(old: &Config, new: &Config) -> Option<String> {
    let targets = |c: &Config| {
        c.targets
            .iter()
            .map(|t| (t.name.clone(), t.base_url.clone(), t.model.clone()))
            .collect::<Vec<_>>()
    };
    let scenarios = |c: &Config| {
        c.scenarios
            .iter()
            .map(|s| (s.name.clone(), s.endpoint, s.model.clone(), s.target))
            .collect::<Vec<_>>()
    };
    if targets(old) != targets(new) {
        return Some("the targets changed (names, URLs or models): restart to apply".into());
    }
    if scenarios(old) != scenarios(new) {
        return Some(
            "the scenarios changed (names, endpoints, models or targets): restart to apply".into(),
        );
    }
    if old.canary.is_some() != new.canary.is_some() {
        return Some("a [canary] was added or removed: restart to apply".into());
    }
    if old.requests_jsonl != new.requests_jsonl {
        return Some("[output] changed: restart to apply".into());
    }
    let otlp = |c: &Config| {
        c.otlp.as_ref().map(|o| {
            let headers: Vec<(&str, &str)> = o
                .headers
                .iter()
                .map(|h| (h.name.as_str(), h.value.expose()))
                .collect();
            format!("{:?} {:?}", o, headers)
        })
    };
    if otlp(old) != otlp(new) {
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
