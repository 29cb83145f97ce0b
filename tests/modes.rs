//! End to end, the ways people run llm-soak: multi-turn sessions, shards with a shared start,
//! bounded runs with reports and CI gates, waiting for the target, the always-on canary and the
//! closed loop — the real binary against the built-in target on 127.0.0.1 port 0.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

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

#[test]
fn reload_applies_a_new_rate_and_keeps_the_running_config_on_errors() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = |rate: &str| {
        config_for(
            sim_addr,
            "",
            &format!(
                "max_in_flight = 64\n[[load.phases]]\nkind = \"steady\"\nrate = {rate}\nduration = \"forever\""
            ),
            "input_tokens = 16\noutput_tokens = 4",
        )
    };
    let (p, addr, dir) = daemon(&config("2"), &[]);
    let path = dir.path().join("llm-soak.toml");
    let gauge = |name: &str| sum(&scrape(addr).1, name, &[]);
    let wait_for = |name: &str, want: f64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while gauge(name) != want {
            assert!(Instant::now() < deadline, "{name} never became {want}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("llmsoak_schedule_target_rate_per_second", 2.0);
    let before = gauge("llmsoak_requests_started_total");
    // A valid change via SIGHUP: the new rate runs, counters carry on.
    std::fs::write(&path, config("7")).unwrap();
    p.signal("HUP");
    wait_for("llmsoak_schedule_target_rate_per_second", 7.0);
    assert_eq!(gauge("llmsoak_config_last_reload_successful"), 1.0);
    assert!(gauge("llmsoak_requests_started_total") >= before);
    // A broken config: the old one keeps running and the reload gauge says so.
    std::fs::write(&path, config("-1")).unwrap();
    p.signal("HUP");
    wait_for("llmsoak_config_last_reload_successful", 0.0);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(gauge("llmsoak_schedule_target_rate_per_second"), 7.0);
    let (status, body) = post_json(addr, "/-/reload", &serde_json::json!({}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("load.phases[0].rate: must be >= 0 (got -1)"),
        "{body}"
    );
    // POST /-/reload with a good config again.
    std::fs::write(&path, config("3")).unwrap();
    let (status, body) = post_json(addr, "/-/reload", &serde_json::json!({}));
    assert_eq!(status, 200, "{body}");
    wait_for("llmsoak_schedule_target_rate_per_second", 3.0);
    assert_eq!(gauge("llmsoak_config_last_reload_successful"), 1.0);
    // A change that needs a restart is refused.
    std::fs::write(
        &path,
        config("3").replace("name = \"s1\"", "name = \"renamed\""),
    )
    .unwrap();
    let (status, body) = post_json(addr, "/-/reload", &serde_json::json!({}));
    assert_eq!(status, 400);
    assert!(body.contains("scenarios changed"), "{body}");
}

#[test]
fn the_request_log_has_one_line_per_request() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\n[[load.phases]]\nkind = \"steady\"\nrate = 10\nduration = \"2s\"",
        "input_tokens = 16\noutput_tokens = 4",
    ) + &format!(
        "\n[output]\nrequests_jsonl = {{ path = \"{}\", keep = 1 }}\n",
        log.display()
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "10s"]);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len() as u64,
        report["requests"]["started"].as_u64().unwrap()
    );
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l["scenario"] == "s1"
        && l["outcome"] == "success"
        && l["ttft"].as_f64().unwrap() > 0.0));
    assert_eq!(lines[3]["output_tokens"], 4);
}

#[test]
fn the_report_breaks_the_run_down_per_phase() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\n[[load.phases]]\nkind = \"steady\"\nrate = 5\nduration = \"2s\"\n\
         [[load.phases]]\nkind = \"ramp\"\nfrom = 10\nto = 30\nduration = \"2s\"",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "1m"]);
    assert_eq!(code, Some(0), "{out}");
    let phases = report["summary"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    assert_eq!(
        (phases[0]["kind"].as_str(), phases[0]["started"].as_u64()),
        (Some("steady"), Some(10))
    );
    assert_eq!(
        (phases[1]["kind"].as_str(), phases[1]["started"].as_u64()),
        (Some("ramp"), Some(40))
    );
    assert_eq!(phases[1]["latency"]["ttft"]["samples"].as_u64(), Some(40));
    assert!(out.contains("[phase 1: ramp] started 40"), "{out}");
}
