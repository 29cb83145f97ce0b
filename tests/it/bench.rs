//! The benchmark scripts keep working: `scripts/bench.py` and `scripts/soak.py` run briefly
//! against the test build and write their tables, with the ground-truth join and the /proc
//! samples filled in. (The figures themselves are benchmarks, recorded in docs/BENCHMARKS.md;
//! here only behaviour is asserted: the join matched, nothing failed, the columns are there.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(args: &[&str]) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .args(args)
        .args(["--bin", crate::common::bin().to_str().unwrap()])
        .args(["--out", out.path().to_str().unwrap()])
        .current_dir(root())
        .status()
        .expect("python3");
    assert!(status.success(), "{args:?} failed");
    let name = match args[1] {
        "soak" => "soak.json",
        "scrape" => "scrape.json",
        _ => "results.json",
    };
    let text = std::fs::read_to_string(out.path().join(name)).unwrap();
    if name == "results.json" {
        let md = std::fs::read_to_string(out.path().join("results.md")).unwrap();
        assert!(md.contains("| case |"), "{md}");
    }
    serde_json::from_str(&text).unwrap()
}

#[test]
fn bench_joins_every_request_with_the_simulators_truth() {
    // The floor reader: a test build compiles examples as test harnesses, so scripts/test.sh
    // builds the binary first (a cargo run from inside a test would rebuild the world).
    let reader = crate::common::bin()
        .with_file_name("examples")
        .join("min-reader");
    assert!(
        reader.exists(),
        "{} is missing: run the tests through scripts/test.sh, or first \
         cargo build --profile test --all-features --example min-reader",
        reader.display()
    );
    let r = script(&[
        "scripts/bench.py",
        "--reader",
        reader.to_str().unwrap(),
        "--levels",
        "4",
        "--modes",
        "lockstep,ramped",
        "--rates",
        "8",
        "--duration",
        "3",
        "--ramp",
        "1",
        "--ttft-ms",
        "20",
        "--tokens",
        "10",
    ]);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{r}");
    for row in rows {
        let measured = row["requests_measured"].as_u64().unwrap();
        assert!(measured > 0, "{row}");
        assert_eq!(
            row["requests_joined"], measured,
            "every request joined: {row}"
        );
        assert_eq!(row["errors"], 0, "{row}");
        assert_eq!(row["dropped"], 0, "{row}");
        // The client can only be later than the server: TTFT excess is never negative beyond
        // clock noise, and the true TTFT is the configured prefill.
        assert!(row["ttft_excess_p50_ms"].as_f64().unwrap() > -0.5, "{row}");
        assert!(row["ttft_true_p50_ms"].as_f64().unwrap() >= 19.0, "{row}");
        assert!(row["cpu_cores"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["peak_rss_mib"].as_f64().unwrap() > 1.0, "{row}");
        // Each closed-loop case ran the reader too: its CPU and memory beside llm-soak's.
        if row["streams"].is_u64() {
            assert!(row["reader_requests"].as_u64().unwrap() > 0, "{row}");
            assert!(row["reader_cpu_cores"].as_f64().unwrap() > 0.0, "{row}");
            assert!(row["cpu_ratio"].as_f64().unwrap() > 0.0, "{row}");
        } else {
            assert!(row.get("reader_cpu_cores").is_none(), "{row}");
        }
    }
}

#[test]
fn soak_and_scrape_scripts_report_slope_peak_and_scrape_time() {
    let s = script(&[
        "scripts/soak.py",
        "soak",
        "--requests",
        "600",
        "--rate",
        "100",
        "--every",
        "0.5",
        "--warmup",
        "1",
    ]);
    assert!(s["requests_finished"].as_u64().unwrap() >= 550, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert!(s["peak_rss_mib"].as_f64().unwrap() > 1.0, "{s}");
    assert!(s["slope_bytes_per_hour"].is_i64(), "{s}");
    let m = script(&[
        "scripts/soak.py",
        "scrape",
        "--scenarios",
        "3",
        "--models",
        "2",
        "--scrapes",
        "5",
        "--fill",
        "3",
    ]);
    assert_eq!(
        m["label_sets_seen"], 6,
        "every scenario of every model scraped: {m}"
    );
    assert!(m["p50_ms"].as_f64().unwrap() > 0.0, "{m}");
}
