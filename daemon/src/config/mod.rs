//! Configuration as plain, validated data: TOML text -> the sections' serde types, read with
//! **every** shape problem reported (dotted path + line; `de`) -> one pass of semantic checks
//! (`check`) -> a typed [`Config`]. Each key is written once, in its section's type: its name,
//! its default, its doc and how it prints. Reading is a pure function of the text and the
//! environment it is given: it reads no file. Files the config names (tokenizers, corpora,
//! datasets, length files, API key files) are kept as [`FileRef`]s with their [`Origin`] and
//! read by the preparation step after validation (`prepare`), which reports its problems at the
//! same paths. `config` depends on nothing above it but the wire types'
//! [`Endpoint`](crate::openai::Endpoint) and the record's [`Quantity`](crate::record::Quantity).
//!
//! Secrets are only ever referenced (env var or file) and are wrapped in [`Secret`], whose
//! `Debug`/`Serialize` print `<redacted>`. Redaction is typed: [`Config`]'s `Serialize` *is* the
//! effective config as `print-config` and the status API show it, secrets as their references.

pub mod abort;
pub mod advice;
pub mod body;
pub mod canary;
pub mod check;
mod de;
pub mod forms;
pub mod gates;
pub mod hooks;
pub mod load;
pub mod otlp;
pub mod output;
mod parts;
pub mod paths;
mod phases;
pub mod resources;
pub mod scenario;
mod schema;
pub mod server;
pub mod simulator;
pub mod slo;
pub mod sweep;
pub mod target;
pub mod tls;
pub mod trace;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use check::{Origin, Problem, UNRESOLVED_SECRET};
pub use gates::{Gate, GatesConfig};
pub use load::{
    Arrival, Budget, LoadConfig, LoadMode, Phase, PhaseKind, Recovery, Repeat, UserRamp,
};
pub use output::{LogSpec, Output};
pub use resources::{BaselineConfig, ResourceConfig, Selector, TargetProcess};
pub use scenario::{
    Corpus, DatasetSpec, DistKind, Empirical, Format, LengthDist, MinTokens, OnError, Scenario,
    Session, SharedPrefix, Tokens,
};
pub use server::ServerConfig;
pub use simulator::SimConfig;
pub use target::{ApiKey, Header, HttpVersion, Target, TargetRef};

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(.origin, .problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems, when the text was read but is not a valid config.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render_problems(origin: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "{origin}: {} problem{} found",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        match p.line {
            Some(line) => out.push_str(&format!("\n  {origin}:{line}: {p}")),
            None => out.push_str(&format!("\n  {origin}: {p}")),
        }
    }
    out
}

/// A secret value. Never printed: `Debug`, `Display` and `Serialize` say `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A file the config names (`{ file = "…" }`), kept unread with the place that named it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub file: PathBuf,
    /// Where the config named it (filled by the check).
    #[serde(skip)]
    pub at: Origin,
}

impl FileRef {
    /// The file's path (named at `path`) is not empty; remember where it was named.
    pub(crate) fn check(&mut self, c: &mut check::Check<'_>, path: &str) {
        c.filled(path, &self.file.to_string_lossy());
        self.at = c.origin(path);
    }
}

/// A file named by its path alone (`file = "prompts.jsonl"`), printed as the path.
pub(crate) mod file_path {
    use super::*;
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FileRef, D::Error> {
        PathBuf::deserialize(d).map(|file| FileRef {
            file,
            at: Origin::default(),
        })
    }
    pub(crate) fn serialize<S: Serializer>(f: &FileRef, s: S) -> Result<S::Ok, S::Error> {
        f.file.serialize(s)
    }
}

/// [`file_path`] of an optional key (with `#[serde(default)]`).
pub(crate) mod opt_file_path {
    use super::*;
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<FileRef>, D::Error> {
        file_path::deserialize(d).map(Some)
    }
    pub(crate) fn serialize<S: Serializer>(f: &Option<FileRef>, s: S) -> Result<S::Ok, S::Error> {
        match f {
            Some(f) => f.file.serialize(s),
            None => s.serialize_none(),
        }
    }
}

/// Printed as `{ file = "…" }`, the form every file-valued key takes.
impl Serialize for FileRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Table<'a> {
            file: &'a Path,
        }
        Table { file: &self.file }.serialize(s)
    }
}

/// A duration as the config writes one (`1m 30s`, `250ms`), to the millisecond: for log
/// fields and messages, never Rust's `Debug` (`Some(90.000312s)`).
pub fn human(d: Duration) -> String {
    let ms = Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64);
    if ms.is_zero() && !d.is_zero() {
        return humantime::format_duration(d).to_string();
    }
    humantime::format_duration(ms).to_string()
}

/// [`human`] of an optional duration, `none` without one.
pub fn human_opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "none".to_string(), human)
}

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Root of every random draw (DESIGN §6).
    pub seed: u64,
    pub server: ServerConfig,
    pub targets: Vec<Target>,
    pub load: LoadConfig,
    pub scenarios: Vec<Scenario>,
    /// `[output]`: the per-request log, when configured.
    pub output: Output,
    /// The always-on synthetic probe, when configured.
    pub canary: Option<canary::Canary>,
    /// `[otlp]` (or the `OTEL_EXPORTER_OTLP_*` environment): push metrics and spans.
    pub otlp: Option<otlp::Otlp>,
    /// `[resources]`: the resource sampler.
    pub resources: ResourceConfig,
    /// `[baseline]`: drift baselines.
    pub baseline: BaselineConfig,
    /// `[gates]`: CI gates judged at the end of a run.
    pub gates: GatesConfig,
    /// `[slo]`: latency bounds every scenario's requests are judged by (a scenario's own
    /// `slo` overrides some of them).
    pub slo: Option<slo::Slo>,
    /// `[sweep]`: how `llm-soak sweep` searches (`None`: its defaults).
    pub sweep: Option<sweep::SweepConfig>,
    /// An optional `[simulator]` section (used by `simulate -c` and `demo`).
    pub simulator: Option<SimConfig>,
    /// FNV-1a of the source text (exported as a number, not a label).
    pub checksum: u64,
}

/// The effective config: defaults filled in, secrets as their references, and only the sections
/// that apply (a canary-only config has no `[load]` or scenarios).
impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let soak = !self.scenarios.is_empty();
        let mut st = s.serialize_struct("Config", 14)?;
        st.serialize_field("seed", &self.seed)?;
        st.serialize_field("server", &self.server)?;
        st.serialize_field("target", &self.targets)?;
        if soak {
            st.serialize_field("load", &self.load)?;
            st.serialize_field("scenario", &self.scenarios)?;
        }
        if !self.output.is_empty() {
            st.serialize_field("output", &self.output)?;
        }
        if let Some(c) = &self.canary {
            st.serialize_field("canary", c)?;
        }
        if let Some(o) = &self.otlp {
            st.serialize_field("otlp", o)?;
        }
        st.serialize_field("resources", &self.resources)?;
        st.serialize_field("baseline", &self.baseline)?;
        if !self.gates.is_empty() {
            st.serialize_field("gates", &self.gates)?;
        }
        if let Some(slo) = &self.slo {
            st.serialize_field("slo", slo)?;
        }
        if let Some(sweep) = &self.sweep {
            st.serialize_field("sweep", sweep)?;
        }
        if let Some(sim) = &self.simulator {
            st.serialize_field("simulator", sim)?;
        }
        st.end()
    }
}

impl Config {
    /// Load and validate a file, reading env vars from the real environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), &|k| {
            std::env::var(k).ok()
        })
    }

    /// Validate `text`; `origin` names it in messages, `env` resolves env vars.
    pub fn parse(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        schema::parse(text, env, false).map_err(|problems| ConfigError::Invalid {
            origin: origin.to_string(),
            problems,
        })
    }

    /// Read and validate a config file for a command that sends nothing (`plan`,
    /// `print-config`): a secret's unset variable is not a problem there — the config is only
    /// looked at, and the secret stands as [`UNRESOLVED_SECRET`], never sent.
    pub fn load_to_inspect(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        schema::parse(&text, &|k| std::env::var(k).ok(), true).map_err(|problems| {
            ConfigError::Invalid {
                origin: path.display().to_string(),
                problems,
            }
        })
    }

    /// Only the `[simulator]` section of `text` (defaults when absent); other keys are ignored,
    /// so one file can configure both the daemon and the simulator.
    pub fn parse_simulator(text: &str, origin: &str) -> Result<SimConfig, ConfigError> {
        schema::parse_simulator(text).map_err(|problems| ConfigError::Invalid {
            origin: origin.to_string(),
            problems,
        })
    }

    /// The canary's request scope, one past the scenarios' (`None` without a `[canary]`):
    /// the one place that says where its requests are counted.
    pub fn canary_scope(&self) -> Option<usize> {
        self.canary.as_ref().map(|_| self.scenarios.len())
    }

    /// The effective config as TOML, secrets redacted, defaults filled in.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# effective configuration (defaults filled in, secrets redacted)\n# checksum: {:016x}\n",
            self.checksum
        );
        match toml::to_string_pretty(self) {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&format!("# cannot render: {e}\n")),
        }
        out
    }

    /// Each request scope's target index, in scope order (the canary's last).
    pub fn scope_targets(&self) -> Vec<usize> {
        self.scenarios
            .iter()
            .map(|s| s.target.index)
            .chain(self.canary.as_ref().map(|c| c.target.index))
            .collect()
    }

    /// The canary's target, when there is a canary.
    pub fn canary_target(&self) -> Option<&Target> {
        self.canary
            .as_ref()
            .and_then(|c| self.targets.get(c.target.index))
    }

    /// Scenario names by index, the canary's (`"canary"`) last when there is one.
    /// Each request scope's SLO (the canary's is none: it is a probe, not traffic), `None`
    /// where no bound applies.
    pub fn slos(&self) -> Vec<Option<slo::Slo>> {
        let base = self.slo.unwrap_or_default();
        self.scenarios
            .iter()
            .map(|s| Some(s.slo.unwrap_or_default().over(base)).filter(|x| !x.is_empty()))
            .chain(self.canary.as_ref().map(|_| None))
            .collect()
    }

    pub fn scope_names(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .map(|s| s.name.clone())
            .chain(self.canary.as_ref().map(|_| canary::SCENARIO.to_string()))
            .collect()
    }
}

/// FNV-1a, 64 bit: a stable checksum of the config text.
pub fn checksum(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
