//! The `[simulator]` section: the built-in target's engine model, faults and degradations,
//! walked like the rest of the config (every problem reported with its path). It may stand
//! alone in a file for `llm-soak simulate -c FILE`, or sit beside a daemon config.

use std::time::Duration;

use super::walk::{Tbl, Val, Walk};
use crate::simulator::SimConfig;
use crate::simulator::degrade::LeakParams;
use crate::simulator::faults::{FaultKind, FaultRule};

const KEYS: &[&str] = &[
    "model",
    "seed",
    "batch_capacity",
    "prefill_base",
    "prefill_per_token",
    "itl_base",
    "itl_per_seq",
    "jitter",
    "kv_cache_tokens",
    "prefix_block_tokens",
    "prefix_cache_blocks",
    "default_max_tokens",
    "early_stop",
    "stall_for",
    "slow_headers_delay",
    "oversized_bytes",
    "time_scale",
    "metrics_listen",
    "leak",
    "drift",
    "faults",
];

fn dur(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    slot: &mut Duration,
    zero_ok: bool,
) -> bool {
    match t.get(key) {
        None => true,
        Some(v) => match if zero_ok {
            v.duration_or_zero(w)
        } else {
            v.duration(w)
        } {
            Some(d) => {
                *slot = d;
                true
            }
            None => false,
        },
    }
}

fn int<T: TryFrom<i64>>(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    min: i64,
    max: i64,
    slot: &mut T,
) -> bool {
    match t.get(key).map(|v| v.int_in(w, min, max)) {
        None => true,
        Some(Some(n)) => match T::try_from(n) {
            Ok(n) => {
                *slot = n;
                true
            }
            Err(_) => false,
        },
        Some(None) => false,
    }
}

fn float(
    w: &mut Walk<'_>,
    t: &mut Tbl<'_, '_>,
    key: &'static str,
    lo: f64,
    hi: f64,
    slot: &mut f64,
) -> bool {
    match t.get(key).map(|v| v.float_in(w, lo, true, hi)) {
        None => true,
        Some(Some(x)) => {
            *slot = x;
            true
        }
        Some(None) => false,
    }
}

/// Walk a `[simulator]` table over the defaults.
pub fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<SimConfig> {
    let mut t = v.table(w)?;
    let mut c = SimConfig::default();
    let mut ok = true;
    if let Some(m) = t.get("model") {
        match m.str(w) {
            Some(s) if !s.is_empty() => c.model = s.to_string(),
            Some(_) => {
                m.bad(w, "must not be empty");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok &= int(w, &mut t, "seed", 0, i64::MAX, &mut c.seed);
    ok &= int(
        w,
        &mut t,
        "batch_capacity",
        1,
        100_000,
        &mut c.engine.batch_capacity,
    );
    ok &= dur(w, &mut t, "prefill_base", &mut c.engine.prefill_base, true);
    ok &= dur(
        w,
        &mut t,
        "prefill_per_token",
        &mut c.engine.prefill_per_token,
        true,
    );
    ok &= dur(w, &mut t, "itl_base", &mut c.engine.itl_base, false);
    ok &= dur(w, &mut t, "itl_per_seq", &mut c.engine.itl_per_seq, true);
    ok &= float(w, &mut t, "jitter", 0.0, 1.0, &mut c.engine.jitter);
    ok &= int(
        w,
        &mut t,
        "kv_cache_tokens",
        1,
        i64::MAX,
        &mut c.engine.kv_cache_tokens,
    );
    ok &= int(
        w,
        &mut t,
        "prefix_block_tokens",
        1,
        4096,
        &mut c.engine.prefix_block_tokens,
    );
    ok &= int(
        w,
        &mut t,
        "prefix_cache_blocks",
        0,
        100_000_000,
        &mut c.engine.prefix_cache_blocks,
    );
    ok &= int(
        w,
        &mut t,
        "default_max_tokens",
        1,
        1 << 20,
        &mut c.default_max_tokens,
    );
    ok &= float(w, &mut t, "early_stop", 0.0, 1.0, &mut c.early_stop);
    ok &= dur(w, &mut t, "stall_for", &mut c.stall_for, false);
    ok &= dur(
        w,
        &mut t,
        "slow_headers_delay",
        &mut c.slow_headers_delay,
        false,
    );
    ok &= int(
        w,
        &mut t,
        "oversized_bytes",
        1,
        1 << 30,
        &mut c.oversized_bytes,
    );
    ok &= float(w, &mut t, "time_scale", 1e-3, 1e9, &mut c.engine.time_scale);
    if let Some(m) = t.get("metrics_listen") {
        match m.str(w).map(|s| (s, s.parse())) {
            Some((_, Ok(a))) => c.metrics_listen = Some(a),
            Some((s, Err(_))) => {
                m.bad(
                    w,
                    format!("must be an IP:port address such as \"127.0.0.1:8001\" (got {s:?})"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(l) = t.get("leak") {
        match l.table(w) {
            Some(mut lt) => {
                let mut p = LeakParams {
                    max_bytes: 1 << 30,
                    ..LeakParams::default()
                };
                ok &= int(
                    w,
                    &mut lt,
                    "bytes_per_request",
                    0,
                    1 << 30,
                    &mut p.bytes_per_request,
                );
                ok &= int(
                    w,
                    &mut lt,
                    "bytes_per_minute",
                    0,
                    1 << 34,
                    &mut p.bytes_per_minute,
                );
                ok &= int(w, &mut lt, "max_bytes", 0, 1 << 36, &mut p.max_bytes);
                lt.finish(
                    w,
                    &["bytes_per_request", "bytes_per_minute", "max_bytes"],
                    |_| None,
                );
                c.leak = p;
            }
            None => ok = false,
        }
    }
    if let Some(d) = t.get("drift") {
        match d.table(w) {
            Some(mut dt) => {
                ok &= float(
                    w,
                    &mut dt,
                    "itl_per_hour",
                    0.0,
                    1e6,
                    &mut c.engine.drift_per_hour,
                );
                dt.finish(w, &["itl_per_hour"], |_| None);
            }
            None => ok = false,
        }
    }
    if let Some(f) = t.get("faults") {
        match f.array(w) {
            Some(items) => {
                for item in &items {
                    match fault(w, item) {
                        Some(rule) => c.faults.push(rule),
                        None => ok = false,
                    }
                }
                let total: f64 = c.faults.iter().map(|r| r.rate).sum();
                if total > 1.0 + 1e-9 {
                    f.bad(
                        w,
                        format!("fault rates add up to {total} (> 1) while all are active"),
                    );
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    t.finish(w, KEYS, |_| None);
    ok.then_some(c)
}

fn fault(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<FaultRule> {
    let mut t = v.table(w)?;
    let kind = t.require(w, "kind").and_then(|k| {
        let s = k.str(w)?;
        let found = FaultKind::parse(s);
        if found.is_none() {
            let all: Vec<String> = FaultKind::ALL
                .iter()
                .map(|k| format!("{:?}", k.as_str()))
                .collect();
            k.bad(w, format!("must be one of {} (got {s:?})", all.join(", ")));
        }
        found
    });
    let rate = t
        .require(w, "rate")
        .and_then(|r| r.float_in(w, 0.0, true, 1.0));
    let status = match t.get("status") {
        None => Some(None),
        Some(s) => match (kind, s.int(w)) {
            (Some(FaultKind::Http5xx), Some(n @ 500..=599))
            | (Some(FaultKind::Http4xx), Some(n @ 400..=499)) => Some(Some(n as u16)),
            (Some(k @ (FaultKind::Http5xx | FaultKind::Http4xx)), Some(n)) => {
                s.bad(w, format!("{n} is not a valid status for {}", k.as_str()));
                None
            }
            (Some(_), Some(_)) => {
                s.bad(w, "only http_5xx and http_4xx take a status");
                None
            }
            _ => None,
        },
    };
    let from = match t.get("from") {
        None => Some(Duration::ZERO),
        Some(f) => f.duration_or_zero(w),
    };
    let until = match t.get("until") {
        None => Some(None),
        Some(u) => u.duration(w).map(Some),
    };
    t.finish(w, &["kind", "rate", "status", "from", "until"], |_| None);
    let (from, until) = (from?, until?);
    if until.is_some_and(|u| u <= from) {
        v.bad(w, "until must be later than from");
        return None;
    }
    Some(FaultRule {
        kind: kind?,
        rate: rate?,
        status: status?,
        from,
        until,
    })
}
