//! `[load.trace]`: a timestamped production trace replayed as the open loop's arrival schedule —
//! its file and format (Mooncake JSONL, BurstGPT CSV, Azure LLM inference CSV), `speedup`,
//! `loop`, an optional `duration` and Mooncake's `block_tokens`. The file is read by the
//! preparation step (`workload::trace`); here only the shape and the checks of the keys, and
//! the one `trace` phase that stands for the replay in everything that sees phases.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::forms::opt_dur;
use super::{FileRef, Phase, PhaseKind, Repeat, file_path};

/// How a trace file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    /// JSON lines: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    Mooncake,
    /// CSV: `Timestamp` (s), `Request tokens`, `Response tokens`.
    Burstgpt,
    /// CSV: `TIMESTAMP` (a UTC date-time), `ContextTokens`, `GeneratedTokens`.
    Azure,
}

impl TraceFormat {
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Mooncake => "mooncake",
            TraceFormat::Burstgpt => "burstgpt",
            TraceFormat::Azure => "azure",
        }
    }
}

/// `[load.trace]` as written and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    #[serde(with = "file_path")]
    pub file: FileRef,
    pub format: TraceFormat,
    /// Time runs this many times faster than the trace's (2: twice the rate, half the span).
    #[serde(default = "one")]
    pub speedup: f64,
    /// Start again from the first row when the last one is sent (until `duration`, or forever).
    #[serde(default, rename = "loop")]
    pub repeat: bool,
    /// Stop the replay after this long (unset: at the trace's end, or never with `loop`).
    #[serde(default, with = "opt_dur", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Tokens per Mooncake hash block: identical block ids become identical text this long.
    #[serde(default = "block_tokens")]
    pub block_tokens: u32,
}

fn one() -> f64 {
    1.0
}

fn block_tokens() -> u32 {
    512
}

impl TraceSpec {
    /// The checks of the keys (the file is read later, by the preparation step).
    pub(super) fn check(&mut self, c: &mut Check<'_>) {
        self.file.check(c, "load.trace.file");
        c.float_in("load.trace.speedup", self.speedup, 0.0, false, 10_000.0);
        c.int_in("load.trace.block_tokens", self.block_tokens, 1, 1 << 20);
    }

    /// The one phase of a replayed trace: alone (no phases or preset beside it, no `repeat`),
    /// open loop only. Its rate and length are the file's, set by the preparation step
    /// ([`super::LoadConfig::resolve_trace`]).
    pub(super) fn phase(
        &self,
        c: &mut Check<'_>,
        closed: bool,
        phases_too: bool,
        repeat: Repeat,
    ) -> Vec<Phase> {
        if closed {
            c.bad(
                "load.trace",
                "a trace is an arrival schedule: it needs mode = \"open\"",
            );
        }
        if phases_too {
            c.bad(
                "load.phases",
                "set either load.trace or the phases (load.phases, load.preset), not both",
            );
        }
        if repeat != Repeat::Times(1) {
            c.bad("load.repeat", "a trace repeats with load.trace.loop = true");
        }
        vec![Phase {
            kind: PhaseKind::Trace { rate: 0.0 },
            duration: self.duration,
        }]
    }

    /// How long the replay runs, given the trace's own period (its span plus one mean gap):
    /// `duration`, else one pass sped up, else forever when looping.
    pub fn replay_length(&self, period: Duration) -> Option<Duration> {
        match (self.duration, self.repeat) {
            (Some(d), _) => Some(d),
            (None, false) => Some(period.div_f64(self.speedup)),
            (None, true) => None,
        }
    }
}
