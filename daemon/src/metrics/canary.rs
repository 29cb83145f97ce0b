//! The canary's instruments: probes by outcome, failed checks by check, the last probe's success
//! and the time of the last successful one (initialised to the process start, so a canary failing
//! since boot still alerts).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter};

use super::catalogue as c;

/// The canary's checks (label `check` of `llmsoak_canary_check_failures_total`).
pub const CHECKS: [&str; 6] = ["status", "timeout", "stream", "usage", "tokens", "answer"];

/// The canary's instruments.
#[derive(Debug)]
pub struct CanaryInstruments {
    probes: Counter<u64>,
    check_failures: Counter<u64>,
    success: Gauge<f64>,
    last_success: Gauge<f64>,
}

impl CanaryInstruments {
    /// `start_time`: the process start (Unix seconds), the first "last success".
    pub fn new(meter: &Meter, start_time: f64) -> Self {
        let i = CanaryInstruments {
            probes: c::CANARY_PROBES.counter(meter),
            check_failures: c::CANARY_CHECK_FAILURES.counter(meter),
            success: c::CANARY_SUCCESS.gauge(meter),
            last_success: c::CANARY_LAST_SUCCESS.gauge(meter),
        };
        for o in ["success", "failure"] {
            i.probes.add(0, &[KeyValue::new("outcome", o)]);
        }
        for check in CHECKS {
            i.check_failures.add(0, &[KeyValue::new("check", check)]);
        }
        i.last_success.record(start_time, &[]);
        i
    }

    /// A probe finished; `failed` are the checks it failed (empty: success).
    pub fn probe(&self, failed: &[&'static str], unix_now: f64) {
        let ok = failed.is_empty();
        self.probes.add(
            1,
            &[KeyValue::new(
                "outcome",
                if ok { "success" } else { "failure" },
            )],
        );
        for check in failed {
            self.check_failures
                .add(1, &[KeyValue::new("check", *check)]);
        }
        self.success.record(if ok { 1.0 } else { 0.0 }, &[]);
        if ok {
            self.last_success.record(unix_now, &[]);
        }
    }
}
