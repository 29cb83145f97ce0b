//! The state directory's checkpoints: which one a restart goes on from, and when none.

use super::*;

fn cp(run_id: &str, config: serde_json::Value, finished: bool) -> Checkpoint {
    let mut report =
        crate::report::testing::report_of(crate::report::testing::summary(Vec::new(), 1.0));
    report.run_id = run_id.into();
    report.complete = finished;
    Checkpoint {
        format: FORMAT,
        run_id: run_id.into(),
        started_unix: 100.0,
        epoch_unix: 100.0,
        written_unix: 160.0,
        next_seq: 42,
        spent_requests: 40,
        spent_output_tokens: 4000,
        finished,
        config,
        report,
    }
}

#[test]
fn a_restart_goes_on_with_an_unfinished_run_of_the_same_config_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"seed": 1});
    // Nothing there: a new run.
    assert!(decide(dir.path(), &config, false).unwrap().resume.is_none());
    save(dir.path(), &cp("aaaa1111", config.clone(), false)).unwrap();
    let d = decide(dir.path(), &config, false).unwrap();
    assert_eq!(d.resume.unwrap().next_seq, 42);
    assert!(d.notes.is_empty());
    // Another config refuses, naming the run and the way out.
    let other = serde_json::json!({"seed": 2});
    let e = decide(dir.path(), &other, false).unwrap_err().to_string();
    assert!(
        e.contains("unfinished run aaaa1111 of a different config"),
        "{e}"
    );
    assert!(e.contains("--fresh"), "{e}");
    // A finished run is not gone on with, whatever the config.
    save(dir.path(), &cp("aaaa1111", config.clone(), true)).unwrap();
    assert!(decide(dir.path(), &other, false).unwrap().resume.is_none());
    // The one before the newest is kept beside it.
    assert!(dir.path().join(PREVIOUS).exists());
}

#[test]
fn fresh_sets_an_unfinished_run_aside() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"seed": 1});
    save(dir.path(), &cp("bbbb2222", config.clone(), false)).unwrap();
    let d = decide(dir.path(), &serde_json::json!({"other": true}), true).unwrap();
    assert!(d.resume.is_none());
    assert!(
        d.notes[0].contains("--fresh: unfinished run bbbb2222"),
        "{:?}",
        d.notes
    );
    assert!(!dir.path().join(FILE).exists());
    assert!(
        dir.path()
            .join(format!("{FILE}.bbbb2222.unfinished"))
            .exists()
    );
    assert!(decide(dir.path(), &config, false).unwrap().resume.is_none());
}

#[test]
fn a_torn_checkpoint_is_named_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"seed": 1});
    let mut first = cp("cccc3333", config.clone(), false);
    first.next_seq = 7;
    save(dir.path(), &first).unwrap();
    save(dir.path(), &cp("cccc3333", config.clone(), false)).unwrap();
    // The newest is truncated mid-write (a torn file): the one before it is used.
    let current = dir.path().join(FILE);
    let bytes = std::fs::read(&current).unwrap();
    std::fs::write(&current, &bytes[..bytes.len() / 2]).unwrap();
    let d = decide(dir.path(), &config, false).unwrap();
    assert_eq!(d.resume.as_ref().map(|c| c.next_seq), Some(7));
    assert!(
        d.notes[0].contains("is torn or unreadable"),
        "{:?}",
        d.notes
    );
    assert!(dir.path().join(format!("{FILE}.torn")).exists());
    // Torn with nothing before it: a new run.
    let alone = tempfile::tempdir().unwrap();
    std::fs::write(alone.path().join(FILE), &bytes[..10]).unwrap();
    let d = decide(alone.path(), &config, false).unwrap();
    assert!(d.resume.is_none());
    assert_eq!(d.notes.len(), 1);
    // Killed between setting the newest aside and writing the next: the one before it.
    let gap = tempfile::tempdir().unwrap();
    save(gap.path(), &first).unwrap();
    save(gap.path(), &first).unwrap();
    std::fs::remove_file(gap.path().join(FILE)).unwrap();
    assert_eq!(
        decide(gap.path(), &config, false)
            .unwrap()
            .resume
            .map(|c| c.next_seq),
        Some(7)
    );
}

#[test]
fn one_daemon_holds_a_state_directory_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let held = lock(dir.path()).unwrap();
    let e = lock(dir.path()).unwrap_err();
    assert!(matches!(e, ResumeError::Busy { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("another llm-soak is using the state directory")
    );
    // Released with the daemon (here: the file), whatever way it ends.
    drop(held);
    lock(dir.path()).unwrap();
}
