//! Load shapes: the offered rate as a function of time since the run's epoch, built from
//! `load.phases`. Arrivals are placed by inverting the integrated rate Λ(t) (the time-change
//! construction of an inhomogeneous process): an arrival process with mean gap 1 in
//! "operational time" u maps to real time t = Λ⁻¹(u), so rates are exact over any window and
//! later shapes (ramp, spike, diurnal) only need Λ and its inverse per segment.

use std::time::Duration;

use crate::config::{Phase, PhaseKind};

/// One phase placed on the time axis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    /// Start, seconds since the epoch.
    start: f64,
    /// End, seconds since the epoch (`f64::INFINITY` for "forever").
    end: f64,
    rate: f64,
    /// Λ at `start`.
    lambda_start: f64,
}

/// The whole load shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    segments: Vec<Segment>,
}

impl Shape {
    pub fn new(phases: &[Phase]) -> Self {
        let mut segments = Vec::with_capacity(phases.len());
        let (mut t, mut lambda) = (0.0f64, 0.0f64);
        for p in phases {
            let PhaseKind::Steady { rate } = p.kind;
            let len = p.duration.map_or(f64::INFINITY, |d| d.as_secs_f64());
            segments.push(Segment {
                start: t,
                end: t + len,
                rate,
                lambda_start: lambda,
            });
            t += len;
            lambda += rate * len;
            if !t.is_finite() {
                break;
            }
        }
        Shape { segments }
    }

    /// When the last phase ends (`None`: runs forever).
    pub fn end(&self) -> Option<Duration> {
        let end = self.segments.last()?.end;
        end.is_finite().then(|| Duration::from_secs_f64(end))
    }

    /// Index of the phase active at `t` (`None` once the schedule has ended).
    pub fn phase_at(&self, t: Duration) -> Option<usize> {
        let t = t.as_secs_f64();
        self.segments.iter().position(|s| t >= s.start && t < s.end)
    }

    /// Offered rate (requests/s) at `t`; 0 after the end.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.phase_at(t).map_or(0.0, |i| self.segments[i].rate)
    }

    /// Λ(t): expected arrivals in `[0, t)`.
    pub fn cumulative(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut total = 0.0;
        for s in &self.segments {
            if t <= s.start {
                break;
            }
            total = s.lambda_start + s.rate * (t.min(s.end) - s.start);
        }
        total
    }

    /// Λ⁻¹(u): the time at which `u` expected arrivals have been offered (`None` when the
    /// schedule ends first).
    pub fn time_of(&self, u: f64) -> Option<Duration> {
        for s in &self.segments {
            if s.rate <= 0.0 {
                continue;
            }
            let lambda_end = s.lambda_start + s.rate * (s.end - s.start);
            if u < lambda_end || s.end.is_infinite() {
                let t = s.start + (u - s.lambda_start).max(0.0) / s.rate;
                return (t < s.end).then(|| Duration::from_secs_f64(t));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(rate: f64, secs: Option<u64>) -> Phase {
        Phase {
            kind: PhaseKind::Steady { rate },
            duration: secs.map(Duration::from_secs),
        }
    }

    #[test]
    fn piecewise_rates_and_their_inverse() {
        let s = Shape::new(&[
            steady(2.0, Some(10)),
            steady(0.0, Some(5)),
            steady(10.0, Some(10)),
        ]);
        assert_eq!(s.end(), Some(Duration::from_secs(25)));
        assert_eq!(s.rate_at(Duration::from_secs(3)), 2.0);
        assert_eq!(s.rate_at(Duration::from_secs(12)), 0.0);
        assert_eq!(s.phase_at(Duration::from_secs(12)), Some(1));
        assert_eq!(s.phase_at(Duration::from_secs(25)), None);
        assert_eq!(s.cumulative(Duration::from_secs(10)), 20.0);
        assert_eq!(s.cumulative(Duration::from_secs(14)), 20.0);
        assert_eq!(s.cumulative(Duration::from_secs(16)), 30.0);
        // The pause is skipped: arrival 20 happens when the third phase starts.
        assert_eq!(s.time_of(19.0), Some(Duration::from_secs_f64(9.5)));
        assert_eq!(s.time_of(20.0), Some(Duration::from_secs(15)));
        assert_eq!(s.time_of(25.0), Some(Duration::from_millis(15_500)));
        assert_eq!(s.time_of(120.0), None);
    }

    #[test]
    fn forever_has_no_end() {
        let s = Shape::new(&[
            steady(5.0, Some(2)),
            steady(1.0, None),
            steady(9.0, Some(1)),
        ]);
        assert_eq!(s.end(), None);
        assert_eq!(
            s.time_of(1e6),
            Some(Duration::from_secs_f64(2.0 + (1e6 - 10.0)))
        );
    }
}
