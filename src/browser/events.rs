//! Server-Sent Events: the framing of a browser's stream, and its ids.
//! (Chapter 13.)
//!
//! An event is a few `field: value` lines and a blank line after them:
//!
//! ```text
//! id: 1796189666009-3
//! event: changed
//! data: {"type":"changed","timestamp":1796189667012}
//!
//! ```
//!
//! `data` carries the same JSON as the LDJ protocol's line (chapter 3),
//! without its newline; `event` names it, so that a page listens for
//! `changed` and `watching` apart. A line that starts with `:` is a
//! comment, which the browser ignores: the keep-alive.
//!
//! ## Ids that survive a restart
//!
//! A browser's `EventSource` remembers the last `id` it saw and, when it
//! reconnects, sends it back as the `Last-Event-ID` header. The notifier
//! numbers its changes from 1 each time the server starts, so a bare
//! number would lie after a restart: a browser that saw change 57 of the
//! last run would seem ahead of change 3 of this one, and be told nothing.
//! So an id is written `LIFE-SEQ`, the shape of a Redis stream's id
//! (chapter 12): `LIFE` is when this server started, in milliseconds since
//! 1970, and `SEQ` the notifier's number. An id of this life is compared by
//! its number; any other id (another life, or one this server cannot read)
//! is behind every change of this life, and gets the latest at once, if
//! there is one ([`seen_for`]).

use std::fmt;
use std::io::Write;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::connection::Framing;
use crate::lock::lock;
use crate::notifier::{Notification, Subscription};
use crate::protocol::CHANGED_PREFIX;
use crate::relay::EntryId;

/// How often an idle stream gets a keep-alive comment. Proxies and load
/// balancers commonly close a connection that has been silent for 30 to 60
/// seconds; a comment every 15 seconds keeps a stream well inside that.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a browser waits before it reconnects a stream that ended (the
/// `retry` field of the first event). Browsers wait about 3 seconds by
/// default; a second is soon enough for a page that follows a file being
/// edited, and rare enough to cost a restarting server nothing.
pub const RECONNECT_AFTER_MS: u64 = 1_000;

/// The response head of every stream, written on the socket by the
/// stream's own task (see the module docs of [`crate::browser`]).
///
/// The body has no length and is not chunked: it ends when the connection
/// does (`Connection: close`), which is how HTTP/1.1 delimits a body that
/// has neither. So the bytes after the head are exactly the events.
/// `Access-Control-Allow-Origin: *` lets a page from another origin (a
/// developer's own, with `reload.js`) open the stream; `no-store` keeps
/// caches out of it; `X-Accel-Buffering: no` asks nginx, as a reverse
/// proxy, to pass each event on at once.
pub const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\n\
    Content-Type: text/event-stream\r\n\
    Cache-Control: no-store\r\n\
    Access-Control-Allow-Origin: *\r\n\
    X-Accel-Buffering: no\r\n\
    Connection: close\r\n\
    \r\n";

/// The keep-alive: a comment line and the blank line that ends it.
pub const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

/// An event's id: the server's life and the notifier's number, written
/// `LIFE-SEQ` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    /// When the server that gave the id started, in milliseconds since the
    /// Unix epoch.
    pub life: u64,
    /// The number of the latest change that server had told, when it gave
    /// the id; 0 before the first.
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.life, self.seq)
    }
}

impl FromStr for EventId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // The shape of a Redis stream's id, read by the same parser.
        let EntryId { millis, seq } = text
            .parse()
            .map_err(|_| format!("{text:?} is not an event id (LIFE-SEQ)"))?;
        Ok(EventId { life: millis, seq })
    }
}

// ANCHOR: seen_for
/// The number after which a new stream is owed changes, for a browser that
/// sent `last_event_id` (the `Last-Event-ID` header, if any) to a server of
/// life `life` whose latest change was number `latest` when it subscribed.
///
/// - No id: a new `EventSource`, owed the changes from now on, as a new
///   TCP subscriber is.
/// - An id of this life, not behind the latest: owed nothing more.
/// - Anything else (behind, of another life, unreadable): owed the latest
///   change at once, if there is one. Only the latest, as everywhere.
pub fn seen_for(last_event_id: Option<&str>, life: u64, latest: u64) -> u64 {
    match last_event_id.filter(|id| !id.is_empty()).map(str::parse) {
        None => latest,
        Some(Ok(EventId { life: theirs, seq })) if theirs == life && seq >= latest => latest,
        Some(_) => latest.saturating_sub(1),
    }
}
// ANCHOR_END: seen_for

/// Room for the longest event [`EventStream::frame`] writes, with some to
/// spare: the fields' names, two 20-digit numbers in the id, and the JSON
/// with a 20-digit timestamp come to 120 bytes.
const EVENT_CAPACITY: usize = 160;

/// One browser's stream, as [`Framing`]: the response head and a
/// `watching` event first, then one `changed` event per change, and a
/// keep-alive comment every [`KEEP_ALIVE`].
#[derive(Debug)]
pub struct EventStream {
    life: u64,
    /// What the stream starts owed after (see [`seen_for`]): the id of its
    /// `watching` event.
    seen: u64,
    /// The `watching` message's JSON, shared by every stream of a server.
    watching: Arc<str>,
    keep_alive: Mutex<KeepAlive>,
}

/// When the next keep-alive is due, and whether one is.
#[derive(Debug)]
struct KeepAlive {
    /// Boxed: a timer is about a hundred bytes, and the stream's task keeps
    /// only what it waits on.
    timer: Pin<Box<Sleep>>,
    due: bool,
}

impl EventStream {
    /// A stream for a server of life `life`, greeting with the `watching`
    /// JSON `watching` under the id `life-seen`. Call it within tokio's
    /// runtime: it starts the keep-alive timer.
    pub fn new(life: u64, seen: u64, watching: Arc<str>) -> Self {
        EventStream {
            life,
            seen,
            watching,
            keep_alive: Mutex::new(KeepAlive {
                timer: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
                due: false,
            }),
        }
    }

    fn id(&self, seq: u64) -> EventId {
        EventId {
            life: self.life,
            seq,
        }
    }
}

impl Framing for EventStream {
    fn greeting(&self, _subscription: &Subscription) -> Arc<[u8]> {
        format!(
            "{STREAM_HEAD}retry: {RECONNECT_AFTER_MS}\nid: {}\nevent: watching\ndata: {}\n\n",
            self.id(self.seen),
            self.watching
        )
        .into_bytes()
        .into()
    }

    // ANCHOR: frame
    fn frame<R>(&self, notification: &Notification, write: impl FnOnce(&[u8]) -> R) -> R {
        // On the stack: this runs once per stream for every change, on the
        // thread that fans it out.
        let mut buffer = [0u8; EVENT_CAPACITY];
        let mut rest = &mut buffer[..];
        let id = self.id(notification.seq);
        // Writing into a slice fails only when it is full, and the
        // capacity holds the longest event.
        let written = match &notification.change {
            Some(change) => write!(rest, "id: {id}\nevent: changed\ndata: ").and_then(|()| {
                rest.write_all(CHANGED_PREFIX)?;
                write!(rest, "{}}}\n\n", change.timestamp)
            }),
            // A notification that tells of no change (none is ever
            // offered): the id moves on, and the browser is told nothing.
            None => write!(rest, "id: {id}\n\n"),
        };
        written.expect("an event fits its buffer");
        let length = EVENT_CAPACITY - rest.len();
        write(&buffer[..length])
    }
    // ANCHOR_END: frame

    fn poll_keep_alive(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut keep_alive = lock(&self.keep_alive);
        if keep_alive.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        keep_alive.due = true;
        keep_alive.timer.as_mut().reset(Instant::now() + KEEP_ALIVE);
        Poll::Ready(())
    }

    fn keep_alive(&self) -> Option<Arc<[u8]>> {
        let mut keep_alive = lock(&self.keep_alive);
        std::mem::take(&mut keep_alive.due).then(|| Arc::from(KEEP_ALIVE_COMMENT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::watching::{Change, ChangeKind};
    use pretty_assertions::assert_eq;

    const LIFE: u64 = 1_796_189_666_009;

    #[test]
    fn an_id_is_written_life_dash_seq_and_read_back() {
        let id = EventId { life: LIFE, seq: 3 };
        assert_eq!(id.to_string(), "1796189666009-3");
        assert_eq!("1796189666009-3".parse(), Ok(id));
    }

    #[test]
    fn an_id_that_is_not_two_plain_numbers_is_refused() {
        for text in [
            "", "3", "-3", "1-", "a-1", "1-b", "+1-2", "1-+2", "1-2-3", "1 -2",
        ] {
            assert!(
                text.parse::<EventId>().is_err(),
                "expected {text:?} refused"
            );
        }
        assert_eq!(
            "x".parse::<EventId>(),
            Err("\"x\" is not an event id (LIFE-SEQ)".to_owned())
        );
    }

    #[test]
    fn a_new_event_source_is_owed_the_changes_from_now_on() {
        assert_eq!(seen_for(None, LIFE, 5), 5);
        assert_eq!(seen_for(Some(""), LIFE, 5), 5);
    }

    #[test]
    fn an_id_of_this_life_at_or_past_the_latest_is_owed_nothing_more() {
        assert_eq!(seen_for(Some(&format!("{LIFE}-5")), LIFE, 5), 5);
        assert_eq!(seen_for(Some(&format!("{LIFE}-9")), LIFE, 5), 5);
    }

    #[test]
    fn an_id_behind_the_latest_is_owed_the_latest() {
        assert_eq!(seen_for(Some(&format!("{LIFE}-4")), LIFE, 5), 4);
        assert_eq!(seen_for(Some(&format!("{LIFE}-0")), LIFE, 5), 4);
    }

    #[test]
    fn an_id_of_another_life_is_owed_the_latest_whatever_its_number() {
        let earlier = format!("{}-57", LIFE - 1);
        let later = format!("{}-57", LIFE + 1);
        assert_eq!(seen_for(Some(&earlier), LIFE, 3), 2);
        assert_eq!(seen_for(Some(&later), LIFE, 3), 2);
    }

    #[test]
    fn an_unreadable_id_is_owed_the_latest() {
        assert_eq!(seen_for(Some("banana"), LIFE, 3), 2);
    }

    #[test]
    fn before_any_change_nobody_is_owed_anything() {
        assert_eq!(seen_for(Some("banana"), LIFE, 0), 0);
        assert_eq!(seen_for(Some(&format!("{}-57", LIFE - 1)), LIFE, 0), 0);
    }

    fn framed(stream: &EventStream, notification: &Notification) -> String {
        stream.frame(notification, |bytes| {
            String::from_utf8(bytes.to_vec()).unwrap()
        })
    }

    fn change_at(timestamp: u64) -> Change {
        Change {
            kind: ChangeKind::Modified,
            timestamp,
        }
    }

    #[tokio::test]
    async fn a_change_is_an_event_with_its_id_its_name_and_the_ldj_json_as_data() {
        let stream = EventStream::new(LIFE, 0, Arc::from("{}"));
        for timestamp in [0, 1_796_189_667_012, u64::MAX] {
            let notification = Notification {
                seq: u64::MAX,
                line: Arc::from(&b"unused\n"[..]),
                change: Some(change_at(timestamp)),
            };
            let json = Message::Changed { timestamp }.to_json_line();
            assert_eq!(
                framed(&stream, &notification),
                format!(
                    "id: {LIFE}-{}\nevent: changed\ndata: {}\n\n",
                    u64::MAX,
                    json.trim_end()
                )
            );
        }
    }

    #[tokio::test]
    async fn the_longest_event_fits_the_buffer_exactly_or_with_room() {
        let stream = EventStream::new(u64::MAX, 0, Arc::from("{}"));
        let notification = Notification {
            seq: u64::MAX,
            line: Arc::from(&b""[..]),
            change: Some(change_at(u64::MAX)),
        };
        let length = stream.frame(&notification, <[u8]>::len);
        assert!(length <= EVENT_CAPACITY, "{length} bytes");
    }

    #[tokio::test]
    async fn a_notification_of_no_change_moves_the_id_on_and_tells_nothing() {
        let stream = EventStream::new(LIFE, 0, Arc::from("{}"));
        let notification = Notification {
            seq: 2,
            line: Arc::from(&b"unused\n"[..]),
            change: None,
        };
        assert_eq!(framed(&stream, &notification), format!("id: {LIFE}-2\n\n"));
    }

    #[tokio::test]
    async fn the_owned_bytes_of_a_change_are_its_framed_bytes() {
        let stream = EventStream::new(LIFE, 0, Arc::from("{}"));
        let notification = Notification {
            seq: 1,
            line: Arc::from(&b"unused\n"[..]),
            change: Some(change_at(17)),
        };
        assert_eq!(
            stream.owned(&notification).as_ref(),
            framed(&stream, &notification).as_bytes()
        );
    }

    /// Serves one stream on a Unix socket pair, on tokio's paused clock,
    /// and returns what the browser's end reads of it up to `until`.
    async fn read_stream_until(until: &str) -> String {
        use tokio::io::AsyncReadExt;
        let (_directory, notifier) =
            crate::notifier::testing::notifier_on_a_temp_file(crate::protocol::Protocol::Json);
        let subscription = notifier.subscribe().unwrap();
        let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
        let stream = EventStream::new(LIFE, 0, Arc::from("{\"type\":\"watching\"}"));
        let shutdown = tokio_util::sync::CancellationToken::new();
        let serving = tokio::spawn(crate::connection::serve_framed(
            ours,
            stream,
            0,
            subscription,
            Duration::from_secs(60),
            shutdown.clone(),
        ));
        let mut read = Vec::new();
        while !String::from_utf8_lossy(&read).ends_with(until) {
            let mut chunk = [0u8; 512];
            let length = theirs.read(&mut chunk).await.unwrap();
            assert!(length > 0, "the stream ended after {read:?}");
            read.extend_from_slice(&chunk[..length]);
        }
        shutdown.cancel();
        notifier.wake_all();
        serving.await.unwrap();
        String::from_utf8(read).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_gets_a_keep_alive_comment_every_keep_alive_period() {
        let started = Instant::now();
        // Bounded on the same clock: a stream that never sends one fails
        // here, after three periods, rather than wait for ever.
        let read = tokio::time::timeout(
            3 * KEEP_ALIVE,
            read_stream_until("\n\n: keep-alive\n\n: keep-alive\n\n"),
        )
        .await
        .expect("two keep-alives within three periods");
        assert_eq!(
            started.elapsed().as_secs(),
            2 * KEEP_ALIVE.as_secs(),
            "on tokio's paused clock"
        );
        let greeting = format!(
            "{STREAM_HEAD}retry: 1000\nid: {LIFE}-0\nevent: watching\ndata: {{\"type\":\"watching\"}}\n\n"
        );
        assert_eq!(read, format!("{greeting}: keep-alive\n\n: keep-alive\n\n"));
    }

    #[tokio::test]
    async fn a_keep_alive_is_taken_once_when_due() {
        let stream = EventStream::new(LIFE, 0, Arc::from("{}"));
        assert_eq!(stream.keep_alive(), None, "none due at first");
        lock(&stream.keep_alive).due = true;
        assert_eq!(stream.keep_alive().as_deref(), Some(KEEP_ALIVE_COMMENT));
        assert_eq!(stream.keep_alive(), None, "taken");
    }
}
