//! Verdicts on constructed runs: the same distribution is within noise, a shifted one a
//! regression or an improvement, too few samples insufficient; rules parse or say why not.

use super::*;
use crate::report::RunReport;
use crate::report::testing::{report_of, scope, summary};

fn run(ttft_ms: &[u64], failed: u64) -> RunReport {
    report_of(summary(
        vec![("chat".into(), scope(ttft_ms, failed, 60.0))],
        60.0,
    ))
}

/// SplitMix64: a fixed, well-spread sequence of draws.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` TTFTs from a fixed, spread distribution (ms), scaled by `k`, drawn with `seed`.
fn ttfts(n: u64, k: f64, seed: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let u = (mix(seed.wrapping_mul(1_000_003) ^ i) >> 11) as f64 / (1u64 << 53) as f64;
            ((100.0 + 400.0 * u * u) * k) as u64
        })
        .collect()
}

fn verdict(c: &Comparison, metric: &str) -> Change {
    c.rows
        .iter()
        .find(|r| r.scope == "all" && r.metric == metric)
        .unwrap()
        .verdict
}

#[test]
fn two_samples_of_one_distribution_are_within_noise() {
    let (a, b) = (run(&ttfts(2000, 1.0, 1), 10), run(&ttfts(2000, 1.0, 2), 12));
    let c = compare(("a", &a), ("b", &b), &default_rules(), 30, false);
    assert_eq!(
        verdict(&c, "ttft.p95"),
        Change::WithinNoise,
        "{}",
        c.render()
    );
    assert_eq!(verdict(&c, "ttft.p50"), Change::WithinNoise);
    assert_eq!(verdict(&c, "error_rate"), Change::WithinNoise);
    assert_eq!(c.verdict, Change::WithinNoise);
}

#[test]
fn a_shift_beyond_the_limit_is_a_regression_and_the_reverse_an_improvement() {
    let base = run(&ttfts(2000, 1.0, 1), 0);
    let slow = run(&ttfts(2000, 1.3, 2), 0);
    let c = compare(
        ("base", &base),
        ("slow", &slow),
        &default_rules(),
        30,
        false,
    );
    assert_eq!(
        verdict(&c, "ttft.p95"),
        Change::Regression,
        "{}",
        c.render()
    );
    assert_eq!(c.verdict, Change::Regression);
    let r = c.rows.iter().find(|r| r.metric == "ttft.p95").unwrap();
    let (lo, hi) = r.interval.unwrap();
    assert!(
        lo > 0.0 && lo <= r.relative.unwrap() && r.relative.unwrap() <= hi,
        "{r:?}"
    );
    // TPOT did not move (10 ms in both): within noise beside the regression.
    assert_eq!(verdict(&c, "tpot.p50"), Change::WithinNoise);
    let back = compare(
        ("slow", &slow),
        ("base", &base),
        &default_rules(),
        30,
        false,
    );
    assert_eq!(verdict(&back, "ttft.p95"), Change::Improved);
    // A looser limit lets the same shift pass.
    let loose = rules_with(&["ttft.p95 < +50%".parse().unwrap()]);
    let c = compare(("base", &base), ("slow", &slow), &loose, 30, false);
    assert_eq!(verdict(&c, "ttft.p95"), Change::WithinNoise);
    assert!(c.markdown().contains("| all | ttft.p99 |"));
    // Errors: 0 of 2000 to 100 of 2100 is beyond a point.
    let failing = run(&ttfts(2000, 1.0, 3), 100);
    let c = compare(
        ("base", &base),
        ("failing", &failing),
        &default_rules(),
        30,
        false,
    );
    assert_eq!(verdict(&c, "error_rate"), Change::Regression);
}

#[test]
fn small_samples_are_insufficient_even_when_they_look_worse() {
    let base = run(&ttfts(40, 1.0, 1), 0);
    let new = run(&ttfts(40, 3.0, 2), 0);
    let c = compare(("a", &base), ("b", &new), &default_rules(), 30, false);
    // 40 samples leave fewer than 5 beyond the p99.
    assert_eq!(verdict(&c, "ttft.p99"), Change::Insufficient);
    let c = compare(("a", &base), ("b", &new), &default_rules(), 100, false);
    assert_eq!(verdict(&c, "ttft.p50"), Change::Insufficient);
    assert_eq!(c.verdict, Change::Insufficient);
}

#[test]
fn short_runs_are_judged_on_the_rows_that_have_data_and_strict_keeps_the_old_rule() {
    // Issue #25: two identical 40 s runs — 300 samples a side: enough for p50 and p95, not for
    // p99 (fewer than 5 beyond it). The judged rows decide; p99 is named as not judged.
    let (a, b) = (run(&ttfts(300, 1.0, 1), 0), run(&ttfts(300, 1.0, 2), 0));
    let c = compare(("a", &a), ("b", &b), &default_rules(), 30, false);
    assert_eq!(verdict(&c, "ttft.p99"), Change::Insufficient);
    assert_eq!(c.verdict, Change::WithinNoise, "{}", c.render());
    assert!(
        c.not_judged
            .contains(&"all ttft.p99 (300 < 500 samples)".to_string()),
        "{:?}",
        c.not_judged
    );
    let line = c.verdict_line();
    assert!(
        line.starts_with("within noise (")
            && line.contains("not judged: all ttft.p99 (300 < 500 samples)"),
        "{line}"
    );
    // --strict: a row without data makes it insufficient, as before.
    let strict = compare(("a", &a), ("b", &b), &default_rules(), 30, true);
    assert_eq!(strict.verdict, Change::Insufficient);
    assert!(
        strict.verdict_line().ends_with("; --strict)"),
        "{}",
        strict.verdict_line()
    );
    // A regression in a judged row still is one, whatever lacks data.
    let slow = run(&ttfts(300, 1.5, 2), 0);
    let c = compare(("a", &a), ("slow", &slow), &default_rules(), 30, false);
    assert_eq!(verdict(&c, "ttft.p99"), Change::Insufficient);
    assert_eq!(c.verdict, Change::Regression, "{}", c.render());
}

#[test]
fn rules_parse_or_say_what_is_wrong() {
    let r: Rule = "tpot.p95 < +10%".parse().unwrap();
    assert_eq!(r.limit, Limit::Relative(0.1));
    let r: Rule = "ttft.p99 < +50ms".parse().unwrap();
    assert_eq!(r.limit, Limit::Absolute(0.05));
    let r: Rule = "error_rate < +0.5%".parse().unwrap();
    assert_eq!(
        (r.metric, r.limit),
        (Metric::ErrorRate, Limit::Absolute(0.005))
    );
    for bad in [
        "tpot.p95 > +10%",
        "tpot.p95 < 10%",
        "nope.p95 < +1%",
        "ttft.p95 < +x%",
        "error_rate < +5ms",
        "ttft.p95 < +-3%",
    ] {
        let e = bad.parse::<Rule>().unwrap_err();
        assert!(e.contains("e.g."), "{bad}: {e}");
    }
}

#[test]
fn a_change_past_the_limit_that_noise_explains_is_not_a_regression() {
    // 60 samples a side: the p50 moved 15 % (past +10 %), but the order statistics around it
    // span more than that.
    let base = run(&ttfts(60, 1.0, 1), 0);
    let new = run(&ttfts(60, 1.15, 2), 0);
    let c = compare(("a", &base), ("b", &new), &default_rules(), 30, false);
    let r = c.rows.iter().find(|r| r.metric == "ttft.p50").unwrap();
    assert!(r.relative.unwrap() > 0.10, "{r:?}");
    assert!(r.interval.unwrap().0 <= 0.0, "{r:?}");
    assert_eq!(r.verdict, Change::WithinNoise, "{}", c.render());
}
