// Small helpers shared by the alerts, the rules and the dashboard.
{
  // The labels to aggregate or join by: the cluster label (when set) first.
  by(config, labels)::
    std.join(', ', (if config.clusterLabel != '' then [config.clusterLabel] else []) + labels),

  // A selector: the exporter's selector, plus more matchers.
  sel(selector, matchers=[])::
    std.join(', ', [selector] + matchers),

  // "{{ $labels.cluster }}" text for annotations, or nothing.
  clusterText(config)::
    if config.clusterLabel != '' then
      '{{ with $labels.%s }} in cluster {{ . }}{{ end }}' % config.clusterLabel
    else '',

  runbook(config, anchor):: config.runbookURLBase + '#' + anchor,
}
