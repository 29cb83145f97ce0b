//! `llm-soak run` (and `demo`) at the edge: the outputs checked writable before anything is
//! sent, the signals forwarded to the runner, the summary printed, every report written (or the
//! failure named, exit 70), and the run's end mapped to its documented exit code.

use tokio::sync::mpsc;

use super::{exit, reports, sayln};
use crate::prepare::Prepared;
use crate::report::{RunReport, StopSignal, Verdict};
use crate::runner::{self, RunOptions, Signal};

/// Forward SIGINT/SIGTERM/SIGHUP into a bounded channel the runner listens on (a storm of
/// signals waits for room; none is lost). The handlers are installed before this returns, so
/// a signal sent once the daemon has said where it listens is never the default action (a
/// SIGTERM that killed it outright, undrained, while a spawned task had yet to install them).
pub(super) fn signal_channel() -> mpsc::Receiver<Signal> {
    let (tx, rx) = mpsc::channel(runner::SIGNAL_QUEUE);
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        )
    };
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let (Ok(mut int), Ok(mut term), Ok(mut hup)) = handlers else {
                tracing::error!("cannot install signal handlers");
                return;
            };
            loop {
                let sig = tokio::select! {
                    _ = int.recv() => Signal::Interrupt,
                    _ = term.recv() => Signal::Terminate,
                    _ = hup.recv() => Signal::Reload,
                };
                if tx.send(sig).await.is_err() {
                    return;
                }
            }
        }
        #[cfg(not(unix))]
        {
            while tokio::signal::ctrl_c().await.is_ok() {
                if tx.send(Signal::Interrupt).await.is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The exit code of a finished run (DESIGN §8): a signal's code for a bounded run (a daemon
/// stopped by SIGTERM after a clean drain is a normal end), else the gates' verdict.
pub fn exit_code(report: &RunReport, bounded: bool) -> u8 {
    match report.signal {
        None if report.no_success().is_some() => exit::NO_SUCCESS,
        None => match report.verdict {
            Some(Verdict::Breach) => exit::GATE_BREACHED,
            Some(Verdict::Insufficient) => exit::INSUFFICIENT_DATA,
            _ => exit::OK,
        },
        Some(StopSignal::Interrupt) => exit::SIGINT,
        Some(StopSignal::Terminate) if bounded => exit::SIGTERM,
        Some(StopSignal::Terminate) => exit::OK,
    }
}

/// A run with a state directory goes on with the unfinished run it holds (the same config),
/// its schedule, duration and warm-up where they stand; `fresh` starts over. `Err`: the exit
/// code, the reason said.
fn resume_or_start(prepared: &Prepared, opts: &mut RunOptions, fresh: bool) -> Result<(), u8> {
    let Some(dir) = prepared.config.baseline.state_dir.clone() else {
        return Ok(());
    };
    let refuse = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        eprintln!("(exit {}: nothing was sent)", exit::USAGE);
        exit::USAGE
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| refuse(&format!("state_dir {}: {e}", dir.display())))?;
    let lock = runner::resume::lock(&dir).map_err(|e| refuse(&e))?;
    let config = serde_json::to_value(&prepared.config).map_err(|e| refuse(&e))?;
    let decision = runner::resume::decide(&dir, &config, fresh).map_err(|e| refuse(&e))?;
    for note in &decision.notes {
        eprintln!("{note}");
    }
    if let Some(cp) = &decision.resume {
        let since = |unix: f64| {
            std::time::Duration::from_secs_f64((crate::runner::unix_now() - unix).max(0.0))
        };
        let ran = since(cp.started_unix);
        opts.start_at = Some(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(cp.epoch_unix.max(0.0)),
        );
        opts.duration = opts.duration.map(|d| d.saturating_sub(ran));
        opts.warmup = opts.warmup.map(|w| w.saturating_sub(ran));
        eprintln!(
            "going on with run {} (started {} ago; its last checkpoint {} ago; --fresh starts over)",
            cp.run_id,
            crate::config::human(ran),
            crate::config::human(since(cp.written_unix)),
        );
    }
    opts.state = Some(runner::State {
        dir,
        config,
        resume: decision.resume.map(std::sync::Arc::new),
        _lock: std::sync::Arc::new(lock),
    });
    Ok(())
}

/// Run the daemon; `resumable` (the `run` command: `Some(fresh)`) checkpoints it into the
/// config's state directory and goes on with an unfinished run found there.
pub(super) async fn run_daemon(
    prepared: Prepared,
    mut opts: RunOptions,
    banner: Option<String>,
    resumable: Option<bool>,
) -> u8 {
    runner::raise_nofile_limit();
    let signals = signal_channel();
    let on_listen = |addr: std::net::SocketAddr| {
        if let Some(b) = &banner {
            sayln!("{b}");
        }
        sayln!("metrics: http://{addr}/metrics");
        sayln!("status:  http://{addr}/api/v1/status");
        sayln!("live:    http://{addr}/");
    };
    for w in crate::config::advice::warnings(&prepared.config) {
        tracing::warn!(path = %w.path, "{}", w.message);
    }
    if let Err(e) = check_outputs(&prepared, &opts) {
        eprintln!("error: {e}");
        eprintln!("(exit {}: nothing was sent)", exit::USAGE);
        return exit::USAGE;
    }
    if let Some(fresh) = resumable
        && let Err(code) = resume_or_start(&prepared, &mut opts, fresh)
    {
        return code;
    }
    let resuming = opts
        .state
        .as_ref()
        .and_then(|s| s.resume.as_ref())
        .map(|c| c.run_id.clone());
    if let Some(path) = &opts.report {
        match keep_previous_report(path, resuming.as_deref()) {
            Ok(Some(kept)) => eprintln!("{kept}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("error: --report: {e}");
                eprintln!("(exit {}: nothing was sent)", exit::USAGE);
                return exit::USAGE;
            }
        }
    }
    let bounded = opts.duration.is_some();
    let (json, html) = (opts.report.clone(), opts.report_html.clone());
    match runner::run(prepared, opts, signals, on_listen).await {
        Err(e) => {
            eprintln!("error: {e}");
            exit::SOFTWARE
        }
        Ok(report) => {
            sayln!("{}", report.render());
            if let Some(what) = report.no_success() {
                eprintln!(
                    "error: {what}. The first failure of each type was logged with its URL and status; check base_url, the API key and the model (exit {})",
                    exit::NO_SUCCESS
                );
            }
            // Every output is written, or the run says so and exits 70: the summary above is
            // on the terminal either way.
            let mut code = exit_code(&report, bounded);
            if let Some(path) = &json {
                match report.write(path) {
                    Ok(()) => eprintln!("report: {}", path.display()),
                    Err(e) => {
                        eprintln!("error: cannot write the report {}: {e}", path.display());
                        code = exit::SOFTWARE;
                    }
                }
            }
            if let Some(path) = &html
                && let Err(c) = reports::write_html(&crate::view::View::of(&report), path)
            {
                code = c;
            }
            code
        }
    }
}

/// A run never overwrites another run's report: one already at `path` is moved aside to
/// `STEM.RUN_ID.EXT` beside it (`.RUN_ID.2`, … when that is taken) and the line says where; a
/// file there that is not an llm-soak report is refused (`Err`), never overwritten. The
/// unfinished report of the run being `resuming` is its own: it stays, to be written on.
fn keep_previous_report(
    path: &std::path::Path,
    resuming: Option<&str>,
) -> Result<Option<String>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let previous = crate::report::RunReport::load(path)
        .map_err(|e| format!("{e}; refusing to overwrite it (move it, or give another path)"))?;
    if resuming == Some(previous.run_id.as_str()) && previous.unfinished().is_some() {
        return Ok(None);
    }
    let stem = path
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let id: String = previous
        .run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let aside = (1..1000)
        .map(|k| {
            let suffix = if k == 1 {
                String::new()
            } else {
                format!(".{k}")
            };
            path.with_file_name(format!("{stem}.{id}{suffix}{ext}"))
        })
        .find(|p| !p.exists())
        .ok_or_else(|| {
            format!(
                "{} has no free name to move the previous report to",
                path.display()
            )
        })?;
    std::fs::rename(path, &aside).map_err(|e| {
        format!(
            "cannot move the previous report {} aside: {e}",
            path.display()
        )
    })?;
    let what = if previous.complete {
        "finished"
    } else {
        "unfinished"
    };
    Ok(Some(format!(
        "the {what} report of run {} at {} was moved to {} (a run never overwrites another's)",
        previous.run_id,
        path.display(),
        aside.display()
    )))
}

/// Every file a run will write — `--report`, `--report-html`, the request log — can be written
/// (checked before anything is sent): the error names the flag or key and the path.
fn check_outputs(prepared: &Prepared, opts: &RunOptions) -> Result<(), String> {
    let log = prepared
        .config
        .output
        .requests_jsonl
        .as_ref()
        .map(|l| ("output.requests_jsonl.path", &l.path));
    let flags = [
        ("--report", &opts.report),
        ("--report-html", &opts.report_html),
    ];
    let outputs = flags
        .into_iter()
        .filter_map(|(what, p)| p.as_ref().map(|p| (what, p)))
        .chain(log);
    for (what, path) in outputs {
        crate::files::check_writable(path).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_runs_report_is_moved_aside_and_a_stranger_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("soak.json");
        assert_eq!(keep_previous_report(&path, None), Ok(None), "nothing there");
        let mut old =
            crate::report::testing::report_of(crate::report::testing::summary(Vec::new(), 1.0));
        old.run_id = "ab12cd34".into();
        old.write(&path).unwrap();
        let said = keep_previous_report(&path, None).unwrap().unwrap();
        let aside = dir.path().join("soak.ab12cd34.json");
        assert!(aside.exists() && !path.exists(), "{said}");
        assert!(
            said.contains("run ab12cd34") && said.contains("soak.ab12cd34.json"),
            "{said}"
        );
        // The same run's report again (a second checkpoint file): the next free name.
        old.write(&path).unwrap();
        keep_previous_report(&path, None).unwrap();
        assert!(dir.path().join("soak.ab12cd34.2.json").exists());
        // Not a report: refused, left alone.
        std::fs::write(&path, "precious notes").unwrap();
        let e = keep_previous_report(&path, None).unwrap_err();
        assert!(e.contains("refusing to overwrite"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious notes");
    }

    #[test]
    fn every_way_a_run_ends_maps_to_its_exit_code() {
        let report = |signal: Option<StopSignal>, verdict: Option<Verdict>| RunReport {
            server: Vec::new(),
            schema_version: crate::report::SCHEMA_VERSION,
            llm_soak_version: crate::VERSION.into(),
            run_id: "r".into(),
            shard: crate::report::ReportShard::Replica { index: 0, count: 1 },
            complete: true,
            signal,
            elapsed_seconds: 1.0,
            requests: Default::default(),
            summary: None,
            gates: Vec::new(),
            verdict,
            series: None,
            drift_baselines: Vec::new(),
            config: None,
            partial: None,
            phase_verdicts: Vec::new(),
            first_last: None,
            resumes: Vec::new(),
        };
        let cases = [
            (None, None, true, exit::OK),
            (None, Some(Verdict::Pass), true, exit::OK),
            (None, Some(Verdict::Breach), true, exit::GATE_BREACHED),
            (
                None,
                Some(Verdict::Insufficient),
                true,
                exit::INSUFFICIENT_DATA,
            ),
            (
                Some(StopSignal::Interrupt),
                Some(Verdict::Pass),
                true,
                exit::SIGINT,
            ),
            (Some(StopSignal::Interrupt), None, false, exit::SIGINT),
            (
                Some(StopSignal::Terminate),
                Some(Verdict::Pass),
                true,
                exit::SIGTERM,
            ),
            // A daemon drained by SIGTERM ended normally.
            (Some(StopSignal::Terminate), None, false, exit::OK),
        ];
        for (signal, verdict, bounded, want) in cases {
            assert_eq!(
                exit_code(&report(signal, verdict), bounded),
                want,
                "{signal:?} {verdict:?} bounded={bounded}"
            );
        }
        // Requests sent, none succeeded: exit 3, ahead of any gate's verdict; one success (or
        // only cancelled requests) is not that.
        let mut failed = report(None, Some(Verdict::Breach));
        failed.requests.started = 15;
        failed.requests.finished.error = 15;
        assert_eq!(exit_code(&failed, true), exit::NO_SUCCESS);
        assert_eq!(
            failed.no_success().as_deref(),
            Some("15 requests, none succeeded")
        );
        failed.requests.finished.success = 1;
        assert_eq!(exit_code(&failed, true), exit::GATE_BREACHED);
        let mut cut = report(None, None);
        cut.requests.started = 3;
        cut.requests.finished.cancelled = 3;
        assert_eq!(exit_code(&cut, true), exit::OK);
        let mut stopped = failed.clone();
        stopped.requests.finished.success = 0;
        stopped.signal = Some(StopSignal::Interrupt);
        assert_eq!(
            exit_code(&stopped, true),
            exit::SIGINT,
            "a signal decides first"
        );
    }
}
