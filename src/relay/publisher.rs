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
//! finds), but an edge greets with one name, and skips the other's entries.
//!
//! ## When Redis refuses
//!
//! The publishing task talks to Redis through a [`Link`], which sorts what
//! goes wrong (see [`link`](super::link)). Whatever it is (Redis gone, Redis
//! refusing the entry, a stream whose newest id is the last possible one),
//! the task does the same: says so once, keeps the change, waits for the
//! back-off, looks at the stream again, and tries again; on the connection
//! it has, when Redis answered.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::link::{Link, Request, Trouble};
use super::{DEFAULT_MAXLEN, Entry, EntryError, EntryId, StreamAddress, entries_of, quoted};
use crate::console::Console;
use crate::lock::lock;
use crate::notifier::{Notification, Notifier, Outbox, Subscription};
use crate::watching::{Change, WatchError};

/// How long Redis may take to answer one command before the publisher
/// counts it as gone (a cut network sends no reset).
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// What a publisher's connection calls itself in Redis (`CLIENT LIST`).
pub const PUBLISHER_NAME: &str = "net-watcher-publisher";

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
///
/// A file name that no edge could greet with (see [`Entry::check_file`]) is
/// refused here, before anything is appended: an edge would otherwise wait
/// for a name it can read, forever.
pub fn spawn(
    notifier: &Notifier,
    config: PublishConfig,
) -> Result<tokio::task::JoinHandle<()>, PublishError> {
    Entry::check_file(&config.file).map_err(|error| PublishError::FileName {
        file: config.file.clone(),
        error,
    })?;
    let mut subscription = notifier.subscribe().map_err(PublishError::Watch)?;
    let outbox = Arc::new(StreamOutbox::default());
    subscription.attach(Arc::clone(&outbox) as Arc<dyn Outbox>);
    Ok(tokio::spawn(publish(subscription, outbox, config)))
}

/// Why a publisher cannot start.
#[derive(Debug)]
pub enum PublishError {
    /// Watching the file failed.
    Watch(WatchError),
    /// The file's name is one no edge could greet with.
    FileName {
        /// The name.
        file: String,
        /// Why an edge could not take it.
        error: EntryError,
    },
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Watch(error) => error.fmt(f),
            PublishError::FileName { file, error } => write!(
                f,
                "cannot publish {}: {error}, and no edge could serve it",
                quoted(file)
            ),
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::Watch(error) => Some(error),
            PublishError::FileName { error, .. } => Some(error),
        }
    }
}

/// A change not yet appended, and the id it was sent with, if it was: an
/// append whose answer never came is sent again with the same id, so that
/// Redis can tell whether it took the first one.
#[derive(Debug, Clone, Copy)]
struct Pending {
    change: Change,
    id: Option<EntryId>,
}

impl Pending {
    fn new(change: Change) -> Self {
        Pending { change, id: None }
    }
}

// ANCHOR: publish
async fn publish(_subscription: Subscription, outbox: Arc<StreamOutbox>, config: PublishConfig) {
    let mut stream = Appender {
        link: Link::new(
            config.address.clone(),
            PUBLISHER_NAME,
            config.console.clone(),
            ANSWER_WITHIN,
        ),
        config,
        newest: EntryId::ZERO,
        named: false,
    };
    let mut pending: Option<Pending> = None;
    loop {
        match stream.deliver(&mut pending).await {
            Ok(()) => {
                stream.link.succeeded();
                pending = Some(Pending::new(outbox.next().await));
            }
            Err(trouble) => {
                // Refused, unreachable or full, the same: said once, tried
                // again after a back-off. The stream is looked at again
                // first: it may have been emptied, deleted or trimmed.
                stream.named = false;
                stream.link.failed(trouble);
                stream.link.pause().await;
                // A newer change supersedes one not yet appended: if the
                // older one is there after all, edges tell both; if not,
                // only the newer.
                if let Some(newer) = outbox.take() {
                    pending = Some(Pending::new(newer));
                }
            }
        }
    }
}
// ANCHOR_END: publish

/// The publisher's side of the stream, which appends its entries: the
/// link to Redis, the newest id written or found, and whether the stream
/// names the file since it was last looked at.
struct Appender {
    link: Link,
    config: PublishConfig,
    newest: EntryId,
    named: bool,
}

impl Appender {
    /// Makes sure that the stream names the file, then appends `pending`,
    /// if there is a change, and empties it once Redis has it.
    async fn deliver(&mut self, pending: &mut Option<Pending>) -> Result<(), Trouble> {
        if !self.named {
            self.name_file().await?;
            self.named = true;
        }
        if let Some(change) = pending {
            let id = match change.id {
                Some(id) => id,
                None => *change.id.insert(self.next_id(change.change.timestamp)?),
            };
            self.append(id, change.change).await?;
            *pending = None;
        }
        Ok(())
    }

    /// The id for a change made at `millis`: above every id written or
    /// found.
    fn next_id(&self, millis: u64) -> Result<EntryId, Trouble> {
        self.newest.checked_next_for(millis).ok_or(Trouble::Full)
    }

    /// Learns the stream's newest id, and names the file in the stream if
    /// its newest entry does not (a new or recreated stream, or one another
    /// publisher wrote to): an edge starting now can greet.
    async fn name_file(&mut self) -> Result<(), Trouble> {
        let newest = self.link.newest_entry().await?;
        self.newest = remembered(self.newest, newest.as_ref().map_or(EntryId::ZERO, |n| n.id));
        let names_us = newest.is_some_and(
            |newest| matches!(newest.entry, Ok(entry) if entry.file() == self.config.file),
        );
        if !names_us {
            let id = self.next_id(crate::protocol::now_millis())?;
            let entry = Entry::Watching {
                file: self.config.file.clone(),
            };
            self.add(id, &entry).await?;
        }
        Ok(())
    }

    // ANCHOR: append_once
    /// Appends `change` under `id`, once: when Redis refuses the id as too
    /// low, either the entry is already there (an earlier try that Redis
    /// took but did not answer), or someone wrote past it, and it goes
    /// again above them.
    async fn append(&mut self, id: EntryId, change: Change) -> Result<(), Trouble> {
        let entry = Entry::Changed {
            file: self.config.file.clone(),
            change,
        };
        match self.add(id, &entry).await {
            Err(Trouble::Refused { answer, .. }) if is_id_refused(&answer) => {
                let mut lookup = redis::cmd("XRANGE");
                lookup
                    .arg(self.config.address.stream())
                    .arg(id.to_string())
                    .arg(id.to_string());
                let found = self.link.query(&lookup, Request::Read).await?;
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
                if let Some(newest) = self.link.newest_entry().await? {
                    self.newest = remembered(self.newest, newest.id);
                }
                let id = self.next_id(change.timestamp)?;
                self.add(id, &entry).await
            }
            other => other,
        }
    }
    // ANCHOR_END: append_once

    /// `XADD stream MAXLEN ~ N id field value …`; remembers `id` as the
    /// newest once Redis has it.
    async fn add(&mut self, id: EntryId, entry: &Entry) -> Result<(), Trouble> {
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
        self.link.query(&command, Request::Entry).await?;
        self.newest = remembered(self.newest, id);
        Ok(())
    }
}

/// The newest id a publisher remembers, having remembered `memory` and
/// found `found` in the stream (its newest, or an id Redis just took).
///
/// Ids are kept growing across a stream's loss, for the edges' sake: an
/// edge that read up to an id waits for ids above it. But above the last
/// possible id nothing can grow: a stream that held it and is gone (deleted
/// or trimmed by hand) starts again from its own ids, and edges, seeing ids
/// go back, go by the changes' timestamps (see the edge).
fn remembered(memory: EntryId, found: EntryId) -> EntryId {
    if memory == EntryId::LAST {
        found
    } else {
        memory.max(found)
    }
}

/// Whether Redis refused an `XADD` for its id: not above the stream's
/// newest, or the stream holds the last possible id.
fn is_id_refused(answer: &str) -> bool {
    answer.contains("equal or smaller") || answer.contains("exhausted the last possible ID")
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
    fn a_file_name_no_edge_could_greet_with_is_refused_before_publishing() {
        let long_name = "x".repeat(crate::relay::MAX_FILE_NAME + 1);
        let (notifier, _feed) = Notifier::fed(
            &long_name,
            crate::protocol::Protocol::Text,
            jiff::tz::TimeZone::UTC,
            Console::silent(),
        );
        let address: StreamAddress = "redis://localhost/changes".parse().unwrap();
        let config = PublishConfig::new(address, long_name, Console::silent());
        let error = spawn(&notifier, config).unwrap_err();
        assert!(matches!(
            &error,
            PublishError::FileName {
                error: EntryError::FileNameTooLong { bytes: 4097 },
                ..
            }
        ));
        let said = error.to_string();
        assert!(
            said.starts_with("cannot publish \"xxx")
                && said.ends_with(
                    "… (4097 bytes in all)\": its file name is 4097 bytes long, more than 4096, and no edge could serve it"
                ),
            "{said}"
        );
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn ids_are_remembered_growing_except_past_the_last_possible_one() {
        let id = |millis| EntryId { millis, seq: 0 };
        assert_eq!(remembered(id(5), id(3)), id(5));
        assert_eq!(remembered(id(5), id(7)), id(7));
        assert_eq!(remembered(EntryId::LAST, id(3)), id(3));
        assert_eq!(remembered(EntryId::LAST, EntryId::ZERO), EntryId::ZERO);
        assert_eq!(remembered(id(3), EntryId::LAST), EntryId::LAST);
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
