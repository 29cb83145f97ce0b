//! Fault injection: each rule is a fault kind with a rate (fraction of requests) and an optional
//! time window since the simulator started, so a test or an alert rehearsal can turn a fault on
//! for a while. Rules are drawn per request from the seeded generator: one uniform draw walks the
//! cumulative rates of the rules active right now.

use std::time::Duration;

pub use crate::config::simulator::{FaultKind, FaultRule};

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
