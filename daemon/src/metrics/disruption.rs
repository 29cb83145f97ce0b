//! Recovery from a disruption: after the target restarts (a new pid, or its engine's counters
//! reset) or a phase hook goes out, how long until the first success, and how long until every
//! rolling window (`load.recovery.window`) is back within `load.recovery`'s tolerances of the
//! level before it (TTFT p95 and error rate, as a spike's recovery is judged). Requests are
//! placed by when they were sent, in 1 s slots; the level before is the last minute's.
//!
//! Bounded memory: a ring of [`PRE_SLOTS`] slots, at most [`MAX_POST_SLOTS`] slots after the
//! disruption in progress (a later disruption ends it), and [`MAX_RESULTS`] results kept.

use std::time::Duration;

use tokio::time::Instant;

use super::recovery::{MAX_POST_SLOTS, MAX_RESULTS, Slot, recovered_after};
use crate::config::Recovery;
use crate::record::{Outcome, RequestRecord};
use crate::report::Disruption;

/// The seconds before a disruption that make its "before" level.
const PRE_SLOTS: usize = 60;

/// One disruption being followed.
#[derive(Debug, Clone)]
struct Following {
    cause: String,
    at: Instant,
    pre: Slot,
    post: Vec<Slot>,
    first_success: Option<Duration>,
}

/// The disruptions of a run.
#[derive(Debug, Clone)]
pub struct Disruptions {
    epoch: Instant,
    criteria: Recovery,
    /// The last [`PRE_SLOTS`] seconds, by second since the epoch modulo the ring.
    ring: Vec<(u64, Slot)>,
    current: Option<Following>,
    done: Vec<Disruption>,
}

impl Disruptions {
    pub fn new(epoch: Instant, criteria: Recovery) -> Self {
        Disruptions {
            epoch,
            criteria,
            ring: (0..PRE_SLOTS).map(|_| (u64::MAX, Slot::new())).collect(),
            current: None,
            done: Vec::new(),
        }
    }

    /// Something disrupted the target at `at` (`cause` says what). `at` may be up to a minute
    /// past (a restart seen at the next scrape of the engine): the seconds since are taken from
    /// the ring, and the first success among them is known to the second.
    pub fn disrupted(&mut self, at: Instant, cause: &str) {
        if let Some(f) = self.current.take() {
            self.finish(f);
        }
        let at_slot = at.saturating_duration_since(self.epoch).as_secs();
        let mut pre = Slot::new();
        let mut post: Vec<Slot> = Vec::new();
        for (second, slot) in &self.ring {
            if *second == u64::MAX {
                continue;
            }
            if *second < at_slot && at_slot - *second <= PRE_SLOTS as u64 {
                pre.add(slot, 1);
            } else if *second > at_slot {
                // (The second it happened in is split by it: its requests so far are in
                // neither side.)
                let k = (*second - at_slot) as usize;
                while post.len() <= k {
                    post.push(Slot::new());
                }
                post[k].add(slot, 1);
            }
        }
        let first_success = post
            .iter()
            .position(|s| s.succeeded() > 0)
            .map(|k| Duration::from_secs(k as u64));
        self.current = Some(Following {
            cause: cause.to_string(),
            at,
            pre,
            post,
            first_success,
        });
    }

    fn finish(&mut self, f: Following) {
        if self.done.len() < MAX_RESULTS {
            self.done.push(self.judge(&f));
        }
    }

    /// A finished request.
    pub fn observe(&mut self, rec: &RequestRecord) {
        let second = rec.sent_at.saturating_duration_since(self.epoch).as_secs();
        let (s, slot) = &mut self.ring[second as usize % PRE_SLOTS];
        if *s != second {
            *s = second;
            slot.reset();
        }
        slot.observe(rec);
        let Some(f) = self.current.as_mut() else {
            return;
        };
        let Some(after) = rec.sent_at.checked_duration_since(f.at) else {
            return;
        };
        if rec.outcome == Outcome::Success {
            let done = rec.end_at.saturating_duration_since(f.at);
            f.first_success = Some(f.first_success.map_or(done, |d| d.min(done)));
        }
        // Requests placed from the ring when the disruption was seen late are not placed twice:
        // only those finishing after it arrive here.
        let k = after.as_secs() as usize;
        if k < MAX_POST_SLOTS {
            while f.post.len() <= k {
                f.post.push(Slot::new());
            }
            f.post[k].observe(rec);
        }
    }

    fn judge(&self, f: &Following) -> Disruption {
        let pre = f.pre.level();
        let (recovery, note) = match recovered_after(&pre, &f.post, self.criteria) {
            Ok(since) => (Some(since as f64), None),
            Err(why) => (None, Some(why.say(&format!("the {}", f.cause)))),
        };
        Disruption {
            cause: f.cause.clone(),
            at_seconds: f.at.saturating_duration_since(self.epoch).as_secs_f64(),
            first_success_seconds: f.first_success.map(|d| d.as_secs_f64()),
            recovered: recovery.is_some(),
            recovery_seconds: recovery,
            before: pre,
            observed_seconds: f.post.len() as f64,
            window_seconds: self.criteria.window.as_secs_f64(),
            latency_tolerance: self.criteria.latency_tolerance,
            error_tolerance: self.criteria.error_tolerance,
            note,
        }
    }

    /// Every disruption so far; the one in progress judged on what has arrived.
    pub fn results(&self) -> Vec<Disruption> {
        let mut out = self.done.clone();
        out.extend(self.current.as_ref().map(|f| self.judge(f)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    fn criteria() -> Recovery {
        Recovery {
            window: Duration::from_secs(5),
            latency_tolerance: 0.2,
            error_tolerance: 0.01,
        }
    }

    /// A request sent `at` seconds after `epoch`, answered after `ttft` ms (`None`: failed).
    fn rec(epoch: Instant, at: f64, ttft: Option<u64>) -> RequestRecord {
        test_record(
            epoch + Duration::from_secs_f64(at),
            Duration::from_millis(ttft.unwrap_or(10)),
            ttft.is_some(),
        )
    }

    #[test]
    fn a_restart_is_followed_to_the_first_success_and_back_to_its_level() {
        let epoch = Instant::now();
        let mut d = Disruptions::new(epoch, criteria());
        // A minute at 20 ms, ten requests a second.
        for k in 0..600 {
            d.observe(&rec(epoch, f64::from(k) / 10.0, Some(20)));
        }
        d.disrupted(epoch + Duration::from_secs(60), "target restart");
        // 8 s of refused connections, 10 s slow (200 ms), then 20 ms again for 30 s.
        for k in 0..480 {
            let t = 60.0 + f64::from(k) / 10.0;
            let ttft = match t {
                t if t < 68.0 => None,
                t if t < 78.0 => Some(200),
                _ => Some(20),
            };
            d.observe(&rec(epoch, t, ttft));
        }
        let r = &d.results()[0];
        assert_eq!(r.cause, "target restart");
        assert_eq!(r.at_seconds, 60.0);
        let first = r.first_success_seconds.unwrap();
        // The first request sent after the failures (at 68 s) ends 200 ms later, plus its tokens.
        assert!((8.2..8.5).contains(&first), "{first}");
        assert_eq!(r.recovery_seconds, Some(18.0), "{r:?}");
        assert!(r.recovered && r.note.is_none());
        // Never back: still slow at the end.
        let mut d = Disruptions::new(epoch, criteria());
        for k in 0..600 {
            d.observe(&rec(epoch, f64::from(k) / 10.0, Some(20)));
        }
        d.disrupted(epoch + Duration::from_secs(60), "hook");
        for k in 0..200 {
            d.observe(&rec(epoch, 60.0 + f64::from(k) / 10.0, Some(200)));
        }
        let r = &d.results()[0];
        assert!(!r.recovered, "{r:?}");
        assert_eq!(
            r.note.as_deref(),
            Some("still outside the tolerance at the end of the hook")
        );
    }
}
