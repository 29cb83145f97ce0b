//! A request's JSON body in its scenario's API format — chat or text completions, embeddings,
//! Anthropic Messages, OpenAI Responses — with the scenario's sampling keys and its `extra_body`
//! merged in. Built by the blocking prompt worker, never on the request path.

use bytes::Bytes;
use serde::Serialize;

use crate::config::{MinTokens, Scenario};
use crate::openai::anthropic::MessagesRequest;
use crate::openai::responses::ResponsesRequest;
use crate::openai::{ChatMessage, CompletionRequest, EmbeddingRequest, Endpoint, StreamOptions};

/// The body of one request: `turns` are (role, content) of the conversation so far.
pub fn request_body(sc: &Scenario, turns: &[(String, String)], max_tokens: u32) -> Bytes {
    let messages = || -> Vec<ChatMessage<'_>> {
        turns
            .iter()
            .map(|(role, content)| ChatMessage {
                role: role.as_str().into(),
                content: content.as_str().into(),
            })
            .collect()
    };
    let joined = || {
        turns
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let system = sc.system_prompt.as_deref();
    match sc.endpoint {
        Endpoint::Embeddings => finish(
            sc,
            &EmbeddingRequest {
                model: sc.model.as_str().into(),
                input: joined().into(),
            },
        ),
        Endpoint::Messages => finish(
            sc,
            &MessagesRequest {
                model: sc.model.as_str().into(),
                max_tokens: Some(max_tokens),
                messages: messages(),
                system: system.map(Into::into),
                stream: sc.stream(),
                temperature: sc.temperature,
                top_p: sc.top_p,
                stop_sequences: sc.stop.clone(),
            },
        ),
        Endpoint::Responses => finish(
            sc,
            &ResponsesRequest {
                model: sc.model.as_str().into(),
                input: messages(),
                instructions: system.map(Into::into),
                max_output_tokens: Some(max_tokens),
                stream: sc.stream(),
                store: Some(false),
                temperature: sc.temperature,
                top_p: sc.top_p,
            },
        ),
        Endpoint::Chat | Endpoint::Completions => {
            let mut req = CompletionRequest {
                model: sc.model.as_str().into(),
                max_tokens: Some(max_tokens),
                stream: sc.stream(),
                stream_options: sc.stream().then_some(StreamOptions {
                    include_usage: true,
                }),
                temperature: sc.temperature,
                top_p: sc.top_p,
                seed: sc.seed,
                stop: sc.stop.clone(),
                ignore_eos: sc.ignore_eos.then_some(true),
                min_tokens: sc.min_tokens.map(|m| match m {
                    MinTokens::MaxTokens => max_tokens,
                    MinTokens::Fixed(n) => n.min(max_tokens),
                }),
                ..Default::default()
            };
            if sc.endpoint == Endpoint::Chat {
                let mut all = Vec::with_capacity(turns.len() + 1);
                if let Some(system) = system {
                    all.push(ChatMessage {
                        role: "system".into(),
                        content: system.into(),
                    });
                }
                all.extend(messages());
                req.messages = Some(all);
            } else {
                let content = joined();
                req.prompt = Some(match system {
                    Some(system) => format!("{system}\n\n{content}").into(),
                    None => content.into(),
                });
            }
            finish(sc, &req)
        }
    }
}

/// Serialize, with the scenario's `extra_body` merged over the top level.
fn finish(sc: &Scenario, req: &impl Serialize) -> Bytes {
    match &sc.extra_body {
        None => Bytes::from(serde_json::to_vec(req).unwrap_or_default()),
        Some(extra) => {
            let mut v = serde_json::to_value(req).unwrap_or_default();
            extra.apply(&mut v);
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn body(scenario: &str) -> serde_json::Value {
        let text = format!(
            "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
             [load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1m\"\n\
             [[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 8\nsystem_prompt = \"Be brief.\"\n{scenario}\n"
        );
        let c = Config::parse(&text, "t", &|_| None).unwrap();
        let turns = [("user".to_string(), "hi".to_string())];
        serde_json::from_slice(&request_body(&c.scenarios[0], &turns, 32)).unwrap()
    }

    #[test]
    fn each_format_carries_the_prompt_the_limit_and_the_system_prompt_where_its_api_wants_them() {
        let chat = body("");
        assert_eq!(chat["messages"][0]["role"], "system");
        assert_eq!(chat["messages"][1]["content"], "hi");
        assert_eq!(chat["max_tokens"], 32);
        assert_eq!(chat["stream_options"]["include_usage"], true);
        let m = body("endpoint = \"messages\"\nstop = [\"END\"]\ntemperature = 0.5");
        assert_eq!(m["system"], "Be brief.");
        assert_eq!(m["messages"][0]["content"], "hi");
        assert_eq!(m["messages"].as_array().map(Vec::len), Some(1));
        assert_eq!((&m["max_tokens"], &m["stream"]), (&32.into(), &true.into()));
        assert_eq!(m["stop_sequences"][0], "END");
        assert!(m.get("stream_options").is_none() && m.get("stop").is_none());
        let r = body("endpoint = \"responses\"\nextra_body = { reasoning = { effort = \"low\" } }");
        assert_eq!(r["instructions"], "Be brief.");
        assert_eq!(r["input"][0]["content"], "hi");
        assert_eq!(r["max_output_tokens"], 32);
        assert_eq!(r["store"], false);
        assert_eq!(r["reasoning"]["effort"], "low");
        assert!(r.get("max_tokens").is_none());
        let whole = body("endpoint = \"messages\"\nstream = false");
        assert_eq!(whole["stream"], false);
    }
}
