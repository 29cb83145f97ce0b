//! End to end, telemetry: what the daemon pushes over OTLP (gRPC and HTTP/protobuf, decoded by
//! in-test receivers built on the official protobuf definitions) agrees with `/metrics`; a
//! collector that is down costs nothing but a counted failure; the resource probes say "no GPU"
//! instead of failing, and follow a target process's memory; drift baselines appear after the
//! warm-up and survive a restart.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;

type Received = Arc<Mutex<Vec<ExportMetricsServiceRequest>>>;

#[derive(Clone, Default)]
struct Receiver(Received);

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// An OTLP receiver on 127.0.0.1 port 0, on its own runtime: gRPC or HTTP/protobuf.
fn receiver(grpc: bool) -> (tokio::runtime::Runtime, SocketAddr, Received) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got: Received = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let r = Receiver(Arc::clone(&got));
    if grpc {
        let incoming = futures_util::stream::unfold(listener, |l| async move {
            let conn = l.accept().await.map(|(s, _)| s);
            Some((conn, l))
        });
        rt.spawn(
            tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(r))
                .serve_with_incoming(incoming),
        );
    } else {
        let app = axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move |body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    match ExportMetricsServiceRequest::decode(body) {
                        Ok(req) => {
                            r.0.lock().unwrap().push(req);
                            (
                                axum::http::StatusCode::OK,
                                [("content-type", "application/x-protobuf")],
                                ExportMetricsServiceResponse::default().encode_to_vec(),
                            )
                        }
                        Err(_) => (
                            axum::http::StatusCode::BAD_REQUEST,
                            [("content-type", "text/plain")],
                            b"bad protobuf".to_vec(),
                        ),
                    }
                }
            }),
        );
        rt.spawn(async move { axum::serve(listener, app).await });
    }
    (rt, addr, got)
}

/// Sum of a counter's points, and the (unit, explicit bounds, count) of a histogram, in the
/// latest export.
#[derive(Debug, Default)]
struct Pushed {
    counters: BTreeMap<String, f64>,
    histograms: BTreeMap<String, (String, Vec<f64>, u64)>,
    gauges: BTreeMap<String, usize>,
    resource: BTreeMap<String, String>,
}

fn latest(got: &Received) -> Option<Pushed> {
    let all = got.lock().unwrap();
    let req = all.last()?;
    let mut p = Pushed::default();
    for rm in &req.resource_metrics {
        if let Some(r) = &rm.resource {
            for kv in &r.attributes {
                if let Some(AnyValue::StringValue(s)) =
                    kv.value.as_ref().and_then(|v| v.value.clone())
                {
                    p.resource.insert(kv.key.clone(), s);
                }
            }
        }
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                match &m.data {
                    Some(Data::Sum(s)) => {
                        let total = s
                            .data_points
                            .iter()
                            .map(|d| match d.value {
                                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i as f64,
                                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(f)) => f,
                                None => 0.0,
                            })
                            .sum();
                        assert_eq!(s.aggregation_temporality, 2, "{}: cumulative", m.name);
                        p.counters.insert(m.name.clone(), total);
                    }
                    Some(Data::Histogram(h)) => {
                        let bounds = h
                            .data_points
                            .first()
                            .map(|d| d.explicit_bounds.clone())
                            .unwrap_or_default();
                        let count = h.data_points.iter().map(|d| d.count).sum();
                        p.histograms
                            .insert(m.name.clone(), (m.unit.clone(), bounds, count));
                    }
                    Some(Data::Gauge(g)) => {
                        p.gauges.insert(m.name.clone(), g.data_points.len());
                    }
                    _ => {}
                }
            }
        }
    }
    Some(p)
}

pub(crate) fn otlp_config(sim: SocketAddr, otlp: &str, extra: &str) -> String {
    config_for(
        sim,
        "",
        "arrival = \"constant\"\nmax_in_flight = 64\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"2s\"",
        "input_tokens = 16\noutput_tokens = 5",
    ) + &format!("\n[otlp]\n{otlp}\ninterval = \"500ms\"\ntimeout = \"2s\"\n{extra}")
}

fn scrape_and_push_agree(grpc: bool) {
    let (_sim, sim_addr) = simulator(&["--ttft", "10ms", "--itl", "5ms"]);
    let (_rt, addr, got) = receiver(grpc);
    let protocol = if grpc { "grpc" } else { "http/protobuf" };
    let config = otlp_config(
        sim_addr,
        &format!(
            "endpoint = \"http://{addr}\"\nprotocol = \"{protocol}\"\nresource = {{ \"deployment.environment\" = \"ci\" }}"
        ),
        "",
    );
    let (mut p, maddr, _dir) = daemon(&config, &[]);
    wait_drained(maddr, Duration::from_secs(60));
    let (_, s) = scrape(maddr);
    // The schedule has ended: the next export carries the final counts.
    let n = got.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().len() < n + 2 {
        assert!(
            Instant::now() < deadline,
            "no OTLP export arrived ({protocol})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pushed = latest(&got).unwrap();
    let requests = sum(&s, "llmsoak_requests_total", &[]);
    assert_eq!(requests, 40.0);
    assert_eq!(pushed.counters["llmsoak.requests"], requests, "{protocol}");
    assert_eq!(
        pushed.counters["llmsoak.requests.started"],
        sum(&s, "llmsoak_requests_started_total", &[])
    );
    let (unit, bounds, count) = &pushed.histograms["llmsoak.request.time_to_first_token"];
    assert_eq!(unit, "s");
    assert_eq!(
        bounds.as_slice(),
        llm_soak::metrics::catalogue::TTFT_BUCKETS
    );
    assert_eq!(
        *count as f64,
        sum(&s, "llmsoak_request_time_to_first_token_seconds_count", &[])
    );
    let (unit, _, count) = &pushed.histograms["gen_ai.client.operation.duration"];
    assert_eq!(unit, "s");
    assert_eq!(*count as f64, requests);
    assert!(pushed.histograms.contains_key("gen_ai.client.token.usage"));
    assert!(pushed.gauges.contains_key("process.memory.usage"));
    assert_eq!(pushed.resource["service.name"], "llm-soak");
    assert_eq!(pushed.resource["deployment.environment"], "ci");
    assert!(pushed.resource.contains_key("service.instance.id"));
    assert!(pushed.resource.contains_key("service.version"));
    assert_eq!(sum(&s, "llmsoak_otlp_export_failures_total", &[]), 0.0);
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
}

#[test]
fn otlp_http_push_agrees_with_the_scrape() {
    scrape_and_push_agree(false);
}

#[test]
fn otlp_grpc_push_agrees_with_the_scrape() {
    scrape_and_push_agree(true);
}

#[test]
fn a_collector_that_is_down_costs_only_counted_failures() {
    collector_failure(false);
}

#[test]
fn a_collector_that_black_holes_costs_only_counted_failures_and_a_bounded_shutdown() {
    collector_failure(true);
}

fn collector_failure(black_holing: bool) {
    let (_sim, sim_addr) = simulator(&["--ttft", "10ms", "--itl", "5ms"]);
    // A port nobody listens on, or one that swallows every export.
    let dead = if black_holing {
        black_hole()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let config = otlp_config(sim_addr, &format!("endpoint = \"http://{dead}\""), "");
    let (mut p, maddr, _dir) = daemon(&config, &[]);
    wait_drained(maddr, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        let (_, s) = scrape(maddr);
        if sum(&s, "llmsoak_otlp_export_failures_total", &[]) > 0.0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "export failures were not counted"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Constant arrivals at 20/s for 2 s: exactly the schedule, unaffected.
    assert_eq!(
        sum(&s, "llmsoak_requests_total", &[("outcome", "success")]),
        40.0
    );
    p.signal("TERM");
    // The final flush waits at most the export timeout (2 s here), not forever: a black hole
    // that held it would never let the process exit. Any finite bound shows that; this one is
    // generous so a slow machine cannot fail it.
    assert_eq!(
        p.wait_exit(Duration::from_secs(120)).code(),
        Some(0),
        "clean shutdown"
    );
}

#[test]
fn without_a_gpu_the_probe_says_so_and_the_target_process_is_followed() {
    // The simulator leaks 4 MiB per request: the target process whose memory should climb.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, "[simulator]\nprefill_base = \"1ms\"\nitl_base = \"1ms\"\n[simulator.leak]\nbytes_per_request = 4194304\n").unwrap();
    let (sim, sim_addr) = simulator(&["-c", path.to_str().unwrap()]);
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"3s\"",
        "input_tokens = 16\noutput_tokens = 2",
    ) + &format!(
        "\n[resources]\ninterval = \"250ms\"\ntarget_process = {{ pid = {} }}\n",
        sim.child.id()
    );
    let (_p, maddr, _dir) = daemon(&config, &[]);
    let rss = |s: &[Sample]| {
        sum(
            s,
            "llmsoak_target_process_memory_usage_bytes",
            &[("llmsoak_target", "sim")],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let (_, s) = scrape(maddr);
        if rss(&s) > 0.0 {
            break rss(&s);
        }
        assert!(Instant::now() < deadline, "no target process gauge");
        std::thread::sleep(Duration::from_millis(100));
    };
    wait_drained(maddr, Duration::from_secs(60));
    // 60 requests x 4 MiB leaked, less what was already counted at the first reading: the
    // sampler's next reading after the run shows it.
    let (body, s) = eventually(
        "the leak in the target's RSS",
        Duration::from_secs(30),
        || {
            let (body, s) = scrape(maddr);
            (rss(&s) >= first + 100.0 * f64::from(1 << 20)).then_some((body, s))
        },
    );
    assert_eq!(
        sum(&s, "llmsoak_probe_status", &[("probe", "target_process")]),
        0.0
    );
    assert_eq!(sum(&s, "llmsoak_target_process_restarts_total", &[]), 0.0);
    assert!(sum(&s, "process_memory_usage_bytes", &[]) > 0.0);
    assert!(sum(&s, "system_memory_limit_bytes", &[]) > 0.0);
    // No NVIDIA library on a CI machine: a status, no hw_* series.
    if !std::path::Path::new("/dev/nvidiactl").exists() {
        let gpu = sum(&s, "llmsoak_probe_status", &[("probe", "gpu")]);
        assert!(gpu == 1.0 || gpu == 2.0, "gpu probe status {gpu}");
        assert_eq!(sum(&s, "llmsoak_probe_success", &[("probe", "gpu")]), 0.0);
        assert!(!body.contains("hw_gpu_"), "GPU series without a GPU");
    }
}

#[test]
fn drift_baselines_appear_after_the_warm_up_and_survive_a_restart() {
    let (_sim, sim_addr) = simulator(&[
        "--ttft",
        "20ms",
        "--prefill-per-token",
        "0s",
        "--itl",
        "10ms",
        "--itl-per-seq",
        "0s",
    ]);
    let state = tempfile::tempdir().unwrap();
    let config = config_for(
        sim_addr,
        "",
        "arrival = \"constant\"\n[[load.phases]]\nkind = \"steady\"\nrate = 20\nduration = \"forever\"",
        "input_tokens = 16\noutput_tokens = 6",
    ) + &format!(
        "\n[baseline]\nwarmup = \"1s\"\nwindow = \"2s\"\nstate_dir = {:?}\n",
        state.path().display().to_string()
    );
    let ttft_mean = |s: &[Sample]| {
        sum(
            s,
            "llmsoak_baseline_time_to_first_token_seconds",
            &[("stat", "mean"), ("llmsoak_scenario", "s1")],
        )
    };
    let (mut p, maddr, _dir) = daemon(&config, &[]);
    let (_, s) = scrape(maddr);
    assert_eq!(ttft_mean(&s), 0.0, "no baseline during the warm-up");
    let deadline = Instant::now() + Duration::from_secs(30);
    let s = loop {
        let (_, s) = scrape(maddr);
        if ttft_mean(&s) > 0.0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no baseline after warm-up and window"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let samples = sum(
        &s,
        "llmsoak_baseline_samples",
        &[("llmsoak_scenario", "s1")],
    );
    // About 2 s at 20/s (one-sided: a slow CI machine may finish a few outside the window).
    assert!((20.0..=41.0).contains(&samples), "{samples}");
    let ttft = ttft_mean(&s);
    assert!(
        (0.019..0.2).contains(&ttft),
        "the simulator's 20 ms TTFT: {ttft}"
    );
    let tpot = sum(
        &s,
        "llmsoak_baseline_time_per_output_token_seconds",
        &[("stat", "p50"), ("llmsoak_scenario", "s1")],
    );
    assert!((0.009..0.1).contains(&tpot), "{tpot}");
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    // A restarted daemon publishes the same baseline at once, without re-measuring.
    let (_p2, maddr, _dir2) = daemon(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let s2 = loop {
        let (_, s2) = scrape(maddr);
        if ttft_mean(&s2) != 0.0 {
            break s2;
        }
        assert!(Instant::now() < deadline, "the baseline was not restored");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Exactly the old value: restored, not measured again on a new window.
    assert_eq!(ttft_mean(&s2), ttft);
    assert_eq!(
        sum(
            &s2,
            "llmsoak_baseline_samples",
            &[("llmsoak_scenario", "s1")]
        ),
        samples
    );
    let status = get_json(maddr, "/api/v1/status");
    assert!(
        status["baselines"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("s1|"))
    );
    let (code, _) = post_json(maddr, "/api/v1/baseline/reset", &serde_json::json!({}));
    assert_eq!(code, 200);
    assert!(
        get_json(maddr, "/api/v1/status")["baselines"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}
