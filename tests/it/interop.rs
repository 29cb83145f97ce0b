//! Interop with a real server: llama.cpp's own C++ HTTP server (PyPI `xllamacpp`, installed by
//! `scripts/setup-llamacpp.sh` under target/llamacpp) serving a tiny random-weight Llama with a
//! real byte-level BPE tokenizer made locally. llm-soak runs a realistic two-scenario workload
//! against it for 30 s with that model's `tokenizer.json`, and the server's own counters are the
//! truth: every request succeeds, and llm-soak's token totals (from `usage`) equal the increase
//! of `llamacpp:tokens_predicted_total` and `llamacpp:prompt_tokens_total` exactly. The client
//! re-count goes to the discrepancy histogram only — llama.cpp holds back a token that is an
//! incomplete UTF-8 sequence and merges it into the next chunk, and a random model's output need
//! not re-tokenize to the same count, so equality is not asserted there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Sample, get, parse_scrape, prometheus::free_port, sum};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Install xllamacpp and make the model (a no-op when both are there; scripts/test.sh runs it
/// before the tests so the install is not timed against this one).
pub(crate) fn setup() -> PathBuf {
    let status = Command::new("bash")
        .arg(root().join("scripts/setup-llamacpp.sh"))
        .status()
        .expect("run scripts/setup-llamacpp.sh");
    assert!(status.success(), "scripts/setup-llamacpp.sh failed");
    root().join("target/llamacpp")
}

/// llama.cpp's server, killed on drop.
pub(crate) struct Llama {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Llama {
    pub(crate) fn start(dir: &Path, log_dir: &Path) -> Llama {
        let port = free_port();
        let log = log_dir.join("llama-server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(dir.join("venv/bin/python"))
            .arg(root().join("tests/interop/xllamacpp_serve.py"))
            .args(["-m", dir.join("tiny.gguf").to_str().unwrap()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // 4 slots for 4 users; each prompt is evaluated whole (no prompt cache), so the
            // server's prompt-token counter is comparable with usage.prompt_tokens.
            .args(["-np", "4", "-c", "16384", "-t", "1", "--no-cache-prompt"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start xllamacpp");
        let mut llama = Llama {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = llama.child.try_wait() {
                panic!("llama.cpp server exited ({status}): {}", llama.log_tail());
            }
            if std::net::TcpStream::connect(llama.addr).is_ok()
                && get(llama.addr, "/health").0 == 200
            {
                return llama;
            }
            assert!(
                Instant::now() < deadline,
                "llama.cpp server not healthy within 90 s: {}",
                llama.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log_tail(&mut self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn metrics(&self) -> Vec<Sample> {
        let (status, body) = get(self.addr, "/metrics");
        assert_eq!(status, 200, "llama.cpp /metrics: {body}");
        parse_scrape(&body)
    }

    /// (prompt tokens, predicted tokens) so far, by llama.cpp's own counters.
    fn tokens(&self) -> (f64, f64) {
        let m = self.metrics();
        (
            sum(&m, "llamacpp:prompt_tokens_total", &[]),
            sum(&m, "llamacpp:tokens_predicted_total", &[]),
        )
    }
}

fn config(addr: SocketAddr, tokenizer: &Path) -> String {
    format!(
        r#"
seed = 11
[[target]]
name = "llamacpp"
base_url = "http://{addr}"
model = "tiny-random-llama"
provider = "llama.cpp"
tokenizer = {{ file = "{tok}" }}
recount_sample = 1.0
request_timeout = "60s"
# provider = "llama.cpp" keeps no idle connections (its server closes each one after a streamed
# response): no request is written onto a closing connection and reset.

[load]
mode = "closed"
users = 4
think_time = {{ min = "0s", max = "200ms" }}

[[scenario]]
name = "chat"
weight = 3
endpoint = "chat"
input_tokens = {{ lognormal = {{ mean = 120, stddev = 60 }}, min = 16, max = 512 }}
output_tokens = {{ normal = {{ mean = 40, stddev = 12 }}, min = 8, max = 96 }}

[[scenario]]
name = "completion"
weight = 1
endpoint = "completions"
input_tokens = {{ uniform = {{ min = 32, max = 256 }} }}
output_tokens = 32

# llama.cpp serves Anthropic Messages and OpenAI Responses too: their usage must add up to the
# server's own counters as exactly as chat's.
[[scenario]]
name = "messages"
weight = 1
endpoint = "messages"
input_tokens = {{ uniform = {{ min = 32, max = 256 }} }}
output_tokens = 24

[[scenario]]
name = "responses"
weight = 1
endpoint = "responses"
input_tokens = {{ uniform = {{ min = 32, max = 256 }} }}
output_tokens = 24
"#,
        tok = tokenizer.display()
    )
}

#[test]
fn llamacpp_token_counts_match_the_server_exactly() {
    let dir = setup();
    let tmp = tempfile::tempdir().unwrap();
    let llama = Llama::start(&dir, tmp.path());
    let (prompt_before, predicted_before) = llama.tokens();

    let cfg = tmp.path().join("llamacpp.toml");
    std::fs::write(&cfg, config(llama.addr, &dir.join("tokenizer.json"))).unwrap();
    let report = tmp.path().join("report.json");
    let mut daemon = crate::common::Proc::spawn(&[
        "run",
        "-c",
        cfg.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "30s",
        "--report",
        report.to_str().unwrap(),
    ]);
    let metrics = crate::common::metrics_addr(&daemon);
    // The daemon's last scrape before it drains: the discrepancy histogram lives only there.
    let mut last = Vec::new();
    let until = Instant::now() + Duration::from_secs(27);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(3));
        let (status, body) = get(metrics, "/metrics");
        if status == 200 {
            last = parse_scrape(&body);
        }
    }
    let status = daemon.wait_exit(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "run failed");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let all = &report["summary"]["all"];

    // Nothing misclassified: a healthy server, so every request is a success.
    let started = all["started"].as_u64().unwrap();
    let success = all["finished"]["success"].as_u64().unwrap();
    assert!(
        started >= 20,
        "too few requests for the test to mean much: {all}"
    );
    assert_eq!(success, started, "every request must succeed: {all}");
    assert_eq!(all["error_types"], serde_json::json!({}), "{all}");
    assert_eq!(report["requests"]["dropped"], 0, "{report}");
    for format in ["chat", "completion", "messages", "responses"] {
        let s = &report["summary"]["scenarios"][format];
        let ok = s["finished"]["success"].as_u64().unwrap_or(0);
        assert!(ok > 0, "{format}: {s}");
        assert_eq!(
            s["latency"]["ttft"]["samples"].as_u64(),
            Some(ok),
            "{format}"
        );
    }

    // The server's counters settle when its slot is released, a moment after the last byte:
    // they must come to equal llm-soak's totals exactly.
    let output = all["tokens"]["output"].as_f64().unwrap();
    let input = all["tokens"]["input"].as_f64().unwrap();
    let want = (prompt_before + input, predicted_before + output);
    let settled = eventually_or_last(Duration::from_secs(60), || llama.tokens(), |t| *t == want);
    assert_eq!(
        output,
        settled.1 - predicted_before,
        "llm-soak's output tokens (usage) vs llamacpp:tokens_predicted_total"
    );
    assert_eq!(
        input,
        settled.0 - prompt_before,
        "llm-soak's input tokens (usage) vs llamacpp:prompt_tokens_total"
    );

    // The server block: llama.cpp's own counters over the run, scraped by the run itself (the
    // provider names the engine): tokens cross-checked against what llm-soak received — the
    // last scrape is after the drain, so at most one request's tokens (96) may not have settled
    // — and the per-token means derived from its time counters.
    let block = &report["server"][0];
    assert_eq!(block["engine"], "llama.cpp", "{block}");
    assert_eq!(block["failed_scrapes"], 0, "{block}");
    let server_tokens = block["tokens"]["server"].as_f64().unwrap();
    assert!(
        server_tokens <= output && server_tokens >= output - 96.0,
        "the engine's generation tokens {server_tokens} vs llm-soak's {output}: {block}"
    );
    let run = &block["run"];
    for k in ["prefill_seconds_per_token", "decode_seconds_per_token"] {
        let v = run[k].as_f64().unwrap_or(0.0);
        assert!(v > 0.0 && v < 1.0, "{k} {v}: {run}");
    }
    assert!(
        run["latency"].as_object().unwrap().is_empty(),
        "llama.cpp has no histograms"
    );

    // Latencies present and plausible for a tiny model on a shared CPU.
    let lat = &all["latency"];
    assert_eq!(lat["ttft"]["samples"].as_u64(), Some(success), "{lat}");
    let ttft_p50 = lat["ttft"]["p50"].as_f64().unwrap();
    let tpot_mean = lat["tpot"]["mean"].as_f64().unwrap();
    assert!(ttft_p50 > 0.0 && ttft_p50 < 10.0, "TTFT p50 {ttft_p50}");
    assert!(tpot_mean > 0.0 && tpot_mean < 2.0, "TPOT mean {tpot_mean}");
    assert!(
        lat["itl"]["samples"].as_u64().unwrap() > success,
        "per-chunk ITL recorded: {lat}"
    );

    // Every format's usage was read (none fell back to re-counting).
    for format in ["chat", "completion", "messages", "responses"] {
        let missing = sum(
            &last,
            "llmsoak_tokens_usage_missing_total",
            &[("llmsoak_scenario", format)],
        );
        assert_eq!(missing, 0.0, "{format}: requests without usage");
    }
    // The client re-count (every request, recount_sample = 1) is reported, not asserted equal.
    let recounted = sum(&last, "llmsoak_tokens_discrepancy_count", &[]);
    let ratio_sum = sum(&last, "llmsoak_tokens_discrepancy_sum", &[]);
    assert!(
        recounted > 0.0,
        "no discrepancy observations in the last scrape"
    );
    let mean = ratio_sum / recounted;
    assert!(
        (0.5..2.0).contains(&mean),
        "re-count / usage mean {mean} over {recounted} requests: the tokenizer is not the model's"
    );
    eprintln!(
        "llama.cpp interop: {success} requests, {output} output / {input} input tokens equal the server's counters; TTFT p50 {ttft_p50:.3}s, TPOT mean {tpot_mean:.4}s, re-count/usage mean {mean:.3}"
    );
}

/// Poll `read` until `done` holds or `timeout` passes; the last reading either way (the caller's
/// assertion then names the numbers).
fn eventually_or_last<T>(timeout: Duration, read: impl Fn() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let v = read();
        if done(&v) || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Connections a [`counting_proxy`] saw, and which side ended each one first.
#[derive(Debug, Default)]
struct Ends {
    accepted: std::sync::atomic::AtomicU64,
    client_first: std::sync::atomic::AtomicU64,
    server_first: std::sync::atomic::AtomicU64,
}

/// A TCP proxy on 127.0.0.1 port 0 in front of `to`, counting the connections it accepts and
/// which side closed each first.
fn counting_proxy(to: SocketAddr) -> (SocketAddr, std::sync::Arc<Ends>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let ends = Arc::new(Ends::default());
    let seen = Arc::clone(&ends);
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(to) else {
                continue;
            };
            seen.accepted.fetch_add(1, Ordering::SeqCst);
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let decided = Arc::new(AtomicBool::new(false));
            let pipe =
                |mut from: std::net::TcpStream, mut to: std::net::TcpStream, from_client: bool| {
                    let (seen, decided) = (Arc::clone(&seen), Arc::clone(&decided));
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        if !decided.swap(true, Ordering::SeqCst) {
                            let side = if from_client {
                                &seen.client_first
                            } else {
                                &seen.server_first
                            };
                            side.fetch_add(1, Ordering::SeqCst);
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
            pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                true,
            );
            pipe(server, client, false);
        }
    });
    (addr, ends)
}

/// 60 requests from 2 users through a counting proxy: (report, connections, closed first by
/// the client, closed first by the server).
fn through_proxy(llama: &Llama, provider: &str) -> (serde_json::Value, u64, u64, u64) {
    use std::sync::atomic::Ordering::SeqCst;
    let (proxy, ends) = counting_proxy(llama.addr);
    // metrics = false: the engine scrape's own connections (it reads llama.cpp's /metrics through
    // the same address) are not the requests' this test counts.
    let config = format!(
        "seed = 5\n[[target]]\nname = \"llamacpp\"\nbase_url = \"http://{proxy}\"\nmodel = \"tiny-random-llama\"\n\
         provider = \"{provider}\"\nmetrics = false\nrequest_timeout = \"60s\"\n\
         [load]\nmode = \"closed\"\nusers = 2\nbudget = {{ max_requests = 60 }}\n\
         [[scenario]]\nname = \"chat\"\ninput_tokens = 32\noutput_tokens = 8\n"
    );
    let (code, out, report) = crate::common::bounded_run(&config, &["--duration", "5m"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report["requests"]["started"], 60, "{report}");
    // Wait for the proxy to see every connection end.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ends.client_first.load(SeqCst) + ends.server_first.load(SeqCst)
        < ends.accepted.load(SeqCst)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        report,
        ends.accepted.load(SeqCst),
        ends.client_first.load(SeqCst),
        ends.server_first.load(SeqCst),
    )
}

#[test]
fn llamacpp_closes_streamed_connections_and_the_provider_default_does_not_reuse_them() {
    let dir = setup();
    let tmp = tempfile::tempdir().unwrap();
    let llama = Llama::start(&dir, tmp.path());
    // As a generic OpenAI-compatible server (keep-alive pool on): llama.cpp's server ends the
    // connection after every streamed response although it advertises keep-alive, so nearly
    // every connection is closed by the server, one per request — and a request written onto a
    // pooled connection as it closes is reset (counted, never retried).
    let (report, n, client, server) = through_proxy(&llama, "openai");
    let resets = report["summary"]["all"]["error_types"]["reset"]
        .as_u64()
        .unwrap_or(0);
    let success = report["requests"]["finished"]["success"].as_u64().unwrap();
    eprintln!(
        "llama.cpp as openai: {n} connections, closed first by the server {server}, by the client {client}; {resets} resets"
    );
    assert_eq!(success + resets, 60, "{report}");
    assert!(
        n <= 61,
        "{n} connections for 60 requests: more than one per request"
    );
    assert!(server >= 50, "the server closed only {server} of {n} first");
    // With `provider = "llama.cpp"` connections are not pooled: one per request, no race.
    let (report, n, _, _) = through_proxy(&llama, "llama.cpp");
    assert_eq!(report["requests"]["finished"]["success"], 60, "{report}");
    assert!(n <= 61, "{n} connections for 60 requests");
}
