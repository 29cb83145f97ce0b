//! The files llm-soak writes whole — run reports and their checkpoints, HTML pages, sweep
//! documents, persisted drift baselines: written atomically (a temporary file beside the target,
//! synced, renamed over it, the directory synced), so a reader or a crash sees the old file or
//! the new one and never half of one; and checked writable before a run sends anything, so an
//! eight-hour soak never learns at its end that its report has nowhere to go.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The directory `path` is written in (`.` for a bare file name).
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A name beside `path` for its temporary copy (hidden, and this process's own).
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    dir_of(path).join(format!(".{name}.{what}-{}", std::process::id()))
}

/// Write `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write `value` as JSON (`pretty`: indented) to `path` atomically, streamed through a buffer
/// into the file: a document of tens of megabytes (a week's series) is never held whole.
pub fn write_json_atomic<T: serde::Serialize>(
    path: &Path,
    value: &T,
    pretty: bool,
) -> io::Result<()> {
    write_atomic_with(path, |w| {
        let r = match pretty {
            true => serde_json::to_writer_pretty(&mut *w, value),
            false => serde_json::to_writer(&mut *w, value),
        };
        r.map_err(io::Error::other)
    })
}

/// Write what `fill` writes to `path` atomically: temp file, fsync, rename, fsync of the
/// directory.
fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_beside(path, "tmp");
    let written = (|| {
        let mut w = io::BufWriter::with_capacity(64 << 10, File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable once the directory is; a directory that cannot be opened for a
    // sync (some filesystems) still has the file.
    if let Ok(dir) = File::open(dir_of(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Why [`check_writable`] says a path cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum NotWritable {
    #[error("{} is a directory", .0.display())]
    IsDirectory(PathBuf),
    #[error("cannot write {}: the directory {} does not exist", .path.display(), .dir.display())]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error("cannot write {}: {source} (in {})", .path.display(), .dir.display())]
    Denied {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Whether `path` can be written as [`write_atomic`] writes it: not a directory, in a directory
/// that exists and takes a new file. The error says which, naming the path.
pub fn check_writable(path: &Path) -> Result<(), NotWritable> {
    if path.is_dir() {
        return Err(NotWritable::IsDirectory(path.to_path_buf()));
    }
    let dir = dir_of(path);
    if !dir.is_dir() {
        return Err(NotWritable::NoDirectory {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    let probe = temp_beside(path, "check");
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(source) => Err(NotWritable::Denied {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("r.json");
        write_atomic(&path, b"one").expect("written");
        write_atomic(&path, b"two").expect("replaced");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["r.json"], "no temporary file left");
        assert!(check_writable(&path).is_ok());
        assert!(check_writable(Path::new("bare-name.json")).is_ok());
    }

    #[test]
    fn json_is_streamed_whole_and_a_failed_value_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("r.json");
        // Larger than the write buffer: streamed in several writes, read back whole.
        let big: Vec<u64> = (0..100_000).collect();
        write_json_atomic(&path, &big, false).expect("written");
        let back: Vec<u64> =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(back, big);
        write_json_atomic(&path, &[1, 2], true).expect("pretty");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "[\n  1,\n  2\n]"
        );
        // A value that cannot be serialized half-way: the old file stays, nothing beside it.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(write_json_atomic(&path, &bad, false).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "[\n  1,\n  2\n]"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("listed").count(), 1);
    }

    #[test]
    fn what_cannot_be_written_is_said_with_its_path() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = dir.path().join("no/such/dir/r.json");
        let e = check_writable(&missing)
            .expect_err("no directory")
            .to_string();
        assert!(
            e.contains("no/such/dir") && e.contains("does not exist"),
            "{e}"
        );
        assert!(write_atomic(&missing, b"x").is_err());
        let e = check_writable(dir.path())
            .expect_err("a directory")
            .to_string();
        assert!(e.ends_with("is a directory"), "{e}");
        // /proc takes no new file (as root too, unlike a read-only mode bit).
        let e = check_writable(Path::new("/proc/llm-soak-report.json"))
            .expect_err("read-only")
            .to_string();
        assert!(
            e.starts_with("cannot write /proc/llm-soak-report.json"),
            "{e}"
        );
    }
}
