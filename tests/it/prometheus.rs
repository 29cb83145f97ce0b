//! The shipped dashboards and rules against a real Prometheus (Debian's package, started here on
//! 127.0.0.1 with a temporary storage directory): it scrapes a running llm-soak (soak traffic,
//! canary, baselines, target-process sampling), a simulator of each engine flavor (vLLM, SGLang,
//! llama.cpp, TGI) and a real llama.cpp server, each with traffic, with the recording and alert
//! rules loaded unmodified. Every dashboard query returns data (each engine's row included, and
//! the llama.cpp row from the real server's job alone), every recording rule produces samples,
//! and every rule evaluates without error.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::artefacts::*;
use crate::common::prometheus::{Prometheus, free_port};
use crate::common::*;

/// Scrape `targets` (job name, address) every second with the shipped rules loaded.
fn scraping(targets: &[(&str, SocketAddr)], dir: &std::path::Path) -> Prometheus {
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n");
    for f in ["llm-soak.rules.yml", "llm-soak.alerts.yml"] {
        config.push_str(&format!(
            "  - {}\n",
            root().join("alerts").join(f).display()
        ));
    }
    config.push_str("scrape_configs:\n");
    for (job, addr) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ));
    }
    Prometheus::start(&config, &dir.join("data"))
}

/// Queries that need a GPU or a day of history cannot return data in a short live run; nor can
/// one on a series only older engine releases export (llama.cpp's KV-usage ratio: the simulator
/// plays a current release, as the report's `missing` says).
fn needs_history_or_hardware(expr: &str) -> bool {
    expr.contains("offset 1d")
        || expr.contains("hw_")
        || expr.contains("DCGM_")
        || expr.contains("llamacpp:kv_cache_usage_ratio")
}

#[test]
fn a_real_prometheus_runs_every_dashboard_query_and_rule_on_live_scrapes() {
    let sim_metrics = format!("127.0.0.1:{}", free_port());
    let (sim, sim_addr) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "5ms",
        "--error-rate",
        "0.05",
        "--metrics-listen",
        &sim_metrics,
    ]);
    // One simulator per other engine flavor, each with some traffic of its own, so each engine
    // row of the dashboards has data (its series are scraped from the simulator's /metrics).
    let flavor_dir = tempfile::tempdir().unwrap();
    let others: Vec<(&str, &str, Proc, SocketAddr)> = [
        ("sglang", "sglang"),
        ("llamacpp", "llama.cpp"),
        ("tgi", "tgi"),
    ]
    .into_iter()
    .map(|(flavor, provider)| {
        let path = flavor_dir.path().join(format!("{flavor}.toml"));
        std::fs::write(
            &path,
            format!("[simulator]\nmetrics_flavor = \"{flavor}\"\n"),
        )
        .unwrap();
        let (p, addr) = simulator(&[
            "-c",
            path.to_str().unwrap(),
            "--ttft",
            "20ms",
            "--itl",
            "5ms",
        ]);
        (flavor, provider, p, addr)
    })
    .collect();
    // And a real llama.cpp server, whose own /metrics must answer its engine row too.
    let llama = crate::interop::Llama::start(&crate::interop::setup(), flavor_dir.path());
    let mut extra_targets = format!(
        "\n[[target]]\nname = \"llama\"\nbase_url = \"http://{}\"\nmodel = \"tiny-random-llama\"\nprovider = \"llama.cpp\"\n\n[[scenario]]\nname = \"llama\"\ntarget = \"llama\"\ninput_tokens = 32\noutput_tokens = 8\n",
        llama.addr
    );
    for (flavor, provider, _, addr) in &others {
        extra_targets.push_str(&format!(
            "\n[[target]]\nname = \"sim-{flavor}\"\nbase_url = \"http://{addr}\"\nmodel = \"llm-soak-sim\"\nprovider = \"{provider}\"\n\n[[scenario]]\nname = \"{flavor}\"\ntarget = \"sim-{flavor}\"\ninput_tokens = 32\noutput_tokens = 8\n"
        ));
        if *flavor == "sglang" {
            // Provoked traffic, for the panel that draws it: aborts and connection churn.
            extra_targets.push_str(
                "abort = { fraction = 0.3, at = \"first_token\" }\nconnection = { fresh = 0.3 }\n",
            );
        }
    }
    let config = config_for(
        sim_addr,
        "recount_sample = 1.0",
        "arrival = \"poisson\"\nmax_in_flight = 64\npreset = { name = \"steady\", rate = 10 }",
        "target = \"sim\"\ninput_tokens = { lognormal = { mean = 64, stddev = 32 }, min = 8, max = 256 }\noutput_tokens = 12",
    ) + &extra_targets
        + &format!(
            "\n[canary]\ntarget = \"sim\"\ninterval = \"1s\"\n[baseline]\nwarmup = \"2s\"\nwindow = \"3s\"\nmin_samples = 5\n[resources]\ninterval = \"1s\"\ntarget_process = {{ pid = {}, target = \"sim\" }}\n",
            sim.child.id()
        );
    let (_daemon, maddr, _dir) = daemon(&config, &[]);
    let prom_dir = tempfile::tempdir().unwrap();
    let mut jobs = vec![("llm-soak", maddr), ("vllm", sim_metrics.parse().unwrap())];
    for (flavor, _, _, addr) in &others {
        jobs.push((flavor, *addr));
    }
    jobs.push(("llamacpp-real", llama.addr));
    let prom = scraping(&jobs, prom_dir.path());
    // Long enough for the baseline, several scrapes, and the 30 s recording-rule group.
    let deadline = Instant::now() + Duration::from_secs(90);
    while prom.has_data("llmsoak:tpot_seconds:mean5m", None).is_err()
        || prom
            .has_data("llmsoak_baseline_time_per_output_token_seconds", None)
            .is_err()
        || prom
            .has_data("llmsoak:ttft_slow:ratio_rate5m", None)
            .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "recording rules and baselines never appeared"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // Every query must return data: retried until they all do (a query over a rate needs a
    // few more scrapes), within a generous deadline.
    let deadline = Instant::now() + Duration::from_secs(90);
    let ran = loop {
        let mut failures = Vec::new();
        let mut ran = 0;
        for (dash, panel, raw) in dashboard_queries() {
            if needs_history_or_hardware(&raw) {
                continue;
            }
            ran += 1;
            if let Err(e) = prom.has_data(&substitute(&raw, "5m"), None) {
                failures.push(format!("{dash}: {panel}: {e}\n  {raw}"));
            }
        }
        for name in recording_names() {
            if name.contains("zscore") {
                continue; // needs a non-zero 6 h standard deviation
            }
            if let Err(e) = prom.has_data(&name, None) {
                failures.push(format!("recording rule {name}: {e}"));
            }
        }
        if failures.is_empty() {
            break ran;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {ran} queries failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(ran > 40, "{ran}");
    // The llama.cpp row answers from the real server's own /metrics alone (its job only).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut failures = Vec::new();
        for (dash, panel, raw) in dashboard_queries() {
            if !raw.contains("llamacpp:") || needs_history_or_hardware(&raw) {
                continue;
            }
            let real = raw.replace("\"$server_job\"", "\"llamacpp-real\"");
            if let Err(e) = prom.has_data(&substitute(&real, "5m"), None) {
                failures.push(format!("{dash}: {panel}: {e}\n  {real}"));
            }
        }
        if failures.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the real llama.cpp's row: {}",
            failures.join("\n")
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // Every rule was evaluated without an error.
    let rules = get_json(prom.addr, "/api/v1/rules");
    let mut evaluated = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            assert_ne!(r["health"], "err", "{}: {}", r["name"], r["lastError"]);
            evaluated += 1;
        }
    }
    assert_eq!(evaluated, rules_count(), "every shipped rule is loaded");
    // Nothing is wrong with this healthy run: no alert beyond pending/firing noise from the
    // short history is expected, and the saturation alert must not fire.
    let alerts = get_json(prom.addr, "/api/v1/alerts");
    for a in alerts["data"]["alerts"].as_array().unwrap() {
        assert_ne!(a["labels"]["alertname"], "LlmSoakClientSaturated", "{a}");
        assert_ne!(a["labels"]["alertname"], "LlmSoakDaemonDown", "{a}");
    }
}

fn rules_count() -> usize {
    rules("llm-soak.rules.yml").len() + rules("llm-soak.alerts.yml").len()
}
