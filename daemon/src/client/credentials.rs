//! The client's part of the preparation step: each target's API key, from the environment
//! variable the walk already resolved or from the file `api_key_file` names (read here, after
//! validation), reported at the config path that named it.

use crate::config::{ApiKey, Config, Problem, Secret};

/// Each target's API key (index of `config.targets`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    keys: Vec<Option<Secret>>,
}

impl Credentials {
    /// Read every key file the config names; every problem at its config path.
    pub fn load(config: &Config) -> Result<Credentials, Vec<Problem>> {
        let mut problems = Vec::new();
        let keys = config
            .targets
            .iter()
            .map(|t| match &t.api_key {
                None => None,
                Some(ApiKey::Env { value, .. }) => Some(value.clone()),
                Some(ApiKey::File { path, at }) => match std::fs::read_to_string(path) {
                    Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_string())),
                    Ok(_) => {
                        problems.push(at.problem(format!("{} is empty", path.display())));
                        None
                    }
                    Err(e) => {
                        problems.push(at.problem(format!("cannot read {}: {e}", path.display())));
                        None
                    }
                },
            })
            .collect();
        if problems.is_empty() {
            Ok(Credentials { keys })
        } else {
            Err(problems)
        }
    }

    /// Target `index`'s key, if it has one.
    pub fn key(&self, index: usize) -> Option<&Secret> {
        self.keys.get(index).and_then(Option::as_ref)
    }
}
