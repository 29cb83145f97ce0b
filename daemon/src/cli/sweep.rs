//! `llm-soak sweep`: find the highest request rate at which the config's SLOs hold, print every
//! ladder level and step as it ends and the table at the end, write the JSON and HTML documents,
//! and (with `--min-capacity`) gate CI on the capacity found.

use std::path::PathBuf;

use super::{exit, load_config, runtime};
use crate::report::sweep::SweepReport;

#[derive(Debug, clap::Args)]
pub(super) struct SweepArgs {
    /// Configuration file (TOML): its targets, scenarios, [slo] and [sweep].
    #[arg(short, long)]
    config: PathBuf,
    /// Write the sweep document (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write a self-contained HTML page with the curves here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Serve /metrics, the status API and the live page here while the sweep runs (default:
    /// the config's server.listen).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Exit 1 when the capacity found is below this many requests/s (a CI gate); 2 when the
    /// steps were too short to decide (an undecided step above what passed).
    #[arg(long)]
    min_capacity: Option<f64>,
}

/// Run the sweep; the exit code.
pub(super) fn sweep(args: SweepArgs) -> Result<u8, u8> {
    let prepared = load_config(&args.config)?;
    for (flag, path) in [("--report", &args.report), ("--html", &args.html)] {
        if let Some(p) = path
            && let Err(e) = crate::files::check_writable(p)
        {
            eprintln!("error: {flag}: {e}");
            eprintln!("(exit {}: nothing was sent)", exit::USAGE);
            return Err(exit::USAGE);
        }
    }
    let rt = runtime()?;
    let report = rt
        .block_on(crate::sweep::run(
            prepared,
            args.listen,
            |addr| {
                eprintln!("metrics: http://{addr}/metrics");
                eprintln!("live:    http://{addr}/");
            },
            |line| eprintln!("{line}"),
        ))
        .map_err(|e| {
            eprintln!("error: {e}");
            match e {
                crate::sweep::SweepError::Client(_) | crate::sweep::SweepError::Run(_) => {
                    exit::SOFTWARE
                }
                _ => exit::USAGE,
            }
        })?;
    println!("{}", report.render());
    write(&report, args.report.as_ref(), args.html.as_ref())?;
    Ok(min_capacity_exit(args.min_capacity, &report.result))
}

/// `--min-capacity`'s verdict: a capacity below it is a breach — unless the search stopped on an
/// undecided step (too short to decide) before reaching it, which is too little data.
fn min_capacity_exit(min: Option<f64>, r: &crate::report::sweep::SweepResult) -> u8 {
    let Some(min) = min else { return exit::OK };
    let found = r
        .capacity
        .map_or("none".to_string(), |c| format!("{c:.2} req/s"));
    if r.capacity.is_some_and(|c| c >= min) {
        return exit::OK;
    }
    let proven_below = r.failed_at.is_some_and(|f| f <= min);
    if r.undecided_at.is_some() && !proven_below {
        eprintln!(
            "capacity {found}, undecided above it: too little data to judge --min-capacity {min} (raise sweep.max_step)"
        );
        return exit::INSUFFICIENT_DATA;
    }
    eprintln!("capacity {found} is below --min-capacity {min}");
    exit::GATE_BREACHED
}

fn write(r: &SweepReport, json: Option<&PathBuf>, html: Option<&PathBuf>) -> Result<(), u8> {
    if let Some(p) = json {
        r.write(p).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", p.display());
            exit::SOFTWARE
        })?;
    }
    if let Some(p) = html {
        crate::files::write_atomic(p, crate::view::sweep::page(r).as_bytes()).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", p.display());
            exit::SOFTWARE
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sweep::SweepResult;

    #[test]
    fn min_capacity_passes_breaches_or_says_too_little_data() {
        let r = |capacity, failed_at, undecided_at| SweepResult {
            capacity,
            failed_at,
            undecided_at,
            ..SweepResult::default()
        };
        assert_eq!(min_capacity_exit(None, &r(None, None, None)), exit::OK);
        assert_eq!(
            min_capacity_exit(Some(10.0), &r(Some(12.0), Some(13.0), None)),
            exit::OK
        );
        assert_eq!(
            min_capacity_exit(Some(10.0), &r(Some(8.0), Some(9.0), None)),
            exit::GATE_BREACHED
        );
        // Undecided above the capacity: the target may reach the minimum; nobody knows.
        assert_eq!(
            min_capacity_exit(Some(10.0), &r(None, None, Some(5.0))),
            exit::INSUFFICIENT_DATA
        );
        // …unless a decided failure at or below the minimum proves it short.
        assert_eq!(
            min_capacity_exit(Some(10.0), &r(Some(4.0), Some(6.0), Some(5.0))),
            exit::GATE_BREACHED
        );
    }
}
