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
    /// Exit 1 when the capacity found is below this many requests/s (a CI gate).
    #[arg(long)]
    min_capacity: Option<f64>,
}

/// Run the sweep; the exit code.
pub(super) fn sweep(args: SweepArgs) -> Result<u8, u8> {
    let prepared = load_config(&args.config)?;
    let rt = runtime()?;
    let report = rt
        .block_on(crate::sweep::run(prepared, |line| eprintln!("{line}")))
        .map_err(|e| {
            eprintln!("error: {e}");
            match e {
                crate::sweep::SweepError::Client(_) => exit::SOFTWARE,
                _ => exit::USAGE,
            }
        })?;
    println!("{}", report.render());
    write(&report, args.report.as_ref(), args.html.as_ref())?;
    match (args.min_capacity, report.result.capacity) {
        (Some(min), cap) if cap.is_none_or(|c| c < min) => {
            eprintln!(
                "capacity {} is below --min-capacity {min}",
                cap.map_or("none".to_string(), |c| format!("{c:.2} req/s"))
            );
            Ok(exit::GATE_BREACHED)
        }
        _ => Ok(exit::OK),
    }
}

fn write(r: &SweepReport, json: Option<&PathBuf>, html: Option<&PathBuf>) -> Result<(), u8> {
    if let Some(p) = json {
        r.write(p).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", p.display());
            exit::SOFTWARE
        })?;
    }
    if let Some(p) = html {
        std::fs::write(p, crate::view::sweep::page(r)).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", p.display());
            exit::SOFTWARE
        })?;
    }
    Ok(())
}
