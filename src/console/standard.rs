//! The console on the process's standard streams: what [`Console::stdout`]
//! writes through.
//!
//! Whoever says something (an accept loop, a subscriber's task, the watch's
//! thread) only puts the event in a bounded queue and goes on: it never
//! waits for the terminal, the pipe or the log shipper on the other end.
//! Each stream has a writer thread of its own that takes the events out,
//! counts the repeats of a burst ([`Repeats`]), and writes one line per
//! event, its control characters escaped
//! ([`crate::protocol::escape_controls`]).
//!
//! What a stream that stops working costs:
//!
//! - *closed* (its reader is gone: "broken pipe"): its lines are dropped
//!   from then on; stdout's closing is said once on stderr;
//! - *failing* (`/dev/full`: "no space left on device"): each line that
//!   fails is counted, and the count said on that stream once a write
//!   works again; stdout's failure is said once on stderr;
//! - *stalled* (nobody reads it): its writer waits in `write`, its queue
//!   fills, and what does not fit is counted, and said once the stream
//!   takes lines again.
//!
//! Why a thread per stream rather than one: with one, a stalled stderr would
//! hold back stdout's listening line, which scripts wait for. Lines keep
//! their order on each stream, which is all a reader of two pipes can see.
//!
//! Why not `O_NONBLOCK` on fd 1 and 2: the flag belongs to the open file,
//! which the process shares with the shell that started it (and whatever
//! else writes to the same terminal), and they would all start failing with
//! "would block". The writers write to duplicates of fd 1 and 2, left
//! blocking, unbuffered, so that a line is written whole or counted.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::{ConsoleEvent, Repeats};
use crate::lock::{lock, wait_timeout_while, wait_while};
use crate::protocol::escape_controls;

/// How many events wait for a stream's writer before more are counted
/// instead (about 60 KiB of events). A writer that keeps up empties its
/// queue in microseconds; one that waits on a stalled stream should not
/// hold more than this.
pub const QUEUE_CAPACITY: usize = 1024;

/// The longest [`Console::drain`] waits at the end of a program: long enough
/// for a terminal or a pipe that is read, short enough that a stalled one
/// cannot keep a stopped program from exiting (SIGTERM ends the server
/// within a second).
///
/// [`Console::drain`]: super::Console::drain
pub const DRAIN_DEADLINE: Duration = Duration::from_millis(500);

/// One of the process's two standard output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandardStream {
    /// Standard output (fd 1): the routine events.
    Stdout,
    /// Standard error (fd 2): the problems.
    Stderr,
}

impl fmt::Display for StandardStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StandardStream::Stdout => "stdout",
            StandardStream::Stderr => "stderr",
        })
    }
}

/// The two writers, started on first use and shared by the whole process.
pub(super) struct StandardStreams {
    stdout: StreamWriter,
    stderr: StreamWriter,
}

impl StandardStreams {
    /// The process's writers, started the first time.
    pub(super) fn get() -> &'static StandardStreams {
        static STREAMS: OnceLock<StandardStreams> = OnceLock::new();
        static STARTED: OnceLock<()> = OnceLock::new();
        let streams = STREAMS.get_or_init(|| StandardStreams {
            stdout: StreamWriter::new(StandardStream::Stdout),
            stderr: StreamWriter::new(StandardStream::Stderr),
        });
        // The threads need the `'static` writers, so they start once the
        // writers are in place.
        STARTED.get_or_init(|| {
            streams
                .stdout
                .start(duplicate(io::stdout().as_fd()), streams);
            streams
                .stderr
                .start(duplicate(io::stderr().as_fd()), streams);
        });
        streams
    }

    /// Queues `event` for its stream: stderr for a problem, stdout for the
    /// rest. Never waits.
    pub(super) fn say(&self, event: ConsoleEvent) {
        self.writer_for(&event).push(event);
    }

    fn writer_for(&self, event: &ConsoleEvent) -> &StreamWriter {
        if event.is_problem() {
            &self.stderr
        } else {
            &self.stdout
        }
    }

    /// Waits until everything said so far is written (repeats counted so
    /// far told too), or `deadline` has passed. Stdout first, since what it
    /// could not write is said on stderr.
    pub(super) fn drain(&self, deadline: Duration) {
        let until = std::time::Instant::now() + deadline;
        self.stdout.drain(until);
        self.stderr.drain(until);
    }
}

/// A duplicate of a standard stream's descriptor, for a writer of its own:
/// written unbuffered (a line goes whole, or is counted), and closing it
/// leaves fd 1 and 2 alone. `None` if the process has no descriptor left to
/// spare, and then that stream is closed for the console.
fn duplicate(stream: std::os::fd::BorrowedFd<'_>) -> Option<File> {
    stream.try_clone_to_owned().ok().map(File::from)
}

/// One stream's queue and writer thread.
struct StreamWriter {
    stream: StandardStream,
    queue: Mutex<Queue>,
    /// Signalled when an event arrives for a waiting writer, or a drain
    /// starts.
    wake: Condvar,
    /// Signalled when the writer has nothing left to do.
    idle: Condvar,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<ConsoleEvent>,
    /// Events that found the queue full, not counted by the writer yet.
    dropped: u64,
    /// The stream is closed: events are dropped, and not counted.
    closed: bool,
    /// The writer waits for an event: a new one wakes it.
    writer_waiting: bool,
    /// The writer is working on what it took out of the queue.
    busy: bool,
    /// A drain asks for the counts of repeats to be told now.
    flush: bool,
}

impl StreamWriter {
    fn new(stream: StandardStream) -> Self {
        StreamWriter {
            stream,
            queue: Mutex::new(Queue {
                events: VecDeque::with_capacity(QUEUE_CAPACITY),
                ..Queue::default()
            }),
            wake: Condvar::new(),
            idle: Condvar::new(),
        }
    }

    /// Starts the writer thread on `output`. Without an output, or a
    /// thread, the stream is closed for the console: nothing can write
    /// there.
    fn start(&'static self, output: Option<File>, streams: &'static StandardStreams) {
        let started = output.and_then(|output| {
            let teller = Teller::new(self.stream, output, streams);
            std::thread::Builder::new()
                .name(format!("console {}", self.stream))
                .spawn(move || self.run(teller))
                .ok()
        });
        if started.is_none() {
            self.close();
        }
    }

    fn push(&self, event: ConsoleEvent) {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return;
        }
        if queue.events.len() >= QUEUE_CAPACITY {
            queue.dropped += 1;
            return;
        }
        queue.events.push_back(event);
        // Only a waiting writer needs waking: one that is busy takes this
        // event out with the next batch, and the say costs no system call.
        if queue.writer_waiting {
            queue.writer_waiting = false;
            self.wake.notify_one();
        }
    }

    fn close(&self) {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        queue.events.clear();
        queue.busy = false;
        queue.flush = false;
        self.idle.notify_all();
    }

    fn drain(&self, until: std::time::Instant) {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return;
        }
        queue.flush = true;
        queue.writer_waiting = false;
        self.wake.notify_one();
        let timeout = until.saturating_duration_since(std::time::Instant::now());
        // The guard is dropped at once: the wait is all that matters.
        drop(wait_timeout_while(&self.idle, queue, timeout, |queue| {
            !queue.closed && (queue.flush || queue.busy || !queue.events.is_empty())
        }));
    }

    /// The writer thread: takes what was said, in batches, and tells it.
    fn run(&self, mut teller: Teller) {
        let mut batch = VecDeque::with_capacity(QUEUE_CAPACITY);
        loop {
            let (dropped, flush) = {
                let mut queue = self.wait_for_work(&teller);
                if queue.closed {
                    return;
                }
                queue.busy = true;
                std::mem::swap(&mut batch, &mut queue.events);
                (
                    std::mem::take(&mut queue.dropped),
                    std::mem::take(&mut queue.flush),
                )
            };
            teller.count_lost(dropped);
            for event in batch.drain(..) {
                teller.hear(event, Instant::now());
            }
            teller.tell_due(Instant::now(), flush);
            if teller.is_closed() {
                self.close();
                return;
            }
        }
    }

    /// Waits until there is an event, a drain, or a count due.
    fn wait_for_work(&self, teller: &Teller) -> MutexGuard<'_, Queue> {
        let mut queue = lock(&self.queue);
        loop {
            if queue.closed || queue.flush || !queue.events.is_empty() {
                return queue;
            }
            let due = teller.next_due();
            let now = Instant::now();
            if due.is_some_and(|due| due <= now) {
                return queue;
            }
            queue.busy = false;
            queue.writer_waiting = true;
            self.idle.notify_all();
            queue = match due {
                Some(due) => {
                    wait_timeout_while(&self.wake, queue, due - now, |queue| queue.writer_waiting)
                }
                None => wait_while(&self.wake, queue, |queue| queue.writer_waiting),
            };
            queue.writer_waiting = false;
        }
    }
}

/// What one stream's writer knows: where it writes, the repeats it counts,
/// what it could not write.
struct Teller {
    stream: StandardStream,
    /// `None` once the stream is closed.
    output: Option<File>,
    streams: &'static StandardStreams,
    /// The repeats of each event told within the last second, so that a
    /// burst is told in a few lines.
    repeats: HashMap<ConsoleEvent, Repeats>,
    /// Events that could not be written (the queue was full, or the write
    /// failed), not said yet.
    lost: u64,
    /// Whether the last write failed (stdout's failure is said once on
    /// stderr, when it begins).
    failing: bool,
}

impl Teller {
    fn new(stream: StandardStream, output: File, streams: &'static StandardStreams) -> Self {
        Teller {
            stream,
            output: Some(output),
            streams,
            repeats: HashMap::new(),
            lost: 0,
            failing: false,
        }
    }

    fn is_closed(&self) -> bool {
        self.output.is_none()
    }

    fn count_lost(&mut self, events: u64) {
        self.lost += events;
    }

    /// An event was said: tells it, or counts it as a repeat.
    fn hear(&mut self, event: ConsoleEvent, now: Instant) {
        let repeats = self.repeats.entry(event.clone()).or_default();
        if repeats.heard(now) {
            self.tell(&event);
        }
    }

    /// Tells each count of repeats that is due (every one, with `all`),
    /// and forgets the events that have been quiet for a second.
    fn tell_due(&mut self, now: Instant, all: bool) {
        let mut counts = Vec::new();
        for (event, repeats) in &mut self.repeats {
            if all || repeats.count_due().is_some_and(|due| due <= now) {
                if let Some(times) = repeats.take_count(now) {
                    counts.push(ConsoleEvent::Repeated {
                        event: Box::new(event.clone()),
                        times,
                    });
                }
            }
        }
        self.repeats.retain(|_, repeats| !repeats.is_quiet(now));
        for count in counts {
            self.tell(&count);
        }
        if all && self.lost > 0 {
            self.tell_lost();
        }
    }

    /// When the next count of repeats is due, if one is.
    fn next_due(&self) -> Option<Instant> {
        self.repeats.values().filter_map(Repeats::count_due).min()
    }

    /// Writes `event` as a line, after the count of lines lost before it
    /// (said once writing works again).
    fn tell(&mut self, event: &ConsoleEvent) {
        if self.lost > 0 && !self.tell_lost() {
            self.lost += 1;
            return;
        }
        if !self.write(event) {
            self.lost += 1;
        }
    }

    /// Says how many lines were lost; returns whether that line was
    /// written.
    fn tell_lost(&mut self) -> bool {
        let lost = ConsoleEvent::Lost {
            messages: self.lost,
        };
        let written = self.write(&lost);
        if written {
            self.lost = 0;
        }
        written
    }

    /// Writes one line; returns whether it was written. A closed stream is
    /// closed for good; any other failure is said once on stderr (for
    /// stdout), when it begins.
    fn write(&mut self, event: &ConsoleEvent) -> bool {
        let Some(output) = &mut self.output else {
            return false;
        };
        let mut line = escape_controls(&event.to_string()).into_owned();
        line.push('\n');
        match output.write_all(line.as_bytes()) {
            Ok(()) => {
                self.failing = false;
                true
            }
            Err(error) => {
                let closed = error.kind() == io::ErrorKind::BrokenPipe;
                if closed {
                    self.output = None;
                    self.lost = 0;
                }
                if !self.failing && self.stream == StandardStream::Stdout {
                    self.streams.stderr.push(ConsoleEvent::OutputFailed {
                        stream: self.stream,
                        reason: error.to_string(),
                        closed,
                    });
                }
                self.failing = true;
                false
            }
        }
    }
}
