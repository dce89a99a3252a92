//! The watched file: a fresh temporary directory per test, holding
//! `target.txt`, and the operations that change it.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
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

    /// Appends one line, as `echo line >> target.txt` does: in one write,
    /// one change for the OS (`writeln!` on a file writes the line and its
    /// newline separately).
    pub fn append(&self, line: &str) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .expect("target.txt opens for appending");
        file.write_all(format!("{line}\n").as_bytes())
            .expect("target.txt takes a line");
    }

    /// `count` appends, each a change of its own: far more notifications
    /// than a stalled subscriber's socket buffers hold, with 3,000.
    pub fn append_changes(&self, count: usize) {
        for i in 0..count {
            self.append(&format!("change {i}"));
        }
    }

    /// Appends changes on a thread of its own until the returned guard is
    /// dropped (or [`MAX_BACKGROUND_CHANGES`] have been made).
    ///
    /// For a spec that needs a stalled subscriber's socket to fill: a fixed
    /// number of appends is not enough, because the OS merges identical
    /// events that are still queued when its reader falls behind, so on a
    /// loaded machine 3,000 appends can come out as far fewer
    /// notifications. Appending until the awaited signal arrives (the
    /// subscriber dropped as too slow) waits on the signal, not on a count.
    pub fn keep_appending(&self) -> Appending {
        let stop = Arc::new(AtomicBool::new(false));
        let path = self.path.clone();
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let target = TargetFile::at(path);
            let mut made = 0;
            while !stopped.load(Ordering::Relaxed) && made < MAX_BACKGROUND_CHANGES {
                target.append(&format!("change {made}"));
                made += 1;
            }
            made
        });
        Appending {
            stop,
            thread: Some(thread),
        }
    }
}

/// A bound on [`TargetFile::keep_appending`], so that a spec that fails
/// leaves a file of a few megabytes at most.
pub const MAX_BACKGROUND_CHANGES: usize = 200_000;

/// Changes being made on another thread; dropping this stops them and
/// waits for the thread.
#[derive(Debug)]
pub struct Appending {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Appending {
    /// Stops appending, and says how many changes were made.
    pub fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("the thread is joined once")
            .join()
            .expect("the appending thread does not panic")
    }
}

impl Drop for Appending {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
