//! The watched file: a fresh temporary directory per test, holding
//! `target.txt`, and the operations that change it.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rstest::fixture;
use tempfile::TempDir;

/// A temporary directory with one file, `target.txt`, in it. Both go away
/// when the value is dropped.
#[derive(Debug)]
pub struct TargetFile {
    /// The temporary directory this value owns, if it owns one.
    _owned: Option<TempDir>,
    dir: PathBuf,
    path: PathBuf,
}

/// The `beforeEach` of every test that watches a file: a new, empty
/// `target.txt` in a directory of its own.
#[fixture]
pub fn target() -> TargetFile {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("target.txt");
    File::create(&path).expect("target.txt can be created");
    TargetFile {
        dir: dir.path().to_path_buf(),
        _owned: Some(dir),
        path,
    }
}

impl TargetFile {
    /// Another path to watch, inside a directory some other `TargetFile`
    /// owns (a symlink, a subdirectory). Creates nothing.
    pub fn at(path: PathBuf) -> Self {
        TargetFile {
            _owned: None,
            dir: path.parent().expect("a path in a directory").to_path_buf(),
            path,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path as a string, as a user would type it.
    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temporary paths are UTF-8 here")
    }

    /// Sets the modification time to a new value, as `touch` does.
    ///
    /// The time is set a whole second past the current one, so that the
    /// change is visible even on file systems with coarse timestamps.
    pub fn touch(&self) {
        let current = fs::metadata(&self.path)
            .and_then(|metadata| metadata.modified())
            .unwrap_or(SystemTime::now());
        let later = current.max(SystemTime::now()) + Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&self.path)
            .and_then(|file| file.set_times(FileTimes::new().set_modified(later)))
            .expect("target.txt can be touched");
    }

    /// Appends one line, as `echo line >> target.txt` does.
    pub fn append(&self, line: &str) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .expect("target.txt opens for appending");
        writeln!(file, "{line}").expect("target.txt takes a line");
    }

    /// `count` appends, each a change of its own: far more notifications
    /// than a stalled subscriber's socket buffers hold, with 3,000.
    pub fn append_changes(&self, count: usize) {
        for i in 0..count {
            self.append(&format!("change {i}"));
        }
    }
}
