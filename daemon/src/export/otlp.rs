//! OTLP push: the `opentelemetry-otlp` metric exporter (gRPC via tonic, or HTTP/protobuf via the
//! same reqwest stack as the load client), cumulative temporality, driven by the SDK's
//! `PeriodicReader` on its own thread — so a slow or black-holing collector can only delay that
//! thread, never a request. Every failed export is counted in `llmsoak.otlp.export_failures` and
//! logged at most once a minute. The exporter's futures are polled with the tokio runtime
//! entered, because tonic and reqwest need its reactor while the reader thread is not a runtime
//! thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use opentelemetry::metrics::Counter;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use crate::config::otlp::{Otlp, Protocol};

/// How often a failing exporter may log.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Export failures, shared between the exporter (which runs before the meter exists) and the
/// counter instrument created from the meter afterwards.
#[derive(Debug, Default)]
pub struct Failures {
    pub count: AtomicU64,
    counter: OnceLock<Counter<u64>>,
    last_log: Mutex<Option<Instant>>,
}

impl Failures {
    /// Attach the `llmsoak.otlp.export_failures` counter (failures so far are added to it).
    pub fn attach(&self, counter: Counter<u64>) {
        counter.add(self.count.load(Ordering::Relaxed), &[]);
        let _ = self.counter.set(counter);
    }

    pub(super) fn failed(&self, error: &dyn std::fmt::Display) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self.counter.get() {
            c.add(1, &[]);
        }
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                error = %error,
                failures = self.count.load(Ordering::Relaxed),
                "OTLP export failed (counted in llmsoak_otlp_export_failures_total; logged at most once a minute)"
            );
        }
    }
}

/// `fut`, polled with the runtime entered.
pub(super) fn in_runtime<F: Future>(
    handle: tokio::runtime::Handle,
    fut: F,
) -> impl Future<Output = F::Output> {
    InRuntime {
        handle,
        inner: Box::pin(fut),
    }
}

/// Polls a future with the runtime entered.
struct InRuntime<F> {
    handle: tokio::runtime::Handle,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.handle.enter();
        self.inner.as_mut().poll(cx)
    }
}

/// The OTLP exporter, counting its failures.
#[derive(Debug)]
pub struct Counted {
    inner: opentelemetry_otlp::MetricExporter,
    handle: tokio::runtime::Handle,
    failures: Arc<Failures>,
}

impl PushMetricExporter for Counted {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let fut = in_runtime(self.handle.clone(), self.inner.export(metrics));
        async move {
            let r = fut.await;
            if let Err(e) = &r {
                self.failures.failed(e);
            }
            r
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Why the OTLP exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct OtlpError(String);

impl OtlpError {
    pub(super) fn new(why: impl Into<String>) -> Self {
        OtlpError(why.into())
    }
}

/// The HTTP client of the HTTP/protobuf exporters: the load client's stack, no redirects.
pub(super) fn http_client(cfg: &Otlp) -> Result<reqwest::Client, OtlpError> {
    crate::tls::init_crypto();
    reqwest::Client::builder()
        .timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| OtlpError(e.to_string()))
}

/// The configured headers, for HTTP.
pub(super) fn header_map(cfg: &Otlp) -> std::collections::HashMap<String, String> {
    cfg.headers
        .iter()
        .map(|h| (h.name.clone(), h.value.expose().to_string()))
        .collect()
}

/// The configured headers, as gRPC metadata.
pub(super) fn metadata(cfg: &Otlp) -> Result<tonic::metadata::MetadataMap, OtlpError> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for h in &cfg.headers {
        let key = tonic::metadata::MetadataKey::from_bytes(h.name.to_ascii_lowercase().as_bytes())
            .map_err(|_| OtlpError(format!("{:?} is not a valid gRPC metadata key", h.name)))?;
        let value = h.value.expose().parse().map_err(|_| {
            OtlpError(format!(
                "the value of {:?} is not valid gRPC metadata",
                h.name
            ))
        })?;
        metadata.insert(key, value);
    }
    Ok(metadata)
}

/// Build the exporter for `cfg` (needs a tokio runtime: the gRPC channel is created in it).
pub fn exporter(cfg: &Otlp, failures: Arc<Failures>) -> Result<Counted, OtlpError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| OtlpError("needs a tokio runtime".into()))?;
    let _entered = handle.enter();
    let builder =
        opentelemetry_otlp::MetricExporter::builder().with_temporality(Temporality::Cumulative);
    let inner = match cfg.protocol {
        Protocol::HttpProtobuf => builder
            .with_http()
            .with_http_client(http_client(cfg)?)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/metrics", cfg.endpoint))
            .with_timeout(cfg.timeout)
            .with_headers(header_map(cfg))
            .build(),
        Protocol::Grpc => {
            let mut b = builder
                .with_tonic()
                .with_endpoint(cfg.endpoint.clone())
                .with_timeout(cfg.timeout)
                .with_metadata(metadata(cfg)?);
            if cfg.endpoint.starts_with("https://") {
                b = b.with_tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots());
            }
            b.build()
        }
    }
    .map_err(|e| OtlpError(e.to_string()))?;
    Ok(Counted {
        inner,
        handle: handle.clone(),
        failures,
    })
}
