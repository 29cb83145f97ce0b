//! The Helm chart (deploy/helm/llm-soak), linted and rendered by Helm v4's own engine (PyPI's
//! helm-python-sdk, scripts/helm-check.py) for every values file in its ci/ folder: `helm lint
//! --strict` passes; the rendered core manifests pass `kubernetes-validate --strict`; the
//! Prometheus Operator resources have their shape and the configured labels; every pod meets Pod
//! Security "restricted"; the PrometheusRule and the dashboards are exactly the shipped ones (and
//! the chart's files/ copies of alerts/, dashboards/ and the base configs are kept equal:
//! `LLMSOAK_REGENERATE=1` rewrites them); the configs the chart carries load; and values that
//! cannot work are refused with a message that says why.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::common::artefacts::*;

fn chart() -> PathBuf {
    root().join("deploy/helm/llm-soak")
}

/// The chart's files/ and the sources they copy.
fn copies() -> Vec<(PathBuf, PathBuf)> {
    let files = chart().join("files");
    let mut v = vec![
        (
            root().join("alerts/llm-soak.rules.yml"),
            files.join("llm-soak.rules.yml"),
        ),
        (
            root().join("alerts/llm-soak.alerts.yml"),
            files.join("llm-soak.alerts.yml"),
        ),
        (
            root().join("deploy/kubernetes/base/canary.toml"),
            files.join("canary.toml"),
        ),
        (
            root().join("deploy/kubernetes/base/soak.toml"),
            files.join("soak.toml"),
        ),
    ];
    for (name, _) in dashboards() {
        v.push((
            root().join("dashboards").join(&name),
            files.join("dashboards").join(&name),
        ));
    }
    v
}

#[test]
fn the_charts_files_are_the_shipped_rules_dashboards_and_configs() {
    let mut names: Vec<String> = std::fs::read_dir(chart().join("files/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut shipped: Vec<String> = dashboards().into_iter().map(|(n, _)| n).collect();
    shipped.sort();
    assert_eq!(
        names, shipped,
        "the chart's dashboards are the shipped ones, no more"
    );
    for (from, to) in copies() {
        let want = std::fs::read(&from).unwrap();
        if std::env::var_os("LLMSOAK_REGENERATE").is_some() {
            std::fs::write(&to, &want).unwrap();
        }
        assert!(
            std::fs::read(&to).unwrap_or_default() == want,
            "{} differs from {}: LLMSOAK_REGENERATE=1 cargo nextest run -E 'test(/^helm::/)'",
            to.display(),
            from.display()
        );
    }
}

fn helm_python() -> PathBuf {
    let venv = root().join("target/helm-venv/bin/python");
    assert!(
        venv.exists(),
        "no target/helm-venv: scripts/test.sh installs helm-python-sdk there"
    );
    venv
}

/// The documents of a rendered template: (parsed, as rendered).
fn documents(path: &Path) -> Vec<(serde_json::Value, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---")
        .filter_map(|doc| {
            let v = serde_yaml_ng::from_str::<serde_json::Value>(doc).ok()?;
            v.is_object().then(|| (v, doc.to_string()))
        })
        .collect()
}

fn manifests(path: &Path) -> Vec<serde_json::Value> {
    documents(path).into_iter().map(|(v, _)| v).collect()
}

/// Pod Security "restricted": non-root, no privilege escalation, every capability dropped, the
/// runtime's seccomp profile, and nothing from the host.
fn assert_restricted(kind: &str, pod: &serde_json::Value) {
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{kind}: {sc}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{kind}");
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod[key].is_null() || pod[key] == false, "{kind}: {key}");
    }
    let init = pod["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in pod["containers"].as_array().unwrap().iter().chain(&init) {
        let s = &c["securityContext"];
        assert_eq!(s["allowPrivilegeEscalation"], false, "{kind}: {s}");
        assert_eq!(
            s["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{kind}"
        );
        assert!(
            s["capabilities"]["add"].is_null() && s["privileged"].is_null(),
            "{kind}"
        );
        assert!(c["resources"]["requests"].is_object(), "{kind}: resources");
    }
    for v in pod["volumes"].as_array().unwrap() {
        assert!(v["hostPath"].is_null(), "{kind}: {v}");
    }
}

#[test]
fn the_chart_lints_renders_validates_and_ships_the_rules() {
    let out = tempfile::tempdir().unwrap();
    let mut values: Vec<String> = std::fs::read_dir(chart().join("ci"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    values.sort();
    let mut args = vec![
        root().join("scripts/helm-check.py").display().to_string(),
        chart().display().to_string(),
        out.path().display().to_string(),
    ];
    args.extend(values);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, stdout) = run_tool(helm_python().to_str().unwrap(), &args, &[]);
    assert!(ok, "helm-check.py:\n{stdout}");
    let line = stdout.lines().last().unwrap();
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        report["linted"],
        serde_json::json!(["canary", "existing-config", "soak"]),
        "{stdout}"
    );
    // Values that cannot work are refused, each saying why.
    for (case, why) in [
        ("no-start", "soak.startAt is required"),
        ("bad-start", "is not an RFC 3339 instant"),
        ("no-shards", "soak.shards must be at least 1"),
    ] {
        let msg = report["refused"][case].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{case}: {}", report["refused"]);
    }
    let shipped_groups: Vec<serde_json::Value> = ["llm-soak.rules.yml", "llm-soak.alerts.yml"]
        .iter()
        .flat_map(|f| {
            yaml(&root().join("alerts").join(f))["groups"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    let mut seen_kinds = std::collections::BTreeSet::new();
    for case in ["canary", "existing-config", "soak"] {
        let dir = out.path().join(case);
        let mut core = Vec::new();
        for f in std::fs::read_dir(&dir).unwrap() {
            let path = f.unwrap().path();
            if path.ends_with("NOTES.txt") {
                continue;
            }
            for (doc, raw) in documents(&path) {
                let kind = doc["kind"].as_str().unwrap().to_string();
                seen_kinds.insert(kind.clone());
                if doc["apiVersion"] == "monitoring.coreos.com/v1" {
                    let labels = &doc["metadata"]["labels"];
                    let release = if case == "soak" {
                        "prom"
                    } else {
                        "kube-prometheus-stack"
                    };
                    assert_eq!(labels["release"], release, "{case} {kind}");
                    match kind.as_str() {
                        "PrometheusRule" => {
                            assert_eq!(doc["spec"]["groups"], serde_json::json!(shipped_groups));
                        }
                        "ServiceMonitor" | "PodMonitor" => {
                            let ep = if kind == "PodMonitor" {
                                &doc["spec"]["podMetricsEndpoints"][0]
                            } else {
                                &doc["spec"]["endpoints"][0]
                            };
                            assert_eq!(ep["port"], "http-metrics");
                            // The shipped rules select job=~"llm-soak.*", whatever the release.
                            let job = ep["relabelings"][0]["replacement"].as_str().unwrap();
                            assert!(job.starts_with("llm-soak"), "{job}");
                        }
                        other => panic!("unexpected {other}"),
                    }
                    continue;
                }
                match kind.as_str() {
                    "Deployment" | "Job" => {
                        assert_restricted(&kind, &doc["spec"]["template"]["spec"]);
                    }
                    "ConfigMap" if doc["metadata"]["labels"]["grafana_dashboard"] == "1" => {
                        for (name, d) in dashboards() {
                            let data: serde_json::Value =
                                serde_json::from_str(doc["data"][&name].as_str().unwrap()).unwrap();
                            assert_eq!(data, d, "dashboard {name}");
                        }
                    }
                    "ConfigMap" => {
                        for (key, toml) in doc["data"].as_object().unwrap() {
                            llm_soak::config::Config::parse(toml.as_str().unwrap(), key, &|k| {
                                (k == "LLM_SOAK_API_KEY").then(|| "k".to_string())
                            })
                            .unwrap_or_else(|e| panic!("{case} {key}: {e}"));
                        }
                    }
                    _ => {}
                }
                let one = out
                    .path()
                    .join(format!("{case}-{kind}-{}.yaml", core.len()));
                std::fs::write(&one, raw).unwrap();
                core.push(one.display().to_string());
            }
        }
        let mut all = vec!["--strict"];
        all.extend(core.iter().map(String::as_str));
        let k = root().join("target/k8s-venv/bin/kubernetes-validate");
        let (ok, out) = run_tool(k.to_str().unwrap(), &all, &[]);
        assert!(ok, "{case}: kubernetes-validate:\n{out}");
        if case == "soak" {
            let job = manifests(&dir.join("soak.yaml"))
                .into_iter()
                .find(|d| d["kind"] == "Job")
                .unwrap();
            let args = job["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
            assert!(
                args.contains("$(JOB_COMPLETION_INDEX)/8") && args.contains("2026-12-01T09:00:00Z"),
                "{args}"
            );
            assert_eq!(job["spec"]["completions"], 8);
            // The merge step waits beside the shards for all 8, then judges the gates.
            let merge = manifests(&dir.join("merge.yaml")).remove(0);
            let pod = &merge["spec"]["template"]["spec"];
            let args = pod["initContainers"][0]["args"].to_string();
            assert!(
                args.contains("shard-7.json") && !args.contains("shard-8.json"),
                "{args}"
            );
            assert!(args.contains("\"--wait\",\"32400s\""), "{args}");
            let gate = pod["containers"][0]["args"].to_string();
            assert!(
                gate.starts_with("[\"gate\",\"/reports/all.json\"")
                    && gate.contains("ttft.p95 < 2s"),
                "{gate}"
            );
        }
        if case == "canary" {
            // The sidecar: its config rendered, and the container to add to the server's pod
            // printed — Guaranteed-friendly, baseline-compatible, only the server's GPU.
            let notes = std::fs::read_to_string(dir.join("NOTES.txt")).unwrap();
            let block = notes.split("extraVolumes):\n").nth(1).unwrap();
            let spec: serde_json::Value =
                serde_yaml_ng::from_str(block.split("\n\n").next().unwrap()).unwrap();
            let c = &spec["containers"][0];
            assert_eq!(c["resources"]["requests"], c["resources"]["limits"], "{c}");
            assert!(c["securityContext"]["capabilities"]["add"].is_null());
            assert_eq!(c["env"][0]["value"], "1", "{c}");
            assert_eq!(
                spec["volumes"][0]["configMap"]["name"],
                "soak-test-llm-soak-sidecar"
            );
        }
        if case == "existing-config" {
            let d = manifests(&dir.join("canary.yaml"));
            let dep = d.iter().find(|d| d["kind"] == "Deployment").unwrap();
            let vols = dep["spec"]["template"]["spec"]["volumes"].to_string();
            assert!(
                vols.contains("my-llm-soak-config") && vols.contains("emptyDir"),
                "{vols}"
            );
        }
    }
    for kind in [
        "Deployment",
        "Job",
        "Service",
        "ConfigMap",
        "PersistentVolumeClaim",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
    ] {
        assert!(
            seen_kinds.contains(kind),
            "no {kind} rendered: {seen_kinds:?}"
        );
    }
}
