//! Keeps the structure true: the data-flow diagram in `lib.rs` names exactly the modules that
//! exist, every file says what it owns, no file grows past the size limit, and the import graph
//! between top-level modules has no cycle and none of the edges DESIGN forbids.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
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
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
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

/// The crate's import graph (`daemon/src`).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    import_graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/src"))
}

/// Top-level module -> the top-level modules it names (`use crate::x`, `crate::x::…` in code,
/// grouped `use crate::{x::…, y}`), test code included; comments are skipped. `root` is a
/// source tree shaped like `daemon/src` (its `lib.rs` and `main.rs` are not modules).
fn import_graph_of(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root = root.to_path_buf();
    let modules: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in walk(&root) {
        let rel = file.strip_prefix(&root).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if !modules.contains(&top) {
            continue;
        }
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let edges = graph.entry(top.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::b, c, d::{e, f}}`: the first segment of each top-level path.
                let (mut depth, mut start) = (0, 0);
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            edges.insert(first_segment(&group[start..j]));
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            edges.insert(first_segment(&group[start..j]));
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
            } else {
                edges.insert(first_segment(rest));
            }
        }
        edges.retain(|m| modules.contains(m) && *m != top);
    }
    for m in modules {
        graph.entry(m).or_default();
    }
    graph
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// A cycle through `start`, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn dfs(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in &graph[at] {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if dfs(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    dfs(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

fn render(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(m, e)| {
            format!(
                "  {m} -> {}",
                e.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The edges DESIGN forbids: the simulator shares only the wire types (and its own section of the
/// config, plain data) with what measures it; the client never touches metrics or export; the
/// plain-data modules depend on nothing above them (`files`, the atomic writer, on nothing at
/// all); metrics never reach back to the exporter.
const ALLOWED_ONLY: &[(&str, &[&str])] = &[
    ("openai", &[]),
    ("record", &[]),
    ("tls", &[]),
    ("files", &[]),
    ("engine", &["record"]),
    ("config", &["openai", "record"]),
    ("report", &["engine", "files", "record"]),
    ("simulator", &["openai", "config"]),
    ("workload", &["config", "openai", "record"]),
    ("client", &["config", "openai", "record", "tls", "workload"]),
    (
        "metrics",
        &["config", "engine", "files", "openai", "record", "report"],
    ),
    ("gate", &["config", "record", "report"]),
    ("trust", &["metrics", "report"]),
    ("compare", &["record", "report"]),
    ("view", &["compare", "engine", "record", "report"]),
];

#[test]
fn the_import_graph_has_no_cycle_and_no_forbidden_edge() {
    let graph = import_graph();
    for m in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, m) {
            panic!("import cycle: {}\n{}", cycle.join(" -> "), render(&graph));
        }
    }
    for (m, allowed) in ALLOWED_ONLY {
        let edges = graph.get(*m).unwrap_or_else(|| panic!("no module {m}"));
        let forbidden: Vec<&String> = edges
            .iter()
            .filter(|e| !allowed.contains(&e.as_str()))
            .collect();
        assert!(
            forbidden.is_empty(),
            "{m} may import only {allowed:?}, but imports {forbidden:?}\n{}",
            render(&graph)
        );
    }
}

#[test]
fn the_graph_reader_sees_every_form_of_import() {
    // A mutation check of the reader itself, on a scratch tree shaped like daemon/src.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "//! a\nuse crate::{b::X, c};\n// crate::d::nope\nfn f() { crate::e::g(); }\n",
    )
    .unwrap();
    for m in ["b", "c", "d", "e"] {
        std::fs::write(src.join(format!("{m}.rs")), "//! m\n").unwrap();
    }
    std::fs::write(
        src.join("b.rs"),
        "//! b\nuse crate::{c::{x, y}, d};\n/// crate::a::in_a_doc_comment\n",
    )
    .unwrap();
    std::fs::write(src.join("lib.rs"), "//! lib\nuse crate::a;\n").unwrap();
    // The real reader, on that tree.
    let graph = import_graph_of(src);
    let edges = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        edges("a"),
        ["b", "c", "e"],
        "grouped, plain and path imports count; comments do not"
    );
    assert_eq!(
        edges("b"),
        ["c", "d"],
        "a nested group names its first segment"
    );
    assert!(!graph.contains_key("lib"), "lib.rs is not a module");
    assert_eq!(
        graph.keys().cloned().collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e"]
    );
    // And a cycle is found.
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("x".into(), ["y".to_string()].into());
    g.insert("y".into(), ["z".to_string()].into());
    g.insert("z".into(), ["x".to_string()].into());
    assert_eq!(
        cycle_from(&g, "x"),
        Some(vec!["x".into(), "y".into(), "z".into(), "x".into()])
    );
    g.insert("z".into(), BTreeSet::new());
    assert_eq!(cycle_from(&g, "x"), None);
}

#[test]
fn no_source_file_grows_past_the_limit() {
    // DESIGN: files under ~600 lines, split by responsibility when they grow.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/src");
    let long: Vec<String> = walk(&root)
        .into_iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(&p).unwrap().lines().count();
            (n > 650).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}

/// A `major.minor[.patch]` version as comparable numbers.
fn version(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

#[test]
fn the_declared_msrv_is_what_the_dependencies_and_the_code_need() {
    // This platform's dependencies only: a fresh machine's registry holds no others (another
    // platform's crates are never downloaded), and `--offline` would refuse to fetch them.
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages.iter().find(|p| p["name"] == "llm-soak").unwrap();
    let declared = version(ours["rust_version"].as_str().unwrap());
    // let-chains (edition 2024) are used throughout: 1.88.
    assert!(
        declared >= (1, 88, 0),
        "{declared:?} cannot build let-chains"
    );
    let (needed, by) = packages
        .iter()
        .filter(|p| p["name"] != "llm-soak")
        .filter_map(|p| Some((version(p["rust_version"].as_str()?), p["name"].as_str()?)))
        .max()
        .unwrap();
    assert!(
        declared >= needed,
        "rust-version {declared:?} is below what {by} needs ({needed:?})"
    );
}
