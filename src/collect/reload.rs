//! Reading `--config.file` again while running (SIGHUP, `POST /-/reload`):
//! the new targets replace the old ones in discovery; accounts that stay
//! keep their cached data. A bad file changes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use super::discovery::Discovery;
use super::target::TargetFactory;
use crate::config::{
    load_targets_file, ConfigFileError, ReloadStatus, TargetConfig, TargetDefaults,
};

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("there is no --config.file to reload")]
    NoFile,
    #[error(transparent)]
    Invalid(#[from] ConfigFileError),
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// New targets, this many.
    Changed(usize),
    /// The file says what it said: nothing was rebuilt.
    Unchanged,
}

/// Reloads the targets file; one reload at a time.
#[derive(Debug)]
pub struct Reloader {
    path: Option<PathBuf>,
    defaults: TargetDefaults,
    factory: TargetFactory,
    discovery: Arc<Discovery>,
    /// The targets in force, as configured; held during a reload, so
    /// reloads run one at a time.
    current: tokio::sync::Mutex<Vec<TargetConfig>>,
    status: Arc<ReloadStatus>,
}

impl Reloader {
    /// `targets` are the ones in force at start.
    pub fn new(
        path: Option<PathBuf>,
        defaults: TargetDefaults,
        targets: Vec<TargetConfig>,
        factory: TargetFactory,
        discovery: Arc<Discovery>,
    ) -> Reloader {
        Reloader {
            path,
            defaults,
            factory,
            discovery,
            current: tokio::sync::Mutex::new(targets),
            status: Arc::default(),
        }
    }

    /// The state of the last reload (a success at start).
    pub fn status(&self) -> Arc<ReloadStatus> {
        Arc::clone(&self.status)
    }

    /// Whether there is a file to reload.
    pub fn has_file(&self) -> bool {
        self.path.is_some()
    }

    /// Reads the file again and switches to its targets, unless they are
    /// the ones in force: then nothing is rebuilt (no new SDK clients, no
    /// new AssumeRole, no discovery).
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let Some(path) = &self.path else {
            return Err(ReloadError::NoFile);
        };
        let mut current = self.current.lock().await;
        let configs = load_targets_file(path, &self.defaults);
        self.status.set(configs.is_ok());
        let configs = configs?;
        if configs == *current {
            tracing::info!(file = %path.display(), "configuration unchanged");
            return Ok(Reloaded::Unchanged);
        }
        let targets = self.factory.build_all(&configs).await;
        let count = targets.len();
        self.discovery.replace_targets(targets);
        *current = configs;
        tracing::info!(file = %path.display(), targets = count, "configuration reloaded");
        Ok(Reloaded::Changed(count))
    }
}
