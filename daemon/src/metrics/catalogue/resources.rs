//! The catalogue's resource and telemetry-health instruments (DESIGN §5): OTLP export failures,
//! every probe's status, success and duration, the daemon's own process (OTel `process.*`, the
//! OTLP twin of `process_*` on `/metrics`), the host (`system.*`), a co-located target server's
//! process (`llmsoak.target.process.*`), GPUs through NVML (`hw.*`, one series per GPU UUID) and
//! the drift baselines (`llmsoak.baseline.*`). None carries request labels except the baselines.

use super::Kind::{Counter, Gauge};
use super::{Instrument, REQUEST_LABELS, inst};

pub const OTLP_EXPORT_FAILURES: Instrument = inst(
    "llmsoak.otlp.export_failures",
    "llmsoak_otlp_export_failures_total",
    Counter,
    "",
    "OTLP metric exports that failed (collector down, refused or timed out); the request path is never affected.",
    &[],
    &[],
);
pub const PROBE_STATUS: Instrument = inst(
    "llmsoak.probe.status",
    "llmsoak_probe_status",
    Gauge,
    "",
    "Resource probe status as a number: 0 ok, 1 unavailable (no library, e.g. no NVML), 2 no device, 3 target process not found, 4 partial (permission denied for some readings), 5 error.",
    &[],
    &["probe"],
);
pub const PROBE_SUCCESS: Instrument = inst(
    "llmsoak.probe.success",
    "llmsoak_probe_success",
    Gauge,
    "",
    "1 when the probe's last sample succeeded (fully or partly), else 0.",
    &[],
    &["probe"],
);
pub const PROBE_DURATION: Instrument = inst(
    "llmsoak.probe.duration",
    "llmsoak_probe_duration_seconds",
    Gauge,
    "s",
    "How long the probe's last sample took.",
    &[],
    &["probe"],
);
pub const SCRAPE_SUCCESS: Instrument = inst(
    "llmsoak.target.scrape.success",
    "llmsoak_target_scrape_success",
    Gauge,
    "",
    "1 when the last scrape of the target engine's own /metrics succeeded, else 0 (targets with metrics on: a provider that names an engine, or metrics_url).",
    &[],
    &["llmsoak.target"],
);
pub const SCRAPE_DURATION: Instrument = inst(
    "llmsoak.target.scrape.duration",
    "llmsoak_target_scrape_duration_seconds",
    Gauge,
    "s",
    "How long the last scrape of the target engine's /metrics took.",
    &[],
    &["llmsoak.target"],
);
pub const SCRAPE_SERIES: Instrument = inst(
    "llmsoak.target.scrape.series",
    "llmsoak_target_scrape_series",
    Gauge,
    "{series}",
    "Series the last scrape of the target engine's /metrics kept (those its engine's mapping table names).",
    &[],
    &["llmsoak.target"],
);
pub const PROCESS_MEMORY: Instrument = inst(
    "process.memory.usage",
    "process_memory_usage_bytes",
    Gauge,
    "By",
    "Resident memory of the llm-soak process (OTel semconv; the same quantity as process_resident_memory_bytes).",
    &[],
    &[],
);
pub const PROCESS_VIRTUAL: Instrument = inst(
    "process.memory.virtual",
    "process_memory_virtual_bytes",
    Gauge,
    "By",
    "Virtual memory of the llm-soak process.",
    &[],
    &[],
);
pub const PROCESS_CPU: Instrument = inst(
    "process.cpu.utilization",
    "process_cpu_utilization_ratio",
    Gauge,
    "1",
    "CPU used by the llm-soak process between the last two samples, in cores (1 = one core busy).",
    &[],
    &[],
);
pub const PROCESS_THREADS: Instrument = inst(
    "llmsoak.process.threads",
    "llmsoak_process_threads",
    Gauge,
    "",
    "Threads of the llm-soak process (the OTLP twin of process_threads; a _count suffix would break the Prometheus naming lint).",
    &[],
    &[],
);
pub const PROCESS_FDS: Instrument = inst(
    "llmsoak.process.open_fds",
    "llmsoak_process_open_fds",
    Gauge,
    "",
    "Open file descriptors of the llm-soak process (the OTLP twin of process_open_fds).",
    &[],
    &[],
);
pub const PROCESS_MAX_FDS: Instrument = inst(
    "llmsoak.process.max_fds",
    "llmsoak_process_max_fds",
    Gauge,
    "",
    "The llm-soak process's open file descriptor limit (soft RLIMIT_NOFILE; the OTLP twin of process_max_fds, for the fd-leak alert).",
    &[],
    &[],
);
pub const SYSTEM_CPU: Instrument = inst(
    "system.cpu.utilization",
    "system_cpu_utilization_ratio",
    Gauge,
    "1",
    "Host CPU utilization between the last two samples, 0-1 over all cores.",
    &[],
    &[],
);
pub const SYSTEM_MEMORY: Instrument = inst(
    "system.memory.usage",
    "system_memory_usage_bytes",
    Gauge,
    "By",
    "Host memory by state: used, available.",
    &[],
    &["system.memory.state"],
);
pub const SYSTEM_MEMORY_LIMIT: Instrument = inst(
    "system.memory.limit",
    "system_memory_limit_bytes",
    Gauge,
    "By",
    "Host memory in total.",
    &[],
    &[],
);
pub const SYSTEM_LOAD: Instrument = inst(
    "system.cpu.load_average",
    "system_cpu_load_average",
    Gauge,
    "",
    "Host load average over 1, 5 and 15 minutes (label window).",
    &[],
    &["window"],
);
pub const TARGET_MEMORY: Instrument = inst(
    "llmsoak.target.process.memory.usage",
    "llmsoak_target_process_memory_usage_bytes",
    Gauge,
    "By",
    "Resident memory of the co-located target server process and its descendants (vLLM's engine core, SGLang's schedulers and TGI's shards are child processes of the server one names).",
    &[],
    &["llmsoak.target"],
);
pub const TARGET_VIRTUAL: Instrument = inst(
    "llmsoak.target.process.memory.virtual",
    "llmsoak_target_process_memory_virtual_bytes",
    Gauge,
    "By",
    "Virtual memory of the co-located target server process and its descendants.",
    &[],
    &["llmsoak.target"],
);
pub const TARGET_CPU: Instrument = inst(
    "llmsoak.target.process.cpu.utilization",
    "llmsoak_target_process_cpu_utilization_ratio",
    Gauge,
    "1",
    "CPU used by the target server process between the last two samples, in cores.",
    &[],
    &["llmsoak.target"],
);
pub const TARGET_THREADS: Instrument = inst(
    "llmsoak.target.process.threads",
    "llmsoak_target_process_threads",
    Gauge,
    "",
    "Threads of the target server process.",
    &[],
    &["llmsoak.target"],
);
pub const TARGET_FDS: Instrument = inst(
    "llmsoak.target.process.open_fds",
    "llmsoak_target_process_open_fds",
    Gauge,
    "",
    "Open file descriptors of the target server process (needs CAP_SYS_PTRACE for another user's process; absent otherwise, probe status 4).",
    &[],
    &["llmsoak.target"],
);
pub const TARGET_RESTARTS: Instrument = inst(
    "llmsoak.target.process.restarts",
    "llmsoak_target_process_restarts_total",
    Counter,
    "",
    "Times the target server process was found under a new pid (it restarted).",
    &[],
    &["llmsoak.target"],
);
pub const GPU_UTILIZATION: Instrument = inst(
    "hw.gpu.utilization",
    "hw_gpu_utilization_ratio",
    Gauge,
    "1",
    "GPU utilization (NVML), 0-1.",
    &[],
    &["hw.id", "hw.name"],
);
pub const GPU_MEMORY: Instrument = inst(
    "hw.gpu.memory.usage",
    "hw_gpu_memory_usage_bytes",
    Gauge,
    "By",
    "GPU memory in use (NVML).",
    &[],
    &["hw.id", "hw.name"],
);
pub const GPU_MEMORY_LIMIT: Instrument = inst(
    "hw.gpu.memory.limit",
    "hw_gpu_memory_limit_bytes",
    Gauge,
    "By",
    "GPU memory in total (NVML).",
    &[],
    &["hw.id", "hw.name"],
);
pub const GPU_POWER: Instrument = inst(
    "hw.power",
    "hw_power_watts",
    Gauge,
    "W",
    "GPU power draw (NVML).",
    &[],
    &["hw.id", "hw.name"],
);
pub const GPU_ENERGY: Instrument = inst(
    "hw.energy",
    "hw_energy_joules_total",
    Counter,
    "J",
    "GPU energy consumed since llm-soak started sampling it (NVML's counter, as increments).",
    &[],
    &["hw.id", "hw.name"],
);
pub const GPU_TEMPERATURE: Instrument = inst(
    "hw.temperature",
    "hw_temperature_celsius",
    Gauge,
    "Cel",
    "GPU temperature (NVML).",
    &[],
    &["hw.id", "hw.name"],
);
pub const GPU_SM_CLOCK: Instrument = inst(
    "hw.gpu.clock.sm",
    "hw_gpu_clock_sm_hertz",
    Gauge,
    "Hz",
    "GPU streaming-multiprocessor clock (NVML).",
    &[],
    &["hw.id", "hw.name"],
);
pub const BASELINE_TPOT: Instrument = inst(
    "llmsoak.baseline.time_per_output_token",
    "llmsoak_baseline_time_per_output_token_seconds",
    Gauge,
    "s",
    "TPOT of the baseline window after warm-up (stat = mean, p50, p90); fixed for the run, persisted across restarts. Drift alerts divide by it.",
    &[],
    labels!(R + "stat"),
);
pub const BASELINE_TTFT: Instrument = inst(
    "llmsoak.baseline.time_to_first_token",
    "llmsoak_baseline_time_to_first_token_seconds",
    Gauge,
    "s",
    "TTFT of the baseline window after warm-up (stat = mean, p50, p90); fixed for the run, persisted across restarts.",
    &[],
    labels!(R + "stat"),
);
pub const BASELINE_SAMPLES: Instrument = inst(
    "llmsoak.baseline.samples",
    "llmsoak_baseline_samples",
    Gauge,
    "",
    "Successful requests the baseline was computed from (a thin baseline is visible).",
    &[],
    REQUEST_LABELS,
);
