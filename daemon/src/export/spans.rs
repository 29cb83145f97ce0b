//! OTLP request spans (`[otlp] spans`, off by default): one CLIENT span per sampled request,
//! following the GenAI span conventions — name `chat {model}`, `gen_ai.*` request and usage
//! attributes, `gen_ai.response.time_to_first_chunk`, `error.type` and an error status on
//! failure. Spans are built from the finished [`RequestRecord`] (after the stream ended, never on
//! the chunk path) with the request's real start and end times, and handed to the SDK's batch
//! processor, whose exporter runs on its own thread. Successful soak requests are sampled by
//! `sample_ratio` (a hash of the arrival's `seq`, so shards agree); canary and failed requests
//! always are. No prompt or completion text is ever put on a span.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanId, SpanKind, Status, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use tokio::time::Instant;

use super::otlp::{Failures, OtlpError};
use crate::config::otlp::{Otlp, Protocol};
use crate::metrics::Sink;
use crate::record::{Outcome, RequestRecord};

/// The OTLP span exporter, polled inside the runtime and counting its failures.
#[derive(Debug)]
struct Counted {
    inner: opentelemetry_otlp::SpanExporter,
    handle: tokio::runtime::Handle,
    failures: Arc<Failures>,
}

impl SpanExporter for Counted {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let fut = super::otlp::in_runtime(self.handle.clone(), self.inner.export(batch));
        async move {
            let r = fut.await;
            if let Err(e) = &r {
                self.failures.failed(e);
            }
            r
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

thread_local! {
    /// The ids the next span on this thread is to have (the request's `traceparent`): the SDK
    /// asks its id generator, never the span builder, so they are handed over here.
    static PLANNED: std::cell::Cell<Option<(TraceId, SpanId)>> = const { std::cell::Cell::new(None) };
}

/// Ids from [`PLANNED`] when set (the span of a request that carried them), else random.
#[derive(Debug, Default)]
struct PlannedIds(opentelemetry_sdk::trace::RandomIdGenerator);

impl opentelemetry_sdk::trace::IdGenerator for PlannedIds {
    fn new_trace_id(&self) -> TraceId {
        PLANNED
            .get()
            .map_or_else(|| self.0.new_trace_id(), |(t, _)| t)
    }

    fn new_span_id(&self) -> SpanId {
        PLANNED
            .get()
            .map_or_else(|| self.0.new_span_id(), |(_, s)| s)
    }
}

/// Build the tracer provider for `cfg` (inside the tokio runtime).
pub fn provider(
    cfg: &Otlp,
    resource: Resource,
    failures: Arc<Failures>,
) -> Result<SdkTracerProvider, OtlpError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| OtlpError::new("needs a tokio runtime"))?;
    let _entered = handle.enter();
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let inner = match cfg.protocol {
        Protocol::HttpProtobuf => builder
            .with_http()
            .with_http_client(super::otlp::http_client(cfg)?)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", cfg.endpoint))
            .with_timeout(cfg.timeout)
            .with_headers(super::otlp::header_map(cfg))
            .build(),
        Protocol::Grpc => {
            let mut b = builder
                .with_tonic()
                .with_endpoint(cfg.endpoint.clone())
                .with_timeout(cfg.timeout)
                .with_metadata(super::otlp::metadata(cfg)?);
            if cfg.endpoint.starts_with("https://") {
                b = b.with_tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots());
            }
            b.build()
        }
    }
    .map_err(|e| OtlpError::new(e.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_id_generator(PlannedIds::default())
        .with_batch_exporter(Counted {
            inner,
            handle,
            failures,
        })
        .build())
}

/// Per scenario: the span name and its constant attributes.
#[derive(Debug, Clone)]
struct Scope {
    name: String,
    attributes: Vec<KeyValue>,
}

/// Turns finished requests into spans.
#[derive(Debug)]
pub struct SpanRecorder {
    tracer: SdkTracer,
    ratio: f64,
    canary: Option<usize>,
    scopes: Vec<Scope>,
    /// Maps the monotonic clock to wall time.
    anchor: (Instant, SystemTime),
}

impl SpanRecorder {
    /// `scopes`: the request labels of each scenario index (`canary`: the canary's index).
    pub fn new(
        provider: &SdkTracerProvider,
        ratio: f64,
        canary: Option<usize>,
        scopes: &[Vec<KeyValue>],
    ) -> Self {
        let value = |labels: &[KeyValue], key: &str| {
            labels
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.as_str().into_owned())
                .unwrap_or_default()
        };
        SpanRecorder {
            tracer: provider.tracer("llm-soak"),
            ratio,
            canary,
            scopes: scopes
                .iter()
                .map(|labels| {
                    let mut attributes = labels.clone();
                    attributes.push(KeyValue::new("gen_ai.request.stream", true));
                    Scope {
                        name: format!(
                            "{} {}",
                            value(labels, "gen_ai.operation.name"),
                            value(labels, "gen_ai.request.model")
                        ),
                        attributes,
                    }
                })
                .collect(),
            anchor: (Instant::now(), SystemTime::now()),
        }
    }

    /// Whether a request is traced: canary and failures always, others by `seq`.
    pub fn sampled(&self, rec: &RequestRecord) -> bool {
        if Some(rec.scenario) == self.canary
            || !matches!(
                rec.outcome,
                Outcome::Success | Outcome::Cancelled | Outcome::Aborted
            )
        {
            return true;
        }
        // The decision the request's traceparent carried, else the same one by its `seq`.
        match rec.identity.trace {
            Some(t) => t.sampled,
            None => crate::record::sampled_by_seq(rec.seq, self.ratio),
        }
    }

    fn wall(&self, t: Instant) -> SystemTime {
        let (mono, wall) = self.anchor;
        if t >= mono {
            wall + (t - mono)
        } else {
            wall - (mono - t)
        }
    }

    /// Emit the span of a finished request, if it is sampled.
    pub fn record(&self, rec: &RequestRecord) {
        let Some(scope) = self.scopes.get(rec.scenario) else {
            return;
        };
        if !self.sampled(rec) {
            return;
        }
        let mut attributes = scope.attributes.clone();
        attributes.push(KeyValue::new("llmsoak.seq", rec.seq as i64));
        attributes.push(KeyValue::new(
            "gen_ai.usage.input_tokens",
            rec.input_tokens as i64,
        ));
        attributes.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            rec.output_tokens as i64,
        ));
        if let Some(t) = rec.time_to_first_chunk() {
            attributes.push(KeyValue::new(
                "gen_ai.response.time_to_first_chunk",
                t.as_secs_f64(),
            ));
        }
        if let Some(t) = rec.ttft() {
            attributes.push(KeyValue::new(
                "llmsoak.time_to_first_token",
                t.as_secs_f64(),
            ));
        }
        if let Some(status) = rec.status {
            attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if let Some(e) = rec.error_type {
            attributes.push(KeyValue::new("error.type", e.as_str()));
        }
        if let Some(id) = &rec.identity.response_id {
            attributes.push(KeyValue::new("gen_ai.response.id", id.clone()));
        }
        // The trace the request's `traceparent` named: a server that traces joins it.
        PLANNED.set(
            rec.identity
                .trace
                .map(|t| (TraceId::from(t.trace_id), SpanId::from(t.span_id))),
        );
        let mut span = self
            .tracer
            .span_builder(scope.name.clone())
            .with_kind(SpanKind::Client)
            .with_start_time(self.wall(rec.sent_at))
            .with_attributes(attributes)
            .start(&self.tracer);
        PLANNED.set(None);
        if let Some(e) = rec.error_type.filter(|_| rec.outcome != Outcome::Success) {
            span.set_status(Status::error(e.as_str()));
        }
        span.end_with_timestamp(self.wall(rec.end_at));
    }
}

impl Sink for SpanRecorder {
    fn finished(&self, rec: &RequestRecord, _slo: Option<crate::config::slo::Judgement>) {
        self.record(rec);
    }
}
