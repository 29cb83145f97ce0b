//! The task that keeps the run's time series (`metrics::series`): every second it samples the
//! gauges a window charts (in flight, offered rate, the resource sampler's latest readings) and
//! watches for events (phase changes, the end of the warm-up, target restarts, drift baselines
//! being set); at each window boundary (multiples of the step after the epoch) it closes the
//! window and judges the gates on the summary so far, marking each gate that turns to breach.
//! Off the request path: it reads atomics and takes the sinks' locks once per window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::window::Live;
use crate::gate::Gates;
use crate::metrics::Recorder;
use crate::metrics::baseline::BaselineSink;
use crate::metrics::series::SeriesSink;
use crate::report::Verdict;
use crate::report::series::{EventKind, Gauges};
use crate::resources::{Latest, Reading};

/// What the timeline reads.
#[derive(Debug, Clone)]
pub(super) struct Sources {
    pub series: Arc<SeriesSink>,
    pub recorder: Arc<Recorder>,
    pub latest: Arc<Latest>,
    pub baselines: Arc<BaselineSink>,
    pub live: Arc<Live>,
    pub gates: Gates,
    /// Load phase kinds by index (for event details).
    pub phase_names: Vec<String>,
    /// The end of the warm-up (`None`: no warm-up).
    pub warmup_end: Option<Instant>,
    /// `llmsoak_recovery_seconds`, set as each disruption recovers.
    pub recovery: opentelemetry::metrics::Gauge<f64>,
}

/// The gauges seen during the open window.
#[derive(Debug, Default)]
struct Sampled {
    in_flight: Option<f64>,
    rate: (f64, u32),
    cpu: (f64, u32),
    gpu_util: (f64, u32),
    last: Reading,
}

impl Sampled {
    fn add(&mut self, in_flight: f64, rate: Option<f64>, r: Reading) {
        self.in_flight = Some(self.in_flight.map_or(in_flight, |m| m.max(in_flight)));
        let mean = |acc: &mut (f64, u32), v: Option<f64>| {
            if let Some(v) = v {
                acc.0 += v;
                acc.1 += 1;
            }
        };
        mean(&mut self.rate, rate);
        mean(&mut self.cpu, r.client_cpu_cores);
        mean(&mut self.gpu_util, r.gpu_utilization);
        self.last = r;
    }

    fn take(&mut self) -> Gauges {
        let s = std::mem::take(self);
        let mean = |(sum, n): (f64, u32)| (n > 0).then(|| sum / f64::from(n));
        Gauges {
            in_flight: s.in_flight,
            offered_rate: mean(s.rate),
            client_cpu_cores: mean(s.cpu),
            client_rss_bytes: s.last.client_rss_bytes,
            target_rss_bytes: s.last.target_rss_bytes,
            gpu_memory_bytes: s.last.gpu_memory_bytes,
            gpu_utilization: mean(s.gpu_util),
        }
    }
}

/// The running timeline task.
#[derive(Debug)]
pub(super) struct Timeline {
    series: Arc<SeriesSink>,
}

impl Timeline {
    /// Sample and roll windows as a side task of the run.
    pub(super) fn start(src: Sources, side: &super::side::Side) -> Timeline {
        let series = Arc::clone(&src.series);
        side.spawn(run(src));
        Timeline { series }
    }

    /// Close the open window at `at` (the run is over; the side tasks have stopped).
    pub(super) fn close(self, at: Instant) {
        self.series.roll(at, Gauges::default(), None);
    }
}

fn phase_of(recorder: &Recorder) -> Option<u32> {
    u32::try_from(
        recorder
            .totals
            .phase
            .load(std::sync::atomic::Ordering::Relaxed),
    )
    .ok()
}

async fn run(src: Sources) {
    let series = &src.series;
    let step = series.step();
    let now = Instant::now();
    // Window boundaries at multiples of the step after the epoch.
    let since = now.saturating_duration_since(series.epoch()).as_secs_f64();
    let k = (since / step.as_secs_f64()).floor() + 1.0;
    let mut next_roll = series.epoch() + step.mul_f64(k);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sampled = Sampled::default();
    let mut phase = phase_of(&src.recorder);
    let mut warmup = src.warmup_end;
    let mut restarts = src.latest.read().target_restarts;
    // The disruptions whose recovery has been marked, in order.
    let mut recovered: Vec<f64> = Vec::new();
    // Baselines restored from the state file were not set by this run.
    let mut baselines: BTreeMap<String, u64> = src
        .baselines
        .current()
        .into_iter()
        .map(|(k, b)| (k, b.computed_at))
        .collect();
    let mut breached: Vec<bool> = vec![false; src.gates.list.len()];
    loop {
        tick.tick().await;
        let now = Instant::now();
        let reading = src.latest.read();
        let t = &src.recorder.totals;
        let p = phase_of(&src.recorder);
        let rate = p.map(|_| t.target_rate());
        sampled.add(t.in_flight().max(0) as f64, rate, reading);
        if p != phase {
            let detail = match p {
                Some(i) => format!(
                    "phase {i} ({})",
                    src.phase_names.get(i as usize).map_or("?", String::as_str)
                ),
                None => "the schedule ended".to_string(),
            };
            series.event(now, EventKind::Phase, detail);
            phase = p;
        }
        if let Some(w) = warmup.filter(|w| now >= *w) {
            series.event(w, EventKind::WarmupEnd, "the summary counts from here");
            warmup = None;
        }
        if reading.target_restarts > restarts {
            series.event(
                now,
                EventKind::TargetRestart,
                "the target server process was replaced",
            );
            src.live.summary.disrupted(now, "target restart");
            restarts = reading.target_restarts;
        }
        for d in src.live.summary.disruptions().iter().skip(recovered.len()) {
            if !d.recovered {
                break;
            }
            series.event(
                now,
                EventKind::Recovered,
                format!(
                    "recovered from the {} at {:.0} s: first success after {}, back within tolerance after {:.0} s",
                    d.cause,
                    d.at_seconds,
                    d.first_success_seconds
                        .map_or("-".to_string(), |s| format!("{s:.1} s")),
                    d.recovery_seconds.unwrap_or_default()
                ),
            );
            recovered.push(d.at_seconds);
            if let Some(s) = d.first_success_seconds {
                src.recovery
                    .record(s, &[opentelemetry::KeyValue::new("stage", "first_success")]);
            }
            src.recovery.record(
                d.recovery_seconds.unwrap_or_default(),
                &[opentelemetry::KeyValue::new("stage", "within_tolerance")],
            );
        }
        for (scope, b) in src.baselines.current() {
            if baselines.insert(scope.clone(), b.computed_at) != Some(b.computed_at) {
                series.event(
                    now,
                    EventKind::Baseline,
                    format!("drift baseline set for {scope}"),
                );
            }
        }
        if now < next_roll {
            continue;
        }
        series.roll(now, sampled.take(), p);
        while next_roll <= now {
            next_roll += step;
        }
        if !src.gates.list.is_empty() {
            let results = src.gates.judge(&src.live.summary(false));
            for (r, was) in results.iter().zip(breached.iter_mut()) {
                let now_breach = r.verdict == Verdict::Breach;
                if now_breach && !*was {
                    let measured = r.measured.map_or("-".into(), |m| format!("{m:.4}"));
                    series.event(
                        now,
                        EventKind::GateBreach,
                        format!("{} (measured {measured})", r.gate),
                    );
                }
                *was = now_breach;
            }
        }
    }
}
