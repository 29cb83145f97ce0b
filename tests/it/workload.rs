//! Workload contracts seen from outside: the request task never tokenizes between chunk reads
//! (every tokenizer call happens after the stream ended), `plan` is reproducible, a bad
//! tokenizer path is a configuration error.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use llm_soak::client::Client;
use llm_soak::prepare::Prepared;
use llm_soak::record::{RequestPlan, TokenSource};
use llm_soak::simulator::faults::{FaultKind, FaultRule};
use llm_soak::simulator::{self, SimConfig};
use llm_soak::workload::tokenizer::O200k;
use llm_soak::workload::{Tokenizer, Workload};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The embedded tokenizer, remembering when it was called.
#[derive(Debug, Default)]
struct Recording {
    inner: O200k,
    calls: Mutex<Vec<Instant>>,
}

impl Tokenizer for Recording {
    fn encode(&self, text: &str) -> Vec<u32> {
        self.calls.lock().unwrap().push(Instant::now());
        self.inner.encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Option<String> {
        self.inner.decode(ids)
    }
    fn name(&self) -> &str {
        "recording"
    }
}

async fn one_request(fault: Option<FaultKind>) -> (llm_soak::record::RequestRecord, Vec<Instant>) {
    let sim = SimConfig {
        prefill_base: std::time::Duration::from_millis(20),
        itl_base: std::time::Duration::from_millis(10),
        faults: fault
            .map(|k| FaultRule::always(k, 1.0))
            .into_iter()
            .collect(),
        ..SimConfig::default()
    };
    let running = simulator::spawn(sim, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let text = format!(
        "[[target]]\nname = \"t\"\nbase_url = \"http://{}\"\nmodel = \"m\"\nrecount_sample = 1.0\n\
         [load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n\
         [[scenario]]\nname = \"s\"\ninput_tokens = 64\noutput_tokens = 20\n",
        running.addr
    );
    let mut prepared = Prepared::parse(&text, "t", &|_| None).unwrap();
    let config = &prepared.config;
    // Prompts are prepared before the request, with the normal tokenizer.
    let prompt = Arc::new(Workload::new(config, &prepared.assets, "r").prompt(0));
    let recording = Arc::new(Recording::default());
    prepared.assets.tokenizers[0] = recording.clone();
    let client = Client::new(config, &prepared.assets.tokenizers, &prepared.credentials).unwrap();
    let plan = RequestPlan {
        seq: 0,
        intended_at: Instant::now(),
        scenario: 0,
        max_tokens: 20,
        prompt,
        keep_text: false,
        phase: None,
    };
    let record = client.execute(&plan, &CancellationToken::new()).await;
    let calls = recording.calls.lock().unwrap().clone();
    (record, calls)
}

#[tokio::test]
async fn the_request_task_never_tokenizes_before_the_stream_ended() {
    // Usage sent, re-count sampled: one call, after the last byte.
    let (record, calls) = one_request(None).await;
    assert_eq!(record.token_source, TokenSource::Usage);
    assert_eq!(record.recounted_output_tokens, Some(20));
    assert_eq!(calls.len(), 1);
    assert!(
        calls.iter().all(|&c| c >= record.end_at),
        "tokenizer called while streaming"
    );
    // No usage: the fallback count, also after the last byte.
    let (record, calls) = one_request(Some(FaultKind::NoUsage)).await;
    assert_eq!(record.token_source, TokenSource::Tokenizer);
    assert_eq!(record.output_tokens, 20);
    assert_eq!(calls.len(), 1);
    assert!(calls.iter().all(|&c| c >= record.end_at));
    assert!(
        record.token_events.len() == 20
            && record.token_events.last().is_some_and(|t| t <= calls[0])
    );
}

fn plan_jsonl(config: &str, n: &str) -> String {
    let out = std::process::Command::new(crate::common::bin())
        .args(["plan", "-c", config, "--sample", n, "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn plan_is_reproducible_and_a_bad_tokenizer_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let tokenizer = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokenizer/bpe-2k.json"
    );
    let base = "[load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1m\"\n\
        [[scenario]]\nname = \"a\"\nshared_prefix = { tokens = 64, pool = 3, share = 0.3 }\ninput_tokens = { lognormal = { mean = 300, stddev = 100 } }\noutput_tokens = 32\n\
        [[scenario]]\nname = \"b\"\nendpoint = \"completions\"\ninput_tokens = 100\noutput_tokens = { uniform = { min = 1, max = 9 } }\n";
    let config = format!(
        "seed = 5\n[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\ntokenizer = {{ file = \"{tokenizer}\" }}\n{base}"
    );
    std::fs::write(&path, &config).unwrap();
    let p = path.to_str().unwrap();
    let a = plan_jsonl(p, "300");
    assert_eq!(a, plan_jsonl(p, "300"), "same seed, same requests");
    let rows: Vec<serde_json::Value> = a
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 300);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["seq"], i as u64);
        assert!(r["prompt_sha256"].as_str().unwrap().len() == 64);
        assert!(
            r.get("session").is_some() && r.get("turn").is_some() && r.get("prefix_id").is_some()
        );
    }
    assert!(rows.iter().any(|r| r["prefix_id"].is_u64()));
    // Another seed, other requests.
    std::fs::write(&path, config.replace("seed = 5", "seed = 6")).unwrap();
    assert_ne!(a, plan_jsonl(p, "300"));
    // A tokenizer path that does not load: exit 64 naming the key, never a panic.
    std::fs::write(
        &path,
        config.replace(tokenizer, "/nonexistent/tokenizer.json"),
    )
    .unwrap();
    let out = std::process::Command::new(crate::common::bin())
        .args(["check-config", "-c", p])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("target[0].tokenizer.file: cannot load tokenizer /nonexistent/tokenizer.json"),
        "{err}"
    );
}
