//! Runtime control of the simulator, for rehearsals and tests that must not depend on a clock:
//! `PUT /control/faults` replaces the active fault rules (a JSON array of `{kind, rate, status}`,
//! active from now until replaced; `[]` clears them) and `GET /control/faults` lists them; and
//! the `required_headers` check that makes the simulator a target authenticating by a custom
//! header (a missing or wrong header gets a 401 with an OpenAI-style error body).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{FaultKind, FaultRule, Simulator, error_response};

/// The active fault rules, replaceable at run time.
#[derive(Debug)]
pub(super) struct Faults(RwLock<Vec<FaultRule>>);

impl Faults {
    pub(super) fn new(rules: Vec<FaultRule>) -> Self {
        Faults(RwLock::new(rules))
    }

    /// The rule a request with uniform draw `u` gets `since_start` after the simulator started.
    pub(super) fn choose(&self, since_start: Duration, u: f64) -> Option<FaultRule> {
        let rules = self.0.read().unwrap_or_else(|e| e.into_inner());
        super::faults::choose(&rules, since_start, u).cloned()
    }

    fn replace(&self, rules: Vec<FaultRule>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = rules;
    }

    fn list(&self) -> Vec<FaultRule> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One rule as `PUT /control/faults` takes it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleIn {
    kind: String,
    rate: f64,
    status: Option<u16>,
}

/// The rules of a request body, or why they are refused.
fn parse_rules(body: &[u8]) -> Result<Vec<FaultRule>, String> {
    let rules: Vec<RuleIn> =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON array of rules: {e}"))?;
    let mut out = Vec::new();
    for (i, r) in rules.into_iter().enumerate() {
        let kind = FaultKind::parse(&r.kind).ok_or_else(|| {
            let all: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "[{i}].kind: must be one of {} (got {:?})",
                all.join(", "),
                r.kind
            )
        })?;
        if !(0.0..=1.0).contains(&r.rate) {
            return Err(format!("[{i}].rate: must be in 0..=1 (got {})", r.rate));
        }
        let status_ok = match (kind, r.status) {
            (_, None) => true,
            (FaultKind::Http5xx, Some(s)) => (500..=599).contains(&s),
            (FaultKind::Http4xx, Some(s)) => (400..=499).contains(&s),
            _ => false,
        };
        if !status_ok {
            return Err(format!(
                "[{i}].status: not a valid status for {}",
                kind.as_str()
            ));
        }
        out.push(FaultRule {
            status: r.status,
            ..FaultRule::always(kind, r.rate)
        });
    }
    let total: f64 = out.iter().map(|r| r.rate).sum();
    if total > 1.0 + 1e-9 {
        return Err(format!("fault rates add up to {total} (> 1)"));
    }
    Ok(out)
}

pub(super) async fn put_faults(
    State(sim): State<Arc<Simulator>>,
    body: axum::body::Bytes,
) -> Response {
    match parse_rules(&body) {
        Ok(rules) => {
            tracing::info!(rules = rules.len(), "fault rules replaced");
            sim.faults.replace(rules);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

pub(super) async fn get_faults(State(sim): State<Arc<Simulator>>) -> Response {
    axum::Json(sim.faults.list()).into_response()
}

/// Refuse an OpenAI request without every `required_headers` entry (401).
pub(super) async fn require_headers(
    State(sim): State<Arc<Simulator>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if authorized(&sim.config.required_headers, request.headers()) {
        next.run(request).await
    } else {
        error_response(
            StatusCode::UNAUTHORIZED,
            "missing or wrong authentication header",
        )
    }
}

fn authorized(required: &[(String, String)], headers: &HeaderMap) -> bool {
    required.iter().all(|(name, value)| {
        headers
            .get(name.as_str())
            .is_some_and(|v| v.as_bytes() == value.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_validated_like_the_config() {
        let ok = parse_rules(br#"[{"kind": "http_5xx", "rate": 0.5, "status": 502}]"#).unwrap();
        assert_eq!(ok[0].kind, FaultKind::Http5xx);
        assert_eq!(ok[0].status, Some(502));
        assert!(parse_rules(b"[]").unwrap().is_empty());
        for (bad, why) in [
            (r#"[{"kind": "gremlins", "rate": 1}]"#, "[0].kind"),
            (r#"[{"kind": "reset", "rate": 2}]"#, "[0].rate"),
            (
                r#"[{"kind": "stall", "rate": 0.1, "status": 500}]"#,
                "[0].status",
            ),
            (
                r#"[{"kind": "reset", "rate": 0.6}, {"kind": "stall", "rate": 0.6}]"#,
                "add up",
            ),
            (r#"{"kind": "reset"}"#, "not a JSON array"),
        ] {
            let e = parse_rules(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn every_required_header_must_match() {
        let required = vec![("x-api-key".to_string(), "s3cret".to_string())];
        let mut h = HeaderMap::new();
        assert!(!authorized(&required, &h));
        h.insert("x-api-key", "wrong".parse().unwrap());
        assert!(!authorized(&required, &h));
        h.insert("x-api-key", "s3cret".parse().unwrap());
        assert!(authorized(&required, &h));
        assert!(authorized(&[], &HeaderMap::new()));
    }
}
