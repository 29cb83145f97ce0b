//! The catalogue pins what is exported: every instrument appears under its pinned Prometheus
//! name (the exporter's real OTel→Prometheus translation) with its type, exactly its label set,
//! and its bucket boundaries; nothing outside the catalogue is exported under our prefixes.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use llm_soak::metrics::catalogue::{self, Kind};

use crate::exposition::exposition_text;

#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: String,
    label_sets: Vec<BTreeSet<String>>,
    le: Vec<f64>,
}

fn exposition() -> BTreeMap<String, Family> {
    let text = exposition_text();
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.entry(name.into()).or_default().kind = kind.into();
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.into()).or_default().help = help.into();
        } else if !line.is_empty() {
            let (series, _) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let mut set = BTreeSet::new();
            let mut le = None;
            for kv in labels
                .trim_end_matches('}')
                .split("\",")
                .filter(|s| !s.is_empty())
            {
                let (k, v) = kv.split_once('=').unwrap();
                if k == "le" {
                    le = Some(v.trim_matches('"').to_string());
                } else {
                    set.insert(k.to_string());
                }
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|b| families.get(*b).is_some_and(|f| f.kind == "histogram"))
                })
                .unwrap_or(name);
            let fam = families.entry(base.into()).or_default();
            if let Some(le) = le
                && le != "+Inf"
            {
                let v: f64 = le.parse().unwrap();
                if !fam.le.contains(&v) {
                    fam.le.push(v);
                }
            }
            if !fam.label_sets.contains(&set) {
                fam.label_sets.push(set);
            }
        }
    }
    families
}

fn prom_key(k: &str) -> String {
    k.replace('.', "_")
}

#[test]
fn every_instrument_is_exported_under_its_pinned_name_type_and_labels() {
    let families = exposition();
    for inst in catalogue::ALL {
        let fam = families
            .get(inst.prom)
            .unwrap_or_else(|| panic!("{} not exported as {}", inst.name, inst.prom));
        let kind = match inst.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert_eq!(fam.kind, kind, "{}", inst.prom);
        assert_eq!(fam.help, inst.description, "{}", inst.prom);
        assert!(!inst.description.is_empty());
        let all: BTreeSet<String> = inst.labels.iter().map(|k| prom_key(k)).collect();
        let required: BTreeSet<String> = inst
            .labels
            .iter()
            .filter(|k| !inst.optional.contains(k))
            .map(|k| prom_key(k))
            .collect();
        for set in &fam.label_sets {
            assert!(
                set.is_subset(&all),
                "{}: unexpected labels {set:?}",
                inst.prom
            );
            assert!(
                set.is_superset(&required),
                "{}: missing labels in {set:?}",
                inst.prom
            );
        }
        if inst.kind == Kind::Histogram {
            assert_eq!(fam.le, inst.buckets, "{} buckets", inst.prom);
        }
    }
}

#[test]
fn nothing_outside_the_catalogue_is_exported() {
    let pinned: BTreeSet<&str> = catalogue::ALL.iter().map(|i| i.prom).collect();
    let other: BTreeSet<&str> = catalogue::OTHER.iter().map(|o| o.0).collect();
    let exported = exposition();
    for name in exported.keys() {
        assert!(
            pinned.contains(name.as_str()) || other.contains(name.as_str()),
            "{name} is exported but neither in the catalogue nor in catalogue::OTHER"
        );
    }
    // …and what OTHER names is there, as the type it says.
    for (name, kind, _) in catalogue::OTHER {
        let family = exported
            .get(*name)
            .unwrap_or_else(|| panic!("catalogue::OTHER names {name}, which is not exported"));
        assert_eq!(family.kind, *kind, "{name}");
    }
}

#[test]
fn buckets_are_strictly_increasing_and_request_labels_are_the_design_set() {
    for inst in catalogue::ALL {
        assert!(
            inst.buckets.windows(2).all(|w| w[0] < w[1]),
            "{}",
            inst.name
        );
        assert_eq!(
            inst.kind == Kind::Histogram,
            !inst.buckets.is_empty(),
            "{}",
            inst.name
        );
        let names: BTreeSet<&str> = catalogue::ALL.iter().map(|i| i.name).collect();
        assert_eq!(names.len(), catalogue::ALL.len());
    }
    let r: Vec<String> = catalogue::REQUEST_LABELS
        .iter()
        .map(|k| prom_key(k))
        .collect();
    assert_eq!(
        r,
        [
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "server_address",
            "server_port",
            "llmsoak_target",
            "llmsoak_scenario"
        ]
    );
    // The standard process collector shares the registry.
    assert!(exposition().contains_key("process_resident_memory_bytes"));
}
