//! The edge's side: a reader of the stream that feeds a notifier, so that an
//! edge serves its subscribers as a watcher does. (Chapter 12.)
//!
//! ## Where an edge starts
//!
//! An edge that starts fresh tells its subscribers of new changes only: it
//! reads the stream's newest entry (`XREVRANGE … + - COUNT 1`) and goes on
//! from its id. That one reply gives both things the edge needs: the file's
//! name for the greeting (every entry carries it), and the exact place to
//! read on from. `XREAD … $` would also mean "new entries only", but `$` is
//! resolved when the read arrives, so a change appended between reading the
//! name and that first read would be lost. A separate key holding the name
//! would be one more thing to keep in step with the stream, and is lost or
//! kept on a different schedule than the stream itself. A stream that is
//! empty or missing names no file: the edge waits for its first entry
//! (a publisher names the file when it starts) before it listens.
//!
//! ## Reading on, exactly once
//!
//! The edge remembers the id of the last entry it read and blocks on
//! `XREAD BLOCK … STREAMS stream ID`, which returns the entries after it.
//! Of the changes one read returns, only the latest is told: only the
//! latest matters, as everywhere in net-watcher. Entries that cannot be
//! read are reported and skipped.
//!
//! When Redis goes away (a restart, a cut network: a read that does not end
//! within its block time and a margin counts as one), the edge says so once,
//! tries again with a back-off, and on success compares the stream's newest
//! id with the last one it read:
//!
//! - **the same or higher**: nothing was lost, and reading on from the last
//!   id returns exactly what was appended meanwhile: a change made during
//!   the outage is told once;
//! - **missing**: the stream is gone (Redis restarted empty): everything
//!   appended from now on is new, so the edge reads from the start;
//! - **lower**: ids went backwards. The publisher keeps its ids growing
//!   across Redis restarts, so this means the stream was recreated by a
//!   publisher that restarted too, with a clock behind the old ids, or
//!   restored from an older snapshot. Ids no longer tell old from new, so
//!   the edge falls back on the changes' own timestamps: it tells the
//!   stream's latest change only if it is newer than the last one it told,
//!   and reads on from there.
//!
//! After every reconnect, in all three cases, the first change read is
//! also held to that timestamp rule. So a snapshot brought back with old
//! entries never tells a stale change; and neither is a change told twice
//! that the edge read just before Redis restarted empty, and that the
//! publisher, whose answer was lost in the same outage, appended again
//! above every id it had (it cannot know that its first append arrived).
//! The price: a change whose timestamp is behind the last one told, because
//! the publisher's clock stepped back during the outage, is not told.
//! While connected, ids alone decide: a clock stepping back then does not
//! hide the changes that follow.

use std::time::Duration;

use redis::Value;
use redis::aio::MultiplexedConnection;

use super::{Backoff, EntryId, Outage, StreamAddress, StreamEntry, entries_of};
use super::{Entry, newest_entry, reason_of, unexpected_reply};
use crate::console::{Console, ConsoleEvent};
use crate::notifier::Feed;

/// How long one `XREAD` blocks waiting for entries. Also how soon a cut
/// network (no reset, just silence) is noticed, with [`ANSWER_MARGIN`].
const BLOCK: Duration = Duration::from_secs(2);

/// How long Redis may take to answer beyond the block time.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The most entries one read returns; the latest change among them is told.
const BATCH: usize = 1000;

/// An edge's reader of the stream, once the stream has named its file.
#[derive(Debug)]
pub struct StreamReader {
    address: StreamAddress,
    console: Console,
    connection: Option<MultiplexedConnection>,
    file: String,
    /// The id of the last entry read.
    cursor: EntryId,
    /// The timestamp of the last change told (or found when starting).
    last_told: Option<u64>,
    /// Whether the edge reconnected since it last read a change: the next
    /// change must be newer than the last one told.
    after_gap: bool,
    outage: Outage,
    backoff: Backoff,
}

impl StreamReader {
    /// Connects to the stream at `address` and waits until it names a file:
    /// its newest entry, or, when it is empty, its first. While Redis cannot
    /// be reached this keeps trying, with a back-off, and says so on
    /// `console` once per outage.
    pub async fn start(address: StreamAddress, console: Console) -> StreamReader {
        let mut reader = StreamReader {
            address,
            console,
            connection: None,
            file: String::new(),
            cursor: EntryId::ZERO,
            last_told: None,
            after_gap: false,
            outage: Outage::default(),
            backoff: Backoff::new(),
        };
        let mut said_waiting = false;
        loop {
            if reader.connection.is_none() {
                reader.connect().await;
                match reader.newest().await {
                    Ok(None) => reader.answered(),
                    Ok(Some(newest)) => {
                        reader.answered();
                        reader.cursor = newest.id;
                        if reader.learn(newest) {
                            return reader;
                        }
                    }
                    Err(error) => {
                        reader.lost(&error);
                        continue;
                    }
                }
            }
            if !said_waiting {
                said_waiting = true;
                reader.say(ConsoleEvent::StreamNamesNoFile {
                    stream: reader.address.to_string(),
                });
            }
            match reader.read().await {
                Ok(entries) => {
                    reader.answered();
                    for entry in entries {
                        reader.cursor = entry.id;
                        if reader.learn(entry) {
                            return reader;
                        }
                    }
                }
                Err(error) => reader.lost(&error),
            }
        }
    }

    /// The file's name, as the publisher gave it: what the edge's greeting
    /// says it watches.
    pub fn file(&self) -> &str {
        &self.file
    }

    // ANCHOR: run
    /// Reads the stream for good, handing each change to `feed`.
    pub async fn run(mut self, feed: Feed) {
        loop {
            if self.connection.is_none() {
                self.connect().await;
                match self.newest().await {
                    Ok(newest) => {
                        self.answered();
                        self.resume(newest, &feed);
                    }
                    Err(error) => {
                        self.lost(&error);
                        continue;
                    }
                }
            }
            match self.read().await {
                Ok(entries) => self.tell(entries, &feed),
                Err(error) => self.lost(&error),
            }
        }
    }
    // ANCHOR_END: run

    /// Takes the file's name from `entry` if it has one; reports it if it is
    /// malformed. True when the name is known.
    fn learn(&mut self, entry: StreamEntry) -> bool {
        match entry.entry {
            Ok(entry) => {
                if let Entry::Changed { change, .. } = &entry {
                    self.last_told = Some(change.timestamp);
                }
                self.file = entry.file().to_owned();
                true
            }
            Err(reason) => {
                self.report_malformed(entry.id, reason);
                false
            }
        }
    }

    // ANCHOR: resume
    /// After a reconnect: decides where to read on from, given the stream's
    /// newest entry (see the module docs).
    fn resume(&mut self, newest: Option<StreamEntry>, feed: &Feed) {
        // Whatever the stream looks like now, the change read first may be
        // one told before the outage, appended again.
        self.after_gap = true;
        match newest {
            None => self.cursor = EntryId::ZERO,
            Some(newest) if newest.id < self.cursor => {
                self.say(ConsoleEvent::StreamWentBack {
                    stream: self.address.to_string(),
                    last_read: self.cursor.to_string(),
                    newest: newest.id.to_string(),
                });
                self.tell(vec![newest], feed);
            }
            Some(_) => {}
        }
    }

    /// Tells `feed` the latest change among `entries`, reporting and
    /// skipping malformed ones, and moves the cursor past them all.
    fn tell(&mut self, entries: Vec<StreamEntry>, feed: &Feed) {
        let mut latest = None;
        for entry in entries {
            self.cursor = entry.id;
            match entry.entry {
                Ok(Entry::Changed { change, .. }) => latest = Some(change),
                Ok(Entry::Watching { .. }) => {}
                Err(reason) => self.report_malformed(entry.id, reason),
            }
        }
        let Some(change) = latest else {
            return;
        };
        let stale = self.after_gap && self.last_told.is_some_and(|told| change.timestamp <= told);
        self.after_gap = false;
        if !stale {
            self.last_told = Some(change.timestamp);
            feed.publish(change);
        }
    }
    // ANCHOR_END: resume

    fn report_malformed(&self, id: EntryId, reason: String) {
        self.say(ConsoleEvent::MalformedEntry {
            id: id.to_string(),
            reason,
        });
    }

    fn say(&self, event: ConsoleEvent) {
        self.console.say(event);
    }

    /// Connects, however long it takes. During an outage each attempt
    /// waits for the back-off first, so that an outage costs an attempt
    /// every couple of seconds at most, whatever fails (connecting, or the
    /// first command after it).
    async fn connect(&mut self) {
        loop {
            if self.outage.is_ongoing() {
                self.backoff.wait().await;
            }
            match self.address.connect(BLOCK + ANSWER_MARGIN).await {
                Ok(connection) => {
                    self.connection = Some(connection);
                    return;
                }
                Err(error) => self.lost(&error),
            }
        }
    }

    /// Redis answered a command: an outage, if there was one, is over.
    fn answered(&mut self) {
        self.backoff.reset();
        if self.outage.succeeded() {
            self.say(ConsoleEvent::StreamReachable {
                stream: self.address.to_string(),
            });
        }
    }

    /// A connection that failed: drops it, reports the outage if it begins
    /// one. The next attempt waits for the back-off.
    fn lost(&mut self, error: &redis::RedisError) {
        self.connection = None;
        if self.outage.failed() {
            self.say(ConsoleEvent::StreamUnreachable {
                stream: self.address.to_string(),
                reason: reason_of(error),
            });
        }
    }

    async fn newest(&mut self) -> redis::RedisResult<Option<StreamEntry>> {
        let connection = self.connection.as_mut().expect("connected");
        newest_entry(connection, self.address.stream()).await
    }

    /// One blocking read of the entries after the cursor; none when the
    /// block time passes first.
    async fn read(&mut self) -> redis::RedisResult<Vec<StreamEntry>> {
        let connection = self.connection.as_mut().expect("connected");
        let reply: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.address.stream())
            .arg(self.cursor.to_string())
            .query_async(connection)
            .await?;
        // [[stream, entries]] for the one stream asked for, or nil.
        match reply {
            Value::Nil => Ok(Vec::new()),
            Value::Array(streams) => match streams.as_slice() {
                [Value::Array(stream)] => match stream.as_slice() {
                    [_, entries] => entries_of(entries).map_err(unexpected_reply),
                    _ => Err(unexpected_reply(format!("{stream:?}"))),
                },
                _ => Err(unexpected_reply(format!("{streams:?}"))),
            },
            other => Err(unexpected_reply(format!("{other:?}"))),
        }
    }
}
