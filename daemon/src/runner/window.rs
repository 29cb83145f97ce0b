//! The measured window of a run, for rates: from the end of the warm-up to the moment arrivals
//! stopped (the schedule ended, `--duration` passed, or a signal came) — never the drain — and,
//! per load phase, the time the schedule really spent in that phase inside the window (a reload
//! starts a new shape; each generation's stretch is counted with its own) — and [`Live`], the
//! summary over that window with the trust probe's verdict.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::metrics::SummarySink;
use crate::report::Summary;
use crate::schedule::Shape;
use crate::trust::Probe;

/// One generation's load shape and when it ran.
#[derive(Debug, Clone)]
struct Segment {
    shape: Shape,
    epoch: Instant,
    from: Instant,
    until: Option<Instant>,
}

/// The run's measured window.
#[derive(Debug)]
pub(super) struct Window {
    measure_from: Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    segments: Vec<Segment>,
    /// When arrivals stopped, once they have.
    load_end: Option<Instant>,
}

impl Window {
    pub(super) fn new(measure_from: Instant) -> Self {
        Window {
            measure_from,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A generation with an open-loop `shape` timed from `epoch` started at `at`.
    pub(super) fn shape_started(&self, shape: Shape, epoch: Instant, at: Instant) {
        let mut s = self.lock();
        if let Some(last) = s.segments.last_mut() {
            last.until.get_or_insert(at);
        }
        s.segments.push(Segment {
            shape,
            epoch,
            from: at,
            until: None,
        });
    }

    /// The running generation stopped at `at` (a reload, or the drain).
    pub(super) fn shape_stopped(&self, at: Instant) {
        if let Some(last) = self.lock().segments.last_mut() {
            last.until.get_or_insert(at);
        }
    }

    /// Arrivals stopped at `at`: the window ends there.
    pub(super) fn load_ended(&self, at: Instant) {
        self.lock().load_end.get_or_insert(at);
    }

    fn end(&self, now: Instant) -> Instant {
        self.lock().load_end.unwrap_or(now).max(self.measure_from)
    }

    /// Seconds measured so far.
    pub(super) fn seconds(&self, now: Instant) -> f64 {
        (self.end(now) - self.measure_from).as_secs_f64()
    }

    /// Seconds each phase (by index) ran inside the window, over every generation.
    pub(super) fn phase_seconds(&self, now: Instant) -> Vec<f64> {
        let end = self.end(now);
        let mut out: Vec<f64> = Vec::new();
        for seg in &self.lock().segments {
            let from = seg.from.max(self.measure_from);
            let until = seg.until.unwrap_or(end).min(end);
            if until <= from {
                continue;
            }
            let rel = |t: Instant| t.saturating_duration_since(seg.epoch);
            let v = seg.shape.phase_seconds(rel(from), rel(until));
            if out.len() < v.len() {
                out.resize(v.len(), 0.0);
            }
            for (o, x) in out.iter_mut().zip(v) {
                *o += x;
            }
        }
        out
    }
}

/// A resumed run's measured time before its restart, overall and per phase (by index): the
/// summary, seeded with those segments' counts, is over this and this daemon's window.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Before {
    seconds: f64,
    phase_seconds: Vec<f64>,
}

impl Before {
    /// The measured time of a checkpoint's summary; each phase's read back from its count and
    /// rate (a phase with none adds no time).
    pub(super) fn of(s: &Summary) -> Before {
        let mut phase_seconds = Vec::new();
        for p in &s.phases {
            if p.index >= phase_seconds.len() {
                phase_seconds.resize(p.index + 1, 0.0);
            }
            phase_seconds[p.index] = match p.scope.achieved_rate {
                Some(r) if r > 0.0 => p.scope.started as f64 / r,
                _ => 0.0,
            };
        }
        Before {
            seconds: s.measured_seconds,
            phase_seconds,
        }
    }

    fn add(&self, seconds: f64, mut phases: Vec<f64>) -> (f64, Vec<f64>) {
        if phases.len() < self.phase_seconds.len() {
            phases.resize(self.phase_seconds.len(), 0.0);
        }
        for (p, b) in phases.iter_mut().zip(&self.phase_seconds) {
            *p += b;
        }
        (seconds + self.seconds, phases)
    }
}

/// The run's summary as of now: the exact summary over the measured window (and a resumed run's
/// time `before` it), with the trust probe's verdict on it. The report, its checkpoints and the
/// status API all read this one.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) summary: Arc<SummarySink>,
    pub(super) window: Arc<Window>,
    pub(super) probe: Option<Probe>,
    pub(super) before: Before,
}

impl Live {
    /// The summary, with its exact histograms when `keep`.
    pub(super) fn summary(&self, keep: bool) -> Summary {
        let now = Instant::now();
        let (seconds, phases) = self
            .before
            .add(self.window.seconds(now), self.window.phase_seconds(now));
        let mut s = self.summary.report(seconds, &phases, keep);
        if let Some(p) = &self.probe {
            s.trust = Some(p.assess(&s, keep));
        }
        s
    }

    /// Stop the trust probe (the run is over).
    pub(super) fn stop(&self) {
        if let Some(p) = &self.probe {
            p.stop();
        }
    }
}

impl crate::server::LiveSummary for Live {
    fn summary(&self) -> Summary {
        Live::summary(self, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Phase, PhaseKind, Repeat};
    use std::time::Duration;

    fn steady(secs: u64) -> Phase {
        Phase {
            kind: PhaseKind::Steady { rate: 1.0 },
            duration: Some(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn the_window_stops_with_the_arrivals_and_phases_get_their_own_time() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Warm-up 5 s; phases of 10 s and 20 s; a reload at 15 s starts the list again.
        let w = Window::new(at(5));
        let shape = Shape::new(&[steady(10), steady(20)], Repeat::Times(1));
        w.shape_started(shape.clone(), t0, t0);
        w.shape_started(shape, at(15), at(15));
        // Arrivals stop at 40 s; the drain that follows is not measured.
        w.load_ended(at(40));
        assert_eq!(w.seconds(at(70)), 35.0);
        let p = w.phase_seconds(at(70));
        // First generation: phase 0 from 5 to 10 s, phase 1 from 10 to 15 s; the second: phase
        // 0 for 10 s, phase 1 for 15 s until 40 s.
        assert_eq!(p.len(), 2);
        assert!((p[0] - 15.0).abs() < 1e-6, "{p:?}");
        assert!((p[1] - 20.0).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn a_resumed_runs_time_before_the_restart_is_added_phase_by_phase() {
        use crate::report::testing::{scope, summary};
        use crate::report::{PhaseScope, Summary};
        let mut s: Summary = summary(Vec::new(), 50.0);
        // Phase 0 ran 10 s (20 requests at 2/s); phase 2 ran 30 s; phase 1 had no request.
        let phase = |index: usize, n: usize, secs: f64| PhaseScope {
            index,
            kind: "steady".into(),
            scope: scope(&vec![100; n], 0, secs),
        };
        s.phases = vec![phase(0, 20, 10.0), phase(2, 60, 30.0)];
        let before = Before::of(&s);
        let (secs, phases) = before.add(5.0, vec![1.0]);
        assert_eq!(secs, 55.0);
        assert_eq!(phases.len(), 3);
        assert!((phases[0] - 11.0).abs() < 1e-9, "{phases:?}");
        assert_eq!(phases[1], 0.0);
        assert!((phases[2] - 30.0).abs() < 1e-9, "{phases:?}");
        // A fresh run adds nothing.
        assert_eq!(Before::default().add(5.0, vec![1.0]), (5.0, vec![1.0]));
    }
}
