//! Process and host readings: `sysinfo` for memory and CPU, `/proc` for threads and open fds. A
//! target server process is chosen by pid, pidfile (re-read every sample, so a restarted server
//! is found again) or name (the process name, or the base name of its first two command-line
//! words, so `vllm` finds `python3 /usr/bin/vllm serve …`); a new pid or start time counts as a
//! restart. Reading another user's fd table needs `CAP_SYS_PTRACE`: without it the fd count is
//! left out and the probe reports "partial", not an error.

use std::path::Path;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

pub use crate::config::Selector;

/// One process's readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcReading {
    pub pid: u32,
    pub start_time: u64,
    pub rss: u64,
    pub virt: u64,
    /// Cores in use since the previous sample (`None` on the first).
    pub cpu_cores: Option<f64>,
    pub threads: Option<u64>,
    pub fds: Option<u64>,
    /// The fd table could not be read (permission).
    pub fds_denied: bool,
    /// The soft limit on open files (`Max open files` in /proc/PID/limits).
    pub max_fds: Option<u64>,
}

/// Host readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostReading {
    /// 0–1 over all cores (`None` on the first sample).
    pub cpu: Option<f64>,
    pub memory_used: u64,
    pub memory_available: u64,
    pub memory_total: u64,
    pub load: Option<[f64; 3]>,
}

/// Why a process could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcError {
    #[error("no process matches {0}")]
    NotFound(String),
    #[error("{0}")]
    Error(String),
}

/// Reads processes and the host; keeps the state CPU percentages need between samples.
#[derive(Debug)]
pub struct Reader {
    sys: System,
    /// Pids whose CPU has been sampled once (their next reading has a rate).
    primed: Vec<u32>,
    host_primed: bool,
}

fn proc_threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The soft open-files limit of `pid` (`None`: unreadable, or unlimited).
fn proc_max_fds(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

fn proc_fds(pid: u32) -> Result<u64, std::io::ErrorKind> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .map_err(|e| e.kind())
}

fn base(s: &std::ffi::OsStr) -> Option<String> {
    Path::new(s)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

impl Reader {
    pub fn new() -> Result<Self, ProcError> {
        Ok(Reader {
            sys: System::new().map_err(|e| ProcError::Error(e.to_string()))?,
            primed: Vec::new(),
            host_primed: false,
        })
    }

    /// The pid `selector` names now.
    pub fn resolve(&mut self, selector: &Selector) -> Result<u32, ProcError> {
        match selector {
            Selector::Pid(p) => Ok(*p),
            Selector::Pidfile(path) => std::fs::read_to_string(path)
                .map_err(|e| ProcError::NotFound(format!("pidfile {} ({e})", path.display())))?
                .trim()
                .parse()
                .map_err(|_| ProcError::NotFound(format!("a pid in {}", path.display()))),
            Selector::Name(name) => {
                self.sys.refresh_processes_specifics(
                    ProcessesToUpdate::All,
                    true,
                    ProcessRefreshKind::nothing().with_cmd(UpdateKind::OnlyIfNotSet),
                );
                let own = std::process::id();
                self.sys
                    .processes()
                    .iter()
                    .filter(|(pid, _)| pid.as_u32() != own)
                    .filter(|(_, p)| {
                        p.name().to_string_lossy() == name.as_str()
                            || p.cmd()
                                .iter()
                                .take(2)
                                .any(|c| base(c).as_deref() == Some(name))
                    })
                    .map(|(pid, _)| pid.as_u32())
                    .min()
                    .ok_or_else(|| ProcError::NotFound(format!("name {name:?}")))
            }
        }
    }

    /// Memory, CPU, threads and fds of `pid`.
    pub fn process(&mut self, pid: u32) -> Result<ProcReading, ProcError> {
        let spid = Pid::from_u32(pid);
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[spid]),
            true,
            ProcessRefreshKind::nothing().with_memory().with_cpu(),
        );
        let p = self
            .sys
            .process(spid)
            .ok_or_else(|| ProcError::NotFound(format!("pid {pid}")))?;
        let primed = self.primed.contains(&pid);
        let (fds, fds_denied) = match proc_fds(pid) {
            Ok(n) => (Some(n), false),
            Err(std::io::ErrorKind::PermissionDenied) => (None, true),
            Err(_) => (None, false),
        };
        let reading = ProcReading {
            pid,
            start_time: p.start_time(),
            rss: p.memory(),
            virt: p.virtual_memory(),
            cpu_cores: primed.then(|| f64::from(p.cpu_usage()) / 100.0),
            threads: proc_threads(pid),
            fds,
            fds_denied,
            max_fds: proc_max_fds(pid),
        };
        if !primed {
            // A bounded list: the daemon and at most one target.
            if self.primed.len() >= 8 {
                self.primed.remove(0);
            }
            self.primed.push(pid);
        }
        Ok(reading)
    }

    /// [`Reader::process`] of `pid`, with the memory of every descendant added to its resident
    /// and virtual memory: vLLM's engine core, SGLang's schedulers and TGI's shards are child
    /// processes of the API server one names.
    pub fn process_tree(&mut self, pid: u32) -> Result<ProcReading, ProcError> {
        let mut r = self.process(pid)?;
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        let procs = self.sys.processes();
        let root = Pid::from_u32(pid);
        let descends = |mut p: Pid| {
            // Bounded walk up the parent chain (a cycle would be a kernel bug, not a hang).
            for _ in 0..64 {
                match procs.get(&p).and_then(|x| x.parent()) {
                    Some(parent) if parent == root => return true,
                    Some(parent) => p = parent,
                    None => return false,
                }
            }
            false
        };
        for (child, proc_) in procs {
            // sysinfo lists a process's threads as tasks whose parent is the process: they share
            // its memory, which is counted once already.
            if *child != root && proc_.thread_kind().is_none() && descends(*child) {
                r.rss += proc_.memory();
                r.virt += proc_.virtual_memory();
            }
        }
        Ok(r)
    }

    pub fn host(&mut self) -> HostReading {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        let cpu = self
            .host_primed
            .then(|| f64::from(self.sys.global_cpu_usage()) / 100.0);
        self.host_primed = true;
        HostReading {
            cpu,
            memory_used: self.sys.used_memory(),
            memory_available: self.sys.available_memory(),
            memory_total: self.sys.total_memory(),
            load: System::load_average()
                .ok()
                .map(|l| [l.one, l.five, l.fifteen]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_tree_counts_its_childrens_memory_and_its_threads_once() {
        // Threads of this process: sysinfo lists them as tasks, which share its memory.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::park_timeout(std::time::Duration::from_millis(20));
                    }
                })
            })
            .collect();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("sleep");
        let mut r = Reader::new().unwrap();
        let me = std::process::id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let (alone, tree) = loop {
            let alone = r.process(me).unwrap();
            let tree = r.process_tree(me).unwrap();
            // The child's pages (its binary, its stack) are resident once it has started.
            if tree.rss > alone.rss || std::time::Instant::now() > deadline {
                break (alone, tree);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let _ = child.kill();
        let _ = child.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        assert!(tree.rss > alone.rss, "{tree:?} vs {alone:?}");
        // `sleep` is a few MiB; five more copies of this process's memory would be the threads.
        assert!(tree.rss - alone.rss < 8 << 20, "{tree:?} vs {alone:?}");
        assert!(tree.virt > alone.virt);
        assert_eq!(tree.pid, alone.pid);
    }
}
