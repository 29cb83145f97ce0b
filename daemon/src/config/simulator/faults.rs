//! The simulator's fault rules: what can go wrong ([`FaultKind`]), one configured fault
//! ([`FaultRule`]: which, how often, when) and the checks of a `[[simulator.faults]]` entry.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::super::check::Check;
use super::super::forms::{dur0, opt_dur};

/// What can go wrong (DESIGN §9; issue 3's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// HTTP 5xx with a JSON error body (`status`, default 503).
    Http5xx,
    /// HTTP 4xx with a JSON error body (`status`, default 400).
    Http4xx,
    /// HTTP 429 with `Retry-After`.
    Http429,
    /// An HTML error page with status 200.
    Html200,
    /// The connection is broken mid-stream.
    Reset,
    /// The stream stops sending halfway for `stall_for`.
    Stall,
    /// After the last token the stream stays open forever (keep-alive comments only).
    NeverEnds,
    /// Closed halfway, before any `finish_reason`.
    Truncate,
    /// An event whose data is not JSON.
    Malformed,
    /// One event of `oversized_bytes`.
    Oversized,
    /// No usage chunk even when asked.
    NoUsage,
    /// Response headers only after `slow_headers_delay`.
    SlowHeaders,
    /// An error event halfway, after HTTP 200 and half the tokens (each API's own: an OpenAI
    /// `error` chunk, Anthropic's `overloaded_error`, Responses' `response.failed`).
    StreamError,
}

impl FaultKind {
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Http5xx,
        FaultKind::Http4xx,
        FaultKind::Http429,
        FaultKind::Html200,
        FaultKind::Reset,
        FaultKind::Stall,
        FaultKind::NeverEnds,
        FaultKind::Truncate,
        FaultKind::Malformed,
        FaultKind::Oversized,
        FaultKind::NoUsage,
        FaultKind::SlowHeaders,
        FaultKind::StreamError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Http5xx => "http_5xx",
            FaultKind::Http4xx => "http_4xx",
            FaultKind::Http429 => "http_429",
            FaultKind::Html200 => "html_200",
            FaultKind::Reset => "reset",
            FaultKind::Stall => "stall",
            FaultKind::NeverEnds => "never_ends",
            FaultKind::Truncate => "truncate",
            FaultKind::Malformed => "malformed",
            FaultKind::Oversized => "oversized",
            FaultKind::NoUsage => "no_usage",
            FaultKind::SlowHeaders => "slow_headers",
            FaultKind::StreamError => "stream_error",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Serialize for FaultKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FaultKind::parse(&s).ok_or_else(|| {
            let all: Vec<String> = FaultKind::ALL
                .iter()
                .map(|k| format!("{:?}", k.as_str()))
                .collect();
            de::Error::custom(format!("must be one of {} (got {s:?})", all.join(", ")))
        })
    }
}

/// One configured fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Fraction of requests, 0..=1.
    pub rate: f64,
    /// HTTP status for `http_5xx` / `http_4xx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Active from this long after start (inclusive)…
    #[serde(default, with = "dur0")]
    pub from: Duration,
    /// …until this long after start (exclusive); `None` = forever.
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub until: Option<Duration>,
}

impl FaultRule {
    pub fn always(kind: FaultKind, rate: f64) -> Self {
        FaultRule {
            kind,
            rate,
            status: None,
            from: Duration::ZERO,
            until: None,
        }
    }

    pub fn active(&self, since_start: Duration) -> bool {
        since_start >= self.from && self.until.is_none_or(|u| since_start < u)
    }
}

impl FaultRule {
    pub(super) fn check(&self, c: &mut Check<'_>, at: &str) {
        c.float_in(&format!("{at}.rate"), self.rate, 0.0, true, 1.0);
        if let Some(n) = self.status {
            let path = format!("{at}.status");
            match self.kind {
                FaultKind::Http5xx if (500..=599).contains(&n) => {}
                FaultKind::Http4xx if (400..=499).contains(&n) => {}
                k @ (FaultKind::Http5xx | FaultKind::Http4xx) => c.bad(
                    path,
                    format!("{n} is not a valid status for {}", k.as_str()),
                ),
                _ => c.bad(path, "only http_5xx and http_4xx take a status"),
            }
        }
        if self.until.is_some_and(|u| u <= self.from) {
            c.bad(at, "until must be later than from");
        }
    }
}
