//! chime_exporter: a Prometheus exporter for the Amazon Chime administration
//! API.
//!
//! The pieces, one module each:
//! * [`config`]: flags and their validation;
//! * [`chime`]: the AWS SDK client (pagination, retries, error classes, API
//!   metrics);
//! * [`bots`]: what is kept of bots, packed per account;
//! * [`cache`]: the moka cache between scrapes and the API;
//! * [`metrics`]: metric families and the exposition;
//! * [`render`]: the account families rendered per account and assembled per
//!   scrape; [`gzip`]: one gzip member from pieces compressed once;
//! * [`server`]: the hyper HTTP server;
//! * [`demo`]: the fake Chime API behind `--demo` and the tests;
//! * [`logging`]: logfmt and JSON logs;
//! * [`memory`]: giving freed heap pages back to the system.

pub mod bots;
pub mod cache;
pub mod chime;
pub mod config;
pub mod config_file;
pub mod demo;
pub mod discovery;
pub mod gzip;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod probe;
pub mod render;
pub mod server;
pub mod shard;
pub mod webconfig;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::cache::BotCache;
use crate::chime::ApiLimits;
use crate::config::Config;
use crate::discovery::{Discovery, TargetFactory};
use crate::metrics::ExporterMetrics;
use crate::server::App;

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
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

/// Runs the exporter until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let metrics = Arc::new(ExporterMetrics::new());
    memory::start_trimming();
    let demo = if config.demo {
        Some(
            demo::Demo::start(&config.demo_options)
                .await
                .map_err(RunError::Demo)?,
        )
    } else {
        None
    };
    let mut factory = TargetFactory {
        endpoint_url: config.endpoint_url.clone(),
        timeout: config.timeout,
        error_backoff: config.error_backoff,
        static_credentials: None,
        limits: ApiLimits::new(config.concurrency, config.rate_limit),
        metrics: Arc::clone(&metrics.api),
    };
    if let Some(demo) = &demo {
        factory.endpoint_url = Some(demo.fake.url());
        factory.static_credentials = Some(("DEMOACCESSKEY".into(), "demo-secret".into()));
        tracing::info!(endpoint = %demo.fake.url(), "demo mode: serving generated data from an embedded fake Chime API");
    }
    // SIGHUP's default action ends the process: take it over first.
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let targets = factory.build_all(&config.targets).await;
    let cache = BotCache::new(Arc::clone(&metrics));
    let discovery = Discovery::new(cache, targets, config.shard);
    metrics.set_shard(config.shard);
    let listener = TcpListener::bind(config.web.listen_address)
        .await
        .map_err(|source| RunError::Listen {
            addr: config.web.listen_address,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(config.web.listen_address);
    tracing::info!(
        address = %local,
        telemetry_path = %config.web.telemetry_path,
        targets = config.targets.len(),
        version = metrics::build::VERSION,
        "listening"
    );
    tokio::spawn(Arc::clone(&discovery).run());
    let app = Arc::new(App::new(
        discovery,
        factory,
        metrics,
        config.web.clone(),
        config.timeout,
        config.config_file.clone(),
    ));
    #[cfg(unix)]
    {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let Some(mut hup) = hangups else {
                return;
            };
            while hup.recv().await.is_some() {
                if let Err(e) = app.reload().await {
                    tracing::error!(error = %e, "reload on SIGHUP failed; the previous configuration stays");
                }
            }
        });
    }
    server::serve(listener, app, shutdown)
        .await
        .map_err(RunError::Serve)?;
    drop(demo);
    Ok(())
}
