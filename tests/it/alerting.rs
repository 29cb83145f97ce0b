//! The alerting's one source and its routing: the committed Prometheus rules and Grafana-managed
//! rules are exactly what the mixin (mixin/*.libsonnet) renders (and the dashboards what
//! scripts/gen-dashboards.py writes), and the example Alertmanager
//! configuration is valid and sends each severity where docs/alerts.md says it goes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::common::artefacts::*;

#[test]
fn the_rendered_alerting_and_dashboards_are_what_their_sources_say() {
    let python = root().join("target/tools-venv/bin/python");
    assert!(
        python.exists(),
        "target/tools-venv is missing: run the tests through scripts/test.sh, which installs PyPI's jsonnet and grafana-foundation-sdk there"
    );
    let (ok, out) = run_tool(&python, &["scripts/render-mixin.py", "--check"], &[]);
    assert!(ok, "{out}");
    // The dashboards are their generator's output too (the Grafana Foundation SDK's builders).
    let (ok, out) = run_tool(&python, &["scripts/gen-dashboards.py", "--check"], &[]);
    assert!(ok, "{out}");
}

/// The routing table of docs/alerts.md: severity -> receiver.
fn documented_routes() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("docs/alerts.md")).unwrap();
    let section = text
        .split("## Routing")
        .nth(1)
        .expect("docs/alerts.md has a Routing section");
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() >= 4 && cells[1].starts_with('`') && cells[2].starts_with('`')).then(
                || {
                    (
                        cells[1].trim_matches('`').to_string(),
                        cells[2].trim_matches('`').to_string(),
                    )
                },
            )
        })
        .collect()
}

#[test]
fn alertmanager_routes_every_severity_where_the_docs_say() {
    let config = "deploy/alertmanager/alertmanager.yml";
    let (ok, out) = run_tool("amtool", &["check-config", config], &[]);
    assert!(ok, "{out}");
    let routes = documented_routes();
    let severities: std::collections::BTreeSet<String> = alerts()
        .iter()
        .map(|a| a["labels"]["severity"].as_str().unwrap().to_string())
        .collect();
    for sev in &severities {
        let want = routes
            .get(sev)
            .unwrap_or_else(|| panic!("docs/alerts.md does not say where severity {sev} goes"));
        let severity = format!("severity={sev}");
        let args = [
            "config",
            "routes",
            "test",
            "--config.file",
            config,
            &severity,
        ];
        let (ok, out) = run_tool(
            "amtool",
            &[&args[..], &["alertname=LlmSoakTest"]].concat(),
            &[],
        );
        assert!(ok, "{out}");
        // The receiver's name first; amtool's warnings follow on stderr.
        let got = out.lines().next().unwrap_or_default().trim().to_string();
        assert_eq!(&got, want, "severity {sev}");
    }
}
