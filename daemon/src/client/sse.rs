//! A hand-written Server-Sent Events framer (WHATWG "event stream" parsing, the subset LLM
//! servers use): `\n`, `\r\n` and `\r` line ends, multi-line `data:` joined with `\n`, comment
//! lines, `event:` names, events split across reads at any byte, and a hard cap on one event's
//! size. It only frames: the caller timestamps a read *before* feeding it here, and parses JSON
//! after. No allocation per byte: bytes are appended to two reused buffers.

use bytes::{Bytes, BytesMut};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `data` field (lines joined with `\n`).
    pub data: Bytes,
    /// `event: error` was set on this event.
    pub error: bool,
}

/// A framing failure; the stream cannot continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event larger than {limit} bytes")]
    Oversized { limit: usize },
}

/// Incremental SSE framer.
#[derive(Debug)]
pub struct Framer {
    /// Bytes not yet split into lines.
    pending: BytesMut,
    /// Where to resume scanning `pending` for a line end.
    scanned: usize,
    /// Data of the event being assembled.
    data: BytesMut,
    has_data: bool,
    error_event: bool,
    limit: usize,
}

impl Framer {
    /// `limit`: the largest event (field bytes, including line ends) accepted.
    pub fn new(limit: usize) -> Self {
        Framer {
            pending: BytesMut::with_capacity(16 * 1024),
            scanned: 0,
            data: BytesMut::with_capacity(4 * 1024),
            has_data: false,
            error_event: false,
            limit,
        }
    }

    /// Append bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete event, if the bytes fed so far contain one.
    pub fn next_event(&mut self) -> Option<Result<Event, SseError>> {
        loop {
            let Some((line_len, term_len)) = self.find_line_end() else {
                if self.pending.len() + self.data.len() > self.limit {
                    return Some(Err(SseError::Oversized { limit: self.limit }));
                }
                return None;
            };
            let line = self.pending.split_to(line_len + term_len);
            self.scanned = 0;
            if let Some(ev) = self.line(&line[..line_len]) {
                return Some(Ok(ev));
            }
            if self.data.len() > self.limit {
                return Some(Err(SseError::Oversized { limit: self.limit }));
            }
        }
    }

    /// At end of stream: an event whose blank line never came is discarded, as the SSE spec
    /// says; returns whether such partial data was pending (a truncated event).
    pub fn finish(&mut self) -> bool {
        let partial = self.has_data || !self.pending.iter().all(|b| matches!(b, b'\r' | b'\n'));
        self.pending.clear();
        self.data.clear();
        self.has_data = false;
        partial
    }

    /// `(line length, terminator length)` of the first complete line in `pending`.
    fn find_line_end(&mut self) -> Option<(usize, usize)> {
        let buf = &self.pending[..];
        let from = self.scanned;
        match buf[from..].iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                self.scanned = buf.len();
                None
            }
            Some(i) => {
                let at = from + i;
                if buf[at] == b'\n' {
                    Some((at, 1))
                } else if at + 1 < buf.len() {
                    Some((at, if buf[at + 1] == b'\n' { 2 } else { 1 }))
                } else {
                    // A lone `\r` at the end: wait for the next byte to know if `\n` follows.
                    self.scanned = at;
                    None
                }
            }
        }
    }

    fn line(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            if !self.has_data {
                self.error_event = false;
                return None;
            }
            let ev = Event {
                data: self.data.split().freeze(),
                error: self.error_event,
            };
            self.has_data = false;
            self.error_event = false;
            return Some(ev);
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.extend_from_slice(b"\n");
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.error_event = value == b"error",
            _ => {} // id, retry and unknown fields carry nothing we measure.
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(chunks: &[&[u8]], limit: usize) -> (Vec<Result<Event, SseError>>, bool) {
        let mut f = Framer::new(limit);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c);
            while let Some(ev) = f.next_event() {
                let stop = ev.is_err();
                out.push(ev);
                if stop {
                    return (out, false);
                }
            }
        }
        let partial = f.finish();
        (out, partial)
    }

    fn data(evs: &[Result<Event, SseError>]) -> Vec<String> {
        evs.iter()
            .map(|e| String::from_utf8_lossy(&e.as_ref().unwrap().data).into_owned())
            .collect()
    }

    #[test]
    fn line_endings_comments_and_multiline_data() {
        let input = b": keep-alive\r\n\r\ndata: a\r\ndata:b\r\n\r\nevent: error\ndata: {\"x\":1}\n\ndata: c\r\rid: 7\nretry: 10\ndata\n\n";
        let (evs, partial) = frame_all(&[input], 1024);
        assert_eq!(data(&evs), vec!["a\nb", "{\"x\":1}", "c", ""]);
        assert!(evs[1].as_ref().unwrap().error);
        assert!(!evs[0].as_ref().unwrap().error);
        assert!(!partial);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let input: &[u8] =
            b"data: {\"choices\":[]}\r\n\r\n: c\n\ndata: one\ndata: two\n\ndata: [DONE]\r\n\r\n";
        let (whole, _) = frame_all(&[input], 1024);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let (evs, partial) = frame_all(&[&input[..i], &input[i..j], &input[j..]], 1024);
                assert_eq!(data(&evs), data(&whole), "split at {i},{j}");
                assert!(!partial);
            }
        }
    }

    #[test]
    fn oversized_events_are_refused_without_a_line_end() {
        let big = vec![b'x'; 5000];
        let mut f = Framer::new(1024);
        f.feed(b"data: ");
        f.feed(&big);
        assert_eq!(
            f.next_event(),
            Some(Err(SseError::Oversized { limit: 1024 }))
        );
        // and when spread over many short data lines
        let mut f = Framer::new(1024);
        for _ in 0..200 {
            f.feed(b"data: 0123456789\n");
        }
        assert!(matches!(
            f.next_event(),
            Some(Err(SseError::Oversized { .. }))
        ));
    }

    #[test]
    fn an_unterminated_event_is_reported_at_finish() {
        let (evs, partial) = frame_all(&[b"data: a\n\ndata: half"], 1024);
        assert_eq!(data(&evs), vec!["a"]);
        assert!(partial);
    }
}
