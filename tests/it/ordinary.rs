//! The negative rehearsal: 26 hours of a healthy but realistic operation in one Prometheus — an
//! always-on canary whose memory warms up and whose baseline was frozen on a warm cache, a soak
//! with step-load phases whose target server restarts (new pid, memory from zero, the model
//! loaded back onto the GPU) and which finishes as planned while its scrape target stays
//! configured, a nightly soak without a canary that finishes and leaves, an A/B soak of two
//! targets with different baselines, a sharded soak that loses one of its four shards, the
//! canary failing for 15 minutes, and unrelated vLLM and DCGM jobs whose queue, preemptions and
//! GPU memory grow. The shipped rules, unmodified, fire exactly three alerts — the target's
//! restart, the canary's failure, the missing shard — at the expected times, and nothing else
//! at any other checked time. Remove any guard from the rules and this test fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use llm_soak::metrics::run::NEVER;

use crate::rehearsal::{Firing, Series, fixed, promtool_test};

const M: usize = 26 * 60;
const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1024.0 * MIB;
const R_LABELS: &[(&str, &str)] = &[
    ("gen_ai_operation_name", "chat"),
    ("gen_ai_provider_name", "openai"),
    ("gen_ai_request_model", "m1"),
    ("server_address", "10.0.0.7"),
    ("server_port", "8000"),
];

/// A series over minutes 0..=M; `f` gives the value at a minute, `None` for no sample.
fn s(name: &str, labels: BTreeMap<String, String>, f: impl Fn(usize) -> Option<f64>) -> Series {
    Series {
        name: name.into(),
        labels,
        values: (0..=M).map(f).collect(),
    }
}

fn with(base: &BTreeMap<String, String>, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l = base.clone();
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

fn request_labels(target: &str, scenario: &str) -> Vec<(&'static str, String)> {
    let mut l: Vec<(&'static str, String)> =
        R_LABELS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    l.push(("llmsoak_target", target.to_string()));
    l.push(("llmsoak_scenario", scenario.to_string()));
    l
}

/// One llm-soak daemon: identity, planned end, scrape health, its own process, while `alive`.
/// `up_after` is what the scrape says once it is gone: `Some(0.0)` for a static scrape config,
/// `None` for a pod that left the endpoints.
struct Daemon {
    job: &'static str,
    instance: String,
    shard: String,
    shards: f64,
    planned_end: f64,
    alive: std::ops::Range<usize>,
    up_after: Option<f64>,
}

impl Daemon {
    fn labels(&self) -> BTreeMap<String, String> {
        fixed(&[("job", self.job), ("instance", &self.instance)])
    }

    fn on(&self, m: usize, v: f64) -> Option<f64> {
        self.alive.contains(&m).then_some(v)
    }

    fn series(&self, rss: impl Fn(usize) -> f64) -> Vec<Series> {
        let l = self.labels();
        let start = self.alive.start as f64 * 60.0;
        vec![
            s(
                "llmsoak_run_info",
                with(
                    &l,
                    &[("llmsoak_run_id", "r"), ("llmsoak_shard", &self.shard)],
                ),
                |m| self.on(m, 1.0),
            ),
            s(
                "llmsoak_run_planned_end_timestamp_seconds",
                l.clone(),
                |m| self.on(m, self.planned_end),
            ),
            s("llmsoak_run_shards", l.clone(), |m| self.on(m, self.shards)),
            s("llmsoak_run_start_time_seconds", l.clone(), |m| {
                self.on(m, start)
            }),
            s("up", l.clone(), |m| {
                if self.alive.contains(&m) {
                    Some(1.0)
                } else if m >= self.alive.end {
                    self.up_after
                } else {
                    None
                }
            }),
            s("process_resident_memory_bytes", l.clone(), |m| {
                self.on(m, rss(m - self.alive.start.min(m)))
            }),
            s("process_open_fds", l.clone(), |m| self.on(m, 60.0)),
            s("process_max_fds", l.clone(), |m| self.on(m, 65536.0)),
            s("llmsoak_concurrency_limit", l.clone(), |m| {
                self.on(m, 256.0)
            }),
            s("llmsoak_requests_in_flight", l.clone(), |m| self.on(m, 8.0)),
            s("llmsoak_config_last_reload_successful", l, |m| {
                self.on(m, 1.0)
            }),
        ]
    }

    /// Request series of one target and scenario: `per_min` requests a minute, of which `failed`
    /// fail, `tpot` and `ttft` at minute m, and the baseline llm-soak fixed for them.
    #[allow(clippy::too_many_arguments)]
    fn requests(
        &self,
        target: &str,
        scenario: &str,
        per_min: f64,
        failed: impl Fn(usize) -> f64,
        tpot: impl Fn(usize) -> f64,
        base_tpot: f64,
        ttft: f64,
    ) -> Vec<Series> {
        let mut l = self.labels();
        for (k, v) in request_labels(target, scenario) {
            l.insert(k.into(), v);
        }
        let from = self.alive.start;
        let cum = |f: &dyn Fn(usize) -> f64, m: usize| -> f64 { (from..m).map(f).sum() };
        let ok = |m: usize| per_min - failed(m);
        vec![
            s(
                "llmsoak_requests_total",
                with(&l, &[("outcome", "success")]),
                |m| self.on(m, cum(&ok, m)),
            ),
            s(
                "llmsoak_requests_total",
                with(&l, &[("outcome", "error"), ("error_type", "http_5xx")]),
                |m| self.on(m, cum(&failed, m)),
            ),
            s(
                "llmsoak_request_time_per_output_token_seconds_sum",
                l.clone(),
                |m| self.on(m, cum(&|k| ok(k) * tpot(k), m)),
            ),
            s(
                "llmsoak_request_time_per_output_token_seconds_count",
                l.clone(),
                |m| self.on(m, cum(&ok, m)),
            ),
            s(
                "llmsoak_request_time_to_first_token_seconds_sum",
                l.clone(),
                |m| self.on(m, cum(&ok, m) * ttft),
            ),
            s(
                "llmsoak_request_time_to_first_token_seconds_count",
                l.clone(),
                |m| self.on(m, cum(&ok, m)),
            ),
            s(
                "llmsoak_request_time_to_first_token_seconds_bucket",
                with(&l, &[("le", "1")]),
                |m| self.on(m, cum(&ok, m)),
            ),
            s(
                "llmsoak_baseline_time_per_output_token_seconds",
                with(&l, &[("stat", "mean")]),
                |m| self.on(m, base_tpot),
            ),
            s(
                "llmsoak_baseline_time_to_first_token_seconds",
                with(&l, &[("stat", "mean")]),
                |m| self.on(m, ttft),
            ),
        ]
    }
}

const RESTART_AT: usize = 6 * 60;
const CANARY_FAIL: std::ops::Range<usize> = 14 * 60..14 * 60 + 15;
const SHARD_DIES: usize = 20 * 60;

fn history() -> Vec<Series> {
    let mut out = Vec::new();
    // The always-on canary: memory warms up (fast, then slower), the baseline was frozen on a
    // warm cache at the pod's start (15 ms) while its TPOT is 20 ms, and it fails for 15 min.
    let canary = Daemon {
        job: "llm-soak-canary",
        instance: "canary-0:9464".into(),
        shard: "0/1".into(),
        shards: 1.0,
        planned_end: NEVER,
        alive: 0..M + 1,
        up_after: None,
    };
    out.extend(canary.series(|m| (60.0 + 25.0 * (1.0 + m as f64 / 10.0).ln()) * MIB));
    let cl = canary.labels();
    let failing = |m: usize| CANARY_FAIL.contains(&m);
    out.push(s(
        "llmsoak_canary_probes_total",
        with(&cl, &[("outcome", "success")]),
        |m| Some((0..m).filter(|k| !failing(*k)).count() as f64),
    ));
    out.push(s(
        "llmsoak_canary_probes_total",
        with(&cl, &[("outcome", "failure")]),
        |m| Some((0..m).filter(|k| failing(*k)).count() as f64),
    ));
    out.push(s(
        "llmsoak_canary_last_success_timestamp_seconds",
        cl,
        |m| {
            let last = if CANARY_FAIL.contains(&m) {
                CANARY_FAIL.start
            } else {
                m
            };
            Some(last as f64 * 60.0)
        },
    ));
    out.extend(canary.requests(
        "vllm",
        "canary",
        1.0,
        |m| if failing(m) { 1.0 } else { 0.0 },
        |_| 0.020,
        0.015,
        0.1,
    ));

    // The release soak: 12 h, planned to end then, on a static scrape config (up = 0 after it
    // exits); step-load phases raise its memory 40 MiB every 2 h for 8 h.
    let soak = Daemon {
        job: "llm-soak-soak",
        instance: "soak-0:9464".into(),
        shard: "0/1".into(),
        shards: 1.0,
        planned_end: 12.0 * 3600.0,
        alive: 0..12 * 60,
        up_after: Some(0.0),
    };
    out.extend(soak.series(|m| (150.0 + 40.0 * (m / 120).min(4) as f64) * MIB));
    out.extend(soak.requests("vllm", "steady", 600.0, |_| 0.0, |_| 0.020, 0.020, 0.15));
    let sl = soak.labels();
    let target = with(&sl, &[("llmsoak_target", "vllm")]);
    // Its target restarts at 6 h: a new pid, memory from zero, fast and then slower (caches and
    // the allocator warming up, still a few % an hour after an hour), and the model loaded back
    // onto the GPU 20 min later (vLLM takes ~90 % at once).
    out.push(s(
        "llmsoak_target_process_memory_usage_bytes",
        target.clone(),
        |m| {
            soak.on(m, {
                if m < RESTART_AT {
                    4.0 * GIB
                } else {
                    4.0 * GIB * (1.0 - (-((m - RESTART_AT) as f64) / 60.0).exp())
                }
            })
        },
    ));
    out.push(s("llmsoak_target_process_restarts_total", target, |m| {
        soak.on(m, if m < RESTART_AT { 0.0 } else { 1.0 })
    }));
    let gpu = with(
        &sl,
        &[("hw_id", "GPU-0"), ("hw_name", "NVIDIA H100 80GB HBM3")],
    );
    out.push(s("hw_gpu_memory_usage_bytes", gpu.clone(), |m| {
        soak.on(
            m,
            if (RESTART_AT..RESTART_AT + 20).contains(&m) {
                0.5 * GIB
            } else {
                72.0 * GIB
            },
        )
    }));
    out.push(s("hw_gpu_memory_limit_bytes", gpu.clone(), |m| {
        soak.on(m, 79.6 * GIB)
    }));
    out.push(s("hw_gpu_clock_sm_hertz", gpu.clone(), |m| {
        soak.on(m, 1.98e9)
    }));
    out.push(s("hw_gpu_utilization_ratio", gpu, |m| soak.on(m, 0.8)));
    out.push(s(
        "llmsoak_probe_status",
        with(&sl, &[("probe", "gpu")]),
        |m| soak.on(m, 0.0),
    ));
    out.push(s(
        "llmsoak_probe_success",
        with(&sl, &[("probe", "gpu")]),
        |m| soak.on(m, 1.0),
    ));

    // A nightly soak without a canary, in Kubernetes: 2 h to 4 h, then its pod is gone.
    let nightly = Daemon {
        job: "llm-soak-nightly",
        instance: "nightly-0:9464".into(),
        shard: "0/1".into(),
        shards: 1.0,
        planned_end: 4.0 * 3600.0,
        alive: 2 * 60..4 * 60,
        up_after: None,
    };
    out.extend(nightly.series(|_| 120.0 * MIB));
    out.extend(nightly.requests("vllm", "nightly", 120.0, |_| 0.0, |_| 0.020, 0.020, 0.15));

    // An A/B soak from 8 h: two targets, each at its own baseline (20 ms and 40 ms).
    let ab = Daemon {
        job: "llm-soak-ab",
        instance: "ab-0:9464".into(),
        shard: "0/1".into(),
        shards: 1.0,
        planned_end: NEVER,
        alive: 8 * 60..M + 1,
        up_after: None,
    };
    out.extend(ab.series(|_| 130.0 * MIB));
    out.extend(ab.requests("vllm-a", "ab", 300.0, |_| 0.0, |_| 0.020, 0.020, 0.12));
    out.extend(ab.requests("vllm-b", "ab", 300.0, |_| 0.0, |_| 0.040, 0.040, 0.30));

    // A four-shard soak from 16 h; shard 2 dies at 20 h (its pod gone), the others go on.
    for i in 0..4 {
        let shard = Daemon {
            job: "llm-soak-sharded",
            instance: format!("shard-{i}:9464"),
            shard: format!("{i}/4"),
            shards: 4.0,
            planned_end: NEVER,
            alive: 16 * 60..if i == 2 { SHARD_DIES } else { M + 1 },
            up_after: None,
        };
        out.extend(shard.series(|_| 140.0 * MIB));
    }

    // The engine under test (healthy) and, in the same Prometheus, another vLLM and another
    // DCGM exporter whose queue, preemptions and GPU memory grow: never ours to page on.
    for (job, instance, grows) in [
        ("vllm", "vllm-0:8000", false),
        ("vllm-other", "other-0:8000", true),
    ] {
        let l = fixed(&[("job", job), ("instance", instance), ("model_name", "m1")]);
        out.push(s("vllm:num_requests_waiting", l.clone(), |m| {
            Some(if grows { m as f64 / 10.0 } else { 0.0 })
        }));
        out.push(s("vllm:num_preemptions_total", l.clone(), |m| {
            Some(if grows { m as f64 * 3.0 } else { 0.0 })
        }));
        out.push(s("vllm:kv_cache_usage_perc", l, |_| {
            Some(if grows { 0.99 } else { 0.97 })
        }));
    }
    for (job, instance, uuid, grows) in [
        ("dcgm-exporter", "node-0:9400", "GPU-0", false),
        ("dcgm-other", "node-9:9400", "GPU-9", true),
    ] {
        let l = fixed(&[
            ("job", job),
            ("instance", instance),
            ("gpu", "0"),
            ("UUID", uuid),
        ]);
        let used = move |m: usize| {
            if grows {
                10_000.0 + m as f64 * 50.0
            } else {
                72_000.0
            }
        };
        out.push(s("DCGM_FI_DEV_FB_USED", l.clone(), move |m| Some(used(m))));
        out.push(s("DCGM_FI_DEV_FB_FREE", l, move |m| {
            Some(81_559.0 - used(m))
        }));
    }
    out
}

/// The alerts that must be firing at minute `at`, with their labels and `$value` text.
fn expected(at: usize) -> Vec<Firing> {
    let mut out = Vec::new();
    if (RESTART_AT..RESTART_AT + 10).contains(&at) {
        out.push((
            "LlmTargetRestarted",
            fixed(&[
                ("job", "llm-soak-soak"),
                ("instance", "soak-0:9464"),
                ("llmsoak_target", "vllm"),
            ]),
            None,
        ));
    }
    // No success for more than 10 min, until the first success after the failure.
    if at > CANARY_FAIL.start + 10 && at < CANARY_FAIL.end {
        out.push((
            "LlmSoakCanaryFailing",
            fixed(&[("job", "llm-soak-canary"), ("instance", "canary-0:9464")]),
            Some(format!("{}m 0s", at - CANARY_FAIL.start)),
        ));
    }
    // Its series go stale 5 min after its last scrape, then `for: 5m`.
    if at >= SHARD_DIES + 12 {
        out.push((
            "LlmSoakShardMissing",
            fixed(&[("job", "llm-soak-sharded")]),
            None,
        ));
    }
    out
}

#[test]
fn an_ordinary_day_fires_only_the_restart_the_canary_failure_and_the_missing_shard() {
    // Every quarter hour of the day — warm-up, load steps, the restart and the model's reload, the
    // soak's planned end and after, the nightly soak's end, the canary failing and back, the
    // shard missing, the unrelated jobs' growth all along — and inside each expected alert.
    let mut checks: Vec<usize> = (1..=M / 15).map(|i| i * 15 - 1).collect();
    checks.extend([RESTART_AT + 5, CANARY_FAIL.start + 12, SHARD_DIES + 20]);
    checks.sort_unstable();
    promtool_test("ordinary", &history(), &checks, expected);
}
