//! The simulated inference engine: continuous batching with a batch capacity (beyond it, new
//! requests wait in a FIFO queue), a KV cache of bounded size in tokens (a sequence that cannot
//! grow is preempted and recomputed, as vLLM does), a block-granular prefix cache that makes
//! repeated prefixes cheap to prefill, and the timing model: prefill time proportional to the
//! *uncached* input tokens, decode ITL growing with the number of running sequences, seeded
//! jitter, and an optional slow TPOT drift. No lock is held across an await.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::prefix::PrefixCache;
pub use crate::config::simulator::EngineParams;

#[derive(Debug)]
struct State {
    running: usize,
    /// The most requests ever running or waiting at once.
    peak: usize,
    kv_used: u64,
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
    prefix: PrefixCache,
}

/// The engine shared by every request.
#[derive(Debug)]
pub struct Engine {
    pub params: EngineParams,
    started: Instant,
    state: Mutex<State>,
    pub preemptions: AtomicU64,
    pub prefix_queries: AtomicU64,
    pub prefix_hits: AtomicU64,
    /// KV tokens never freed: held by sequences the client abandoned (`leak_on_abort`).
    pub leaked_kv: AtomicU64,
    /// Streams the client closed before they ended.
    pub abandoned: AtomicU64,
    /// `POST /reset_prefix_cache` calls.
    pub prefix_resets: AtomicU64,
    /// When the last simulated restart was, in nanoseconds after `started` (`u64::MAX`: none).
    restarted: AtomicU64,
}

/// How much slower than normal the engine is right after a restart (`slow_recovery`).
const RESTART_SLOWDOWN: f64 = 4.0;

/// A running sequence's claim on a batch slot and KV; released on drop.
#[derive(Debug)]
pub struct Slot {
    engine: Arc<Engine>,
    kv: u64,
    held: bool,
    /// Whether admission had to wait in the queue.
    pub queued: bool,
}

impl Engine {
    pub fn new(params: EngineParams) -> Arc<Self> {
        let prefix = PrefixCache::new(params.prefix_block_tokens, params.prefix_cache_blocks);
        Arc::new(Engine {
            params,
            started: Instant::now(),
            state: Mutex::new(State {
                running: 0,
                peak: 0,
                kv_used: 0,
                waiting: VecDeque::new(),
                prefix,
            }),
            preemptions: AtomicU64::new(0),
            prefix_queries: AtomicU64::new(0),
            prefix_hits: AtomicU64::new(0),
            leaked_kv: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            prefix_resets: AtomicU64::new(0),
            restarted: AtomicU64::new(u64::MAX),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock is a bug elsewhere; the state stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (running, waiting, KV usage 0..1)
    pub fn load(&self) -> (usize, usize, f64) {
        let s = self.lock();
        let kv = if self.params.kv_cache_tokens == 0 {
            0.0
        } else {
            s.kv_used as f64 / self.params.kv_cache_tokens as f64
        };
        (s.running, s.waiting.len(), kv)
    }

    /// The most requests that were ever running or waiting at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    /// Whether a prompt of `tokens` can ever be admitted.
    pub fn fits(&self, tokens: u64) -> bool {
        tokens < self.params.kv_cache_tokens
    }

    /// Wait for a batch slot and `kv` tokens of KV cache (FIFO; `front` for a preempted
    /// sequence coming back).
    pub async fn admit(self: &Arc<Self>, kv: u64, front: bool) -> Slot {
        let rx = {
            let mut s = self.lock();
            s.peak = s.peak.max(s.running + s.waiting.len() + 1);
            if s.waiting.is_empty()
                && s.running < self.params.batch_capacity
                && s.kv_used + kv <= self.params.kv_cache_tokens
            {
                s.running += 1;
                s.kv_used += kv;
                return Slot {
                    engine: Arc::clone(self),
                    kv,
                    held: true,
                    queued: false,
                };
            }
            let (tx, rx) = oneshot::channel();
            if front {
                s.waiting.push_front((kv, tx));
            } else {
                s.waiting.push_back((kv, tx));
            }
            rx
        };
        // The slot is reserved on our behalf before the sender fires. If this future is
        // dropped while waiting, `Pending` gives back a reservation that arrived too late.
        let mut pending = Pending {
            engine: Arc::clone(self),
            kv,
            rx: Some(rx),
        };
        let granted = match pending.rx.as_mut() {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        pending.rx = None;
        Slot {
            engine: Arc::clone(self),
            kv,
            held: granted,
            queued: true,
        }
    }

    /// Hand freed capacity to waiters, in order.
    fn wake(&self, s: &mut State) {
        while let Some((kv, _)) = s.waiting.front() {
            let kv = *kv;
            if s.running >= self.params.batch_capacity
                || s.kv_used + kv > self.params.kv_cache_tokens
            {
                break;
            }
            let Some((_, tx)) = s.waiting.pop_front() else {
                break;
            };
            s.running += 1;
            s.kv_used += kv;
            if tx.send(()).is_err() {
                // The waiter went away: undo its reservation and keep going.
                s.running -= 1;
                s.kv_used -= kv;
            }
        }
    }

    fn release(&self, kv: u64) {
        let mut s = self.lock();
        s.running = s.running.saturating_sub(1);
        s.kv_used = s.kv_used.saturating_sub(kv);
        self.wake(&mut s);
    }

    /// Cached leading tokens of a prompt with these prefix-block hashes (and cache them).
    pub fn prefix_lookup(&self, prompt_tokens: u64, hashes: &[u64]) -> u64 {
        let hit = self.lock().prefix.lookup_insert(hashes) as u64;
        self.prefix_queries
            .fetch_add(prompt_tokens, Ordering::Relaxed);
        self.prefix_hits.fetch_add(hit, Ordering::Relaxed);
        hit.min(prompt_tokens)
    }

    /// Empty the prefix cache (`POST /reset_prefix_cache`), counted.
    pub fn reset_prefix_cache(&self) {
        self.lock().prefix.clear();
        self.prefix_resets.fetch_add(1, Ordering::Relaxed);
    }

    pub fn block_hashes(&self, tokens: &[u32]) -> Vec<u64> {
        self.lock().prefix.block_hashes(tokens)
    }

    fn jittered(&self, d: Duration, rng: &mut ChaCha8Rng) -> Duration {
        if self.params.jitter <= 0.0 {
            return d;
        }
        let f = 1.0 + self.params.jitter * rng.random_range(-1.0..=1.0);
        d.mul_f64(f.max(0.0))
    }

    /// Prefill time for `uncached` input tokens.
    pub fn prefill_time(&self, uncached: u64, rng: &mut ChaCha8Rng) -> Duration {
        let per = self.params.prefill_per_token.mul_f64(uncached as f64);
        let slow = self.recovery_factor(Instant::now());
        self.jittered((self.params.prefill_base + per).mul_f64(slow), rng)
    }

    /// The multiplier TPOT drift has reached at `now`, times a recent restart's slowdown.
    pub fn drift_factor(&self, now: Instant) -> f64 {
        let hours = now.saturating_duration_since(self.started).as_secs_f64() / 3600.0
            * self.params.time_scale;
        (1.0 + self.params.drift_per_hour * hours) * self.recovery_factor(now)
    }

    /// A simulated restart happened now: with `slow_recovery`, the engine is slow for a while.
    pub fn restarted(&self, now: Instant) {
        let at = now.saturating_duration_since(self.started).as_nanos();
        self.restarted
            .store(u64::try_from(at).unwrap_or(u64::MAX - 1), Ordering::Relaxed);
    }

    /// 4x right after a restart, back to 1 linearly over `slow_recovery`.
    fn recovery_factor(&self, now: Instant) -> f64 {
        let at = self.restarted.load(Ordering::Relaxed);
        let span = self.params.slow_recovery.as_secs_f64();
        if at == u64::MAX || span <= 0.0 {
            return 1.0;
        }
        let since = now.saturating_duration_since(self.started).as_secs_f64() - at as f64 / 1e9;
        let left = (1.0 - since.max(0.0) / span).max(0.0);
        1.0 + (RESTART_SLOWDOWN - 1.0) * left
    }

    /// The next decode step for one sequence, given the batch right now.
    pub fn itl(&self, now: Instant, rng: &mut ChaCha8Rng) -> Duration {
        let running = self.lock().running.max(1);
        let step = self.params.itl_base + self.params.itl_per_seq * (running as u32 - 1);
        self.jittered(step.mul_f64(self.drift_factor(now)), rng)
    }
}

impl Slot {
    /// Reserve KV for one more token; `false` when the cache is full: the sequence has then
    /// been preempted (slot and KV released) and must be re-admitted and recomputed.
    pub fn grow(&mut self) -> bool {
        let cap = self.engine.params.kv_cache_tokens;
        let mut s = self.engine.lock();
        if s.kv_used < cap {
            s.kv_used += 1;
            self.kv += 1;
            return true;
        }
        s.running = s.running.saturating_sub(1);
        s.kv_used = s.kv_used.saturating_sub(self.kv);
        self.held = false;
        self.engine.preemptions.fetch_add(1, Ordering::Relaxed);
        self.engine.wake(&mut s);
        false
    }

    /// KV tokens this sequence holds (prompt + generated).
    pub fn kv(&self) -> u64 {
        self.kv
    }

    /// End an abandoned sequence the way a leaking engine does: its batch slot is freed, its
    /// KV never is (`leak_on_abort`). Without the fault, the same as dropping it.
    pub fn abandon(mut self) {
        if !self.held || !self.engine.params.leak_on_abort {
            return;
        }
        self.held = false;
        let mut s = self.engine.lock();
        s.running = s.running.saturating_sub(1);
        self.engine.leaked_kv.fetch_add(self.kv, Ordering::Relaxed);
        self.engine.wake(&mut s);
    }
}

/// A waiter in the admission queue.
struct Pending {
    engine: Arc<Engine>,
    kv: u64,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.engine.release(self.kv);
            } else {
                // Abandoned while queued (the client went away): out of the queue, as an
                // engine aborts a request whose client disconnected.
                self.engine.lock().waiting.retain(|(_, tx)| !tx.is_closed());
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            self.engine.release(self.kv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(batch: usize, kv: u64) -> EngineParams {
        EngineParams {
            batch_capacity: batch,
            prefill_base: Duration::from_millis(10),
            prefill_per_token: Duration::from_micros(100),
            itl_base: Duration::from_millis(10),
            itl_per_seq: Duration::from_millis(1),
            jitter: 0.0,
            kv_cache_tokens: kv,
            prefix_block_tokens: 16,
            prefix_cache_blocks: 1024,
            drift_per_hour: 0.0,
            time_scale: 1.0,
            leak_on_abort: false,
            slow_recovery: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn batch_capacity_queues_and_releases_in_order() {
        let e = Engine::new(params(2, 10_000));
        let a = e.admit(10, false).await;
        let _b = e.admit(10, false).await;
        assert_eq!(e.load().0, 2);
        let e2 = Arc::clone(&e);
        let waiter = tokio::spawn(async move { e2.admit(10, false).await.kv() });
        tokio::task::yield_now().await;
        assert_eq!(e.load().1, 1, "third request waits");
        let mut rng = crate::simulator::rng::rng(0, 0);
        assert_eq!(
            e.itl(Instant::now(), &mut rng),
            Duration::from_millis(11),
            "ITL grows with the batch"
        );
        drop(a);
        assert_eq!(waiter.await.unwrap(), 10);
        assert_eq!(e.load().1, 0);
    }

    #[tokio::test]
    async fn a_full_kv_cache_preempts_the_growing_sequence() {
        let e = Engine::new(params(8, 25));
        let mut a = e.admit(10, false).await;
        let mut b = e.admit(10, false).await;
        for _ in 0..5 {
            assert!(a.grow());
        }
        assert!(!b.grow(), "no room left");
        assert_eq!(e.preemptions.load(Ordering::Relaxed), 1);
        assert_eq!(e.load().0, 1);
        drop(a);
        let b2 = e.admit(b.kv(), true).await;
        assert_eq!(b2.kv(), 10);
        drop(b);
        assert_eq!(
            e.load().0,
            1,
            "dropping a preempted slot releases nothing twice"
        );
    }

    #[tokio::test]
    async fn an_abandoned_sequence_frees_its_kv_unless_it_leaks() {
        let e = Engine::new(params(8, 100));
        let mut a = e.admit(40, false).await;
        assert!(a.grow());
        a.abandon();
        assert_eq!(e.load(), (0, 0, 0.0), "without the fault, all is freed");
        let mut p = params(8, 100);
        p.leak_on_abort = true;
        let e = Engine::new(p);
        let mut a = e.admit(40, false).await;
        assert!(a.grow());
        a.abandon();
        assert_eq!(e.load(), (0, 0, 0.41), "the slot is freed, the KV is not");
        assert_eq!(e.leaked_kv.load(Ordering::Relaxed), 41);
        // The cache that is left is all the next request may use.
        let e2 = Arc::clone(&e);
        let big = tokio::spawn(async move { e2.admit(60, false).await.kv() });
        tokio::task::yield_now().await;
        assert_eq!(e.load().1, 1, "60 tokens no longer fit: it waits");
        // Its client goes away: it leaves the queue.
        big.abort();
        let _ = big.await;
        assert_eq!(e.load().1, 0, "an abandoned waiter is not waiting");
    }

    #[test]
    fn a_restart_slows_the_engine_and_it_recovers_over_slow_recovery() {
        let mut p = params(8, 100);
        p.slow_recovery = Duration::from_secs(10);
        let e = Engine::new(p);
        let t = e.started + Duration::from_secs(100);
        assert_eq!(e.drift_factor(t), 1.0, "no restart yet");
        e.restarted(t);
        assert!((e.drift_factor(t) - 4.0).abs() < 1e-9);
        assert!((e.drift_factor(t + Duration::from_secs(5)) - 2.5).abs() < 1e-9);
        assert_eq!(e.drift_factor(t + Duration::from_secs(10)), 1.0);
        // Without slow_recovery a restart costs nothing.
        let e = Engine::new(params(8, 100));
        e.restarted(e.started);
        assert_eq!(e.drift_factor(e.started), 1.0);
    }

    #[test]
    fn prefill_counts_uncached_tokens_and_drift_scales() {
        let mut p = params(8, 100);
        p.drift_per_hour = 0.5;
        p.time_scale = 3600.0; // one real second is an hour
        let e = Engine::new(p);
        let mut rng = crate::simulator::rng::rng(0, 0);
        assert_eq!(e.prefill_time(100, &mut rng), Duration::from_millis(20));
        let later = e.started + Duration::from_secs(2);
        assert!((e.drift_factor(later) - 2.0).abs() < 1e-9);
    }
}
