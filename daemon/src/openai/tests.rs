//! The OpenAI chunk and request shapes as servers send them.

use super::*;

fn parse(s: &str) -> (ChunkContent, String, bool) {
    let chunk: StreamChunk<'_> = serde_json::from_str(s).unwrap();
    let mut text = String::new();
    let c = chunk.content(&mut text);
    (c, text, chunk.finished())
}

#[test]
fn role_chunks_carry_no_token() {
    let (c, _, _) = parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#);
    assert_eq!(c, ChunkContent::default());
    let (c, _, _) =
        parse(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#);
    assert_eq!(c, ChunkContent::default());
}

#[test]
fn reasoning_is_a_token_but_not_an_answer() {
    let (c, text, _) = parse(r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#);
    assert_eq!((c.token, c.answer, text.as_str()), (true, false, "hm"));
    let (c, _, _) = parse(r#"{"choices":[{"delta":{"reasoning":"hm"}}]}"#);
    assert_eq!((c.token, c.answer), (true, false));
    let (c, text, _) = parse(
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get_weather","arguments":"{\"city\": "}}]}}]}"#,
    );
    assert_eq!((c.token, c.answer), (true, true));
    assert_eq!(
        text, "get_weather{\"city\": ",
        "a tool call's text is output"
    );
    // A malformed tool_calls value still counts as an answer event, with no text.
    let (c, text, _) = parse(r#"{"choices":[{"delta":{"tool_calls":{"odd":1}}}]}"#);
    assert_eq!((c.answer, text.as_str()), (true, ""));
}

#[test]
fn a_non_streamed_answer_reads_like_one_chunk_holding_all_of_it() {
    let body = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}"#;
    let c: Completion<'_> = serde_json::from_str(body).unwrap();
    let chunk = c.into_chunk();
    let mut text = String::new();
    let content = chunk.content(&mut text);
    assert!(content.token && content.answer && chunk.finished());
    assert_eq!(text, "hif{}");
    assert_eq!(chunk.usage.map(|u| u.completion_tokens), Some(7));
    let err: Completion<'_> =
        serde_json::from_str(r#"{"error":{"message":"overloaded","code":503}}"#).unwrap();
    assert!(err.into_chunk().error.is_some());
    let completions: Completion<'_> =
        serde_json::from_str(r#"{"choices":[{"text":"abc","finish_reason":"length"}]}"#).unwrap();
    let mut text = String::new();
    assert!(completions.into_chunk().content(&mut text).answer);
    assert_eq!(text, "abc");
}

#[test]
fn escapes_are_decoded_and_finish_seen() {
    let (c, text, fin) = parse(r#"{"choices":[{"text":"a\"b\u00e9","finish_reason":"length"}]}"#);
    assert!(c.token && fin);
    assert_eq!(text, "a\"bé");
}

#[test]
fn usage_only_chunk_and_error_code() {
    let chunk: StreamChunk<'_> = serde_json::from_str(
        r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8},"timings":{"x":1}}"#,
    )
    .unwrap();
    assert_eq!(chunk.usage.map(|u| u.completion_tokens), Some(5));
    let chunk: StreamChunk<'_> =
        serde_json::from_str(r#"{"error":{"message":"boom","code":503}}"#).unwrap();
    let Some(WireError::Object(e)) = chunk.error else {
        panic!("an error object")
    };
    assert_eq!(e.status_code(), Some(503));
    // TGI: a bare message and its class beside it.
    let chunk: StreamChunk<'_> =
        serde_json::from_str(r#"{"error":"Model is overloaded","error_type":"overloaded"}"#)
            .unwrap();
    assert!(matches!(chunk.error, Some(WireError::Message(_))));
    assert_eq!(chunk.error_type.as_deref(), Some("overloaded"));
}

#[test]
fn usage_details_and_duplicated_reasoning() {
    let chunk: StreamChunk<'_> = serde_json::from_str(
        r#"{"choices":[],"usage":{"prompt_tokens":30,"completion_tokens":50,"total_tokens":80,
           "completion_tokens_details":{"reasoning_tokens":40},
           "prompt_tokens_details":{"cached_tokens":16}}}"#,
    )
    .unwrap();
    let u = chunk.usage.unwrap();
    assert_eq!(
        (u.reasoning_tokens(), u.cached_tokens()),
        (Some(40), Some(16))
    );
    let chunk: StreamChunk<'_> = serde_json::from_str(
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,
           "completion_tokens_details":null,"prompt_tokens_details":{}}}"#,
    )
    .unwrap();
    let u = chunk.usage.unwrap();
    assert_eq!((u.reasoning_tokens(), u.cached_tokens()), (None, None));
    // The same reasoning under both names is one piece of text.
    let (c, text, _) =
        parse(r#"{"choices":[{"delta":{"reasoning_content":"hm","reasoning":"hm"}}]}"#);
    assert!(c.token && c.reasoning && !c.answer);
    assert_eq!(text, "hm");
}

#[test]
fn requests_with_content_parts_null_content_and_max_completion_tokens_parse() {
    let body = r#"{"model":"m","max_completion_tokens":50,"messages":[
        {"role":"system","content":null},
        {"role":"user","content":[{"type":"text","text":"hello "},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"world"}]},
        {"role":"user","content":[{"type":"text","text":"one part"}]},
        {"role":"user","content":"plain"}]}"#;
    let req: CompletionRequest<'_> = serde_json::from_str(body).unwrap();
    let contents: Vec<&str> = req
        .messages
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.content.as_ref())
        .collect();
    assert_eq!(contents, ["", "hello world", "one part", "plain"]);
    assert_eq!(req.max_tokens, None);
    assert_eq!(req.max_completion_tokens, Some(50));
    assert!(
        serde_json::from_str::<CompletionRequest<'_>>(
            r#"{"model":"m","messages":[{"role":"user","content":7}]}"#
        )
        .is_err()
    );
}
