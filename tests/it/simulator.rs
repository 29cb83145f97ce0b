//! The built-in target as an inference-engine model, with the real binary: queueing beyond the
//! batch capacity, prefix-cache hits, the memory leak and TPOT drift modes, ground truth that
//! agrees with llm-soak's counts, and vLLM-named metrics that promtool accepts (apart from the
//! colon-in-name lint that vLLM's own names draw). Comparisons are one-sided with wide margins.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::*;

fn chat(content: &str, max_tokens: u32) -> serde_json::Value {
    serde_json::json!({"model": "m", "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens, "stream": true, "stream_options": {"include_usage": true}})
}

/// Offer 32 requests/s for 2 s (about 32 streams at once) to a simulator with `batch` slots.
fn batching_run(batch: &str) -> (f64, u64, serde_json::Value, Vec<Sample>) {
    let (_sim, sim_addr) = simulator(&[
        "--batch-capacity",
        batch,
        "--ttft",
        "10ms",
        "--prefill-per-token",
        "0s",
        "--itl",
        "40ms",
        "--itl-per-seq",
        "0s",
    ]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\nmax_in_flight = 128\n[[load.phases]]\nkind = \"steady\"\nrate = 32\nduration = \"2s\"",
        "input_tokens = 16\noutput_tokens = 25",
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    let mut max_waiting = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let truth = get_json(sim_addr, "/stats");
        max_waiting = max_waiting.max(truth["waiting"].as_u64().unwrap());
        let status = get_json(addr, "/api/v1/status");
        if status["state"] == "finished" && status["requests"]["in_flight"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "run did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, s) = scrape(addr);
    let truth = get_json(sim_addr, "/stats");
    let ttft = truth["ttft"]["mean"].as_f64().unwrap();
    (ttft, max_waiting, truth, s)
}

#[test]
fn beyond_the_batch_capacity_requests_wait_and_ttft_grows() {
    let (narrow_ttft, narrow_waiting, truth, s) = batching_run("8");
    let (wide_ttft, wide_waiting, _, _) = batching_run("128");
    assert!(narrow_waiting > 0, "no request ever waited with 8 slots");
    assert_eq!(wide_waiting, 0, "requests waited with 128 slots");
    assert!(
        narrow_ttft > 0.2 && narrow_ttft > 4.0 * wide_ttft,
        "TTFT mean: batch 8 {narrow_ttft}, batch 128 {wide_ttft}"
    );
    // Ground truth agrees with llm-soak's own counts exactly.
    assert_eq!(
        truth["requests"].as_f64().unwrap(),
        sum(&s, "llmsoak_requests_total", &[])
    );
    assert_eq!(
        truth["streams_completed"].as_f64().unwrap(),
        sum(&s, "llmsoak_requests_total", &[("outcome", "success")])
    );
    assert_eq!(
        truth["output_tokens"].as_f64().unwrap(),
        sum(
            &s,
            "gen_ai_client_token_usage_sum",
            &[("gen_ai_token_type", "output")]
        )
    );
    // Client TTFT includes the queue the server reports: never below the server's own view.
    let client_ttft = sum(&s, "llmsoak_request_time_to_first_token_seconds_sum", &[])
        / sum(&s, "llmsoak_request_time_to_first_token_seconds_count", &[]);
    assert!(
        client_ttft >= narrow_ttft,
        "client {client_ttft} < server {narrow_ttft}"
    );
    assert!(truth["write_lateness"]["samples"].as_u64().unwrap() > 0);
}

#[test]
fn a_repeated_prompt_hits_the_prefix_cache_and_prefills_faster() {
    let (_sim, addr) = simulator(&[
        "--ttft",
        "5ms",
        "--prefill-per-token",
        "1ms",
        "--itl",
        "5ms",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let long: String = (0..600).map(|i| format!("word{} ", i % 97)).collect();
    // Each request's truth is joined by its sequence number, not taken as "the last row".
    let ttft_of = |seq: u64, content: &str| {
        let (status, body) = post_json_seq(addr, "/v1/chat/completions", &chat(content, 3), seq);
        assert_eq!(status, 200);
        assert!(body.contains("[DONE]"));
        truth_row(addr, seq)["ttft_us"].as_f64().unwrap() / 1e6
    };
    let unique: Vec<f64> = (0..3)
        .map(|i| ttft_of(i, &format!("{i} unique {long}")))
        .collect();
    let repeated: Vec<f64> = (3..6)
        .map(|seq| ttft_of(seq, &format!("same {long}")))
        .collect();
    // Draining hands every row over once: the six requests, then nothing.
    let (status, body) = post_json(addr, "/stats/requests/drain", &serde_json::json!({}));
    assert_eq!(status, 200, "{body}");
    let drained: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(drained.len(), 6, "{body}");
    let (_, body) = post_json(addr, "/stats/requests/drain", &serde_json::json!({}));
    assert_eq!(body.trim(), "[]");
    let truth = get_json(addr, "/stats");
    let hits = truth["prefix_cache_hits"].as_f64().unwrap();
    assert!(hits >= 1000.0, "prefix hits {hits}");
    // The first copy prefills everything; the repeats only the partial last block.
    let (cold, warm) = (repeated[0], (repeated[1] + repeated[2]) / 2.0);
    assert!(unique.iter().all(|&t| t > 0.5), "unique prompts {unique:?}");
    assert!(
        warm < cold / 3.0,
        "repeated prompt: cold {cold}, warm {warm}"
    );
}

#[test]
fn leak_mode_grows_the_simulators_rss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, "[simulator]\nprefill_base = \"1ms\"\nitl_base = \"1ms\"\n[simulator.leak]\nbytes_per_request = 4194304\n").unwrap();
    let (sim, addr) = simulator(&["-c", path.to_str().unwrap()]);
    let before = rss_bytes(sim.child.id());
    for i in 0..25 {
        let (status, _) = post_json(addr, "/v1/chat/completions", &chat(&format!("leak {i}"), 2));
        assert_eq!(status, 200);
    }
    // The leak is allocated as each request arrives; both numbers are final once answered.
    assert_eq!(get_json(addr, "/stats")["leaked_bytes"], 100u64 << 20);
    let after = rss_bytes(sim.child.id());
    assert!(after >= before + 80 * (1 << 20), "RSS {before} -> {after}");
}

#[test]
fn drift_mode_raises_the_true_itl_by_the_configured_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    // One real second is a simulated hour; ITL grows 50 % per hour.
    std::fs::write(
        &path,
        "[simulator]\nprefill_base = \"1ms\"\nprefill_per_token = \"0s\"\nitl_base = \"20ms\"\nitl_per_seq = \"0s\"\ntime_scale = 3600.0\n[simulator.drift]\nitl_per_hour = 0.5\n",
    )
    .unwrap();
    let (_sim, addr) = simulator(&["-c", path.to_str().unwrap()]);
    let started = Instant::now();
    let tpot = |seq: u64| {
        let (status, _) = post_json_seq(addr, "/v1/chat/completions", &chat("drift", 10), seq);
        assert_eq!(status, 200);
        truth_row(addr, seq)["tpot_us"].as_f64().unwrap() / 1e6
    };
    let early = tpot(1);
    let early_at = started.elapsed().as_secs_f64();
    // Let simulated time pass (the drift is a function of it; no race is being waited out).
    std::thread::sleep(Duration::from_secs(4));
    let late = tpot(2);
    let late_at = started.elapsed().as_secs_f64();
    // Expected ratio (1 + 0.5 h) / (1 + 0.5 h'), with hours = seconds since the simulator started
    // (which is a little earlier than `started`): at least the ratio computed from our clock
    // with the later request taken as early as possible.
    let expected = (1.0 + 0.5 * (late_at - 0.3)) / (1.0 + 0.5 * (early_at + 1.0));
    assert!(
        late / early >= expected * 0.9,
        "TPOT {early} -> {late}, expected ratio >= {expected}"
    );
    assert!(early >= 0.02);
}

#[test]
fn vllm_metrics_pass_promtool_apart_from_the_colon_lint() {
    let (sim, addr) = simulator(&[
        "--ttft",
        "5ms",
        "--itl",
        "2ms",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let metrics: std::net::SocketAddr = sim
        .wait_line("simulator metrics: http://", Duration::from_secs(10))
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    let (status, _) = post_json_seq(addr, "/v1/chat/completions", &chat("hello", 4), 1);
    assert_eq!(status, 200);
    // The server-side histograms are written with the truth row, right after the last byte.
    truth_row(addr, 1);
    let (status, body) = get(metrics, "/metrics");
    assert_eq!(status, 200);
    for name in [
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:num_preemptions_total",
    ] {
        assert!(body.contains(name), "{name}");
    }
    let (_, report) = promtool_check_metrics(&body);
    let other: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("metric names should not contain ':'"))
        .collect();
    assert!(
        other.is_empty(),
        "promtool complaints beyond the colon lint:\n{report}"
    );
}

/// Every simulator fault, produced on request by the real binary, lands under the client-side
/// class the foundation maps it to. One simulator per fault, one scenario per simulator.
#[test]
fn each_fault_is_produced_and_classified() {
    let expected = [
        ("http_5xx", "error", Some("http_5xx")),
        ("http_4xx", "error", Some("http_4xx")),
        ("http_429", "error", Some("http_429")),
        ("html_200", "error", Some("not_sse")),
        ("reset", "error", Some("reset")),
        ("stall", "timeout", Some("stall")),
        ("never_ends", "timeout", Some("timeout")),
        ("truncate", "error", Some("truncated")),
        ("malformed", "error", Some("bad_event")),
        ("oversized", "error", Some("oversized_event")),
        ("no_usage", "success", None),
        ("slow_headers", "success", None),
    ];
    let dir = tempfile::tempdir().unwrap();
    let sim_toml = dir.path().join("sim.toml");
    std::fs::write(
        &sim_toml,
        "[simulator]\nprefill_base = \"5ms\"\nitl_base = \"5ms\"\noversized_bytes = 2097152\nslow_headers_delay = \"300ms\"\n",
    )
    .unwrap();
    let sims: Vec<(Proc, std::net::SocketAddr)> = expected
        .iter()
        .map(|(fault, _, _)| {
            simulator(&[
                "-c",
                sim_toml.to_str().unwrap(),
                "--fault",
                &format!("{fault}=1"),
            ])
        })
        .collect();
    let mut config = String::from(
        "seed = 11\n[load]\nmax_in_flight = 500\n[[load.phases]]\nkind = \"steady\"\nrate = 60\nduration = \"2s\"\n",
    );
    for ((fault, _, _), (_, addr)) in expected.iter().zip(&sims) {
        config.push_str(&format!(
            "[[target]]\nname = \"{fault}\"\nbase_url = \"http://{addr}\"\nmodel = \"m\"\nrequest_timeout = \"4s\"\nidle_timeout = \"2s\"\n\
             [[scenario]]\nname = \"{fault}\"\ntarget = \"{fault}\"\ninput_tokens = 16\noutput_tokens = 8\n"
        ));
    }
    let (_p, addr, _dir) = daemon(&config, &[]);
    wait_drained(addr, Duration::from_secs(90));
    let (_, s) = scrape(addr);
    for ((fault, outcome, error_type), (_, sim_addr)) in expected.iter().zip(&sims) {
        let injected = get_json(*sim_addr, "/stats")["faults"][fault]
            .as_f64()
            .unwrap();
        assert!(injected >= 3.0, "{fault}: only {injected} requests");
        let mut filter = vec![("llmsoak_scenario", *fault), ("outcome", *outcome)];
        if let Some(e) = error_type {
            filter.push(("error_type", e));
        }
        assert_eq!(
            sum(&s, "llmsoak_requests_total", &filter),
            injected,
            "{fault} -> {outcome}/{error_type:?}"
        );
        assert_eq!(
            sum(&s, "llmsoak_requests_total", &[("llmsoak_scenario", fault)]),
            injected,
            "{fault}: other outcomes"
        );
    }
    assert_eq!(
        sum(
            &s,
            "llmsoak_tokens_usage_missing_total",
            &[("llmsoak_scenario", "no_usage")]
        ),
        get_json(sims[10].1, "/stats")["faults"]["no_usage"]
            .as_f64()
            .unwrap()
    );
}
