//! End to end: the real binary against the built-in target on 127.0.0.1 port 0. Timing
//! assertions are one-sided and generous (two shared cores); accounting assertions are exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn demo_serves_latency_histograms_that_promtool_accepts() {
    let p = Proc::spawn(&["demo", "--listen", "127.0.0.1:0"]);
    let addr = metrics_addr(&p);
    let since = Instant::now();
    let wanted = [
        "llmsoak_request_time_to_first_token_seconds_count",
        "llmsoak_request_time_per_output_token_seconds_count",
        "gen_ai_client_operation_time_per_output_chunk_seconds_count",
        "gen_ai_client_operation_duration_seconds_count",
    ];
    let body = loop {
        let (body, samples) = scrape(addr);
        if wanted.iter().all(|n| sum(&samples, n, &[]) > 0.0) {
            break body;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "histograms still empty after 10 s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let out = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .expect("run promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
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
        .and_then(|n| n.parse().ok())
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

#[test]
fn multi_turn_sessions_send_every_turn_with_the_history() {
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "5ms",
        "--prefill-per-token",
        "1ms",
    ]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\nmax_in_flight = 64\n[[load.phases]]\nkind = \"steady\"\nrate = 5\nduration = \"2s\"",
        "input_tokens = 40\noutput_tokens = 8\nsession = { turns = 3, think_time = \"100ms\" }",
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    // The schedule ends after 2 s; sessions run on: wait until none is in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = scrape(addr);
        let status = get_json(addr, "/api/v1/status");
        if status["state"] == "finished"
            && sum(&s, "llmsoak_sessions_in_flight", &[]) == 0.0
            && status["requests"]["in_flight"] == 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "sessions did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, s) = scrape(addr);
    assert_eq!(sum(&s, "llmsoak_sessions_started_total", &[]), 10.0);
    assert_eq!(
        sum(&s, "llmsoak_requests_total", &[("outcome", "success")]),
        30.0,
        "3 turns x 10 sessions"
    );
    assert_eq!(sum(&s, "llmsoak_requests_started_total", &[]), 30.0);
    // Later turns resend the earlier ones: the target's prefix cache hits, and inputs grow.
    let truth = get_json(sim_addr, "/stats");
    assert!(
        truth["prefix_cache_hits"].as_f64().unwrap() > 0.0,
        "{truth}"
    );
    let generated = sum(&s, "llmsoak_tokens_generated_input_sum", &[]);
    assert!(
        generated > 30.0 * 40.0 * 1.5,
        "history makes later turns longer: {generated}"
    );
}

#[test]
fn two_shards_with_a_shared_start_send_the_schedule_exactly_once() {
    let (_sim, sim_addr) = simulator(&["--ttft", "10ms", "--itl", "5ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"poisson\"\nmax_in_flight = 64\n[[load.phases]]\nkind = \"ramp\"\nfrom = 5\nto = 15\nduration = \"3s\"",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let start = std::time::SystemTime::now() + Duration::from_secs(3);
    let start_at = humantime::format_rfc3339(start).to_string();
    let (_a, a_addr, _da) = daemon(&config, &["--shard", "0/2", "--start-at", &start_at]);
    let (_b, b_addr, _db) = daemon(&config, &["--shard", "1/2", "--start-at", &start_at]);
    wait_drained(a_addr, Duration::from_secs(60));
    wait_drained(b_addr, Duration::from_secs(60));
    let (_, a) = scrape(a_addr);
    let (_, b) = scrape(b_addr);
    let (na, nb) = (
        sum(&a, "llmsoak_requests_total", &[]),
        sum(&b, "llmsoak_requests_total", &[]),
    );
    // The unsharded schedule, computed from the same seed.
    let cfg = llm_soak::config::Config::parse(&config, "c", &|_| None).unwrap();
    let shape = llm_soak::schedule::Shape::new(&cfg.load.phases, cfg.load.repeat);
    let all: Vec<_> =
        llm_soak::schedule::Arrivals::new(shape, cfg.load.arrival, cfg.seed).collect();
    assert_eq!(na + nb, all.len() as f64, "together exactly the schedule");
    assert_eq!(na, all.iter().filter(|t| t.seq % 2 == 0).count() as f64);
    assert_eq!(
        get_json(sim_addr, "/stats")["requests"].as_f64().unwrap(),
        na + nb
    );
    assert_eq!(
        sum(&a, "llmsoak_run_info", &[("llmsoak_shard", "0/2")]),
        1.0
    );
}

fn bounded_run(config: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let report = dir.path().join("report.json");
    std::fs::write(&path, config).unwrap();
    let mut args = vec![
        "run",
        "-c",
        path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = std::process::Command::new(bin())
        .args(&args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
        .unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        json,
    )
}

#[test]
fn gates_decide_the_exit_code_and_the_report_matches_the_counters() {
    let (_sim, sim_addr) = simulator(&["--ttft", "20ms", "--itl", "5ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\nmax_in_flight = 64\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"forever\"",
        "input_tokens = 32\noutput_tokens = 10",
    );
    // A gate no server meets: exit 1, the summary names it.
    let (code, out, report) = bounded_run(
        &config,
        &[
            "--duration",
            "4s",
            "--gate",
            "ttft.p95 < 1ms",
            "--gate",
            "error_rate < 5%",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("BREACHED") && out.contains("ttft.p95 < 1ms"),
        "{out}"
    );
    assert!(
        out.contains("PASS") && out.contains("error_rate < 5%"),
        "{out}"
    );
    assert_eq!(report["verdict"], "breach");
    assert_eq!(report["complete"], true);
    // The report's counts are the run's counts: started = finished, all of them successes.
    let started = report["requests"]["started"].as_u64().unwrap();
    assert!(started >= 60, "{report}");
    assert_eq!(
        report["requests"]["finished"]["success"].as_u64().unwrap(),
        started
    );
    assert_eq!(
        report["summary"]["all"]["started"].as_u64().unwrap(),
        started
    );
    assert_eq!(
        report["summary"]["all"]["latency"]["ttft"]["samples"]
            .as_u64()
            .unwrap(),
        started
    );
    // A loose gate passes: exit 0.
    let (code, out, report) = bounded_run(
        &config,
        &[
            "--duration",
            "3s",
            "--gate",
            "ttft.p95 < 30s",
            "--gate",
            "tpot.mean{scenario=\"s1\"} < 1s",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report["verdict"], "pass");
    // Too few samples: insufficient data, exit 2 — never a pass.
    let (code, out, _) = bounded_run(
        &config,
        &[
            "--duration",
            "3s",
            "--gate",
            "ttft.p95 < 30s",
            "--gate-min-samples",
            "100000",
        ],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("INSUFFICIENT DATA"), "{out}");
    // A warm-up longer than the run leaves nothing to judge.
    let (code, _, report) = bounded_run(
        &config,
        &[
            "--duration",
            "2s",
            "--warmup",
            "1h",
            "--gate",
            "ttft.p95 < 30s",
        ],
    );
    assert_eq!(code, Some(2));
    assert_eq!(report["summary"]["all"]["started"], 0);
    // Bad gate syntax is a usage error naming the problem.
    let (code, _, _) = bounded_run(&config, &["--duration", "1s", "--gate", "ttft.p95 < soon"]);
    assert_eq!(code, Some(64));
}

#[test]
fn wait_ready_gives_up_with_exit_2() {
    let config = config_for(
        "127.0.0.1:9".parse().unwrap(),
        "",
        "[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (code, _, _) = bounded_run(&config, &["--duration", "1s", "--wait-ready", "1s"]);
    assert_eq!(code, Some(2));
}

#[test]
fn the_canary_flips_to_failing_and_back_and_stops_its_success_clock() {
    let dir = tempfile::tempdir().unwrap();
    let sim_toml = dir.path().join("sim.toml");
    std::fs::write(
        &sim_toml,
        "[simulator]\nprefill_base = \"5ms\"\nitl_base = \"2ms\"\n[[simulator.faults]]\nkind = \"http_5xx\"\nrate = 1.0\nfrom = \"2500ms\"\nuntil = \"5s\"\n",
    )
    .unwrap();
    let (_sim, sim_addr) = simulator(&["-c", sim_toml.to_str().unwrap()]);
    // A canary-only config: no [load], no [[scenario]].
    let config = format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"http://{sim_addr}\"\nmodel = \"llm-soak-sim\"\n\
         [canary]\ninterval = \"200ms\"\nmax_tokens = 4\nmax_output_tokens = 4\nexpect = \"\\\\w+\"\n"
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    let started = Instant::now();
    let mut seen: Vec<(f64, f64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        let (_, s) = scrape(addr);
        let success = s
            .iter()
            .find(|x| x.name == "llmsoak_canary_success")
            .map(|x| x.value);
        let last = sum(&s, "llmsoak_canary_last_success_timestamp_seconds", &[]);
        if let Some(ok) = success {
            seen.push((ok, last));
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let flips: Vec<f64> = seen.iter().map(|x| x.0).fold(Vec::new(), |mut v, x| {
        if v.last() != Some(&x) {
            v.push(x);
        }
        v
    });
    assert_eq!(flips, vec![1.0, 0.0, 1.0], "{seen:?}");
    // While failing, the success clock stands still; before and after it moves.
    let failing: Vec<f64> = seen.iter().filter(|x| x.0 == 0.0).map(|x| x.1).collect();
    assert!(failing.windows(2).all(|w| w[0] == w[1]), "{failing:?}");
    let first = seen.first().unwrap().1;
    let last = seen.last().unwrap().1;
    assert!(last > first + 2.0, "{seen:?}");
    let (_, s) = scrape(addr);
    assert!(sum(&s, "llmsoak_canary_probes_total", &[("outcome", "failure")]) >= 5.0);
    assert!(
        sum(
            &s,
            "llmsoak_canary_check_failures_total",
            &[("check", "status")]
        ) >= 5.0
    );
    // Canary requests feed the request histograms as scenario "canary".
    assert!(
        sum(
            &s,
            "llmsoak_request_time_to_first_token_seconds_count",
            &[("llmsoak_scenario", "canary")]
        ) >= 10.0
    );
    assert_eq!(
        sum(
            &s,
            "llmsoak_requests_total",
            &[("llmsoak_scenario", "canary"), ("error_type", "http_5xx")]
        ),
        sum(&s, "llmsoak_canary_probes_total", &[("outcome", "failure")])
    );
}

#[test]
fn a_closed_loop_holds_its_users_concurrency() {
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "40ms",
        "--itl",
        "10ms",
        "--itl-per-seq",
        "0s",
        "--prefill-per-token",
        "0s",
    ]);
    let config = format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"http://{sim_addr}\"\nmodel = \"llm-soak-sim\"\n\
         [load]\nmode = \"closed\"\nusers = 4\nthink_time = \"20ms\"\n\
         [[scenario]]\nname = \"s1\"\ninput_tokens = 16\noutput_tokens = 10\n"
    );
    let (mut p, addr, _dir) = daemon(&config, &["--duration", "4s"]);
    let mut max_in_flight = 0;
    let mut max_running = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let s = get_json(addr, "/api/v1/status");
        max_in_flight = max_in_flight.max(s["requests"]["in_flight"].as_u64().unwrap_or(0));
        max_running = max_running.max(
            get_json(sim_addr, "/stats")["running"]
                .as_u64()
                .unwrap_or(0),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, s) = scrape(addr);
    assert_eq!(sum(&s, "llmsoak_concurrency_limit", &[]), 4.0);
    assert!(
        (2..=4).contains(&max_in_flight),
        "in flight up to {max_in_flight}"
    );
    assert!(max_running <= 4, "the server saw {max_running} at once");
    // ~150 ms per request and 20 ms think: each user sends several per second.
    assert!(sum(&s, "llmsoak_requests_started_total", &[]) >= 4.0 * 10.0);
    assert_eq!(sum(&s, "llmsoak_schedule_dropped_total", &[]), 0.0);
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
}
