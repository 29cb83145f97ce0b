//! End to end, what a bounded run reports and judges: gates kept in the config file, relative
//! gates against an earlier report, a load preset by name, and a spike's recovery time measured
//! on the built-in target's real queueing — the real binary on 127.0.0.1 port 0.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;

#[test]
fn config_gates_and_relative_gates_against_an_earlier_report() {
    let (_sim, sim_addr) = simulator(&["--ttft", "20ms", "--itl", "5ms"]);
    let load =
        "arrival = \"constant\"\nmax_in_flight = 64\npreset = { name = \"steady\", rate = 20 }";
    let config = config_for(sim_addr, "", load, "input_tokens = 32\noutput_tokens = 10");
    let dir = tempfile::tempdir().unwrap();
    let (code, out, first) = bounded_run(&config, &["--duration", "3s"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(first["complete"], true);
    let baseline = dir.path().join("previous.json");
    std::fs::write(&baseline, first.to_string()).unwrap();
    // Gates in the file, the baseline named there, one more gate on the command line.
    let gated = format!(
        "{config}\n[gates]\nrules = [\"ttft.p95 < 3 * baseline\", \"error_rate <= baseline + 1%\"]\nmin_samples = 10\nbaseline = {:?}\n",
        baseline.display().to_string()
    );
    let (code, out, report) = bounded_run(
        &gated,
        &["--duration", "3s", "--gate", "tpot.mean < 2 * baseline"],
    );
    assert_eq!(code, Some(0), "{out}");
    let gates = report["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 3, "{report}");
    for g in gates {
        assert_eq!(g["verdict"], "pass", "{g}");
        assert!(g["baseline"].as_f64().is_some(), "{g}");
        assert_eq!(g["min_samples"], 10);
    }
    assert!(out.contains("baseline"), "{out}");
    // A regression beyond the relative bound is a breach naming both values.
    let (code, out, report) = bounded_run(
        &gated,
        &["--duration", "2s", "--gate", "ttft.p95 < 0.01 * baseline"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("BREACHED") && out.contains("0.01 * baseline"),
        "{out}"
    );
    assert_eq!(report["verdict"], "breach");
    // --baseline overrides the file's; a baseline that is not a finished report is refused,
    // and a relative gate with no baseline at all is a usage error.
    let mut cut = first.clone();
    cut["signal"] = "Interrupt".into();
    let bad = dir.path().join("interrupted.json");
    std::fs::write(&bad, cut.to_string()).unwrap();
    let (code, _, _) = bounded_run(
        &gated,
        &["--duration", "1s", "--baseline", bad.to_str().unwrap()],
    );
    assert_eq!(code, Some(64));
    let (code, _, _) = bounded_run(
        &config,
        &["--duration", "1s", "--gate", "ttft.p95 < baseline"],
    );
    assert_eq!(code, Some(64));
    // Issue #25: an interrupted report is neither gated nor a comparison's base (exit 64, the
    // reason said); the finished one is, as base and as the new run.
    let llm_soak = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (bad, good) = (bad.to_str().unwrap(), baseline.to_str().unwrap());
    let (code, err) = llm_soak(&["gate", bad, "--gate", "error_rate < 5%"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("is a run interrupted before its end"), "{err}");
    let (code, err) = llm_soak(&["gate", good, "--gate", "error_rate < 5%"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = llm_soak(&["compare", bad, good]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("the base") && err.contains("interrupted"),
        "{err}"
    );
    let (code, err) = llm_soak(&["compare", good, bad]);
    assert_ne!(
        code,
        Some(64),
        "a partial new run is compared, with a warning: {err}"
    );
    assert!(
        err.contains("warning:") && err.contains("interrupted"),
        "{err}"
    );
}

#[test]
fn a_spike_preset_reports_how_long_the_target_took_to_recover() {
    // Four sequences decoded at once, ~110 ms each: ~36 req/s of capacity. A 3 s spike to
    // 80 req/s leaves a queue that takes seconds to drain after the spike.
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "10ms",
        "--itl",
        "10ms",
        "--prefill-per-token",
        "0s",
        "--itl-per-seq",
        "0s",
        "--batch-capacity",
        "4",
    ]);
    let load = "arrival = \"constant\"\nmax_in_flight = 1000\n\
        preset = { name = \"spike\", base = 10, peak = 80, before = \"5s\", hold = \"3s\", after = \"15s\" }\n\
        recovery = { window = \"2s\", latency_tolerance = 1.0, error_tolerance = 0.05 }";
    let config = config_for(sim_addr, "", load, "input_tokens = 16\noutput_tokens = 10");
    let (code, out, report) = bounded_run(&config, &["--duration", "60s"]);
    assert_eq!(code, Some(0), "{out}");
    let spikes = report["summary"]["spikes"].as_array().unwrap();
    assert_eq!(spikes.len(), 1, "{report}");
    let s = &spikes[0];
    assert_eq!(s["spike_start_seconds"], 5.0);
    assert!(s["pre_spike"]["requests"].as_u64().unwrap() >= 40, "{s}");
    let (pre, during) = (
        s["pre_spike"]["ttft_p95"].as_f64().unwrap(),
        s["during_spike"]["ttft_p95"].as_f64().unwrap(),
    );
    assert!(during > 4.0 * pre, "the spike queued requests: {s}");
    assert_eq!(s["recovered"], true, "{s}");
    let rec = s["recovery_seconds"].as_f64().unwrap();
    assert!(
        rec > 0.0 && rec < 13.0,
        "the queue took a while to drain: {s}"
    );
    assert!(
        out.contains("recovered") && out.contains("after the spike ended"),
        "{out}"
    );
}

/// `[slo]`: a failure is a miss, a scenario's own bound overrides the run-wide one, and the
/// attainment is gateable — against the simulator's injected 10 % of 503s.
#[test]
fn slo_attainment_counts_failures_as_misses_and_gates() {
    let (_sim, sim) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "2ms",
        "--error-rate",
        "0.1",
        "--seed",
        "3",
    ]);
    let config = format!(
        "{}\n[[scenario]]\nname = \"s2\"\ninput_tokens = 16\noutput_tokens = 8\nslo = {{ ttft = \"1ms\" }}\n\n[slo]\nttft = \"2s\"\ne2e = \"10s\"\n",
        config_for(
            sim,
            "",
            "arrival = \"constant\"\nmax_in_flight = 64\npreset = { name = \"steady\", rate = 60 }",
            "input_tokens = 16\noutput_tokens = 8",
        )
    );
    let (code, out, report) = bounded_run(
        &config,
        &[
            "--duration",
            "8s",
            "--gate",
            "attainment{scenario=\"s1\"} > 75%",
            "--gate",
            "attainment{scenario=\"s1\"} > 95%",
            "--gate",
            "goodput{scenario=\"s2\"} < 1",
        ],
    );
    assert_eq!(code, Some(1), "the 95 % gate is breached: {out}");
    let scope = |n: &str| report["summary"]["scenarios"][n]["slo"].clone();
    let s1 = scope("s1");
    let (met, judged) = (s1["met"].as_u64().unwrap(), s1["judged"].as_u64().unwrap());
    let failed = report["summary"]["scenarios"]["s1"]["finished"]["error"]
        .as_u64()
        .unwrap();
    assert!(failed > 0, "{report}");
    assert_eq!(
        met + failed,
        judged,
        "every success met the generous SLO; every failure missed"
    );
    let a = s1["attainment"].as_f64().unwrap();
    assert!((0.8..0.97).contains(&a), "{s1}");
    assert_eq!(scope("s2")["met"], 0, "TTFT within 1 ms: never");
    let gates = report["gates"].as_array().unwrap();
    let verdicts: Vec<&str> = gates
        .iter()
        .map(|g| g["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "breach", "pass"], "{gates:?}");
    assert!(out.contains("slo: attainment"), "{out}");
}

/// `merge --wait`: a merge step that starts beside the shards waits until every shard's report
/// exists and is complete (not a checkpoint), and says what it waits for when it gives up.
#[test]
fn merge_waits_for_every_shard_to_complete() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = config_for(
        sim,
        "",
        "arrival = \"constant\"\nmax_in_flight = 16\npreset = { name = \"steady\", rate = 10 }",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (code, out, done) = bounded_run(&config, &["--duration", "2s"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(done["complete"], true);
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("shard-0.json");
    let all = dir.path().join("all.json");
    let (s, a) = (shard.to_str().unwrap(), all.to_str().unwrap());
    let merge = |wait: &str| {
        std::process::Command::new(bin())
            .args(["merge", s, "-o", a, "--wait", wait])
            .output()
            .unwrap()
    };
    // Not written yet, then only a checkpoint: exit 2, naming why.
    let out = merge("1s");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written yet"));
    let mut checkpoint = done.clone();
    checkpoint["complete"] = serde_json::json!(false);
    std::fs::write(&shard, checkpoint.to_string()).unwrap();
    let out = merge("1s");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a checkpoint"));
    assert!(!all.exists());
    // Started on the checkpoint, it merges the complete report once the shard writes it.
    let mut waiting = Proc::spawn(&["merge", s, "-o", a, "--wait", "120s"]);
    std::fs::write(&shard, done.to_string()).unwrap();
    assert!(waiting.wait_exit(Duration::from_secs(60)).success());
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
    assert_eq!(
        merged["complete"], true,
        "merged the checkpoint instead of waiting"
    );
    assert_eq!(
        merged["summary"]["all"]["started"],
        done["summary"]["all"]["started"]
    );
}
