//! The wiring: builds every layer from the [`Config`], starts the background
//! tasks, and serves until shutdown. The only place that knows all the
//! layers, and the only place (besides tests) that reaches the fake API, for
//! `--demo`.

use std::sync::Arc;

use crate::api::{ApiLimits, ApiMetrics};
use crate::collect::{BotCache, Discovery, Prober, Reloader, SdkCache, SdkTarget, TargetFactory};
use crate::config::{Config, DemoSettings};
use crate::expose::{
    Exposition, SdkRenderSettings, SdkRenderer, Sources, StatusSources, Telemetry,
};
use crate::fake::{Demo, DemoOptions};
use crate::http::{ListenError, Listeners, State};
use crate::version as build;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Listen(#[from] ListenError),
    #[error("cannot start the demo API: {0}")]
    Demo(std::io::Error),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called (inside the runtime), not when the future is first polled, so a
/// signal that arrives while the exporter starts is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn demo_options(settings: &DemoSettings) -> DemoOptions {
    DemoOptions {
        accounts: settings.accounts,
        bots_per_account: settings.bots_per_account,
        latency: settings.latency,
        throttle_ratio: settings.throttle_ratio,
        ..DemoOptions::default()
    }
}

/// The Chime SDK source: its targets' clients (through the same limits
/// and counters as Chime's) and its cache; empty when the source is off.
/// With `--demo`, its client goes to the embedded fake as Chime's does.
async fn build_sdk(config: &Config, factory: &TargetFactory) -> Arc<SdkCache> {
    let configs = config.effective_sdk_targets();
    let mut targets = Vec::with_capacity(configs.len());
    for target in &configs {
        targets.push(SdkTarget::build(target, factory).await);
    }
    SdkCache::new(targets, config.shard)
}

/// `chime_exporter check`: the report, and its exit status (0 or 1).
pub async fn check(
    config: &Config,
    output: crate::check::Output,
) -> Result<(String, u8), RunError> {
    let demo = match &config.demo {
        Some(settings) => Some(
            Demo::start(&demo_options(settings))
                .await
                .map_err(RunError::Demo)?,
        ),
        None => None,
    };
    let endpoint = demo.as_ref().map(|d| d.fake.url());
    let credentials = demo
        .as_ref()
        .map(|_| ("DEMOACCESSKEY".to_owned(), "demo-secret".to_owned()));
    let report = crate::check::run(config, endpoint, credentials).await;
    Ok((report.render(output), report.exit_code()))
}

/// Runs the exporter until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    crate::memory::start_trimming();
    let demo = match &config.demo {
        Some(settings) => Some(
            Demo::start(&demo_options(settings))
                .await
                .map_err(RunError::Demo)?,
        ),
        None => None,
    };
    let api_metrics = Arc::new(ApiMetrics::default());
    let mut factory = TargetFactory {
        endpoint_url: config.endpoint_url.clone(),
        timeout: config.timeout,
        error_backoff: config.error_backoff,
        rate_limit: config.rate_limit,
        static_credentials: None,
        sts_endpoint_url: None,
        limits: ApiLimits::new(config.concurrency, config.rate_limit),
        metrics: Arc::clone(&api_metrics),
    };
    if let Some(demo) = &demo {
        factory.endpoint_url = Some(demo.fake.url());
        factory.sts_endpoint_url = Some(demo.fake.url());
        factory.static_credentials = Some(("DEMOACCESSKEY".into(), "demo-secret".into()));
        tracing::info!(endpoint = %demo.fake.url(), "demo mode: serving generated data from an embedded fake Chime API");
    }
    // SIGHUP's default action ends the process: take it over first.
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let targets = factory.build_all(&config.targets).await;
    let sdk_cache = build_sdk(&config, &factory).await;
    tokio::spawn(Arc::clone(&sdk_cache).run_discovery());
    let cache = BotCache::new(
        Arc::clone(&api_metrics),
        config.rate_limit,
        config.concurrency,
    );
    sdk_cache.report_demand_to(Arc::clone(&cache));
    let discovery = Discovery::new(Arc::clone(&cache), targets, config.shard);
    let listener = if config.web.systemd_socket {
        Listeners::from_systemd()?
    } else {
        Listeners::bind(&config.web.listen_addresses).await?
    };
    for local in listener.local_addrs() {
        tracing::info!(
            address = %local,
            telemetry_path = %config.web.telemetry_path,
            targets = config.targets.len(),
            version = build::VERSION,
            "listening"
        );
    }
    tokio::spawn(Arc::clone(&discovery).run());
    let with_aws = config.config_file.is_some();
    let reloader = Arc::new(Reloader::new(
        config.config_file.clone(),
        config.target_defaults.clone(),
        config.targets.clone(),
        factory,
        Arc::clone(&discovery),
    ));
    let sources = Sources {
        config: reloader.status(),
        web_config: config.web.config.status(),
        discovery: Some(Arc::clone(&discovery)),
        cache: Some(Arc::clone(&cache)),
    };
    let status = StatusSources {
        cache: Arc::clone(&cache),
        discovery: Arc::clone(&discovery),
        config: reloader.status(),
        web_config: config.web.config.status(),
        shard: config.shard,
        sdk: Some(Arc::clone(&sdk_cache)),
    };
    let telemetry = Telemetry::new(&api_metrics, cache.stats(), config.shard, sources);
    let http_requests = telemetry.http_requests();
    let state = Arc::new(State::new(
        Arc::clone(&cache),
        Exposition::new(cache, telemetry, with_aws, config.collectors).with_sdk(SdkRenderer::new(
            sdk_cache,
            SdkRenderSettings {
                // Both `Name`s are sensitive in the model: the switch that
                // leaves Chime bots' `DisplayName` out leaves them out too.
                drop_names: !config.collectors.display_names,
            },
        )),
        Prober::new(discovery, config.probe),
        Arc::clone(&reloader),
        config.web.clone(),
        config.timeout,
        with_aws,
        status,
        http_requests,
    ));
    #[cfg(unix)]
    tokio::spawn(async move {
        let Some(mut hup) = hangups else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(e) = reloader.reload().await {
                tracing::error!(error = %e, "reload on SIGHUP failed; the previous configuration stays");
            }
        }
    });
    crate::http::serve(listener, state, shutdown)
        .await
        .map_err(RunError::Serve)?;
    drop(demo);
    Ok(())
}
