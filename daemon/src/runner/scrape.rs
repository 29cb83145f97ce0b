//! The scrape of the targets' engines, as a side task of the run: a scrape before the load
//! starts, then one a second before each window boundary (so its delta joins the window that boundary
//! closes), and a last one after the drain. Each delta joins the run's
//! series, the run's and its phase's totals; each scrape's health is exported. What the report
//! needs is read from [`Engines::blocks`], beside the client's own count of the same requests
//! ([`ClientTokens`], a sink).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::engine::Hist;
use crate::engine::scrape::Scraper;
use crate::engine::snapshot::Snapshot;
use crate::engine::window::{Layouts, Window};
use crate::metrics::Recorder;
use crate::metrics::series::SeriesSink;
use crate::metrics::server::ScrapeInstruments;
use crate::record::RequestRecord;
use crate::report::server::{ClientSide, PhaseServer, ServerBlock, TokenCheck};

/// One target's scrape and what it has added up.
#[derive(Debug)]
struct Target {
    scraper: Scraper,
    prev: Option<Snapshot>,
    /// When `prev` was taken: a reset seen now happened after it.
    prev_at: Option<Instant>,
    layouts: Layouts,
    total: Window,
    phases: BTreeMap<u32, Window>,
    scrapes: u64,
    failed: u64,
    last_error: Option<String>,
    /// The table's words no scrape had (`None` before the first scrape).
    missing: Option<BTreeSet<&'static str>>,
    unmapped: BTreeSet<String>,
}

/// The client's own count of what it sent each target: requests finished and output tokens
/// received (any outcome), for the token cross-check.
#[derive(Debug)]
pub(super) struct ClientTokens {
    /// Target index of each request scope.
    target_of: Vec<usize>,
    requests: Vec<AtomicU64>,
    tokens: Vec<AtomicU64>,
}

impl ClientTokens {
    pub(super) fn new(target_of: Vec<usize>, targets: usize) -> Self {
        ClientTokens {
            target_of,
            requests: (0..targets).map(|_| AtomicU64::new(0)).collect(),
            tokens: (0..targets).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl crate::metrics::Sink for ClientTokens {
    fn finished(&self, rec: &RequestRecord, _slo: Option<crate::config::slo::Judgement>) {
        let Some(&t) = self.target_of.get(rec.scenario) else {
            return;
        };
        if let (Some(r), Some(k)) = (self.requests.get(t), self.tokens.get(t)) {
            r.fetch_add(1, Ordering::Relaxed);
            k.fetch_add(rec.output_tokens, Ordering::Relaxed);
        }
    }
}

/// The scrapes of a run.
#[derive(Debug)]
pub(super) struct Engines {
    targets: Mutex<Vec<(usize, Target)>>,
    /// What the last round left, for the report (read without waiting for a scrape).
    published: std::sync::Mutex<Vec<Block>>,
    series: Arc<SeriesSink>,
    recorder: Arc<Recorder>,
    instruments: ScrapeInstruments,
    client: Arc<ClientTokens>,
    /// Told of an engine restart (its counters reset): a disruption to recover from.
    summary: Arc<crate::metrics::summary::SummarySink>,
}

/// What the report says of one target's engine.
#[derive(Debug, Clone)]
pub(super) struct Block {
    pub target: usize,
    pub name: String,
    pub url: String,
    pub engine: Option<(String, String)>,
    pub scrapes: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    pub total: Window,
    pub phases: BTreeMap<u32, Window>,
    pub missing: Vec<String>,
    pub unmapped: Vec<String>,
    pub client_requests: u64,
    pub client_tokens: u64,
}

impl Engines {
    /// The scrapes of `scrapers` (target index, scraper).
    pub(super) fn new(
        scrapers: Vec<(usize, Scraper)>,
        series: Arc<SeriesSink>,
        recorder: Arc<Recorder>,
        instruments: ScrapeInstruments,
        client: Arc<ClientTokens>,
        summary: Arc<crate::metrics::summary::SummarySink>,
    ) -> Self {
        let targets = scrapers
            .into_iter()
            .map(|(i, scraper)| {
                (
                    i,
                    Target {
                        scraper,
                        prev: None,
                        prev_at: None,
                        layouts: Layouts::default(),
                        total: Window::default(),
                        phases: BTreeMap::new(),
                        scrapes: 0,
                        failed: 0,
                        last_error: None,
                        missing: None,
                        unmapped: BTreeSet::new(),
                    },
                )
            })
            .collect();
        Engines {
            targets: Mutex::new(targets),
            published: std::sync::Mutex::new(Vec::new()),
            series,
            recorder,
            instruments,
            client,
            summary,
        }
    }

    /// Scrape every target once (concurrently) and add each window: the run's first scrape
    /// (before any load: what its counters count from), each window's, and its last (after the
    /// drain).
    pub(super) async fn round(&self) {
        let mut targets = self.targets.lock().await;
        let phase = u32::try_from(self.recorder.totals.phase.load(Ordering::Relaxed)).ok();
        let results = futures_util::future::join_all(targets.iter_mut().map(|(_, t)| async {
            let started = Instant::now();
            let r = t.scraper.scrape().await;
            (r, started.elapsed())
        }))
        .await;
        for ((_, t), (result, took)) in targets.iter_mut().zip(results) {
            t.scrapes += 1;
            let name = t.scraper.target.clone();
            match result {
                Ok(snap) => {
                    self.instruments.record(&name, true, took, snap.series);
                    t.missing = Some(match t.missing.take() {
                        None => snap.missing.clone(),
                        Some(m) => m.intersection(&snap.missing).copied().collect(),
                    });
                    t.unmapped.extend(snap.unmapped.iter().cloned());
                    if let Some(prev) = &t.prev {
                        let w = Window::between(prev, &snap, &mut t.layouts);
                        if w.resets > 0 {
                            let now = Instant::now();
                            self.series.event(
                                now,
                                crate::report::series::EventKind::TargetRestart,
                                format!("{name}: the engine's counters were reset (a restart)"),
                            );
                            // It happened since the previous scrape (one a window): timed from
                            // then, the earliest it can have been.
                            self.summary
                                .disrupted(t.prev_at.unwrap_or(now), "engine restart");
                        }
                        t.total.merge(&w);
                        if let Some(p) = phase {
                            t.phases.entry(p).or_default().merge(&w);
                        }
                        self.series.server(&t.scraper.url, w);
                    }
                    t.prev = Some(snap);
                    t.prev_at = Some(Instant::now());
                }
                Err(e) => {
                    self.instruments.record(&name, false, took, 0);
                    if t.failed == 0 {
                        tracing::warn!(target_name = %name, url = %t.scraper.url, error = %e, "cannot scrape the engine's metrics (said once; llmsoak_target_scrape_success says each time)");
                    }
                    t.failed += 1;
                    t.last_error = Some(format!("{}: {e}", e.class()));
                }
            }
        }
        let blocks = targets.iter().map(|(i, t)| self.block(*i, t)).collect();
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = blocks;
    }

    /// The task: a scrape a second before each window boundary, until stopped.
    pub(super) async fn run(self: Arc<Self>) {
        let step = self.series.step();
        let lead = Duration::from_secs(1).min(step / 4);
        let epoch = self.series.epoch();
        loop {
            let since = Instant::now()
                .saturating_duration_since(epoch)
                .as_secs_f64();
            let k = (since + lead.as_secs_f64()) / step.as_secs_f64();
            let next = epoch + step.mul_f64(k.floor() + 1.0);
            tokio::time::sleep_until(next.checked_sub(lead).unwrap_or(next)).await;
            self.round().await;
        }
    }

    /// What each target's engine said, as of the last scrape.
    pub(super) fn blocks(&self) -> Vec<Block> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn block(&self, i: usize, t: &Target) -> Block {
        Block {
            target: i,
            name: t.scraper.target.clone(),
            url: t.scraper.url.clone(),
            engine: t
                .scraper
                .map()
                .map(|m| (m.engine.clone(), m.release.clone())),
            scrapes: t.scrapes,
            failed: t.failed,
            last_error: t.last_error.clone(),
            total: t.total.clone(),
            phases: t.phases.clone(),
            missing: t.missing.iter().flatten().map(|s| s.to_string()).collect(),
            unmapped: t.unmapped.iter().cloned().collect(),
            client_requests: self
                .client
                .requests
                .get(i)
                .map_or(0, |a| a.load(Ordering::Relaxed)),
            client_tokens: self
                .client
                .tokens
                .get(i)
                .map_or(0, |a| a.load(Ordering::Relaxed)),
        }
    }
}

/// The report's server blocks: each engine's words over the run and its phases, beside the
/// client's own means over the requests it sent that target (`summary`'s scenarios whose target
/// it is, weighted by their samples) and the token cross-check.
pub(super) fn report(
    blocks: &[Block],
    summary: Option<&crate::report::Summary>,
    scope_targets: &[usize],
) -> Vec<ServerBlock> {
    blocks
        .iter()
        .map(|b| {
            let run = b.total.summary();
            let mean = |pick: fn(&crate::report::Latency) -> &crate::report::Dist| {
                let (mut sum, mut n) = (0.0, 0u64);
                let scopes = summary.map_or(&[][..], |s| &s.scenarios[..]);
                for ((_, scope), t) in scopes.iter().zip(scope_targets) {
                    let d = pick(&scope.latency);
                    if *t == b.target
                        && let Some(m) = d.mean
                    {
                        sum += m * d.samples as f64;
                        n += d.samples;
                    }
                }
                (n > 0).then(|| sum / n as f64)
            };
            let server_mean = |h: Hist| run.latency.get(&h).and_then(|d| d.mean);
            let ttft_mean = mean(|l| &l.ttft);
            let e2e_mean = mean(|l| &l.e2e);
            let gap = |c: Option<f64>, s: Option<f64>| Some(c? - s?);
            ServerBlock {
                target: b.name.clone(),
                url: b.url.clone(),
                engine: b.engine.as_ref().map(|(e, _)| e.clone()),
                release: b.engine.as_ref().map(|(_, r)| r.clone()),
                scrapes: b.scrapes,
                failed_scrapes: b.failed,
                last_error: b.last_error.clone(),
                phases: b
                    .phases
                    .iter()
                    .map(|(i, w)| PhaseServer {
                        index: *i,
                        summary: w.summary(),
                    })
                    .collect(),
                client: ClientSide {
                    ttft_mean,
                    e2e_mean,
                    ttft_gap: gap(ttft_mean, server_mean(Hist::Ttft)),
                    e2e_gap: gap(e2e_mean, server_mean(Hist::E2e)),
                },
                tokens: TokenCheck::new(
                    b.client_tokens,
                    b.client_requests,
                    run.generation_tokens,
                    run.requests,
                ),
                missing: b.missing.clone(),
                unmapped: b.unmapped.clone(),
                run,
            }
        })
        .collect()
}
