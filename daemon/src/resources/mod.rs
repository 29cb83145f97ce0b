//! The resource sampler: on its own thread and interval (`[resources]`), it reads the daemon's
//! own process, the host, a co-located target server process and the GPUs, and writes sync
//! gauges (`process.*`, `system.*`, `llmsoak.target.process.*`, `hw.*`). Every probe exports its
//! status (a number, see [`Status`]), success and duration, so "no GPU here" and "cannot read the
//! target's fds" are visible states, not errors. Nothing here touches the request path.

pub mod gpu;
pub mod process;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter};

pub use crate::config::{ResourceConfig, Selector};
use crate::metrics::catalogue::{self as c, Instrument};
use gpu::{GpuError, GpuSample, GpuSource};
use process::{ProcError, Reader};

/// A probe's state, exported as `llmsoak_probe_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    Unavailable = 1,
    NoDevice = 2,
    NotFound = 3,
    Partial = 4,
    Error = 5,
}

fn gauge(meter: &Meter, i: &Instrument) -> Gauge<f64> {
    meter
        .f64_gauge(i.name)
        .with_unit(i.unit)
        .with_description(i.description)
        .build()
}

fn counter(meter: &Meter, i: &Instrument) -> Counter<f64> {
    meter
        .f64_counter(i.name)
        .with_unit(i.unit)
        .with_description(i.description)
        .build()
}

/// The instruments the sampler writes.
#[derive(Debug, Clone)]
pub struct Gauges {
    status: Gauge<f64>,
    success: Gauge<f64>,
    duration: Gauge<f64>,
    proc: [Gauge<f64>; 5],
    sys_cpu: Gauge<f64>,
    sys_mem: Gauge<f64>,
    sys_mem_limit: Gauge<f64>,
    sys_load: Gauge<f64>,
    target: [Gauge<f64>; 5],
    restarts: Counter<f64>,
    gpu: [Gauge<f64>; 6],
    energy: Counter<f64>,
}

impl Gauges {
    pub fn new(meter: &Meter) -> Self {
        let g = |i: &Instrument| gauge(meter, i);
        Gauges {
            status: g(&c::PROBE_STATUS),
            success: g(&c::PROBE_SUCCESS),
            duration: g(&c::PROBE_DURATION),
            proc: [
                g(&c::PROCESS_MEMORY),
                g(&c::PROCESS_VIRTUAL),
                g(&c::PROCESS_CPU),
                g(&c::PROCESS_THREADS),
                g(&c::PROCESS_FDS),
            ],
            sys_cpu: g(&c::SYSTEM_CPU),
            sys_mem: g(&c::SYSTEM_MEMORY),
            sys_mem_limit: g(&c::SYSTEM_MEMORY_LIMIT),
            sys_load: g(&c::SYSTEM_LOAD),
            target: [
                g(&c::TARGET_MEMORY),
                g(&c::TARGET_VIRTUAL),
                g(&c::TARGET_CPU),
                g(&c::TARGET_THREADS),
                g(&c::TARGET_FDS),
            ],
            restarts: counter(meter, &c::TARGET_RESTARTS),
            gpu: [
                g(&c::GPU_UTILIZATION),
                g(&c::GPU_MEMORY),
                g(&c::GPU_MEMORY_LIMIT),
                g(&c::GPU_POWER),
                g(&c::GPU_TEMPERATURE),
                g(&c::GPU_SM_CLOCK),
            ],
            energy: counter(meter, &c::GPU_ENERGY),
        }
    }

    pub fn probe(&self, probe: &'static str, status: Status, took: Duration) {
        let l = [KeyValue::new("probe", probe)];
        self.status.record(status as i64 as f64, &l);
        let ok = matches!(status, Status::Ok | Status::Partial);
        self.success.record(if ok { 1.0 } else { 0.0 }, &l);
        self.duration.record(took.as_secs_f64(), &l);
    }

    fn process(gauges: &[Gauge<f64>; 5], r: &process::ProcReading, labels: &[KeyValue]) {
        gauges[0].record(r.rss as f64, labels);
        gauges[1].record(r.virt as f64, labels);
        if let Some(c) = r.cpu_cores {
            gauges[2].record(c, labels);
        }
        if let Some(t) = r.threads {
            gauges[3].record(t as f64, labels);
        }
        if let Some(f) = r.fds {
            gauges[4].record(f as f64, labels);
        }
    }

    pub fn host(&self, h: &process::HostReading) {
        if let Some(c) = h.cpu {
            self.sys_cpu.record(c, &[]);
        }
        for (state, v) in [("used", h.memory_used), ("available", h.memory_available)] {
            self.sys_mem
                .record(v as f64, &[KeyValue::new("system.memory.state", state)]);
        }
        self.sys_mem_limit.record(h.memory_total as f64, &[]);
        if let Some(l) = h.load {
            for (w, v) in ["1m", "5m", "15m"].iter().zip(l) {
                self.sys_load.record(v, &[KeyValue::new("window", *w)]);
            }
        }
    }

    /// Record GPU readings; `energy` keeps each GPU's last energy reading (for increments).
    pub fn gpus(&self, samples: &[GpuSample], energy: &mut HashMap<String, f64>) {
        for s in samples {
            let l = [
                KeyValue::new("hw.id", s.uuid.clone()),
                KeyValue::new("hw.name", s.name.clone()),
            ];
            let values = [
                s.utilization,
                s.memory_used.map(|v| v as f64),
                s.memory_total.map(|v| v as f64),
                s.power_watts,
                s.temperature_celsius,
                s.sm_clock_hz,
            ];
            for (g, v) in self.gpu.iter().zip(values) {
                if let Some(v) = v {
                    g.record(v, &l);
                }
            }
            if let Some(e) = s.energy_joules {
                let prev = energy.insert(s.uuid.clone(), e);
                // The first reading only creates the series; a driver reset (lower value) restarts.
                let delta = prev.map_or(0.0, |p| if e >= p { e - p } else { e });
                self.energy.add(delta, &l);
            }
        }
    }
}

/// Everything the sampler thread owns.
pub struct Sampler {
    pub config: ResourceConfig,
    pub gauges: Gauges,
    pub reader: Reader,
    pub gpu: Option<Box<dyn GpuSource>>,
    /// (pid, start time) of the target process last seen.
    target_seen: Option<(u32, u64)>,
    energy: HashMap<String, f64>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("config", &self.config)
            .finish()
    }
}

impl Sampler {
    pub fn new(
        config: ResourceConfig,
        meter: &Meter,
        gpu: Option<Box<dyn GpuSource>>,
    ) -> Result<Self, ProcError> {
        Ok(Sampler {
            config,
            gauges: Gauges::new(meter),
            reader: Reader::new()?,
            gpu,
            target_seen: None,
            energy: HashMap::new(),
        })
    }

    /// One round of every probe.
    pub fn tick(&mut self) {
        let t = Instant::now();
        let status = match self.reader.process(std::process::id()) {
            Ok(r) => {
                Gauges::process(&self.gauges.proc, &r, &[]);
                Status::Ok
            }
            Err(_) => Status::Error,
        };
        self.gauges.probe("self", status, t.elapsed());
        if self.config.host {
            let t = Instant::now();
            let h = self.reader.host();
            self.gauges.host(&h);
            self.gauges.probe("host", Status::Ok, t.elapsed());
        }
        if let Some(tp) = self.config.target_process.clone() {
            let t = Instant::now();
            let status = self.target(&tp.target, &tp.selector);
            self.gauges.probe("target_process", status, t.elapsed());
        }
        if let Some(gpu) = self.gpu.as_mut() {
            let t = Instant::now();
            let status = match gpu.sample() {
                Ok(samples) => {
                    self.gauges.gpus(&samples, &mut self.energy);
                    Status::Ok
                }
                Err(GpuError::Unavailable(_)) => Status::Unavailable,
                Err(GpuError::NoDevice) => Status::NoDevice,
                Err(GpuError::Query(e)) => {
                    tracing::debug!(error = %e, "NVML query");
                    Status::Error
                }
            };
            self.gauges.probe("gpu", status, t.elapsed());
        }
    }

    fn target(&mut self, target: &str, selector: &Selector) -> Status {
        let labels = [KeyValue::new("llmsoak.target", target.to_string())];
        self.gauges.restarts.add(0.0, &labels);
        let reading = self
            .reader
            .resolve(selector)
            .and_then(|pid| self.reader.process(pid));
        match reading {
            Ok(r) => {
                if let Some((pid, start)) = self.target_seen
                    && (pid, start) != (r.pid, r.start_time)
                {
                    tracing::warn!(
                        target,
                        old_pid = pid,
                        new_pid = r.pid,
                        "the target server process restarted"
                    );
                    self.gauges.restarts.add(1.0, &labels);
                }
                self.target_seen = Some((r.pid, r.start_time));
                Gauges::process(&self.gauges.target, &r, &labels);
                if r.fds_denied {
                    Status::Partial
                } else {
                    Status::Ok
                }
            }
            Err(ProcError::NotFound(_)) => Status::NotFound,
            Err(ProcError::Error(_)) => Status::Error,
        }
    }

    /// Sample every `interval` on a dedicated thread until `stop` is set.
    pub fn spawn(mut self, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("llmsoak-resources".into())
            .spawn(move || {
                let step = Duration::from_millis(100);
                while !stop.load(Ordering::Relaxed) {
                    self.tick();
                    let until = Instant::now() + self.config.interval;
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(
                            step.min(until.saturating_duration_since(Instant::now())),
                        );
                    }
                }
            })
    }
}
