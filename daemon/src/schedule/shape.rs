//! Load shapes: the offered rate as a function of time since the run's epoch, built from
//! `load.phases` (steady, ramp, spike, step, diurnal) and `load.repeat`. Every phase becomes
//! linear pieces `rate(τ) = a + b·τ`, whose integral Λ and its inverse are closed-form, so arrivals
//! are placed by inverting the integrated rate (the time-change construction of an inhomogeneous
//! process): an arrival process with mean gap 1 in "operational time" u maps to real time
//! t = Λ⁻¹(u), and rates are exact over any window. A diurnal phase is a sinusoid sampled into 64
//! linear pieces per period. A last phase lasting forever repeats as a periodic tail.

use std::time::Duration;

use crate::config::{Phase, PhaseKind, Repeat};

/// Pieces per diurnal period.
const DIURNAL_PIECES: usize = 64;

/// `rate(τ) = a + b·τ` for τ in `[start, start + len)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    start: f64,
    len: f64,
    a: f64,
    b: f64,
    /// Λ at `start`, within its pass.
    lambda: f64,
    phase: usize,
}

impl Piece {
    fn area(&self) -> f64 {
        self.a * self.len + self.b * self.len * self.len / 2.0
    }
    fn rate(&self, tau: f64) -> f64 {
        self.a + self.b * tau
    }
    /// τ with `a τ + b τ² / 2 = u`.
    fn inverse(&self, u: f64) -> f64 {
        if self.b.abs() < 1e-15 {
            u / self.a
        } else {
            (-self.a + (self.a * self.a + 2.0 * self.b * u).max(0.0).sqrt()) / self.b
        }
    }
}

/// Pieces laid end to end, with their total length and area.
#[derive(Debug, Clone, PartialEq, Default)]
struct Pass {
    pieces: Vec<Piece>,
    len: f64,
    lambda: f64,
}

impl Pass {
    fn push(&mut self, len: f64, a: f64, b: f64, phase: usize) {
        if len <= 0.0 {
            return;
        }
        let p = Piece {
            start: self.len,
            len,
            a,
            b,
            lambda: self.lambda,
            phase,
        };
        self.len += len;
        self.lambda += p.area();
        self.pieces.push(p);
    }

    fn piece_at(&self, t: f64) -> Option<&Piece> {
        let i = self.pieces.partition_point(|p| p.start + p.len <= t);
        self.pieces.get(i)
    }

    /// Time within the pass at which `u` (< `lambda`) is reached.
    fn time_of(&self, u: f64) -> Option<f64> {
        let i = self.pieces.partition_point(|p| p.lambda + p.area() <= u);
        let p = self.pieces.get(i)?;
        Some(p.start + p.inverse(u - p.lambda).clamp(0.0, p.len))
    }
}

fn phase_pieces(pass: &mut Pass, index: usize, kind: PhaseKind, len: f64) {
    match kind {
        // A trace's arrivals are its rows; its piece carries the mean rate for the gauges.
        PhaseKind::Steady { rate } | PhaseKind::Trace { rate } => pass.push(len, rate, 0.0, index),
        PhaseKind::Ramp { from, to } => pass.push(len, from, (to - from) / len, index),
        PhaseKind::Spike {
            base,
            peak,
            at,
            hold,
        } => {
            let (at, hold) = (at.as_secs_f64(), hold.as_secs_f64());
            pass.push(at, base, 0.0, index);
            pass.push(hold, peak, 0.0, index);
            pass.push(len - at - hold, base, 0.0, index);
        }
        PhaseKind::Step { from, to, steps } => {
            let each = len / f64::from(steps);
            for k in 0..steps {
                let r = if steps == 1 {
                    to
                } else {
                    from + (to - from) * f64::from(k) / f64::from(steps - 1)
                };
                pass.push(each, r, 0.0, index);
            }
        }
        PhaseKind::Zigzag { from, to, period } => {
            let half = period.as_secs_f64() / 2.0;
            let slope = (to - from) / half;
            let mut t = 0.0;
            let mut up = true;
            while t < len - 1e-12 {
                let l = half.min(len - t);
                if up {
                    pass.push(l, from, slope, index);
                } else {
                    pass.push(l, to, -slope, index);
                }
                up = !up;
                t += l;
            }
        }
        PhaseKind::Microburst {
            base,
            peak,
            hold,
            period,
        } => {
            let (hold, period) = (hold.as_secs_f64(), period.as_secs_f64());
            let mut t = 0.0;
            while t < len - 1e-12 {
                let burst = hold.min(len - t);
                pass.push(burst, peak, 0.0, index);
                t += burst;
                let rest = (period - hold).min(len - t);
                if rest > 1e-12 {
                    pass.push(rest, base, 0.0, index);
                    t += rest;
                }
            }
        }
        PhaseKind::Diurnal {
            mean,
            amplitude,
            period,
        } => {
            let period = period.as_secs_f64();
            let piece = period / DIURNAL_PIECES as f64;
            let rate = |t: f64| {
                (mean + amplitude * (2.0 * std::f64::consts::PI * t / period).sin()).max(0.0)
            };
            let mut t = 0.0;
            while t < len - 1e-12 {
                let l = piece.min(len - t);
                let (r0, r1) = (rate(t), rate(t + l));
                pass.push(l, r0, (r1 - r0) / l, index);
                t += l;
            }
        }
    }
}

/// The whole load shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The finite phases, run `passes` times (`None`: forever).
    head: Pass,
    passes: Option<u64>,
    /// A last phase lasting forever, as one period repeated without end.
    tail: Option<Pass>,
}

impl Shape {
    pub fn new(phases: &[Phase], repeat: Repeat) -> Self {
        let mut head = Pass::default();
        let mut tail = None;
        for (i, p) in phases.iter().enumerate() {
            match p.duration {
                Some(d) => phase_pieces(&mut head, i, p.kind, d.as_secs_f64()),
                None => {
                    let mut t = Pass::default();
                    let len = match p.kind {
                        PhaseKind::Diurnal { period, .. }
                        | PhaseKind::Zigzag { period, .. }
                        | PhaseKind::Microburst { period, .. } => period.as_secs_f64(),
                        _ => 1.0,
                    };
                    phase_pieces(&mut t, i, p.kind, len);
                    tail = Some(t);
                    break;
                }
            }
        }
        let passes = match repeat {
            Repeat::Times(n) => Some(u64::from(n.max(1))),
            Repeat::Forever => None,
        };
        Shape { head, passes, tail }
    }

    /// When the schedule ends (`None`: never).
    pub fn end(&self) -> Option<Duration> {
        if self.tail.is_some() {
            return None;
        }
        let passes = self.passes?;
        Some(Duration::from_secs_f64(self.head.len * passes as f64))
    }

    /// Length of the head passes (`INFINITY` when they repeat forever).
    fn head_len(&self) -> f64 {
        self.passes
            .map_or(f64::INFINITY, |n| self.head.len * n as f64)
    }

    /// (rate, phase index) at `t`; `None` once the schedule has ended.
    fn at(&self, t: f64) -> Option<(f64, usize)> {
        if t < self.head_len() && self.head.len > 0.0 {
            let local = t % self.head.len;
            let p = self.head.piece_at(local)?;
            return Some((p.rate(local - p.start), p.phase));
        }
        let tail = self.tail.as_ref()?;
        let local = (t - self.head_len().min(t)) % tail.len;
        let p = tail.piece_at(local)?;
        Some((p.rate(local - p.start), p.phase))
    }

    /// Index of the phase active at `t` (`None` once the schedule has ended).
    pub fn phase_at(&self, t: Duration) -> Option<usize> {
        self.at(t.as_secs_f64()).map(|(_, i)| i)
    }

    /// Offered rate (requests/s) at `t`; 0 after the end.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.at(t.as_secs_f64()).map_or(0.0, |(r, _)| r)
    }

    /// The phase active at `t` and when that stretch of it ends (`None` once the schedule has
    /// ended).
    fn stretch(&self, t: f64) -> Option<(usize, f64)> {
        if t < self.head_len() && self.head.len > 0.0 {
            let pass_start = (t / self.head.len).floor() * self.head.len;
            let p = self.head.piece_at(t - pass_start)?;
            return Some((p.phase, pass_start + p.start + p.len));
        }
        // The tail is one phase, lasting forever.
        let p = self.tail.as_ref()?.pieces.first()?;
        Some((p.phase, f64::INFINITY))
    }

    /// Seconds the schedule spends in each phase (by index) between `from` and `to`, for
    /// per-phase rates over each phase's own time.
    pub fn phase_seconds(&self, from: Duration, to: Duration) -> Vec<f64> {
        let mut out: Vec<f64> = Vec::new();
        let (mut t, to) = (from.as_secs_f64(), to.as_secs_f64());
        // Whole passes of a repeated head at once (a short phase list repeated for weeks).
        let per_pass = {
            let mut v = Vec::new();
            for p in &self.head.pieces {
                if v.len() <= p.phase {
                    v.resize(p.phase + 1, 0.0);
                }
                v[p.phase] += p.len;
            }
            v
        };
        while t < to {
            if self.head.len > 0.0 && t < self.head_len() {
                let at_pass_start = (t / self.head.len).fract().abs() < 1e-12;
                let whole = ((to.min(self.head_len()) - t) / self.head.len).floor();
                if at_pass_start && whole >= 1.0 {
                    if out.len() < per_pass.len() {
                        out.resize(per_pass.len(), 0.0);
                    }
                    for (o, s) in out.iter_mut().zip(&per_pass) {
                        *o += s * whole;
                    }
                    t += whole * self.head.len;
                    continue;
                }
            }
            let Some((phase, end)) = self.stretch(t) else {
                break;
            };
            let end = end.min(to).max(t + 1e-9);
            if out.len() <= phase {
                out.resize(phase + 1, 0.0);
            }
            out[phase] += end - t;
            t = end;
        }
        out
    }

    /// Λ⁻¹(u): the time at which `u` expected arrivals have been offered (`None` when the
    /// schedule ends first).
    pub fn time_of(&self, u: f64) -> Option<Duration> {
        let h = &self.head;
        let head_lambda = self.passes.map_or(f64::INFINITY, |n| h.lambda * n as f64);
        if h.lambda > 0.0 && u < head_lambda {
            let pass = (u / h.lambda).floor();
            let t = pass * h.len + h.time_of(u - pass * h.lambda)?;
            return Some(Duration::from_secs_f64(t));
        }
        let tail = self.tail.as_ref().filter(|t| t.lambda > 0.0)?;
        if !head_lambda.is_finite() && h.lambda > 0.0 {
            return None;
        }
        let rest = u - if h.lambda > 0.0 { head_lambda } else { 0.0 };
        let pass = (rest / tail.lambda).floor();
        let t = self.head_len() + pass * tail.len + tail.time_of(rest - pass * tail.lambda)?;
        Some(Duration::from_secs_f64(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_gets_its_own_seconds() {
        let s = Shape::new(
            &[
                steady(2.0, Some(10)),
                steady(0.0, Some(5)),
                steady(10.0, Some(10)),
            ],
            Repeat::Times(3),
        );
        let secs = |from: u64, to: u64| {
            s.phase_seconds(Duration::from_secs(from), Duration::from_secs(to))
                .iter()
                .map(|x| (x * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(secs(0, 25), vec![10.0, 5.0, 10.0]);
        assert_eq!(secs(5, 12), vec![5.0, 2.0]);
        // Three passes, then nothing: the end of the schedule stops the clock.
        assert_eq!(secs(0, 1000), vec![30.0, 15.0, 30.0]);
        // 20–25 s: phase 2; a whole pass; 50–57 s: phase 0.
        assert_eq!(secs(20, 57), vec![17.0, 5.0, 15.0]);
        // A last phase lasting forever.
        let forever = Shape::new(
            &[steady(1.0, Some(60)), steady(5.0, None)],
            Repeat::Times(1),
        );
        let v = forever.phase_seconds(Duration::from_secs(30), Duration::from_secs(30 * 86_400));
        assert!((v[0] - 30.0).abs() < 1e-6 && (v[1] - (30.0 * 86_400.0 - 60.0)).abs() < 1e-3);
    }

    fn phase(kind: PhaseKind, secs: Option<u64>) -> Phase {
        Phase {
            kind,
            duration: secs.map(Duration::from_secs),
        }
    }

    fn steady(rate: f64, secs: Option<u64>) -> Phase {
        phase(PhaseKind::Steady { rate }, secs)
    }

    #[test]
    fn piecewise_rates_and_their_inverse() {
        let s = Shape::new(
            &[
                steady(2.0, Some(10)),
                steady(0.0, Some(5)),
                steady(10.0, Some(10)),
            ],
            Repeat::Times(1),
        );
        assert_eq!(s.end(), Some(Duration::from_secs(25)));
        assert_eq!(s.rate_at(Duration::from_secs(3)), 2.0);
        assert_eq!(s.rate_at(Duration::from_secs(12)), 0.0);
        assert_eq!(s.phase_at(Duration::from_secs(12)), Some(1));
        assert_eq!(s.phase_at(Duration::from_secs(25)), None);
        // The pause is skipped: arrival 20 happens when the third phase starts.
        assert_eq!(s.time_of(19.0), Some(Duration::from_secs_f64(9.5)));
        assert_eq!(s.time_of(20.0), Some(Duration::from_secs(15)));
        assert_eq!(s.time_of(25.0), Some(Duration::from_millis(15_500)));
        assert_eq!(s.time_of(120.0), None);
    }

    #[test]
    fn forever_has_no_end_and_repeat_cycles() {
        let s = Shape::new(&[steady(5.0, Some(2)), steady(1.0, None)], Repeat::Times(1));
        assert_eq!(s.end(), None);
        assert_eq!(
            s.time_of(1e6),
            Some(Duration::from_secs_f64(2.0 + (1e6 - 10.0)))
        );
        assert_eq!(s.phase_at(Duration::from_secs(1000)), Some(1));
        let r = Shape::new(
            &[steady(1.0, Some(10)), steady(3.0, Some(10))],
            Repeat::Times(3),
        );
        assert_eq!(r.end(), Some(Duration::from_secs(60)));
        assert_eq!(
            r.time_of(40.0),
            Some(Duration::from_secs(20)),
            "second pass starts at 20 s"
        );
        assert_eq!(r.phase_at(Duration::from_secs(35)), Some(1));
        assert_eq!(r.time_of(120.0), None);
        let f = Shape::new(&[steady(2.0, Some(5))], Repeat::Forever);
        assert_eq!(f.end(), None);
        assert_eq!(f.time_of(1001.0), Some(Duration::from_secs_f64(500.5)));
    }

    #[test]
    fn ramp_spike_step_and_diurnal_integrate_to_their_area() {
        let ramp = Shape::new(
            &[phase(
                PhaseKind::Ramp {
                    from: 0.0,
                    to: 10.0,
                },
                Some(60),
            )],
            Repeat::Times(1),
        );
        assert!(ramp.time_of(299.0).is_some() && ramp.time_of(300.0).is_none());
        assert!((ramp.rate_at(Duration::from_secs(30)) - 5.0).abs() < 1e-9);
        // Half the ramp's arrivals come in its last quarter... no: in its last 29.3 % (1 - 1/√2).
        let half = ramp.time_of(150.0).unwrap().as_secs_f64();
        assert!((half - 60.0 / 2f64.sqrt()).abs() < 1e-9);
        let spike = Shape::new(
            &[phase(
                PhaseKind::Spike {
                    base: 10.0,
                    peak: 100.0,
                    at: Duration::from_secs(60),
                    hold: Duration::from_secs(120),
                },
                Some(300),
            )],
            Repeat::Times(1),
        );
        assert_eq!(spike.rate_at(Duration::from_secs(100)), 100.0);
        assert_eq!(spike.rate_at(Duration::from_secs(200)), 10.0);
        assert!(spike.time_of(600.0 + 12_000.0 + 1_200.0 - 0.5).is_some());
        assert!(spike.time_of(600.0 + 12_000.0 + 1_200.0).is_none());
        let step = Shape::new(
            &[phase(
                PhaseKind::Step {
                    from: 1.0,
                    to: 4.0,
                    steps: 4,
                },
                Some(40),
            )],
            Repeat::Times(1),
        );
        assert_eq!(step.rate_at(Duration::from_secs(25)), 3.0);
        assert!(step.time_of(99.9).is_some() && step.time_of(100.0).is_none());
        let day = Shape::new(
            &[phase(
                PhaseKind::Diurnal {
                    mean: 10.0,
                    amplitude: 5.0,
                    period: Duration::from_secs(100),
                },
                Some(200),
            )],
            Repeat::Times(1),
        );
        assert!((day.rate_at(Duration::from_secs(25)) - 15.0).abs() < 0.05);
        assert!(day.time_of(1999.0).is_some() && day.time_of(2000.5).is_none());
    }
}
