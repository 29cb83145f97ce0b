//! Windows of the server's side, as Prometheus reduces them: a counter's increase over a window
//! (a drop is a reset — an engine restart — and the new value is then the increase, as
//! `increase()` takes it), a histogram's bucket deltas, quantiles by `histogram_quantile`'s
//! linear interpolation within the bucket the rank falls in (approximate: the bucket's bounds
//! are kept beside it), and windows merged exactly (bucket counts add) into tiers, phases and
//! the run.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::snapshot::{Buckets, Snapshot};
use super::{Counter, Gauge, Hist};

/// A histogram's counts within a window: per bucket (not cumulative; sparse, by bucket index
/// into `bounds`, which windows of one layout share).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistDelta {
    /// Upper bounds, `+Inf` last (written `null`: JSON has no infinity).
    #[serde(with = "inf_null::bounds")]
    pub bounds: Arc<[f64]>,
    pub counts: Vec<(u16, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// A gauge's readings over windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub last: f64,
    pub max: f64,
    pub sum: f64,
    pub n: u32,
}

impl Level {
    fn one(v: f64) -> Level {
        Level {
            last: v,
            max: v,
            sum: v,
            n: 1,
        }
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }

    fn merge(&mut self, later: &Level) {
        self.last = later.last;
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.n += later.n;
    }
}

/// The server's side over one window (or several merged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hists: BTreeMap<Hist, HistDelta>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gauges: BTreeMap<Gauge, Level>,
    /// Increases over the window.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<Counter, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, f64>,
    /// Counter resets seen (the engine restarted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resets: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An increase as `increase()` takes it: a drop is a reset, and the new value counts from zero.
fn increase(prev: Option<f64>, cur: f64, resets: &mut u32) -> f64 {
    match prev {
        Some(p) if cur < p => {
            *resets += 1;
            cur
        }
        Some(p) => cur - p,
        None => cur,
    }
}

/// The layouts in use, so windows of one histogram share their bounds.
#[derive(Debug, Default)]
pub struct Layouts(BTreeMap<Hist, Arc<[f64]>>);

impl Layouts {
    fn of(&mut self, h: Hist, bounds: &[f64]) -> Arc<[f64]> {
        match self.0.get(&h) {
            Some(b) if **b == *bounds => Arc::clone(b),
            _ => {
                let b: Arc<[f64]> = bounds.into();
                self.0.insert(h, Arc::clone(&b));
                b
            }
        }
    }
}

fn hist_delta(
    prev: Option<&Buckets>,
    cur: &Buckets,
    bounds: Arc<[f64]>,
    resets: &mut u32,
) -> HistDelta {
    let comparable = prev.filter(|p| p.bounds == cur.bounds);
    let reset = comparable.is_some_and(|p| {
        cur.count < p.count || cur.cumulative.iter().zip(&p.cumulative).any(|(c, p)| c < p)
    });
    if reset {
        *resets += 1;
    }
    let base = comparable.filter(|_| !reset);
    let cumulative: Vec<f64> = match base {
        Some(p) => cur
            .cumulative
            .iter()
            .zip(&p.cumulative)
            .map(|(c, p)| c - p)
            .collect(),
        None => cur.cumulative.clone(),
    };
    let mut counts = Vec::new();
    let mut below = 0.0;
    for (i, c) in cumulative.iter().enumerate() {
        let n = c - below;
        if n > 0.0 {
            counts.push((i as u16, n));
        }
        below = *c;
    }
    HistDelta {
        bounds,
        counts,
        sum: base.map_or(cur.sum, |p| cur.sum - p.sum),
        count: base.map_or(cur.count, |p| cur.count - p.count),
    }
}

impl Window {
    /// The window from scrape `prev` to scrape `cur`.
    pub fn between(prev: &Snapshot, cur: &Snapshot, layouts: &mut Layouts) -> Window {
        let mut w = Window::default();
        for (h, b) in &cur.hists {
            let bounds = layouts.of(*h, &b.bounds);
            w.hists
                .insert(*h, hist_delta(prev.hists.get(h), b, bounds, &mut w.resets));
        }
        for (g, v) in &cur.gauges {
            w.gauges.insert(*g, Level::one(*v));
        }
        let mut resets = 0;
        for (c, v) in &cur.counters {
            let inc = increase(prev.counters.get(c).copied(), *v, &mut resets);
            w.counters.insert(*c, inc);
        }
        for (r, v) in &cur.reasons {
            let inc = increase(prev.reasons.get(r).copied(), *v, &mut 0);
            w.reasons.insert(r.clone(), inc);
        }
        // One restart resets every counter: count it once.
        w.resets = w.resets.max(resets.min(1));
        w
    }

    /// Add `later` (the window after this one) to this one.
    pub fn merge(&mut self, later: &Window) {
        for (h, d) in &later.hists {
            match self.hists.get_mut(h) {
                Some(mine) if *mine.bounds == *d.bounds => {
                    for (i, n) in &d.counts {
                        match mine.counts.iter_mut().find(|(j, _)| j == i) {
                            Some((_, m)) => *m += n,
                            None => mine.counts.push((*i, *n)),
                        }
                    }
                    mine.counts.sort_by_key(|(i, _)| *i);
                    mine.sum += d.sum;
                    mine.count += d.count;
                }
                // A new layout (the engine restarted with other buckets): the later one stands.
                _ => {
                    self.hists.insert(*h, d.clone());
                }
            }
        }
        for (g, l) in &later.gauges {
            self.gauges
                .entry(*g)
                .and_modify(|m| m.merge(l))
                .or_insert(*l);
        }
        for (c, v) in &later.counters {
            *self.counters.entry(*c).or_default() += v;
        }
        for (r, v) in &later.reasons {
            *self.reasons.entry(r.clone()).or_default() += v;
        }
        self.resets += later.resets;
    }

    /// The summary a report shows.
    pub fn summary(&self) -> Summary {
        let c = |k: Counter| self.counters.get(&k).copied();
        let per = |num: Option<f64>, den: Option<f64>| match (num, den) {
            (Some(n), Some(d)) if d > 0.0 => Some(n / d),
            _ => None,
        };
        Summary {
            latency: self
                .hists
                .iter()
                .filter(|(_, d)| d.count > 0.0)
                .map(|(h, d)| (*h, d.dist()))
                .collect(),
            running: self.gauges.get(&Gauge::Running).copied().map(Into::into),
            waiting: self.gauges.get(&Gauge::Waiting).copied().map(Into::into),
            kv_usage: self.gauges.get(&Gauge::KvUsage).copied().map(Into::into),
            preemptions: c(Counter::Preemptions),
            prefix_hit_rate: per(c(Counter::PrefixHits), c(Counter::PrefixQueries)),
            prompt_tokens: c(Counter::PromptTokens),
            generation_tokens: c(Counter::GenerationTokens),
            requests: c(Counter::Requests),
            reasons: self.reasons.clone(),
            prefill_seconds_per_token: per(c(Counter::PrefillSeconds), c(Counter::PromptTokens)),
            decode_seconds_per_token: per(c(Counter::DecodeSeconds), c(Counter::GenerationTokens)),
            resets: self.resets,
        }
    }
}

/// A quantile from buckets: the interpolated value and the bucket it lies in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Approx {
    pub value: f64,
    /// The bucket's lower and upper bound: the true quantile is somewhere between.
    pub lower: f64,
    /// `+Inf` (written `null`) for the top bucket.
    #[serde(with = "inf_null")]
    pub upper: f64,
}

/// An infinite bound as JSON `null` (serde_json writes non-finite numbers as `null` and cannot
/// read them back): written `null`, read back as `+Inf`.
mod inf_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match v.is_finite() {
            true => s.serialize_f64(*v),
            false => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }

    pub(super) mod bounds {
        use std::sync::Arc;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(in super::super) fn serialize<S: Serializer>(
            v: &Arc<[f64]>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|b| b.is_finite().then_some(*b)))
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Arc<[f64]>, D::Error> {
            let v = Vec::<Option<f64>>::deserialize(d)?;
            Ok(v.into_iter().map(|b| b.unwrap_or(f64::INFINITY)).collect())
        }
    }
}

/// A server-side latency over windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub count: f64,
    pub mean: Option<f64>,
    pub p50: Option<Approx>,
    pub p90: Option<Approx>,
    pub p99: Option<Approx>,
}

impl HistDelta {
    /// `histogram_quantile(q)` over these counts.
    pub fn quantile(&self, q: f64) -> Option<Approx> {
        let total: f64 = self.counts.iter().map(|(_, n)| n).sum();
        if total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let mut below = 0.0;
        for (i, n) in &self.counts {
            let i = usize::from(*i);
            let upper = *self.bounds.get(i)?;
            if below + n >= rank {
                let lower = match i {
                    0 if upper > 0.0 => 0.0,
                    0 => upper,
                    _ => self.bounds[i - 1],
                };
                // The top bucket has no upper bound: Prometheus answers its lower one.
                if upper.is_infinite() {
                    return Some(Approx {
                        value: lower,
                        lower,
                        upper,
                    });
                }
                let value = lower + (upper - lower) * (rank - below) / n;
                return Some(Approx {
                    value,
                    lower,
                    upper,
                });
            }
            below += n;
        }
        None
    }

    fn dist(&self) -> Dist {
        Dist {
            count: self.count,
            mean: (self.count > 0.0).then(|| self.sum / self.count),
            p50: self.quantile(0.5),
            p90: self.quantile(0.9),
            p99: self.quantile(0.99),
        }
    }
}

/// A gauge over windows: mean, max and the last reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub mean: f64,
    pub max: f64,
    pub last: f64,
}

impl From<Level> for Reading {
    fn from(l: Level) -> Reading {
        Reading {
            mean: l.mean().unwrap_or(l.last),
            max: l.max,
            last: l.last,
        }
    }
}

/// The server's side over a stretch of a run, as reports show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Latencies the server timed (approximate quantiles: see [`Approx`]).
    pub latency: BTreeMap<Hist, Dist>,
    pub running: Option<Reading>,
    pub waiting: Option<Reading>,
    pub kv_usage: Option<Reading>,
    pub preemptions: Option<f64>,
    /// Prefix-cache hits ÷ queries (tokens).
    pub prefix_hit_rate: Option<f64>,
    pub prompt_tokens: Option<f64>,
    pub generation_tokens: Option<f64>,
    pub requests: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, f64>,
    /// Derived means where an engine keeps only time counters (llama.cpp): seconds per token.
    pub prefill_seconds_per_token: Option<f64>,
    pub decode_seconds_per_token: Option<f64>,
    pub resets: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(bounds: &[f64], cumulative: &[f64], sum: f64) -> Buckets {
        Buckets {
            bounds: bounds.to_vec(),
            cumulative: cumulative.to_vec(),
            sum,
            count: *cumulative.last().unwrap(),
        }
    }

    fn snap(cum: &[f64], sum: f64, tokens: f64) -> Snapshot {
        let mut s = Snapshot::default();
        s.hists.insert(
            Hist::Ttft,
            buckets(&[0.1, 0.5, 1.0, f64::INFINITY], cum, sum),
        );
        s.counters.insert(Counter::GenerationTokens, tokens);
        s
    }

    #[test]
    fn a_window_is_the_difference_and_quantiles_interpolate_as_prometheus_does() {
        let mut layouts = Layouts::default();
        let w = Window::between(
            &snap(&[1.0, 1.0, 1.0, 1.0], 0.05, 100.0),
            &snap(&[1.0, 5.0, 11.0, 11.0], 4.05, 160.0),
            &mut layouts,
        );
        let d = &w.hists[&Hist::Ttft];
        assert_eq!(d.counts, [(1, 4.0), (2, 6.0)]);
        assert_eq!((d.count, d.sum), (10.0, 4.0));
        assert_eq!(w.counters[&Counter::GenerationTokens], 60.0);
        assert_eq!(w.resets, 0);
        // rank 5 of 10: the 1st of 6 in (0.5, 1.0] → 0.5 + 0.5 × 1/6.
        let p50 = d.quantile(0.5).unwrap();
        assert!((p50.value - (0.5 + 0.5 / 6.0)).abs() < 1e-12);
        assert_eq!((p50.lower, p50.upper), (0.5, 1.0));
        // rank 2 of 10: in (0.1, 0.5], the 2nd of 4.
        let p20 = d.quantile(0.2).unwrap();
        assert!((p20.value - (0.1 + 0.4 * 2.0 / 4.0)).abs() < 1e-12);
    }

    #[test]
    fn a_restart_is_a_reset_and_the_new_counts_are_the_increase() {
        let mut layouts = Layouts::default();
        let w = Window::between(
            &snap(&[5.0, 9.0, 10.0, 10.0], 5.0, 1000.0),
            &snap(&[0.0, 2.0, 3.0, 3.0], 1.5, 40.0),
            &mut layouts,
        );
        assert_eq!(w.resets, 1);
        assert_eq!(w.counters[&Counter::GenerationTokens], 40.0);
        assert_eq!(w.hists[&Hist::Ttft].count, 3.0);
    }

    #[test]
    fn windows_and_summaries_round_trip_through_json_with_their_infinite_bound() {
        let mut layouts = Layouts::default();
        let w = Window::between(
            &Snapshot::default(),
            &snap(&[0.0, 1.0, 1.0, 3.0], 9.0, 5.0),
            &mut layouts,
        );
        let text = serde_json::to_string(&w).unwrap();
        assert!(text.contains("null"), "{text}");
        let back: Window = serde_json::from_str(&text).unwrap();
        assert_eq!(back, w);
        let s = w.summary();
        assert!(s.latency[&Hist::Ttft].p99.unwrap().upper.is_infinite());
        let back: Summary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn the_top_bucket_answers_its_lower_bound_and_merging_adds_counts() {
        let mut layouts = Layouts::default();
        let a = Window::between(
            &Snapshot::default(),
            &snap(&[0.0, 0.0, 0.0, 2.0], 9.0, 0.0),
            &mut layouts,
        );
        let q = a.hists[&Hist::Ttft].quantile(0.99).unwrap();
        assert_eq!((q.value, q.lower), (1.0, 1.0));
        assert!(q.upper.is_infinite());
        let mut m = a.clone();
        m.merge(&a);
        assert_eq!(m.hists[&Hist::Ttft].counts, [(3, 4.0)]);
        assert!(Arc::ptr_eq(
            &m.hists[&Hist::Ttft].bounds,
            &a.hists[&Hist::Ttft].bounds
        ));
    }
}
