//! `llm-soak plan`: draw N requests exactly as the daemon would (same seed, same requests; the
//! per-run marker uses the fixed run id `plan`; a replayed trace's first N rows, after its summary) and describe them — per-scenario token statistics,
//! prefix sharing, distinct prompts, a text histogram — or list them as JSON lines. Every prompt
//! is re-tokenized to check it has exactly the reported length.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::trace::{Replay, TraceRow};
use super::{Assets, Workload};
use crate::config::Config;
use crate::openai::CompletionRequest;

/// One drawn request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanRow {
    pub seq: u64,
    pub scenario: String,
    pub input_tokens: u32,
    pub max_tokens: u32,
    pub prefix_id: Option<u32>,
    /// For a conversational scenario: the session (its first request's seq) and the turn
    /// (`plan` draws first turns: 0); `null` otherwise.
    pub session: Option<u64>,
    pub turn: Option<u32>,
    /// Turns the session will have; `null` outside conversational scenarios.
    pub turns: Option<u32>,
    pub prompt_sha256: String,
    /// A replayed trace's row: when it is sent, in seconds from the start (after `speedup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// The prompt's tokens counted again from the request body.
    #[serde(skip)]
    pub retokenized: u32,
}

/// Draw requests `0..n` on all cores (none without scenarios: a canary-only config draws
/// nothing; its fixed probe is described by [`summary`]).
pub fn sample(config: &Config, assets: &Assets, n: u64) -> Vec<PlanRow> {
    if config.scenarios.is_empty() {
        return Vec::new();
    }
    let workload = Arc::new(Workload::new(config, assets, "plan"));
    // A replayed trace: its first `n` rows, as the run reads them.
    let traced: Option<Vec<(u64, std::time::Duration, TraceRow)>> =
        match (&config.load.trace, &assets.trace) {
            (Some(spec), Some(summary)) => Some(
                Replay::new(spec, summary.period(), 0)
                    .take(usize::try_from(n).unwrap_or(usize::MAX))
                    .map_while(Result::ok)
                    .collect(),
            ),
            _ => None,
        };
    let n = traced.as_ref().map_or(n, |t| t.len() as u64);
    let traced = traced.as_deref();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let chunk = n.div_ceil(threads).max(1);
    let mut rows: Vec<PlanRow> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let workload = Arc::clone(&workload);
                scope.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(n))
                        .map(|seq| {
                            let drawn = traced
                                .and_then(|t| t.get(seq as usize))
                                .map(|(s, at, r)| (workload.traced(*s, r), Some(at.as_secs_f64())));
                            let (p, at) = drawn.unwrap_or_else(|| (workload.prompt(seq), None));
                            row(config, assets, p, at)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // A drawing thread's panic is a bug: it goes on up, never an empty plan.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    rows.sort_by_key(|r| r.seq);
    rows
}

fn row(config: &Config, assets: &Assets, p: crate::record::Prompt, at: Option<f64>) -> PlanRow {
    let seq = p.seq;
    let sc = &config.scenarios[p.scenario];
    let tok = assets.tokenizer_for(config, p.scenario);
    let embedding = (sc.endpoint == crate::openai::Endpoint::Embeddings)
        .then(|| serde_json::from_slice::<crate::openai::EmbeddingRequest<'_>>(&p.body).ok())
        .flatten()
        .map(|req| (req.input.to_string(), tok.count(&req.input)));
    let (content, retokenized) = if let Some(e) = embedding {
        e
    } else {
        match serde_json::from_slice::<CompletionRequest<'_>>(&p.body) {
            Ok(req) => match (&req.messages, &req.prompt) {
                (Some(msgs), _) => {
                    let text: Vec<&str> = msgs.iter().map(|m| m.content.as_ref()).collect();
                    let count: usize = msgs.iter().map(|m| tok.count(&m.content)).sum();
                    (text.join("\n"), count)
                }
                (None, Some(prompt)) => {
                    // Completions carry the system prompt and the content in one string.
                    let user = sc.system_prompt.as_deref().map_or(prompt.as_ref(), |s| {
                        prompt
                            .strip_prefix(s)
                            .and_then(|r| r.strip_prefix("\n\n"))
                            .unwrap_or(prompt)
                    });
                    let system = sc.system_prompt.as_deref().map_or(0, |s| tok.count(s));
                    (prompt.to_string(), tok.count(user) + system)
                }
                (None, None) => (String::new(), 0),
            },
            Err(_) => (String::new(), 0),
        }
    };
    let digest = Sha256::digest(content.as_bytes());
    let prompt_sha256 = digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    PlanRow {
        seq,
        scenario: sc.name.clone(),
        input_tokens: p.input_tokens,
        max_tokens: p.max_tokens,
        prefix_id: p.prefix_id,
        session: p.session_turns.map(|_| seq),
        turn: p.session_turns.map(|_| 0),
        turns: p.session_turns,
        prompt_sha256,
        at_s: at,
        retokenized: retokenized as u32,
    }
}

/// Moments and order statistics of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub stddev: f64,
    pub min: u32,
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
}

pub fn stats(values: &[u32]) -> Stats {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    Stats {
        mean,
        stddev: var.sqrt(),
        min: at(0.0),
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    }
}

fn histogram(values: &[u32], out: &mut String) {
    let s = stats(values);
    let bins = 10usize;
    let width = (f64::from(s.max - s.min) / bins as f64).max(1.0);
    let mut counts = vec![0usize; bins];
    for &v in values {
        let i = ((f64::from(v - s.min) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    for (i, c) in counts.iter().enumerate() {
        let lo = f64::from(s.min) + width * i as f64;
        let _ = writeln!(
            out,
            "    {:>7.0}-{:<7.0} {:>7} {}",
            lo,
            lo + width,
            c,
            "#".repeat(c * 40 / top)
        );
    }
}

/// The canary's fixed probe and its schedule, in words (empty without a `[canary]`).
fn canary(config: &Config, assets: &Assets) -> String {
    let Some(c) = &config.canary else {
        return String::new();
    };
    let target = &config.targets[c.target.index];
    let per_day = 86_400.0 / c.interval.as_secs_f64();
    let tokens = assets
        .tokenizer_for(config, config.canary_scope().unwrap_or_default())
        .count(&c.prompt);
    let mut out = format!(
        "canary: one probe every {} ({per_day:.0} a day) to target {} ({} {}, model {}), outside load.max_in_flight{}
",
        crate::config::human(c.interval),
        target.name,
        c.endpoint.as_str(),
        target.url(c.endpoint, &target.model),
        target.model,
        if c.all_shards { ", from every shard" } else { ", from shard 0 only" },
    );
    let _ = writeln!(
        out,
        "  prompt {:?} ({tokens} input tokens), max_tokens {}, temperature 0, seed 0",
        c.prompt, c.max_tokens
    );
    let _ = writeln!(
        out,
        "  each probe fails on: status, timeout (no first or next token within {}), stream, usage, output tokens outside [{}, {}]{}",
        crate::config::human(c.timeout()),
        c.min_output_tokens,
        c.max_output_tokens(),
        c.expect
            .as_ref()
            .map_or(String::new(), |e| format!(", an answer not matching {e:?}")),
    );
    out
}

/// The human summary of `rows`, and of the canary's probe when there is one.
pub fn summary(config: &Config, assets: &Assets, rows: &[PlanRow]) -> String {
    if config.scenarios.is_empty() {
        return format!(
            "no [[scenario]]: a canary-only config
{}",
            canary(config, assets)
        );
    }
    let mut by: BTreeMap<&str, Vec<&PlanRow>> = BTreeMap::new();
    for r in rows {
        by.entry(r.scenario.as_str()).or_default().push(r);
    }
    let exact = rows
        .iter()
        .filter(|r| r.retokenized == r.input_tokens)
        .count();
    let mut out = match (&config.load.trace, &assets.trace) {
        (Some(spec), Some(t)) => format!("{}\n", t.describe(spec)),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "{} requests drawn (seed {}); token-exact prompts: {exact}/{}",
        rows.len(),
        config.seed,
        rows.len()
    );
    for sc in &config.scenarios {
        let Some(rs) = by.get(sc.name.as_str()) else {
            let _ = writeln!(out, "\nscenario {}: no requests drawn", sc.name);
            continue;
        };
        let input: Vec<u32> = rs.iter().map(|r| r.input_tokens).collect();
        let output: Vec<u32> = rs.iter().map(|r| r.max_tokens).collect();
        let distinct: HashSet<&str> = rs.iter().map(|r| r.prompt_sha256.as_str()).collect();
        let shared = rs.iter().filter(|r| r.prefix_id.is_some()).count();
        // A trace's prefix sharing is its blocks' (the summary above), not the scenario's pool.
        let sharing = if config.load.trace.is_some() {
            "prefixes as the trace's blocks".to_string()
        } else {
            format!(
                "with a shared prefix {:.1} %",
                100.0 * shared as f64 / rs.len() as f64
            )
        };
        let _ = writeln!(
            out,
            "\nscenario {} ({} requests, {:.1} %): distinct prompts {}, {sharing}{}",
            sc.name,
            rs.len(),
            100.0 * rs.len() as f64 / rows.len().max(1) as f64,
            distinct.len(),
            if sc.uniform {
                " (uniform = true: ONE fixed prompt)"
            } else {
                ""
            },
        );
        let _ = writeln!(
            out,
            "  {:<14} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7}",
            "tokens", "mean", "stddev", "min", "p50", "p99", "max"
        );
        for (name, v) in [("input", &input), ("max_tokens", &output)] {
            let s = stats(v);
            let _ = writeln!(
                out,
                "  {:<14} {:>9.1} {:>9.1} {:>7} {:>7} {:>7} {:>7}",
                name, s.mean, s.stddev, s.min, s.p50, s.p99, s.max
            );
        }
        let _ = writeln!(out, "  input tokens histogram:");
        histogram(&input, &mut out);
    }
    let probe = canary(config, assets);
    if !probe.is_empty() {
        let _ = write!(out, "\n{probe}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "seed = 3\n[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n{extra}\n\
             [load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1m\"\n\
             [[scenario]]\nname = \"n\"\ninput_tokens = {{ normal = {{ mean = 500, stddev = 150 }}, min = 50, max = 2000 }}\noutput_tokens = 64\n"
        );
        Config::parse(&text, "t", &|_| None).unwrap()
    }

    /// DESIGN: 10 000 draws of normal{500, 150} clipped to [50, 2000]: mean within 2 %, stddev
    /// within 5 %, every prompt exactly its reported length, all distinct.
    #[test]
    fn ten_thousand_draws_match_the_distribution_exactly_and_are_distinct() {
        let c = config("");
        let rows = sample(&c, &Assets::load(&c).unwrap(), 10_000);
        let input: Vec<u32> = rows.iter().map(|r| r.input_tokens).collect();
        let s = stats(&input);
        assert!((s.mean - 500.0).abs() < 500.0 * 0.02, "mean {}", s.mean);
        assert!(
            (s.stddev - 150.0).abs() < 150.0 * 0.05,
            "stddev {}",
            s.stddev
        );
        assert!(s.min >= 50 && s.max <= 2000);
        let inexact: Vec<_> = rows
            .iter()
            .filter(|r| r.retokenized != r.input_tokens)
            .map(|r| r.seq)
            .collect();
        assert!(
            inexact.is_empty(),
            "{} prompts are not token-exact: {:?}",
            inexact.len(),
            &inexact[..inexact.len().min(10)]
        );
        let distinct: HashSet<&str> = rows.iter().map(|r| r.prompt_sha256.as_str()).collect();
        assert_eq!(distinct.len(), 10_000);
        assert!(
            summary(&c, &Assets::load(&c).unwrap(), &rows)
                .contains("token-exact prompts: 10000/10000")
        );
    }

    #[test]
    fn a_hugging_face_tokenizer_json_measures_the_prompts() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokenizer/bpe-2k.json"
        );
        let c = config(&format!("tokenizer = {{ file = \"{path}\" }}"));
        let rows = sample(&c, &Assets::load(&c).unwrap(), 300);
        assert!(rows.iter().all(|r| r.retokenized == r.input_tokens));
        // A different tokenizer cuts a different amount of text for the same token counts.
        let plain = config("");
        let o200k = sample(&plain, &Assets::load(&plain).unwrap(), 300);
        assert_ne!(rows[0].prompt_sha256, o200k[0].prompt_sha256);
    }

    #[test]
    fn a_canary_only_config_is_described_not_drawn() {
        // docs/canary.md's shape: a target and a [canary], nothing else.
        let text = "[[target]]\nname = \"prod\"\nbase_url = \"http://127.0.0.1:1\"\nmodel = \"m\"\n\
                    [canary]\ninterval = \"30s\"\nexpect = \"(?i)pong\"\n";
        let c = Config::parse(text, "t", &|_| None).unwrap();
        let assets = Assets::load(&c).unwrap();
        let rows = sample(&c, &assets, 1000);
        assert!(rows.is_empty());
        let s = summary(&c, &assets, &rows);
        assert!(
            s.starts_with("no [[scenario]]: a canary-only config"),
            "{s}"
        );
        assert!(s.contains("one probe every 30s (2880 a day) to target prod (chat http://127.0.0.1:1/v1/chat/completions"), "{s}");
        assert!(
            s.contains("from shard 0 only") && s.contains("an answer not matching \"(?i)pong\""),
            "{s}"
        );
        assert!(
            s.contains("timeout (no first or next token within 30s)"),
            "{s}"
        );
        // A soak with a canary describes both.
        let both = config("").to_toml() + "\n[canary]\ninterval = \"1m\"\n";
        let c = Config::parse(&both, "t", &|_| None).unwrap();
        let assets = Assets::load(&c).unwrap();
        let s = summary(&c, &assets, &sample(&c, &assets, 50));
        assert!(
            s.contains("scenario n (50 requests")
                && s.contains("canary: one probe every 1m (1440 a day)"),
            "{s}"
        );
    }

    #[test]
    fn order_statistics() {
        let s = stats(&[1, 2, 3, 4, 100]);
        assert_eq!((s.min, s.p50, s.max), (1, 3, 100));
        assert!((s.mean - 22.0).abs() < 1e-9);
    }
}
