//! A load phase's hooks: one HTTP request at the phase's start (`on_start`) and/or end
//! (`on_end`) — e.g. vLLM's `/reset_prefix_cache`, `/start_profile`, `/stop_profile` — whose
//! outcome is an event of the run. Only HTTP: no shell commands from a config.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::check::Check;
use super::forms::dur;

/// `on_start = { url = "http://vllm:8000/reset_prefix_cache" }` (method POST by default).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    #[serde(default = "post")]
    pub method: String,
    pub url: String,
    /// Header values are never shown (`print-config`, the report's config): they may be keys.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// How long the request may take.
    #[serde(default = "ten_seconds", with = "dur")]
    pub timeout: Duration,
}

fn post() -> String {
    "POST".into()
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

impl Serialize for Hook {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            method: &'a str,
            url: &'a str,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            headers: BTreeMap<&'a str, &'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<&'a str>,
            timeout: String,
        }
        Shown {
            method: &self.method,
            url: self.url.split('?').next().unwrap_or_default(),
            headers: self
                .headers
                .keys()
                .map(|k| (k.as_str(), "<redacted>"))
                .collect(),
            body: self.body.as_deref(),
            timeout: humantime::format_duration(self.timeout).to_string(),
        }
        .serialize(s)
    }
}

/// A phase's hooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseHooks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_start: Option<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_end: Option<Hook>,
}

impl PhaseHooks {
    pub fn is_empty(&self) -> bool {
        self.on_start.is_none() && self.on_end.is_none()
    }
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

impl Hook {
    /// The checks a shape cannot make, at `at` (`load.phases[i].on_start`, say).
    pub(super) fn check(&mut self, c: &mut Check<'_>, at: &str) {
        self.method = self.method.to_ascii_uppercase();
        if !METHODS.contains(&self.method.as_str()) {
            c.bad(
                format!("{at}.method"),
                format!(
                    "must be one of {} (got {:?})",
                    METHODS.join(", "),
                    self.method
                ),
            );
        }
        let parsed = reqwest::Url::parse(&self.url).ok();
        if !parsed
            .as_ref()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        {
            c.bad(
                format!("{at}.url"),
                format!(
                    "must be an http:// or https:// URL with a host (got {:?})",
                    self.url
                ),
            );
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                c.bad(
                    format!("{at}.headers.{name}"),
                    "is not a valid header name and value",
                );
            }
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(600) {
            c.bad(format!("{at}.timeout"), "must be in (0s, 10m]");
        }
    }
}
