//! Scraping one target's engine: `GET metrics_url` with the target's own HTTP client (its TLS,
//! its credentials and headers), bounded in time and size, read for the series its engine's
//! table names (the provider's, else the table whose prefix the exposition has), turned into a
//! [`Snapshot`]. What went wrong is a closed class ([`ScrapeError`]); what the table names and
//! the scrape lacks, and the engine's series no table maps, are said once, never an error.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};

use super::exposition;
use super::map::Map;
use super::snapshot::Snapshot;
#[cfg(test)]
use super::{Counter, Gauge};
use crate::record::causes;

/// Largest exposition read (vLLM with many models and LoRA adapters is a few MB).
pub const MAX_BYTES: usize = 16 << 20;

/// Why a scrape gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("the exposition is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the exposition was cut off: {0}")]
    Body(String),
    #[error("no series of a known engine (vllm, sglang, llama.cpp, tgi) in the exposition")]
    UnknownEngine,
}

impl ScrapeError {
    /// A label value for the error class.
    pub fn class(&self) -> &'static str {
        match self {
            ScrapeError::Timeout(_) => "timeout",
            ScrapeError::Connect(_) => "connect",
            ScrapeError::Status(_) => "status",
            ScrapeError::TooLarge(_) => "too_large",
            ScrapeError::Body(_) => "body",
            ScrapeError::UnknownEngine => "unknown_engine",
        }
    }
}

/// The scrape of one target.
#[derive(Debug)]
pub struct Scraper {
    pub target: String,
    pub url: String,
    http: reqwest::Client,
    headers: HeaderMap,
    timeout: Duration,
    max_bytes: usize,
    map: Option<&'static Map>,
    wanted: HashSet<String>,
    /// Whether what this engine lacks was said already.
    told: bool,
}

impl Scraper {
    /// A scrape of `url` for `target`; `engine` is the target's provider (`None` or a name no
    /// table has: detected from the first exposition).
    pub fn new(
        target: &str,
        url: &str,
        engine: Option<&str>,
        http: reqwest::Client,
        mut headers: HeaderMap,
        timeout: Duration,
    ) -> Scraper {
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        headers.remove(header::CONTENT_TYPE);
        let map = engine.and_then(Map::named);
        Scraper {
            target: target.to_string(),
            url: url.to_string(),
            http,
            headers,
            timeout,
            max_bytes: MAX_BYTES,
            map,
            wanted: map.map(|m| m.sample_names().collect()).unwrap_or_default(),
            told: false,
        }
    }

    /// Bound the exposition's size (tests).
    pub fn with_max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// The engine's table, once known.
    pub fn map(&self) -> Option<&'static Map> {
        self.map
    }

    async fn fetch(&self) -> Result<String, ScrapeError> {
        let response = self
            .http
            .get(&self.url)
            .headers(self.headers.clone())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| match e.is_timeout() {
                true => ScrapeError::Timeout(self.timeout),
                false => ScrapeError::Connect(causes(&e)),
            })?;
        if !response.status().is_success() {
            return Err(ScrapeError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(ScrapeError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match e.is_timeout() {
                true => ScrapeError::Timeout(self.timeout),
                false => ScrapeError::Body(causes(&e)),
            })?;
            if body.len() + chunk.len() > self.max_bytes {
                return Err(ScrapeError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Scrape once.
    pub async fn scrape(&mut self) -> Result<Snapshot, ScrapeError> {
        let text = self.fetch().await?;
        let map = match self.map {
            Some(m) => m,
            None => {
                let names = text
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(|l| l.split(['{', ' ']).next().unwrap_or_default());
                let m = Map::detect(names).ok_or(ScrapeError::UnknownEngine)?;
                self.map = Some(m);
                self.wanted = m.sample_names().collect();
                m
            }
        };
        let read = exposition::read(&text, &self.wanted, &map.prefix);
        let snap = Snapshot::new(&read, map);
        // Said once the engine has served something (before that, a histogram without
        // observations may not be exported yet).
        let served = snap.counters.values().any(|v| *v > 0.0) || !snap.hists.is_empty();
        if !self.told && served {
            self.told = true;
            if !snap.missing.is_empty() || !snap.unmapped.is_empty() || read.malformed > 0 {
                tracing::info!(
                    target_name = %self.target,
                    engine = %map.engine,
                    missing = ?snap.missing,
                    unmapped = snap.unmapped.len(),
                    malformed = read.malformed,
                    "the engine's metrics: some of the table's series are absent or unknown (said once)"
                );
            }
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serve `body` at `/metrics` (and 404 elsewhere) on 127.0.0.1:0.
    async fn serve(body: String) -> std::net::SocketAddr {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let b = body.clone();
                async move { b }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn scraper(url: String, engine: Option<&str>) -> Scraper {
        // reqwest is built without a default TLS provider: the process installs one at start.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Scraper::new(
            "t",
            &url,
            engine,
            reqwest::Client::new(),
            HeaderMap::new(),
            Duration::from_secs(30),
        )
    }

    #[tokio::test]
    async fn the_engine_is_detected_by_its_series_and_only_mapped_series_are_kept() {
        let text = "# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs{model_name=\"m\"} 3\nsglang:num_queue_reqs{model_name=\"m\"} 1\nsglang:generation_tokens_total{model_name=\"m\"} 40\nsglang:brand_new_thing 1\npython_gc_objects_collected_total 9\n";
        let addr = serve(text.to_string()).await;
        let mut s = scraper(format!("http://{addr}/metrics"), None);
        let snap = s.scrape().await.unwrap();
        assert_eq!(s.map().map(|m| m.engine.as_str()), Some("sglang"));
        assert_eq!(snap.gauges[&Gauge::Running], 3.0);
        assert_eq!(snap.counters[&Counter::GenerationTokens], 40.0);
        assert_eq!(snap.series, 3);
        assert!(snap.unmapped.contains("sglang:brand_new_thing"));
        assert!(snap.missing.contains("ttft"));
    }

    #[tokio::test]
    async fn what_goes_wrong_is_a_closed_class() {
        let addr = serve("vllm:num_requests_running 1\n".repeat(1000)).await;
        let mut big = scraper(format!("http://{addr}/metrics"), Some("vllm")).with_max_bytes(1024);
        assert_eq!(big.scrape().await.unwrap_err(), ScrapeError::TooLarge(1024));
        let mut missing = scraper(format!("http://{addr}/nope"), Some("vllm"));
        let e = missing.scrape().await.unwrap_err();
        assert_eq!(
            (e.class(), e.to_string()),
            ("status", "HTTP 404".to_string())
        );
        let other = serve("go_goroutines 7\n".into()).await;
        let mut unknown = scraper(format!("http://{other}/metrics"), None);
        assert_eq!(
            unknown.scrape().await.unwrap_err(),
            ScrapeError::UnknownEngine
        );
        // A port nobody listens on (bound, then closed).
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut refused = scraper(format!("http://{closed}/metrics"), Some("vllm"));
        assert_eq!(refused.scrape().await.unwrap_err().class(), "connect");
    }
}
