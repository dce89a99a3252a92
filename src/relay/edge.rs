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
//! latest matters, as everywhere in net-watcher. Each entry read is sorted
//! ([`Read`]): a change of the edge's file, an entry naming it, an entry for
//! another file (a second publisher on the stream), or one that cannot be
//! read. The last two are skipped, and told: the first at once, with its
//! id and why; those that follow within a second are counted, and the
//! count told at the end of the first read a second later, so that a flood
//! of junk costs a line a second at most.
//!
//! When Redis goes away (a restart, a cut network: a read that does not end
//! within its block time and a margin counts as one) or refuses to read (a
//! key of another type, a password asked for), the edge says so once,
//! tries again with a back-off (see [`link`](super::link)), and on success
//! *looks* at the stream. It does the same after every read that found
//! nothing new, so that a stream deleted and made again while the edge
//! stays connected is noticed too, and after every read that found
//! entries, before it tells them: a stream made again while the edge's
//! read waited wakes it with its entries above the edge's last id, and
//! those below it would be missed.
//!
//! To look, the edge first asks for the entry it read last. Still there:
//! the stream is the one it was reading, and reading on from the last id
//! returns exactly what was appended meanwhile (a change made during an
//! outage is told once). Otherwise it asks for the newest entry, and what
//! Redis records of the stream (`XINFO STREAM`): the last id it took,
//! which never goes down while the stream lives; its first entry; and
//! (Redis 7.0 and later) the largest id `XDEL` deleted from it (trimming
//! records nothing there). Then:
//!
//! - **missing**: no such stream (Redis restarted empty): everything
//!   appended from now on is new, so the edge reads from the start;
//! - **lower**: the last id taken went backwards. The publisher keeps its
//!   ids growing across Redis restarts, so this means the stream was
//!   recreated by a publisher that restarted too, with a clock behind the
//!   old ids, or restored from an older snapshot. Ids no longer tell old
//!   from new, so the edge falls back on the changes' own timestamps: it
//!   reads the stream again from its start, and tells a change only if it
//!   is newer than the last one it told, until it has read as far as the
//!   newest entry it found. (Not just that newest entry: it may be another
//!   file's, or unreadable, with a change of the edge's file just below
//!   it.)
//! - **nothing left below**: the stream is empty, or its first entry is
//!   past the edge's last id (trimmed, or emptied by `XDEL`): whatever comes
//!   next comes above that id, and the edge reads on;
//! - **deleted**: entries below the last id read are there, and the largest
//!   id deleted is at or past it: the entries read last were deleted. The
//!   stream is the same; the edge reads on. (A Redis older than 7.0 does
//!   not say, and is taken at its word the same way.)
//! - **made again**: entries below the last id read are there, the entry
//!   read is gone, and the stream never deleted anything as far up, so it
//!   is another stream, whose ids went past the edge's: changes below them
//!   would be missed. The edge says so and reads it again from its start,
//!   as for a stream that went back.
//!
//! When Redis will not describe the stream (`XINFO` refused to the edge's
//! user, or its reply, which holds the first and newest entries whole,
//! larger than a reply may be), the edge says so once, and the newest id
//! alone decides, as it did before it asked: lower is taken for a stream
//! that went back, so entries deleted from its top are too; and a stream
//! made again above the edge's ids is taken for the same. Also not
//! noticed: a stream made again that deleted entries past the edge's last
//! id itself.
//!
//! After every reconnect, whatever the look found, the first change read is
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
use tokio::time::Instant;

use super::link::{Described, History, Link, Request, Trouble};
use super::{Entry, EntryError, EntryId, StreamAddress, StreamEntry, abbreviated_debug};
use super::{entries_of, quoted};
use crate::console::{Console, ConsoleEvent, Repeats};
use crate::notifier::Feed;
use crate::watching::Change;

/// How long one `XREAD` blocks waiting for entries. Also how soon a cut
/// network (no reset, just silence) is noticed, with [`ANSWER_MARGIN`].
const BLOCK: Duration = Duration::from_secs(2);

/// How long Redis may take to answer beyond the block time.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The most entries one read returns; the latest change among them is told.
const BATCH: usize = 1000;

/// What an edge's connection calls itself in Redis (`CLIENT LIST`).
pub const EDGE_NAME: &str = "net-watcher-edge";

/// What one entry read means to an edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A change of the edge's file.
    Ours(Change),
    /// An entry that names the edge's file (a publisher starting).
    Greeting,
    /// An entry for another file: a second publisher on the same stream.
    Foreign {
        /// The file it names.
        file: String,
    },
    /// An entry that cannot be read.
    Malformed(EntryError),
}

impl Read {
    /// Sorts `entry` for an edge that serves `file`.
    pub fn of(entry: Result<Entry, EntryError>, file: &str) -> Read {
        match entry {
            Err(error) => Read::Malformed(error),
            Ok(entry) if entry.file() != file => Read::Foreign {
                file: entry.file().to_owned(),
            },
            Ok(Entry::Changed { change, .. }) => Read::Ours(change),
            Ok(Entry::Watching { .. }) => Read::Greeting,
        }
    }
}

/// What an edge saw when it looked at the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Look {
    /// Whether the last entry the edge read is still there; `None` before
    /// it has read one.
    pub cursor_kept: Option<bool>,
    /// The newest entry's id; `None` when the stream is missing or empty,
    /// or when it was not asked for.
    pub newest: Option<EntryId>,
    /// What Redis records of the stream's history, where it was asked and
    /// says.
    pub history: Option<History>,
}

/// What the stream an edge looked at is, to an edge that has read up to
/// some entry (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The stream it was reading: read on.
    Same,
    /// Missing or empty.
    Gone,
    /// Its ids went below the last one read.
    WentBack {
        /// The newest id now.
        newest: EntryId,
    },
    /// A stream made again, whose ids went past the last one read.
    MadeAgain {
        /// The newest id now.
        newest: EntryId,
    },
}

impl Look {
    /// What the stream is to an edge whose last entry read is `cursor`.
    pub fn found(&self, cursor: EntryId) -> Found {
        if self.cursor_kept == Some(true) {
            return Found::Same;
        }
        let Some(history) = self.history else {
            // Without Redis's record, the newest id is all there is: the
            // entries read last, deleted, look like a stream that went
            // back.
            return match self.newest {
                None => Found::Gone,
                // (Never below an edge that has read nothing: `ZERO`.)
                Some(newest) if newest < cursor => Found::WentBack { newest },
                Some(_) => Found::Same,
            };
        };
        if history.last_given < cursor {
            // The last id taken went down: only a new stream does that.
            return match self.newest {
                None => Found::Gone,
                Some(newest) => Found::WentBack { newest },
            };
        }
        if history.first.is_none_or(|first| first > cursor) {
            // Nothing is left at or below the last id read (trimmed, or
            // deleted): whatever comes next comes above it.
            return Found::Same;
        }
        match (history.largest_deleted, self.newest) {
            // Entries below the one read are there, but it is gone, and
            // this stream never deleted anything as far up: it is not the
            // stream the edge read.
            (Some(deleted), Some(newest)) if deleted < cursor => Found::MadeAgain { newest },
            // Deleted (`XDEL`), or by a Redis older than 7.0, which does
            // not say.
            _ => Found::Same,
        }
    }

    /// Whether the edge reads the stream again from its start.
    fn reads_again(&self, cursor: EntryId) -> bool {
        matches!(
            self.found(cursor),
            Found::WentBack { .. } | Found::MadeAgain { .. }
        )
    }
}

/// The entries an edge skipped: the first is told at once; those that
/// follow within a second are counted, and the count is told at the end of
/// the first read a second later ([`Repeats`] keeps the time).
#[derive(Debug, Default)]
struct Skipped {
    repeats: Repeats,
    /// The last skipped entry counted and not told yet: its id, and why it
    /// was skipped.
    last: Option<(EntryId, String)>,
}

impl Skipped {
    /// One entry skipped, with `reason`: said at once with `event`, or
    /// counted.
    fn skip(
        &mut self,
        id: EntryId,
        reason: String,
        event: ConsoleEvent,
        now: Instant,
        console: &Console,
    ) {
        if self.repeats.heard(now) {
            console.say(event);
        } else {
            self.last = Some((id, reason));
        }
    }

    /// At the end of a read: tells the count if it is due.
    fn end_of_read(&mut self, now: Instant, console: &Console) {
        if self.repeats.count_due().is_none_or(|due| now < due) {
            return;
        }
        if let (Some(count), Some((id, reason))) = (self.repeats.take_count(now), self.last.take())
        {
            console.say(ConsoleEvent::EntriesSkipped {
                count,
                last_id: id.to_string(),
                last_reason: reason,
            });
        }
    }
}

/// An edge's reader of the stream, once the stream has named its file.
#[derive(Debug)]
pub struct StreamReader {
    link: Link,
    console: Console,
    file: String,
    /// The id of the last entry read.
    cursor: EntryId,
    /// The timestamp of the last change told (or found when starting).
    last_told: Option<u64>,
    /// Whether the stream may have changed under the edge since it last
    /// read a change (trouble, or the stream gone or gone back): the next
    /// change must be newer than the last one told.
    after_gap: bool,
    /// While the edge reads again from its start a stream that went back:
    /// the newest id it had then. Until the edge has read that far, every
    /// change must be newer than the last one told.
    catch_up_to: Option<EntryId>,
    skipped: Skipped,
    /// How many entries the next read asks for: [`BATCH`], or fewer while
    /// a read's worth was too large.
    batch: usize,
    /// Whether the operator was told that Redis does not describe the
    /// stream, since it last did.
    undescribed: bool,
}

impl StreamReader {
    /// Connects to the stream at `address` and waits until it names a file:
    /// its newest entry, or, when it is empty, its first. While Redis cannot
    /// be reached, or refuses, this keeps trying, with a back-off, and says
    /// so on `console` once per outage.
    pub async fn start(address: StreamAddress, console: Console) -> StreamReader {
        let mut reader = StreamReader {
            link: Link::new(address, EDGE_NAME, console.clone(), BLOCK + ANSWER_MARGIN),
            console,
            file: String::new(),
            cursor: EntryId::ZERO,
            last_told: None,
            after_gap: false,
            catch_up_to: None,
            skipped: Skipped::default(),
            batch: BATCH,
            undescribed: false,
        };
        let mut said_waiting = false;
        // After trouble, the newest entry is asked for again: the stream
        // may have been filled meanwhile.
        let mut fresh = true;
        loop {
            let entries = if fresh {
                reader
                    .link
                    .newest_entry()
                    .await
                    .map(|newest| newest.into_iter().collect())
            } else {
                reader.read().await
            };
            match entries {
                Ok(entries) => {
                    reader.link.succeeded();
                    fresh = false;
                    for entry in entries {
                        reader.cursor = entry.id;
                        if reader.learn(entry) {
                            return reader;
                        }
                    }
                    reader.skipped.end_of_read(Instant::now(), &reader.console);
                }
                Err(trouble) => {
                    fresh = true;
                    reader.link.failed(trouble);
                    reader.link.pause().await;
                    continue;
                }
            }
            if !said_waiting {
                said_waiting = true;
                reader.say(ConsoleEvent::StreamNamesNoFile {
                    stream: reader.link.address().to_string(),
                });
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
        // Whether to look at the stream before reading on: after trouble,
        // and after a read that found nothing new. (Entries found are
        // looked at before they are told.)
        let mut look = false;
        loop {
            if look {
                match self.look().await {
                    Ok(seen) => {
                        self.link.succeeded();
                        self.resume(seen);
                    }
                    Err(trouble) => {
                        self.after_gap = true;
                        self.link.failed(trouble);
                        self.link.pause().await;
                        continue;
                    }
                }
            }
            match self.read().await {
                Ok(entries) => {
                    self.link.succeeded();
                    look = entries.is_empty();
                    if !look && !self.still_the_same_stream().await {
                        continue;
                    }
                    self.tell(entries, &feed);
                }
                Err(trouble) => {
                    self.after_gap = true;
                    look = true;
                    self.link.failed(trouble);
                    self.link.pause().await;
                }
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
            Err(error) => {
                self.skip(entry.id, Read::Malformed(error));
                false
            }
        }
    }

    /// After a read that found entries, before they are told: whether the
    /// stream is still the one read up to the cursor. A stream made again
    /// while the edge's read was blocked wakes it with its entries above
    /// the cursor; those below it would be missed. When it is not, the
    /// edge reads it again from its start. On trouble, the entries are read
    /// again too, from the cursor.
    async fn still_the_same_stream(&mut self) -> bool {
        if self.cursor == EntryId::ZERO {
            return true;
        }
        match self.look().await {
            Ok(seen) if seen.reads_again(self.cursor) => {
                self.resume(seen);
                false
            }
            Ok(_) => true,
            Err(trouble) => {
                self.after_gap = true;
                self.link.failed(trouble);
                self.link.pause().await;
                false
            }
        }
    }

    /// Looks at the stream (see the module docs): whether the last entry
    /// read is still there, which is all there is to know when it is;
    /// otherwise the newest id, and what Redis records of the stream's
    /// history.
    async fn look(&mut self) -> Result<Look, Trouble> {
        let cursor_kept = if self.cursor == EntryId::ZERO {
            None
        } else {
            Some(self.link.entry_at(self.cursor).await?.is_some())
        };
        if cursor_kept == Some(true) {
            return Ok(Look {
                cursor_kept,
                ..Look::default()
            });
        }
        let newest = self.link.newest_entry().await?.map(|entry| entry.id);
        let history = match cursor_kept {
            Some(false) => self.history().await?,
            _ => None,
        };
        Ok(Look {
            cursor_kept,
            newest,
            history,
        })
    }

    /// What Redis records of the stream. When it will not say, the
    /// operator is told once (until it says again): the edge then takes
    /// entries deleted for a stream that went back.
    async fn history(&mut self) -> Result<Option<History>, Trouble> {
        match self.link.history().await? {
            Described::Record(history) => {
                self.undescribed = false;
                Ok(Some(history))
            }
            Described::Missing => Ok(None),
            Described::Not(reason) => {
                if !self.undescribed {
                    self.undescribed = true;
                    self.say(ConsoleEvent::StreamUndescribed {
                        stream: self.link.address().to_string(),
                        reason,
                    });
                }
                Ok(None)
            }
        }
    }

    // ANCHOR: resume
    /// Decides where to read on from, given what the edge saw when it
    /// looked at the stream (see the module docs).
    fn resume(&mut self, seen: Look) {
        let stream = self.link.address().to_string();
        let newest = match seen.found(self.cursor) {
            Found::Same => return,
            Found::Gone => {
                // Whatever is appended from now on is new, and a stream
                // being read again after it went back is no more.
                self.catch_up_to = None;
                if self.cursor != EntryId::ZERO {
                    self.after_gap = true;
                    self.cursor = EntryId::ZERO;
                }
                return;
            }
            Found::WentBack { newest } => {
                self.say(ConsoleEvent::StreamWentBack {
                    stream,
                    last_read: self.cursor.to_string(),
                    newest: newest.to_string(),
                });
                newest
            }
            Found::MadeAgain { newest } => {
                self.say(ConsoleEvent::StreamMadeAgain {
                    stream,
                    last_read: self.cursor.to_string(),
                });
                newest
            }
        };
        // Read again from its start, not from its newest entry: that one
        // may be another file's, or unreadable, with a change of ours just
        // below it.
        self.after_gap = true;
        self.cursor = EntryId::ZERO;
        self.catch_up_to = Some(newest);
    }

    /// Tells `feed` the latest change of the edge's file among `entries`,
    /// skipping the others, and moves the cursor past them all.
    fn tell(&mut self, entries: Vec<StreamEntry>, feed: &Feed) {
        let catching_up = self.catch_up_to.is_some();
        let mut latest = None;
        for entry in entries {
            self.cursor = entry.id;
            match Read::of(entry.entry, &self.file) {
                Read::Ours(change) => latest = Some(change),
                Read::Greeting => {}
                skipped => self.skip(entry.id, skipped),
            }
        }
        if self.catch_up_to.is_some_and(|to| self.cursor >= to) {
            self.catch_up_to = None;
        }
        self.skipped.end_of_read(Instant::now(), &self.console);
        let Some(change) = latest else {
            return;
        };
        let stale = (self.after_gap || catching_up)
            && self.last_told.is_some_and(|told| change.timestamp <= told);
        self.after_gap = false;
        if !stale {
            self.last_told = Some(change.timestamp);
            feed.publish(change);
        }
    }
    // ANCHOR_END: resume

    /// Counts or tells a skipped entry.
    fn skip(&mut self, id: EntryId, read: Read) {
        let (reason, event) = match read {
            Read::Foreign { file } => {
                let reason = format!("it is for another file, {}", quoted(&file));
                let event = ConsoleEvent::ForeignEntry {
                    id: id.to_string(),
                    file: quoted(&file),
                };
                (reason, event)
            }
            Read::Malformed(error) => {
                let event = ConsoleEvent::MalformedEntry {
                    id: id.to_string(),
                    reason: error.to_string(),
                };
                (error.to_string(), event)
            }
            Read::Ours(_) | Read::Greeting => return,
        };
        self.skipped
            .skip(id, reason, event, Instant::now(), &self.console);
    }

    fn say(&self, event: ConsoleEvent) {
        self.console.say(event);
    }

    /// The entries after the cursor; none when the block time passes
    /// first. A stream may hold entries of any size: when a read's worth
    /// is larger than a reply may be, the read asks for half as many,
    /// down to one; when one entry alone is, its id is learned without
    /// reading it, and it comes as one that cannot be read, to be skipped
    /// and told. After a read that fits, the next asks for twice as many,
    /// up to [`BATCH`]: a few large entries do not slow the edge for good.
    async fn read(&mut self) -> Result<Vec<StreamEntry>, Trouble> {
        loop {
            match self.read_batch().await {
                Ok(entries) => {
                    self.batch = grown(self.batch);
                    return Ok(entries);
                }
                // Never 0: halved only from 2 or more.
                Err(Trouble::TooLarge { .. }) if self.batch != 1 => self.batch /= 2,
                Err(Trouble::TooLarge { .. }) => {
                    return match self.link.entry_after(self.cursor).await? {
                        Some(entry) => Ok(vec![entry]),
                        // Gone meanwhile (trimmed, or the stream deleted).
                        None => Ok(Vec::new()),
                    };
                }
                Err(trouble) => return Err(trouble),
            }
        }
    }

    /// One blocking read of at most [`StreamReader::batch`] entries after
    /// the cursor.
    async fn read_batch(&mut self) -> Result<Vec<StreamEntry>, Trouble> {
        let mut command = redis::cmd("XREAD");
        command
            .arg("COUNT")
            .arg(self.batch)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.link.address().stream())
            .arg(self.cursor.to_string());
        let reply = self.link.query(&command, Request::Read).await?;
        entries_read(&reply).map_err(|reason| self.link.bad_reply(reason))
    }
}

/// How many entries the read after one of `batch` that fit asks for:
/// twice as many, up to [`BATCH`].
fn grown(batch: usize) -> usize {
    (batch * 2).min(BATCH)
}

/// The entries of a reply to `XREAD` for one stream: `[[stream, entries]]`,
/// or nil when the block time passed first. Any other shape is not Redis's,
/// and the error says what came.
fn entries_read(reply: &Value) -> Result<Vec<StreamEntry>, String> {
    let unexpected = || {
        format!(
            "expected the entries of one stream, got {}",
            abbreviated_debug(reply)
        )
    };
    match reply {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => match streams.as_slice() {
            [Value::Array(stream)] => match stream.as_slice() {
                [_, entries] => entries_of(entries),
                _ => Err(unexpected()),
            },
            _ => Err(unexpected()),
        },
        _ => Err(unexpected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watching::ChangeKind;
    use pretty_assertions::assert_eq;
    use std::sync::{Arc, Mutex};

    fn change(timestamp: u64) -> Change {
        Change {
            kind: ChangeKind::Modified,
            timestamp,
        }
    }

    /// A reader of `target.txt` that has read up to `cursor`, not
    /// connected (these tests hand it what a read would return), and the
    /// notifier it feeds, and what it says.
    fn reader_at(
        cursor: EntryId,
        last_told: Option<u64>,
    ) -> (
        StreamReader,
        Feed,
        crate::notifier::Notifier,
        Arc<Mutex<Vec<String>>>,
    ) {
        let (console, said) = recording();
        let address: StreamAddress = "redis://localhost/changes".parse().unwrap();
        let reader = StreamReader {
            link: Link::new(address, EDGE_NAME, console.clone(), BLOCK),
            console: console.clone(),
            file: "target.txt".into(),
            cursor,
            last_told,
            after_gap: false,
            catch_up_to: None,
            skipped: Skipped::default(),
            batch: BATCH,
            undescribed: false,
        };
        let (notifier, feed) = crate::notifier::Notifier::fed(
            "target.txt",
            crate::protocol::Protocol::Json,
            jiff::tz::TimeZone::UTC,
            console,
        );
        (reader, feed, notifier, said)
    }

    fn at(millis: u64) -> EntryId {
        EntryId { millis, seq: 0 }
    }

    fn entry(millis: u64, entry: Result<Entry, EntryError>) -> StreamEntry {
        StreamEntry {
            id: at(millis),
            entry,
        }
    }

    fn changed(file: &str, timestamp: u64) -> Result<Entry, EntryError> {
        Ok(Entry::Changed {
            file: file.into(),
            change: change(timestamp),
        })
    }

    #[test]
    fn a_read_after_one_that_fit_asks_for_twice_as_many_up_to_the_batch() {
        assert_eq!(grown(1), 2);
        assert_eq!(grown(3), 6);
        assert_eq!(grown(500), BATCH);
        assert_eq!(grown(BATCH), BATCH);
    }

    #[test]
    fn a_read_tells_its_latest_change_of_the_file_and_skips_the_rest() {
        let (mut reader, feed, notifier, said) = reader_at(at(1), None);
        reader.tell(
            vec![
                entry(2, changed("target.txt", 20)),
                entry(3, changed("target.txt", 30)),
                entry(
                    4,
                    Ok(Entry::Watching {
                        file: "target.txt".into(),
                    }),
                ),
                entry(5, changed("other.txt", 50)),
            ],
            &feed,
        );
        assert_eq!(notifier.latest().change, Some(change(30)));
        assert_eq!(notifier.latest().seq, 1, "one change told");
        assert_eq!(reader.cursor, at(5));
        assert_eq!(reader.last_told, Some(30));
        assert_eq!(
            *said.lock().unwrap(),
            ["Skipped the stream entry 5-0: it is for another file, \"other.txt\"."]
        );
        reader.tell(vec![entry(6, Err(EntryError::NoType))], &feed);
        assert_eq!(notifier.latest().seq, 1, "nothing more told");
        assert_eq!(reader.cursor, at(6));
    }

    #[test]
    fn after_a_gap_the_first_change_is_told_only_if_newer_than_the_last_told() {
        let (mut reader, feed, notifier, _) = reader_at(at(1), Some(30));
        reader.after_gap = true;
        reader.tell(vec![entry(2, changed("target.txt", 30))], &feed);
        assert_eq!(notifier.latest().seq, 0, "told before the gap: not again");
        assert!(!reader.after_gap, "one change decides");
        reader.tell(vec![entry(3, changed("target.txt", 25))], &feed);
        assert_eq!(
            notifier.latest().change,
            Some(change(25)),
            "while connected, ids alone decide"
        );
        reader.after_gap = true;
        reader.tell(vec![entry(4, changed("target.txt", 31))], &feed);
        assert_eq!(notifier.latest().change, Some(change(31)));
        assert_eq!(reader.last_told, Some(31));
    }

    #[test]
    fn a_stream_gone_is_read_from_its_start_and_a_gap_remembered() {
        let (mut reader, _, _, said) = reader_at(at(7), Some(70));
        reader.resume(gone());
        assert_eq!(reader.cursor, EntryId::ZERO);
        assert!(reader.after_gap);
        let (mut reader, _, _, _) = reader_at(EntryId::ZERO, None);
        reader.resume(gone());
        assert!(!reader.after_gap, "nothing read yet: no gap");
        assert!(said.lock().unwrap().is_empty());
    }

    #[test]
    fn a_stream_gone_back_is_said_and_read_again_from_its_start_telling_only_newer_changes() {
        let (mut reader, feed, notifier, said) = reader_at(at(7), Some(70));
        reader.resume(back_to(4));
        assert_eq!(
            said.lock().unwrap()[0],
            "The stream redis://localhost:6379/changes went back from 7-0 to 4-0: it was recreated; reading it again from its start, telling only changes newer than the last one told."
        );
        assert_eq!(reader.cursor, EntryId::ZERO, "read again from its start");
        // Each read up to the newest id it had is held to the timestamps,
        // not only the first with a change of ours.
        reader.tell(vec![entry(1, changed("target.txt", 75))], &feed);
        assert_eq!(notifier.latest().change, Some(change(75)));
        reader.tell(vec![entry(2, changed("target.txt", 60))], &feed);
        assert_eq!(
            notifier.latest().change,
            Some(change(75)),
            "older than the last told"
        );
        // The newest entry was another file's: the change below it is told.
        reader.tell(
            vec![
                entry(3, changed("target.txt", 80)),
                entry(4, changed("other.txt", 90)),
            ],
            &feed,
        );
        assert_eq!(notifier.latest().change, Some(change(80)));
        // Once past it, ids alone decide again.
        reader.tell(vec![entry(5, changed("target.txt", 79))], &feed);
        assert_eq!(notifier.latest().change, Some(change(79)));
    }

    /// Gone while it was read again after going back: the new stream is
    /// new from its start, and its ids alone decide once a change has
    /// been told (found by a re-attack: later changes were held back).
    #[test]
    fn a_stream_gone_while_read_again_drops_the_catch_up() {
        let (mut reader, feed, notifier, _) = reader_at(at(7), Some(70));
        reader.resume(back_to(4));
        reader.tell(vec![entry(1, changed("target.txt", 60))], &feed);
        reader.resume(gone());
        reader.tell(vec![entry(1, changed("target.txt", 80))], &feed);
        assert_eq!(notifier.latest().change, Some(change(80)));
        reader.tell(vec![entry(2, changed("target.txt", 75))], &feed);
        assert_eq!(
            notifier.latest().change,
            Some(change(75)),
            "while connected, ids alone decide"
        );
    }

    /// What a look finds of a stream that is gone.
    fn gone() -> Look {
        Look {
            cursor_kept: Some(false),
            ..Look::default()
        }
    }

    /// What a look finds of a stream whose newest id went back to `newest`,
    /// on a Redis that does not tell its history.
    fn back_to(newest: u64) -> Look {
        Look {
            cursor_kept: Some(false),
            newest: Some(at(newest)),
            history: None,
        }
    }

    /// What a look finds on a Redis 7 of a stream whose entry read last (7)
    /// is gone and whose newest is 9, given its first entry, its last id
    /// taken and its largest deleted one.
    fn without_the_entry_read(first: Option<u64>, last_given: u64, largest_deleted: u64) -> Look {
        Look {
            cursor_kept: Some(false),
            newest: Some(at(9)),
            history: Some(History {
                last_given: at(last_given),
                first: first.map(at),
                largest_deleted: Some(at(largest_deleted)),
            }),
        }
    }

    #[test]
    fn a_look_tells_the_same_stream_from_one_gone_back_or_made_again() {
        let cursor = at(7);
        let kept = Look {
            cursor_kept: Some(true),
            ..Look::default()
        };
        let emptied = Look {
            newest: None,
            ..without_the_entry_read(None, 9, 0)
        };
        let cases = [
            (kept, Found::Same),
            (gone(), Found::Gone),
            // Redis 7: what the stream took, holds and deleted decides.
            (
                without_the_entry_read(Some(3), 6, 0),
                Found::WentBack { newest: at(9) },
            ),
            (
                Look {
                    newest: None,
                    ..without_the_entry_read(None, 6, 0)
                },
                Found::Gone,
            ),
            (
                without_the_entry_read(Some(3), 9, 6),
                Found::MadeAgain { newest: at(9) },
            ),
            // An entry at the id read, though it was gone a moment before:
            // a stream made again since.
            (
                without_the_entry_read(Some(7), 9, 6),
                Found::MadeAgain { newest: at(9) },
            ),
            (without_the_entry_read(Some(3), 7, 7), Found::Same),
            (without_the_entry_read(Some(3), 9, 8), Found::Same),
            // Trimmed (which records no deletion) or emptied past the entry
            // read: nothing is left below it to miss.
            (without_the_entry_read(Some(8), 9, 0), Found::Same),
            (without_the_entry_read(None, 9, 0), Found::Same),
            (emptied, Found::Same),
            // Redis 6 records the last id taken, not the deleted ones.
            (
                Look {
                    history: Some(History {
                        last_given: at(9),
                        first: Some(at(3)),
                        largest_deleted: None,
                    }),
                    ..back_to(4)
                },
                Found::Same,
            ),
            // Without a record, the newest id alone.
            (back_to(4), Found::WentBack { newest: at(4) }),
            (back_to(7), Found::Same),
            (back_to(9), Found::Same),
        ];
        for (look, found) in cases {
            assert_eq!(look.found(cursor), found, "{look:?}");
            let again = matches!(found, Found::WentBack { .. } | Found::MadeAgain { .. });
            assert_eq!(look.reads_again(cursor), again, "{look:?}");
        }
        // Nothing read yet: whatever is there is read from its start.
        assert_eq!(back_to(4).found(EntryId::ZERO), Found::Same);
        assert_eq!(gone().found(EntryId::ZERO), Found::Gone);
    }

    #[test]
    fn a_stream_made_again_is_said_and_read_again_from_its_start_telling_only_newer_changes() {
        let (mut reader, feed, notifier, said) = reader_at(at(7), Some(70));
        reader.resume(without_the_entry_read(Some(3), 9, 6));
        assert_eq!(
            *said.lock().unwrap(),
            [
                "The stream redis://localhost:6379/changes was made again: the entry 7-0 read last is gone, and nothing in this stream deleted it; reading it again from its start, telling only changes newer than the last one told."
            ]
        );
        assert_eq!(reader.cursor, EntryId::ZERO, "read again from its start");
        assert_eq!(reader.catch_up_to, Some(at(9)));
        reader.tell(vec![entry(3, changed("target.txt", 60))], &feed);
        assert_eq!(notifier.latest().seq, 0, "older than the last told");
        reader.tell(vec![entry(4, changed("target.txt", 75))], &feed);
        assert_eq!(notifier.latest().change, Some(change(75)));
    }

    #[test]
    fn a_stream_as_it_was_or_grown_changes_nothing() {
        for newest in [7, 9] {
            let (mut reader, _, notifier, said) = reader_at(at(7), Some(70));
            reader.resume(back_to(newest));
            assert_eq!(reader.cursor, at(7), "read on from where it was");
            assert!(!reader.after_gap);
            assert_eq!(notifier.latest().seq, 0);
            assert!(said.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn a_starting_edge_learns_its_file_from_a_readable_entry_only() {
        let (mut reader, _, _, said) = reader_at(EntryId::ZERO, None);
        assert!(!reader.learn(entry(1, Err(EntryError::NoFile))));
        assert_eq!(
            *said.lock().unwrap(),
            ["Skipped the malformed stream entry 1-0: it has no \"file\" field."]
        );
        assert!(reader.learn(entry(2, changed("a.txt", 20))));
        assert_eq!((reader.file(), reader.last_told), ("a.txt", Some(20)));
        let (mut reader, _, _, _) = reader_at(EntryId::ZERO, None);
        let greeting = Ok(Entry::Watching {
            file: "b.txt".into(),
        });
        assert!(reader.learn(entry(3, greeting)));
        assert_eq!((reader.file(), reader.last_told), ("b.txt", None));
    }

    #[test]
    fn a_read_is_nil_or_one_streams_entries_and_anything_else_is_not_redis() {
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        assert_eq!(entries_read(&Value::Nil), Ok(Vec::new()));
        let fields = vec![bulk("type"), bulk("watching"), bulk("file"), bulk("a")];
        let one = Value::Array(vec![Value::Array(vec![
            bulk("changes"),
            Value::Array(vec![Value::Array(vec![bulk("4-0"), Value::Array(fields)])]),
        ])]);
        assert_eq!(
            entries_read(&one),
            Ok(vec![entry(4, Ok(Entry::Watching { file: "a".into() }))])
        );
        for other in [
            Value::Int(1),
            Value::Array(vec![]),
            Value::Array(vec![Value::Array(vec![bulk("changes")])]),
        ] {
            let error = entries_read(&other).unwrap_err();
            assert!(
                error.starts_with("expected the entries of one stream, got "),
                "{error}"
            );
        }
        assert_eq!(
            entries_read(&Value::Int(1)),
            Err("expected the entries of one stream, got int(1)".into())
        );
    }

    #[test]
    fn an_entry_is_read_as_ours_a_greeting_another_files_or_malformed() {
        let ours = Entry::Changed {
            file: "target.txt".into(),
            change: change(5),
        };
        assert_eq!(Read::of(Ok(ours), "target.txt"), Read::Ours(change(5)));
        let greeting = Entry::Watching {
            file: "target.txt".into(),
        };
        assert_eq!(Read::of(Ok(greeting), "target.txt"), Read::Greeting);
        let foreign = Entry::Watching {
            file: "other.txt".into(),
        };
        assert_eq!(
            Read::of(Ok(foreign), "target.txt"),
            Read::Foreign {
                file: "other.txt".into()
            }
        );
        assert_eq!(
            Read::of(Err(EntryError::NoType), "target.txt"),
            Read::Malformed(EntryError::NoType)
        );
    }

    /// A console that keeps what it is told, as lines.
    fn recording() -> (Console, Arc<Mutex<Vec<String>>>) {
        let said = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&said);
        let console = Console::new(move |event| sink.lock().unwrap().push(event.to_string()));
        (console, said)
    }

    fn skip(skipped: &mut Skipped, seq: u64, now: Instant, console: &Console) {
        let id = EntryId { millis: 1, seq };
        let event = ConsoleEvent::MalformedEntry {
            id: id.to_string(),
            reason: "no type".into(),
        };
        skipped.skip(id, format!("reason {seq}"), event, now, console);
    }

    #[test]
    fn skipped_entries_are_told_once_then_counted_and_the_count_told_a_second_later() {
        let (console, said) = recording();
        let mut skipped = Skipped::default();
        let start = Instant::now();
        let second = crate::console::REPEATS_TOLD_EVERY;
        skip(&mut skipped, 0, start, &console);
        for seq in 1..=3 {
            skip(&mut skipped, seq, start, &console);
        }
        skipped.end_of_read(start + second / 2, &console);
        assert_eq!(said.lock().unwrap().len(), 1, "the count waits a second");
        skip(&mut skipped, 4, start + second, &console);
        skipped.end_of_read(start + second, &console);
        assert_eq!(
            *said.lock().unwrap(),
            [
                "Skipped the malformed stream entry 1-0: no type.",
                "Skipped 4 more stream entries since; the last, 1-4: reason 4.",
            ]
        );
        // Told a second ago: the next one is counted, not told.
        skip(&mut skipped, 5, start + second + second / 2, &console);
        skipped.end_of_read(start + second + second / 2, &console);
        assert_eq!(said.lock().unwrap().len(), 2);
        skipped.end_of_read(start + second * 2, &console);
        assert_eq!(
            said.lock().unwrap()[2],
            "Skipped 1 more stream entry since: 1-5, reason 5."
        );
        // Nothing skipped since: nothing to tell, and the next skip after a
        // quiet second is told at once.
        skipped.end_of_read(start + second * 4, &console);
        skip(&mut skipped, 6, start + second * 4, &console);
        assert_eq!(
            said.lock().unwrap()[3],
            "Skipped the malformed stream entry 1-6: no type."
        );
        assert_eq!(said.lock().unwrap().len(), 4);
    }
}
