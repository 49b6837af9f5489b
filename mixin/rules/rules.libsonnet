local u = import '../lib/utils.libsonnet';

// Recording rules: per-account API rates and data age, for dashboards of
// many accounts and for ad-hoc queries. The alerts do not depend on them.
{
  prometheusRules+:: {
    local c = $._config,
    local sel = c.chimeSelector,
    local by = u.by(c, ['job', 'instance', 'account_id']),
    local w = c.recordingWindow,

    groups+: [
      {
        name: 'chime-exporter.rules',
        rules: [
          {
            record: 'instance_account:chime_api_requests:rate%s' % w,
            expr: 'sum by (%s) (rate(chime_api_requests_total{%s}[%s]))' % [by, sel, w],
          },
          {
            record: 'instance_account:chime_api_errors:rate%s' % w,
            expr: 'sum by (%s) (rate(chime_api_errors_total{%s}[%s]))' % [u.by(c, ['job', 'instance', 'account_id', 'error']), sel, w],
          },
          {
            record: 'instance_account:chime_data_age:seconds',
            expr: 'time() - chime_account_last_success_timestamp_seconds{%s}' % sel,
          },
        ],
      },
    ],
  },
}
