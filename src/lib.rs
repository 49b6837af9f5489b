//! chime_exporter: a Prometheus exporter for the Amazon Chime administration
//! API.
//!
//! The pieces, one module each:
//! * [`config`]: flags and their validation;
//! * [`chime`]: the AWS SDK client (pagination, retries, error classes, API
//!   metrics);
//! * [`cache`]: the moka cache between scrapes and the API;
//! * [`metrics`]: metric families and the exposition;
//! * [`server`]: the hyper HTTP server;
//! * [`demo`]: the fake Chime API behind `--demo` and the tests;
//! * [`logging`]: logfmt and JSON logs.

pub mod cache;
pub mod chime;
pub mod config;
pub mod demo;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod webconfig;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::cache::BotCache;
use crate::chime::{ApiSettings, ChimeApi};
use crate::config::Config;
use crate::metrics::ExporterMetrics;
use crate::server::App;

/// How often the demo data changes.
pub const DEMO_CHANGE_INTERVAL: Duration = Duration::from_secs(15);

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

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Runs the exporter until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let metrics = Arc::new(ExporterMetrics::new());
    let demo = if config.demo {
        Some(
            demo::Demo::start(DEMO_CHANGE_INTERVAL)
                .await
                .map_err(RunError::Demo)?,
        )
    } else {
        None
    };
    let mut settings = ApiSettings {
        region: config.region.clone(),
        endpoint_url: config.endpoint_url.clone(),
        max_results: config.max_results,
        timeout: config.timeout,
        concurrency: config.concurrency,
        rate_limit: config.rate_limit,
        static_credentials: None,
    };
    let mut accounts = config.account_ids.clone();
    if let Some(demo) = &demo {
        settings.endpoint_url = Some(demo.fake.url());
        settings.static_credentials = Some(("DEMOACCESSKEY".into(), "demo-secret".into()));
        if accounts.is_empty() {
            accounts = demo.fake.account_ids();
        }
        tracing::info!(endpoint = %demo.fake.url(), accounts = accounts.len(), "demo mode: serving generated data from an embedded fake Chime API");
    }
    let api = ChimeApi::connect(&settings, Arc::clone(&metrics.api)).await;
    let cache = BotCache::new(api, accounts, config.cache, Arc::clone(&metrics));
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
        accounts = cache.accounts().len(),
        version = metrics::build::VERSION,
        "listening"
    );
    let warm = Arc::clone(&cache);
    tokio::spawn(async move { warm.warm_up().await });
    let app = Arc::new(App::new(cache, metrics, config.web.clone(), config.timeout));
    server::serve(listener, app, shutdown)
        .await
        .map_err(RunError::Serve)?;
    drop(demo);
    Ok(())
}
