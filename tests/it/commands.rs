//! Every documented command runs. The commands of README.md and docs/*.md (shell blocks, and
//! the `run:` steps of the GitHub Actions example) are read from the Markdown, turned into a short
//! form (seconds of load against the simulator on 127.0.0.1 port 0, files in a scratch
//! directory) and run with the test build; every TOML block passes `check-config`; every script
//! in scripts/ is run here or in the test named for it, and a script that needs a GPU or a
//! multi-gigabyte install runs its dry run. A new script, or a command whose program has no rule
//! here, fails `every_script_and_command_has_a_test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced block of a Markdown file.
#[derive(Debug)]
struct Block {
    file: String,
    lang: String,
    text: String,
}

fn blocks() -> Vec<Block> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            let Some(lang) = l.trim_start().strip_prefix("```") else {
                continue;
            };
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push(Block {
                file: f.strip_prefix(root()).unwrap().display().to_string(),
                lang: lang.trim().to_string(),
                text: body,
            });
        }
    }
    out
}

/// A shell block's commands: continuation lines joined, comments and blank lines dropped.
fn shell_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let code = strip_comment(line).trim().to_string();
        if let Some(head) = code.strip_suffix('\\') {
            current.push_str(head.trim());
            current.push(' ');
            continue;
        }
        current.push_str(&code);
        let cmd = current.trim().to_string();
        current.clear();
        // `sleep 22; perf record …`: one command per `;`.
        for part in cmd.split("; ") {
            if !part.trim().is_empty() {
                out.push(part.trim().to_string());
            }
        }
    }
    out
}

/// A line without its `# comment` (a `#` outside quotes, at the start or after a space).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Shell words (single and double quotes; no expansion).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut w = String::new();
    let (mut single, mut double, mut any) = (false, false, false);
    for c in cmd.chars() {
        match c {
            '\'' if !double => (single, any) = (!single, true),
            '"' if !single => (double, any) = (!double, true),
            c if c.is_whitespace() && !single && !double => {
                if any || !w.is_empty() {
                    out.push(std::mem::take(&mut w));
                }
                any = false;
            }
            c => w.push(c),
        }
    }
    if any || !w.is_empty() {
        out.push(w);
    }
    out
}

/// Every documented command, with where it is written.
fn documented_commands() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in blocks() {
        match b.lang.as_str() {
            "sh" => out.extend(
                shell_commands(&b.text)
                    .into_iter()
                    .map(|c| (b.file.clone(), c)),
            ),
            "yaml" => {
                // A GitHub Actions example: its `run:` steps are commands too.
                let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&b.text).unwrap();
                let mut runs = Vec::new();
                collect_runs(&doc, &mut runs);
                for r in runs {
                    out.extend(shell_commands(&r).into_iter().map(|c| (b.file.clone(), c)));
                }
            }
            _ => {}
        }
    }
    out
}

fn collect_runs(v: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    match v {
        serde_yaml_ng::Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("run")
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                } else {
                    collect_runs(v, out);
                }
            }
        }
        serde_yaml_ng::Value::Sequence(s) => s.iter().for_each(|v| collect_runs(v, out)),
        _ => {}
    }
}

/// How each kind of documented command is tested: by its program (and first argument).
const RULES: &[(&str, &str)] = &[
    ("llm-soak", "documented_llm_soak_commands_run (short form)"),
    (
        "cargo run --release -- demo",
        "documented_llm_soak_commands_run (demo)",
    ),
    ("curl", "documented_curl_commands_run"),
    (
        "scripts/uniformity-trap.sh",
        "the_uniformity_trap_prints_both_rows",
    ),
    (
        "scripts/bench.py",
        "bench::bench_joins_every_request_with_the_simulators_truth, and each documented form's --dry-run in scripts_check_their_arguments",
    ),
    (
        "scripts/soak.py",
        "bench::soak_and_scrape_scripts_report_slope_peak_and_scrape_time",
    ),
    (
        "scripts/bench-peers.py",
        "scripts_check_their_arguments (--dry-run: the peers are a GB install)",
    ),
    (
        "scripts/vllm-compare.sh",
        "scripts_check_their_arguments (DRY_RUN=1: vLLM is a 3 GB install)",
    ),
    (
        "scripts/test.sh",
        "CI: .ci/run runs exactly it (checked here)",
    ),
    (
        "git clone",
        "the cold CI timing's fresh checkout (docs/BENCHMARKS.md); what runs in it is .ci/run, which CI runs",
    ),
    (
        "cargo build --release",
        "every release build (cargo run --release, CI's release job)",
    ),
    (
        "cargo bench --bench scrape_cost",
        "a benchmark (its figure is in docs/BENCHMARKS.md); CI's clippy --all-targets builds it and nextest lists it (it has no tests)",
    ),
    (
        "cargo build --profile profiling",
        "the profile exists in Cargo.toml (checked here)",
    ),
    (
        "cargo install",
        "a user's install from their fork (a placeholder URL)",
    ),
    (
        "./scripts/start-candidate.sh",
        "the user's own server (a placeholder in the CI example)",
    ),
    ("sleep", "a pause between commands"),
    (
        "kubectl",
        "a cluster operation (none here); what it creates is what the chart references, checked by helm::",
    ),
    (
        "helm",
        "helm::the_chart_lints_renders_validates_and_ships_the_rules renders the chart with these values offline (Helm v4's engine; no cluster here)",
    ),
    (
        "sudo dpkg -i",
        "package::the_deb_installs_verifies_runs_and_purges_cleanly installs the same .deb (into a scratch root)",
    ),
    (
        "sudoedit",
        "editing the installed config; package:: checks the installed one",
    ),
    (
        "sudo systemctl",
        "the installed unit passes systemd-analyze verify in package::; deploy:: checks the notify protocol",
    ),
    (
        "docker run",
        "no Docker engine here: release::the_image_is_multi_stage_non_root_and_minimal checks the image's Dockerfile",
    ),
    (
        "perf",
        "Linux perf, an external profiler (not installed in CI); the block's bench.py line runs as a dry run",
    ),
];

/// Every script in scripts/ and where it is tested.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "bench.py",
        "bench::bench_joins_every_request_with_the_simulators_truth",
    ),
    (
        "soak.py",
        "bench::soak_and_scrape_scripts_report_slope_peak_and_scrape_time",
    ),
    ("bench-peers.py", "scripts_check_their_arguments (dry run)"),
    ("uniformity-trap.sh", "the_uniformity_trap_prints_both_rows"),
    (
        "vllm-compare.sh",
        "scripts_check_their_arguments (dry run: vLLM is a 3 GB install)",
    ),
    (
        "gpu-check.sh",
        "scripts_check_their_arguments (dry run: needs an NVIDIA GPU)",
    ),
    (
        "fuzz.sh",
        "scripts_check_their_arguments (dry run: needs nightly and cargo-fuzz); fuzz_regressions replays its finds",
    ),
    (
        "setup-llamacpp.sh",
        "interop::llamacpp_token_counts_match_the_server_exactly runs it",
    ),
    ("test.sh", "CI (.ci/run) runs it"),
    (
        "deb-assets.sh",
        "package::the_deb_installs_verifies_runs_and_purges_cleanly runs it (as the release workflow does)",
    ),
    (
        "helm-check.py",
        "helm::the_chart_lints_renders_validates_and_ships_the_rules runs it",
    ),
    (
        "gen-dashboards.py",
        "alerting::the_rendered_alerting_and_dashboards_are_what_their_sources_say (--check)",
    ),
    (
        "render-mixin.py",
        "alerting::the_rendered_alerting_and_dashboards_are_what_their_sources_say (--check)",
    ),
    (
        "make-o200k.py",
        "its output, daemon/src/workload/o200k/o200k_base.bin, is committed and checked rank by rank against tiktoken-rs by workload::bpe::tests",
    ),
    (
        "make-tokenizer.py",
        "its output, tests/fixtures/tokenizer/tokenizer.json, is committed and used by the workload tests",
    ),
];

fn rule_for(cmd: &str) -> Option<&'static str> {
    RULES
        .iter()
        .filter(|(prefix, _)| cmd == *prefix || cmd.starts_with(&format!("{prefix} ")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, how)| *how)
}

#[test]
fn every_script_and_command_has_a_test() {
    let mut missing = Vec::new();
    for (file, cmd) in documented_commands() {
        if rule_for(&cmd).is_none() {
            missing.push(format!("{file}: {cmd}"));
        }
    }
    assert!(
        missing.is_empty(),
        "documented commands no test runs (add a rule and a test in tests/it/commands.rs):\n{}",
        missing.join("\n")
    );
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|(s, _)| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every script in scripts/ has a test here");
    // The claims the rules make about the build.
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("scripts/test.sh"),
        ".ci/run runs scripts/test.sh"
    );
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(cargo.contains("[profile.profiling]"));
}

#[test]
fn the_command_reader_sees_what_a_shell_would() {
    let cmds = shell_commands(
        "a -x 'b # c' # comment\n  # only a comment\nd --e f \\\n    --g 'h i'\nsleep 2; perf x\n",
    );
    assert_eq!(
        cmds,
        ["a -x 'b # c'", "d --e f --g 'h i'", "sleep 2", "perf x"]
    );
    assert_eq!(
        words("run --gate 'a < 1' -c \"x y\""),
        ["run", "--gate", "a < 1", "-c", "x y"]
    );
    // The old uniformity-trap grep, as a command nobody tests, is caught by the rules.
    assert!(rule_for("grep '^ttft ' out.txt").is_none());
    assert!(rule_for("llm-soak run -c x.toml").is_some());
}

/// The config a documented command names, for the short run: the repo's own file when it
/// exists (pointed at the simulator), else a small valid config against the simulator.
fn config_for_command(name: &str, sim: std::net::SocketAddr, dir: &Path) -> PathBuf {
    let repo = root().join(name);
    let text = if repo.is_file() {
        std::fs::read_to_string(&repo)
            .unwrap()
            .replace("127.0.0.1:8000", &sim.to_string())
    } else {
        format!(
            "seed = 1\n[[target]]\nname = \"sim\"\nbase_url = \"http://{sim}\"\nmodel = \"llm-soak-sim\"\n\
             [load]\narrival = \"constant\"\npreset = {{ name = \"steady\", rate = 20, duration = \"forever\" }}\n\
             [[scenario]]\nname = \"chat\"\ninput_tokens = 32\noutput_tokens = 8\n"
        )
    };
    let path = dir.join(Path::new(name).file_name().unwrap());
    std::fs::write(&path, text).unwrap();
    path
}

/// RFC 3339 for `secs` from now (the shared start of a sharded run).
fn rfc3339_in(secs: u64) -> String {
    let at = std::time::SystemTime::now() + Duration::from_secs(secs);
    let t = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A documented `llm-soak` command in its short form: (arguments, stdout file, whether it runs
/// until stopped).
fn short_form(
    cmd: &str,
    sim: std::net::SocketAddr,
    dir: &Path,
) -> (Vec<String>, Option<PathBuf>, bool) {
    // A usage synopsis (`[--warmup 30s] [--gate '…' ...]`): every optional part included.
    let mut w: Vec<String> = words(cmd)
        .into_iter()
        .map(|x| x.trim_start_matches('[').trim_end_matches(']').to_string())
        .filter(|x| !x.is_empty() && x != "...")
        .collect();
    let mut stdout = None;
    if let Some(i) = w.iter().position(|x| x == ">") {
        stdout = Some(dir.join(&w[i + 1]));
        w.truncate(i);
    }
    if w[..] == ["cargo", "run", "--release", "--", "demo"] {
        return (
            vec!["demo".into(), "--listen".into(), "127.0.0.1:0".into()],
            None,
            true,
        );
    }
    assert_eq!(w[0], "llm-soak", "{cmd}");
    let mut args: Vec<String> = Vec::new();
    let mut it = w.into_iter().skip(1);
    let mut bounded = false;
    let sub = it.next().unwrap();
    args.push(sub.clone());
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| panic!("{cmd}: {a} without a value"))
        };
        match a.as_str() {
            "-c" | "--config" => {
                let v = value();
                args.extend([
                    "-c".into(),
                    config_for_command(&v, sim, dir).display().to_string(),
                ]);
            }
            "--duration" => {
                value();
                bounded = true;
                args.extend(["--duration".into(), "3s".into()]);
            }
            "--warmup" => {
                value();
                args.extend(["--warmup".into(), "1s".into()]);
            }
            "--listen" | "--metrics-listen" => {
                value();
                args.extend([a.clone(), "127.0.0.1:0".into()]);
            }
            "--start-at" => {
                value();
                // One instant for every documented command: the shards of a documented run
                // share it, as their docs say (later ones join late, as a late replica does).
                static START: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                args.extend([
                    "--start-at".into(),
                    START.get_or_init(|| rfc3339_in(2)).clone(),
                ]);
            }
            "--report" | "--baseline" | "--report-html" | "--html" | "-o" | "--output" => {
                let v = value();
                args.extend([a.clone(), dir.join(v).display().to_string()]);
            }
            // A report a command reads (report, gate, compare, merge): an earlier command's.
            _ if a.ends_with(".json") && !a.starts_with('-') => {
                args.push(dir.join(&a).display().to_string());
            }
            _ => args.push(a),
        }
    }
    // Documents run side by side: every daemon (and sweep) on a port of its own.
    if matches!(sub.as_str(), "demo" | "run" | "sweep") && !args.iter().any(|a| a == "--listen") {
        args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    }
    if sub == "sweep" {
        // A documented sweep, in its short form: seconds-long steps, a small ladder, a wide
        // tolerance (the search itself is tested in sweep::).
        let i = args
            .iter()
            .position(|a| a == "-c")
            .expect("a sweep names its config");
        let path = PathBuf::from(&args[i + 1]);
        let mut text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("[slo]") {
            // A sweep judges an SLO: the README's `-c llm-soak.toml` is the user's, with one.
            text.push_str("\n[slo]\nttft = \"2s\"\n");
        }
        text.push_str(
            "\n[sweep]\nwindow = \"1s\"\nwarmup = \"1s\"\nmin_samples = 73\nmax_step = \"8s\"\n\
             ladder_step = \"1s\"\nladder_max = 4\ntolerance = 0.5\ndrain = \"5s\"\n",
        );
        std::fs::write(&path, text).unwrap();
    }
    let until_stopped = match sub.as_str() {
        "run" => !bounded,
        "simulate" => true,
        _ => false,
    };
    (args, stdout, until_stopped)
}

#[test]
fn documented_llm_soak_commands_run() {
    let (_sim, sim) = simulator(&["--ttft", "5ms", "--itl", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    // Each document's commands in order (a later one reads an earlier one's report), the
    // documents side by side, each in a directory of its own.
    let mut by_file: Vec<(String, Vec<String>)> = Vec::new();
    for (file, cmd) in documented_commands() {
        if !(cmd.starts_with("llm-soak ") || cmd.starts_with("cargo run --release -- demo")) {
            continue;
        }
        match by_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, cmds)) => cmds.push(cmd),
            None => by_file.push((file, vec![cmd])),
        }
    }
    let ran: usize = by_file.iter().map(|(_, c)| c.len()).sum();
    assert!(ran >= 20, "only {ran} documented llm-soak commands found");
    std::thread::scope(|scope| {
        for (i, (file, cmds)) in by_file.iter().enumerate() {
            let here = dir.path().join(format!("doc{i}"));
            std::fs::create_dir(&here).unwrap();
            scope.spawn(move || {
                for cmd in cmds {
                    run_documented(file, cmd, sim, &here);
                }
            });
        }
    });
}

/// Run one documented command in its short form in `dir`; panics naming it when it fails.
fn run_documented(file: &str, cmd: &str, sim: std::net::SocketAddr, dir: &Path) {
    let (args, stdout, until_stopped) = short_form(cmd, sim, dir);
    let what = format!("{file}: {cmd}\n  ran as: llm-soak {}", args.join(" "));
    let mut c = Command::new(bin());
    c.args(&args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped());
    match &stdout {
        Some(p) => c.stdout(std::fs::File::create(p).unwrap()),
        None => c.stdout(Stdio::piped()),
    };
    let mut child = c.spawn().unwrap();
    if until_stopped {
        // A daemon or a simulator: it comes up, then stops cleanly on SIGTERM.
        let mut out = child.stdout.take().unwrap();
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut buf = [0u8; 4096];
        while !seen.contains("listening on") && !seen.contains("metrics: http://") {
            assert!(Instant::now() < deadline, "{what}: never came up: {seen}");
            let n = std::io::Read::read(&mut out, &mut buf).unwrap();
            assert!(n > 0, "{what}: exited before it came up: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        // Keep reading what it prints: a reader that goes away is not what is tested here.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
    }
    let status = wait_with_deadline(&mut child, Duration::from_secs(120), &what);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{what}: {err}");
    let code = status.code();
    // 0; a gate's verdict (1, 2) is the command working; a stopped daemon 0 or 143.
    let ok = match args[0].as_str() {
        "run" if until_stopped => matches!(code, Some(0 | 143)),
        "run" | "gate" | "compare" => matches!(code, Some(0..=2)),
        // 1: the capacity is below --min-capacity; 2: steps too short to decide it — the
        // gate working.
        "sweep" => matches!(code, Some(0..=2)),
        "simulate" | "demo" => matches!(code, Some(0 | 143) | None),
        _ => code == Some(0),
    };
    assert!(ok, "{what}: exit {code:?}\n{err}");
    if let Some(p) = stdout {
        assert!(
            std::fs::metadata(&p).unwrap().len() > 0,
            "{what}: no output"
        );
    }
}

fn wait_with_deadline(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn documented_curl_commands_run() {
    let (_sim, sim) = simulator(&[]);
    let mut ran = 0;
    for (file, cmd) in documented_commands() {
        if !cmd.starts_with("curl ") {
            continue;
        }
        let w: Vec<String> = words(&cmd)
            .into_iter()
            .skip(1)
            .map(|a| a.replace("127.0.0.1:8000", &sim.to_string()))
            .collect();
        let out = Command::new("curl")
            .args(["-sS", "-f"])
            .args(&w)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 2);
    // The last documented one made the simulator healthy again.
    assert_eq!(get_json(sim, "/control/faults"), serde_json::json!([]));
}

/// A TOML block: a whole config when it has a target, else a fragment added to a minimal one.
fn check_toml_block(file: &str, text: &str, dir: &Path, n: usize) {
    let base_target =
        "[[target]]\nname = \"t\"\nbase_url = \"http://127.0.0.1:8000\"\nmodel = \"m\"\n";
    let base_scenario = "[[scenario]]\nname = \"s\"\ninput_tokens = 16\noutput_tokens = 16\n";
    let base_load = "[load]\npreset = { name = \"steady\", rate = 1 }\n";
    // A block with a target is a whole config (a canary-only one has no scenario); a fragment
    // gets the parts it lacks.
    let has = |header: &str| text.lines().any(|l| l.trim_start().starts_with(header));
    let mut config = String::new();
    let whole = has("[[target]]");
    if !whole {
        config.push_str(base_target);
    }
    config.push_str(text);
    if !whole && !has("[load") && !has("[[load.phases]]") {
        config.push('\n');
        config.push_str(base_load);
    } else if !whole
        && !["phases", "preset", "closed", "trace ="]
            .iter()
            .any(|k| text.contains(k))
    {
        // A `[load]` fragment of one setting: the phases it goes with.
        config.push_str("\n[[load.phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1m\"\n");
    }
    if !whole && !has("[[scenario]]") {
        config.push('\n');
        config.push_str(base_scenario);
    }
    // The user's own files a block names (a dataset, a tokenizer, lengths, a corpus): a fixture
    // of the same kind stands in, beside the config (relative paths are resolved from there).
    for part in text.split("file = \"").skip(1) {
        // `ca_file = "…"`, `client_cert_file = "…"` end the same way.
        let Some(name) = part.split('"').next() else {
            continue;
        };
        let stand_in = if name.to_lowercase().contains("sharegpt") {
            "tests/fixtures/datasets/sharegpt.json"
        } else if name.contains("trace") && name.ends_with(".jsonl") {
            "tests/fixtures/traces/mooncake.jsonl"
        } else if name.ends_with(".jsonl") {
            "tests/fixtures/datasets/prompts.jsonl"
        } else if name.contains("tokenizer") {
            "tests/fixtures/tokenizer/bpe-2k.json"
        } else if name.ends_with(".key") {
            "tests/fixtures/tls/client.key"
        } else if name.contains("client") && name.ends_with(".pem") {
            "tests/fixtures/tls/client.pem"
        } else if name.ends_with(".pem") {
            "tests/fixtures/tls/ca.pem"
        } else {
            "tests/fixtures/config/lengths.txt"
        };
        let to = dir.join(name.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root().join(stand_in), &to).unwrap();
        config = config.replace(
            &format!("\"{name}\""),
            &format!("{:?}", to.display().to_string()),
        );
    }
    let path = dir.join(format!("block-{n}.toml"));
    std::fs::write(&path, &config).unwrap();
    // The secrets a block names by environment variable (`api_key_env = "NAME"`,
    // `{ env = "NAME" }`) are set.
    let mut env: Vec<(String, String)> = Vec::new();
    for l in text.lines() {
        let code = l.split(" #").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("env") {
            let after = rest[i + 3..]
                .trim_start()
                .strip_prefix('=')
                .map(str::trim_start);
            if let Some(name) = after.and_then(|a| a.strip_prefix('"'))
                && let Some(end) = name.find('"')
            {
                env.push((name[..end].to_string(), "test-secret".into()));
            }
            rest = &rest[i + 3..];
        }
    }
    let out = Command::new(bin())
        .args(["check-config", "-c", path.to_str().unwrap()])
        .current_dir(root())
        .envs(env)
        // A fragment that adds to an earlier block's [otlp] (spans) has the endpoint from here.
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file}: a documented TOML block fails check-config:\n{config}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn documented_toml_blocks_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for b in blocks().into_iter().filter(|b| b.lang == "toml") {
        check_toml_block(&b.file, &b.text, dir.path(), n);
        n += 1;
    }
    assert!(n >= 15, "{n} TOML blocks");
}

#[test]
fn the_uniformity_trap_prints_both_rows() {
    let out = Command::new("bash")
        .args(["scripts/uniformity-trap.sh", "3s"])
        .env("BIN", bin())
        .current_dir(root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("realistic") || l.starts_with("uniform"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in rows {
        // workload, requests, mean, p50, p99, hits (a number and "%").
        assert_eq!(r.len(), 7, "{r:?}");
        assert!(r[1].parse::<u64>().is_ok_and(|n| n > 0), "{r:?}");
        assert!(
            r[2..5].iter().all(|v| v.ends_with('s') && v != &"-"),
            "{r:?}"
        );
    }
}

#[test]
fn scripts_check_their_arguments() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let (ok, text) = crate::common::artefacts::run_tool(args[0], &args[1..], env);
        assert!(ok, "{args:?}: {text}");
        text
    };
    let bin = bin();
    let bin = bin.to_str().unwrap();
    // Every documented bench.py form parses (the one under `perf` too).
    for (_, cmd) in documented_commands() {
        if let Some(rest) = cmd.strip_prefix("scripts/bench.py") {
            let mut args = vec!["python3".to_string(), "scripts/bench.py".into()];
            args.extend(words(rest.trim_end_matches('&')));
            args.push("--dry-run".into());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(run(&args, &[]).contains("cases:"));
        }
    }
    let peers = run(
        &[
            "python3",
            "scripts/bench-peers.py",
            "--bin",
            bin,
            "--dry-run",
        ],
        &[],
    );
    assert!(peers.contains("llm-soak"), "{peers}");
    let vllm = run(
        &["bash", "scripts/vllm-compare.sh"],
        &[("DRY_RUN", "1"), ("BIN", bin)],
    );
    assert!(vllm.contains("dry run"), "{vllm}");
    let gpu = run(
        &["bash", "scripts/gpu-check.sh", "5"],
        &[("DRY_RUN", "1"), ("LLM_SOAK", bin)],
    );
    assert!(gpu.contains("dry run"), "{gpu}");
    let fuzz = run(&["bash", "scripts/fuzz.sh", "10"], &[("DRY_RUN", "1")]);
    assert!(fuzz.contains("dry run"), "{fuzz}");
}
