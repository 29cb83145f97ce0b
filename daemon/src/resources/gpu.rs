//! GPUs through NVML, behind the [`GpuSource`] trait so the sampler and its gauges are tested with
//! a fake. `libnvidia-ml.so.1` is loaded at run time by `nvml-wrapper`: no library, no driver or
//! no GPU is the normal case on most machines and becomes a probe status, never a crash or a
//! stream of log lines (one line at start says why GPU gauges are absent).

/// One GPU's readings; `None` where the device does not support a query.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSample {
    /// The GPU's UUID (`hw.id`).
    pub uuid: String,
    pub name: String,
    /// 0–1.
    pub utilization: Option<f64>,
    pub memory_used: Option<u64>,
    pub memory_total: Option<u64>,
    pub power_watts: Option<f64>,
    /// Energy since the driver loaded, joules (a counter).
    pub energy_joules: Option<f64>,
    pub temperature_celsius: Option<f64>,
    pub sm_clock_hz: Option<f64>,
}

/// Why there are no GPU readings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// No NVML library or driver (the normal case without an NVIDIA GPU).
    #[error("NVML is not available: {0}")]
    Unavailable(String),
    #[error("NVML found no GPU")]
    NoDevice,
    #[error("NVML query failed: {0}")]
    Query(String),
}

/// Something that reads GPUs.
pub trait GpuSource: Send {
    fn sample(&mut self) -> Result<Vec<GpuSample>, GpuError>;
}

/// The real thing: NVML, initialised once.
#[derive(Debug)]
pub struct Nvml {
    nvml: Result<nvml_wrapper::Nvml, GpuError>,
}

impl Nvml {
    pub fn load() -> Self {
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| GpuError::Unavailable(e.to_string()));
        match &nvml {
            Ok(_) => tracing::info!("NVML loaded: GPU gauges (hw_*) on"),
            Err(e) => {
                tracing::info!(reason = %e, "no GPU gauges (llmsoak_probe_status{{probe=\"gpu\"}} says why)")
            }
        }
        Nvml { nvml }
    }
}

impl GpuSource for Nvml {
    fn sample(&mut self) -> Result<Vec<GpuSample>, GpuError> {
        let nvml = self.nvml.as_ref().map_err(Clone::clone)?;
        let count = nvml
            .device_count()
            .map_err(|e| GpuError::Query(e.to_string()))?;
        if count == 0 {
            return Err(GpuError::NoDevice);
        }
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let d = nvml
                .device_by_index(i)
                .map_err(|e| GpuError::Query(e.to_string()))?;
            let Ok(uuid) = d.uuid() else { continue };
            let mem = d.memory_info().ok();
            out.push(GpuSample {
                uuid,
                name: d.name().unwrap_or_default(),
                utilization: d.utilization_rates().ok().map(|u| f64::from(u.gpu) / 100.0),
                memory_used: mem.as_ref().map(|m| m.used),
                memory_total: mem.as_ref().map(|m| m.total),
                power_watts: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                energy_joules: d
                    .total_energy_consumption()
                    .ok()
                    .map(|mj| mj as f64 / 1000.0),
                temperature_celsius: d
                    .temperature(nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu)
                    .ok()
                    .map(f64::from),
                sm_clock_hz: d
                    .clock_info(nvml_wrapper::enum_wrappers::device::Clock::SM)
                    .ok()
                    .map(|mhz| f64::from(mhz) * 1e6),
            });
        }
        Ok(out)
    }
}

/// A scripted source for tests: returns its samples in turn (the last one forever).
#[derive(Debug, Clone)]
pub struct Fake {
    pub samples: Vec<Result<Vec<GpuSample>, GpuError>>,
    next: usize,
}

impl Fake {
    pub fn new(samples: Vec<Result<Vec<GpuSample>, GpuError>>) -> Self {
        Fake { samples, next: 0 }
    }
}

impl GpuSource for Fake {
    fn sample(&mut self) -> Result<Vec<GpuSample>, GpuError> {
        let i = self.next.min(self.samples.len().saturating_sub(1));
        self.next += 1;
        self.samples
            .get(i)
            .cloned()
            .unwrap_or(Err(GpuError::NoDevice))
    }
}
