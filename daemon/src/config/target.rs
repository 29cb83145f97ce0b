//! `[[target]]`: an OpenAI-compatible endpoint — URL, model, provider label, the API key
//! *reference* (an env var, resolved from the environment the config is read with, or a file,
//! read by the preparation step), static headers, HTTP version, timeouts, pool size and the
//! tokenizer *file* (loaded by the preparation step) — and its checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::check::Check;
use super::forms::{self, dur, opt_dur};
use super::paths::Paths;
use super::tls::{Proxy, TargetTls};
use super::{FileRef, Origin, Secret};
use crate::openai::Endpoint;

/// Where a target's API key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKey {
    /// `api_key_env`: read from the environment the config was read with (never printed).
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

/// `headers = { name = "value" }`: credential-carrying values redacted when printed.
pub(crate) mod headers {
    use super::*;
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<super::Header>, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(map
            .into_iter()
            .map(|(name, value)| Header {
                sensitive: is_sensitive_header(&name),
                value: Secret::new(value),
                name,
            })
            .collect())
    }
    pub(crate) fn serialize<S: Serializer>(headers: &[Header], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(headers.iter().map(|h| {
            let shown = if h.sensitive {
                "<redacted>"
            } else {
                h.value.expose()
            };
            (h.name.as_str(), shown)
        }))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
}

/// The provider name of llama.cpp's server (`gen_ai.provider.name`).
pub const LLAMA_CPP: &str = "llama.cpp";

/// The providers whose engine metrics llm-soak reads (one mapping table each: `engine::map`).
pub const ENGINES: [&str; 4] = ["vllm", "sglang", LLAMA_CPP, "tgi"];

/// A reference to a configured target: its index (for routing) and name (for printing). Read
/// as the name; the check finds the index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct TargetRef {
    pub index: usize,
    pub name: String,
}

impl From<String> for TargetRef {
    fn from(name: String) -> Self {
        TargetRef { index: 0, name }
    }
}

impl Serialize for TargetRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl TargetRef {
    /// Resolve against `targets` (the key at `path`): absent is the only target, else the
    /// target of that name. False (and a problem, naming the targets there are when `list`)
    /// when there is none such.
    pub(super) fn resolve(
        &mut self,
        c: &mut Check<'_>,
        path: &str,
        targets: &[Target],
        list: bool,
    ) -> bool {
        if self.name.is_empty() {
            return match targets {
                [one] => {
                    *self = one.reference(0);
                    true
                }
                _ => {
                    c.bad(
                        path,
                        "is required when more than one [[target]] is configured",
                    );
                    false
                }
            };
        }
        match targets.iter().position(|t| t.name == self.name) {
            Some(i) => {
                self.index = i;
                true
            }
            None => {
                let mut known: Vec<&str> = Vec::new();
                for t in targets {
                    if !known.contains(&t.name.as_str()) {
                        known.push(&t.name);
                    }
                }
                let known = match list {
                    true => format!(" (known: {})", known.join(", ")),
                    false => String::new(),
                };
                c.bad(path, format!("no [[target]] named {:?}{known}", self.name));
                false
            }
        }
    }
}

fn openai() -> String {
    "openai".into()
}

/// One `[[target]]`: an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub base_url: String,
    pub model: String,
    /// `gen_ai.provider.name` (default `openai`; `llama.cpp` also sets connection defaults).
    #[serde(default = "openai")]
    pub provider: String,
    /// The env var holding the API key (never the key itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// The file holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    #[serde(default, with = "headers")]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub http: HttpVersion,
    #[serde(default = "forms::secs::<10>", with = "dur")]
    pub connect_timeout: Duration,
    /// Total time a request may take, headers to last byte.
    #[serde(default = "forms::secs::<600>", with = "dur")]
    pub request_timeout: Duration,
    /// No token-bearing event for this long after the first token aborts the request as `stall`.
    #[serde(default = "forms::secs::<60>", with = "dur")]
    pub idle_timeout: Duration,
    /// No token for this long after sending (queueing, prefill — a role-only chunk does not
    /// count) aborts the request as `timeout` (unset: `request_timeout`; see
    /// [`Target::first_token_timeout`]).
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub first_token_timeout: Option<Duration>,
    /// A gap between content events above this counts in `llmsoak_stream_stalls_total`.
    #[serde(default = "forms::secs::<2>", with = "dur")]
    pub stall_threshold: Duration,
    /// Largest single SSE event accepted.
    #[serde(default = "forms::int::<{ 1 << 20 }, _>")]
    pub max_event_bytes: usize,
    /// Idle keep-alive connections kept per host (unset: `load.max_in_flight`, or 0 for
    /// `provider = "llama.cpp"`, whose server closes each connection after a streamed response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_max_idle: Option<usize>,
    /// The model's context window in tokens, for scenarios with `context_fill` (unset: read
    /// from the server's `/v1/models` — vLLM's `max_model_len` — when the run starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// `tokenizer = { file = "tokenizer.json" }`; `None`: the embedded `o200k_base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<FileRef>,
    /// Fraction of requests with server usage whose output is also re-counted with the
    /// tokenizer, for `llmsoak_tokens_discrepancy`.
    #[serde(default = "forms::fraction::<5, 100>")]
    pub recount_sample: f64,
    /// Endpoint paths that replace `/v1/…` (`paths`).
    #[serde(default, skip_serializing_if = "Paths::is_empty")]
    pub paths: Paths,
    /// Query parameters added to every URL (`query`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// The header the API key goes in as it is (`None`: `Authorization: Bearer KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<String>,
    /// TLS settings of an `https://` target (`tls`).
    #[serde(default, skip_serializing_if = "TargetTls::is_empty")]
    pub tls: TargetTls,
    /// The proxy its requests go through (`proxy`; default: the environment's).
    #[serde(default, skip_serializing_if = "Proxy::is_env")]
    pub proxy: Proxy,
    /// Scrape the engine's own `/metrics` (`metrics = false`: never; unset: when `provider` names
    /// an engine or `metrics_url` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<bool>,
    /// Where the engine's metrics are (unset: `base_url`'s origin + `/metrics` when `provider`
    /// names an engine); filled by the check when scraping is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
    /// The API key, resolved from `api_key_env` or `api_key_file` by the check.
    #[serde(skip)]
    pub api_key: Option<ApiKey>,
    /// Host and port, for `server.address` / `server.port`.
    #[serde(skip)]
    pub server_address: String,
    #[serde(skip)]
    pub server_port: u16,
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

    /// How long a request may wait for its first token.
    pub fn first_token_timeout(&self) -> Duration {
        self.first_token_timeout.unwrap_or(self.request_timeout)
    }

    /// Idle connections kept per host.
    pub fn pool_max_idle(&self) -> usize {
        self.pool_max_idle.unwrap_or(0)
    }
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

/// Check the targets (`target`), resolve their keys and fill the defaults that depend on other
/// settings (`max_in_flight`: the pool size).
pub(super) fn check(c: &mut Check<'_>, targets: &mut [Target], max_in_flight: usize) {
    for i in 0..targets.len() {
        let at = format!("target[{i}]");
        if targets[..i].iter().any(|o| o.name == targets[i].name) {
            c.bad(
                format!("{at}.name"),
                format!("duplicate target name {:?}", targets[i].name),
            );
        }
        one(c, &at, &mut targets[i], max_in_flight);
    }
}

fn one(c: &mut Check<'_>, at: &str, t: &mut Target, max_in_flight: usize) {
    c.label(&format!("{at}.name"), &t.name);
    c.label(&format!("{at}.provider"), &t.provider);
    c.filled(&format!("{at}.model"), &t.model);
    if let Some(w) = t.context_window {
        c.int_in(&format!("{at}.context_window"), w, 16, 1 << 24);
    }
    base_url(c, at, t);
    t.api_key = match (&t.api_key_env, &t.api_key_file) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            c.bad(
                format!("{at}.api_key_env"),
                "set either api_key_env or api_key_file, not both",
            );
            None
        }
        (Some(var), None) => c
            .secret(&format!("{at}.api_key_env"), var)
            .map(|value| ApiKey::Env {
                var: var.clone(),
                value,
            }),
        (None, Some(path)) => {
            let p = format!("{at}.api_key_file");
            c.filled(&p, &path.to_string_lossy()).then(|| ApiKey::File {
                path: path.clone(),
                at: c.origin(&p),
            })
        }
    };
    for h in &t.headers {
        let path = format!("{at}.headers.{}", h.name);
        if reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
            c.bad(path, format!("{:?} is not a valid header name", h.name));
        } else if reqwest::header::HeaderValue::from_str(h.value.expose()).is_err() {
            c.bad(path, "is not a valid header value");
        }
    }
    c.int_in(
        &format!("{at}.max_event_bytes"),
        t.max_event_bytes as i128,
        1024,
        1 << 30,
    );
    // llama.cpp's server closes the connection after every streamed response although it
    // advertises keep-alive: a pooled connection then races with that close (a request
    // written onto it is reset), so its connections are not kept.
    let pool = match t.pool_max_idle {
        Some(n) => n,
        None if t.provider == LLAMA_CPP => 0,
        None => max_in_flight,
    };
    c.int_in(&format!("{at}.pool_max_idle"), pool as i128, 0, 1_000_000);
    t.pool_max_idle = Some(pool);
    t.first_token_timeout = Some(t.first_token_timeout());
    c.float_in(
        &format!("{at}.recount_sample"),
        t.recount_sample,
        0.0,
        true,
        1.0,
    );
    if let Some(tok) = &mut t.tokenizer {
        tok.check(c, &format!("{at}.tokenizer.file"));
    }
    t.paths.check(c, &format!("{at}.paths"));
    for k in t.query.keys().filter(|k| k.is_empty()) {
        c.bad(format!("{at}.query.{k}"), "a query parameter needs a name");
    }
    if let Some(h) = &mut t.api_key_header {
        let valid = !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            c.bad(
                format!("{at}.api_key_header"),
                format!("{h:?} is not an HTTP header name"),
            );
        } else if t.api_key_env.is_none() && t.api_key_file.is_none() {
            c.bad(
                format!("{at}.api_key_header"),
                format!("{h:?}: there is no API key to send (api_key_env or api_key_file)"),
            );
        }
        *h = h.to_ascii_lowercase();
    }
    metrics(c, at, t);
    let https = c
        .fine(&format!("{at}.base_url"))
        .then(|| t.base_url.starts_with("https://"));
    t.tls.check(c, &format!("{at}.tls"), https);
    t.proxy.check(c, &format!("{at}.proxy"));
}

/// Whether the engine is scraped, and where: `metrics_url`, else the origin of `base_url` +
/// `/metrics` for a provider that names an engine.
fn metrics(c: &mut Check<'_>, at: &str, t: &mut Target) {
    let path = format!("{at}.metrics_url");
    match (t.metrics, &t.metrics_url) {
        (Some(false), Some(_)) => {
            c.bad(
                path,
                "metrics = false turns scraping off: remove one of them",
            );
            return;
        }
        (Some(false), None) => return,
        (_, Some(u)) => {
            let ok = reqwest::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                c.bad(
                    path,
                    format!("must be an http:// or https:// URL (got {u:?})"),
                );
            }
            return;
        }
        (on, None) => {
            let engine = ENGINES.contains(&t.provider.as_str());
            if on == Some(true) && !engine {
                c.bad(
                    format!("{at}.metrics"),
                    format!(
                        "provider {:?} names no engine whose metrics llm-soak reads ({}): set metrics_url",
                        t.provider,
                        ENGINES.join(", ")
                    ),
                );
                return;
            }
            if !engine {
                return;
            }
        }
    }
    if let Ok(u) = reqwest::Url::parse(&t.base_url) {
        t.metrics_url = Some(format!("{}/metrics", u.origin().ascii_serialization()));
    }
}

/// `base_url`: an http(s) URL without query, fragment or credentials; with its host and port.
fn base_url(c: &mut Check<'_>, at: &str, t: &mut Target) {
    let path = format!("{at}.base_url");
    let s = &t.base_url;
    match reqwest::Url::parse(s) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            c.bad(
                path,
                format!("must be an http:// or https:// URL (got {s:?})"),
            );
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            c.bad(path, "must not carry a query string or fragment");
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            c.bad(
                path,
                "must not embed credentials; use api_key_env or api_key_file",
            );
        }
        Ok(u) => {
            t.server_address = u.host_str().unwrap_or_default().to_string();
            t.server_port = u.port_or_known_default().unwrap_or(80);
            t.base_url = s.trim_end_matches('/').to_string();
        }
        Err(e) => c.bad(path, format!("invalid URL {s:?}: {e}")),
    }
}
