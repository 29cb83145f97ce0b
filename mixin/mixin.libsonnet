// llm-soak's monitoring mixin: `_config` (config.libsonnet), `prometheusRules` (recording
// rules), `prometheusAlerts` (alerts). The Grafana dashboards are built from the same `_config`
// by scripts/gen-dashboards.py; scripts/render-mixin.py renders everything committed.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet')
