//! The view of constructed reports: tables, distributions, columns, first vs last, the page.

use super::*;
use crate::report::series::{Gauges, Point, ScopePoint, Series};
use crate::report::testing::{report_of, scope, summary, ttft_window};

/// A window of `n` requests with TTFT `ttft_ms`, target RSS `rss`.
fn window(t: f64, n: u64, ttft_ms: u64, rss: f64) -> Point {
    let sp = ScopePoint {
        output_tokens: 10 * n,
        ..ttft_window(&vec![ttft_ms; n as usize])
    };
    Point {
        t,
        span: 10.0,
        phase: Some(0),
        dropped: 0,
        gauges: Gauges {
            target_rss_bytes: Some(rss),
            ..Gauges::default()
        },
        scopes: vec![sp.clone(), sp],
        server: Default::default(),
    }
}

fn report() -> RunReport {
    let ttfts: Vec<u64> = (1..=200).collect();
    let s = summary(vec![("chat".into(), scope(&ttfts, 3, 60.0))], 60.0);
    // Six windows; the last ones slower and the target's memory growing.
    let points = (0..6)
        .map(|i| window(10.0 * i as f64, 20, 100 + 100 * i, 1e9 + 1e8 * i as f64))
        .collect();
    RunReport {
        run_id: "abcd1234".into(),
        elapsed_seconds: 61.0,
        series: Some(Series {
            epoch_unix: 1.7e9,
            step_seconds: 10.0,
            scopes: vec!["all".into(), "chat".into()],
            points,
            events: Vec::new(),
            dropped_points: 0,
            dropped_events: 0,
        }),
        drift_baselines: vec![crate::report::DriftBaseline {
            scenario: "all".into(),
            ttft_mean: Some(0.1),
            ttft_p50: Some(0.1),
            tpot_mean: None,
            tpot_p50: None,
            samples: 20,
            computed_at: 1_700_000_000,
        }],
        config: Some(serde_json::json!({"note": "</script><script>alert(1)</script>"})),
        ..report_of(s)
    }
}

#[test]
fn the_view_has_the_tables_distributions_and_columns_of_the_report() {
    let v = View::of(&report());
    assert_eq!(v.scopes.len(), 1, "one scenario: its table is all's");
    assert_eq!(v.scopes[0].started, 203);
    assert_eq!(v.scopes[0].failed, 3);
    let ttft = v
        .distributions
        .iter()
        .find(|d| d.quantity == "ttft")
        .unwrap();
    assert_eq!(ttft.samples, 200);
    let total: f64 = ttft.shares.iter().sum();
    assert!((total - 1.0).abs() < 1e-9, "every sample in a bin: {total}");
    assert_eq!(ttft.edges.len(), ttft.shares.len() + 1);
    assert!(
        ttft.cdf_value.windows(2).all(|w| w[0] <= w[1]),
        "a CDF rises"
    );
    assert!((ttft.cdf_value.last().unwrap() - 0.2).abs() < 0.001);
    let s = v.series.as_ref().unwrap();
    assert_eq!(s.t, vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    assert_eq!(s.scopes[0].request_rate[0], 2.0);
    assert_eq!(s.scopes[0].output_tokens_per_second[0], 20.0);
    let p50 = &s.scopes[0].quantiles["ttft_p50"];
    assert!((p50[5].unwrap() - 0.6).abs() < 0.01, "{p50:?}");
    assert_eq!(
        s.scopes[0].quantiles["tpot_p50"][0], None,
        "no samples: null"
    );
    // First quarter (15 s: the first window) against the last quarter (the last window).
    let fl = v.first_last.as_ref().unwrap();
    let row = fl
        .rows
        .iter()
        .find(|r| r.scope == "all" && r.quantity == "ttft")
        .unwrap();
    assert!(
        (row.change_p50.unwrap() - 5.0).abs() < 0.1,
        "100 ms -> 600 ms"
    );
    assert_eq!(fl.target_rss_bytes, (Some(1e9), Some(1.5e9)));
    // The last part's TTFT p50 (600 ms) against the 100 ms baseline.
    let d = &v.drift[0];
    assert_eq!((d.scenario.as_str(), d.quantity), ("all", "ttft"));
    assert!((d.change.unwrap() - 5.0).abs() < 0.1, "{d:?}");
    assert_eq!(v.drift[1].change, None, "no TPOT baseline: no change");
}

#[test]
fn first_and_last_parts_exist_when_the_last_window_is_longer() {
    // Three 10 s windows and a last one of 10.8 s (the drain's sliver joined it): a quarter of
    // the run ends before that window starts, yet the last part is that window.
    let mut r = report();
    let series = r.series.as_mut().unwrap();
    series.points.truncate(4);
    series.points[3].span = 10.8;
    let fl = View::of(&r).first_last.expect("first and last parts");
    assert_eq!(fl.first, (0.0, 10.0));
    assert_eq!(fl.last, (30.0, 40.8));
}

#[test]
fn a_report_page_is_self_contained_and_its_data_cannot_end_the_script() {
    let page = report_page(&View::of(&report())).unwrap();
    assert!(page.contains("id=\"view\""));
    assert_eq!(
        page.matches("</script>").count(),
        3,
        "the data, uPlot, the app"
    );
    assert!(page.contains("\\u003c/script>\\u003cscript>alert(1)"));
    let start = page.find("id=\"view\">").unwrap() + "id=\"view\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    let back: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
    assert_eq!(back["run"]["run_id"], "abcd1234");
}
