//! Running one step of the sweep on the run's one request lifecycle: a step is a generation of
//! load started on the sweep's [`Run`] — an open-loop Poisson schedule at one rate (seeded per
//! step), or closed-loop users for a ladder level — whose requests go through the same
//! launcher, recorder, `/metrics` and live page as any run's. The [`StepSink`] collects them;
//! at every window's end the step is looked at — stopped when its estimate is stable, when its
//! queue clearly runs away, or at its cap — then drained like a run (what outlives `drain` is
//! cancelled and counted a failure).

use std::time::Duration;

use tokio::time::Instant;

use super::collect::{Collected, StepSink};
use super::judge::{Estimate, Sample, StepData, overloaded, quantiles, settled, stable};
use crate::client::ClientError;
use crate::config::sweep::SweepConfig;
use crate::config::{Arrival, LoadMode, Phase, PhaseKind, Repeat, UserRamp};
use crate::prepare::Prepared;
use crate::report::series::EventKind;
use crate::report::sweep::{LadderLevel, StepPoint, StepStop};
use crate::runner::{Clients, Run};

/// What a step needs: the sweep's run, its collector, the swept config, the sweep's settings.
#[derive(Debug)]
pub(crate) struct Driver<'a, C: Clients> {
    pub run: &'a Run<C>,
    pub steps: &'a StepSink,
    pub base: &'a Prepared,
    pub cfg: &'a SweepConfig,
}

/// What an open-loop step yields: its data, why it stopped, its windows, its summary.
pub(crate) type OpenStep = (StepData, StepStop, Vec<StepPoint>, crate::report::Scope);

impl<C: Clients> Driver<'_, C> {
    /// Run `load` as a generation from now until `until` says stop (looked at every window),
    /// then drain it: (the collected step, why it stopped, the in-flight count at each window's
    /// end, when arrivals stopped — seconds from its start).
    async fn step(
        &self,
        prepared: &Prepared,
        event: String,
        warm: f64,
        mut until: impl FnMut(f64, &[(f64, u64)]) -> Option<StepStop>,
    ) -> Result<(Collected, StepStop, Vec<(f64, u64)>, f64), ClientError> {
        let window = self.cfg.window;
        let t0 = Instant::now();
        self.steps.begin(t0, window.as_secs_f64(), warm);
        self.run.series().event(t0, EventKind::Phase, event);
        let mut generation = self.run.generation(prepared, t0, Duration::ZERO)?;
        let mut ticks: Vec<(f64, u64)> = Vec::new();
        let mut tick = t0 + window;
        let stopped = loop {
            tokio::time::sleep_until(tick).await;
            let now = tick.saturating_duration_since(t0).as_secs_f64();
            let in_flight = u64::try_from(self.run.recorder().totals.in_flight()).unwrap_or(0);
            ticks.push((now, in_flight));
            if let Some(why) = until(now, &ticks) {
                break why;
            }
            tick += window;
        };
        let stop = Instant::now().saturating_duration_since(t0).as_secs_f64();
        self.run
            .drain(&mut generation, self.cfg.drain, std::future::pending())
            .await;
        let measured = (stop - warm).max(0.0);
        let collected = self.steps.end(measured).unwrap_or(Collected {
            samples: Vec::new(),
            dropped: Vec::new(),
            summary: crate::report::Scope::default(),
        });
        Ok((collected, stopped, ticks, stop))
    }

    /// One open-loop step at `rate` requests/s (the `index`-th: its arrivals' seed).
    pub(crate) async fn open(&self, rate: f64, index: u64) -> Result<OpenStep, ClientError> {
        let c = self.cfg;
        let mut p = self.base.clone();
        p.config.seed = self.base.config.seed ^ (0x5eed_u64 << 32) ^ index;
        let load = &mut p.config.load;
        load.mode = LoadMode::Open;
        load.arrival = Arrival::Poisson;
        load.repeat = Repeat::Times(1);
        load.phases = vec![Phase {
            kind: PhaseKind::Steady { rate },
            duration: Some(c.max_step + c.window),
        }];
        let (window, warm) = (c.window.as_secs_f64(), c.warmup.as_secs_f64());
        let mut history: Vec<Estimate> = Vec::new();
        let steps = self.steps;
        let (collected, stopped, ticks, stop) = self
            .step(
                &p,
                format!("sweep step {index}: {rate:.2} req/s offered"),
                warm,
                |now, ticks| {
                    // Judged: the complete windows after the warm-up.
                    let (estimate, arrived, done) = steps
                        .look(|samples, complete, arrived| {
                            let upto = complete as f64 * window;
                            let judged: Vec<&Sample> = samples
                                .iter()
                                .filter(|s| s.arrival >= warm && s.arrival < upto)
                                .collect();
                            let met = judged.iter().filter(|s| s.met).count();
                            let estimate = (!judged.is_empty()).then(|| Estimate {
                                judged: judged.len() as u64,
                                attainment: met as f64 / judged.len() as f64,
                            });
                            (estimate, arrived, samples.len() as u64)
                        })
                        .unwrap_or((None, 0, 0));
                    history.extend(estimate);
                    if now + 1e-9 >= c.max_step.as_secs_f64() {
                        return Some(StepStop::Cap);
                    }
                    if now < warm + 3.0 * window {
                        return None;
                    }
                    if overloaded(ticks, arrived, done) {
                        return Some(StepStop::Overload);
                    }
                    (stable(&history, c) && settled(ticks, warm, window))
                        .then_some(StepStop::Stable)
                },
            )
            .await?;
        let data = StepData {
            samples: collected.samples,
            dropped: collected.dropped,
            ticks,
            stop,
        };
        let series = points(&data, window);
        Ok((data, stopped, series, collected.summary))
    }

    /// One ladder level: `users` closed-loop users for `ladder_step`.
    pub(crate) async fn closed(&self, users: usize) -> Result<LadderLevel, ClientError> {
        let mut p = self.base.clone();
        let load = &mut p.config.load;
        load.mode = LoadMode::Closed;
        load.users = UserRamp::constant(users);
        load.think_time = Default::default();
        let dur = self.cfg.ladder_step.as_secs_f64();
        let (collected, _, _, _) = self
            .step(&p, format!("sweep ladder: {users} users"), 0.0, |now, _| {
                (now + 1e-9 >= dur).then_some(StepStop::Cap)
            })
            .await?;
        Ok(level(users, &collected.samples, dur))
    }
}

/// The step's windows, by arrival.
fn points(d: &StepData, window: f64) -> Vec<StepPoint> {
    let n = (d.stop / window).ceil() as usize;
    (0..n)
        .map(|w| {
            let (a, b) = (w as f64 * window, (w + 1) as f64 * window);
            let inside: Vec<&Sample> = d
                .samples
                .iter()
                .filter(|s| s.arrival >= a && s.arrival < b)
                .collect();
            let dropped = d.dropped.iter().filter(|&&t| t >= a && t < b).count() as u64;
            StepPoint {
                t: a,
                arrivals: inside.len() as u64 + dropped,
                met: inside.iter().filter(|s| s.met).count() as u64,
                in_flight: d.ticks.get(w).map_or(0, |t| t.1),
                ttft_p50: quantiles(inside.iter().filter_map(|s| s.ttft).collect()).p50,
            }
        })
        .collect()
}

/// A ladder level from its samples: the first third is its warm-up.
fn level(users: usize, samples: &[Sample], dur: f64) -> LadderLevel {
    let from = dur / 3.0;
    let done: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.end >= from && s.end <= dur)
        .collect();
    let x = done.len() as f64 / (dur - from);
    let r = if done.is_empty() {
        0.0
    } else {
        done.iter().map(|s| s.e2e).sum::<f64>() / done.len() as f64
    };
    let littles = x * r;
    let lag = quantiles(done.iter().map(|s| s.lag).collect()).p99;
    let client_limited = if done.is_empty() {
        Some("no request completed".to_string())
    } else if littles < 0.8 * users as f64 {
        Some(format!(
            "only {littles:.1} of {users} users busy by Little's law (N = X·R)"
        ))
    } else {
        lag.filter(|l| *l > 0.05)
            .map(|l| format!("requests sent {:.0} ms late (p99)", l * 1000.0))
    };
    LadderLevel {
        users,
        throughput: x,
        mean_e2e: r,
        littles_users: littles,
        completed: done.len() as u64,
        errors: done.iter().filter(|s| s.failed).count() as u64,
        ttft_p50: quantiles(done.iter().filter_map(|s| s.ttft).collect()).p50,
        client_limited,
    }
}
