//! What a request asks of the simulator, read from its body in its API's format: the model, the
//! input text (tokenized for the prompt length and prefix hashes), the token limit, streaming,
//! and the OpenAI extensions that shape generation. A body of the wrong shape is a 400.

use crate::openai::anthropic::MessagesRequest;
use crate::openai::responses::ResponsesRequest;
use crate::openai::{CompletionRequest, Endpoint};

/// One request's ask, whatever its format.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Asked {
    pub model: String,
    pub input: String,
    pub max_tokens: Option<u32>,
    pub stream: bool,
    /// Usage at the end of a stream: asked for (OpenAI's `stream_options`) or always sent.
    pub include_usage: bool,
    pub ignore_eos: bool,
    pub min_tokens: Option<u32>,
}

/// Read `body` as `endpoint`'s request; `Err` is the 400's message.
pub(super) fn parse(endpoint: Endpoint, body: &[u8]) -> Result<Asked, String> {
    match endpoint {
        Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings => {
            let req: CompletionRequest<'_> =
                serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
            let wrong_shape = match endpoint {
                Endpoint::Chat => req.messages.is_none(),
                _ => req.prompt.is_none(),
            };
            if wrong_shape {
                return Err("chat needs `messages`, completions need `prompt`".into());
            }
            Ok(Asked {
                model: req.model.to_string(),
                input: req.input_text(),
                max_tokens: req.max_tokens.or(req.max_completion_tokens),
                stream: req.stream,
                include_usage: req.stream_options.is_some_and(|o| o.include_usage),
                ignore_eos: req.ignore_eos.unwrap_or(false),
                min_tokens: req.min_tokens,
            })
        }
        Endpoint::Messages => {
            let req: MessagesRequest<'_> =
                serde_json::from_slice(body).map_err(|e| format!("invalid_request_error: {e}"))?;
            // Anthropic requires the limit.
            let max_tokens = req
                .max_tokens
                .ok_or("invalid_request_error: max_tokens: Field required")?;
            Ok(Asked {
                model: req.model.to_string(),
                input: req.input_text(),
                max_tokens: Some(max_tokens),
                stream: req.stream,
                include_usage: true,
                ignore_eos: false,
                min_tokens: None,
            })
        }
        Endpoint::Responses => {
            let req: ResponsesRequest<'_> =
                serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
            Ok(Asked {
                model: req.model.to_string(),
                input: req.input_text(),
                max_tokens: req.max_output_tokens,
                stream: req.stream,
                include_usage: true,
                ignore_eos: false,
                min_tokens: None,
            })
        }
    }
}

/// `POST /v1/embeddings`'s `input` in every shape OpenAI accepts: a string, strings, token ids,
/// or arrays of token ids — one embedding per item.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

#[derive(Debug, serde::Deserialize)]
struct EmbeddingAsk {
    #[allow(dead_code)]
    model: String,
    input: EmbeddingInput,
}

/// What an embeddings request asks for: each item's text (`None` for token ids) and token
/// count when given as ids. `Err` is the 400's message.
pub(super) fn embeddings(body: &[u8]) -> Result<Vec<Result<String, usize>>, String> {
    let ask: EmbeddingAsk = serde_json::from_slice(body).map_err(|e| {
        format!("invalid embeddings body: {e} (input: a string, strings, token ids or arrays of token ids)")
    })?;
    let items: Vec<Result<String, usize>> = match ask.input {
        EmbeddingInput::Text(t) => vec![Ok(t)],
        EmbeddingInput::Texts(v) => v.into_iter().map(Ok).collect(),
        EmbeddingInput::Tokens(ids) => vec![Err(ids.len())],
        EmbeddingInput::TokenLists(v) => v.into_iter().map(|ids| Err(ids.len())).collect(),
    };
    let empty = items.is_empty()
        || items
            .iter()
            .any(|i| matches!(i, Ok(t) if t.is_empty()) || matches!(i, Err(0)));
    if empty {
        return Err(
            "invalid embeddings body: input must not be empty, nor hold an empty item".into(),
        );
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_openai_embeddings_input_shape_is_read() {
        let read = |b: &str| embeddings(b.as_bytes());
        assert_eq!(
            read(r#"{"model":"m","input":"a b c"}"#).unwrap(),
            [Ok("a b c".to_string())]
        );
        assert_eq!(
            read(r#"{"model":"m","input":["a b c","d"]}"#).unwrap(),
            [Ok("a b c".to_string()), Ok("d".to_string())]
        );
        assert_eq!(read(r#"{"model":"m","input":[1,2,3]}"#).unwrap(), [Err(3)]);
        assert_eq!(
            read(r#"{"model":"m","input":[[1,2],[3]]}"#).unwrap(),
            [Err(2), Err(1)]
        );
        for bad in [
            r#"{"model":"m","input":[]}"#,
            r#"{"model":"m","input":""}"#,
            r#"{"model":"m","input":[[]]}"#,
            r#"{"model":"m","input":{"text":"x"}}"#,
            r#"{"model":"m"}"#,
            "garbage",
        ] {
            let e = read(bad).unwrap_err();
            assert!(e.starts_with("invalid embeddings body"), "{bad}: {e}");
        }
    }

    #[test]
    fn each_format_is_read_and_the_wrong_shape_refused() {
        let chat = parse(
            Endpoint::Chat,
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5,"stream":true}"#,
        )
        .unwrap();
        assert_eq!((chat.max_tokens, chat.include_usage), (Some(5), false));
        assert!(parse(Endpoint::Completions, br#"{"model":"m","messages":[]}"#).is_err());
        let m = parse(
            Endpoint::Messages,
            br#"{"model":"m","max_tokens":7,"system":"s","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(
            (m.input.as_str(), m.max_tokens, m.include_usage),
            ("s\nhi", Some(7), true)
        );
        let err = parse(Endpoint::Messages, br#"{"model":"m","messages":[]}"#).unwrap_err();
        assert!(err.contains("max_tokens"), "{err}");
        let r = parse(Endpoint::Responses, br#"{"model":"m","input":"hello"}"#).unwrap();
        assert_eq!((r.input.as_str(), r.max_tokens), ("hello", None));
        assert!(parse(Endpoint::Responses, br#"{"model":"m"}"#).is_err());
    }
}
