//! Assembling a command's CI gates: the config's `[gates]` with `--gate`, their scopes checked
//! against the config or report, the minimum sample count and the baseline report relative
//! gates compare with — every mistake exit 64 before anything runs.

use std::path::PathBuf;

use super::exit;
use crate::config::Config;
use crate::gate::{Baseline, Gate, Gates};

/// The run's gates: the config's `[gates]` plus `--gate`, with the minimum sample count and the
/// baseline report (a flag overrides the file); exit 64 when a `--gate`'s scope is not in the
/// config, a relative gate has nothing to compare with or the baseline cannot be used.
pub(super) fn run_gates(
    c: &Config,
    extra: Vec<Gate>,
    min_samples: Option<u64>,
    baseline: Option<PathBuf>,
) -> Result<Gates, u8> {
    let scopes = c.scope_names();
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let has_slo = c.slos().iter().any(Option::is_some);
    check_gate_scopes(&extra, &scopes, c.load.phases.len(), has_slo, "")?;
    let list = c.gates.rules.iter().cloned().chain(extra).collect();
    let min = min_samples.or(c.gates.min_samples);
    let mut gates = build_gates(
        list,
        min,
        baseline.or_else(|| c.gates.baseline.clone()),
        "--baseline PREVIOUS_REPORT.json (or gates.baseline)",
    )?;
    gates.per_phase = c
        .gates
        .per_phase
        .iter()
        .cloned()
        .map(|mut g| {
            g.min_samples = min.unwrap_or(crate::config::gates::DEFAULT_MIN_SAMPLES);
            g
        })
        .collect();
    Ok(gates)
}

/// Exit 64 when one of `gates` scopes to a scenario not in `scopes`, a phase past `phases`, or
/// an SLO there is not; `context` ends the message (which report, say).
pub(super) fn check_gate_scopes(
    gates: &[Gate],
    scopes: &[&str],
    phases: usize,
    has_slo: bool,
    context: &str,
) -> Result<(), u8> {
    for g in gates {
        if let Some(why) = crate::config::gates::scope_problem(g, scopes, phases, has_slo) {
            eprintln!("error: --gate {why}{context}");
            return Err(exit::USAGE);
        }
    }
    Ok(())
}

/// `list` with its minimum sample count (default 30) and the baseline report relative gates
/// compare with (`give` says how to name one); exit 64 when a relative gate has none or the
/// baseline cannot be used.
pub(super) fn build_gates(
    list: Vec<Gate>,
    min_samples: Option<u64>,
    baseline: Option<PathBuf>,
    give: &str,
) -> Result<Gates, u8> {
    let min = min_samples.unwrap_or(crate::config::gates::DEFAULT_MIN_SAMPLES);
    let list = list
        .into_iter()
        .map(|mut g| {
            g.min_samples = min;
            g
        })
        .collect();
    let baseline = match baseline {
        None => None,
        Some(path) => Some(std::sync::Arc::new(Baseline::load(&path).map_err(|e| {
            eprintln!("error: {e}");
            exit::USAGE
        })?)),
    };
    let gates = Gates {
        list,
        baseline,
        per_phase: Vec::new(),
    };
    if let Some(g) = gates.missing_baseline() {
        eprintln!(
            "error: the gate {:?} compares with a baseline: give {give}",
            g.text
        );
        return Err(exit::USAGE);
    }
    Ok(gates)
}
