//! A target's TLS and proxy settings: `tls = { ca_file, client_cert_file, client_key_file,
//! server_name, insecure_skip_verify }` and `proxy = "http://proxy:3128"` (or `"none"`; unset:
//! the standard `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` variables). The files are
//! kept unread with where the config named them; the preparation step reads them
//! (`client::Credentials`), so a bad certificate is a config error at check-config time.

use serde::Serialize;

use super::FileRef;
use super::target::file_ref;
use super::walk::{Tbl, Val, Walk};

/// `tls = { … }` of an `https://` target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TargetTls {
    /// PEM certificates trusted beside the system's roots (a private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<FileRef>,
    /// PEM client certificate (chain) and its private key, for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<FileRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<FileRef>,
    /// The name sent as SNI, verified in the certificate and sent as `Host`, while the
    /// connection goes to `base_url`'s host (an IP, a load balancer's internal name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Accept any certificate. Loud: a warning at start and `llmsoak_run_info`'s
    /// `llmsoak_tls_unverified` label name the target.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

impl TargetTls {
    pub fn is_empty(&self) -> bool {
        *self == TargetTls::default()
    }
}

/// Which proxy a target's requests go through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// The standard environment variables (reqwest's reading of them).
    #[default]
    Env,
    /// No proxy, whatever the environment says.
    None,
    /// This proxy for every request (`http://` or `https://`; CONNECT for `https://` targets).
    Url(String),
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

/// `tls = { … }`; `https` says whether `base_url` is `https://` (`None`: it was invalid).
pub(super) fn tls(w: &mut Walk<'_>, v: &Val<'_, '_>, https: Option<bool>) -> Option<TargetTls> {
    if https == Some(false) {
        v.bad(w, "applies to https:// targets only (base_url is http://)");
        return None;
    }
    let mut t = v.table(w)?;
    let ca_file = file_key(w, &mut t, "ca_file");
    let client_cert_file = file_key(w, &mut t, "client_cert_file");
    let client_key_file = file_key(w, &mut t, "client_key_file");
    let server_name = match t.get("server_name") {
        None => Some(None),
        Some(n) => {
            let s = n.str(w)?;
            let valid = !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            if valid {
                Some(Some(s.to_ascii_lowercase()))
            } else {
                n.bad(w, format!("{s:?} is not a DNS name"));
                None
            }
        }
    };
    let insecure = match t.get("insecure_skip_verify") {
        None => Some(false),
        Some(b) => b.bool(w),
    };
    let path = t.path.clone();
    let span = t.span.clone();
    t.finish(
        w,
        &[
            "ca_file",
            "client_cert_file",
            "client_key_file",
            "server_name",
            "insecure_skip_verify",
        ],
        |_| None,
    );
    let mut ok = true;
    let mut bad = |w: &mut Walk<'_>, key: &str, message: &str| {
        w.report(
            &format!("{path}.{key}"),
            Some(span.clone()),
            message.to_string(),
        );
        ok = false;
    };
    match (&client_cert_file, &client_key_file) {
        (Some(Some(_)), Some(None)) => {
            bad(w, "client_key_file", "a client certificate needs its key")
        }
        (Some(None), Some(Some(_))) => {
            bad(w, "client_cert_file", "a client key needs its certificate")
        }
        _ => {}
    }
    let verifies = matches!(ca_file, Some(Some(_))) || matches!(server_name, Some(Some(_)));
    if insecure == Some(true) && verifies {
        bad(
            w,
            "insecure_skip_verify",
            "verifies nothing, so ca_file and server_name would be ignored: set one or the other",
        );
    }
    let out = TargetTls {
        ca_file: ca_file?,
        client_cert_file: client_cert_file?,
        client_key_file: client_key_file?,
        server_name: server_name?,
        insecure_skip_verify: insecure?,
    };
    ok.then_some(out)
}

fn file_key(w: &mut Walk<'_>, t: &mut Tbl<'_, '_>, key: &'static str) -> Option<Option<FileRef>> {
    match t.get(key) {
        None => Some(None),
        Some(f) => file_ref(w, &f).map(Some),
    }
}

/// `proxy = "http://proxy:3128"` or `"none"`.
pub(super) fn proxy(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Proxy> {
    let s = v.str(w)?;
    if s == "none" {
        return Some(Proxy::None);
    }
    match reqwest::Url::parse(s) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            v.bad(
                w,
                format!("a proxy is an http:// or https:// URL, or \"none\" (got {s:?})"),
            );
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            v.bad(
                w,
                "must not embed credentials: leave proxy unset and give them in HTTPS_PROXY",
            );
            None
        }
        Ok(u) if u.host_str().is_none() => {
            v.bad(w, format!("{s:?} has no host"));
            None
        }
        Ok(_) => Some(Proxy::Url(s.to_string())),
        Err(e) => {
            v.bad(w, format!("invalid proxy URL {s:?}: {e}"));
            None
        }
    }
}
