//! The client's part of the preparation step: each target's API key, from the environment
//! variable the config check already resolved or from the file `api_key_file` names, and its TLS
//! material — the CA bundle and the client certificate and key `tls` names — read here, after
//! validation, every problem reported at the config path that named the file.

use crate::config::tls::TargetTls;
use crate::config::{ApiKey, Config, FileRef, Problem, Secret};

/// Each target's API key and TLS material (index of `config.targets`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    keys: Vec<Option<Secret>>,
    tls: Vec<TlsMaterial>,
}

/// A target's certificates, parsed.
#[derive(Debug, Clone, Default)]
pub struct TlsMaterial {
    /// Trusted beside the system's roots.
    pub roots: Vec<reqwest::Certificate>,
    /// The client certificate and key (mutual TLS).
    pub identity: Option<reqwest::Identity>,
}

fn read(f: &FileRef, problems: &mut Vec<Problem>) -> Option<Vec<u8>> {
    match std::fs::read(&f.file) {
        Ok(b) => Some(b),
        Err(e) => {
            problems.push(f.at.problem(format!("cannot read {}: {e}", f.file.display())));
            None
        }
    }
}

/// Parse the files `tls` names; problems at their paths.
fn tls_material(tls: &TargetTls, problems: &mut Vec<Problem>) -> TlsMaterial {
    let mut out = TlsMaterial::default();
    if let Some(f) = &tls.ca_file
        && let Some(pem) = read(f, problems)
    {
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => out.roots = certs,
            Ok(_) | Err(_) => problems.push(f.at.problem(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                f.file.display()
            ))),
        }
    }
    if let (Some(c), Some(k)) = (&tls.client_cert_file, &tls.client_key_file)
        && let (Some(mut pem), Some(key)) = (read(c, problems), read(k, problems))
    {
        let has = |b: &[u8], what: &str| String::from_utf8_lossy(b).contains(what);
        if !has(&pem, "-----BEGIN CERTIFICATE-----") {
            problems.push(c.at.problem(format!("{} holds no PEM certificate", c.file.display())));
        } else if !has(&key, "PRIVATE KEY-----") {
            problems.push(k.at.problem(format!("{} holds no PEM private key", k.file.display())));
        } else {
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            match reqwest::Identity::from_pem(&pem) {
                Ok(id) => out.identity = Some(id),
                Err(e) => problems.push(k.at.problem(format!(
                    "{} and {} are not a usable certificate and key: {e}",
                    c.file.display(),
                    k.file.display()
                ))),
            }
        }
    }
    out
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
        let tls = config
            .targets
            .iter()
            .map(|t| tls_material(&t.tls, &mut problems))
            .collect();
        if problems.is_empty() {
            Ok(Credentials { keys, tls })
        } else {
            Err(problems)
        }
    }

    /// Target `index`'s TLS material (empty when it has none).
    pub fn tls(&self, index: usize) -> TlsMaterial {
        self.tls.get(index).cloned().unwrap_or_default()
    }

    /// Target `index`'s key, if it has one.
    pub fn key(&self, index: usize) -> Option<&Secret> {
        self.keys.get(index).and_then(Option::as_ref)
    }
}
