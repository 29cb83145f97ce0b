//! `load.preset`: the four load patterns of the field by name, with parameters and defaults,
//! expanded into ordinary `load.phases` (so everything downstream — arrivals, per-phase reports,
//! recovery times, `print-config` — sees plain phases):
//!
//! - `steady { rate, duration = "forever" }`
//! - `ramp { from = 0, to, duration = "10m", hold = "0s" }`: a linear ramp, then `to` for `hold`
//!   (`"forever"` allowed)
//! - `spike { base, peak, before = "2m", hold = "1m", after = "5m" }`: one spike phase, with
//!   `before` at base to measure the pre-spike level and `after` to measure the recovery
//! - `soak { rate, ramp_up = "5m", duration = "forever" }`: a ramp from 0, then `rate`

use std::time::Duration;

use super::walk::{Tbl, Val, Walk};
use super::{Phase, PhaseKind};

const NAMES: &[&str] = &["steady", "ramp", "spike", "soak"];
const MAX_RATE: f64 = 1_000_000.0;

/// A duration that may be `"forever"` (`Some(None)`).
fn until(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    default: Option<Duration>,
) -> Option<Option<Duration>> {
    match t.get(key) {
        None => Some(default),
        Some(d) if d.is_str() && d.raw().as_str() == Some("forever") => Some(None),
        Some(d) => d.duration(w).map(Some),
    }
}

fn span(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    default: Duration,
) -> Option<Duration> {
    match t.get(key) {
        None => Some(default),
        Some(d) => d.duration_or_zero(w),
    }
}

fn rate(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    default: Option<f64>,
) -> Option<f64> {
    match (t.get(key), default) {
        (Some(r), _) => r.float_in(w, 0.0, true, MAX_RATE),
        (None, Some(d)) => Some(d),
        (None, None) => {
            t.require(w, key);
            None
        }
    }
}

/// Expand `preset = { name = "…", … }` into phases.
pub(super) fn phases(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Vec<Phase>> {
    if v.is_str() {
        v.bad(
            w,
            "a preset needs its parameters, e.g. preset = { name = \"soak\", rate = 5 } (see docs/load.md)",
        );
        return None;
    }
    let mut t = v.table(w)?;
    let Some(name) = t.require(w, "name").and_then(|n| n.one_of(w, NAMES)) else {
        t.entries();
        t.finish(w, &[], |_| None);
        return None;
    };
    let min5 = Duration::from_secs(300);
    let (phases, keys): (Option<Vec<Phase>>, &[&str]) = match name {
        "steady" => {
            let rate = rate(w, &mut t, "rate", None);
            let duration = until(w, &mut t, "duration", None);
            (
                (|| {
                    Some(vec![Phase {
                        kind: PhaseKind::Steady { rate: rate? },
                        duration: duration?,
                    }])
                })(),
                &["rate", "duration"],
            )
        }
        "ramp" => {
            let from = rate(w, &mut t, "from", Some(0.0));
            let to = rate(w, &mut t, "to", None);
            let duration = t
                .get("duration")
                .map_or(Some(Duration::from_secs(600)), |d| d.duration(w));
            let hold = match t.get("hold") {
                None => Some(Some(Duration::ZERO)),
                Some(d) if d.is_str() && d.raw().as_str() == Some("forever") => Some(None),
                Some(d) => d.duration_or_zero(w).map(Some),
            };
            (
                (|| {
                    let (to, hold) = (to?, hold?);
                    let mut p = vec![Phase {
                        kind: PhaseKind::Ramp { from: from?, to },
                        duration: Some(duration?),
                    }];
                    if hold != Some(Duration::ZERO) {
                        p.push(Phase {
                            kind: PhaseKind::Steady { rate: to },
                            duration: hold,
                        });
                    }
                    Some(p)
                })(),
                &["from", "to", "duration", "hold"],
            )
        }
        "spike" => {
            let base = rate(w, &mut t, "base", None);
            let peak = rate(w, &mut t, "peak", None);
            let before = span(w, &mut t, "before", Duration::from_secs(120));
            let hold = t
                .get("hold")
                .map_or(Some(Duration::from_secs(60)), |d| d.duration(w));
            let after = span(w, &mut t, "after", min5);
            (
                (|| {
                    let (before, hold) = (before?, hold?);
                    Some(vec![Phase {
                        kind: PhaseKind::Spike {
                            base: base?,
                            peak: peak?,
                            at: before,
                            hold,
                        },
                        duration: Some(before + hold + after?),
                    }])
                })(),
                &["base", "peak", "before", "hold", "after"],
            )
        }
        _ => {
            let rate = rate(w, &mut t, "rate", None);
            let ramp_up = span(w, &mut t, "ramp_up", min5);
            let duration = until(w, &mut t, "duration", None);
            (
                (|| {
                    let (rate, ramp_up) = (rate?, ramp_up?);
                    let mut p = Vec::new();
                    if !ramp_up.is_zero() {
                        p.push(Phase {
                            kind: PhaseKind::Ramp {
                                from: 0.0,
                                to: rate,
                            },
                            duration: Some(ramp_up),
                        });
                    }
                    p.push(Phase {
                        kind: PhaseKind::Steady { rate },
                        duration: duration?,
                    });
                    Some(p)
                })(),
                &["rate", "ramp_up", "duration"],
            )
        }
    };
    let mut known = vec!["name"];
    known.extend_from_slice(keys);
    t.finish(w, &known, |_| None);
    phases
}
