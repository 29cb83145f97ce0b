//! llm-soak's config schema, written as a walk: each section reads its keys with defaults,
//! checks ranges and cross-references, and keeps going after a problem so that one run of
//! `check-config` lists everything that is wrong.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::walk::{Problem, Tbl, Val, Walk};
use super::*;

const ROOT_KEYS: &[&str] = &[
    "seed",
    "server",
    "target",
    "load",
    "scenario",
    "canary",
    "output",
    "gates",
    "otlp",
    "resources",
    "baseline",
    "simulator",
];
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
    "tokenizer",
    "recount_sample",
];
/// Default address of `/metrics` and the status API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

pub(super) fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let mut w = Walk::new(text, env);
    let Some(doc) = w.parse(text) else {
        return Err(w.problems);
    };
    let mut root = Tbl::root(&doc);
    let seed = root
        .get("seed")
        .and_then(|v| v.int_in(&mut w, 0, i64::MAX))
        .map_or(Some(0), |s| u64::try_from(s).ok());
    let server = server(&mut w, root.get("server"));
    // A canary-only config (the always-on probe) needs no [load] and no [[scenario]].
    let canary_only = root.has("canary") && !root.has("scenario");
    let load = match root.get("load") {
        None if canary_only => Some(LoadConfig::idle()),
        v => super::load::load(&mut w, v),
    };
    let max_in_flight = load.as_ref().map_or(256, |l| l.max_in_flight);
    let target_list = root.require(&mut w, "target");
    let (targets, targets_ok) = targets(&mut w, target_list, max_in_flight);
    let scenarios = if canary_only {
        Some(Vec::new())
    } else {
        super::scenario::scenarios(
            &mut w,
            root.get("scenario"),
            (!targets.is_empty()).then_some(targets.as_slice()),
            seed.unwrap_or(0),
        )
    };
    if let (Some(l), Some(sc)) = (&load, &scenarios)
        && l.mode == LoadMode::Closed
    {
        for (i, s) in sc.iter().enumerate().filter(|(_, s)| s.session.is_some()) {
            w.report(&format!("scenario[{i}].session"), None, format!("scenario {:?}: multi-turn sessions need mode = \"open\" (arrivals start sessions)", s.name));
        }
    }
    let requests_jsonl = match root.get("output") {
        None => Some(None),
        Some(v) => output(&mut w, &v),
    };
    let canary = match root.get("canary") {
        None => Some(None),
        Some(v) if !targets.is_empty() => super::canary::walk(&mut w, &v, &targets).map(Some),
        Some(_) => None,
    };
    let gates = match root.get("gates") {
        None => Some(Default::default()),
        Some(v) => super::gates::walk(&mut w, &v),
    };
    let otlp_v = root.get("otlp");
    let otlp = super::otlp::walk(&mut w, otlp_v);
    let resources_v = root.get("resources");
    let resources = super::resources::resources(&mut w, resources_v, &targets);
    let baseline_v = root.get("baseline");
    let baseline = super::resources::baseline(&mut w, baseline_v);
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

    match (
        seed,
        server,
        targets,
        load,
        scenarios,
        simulator,
        canary,
        requests_jsonl,
        gates,
        otlp,
        resources,
        baseline,
    ) {
        (
            Some(seed),
            Some(server),
            Some(targets),
            Some(load),
            Some(scenarios),
            Some(simulator),
            Some(canary),
            Some(requests_jsonl),
            Some(gates),
            Some(otlp),
            Some(resources),
            Some(baseline),
        ) if w.problems.is_empty() => Ok(Config {
            seed,
            server,
            targets,
            load,
            scenarios,
            canary,
            requests_jsonl,
            gates,
            otlp,
            resources,
            baseline,
            simulator,
            checksum: checksum(text),
        }),
        _ => {
            let mut problems = w.problems;
            problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            Err(problems)
        }
    }
}

/// `[output] requests_jsonl = { path, max_bytes, keep }`.
fn output(
    w: &mut Walk<'_>,
    v: &Val<'_, '_>,
) -> Option<Option<crate::metrics::request_log::LogSpec>> {
    let mut t = v.table(w)?;
    let spec = match t.get("requests_jsonl") {
        None => Some(None),
        Some(r) => r.table(w).and_then(|mut rt| {
            let path = rt
                .require(w, "path")
                .and_then(|p| p.str(w).map(PathBuf::from));
            let max_bytes = match rt.get("max_bytes") {
                None => Some(100 << 20),
                Some(m) => m.int_in(w, 4096, i64::MAX).map(|n| n as u64),
            };
            let keep = match rt.get("keep") {
                None => Some(5),
                Some(k) => k.int_in(w, 0, 1000).map(|n| n as u32),
            };
            rt.finish(w, &["path", "max_bytes", "keep"], |_| None);
            Some(Some(crate::metrics::request_log::LogSpec {
                path: path?,
                max_bytes: max_bytes?,
                keep: keep?,
            }))
        }),
    };
    t.finish(w, &["requests_jsonl"], |_| None);
    spec
}

pub(super) fn parse_simulator(text: &str) -> Result<crate::simulator::SimConfig, Vec<Problem>> {
    let env = |_: &str| None;
    let mut w = Walk::new(text, &env);
    let Some(doc) = w.parse(text) else {
        return Err(w.problems);
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
    super::server::walk(w, v, DEFAULT_LISTEN.parse().ok()?)
}

pub(super) fn socket_addr(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SocketAddr> {
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

pub(super) fn duration_or(
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
pub(super) fn label_name(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<String> {
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

pub(super) fn is_sensitive_header(name: &str) -> bool {
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
    let tokenizer = match t.get("tokenizer") {
        None => Some((None, crate::workload::default_tokenizer())),
        Some(v) => tokenizer(w, &v),
    };
    let recount_sample = match t.get("recount_sample") {
        None => Some(0.05),
        Some(v) => v.float_in(w, 0.0, true, 1.0),
    };
    t.finish(w, TARGET_KEYS, |k| match k {
        "api_key" | "key" | "token" | "password" => Some(
            "secrets are not accepted inline; use api_key_env (an env var name) or api_key_file (a path)"
                .to_string(),
        ),
        _ => None,
    });
    let (base_url, server_address, server_port) = base_url?;
    let (tokenizer_file, tokenizer) = tokenizer?;
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
        tokenizer_file,
        tokenizer,
        recount_sample: recount_sample?,
        server_address,
        server_port,
    })
}

type LoadedTokenizer = (
    Option<PathBuf>,
    std::sync::Arc<dyn crate::workload::Tokenizer>,
);

/// `tokenizer = { file = "…/tokenizer.json" }`, loaded now so a bad one is a config error.
fn tokenizer(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<LoadedTokenizer> {
    let mut t = v.table(w)?;
    let out = t.require(w, "file").and_then(|f| {
        let path = PathBuf::from(f.str(w)?);
        match crate::workload::tokenizer::HfTokenizer::from_file(&path) {
            Ok(tok) => Some((
                Some(path),
                std::sync::Arc::new(tok) as std::sync::Arc<dyn crate::workload::Tokenizer>,
            )),
            Err(e) => {
                f.bad(w, format!("cannot load tokenizer {}: {e}", path.display()));
                None
            }
        }
    });
    t.finish(w, &["file"], |_| None);
    out
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
