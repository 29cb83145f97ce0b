//! A soak that survives its own restart, against the simulator's ground truth: `kill -9` in the
//! middle of a run with a state directory, and the next daemon goes on with the same run — its
//! final report holds both halves (counts add up, the in-flight requests lost at the kill
//! counted, the gap on record), the server never saw a sequence number twice, and the report file
//! is the run's own, written on. A changed config refuses to go on with it, sending nothing;
//! `--fresh` starts a new run; a second daemon on the same state directory is refused.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const RATE: f64 = 20.0;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn config(sim: std::net::SocketAddr, state: &Path, rate: f64) -> String {
    format!(
        "{}\n[baseline]\nstate_dir = {:?}\n[output]\ncheckpoint_interval = \"1s\"\n",
        config_for(
            sim,
            "",
            &format!(
                "arrival = \"constant\"\npreset = {{ name = \"steady\", rate = {rate}, duration = \"forever\" }}"
            ),
            "input_tokens = 32\noutput_tokens = 8\nignore_eos = true",
        ),
        state.display()
    )
}

/// Run `config` (a file in `dir`) with `extra` flags, reporting to `dir/report.json`.
fn start(dir: &Path, config: &str, extra: &[&str]) -> Proc {
    let path = dir.join(format!("c{}.toml", llm_soak::config::checksum(config)));
    std::fs::write(&path, config).unwrap();
    let report = dir.join("report.json");
    let mut args = vec![
        "run",
        "-c",
        path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Proc::spawn(&args)
}

/// The ends of a live view's windows.
fn window_ends(view: &Value) -> Vec<f64> {
    view["series"]["t"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect()
}

fn checkpoint(state: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(state.join("run-checkpoint.json")).ok()?;
    serde_json::from_str(&text).ok()
}

#[test]
fn a_killed_run_goes_on_after_its_restart_with_both_halves_in_its_report() {
    let (_sim_proc, sim) = simulator(&["--ttft", "20ms", "--itl", "5ms"]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let text = config(sim, &state, RATE);
    let mut first = start(dir.path(), &text, &["--duration", "12s"]);
    // Join on the daemon's own checkpoint: some requests recorded, then kill -9.
    let before = eventually(
        "a checkpoint with requests",
        Duration::from_secs(60),
        || checkpoint(&state).filter(|c| n(&c["report"]["requests"]["started"]) >= 30),
    );
    // A second daemon on the same state directory is refused while the first holds it.
    let mut second_daemon = start(dir.path(), &text, &["--duration", "12s"]);
    assert_eq!(
        second_daemon.wait_exit(Duration::from_secs(60)).code(),
        Some(64)
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(30));
    let run_id = before["run_id"].as_str().unwrap().to_string();
    let sent_before = get_json(sim, "/stats")["requests"].clone();

    // Another config: refused, with the reason, and nothing sent.
    let other = config(sim, &state, RATE / 2.0);
    let mut refused = start(dir.path(), &other, &["--duration", "12s"]);
    let status = refused.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(64));
    assert_eq!(get_json(sim, "/stats")["requests"], sent_before);

    // The same config goes on with the run.
    let mut second = start(dir.path(), &text, &["--duration", "12s"]);
    // The live page's reader of newer windows gets only those: the earlier segment's windows
    // are the run's own, sent once.
    let addr = metrics_addr(&second);
    let view = eventually("the live view", Duration::from_secs(60), || {
        let (code, body) = get(addr, "/api/v1/view");
        (code == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
    });
    let last = *window_ends(&view)
        .last()
        .expect("the first half's windows, on the live page");
    let newer = window_ends(&get_json(addr, &format!("/api/v1/view?since={last}")));
    assert!(newer.iter().all(|t| *t > last), "since {last}: {newer:?}");
    let status = second.wait_exit(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["run_id"], run_id.as_str(), "the same run");
    assert_eq!(report["complete"], true);
    // The report file was the run's own: written on, not moved aside.
    assert!(!dir.path().join(format!("report.{run_id}.json")).exists());
    let resumes = report["resumes"].as_array().unwrap();
    assert_eq!(resumes.len(), 1, "{report}");
    let gap = resumes[0]["gap_seconds"].as_f64().unwrap();
    assert!(gap > 0.0 && gap < 60.0, "{}", resumes[0]);
    let events: Vec<&str> = report["series"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(events.iter().filter(|k| **k == "start").count(), 1);
    // One schedule, one epoch: the windows run on from the first half's through the gap.
    let ts: Vec<(f64, f64)> = report["series"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["t"].as_f64().unwrap(), p["span"].as_f64().unwrap()))
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0 + 1e-6),
        "{ts:?}"
    );
    let (first, last) = (ts[0], ts[ts.len() - 1]);
    assert!(first.0 < 1.0 && last.0 + last.1 >= 11.0, "{ts:?}");
    // The first half's requests are in its windows: the series counts what the report does.
    let windowed: u64 = report["series"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| n(&p["scopes"][0]["finished"]["success"]))
        .sum();
    assert_eq!(windowed, n(&report["requests"]["finished"]["success"]));
    assert_eq!(events.iter().filter(|k| **k == "resumed").count(), 1);
    // Both halves: more than the first had, and every started request finished or lost.
    let r = &report["requests"];
    let finished: u64 = ["success", "error", "timeout", "cancelled", "aborted"]
        .iter()
        .map(|k| n(&r["finished"][k]))
        .sum();
    let lost = r["lost"].as_u64().unwrap_or(0);
    assert_eq!(n(&r["started"]), finished + lost, "{r}");
    assert_eq!(lost, n(&resumes[0]["in_flight_lost"]));
    assert!(n(&r["started"]) > n(&before["report"]["requests"]["started"]) + 30);
    assert_eq!(
        n(&r["finished"]["error"]) + n(&r["finished"]["timeout"]),
        0,
        "{r}"
    );
    // The summary's histograms hold both halves too (merged exactly).
    let all = &report["summary"]["all"];
    assert_eq!(
        n(&all["latency"]["ttft"]["samples"]),
        n(&all["finished"]["success"])
    );
    assert!(
        n(&all["finished"]["success"]) + 5 >= n(&r["finished"]["success"]),
        "{all}"
    );
    // Rates are over the time both halves measured (the gap left out): the constant rate.
    let secs = report["summary"]["measured_seconds"].as_f64().unwrap();
    let secs_before = before["report"]["summary"]["measured_seconds"]
        .as_f64()
        .unwrap();
    assert!(secs > secs_before + 1.0, "{secs} after {secs_before}");
    let wall = report["elapsed_seconds"].as_f64().unwrap() - gap;
    // Measured: the wall time of both halves but the gap, less each drain (the first half's
    // is at least the 1.5 s its 30 requests took).
    assert!(
        secs < wall + 0.5 && wall - secs < 1.0,
        "measured {secs} s of {wall} s"
    );
    let rate = all["achieved_rate"].as_f64().unwrap();
    assert!((rate * secs - n(&all["started"]) as f64).abs() < 1e-6);

    // The server's truth: no sequence number twice; what it saw beyond the report is what was
    // sent after the last checkpoint before the kill.
    let rows = get_json(sim, "/stats/requests");
    let seqs: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| n(&row["seq"]))
        .collect();
    let distinct: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "a sequence number sent twice");
    let unrecorded = seqs.len() as u64 - n(&r["started"]);
    assert!(
        (seqs.len() as u64) >= n(&r["started"]) && unrecorded as f64 <= RATE * gap + 2.0,
        "{} seen by the server, {} in the report, gap {gap:.1} s",
        seqs.len(),
        n(&r["started"])
    );

    // --fresh: a new run, the finished one's checkpoint left as it was.
    let mut fresh = start(dir.path(), &text, &["--duration", "2s", "--fresh"]);
    assert_eq!(fresh.wait_exit(Duration::from_secs(60)).code(), Some(0));
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_ne!(again["run_id"], run_id.as_str());
    assert!(again.get("resumes").is_none());
}
