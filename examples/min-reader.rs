//! The floor llm-soak's footprint is measured against: the least work that reads LLM streams and
//! timestamps them. `streams` connections (started evenly over `ramp` seconds), each sending
//! the benchmark's streamed chat request again and again over one kept-alive HTTP/1.1
//! connection, timestamping every read that returns bytes into a buffer reserved up front — no
//! HTTP library, no SSE or JSON parsing, no metrics, one thread. `scripts/bench.py --reader`
//! runs it on the same case, core and simulator set-up as llm-soak and puts its CPU-seconds and
//! peak RSS beside llm-soak's (docs/BENCHMARKS.md).
//!
//! cargo build --release --example min-reader
//! target/release/examples/min-reader ADDR STREAMS RAMP_SECONDS TOTAL_SECONDS TOKENS
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The end of a chunked HTTP/1.1 body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

async fn stream(
    addr: String,
    request: std::sync::Arc<Vec<u8>>,
    start: Instant,
    end: Instant,
    tokens: usize,
) -> (u64, u64) {
    tokio::time::sleep_until(start.into()).await;
    let mut conn = TcpStream::connect(&addr).await.expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let mut buf = vec![0u8; 16 * 1024];
    let mut stamps: Vec<Instant> = Vec::with_capacity(tokens + 16);
    let (mut requests, mut reads) = (0u64, 0u64);
    while Instant::now() < end {
        conn.write_all(&request).await.expect("write");
        stamps.clear();
        let mut tail = [0u8; 5];
        loop {
            let n = conn.read(&mut buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
            stamps.push(Instant::now());
            // The last five bytes seen, across reads: the terminal chunk ends the response.
            if n >= 5 {
                tail.copy_from_slice(&buf[n - 5..n]);
            } else {
                tail.rotate_left(n);
                tail[5 - n..].copy_from_slice(&buf[..n]);
            }
            if tail == LAST_CHUNK {
                break;
            }
        }
        reads += stamps.len() as u64;
        requests += 1;
    }
    (requests, reads)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, streams, ramp, total, tokens] = args.as_slice() else {
        eprintln!("usage: min-reader ADDR STREAMS RAMP_SECONDS TOTAL_SECONDS TOKENS");
        std::process::exit(64);
    };
    let (streams, ramp, total, tokens): (usize, f64, f64, usize) = (
        streams.parse().expect("STREAMS"),
        ramp.parse().expect("RAMP_SECONDS"),
        total.parse().expect("TOTAL_SECONDS"),
        tokens.parse().expect("TOKENS"),
    );
    let body = format!(
        r#"{{"model":"llm-soak-sim","messages":[{{"role":"user","content":"{}"}}],"stream":true,"max_tokens":{tokens},"stream_options":{{"include_usage":true}}}}"#,
        "a quiet prompt of about sixty-four tokens for the floor reader "
            .repeat(6)
            .trim_end()
    );
    let request = std::sync::Arc::new(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(total);
    let tasks: Vec<_> = (0..streams)
        .map(|k| {
            let start = t0 + Duration::from_secs_f64(ramp * k as f64 / streams as f64);
            tokio::spawn(stream(addr.clone(), request.clone(), start, end, tokens))
        })
        .collect();
    let (mut requests, mut reads) = (0, 0);
    for t in tasks {
        let (r, n) = t.await.expect("a stream task");
        requests += r;
        reads += n;
    }
    println!(r#"{{"requests": {requests}, "reads": {reads}}}"#);
}
