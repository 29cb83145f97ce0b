//! The measurement defects of ordinary conditions, each against the real binary and the
//! simulator's ground truth: hidden reasoning tokens, rates over the measured window (never the
//! drain) and each phase's own time, a closed loop's budget, its exported concurrency and
//! connection reuse, schedule lag taken at dispatch, and a reload that neither repeats a
//! sequence number nor lets more requests run than the cap.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;

/// Every truth row the simulator still holds (it keeps the recent ones).
fn truth_rows(sim: std::net::SocketAddr) -> Vec<serde_json::Value> {
    get_json(sim, "/stats/requests")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn hidden_reasoning_tokens_are_counted_apart_and_tpot_is_over_the_streamed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let sim_config = dir.path().join("sim.toml");
    // OpenAI's reasoning models: 48 reasoning tokens generated, never streamed, in usage.
    std::fs::write(
        &sim_config,
        "[simulator]\nreasoning_tokens = 48\nreasoning_hidden = true\n",
    )
    .unwrap();
    let (_sim, sim) = simulator(&[
        "-c",
        sim_config.to_str().unwrap(),
        "--ttft",
        "5ms",
        "--itl",
        "10ms",
        "--itl-per-seq",
        "0s",
    ]);
    let config = config_for(
        sim,
        "",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 10, duration = \"2s\" }",
        "input_tokens = 16\noutput_tokens = 64",
    );
    let (p, addr, _dir) = daemon(&config, &[]);
    wait_drained(addr, Duration::from_secs(60));
    let (_, s) = scrape(addr);
    let status = get_json(addr, "/api/v1/status");
    drop(p);
    let rows = truth_rows(sim);
    assert_eq!(rows.len(), 20, "{rows:?}");
    let streamed: u64 = rows
        .iter()
        .map(|r| r["completion_tokens"].as_u64().unwrap())
        .sum();
    let reasoning: u64 = rows
        .iter()
        .map(|r| r["reasoning_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(reasoning, 20 * 48, "every answer reasoned");
    assert_eq!(
        sum(&s, "llmsoak_tokens_hidden_reasoning_total", &[]),
        reasoning as f64
    );
    // Output tokens are the streamed ones, from usage (completion − hidden reasoning).
    assert_eq!(
        sum(
            &s,
            "llmsoak_tokens_output_total",
            &[("llmsoak_token_source", "usage")]
        ),
        streamed as f64
    );
    let all = &status["summary"]["all"];
    assert_eq!(all["tokens"]["output"].as_u64(), Some(streamed), "{all}");
    // TPOT over the streamed tokens: the server's own spacing of 10 ms, not 10 ms × 16/64.
    let tpot = all["latency"]["tpot"]["mean"].as_f64().unwrap();
    let truth_tpot: f64 = rows
        .iter()
        .map(|r| r["tpot_us"].as_f64().unwrap() / 1e6)
        .sum::<f64>()
        / rows.len() as f64;
    assert!(
        tpot >= 0.9 * truth_tpot,
        "client TPOT {tpot} against the server's {truth_tpot}"
    );
}

#[test]
fn rates_are_over_the_measured_window_and_each_phase_over_its_own_time() {
    // Each request takes about 2 s (4 tokens 500 ms apart): the drain after the 3 s schedule
    // lasts about as long as the schedule itself.
    let (_sim, sim) = simulator(&[
        "--ttft",
        "5ms",
        "--itl",
        "500ms",
        "--itl-per-seq",
        "0s",
        "--prefill-per-token",
        "0s",
        "--batch-capacity",
        "1000",
    ]);
    let config = config_for(
        sim,
        "",
        "arrival = \"constant\"\nmax_in_flight = 200\n\
         [[load.phases]]\nkind = \"steady\"\nrate = 10\nduration = \"2s\"\n\
         [[load.phases]]\nkind = \"steady\"\nrate = 30\nduration = \"1s\"",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "2m"]);
    assert_eq!(code, Some(0), "{out}");
    let s = &report["summary"];
    let measured = s["measured_seconds"].as_f64().unwrap();
    let elapsed = report["elapsed_seconds"].as_f64().unwrap();
    assert!(
        measured > 2.9 && measured < elapsed - 1.0,
        "measured {measured} s of {elapsed} s: the drain is not measured"
    );
    assert_eq!(s["all"]["started"], 50);
    let rate = s["all"]["achieved_rate"].as_f64().unwrap();
    assert!(
        (50.0 / measured - rate).abs() < 1e-9 && rate > 12.0,
        "{rate}"
    );
    let phases = s["phases"].as_array().unwrap();
    let phase_rate = |i: usize| phases[i]["achieved_rate"].as_f64().unwrap();
    // 20 arrivals in the 2 s of phase 0, 30 in the 1 s of phase 1.
    assert!((phase_rate(0) - 10.0).abs() < 0.5, "{phases:?}");
    assert!((phase_rate(1) - 30.0).abs() < 1.5, "{phases:?}");
}

#[test]
fn a_closed_loop_budget_ends_the_run_and_its_users_reuse_their_connections() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = config_for(
        sim,
        "",
        "mode = \"closed\"\nusers = 4\nbudget = { max_requests = 200 }",
        "input_tokens = 16\noutput_tokens = 8",
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "10m"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report["requests"]["started"], 200, "{report}");
    assert_eq!(report["requests"]["finished"]["success"], 200, "{report}");
    assert_eq!(report["signal"], serde_json::Value::Null);
    // It ended when the budget was spent, not at --duration.
    assert!(report["elapsed_seconds"].as_f64().unwrap() < 540.0);
    // Four users on keep-alive connections: a handful of connections for 200 requests (the
    // readiness check's among them), never one per request.
    let truth = get_json(sim, "/stats");
    let connections = truth["connections_accepted"].as_u64().unwrap();
    assert!(
        (1..=8).contains(&connections),
        "{connections} connections for 200 requests"
    );
}

#[test]
fn a_closed_loop_exports_its_users_and_no_cap_to_saturate() {
    let (_sim, sim) = simulator(&["--ttft", "50ms", "--itl", "5ms"]);
    let config = config_for(
        sim,
        "",
        "mode = \"closed\"\nusers = 3",
        "input_tokens = 16\noutput_tokens = 8",
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    let s = eventually("three users active", Duration::from_secs(30), || {
        let (_, s) = scrape(addr);
        (sum(&s, "llmsoak_users_active", &[]) == 3.0
            && sum(&s, "llmsoak_requests_total", &[]) > 0.0)
            .then_some(s)
    });
    // No cap: LlmSoakClientSaturated divides by a positive limit only.
    assert_eq!(sum(&s, "llmsoak_concurrency_limit", &[]), 0.0);
    // Schedule lag belongs to the open loop.
    assert_eq!(sum(&s, "llmsoak_schedule_lag_seconds_count", &[]), 0.0);
}

#[test]
fn schedule_lag_is_recorded_when_a_request_is_dispatched() {
    // The server holds every request for 60 s before its first token: nothing finishes while
    // the test looks, yet every dispatched arrival has its schedule lag recorded.
    let (_sim, sim) = simulator(&["--ttft", "60s", "--batch-capacity", "1000"]);
    let config = config_for(
        sim,
        "request_timeout = \"120s\"",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 10, duration = \"1s\" }",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (_p, addr, _dir) = daemon(&config, &[]);
    let s = eventually("ten arrivals dispatched", Duration::from_secs(30), || {
        let (_, s) = scrape(addr);
        (sum(&s, "llmsoak_requests_started_total", &[]) == 10.0).then_some(s)
    });
    assert_eq!(sum(&s, "llmsoak_requests_total", &[]), 0.0);
    let lagged = eventually("lag recorded", Duration::from_secs(30), || {
        let (_, s) = scrape(addr);
        let n = sum(&s, "llmsoak_schedule_lag_seconds_count", &[]);
        (n == 10.0).then_some(n)
    });
    assert_eq!(lagged, 10.0);
}

#[test]
fn a_reload_goes_on_with_the_sequence_and_never_exceeds_the_cap() {
    // Slow requests (2 s before the first token) at 20/s with a cap of 6: the cap is full all
    // the time, and each reload starts a new generation while the old one's requests run.
    let (_sim, sim) = simulator(&["--ttft", "2s", "--batch-capacity", "1000"]);
    let config = |rate: u32| {
        config_for(
            sim,
            "request_timeout = \"30s\"",
            &format!(
                "max_in_flight = 6\npreset = {{ name = \"steady\", rate = {rate}, duration = \"forever\" }}"
            ),
            "input_tokens = 16\noutput_tokens = 2",
        )
    };
    let (p, addr, dir) = daemon(&config(20), &[]);
    let path = dir.path().join("llm-soak.toml");
    let started = |addr| sum(&scrape(addr).1, "llmsoak_requests_started_total", &[]);
    eventually("the cap filled", Duration::from_secs(30), || {
        (started(addr) >= 6.0).then_some(())
    });
    for (i, rate) in [21, 22, 23].into_iter().enumerate() {
        std::fs::write(&path, config(rate)).unwrap();
        p.signal("HUP");
        eventually("the reload applied", Duration::from_secs(30), || {
            let (_, s) = scrape(addr);
            (sum(&s, "llmsoak_schedule_target_rate_per_second", &[]) == f64::from(rate))
                .then_some(())
        });
        // Requests of the new generation finished too.
        let want = 6.0 * (i as f64 + 2.0);
        eventually("requests finished", Duration::from_secs(60), || {
            let (_, s) = scrape(addr);
            (sum(&s, "llmsoak_requests_total", &[]) >= want).then_some(())
        });
    }
    let truth = get_json(sim, "/stats");
    let peak = truth["peak_concurrency"].as_u64().unwrap();
    assert!(peak <= 6, "the server saw {peak} requests at once (cap 6)");
    let rows = truth_rows(sim);
    let mut seqs: Vec<u64> = rows.iter().filter_map(|r| r["seq"].as_u64()).collect();
    assert!(seqs.len() >= 24, "{} rows", seqs.len());
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "a sequence number was sent twice");
}

/// A keep-alive HTTP/1.1 server that streams `[DONE]` and only then, 20 ms later, the chunked
/// body's end (as uvicorn does for vLLM and SGLang); returns its address and the connections it
/// accepted.
fn terminator_after_done_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    // One request: the head, then Content-Length bytes.
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let events = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n\
                                  data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n\
                                  data: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2,\"total_tokens\":10}}\n\n\
                                  data: [DONE]\n\n";
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    let msg = format!("{head}{:x}\r\n{events}\r\n", events.len());
                    if w.write_all(msg.as_bytes()).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    if w.write_all(b"0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[test]
fn connections_are_reused_when_the_body_ends_after_done() {
    let (addr, accepted) = terminator_after_done_server();
    let config = format!(
        "seed = 3\n[[target]]\nname = \"t\"\nbase_url = \"http://{addr}\"\nmodel = \"m\"\n\
         [load]\nmode = \"closed\"\nusers = 2\nbudget = {{ max_requests = 40 }}\n\
         [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 2\n"
    );
    let (code, out, report) = bounded_run(&config, &["--duration", "5m"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report["requests"]["finished"]["success"], 40, "{report}");
    // Two users (and the readiness check's connection, if it is not reused): not one per request.
    let n = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n <= 4, "{n} connections for 40 requests");
}
