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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::protocol::now_millis;
use chain::Entry;
use settle::{Pending, Settler, Signal, Verdict};

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

/// The OS watch on one [`Target`]. Dropping it releases the watch.
pub struct FileWatch {
    /// The only strong reference to the notify watcher: dropping it stops
    /// notify's thread and the OS watches.
    _watcher: Arc<Mutex<RecommendedWatcher>>,
    /// Dropping it ends the keeper task.
    _stop: oneshot::Sender<()>,
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
    /// then on is reported. `report` is called on notify's thread for changes
    /// the OS reports as finished (so they go out with no thread hop), and on
    /// a tokio task for changes that waited out the window; it must be
    /// cheap and must not block. Must be called inside a tokio runtime.
    pub fn start(
        target: &Target,
        window: Duration,
        report: impl Fn(WatchReport) + Send + Sync + 'static,
    ) -> Result<FileWatch, WatchError> {
        let watching = Arc::new(Watching {
            target: target.clone(),
            state: Mutex::new(WatchState {
                chain: Vec::new(),
                watched_dirs: BTreeSet::new(),
                settler: Settler::new(window),
                last_seen: Snapshot::of(target.absolute()),
            }),
            report: Box::new(report),
            keeper: tokio::sync::Notify::new(),
            rechain_wanted: AtomicBool::new(false),
        });

        let callback_watching = Arc::clone(&watching);
        let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            callback_watching.on_event(event);
        })
        .map_err(|error| watch_error(target, error))?;
        let watcher = Arc::new(Mutex::new(watcher));
        watching.rechain(&watcher, true)?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(keep(watching, Arc::downgrade(&watcher), stopped));
        Ok(FileWatch {
            _watcher: watcher,
            _stop: stop,
        })
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
        // What inotify's "no such file or directory" becomes in notify.
        notify::ErrorKind::PathNotFound => {
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

/// Everything the callback on notify's thread and the keeper task share.
struct Watching {
    target: Target,
    state: Mutex<WatchState>,
    report: Box<dyn Fn(WatchReport) + Send + Sync>,
    /// Wakes the keeper task: a deadline was set, or the chain must be
    /// resolved again.
    keeper: tokio::sync::Notify,
    rechain_wanted: AtomicBool,
}

struct WatchState {
    chain: Vec<Entry>,
    watched_dirs: BTreeSet<PathBuf>,
    settler: Settler,
    /// The file as it was at the last notification (or at the start).
    last_seen: Option<Snapshot>,
}

/// What one OS event means for the watch.
struct Outcome {
    signal: Option<Signal>,
    rechain: bool,
    failure: Option<String>,
}

impl Watching {
    /// Called by notify, on its own thread, for every OS event in the
    /// watched directories.
    ///
    /// The decision is made right here, and a finished operation is reported
    /// from this thread: handing the event to another thread first would
    /// cost a thread wake-up, which on a small virtual machine is most of
    /// the notification's latency.
    fn on_event(&self, event: notify::Result<Event>) {
        let event = match event {
            Ok(event) => event,
            Err(error) => return self.fail(describe_notify_error(error)),
        };
        let mut state = self.state();
        let outcome = state.classify(&event);
        if let Some(failure) = outcome.failure {
            drop(state);
            return self.fail(failure);
        }
        if outcome.rechain {
            // The chain is resolved again at once, so that the events still
            // queued from a directory the path no longer leads through are
            // not taken for changes. Moving the OS watches is left to the
            // keeper task: notify's `watch` waits for this very thread, so
            // calling it here would deadlock.
            state.chain = chain::resolve(self.target.absolute());
            self.rechain_wanted.store(true, Ordering::Release);
        }
        let Some(signal) = outcome.signal else {
            drop(state);
            if outcome.rechain {
                self.keeper.notify_one();
            }
            return;
        };
        let had_deadline = state.settler.deadline();
        let verdict = state.settler.on_signal(signal, Instant::now());
        let wake_keeper = outcome.rechain || state.settler.deadline() != had_deadline;
        let change = state.judge(verdict, self.target.absolute());
        drop(state);
        if wake_keeper {
            self.keeper.notify_one();
        }
        if let Some(change) = change {
            (self.report)(Ok(change));
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        // Every update leaves the state consistent; a panic elsewhere while
        // holding the lock leaves nothing to repair.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, reason: String) {
        (self.report)(Err(WatchError {
            path: self.target.as_typed.clone(),
            reason,
        }));
    }

    /// Moves the OS watches to the directories the chain needs (resolving the
    /// chain first when `resolve` is true).
    fn rechain(
        &self,
        watcher: &Mutex<RecommendedWatcher>,
        resolve: bool,
    ) -> Result<(), WatchError> {
        let (dirs, before) = {
            let mut state = self.state();
            if resolve {
                state.chain = chain::resolve(self.target.absolute());
            }
            (state.chain_dirs(), state.watched_dirs.clone())
        };
        let mut watcher = watcher.lock().unwrap_or_else(|e| e.into_inner());
        for stale in before.difference(&dirs) {
            // A directory that is gone has lost its watch already.
            let _ = watcher.unwatch(stale);
        }
        let mut first_error = None;
        let mut watched = BTreeSet::new();
        for dir in &dirs {
            if before.contains(dir) {
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
        drop(watcher);
        self.state().watched_dirs = watched;
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl WatchState {
    /// The directories the current chain needs watched.
    fn chain_dirs(&self) -> BTreeSet<PathBuf> {
        self.chain.iter().map(|entry| entry.dir.clone()).collect()
    }

    fn classify(&self, event: &Event) -> Outcome {
        let mut outcome = Outcome {
            signal: None,
            rechain: false,
            failure: None,
        };
        if event.need_rescan() {
            // Events were lost, links included: look at the chain afresh.
            outcome.rechain = true;
            outcome.signal = Some(Signal::Ongoing(Pending::of(ChangeKind::Rescan)));
            return outcome;
        }
        for path in &event.paths {
            if let Some(entry) = self.chain.iter().find(|entry| &entry.path() == path) {
                outcome.signal = if entry.is_link {
                    signal_for_link(&event.kind)
                } else {
                    signal_for(&event.kind)
                };
                // The entry itself came or went: the chain may lead
                // elsewhere now (a swapped link, a file replaced by a link).
                outcome.rechain = matches!(
                    event.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(ModifyKind::Name(_))
                );
                return outcome;
            }
            if matches!(event.kind, EventKind::Remove(_)) && self.chain_dirs().contains(path) {
                outcome.failure = Some(format!(
                    "the directory {} was removed; changes can no longer be seen until the watch is placed again",
                    path.display()
                ));
                return outcome;
            }
        }
        outcome
    }

    /// Turns the settler's verdict into the change to report, if any.
    fn judge(&mut self, verdict: Verdict, path: &Path) -> Option<Change> {
        let Verdict::Notify(pending) = verdict else {
            return None;
        };
        let seen = Snapshot::of(path);
        if pending.metadata_only && seen.is_some() && seen == self.last_seen {
            // Only metadata events, and nothing `stat` shows has changed: a
            // `chmod` to the mode the file already had, as editors do after
            // a save that was already notified.
            return None;
        }
        let kind = match (pending.kind, &seen) {
            (ChangeKind::Rescan, _) => ChangeKind::Rescan,
            (_, None) => ChangeKind::Removed,
            // Removed and back again within one burst: it is there now.
            (ChangeKind::Removed, Some(_)) => ChangeKind::Created,
            (kind, Some(_)) => kind,
        };
        self.last_seen = seen;
        Some(Change {
            kind,
            timestamp: now_millis(),
        })
    }
}

/// The keeper task: fires the settler's deadlines and resolves the chain
/// again when asked. It ends when the [`FileWatch`] is dropped (`stop`).
async fn keep(
    watching: Arc<Watching>,
    watcher: Weak<Mutex<RecommendedWatcher>>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        if watching.rechain_wanted.swap(false, Ordering::AcqRel) {
            let Some(watcher) = watcher.upgrade() else {
                return;
            };
            if let Err(error) = watching.rechain(&watcher, false) {
                (watching.report)(Err(error));
            }
        }
        let deadline = watching.state().settler.deadline();
        tokio::select! {
            _ = &mut stop => return,
            // `notify_one` leaves a permit when nobody waits, so a wake-up
            // sent while this task was busy above is not lost.
            () = watching.keeper.notified() => {}
            () = sleep_until(deadline), if deadline.is_some() => {
                let mut state = watching.state();
                let verdict = state.settler.on_deadline(Instant::now());
                let change = state.judge(verdict, watching.target.absolute());
                drop(state);
                if let Some(change) = change {
                    (watching.report)(Ok(change));
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{Flag, ModifyKind};
    use pretty_assertions::assert_eq;

    fn state_for(target: &Path) -> WatchState {
        WatchState {
            chain: chain::resolve(target),
            watched_dirs: BTreeSet::new(),
            settler: Settler::new(settle::DEFAULT_WINDOW),
            last_seen: None,
        }
    }

    #[test]
    fn a_lost_events_flag_is_a_change_and_a_reason_to_look_at_the_chain_again() {
        let state = state_for(Path::new("/nowhere/target.txt"));
        // What notify sends when inotify's queue overflowed: no path at all.
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        let outcome = state.classify(&overflow);
        assert_eq!(
            outcome.signal,
            Some(Signal::Ongoing(Pending::of(ChangeKind::Rescan)))
        );
        assert!(
            outcome.rechain,
            "after lost events the chain must be resolved again"
        );
    }

    #[test]
    fn an_event_about_another_name_in_the_directory_is_nothing() {
        let state = state_for(Path::new("/nowhere/target.txt"));
        let neighbour = Event::new(EventKind::Modify(ModifyKind::Any))
            .add_path(PathBuf::from("/nowhere/target.txt.swp"));
        let outcome = state.classify(&neighbour);
        assert_eq!(outcome.signal, None);
        assert!(
            !outcome.rechain && outcome.failure.is_none(),
            "a neighbour's event should change nothing, got rechain {} and failure {:?}",
            outcome.rechain,
            outcome.failure
        );
    }

    #[test]
    fn the_removal_of_the_watched_directory_is_a_failure_that_says_so() {
        let state = state_for(Path::new("/nowhere/target.txt"));
        let removed = Event::new(EventKind::Remove(notify::event::RemoveKind::Folder))
            .add_path(PathBuf::from("/nowhere"));
        let failure = state.classify(&removed).failure.expect("a failure");
        assert!(
            failure.contains("the directory /nowhere was removed"),
            "{failure}"
        );
    }

    #[test]
    fn reaching_the_os_limit_on_watches_is_explained() {
        let message = describe_notify_error(notify::Error::new(notify::ErrorKind::MaxFilesWatch));
        assert!(message.contains("fs.inotify.max_user_watches"), "{message}");
    }
}
