//! A scenario's `extra_body`: arbitrary JSON merged into every request it sends — `tools`,
//! `tool_choice`, `response_format`, `reasoning_effort`, `chat_template_kwargs`, vendor fields.
//! The fields llm-soak owns (`model`, `messages`, `prompt`, `input`, `stream`, `stream_options`,
//! `max_tokens`, `max_completion_tokens`, `max_output_tokens`) are refused unless the scenario lists them in
//! `extra_body_override` (the measurement then rests on what the user sends: overriding `stream`
//! to false leaves no TTFT to measure, and is refused outright); a field the scenario also sets
//! by its own key (`temperature`, `top_p`, `seed`, `stop` — Anthropic's `stop_sequences` —,
//! `ignore_eos`, `min_tokens`) is ambiguous and refused.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::check::Check;
/// Request fields llm-soak sets itself; overridable only by name in `extra_body_override`.
pub const OWNED: &[&str] = &[
    "model",
    "messages",
    "prompt",
    "input",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
];

/// Request fields a scenario key sets (`temperature = 0.7`), with that key: one place for each.
/// `stop` is sent as Anthropic's `stop_sequences` too.
pub const SCENARIO_KEYED: &[(&str, &str)] = &[
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("seed", "seed"),
    ("stop", "stop"),
    ("stop_sequences", "stop"),
    ("ignore_eos", "ignore_eos"),
    ("min_tokens", "min_tokens"),
];

/// JSON merged into every request of a scenario (top-level fields replace the built ones).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct ExtraBody(pub Map<String, Value>);

impl ExtraBody {
    /// Merge into a request body built by llm-soak (a JSON object).
    pub fn apply(&self, body: &mut Value) {
        if let Some(obj) = body.as_object_mut() {
            for (k, v) in &self.0 {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

impl<'de> Deserialize<'de> for ExtraBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(map) => Ok(ExtraBody(map)),
            _ => Err(serde::de::Error::custom(
                "extra_body is a table of request fields, e.g. { reasoning_effort = \"low\" }",
            )),
        }
    }
}

/// `extra_body` and `extra_body_override` of scenario `at`; `keyed` are the request fields the
/// scenario sets by its own keys.
pub(super) fn check(
    c: &mut Check<'_>,
    at: &str,
    body: Option<&ExtraBody>,
    overrides: &[String],
    keyed: &[&str],
) {
    for (i, name) in overrides.iter().enumerate() {
        let path = format!("{at}.extra_body_override[{i}]");
        if !OWNED.contains(&name.as_str()) {
            c.bad(
                path,
                format!(
                    "{name:?} is not a field llm-soak owns (those are {})",
                    OWNED.join(", ")
                ),
            );
        } else if name == "stream" {
            c.bad(
                path,
                "llm-soak measures streams: \"stream\" cannot be overridden",
            );
        }
    }
    let Some(body) = body else {
        if !overrides.is_empty() {
            c.bad(
                format!("{at}.extra_body_override"),
                "extra_body_override without an extra_body",
            );
        }
        return;
    };
    for k in body.0.keys() {
        let path = format!("{at}.extra_body.{k}");
        if OWNED.contains(&k.as_str()) && !overrides.iter().any(|a| a == k) {
            c.bad(path, format!("llm-soak sets {k:?} itself; to send your own, list it in extra_body_override = [{k:?}]"));
        } else if keyed.contains(&k.as_str()) {
            c.bad(
                path,
                format!("{k:?} is also set by the scenario's own key: set it in one place"),
            );
        }
    }
}
