//! `[output]`: the optional per-request JSONL log (`requests_jsonl = { path, max_bytes, keep }`),
//! as data (the writer that rotates it lives with the metrics sinks), and how often a running
//! report is checkpointed (`checkpoint_interval`: the `--report` file, and the state directory's
//! resume checkpoint — at most this much of a run is lost when its daemon is killed).

use std::path::PathBuf;
use std::time::Duration;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_jsonl: Option<LogSpec>,
    /// How often a running report is written (`--report`, and the state directory's resume
    /// checkpoint).
    #[serde(default = "forms::secs::<60>", with = "forms::dur")]
    pub checkpoint_interval: Duration,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            requests_jsonl: None,
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self == &Output::default()
    }

    pub(super) fn check(&self, c: &mut Check<'_>) {
        if self.checkpoint_interval < Duration::from_secs(1) {
            c.bad("output.checkpoint_interval", "must be at least 1s");
        }
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
