//! `[server]`: where `/metrics` and the control endpoints listen (127.0.0.1:9464 unless
//! configured) and who may use them: `reload_api` turns `POST /-/reload` off (SIGHUP still
//! works); `control_token_env` names the bearer token the POST endpoints require — without one
//! they are refused on a non-loopback listener; `auth` puts bearer or basic authentication on
//! `/metrics` and the status API for people who expose the listener (`/-/healthy` and `/-/ready`
//! stay open for probes). Secrets come from env vars only and are never printed.

use std::net::SocketAddr;

use serde::Serialize;

use super::Secret;
use super::walk::{Val, Walk};

const KEYS: &[&str] = &["listen", "reload_api", "control_token_env", "auth"];

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerConfig {
    /// Where `/metrics` and the status API listen (127.0.0.1:9464 unless configured).
    pub listen: SocketAddr,
    /// `POST /-/reload` (SIGHUP works either way).
    pub reload_api: bool,
    /// The env var holding the bearer token of the POST endpoints, and its value.
    #[serde(
        rename = "control_token_env",
        serialize_with = "ser_token_env",
        skip_serializing_if = "Option::is_none"
    )]
    pub control_token: Option<(String, Secret)>,
    #[serde(serialize_with = "ser_auth", skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

fn ser_token_env<S: serde::Serializer>(
    t: &Option<(String, Secret)>,
    s: S,
) -> Result<S::Ok, S::Error> {
    t.as_ref().map(|(env, _)| env.as_str()).serialize(s)
}

/// `{ bearer_env }` or `{ username, password_env }`: where the secret comes from, never its value.
fn ser_auth<S: serde::Serializer>(a: &Option<Auth>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Shown<'a> {
        Bearer {
            bearer_env: &'a str,
        },
        Basic {
            username: &'a str,
            password_env: &'a str,
        },
    }
    a.as_ref()
        .map(|a| match a {
            Auth::Bearer { env, .. } => Shown::Bearer { bearer_env: env },
            Auth::Basic { username, env, .. } => Shown::Basic {
                username,
                password_env: env,
            },
        })
        .serialize(s)
}

impl ServerConfig {
    pub fn default_for(listen: SocketAddr) -> Self {
        ServerConfig {
            listen,
            reload_api: true,
            control_token: None,
            auth: None,
        }
    }
}

fn secret_env(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<(String, Secret)> {
    let name = v.str(w)?;
    match w.env(name).filter(|s| !s.trim().is_empty()) {
        Some(value) => Some((name.to_string(), Secret::new(value.trim().to_string()))),
        None => {
            v.bad(
                w,
                format!("environment variable {name} is not set or empty"),
            );
            None
        }
    }
}

pub(super) fn walk(
    w: &mut Walk<'_>,
    v: Option<Val<'_, '_>>,
    default_listen: SocketAddr,
) -> Option<ServerConfig> {
    let Some(v) = v else {
        return Some(ServerConfig::default_for(default_listen));
    };
    let mut t = v.table(w)?;
    let listen = match t.get("listen") {
        None => Some(default_listen),
        Some(l) => super::schema::socket_addr(w, &l),
    };
    let reload_api = t.get("reload_api").map_or(Some(true), |r| r.bool(w));
    let control_token = match t.get("control_token_env") {
        None => Some(None),
        Some(e) => secret_env(w, &e).map(Some),
    };
    let auth = match t.get("auth") {
        None => Some(None),
        Some(a) => a.table(w).and_then(|mut at| {
            let bearer = at.get("bearer_env");
            let user = at.get("username");
            let password = at.get("password_env");
            at.finish(w, &["bearer_env", "username", "password_env"], |_| None);
            match (bearer, user, password) {
                (Some(b), None, None) => {
                    secret_env(w, &b).map(|(env, token)| Some(Auth::Bearer { env, token }))
                }
                (None, Some(u), Some(p)) => {
                    let username = u.str(w).map(str::to_string);
                    let pw = secret_env(w, &p);
                    match (username, pw) {
                        (Some(username), Some((env, password))) => Some(Some(Auth::Basic {
                            username,
                            env,
                            password,
                        })),
                        _ => None,
                    }
                }
                _ => {
                    a.bad(w, "set either bearer_env, or username and password_env");
                    None
                }
            }
        }),
    };
    t.finish(w, KEYS, |_| None);
    Some(ServerConfig {
        listen: listen?,
        reload_api: reload_api?,
        control_token: control_token?,
        auth: auth?,
    })
}
