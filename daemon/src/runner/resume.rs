//! A run that survives its own restart. With a state directory (`baseline.state_dir`, by default
//! systemd's `$STATE_DIRECTORY`), the run writes a [`Checkpoint`] there every
//! `output.checkpoint_interval` — its report so far (exact histograms, windows, events), its
//! schedule's epoch, the next sequence number and the budget spent — atomically and durably, the
//! one before kept beside it. A daemon that starts while the checkpoint of an unfinished run of
//! the same config is there goes on with that run ([`decide`]): the same run id, the schedule
//! where it stands now (arrivals due while it was down are not sent), sequence numbers and budget
//! on from the checkpoint, and a report that is the checkpoint's followed by what it measures
//! (`report::resume`). A different config refuses with the reason; `--fresh` starts over; a torn
//! checkpoint is named and not used (the one before it is, when whole).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::RunReport;

/// The checkpoint's file in the state directory, and the one written before it.
pub(crate) const FILE: &str = "run-checkpoint.json";
const PREVIOUS: &str = "run-checkpoint.prev.json";
/// Held (an advisory lock) by the daemon that uses the state directory.
const LOCK: &str = "llm-soak.lock";

/// The layout of [`Checkpoint`] this build writes and reads.
const FORMAT: u32 = 1;

/// What a restarted daemon needs to go on with a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub format: u32,
    pub run_id: String,
    /// When the run started, and its schedule's epoch (Unix seconds).
    pub started_unix: f64,
    pub epoch_unix: f64,
    /// When this checkpoint was written.
    pub written_unix: f64,
    /// The first sequence number no request of the run has used.
    pub next_seq: u64,
    /// The budget spent so far: requests started, output tokens.
    pub spent_requests: u64,
    pub spent_output_tokens: u64,
    /// The run reached its end (its schedule, `--duration` or budget): nothing to go on with.
    pub finished: bool,
    /// The config as given (before anything read from the server): a restart with another
    /// one does not go on with this run.
    pub config: serde_json::Value,
    /// The run so far, every segment (its `config` is what a restart is compared with).
    pub report: RunReport,
}

/// Why a run cannot go on from the state directory.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResumeError {
    #[error(
        "{} holds unfinished run {run_id} of a different config: it is not continued with this one. \
         Start over with --fresh (LLMSOAK_FRESH=1; the checkpoint is kept aside), or give this config its own state_dir",
        .path.display()
    )]
    OtherConfig { path: PathBuf, run_id: String },
    #[error("cannot move the checkpoint {} aside: {source}", .path.display())]
    Aside {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another llm-soak is using the state directory {} (it holds {}): two daemons would write over each other's checkpoints; give this one its own state_dir",
        .dir.display(), LOCK
    )]
    Busy { dir: PathBuf },
    #[error("cannot lock the state directory ({}): {source}", .path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Hold the state directory for this daemon until the file returned is dropped (or the process
/// ends, however it ends: the lock goes with it). `Busy` when another daemon holds it.
pub(crate) fn lock(dir: &Path) -> Result<std::fs::File, ResumeError> {
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ResumeError::Lock {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ResumeError::Busy {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ResumeError::Lock { path, source }),
    }
}

/// What [`decide`] found.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    /// The run to go on with.
    pub resume: Option<Checkpoint>,
    /// What the operator should know (a torn checkpoint, one set aside), one line each.
    pub notes: Vec<String>,
}

/// Read a checkpoint file: `Ok(None)` when there is none, `Err(why)` when it is torn or not one.
/// The file is parsed as it is read, never held whole: a long run's checkpoint is megabytes, and
/// a buffer that size, freed, is memory glibc keeps (it raises its mmap threshold to it).
fn read(path: &Path) -> Result<Option<Checkpoint>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let reader = std::io::BufReader::with_capacity(64 << 10, file);
    let cp: Checkpoint = serde_json::from_reader(reader).map_err(|e| e.to_string())?;
    if cp.format != FORMAT {
        return Err(format!(
            "checkpoint format {} (this build reads {FORMAT})",
            cp.format
        ));
    }
    Ok(Some(cp))
}

/// Move `path` aside to `path.<tag>` (the next free name); the new name.
fn aside(path: &Path, tag: &str) -> Result<PathBuf, ResumeError> {
    let name = path
        .file_name()
        .map_or_else(|| FILE.into(), |n| n.to_string_lossy().into_owned());
    let to = (1..1000)
        .map(|k| {
            path.with_file_name(format!(
                "{name}.{tag}{}",
                if k == 1 {
                    String::new()
                } else {
                    format!(".{k}")
                }
            ))
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_file_name(format!("{name}.{tag}.last")));
    std::fs::rename(path, &to).map_err(|source| ResumeError::Aside {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(to)
}

/// Whether a run started with `config` (its effective config, as given) goes on
/// with the checkpoint in `dir`: the newest whole checkpoint of an unfinished run of the same
/// config. `fresh` sets an unfinished one aside instead.
pub(crate) fn decide(
    dir: &Path,
    config: &serde_json::Value,
    fresh: bool,
) -> Result<Decision, ResumeError> {
    let mut d = Decision::default();
    let (current, previous) = (dir.join(FILE), dir.join(PREVIOUS));
    let found = match read(&current) {
        Ok(Some(cp)) => Some(cp),
        // Killed between setting the last one aside and writing the next: the one before.
        Ok(None) => read(&previous).ok().flatten(),
        Err(why) => {
            let kept = aside(&current, "torn")?;
            d.notes.push(format!(
                "the checkpoint {} is torn or unreadable ({why}): not used, kept as {}",
                current.display(),
                kept.display()
            ));
            match read(&previous) {
                Ok(Some(cp)) => {
                    d.notes.push(format!(
                        "going on from the checkpoint before it, {}",
                        previous.display()
                    ));
                    Some(cp)
                }
                _ => None,
            }
        }
    };
    let Some(cp) = found.filter(|cp| !cp.finished) else {
        return Ok(d);
    };
    if fresh {
        let kept = aside(&current, &format!("{}.unfinished", cp.run_id))
            .or_else(|_| aside(&previous, &format!("{}.unfinished", cp.run_id)))?;
        d.notes.push(format!(
            "--fresh: unfinished run {} is not continued (its checkpoint is kept as {})",
            cp.run_id,
            kept.display()
        ));
        return Ok(d);
    }
    if &cp.config != config {
        return Err(ResumeError::OtherConfig {
            path: current,
            run_id: cp.run_id,
        });
    }
    d.resume = Some(cp);
    Ok(d)
}

/// Write `cp` as the newest checkpoint in `dir` (the one it replaces kept as the previous).
pub(crate) fn save(dir: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    let (current, previous) = (dir.join(FILE), dir.join(PREVIOUS));
    if current.exists() {
        std::fs::rename(&current, &previous)?;
    }
    crate::files::write_json_atomic(&current, cp, false)
}

/// A checkpoint of the run as `report` has it.
pub(crate) fn checkpoint(
    report: RunReport,
    config: serde_json::Value,
    (epoch_unix, started_unix): (f64, f64),
    ledger: &crate::schedule::Ledger,
    finished: bool,
) -> Checkpoint {
    let (spent_requests, spent_output_tokens) = ledger.spent_so_far();
    Checkpoint {
        format: FORMAT,
        run_id: report.run_id.clone(),
        started_unix,
        epoch_unix,
        written_unix: super::unix_now(),
        next_seq: ledger.next_seq(),
        spent_requests,
        spent_output_tokens,
        finished,
        config,
        report,
    }
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
