// Everything a user of the mixin may want to change, in one place. Override
// it when importing, e.g.
//   (import 'chime-exporter-mixin/mixin.libsonnet') + {
//     _config+:: { chimeSelector: 'job="chime-exporter"', clusterLabel: 'cluster' },
//   }
{
  _config+:: {
    // Selects the series of the exporter's /metrics scrapes (the exporter's
    // own metrics and the accounts' metrics).
    chimeSelector: 'job="chime"',
    // Selects the series of /probe scrapes (chime_probe_success, ...); see
    // deploy/prometheus/probe-sharded.yml.
    chimeProbeSelector: 'job="chime-bots"',

    // The label that tells clusters apart when one Prometheus (or a central
    // ruler, Thanos, Mimir) sees several. Empty: a single cluster. When set,
    // every aggregation and join also keeps this label, and the dashboard
    // gets a cluster variable.
    clusterLabel: '',

    // Each alert's runbook_url is this with the alert's anchor appended.
    runbookURLBase: 'https://github.com/example/chime-exporter/blob/main/mixin/runbook.md',

    // Thresholds. The `...For` values are the alerts' `for:` durations.
    exporterDownFor: '5m',
    // ChimeExporterAbsent in a multi-cluster setup: a cluster that had an
    // exporter within this window and has none now (absent() alone cannot
    // tell which cluster lost it).
    exporterAbsentLookback: '1d',
    exporterAbsentFor: '10m',
    accountFetchFailingFor: '15m',
    // ChimeDataStale: data older than staleTTLs x the account's cache TTL
    // (chime_account_cache_ttl_seconds) plus staleGraceSeconds (refreshes
    // are started by scrapes, so a scrape interval may pass before one).
    staleTTLs: 3,
    staleGraceSeconds: 120,
    dataStaleFor: '5m',
    // ChimeApiThrottled: share of an account's API requests throttled.
    throttledRatio: 0.1,
    throttledWindow: '15m',
    throttledFor: '15m',
    // ChimeApiErrorRatioHigh: share of an account's API requests failed
    // for another reason than throttling.
    errorRatio: 0.05,
    errorRatioWindow: '15m',
    errorRatioFor: '15m',
    // ChimeBotDisabled: a bot that became disabled within this window.
    botDisabledWindow: '15m',
    // ChimeDiscoveryFailing: chime_target_up == 0 for this long, or no
    // successful discovery round for discoveryStaleSeconds (default: 4 x
    // the default --chime.discovery-ttl of 15m).
    discoveryFailingFor: '30m',
    discoveryStaleSeconds: 3600,
    configReloadFailingFor: '10m',
    probeFailingFor: '15m',
    shardsMismatchFor: '15m',
    // ChimeExporterCannotKeepUp: chime_exporter_refresh_capacity_ratio above
    // this (1 = the rate limit is spent exactly).
    capacityRatio: 1,
    capacityFor: '15m',
    // The Chime SDK source. ChimeSdkAppInstanceDown: listing an
    // AppInstance's bots (chime_sdk_app_instance_up == 0) failing this long.
    sdkAppInstanceDownFor: '15m',
    // ChimeSdkAppInstanceStale: an AppInstance's bots last listed
    // successfully more than this many seconds ago. The exporter does not
    // export the cache TTL it uses for AppInstances (the target's cache TTL,
    // else --chime.cache-ttl), so this is a number: by default 3 x the
    // default --chime.cache-ttl of 5m (plus its 10 % jitter) and a grace of
    // 2m, rounded. Raise it with a longer cache TTL.
    sdkStaleSeconds: 1200,
    sdkStaleFor: '5m',

    // Recording rules: the window of their rates.
    recordingWindow: '5m',

    // The dashboard.
    dashboardUid: 'chime-exporter-bots',
    dashboardTitle: 'Amazon Chime bots',
    dashboardTags: ['chime', 'prometheus', 'chime_exporter'],
    dashboardRefresh: '1m',
    dashboardTimezone: '',
    dashboardFile: 'chime-bots.json',
  },
}
