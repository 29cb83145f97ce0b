//! The capacity question: `llm-soak sweep` finds the highest request rate at which the SLOs
//! still hold. A short closed-loop concurrency ladder (1, 2, 4, … users) estimates the
//! throughput the target can reach — checked with Little's law, N = X·R, so a client that could
//! not keep its users busy is seen — and the search then offers open-loop Poisson rates from a
//! quarter of 1.1× that estimate, doubling while steps pass, then bisecting the bracket between
//! the highest pass and the lowest fail until it is `tolerance` narrow. Each step runs after a
//! warm-up until its estimate is stable (or its queue clearly runs away, or its cap), drains, and
//! is judged ([`judge`]): the Wilson lower bound of its attainment, its error budget,
//! achieved ÷ offered, no upward trend in in-flight and TTFT, and no sign that the client was
//! the limit. Unlike a search anchored on an unbounded "max throughput" burst, no step is sized
//! by a request count that could run for hours, and the open-loop steps are never limited by a
//! fixed user count.
//!
//! A sweep is a run: its steps are generations of load on the one request lifecycle (launcher,
//! recorder and its SLO judgement, `/metrics`, the live page with an event per step), collected
//! by [`collect::StepSink`]; only what a step is and how it is judged are the sweep's.

mod collect;
pub(crate) mod judge;
mod step;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::client::ClientError;
use crate::config::sweep::SweepConfig;
use crate::prepare::Prepared;
use crate::report::sweep::{
    Criteria, LadderLevel, SWEEP_SCHEMA_VERSION, StepVerdict, SweepReport, SweepResult, SweepStep,
};
use crate::runner::{Clients, HttpClients, Run, RunOptions};
use step::Driver;

/// Why a sweep could not run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(
        "a sweep judges steps by their SLO attainment: set [slo] (or a scenario's slo = {{ … }})"
    )]
    NoSlo,
    #[error("the config has no scenarios to send")]
    NoScenarios,
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The run behind the sweep could not start (a busy listen address, an unwritable output).
    #[error("{0}")]
    Run(String),
}

/// At most this many open-loop steps (the bisection converges long before).
const MAX_STEPS: usize = 24;

/// Sweep the prepared config's target, serving `/metrics` and the live page on `listen`
/// (default: `server.listen`); `progress` hears of every level and step as it ends.
pub async fn run(
    prepared: Prepared,
    listen: Option<SocketAddr>,
    on_listen: impl FnOnce(SocketAddr),
    progress: impl Fn(&str) + Send + Sync,
) -> Result<SweepReport, SweepError> {
    run_with(
        prepared,
        listen,
        on_listen,
        progress,
        HttpClients::default(),
    )
    .await
}

/// [`run`] with the requests executed by `clients`.
pub(crate) async fn run_with<C: Clients>(
    mut prepared: Prepared,
    listen: Option<SocketAddr>,
    on_listen: impl FnOnce(SocketAddr),
    progress: impl Fn(&str) + Send + Sync,
    clients: C,
) -> Result<SweepReport, SweepError> {
    if prepared.config.scenarios.is_empty() {
        return Err(SweepError::NoScenarios);
    }
    crate::runner::fill_context(&mut prepared)
        .await
        .map_err(SweepError::Run)?;
    let config = &prepared.config;
    if config.slos().iter().all(Option::is_none) {
        return Err(SweepError::NoSlo);
    }
    let cfg = config.sweep.clone().unwrap_or_default();
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let steps = Arc::new(collect::StepSink::new(
        config.scope_names(),
        config.canary_scope(),
    ));
    let mut opts = RunOptions {
        listen,
        ..RunOptions::default()
    };
    let sink = Arc::clone(&steps) as Arc<dyn crate::metrics::Sink>;
    let run = Run::start(&prepared, &mut opts, on_listen, clients, vec![sink])
        .await
        .map_err(|e| SweepError::Run(e.to_string()))?;
    run.running("sweep: running");
    let driver = Driver {
        run: &run,
        steps: &steps,
        base: &prepared,
        cfg: &cfg,
    };
    let searched = sweep(&driver, &cfg, &progress).await;
    run.stopping(None);
    let _ = run.finish(None).await;
    let (ladder, estimate, steps, result) = searched?;
    Ok(SweepReport {
        schema_version: SWEEP_SCHEMA_VERSION,
        kind: "sweep".into(),
        llm_soak_version: crate::VERSION.into(),
        started_at,
        criteria: Criteria {
            attainment: cfg.attainment,
            error_budget: cfg.error_budget,
            achieved_ratio: judge::ACHIEVED_RATIO,
            tolerance: cfg.tolerance,
        },
        ladder,
        estimate,
        steps,
        result,
        config: serde_json::to_value(config).unwrap_or_default(),
    })
}

/// What a sweep found: the ladder, its estimate, the steps, the result.
type Searched = (Vec<LadderLevel>, Option<f64>, Vec<SweepStep>, SweepResult);

/// The ladder, then the search over open-loop rates.
async fn sweep<C: Clients>(
    driver: &Driver<'_, C>,
    cfg: &SweepConfig,
    progress: &(impl Fn(&str) + Send + Sync),
) -> Result<Searched, ClientError> {
    let ladder = ladder(driver, cfg, progress).await?;
    let estimate = ladder
        .iter()
        .map(|l| l.throughput)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        .filter(|x| *x > 0.0);
    let mut notes = Vec::new();
    if ladder.iter().any(|l| l.client_limited.is_some()) {
        notes.push("a ladder level was limited by the client (see client_limited)".into());
    }
    let (steps, mut result) = match estimate {
        None => {
            notes.push("the ladder completed no request: nothing to search".into());
            (Vec::new(), SweepResult::default())
        }
        Some(est) => {
            let index = std::sync::atomic::AtomicU64::new(0);
            let failure = std::sync::Mutex::new(None);
            let step = |rate: f64| {
                let i = index.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let failure = &failure;
                async move {
                    match driver.open(rate, i).await {
                        Ok((data, stopped, series, summary)) => {
                            let mut s = judge::judge(&data, cfg, rate, stopped);
                            s.series = series;
                            s.summary = Some(summary);
                            progress(&step_line(&s));
                            s
                        }
                        Err(e) => {
                            // A client that cannot be built for a step: the search stops
                            // there (the step is undecided), and the error is returned.
                            let mut s = judge::judge(
                                &judge::StepData::default(),
                                cfg,
                                rate,
                                crate::report::sweep::StepStop::NoPrompts,
                            );
                            s.undecided = Some(format!("the step could not start: {e}"));
                            s.pass = false;
                            s.failed.clear();
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            s
                        }
                    }
                }
            };
            let found = search(est, cfg, step).await;
            if let Some(e) = failure.into_inner().ok().flatten() {
                return Err(e);
            }
            found
        }
    };
    result.notes.splice(0..0, notes);
    Ok((ladder, estimate, steps, result))
}

fn step_line(s: &SweepStep) -> String {
    format!(
        "step {:.2} req/s: achieved {:.2}, attainment {} ({}), {}",
        s.offered_rate,
        s.achieved_rate,
        s.attainment
            .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
        s.stopped.as_str(),
        s.verdict_line()
    )
}

/// 1, 2, 4, … users until the throughput stops growing by 10 % (or `ladder_max`).
async fn ladder<C: Clients>(
    driver: &Driver<'_, C>,
    cfg: &SweepConfig,
    progress: &(impl Fn(&str) + Send + Sync),
) -> Result<Vec<LadderLevel>, ClientError> {
    let mut out: Vec<LadderLevel> = Vec::new();
    let mut users = 1;
    while users <= cfg.ladder_max {
        let level = driver.closed(users).await?;
        progress(&format!(
            "ladder {users} users: {:.2} req/s, mean e2e {:.0} ms, N=X·R {:.1}",
            level.throughput,
            level.mean_e2e * 1000.0,
            level.littles_users
        ));
        let grew = out
            .last()
            .is_none_or(|prev| level.throughput >= 1.1 * prev.throughput);
        out.push(level);
        if !grew {
            break;
        }
        users *= 2;
    }
    Ok(out)
}

/// The search over open-loop rates: `step(rate)` runs and judges one step. Up from a quarter
/// of 1.1× the estimate, doubling while steps pass; down, halving, while even the first fails;
/// then bisecting the bracket (highest pass, lowest fail) to the tolerance. An undecided step
/// (too short to decide) is neither: going up, one that meets the target on its point estimate
/// lets the search go on (a higher rate gives more requests in the same time) without claiming
/// a pass; anywhere else it ends the search where it stands, and the result says so.
pub(crate) async fn search<F, Fut>(
    estimate: f64,
    cfg: &SweepConfig,
    mut step: F,
) -> (Vec<SweepStep>, SweepResult)
where
    F: FnMut(f64) -> Fut,
    Fut: std::future::Future<Output = SweepStep>,
{
    let cap = cfg.max_rate.unwrap_or(4.0 * estimate);
    let first_hi = (1.1 * estimate).min(cap);
    let floor = first_hi / 64.0;
    let mut steps: Vec<SweepStep> = Vec::new();
    let mut notes = Vec::new();
    let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
    let mut undecided: Option<f64> = None;
    // Up: doubling from a quarter of 1.1× the estimate, on past it if the ladder underestimated.
    let mut rate = first_hi / 4.0;
    loop {
        let s = step(rate).await;
        let verdict = s.verdict();
        let promising = s.attainment.is_some_and(|a| a >= cfg.attainment);
        steps.push(s);
        match verdict {
            StepVerdict::Fail => {
                hi = Some(rate);
                break;
            }
            StepVerdict::Undecided if !promising || rate >= cap => {
                undecided = Some(rate);
                break;
            }
            StepVerdict::Undecided => undecided = Some(rate),
            StepVerdict::Pass => {
                lo = Some(rate);
                undecided = None;
            }
        }
        if rate >= cap {
            notes.push(format!(
                "every step passed up to the highest rate tried ({cap:.2} req/s): set sweep.max_rate higher to look further"
            ));
            break;
        }
        if rate >= first_hi && verdict == StepVerdict::Pass {
            notes.push("a step above 1.1× the ladder's estimate passed: the ladder underestimated (too few users, or a client limit)".into());
        }
        rate = (rate * 2.0).min(if rate < first_hi { first_hi } else { cap });
    }
    // Down: halving until a step passes, when even the first failed (a lower rate is never
    // better placed to decide: an undecided step there ends the search).
    while lo.is_none() && undecided.is_none() {
        rate /= 2.0;
        if rate < floor {
            notes.push(format!("no step passed down to {:.3} req/s", rate * 2.0));
            break;
        }
        let s = step(rate).await;
        let verdict = s.verdict();
        steps.push(s);
        match verdict {
            StepVerdict::Pass => lo = Some(rate),
            StepVerdict::Fail => hi = Some(rate),
            StepVerdict::Undecided => undecided = Some(rate),
        }
    }
    // Bisect to the tolerance.
    while let (Some(l), Some(h), None) = (lo, hi, undecided) {
        if (h - l) / h <= cfg.tolerance || steps.len() >= MAX_STEPS {
            break;
        }
        let mid = (l + h) / 2.0;
        let s = step(mid).await;
        match s.verdict() {
            StepVerdict::Pass => lo = Some(mid),
            StepVerdict::Fail => hi = Some(mid),
            StepVerdict::Undecided => undecided = Some(mid),
        }
        steps.push(s);
    }
    let at = |r: Option<f64>| {
        r.and_then(|r| {
            steps
                .iter()
                .find(|s| (s.offered_rate - r).abs() <= 1e-9 * r.max(1.0))
        })
    };
    if let Some(s) = at(undecided) {
        notes.push(format!(
            "the step at {:.2} req/s was undecided: {}. Raise sweep.max_step (or lower sweep.attainment) so a step can decide",
            s.offered_rate,
            s.undecided.as_deref().unwrap_or_default()
        ));
    }
    let result = SweepResult {
        capacity: lo,
        goodput: at(lo).map(|s| s.goodput),
        failed_at: hi,
        first_failure: at(hi).map(|s| s.failed.join("; ")),
        client_limited: steps
            .iter()
            .filter(|s| hi.is_none_or(|h| s.offered_rate <= h))
            .any(|s| s.client_limited.is_some()),
        undecided_at: undecided,
        notes,
    };
    (steps, result)
}

#[cfg(test)]
mod tests;
