//! A hand-written Server-Sent Events framer (WHATWG "event stream" parsing, the subset LLM
//! servers use): `\n`, `\r\n` and `\r` line ends, multi-line `data:` joined with `\n`, comment
//! lines, `event:` names, events split across reads at any byte, and a hard cap on one event's
//! size. It only frames: the caller timestamps a read *before* feeding it here, and parses JSON
//! after. No allocation per read or per event once warm: bytes are appended to one reused buffer,
//! an event with one `data:` line (every LLM server's) is handed out as a slice of it, and only
//! multi-line data, or an event split across reads, is copied into a second reused buffer.

/// One dispatched event, borrowed from the framer until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `data` field (lines joined with `\n`).
    pub data: &'a [u8],
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
    /// Bytes received; `buf[pos..]` are not yet split into lines.
    buf: Vec<u8>,
    pos: usize,
    /// Where to resume scanning `buf` for a line end (absolute, `>= pos`).
    scanned: usize,
    /// The event's only data line so far, as a range of `buf` (no copy).
    single: Option<(usize, usize)>,
    /// The event's data once it has several lines or outlived its read.
    data: Vec<u8>,
    has_data: bool,
    error_event: bool,
    /// An event was handed out: its data is cleared on the next call.
    dispatched: bool,
    limit: usize,
}

impl Framer {
    /// `limit`: the largest event (field bytes, including line ends) accepted.
    pub fn new(limit: usize) -> Self {
        // Small to start (one per stream in flight: at 4096 streams every KiB here is 4 MiB);
        // both grow to the largest event seen and are then reused.
        Framer {
            buf: Vec::with_capacity(1024),
            pos: 0,
            scanned: 0,
            single: None,
            data: Vec::new(),
            has_data: false,
            error_event: false,
            dispatched: false,
            limit,
        }
    }

    fn clear_dispatched(&mut self) {
        if self.dispatched {
            self.dispatched = false;
            self.single = None;
            self.data.clear();
        }
    }

    /// Append bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.clear_dispatched();
        if self.pos > 0 {
            // The data line of an event still open would move: copy it out first.
            if let Some((a, b)) = self.single.take() {
                self.data.extend_from_slice(&self.buf[a..b]);
            }
            if self.pos == self.buf.len() {
                self.buf.clear();
            } else {
                self.buf.drain(..self.pos);
            }
            self.scanned -= self.pos;
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn data_len(&self) -> usize {
        self.single.map_or(self.data.len(), |(a, b)| b - a)
    }

    /// The next complete event, if the bytes fed so far contain one.
    pub fn next_event(&mut self) -> Option<Result<Event<'_>, SseError>> {
        self.clear_dispatched();
        loop {
            let Some((end, term_len)) = self.find_line_end() else {
                if self.buf.len() - self.pos + self.data_len() > self.limit {
                    return Some(Err(SseError::Oversized { limit: self.limit }));
                }
                return None;
            };
            let start = self.pos;
            self.pos = end + term_len;
            self.scanned = self.pos;
            if self.line(start, end) {
                self.dispatched = true;
                let data = match self.single {
                    Some((a, b)) => &self.buf[a..b],
                    None => &self.data[..],
                };
                return Some(Ok(Event {
                    data,
                    error: std::mem::take(&mut self.error_event),
                }));
            }
            if self.data_len() > self.limit {
                return Some(Err(SseError::Oversized { limit: self.limit }));
            }
        }
    }

    /// At end of stream: an event whose blank line never came is discarded, as the SSE spec
    /// says; returns whether such partial data was pending (a truncated event).
    pub fn finish(&mut self) -> bool {
        self.clear_dispatched();
        let partial = self.has_data
            || !self.buf[self.pos..]
                .iter()
                .all(|b| matches!(b, b'\r' | b'\n'));
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
        self.single = None;
        self.data.clear();
        self.has_data = false;
        partial
    }

    /// `(line end, terminator length)` of the first complete line at `pos` (absolute).
    fn find_line_end(&mut self) -> Option<(usize, usize)> {
        let buf = &self.buf[..];
        let from = self.scanned.max(self.pos);
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

    /// Apply the line `buf[start..end]`; true when it dispatched an event.
    fn line(&mut self, start: usize, end: usize) -> bool {
        let line = &self.buf[start..end];
        if line.is_empty() {
            if !self.has_data {
                self.error_event = false;
                return false;
            }
            self.has_data = false;
            return true;
        }
        if line[0] == b':' {
            return false;
        }
        let (field_end, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = start + i + 1;
                (
                    i,
                    if self.buf.get(v) == Some(&b' ') && v < end {
                        v + 1
                    } else {
                        v
                    },
                )
            }
            None => (line.len(), end),
        };
        match &line[..field_end] {
            b"data" => {
                if !self.has_data {
                    self.data.clear();
                    self.single = Some((value, end));
                } else {
                    if let Some((a, b)) = self.single.take() {
                        self.data.extend_from_slice(&self.buf[a..b]);
                    }
                    self.data.push(b'\n');
                    self.data.extend_from_slice(&self.buf[value..end]);
                }
                self.has_data = true;
            }
            b"event" => self.error_event = &self.buf[value..end] == b"error",
            _ => {} // id, retry and unknown fields carry nothing we measure.
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned = Result<(Vec<u8>, bool), SseError>;

    fn frame_all(chunks: &[&[u8]], limit: usize) -> (Vec<Owned>, bool) {
        let mut f = Framer::new(limit);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c);
            while let Some(ev) = f.next_event() {
                let stop = ev.is_err();
                out.push(ev.map(|e| (e.data.to_vec(), e.error)));
                if stop {
                    return (out, false);
                }
            }
        }
        let partial = f.finish();
        (out, partial)
    }

    fn data(evs: &[Owned]) -> Vec<String> {
        evs.iter()
            .map(|e| String::from_utf8_lossy(&e.as_ref().unwrap().0).into_owned())
            .collect()
    }

    #[test]
    fn line_endings_comments_and_multiline_data() {
        let input = b": keep-alive\r\n\r\ndata: a\r\ndata:b\r\n\r\nevent: error\ndata: {\"x\":1}\n\ndata: c\r\rid: 7\nretry: 10\ndata\n\n";
        let (evs, partial) = frame_all(&[input], 1024);
        assert_eq!(data(&evs), vec!["a\nb", "{\"x\":1}", "c", ""]);
        assert!(evs[1].as_ref().unwrap().1);
        assert!(!evs[0].as_ref().unwrap().1);
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
