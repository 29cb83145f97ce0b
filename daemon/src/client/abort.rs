//! A scenario's `abort`, ready to draw: which requests the client closes on purpose and at
//! which point. Drawn once per request from the run's seed and the request's `seq` (so a
//! rerun aborts the same requests at the same points), before it is sent — never on the read
//! path, which only compares a count or waits on one timer.

use std::time::Duration;

use rand::RngExt;
use tokio::time::Instant;

use crate::config::abort::{Abort, AbortAt};
use crate::workload::dist::Lengths;
use crate::workload::rng::{Stream, rng_for};

/// A scenario's `abort`, with its length distribution ready to sample.
#[derive(Debug, Clone)]
pub(super) struct AbortDraw {
    fraction: f64,
    at: Point,
}

#[derive(Debug, Clone)]
enum Point {
    /// After this many token-bearing events (0: as soon as the response head arrives).
    Events(u32),
    EventsDrawn(Lengths),
    After {
        min: Duration,
        max: Duration,
    },
}

/// Where one request is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AbortPoint {
    /// Once this many token-bearing events have been read (0: at the response head).
    Events(u32),
    /// At this instant, wherever the request is.
    At(Instant),
}

impl AbortDraw {
    pub(super) fn of(a: &Abort) -> Self {
        let at = match &a.at {
            AbortAt::BeforeFirstToken => Point::Events(0),
            AbortAt::FirstToken => Point::Events(1),
            AbortAt::AfterTokens(n) => Point::EventsDrawn(Lengths::new(n, None)),
            AbortAt::After(b) => Point::After {
                min: b.min,
                max: b.max,
            },
        };
        AbortDraw {
            fraction: a.fraction,
            at,
        }
    }

    /// Whether request `seq` (sent at `sent_at`) is aborted, and where.
    pub(super) fn draw(&self, seed: u64, seq: u64, sent_at: Instant) -> Option<AbortPoint> {
        let mut rng = rng_for(seed, Stream::Abort, seq);
        if !rng.random_bool(self.fraction.clamp(0.0, 1.0)) {
            return None;
        }
        Some(match &self.at {
            Point::Events(n) => AbortPoint::Events(*n),
            Point::EventsDrawn(l) => AbortPoint::Events(l.sample(&mut rng)),
            Point::After { min, max } => {
                let span = max.saturating_sub(*min).as_secs_f64();
                AbortPoint::At(sent_at + *min + Duration::from_secs_f64(span * rng.random::<f64>()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::forms::Between;

    fn abort(fraction: f64, at: AbortAt) -> AbortDraw {
        AbortDraw::of(&Abort { fraction, at })
    }

    #[test]
    fn the_fraction_is_drawn_per_seq_and_repeats() {
        let t0 = Instant::now();
        let a = abort(0.25, AbortAt::FirstToken);
        let drawn: Vec<bool> = (0..4000).map(|s| a.draw(7, s, t0).is_some()).collect();
        let share = drawn.iter().filter(|d| **d).count() as f64 / 4000.0;
        assert!((0.22..0.28).contains(&share), "{share}");
        let again: Vec<bool> = (0..4000).map(|s| a.draw(7, s, t0).is_some()).collect();
        assert_eq!(drawn, again, "the same seed aborts the same requests");
        let other: Vec<bool> = (0..4000).map(|s| a.draw(8, s, t0).is_some()).collect();
        assert_ne!(drawn, other, "another seed, other requests");
        assert!(
            (0..100)
                .all(|s| abort(1.0, AbortAt::FirstToken).draw(1, s, t0)
                    == Some(AbortPoint::Events(1)))
        );
    }

    #[test]
    fn each_point_resolves_where_it_says() {
        let t0 = Instant::now();
        assert_eq!(
            abort(1.0, AbortAt::BeforeFirstToken).draw(1, 1, t0),
            Some(AbortPoint::Events(0))
        );
        let n = abort(
            1.0,
            AbortAt::AfterTokens(crate::config::LengthDist {
                dist: crate::config::DistKind::Uniform { min: 5, max: 9 },
                min: 5,
                max: 9,
            }),
        );
        for s in 0..200 {
            match n.draw(3, s, t0) {
                Some(AbortPoint::Events(k)) => assert!((5..=9).contains(&k), "{k}"),
                other => panic!("{other:?}"),
            }
        }
        let between = Between {
            min: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        let d = abort(1.0, AbortAt::After(between));
        for s in 0..200 {
            match d.draw(3, s, t0) {
                Some(AbortPoint::At(at)) => {
                    let after = at - t0;
                    assert!(after >= between.min && after <= between.max, "{after:?}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
