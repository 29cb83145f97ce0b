//! The simulator's router without a socket (`oneshot` requests): what a real server refuses
//! it refuses the same way — a missing required header, Anthropic's missing version, Azure's
//! missing `api-version`, a malformed body, a bad fault rule — and every embeddings input shape
//! is taken.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::*;

async fn call(
    sim: &Arc<Simulator>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sim
        .router()
        .oneshot(req.body(Body::from(body.to_string())).expect("a request"))
        .await
        .expect("an answer");
    let code = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("a body");
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

fn quick() -> SimConfig {
    SimConfig {
        prefill_base: std::time::Duration::ZERO,
        prefill_per_token: std::time::Duration::ZERO,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn refusals_are_the_real_servers_and_every_embeddings_shape_is_taken() {
    let sim = Simulator::new(quick()).expect("a simulator");
    assert_eq!(
        call(&sim, "GET", "/v1/models", &[], "").await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&sim, "GET", "/health", &[], "").await.0,
        StatusCode::OK
    );
    // Anthropic requires its version header.
    let messages = r#"{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}"#;
    let (code, text) = call(&sim, "POST", "/v1/messages", &[], messages).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");
    let ok = call(
        &sim,
        "POST",
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        messages,
    )
    .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    // Azure requires api-version.
    let chat = r#"{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}"#;
    let azure = "/openai/deployments/d/chat/completions";
    assert_eq!(
        call(&sim, "POST", azure, &[], chat).await.0,
        StatusCode::BAD_REQUEST
    );
    let path = format!("{azure}?api-version=2024-10-21");
    assert_eq!(call(&sim, "POST", &path, &[], chat).await.0, StatusCode::OK);
    // A body of the wrong shape is a 400 with the reason.
    let (code, text) = call(
        &sim,
        "POST",
        "/v1/completions",
        &[],
        r#"{"model":"m","messages":[]}"#,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(text.contains("completions need `prompt`"), "{text}");
    // Every embeddings input shape OpenAI takes; one vector per item, every token counted.
    for (input, items, tokens) in [
        (r#""a b c""#, 1, None),
        (r#"["a b c", "d"]"#, 2, None),
        ("[1, 2, 3]", 1, Some(3)),
        ("[[1, 2], [3]]", 2, Some(3)),
    ] {
        let body = format!(r#"{{"model":"m","input":{input}}}"#);
        let (code, text) = call(&sim, "POST", "/v1/embeddings", &[], &body).await;
        assert_eq!(code, StatusCode::OK, "{input}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(items), "{input}");
        if let Some(n) = tokens {
            assert_eq!(v["usage"]["prompt_tokens"], n, "{input}");
        }
    }
    let (code, text) = call(
        &sim,
        "POST",
        "/v1/embeddings",
        &[],
        r#"{"model":"m","input":[]}"#,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");
    // A fault rule that cannot be: 400, and the active rules unchanged.
    let bad = r#"[{"kind": "gremlins", "rate": 0.5}]"#;
    let (code, text) = call(&sim, "PUT", "/control/faults", &[], bad).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(
        call(&sim, "GET", "/control/faults", &[], "").await.1.trim(),
        "[]"
    );
}

#[tokio::test]
async fn required_headers_guard_the_api_but_not_the_control_surface() {
    let mut c = quick();
    c.required_headers = vec![("x-api-key".into(), "s3cret".into())];
    let sim = Simulator::new(c).expect("a simulator");
    assert_eq!(
        call(&sim, "GET", "/v1/models", &[], "").await.0,
        StatusCode::UNAUTHORIZED
    );
    let with = call(&sim, "GET", "/v1/models", &[("x-api-key", "s3cret")], "").await;
    assert_eq!(with.0, StatusCode::OK);
    let wrong = call(&sim, "GET", "/v1/models", &[("x-api-key", "nope")], "").await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&sim, "GET", "/stats", &[], "").await.0, StatusCode::OK);
}
