//! The trace reader and replay on the fixtures and scratch files: the three layouts, bad rows
//! with their lines, lazy reading, and how speedup, loop, duration and shards place the rows.

use std::io::Write as _;
use std::path::PathBuf;

use super::*;
use crate::config::FileRef;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/traces/{name}"))
}

fn spec(file: PathBuf, format: TraceFormat) -> TraceSpec {
    TraceSpec {
        file: FileRef {
            file,
            at: Default::default(),
        },
        format,
        speedup: 1.0,
        repeat: false,
        duration: None,
        block_tokens: 512,
    }
}

fn scratch(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn all(r: Replay) -> Vec<(u64, Duration, TraceRow)> {
    r.map(Result::unwrap).collect()
}

#[test]
fn the_three_fixture_formats_read_whole() {
    let m = scan(&fixture("mooncake.jsonl"), TraceFormat::Mooncake).unwrap();
    assert_eq!((m.rows, m.bad_rows), (40, 0));
    assert_eq!(m.rows_with_blocks, 40);
    // Follow-up turns and the shared system blocks repeat earlier ids.
    assert!(m.repeated_blocks > 20, "{m:?}");
    assert!(m.distinct_blocks > 20 && !m.blocks_capped, "{m:?}");
    let b = scan(&fixture("burstgpt.csv"), TraceFormat::Burstgpt).unwrap();
    assert_eq!((b.rows, b.bad_rows, b.zero_output), (40, 0, 2));
    assert_eq!(b.rows_with_blocks, 0);
    let a = scan(&fixture("azure.csv"), TraceFormat::Azure).unwrap();
    assert_eq!((a.rows, a.bad_rows), (40, 0));
    // Azure's date-times become seconds since the first row, to the microsecond.
    let rows = all(Replay::new(
        &spec(fixture("azure.csv"), TraceFormat::Azure),
        a.period(),
        0,
    ));
    assert_eq!(rows[0].1, Duration::ZERO);
    assert_eq!(rows[1].1, Duration::from_micros(4123));
    assert_eq!(
        (rows[1].2.input_tokens, rows[1].2.output_tokens),
        (3228, 411)
    );
    assert_eq!(rows.last().unwrap().1, a.span);
}

#[test]
fn bad_rows_are_named_with_their_line_and_none_is_skipped_silently() {
    let f = scratch(concat!(
        "{\"timestamp\": 100, \"input_length\": 10, \"output_length\": 5}\n",
        "\n",
        "not json\n",
        "{\"timestamp\": 110, \"input_length\": -3, \"output_length\": 5}\n",
        "{\"timestamp\": 50, \"input_length\": 10, \"output_length\": 5}\n",
        "{\"timestamp\": 120, \"output_length\": 5}\n",
        "{\"timestamp\": 300.5, \"input_length\": 10, \"output_length\": 5, \"extra\": 1}\n",
    ));
    let s = scan(f.path(), TraceFormat::Mooncake).unwrap();
    assert_eq!((s.rows, s.bad_rows), (2, 4));
    let lines: Vec<u64> = s.bad.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![3, 4, 5, 6]);
    assert!(s.bad[0].1.starts_with("expected ident"), "{:?}", s.bad[0]);
    assert!(
        s.bad[1].1.contains("invalid value: integer `-3`"),
        "{:?}",
        s.bad[1]
    );
    assert!(s.bad[2].1.contains("the time goes back"), "{:?}", s.bad[2]);
    assert!(
        s.bad[3].1.contains("missing field `input_length`"),
        "{:?}",
        s.bad[3]
    );

    let csv = scratch("Timestamp,Request tokens,Response tokens\n0,10,5\nx,10,5\n3,ten,5\n4,10\n");
    let s = scan(csv.path(), TraceFormat::Burstgpt).unwrap();
    assert_eq!((s.rows, s.bad_rows), (1, 3));
    assert_eq!(
        s.bad[0],
        (3, "Timestamp: expected seconds, got \"x\"".to_string())
    );
    assert_eq!(
        s.bad[1],
        (
            4,
            "Request tokens: expected a whole number of tokens, got \"ten\"".to_string()
        )
    );
    assert_eq!(s.bad[2].0, 5);

    let azure = scratch("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n");
    let s = scan(azure.path(), TraceFormat::Azure).unwrap();
    assert_eq!(s.bad[0].0, 2);
    assert!(
        s.bad[0].1.contains("expected a UTC date-time"),
        "{:?}",
        s.bad[0]
    );

    // A header without the format's columns is refused at line 1, naming them.
    let e = scan(csv.path(), TraceFormat::Azure).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: a azure trace has the columns TIMESTAMP, ContextTokens, GeneratedTokens (the header has Timestamp, Request tokens, Response tokens)"
    );
    let e = scan(&fixture("nonexistent.jsonl"), TraceFormat::Mooncake).unwrap_err();
    assert!(e.to_string().starts_with("cannot read "), "{e}");
}

#[test]
fn a_replay_reads_rows_as_it_goes() {
    // The last line is broken: a reader that parsed the whole file first would fail before the
    // first row; the replay hands out the good rows, then the error, then nothing.
    let f = scratch(concat!(
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\n",
        "{\"timestamp\": 1000, \"input_length\": 20, \"output_length\": 5}\n",
        "{\"timestamp\": 2000, \"input_len",
    ));
    let mut r = Replay::new(
        &spec(f.path().to_path_buf(), TraceFormat::Mooncake),
        Duration::from_secs(3),
        0,
    );
    assert_eq!(r.next().unwrap().unwrap().2.input_tokens, 10);
    assert_eq!(r.next().unwrap().unwrap().2.input_tokens, 20);
    assert!(matches!(
        r.next(),
        Some(Err(TraceError::Row { line: 3, .. }))
    ));
    assert!(r.next().is_none());
}

#[test]
fn speedup_loop_duration_and_shards_place_the_rows() {
    let path = fixture("burstgpt.csv");
    let s = scan(&path, TraceFormat::Burstgpt).unwrap();
    let mut sp = spec(path, TraceFormat::Burstgpt);
    let once = all(Replay::new(&sp, s.period(), 0));
    assert_eq!(once.len(), 40);
    assert_eq!(
        once.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
    // One pass is the span plus one mean gap: a loop's second pass starts one gap after the last.
    assert_eq!(s.period(), s.span.mul_f64(40.0 / 39.0));
    assert!((s.rate(1.0) - 40.0 / s.period().as_secs_f64()).abs() < 1e-9);

    sp.speedup = 4.0;
    let fast = all(Replay::new(&sp, s.period(), 0));
    for (a, b) in once.iter().zip(&fast) {
        assert_eq!(a.1.div_f64(4.0), b.1);
        assert_eq!(a.2.input_tokens, b.2.input_tokens);
    }

    // Looped, for two and a half passes: rows 40.. are the first ones, one period later.
    sp.repeat = true;
    sp.duration = Some(s.period().mul_f64(2.5).div_f64(4.0));
    let looped = all(Replay::new(&sp, s.period(), 100));
    assert!((100..103).contains(&looped.len()), "{}", looped.len());
    assert_eq!(looped[0].0, 100);
    assert_eq!(looped[40].1, fast[0].1 + s.period().div_f64(4.0));
    assert_eq!(looped[41].2, fast[1].2);
    assert!(looped.iter().all(|r| r.1 < sp.duration.unwrap()));

    // Two shards split the rows exactly, by sequence number; a late replica skips the past.
    sp.repeat = false;
    sp.duration = None;
    let a = all(Replay::new(&sp, s.period(), 0).sharded(0, 2));
    let b = all(Replay::new(&sp, s.period(), 0).sharded(1, 2));
    assert_eq!(a.len() + b.len(), 40);
    assert!(a.iter().all(|r| r.0 % 2 == 0) && b.iter().all(|r| r.0 % 2 == 1));
    let late = all(Replay::new(&sp, s.period(), 0).skipping_before(fast[20].1));
    assert_eq!(late[0].1, fast[20].1);
    assert!(late.len() <= 20);
}

#[test]
fn an_empty_looped_trace_ends_instead_of_spinning() {
    let f = scratch("");
    let mut sp = spec(f.path().to_path_buf(), TraceFormat::Mooncake);
    sp.repeat = true;
    assert_eq!(Replay::new(&sp, Duration::from_secs(1), 0).count(), 0);
}
