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

use super::{Backoff, EntryId, StreamAddress, StreamEntry, abbreviated, entries_of};
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
        }
    }

    /// The line that tells the operator it is over.
    fn end_event(&self, stream: String) -> ConsoleEvent {
        match self {
            Trouble::Unreachable(_) | Trouble::BadReply(_) => {
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
    connection: Option<MultiplexedConnection>,
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
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let mut connection = self
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
                    let trouble = classify(&error, request);
                    if !trouble.keeps_the_connection() {
                        return Err(trouble);
                    }
                }
                self.connection.insert(connection)
            }
        };
        match command.query_async(connection).await {
            Ok(reply) => Ok(reply),
            Err(error) => {
                let trouble = classify(&error, request);
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
    /// empty.
    pub async fn newest_entry(&mut self) -> Result<Option<StreamEntry>, Trouble> {
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(self.address.stream())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        let reply = self.query(&command, Request::Read).await?;
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
