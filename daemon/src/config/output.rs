//! `[output]`: the optional per-request JSONL log (`requests_jsonl = { path, max_bytes, keep }`),
//! as data; the writer that rotates it lives with the metrics sinks.

use std::path::PathBuf;

use serde::Serialize;

use super::walk::{Val, Walk};

/// `[output] requests_jsonl = { path, max_bytes, keep }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSpec {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub keep: u32,
}

/// `[output]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_jsonl: Option<LogSpec>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.requests_jsonl.is_none()
    }
}

pub(super) fn walk(w: &mut Walk<'_>, v: &Val<'_, '_>) -> Option<Output> {
    let mut t = v.table(w)?;
    let spec = match t.get("requests_jsonl") {
        None => Some(None),
        Some(r) => r.table(w).and_then(|mut rt| {
            let path = rt
                .require(w, "path")
                .and_then(|p| p.str(w).map(PathBuf::from));
            let max_bytes = match rt.get("max_bytes") {
                None => Some(100 << 20),
                Some(m) => m.int_in(w, 4096, i64::MAX).map(|n| n as u64),
            };
            let keep = match rt.get("keep") {
                None => Some(5),
                Some(k) => k.int_in(w, 0, 1000).map(|n| n as u32),
            };
            rt.finish(w, &["path", "max_bytes", "keep"], |_| None);
            Some(Some(LogSpec {
                path: path?,
                max_bytes: max_bytes?,
                keep: keep?,
            }))
        }),
    };
    t.finish(w, &["requests_jsonl"], |_| None);
    Some(Output {
        requests_jsonl: spec?,
    })
}
