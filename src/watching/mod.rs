//! Turning the OS's file events into [`Change`]s of one watched path.
//! (Chapters 1 and 9.)
//!
//! ## Two watches: the file's directory, and the file itself
//!
//! The book's `fs.watch(filename)` watches the file's *inode*: the file
//! itself, whatever its names. That breaks the moment an editor saves the
//! usual way, writing a new file and renaming it over the old name: the
//! watched inode is no longer the file, and no later change is heard. So
//! the first watch here is on the **directory** that holds the file, and
//! keeps the events that name it. It sees every way the name can change
//! (written, replaced by a rename, removed, created again) and keeps working
//! through all of them.
//!
//! A directory only hears of changes made *through that directory*, though.
//! A file has other ways in: a hard link in another directory, or a bind
//! mount of the file onto another path (`docker run -v
//! /etc/app.conf:/app/app.conf`, a Kubernetes `subPath` volume), where the
//! host writes through its own path and no directory on the watched path
//! hears of it. So the second watch is on the file's **inode**, as the
//! book's is: it hears a write, a truncation, a `chmod` or a `touch` made
//! through any name. Each watch covers what the other cannot see:
//!
//! | a change made… | the directory watch | the inode watch |
//! |---|---|---|
//! | to the name: replaced, removed, created again | hears it | hears nothing: it watches one file, not the name |
//! | through another name (hard link, bind mount) | hears nothing | hears it |
//! | through the watched name | hears it | hears it |
//!
//! So the name's changes are taken from the directory watch, and the
//! file's (its data, its metadata) from the inode watch: a change heard by
//! both counts once. The directory's watch asks for the file's content,
//! and its report of it counts, only while there is no inode watch: the
//! file is missing, or the server may not read it (inotify needs read
//! permission on what it watches), and then a change made through the
//! watched name is still seen. (Asking both at once would cost the OS's
//! merging of a fast writer's events: see `DIRECTORY_AND_CONTENT_EVENTS`.)
//! A writer's close is taken from both: it is no change of its own, only
//! the sign that an operation is over (see [`settle`]), and a second one
//! finds nothing left to notify.
//!
//! When the name comes to point at another inode (an atomic save, a removal
//! and re-creation, a symlink pointed elsewhere), the inode watch moves to
//! the new file before the change is reported, and the old file's watch is
//! removed: an editor that keeps writing to the file it replaced notifies
//! nobody (the directory still reports those writes under the file's name,
//! which is one more reason not to count its reports of content). An event
//! heard through the inode counts even when it is read after the name has
//! changed: it was queued before that change, so it was made to the watched
//! file (an append right before `rm` is two changes). A metadata event is
//! the exception, counted only while the name still leads to that inode, as
//! `stat` shows when it is read: `rm target.txt`, or a rename over the name,
//! first tells the inode that it lost a link, then the directory that the
//! name changed, and only the name's change is a change. (So a `chmod` made
//! right before such a change and read only after it is no notification of
//! its own: the name's change, notified next, covers it.) Once the name's
//! change is handled, the old inode's watch is gone and its later events
//! count for nothing. A write made through the name between a change of the
//! name and the moment the inode watch has moved counts for neither watch;
//! the notification of the name's change, sent after the move, covers it,
//! and goes out at once when the writer closes the file (`echo x >
//! target.txt` on a missing file: created, written, closed).
//!
//! Both watches share one OS queue (one inotify instance) read by one
//! thread, so events are handled in the kernel's order: every event that
//! follows a change of the name in the queue is judged against the watches
//! as that change left them.
//!
//! When the path is, or goes through, symlinks, the directory of every link
//! on the way is watched too (see [`chain`]): a change of where the path
//! points is a change, as in a Kubernetes ConfigMap volume.
//!
//! ## Which events count
//!
//! | OS event (inotify) | taken from | becomes |
//! |---|---|---|
//! | `IN_MODIFY` (data written) | the inode | [`Signal::Ongoing`], modified |
//! | `IN_ATTRIB` (metadata: `chmod`, times) | the inode | [`Signal::Ongoing`], metadata only |
//! | `IN_CLOSE_WRITE` (a writer closed it) | either | [`Signal::Finished`], no change of its own |
//! | `IN_CREATE` | the directory | [`Signal::Ongoing`], created |
//! | `IN_DELETE`, `IN_MOVED_FROM` (renamed away) | the directory | [`Signal::Ongoing`], removed |
//! | `IN_MOVED_TO` (something renamed onto it) | the directory | [`Signal::Finished`], created |
//! | `IN_Q_OVERFLOW` (the OS lost events) | the queue | [`Signal::Ongoing`], rescan |
//!
//! Reads and opens are not asked for: `cat target.txt` is not a change, and
//! neither is the server's own look at the file. Events about other names in
//! the same directory (`target.txt.swp`, `.target.txt.tmp123`,
//! `target.txt~`) never count: names are compared whole.
//!
//! The signals then go through the [`settle`] rules, which turn each
//! operation's burst into one notification, at once when the OS says the
//! operation is finished.
//!
//! ## The road from the OS to the notifier
//!
//! A thread of the watch's own waits on the inotify queue and handles each
//! event where it is read: it classifies it, moves the watches when the
//! path's meaning changed, settles it, and reports a finished operation
//! right there, with no hand-off to another thread (a thread wake-up is most
//! of a notification's latency on a small virtual machine). A small keeper
//! task, on tokio, fires the settler's deadlines and reports the changes
//! that waited them out. Both end when the [`FileWatch`] is dropped. The
//! notifier's report, which writes to every subscriber, runs on them
//! (see [`FileWatch::start`] for what that asks of a report).

pub mod chain;
pub mod settle;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inotify::{Event, EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::lock::lock;
use crate::protocol::now_millis;
use chain::ChainEntry;
use settle::{Decision, PendingChange, Settler, Signal};

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
        let failed = |reason: WatchFailure| WatchError {
            path: as_typed.clone(),
            reason,
        };
        let metadata = std::fs::metadata(path).map_err(|error| failed(WatchFailure::os(error)))?;
        if metadata.is_dir() {
            return Err(failed(WatchFailure::Path(
                "it is a directory; net-watcher watches a file".into(),
            )));
        }
        if path.file_name().is_none() {
            return Err(failed(WatchFailure::Path(
                "the path does not end in a file name".into(),
            )));
        }
        // Absolute, but with symlinks left in place: the chain of links is
        // itself watched (see `chain`). `absolute` does not touch the file
        // system beyond reading the current directory.
        let absolute =
            std::path::absolute(path).map_err(|error| failed(WatchFailure::os(error)))?;
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
///
/// Its `Display` is the one sentence the console and the subscribers are
/// shown, `cannot watch "PATH": REASON`. When an OS error lies behind it,
/// that error is also its [`source`](std::error::Error::source), for code
/// that needs its kind or number rather than its words. (The sentence
/// already says what the source says, or says it more plainly: a reporter
/// that prints every error of the chain shows it twice.)
#[derive(Debug)]
pub struct WatchError {
    /// The path, as the user typed it.
    pub path: String,
    /// What went wrong.
    pub reason: WatchFailure,
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot watch \"{}\": {}", self.path, self.reason)
    }
}

impl std::error::Error for WatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            WatchFailure::Os { error, .. } => Some(error),
            WatchFailure::Path(_) => None,
        }
    }
}

/// Why a path could not be watched, or stopped being watched.
#[derive(Debug)]
pub enum WatchFailure {
    /// A call to the OS failed: `stat`, inotify, or the wait for its events.
    Os {
        /// The failure in the watch's own words, shown instead of the OS's
        /// message (`the directory /a/b does not exist`); `None` shows the
        /// OS's message as it is.
        words: Option<String>,
        /// The OS's error.
        error: io::Error,
    },
    /// The path cannot be watched as it stands, and no OS call failed: it
    /// is a directory, or a directory on its way was removed.
    Path(String),
}

impl WatchFailure {
    /// An OS error, shown in the OS's words.
    fn os(error: io::Error) -> Self {
        WatchFailure::Os { words: None, error }
    }

    /// An OS error, shown in `words`.
    fn os_in_words(words: String, error: io::Error) -> Self {
        WatchFailure::Os {
            words: Some(words),
            error,
        }
    }
}

impl fmt::Display for WatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchFailure::Os {
                words: Some(words), ..
            } => f.write_str(words),
            WatchFailure::Os { words: None, error } => write!(f, "{error}"),
            WatchFailure::Path(words) => f.write_str(words),
        }
    }
}

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

/// What the watch on each directory of the chain asks the OS for: the
/// entries' names changing, a writer's close (the end of an operation, see
/// `content_signal`), and the directory's own removal.
const DIRECTORY_EVENTS: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::DELETE_SELF);

/// What the file's directory asks for while there is no inode watch (the
/// file is missing, or may not be read): the entries' content as well.
/// Only then: the OS merges an event with an identical one queued just
/// before it, so a writer's thousand unread writes are one event in the
/// queue, but with the directory's copies between the inode's they are two
/// thousand, and a fast writer fills the queue.
const DIRECTORY_AND_CONTENT_EVENTS: WatchMask = DIRECTORY_EVENTS
    .union(WatchMask::MODIFY)
    .union(WatchMask::ATTRIB);

/// What the watch on the file's inode asks for: its content and metadata.
/// `DONT_FOLLOW`: the chain's final entry is the file itself, never a link.
const FILE_EVENTS: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::DONT_FOLLOW);

/// Events by which an entry appears: created, or renamed onto its name.
const ARRIVED: EventMask = EventMask::CREATE.union(EventMask::MOVED_TO);
/// Events by which an entry goes: removed, or renamed away.
const WENT: EventMask = EventMask::DELETE.union(EventMask::MOVED_FROM);

/// What an OS event about the file (its final entry, or its inode) means,
/// if anything.
pub fn signal_for(mask: EventMask) -> Option<Signal> {
    if mask.contains(EventMask::CLOSE_WRITE) {
        Some(Signal::Finished(None))
    } else if mask.contains(EventMask::MOVED_TO) {
        Some(Signal::Finished(Some(ChangeKind::Created)))
    } else if mask.contains(EventMask::CREATE) {
        Some(Signal::Ongoing(PendingChange::of(ChangeKind::Created)))
    } else if mask.intersects(WENT) {
        Some(Signal::Ongoing(PendingChange::of(ChangeKind::Removed)))
    } else if mask.contains(EventMask::MODIFY) {
        Some(Signal::Ongoing(PendingChange::of(ChangeKind::Modified)))
    } else if mask.contains(EventMask::ATTRIB) {
        Some(Signal::Ongoing(PendingChange::metadata()))
    } else {
        None
    }
}

/// What an OS event on a symlink of the chain means: only a change of the
/// entry itself (created, removed, renamed) changes where the path points.
fn signal_for_link(mask: EventMask) -> Option<Signal> {
    if mask.intersects(ARRIVED) {
        Some(Signal::Finished(Some(ChangeKind::Created)))
    } else if mask.intersects(WENT) {
        Some(Signal::Ongoing(PendingChange::of(ChangeKind::Removed)))
    } else {
        None
    }
}

/// The OS watches on one [`Target`]. Dropping it releases them.
pub struct FileWatch {
    live: Arc<LiveWatch>,
    /// Dropping it ends the keeper task.
    _stop: oneshot::Sender<()>,
}

impl fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileWatch")
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.live.stopping.store(true, Ordering::Release);
        // Not joined: the thread may be in the middle of a report, and a
        // report must never wait on whoever drops the watch.
        let _ = self.live.waker.wake();
    }
}

/// The reader thread's two sources of wake-ups.
const OS_EVENTS: mio::Token = mio::Token(0);
const STOP: mio::Token = mio::Token(1);

impl FileWatch {
    /// Places the OS watches for `target` and calls `report` for every
    /// change, settled with `window` (see [`settle`]), and for a failure of
    /// the watch, until the returned `FileWatch` is dropped.
    ///
    /// When this returns `Ok`, the watches are in place: any change made from
    /// then on is reported. `report` is called on the watch's own reader
    /// thread for changes the OS reports as finished (so they go out with
    /// no thread hop), and on the watch's keeper task, a tokio task, for
    /// changes that waited out the window. While it runs, the reader thread
    /// reads no further event (they wait in the OS's queue) and the keeper
    /// fires no deadline: its time is added to the next change's latency,
    /// so it should do its work without ever waiting for something that may
    /// not come (a blocking write, a lock held by whoever drops this watch).
    /// The notifier's `report` renders the line and makes a non-blocking
    /// write to every greeted subscriber's socket there: tens of
    /// milliseconds at ten thousand subscribers.
    ///
    /// Dropping the `FileWatch` does not wait for either: a report already
    /// under way, or the rest of a batch of events already read, may still
    /// be reported just after the drop. A caller that must ignore those
    /// tells them apart itself (the notifier numbers the watches it places).
    /// Must be called inside a tokio runtime.
    pub fn start(
        target: &Target,
        window: Duration,
        report: impl Fn(WatchReport) + Send + Sync + 'static,
    ) -> Result<FileWatch, WatchError> {
        let failed = |error: io::Error| WatchError {
            path: target.as_typed.clone(),
            reason: WatchFailure::os(error),
        };
        let inotify = Inotify::init().map_err(failed)?;
        let poll = mio::Poll::new().map_err(failed)?;
        poll.registry()
            .register(
                &mut mio::unix::SourceFd(&inotify.as_raw_fd()),
                OS_EVENTS,
                mio::Interest::READABLE,
            )
            .map_err(failed)?;
        let waker = mio::Waker::new(poll.registry(), STOP).map_err(failed)?;

        let live = Arc::new(LiveWatch {
            target: target.clone(),
            state: Mutex::new(WatchState::new(
                inotify.watches(),
                window,
                Snapshot::of(target.absolute()),
            )),
            report: Box::new(report),
            keeper: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
            waker,
        });
        live.state().rechain(target)?;

        let reader = Arc::clone(&live);
        std::thread::Builder::new()
            .name("net-watcher inotify".into())
            .spawn(move || read_events(&reader, inotify, poll))
            .map_err(failed)?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(keep(Arc::clone(&live), stopped));
        Ok(FileWatch { live, _stop: stop })
    }
}

/// Why adding a watch on `dir` failed, in words where the OS's would not
/// help.
fn describe_watch_error(error: io::Error, dir: &Path) -> WatchFailure {
    match error.raw_os_error() {
        Some(libc::ENOENT) => WatchFailure::os_in_words(
            format!("the directory {} does not exist", dir.display()),
            error,
        ),
        Some(libc::ENOSPC) => WatchFailure::os_in_words(
            "the OS limit on watches is reached (raise fs.inotify.max_user_watches)".to_owned(),
            error,
        ),
        _ => WatchFailure::os(error),
    }
}

/// The reader thread: waits for OS events and hands each to
/// [`LiveWatch::on_event`], until the [`FileWatch`] is dropped.
fn read_events(live: &LiveWatch, mut inotify: Inotify, mut poll: mio::Poll) {
    let mut ready = mio::Events::with_capacity(2);
    // Room for many events at once; one with the longest name takes 272
    // bytes.
    let mut buffer = [0_u8; 4096];
    // Told from here, not where the watch was placed: whoever starts the
    // watch may hold what the report needs.
    let untold = live.state().untold_failure.take();
    if let Some(reason) = untold {
        live.fail(reason);
    }
    loop {
        if let Err(error) = poll.poll(&mut ready, None) {
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            let words = format!("waiting for file events failed: {error}");
            return live.fail(WatchFailure::os_in_words(words, error));
        }
        if live.stopping.load(Ordering::Acquire) {
            return;
        }
        // The queue is read until empty: the poll only says when it becomes
        // readable again.
        loop {
            match inotify.read_events(&mut buffer) {
                Ok(events) => {
                    for event in events {
                        live.on_event(&event);
                    }
                    // Checked after every batch too: a steady writer can
                    // keep the queue from ever being empty, and the thread
                    // would live on, holding its inotify instance (128 per
                    // user by default) and reporting to nobody.
                    if live.stopping.load(Ordering::Acquire) {
                        return;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    let words = format!("reading file events failed: {error}");
                    return live.fail(WatchFailure::os_in_words(words, error));
                }
            }
        }
    }
}

/// What `stat` shows of the file, to tell a real metadata change from a
/// repeated one (an editor's `chmod` back to the mode the file already had),
/// and which inode the name leads to.
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

    /// Which file this is: its device and inode numbers.
    fn identity(&self) -> (u64, u64) {
        (self.device, self.inode)
    }

    fn is_directory(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// Which of the two watches heard an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// The watch on the file's directory; the event names the file.
    ThroughTheDirectory,
    /// The watch on the file's inode, whatever name the change went through.
    ThroughTheInode,
}

/// The watch on the file's inode.
#[derive(Debug)]
struct InodeWatch {
    descriptor: WatchDescriptor,
    /// The file it watches (device, inode), as `stat` showed it when the
    /// watch was placed.
    identity: (u64, u64),
}

/// A watch while it runs: everything its reader thread and its keeper task
/// share.
struct LiveWatch {
    target: Target,
    state: Mutex<WatchState>,
    /// Called with every change and failure, on the reader thread or the
    /// keeper task (see [`FileWatch::start`]).
    report: Box<dyn Fn(WatchReport) + Send + Sync>,
    /// Wakes the keeper task: a deadline was set or moved.
    keeper: tokio::sync::Notify,
    /// Set when the [`FileWatch`] is dropped.
    stopping: AtomicBool,
    /// Wakes the reader thread, which then sees `stopping` and ends, closing
    /// the inotify instance and with it every OS watch. Kept here, alive
    /// until the thread is gone: a wake-up whose waker is closed before the
    /// thread has seen it is lost.
    waker: mio::Waker,
}

struct WatchState {
    /// Adds and removes watches on the one inotify instance.
    watches: Watches,
    chain: Vec<ChainEntry>,
    /// Each watched directory, and its watch.
    directories: BTreeMap<PathBuf, WatchDescriptor>,
    /// The watch on the file's inode, when the file exists and may be
    /// watched.
    inode: Option<InodeWatch>,
    /// Why the inode watch could not be placed, until the reader thread
    /// tells it (through the report, as a failure: changes made through
    /// another name are not heard meanwhile).
    untold_failure: Option<WatchFailure>,
    /// Whether a failure of the inode watch was told since one was last
    /// placed: it is told once, not at every event that tries again.
    failure_told: bool,
    /// The directory whose watch asks for its entries' content too
    /// ([`DIRECTORY_AND_CONTENT_EVENTS`]): the file's, while there is no
    /// inode watch.
    hears_content: Option<PathBuf>,
    settler: Settler,
    /// The file as it was at the last notification (or at the start).
    last_seen: Option<Snapshot>,
}

/// What one OS event means for the watch.
#[derive(Debug, Default)]
struct EventMeaning {
    signal: Option<Signal>,
    rechain: bool,
    failure: Option<String>,
}

impl LiveWatch {
    /// Called on the reader thread for every OS event.
    ///
    /// The decision is made right here, and a finished operation is reported
    /// from this thread: handing the event to another thread first would
    /// cost a thread wake-up, which on a small virtual machine is most of
    /// the notification's latency.
    fn on_event(&self, event: &Event<&OsStr>) {
        let mut state = self.state();
        let meaning = state.classify(event, self.target.absolute());
        if let Some(failure) = meaning.failure {
            drop(state);
            return self.fail(WatchFailure::Path(failure));
        }
        // The watches move before the change is reported: whoever reacts
        // to the notification by writing to the new file, through any name,
        // is heard.
        let moved = if meaning.rechain {
            state.rechain(&self.target)
        } else {
            Ok(())
        };
        let untold = state.untold_failure.take();
        let mut change = None;
        let mut wake_keeper = false;
        if let Some(signal) = meaning.signal {
            let had_deadline = state.settler.deadline();
            let decision = state.settler.on_signal(signal, Instant::now());
            wake_keeper = state.settler.deadline() != had_deadline;
            change = state.judge(decision, self.target.absolute());
        }
        drop(state);
        if wake_keeper {
            self.keeper.notify_one();
        }
        if let Err(error) = moved {
            (self.report)(Err(error));
        }
        if let Some(reason) = untold {
            self.fail(reason);
        }
        if let Some(change) = change {
            (self.report)(Ok(change));
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        // Every update leaves the state consistent; a panic elsewhere while
        // holding the lock leaves nothing to repair.
        lock(&self.state)
    }

    fn fail(&self, reason: WatchFailure) {
        (self.report)(Err(WatchError {
            path: self.target.as_typed.clone(),
            reason,
        }));
    }
}

impl WatchState {
    fn new(watches: Watches, window: Duration, last_seen: Option<Snapshot>) -> Self {
        WatchState {
            watches,
            chain: Vec::new(),
            directories: BTreeMap::new(),
            inode: None,
            hears_content: None,
            untold_failure: None,
            failure_told: false,
            settler: Settler::new(window),
            last_seen,
        }
    }

    /// The directories the current chain needs watched.
    fn chain_dirs(&self) -> BTreeSet<PathBuf> {
        self.chain.iter().map(|entry| entry.dir.clone()).collect()
    }

    /// Resolves the chain again and moves the OS watches to match: one on
    /// the directory of every entry, and one on the file's inode. Fails
    /// with the first directory that cannot be watched; the inode watch is
    /// placed when it can be (the directory watch alone still hears every
    /// change made through the watched name).
    fn rechain(&mut self, target: &Target) -> Result<(), WatchError> {
        self.chain = chain::resolve(target.absolute());
        let mut first_error = None;
        let mut watched = BTreeMap::new();
        for dir in self.chain_dirs() {
            // A directory watched already keeps its watch, even if it is
            // being removed: its own removal event is still to come.
            if let Some(descriptor) = self.directories.get(&dir) {
                watched.insert(dir, descriptor.clone());
                continue;
            }
            match self.watches.add(&dir, DIRECTORY_EVENTS) {
                Ok(descriptor) => {
                    watched.insert(dir, descriptor);
                }
                Err(error) => {
                    first_error.get_or_insert_with(|| WatchError {
                        path: target.as_typed.clone(),
                        reason: describe_watch_error(error, &dir),
                    });
                }
            }
        }
        let before = std::mem::replace(&mut self.directories, watched);
        for (_, descriptor) in before {
            // Kept if still needed, even under another path (two paths to
            // one directory share its watch). A directory that is gone has
            // lost its watch already.
            if !self.watches_a_directory(&descriptor) {
                let _ = self.watches.remove(descriptor);
            }
        }
        self.move_inode_watch(target);
        self.ask_for_content();
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The chain's last entry, when it is the file (not a link whose
    /// target is missing).
    fn file_entry(&self) -> Option<&ChainEntry> {
        self.chain.last().filter(|entry| !entry.is_link)
    }

    /// Places the inode watch on the file the chain now ends at, and
    /// removes the one on the file it ended at before, if that is another.
    fn move_inode_watch(&mut self, target: &Target) {
        let file = self.file_entry().map(ChainEntry::path);
        // Which file the name leads to, looked at before the watch is
        // placed: if the name moves meanwhile, the event that says so comes
        // next, and this runs again.
        let seen = Snapshot::of(target.absolute());
        let placed = match (file, seen) {
            // A directory is not the file: its events are about the entries
            // in it. And the OS keeps one watch per inode: adding one on a
            // directory the chain watches already (`target.txt ->
            // ../its-own-dir`) would replace that watch's events, and it
            // would no longer hear the name change.
            (Some(file), Some(seen)) if !seen.is_directory() => {
                match self.watches.add(&file, FILE_EVENTS) {
                    Ok(descriptor) if self.watches_a_directory(&descriptor) => {
                        // The name became such a directory between the stat
                        // and the add: give that watch its events back. The
                        // event that says so comes next, and this runs again.
                        self.restore_directory_watch(&descriptor);
                        None
                    }
                    Ok(descriptor) => {
                        self.failure_told = false;
                        Some(InodeWatch {
                            descriptor,
                            identity: seen.identity(),
                        })
                    }
                    Err(error) => {
                        self.inode_watch_failed(error, &file);
                        None
                    }
                }
            }
            // Missing, a link at the end of the chain, or a directory: only
            // the directory watch hears it for now.
            _ => None,
        };
        let before = std::mem::replace(&mut self.inode, placed);
        if let Some(before) = before {
            let same = self
                .inode
                .as_ref()
                .is_some_and(|now| now.descriptor == before.descriptor);
            if !same {
                // Its events still queued are ignored: they come from a
                // watch that is no longer the inode watch.
                let _ = self.watches.remove(before.descriptor);
            }
        }
    }

    /// Notes why the inode watch on `file` could not be placed, to be told
    /// once. A file gone meanwhile is no failure: the event that says so
    /// comes next.
    fn inode_watch_failed(&mut self, error: io::Error, file: &Path) {
        if error.raw_os_error() == Some(libc::ENOENT) || self.failure_told {
            return;
        }
        self.failure_told = true;
        let reason = describe_watch_error(error, file);
        let words = format!(
            "the file {} itself cannot be watched ({reason}); changes made through the watched name are still heard, but not those made through another name (a hard link, a bind mount)",
            file.display(),
        );
        self.untold_failure = Some(match reason {
            WatchFailure::Os { error, .. } => WatchFailure::os_in_words(words, error),
            WatchFailure::Path(_) => WatchFailure::Path(words),
        });
    }

    /// Has the file's directory ask for its entries' content while there
    /// is no inode watch, and only then. Adding a watch on a directory
    /// watched already keeps its descriptor and replaces what it asks for.
    fn ask_for_content(&mut self) {
        let wanted = match self.inode {
            Some(_) => None,
            None => self
                .file_entry()
                .map(|entry| entry.dir.clone())
                .filter(|dir| self.directories.contains_key(dir)),
        };
        if wanted == self.hears_content {
            return;
        }
        if let Some(dir) = self.hears_content.take() {
            // Not re-added if it left the chain: its watch is gone.
            if self.directories.contains_key(&dir) {
                let _ = self.watches.add(&dir, DIRECTORY_EVENTS);
            }
        }
        if let Some(dir) = wanted {
            if self.watches.add(&dir, DIRECTORY_AND_CONTENT_EVENTS).is_ok() {
                self.hears_content = Some(dir);
            }
        }
    }

    fn watches_a_directory(&self, descriptor: &WatchDescriptor) -> bool {
        self.directories.values().any(|watch| watch == descriptor)
    }

    /// Asks again for the events of the directory watch `descriptor`, after
    /// an add on the same inode replaced them.
    fn restore_directory_watch(&mut self, descriptor: &WatchDescriptor) {
        // The OS keeps one set of events per inode, whichever path names
        // it: one add, with the content's events if any path to this
        // directory is the one that hears the content.
        let hears_content = self
            .directories_watched_by(descriptor)
            .any(|dir| self.hears_content.as_ref() == Some(dir));
        let Some(dir) = self.directories_watched_by(descriptor).next().cloned() else {
            return;
        };
        let events = if hears_content {
            DIRECTORY_AND_CONTENT_EVENTS
        } else {
            DIRECTORY_EVENTS
        };
        // Same inode, same descriptor: only its events change.
        let _ = self.watches.add(&dir, events);
    }

    /// What `event` means for the watch, `path` being the watched path.
    fn classify(&self, event: &Event<&OsStr>, path: &Path) -> EventMeaning {
        let mut meaning = EventMeaning::default();
        if event.mask.contains(EventMask::Q_OVERFLOW) {
            // Events were lost, links included: look at the chain afresh.
            meaning.rechain = true;
            meaning.signal = Some(Signal::Ongoing(PendingChange::of(ChangeKind::Rescan)));
            return meaning;
        }
        if self
            .inode
            .as_ref()
            .is_some_and(|inode| inode.descriptor == event.wd)
        {
            // A file's watch never names an entry: one that does is on a
            // directory, whose entries are not the file.
            if event.name.is_none() {
                meaning.signal = self.content_signal(Heard::ThroughTheInode, event.mask, path);
            }
            return meaning;
        }
        if !self.watches_a_directory(&event.wd) {
            // A watch that was moved away: an old inode, a directory no
            // longer on the chain.
            return meaning;
        }
        if event.mask.contains(EventMask::DELETE_SELF) {
            let removed = self.directories_watched_by(&event.wd).next();
            meaning.failure = removed.map(|dir| directory_removed(dir));
            return meaning;
        }
        let Some(name) = event.name else {
            return meaning;
        };
        let entry = self.chain.iter().find(|entry| {
            entry.name.as_os_str() == name && self.directories.get(&entry.dir) == Some(&event.wd)
        });
        if let Some(entry) = entry {
            let is_link = entry.is_link;
            if event.mask.intersects(ARRIVED.union(WENT)) {
                // The entry itself came or went: the chain may lead
                // elsewhere now (a swapped link, a replaced file).
                meaning.rechain = true;
                meaning.signal = if is_link {
                    signal_for_link(event.mask)
                } else {
                    signal_for(event.mask)
                };
            } else if !is_link {
                meaning.signal = self.content_signal(Heard::ThroughTheDirectory, event.mask, path);
                // With no inode watch, a metadata change may be the one
                // that lets the server read the file (`chmod +r`): try
                // again to place it.
                meaning.rechain = self.inode.is_none() && event.mask.contains(EventMask::ATTRIB);
            }
            return meaning;
        }
        if event.mask.contains(EventMask::DELETE) {
            let chain_dirs = self.chain_dirs();
            meaning.failure = self
                .directories_watched_by(&event.wd)
                .map(|dir| dir.join(name))
                .find(|child| chain_dirs.contains(child))
                .map(|child| directory_removed(&child));
        }
        meaning
    }

    /// The watched directories whose watch is `descriptor` (two paths to
    /// one directory share it).
    fn directories_watched_by<'a>(
        &'a self,
        descriptor: &'a WatchDescriptor,
    ) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.directories
            .iter()
            .filter(move |(_, watch)| *watch == descriptor)
            .map(|(dir, _)| dir)
    }

    /// The signal of an event about the file's content (its data, its
    /// metadata, a writer's close), heard through `heard`, if it counts.
    // ANCHOR: content_signal
    fn content_signal(&self, heard: Heard, mask: EventMask, path: &Path) -> Option<Signal> {
        let counts = match (&self.inode, heard) {
            // The inode's watch hears every change to the file, through any
            // name. Events are read in the order they were made, so one read
            // before the event of a change of the name was made to the
            // watched file and counts, though the name has moved since. But
            // a removal, or a rename over the name, first tells the inode
            // that it lost a link: a metadata event counts only while the
            // name still leads to that inode.
            (Some(inode), Heard::ThroughTheInode) => {
                !mask.contains(EventMask::ATTRIB)
                    || Snapshot::of(path).is_some_and(|seen| seen.identity() == inode.identity)
            }
            // So the directory's report of a change is a second copy (or the
            // report of a write to a replaced file, through a descriptor
            // still open). A writer's close is kept: it changes nothing by
            // itself, but ends an operation whose writes the inode watch,
            // placed a moment too late, did not hear.
            (Some(_), Heard::ThroughTheDirectory) => mask == EventMask::CLOSE_WRITE,
            // No inode watch (the file is missing, or may not be read): the
            // directory's report is all there is.
            (None, heard) => heard == Heard::ThroughTheDirectory,
        };
        if counts { signal_for(mask) } else { None }
    }
    // ANCHOR_END: content_signal

    /// Turns the settler's decision into the change to report, if any.
    fn judge(&mut self, decision: Decision, path: &Path) -> Option<Change> {
        let Decision::Notify(pending) = decision else {
            return None;
        };
        let seen = Snapshot::of(path);
        if pending.metadata_only && seen.is_some() && seen == self.last_seen {
            // Only metadata events, and nothing `stat` shows has changed: a
            // `chmod` to the mode the file already had, as editors do after
            // a save that was already notified; a hard link made or removed
            // elsewhere.
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

fn directory_removed(dir: &Path) -> String {
    format!(
        "the directory {} was removed; changes can no longer be seen until the watch is placed again",
        dir.display()
    )
}

/// The keeper task: fires the settler's deadlines. It ends when the
/// [`FileWatch`] is dropped (`stop`).
async fn keep(live: Arc<LiveWatch>, mut stop: oneshot::Receiver<()>) {
    loop {
        let deadline = live.state().settler.deadline();
        tokio::select! {
            _ = &mut stop => return,
            // `notify_one` leaves a permit when nobody waits, so a wake-up
            // sent while this task was busy above is not lost.
            () = live.keeper.notified() => {}
            () = sleep_until(deadline), if deadline.is_some() => {
                let mut state = live.state();
                let decision = state.settler.on_deadline(Instant::now());
                let change = state.judge(decision, live.target.absolute());
                drop(state);
                if let Some(change) = change {
                    (live.report)(Ok(change));
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
    use pretty_assertions::assert_eq;

    /// A watch state for `target.txt` in a fresh directory, its watches
    /// placed on a real inotify instance, whose events the tests read or
    /// feed by hand.
    struct Watched {
        _dir: tempfile::TempDir,
        inotify: Inotify,
        root: PathBuf,
        target: Target,
        state: WatchState,
    }

    impl Watched {
        fn new() -> Self {
            Watched::with(|root| {
                std::fs::write(root.join("target.txt"), "").unwrap();
                root.join("target.txt")
            })
        }

        /// Watches the path `layout` makes in a fresh directory.
        fn with(layout: impl FnOnce(&Path) -> PathBuf) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().canonicalize().unwrap();
            let target = Target::new(layout(&root)).unwrap();
            let inotify = Inotify::init().unwrap();
            let mut state = WatchState::new(inotify.watches(), settle::DEFAULT_WINDOW, None);
            state.rechain(&target).unwrap();
            Watched {
                _dir: dir,
                inotify,
                root,
                target,
                state,
            }
        }

        fn directory_watch(&self) -> WatchDescriptor {
            self.state.directories[&self.root].clone()
        }

        fn inode_watch(&self) -> WatchDescriptor {
            let inode = self.state.inode.as_ref().expect("an inode watch");
            inode.descriptor.clone()
        }

        fn classify(&self, event: Event<&OsStr>) -> EventMeaning {
            self.state.classify(&event, self.target.absolute())
        }

        fn rechain(&mut self) {
            self.state.rechain(&self.target.clone()).unwrap();
        }

        /// The watches the OS queued an event for since the last look (the
        /// OS queues them before the system call that caused them returns).
        fn reporting_watches(&mut self) -> Vec<WatchDescriptor> {
            self.queued_events()
                .into_iter()
                .map(|(watch, _)| watch)
                .collect()
        }

        /// The events the OS queued since the last look: which watch, and
        /// what.
        fn queued_events(&mut self) -> Vec<(WatchDescriptor, EventMask)> {
            let mut buffer = [0_u8; 4096];
            match self.inotify.read_events(&mut buffer) {
                Ok(events) => events.map(|event| (event.wd, event.mask)).collect(),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Vec::new(),
                Err(error) => panic!("reading the queue failed: {error}"),
            }
        }
    }

    fn event(wd: WatchDescriptor, mask: EventMask, name: Option<&str>) -> Event<&OsStr> {
        Event {
            wd,
            mask,
            cookie: 0,
            name: name.map(OsStr::new),
        }
    }

    fn modified() -> Option<Signal> {
        Some(Signal::Ongoing(PendingChange::of(ChangeKind::Modified)))
    }

    #[test]
    fn a_lost_events_flag_is_a_change_and_a_reason_to_look_at_the_chain_again() {
        let watched = Watched::new();
        // The kernel's overflow event carries no watch of ours (wd -1); the
        // mask alone says what it is.
        let any = watched.directory_watch();
        let meaning = watched.classify(event(any, EventMask::Q_OVERFLOW, None));
        assert_eq!(
            meaning.signal,
            Some(Signal::Ongoing(PendingChange::of(ChangeKind::Rescan)))
        );
        assert!(
            meaning.rechain,
            "after lost events the chain must be resolved again"
        );
    }

    #[test]
    fn an_event_about_another_name_in_the_directory_is_nothing() {
        let watched = Watched::new();
        let directory = watched.directory_watch();
        let meaning = watched.classify(event(directory, EventMask::MODIFY, Some("target.txt.swp")));
        assert_eq!(meaning.signal, None);
        assert!(
            !meaning.rechain && meaning.failure.is_none(),
            "a neighbour's event should change nothing, got {meaning:?}"
        );
    }

    #[test]
    fn the_removal_of_the_watched_directory_is_a_failure_that_says_so() {
        let watched = Watched::new();
        let directory = watched.directory_watch();
        let failure = watched
            .classify(event(directory, EventMask::DELETE_SELF, None))
            .failure
            .expect("a failure");
        let expected = format!("the directory {} was removed", watched.root.display());
        assert!(failure.contains(&expected), "{failure}");
    }

    #[test]
    fn the_removal_of_a_directory_on_the_chain_seen_from_its_parent_is_a_failure() {
        // `link.txt -> sub/target.txt`: the link's directory is watched too,
        // and hears `sub` go.
        let watched = Watched::with(|root| {
            std::fs::create_dir(root.join("sub")).unwrap();
            std::fs::write(root.join("sub/target.txt"), "").unwrap();
            std::os::unix::fs::symlink("sub/target.txt", root.join("link.txt")).unwrap();
            root.join("link.txt")
        });
        let parent = watched.directory_watch();
        let failure = watched
            .classify(event(
                parent,
                EventMask::DELETE | EventMask::ISDIR,
                Some("sub"),
            ))
            .failure
            .expect("a failure");
        let expected = format!(
            "the directory {} was removed",
            watched.root.join("sub").display()
        );
        assert!(failure.contains(&expected), "{failure}");
    }

    #[test]
    fn a_missing_file_keeps_the_os_error_as_its_source() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let error = Target::new(dir.path().join("missing.txt")).unwrap_err();
        let source = error
            .source()
            .and_then(|source| source.downcast_ref::<io::Error>())
            .expect("the OS's error as the source");
        assert_eq!(source.kind(), io::ErrorKind::NotFound);
        assert!(
            error.to_string().ends_with(&format!(": {source}")),
            "the sentence shows the OS's words: {error}"
        );
    }

    #[test]
    fn a_directory_is_refused_with_no_os_error_behind_it() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let error = Target::new(dir.path()).unwrap_err();
        assert!(error.source().is_none(), "{error:?}");
        assert!(error.to_string().contains("it is a directory"), "{error}");
    }

    #[test]
    fn an_os_error_told_in_the_watchs_words_is_still_its_source() {
        let error = io::Error::from_raw_os_error(libc::ENOENT);
        let failure = describe_watch_error(error, Path::new("/nowhere"));
        assert_eq!(failure.to_string(), "the directory /nowhere does not exist");
        let WatchFailure::Os { error, .. } = failure else {
            panic!("an OS failure: {failure:?}");
        };
        assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn reaching_the_os_limit_on_watches_is_explained() {
        let error = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let message = describe_watch_error(error, Path::new("/nowhere")).to_string();
        assert!(message.contains("fs.inotify.max_user_watches"), "{message}");
    }

    #[test]
    fn the_files_content_is_taken_from_its_inode_watch_alone() {
        let watched = Watched::new();
        let (directory, inode) = (watched.directory_watch(), watched.inode_watch());
        let from_the_directory =
            watched.classify(event(directory, EventMask::MODIFY, Some("target.txt")));
        let from_the_inode = watched.classify(event(inode, EventMask::MODIFY, None));
        assert_eq!(
            (from_the_directory.signal, from_the_inode.signal),
            (None, modified()),
            "expected (the directory's report, the inode's) of one write"
        );
    }

    #[test]
    fn a_writers_close_heard_through_the_directory_still_ends_an_operation() {
        let watched = Watched::new();
        let directory = watched.directory_watch();
        let meaning =
            watched.classify(event(directory, EventMask::CLOSE_WRITE, Some("target.txt")));
        assert_eq!(meaning.signal, Some(Signal::Finished(None)));
    }

    #[test]
    fn without_an_inode_watch_the_directory_reports_the_content() {
        let mut watched = Watched::new();
        let inode = watched.state.inode.take().expect("an inode watch");
        let _ = watched.state.watches.remove(inode.descriptor);
        let directory = watched.directory_watch();
        let meaning = watched.classify(event(directory, EventMask::MODIFY, Some("target.txt")));
        assert_eq!(meaning.signal, modified());
    }

    #[test]
    fn the_inode_watch_moves_to_the_file_renamed_over_the_name() {
        let mut watched = Watched::new();
        let before = watched.inode_watch();
        let mut still_open = std::fs::OpenOptions::new()
            .append(true)
            .open(watched.target.absolute())
            .unwrap();
        let saved = watched.root.join(".target.txt.tmp");
        std::fs::write(&saved, "saved").unwrap();
        let new_inode = std::fs::metadata(&saved).unwrap().ino();
        std::fs::rename(&saved, watched.target.absolute()).unwrap();

        let directory = watched.directory_watch();
        let meaning = watched.classify(event(directory, EventMask::MOVED_TO, Some("target.txt")));
        assert!(meaning.rechain, "a rename onto the name moves the watches");
        watched.rechain();

        let after = watched.state.inode.as_ref().expect("an inode watch");
        assert_ne!(after.descriptor, before, "expected a new inode watch");
        assert_eq!(after.identity.1, new_inode, "expected it on the new file");
        let from_the_old_file = watched.classify(event(before.clone(), EventMask::MODIFY, None));
        assert_eq!(
            from_the_old_file.signal, None,
            "a write to the replaced file is not a change"
        );
        watched.reporting_watches();
        std::io::Write::write_all(&mut still_open, b"to the replaced file").unwrap();
        assert!(
            !watched.reporting_watches().contains(&before),
            "expected the replaced file's watch to be removed"
        );
    }

    #[test]
    fn rechaining_keeps_the_watches_it_still_needs() {
        let mut watched = Watched::new();
        let (directory, inode) = (watched.directory_watch(), watched.inode_watch());
        watched.rechain();
        assert_eq!(
            (watched.directory_watch(), watched.inode_watch()),
            (directory.clone(), inode.clone())
        );
        watched.reporting_watches();
        std::fs::write(watched.target.absolute(), "written").unwrap();
        let reporting = watched.reporting_watches();
        assert!(
            reporting.contains(&directory) && reporting.contains(&inode),
            "expected both watches to hear a write after rechaining"
        );
    }

    #[test]
    fn a_directory_removed_before_the_chain_is_resolved_again_is_still_reported() {
        // `rm -r sub`: the file's removal moves the watches, and by then
        // `sub` may be gone too; its own removal event is still queued.
        let mut watched = Watched::with(|root| {
            std::fs::create_dir(root.join("sub")).unwrap();
            std::fs::write(root.join("sub/target.txt"), "").unwrap();
            root.join("sub/target.txt")
        });
        let sub = watched.root.join("sub");
        let descriptor = watched.state.directories[&sub].clone();
        std::fs::remove_dir_all(&sub).unwrap();
        watched.rechain();
        let failure = watched
            .classify(event(descriptor, EventMask::DELETE_SELF, None))
            .failure;
        assert!(
            failure.is_some_and(|failure| failure.contains("was removed")),
            "expected the removal of sub/ to be reported"
        );
    }

    #[test]
    fn a_directory_no_longer_on_the_chain_loses_its_watch() {
        let mut watched = Watched::with(|root| {
            std::fs::create_dir(root.join("sub")).unwrap();
            std::fs::write(root.join("sub/target.txt"), "").unwrap();
            std::os::unix::fs::symlink("sub/target.txt", root.join("link.txt")).unwrap();
            root.join("link.txt")
        });
        let sub = watched.state.directories[&watched.root.join("sub")].clone();
        std::fs::write(watched.root.join("other.txt"), "").unwrap();
        std::fs::remove_file(watched.root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink("other.txt", watched.root.join("link.txt")).unwrap();
        watched.rechain();

        watched.reporting_watches();
        std::fs::write(watched.root.join("sub/target.txt"), "written").unwrap();
        assert!(
            !watched.reporting_watches().contains(&sub),
            "expected the watch on sub/ to be removed"
        );
        assert!(
            watched.state.directories.contains_key(&watched.root),
            "expected the link's directory to stay watched"
        );
    }

    #[test]
    fn an_inode_event_counts_only_while_the_name_leads_to_that_inode() {
        let watched = Watched::new();
        let inode = watched.inode_watch();
        // `rm target.txt`: the inode hears that it lost a link, before the
        // directory hears that the name is gone.
        std::fs::remove_file(watched.target.absolute()).unwrap();
        let meaning = watched.classify(event(inode, EventMask::ATTRIB, None));
        assert_eq!(meaning.signal, None);
    }

    /// A save renames a new file over the name; the old file's write and
    /// lost link, queued before the rename's own event, are read after it
    /// happened.
    fn saved_over(watched: &Watched) {
        let saved = watched.root.join(".target.txt.tmp");
        std::fs::write(&saved, "saved").unwrap();
        std::fs::rename(&saved, watched.target.absolute()).unwrap();
    }

    #[test]
    fn a_write_heard_through_the_inode_counts_though_read_after_the_name_moved() {
        let watched = Watched::new();
        let inode = watched.inode_watch();
        saved_over(&watched);
        let meaning = watched.classify(event(inode, EventMask::MODIFY, None));
        assert_eq!(meaning.signal, modified(), "a write made before the save");
    }

    #[test]
    fn a_lost_link_heard_after_the_name_moved_to_another_file_does_not_count() {
        let watched = Watched::new();
        let inode = watched.inode_watch();
        saved_over(&watched);
        let meaning = watched.classify(event(inode, EventMask::ATTRIB, None));
        assert_eq!(meaning.signal, None);
    }

    #[test]
    fn an_event_naming_an_entry_is_nothing_when_heard_through_the_inode_watch() {
        let watched = Watched::new();
        let inode = watched.inode_watch();
        let meaning = watched.classify(event(inode, EventMask::MODIFY, Some("child.txt")));
        assert_eq!(meaning.signal, None);
    }

    #[test]
    fn a_directory_watch_whose_events_were_replaced_gets_them_back() {
        let mut watched = Watched::new();
        let directory = watched.directory_watch();
        // What an inode watch added on the same directory does.
        let replaced = watched
            .state
            .watches
            .add(&watched.root, FILE_EVENTS)
            .unwrap();
        assert_eq!(replaced, directory, "one watch per inode");
        watched.state.restore_directory_watch(&directory);
        watched.reporting_watches();
        // Only a name's event: no write, no close, which the replaced
        // events would hear too.
        std::fs::create_dir(watched.root.join("new")).unwrap();
        assert!(
            watched.reporting_watches().contains(&directory),
            "expected the directory's watch to hear an entry created in it"
        );
        // And the events it had, no more: with the inode watch placed, the
        // file's writes are the inode's to hear.
        std::fs::write(watched.target.absolute(), "written").unwrap();
        assert!(
            !watched
                .queued_events()
                .contains(&(directory, EventMask::MODIFY)),
            "expected the restored directory watch not to ask for the file's writes"
        );
    }

    #[test]
    fn a_writers_unread_writes_are_one_event_in_the_queue() {
        // The OS merges an event with an identical one queued just before
        // it; the directory's copies of each write would come between.
        let mut watched = Watched::new();
        let mut writer = std::fs::OpenOptions::new()
            .append(true)
            .open(watched.target.absolute())
            .unwrap();
        watched.reporting_watches();
        for _ in 0..1000 {
            std::io::Write::write_all(&mut writer, b"x").unwrap();
        }
        assert_eq!(
            watched.queued_events(),
            [(watched.inode_watch(), EventMask::MODIFY)]
        );
    }

    #[test]
    fn the_directory_asks_for_the_content_only_while_there_is_no_inode_watch() {
        let mut watched = Watched::new();
        let directory = watched.directory_watch();
        let heard_a_write = |events: Vec<(WatchDescriptor, EventMask)>| {
            events.contains(&(directory.clone(), EventMask::MODIFY))
        };
        std::fs::remove_file(watched.target.absolute()).unwrap();
        watched.rechain();
        watched.reporting_watches();
        std::fs::write(watched.target.absolute(), "back").unwrap();
        assert!(
            heard_a_write(watched.queued_events()),
            "with no inode watch, the directory hears writes"
        );
        watched.rechain();
        std::fs::write(watched.target.absolute(), "written").unwrap();
        assert!(
            !heard_a_write(watched.queued_events()),
            "with an inode watch, it does not"
        );
    }

    #[test]
    fn no_inode_watch_is_placed_on_a_directory_made_in_the_files_place() {
        // The other guards drop what such a watch would hear (events that
        // name an entry, a directory watch replaced), so only here can a
        // test see that the OS's watch is not spent on it.
        let mut watched = Watched::new();
        std::fs::remove_file(watched.target.absolute()).unwrap();
        std::fs::create_dir(watched.target.absolute()).unwrap();
        watched.rechain();
        assert!(
            watched.state.inode.is_none(),
            "expected no inode watch on a directory at the file's name"
        );
    }

    #[test]
    fn with_an_inode_watch_a_metadata_change_heard_through_the_directory_changes_no_watch() {
        let watched = Watched::new();
        let directory = watched.directory_watch();
        let meaning = watched.classify(event(directory, EventMask::ATTRIB, Some("target.txt")));
        assert!(
            !meaning.rechain,
            "expected no new try at an inode watch already placed"
        );
    }

    #[test]
    fn with_no_inode_watch_a_metadata_change_is_a_reason_to_try_again() {
        // `chmod +r target.txt` on a file the server could not read.
        let mut watched = Watched::new();
        let inode = watched.state.inode.take().expect("an inode watch");
        let _ = watched.state.watches.remove(inode.descriptor);
        let directory = watched.directory_watch();
        let meaning = watched.classify(event(directory, EventMask::ATTRIB, Some("target.txt")));
        assert!(meaning.rechain, "expected another try at the inode watch");
        watched.rechain();
        assert!(watched.state.inode.is_some(), "expected an inode watch");
    }

    #[test]
    fn a_failure_of_the_inode_watch_is_told_once() {
        let mut watched = Watched::new();
        let limit_reached = || io::Error::from_raw_os_error(libc::ENOSPC);
        let file = watched.target.absolute().to_owned();
        watched.state.inode_watch_failed(limit_reached(), &file);
        let told = watched
            .state
            .untold_failure
            .take()
            .expect("a failure to tell")
            .to_string();
        assert!(told.contains("max_user_watches"), "{told}");
        watched.state.inode_watch_failed(limit_reached(), &file);
        assert!(watched.state.untold_failure.is_none(), "told once");
        // Placed again, then failing again: told again.
        let inode = watched.state.inode.take().expect("an inode watch");
        let _ = watched.state.watches.remove(inode.descriptor);
        watched.rechain();
        watched.state.inode_watch_failed(limit_reached(), &file);
        assert!(watched.state.untold_failure.is_some(), "a new failure");
    }

    #[tokio::test]
    async fn lost_events_reach_the_report_as_a_rescan() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("target.txt"), "").unwrap();
        let target = Target::new(dir.path().join("target.txt")).unwrap();
        let (reports, mut reported) = tokio::sync::mpsc::unbounded_channel();
        let watch = FileWatch::start(&target, settle::DEFAULT_WINDOW, move |report| {
            let _ = reports.send(report);
        })
        .unwrap();
        // What the reader thread hands on when the kernel's queue overflowed
        // (overflowing it for real takes some 16,000 events).
        let any = watch.live.state().directories.values().next().cloned();
        let overflow = event(any.expect("a watch"), EventMask::Q_OVERFLOW, None);
        watch.live.on_event(&overflow);
        let report = tokio::time::timeout(Duration::from_secs(10), reported.recv())
            .await
            .expect("a report within 10 s")
            .expect("the watch still reporting");
        let change = report.expect("a change, not a failure");
        assert_eq!(change.kind, ChangeKind::Rescan);
    }

    #[test]
    fn a_missing_file_has_no_inode_watch_until_it_is_back() {
        let mut watched = Watched::new();
        std::fs::remove_file(watched.target.absolute()).unwrap();
        watched.rechain();
        assert!(watched.state.inode.is_none(), "no file, no inode watch");
        std::fs::write(watched.target.absolute(), "back").unwrap();
        watched.rechain();
        assert!(
            watched.state.inode.is_some(),
            "expected an inode watch again"
        );
    }

    /// Waits until only `live`'s own handle is left: the reader thread and
    /// the keeper task have let go of the watch.
    async fn expect_let_go(live: &Arc<LiveWatch>, what: &str) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while Arc::strong_count(live) > 1 {
                // Nothing announces a handle's drop: looking is the signal.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("expected {what} within 10 s"));
    }

    #[tokio::test]
    async fn dropping_the_watch_ends_its_thread_and_its_task() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("target.txt"), "").unwrap();
        let target = Target::new(dir.path().join("target.txt")).unwrap();
        let watch = FileWatch::start(&target, Duration::ZERO, |_| {}).unwrap();
        let live = Arc::clone(&watch.live);
        drop(watch);
        expect_let_go(
            &live,
            "the reader thread and the keeper task to let go of the watch",
        )
        .await;
    }

    #[tokio::test]
    async fn dropping_the_watch_ends_its_thread_while_a_writer_keeps_writing() {
        /// Stops the writer when the test ends, passed or not.
        struct WriterStopper(Arc<AtomicBool>);
        impl Drop for WriterStopper {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.txt");
        std::fs::write(&path, "").unwrap();
        let target = Target::new(&path).unwrap();
        // A report slower than the writer's appends: the queue is never
        // empty, as with a busy log file and a loaded machine. (A sleep as
        // the cost of a report, not a wait for anything.)
        let watch = FileWatch::start(&target, Duration::ZERO, |_| {
            std::thread::sleep(Duration::from_millis(1));
        })
        .unwrap();
        let live = Arc::clone(&watch.live);
        let stop = WriterStopper(Arc::new(AtomicBool::new(false)));
        let writing = Arc::clone(&stop.0);
        let (started, has_started) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            while !writing.load(Ordering::Acquire) {
                // Opened and closed each time: the write's and the close's
                // events alternate, so the OS cannot merge them in the queue.
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                std::io::Write::write_all(&mut file, b"a log line\n").unwrap();
                let _ = started.send(());
            }
        });
        has_started.recv().unwrap();
        drop(watch);
        expect_let_go(
            &live,
            "the reader thread to end though the writer still writes",
        )
        .await;
        drop(stop);
        writer.join().unwrap();
    }
}
