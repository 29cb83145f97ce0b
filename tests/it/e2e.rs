//! End to end: the real binary against the built-in target on 127.0.0.1 port 0. Timing
//! assertions are one-sided and generous (two shared cores); accounting assertions are exact.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn demo_serves_latency_histograms_that_promtool_accepts() {
    let p = Proc::spawn(&["demo", "--listen", "127.0.0.1:0"]);
    let addr = metrics_addr(&p);
    let wanted = [
        "llmsoak_request_time_to_first_token_seconds_count",
        "llmsoak_request_time_per_output_token_seconds_count",
        "gen_ai_client_operation_time_per_output_chunk_seconds_count",
        "gen_ai_client_operation_duration_seconds_count",
    ];
    let body = eventually("every request histogram", Duration::from_secs(60), || {
        let (body, samples) = scrape(addr);
        wanted
            .iter()
            .all(|n| sum(&samples, n, &[]) > 0.0)
            .then_some(body)
    });
    let (ok, report) = promtool_check_metrics(&body);
    assert!(
        ok && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

#[test]
fn reported_latency_is_never_below_the_targets_truth_and_counts_are_exact() {
    let (_sim, sim_addr) = simulator(&["--ttft", "100ms", "--itl", "20ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\nmax_in_flight = 64\n[[load.phases]]\nkind = \"steady\"\nrate = 10\nduration = \"3s\"",
        "input_tokens = { normal = { mean = 200, stddev = 50 }, min = 50, max = 400 }\noutput_tokens = 50",
    );
    let (mut p, addr, _dir) = daemon(&config, &[]);
    let status = wait_drained(addr, Duration::from_secs(60));
    assert_eq!(get(addr, "/-/healthy").0, 200);
    assert_eq!(get(addr, "/-/ready").0, 200);
    assert_eq!(status["requests"]["started"], 30);
    assert_eq!(status["requests"]["by_outcome"]["success"], 30);
    let (_, s) = scrape(addr);
    let n = sum(&s, "llmsoak_requests_total", &[]);
    assert_eq!(n, 30.0, "10/s constant for 3 s");
    assert_eq!(sum(&s, "llmsoak_requests_started_total", &[]), n);
    assert_eq!(
        sum(&s, "llmsoak_requests_total", &[("outcome", "success")]),
        n
    );
    let ttft_count = sum(&s, "llmsoak_request_time_to_first_token_seconds_count", &[]);
    assert_eq!(ttft_count, n);
    // Every TTFT is at least the simulator's 100 ms: nothing in the buckets below it.
    assert_eq!(
        sum(
            &s,
            "llmsoak_request_time_to_first_token_seconds_bucket",
            &[("le", "0.08")]
        ),
        0.0
    );
    let ttft_min = status["summary"]["all"]["latency"]["ttft"]["min"]
        .as_f64()
        .expect("min");
    assert!(ttft_min >= 0.1, "TTFT min {ttft_min}");
    let ttft_mean = sum(&s, "llmsoak_request_time_to_first_token_seconds_sum", &[]) / ttft_count;
    assert!((0.1..0.6).contains(&ttft_mean), "TTFT mean {ttft_mean}");
    // TPOT: 49 gaps of 20 ms on the server's absolute schedule.
    let tpot_mean = sum(&s, "llmsoak_request_time_per_output_token_seconds_sum", &[])
        / sum(
            &s,
            "llmsoak_request_time_per_output_token_seconds_count",
            &[],
        );
    assert!((0.015..0.1).contains(&tpot_mean), "TPOT mean {tpot_mean}");
    assert_eq!(
        sum(
            &s,
            "gen_ai_client_operation_time_per_output_chunk_seconds_count",
            &[]
        ),
        49.0 * n
    );
    // Output tokens from the server's usage: 50 each.
    assert_eq!(
        sum(
            &s,
            "gen_ai_client_token_usage_sum",
            &[("gen_ai_token_type", "output")]
        ),
        50.0 * n
    );
    assert_eq!(sum(&s, "llmsoak_tokens_usage_missing_total", &[]), 0.0);
    assert_eq!(sum(&s, "llmsoak_schedule_phase", &[]), -1.0);
    // A daemon stopped by SIGTERM after a clean drain exits 0 with a summary.
    p.signal("TERM");
    let out = p.rest_of_output();
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert!(out.contains("success 30"), "{out}");
}

#[test]
fn injected_faults_are_counted_under_their_error_type() {
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "5ms",
        "--error-rate",
        "0.2",
        "--error-status",
        "503",
        "--truncate-rate",
        "0.1",
        "--stall-rate",
        "0.1",
        "--seed",
        "3",
    ]);
    let config = config_for(
        sim_addr,
        "idle_timeout = \"1s\"",
        "arrival = \"poisson\"\nmax_in_flight = 200\n[[load.phases]]\nkind = \"steady\"\nrate = 30\nduration = \"3s\"",
        "input_tokens = 32\noutput_tokens = 10",
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    wait_drained(addr, Duration::from_secs(60));
    let (_, s) = scrape(addr);
    let truth = get_json(sim_addr, "/stats");
    let injected = |k: &str| truth["faults"][k].as_f64().expect("fault count");
    let by_type = |t: &str| sum(&s, "llmsoak_requests_total", &[("error_type", t)]);
    let total = sum(&s, "llmsoak_requests_total", &[]);
    assert!(total > 40.0, "only {total} requests");
    assert_eq!(total, truth["requests"].as_f64().unwrap());
    assert!(
        injected("http_5xx") > 0.0 && injected("stall") > 0.0 && injected("truncate") > 0.0,
        "{truth}"
    );
    assert_eq!(by_type("http_5xx"), injected("http_5xx"));
    assert_eq!(by_type("stall"), injected("stall"));
    assert_eq!(by_type("truncated"), injected("truncate"));
    assert_eq!(
        sum(&s, "llmsoak_requests_total", &[("outcome", "success")]),
        total - injected("http_5xx") - injected("stall") - injected("truncate")
    );
    assert_eq!(
        sum(&s, "llmsoak_requests_total", &[("outcome", "timeout")]),
        injected("stall")
    );
    assert_eq!(sum(&s, "llmsoak_requests_started_total", &[]), total);
    // Failures are in the e2e histogram with their error_type, never in the TTFT histogram.
    assert_eq!(
        sum(
            &s,
            "gen_ai_client_operation_duration_seconds_count",
            &[("error_type", "http_5xx")]
        ),
        by_type("http_5xx")
    );
    assert_eq!(
        sum(&s, "llmsoak_request_time_to_first_token_seconds_count", &[]),
        total - by_type("http_5xx") - by_type("stall") - by_type("truncated")
    );
    assert!(sum(&s, "llmsoak_stream_stalls_total", &[]) >= injected("stall"));
}

#[test]
fn overload_drops_arrivals_instead_of_queueing_them() {
    let (_sim, sim_addr) = simulator(&["--ttft", "100ms", "--itl", "20ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\nmax_in_flight = 2\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"2s\"",
        "input_tokens = 32\noutput_tokens = 50",
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    wait_drained(addr, Duration::from_secs(60));
    let (_, s) = scrape(addr);
    let dropped = sum(
        &s,
        "llmsoak_schedule_dropped_total",
        &[("reason", "max_in_flight")],
    );
    let started = sum(&s, "llmsoak_requests_started_total", &[]);
    assert!(dropped >= 30.0, "dropped {dropped}");
    assert_eq!(
        started + dropped,
        40.0,
        "every arrival is either sent or counted as dropped"
    );
    assert_eq!(sum(&s, "llmsoak_requests_total", &[]), started);
    // Nothing waited for a slot: every sent request left within 250 ms of its slot.
    let lag_count = sum(&s, "llmsoak_schedule_lag_seconds_count", &[]);
    assert_eq!(lag_count, started);
    assert_eq!(
        sum(&s, "llmsoak_schedule_lag_seconds_bucket", &[("le", "0.25")]),
        lag_count
    );
    assert_eq!(sum(&s, "llmsoak_concurrency_limit", &[]), 2.0);
}

#[test]
fn sigint_interrupts_a_bounded_run_with_130_and_cancels_after_the_grace_period() {
    let (_sim, sim_addr) = simulator(&["--ttft", "50ms", "--itl", "1s"]);
    let config = config_for(
        sim_addr,
        "",
        "max_in_flight = 50\ndrain_timeout = \"500ms\"\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"forever\"",
        "input_tokens = 16\noutput_tokens = 100",
    );
    let (mut p, addr, _dir) = daemon(&config, &["--duration", "10m"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_json(addr, "/api/v1/status")["requests"]["in_flight"]
        .as_u64()
        .unwrap_or(0)
        < 5
    {
        assert!(Instant::now() < deadline, "no requests in flight");
        std::thread::sleep(Duration::from_millis(100));
    }
    p.signal("INT");
    let out = p.rest_of_output();
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(130));
    assert!(out.contains("interrupted: true"), "{out}");
    let cancelled: u64 = out
        .split("cancelled ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .expect("cancelled count in the summary");
    assert!(cancelled >= 5, "{out}");
}

#[test]
fn a_busy_listen_address_is_a_runtime_failure() {
    let (_sim, sim_addr) = simulator(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let config = config_for(
        sim_addr,
        "",
        "[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"",
        "input_tokens = 16\noutput_tokens = 4",
    );
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "run",
            "-c",
            path.to_str().unwrap(),
            "--listen",
            &sim_addr.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(70),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}
