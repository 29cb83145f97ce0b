//! What a new user runs into (issue #25): a base URL that doubles `/v1`, a closed port, a run in
//! which nothing succeeds, an output path that cannot be written — each said clearly, with a
//! documented exit code, before or as it happens; and the healthy case beside each, which must
//! stay quiet. The real binary against the built-in target on 127.0.0.1 port 0.
#![allow(clippy::unwrap_used)]

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use crate::common::*;

fn config(base_url: &str) -> String {
    format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"{base_url}\"\nmodel = \"llm-soak-sim\"\n\
         [load]\nmax_in_flight = 8\npreset = {{ name = \"steady\", rate = 10 }}\n\
         [[scenario]]\nname = \"s\"\ninput_tokens = 16\noutput_tokens = 4\n"
    )
}

/// `check-config` on `text`: (exit code, stdout, stderr).
fn check_config(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin())
        .args(["check-config", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_base_url_ending_in_v1_is_warned_about_and_a_run_that_never_succeeds_says_why() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let doubled = config(&format!("http://{sim}/v1"));
    let (code, out, err) = check_config(&doubled);
    assert_eq!(code, Some(0), "a warning, not a refusal: {err}");
    assert!(out.contains("OK"), "{out}");
    assert!(
        err.contains("warning: target[0].base_url:")
            && err.contains(&format!(
                "requests go to http://{sim}/v1/v1/chat/completions"
            )),
        "{err}"
    );
    let (code, out, err, _) = bounded_run_logged(&doubled, &["--duration", "2s"], &[]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(out.contains("errors by type: http_4xx"), "{out}");
    assert!(err.contains("none succeeded: http_4xx"), "{err}");
    // The first failure of the class, once, with the URL that was wrong and the status.
    let first: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("first http_4xx failure of this target"))
        .collect();
    assert_eq!(first.len(), 1, "{err}");
    assert!(
        first[0].contains(&format!("url=\"http://{sim}/v1/v1/chat/completions\""))
            && first[0].contains("status=404"),
        "{}",
        first[0]
    );
    assert!(
        !err.contains("\u{1b}["),
        "no colour codes when stderr is not a terminal"
    );

    // The healthy config: no warning, exit 0, nothing logged as a first failure.
    let healthy = config(&format!("http://{sim}"));
    let (code, _, err) = check_config(&healthy);
    assert_eq!(code, Some(0));
    assert!(!err.contains("warning"), "{err}");
    let (code, out, err, _) = bounded_run_logged(&healthy, &["--duration", "2s"], &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        !err.contains("first ") && !out.contains("errors by type"),
        "{out}\n{err}"
    );
}

#[test]
fn a_closed_port_is_named_in_the_log_and_the_run_exits_3() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (code, out, err, _) = bounded_run_logged(
        &config(&format!("http://{closed}")),
        &["--duration", "1s"],
        &[],
    );
    assert_eq!(code, Some(3), "{out}\n{err}");
    let first = err
        .lines()
        .find(|l| l.contains("first connect failure"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(first.contains("Connection refused"), "{first}");
    assert!(out.contains("errors by type: connect"), "{out}");
}

/// `run -c TEXT --listen 127.0.0.1:0 ARGS…` to its end: (exit code, stderr).
fn run(text: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin())
        .args([
            "run",
            "-c",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn outputs_that_cannot_be_written_are_refused_before_anything_is_sent() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let text = config(&format!("http://{sim}"));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/r.json");
    let missing = missing.to_str().unwrap();
    for (args, names) in [
        (vec!["--report", missing], "--report: cannot write"),
        (
            vec!["--report-html", dir.path().to_str().unwrap()],
            "--report-html:",
        ),
    ] {
        let mut all = vec!["--duration", "2s"];
        all.extend(args);
        let (code, err) = run(&text, &all);
        assert_eq!(code, Some(64), "{err}");
        assert!(
            err.contains(names) && err.contains("nothing was sent"),
            "{err}"
        );
    }
    let log = format!(
        "{text}[output]\nrequests_jsonl = {{ path = {:?} }}\n",
        dir.path().join("gone/requests.jsonl").to_str().unwrap()
    );
    let (code, err) = run(&log, &["--duration", "2s"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("output.requests_jsonl.path: cannot write"),
        "{err}"
    );
    assert_eq!(get_json(sim, "/stats")["requests"], 0, "nothing was sent");
}

/// A run whose report directory disappears while it runs: the summary is printed, the failed
/// write named, exit 70 — the same for the JSON and the HTML report.
fn run_losing_its_output_dir(flag: &str) -> (Option<i32>, String, String) {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("c.toml");
    std::fs::write(&config, config_text(sim)).unwrap();
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out_file = out_dir.join("report.out");
    let mut child = Command::new(bin())
        .args([
            "run",
            "-c",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--duration", "2s", flag, out_file.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Listening: the outputs were checked; now take their directory away.
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("live:") {
            break;
        }
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        seen,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config_text(sim: std::net::SocketAddr) -> String {
    config(&format!("http://{sim}"))
}

#[test]
fn a_report_that_cannot_be_written_at_the_end_exits_70_for_either_format() {
    for flag in ["--report", "--report-html"] {
        let (code, out, err) = run_losing_its_output_dir(flag);
        assert_eq!(code, Some(70), "{flag}: {out}\n{err}");
        assert!(
            out.contains("requests: started"),
            "the summary is printed: {out}"
        );
        assert!(
            err.contains("cannot write") && err.contains("report.out"),
            "{err}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_output_commands_quietly() {
    // `llm-soak completions bash | head`: the reader is gone before the first write.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/daemon/examples/llm-soak.toml");
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["man"],
        &["print-config", "-c", example],
        &["plan", "-c", example, "--sample", "200"],
        &[
            "plan", "-c", example, "--sample", "200", "--format", "jsonl",
        ],
    ] {
        let mut child = Command::new(bin())
            .args(args)
            .env("LLM_SOAK_API_KEY", "unused")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn plan_and_print_config_need_no_api_key_but_check_config_does() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/daemon/examples/llm-soak.toml");
    for args in [
        &["print-config", "-c", example][..],
        &["plan", "-c", example, "--sample", "50"],
    ] {
        let out = Command::new(bin())
            .args(args)
            .env_remove("LLM_SOAK_API_KEY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("<unset"),
            "the placeholder is never shown: {text}"
        );
    }
    // check-config is what a run would meet: the key must be there.
    let out = Command::new(bin())
        .args(["check-config", "-c", example])
        .env_remove("LLM_SOAK_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("target[0].api_key_env: environment variable LLM_SOAK_API_KEY is not set"),
        "{err}"
    );
}

#[test]
fn logs_carry_plain_values_and_the_run_names_its_report() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config_text(sim)).unwrap();
    let report = dir.path().join("r.json");
    let out = Command::new(bin())
        .args(["--log-format", "json", "run", "-c", path.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--duration", "1s"])
        .args(["--report", report.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let mut started = None;
    for line in err.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for (k, f) in v["fields"].as_object().unwrap() {
            let s = f.to_string();
            assert!(
                !s.contains("Some(") && !s.contains("None"),
                "field {k} in Rust's Debug form: {line}"
            );
        }
        if v["fields"]["message"] == "run started" {
            started = Some(v["fields"].clone());
        }
    }
    let started = started.unwrap_or_else(|| panic!("no 'run started' line: {err}"));
    assert_eq!(started["duration"], "1s", "{started}");
    // The JSON report is named, as the HTML one is.
    assert!(
        err.contains(&format!("report: {}", report.display())),
        "{err}"
    );
}

#[test]
fn a_wrong_canary_answer_is_logged_with_the_answer_and_the_pattern() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let canary = format!(
        "[[target]]\nname = \"sim\"\nbase_url = \"http://{sim}\"\nmodel = \"llm-soak-sim\"\n\
         [canary]\ninterval = \"200ms\"\nmax_tokens = 4\nmax_output_tokens = 4\nexpect = \"^never this$\"\n"
    );
    let (_, out, err, _) = bounded_run_logged(&canary, &["--duration", "1s"], &[]);
    let failed = err
        .lines()
        .find(|l| l.contains("canary probe failed"))
        .unwrap_or_else(|| panic!("{out}\n{err}"));
    assert!(
        failed.contains("checks=\"answer\"") || failed.contains("checks=answer"),
        "{failed}"
    );
    assert!(
        failed.contains("answer=") && failed.contains("expect=\"^never this$\""),
        "{failed}"
    );
    // A canary-only summary has no empty [all] block.
    assert!(!out.contains("[all]") && out.contains("[canary]"), "{out}");
}
