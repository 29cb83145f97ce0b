//! The run's own time series ([`SeriesSink`]): the recorder's sink that counts each window's
//! requests per scope (all, then every scenario and the canary) with exact 2-digit histograms of
//! the charted latencies, and on each `roll` turns the window into a [`Point`] kept in a
//! bounded, tiered store with the run's [`Event`]s.
//!
//! Memory bound, for a daemon that runs for weeks: windows of `step` (10 s) for the last 6 hours
//! (2160), then 1-minute points for 24 hours (1440), 10-minute points for 7 days (1008) and
//! hourly points for 90 days (2160); beyond that the oldest are dropped and counted. A coarser
//! point is the exact merge of the finer ones (histograms merged, not quantiles averaged), made
//! when the finer tier overflows, aligned on multiples of its span after the epoch. At most
//! 6768 points and [`MAX_EVENTS`] events; a point holds its scopes' counts and at most six
//! histograms each, held compact (`report::series::WindowDist`: nothing for a quantity without
//! requests, else its count, quantiles and the histogram's V2 bytes) — about 0.8 KiB a scope for
//! a 10-s window of a few requests a second (a 2-scenario soak with a canary, four scopes:
//! 3.1 KB a window, `memory_bytes` in `/api/v1/status`; a canary alone 1.0 KB): such a run's
//! tiers hold about 7 MB at 6 hours and ~14 MB at a week, and stop growing when the hourly tier
//! is full (97 days).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::Sink;
use super::catalogue::DropReason;
use crate::record::{ErrorType, Outcome, Quantity, RequestRecord};
use crate::report::series::{
    Event, EventKind, Gauges, Point, ScopePoint, Series, WINDOW_DIGITS, WindowDist, WindowLatency,
};
use crate::report::{Hdr, Outcomes};

/// The finest window.
pub const STEP: Duration = Duration::from_secs(10);

/// Each tier's span (in steps) and capacity (points), finest first.
pub const TIERS: [(u32, usize); 4] = [(1, 2160), (6, 1440), (60, 1008), (360, 2160)];

/// Events kept at most (the oldest are dropped and counted).
pub const MAX_EVENTS: usize = 2000;

/// The quantities a window charts, in [`WindowLatency`]'s order.
const CHARTED: [Quantity; 6] = [
    Quantity::Ttft,
    Quantity::Tpot,
    Quantity::Itl,
    Quantity::E2e,
    Quantity::E2ePerToken,
    Quantity::ScheduleLag,
];

/// One scope's counts in the open window.
#[derive(Debug, Clone)]
struct Acc {
    started: u64,
    finished: Outcomes,
    error_types: BTreeMap<ErrorType, u64>,
    input_tokens: u64,
    output_tokens: u64,
    hists: [Hdr; CHARTED.len()],
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            started: 0,
            finished: Outcomes::default(),
            error_types: BTreeMap::new(),
            input_tokens: 0,
            output_tokens: 0,
            hists: std::array::from_fn(|_| Hdr::with_digits(WINDOW_DIGITS)),
        }
    }
}

impl Acc {
    fn observe(&mut self, rec: &RequestRecord) {
        self.finished.add(rec.outcome, 1);
        if let Some(e) = rec.error_type {
            *self.error_types.entry(e).or_default() += 1;
        }
        if rec.outcome == Outcome::Success {
            self.input_tokens += rec.input_tokens;
            self.output_tokens += rec.output_tokens;
            for (q, h) in CHARTED.iter().zip(self.hists.iter_mut()) {
                for d in q.samples(rec) {
                    h.record(d);
                }
            }
        }
    }

    /// The window as a point's scope; the counts start again.
    fn take(&mut self) -> ScopePoint {
        let d = |i: usize| WindowDist::of(&self.hists[i]);
        let p = ScopePoint {
            started: self.started,
            finished: self.finished,
            error_types: std::mem::take(&mut self.error_types),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            latency: WindowLatency {
                ttft: d(0),
                tpot: d(1),
                itl: d(2),
                e2e: d(3),
                e2e_per_token: d(4),
                schedule_lag: d(5),
            },
        };
        self.started = 0;
        self.finished = Outcomes::default();
        self.input_tokens = 0;
        self.output_tokens = 0;
        for h in self.hists.iter_mut().filter(|h| h.count() > 0) {
            h.reset();
        }
        p
    }
}

/// The bounded, tiered windows and the events.
#[derive(Debug)]
struct Store {
    step: f64,
    tiers: Vec<(f64, usize, VecDeque<Point>)>,
    events: VecDeque<Event>,
    dropped_points: u64,
    dropped_events: u64,
}

impl Store {
    fn new(step: Duration, tiers: &[(u32, usize)]) -> Self {
        let step = step.as_secs_f64();
        Store {
            step,
            tiers: tiers
                .iter()
                .map(|(k, cap)| (step * f64::from(*k), *cap, VecDeque::new()))
                .collect(),
            events: VecDeque::new(),
            dropped_points: 0,
            dropped_events: 0,
        }
    }

    fn push(&mut self, point: Point) {
        self.tiers[0].2.push_back(point);
        self.settle();
    }

    /// The points of an earlier segment (a checkpoint's series, oldest first), each in the tier
    /// its span says — tiers only get finer towards the present, so a coarse point cut short at
    /// the run's start is still a coarse one — then bounded as if they had been pushed.
    fn preload(&mut self, mut points: Vec<Point>) {
        let kept: Vec<Point> = self
            .tiers
            .iter_mut()
            .rev()
            .flat_map(|t| t.2.drain(..))
            .collect();
        points.extend(kept);
        let spans: Vec<f64> = self.tiers.iter().map(|t| t.0).collect();
        let natural = |p: &Point| {
            spans
                .iter()
                .position(|s| p.span <= s * 1.5 + 1e-6)
                .unwrap_or(spans.len() - 1)
        };
        let mut tier = vec![0; points.len()];
        let mut floor = 0;
        for (i, p) in points.iter().enumerate().rev() {
            floor = floor.max(natural(p));
            tier[i] = floor;
        }
        for (p, i) in points.into_iter().zip(tier) {
            self.tiers[i].2.push_back(p);
        }
        self.settle();
    }

    /// Bound every tier: the oldest points of a full tier become one point of the next.
    fn settle(&mut self) {
        for i in 0..self.tiers.len() {
            while self.tiers[i].2.len() > self.tiers[i].1 {
                let Some(next_span) = self.tiers.get(i + 1).map(|t| t.0) else {
                    self.tiers[i].2.pop_front();
                    self.dropped_points += 1;
                    continue;
                };
                // The oldest points that fall in one span of the next tier become one point.
                let q = &mut self.tiers[i].2;
                let Some(first) = q.front() else { break };
                let end = ((first.t / next_span).floor() + 1.0) * next_span;
                let mut group = Vec::new();
                while q.front().is_some_and(|p| p.t < end - 1e-9) {
                    group.extend(q.pop_front());
                }
                let merged = Point::merge(&group.iter().collect::<Vec<_>>());
                self.tiers[i + 1].2.push_back(merged);
            }
        }
    }

    fn event(&mut self, e: Event) {
        self.events.push_back(e);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
    }

    fn points(&self) -> impl Iterator<Item = &Point> {
        self.tiers.iter().rev().flat_map(|t| t.2.iter())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The run's time series as it accumulates.
#[derive(Debug)]
pub struct SeriesSink {
    epoch: Instant,
    epoch_unix: f64,
    scopes: Vec<String>,
    canary: Option<usize>,
    /// `all`, then each request scope.
    open: Vec<Mutex<Acc>>,
    dropped: AtomicU64,
    /// Start of the open window.
    from: Mutex<Instant>,
    /// The engines' deltas that arrived during the open window (by the scraped URL).
    server: Mutex<BTreeMap<String, crate::engine::window::Window>>,
    store: Mutex<Store>,
}

impl SeriesSink {
    /// Windows of `step` timed from `epoch` (Unix time `epoch_unix`), the first one opening at
    /// `start`, for request scopes named `names` (`canary`: the scope kept out of `all`).
    pub fn new(
        names: Vec<String>,
        canary: Option<usize>,
        epoch: Instant,
        epoch_unix: f64,
        start: Instant,
        step: Duration,
    ) -> Self {
        let scopes: Vec<String> = std::iter::once("all".to_string()).chain(names).collect();
        SeriesSink {
            epoch,
            epoch_unix,
            open: scopes.iter().map(|_| Mutex::default()).collect(),
            scopes,
            canary,
            dropped: AtomicU64::new(0),
            from: Mutex::new(start),
            server: Mutex::default(),
            store: Mutex::new(Store::new(step, &TIERS)),
        }
    }

    /// The same with other tiers (tests of the downsampling).
    #[cfg(test)]
    fn with_tiers(mut self, tiers: &[(u32, usize)]) -> Self {
        let step = Duration::from_secs_f64(lock(&self.store).step);
        self.store = Mutex::new(Store::new(step, tiers));
        self
    }

    /// The epoch windows are aligned on.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The finest window.
    pub fn step(&self) -> Duration {
        Duration::from_secs_f64(lock(&self.store).step)
    }

    fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.epoch).as_secs_f64()
    }

    /// Close the open window at `at` with the gauges sampled during it and the phase at its end.
    pub fn roll(&self, at: Instant, gauges: Gauges, phase: Option<u32>) {
        let from = std::mem::replace(&mut *lock(&self.from), at);
        let point = Point {
            t: self.seconds(from),
            span: at.saturating_duration_since(from).as_secs_f64(),
            phase,
            dropped: self.dropped.swap(0, Ordering::Relaxed),
            gauges,
            scopes: self.open.iter().map(|a| lock(a).take()).collect(),
            server: std::mem::take(&mut *lock(&self.server)),
        };
        let mut store = lock(&self.store);
        // A sliver of a window (the drain after the last boundary) joins the window before it,
        // so no rate is drawn from a fraction of a second.
        if point.span < store.step / 2.0
            && let Some(last) = store.tiers[0].2.pop_back()
        {
            let merged = Point::merge(&[&last, &point]);
            store.tiers[0].2.push_back(Point {
                phase: last.phase,
                ..merged
            });
            return;
        }
        store.push(point);
    }

    /// The open window so far as a point, left open (a checkpoint's last window: a daemon
    /// that restarts from it goes on with windows of its own after it).
    pub fn open_point(&self, at: Instant) -> Option<Point> {
        let from = *lock(&self.from);
        let span = at.saturating_duration_since(from).as_secs_f64();
        (span > 0.0).then(|| Point {
            t: self.seconds(from),
            span,
            phase: None,
            dropped: self.dropped.load(Ordering::Relaxed),
            gauges: Gauges::default(),
            scopes: self.open.iter().map(|a| lock(a).clone().take()).collect(),
            server: lock(&self.server).clone(),
        })
    }

    /// What the engine at `url` said of the time since its last scrape: part of the open
    /// window.
    pub fn server(&self, url: &str, w: crate::engine::window::Window) {
        lock(&self.server)
            .entry(url.to_string())
            .or_default()
            .merge(&w);
    }

    /// Go on from an earlier segment of the run (a resumed run's checkpoint, on this sink's
    /// epoch): its windows and events come before this daemon's, in the same bounded tiers, so
    /// the series is held once and every reader (`series`, `since`) sees one run.
    pub fn preload(&self, earlier: Series) {
        let mut store = lock(&self.store);
        store.dropped_points += earlier.dropped_points;
        store.dropped_events += earlier.dropped_events;
        store.preload(earlier.points);
        let later: Vec<Event> = store.events.drain(..).collect();
        for e in earlier.events.into_iter().chain(later) {
            store.event(e);
        }
    }

    /// Mark an instant of the run.
    pub fn event(&self, at: Instant, kind: EventKind, detail: impl Into<String>) {
        let e = Event {
            t: self.seconds(at),
            kind,
            detail: detail.into(),
        };
        lock(&self.store).event(e);
    }

    /// The series so far: the closed windows that start at or after `since` seconds (all: 0)
    /// and every event kept.
    pub fn series(&self, since: f64) -> Series {
        let s = lock(&self.store);
        Series {
            epoch_unix: self.epoch_unix,
            step_seconds: s.step,
            scopes: self.scopes.clone(),
            points: s
                .points()
                .filter(|p| p.t >= since - 1e-6)
                .cloned()
                .collect(),
            events: s.events.iter().cloned().collect(),
            dropped_points: s.dropped_points,
            dropped_events: s.dropped_events,
        }
    }

    /// `f` of every kept point, oldest first, under the store's lock (read what is needed and
    /// let go: the timeline's roll waits on it).
    pub fn with_points<R>(&self, f: impl FnOnce(&[&Point]) -> R) -> R {
        let s = lock(&self.store);
        let points: Vec<&Point> = s.points().collect();
        f(&points)
    }

    /// The series' scope names (`all`, then each request scope).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Points kept now, per tier (finest first).
    pub fn tier_lengths(&self) -> Vec<usize> {
        lock(&self.store).tiers.iter().map(|t| t.2.len()).collect()
    }

    /// Events kept now.
    pub fn event_count(&self) -> usize {
        lock(&self.store).events.len()
    }

    /// The heap the kept points and events use, roughly (bytes).
    pub fn memory_bytes(&self) -> usize {
        let s = lock(&self.store);
        let dist = |d: &WindowDist| d.heap_bytes();
        let scope = |sp: &ScopePoint| {
            std::mem::size_of::<ScopePoint>()
                + sp.error_types.len() * 32
                + sp.latency
                    .each()
                    .iter()
                    .map(|(_, d)| dist(d))
                    .sum::<usize>()
        };
        let points: usize = s
            .points()
            .map(|p| std::mem::size_of::<Point>() + p.scopes.iter().map(scope).sum::<usize>())
            .sum();
        let events: usize = s
            .events
            .iter()
            .map(|e| std::mem::size_of::<Event>() + e.detail.capacity())
            .sum();
        points + events
    }
}

impl Sink for SeriesSink {
    fn started(&self, scope: usize, _at: Instant) {
        if Some(scope) != self.canary {
            lock(&self.open[0]).started += 1;
        }
        if let Some(a) = self.open.get(scope + 1) {
            lock(a).started += 1;
        }
    }

    fn dropped(&self, _at: Instant, reason: DropReason) {
        // A window's drops are offered load that was not sent; a spent budget is not.
        if reason.is_capacity() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finished(&self, rec: &RequestRecord, _slo: Option<crate::config::slo::Judgement>) {
        if Some(rec.scenario) != self.canary {
            lock(&self.open[0]).observe(rec);
        }
        if let Some(a) = self.open.get(rec.scenario + 1) {
            lock(a).observe(rec);
        }
    }
}

#[cfg(test)]
mod tests;
