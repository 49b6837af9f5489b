local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.chimeSelector,
    local by(labels) = u.by(c, labels),
    local where = u.clusterText(c),
    local alert(name, expr, severity, summary, description, forDuration=null) =
      {
        alert: name,
        expr: expr,
      } + (if forDuration != null then { 'for': forDuration } else {}) + {
        labels: { severity: severity },
        annotations: {
          summary: summary,
          description: description,
          runbook_url: u.runbook(c, std.asciiLower(name)),
        },
      },

    groups+: [
      {
        name: 'chime-exporter',
        rules: [
          alert(
            'ChimeExporterDown',
            'up{%s} == 0' % sel,
            'critical',
            'chime_exporter {{ $labels.instance }} is down',
            'Prometheus has not been able to scrape chime_exporter at {{ $labels.instance }} (job {{ $labels.job }})%s for %s. No Chime bot metrics are being collected from it.' % [where, c.exporterDownFor],
            c.exporterDownFor,
          ),
          alert(
            'ChimeExporterAbsent',
            if c.clusterLabel == '' then
              'absent(up{%s})' % sel
            else
              |||
                absent(up{%(sel)s})
                or
                (
                  group by (%(cluster)s) (last_over_time(up{%(sel)s}[%(lookback)s]))
                  unless
                  group by (%(cluster)s) (up{%(sel)s})
                )
              ||| % { sel: sel, cluster: c.clusterLabel, lookback: c.exporterAbsentLookback },
            'critical',
            'No chime_exporter target is scraped%s' % where,
            'Prometheus has no scrape target matching {%s}%s: the exporter vanished from service discovery (or was never configured), so ChimeExporterDown cannot fire and no Chime metrics are collected.' % [sel, where],
            c.exporterAbsentFor,
          ),
          alert(
            'ChimeAccountFetchFailing',
            'chime_account_up{%s} == 0' % sel,
            'warning',
            'Chime account {{ $labels.account_id }} cannot be fetched',
            'Every fetch of the bots of Chime account {{ $labels.account_id }} by {{ $labels.instance }}%s has failed for %s; the exporter keeps serving its last good data. chime_account_last_error_info{account_id="{{ $labels.account_id }}"} says why.' % [where, c.accountFetchFailingFor],
            c.accountFetchFailingFor,
          ),
          alert(
            'ChimeDataStale',
            |||
              (time() - chime_account_last_success_timestamp_seconds{%(sel)s})
                > (%(ttls)s * chime_account_cache_ttl_seconds{%(sel)s} + %(grace)s)
            ||| % { sel: sel, ttls: c.staleTTLs, grace: c.staleGraceSeconds },
            'warning',
            'Chime data for account {{ $labels.account_id }} is stale',
            'The bots of Chime account {{ $labels.account_id }} on {{ $labels.instance }}%s were last fetched successfully {{ $value | humanizeDuration }} ago, more than %s times the cache TTL the exporter uses for the account plus %ss.' % [where, c.staleTTLs, c.staleGraceSeconds],
            c.dataStaleFor,
          ),
          alert(
            'ChimeApiThrottled',
            |||
              (
                sum by (%(by)s) (rate(chime_api_errors_total{%(sel)s, error="ThrottledClientException"}[%(w)s]))
              /
                sum by (%(by)s) (rate(chime_api_requests_total{%(sel)s}[%(w)s]))
              ) > %(t)s
            ||| % { sel: sel, by: by(['job', 'instance', 'account_id']), w: c.throttledWindow, t: c.throttledRatio },
            'warning',
            'The Chime API is throttling the exporter for account {{ $labels.account_id }}',
            "{{ $value | humanizePercentage }} of the Chime API requests of {{ $labels.instance }}%s for account {{ $labels.account_id }} were throttled (ThrottledClientException) over the last %s. Raise --chime.cache-ttl or lower the number of exporters sharing the account's API quota." % [where, c.throttledWindow],
            c.throttledFor,
          ),
          alert(
            'ChimeApiErrorRatioHigh',
            |||
              (
                sum by (%(by)s) (rate(chime_api_errors_total{%(sel)s, error!="ThrottledClientException"}[%(w)s]))
              /
                sum by (%(by)s) (rate(chime_api_requests_total{%(sel)s}[%(w)s]))
              ) > %(t)s
            ||| % { sel: sel, by: by(['job', 'instance', 'account_id']), w: c.errorRatioWindow, t: c.errorRatio },
            'warning',
            'Chime API calls fail for {{ with $labels.account_id }}account {{ . }}{{ else }}ListAccounts{{ end }}',
            '{{ $value | humanizePercentage }} of the Chime API requests of {{ $labels.instance }}%s for {{ with $labels.account_id }}account {{ . }}{{ else }}ListAccounts (and accounts it does not watch){{ end }} failed with an error other than throttling over the last %s. chime_api_errors_total by error says which.' % [where, c.errorRatioWindow],
            c.errorRatioFor,
          ),
          alert(
            'ChimeBotDisabled',
            |||
              (
                chime_bot_disabled{%(sel)s} == 1
                and
                (chime_bot_disabled{%(sel)s} offset %(w)s) == 0
              )
              * on (%(on)s) group_left (display_name)
                chime_bot_info{%(sel)s}
            ||| % { sel: sel, w: c.botDisabledWindow, on: by(['instance', 'job', 'account_id', 'bot_id']) },
            'info',
            'Chime bot {{ $labels.display_name }} was disabled',
            'Bot {{ $labels.bot_id }} ({{ $labels.display_name }}) of Chime account {{ $labels.account_id }}%s became disabled within the last %s.' % [where, c.botDisabledWindow],
          ),
          alert(
            'ChimeDiscoveryFailing',
            |||
              chime_target_up{%(sel)s} == 0
              or
              (time() - chime_discovery_last_success_timestamp_seconds{%(sel)s}) > %(stale)s
            ||| % { sel: sel, stale: c.discoveryStaleSeconds },
            'warning',
            'Discovery of target {{ $labels.target }} is failing',
            'chime_exporter {{ $labels.instance }}%s cannot list the accounts of target {{ $labels.target }} (its credentials did not resolve, or ListAccounts/GetAccount failed), or its last successful discovery is older than %ss. Accounts it discovers are neither added nor removed meanwhile.' % [where, c.discoveryStaleSeconds],
            c.discoveryFailingFor,
          ),
          alert(
            'ChimeConfigReloadFailing',
            |||
              label_replace(chime_exporter_config_last_reload_successful{%(sel)s} == 0, "config", "--config.file", "", "")
              or
              label_replace(chime_exporter_web_config_last_reload_successful{%(sel)s} == 0, "config", "--web.config.file", "", "")
            ||| % { sel: sel },
            'warning',
            'chime_exporter {{ $labels.instance }} cannot reload {{ $labels.config }}',
            'The last reload of {{ $labels.config }} by chime_exporter {{ $labels.instance }}%s failed (or, for the web config, would have weakened it); the exporter keeps running with the previous configuration. The reason is in its log.' % where,
            c.configReloadFailingFor,
          ),
          alert(
            'ChimeProbeFailing',
            'chime_probe_success{%s} == 0' % c.chimeProbeSelector,
            'warning',
            'Probes of Chime bot {{ $labels.bot_id }} fail',
            'Every /probe of bot {{ $labels.bot_id }}{{ with $labels.account_id }} of account {{ . }}{{ end }} through {{ $labels.instance }} (job {{ $labels.job }})%s has failed for %s: GetBot did not answer, or the bot or account is unknown.' % [where, c.probeFailingFor],
            c.probeFailingFor,
          ),
          alert(
            'ChimeExporterShardsMismatch',
            |||
              stdvar by (%(by)s) (chime_exporter_shards{%(sel)s}) != 0
              or
              (
                max by (%(by)s) (chime_exporter_shards{%(sel)s})
                >
                count by (%(by)s) (count_values by (%(by)s) ("shard", chime_exporter_shard_ordinal{%(sel)s}))
              )
            ||| % { sel: sel, by: by(['job']) },
            'critical',
            'chime_exporter shards of job {{ $labels.job }} disagree or are missing',
            'The exporters scraped by job {{ $labels.job }}%s disagree on chime_exporter_shards, or fewer distinct shards are scraped than chime_exporter_shards says exist: the accounts of the missing shards are not watched by anyone.' % where,
            c.shardsMismatchFor,
          ),
          alert(
            'ChimeExporterCannotKeepUp',
            'chime_exporter_refresh_capacity_ratio{%s} > %s' % [sel, c.capacityRatio],
            'warning',
            'chime_exporter {{ $labels.instance }} cannot refresh every account within its TTL',
            'chime_exporter {{ $labels.instance }}%s needs {{ $value | humanize }} times the API calls per second its --chime.rate-limit allows to refresh every account within its cache TTL; data ages past the TTL. Its log names a rate, a TTL or a shard count that would fit.' % where,
            c.capacityFor,
          ),
          alert(
            'ChimeSdkAppInstanceDown',
            |||
              (chime_sdk_app_instance_up{%(sel)s} == 0)
              * on (%(on)s) group_left (name)
                chime_sdk_app_instance_info{%(sel)s}
            ||| % { sel: sel, on: by(['job', 'instance', 'app_instance_arn']) },
            'warning',
            'Chime SDK AppInstance {{ with $labels.name }}{{ . }}{{ else }}{{ $labels.app_instance_arn }}{{ end }} cannot be listed',
            'Every listing of the AppInstanceBots of Chime SDK AppInstance {{ $labels.app_instance_arn }}{{ with $labels.name }} ({{ . }}){{ end }} by {{ $labels.instance }}%s has failed for %s; the exporter keeps serving its last good bots. chime_api_errors_total{operation="ListAppInstanceBots"} by error says why.' % [where, c.sdkAppInstanceDownFor],
            c.sdkAppInstanceDownFor,
          ),
          alert(
            'ChimeSdkAppInstanceStale',
            |||
              ((time() - chime_sdk_app_instance_last_success_timestamp_seconds{%(sel)s}) > %(stale)s)
              * on (%(on)s) group_left (name)
                chime_sdk_app_instance_info{%(sel)s}
            ||| % { sel: sel, stale: c.sdkStaleSeconds, on: by(['job', 'instance', 'app_instance_arn']) },
            'warning',
            'Chime SDK data for AppInstance {{ with $labels.name }}{{ . }}{{ else }}{{ $labels.app_instance_arn }}{{ end }} is stale',
            'The AppInstanceBots of Chime SDK AppInstance {{ $labels.app_instance_arn }}{{ with $labels.name }} ({{ . }}){{ end }} on {{ $labels.instance }}%s were last listed successfully {{ $value | humanizeDuration }} ago, more than %ss.' % [where, c.sdkStaleSeconds],
            c.sdkStaleFor,
          ),
        ],
      },
    ],
  },
}
