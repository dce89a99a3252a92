//! Turning the OS's file events into [`Change`]s of one watched path.
//!
//! ## Why the parent directory is watched
//!
//! The book's `fs.watch(filename)` watches the file's *inode*. That breaks the
//! moment an editor saves the usual way, writing a new file and renaming it
//! over the old name: the watched inode is gone, and so is every later event.
//! Here the watch is on the directory that holds the file, and events are
//! kept when they name our file. A directory watch sees every way the name can
//! change (written, replaced by a rename, removed, created again), and keeps
//! working through all of them. (Chapters 1 and 9.)
//!
//! ## Which events count
//!
//! | OS event (inotify) | counts as |
//! |---|---|
//! | `IN_CLOSE_WRITE`, `IN_MODIFY`, `IN_ATTRIB` | [`ChangeKind::Modified`] |
//! | `IN_CREATE`, `IN_MOVED_TO` (a rename onto the name) | [`ChangeKind::Created`] |
//! | `IN_DELETE`, `IN_MOVED_FROM` (a rename away) | [`ChangeKind::Removed`] |
//! | `IN_Q_OVERFLOW` (events were lost) | [`ChangeKind::Rescan`] |
//! | `IN_OPEN`, `IN_CLOSE_NOWRITE`, reads | nothing |
//!
//! Reads and opens never count: `cat target.txt` is not a change, and neither
//! is the server's own access.
//!
//! ## The road from the OS to the notifier
//!
//! notify calls us on its own thread for every OS event. That callback only
//! classifies the event (cheap, no allocation for the events we drop) and
//! sends what counts to a tokio task, which publishes a [`Change`]. The task
//! ends by itself when the [`FileWatch`] is dropped: dropping the notify
//! watcher drops the channel's sender.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::protocol::now_millis;

/// The path a server watches: as the user typed it, and as the directory and
/// name the OS reports events by.
#[derive(Debug, Clone)]
pub struct Target {
    as_typed: String,
    dir: PathBuf,
    name: OsString,
    /// `dir` joined with `name`: the exact path notify puts in the events
    /// about our file, since notify joins the watched directory with the
    /// entry's name.
    event_path: PathBuf,
}

impl Target {
    /// Checks that `path` names an existing file and prepares to watch it.
    ///
    /// The book's server only finds out that the file is missing when the
    /// first subscriber connects, and then crashes. Checking here lets the
    /// binary say so before it listens.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, WatchError> {
        let path = path.as_ref();
        let as_typed = path.display().to_string();
        let failed = |reason: String| WatchError {
            path: as_typed.clone(),
            reason,
        };
        let metadata = std::fs::metadata(path).map_err(|error| failed(error.to_string()))?;
        if metadata.is_dir() {
            return Err(failed(
                "it is a directory; net-watcher watches a file".into(),
            ));
        }
        let name = path
            .file_name()
            .ok_or_else(|| failed("the path does not end in a file name".into()))?
            .to_owned();
        let dir = match path.parent() {
            // `target.txt` has the parent `""`, which is the current directory.
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // notify reports events with the watched directory made absolute (it
        // prepends the current directory to a relative one). Giving it an
        // absolute directory ourselves makes the event paths predictable.
        // `absolute` neither touches the file system nor resolves symlinks,
        // so a path through a symlinked directory is watched through it.
        let dir = std::path::absolute(dir).map_err(|error| failed(error.to_string()))?;
        let event_path = dir.join(&name);
        Ok(Target {
            as_typed,
            dir,
            name,
            event_path,
        })
    }

    /// The path exactly as the user typed it, for the greeting.
    pub fn as_typed(&self) -> &str {
        &self.as_typed
    }

    /// The directory the OS watch is placed on.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file's name inside [`Target::dir`].
    pub fn name(&self) -> &std::ffi::OsStr {
        &self.name
    }
}

/// Watching a path failed: it is missing, or the OS refused the watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchError {
    /// The path, as the user typed it.
    pub path: String,
    /// What went wrong, in words.
    pub reason: String,
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot watch \"{}\": {}", self.path, self.reason)
    }
}

impl std::error::Error for WatchError {}

/// What happened to the watched path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Its data or metadata changed.
    Modified,
    /// It appeared: created, or something was renamed onto it.
    Created,
    /// It went away: deleted, or renamed to another name.
    Removed,
    /// The OS lost events (its queue overflowed); the file may have changed.
    /// Reported rather than guessed away: a spurious notification is better
    /// than a missed one.
    Rescan,
}

/// One change of the watched path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// When the server saw it, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// What a [`FileWatch`] reports: a change, or the watch failing.
pub type WatchReport = Result<Change, WatchError>;

/// Decides whether one OS event is about our path, and what kind of change it
/// is. `None` means: not ours, or not a change.
pub fn classify(event: &Event, target: &Target) -> Option<ChangeKind> {
    if event.need_rescan() {
        return Some(ChangeKind::Rescan);
    }
    let ours = event.paths.iter().any(|path| path == &target.event_path);
    if !ours {
        return None;
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(ChangeKind::Modified),
        EventKind::Access(_) => None,
        EventKind::Create(_) => Some(ChangeKind::Created),
        EventKind::Remove(_) => Some(ChangeKind::Removed),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Some(ChangeKind::Created),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Some(ChangeKind::Removed),
        // notify follows a matched `From`/`To` pair with a `Both` event; the
        // `To` half was already counted.
        EventKind::Modify(ModifyKind::Name(_)) => None,
        EventKind::Modify(_) => Some(ChangeKind::Modified),
        EventKind::Any | EventKind::Other => None,
    }
}

/// The OS watch on one [`Target`]. Dropping it releases the watch.
pub struct FileWatch {
    _watcher: RecommendedWatcher,
}

impl fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileWatch")
    }
}

impl FileWatch {
    /// Places the OS watch on `target`'s directory and calls `report` for
    /// every change until the returned `FileWatch` is dropped.
    ///
    /// When this returns `Ok`, the watch is in place: any change made from
    /// then on is reported. Must be called inside a tokio runtime, which runs
    /// the task that calls `report`.
    pub fn start(
        target: &Target,
        report: impl Fn(WatchReport) + Send + 'static,
    ) -> Result<FileWatch, WatchError> {
        let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<Result<ChangeKind, String>>();
        let classifier_target = target.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let signal = match event {
                Ok(event) => match classify(&event, &classifier_target) {
                    Some(kind) => Ok(kind),
                    None => return,
                },
                Err(error) => Err(error.to_string()),
            };
            // A send only fails once the task is gone, which means the watch
            // is being dropped; nobody is left to tell.
            let _ = raw_tx.send(signal);
        })
        .map_err(|error| watch_error(target, error))?;
        watcher
            .watch(&target.dir, RecursiveMode::NonRecursive)
            .map_err(|error| watch_error(target, error))?;

        let path = target.as_typed.clone();
        tokio::spawn(async move {
            while let Some(signal) = raw_rx.recv().await {
                report(match signal {
                    Ok(kind) => Ok(Change {
                        kind,
                        timestamp: now_millis(),
                    }),
                    Err(reason) => Err(WatchError {
                        path: path.clone(),
                        reason,
                    }),
                });
            }
        });
        Ok(FileWatch { _watcher: watcher })
    }
}

fn watch_error(target: &Target, error: notify::Error) -> WatchError {
    let reason = match error.kind {
        notify::ErrorKind::Io(ref io) if io.kind() == io::ErrorKind::NotFound => {
            format!("its directory {} does not exist", target.dir.display())
        }
        notify::ErrorKind::MaxFilesWatch => {
            "the OS limit on watches is reached (see fs.inotify.max_user_watches)".to_owned()
        }
        _ => error.to_string(),
    };
    WatchError {
        path: target.as_typed.clone(),
        reason,
    }
}
