//! What the server can do, read before a run sends anything: a `context_fill` scenario's prompt
//! length from the model's context window (`/v1/models`' `max_model_len`). A scenario the server
//! cannot serve (no window reported, or one too short) refuses the run — unless it is drawn only
//! by phases of its own: those phases are then SKIPped, with the reason, and send nothing (the
//! soak profile's long-context phase against a server that does not say its window).

use std::collections::BTreeMap;

use crate::client::Client;
use crate::config::PhaseKind;
use crate::prepare::Prepared;

/// Give each `context_fill` scenario whose target has no `context_window` its prompt length from
/// the server's reported window. `Err` names the scenario and why it cannot be sent, when it is
/// part of a mix; a scenario only its own phases draw leaves those phases skipped
/// (`load.phase_skips`, their rate 0).
pub(crate) async fn fill_context(prepared: &mut Prepared) -> Result<(), String> {
    let pending: Vec<usize> = (0..prepared.config.scenarios.len())
        .filter(|&i| prepared.config.scenarios[i].context_pending())
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let client = Client::new(
        &prepared.config,
        &prepared.assets.tokenizers,
        &prepared.credentials,
    )
    .map_err(|e| e.to_string())?;
    let mut cannot: BTreeMap<usize, String> = BTreeMap::new();
    for i in pending {
        let s = &prepared.config.scenarios[i];
        let filled = match client.context_window(s.target.index).await {
            Ok(window) => prepared.config.scenarios[i]
                .fill_context(window)
                .map(|()| window),
            Err(e) => Err(format!(
                "context_fill needs the model's context window: {e} (set target.context_window)"
            )),
        };
        let name = prepared.config.scenarios[i].name.clone();
        match filled {
            Ok(window) => {
                tracing::info!(scenario = %name, window, "context_fill: the server's context window");
            }
            Err(why) => {
                cannot.insert(i, format!("scenario {name:?}: {why}"));
            }
        }
    }
    skip_phases(prepared, &cannot)
}

/// The phases that draw only from scenarios the server cannot serve are skipped; such a scenario
/// anywhere else (the mix of every phase that names none, beside others in a phase) is `Err`.
fn skip_phases(prepared: &mut Prepared, cannot: &BTreeMap<usize, String>) -> Result<(), String> {
    if cannot.is_empty() {
        return Ok(());
    }
    let load = &mut prepared.config.load;
    for &i in cannot.keys() {
        // A phase that names no scenarios draws from all of them.
        let in_mix = load.phase_scenarios.iter().any(|picked| picked.is_empty());
        let beside_others = load
            .phase_scenarios
            .iter()
            .any(|p| p.contains(&i) && p.iter().any(|j| !cannot.contains_key(j)));
        let drawn = load.phase_scenarios.iter().any(|p| p.contains(&i));
        if in_mix || beside_others || !drawn {
            return Err(cannot[&i].clone());
        }
    }
    load.phase_skips = load
        .phase_scenarios
        .iter()
        .map(|picked| {
            (!picked.is_empty() && picked.iter().all(|j| cannot.contains_key(j))).then(|| {
                picked
                    .iter()
                    .filter_map(|j| cannot.get(j))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .collect();
    for (phase, skip) in load.phases.iter_mut().zip(&load.phase_skips) {
        if let Some(why) = skip {
            tracing::warn!("a phase is skipped, its arrivals not sent: {why}");
            phase.kind = PhaseKind::Steady { rate: 0.0 };
        }
    }
    Ok(())
}

/// The phase verdicts with each skipped phase's: SKIP, for the reason the server gave.
pub(super) fn mark_skipped(
    verdicts: &mut [crate::report::phases::PhaseVerdict],
    skips: &[Option<String>],
) {
    for v in verdicts {
        if let Some(Some(why)) = skips.get(v.index) {
            v.verdict = crate::report::Verdict::Insufficient;
            v.reasons = vec![format!("skipped: {why}")];
        }
    }
}
