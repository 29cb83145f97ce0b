//! Exact run summaries for reports and CI gates: per scenario, per phase and overall, exact HDR
//! histograms ([`Hdr`]) of every latency [`Quantity`] of the successful requests, plus outcome,
//! error-type and token counts, arrivals started and dropped. Requests sent before the end of the
//! warm-up are left out. Bounded memory: fixed-size histograms and counters per scope, no
//! samples. [`RunSummary::report`] turns it into the typed [`report::Summary`]; the
//! [`SummarySink`] is the recorder's sink that feeds it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::time::Instant;

use super::Sink;
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
}

impl ScopeSummary {
    fn observe(&mut self, rec: &RequestRecord) {
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
        }
    }
}

/// What a bounded run reports and gates judge, as it accumulates.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub names: Vec<String>,
    pub overall: ScopeSummary,
    pub scenarios: Vec<ScopeSummary>,
    pub dropped: u64,
    /// Requests sent before this instant (the warm-up) are left out.
    pub measure_from: Instant,
    /// The canary's scope, kept out of "all" (the soak's own numbers).
    canary: Option<usize>,
    /// Per load phase (open loop): what the requests that arrived in it saw. `started` counts
    /// the requests of the phase that have finished.
    pub phases: Vec<ScopeSummary>,
    pub phase_names: Vec<String>,
    /// Spike recovery, when the shape has spike phases.
    spikes: Option<super::recovery::Tracker>,
}

impl RunSummary {
    pub fn new(
        names: Vec<String>,
        canary: Option<usize>,
        phase_names: Vec<String>,
        measure_from: Instant,
    ) -> Self {
        let scenarios = vec![ScopeSummary::default(); names.len()];
        RunSummary {
            names,
            overall: ScopeSummary::default(),
            scenarios,
            dropped: 0,
            measure_from,
            canary,
            phases: vec![ScopeSummary::default(); phase_names.len()],
            phase_names,
            spikes: None,
        }
    }

    /// Where the spikes of the (new) load shape are.
    pub fn set_spikes(&mut self, timeline: Option<super::recovery::Timeline>) {
        match (&mut self.spikes, timeline) {
            (Some(t), Some(new)) => t.retime(new),
            (None, Some(new)) => self.spikes = Some(super::recovery::Tracker::new(new)),
            (_, None) => {}
        }
    }

    fn counts(&self, at: Instant) -> bool {
        at >= self.measure_from
    }

    pub fn started(&mut self, scenario: usize, at: Instant) {
        if self.counts(at) {
            if Some(scenario) != self.canary {
                self.overall.started += 1;
            }
            if let Some(s) = self.scenarios.get_mut(scenario) {
                s.started += 1;
            }
        }
    }

    pub fn dropped(&mut self, at: Instant) {
        if self.counts(at) {
            self.dropped += 1;
        }
    }

    pub fn observe(&mut self, rec: &RequestRecord) {
        if !self.counts(rec.sent_at) {
            return;
        }
        if Some(rec.scenario) != self.canary {
            self.overall.observe(rec);
        }
        if let Some(s) = self.scenarios.get_mut(rec.scenario) {
            s.observe(rec);
        }
        if let Some(p) = rec
            .phase
            .map(|p| p as usize)
            .filter(|_| Some(rec.scenario) != self.canary)
        {
            if p >= self.phases.len() {
                self.phases.resize(p + 1, ScopeSummary::default());
            }
            self.phases[p].started += 1;
            self.phases[p].observe(rec);
            if let Some(t) = &mut self.spikes {
                t.observe(rec);
            }
        }
    }

    /// Dropped share of all arrivals (after the warm-up).
    pub fn drop_rate(&self) -> Option<f64> {
        let offered = self.overall.started + self.dropped;
        (offered > 0).then(|| self.dropped as f64 / offered as f64)
    }

    /// The typed summary over `seconds` of measured time, with the exact histograms when
    /// `histograms` (reports; the status API leaves them out).
    pub fn report(&self, seconds: f64, histograms: bool) -> report::Summary {
        report::Summary {
            measured_seconds: seconds,
            dropped: self.dropped,
            drop_rate: self.drop_rate(),
            all: self.overall.report(seconds, histograms),
            scenarios: self
                .names
                .iter()
                .zip(&self.scenarios)
                .map(|(n, s)| (n.clone(), s.report(seconds, histograms)))
                .collect(),
            phases: self
                .phases
                .iter()
                .enumerate()
                .map(|(i, p)| PhaseScope {
                    index: i,
                    kind: self.phase_names.get(i).cloned().unwrap_or_default(),
                    scope: p.report(seconds, histograms),
                })
                .collect(),
            spikes: self.spikes.as_ref().map_or_else(Vec::new, |t| t.results()),
        }
    }
}

/// The recorder's sink that keeps the [`RunSummary`] (one lock, taken once per request).
#[derive(Debug)]
pub struct SummarySink(Mutex<RunSummary>);

impl SummarySink {
    pub fn new(summary: RunSummary) -> Self {
        SummarySink(Mutex::new(summary))
    }

    /// Read the summary in place (no copy).
    pub fn with<T>(&self, f: impl FnOnce(&RunSummary) -> T) -> Option<T> {
        self.0.lock().ok().map(|s| f(&s))
    }

    /// Change it in place (spike timelines of a new load shape).
    pub fn update(&self, f: impl FnOnce(&mut RunSummary)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }
}

impl Sink for SummarySink {
    fn started(&self, scope: usize, at: Instant) {
        self.update(|s| s.started(scope, at));
    }

    fn dropped(&self, at: Instant) {
        self.update(|s| s.dropped(at));
    }

    fn finished(&self, rec: &RequestRecord) {
        self.update(|s| s.observe(rec));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::test_record;

    #[test]
    fn the_typed_summary_counts_what_was_observed_and_carries_the_histograms() {
        let t0 = Instant::now();
        let mut s = RunSummary::new(
            vec!["chat".into(), "canary".into()],
            Some(1),
            vec!["steady".into()],
            t0,
        );
        for i in 0..40u64 {
            let mut r = test_record(t0, Duration::from_millis(100 + i), i % 10 != 0);
            r.phase = Some(0);
            s.started(0, t0);
            s.observe(&r);
        }
        let mut probe = test_record(t0, Duration::from_millis(5), true);
        probe.scenario = 1;
        s.started(1, t0);
        s.observe(&probe);
        // Sent before the warm-up ended: left out.
        s.measure_from = t0 + Duration::from_secs(1);
        s.observe(&test_record(t0, Duration::from_millis(1), true));
        let r = s.report(10.0, true);
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
        // The status API's form leaves the histograms out.
        assert!(s.report(10.0, false).all.latency.ttft.hdr.is_none());
    }
}
