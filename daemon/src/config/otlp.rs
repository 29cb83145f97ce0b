//! `[otlp]`: push metrics (and, when enabled, request spans) to an OpenTelemetry collector. The
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `…_PROTOCOL`, `…_HEADERS`, `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` are honoured; a key set in the file wins over its variable. Without
//! an `[otlp]` section, OTLP is on exactly when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Header
//! values that carry credentials come from env vars (`{ env = "VAR" }`) and are always redacted.

use std::time::Duration;

use serde::Serialize;

use super::walk::{Val, Walk};
use super::{Secret, ser_duration};

const KEYS: &[&str] = &[
    "endpoint",
    "protocol",
    "interval",
    "timeout",
    "headers",
    "service_name",
    "resource",
    "exponential_histograms",
    "spans",
];
const SPAN_KEYS: &[&str] = &["enabled", "sample_ratio"];

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Request spans (off by default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spans {
    pub enabled: bool,
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
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    /// Per export; a collector that black-holes costs at most this, off the request path.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    #[serde(serialize_with = "ser_headers")]
    pub headers: Vec<OtlpHeader>,
    pub service_name: String,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES` merged under the file's).
    pub resource: std::collections::BTreeMap<String, String>,
    /// Base2-exponential latency histograms: refused (`false` only), see the walk.
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
            Some((k.trim().to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_header(name: &str, value: &str) -> bool {
    reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && reqwest::header::HeaderValue::from_str(value).is_ok()
}

/// The `[otlp]` section (`v`), completed from the environment; `None` inside `Some`: OTLP off.
pub(super) fn walk(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<Option<Otlp>> {
    let env_endpoint = w
        .env("OTEL_EXPORTER_OTLP_ENDPOINT")
        .filter(|e| !e.is_empty());
    let Some(v) = v else {
        // Environment only.
        let Some(endpoint) = env_endpoint else {
            return Some(None);
        };
        return from_env(w, None, endpoint).map(Some);
    };
    from_env(w, Some(v), env_endpoint.unwrap_or_default()).map(Some)
}

fn from_env(w: &mut Walk<'_>, v: Option<Val<'_, '_>>, env_endpoint: String) -> Option<Otlp> {
    let mut t = match &v {
        Some(v) => Some(v.table(w)?),
        None => None,
    };
    let mut get = |key: &'static str| t.as_mut().and_then(|t| t.get(key));
    let (endpoint_v, protocol_v, interval_v, timeout_v, headers_v) = (
        get("endpoint"),
        get("protocol"),
        get("interval"),
        get("timeout"),
        get("headers"),
    );
    let (service_v, resource_v, expo_v, spans_v) = (
        get("service_name"),
        get("resource"),
        get("exponential_histograms"),
        get("spans"),
    );
    let endpoint = match &endpoint_v {
        Some(e) => e.str(w).map(str::to_string),
        None if !env_endpoint.is_empty() => Some(env_endpoint),
        None => {
            w.report(
                "otlp.endpoint",
                v.as_ref().map(Val::span),
                "is required (or set OTEL_EXPORTER_OTLP_ENDPOINT)",
            );
            None
        }
    };
    let endpoint = endpoint.and_then(|e| {
        let e = e.trim_end_matches('/').to_string();
        if e.starts_with("http://") || e.starts_with("https://") {
            Some(e)
        } else {
            let msg = format!("must be an http:// or https:// URL (got {e:?})");
            match &endpoint_v {
                Some(x) => x.bad(w, msg),
                None => w.report(
                    "otlp.endpoint",
                    None,
                    format!("OTEL_EXPORTER_OTLP_ENDPOINT {msg}"),
                ),
            }
            None
        }
    });
    let protocols = &["grpc", "http/protobuf"];
    let protocol = match &protocol_v {
        Some(p) => p.one_of(w, protocols),
        None => match w.env("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
            None | Some("") | Some("http/protobuf") => Some("http/protobuf"),
            Some("grpc") => Some("grpc"),
            Some(other) => {
                w.report(
                    "otlp.protocol",
                    None,
                    format!("OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not \"grpc\" or \"http/protobuf\" (http/json is not supported)"),
                );
                None
            }
        },
    }
    .map(|p| if p == "grpc" { Protocol::Grpc } else { Protocol::HttpProtobuf });
    let interval = interval_v.map_or(Some(Duration::from_secs(15)), |i| i.duration(w));
    let timeout = timeout_v.map_or(Some(Duration::from_secs(10)), |i| i.duration(w));
    let mut headers = Vec::new();
    let mut headers_ok = true;
    let mut named = std::collections::BTreeSet::new();
    if let Some(hv) = &headers_v {
        match hv.table(w) {
            None => headers_ok = false,
            Some(mut ht) => {
                for (name, val) in ht.entries() {
                    let (value, sensitive, origin) = if val.is_str() {
                        (
                            val.str(w).map(str::to_string),
                            super::target::is_sensitive_header(name),
                            HeaderOrigin::File,
                        )
                    } else {
                        let mut var_name = String::new();
                        let secret = val.table(w).and_then(|mut st| {
                            let var = st.require(w, "env").and_then(|e| e.str(w));
                            st.finish(w, &["env"], |_| None);
                            let var = var?;
                            var_name = var.to_string();
                            let value = w.secret(var);
                            if value.is_none() {
                                val.bad(
                                    w,
                                    format!("environment variable {var} is not set or empty"),
                                );
                            }
                            value
                        });
                        (secret, true, HeaderOrigin::Env(var_name))
                    };
                    match value {
                        Some(value) if valid_header(name, value.trim()) => {
                            named.insert(name.to_ascii_lowercase());
                            headers.push(OtlpHeader {
                                name: name.to_string(),
                                value: Secret::new(value.trim().to_string()),
                                sensitive,
                                origin,
                            });
                        }
                        Some(_) => {
                            val.bad(w, "is not a valid header name and value");
                            headers_ok = false;
                        }
                        None => headers_ok = false,
                    }
                }
                ht.finish(w, &[], |_| None);
            }
        }
    }
    if let Some(h) = w
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
                        w.report(
                            "otlp.headers",
                            None,
                            "OTEL_EXPORTER_OTLP_HEADERS has an invalid header",
                        );
                        headers_ok = false;
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
            None => {
                w.report(
                    "otlp.headers",
                    None,
                    "OTEL_EXPORTER_OTLP_HEADERS is not a list of key=value pairs",
                );
                headers_ok = false;
            }
        }
    }
    let service_name = match &service_v {
        Some(s) => s.str(w).map(str::to_string),
        None => Some(
            w.env("OTEL_SERVICE_NAME")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "llm-soak".to_string()),
        ),
    };
    let mut resource = std::collections::BTreeMap::new();
    if let Some(r) = w
        .env("OTEL_RESOURCE_ATTRIBUTES")
        .filter(|r| !r.trim().is_empty())
    {
        match pairs(&r) {
            Some(list) => resource.extend(list),
            None => w.report(
                "otlp.resource",
                None,
                "OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs",
            ),
        }
    }
    let resource_ok = match &resource_v {
        None => true,
        Some(rv) => match rv.table(w) {
            None => false,
            Some(mut rt) => {
                let mut ok = true;
                for (k, val) in rt.entries() {
                    match val.str(w) {
                        Some(s) => {
                            resource.insert(k.to_string(), s.to_string());
                        }
                        None => ok = false,
                    }
                }
                rt.finish(w, &[], |_| None);
                ok
            }
        },
    };
    // The OpenTelemetry SDK applies views to every reader of the provider: exponential
    // histograms for OTLP would replace the Prometheus histograms that the dashboards and the
    // alert rules (and every bucket-boundary SLO) are written against. Refused with the reason
    // rather than parsed and silently ignored.
    let exponential_histograms = expo_v.map_or(Some(false), |e| match e.bool(w) {
        Some(true) => {
            e.bad(
                w,
                "is not supported: the OpenTelemetry SDK applies a histogram view to every reader, \
                 so exponential histograms for OTLP would replace the Prometheus ones the \
                 dashboards, alerts and SLOs use; leave it false (explicit buckets)",
            );
            None
        }
        other => other,
    });
    let spans = match &spans_v {
        None => Some(Spans::default()),
        Some(sv) => sv.table(w).and_then(|mut st| {
            let d = Spans::default();
            let enabled = st.get("enabled").map_or(Some(true), |e| e.bool(w));
            let ratio = st
                .get("sample_ratio")
                .map_or(Some(d.sample_ratio), |r| r.float_in(w, 0.0, true, 1.0));
            st.finish(w, SPAN_KEYS, |_| None);
            Some(Spans {
                enabled: enabled?,
                sample_ratio: ratio?,
            })
        }),
    };
    if let Some(t) = t {
        t.finish(w, KEYS, |_| None);
    }
    if !(headers_ok && resource_ok) {
        return None;
    }
    Some(Otlp {
        endpoint: endpoint?,
        protocol: protocol?,
        interval: interval?,
        timeout: timeout?,
        headers,
        service_name: service_name?,
        resource,
        exponential_histograms: exponential_histograms?,
        spans: spans?,
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
