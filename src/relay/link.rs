//! One connection to Redis, and what went wrong on it. (Chapter 12.)
//!
//! A publisher and an edge each talk to Redis through one [`Link`]: it
//! connects when there is no connection, runs one command at a time, and
//! sorts every failure into a [`Trouble`]:
//!
//! - **unreachable**: no connection, a connection that broke, or no answer
//!   in time (a network cut with no reset sends nothing at all). The
//!   connection is dropped, and the next request makes a new one.
//! - **refused**: Redis answered with an error (`OOM`, `READONLY`,
//!   `WRONGTYPE`, `NOAUTH`…). Redis is there and working: the connection
//!   is kept, and the request is tried again later on it. Reconnecting
//!   would change nothing but the load on Redis.
//! - **full**: the stream's newest id is the last possible one, so no entry
//!   can follow it (a publisher learns this from the stream, and asks
//!   nothing it knows Redis would refuse).
//! - **too large**: a reply larger than [`replies`](super::replies) lets
//!   through, which Redis may send (the stream holds a large entry). The
//!   connection is dropped (the reply's rest is still coming on it); a
//!   reader asks for fewer entries, or skips the one (see
//!   [`Link::entry_after`]).
//! - **a bad reply**: an answer Redis does not send (another server on its
//!   port, or a hostile one). What else that connection would bring cannot
//!   be trusted: it is dropped.
//!
//! Whatever the trouble, the next attempt waits for a [`Backoff`], and the
//! operator is told once when trouble begins (again only if it changes
//! kind, say from refused to unreachable) and once when it ends: an outage
//! of an hour costs two lines and an attempt every two seconds.

use std::time::Duration;

use redis::Value;
use redis::aio::MultiplexedConnection;

use super::replies::RefusalSlot;
use super::{Backoff, EntryError, EntryId, StreamAddress, StreamEntry, abbreviated, entries_of};
use super::{abbreviated_debug, text_of};
use crate::console::{Console, ConsoleEvent};

/// What a request asked of Redis: what the operator is told was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Appending an entry (`XADD`).
    Entry,
    /// Reading the stream (`XREAD`, `XRANGE`, `XREVRANGE`).
    Read,
}

/// What went wrong with a request to Redis (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// Redis could not be reached, or did not answer in time.
    Unreachable(String),
    /// Redis answered `answer` (its error, as it sent it) to a request.
    Refused {
        /// What was asked.
        request: Request,
        /// What Redis answered, abbreviated.
        answer: String,
    },
    /// The stream's newest id is [`EntryId::LAST`]: no entry can follow.
    Full,
    /// An answer Redis does not send; the reason says what came.
    BadReply(String),
    /// A reply larger than a reply may be.
    TooLarge {
        /// How large, as the meter says.
        reason: String,
        /// The reply's first bulk string, when short and read whole: in a
        /// reply to `XRANGE`, the first entry's id.
        first_string: Option<String>,
    },
}

impl Trouble {
    /// Whether the connection it happened on is still good.
    fn keeps_the_connection(&self) -> bool {
        matches!(self, Trouble::Refused { .. } | Trouble::Full)
    }

    /// Whether `self` and `other` are the same kind of trouble, which the
    /// operator is told once. A refused append and a refused read are
    /// alike: a publisher looks at the stream again before each new try,
    /// and Redis refuses both for one cause (a key of another type).
    fn is_like(&self, other: &Trouble) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// The line that tells the operator of it.
    fn event(&self, stream: String) -> ConsoleEvent {
        match self {
            Trouble::Unreachable(reason) => ConsoleEvent::StreamUnreachable {
                stream,
                reason: reason.clone(),
            },
            Trouble::Refused {
                request: Request::Entry,
                answer,
            } => ConsoleEvent::EntryRefused {
                stream,
                answer: answer.clone(),
            },
            Trouble::Refused {
                request: Request::Read,
                answer,
            } => ConsoleEvent::ReadRefused {
                stream,
                answer: answer.clone(),
            },
            Trouble::Full => ConsoleEvent::StreamFull {
                stream,
                newest: EntryId::LAST.to_string(),
            },
            Trouble::BadReply(reason) => ConsoleEvent::StreamBadReply {
                stream,
                reason: reason.clone(),
            },
            Trouble::TooLarge { reason, .. } => ConsoleEvent::StreamReplyTooLarge {
                stream,
                reason: reason.clone(),
            },
        }
    }

    /// The line that tells the operator it is over.
    fn end_event(&self, stream: String) -> ConsoleEvent {
        match self {
            Trouble::Unreachable(_) | Trouble::BadReply(_) | Trouble::TooLarge { .. } => {
                ConsoleEvent::StreamReachable { stream }
            }
            Trouble::Refused {
                request: Request::Read,
                ..
            } => ConsoleEvent::StreamReadable { stream },
            Trouble::Refused {
                request: Request::Entry,
                ..
            }
            | Trouble::Full => ConsoleEvent::StreamTakesEntries { stream },
        }
    }
}

/// Sorts a failed command's error, which is a bad reply whatever the crate
/// makes of it when the connection's meter refused the reply.
fn troubled(error: &redis::RedisError, request: Request, refused: &RefusalSlot) -> Trouble {
    match refused.take() {
        Some(refused) if refused.why.for_its_size() => Trouble::TooLarge {
            reason: refused.why.to_string(),
            first_string: refused
                .first_string
                .and_then(|first| String::from_utf8(first).ok()),
        },
        Some(refused) => Trouble::BadReply(refused.why.to_string()),
        None => classify(error, request),
    }
}

/// Sorts a failed command's error (see the module docs).
fn classify(error: &redis::RedisError, request: Request) -> Trouble {
    match error.kind() {
        // An error reply: Redis's own words, as it sent them. (The crate
        // splits the code from the rest; Redis's messages often end with
        // a full stop, and the console's lines add their own.)
        redis::ErrorKind::Server(_)
        | redis::ErrorKind::Extension
        | redis::ErrorKind::AuthenticationFailed => {
            let answer = match (error.code(), error.detail()) {
                (Some(code), Some(detail)) => format!("{code} {detail}"),
                _ => error.to_string(),
            };
            Trouble::Refused {
                request,
                answer: abbreviated(answer.trim_end_matches('.')),
            }
        }
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => {
            Trouble::BadReply(abbreviated(&error.to_string()))
        }
        _ => Trouble::Unreachable(abbreviated(error.to_string().trim_end_matches('.'))),
    }
}

/// What Redis records of a stream's history, beyond its entries: what tells
/// entries deleted from a stream apart from a stream made again (see
/// [`super::edge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// The last id the stream took (`last-generated-id`): it never goes
    /// down while the stream lives, whatever is deleted from it.
    pub last_given: EntryId,
    /// The id of its first entry; `None` when it is empty.
    pub first: Option<EntryId>,
    /// The largest id deleted from it by `XDEL` (`max-deleted-entry-id`;
    /// trimming leaves it as it is); `None` before Redis 7.0, which does not
    /// record it.
    pub largest_deleted: Option<EntryId>,
}

/// What Redis says of a stream when asked to describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Described {
    /// Its record.
    Record(History),
    /// There is no such stream.
    Missing,
    /// Redis did not say, for this reason.
    Not(String),
}

/// Reads a reply to `XINFO STREAM`: pairs of a field's name and its value,
/// in a flat list (RESP2) or a map (RESP3). Only the ids are read; `None`
/// when the last id or the first entry is not there (not Redis's reply).
fn history_of(reply: &Value) -> Result<Option<History>, String> {
    let unexpected = || {
        format!(
            "expected the record of a stream, got {}",
            abbreviated_debug(reply)
        )
    };
    let pairs: Vec<(&Value, &Value)> = match reply {
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks_exact(2)
            .map(|pair| (&pair[0], &pair[1]))
            .collect(),
        Value::Map(pairs) => pairs.iter().map(|(name, value)| (name, value)).collect(),
        _ => return Err(unexpected()),
    };
    let id = |name: &str| -> Result<Option<EntryId>, String> {
        let Some((_, value)) = pairs
            .iter()
            .find(|(field, _)| text_of(field).as_deref() == Some(name))
        else {
            return Ok(None);
        };
        let id = text_of(value).and_then(|text| text.parse().ok());
        id.map(Some).ok_or_else(|| {
            format!(
                "expected a stream id for {name}, got {}",
                abbreviated_debug(value)
            )
        })
    };
    let Some(last_given) = id("last-generated-id")? else {
        return Ok(None);
    };
    let largest_deleted = id("max-deleted-entry-id")?;
    let first = match pairs
        .iter()
        .find(|(field, _)| text_of(field).as_deref() == Some("first-entry"))
    {
        None => return Ok(None),
        Some((_, Value::Nil)) => None,
        // `[id, fields]`: only its id is read.
        Some((_, entry)) => {
            let id = match entry {
                Value::Array(parts) => parts.first().and_then(text_of),
                _ => None,
            };
            let id = id.and_then(|id| id.parse().ok()).ok_or_else(|| {
                format!(
                    "expected [id, fields] for the first entry, got {}",
                    abbreviated_debug(entry)
                )
            })?;
            Some(id)
        }
    };
    Ok(Some(History {
        last_given,
        first,
        largest_deleted,
    }))
}

/// A connection to the stream's Redis, made when needed (see the module
/// docs).
#[derive(Debug)]
pub struct Link {
    address: StreamAddress,
    /// The name each connection gives itself (`CLIENT SETNAME`), which
    /// `CLIENT LIST` shows: who is who, for an operator of Redis.
    name: &'static str,
    console: Console,
    /// How long Redis may take to answer one command.
    patience: Duration,
    /// The connection, and where its meter leaves why it refused a reply.
    connection: Option<(MultiplexedConnection, RefusalSlot)>,
    /// The trouble the operator was told of, until it ends.
    told: Option<Trouble>,
    backoff: Backoff,
}

impl Link {
    /// A link to `address`, not connected yet, whose connections call
    /// themselves `name` and whose commands fail as unreachable when Redis
    /// takes longer than `patience` to answer; trouble is told on
    /// `console`.
    pub fn new(
        address: StreamAddress,
        name: &'static str,
        console: Console,
        patience: Duration,
    ) -> Self {
        Link {
            address,
            name,
            console,
            patience,
            connection: None,
            told: None,
            backoff: Backoff::new(),
        }
    }

    /// Where the stream is.
    pub fn address(&self) -> &StreamAddress {
        &self.address
    }

    /// Runs `command`, which asks Redis for `request`, connecting first if
    /// there is no connection; its reply, or the trouble.
    pub async fn query(
        &mut self,
        command: &redis::Cmd,
        request: Request,
    ) -> Result<Value, Trouble> {
        let (connection, refused) = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let (mut connection, refused) = self
                    .address
                    .connect(self.patience)
                    .await
                    .map_err(|error| classify(&error, request))?;
                let mut naming = redis::cmd("CLIENT");
                naming.arg("SETNAME").arg(self.name);
                let named: redis::RedisResult<Value> = naming.query_async(&mut connection).await;
                // A name refused (a password is asked for first) costs only
                // the name: the request itself says what is wrong.
                if let Err(error) = named {
                    let trouble = troubled(&error, request, &refused);
                    if !trouble.keeps_the_connection() {
                        return Err(trouble);
                    }
                }
                self.connection.insert((connection, refused))
            }
        };
        match command.query_async(connection).await {
            Ok(reply) => Ok(reply),
            Err(error) => {
                let trouble = troubled(&error, request, refused);
                if !trouble.keeps_the_connection() {
                    self.connection = None;
                }
                Err(trouble)
            }
        }
    }

    /// A reply of a shape Redis does not send, found by the caller: the
    /// connection is dropped, and this is the trouble to report.
    pub fn bad_reply(&mut self, reason: String) -> Trouble {
        self.connection = None;
        Trouble::BadReply(reason)
    }

    /// The stream's newest entry; `None` when the stream is missing or
    /// empty. An entry too large to read comes as one that cannot be read
    /// ([`EntryError::TooLarge`]), with its id.
    pub async fn newest_entry(&mut self) -> Result<Option<StreamEntry>, Trouble> {
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(self.address.stream())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        self.one_entry(&command).await
    }

    /// The first entry after `id`, as [`Link::newest_entry`] gives the
    /// newest: what a reader asks for when even one entry was too large
    /// for `XREAD`, to learn its id and skip it.
    pub async fn entry_after(&mut self, id: EntryId) -> Result<Option<StreamEntry>, Trouble> {
        // `(` is "after", not "from" (Redis 6.2 and later).
        let mut command = redis::cmd("XRANGE");
        command
            .arg(self.address.stream())
            .arg(format!("({id}"))
            .arg("+")
            .arg("COUNT")
            .arg(1);
        self.one_entry(&command).await
    }

    /// The entry with id `id`, if the stream holds it (as
    /// [`Link::newest_entry`] gives one).
    pub async fn entry_at(&mut self, id: EntryId) -> Result<Option<StreamEntry>, Trouble> {
        // For one id, `XRANGE` would answer the same. Redis's count of
        // `XRANGE` then tells only of entries read one by one.
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(self.address.stream())
            .arg(id.to_string())
            .arg(id.to_string())
            .arg("COUNT")
            .arg(1);
        self.one_entry(&command).await
    }

    /// What Redis records of the stream's history (`XINFO STREAM`), or why
    /// it does not say.
    pub async fn history(&mut self) -> Result<Described, Trouble> {
        let mut command = redis::cmd("XINFO");
        command.arg("STREAM").arg(self.address.stream());
        match self.query(&command, Request::Read).await {
            Ok(reply) => match history_of(&reply) {
                Ok(Some(history)) => Ok(Described::Record(history)),
                Ok(None) => Ok(Described::Not(
                    "its reply to XINFO STREAM lacks the last id or the first entry".into(),
                )),
                Err(reason) => Err(self.bad_reply(reason)),
            },
            Err(Trouble::Refused { answer, .. }) if answer.starts_with("ERR no such key") => {
                Ok(Described::Missing)
            }
            // A user allowed to read the stream only, or a reply that holds
            // a first or newest entry too large (it holds both whole).
            Err(Trouble::Refused { answer, .. }) => Ok(Described::Not(answer)),
            Err(Trouble::TooLarge { reason, .. }) => Ok(Described::Not(reason)),
            Err(trouble) => Err(trouble),
        }
    }

    /// Runs `command`, an `XRANGE` or `XREVRANGE` with `COUNT 1`. Its
    /// reply's first bulk string is the entry's id: the meter keeps it
    /// when it refuses the rest, and the entry is then one too large. A
    /// reply refused with no id kept is a bad reply (a hostile server).
    async fn one_entry(&mut self, command: &redis::Cmd) -> Result<Option<StreamEntry>, Trouble> {
        let reply = match self.query(command, Request::Read).await {
            Ok(reply) => reply,
            Err(Trouble::TooLarge {
                reason,
                first_string,
            }) => {
                // Redis's reply gives the id before anything large: a reply
                // too large with no id first is not Redis's.
                return match first_string.and_then(|first| first.parse::<EntryId>().ok()) {
                    Some(id) => Ok(Some(StreamEntry {
                        id,
                        entry: Err(EntryError::TooLarge),
                    })),
                    None => Err(Trouble::BadReply(reason)),
                };
            }
            Err(trouble) => return Err(trouble),
        };
        match entries_of(&reply) {
            Ok(entries) => Ok(entries.into_iter().next()),
            Err(reason) => Err(self.bad_reply(reason)),
        }
    }

    /// Records `trouble`: tells the operator if it begins an outage or is
    /// of another kind than the one told. Call [`Link::pause`] before the
    /// next attempt.
    pub fn failed(&mut self, trouble: Trouble) {
        if self
            .told
            .as_ref()
            .is_some_and(|told| told.is_like(&trouble))
        {
            return;
        }
        self.console.say(trouble.event(self.address.to_string()));
        self.told = Some(trouble);
    }

    /// Records a success: tells the operator that the trouble told is
    /// over, if there was one, and makes the next wait short again.
    pub fn succeeded(&mut self) {
        self.backoff.reset();
        if let Some(told) = self.told.take() {
            self.console.say(told.end_event(self.address.to_string()));
        }
    }

    /// Waits before the next attempt: longer each time while trouble lasts.
    pub async fn pause(&mut self) {
        self.backoff.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::sync::{Arc, Mutex};

    fn text(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn a_streams_record_gives_its_last_id_taken_first_entry_and_largest_deleted() {
        let id = |millis| EntryId { millis, seq: 0 };
        let first_entry = || Value::Array(vec![text("3-0"), Value::Array(vec![text("type")])]);
        // As Redis 7 answers over RESP2: pairs in a flat list.
        let resp2 = Value::Array(vec![
            text("length"),
            Value::Int(2),
            text("last-generated-id"),
            text("9-0"),
            text("max-deleted-entry-id"),
            text("6-0"),
            text("first-entry"),
            first_entry(),
        ]);
        let record = History {
            last_given: id(9),
            first: Some(id(3)),
            largest_deleted: Some(id(6)),
        };
        assert_eq!(history_of(&resp2), Ok(Some(record)));
        // Over RESP3: a map.
        let resp3 = Value::Map(vec![
            (text("max-deleted-entry-id"), text("6-0")),
            (
                Value::SimpleString("last-generated-id".into()),
                Value::SimpleString("9-0".into()),
            ),
            (text("first-entry"), first_entry()),
        ]);
        assert_eq!(history_of(&resp3), Ok(Some(record)));
        // Redis 6 records no deleted id; an empty stream has no first entry.
        let redis_6 = Value::Array(vec![
            text("last-generated-id"),
            text("9-0"),
            text("first-entry"),
            Value::Nil,
        ]);
        assert_eq!(
            history_of(&redis_6),
            Ok(Some(History {
                last_given: id(9),
                first: None,
                largest_deleted: None,
            }))
        );
        // Without the last id or the first entry, it says nothing.
        for lacking in [
            Value::Array(vec![text("first-entry"), Value::Nil]),
            Value::Array(vec![text("last-generated-id"), text("9-0")]),
        ] {
            assert_eq!(history_of(&lacking), Ok(None), "{lacking:?}");
        }
    }

    #[test]
    fn a_record_redis_does_not_send_is_a_bad_reply_that_says_what_came() {
        let cases = [
            (
                Value::Array(vec![text("last-generated-id"), text("9-0"), text("length")]),
                "expected the record of a stream, got",
            ),
            (Value::Int(3), "expected the record of a stream, got int(3)"),
            (
                Value::Array(vec![text("last-generated-id"), text("nine")]),
                "expected a stream id for last-generated-id, got",
            ),
            (
                Value::Array(vec![
                    text("last-generated-id"),
                    text("9-0"),
                    text("max-deleted-entry-id"),
                    Value::Int(6),
                ]),
                "expected a stream id for max-deleted-entry-id, got int(6)",
            ),
            (
                Value::Array(vec![
                    text("last-generated-id"),
                    text("9-0"),
                    text("first-entry"),
                    Value::Int(3),
                ]),
                "expected [id, fields] for the first entry, got int(3)",
            ),
            (
                Value::Array(vec![
                    text("last-generated-id"),
                    text("9-0"),
                    text("first-entry"),
                    Value::Array(vec![text("three")]),
                ]),
                "expected [id, fields] for the first entry, got",
            ),
        ];
        for (reply, said) in cases {
            let error = history_of(&reply).unwrap_err();
            assert!(error.starts_with(said), "{error}");
        }
    }

    fn refused(request: Request, answer: &str) -> Trouble {
        Trouble::Refused {
            request,
            answer: answer.into(),
        }
    }

    #[test]
    fn an_error_reply_is_a_refusal_in_redis_own_words() {
        let out_of_memory = redis::make_extension_error(
            "OOM".into(),
            Some("command not allowed when used memory > 'maxmemory'.".into()),
        );
        assert_eq!(
            classify(&out_of_memory, Request::Entry),
            refused(
                Request::Entry,
                "OOM command not allowed when used memory > 'maxmemory'"
            )
        );
        let read_only = redis::RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "read-only",
            "You can't write against a read only replica.".to_owned(),
        ));
        assert_eq!(
            classify(&read_only, Request::Read),
            refused(
                Request::Read,
                "READONLY You can't write against a read only replica"
            )
        );
        let wrong_password =
            redis::RedisError::from((redis::ErrorKind::AuthenticationFailed, "Password refused"));
        assert_eq!(
            classify(&wrong_password, Request::Read),
            refused(Request::Read, "Password refused - AuthenticationFailed")
        );
    }

    #[test]
    fn no_answer_is_unreachable_and_an_answer_redis_never_sends_is_a_bad_reply() {
        let reset =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            classify(&reset, Request::Read),
            Trouble::Unreachable(reason) if reason.contains("reset")
        ));
        let garbage = redis::RedisError::from((
            redis::ErrorKind::Parse,
            "unexpected reply",
            "a".repeat(1000),
        ));
        match classify(&garbage, Request::Read) {
            Trouble::BadReply(reason) => assert!(reason.ends_with(" bytes in all)"), "{reason}"),
            other => panic!("expected a bad reply, got {other:?}"),
        }
        let shape =
            redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "not a stream"));
        assert!(matches!(
            classify(&shape, Request::Read),
            Trouble::BadReply(_)
        ));
    }

    #[test]
    fn a_reply_refused_for_its_size_is_too_large_and_keeps_its_first_string() {
        use super::super::replies::{RefusedReply, ReplyRefused};
        let dropped =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::InvalidData));
        let slot = RefusalSlot::default();
        slot.put(RefusedReply {
            why: ReplyRefused::TooLong,
            first_string: Some(b"5-0".to_vec()),
        });
        assert_eq!(
            troubled(&dropped, Request::Read, &slot),
            Trouble::TooLarge {
                reason: ReplyRefused::TooLong.to_string(),
                first_string: Some("5-0".into())
            }
        );
        slot.put(RefusedReply {
            why: ReplyRefused::NotAType(b'x'),
            first_string: Some(b"5-0".to_vec()),
        });
        assert_eq!(
            troubled(&dropped, Request::Read, &slot),
            Trouble::BadReply(ReplyRefused::NotAType(b'x').to_string())
        );
        let too_large = Trouble::TooLarge {
            reason: "huge".into(),
            first_string: None,
        };
        assert!(!too_large.keeps_the_connection());
        assert_eq!(
            too_large.event("s".into()).to_string(),
            "A reply from the stream s is larger than this program reads: huge. Trying again."
        );
        assert_eq!(
            too_large.end_event("s".into()).to_string(),
            "The stream s answers again."
        );
    }

    #[test]
    fn only_a_refusal_or_a_full_stream_keeps_the_connection() {
        assert!(refused(Request::Entry, "OOM").keeps_the_connection());
        assert!(Trouble::Full.keeps_the_connection());
        assert!(!Trouble::Unreachable("reset".into()).keeps_the_connection());
        assert!(!Trouble::BadReply("junk".into()).keeps_the_connection());
    }

    #[test]
    fn trouble_is_told_once_per_kind_and_its_end_once() {
        let said = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&said);
        let console = Console::new(move |event| sink.lock().unwrap().push(event.to_string()));
        let address: StreamAddress = "redis://localhost/changes".parse().unwrap();
        let mut link = Link::new(address, "test", console, Duration::from_secs(1));
        link.succeeded();
        link.failed(refused(Request::Entry, "OOM full"));
        link.failed(refused(Request::Read, "WRONGTYPE other"));
        link.failed(Trouble::Unreachable("reset".into()));
        link.failed(Trouble::Unreachable("refused".into()));
        link.failed(Trouble::Full);
        link.failed(Trouble::BadReply("junk".into()));
        link.succeeded();
        link.succeeded();
        let stream = "redis://localhost:6379/changes";
        assert_eq!(
            *said.lock().unwrap(),
            [
                format!(
                    "Redis refused the entry for the stream {stream}: OOM full. Trying again until it takes it."
                ),
                format!("Cannot reach the stream {stream}: reset. Trying again until it answers."),
                format!(
                    "No entry can go into the stream {stream}: its newest id, 18446744073709551615-18446744073709551615, is the last possible one. Trying again until the stream is deleted."
                ),
                format!(
                    "The server of the stream {stream} answered as Redis never does: junk. Connecting again until it answers as Redis."
                ),
                format!("The stream {stream} answers again."),
            ]
        );
    }

    #[test]
    fn the_end_of_trouble_says_what_works_again() {
        let stream = || "s".to_owned();
        let ends = [
            (
                Trouble::Unreachable("x".into()),
                "The stream s answers again.",
            ),
            (Trouble::BadReply("x".into()), "The stream s answers again."),
            (
                refused(Request::Read, "x"),
                "The stream s can be read again.",
            ),
            (
                refused(Request::Entry, "x"),
                "The stream s takes entries again.",
            ),
            (Trouble::Full, "The stream s takes entries again."),
        ];
        for (trouble, end) in ends {
            assert_eq!(trouble.end_event(stream()).to_string(), end, "{trouble:?}");
        }
        assert_eq!(
            refused(Request::Read, "NOAUTH x")
                .event(stream())
                .to_string(),
            "Redis refused to read the stream s: NOAUTH x. Trying again until it reads."
        );
    }
}
