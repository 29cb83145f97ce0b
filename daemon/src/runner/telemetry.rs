//! The run's background telemetry: the resource sampler thread (`[resources]`) and the task that
//! closes the drift-baseline window (`[baseline]`). Started after the exporter and the recorder,
//! stopped after the drain; neither is on the request path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::export::Exporter;
use crate::metrics::baseline::BaselineSink;
use crate::resources::gpu::{GpuSource, Nvml};
use crate::resources::{Latest, Sampler};

/// Handles to stop what [`Telemetry::start`] started.
#[derive(Debug)]
pub(super) struct Telemetry {
    stop: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
    /// The sampler's latest readings (never set without a sampler).
    pub(super) latest: Arc<Latest>,
}

impl Telemetry {
    /// Start the sampler, and a side task that closes `baselines`' window when it is due.
    pub(super) fn start(
        config: &Config,
        exporter: &Exporter,
        baselines: Arc<BaselineSink>,
        side: &super::side::Side,
    ) -> Self {
        let meter = exporter.meter();
        let stop = Arc::new(AtomicBool::new(false));
        let gpu = config
            .resources
            .gpu
            .then(|| Box::new(Nvml::load()) as Box<dyn GpuSource>);
        let mut latest = Arc::default();
        let sampler = match Sampler::new(config.resources.clone(), &meter, gpu) {
            Ok(s) => {
                latest = s.latest();
                match s.spawn(Arc::clone(&stop)) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start the resource sampler thread");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "no resource sampler on this platform");
                None
            }
        };
        side.every(Duration::from_secs(1), move || {
            baselines.tick(Instant::now())
        });
        Telemetry {
            stop,
            sampler,
            latest,
        }
    }

    /// Stop the sampler (it finishes its current sample).
    pub(super) async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}
