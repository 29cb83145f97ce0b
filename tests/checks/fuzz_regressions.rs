//! Every input kept in fuzz/regressions/ (crashes the fuzzers found, and interesting seeds) goes
//! through the same checks as the fuzz targets in fuzz/fuzz_targets/, in CI, without libFuzzer.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use llm_soak::client::sse::Framer;
use llm_soak::config::Config;
use llm_soak::gate::Gate;
use llm_soak::openai::StreamChunk;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no regression inputs in {}", dir.display());
    out
}

fn events(parts: &[&[u8]], limit: usize) -> Vec<Result<(Vec<u8>, bool), ()>> {
    let mut f = Framer::new(limit);
    let mut out = Vec::new();
    for p in parts {
        f.feed(p);
        while let Some(e) = f.next_event() {
            let failed = e.is_err();
            out.push(e.map(|e| (e.data.to_vec(), e.error)).map_err(|_| ()));
            if failed {
                return out;
            }
        }
    }
    f.finish();
    out
}

#[test]
fn sse_inputs_frame_the_same_however_they_are_split() {
    for (name, data) in inputs("sse") {
        let body = &data[1..];
        for split in 0..=body.len() {
            assert_eq!(
                events(&[body], 4096),
                events(&[&body[..split], &body[split..]], 4096),
                "{name} at {split}"
            );
        }
        for e in events(&[body], 4096).into_iter().flatten() {
            if let Ok(chunk) = serde_json::from_slice::<StreamChunk<'_>>(&e.0) {
                let _ = chunk.content(&mut String::new());
            }
        }
    }
}

#[test]
fn config_inputs_are_rejected_with_problems_or_round_trip() {
    let env = |k: &str| (k == "KEY").then(|| "v".to_string());
    for (name, data) in inputs("config") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        match Config::parse(text, &name, &env) {
            Ok(c) => {
                Config::parse(&c.to_toml(), "printed", &env)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            Err(e) => assert!(!e.problems().is_empty(), "{name}"),
        }
    }
}

#[test]
fn gate_inputs_parse_or_explain() {
    for (name, data) in inputs("gate") {
        if let Ok(text) = std::str::from_utf8(&data)
            && let Err(e) = text.parse::<Gate>()
        {
            assert!(!e.is_empty(), "{name}");
        }
    }
}
