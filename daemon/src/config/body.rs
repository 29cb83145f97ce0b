//! A scenario's `extra_body`: arbitrary JSON merged into every request it sends — `tools`,
//! `tool_choice`, `response_format`, `reasoning_effort`, `chat_template_kwargs`, vendor fields.
//! The fields llm-soak owns (`model`, `messages`, `prompt`, `input`, `stream`, `stream_options`,
//! `max_tokens`, `max_completion_tokens`, `max_output_tokens`) are refused unless the scenario lists them in
//! `extra_body_override` (the measurement then rests on what the user sends: overriding `stream`
//! to false leaves no TTFT to measure, and is refused outright); a field the scenario also sets
//! by its own key (`temperature`, `top_p`, `seed`, `stop` — Anthropic's `stop_sequences` —,
//! `ignore_eos`, `min_tokens`) is ambiguous and refused.

use serde::Serialize;
use serde_json::{Map, Value};

use super::walk::{Val, Walk};

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

/// Any TOML value as JSON (datetimes as their RFC 3339 text).
fn json(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Value> {
    use toml::de::DeValue;
    Some(match v.raw() {
        DeValue::String(_) => Value::String(v.str(w)?.to_string()),
        DeValue::Integer(_) => Value::from(v.int(w)?),
        DeValue::Float(_) => serde_json::Number::from_f64(v.float(w)?)
            .map(Value::Number)
            .or_else(|| {
                v.bad(w, "NaN and infinities are not JSON");
                None
            })?,
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(_) => Value::Array(
            v.array(w)?
                .iter()
                .map(|x| json(w, x))
                .collect::<Option<Vec<_>>>()?,
        ),
        DeValue::Table(_) => {
            let mut t = v.table(w)?;
            let mut out = Map::new();
            for (k, x) in t.entries() {
                out.insert(k.to_string(), json(w, &x)?);
            }
            Value::Object(out)
        }
    })
}

/// `extra_body` and `extra_body_override` of a scenario; `keyed` are the request fields the
/// scenario sets by its own keys.
pub(super) fn walk(
    w: &mut Walk<'_>,
    body: Option<Val<'_, '_>>,
    overrides: Option<Val<'_, '_>>,
    keyed: &[&str],
) -> Option<Option<ExtraBody>> {
    let allowed: Vec<String> = match &overrides {
        None => Vec::new(),
        Some(o) => {
            let items = o.array(w)?;
            let mut out = Vec::new();
            for i in &items {
                let name = i.str(w)?;
                if !OWNED.contains(&name) {
                    i.bad(
                        w,
                        format!(
                            "{name:?} is not a field llm-soak owns (those are {})",
                            OWNED.join(", ")
                        ),
                    );
                    return None;
                }
                if name == "stream" {
                    i.bad(
                        w,
                        "llm-soak measures streams: \"stream\" cannot be overridden",
                    );
                    return None;
                }
                out.push(name.to_string());
            }
            out
        }
    };
    let Some(body) = body else {
        if let Some(o) = overrides {
            o.bad(w, "extra_body_override without an extra_body");
            return None;
        }
        return Some(None);
    };
    let Value::Object(map) = json(w, &body)? else {
        body.bad(
            w,
            "extra_body is a table of request fields, e.g. { reasoning_effort = \"low\" }",
        );
        return None;
    };
    let mut ok = true;
    for k in map.keys() {
        let path = format!("{}.{k}", body.path);
        if OWNED.contains(&k.as_str()) && !allowed.iter().any(|a| a == k) {
            w.report(&path, Some(body.span()), format!("llm-soak sets {k:?} itself; to send your own, list it in extra_body_override = [{k:?}]"));
            ok = false;
        } else if keyed.contains(&k.as_str()) {
            w.report(
                &path,
                Some(body.span()),
                format!("{k:?} is also set by the scenario's own key: set it in one place"),
            );
            ok = false;
        }
    }
    ok.then_some(Some(ExtraBody(map)))
}
