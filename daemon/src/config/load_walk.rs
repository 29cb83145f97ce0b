//! `[load]`: open-loop arrivals (process, in-flight cap, sessions cap, drain) and the load shape —
//! an ordered list of phases (steady, ramp, spike, step, diurnal) run once, N times or forever —
//! walked with every problem reported at its path.

use std::time::Duration;

use super::schema::duration_or;
use super::walk::{Val, Walk};
use super::{Arrival, Budget, LoadConfig, LoadMode, Phase, PhaseKind, Recovery, Repeat, UserRamp};

const LOAD_KEYS: &[&str] = &[
    "budget",
    "users",
    "think_time",
    "mode",
    "arrival",
    "max_in_flight",
    "max_sessions",
    "drain_timeout",
    "repeat",
    "phases",
    "preset",
    "recovery",
];
const KINDS: &[&str] = &["steady", "ramp", "spike", "step", "diurnal"];
const MAX_RATE: f64 = 1_000_000.0;

pub(super) fn load(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<LoadConfig> {
    let Some(v) = v else {
        w.report(
            "load",
            None,
            "is required ([load] with at least one [[load.phases]])",
        );
        return None;
    };
    let mut t = v.table(w)?;
    let mode = match t.get("mode") {
        None => Some(LoadMode::Open),
        Some(v) => v.one_of(w, &["open", "closed"]).map(|m| {
            if m == "open" {
                LoadMode::Open
            } else {
                LoadMode::Closed
            }
        }),
    };
    let closed = mode == Some(LoadMode::Closed);
    let users = match (t.get("users"), closed) {
        (Some(u), true) => users(w, &u),
        (None, true) => {
            w.report(
                "load.users",
                Some(t.span.clone()),
                "is required with mode = \"closed\"",
            );
            None
        }
        (Some(u), false) => {
            u.bad(w, "only a closed-loop run (mode = \"closed\") has users");
            None
        }
        (None, false) => Some(UserRamp::constant(0)),
    };
    let think_time = match t.get("think_time") {
        None => Some((Duration::ZERO, Duration::ZERO)),
        Some(x) if x.is_str() => x.duration_or_zero(w).map(|d| (d, d)),
        Some(x) => x.table(w).and_then(|mut tt| {
            let lo = tt.require(w, "min").and_then(|m| m.duration_or_zero(w));
            let hi = tt.require(w, "max").and_then(|m| m.duration_or_zero(w));
            tt.finish(w, &["min", "max"], |_| None);
            match (lo?, hi?) {
                (lo, hi) if lo <= hi => Some((lo, hi)),
                _ => {
                    x.bad(w, "min must be <= max");
                    None
                }
            }
        }),
    };
    let budget = match t.get("budget") {
        None => Some(None),
        Some(b) => b.table(w).and_then(|mut bt| {
            let cap = |w: &mut Walk<'_>, x: Option<Val<'_, '_>>| match x {
                None => Some(None),
                Some(x) => x.int_in(w, 1, i64::MAX).map(|n| Some(n as u64)),
            };
            let max_requests_v = bt.get("max_requests");
            let max_requests = cap(w, max_requests_v);
            let max_tokens_v = bt.get("max_output_tokens");
            let max_output_tokens = cap(w, max_tokens_v);
            bt.finish(w, &["max_requests", "max_output_tokens"], |_| None);
            let budget = Budget {
                max_requests: max_requests?,
                max_output_tokens: max_output_tokens?,
            };
            if budget.max_requests.is_none() && budget.max_output_tokens.is_none() {
                b.bad(w, "set max_requests and/or max_output_tokens");
                return None;
            }
            Some(Some(budget))
        }),
    };
    let arrival = match t.get("arrival") {
        None => Some(Arrival::Poisson),
        Some(v) => arrival(w, &v),
    };
    let max_in_flight = match t.get("max_in_flight") {
        None => Some(256),
        Some(v) => v.int_in(w, 1, 1_000_000).map(|n| n as usize),
    };
    let drain_timeout = duration_or(w, &mut t, "drain_timeout", Duration::from_secs(30));
    let max_sessions = match t.get("max_sessions") {
        None => max_in_flight,
        Some(v) => v.int_in(w, 1, 10_000_000).map(|n| n as usize),
    };
    let repeat_v = t.get("repeat");
    let repeat = match &repeat_v {
        None => Some(Repeat::Times(1)),
        Some(r) if r.is_str() => r.one_of(w, &["forever"]).map(|_| Repeat::Forever),
        Some(r) => r.int_in(w, 1, 1_000_000).map(|n| Repeat::Times(n as u32)),
    };
    let recovery = match t.get("recovery") {
        None => Some(Recovery::default()),
        Some(r) => recovery(w, &r),
    };
    let mut any_forever = false;
    let preset_v = t.get("preset");
    let phases_v = if closed || preset_v.is_some() {
        t.get("phases")
    } else {
        t.require(w, "phases")
    };
    if let (Some(_), Some(p)) = (&preset_v, &phases_v) {
        p.bad(w, "set either load.preset or [[load.phases]], not both");
    }
    if let (true, Some(p)) = (closed, &preset_v) {
        p.bad(
            w,
            "a preset is an arrival-rate shape: it needs mode = \"open\"",
        );
    }
    let preset = preset_v.and_then(|p| super::preset::phases(w, &p));
    let phases_v = phases_v.filter(|_| preset.is_none());
    if closed && let Some(p) = &phases_v {
        p.bad(w, "a closed-loop run has users, not arrival phases: remove [[load.phases]] (its length is --duration)");
    }
    let phases =
        phases_v
            .filter(|_| !closed)
            .map_or(closed.then(Vec::new).or(preset.clone()), |v| {
                let items = v.array(w)?;
                if items.is_empty() {
                    v.bad(w, "at least one phase is required");
                    return None;
                }
                let phases: Vec<Option<Phase>> = items.iter().map(|p| phase(w, p)).collect();
                any_forever = phases.iter().flatten().any(|p| p.duration.is_none());
                let phases = phases.into_iter().collect::<Option<Vec<_>>>()?;
                if let Some(i) = phases
                    .iter()
                    .position(|p| p.duration.is_none())
                    .filter(|&i| i + 1 < phases.len())
                {
                    w.report(
                        &format!("load.phases[{i}].duration"),
                        Some(items[i].span()),
                        "only the last phase may last forever",
                    );
                    return None;
                }
                Some(phases)
            });
    if let Some(p) = &preset {
        any_forever = p.iter().any(|p| p.duration.is_none());
    }
    if let (Some(r), Some(Repeat::Forever | Repeat::Times(2..)), true) =
        (&repeat_v, repeat, any_forever)
    {
        r.bad(w, "repeat needs every phase to have a finite duration");
        t.finish(w, LOAD_KEYS, |_| None);
        return None;
    }
    t.finish(w, LOAD_KEYS, |_| None);
    Some(LoadConfig {
        mode: mode?,
        arrival: arrival?,
        max_in_flight: max_in_flight?,
        repeat: repeat?,
        max_sessions: max_sessions?,
        drain_timeout: drain_timeout?,
        phases: phases?,
        users: users?,
        think_time: think_time?,
        budget: budget?,
        recovery: recovery?,
    })
}

/// `users = N` or a user ramp `users = { from, to, over }`.
fn users(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<UserRamp> {
    if !v.raw().is_table() {
        return v
            .int_in(w, 1, 1_000_000)
            .map(|n| UserRamp::constant(n as usize));
    }
    let mut t = v.table(w)?;
    let from = match t.get("from") {
        None => Some(0),
        Some(f) => f.int_in(w, 0, 1_000_000).map(|n| n as usize),
    };
    let to = t
        .require(w, "to")
        .and_then(|x| x.int_in(w, 0, 1_000_000))
        .map(|n| n as usize);
    let over = t.require(w, "over").and_then(|o| o.duration(w));
    t.finish(w, &["from", "to", "over"], |_| None);
    let ramp = UserRamp {
        from: from?,
        to: to?,
        over: over?,
    };
    if ramp.max() == 0 {
        v.bad(w, "from or to must be > 0");
        return None;
    }
    Some(ramp)
}

/// `recovery = { window, latency_tolerance, error_tolerance }`: when a spike counts as over.
fn recovery(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Recovery> {
    let mut t = v.table(w)?;
    let d = Recovery::default();
    let window = match t.get("window") {
        None => Some(d.window),
        Some(x) => x.duration(w).and_then(|win| {
            if win < std::time::Duration::from_secs(1) || win.subsec_nanos() != 0 {
                x.bad(w, "must be a whole number of seconds, at least 1s");
                None
            } else {
                Some(win)
            }
        }),
    };
    let latency_tolerance = match t.get("latency_tolerance") {
        None => Some(d.latency_tolerance),
        Some(x) => x.float_in(w, 0.0, true, 100.0),
    };
    let error_tolerance = match t.get("error_tolerance") {
        None => Some(d.error_tolerance),
        Some(x) => x.float_in(w, 0.0, true, 1.0),
    };
    t.finish(
        w,
        &["window", "latency_tolerance", "error_tolerance"],
        |_| None,
    );
    Some(Recovery {
        window: window?,
        latency_tolerance: latency_tolerance?,
        error_tolerance: error_tolerance?,
    })
}

fn arrival(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Arrival> {
    if v.is_str() {
        return match v.one_of(w, &["constant", "poisson"])? {
            "constant" => Some(Arrival::Constant),
            _ => Some(Arrival::Poisson),
        };
    }
    let mut t = v.table(w)?;
    let out = match t.get("gamma") {
        Some(g) => {
            let mut gt = g.table(w)?;
            let k = gt
                .require(w, "burstiness")
                .and_then(|b| b.float_in(w, 0.0, false, 1000.0));
            gt.finish(w, &["burstiness"], |_| None);
            k.map(|burstiness| Arrival::Gamma { burstiness })
        }
        None => {
            v.bad(
                w,
                "must be \"constant\", \"poisson\" or { gamma = { burstiness = K } }",
            );
            None
        }
    };
    t.finish(w, &["gamma"], |_| None);
    out
}

fn phase(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Phase> {
    let mut t = v.table(w)?;
    let kind = t.require(w, "kind").and_then(|k| k.one_of(w, KINDS));
    let duration = t.require(w, "duration").and_then(|d| {
        if d.is_str() && d.raw().as_str() == Some("forever") {
            Some(None)
        } else {
            d.duration(w).map(Some)
        }
    });
    let Some(kind) = kind else {
        t.entries();
        t.finish(w, &[], |_| None);
        return None;
    };
    let known: &[&str] = match kind {
        "steady" => &["rate"],
        "ramp" => &["from", "to"],
        "step" => &["from", "to", "steps"],
        "spike" => &["base", "peak", "at", "hold"],
        _ => &["mean", "amplitude", "period"],
    };
    // Every key of this kind is read (and checked) before anything is built, so one pass
    // reports all of them.
    let mut rates = [None; 2];
    let mut at = None;
    let mut hold = None;
    let mut steps = None;
    let mut period = None;
    for (i, key) in known.iter().enumerate() {
        let Some(x) = t.require(w, key) else { continue };
        match *key {
            "at" => at = x.duration_or_zero(w),
            "hold" => hold = x.duration(w),
            "period" => period = x.duration(w),
            "steps" => steps = x.int_in(w, 1, 10_000).map(|n| n as u32),
            "mean" => rates[0] = x.float_in(w, 0.0, false, MAX_RATE),
            _ => rates[i.min(1)] = x.float_in(w, 0.0, true, MAX_RATE),
        }
    }
    let mut keys = vec!["kind", "duration"];
    keys.extend_from_slice(known);
    t.finish(w, &keys, |_| None);
    let forever_ok = matches!(kind, "steady" | "diurnal");
    if duration == Some(None) && !forever_ok {
        v.bad(w, "only steady and diurnal phases may last forever");
    }
    let shape = match kind {
        "steady" => PhaseKind::Steady { rate: rates[0]? },
        "ramp" => PhaseKind::Ramp {
            from: rates[0]?,
            to: rates[1]?,
        },
        "step" => PhaseKind::Step {
            from: rates[0]?,
            to: rates[1]?,
            steps: steps?,
        },
        "spike" => PhaseKind::Spike {
            base: rates[0]?,
            peak: rates[1]?,
            at: at?,
            hold: hold?,
        },
        _ => {
            let (mean, amplitude) = (rates[0]?, rates[1]?);
            if amplitude > mean {
                v.bad(w, format!("amplitude must be <= mean, or the rate would go negative (got {amplitude} > {mean})"));
                return None;
            }
            PhaseKind::Diurnal {
                mean,
                amplitude,
                period: period?,
            }
        }
    };
    let duration = duration?;
    match (shape, duration) {
        (_, None) if !forever_ok => None,
        (PhaseKind::Spike { at, hold, .. }, Some(d)) if at + hold > d => {
            v.bad(
                w,
                format!(
                    "at + hold ({}) must not exceed the phase duration ({})",
                    humantime::format_duration(at + hold),
                    humantime::format_duration(d)
                ),
            );
            None
        }
        _ => Some(Phase {
            kind: shape,
            duration,
        }),
    }
}
