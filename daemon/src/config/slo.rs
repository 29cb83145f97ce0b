//! Latency SLOs: `[slo]` for every scenario, `slo = { … }` in a `[[scenario]]` to override
//! some of its bounds. A request meets its scenario's SLO when it succeeded and every bound set
//! holds — its TTFT, TPOT (when it has one: a one-token answer has no decode to time) and e2e;
//! a failure or a timeout is a miss; a request the drain cancelled is not judged. The attainment
//! (met ÷ judged) and goodput (met per second) are reported and gated (`attainment`,
//! `goodput`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::forms::opt_dur;
use crate::record::{Outcome, Quantity, RequestRecord};

/// Upper bounds on a request's latencies (each optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_dur")]
    pub ttft: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_dur")]
    pub tpot: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_dur")]
    pub e2e: Option<Duration>,
}

impl Slo {
    pub fn is_empty(&self) -> bool {
        *self == Slo::default()
    }

    /// These bounds, and `base`'s where these set none.
    pub fn over(self, base: Slo) -> Slo {
        Slo {
            ttft: self.ttft.or(base.ttft),
            tpot: self.tpot.or(base.tpot),
            e2e: self.e2e.or(base.e2e),
        }
    }

    /// How `rec` fared: each bound on its own — a success can miss several, and a miss is
    /// attributed — and met when it succeeded within all; a failure or a timeout misses none of
    /// the bounds but is not met. `None`: cancelled or aborted on purpose, not judged.
    pub fn judge(&self, rec: &RequestRecord) -> Option<Judgement> {
        let within = |q: Quantity, bound: Option<Duration>| {
            bound.is_none_or(|b| q.samples(rec).all(|d| d <= b))
        };
        match rec.outcome {
            Outcome::Cancelled | Outcome::Aborted => None,
            Outcome::Error | Outcome::Timeout => Some(Judgement {
                met: false,
                missed_ttft: false,
                missed_tpot: false,
                missed_e2e: false,
            }),
            Outcome::Success => {
                let (ttft, tpot, e2e) = (
                    !within(Quantity::Ttft, self.ttft),
                    !within(Quantity::Tpot, self.tpot),
                    !within(Quantity::E2e, self.e2e),
                );
                Some(Judgement {
                    met: !(ttft || tpot || e2e),
                    missed_ttft: ttft,
                    missed_tpot: tpot,
                    missed_e2e: e2e,
                })
            }
        }
    }

    /// Whether `rec` met every bound (`None`: cancelled, not judged).
    pub fn met(&self, rec: &RequestRecord) -> Option<bool> {
        self.judge(rec).map(|j| j.met)
    }
}

/// One request against its SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// It succeeded within every bound.
    pub met: bool,
    /// A success slower than this bound (failures miss no bound: they are simply not met).
    pub missed_ttft: bool,
    pub missed_tpot: bool,
    pub missed_e2e: bool,
}

/// `[slo]` or a scenario's `slo = { ttft = "500ms", tpot = "50ms", e2e = "20s" }` at `at`.
pub(super) fn check(c: &mut Check<'_>, at: &str, slo: &Slo) {
    if slo.is_empty() {
        c.bad(at, "an SLO sets at least one of ttft, tpot, e2e");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;
    use tokio::time::Instant;

    #[test]
    fn a_request_meets_its_slo_only_when_it_succeeded_within_every_bound() {
        let t0 = Instant::now();
        // TTFT 100 ms, then 10 tokens 10 ms apart: TPOT 10 ms, e2e 190 ms.
        let ok = test_record(t0, Duration::from_millis(100), true);
        let ms = |n| Some(Duration::from_millis(n));
        let slo = |ttft, tpot, e2e| Slo { ttft, tpot, e2e };
        assert_eq!(slo(ms(100), ms(10), ms(190)).met(&ok), Some(true));
        assert_eq!(slo(ms(99), None, None).met(&ok), Some(false));
        assert_eq!(slo(None, ms(9), None).met(&ok), Some(false));
        assert_eq!(slo(None, None, ms(189)).met(&ok), Some(false));
        let failed = test_record(t0, Duration::from_millis(1), false);
        assert_eq!(slo(ms(1000), None, None).met(&failed), Some(false));
        let mut cancelled = ok.clone();
        cancelled.outcome = Outcome::Cancelled;
        assert_eq!(slo(ms(1000), None, None).met(&cancelled), None);
        // A scenario's bounds over the run-wide ones.
        let merged = slo(None, ms(5), None).over(slo(ms(500), ms(50), None));
        assert_eq!(merged, slo(ms(500), ms(5), None));
    }
}
