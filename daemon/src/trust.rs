//! How far a run's numbers can be trusted, measured while it runs. Every chunk timestamp is
//! taken when the runtime gets round to the task whose socket became readable; how late that is
//! depends on the client, not the server. The [`Probe`] measures exactly that path: a kernel
//! timer (timerfd) becomes readable every [`PERIOD`] at an instant known in advance, whatever the
//! daemon is doing — descheduled, busy, or idle — and a task on the runtime reads it and
//! timestamps the read as the client timestamps a chunk. Read time − expiry is the client's lag,
//! sampled at evenly spaced instants all run long under the run's own load: exported
//! (`llmsoak_client_lag_seconds`), kept exactly (HDR) for the report, and gateable
//! (`client_lag.p99 < 1ms`). [`verdict`] turns it, the daemon's CPU share and its drops into a
//! stated bound and a plain verdict: trustworthy, or client-limited and why.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::metrics::{Histogram, Meter};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::metrics::catalogue as c;
use crate::report::{Dist, DropCounts, Hdr, Summary, Trust, TrustVerdict};

/// How often the timer expires.
pub const PERIOD: Duration = Duration::from_millis(5);
/// Above this p99 lag the run is client-limited: chunk timestamps may be that late.
pub const MAX_LAG_P99: Duration = Duration::from_millis(2);
/// Above this share of the available cores the daemon is short of CPU.
pub const MAX_CPU_SHARE: f64 = 0.9;
/// Above this p99 schedule lag an open loop sent late (the saturation alert's threshold).
pub const MAX_SCHEDULE_LAG_P99: f64 = 0.1;

/// The running probe: its lag histogram (warm-up excluded) and the task that reads the timer.
#[derive(Debug)]
pub struct Probe {
    lag: Arc<Mutex<Hdr>>,
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

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Read the expirations a readable timerfd counts.
fn expirations(fd: &OwnedFd) -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    let n = rustix::io::read(fd, &mut buf)?;
    if n != 8 {
        return Err(std::io::Error::other("short timerfd read"));
    }
    Ok(u64::from_ne_bytes(buf))
}

impl Probe {
    /// Start probing (call within the runtime); lags of expiries before `measure_from` are
    /// exported but left out of the report's histogram.
    pub fn start(meter: &Meter, measure_from: Instant) -> std::io::Result<Probe> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // Expiry k (from 1) is at `base + k * PERIOD`: the timer is armed right after `base`
        // (microseconds apart, against lags measured in tens of microseconds and up).
        let base = Instant::now();
        timerfd_settime(
            &fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: timespec(PERIOD),
                it_value: timespec(PERIOD),
            },
        )?;
        // Deprecated because a `T` that can close its fd while registered is unsound; this one
        // is an `OwnedFd` the `AsyncFd` owns until it deregisters it (the safe replacement is
        // `unsafe fn register_with_interest`, and this crate forbids unsafe code).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, Interest::READABLE)?;
        let lag = Arc::new(Mutex::new(Hdr::new()));
        let histogram: Histogram<f64> = c::CLIENT_LAG.histogram(meter);
        let reader = {
            let lag = Arc::clone(&lag);
            tokio::spawn(async move {
                let mut seen: u64 = 0;
                loop {
                    let Ok(mut ready) = fd.readable().await else {
                        return;
                    };
                    let n = match ready.try_io(|fd| expirations(fd.get_ref())) {
                        Ok(Ok(n)) => n,
                        Ok(Err(_)) => return,
                        Err(_would_block) => continue,
                    };
                    // Taken as the read completes, exactly as a chunk's timestamp is.
                    let now = Instant::now();
                    // Every expiry since the last read: each one became readable at its
                    // instant and waited until now (the oldest the longest).
                    for k in seen + 1..=seen + n {
                        let due = base + PERIOD * u32::try_from(k).unwrap_or(u32::MAX);
                        let late = now.saturating_duration_since(due);
                        histogram.record(late.as_secs_f64(), &[]);
                        if due >= measure_from
                            && let Ok(mut h) = lag.lock()
                        {
                            h.record(late);
                        }
                    }
                    seen += n;
                }
            })
        };
        Ok(Probe {
            lag,
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
            drops: summary.drops,
            schedule_lag_p99: summary.all.latency.schedule_lag.p99,
        };
        verdict(&lag, cpu, load, keep)
    }

    /// Stop reading the timer (idempotent; the timer closes with the task).
    pub fn stop(&self) {
        self.reader.abort();
    }
}

/// What else the verdict weighs, from the run's summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    /// Arrivals not sent in the measured window, by reason: only the capacity drops (at
    /// `max_in_flight` or `max_sessions`) weigh in; a spent budget or a shutdown does not.
    pub drops: DropCounts,
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
    let caps = [
        (
            load.drops.max_in_flight,
            "the in-flight cap (load.max_in_flight)",
        ),
        (
            load.drops.max_sessions,
            "the sessions cap (load.max_sessions)",
        ),
    ];
    for (n, cap) in caps.into_iter().filter(|(n, _)| *n > 0) {
        reasons.push(format!(
            "{n} arrivals dropped at {cap}: the offered load was not sent"
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
                drops: DropCounts {
                    max_in_flight: 7,
                    ..DropCounts::default()
                },
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

    #[test]
    fn a_spent_budget_or_a_shutdown_is_not_a_drop_and_each_cap_is_named_alone() {
        let mut lag = Hdr::new();
        for _ in 0..100 {
            lag.record(Duration::from_micros(300));
        }
        let by_design = Load {
            drops: DropCounts {
                budget: 256,
                shutting_down: 3,
                ..DropCounts::default()
            },
            schedule_lag_p99: None,
        };
        let t = verdict(&lag, Some(0.1), by_design, false);
        assert_eq!(t.verdict, TrustVerdict::Trustworthy, "{:?}", t.reasons);
        let sessions = Load {
            drops: DropCounts {
                max_sessions: 2,
                budget: 9,
                ..DropCounts::default()
            },
            schedule_lag_p99: None,
        };
        let t = verdict(&lag, Some(0.1), sessions, false);
        assert_eq!(t.verdict, TrustVerdict::ClientLimited);
        assert_eq!(
            t.reasons,
            vec!["2 arrivals dropped at the sessions cap (load.max_sessions): the offered load was not sent".to_string()],
            "names only what it counted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_probe_measures_the_runtimes_lag_and_sees_a_blocked_worker() {
        let (meter, _) = crate::metrics::test_meter();
        let probe = Probe::start(&meter, Instant::now()).unwrap();
        // Block both workers for 50 ms at a time: the timer's expiries wait that long.
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
