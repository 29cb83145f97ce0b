//! A production trace replayed against the simulator's ground truth: every row sent once, at its
//! own time sped up, with its own output length (the server generated exactly that many tokens)
//! and its input length (one template offset for every row); and Mooncake's shared blocks reach
//! the server as shared prompt prefixes — its prefix cache hits them, and the same rows with every
//! block id made unique hit nothing of the kind.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Replay `file` (Mooncake) at 10x against a fresh simulator: (report, the server's rows by seq,
/// its stats).
fn replay(file: &str) -> (Value, HashMap<u64, Value>, Value) {
    let (_p, sim) = simulator(&["--ttft", "20ms", "--itl", "2ms"]);
    let (report, rows, stats) = replay_on(sim, file);
    (report, rows, stats)
}

fn replay_on(sim: SocketAddr, file: &str) -> (Value, HashMap<u64, Value>, Value) {
    let config = config_for(
        sim,
        "",
        &format!("trace = {{ file = {file:?}, format = \"mooncake\", speedup = 10 }}"),
        "input_tokens = 1\noutput_tokens = 1\nignore_eos = true",
    );
    let (code, stdout, report) = bounded_run(&config, &["--duration", "60s"]);
    assert_eq!(code, Some(0), "{stdout}");
    let rows = get_json(sim, "/stats/requests");
    let by_seq = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (n(&r["seq"]), r.clone()))
        .collect();
    (report, by_seq, get_json(sim, "/stats"))
}

#[test]
fn a_mooncake_trace_is_replayed_row_for_row_with_its_prefix_sharing() {
    let file = fixture("mooncake.jsonl");
    let trace: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (report, rows, stats) = replay(&file);
    assert_eq!(
        n(&report["requests"]["finished"]["success"]),
        trace.len() as u64,
        "{}",
        report["requests"]
    );
    assert_eq!(rows.len(), trace.len());
    let mut offsets = std::collections::HashSet::new();
    for (seq, row) in trace.iter().enumerate() {
        let got = &rows[&(seq as u64)];
        assert_eq!(
            n(&got["completion_tokens"]),
            n(&row["output_length"]),
            "row {seq}"
        );
        offsets.insert(n(&got["prompt_tokens"]) as i64 - n(&row["input_length"]) as i64);
    }
    assert_eq!(offsets.len(), 1, "one chat-template offset: {offsets:?}");
    // The trace's one phase, sent over its span at 10x (22.7 s -> about 2.3 s).
    let phases = report["summary"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1);
    assert_eq!(phases[0]["kind"], "trace", "{}", phases[0]);
    let shared_hits = n(&stats["prefix_cache_hits"]);

    // The same rows, every block id unique: the server's cache finds no shared prefix beyond
    // what short common text gives by chance.
    let dir = tempfile::tempdir().unwrap();
    let unique = dir.path().join("unique.jsonl");
    let mut next = 1_000_000u64;
    let lines: Vec<String> = trace
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let ids = r["hash_ids"].as_array().unwrap().len();
            r["hash_ids"] = (next..next + ids as u64).collect::<Vec<_>>().into();
            next += ids as u64;
            r.to_string()
        })
        .collect();
    std::fs::write(&unique, lines.join("\n")).unwrap();
    let (_, _, control) = replay(unique.to_str().unwrap());
    let control_hits = n(&control["prefix_cache_hits"]);
    eprintln!(
        "prefix cache hits: {shared_hits} tokens of {} with the trace's blocks, {control_hits} of {} with every id unique",
        n(&stats["prefix_cache_queries"]),
        n(&control["prefix_cache_queries"])
    );
    assert!(
        shared_hits > 10 * control_hits.max(1) && shared_hits > 10_000,
        "shared blocks hit the cache: {shared_hits} tokens vs {control_hits} with unique blocks"
    );
}

#[test]
fn plan_summarises_a_trace_and_lists_its_first_rows_with_their_times() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/config/good/trace.toml"
    );
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["plan", "-c", config, "--sample", "5"]);
    assert!(
        text.starts_with("trace tests/fixtures/traces/mooncake.jsonl (mooncake): 40 rows over 22s 660ms (1.72 req/s; at speedup 2: 3.44 req/s, looped)"),
        "{text}"
    );
    assert!(
        text.contains("126 block refs of 512 tokens, 47 distinct, 62.7% reused"),
        "{text}"
    );
    assert!(
        text.contains("5 requests drawn (seed 0); token-exact prompts: 5/5"),
        "{text}"
    );
    // JSON lines: the first rows as sent, with the trace's lengths and times (sped up 2x).
    let jsonl = run(&["plan", "-c", config, "--sample", "3", "--format", "jsonl"]);
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = [(0.0, 917, 210), (0.75, 497, 45), (1.15, 685, 195)];
    assert_eq!(rows.len(), 3);
    for (r, (at, input, output)) in rows.iter().zip(want) {
        assert_eq!(r["at_s"].as_f64(), Some(at), "{r}");
        assert_eq!(
            (n(&r["input_tokens"]), n(&r["max_tokens"])),
            (input, output),
            "{r}"
        );
    }
}
