#!/usr/bin/env python3
"""Lint and render the Helm chart with Helm v4's own engine (PyPI's helm-python-sdk, a library
over Helm's Go SDK: no helm binary, no cluster, offline), for tests/it/helm.rs:

    helm-check.py CHART OUT_DIR VALUES.yaml...

For each values file: `helm lint --strict` (any error or warning fails), then `helm template`
into OUT_DIR/<values name>/<template>.yaml (and NOTES.txt). Then the values that must be refused are rendered
and their errors checked. Prints one JSON line: {"linted": [...], "rendered": {...}, "refused": {...}}.
"""
import json
import os
import sys

import helm_python as helm


def main() -> int:
    chart_dir, out_dir, *values_files = sys.argv[1:]
    report = {"linted": [], "rendered": {}, "refused": {}}
    with helm.Chart.load(chart_dir) as chart:
        for vf in values_files:
            name = os.path.splitext(os.path.basename(vf))[0]
            with open(vf) as f:
                values = helm.values_from_yaml(f.read())
            lint = helm.lint(chart_dir, values, strict=True, namespace="llm", kube_version="v1.31.0")
            problems = [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2]
            if problems or lint.get("errors"):
                print(json.dumps({"lint_failed": name, "messages": problems, "errors": lint.get("errors")}))
                return 1
            report["linted"].append(name)
            rendered = chart.render(values, name="soak-test", namespace="llm", is_install=True)
            files = []
            for path, text in sorted(rendered.items()):
                if not text.strip():
                    continue
                target = os.path.join(out_dir, name, os.path.basename(path))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w") as f:
                    f.write(text)
                files.append(os.path.basename(path))
            report["rendered"][name] = files
        refusals = {
            "no-start": {"soak": {"enabled": True}},
            "bad-start": {"soak": {"enabled": True, "startAt": "tomorrow 9am"}},
            "no-shards": {"soak": {"enabled": True, "startAt": "2026-12-01T09:00:00Z", "shards": 0}},
        }
        for name, values in refusals.items():
            try:
                chart.render(values, name="soak-test", namespace="llm")
                report["refused"][name] = None
            except helm.HelmError as e:
                report["refused"][name] = str(e)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
