//! `[load]`: open loop (arrival process, in-flight cap, phases of the load shape, repeat, spike
//! recovery) or closed loop (users, think time), the sessions cap, the drain and the spend
//! budget — the shape of each key and the checks of the whole. The phases and presets are
//! [`super::phases`].

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::check::Check;
use super::forms::{self, Between, Either, describe, dur};
use super::phases::{PhaseSpec, PresetSpec};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    #[default]
    Open,
    /// `users` each send their next request when the previous one finished plus a think time.
    Closed,
}

/// Inter-arrival process; gaps have mean 1 in operational time (DESIGN §7): `"constant"`,
/// `"poisson"` or `{ gamma = { burstiness = K } }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "Either<String, GammaTable>")]
pub enum Arrival {
    Constant,
    #[default]
    Poisson,
    /// Gamma-distributed gaps with shape `burstiness` (1 = Poisson, < 1 burstier).
    Gamma {
        burstiness: f64,
    },
}

/// One load phase's shape (rates in requests/s; sessions/s for conversational scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PhaseKind {
    Steady {
        rate: f64,
    },
    /// Linear from `from` to `to` over the phase.
    Ramp {
        from: f64,
        to: f64,
    },
    /// `base`, jumping to `peak` at `at` for `hold`, back to `base` until the phase ends.
    Spike {
        base: f64,
        peak: f64,
        #[serde(serialize_with = "dur::serialize")]
        at: Duration,
        #[serde(serialize_with = "dur::serialize")]
        hold: Duration,
    },
    /// `steps` equal plateaus from `from` to `to`.
    Step {
        from: f64,
        to: f64,
        steps: u32,
    },
    /// A triangle wave: linear from `from` up to `to` over half a `period`, back down over the
    /// other half, again and again (SGLang's zigzag).
    Zigzag {
        from: f64,
        to: f64,
        #[serde(serialize_with = "dur::serialize")]
        period: Duration,
    },
    /// `base`, with a burst at `peak` for `hold` at the start of every `period`.
    Microburst {
        base: f64,
        peak: f64,
        #[serde(serialize_with = "dur::serialize")]
        hold: Duration,
        #[serde(serialize_with = "dur::serialize")]
        period: Duration,
    },
    /// A replayed trace (`[load.trace]`): its arrivals are the trace's rows; `rate` is their
    /// mean (after `speedup`), set when the file is read — the offered-rate gauge shows it.
    Trace {
        rate: f64,
    },
    /// `mean + amplitude * sin(2π t / period)`.
    Diurnal {
        mean: f64,
        amplitude: f64,
        #[serde(serialize_with = "dur::serialize")]
        period: Duration,
    },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GammaTable {
    gamma: Option<Gamma>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Gamma {
    burstiness: f64,
}

impl TryFrom<Either<String, GammaTable>> for Arrival {
    type Error = String;
    fn try_from(v: Either<String, GammaTable>) -> Result<Self, String> {
        match v {
            Either::Scalar(s) if s == "constant" => Ok(Arrival::Constant),
            Either::Scalar(s) if s == "poisson" => Ok(Arrival::Poisson),
            Either::Scalar(s) => Err(format!(
                "must be one of \"constant\", \"poisson\" (got {s:?})"
            )),
            Either::Table(GammaTable {
                gamma: Some(Gamma { burstiness }),
            }) => Ok(Arrival::Gamma { burstiness }),
            Either::Table(_) => {
                Err("must be \"constant\", \"poisson\" or { gamma = { burstiness = K } }".into())
            }
        }
    }
}

impl PhaseKind {
    /// The kind's name in the config (`steady`, `ramp`, `spike`, `step`, `zigzag`, `microburst`,
    /// `diurnal`).
    pub fn name(&self) -> &'static str {
        match self {
            PhaseKind::Steady { .. } => "steady",
            PhaseKind::Ramp { .. } => "ramp",
            PhaseKind::Spike { .. } => "spike",
            PhaseKind::Step { .. } => "step",
            PhaseKind::Zigzag { .. } => "zigzag",
            PhaseKind::Microburst { .. } => "microburst",
            PhaseKind::Diurnal { .. } => "diurnal",
            PhaseKind::Trace { .. } => "trace",
        }
    }
}

/// `load.budget = { max_requests, max_output_tokens }` (per replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
}

/// How often the phase list runs: a count, or `"forever"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Times(u32),
    Forever,
}

impl Default for Repeat {
    fn default() -> Self {
        Repeat::Times(1)
    }
}

impl<'de> Deserialize<'de> for Repeat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) if s == "forever" => Ok(Repeat::Forever),
            toml::Value::String(s) => Err(de::Error::custom(format!(
                "must be one of \"forever\" (got {s:?})"
            ))),
            toml::Value::Integer(n @ 1..=1_000_000) => Ok(Repeat::Times(n as u32)),
            toml::Value::Integer(n) if n < 1 => {
                Err(de::Error::custom(format!("must be > 0 (got {n})")))
            }
            toml::Value::Integer(n) => {
                Err(de::Error::custom(format!("must be <= 1000000 (got {n})")))
            }
            other => Err(de::Error::custom(format!(
                "expected an integer or \"forever\", got {}",
                describe(&other)
            ))),
        }
    }
}

impl Serialize for Repeat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Repeat::Times(n) => s.serialize_u32(*n),
            Repeat::Forever => s.serialize_str("forever"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Phase {
    #[serde(flatten)]
    pub kind: PhaseKind,
    /// `None` = forever.
    #[serde(serialize_with = "forms::until::serialize")]
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// A spend cap: the run stops cleanly when it is reached.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Closed loop: concurrent users (per replica), constant or ramped (0: none given).
    #[serde(default)]
    pub users: UserRamp,
    /// Closed loop: think time after each answer, uniform in `[min, max]`.
    #[serde(default)]
    pub think_time: Between,
    #[serde(default)]
    pub mode: LoadMode,
    #[serde(default)]
    pub arrival: Arrival,
    #[serde(default = "forms::int::<256, _>")]
    pub max_in_flight: usize,
    /// Multi-turn sessions in flight at most (per replica; unset: `max_in_flight`); beyond, new
    /// sessions are dropped. See [`LoadConfig::max_sessions`].
    #[serde(default)]
    pub max_sessions: Option<usize>,
    /// On shutdown, how long in-flight requests may finish before they are cancelled.
    #[serde(default = "forms::secs::<30>", with = "dur")]
    pub drain_timeout: Duration,
    /// How often `phases` runs (default once).
    #[serde(default)]
    pub repeat: Repeat,
    /// `[[load.phases]]` as written; the check makes them [`LoadConfig::phases`].
    #[serde(default, rename = "phases")]
    specs: Option<Vec<PhaseSpec>>,
    /// `load.preset`, expanded by the check into [`LoadConfig::phases`].
    #[serde(default)]
    preset: Option<PresetSpec>,
    /// A production trace replayed as the schedule (instead of phases or a preset).
    #[serde(default)]
    pub trace: Option<super::trace::TraceSpec>,
    /// When a spike phase counts as recovered (reports).
    #[serde(default)]
    pub recovery: Recovery,
    /// The load shape: the phases, or the preset's.
    #[serde(skip)]
    pub phases: Vec<Phase>,
    /// Per phase, the scenarios (indices) its arrivals are drawn from; empty: all. Set by the
    /// check once the scenarios are known ([`LoadConfig::resolve_phase_scenarios`]).
    #[serde(skip)]
    pub phase_scenarios: Vec<Vec<usize>>,
    /// Per phase, its hooks (`on_start`, `on_end`), checked.
    #[serde(skip)]
    pub phase_hooks: Vec<super::hooks::PhaseHooks>,
    /// Per phase, why it is skipped (its scenarios are ones the server cannot serve, found
    /// when the run starts); empty, or `None` for a phase that runs.
    #[serde(skip)]
    pub phase_skips: Vec<Option<String>>,
}

impl LoadConfig {
    /// Set the trace phase's rate and length from the file: `rows` over one pass of `period`
    /// (the preparation step, which read it).
    pub fn resolve_trace(&mut self, rows: u64, period: Duration) {
        let Some(trace) = &self.trace else {
            return;
        };
        let (rate, length) = (
            rows as f64 / period.as_secs_f64().max(1e-9) * trace.speedup,
            trace.replay_length(period),
        );
        for p in &mut self.phases {
            if let PhaseKind::Trace { rate: r } = &mut p.kind {
                *r = rate;
                p.duration = length;
            }
        }
    }
}

/// Closed-loop users: `from` at the start, changing linearly to `to` over `over` (user k starts,
/// or stops, at its share of `over`); a plain `users = N` is `from = to = N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Either<i64, RampTable>")]
pub struct UserRamp {
    pub from: usize,
    pub to: usize,
    pub over: Duration,
}

impl UserRamp {
    pub fn constant(n: usize) -> Self {
        UserRamp {
            from: n,
            to: n,
            over: Duration::ZERO,
        }
    }

    /// Most users ever active.
    pub fn max(&self) -> usize {
        self.from.max(self.to)
    }

    /// When user `k` (0-based) is active, relative to the run's start: `[start, stop)`.
    pub fn active(&self, k: usize) -> (Duration, Option<Duration>) {
        let share = |steps: usize, of: usize| self.over.mul_f64(steps as f64 / of as f64);
        if self.to > self.from && k >= self.from {
            (share(k - self.from + 1, self.to - self.from), None)
        } else if self.to < self.from && k >= self.to {
            (
                Duration::ZERO,
                Some(share(self.from - k, self.from - self.to)),
            )
        } else {
            (Duration::ZERO, None)
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampTable {
    #[serde(default)]
    from: u32,
    to: u32,
    #[serde(with = "dur")]
    over: Duration,
}

impl TryFrom<Either<i64, RampTable>> for UserRamp {
    type Error = String;
    fn try_from(v: Either<i64, RampTable>) -> Result<Self, String> {
        let ramp = match v {
            Either::Scalar(n) if n < 1 => return Err(format!("must be > 0 (got {n})")),
            Either::Scalar(n) if n > 1_000_000 => {
                return Err(format!("must be <= 1000000 (got {n})"));
            }
            Either::Scalar(n) => UserRamp::constant(n as usize),
            Either::Table(t) => UserRamp {
                from: t.from as usize,
                to: t.to as usize,
                over: t.over,
            },
        };
        match ramp.max() {
            0 => Err("from or to must be > 0".into()),
            m if m > 1_000_000 => Err(format!("must be <= 1000000 (got {m})")),
            _ => Ok(ramp),
        }
    }
}

impl Serialize for UserRamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Ramp {
            from: usize,
            to: usize,
            #[serde(with = "dur")]
            over: Duration,
        }
        if self.from == self.to {
            s.serialize_u64(self.from as u64)
        } else {
            Ramp {
                from: self.from,
                to: self.to,
                over: self.over,
            }
            .serialize(s)
        }
    }
}

/// `load.recovery`: a spike phase has recovered when, over every later `window`, the TTFT p95
/// is within `latency_tolerance` (a fraction) of the pre-spike level and the error rate within
/// `error_tolerance` (absolute) of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recovery {
    #[serde(with = "dur")]
    pub window: Duration,
    pub latency_tolerance: f64,
    pub error_tolerance: f64,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            window: Duration::from_secs(10),
            latency_tolerance: 0.2,
            error_tolerance: 0.01,
        }
    }
}

/// The effective `[load]`: only the keys of its mode (an open-loop run has no users, a closed loop
/// no phases).
impl Serialize for LoadConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct Drain(#[serde(with = "dur")] Duration);
        let open = self.mode == LoadMode::Open;
        let mut st = s.serialize_struct("LoadConfig", 12)?;
        st.serialize_field("mode", &self.mode)?;
        if open {
            st.serialize_field("arrival", &self.arrival)?;
        }
        st.serialize_field("max_in_flight", &self.max_in_flight)?;
        if open {
            st.serialize_field("repeat", &self.repeat)?;
        }
        st.serialize_field("max_sessions", &self.max_sessions())?;
        st.serialize_field("drain_timeout", &Drain(self.drain_timeout))?;
        if let Some(b) = &self.budget {
            st.serialize_field("budget", b)?;
        }
        if let Some(t) = self.trace.as_ref().filter(|_| open) {
            st.serialize_field("trace", t)?;
        }
        if open {
            st.serialize_field("recovery", &self.recovery)?;
            #[derive(Serialize)]
            struct Shown<'a> {
                #[serde(flatten)]
                phase: &'a Phase,
                #[serde(skip_serializing_if = "Option::is_none")]
                scenarios: Option<&'a Vec<String>>,
                #[serde(flatten)]
                hooks: Option<&'a super::hooks::PhaseHooks>,
            }
            let shown: Vec<Shown<'_>> = self
                .phases
                .iter()
                .enumerate()
                .map(|(i, phase)| Shown {
                    phase,
                    scenarios: self
                        .specs
                        .as_ref()
                        .and_then(|s| s.get(i))
                        .and_then(|s| s.scenarios.as_ref()),
                    hooks: self.phase_hooks.get(i).filter(|h| !h.is_empty()),
                })
                .collect();
            // A trace's one phase is the file's (its rate shows in `plan`), not a key to print.
            if self.trace.is_none() {
                st.serialize_field("phases", &shown)?;
            }
        } else {
            st.serialize_field("users", &self.users)?;
            st.serialize_field("think_time", &self.think_time)?;
        }
        st.end()
    }
}

impl LoadConfig {
    /// Each phase's kind (`steady`, `spike`, …), by index.
    pub fn phase_names(&self) -> Vec<String> {
        self.phases
            .iter()
            .map(|p| p.kind.name().to_string())
            .collect()
    }

    /// Multi-turn sessions in flight at most.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions.unwrap_or(self.max_in_flight)
    }

    /// No soak traffic (a canary-only config).
    pub fn idle() -> Self {
        LoadConfig {
            mode: LoadMode::Open,
            arrival: Arrival::Poisson,
            max_in_flight: 1,
            repeat: Repeat::Times(1),
            max_sessions: Some(1),
            drain_timeout: Duration::from_secs(30),
            specs: None,
            preset: None,
            trace: None,
            phases: Vec::new(),
            phase_scenarios: Vec::new(),
            phase_hooks: Vec::new(),
            phase_skips: Vec::new(),
            users: UserRamp::constant(0),
            think_time: Between::default(),
            budget: None,
            recovery: Recovery::default(),
        }
    }

    /// The checks of `[load]`; its phases (or its preset's) become [`LoadConfig::phases`].
    pub(super) fn check(&mut self, c: &mut Check<'_>) {
        let closed = self.mode == LoadMode::Closed;
        match (closed, self.users.max() > 0) {
            (true, false) => c.bad("load.users", "is required with mode = \"closed\""),
            (false, true) => c.bad(
                "load.users",
                "only a closed-loop run (mode = \"closed\") has users",
            ),
            _ => {}
        }
        if let Some(b) = self.budget {
            for (key, n) in [
                ("max_requests", b.max_requests),
                ("max_output_tokens", b.max_output_tokens),
            ] {
                if let Some(n) = n {
                    c.int_in(&format!("load.budget.{key}"), n, 1, i128::from(i64::MAX));
                }
            }
            if b.max_requests.is_none() && b.max_output_tokens.is_none() {
                c.bad("load.budget", "set max_requests and/or max_output_tokens");
            }
        }
        if let Arrival::Gamma { burstiness } = self.arrival {
            c.float_in(
                "load.arrival.gamma.burstiness",
                burstiness,
                0.0,
                false,
                1000.0,
            );
        }
        c.int_in(
            "load.max_in_flight",
            self.max_in_flight as i128,
            1,
            1_000_000,
        );
        if let Some(n) = self.max_sessions {
            c.int_in("load.max_sessions", n as i128, 1, 10_000_000);
        }
        self.max_sessions = Some(self.max_sessions());
        let r = self.recovery;
        if r.window < Duration::from_secs(1) || r.window.subsec_nanos() != 0 {
            c.bad(
                "load.recovery.window",
                "must be a whole number of seconds, at least 1s",
            );
        }
        c.float_in(
            "load.recovery.latency_tolerance",
            r.latency_tolerance,
            0.0,
            true,
            100.0,
        );
        c.float_in(
            "load.recovery.error_tolerance",
            r.error_tolerance,
            0.0,
            true,
            1.0,
        );
        self.phases = match &mut self.trace {
            Some(trace) => {
                trace.check(c);
                trace.phase(
                    c,
                    closed,
                    self.specs.is_some() || self.preset.is_some(),
                    self.repeat,
                )
            }
            None => super::phases::check(c, closed, self.specs.as_deref(), self.preset.as_ref()),
        };
        self.phase_scenarios = vec![Vec::new(); self.phases.len()];
        self.phase_hooks = vec![super::hooks::PhaseHooks::default(); self.phases.len()];
        if let Some(specs) = &mut self.specs {
            for (i, spec) in specs.iter_mut().enumerate() {
                let at = format!("load.phases[{i}]");
                if let Some(h) = &mut spec.on_start {
                    h.check(c, &format!("{at}.on_start"));
                }
                if let Some(h) = &mut spec.on_end {
                    h.check(c, &format!("{at}.on_end"));
                    if spec.duration.is_none() {
                        c.bad(
                            format!("{at}.on_end"),
                            "a phase that lasts forever never ends",
                        );
                    }
                }
                if let Some(slot) = self.phase_hooks.get_mut(i) {
                    *slot = super::hooks::PhaseHooks {
                        on_start: spec.on_start.clone(),
                        on_end: spec.on_end.clone(),
                    };
                }
            }
        }
        let forever = self.phases.iter().any(|p| p.duration.is_none());
        if forever
            && self.trace.is_none()
            && matches!(self.repeat, Repeat::Forever | Repeat::Times(2..))
        {
            c.bad(
                "load.repeat",
                "repeat needs every phase to have a finite duration",
            );
        }
    }

    /// Resolve each `[[load.phases]]`'s `scenarios` names against the config's scenarios: every
    /// unknown name a problem at its path.
    pub(super) fn resolve_phase_scenarios(&mut self, c: &mut Check<'_>, names: &[&str]) {
        let Some(specs) = &self.specs else {
            return;
        };
        for (i, spec) in specs.iter().enumerate() {
            let Some(wanted) = &spec.scenarios else {
                continue;
            };
            let at = format!("load.phases[{i}].scenarios");
            if wanted.is_empty() {
                c.bad(
                    &at,
                    "must name at least one scenario (leave it out for all)",
                );
                continue;
            }
            let mut picked = Vec::new();
            for (j, name) in wanted.iter().enumerate() {
                match names.iter().position(|n| n == name) {
                    Some(k) => picked.push(k),
                    None => c.bad(
                        format!("{at}[{j}]"),
                        format!(
                            "no scenario is named {name:?} (they are {})",
                            names.join(", ")
                        ),
                    ),
                }
            }
            if let Some(slot) = self.phase_scenarios.get_mut(i) {
                *slot = picked;
            }
        }
    }
}
