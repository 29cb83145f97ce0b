//! Where a target's endpoints are, for APIs that are not at `/v1/…`: `paths` replaces an
//! endpoint's path (`{model}` is the request's model: Azure OpenAI's
//! `/openai/deployments/{model}/chat/completions`, Gemini's `/v1beta/openai/chat/completions`, a
//! gateway's prefix), `query` adds parameters to every URL (`api-version`), and
//! `api_key_header` sends the key in a header of that name as it is (`api-key`, `x-api-key`)
//! instead of `Authorization: Bearer`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::check::Check;
use crate::openai::Endpoint;

/// Endpoint paths that replace the defaults (`None`: `/v1/chat/completions` and so on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses: Option<String>,
}

impl Paths {
    pub fn is_empty(&self) -> bool {
        *self == Paths::default()
    }

    /// The path of `endpoint` for `model`.
    pub fn endpoint(&self, endpoint: Endpoint, model: &str) -> String {
        let custom = match endpoint {
            Endpoint::Chat => &self.chat,
            Endpoint::Completions => &self.completions,
            Endpoint::Embeddings => &self.embeddings,
            Endpoint::Messages => &self.messages,
            Endpoint::Responses => &self.responses,
        };
        custom.as_deref().map_or_else(
            || endpoint.path().to_string(),
            |p| p.replace("{model}", model),
        )
    }

    /// `paths = { chat = "/openai/deployments/{model}/chat/completions", … }`.
    pub(super) fn check(&self, c: &mut Check<'_>, at: &str) {
        let all = [
            ("chat", &self.chat),
            ("completions", &self.completions),
            ("models", &self.models),
            ("embeddings", &self.embeddings),
            ("messages", &self.messages),
            ("responses", &self.responses),
        ];
        for (key, p) in all {
            let Some(p) = p else { continue };
            let path = format!("{at}.{key}");
            let placeholders_ok = p.split('{').skip(1).all(|rest| rest.starts_with("model}"));
            if !p.starts_with('/') {
                c.bad(
                    path,
                    format!("a path starts with '/' (got {p:?}); the host is base_url's"),
                );
            } else if p.contains(['?', '#']) {
                c.bad(
                    path,
                    format!("{p:?}: query parameters go in query = {{ … }}, not in the path"),
                );
            } else if !placeholders_ok || p.contains('}') && !p.contains("{model}") {
                c.bad(path, format!("{p:?}: the only placeholder is {{model}}"));
            }
        }
    }

    /// The path of the model list (`GET`, the readiness probe) for `model`.
    pub fn models(&self, model: &str) -> String {
        self.models
            .as_deref()
            .map_or_else(|| "/v1/models".to_string(), |p| p.replace("{model}", model))
    }
}

/// `?name=value&…`, form-encoded (empty without parameters).
pub fn query_string(query: &BTreeMap<String, String>) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
    for (k, v) in query {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_substitute_the_model_and_queries_are_encoded() {
        let p = Paths {
            chat: Some("/openai/deployments/{model}/chat/completions".into()),
            ..Paths::default()
        };
        assert_eq!(
            p.endpoint(Endpoint::Chat, "gpt-4o"),
            "/openai/deployments/gpt-4o/chat/completions"
        );
        assert_eq!(p.endpoint(Endpoint::Completions, "m"), "/v1/completions");
        assert_eq!(p.models("m"), "/v1/models");
        assert_eq!(
            query_string(&BTreeMap::from([
                ("api-version".into(), "2024-10-21".into()),
                ("a b".into(), "x&y".into())
            ])),
            "?a+b=x%26y&api-version=2024-10-21"
        );
        assert_eq!(query_string(&BTreeMap::new()), "");
    }
}
