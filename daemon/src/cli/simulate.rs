//! `llm-soak simulate` and `llm-soak demo`: the simulator's flags (over an optional
//! `[simulator]` file), running it on its own, and running it in-process beside the daemon with
//! the embedded demo config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::sayln;
use super::{DEMO_CONFIG, exit, parse_duration, run_daemon, signal_channel};
use crate::config::Config;
use crate::prepare::Prepared;
use crate::runner::{RunOptions, Signal};
use crate::simulator::faults::{FaultKind, FaultRule};
use crate::simulator::{self, SimConfig};

#[derive(Debug, clap::Args)]
pub(super) struct SimulateArgs {
    /// A TOML file with a [simulator] section (other sections are ignored); flags override it.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Listen address of the OpenAI API (and /stats).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Listen address of the vLLM-style /metrics (its own listener).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Model name served at /v1/models.
    #[arg(long)]
    model: Option<String>,
    /// Fixed part of the time to first token (simulator.prefill_base).
    #[arg(long, value_parser = parse_duration)]
    ttft: Option<Duration>,
    /// Prefill time per uncached input token, e.g. 100us; 0s for a constant TTFT.
    #[arg(long, value_parser = humantime::parse_duration)]
    prefill_per_token: Option<Duration>,
    /// Decode step with one running sequence (simulator.itl_base).
    #[arg(long, value_parser = parse_duration)]
    itl: Option<Duration>,
    /// Added to the decode step per additional running sequence; 0s for a constant ITL.
    #[arg(long, value_parser = humantime::parse_duration)]
    itl_per_seq: Option<Duration>,
    /// Sequences decoded at once; more wait in the queue.
    #[arg(long)]
    batch_capacity: Option<usize>,
    /// Output tokens when a request sets no max_tokens.
    #[arg(long)]
    default_max_tokens: Option<u32>,
    /// Fraction of requests answered with --error-status (an http_5xx or http_4xx fault).
    #[arg(long)]
    error_rate: Option<f64>,
    /// HTTP status of --error-rate faults (5xx, 429 or another 4xx).
    #[arg(long, default_value_t = 503)]
    error_status: u16,
    /// Fraction of streams that stall halfway for --stall-for.
    #[arg(long)]
    stall_rate: Option<f64>,
    /// How long a stalled stream sends nothing (simulator.stall_for, default 1h): past the
    /// client's idle_timeout it is a `stall`, before it a slow token.
    #[arg(long, value_parser = parse_duration)]
    stall_for: Option<Duration>,
    /// Fraction of streams closed halfway, before any finish_reason.
    #[arg(long)]
    truncate_rate: Option<f64>,
    /// Any fault by name and rate, e.g. --fault no_usage=0.1 (repeatable). Kinds: http_5xx,
    /// http_4xx, http_429, html_200, reset, stall, never_ends, truncate, malformed, oversized,
    /// no_usage, slow_headers, stream_error (docs/simulator.md says what each does).
    #[arg(long, value_name = "KIND=RATE")]
    fault: Vec<String>,
    /// Seed of the simulator's draws.
    #[arg(long)]
    seed: Option<u64>,
    /// A header every OpenAI request must carry, e.g. --require-header 'x-api-key: s3cret'
    /// (repeatable): without it, a 401.
    #[arg(long, value_name = "NAME: VALUE")]
    require_header: Vec<String>,
}

impl SimulateArgs {
    pub(super) fn sim_config(&self) -> Result<SimConfig, String> {
        let mut c = match &self.config {
            None => SimConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Config::parse_simulator(&text, &path.display().to_string())
                    .map_err(|e| e.to_string())?
            }
        };
        if let Some(m) = &self.model {
            c.model = m.clone();
        }
        let e = &mut c;
        e.prefill_base = self.ttft.unwrap_or(e.prefill_base);
        e.prefill_per_token = self.prefill_per_token.unwrap_or(e.prefill_per_token);
        e.itl_base = self.itl.unwrap_or(e.itl_base);
        e.itl_per_seq = self.itl_per_seq.unwrap_or(e.itl_per_seq);
        e.batch_capacity = self.batch_capacity.unwrap_or(e.batch_capacity).max(1);
        c.default_max_tokens = self
            .default_max_tokens
            .unwrap_or(c.default_max_tokens)
            .max(1);
        c.stall_for = self.stall_for.unwrap_or(c.stall_for);
        c.seed = self.seed.unwrap_or(c.seed);
        c.metrics_listen = self.metrics_listen.or(c.metrics_listen);
        for h in &self.require_header {
            let (name, value) = h
                .split_once(':')
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .ok_or_else(|| format!("--require-header {h:?}: expected 'NAME: VALUE'"))?;
            c.required_headers.push((name, value));
        }
        let mut rules: Vec<FaultRule> = Vec::new();
        if let Some(r) = self.error_rate {
            let kind = match self.error_status {
                500..=599 => FaultKind::Http5xx,
                429 => FaultKind::Http429,
                400..=499 => FaultKind::Http4xx,
                s => {
                    return Err(format!(
                        "--error-status must be a 4xx or 5xx status (got {s})"
                    ));
                }
            };
            let status = (kind != FaultKind::Http429).then_some(self.error_status);
            rules.push(FaultRule {
                status,
                ..FaultRule::always(kind, r)
            });
        }
        if let Some(r) = self.stall_rate {
            rules.push(FaultRule::always(FaultKind::Stall, r));
        }
        if let Some(r) = self.truncate_rate {
            rules.push(FaultRule::always(FaultKind::Truncate, r));
        }
        for f in &self.fault {
            let (k, r) = f
                .split_once('=')
                .ok_or_else(|| format!("--fault {f:?}: expected KIND=RATE"))?;
            let kind = FaultKind::parse(k)
                .ok_or_else(|| format!("--fault {f:?}: unknown fault kind {k:?}"))?;
            let rate = r
                .parse()
                .map_err(|_| format!("--fault {f:?}: {r:?} is not a number"))?;
            rules.push(FaultRule::always(kind, rate));
        }
        for rule in rules {
            if !(0.0..=1.0).contains(&rule.rate) {
                return Err(format!(
                    "the rate of {} must be within [0, 1] (got {})",
                    rule.kind.as_str(),
                    rule.rate
                ));
            }
            c.faults.push(rule);
        }
        if c.faults.iter().map(|r| r.rate).sum::<f64>() > 1.0 + 1e-9 {
            return Err("the fault rates must add up to at most 1".into());
        }
        Ok(c)
    }
}

pub(super) async fn run_simulator(sim: SimConfig, listen: SocketAddr) -> u8 {
    let running = match simulator::spawn(sim.clone(), listen).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot start the simulator on {listen}: {e}");
            return exit::SOFTWARE;
        }
    };
    let e = &sim;
    sayln!(
        "simulator: listening on http://{} (model {}, batch {}, prefill {:?} + {:?}/token, ITL {:?} + {:?}/running sequence, {} fault rule(s))",
        running.addr,
        sim.model,
        e.batch_capacity,
        e.prefill_base,
        e.prefill_per_token,
        e.itl_base,
        e.itl_per_seq,
        sim.faults.len()
    );
    if let Some(m) = running.metrics_addr {
        sayln!("simulator metrics: http://{m}/metrics");
    }
    sayln!("ground truth: http://{}/stats", running.addr);
    let mut signals = signal_channel();
    let mut running = running;
    tokio::select! {
        e = &mut running.failed => {
            if let Ok(e) = e {
                eprintln!("error: simulator: {e}");
            }
            exit::SOFTWARE
        }
        sig = async {
            // SIGHUP means nothing to the simulator: keep serving.
            loop {
                match signals.recv().await {
                    Some(Signal::Reload) => continue,
                    other => return other,
                }
            }
        } => match sig {
            Some(Signal::Interrupt) => exit::SIGINT,
            _ => exit::OK,
        },
    }
}

/// The simulator `demo` runs: the engine model with a small batch, so that batching, queueing
/// and the prefix cache (the RAG scenario's shared system prompt) all show.
fn demo_simulator() -> SimConfig {
    SimConfig {
        batch_capacity: 8,
        jitter: 0.05,
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..SimConfig::default()
    }
}

pub(super) async fn run_demo(
    listen: Option<SocketAddr>,
    duration: Option<Duration>,
    report: Option<std::path::PathBuf>,
    report_html: Option<std::path::PathBuf>,
) -> u8 {
    let sim = demo_simulator();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let running = match simulator::spawn(sim.clone(), loopback).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot start the built-in target: {e}");
            return exit::SOFTWARE;
        }
    };
    let addr = running.addr;
    let text = DEMO_CONFIG.replace("http://127.0.0.1:8000", &format!("http://{addr}"));
    let prepared = match Prepared::parse(&text, "embedded demo config", &|k| std::env::var(k).ok())
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::SOFTWARE;
        }
    };
    let mut banner = format!(
        "llm-soak demo: built-in target on http://{addr} (batch {}, prefill {:?} + {:?}/token, ITL {:?} + {:?}/running sequence); Ctrl-C stops",
        sim.batch_capacity, sim.prefill_base, sim.prefill_per_token, sim.itl_base, sim.itl_per_seq
    );
    if let Some(m) = running.metrics_addr {
        banner.push_str(&format!("\ntarget metrics (vLLM names, scraped by the run): http://{m}/metrics\ntarget ground truth: http://{addr}/stats"));
    }
    let options = RunOptions {
        listen,
        duration,
        report,
        report_html,
        ..RunOptions::default()
    };
    let code = run_daemon(prepared, options, Some(banner), None).await;
    drop(running);
    code
}
