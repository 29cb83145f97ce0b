//! Reading the shipped operator artefacts for tests: every PromQL expression in the dashboards
//! (with Grafana's variables substituted the way dashboard-linter does), the recording and alert
//! rules, and walks over parsed expressions (metric names, functions around selectors).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use promql_parser::parser::{self, Expr};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run a tool in the repository root with `env` added: (succeeded, stdout then stderr). A tool
/// that is not installed panics naming what installs it.
pub fn run_tool(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String) {
    let program = program.as_ref();
    let out = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{program:?}: {e} (scripts/test.sh installs it)"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn dashboards() -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            out.push((path.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty());
    out
}

/// Every panel, rows' collapsed children included.
pub fn panels(d: &serde_json::Value) -> Vec<serde_json::Value> {
    fn walk(ps: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        for p in ps.as_array().into_iter().flatten() {
            out.push(p.clone());
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

/// (dashboard, panel title, raw expression) of every query target.
pub fn dashboard_queries() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    name.clone(),
                    p["title"].as_str().unwrap_or_default().to_string(),
                    t["expr"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// Grafana's variables replaced by values a real query accepts ("all" for the selectors).
pub fn substitute(expr: &str, range: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", range)
        .replace("$__interval", "1m")
        .replace("\"$job\"", "\".*\"")
        .replace("\"$instance\"", "\".*\"")
        .replace("\"$scenario\"", "\".*\"")
        .replace("\"$model\"", "\".*\"")
        .replace("\"$target\"", "\".*\"")
        .replace("\"$run\"", "\".*\"")
        .replace("\"$vllm_job\"", "\".*\"")
        .replace("\"$server_job\"", "\".*\"")
}

/// The rule files: (group, rule) pairs.
pub fn rules(file: &str) -> Vec<(String, serde_json::Value)> {
    let doc = yaml(&root().join("alerts").join(file));
    let mut out = Vec::new();
    for g in doc["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            out.push((g["name"].as_str().unwrap().to_string(), r.clone()));
        }
    }
    out
}

pub fn alerts() -> Vec<serde_json::Value> {
    rules("llm-soak.alerts.yml")
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

pub fn recording_names() -> BTreeSet<String> {
    rules("llm-soak.rules.yml")
        .into_iter()
        .map(|(_, r)| r["record"].as_str().unwrap().to_string())
        .collect()
}

pub fn parse(expr: &str) -> Expr {
    parser::parse(expr).unwrap_or_else(|e| panic!("does not parse: {e}\n{expr}"))
}

/// Every selector's metric name, with the functions it sits inside (innermost last).
pub fn selectors(e: &Expr) -> Vec<(String, Vec<&'static str>)> {
    fn walk(e: &Expr, stack: &mut Vec<&'static str>, out: &mut Vec<(String, Vec<&'static str>)>) {
        match e {
            Expr::Aggregate(a) => {
                walk(&a.expr, stack, out);
                if let Some(p) = &a.param {
                    walk(p, stack, out);
                }
            }
            Expr::Unary(u) => walk(&u.expr, stack, out),
            Expr::Binary(b) => {
                walk(&b.lhs, stack, out);
                walk(&b.rhs, stack, out);
            }
            Expr::Paren(p) => walk(&p.expr, stack, out),
            Expr::Subquery(s) => walk(&s.expr, stack, out),
            Expr::VectorSelector(v) => {
                out.push((v.name.clone().unwrap_or_default(), stack.clone()))
            }
            Expr::MatrixSelector(m) => {
                out.push((m.vs.name.clone().unwrap_or_default(), stack.clone()))
            }
            Expr::Call(c) => {
                stack.push(c.func.name);
                for a in &c.args.args {
                    walk(a, stack, out);
                }
                stack.pop();
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(e, &mut Vec::new(), &mut out);
    out
}

/// A histogram series' base name (`x_bucket` → `x`), or the name itself.
pub fn base_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}
