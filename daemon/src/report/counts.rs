//! The request counts of a report: finished requests by outcome, the run's totals, and the
//! arrivals not sent by reason (capacity drops apart from those not sent by design).

use serde::{Deserialize, Serialize};

use crate::record::Outcome;

/// Finished requests by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub success: u64,
    pub error: u64,
    pub timeout: u64,
    pub cancelled: u64,
    /// Closed by the client on purpose (a scenario's `abort`); from schema version 5.
    #[serde(default)]
    pub aborted: u64,
}

impl Outcomes {
    pub fn get(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Success => self.success,
            Outcome::Error => self.error,
            Outcome::Timeout => self.timeout,
            Outcome::Cancelled => self.cancelled,
            Outcome::Aborted => self.aborted,
        }
    }

    pub fn add(&mut self, o: Outcome, n: u64) {
        let slot = match o {
            Outcome::Success => &mut self.success,
            Outcome::Error => &mut self.error,
            Outcome::Timeout => &mut self.timeout,
            Outcome::Cancelled => &mut self.cancelled,
            Outcome::Aborted => &mut self.aborted,
        };
        *slot += n;
    }

    pub fn total(&self) -> u64 {
        self.success + self.error + self.timeout + self.cancelled + self.aborted
    }

    /// Finished requests that count for SLOs (everything but `cancelled` and `aborted`).
    pub fn judged(&self) -> u64 {
        self.total() - self.cancelled - self.aborted
    }
}

/// The request counts of the whole run (warm-up included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    pub started: u64,
    /// Arrivals dropped for want of capacity (`max_in_flight`, `max_sessions`): offered load
    /// that was not sent. (Reports before schema version 3 counted budget and shutdown here.)
    pub dropped: u64,
    /// Arrivals not sent, by reason (from schema version 3).
    #[serde(default)]
    pub drops: DropCounts,
    pub finished: Outcomes,
    /// Started, and in flight when the daemon died: a resumed run never saw them end (from
    /// schema version 6). `started = finished + lost` once a run is over.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Arrivals not sent, by reason. Only the in-flight and sessions caps are capacity drops (load
/// offered and not sent); a spent budget (each closed-loop user that finds it spent, each
/// arrival after it) and a run shutting down are not sent by design, and are kept out of
/// `dropped`, `drop_rate`, the drop gates and the client's self-check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    pub max_in_flight: u64,
    pub max_sessions: u64,
    pub budget: u64,
    pub shutting_down: u64,
}

impl DropCounts {
    /// Capacity drops: the offered load that was not sent.
    pub fn capacity(&self) -> u64 {
        self.max_in_flight + self.max_sessions
    }

    /// Not sent by design: budget spent, shutting down.
    pub fn by_design(&self) -> u64 {
        self.budget + self.shutting_down
    }

    /// The sum of two counts (merging shards).
    pub fn plus(self, o: DropCounts) -> DropCounts {
        DropCounts {
            max_in_flight: self.max_in_flight + o.max_in_flight,
            max_sessions: self.max_sessions + o.max_sessions,
            budget: self.budget + o.budget,
            shutting_down: self.shutting_down + o.shutting_down,
        }
    }

    /// The non-zero counts by reason, e.g. `max_in_flight 3, budget 256` (empty: none).
    pub fn describe(&self, capacity: bool) -> String {
        let all = [
            ("max_in_flight", self.max_in_flight, true),
            ("max_sessions", self.max_sessions, true),
            ("budget", self.budget, false),
            ("shutting_down", self.shutting_down, false),
        ];
        all.iter()
            .filter(|(_, n, c)| *n > 0 && *c == capacity)
            .map(|(k, n, _)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
