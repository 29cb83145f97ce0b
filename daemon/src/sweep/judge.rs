//! How one step is judged, as pure functions of its samples: the attainment and its Wilson
//! bound, the error budget, achieved ÷ offered (allowing for the in-flight count's own
//! fluctuation), a queue building up (in-flight and TTFT both trending up), the client's own
//! lag; and when a running step's estimate is stable enough to stop it.

use crate::compare::wilson;
use crate::config::sweep::SweepConfig;
use crate::report::sweep::{Misses, Quantiles, StepStop, SweepStep};

/// A step passes only when its achieved rate is at least this share of the offered one.
pub(crate) const ACHIEVED_RATIO: f64 = 0.98;
/// The client is the limit when it sends a request this late (p99, s).
const LAG_LIMIT: f64 = 0.05;

/// One finished request of a step (times in seconds since the step started).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub arrival: f64,
    pub end: f64,
    /// Sent this long after its arrival.
    pub lag: f64,
    /// Failed, timed out, or cancelled after the drain.
    pub failed: bool,
    pub met: bool,
    pub miss_ttft: bool,
    pub miss_tpot: bool,
    pub miss_e2e: bool,
    pub ttft: Option<f64>,
    pub tpot: Option<f64>,
    pub e2e: f64,
}

/// A step's raw measurements.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepData {
    pub samples: Vec<Sample>,
    /// Arrival times of the requests not sent (in-flight cap).
    pub dropped: Vec<f64>,
    /// (seconds since start, requests in flight) at every window's end.
    pub ticks: Vec<(f64, u64)>,
    /// When arrivals stopped.
    pub stop: f64,
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i])
}

pub(crate) fn quantiles(mut v: Vec<f64>) -> Quantiles {
    v.sort_by(f64::total_cmp);
    Quantiles {
        samples: v.len() as u64,
        p50: quantile(&v, 0.5),
        p90: quantile(&v, 0.9),
        p99: quantile(&v, 0.99),
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, s) = v.fold((0u64, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| s / n as f64)
}

/// The means of the first, middle and last third of `xs` (by position).
fn thirds(xs: &[f64]) -> Option<[f64; 3]> {
    let k = xs.len() / 3;
    (k > 0).then(|| {
        let m = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        [m(&xs[..k]), m(&xs[k..xs.len() - k]), m(&xs[xs.len() - k..])]
    })
}

/// Rising through the three thirds, to more than 1.5× and `margin` above the first.
fn rising(t: [f64; 3], margin: f64) -> bool {
    let [a, b, c] = t;
    a < b && b < c && c > 1.5 * a + margin
}

/// How many judged requests a step needs before the Wilson interval of an attainment that stays
/// at `p` leaves the `target` on one side (`None`: `p` is the target, or beyond ten million).
pub(crate) fn samples_to_decide(p: f64, target: f64) -> Option<u64> {
    let decided = |n: u64| {
        let k = (p * n as f64).round() as u64;
        wilson(k, n).is_some_and(|(_, lo, hi)| lo >= target || hi < target)
    };
    if (p - target).abs() < 1e-12 {
        return None;
    }
    let (mut lo, mut hi) = (1u64, 2u64);
    while !decided(hi) {
        if hi > 10_000_000 {
            return None;
        }
        (lo, hi) = (hi, hi * 2);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if decided(mid) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

/// Judge a finished step that stopped for `stopped`, offered `offered_rate` requests/s. A step
/// that reached its cap while its attainment interval still straddles the target — with no
/// other criterion failed — is undecided, never a failure: too few requests is not evidence.
pub(crate) fn judge(
    d: &StepData,
    c: &SweepConfig,
    offered_rate: f64,
    stopped: StepStop,
) -> SweepStep {
    let warm = c.warmup.as_secs_f64();
    let judged: Vec<&Sample> = d.samples.iter().filter(|s| s.arrival >= warm).collect();
    let n = judged.len() as u64;
    let met = judged.iter().filter(|s| s.met).count() as u64;
    let errors = judged.iter().filter(|s| s.failed).count() as u64;
    let count = |f: fn(&Sample) -> bool| judged.iter().filter(|s| f(s)).count() as u64;
    let misses = Misses {
        failed: errors,
        ttft: count(|s| s.miss_ttft),
        tpot: count(|s| s.miss_tpot),
        e2e: count(|s| s.miss_e2e),
    };
    let span = (d.stop - warm).max(1e-9);
    let dropped = d.dropped.iter().filter(|&&a| a >= warm).count() as u64;
    let offered = n + dropped;
    let completed = d
        .samples
        .iter()
        .filter(|s| s.end >= warm && s.end <= d.stop)
        .count() as u64;
    let w = wilson(met, n);
    let error_rate = (n > 0).then(|| errors as f64 / n as f64);
    let ok_latency = |f: fn(&Sample) -> Option<f64>| {
        quantiles(
            judged
                .iter()
                .filter(|s| !s.failed)
                .filter_map(|s| f(s))
                .collect(),
        )
    };
    let (ttft, tpot) = (ok_latency(|s| s.ttft), ok_latency(|s| s.tpot));
    let e2e = ok_latency(|s| Some(s.e2e));
    let lag = quantiles(judged.iter().map(|s| s.lag).collect()).p99;
    let in_flight: Vec<f64> = d
        .ticks
        .iter()
        .filter(|(t, _)| *t >= warm)
        .map(|(_, n)| *n as f64)
        .collect();
    let if_thirds = thirds(&in_flight).unwrap_or([0.0; 3]);
    let (if_first, if_last) = (if_thirds[0], if_thirds[2]);
    let mut by_arrival: Vec<&&Sample> = judged.iter().filter(|s| s.ttft.is_some()).collect();
    by_arrival.sort_by(|a, b| a.arrival.total_cmp(&b.arrival));
    let ttfts: Vec<f64> = by_arrival.iter().filter_map(|s| s.ttft).collect();
    let t_thirds = thirds(&ttfts).unwrap_or([0.0; 3]);
    let (t_first, t_last) = (t_thirds[0], t_thirds[2]);
    // A queue near saturation wanders on its own by several times its square root: a trend
    // must rise further than that, in-flight and TTFT alike.
    let trend = rising(if_thirds, 3.0 * if_thirds[0].sqrt() + 2.0) && rising(t_thirds, 0.01);

    let mut failed = Vec::new();
    let mut undecided = None;
    match w {
        Some((_, lo, _)) if lo >= c.attainment => {}
        Some((p, lo, hi)) if stopped == StepStop::Cap && hi >= c.attainment => {
            let needed = samples_to_decide(p, c.attainment).map_or(String::new(), |k| {
                format!(
                    "; at {:.1}% it needs {k} judged requests, about {:.0}s of this rate after the warm-up",
                    p * 100.0,
                    k as f64 / offered_rate.max(1e-9)
                )
            });
            undecided = Some(format!(
                "attainment {:.1}% [{:.1}%, {:.1}%] of {n} judged straddles the target {:.1}%: max_step ({}) came first{needed}",
                p * 100.0,
                lo * 100.0,
                hi * 100.0,
                c.attainment * 100.0,
                humantime::format_duration(c.max_step),
            ));
        }
        Some((_, lo, _)) => {
            let worst = [
                ("failures", misses.failed),
                ("ttft", misses.ttft),
                ("tpot", misses.tpot),
                ("e2e", misses.e2e),
            ]
            .into_iter()
            .max_by_key(|(_, k)| *k)
            .filter(|(_, k)| *k > 0)
            .map_or(String::new(), |(name, k)| format!(" ({name}: {k} misses)"));
            failed.push(format!(
                "attainment lower bound {:.1}% < {:.1}%{worst}",
                lo * 100.0,
                c.attainment * 100.0
            ));
        }
        None => failed.push("no request judged".into()),
    }
    if let Some(e) = error_rate.filter(|e| *e > c.error_budget) {
        failed.push(format!(
            "errors {:.2}% > budget {:.2}%",
            e * 100.0,
            c.error_budget * 100.0
        ));
    }
    // Completions − arrivals over the judged part is exactly the change in what is in flight,
    // so a short step near saturation sees the queue's own wandering here: allow for it (its
    // peak's square root, half its mean). A queue that really grows outruns this as the step
    // goes on (and `settled` keeps such a step running).
    let peak = in_flight.iter().copied().fold(0.0, f64::max);
    let noise = 3.0 * peak.sqrt() + 0.5 * mean(in_flight.iter().copied()).unwrap_or(0.0) + 3.0;
    let ratio = if offered > 0 {
        completed as f64 / offered as f64
    } else {
        1.0
    };
    if ratio < ACHIEVED_RATIO && (offered as f64 - completed as f64) > noise {
        failed.push(format!(
            "achieved/offered {ratio:.3} < {ACHIEVED_RATIO} ({completed} of {offered} completed)"
        ));
    }
    if trend {
        failed.push(format!(
            "queue building: in-flight {if_first:.1} → {if_last:.1}, TTFT {:.0} → {:.0} ms",
            t_first * 1000.0,
            t_last * 1000.0
        ));
    }
    let client_limited = if dropped > 0 {
        Some(format!("{dropped} arrivals dropped at the in-flight cap"))
    } else {
        lag.filter(|l| *l > LAG_LIMIT)
            .map(|l| format!("requests sent {:.0} ms late (p99)", l * 1000.0))
    };
    if let Some(why) = &client_limited {
        failed.push(format!("client-limited: {why}"));
    }
    if stopped == StepStop::Overload {
        failed.push(
            "overload: in-flight rose at every window end while completions fell 10% short of arrivals".into(),
        );
    }
    // Undecided only when nothing else failed: any decided failure makes the step a failure.
    if !failed.is_empty() {
        undecided = None;
    }
    SweepStep {
        offered_rate,
        achieved_rate: completed as f64 / span,
        duration: d.stop,
        arrivals: d.samples.len() as u64 + d.dropped.len() as u64,
        dropped: d.dropped.len() as u64,
        judged: n,
        met,
        attainment: w.map(|x| x.0),
        attainment_low: w.map(|x| x.1),
        attainment_high: w.map(|x| x.2),
        errors,
        error_rate,
        goodput: met as f64 / span,
        misses,
        ttft,
        tpot,
        e2e,
        schedule_lag_p99: lag,
        in_flight_first: if_first,
        in_flight_last: if_last,
        trend,
        stopped,
        pass: failed.is_empty() && undecided.is_none(),
        failed,
        undecided,
        client_limited,
        series: Vec::new(),
        summary: None,
    }
}

/// The running estimate of a step at one window's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    /// Judged requests so far (complete windows after the warm-up).
    pub judged: u64,
    pub attainment: f64,
}

/// Whether a running step can stop: `Some("stable")` once it has `min_samples` judged and the
/// last three estimates agree (attainment within one percentage point) and the Wilson interval
/// no longer straddles the target — or, a near tie, it has four times the samples.
pub(crate) fn stable(history: &[Estimate], c: &SweepConfig) -> bool {
    let Some(last) = history.last() else {
        return false;
    };
    if history.len() < 3 || last.judged < c.min_samples {
        return false;
    }
    let recent = &history[history.len() - 3..];
    let (lo, hi) = recent.iter().fold((f64::MAX, f64::MIN), |(lo, hi), e| {
        (lo.min(e.attainment), hi.max(e.attainment))
    });
    if hi - lo > 0.01 {
        return false;
    }
    let k = (last.attainment * last.judged as f64).round() as u64;
    let decisive =
        wilson(k, last.judged).is_some_and(|(_, l, h)| l >= c.attainment || h < c.attainment);
    decisive || last.judged >= 4 * c.min_samples
}

/// Whether a running step's queue has settled: at least five windows judged, and in-flight at
/// the last window's end no higher than at the first judged one by more than a queue wanders on
/// its own — a step just past saturation must not stop "stable" before its backlog shows.
pub(crate) fn settled(ticks: &[(f64, u64)], warm: f64, window: f64) -> bool {
    let judged: Vec<f64> = ticks
        .iter()
        .filter(|(t, _)| *t >= warm + window)
        .map(|(_, n)| *n as f64)
        .collect();
    let (Some(first), Some(last)) = (judged.first(), judged.last()) else {
        return false;
    };
    let mean = judged.iter().sum::<f64>() / judged.len() as f64;
    judged.len() >= 5 && last - first <= 2.0 * mean.sqrt() + 2.0
}

/// Whether a running step is clearly overloaded: in-flight rose at each of the last four window
/// ends, by more than its noise, while completions fell short of arrivals.
pub(crate) fn overloaded(ticks: &[(f64, u64)], arrivals: u64, completions: u64) -> bool {
    if ticks.len() < 4 {
        return false;
    }
    let last4: Vec<u64> = ticks[ticks.len() - 4..].iter().map(|t| t.1).collect();
    let rising = last4.windows(2).all(|w| w[1] > w[0]);
    let grown = last4[3] as f64 > 1.5 * last4[0] as f64 + 4.0;
    rising && grown && (completions as f64) < 0.9 * arrivals as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> SweepConfig {
        SweepConfig {
            warmup: Duration::from_secs(2),
            min_samples: 50,
            ..SweepConfig::default()
        }
    }

    fn sample(arrival: f64, ttft: f64, met: bool) -> Sample {
        Sample {
            arrival,
            end: arrival + ttft + 0.1,
            lag: 0.001,
            failed: false,
            met,
            miss_ttft: !met,
            miss_tpot: false,
            miss_e2e: false,
            ttft: Some(ttft),
            tpot: Some(0.01),
            e2e: ttft + 0.1,
        }
    }

    /// `n` arrivals a second for `secs`, each meeting its SLO unless `miss(i)`.
    fn steady(rate: u64, secs: u64, miss: impl Fn(u64) -> bool) -> StepData {
        let n = rate * secs;
        let samples = (0..n)
            .map(|i| sample(i as f64 / rate as f64, 0.05, !miss(i)))
            .collect();
        let ticks = (1..=secs).map(|t| (t as f64, 5)).collect();
        StepData {
            samples,
            dropped: Vec::new(),
            ticks,
            stop: secs as f64,
        }
    }

    #[test]
    fn a_healthy_step_passes_and_misses_fail_it_by_their_lower_bound() {
        let ok = judge(
            &steady(50, 10, |_| false),
            &config(),
            50.0,
            StepStop::Stable,
        );
        assert!(ok.pass, "{:?}", ok.failed);
        assert_eq!((ok.judged, ok.met), (400, 400));
        assert!(
            (ok.achieved_rate - 50.0).abs() < 2.0,
            "{}",
            ok.achieved_rate
        );
        // 8 % misses: the point estimate 92 % and its bound both below 95 %.
        let bad = judge(
            &steady(50, 10, |i| i % 25 < 2),
            &config(),
            50.0,
            StepStop::Stable,
        );
        assert!(!bad.pass);
        assert!(
            bad.failed[0].contains("ttft: 32 misses"),
            "{:?}",
            bad.failed
        );
        // 4 % misses over few samples: the point estimate passes, the lower bound does not.
        let thin = judge(
            &steady(10, 10, |i| i % 25 == 0),
            &config(),
            10.0,
            StepStop::Stable,
        );
        assert!(thin.attainment.unwrap() > 0.95 && !thin.pass, "{thin:?}");
    }

    #[test]
    fn errors_overload_queueing_and_a_lagging_client_each_fail_a_step() {
        let mut d = steady(50, 10, |_| false);
        for s in d.samples.iter_mut().step_by(20) {
            s.failed = true;
        }
        let r = judge(&d, &config(), 50.0, StepStop::Stable);
        assert!(
            r.failed.iter().any(|f| f.starts_with("errors 5.00%")),
            "{:?}",
            r.failed
        );
        // Half the requests end after arrivals stopped: the server fell behind.
        let mut d = steady(50, 10, |_| false);
        for (i, s) in d.samples.iter_mut().enumerate() {
            s.end += i as f64 * 0.02;
        }
        d.ticks = (1..=10).map(|t| (t as f64, t * 10)).collect();
        for (i, s) in d.samples.iter_mut().enumerate() {
            s.ttft = Some(0.05 + i as f64 * 0.01);
        }
        let r = judge(&d, &config(), 50.0, StepStop::Stable);
        assert!(
            r.failed.iter().any(|f| f.starts_with("achieved/offered")),
            "{:?}",
            r.failed
        );
        assert!(r.trend && r.failed.iter().any(|f| f.starts_with("queue building")));
        let mut d = steady(50, 10, |_| false);
        d.dropped = vec![5.0, 6.0];
        let r = judge(&d, &config(), 50.0, StepStop::Stable);
        assert!(r.client_limited.is_some() && !r.pass);
        let mut d = steady(50, 10, |_| false);
        for s in &mut d.samples {
            s.lag = 0.2;
        }
        assert!(
            judge(&d, &config(), 50.0, StepStop::Stable)
                .client_limited
                .is_some()
        );
    }

    #[test]
    fn a_step_stopped_at_its_cap_before_it_could_decide_is_undecided_never_failed() {
        // Issue #25: 8 s steps of a healthy server, 30 judged requests, all met: 100 % with a
        // lower bound of 88.6 % — no evidence of a failure.
        let short = steady(5, 8, |_| false);
        let r = judge(&short, &config(), 5.0, StepStop::Cap);
        assert_eq!(
            r.verdict(),
            crate::report::sweep::StepVerdict::Undecided,
            "{r:?}"
        );
        assert!(!r.pass && r.failed.is_empty(), "{r:?}");
        let why = r.undecided.as_deref().unwrap();
        assert!(
            why.contains("straddles the target 95.0%") && why.contains("needs 73 judged requests"),
            "{why}"
        );
        assert!(r.verdict_line().starts_with("undecided: "));
        // The same data stopped as stable is judged on its bound: a failure.
        let r = judge(&short, &config(), 5.0, StepStop::Stable);
        assert_eq!(r.verdict(), crate::report::sweep::StepVerdict::Fail);
        // At the cap, any other criterion failed makes it a failure, not undecided.
        let mut errs = steady(5, 8, |_| false);
        errs.samples[20].failed = true;
        let r = judge(&errs, &config(), 5.0, StepStop::Cap);
        assert!(
            r.undecided.is_none() && !r.pass && r.failed.iter().any(|f| f.starts_with("errors")),
            "{r:?}"
        );
        // At the cap with enough requests, a clear pass and a clear failure are decided.
        assert!(judge(&steady(50, 10, |_| false), &config(), 50.0, StepStop::Cap).pass);
        let r = judge(
            &steady(50, 10, |i| i % 5 == 0),
            &config(),
            50.0,
            StepStop::Cap,
        );
        assert!(r.undecided.is_none() && !r.pass, "{r:?}");
        // An overload stop is a failure however short.
        let r = judge(&short, &config(), 5.0, StepStop::Overload);
        assert!(r.failed.iter().any(|f| f.starts_with("overload")), "{r:?}");
    }

    #[test]
    fn the_requests_needed_to_decide_follow_the_wilson_interval() {
        assert_eq!(samples_to_decide(1.0, 0.95), Some(73));
        assert_eq!(
            Some(73),
            SweepConfig::default().min_judged(),
            "the config's closed form agrees"
        );
        let n = samples_to_decide(0.98, 0.95).unwrap();
        assert!(wilson((0.98 * n as f64).round() as u64, n).unwrap().1 >= 0.95);
        assert!(
            wilson((0.98 * (n - 1) as f64).round() as u64, n - 1)
                .unwrap()
                .1
                < 0.95
        );
        // Below the target: the upper bound must fall under it.
        let n = samples_to_decide(0.90, 0.95).unwrap();
        assert!(wilson((0.9 * n as f64).round() as u64, n).unwrap().2 < 0.95);
        assert_eq!(samples_to_decide(0.95, 0.95), None);
    }

    #[test]
    fn a_step_is_stable_once_its_estimate_settles_and_decides() {
        let c = config();
        let e = |judged, attainment| Estimate { judged, attainment };
        assert!(!stable(&[e(60, 1.0), e(80, 1.0)], &c), "three estimates");
        assert!(
            !stable(&[e(10, 1.0), e(20, 1.0), e(30, 1.0)], &c),
            "min_samples"
        );
        assert!(stable(&[e(60, 1.0), e(80, 1.0), e(100, 1.0)], &c));
        assert!(
            !stable(&[e(60, 0.9), e(80, 0.95), e(100, 0.97)], &c),
            "still moving"
        );
        // 95 % on 100: the interval straddles the target — wait for 4 × min_samples.
        assert!(!stable(&[e(80, 0.95), e(90, 0.95), e(100, 0.95)], &c));
        assert!(stable(&[e(180, 0.95), e(190, 0.95), e(200, 0.95)], &c));
        assert!(
            stable(&[e(80, 0.5), e(90, 0.5), e(100, 0.5)], &c),
            "clearly failing"
        );
    }

    #[test]
    fn a_queue_still_growing_has_not_settled() {
        let ticks = |v: &[u64]| -> Vec<(f64, u64)> {
            v.iter()
                .enumerate()
                .map(|(i, n)| (i as f64 + 1.0, *n))
                .collect()
        };
        // Warm-up 2 s, windows of 1 s: judged from t = 3.
        assert!(
            !settled(&ticks(&[5, 5, 5, 5, 5, 5]), 2.0, 1.0),
            "four judged"
        );
        assert!(settled(&ticks(&[5, 5, 9, 4, 12, 6, 8, 7]), 2.0, 1.0));
        assert!(!settled(&ticks(&[5, 5, 10, 14, 18, 22, 26, 30]), 2.0, 1.0));
    }

    #[test]
    fn overload_needs_a_rising_queue_and_missing_completions() {
        let rising: Vec<(f64, u64)> = (1..=6).map(|t| (t as f64, t * 10)).collect();
        assert!(overloaded(&rising, 300, 200));
        assert!(!overloaded(&rising, 300, 290), "completions keep up");
        let flat: Vec<(f64, u64)> = (1..=6).map(|t| (t as f64, 8 + t % 2)).collect();
        assert!(!overloaded(&flat, 300, 200));
    }
}
