//! One OS watch, shared by every subscriber, and the fan-out of each change.
//!
//! The book's server calls `fs.watch` once per connection: a thousand
//! subscribers cost a thousand OS watches, each reporting the same change.
//! Here a [`Notifier`] owns a single [`FileWatch`]. It is placed when the
//! first subscriber arrives and released when the last one leaves, as the
//! práctica says. (Chapters 1 and 9.)
//!
//! ## Only the latest change matters
//!
//! A notification says "the file changed at T". If a subscriber has not yet
//! taken the previous one when the next arrives, only the latest matters. So
//! the notifier keeps one value, the latest [`Notification`], in one cell (a
//! mutex around it), and nothing queues per subscriber: a slow reader costs
//! no memory, and storing a change is one store whatever the number of
//! subscribers. Each notification is rendered to bytes once, in the
//! server's protocol, and every subscriber writes the same shared bytes.
//!
//! ## The fast road
//!
//! The first design woke every subscriber's task through a
//! [`tokio::sync::watch`] channel, and a task may run on another thread
//! than the one that learnt of the change: a thread wake-up, which on a
//! small virtual machine cost more than everything else on the road, and
//! for ten thousand subscribers ten thousand wake-ups per change. Now the
//! notifier keeps every greeted subscriber's [`Outbox`] and, right after
//! storing the latest value, offers the line to each on the publishing
//! thread. Only subscribers whose socket could not take it have their task
//! woken; they then read the latest value from the cell. See
//! [`crate::connection`] for how the two roads share a socket.
//!
//! The publishing thread is whichever hands the notifier its change: for a
//! watcher, the OS watch's reader thread (or its keeper task, for a change
//! that waited out the settle window; see [`FileWatch::start`]); for an
//! edge, its stream reader.
//! The offers are non-blocking writes, but there is one per greeted
//! subscriber, and that thread hears nothing new until they are done: at
//! ten thousand subscribers, the last had the change 49 to 52 ms after it
//! was made, with a helper sharing the writes (`BENCHMARKS.md`).
//!
//! ## Every core sends
//!
//! Past [`SPLIT_FAN_OUT_AT`] greeted subscribers, helper tasks on tokio's
//! workers join the publishing thread: one per core beyond the first
//! ([`std::thread::available_parallelism`]), so that every core sends, and
//! none on a single core. The table of outboxes is cut into [`SHARDS`]
//! shards, and each thread takes the next shard not yet taken until none is
//! left: a thread that starts late (a helper must be woken) or is held up
//! (the cores are shared with everything else) simply takes fewer, and none
//! waits for another.
//!
//! Where the split pays, as measured on the project's 2-core machine
//! (`BENCHMARKS.md`; the two figures come from different runs): at 1,000
//! subscribers, everyone had the change in 0.43 to 0.45 of the Node
//! server's time with one helper, against 0.58 without.
//! Below the split point the publishing thread writes alone: at 100
//! subscribers it notified all of them in about 0.8 ms (p50), and waking a
//! helper is a hand-off between threads, about 200 µs on that machine (see
//! the crate docs), which would buy little. The point itself, 256, was
//! chosen between those measurements, not measured on its own.
//!
//! ## Where changes come from
//!
//! A watcher's notifier ([`Notifier::new`]) takes its changes from an OS
//! watch on a file. An edge server's ([`Notifier::fed`], chapter 12) takes
//! them from whoever holds its [`Feed`]: a reader of a Redis stream. From
//! [`Feed::publish`] on, the road is the same, and no subscriber can tell
//! the two apart.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use jiff::tz::TimeZone;

use crate::console::{Console, ConsoleEvent};
use crate::lock::lock;
use crate::protocol::{Message, Protocol};
use crate::watching::{Change, FileWatch, Target, WatchError};

/// The latest change, rendered for the wire.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Counts notifications since the server started; 0 means none yet.
    pub seq: u64,
    /// The line every subscriber writes, in the server's protocol.
    pub line: Arc<[u8]>,
    /// The change the line tells of (`None` before the first): for a
    /// subscriber that passes changes on rather than write the line (a
    /// stream publisher, chapter 12).
    pub change: Option<Change>,
}

/// A subscriber the notifier can write to directly, without waiting.
pub trait Outbox: Send + Sync {
    /// Delivers `notification` now if that needs no waiting; anything not
    /// delivered here is the subscriber's task's to deliver.
    fn offer(&self, notification: &Notification);
    /// Wakes the subscriber's task (to notice shutdown).
    fn wake(&self);
}

/// Fans out the changes of one file (from an OS watch on a [`Target`], or
/// handed in through a [`Feed`]) to every [`Subscription`]. Cheap to clone;
/// clones share one state, and one OS watch.
#[derive(Debug, Clone)]
pub struct Notifier {
    state: Arc<NotifierState>,
}

/// What every handle on one notifier shares: [`Notifier`]'s clones, its
/// [`Feed`], every [`Subscription`], the OS watch's callback (weakly) and
/// the helper tasks (weakly).
#[derive(Debug)]
struct NotifierState {
    source: Source,
    protocol: Protocol,
    /// The zone plain-text notifications are dated in.
    zone: TimeZone,
    console: Console,
    /// The file's name, as the greeting gives it.
    file: String,
    greeting: Arc<[u8]>,
    /// The latest notification: read by a subscriber's task when the fast
    /// road could not deliver, and at subscription.
    latest: Mutex<Notification>,
    /// The OS watch, and how many subscribers need it.
    watch: Mutex<SharedWatch>,
    /// Every greeted subscriber, for the fast road, in shards (joined in
    /// turn) so that several threads can write them at once.
    outboxes: [Mutex<Outboxes>; SHARDS],
    /// How many outboxes the shards hold: counted as they come and go, so
    /// that a publish need not lock every shard to know.
    greeted: AtomicUsize,
    next_subscriber: AtomicU64,
    /// How many helper tasks join a split fan-out.
    helpers: usize,
    /// The latest round of offers, for the helpers to join: a watch
    /// channel, since each helper wants the latest round and only that.
    rounds: tokio::sync::watch::Sender<Option<Arc<Round>>>,
    helpers_started: std::sync::Once,
}

/// Where a notifier's changes come from.
#[derive(Debug)]
enum Source {
    /// An OS watch on a file, placed while anyone listens, settling bursts
    /// of events over a window.
    File {
        target: Target,
        settle_window: Duration,
    },
    /// Whoever holds the notifier's [`Feed`].
    Feed,
}

/// Hands changes to a notifier made by [`Notifier::fed`]: an edge server's
/// stream reader holds it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Feed {
    state: Arc<NotifierState>,
}

impl Feed {
    /// Tells every subscriber of the notifier about `change`, exactly as an
    /// OS watch's report would: the offers to every greeted subscriber's
    /// socket are made here, on the caller's thread.
    pub fn publish(&self, change: Change) {
        self.state.publish(change);
    }
}

/// One shard of the fan-out's table: a slab. Each subscriber keeps its slot,
/// so leaving is one store, and an offer walks a plain vector. (A `HashMap`
/// keyed by subscriber number cost about 25 bytes a bucket, its table
/// doubling in steps: with slabs, an idle subscriber at 1,000 takes 959–996
/// bytes of RSS instead of 1041–1066.)
#[derive(Debug, Default)]
struct Outboxes {
    slots: Vec<Option<Arc<dyn Outbox>>>,
    /// Empty slots, reused before the vector grows.
    free: Vec<usize>,
}

impl Outboxes {
    fn insert(&mut self, outbox: Arc<dyn Outbox>) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(outbox);
                slot
            }
            None => {
                self.slots.push(Some(outbox));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        self.slots[slot] = None;
        self.free.push(slot);
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<dyn Outbox>> {
        self.slots.iter().flatten()
    }
}

/// From this many greeted subscribers on, the fan-out is split: helper
/// tasks, on tokio's workers, take shards alongside the thread that
/// publishes. Below it, waking a helper (a thread wake-up) costs about as
/// much as the writes it would take over (see the module docs).
pub const SPLIT_FAN_OUT_AT: usize = 256;

/// How many helper tasks join a split fan-out on a machine with `cores`
/// cores: one per core beyond the publishing thread's, and at most one per
/// shard beyond the first.
fn helpers_for(cores: usize) -> usize {
    cores.saturating_sub(1).min(SHARDS - 1)
}

/// How many shards the table of outboxes is cut into: enough that the last
/// shard taken is a small part of the whole (at 10,000 subscribers, about
/// 300 writes), few enough that taking one costs nothing next to its writes.
pub const SHARDS: usize = 32;

/// One notification's offers: its shards, taken one at a time by whichever
/// thread comes next.
#[derive(Debug)]
struct Round {
    notification: Notification,
    next_shard: AtomicUsize,
}

impl Round {
    /// Takes shards and offers the notification to their outboxes until
    /// every shard has been taken. Each shard's lock is held through its
    /// offers, so an outbox removed by a leaving subscriber gets no offer
    /// after its removal; joining and leaving wait meanwhile, which is as
    /// short as the writes.
    fn offer(&self, outboxes: &[Mutex<Outboxes>; SHARDS]) {
        loop {
            let shard = self.next_shard.fetch_add(1, Ordering::Relaxed);
            let Some(outboxes) = outboxes.get(shard) else {
                return;
            };
            for outbox in lock(outboxes).iter() {
                outbox.offer(&self.notification);
            }
        }
    }
}

impl std::fmt::Debug for dyn Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

/// The one OS watch every subscriber shares: placed by the first, released
/// by the last.
#[derive(Debug, Default)]
struct SharedWatch {
    subscribers: usize,
    /// The OS watch, while anyone listens (never, for a fed notifier).
    placed: Option<FileWatch>,
    /// Bumped each time an OS watch is placed, so that a report still in
    /// flight from a released watch is recognised and dropped.
    generation: u64,
}

impl SharedWatch {
    /// A new generation number, for an OS watch about to be placed.
    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }
}

impl NotifierState {
    fn watch(&self) -> MutexGuard<'_, SharedWatch> {
        lock(&self.watch)
    }

    fn publish(&self, change: Change) {
        let message = Message::Changed {
            timestamp: change.timestamp,
        };
        let line: Arc<[u8]> = self
            .protocol
            .render(&message, &self.zone)
            .into_bytes()
            .into();
        let notification = {
            let mut latest = lock(&self.latest);
            latest.seq += 1;
            latest.line = line;
            latest.change = Some(change);
            latest.clone()
        };
        // The fast road: one round of offers over every shard, which the
        // helpers join once there are enough subscribers to share.
        let round = Arc::new(Round {
            notification,
            next_shard: AtomicUsize::new(0),
        });
        // (With no helpers, on one core, the round waits in the channel
        // for nobody: a store, no wake-up.)
        if self.greeted.load(Ordering::Relaxed) >= SPLIT_FAN_OUT_AT {
            self.rounds.send_replace(Some(Arc::clone(&round)));
        }
        round.offer(&self.outboxes);
    }
}

impl Notifier {
    /// A notifier for `target`, speaking `protocol` (plain text dates each
    /// change in `zone`; see [`crate::protocol::reader_time_zone`]),
    /// settling bursts of OS events over `settle_window` (see
    /// [`crate::watching::settle`]). No OS watch is placed until the first
    /// [`Notifier::subscribe`].
    pub fn new(
        target: Target,
        protocol: Protocol,
        zone: TimeZone,
        settle_window: Duration,
        console: Console,
    ) -> Self {
        let file = target.as_typed().to_owned();
        Self::with_source(
            Source::File {
                target,
                settle_window,
            },
            &file,
            protocol,
            zone,
            console,
        )
    }

    // ANCHOR: fed
    /// A notifier with no OS watch, whose changes are handed to it through
    /// the returned [`Feed`]; its greeting names `file`. An edge server's
    /// (chapter 12): `file` is the name the publisher gave.
    pub fn fed(file: &str, protocol: Protocol, zone: TimeZone, console: Console) -> (Self, Feed) {
        let notifier = Self::with_source(Source::Feed, file, protocol, zone, console);
        let feed = Feed {
            state: Arc::clone(&notifier.state),
        };
        (notifier, feed)
    }
    // ANCHOR_END: fed

    fn with_source(
        source: Source,
        file: &str,
        protocol: Protocol,
        zone: TimeZone,
        console: Console,
    ) -> Self {
        let greeting = protocol
            .render(
                &Message::Watching {
                    file: file.to_owned(),
                },
                &zone,
            )
            .into_bytes()
            .into();
        let latest = Mutex::new(Notification {
            seq: 0,
            line: Arc::from(&b""[..]),
            change: None,
        });
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Notifier {
            state: Arc::new(NotifierState {
                source,
                protocol,
                zone,
                console,
                file: file.to_owned(),
                greeting,
                latest,
                watch: Mutex::new(SharedWatch::default()),
                outboxes: Default::default(),
                greeted: AtomicUsize::new(0),
                next_subscriber: AtomicU64::new(0),
                helpers: helpers_for(cores),
                rounds: tokio::sync::watch::Sender::new(None),
                helpers_started: std::sync::Once::new(),
            }),
        }
    }

    /// The watched file's name, as the greeting gives it: the path as the
    /// user typed it, or, on an edge, as the publisher named it.
    pub fn file(&self) -> &str {
        &self.state.file
    }

    /// The protocol subscribers are spoken to in.
    pub fn protocol(&self) -> Protocol {
        self.state.protocol
    }

    /// Adds a subscriber, placing the OS watch if it is the first (a fed
    /// notifier has none to place, and never fails).
    ///
    /// When this returns, the watch is in place and the subscription has seen
    /// nothing yet: every change from now on reaches it. Send the greeting
    /// only after this, and no change after the greeting can be missed.
    ///
    /// This may block briefly (placing the watches is a few system calls,
    /// one per directory on the path, and starts the watch's thread and its
    /// keeper task); it happens once per quiet period, not once per
    /// subscriber.
    pub fn subscribe(&self) -> Result<Subscription, WatchError> {
        let mut watch = self.state.watch();
        if let (
            Source::File {
                target,
                settle_window,
            },
            None,
        ) = (&self.state.source, &watch.placed)
        {
            let generation = watch.next_generation();
            // A weak reference: the watch lives inside the state, so a
            // strong one would keep the state alive forever.
            let state: Weak<NotifierState> = Arc::downgrade(&self.state);
            let window = *settle_window;
            let placed = FileWatch::start(target, window, move |report| {
                let Some(state) = state.upgrade() else {
                    return;
                };
                if state.watch().generation != generation {
                    return;
                }
                match report {
                    Ok(change) => state.publish(change),
                    Err(error) => state
                        .console
                        .say(ConsoleEvent::WatchFailed(error.to_string())),
                }
            })?;
            watch.placed = Some(placed);
        }
        watch.subscribers += 1;
        // Read while the lock is held, after the watch is in place: every
        // change the watch reports from now on has a higher number, and is
        // owed to this subscriber.
        let seen_at_start = lock(&self.state.latest).seq;
        drop(watch);
        self.state.helpers_started.call_once(|| {
            for _ in 0..self.state.helpers {
                tokio::spawn(help(
                    Arc::downgrade(&self.state),
                    self.state.rounds.subscribe(),
                ));
            }
        });
        Ok(Subscription {
            shard: (self.state.next_subscriber.fetch_add(1, Ordering::Relaxed) % SHARDS as u64)
                as usize,
            slot: None,
            seen_at_start,
            state: Arc::clone(&self.state),
        })
    }

    /// How many subscriptions are alive.
    pub fn subscriber_count(&self) -> usize {
        self.state.watch().subscribers
    }

    /// Whether the OS watch is in place.
    pub fn is_watching(&self) -> bool {
        self.state.watch().placed.is_some()
    }

    /// Wakes every greeted subscriber's task, so that each notices a
    /// shutdown the server has just signalled.
    pub fn wake_all(&self) {
        for shard in &self.state.outboxes {
            for outbox in lock(shard).iter() {
                outbox.wake();
            }
        }
    }

    /// The latest notification (seq 0 before the first change).
    pub fn latest(&self) -> Notification {
        lock(&self.state.latest).clone()
    }
}

/// One subscriber's view of the notifier. Dropping it unsubscribes, and the
/// last drop releases the OS watch.
#[derive(Debug)]
pub struct Subscription {
    /// Which shard of the fan-out table the subscriber's outbox joins.
    shard: usize,
    /// Its slot there, once attached.
    slot: Option<usize>,
    /// The sequence number current when the subscription began: what the
    /// subscriber has, in effect, already seen.
    seen_at_start: u64,
    state: Arc<NotifierState>,
}

impl Subscription {
    /// The greeting line, in the server's protocol.
    pub fn greeting(&self) -> Arc<[u8]> {
        Arc::clone(&self.state.greeting)
    }

    /// The latest notification (sequence number 0 before any change).
    pub fn latest(&self) -> Notification {
        lock(&self.state.latest).clone()
    }

    /// The sequence number current when the subscription began: nothing up
    /// to it is owed to this subscriber.
    pub fn seen_at_start(&self) -> u64 {
        self.seen_at_start
    }

    /// Registers the subscriber's outbox for the fast road. Call it once the
    /// greeting is written: from then on notifications may be written from
    /// the publishing thread. Attaching again replaces the earlier outbox.
    pub fn attach(&mut self, outbox: Arc<dyn Outbox>) {
        let mut shard = lock(&self.state.outboxes[self.shard]);
        match self.slot.take() {
            Some(slot) => shard.remove(slot),
            None => {
                self.state.greeted.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.slot = Some(shard.insert(outbox));
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            lock(&self.state.outboxes[self.shard]).remove(slot);
            self.state.greeted.fetch_sub(1, Ordering::Relaxed);
        }
        let released = {
            let mut watch = self.state.watch();
            watch.subscribers -= 1;
            if watch.subscribers == 0 {
                watch.placed.take()
            } else {
                None
            }
        };
        // Dropped outside the lock: the watch's report takes this lock, and
        // nothing that stops the watch should hold it. (Dropping a
        // `FileWatch` does not wait for its thread today; were it ever to,
        // a report waiting for this lock would wait forever.)
        drop(released);
    }
}

/// A helper task: joins each new round of offers. It holds the notifier
/// only weakly, and ends once the notifier is gone (with it goes the
/// sending side of `rounds`).
async fn help(
    state: Weak<NotifierState>,
    mut rounds: tokio::sync::watch::Receiver<Option<Arc<Round>>>,
) {
    while rounds.changed().await.is_ok() {
        let round = rounds.borrow_and_update().clone();
        let Some(state) = state.upgrade() else {
            return;
        };
        // A round whose shards are all taken already costs one look.
        if let Some(round) = round {
            round.offer(&state.outboxes);
        }
    }
}

/// For unit tests elsewhere in the crate that need a real notifier.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A notifier on an empty file in a fresh temporary directory, which the
    /// caller keeps alive as long as the notifier.
    pub(crate) fn notifier_on_a_temp_file(protocol: Protocol) -> (tempfile::TempDir, Notifier) {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("target.txt");
        std::fs::write(&file, "").unwrap();
        let notifier = Notifier::new(
            Target::new(&file).unwrap(),
            protocol,
            TimeZone::UTC,
            Duration::ZERO,
            Console::silent(),
        );
        (directory, notifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_fan_out_has_a_helper_for_each_core_beyond_the_first_and_one_shard_each_at_most() {
        let helpers: Vec<usize> = [0, 1, 2, 4, SHARDS, SHARDS + 8]
            .into_iter()
            .map(helpers_for)
            .collect();
        assert_eq!(helpers, [0, 0, 1, 3, SHARDS - 1, SHARDS - 1]);
    }
}
