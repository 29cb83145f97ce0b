//! Keeps the data-flow diagram in `lib.rs` true: every module it names exists, and every module
//! the library declares appears in it (or in the paragraph under it).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn lib_rs_diagram_matches_the_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let named: BTreeSet<String> = docs
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|w| w.split_once("::").map(|(m, _)| m.to_string()))
        .filter(|m| !m.is_empty())
        .collect();
    for m in &named {
        assert!(
            declared.contains(m),
            "the diagram names `{m}`, which lib.rs does not declare"
        );
        assert!(
            root.join(format!("{m}.rs")).is_file() || root.join(m).join("mod.rs").is_file(),
            "no source for `{m}`"
        );
    }
    for m in &declared {
        assert!(
            named.contains(m) || docs.contains(&format!("`{m}`")),
            "module `{m}` is missing from the lib.rs docs"
        );
    }
    // Every module opens with a `//!` paragraph saying what it owns.
    for entry in walk(&root) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not open with a //! paragraph",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}
