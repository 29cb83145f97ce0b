//! Running one step of the sweep against the target: an open-loop step sends Poisson arrivals
//! at a fixed rate (seeded), each request on its own task with the real client, and at every
//! window's end looks at what has finished — stopping when the estimate is stable, when the
//! queue is clearly running away, or at the cap — then drains what is in flight; a ladder level
//! keeps N closed-loop users busy for a fixed time. Both turn each record into a [`Sample`]
//! judged by the scenario's SLO.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::judge::{Estimate, Sample, StepData, overloaded, quantiles, settled, stable};
use crate::client::Client;
use crate::config::slo::Slo;
use crate::config::sweep::SweepConfig;
use crate::record::{Outcome, RequestPlan, RequestRecord};
use crate::report::sweep::{LadderLevel, StepPoint, StepStop};
use crate::workload::PromptPool;

/// What a step needs: the client, the prompts, the SLOs, the sweep's settings.
#[derive(Debug)]
pub(crate) struct Driver {
    pub client: Arc<Client>,
    pub prompts: Mutex<PromptPool>,
    /// Each scenario's SLO (`None`: a success is enough).
    pub slos: Arc<[Option<Slo>]>,
    pub cfg: SweepConfig,
    pub seed: u64,
    /// Arrivals beyond this many requests in flight are dropped (and make the step
    /// client-limited).
    pub max_in_flight: usize,
}

/// In-flight count and finished samples of one step. Each request in flight sends exactly one
/// sample, so a channel as deep as the in-flight cap never makes one wait.
struct Flight {
    in_flight: AtomicU64,
    tx: mpsc::Sender<Sample>,
}

impl Driver {
    /// The next prompt as a plan arriving at `at`.
    async fn plan(&self, at: Instant) -> Option<RequestPlan> {
        let prompt = self.prompts.lock().await.next().await?;
        Some(RequestPlan {
            seq: prompt.seq,
            intended_at: at,
            scenario: prompt.scenario,
            max_tokens: prompt.max_tokens,
            prompt,
            keep_text: false,
            phase: None,
        })
    }

    /// Wait for what is in flight (up to the drain), then cancel the rest and collect them.
    async fn drain(
        &self,
        flight: &Flight,
        rx: &mut mpsc::Receiver<Sample>,
        cancel: &CancellationToken,
        out: &mut Vec<Sample>,
    ) {
        let soft = Instant::now() + self.cfg.drain;
        let hard = soft + Duration::from_secs(30);
        while flight.in_flight.load(Ordering::Acquire) > 0 || !rx.is_empty() {
            let until = if Instant::now() < soft { soft } else { hard };
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(s)) => out.push(s),
                Ok(None) => break,
                Err(_) if until == soft => cancel.cancel(),
                Err(_) => {
                    tracing::error!("sweep: requests still in flight 30 s after cancelling");
                    break;
                }
            }
        }
    }

    /// One open-loop step at `rate` requests/s: (its data, why it stopped, its windows).
    pub(crate) async fn open(
        self: &Arc<Self>,
        rate: f64,
        index: u64,
    ) -> (StepData, StepStop, Vec<StepPoint>) {
        let c = &self.cfg;
        let t0 = Instant::now();
        let (tx, mut rx) = mpsc::channel(self.max_in_flight + 1);
        let flight = Arc::new(Flight {
            in_flight: AtomicU64::new(0),
            tx,
        });
        let cancel = CancellationToken::new();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (0x5eed_u64 << 32) ^ index);
        #[allow(clippy::expect_used, reason = "a positive, finite rate")]
        let gaps = Exp::new(rate.clamp(1e-6, 1e12)).expect("a positive, finite rate");
        let window = c.window.as_secs_f64();
        let warm = c.warmup.as_secs_f64();
        let mut data = StepData::default();
        // Per window (by arrival): sent, finished, dropped.
        let mut sent: Vec<u64> = Vec::new();
        let mut finished: Vec<u64> = Vec::new();
        let mut history: Vec<Estimate> = Vec::new();
        let mut next = t0;
        let mut tick = t0 + c.window;
        let stopped = 'arrivals: loop {
            next += Duration::from_secs_f64(gaps.sample(&mut rng));
            while tick <= next {
                tokio::time::sleep_until(tick).await;
                let now = tick.saturating_duration_since(t0).as_secs_f64();
                while let Ok(s) = rx.try_recv() {
                    bump(&mut finished, (s.arrival / window) as usize);
                    data.samples.push(s);
                }
                data.ticks
                    .push((now, flight.in_flight.load(Ordering::Acquire)));
                // Judged: the complete windows after the warm-up.
                let complete = (0..sent.len().max(finished.len()))
                    .find(|&w| sent.get(w) != finished.get(w))
                    .unwrap_or(sent.len());
                let upto = complete as f64 * window;
                let judged: Vec<&Sample> = data
                    .samples
                    .iter()
                    .filter(|s| s.arrival >= warm && s.arrival < upto)
                    .collect();
                if !judged.is_empty() {
                    let met = judged.iter().filter(|s| s.met).count();
                    history.push(Estimate {
                        judged: judged.len() as u64,
                        attainment: met as f64 / judged.len() as f64,
                    });
                }
                tick += c.window;
                if now + 1e-9 >= (c.max_step).as_secs_f64() {
                    break 'arrivals StepStop::Cap;
                }
                if now < warm + 3.0 * window {
                    continue;
                }
                let arrived = sent.iter().sum::<u64>() + data.dropped.len() as u64;
                if overloaded(&data.ticks, arrived, data.samples.len() as u64) {
                    break 'arrivals StepStop::Overload;
                }
                if stable(&history, c) && settled(&data.ticks, warm, window) {
                    break 'arrivals StepStop::Stable;
                }
            }
            tokio::time::sleep_until(next).await;
            let arrival = next.saturating_duration_since(t0).as_secs_f64();
            if flight.in_flight.load(Ordering::Acquire) >= self.max_in_flight as u64 {
                data.dropped.push(arrival);
                continue;
            }
            let Some(plan) = self.plan(next).await else {
                break StepStop::NoPrompts;
            };
            bump(&mut sent, (arrival / window) as usize);
            flight.in_flight.fetch_add(1, Ordering::AcqRel);
            let (me, flight, cancel) = (Arc::clone(self), Arc::clone(&flight), cancel.clone());
            tokio::spawn(async move {
                let rec = me.client.execute(&plan, &cancel).await;
                let _ = flight.tx.send(sample(&me.slos, &rec, t0)).await;
                flight.in_flight.fetch_sub(1, Ordering::AcqRel);
            });
            // Take what finished meanwhile (the channel never holds more than is in flight).
            while let Ok(s) = rx.try_recv() {
                bump(&mut finished, (s.arrival / window) as usize);
                data.samples.push(s);
            }
        };
        data.stop = Instant::now().saturating_duration_since(t0).as_secs_f64();
        self.drain(&flight, &mut rx, &cancel, &mut data.samples)
            .await;
        let series = points(&data, window);
        (data, stopped, series)
    }

    /// One ladder level: `users` closed-loop users for `ladder_step`.
    pub(crate) async fn closed(self: &Arc<Self>, users: usize) -> LadderLevel {
        let t0 = Instant::now();
        let dur = self.cfg.ladder_step;
        let deadline = t0 + dur;
        let (tx, mut rx) = mpsc::channel(users + 1);
        let flight = Arc::new(Flight {
            in_flight: AtomicU64::new(0),
            tx,
        });
        let cancel = CancellationToken::new();
        for _ in 0..users {
            let (me, flight, cancel) = (Arc::clone(self), Arc::clone(&flight), cancel.clone());
            flight.in_flight.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let Some(plan) = me.plan(Instant::now()).await else {
                        break;
                    };
                    let rec = me.client.execute(&plan, &cancel).await;
                    let _ = flight.tx.send(sample(&me.slos, &rec, t0)).await;
                }
                flight.in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        }
        let mut samples = Vec::new();
        loop {
            tokio::select! {
                s = rx.recv() => match s {
                    Some(s) => samples.push(s),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.drain(&flight, &mut rx, &cancel, &mut samples).await;
        level(users, &samples, dur.as_secs_f64())
    }
}

/// A record as a sample of a step that started at `t0`, judged by its scenario's SLO.
fn sample(slos: &[Option<Slo>], rec: &RequestRecord, t0: Instant) -> Sample {
    let secs = |t: Instant| t.saturating_duration_since(t0).as_secs_f64();
    let slo = slos
        .get(rec.scenario)
        .copied()
        .flatten()
        .unwrap_or_default();
    let ok = rec.outcome == Outcome::Success;
    // Each bound on its own, so a miss is attributed; met = succeeded and missed none.
    let misses = |bound: Slo| ok && !bound.is_empty() && bound.met(rec) == Some(false);
    let only = |ttft, tpot, e2e| Slo { ttft, tpot, e2e };
    let (miss_ttft, miss_tpot, miss_e2e) = (
        misses(only(slo.ttft, None, None)),
        misses(only(None, slo.tpot, None)),
        misses(only(None, None, slo.e2e)),
    );
    Sample {
        arrival: secs(rec.intended_at),
        end: secs(rec.end_at),
        lag: rec.schedule_lag().as_secs_f64(),
        failed: !ok,
        met: ok && !(miss_ttft || miss_tpot || miss_e2e),
        miss_ttft,
        miss_tpot,
        miss_e2e,
        ttft: rec.ttft().map(|d| d.as_secs_f64()),
        tpot: rec.tpot().map(|d| d.as_secs_f64()),
        e2e: rec.e2e().as_secs_f64(),
    }
}

fn bump(v: &mut Vec<u64>, i: usize) {
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    v[i] += 1;
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
