//! The cost of one engine scrape: a vLLM-style exposition of about 2,000 series (20 models of a
//! data-parallel server, each with vLLM's histograms, gauges and counters, plus the process
//! collector) served on 127.0.0.1 from a thread of its own, scraped `N` times by
//! `engine::scrape::Scraper` on this thread; the CPU this thread spent (the HTTP client, the
//! line filter, the parse of the kept lines and the reduction) per scrape, and the wall time.
//!
//! cargo bench --bench scrape_cost        (figures: docs/BENCHMARKS.md)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use llm_soak::engine::scrape::Scraper;

const N: u32 = 300;

fn exposition() -> (String, usize) {
    let mut out = String::new();
    let mut series = 0;
    let hists = [
        ("vllm:time_to_first_token_seconds", 22),
        ("vllm:inter_token_latency_seconds", 19),
        ("vllm:e2e_request_latency_seconds", 21),
        ("vllm:request_queue_time_seconds", 21),
    ];
    for m in 0..20 {
        let l = format!("engine=\"{}\",model_name=\"model-{m}\"", m % 4);
        for (name, buckets) in hists {
            for b in 0..=buckets {
                let le = if b == buckets {
                    "+Inf".to_string()
                } else {
                    format!("{}", 0.01 * f64::from(b + 1))
                };
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{le}\"}} {}", b * 7);
                series += 1;
            }
            let _ = writeln!(out, "{name}_sum{{{l}}} 123.5\n{name}_count{{{l}}} 700");
            series += 2;
        }
        for g in [
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc",
        ] {
            let _ = writeln!(out, "{g}{{{l}}} 3");
            series += 1;
        }
        for c in [
            "vllm:prompt_tokens_total",
            "vllm:generation_tokens_total",
            "vllm:num_preemptions_total",
            "vllm:prefix_cache_queries_total",
            "vllm:prefix_cache_hits_total",
        ] {
            let _ = writeln!(out, "{c}{{{l}}} 123456");
            series += 1;
        }
        for r in ["stop", "length", "abort"] {
            let _ = writeln!(
                out,
                "vllm:request_success_total{{{l},finished_reason=\"{r}\"}} 42"
            );
            series += 1;
        }
        // Series no table reads (the scraper skips them by name).
        for k in 0..8 {
            let _ = writeln!(out, "vllm:spec_decode_thing_{k}{{{l}}} 1");
            series += 1;
        }
    }
    (out, series)
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn main() {
    // A test runner listing tests (nextest --all-targets): this binary has none.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (text, series) = exposition();
    let bytes = text.len();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let t = text.clone();
                    async move { t }
                }),
            );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut s = Scraper::new(
            "bench",
            &format!("http://{addr}/metrics"),
            Some("vllm"),
            reqwest::Client::new(),
            reqwest::header::HeaderMap::new(),
            Duration::from_secs(5),
        );
        let kept = s.scrape().await.unwrap().series;
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        for _ in 0..N {
            s.scrape().await.unwrap();
        }
        let cpu = (thread_cpu() - cpu0) / N;
        let wall = wall0.elapsed() / N;
        println!(
            "exposition: {series} series, {:.0} KiB; kept {kept}\nper scrape over {N}: CPU {:.2} ms (this thread), wall {:.2} ms",
            bytes as f64 / 1024.0,
            cpu.as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e3
        );
    });
}
