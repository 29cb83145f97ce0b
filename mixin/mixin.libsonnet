// llm-soak's monitoring mixin: `_config` (config.libsonnet), `prometheusRules` (recording
// rules), `prometheusAlerts` (alerts) and `prometheusRuleTests` (their promtool unit tests,
// tests.libsonnet). scripts/render-mixin.py renders everything committed; the Grafana dashboards
// are built by scripts/gen-dashboards.py.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'tests.libsonnet')
