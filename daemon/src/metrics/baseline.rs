//! Drift baselines: after `[baseline] warmup`, the TTFT and TPOT of every scenario's successful
//! requests sent during `[baseline] window` (exact HDR histograms, 2 significant digits) become
//! the run's fixed baseline, exported as `llmsoak.baseline.*` gauges (`stat` = mean, p50, p90)
//! with the sample count next to them. Drift alerts divide the live mean by it. A scenario whose
//! window saw fewer than `[baseline] min_samples` requests (a low-rate canary) keeps measuring,
//! window after window, until it has them: a baseline is never fixed on a handful of requests.
//! The gauges are observable: after a reset their series disappear (no baseline, so no drift
//! alert compares against a stale one) until the new window closes. The baseline is persisted in the state directory, keyed by scenario, target and model, so a restart in the
//! middle of a soak reuses it instead of re-baselining on a server that may already be degraded;
//! only `POST /api/v1/baseline/reset` (or removing the file) starts a new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableGauge};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Sink;
use super::catalogue as c;
use crate::config::BaselineConfig;
use crate::record::{Outcome, RequestRecord};
use crate::report::Hdr;

/// Requests sent in the window but still running this long (at most half the window) after it
/// are left out.
const GRACE: Duration = Duration::from_secs(10);
const STATE_FILE: &str = "baselines.json";

/// One quantity's baseline (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
}

/// A scenario's baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub ttft: Option<Stats>,
    pub tpot: Option<Stats>,
    pub samples: u64,
    /// Unix time it was computed (seconds).
    pub computed_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    baselines: BTreeMap<String, Baseline>,
}

fn hist() -> Hdr {
    Hdr::with_digits(2)
}

fn stats(h: &Hdr) -> Option<Stats> {
    Some(Stats {
        mean: h.mean()?,
        p50: h.quantile(0.5)?,
        p90: h.quantile(0.9)?,
    })
}

/// One scenario: its identity and either the window being measured or the result.
#[derive(Debug)]
struct Scope {
    key: String,
    ttft: Hdr,
    tpot: Hdr,
    samples: u64,
    /// The window: requests sent in `[from, until)` count (extended while too few came).
    from: Instant,
    until: Instant,
    done: Option<Baseline>,
}

/// Every scenario's baseline.
#[derive(Debug)]
pub struct Baselines {
    scopes: Vec<Scope>,
    warmup: Duration,
    window: Duration,
    min_samples: u64,
    state: Option<PathBuf>,
    /// What the gauges report: each scope's labels and baseline, once it has one.
    published: Published,
    _gauges: [ObservableGauge<f64>; 3],
}

/// Each scope's labels and its baseline, once it has one: what the gauges report.
type Published = Arc<Mutex<Vec<(Vec<KeyValue>, Option<Baseline>)>>>;

/// The three baseline gauges, reporting whatever `published` holds at each collection.
fn gauges(meter: &Meter, published: &Published) -> [ObservableGauge<f64>; 3] {
    let stats_gauge = |inst: c::Instrument, pick: fn(&Baseline) -> Option<Stats>| {
        let published = Arc::clone(published);
        inst.observable_gauge(meter, move |o| {
            let Ok(p) = published.lock() else { return };
            for (labels, b) in p.iter() {
                let Some(st) = b.as_ref().and_then(pick) else {
                    continue;
                };
                for (name, v) in [("mean", st.mean), ("p50", st.p50), ("p90", st.p90)] {
                    let mut l = labels.clone();
                    l.push(KeyValue::new("stat", name));
                    o.observe(v, &l);
                }
            }
        })
    };
    let samples = {
        let published = Arc::clone(published);
        c::BASELINE_SAMPLES.observable_gauge(meter, move |o| {
            let Ok(p) = published.lock() else { return };
            for (labels, b) in p.iter() {
                if let Some(b) = b {
                    o.observe(b.samples as f64, labels);
                }
            }
        })
    };
    [
        stats_gauge(c::BASELINE_TTFT, |b| b.ttft),
        stats_gauge(c::BASELINE_TPOT, |b| b.tpot),
        samples,
    ]
}

/// Each request scope's baseline key, `scenario|target|base_url|model` (the canary's last): a
/// persisted baseline is reused only for the same scenario against the same server and model.
pub fn scope_keys(config: &crate::config::Config) -> Vec<String> {
    config
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.target.index, s.model.as_str()))
        .chain(config.canary.iter().map(|c| {
            (
                crate::config::canary::SCENARIO,
                c.target.index,
                config.targets[c.target.index].model.as_str(),
            )
        }))
        .map(|(name, t, model)| {
            let t = &config.targets[t];
            format!("{name}|{}|{}|{model}", t.name, t.base_url)
        })
        .collect()
}

impl Baselines {
    /// `scopes`: (key, labels) per scenario index; the window is
    /// `[start + warmup, start + warmup + window)`, extended by whole windows until it holds
    /// `min_samples` requests.
    pub fn new(
        meter: &Meter,
        scopes: Vec<(String, Vec<KeyValue>)>,
        start: Instant,
        config: &BaselineConfig,
    ) -> Self {
        let (warmup, window) = (config.warmup, config.window);
        let from = start + warmup;
        let published = Arc::new(Mutex::new(
            scopes.iter().map(|(_, l)| (l.clone(), None)).collect(),
        ));
        let mut b = Baselines {
            scopes: scopes
                .into_iter()
                .map(|(key, _)| Scope {
                    key,
                    ttft: hist(),
                    tpot: hist(),
                    samples: 0,
                    from,
                    until: from + window,
                    done: None,
                })
                .collect(),
            warmup,
            window,
            min_samples: config.min_samples.max(1),
            state: config
                .state_dir
                .as_deref()
                .map(|d: &Path| d.join(STATE_FILE)),
            _gauges: gauges(meter, &published),
            published,
        };
        b.restore();
        b
    }

    fn restore(&mut self) {
        let Some(path) = self.state.clone() else {
            return;
        };
        let saved: StateFile = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable baseline state file");
                    return;
                }
            },
            Err(_) => return,
        };
        let mut restored = 0;
        for i in 0..self.scopes.len() {
            if let Some(b) = saved.baselines.get(&self.scopes[i].key).cloned() {
                self.publish(i, b);
                restored += 1;
            }
        }
        if restored > 0 {
            tracing::info!(path = %path.display(), restored, "drift baselines restored from the state directory (not re-measured)");
        }
    }

    fn publish(&mut self, i: usize, b: Baseline) {
        if let Ok(mut p) = self.published.lock()
            && let Some(slot) = p.get_mut(i)
        {
            slot.1 = Some(b.clone());
        }
        self.scopes[i].done = Some(b);
    }

    /// A finished request (its scenario's window, if still open, takes it).
    pub fn observe(&mut self, rec: &RequestRecord) {
        let Some(s) = self.scopes.get_mut(rec.scenario) else {
            return;
        };
        if s.done.is_some() || rec.sent_at < s.from || rec.sent_at >= s.until {
            return;
        }
        if rec.outcome != Outcome::Success {
            return;
        }
        s.samples += 1;
        if let Some(t) = rec.ttft() {
            s.ttft.record(t);
        }
        if let Some(t) = rec.tpot() {
            s.tpot.record(t);
        }
    }

    /// Close each window once it (and its grace) has passed: compute, export, persist — or,
    /// with fewer than `min_samples` requests in it, extend it by another window.
    pub fn tick(&mut self, now: Instant) {
        let grace = GRACE.min(self.window / 2);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut changed = false;
        for i in 0..self.scopes.len() {
            let s = &mut self.scopes[i];
            if s.done.is_some() || now < s.until + grace {
                continue;
            }
            if s.samples < self.min_samples {
                if s.samples > 0 {
                    tracing::info!(key = %s.key, samples = s.samples, min_samples = self.min_samples, "too few requests for a drift baseline yet: measuring another window");
                }
                s.until += self.window;
                continue;
            }
            let s = &self.scopes[i];
            let b = Baseline {
                ttft: stats(&s.ttft),
                tpot: stats(&s.tpot),
                samples: s.samples,
                computed_at: unix,
            };
            tracing::info!(key = %s.key, samples = b.samples, "drift baseline set");
            self.publish(i, b);
            changed = true;
        }
        if changed {
            self.persist();
        }
    }

    fn persist(&self) {
        let Some(path) = &self.state else { return };
        let state = StateFile {
            version: 1,
            baselines: self
                .scopes
                .iter()
                .filter_map(|s| s.done.clone().map(|b| (s.key.clone(), b)))
                .collect(),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::files::write_json_atomic(path, &state, true)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "cannot persist the drift baselines");
        }
    }

    /// Forget every baseline (and the persisted ones) and measure again: warm-up from `now`.
    /// Until then the gauges read NaN: no baseline, so no drift is judged against a stale one.
    pub fn reset(&mut self, now: Instant) {
        let from = now + self.warmup;
        for s in &mut self.scopes {
            s.done = None;
            s.samples = 0;
            s.ttft.reset();
            s.tpot.reset();
            s.from = from;
            s.until = from + self.window;
        }
        if let Ok(mut p) = self.published.lock() {
            for slot in p.iter_mut() {
                slot.1 = None;
            }
        }
        if let Some(p) = &self.state {
            let _ = std::fs::remove_file(p);
        }
    }

    /// The baselines set so far, by scenario key.
    pub fn current(&self) -> BTreeMap<String, Baseline> {
        self.scopes
            .iter()
            .filter_map(|s| s.done.clone().map(|b| (s.key.clone(), b)))
            .collect()
    }
}

/// The recorder's sink that feeds the baselines (one lock, taken once per request).
#[derive(Debug)]
pub struct BaselineSink(Mutex<Baselines>);

impl BaselineSink {
    pub fn new(b: Baselines) -> Self {
        BaselineSink(Mutex::new(b))
    }

    /// Close the baseline window when its time has come.
    pub fn tick(&self, now: Instant) {
        if let Ok(mut b) = self.0.lock() {
            b.tick(now);
        }
    }

    /// Forget the baselines and measure them again (after the configured warm-up).
    pub fn reset(&self, now: Instant) -> bool {
        match self.0.lock() {
            Ok(mut b) => {
                b.reset(now);
                true
            }
            Err(_) => false,
        }
    }

    /// The baselines set so far, by scenario key.
    pub fn current(&self) -> BTreeMap<String, Baseline> {
        self.0.lock().map(|b| b.current()).unwrap_or_default()
    }

    /// The baselines set so far as the report carries them, by scenario name (the first part
    /// of the key, see [`scope_keys`]).
    pub fn report(&self) -> Vec<crate::report::DriftBaseline> {
        self.current()
            .into_iter()
            .map(|(key, b)| crate::report::DriftBaseline {
                scenario: key.split('|').next().unwrap_or_default().to_string(),
                ttft_mean: b.ttft.map(|s| s.mean),
                ttft_p50: b.ttft.map(|s| s.p50),
                tpot_mean: b.tpot.map(|s| s.mean),
                tpot_p50: b.tpot.map(|s| s.p50),
                samples: b.samples,
                computed_at: b.computed_at,
            })
            .collect()
    }
}

impl Sink for BaselineSink {
    fn finished(&self, rec: &RequestRecord, _slo: Option<crate::config::slo::Judgement>) {
        if let Ok(mut b) = self.0.lock() {
            b.observe(rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_record;

    fn config(warmup: u64, window: u64, min: u64, dir: Option<&Path>) -> BaselineConfig {
        BaselineConfig {
            warmup: Duration::from_secs(warmup),
            window: Duration::from_secs(window),
            min_samples: min,
            state_dir: dir.map(Path::to_path_buf),
        }
    }

    fn scopes() -> Vec<(String, Vec<KeyValue>)> {
        vec![(
            "chat|t|m".to_string(),
            vec![KeyValue::new("llmsoak.scenario", "chat")],
        )]
    }

    #[test]
    fn the_window_sets_the_baseline_once_and_a_restart_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let (meter, _) = crate::metrics::test_meter();
        let t0 = Instant::now();
        let mut b = Baselines::new(&meter, scopes(), t0, &config(10, 20, 3, Some(dir.path())));
        for (at, ms) in [(5, 900), (12, 100), (15, 200), (29, 300), (31, 5000)] {
            b.observe(&test_record(
                t0 + Duration::from_secs(at),
                Duration::from_millis(ms),
                true,
            ));
        }
        b.observe(&test_record(
            t0 + Duration::from_secs(14),
            Duration::from_millis(50),
            false,
        ));
        b.tick(t0 + Duration::from_secs(35));
        assert!(b.current().is_empty(), "still within the grace period");
        b.tick(t0 + Duration::from_secs(45));
        let got = b.current()["chat|t|m"].clone();
        // Only the three successes sent inside [10 s, 30 s): not the warm-up, not after.
        assert_eq!(got.samples, 3);
        let ttft = got.ttft.unwrap();
        assert!((ttft.mean - 0.2).abs() < 0.002, "{ttft:?}");
        assert!((got.tpot.unwrap().mean - 0.01).abs() < 0.0002);
        // A restarted daemon (its own meter) finds it and does not measure again.
        let (meter, registry) = crate::metrics::test_meter();
        let mut again = Baselines::new(
            &meter,
            scopes(),
            Instant::now(),
            &config(0, 1, 1, Some(dir.path())),
        );
        assert_eq!(again.current()["chat|t|m"], got);
        again.observe(&test_record(Instant::now(), Duration::from_secs(9), true));
        again.tick(Instant::now() + Duration::from_secs(60));
        assert_eq!(again.current()["chat|t|m"], got);
        let text = crate::metrics::test_encode(&registry);
        assert!(
            text.contains("llmsoak_baseline_time_to_first_token_seconds{"),
            "{text}"
        );
        // A reset forgets it, on disk too, and the gauges' series disappear (no baseline).
        again.reset(Instant::now());
        assert!(again.current().is_empty());
        assert!(!dir.path().join(STATE_FILE).exists());
        let text = crate::metrics::test_encode(&registry);
        assert!(!text.contains("llmsoak_baseline_"), "{text}");
    }

    #[test]
    fn too_few_requests_extend_the_window_until_there_are_enough() {
        let (meter, _) = crate::metrics::test_meter();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Warm-up 0, window 20 s, at least 4 requests: a canary-like trickle of one per 8 s.
        let mut b = Baselines::new(&meter, scopes(), t0, &config(0, 20, 4, None));
        for s in [1, 9, 17] {
            b.observe(&test_record(at(s), Duration::from_millis(100), true));
        }
        b.tick(at(35));
        assert!(b.current().is_empty(), "three requests are not a baseline");
        for s in [25, 33] {
            b.observe(&test_record(at(s), Duration::from_millis(300), true));
        }
        b.tick(at(55));
        let got = b.current()["chat|t|m"].clone();
        assert_eq!(got.samples, 5, "the first window and its extension");
        assert!((got.ttft.unwrap().mean - 0.18).abs() < 0.002);
    }
}
