//! `[load]` as validated data: open loop (arrival process, in-flight cap, phases of the load
//! shape, repeat, spike recovery) or closed loop (users, think time), the sessions cap, the drain
//! and the spend budget. The walk that builds it is [`super::load_walk`].

use std::time::Duration;

use serde::{Serialize, Serializer};

use super::ser_duration;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    Open,
    /// `users` each send their next request when the previous one finished plus a think time.
    Closed,
}

/// Inter-arrival process; gaps have mean 1 in operational time (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    Constant,
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
        #[serde(serialize_with = "ser_duration")]
        at: Duration,
        #[serde(serialize_with = "ser_duration")]
        hold: Duration,
    },
    /// `steps` equal plateaus from `from` to `to`.
    Step {
        from: f64,
        to: f64,
        steps: u32,
    },
    /// `mean + amplitude * sin(2π t / period)`.
    Diurnal {
        mean: f64,
        amplitude: f64,
        #[serde(serialize_with = "ser_duration")]
        period: Duration,
    },
}

impl PhaseKind {
    /// The kind's name in the config (`steady`, `ramp`, `spike`, `step`, `diurnal`).
    pub fn name(&self) -> &'static str {
        match self {
            PhaseKind::Steady { .. } => "steady",
            PhaseKind::Ramp { .. } => "ramp",
            PhaseKind::Spike { .. } => "spike",
            PhaseKind::Step { .. } => "step",
            PhaseKind::Diurnal { .. } => "diurnal",
        }
    }
}

/// `load.budget = { max_requests, max_output_tokens }` (per replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
}

/// How often the phase list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Times(u32),
    Forever,
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
    #[serde(serialize_with = "ser_phase_duration")]
    pub duration: Option<Duration>,
}

fn ser_phase_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_str("forever"),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    pub mode: LoadMode,
    pub arrival: Arrival,
    pub max_in_flight: usize,
    /// How often `phases` runs (default once).
    pub repeat: Repeat,
    /// Multi-turn sessions in flight at most (per replica); beyond, new sessions are dropped.
    pub max_sessions: usize,
    /// On shutdown, how long in-flight requests may finish before they are cancelled.
    pub drain_timeout: Duration,
    pub phases: Vec<Phase>,
    /// A spend cap: the run stops cleanly when it is reached.
    pub budget: Option<Budget>,
    /// Closed loop: concurrent users (per replica), constant or ramped.
    pub users: UserRamp,
    /// Closed loop: think time after each answer, uniform in `[min, max]`.
    pub think_time: (Duration, Duration),
    /// When a spike phase counts as recovered (reports).
    pub recovery: Recovery,
}

/// Closed-loop users: `from` at the start, changing linearly to `to` over `over` (user k starts,
/// or stops, at its share of `over`); a plain `users = N` is `from = to = N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Serialize for UserRamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Ramp {
            from: usize,
            to: usize,
            #[serde(serialize_with = "ser_duration")]
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recovery {
    #[serde(serialize_with = "ser_duration")]
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

/// A `{ min, max }` pair of durations.
#[derive(Serialize)]
struct Span {
    #[serde(serialize_with = "ser_duration")]
    min: Duration,
    #[serde(serialize_with = "ser_duration")]
    max: Duration,
}

pub(super) fn ser_span<S: Serializer>(t: &(Duration, Duration), s: S) -> Result<S::Ok, S::Error> {
    Span { min: t.0, max: t.1 }.serialize(s)
}

/// The effective `[load]`: only the keys of its mode (an open-loop run has no users, a closed loop
/// no phases).
impl Serialize for LoadConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct Drain(#[serde(serialize_with = "ser_duration")] Duration);
        #[derive(Serialize)]
        struct Think(#[serde(serialize_with = "ser_span")] (Duration, Duration));
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
        st.serialize_field("max_sessions", &self.max_sessions)?;
        st.serialize_field("drain_timeout", &Drain(self.drain_timeout))?;
        if let Some(b) = &self.budget {
            st.serialize_field("budget", b)?;
        }
        if open {
            st.serialize_field("recovery", &self.recovery)?;
            st.serialize_field("phases", &self.phases)?;
        } else {
            st.serialize_field("users", &self.users)?;
            st.serialize_field("think_time", &Think(self.think_time))?;
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

    /// No soak traffic (a canary-only config).
    pub fn idle() -> Self {
        LoadConfig {
            mode: LoadMode::Open,
            arrival: Arrival::Poisson,
            max_in_flight: 1,
            repeat: Repeat::Times(1),
            max_sessions: 1,
            drain_timeout: Duration::from_secs(30),
            phases: Vec::new(),
            users: UserRamp::constant(0),
            think_time: (Duration::ZERO, Duration::ZERO),
            budget: None,
            recovery: Recovery::default(),
        }
    }
}
