//! The seed's exercises, answered with figures measured here against the built-in target: why
//! two tools' "TPOT" differ by 2× on one run, and which of three places a soak's memory growth
//! comes from (the figures in docs/results.md are these tests' output, `--no-capture`).
#![allow(clippy::unwrap_used)]

use crate::common::*;

/// Why GenAI-Perf says TPOT 6 ms where LLMPerf says 11 ms on the same run: a 500 ms TTFT and
/// 6 ms between 100 tokens. llm-soak reports both, named apart.
#[test]
fn tpot_and_llmperfs_e2e_per_token_on_one_run() {
    let (_sim, sim) = simulator(&[
        "--ttft",
        "500ms",
        "--itl",
        "6ms",
        "--itl-per-seq",
        "0s",
        "--prefill-per-token",
        "0s",
    ]);
    let config = config_for(
        sim,
        "",
        "arrival = \"constant\"\nmax_in_flight = 64\npreset = { name = \"steady\", rate = 4 }",
        "input_tokens = 32\noutput_tokens = 100",
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "12s"]);
    assert_eq!(code, Some(0), "{out}");
    let l = &report["summary"]["all"]["latency"];
    let (tpot, per_token) = (
        l["tpot"]["p50"].as_f64().unwrap(),
        l["e2e_per_token"]["p50"].as_f64().unwrap(),
    );
    eprintln!(
        "TPOT p50 {:.2} ms; e2e / tokens p50 {:.2} ms",
        tpot * 1e3,
        per_token * 1e3
    );
    // TPOT: (e2e − TTFT) / (tokens − 1) = 6 ms; LLMPerf: e2e / tokens = (500 + 99·6) / 100 ms.
    assert!((tpot - 0.006).abs() < 0.0006, "{tpot}");
    assert!((per_token - 0.01094).abs() < 0.0011, "{per_token}");
}

/// A target that leaks about 50 MB an hour (a simulated hour per real minute here): the series
/// shows the growth in the target process's memory, slope and all, while the daemon's own stays
/// flat — the split the dashboards' *Daemon health* and *GPU, host and target process* rows and
/// the LlmSoakClientMemoryLeak / LlmTargetProcessMemoryLeak / LlmTargetGpuMemoryCreep alerts make.
#[test]
fn a_leaking_target_grows_the_target_memory_series_not_the_clients() {
    let dir = tempfile::tempdir().unwrap();
    let sim_config = dir.path().join("sim.toml");
    // 50 MiB per simulated hour, 873 813 bytes a simulated minute; a real second is a minute.
    std::fs::write(
        &sim_config,
        "[simulator]\nprefill_base = \"5ms\"\nitl_base = \"2ms\"\ntime_scale = 60.0\n[simulator.leak]\nbytes_per_minute = 873813\n",
    )
    .unwrap();
    let (sim_proc, sim) = simulator(&["-c", sim_config.to_str().unwrap()]);
    let config = format!(
        "{}\n[resources]\ninterval = \"1s\"\ntarget_process = {{ pid = {} }}\n",
        config_for(
            sim,
            "",
            "arrival = \"constant\"\nmax_in_flight = 64\npreset = { name = \"steady\", rate = 10 }",
            "input_tokens = 32\noutput_tokens = 10",
        ),
        sim_proc.child.id()
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "45s"]);
    assert_eq!(code, Some(0), "{out}");
    let points = report["series"]["points"].as_array().unwrap();
    let gauge = |p: &serde_json::Value, k: &str| p["gauges"][k].as_f64();
    let series = |k: &str| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter_map(|p| Some((p["t"].as_f64()? + p["span"].as_f64()?, gauge(p, k)?)))
            .collect()
    };
    let (target, client) = (series("target_rss_bytes"), series("client_rss_bytes"));
    assert!(target.len() >= 3 && client.len() >= 3, "{points:?}");
    // Least-squares slope, bytes per real second -> MB per simulated hour (60 s of real time).
    let slope = |xs: &[(f64, f64)]| {
        let n = xs.len() as f64;
        let (mx, my) = (
            xs.iter().map(|p| p.0).sum::<f64>() / n,
            xs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let num: f64 = xs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let den: f64 = xs.iter().map(|(x, _)| (x - mx).powi(2)).sum();
        num / den * 60.0 / 1e6
    };
    let (t, c) = (slope(&target), slope(&client));
    eprintln!(
        "target process RSS {t:.1} MB per simulated hour; daemon RSS {c:.1} MB per simulated hour"
    );
    // 50 MiB = 52.4 MB an hour; the page-level RSS makes it a little lumpy.
    assert!((35.0..=75.0).contains(&t), "target slope {t}");
    assert!(c.abs() < 10.0, "the daemon's memory stays flat: {c}");
}
