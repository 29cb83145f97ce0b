//! `[otlp]`: push metrics (and, when enabled, request spans) to an OpenTelemetry collector. The
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `…_PROTOCOL`, `…_HEADERS`, `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` are honoured; a key set in the file wins over its variable. Without
//! an `[otlp]` section, OTLP is on exactly when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Header
//! values that carry credentials come from env vars (`{ env = "VAR" }`) and are always redacted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Secret;
use super::check::Check;
use super::forms::{self, Either, dur};

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl Protocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` and the config use.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Request spans (off without a `spans` table; on with one, unless it says `enabled = false`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spans {
    #[serde(default = "forms::yes")]
    pub enabled: bool,
    #[serde(default = "forms::fraction::<1, 100>")]
    /// Fraction of successful soak requests traced; canary and failed requests always are.
    pub sample_ratio: f64,
}

impl Default for Spans {
    fn default() -> Self {
        Spans {
            enabled: false,
            sample_ratio: 0.01,
        }
    }
}

/// One header sent with every export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpHeader {
    pub name: String,
    pub value: Secret,
    /// Whether `print-config` may show the value.
    pub sensitive: bool,
    pub origin: HeaderOrigin,
}

/// The headers as `print-config` shows them: env references as such, credentials redacted, those
/// from `OTEL_EXPORTER_OTLP_HEADERS` left to the environment.
fn ser_headers<S: serde::Serializer>(headers: &[OtlpHeader], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Shown<'a> {
        Value(&'a str),
        Env { env: &'a str },
    }
    s.collect_map(headers.iter().filter_map(|h| {
        let shown = match &h.origin {
            HeaderOrigin::OtelEnv => return None,
            HeaderOrigin::Env(var) => Shown::Env { env: var },
            HeaderOrigin::File if h.sensitive => Shown::Value("<redacted>"),
            HeaderOrigin::File => Shown::Value(h.value.expose()),
        };
        Some((h.name.as_str(), shown))
    }))
}

/// Where an OTLP header value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOrigin {
    File,
    /// `{ env = "VAR" }` in the file.
    Env(String),
    /// `OTEL_EXPORTER_OTLP_HEADERS` (read again on every load; never printed).
    OtelEnv,
}

/// A validated OTLP export configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Otlp {
    /// Base URL (`http://collector:4318`); `/v1/metrics` is appended for HTTP.
    pub endpoint: String,
    pub protocol: Protocol,
    #[serde(with = "dur")]
    pub interval: Duration,
    /// Per export; a collector that black-holes costs at most this, off the request path.
    #[serde(with = "dur")]
    pub timeout: Duration,
    #[serde(serialize_with = "ser_headers")]
    pub headers: Vec<OtlpHeader>,
    pub service_name: String,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES` merged under the file's).
    pub resource: BTreeMap<String, String>,
    /// Base2-exponential latency histograms: refused (`false` only), see the check.
    #[serde(skip)]
    pub exponential_histograms: bool,
    pub spans: Spans,
}

/// `k1=v1,k2=v2` (values percent-decoded), as the OTel env vars carry them.
fn pairs(s: &str) -> Option<Vec<(String, String)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_string(),
                percent_encoding::percent_decode_str(v.trim())
                    .decode_utf8_lossy()
                    .into_owned(),
            ))
        })
        .collect()
}

fn valid_header(name: &str, value: &str) -> bool {
    reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && reqwest::header::HeaderValue::from_str(value).is_ok()
}

/// `{ env = "VAR" }`: a header value from the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvRef {
    env: String,
}

/// `[otlp]` as written; [`check`] completes it from the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSpec {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    protocol: Option<Protocol>,
    #[serde(default = "forms::secs::<15>", with = "dur")]
    interval: Duration,
    #[serde(default = "forms::secs::<10>", with = "dur")]
    timeout: Duration,
    #[serde(default)]
    headers: BTreeMap<String, Either<String, EnvRef>>,
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    resource: BTreeMap<String, String>,
    #[serde(default)]
    exponential_histograms: bool,
    #[serde(default)]
    spans: Option<Spans>,
}

impl Default for OtlpSpec {
    fn default() -> Self {
        OtlpSpec {
            endpoint: None,
            protocol: None,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            service_name: None,
            resource: BTreeMap::new(),
            exponential_histograms: false,
            spans: None,
        }
    }
}

/// The `[otlp]` section (`spec`), completed from the environment; `None`: OTLP off (no
/// section, and no `OTEL_EXPORTER_OTLP_ENDPOINT`).
pub(super) fn check(c: &mut Check<'_>, spec: Option<&OtlpSpec>) -> Option<Otlp> {
    let env_endpoint = c
        .env("OTEL_EXPORTER_OTLP_ENDPOINT")
        .filter(|e| !e.is_empty());
    if spec.is_none() && env_endpoint.is_none() {
        return None;
    }
    let spec = spec.cloned().unwrap_or_default();
    let endpoint = match (&spec.endpoint, env_endpoint) {
        (Some(e), _) => Some((e.clone(), "")),
        (None, Some(e)) => Some((e, "OTEL_EXPORTER_OTLP_ENDPOINT ")),
        (None, None) => {
            c.bad(
                "otlp.endpoint",
                "is required (or set OTEL_EXPORTER_OTLP_ENDPOINT)",
            );
            None
        }
    };
    let endpoint = endpoint.map(|(e, from)| {
        let e = e.trim_end_matches('/').to_string();
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            c.bad(
                "otlp.endpoint",
                format!("{from}must be an http:// or https:// URL (got {e:?})"),
            );
        }
        e
    });
    let protocol = match (
        spec.protocol,
        c.env("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref(),
    ) {
        (Some(p), _) => p,
        (None, None | Some("") | Some("http/protobuf")) => Protocol::HttpProtobuf,
        (None, Some("grpc")) => Protocol::Grpc,
        (None, Some(other)) => {
            c.bad(
                "otlp.protocol",
                format!("OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not \"grpc\" or \"http/protobuf\" (http/json is not supported)"),
            );
            Protocol::HttpProtobuf
        }
    };
    let mut headers = Vec::new();
    let mut named = BTreeSet::new();
    for (name, v) in &spec.headers {
        let at = format!("otlp.headers.{name}");
        let (value, sensitive, origin) = match v {
            Either::Scalar(v) => (
                Some(Secret::new(v.clone())),
                super::target::is_sensitive_header(name),
                HeaderOrigin::File,
            ),
            Either::Table(r) => (
                c.secret(&at, &r.env),
                true,
                HeaderOrigin::Env(r.env.clone()),
            ),
        };
        let Some(value) = value else { continue };
        let value = value.expose().trim().to_string();
        if !valid_header(name, &value) {
            c.bad(at, "is not a valid header name and value");
            continue;
        }
        named.insert(name.to_ascii_lowercase());
        headers.push(OtlpHeader {
            name: name.clone(),
            value: Secret::new(value),
            sensitive,
            origin,
        });
    }
    if let Some(h) = c
        .env("OTEL_EXPORTER_OTLP_HEADERS")
        .filter(|h| !h.trim().is_empty())
    {
        match pairs(&h) {
            Some(list) => {
                for (name, value) in list {
                    if named.contains(&name.to_ascii_lowercase()) {
                        continue;
                    }
                    if !valid_header(&name, &value) {
                        c.bad(
                            "otlp.headers",
                            "OTEL_EXPORTER_OTLP_HEADERS has an invalid header",
                        );
                        continue;
                    }
                    // Nothing says which of these are credentials: all are redacted.
                    headers.push(OtlpHeader {
                        name,
                        value: Secret::new(value),
                        sensitive: true,
                        origin: HeaderOrigin::OtelEnv,
                    });
                }
            }
            None => c.bad(
                "otlp.headers",
                "OTEL_EXPORTER_OTLP_HEADERS is not a list of key=value pairs",
            ),
        }
    }
    let service_name = spec.service_name.clone().unwrap_or_else(|| {
        c.env("OTEL_SERVICE_NAME")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "llm-soak".to_string())
    });
    let mut resource = BTreeMap::new();
    if let Some(r) = c
        .env("OTEL_RESOURCE_ATTRIBUTES")
        .filter(|r| !r.trim().is_empty())
    {
        match pairs(&r) {
            Some(list) => resource.extend(list),
            None => c.bad(
                "otlp.resource",
                "OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs",
            ),
        }
    }
    resource.extend(spec.resource.clone());
    // The OpenTelemetry SDK applies views to every reader of the provider: exponential
    // histograms for OTLP would replace the Prometheus histograms that the dashboards and the
    // alert rules (and every bucket-boundary SLO) are written against. Refused with the reason
    // rather than parsed and silently ignored.
    if spec.exponential_histograms {
        c.bad(
            "otlp.exponential_histograms",
            "is not supported: the OpenTelemetry SDK applies a histogram view to every reader, \
             so exponential histograms for OTLP would replace the Prometheus ones the \
             dashboards, alerts and SLOs use; leave it false (explicit buckets)",
        );
    }
    let spans = spec.spans.unwrap_or_default();
    c.float_in(
        "otlp.spans.sample_ratio",
        spans.sample_ratio,
        0.0,
        true,
        1.0,
    );
    Some(Otlp {
        endpoint: endpoint?,
        protocol,
        interval: spec.interval,
        timeout: spec.timeout,
        headers,
        service_name,
        resource,
        exponential_histograms: false,
        spans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_are_split_and_percent_decoded() {
        assert_eq!(
            pairs("a=1, b=x%20y,,c=%3D").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "=".into())
            ]
        );
        assert!(pairs("novalue").is_none());
    }
}
