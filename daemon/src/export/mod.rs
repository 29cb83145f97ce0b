//! Exposition: one `SdkMeterProvider` is the single aggregation point (DESIGN §12). Its
//! Prometheus reader writes into a `prometheus::Registry` that also holds the standard
//! `process_*` collector; `GET /metrics` encodes that registry. An OTLP reader joins the same
//! provider later, so `/metrics` and OTLP can never disagree.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

/// Why the exporter could not be built or encoded.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("prometheus exporter: {0}")]
    Otel(String),
    #[error("prometheus registry: {0}")]
    Registry(#[from] prometheus::Error),
}

/// The meter provider and the registry `/metrics` serves.
#[derive(Debug, Clone)]
pub struct Exporter {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
}

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Exporter {
    /// `attributes` go on the resource (`target_info`): run id, shard, …
    pub fn new(attributes: Vec<KeyValue>) -> Result<Self, ExportError> {
        let registry = prometheus::Registry::new();
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()
            .map_err(|e| ExportError::Otel(e.to_string()))?;
        let resource = Resource::builder()
            .with_service_name("llm-soak")
            .with_attributes(
                [KeyValue::new("service.version", crate::VERSION)]
                    .into_iter()
                    .chain(attributes),
            )
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader)
            .build();
        Ok(Exporter { registry, provider })
    }

    pub fn meter(&self) -> Meter {
        self.provider.meter("llm-soak")
    }

    /// The current state in the Prometheus text format.
    pub fn encode(&self) -> Result<String, ExportError> {
        let families = self.registry.gather();
        let mut buf = Vec::with_capacity(64 * 1024);
        TextEncoder::new().encode(&families, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Flush and stop every reader (blocking; call from `spawn_blocking`).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "meter provider shutdown");
        }
    }
}
