//! Who may use the HTTP surface: optional bearer or basic authentication on the read endpoints
//! (`/metrics`, the status API), and the control endpoints (`POST /-/reload`,
//! `POST /api/v1/baseline/reset`) — off with `reload_api = false`, and, when no control token is
//! configured, refused on any listener that is not loopback. Tokens are compared in constant
//! time; a refusal never echoes what was sent.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::config::Secret;
use crate::config::server::{Auth, ServerConfig};

/// The access rules of one listener.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub reload_api: bool,
    control_token: Option<Secret>,
    auth: Option<Auth>,
    loopback: bool,
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(headers: &HeaderMap) -> &[u8] {
    headers
        .get(header::AUTHORIZATION)
        .map_or(&[][..], |v| v.as_bytes())
}

/// Why a request was refused (small, so handlers can `?` it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No or wrong credentials for this scheme.
    Unauthorized(&'static str),
    /// Control endpoints off loopback without a configured token.
    NoControlToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized(scheme) => (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    format!("{scheme} realm=\"llm-soak\""),
                )],
                "unauthorized\n",
            )
                .into_response(),
            Refusal::NoControlToken => (
                StatusCode::FORBIDDEN,
                "control endpoints on a non-loopback listener need server.control_token_env\n",
            )
                .into_response(),
        }
    }
}

impl Access {
    pub(crate) fn new(config: &ServerConfig, bound: std::net::SocketAddr) -> Self {
        Access {
            reload_api: config.reload_api,
            control_token: config.control_token.as_ref().map(|(_, t)| t.clone()),
            auth: config.auth.clone(),
            loopback: bound.ip().is_loopback(),
        }
    }

    /// Open access on loopback (tests, `demo`).
    pub(crate) fn loopback() -> Self {
        Access {
            reload_api: true,
            control_token: None,
            auth: None,
            loopback: true,
        }
    }

    /// `/metrics` and the status API.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let (expected, scheme) = match &self.auth {
            None => return Ok(()),
            Some(Auth::Bearer { token, .. }) => (format!("Bearer {}", token.expose()), "Bearer"),
            Some(Auth::Basic {
                username, password, ..
            }) => (
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{}", password.expose()))
                ),
                "Basic",
            ),
        };
        if ct_eq(presented(headers), expected.as_bytes()) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized(scheme))
        }
    }

    /// The POST endpoints.
    pub(crate) fn control(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match &self.control_token {
            Some(t)
                if ct_eq(
                    presented(headers),
                    format!("Bearer {}", t.expose()).as_bytes(),
                ) =>
            {
                Ok(())
            }
            Some(_) => Err(Refusal::Unauthorized("Bearer")),
            None if self.loopback => Ok(()),
            None => Err(Refusal::NoControlToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_needs_a_token_off_loopback_and_the_right_one_when_set() {
        let mut cfg = ServerConfig::default_for("0.0.0.0:9464".parse().unwrap());
        let open = Access::new(&cfg, "0.0.0.0:9464".parse().unwrap());
        assert!(open.control(&HeaderMap::new()).is_err());
        assert!(
            Access::new(&cfg, "127.0.0.1:9464".parse().unwrap())
                .control(&HeaderMap::new())
                .is_ok()
        );
        cfg.control_token = Some(("T".into(), Secret::new("s3cret".into())));
        let a = Access::new(&cfg, "0.0.0.0:9464".parse().unwrap());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(a.control(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(a.control(&h).is_ok());
        cfg.auth = Some(Auth::Basic {
            username: "prom".into(),
            env: "P".into(),
            password: Secret::new("pw".into()),
        });
        let a = Access::new(&cfg, "0.0.0.0:9464".parse().unwrap());
        assert!(a.read(&HeaderMap::new()).is_err());
        h.insert(header::AUTHORIZATION, "Basic cHJvbTpwdw==".parse().unwrap());
        assert!(a.read(&h).is_ok());
    }
}
