// The rules of the mixin as JSON (which promtool reads as YAML), with
// _config overridden by the ext-code `overrides`; fast enough to build once
// per threshold in tests/it/prometheus.rs.
local m = (import '../mixin.libsonnet') + { _config+:: std.extVar('overrides') };

std.manifestJsonEx({ groups: m.prometheusAlerts.groups + m.prometheusRules.groups }, '  ') + '\n'
