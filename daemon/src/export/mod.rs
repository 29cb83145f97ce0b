//! Exposition: one `SdkMeterProvider` is the single aggregation point (DESIGN §12). Its
//! Prometheus reader writes into a `prometheus::Registry` that also holds the standard
//! `process_*` collector; `GET /metrics` encodes that registry. When OTLP is configured a
//! periodic OTLP reader ([`otlp`]) joins the same provider, so `/metrics` and OTLP can never
//! disagree.

pub mod otlp;
pub mod spans;

use std::sync::Arc;
use std::time::Duration;

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
    #[error(transparent)]
    Otlp(#[from] otlp::OtlpError),
    #[error("prometheus registry: {0}")]
    Registry(#[from] prometheus::Error),
}

/// The meter provider and the registry `/metrics` serves.
#[derive(Debug, Clone)]
pub struct Exporter {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    /// OTLP export failures (zero without OTLP).
    pub otlp_failures: Arc<otlp::Failures>,
    /// The final flush's deadline on shutdown.
    flush_deadline: Duration,
    /// Request spans, when `[otlp] spans` is enabled.
    tracer: Option<(opentelemetry_sdk::trace::SdkTracerProvider, f64)>,
}

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Exporter {
    /// `attributes` go on the resource (`target_info`): run id, shard, …
    pub fn new(attributes: Vec<KeyValue>) -> Result<Self, ExportError> {
        Self::with_otlp(attributes, None)
    }

    /// With an OTLP reader as well, when `otlp` is set (call inside the tokio runtime).
    pub fn with_otlp(
        attributes: Vec<KeyValue>,
        otlp: Option<&crate::config::otlp::Otlp>,
    ) -> Result<Self, ExportError> {
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
        let extra: Vec<KeyValue> = otlp
            .map(|o| {
                o.resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        // Later attributes win: the user's resource attributes, then llm-soak's own.
        let resource = Resource::builder_empty()
            .with_attributes(extra)
            .with_service_name(
                otlp.map_or("llm-soak", |o| o.service_name.as_str())
                    .to_string(),
            )
            .with_attributes(
                [KeyValue::new("service.version", crate::VERSION)]
                    .into_iter()
                    .chain(host.map(|h| KeyValue::new("host.name", h)))
                    .chain(attributes),
            )
            .build();
        let failures = Arc::new(otlp::Failures::default());
        let tracer = match otlp.filter(|o| o.spans.enabled) {
            Some(cfg) => Some((
                spans::provider(cfg, resource.clone(), Arc::clone(&failures))?,
                cfg.spans.sample_ratio,
            )),
            None => None,
        };
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader);
        if let Some(cfg) = otlp {
            let exporter = otlp::exporter(cfg, Arc::clone(&failures))?;
            builder = builder.with_reader(
                opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
                    .with_interval(cfg.interval)
                    .build(),
            );
            tracing::info!(endpoint = %cfg.endpoint, protocol = cfg.protocol.as_str(), interval = %crate::config::human(cfg.interval), "OTLP metrics export on");
        }
        let provider = builder.build();
        let i = crate::metrics::catalogue::OTLP_EXPORT_FAILURES;
        failures.attach(
            provider
                .meter("llm-soak")
                .u64_counter(i.name)
                .with_description(i.description)
                .build(),
        );
        Ok(Exporter {
            registry,
            provider,
            otlp_failures: failures,
            flush_deadline: otlp.map_or(Duration::from_secs(5), |o| o.timeout),
            tracer,
        })
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

    /// The span recorder for these scenarios' request labels, when spans are on.
    pub fn span_recorder(
        &self,
        canary: Option<usize>,
        scopes: &[Vec<KeyValue>],
    ) -> Option<spans::SpanRecorder> {
        self.tracer
            .as_ref()
            .map(|(p, ratio)| spans::SpanRecorder::new(p, *ratio, canary, scopes))
    }

    /// Flush (OTLP: a final export within its timeout) and stop every reader (blocking; call
    /// from `spawn_blocking`).
    pub fn shutdown(&self) {
        if let Some((p, _)) = &self.tracer
            && let Err(e) = p.shutdown_with_timeout(self.flush_deadline)
        {
            tracing::warn!(error = %e, "tracer provider shutdown");
        }
        if let Err(e) = self.provider.shutdown_with_timeout(self.flush_deadline) {
            tracing::warn!(error = %e, "meter provider shutdown");
        }
    }
}
