//! The shipped dashboards and rules against a real Prometheus (Debian's package, started here on
//! 127.0.0.1 with a temporary storage directory): it scrapes a running llm-soak (soak traffic,
//! canary, baselines, target-process sampling) and the simulator's vLLM-style metrics, with the
//! recording and alert rules loaded unmodified. Every dashboard query on metrics these two export
//! returns data, every recording rule produces samples, and every rule evaluates without error.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::artefacts::*;
use common::*;

struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Scrape `targets` (job name, address) every second with the shipped rules loaded.
    fn start(targets: &[(&str, SocketAddr)]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n",
        );
        for f in ["llm-soak.rules.yml", "llm-soak.alerts.yml"] {
            config.push_str(&format!(
                "  - {}\n",
                root().join("alerts").join(f).display()
            ));
        }
        config.push_str("scrape_configs:\n");
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            ));
        }
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package; scripts/test.sh installs it)");
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(p.addr).is_err() || get(p.addr, "/-/ready").0 != 200 {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    fn query(&self, q: &str) -> serde_json::Value {
        let mut enc = String::new();
        for b in q.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                enc.push(b as char);
            } else {
                enc.push_str(&format!("%{b:02X}"));
            }
        }
        get_json(self.addr, &format!("/api/v1/query?query={enc}"))
    }

    /// Whether `q` returns at least one finite value.
    fn has_data(&self, q: &str) -> Result<(), String> {
        let v = self.query(q);
        if v["status"] != "success" {
            return Err(format!("error: {}", v["error"]));
        }
        let result = &v["data"]["result"];
        let values: Vec<&str> = match v["data"]["resultType"].as_str() {
            Some("scalar") => vec![result[1].as_str().unwrap_or("NaN")],
            _ => result
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["value"][1].as_str())
                .collect(),
        };
        if values
            .iter()
            .any(|x| x.parse::<f64>().is_ok_and(f64::is_finite))
        {
            Ok(())
        } else {
            Err(format!("no finite value: {result}"))
        }
    }
}

/// Queries that need a GPU or a day of history cannot return data in a short live run.
fn needs_history_or_hardware(expr: &str) -> bool {
    expr.contains("offset 1d") || expr.contains("hw_") || expr.contains("DCGM_")
}

#[test]
fn a_real_prometheus_runs_every_dashboard_query_and_rule_on_live_scrapes() {
    let sim_metrics = format!("127.0.0.1:{}", free_port());
    let (sim, sim_addr) = simulator(&[
        "--ttft",
        "20ms",
        "--itl",
        "5ms",
        "--error-rate",
        "0.05",
        "--metrics-listen",
        &sim_metrics,
    ]);
    let config = config_for(
        sim_addr,
        "recount_sample = 1.0",
        "arrival = \"poisson\"\nmax_in_flight = 64\npreset = { name = \"steady\", rate = 10 }",
        "input_tokens = { lognormal = { mean = 64, stddev = 32 }, min = 8, max = 256 }\noutput_tokens = 12",
    ) + &format!(
        "\n[canary]\ninterval = \"1s\"\n[baseline]\nwarmup = \"2s\"\nwindow = \"3s\"\n[resources]\ninterval = \"1s\"\ntarget_process = {{ pid = {} }}\n",
        sim.child.id()
    );
    let (_daemon, maddr, _dir) = daemon(&config, &[]);
    let prom = Prometheus::start(&[("soak", maddr), ("vllm", sim_metrics.parse().unwrap())]);
    // Long enough for the baseline, several scrapes, and the 30 s recording-rule group.
    let deadline = Instant::now() + Duration::from_secs(90);
    while prom.has_data("llmsoak:tpot_seconds:mean5m").is_err()
        || prom
            .has_data("llmsoak_baseline_time_per_output_token_seconds")
            .is_err()
        || prom.has_data("llmsoak:ttft_slow:ratio_rate5m").is_err()
    {
        assert!(
            Instant::now() < deadline,
            "recording rules and baselines never appeared"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(3));

    let mut failures = Vec::new();
    let mut ran = 0;
    for (dash, panel, raw) in dashboard_queries() {
        if needs_history_or_hardware(&raw) {
            continue;
        }
        ran += 1;
        if let Err(e) = prom.has_data(&substitute(&raw, "5m")) {
            failures.push(format!("{dash}: {panel}: {e}\n  {raw}"));
        }
    }
    for name in recording_names() {
        if name.contains("zscore") {
            continue; // needs a non-zero 6 h standard deviation
        }
        if let Err(e) = prom.has_data(&name) {
            failures.push(format!("recording rule {name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran > 40, "{ran}");

    // Every rule was evaluated without an error.
    let rules = get_json(prom.addr, "/api/v1/rules");
    let mut evaluated = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            assert_ne!(r["health"], "err", "{}: {}", r["name"], r["lastError"]);
            evaluated += 1;
        }
    }
    assert_eq!(evaluated, rules_count(), "every shipped rule is loaded");
    // Nothing is wrong with this healthy run: no alert beyond pending/firing noise from the
    // short history is expected, and the saturation alert must not fire.
    let alerts = get_json(prom.addr, "/api/v1/alerts");
    for a in alerts["data"]["alerts"].as_array().unwrap() {
        assert_ne!(a["labels"]["alertname"], "LlmSoakClientSaturated", "{a}");
        assert_ne!(a["labels"]["alertname"], "LlmSoakDaemonDown", "{a}");
    }
}

fn rules_count() -> usize {
    rules("llm-soak.rules.yml").len() + rules("llm-soak.alerts.yml").len()
}
