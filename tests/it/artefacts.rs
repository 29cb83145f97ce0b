//! The operator artefacts agree with the code and with each other: promtool accepts and
//! unit-tests the rules; every alert carries its annotations and a runbook section, and is tested
//! firing and quiet; every metric a dashboard or rule names is exported (the catalogue), recorded
//! (a recording rule) or an explicit external name; every expression parses; the dashboards pass
//! a lint; promtool test input uses the catalogue's label sets; and the Grafana-managed alert
//! rules say what the Prometheus rules say.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use crate::common::artefacts::*;
use llm_soak::metrics::catalogue::{self, Kind};

/// Names outside llm-soak that the artefacts may use: Prometheus's own, the standard process
/// collector, DCGM's, and the inference engines' — exactly the series llm-soak's mapping tables
/// read (a dashboard's engine rows are generated from them), or any `vllm:` name (the alerts).
fn external(name: &str) -> bool {
    name == "up"
        || name.starts_with("process_")
        || name.starts_with("vllm:")
        || name.starts_with("DCGM_")
        || llm_soak::engine::map::Map::all().iter().any(|m| {
            m.sample_names()
                .any(|n| n == name || n.strip_suffix("_bucket") == Some(name))
        })
}

fn known() -> BTreeSet<String> {
    catalogue::ALL
        .iter()
        .map(|i| i.prom.to_string())
        .chain(recording_names())
        .collect()
}

fn promtool(args: &[&str]) -> (bool, String) {
    run_tool("promtool", args, &[])
}

#[test]
fn promtool_checks_and_unit_tests_the_shipped_rules() {
    let (ok, out) = promtool(&[
        "check",
        "rules",
        "alerts/llm-soak.rules.yml",
        "alerts/llm-soak.alerts.yml",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "alerts/tests/llm-soak.test.yml"]);
    assert!(ok && out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_is_annotated_has_a_runbook_and_is_tested_firing_and_quiet() {
    let runbooks = std::fs::read_to_string(root().join("docs/runbooks.md")).unwrap();
    let anchors: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let tests = yaml(&root().join("alerts/tests/llm-soak.test.yml"));
    let mut fired = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for t in tests["tests"].as_array().unwrap() {
        for c in t["alert_rule_test"].as_array().into_iter().flatten() {
            let name = c["alertname"].as_str().unwrap().to_string();
            if c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()) {
                fired.insert(name);
            } else {
                quiet.insert(name);
            }
        }
    }
    let config = std::fs::read_to_string(root().join("mixin/config.libsonnet")).unwrap();
    let selectors: BTreeSet<String> = ["llmsoakSelector", "vllmSelector", "dcgmSelector"]
        .iter()
        .map(|k| {
            let line = config
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{k}:")))
                .unwrap_or_else(|| panic!("no {k} in mixin/config.libsonnet"));
            line.split_once('\'')
                .unwrap()
                .1
                .rsplit_once('\'')
                .unwrap()
                .0
                .to_string()
        })
        .collect();
    let alerts = alerts();
    assert!(alerts.len() >= 16);
    for a in &alerts {
        let name = a["alert"].as_str().unwrap();
        assert!(a["for"].is_string(), "{name}: for");
        let sev = a["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&sev),
            "{name}: severity"
        );
        for k in ["summary", "description", "runbook_url"] {
            assert!(
                a["annotations"][k].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: {k}"
            );
        }
        let url = a["annotations"]["runbook_url"].as_str().unwrap();
        let anchor = url.rsplit_once('#').unwrap().1;
        assert!(url.contains("docs/runbooks.md#"), "{name}: {url}");
        assert_eq!(anchor, name.to_lowercase(), "{name}: anchor");
        assert!(
            anchors.contains(anchor),
            "{name}: no '## {name}' in docs/runbooks.md"
        );
        assert!(fired.contains(name), "{name}: no promtool case fires it");
        assert!(
            quiet.contains(name),
            "{name}: no promtool case where it must stay quiet"
        );
        // DESIGN §10, as issue 16 refined it: no job matcher but the mixin's selectors, set in
        // one place (mixin/config.libsonnet) and overridable there.
        let expr = a["expr"].as_str().unwrap();
        for (i, _) in expr.match_indices("job") {
            let rest = &expr[i..];
            if let Some(m) = ["job=~", "job!~", "job!=", "job="]
                .iter()
                .find(|p| rest.starts_with(*p))
            {
                let end = rest[m.len() + 1..].find('"').unwrap() + m.len() + 2;
                let matcher = &rest[..end];
                assert!(
                    selectors.contains(matcher),
                    "{name}: job matcher {matcher} is not one of the mixin's selectors {selectors:?}"
                );
            }
        }
    }
}

#[test]
fn every_name_in_dashboards_and_rules_exists_and_every_expression_parses() {
    let known = known();
    let mut exprs: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .map(|(d, p, e)| (format!("{d}: {p}"), substitute(&e, "1h")))
        .collect();
    for file in ["llm-soak.rules.yml", "llm-soak.alerts.yml"] {
        for (g, r) in rules(file) {
            exprs.push((
                format!("{file} {g}"),
                r["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for (_, d) in dashboards() {
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"]
                .as_str()
                .and_then(|q| q.strip_prefix("label_values("))
            {
                let sel = q
                    .rsplit_once(',')
                    .map_or(q.trim_end_matches(')'), |(s, _)| s);
                exprs.push(("variable".into(), substitute(sel, "1h")));
            }
        }
    }
    let mut unknown = BTreeSet::new();
    for (at, e) in &exprs {
        for (name, _) in selectors(&parse(e)) {
            if !known.contains(&name) && !known.contains(base_name(&name)) && !external(&name) {
                unknown.insert(format!("{at}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "names that are not exported:\n{unknown:#?}"
    );
}

#[test]
fn dashboards_pass_the_lint() {
    let counters: BTreeSet<&str> = catalogue::ALL
        .iter()
        .filter(|i| i.kind != Kind::Gauge)
        .map(|i| i.prom)
        .collect();
    for (name, d) in dashboards() {
        assert_eq!(d["editable"], false, "{name}");
        assert!(
            d["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty() && u.len() <= 40)
        );
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{name}: schemaVersion pinned"
        );
        let vars: BTreeMap<&str, &serde_json::Value> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        assert_eq!(vars["datasource"]["type"], "datasource", "{name}");
        for v in ["job", "run", "instance"] {
            assert!(vars.contains_key(v), "{name}: variable {v}");
        }
        // Every variable a dashboard declares is used by one of its queries (and every one a
        // query uses is declared).
        let text = d.to_string();
        for v in vars.keys().filter(|v| **v != "datasource") {
            let used = text.matches(&format!("${v}")).count();
            assert!(used >= 1, "{name}: variable {v} declared but unused");
        }
        // On Grafana's 24-column grid: no panel past the right edge, none over another.
        let cells: Vec<(String, [u64; 4])> = panels(&d)
            .iter()
            .map(|p| {
                let g = &p["gridPos"];
                let at = |k: &str| {
                    g[k].as_u64()
                        .unwrap_or_else(|| panic!("{name}: gridPos.{k}"))
                };
                (
                    p["title"].as_str().unwrap_or_default().to_string(),
                    [at("x"), at("y"), at("w"), at("h")],
                )
            })
            .collect();
        for (i, (title, [x, y, w, h])) in cells.iter().enumerate() {
            assert!(
                x + w <= 24 && *w > 0 && *h > 0,
                "{name}: {title} off the grid"
            );
            for (other, [x2, y2, w2, h2]) in &cells[i + 1..] {
                let apart = x + w <= *x2 || x2 + w2 <= *x || y + h <= *y2 || y2 + h2 <= *y;
                assert!(apart, "{name}: {title} and {other} overlap");
            }
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{name}: duplicate id at {title}"
            );
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{name}: {title}");
            assert!(
                p["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|u| !u.is_empty()),
                "{name}: {title} has no unit"
            );
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: {title} has no description"
            );
            // Explicit thresholds: Grafana's default paints anything above 80 red.
            assert!(
                p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{name}: {title} has no explicit thresholds"
            );
            for t in p["targets"].as_array().unwrap() {
                // A heatmap of overlapping increases double-counts; rates do not.
                if p["type"] == "heatmap" {
                    let raw = t["expr"].as_str().unwrap();
                    assert!(
                        raw.contains("rate(") && !raw.contains("increase("),
                        "{name}: {title}: heatmap not rate-based: {raw}"
                    );
                }
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{name}: {title}");
                let raw = t["expr"].as_str().unwrap();
                // Every rate window is $__rate_interval ($__range only for increase over the range).
                for (i, _) in raw.match_indices("rate(") {
                    let rest = &raw[i..];
                    let window = rest
                        .split_once('[')
                        .map(|(_, w)| w.split(']').next().unwrap());
                    assert!(
                        window == Some("$__rate_interval"),
                        "{name}: {title}: rate window {window:?} in {raw}"
                    );
                }
                let e = parse(&substitute(raw, "1h"));
                for (metric, funcs) in selectors(&e) {
                    let is_counter = metric.ends_with("_total")
                        || metric.ends_with("_bucket")
                        || (metric.ends_with("_sum") || metric.ends_with("_count"))
                            && counters.contains(base_name(&metric));
                    if is_counter {
                        assert!(
                            funcs
                                .iter()
                                .any(|f| ["rate", "irate", "increase"].contains(f)),
                            "{name}: {title}: counter {metric} outside rate/increase"
                        );
                    }
                    if counters.contains(metric.as_str()) && !metric.ends_with("_total") {
                        panic!("{name}: {title}: histogram {metric} used without a suffix");
                    }
                }
            }
        }
    }
}

#[test]
fn promtool_test_input_uses_the_catalogue_label_sets() {
    let by_prom: BTreeMap<&str, &catalogue::Instrument> =
        catalogue::ALL.iter().map(|i| (i.prom, i)).collect();
    let tests = yaml(&root().join("alerts/tests/llm-soak.test.yml"));
    let mut checked = 0;
    for t in tests["tests"].as_array().unwrap() {
        for s in t["input_series"].as_array().unwrap() {
            let series = s["series"].as_str().unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let Some(inst) = by_prom.get(base_name(name)).or_else(|| by_prom.get(name)) else {
                assert!(external(name), "{name}: not in the catalogue");
                continue;
            };
            let keys: BTreeSet<String> = labels
                .trim_end_matches('}')
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
                .filter(|k| k != "job" && k != "instance" && k != "le")
                .collect();
            let allowed: BTreeSet<String> =
                inst.labels.iter().map(|k| k.replace('.', "_")).collect();
            let required: BTreeSet<String> = inst
                .labels
                .iter()
                .filter(|k| !inst.optional.contains(k))
                .map(|k| k.replace('.', "_"))
                .collect();
            assert!(
                keys.is_subset(&allowed),
                "{series}: labels outside {allowed:?}"
            );
            // Counters of requests always carry their full request label set.
            if !required.is_empty() {
                assert!(
                    keys.is_superset(&required),
                    "{series}: missing {required:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20);
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect()
}

#[test]
fn grafana_alert_rules_say_what_the_prometheus_rules_say() {
    let prom: BTreeMap<String, serde_json::Value> = alerts()
        .into_iter()
        .map(|a| (a["alert"].as_str().unwrap().to_string(), a))
        .collect();
    let doc = yaml(&root().join("dashboards/provisioning/alerting/llm-soak-alerts.yaml"));
    let rules: Vec<&serde_json::Value> = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    // Parity: every Prometheus alert is a Grafana rule, and nothing else is.
    let titles: BTreeSet<&str> = rules.iter().map(|r| r["title"].as_str().unwrap()).collect();
    let names: BTreeSet<&str> = prom.keys().map(String::as_str).collect();
    assert_eq!(titles, names, "Grafana-managed rules = Prometheus alerts");
    // Grafana 11 templating: `$value` there is every query's text; the judged number is
    // `$values.B.Value`.
    let grafana_text = |t: &str| {
        let mut out = t.to_string();
        for f in ["humanizePercentage", "humanizeDuration", "humanize"] {
            out = out.replace(
                &format!("{{{{ $value | {f} }}}}"),
                &format!("{{{{ {f} $values.B.Value }}}}"),
            );
        }
        out.replace("{{ $value }}", "{{ $values.B.Value }}")
    };
    for r in rules {
        let title = r["title"].as_str().unwrap();
        let p = &prom[title];
        assert_eq!(r["for"], p["for"], "{title}: for");
        assert_eq!(r["labels"], p["labels"], "{title}: labels");
        for (k, v) in p["annotations"].as_object().unwrap() {
            assert_eq!(
                r["annotations"][k].as_str().unwrap(),
                grafana_text(v.as_str().unwrap()),
                "{title}: annotation {k}"
            );
        }
        assert!(
            !r["annotations"].to_string().contains("$value |"),
            "{title}: Prometheus-only templating"
        );
        let data = r["data"].as_array().unwrap();
        let query = data[0]["model"]["expr"].as_str().unwrap();
        assert_eq!(
            normalize(query),
            normalize(p["expr"].as_str().unwrap()),
            "{title}: the same query"
        );
        assert_eq!(data[2]["model"]["expression"], "$B == $B", "{title}");
        // A canary that stops reporting is not healthy: no data alerts for heartbeat rules.
        let heartbeat = title.starts_with("LlmSoakCanary");
        assert_eq!(
            r["noDataState"],
            if heartbeat { "Alerting" } else { "OK" },
            "{title}: noDataState"
        );
    }
}

#[test]
fn the_whole_catalogue_passes_promtool_check_metrics() {
    // GPU, target-process and baseline series included: every name passes the naming lint.
    let (ok, report) = crate::common::promtool_check_metrics(&crate::exposition::exposition_text());
    assert!(
        ok && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}
