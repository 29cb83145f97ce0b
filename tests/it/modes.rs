//! End to end, the ways people run llm-soak: multi-turn sessions, shards with a shared start,
//! bounded runs with reports and CI gates, waiting for the target, the always-on canary and the
//! closed loop — the real binary against the built-in target on 127.0.0.1 port 0.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::*;

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
fn every_api_carries_a_sessions_history_turn_by_turn() {
    // Issue #25: on `completions` the whole joined prompt was stored as the user turn (the
    // prompt doubled each turn); on `responses` the user turns were empty. Each turn must send
    // exactly the last one's input, its answer and a new 40-token question — measured by the
    // simulator's own tokenizer, per request.
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms", "--prefill-per-token", "0s"]);
    // Runs one after another: each session's last three rows (by seq) are this run's.
    for endpoint in ["chat", "completions", "responses", "messages"] {
        let config = config_for(
            sim,
            "",
            "arrival = \"constant\"\nmax_in_flight = 16\n[[load.phases]]\nkind = \"steady\"\nrate = 2\nduration = \"3s\"",
            &format!(
                "endpoint = \"{endpoint}\"\ninput_tokens = 40\noutput_tokens = 12\n\
                 session = {{ turns = 3, think_time = \"10ms\" }}"
            ),
        );
        let (code, out, report) = bounded_run(&config, &["--duration", "20s"]);
        assert_eq!(code, Some(0), "{endpoint}: {out}");
        // Sessions starting well before the schedule's end run all three turns.
        assert!(
            report["requests"]["finished"]["success"].as_u64().unwrap() >= 6,
            "{endpoint}: {}",
            report["requests"]
        );
        for seq in [0u64, 1] {
            let rows = get_json(sim, &format!("/stats/requests?seq={seq}"));
            let rows: Vec<&serde_json::Value> = rows
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .take(3)
                .rev()
                .collect();
            assert_eq!(rows.len(), 3, "{endpoint} session {seq}: {rows:?}");
            let n = |r: &serde_json::Value, k: &str| r[k].as_i64().unwrap();
            for t in 1..3 {
                let (before, now) = (rows[t - 1], rows[t]);
                let added = n(now, "prompt_tokens")
                    - n(before, "prompt_tokens")
                    - n(before, "completion_tokens");
                assert!(
                    (added - 40).abs() <= 6,
                    "{endpoint} session {seq} turn {t}: the prompt grew by {added} beyond the last turn and its answer, not by the 40-token question: {rows:?}"
                );
            }
        }
    }
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
fn wait_ready_uses_the_targets_own_headers() {
    // A target that authenticates by a custom header, not a bearer key.
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "5ms",
        "--itl",
        "2ms",
        "--require-header",
        "x-api-key: s3cret",
    ]);
    let with = |headers: &str| {
        config_for(
            sim_addr,
            headers,
            "arrival = \"constant\"\n[[load.phases]]\nkind = \"steady\"\nrate = 5\nduration = \"1s\"",
            "input_tokens = 16\noutput_tokens = 4",
        )
    };
    let (code, _, report) = bounded_run(
        &with("headers = { \"x-api-key\" = \"s3cret\" }"),
        &["--duration", "1s", "--wait-ready", "30s"],
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["requests"]["finished"]["success"], 5, "{report}");
    // Without the header the target never says it is ready: exit 2.
    let (code, _, _) = bounded_run(&with(""), &["--duration", "1s", "--wait-ready", "1s"]);
    assert_eq!(code, Some(2));
}

/// The canary's last reading: (success gauge, last-success timestamp, failed probes).
fn canary_state(addr: std::net::SocketAddr) -> Option<(f64, f64, f64)> {
    let (_, s) = scrape(addr);
    let success = s
        .iter()
        .find(|x| x.name == "llmsoak_canary_success")
        .map(|x| x.value)?;
    Some((
        success,
        sum(&s, "llmsoak_canary_last_success_timestamp_seconds", &[]),
        sum(&s, "llmsoak_canary_probes_total", &[("outcome", "failure")]),
    ))
}

/// Set the simulator's fault rules now (`[]` clears them).
fn set_faults(sim: std::net::SocketAddr, rules: &str) {
    let request = format!(
        "PUT /control/faults HTTP/1.0\r\nHost: {sim}\r\nContent-Length: {}\r\n\r\n{rules}",
        rules.len()
    );
    let (status, body) = exchange(sim, &request, Duration::from_secs(30));
    assert_eq!(status, 204, "{body}");
}

#[test]
fn the_canary_flips_to_failing_and_back_and_stops_its_success_clock() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    // A canary-only config: no [load], no [[scenario]].
    let config = format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"http://{sim_addr}\"\nmodel = \"llm-soak-sim\"\n\
         [canary]\ninterval = \"200ms\"\nmax_tokens = 4\nmax_output_tokens = 4\nexpect = \"\\\\w+\"\n"
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    let wait = |what: &str, f: &dyn Fn((f64, f64, f64)) -> bool| {
        eventually(what, Duration::from_secs(60), || {
            canary_state(addr).filter(|s| f(*s))
        })
    };
    // Healthy: succeeding, and the success clock moves.
    let (_, t0, _) = wait("a successful probe", &|s| s.0 == 1.0);
    let (_, healthy, _) = wait("the success clock to move", &|s| s.0 == 1.0 && s.1 > t0);
    // The target fails every request from now on: the canary fails, the clock stops.
    set_faults(sim_addr, r#"[{"kind": "http_5xx", "rate": 1.0}]"#);
    let (_, stopped, failures) = wait("a failing probe", &|s| s.0 == 0.0);
    assert!(stopped >= healthy);
    let (_, still, _) = wait("five failed probes", &|s| s.2 >= failures + 5.0);
    assert_eq!(
        still, stopped,
        "the success clock stood still while failing"
    );
    // The target recovers: the canary succeeds again and the clock moves on.
    set_faults(sim_addr, "[]");
    let (_, again, _) = wait("recovery", &|s| s.0 == 1.0 && s.1 > still);
    assert!(again > stopped);
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
        ) >= 2.0
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

/// A canary-only config against `addr` with a 1 s probe timeout, on a target whose own timeouts
/// are an hour: only `canary.timeout` can end a hung probe in time.
fn hung_canary_config(addr: std::net::SocketAddr) -> String {
    format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"http://{addr}\"\nmodel = \"llm-soak-sim\"\n\
         request_timeout = \"1h\"\nidle_timeout = \"1h\"\n\
         [canary]\ninterval = \"500ms\"\ntimeout = \"1s\"\nmax_tokens = 8\n"
    )
}

/// Waits until the canary has counted `n` failed probes, then checks each was counted once,
/// as check `timeout` and as a request that timed out (never `cancelled` or a success).
fn assert_probes_time_out(addr: std::net::SocketAddr, n: f64) {
    let failures = |s: &[Sample]| sum(s, "llmsoak_canary_probes_total", &[("outcome", "failure")]);
    let s = eventually("failed probes", Duration::from_secs(60), || {
        let (_, s) = scrape(addr);
        (failures(&s) >= n).then_some(s)
    });
    let failed = failures(&s);
    assert_eq!(
        sum(&s, "llmsoak_canary_probes_total", &[("outcome", "success")]),
        0.0
    );
    assert_eq!(sum(&s, "llmsoak_canary_success", &[]), 0.0);
    let timeouts = sum(
        &s,
        "llmsoak_canary_check_failures_total",
        &[("check", "timeout")],
    );
    let checks = sum(&s, "llmsoak_canary_check_failures_total", &[]);
    // A scrape may fall between a probe's two counters: at most one apart, never counted twice.
    assert!(
        (timeouts - failed).abs() <= 1.0 && checks == timeouts,
        "{failed} failures, {timeouts} timeout checks, {checks} checks"
    );
    let timed_out = sum(
        &s,
        "llmsoak_requests_total",
        &[("llmsoak_scenario", "canary"), ("outcome", "timeout")],
    );
    assert!(timed_out >= n, "{timed_out}");
    assert_eq!(
        sum(
            &s,
            "llmsoak_requests_total",
            &[("llmsoak_scenario", "canary"), ("outcome", "cancelled")]
        ),
        0.0
    );
}

#[test]
fn the_canary_fails_a_stalled_stream_within_its_timeout() {
    // Every stream stops halfway for an hour: the probe has its first token, then nothing.
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "5ms",
        "--itl",
        "2ms",
        "--stall-rate",
        "1.0",
        "--stall-for",
        "1h",
    ]);
    let (_p, addr, _dir) = daemon(&hung_canary_config(sim_addr), &[]);
    assert_probes_time_out(addr, 3.0);
}

#[test]
fn the_canary_fails_a_server_that_never_answers_within_its_timeout() {
    // Accepts, reads, never answers: no first token, no status.
    let (_p, addr, _dir) = daemon(&hung_canary_config(black_hole()), &[]);
    assert_probes_time_out(addr, 3.0);
}

#[test]
fn a_closed_loop_holds_its_users_concurrency() {
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "200ms",
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
    let (code, _, report) = bounded_run(&config, &["--duration", "4s"]);
    assert_eq!(code, Some(0), "{report}");
    // The server's own count of requests in progress at once: never more than the users, and
    // the four users' requests did overlap (each takes at least 300 ms of the simulator's time).
    let truth = get_json(sim_addr, "/stats");
    let peak = truth["peak_concurrency"].as_u64().unwrap();
    assert!((2..=4).contains(&peak), "the server saw {peak} at once");
    let r = &report["requests"];
    let started = r["started"].as_u64().unwrap();
    assert_eq!(
        r["finished"]["success"].as_u64().unwrap(),
        started,
        "{report}"
    );
    assert_eq!(r["dropped"], 0);
    assert_eq!(truth["requests"].as_u64().unwrap(), started);
    // A closed loop goes on: every user sent more than one request.
    assert!(started > 4, "{started}");
}

#[test]
fn a_budget_spent_is_not_a_drop_but_the_in_flight_cap_is() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    // Issue #25's shape, scaled down: a user ramp ending in a budget. Each user finds the budget
    // spent once; none of that is offered load that was not sent.
    let closed = format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"http://{sim_addr}\"\nmodel = \"llm-soak-sim\"\n\
         [load]\nmode = \"closed\"\nusers = {{ from = 1, to = 32, over = \"1s\" }}\n\
         budget = {{ max_requests = 96 }}\n\
         [[scenario]]\nname = \"s1\"\ninput_tokens = 16\noutput_tokens = 4\n"
    );
    let (code, stdout, report) = bounded_run(&closed, &["--duration", "60s"]);
    assert_eq!(code, Some(0), "{stdout}");
    let r = &report["requests"];
    assert_eq!(r["started"], 96, "{report}");
    assert_eq!(r["dropped"], 0, "{report}");
    assert!(r["drops"]["budget"].as_u64().unwrap() >= 1, "{report}");
    let s = &report["summary"];
    assert_eq!(
        (s["dropped"].as_u64(), s["drop_rate"].as_f64()),
        (Some(0), Some(0.0))
    );
    let reasons = s["trust"]["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .all(|r| !r.as_str().unwrap().contains("dropped")),
        "a spent budget is not a capacity drop: {reasons:?}"
    );
    assert!(
        stdout.contains("dropped 0, not sent by design budget"),
        "{stdout}"
    );
    // A drop_rate gate passes the healthy budgeted run.
    let (code, stdout, _) =
        bounded_run(&closed, &["--duration", "60s", "--gate", "drop_rate < 1%"]);
    assert_eq!(code, Some(0), "{stdout}");

    // The real cap: one request in flight at most, arrivals far faster than a request takes.
    let (_slow, slow_addr) = simulator(&["--ttft", "300ms", "--itl", "10ms"]);
    let capped = config_for(
        slow_addr,
        "",
        "arrival = \"constant\"\nmax_in_flight = 1\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"1s\"",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (code, stdout, report) = bounded_run(&capped, &["--duration", "30s"]);
    assert_eq!(code, Some(0), "{stdout}");
    let s = &report["summary"];
    assert!(s["dropped"].as_u64().unwrap() > 5, "{report}");
    assert_eq!(s["drops"]["max_in_flight"], s["dropped"]);
    assert_eq!(s["trust"]["verdict"], "client_limited", "{report}");
    let reasons = s["trust"]["reasons"].to_string();
    assert!(
        reasons.contains("dropped at the in-flight cap (load.max_in_flight)"),
        "{reasons}"
    );
    assert!(
        !reasons.contains("sessions"),
        "names only what it counted: {reasons}"
    );
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
    // The running schedule goes on publishing its rate (every second): still the old one.
    let published = gauge("llmsoak_requests_started_total");
    eventually(
        "arrivals under the kept config",
        Duration::from_secs(60),
        || (gauge("llmsoak_requests_started_total") > published).then_some(()),
    );
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
