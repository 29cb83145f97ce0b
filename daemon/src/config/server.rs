//! `[server]`: where `/metrics` and the control endpoints listen (127.0.0.1:9464 unless
//! configured) and who may use them: `reload_api` turns `POST /-/reload` off (SIGHUP still
//! works); `control_token_env` names the bearer token the POST endpoints require — without one
//! they are refused on a non-loopback listener; `auth` puts bearer or basic authentication on
//! `/metrics` and the status API for people who expose the listener (`/-/healthy` and `/-/ready`
//! stay open for probes). Secrets come from env vars only and are never printed.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Secret;
use super::check::Check;
use super::forms;

/// Default address of `/metrics` and the status API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Authentication on the read endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Bearer {
        env: String,
        token: Secret,
    },
    Basic {
        username: String,
        env: String,
        password: Secret,
    },
}

/// `auth = { bearer_env }` or `{ username, password_env }` as written: where the secret comes
/// from, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where `/metrics` and the status API listen (127.0.0.1:9464 unless configured).
    #[serde(default = "default_listen", with = "forms::addr")]
    pub listen: SocketAddr,
    /// `POST /-/reload` (SIGHUP works either way).
    #[serde(default = "forms::yes")]
    pub reload_api: bool,
    /// The env var holding the bearer token of the POST endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_token_env: Option<String>,
    #[serde(default, rename = "auth", skip_serializing_if = "Option::is_none")]
    pub auth_spec: Option<AuthSpec>,
    /// `control_token_env` and its value, resolved by the check.
    #[serde(skip)]
    pub control_token: Option<(String, Secret)>,
    /// `auth`, resolved by the check.
    #[serde(skip)]
    pub auth: Option<Auth>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::default_for(default_listen())
    }
}

impl ServerConfig {
    pub fn default_for(listen: SocketAddr) -> Self {
        ServerConfig {
            listen,
            reload_api: true,
            control_token_env: None,
            auth_spec: None,
            control_token: None,
            auth: None,
        }
    }

    /// Resolve the secrets from the environment.
    pub(super) fn check(&mut self, c: &mut Check<'_>) {
        if let Some(var) = &self.control_token_env {
            self.control_token = c
                .secret("server.control_token_env", var)
                .map(|t| (var.clone(), t));
        }
        let Some(a) = &self.auth_spec else { return };
        self.auth = match (&a.bearer_env, &a.username, &a.password_env) {
            (Some(env), None, None) => {
                c.secret("server.auth.bearer_env", env)
                    .map(|token| Auth::Bearer {
                        env: env.clone(),
                        token,
                    })
            }
            (None, Some(username), Some(env)) => {
                c.secret("server.auth.password_env", env)
                    .map(|password| Auth::Basic {
                        username: username.clone(),
                        env: env.clone(),
                        password,
                    })
            }
            _ => {
                c.bad(
                    "server.auth",
                    "set either bearer_env, or username and password_env",
                );
                None
            }
        };
    }
}
