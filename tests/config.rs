//! Config table test: every good fixture loads; every bad fixture fails with exactly the
//! problems its `# expect:` lines list (path and message, in order); the documented example
//! loads; secrets never appear in printed output.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use llm_soak::config::Config;

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
        if let Err(e) = Config::parse(&text, &name, &env) {
            panic!("{name}: {e}");
        }
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
        let err = Config::parse(&text, &name, &env).expect_err(&name);
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
    let config = Config::parse(&text, "llm-soak.toml", &env).unwrap();
    assert_eq!(
        config.targets[0].api_key.as_ref().unwrap().value.expose(),
        "sk-secret-value"
    );
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
    assert!(!config.redacted().to_string().contains("hunter2"));
}
