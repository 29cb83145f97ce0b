//! The alert rehearsal: 26 hours of generated history — label sets taken from a real scrape of
//! llm-soak, plus GPU, DCGM and vLLM series — with a client memory leak injected at 20 h and a
//! TPOT drift at 22 h. The shipped rules, unmodified, fire exactly the expected alerts at the
//! expected times and no other (promtool test rules on the series), and the same series
//! backfilled into a real Prometheus (promtool tsdb create-blocks-from openmetrics, recording
//! rules backfilled with create-blocks-from rules) answer every dashboard query a short live run
//! cannot: GPU, DCGM, and day-over-day.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::common::artefacts::*;
use crate::common::prometheus::Prometheus;
use crate::common::*;

const MINUTES: usize = 26 * 60;
const MIB: f64 = 1_048_576.0;
const LEAK_AT: usize = 20 * 60;
const DRIFT_AT: usize = 22 * 60;

pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// One value per minute, 0..=MINUTES (`None`: no sample).
    pub(crate) values: Vec<Option<f64>>,
}

fn labels_of(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> BTreeMap<String, String> {
    let s = samples
        .iter()
        .find(|s| {
            s.name == name
                && filter
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("{name} {filter:?} not in the captured scrape"));
    let mut l = s.labels.clone();
    l.insert("job".into(), "llm-soak".into());
    l.insert("instance".into(), "soak-0:9464".into());
    l
}

/// A series with the label set `name` has in the captured scrape (matching `filter`).
fn from_scrape(
    s: &[Sample],
    name: &str,
    filter: &[(&str, &str)],
    f: impl Fn(usize) -> f64,
) -> Series {
    series(name, labels_of(s, name, filter), f)
}

pub(crate) fn series(
    name: &str,
    labels: BTreeMap<String, String>,
    f: impl Fn(usize) -> f64,
) -> Series {
    Series {
        name: name.into(),
        labels,
        values: (0..=MINUTES).map(|m| Some(f(m))).collect(),
    }
}

pub(crate) fn fixed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Capture a real scrape: llm-soak against the simulator, with a canary and a baseline.
fn captured() -> Vec<Sample> {
    let (sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 20 }",
        "input_tokens = 16\noutput_tokens = 8",
    ) + &format!(
        "\n[canary]\ninterval = \"200ms\"\n[baseline]\nwarmup = \"0s\"\nwindow = \"1s\"\nmin_samples = 5\n[resources]\ninterval = \"200ms\"\ntarget_process = {{ pid = {} }}\n",
        sim.child.id()
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s) = scrape(addr);
        let ready = [
            "llmsoak_baseline_time_per_output_token_seconds",
            "llmsoak_target_process_memory_usage_bytes",
        ]
        .iter()
        .all(|n| s.iter().any(|x| x.name == *n))
            && s.iter().any(|x| {
                x.name == "llmsoak_request_time_per_output_token_seconds_count"
                    && x.labels.get("llmsoak_scenario").map(String::as_str) == Some("canary")
            });
        if ready {
            return s;
        }
        assert!(Instant::now() < deadline, "the scrape never had everything");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn history(s: &[Sample]) -> Vec<Series> {
    let s1 = [("llmsoak_scenario", "s1")];
    let canary = [("llmsoak_scenario", "canary")];
    let tpot_sum = "llmsoak_request_time_per_output_token_seconds_sum";
    let tpot_count = "llmsoak_request_time_per_output_token_seconds_count";
    // TPOT 20 ms, 25 ms after DRIFT_AT; 600 requests a minute.
    let tpot = |m: usize| {
        let before = m.min(DRIFT_AT) as f64 * 600.0 * 0.02;
        before + m.saturating_sub(DRIFT_AT) as f64 * 600.0 * 0.025
    };
    let mut base_labels = labels_of(
        s,
        "llmsoak_baseline_time_per_output_token_seconds",
        &[("llmsoak_scenario", "s1"), ("stat", "mean")],
    );
    base_labels.insert("stat".into(), "mean".into());
    let gpu = fixed(&[
        ("job", "llm-soak"),
        ("instance", "soak-0:9464"),
        ("hw_id", "GPU-52f3657d"),
        ("hw_name", "NVIDIA H100 80GB HBM3"),
    ]);
    let vllm = fixed(&[
        ("job", "vllm"),
        ("instance", "vllm-0:8000"),
        ("model_name", "llm-soak-sim"),
    ]);
    let dcgm = fixed(&[
        ("job", "dcgm-exporter"),
        ("instance", "node-0:9400"),
        ("gpu", "0"),
        ("UUID", "GPU-52f3657d"),
    ]);
    let with = |base: &BTreeMap<String, String>, k: &str, v: &str| {
        let mut l = base.clone();
        l.insert(k.into(), v.into());
        l
    };
    vec![
        from_scrape(s, "llmsoak_run_info", &[], |_| 1.0),
        series(
            "up",
            fixed(&[("job", "llm-soak"), ("instance", "soak-0:9464")]),
            |_| 1.0,
        ),
        series(
            "up",
            fixed(&[("job", "vllm"), ("instance", "vllm-0:8000")]),
            |_| 1.0,
        ),
        from_scrape(s, "llmsoak_run_start_time_seconds", &[], |_| 0.0),
        from_scrape(s, "process_resident_memory_bytes", &[], |m| {
            200.0 * MIB + m.saturating_sub(LEAK_AT) as f64 * 2.0 * MIB
        }),
        from_scrape(s, "process_open_fds", &[], |_| 40.0),
        from_scrape(s, "process_max_fds", &[], |_| 65536.0),
        from_scrape(s, tpot_sum, &s1, tpot),
        from_scrape(s, tpot_count, &s1, |m| m as f64 * 600.0),
        from_scrape(s, tpot_sum, &canary, |m| m as f64 * 0.02),
        from_scrape(s, tpot_count, &canary, |m| m as f64),
        series(
            "llmsoak_baseline_time_per_output_token_seconds",
            base_labels,
            |_| 0.02,
        ),
        series(
            "llmsoak_request_time_to_first_token_seconds_bucket",
            labels_of(
                s,
                "llmsoak_request_time_to_first_token_seconds_bucket",
                &[("llmsoak_scenario", "s1"), ("le", "1")],
            ),
            |m| m as f64 * 600.0,
        ),
        series(
            "llmsoak_request_time_to_first_token_seconds_bucket",
            labels_of(
                s,
                "llmsoak_request_time_to_first_token_seconds_bucket",
                &[("llmsoak_scenario", "s1"), ("le", "+Inf")],
            ),
            |m| m as f64 * 600.0,
        ),
        series(
            "llmsoak_requests_total",
            labels_of(
                s,
                "llmsoak_requests_total",
                &[("llmsoak_scenario", "s1"), ("outcome", "success")],
            ),
            |m| m as f64 * 601.0,
        ),
        series(
            "gen_ai_client_token_usage_sum",
            labels_of(
                s,
                "gen_ai_client_token_usage_sum",
                &[("llmsoak_scenario", "s1"), ("gen_ai_token_type", "output")],
            ),
            |m| m as f64 * 600.0 * 8.0,
        ),
        series(
            "llmsoak_canary_probes_total",
            labels_of(s, "llmsoak_canary_probes_total", &[("outcome", "success")]),
            |m| m as f64,
        ),
        from_scrape(
            s,
            "llmsoak_canary_last_success_timestamp_seconds",
            &[],
            |m| (m * 60) as f64,
        ),
        from_scrape(s, "llmsoak_requests_in_flight", &[], |_| 5.0),
        from_scrape(s, "llmsoak_concurrency_limit", &[], |_| 256.0),
        from_scrape(s, "llmsoak_target_process_memory_usage_bytes", &[], |_| {
            4096.0 * MIB
        }),
        series("hw_gpu_utilization_ratio", gpu.clone(), |_| 0.6),
        series("hw_gpu_memory_usage_bytes", gpu.clone(), |_| 30_000.0 * MIB),
        series("hw_gpu_memory_limit_bytes", gpu.clone(), |_| 81_559.0 * MIB),
        series("hw_power_watts", gpu.clone(), |_| 300.0),
        series("hw_temperature_celsius", gpu.clone(), |_| 60.0),
        series("hw_gpu_clock_sm_hertz", gpu.clone(), |_| 1.98e9),
        series("hw_energy_joules_total", gpu.clone(), |m| {
            m as f64 * 18_000.0
        }),
        series("DCGM_FI_DEV_FB_USED", dcgm.clone(), |_| 30_000.0),
        series("DCGM_FI_DEV_FB_FREE", dcgm, |_| 51_559.0),
        series("vllm:num_requests_waiting", vllm.clone(), |_| 0.0),
        series("vllm:num_requests_running", vllm.clone(), |_| 5.0),
        series("vllm:kv_cache_usage_perc", vllm.clone(), |_| 0.5),
        series("vllm:num_preemptions_total", vllm.clone(), |_| 0.0),
        series("vllm:prefix_cache_hits_total", vllm.clone(), |m| {
            m as f64 * 100.0
        }),
        series("vllm:prefix_cache_queries_total", vllm.clone(), |m| {
            m as f64 * 400.0
        }),
        series("vllm:inter_token_latency_seconds_sum", vllm.clone(), |m| {
            m as f64 * 600.0 * 8.0 * 0.019
        }),
        series(
            "vllm:inter_token_latency_seconds_count",
            vllm.clone(),
            |m| m as f64 * 600.0 * 8.0,
        ),
        series(
            "vllm:time_to_first_token_seconds_bucket",
            with(&vllm, "le", "0.1"),
            |m| m as f64 * 590.0,
        ),
        series(
            "vllm:time_to_first_token_seconds_bucket",
            with(&vllm, "le", "+Inf"),
            |m| m as f64 * 600.0,
        ),
        series("vllm:generation_tokens_total", vllm.clone(), |m| {
            m as f64 * 600.0 * 8.0
        }),
    ]
    .into_iter()
    // The request-phase histograms (exact means from _sum / _count on the dashboards).
    .chain(
        [
            ("queue", 0.002),
            ("prefill", 0.08),
            ("decode", 0.15),
            ("inference", 0.23),
        ]
        .into_iter()
        .flat_map(|(phase, mean)| {
            let name = format!("vllm:request_{phase}_time_seconds");
            [
                series(&format!("{name}_sum"), vllm.clone(), move |m| {
                    m as f64 * 600.0 * mean
                }),
                series(&format!("{name}_count"), vllm.clone(), |m| m as f64 * 600.0),
            ]
        }),
    )
    .collect()
}

pub(crate) fn selector(s: &Series) -> String {
    let labels: Vec<String> = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{}{{{}}}", s.name, labels.join(","))
}

/// promtool's expanding notation: runs of equal steps become `start+stepxN`, runs without a
/// sample `_xN`.
pub(crate) fn notation(values: &[Option<f64>]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        if values[i].is_none() {
            let n = values[i..].iter().take_while(|v| v.is_none()).count();
            // `_xN` is N missing samples (unlike `a+bxN`, which is N + 1 values).
            parts.push(format!("_x{n}"));
            i += n;
            continue;
        }
        let run = values[i..].iter().take_while(|v| v.is_some()).count();
        let v: Vec<f64> = values[i..i + run].iter().map(|x| x.unwrap()).collect();
        parts.push(dense(&v));
        i += run;
    }
    parts.join(" ")
}

/// The expanding notation of a run of samples.
fn dense(v: &[f64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let step = if i + 1 < v.len() {
            v[i + 1] - v[i]
        } else {
            0.0
        };
        let mut j = i + 1;
        while j < v.len() && (v[j] - v[j - 1] - step).abs() < 1e-9 * (1.0 + step.abs()) {
            j += 1;
        }
        let n = j - i - 1;
        parts.push(if n == 0 {
            format!("{}", v[i])
        } else if step >= 0.0 {
            format!("{}+{}x{}", v[i], step, n)
        } else {
            format!("{}{}x{}", v[i], step, n)
        });
        i = j;
    }
    parts.join(" ")
}

/// One alert expected to fire: its name, labels and what its `$value` renders to.
pub(crate) type Firing = (&'static str, BTreeMap<String, String>, Option<String>);

/// A promtool unit test of the shipped rules over `history` (one sample a minute): at each of
/// `times` (minutes) every alert is checked to fire exactly `expected(at)`, with its labels and
/// rendered annotations. Panics with promtool's report unless it passes.
pub(crate) fn promtool_test(
    name: &str,
    history: &[Series],
    times: &[usize],
    expected: impl Fn(usize) -> Vec<Firing>,
) {
    let alerts: BTreeMap<String, serde_json::Value> = alerts()
        .into_iter()
        .map(|a| (a["alert"].as_str().unwrap().to_string(), a))
        .collect();
    let files = ["llm-soak.rules.yml", "llm-soak.alerts.yml"];
    let groups: Vec<String> = files
        .iter()
        .flat_map(|f| {
            yaml(&root().join("alerts").join(f))["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut t = String::from("rule_files:\n");
    for f in files {
        writeln!(t, "  - {}", root().join("alerts").join(f).display()).unwrap();
    }
    writeln!(
        t,
        "evaluation_interval: 1m\ngroup_eval_order: [{}]\ntests:\n  - interval: 1m\n    input_series:",
        groups.join(", ")
    )
    .unwrap();
    for s in history {
        writeln!(
            t,
            "      - series: '{}'\n        values: '{}'",
            selector(s),
            notation(&s.values)
        )
        .unwrap();
    }
    t.push_str("    alert_rule_test:\n");
    for &at in times {
        let exp = expected(at);
        for alert in alerts.keys() {
            writeln!(t, "      - eval_time: {at}m\n        alertname: {alert}").unwrap();
            let firing: Vec<_> = exp.iter().filter(|(n, _, _)| n == alert).collect();
            if firing.is_empty() {
                continue;
            }
            t.push_str("        exp_alerts:\n");
            for (_, labels, value) in firing {
                let a = &alerts[alert.as_str()];
                let mut all = labels.clone();
                all.insert(
                    "severity".into(),
                    a["labels"]["severity"].as_str().unwrap().into(),
                );
                t.push_str("          - exp_labels:\n");
                for (k, v) in &all {
                    writeln!(
                        t,
                        "              {k}: {}",
                        serde_json::Value::from(v.clone())
                    )
                    .unwrap();
                }
                t.push_str("            exp_annotations:\n");
                for (k, v) in a["annotations"].as_object().unwrap() {
                    let text = render(v.as_str().unwrap(), labels, value.as_deref());
                    writeln!(t, "              {k}: {}", serde_json::Value::from(text)).unwrap();
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.test.yml"));
    std::fs::write(&file, &t).unwrap();
    let (ok, report) = run_tool("promtool", &["test", "rules", file.to_str().unwrap()], &[]);
    assert!(ok && report.contains("SUCCESS"), "{report}");
}

fn expected(at: usize) -> Vec<(&'static str, BTreeMap<String, String>, Option<&'static str>)> {
    let mut out = Vec::new();
    if at >= LEAK_AT + 90 {
        out.push((
            "LlmSoakClientMemoryLeak",
            fixed(&[("job", "llm-soak"), ("instance", "soak-0:9464")]),
            None,
        ));
    }
    if at >= DRIFT_AT + 90 {
        let l = fixed(&[
            ("job", "llm-soak"),
            ("llmsoak_target", "sim"),
            ("llmsoak_scenario", "s1"),
            ("gen_ai_request_model", "llm-soak-sim"),
        ]);
        out.push(("LlmSoakTpotDriftFromBaseline", l, Some("125%")));
    }
    if at >= 26 * 60 {
        let l = fixed(&[
            ("job", "llm-soak"),
            ("llmsoak_target", "sim"),
            ("llmsoak_scenario", "s1"),
            ("gen_ai_request_model", "llm-soak-sim"),
        ]);
        out.push(("LlmSoakTpotDriftDayOverDay", l, None));
    }
    out
}

pub(crate) fn render(text: &str, labels: &BTreeMap<String, String>, value: Option<&str>) -> String {
    let mut out = text.to_string();
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    if let (Some(v), Some(i)) = (value, out.find("{{ $value")) {
        let end = out[i..].find("}}").unwrap() + i + 2;
        out.replace_range(i..end, v);
    }
    out
}

#[test]
fn the_shipped_rules_fire_exactly_the_injected_problems_and_backfilled_history_answers_the_dashboards()
 {
    let history = history(&captured());
    // 1. promtool test rules over the generated series: at each time, every alert is checked.
    promtool_test(
        "rehearsal",
        &history,
        &[19 * 60, 23 * 60 + 30, 26 * 60],
        |at| {
            expected(at)
                .into_iter()
                .map(|(n, l, v)| (n, l, v.map(String::from)))
                .collect()
        },
    );

    // 2. The same history backfilled into a real Prometheus.
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t0 = (now - (MINUTES as u64 + 120) * 60) / 60 * 60;
    let mut om = String::new();
    let mut names: Vec<&str> = history.iter().map(|s| s.name.as_str()).collect();
    names.dedup();
    for name in names
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
    {
        for s in history.iter().filter(|s| s.name == name) {
            for (m, v) in s.values.iter().enumerate() {
                let v = v.unwrap();
                // The canary's last-success timestamp is absolute in a real scrape.
                let v = if s.name == "llmsoak_canary_last_success_timestamp_seconds"
                    || s.name == "llmsoak_run_start_time_seconds"
                {
                    v + t0 as f64
                } else {
                    v
                };
                writeln!(om, "{} {v} {}", selector(s), t0 + m as u64 * 60).unwrap();
            }
        }
    }
    om.push_str("# EOF\n");
    let input = dir.path().join("history.om");
    std::fs::write(&input, om).unwrap();
    let data = dir.path().join("data");
    let (ok, out) = run_tool(
        "promtool",
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            input.to_str().unwrap(),
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{out}");
    let end = t0 + MINUTES as u64 * 60;
    let prom = Prometheus::start("global:\n  scrape_interval: 1m\n", &data);
    let rules_out = dir.path().join("rules-blocks");
    let (url, start, end_arg, output) = (
        format!("--url=http://{}", prom.addr),
        format!("--start={t0}"),
        format!("--end={end}"),
        format!("--output-dir={}", rules_out.display()),
    );
    let rules = root().join("alerts/llm-soak.rules.yml");
    let (ok, out) = run_tool(
        "promtool",
        &[
            "tsdb",
            "create-blocks-from",
            "rules",
            "--eval-interval=1m",
            &url,
            &start,
            &end_arg,
            &output,
            rules.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{out}");
    drop(prom);
    for b in std::fs::read_dir(&rules_out).unwrap() {
        let b = b.unwrap();
        std::fs::rename(b.path(), data.join(b.file_name())).unwrap();
    }
    let prom = Prometheus::start("global:\n  scrape_interval: 1m\n", &data);
    let mut failures = Vec::new();
    let mut ran = 0;
    for (dash, panel, raw) in dashboard_queries() {
        if !(raw.contains("offset 1d") || raw.contains("hw_") || raw.contains("vllm:")) {
            continue;
        }
        ran += 1;
        let q = substitute(&raw, "1h");
        if let Err(e) = prom.has_data(&q, Some(end)) {
            failures.push(format!("{dash}: {panel}: {e}\n  {raw}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran >= 8, "{ran}");
}
