//! The watcher's side: every change appended to a Redis stream, while local
//! subscribers are told as before. (Chapter 12.)
//!
//! The stream joins the watcher's [`Notifier`] as one more subscriber, from
//! the start and for good (so the OS watch stays in place even when no local
//! subscriber is connected). Its [`Outbox`] does not write to a socket: it
//! keeps the latest change in a slot and wakes the publishing task. So a
//! local subscriber never waits for Redis, and a Redis that is slow or gone
//! costs one slot, however many changes it misses: as for every subscriber,
//! only the latest change matters, and that is the one appended when Redis
//! answers again.
//!
//! ## Ids chosen by the publisher
//!
//! Redis gives an entry an id from its own clock when asked (`XADD … *`).
//! The publisher gives its own instead: the change's timestamp, with a
//! sequence number within the millisecond, always above the last id it
//! wrote or found in the stream. Two things follow.
//!
//! - **Retries are harmless.** When Redis goes away between taking an entry
//!   and answering, the publisher cannot know whether the entry is there. It
//!   sends it again with the same id: Redis refuses an id that is not above
//!   the stream's newest, and the publisher then looks the id up (`XRANGE`)
//!   to tell "mine is already there" from "someone wrote after me". No
//!   change is appended twice, so no edge tells it twice.
//! - **Ids keep growing when Redis restarts empty.** Redis's own ids would
//!   start again from Redis's clock, and an edge that read up to a higher
//!   id would wait for the new stream to overtake it. The publisher
//!   remembers the last id it wrote, and goes on above it.
//!
//! One publisher per stream: two publishers on one stream would each append
//! their changes (ids stay ordered, since each goes above the newest it
//! finds), but an edge greets with one name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;

use super::{Backoff, DEFAULT_MAXLEN, Entry, EntryId, Outage, StreamAddress};
use super::{entries_of, newest_entry, reason_of};
use crate::console::{Console, ConsoleEvent};
use crate::lock::lock;
use crate::notifier::{Notification, Notifier, Outbox, Subscription};
use crate::watching::{Change, WatchError};

/// How long Redis may take to answer one command before the publisher
/// counts it as gone (a cut network sends no reset).
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// Settings of a publisher.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// Where to append.
    pub address: StreamAddress,
    /// The file's name as entries give it (an edge's greeting shows it).
    pub file: String,
    /// About how many entries the stream keeps (`MAXLEN ~`).
    pub max_len: usize,
    /// Where outages are reported.
    pub console: Console,
}

impl PublishConfig {
    /// Settings for appending to `address`, naming `file`, with the default
    /// cap ([`DEFAULT_MAXLEN`]).
    pub fn new(address: StreamAddress, file: impl Into<String>, console: Console) -> Self {
        PublishConfig {
            address,
            file: file.into(),
            max_len: DEFAULT_MAXLEN,
            console,
        }
    }
}

// ANCHOR: stream_outbox
/// The stream's outbox: the latest change not yet handed to the publishing
/// task, and the task's wake-up.
#[derive(Debug, Default)]
struct StreamOutbox {
    pending: Mutex<NewestChange>,
    wake: Notify,
}

/// The slot, and the number of the newest notification put in it.
#[derive(Debug, Default)]
struct NewestChange {
    seq: u64,
    change: Option<Change>,
}

impl Outbox for StreamOutbox {
    fn offer(&self, notification: &Notification) {
        let Some(change) = notification.change else {
            return;
        };
        let mut pending = lock(&self.pending);
        // Offers can come out of order: a helper that took a shard for one
        // change may reach it after the next change's round did. An older
        // change must not replace a newer one, nor follow it to the stream.
        if notification.seq <= pending.seq {
            return;
        }
        *pending = NewestChange {
            seq: notification.seq,
            change: Some(change),
        };
        drop(pending);
        // A permit is stored if the task is busy: the wake is not lost.
        self.wake.notify_one();
    }

    fn wake(&self) {}
}
// ANCHOR_END: stream_outbox

impl StreamOutbox {
    fn take(&self) -> Option<Change> {
        lock(&self.pending).change.take()
    }

    async fn next(&self) -> Change {
        loop {
            if let Some(change) = self.take() {
                return change;
            }
            self.wake.notified().await;
        }
    }
}

/// Subscribes the stream to `notifier` (placing the OS watch, which stays
/// while the publisher lives) and starts the task that appends each change.
/// Abort the returned task to stop publishing.
pub fn spawn(
    notifier: &Notifier,
    config: PublishConfig,
) -> Result<tokio::task::JoinHandle<()>, WatchError> {
    let mut subscription = notifier.subscribe()?;
    let outbox = Arc::new(StreamOutbox::default());
    subscription.attach(Arc::clone(&outbox) as Arc<dyn Outbox>);
    Ok(tokio::spawn(publish(subscription, outbox, config)))
}

/// A change appended, or about to be, under the id it was given.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    id: EntryId,
    change: Change,
}

async fn publish(_subscription: Subscription, outbox: Arc<StreamOutbox>, config: PublishConfig) {
    let mut stream = StreamWriter {
        config,
        connection: None,
        newest: EntryId::ZERO,
    };
    let mut outage = Outage::default();
    let mut backoff = Backoff::new();
    // A change sent whose fate is unknown (Redis went away before it
    // answered): sent again with the same id.
    let mut unconfirmed: Option<Attempt> = None;
    loop {
        if stream.connection.is_none() {
            match stream.open().await {
                Ok(()) => {
                    backoff.reset();
                    if outage.succeeded() {
                        stream.say(ConsoleEvent::StreamReachable {
                            stream: stream.config.address.to_string(),
                        });
                    }
                }
                Err(error) => {
                    if outage.failed() {
                        stream.say(ConsoleEvent::StreamUnreachable {
                            stream: stream.config.address.to_string(),
                            reason: reason_of(&error),
                        });
                    }
                    backoff.wait().await;
                    continue;
                }
            }
        }
        let attempt = match unconfirmed.take() {
            // A newer change supersedes one whose fate is unknown: if the
            // older is there, edges tell both; if not, only the newer.
            Some(attempt) => match outbox.take() {
                Some(newer) => stream.attempt_for(newer),
                None => attempt,
            },
            None => {
                let change = outbox.next().await;
                stream.attempt_for(change)
            }
        };
        match stream.append(attempt).await {
            Ok(()) => {}
            Err(error) => {
                stream.connection = None;
                unconfirmed = Some(attempt);
                if outage.failed() {
                    stream.say(ConsoleEvent::StreamUnreachable {
                        stream: stream.config.address.to_string(),
                        reason: reason_of(&error),
                    });
                }
                backoff.wait().await;
            }
        }
    }
}

/// The publisher's side of the stream: a connection when there is one, and
/// the newest id written or found.
struct StreamWriter {
    config: PublishConfig,
    connection: Option<MultiplexedConnection>,
    newest: EntryId,
}

impl StreamWriter {
    fn say(&self, event: ConsoleEvent) {
        self.config.console.say(event);
    }

    fn attempt_for(&mut self, change: Change) -> Attempt {
        Attempt {
            id: self.newest.next_for(change.timestamp),
            change,
        }
    }

    /// Connects, learns the stream's newest id, and names the file in the
    /// stream if its newest entry does not (a new or recreated stream, or
    /// one another publisher wrote to): an edge starting now can greet.
    async fn open(&mut self) -> redis::RedisResult<()> {
        let mut connection = self.config.address.connect(ANSWER_WITHIN).await?;
        let newest = newest_entry(&mut connection, self.config.address.stream()).await?;
        self.connection = Some(connection);
        let names_us = match newest {
            Some(newest) => {
                self.newest = self.newest.max(newest.id);
                matches!(newest.entry, Ok(entry) if entry.file() == self.config.file)
            }
            None => false,
        };
        if !names_us {
            let id = self.newest.next_for(crate::protocol::now_millis());
            let entry = Entry::Watching {
                file: self.config.file.clone(),
            };
            if let Err(error) = self.add(id, &entry).await {
                // Redis answered but did not take the entry (out of
                // memory, a read-only replica, or gone meanwhile). Kept,
                // the connection would be taken for open: the file would
                // stay unnamed, and the outage would never be said over.
                self.connection = None;
                return Err(error);
            }
        }
        Ok(())
    }

    // ANCHOR: append_once
    /// Appends `attempt`, once: when Redis refuses its id as too low, either
    /// it is already there (an earlier try that Redis took but did not
    /// answer), or someone wrote past it, and it goes again above them.
    async fn append(&mut self, attempt: Attempt) -> redis::RedisResult<()> {
        let entry = Entry::Changed {
            file: self.config.file.clone(),
            change: attempt.change,
        };
        match self.add(attempt.id, &entry).await {
            Err(error) if is_id_too_low(&error) => {
                let stream = self.config.address.stream().to_owned();
                let connection = self.connection.as_mut().expect("connected");
                let found: redis::Value = redis::cmd("XRANGE")
                    .arg(&stream)
                    .arg(attempt.id.to_string())
                    .arg(attempt.id.to_string())
                    .query_async(connection)
                    .await?;
                // The same id with other fields is someone else's entry
                // (written by hand with `*` in the same millisecond).
                let already_there = entries_of(&found).is_ok_and(|entries| {
                    entries
                        .iter()
                        .any(|there| there.entry.as_ref() == Ok(&entry))
                });
                if already_there {
                    return Ok(());
                }
                if let Some(newest) = newest_entry(connection, &stream).await? {
                    self.newest = self.newest.max(newest.id);
                }
                let id = self.newest.next_for(attempt.change.timestamp);
                self.add(id, &entry).await
            }
            other => other,
        }
    }
    // ANCHOR_END: append_once

    /// `XADD stream MAXLEN ~ N id field value …`; remembers `id` as the
    /// newest once Redis has it.
    async fn add(&mut self, id: EntryId, entry: &Entry) -> redis::RedisResult<()> {
        let connection = self.connection.as_mut().expect("connected");
        let mut command = redis::cmd("XADD");
        command
            .arg(self.config.address.stream())
            .arg("MAXLEN")
            .arg("~")
            .arg(self.config.max_len)
            .arg(id.to_string());
        for (name, value) in entry.fields() {
            command.arg(name).arg(value);
        }
        let _: redis::Value = command.query_async(connection).await?;
        self.newest = self.newest.max(id);
        Ok(())
    }
}

/// Whether Redis refused an `XADD` because the id is not above the
/// stream's newest.
fn is_id_too_low(error: &redis::RedisError) -> bool {
    error
        .detail()
        .is_some_and(|detail| detail.contains("equal or smaller"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watching::ChangeKind;
    use pretty_assertions::assert_eq;

    fn notification(seq: u64, timestamp: u64) -> Notification {
        Notification {
            seq,
            line: Arc::from(&b"File changed\n"[..]),
            change: Some(Change {
                kind: ChangeKind::Modified,
                timestamp,
            }),
        }
    }

    #[test]
    fn an_older_offer_neither_replaces_a_newer_change_nor_follows_it() {
        let outbox = StreamOutbox::default();
        outbox.offer(&notification(2, 2_000));
        outbox.offer(&notification(1, 1_000));
        assert_eq!(outbox.take().map(|change| change.timestamp), Some(2_000));
        outbox.offer(&notification(1, 1_000));
        assert_eq!(outbox.take(), None, "a stale change came after a newer one");
        outbox.offer(&notification(3, 3_000));
        assert_eq!(outbox.take().map(|change| change.timestamp), Some(3_000));
    }
}
