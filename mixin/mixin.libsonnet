// chime_exporter's monitoring mixin: alerts, recording rules and the
// dashboard, configured in config.libsonnet.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
