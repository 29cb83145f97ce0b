//! Slow degradations to rehearse alerts: a memory leak made of real, touched allocations that
//! grows the simulator's RSS per request, per connection and/or per (scaled) minute up to a cap,
//! and a file-descriptor leak of one real duplicate of each connection's socket (the socket then
//! never closes: CLOSE_WAIT piles up, as in a server that loses track of its connections). (The
//! TPOT drift lives in the engine's timing model, `Engine::drift_factor`.)

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
    /// Duplicates of connection sockets, never closed (`fd_per_connection`).
    fds: Mutex<Vec<std::os::fd::OwnedFd>>,
}

impl Leak {
    pub fn new(params: LeakParams) -> Arc<Self> {
        Arc::new(Leak {
            params,
            held: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
            fds: Mutex::new(Vec::new()),
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

    /// File descriptors held on purpose.
    pub fn leaked_fds(&self) -> u64 {
        self.fds.lock().map_or(0, |f| f.len() as u64)
    }

    /// A connection was accepted: leak `bytes_per_connection` and, with `fd_per_connection`, a
    /// duplicate of its socket (kept open forever, so the socket outlives the connection).
    pub fn on_connection(&self, socket: std::os::fd::BorrowedFd<'_>) {
        if self.params.bytes_per_connection > 0 {
            self.grow(self.params.bytes_per_connection);
        }
        if self.params.fd_per_connection
            && let Ok(fd) = rustix::io::dup(socket)
            && let Ok(mut fds) = self.fds.lock()
        {
            fds.push(fd);
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
            max_bytes: 3 << 20,
            ..LeakParams::default()
        });
        for _ in 0..5 {
            l.on_request();
        }
        assert_eq!(l.leaked(), 3 << 20);
    }

    #[test]
    fn a_connection_leaks_its_bytes_and_a_real_descriptor() {
        use std::os::fd::AsFd;
        let l = Leak::new(LeakParams {
            bytes_per_connection: 4096,
            fd_per_connection: true,
            ..LeakParams::default()
        });
        let file = tempfile::tempfile().unwrap();
        l.on_connection(file.as_fd());
        l.on_connection(file.as_fd());
        assert_eq!((l.leaked(), l.leaked_fds()), (8192, 2));
        // Without the fault, nothing.
        let quiet = Leak::new(LeakParams::default());
        quiet.on_connection(file.as_fd());
        assert_eq!((quiet.leaked(), quiet.leaked_fds()), (0, 0));
    }
}
