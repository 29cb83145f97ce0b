//! End to end, the URL shapes and authentication of APIs that are not at `/v1/…` with a bearer
//! token: Azure OpenAI (the deployment in the path, `?api-version=`, the key in `api-key`) and
//! Gemini's OpenAI-compatible path (no `/v1`), against the built-in target's own routes for
//! them; a missing query parameter or the wrong header is a classified request error.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use crate::common::*;

/// A 3 s run on `target_extra`, with `AZ_KEY` set: (exit code, stdout, report).
fn run(sim: SocketAddr, target_extra: &str) -> (Option<i32>, String, serde_json::Value) {
    let text = config_for(
        sim,
        target_extra,
        "arrival = \"constant\"\nmax_in_flight = 16\npreset = { name = \"steady\", rate = 10 }",
        "input_tokens = 16\noutput_tokens = 4",
    )
    .replace("model = \"llm-soak-sim\"", "model = \"gpt-4o-prod\"");
    bounded_run_env(&text, &["--duration", "3s"], &[("AZ_KEY", "s3cret")])
}

fn outcomes(r: &serde_json::Value) -> (u64, u64) {
    let f = &r["summary"]["all"]["finished"];
    (f["success"].as_u64().unwrap(), f["error"].as_u64().unwrap())
}

#[test]
fn azure_and_gemini_shapes_reach_their_routes_with_their_auth() {
    let (_sim, sim) = simulator(&[
        "--ttft",
        "5ms",
        "--itl",
        "2ms",
        "--require-header",
        "api-key: s3cret",
    ]);
    let azure = "api_key_env = \"AZ_KEY\"\napi_key_header = \"api-key\"\n\
                 paths = { chat = \"/openai/deployments/{model}/chat/completions\", models = \"/openai/models\" }\n\
                 query = { \"api-version\" = \"2024-10-21\" }";
    let (code, out, r) = run(sim, azure);
    assert_eq!(code, Some(0), "{out}");
    let (ok, failed) = outcomes(&r);
    assert!(ok >= 20 && failed == 0, "{out}");
    // Without the api-version parameter every request is a 400: counted, classified.
    let (code, out, r) = run(
        sim,
        &azure.replace("query = { \"api-version\" = \"2024-10-21\" }", ""),
    );
    assert_eq!(code, Some(3), "not one request succeeded: {out}");
    let (ok, failed) = outcomes(&r);
    assert_eq!(ok, 0, "{out}");
    assert!(failed > 0);
    assert_eq!(
        r["summary"]["all"]["error_types"]["http_4xx"], failed,
        "{r}"
    );
    // The key as a bearer token instead of in api-key: the target refuses it (401).
    let (_, out, r) = run(sim, &azure.replace("api_key_header = \"api-key\"\n", ""));
    let (ok, failed) = outcomes(&r);
    assert!(ok == 0 && failed > 0, "{out}");
}

#[test]
fn a_path_without_v1_and_a_gateway_prefix() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let gemini = "paths = { chat = \"/v1beta/openai/chat/completions\", models = \"/v1beta/openai/models\" }";
    let (code, out, r) = run(sim, gemini);
    assert_eq!(code, Some(0), "{out}");
    let (ok, failed) = outcomes(&r);
    assert!(ok >= 20 && failed == 0, "{out}");
    // A path the target does not serve: 404s, classified, never a panic or a hang.
    let (_, out, r) = run(sim, "paths = { chat = \"/gateway/v1/chat/completions\" }");
    let (ok, failed) = outcomes(&r);
    assert!(ok == 0 && failed > 0, "{out}");
    assert_eq!(r["summary"]["all"]["error_types"]["http_4xx"], failed);
}

/// `stream = false`: one JSON answer; e2e and tokens measured, TTFT/TPOT/ITL absent, not faked.
#[test]
fn a_non_streamed_scenario_has_e2e_and_tokens_but_no_ttft() {
    let (_sim, sim) = simulator(&["--ttft", "30ms", "--itl", "2ms", "--itl-per-seq", "0s"]);
    let config = format!(
        "{}\n[[scenario]]\nname = \"whole\"\nstream = false\ninput_tokens = 16\noutput_tokens = 10\n",
        config_for(
            sim,
            "",
            "arrival = \"constant\"\nmax_in_flight = 16\npreset = { name = \"steady\", rate = 20 }",
            "input_tokens = 16\noutput_tokens = 10",
        )
    );
    let (code, out, r) = bounded_run(&config, &["--duration", "3s"]);
    assert_eq!(code, Some(0), "{out}");
    let whole = &r["summary"]["scenarios"]["whole"];
    let lat = &whole["latency"];
    let ok = whole["finished"]["success"].as_u64().unwrap();
    assert!(ok >= 10 && whole["finished"]["error"] == 0, "{whole}");
    assert_eq!(lat["e2e"]["samples"], ok);
    for absent in ["ttft", "tpot", "itl", "ttfc"] {
        assert_eq!(
            lat[absent]["samples"], 0,
            "{absent} of a non-streamed answer: {lat}"
        );
    }
    // 30 ms + 9 × 2 ms of generation before the one answer.
    let p50 = lat["e2e"]["p50"].as_f64().unwrap();
    assert!((0.045..0.2).contains(&p50), "{p50}");
    assert_eq!(
        whole["tokens"]["output"].as_u64().unwrap(),
        10 * ok,
        "from usage"
    );
    // The streamed scenario beside it is measured as always.
    assert!(
        r["summary"]["scenarios"]["s1"]["latency"]["ttft"]["samples"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// `endpoint = "embeddings"` beside chat (a RAG stack's two calls): e2e and input tokens per
/// request, no generated tokens, no TTFT.
#[test]
fn embeddings_are_measured_beside_chat() {
    let (_sim, sim) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "2ms",
        "--prefill-per-token",
        "0s",
    ]);
    let config = format!(
        "{}\n[[scenario]]\nname = \"embed\"\nendpoint = \"embeddings\"\ninput_tokens = 64\n",
        config_for(
            sim,
            "",
            "arrival = \"constant\"\nmax_in_flight = 16\npreset = { name = \"steady\", rate = 20 }",
            "input_tokens = 16\noutput_tokens = 4",
        )
    );
    let (code, out, r) = bounded_run(&config, &["--duration", "3s"]);
    assert_eq!(code, Some(0), "{out}");
    let e = &r["summary"]["scenarios"]["embed"];
    let ok = e["finished"]["success"].as_u64().unwrap();
    assert!(ok >= 10 && e["finished"]["error"] == 0, "{e}");
    assert_eq!(e["latency"]["e2e"]["samples"], ok);
    assert_eq!(e["latency"]["ttft"]["samples"], 0);
    let p50 = e["latency"]["e2e"]["p50"].as_f64().unwrap();
    assert!((0.02..0.2).contains(&p50), "the prefill time: {p50}");
    assert_eq!(e["tokens"]["output"], 0);
    // The input tokens the server counted (the prompt is token-exact in o200k_base: 64).
    let input = e["tokens"]["input"].as_u64().unwrap();
    assert!(input >= 64 * ok, "{input} for {ok}");
}

/// Anthropic Messages and OpenAI Responses, streamed and whole, beside each other on one target
/// that wants its key in `x-api-key` (Anthropic's way): the same definitions as chat — TTFT and
/// TPOT from the streamed token events, tokens from each API's own usage, no TTFT without a
/// stream — and `anthropic-version` sent without being configured.
#[test]
fn anthropic_messages_and_openai_responses_streamed_and_whole() {
    let (_sim, sim) = simulator(&[
        "--ttft",
        "30ms",
        "--itl",
        "2ms",
        "--itl-per-seq",
        "0s",
        "--require-header",
        "x-api-key: s3cret",
    ]);
    let mut config = config_for(
        sim,
        "api_key_env = \"AZ_KEY\"\napi_key_header = \"x-api-key\"",
        "arrival = \"constant\"\nmax_in_flight = 32\npreset = { name = \"steady\", rate = 40 }",
        "endpoint = \"messages\"\ninput_tokens = 16\noutput_tokens = 10\nsystem_prompt = \"Be brief.\"",
    );
    for (name, extra) in [
        ("messages_whole", "endpoint = \"messages\"\nstream = false"),
        ("responses", "endpoint = \"responses\""),
        (
            "responses_whole",
            "endpoint = \"responses\"\nstream = false",
        ),
    ] {
        config.push_str(&format!(
            "\n[[scenario]]\nname = \"{name}\"\n{extra}\ninput_tokens = 16\noutput_tokens = 10\n"
        ));
    }
    let (code, out, r) = bounded_run_env(&config, &["--duration", "3s"], &[("AZ_KEY", "s3cret")]);
    assert_eq!(code, Some(0), "{out}");
    for name in ["s1", "messages_whole", "responses", "responses_whole"] {
        let s = &r["summary"]["scenarios"][name];
        let ok = s["finished"]["success"].as_u64().unwrap();
        assert!(ok >= 5 && s["finished"]["error"] == 0, "{name}: {s}");
        assert_eq!(
            s["tokens"]["output"].as_u64().unwrap(),
            10 * ok,
            "{name}: usage"
        );
        let lat = &s["latency"];
        let streamed = !name.ends_with("_whole");
        assert_eq!(
            lat["ttft"]["samples"].as_u64().unwrap() > 0,
            streamed,
            "{name}: {lat}"
        );
        let e2e = lat["e2e"]["p50"].as_f64().unwrap();
        assert!(
            (0.045..0.3).contains(&e2e),
            "{name}: 30 ms + 9 × 2 ms: {e2e}"
        );
        if streamed {
            let ttft = lat["ttft"]["p50"].as_f64().unwrap();
            let tpot = lat["tpot"]["p50"].as_f64().unwrap();
            assert!((0.028..0.2).contains(&ttft), "{name}: {ttft}");
            assert!((0.0015..0.02).contains(&tpot), "{name}: {tpot}");
        }
    }
    // A mid-stream error event after HTTP 200 (Anthropic's overloaded_error, Responses'
    // response.failed) is a failure of the server's class, not a short success.
    let (_sim2, sim2) = simulator(&["--ttft", "5ms", "--itl", "2ms", "--fault", "stream_error=1"]);
    let config = config.replace(&format!("http://{sim}"), &format!("http://{sim2}"));
    let (_, out, r) = bounded_run_env(&config, &["--duration", "2s"], &[("AZ_KEY", "s3cret")]);
    for name in ["s1", "responses"] {
        let s = &r["summary"]["scenarios"][name];
        let failed = s["finished"]["error"].as_u64().unwrap();
        assert!(failed > 0 && s["finished"]["success"] == 0, "{name}: {out}");
        assert_eq!(s["error_types"]["http_5xx"], failed, "{name}: {s}");
    }
}
