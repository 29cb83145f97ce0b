//! Spike recovery: for every spike phase of the load shape, how long after the spike ends the
//! target is back to its pre-spike level — the first moment from which every rolling window
//! (`load.recovery.window`) has a TTFT p95 within `latency_tolerance` of the pre-spike p95 and an
//! error rate within `error_tolerance` of the pre-spike rate. Requests are placed by when they
//! were sent (the server's state at that moment), in 1 s slots from the spike's end; the
//! pre-spike level is the last minute (at most) of the phase's base rate before the spike.
//!
//! Bounded memory: a slot is a 3 %-resolution log histogram (~2.8 KB); at most
//! [`MAX_POST_SLOTS`] slots per spike occurrence, one occurrence in progress per spike phase, and
//! the results of at most [`MAX_RESULTS`] occurrences kept (a spike repeated forever).

use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Phase, PhaseKind, Recovery};
use crate::record::{Outcome, RequestRecord};
use crate::report::{Level, SpikeResult};

/// Slots (seconds) tracked after a spike ends.
pub const MAX_POST_SLOTS: usize = 600;
/// Finished occurrences whose results are kept.
pub const MAX_RESULTS: usize = 100;
/// The longest stretch before the spike used as its baseline.
const PRE_WINDOW: Duration = Duration::from_secs(60);
const BUCKETS: usize = 700;
const RATIO: f64 = 1.03;
const BASE_MICROS: f64 = 10.0;

/// TTFTs of successful requests (3 % buckets, 10 µs – beyond 1 h) and outcome counts.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    ttft: Box<[u32]>,
    ok: u32,
    failed: u32,
}

impl Slot {
    pub(super) fn new() -> Self {
        Slot {
            ttft: vec![0; BUCKETS].into_boxed_slice(),
            ok: 0,
            failed: 0,
        }
    }

    /// Empty again, its buckets kept (a ring's slot turning over allocates nothing).
    pub(super) fn reset(&mut self) {
        self.ttft.fill(0);
        self.ok = 0;
        self.failed = 0;
    }

    pub(super) fn observe(&mut self, rec: &RequestRecord) {
        match (rec.outcome, rec.ttft()) {
            (Outcome::Cancelled | Outcome::Aborted, _) => {}
            (Outcome::Success, Some(t)) => {
                let us = (t.as_secs_f64() * 1e6).max(BASE_MICROS);
                let i = ((us / BASE_MICROS).ln() / RATIO.ln()) as usize;
                self.ttft[i.min(BUCKETS - 1)] += 1;
                self.ok += 1;
            }
            (Outcome::Success, None) => self.ok += 1,
            _ => self.failed += 1,
        }
    }

    /// Successful requests in the slot.
    pub(super) fn succeeded(&self) -> u32 {
        self.ok
    }

    pub(super) fn add(&mut self, other: &Slot, sign: i64) {
        for (a, b) in self.ttft.iter_mut().zip(other.ttft.iter()) {
            *a = (i64::from(*a) + sign * i64::from(*b)) as u32;
        }
        self.ok = (i64::from(self.ok) + sign * i64::from(other.ok)) as u32;
        self.failed = (i64::from(self.failed) + sign * i64::from(other.failed)) as u32;
    }

    pub(super) fn level(&self) -> Level {
        let n: u64 = self.ttft.iter().map(|&c| u64::from(c)).sum();
        let p95 = (n > 0).then(|| {
            let want = (0.95 * n as f64).ceil() as u64;
            let mut seen = 0;
            let i = self
                .ttft
                .iter()
                .position(|&c| {
                    seen += u64::from(c);
                    seen >= want
                })
                .unwrap_or(BUCKETS - 1);
            BASE_MICROS * RATIO.powi(i as i32 + 1) / 1e6
        });
        let judged = u64::from(self.ok) + u64::from(self.failed);
        Level {
            ttft_p95: p95,
            error_rate: (judged > 0).then(|| f64::from(self.failed) / judged as f64),
            requests: judged,
        }
    }
}

/// One spike phase of the shape, in time within a pass of the phase list.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spike {
    phase: u32,
    /// Start of the phase within a pass.
    offset: Duration,
    at: Duration,
    hold: Duration,
    len: Duration,
}

/// Where the spikes are in absolute time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    epoch: Instant,
    pass_len: Duration,
    spikes: Vec<Spike>,
    criteria: Recovery,
}

impl Timeline {
    /// The spikes of `phases` (passes of the list follow each other from `epoch`); `None`
    /// without a spike.
    pub fn new(phases: &[Phase], epoch: Instant, criteria: Recovery) -> Option<Self> {
        let mut offset = Duration::ZERO;
        let mut spikes = Vec::new();
        for (i, p) in phases.iter().enumerate() {
            let Some(len) = p.duration else { break };
            if let PhaseKind::Spike { at, hold, .. } = p.kind {
                spikes.push(Spike {
                    phase: i as u32,
                    offset,
                    at,
                    hold,
                    len,
                });
            }
            offset += len;
        }
        (!spikes.is_empty() && !offset.is_zero()).then_some(Timeline {
            epoch,
            pass_len: offset,
            spikes,
            criteria,
        })
    }
}

#[derive(Debug, Clone)]
struct Occurrence {
    spike: usize,
    pass: u64,
    pre: Slot,
    during: Slot,
    post: Vec<Slot>,
}

impl Occurrence {
    fn result(&self, t: &Timeline) -> SpikeResult {
        let s = t.spikes[self.spike];
        let c = t.criteria;
        let window = c.window.as_secs().max(1) as usize;
        let pre = self.pre.level();
        let mut out = SpikeResult {
            phase: s.phase,
            pass: self.pass,
            spike_start_seconds: (t.pass_len * self.pass as u32 + s.offset + s.at).as_secs_f64(),
            spike_seconds: s.hold.as_secs_f64(),
            pre_spike: pre,
            during_spike: self.during.level(),
            recovered: false,
            recovery_seconds: None,
            observed_seconds: self.post.len() as f64,
            window_seconds: window as f64,
            latency_tolerance: c.latency_tolerance,
            error_tolerance: c.error_tolerance,
            note: None,
        };
        match recovered_after(&pre, &self.post, c) {
            Ok(since) => {
                out.recovered = true;
                out.recovery_seconds = Some(since as f64);
            }
            Err(why) => out.note = Some(why.say("the spike")),
        }
        out
    }
}

/// Why a level is not (yet) back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotBack {
    /// No successful request before the event to compare with.
    NoBefore,
    /// Fewer seconds observed after the event than one window.
    Short(usize),
    /// Still outside the tolerance at the end of what was observed.
    Outside,
}

impl NotBack {
    /// In a line, `what` naming the event ("the spike", "the restart").
    pub(super) fn say(self, what: &str) -> String {
        match self {
            NotBack::NoBefore => format!("no successful request before {what} to compare with"),
            NotBack::Short(w) => format!("fewer than {w} s observed after {what} ended"),
            NotBack::Outside => format!("still outside the tolerance at the end of {what}"),
        }
    }
}

/// The first slot of `post` from which every rolling window (`c.window` slots) is back within
/// `c`'s tolerances of the `pre` level.
pub(super) fn recovered_after(pre: &Level, post: &[Slot], c: Recovery) -> Result<usize, NotBack> {
    let window = c.window.as_secs().max(1) as usize;
    let (Some(pre_p95), Some(pre_err)) = (pre.ttft_p95, pre.error_rate) else {
        return Err(NotBack::NoBefore);
    };
    if post.len() < window {
        return Err(NotBack::Short(window));
    }
    {
        let within = |w: &Slot| {
            let l = w.level();
            l.ttft_p95
                .is_some_and(|p| p <= pre_p95 * (1.0 + c.latency_tolerance))
                && l.error_rate
                    .is_some_and(|e| e <= pre_err + c.error_tolerance)
        };
        // Slide the window over the post slots, keeping the earliest start from which every
        // window was within tolerance.
        let mut sum = Slot::new();
        for slot in &post[..window] {
            sum.add(slot, 1);
        }
        let mut since = None;
        for start in 0..=post.len() - window {
            if start > 0 {
                sum.add(&post[start - 1], -1);
                sum.add(&post[start + window - 1], 1);
            }
            match (within(&sum), since) {
                (true, None) => since = Some(start),
                (false, _) => since = None,
                _ => {}
            }
        }
        since.ok_or(NotBack::Outside)
    }
}

/// Tracks the spike occurrences of a run.
#[derive(Debug, Clone)]
pub struct Tracker {
    timeline: Timeline,
    current: Vec<Option<Occurrence>>,
    done: Vec<SpikeResult>,
    /// Finished occurrences beyond [`MAX_RESULTS`], counted only.
    pub omitted: u64,
}

impl Tracker {
    pub fn new(timeline: Timeline) -> Self {
        Tracker {
            current: vec![None; timeline.spikes.len()],
            timeline,
            done: Vec::new(),
            omitted: 0,
        }
    }

    fn finish(&mut self, occ: Occurrence) {
        if self.done.len() < MAX_RESULTS {
            self.done.push(occ.result(&self.timeline));
        } else {
            self.omitted += 1;
        }
    }

    /// Follow a new timeline (a reload changed the shape): occurrences in progress are judged
    /// on what they have, finished results are kept.
    pub fn retime(&mut self, timeline: Timeline) {
        if timeline == self.timeline {
            return;
        }
        for occ in std::mem::take(&mut self.current).into_iter().flatten() {
            self.finish(occ);
        }
        self.current = vec![None; timeline.spikes.len()];
        self.timeline = timeline;
    }

    /// Place a finished request of a spike phase.
    pub fn observe(&mut self, rec: &RequestRecord) {
        let t = &self.timeline;
        let Some(phase) = rec.phase else { return };
        let Some(i) = t.spikes.iter().position(|s| s.phase == phase) else {
            return;
        };
        let s = t.spikes[i];
        let since = rec.sent_at.saturating_duration_since(t.epoch);
        let pass = (since.as_nanos() / t.pass_len.as_nanos().max(1)) as u64;
        let Some(local) = since
            .checked_sub(t.pass_len * pass as u32)
            .and_then(|x| x.checked_sub(s.offset))
        else {
            return;
        };
        match &self.current[i] {
            Some(o) if o.pass > pass => return,
            Some(o) if o.pass < pass => {
                if let Some(old) = self.current[i].take() {
                    self.finish(old);
                }
            }
            _ => {}
        }
        let post_slots =
            ((s.len - s.at - s.hold).as_secs_f64().ceil() as usize).min(MAX_POST_SLOTS);
        let occ = self.current[i].get_or_insert_with(|| Occurrence {
            spike: i,
            pass,
            pre: Slot::new(),
            during: Slot::new(),
            post: Vec::new(),
        });
        if local < s.at {
            if local + PRE_WINDOW >= s.at {
                occ.pre.observe(rec);
            }
        } else if local < s.at + s.hold {
            occ.during.observe(rec);
        } else {
            let k = (local - s.at - s.hold).as_secs() as usize;
            if k < post_slots {
                while occ.post.len() <= k {
                    occ.post.push(Slot::new());
                }
                occ.post[k].observe(rec);
            }
        }
    }

    /// Finished occurrences and those in progress, judged on what has arrived so far.
    pub fn results(&self) -> Vec<SpikeResult> {
        let mut out = self.done.clone();
        out.extend(
            self.current
                .iter()
                .flatten()
                .map(|o| o.result(&self.timeline)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    #[test]
    fn a_slot_reset_for_its_next_second_holds_nothing_of_its_last() {
        let t0 = Instant::now();
        let mut slot = Slot::new();
        for (ms, ok) in [(100, true), (900, true), (5, false)] {
            slot.observe(&test_record(t0, Duration::from_millis(ms), ok));
        }
        assert_eq!(slot.level().requests, 3);
        slot.reset();
        assert_eq!(slot.succeeded(), 0);
        let fresh = Slot::new().level();
        assert_eq!(slot.level(), fresh, "as a new slot");
        slot.observe(&test_record(t0, Duration::from_millis(50), true));
        let p95 = slot.level().ttft_p95.unwrap();
        assert!(
            (p95 - 0.05).abs() < 0.002,
            "{p95}: only this second's request"
        );
    }

    fn spike_phase() -> Vec<Phase> {
        vec![
            Phase {
                kind: PhaseKind::Steady { rate: 1.0 },
                duration: Some(Duration::from_secs(5)),
            },
            Phase {
                kind: PhaseKind::Spike {
                    base: 10.0,
                    peak: 100.0,
                    at: Duration::from_secs(30),
                    hold: Duration::from_secs(10),
                },
                duration: Some(Duration::from_secs(100)),
            },
        ]
    }

    /// Ten requests a second through the spike phase; TTFT 100 ms before the spike, `bad`
    /// during it and for `slow_for` seconds after it (with failures in the first `fail_for`).
    fn run(slow_for: u64, fail_for: u64, bad: Duration) -> Vec<SpikeResult> {
        let epoch = Instant::now();
        let timeline = Timeline::new(&spike_phase(), epoch, Recovery::default()).unwrap();
        let mut tracker = Tracker::new(timeline);
        for tenth in 0..1000u64 {
            let at = Duration::from_millis(5000 + 100 * tenth);
            let local = at.as_secs() - 5;
            let after = local.checked_sub(40);
            let slow = local >= 30 && after.is_none_or(|a| a < slow_for);
            let failing = after.is_some_and(|a| a < fail_for) && tenth % 2 == 0;
            let ttft = if slow {
                bad
            } else {
                Duration::from_millis(100)
            };
            let mut rec = test_record(epoch + at, ttft, !failing);
            rec.phase = Some(1);
            tracker.observe(&rec);
        }
        tracker.results()
    }

    #[test]
    fn recovery_is_the_first_second_from_which_every_window_is_back() {
        let r = run(25, 0, Duration::from_secs(2));
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.spike_start_seconds, 35.0);
        assert_eq!(r.pre_spike.requests, 300);
        assert!((r.pre_spike.ttft_p95.unwrap() - 0.1).abs() < 0.004, "{r:?}");
        assert!(r.during_spike.ttft_p95.unwrap() > 1.9);
        assert_eq!(r.observed_seconds, 60.0);
        // Slow for 25 s after the spike: a 10 s window is clean from second 25 on.
        assert!(r.recovered, "{r:?}");
        assert_eq!(r.recovery_seconds, Some(25.0));
    }

    #[test]
    fn errors_count_against_recovery_and_a_target_that_never_recovers_says_so() {
        let r = &run(0, 12, Duration::from_secs(2))[0];
        assert_eq!(r.recovery_seconds, Some(12.0), "{r:?}");
        let r = &run(70, 0, Duration::from_secs(2))[0];
        assert!(!r.recovered && r.recovery_seconds.is_none());
        assert!(r.note.as_deref().unwrap().contains("still outside"));
        // A mild slowdown inside the tolerance (+15 % < +20 %) is recovery from the start.
        let r = &run(70, 0, Duration::from_millis(115))[0];
        assert_eq!(r.recovery_seconds, Some(0.0), "{r:?}");
    }

    #[test]
    fn repeated_spikes_are_judged_one_pass_at_a_time() {
        let epoch = Instant::now();
        let phases = spike_phase();
        let timeline = Timeline::new(&phases, epoch, Recovery::default()).unwrap();
        let mut tracker = Tracker::new(timeline);
        for pass in 0..3u64 {
            for s in 5..105u64 {
                let at = Duration::from_secs(105 * pass + s);
                let mut rec = test_record(epoch + at, Duration::from_millis(50), true);
                rec.phase = Some(1);
                tracker.observe(&rec);
            }
        }
        let r = tracker.results();
        assert_eq!(r.iter().map(|r| r.pass).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(r.iter().all(|r| r.recovery_seconds == Some(0.0)));
        assert_eq!(r[2].spike_start_seconds, 210.0 + 35.0);
    }
}
