//! The daemon's router without a socket (axum's habit: `oneshot` requests): status codes,
//! authentication, the reload replies, readiness through the run's phases.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;
use crate::config::server::Auth;
use crate::config::{Config, Secret};

#[derive(Debug)]
struct NoSummary;

impl LiveSummary for NoSummary {
    fn summary(&self) -> Summary {
        Summary::default()
    }
}

fn config() -> Config {
    let text = "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
                [load]\npreset = { name = \"steady\", rate = 1 }\n\
                [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 4\n";
    Config::parse(text, "t", &|_| None).expect("a valid config")
}

/// A status with no load behind it; `reload` is where `POST /-/reload` asks.
fn status(reload: Option<ReloadSender>) -> Arc<Status> {
    let exporter = Exporter::new(Vec::new()).expect("an exporter");
    let meter = exporter.meter();
    let recorder = Arc::new(Recorder::new(&meter, vec![Vec::new()], Vec::new()));
    let baselines = Arc::new(BaselineSink::new(crate::metrics::baseline::Baselines::new(
        &meter,
        Vec::new(),
        Instant::now(),
        &crate::config::BaselineConfig::defaults(&|_| None),
    )));
    Arc::new(Status::new(
        exporter,
        Sources {
            recorder,
            summary: Arc::new(NoSummary),
            baselines,
            request_log: None,
            series: Arc::new(crate::metrics::series::SeriesSink::new(
                vec!["chat".into()],
                None,
                Instant::now(),
                1_700_000_000.0,
                Instant::now(),
                crate::metrics::series::STEP,
            )),
        },
        Arc::new(config()),
        "r1".into(),
        reload,
    ))
}

async fn call(
    s: &Arc<Status>,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = router(Arc::clone(s))
        .oneshot(req.body(Body::empty()).expect("a request"))
        .await
        .expect("an answer");
    let code = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("a body");
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn health_readiness_and_the_documents_answer_as_the_run_goes() {
    let s = status(None);
    assert_eq!(
        call(&s, "GET", "/-/healthy", None).await,
        (StatusCode::OK, "OK\n".into())
    );
    let starting = call(&s, "GET", "/-/ready", None).await;
    assert_eq!(
        starting,
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n".into())
    );
    s.set_phase(Phase::Running);
    assert_eq!(call(&s, "GET", "/-/ready", None).await.0, StatusCode::OK);
    s.set_phase(Phase::Finished);
    assert_eq!(
        call(&s, "GET", "/-/ready", None).await.0,
        StatusCode::OK,
        "idle, still up"
    );
    s.set_phase(Phase::Draining);
    assert_eq!(
        call(&s, "GET", "/-/ready", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (code, doc) = call(&s, "GET", "/api/v1/status", None).await;
    assert_eq!(code, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("JSON");
    assert_eq!(
        (doc["run_id"].as_str(), doc["state"].as_str()),
        (Some("r1"), Some("draining"))
    );
    // The series' memory is on record: four tiers, nothing held yet.
    assert_eq!(doc["series"]["tiers"], serde_json::json!([0, 0, 0, 0]));
    assert_eq!(doc["series"]["memory_bytes"], 0);
    let (code, text) = call(&s, "GET", "/metrics", None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        text.contains("llmsoak_requests_in_flight") || text.contains("# TYPE"),
        "{text}"
    );
    // The live page's document needs the run wired first.
    let (code, text) = call(&s, "GET", "/api/v1/view", None).await;
    assert_eq!(
        (code, text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "the run is starting\n")
    );
    assert_eq!(
        call(&s, "GET", "/nope", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn reload_answers_with_the_runs_result_or_says_why_not() {
    // No config file (demo): nothing to reload.
    let s = status(None);
    let (code, text) = call(&s, "POST", "/-/reload", None).await;
    assert_eq!(
        (code, text.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "this run has no config file to reload\n"
        )
    );
    // The run loop answers: success, then a refused config (the running one is kept).
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let s = status(Some(tx));
    let answers = tokio::spawn(async move {
        for answer in [
            Ok("reloaded; checksum 00ab".to_string()),
            Err("load.rate: bad".to_string()),
        ] {
            let Some(reply) = rx.recv().await else { return };
            let _ = reply.send(answer);
        }
        // Then the run ends: the channel closes.
    });
    assert_eq!(
        call(&s, "POST", "/-/reload", None).await,
        (StatusCode::OK, "reloaded; checksum 00ab\n".into())
    );
    let (code, text) = call(&s, "POST", "/-/reload", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("the running config is kept") && text.contains("load.rate: bad"),
        "{text}"
    );
    answers.await.expect("the answering task");
    let (code, text) = call(&s, "POST", "/-/reload", None).await;
    assert_eq!(
        (code, text.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the run is shutting down\n"
        )
    );
    // GET is not a reload.
    assert_eq!(
        call(&s, "GET", "/-/reload", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn reads_need_the_configured_credentials_and_control_a_token_off_loopback() {
    let mut server = config().server;
    server.auth = Some(Auth::Bearer {
        env: "T".into(),
        token: Secret::new("s3cret".into()),
    });
    let s = status(None);
    s.set_access(access::Access::new(
        &server,
        "0.0.0.0:9464".parse().expect("an address"),
    ));
    for path in ["/metrics", "/api/v1/status", "/", "/api/v1/view"] {
        let (code, _) = call(&s, "GET", path, None).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{path}");
        let (code, _) = call(&s, "GET", path, Some("Bearer wrong")).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(
        call(&s, "GET", "/metrics", Some("Bearer s3cret")).await.0,
        StatusCode::OK
    );
    // Health is for the supervisor: never behind credentials.
    assert_eq!(call(&s, "GET", "/-/healthy", None).await.0, StatusCode::OK);
    // Off loopback without a control token, the POSTs are refused outright.
    let (code, text) = call(&s, "POST", "/api/v1/baseline/reset", Some("Bearer s3cret")).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{text}");
    // With reload_api off, reload is refused whoever asks.
    server.reload_api = false;
    let off = status(None);
    off.set_access(access::Access::new(
        &server,
        "127.0.0.1:9464".parse().expect("an address"),
    ));
    let (code, text) = call(&off, "POST", "/-/reload", None).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(text.contains("reload_api = false"), "{text}");
}
