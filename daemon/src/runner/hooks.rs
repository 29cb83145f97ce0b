//! The phases' hooks, sent: a side task of each generation that sleeps until every phase
//! boundary with a hook (`on_start`, `on_end`) on the schedule's absolute clock and sends its
//! HTTP request, marking the outcome — status and time, or the failure — as an event of the run.
//! Only shard 0 sends them (N replicas would reset a cache N times). A hook due when the schedule
//! ends (the last phase's `on_end`) still goes out; later ones do not, once the load stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::hooks::Hook;
use crate::config::{Config, Repeat};
use crate::metrics::series::SeriesSink;
use crate::metrics::summary::SummarySink;
use crate::report::series::EventKind;

/// How late a hook may still go out once the load has stopped: the boundary that ended it.
const AT_THE_END: Duration = Duration::from_secs(1);

/// One hook on the schedule: its offset within a pass of the phases.
#[derive(Debug, Clone)]
struct Due {
    offset: Duration,
    phase: usize,
    edge: &'static str,
    hook: Hook,
}

/// The hooks of `config`'s phases in schedule order, the length of one pass of the phases and
/// how many passes (`None`: forever); `None` without hooks.
fn plan(config: &Config) -> Option<(Vec<Due>, Duration, Option<u32>)> {
    let load = &config.load;
    if load.phase_hooks.iter().all(|h| h.is_empty()) {
        return None;
    }
    let mut due = Vec::new();
    let mut at = Duration::ZERO;
    let mut finite = true;
    for (i, (p, h)) in load.phases.iter().zip(&load.phase_hooks).enumerate() {
        if let Some(hook) = &h.on_start {
            due.push(Due {
                offset: at,
                phase: i,
                edge: "start",
                hook: hook.clone(),
            });
        }
        let Some(d) = p.duration else {
            finite = false;
            break;
        };
        at += d;
        if let Some(hook) = &h.on_end {
            due.push(Due {
                offset: at,
                phase: i,
                edge: "end",
                hook: hook.clone(),
            });
        }
    }
    let passes = match (finite, load.repeat) {
        (false, _) => Some(1),
        (true, Repeat::Times(n)) => Some(n.max(1)),
        (true, Repeat::Forever) => None,
    };
    Some((due, at, passes))
}

/// Start sending `config`'s hooks on the schedule that starts at `epoch`, skipping those due in
/// its first `missed` (a replica that joined late); they stop with `stop`.
pub(super) fn spawn(
    config: &Config,
    epoch: Instant,
    missed: Duration,
    series: Arc<SeriesSink>,
    summary: Arc<SummarySink>,
    stop: CancellationToken,
) {
    let Some((due, pass, passes)) = plan(config) else {
        return;
    };
    crate::client::init_crypto();
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("llm-soak/", env!("CARGO_PKG_VERSION"), " (hook)"))
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the hooks' HTTP client; no hook is sent");
            return;
        }
    };
    tokio::spawn(async move {
        for k in 0.. {
            if passes.is_some_and(|n| k >= n) {
                return;
            }
            for d in &due {
                let at = pass * k + d.offset;
                if at < missed {
                    continue;
                }
                let when = epoch + at;
                let stopped = tokio::select! {
                    () = stop.cancelled() => true,
                    () = tokio::time::sleep_until(when) => false,
                };
                if stopped && when > Instant::now() + AT_THE_END {
                    return;
                }
                let detail = send(&http, d).await;
                // From when the server has answered it (what it does takes effect then).
                summary.disrupted(
                    Instant::now(),
                    &format!("hook (phase {} {})", d.phase, d.edge),
                );
                tracing::info!(phase = d.phase, edge = d.edge, outcome = %detail, "phase hook");
                series.event(Instant::now(), EventKind::Hook, detail);
            }
            if pass.is_zero() {
                return;
            }
        }
    });
}

/// Send one hook; its outcome in a line: `phase 4 start: POST http://h/reset_prefix_cache → 200
/// in 12 ms`, or what failed.
async fn send(http: &reqwest::Client, d: &Due) -> String {
    let h = &d.hook;
    let url = h.url.split('?').next().unwrap_or_default();
    let head = format!("phase {} {}: {} {url}", d.phase, d.edge, h.method);
    let method = match reqwest::Method::from_bytes(h.method.as_bytes()) {
        Ok(m) => m,
        Err(_) => return format!("{head} → not sent: invalid method"),
    };
    let mut req = http.request(method, &h.url).timeout(h.timeout);
    for (name, value) in &h.headers {
        req = req.header(name, value);
    }
    if let Some(body) = &h.body {
        req = req.body(body.clone());
    }
    let sent = Instant::now();
    match req.send().await {
        Ok(resp) => format!(
            "{head} → {} in {} ms",
            resp.status().as_u16(),
            sent.elapsed().as_millis()
        ),
        // Without its URL: the query may hold a key (the head names the URL without it).
        Err(e) => format!(
            "{head} → failed: {}",
            crate::record::causes(&e.without_url())
        ),
    }
}
