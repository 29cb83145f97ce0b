//! `[output]`: the optional per-request JSONL log (`requests_jsonl = { path, max_bytes, keep }`),
//! as data; the writer that rotates it lives with the metrics sinks.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::check::Check;
use super::forms;

/// `[output] requests_jsonl = { path, max_bytes, keep }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    pub path: PathBuf,
    #[serde(default = "forms::int::<{ 100 << 20 }, _>")]
    pub max_bytes: u64,
    #[serde(default = "forms::int::<5, _>")]
    pub keep: u32,
}

/// `[output]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_jsonl: Option<LogSpec>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.requests_jsonl.is_none()
    }

    pub(super) fn check(&self, c: &mut Check<'_>) {
        if let Some(r) = &self.requests_jsonl {
            let at = "output.requests_jsonl";
            c.filled(&format!("{at}.path"), &r.path.to_string_lossy());
            c.int_in(
                &format!("{at}.max_bytes"),
                r.max_bytes,
                4096,
                i128::from(i64::MAX),
            );
            c.int_in(&format!("{at}.keep"), r.keep, 0, 1000);
        }
    }
}
