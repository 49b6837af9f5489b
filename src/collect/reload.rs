//! Reading `--config.file` again while running (SIGHUP, `POST /-/reload`):
//! the new targets replace the old ones in discovery; accounts that stay
//! keep their cached data. A bad file changes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use super::discovery::Discovery;
use super::target::TargetFactory;
use crate::config::{load_targets_file, ConfigFileError, TargetDefaults};

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("there is no --config.file to reload")]
    NoFile,
    #[error(transparent)]
    Invalid(#[from] ConfigFileError),
}

/// Reloads the targets file; one reload at a time.
#[derive(Debug)]
pub struct Reloader {
    path: Option<PathBuf>,
    defaults: TargetDefaults,
    factory: TargetFactory,
    discovery: Arc<Discovery>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        path: Option<PathBuf>,
        defaults: TargetDefaults,
        factory: TargetFactory,
        discovery: Arc<Discovery>,
    ) -> Reloader {
        Reloader {
            path,
            defaults,
            factory,
            discovery,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether there is a file to reload.
    pub fn has_file(&self) -> bool {
        self.path.is_some()
    }

    /// Reads the file again and switches to its targets; the number of
    /// targets on success.
    pub async fn reload(&self) -> Result<usize, ReloadError> {
        let Some(path) = &self.path else {
            return Err(ReloadError::NoFile);
        };
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let configs = load_targets_file(path, &self.defaults)?;
        let targets = self.factory.build_all(&configs).await;
        let count = targets.len();
        self.discovery.replace_targets(targets);
        tracing::info!(file = %path.display(), targets = count, "configuration reloaded");
        Ok(count)
    }
}
