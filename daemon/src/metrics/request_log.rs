//! The optional per-request JSONL log (`[output] requests_jsonl`): one line per finished request,
//! handed over a bounded channel to a writer thread, so the request path never touches the disk.
//! The file rotates by size and keeps `keep` old files (`path.1` newest). When the channel is full
//! or the disk fails, lines are dropped and counted — the run goes on.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Sink;
pub use crate::config::LogSpec;
use crate::record::{ErrorType, Outcome, RequestRecord, TokenSource};

/// Lines waiting for the writer at most (a channel whose memory follows what is queued, in
/// blocks of 32 lines: the bound costs nothing until a stalled disk fills it).
const QUEUE: usize = 65_536;

/// The sending side, shared by every request task.
#[derive(Debug)]
pub struct RequestLog {
    tx: Mutex<Option<tokio::sync::mpsc::Sender<String>>>,
    pub dropped: Arc<AtomicU64>,
    pub written: Arc<AtomicU64>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Scope names by index (the canary's last), for the `scenario` field.
    names: Vec<String>,
}

/// One line of the log (one finished request), as scripts read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    /// Unix time the line was written (seconds).
    pub ts: f64,
    pub seq: u64,
    pub scenario: String,
    pub outcome: Outcome,
    pub error_type: Option<ErrorType>,
    pub status: Option<u16>,
    pub ttft: Option<f64>,
    pub ttfc: Option<f64>,
    pub tpot: Option<f64>,
    pub e2e: f64,
    pub schedule_lag: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub token_source: TokenSource,
    /// Content-bearing events.
    pub chunks: usize,
    pub stalls: u32,
    /// The server's ids for the request: the first chunk's `id` and the `x-request-id` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The W3C trace id the request carried (hex), when request spans are on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// One record as a JSON line.
pub fn line(rec: &RequestRecord, scenario: &str) -> String {
    let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
    let l = Line {
        ts: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        seq: rec.seq,
        scenario: scenario.to_string(),
        outcome: rec.outcome,
        error_type: rec.error_type,
        status: rec.status,
        ttft: secs(rec.ttft()),
        ttfc: secs(rec.time_to_first_chunk()),
        tpot: secs(rec.tpot()),
        e2e: rec.e2e().as_secs_f64(),
        schedule_lag: rec.schedule_lag().as_secs_f64(),
        input_tokens: rec.input_tokens,
        output_tokens: rec.output_tokens,
        token_source: rec.token_source,
        chunks: rec.token_events.len(),
        stalls: rec.stalls,
        response_id: rec.identity.response_id.clone(),
        request_id: rec.identity.request_id.clone(),
        trace_id: rec.identity.trace.map(|t| format!("{:032x}", t.trace_id)),
    };
    serde_json::to_string(&l).unwrap_or_default()
}

struct Writer {
    spec: LogSpec,
    out: BufWriter<File>,
    size: u64,
}

impl Writer {
    fn open(spec: LogSpec) -> std::io::Result<Writer> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.path)?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(Writer {
            out: BufWriter::new(file),
            size,
            spec,
        })
    }

    fn rotated(path: &Path, i: u32) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let path = self.spec.path.clone();
        if self.spec.keep == 0 {
            std::fs::remove_file(&path)?;
        } else {
            let _ = std::fs::remove_file(Self::rotated(&path, self.spec.keep));
            for i in (1..self.spec.keep).rev() {
                let _ = std::fs::rename(Self::rotated(&path, i), Self::rotated(&path, i + 1));
            }
            std::fs::rename(&path, Self::rotated(&path, 1))?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        self.out = BufWriter::new(file);
        self.size = 0;
        Ok(())
    }

    /// Forget what is buffered (it could not be written; the caller counts it as dropped) and
    /// start over on a freshly opened file.
    fn discard(&mut self) {
        if let Ok(file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.path)
        {
            let old = std::mem::replace(&mut self.out, BufWriter::new(file));
            let _ = old.into_parts();
        }
    }

    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let n = line.len() as u64 + 1;
        if self.size > 0 && self.size + n > self.spec.max_bytes {
            self.rotate()?;
        }
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.size += n;
        Ok(())
    }
}

impl RequestLog {
    /// Open (or append to) the log and start its writer thread; `names` are the scope names.
    pub fn start(spec: LogSpec, names: Vec<String>) -> std::io::Result<RequestLog> {
        let mut writer = Writer::open(spec)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let (d, wr) = (Arc::clone(&dropped), Arc::clone(&written));
        let handle = std::thread::Builder::new().name("llmsoak-jsonl".into()).spawn(move || {
            // Lines count as written only once they reached the file: `pending` are buffered.
            let mut pending = 0u64;
            let mut last_error = None::<std::time::Instant>;
            let mut failed = |writer: &mut Writer, lost: u64, e: &std::io::Error| {
                d.fetch_add(lost, Ordering::Relaxed);
                writer.discard();
                if last_error.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                    tracing::error!(path = %writer.spec.path.display(), error = %e, "cannot write the request log; lines are dropped and counted");
                    last_error = Some(std::time::Instant::now());
                }
            };
            while let Some(first) = rx.blocking_recv() {
                let mut next = Some(first);
                while let Some(line) = next {
                    match writer.write(&line) {
                        Ok(()) => pending += 1,
                        Err(e) => {
                            failed(&mut writer, pending + 1, &e);
                            pending = 0;
                        }
                    }
                    next = rx.try_recv().ok();
                }
                // The queue is empty: put the batch on disk.
                match writer.out.flush() {
                    Ok(()) => {
                        wr.fetch_add(pending, Ordering::Relaxed);
                    }
                    Err(e) => failed(&mut writer, pending, &e),
                }
                pending = 0;
            }
        })?;
        Ok(RequestLog {
            tx: Mutex::new(Some(tx)),
            dropped,
            written,
            writer: Mutex::new(Some(handle)),
            names,
        })
    }

    /// Queue one line; never blocks (a full queue drops and counts it).
    pub fn push(&self, line: String) {
        let Ok(guard) = self.tx.lock() else { return };
        match guard.as_ref().map(|tx| tx.try_send(line)) {
            Some(Ok(())) => {}
            Some(Err(_)) | None => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Write what is queued and close the file (blocking: call from a blocking worker).
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

impl Sink for RequestLog {
    fn finished(&self, rec: &RequestRecord, _slo: Option<crate::config::slo::Judgement>) {
        let name = self.names.get(rec.scenario).map_or("", String::as_str);
        self.push(line(rec, name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let log = RequestLog::start(
            LogSpec {
                path: path.clone(),
                max_bytes: 1000,
                keep: 2,
            },
            Vec::new(),
        )
        .unwrap();
        let l = format!("{{\"pad\":\"{}\"}}", "x".repeat(89)); // 100 bytes with the newline
        for _ in 0..35 {
            log.push(l.clone());
        }
        log.close();
        assert_eq!(log.written.load(Ordering::Relaxed), 35);
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert_eq!(size(&path), 500, "5 lines in the current file");
        assert_eq!(size(&Writer::rotated(&path, 1)), 1000);
        assert_eq!(size(&Writer::rotated(&path, 2)), 1000);
        assert!(!Writer::rotated(&path, 3).exists(), "only `keep` old files");
    }
}
