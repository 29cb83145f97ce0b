//! The commands that read saved reports: `report` (the summary again, or a self-contained HTML
//! page), `gate` (CI gates judged on a saved or merged report), `compare` (base vs new, with a
//! verdict and an overlay page) and `merge` (shards into one run, exactly).

use std::path::{Path, PathBuf};

use super::{exit, sayln};
use crate::compare::{Change, Rule};
use crate::config::gates::Gate;
use crate::report::RunReport;
use crate::view::View;

/// How `compare` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum CompareFormat {
    Text,
    Markdown,
    Json,
}

fn load(path: &Path) -> Result<RunReport, u8> {
    RunReport::load(path).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

/// Write `view` as a self-contained HTML page at `path`.
pub(super) fn write_html(view: &View, path: &Path) -> Result<(), u8> {
    let page = crate::view::report_page(view).map_err(|e| {
        eprintln!("error: cannot render the report: {e}");
        exit::SOFTWARE
    })?;
    crate::files::write_atomic(path, page.as_bytes()).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        exit::SOFTWARE
    })?;
    eprintln!("report page: {}", path.display());
    Ok(())
}

/// `llm-soak report RUN.json [--html FILE]`.
pub(super) fn report(path: &Path, html: Option<&Path>) -> Result<u8, u8> {
    let r = load(path)?;
    match html {
        Some(out) => write_html(&View::of(&r), out)?,
        None => sayln!("{}", r.render()),
    }
    Ok(exit::OK)
}

/// `llm-soak gate REPORT.json --gate ...`: exit 1 on a breach, 2 with too little data.
pub(super) fn gate(
    path: &Path,
    list: Vec<Gate>,
    min_samples: Option<u64>,
    baseline: Option<PathBuf>,
) -> Result<u8, u8> {
    let r = load(path)?;
    if list.is_empty() {
        eprintln!("error: no --gate to judge");
        return Err(exit::USAGE);
    }
    if let Some(why) = r.unfinished() {
        eprintln!(
            "error: {} is {why}: gates judge only a whole, finished run",
            path.display()
        );
        return Err(exit::USAGE);
    }
    let Some(summary) = &r.summary else {
        eprintln!("error: {} has no summary: nothing to judge", path.display());
        return Ok(exit::INSUFFICIENT_DATA);
    };
    let scopes: Vec<&str> = summary.scenarios.iter().map(|(n, _)| n.as_str()).collect();
    let has_slo =
        summary.all.slo.is_some() || summary.scenarios.iter().any(|(_, s)| s.slo.is_some());
    let context = format!(" in {}", path.display());
    super::gates::check_gate_scopes(&list, &scopes, summary.phases.len(), has_slo, &context)?;
    let gates = super::gates::build_gates(list, min_samples, baseline, "--baseline")?;
    let results = gates.judge(summary);
    let verdict = crate::report::worst(results.iter().map(|g| g.verdict));
    let judged = RunReport {
        gates: results,
        verdict,
        ..r
    };
    sayln!("{}", judged.render());
    Ok(super::exit_code(&judged, true))
}

/// `llm-soak compare BASE.json NEW.json`: exit 1 on a regression in any judged row, 2 when no
/// row (with `strict`: any row) had enough samples.
pub(super) fn compare(
    base: &Path,
    new: &Path,
    overrides: &[Rule],
    min_samples: u64,
    strict: bool,
    format: CompareFormat,
    html: Option<&Path>,
) -> Result<u8, u8> {
    let (b, n) = (load(base)?, load(new)?);
    if let Some(why) = b.unfinished() {
        eprintln!(
            "error: the base {} is {why}: compare against a whole, finished run",
            base.display()
        );
        return Err(exit::USAGE);
    }
    if let Some(why) = n.unfinished() {
        eprintln!(
            "warning: {} is {why}: its numbers cover only part of the run",
            new.display()
        );
    }
    let rules = crate::compare::rules_with(overrides);
    let (bn, nn) = (base.display().to_string(), new.display().to_string());
    let c = crate::compare::compare((&bn, &b), (&nn, &n), &rules, min_samples, strict);
    match format {
        CompareFormat::Text => sayln!("{}", c.render()),
        CompareFormat::Markdown => sayln!("{}", c.markdown()),
        CompareFormat::Json => match serde_json::to_string_pretty(&c) {
            Ok(j) => sayln!("{j}"),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(exit::SOFTWARE);
            }
        },
    }
    if let Some(out) = html {
        let mut view = View::of(&n);
        view.title = format!("llm-soak compare: {} → {}", bn, nn);
        view.base = Some(Box::new(View::of(&b)));
        view.comparison = Some(c.clone());
        write_html(&view, out)?;
    }
    Ok(match c.verdict {
        Change::Regression => exit::GATE_BREACHED,
        Change::Insufficient => exit::INSUFFICIENT_DATA,
        Change::WithinNoise | Change::Improved => exit::OK,
    })
}

/// `llm-soak merge SHARD.json... -o ALL.json`.
/// Wait up to `limit` for every shard's report to exist and be complete (a shard still running
/// has written only checkpoints, or nothing yet); exit 2 when one never is.
fn wait_complete(shards: &[PathBuf], limit: std::time::Duration) -> Result<(), u8> {
    let deadline = std::time::Instant::now() + limit;
    let mut last = String::new();
    loop {
        let pending: Vec<String> = shards
            .iter()
            .filter_map(|p| match RunReport::load(p) {
                Ok(r) if r.complete => None,
                Ok(_) => Some(format!("{} (a checkpoint: its run goes on)", p.display())),
                Err(_) => Some(format!("{} (not written yet)", p.display())),
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let now = pending.join(", ");
        if now != last {
            eprintln!("merge: waiting for {now}");
            last = now;
        }
        if std::time::Instant::now() >= deadline {
            eprintln!(
                "error: after {}, still waiting for {last}",
                humantime::format_duration(limit)
            );
            return Err(exit::INSUFFICIENT_DATA);
        }
        std::thread::sleep(std::time::Duration::from_secs(10).min(limit));
    }
}

pub(super) fn merge(
    shards: &[PathBuf],
    out: &Path,
    wait: Option<std::time::Duration>,
    allow_partial: bool,
) -> Result<u8, u8> {
    if let Some(limit) = wait {
        wait_complete(shards, limit)?;
    }
    let mut reports = Vec::new();
    for p in shards {
        reports.push((p.display().to_string(), load(p)?));
    }
    let mut merged = crate::report::merge::merge(&reports, allow_partial).map_err(|e| {
        eprintln!("error: cannot merge: {e}");
        match e {
            // Shards are missing: too little data, as when --wait gives up on one.
            crate::report::merge::MergeError::Partial { .. } => exit::INSUFFICIENT_DATA,
            _ => exit::USAGE,
        }
    })?;
    // The shards' phases, merged exactly: the last steady phase against the first again.
    merged.first_last = merged.summary.as_ref().and_then(crate::compare::first_last);
    merged.write(out).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", out.display());
        exit::SOFTWARE
    })?;
    sayln!("{}", merged.render());
    match merged.unfinished() {
        Some(why) => eprintln!(
            "merged {} shard reports into {}: {why} — gate and compare refuse it",
            shards.len(),
            out.display()
        ),
        None => eprintln!(
            "merged {} shard reports into {}",
            shards.len(),
            out.display()
        ),
    }
    Ok(exit::OK)
}
