//! How far a run's numbers can be trusted, measured while it runs. Every chunk timestamp is
//! taken when the runtime gets round to the task whose socket became readable; how late that is
//! depends on the client, not the server. The [`Probe`] measures exactly that path: a thread
//! writes a byte into a socket pair at a known instant and a task on the runtime reads it, so
//! the delay from "readable" to "timestamped" is observed all run long under the run's own load
//! — the client's lag, exported (`llmsoak_client_lag_seconds`), kept exactly (HDR) for the
//! report, and gateable (`client_lag.p99 < 1ms`). [`verdict`] turns it, the daemon's CPU share
//! and its drops into a stated bound and a plain verdict: trustworthy, or client-limited and why.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::metrics::{Histogram, Meter};
use tokio::io::AsyncReadExt as _;
use tokio::time::Instant;

use crate::metrics::catalogue as c;
use crate::report::{Dist, Hdr, Summary, Trust, TrustVerdict};

/// How often the probe fires.
pub const PERIOD: Duration = Duration::from_millis(10);
/// Above this p99 lag the run is client-limited: chunk timestamps may be that late.
pub const MAX_LAG_P99: Duration = Duration::from_millis(2);
/// Above this share of the available cores the daemon is short of CPU.
pub const MAX_CPU_SHARE: f64 = 0.9;
/// Above this p99 schedule lag an open loop sent late (the saturation alert's threshold).
pub const MAX_SCHEDULE_LAG_P99: f64 = 0.1;

/// The running probe: its lag histogram (warm-up excluded) and the thread that writes.
#[derive(Debug)]
pub struct Probe {
    lag: Arc<Mutex<Hdr>>,
    stop: Arc<AtomicBool>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: tokio::task::JoinHandle<()>,
    /// The daemon's CPU time when the probe started, and when that was.
    cpu_start: Option<(Duration, Instant)>,
}

/// The daemon's CPU time so far (user + system).
fn cpu_time() -> Option<Duration> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = Pid::from_u32(std::process::id());
    let mut sys = System::new().ok()?;
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_cpu(),
    );
    sys.process(pid)
        .map(|p| Duration::from_millis(p.accumulated_cpu_time()))
}

impl Probe {
    /// Start probing (call within the runtime); lags of probes read before `measure_from` are
    /// exported but left out of the report's histogram.
    pub fn start(meter: &Meter, measure_from: Instant) -> std::io::Result<Probe> {
        let (mut tx, rx) = std::os::unix::net::UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        let mut rx = tokio::net::UnixStream::from_std(rx)?;
        let base = Instant::now();
        let stamp = Arc::new(AtomicU64::new(0));
        let consumed = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let lag = Arc::new(Mutex::new(Hdr::new()));
        let writer = {
            let (stamp, consumed, stop) =
                (Arc::clone(&stamp), Arc::clone(&consumed), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("llmsoak-trust".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(PERIOD);
                        // One probe at a time: a late one is measured when it is read.
                        if !consumed.swap(false, Ordering::AcqRel) {
                            continue;
                        }
                        let at = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        stamp.store(at, Ordering::Release);
                        if tx.write_all(b"p").is_err() {
                            return;
                        }
                    }
                })?
        };
        let histogram: Histogram<f64> = c::CLIENT_LAG.histogram(meter);
        let reader = {
            let lag = Arc::clone(&lag);
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                loop {
                    match rx.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    // Taken as the read completes, exactly as a chunk's timestamp is.
                    let now = Instant::now();
                    let sent = base + Duration::from_nanos(stamp.load(Ordering::Acquire));
                    let late = now.saturating_duration_since(sent);
                    consumed.store(true, Ordering::Release);
                    histogram.record(late.as_secs_f64(), &[]);
                    if now >= measure_from
                        && let Ok(mut h) = lag.lock()
                    {
                        h.record(late);
                    }
                }
            })
        };
        Ok(Probe {
            lag,
            stop,
            writer: Mutex::new(Some(writer)),
            reader,
            cpu_start: cpu_time().map(|t| (t, Instant::now())),
        })
    }

    /// The client's lag so far (warm-up excluded) and the cores the daemon used on average.
    pub fn reading(&self) -> (Hdr, Option<f64>) {
        let lag = self.lag.lock().map(|h| h.clone()).unwrap_or_default();
        let cpu = match (self.cpu_start, cpu_time()) {
            (Some((t0, at)), Some(t1)) => {
                let wall = at.elapsed().as_secs_f64();
                (wall > 0.0).then(|| t1.saturating_sub(t0).as_secs_f64() / wall)
            }
            _ => None,
        };
        (lag, cpu)
    }

    /// The trust section for `summary` (its drops and schedule lag weigh in), with the lag's
    /// histogram when `keep`.
    pub fn assess(&self, summary: &Summary, keep: bool) -> Trust {
        let (lag, cpu) = self.reading();
        let load = Load {
            dropped: summary.dropped,
            schedule_lag_p99: summary.all.latency.schedule_lag.p99,
        };
        verdict(&lag, cpu, load, keep)
    }

    /// Stop the writer thread and the reader task (idempotent).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.reader.abort();
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer {
            // The writer wakes every PERIOD: joining costs at most that.
            let _ = w.join();
        }
    }
}

/// What else the verdict weighs, from the run's summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    /// Arrivals dropped (at `max_in_flight` or `max_sessions`) in the measured window.
    pub dropped: u64,
    /// p99 schedule lag of the open loop, seconds.
    pub schedule_lag_p99: Option<f64>,
}

/// The trust section of a report: the lag, the CPU share, the stated bound and the verdict.
pub fn verdict(lag: &Hdr, cpu_cores: Option<f64>, load: Load, keep: bool) -> Trust {
    let cores = std::thread::available_parallelism()
        .ok()
        .map(|n| n.get() as f64);
    let p99 = lag.quantile(0.99);
    let mut reasons = Vec::new();
    if let Some(p) = p99.filter(|p| *p > MAX_LAG_P99.as_secs_f64()) {
        reasons.push(format!(
            "client lag p99 {:.2} ms > {:.0} ms: chunk timestamps may be that late",
            p * 1e3,
            MAX_LAG_P99.as_secs_f64() * 1e3
        ));
    }
    if let (Some(used), Some(n)) = (cpu_cores, cores)
        && used > MAX_CPU_SHARE * n
    {
        reasons.push(format!(
            "the daemon used {used:.2} of {n:.0} cores: it is short of CPU"
        ));
    }
    if load.dropped > 0 {
        reasons.push(format!(
            "{} arrivals dropped at the in-flight or sessions cap: the offered load was not sent",
            load.dropped
        ));
    }
    if let Some(l) = load.schedule_lag_p99.filter(|l| *l > MAX_SCHEDULE_LAG_P99) {
        reasons.push(format!(
            "schedule lag p99 {:.0} ms: requests left late",
            l * 1e3
        ));
    }
    let verdict = if lag.count() == 0 {
        TrustVerdict::Unknown
    } else if reasons.is_empty() {
        TrustVerdict::Trustworthy
    } else {
        TrustVerdict::ClientLimited
    };
    Trust {
        verdict,
        bound_p99: p99,
        client_lag: Dist::of(lag, keep),
        cpu_cores_used: cpu_cores,
        cpu_cores_available: cores,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_names_every_reason() {
        let mut lag = Hdr::new();
        for _ in 0..100 {
            lag.record(Duration::from_micros(300));
        }
        let t = verdict(&lag, Some(0.2), Load::default(), false);
        assert_eq!(t.verdict, TrustVerdict::Trustworthy, "{t:?}");
        assert!(t.bound_p99.is_some_and(|b| (b - 0.0003).abs() < 1e-5));
        let mut slow = lag.clone();
        for _ in 0..10 {
            slow.record(Duration::from_millis(40));
        }
        let t = verdict(
            &slow,
            Some(1000.0),
            Load {
                dropped: 7,
                schedule_lag_p99: Some(0.4),
            },
            true,
        );
        assert!(t.client_lag.hdr.is_some());
        assert_eq!(t.verdict, TrustVerdict::ClientLimited);
        assert_eq!(t.reasons.len(), 4, "{:?}", t.reasons);
        assert_eq!(
            verdict(&Hdr::new(), None, Load::default(), false).verdict,
            TrustVerdict::Unknown
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_probe_measures_the_runtimes_lag_and_sees_a_blocked_worker() {
        let (meter, _) = crate::metrics::test_meter();
        let probe = Probe::start(&meter, Instant::now()).unwrap();
        // Block both workers for 50 ms at a time: the probe's reads wait that long.
        for _ in 0..4 {
            let a = tokio::spawn(async { std::thread::sleep(Duration::from_millis(50)) });
            let b = tokio::spawn(async { std::thread::sleep(Duration::from_millis(50)) });
            let _ = tokio::join!(a, b);
        }
        // Then probe an idle runtime until there are readings of both kinds.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (lag, _) = probe.reading();
            if lag.count() >= 20 {
                assert!(
                    lag.quantile(1.0).unwrap_or_default() >= 0.01,
                    "a blocked worker shows as lag"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no probe readings");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        probe.stop();
    }
}
