//! The fault matrix: every way a production target misbehaves, each behind its own target in one
//! run — the simulator's fault modes (one simulator per fault, at rate 1) and small purpose-built
//! servers here for what the simulator cannot produce. For each: no panic, every request is
//! counted under the right `error_type` (DESIGN §4), started = finished once drained, memory stays
//! bounded, and the healthy target next to them gets every one of its requests through.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::common::*;

/// Read one HTTP request (head and Content-Length body).
fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        let Ok(n) = s.read(&mut byte) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let Ok(n) = s.read(&mut byte) else {
                    return false;
                };
                if n == 0 {
                    return false;
                }
                buf.extend_from_slice(&byte[..n]);
            }
            return true;
        }
    }
}

const SSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

fn chunk(content: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n")
}

fn finish() -> String {
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
     data: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":2,\"total_tokens\":10}}\n\n"
        .to_string()
}

/// What a purpose-built server does with each request.
type Behaviour = fn(&mut TcpStream);

/// A server on 127.0.0.1 port 0 that answers every request with `behave`, one thread per
/// connection, closing the connection afterwards.
fn bad_server(behave: Behaviour) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                if read_request(&mut s) {
                    behave(&mut s);
                }
            });
        }
    });
    addr
}

fn never_answers(s: &mut TcpStream) {
    std::thread::sleep(Duration::from_secs(30));
    let _ = s.write_all(b"");
}

fn invalid_utf8(s: &mut TcpStream) {
    let mut body = SSE.to_vec();
    body.extend_from_slice(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\xfe\x80\"}}]}\n\n",
    );
    let _ = s.write_all(&body);
}

fn garbage(s: &mut TcpStream) {
    let mut body = SSE.to_vec();
    body.extend_from_slice(b"\x00\x13\x37garbage\xfe\n\x7f\x80 not sse at all\n\n<<<>>>\n\n");
    let _ = s.write_all(&body);
}

fn midstream_error(s: &mut TcpStream) {
    let body = chunk("Hello")
        + "data: {\"error\":{\"message\":\"CUDA out of memory\",\"type\":\"server_error\",\"code\":500}}\n\n";
    let _ = s.write_all(&[SSE, body.as_bytes()].concat());
}

fn duplicated_done(s: &mut TcpStream) {
    let body = chunk("Hello") + &chunk(" there") + &finish() + "data: [DONE]\n\ndata: [DONE]\n\n";
    let _ = s.write_all(&[SSE, body.as_bytes()].concat());
}

fn chunked_error(s: &mut TcpStream) {
    let first = chunk("Hello");
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let msg = format!(
        "{head}{:x}\r\n{first}\r\nzz-not-a-chunk-size\r\n\r\n",
        first.len()
    );
    let _ = s.write_all(msg.as_bytes());
    std::thread::sleep(Duration::from_millis(200));
}

fn json_error_401(s: &mut TcpStream) {
    let body = "{\"error\":{\"message\":\"invalid api key\",\"type\":\"invalid_request_error\"}}";
    let msg = format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(msg.as_bytes());
}

/// The role chunk at once, then 2.5 s in the queue (longer than the 1.5 s idle timeout) before
/// the first token: the wait is TTFT, not a stall.
fn role_then_queue(s: &mut TcpStream) {
    let role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
    let _ = s.write_all(&[SSE, role.as_bytes()].concat());
    std::thread::sleep(Duration::from_millis(2500));
    let body = chunk("Hello") + &chunk(" there") + &finish() + "data: [DONE]\n\n";
    let _ = s.write_all(body.as_bytes());
}

/// The whole answer with its `finish_reason` and usage, then the connection lost before
/// `[DONE]` and before the chunked body's end (a read error): the answer was complete.
fn finish_then_reset(s: &mut TcpStream) {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let body = chunk("Hello") + &chunk(" there") + &finish();
    let msg = format!("{head}{:x}\r\n{body}\r\n", body.len());
    let _ = s.write_all(msg.as_bytes());
    // Closed here, inside the chunked body: the client's read fails.
}

/// OpenAI's rate limit, as a string code mid-stream.
fn rate_limit_midstream(s: &mut TcpStream) {
    let body = chunk("Hello")
        + "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n";
    let _ = s.write_all(&[SSE, body.as_bytes()].concat());
}

/// TGI's overload, a string error with its type beside it.
fn tgi_overloaded(s: &mut TcpStream) {
    let body = chunk("Hello")
        + "data: {\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n";
    let _ = s.write_all(&[SSE, body.as_bytes()].concat());
}

/// A target whose total timeout is 3 s where the fault is about it (a server that never
/// finishes), else 20 s, so a slow first chunk on a loaded machine is never misread as the fault.
fn target(name: &str, addr: SocketAddr) -> String {
    let total = if ["never_ends", "slow_headers", "never_answers"].contains(&name) {
        "3s"
    } else {
        "20s"
    };
    // The first token may take as long as the request; this one only 500 ms.
    let first = if name == "first_token_timeout" {
        "first_token_timeout = \"500ms\"\n"
    } else {
        ""
    };
    format!(
        "[[target]]\nname = \"{name}\"\nbase_url = \"http://{addr}\"\nmodel = \"m\"\nrequest_timeout = \"{total}\"\nidle_timeout = \"1500ms\"\nconnect_timeout = \"1s\"\n{first}\n"
    )
}

fn scenario(name: &str) -> String {
    format!(
        "[[scenario]]\nname = \"{name}\"\ntarget = \"{name}\"\ninput_tokens = 16\noutput_tokens = 16\n\n"
    )
}

#[test]
fn every_fault_is_classified_counted_and_contained() {
    // (target name, what llm-soak must call it: an error_type, or "success")
    let sim_faults = [
        ("http_5xx", "http_5xx"),
        ("http_4xx", "http_4xx"),
        ("http_429", "http_429"),
        ("html_200", "not_sse"),
        ("reset", "reset"),
        ("stall", "stall"),
        ("never_ends", "timeout"),
        ("truncate", "truncated"),
        ("malformed", "bad_event"),
        ("oversized", "oversized_event"),
        ("no_usage", "success"),
        ("slow_headers", "timeout"),
        ("stream_error", "http_5xx"),
    ];
    let mut sims = Vec::new();
    // Plenty of KV cache: stalled sequences hold theirs, and queueing for KV would be another
    // fault (a timeout before the first token).
    let sim_dir = tempfile::tempdir().unwrap();
    let sim_config = sim_dir.path().join("sim.toml");
    std::fs::write(&sim_config, "[simulator]\nkv_cache_tokens = 100000000\n").unwrap();
    let mut text = String::from(
        "seed = 11\n[load]\narrival = \"constant\"\nmax_in_flight = 2000\npreset = { name = \"steady\", rate = 120, duration = \"3s\" }\n\n",
    );
    let (healthy, healthy_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    text += &target("healthy", healthy_addr);
    text += &scenario("healthy");
    for (fault, _) in sim_faults {
        // Room for every request at once: queueing in the simulator would be another fault.
        let (p, addr) = simulator(&[
            "--ttft",
            "5ms",
            "--itl",
            "2ms",
            "--batch-capacity",
            "100000",
            "-c",
            sim_config.to_str().unwrap(),
            "--fault",
            &format!("{fault}=1"),
        ]);
        text += &target(fault, addr);
        text += &scenario(fault);
        sims.push(p);
    }
    let raw: [(&str, Behaviour, &str); 12] = [
        ("never_answers", never_answers, "timeout"),
        ("invalid_utf8", invalid_utf8, "bad_event"),
        ("garbage", garbage, "truncated"),
        // An error payload mid-stream is classified by its code (vLLM sends `code`).
        ("midstream_error", midstream_error, "http_5xx"),
        ("duplicated_done", duplicated_done, "success"),
        ("chunked_error", chunked_error, "reset"),
        ("json_error_401", json_error_401, "http_4xx"),
        ("role_then_queue", role_then_queue, "success"),
        ("first_token_timeout", role_then_queue, "timeout"),
        ("finish_then_reset", finish_then_reset, "success"),
        ("rate_limit_midstream", rate_limit_midstream, "http_429"),
        ("tgi_overloaded", tgi_overloaded, "http_429"),
    ];
    for (name, behave, _) in raw {
        text += &target(name, bad_server(behave));
        text += &scenario(name);
    }
    // Nobody listens here: connection refused.
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    text += &target("refused", refused);
    text += &scenario("refused");

    let (p, addr, _dir) = daemon(&text, &[]);
    let status = wait_drained(addr, Duration::from_secs(120));
    let (_, s) = scrape(addr);
    let started = sum(&s, "llmsoak_requests_started_total", &[]);
    let finished = sum(&s, "llmsoak_requests_total", &[]);
    assert_eq!(
        started, 360.0,
        "constant arrivals: 120/s for 3 s, none dropped"
    );
    assert_eq!(finished, started, "started = finished once drained");
    assert_eq!(sum(&s, "llmsoak_schedule_dropped_total", &[]), 0.0);
    assert_eq!(status["requests"]["in_flight"], 0);
    let expected = std::iter::once(("healthy", "success"))
        .chain(sim_faults)
        .chain(raw.iter().map(|(n, _, e)| (*n, *e)))
        .chain([("refused", "connect")]);
    let mut report = Vec::new();
    for (name, want) in expected {
        let sc = [("llmsoak_scenario", name)];
        let n = sum(&s, "llmsoak_requests_total", &sc);
        assert!(n > 0.0, "{name}: no requests drawn");
        let got = if want == "success" {
            sum(
                &s,
                "llmsoak_requests_total",
                &[("llmsoak_scenario", name), ("outcome", "success")],
            )
        } else {
            sum(
                &s,
                "llmsoak_requests_total",
                &[("llmsoak_scenario", name), ("error_type", want)],
            )
        };
        if got != n {
            let types: Vec<String> = s
                .iter()
                .filter(|x| {
                    x.name == "llmsoak_requests_total"
                        && x.labels.get("llmsoak_scenario").map(String::as_str) == Some(name)
                        && x.value > 0.0
                })
                .map(|x| format!("{:?}={}", x.labels.get("error_type"), x.value))
                .collect();
            report.push(format!("{name}: want all {n} as {want}, got {types:?}"));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert_eq!(
        sum(
            &s,
            "llmsoak_tokens_usage_missing_total",
            &[("llmsoak_scenario", "no_usage")]
        ),
        sum(
            &s,
            "llmsoak_requests_total",
            &[("llmsoak_scenario", "no_usage")]
        )
    );
    // Bounded memory: 16 MiB events and 30 s hangs did not pile up in the client.
    let rss = rss_bytes(p.child.id());
    assert!(rss < 300 << 20, "RSS {rss}");
    drop(healthy);
}

#[test]
fn a_target_that_restarts_mid_run_costs_only_the_requests_sent_while_it_was_down() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let start_sim = || {
        let sim = Proc::spawn(&[
            "simulate", "--listen", &listen, "--ttft", "5ms", "--itl", "2ms",
        ]);
        sim.wait_line("listening on http://", Duration::from_secs(30));
        sim
    };
    let sim = start_sim();
    let config = config_for(
        listen.parse().unwrap(),
        "connect_timeout = \"500ms\"\nrequest_timeout = \"2s\"",
        "arrival = \"constant\"\nmax_in_flight = 500\npreset = { name = \"steady\", rate = 20 }",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let (mut p, addr, _dir) = daemon(&config, &["--report", report.to_str().unwrap()]);
    let count = |filter: &[(&str, &str)]| sum(&scrape(addr).1, "llmsoak_requests_total", filter);
    // Up, down, up again, each stage until the requests show it (not for a fixed time).
    eventually(
        "successes before the restart",
        Duration::from_secs(60),
        || (count(&[("outcome", "success")]) >= 20.0).then_some(()),
    );
    drop(sim);
    eventually(
        "connect failures while down",
        Duration::from_secs(60),
        || (count(&[("error_type", "connect")]) >= 5.0).then_some(()),
    );
    let before_restart = count(&[("outcome", "success")]);
    let sim = start_sim();
    eventually(
        "successes after the restart",
        Duration::from_secs(60),
        || (count(&[("outcome", "success")]) >= before_restart + 20.0).then_some(()),
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(120)).code(), Some(0));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let all = &r["summary"]["all"];
    let started = r["requests"]["started"].as_u64().unwrap();
    let finished = &r["requests"]["finished"];
    let total: u64 = ["success", "error", "timeout", "cancelled"]
        .iter()
        .map(|o| finished[o].as_u64().unwrap())
        .sum();
    assert_eq!(total, started, "every request accounted for: {r}");
    // Only connect failures and the streams the restart cut; successes before and after.
    let types = all["error_types"].as_object().unwrap();
    assert!(types["connect"].as_u64().unwrap() >= 5, "{types:?}");
    for t in types.keys() {
        assert!(
            ["connect", "reset", "truncated", "cancelled"].contains(&t.as_str()),
            "unexpected failure class {t}: {types:?}"
        );
    }
    let truth = get_json(listen.parse().unwrap(), "/stats");
    assert!(
        truth["streams_completed"].as_f64().unwrap() >= 20.0,
        "the restarted target served requests"
    );
    drop(sim);
}

/// An HTTP/2 server (prior knowledge, cleartext) that refuses every stream with REFUSED_STREAM
/// and counts the streams it saw.
fn refusing_h2_server() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let streams = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&streams);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            while let Ok((sock, _)) = l.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(sock).await else {
                        return;
                    };
                    while let Some(Ok((_req, mut respond))) = conn.accept().await {
                        seen.fetch_add(1, Ordering::SeqCst);
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                    }
                });
            }
        });
    });
    (addr, streams)
}

#[test]
fn a_refused_http2_stream_is_counted_once_and_never_retried() {
    // reqwest retries REFUSED_STREAM by default: the server would see more streams than the
    // client counted requests, and the failure would vanish.
    let (addr, streams) = refusing_h2_server();
    let config = config_for(
        addr,
        "http = \"2\"\nrequest_timeout = \"10s\"",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 20, duration = \"1s\" }",
        "input_tokens = 8\noutput_tokens = 4",
    );
    let (_, _, report) = bounded_run(&config, &["--duration", "30s"]);
    let started = report["requests"]["started"].as_u64().unwrap();
    assert_eq!(started, 20, "{report}");
    assert_eq!(report["requests"]["finished"]["error"], 20, "{report}");
    assert_eq!(
        report["summary"]["all"]["error_types"]["reset"], 20,
        "{report}"
    );
    assert_eq!(
        streams.load(std::sync::atomic::Ordering::SeqCst),
        started,
        "every stream the server saw is a request the client counted"
    );
}
