//! Slow degradations to rehearse alerts: a memory leak made of real, touched allocations that
//! grows the simulator's RSS per request and/or per (scaled) minute up to a cap. (The TPOT drift
//! lives in the engine's timing model, `Engine::drift_factor`.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::simulator::LeakParams;

/// Memory held on purpose.
#[derive(Debug, Default)]
pub struct Leak {
    params: LeakParams,
    held: Mutex<Vec<Box<[u8]>>>,
    total: AtomicU64,
}

impl Leak {
    pub fn new(params: LeakParams) -> Arc<Self> {
        Arc::new(Leak {
            params,
            held: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
        })
    }

    pub fn leaked(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn grow(&self, bytes: u64) {
        let room = self.params.max_bytes.saturating_sub(self.leaked());
        let n = usize::try_from(bytes.min(room)).unwrap_or(0);
        if n == 0 {
            return;
        }
        // Filled with a non-zero byte so every page is touched and counts in RSS.
        let block = vec![0xA5u8; n].into_boxed_slice();
        if let Ok(mut held) = self.held.lock() {
            held.push(block);
            self.total.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub fn on_request(&self) {
        if self.params.bytes_per_request > 0 {
            self.grow(self.params.bytes_per_request);
        }
    }

    /// Leak `bytes_per_minute` every (scaled) minute until the task is aborted.
    pub fn spawn_ticker(self: &Arc<Self>, time_scale: f64) -> Option<tokio::task::JoinHandle<()>> {
        if self.params.bytes_per_minute == 0 {
            return None;
        }
        let period =
            Duration::from_secs_f64(60.0 / time_scale.max(1e-3)).max(Duration::from_millis(10));
        let leak = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                leak.grow(leak.params.bytes_per_minute);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaks_real_memory_up_to_the_cap() {
        let l = Leak::new(LeakParams {
            bytes_per_request: 1 << 20,
            bytes_per_minute: 0,
            max_bytes: 3 << 20,
        });
        for _ in 0..5 {
            l.on_request();
        }
        assert_eq!(l.leaked(), 3 << 20);
    }
}
