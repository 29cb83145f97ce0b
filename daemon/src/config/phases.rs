//! The load shape as written — `[[load.phases]]` (steady, ramp, spike, step, diurnal; each kind
//! with its own keys) or `load.preset`, the four load patterns of the field by name with
//! parameters and defaults — and the checks that make it plain [`Phase`]s, so everything
//! downstream (arrivals, per-phase reports, recovery times, `print-config`) sees phases:
//!
//! - `steady { rate, duration = "forever" }`
//! - `zigzag { from, to, period }`: up from `from` to `to` over half a period, down over the other
//!   half, repeated; `microburst { base, peak, hold, period }`: `peak` for `hold` at the start of
//!   every period, `base` between (both may last forever)
//! - `ramp { from = 0, to, duration = "10m", hold = "0s" }`: a linear ramp, then `to` for `hold`
//!   (`"forever"` allowed)
//! - `spike { base, peak, before = "2m", hold = "1m", after = "5m" }`: one spike phase, with
//!   `before` at base to measure the pre-spike level and `after` to measure the recovery
//! - `soak { rate, ramp_up = "5m", duration = "forever" }`: a ramp from 0, then `rate`

use std::time::Duration;

use serde::Deserialize;

use super::check::Check;
use super::de::unknown_key;
use super::forms::{Either, opt_dur, opt_dur0, opt_until0, until};
use super::{Phase, PhaseKind};

const MAX_RATE: f64 = 1_000_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Steady,
    Ramp,
    Spike,
    Step,
    Zigzag,
    Microburst,
    Diurnal,
}

/// One `[[load.phases]]` entry as written: its kind, duration and the keys of any kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseSpec {
    kind: Kind,
    #[serde(with = "until")]
    pub(super) duration: Option<Duration>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    from: Option<f64>,
    #[serde(default)]
    to: Option<f64>,
    #[serde(default)]
    steps: Option<i64>,
    #[serde(default)]
    base: Option<f64>,
    #[serde(default)]
    peak: Option<f64>,
    #[serde(default, with = "opt_dur0")]
    at: Option<Duration>,
    #[serde(default, with = "opt_dur")]
    hold: Option<Duration>,
    #[serde(default)]
    mean: Option<f64>,
    #[serde(default)]
    amplitude: Option<f64>,
    #[serde(default, with = "opt_dur")]
    period: Option<Duration>,
    /// The scenarios this phase's arrivals are drawn from (any kind; unset: all).
    #[serde(default)]
    pub(super) scenarios: Option<Vec<String>>,
    /// HTTP requests at the phase's start and end.
    #[serde(default)]
    pub(super) on_start: Option<super::hooks::Hook>,
    #[serde(default)]
    pub(super) on_end: Option<super::hooks::Hook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Pattern {
    Steady,
    Ramp,
    Spike,
    Soak,
}

/// `load.preset = { name = "…", … }` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Either<String, PresetTable>")]
pub(super) struct PresetSpec(PresetTable);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PresetTable {
    name: Pattern,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    from: Option<f64>,
    #[serde(default)]
    to: Option<f64>,
    #[serde(default)]
    base: Option<f64>,
    #[serde(default)]
    peak: Option<f64>,
    #[serde(default, with = "opt_until0")]
    duration: Option<Option<Duration>>,
    #[serde(default, with = "opt_until0")]
    hold: Option<Option<Duration>>,
    #[serde(default, with = "opt_dur0")]
    before: Option<Duration>,
    #[serde(default, with = "opt_dur0")]
    after: Option<Duration>,
    #[serde(default, with = "opt_dur0")]
    ramp_up: Option<Duration>,
}

impl TryFrom<Either<String, PresetTable>> for PresetSpec {
    type Error = &'static str;
    fn try_from(v: Either<String, PresetTable>) -> Result<Self, Self::Error> {
        match v {
            Either::Table(t) => Ok(PresetSpec(t)),
            Either::Scalar(_) => Err(
                "a preset needs its parameters, e.g. preset = { name = \"soak\", rate = 5 } (see docs/load.md)",
            ),
        }
    }
}

/// The phases of `[load]`: its `[[load.phases]]` (`specs`) or its preset's, checked.
pub(super) fn check(
    c: &mut Check<'_>,
    closed: bool,
    specs: Option<&[PhaseSpec]>,
    preset: Option<&PresetSpec>,
) -> Vec<Phase> {
    if closed {
        if preset.is_some() {
            c.bad(
                "load.preset",
                "a preset is an arrival-rate shape: it needs mode = \"open\"",
            );
        }
        if specs.is_some() {
            c.bad(
                "load.phases",
                "a closed-loop run has users, not arrival phases: remove [[load.phases]] (its length is --duration)",
            );
        }
        return Vec::new();
    }
    if let Some(p) = preset {
        if specs.is_some() {
            c.bad(
                "load.phases",
                "set either load.preset or [[load.phases]], not both",
            );
        }
        return expand(c, &p.0).unwrap_or_default();
    }
    let Some(specs) = specs else {
        c.bad("load.phases", "is required");
        return Vec::new();
    };
    if specs.is_empty() {
        c.bad("load.phases", "at least one phase is required");
    }
    let phases: Vec<Option<Phase>> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| phase(c, &format!("load.phases[{i}]"), s))
        .collect();
    if let Some(i) = phases
        .iter()
        .position(|p| p.is_some_and(|p| p.duration.is_none()))
        .filter(|&i| i + 1 < phases.len())
    {
        c.bad(
            format!("load.phases[{i}].duration"),
            "only the last phase may last forever",
        );
    }
    phases.into_iter().flatten().collect()
}

/// The keys each kind takes, besides `kind` and `duration`.
fn keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Steady => &["rate"],
        Kind::Ramp => &["from", "to"],
        Kind::Step => &["from", "to", "steps"],
        Kind::Spike => &["base", "peak", "at", "hold"],
        Kind::Zigzag => &["from", "to", "period"],
        Kind::Microburst => &["base", "peak", "hold", "period"],
        Kind::Diurnal => &["mean", "amplitude", "period"],
    }
}

/// Problems for keys given that `known` does not take and for those missing from `required`.
fn fit(c: &mut Check<'_>, at: &str, given: &[(&str, bool)], known: &[&str], required: &[&str]) {
    for (key, present) in given {
        let path = format!("{at}.{key}");
        if *present && !known.contains(key) {
            c.bad(path, unknown_key(key, known));
        } else if !*present && required.contains(key) {
            c.bad(path, "is required");
        }
    }
}

fn phase(c: &mut Check<'_>, at: &str, s: &PhaseSpec) -> Option<Phase> {
    let mut known = vec!["kind", "duration", "scenarios", "on_start", "on_end"];
    known.extend_from_slice(keys(s.kind));
    let given = [
        ("rate", s.rate.is_some()),
        ("from", s.from.is_some()),
        ("to", s.to.is_some()),
        ("steps", s.steps.is_some()),
        ("base", s.base.is_some()),
        ("peak", s.peak.is_some()),
        ("at", s.at.is_some()),
        ("hold", s.hold.is_some()),
        ("mean", s.mean.is_some()),
        ("amplitude", s.amplitude.is_some()),
        ("period", s.period.is_some()),
    ];
    fit(c, at, &given, &known, keys(s.kind));
    for (key, v) in [
        ("rate", s.rate),
        ("from", s.from),
        ("to", s.to),
        ("base", s.base),
        ("peak", s.peak),
        ("amplitude", s.amplitude),
    ] {
        if let Some(v) = v.filter(|_| known.contains(&key)) {
            c.float_in(&format!("{at}.{key}"), v, 0.0, true, MAX_RATE);
        }
    }
    c.opt_float(&format!("{at}.mean"), s.mean, 0.0, false, MAX_RATE);
    if let Some(n) = s.steps {
        c.int_in(&format!("{at}.steps"), n, 1, 10_000);
    }
    if s.duration.is_none()
        && !matches!(
            s.kind,
            Kind::Steady | Kind::Diurnal | Kind::Zigzag | Kind::Microburst
        )
    {
        c.bad(
            at,
            "only steady, zigzag, microburst and diurnal phases may last forever",
        );
    }
    if !c.fine(at) {
        return None;
    }
    let kind = match s.kind {
        Kind::Steady => PhaseKind::Steady { rate: s.rate? },
        Kind::Ramp => PhaseKind::Ramp {
            from: s.from?,
            to: s.to?,
        },
        Kind::Step => PhaseKind::Step {
            from: s.from?,
            to: s.to?,
            steps: s.steps? as u32,
        },
        Kind::Spike => PhaseKind::Spike {
            base: s.base?,
            peak: s.peak?,
            at: s.at?,
            hold: s.hold?,
        },
        Kind::Zigzag => PhaseKind::Zigzag {
            from: s.from?,
            to: s.to?,
            period: s.period?,
        },
        Kind::Microburst => {
            let (hold, period) = (s.hold?, s.period?);
            if hold >= period {
                c.bad(
                    format!("{at}.hold"),
                    format!(
                        "must be shorter than the period ({} >= {})",
                        humantime::format_duration(hold),
                        humantime::format_duration(period)
                    ),
                );
                return None;
            }
            PhaseKind::Microburst {
                base: s.base?,
                peak: s.peak?,
                hold,
                period,
            }
        }
        Kind::Diurnal => {
            let (mean, amplitude) = (s.mean?, s.amplitude?);
            if amplitude > mean {
                c.bad(at, format!("amplitude must be <= mean, or the rate would go negative (got {amplitude} > {mean})"));
                return None;
            }
            PhaseKind::Diurnal {
                mean,
                amplitude,
                period: s.period?,
            }
        }
    };
    if let (PhaseKind::Spike { at: t, hold, .. }, Some(d)) = (kind, s.duration)
        && t + hold > d
    {
        c.bad(
            at,
            format!(
                "at + hold ({}) must not exceed the phase duration ({})",
                humantime::format_duration(t + hold),
                humantime::format_duration(d)
            ),
        );
        return None;
    }
    Some(Phase {
        kind,
        duration: s.duration,
    })
}

/// A preset's phases.
fn expand(c: &mut Check<'_>, p: &PresetTable) -> Option<Vec<Phase>> {
    let at = "load.preset";
    let (known, required): (&[&str], &[&str]) = match p.name {
        Pattern::Steady => (&["name", "rate", "duration"], &["rate"]),
        Pattern::Ramp => (&["name", "from", "to", "duration", "hold"], &["to"]),
        Pattern::Spike => (
            &["name", "base", "peak", "before", "hold", "after"],
            &["base", "peak"],
        ),
        Pattern::Soak => (&["name", "rate", "ramp_up", "duration"], &["rate"]),
    };
    let given = [
        ("rate", p.rate.is_some()),
        ("from", p.from.is_some()),
        ("to", p.to.is_some()),
        ("base", p.base.is_some()),
        ("peak", p.peak.is_some()),
        ("duration", p.duration.is_some()),
        ("hold", p.hold.is_some()),
        ("before", p.before.is_some()),
        ("after", p.after.is_some()),
        ("ramp_up", p.ramp_up.is_some()),
    ];
    fit(c, at, &given, known, required);
    for (key, v) in [
        ("rate", p.rate),
        ("from", p.from),
        ("to", p.to),
        ("base", p.base),
        ("peak", p.peak),
    ] {
        if let Some(v) = v {
            c.float_in(&format!("{at}.{key}"), v, 0.0, true, MAX_RATE);
        }
    }
    // A duration that must be finite and positive here.
    let finite = |c: &mut Check<'_>, key: &str, v: Option<Option<Duration>>, default| match v {
        None => Some(default),
        Some(Some(d)) if !d.is_zero() => Some(d),
        Some(Some(_)) => {
            c.bad(format!("{at}.{key}"), "must be > 0 (got \"0s\")");
            None
        }
        Some(None) => {
            c.bad(
                format!("{at}.{key}"),
                "must be a duration, not \"forever\", here",
            );
            None
        }
    };
    let min = Duration::from_secs(60);
    let phases = match p.name {
        Pattern::Steady => vec![Phase {
            kind: PhaseKind::Steady { rate: p.rate? },
            duration: p.duration.unwrap_or(None),
        }],
        Pattern::Ramp => {
            let duration = finite(c, "duration", p.duration, 10 * min);
            let (to, hold) = (p.to?, p.hold.unwrap_or(Some(Duration::ZERO)));
            let mut out = vec![Phase {
                kind: PhaseKind::Ramp {
                    from: p.from.unwrap_or(0.0),
                    to,
                },
                duration: Some(duration?),
            }];
            if hold != Some(Duration::ZERO) {
                out.push(Phase {
                    kind: PhaseKind::Steady { rate: to },
                    duration: hold,
                });
            }
            out
        }
        Pattern::Spike => {
            let hold = finite(c, "hold", p.hold, min);
            let before = p.before.unwrap_or(2 * min);
            let hold = hold?;
            vec![Phase {
                kind: PhaseKind::Spike {
                    base: p.base?,
                    peak: p.peak?,
                    at: before,
                    hold,
                },
                duration: Some(before + hold + p.after.unwrap_or(5 * min)),
            }]
        }
        Pattern::Soak => {
            let (rate, ramp_up) = (p.rate?, p.ramp_up.unwrap_or(5 * min));
            let mut out = Vec::new();
            if !ramp_up.is_zero() {
                out.push(Phase {
                    kind: PhaseKind::Ramp {
                        from: 0.0,
                        to: rate,
                    },
                    duration: Some(ramp_up),
                });
            }
            out.push(Phase {
                kind: PhaseKind::Steady { rate },
                duration: p.duration.unwrap_or(None),
            });
            out
        }
    };
    c.fine(at).then_some(phases)
}
