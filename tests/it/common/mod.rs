//! Helpers for the end-to-end tests: spawn the real `llm-soak` binary (simulator or daemon) on
//! 127.0.0.1 port 0, read the addresses it prints, scrape and parse `/metrics`, send signals.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod artefacts;
pub mod prometheus;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_llm-soak"))
}

/// A child process killed on drop, with its stdout lines forwarded to a channel.
pub struct Proc {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(stdout: ChildStdout) -> mpsc::Receiver<String> {
    // Bounded like every queue here; far more lines than any run prints.
    let (tx, rx) = mpsc::sync_channel(100_000);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(bin())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn llm-soak");
        let lines = forward(child.stdout.take().expect("stdout"));
        Proc { child, lines }
    }

    /// The first stdout line containing `marker`; returns the text after it.
    pub fn wait_line(&self, marker: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(i) = line.find(marker) {
                        return line[i + marker.len()..].to_string();
                    }
                }
                Err(_) => panic!("no line with {marker:?} within {timeout:?}"),
            }
        }
    }

    /// Everything printed after this point until the process exits.
    pub fn rest_of_output(&self) -> String {
        let mut out = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Start `llm-soak simulate` with `args`; returns the process and its address.
pub fn simulator(args: &[&str]) -> (Proc, SocketAddr) {
    let mut all = vec!["simulate", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let p = Proc::spawn(&all);
    let rest = p.wait_line("listening on http://", Duration::from_secs(30));
    let addr = rest
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .parse()
        .expect("simulator address");
    (p, addr)
}

/// Start `llm-soak run` on a config text; returns the process, the metrics address and the
/// temp dir holding the config (keep it alive).
pub fn daemon(config: &str, extra: &[&str]) -> (Proc, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("llm-soak.toml");
    std::fs::write(&path, config).expect("write config");
    let path = path.to_string_lossy().into_owned();
    let mut args = vec!["run", "-c", path.as_str(), "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let p = Proc::spawn(&args);
    let addr = metrics_addr(&p);
    (p, addr, dir)
}

pub fn metrics_addr(p: &Proc) -> SocketAddr {
    let rest = p.wait_line("metrics: http://", Duration::from_secs(30));
    rest.trim_end_matches("/metrics")
        .parse()
        .expect("metrics address")
}

/// Send a raw HTTP/1.0 request and read until the server closes; returns (status, body).
pub fn exchange(addr: SocketAddr, request: &str, timeout: Duration) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// A plain HTTP/1.0 GET; returns (status, body).
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
        Duration::from_secs(30),
    )
}

pub fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// One sample of a scrape.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn parse_scrape(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            Some(Sample {
                name: name.to_string(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// Sum of `name` over samples whose labels include every `(k, v)` of `filter`.
pub fn sum(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && filter
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

pub fn scrape(addr: SocketAddr) -> (String, Vec<Sample>) {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    let samples = parse_scrape(&body);
    (body, samples)
}

/// Poll the status API until the schedule has finished and nothing is in flight.
pub fn wait_drained(addr: SocketAddr, timeout: Duration) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let s = get_json(addr, "/api/v1/status");
        if s["state"] == "finished" && s["requests"]["in_flight"] == 0 {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "run did not finish and drain within {timeout:?}: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `promtool`, installed by scripts/test.sh when missing.
pub fn promtool() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = PathBuf::from(dir).join("promtool");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "promtool not found on PATH: run the tests through scripts/test.sh, which installs Debian's prometheus package"
    );
}

/// A daemon config against `addr` with the given `[load]` and scenario tail.
pub fn config_for(addr: SocketAddr, target_extra: &str, load: &str, scenario: &str) -> String {
    format!(
        r#"
seed = 7
[[target]]
name = "sim"
base_url = "http://{addr}"
model = "llm-soak-sim"
{target_extra}

[load]
{load}

[[scenario]]
name = "s1"
{scenario}
"#
    )
}

/// A plain HTTP/1.0 POST of a JSON body; returns (status, body) once the server closes.
pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> (u16, String) {
    let payload = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    exchange(addr, &request, Duration::from_secs(60))
}

/// Poll `f` until it gives a value, every 50 ms, for at most `timeout` (generous: the test must
/// not depend on the machine's speed); panics naming `what` when it never does.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A POST of a JSON body carrying llm-soak's sequence-number header, so the simulator's truth
/// row can be joined with it; returns (status, body).
pub fn post_json_seq(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    seq: u64,
) -> (u16, String) {
    let payload = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nx-llmsoak-seq: {seq}\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    exchange(addr, &request, Duration::from_secs(60))
}

/// The simulator's truth row of request `seq`, once it is recorded (right after the stream's
/// last byte, so it may trail the client by a moment).
pub fn truth_row(sim: SocketAddr, seq: u64) -> serde_json::Value {
    eventually(
        &format!("truth row of seq {seq}"),
        Duration::from_secs(30),
        || {
            let rows = get_json(sim, &format!("/stats/requests?seq={seq}"));
            rows.as_array().and_then(|r| r.first().cloned())
        },
    )
}

/// `promtool check metrics` over a scrape; returns everything it printed.
pub fn promtool_check_metrics(scrape: &str) -> (bool, String) {
    let out = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(scrape.as_bytes())?;
            c.wait_with_output()
        })
        .expect("run promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// Resident set size of a process, from /proc (bytes).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// `run -c CONFIG --listen 127.0.0.1:0 --report FILE EXTRA…` to the end: (exit code, stdout,
/// the report JSON or null).
pub fn bounded_run(config: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    bounded_run_env(config, extra, &[])
}

/// [`bounded_run`] with environment variables set (secrets a config names, say).
pub fn bounded_run_env(
    config: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, serde_json::Value) {
    let (code, stdout, _, report) = bounded_run_logged(config, extra, env);
    (code, stdout, report)
}

/// [`bounded_run_env`] keeping its log too: (exit code, stdout, stderr, report JSON or null).
pub fn bounded_run_logged(
    config: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String, serde_json::Value) {
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
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
        .unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        json,
    )
}

/// A server on 127.0.0.1 port 0 that accepts connections and reads, but never answers.
pub fn black_hole() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while s.read(&mut buf).is_ok_and(|n| n > 0) {}
            });
        }
    });
    addr
}
