//! The binary's command-line contract: exit codes of DESIGN §8 for usage and config errors,
//! every config problem printed with its path, secrets never printed.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::bin;

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("LLM_SOAK_API_KEY")
        .env_remove("LLM_SOAK_TEST_UNSET_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run llm-soak");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/daemon/examples/llm-soak.toml");
const THREE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/config/bad/three-mistakes.toml"
);

#[test]
fn three_mistakes_exit_64_and_are_all_listed_with_paths() {
    let (code, _, err) = run(&["check-config", "-c", THREE], &[]);
    assert_eq!(code, Some(64), "{err}");
    for needle in [
        "three-mistakes.toml:8: target[0].api_key_env: environment variable LLM_SOAK_TEST_UNSET_KEY is not set or empty",
        "three-mistakes.toml:11: load.max_in_flight: must be > 0 (got 0)",
        "three-mistakes.toml:15: load.phases[0].duration: invalid duration \"ten minutes\"",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(err.contains("3 problems found"), "{err}");
    // `run` refuses the same file the same way, before sending anything.
    let (code, _, _) = run(&["run", "-c", THREE], &[]);
    assert_eq!(code, Some(64));
}

#[test]
fn the_example_checks_and_prints_without_its_secret() {
    let env = [("LLM_SOAK_API_KEY", "sk-do-not-print-me")];
    let (code, out, err) = run(&["check-config", "-c", EXAMPLE], &env);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("OK (1 target, 2 scenarios, 2 phases)"),
        "{out}"
    );
    let (code, out, _) = run(&["print-config", "-c", EXAMPLE], &env);
    assert_eq!(code, Some(0));
    assert!(out.contains("api_key_env = \"LLM_SOAK_API_KEY\""), "{out}");
    assert!(!out.contains("sk-do-not-print-me"));
    // Without the variable the example is refused, naming it.
    let (code, _, err) = run(&["check-config", "-c", EXAMPLE], &[]);
    assert_eq!(code, Some(64));
    assert!(
        err.contains("target[0].api_key_env: environment variable LLM_SOAK_API_KEY is not set"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    assert_eq!(run(&["bogus"], &[]).0, Some(64));
    assert_eq!(run(&[], &[]).0, Some(64));
    assert_eq!(run(&["run"], &[]).0, Some(64));
    assert_eq!(run(&["demo", "--duration", "0s"], &[]).0, Some(64));
    assert_eq!(run(&["simulate", "--error-rate", "2"], &[]).0, Some(64));
    assert_eq!(
        run(&["check-config", "-c", "/nonexistent/llm-soak.toml"], &[]).0,
        Some(64)
    );
    let (code, out, _) = run(&["--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("demo"));
    assert_eq!(run(&["--version"], &[]).0, Some(0));
}
