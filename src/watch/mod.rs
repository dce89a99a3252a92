//! Turning the OS's file events into [`Change`]s of one watched path.
//! (Chapters 1 and 9.)
//!
//! ## Why directories are watched, not the file
//!
//! The book's `fs.watch(filename)` watches the file's *inode*. That breaks the
//! moment an editor saves the usual way, writing a new file and renaming it
//! over the old name: the watched inode is gone, and so is every later event.
//! Here the OS watch is on the directory that holds the file, and events are
//! kept when they name the file. A directory watch sees every way the name
//! can change (written, replaced by a rename, removed, created again) and
//! keeps working through all of them.
//!
//! When the path is, or goes through, symlinks, the directory of every link
//! on the way is watched too (see [`chain`]): a change of where the path
//! points is a change, as in a Kubernetes ConfigMap volume.
//!
//! ## Which events count
//!
//! | OS event (inotify) on the file's name | becomes |
//! |---|---|
//! | `IN_MODIFY` (data written) | [`Signal::Ongoing`], modified |
//! | `IN_ATTRIB` (metadata: `chmod`, times) | [`Signal::Ongoing`], metadata only |
//! | `IN_CREATE` | [`Signal::Ongoing`], created |
//! | `IN_DELETE`, `IN_MOVED_FROM` (renamed away) | [`Signal::Ongoing`], removed |
//! | `IN_CLOSE_WRITE` (a writer closed it) | [`Signal::Finished`], no change of its own |
//! | `IN_MOVED_TO` (something renamed onto it) | [`Signal::Finished`], created |
//! | `IN_Q_OVERFLOW` (the OS lost events) | [`Signal::Ongoing`], rescan |
//! | `IN_OPEN`, `IN_ACCESS`, `IN_CLOSE_NOWRITE` | nothing |
//!
//! Reads and opens never count: `cat target.txt` is not a change, and neither
//! is the server's own look at the file. Events about other names in the same
//! directory (`target.txt.swp`, `.target.txt.tmp123`, `target.txt~`) never
//! count: names are compared whole.
//!
//! The signals then go through the [`settle`] rules, which turn each
//! operation's burst into one notification, at once when the OS says the
//! operation is finished.
//!
//! ## The road from the OS to the notifier
//!
//! notify calls us on its own thread for every OS event. That callback only
//! drops what cannot matter (events about other names) and forwards the rest
//! to a tokio task over a bounded channel; if the channel is ever full, the
//! task is told that events were lost and notifies conservatively. The task
//! classifies, settles, and reports each [`Change`]. It ends by itself when
//! the [`FileWatch`] is dropped.

pub mod chain;
pub mod settle;

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::protocol::now_millis;
use chain::Entry;
use settle::{Pending, Settler, Signal, Verdict};

/// OS events buffered between notify's thread and the watch task. Far more
/// than one operation produces; a flood beyond it is reported as lost
/// events (a rescan), never as unbounded memory.
const EVENT_BUFFER: usize = 4096;

/// The path a server watches: as the user typed it, and made absolute for
/// the OS.
#[derive(Debug, Clone)]
pub struct Target {
    as_typed: String,
    absolute: PathBuf,
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
        if path.file_name().is_none() {
            return Err(failed("the path does not end in a file name".into()));
        }
        // Absolute, but with symlinks left in place: the chain of links is
        // itself watched (see `chain`). `absolute` does not touch the file
        // system beyond reading the current directory.
        let absolute = std::path::absolute(path).map_err(|error| failed(error.to_string()))?;
        Ok(Target { as_typed, absolute })
    }

    /// The path exactly as the user typed it, for the greeting.
    pub fn as_typed(&self) -> &str {
        &self.as_typed
    }

    /// The path made absolute (symlinks not resolved).
    pub fn absolute(&self) -> &Path {
        &self.absolute
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

/// What an OS event on the file's final entry means, if anything.
pub fn signal_for(kind: &EventKind) -> Option<Signal> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(Signal::Finished(None)),
        EventKind::Access(_) => None,
        EventKind::Create(_) => Some(Signal::Ongoing(Pending::of(ChangeKind::Created))),
        EventKind::Remove(_) => Some(Signal::Ongoing(Pending::of(ChangeKind::Removed))),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            Some(Signal::Finished(Some(ChangeKind::Created)))
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            Some(Signal::Ongoing(Pending::of(ChangeKind::Removed)))
        }
        // notify follows a matched `From`/`To` pair with a `Both` event; the
        // `To` half was already counted.
        EventKind::Modify(ModifyKind::Name(_)) => None,
        EventKind::Modify(ModifyKind::Metadata(_)) => Some(Signal::Ongoing(Pending::metadata())),
        EventKind::Modify(_) => Some(Signal::Ongoing(Pending::of(ChangeKind::Modified))),
        EventKind::Any | EventKind::Other => None,
    }
}

/// What an OS event on a symlink of the chain means: only a change of the
/// entry itself (created, removed, renamed) changes where the path points.
fn signal_for_link(kind: &EventKind) -> Option<Signal> {
    match kind {
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            Some(Signal::Finished(Some(ChangeKind::Created)))
        }
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            Some(Signal::Ongoing(Pending::of(ChangeKind::Removed)))
        }
        _ => None,
    }
}

/// What an OS event forwarded to the watch task can be.
enum Raw {
    Event(Event),
    Failed(String),
}

/// The paths the callback on notify's thread lets through: every entry of
/// the chain and every watched directory. Shared with the task, which
/// updates it when the chain changes.
type Interesting = Arc<Mutex<BTreeSet<PathBuf>>>;

/// The OS watch on one [`Target`]. Dropping it releases the watch.
pub struct FileWatch {
    /// The only strong reference: dropping it drops the notify watcher, whose
    /// callback holds the channel's sender, which ends the task.
    _watcher: Arc<Mutex<RecommendedWatcher>>,
}

impl fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileWatch")
    }
}

impl FileWatch {
    /// Places the OS watches for `target` and calls `report` for every
    /// change, settled with `window` (see [`settle`]), until the returned
    /// `FileWatch` is dropped.
    ///
    /// When this returns `Ok`, the watches are in place: any change made from
    /// then on is reported. Must be called inside a tokio runtime, which runs
    /// the task that calls `report`.
    pub fn start(
        target: &Target,
        window: Duration,
        report: impl Fn(WatchReport) + Send + 'static,
    ) -> Result<FileWatch, WatchError> {
        let (raw_tx, raw_rx) = mpsc::channel(EVENT_BUFFER);
        let overflowed = Arc::new(AtomicBool::new(false));
        let interesting: Interesting = Arc::default();

        let callback_interesting = Arc::clone(&interesting);
        let callback_overflowed = Arc::clone(&overflowed);
        let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let raw = match event {
                Ok(event) => {
                    let wanted = event.need_rescan() || {
                        let paths = callback_interesting
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        event.paths.iter().any(|path| paths.contains(path))
                    };
                    if !wanted {
                        return;
                    }
                    Raw::Event(event)
                }
                Err(error) => Raw::Failed(error.to_string()),
            };
            match raw_tx.try_send(raw) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    callback_overflowed.store(true, Ordering::Release);
                }
                // The task is gone: the watch is being dropped.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        })
        .map_err(|error| watch_error(target, error))?;
        let watcher = Arc::new(Mutex::new(watcher));

        let mut task = WatchTask {
            target: target.clone(),
            watcher: Arc::downgrade(&watcher),
            interesting,
            chain: Vec::new(),
            watched_dirs: BTreeSet::new(),
            settler: Settler::new(window),
            last_seen: None,
            report: Box::new(report),
        };
        task.rechain()?;
        task.last_seen = Snapshot::of(target.absolute());
        tokio::spawn(task.run(raw_rx, overflowed));
        Ok(FileWatch { _watcher: watcher })
    }
}

fn watch_error(target: &Target, error: notify::Error) -> WatchError {
    WatchError {
        path: target.as_typed.clone(),
        reason: describe_notify_error(error),
    }
}

fn describe_notify_error(error: notify::Error) -> String {
    match error.kind {
        notify::ErrorKind::Io(ref io) if io.kind() == io::ErrorKind::NotFound => {
            let dir = error.paths.first().map(|path| path.display().to_string());
            format!(
                "the directory {} does not exist",
                dir.unwrap_or_else(|| "holding it".into())
            )
        }
        notify::ErrorKind::MaxFilesWatch => {
            "the OS limit on watches is reached (raise fs.inotify.max_user_watches)".to_owned()
        }
        _ => error.to_string(),
    }
}

/// What `stat` shows of the file, to tell a real metadata change from a
/// repeated one (an editor's `chmod` back to the mode the file already had).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    device: u64,
    inode: u64,
    mode: u32,
    owner: (u32, u32),
    size: u64,
    modified: (i64, i64),
}

impl Snapshot {
    fn of(path: &Path) -> Option<Snapshot> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Snapshot {
            device: metadata.dev(),
            inode: metadata.ino(),
            mode: metadata.mode(),
            owner: (metadata.uid(), metadata.gid()),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
        })
    }
}

/// The task between notify's thread and the notifier.
struct WatchTask {
    target: Target,
    watcher: Weak<Mutex<RecommendedWatcher>>,
    interesting: Interesting,
    chain: Vec<Entry>,
    watched_dirs: BTreeSet<PathBuf>,
    settler: Settler,
    /// The file as it was at the last notification (or at the start).
    last_seen: Option<Snapshot>,
    report: Box<dyn Fn(WatchReport) + Send>,
}

impl WatchTask {
    async fn run(mut self, mut raw_rx: mpsc::Receiver<Raw>, overflowed: Arc<AtomicBool>) {
        loop {
            let deadline = self.settler.deadline();
            tokio::select! {
                raw = raw_rx.recv() => {
                    let Some(raw) = raw else { return };
                    self.on_raw(raw);
                    if overflowed.swap(false, Ordering::AcqRel) {
                        self.on_signal(Signal::Ongoing(Pending::of(ChangeKind::Rescan)));
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    let verdict = self.settler.on_deadline(Instant::now());
                    self.on_verdict(verdict);
                }
            }
        }
    }

    fn on_raw(&mut self, raw: Raw) {
        let event = match raw {
            Raw::Event(event) => event,
            Raw::Failed(reason) => return self.fail(reason),
        };
        if event.need_rescan() {
            // Events were lost, links included: look at the chain afresh.
            self.rechain_or_report();
            return self.on_signal(Signal::Ongoing(Pending::of(ChangeKind::Rescan)));
        }
        for path in &event.paths {
            if let Some(entry) = self.chain.iter().find(|entry| &entry.path() == path) {
                let signal = if entry.is_link {
                    signal_for_link(&event.kind)
                } else {
                    signal_for(&event.kind)
                };
                let renamed = matches!(
                    event.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(ModifyKind::Name(_))
                );
                if renamed {
                    // The entry itself came or went: the chain may lead
                    // elsewhere now (a swapped link, a file replaced by a
                    // link).
                    self.rechain_or_report();
                }
                if let Some(signal) = signal {
                    self.on_signal(signal);
                }
                return;
            }
            if matches!(event.kind, EventKind::Remove(_)) && self.watched_dirs.contains(path) {
                return self.fail(format!(
                    "the directory {} was removed; changes can no longer be seen until the watch is placed again",
                    path.display()
                ));
            }
        }
    }

    fn on_signal(&mut self, signal: Signal) {
        let verdict = self.settler.on_signal(signal, Instant::now());
        self.on_verdict(verdict);
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        let Verdict::Notify(pending) = verdict else {
            return;
        };
        let seen = Snapshot::of(self.target.absolute());
        if pending.metadata_only && seen.is_some() && seen == self.last_seen {
            // Only metadata events, and nothing `stat` shows has changed: a
            // `chmod` to the mode the file already had, as editors do after
            // a save that was already notified.
            return;
        }
        let kind = match (pending.kind, &seen) {
            (ChangeKind::Rescan, _) => ChangeKind::Rescan,
            (_, None) => ChangeKind::Removed,
            // Removed and back again within one burst: it is there now.
            (ChangeKind::Removed, Some(_)) => ChangeKind::Created,
            (kind, Some(_)) => kind,
        };
        self.last_seen = seen;
        (self.report)(Ok(Change {
            kind,
            timestamp: now_millis(),
        }));
    }

    fn fail(&self, reason: String) {
        (self.report)(Err(WatchError {
            path: self.target.as_typed.clone(),
            reason,
        }));
    }

    fn rechain_or_report(&mut self) {
        if let Err(error) = self.rechain() {
            (self.report)(Err(error));
        }
    }

    /// Resolves the chain of entries again and moves the OS watches to the
    /// directories it now needs.
    fn rechain(&mut self) -> Result<(), WatchError> {
        let Some(watcher) = self.watcher.upgrade() else {
            return Ok(());
        };
        let chain = chain::resolve(self.target.absolute());
        let dirs: BTreeSet<PathBuf> = chain.iter().map(|entry| entry.dir.clone()).collect();
        let mut watcher = watcher.lock().unwrap_or_else(|e| e.into_inner());
        for stale in self.watched_dirs.difference(&dirs) {
            // A directory that is gone has lost its watch already.
            let _ = watcher.unwatch(stale);
        }
        let mut first_error = None;
        let mut watched = BTreeSet::new();
        for dir in &dirs {
            if self.watched_dirs.contains(dir) {
                watched.insert(dir.clone());
                continue;
            }
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir.clone());
                }
                Err(error) => {
                    first_error.get_or_insert_with(|| watch_error(&self.target, error));
                }
            }
        }
        let mut interesting: BTreeSet<PathBuf> = chain.iter().map(Entry::path).collect();
        interesting.extend(watched.iter().cloned());
        *self.interesting.lock().unwrap_or_else(|e| e.into_inner()) = interesting;
        self.chain = chain;
        self.watched_dirs = watched;
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Sleeps until `deadline`; never completes without one (the `select!` arm is
/// disabled then anyway).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
