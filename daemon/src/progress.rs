//! The live progress line of a bounded run on a terminal: elapsed / total, phase, offered rate,
//! in flight, p95 TTFT so far, errors — redrawn in place on stderr once a second. Nothing is
//! printed when stderr is not a terminal (CI logs, systemd, pipes).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::metrics::{Recorder, SummarySink};
use crate::record::{Outcome, Quantity};

/// One progress line.
pub(crate) fn line(
    recorder: &Recorder,
    summary: &SummarySink,
    elapsed: Duration,
    total: Duration,
) -> String {
    let t = &recorder.totals;
    let p95 = summary
        .overall_quantile(Quantity::Ttft, 0.95)
        .map_or("-".to_string(), |v| format!("{:.0}ms", v * 1000.0));
    let failed = t.finished(Outcome::Error) + t.finished(Outcome::Timeout);
    let phase = match t.phase.load(Ordering::Relaxed) {
        -1 => "done".to_string(),
        p => p.to_string(),
    };
    format!(
        "{:>6.0}s / {:.0}s  phase {phase}  rate {:.2}/s  in flight {}  done {}  errors {failed}  dropped {}  ttft p95 {p95}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        t.target_rate(),
        t.in_flight.load(Ordering::Relaxed),
        t.finished(Outcome::Success) + failed,
        t.dropped(),
    )
}

/// What redraws the line (the runner calls it every second); `None` when stderr is not a
/// terminal: no line to draw.
pub(crate) fn ticker(
    recorder: Arc<Recorder>,
    summary: Arc<SummarySink>,
    started: Instant,
    total: Duration,
) -> Option<impl FnMut() + Send + 'static> {
    std::io::stderr().is_terminal().then_some(move || {
        let text = line(&recorder, &summary, started.elapsed(), total);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    })
}

/// Clear the line (before the summary is printed).
pub(crate) fn clear() {
    if std::io::stderr().is_terminal() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_time_rate_and_counts() {
        let (r, summary) = crate::metrics::test_recorder();
        r.set_schedule(2.5, 0);
        r.started(0);
        r.dropped(crate::metrics::catalogue::DropReason::MaxInFlight);
        let l = line(
            &r,
            &summary,
            Duration::from_secs(12),
            Duration::from_secs(60),
        );
        assert!(
            l.contains("12s / 60s") && l.contains("phase 0") && l.contains("rate 2.50/s"),
            "{l}"
        );
        assert!(
            l.contains("in flight 1") && l.contains("dropped 1") && l.contains("ttft p95 -"),
            "{l}"
        );
    }
}
