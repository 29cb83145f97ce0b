//! `[resources]` (the sampler: interval, host, GPU, the target server's process) and
//! `[baseline]` (drift baselines: warm-up, window, minimum samples, where they are persisted), as
//! data and their walks.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::forms::{self, dur, dur0};
use super::{Target, TargetRef};

/// How the target server's process is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    Pid(u32),
    Pidfile(PathBuf),
    Name(String),
}

/// `[resources.target_process]`: the target server's process (`pid`, `pidfile` or `name`) and
/// the target its gauges name (unset: the only one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetProcess {
    #[serde(default)]
    pub target: TargetRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pidfile: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl TargetProcess {
    /// The process `selector` finds, named as target `target`'s.
    pub fn new(target: &str, selector: Selector) -> Self {
        let mut tp = TargetProcess {
            target: TargetRef::from(target.to_string()),
            pid: None,
            pidfile: None,
            name: None,
        };
        match selector {
            Selector::Pid(p) => tp.pid = Some(i64::from(p)),
            Selector::Pidfile(f) => tp.pidfile = Some(f),
            Selector::Name(n) => tp.name = Some(n),
        }
        tp
    }

    /// How the process is found.
    pub fn selector(&self) -> Selector {
        match (self.pid, &self.pidfile, &self.name) {
            (_, Some(f), _) => Selector::Pidfile(f.clone()),
            (_, _, Some(n)) => Selector::Name(n.clone()),
            (p, _, _) => Selector::Pid(p.map_or(0, |p| p as u32)),
        }
    }
}

/// `[resources]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    #[serde(with = "dur")]
    pub interval: Duration,
    pub host: bool,
    pub gpu: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_process: Option<TargetProcess>,
}

impl Default for ResourceConfig {
    fn default() -> Self {
        ResourceConfig {
            interval: Duration::from_secs(10),
            host: true,
            gpu: true,
            target_process: None,
        }
    }
}

impl ResourceConfig {
    pub(super) fn check(&mut self, c: &mut Check<'_>, targets: &[Target]) {
        let Some(tp) = &mut self.target_process else {
            return;
        };
        let at = "resources.target_process";
        if !targets.is_empty() {
            tp.target
                .resolve(c, &format!("{at}.target"), targets, false);
        }
        let chosen = [tp.pid.is_some(), tp.pidfile.is_some(), tp.name.is_some()];
        if chosen.iter().filter(|x| **x).count() != 1 {
            c.bad(at, "set exactly one of pid, pidfile or name");
        }
        if let Some(p) = tp.pid {
            c.int_in(&format!("{at}.pid"), p, 1, i128::from(u32::MAX));
        }
    }
}

/// `[baseline]`: after `warmup`, TTFT and TPOT over `window` become the run's fixed baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    #[serde(default = "forms::secs::<600>", with = "dur0")]
    pub warmup: Duration,
    #[serde(default = "forms::secs::<600>", with = "dur")]
    pub window: Duration,
    /// Fewest successful requests a scenario's window needs to set its baseline; with fewer,
    /// it measures another window instead of fixing a baseline on noise.
    #[serde(default = "forms::int::<30, _>")]
    pub min_samples: u64,
    /// Where baselines survive a restart (default: systemd's `$STATE_DIRECTORY`, else none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
}

impl BaselineConfig {
    pub fn defaults(env: &dyn Fn(&str) -> Option<String>) -> Self {
        BaselineConfig {
            warmup: Duration::from_secs(600),
            window: Duration::from_secs(600),
            min_samples: 30,
            state_dir: env("STATE_DIRECTORY")
                .filter(|s| !s.is_empty())
                // systemd may list several, separated by colons: the first is ours.
                .map(|s| PathBuf::from(s.split(':').next().unwrap_or_default())),
        }
    }
}

impl Default for BaselineConfig {
    /// The defaults without the environment (the check adds `$STATE_DIRECTORY`).
    fn default() -> Self {
        BaselineConfig::defaults(&|_| None)
    }
}

impl BaselineConfig {
    pub(super) fn check(&mut self, c: &mut Check<'_>) {
        c.int_in(
            "baseline.min_samples",
            self.min_samples,
            1,
            i128::from(i64::MAX),
        );
        if self.state_dir.is_none() {
            self.state_dir = BaselineConfig::defaults(&|k| c.env(k)).state_dir;
        }
    }
}
