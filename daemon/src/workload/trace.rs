//! Production traces as the arrival schedule: Mooncake (JSON lines: `timestamp` in ms,
//! `input_length`, `output_length`, `hash_ids` — the prompt's blocks, identical ids identical
//! text), BurstGPT (CSV: `Timestamp` in s, `Request tokens`, `Response tokens`) and Azure's LLM
//! inference traces (CSV: `TIMESTAMP` as a UTC date-time, `ContextTokens`, `GeneratedTokens`).
//!
//! A trace is read lazily, one row at a time from a buffered file, so a multi-GB trace costs a
//! line buffer, never its size: [`scan`] reads it once before the run (the summary `plan` and
//! `run` print, and every bad row with its line — a trace with one is refused), and [`Replay`]
//! reads it again as the run goes, on the prompt worker thread, turning rows into arrival times
//! (`speedup`, `loop`, the replica's shard).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;

use crate::config::trace::{TraceFormat, TraceSpec};

/// Bad rows named one by one; beyond, only counted.
pub const BAD_ROWS_SHOWN: usize = 10;

/// Distinct block ids remembered by [`scan`] for the reuse figure (8 MB at most).
const DISTINCT_BLOCKS_CAP: usize = 1 << 20;

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// Since the trace's first row.
    pub at: Duration,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Mooncake's prompt blocks (empty in the CSV formats).
    pub hash_ids: Vec<u64>,
}

/// Why a trace cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: {reason}")]
    Row { line: u64, reason: String },
}

/// A Mooncake line (other keys are ignored: traces carry extras).
#[derive(Debug, Deserialize)]
struct MooncakeLine {
    timestamp: f64,
    input_length: u32,
    output_length: u32,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

/// The rows of a trace file, in order, one at a time.
pub struct Rows {
    path: PathBuf,
    format: TraceFormat,
    inner: Inner,
    /// The first row's timestamp, on the trace's own clock.
    first: Option<Duration>,
    /// The previous row's, to refuse time going backwards.
    last: Duration,
}

enum Inner {
    Lines {
        reader: BufReader<File>,
        line: u64,
        buf: String,
    },
    Csv {
        reader: csv::Reader<File>,
        record: csv::StringRecord,
        /// Columns of time, input and output tokens.
        columns: [usize; 3],
    },
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The CSV columns of a format: time, input tokens, output tokens.
fn csv_columns(format: TraceFormat) -> [&'static str; 3] {
    match format {
        TraceFormat::Azure => ["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
        _ => ["Timestamp", "Request tokens", "Response tokens"],
    }
}

impl Rows {
    /// Open `path` as a trace of `format` (a CSV's header is read and checked here).
    pub fn open(path: &Path, format: TraceFormat) -> Result<Rows, TraceError> {
        let io = |source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let inner = match format {
            TraceFormat::Mooncake => Inner::Lines {
                reader: BufReader::with_capacity(64 * 1024, file),
                line: 0,
                buf: String::new(),
            },
            TraceFormat::Burstgpt | TraceFormat::Azure => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .trim(csv::Trim::All)
                    .from_reader(file);
                let header = reader.headers().map_err(|e| TraceError::Row {
                    line: 1,
                    reason: format!("cannot read the CSV header: {e}"),
                })?;
                let wanted = csv_columns(format);
                let mut columns = [0; 3];
                for (slot, name) in columns.iter_mut().zip(wanted) {
                    *slot = header
                        .iter()
                        .position(|h| h.eq_ignore_ascii_case(name))
                        .ok_or_else(|| TraceError::Row {
                            line: 1,
                            reason: format!(
                                "a {} trace has the columns {} (the header has {})",
                                format.name(),
                                wanted.join(", "),
                                header.iter().collect::<Vec<_>>().join(", ")
                            ),
                        })?;
                }
                Inner::Csv {
                    reader,
                    record: csv::StringRecord::new(),
                    columns,
                }
            }
        };
        Ok(Rows {
            path: path.to_path_buf(),
            format,
            inner,
            first: None,
            last: Duration::ZERO,
        })
    }

    /// The next row, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Option<Result<(u64, TraceRow), TraceError>> {
        let (line, parsed) = match &mut self.inner {
            Inner::Lines { reader, line, buf } => loop {
                buf.clear();
                *line += 1;
                match reader.read_line(buf) {
                    Ok(0) => return None,
                    Ok(_) if buf.trim().is_empty() => continue,
                    Ok(_) => break (*line, mooncake(buf)),
                    Err(e) => {
                        return Some(Err(TraceError::Io {
                            path: self.path.clone(),
                            source: e,
                        }));
                    }
                }
            },
            Inner::Csv {
                reader,
                record,
                columns,
            } => match reader.read_record(record) {
                Ok(false) => return None,
                Ok(true) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    (line, csv_row(self.format, record, *columns))
                }
                Err(e) => {
                    let line = e.position().map_or(0, csv::Position::line);
                    return Some(Err(TraceError::Row {
                        line,
                        reason: e.to_string(),
                    }));
                }
            },
        };
        Some(self.place(line, parsed))
    }

    /// A parsed row's time made relative to the first row, in order.
    fn place(
        &mut self,
        line: u64,
        parsed: Result<(Duration, u32, u32, Vec<u64>), String>,
    ) -> Result<(u64, TraceRow), TraceError> {
        let bad = |reason: String| TraceError::Row { line, reason };
        let (at, input_tokens, output_tokens, hash_ids) = parsed.map_err(bad)?;
        if at < self.last {
            return Err(bad(format!(
                "the time goes back ({:?} after {:?}): a trace must be in time order",
                at, self.last
            )));
        }
        self.last = at;
        let first = *self.first.get_or_insert(at);
        Ok((
            line,
            TraceRow {
                at: at - first,
                input_tokens,
                output_tokens,
                hash_ids,
            },
        ))
    }
}

/// A time in seconds as a duration: finite and not negative.
fn seconds(secs: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{what}: the time must be a non-negative number (got {secs})"))
}

/// A Mooncake line: (time, input, output, blocks).
fn mooncake(line: &str) -> Result<(Duration, u32, u32, Vec<u64>), String> {
    let mut de = serde_json::Deserializer::from_str(line.trim());
    let row: MooncakeLine = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // serde_json's own "at line 1 column N" is of the line; the file's line is ours.
        let text = e.inner().to_string();
        let text = text.split(" at line ").next().unwrap_or(&text);
        match e.path().to_string().as_str() {
            "." => text.to_string(),
            path => format!("{path}: {text}"),
        }
    })?;
    Ok((
        seconds(row.timestamp / 1000.0, "timestamp")?,
        row.input_length,
        row.output_length,
        row.hash_ids,
    ))
}

/// A BurstGPT or Azure record: (time, input, output, no blocks).
fn csv_row(
    format: TraceFormat,
    record: &csv::StringRecord,
    [time, input, output]: [usize; 3],
) -> Result<(Duration, u32, u32, Vec<u64>), String> {
    let names = csv_columns(format);
    let field = |i: usize, name: &str| {
        record
            .get(i)
            .ok_or_else(|| format!("{name}: missing (the row has {} fields)", record.len()))
    };
    let tokens = |i: usize, name: &str| {
        let v = field(i, name)?;
        // BurstGPT writes whole numbers; some exports write them as floats ("12.0").
        v.parse::<u32>()
            .ok()
            .or_else(|| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(x))
                    .map(|x| x as u32)
            })
            .ok_or_else(|| format!("{name}: expected a whole number of tokens, got {v:?}"))
    };
    let t = field(time, names[0])?;
    let at = match format {
        TraceFormat::Azure => humantime::parse_rfc3339_weak(t)
            .ok()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .ok_or_else(|| {
                format!(
                    "{}: expected a UTC date-time like 2023-11-16 18:15:46.680, got {t:?}",
                    names[0]
                )
            })?,
        _ => seconds(
            t.parse::<f64>()
                .map_err(|_| format!("{}: expected seconds, got {t:?}", names[0]))?,
            names[0],
        )?,
    };
    Ok((
        at,
        tokens(input, names[1])?,
        tokens(output, names[2])?,
        Vec::new(),
    ))
}

/// What a whole trace holds (`plan`, and the run's start), and what is wrong in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceSummary {
    pub rows: u64,
    /// From the first row to the last.
    pub span: Duration,
    pub input: Range,
    pub output: Range,
    /// Rows asking for no output (BurstGPT's failed requests): sent with `max_tokens` 1.
    pub zero_output: u64,
    /// Rows with Mooncake blocks, the block references and how many repeat an earlier id (while
    /// fewer than a million distinct ids were seen).
    pub rows_with_blocks: u64,
    pub block_refs: u64,
    pub repeated_blocks: u64,
    pub distinct_blocks: u64,
    /// `true` once the distinct-id set hit its cap: the two figures above are lower bounds.
    pub blocks_capped: bool,
    /// Bad rows, the first [`BAD_ROWS_SHOWN`] of them; `bad_rows` counts all.
    pub bad: Vec<(u64, String)>,
    pub bad_rows: u64,
}

/// Smallest, mean and largest of a token count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    pub min: u32,
    pub max: u32,
    pub sum: u64,
}

impl Range {
    fn add(&mut self, v: u32, first: bool) {
        if first {
            (self.min, self.max) = (v, v);
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u64::from(v);
    }

    pub fn mean(&self, n: u64) -> f64 {
        self.sum as f64 / n.max(1) as f64
    }
}

impl TraceSummary {
    /// One pass of the trace: its span plus one mean gap, so a looped trace's next pass starts
    /// one gap after its last row (a one-row trace: 1 s).
    pub fn period(&self) -> Duration {
        if self.rows < 2 {
            return self.span.max(Duration::from_secs(1));
        }
        self.span.mul_f64(self.rows as f64 / (self.rows - 1) as f64)
    }

    /// Mean arrivals per second of one pass at `speedup`.
    pub fn rate(&self, speedup: f64) -> f64 {
        self.rows as f64 / self.period().as_secs_f64().max(1e-9) * speedup
    }

    /// Lines for `plan` and the run's start.
    pub fn describe(&self, spec: &TraceSpec) -> String {
        let mut out = format!(
            "trace {} ({}): {} rows over {} ({:.2} req/s; at speedup {}: {:.2} req/s{})\n",
            spec.file.file.display(),
            spec.format.name(),
            self.rows,
            crate::config::human(self.span),
            self.rate(1.0),
            spec.speedup,
            self.rate(spec.speedup),
            if spec.repeat { ", looped" } else { "" },
        );
        let n = self.rows;
        out += &format!(
            "  input tokens  min {} mean {:.0} max {}\n  output tokens min {} mean {:.0} max {}\n",
            self.input.min,
            self.input.mean(n),
            self.input.max,
            self.output.min,
            self.output.mean(n),
            self.output.max,
        );
        if self.zero_output > 0 {
            out += &format!(
                "  {} rows ask for 0 output tokens: sent with max_tokens 1\n",
                self.zero_output
            );
        }
        if self.rows_with_blocks > 0 {
            let at_least = if self.blocks_capped { "at least " } else { "" };
            out += &format!(
                "  prefix blocks: {} rows, {} block refs of {} tokens, {at_least}{} distinct, {at_least}{:.1}% reused\n",
                self.rows_with_blocks,
                self.block_refs,
                spec.block_tokens,
                self.distinct_blocks,
                100.0 * self.repeated_blocks as f64 / self.block_refs.max(1) as f64,
            );
        }
        out
    }
}

/// Read the whole trace once: its summary, every bad row counted and the first few kept with
/// their lines. Only a file that cannot be opened (or its CSV header) is an error.
pub fn scan(path: &Path, format: TraceFormat) -> Result<TraceSummary, TraceError> {
    let mut rows = Rows::open(path, format)?;
    let mut s = TraceSummary::default();
    let mut seen = std::collections::HashSet::new();
    while let Some(row) = rows.next_row() {
        let row = match row {
            Ok((_, row)) => row,
            Err(TraceError::Row { line, reason }) => {
                s.bad_rows += 1;
                if s.bad.len() < BAD_ROWS_SHOWN {
                    s.bad.push((line, reason));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let first = s.rows == 0;
        s.rows += 1;
        s.span = row.at;
        s.input.add(row.input_tokens, first);
        s.output.add(row.output_tokens, first);
        s.zero_output += u64::from(row.output_tokens == 0);
        if !row.hash_ids.is_empty() {
            s.rows_with_blocks += 1;
            s.block_refs += row.hash_ids.len() as u64;
            for id in &row.hash_ids {
                if seen.contains(id) {
                    s.repeated_blocks += 1;
                } else if seen.len() < DISTINCT_BLOCKS_CAP {
                    seen.insert(*id);
                } else {
                    s.blocks_capped = true;
                }
            }
        }
    }
    s.distinct_blocks = seen.len() as u64;
    Ok(s)
}

/// A trace's rows as arrivals: sequence number, time since the epoch (sped up, pass after
/// pass when looping) and the row. Stops at the replay's length, at the file's end without
/// `loop`, or at the first row that cannot be read (the file changed since it was scanned).
#[derive(Debug)]
pub struct Replay {
    spec: TraceSpec,
    /// Opened on the first row asked for (so opening fails as a row does, on the worker).
    rows: Option<Rows>,
    period: Duration,
    /// When the replay stops (`None`: never).
    length: Option<Duration>,
    /// Passes completed, and rows read in this one (an empty pass ends a loop).
    lap: u32,
    lap_rows: u64,
    /// The next row's sequence number.
    seq: u64,
    /// This replica's share: `seq % count == index`.
    shard: (u64, u64),
    /// Rows due before this are skipped (a replica joining a shared schedule late).
    skip_before: Duration,
    done: bool,
}

impl Replay {
    /// The rows of `spec`'s file from the start, numbered from `base`; `period` is one pass
    /// (from its [`TraceSummary`]).
    pub fn new(spec: &TraceSpec, period: Duration, base: u64) -> Replay {
        Replay {
            rows: None,
            spec: spec.clone(),
            period,
            length: spec.replay_length(period),
            lap: 0,
            lap_rows: 0,
            seq: base,
            shard: (0, 1),
            skip_before: Duration::ZERO,
            done: false,
        }
    }

    /// Only the rows of shard `index` of `count`.
    pub fn sharded(mut self, index: u64, count: u64) -> Self {
        self.shard = (index, count.max(1));
        self
    }

    /// Skip the rows due before `at`.
    pub fn skipping_before(mut self, at: Duration) -> Self {
        self.skip_before = at;
        self
    }
}

impl Iterator for Replay {
    type Item = Result<(u64, Duration, TraceRow), TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let rows = match &mut self.rows {
                Some(rows) => rows,
                None => match Rows::open(&self.spec.file.file, self.spec.format) {
                    Ok(rows) => self.rows.insert(rows),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            };
            let row = match rows.next_row() {
                Some(Ok((_, row))) => row,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None if self.spec.repeat && self.lap_rows > 0 => {
                    self.rows = None;
                    self.lap += 1;
                    self.lap_rows = 0;
                    continue;
                }
                None => break,
            };
            self.lap_rows += 1;
            let at = (self.period * self.lap + row.at).div_f64(self.spec.speedup);
            if self.length.is_some_and(|end| at >= end) {
                break;
            }
            let seq = self.seq;
            self.seq += 1;
            if seq % self.shard.1 == self.shard.0 && at >= self.skip_before {
                return Some(Ok((seq, at, row)));
            }
        }
        self.done = true;
        None
    }
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
