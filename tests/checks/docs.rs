//! The docs name only metrics that exist: every `llmsoak_*` / `gen_ai_*` name in README.md and
//! docs/*.md is a catalogue instrument (or one of its histogram series, or a request label).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use llm_soak::metrics::catalogue;

#[test]
fn docs_name_only_metrics_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut known: BTreeSet<String> = catalogue::ALL.iter().map(|i| i.prom.to_string()).collect();
    for i in catalogue::ALL {
        for suffix in ["_bucket", "_sum", "_count"] {
            known.insert(format!("{}{suffix}", i.prom));
        }
        for l in i.labels {
            known.insert(l.replace('.', "_"));
        }
    }
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut unknown = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if (word.starts_with("llmsoak_") || word.starts_with("gen_ai_"))
                && !known.contains(word)
            {
                unknown.push(format!("{}: {word}", f.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "names in the docs that llm-soak does not export:\n{}",
        unknown.join("\n")
    );
}

/// The catalogue table of docs/metrics.md, as the catalogue says it.
fn catalogue_table() -> String {
    let mut out = String::from(
        "| Prometheus name | OTel name (unit) | type | labels | description |\n| --- | --- | --- | --- | --- |\n",
    );
    for i in catalogue::ALL {
        let kind = match i.kind {
            catalogue::Kind::Counter => "counter",
            catalogue::Kind::Gauge => "gauge",
            catalogue::Kind::Histogram => "histogram",
        };
        let labels = if i.labels.starts_with(catalogue::REQUEST_LABELS) {
            let extra: Vec<String> = i.labels[catalogue::REQUEST_LABELS.len()..]
                .iter()
                .map(|l| l.replace('.', "_"))
                .collect();
            std::iter::once("R".to_string())
                .chain(extra)
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            i.labels
                .iter()
                .map(|l| l.replace('.', "_"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let unit = if i.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", i.unit)
        };
        out.push_str(&format!(
            "| `{}` | `{}`{unit} | {kind} | {} | {} |\n",
            i.prom,
            i.name,
            if labels.is_empty() {
                "—".to_string()
            } else {
                labels
            },
            i.description.replace('|', "\\|")
        ));
    }
    for (name, kind, description) in catalogue::OTHER {
        out.push_str(&format!(
            "| `{name}` | — (not an instrument) | {kind} | {} | {} |\n",
            if *name == "target_info" {
                "resource"
            } else {
                "—"
            },
            description.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn the_metrics_reference_is_the_catalogue() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text.split_once("<!-- catalogue:begin -->\n").unwrap();
    let (_, tail) = rest.split_once("<!-- catalogue:end -->").unwrap();
    let want = format!(
        "{head}<!-- catalogue:begin -->\n{}<!-- catalogue:end -->{tail}",
        catalogue_table()
    );
    if std::env::var_os("LLMSOAK_REGENERATE").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(
        text == want,
        "docs/metrics.md is out of date: LLMSOAK_REGENERATE=1 cargo test --test checks docs::"
    );
}
