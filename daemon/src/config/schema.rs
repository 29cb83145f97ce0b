//! llm-soak's config schema, written as a walk: each section reads its keys with defaults,
//! checks ranges and cross-references, and keeps going after a problem so that one run of
//! `check-config` lists everything that is wrong.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeTable;

use super::walk::{Problem, Tbl, Val, Walk};
use super::*;

const ROOT_KEYS: &[&str] = &["seed", "server", "target", "load", "scenario", "simulator"];
const SERVER_KEYS: &[&str] = &["listen"];
const TARGET_KEYS: &[&str] = &[
    "name",
    "base_url",
    "model",
    "provider",
    "api_key_env",
    "api_key_file",
    "headers",
    "http",
    "connect_timeout",
    "request_timeout",
    "idle_timeout",
    "stall_threshold",
    "max_event_bytes",
    "pool_max_idle",
];
const LOAD_KEYS: &[&str] = &[
    "mode",
    "arrival",
    "max_in_flight",
    "drain_timeout",
    "phases",
];
const PHASE_KEYS: &[&str] = &["kind", "rate", "duration"];
const SCENARIO_KEYS: &[&str] = &[
    "name",
    "weight",
    "target",
    "endpoint",
    "model",
    "system_prompt",
    "input_tokens",
    "output_tokens",
    "temperature",
    "top_p",
    "stop",
];
const DIST_KEYS: &[&str] = &["constant", "uniform", "normal", "lognormal", "min", "max"];

/// Default address of `/metrics` and the status API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
const MAX_TOKENS_LIMIT: i64 = 1 << 20;

pub(super) fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let mut w = Walk::new(text, env);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            w.report("", e.span(), format!("TOML syntax error: {}", e.message()));
            return Err(w.problems);
        }
    };
    let mut root = Tbl::root(&doc);
    let seed = root
        .get("seed")
        .and_then(|v| v.int_in(&mut w, 0, i64::MAX))
        .map_or(Some(0), |s| u64::try_from(s).ok());
    let server = server(&mut w, root.get("server"));
    let load = load(&mut w, root.get("load"));
    let max_in_flight = load.as_ref().map_or(256, |l| l.max_in_flight);
    let target_list = root.require(&mut w, "target");
    let (targets, targets_ok) = targets(&mut w, target_list, max_in_flight);
    let scenarios = scenarios(
        &mut w,
        root.get("scenario"),
        (!targets.is_empty()).then_some(targets.as_slice()),
    );
    let simulator = match root.get("simulator") {
        None => Some(None),
        Some(v) => super::simulator::walk(&mut w, &v).map(Some),
    };
    let targets = targets_ok.then_some(targets);
    root.finish(&mut w, ROOT_KEYS, |k| {
        (k == "targets" || k == "scenarios").then(|| {
            format!(
                "unknown key (did you mean [[{}]]?)",
                k.trim_end_matches('s')
            )
        })
    });

    match (seed, server, targets, load, scenarios, simulator) {
        (Some(seed), Some(server), Some(targets), Some(load), Some(scenarios), Some(simulator))
            if w.problems.is_empty() =>
        {
            Ok(Config {
                seed,
                server,
                targets,
                load,
                scenarios,
                simulator,
                checksum: checksum(text),
            })
        }
        _ => {
            let mut problems = w.problems;
            problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            Err(problems)
        }
    }
}

pub(super) fn parse_simulator(text: &str) -> Result<crate::simulator::SimConfig, Vec<Problem>> {
    let env = |_: &str| None;
    let mut w = Walk::new(text, &env);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            w.report("", e.span(), format!("TOML syntax error: {}", e.message()));
            return Err(w.problems);
        }
    };
    let mut root = Tbl::root(&doc);
    let sim = match root.get("simulator") {
        None => Some(crate::simulator::SimConfig::default()),
        Some(v) => super::simulator::walk(&mut w, &v),
    };
    match sim {
        Some(s) if w.problems.is_empty() => Ok(s),
        _ => Err(w.problems),
    }
}

fn server(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<ServerConfig> {
    let default = ServerConfig {
        listen: DEFAULT_LISTEN.parse().ok()?,
    };
    let Some(v) = v else { return Some(default) };
    let mut t = v.table(w)?;
    let listen = match t.get("listen") {
        None => Some(default.listen),
        Some(v) => socket_addr(w, &v),
    };
    t.finish(w, SERVER_KEYS, |_| None);
    Some(ServerConfig { listen: listen? })
}

fn socket_addr(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SocketAddr> {
    let s = v.str(w)?;
    match s.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            v.bad(
                w,
                format!("must be an IP:port address such as \"127.0.0.1:9464\" (got {s:?})"),
            );
            None
        }
    }
}

fn duration_or(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    d: Duration,
) -> Option<Duration> {
    match t.get(key) {
        None => Some(d),
        Some(v) => v.duration(w),
    }
}

/// A name used as a label value: short, and only `[A-Za-z0-9_.:-]`.
fn label_name(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<String> {
    let s = v.str(w)?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
    if ok {
        Some(s.to_string())
    } else {
        v.bad(
            w,
            format!("must be 1-64 characters of [A-Za-z0-9_.:-] (got {s:?})"),
        );
        None
    }
}

/// The targets that parsed (for cross-references even when some did not) and whether all did.
fn targets(w: &mut Walk<'_>, v: Option<Val<'_, '_>>, max_in_flight: usize) -> (Vec<Target>, bool) {
    let Some(items) = v.and_then(|v| v.array(w)) else {
        return (Vec::new(), false);
    };
    if items.is_empty() {
        w.report("target", None, "at least one [[target]] is required");
        return (Vec::new(), false);
    }
    let mut out: Vec<Target> = Vec::new();
    let mut ok = true;
    for item in items {
        match target(w, &item, max_in_flight) {
            Some(t) if out.iter().any(|o| o.name == t.name) => {
                w.report(
                    &format!("{}.name", item.path),
                    Some(item.span()),
                    format!("duplicate target name {:?}", t.name),
                );
                ok = false;
            }
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    (out, ok)
}

fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "key",
        "token",
        "secret",
        "auth",
        "password",
    ]
    .iter()
    .any(|s| n.contains(s))
}

fn target(w: &mut Walk<'_>, v: &Val<'_, '_>, max_in_flight: usize) -> Option<Target> {
    let mut t = v.table(w)?;
    let name = t.require(w, "name").and_then(|v| label_name(w, &v));
    let base_url = t.require(w, "base_url").and_then(|v| {
        let s = v.str(w)?;
        match reqwest::Url::parse(s) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                v.bad(w, format!("must be an http:// or https:// URL (got {s:?})"));
                None
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                v.bad(w, "must not carry a query string or fragment");
                None
            }
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                v.bad(
                    w,
                    "must not embed credentials; use api_key_env or api_key_file",
                );
                None
            }
            Ok(u) => {
                let host = u.host_str().unwrap_or_default().to_string();
                let port = u.port_or_known_default().unwrap_or(80);
                Some((s.trim_end_matches('/').to_string(), host, port))
            }
            Err(e) => {
                v.bad(w, format!("invalid URL {s:?}: {e}"));
                None
            }
        }
    });
    let model = t.require(w, "model").and_then(|v| {
        let s = v.str(w)?;
        if s.is_empty() {
            v.bad(w, "must not be empty");
            return None;
        }
        Some(s.to_string())
    });
    let provider = match t.get("provider") {
        None => Some("openai".to_string()),
        Some(v) => label_name(w, &v),
    };
    let api_key = api_key(w, &mut t);
    let headers = match t.get("headers") {
        None => Some(Vec::new()),
        Some(v) => headers(w, &v),
    };
    let http = match t.get("http") {
        None => Some(HttpVersion::Http1),
        Some(v) => v.one_of(w, &["1.1", "2"]).map(|s| {
            if s == "2" {
                HttpVersion::Http2
            } else {
                HttpVersion::Http1
            }
        }),
    };
    let connect_timeout = duration_or(w, &mut t, "connect_timeout", Duration::from_secs(10));
    let request_timeout = duration_or(w, &mut t, "request_timeout", Duration::from_secs(600));
    let idle_timeout = duration_or(w, &mut t, "idle_timeout", Duration::from_secs(60));
    let stall_threshold = duration_or(w, &mut t, "stall_threshold", Duration::from_secs(2));
    let max_event_bytes = match t.get("max_event_bytes") {
        None => Some(1 << 20),
        Some(v) => v.int_in(w, 1024, 1 << 30).map(|n| n as usize),
    };
    let pool_max_idle = match t.get("pool_max_idle") {
        None => Some(max_in_flight),
        Some(v) => v.int_in(w, 0, 1_000_000).map(|n| n as usize),
    };
    t.finish(w, TARGET_KEYS, |k| match k {
        "api_key" | "key" | "token" | "password" => Some(
            "secrets are not accepted inline; use api_key_env (an env var name) or api_key_file (a path)"
                .to_string(),
        ),
        _ => None,
    });
    let (base_url, server_address, server_port) = base_url?;
    Some(Target {
        name: name?,
        base_url,
        model: model?,
        provider: provider?,
        api_key: api_key?,
        headers: headers?,
        http: http?,
        connect_timeout: connect_timeout?,
        request_timeout: request_timeout?,
        idle_timeout: idle_timeout?,
        stall_threshold: stall_threshold?,
        max_event_bytes: max_event_bytes?,
        pool_max_idle: pool_max_idle?,
        server_address,
        server_port,
    })
}

/// `Some(None)`: no key configured; `None`: a problem was reported.
fn api_key(w: &mut Walk<'_>, t: &mut Tbl<'_, '_>) -> Option<Option<ApiKey>> {
    let env = t.get("api_key_env");
    let file = t.get("api_key_file");
    match (env, file) {
        (None, None) => Some(None),
        (Some(e), Some(_)) => {
            e.bad(w, "set either api_key_env or api_key_file, not both");
            None
        }
        (Some(e), None) => {
            let name = e.str(w)?;
            match w.env(name) {
                Some(value) if !value.trim().is_empty() => Some(Some(ApiKey {
                    source: SecretSource::Env(name.to_string()),
                    value: Secret::new(value.trim().to_string()),
                })),
                _ => {
                    e.bad(
                        w,
                        format!("environment variable {name} is not set or empty"),
                    );
                    None
                }
            }
        }
        (None, Some(f)) => {
            let path = PathBuf::from(f.str(w)?);
            match std::fs::read_to_string(&path) {
                Ok(value) if !value.trim().is_empty() => Some(Some(ApiKey {
                    source: SecretSource::File(path),
                    value: Secret::new(value.trim().to_string()),
                })),
                Ok(_) => {
                    f.bad(w, format!("{} is empty", path.display()));
                    None
                }
                Err(e) => {
                    f.bad(w, format!("cannot read {}: {e}", path.display()));
                    None
                }
            }
        }
    }
}

fn headers(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Vec<Header>> {
    let mut t = v.table(w)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (name, val) in t.entries() {
        let Some(value) = val.str(w) else {
            ok = false;
            continue;
        };
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            val.bad(w, format!("{name:?} is not a valid header name"));
            ok = false;
            continue;
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            val.bad(w, "is not a valid header value");
            ok = false;
            continue;
        }
        out.push(Header {
            name: name.to_string(),
            value: Secret::new(value.to_string()),
            sensitive: is_sensitive_header(name),
        });
    }
    t.finish(w, &[], |_| None);
    ok.then_some(out)
}

fn load(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<LoadConfig> {
    let Some(v) = v else {
        w.report(
            "load",
            None,
            "is required ([load] with at least one [[load.phases]])",
        );
        return None;
    };
    let mut t = v.table(w)?;
    let mode = match t.get("mode") {
        None => Some(LoadMode::Open),
        Some(v) => match v.one_of(w, &["open", "closed"]) {
            Some("open") => Some(LoadMode::Open),
            Some(_) => {
                v.bad(
                    w,
                    "closed-loop mode is not available in this version; use \"open\"",
                );
                None
            }
            None => None,
        },
    };
    let arrival = match t.get("arrival") {
        None => Some(Arrival::Poisson),
        Some(v) => arrival(w, &v),
    };
    let max_in_flight = match t.get("max_in_flight") {
        None => Some(256),
        Some(v) => v.int_in(w, 1, 1_000_000).map(|n| n as usize),
    };
    let drain_timeout = duration_or(w, &mut t, "drain_timeout", Duration::from_secs(30));
    let phases = t.require(w, "phases").and_then(|v| {
        let items = v.array(w)?;
        if items.is_empty() {
            v.bad(w, "at least one phase is required");
            return None;
        }
        let phases: Vec<Option<Phase>> = items.iter().map(|p| phase(w, p)).collect();
        phases.into_iter().collect::<Option<Vec<_>>>()
    });
    t.finish(w, LOAD_KEYS, |_| None);
    Some(LoadConfig {
        mode: mode?,
        arrival: arrival?,
        max_in_flight: max_in_flight?,
        drain_timeout: drain_timeout?,
        phases: phases?,
    })
}

fn arrival(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Arrival> {
    if v.is_str() {
        return match v.one_of(w, &["constant", "poisson"])? {
            "constant" => Some(Arrival::Constant),
            _ => Some(Arrival::Poisson),
        };
    }
    let mut t = v.table(w)?;
    let out = match t.get("gamma") {
        Some(g) => {
            let mut gt = g.table(w)?;
            let k = gt
                .require(w, "burstiness")
                .and_then(|b| b.float_in(w, 0.0, false, 1000.0));
            gt.finish(w, &["burstiness"], |_| None);
            k.map(|burstiness| Arrival::Gamma { burstiness })
        }
        None => {
            v.bad(
                w,
                "must be \"constant\", \"poisson\" or { gamma = { burstiness = K } }",
            );
            None
        }
    };
    t.finish(w, &["gamma"], |_| None);
    out
}

fn phase(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Phase> {
    let mut t = v.table(w)?;
    let kind = t.require(w, "kind").and_then(|k| {
        let s = k.str(w)?;
        match s {
            "steady" => Some("steady"),
            "ramp" | "spike" | "step" | "diurnal" => {
                k.bad(w, format!("phase kind {s:?} is not available in this version; use \"steady\""));
                None
            }
            _ => {
                k.bad(w, format!("must be one of \"steady\", \"ramp\", \"spike\", \"step\", \"diurnal\" (got {s:?})"));
                None
            }
        }
    });
    let rate = t
        .require(w, "rate")
        .and_then(|r| r.float_in(w, 0.0, true, 1_000_000.0));
    let duration = t.require(w, "duration").and_then(|d| {
        if d.is_str() && d.raw().as_str() == Some("forever") {
            Some(None)
        } else {
            d.duration(w).map(Some)
        }
    });
    t.finish(w, PHASE_KEYS, |_| None);
    kind?;
    Some(Phase {
        kind: PhaseKind::Steady { rate: rate? },
        duration: duration?,
    })
}

fn scenarios(
    w: &mut Walk<'_>,
    v: Option<Val<'_, '_>>,
    targets: Option<&[Target]>,
) -> Option<Vec<Scenario>> {
    let Some(v) = v else {
        w.report("scenario", None, "at least one [[scenario]] is required");
        return None;
    };
    let items = v.array(w)?;
    if items.is_empty() {
        v.bad(w, "at least one [[scenario]] is required");
        return None;
    }
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    let mut ok = true;
    for item in &items {
        match scenario(w, item, targets) {
            Some(s) if !names.insert(s.name.clone()) => {
                w.report(
                    &format!("{}.name", item.path),
                    Some(item.span()),
                    format!("duplicate scenario name {:?}", s.name),
                );
                ok = false;
            }
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn scenario(w: &mut Walk<'_>, v: &Val<'_, '_>, targets: Option<&[Target]>) -> Option<Scenario> {
    let mut t = v.table(w)?;
    let name = t.require(w, "name").and_then(|v| label_name(w, &v));
    let weight = match t.get("weight") {
        None => Some(1.0),
        Some(v) => v.float_in(w, 0.0, false, 1e9),
    };
    // `None` here means "targets are broken, don't pile on"; a bad name is reported.
    let target = match (t.get("target"), targets) {
        (_, None) => None,
        (None, Some([_])) => Some(0),
        (None, Some(_)) => {
            w.report(
                &format!("{}.target", t.path),
                Some(t.span.clone()),
                "is required when more than one [[target]] is configured",
            );
            None
        }
        (Some(v), Some(ts)) => {
            let s = v.str(w)?;
            let found = ts.iter().position(|x| x.name == s);
            if found.is_none() {
                let known: Vec<&str> = ts.iter().map(|x| x.name.as_str()).collect();
                v.bad(
                    w,
                    format!("no [[target]] named {s:?} (known: {})", known.join(", ")),
                );
            }
            found
        }
    };
    let endpoint = match t.get("endpoint") {
        None => Some(Endpoint::Chat),
        Some(v) => v.one_of(w, &["chat", "completions"]).map(|s| {
            if s == "chat" {
                Endpoint::Chat
            } else {
                Endpoint::Completions
            }
        }),
    };
    let model = match t.get("model") {
        None => None,
        Some(v) => v.str(w).map(str::to_string),
    };
    let system_prompt = match t.get("system_prompt") {
        None => Some(None),
        Some(v) => v.str(w).map(|s| Some(s.to_string())),
    };
    let input_v = t.require(w, "input_tokens");
    let input_tokens = length(w, input_v);
    let output_v = t.require(w, "output_tokens");
    let output_tokens = length(w, output_v);
    let temperature = optional(t.get("temperature"), |v| v.float_in(w, 0.0, true, 2.0));
    let top_p = optional(t.get("top_p"), |v| v.float_in(w, 0.0, false, 1.0));
    let stop = match t.get("stop") {
        None => Some(Vec::new()),
        Some(v) => v.array(w).and_then(|items| {
            items
                .iter()
                .map(|i| i.str(w).map(str::to_string))
                .collect::<Option<Vec<_>>>()
        }),
    };
    t.finish(w, SCENARIO_KEYS, |_| None);
    let target = target?;
    let model = match model {
        Some(m) => m,
        None => targets?.get(target)?.model.clone(),
    };
    Some(Scenario {
        name: name?,
        weight: weight?,
        target,
        endpoint: endpoint?,
        model,
        system_prompt: system_prompt?,
        input_tokens: input_tokens?,
        output_tokens: output_tokens?,
        temperature: temperature?,
        top_p: top_p?,
        stop: stop?,
    })
}

/// `Some(None)` when absent, `Some(Some(x))` when valid, `None` after a reported problem.
fn optional<'a, 'i, T>(
    v: Option<Val<'a, 'i>>,
    f: impl FnOnce(&Val<'a, 'i>) -> Option<T>,
) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(v) => f(&v).map(Some),
    }
}

/// A token-length distribution: an integer (constant), or a table with exactly one of
/// `constant`, `uniform = {min, max}`, `normal = {mean, stddev}`, `lognormal = {mean, stddev}`,
/// plus optional `min`/`max` clip bounds.
fn length(w: &mut Walk<'_>, v: Option<Val<'_, '_>>) -> Option<LengthDist> {
    let v = v?;
    if let DeValue::Integer(_) = v.raw() {
        let n = v.int_in(w, 1, MAX_TOKENS_LIMIT)? as u32;
        return Some(LengthDist {
            dist: DistKind::Constant(n),
            min: n,
            max: n,
        });
    }
    let mut t = v.table(w)?;
    let kinds: Vec<&str> = ["constant", "uniform", "normal", "lognormal"]
        .into_iter()
        .filter(|k| t.has(k))
        .collect();
    if kinds.len() != 1 {
        v.bad(w, "must name exactly one of constant, uniform, normal, lognormal (e.g. { lognormal = { mean = 512, stddev = 128 }, min = 16, max = 4096 })");
        t.entries();
        t.finish(w, DIST_KEYS, |_| None);
        return None;
    }
    let min = optional(t.get("min"), |v| v.int_in(w, 1, MAX_TOKENS_LIMIT));
    let max = optional(t.get("max"), |v| v.int_in(w, 1, MAX_TOKENS_LIMIT));
    let dist = match kinds[0] {
        "constant" => t
            .get("constant")
            .and_then(|c| c.int_in(w, 1, MAX_TOKENS_LIMIT))
            .map(|n| DistKind::Constant(n as u32)),
        "uniform" => t.get("uniform").and_then(|u| {
            let mut ut = u.table(w)?;
            let lo = ut
                .require(w, "min")
                .and_then(|x| x.int_in(w, 1, MAX_TOKENS_LIMIT));
            let hi = ut
                .require(w, "max")
                .and_then(|x| x.int_in(w, 1, MAX_TOKENS_LIMIT));
            ut.finish(w, &["min", "max"], |_| None);
            let (lo, hi) = (lo? as u32, hi? as u32);
            if lo > hi {
                u.bad(w, format!("min must be <= max (got {lo} > {hi})"));
                return None;
            }
            Some(DistKind::Uniform { min: lo, max: hi })
        }),
        kind => t
            .get(if kind == "normal" {
                "normal"
            } else {
                "lognormal"
            })
            .and_then(|n| {
                let mut nt = n.table(w)?;
                let mean = nt
                    .require(w, "mean")
                    .and_then(|x| x.float_in(w, 0.0, false, MAX_TOKENS_LIMIT as f64));
                let stddev = nt
                    .require(w, "stddev")
                    .and_then(|x| x.float_in(w, 0.0, true, MAX_TOKENS_LIMIT as f64));
                nt.finish(w, &["mean", "stddev"], |_| None);
                let (mean, stddev) = (mean?, stddev?);
                Some(if kind == "normal" {
                    DistKind::Normal { mean, stddev }
                } else {
                    DistKind::Lognormal { mean, stddev }
                })
            }),
    };
    t.finish(w, DIST_KEYS, |_| None);
    let (dist, min, max) = (dist?, min?, max?);
    let (default_min, default_max) = match dist {
        DistKind::Constant(n) => (n, n),
        DistKind::Uniform { min, max } => (min, max),
        DistKind::Normal { mean, stddev } | DistKind::Lognormal { mean, stddev } => {
            (1, ((mean + 10.0 * stddev).ceil() as u32).max(1))
        }
    };
    let min = min.map_or(default_min, |m| m as u32);
    let max = max.map_or(default_max, |m| m as u32);
    if min > max {
        v.bad(w, format!("min must be <= max (got {min} > {max})"));
        return None;
    }
    Some(LengthDist { dist, min, max })
}

use toml::de::DeValue;
