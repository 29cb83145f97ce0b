//! End to end, request traces: the spans the daemon pushes over OTLP/HTTP (decoded by an
//! in-test receiver built on the official protobuf definitions) follow the GenAI conventions and
//! always include failures and the canary; each request's `traceparent` names its span, and the
//! request log carries the server's ids.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

use super::telemetry::otlp_config;
use crate::common::*;

/// The spans an OTLP/HTTP receiver on 127.0.0.1 got (its metrics are accepted and dropped).
type Spans = Arc<Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>;

/// An OTLP/HTTP receiver on 127.0.0.1 keeping every span it is sent: (its runtime, address,
/// spans).
fn trace_receiver() -> (tokio::runtime::Runtime, SocketAddr, Spans) {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spans: Spans = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::clone(&spans);
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let sink = Arc::clone(&sink);
                async move {
                    let req = ExportTraceServiceRequest::decode(body).unwrap();
                    for rs in req.resource_spans {
                        for ss in rs.scope_spans {
                            sink.lock().unwrap().extend(ss.spans);
                        }
                    }
                    ExportTraceServiceResponse::default().encode_to_vec()
                }
            }),
        )
        .route(
            "/v1/metrics",
            axum::routing::post(|| async { Vec::<u8>::new() }),
        );
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr, spans)
}

#[test]
fn request_spans_follow_the_genai_conventions_and_always_include_failures_and_the_canary() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms", "--error-rate", "0.25"]);
    let (_rt, addr, spans) = trace_receiver();
    let config = otlp_config(
        sim_addr,
        &format!("endpoint = \"http://{addr}\"\nspans = {{ sample_ratio = 0.0 }}"),
        "",
    ) + "\n[canary]\ninterval = \"250ms\"\n";
    let (mut p, maddr, _dir) = daemon(&config, &[]);
    wait_drained(maddr, Duration::from_secs(60));
    let (_, s) = scrape(maddr);
    let failed = sum(&s, "llmsoak_requests_total", &[("llmsoak_scenario", "s1")])
        - sum(
            &s,
            "llmsoak_requests_total",
            &[("llmsoak_scenario", "s1"), ("outcome", "success")],
        );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    // Batched spans are flushed on shutdown.
    let spans = spans.lock().unwrap().clone();
    let attr = |s: &opentelemetry_proto::tonic::trace::v1::Span, k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value)
    };
    let text = |s, k| match attr(s, k) {
        Some(AnyValue::StringValue(v)) => v,
        other => panic!("{k}: {other:?}"),
    };
    let soak: Vec<_> = spans
        .iter()
        .filter(|s| text(s, "llmsoak.scenario") == "s1")
        .collect();
    let canary = spans.len() - soak.len();
    assert!(canary >= 1, "canary probes are always traced");
    assert!(
        !soak.is_empty(),
        "a 25 % error rate over 40 requests fails some"
    );
    for s in &spans {
        assert_eq!(s.name, "chat llm-soak-sim");
        assert_eq!(s.kind, 3, "CLIENT");
        assert!(s.end_time_unix_nano > s.start_time_unix_nano);
        assert_eq!(text(s, "gen_ai.operation.name"), "chat");
        assert_eq!(text(s, "gen_ai.request.model"), "llm-soak-sim");
        assert_eq!(text(s, "gen_ai.provider.name"), "openai");
        assert!(attr(s, "server.port").is_some() && attr(s, "gen_ai.usage.input_tokens").is_some());
        assert_eq!(
            attr(s, "gen_ai.request.stream"),
            Some(AnyValue::BoolValue(true))
        );
    }
    // With sample_ratio 0 the soak's spans are exactly its failures, each with error.type.
    assert_eq!(soak.len() as f64, failed);
    for s in &soak {
        assert!(!text(s, "error.type").is_empty());
        assert_eq!(s.status.as_ref().map(|st| st.code), Some(2), "error status");
    }
}

/// Request identity (issue #27 item 4): each request carries a W3C `traceparent` whose trace and
/// span are its OTLP span's — sampled as `[otlp.spans]` says, the flag telling the server — and
/// the request log carries the server's ids (the first chunk's `id`, `x-request-id`) and the
/// trace id; joined on the simulator's truth rows (the `traceparent` it received) by `seq`.
#[test]
fn each_request_carries_its_spans_traceparent_and_the_log_the_servers_ids() {
    let (_sim, sim_addr) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let (_rt, addr, spans) = trace_receiver();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let config = otlp_config(
        sim_addr,
        &format!("endpoint = \"http://{addr}\"\nspans = {{ sample_ratio = 0.5 }}"),
        &format!(
            "[output]\nrequests_jsonl = {{ path = \"{}\" }}\n",
            log.display()
        ),
    );
    let (code, out, _) = bounded_run(&config, &["--duration", "2s"]);
    assert_eq!(code, Some(0), "{out}");
    let rows = get_json(sim_addr, "/stats/requests");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 40, "20/s for 2 s");
    let spans = spans.lock().unwrap().clone();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    let (mut sampled, mut unsampled) = (0, 0);
    let mut traces = std::collections::BTreeSet::new();
    for row in rows {
        let seq = row["seq"].as_u64().unwrap();
        let tp = row["traceparent"]
            .as_str()
            .unwrap_or_else(|| panic!("no traceparent: {row}"));
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(parts[0], "00");
        assert!(parts[1].len() == 32 && parts[2].len() == 16, "{tp}");
        assert!(
            parts[1] != "0".repeat(32) && parts[2] != "0".repeat(16),
            "{tp}"
        );
        assert!(
            traces.insert(parts[1].to_string()),
            "a trace id repeated: {tp}"
        );
        let span = spans.iter().find(|s| hex(&s.trace_id) == parts[1]);
        match parts[3] {
            "01" => {
                sampled += 1;
                let s = span.unwrap_or_else(|| panic!("no span for sampled {tp}"));
                assert_eq!(
                    hex(&s.span_id),
                    parts[2],
                    "the span is the traceparent's parent"
                );
                let seq_attr = s.attributes.iter().find(|kv| kv.key == "llmsoak.seq");
                assert!(
                    matches!(seq_attr.and_then(|kv| kv.value.clone()).and_then(|v| v.value),
                        Some(AnyValue::IntValue(n)) if n as u64 == seq),
                    "{s:?}"
                );
            }
            "00" => {
                unsampled += 1;
                assert!(
                    span.is_none(),
                    "an unsampled successful request was traced: {tp}"
                );
            }
            other => panic!("flags {other}"),
        }
        let line = lines.iter().find(|l| l["seq"] == seq).unwrap();
        assert_eq!(line["trace_id"], parts[1], "{line}");
        let id = line["response_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}"));
        assert!(id.starts_with("chatcmpl-sim-"), "{line}");
        assert_eq!(
            line["request_id"], id,
            "x-request-id and the chunk id agree: {line}"
        );
    }
    // sample_ratio 0.5 over 40: both kinds occur (the hash of seq is fixed: not flaky).
    assert!(
        sampled > 0 && unsampled > 0,
        "{sampled} sampled, {unsampled} not"
    );
    assert_eq!(
        spans.len(),
        sampled,
        "exactly the sampled requests are traced"
    );
}
