//! Lifecycle under stress: a second SIGTERM ends the drain at once (in-flight requests are
//! cancelled and counted, the report says interrupted), a SIGHUP storm leaves the daemon running
//! its config, a full disk under the request log loses log lines (counted) but no requests, and
//! llm-soak never starts a child process.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid: u32 = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == pid {
            out.push(e.file_name().to_string_lossy().parse().unwrap_or(0));
        }
    }
    out
}

#[test]
fn a_second_sigterm_ends_the_drain_at_once_and_nothing_is_left_behind() {
    let config = config_for(
        black_hole(),
        "request_timeout = \"10m\"",
        "arrival = \"constant\"\nmax_in_flight = 100\ndrain_timeout = \"5m\"\npreset = { name = \"steady\", rate = 20 }",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let (mut p, addr, _d) = daemon(
        &config,
        &["--duration", "10m", "--report", report.to_str().unwrap()],
    );
    // Requests pile up against the black hole.
    eventually("20 requests in flight", Duration::from_secs(60), || {
        let s = get_json(addr, "/api/v1/status");
        (s["requests"]["in_flight"].as_u64()? >= 20).then_some(())
    });
    assert!(
        children_of(p.child.id()).is_empty(),
        "llm-soak started a child process"
    );
    p.signal("TERM");
    // Draining: the hung requests would hold it for 5 minutes.
    eventually("the drain to begin", Duration::from_secs(60), || {
        (get_json(addr, "/api/v1/status")["state"] == "draining").then_some(())
    });
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the first SIGTERM drains, it does not exit"
    );
    p.signal("TERM");
    // The drain would take 5 minutes; exiting well before shows the second signal ended it.
    let status = p.wait_exit(Duration::from_secs(120));
    assert_eq!(status.code(), Some(143));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(r["signal"].is_string(), "{r}");
    let started = r["requests"]["started"].as_u64().unwrap();
    assert_eq!(
        r["requests"]["finished"]["cancelled"].as_u64().unwrap(),
        started,
        "{r}"
    );
}

/// The status API's reload counts: (attempted, succeeded).
fn reloads(addr: std::net::SocketAddr) -> (u64, u64) {
    let r = &get_json(addr, "/api/v1/status")["reloads"];
    (
        r["attempted"].as_u64().unwrap(),
        r["succeeded"].as_u64().unwrap(),
    )
}

#[test]
fn a_sighup_storm_leaves_the_daemon_running_its_config() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 20 }",
        "input_tokens = 16\noutput_tokens = 4",
    );
    let (p, addr, _d) = daemon(&config, &[]);
    eventually("the run to start", Duration::from_secs(60), || {
        (get_json(addr, "/api/v1/status")["state"] == "running").then_some(())
    });
    assert_eq!(reloads(addr), (0, 0));
    // One at a time: each SIGHUP is a reload that happened and succeeded.
    for n in 1..=3 {
        p.signal("HUP");
        eventually(&format!("reload {n}"), Duration::from_secs(60), || {
            (reloads(addr) == (n, n)).then_some(())
        });
    }
    // A storm: signals of one kind coalesce in the kernel, so at least one more reload happens
    // and every one of them succeeds; none is lost between the handler and the run loop.
    let stamp = |s: &[Sample]| sum(s, "llmsoak_config_last_reload_timestamp_seconds", &[]);
    let before = stamp(&scrape(addr).1);
    for _ in 0..50 {
        p.signal("HUP");
    }
    let (attempted, _) = eventually("the storm's reloads", Duration::from_secs(60), || {
        let r = reloads(addr);
        (r.0 > 3 && r.0 == r.1).then_some(r)
    });
    assert!(attempted <= 53, "{attempted} reloads for 53 signals");
    let (_, s) = scrape(addr);
    assert!(stamp(&s) > before, "the reload timestamp moved on");
    assert_eq!(sum(&s, "llmsoak_config_last_reload_successful", &[]), 1.0);
    // Arrivals go on under the reloaded config.
    let started = sum(&s, "llmsoak_requests_started_total", &[]);
    eventually("arrivals after the storm", Duration::from_secs(60), || {
        (sum(&scrape(addr).1, "llmsoak_requests_started_total", &[]) > started).then_some(())
    });
    assert_eq!(get_json(addr, "/api/v1/status")["state"], "running");
}

#[test]
fn a_full_disk_under_the_request_log_loses_lines_not_requests() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 20, duration = \"2s\" }",
        "input_tokens = 16\noutput_tokens = 4",
    ) + "\n[output]\nrequests_jsonl = { path = \"/dev/full\" }\n";
    let (_p, addr, _d) = daemon(&config, &[]);
    let status = wait_drained(addr, Duration::from_secs(60));
    let (_, s) = scrape(addr);
    assert_eq!(
        sum(&s, "llmsoak_requests_total", &[("outcome", "success")]),
        40.0
    );
    assert_eq!(status["request_log"]["dropped"], 40, "{status}");
    assert_eq!(status["request_log"]["written"], 0, "{status}");
}

/// Under systemd `Type=notify`: READY once running, WATCHDOG pings while the runtime runs,
/// STOPPING at the drain — over a fake `NOTIFY_SOCKET`; an invalid config never says READY.
#[test]
fn systemd_hears_ready_the_watchdog_and_stopping_and_nothing_from_a_bad_config() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        config_for(
            sim,
            "",
            "preset = { name = \"steady\", rate = 5 }",
            "input_tokens = 8\noutput_tokens = 4",
        ),
    )
    .unwrap();
    let spawn = |config: &std::path::Path| {
        std::process::Command::new(bin())
            .args([
                "run",
                "-c",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn(&config);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    // Each datagram is a message; wait (generously) until both have come.
    while !(seen.contains("READY=1") && seen.contains("WATCHDOG=1")) {
        let n = sock.recv(&mut buf).expect("a notification within 60 s");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(seen.contains("STATUS=run "), "{seen}");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    while !seen.contains("STOPPING=1") {
        let n = sock.recv(&mut buf).expect("STOPPING within 60 s");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(child.wait().unwrap().success());
    // An invalid config: exit 64, and not one notification queued.
    while sock.set_nonblocking(true).is_ok() && sock.recv(&mut buf).is_ok() {}
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[target]]\nname = 1\n").unwrap();
    let status = spawn(&bad).wait().unwrap();
    assert_eq!(status.code(), Some(64));
    let err = sock.recv(&mut buf).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::WouldBlock,
        "a bad config said something"
    );
}
