//! `[gates]`: CI gates kept with the config instead of (or as well as) `--gate` flags — the same
//! expressions, their minimum sample count and the earlier report relative gates compare with.
//! Command-line gates are added to these; `--gate-min-samples` and `--baseline` override.

use std::path::PathBuf;

use serde::{Serialize, Serializer};

use super::walk::{Val, Walk};
use crate::gate::Gate;

const KEYS: &[&str] = &["rules", "min_samples", "baseline"];

/// A validated `[gates]` (empty when the section is absent).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatesConfig {
    #[serde(serialize_with = "ser_rules")]
    pub rules: Vec<Gate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u64>,
    /// An earlier `--report` JSON for relative thresholds (`1.1 * baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PathBuf>,
}

impl GatesConfig {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.min_samples.is_none() && self.baseline.is_none()
    }
}

fn ser_rules<S: Serializer>(rules: &[Gate], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rules.iter().map(|g| g.text.as_str()))
}

pub(super) fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<GatesConfig> {
    let mut t = v.table(w)?;
    let rules = match t.get("rules") {
        None => Some(Vec::new()),
        Some(r) => r.array(w).and_then(|items| {
            let gates: Vec<Option<Gate>> = items
                .iter()
                .map(|item| {
                    let text = item.str(w)?;
                    text.parse::<Gate>().map_err(|e| item.bad(w, e)).ok()
                })
                .collect();
            gates.into_iter().collect::<Option<Vec<_>>>()
        }),
    };
    let min_samples = match t.get("min_samples") {
        None => Some(None),
        Some(m) => m.int_in(w, 1, i64::MAX).map(|n| Some(n as u64)),
    };
    let baseline = match t.get("baseline") {
        None => Some(None),
        Some(b) => b.str(w).map(|p| Some(PathBuf::from(p))),
    };
    t.finish(w, KEYS, |_| None);
    Some(GatesConfig {
        rules: rules?,
        min_samples: min_samples?,
        baseline: baseline?,
    })
}
