//! The server's side of a run in its report (schema 4): for each scraped target, what its
//! engine said over the run and over each load phase, beside the client's own numbers for the
//! same requests — TTFT and e2e and their gap (the network, the server's HTTP layer and the
//! client's reading, bounded by the trust probe's certified lag) — and the token cross-check.

use serde::{Deserialize, Serialize};

use crate::engine::window::Summary;

/// One scraped target's engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerBlock {
    /// The target's name.
    pub target: String,
    /// What was scraped.
    pub url: String,
    /// The mapping table used (`vllm`, `sglang`, `llama.cpp`, `tgi`) and the engine releases
    /// its names were read from; `None`: no scrape said which engine it is.
    pub engine: Option<String>,
    pub release: Option<String>,
    pub scrapes: u64,
    pub failed_scrapes: u64,
    /// The last failure, `class: detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Over the whole run (the first scrape to the last, after the drain).
    pub run: Summary,
    /// Over each load phase (the windows whose scrape fell in it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseServer>,
    /// The client's side of the same run, for the gap.
    pub client: ClientSide,
    pub tokens: TokenCheck,
    /// Vocabulary words the engine's table names but its exposition lacked (an older or newer
    /// release, a feature turned off): said, never an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The engine's series no table maps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<String>,
}

/// The server's side over one load phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseServer {
    pub index: u32,
    pub summary: Summary,
}

/// The client's means over the same requests, and the gap (client − server) in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSide {
    pub ttft_mean: Option<f64>,
    pub e2e_mean: Option<f64>,
    pub ttft_gap: Option<f64>,
    pub e2e_gap: Option<f64>,
}

/// Output tokens the client counted (every request, any outcome) against the server's
/// generation-token count over the same span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenCheck {
    pub client: u64,
    /// Requests the client finished against this server (any outcome).
    pub client_requests: u64,
    pub server: Option<f64>,
    /// `server − client`.
    pub difference: Option<f64>,
    /// The engine finished more requests than llm-soak sent it: another client shares the
    /// server, and neither count can be expected to match.
    pub shared: bool,
    /// What the difference means.
    pub note: String,
}

impl TokenCheck {
    /// `client` tokens over `client_requests` requests; the engine's `server` tokens and
    /// `server_requests` requests.
    pub fn new(
        client: u64,
        client_requests: u64,
        server: Option<f64>,
        server_requests: Option<f64>,
    ) -> TokenCheck {
        let shared = server_requests.is_some_and(|n| n > client_requests as f64 + 0.5);
        let difference = server.map(|s| s - client as f64);
        let note = match (difference, shared) {
            (None, _) => "the engine exports no generation-token count".to_string(),
            (Some(_), true) => {
                "the engine finished more requests than llm-soak sent: another client shares it, so the counts differ by its tokens".to_string()
            }
            (Some(d), false) if d.abs() < 0.5 => "exact: every token the engine generated reached llm-soak".to_string(),
            (Some(d), false) if d > 0.0 => format!(
                "the engine generated {d:.0} tokens llm-soak never received (requests cut off mid-stream, or a scrape that missed the end)"
            ),
            (Some(d), false) => format!(
                "llm-soak counted {:.0} tokens more than the engine reports generating (its count lags, or it was restarted between scrapes)",
                -d
            ),
        };
        TokenCheck {
            client,
            client_requests,
            server,
            difference,
            shared,
            note,
        }
    }
}

/// The server blocks of shard reports merged: one per server (by its URL) — the block that saw
/// the most of it (the most generated tokens, then the most scrapes: every shard scrapes before
/// the shared start and after its own drain, so the last to finish saw every shard's requests),
/// so its counters count once — with the client's side summed over every shard that sent it
/// requests, and the token cross-check redone on the sums.
pub fn merged<'r>(reports: impl Iterator<Item = &'r super::RunReport>) -> Vec<ServerBlock> {
    let mut by_url: std::collections::BTreeMap<String, (ServerBlock, u64, u64)> =
        std::collections::BTreeMap::new();
    for b in reports.flat_map(|r| &r.server) {
        let (kept, tokens, requests) = by_url
            .entry(b.url.clone())
            .or_insert_with(|| (b.clone(), 0, 0));
        *tokens += b.tokens.client;
        *requests += b.tokens.client_requests;
        let seen = |x: &ServerBlock| (x.run.generation_tokens.unwrap_or(0.0), x.scrapes);
        if seen(b) > seen(kept) {
            *kept = b.clone();
        }
    }
    by_url
        .into_values()
        .map(|(mut b, tokens, requests)| {
            b.tokens = TokenCheck::new(tokens, requests, b.run.generation_tokens, b.run.requests);
            // The gap is each shard's own: a merged mean would mix clients.
            b.client = ClientSide::default();
            b
        })
        .collect()
}

/// The terminal lines of one server block.
pub fn render(b: &ServerBlock) -> String {
    use std::fmt::Write as _;

    use crate::engine::Hist;
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1} ms", v * 1e3));
    let signed = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:+.1} ms", v * 1e3));
    let engine = match (&b.engine, &b.release) {
        (Some(e), Some(r)) => format!("{e} {r}"),
        _ => "engine unknown".into(),
    };
    let mut out = format!(
        "server ({}: {engine}, {}; {} scrapes, {} failed)\n",
        b.target, b.url, b.scrapes, b.failed_scrapes
    );
    if let Some(e) = &b.last_error {
        let _ = writeln!(out, "  last scrape error: {e}");
    }
    let run = &b.run;
    let bucket = |a: Option<crate::engine::window::Approx>| {
        a.map_or("-".into(), |a| {
            format!(
                "{} in ({}, {}]",
                ms(Some(a.value)),
                ms(Some(a.lower)),
                ms(Some(a.upper))
            )
        })
    };
    for h in Hist::ALL {
        if let Some(d) = run.latency.get(&h) {
            let _ = writeln!(
                out,
                "  {:<9} n {:<7} mean {:<10} p50 {}  p99 {}",
                h.as_str(),
                d.count,
                ms(d.mean),
                bucket(d.p50),
                bucket(d.p99)
            );
        }
    }
    if !run.latency.is_empty() {
        out.push_str(
            "  (server-timed quantiles are approximate: interpolated within the bucket shown)\n",
        );
    }
    if b.client.ttft_gap.is_some() || b.client.e2e_gap.is_some() {
        let _ = writeln!(
            out,
            "  client − server (means): TTFT {}, e2e {}",
            signed(b.client.ttft_gap),
            signed(b.client.e2e_gap)
        );
    }
    if let (Some(p), Some(d)) = (run.prefill_seconds_per_token, run.decode_seconds_per_token) {
        let _ = writeln!(
            out,
            "  per token (derived from time counters: means only): prefill {}, decode {}",
            ms(Some(p)),
            ms(Some(d))
        );
    }
    let level = |name: &str, r: Option<crate::engine::window::Reading>, pct: bool| {
        r.map(|r| match pct {
            true => format!(
                "{name} mean {:.1} % max {:.1} %",
                r.mean * 100.0,
                r.max * 100.0
            ),
            false => format!("{name} mean {:.1} max {:.0}", r.mean, r.max),
        })
    };
    let mut load: Vec<String> = [
        level("running", run.running, false),
        level("waiting", run.waiting, false),
        level("KV usage", run.kv_usage, true),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(p) = run.preemptions {
        load.push(format!("preemptions {p:.0}"));
    }
    if let Some(h) = run.prefix_hit_rate {
        load.push(format!("prefix-cache hit rate {:.1} %", h * 100.0));
    }
    if run.resets > 0 {
        load.push(format!(
            "{} counter reset(s): the engine restarted",
            run.resets
        ));
    }
    if !load.is_empty() {
        let _ = writeln!(out, "  {}", load.join("; "));
    }
    let _ = writeln!(
        out,
        "  tokens: llm-soak received {}, the engine generated {}: {}",
        b.tokens.client,
        b.tokens.server.map_or("-".into(), |s| format!("{s:.0}")),
        b.tokens.note
    );
    for p in &b.phases {
        let s = &p.summary;
        let mut parts = Vec::new();
        if let Some(d) = s
            .latency
            .get(&Hist::Ttft)
            .or_else(|| s.latency.get(&Hist::E2e))
        {
            parts.push(format!("mean latency {}", ms(d.mean)));
        }
        parts.extend(level("waiting", s.waiting, false));
        parts.extend(level("KV", s.kv_usage, true));
        if let Some(p) = s.preemptions {
            parts.push(format!("preemptions {p:.0}"));
        }
        let _ = writeln!(out, "  phase {}: {}", p.index, parts.join("; "));
    }
    if !b.missing.is_empty() {
        let _ = writeln!(
            out,
            "  not exported by this engine: {}",
            b.missing.join(", ")
        );
    }
    if !b.unmapped.is_empty() {
        let _ = writeln!(
            out,
            "  {} of its series are not in the mapping table",
            b.unmapped.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(url: &str, scrapes: u64, server_tokens: f64, client: u64) -> ServerBlock {
        let run = Summary {
            generation_tokens: Some(server_tokens),
            requests: Some(10.0),
            ..Summary::default()
        };
        ServerBlock {
            target: "t".into(),
            url: url.into(),
            engine: Some("vllm".into()),
            release: None,
            scrapes,
            failed_scrapes: 0,
            last_error: None,
            tokens: TokenCheck::new(client, 5, run.generation_tokens, run.requests),
            run,
            phases: Vec::new(),
            client: ClientSide {
                ttft_mean: Some(0.1),
                ..ClientSide::default()
            },
            missing: Vec::new(),
            unmapped: Vec::new(),
        }
    }

    fn report(blocks: Vec<ServerBlock>) -> crate::report::RunReport {
        let mut r = crate::report::testing::report_of(crate::report::Summary::default());
        r.server = blocks;
        r
    }

    #[test]
    fn shards_sharing_a_server_count_its_counters_once_and_their_tokens_together() {
        // Two shards against one engine (each saw half the traffic), one against another.
        let a = report(vec![block("http://e1/metrics", 7, 1000.0, 480)]);
        let b = report(vec![
            block("http://e1/metrics", 8, 1000.0, 520),
            block("http://e2/metrics", 8, 300.0, 300),
        ]);
        let m = merged([&a, &b].into_iter());
        assert_eq!(m.len(), 2);
        let e1 = &m[0];
        // Not 2000: the longest scrape stream, once.
        assert_eq!(e1.tokens.server, Some(1000.0));
        assert_eq!(e1.scrapes, 8);
        assert_eq!((e1.tokens.client, e1.tokens.client_requests), (1000, 10));
        assert_eq!(e1.tokens.difference, Some(0.0));
        assert!(!e1.tokens.shared, "{:?}", e1.tokens);
        // Each shard's own gap only: a merged client mean would mix clients.
        assert_eq!(e1.client, ClientSide::default());
        assert_eq!(m[1].tokens.difference, Some(0.0));
    }

    #[test]
    fn the_token_check_says_what_a_difference_means() {
        assert!(
            TokenCheck::new(10, 1, Some(10.0), Some(1.0))
                .note
                .starts_with("exact")
        );
        let shared = TokenCheck::new(10, 1, Some(50.0), Some(4.0));
        assert!(
            shared.shared,
            "more requests finished than were sent: another client"
        );
        let cut = TokenCheck::new(10, 2, Some(14.0), Some(2.0));
        assert_eq!(cut.difference, Some(4.0));
        assert!(cut.note.contains("never received"), "{}", cut.note);
        assert!(
            TokenCheck::new(10, 1, None, None)
                .note
                .contains("no generation-token")
        );
    }
}
