//! A stream's content events held compactly: the first and the last as instants, and the gaps
//! between consecutive events in whole microseconds — 4 bytes an event where an `Instant` is 16.
//! Each gap is taken from the exact instants before it is stored, so it is the value the
//! histograms (whole microseconds, up to an hour) would record from the instants themselves.

use std::time::Duration;

use tokio::time::Instant;

/// The content-bearing events of one stream, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenEvents {
    first: Option<Instant>,
    last: Option<Instant>,
    /// `gaps_us[i]`: from event `i` to event `i + 1`, whole µs (saturating: above the
    /// histograms' hour).
    gaps_us: Vec<u32>,
}

impl TokenEvents {
    /// Room for `events` events, reserved once so that recording them does not allocate.
    pub fn with_capacity(events: usize) -> Self {
        TokenEvents {
            first: None,
            last: None,
            gaps_us: Vec::with_capacity(events.saturating_sub(1)),
        }
    }

    /// One more event at `at` (not before the last: the clock is monotonic).
    pub fn push(&mut self, at: Instant) {
        match self.last {
            None => self.first = Some(at),
            Some(prev) => {
                let us = at.saturating_duration_since(prev).as_micros();
                self.gaps_us.push(u32::try_from(us).unwrap_or(u32::MAX));
            }
        }
        self.last = Some(at);
    }

    pub fn len(&self) -> usize {
        match self.first {
            None => 0,
            Some(_) => self.gaps_us.len() + 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub fn first(&self) -> Option<Instant> {
        self.first
    }

    pub fn last(&self) -> Option<Instant> {
        self.last
    }

    /// The gaps between consecutive events (inter-chunk latency), one per gap, in whole µs.
    pub fn gaps(&self) -> impl ExactSizeIterator<Item = Duration> + '_ {
        self.gaps_us
            .iter()
            .map(|&us| Duration::from_micros(u64::from(us)))
    }
}

impl FromIterator<Instant> for TokenEvents {
    fn from_iter<I: IntoIterator<Item = Instant>>(events: I) -> Self {
        let events = events.into_iter();
        let mut out = TokenEvents::with_capacity(events.size_hint().0);
        for at in events {
            out.push(at);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_the_whole_microseconds_of_the_exact_differences() {
        let t0 = Instant::now();
        let at = |ns: u64| t0 + Duration::from_nanos(ns);
        // 0.9 µs, 2.1 µs, 1 h + 1 s: each gap truncated from the exact instants (not from
        // truncated offsets, which would give 0 then 3), the last saturating above an hour.
        let hour = 3_601_000_000_000;
        let e: TokenEvents = [at(0), at(900), at(3_000), at(3_000 + hour)]
            .into_iter()
            .collect();
        assert_eq!(e.len(), 4);
        assert_eq!(e.first(), Some(at(0)));
        assert_eq!(e.last(), Some(at(3_000 + hour)));
        let gaps: Vec<Duration> = e.gaps().collect();
        assert_eq!(
            gaps,
            [
                Duration::ZERO,
                Duration::from_micros(2),
                Duration::from_micros(3_601_000_000)
            ]
        );
        let huge: TokenEvents = [at(0), at(5_000_000_000_000_000)].into_iter().collect();
        assert_eq!(
            huge.gaps().next(),
            Some(Duration::from_micros(u64::from(u32::MAX)))
        );
    }

    #[test]
    fn empty_and_single_events_have_no_gaps() {
        let none = TokenEvents::default();
        assert!(none.is_empty());
        assert_eq!((none.len(), none.first(), none.last()), (0, None, None));
        let t = Instant::now();
        let one: TokenEvents = std::iter::once(t).collect();
        assert_eq!((one.len(), one.first(), one.last()), (1, Some(t), Some(t)));
        assert_eq!(one.gaps().count(), 0);
    }

    #[test]
    fn recording_within_the_reserved_room_does_not_reallocate() {
        let mut e = TokenEvents::with_capacity(200);
        let cap = e.gaps_us.capacity();
        let t0 = Instant::now();
        for i in 0..200 {
            e.push(t0 + Duration::from_millis(i));
        }
        assert_eq!(e.gaps_us.capacity(), cap);
        assert_eq!(e.len(), 200);
    }
}
