//! Beyond one machine: changes published to a Redis stream, and edge servers
//! that relay them to their own subscribers. (Chapter 12.)
//!
//! One net-watcher serves about ten thousand subscribers on two cores. Past
//! that, or when subscribers live far from the file, the watcher publishes
//! each change once to a broker, and edge servers near the subscribers read
//! it from there and fan it out. The broker is Redis, and the road is a
//! **stream** (`XADD` to append, `XREAD` to read from a position): unlike
//! `PUBLISH`, which is lost when nobody is listening at that instant, a
//! stream keeps its entries, so an edge that was away reads on from the last
//! entry it saw.
//!
//! - [`publisher`]: the watcher's side. The stream is one more subscriber of
//!   the watcher's [`Notifier`](crate::notifier::Notifier): it is offered
//!   every change like any other, keeps only the latest one it has not yet
//!   appended, and appends it when Redis answers. Local subscribers never
//!   wait for Redis.
//! - [`edge`]: the edge's side. A stream reader that feeds a notifier whose
//!   changes come from the stream instead of an OS watch
//!   ([`Notifier::fed`](crate::notifier::Notifier::fed)); from there on an
//!   edge is the same server as a watcher.
//!
//! This module owns what both sides share: where the stream is
//! ([`StreamAddress`]), what an entry says ([`Entry`], or why it cannot be
//! read: [`EntryError`]), entry ids ([`EntryId`]), and how long to wait
//! before trying Redis again ([`Backoff`]). Both sides talk to Redis
//! through a [`link`]: one connection, and what went wrong on it; and
//! every reply comes through a meter ([`replies`]) that refuses one too
//! large before it is read.
//!
//! ## An entry
//!
//! Each entry carries the same messages as the line-delimited JSON protocol,
//! as Redis fields: `type` (`watching` or `changed`), `file` (the name the
//! publisher was given, which an edge's greeting shows), and for a change
//! `timestamp` (milliseconds since the Unix epoch) and `kind` (`modified`,
//! `created`, `removed` or `rescan`). A publisher appends a `watching` entry
//! when it finds the stream missing or naming another file, so that an edge
//! started before the first change can greet its subscribers. The file name
//! travels as it is, control characters included (Redis keeps any bytes):
//! an edge greets with it as the publisher does, escaped by the protocol.
//!
//! ## Ids
//!
//! Every entry has an id `MS-SEQ`, and the publisher chooses it (see
//! [`publisher`] for why): the change's timestamp, with a sequence number
//! for changes in the same millisecond, always above the last id it wrote
//! or found, and computed with checked arithmetic: above the last possible
//! id ([`EntryId::LAST`]) there is none, and the publisher says so rather
//! than overflow. An edge remembers the last id it read and asks for what
//! comes after it; see [`edge`] for what it does when ids go backwards.

pub mod edge;
pub mod link;
pub mod publisher;
pub mod replies;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use redis::Value;

use crate::protocol::escape_controls;
use crate::watching::{Change, ChangeKind};
use replies::{MeteredStream, RefusalSlot};

/// How many entries a publisher keeps in the stream by default (`MAXLEN ~`,
/// so Redis may keep a few more: it trims whole blocks of entries).
///
/// An edge needs only the entries after the last one it read, and of those
/// only the latest change; so any cap is correct. A thousand entries (some
/// hundred kilobytes) is a history an operator can still read with
/// `XRANGE`, and bounds Redis's memory however long the watcher runs.
pub const DEFAULT_MAXLEN: usize = 1000;

/// Where the stream is: a Redis server (TCP or Unix socket) and the
/// stream's key in it.
///
/// Written as a URL: `redis://HOST[:PORT]/STREAM` (a user and password may
/// come before the host, as `redis://:PASSWORD@HOST/STREAM`), or
/// `redis+unix:///PATH/TO/redis.sock?stream=STREAM` for a Unix socket.
#[derive(Debug, Clone)]
pub struct StreamAddress {
    client: redis::Client,
    stream: String,
    shown: String,
}

/// What is wrong with a stream URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadStreamAddress(String);

impl fmt::Display for BadStreamAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; expected redis://HOST[:PORT]/STREAM or redis+unix:///PATH?stream=STREAM",
            self.0
        )
    }
}

impl std::error::Error for BadStreamAddress {}

impl FromStr for StreamAddress {
    type Err = BadStreamAddress;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| BadStreamAddress(reason);
        let mut url = redis::parse_redis_url(text)
            .ok_or_else(|| bad(format!("{text:?} is not a Redis URL")))?;
        let (stream, shown) = match url.scheme() {
            "redis" => {
                let host = url
                    .host_str()
                    .filter(|host| !host.is_empty())
                    .ok_or_else(|| bad(format!("{text:?} names no host")))?
                    .to_owned();
                let port = url.port().unwrap_or(6379);
                // The path is the stream's key here; the Redis crate would
                // read it as a database number, so it is taken off before
                // the URL is handed over (database 0).
                let stream = url.path().trim_start_matches('/').to_owned();
                if stream.is_empty() || stream.contains('/') {
                    return Err(bad(format!(
                        "{text:?} names no stream: put its name after the host, as in redis://{host}:{port}/changes"
                    )));
                }
                url.set_path("");
                let shown = format!("redis://{host}:{port}/{stream}");
                (stream, shown)
            }
            "redis+unix" | "unix" => {
                let stream = url
                    .query_pairs()
                    .find(|(key, _)| key == "stream")
                    .map(|(_, value)| value.into_owned())
                    .filter(|stream| !stream.is_empty())
                    .ok_or_else(|| {
                        bad(format!(
                            "{text:?} names no stream: add ?stream=NAME after the socket's path"
                        ))
                    })?;
                if url.path().is_empty() || url.path() == "/" {
                    return Err(bad(format!("{text:?} names no socket path")));
                }
                let shown = format!("redis+unix://{}?stream={stream}", url.path());
                (stream, shown)
            }
            other => {
                return Err(bad(format!(
                    "{other}:// is not supported (this build has no TLS)"
                )));
            }
        };
        let client = redis::Client::open(url)
            .map_err(|error| bad(format!("{text:?} is not a usable Redis URL: {error}")))?;
        Ok(StreamAddress {
            client,
            stream,
            shown,
        })
    }
}

impl StreamAddress {
    /// The stream's key in Redis.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Opens a new connection to the Redis server, which answers each
    /// command within `patience` or fails it, and whose replies are bounded
    /// (see [`replies`]): why one was refused is left in the returned slot.
    pub(crate) async fn connect(
        &self,
        patience: Duration,
    ) -> redis::RedisResult<(redis::aio::MultiplexedConnection, RefusalSlot)> {
        let refused = RefusalSlot::default();
        let info = self.client.get_connection_info();
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(patience));
        // The socket is opened here rather than by the crate, so that its
        // reads go through the meter; the crate then speaks Redis over it.
        let connecting = async {
            match info.addr() {
                redis::ConnectionAddr::Tcp(host, port) => {
                    let socket = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    // With Redis down on a port of the OS's outgoing range,
                    // the socket may be connected to itself: it would read
                    // its own commands back, and hold the port Redis wants.
                    let socket = crate::client::refuse_a_connection_to_itself(socket)?;
                    // One small command at a time: nothing to gain by
                    // waiting to fill a packet.
                    socket.set_nodelay(true)?;
                    speak_redis(socket, info.redis_settings(), config, &refused).await
                }
                redis::ConnectionAddr::Unix(path) => {
                    let socket = tokio::net::UnixStream::connect(path).await?;
                    speak_redis(socket, info.redis_settings(), config, &refused).await
                }
                // Refused when the address was parsed (no TLS in this
                // build): `FromStr` takes redis:// and redis+unix:// only.
                _ => unreachable!("a StreamAddress is TCP or a Unix socket"),
            }
        };
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        Ok((connection, refused))
    }
}

/// Speaks Redis over `socket`, its replies metered (`refused` says why one
/// was refused). The crate hands back the task that reads and writes the
/// socket for the connection, spawned here; it ends when the connection is
/// dropped.
async fn speak_redis<S>(
    socket: S,
    settings: &redis::RedisConnectionInfo,
    config: redis::AsyncConnectionConfig,
    refused: &RefusalSlot,
) -> redis::RedisResult<redis::aio::MultiplexedConnection>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let metered = MeteredStream::new(socket, refused.clone());
    let (connection, driver) =
        redis::aio::MultiplexedConnection::new_with_config(settings, metered, config).await?;
    tokio::spawn(driver);
    Ok(connection)
}

impl fmt::Display for StreamAddress {
    /// The address as the operator's messages show it: no password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// How long connecting to Redis may take before it counts as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An entry's id: milliseconds, then a sequence number within them.
/// Ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EntryId {
    /// The millisecond part.
    pub millis: u64,
    /// The sequence number within that millisecond.
    pub seq: u64,
}

impl EntryId {
    /// The id before every id a stream can hold (`0-0`).
    pub const ZERO: EntryId = EntryId { millis: 0, seq: 0 };

    /// The last id a stream can hold: no entry can follow an entry with
    /// this id (Redis refuses any more, even with `*`).
    pub const LAST: EntryId = EntryId {
        millis: u64::MAX,
        seq: u64::MAX,
    };

    /// The smallest id above both `self` and `millis-0`: what a publisher
    /// gives a change made at `millis` after writing `self`. `None` when
    /// `self` is [`EntryId::LAST`], above which there is no id.
    pub fn checked_next_for(self, millis: u64) -> Option<EntryId> {
        if millis > self.millis {
            return Some(EntryId { millis, seq: 0 });
        }
        // Checked, not wrapping: an id that wrapped round to 0-0 would be
        // refused by Redis as too low, looked up, and tried again, forever.
        match self.seq.checked_add(1) {
            Some(seq) => Some(EntryId {
                millis: self.millis,
                seq,
            }),
            None => Some(EntryId {
                millis: self.millis.checked_add(1)?,
                seq: 0,
            }),
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.seq)
    }
}

impl FromStr for EntryId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unreadable = || format!("{text:?} is not a stream id");
        let (millis, seq) = text.split_once('-').ok_or_else(unreadable)?;
        // Digits only: `u64::from_str` also takes a leading `+`, which no
        // id Redis gives has (nor the browser's, which take this shape).
        let number = |part: &str| {
            part.bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| part.parse::<u64>().ok())
                .flatten()
                .ok_or_else(unreadable)
        };
        Ok(EntryId {
            millis: number(millis)?,
            seq: number(seq)?,
        })
    }
}

/// What one stream entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A publisher names the file it watches.
    Watching {
        /// The file's name, as the publisher was given it.
        file: String,
    },
    /// The file changed.
    Changed {
        /// The file's name, as the publisher was given it.
        file: String,
        /// The change.
        change: Change,
    },
}

impl Entry {
    /// The file the entry names.
    pub fn file(&self) -> &str {
        match self {
            Entry::Watching { file } | Entry::Changed { file, .. } => file,
        }
    }

    /// The entry's fields, as `XADD` takes them.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Entry::Watching { file } => vec![("type", "watching".into()), ("file", file.clone())],
            Entry::Changed { file, change } => vec![
                ("type", "changed".into()),
                ("file", file.clone()),
                ("timestamp", change.timestamp.to_string()),
                ("kind", kind_name(change.kind).into()),
            ],
        }
    }

    /// Checks that `file` is a name an edge can greet with: what a
    /// publisher checks before it starts, and an edge for every entry.
    pub fn check_file(file: &str) -> Result<(), EntryError> {
        if file.is_empty() {
            return Err(EntryError::EmptyFileName);
        }
        // A greeting is one short line: a name no file system would give
        // is refused rather than sent to every subscriber. Control
        // characters are not refused: Redis keeps any bytes, and the
        // greeting escapes them, as the watcher's own does.
        if file.len() > MAX_FILE_NAME {
            return Err(EntryError::FileNameTooLong { bytes: file.len() });
        }
        Ok(())
    }

    /// Reads an entry from its fields, as Redis returns them (names and
    /// values alternating). Anything else is malformed, and the error says
    /// how, for the operator.
    pub fn from_fields(fields: &[Value]) -> Result<Entry, EntryError> {
        if fields.len() % 2 != 0 {
            return Err(EntryError::FieldsNotInPairs);
        }
        let mut entry_type = None;
        let mut file = None;
        let mut timestamp = None;
        let mut kind = None;
        for pair in fields.chunks(2) {
            let name = text_of(&pair[0]).ok_or(EntryError::FieldNameNotText)?;
            let slot = match name.as_str() {
                "type" => &mut entry_type,
                "file" => &mut file,
                "timestamp" => &mut timestamp,
                "kind" => &mut kind,
                // Fields this version does not know are left for later
                // versions: ignoring them keeps old edges working.
                _ => continue,
            };
            let value = text_of(&pair[1]).ok_or(EntryError::FieldNotText { name })?;
            *slot = Some(value);
        }
        let file = file.ok_or(EntryError::NoFile)?;
        Entry::check_file(&file)?;
        match entry_type.as_deref() {
            Some("watching") => Ok(Entry::Watching { file }),
            Some("changed") => {
                let timestamp = timestamp.ok_or(EntryError::NoTimestamp)?;
                let timestamp = timestamp
                    .parse::<u64>()
                    .map_err(|_| EntryError::BadTimestamp(timestamp))?;
                let kind = match kind {
                    // A change written without its kind is still a change.
                    None => ChangeKind::Modified,
                    Some(name) => kind_from_name(&name).ok_or(EntryError::UnknownKind(name))?,
                };
                Ok(Entry::Changed {
                    file,
                    change: Change { kind, timestamp },
                })
            }
            Some(_) => Err(EntryError::UnknownType(
                entry_type.expect("matched as Some"),
            )),
            None => Err(EntryError::NoType),
        }
    }
}

/// Why a stream entry cannot be read. Its `Display` completes "Skipped the
/// malformed stream entry ID: ", and shows what the entry held abbreviated,
/// with control characters escaped: an entry is anyone's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// An odd number of fields and values.
    FieldsNotInPairs,
    /// A field's name is not UTF-8 text.
    FieldNameNotText,
    /// A known field's value is not UTF-8 text.
    FieldNotText {
        /// The field's name.
        name: String,
    },
    /// No `file` field.
    NoFile,
    /// An empty `file`.
    EmptyFileName,
    /// A `file` longer than [`MAX_FILE_NAME`].
    FileNameTooLong {
        /// Its length.
        bytes: usize,
    },
    /// No `type` field.
    NoType,
    /// A `type` other than `watching` and `changed`.
    UnknownType(String),
    /// A change with no `timestamp`.
    NoTimestamp,
    /// A `timestamp` that is not a number of milliseconds.
    BadTimestamp(String),
    /// A `kind` that is not one of the four.
    UnknownKind(String),
    /// Nil where the fields should be: an entry deleted while a read of it
    /// was under way.
    NoFields,
    /// More than one reply may take
    /// ([`MAX_REPLY_BYTES`](replies::MAX_REPLY_BYTES) or
    /// [`MAX_REPLY_VALUES`](replies::MAX_REPLY_VALUES)): not read at all.
    TooLarge,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::FieldsNotInPairs => write!(f, "its fields do not come in pairs"),
            EntryError::FieldNameNotText => write!(f, "a field name is not text"),
            EntryError::FieldNotText { name } => {
                write!(f, "the field {} is not text", quoted(name))
            }
            EntryError::NoFile => write!(f, "it has no \"file\" field"),
            EntryError::EmptyFileName => write!(f, "its file name is empty"),
            EntryError::FileNameTooLong { bytes } => write!(
                f,
                "its file name is {bytes} bytes long, more than {MAX_FILE_NAME}"
            ),
            EntryError::NoType => write!(f, "it has no \"type\" field"),
            EntryError::UnknownType(name) => write!(f, "unknown type {}", quoted(name)),
            EntryError::NoTimestamp => write!(f, "a change with no \"timestamp\" field"),
            EntryError::BadTimestamp(text) => write!(
                f,
                "its timestamp {} is not a number of milliseconds",
                quoted(text)
            ),
            EntryError::UnknownKind(name) => write!(f, "unknown kind {}", quoted(name)),
            EntryError::NoFields => write!(f, "it has no fields"),
            EntryError::TooLarge => write!(
                f,
                "it is larger than the {} MiB or {} values that one read may take",
                replies::MAX_REPLY_BYTES >> 20,
                replies::MAX_REPLY_VALUES
            ),
        }
    }
}

impl std::error::Error for EntryError {}

/// The longest text from outside (an entry's value, Redis's answer) that a
/// console line quotes, in characters; the rest is cut, and said to be.
pub(crate) const QUOTED_AT_MOST: usize = 200;

/// `text` as a console line quotes it: in double quotes, control characters
/// escaped as [`escape_controls`] does (`\n`, `\u001b`), at most
/// [`QUOTED_AT_MOST`] characters of it.
pub(crate) fn quoted(text: &str) -> String {
    format!("\"{}\"", abbreviated(text))
}

/// `text` with control characters escaped, cut after [`QUOTED_AT_MOST`]
/// characters (`…` and its length in bytes say that it was).
pub(crate) fn abbreviated(text: &str) -> String {
    let mut cut = Cut::new();
    if cut.take(text).is_err() {
        return format!("{}… ({} bytes in all)", cut.shown, text.len());
    }
    cut.shown
}

/// `value`'s debug form, as an error message shows a reply it did not
/// expect: abbreviated like [`abbreviated`], and never written whole
/// first (a reply may hold megabytes).
pub(crate) fn abbreviated_debug(value: &impl fmt::Debug) -> String {
    let mut cut = Cut::new();
    // An error here is the writer refusing more: the cut is the point.
    if fmt::write(&mut cut, format_args!("{value:?}")).is_err() {
        cut.shown.push('…');
    }
    cut.shown
}

/// A writer that takes [`QUOTED_AT_MOST`] characters, control characters
/// escaped, then refuses more.
struct Cut {
    shown: String,
    room: usize,
}

impl Cut {
    fn new() -> Self {
        Cut {
            shown: String::new(),
            room: QUOTED_AT_MOST,
        }
    }

    fn take(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            if self.room == 0 {
                return Err(fmt::Error);
            }
            self.room -= 1;
            if character.is_control() {
                // As the rest of net-watcher shows them: `\n`, `\u001b`.
                let mut one = [0; 4];
                self.shown
                    .push_str(&escape_controls(character.encode_utf8(&mut one)));
            } else {
                self.shown.push(character);
            }
        }
        Ok(())
    }
}

impl fmt::Write for Cut {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.take(text)
    }
}

/// The longest file name an entry may carry, in bytes (Linux's longest
/// path).
pub const MAX_FILE_NAME: usize = 4096;

/// One entry as read from the stream: its id, and what it says (or why it
/// could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's id.
    pub id: EntryId,
    /// What it says, or why it is malformed.
    pub entry: Result<Entry, EntryError>,
}

/// Reads the entries of an `XRANGE`/`XREVRANGE` reply, or of one stream in
/// an `XREAD` reply: `[[id, [field, value, ...]], ...]`. A reply of another
/// shape is an error of the connection (a server that is not Redis), not of
/// one entry.
pub(crate) fn entries_of(reply: &Value) -> Result<Vec<StreamEntry>, String> {
    let Value::Array(items) = reply else {
        return Err(format!(
            "expected a list of stream entries, got {}",
            abbreviated_debug(reply)
        ));
    };
    items
        .iter()
        .map(|item| {
            let shape = || {
                format!(
                    "expected [id, fields] for a stream entry, got {}",
                    abbreviated_debug(item)
                )
            };
            let Value::Array(parts) = item else {
                return Err(shape());
            };
            let [id, fields] = parts.as_slice() else {
                return Err(shape());
            };
            let id = text_of(id)
                .ok_or_else(shape)?
                .parse::<EntryId>()
                .map_err(|_| shape())?;
            let entry = match fields {
                Value::Array(fields) => Entry::from_fields(fields),
                // Redis answers nil fields for an entry deleted while a
                // reader's request was in flight.
                _ => Err(EntryError::NoFields),
            };
            Ok(StreamEntry { id, entry })
        })
        .collect()
}

pub(crate) fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Modified => "modified",
        ChangeKind::Created => "created",
        ChangeKind::Removed => "removed",
        ChangeKind::Rescan => "rescan",
    }
}

fn kind_from_name(name: &str) -> Option<ChangeKind> {
    Some(match name {
        "modified" => ChangeKind::Modified,
        "created" => ChangeKind::Created,
        "removed" => ChangeKind::Removed,
        "rescan" => ChangeKind::Rescan,
        _ => return None,
    })
}

/// The wait between attempts to reach Redis: short at first, so that a
/// restart is noticed at once, doubling up to a cap, so that a long outage
/// costs an attempt every couple of seconds and no more.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(50);
    /// The longest wait.
    pub const MOST: Duration = Duration::from_secs(2);

    /// A back-off at its first wait.
    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// Sleeps for the current wait, then doubles it (up to [`Self::MOST`]).
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MOST);
    }

    /// Back to the first wait, after a success.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn fields_of(entry: &Entry) -> Vec<Value> {
        entry
            .fields()
            .into_iter()
            .flat_map(|(name, value)| [bulk(name), bulk(&value)])
            .collect()
    }

    #[test]
    fn an_entry_reads_back_as_it_was_written() {
        let entries = [
            Entry::Watching {
                file: "target.txt".into(),
            },
            Entry::Changed {
                file: "target.txt".into(),
                change: Change {
                    kind: ChangeKind::Removed,
                    timestamp: 1_450_694_370_094,
                },
            },
        ];
        for entry in entries {
            assert_eq!(Entry::from_fields(&fields_of(&entry)), Ok(entry));
        }
    }

    #[test]
    fn every_kind_of_change_reads_back_as_it_was_written() {
        for kind in [
            ChangeKind::Modified,
            ChangeKind::Created,
            ChangeKind::Removed,
            ChangeKind::Rescan,
        ] {
            let entry = Entry::Changed {
                file: "a".into(),
                change: Change { kind, timestamp: 7 },
            };
            assert_eq!(Entry::from_fields(&fields_of(&entry)), Ok(entry));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_back_off_doubles_from_50_ms_to_2_s_and_starts_again_after_a_success() {
        let mut backoff = Backoff::default();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let before = tokio::time::Instant::now();
            backoff.wait().await;
            waits.push(before.elapsed().as_millis());
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        let before = tokio::time::Instant::now();
        backoff.wait().await;
        assert_eq!(before.elapsed().as_millis(), 50);
    }

    #[test]
    fn a_malformed_entry_says_what_is_wrong() {
        let long_name = "x".repeat(MAX_FILE_NAME + 1);
        let cases: [(&[&str], &str); 9] = [
            (&["type", "watching", "file", &long_name], "more than 4096"),
            (&["type", "watching", "file", ""], "its file name is empty"),
            (&["type", "changed", "file", "a"], "no \"timestamp\""),
            (
                &["type", "changed", "file", "a", "timestamp", "soon"],
                "its timestamp \"soon\" is not a number",
            ),
            (
                &[
                    "type",
                    "changed",
                    "file",
                    "a",
                    "timestamp",
                    "1",
                    "kind",
                    "moved",
                ],
                "unknown kind \"moved\"",
            ),
            (&["type", "moved", "file", "a"], "unknown type \"moved\""),
            (&["file", "a"], "no \"type\""),
            (&["type", "watching"], "no \"file\""),
            (&["type", "watching", "file"], "not come in pairs"),
        ];
        for (fields, reason) in cases {
            let fields: Vec<Value> = fields.iter().map(|text| bulk(text)).collect();
            let error = Entry::from_fields(&fields).unwrap_err().to_string();
            assert!(error.contains(reason), "{fields:?}: {error:?}");
        }
    }

    #[test]
    fn a_field_that_is_not_text_is_named() {
        let not_text = Value::BulkString(vec![0xff, 0xfe]);
        let named = [bulk("type"), not_text.clone()];
        assert_eq!(
            Entry::from_fields(&named).unwrap_err().to_string(),
            "the field \"type\" is not text"
        );
        let nameless = [not_text, bulk("a")];
        assert_eq!(
            Entry::from_fields(&nameless),
            Err(EntryError::FieldNameNotText)
        );
        let simple = [
            Value::SimpleString("type".into()),
            Value::SimpleString("watching".into()),
            bulk("file"),
            bulk("a"),
        ];
        assert_eq!(
            Entry::from_fields(&simple),
            Ok(Entry::Watching { file: "a".into() })
        );
    }

    #[test]
    fn a_file_name_with_control_characters_is_carried_as_it_is() {
        let entry = Entry::Watching {
            file: "a\nFile changed: FAKE\u{1b}[31m".into(),
        };
        assert_eq!(Entry::from_fields(&fields_of(&entry)), Ok(entry));
        assert_eq!(Entry::check_file(&"x".repeat(MAX_FILE_NAME)), Ok(()));
    }

    #[test]
    fn what_an_entry_holds_is_quoted_abbreviated_and_escaped() {
        let error = EntryError::UnknownType(format!("\u{1b}]0;{}", "y".repeat(500)));
        let said = error.to_string();
        assert!(said.starts_with("unknown type \"\\u001b]0;yyy"), "{said}");
        assert!(said.ends_with("… (504 bytes in all)\""), "{said}");
        // The name is cut after QUOTED_AT_MOST characters: four before the
        // y's (ESC, `]`, `0`, `;`).
        assert_eq!(
            said.matches("y").count() - "type bytes".matches("y").count(),
            QUOTED_AT_MOST - 4,
            "{said}"
        );
        assert_eq!(
            abbreviated(&"z".repeat(QUOTED_AT_MOST)),
            "z".repeat(QUOTED_AT_MOST)
        );
    }

    #[test]
    fn a_reply_is_shown_abbreviated_without_being_written_whole() {
        let reply = Value::Array(vec![Value::Int(1); 100_000]);
        let shown = abbreviated_debug(&reply);
        assert!(shown.starts_with("array([int(1), int(1)"), "{shown}");
        assert_eq!(shown.chars().count(), QUOTED_AT_MOST + 1, "{shown}");
        assert!(shown.ends_with('…'), "{shown}");
        assert_eq!(abbreviated_debug(&Value::Nil), "nil");
    }

    #[test]
    fn a_reply_of_another_shape_than_entries_is_an_error_of_the_reply() {
        for reply in [
            Value::Int(3),
            Value::Array(vec![Value::Int(3)]),
            Value::Array(vec![Value::Array(vec![bulk("1-0")])]),
            Value::Array(vec![Value::Array(vec![bulk("soon"), Value::Array(vec![])])]),
        ] {
            assert!(entries_of(&reply).is_err(), "{reply:?}");
        }
        let entry = Entry::Watching { file: "a".into() };
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("1-2"),
            Value::Array(fields_of(&entry)),
        ])]);
        assert_eq!(
            entries_of(&reply),
            Ok(vec![StreamEntry {
                id: EntryId { millis: 1, seq: 2 },
                entry: Ok(entry),
            }])
        );
        let deleted = Value::Array(vec![Value::Array(vec![bulk("1-0"), Value::Nil])]);
        assert_eq!(
            entries_of(&deleted),
            Ok(vec![StreamEntry {
                id: EntryId { millis: 1, seq: 0 },
                entry: Err(EntryError::NoFields),
            }])
        );
    }

    #[test]
    fn ids_order_as_redis_orders_them_and_a_next_id_is_always_above() {
        let id: EntryId = "1700000000000-3".parse().unwrap();
        assert!(id < "1700000000000-10".parse().unwrap());
        assert!(id < "1700000000001-0".parse().unwrap());
        let next = |id: EntryId, millis| id.checked_next_for(millis).map(|id| id.to_string());
        assert_eq!(
            next(id, 1_700_000_000_005).as_deref(),
            Some("1700000000005-0")
        );
        assert_eq!(
            next(id, 1_700_000_000_000).as_deref(),
            Some("1700000000000-4")
        );
        assert_eq!(next(id, 5).as_deref(), Some("1700000000000-4"));
        assert!("12".parse::<EntryId>().is_err());
        assert!("1-x".parse::<EntryId>().is_err());
        assert!("+1-2".parse::<EntryId>().is_err());
        assert!("1-+2".parse::<EntryId>().is_err());
        assert!("18446744073709551616-0".parse::<EntryId>().is_err());
    }

    #[test]
    fn no_id_arithmetic_overflows_even_at_the_last_possible_id() {
        let last: EntryId = "18446744073709551615-18446744073709551615".parse().unwrap();
        assert_eq!(last, EntryId::LAST);
        assert_eq!(EntryId::LAST.checked_next_for(u64::MAX), None);
        assert_eq!(EntryId::LAST.checked_next_for(0), None);
        let full_millisecond = EntryId {
            millis: 7,
            seq: u64::MAX,
        };
        assert_eq!(
            full_millisecond.checked_next_for(7),
            Some(EntryId { millis: 8, seq: 0 })
        );
        let last_millisecond = EntryId {
            millis: u64::MAX,
            seq: 41,
        };
        assert_eq!(
            last_millisecond.checked_next_for(3),
            Some(EntryId {
                millis: u64::MAX,
                seq: 42
            })
        );
    }

    #[test]
    fn a_stream_url_names_a_server_and_a_stream() {
        let tcp: StreamAddress = "redis://localhost:6380/changes".parse().unwrap();
        assert_eq!(
            (tcp.stream(), tcp.to_string().as_str()),
            ("changes", "redis://localhost:6380/changes")
        );
        let unix: StreamAddress = "redis+unix:///tmp/r.sock?stream=files".parse().unwrap();
        assert_eq!(
            (unix.stream(), unix.to_string().as_str()),
            ("files", "redis+unix:///tmp/r.sock?stream=files")
        );
        let hidden: StreamAddress = "redis://:secret@localhost/changes".parse().unwrap();
        assert!(!hidden.to_string().contains("secret"));
    }

    /// With nothing listening on a port inside the OS's range for outgoing
    /// connections, a connection to it is now and then given that very
    /// port, and TCP connects it to itself: the link then read its own
    /// commands back as Redis's replies, and held the port, so that the
    /// Redis server started there next failed with "address in use". Made
    /// certain here: in a network namespace of its own, whose outgoing
    /// range is that one port.
    #[test]
    fn a_connection_made_to_itself_is_refused_and_lets_its_port_go() {
        crate::grade::isolation::in_a_network_of_its_own(|| {
            let port = 40_000;
            // Per network namespace, and this thread is alone in its own.
            std::fs::write(
                "/proc/sys/net/ipv4/ip_local_port_range",
                format!("{port} {port}"),
            )
            .unwrap();
            let address: StreamAddress =
                format!("redis://127.0.0.1:{port}/changes").parse().unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let Err(error) = runtime.block_on(address.connect(Duration::from_secs(5))) else {
                panic!("a connection, where nothing listens");
            };
            assert!(error.to_string().contains("to itself"), "{error}");
            // Let go at once: a Redis server can listen there now.
            assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        });
    }

    #[test]
    fn a_bad_stream_url_is_refused_with_its_reason() {
        let cases = [
            ("http://localhost/changes", "not a Redis URL"),
            ("redis://localhost", "names no stream"),
            ("redis://localhost/a/b", "names no stream"),
            ("redis+unix:///tmp/r.sock", "names no stream"),
            ("redis+unix:///?stream=changes", "names no socket path"),
            ("redis+unix://?stream=changes", "names no socket path"),
            ("rediss://localhost/changes", "not supported"),
            ("changes", "not a Redis URL"),
        ];
        for (text, reason) in cases {
            let error = text.parse::<StreamAddress>().unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(error.contains("expected redis://"), "{text}: {error}");
        }
    }
}
