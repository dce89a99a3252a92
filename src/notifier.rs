//! One OS watch, shared by every subscriber, and the fan-out of each change.
//!
//! The book's server calls `fs.watch` once per connection: a thousand
//! subscribers cost a thousand OS watches, each reporting the same change.
//! Here a [`Notifier`] owns a single [`FileWatch`]. It is placed when the
//! first subscriber arrives and released when the last one leaves, as the
//! práctica says. (Chapters 1 and 9.)
//!
//! ## Why a `watch` channel
//!
//! A notification says "the file changed at T". If a subscriber has not yet
//! taken the previous one when the next arrives, only the latest matters. A
//! [`tokio::sync::watch`] channel keeps exactly that: one value, the latest,
//! shared by every receiver. Nothing queues per subscriber, so a slow reader
//! costs no memory, and sending is one store whatever the number of
//! subscribers.
//!
//! Each notification is rendered to bytes once, in the server's protocol, and
//! every subscriber writes the same shared bytes.
//!
//! ## The fast road
//!
//! The channel wakes each subscriber's task, and a task may run on another
//! thread than the one that learnt of the change: a thread wake-up, which
//! on a small virtual machine costs more than everything else on the road.
//! So [`Notifier`] also keeps every greeted subscriber's [`Outbox`], and
//! right after updating the channel it offers the line to each, on the
//! thread that published it. See [`crate::connection`] for how the two
//! roads share a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::console::{Console, ConsoleEvent};
use crate::protocol::{Message, Protocol};
use crate::watch::{Change, FileWatch, Target, WatchError};

/// The latest change, rendered for the wire.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Counts notifications since the server started; 0 means none yet.
    pub seq: u64,
    /// The change, once there is one.
    pub change: Option<Change>,
    /// The line every subscriber writes, in the server's protocol.
    pub line: Arc<[u8]>,
}

/// A subscriber the notifier can write to directly, without waiting.
pub trait Outbox: Send + Sync {
    /// Delivers `notification` now if that needs no waiting; anything not
    /// delivered here is the subscriber's task's to deliver.
    fn offer(&self, notification: &Notification);
}

/// Fans out changes of one [`Target`] to every [`Subscription`]. Cheap to
/// clone; clones share the watch.
#[derive(Debug, Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    target: Target,
    protocol: Protocol,
    settle_window: Duration,
    console: Console,
    greeting: Arc<[u8]>,
    latest: watch::Sender<Notification>,
    state: Mutex<WatchState>,
    /// Every greeted subscriber, for the fast road.
    outboxes: Mutex<HashMap<u64, Arc<dyn Outbox>>>,
    next_subscriber: AtomicU64,
}

impl std::fmt::Debug for dyn Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

#[derive(Debug, Default)]
struct WatchState {
    subscribers: usize,
    os_watch: Option<FileWatch>,
    /// Bumped each time an OS watch is placed, so that a report still in
    /// flight from a released watch is recognised and dropped.
    generation: u64,
}

impl Shared {
    /// The state, even if a thread panicked while holding the lock: every
    /// update below leaves it consistent, so there is nothing to recover.
    fn state(&self) -> MutexGuard<'_, WatchState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, change: Change) {
        let message = Message::Changed {
            timestamp: change.timestamp,
        };
        let line: Arc<[u8]> = self.protocol.render(&message).into_bytes().into();
        // `send_modify` and not `send`: it stores the value even while no
        // receiver exists, so the sequence number never goes backwards.
        let mut published = None;
        self.latest.send_modify(|latest| {
            latest.seq += 1;
            latest.change = Some(change);
            latest.line = line;
            published = Some(latest.clone());
        });
        let Some(notification) = published else {
            return;
        };
        // The fast road. The lock is held through the offers so that an
        // outbox removed by a leaving subscriber gets no offer after its
        // removal; joining and leaving wait meanwhile, which is as short as
        // the writes.
        let outboxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        for outbox in outboxes.values() {
            outbox.offer(&notification);
        }
    }
}

impl Notifier {
    /// A notifier for `target`, speaking `protocol`, settling bursts of OS
    /// events over `settle_window` (see [`crate::watch::settle`]). No OS
    /// watch is placed until the first [`Notifier::subscribe`].
    pub fn new(
        target: Target,
        protocol: Protocol,
        settle_window: Duration,
        console: Console,
    ) -> Self {
        let greeting = protocol
            .render(&Message::Watching {
                file: target.as_typed().to_owned(),
            })
            .into_bytes()
            .into();
        let (latest, _) = watch::channel(Notification {
            seq: 0,
            change: None,
            line: Arc::from(&b""[..]),
        });
        Notifier {
            shared: Arc::new(Shared {
                target,
                protocol,
                settle_window,
                console,
                greeting,
                latest,
                state: Mutex::new(WatchState::default()),
                outboxes: Mutex::new(HashMap::new()),
                next_subscriber: AtomicU64::new(0),
            }),
        }
    }

    /// The watched target.
    pub fn target(&self) -> &Target {
        &self.shared.target
    }

    /// The protocol subscribers are spoken to in.
    pub fn protocol(&self) -> Protocol {
        self.shared.protocol
    }

    /// Adds a subscriber, placing the OS watch if it is the first.
    ///
    /// When this returns, the watch is in place and the subscription has seen
    /// nothing yet: every change from now on reaches it. Send the greeting
    /// only after this, and no change after the greeting can be missed.
    ///
    /// This may block briefly (placing an inotify watch is a system call or
    /// two and starts notify's thread); it happens once per quiet period,
    /// not once per subscriber.
    pub fn subscribe(&self) -> Result<Subscription, WatchError> {
        let mut state = self.shared.state();
        if state.os_watch.is_none() {
            state.generation += 1;
            let generation = state.generation;
            // A weak reference: the watch lives inside `Shared`, so a strong
            // one would keep `Shared` alive forever.
            let shared: Weak<Shared> = Arc::downgrade(&self.shared);
            let window = self.shared.settle_window;
            let os_watch = FileWatch::start(&self.shared.target, window, move |report| {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if shared.state().generation != generation {
                    return;
                }
                match report {
                    Ok(change) => shared.publish(change),
                    Err(error) => shared
                        .console
                        .say(ConsoleEvent::WatchFailed(error.to_string())),
                }
            })?;
            state.os_watch = Some(os_watch);
        }
        state.subscribers += 1;
        // Subscribing while holding the lock orders this receiver after the
        // watch placement: what it has "seen" is the value before any change
        // the new watch can report.
        let changes = self.shared.latest.subscribe();
        Ok(Subscription {
            id: self.shared.next_subscriber.fetch_add(1, Ordering::Relaxed),
            changes,
            shared: Arc::clone(&self.shared),
        })
    }

    /// How many subscriptions are alive.
    pub fn subscriber_count(&self) -> usize {
        self.shared.state().subscribers
    }

    /// Whether the OS watch is in place.
    pub fn is_watching(&self) -> bool {
        self.shared.state().os_watch.is_some()
    }

    /// The latest notification (seq 0 before the first change).
    pub fn latest(&self) -> Notification {
        self.shared.latest.borrow().clone()
    }
}

/// One subscriber's view of the notifier. Dropping it unsubscribes, and the
/// last drop releases the OS watch.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    changes: watch::Receiver<Notification>,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The greeting line, in the server's protocol.
    pub fn greeting(&self) -> Arc<[u8]> {
        Arc::clone(&self.shared.greeting)
    }

    /// The latest notification (sequence number 0 before any change), marked
    /// as seen: [`Subscription::changed`] then waits for a newer one.
    pub fn latest(&mut self) -> Notification {
        self.changes.borrow_and_update().clone()
    }

    /// Waits until there is a notification newer than the last one seen.
    /// Changes that came while nobody looked are coalesced: only the latest
    /// matters.
    pub async fn changed(&mut self) {
        // `changed` only fails once the sender is dropped, and the sender
        // lives in `Shared`, which this subscription keeps alive.
        self.changes
            .changed()
            .await
            .expect("the notifier outlives its subscriptions");
    }

    /// Registers the subscriber's outbox for the fast road. Call it once the
    /// greeting is written: from then on notifications may be written from
    /// the publishing thread.
    pub fn attach(&self, outbox: Arc<dyn Outbox>) {
        self.shared
            .outboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, outbox);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared
            .outboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        let released = {
            let mut state = self.shared.state();
            state.subscribers -= 1;
            if state.subscribers == 0 {
                state.os_watch.take()
            } else {
                None
            }
        };
        // Dropped outside the lock: stopping notify's thread must never wait
        // on a report that waits on this lock.
        drop(released);
    }
}
