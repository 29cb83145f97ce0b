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

/// docs/metrics.md's generated section `marker` is `table` (rewritten with LLMSOAK_REGENERATE).
fn generated_section_is(marker: &str, table: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = (
        format!("<!-- {marker}:begin -->\n"),
        format!("<!-- {marker}:end -->"),
    );
    let (head, rest) = text.split_once(&begin).unwrap();
    let (_, tail) = rest.split_once(&end).unwrap();
    let want = format!("{head}{begin}{table}{end}{tail}");
    if std::env::var_os("LLMSOAK_REGENERATE").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(
        text == want,
        "docs/metrics.md's {marker} table is out of date: LLMSOAK_REGENERATE=1 cargo test --test checks docs::"
    );
}

#[test]
fn the_metrics_reference_is_the_catalogue() {
    generated_section_is("catalogue", &catalogue_table());
}

/// The mapping tables as a markdown table: a row per vocabulary word, a column per engine.
fn engines_table() -> String {
    use llm_soak::engine::map::Map;
    use llm_soak::engine::{Counter, Gauge, Hist};
    let maps = Map::all();
    let mut out = String::from("| word | kind |");
    for m in maps {
        out.push_str(&format!(" {} ({}) |", m.engine, m.release));
    }
    out.push_str("\n| --- | --- |");
    out.push_str(&" --- |".repeat(maps.len()));
    out.push('\n');
    let cell = |names: Option<&Vec<String>>, sum: bool| match names {
        Some(n) => n
            .iter()
            .map(|x| {
                if sum {
                    format!("`{x}` (sum)")
                } else {
                    format!("`{x}`")
                }
            })
            .collect::<Vec<_>>()
            .join(" / "),
        None => "—".to_string(),
    };
    for h in Hist::ALL {
        out.push_str(&format!("| {} | histogram |", h.as_str()));
        for m in maps {
            out.push_str(&format!(" {} |", cell(m.histograms.get(&h), false)));
        }
        out.push('\n');
    }
    for g in Gauge::ALL {
        out.push_str(&format!("| {} | gauge |", g.as_str()));
        for m in maps {
            out.push_str(&format!(" {} |", cell(m.gauges.get(&g), false)));
        }
        out.push('\n');
    }
    for c in Counter::ALL {
        out.push_str(&format!("| {} | counter |", c.as_str()));
        for m in maps {
            let text = match m.counters.get(&c) {
                Some(n) => cell(Some(n), false),
                None => cell(m.histogram_sums.get(&c), true),
            };
            out.push_str(&format!(" {text} |"));
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_engine_mapping_table_in_the_docs_is_the_maps() {
    generated_section_is("engines", &engines_table());
}
