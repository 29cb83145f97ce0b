//! The run's side tasks — the report checkpoints, the progress line, the systemd watchdog, the
//! drift-baseline ticker and the time-series timeline — on one tracker under one token: each is
//! a loop that ends when the token is cancelled, so the run stops them all at once, at the one
//! place its shutdown order names, and waits for them to be gone.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The side tasks of one run.
#[derive(Debug)]
pub(super) struct Side {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Side {
    /// Side tasks under `root` (cancelling it stops them too).
    pub(super) fn new(root: &CancellationToken) -> Self {
        Side {
            token: root.child_token(),
            tracker: TaskTracker::new(),
        }
    }

    /// Run `tick` every `period`, the first time one period from now, until stopped.
    pub(super) fn every(&self, period: Duration, mut tick: impl FnMut() + Send + 'static) {
        self.ticking(period, move || {
            tick();
            std::future::ready(())
        });
    }

    /// Run `tick` every `period` on a blocking thread (work that writes and syncs files, or
    /// serializes megabytes: never on a worker thread that reads streams), one tick at a time,
    /// the first one period from now, until stopped; a tick under way when they are stopped
    /// finishes.
    pub(super) fn every_blocking(&self, period: Duration, tick: impl Fn() + Send + Sync + 'static) {
        let tick = std::sync::Arc::new(tick);
        self.ticking(period, move || {
            let tick = std::sync::Arc::clone(&tick);
            async move {
                if let Err(e) = tokio::task::spawn_blocking(move || tick()).await {
                    tracing::warn!(error = %e, "a side task's tick failed");
                }
            }
        });
    }

    /// The loop of [`Side::every`] and [`Side::every_blocking`]: `tick` is awaited whole (a
    /// stop waits for the one under way).
    fn ticking<F: Future<Output = ()> + Send>(
        &self,
        period: Duration,
        mut tick: impl FnMut() -> F + Send + 'static,
    ) {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                tokio::select! {
                    biased;
                    () = token.cancelled() => return,
                    _ = interval.tick() => tick().await,
                }
            }
        });
    }

    /// Run `task` until it ends or the side tasks are stopped (then it is dropped at an await).
    pub(super) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Stop every side task and wait until each has returned.
    pub(super) async fn stop(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn periodic_tasks_tick_on_time_and_all_stop_together() {
        let root = CancellationToken::new();
        let side = Side::new(&root);
        let ticks = Arc::new(AtomicU32::new(0));
        let t = Arc::clone(&ticks);
        side.every(Duration::from_secs(10), move || {
            t.fetch_add(1, Ordering::Relaxed);
        });
        let forever = Arc::new(AtomicU32::new(0));
        let f = Arc::clone(&forever);
        side.spawn(async move {
            f.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<()>().await;
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(
            ticks.load(Ordering::Relaxed),
            3,
            "at 10, 20 and 30 s, not at 0"
        );
        side.stop().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(ticks.load(Ordering::Relaxed), 3, "stopped");
        assert_eq!(forever.load(Ordering::Relaxed), 1);
        assert!(
            !root.is_cancelled(),
            "stopping the side tasks stops nothing else"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_blocking_tick_runs_off_the_workers_and_one_under_way_finishes_before_stop() {
        let root = CancellationToken::new();
        let side = Side::new(&root);
        // The runtime's one worker, where the side tasks themselves run.
        let worker = tokio::spawn(async { std::thread::current().id() })
            .await
            .expect("joined");
        let (entered_tx, entered_rx) = std::sync::mpsc::sync_channel::<std::thread::ThreadId>(4);
        let (release_tx, release_rx) = std::sync::mpsc::sync_channel::<()>(4);
        let release_rx = std::sync::Mutex::new(release_rx);
        let done = Arc::new(AtomicU32::new(0));
        let d = Arc::clone(&done);
        side.every_blocking(Duration::from_millis(10), move || {
            let _ = entered_tx.send(std::thread::current().id());
            // Held until the test lets go: the tick is under way while the stop is asked.
            let _ = release_rx.lock().map(|r| r.recv());
            d.fetch_add(1, Ordering::SeqCst);
        });
        let ticked_on = tokio::task::spawn_blocking(move || entered_rx.recv())
            .await
            .expect("joined")
            .expect("a tick");
        if ticked_on == worker {
            // Let the worker go before failing, or the runtime could not shut down.
            let _ = release_tx.send(());
            panic!("the tick ran on the runtime's worker");
        }
        let stopping = tokio::spawn(async move { side.stop().await });
        // The worker is free while the tick blocks; the stop waits for the tick (a bound that
        // cannot fail a correct stop: it never ends before the tick is let go).
        let mut stopping = stopping;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut stopping)
                .await
                .is_err(),
            "the stop waits for the tick"
        );
        release_tx.send(()).expect("released");
        stopping.await.expect("stopped");
        assert_eq!(
            done.load(Ordering::SeqCst),
            1,
            "the tick under way finished"
        );
    }
}
