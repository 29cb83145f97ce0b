//! The server's side of a run, against the simulator playing each engine's `/metrics` (its
//! names, types and bucket layouts) with its ground truth: the report's server block matches the
//! truth within the bucket resolution, the client − server TTFT gap stays within the certified
//! client bound plus the transport floor, the token cross-check is exact, a counter reset (an
//! engine restart) mid-run is handled, and a target whose metrics are off or broken gets no
//! block or a closed error class, never a failed run.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// The local network and the simulator's own request handling before it counts a request as
/// arrived: what the client sees that the server cannot (generous: loopback is ~0.1 ms).
const TRANSPORT_FLOOR: f64 = 0.010;

fn sim_with(flavor: &str) -> (Proc, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(
        &path,
        format!("[simulator]\nmetrics_flavor = \"{flavor}\"\nbatch_capacity = 4\n"),
    )
    .unwrap();
    let (p, addr) = simulator(&[
        "-c",
        path.to_str().unwrap(),
        "--ttft",
        "40ms",
        "--itl",
        "15ms",
    ]);
    (p, addr, dir)
}

fn run_against(sim: SocketAddr, provider: &str, seconds: u32) -> (String, Value) {
    let config = config_for(
        sim,
        &format!("provider = \"{provider}\""),
        &format!(
            "arrival = \"constant\"\npreset = {{ name = \"steady\", rate = 12, duration = \"{seconds}s\" }}"
        ),
        "input_tokens = 64\noutput_tokens = 24",
    );
    let secs = format!("{seconds}s");
    let (code, stdout, report) = bounded_run(&config, &["--duration", &secs]);
    assert_eq!(code, Some(0), "{stdout}");
    (stdout, report)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The server's mean matches the truth's (sums are exact; the truth's HDR mean is within 0.1 %),
/// and the truth's median lies in the bucket the server's median was interpolated in.
fn matches(what: &str, server: &Value, truth: &Value) {
    assert!(server.is_object(), "{what}: the server block has none");
    let (s, t) = (f(&server["mean"]), f(&truth["mean"]));
    assert!(
        (s - t).abs() <= 0.01 * t + 0.001,
        "{what}: server mean {s} vs truth {t}"
    );
    let p50 = &server["p50"];
    let (lo, hi) = (
        f(&p50["lower"]),
        p50["upper"].as_f64().unwrap_or(f64::INFINITY),
    );
    let tp = f(&truth["p50"]);
    assert!(
        tp >= lo * 0.99 && tp <= hi * 1.01,
        "{what}: the truth's median {tp} is outside the server's bucket ({lo}, {hi}]"
    );
    assert_eq!(f(&server["count"]), f(&truth["samples"]), "{what}: count");
}

#[test]
fn each_engine_s_server_block_matches_the_simulators_truth() {
    // (flavor, provider, histograms the engine has as (its word, the truth's field)).
    type Words = &'static [(&'static str, &'static str)];
    let flavors: [(&str, &str, Words); 4] = [
        (
            "vllm",
            "vllm",
            &[
                ("ttft", "ttft"),
                ("e2e", "e2e"),
                ("queue", "queue"),
                ("prefill", "prefill"),
                ("decode", "decode"),
            ],
        ),
        (
            "sglang",
            "sglang",
            &[("ttft", "ttft"), ("e2e", "e2e"), ("queue", "queue")],
        ),
        ("llamacpp", "llama.cpp", &[]),
        ("tgi", "tgi", &[("e2e", "e2e"), ("queue", "queue")]),
    ];
    for (flavor, provider, hists) in flavors {
        let (_p, sim, _dir) = sim_with(flavor);
        let (stdout, report) = run_against(sim, provider, 3);
        let truth = get_json(sim, "/stats");
        let blocks = report["server"].as_array().unwrap();
        assert_eq!(blocks.len(), 1, "{flavor}: {report}");
        let b = &blocks[0];
        assert_eq!(b["engine"], provider, "{flavor}: {b}");
        assert_eq!(b["url"], format!("http://{sim}/metrics"), "{flavor}");
        assert_eq!(b["failed_scrapes"], 0, "{flavor}: {b}");
        assert!(b["scrapes"].as_u64().unwrap() >= 2, "{flavor}: {b}");
        let run = &b["run"];
        for (word, field) in hists {
            matches(
                &format!("{flavor} {word}"),
                &run["latency"][*word],
                &truth[*field],
            );
        }
        // The token cross-check: llm-soak is the server's only client.
        let tokens = &b["tokens"];
        assert_eq!(tokens["difference"], 0.0, "{flavor}: {tokens}");
        assert_eq!(tokens["shared"], false, "{flavor}");
        assert_eq!(f(&tokens["server"]), f(&truth["output_tokens"]), "{flavor}");
        // Gauges were read (running/waiting exist for every engine).
        assert!(run["running"].is_object(), "{flavor}: {run}");
        assert!(run["waiting"].is_object(), "{flavor}: {run}");
        // The gap: the client sees the network and its own reading on top of the server's
        // TTFT, never less, and no more than its certified lag plus the transport floor.
        if hists.iter().any(|(w, _)| *w == "ttft") {
            let gap = f(&b["client"]["ttft_gap"]);
            let bound = f(&report["summary"]["trust"]["bound_p99"]);
            assert!(
                (-0.001..=2.0 * bound + TRANSPORT_FLOOR).contains(&gap),
                "{flavor}: client − server TTFT {gap} outside [−1 ms, 2 × {bound} + floor] (a send and a receive)"
            );
        } else {
            assert!(b["client"]["ttft_gap"].is_null(), "{flavor}");
        }
        match flavor {
            // Counters only: per-token means derived from the time counters, said as such.
            "llamacpp" => {
                let per = f(&run["prefill_seconds_per_token"]);
                let prompt = f(&run["prompt_tokens"]);
                let truth_sum = f(&truth["prefill"]["mean"]) * f(&truth["prefill"]["samples"]);
                assert!(
                    (per * prompt - truth_sum).abs() <= 0.01 * truth_sum,
                    "prefill seconds {} vs truth {truth_sum}",
                    per * prompt
                );
                assert!(run["latency"].as_object().unwrap().is_empty());
                // Recent releases dropped the KV usage ratio: said, never an error.
                assert!(
                    b["missing"]
                        .as_array()
                        .unwrap()
                        .contains(&"kv_usage".into())
                );
            }
            "vllm" => {
                assert_eq!(f(&run["requests"]), f(&truth["streams_completed"]));
                assert_eq!(f(&run["reasons"]["stop"]), f(&truth["streams_completed"]));
            }
            _ => {}
        }
        // The terminal summary says it too.
        assert!(
            stdout.contains(&format!("server (sim: {provider}")),
            "{flavor}: {stdout}"
        );
        assert!(
            stdout.contains("tokens: llm-soak received"),
            "{flavor}: {stdout}"
        );
    }
}

#[test]
fn an_engine_restart_mid_run_is_a_counter_reset_not_a_negative_window() {
    let (_p, sim, _dir) = sim_with("vllm");
    // Before the run, one long prompt: the engine's prompt-token counter starts high, so after a
    // restart it is lower than at the run's first scrape (without scrapes in between, a reset
    // shows only as a drop — as in Prometheus).
    let long = "lorem ".repeat(8000);
    let (code, body) = post_json(
        sim,
        "/v1/chat/completions",
        &serde_json::json!({"model": "llm-soak-sim", "max_tokens": 1,
            "messages": [{"role": "user", "content": long}]}),
    );
    assert_eq!(code, 200, "{body}");
    let config = config_for(
        sim,
        "provider = \"vllm\"",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 12, duration = \"4s\" }",
        "input_tokens = 64\noutput_tokens = 24",
    );
    let run = std::thread::spawn(move || bounded_run(&config, &["--duration", "4s"]));
    // Restart the engine once some requests have finished (joined on the simulator's count).
    eventually("requests finished", Duration::from_secs(60), || {
        (get_json(sim, "/stats")["streams_completed"].as_u64() >= Some(11)).then_some(())
    });
    let (code, _) = exchange(
        sim,
        &format!("POST /control/restart HTTP/1.0\r\nHost: {sim}\r\nContent-Length: 0\r\n\r\n"),
        Duration::from_secs(30),
    );
    assert_eq!(code, 204);
    let (code, stdout, report) = run.join().unwrap();
    assert_eq!(code, Some(0), "{stdout}");
    let events = report["series"]["events"].to_string();
    assert!(events.contains("were reset"), "{events}");
    let b = &report["server"][0];
    let run = &b["run"];
    assert_eq!(run["resets"], 1, "{b}");
    // Every increase is the counter's own: none negative, and the tokens after the restart
    // counted from zero (those between the last scrape and the restart are lost, as in
    // Prometheus) — so the server never reports more than the client received.
    let server = f(&run["generation_tokens"]);
    let client = f(&b["tokens"]["client"]);
    assert!(
        server > 0.0 && server <= client,
        "server {server}, client {client}"
    );
    for (_, d) in run["latency"].as_object().unwrap() {
        assert!(f(&d["count"]) >= 0.0 && f(&d["mean"]) > 0.0, "{d}");
    }
}

#[test]
fn metrics_off_gives_no_block_and_a_broken_endpoint_a_closed_error_class() {
    let (_p, sim, _dir) = sim_with("vllm");
    // Off: no block, no scrape health series.
    let (_, report) = {
        let config = config_for(
            sim,
            "provider = \"vllm\"\nmetrics = false",
            "preset = { name = \"steady\", rate = 5, duration = \"1s\" }",
            "input_tokens = 16\noutput_tokens = 4",
        );
        let (code, stdout, report) = bounded_run(&config, &["--duration", "1s"]);
        assert_eq!(code, Some(0), "{stdout}");
        (stdout, report)
    };
    assert!(report.get("server").is_none(), "{}", report["server"]);
    // An endpoint that answers 404: the run goes on, the block says why.
    let config = config_for(
        sim,
        &format!("provider = \"openai\"\nmetrics_url = \"http://{sim}/no-such-metrics\""),
        "preset = { name = \"steady\", rate = 5, duration = \"1s\" }",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (code, stdout, report) = bounded_run(&config, &["--duration", "1s"]);
    assert_eq!(code, Some(0), "{stdout}");
    let b = &report["server"][0];
    assert_eq!(b["scrapes"], b["failed_scrapes"], "{b}");
    assert_eq!(b["last_error"], "status: HTTP 404", "{b}");
    assert!(b["engine"].is_null());
}
