//! The preparation step between validation and running: a validated [`Config`] names files —
//! tokenizers, corpora, datasets, empirical length files, a trace (the workload's [`Assets`]) and
//! API key files (the client's [`Credentials`]) — and this step reads them all, reporting every problem
//! at the config path and line that named the file, as validation does (exit 64). `check-config`
//! runs it too, so a config that checks is one that starts.

use std::path::Path;

use crate::client::Credentials;
use crate::config::{Config, ConfigError, Problem};
use crate::workload::Assets;

/// A validated config and everything it names, loaded.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub config: Config,
    pub assets: Assets,
    pub credentials: Credentials,
}

impl Prepared {
    /// Load what `config` names; `origin` names the config in messages.
    /// A replayed trace's phase takes its rate and length from the file here.
    pub fn new(mut config: Config, origin: &str) -> Result<Prepared, ConfigError> {
        let assets = Assets::load(&config);
        let credentials = Credentials::load(&config);
        match (assets, credentials) {
            (Ok(assets), Ok(credentials)) => {
                if let Some(t) = &assets.trace {
                    config.load.resolve_trace(t.rows, t.period());
                }
                Ok(Prepared {
                    config,
                    assets,
                    credentials,
                })
            }
            (assets, credentials) => {
                let mut problems: Vec<Problem> = assets.err().unwrap_or_default();
                problems.extend(credentials.err().unwrap_or_default());
                problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
                Err(ConfigError::Invalid {
                    origin: origin.to_string(),
                    problems,
                })
            }
        }
    }

    /// Read, validate and prepare a config file (env vars from the real environment).
    pub fn load(path: &Path) -> Result<Prepared, ConfigError> {
        Self::new(Config::load(path)?, &path.display().to_string())
    }

    /// Like [`Prepared::load`], for the commands that send nothing (`plan`, `print-config`):
    /// a secret's variable need not be set ([`Config::load_to_inspect`]).
    pub fn load_to_inspect(path: &Path) -> Result<Prepared, ConfigError> {
        Self::new(Config::load_to_inspect(path)?, &path.display().to_string())
    }

    /// Validate and prepare `text` (tests, the embedded demo config).
    pub fn parse(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Prepared, ConfigError> {
        Self::new(Config::parse(text, origin, env)?, origin)
    }
}
