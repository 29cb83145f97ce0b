//! In-process simulator tests: the OpenAI surface, engine effects (queueing, prefix cache),
//! faults produced on request, ground truth and the vLLM-style metrics.

use super::*;
use std::time::Duration;

/// The truth rows of request `seq`, once recorded (polled with a generous deadline).
async fn truth_of(run: &Running, seq: u64) -> Vec<truth::RequestTruth> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = run.sim.truth.recent(Some(seq));
        if !rows.is_empty() {
            return rows;
        }
        assert!(Instant::now() < deadline, "no truth row for seq {seq}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn quick() -> SimConfig {
    SimConfig {
        prefill_base: Duration::from_millis(5),
        itl_base: Duration::from_millis(1),
        ..SimConfig::default()
    }
}

async fn post(addr: SocketAddr, path: &str, body: serde_json::Value) -> reqwest::Response {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `post` with llm-soak's sequence-number header, to join the truth row.
async fn post_seq(
    addr: SocketAddr,
    path: &str,
    body: serde_json::Value,
    seq: u64,
) -> reqwest::Response {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header(SEQ_HEADER, seq)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn non_streaming_answers_models_and_bad_requests() {
    let run = spawn(quick(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = run.addr;
    let body = serde_json::json!({"model": "m", "prompt": "hello there", "max_tokens": 7});
    let v: serde_json::Value = post(addr, "/v1/completions", body.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let models: ModelList = reqwest::get(format!("http://{addr}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models.data[0].id, "llm-soak-sim");
    let r = post(addr, "/v1/chat/completions", body).await;
    assert_eq!(r.status(), 400);
    let s = run.sim.report();
    assert_eq!(
        (
            s.requests,
            s.bad_requests,
            s.output_tokens,
            s.streams_completed
        ),
        (2, 1, 7, 1)
    );
}

#[tokio::test]
async fn every_fault_is_produced_on_request() {
    for kind in FaultKind::ALL {
        let mut c = quick();
        c.faults = vec![FaultRule::always(kind, 1.0)];
        c.stall_for = Duration::from_millis(300);
        c.slow_headers_delay = Duration::from_millis(200);
        c.oversized_bytes = 4096;
        let run = spawn(c, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6,
            "stream": true, "stream_options": {"include_usage": true}});
        let started = Instant::now();
        let resp = post(run.addr, "/v1/chat/completions", body).await;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let header_wait = started.elapsed();
        let text = if kind == FaultKind::NeverEnds {
            // Read until the keep-alive comments start, then give up on it.
            let mut resp = resp;
            let mut got = String::new();
            while !got.contains(": keep-alive") {
                let chunk = resp.chunk().await.unwrap().unwrap();
                got.push_str(&String::from_utf8_lossy(&chunk));
            }
            got
        } else {
            match resp.text().await {
                Ok(t) => t,
                Err(_) => "<body error>".to_string(),
            }
        };
        match kind {
            FaultKind::Http5xx => assert_eq!(status, 503),
            FaultKind::Http4xx => assert_eq!(status, 400),
            FaultKind::Http429 => assert_eq!(status, 429),
            FaultKind::Html200 => assert!(status == 200 && ctype.starts_with("text/html")),
            FaultKind::Reset => assert_eq!(text, "<body error>"),
            FaultKind::Stall => {
                assert!(text.contains("[DONE]") && started.elapsed() >= Duration::from_millis(300))
            }
            FaultKind::NeverEnds => {
                assert!(text.contains("\"finish_reason\":\"length\"") && !text.contains("[DONE]"))
            }
            FaultKind::Truncate => {
                assert!(!text.contains("\"finish_reason\":\"") && !text.contains("[DONE]"))
            }
            FaultKind::Malformed => assert!(text.contains("\"oops\"\n\n")),
            FaultKind::Oversized => assert!(text.contains(&"x".repeat(4096))),
            FaultKind::NoUsage => assert!(text.contains("[DONE]") && !text.contains("\"usage\"")),
            FaultKind::SlowHeaders => {
                assert!(header_wait >= Duration::from_millis(200) && text.contains("[DONE]"))
            }
            FaultKind::StreamError => assert!(
                status == 200
                    && text.contains("\"content\":\" the\"")
                    && text.contains("injected mid-stream error")
                    && !text.contains("[DONE]"),
                "{text}"
            ),
        }
        assert_eq!(run.sim.report().faults[kind.as_str()], 1, "{kind:?}");
    }
}

#[tokio::test]
async fn truth_counts_tokens_and_joins_by_sequence_number() {
    let run = spawn(quick(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let body =
        serde_json::json!({"model": "m", "prompt": "a b c", "max_tokens": 5, "stream": true});
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::Client::new()
        .post(format!("http://{}/v1/completions", run.addr))
        .header(SEQ_HEADER, "42")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    // The body's drop records the truth right after the last byte: wait for the row.
    let rows = truth_of(&run, 42).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].completion_tokens, rows[0].chunks, rows[0].completed),
        (5, 5, true)
    );
    assert!(rows[0].ttft_us.unwrap() >= 5_000);
    let r = run.sim.report();
    assert_eq!(
        (r.output_tokens, r.streams_completed, r.chunk_gap.samples),
        (5, 1, 4)
    );
    run.sim.truth.reset();
    assert_eq!(run.sim.report().requests, 0);
}

#[tokio::test]
async fn vllm_metrics_have_vllm_names() {
    let mut c = quick();
    c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let run = spawn(c, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let body =
        serde_json::json!({"model": "m", "prompt": "a b c", "max_tokens": 3, "stream": true});
    let _ = post_seq(run.addr, "/v1/completions", body, 7)
        .await
        .text()
        .await
        .unwrap();
    // The metrics are written before the truth row, right after the last byte.
    truth_of(&run, 7).await;
    let m = reqwest::get(format!("http://{}/metrics", run.metrics_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "vllm:time_to_first_token_seconds_count{model_name=\"llm-soak-sim\"} 1",
        "vllm:inter_token_latency_seconds_count{model_name=\"llm-soak-sim\"} 2",
        "vllm:e2e_request_latency_seconds_count",
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total",
        "vllm:num_preemptions_total",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total{model_name=\"llm-soak-sim\"} 3",
        "process_resident_memory_bytes",
    ] {
        assert!(m.contains(name), "{name} missing from:\n{m}");
    }
}

#[tokio::test]
async fn early_stop_is_seeded_and_ignore_eos_runs_to_max_tokens() {
    let mut c = quick();
    c.early_stop = 1.0;
    c.seed = 9;
    let run = spawn(c, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut lengths = Vec::new();
    for ignore_eos in [false, false, false, false, true] {
        let body = serde_json::json!({"model": "m", "prompt": "x", "max_tokens": 50, "ignore_eos": ignore_eos});
        let v: serde_json::Value = post(run.addr, "/v1/completions", body)
            .await
            .json()
            .await
            .unwrap();
        lengths.push(v["usage"]["completion_tokens"].as_u64().unwrap());
    }
    assert_eq!(lengths[4], 50, "ignore_eos runs to max_tokens");
    assert!(lengths[..4].iter().all(|&n| (1..=50).contains(&n)));
    assert!(lengths[..4].iter().any(|&n| n < 50), "{lengths:?}");
}

#[tokio::test(start_paused = true)]
async fn per_minute_leak_follows_the_time_scale() {
    let leak = Leak::new(LeakParams {
        bytes_per_minute: 1000,
        max_bytes: 1 << 20,
        ..LeakParams::default()
    });
    // time_scale 60: a simulated minute every real second.
    let task = leak.spawn_ticker(60.0).unwrap();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert_eq!(leak.leaked(), 5000);
    task.abort();
}

/// The event types of an SSE body, in order (`data` of unnamed events as `data`).
fn event_types(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap();
            assert_eq!(v["type"], name, "the event name is the data's type");
            name.to_string()
        })
        .collect()
}

#[tokio::test]
async fn anthropic_and_responses_streams_have_their_apis_event_sequence() {
    let mut c = quick();
    c.reasoning_tokens = 2;
    let run = spawn(c, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let body = serde_json::json!({"model": "m", "max_tokens": 4, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    // Without anthropic-version: refused as Anthropic does.
    let resp = post(run.addr, "/v1/messages", body.clone()).await;
    assert_eq!(resp.status().as_u16(), 400);
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/messages", run.addr))
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert_eq!(
        event_types(&text),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ],
        "{text}"
    );
    assert!(text.contains("\"thinking_delta\"") && text.contains("\"output_tokens\":4"));
    let body =
        serde_json::json!({"model": "m", "max_output_tokens": 3, "stream": true, "input": "hi"});
    let text = post(run.addr, "/v1/responses", body)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        event_types(&text),
        [
            "response.created",
            "response.output_item.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.output_item.added",
            "response.output_text.delta",
            "response.completed",
        ],
        "{text}"
    );
    assert!(text.contains("\"reasoning_tokens\":2") && !text.contains("[DONE]"));
    let whole = serde_json::json!({"model": "m", "max_output_tokens": 3, "input": "hi"});
    let v: serde_json::Value = post(run.addr, "/v1/responses", whole)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["usage"]["output_tokens"], 3);
    assert_eq!(v["output"][1]["content"][0]["type"], "output_text");
}
