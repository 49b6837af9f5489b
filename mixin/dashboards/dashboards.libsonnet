{
  grafanaDashboards+:: {
    [$._config.dashboardFile]: (import 'chime-bots.libsonnet').dashboard($._config),
  },
}
