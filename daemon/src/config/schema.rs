//! The whole config file: its sections as serde types ([`de`](super::de) reads them with every
//! shape problem reported), then one pass of checks over the sections and across them
//! ([`Check`]), then the [`Config`]. Nothing here reads a file: the preparation step does.

use toml::Value;
use toml::de::DeTable;

use super::canary::Canary;
use super::check::{Check, Problem};
use super::de::{self, Lines};
use super::otlp::OtlpSpec;
use super::slo::Slo;
use super::sweep::SweepConfig;
use super::*;

/// The file as written: every top-level key.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    slo: Option<Slo>,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    target: Option<Vec<Target>>,
    #[serde(default)]
    load: Option<LoadConfig>,
    #[serde(default)]
    scenario: Option<Vec<Scenario>>,
    #[serde(default)]
    canary: Option<Canary>,
    #[serde(default)]
    output: Output,
    #[serde(default)]
    gates: GatesConfig,
    #[serde(default)]
    otlp: Option<OtlpSpec>,
    #[serde(default)]
    resources: ResourceConfig,
    #[serde(default)]
    baseline: BaselineConfig,
    #[serde(default)]
    simulator: Option<SimConfig>,
    #[serde(default)]
    sweep: Option<SweepConfig>,
}

/// What an unknown key most likely meant, where the near miss would not say it.
fn hint(path: &str, key: &str) -> Option<String> {
    match key {
        "targets" | "scenarios" if path == key => Some(format!(
            "unknown key (did you mean [[{}]]?)",
            key.trim_end_matches('s')
        )),
        "api_key" | "key" | "token" | "password" if path.starts_with("target[") => Some(
            "secrets are not accepted inline; use api_key_env (an env var name) or api_key_file (a path)"
                .into(),
        ),
        _ => None,
    }
}

/// The document's tree (for lines) and values, or the syntax error.
fn read(text: &str) -> Result<(Lines, toml::Table), Vec<Problem>> {
    let syntax = |message: &str, span: Option<std::ops::Range<usize>>| {
        let line = span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        vec![Problem {
            path: String::new(),
            line,
            message: format!("TOML syntax error: {message}"),
        }]
    };
    let doc = DeTable::parse(text).map_err(|e| syntax(e.message(), e.span()))?;
    let table = toml::from_str(text).map_err(|e| syntax(e.message(), e.span()))?;
    Ok((Lines::index(doc.get_ref(), text), table))
}

pub(super) fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    inspect: bool,
) -> Result<Config, Vec<Problem>> {
    let (lines, table) = read(text)?;
    let mut problems = Vec::new();
    let doc = de::shape::<Document>(Value::Table(table), "", &mut problems, &hint);
    let mut c = Check::new(lines, problems, env, inspect);
    let Some(mut d) = doc else {
        return Err(c.finish().err().unwrap_or_else(unreadable));
    };
    // A canary-only config (the always-on probe) needs no [load] and no [[scenario]].
    let canary_only = d.canary.is_some() && d.scenario.is_none();
    d.server.check(&mut c);
    let mut targets = d.target.unwrap_or_default();
    if targets.is_empty() && c.fine("target") {
        c.bad("target", "is required");
    }
    let mut load = match d.load {
        Some(mut l) => {
            l.check(&mut c);
            l
        }
        None if canary_only => LoadConfig::idle(),
        None => {
            c.bad(
                "load",
                "is required ([load] with at least one [[load.phases]])",
            );
            LoadConfig::idle()
        }
    };
    super::target::check(&mut c, &mut targets, load.max_in_flight);
    let known = (!targets.is_empty()).then_some(targets.as_slice());
    let mut scenarios = match d.scenario {
        None if canary_only => Vec::new(),
        s => s.unwrap_or_default(),
    };
    if !canary_only {
        super::scenario::check(&mut c, &mut scenarios, known);
    }
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    load.resolve_phase_scenarios(&mut c, &names);
    if load.mode == LoadMode::Closed {
        for (i, s) in scenarios
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session.is_some())
        {
            c.bad(
                format!("scenario[{i}].session"),
                format!("scenario {:?}: multi-turn sessions need mode = \"open\" (arrivals start sessions)", s.name),
            );
        }
    }
    if let Some(slo) = &d.slo {
        super::slo::check(&mut c, "slo", slo);
    }
    d.output.check(&mut c);
    if let Some(canary) = &mut d.canary {
        canary.check(&mut c, &targets);
    }
    d.gates.check(&mut c);
    // A gate's scope must exist: a scenario by name, a phase by index; an SLO for attainment.
    let has_slo = d.slo.is_some() || scenarios.iter().any(|s| s.slo.is_some());
    let mut scopes: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    if d.canary.is_some() {
        scopes.push(super::canary::SCENARIO);
    }
    for (rule, at) in d.gates.rules.iter().zip(&d.gates.rule_origins) {
        if let Some(why) = super::gates::scope_problem(rule, &scopes, load.phases.len(), has_slo) {
            c.bad(at.path.clone(), why);
        }
    }
    let otlp = super::otlp::check(&mut c, d.otlp.as_ref());
    d.resources.check(&mut c, &targets);
    d.baseline.check(&mut c);
    if let Some(sim) = &d.simulator {
        sim.check(&mut c);
    }
    if let Some(sweep) = &d.sweep {
        super::sweep::check(&mut c, sweep);
    }
    c.finish()?;
    Ok(Config {
        seed: d.seed,
        server: d.server,
        targets,
        load,
        scenarios,
        canary: d.canary,
        output: d.output,
        gates: d.gates,
        otlp,
        resources: d.resources,
        baseline: d.baseline,
        slo: d.slo,
        sweep: d.sweep,
        simulator: d.simulator,
        checksum: checksum(text),
    })
}

/// Only the `[simulator]` section of `text` (defaults when absent).
pub(super) fn parse_simulator(text: &str) -> Result<SimConfig, Vec<Problem>> {
    let (lines, mut table) = read(text)?;
    let section = table
        .remove("simulator")
        .unwrap_or_else(|| Value::Table(toml::Table::new()));
    let mut problems = Vec::new();
    let sim = de::shape::<SimConfig>(section, "simulator", &mut problems, &|_, _| None);
    let mut c = Check::new(lines, problems, &|_| None, false);
    if let Some(s) = &sim {
        s.check(&mut c);
    }
    c.finish()?;
    sim.ok_or_else(unreadable)
}

/// A document no stand-in made fit, where no problem says why (never seen: a safety net).
fn unreadable() -> Vec<Problem> {
    vec![Problem {
        path: String::new(),
        line: None,
        message: "cannot be read as an llm-soak config".into(),
    }]
}
