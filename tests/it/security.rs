//! Security defaults: secrets (API keys, OTLP headers, the control token, the metrics password)
//! never appear in logs (even at debug), `/api/v1/status`, `/metrics`, `print-config` or error
//! output; authentication on the read endpoints and the control token on the POST endpoints are
//! enforced; probes stay open.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const CANARY: &str = "CANARY-SECRET";

fn request(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    exchange(
        addr,
        &format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\n\r\n"),
        Duration::from_secs(30),
    )
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[test]
fn secrets_never_leak_and_access_is_enforced() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms", "--error-rate", "0.3"]);
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(
        sim_addr,
        "api_key_env = \"LLM_SOAK_API_KEY\"\nheaders = { \"x-api-token\" = \"CANARY-SECRET-inline-header\" }",
        "arrival = \"constant\"\npreset = { name = \"steady\", rate = 20 }",
        "input_tokens = 16\noutput_tokens = 4",
    ) + &format!(
        "\n[server]\nlisten = \"0.0.0.0:0\"\ncontrol_token_env = \"CONTROL_TOKEN\"\nauth = {{ username = \"prom\", password_env = \"METRICS_PASSWORD\" }}\n\
         [otlp]\nendpoint = \"http://{dead}\"\ninterval = \"300ms\"\ntimeout = \"200ms\"\nheaders = {{ authorization = {{ env = \"OTLP_TOKEN\" }} }}\nspans = {{ sample_ratio = 1.0 }}\n\
         [canary]\ninterval = \"200ms\"\n"
    );
    let path = dir.path().join("c.toml");
    std::fs::write(&path, &config).unwrap();
    let envs = [
        ("LLM_SOAK_API_KEY", "sk-CANARY-SECRET-api-key"),
        ("CONTROL_TOKEN", "CANARY-SECRET-control"),
        ("METRICS_PASSWORD", "CANARY-SECRET-metrics"),
        ("OTLP_TOKEN", "Bearer CANARY-SECRET-otlp"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-tenant=CANARY-SECRET-env-header",
        ),
    ];
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(bin())
        .args(["run", "-c", path.to_str().unwrap()])
        .envs(envs)
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some(rest) = text.split("metrics: http://").nth(1) {
            let addr: SocketAddr = rest.split('/').next().unwrap().parse().unwrap();
            break addr.port();
        }
        assert!(Instant::now() < deadline, "no listen line:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Run until the debug logs show requests and a failed export to the dead collector.
    eventually(
        "an OTLP export failure in the logs",
        Duration::from_secs(60),
        || {
            let logs = std::fs::read_to_string(&err_path).unwrap_or_default()
                + &std::fs::read_to_string(&out_path).unwrap_or_default();
            logs.contains("OTLP export failed").then_some(())
        },
    );
    let basic = format!("Basic {}", b64("prom:CANARY-SECRET-metrics"));
    // Reads need the password; probes do not.
    assert_eq!(request(addr, "GET", "/metrics", None).0, 401);
    assert_eq!(
        request(addr, "GET", "/api/v1/status", Some("Basic bm9wZTpub3Bl")).0,
        401
    );
    assert_eq!(request(addr, "GET", "/-/healthy", None).0, 200);
    let (code, metrics) = request(addr, "GET", "/metrics", Some(&basic));
    assert_eq!(code, 200);
    assert!(metrics.contains("llmsoak_requests_total"));
    let (code, status) = request(addr, "GET", "/api/v1/status", Some(&basic));
    assert_eq!(code, 200);
    // The live page and its data: the same rule as /metrics.
    assert_eq!(request(addr, "GET", "/", None).0, 401);
    assert_eq!(request(addr, "GET", "/api/v1/view", None).0, 401);
    assert_eq!(request(addr, "GET", "/", Some(&basic)).0, 200);
    let (code, view) = request(addr, "GET", "/api/v1/view", Some(&basic));
    assert_eq!(code, 200);
    assert!(
        view.contains("\"config\""),
        "the view carries the (redacted) config"
    );
    // Control needs the token.
    assert_eq!(request(addr, "POST", "/-/reload", None).0, 401);
    assert_eq!(
        request(addr, "POST", "/-/reload", Some("Bearer wrong")).0,
        401
    );
    assert_eq!(
        request(
            addr,
            "POST",
            "/-/reload",
            Some("Bearer CANARY-SECRET-control")
        )
        .0,
        200
    );
    assert_eq!(
        request(
            addr,
            "POST",
            "/api/v1/baseline/reset",
            Some("Bearer CANARY-SECRET-control")
        )
        .0,
        200
    );
    let print = Command::new(bin())
        .args(["print-config", "-c", path.to_str().unwrap()])
        .envs(envs)
        .output()
        .unwrap();
    assert!(print.status.success());
    // Stop it and read everything it ever wrote.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut logs = String::new();
    for p in [&out_path, &err_path] {
        std::fs::File::open(p)
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
    }
    assert!(
        logs.contains("OTLP export failed"),
        "the dead collector was exercised"
    );
    assert!(
        logs.len() > 10_000,
        "debug logs were written: {}",
        logs.len()
    );
    for (what, text) in [
        ("logs", logs.as_str()),
        ("/metrics", metrics.as_str()),
        ("/api/v1/status", status.as_str()),
        ("/api/v1/view", view.as_str()),
        ("print-config", &String::from_utf8_lossy(&print.stdout)),
        (
            "print-config stderr",
            &String::from_utf8_lossy(&print.stderr),
        ),
    ] {
        assert!(
            !text.contains(CANARY),
            "{what} leaks a secret:\n{}",
            text.lines()
                .filter(|l| l.contains(CANARY))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The redacted config still says where the secrets come from.
    assert!(
        status.contains("LLM_SOAK_API_KEY") && status.contains("<redacted>"),
        "{status}"
    );
}

#[test]
fn a_missing_secret_is_a_config_error_that_names_the_variable_not_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:9\"\nmodel = \"m\"\napi_key_env = \"NOT_SET_ANYWHERE\"\n[server]\ncontrol_token_env = \"ALSO_NOT_SET\"\n[canary]\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["check-config", "-c", path.to_str().unwrap()])
        .env_remove("NOT_SET_ANYWHERE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOT_SET_ANYWHERE") && err.contains("server.control_token_env"),
        "{err}"
    );
}
