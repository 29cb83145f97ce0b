//! Results as a person sees them, in a real browser (Debian's headless `chromium`): the live
//! page at `/` during a run and the self-contained HTML report after it — no console errors,
//! every chart drawn with data (the page checks its own canvases for each chart's first
//! series' colour and reports in `#selfcheck`) — and, on saved reports of real runs, `merge`
//! (exact, refusing what is not one run), `gate` on the merged report, and `compare` with its
//! verdicts, exit codes and overlay page. `LLMSOAK_SCREENSHOTS=1` rewrites the screenshots in
//! docs/img/ from these runs.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::common::*;

fn chromium() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        for name in ["chromium", "chromium-browser"] {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("no chromium on PATH: scripts/test.sh installs Debian's chromium");
}

pub(crate) fn browser(args: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            std::env::temp_dir()
                .join(format!("llmsoak-chromium-{}", std::process::id()))
                .display()
        ))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The page's own check after it rendered: `{errors, charts, drawn, rendered}`.
fn selfcheck(url: &str) -> serde_json::Value {
    let dom = browser(&["--virtual-time-budget=15000", "--dump-dom", url]);
    let start = dom
        .find("<pre id=\"selfcheck\"")
        .unwrap_or_else(|| panic!("no selfcheck in {url}"));
    let body = &dom[start..];
    let json = &body[body.find('>').unwrap() + 1..body.find("</pre>").unwrap()];
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("selfcheck of {url} is not JSON ({e}): {json}"))
}

/// No console errors, and every chart the page made has its data drawn.
fn assert_drawn(check: &serde_json::Value, at_least: &[&str]) -> Vec<String> {
    assert_eq!(
        check["errors"],
        serde_json::json!([]),
        "console errors: {check}"
    );
    let charts: Vec<String> = check["charts"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let drawn: Vec<String> = serde_json::from_value(check["drawn"].clone()).unwrap_or_default();
    for c in &charts {
        assert!(drawn.contains(c), "chart {c} has no data drawn: {check}");
    }
    for c in at_least {
        assert!(charts.iter().any(|x| x == c), "no chart {c}: {check}");
    }
    charts
}

pub(crate) fn screenshot(url: &str, name: &str, height: u32) {
    let out = std::env::temp_dir().join(format!("llmsoak-{}-{name}", std::process::id()));
    browser(&[
        "--virtual-time-budget=15000",
        &format!("--window-size=1280,{height}"),
        &format!("--screenshot={}", out.display()),
        url,
    ]);
    let png = std::fs::read(&out).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{name}: {} bytes",
        png.len()
    );
    if std::env::var_os("LLMSOAK_SCREENSHOTS").is_some() {
        std::fs::write(artefacts_root().join("docs/img").join(name), png).unwrap();
    }
}

fn artefacts_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const TIME_CHARTS: &[&str] = &[
    "lat-ttft",
    "lat-tpot",
    "lat-itl",
    "lat-e2e",
    "tpot-defs",
    "throughput",
    "errors",
    "concurrency",
    "client",
    "memory",
];

/// The engine's charts, drawn when a target's engine is scraped.
const SERVER_CHARTS: &[&str] = &["server-lat-0", "server-load-0"];

/// The engine of the live view's first server block.
fn v_server(addr: SocketAddr) -> String {
    get_json(addr, "/api/v1/view")["server"][0]["engine"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn two_scenarios(sim: SocketAddr, rate: u32) -> String {
    format!(
        "{}\n[[scenario]]\nname = \"s2\"\ninput_tokens = 64\noutput_tokens = 12\n",
        config_for(
            sim,
            "",
            &format!(
                "arrival = \"poisson\"\nmax_in_flight = 64\npreset = {{ name = \"steady\", rate = {rate} }}"
            ),
            "input_tokens = 32\noutput_tokens = 20",
        )
    )
}

#[test]
fn the_live_page_and_the_html_report_draw_every_chart_in_a_browser() {
    let (_sim, sim) = simulator(&["--ttft", "20ms", "--itl", "5ms"]);
    let dir = tempfile::tempdir().unwrap();
    let (report, html) = (dir.path().join("run.json"), dir.path().join("run.html"));
    // Drift baselines set 3 s in, measured over 10 s: an event, and the report's drift table.
    // The target is a vLLM (the simulator plays one): its engine is scraped, so the page has
    // its server charts and block too.
    let config = format!(
        "{}\n[baseline]\nwarmup = \"3s\"\nwindow = \"10s\"\nmin_samples = 10\nstate_dir = {:?}\n",
        two_scenarios(sim, 20).replace(
            "model = \"llm-soak-sim\"\n",
            "model = \"llm-soak-sim\"\nprovider = \"vllm\"\n"
        ),
        dir.path().display().to_string()
    );
    let (mut p, addr, _cfg) = daemon(
        &config,
        &[
            "--duration",
            "35s",
            "--report",
            report.to_str().unwrap(),
            "--report-html",
            html.to_str().unwrap(),
        ],
    );
    // The live page, once two windows have closed.
    eventually(
        "two windows in the live view",
        Duration::from_secs(120),
        || {
            let (status, body) = get(addr, "/api/v1/view");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            (status == 200 && v["series"]["t"].as_array().map_or(0, Vec::len) >= 2).then_some(())
        },
    );
    let (status, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("uPlot") && !page.contains("id=\"view\""),
        "the live page polls its view"
    );
    let live = format!("http://{addr}/");
    let check = selfcheck(&live);
    assert_drawn(&check, TIME_CHARTS);
    assert_drawn(&check, SERVER_CHARTS);
    assert_eq!(
        v_server(addr),
        "vllm",
        "the live view carries the server block"
    );
    assert!(check["rendered"].as_u64().unwrap() >= 1);
    screenshot(&live, "live.png", 1500);
    // Later windows only, with `since`.
    let v = get_json(addr, "/api/v1/view");
    let last = v["series"]["t"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_f64()
        .unwrap();
    let newer = get_json(addr, &format!("/api/v1/view?since={last}"));
    assert!(
        newer["series"]["t"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_f64().unwrap() > last),
        "{newer}"
    );
    // The first-vs-last comparison is the whole run's, whichever windows a read carries.
    let first_window =
        v["series"]["t"][0].as_f64().unwrap() - v["series"]["span"][0].as_f64().unwrap();
    assert!(
        (newer["first_last"]["first"][0].as_f64().unwrap() - first_window).abs() < 1e-6,
        "{}",
        newer["first_last"]
    );
    let status = p.wait_exit(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0));
    // The report page, from a file, offline: the series, the distributions, the tables.
    let url = format!("file://{}", html.display());
    let check = selfcheck(&url);
    let charts = assert_drawn(
        &check,
        &[
            TIME_CHARTS,
            SERVER_CHARTS,
            &[
                "by-scenario-ttft",
                "dist-all-ttft-h",
                "dist-all-ttft-c",
                "dist-s2-tpot-c",
            ],
        ]
        .concat(),
    );
    assert!(charts.len() > 20, "{charts:?}");
    screenshot(&url, "report.png", 2400);
    // `report --html` on the saved JSON makes the same page as the run did.
    let again = dir.path().join("again.html");
    let out = Command::new(bin())
        .args([
            "report",
            report.to_str().unwrap(),
            "--html",
            again.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(&html).unwrap()
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let points = r["series"]["points"].as_array().unwrap();
    let started: u64 = points
        .iter()
        .map(|p| p["scopes"][0]["started"].as_u64().unwrap())
        .sum();
    assert_eq!(
        started,
        r["requests"]["started"].as_u64().unwrap(),
        "every request in a window"
    );
    assert!(
        r["config"]["target"].is_array(),
        "the redacted config rides along"
    );
    // The drift baselines: set during the run (an event), in the report, and on the page.
    let drift = r["drift_baselines"].as_array().unwrap();
    assert_eq!(drift.len(), 2, "{drift:?}");
    let events = r["series"]["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["kind"] == "baseline"), "{events:?}");
    let dom = browser(&["--virtual-time-budget=15000", "--dump-dom", &url]);
    assert!(
        dom.contains("id=\"drift\"") && dom.contains("id=\"first-last\""),
        "the drift and first-vs-last sections"
    );
}

fn llm_soak(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shards_merge_exactly_gate_on_the_merge_and_compare_finds_the_regression() {
    // Constant TTFT and ITL (no per-token prefill, no per-sequence decode cost): the two
    // targets differ in TTFT only.
    let constant = [
        "--itl",
        "5ms",
        "--itl-per-seq",
        "0s",
        "--prefill-per-token",
        "0s",
    ];
    let (_fast, fast) = simulator(&[&["--ttft", "20ms"][..], &constant].concat());
    let (_slow, slow) = simulator(&[&["--ttft", "80ms"][..], &constant].concat());
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let config = dir.path().join("c.toml");
    // The fast target is a vLLM: every shard scrapes it (the merge must count it once).
    std::fs::write(
        &config,
        two_scenarios(fast, 100).replace(
            "model = \"llm-soak-sim\"\n",
            "model = \"llm-soak-sim\"\nprovider = \"vllm\"\n",
        ),
    )
    .unwrap();
    // Two shards of one run, from a shared start two seconds ahead.
    let start =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3)).to_string();
    let shard = |i: &str, report: &str| {
        let args = [
            "run",
            "-c",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "15s",
            "--shard",
            i,
            "--start-at",
            &start,
            "--report",
            report,
        ];
        Command::new(bin())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Four shards of one run.
    let shards: Vec<String> = (0..4).map(|i| path(&format!("shard-{i}.json"))).collect();
    let mut children: Vec<_> = (0..4)
        .map(|i| shard(&format!("{i}/4"), &shards[i]))
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let (a, b) = (shards[0].clone(), shards[1].clone());
    let all = path("all.json");
    let mut merge = vec!["merge"];
    merge.extend(shards.iter().map(String::as_str));
    merge.extend(["-o", &all]);
    let (code, out, err) = llm_soak(&merge);
    assert_eq!(code, Some(0), "{out}{err}");
    let read = |p: &str| {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let rall = read(&all);
    let ttft = |r: &serde_json::Value| {
        r["summary"]["all"]["latency"]["ttft"]["samples"]
            .as_u64()
            .unwrap()
    };
    let sum: u64 = shards.iter().map(|s| ttft(&read(s))).sum();
    assert_eq!(ttft(&rall), sum);
    assert_eq!(rall["shard"], "all 4");
    // The shared server: each shard sees others' requests on it (`shared`); the merge counts it
    // once and sums the shards' tokens, so its cross-check is exact.
    for s in &shards {
        let r = read(s);
        assert_eq!(r["server"][0]["tokens"]["shared"], true, "{}", r["server"]);
    }
    let server = rall["server"].as_array().unwrap();
    assert_eq!(server.len(), 1, "{server:?}");
    let tokens = &server[0]["tokens"];
    assert_eq!(tokens["shared"], false, "{tokens}");
    assert_eq!(tokens["difference"], 0.0, "{tokens}");
    assert_eq!(
        tokens["client"], rall["summary"]["all"]["tokens"]["output"],
        "{tokens}"
    );
    // Three of four: refused (exit 2, nothing written) unless --allow-partial; then merged,
    // marked partial, and refused by gate and as compare's base (issue #25).
    let three = path("three.json");
    let (code, _, err) = llm_soak(&["merge", &a, &b, &shards[3], "-o", &three]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("only 3 of 4 shards (missing 2/4)"), "{err}");
    assert!(!Path::new(&three).exists());
    let (code, out, err) =
        llm_soak(&["merge", &a, &b, &shards[3], "-o", &three, "--allow-partial"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains("a partial merge (3 of 4 shards; missing 2/4)"),
        "{err}"
    );
    let r3 = read(&three);
    assert_eq!(
        (r3["shard"].as_str(), &r3["partial"]["missing"]),
        (Some("3 of 4"), &serde_json::json!([2]))
    );
    let (code, _, err) = llm_soak(&["gate", &three, "--gate", "error_rate < 5%"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("is a partial merge"), "{err}");
    let (code, _, err) = llm_soak(&["compare", &three, &all]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("the base") && err.contains("partial merge"),
        "{err}"
    );
    assert!(
        ttft(&rall) > 1000,
        "enough for a p99 per scenario: {}",
        ttft(&rall)
    );
    // Gates on the merged report.
    let (code, out, _) = llm_soak(&[
        "gate",
        &all,
        "--gate",
        "error_rate < 5%",
        "--gate",
        "ttft.p95 < 5s",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = llm_soak(&["gate", &all, "--gate", "ttft.p50 < 1ms"]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out, _) = llm_soak(&[
        "gate",
        &all,
        "--gate",
        "error_rate{error_type=~\"http_5xx|http_429\", scenario=\"s2\"} < 1%",
        "--gate",
        "output_tokens_per_second > 100",
        "--gate",
        "ttft.p95{phase=\"0\"} < 5s",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, err) = llm_soak(&["gate", &all, "--gate", "ttft.p95{scenario=\"s9\"} < 1s"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("no scenario is named \"s9\""), "{err}");
    // What is not one run is refused.
    let (code, _, err) = llm_soak(&["merge", &a, &a, "-o", &path("no.json")]);
    assert_eq!(code, Some(64));
    assert!(err.contains("the same shard twice"), "{err}");
    assert!(!Path::new(&path("no.json")).exists());
    let (code, _, err) = llm_soak(&["merge", &a, "/nonexistent.json", "-o", &path("no.json")]);
    assert_eq!(code, Some(64), "{err}");
    // The same run against itself: nothing moved.
    let (code, out, _) = llm_soak(&["compare", &all, &all]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("within noise") && !out.contains("REGRESSION"),
        "{out}"
    );
    // A slower target: TTFT regressed, TPOT did not.
    std::fs::write(&config, two_scenarios(slow, 100)).unwrap();
    let new = path("new.json");
    let (code, out, _) = llm_soak(&[
        "run",
        "-c",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "15s",
        "--report",
        &new,
    ]);
    assert_eq!(code, Some(0), "{out}");
    let html = path("compare.html");
    let (code, out, _) = llm_soak(&[
        "compare", &all, &new, "--format", "markdown", "--html", &html,
    ]);
    assert_eq!(code, Some(1), "{out}");
    let row = |metric: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("| all | {metric} |")))
            .unwrap_or_else(|| panic!("{metric}: {out}"))
            .to_string()
    };
    assert!(row("ttft.p50").contains("REGRESSION"), "{out}");
    assert!(!row("tpot.p50").contains("REGRESSION"), "{out}");
    // A limit that allows it passes it; too few samples for a verdict is exit 2.
    let (code, out, _) = llm_soak(&[
        "compare",
        &all,
        &new,
        "--format",
        "markdown",
        "--max-regression",
        "ttft.p50 < +1000%",
    ]);
    assert_eq!(
        code,
        Some(1),
        "the other TTFT quantiles still regress: {out}"
    );
    let allowed = out
        .lines()
        .find(|l| l.starts_with("| all | ttft.p50 |"))
        .unwrap();
    assert!(
        allowed.contains("within noise") && allowed.contains("+1000%"),
        "{allowed}"
    );
    let (code, out, _) = llm_soak(&["compare", &all, &new, "--min-samples", "100000"]);
    assert_eq!(code, Some(2), "{out}");
    let (code, _, err) = llm_soak(&["compare", &all, &new, "--max-regression", "ttft.p95 < 10%"]);
    assert_eq!(code, Some(64), "{err}");
    // The overlay page draws both runs.
    let url = format!("file://{html}");
    let check = selfcheck(&url);
    assert_drawn(&check, &["lat-ttft"]);
    let series = check["charts"]["lat-ttft"]["series"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(series, 4, "p50, p90, p99 and the base's p99: {check}");
    screenshot(&url, "compare.png", 1500);
}

/// The seed's 10 → 100 requests/s spike against a target with a small batch: the report page
/// shades the spike and its recovery on the TTFT chart, and the report says how long it took.
#[test]
fn a_spike_and_its_recovery_are_on_the_report_chart() {
    let (_sim, sim) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "4ms",
        "--itl-per-seq",
        "0s",
        "--prefill-per-token",
        "0s",
        "--batch-capacity",
        "8",
    ]);
    let config = config_for(
        sim,
        "",
        "arrival = \"constant\"\nmax_in_flight = 2000\npreset = { name = \"spike\", base = 10, peak = 100, before = \"10s\", hold = \"10s\", after = \"20s\" }",
        "input_tokens = 32\noutput_tokens = 20",
    );
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("spike.html");
    let (code, out, report) = bounded_run(
        &config,
        &["--duration", "40s", "--report-html", html.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{out}");
    let spike = &report["summary"]["spikes"][0];
    assert_eq!(spike["recovered"], true, "{spike}");
    let recovery = spike["recovery_seconds"].as_f64().unwrap();
    let during = spike["during_spike"]["ttft_p95"].as_f64().unwrap();
    let before = spike["pre_spike"]["ttft_p95"].as_f64().unwrap();
    assert!(during > 3.0 * before, "the spike queued: {spike}");
    eprintln!(
        "spike: TTFT p95 {before:.3}s before, {during:.3}s during, recovered {recovery:.0}s after"
    );
    // The spike is drawn where the series has it: both count from the run's epoch.
    let start = spike["spike_start_seconds"].as_f64().unwrap();
    assert!((start - 10.0).abs() < 1.5, "{spike}");
    let points = report["series"]["points"].as_array().unwrap();
    let busiest = points
        .iter()
        .max_by_key(|p| p["scopes"][0]["started"].as_u64().unwrap())
        .unwrap();
    let t = busiest["t"].as_f64().unwrap();
    assert!(
        (0.0..=20.0).contains(&t),
        "the busiest window is the spike's: {busiest}"
    );
    let url = format!("file://{}", html.display());
    let check = selfcheck(&url);
    assert_drawn(&check, &["lat-ttft", "throughput", "concurrency"]);
    screenshot(&url, "spike.png", 1100);
}
