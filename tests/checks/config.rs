//! Config table test: every good fixture loads and prepares; every bad fixture fails with exactly
//! the problems its `# expect:` lines list (path and message, in order) — from the shape and checks, or, for
//! a file that parses, from the preparation step that reads the files it names; the documented
//! example loads; secrets never appear in printed output.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use llm_soak::config::{ApiKey, Config, ConfigError};
use llm_soak::prepare::Prepared;

/// What `check-config` does: validate, then read the files the config names.
fn load(text: &str, name: &str) -> Result<Prepared, ConfigError> {
    Prepared::parse(text, name, &env)
}

fn env(k: &str) -> Option<String> {
    match k {
        "TEST_KEY" | "LLM_SOAK_API_KEY" => Some("sk-secret-value".into()),
        _ => None,
    }
}

fn fixtures(kind: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

#[test]
fn good_fixtures_load() {
    for (name, text) in fixtures("good") {
        let config = match load(&text, &name) {
            Ok(p) => p.config,
            Err(e) => panic!("{name}: {e}"),
        };
        // print-config's output is itself a config meaning the same thing.
        let printed = config.to_toml();
        let again = Config::parse(&printed, "printed", &env)
            .unwrap_or_else(|e| panic!("{name} printed:\n{printed}\n{e}"));
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("# checksum"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&again.to_toml()), strip(&printed), "{name}");
    }
}

#[test]
fn bad_fixtures_report_every_problem_with_its_path() {
    for (name, text) in fixtures("bad") {
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expected.is_empty(), "{name} has no expectations");
        let err = load(&text, &name).expect_err(&name);
        let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(got, expected, "{name}");
        // Each problem has a line number (except whole-file ones) and the rendering names the file.
        let rendered = err.to_string();
        assert!(
            rendered.starts_with(&format!("{name}: {} problem", expected.len())),
            "{rendered}"
        );
    }
}

#[test]
fn a_gate_rules_problem_names_its_own_index_and_line() {
    let text = fixtures("bad")
        .into_iter()
        .find(|(n, _)| n == "gate-lines.toml")
        .unwrap()
        .1;
    let err = Config::parse(&text, "c.toml", &env).unwrap_err();
    let at: Vec<(&str, Option<usize>)> = err
        .problems()
        .iter()
        .map(|p| (p.path.as_str(), p.line))
        .collect();
    assert_eq!(
        at,
        [("gates.rules[0]", Some(20)), ("gates.rules[1]", Some(21))]
    );
}

#[test]
fn three_mistakes_carry_their_lines() {
    let text = fixtures("bad")
        .into_iter()
        .find(|(n, _)| n == "three-mistakes.toml")
        .unwrap()
        .1;
    let err = Config::parse(&text, "c.toml", &env).unwrap_err();
    let lines: Vec<Option<usize>> = err.problems().iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(8), Some(11), Some(15)]);
    assert!(
        err.to_string()
            .contains("c.toml:11: load.max_in_flight: must be > 0 (got 0)")
    );
}

#[test]
fn the_documented_example_loads_and_prints_without_secrets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/examples/llm-soak.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = load(&text, "llm-soak.toml").unwrap().config;
    let Some(ApiKey::Env { value, .. }) = &config.targets[0].api_key else {
        panic!("the example's key comes from the environment")
    };
    assert_eq!(value.expose(), "sk-secret-value");
    let printed = config.to_toml();
    assert!(!printed.contains("sk-secret-value"), "{printed}");
    assert!(!format!("{config:?}").contains("sk-secret-value"));
    assert!(
        printed.contains("api_key_env = \"LLM_SOAK_API_KEY\""),
        "{printed}"
    );
    // The effective config is itself a valid config that means the same thing.
    let again = Config::parse(&printed, "printed", &env).unwrap();
    assert_eq!(
        again.to_toml(),
        printed.replace(
            &format!("{:016x}", config.checksum),
            &format!("{:016x}", again.checksum)
        )
    );
}

#[test]
fn sensitive_headers_are_redacted() {
    let text = fixtures("good")
        .into_iter()
        .find(|(n, _)| n == "two-targets.toml")
        .unwrap()
        .1;
    let config = Config::parse(&text, "t", &env).unwrap();
    let printed = config.to_toml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("inference"));
    assert!(!serde_json::to_string(&config).unwrap().contains("hunter2"));
}

/// Every key of the config's types, found by asking them: a probe key set in a table is
/// refused as unknown with the list of the keys its type has; each of those that takes a table
/// (or an array of tables) is probed in turn. Nothing is read from the source: the types are
/// the schema. (`[simulator]` has its own example, `daemon/examples/simulator.toml`.)
fn every_config_key() -> std::collections::BTreeSet<String> {
    use toml::{Table, Value};
    const PROBE: &str = "zzz_probe";
    /// The keys of the table at `path` (`None`: not a table there, or a free-form one).
    fn keys_at(root: &Table, path: &[String]) -> Option<Vec<String>> {
        let mut doc = root.clone();
        let mut v: &mut Table = &mut doc;
        for seg in path {
            let (key, index) = match seg.strip_suffix("[0]") {
                Some(k) => (k, true),
                None => (seg.as_str(), false),
            };
            let entry = v.entry(key.to_string()).or_insert_with(|| match index {
                true => Value::Array(vec![Value::Table(Table::new())]),
                false => Value::Table(Table::new()),
            });
            v = match (entry, index) {
                (Value::Array(a), true) => a.first_mut()?.as_table_mut()?,
                (Value::Table(t), false) => t,
                _ => return None,
            };
        }
        v.insert(PROBE.into(), Value::Integer(1));
        let text = toml::to_string(&doc).ok()?;
        let err = Config::parse(&text, "probe", &env).err()?;
        let at = path.join(".");
        let want = if at.is_empty() {
            PROBE.to_string()
        } else {
            format!("{at}.{PROBE}")
        };
        err.problems()
            .iter()
            .find(|p| p.path == want)?
            .message
            .strip_prefix("unknown key (expected one of: ")?
            .strip_suffix(')')
            .map(|l| l.split(", ").map(str::to_string).collect())
    }
    let mut keys = std::collections::BTreeSet::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let root = Table::new();
    while let Some(path) = todo.pop() {
        let Some(found) = keys_at(&root, &path) else {
            continue;
        };
        for k in found {
            if path.is_empty() && k == "simulator" {
                keys.insert(k);
                continue;
            }
            for child in [k.clone(), format!("{k}[0]")] {
                let mut p = path.clone();
                p.push(child);
                if p.len() < 8 && keys_at(&root, &p).is_some() {
                    todo.push(p);
                    break;
                }
            }
            keys.insert(k);
        }
    }
    keys
}

#[test]
fn the_documented_example_shows_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/examples/llm-soak.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let keys = every_config_key();
    assert!(keys.len() > 150, "the schema probe found only {keys:?}");
    // As `key = …` (set or commented out), or as a table's header (`[key]`, `[[load.key]]`).
    let shown = |k: &str| {
        text.match_indices(k).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + k.len()..].trim_start_matches([' ', '"']);
            before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
                && (after.starts_with('=') || after.starts_with(']'))
        })
    };
    let missing: Vec<&String> = keys.iter().filter(|k| !shown(k)).collect();
    assert!(
        missing.is_empty(),
        "daemon/examples/llm-soak.toml says every key is shown, but lacks {missing:?}"
    );
}

#[test]
fn the_simulator_example_documents_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/examples/simulator.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let parsed = Config::parse_simulator(&text, "simulator.toml").unwrap();
    assert_eq!(parsed, llm_soak::simulator::SimConfig::default());
    // The commented-out sections are valid when enabled.
    let enabled: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| {
                    r.starts_with('[')
                        || r.split_once(" = ").is_some_and(|(k, _)| {
                            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        })
                })
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let c = Config::parse_simulator(&enabled, "enabled").unwrap();
    // Its rendering (print-config) reads back as the same section.
    let rendered = toml::to_string(&serde_json::json!({ "simulator": c })).unwrap();
    assert_eq!(Config::parse_simulator(&rendered, "rendered").unwrap(), c);
    assert_eq!(c.faults.len(), 1);
    assert_eq!(c.leak.bytes_per_request, 1 << 20);
    assert!(c.metrics_listen.is_some());
}

#[test]
fn simulator_section_problems_have_paths() {
    let text = "[simulator]\nbatch_capacity = 0\nitl_base = \"0s\"\n[[simulator.faults]]\nkind = \"gremlins\"\nrate = 2\n[[simulator.faults]]\nkind = \"stall\"\nrate = 0.1\nstatus = 500\n";
    let err = Config::parse_simulator(text, "s").unwrap_err();
    let got: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "simulator.batch_capacity: must be > 0 (got 0)",
            "simulator.itl_base: must be > 0 (got \"0s\")",
            "simulator.faults[0].kind: must be one of \"http_5xx\", \"http_4xx\", \"http_429\", \"html_200\", \"reset\", \"stall\", \"never_ends\", \"truncate\", \"malformed\", \"oversized\", \"no_usage\", \"slow_headers\", \"stream_error\" (got \"gremlins\")",
            "simulator.faults[0].rate: must be <= 1 (got 2)",
            "simulator.faults[1].status: only http_5xx and http_4xx take a status",
        ]
    );
}

#[test]
fn the_documented_example_configs_load() {
    for file in ["docs/examples/ci-gate.toml", "daemon/examples/demo.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = load(&text, file) {
            panic!("{e}");
        }
    }
}

/// `metrics` and `metrics_url`: on by default for an engine provider (the base URL's origin +
/// `/metrics`), off for others, off by `metrics = false`, any http(s) URL by `metrics_url`; and
/// each wrong combination refused with its path.
#[test]
fn the_engine_metrics_keys_default_by_provider_and_refuse_what_cannot_work() {
    let target = |extra: &str| {
        format!(
            "[[target]]\nname = \"t\"\nbase_url = \"https://llm.example:8443/v1x\"\nmodel = \"m\"\n{extra}\n[load]\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n[[scenario]]\nname = \"s\"\ninput_tokens = 8\noutput_tokens = 8\n"
        )
    };
    let url = |extra: &str| {
        Config::parse(&target(extra), "c.toml", &env)
            .map(|c| c.targets[0].metrics_url.clone())
            .map_err(|e| {
                e.problems()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            })
    };
    for engine in ["vllm", "sglang", "llama.cpp", "tgi"] {
        assert_eq!(
            url(&format!("provider = \"{engine}\"")),
            Ok(Some("https://llm.example:8443/metrics".to_string())),
            "{engine}"
        );
    }
    assert_eq!(url("provider = \"openai\""), Ok(None));
    assert_eq!(url("provider = \"vllm\"\nmetrics = false"), Ok(None));
    assert_eq!(
        url("provider = \"openai\"\nmetrics_url = \"http://10.0.0.2:9400/metrics\""),
        Ok(Some("http://10.0.0.2:9400/metrics".to_string()))
    );
    let problems = |extra: &str| url(extra).unwrap_err().join("\n");
    assert!(
        problems("provider = \"openai\"\nmetrics = true").contains("target[0].metrics"),
        "{}",
        problems("provider = \"openai\"\nmetrics = true")
    );
    assert!(problems("metrics_url = \"ftp://x/metrics\"").contains("target[0].metrics_url"));
    assert!(
        problems("metrics = false\nmetrics_url = \"http://x/metrics\"")
            .contains("metrics = false turns scraping off")
    );
}
