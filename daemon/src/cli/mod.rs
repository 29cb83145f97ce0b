//! The command-line surface: clap definitions, logging set-up, the runtime, and the mapping of
//! every result to the exit codes of DESIGN §8. Usage errors exit 64 (clap's `try_parse`, not
//! its default 2).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compare::Rule;
use crate::config::ConfigError;
use crate::gate::Gate;
use crate::prepare::Prepared;
use crate::runner::{self, RunOptions};
use crate::schedule::Shard;
mod gates;
mod manual;
mod reports;
mod run;
mod simulate;
mod sweep;
use gates::run_gates;

pub use run::exit_code;
use run::{run_daemon, signal_channel};
use simulate::{SimulateArgs, run_demo, run_simulator};
use std::str::FromStr as _;

/// Exit codes (DESIGN §8).
pub mod exit {
    pub const OK: u8 = 0;
    pub const GATE_BREACHED: u8 = 1;
    pub const INSUFFICIENT_DATA: u8 = 2;
    /// A run sent requests and not one succeeded.
    pub const NO_SUCCESS: u8 = 3;
    pub const USAGE: u8 = 64;
    pub const SOFTWARE: u8 = 70;
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

/// The embedded configuration `demo` runs.
pub const DEMO_CONFIG: &str = include_str!("../../examples/demo.toml");

#[derive(Debug, Parser)]
#[command(
    name = "llm-soak",
    version,
    about = "Soak tests and synthetic canaries for OpenAI-compatible LLM APIs, with true token-latency metrics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlanFormat {
    Text,
    Jsonl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be > 0".into()),
        Err(e) => Err(format!("{e} (examples: 500ms, 30s, 5m, 2h)")),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the load daemon (until stopped, or for --duration with a summary).
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Listen address for /metrics and the status API (overrides server.listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Bounded run: stop after this long (or at the end of the phases) and print a summary.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// This replica's shard, I/N (0-based; e.g. "$JOB_COMPLETION_INDEX/4"): it sends arrival
        /// seq when seq % N == I, so N replicas together send exactly the configured schedule.
        #[arg(long, env = "LLMSOAK_SHARD", value_parser = Shard::parse, default_value = "0/1")]
        shard: Shard,
        /// The shared start instant of a sharded schedule (RFC 3339, e.g. 2026-11-28T09:00:00Z).
        #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
        start_at: Option<std::time::SystemTime>,
        /// Leave the first part of the run out of the summary, report and gates (0s: none).
        #[arg(long, value_parser = humantime::parse_duration)]
        warmup: Option<Duration>,
        /// Write the report as JSON here (checkpointed during long runs).
        #[arg(long)]
        report: Option<PathBuf>,
        /// A CI gate, e.g. 'ttft.p95 < 800ms', 'error_rate < 5%', 'tpot.mean{scenario="chat"} < 50ms'
        /// (repeatable): exit 1 when one is breached, 2 with too little data.
        #[arg(long = "gate", value_parser = Gate::from_str)]
        gates: Vec<Gate>,
        /// Fewest samples a gate needs to pass (overrides gates.min_samples; default 30).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        gate_min_samples: Option<u64>,
        /// An earlier run's --report JSON, for relative gates such as 'tpot.mean < 1.1 * baseline'
        /// (overrides gates.baseline).
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Wait up to this long for every target to answer /v1/models before starting (exit 2 if
        /// one never does).
        #[arg(long, value_parser = parse_duration)]
        wait_ready: Option<Duration>,
        /// Write a self-contained HTML report of the run here when it ends.
        #[arg(long)]
        report_html: Option<PathBuf>,
        /// Start a new run even if the state directory holds an unfinished one of this config
        /// (which is otherwise continued; see docs/operating.md).
        #[arg(long, env = "LLMSOAK_FRESH")]
        fresh: bool,
    },
    /// Print a saved report's summary, or render it as a self-contained HTML page.
    Report {
        /// A report written by --report (or merge).
        report: PathBuf,
        /// Write the HTML page here instead of printing the summary.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Judge CI gates on a saved (or merged) report: exit 1 on a breach, 2 with too little data.
    Gate {
        report: PathBuf,
        /// A gate, as for `run --gate` (repeatable).
        #[arg(long = "gate", value_parser = Gate::from_str, required = true)]
        gates: Vec<Gate>,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        gate_min_samples: Option<u64>,
        /// An earlier report, for relative gates.
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
    /// Compare two runs metric by metric with a noise-aware verdict: exit 1 on a regression, 2
    /// with too little data.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// How much worse a metric may get, e.g. 'tpot.p95 < +10%', 'ttft.p99 < +50ms',
        /// 'error_rate < +1%' (repeatable; defaults: +10% for latencies, +1 point for errors).
        #[arg(long = "max-regression", value_parser = Rule::from_str)]
        max_regression: Vec<Rule>,
        /// Fewest samples on each side for a verdict.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
        min_samples: u64,
        /// Every row must have enough samples: one that has not makes the verdict insufficient
        /// data (exit 2). By default the verdict is drawn from the rows that have, and the
        /// others are named as not judged.
        #[arg(long)]
        strict: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: reports::CompareFormat,
        /// Also write an HTML page with both runs' charts overlaid.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Merge the shard reports of one sharded run into one report, exactly.
    Merge {
        /// The shards' reports (--report of each `run --shard I/N`).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[arg(short, long)]
        output: PathBuf,
        /// Wait up to this long for every shard's report to exist and be complete (shards still
        /// running write checkpoints): a merge step that starts beside the shards (exit 2 if
        /// one never completes).
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
        /// Merge the shards given even when some of the run's are missing (exit 2 without it):
        /// the report is marked partial, and gate and compare refuse it.
        #[arg(long)]
        allow_partial: bool,
    },
    /// Validate a configuration file; every problem is listed with its path.
    CheckConfig {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Print the effective configuration (defaults filled in, secrets redacted).
    PrintConfig {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Draw requests exactly as `run` would (same seed, same requests) and describe them.
    Plan {
        #[arg(short, long)]
        config: PathBuf,
        /// How many requests to draw.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        sample: u64,
        /// A summary per scenario, or one JSON line per request.
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
    },
    /// Find the highest request rate at which the SLOs hold: a closed-loop ladder estimates the
    /// capacity, open-loop Poisson steps bracket it to [sweep] tolerance.
    Sweep(Box<sweep::SweepArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff) on stdout.
    Man,
    /// Run the built-in OpenAI-compatible target.
    Simulate(Box<SimulateArgs>),
    /// Run the built-in target and the daemon together with an embedded config.
    Demo {
        /// Listen address for /metrics and the status API.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Stop after this long and print a summary.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Write the JSON report here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write a self-contained HTML report here when the run ends.
        #[arg(long)]
        report_html: Option<PathBuf>,
    },
}

/// Colours in the text log only on a terminal, and never with `NO_COLOR` set to anything
/// (no-color.org): journald, files and pipes get plain text.
fn log_colours(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = log_colours(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Entry point of the binary.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    crate::tls::init_crypto();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(usage_exit_code(&e));
        }
    };
    init_logging(cli.log_format);
    ExitCode::from(dispatch(cli.command))
}

/// Validate a config file and read what it names; every problem is printed (exit 64).
fn load_config(path: &std::path::Path) -> Result<Prepared, u8> {
    config_error(Prepared::load(path))
}

/// [`load_config`] for the commands that send nothing: no API key or TLS file is read.
fn inspect_config(path: &std::path::Path) -> Result<Prepared, u8> {
    config_error(Prepared::load_to_inspect(path))
}

fn config_error(loaded: Result<Prepared, ConfigError>) -> Result<Prepared, u8> {
    loaded.map_err(|e| {
        eprintln!("error: {e}");
        if let ConfigError::Invalid { .. } = e {
            eprintln!("(exit {}: configuration error)", exit::USAGE);
        }
        exit::USAGE
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("llmsoak")
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::SOFTWARE
        })
}

/// Print to stdout, like `print!`, except that a closed pipe (`llm-soak plan … | head`, a
/// supervisor that stopped reading) is not a panic: the output is simply not wanted any more.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `say!` with a newline.
macro_rules! sayln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use sayln;

fn dispatch(command: Command) -> u8 {
    let result = match command {
        Command::CheckConfig { config } => load_config(&config).map(|p| {
            let c = &p.config;
            sayln!(
                "{}: OK ({} target{}, {} scenario{}, {} phase{})",
                config.display(),
                c.targets.len(),
                if c.targets.len() == 1 { "" } else { "s" },
                c.scenarios.len(),
                if c.scenarios.len() == 1 { "" } else { "s" },
                c.load.phases.len(),
                if c.load.phases.len() == 1 { "" } else { "s" },
            );
            for w in crate::config::advice::warnings(c) {
                eprintln!("warning: {w}");
            }
            exit::OK
        }),
        Command::PrintConfig { config } => inspect_config(&config).map(|p| {
            say!("{}", p.config.to_toml());
            exit::OK
        }),
        Command::Plan {
            config,
            sample,
            format,
        } => inspect_config(&config).and_then(|p| {
            if let Some(s) = p.config.scenarios.iter().find(|s| s.context_pending()) {
                eprintln!(
                    "error: scenario {:?} takes its prompt length from the server's context window, read when a run starts: set its target's context_window to plan it",
                    s.name
                );
                return Err(exit::USAGE);
            }
            let rows = crate::workload::plan::sample(&p.config, &p.assets, sample);
            match format {
                PlanFormat::Text => say!(
                    "{}",
                    crate::workload::plan::summary(&p.config, &p.assets, &rows)
                ),
                PlanFormat::Jsonl => {
                    use std::io::Write as _;
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    for r in &rows {
                        if writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default())
                            .is_err()
                        {
                            break;
                        }
                    }
                    let _ = out.flush();
                }
            }
            Ok(exit::OK)
        }),
        Command::Run {
            config,
            listen,
            duration,
            shard,
            start_at,
            warmup,
            report,
            gates,
            gate_min_samples,
            baseline,
            wait_ready,
            report_html,
            fresh,
        } => load_config(&config).and_then(|c| {
            let gates = run_gates(&c.config, gates, gate_min_samples, baseline)?;
            runtime().map(|rt| {
                rt.block_on(async {
                    if let Some(limit) = wait_ready
                        && let Err(e) = runner::wait_ready(&c, limit).await
                    {
                        eprintln!("error: {e}");
                        return exit::INSUFFICIENT_DATA;
                    }
                    let options = RunOptions {
                        listen,
                        duration,
                        shard,
                        start_at,
                        warmup,
                        report,
                        gates,
                        config_path: Some(config.clone()),
                        report_html,
                        state: None,
                    };
                    run_daemon(c, options, None, Some(fresh)).await
                })
            })
        }),
        Command::Sweep(args) => sweep::sweep(*args),
        Command::Completions { shell } => manual::completions(shell),
        Command::Man => manual::man(),
        Command::Simulate(args) => match args.sim_config() {
            Err(e) => {
                eprintln!("error: {e}");
                Err(exit::USAGE)
            }
            Ok(sim) => runtime().map(|rt| rt.block_on(run_simulator(sim, args.listen))),
        },
        Command::Demo {
            listen,
            duration,
            report,
            report_html,
        } => runtime().map(|rt| rt.block_on(run_demo(listen, duration, report, report_html))),
        Command::Report { report, html } => reports::report(&report, html.as_deref()),
        Command::Gate {
            report,
            gates,
            gate_min_samples,
            baseline,
        } => reports::gate(&report, gates, gate_min_samples, baseline),
        Command::Compare {
            base,
            new,
            max_regression,
            min_samples,
            strict,
            format,
            html,
        } => reports::compare(
            &base,
            &new,
            &max_regression,
            min_samples,
            strict,
            format,
            html.as_deref(),
        ),
        Command::Merge {
            shards,
            output,
            wait,
            allow_partial,
        } => reports::merge(&shards, &output, wait, allow_partial),
    };
    result.unwrap_or_else(|code| code)
}

/// The exit code of a command-line parse failure: usage errors 64, `--help`/`--version` 0.
pub fn usage_exit_code(e: &clap::Error) -> u8 {
    if e.use_stderr() {
        exit::USAGE
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid() {
        let c = Prepared::parse(DEMO_CONFIG, "demo", &|_| None).unwrap();
        assert_eq!(c.config.scenarios.len(), 3);
    }

    #[test]
    fn usage_errors_are_64_and_help_is_0() {
        // Through the real mapping `main` uses.
        let code = |args: &[&str]| {
            let e = Cli::try_parse_from(args.iter().map(OsString::from)).unwrap_err();
            usage_exit_code(&e)
        };
        assert_eq!(code(&["llm-soak", "frobnicate"]), exit::USAGE);
        assert_eq!(code(&["llm-soak", "run"]), exit::USAGE);
        assert_eq!(
            code(&["llm-soak", "run", "-c", "x", "--duration", "soon"]),
            exit::USAGE
        );
        assert_eq!(code(&["llm-soak", "--help"]), exit::OK);
        assert_eq!(code(&["llm-soak", "--version"]), exit::OK);
    }

    #[test]
    fn the_log_is_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(!log_colours(false, None), "journald, a file, a pipe");
        assert!(!log_colours(true, Some("1".into())), "NO_COLOR");
        assert!(
            log_colours(true, Some("".into())),
            "NO_COLOR empty: unset, per no-color.org"
        );
    }
}
