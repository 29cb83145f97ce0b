//! Ground truth: what the simulator really did. Per request it notes arrival, the instant each
//! chunk was handed to the HTTP body (the moment hyper takes it for the socket), first chunk,
//! end, and how late each write was against its deadline; finished requests go into exact HDR
//! histograms (TTFT, per-chunk gap, TPOT, lateness) and a bounded ring of recent per-request
//! rows that can be joined with llm-soak's records by sequence number (`x-llmsoak-seq`).
//! Bounded memory: fixed histograms plus at most [`RECENT`] rows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use super::faults::FaultKind;

/// Recent per-request rows kept for joining.
pub const RECENT: usize = 10_000;

#[allow(clippy::expect_used, reason = "constant bounds the crate accepts")]
fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid HDR bounds")
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 3_600_000_000)
}

/// One request as the simulator saw it (times in microseconds since its arrival).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestTruth {
    /// llm-soak's sequence number, when the request carried `x-llmsoak-seq`.
    pub seq: Option<u64>,
    pub ttft_us: Option<u64>,
    pub tpot_us: Option<u64>,
    pub e2e_us: u64,
    /// Arrival to the first schedule, the first schedule to the first token, the first token to
    /// the last: what the engine times as queue, prefill and decode.
    pub queue_us: Option<u64>,
    pub prefill_us: Option<u64>,
    pub decode_us: Option<u64>,
    pub chunks: u32,
    /// Input tokens: the prompt as the simulator tokenized it (its chat template included).
    pub prompt_tokens: u64,
    /// Tokens streamed (hidden reasoning not included).
    pub completion_tokens: u32,
    /// Reasoning tokens of the answer (streamed or hidden).
    pub reasoning_tokens: u32,
    pub max_lateness_us: u64,
    pub completed: bool,
    pub fault: Option<FaultKind>,
    /// The W3C `traceparent` the request carried, as received.
    pub traceparent: Option<String>,
}

/// The engine-timed phases of one request ([`Tracker::phases`]).
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    pub queue: Option<Duration>,
    pub prefill: Option<Duration>,
    pub decode: Option<Duration>,
}

/// Collects chunk instants for one request while it streams.
#[derive(Debug)]
pub struct Tracker {
    pub seq: Option<u64>,
    pub arrival: Instant,
    /// When the engine first scheduled it (a batch slot granted; prefill starts).
    pub scheduled: Option<Instant>,
    /// The W3C `traceparent` it carried.
    pub traceparent: Option<String>,
    pub chunk_at: Vec<Instant>,
    pub tokens: u32,
    pub reasoning_tokens: u32,
    pub max_lateness: Duration,
    /// Each content chunk's lateness against its deadline, microseconds.
    pub lateness_us: Vec<u32>,
    pub completed: bool,
    pub fault: Option<FaultKind>,
}

impl Tracker {
    pub fn new(seq: Option<u64>, arrival: Instant, capacity: usize) -> Self {
        Tracker {
            seq,
            arrival,
            scheduled: None,
            traceparent: None,
            chunk_at: Vec::with_capacity(capacity.min(8192)),
            tokens: 0,
            reasoning_tokens: 0,
            max_lateness: Duration::ZERO,
            lateness_us: Vec::with_capacity(capacity.min(8192)),
            completed: false,
            fault: None,
        }
    }

    /// What the engine times of this request: queue (arrival to the first schedule), prefill
    /// (the first schedule to the first token) and decode (the first token to the last), where
    /// it got that far.
    pub fn phases(&self) -> Phases {
        let (first, last) = (
            self.chunk_at.first().copied(),
            self.chunk_at.last().copied(),
        );
        Phases {
            queue: self
                .scheduled
                .map(|s| s.saturating_duration_since(self.arrival)),
            prefill: self
                .scheduled
                .zip(first)
                .map(|(s, f)| f.saturating_duration_since(s)),
            decode: first.zip(last).map(|(f, l)| l - f),
        }
    }

    /// A content chunk was handed to the body at `now`, due at `deadline`.
    pub fn wrote(&mut self, now: Instant, deadline: Instant, tokens: u32) {
        self.chunk_at.push(now);
        self.tokens += tokens;
        let late = now.saturating_duration_since(deadline);
        self.max_lateness = self.max_lateness.max(late);
        self.lateness_us
            .push(u32::try_from(late.as_micros()).unwrap_or(u32::MAX));
    }
}

#[derive(Debug, Serialize, Clone)]
pub struct Distribution {
    pub samples: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

fn dist(h: &Histogram<u64>) -> Distribution {
    let q = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1e6);
    Distribution {
        samples: h.len(),
        mean: (!h.is_empty()).then(|| h.mean() / 1e6),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        max: q(1.0),
    }
}

#[derive(Debug)]
struct Inner {
    requests: u64,
    bad_requests: u64,
    completed: u64,
    output_tokens: u64,
    faults: BTreeMap<FaultKind, u64>,
    ttft: Histogram<u64>,
    gap: Histogram<u64>,
    tpot: Histogram<u64>,
    lateness: Histogram<u64>,
    e2e: Histogram<u64>,
    queue: Histogram<u64>,
    prefill: Histogram<u64>,
    decode: Histogram<u64>,
    recent: VecDeque<RequestTruth>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            requests: 0,
            bad_requests: 0,
            completed: 0,
            output_tokens: 0,
            faults: BTreeMap::new(),
            ttft: hist(),
            gap: hist(),
            tpot: hist(),
            lateness: hist(),
            e2e: hist(),
            queue: hist(),
            prefill: hist(),
            decode: hist(),
            recent: VecDeque::new(),
        }
    }
}

/// All ground truth, behind one lock taken a few times per request (never per chunk).
#[derive(Debug, Default)]
pub struct Truth {
    inner: Mutex<Inner>,
}

/// What `GET /stats` returns (seconds for distributions).
#[derive(Debug, Serialize, Clone)]
pub struct StatsReport {
    pub requests: u64,
    pub bad_requests: u64,
    pub streams_completed: u64,
    /// Streams the client closed before the simulator ended them (aborts, disconnects).
    pub streams_abandoned: u64,
    pub output_tokens: u64,
    pub faults: BTreeMap<String, u64>,
    pub ttft: Distribution,
    pub chunk_gap: Distribution,
    pub tpot: Distribution,
    pub write_lateness: Distribution,
    /// Completed requests: what the engine's own histograms time (arrival to the end, queue,
    /// prefill, decode).
    pub e2e: Distribution,
    pub queue: Distribution,
    pub prefill: Distribution,
    pub decode: Distribution,
    pub running: usize,
    pub waiting: usize,
    /// The most requests ever running or waiting in the engine at once (the client's
    /// concurrency, as the server saw it).
    pub peak_concurrency: usize,
    /// TCP connections accepted on the API listener since the simulator started (not reset by
    /// `/stats/reset`): with keep-alive, far fewer than requests.
    pub connections_accepted: u64,
    pub kv_cache_usage: f64,
    pub preemptions: u64,
    pub prefix_cache_queries: u64,
    pub prefix_cache_hits: u64,
    /// `POST /reset_prefix_cache` calls.
    pub prefix_cache_resets: u64,
    pub leaked_bytes: u64,
    /// File descriptors held on purpose (`leak.fd_per_connection`).
    pub leaked_fds: u64,
    /// KV tokens abandoned sequences never freed (`leak_on_abort`).
    pub leaked_kv_tokens: u64,
}

impl Truth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn arrived(&self) {
        self.lock().requests += 1;
    }

    pub fn bad_request(&self) {
        self.lock().bad_requests += 1;
    }

    pub fn fault(&self, kind: FaultKind) {
        *self.lock().faults.entry(kind).or_default() += 1;
    }

    /// A request ended (completed or not); `end` is when its body finished or was dropped.
    pub fn finish(&self, t: &Tracker, prompt_tokens: u64, end: Instant) {
        let first = t.chunk_at.first().copied();
        let last = t.chunk_at.last().copied();
        let phases = t.phases();
        let tpot = match (first, last) {
            (Some(f), Some(l)) if t.tokens >= 2 => Some((l - f) / (t.tokens - 1)),
            _ => None,
        };
        let row = RequestTruth {
            seq: t.seq,
            ttft_us: first.map(|f| us(f - t.arrival)),
            tpot_us: tpot.map(us),
            e2e_us: us(end.saturating_duration_since(t.arrival)),
            queue_us: phases.queue.map(us),
            prefill_us: phases.prefill.map(us),
            decode_us: phases.decode.map(us),
            chunks: t.chunk_at.len() as u32,
            prompt_tokens,
            completion_tokens: t.tokens,
            reasoning_tokens: t.reasoning_tokens,
            max_lateness_us: u64::try_from(t.max_lateness.as_micros()).unwrap_or(u64::MAX),
            completed: t.completed,
            fault: t.fault,
            traceparent: t.traceparent.clone(),
        };
        let mut s = self.lock();
        s.output_tokens += u64::from(t.tokens);
        if t.completed {
            s.completed += 1;
            if let Some(v) = row.ttft_us {
                s.ttft.saturating_record(v);
            }
            if let Some(v) = row.tpot_us {
                s.tpot.saturating_record(v);
            }
            for w in t.chunk_at.windows(2) {
                s.gap.saturating_record(us(w[1] - w[0]));
            }
            s.e2e.saturating_record(row.e2e_us);
            let inner = &mut *s;
            let parts = [
                (&mut inner.queue, row.queue_us),
                (&mut inner.prefill, row.prefill_us),
                (&mut inner.decode, row.decode_us),
            ];
            for (h, v) in parts {
                if let Some(v) = v {
                    h.saturating_record(v.max(1));
                }
            }
        }
        for &late in &t.lateness_us {
            s.lateness.saturating_record(u64::from(late).max(1));
        }
        if s.recent.len() >= RECENT {
            s.recent.pop_front();
        }
        s.recent.push_back(row);
    }

    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    /// The recent rows (oldest first), optionally only llm-soak's `seq`.
    pub fn recent(&self, seq: Option<u64>) -> Vec<RequestTruth> {
        self.lock()
            .recent
            .iter()
            .filter(|r| seq.is_none() || r.seq == seq)
            .cloned()
            .collect()
    }

    /// Take every recent row (oldest first) and empty the ring, so a poller sees each finished
    /// request exactly once (the benchmark's per-request join).
    pub fn drain(&self) -> Vec<RequestTruth> {
        self.lock().recent.drain(..).collect()
    }

    /// Counters and distributions; the engine fields are filled by the caller.
    pub fn report(&self) -> StatsReport {
        let s = self.lock();
        StatsReport {
            requests: s.requests,
            bad_requests: s.bad_requests,
            streams_completed: s.completed,
            streams_abandoned: 0,
            output_tokens: s.output_tokens,
            faults: FaultKind::ALL
                .iter()
                .map(|k| {
                    (
                        k.as_str().to_string(),
                        s.faults.get(k).copied().unwrap_or(0),
                    )
                })
                .collect(),
            ttft: dist(&s.ttft),
            chunk_gap: dist(&s.gap),
            tpot: dist(&s.tpot),
            write_lateness: dist(&s.lateness),
            e2e: dist(&s.e2e),
            queue: dist(&s.queue),
            prefill: dist(&s.prefill),
            decode: dist(&s.decode),
            running: 0,
            waiting: 0,
            peak_concurrency: 0,
            connections_accepted: 0,
            kv_cache_usage: 0.0,
            preemptions: 0,
            prefix_cache_queries: 0,
            prefix_cache_hits: 0,
            prefix_cache_resets: 0,
            leaked_bytes: 0,
            leaked_fds: 0,
            leaked_kv_tokens: 0,
        }
    }
}
