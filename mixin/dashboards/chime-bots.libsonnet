// The "Amazon Chime bots" dashboard, in plain jsonnet (no grafonnet).
local u = import '../lib/utils.libsonnet';

local ds = { type: 'prometheus', uid: '${datasource}' };

local target(expr, legend='', refId='A', table=false) =
  { datasource: ds, expr: expr, legendFormat: legend, refId: refId }
  + (if table then { format: 'table', instant: true, range: false } else {});

local refIds = ['A', 'B', 'C', 'D', 'E', 'F'];

local timeseries(title, description, unit, queries, extra={}) = {
  type: 'timeseries',
  title: title,
  description: description,
  datasource: ds,
  w:: 12,
  h:: 8,
  targets: std.mapWithIndex(function(i, q) target(q[0], q[1], refIds[i]), queries),
  fieldConfig: {
    defaults: {
      unit: unit,
      custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false },
    },
    overrides: [],
  },
  options: {
    legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
    tooltip: { mode: 'multi', sort: 'desc' },
  },
} + extra;

local stat(title, description, unit, expr, steps=[{ color: 'green', value: null }]) = {
  type: 'stat',
  title: title,
  description: description,
  datasource: ds,
  w:: 6,
  h:: 4,
  targets: [target(expr)],
  fieldConfig: {
    defaults: { unit: unit, thresholds: { mode: 'absolute', steps: steps } },
    overrides: [],
  },
  options: {
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    colorMode: 'value',
    graphMode: 'area',
    justifyMode: 'auto',
    textMode: 'auto',
    orientation: 'auto',
  },
};

local row(title) = { type: 'row', title: title, collapsed: false, panels: [], w:: 24, h:: 1 };

// Packs panels left to right into lines 24 wide, numbering them.
local layout(panels) =
  local step(acc, p) =
    local fits = acc.x + p.w <= 24;
    local x = if fits then acc.x else 0;
    local y = if fits then acc.y else acc.y + acc.lineH;
    local lineH = if fits then std.max(acc.lineH, p.h) else p.h;
    {
      x: x + p.w,
      y: y,
      lineH: lineH,
      out: acc.out + [p { id: std.length(acc.out) + 1, gridPos: { h: p.h, w: p.w, x: x, y: y } }],
    };
  std.foldl(step, panels, { x: 0, y: 0, lineH: 0, out: [] }).out;

{
  dashboard(c)::
    local cl = c.clusterLabel;
    local hasCluster = cl != '';
    local by(labels) = u.by(c, labels);
    // The exporter's series, as selected by the variables.
    local fe = std.join(', ', [c.chimeSelector]
                              + (if hasCluster then ['%s=~"$cluster"' % cl] else [])
                              + ['job=~"$job"', 'instance=~"$instance"']);
    // The same, for one family of account series.
    local f = fe + ', account_id=~"$account_id"';
    // The probe's series.
    local fp = std.join(', ', [c.chimeProbeSelector]
                              + (if hasCluster then ['%s=~"$cluster"' % cl] else [])
                              + ['account_id=~"$account_id"']);
    // Adds account_name (from chime_account_info) to each series of `expr`.
    local named(expr) =
      '%s * on (%s) group_left (account_name) chime_account_info{%s}' % [expr, by(['job', 'instance', 'account_id']), f];
    // The names of accounts, one series per account (whichever exporter
    // watches it).
    local names = 'max by (%s) (chime_account_info{%s})' % [by(['account_id', 'account_name']), f];
    local perAccount(aggr, expr) = '%s by (%s) (%s)' % [aggr, by(['account_id', 'account_name']), named(expr)];
    local accountLegend = '{{account_name}} ({{account_id}})';
    // The Chime SDK source: per AppInstance, named from
    // chime_sdk_app_instance_info (its series have no account).
    local sdkNamed(expr) =
      '%s * on (%s) group_left (name) chime_sdk_app_instance_info{%s}' % [expr, by(['job', 'instance', 'app_instance_arn']), fe];
    local perAppInstance(aggr, expr) = '%s by (%s) (%s)' % [aggr, by(['app_instance_arn', 'name']), sdkNamed(expr)];
    local appInstanceLegend = '{{name}} ({{app_instance_arn}})';
    local sdkOperations = 'operation=~"ListAppInstances|ListAppInstanceBots|DescribeAppInstanceBot"';
    local instanceLegend = (if hasCluster then '{{%s}} ' % cl else '') + '{{instance}}';

    local variable(name, label, query, multi=false) = {
      name: name,
      label: label,
      type: 'query',
      datasource: ds,
      definition: query,
      query: { query: query, refId: name },
      current: {},
      hide: 0,
      includeAll: multi,
      multi: multi,
      options: [],
      refresh: 2,
      regex: '',
      sort: 1,
    } + (if multi then { allValue: '.*' } else {});

    local clusterFilter = if hasCluster then ', %s=~"$cluster"' % cl else '';
    local accountQuery = 'query_result(label_join(chime_account_info{%s%s, job=~"$job", instance=~"$instance"}, "account_label", " · ", "account_name", "account_id"))' % [c.chimeSelector, clusterFilter];

    local panels = [
      row('Overview'),
      stat('Bots', 'Bots in the selected accounts (last successful fetch).', 'short', 'sum(chime_bots{%s})' % f),
      stat('Disabled bots', 'Disabled bots in the selected accounts.', 'short', 'sum(chime_bots_disabled{%s})' % f, [{ color: 'green', value: null }, { color: 'orange', value: 1 }]),
      stat('Disabled ratio', "Share of the selected accounts' bots that are disabled.", 'percentunit', 'sum(chime_bots_disabled{%s}) / sum(chime_bots{%s})' % [f, f]),
      stat('Accounts down', 'Selected accounts whose last fetch failed (chime_account_up == 0). They keep serving their last good data.', 'short', 'sum(1 - chime_account_up{%s})' % f, [{ color: 'green', value: null }, { color: 'red', value: 1 }]),
      timeseries('Bots per account', 'chime_bots by account.', 'short', [[perAccount('sum', 'chime_bots{%s}' % f), accountLegend]]),
      timeseries('Disabled bots per account', 'chime_bots_disabled by account.', 'short', [[perAccount('sum', 'chime_bots_disabled{%s}' % f), accountLegend]]),
      timeseries('Disabled ratio per account', 'Disabled bots / bots per account (no value for an account without bots).', 'percentunit', [[
        perAccount('sum', 'chime_bots_disabled{%s}' % f) + ' / ' + perAccount('sum', 'chime_bots{%s}' % f),
        accountLegend,
      ]]),
      timeseries('Accounts up', 'chime_account_up per account: 1 when the last fetch succeeded.', 'short', [[perAccount('max', 'chime_account_up{%s}' % f), accountLegend]], {
        fieldConfig+: { defaults+: { min: 0, max: 1, custom+: { lineInterpolation: 'stepAfter' } } },
      }),

      row('Bots'),
      {
        type: 'table',
        title: 'Bots',
        description: 'Every bot of the selected accounts: chime_bot_info joined with chime_bot_disabled, the account name (chime_account_info) and the created and updated timestamps.',
        datasource: ds,
        w:: 24,
        h:: 10,
        targets: [
          target('max by (%s) (%s * on (%s) group_left () chime_bot_disabled{%s} * on (%s) group_left (account_name) chime_account_info{%s})' % [
            by(['account_id', 'account_name', 'bot_id', 'display_name', 'bot_type', 'user_id']),
            'chime_bot_info{%s}' % f,
            by(['instance', 'job', 'account_id', 'bot_id']),
            f,
            by(['instance', 'job', 'account_id']),
            f,
          ], '', 'A', true),
          target('max by (%s) (chime_bot_created_timestamp_seconds{%s}) * 1000' % [by(['account_id', 'bot_id']), f], '', 'B', true),
          target('max by (%s) (chime_bot_updated_timestamp_seconds{%s}) * 1000' % [by(['account_id', 'bot_id']), f], '', 'C', true),
        ],
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true },
              indexByName: { display_name: 0, bot_id: 1, bot_type: 2, 'Value #A': 3, 'Value #B': 4, 'Value #C': 5, account_name: 6, account_id: 7, user_id: 8 },
              renameByName: {
                display_name: 'Display name',
                bot_id: 'Bot ID',
                bot_type: 'Type',
                'Value #A': 'Disabled',
                'Value #B': 'Created',
                'Value #C': 'Last updated',
                account_name: 'Account',
                account_id: 'Account ID',
                user_id: 'User ID',
              },
            },
          },
        ],
        fieldConfig: {
          defaults: { custom: { align: 'auto', filterable: true } },
          overrides: [
            { matcher: { id: 'byName', options: 'Created' }, properties: [{ id: 'unit', value: 'dateTimeAsIso' }] },
            { matcher: { id: 'byName', options: 'Last updated' }, properties: [{ id: 'unit', value: 'dateTimeAsIso' }] },
            {
              matcher: { id: 'byName', options: 'Disabled' },
              properties: [
                { id: 'mappings', value: [{ type: 'value', options: { '0': { text: 'no', color: 'green' }, '1': { text: 'yes', color: 'orange' } } }] },
                { id: 'custom.cellOptions', value: { type: 'color-text' } },
              ],
            },
          ],
        },
        options: { showHeader: true, sortBy: [{ displayName: 'Display name', desc: false }] },
      },

      row('Probes'),
      timeseries('Probe success', 'chime_probe_success of /probe scrapes (%s), per bot: 1 when GetBot answered. Account names come from chime_account_info of the exporters.' % c.chimeProbeSelector, 'short', [[
        'max by (%(b)s) (chime_probe_success{%(fp)s} * on (%(on)s) group_left (account_name) %(names)s)' % { b: by(['account_id', 'account_name', 'bot_id']), fp: fp, on: by(['account_id']), names: names },
        '{{account_name}} / {{bot_id}}',
      ]], { fieldConfig+: { defaults+: { min: 0, max: 1, custom+: { lineInterpolation: 'stepAfter' } } } }),
      timeseries('Probe duration', 'chime_probe_duration_seconds of /probe scrapes, per bot.', 's', [[
        'max by (%(b)s) (chime_probe_duration_seconds{%(fp)s} * on (%(on)s) group_left (account_name) %(names)s)' % { b: by(['account_id', 'account_name', 'bot_id']), fp: fp, on: by(['account_id']), names: names },
        '{{account_name}} / {{bot_id}}',
      ]]),

      row('Chime API'),
      timeseries('API requests', 'HTTP requests the exporter sent to the Chime API (each page and retry), by operation.', 'reqps', [[
        'sum by (%s) (rate(chime_api_requests_total{%s}[$__rate_interval]))' % [by(['operation']), f],
        '{{operation}}',
      ]]),
      timeseries('API errors by error', 'Failed API requests by AWS error code or failure kind.', 'reqps', [[
        'sum by (%s) (rate(chime_api_errors_total{%s}[$__rate_interval]))' % [by(['error']), f],
        '{{error}}',
      ]]),
      timeseries('Throttling', 'Requests answered with ThrottledClientException, by account, and their share of all requests.', 'reqps', [
        [perAccount('sum', 'rate(chime_api_errors_total{%s, error="ThrottledClientException"}[$__rate_interval])' % f), accountLegend],
        ['sum(rate(chime_api_errors_total{%s, error="ThrottledClientException"}[$__rate_interval])) / sum(rate(chime_api_requests_total{%s}[$__rate_interval]))' % [f, f], 'throttled share'],
      ], {
        fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'throttled share' }, properties: [{ id: 'unit', value: 'percentunit' }, { id: 'custom.axisPlacement', value: 'right' }] }] },
      }),
      timeseries('API latency p50 / p99', 'Duration of Chime API requests, from chime_api_request_duration_seconds.', 's', [
        ['histogram_quantile(0.5, sum by (%s) (rate(chime_api_request_duration_seconds_bucket{%s}[$__rate_interval])))' % [by(['le', 'operation']), fe], 'p50 {{operation}}'],
        ['histogram_quantile(0.99, sum by (%s) (rate(chime_api_request_duration_seconds_bucket{%s}[$__rate_interval])))' % [by(['le', 'operation']), fe], 'p99 {{operation}}'],
      ]),

      row('Freshness and discovery'),
      timeseries('Data age per account', 'Time since the last successful fetch of each account. It grows past the cache TTL only when fetches fail or the exporter cannot keep up.', 's', [[
        'time() - ' + perAccount('max', 'chime_account_last_success_timestamp_seconds{%s}' % f),
        accountLegend,
      ]], { w:: 8 }),
      timeseries('Data age in cache TTLs', 'Data age over chime_account_cache_ttl_seconds, per account: ChimeDataStale fires above %s (plus a grace of %ss).' % [c.staleTTLs, c.staleGraceSeconds], 'short', [[
        perAccount('max', '(time() - chime_account_last_success_timestamp_seconds{%s}) / chime_account_cache_ttl_seconds{%s}' % [f, f]),
        accountLegend,
      ]], { w:: 8 }),
      timeseries('Targets up', 'chime_target_up per target: 1 when its credentials resolved and its last discovery round succeeded.', 'short', [[
        'max by (%s) (chime_target_up{%s, target=~"$target"})' % [by(['instance', 'target']), fe],
        instanceLegend + ' {{target}}',
      ]], { w:: 8, fieldConfig+: { defaults+: { min: 0, max: 1, custom+: { lineInterpolation: 'stepAfter' } } } }),

      row('Chime SDK AppInstances'),
      timeseries('AppInstances up', 'chime_sdk_app_instance_up per Chime SDK AppInstance (named from chime_sdk_app_instance_info): 1 when the last listing of its bots succeeded. While 0 it keeps its last good bots; ChimeSdkAppInstanceDown fires after %s.' % c.sdkAppInstanceDownFor, 'short', [[
        perAppInstance('max', 'chime_sdk_app_instance_up{%s}' % fe),
        appInstanceLegend,
      ]], { w:: 8, fieldConfig+: { defaults+: { min: 0, max: 1, custom+: { lineInterpolation: 'stepAfter' } } } }),
      timeseries('Bots per AppInstance', 'chime_sdk_app_instance_bots: AppInstanceBots per AppInstance, as of its last successful listing.', 'short', [[
        perAppInstance('sum', 'chime_sdk_app_instance_bots{%s}' % fe),
        appInstanceLegend,
      ]], { w:: 8 }),
      timeseries('AppInstance data age', 'Time since the last successful listing of each AppInstance (time() - chime_sdk_app_instance_last_success_timestamp_seconds). ChimeSdkAppInstanceStale fires above %ss.' % c.sdkStaleSeconds, 's', [[
        'time() - ' + perAppInstance('max', 'chime_sdk_app_instance_last_success_timestamp_seconds{%s}' % fe),
        appInstanceLegend,
      ]], { w:: 8 }),
      {
        type: 'table',
        title: 'AppInstanceBots',
        description: 'Every AppInstanceBot of the watched Chime SDK AppInstances: chime_sdk_app_instance_bot_info (its Lex configuration from DescribeAppInstanceBot, empty until described) with the AppInstance name (chime_sdk_app_instance_info) and the created and updated timestamps.',
        datasource: ds,
        w:: 24,
        h:: 8,
        targets: [
          target('max by (%s) (chime_sdk_app_instance_bot_info{%s} * on (%s) group_left (app_instance_name) label_join(chime_sdk_app_instance_info{%s}, "app_instance_name", "", "name"))' % [
            by(['app_instance_arn', 'app_instance_name', 'app_instance_bot_arn', 'name', 'lex_bot_alias_arn', 'locale_id', 'standard_messages', 'targeted_messages']),
            fe,
            by(['job', 'instance', 'app_instance_arn']),
            fe,
          ], '', 'A', true),
          target('max by (%s) (chime_sdk_app_instance_bot_created_timestamp_seconds{%s}) * 1000' % [by(['app_instance_arn', 'app_instance_bot_arn']), fe], '', 'B', true),
          target('max by (%s) (chime_sdk_app_instance_bot_updated_timestamp_seconds{%s}) * 1000' % [by(['app_instance_arn', 'app_instance_bot_arn']), fe], '', 'C', true),
        ],
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true, 'Value #A': true },
              indexByName: {
                name: 0,
                lex_bot_alias_arn: 1,
                locale_id: 2,
                standard_messages: 3,
                targeted_messages: 4,
                'Value #B': 5,
                'Value #C': 6,
                app_instance_name: 7,
                app_instance_arn: 8,
                app_instance_bot_arn: 9,
              },
              renameByName: {
                name: 'Name',
                lex_bot_alias_arn: 'Lex bot alias',
                locale_id: 'Locale',
                standard_messages: 'Standard messages',
                targeted_messages: 'Targeted messages',
                'Value #B': 'Created',
                'Value #C': 'Last updated',
                app_instance_name: 'AppInstance',
                app_instance_arn: 'AppInstance ARN',
                app_instance_bot_arn: 'AppInstanceBot ARN',
              },
            },
          },
        ],
        fieldConfig: {
          defaults: { custom: { align: 'auto', filterable: true } },
          overrides: [
            { matcher: { id: 'byName', options: 'Created' }, properties: [{ id: 'unit', value: 'dateTimeAsIso' }] },
            { matcher: { id: 'byName', options: 'Last updated' }, properties: [{ id: 'unit', value: 'dateTimeAsIso' }] },
          ],
        },
        options: { showHeader: true, sortBy: [{ displayName: 'Name', desc: false }] },
      },
      timeseries('SDK API requests', 'Requests the exporter sent to the Chime SDK Identity API (each page and retry), by operation: ListAppInstances once per discovery TTL, ListAppInstanceBots once per AppInstance per cache TTL, DescribeAppInstanceBot per bot per --chime-sdk.describe-ttl.', 'reqps', [[
        'sum by (%s) (rate(chime_api_requests_total{%s, %s}[$__rate_interval]))' % [by(['operation']), fe, sdkOperations],
        '{{operation}}',
      ]]),
      timeseries('SDK API errors', 'Failed Chime SDK Identity API requests, by operation and AWS error code or failure kind.', 'reqps', [[
        'sum by (%s) (rate(chime_api_errors_total{%s, %s}[$__rate_interval]))' % [by(['operation', 'error']), fe, sdkOperations],
        '{{operation}} {{error}}',
      ]]),

      row('Exporter'),
      timeseries('Cache hit ratio', 'Share of per-account cache lookups answered without an API fetch.', 'percentunit', [[
        'sum(rate(chime_cache_hits_total{%s}[$__rate_interval])) / sum(rate(chime_cache_requests_total{%s}[$__rate_interval]))' % [fe, fe],
        'hit ratio',
      ]], { w:: 8 }),
      timeseries('Refresh capacity ratio', 'chime_exporter_refresh_capacity_ratio: API calls per second the watched accounts need over --chime.rate-limit. Above %s, ChimeExporterCannotKeepUp.' % c.capacityRatio, 'short', [[
        'max by (%s) (chime_exporter_refresh_capacity_ratio{%s})' % [by(['instance']), fe],
        instanceLegend,
      ]], { w:: 8 }),
      {
        type: 'table',
        title: 'Exporter build',
        description: "chime_exporter_build_info of each exporter instance, with its shard. The instance links to the exporter's /status page.",
        datasource: ds,
        w:: 8,
        h:: 8,
        targets: [target('chime_exporter_build_info{%s}' % fe, '', 'A', true)],
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true } } }],
        fieldConfig: {
          defaults: {},
          overrides: [{
            matcher: { id: 'byName', options: 'instance' },
            properties: [{ id: 'links', value: [{ title: 'Status page', url: 'http://${__value.raw}/status', targetBlank: true }] }],
          }],
        },
        options: { showHeader: true },
      },
      timeseries('Resident memory', 'process_resident_memory_bytes of each exporter.', 'bytes', [[
        'max by (%s) (process_resident_memory_bytes{%s})' % [by(['instance']), fe],
        instanceLegend,
      ]], { w:: 8 }),
      timeseries('CPU', 'CPU seconds per second (process_cpu_seconds_total) of each exporter.', 'short', [[
        'sum by (%s) (rate(process_cpu_seconds_total{%s}[$__rate_interval]))' % [by(['instance']), fe],
        instanceLegend,
      ]], { w:: 8 }),
      timeseries('HTTP requests by code', "The exporter's own answers (chime_exporter_http_requests_total), by handler and code.", 'reqps', [[
        'sum by (%s) (rate(chime_exporter_http_requests_total{%s}[$__rate_interval]))' % [by(['instance', 'handler', 'code']), fe],
        instanceLegend + ' {{handler}} {{code}}',
      ]], { w:: 8 }),
      timeseries('Config reloads', 'Whether the last reload of --config.file and of --web.config.file succeeded (1) or not (0).', 'short', [
        ['max by (%s) (chime_exporter_config_last_reload_successful{%s})' % [by(['instance']), fe], instanceLegend + ' config.file'],
        ['max by (%s) (chime_exporter_web_config_last_reload_successful{%s})' % [by(['instance']), fe], instanceLegend + ' web.config.file'],
      ], { w:: 8, fieldConfig+: { defaults+: { min: 0, max: 1, custom+: { lineInterpolation: 'stepAfter' } } } }),
      timeseries('Shards', 'chime_exporter_shards and chime_exporter_shard_ordinal of each exporter: every ordinal below the count should be scraped once.', 'short', [
        ['max by (%s) (chime_exporter_shards{%s})' % [by(['instance']), fe], instanceLegend + ' shards'],
        ['max by (%s) (chime_exporter_shard_ordinal{%s})' % [by(['instance']), fe], instanceLegend + ' ordinal'],
      ], { w:: 8 }),
    ];

    {
      __inputs: [],
      annotations: {
        list: [{
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        }],
      },
      description: 'Amazon Chime bots and the chime_exporter that watches them.',
      editable: true,
      graphTooltip: 1,
      links: [
        {
          title: 'Exporter status ($instance)',
          type: 'link',
          url: 'http://${instance}/status',
          targetBlank: true,
          icon: 'info',
          tooltip: "The exporter's /status page (one instance selected; adjust the scheme behind TLS).",
          asDropdown: false,
          includeVars: false,
          keepTime: false,
          tags: [],
        },
      ],
      panels: layout(panels),
      refresh: c.dashboardRefresh,
      schemaVersion: 39,
      tags: c.dashboardTags,
      templating: {
        list: [
          {
            name: 'datasource',
            label: 'Data source',
            type: 'datasource',
            query: 'prometheus',
            current: {},
            hide: 0,
            includeAll: false,
            multi: false,
            options: [],
            refresh: 1,
            regex: '',
          },
        ] + (if hasCluster then [
               variable('cluster', 'Cluster', 'label_values(chime_exporter_build_info{%s}, %s)' % [c.chimeSelector, cl]),
             ] else []) + [
          variable('job', 'Job', 'label_values(chime_exporter_build_info{%s%s}, job)' % [c.chimeSelector, clusterFilter]),
          variable('instance', 'Instance', 'label_values(chime_exporter_build_info{%s%s, job=~"$job"}, instance)' % [c.chimeSelector, clusterFilter], true),
          variable('target', 'Target', 'label_values(chime_target_up{%s%s, job=~"$job", instance=~"$instance"}, target)' % [c.chimeSelector, clusterFilter], true),
          variable('account_id', 'Account', accountQuery, true) {
            // Names beside ids: the value is the id, the text "name · id".
            regex: '/account_id="(?<value>[^"]*)".*account_label="(?<text>[^"]*)"/',
          },
        ],
      },
      time: { from: 'now-6h', to: 'now' },
      timepicker: {},
      timezone: c.dashboardTimezone,
      title: c.dashboardTitle,
      uid: c.dashboardUid,
      version: 1,
      weekStart: '',
    },
}
