//! A target's TLS and proxy settings: `tls = { ca_file, client_cert_file, client_key_file,
//! server_name, insecure_skip_verify }` and `proxy = "http://proxy:3128"` (or `"none"`; unset:
//! the standard `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` variables). The files are
//! kept unread with where the config named them; the preparation step reads them
//! (`client::Credentials`), so a bad certificate is a config error at check-config time.

use serde::{Deserialize, Serialize};

use super::FileRef;
use super::check::Check;

/// `tls = { … }` of an `https://` target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTls {
    /// PEM certificates trusted beside the system's roots (a private CA).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::opt_file_path"
    )]
    pub ca_file: Option<FileRef>,
    /// PEM client certificate (chain) and its private key, for mutual TLS.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::opt_file_path"
    )]
    pub client_cert_file: Option<FileRef>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::opt_file_path"
    )]
    pub client_key_file: Option<FileRef>,
    /// The name sent as SNI, verified in the certificate and sent as `Host`, while the
    /// connection goes to `base_url`'s host (an IP, a load balancer's internal name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Accept any certificate. Loud: a warning at start and `llmsoak_run_info`'s
    /// `llmsoak_tls_unverified` label name the target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

impl TargetTls {
    pub fn is_empty(&self) -> bool {
        *self == TargetTls::default()
    }

    /// `https`: whether `base_url` is `https://` (`None`: it was invalid).
    pub(super) fn check(&mut self, c: &mut Check<'_>, at: &str, https: Option<bool>) {
        if self.is_empty() {
            return;
        }
        if https == Some(false) {
            c.bad(at, "applies to https:// targets only (base_url is http://)");
            return;
        }
        for (key, file) in [
            ("ca_file", &mut self.ca_file),
            ("client_cert_file", &mut self.client_cert_file),
            ("client_key_file", &mut self.client_key_file),
        ] {
            if let Some(f) = file {
                f.check(c, &format!("{at}.{key}"));
            }
        }
        if let Some(s) = &mut self.server_name {
            let valid = !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            if !valid {
                c.bad(
                    format!("{at}.server_name"),
                    format!("{s:?} is not a DNS name"),
                );
            }
            *s = s.to_ascii_lowercase();
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(_), None) => c.bad(
                format!("{at}.client_key_file"),
                "a client certificate needs its key",
            ),
            (None, Some(_)) => c.bad(
                format!("{at}.client_cert_file"),
                "a client key needs its certificate",
            ),
            _ => {}
        }
        if self.insecure_skip_verify && (self.ca_file.is_some() || self.server_name.is_some()) {
            c.bad(
                format!("{at}.insecure_skip_verify"),
                "verifies nothing, so ca_file and server_name would be ignored: set one or the other",
            );
        }
    }
}

/// Which proxy a target's requests go through: `"none"`, a URL, or (unset) the environment's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum Proxy {
    /// The standard environment variables (reqwest's reading of them).
    #[default]
    Env,
    /// No proxy, whatever the environment says.
    None,
    /// This proxy for every request (`http://` or `https://`; CONNECT for `https://` targets).
    Url(String),
}

impl From<String> for Proxy {
    fn from(s: String) -> Self {
        if s == "none" {
            Proxy::None
        } else {
            Proxy::Url(s)
        }
    }
}

impl Serialize for Proxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Proxy::Env => s.serialize_str("env"),
            Proxy::None => s.serialize_str("none"),
            Proxy::Url(u) => s.serialize_str(u),
        }
    }
}

impl Proxy {
    pub fn is_env(&self) -> bool {
        *self == Proxy::Env
    }

    pub(super) fn check(&self, c: &mut Check<'_>, at: &str) {
        let Proxy::Url(s) = self else { return };
        match reqwest::Url::parse(s) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => c.bad(
                at,
                format!("a proxy is an http:// or https:// URL, or \"none\" (got {s:?})"),
            ),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => c.bad(
                at,
                "must not embed credentials: leave proxy unset and give them in HTTPS_PROXY",
            ),
            Ok(u) if u.host_str().is_none() => c.bad(at, format!("{s:?} has no host")),
            Ok(_) => {}
            Err(e) => c.bad(at, format!("invalid proxy URL {s:?}: {e}")),
        }
    }
}
