//! Where a target's endpoints are, for APIs that are not at `/v1/…`: `paths` replaces an
//! endpoint's path (`{model}` is the request's model: Azure OpenAI's
//! `/openai/deployments/{model}/chat/completions`, Gemini's `/v1beta/openai/chat/completions`, a
//! gateway's prefix), `query` adds parameters to every URL (`api-version`), and
//! `api_key_header` sends the key in a header of that name as it is (`api-key`, `x-api-key`)
//! instead of `Authorization: Bearer`.

use serde::Serialize;

use super::walk::{Val, Walk};
use crate::openai::Endpoint;

/// Endpoint paths that replace the defaults (`None`: `/v1/chat/completions` and so on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Paths {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

    /// The path of the model list (`GET`, the readiness probe) for `model`.
    pub fn models(&self, model: &str) -> String {
        self.models
            .as_deref()
            .map_or_else(|| "/v1/models".to_string(), |p| p.replace("{model}", model))
    }
}

/// `?name=value&…`, form-encoded (empty without parameters).
pub fn query_string(query: &[(String, String)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
    for (k, v) in query {
        s.append_pair(k, v);
    }
    s.finish()
}

/// `paths = { chat = "/openai/deployments/{model}/chat/completions", … }`.
pub(super) fn paths(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Paths> {
    let mut t = v.table(w)?;
    let mut one = |key: &'static str| match t.get(key) {
        None => Some(None),
        Some(v) => {
            let p = v.str(w)?;
            let placeholders_ok = p.split('{').skip(1).all(|rest| rest.starts_with("model}"));
            if !p.starts_with('/') {
                v.bad(
                    w,
                    format!("a path starts with '/' (got {p:?}); the host is base_url's"),
                );
                None
            } else if p.contains(['?', '#']) {
                v.bad(
                    w,
                    format!("{p:?}: query parameters go in query = {{ … }}, not in the path"),
                );
                None
            } else if !placeholders_ok || p.contains('}') && !p.contains("{model}") {
                v.bad(w, format!("{p:?}: the only placeholder is {{model}}"));
                None
            } else {
                Some(Some(p.to_string()))
            }
        }
    };
    let (chat, completions) = (one("chat"), one("completions"));
    let (models, embeddings) = (one("models"), one("embeddings"));
    let (messages, responses) = (one("messages"), one("responses"));
    t.finish(
        w,
        &[
            "chat",
            "completions",
            "models",
            "embeddings",
            "messages",
            "responses",
        ],
        |_| None,
    );
    Some(Paths {
        chat: chat?,
        completions: completions?,
        models: models?,
        embeddings: embeddings?,
        messages: messages?,
        responses: responses?,
    })
}

/// `query = { "api-version" = "2024-10-21" }`: string values.
pub(super) fn query(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Vec<(String, String)>> {
    let mut t = v.table(w)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (k, x) in t.entries() {
        match x.str(w) {
            Some(s) if !k.is_empty() => out.push((k.to_string(), s.to_string())),
            Some(_) => {
                x.bad(w, "a query parameter needs a name");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `api_key_header = "api-key"`: a valid header name; `authorization` is the default form.
pub(super) fn key_header(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<String> {
    let s = v.str(w)?;
    let valid = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        v.bad(w, format!("{s:?} is not an HTTP header name"));
        return None;
    }
    Some(s.to_ascii_lowercase())
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
            query_string(&[
                ("api-version".into(), "2024-10-21".into()),
                ("a b".into(), "x&y".into())
            ]),
            "?api-version=2024-10-21&a+b=x%26y"
        );
        assert_eq!(query_string(&[]), "");
    }
}
