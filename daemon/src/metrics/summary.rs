//! Exact run summaries for reports and CI gates: per scenario, per phase and overall, exact HDR
//! histograms ([`Hdr`]) of every latency [`Quantity`] of the successful requests, plus outcome,
//! error-type and token counts, arrivals started and dropped (capacity drops apart from those
//! not sent by design: a spent budget, a shutdown). Requests sent before the end of the
//! warm-up are left out. Bounded memory: fixed-size histograms and counters per scope, no
//! samples.
//!
//! [`SummarySink`] is the recorder's sink that keeps it. Each scope has a lock of its own, held
//! for one update (a finishing request touches its scenario, its phase and "all"); a report
//! copies one scope at a time under its lock and computes the statistics outside it, so the
//! status API, the progress line and checkpoints never hold up the requests that are finishing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::Sink;
use super::catalogue::DropReason;
use super::recovery::{Timeline, Tracker};
use crate::record::{ErrorType, Outcome, Quantity, RequestRecord};
use crate::report::{self, Dist, Hdr, Latency, Outcomes, PhaseScope, Tokens};

/// Exact distributions of one scope's successful requests, one per [`Quantity`].
#[derive(Debug, Clone, Default)]
pub struct Distributions {
    hists: [Hdr; Quantity::ALL.len()],
}

impl Distributions {
    pub fn observe(&mut self, rec: &RequestRecord) {
        for (q, h) in Quantity::ALL.iter().zip(self.hists.iter_mut()) {
            for d in q.samples(rec) {
                h.record(d);
            }
        }
    }

    pub fn get(&self, q: Quantity) -> &Hdr {
        &self.hists[q as usize]
    }

    fn report(&self, histograms: bool) -> Latency {
        let mut l = Latency::default();
        for q in Quantity::ALL {
            *l.get_mut(q) = Dist::of(self.get(q), histograms);
        }
        l
    }
}

/// Counts and latencies of one scenario, one phase, or all of them.
#[derive(Debug, Clone, Default)]
pub struct ScopeSummary {
    pub latency: Distributions,
    pub finished: Outcomes,
    pub error_types: BTreeMap<ErrorType, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub started: u64,
    /// Judged against an SLO, and of those met it.
    pub slo_judged: u64,
    pub slo_met: u64,
}

impl ScopeSummary {
    fn observe(&mut self, rec: &RequestRecord, slo_met: Option<bool>) {
        if let Some(met) = slo_met {
            self.slo_judged += 1;
            self.slo_met += u64::from(met);
        }
        self.finished.add(rec.outcome, 1);
        if let Some(e) = rec.error_type {
            *self.error_types.entry(e).or_default() += 1;
        }
        if rec.outcome == Outcome::Success {
            self.latency.observe(rec);
            self.input_tokens += rec.input_tokens;
            self.output_tokens += rec.output_tokens;
        }
    }

    /// Add what a report's scope counted (a checkpoint's, before a restart): its counts, and
    /// the exact histograms it carried.
    fn add_report(&mut self, mut s: report::Scope) {
        for q in Quantity::ALL {
            if let Some(h) = s.latency.get_mut(q).hdr.take() {
                // Moved in while this one is empty (at the start): never two copies at once.
                let mine = &mut self.latency.hists[q as usize];
                if mine.count() == 0 {
                    *mine = h;
                } else {
                    mine.merge(&h);
                }
            }
        }
        for o in Outcome::ALL {
            self.finished.add(o, s.finished.get(o));
        }
        for (e, n) in &s.error_types {
            *self.error_types.entry(*e).or_default() += n;
        }
        self.input_tokens += s.tokens.input;
        self.output_tokens += s.tokens.output;
        self.started += s.started;
        if let Some(a) = &s.slo {
            self.slo_judged += a.judged;
            self.slo_met += a.met;
        }
    }

    /// Failed share of the judged requests.
    pub fn error_rate(&self) -> Option<f64> {
        let n = self.finished.judged();
        (n > 0).then(|| (n - self.finished.success) as f64 / n as f64)
    }

    fn report(&self, seconds: f64, histograms: bool) -> report::Scope {
        let per_second = |n: u64| (seconds > 0.0).then(|| n as f64 / seconds);
        report::Scope {
            started: self.started,
            finished: self.finished,
            error_types: self.error_types.clone(),
            error_rate: self.error_rate(),
            achieved_rate: per_second(self.started),
            tokens: Tokens {
                input: self.input_tokens,
                output: self.output_tokens,
                output_per_second: per_second(self.output_tokens),
            },
            latency: self.latency.report(histograms),
            slo: (self.slo_judged > 0).then(|| report::Attainment {
                met: self.slo_met,
                judged: self.slo_judged,
                attainment: Some(self.slo_met as f64 / self.slo_judged as f64),
                goodput: per_second(self.slo_met),
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a scope is a bug elsewhere; the counts stay usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a bounded run reports and gates judge, as it accumulates.
#[derive(Debug)]
pub struct SummarySink {
    names: Vec<String>,
    /// Requests sent before this instant (the warm-up) are left out.
    measure_from: Instant,
    /// The canary's scope, kept out of "all" (the soak's own numbers).
    canary: Option<usize>,
    overall: Mutex<ScopeSummary>,
    scenarios: Vec<Mutex<ScopeSummary>>,
    /// Per load phase (open loop): what the requests that arrived in it saw. `started` counts
    /// the requests of the phase that have finished.
    phases: Mutex<Vec<ScopeSummary>>,
    phase_names: Vec<String>,
    /// Arrivals not sent after the warm-up, indexed like `DropReason::ALL`.
    dropped_by: [AtomicU64; 4],
    /// Spike recovery, when the shape has spike phases.
    spikes: Mutex<Option<Tracker>>,
    /// Recovery from target restarts and hooks, once followed.
    disruptions: Mutex<Option<super::disruption::Disruptions>>,
}

impl SummarySink {
    pub fn new(
        names: Vec<String>,
        canary: Option<usize>,
        phase_names: Vec<String>,
        measure_from: Instant,
    ) -> Self {
        SummarySink {
            scenarios: names.iter().map(|_| Mutex::default()).collect(),
            names,
            measure_from,
            canary,
            overall: Mutex::default(),
            phases: Mutex::new(vec![ScopeSummary::default(); phase_names.len()]),
            phase_names,
            dropped_by: Default::default(),
            spikes: Mutex::new(None),
            disruptions: Mutex::new(None),
        }
    }

    /// Follow the target's disruptions (restarts, hooks) from `epoch`, judged by `criteria`.
    pub fn follow_disruptions(&self, epoch: Instant, criteria: crate::config::Recovery) {
        *lock(&self.disruptions) = Some(super::disruption::Disruptions::new(epoch, criteria));
    }

    /// The disruptions so far (none unless followed).
    pub fn disruptions(&self) -> Vec<report::Disruption> {
        lock(&self.disruptions)
            .as_ref()
            .map_or_else(Vec::new, super::disruption::Disruptions::results)
    }

    /// Something disrupted the target at `at` (`cause`: `target restart`, `hook`, …).
    pub fn disrupted(&self, at: Instant, cause: &str) {
        if let Some(d) = lock(&self.disruptions).as_mut() {
            d.disrupted(at, cause);
        }
    }

    /// Where the spikes of the (new) load shape are.
    pub fn set_spikes(&self, timeline: Option<Timeline>) {
        let mut spikes = lock(&self.spikes);
        match (spikes.as_mut(), timeline) {
            (Some(t), Some(new)) => t.retime(new),
            (None, Some(new)) => *spikes = Some(Tracker::new(new)),
            (_, None) => {}
        }
    }

    /// Go on from `earlier`, the summary of a resumed run's segments before the restart (its
    /// checkpoint's, with histograms): every scope, phase and drop count starts from its counts,
    /// so a report is over the whole run without merging the two on every read. Scopes are
    /// matched by name and phases by index (a resumed run has the config it had).
    pub fn seed(&self, earlier: report::Summary) {
        let d = earlier.drops;
        lock(&self.overall).add_report(earlier.all);
        for (name, s) in earlier.scenarios {
            if let Some(mine) = self.names.iter().position(|n| *n == name) {
                lock(&self.scenarios[mine]).add_report(s);
            }
        }
        {
            let mut phases = lock(&self.phases);
            for p in earlier.phases {
                if p.index >= phases.len() {
                    phases.resize(p.index + 1, ScopeSummary::default());
                }
                phases[p.index].add_report(p.scope);
            }
        }
        super::add_drop_counts(&self.dropped_by, d);
    }

    fn counts(&self, at: Instant) -> bool {
        at >= self.measure_from
    }

    /// A copy of one scope (`None`: all), taken under its lock.
    pub fn scope(&self, scenario: Option<usize>) -> Option<ScopeSummary> {
        match scenario {
            None => Some(lock(&self.overall).clone()),
            Some(i) => self.scenarios.get(i).map(|s| lock(s).clone()),
        }
    }

    /// Arrivals dropped for want of capacity after the warm-up.
    pub fn dropped(&self) -> u64 {
        self.drops().capacity()
    }

    /// Arrivals not sent after the warm-up, by reason.
    pub fn drops(&self) -> report::DropCounts {
        super::drop_counts(&self.dropped_by)
    }

    /// A quantile of one quantity over all the soak's requests so far (the progress line),
    /// computed under the lock of that one scope.
    pub fn overall_quantile(&self, q: Quantity, quantile: f64) -> Option<f64> {
        lock(&self.overall).latency.get(q).quantile(quantile)
    }

    /// The typed summary over `seconds` of measured time — each phase over its own seconds,
    /// `phase_seconds` by index — with the exact histograms when `histograms` (reports; the
    /// status API leaves them out).
    pub fn report(&self, seconds: f64, phase_seconds: &[f64], histograms: bool) -> report::Summary {
        let all = lock(&self.overall).clone();
        let drops = super::drop_counts(&self.dropped_by);
        let dropped = drops.capacity();
        let offered = all.started + dropped;
        // One phase at a time: a copy of them all would hold the lock every finishing request
        // takes for megabytes of histograms, and need them all in memory at once.
        let n = lock(&self.phases).len();
        let phases = (0..n).filter_map(|i| lock(&self.phases).get(i).cloned());
        report::Summary {
            measured_seconds: seconds,
            dropped,
            drop_rate: (offered > 0).then(|| dropped as f64 / offered as f64),
            drops,
            all: all.report(seconds, histograms),
            scenarios: self
                .names
                .iter()
                .zip(&self.scenarios)
                .map(|(n, s)| (n.clone(), lock(s).clone().report(seconds, histograms)))
                .collect(),
            phases: phases
                .enumerate()
                .map(|(i, p)| PhaseScope {
                    index: i,
                    kind: self.phase_names.get(i).cloned().unwrap_or_default(),
                    scope: p.report(phase_seconds.get(i).copied().unwrap_or(0.0), histograms),
                })
                .collect(),
            spikes: lock(&self.spikes)
                .as_ref()
                .map_or_else(Vec::new, Tracker::results),
            disruptions: lock(&self.disruptions)
                .as_ref()
                .map_or_else(Vec::new, super::disruption::Disruptions::results),
            // The runner adds its trust probe's verdict.
            trust: None,
        }
    }
}

impl Sink for SummarySink {
    fn started(&self, scope: usize, at: Instant) {
        if !self.counts(at) {
            return;
        }
        if Some(scope) != self.canary {
            lock(&self.overall).started += 1;
        }
        if let Some(s) = self.scenarios.get(scope) {
            lock(s).started += 1;
        }
    }

    fn dropped(&self, at: Instant, reason: DropReason) {
        if self.counts(at) {
            self.dropped_by[reason as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finished(&self, rec: &RequestRecord, slo: Option<crate::config::slo::Judgement>) {
        let soak = Some(rec.scenario) != self.canary;
        if soak && let Some(d) = lock(&self.disruptions).as_mut() {
            d.observe(rec);
        }
        if !self.counts(rec.sent_at) {
            return;
        }
        let met = slo.map(|j| j.met);
        if soak {
            lock(&self.overall).observe(rec, met);
        }
        if let Some(s) = self.scenarios.get(rec.scenario) {
            lock(s).observe(rec, met);
        }
        if let Some(p) = rec.phase.map(|p| p as usize).filter(|_| soak) {
            {
                let mut phases = lock(&self.phases);
                if p >= phases.len() {
                    phases.resize(p + 1, ScopeSummary::default());
                }
                phases[p].started += 1;
                phases[p].observe(rec, met);
            }
            if let Some(t) = lock(&self.spikes).as_mut() {
                t.observe(rec);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::sync::Arc;

    use super::*;
    use crate::config::slo::Slo;
    use crate::record::test_record;

    #[test]
    fn the_typed_summary_counts_what_was_observed_and_carries_the_histograms() {
        let t0 = Instant::now();
        let s = SummarySink::new(
            vec!["chat".into(), "canary".into()],
            Some(1),
            vec!["steady".into()],
            t0,
        );
        for i in 0..40u64 {
            let mut r = test_record(t0, Duration::from_millis(100 + i), i % 10 != 0);
            r.phase = Some(0);
            s.started(0, t0);
            s.finished(&r, None);
        }
        let mut probe = test_record(t0, Duration::from_millis(5), true);
        probe.scenario = 1;
        s.started(1, t0);
        s.finished(&probe, None);
        // Sent before the warm-up ended: left out.
        let late = SummarySink::new(
            vec!["chat".into()],
            None,
            Vec::new(),
            t0 + Duration::from_secs(1),
        );
        late.finished(&test_record(t0, Duration::from_millis(1), true), None);
        assert_eq!(late.scope(None).unwrap().finished.total(), 0);
        let r = s.report(10.0, &[8.0], true);
        assert_eq!(r.all.started, 40, "the canary is kept out of all");
        assert_eq!(r.all.finished.success, 36);
        assert_eq!(r.all.error_types.get(&ErrorType::Http5xx), Some(&4));
        assert_eq!(r.all.achieved_rate, Some(4.0));
        assert_eq!(r.all.latency.ttft.samples, 36);
        let h = r.all.latency.ttft.hdr.as_ref().unwrap();
        assert_eq!(h.count(), 36);
        assert_eq!(r.all.latency.itl.samples, 36 * 9, "nine gaps per request");
        assert_eq!(r.scenarios[1].1.started, 1);
        assert_eq!(r.phases[0].scope.started, 40);
        assert_eq!(r.phases[0].kind, "steady");
        // A phase's rates are over its own time.
        assert_eq!(r.phases[0].scope.achieved_rate, Some(5.0));
        assert_eq!(r.all.slo, None, "no SLO, no attainment");
        // The status API's form leaves the histograms out.
        assert!(s.report(10.0, &[], false).all.latency.ttft.hdr.is_none());
        assert_eq!(
            s.overall_quantile(Quantity::Ttft, 1.0),
            r.all.latency.ttft.max
        );
    }

    #[test]
    fn each_request_is_judged_by_its_scenarios_slo_and_cancelled_ones_are_not() {
        let t0 = Instant::now();
        let ms = |n| Some(Duration::from_millis(n));
        let slo = |ttft| Slo {
            ttft,
            tpot: None,
            e2e: None,
        };
        // chat: TTFT within 150 ms; batch: no SLO. The recorder judges, once; the summary
        // counts what it was told.
        let s = Arc::new(SummarySink::new(
            vec!["chat".into(), "batch".into()],
            None,
            Vec::new(),
            t0,
        ));
        let (meter, _registry) = crate::metrics::test_meter();
        let recorder = crate::metrics::Recorder::new(
            &meter,
            vec![Vec::new(), Vec::new()],
            vec![Arc::clone(&s) as Arc<dyn Sink>],
        )
        .with_slos(vec![Some(slo(ms(150))), None]);
        for ttft in [100, 120, 140, 160, 180] {
            recorder.started(0);
            recorder.finished(&test_record(t0, Duration::from_millis(ttft), true));
        }
        recorder.started(0);
        recorder.finished(&test_record(t0, Duration::from_millis(1), false));
        let mut cancelled = test_record(t0, Duration::from_millis(1), true);
        cancelled.outcome = Outcome::Cancelled;
        recorder.started(0);
        recorder.finished(&cancelled);
        let mut batch = test_record(t0, Duration::from_millis(999), true);
        batch.scenario = 1;
        recorder.started(1);
        recorder.finished(&batch);
        let r = s.report(2.0, &[], false);
        let chat = r.scenarios[0].1.slo.unwrap();
        assert_eq!((chat.met, chat.judged), (3, 6), "two too slow, one failed");
        assert_eq!(chat.attainment, Some(0.5));
        assert_eq!(chat.goodput, Some(1.5));
        assert_eq!(r.scenarios[1].1.slo, None);
        // All: only the requests of scenarios with an SLO are judged.
        assert_eq!(r.all.slo.map(|a| (a.met, a.judged)), Some((3, 6)));
    }

    #[test]
    fn a_sink_seeded_with_a_checkpoint_goes_on_from_it_exactly() {
        let t0 = Instant::now();
        let sink = || {
            SummarySink::new(
                vec!["chat".into()],
                None,
                vec!["steady".into(), "spike".into()],
                t0,
            )
        };
        // Every request judged by an SLO that the fast ones meet.
        let observe = |s: &SummarySink, ms: u64, ok: bool, phase: u32| {
            let mut r = test_record(t0, Duration::from_millis(ms), ok);
            r.phase = Some(phase);
            s.started(0, t0);
            let judged = crate::config::slo::Judgement {
                met: ok && ms < 500,
                missed_ttft: ms >= 500,
                missed_tpot: false,
                missed_e2e: false,
            };
            s.finished(&r, Some(judged));
        };
        // Before the restart: 100 fast requests in 10 s, in phase 0; 3 arrivals dropped.
        let first = sink();
        for _ in 0..100 {
            observe(&first, 100, true, 0);
        }
        for _ in 0..3 {
            Sink::dropped(&first, t0, DropReason::MaxInFlight);
        }
        let checkpoint = first.report(10.0, &[10.0], true);
        // After: seeded with the checkpoint, 100 slow ones and 10 failures in phase 1, 40 s.
        let after = sink();
        after.seed(checkpoint.clone());
        for _ in 0..100 {
            observe(&after, 900, true, 1);
        }
        for _ in 0..10 {
            observe(&after, 900, false, 1);
        }
        let r = after.report(50.0, &[10.0, 40.0], true);
        // Seeded twice (or after counting): added, not replaced.
        let twice = sink();
        twice.seed(checkpoint.clone());
        twice.seed(checkpoint.clone());
        let t = twice.report(20.0, &[20.0], true).all;
        assert_eq!((t.started, t.latency.ttft.samples), (200, 200));
        assert_eq!(r.all.started, 210);
        assert_eq!(r.all.finished.success, 200);
        assert_eq!(r.all.error_types.get(&ErrorType::Http5xx), Some(&10));
        assert_eq!(r.scenarios[0].1.started, 210);
        assert_eq!((r.dropped, r.drops.max_in_flight), (3, 3));
        // Quantiles over both halves from one histogram: p90 the slow mode, min the fast.
        let ttft = &r.all.latency.ttft;
        assert_eq!(ttft.samples, 200);
        assert!((ttft.p90.unwrap() - 0.9).abs() < 0.01, "{ttft:?}");
        assert!((ttft.min.unwrap() - 0.1).abs() < 0.001, "{ttft:?}");
        assert_eq!(r.all.latency.itl.samples, 200 * 9);
        assert!((r.all.achieved_rate.unwrap() - 210.0 / 50.0).abs() < 1e-9);
        assert!((r.all.error_rate.unwrap() - 10.0 / 210.0).abs() < 1e-9);
        // Goodput over the time of both halves: the 100 that met it in 50 s.
        let slo = r.all.slo.unwrap();
        assert_eq!((slo.met, slo.judged), (100, 210));
        assert!((slo.goodput.unwrap() - 2.0).abs() < 1e-9, "{slo:?}");
        assert_eq!(r.phases[0].scope.started, 100);
        assert_eq!(r.phases[1].scope.started, 110);
        assert_eq!(r.phases[0].scope.latency.ttft.samples, 100);
        // What the seeded sink reports is the merge of the two segments' reports.
        let second = sink();
        for _ in 0..100 {
            observe(&second, 900, true, 1);
        }
        for _ in 0..10 {
            observe(&second, 900, false, 1);
        }
        let later = second.report(40.0, &[0.0, 40.0], true).all;
        for q in Quantity::ALL {
            let mut h = checkpoint
                .all
                .latency
                .get(q)
                .hdr
                .clone()
                .unwrap_or_default();
            h.merge(later.latency.get(q).hdr.as_ref().unwrap_or(&Hdr::new()));
            assert_eq!(r.all.latency.get(q), &report::Dist::of(&h, true), "{q:?}");
        }
    }
}
