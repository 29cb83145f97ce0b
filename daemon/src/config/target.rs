//! `[[target]]`: an OpenAI-compatible endpoint — URL, model, provider label, the API key
//! *reference* (an env var, resolved by the walk from the environment it is given, or a file,
//! read by the preparation step), static headers, HTTP version, timeouts, pool size and the
//! tokenizer *file* (loaded by the preparation step) — walked with every problem at its path.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::paths::Paths;
use super::tls::{Proxy, TargetTls};
use super::walk::{Origin, Tbl, Val, Walk};
use super::{FileRef, Secret, ser_duration};
use crate::openai::Endpoint;

const TARGET_KEYS: &[&str] = &[
    "name",
    "base_url",
    "model",
    "provider",
    "api_key_env",
    "api_key_file",
    "headers",
    "http",
    "connect_timeout",
    "request_timeout",
    "idle_timeout",
    "first_token_timeout",
    "stall_threshold",
    "max_event_bytes",
    "pool_max_idle",
    "tokenizer",
    "recount_sample",
    "paths",
    "query",
    "api_key_header",
    "tls",
    "proxy",
];

/// Where a target's API key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKey {
    /// `api_key_env`: read from the environment the walk was given (never printed).
    Env { var: String, value: Secret },
    /// `api_key_file`: read by the preparation step (`client::Credentials`).
    File { path: PathBuf, at: Origin },
}

/// A header value: plain, or redacted because the header carries credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Secret,
    /// Whether `print-config` and the status API may show the value.
    pub sensitive: bool,
}

/// Headers as a table, credential-carrying values redacted.
pub(crate) fn ser_headers<S: Serializer>(headers: &[Header], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(headers.iter().map(|h| {
        let shown = if h.sensitive {
            "<redacted>"
        } else {
            h.value.expose()
        };
        (h.name.as_str(), shown)
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HttpVersion {
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
}

/// The provider name of llama.cpp's server (`gen_ai.provider.name`).
pub const LLAMA_CPP: &str = "llama.cpp";

/// A reference to a configured target: its index (for routing) and name (for printing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub index: usize,
    pub name: String,
}

impl Serialize for TargetRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// One `[[target]]`: an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub name: String,
    pub base_url: String,
    pub model: String,
    /// `gen_ai.provider.name` (default `openai`; `llama.cpp` also sets connection defaults).
    pub provider: String,
    #[serde(flatten, serialize_with = "ser_api_key")]
    pub api_key: Option<ApiKey>,
    #[serde(serialize_with = "ser_headers")]
    pub headers: Vec<Header>,
    pub http: HttpVersion,
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// Total time a request may take, headers to last byte.
    #[serde(serialize_with = "ser_duration")]
    pub request_timeout: Duration,
    /// No token-bearing event for this long after the first token aborts the request as `stall`.
    #[serde(serialize_with = "ser_duration")]
    pub idle_timeout: Duration,
    /// No token for this long after sending (queueing, prefill — a role-only chunk does not
    /// count) aborts the request as `timeout` (default: `request_timeout`).
    #[serde(serialize_with = "ser_duration")]
    pub first_token_timeout: Duration,
    /// A gap between content events above this counts in `llmsoak_stream_stalls_total`.
    #[serde(serialize_with = "ser_duration")]
    pub stall_threshold: Duration,
    /// Largest single SSE event accepted.
    pub max_event_bytes: usize,
    /// Idle keep-alive connections kept per host (default: `load.max_in_flight`; 0 for
    /// `provider = "llama.cpp"`, whose server closes each connection after a streamed response).
    pub pool_max_idle: usize,
    /// `tokenizer = { file = "tokenizer.json" }`; `None`: the embedded `o200k_base`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<FileRef>,
    /// Fraction of requests with server usage whose output is also re-counted with the
    /// tokenizer, for `llmsoak_tokens_discrepancy`.
    pub recount_sample: f64,
    /// Endpoint paths that replace `/v1/…` (`paths`).
    #[serde(skip_serializing_if = "Paths::is_empty")]
    pub paths: Paths,
    /// Query parameters added to every URL (`query`).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ser_query")]
    pub query: Vec<(String, String)>,
    /// The header the API key goes in as it is (`None`: `Authorization: Bearer KEY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    /// TLS settings of an `https://` target (`tls`).
    #[serde(skip_serializing_if = "TargetTls::is_empty")]
    pub tls: TargetTls,
    /// The proxy its requests go through (`proxy`; default: the environment's).
    #[serde(skip_serializing_if = "is_env_proxy")]
    pub proxy: Proxy,
    /// Host and port, for `server.address` / `server.port`.
    #[serde(skip)]
    pub server_address: String,
    #[serde(skip)]
    pub server_port: u16,
}

fn is_env_proxy(p: &Proxy) -> bool {
    *p == Proxy::Env
}

/// `api_key_env = "VAR"` or `api_key_file = "PATH"` (never the value), flattened into the target.
fn ser_api_key<S: Serializer>(key: &Option<ApiKey>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    match key {
        Some(ApiKey::Env { var, .. }) => m.serialize_entry("api_key_env", var)?,
        Some(ApiKey::File { path, .. }) => m.serialize_entry("api_key_file", path)?,
        None => {}
    }
    m.end()
}

fn ser_query<S: Serializer>(q: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(q.iter().map(|(k, v)| (k, v)))
}

impl Target {
    /// Full URL of an endpoint for requests to `model`.
    pub fn url(&self, endpoint: Endpoint, model: &str) -> String {
        format!(
            "{}{}{}",
            self.base_url.trim_end_matches('/'),
            self.paths.endpoint(endpoint, model),
            super::paths::query_string(&self.query)
        )
    }

    /// Full URL of the model list (the readiness probe).
    pub fn models_url(&self) -> String {
        format!(
            "{}{}{}",
            self.base_url.trim_end_matches('/'),
            self.paths.models(&self.model),
            super::paths::query_string(&self.query)
        )
    }

    /// A reference to this target (the `index`-th of the config).
    pub fn reference(&self, index: usize) -> TargetRef {
        TargetRef {
            index,
            name: self.name.clone(),
        }
    }
}

/// The targets that parsed (for cross-references even when some did not) and whether all did.
pub(super) fn targets(
    w: &mut Walk<'_>,
    v: Option<Val<'_, '_>>,
    max_in_flight: usize,
) -> (Vec<Target>, bool) {
    let Some(items) = v.and_then(|v| v.array(w)) else {
        return (Vec::new(), false);
    };
    if items.is_empty() {
        w.report("target", None, "at least one [[target]] is required");
        return (Vec::new(), false);
    }
    let mut out: Vec<Target> = Vec::new();
    let mut ok = true;
    for item in items {
        match target(w, &item, max_in_flight) {
            Some(t) if out.iter().any(|o| o.name == t.name) => {
                w.report(
                    &format!("{}.name", item.path),
                    Some(item.span()),
                    format!("duplicate target name {:?}", t.name),
                );
                ok = false;
            }
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    (out, ok)
}

/// Whether a header's value is a credential (by its name).
pub(crate) fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "key",
        "token",
        "secret",
        "auth",
        "password",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// `base_url`: an http(s) URL without query, fragment or credentials; with its host and port.
fn base_url(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<(String, String, u16)> {
    let s = v.str(w)?;
    match reqwest::Url::parse(s) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            v.bad(w, format!("must be an http:// or https:// URL (got {s:?})"));
            None
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            v.bad(w, "must not carry a query string or fragment");
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            v.bad(
                w,
                "must not embed credentials; use api_key_env or api_key_file",
            );
            None
        }
        Ok(u) => {
            let host = u.host_str().unwrap_or_default().to_string();
            let port = u.port_or_known_default().unwrap_or(80);
            Some((s.trim_end_matches('/').to_string(), host, port))
        }
        Err(e) => {
            v.bad(w, format!("invalid URL {s:?}: {e}"));
            None
        }
    }
}

fn target(w: &mut Walk<'_>, v: &Val<'_, '_>, max_in_flight: usize) -> Option<Target> {
    use super::schema::{duration_or, label_name};
    let mut t = v.table(w)?;
    let t_path = t.path.clone();
    let name = t.require(w, "name").and_then(|v| label_name(w, &v));
    let base_url = t.require(w, "base_url").and_then(|v| base_url(w, &v));
    let model = t.require(w, "model").and_then(|v| {
        let s = v.str(w)?;
        if s.is_empty() {
            v.bad(w, "must not be empty");
            return None;
        }
        Some(s.to_string())
    });
    let provider = match t.get("provider") {
        None => Some("openai".to_string()),
        Some(v) => label_name(w, &v),
    };
    let api_key = api_key(w, &mut t);
    let headers = match t.get("headers") {
        None => Some(Vec::new()),
        Some(v) => headers(w, &v),
    };
    let http = match t.get("http") {
        None => Some(HttpVersion::Http1),
        Some(v) => v.one_of(w, &["1.1", "2"]).map(|s| {
            if s == "2" {
                HttpVersion::Http2
            } else {
                HttpVersion::Http1
            }
        }),
    };
    let connect_timeout = duration_or(w, &mut t, "connect_timeout", Duration::from_secs(10));
    let request_timeout = duration_or(w, &mut t, "request_timeout", Duration::from_secs(600));
    let idle_timeout = duration_or(w, &mut t, "idle_timeout", Duration::from_secs(60));
    let first_token_timeout = match (t.get("first_token_timeout"), request_timeout) {
        (None, r) => r,
        (Some(v), _) => v.duration(w),
    };
    let stall_threshold = duration_or(w, &mut t, "stall_threshold", Duration::from_secs(2));
    let max_event_bytes = match t.get("max_event_bytes") {
        None => Some(1 << 20),
        Some(v) => v.int_in(w, 1024, 1 << 30).map(|n| n as usize),
    };
    let pool_max_idle = match t.get("pool_max_idle") {
        // llama.cpp's server closes the connection after every streamed response although it
        // advertises keep-alive: a pooled connection then races with that close (a request
        // written onto it is reset), so its connections are not kept.
        None if provider.as_deref() == Some(LLAMA_CPP) => Some(0),
        None => Some(max_in_flight),
        Some(v) => v.int_in(w, 0, 1_000_000).map(|n| n as usize),
    };
    let tokenizer = match t.get("tokenizer") {
        None => Some(None),
        Some(v) => file_table(w, &v).map(Some),
    };
    let paths = match t.get("paths") {
        None => Some(Paths::default()),
        Some(v) => super::paths::paths(w, &v),
    };
    let query = match t.get("query") {
        None => Some(Vec::new()),
        Some(v) => super::paths::query(w, &v),
    };
    let api_key_header = match t.get("api_key_header") {
        None => Some(None),
        Some(v) => super::paths::key_header(w, &v).map(Some),
    };
    let https = base_url.as_ref().map(|(u, _, _)| u.starts_with("https://"));
    let tls = match t.get("tls") {
        None => Some(TargetTls::default()),
        Some(v) => super::tls::tls(w, &v, https),
    };
    let proxy = match t.get("proxy") {
        None => Some(Proxy::Env),
        Some(v) => super::tls::proxy(w, &v),
    };
    let recount_sample = match t.get("recount_sample") {
        None => Some(0.05),
        Some(v) => v.float_in(w, 0.0, true, 1.0),
    };
    t.finish(w, TARGET_KEYS, |k| match k {
        "api_key" | "key" | "token" | "password" => Some(
            "secrets are not accepted inline; use api_key_env (an env var name) or api_key_file (a path)"
                .to_string(),
        ),
        _ => None,
    });
    if let (Some(Some(h)), Some(None)) = (&api_key_header, &api_key) {
        w.report(
            &format!("{}.api_key_header", t_path),
            None,
            format!("{h:?}: there is no API key to send (api_key_env or api_key_file)"),
        );
    }
    let (base_url, server_address, server_port) = base_url?;
    Some(Target {
        paths: paths?,
        query: query?,
        api_key_header: api_key_header?,
        tls: tls?,
        proxy: proxy?,
        name: name?,
        base_url,
        model: model?,
        provider: provider?,
        api_key: api_key?,
        headers: headers?,
        http: http?,
        connect_timeout: connect_timeout?,
        request_timeout: request_timeout?,
        idle_timeout: idle_timeout?,
        first_token_timeout: first_token_timeout?,
        stall_threshold: stall_threshold?,
        max_event_bytes: max_event_bytes?,
        pool_max_idle: pool_max_idle?,
        tokenizer: tokenizer?,
        recount_sample: recount_sample?,
        server_address,
        server_port,
    })
}

/// `{ file = "…" }`: a file the preparation step reads, with where the config named it.
pub(super) fn file_table(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<FileRef> {
    let mut t = v.table(w)?;
    let file = t.require(w, "file").and_then(|f| file_ref(w, &f));
    t.finish(w, &["file"], |_| None);
    file
}

/// A path string, kept with its origin.
pub(super) fn file_ref(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<FileRef> {
    let s = v.str(w)?;
    if s.trim().is_empty() {
        v.bad(w, "must not be empty");
        return None;
    }
    Some(FileRef {
        file: PathBuf::from(s),
        at: v.origin(w),
    })
}

/// `Some(None)`: no key configured; `None`: a problem was reported.
fn api_key(w: &mut Walk<'_>, t: &mut Tbl<'_, '_>) -> Option<Option<ApiKey>> {
    let env = t.get("api_key_env");
    let file = t.get("api_key_file");
    match (env, file) {
        (None, None) => Some(None),
        (Some(e), Some(_)) => {
            e.bad(w, "set either api_key_env or api_key_file, not both");
            None
        }
        (Some(e), None) => {
            let name = e.str(w)?;
            match w.secret(name) {
                Some(value) => Some(Some(ApiKey::Env {
                    var: name.to_string(),
                    value: Secret::new(value.trim().to_string()),
                })),
                _ => {
                    e.bad(
                        w,
                        format!("environment variable {name} is not set or empty"),
                    );
                    None
                }
            }
        }
        (None, Some(f)) => file_ref(w, &f).map(|r| {
            Some(ApiKey::File {
                path: r.file,
                at: r.at,
            })
        }),
    }
}

fn headers(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Vec<Header>> {
    let mut t = v.table(w)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (name, val) in t.entries() {
        let Some(value) = val.str(w) else {
            ok = false;
            continue;
        };
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            val.bad(w, format!("{name:?} is not a valid header name"));
            ok = false;
            continue;
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            val.bad(w, "is not a valid header value");
            ok = false;
            continue;
        }
        out.push(Header {
            name: name.to_string(),
            value: Secret::new(value.to_string()),
            sensitive: is_sensitive_header(name),
        });
    }
    t.finish(w, &[], |_| None);
    ok.then_some(out)
}
