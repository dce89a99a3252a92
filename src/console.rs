//! What the server tells the person who runs it.
//!
//! The book's server logs `Subscriber connected.` and `Subscriber
//! disconnected.` with `console.log`. Here those lines are [`ConsoleEvent`]s
//! handed to a [`Console`], so the binary prints them while a test receives
//! them on a channel and waits for the one it expects. (Chapter 1.)
//!
//! An event that comes in a burst (a failure to accept, every few
//! milliseconds while the server is out of file descriptors) is told once,
//! then counted: [`Repeats`] keeps that count for one kind of event, and
//! [`ConsoleEvent::Repeated`] tells it, at most once a second.
//!
//! The programs' console, [`Console::stdout`], never makes the service wait
//! for its reader: saying an event queues it, and a thread per stream
//! writes it (see [`standard`]). A closed, full or stalled stdout or stderr
//! costs log lines, counted, and nothing else.

pub mod standard;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use standard::StandardStream;
use standard::{DRAIN_DEADLINE, StandardStreams};

/// Something the server reports to its operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsoleEvent {
    /// The server listens: its first line, which scripts wait for and read
    /// the addresses from (see [`crate::server::describe_all`]).
    Listening {
        /// The addresses, joined for a sentence.
        on: String,
    },
    /// The test service of step 5 listens (chapter 5).
    TestServiceListening {
        /// The addresses, joined for a sentence.
        on: String,
    },
    /// What a program says about itself, worded and named by it (a
    /// warning at start, the reason it stops): `net-watcher: ...`.
    Program(String),
    /// A standard stream could not take a line; said on stderr, once, when
    /// writing to it starts failing.
    OutputFailed {
        /// The stream.
        stream: StandardStream,
        /// Why the write failed.
        reason: String,
        /// The stream is closed (its reader is gone): its lines are dropped
        /// from now on, and not counted.
        closed: bool,
    },
    /// `messages` lines could not be written on this stream (it was full,
    /// or nobody read it); said on the stream that lost them, once it takes
    /// lines again.
    Lost {
        /// How many.
        messages: u64,
    },
    /// A subscriber connected and was greeted.
    SubscriberConnected,
    /// A subscriber's connection ended, however it ended.
    SubscriberDisconnected,
    /// A write to a subscriber did not complete within the write timeout (it
    /// stopped reading); it was disconnected.
    SubscriberTooSlow {
        /// The write timeout, in milliseconds.
        timeout_ms: u64,
    },
    /// A connection arrived while the server was full; it was told so and
    /// closed.
    SubscriberRefused {
        /// The connection limit.
        limit: usize,
    },
    /// A subscriber's socket failed in a way that is not the usual way of
    /// leaving (a reset, a broken pipe); the message says how. It was
    /// disconnected.
    SubscriberFailed(String),
    /// A new subscriber's socket options (no Nagle delay, the send buffer's
    /// cap) could not be set; it is served with the system's defaults.
    SocketOptionsFailed(String),
    /// Watching the file failed; the message says how.
    WatchFailed(String),
    /// Accepting a connection failed; the server goes on accepting.
    AcceptFailed(String),
    /// `event`, told a moment ago, came again `times` times since, and was
    /// counted rather than told each time (see [`Repeats`]).
    Repeated {
        /// The event, as told the first time.
        event: Box<ConsoleEvent>,
        /// How often it came again.
        times: u64,
    },
    /// Redis could not be reached, or stopped answering: said once per
    /// outage, while attempts go on with a back-off. (Chapter 12.)
    StreamUnreachable {
        /// The stream's address, without a password.
        stream: String,
        /// Why the last attempt failed.
        reason: String,
    },
    /// Redis answers again after an outage.
    StreamReachable {
        /// The stream's address, without a password.
        stream: String,
    },
    /// An edge waits for a publisher to name the file it watches (the stream
    /// is empty or missing).
    StreamNamesNoFile {
        /// The stream's address, without a password.
        stream: String,
    },
    /// A stream entry could not be read; an edge skips it.
    MalformedEntry {
        /// The entry's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The stream's newest id is below the last one an edge read: the
    /// stream was recreated (Redis restarted empty, or from an older
    /// snapshot). The edge reads on from the new stream's end.
    StreamWentBack {
        /// The stream's address, without a password.
        stream: String,
        /// The last id the edge had read.
        last_read: String,
        /// The stream's newest id now.
        newest: String,
    },
    /// The stream an edge reads was made again, its ids going past the
    /// edge's last one: the entry the edge read last is gone, and the
    /// stream's record says nothing deleted it.
    StreamMadeAgain {
        /// The stream's address, without a password.
        stream: String,
        /// The last id the edge had read.
        last_read: String,
    },
    /// Redis does not describe the stream an edge reads (`XINFO STREAM` is
    /// refused, or its reply too large): said once, until it does again.
    StreamUndescribed {
        /// The stream's address, without a password.
        stream: String,
        /// Why: Redis's answer, or the reply's size.
        reason: String,
    },
    /// Redis answered an append with an error: said once per outage, while
    /// attempts go on with a back-off on the same connection.
    EntryRefused {
        /// The stream's address, without a password.
        stream: String,
        /// What Redis answered, abbreviated.
        answer: String,
    },
    /// Redis answered a read of the stream with an error: said once per
    /// outage, while attempts go on with a back-off.
    ReadRefused {
        /// The stream's address, without a password.
        stream: String,
        /// What Redis answered, abbreviated.
        answer: String,
    },
    /// The stream's newest id is the last possible one: no entry can follow
    /// until the stream is deleted or trimmed.
    StreamFull {
        /// The stream's address, without a password.
        stream: String,
        /// The last possible id.
        newest: String,
    },
    /// The server at the stream's address answered with something Redis
    /// does not send; the connection was dropped.
    StreamBadReply {
        /// The stream's address, without a password.
        stream: String,
        /// What came, abbreviated.
        reason: String,
    },
    /// A reply from Redis was larger than a reply may be, and it is not an
    /// entry that can be skipped; the connection was dropped.
    StreamReplyTooLarge {
        /// The stream's address, without a password.
        stream: String,
        /// How large it was.
        reason: String,
    },
    /// Redis reads the stream again after refusing to.
    StreamReadable {
        /// The stream's address, without a password.
        stream: String,
    },
    /// The stream takes entries again after refusing them.
    StreamTakesEntries {
        /// The stream's address, without a password.
        stream: String,
    },
    /// An edge skipped an entry for another file than the one it serves.
    ForeignEntry {
        /// The entry's id.
        id: String,
        /// The file it names, quoted.
        file: String,
    },
    /// An edge skipped `count` more entries (malformed, or for another
    /// file) after telling the one before; counted, not told one by one.
    EntriesSkipped {
        /// How many.
        count: u64,
        /// The last one's id.
        last_id: String,
        /// Why the last one was skipped.
        last_reason: String,
    },
}

impl ConsoleEvent {
    /// Whether this event reports a problem (printed on stderr by
    /// [`Console::stdout`]).
    pub fn is_problem(&self) -> bool {
        if let ConsoleEvent::Repeated { event, .. } = self {
            return event.is_problem();
        }
        matches!(
            self,
            ConsoleEvent::Program(_)
                | ConsoleEvent::OutputFailed { .. }
                | ConsoleEvent::Lost { .. }
                | ConsoleEvent::SubscriberTooSlow { .. }
                | ConsoleEvent::SubscriberFailed(_)
                | ConsoleEvent::SocketOptionsFailed(_)
                | ConsoleEvent::WatchFailed(_)
                | ConsoleEvent::AcceptFailed(_)
                | ConsoleEvent::StreamUnreachable { .. }
                | ConsoleEvent::StreamNamesNoFile { .. }
                | ConsoleEvent::MalformedEntry { .. }
                | ConsoleEvent::StreamWentBack { .. }
                | ConsoleEvent::StreamMadeAgain { .. }
                | ConsoleEvent::StreamUndescribed { .. }
                | ConsoleEvent::EntryRefused { .. }
                | ConsoleEvent::ReadRefused { .. }
                | ConsoleEvent::StreamFull { .. }
                | ConsoleEvent::StreamBadReply { .. }
                | ConsoleEvent::StreamReplyTooLarge { .. }
                | ConsoleEvent::ForeignEntry { .. }
                | ConsoleEvent::EntriesSkipped { .. }
        )
    }
}

impl fmt::Display for ConsoleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleEvent::Listening { on } => write!(f, "Listening for subscribers on {on}..."),
            ConsoleEvent::TestServiceListening { on } => {
                write!(f, "Test server listening for subscribers on {on}...")
            }
            ConsoleEvent::Program(text) => f.write_str(text),
            ConsoleEvent::OutputFailed {
                stream,
                reason,
                closed: true,
            } => write!(
                f,
                "Cannot write to {stream}: {reason}; its lines are dropped from now on."
            ),
            ConsoleEvent::OutputFailed {
                stream,
                reason,
                closed: false,
            } => write!(
                f,
                "Cannot write to {stream}: {reason}; its lines are counted, and the count said there once it works again."
            ),
            ConsoleEvent::Lost { messages: 1 } => write!(
                f,
                "1 console message could not be written (the output was full or not read)."
            ),
            ConsoleEvent::Lost { messages } => write!(
                f,
                "{messages} console messages could not be written (the output was full or not read)."
            ),
            ConsoleEvent::SubscriberConnected => write!(f, "Subscriber connected."),
            ConsoleEvent::SubscriberDisconnected => write!(f, "Subscriber disconnected."),
            ConsoleEvent::SubscriberTooSlow { timeout_ms } => write!(
                f,
                "Subscriber too slow: a write did not complete in {timeout_ms} ms; disconnected."
            ),
            ConsoleEvent::SubscriberRefused { limit } => write!(
                f,
                "Subscriber refused: the limit of {} is reached.",
                subscribers(*limit)
            ),
            ConsoleEvent::SubscriberFailed(reason) => {
                write!(f, "Subscriber connection failed: {reason}; disconnected.")
            }
            ConsoleEvent::SocketOptionsFailed(reason) => write!(
                f,
                "Cannot set a subscriber's socket options: {reason}; serving it with the system's defaults."
            ),
            ConsoleEvent::WatchFailed(reason) => write!(f, "Watch failed: {reason}"),
            ConsoleEvent::AcceptFailed(reason) => {
                write!(f, "Accepting a connection failed: {reason}")
            }
            ConsoleEvent::Repeated { event, times: 1 } => {
                write!(f, "{event} (repeated once in the last second)")
            }
            ConsoleEvent::Repeated { event, times } => {
                write!(f, "{event} (repeated {times} times in the last second)")
            }
            ConsoleEvent::StreamUnreachable { stream, reason } => write!(
                f,
                "Cannot reach the stream {stream}: {reason}. Trying again until it answers."
            ),
            ConsoleEvent::StreamReachable { stream } => {
                write!(f, "The stream {stream} answers again.")
            }
            ConsoleEvent::StreamNamesNoFile { stream } => write!(
                f,
                "Waiting for a publisher to name its file in the stream {stream}..."
            ),
            ConsoleEvent::MalformedEntry { id, reason } => {
                write!(f, "Skipped the malformed stream entry {id}: {reason}.")
            }
            ConsoleEvent::StreamWentBack {
                stream,
                last_read,
                newest,
            } => write!(
                f,
                "The stream {stream} went back from {last_read} to {newest}: it was recreated; reading it again from its start, telling only changes newer than the last one told."
            ),
            ConsoleEvent::StreamMadeAgain { stream, last_read } => write!(
                f,
                "The stream {stream} was made again: the entry {last_read} read last is gone, and nothing in this stream deleted it; reading it again from its start, telling only changes newer than the last one told."
            ),
            ConsoleEvent::StreamUndescribed { stream, reason } => write!(
                f,
                "Redis does not describe the stream {stream} (XINFO STREAM: {reason}): entries deleted from it cannot be told from a stream made again, and are taken for one."
            ),
            ConsoleEvent::EntryRefused { stream, answer } => write!(
                f,
                "Redis refused the entry for the stream {stream}: {answer}. Trying again until it takes it."
            ),
            ConsoleEvent::ReadRefused { stream, answer } => write!(
                f,
                "Redis refused to read the stream {stream}: {answer}. Trying again until it reads."
            ),
            ConsoleEvent::StreamFull { stream, newest } => write!(
                f,
                "No entry can go into the stream {stream}: its newest id, {newest}, is the last possible one. Trying again until the stream is deleted."
            ),
            ConsoleEvent::StreamBadReply { stream, reason } => write!(
                f,
                "The server of the stream {stream} answered as Redis never does: {reason}. Connecting again until it answers as Redis."
            ),
            ConsoleEvent::StreamReplyTooLarge { stream, reason } => write!(
                f,
                "A reply from the stream {stream} is larger than this program reads: {reason}. Trying again."
            ),
            ConsoleEvent::StreamReadable { stream } => {
                write!(f, "The stream {stream} can be read again.")
            }
            ConsoleEvent::StreamTakesEntries { stream } => {
                write!(f, "The stream {stream} takes entries again.")
            }
            ConsoleEvent::ForeignEntry { id, file } => write!(
                f,
                "Skipped the stream entry {id}: it is for another file, {file}."
            ),
            ConsoleEvent::EntriesSkipped {
                count: 1,
                last_id,
                last_reason,
            } => write!(
                f,
                "Skipped 1 more stream entry since: {last_id}, {last_reason}."
            ),
            ConsoleEvent::EntriesSkipped {
                count,
                last_id,
                last_reason,
            } => write!(
                f,
                "Skipped {count} more stream entries since; the last, {last_id}: {last_reason}."
            ),
        }
    }
}

/// How long repeats of an event are counted before the count is told.
pub const REPEATS_TOLD_EVERY: Duration = Duration::from_secs(1);

/// The repeats of one kind of event, so that a burst is told once, then
/// counted, and the count told at most once a second
/// ([`REPEATS_TOLD_EVERY`]), instead of filling the console: a server out of
/// file descriptors fails to accept every few milliseconds, and a flood of
/// connections would otherwise be a flood of lines.
///
/// The caller decides what counts as the same kind (the same failure, any
/// malformed entry) and how to say it; this only keeps time. Heard after a
/// quiet second, an event is told in full again.
///
/// ```
/// use std::time::Duration;
/// use net_watcher::console::Repeats;
/// use tokio::time::Instant;
///
/// let start = Instant::now();
/// let mut repeats = Repeats::default();
/// assert!(repeats.heard(start), "the first is told");
/// assert!(!repeats.heard(start + Duration::from_millis(10)), "a repeat is counted");
/// assert_eq!(repeats.count_due(), Some(start + Duration::from_secs(1)));
/// assert_eq!(repeats.take_count(start + Duration::from_secs(1)), Some(1));
/// assert_eq!(repeats.count_due(), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Repeats {
    /// When the event, or the count of its repeats, was told last.
    last_told: Option<Instant>,
    /// The repeats heard since then, not told yet.
    untold: u64,
}

impl Repeats {
    /// The event was heard at `now`: returns whether to tell it now
    /// (`true`), or it was counted (`false`), because it, or a count, was
    /// told less than a second ago.
    pub fn heard(&mut self, now: Instant) -> bool {
        let recently_told = self
            .last_told
            .is_some_and(|told| now < told + REPEATS_TOLD_EVERY);
        // Repeats still untold are told first, as a count: an event heard
        // after them is one more of them, even once their second is over.
        if recently_told || self.untold > 0 {
            self.untold += 1;
            false
        } else {
            self.last_told = Some(now);
            true
        }
    }

    /// When the count of repeats is to be told, if any were counted.
    pub fn count_due(&self) -> Option<Instant> {
        match (self.last_told, self.untold) {
            (Some(told), 1..) => Some(told + REPEATS_TOLD_EVERY),
            _ => None,
        }
    }

    /// The count of repeats to tell now, if any, at `now`; the count starts
    /// again from zero.
    pub fn take_count(&mut self, now: Instant) -> Option<u64> {
        if self.untold == 0 {
            return None;
        }
        self.last_told = Some(now);
        Some(std::mem::take(&mut self.untold))
    }

    /// Whether there is nothing to remember: no repeat untold, and nothing
    /// told within the last second, so that the next event is told in full.
    pub fn is_quiet(&self, now: Instant) -> bool {
        self.untold == 0
            && self
                .last_told
                .is_none_or(|told| now >= told + REPEATS_TOLD_EVERY)
    }
}

/// `count` subscribers, in words: "1 subscriber", "2 subscribers". (A
/// server started with `--max-subscribers 1` says "1 subscriber".)
pub(crate) fn subscribers(count: usize) -> String {
    if count == 1 {
        "1 subscriber".to_owned()
    } else {
        format!("{count} subscribers")
    }
}

/// Where [`ConsoleEvent`]s go. Cheap to clone: every task holds one.
#[derive(Clone)]
pub struct Console {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    /// Each event handed to a function (a test's channel).
    Function(Arc<dyn Fn(&ConsoleEvent) + Send + Sync>),
    /// The process's standard streams, through their writers.
    Standard(&'static StandardStreams),
}

impl Console {
    /// A console that hands every event to `sink`.
    pub fn new(sink: impl Fn(&ConsoleEvent) + Send + Sync + 'static) -> Self {
        Console {
            sink: Sink::Function(Arc::new(sink)),
        }
    }

    /// The programs' console: events on stdout, problems on stderr, one
    /// line each, with control characters escaped, and a burst of the same
    /// event told in a few lines ([`Repeats`]). Shared by the whole process.
    ///
    /// Saying never waits: a stream that is closed, full or not read costs
    /// the lines it cannot take, counted (see [`standard`]). Call
    /// [`Console::drain_on_drop`] in `main` so that what was said is written
    /// before the program exits.
    pub fn stdout() -> Self {
        Console {
            sink: Sink::Standard(StandardStreams::get()),
        }
    }

    /// A console that drops every event.
    pub fn silent() -> Self {
        Console::new(|_| {})
    }

    /// Reports one event.
    pub fn say(&self, event: ConsoleEvent) {
        match &self.sink {
            Sink::Function(sink) => sink(&event),
            Sink::Standard(streams) => streams.say(event),
        }
    }

    /// Waits until every event said so far is written, counts of repeats
    /// included, or `deadline` has passed. At once for a console that
    /// hands events to a function.
    pub fn drain(&self, deadline: Duration) {
        if let Sink::Standard(streams) = &self.sink {
            streams.drain(deadline);
        }
    }

    /// A guard that drains this console, for at most
    /// [`standard::DRAIN_DEADLINE`], when it is dropped: at the end of
    /// `main`, however `main` ends.
    #[must_use = "the console is drained when the guard is dropped"]
    pub fn drain_on_drop(&self) -> ConsoleDrain {
        ConsoleDrain {
            console: self.clone(),
        }
    }
}

/// An [`io::Write`](std::io::Write) whose lines are said on a [`Console`],
/// each as a [`ConsoleEvent::Program`]: for code that reports through
/// `Write` (the client's reports of bad lines), so that a report never
/// waits for stderr, and never fails.
pub struct ConsoleLines {
    console: Console,
    /// A line begun and not ended yet.
    partial: Vec<u8>,
}

/// The longest line [`ConsoleLines`] gathers before it says it unended: a
/// caller that never writes a newline costs no more memory than this.
const MAX_CONSOLE_LINE: usize = 64 * 1024;

impl ConsoleLines {
    /// Lines written to the returned value are said on `console`.
    pub fn new(console: Console) -> Self {
        ConsoleLines {
            console,
            partial: Vec::new(),
        }
    }

    fn say_line(&mut self, line: Vec<u8>) {
        let text = String::from_utf8_lossy(&line).into_owned();
        self.console.say(ConsoleEvent::Program(text));
    }
}

impl std::io::Write for ConsoleLines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(bytes);
        while let Some(newline) = self.partial.iter().position(|&byte| byte == b'\n') {
            let mut line: Vec<u8> = self.partial.drain(..=newline).collect();
            line.pop();
            self.say_line(line);
        }
        if self.partial.len() >= MAX_CONSOLE_LINE {
            let line = std::mem::take(&mut self.partial);
            self.say_line(line);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Drains a [`Console`] when dropped; see [`Console::drain_on_drop`].
pub struct ConsoleDrain {
    console: Console,
}

impl Drop for ConsoleDrain {
    fn drop(&mut self) {
        self.console.drain(DRAIN_DEADLINE);
    }
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Console")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_count_of_subscribers_is_said_in_words() {
        assert_eq!(subscribers(0), "0 subscribers");
        assert_eq!(subscribers(1), "1 subscriber");
        assert_eq!(subscribers(2), "2 subscribers");
        assert_eq!(
            ConsoleEvent::SubscriberRefused { limit: 1 }.to_string(),
            "Subscriber refused: the limit of 1 subscriber is reached."
        );
    }

    #[test]
    fn problems_are_the_events_an_operator_must_look_at() {
        let problems = [
            ConsoleEvent::SubscriberTooSlow { timeout_ms: 1 },
            ConsoleEvent::SubscriberFailed("EBADF".into()),
            ConsoleEvent::SocketOptionsFailed("ENOTSOCK".into()),
            ConsoleEvent::WatchFailed("gone".into()),
            ConsoleEvent::AcceptFailed("EMFILE".into()),
            ConsoleEvent::Repeated {
                event: Box::new(ConsoleEvent::AcceptFailed("EMFILE".into())),
                times: 2,
            },
            ConsoleEvent::StreamUnreachable {
                stream: "redis://localhost:6379/changes".into(),
                reason: "refused".into(),
            },
            ConsoleEvent::MalformedEntry {
                id: "1-0".into(),
                reason: "no type".into(),
            },
            ConsoleEvent::Program("net-watcher: cannot listen".into()),
            ConsoleEvent::OutputFailed {
                stream: StandardStream::Stdout,
                reason: "Broken pipe".into(),
                closed: true,
            },
            ConsoleEvent::Lost { messages: 2 },
        ];
        for event in problems {
            assert!(event.is_problem(), "expected {event:?} to be a problem");
        }
        let routine = [
            ConsoleEvent::SubscriberConnected,
            ConsoleEvent::SubscriberDisconnected,
            ConsoleEvent::SubscriberRefused { limit: 1 },
            ConsoleEvent::StreamReachable {
                stream: "redis://localhost:6379/changes".into(),
            },
            ConsoleEvent::Listening {
                on: "127.0.0.1:1".into(),
            },
            ConsoleEvent::TestServiceListening {
                on: "127.0.0.1:1".into(),
            },
        ];
        for event in routine {
            assert!(!event.is_problem(), "expected {event:?} to be routine");
        }
        let repeated = |event| ConsoleEvent::Repeated {
            event: Box::new(event),
            times: 2,
        };
        assert!(repeated(ConsoleEvent::WatchFailed("gone".into())).is_problem());
        assert!(!repeated(ConsoleEvent::SubscriberConnected).is_problem());
    }

    fn after(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn an_event_is_told_then_its_repeats_counted_and_the_count_told_a_second_later() {
        let start = Instant::now();
        let mut repeats = Repeats::default();
        assert!(repeats.is_quiet(start), "nothing heard yet");
        assert_eq!(repeats.count_due(), None);
        assert!(repeats.heard(start));
        assert!(
            !repeats.is_quiet(after(start, 999)),
            "told within the second"
        );
        assert_eq!(repeats.count_due(), None, "nothing to count yet");
        assert!(!repeats.heard(after(start, 10)));
        assert!(!repeats.heard(after(start, 999)));
        assert!(!repeats.is_quiet(after(start, 5_000)), "a count is untold");
        assert_eq!(repeats.count_due(), Some(after(start, 1_000)));
        assert_eq!(repeats.take_count(after(start, 1_000)), Some(2));
        assert_eq!(repeats.count_due(), None, "the count was told");
        assert_eq!(repeats.take_count(after(start, 1_001)), None);
    }

    #[test]
    fn a_repeat_within_a_second_of_a_count_is_counted_and_one_after_a_quiet_second_told() {
        let start = Instant::now();
        let mut repeats = Repeats::default();
        assert!(repeats.heard(start));
        assert!(!repeats.heard(after(start, 500)));
        assert_eq!(repeats.take_count(after(start, 1_000)), Some(1));
        assert!(
            !repeats.heard(after(start, 1_999)),
            "within a second of the count"
        );
        assert_eq!(repeats.count_due(), Some(after(start, 2_000)));
        assert!(
            !repeats.heard(after(start, 2_500)),
            "an untold count is told before anything else"
        );
        assert_eq!(repeats.take_count(after(start, 2_600)), Some(2));
        assert!(
            repeats.is_quiet(after(start, 3_600)),
            "a quiet second later"
        );
        assert!(repeats.heard(after(start, 3_600)), "told in full again");
    }

    #[test]
    fn a_console_shows_itself_by_name_in_debug_output() {
        assert_eq!(format!("{:?}", Console::silent()), "Console");
    }

    fn recording() -> (Console, std::sync::mpsc::Receiver<ConsoleEvent>) {
        let (events, heard) = std::sync::mpsc::channel();
        let events = std::sync::Mutex::new(events);
        let console = Console::new(move |event| {
            let _ = events.lock().unwrap().send(event.clone());
        });
        (console, heard)
    }

    #[test]
    fn lines_written_to_a_console_are_said_one_by_one_however_they_are_cut() {
        use std::io::Write;
        let (console, heard) = recording();
        let mut lines = ConsoleLines::new(console);
        assert_eq!(lines.write(b"first").unwrap(), 5);
        assert_eq!(heard.try_iter().count(), 0, "a line begun is not said");
        lines.write_all(b" line\nsecond\nthi").unwrap();
        lines.flush().unwrap();
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [
                ConsoleEvent::Program("first line".into()),
                ConsoleEvent::Program("second".into()),
            ]
        );
        lines.write_all(&vec![b'x'; MAX_CONSOLE_LINE - 3]).unwrap();
        assert_eq!(
            heard
                .try_iter()
                .map(|event| event.to_string().len())
                .collect::<Vec<_>>(),
            [MAX_CONSOLE_LINE],
            "a line that never ends is said once it is as long as a line may be"
        );
        lines.write_all(b"\n").unwrap();
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [ConsoleEvent::Program(String::new())]
        );
        // A long line, but a line: said whole.
        lines.write_all(&[b'y'; 60_000]).unwrap();
        lines.write_all(b"\n").unwrap();
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [ConsoleEvent::Program("y".repeat(60_000))]
        );
    }
}
