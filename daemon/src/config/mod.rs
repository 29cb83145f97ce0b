//! Configuration: TOML text -> span-carrying tree -> schema walk that collects **every** problem
//! (dotted path + line) -> validated, typed [`Config`]. Secrets are only ever referenced (env var
//! or file) and are wrapped in [`Secret`], whose `Debug`/`Serialize` print `<redacted>`;
//! [`Config::to_toml`] is the effective config as `print-config` shows it.

pub mod canary;
pub mod gates;
mod load;
pub mod otlp;
mod parts;
mod preset;
pub mod resources;
mod scenario;
mod schema;
pub mod server;
pub mod simulator;
pub mod walk;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use scenario::{
    Corpus, DistKind, Empirical, LengthDist, MinTokens, Scenario, Session, SharedPrefix,
};
pub use server::ServerConfig;
pub use walk::Problem;

use crate::openai::Endpoint;

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

pub(crate) fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// The whole, validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Root of every random draw (DESIGN §6).
    pub seed: u64,
    pub server: ServerConfig,
    #[serde(rename = "target")]
    pub targets: Vec<Target>,
    pub load: LoadConfig,
    #[serde(rename = "scenario")]
    pub scenarios: Vec<Scenario>,
    /// `[output] requests_jsonl`: the per-request log, when configured.
    #[serde(skip)]
    pub requests_jsonl: Option<crate::metrics::request_log::LogSpec>,
    /// The always-on synthetic probe, when configured.
    pub canary: Option<canary::Canary>,
    /// `[otlp]` (or the `OTEL_EXPORTER_OTLP_*` environment): push metrics and spans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<otlp::Otlp>,
    /// `[resources]`: the resource sampler.
    pub resources: crate::resources::ResourceConfig,
    /// `[baseline]`: drift baselines.
    pub baseline: resources::BaselineConfig,
    /// `[gates]`: CI gates judged at the end of a run.
    #[serde(skip_serializing_if = "gates::GatesConfig::is_empty")]
    pub gates: gates::GatesConfig,
    /// An optional `[simulator]` section (used by `simulate -c` and `demo`).
    #[serde(skip)]
    pub simulator: Option<crate::simulator::SimConfig>,
    /// FNV-1a of the source text (exported as a number, not a label).
    #[serde(skip)]
    pub checksum: u64,
}

/// Where an API key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub source: SecretSource,
    pub value: Secret,
}

/// A header value: plain, or redacted because the header carries credentials.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub name: String,
    pub value: Secret,
    /// Whether `print-config` and the status API may show the value.
    #[serde(skip)]
    pub sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HttpVersion {
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
}

/// One `[[target]]`: an OpenAI-compatible endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub base_url: String,
    pub model: String,
    /// `gen_ai.provider.name` (default `openai`).
    pub provider: String,
    pub api_key: Option<ApiKey>,
    pub headers: Vec<Header>,
    pub http: HttpVersion,
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// Total time a request may take, headers to last byte.
    #[serde(serialize_with = "ser_duration")]
    pub request_timeout: Duration,
    /// No byte for this long mid-stream aborts the request as `stall`.
    #[serde(serialize_with = "ser_duration")]
    pub idle_timeout: Duration,
    /// A gap between content events above this counts in `llmsoak_stream_stalls_total`.
    #[serde(serialize_with = "ser_duration")]
    pub stall_threshold: Duration,
    /// Largest single SSE event accepted.
    pub max_event_bytes: usize,
    /// Idle keep-alive connections kept per host (default: `load.max_in_flight`).
    pub pool_max_idle: usize,
    /// `tokenizer = { file = "tokenizer.json" }`; `None`: the embedded `o200k_base`.
    #[serde(skip)]
    pub tokenizer_file: Option<PathBuf>,
    /// The loaded tokenizer (prompt lengths, output re-counts).
    #[serde(skip)]
    pub tokenizer: std::sync::Arc<dyn crate::workload::Tokenizer>,
    /// Fraction of requests with server usage whose output is also re-counted with the
    /// tokenizer, for `llmsoak_tokens_discrepancy`.
    pub recount_sample: f64,
    /// Host and port, for `server.address` / `server.port`.
    #[serde(skip)]
    pub server_address: String,
    #[serde(skip)]
    pub server_port: u16,
}

impl Target {
    /// Full URL of an endpoint.
    pub fn url(&self, endpoint: Endpoint) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), endpoint.path())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    Open,
    /// `users` each send their next request when the previous one finished plus a think time.
    Closed,
}

/// Inter-arrival process; gaps have mean 1 in operational time (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    Constant,
    Poisson,
    /// Gamma-distributed gaps with shape `burstiness` (1 = Poisson, < 1 burstier).
    Gamma {
        burstiness: f64,
    },
}

/// One load phase's shape (rates in requests/s; sessions/s for conversational scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PhaseKind {
    Steady {
        rate: f64,
    },
    /// Linear from `from` to `to` over the phase.
    Ramp {
        from: f64,
        to: f64,
    },
    /// `base`, jumping to `peak` at `at` for `hold`, back to `base` until the phase ends.
    Spike {
        base: f64,
        peak: f64,
        #[serde(serialize_with = "ser_duration")]
        at: Duration,
        #[serde(serialize_with = "ser_duration")]
        hold: Duration,
    },
    /// `steps` equal plateaus from `from` to `to`.
    Step {
        from: f64,
        to: f64,
        steps: u32,
    },
    /// `mean + amplitude * sin(2π t / period)`.
    Diurnal {
        mean: f64,
        amplitude: f64,
        #[serde(serialize_with = "ser_duration")]
        period: Duration,
    },
}

/// `load.budget = { max_requests, max_output_tokens }` (per replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
}

/// How often the phase list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Times(u32),
    Forever,
}

impl Serialize for Repeat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Repeat::Times(n) => s.serialize_u32(*n),
            Repeat::Forever => s.serialize_str("forever"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Phase {
    #[serde(flatten)]
    pub kind: PhaseKind,
    /// `None` = forever.
    #[serde(serialize_with = "ser_phase_duration")]
    pub duration: Option<Duration>,
}

fn ser_phase_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_str("forever"),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    pub mode: LoadMode,
    pub arrival: Arrival,
    pub max_in_flight: usize,
    /// How often `phases` runs (default once).
    pub repeat: Repeat,
    /// Multi-turn sessions in flight at most (per replica); beyond, new sessions are dropped.
    pub max_sessions: usize,
    /// On shutdown, how long in-flight requests may finish before they are cancelled.
    #[serde(serialize_with = "ser_duration")]
    pub drain_timeout: Duration,
    pub phases: Vec<Phase>,
    /// A spend cap: the run stops cleanly when it is reached.
    pub budget: Option<Budget>,
    /// Closed loop: concurrent users (per replica), constant or ramped.
    pub users: UserRamp,
    /// Closed loop: think time after each answer, uniform in `[min, max]`.
    #[serde(serialize_with = "ser_think_time")]
    pub think_time: (Duration, Duration),
    /// When a spike phase counts as recovered (reports).
    pub recovery: Recovery,
}

/// Closed-loop users: `from` at the start, changing linearly to `to` over `over` (user k starts,
/// or stops, at its share of `over`); a plain `users = N` is `from = to = N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRamp {
    pub from: usize,
    pub to: usize,
    pub over: Duration,
}

impl UserRamp {
    pub fn constant(n: usize) -> Self {
        UserRamp {
            from: n,
            to: n,
            over: Duration::ZERO,
        }
    }

    /// Most users ever active.
    pub fn max(&self) -> usize {
        self.from.max(self.to)
    }

    /// When user `k` (0-based) is active, relative to the run's start: `[start, stop)`.
    pub fn active(&self, k: usize) -> (Duration, Option<Duration>) {
        let share = |steps: usize, of: usize| self.over.mul_f64(steps as f64 / of as f64);
        if self.to > self.from && k >= self.from {
            (share(k - self.from + 1, self.to - self.from), None)
        } else if self.to < self.from && k >= self.to {
            (
                Duration::ZERO,
                Some(share(self.from - k, self.from - self.to)),
            )
        } else {
            (Duration::ZERO, None)
        }
    }
}

impl Serialize for UserRamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.from == self.to {
            s.serialize_u64(self.from as u64)
        } else {
            serde_json::json!({
                "from": self.from,
                "to": self.to,
                "over": humantime::format_duration(self.over).to_string(),
            })
            .serialize(s)
        }
    }
}

/// `load.recovery`: a spike phase has recovered when, over every later `window`, the TTFT p95
/// is within `latency_tolerance` (a fraction) of the pre-spike level and the error rate within
/// `error_tolerance` (absolute) of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recovery {
    #[serde(serialize_with = "ser_duration")]
    pub window: Duration,
    pub latency_tolerance: f64,
    pub error_tolerance: f64,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            window: Duration::from_secs(10),
            latency_tolerance: 0.2,
            error_tolerance: 0.01,
        }
    }
}

fn ser_think_time<S: Serializer>(t: &(Duration, Duration), s: S) -> Result<S::Ok, S::Error> {
    let f = |d: Duration| humantime::format_duration(d).to_string();
    serde_json::json!({ "min": f(t.0), "max": f(t.1) }).serialize(s)
}

impl LoadConfig {
    /// No soak traffic (a canary-only config).
    pub fn idle() -> Self {
        LoadConfig {
            mode: LoadMode::Open,
            arrival: Arrival::Poisson,
            max_in_flight: 1,
            repeat: Repeat::Times(1),
            max_sessions: 1,
            drain_timeout: Duration::from_secs(30),
            phases: Vec::new(),
            users: UserRamp::constant(0),
            think_time: (Duration::ZERO, Duration::ZERO),
            budget: None,
            recovery: Recovery::default(),
        }
    }
}

impl Config {
    /// Load and validate a file, reading env vars and key files from the real environment.
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
        schema::parse(text, env).map_err(|problems| ConfigError::Invalid {
            origin: origin.to_string(),
            problems,
        })
    }

    /// Only the `[simulator]` section of `text` (defaults when absent); other keys are ignored,
    /// so one file can configure both the daemon and the simulator.
    pub fn parse_simulator(
        text: &str,
        origin: &str,
    ) -> Result<crate::simulator::SimConfig, ConfigError> {
        schema::parse_simulator(text).map_err(|problems| ConfigError::Invalid {
            origin: origin.to_string(),
            problems,
        })
    }

    /// The effective config as TOML, secrets redacted, defaults filled in.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# effective configuration (defaults filled in, secrets redacted)\n# checksum: {:016x}\n",
            self.checksum
        );
        match toml::to_string_pretty(&self.redacted()) {
            Ok(s) => out.push_str(&s),
            Err(e) => out.push_str(&format!("# cannot render: {e}\n")),
        }
        out
    }

    /// The effective config as a JSON value with every secret replaced by `<redacted>`
    /// (what `print-config` and `/api/v1/status` show).
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(targets) = v.get_mut("target").and_then(|t| t.as_array_mut()) {
            for (t, cfg) in targets.iter_mut().zip(&self.targets) {
                let headers: serde_json::Map<String, serde_json::Value> = cfg
                    .headers
                    .iter()
                    .map(|h| {
                        let shown = if h.sensitive {
                            "<redacted>"
                        } else {
                            h.value.expose()
                        };
                        (h.name.clone(), serde_json::Value::from(shown))
                    })
                    .collect();
                t["headers"] = serde_json::Value::Object(headers);
                if let Some(obj) = t.as_object_mut() {
                    if let Some(f) = &cfg.tokenizer_file {
                        obj.insert(
                            "tokenizer".into(),
                            serde_json::json!({ "file": f.display().to_string() }),
                        );
                    }
                    obj.remove("api_key");
                    match cfg.api_key.as_ref().map(|k| &k.source) {
                        Some(SecretSource::Env(n)) => {
                            obj.insert("api_key_env".into(), n.clone().into());
                        }
                        Some(SecretSource::File(p)) => {
                            obj.insert("api_key_file".into(), p.display().to_string().into());
                        }
                        None => {}
                    }
                }
            }
        }
        if let Some(scenarios) = v.get_mut("scenario").and_then(|s| s.as_array_mut()) {
            for (s, cfg) in scenarios.iter_mut().zip(&self.scenarios) {
                if let Some(t) = self.targets.get(cfg.target) {
                    s["target"] = t.name.clone().into();
                }
            }
        }
        if let Some(obj) = v.as_object_mut() {
            if self.scenarios.is_empty() {
                // A canary-only config has no soak traffic to describe.
                obj.remove("load");
                obj.remove("scenario");
            }
            if let Some(load) = obj.get_mut("load").and_then(|l| l.as_object_mut()) {
                let drop: &[&str] = match self.load.mode {
                    LoadMode::Open => &["users", "think_time"],
                    LoadMode::Closed => &["phases", "arrival", "repeat", "recovery"],
                };
                for k in drop {
                    load.remove(*k);
                }
            }
            if let Some(log) = &self.requests_jsonl {
                obj.insert(
                    "output".into(),
                    serde_json::json!({ "requests_jsonl": log }),
                );
            }
            if let (Some(o), Some(otlp)) = (&self.otlp, obj.get_mut("otlp")) {
                otlp["headers"] = o.shown_headers();
            }
            if let (Some(c), Some(canary)) = (&self.canary, obj.get_mut("canary")) {
                canary["target"] = self.targets[c.target].name.clone().into();
            }
        }
        if let (Some(sim), Some(obj)) = (&self.simulator, v.as_object_mut()) {
            obj.insert("simulator".into(), sim.to_json());
        }
        strip_nulls(&mut v);
        v
    }
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// FNV-1a, 64 bit: a stable checksum of the config text.
pub fn checksum(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
