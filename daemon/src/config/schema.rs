//! llm-soak's config schema, written as a walk: each section reads its keys with defaults,
//! checks ranges and cross-references, and keeps going after a problem so that one run of
//! `check-config` lists everything that is wrong.

use std::net::SocketAddr;
use std::time::Duration;

use super::walk::{Problem, Tbl, Val, Walk};
use super::*;

const ROOT_KEYS: &[&str] = &[
    "seed",
    "slo",
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
    "sweep",
];
/// Default address of `/metrics` and the status API.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

pub(super) fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    inspect: bool,
) -> Result<Config, Vec<Problem>> {
    let mut w = Walk::new(text, env);
    if inspect {
        w = w.inspecting();
    }
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
        v => super::load_walk::load(&mut w, v),
    };
    let max_in_flight = load.as_ref().map_or(256, |l| l.max_in_flight);
    let target_list = root.require(&mut w, "target");
    let (targets, targets_ok) = super::target::targets(&mut w, target_list, max_in_flight);
    let scenarios = if canary_only {
        Some(Vec::new())
    } else {
        super::scenario::scenarios(
            &mut w,
            root.get("scenario"),
            (!targets.is_empty()).then_some(targets.as_slice()),
        )
    };
    if let (Some(l), Some(sc)) = (&load, &scenarios)
        && l.mode == LoadMode::Closed
    {
        for (i, s) in sc.iter().enumerate().filter(|(_, s)| s.session.is_some()) {
            w.report(&format!("scenario[{i}].session"), None, format!("scenario {:?}: multi-turn sessions need mode = \"open\" (arrivals start sessions)", s.name));
        }
    }
    let output = match root.get("output") {
        None => Some(super::Output::default()),
        Some(v) => super::output::walk(&mut w, &v),
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
    let slo = match root.get("slo") {
        None => Some(None),
        Some(v) => super::slo::walk(&mut w, &v).map(Some),
    };
    // A gate's scope must exist: a scenario by name, a phase by index; an SLO for attainment.
    if let (Some(g), Some(l), Some(sc)) = (&gates, &load, &scenarios) {
        let has_slo = matches!(slo, Some(Some(_))) || sc.iter().any(|s| s.slo.is_some());
        let mut scopes: Vec<&str> = sc.iter().map(|s| s.name.as_str()).collect();
        if root.has("canary") {
            scopes.push(super::canary::SCENARIO);
        }
        for (rule, at) in g.rules.iter().zip(&g.rule_origins) {
            if let Some(why) = super::gates::scope_problem(rule, &scopes, l.phases.len(), has_slo) {
                w.problems.push(at.problem(why));
            }
        }
    }
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
    let sweep = match root.get("sweep") {
        None => Some(None),
        Some(v) => super::sweep::walk(&mut w, &v).map(Some),
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
        seed, server, targets, load, scenarios, simulator, canary, output, gates, otlp, resources,
        baseline, slo, sweep,
    ) {
        (
            Some(seed),
            Some(server),
            Some(targets),
            Some(load),
            Some(scenarios),
            Some(simulator),
            Some(canary),
            Some(output),
            Some(gates),
            Some(otlp),
            Some(resources),
            Some(baseline),
            Some(slo),
            Some(sweep),
        ) if w.problems.is_empty() => Ok(Config {
            seed,
            server,
            targets,
            load,
            scenarios,
            canary,
            output,
            gates,
            otlp,
            resources,
            baseline,
            slo,
            sweep,
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

pub(super) fn parse_simulator(text: &str) -> Result<SimConfig, Vec<Problem>> {
    let env = |_: &str| None;
    let mut w = Walk::new(text, &env);
    let Some(doc) = w.parse(text) else {
        return Err(w.problems);
    };
    let mut root = Tbl::root(&doc);
    let sim = match root.get("simulator") {
        None => Some(SimConfig::default()),
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
