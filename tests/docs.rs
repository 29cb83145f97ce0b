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
