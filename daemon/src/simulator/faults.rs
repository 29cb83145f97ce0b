//! Fault injection: each rule is a fault kind with a rate (fraction of requests) and an optional
//! time window since the simulator started, so a test or an alert rehearsal can turn a fault on
//! for a while. Rules are drawn per request from the seeded generator: one uniform draw walks the
//! cumulative rates of the rules active right now.

use std::time::Duration;

use serde::Serialize;

/// What can go wrong (DESIGN §9; issue 3's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
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
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
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
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One configured fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Fraction of requests, 0..=1.
    pub rate: f64,
    /// HTTP status for `http_5xx` / `http_4xx`.
    pub status: Option<u16>,
    /// Active from this long after start (inclusive)…
    pub from: Duration,
    /// …until this long after start (exclusive); `None` = forever.
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

    fn active(&self, since_start: Duration) -> bool {
        since_start >= self.from && self.until.is_none_or(|u| since_start < u)
    }
}

/// The rule a request with uniform draw `u` gets at `since_start`, if any.
pub fn choose(rules: &[FaultRule], since_start: Duration, u: f64) -> Option<&FaultRule> {
    let mut acc = 0.0;
    for r in rules.iter().filter(|r| r.active(since_start)) {
        acc += r.rate;
        if u < acc {
            return Some(r);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_windows() {
        let rules = vec![
            FaultRule::always(FaultKind::Http5xx, 0.2),
            FaultRule {
                from: Duration::from_secs(10),
                until: Some(Duration::from_secs(20)),
                ..FaultRule::always(FaultKind::Stall, 0.5)
            },
        ];
        let at = |s: u64, u: f64| choose(&rules, Duration::from_secs(s), u).map(|r| r.kind);
        assert_eq!(at(0, 0.1), Some(FaultKind::Http5xx));
        assert_eq!(at(0, 0.3), None, "stall not active yet");
        assert_eq!(at(15, 0.3), Some(FaultKind::Stall));
        assert_eq!(at(20, 0.3), None, "window closed");
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::parse(k.as_str()), Some(k));
        }
    }
}
