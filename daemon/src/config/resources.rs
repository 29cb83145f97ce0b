//! `[resources]` (the sampler: interval, host, GPU, the target server's process) and
//! `[baseline]` (drift baselines: warm-up, window, minimum samples, where they are persisted), as
//! data and their walks.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::Target;
use super::walk::{Val, Walk};

/// How the target server's process is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    Pid(u32),
    Pidfile(PathBuf),
    Name(String),
}

/// `[resources.target_process]`: the target server's process and the target its gauges name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetProcess {
    pub target: String,
    #[serde(flatten)]
    pub selector: Selector,
}

/// `[resources]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceConfig {
    #[serde(serialize_with = "super::ser_duration")]
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

/// `[baseline]`: after `warmup`, TTFT and TPOT over `window` become the run's fixed baseline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BaselineConfig {
    #[serde(serialize_with = "super::ser_duration")]
    pub warmup: Duration,
    #[serde(serialize_with = "super::ser_duration")]
    pub window: Duration,
    /// Fewest successful requests a scenario's window needs to set its baseline; with fewer,
    /// it measures another window instead of fixing a baseline on noise.
    pub min_samples: u64,
    /// Where baselines survive a restart (default: systemd's `$STATE_DIRECTORY`, else none).
    #[serde(skip_serializing_if = "Option::is_none")]
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

pub(super) fn resources(
    w: &mut Walk<'_>,
    v: Option<Val<'_, '_>>,
    targets: &[Target],
) -> Option<ResourceConfig> {
    let d = ResourceConfig::default();
    let Some(v) = v else { return Some(d) };
    let mut t = v.table(w)?;
    let interval = t
        .get("interval")
        .map_or(Some(d.interval), |i| i.duration(w));
    let host = t.get("host").map_or(Some(true), |h| h.bool(w));
    let gpu = t.get("gpu").map_or(Some(true), |g| g.bool(w));
    let target_process = match t.get("target_process") {
        None => Some(None),
        Some(tp) => tp.table(w).and_then(|mut pt| {
            let target = match (pt.get("target"), targets) {
                (Some(n), _) => n.str(w).and_then(|n| {
                    if targets.iter().any(|x| x.name == n) {
                        Some(n.to_string())
                    } else {
                        let msg = format!("no [[target]] named {n:?}");
                        n_bad(w, &tp, "target", msg);
                        None
                    }
                }),
                (None, [one]) => Some(one.name.clone()),
                (None, _) => {
                    w.report(
                        "resources.target_process.target",
                        Some(tp.span()),
                        "is required when more than one [[target]] is configured",
                    );
                    None
                }
            };
            let (pid, pidfile, name) = (pt.get("pid"), pt.get("pidfile"), pt.get("name"));
            let chosen = [pid.is_some(), pidfile.is_some(), name.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            let selector = if chosen != 1 {
                tp.bad(w, "set exactly one of pid, pidfile or name");
                None
            } else if let Some(p) = pid {
                p.int_in(w, 1, i64::from(u32::MAX))
                    .map(|p| Selector::Pid(p as u32))
            } else if let Some(f) = pidfile {
                f.str(w).map(|f| Selector::Pidfile(PathBuf::from(f)))
            } else {
                name.and_then(|n| n.str(w))
                    .map(|n| Selector::Name(n.to_string()))
            };
            pt.finish(w, &["target", "pid", "pidfile", "name"], |_| None);
            Some(Some(TargetProcess {
                target: target?,
                selector: selector?,
            }))
        }),
    };
    t.finish(w, &["interval", "host", "gpu", "target_process"], |_| None);
    Some(ResourceConfig {
        interval: interval?,
        host: host?,
        gpu: gpu?,
        target_process: target_process?,
    })
}

fn n_bad(w: &mut Walk<'_>, parent: &Val<'_, '_>, key: &str, msg: String) {
    w.report(&format!("{}.{key}", parent.path), Some(parent.span()), msg);
}

pub(super) fn baseline(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<BaselineConfig> {
    let d = BaselineConfig::defaults(&|k| w.env(k));
    let Some(v) = v else { return Some(d) };
    let mut t = v.table(w)?;
    let warmup = t
        .get("warmup")
        .map_or(Some(d.warmup), |x| x.duration_or_zero(w));
    let window = t.get("window").map_or(Some(d.window), |x| x.duration(w));
    let min_samples = t.get("min_samples").map_or(Some(d.min_samples), |x| {
        x.int_in(w, 1, i64::MAX).map(|n| n as u64)
    });
    let state_dir = match t.get("state_dir") {
        None => Some(d.state_dir),
        Some(s) => s.str(w).map(|s| Some(PathBuf::from(s))),
    };
    t.finish(w, &["warmup", "window", "min_samples", "state_dir"], |_| {
        None
    });
    Some(BaselineConfig {
        warmup: warmup?,
        window: window?,
        min_samples: min_samples?,
        state_dir: state_dir?,
    })
}
