//! The resource sampler: on its own thread and interval (`[resources]`), it reads the daemon's
//! own process, the host, a co-located target server process and the GPUs, and writes sync
//! gauges (`process.*`, `system.*`, `llmsoak.target.process.*`, `hw.*`). Every probe exports its
//! status (a number, see [`Status`]), success and duration, so "no GPU here" and "cannot read the
//! target's fds" are visible states, not errors. Nothing here touches the request path.

pub mod gpu;
pub mod process;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A process's gauges (the daemon's own `process.*`, or the target's `llmsoak.target.process.*`).
#[derive(Debug, Clone)]
struct ProcessGauges {
    memory: Gauge<f64>,
    virtual_memory: Gauge<f64>,
    cpu: Gauge<f64>,
    threads: Gauge<f64>,
    fds: Gauge<f64>,
    /// The fd limit (the daemon's own process only).
    max_fds: Option<Gauge<f64>>,
}

impl ProcessGauges {
    fn record(&self, r: &process::ProcReading, labels: &[KeyValue]) {
        self.memory.record(r.rss as f64, labels);
        self.virtual_memory.record(r.virt as f64, labels);
        if let Some(c) = r.cpu_cores {
            self.cpu.record(c, labels);
        }
        if let Some(t) = r.threads {
            self.threads.record(t as f64, labels);
        }
        if let Some(f) = r.fds {
            self.fds.record(f as f64, labels);
        }
        if let (Some(g), Some(m)) = (&self.max_fds, r.max_fds) {
            g.record(m as f64, labels);
        }
    }
}

/// One GPU's gauges (`hw.*`).
#[derive(Debug, Clone)]
struct GpuGauges {
    utilization: Gauge<f64>,
    memory: Gauge<f64>,
    memory_limit: Gauge<f64>,
    power: Gauge<f64>,
    temperature: Gauge<f64>,
    sm_clock: Gauge<f64>,
    energy: Counter<f64>,
}

impl GpuGauges {
    fn record(&self, s: &GpuSample, labels: &[KeyValue]) {
        let pairs = [
            (&self.utilization, s.utilization),
            (&self.memory, s.memory_used.map(|v| v as f64)),
            (&self.memory_limit, s.memory_total.map(|v| v as f64)),
            (&self.power, s.power_watts),
            (&self.temperature, s.temperature_celsius),
            (&self.sm_clock, s.sm_clock_hz),
        ];
        for (gauge, value) in pairs {
            if let Some(v) = value {
                gauge.record(v, labels);
            }
        }
    }
}

/// The instruments the sampler writes.
#[derive(Debug, Clone)]
pub struct Gauges {
    status: Gauge<f64>,
    success: Gauge<f64>,
    duration: Gauge<f64>,
    process: ProcessGauges,
    sys_cpu: Gauge<f64>,
    sys_mem: Gauge<f64>,
    sys_mem_limit: Gauge<f64>,
    sys_load: Gauge<f64>,
    target: ProcessGauges,
    restarts: Counter<f64>,
    gpu: GpuGauges,
}

impl Gauges {
    pub fn new(meter: &Meter) -> Self {
        let g = |i: &Instrument| i.gauge(meter);
        Gauges {
            status: g(&c::PROBE_STATUS),
            success: g(&c::PROBE_SUCCESS),
            duration: g(&c::PROBE_DURATION),
            process: ProcessGauges {
                memory: g(&c::PROCESS_MEMORY),
                virtual_memory: g(&c::PROCESS_VIRTUAL),
                cpu: g(&c::PROCESS_CPU),
                threads: g(&c::PROCESS_THREADS),
                fds: g(&c::PROCESS_FDS),
                max_fds: Some(g(&c::PROCESS_MAX_FDS)),
            },
            sys_cpu: g(&c::SYSTEM_CPU),
            sys_mem: g(&c::SYSTEM_MEMORY),
            sys_mem_limit: g(&c::SYSTEM_MEMORY_LIMIT),
            sys_load: g(&c::SYSTEM_LOAD),
            target: ProcessGauges {
                memory: g(&c::TARGET_MEMORY),
                virtual_memory: g(&c::TARGET_VIRTUAL),
                cpu: g(&c::TARGET_CPU),
                threads: g(&c::TARGET_THREADS),
                fds: g(&c::TARGET_FDS),
                max_fds: None,
            },
            restarts: c::TARGET_RESTARTS.counter_f64(meter),
            gpu: GpuGauges {
                utilization: g(&c::GPU_UTILIZATION),
                memory: g(&c::GPU_MEMORY),
                memory_limit: g(&c::GPU_MEMORY_LIMIT),
                power: g(&c::GPU_POWER),
                temperature: g(&c::GPU_TEMPERATURE),
                sm_clock: g(&c::GPU_SM_CLOCK),
                energy: c::GPU_ENERGY.counter_f64(meter),
            },
        }
    }

    pub fn probe(&self, probe: &'static str, status: Status, took: Duration) {
        let l = [KeyValue::new("probe", probe)];
        self.status.record(status as i64 as f64, &l);
        let ok = matches!(status, Status::Ok | Status::Partial);
        self.success.record(if ok { 1.0 } else { 0.0 }, &l);
        self.duration.record(took.as_secs_f64(), &l);
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
            self.gpu.record(s, &l);
            if let Some(e) = s.energy_joules {
                let prev = energy.insert(s.uuid.clone(), e);
                // The first reading only creates the series; a driver reset (lower value) restarts.
                let delta = prev.map_or(0.0, |p| if e >= p { e - p } else { e });
                self.gpu.energy.add(delta, &l);
            }
        }
    }
}

/// The latest readings, for the run's time series (f64 bits; NaN: nothing read yet).
#[derive(Debug)]
pub struct Latest {
    client_cpu_cores: AtomicU64,
    client_rss_bytes: AtomicU64,
    target_rss_bytes: AtomicU64,
    gpu_memory_bytes: AtomicU64,
    gpu_utilization: AtomicU64,
    /// Target process restarts seen.
    pub target_restarts: AtomicU64,
}

impl Default for Latest {
    fn default() -> Self {
        let none = || AtomicU64::new(f64::NAN.to_bits());
        Latest {
            client_cpu_cores: none(),
            client_rss_bytes: none(),
            target_rss_bytes: none(),
            gpu_memory_bytes: none(),
            gpu_utilization: none(),
            target_restarts: AtomicU64::new(0),
        }
    }
}

/// A snapshot of [`Latest`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    pub client_cpu_cores: Option<f64>,
    pub client_rss_bytes: Option<f64>,
    pub target_rss_bytes: Option<f64>,
    pub gpu_memory_bytes: Option<f64>,
    pub gpu_utilization: Option<f64>,
    pub target_restarts: u64,
}

impl Latest {
    fn set(slot: &AtomicU64, v: Option<f64>) {
        slot.store(v.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
    }

    /// The readings now.
    pub fn read(&self) -> Reading {
        let get =
            |a: &AtomicU64| Some(f64::from_bits(a.load(Ordering::Relaxed))).filter(|v| !v.is_nan());
        Reading {
            client_cpu_cores: get(&self.client_cpu_cores),
            client_rss_bytes: get(&self.client_rss_bytes),
            target_rss_bytes: get(&self.target_rss_bytes),
            gpu_memory_bytes: get(&self.gpu_memory_bytes),
            gpu_utilization: get(&self.gpu_utilization),
            target_restarts: self.target_restarts.load(Ordering::Relaxed),
        }
    }

    fn gpus(&self, samples: &[GpuSample]) {
        let used: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.memory_used.map(|v| v as f64))
            .collect();
        let util: Vec<f64> = samples.iter().filter_map(|s| s.utilization).collect();
        Self::set(
            &self.gpu_memory_bytes,
            (!used.is_empty()).then(|| used.iter().sum()),
        );
        Self::set(
            &self.gpu_utilization,
            (!util.is_empty()).then(|| util.iter().sum::<f64>() / util.len() as f64),
        );
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
    latest: Arc<Latest>,
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
            latest: Arc::default(),
        })
    }

    /// Where the latest readings are published.
    pub fn latest(&self) -> Arc<Latest> {
        Arc::clone(&self.latest)
    }

    /// One round of every probe.
    pub fn tick(&mut self) {
        let t = Instant::now();
        let status = match self.reader.process(std::process::id()) {
            Ok(r) => {
                self.gauges.process.record(&r, &[]);
                Latest::set(&self.latest.client_cpu_cores, r.cpu_cores);
                Latest::set(&self.latest.client_rss_bytes, Some(r.rss as f64));
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
            let status = self.target(&tp.target.name, &tp.selector());
            self.gauges.probe("target_process", status, t.elapsed());
        }
        if let Some(gpu) = self.gpu.as_mut() {
            let t = Instant::now();
            let status = match gpu.sample() {
                Ok(samples) => {
                    self.gauges.gpus(&samples, &mut self.energy);
                    self.latest.gpus(&samples);
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
            .and_then(|pid| self.reader.process_tree(pid));
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
                    self.latest.target_restarts.fetch_add(1, Ordering::Relaxed);
                }
                self.target_seen = Some((r.pid, r.start_time));
                self.gauges.target.record(&r, &labels);
                Latest::set(&self.latest.target_rss_bytes, Some(r.rss as f64));
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
