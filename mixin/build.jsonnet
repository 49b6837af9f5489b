// Every file the mixin generates, by path from the repository's root:
//   jsonnet -S -m . --ext-code overrides='{}' mixin/build.jsonnet
// (mixin/build.sh does this). `overrides` is merged into _config (the
// tests use it to show that each threshold matters).
local overrides = std.extVar('overrides');
local mixin = (import 'mixin.libsonnet') + { _config+:: overrides };
local cluster = (import 'mixin.libsonnet') + { _config+:: overrides { clusterLabel: 'cluster' } };

local groups(m) = m.prometheusAlerts.groups + m.prometheusRules.groups;
local yaml(x) = std.manifestYamlDoc(x, indent_array_in_object=true, quote_keys=false) + '\n';
local generated = '# Generated from mixin/ by mixin/build.sh: edit the mixin, not this file.\n';

{
  'deploy/prometheus/rules.yml': generated + yaml({ groups: groups(mixin) }),
  'mixin/tests/rules-cluster.yml':
    generated + '# The rules with clusterLabel: "cluster", for mixin/tests/rules-cluster_test.yml.\n'
    + yaml({ groups: groups(cluster) }),
  'deploy/kubernetes/prometheusrule.yaml': generated + yaml({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'chime-exporter',
      labels: { 'app.kubernetes.io/name': 'chime-exporter' },
    },
    spec: { groups: groups(mixin) },
  }),
  'dashboards/chime-bots.json': std.manifestJsonEx(mixin.grafanaDashboards['chime-bots.json'], '  ') + '\n',
}
