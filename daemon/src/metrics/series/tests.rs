//! The series' windows, tiers and memory bound, under paused time.

use std::time::Duration;

use super::*;
use crate::metrics::catalogue::DropReason;
use crate::record::test_record;

fn sink(step: Duration) -> SeriesSink {
    let t0 = Instant::now();
    SeriesSink::new(
        vec!["chat".into(), "canary".into()],
        Some(1),
        t0,
        1_700_000_000.0,
        t0,
        step,
    )
}

/// `n` requests of the chat scenario finishing now, every tenth a failure.
fn traffic(s: &SeriesSink, n: u64, ttft_ms: u64) {
    let now = Instant::now();
    for i in 0..n {
        s.started(0, now);
        let r = test_record(now, Duration::from_millis(ttft_ms + i), i % 10 != 9);
        s.finished(&r, None);
    }
}

#[tokio::test(start_paused = true)]
async fn a_window_counts_its_requests_per_scope_and_keeps_the_canary_out_of_all() {
    let s = sink(STEP);
    traffic(&s, 20, 100);
    let mut probe = test_record(Instant::now(), Duration::from_millis(5), true);
    probe.scenario = 1;
    s.started(1, Instant::now());
    s.finished(&probe, None);
    s.dropped(Instant::now(), DropReason::MaxInFlight);
    // A spent budget is not a drop of the window.
    s.dropped(Instant::now(), DropReason::Budget);
    tokio::time::advance(STEP).await;
    s.roll(Instant::now(), Gauges::default(), Some(0));
    s.event(Instant::now(), EventKind::Phase, "phase 1 (spike)");
    let series = s.series(0.0);
    assert_eq!(series.scopes, ["all", "chat", "canary"]);
    let p = &series.points[0];
    assert_eq!((p.t, p.span, p.dropped, p.phase), (0.0, 10.0, 1, Some(0)));
    let (all, chat, canary) = (&p.scopes[0], &p.scopes[1], &p.scopes[2]);
    assert_eq!(all.started, 20, "the canary is kept out of all");
    assert_eq!((chat.finished.success, chat.finished.error), (18, 2));
    assert_eq!(chat.error_types.get(&ErrorType::Http5xx), Some(&2));
    assert_eq!(canary.finished.success, 1);
    assert_eq!(chat.latency.ttft.count(), 18);
    assert_eq!(chat.latency.itl.count(), 18 * 9);
    let p50 = chat.latency.ttft.p50().unwrap();
    assert!((0.104..=0.110).contains(&p50), "{p50}");
    assert_eq!(series.events[0].t, 10.0);
    // The next window starts empty.
    tokio::time::advance(STEP).await;
    s.roll(Instant::now(), Gauges::default(), Some(0));
    let series = s.series(10.0);
    assert_eq!(series.points.len(), 1, "since: only the newer window");
    assert_eq!(series.points[0].scopes[0].started, 0);
    assert_eq!(series.events.len(), 1, "events: all of them, every time");
}

#[tokio::test(start_paused = true)]
async fn a_simulated_week_stays_within_the_stated_bound_and_loses_no_request() {
    let s = sink(STEP);
    let windows = 7 * 24 * 360u64;
    // Requests in every 30th window: each costs its histograms' encoding, and a week of them
    // all would make a slow test (the bound for full windows is computed below).
    let busy = |w: u64| w.is_multiple_of(30);
    for w in 0..windows {
        if busy(w) {
            traffic(&s, 3, 100 + w % 50);
        }
        tokio::time::advance(STEP).await;
        let rss = 1e8 + w as f64;
        let g = Gauges {
            client_rss_bytes: Some(rss),
            ..Gauges::default()
        };
        s.roll(Instant::now(), g, None);
    }
    // 6 h of 10 s, 24 h of 1 min, the other 138 h in 10-minute points.
    assert_eq!(s.tier_lengths(), vec![2160, 1440, 828, 0]);
    let series = s.series(0.0);
    assert_eq!(series.points.len(), 2160 + 1440 + 828);
    // Contiguous, in order, covering the whole week; every request still counted.
    let mut t = 0.0;
    for p in &series.points {
        assert!((p.t - t).abs() < 1e-6, "gap or overlap at {t}: {}", p.t);
        t = p.t + p.span;
    }
    assert!((t - windows as f64 * 10.0).abs() < 1e-6);
    let requests = windows.div_ceil(30) * 3;
    let started: u64 = series.points.iter().map(|p| p.scopes[0].started).sum();
    assert_eq!(started, requests);
    let ttft: u64 = series
        .points
        .iter()
        .map(|p| p.scopes[1].latency.ttft.count())
        .sum();
    assert_eq!(ttft, requests, "every TTFT, through two downsamplings");
    // Memory grows for memory's sake: the highest reading survives the downsampling.
    assert_eq!(
        series.points.last().unwrap().gauges.client_rss_bytes,
        Some(1e8 + (windows - 1) as f64)
    );
    let bytes = s.memory_bytes();
    eprintln!("a week: {} points, {bytes} bytes", series.points.len());
    assert!(bytes < 16 << 20, "{bytes} bytes for a week");
}

#[tokio::test(start_paused = true)]
async fn a_full_window_is_small_enough_for_the_stated_bound() {
    // The worst window: every charted quantity of every scope spread from 1 ms to a minute.
    let s = sink(STEP);
    let now = Instant::now();
    for i in 0..2000u64 {
        s.started(0, now);
        let mut r = test_record(now, Duration::from_micros(1000 + i * i * 15), true);
        r.intended_at = now - Duration::from_micros(i * 37);
        s.finished(&r, None);
        r.scenario = 1;
        s.finished(&r, None);
    }
    tokio::time::advance(STEP).await;
    s.roll(Instant::now(), Gauges::default(), Some(0));
    let fine = s.memory_bytes();
    // The same window merged into a coarser point (its histograms deflated).
    let series = s.series(0.0);
    let merged = Point::merge(&[&series.points[0]]);
    let coarse: usize = std::mem::size_of::<Point>()
        + merged
            .scopes
            .iter()
            .map(|sp| {
                std::mem::size_of::<ScopePoint>()
                    + sp.latency
                        .each()
                        .iter()
                        .map(|(_, d)| d.heap_bytes())
                        .sum::<usize>()
            })
            .sum::<usize>();
    let worst = fine * TIERS[0].1 + coarse * TIERS[1..].iter().map(|(_, n)| n).sum::<usize>();
    eprintln!(
        "a full window of 3 scopes: {fine} bytes, {coarse} merged; worst case {} MiB",
        worst >> 20
    );
    // Documented in docs/report.md: per scope, at most 8 KiB a fine window and 4 KiB a
    // coarse one: under 40 MiB a scope at the very worst (every window this spread).
    assert!(fine < 3 * 8192, "{fine} bytes");
    assert!(coarse < 3 * 4096, "{coarse} bytes");
    assert!(worst < 3 * (40 << 20), "{worst} bytes");
}

#[tokio::test(start_paused = true)]
async fn past_the_last_tier_the_oldest_points_are_dropped_and_counted() {
    let s = sink(Duration::from_secs(1)).with_tiers(&[(1, 4), (2, 3), (4, 2)]);
    for _ in 0..40 {
        traffic(&s, 1, 100);
        tokio::time::advance(Duration::from_secs(1)).await;
        s.roll(Instant::now(), Gauges::default(), None);
    }
    for i in 0..(MAX_EVENTS + 5) {
        s.event(Instant::now(), EventKind::Reload, format!("{i}"));
    }
    let series = s.series(0.0);
    let lengths = s.tier_lengths();
    assert!(
        lengths[0] <= 4 && lengths[1] <= 3 && lengths[2] <= 2,
        "{lengths:?}"
    );
    let kept: u64 = series.points.iter().map(|p| p.scopes[0].started).sum();
    let covered: f64 = series.points.iter().map(|p| p.span).sum();
    assert_eq!(
        kept as f64, covered,
        "one request a second, in what is kept"
    );
    assert_eq!(series.points.last().map(|p| p.t + p.span), Some(40.0));
    assert!(series.dropped_points > 0);
    assert_eq!(series.events.len(), MAX_EVENTS);
    assert_eq!(series.dropped_events, 5);
    assert_eq!(series.events[0].detail, "5");
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_goes_on_from_the_earlier_windows_held_once_in_the_same_tiers() {
    let tiers = [(1, 4), (2, 3), (4, 50)];
    let first = sink(Duration::from_secs(1)).with_tiers(&tiers);
    first.event(Instant::now(), EventKind::Start, "start");
    for _ in 0..21 {
        traffic(&first, 1, 100);
        tokio::time::advance(Duration::from_secs(1)).await;
        first.roll(Instant::now(), Gauges::default(), None);
    }
    let earlier = first.series(0.0);
    assert!(first.tier_lengths().iter().all(|n| *n > 0), "every tier");

    // Preloaded, each point lands in the tier it came from (a coarse point is not taken for a
    // fine one), so the bound goes on as if one daemon had run throughout.
    let epoch = first.epoch();
    let restart = Instant::now() + Duration::from_secs(5);
    let second = SeriesSink::new(
        vec!["chat".into(), "canary".into()],
        Some(1),
        epoch,
        1_700_000_000.0,
        restart,
        Duration::from_secs(1),
    )
    .with_tiers(&tiers);
    second.event(restart, EventKind::Resumed, "resumed");
    second.preload(earlier.clone());
    assert_eq!(second.tier_lengths(), first.tier_lengths());
    tokio::time::advance(Duration::from_secs(5)).await;
    for _ in 0..10 {
        traffic(&second, 1, 100);
        tokio::time::advance(Duration::from_secs(1)).await;
        second.roll(Instant::now(), Gauges::default(), None);
    }
    let lengths = second.tier_lengths();
    assert!(lengths[0] <= 4 && lengths[1] <= 3, "{lengths:?}");
    let all = second.series(0.0);
    // In order, no overlap, the earlier segment first; every request of both still counted.
    assert!(
        all.points
            .windows(2)
            .all(|w| w[0].t + w[0].span <= w[1].t + 1e-9),
        "{:?}",
        all.points.iter().map(|p| (p.t, p.span)).collect::<Vec<_>>()
    );
    assert_eq!(all.points[0].t, 0.0);
    let started: u64 = all.points.iter().map(|p| p.scopes[0].started).sum();
    assert_eq!(started, 21 + 10);
    let events: Vec<&str> = all.events.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(events, ["start", "resumed"]);
    // A reader asking for the newer windows gets none of the earlier segment's.
    let since = earlier.points.last().map(|p| p.t + p.span).unwrap_or(0.0) + 5.0;
    let newer = second.series(since);
    assert!(newer.points.iter().all(|p| p.t >= since - 1e-9));
    let started: u64 = newer.points.iter().map(|p| p.scopes[0].started).sum();
    assert_eq!(started, 10, "the restarted daemon's windows, merged or not");
}
