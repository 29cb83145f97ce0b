//! The traffic a scenario sends to provoke a server: `abort`, the share of its requests the
//! client closes on purpose and when — as a user who gives up does — and `connection`, the share
//! sent on a connection of their own (churn). Only the shapes and their checks; the client draws
//! and acts.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::check::Check;
use super::forms::{Between, Either};
use super::parts::{DistKind, LengthDist};

/// `abort = { fraction = 0.05, at = ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Abort {
    /// The share of the scenario's requests that are aborted, `(0, 1]`; drawn per request from
    /// the run's seed, so the same requests abort in a rerun.
    pub fraction: f64,
    pub at: AbortAt,
}

/// `connection = { fresh = 0.2 }`: that share of the requests (drawn per request from the seed)
/// opens a connection of its own — TCP and, over `https`, a TLS handshake — and closes it after
/// the answer, as a client without keep-alive does; the rest share the target's pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    pub fresh: f64,
}

/// When an aborted request is closed.
#[derive(Debug, Clone, PartialEq)]
pub enum AbortAt {
    /// `"before_first_token"`: as soon as the response head arrives, before any event is read
    /// (the request is queued or prefilling on the server).
    BeforeFirstToken,
    /// `"first_token"`: right after the first token-bearing event.
    FirstToken,
    /// `{ after_tokens = <length> }`: after that many token-bearing events, drawn per request.
    AfterTokens(LengthDist),
    /// `{ after = "2s" }` or `{ after = { min, max } }`: that long after the request was sent,
    /// wherever it is (even before the response head).
    After(Between),
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AtTable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after_tokens: Option<LengthDist>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<Between>,
}

const AT_NAMES: &str =
    "\"before_first_token\", \"first_token\", { after_tokens = N } or { after = \"2s\" }";

impl<'de> Deserialize<'de> for AbortAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Either::<String, AtTable>::deserialize(d)? {
            Either::Scalar(s) => match s.as_str() {
                "before_first_token" => Ok(AbortAt::BeforeFirstToken),
                "first_token" => Ok(AbortAt::FirstToken),
                other => Err(de::Error::custom(format!(
                    "must be one of {AT_NAMES} (got {other:?})"
                ))),
            },
            Either::Table(AtTable {
                after_tokens: Some(n),
                after: None,
            }) => Ok(AbortAt::AfterTokens(n)),
            Either::Table(AtTable {
                after_tokens: None,
                after: Some(b),
            }) => Ok(AbortAt::After(b)),
            Either::Table(_) => Err(de::Error::custom(format!(
                "must name exactly one of after_tokens, after (one of {AT_NAMES})"
            ))),
        }
    }
}

impl Serialize for AbortAt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AbortAt::BeforeFirstToken => s.serialize_str("before_first_token"),
            AbortAt::FirstToken => s.serialize_str("first_token"),
            AbortAt::AfterTokens(n) => AtTable {
                after_tokens: Some(n.clone()),
                after: None,
            }
            .serialize(s),
            AbortAt::After(b) => AtTable {
                after_tokens: None,
                after: Some(*b),
            }
            .serialize(s),
        }
    }
}

/// The checks a shape cannot make, at `at` (the scenario's path).
pub(super) fn check(c: &mut Check<'_>, at: &str, a: &mut Abort, streams: bool) {
    let path = format!("{at}.abort");
    c.float_in(&format!("{path}.fraction"), a.fraction, 0.0, false, 1.0);
    if !streams {
        c.bad(
            &path,
            "aborts close a stream mid-way; this scenario asks for no stream (stream = false or embeddings)",
        );
    }
    match &mut a.at {
        AbortAt::AfterTokens(n) => {
            if matches!(n.dist, DistKind::Empirical(_)) {
                c.bad(
                    format!("{path}.at.after_tokens"),
                    "takes constant, uniform, normal or lognormal (not an empirical file)",
                );
            } else {
                n.check(c, &format!("{path}.at.after_tokens"));
            }
        }
        AbortAt::After(b) if b.max.is_zero() => c.bad(
            format!("{path}.at.after"),
            "must be > 0 (use \"before_first_token\" to abort at once)",
        ),
        _ => {}
    }
}
