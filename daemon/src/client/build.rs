//! Building a target's HTTP clients: its keep-alive pool (and, for connection churn, a
//! pool-less twin), its TLS, its static headers and credentials, and the connector layer that
//! counts the connections they open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::{ClientError, TargetClient, connections, credentials, tls};
use crate::config::{HttpVersion, Secret, Target};
use crate::workload::Tokenizer;

/// What a target's HTTP clients are built from, beside the target.
pub(super) struct BuildTarget<'a> {
    pub(super) key: Option<&'a Secret>,
    pub(super) material: credentials::TlsMaterial,
    pub(super) tokenizer: Arc<dyn Tokenizer>,
    /// The counter of connections opened to this target.
    pub(super) opened: Arc<AtomicU64>,
    /// Build the pool-less client too (a scenario routed here churns connections).
    pub(super) churns: bool,
}

/// One `reqwest` client for `t`: `pooled` keeps connections alive for reuse; without, every
/// request opens its own and closes it.
fn http_client(
    t: &Target,
    material: credentials::TlsMaterial,
    opened: &Arc<AtomicU64>,
    pooled: bool,
) -> Result<reqwest::Client, ClientError> {
    let b = reqwest::Client::builder()
        .connect_timeout(t.connect_timeout)
        .pool_max_idle_per_host(if pooled { t.pool_max_idle() } else { 0 })
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        // A load tester never retries silently: not even HTTP/2's REFUSED_STREAM or GOAWAY
        // (reqwest's default), which would send a request twice and count it once.
        .retry(reqwest::retry::never())
        .connector_layer(connections::Count(Arc::clone(opened)))
        .user_agent(concat!("llm-soak/", env!("CARGO_PKG_VERSION")));
    let mut b = tls::configure(b, t, material).map_err(|message| ClientError::Tls {
        target: t.name.clone(),
        message,
    })?;
    b = match t.http {
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 if t.base_url.starts_with("http://") => b.http2_prior_knowledge(),
        HttpVersion::Http2 => b,
    };
    b.build().map_err(|source| ClientError::Build {
        target: t.name.clone(),
        source,
    })
}

pub(super) fn build_target(t: &Target, b: BuildTarget<'_>) -> Result<TargetClient, ClientError> {
    let BuildTarget {
        key,
        material,
        tokenizer,
        opened,
        churns,
    } = b;
    let fresh = if churns {
        Some(http_client(t, material.clone(), &opened, false)?)
    } else {
        None
    };
    let http = http_client(t, material, &opened, true)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("text/event-stream"),
    );
    let bad = |name: &str| ClientError::Header {
        target: t.name.clone(),
        name: name.to_string(),
    };
    if let Some(key) = key {
        // `Authorization: Bearer KEY`, or the key as it is in the header the target names.
        let (name, value) = match &t.api_key_header {
            Some(h) if h != "authorization" => (
                HeaderName::from_bytes(h.as_bytes()).map_err(|_| bad(h))?,
                key.expose().to_string(),
            ),
            _ => (header::AUTHORIZATION, format!("Bearer {}", key.expose())),
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| bad(name.as_str()))?;
        v.set_sensitive(true);
        headers.insert(name, v);
    }
    for h in &t.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad(&h.name))?;
        let mut v = HeaderValue::from_str(h.value.expose()).map_err(|_| bad(&h.name))?;
        v.set_sensitive(h.sensitive);
        headers.insert(name, v);
    }
    Ok(TargetClient {
        http,
        fresh,
        headers,
        target: t.clone(),
        tokenizer,
        logged: AtomicU32::new(0),
    })
}
