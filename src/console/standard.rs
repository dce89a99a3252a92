//! The console on the process's standard streams: what
//! [`Console::stdout`](super::Console::stdout) writes through.
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
//! blocking, unbuffered, so that a line is written whole or counted (or,
//! with no descriptor to spare, to the streams themselves).

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
            // What stdout cannot write is said on stderr; stderr's failures
            // have nowhere to be said.
            let stdout =
                duplicate(io::stdout().as_fd()).unwrap_or_else(|| Box::new(Patient(io::stdout())));
            let stderr =
                duplicate(io::stderr().as_fd()).unwrap_or_else(|| Box::new(Patient(io::stderr())));
            streams.stdout.start(Some(stdout), Some(&streams.stderr));
            streams.stderr.start(Some(stderr), None);
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

/// Where a writer writes: a standard stream, or a test's recorder.
type Output = Box<dyn Write + Send>;

/// A duplicate of a standard stream's descriptor, for a writer of its own:
/// written unbuffered (a line goes whole, or is counted), and closing it
/// leaves fd 1 and 2 alone. `None` if the process has no descriptor left to
/// spare; the writer then writes through std's handle on the stream itself
/// (stdout's buffers a line, which each write ends): under `ulimit -n 10`
/// the error that stops the program, which cannot open anything either,
/// was said nowhere, and it exited 1 without a word.
fn duplicate(stream: std::os::fd::BorrowedFd<'_>) -> Option<Output> {
    let file = File::from(stream.try_clone_to_owned().ok()?);
    Some(Box::new(Patient(file)))
}

/// How long a writer pauses before it tries again a stream that said
/// "would block".
const RETRY_PAUSE: Duration = Duration::from_millis(5);

/// A stream written as a blocking one is, even when its open file is not
/// (the client's stdout is written through one too).
///
/// The flag belongs to the open file, which a parent may have made
/// non-blocking and passed on (Node's `stdio: 'inherit'`): a write that
/// does not fit then fails with "would block", or writes part of a line.
/// The listening line of a server started while such a pipe was full was
/// lost, and a script waiting for it waited in vain. Here the writer
/// waits, as a blocking write would: it is its thread's job, and a drain's
/// deadline still bounds how long the program's exit waits. A pause
/// rather than `poll(2)`, which the crates in the tree offer only behind
/// `unsafe` or a new feature: a few milliseconds cost nothing to a stream
/// nobody reads.
pub struct Patient<W>(pub W);

impl<W: Write> Write for Patient<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        patiently(|| self.0.write(bytes))
    }

    /// Waited for as a write is. A file has nothing to flush, but std's
    /// stdout does: when the open file takes only part of a line (a
    /// non-blocking pipe with less room than the line), it keeps the rest,
    /// up to a KiB, and says the write is done; the flush then met the
    /// full pipe, said "would block", and the end of the grader's report
    /// was lost.
    fn flush(&mut self) -> io::Result<()> {
        patiently(|| self.0.flush())
    }
}

/// Tries `attempt` again, after a pause, for as long as it says "would
/// block".
fn patiently<T>(mut attempt: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match attempt() {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(RETRY_PAUSE);
            }
            done => return done,
        }
    }
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

impl Queue {
    /// Whether the writer has something to take: events, or a drain's
    /// request to tell the counts now.
    fn has_work(&self) -> bool {
        self.flush || !self.events.is_empty()
    }
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

    /// Starts the writer thread on `output`, saying its failures on
    /// `failures_said_on`. Without an output, or a thread, the stream is
    /// closed for the console: nothing can write there.
    fn start(
        &'static self,
        output: Option<Output>,
        failures_said_on: Option<&'static StreamWriter>,
    ) {
        let started = output.and_then(|output| {
            let teller = Teller::new(self.stream, output, failures_said_on);
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
            !queue.closed && (queue.has_work() || queue.busy)
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

    /// Waits until there is an event or a drain, or the next count of
    /// repeats is due (at once if it is past), and returns the queue to take
    /// them from, which may be empty.
    fn wait_for_work(&self, teller: &Teller) -> MutexGuard<'_, Queue> {
        let mut queue = lock(&self.queue);
        if queue.closed || queue.has_work() {
            return queue;
        }
        queue.busy = false;
        queue.writer_waiting = true;
        self.idle.notify_all();
        let mut queue = match teller.next_due() {
            Some(due) => {
                let wait = due.saturating_duration_since(Instant::now());
                wait_timeout_while(&self.wake, queue, wait, |queue| queue.writer_waiting)
            }
            None => wait_while(&self.wake, queue, |queue| queue.writer_waiting),
        };
        queue.writer_waiting = false;
        queue
    }
}

/// What one stream's writer knows: where it writes, the repeats it counts,
/// what it could not write.
struct Teller {
    stream: StandardStream,
    /// `None` once the stream is closed.
    output: Option<Output>,
    /// Where this stream's failure is said when it begins (stderr, for
    /// stdout).
    failures_said_on: Option<&'static StreamWriter>,
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
    fn new(
        stream: StandardStream,
        output: Output,
        failures_said_on: Option<&'static StreamWriter>,
    ) -> Self {
        Teller {
            stream,
            output: Some(output),
            failures_said_on,
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
    /// closed for good; any failure is said once on the other stream (for
    /// stdout, stderr), when it begins.
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
                if let (false, Some(other)) = (self.failing, self.failures_said_on) {
                    other.push(ConsoleEvent::OutputFailed {
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

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::sync::{Arc, mpsc};

    /// Long enough for any wait that succeeds; a passing test never waits
    /// it out.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// An output that records each line, after `failures` writes that fail
    /// with `failure`, each write taking `slowness`.
    struct Recorder {
        lines: Arc<Mutex<Vec<String>>>,
        failures: usize,
        failure: io::ErrorKind,
        slowness: Duration,
        /// A write waits for a message here first, if given: an output
        /// nobody reads, until the test says.
        gate: Option<mpsc::Receiver<()>>,
    }

    impl Recorder {
        fn new() -> (Self, Arc<Mutex<Vec<String>>>) {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let recorder = Recorder {
                lines: Arc::clone(&lines),
                failures: 0,
                failure: io::ErrorKind::Other,
                slowness: Duration::ZERO,
                gate: None,
            };
            (recorder, lines)
        }
    }

    impl Write for Recorder {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if let Some(gate) = &self.gate {
                let _ = gate.recv();
            }
            // A slow output: the test's adversary, slow on purpose.
            std::thread::sleep(self.slowness);
            if self.failures > 0 {
                self.failures -= 1;
                return Err(self.failure.into());
            }
            let line = String::from_utf8(bytes.to_vec()).unwrap();
            self.lines.lock().unwrap().push(line);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer for `stream`, for the whole test run (its thread outlives
    /// the test, waiting).
    fn writer(
        stream: StandardStream,
        output: Recorder,
        failures_said_on: Option<&'static StreamWriter>,
    ) -> &'static StreamWriter {
        let writer: &'static StreamWriter = Box::leak(Box::new(StreamWriter::new(stream)));
        writer.start(Some(Box::new(output)), failures_said_on);
        writer
    }

    fn lines(recorded: &Mutex<Vec<String>>) -> Vec<String> {
        recorded.lock().unwrap().clone()
    }

    #[test]
    fn a_drain_waits_until_a_slow_output_has_every_line() {
        let (mut output, recorded) = Recorder::new();
        output.slowness = Duration::from_millis(20);
        let writer = writer(StandardStream::Stdout, output, None);
        for index in 0..5 {
            writer.push(ConsoleEvent::Program(format!("line {index}")));
        }
        writer.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(
            lines(&recorded),
            ["line 0\n", "line 1\n", "line 2\n", "line 3\n", "line 4\n"]
        );
    }

    #[test]
    fn a_burst_is_told_once_then_counted_and_the_count_told_by_a_drain() {
        let (output, recorded) = Recorder::new();
        let writer = writer(StandardStream::Stdout, output, None);
        for _ in 0..50 {
            writer.push(ConsoleEvent::SubscriberConnected);
        }
        writer.push(ConsoleEvent::Program("a\nb".into()));
        writer.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(
            lines(&recorded),
            [
                "Subscriber connected.\n",
                "a\\nb\n",
                "Subscriber connected. (repeated 49 times in the last second)\n"
            ]
        );
    }

    #[test]
    fn a_count_is_told_when_due_without_a_drain() {
        let (output, recorded) = Recorder::new();
        let writer = writer(StandardStream::Stdout, output, None);
        writer.push(ConsoleEvent::SubscriberConnected);
        writer.push(ConsoleEvent::SubscriberConnected);
        // The count is due a second after the first was told: waited for,
        // not slept through.
        let deadline = std::time::Instant::now() + PATIENCE;
        while lines(&recorded).len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                lines(&recorded)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            lines(&recorded),
            [
                "Subscriber connected.\n",
                "Subscriber connected. (repeated once in the last second)\n"
            ]
        );
    }

    /// The writer's clock, as a test sets it: a count waits out its
    /// second, and goes at its end. (The test above sees it told, not
    /// when: a count told at once would pass it.)
    #[test]
    fn a_count_is_told_at_the_end_of_its_second_not_before() {
        let (output, recorded) = Recorder::new();
        let mut teller = Teller::new(StandardStream::Stdout, Box::new(output), None);
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        teller.hear(ConsoleEvent::SubscriberConnected, start);
        teller.hear(ConsoleEvent::SubscriberConnected, at(10));
        teller.tell_due(at(999), false);
        assert_eq!(lines(&recorded), ["Subscriber connected.\n"]);
        teller.tell_due(at(1_000), false);
        assert_eq!(
            lines(&recorded),
            [
                "Subscriber connected.\n",
                "Subscriber connected. (repeated once in the last second)\n"
            ]
        );
    }

    #[test]
    fn a_closed_output_is_said_once_on_the_other_stream_and_takes_no_more_events() {
        let (errors, said) = Recorder::new();
        let stderr = writer(StandardStream::Stderr, errors, None);
        let (mut output, recorded) = Recorder::new();
        output.failures = usize::MAX;
        output.failure = io::ErrorKind::BrokenPipe;
        let stdout = writer(StandardStream::Stdout, output, Some(stderr));
        stdout.push(ConsoleEvent::SubscriberConnected);
        stdout.push(ConsoleEvent::SubscriberDisconnected);
        stdout.drain(std::time::Instant::now() + PATIENCE);
        stdout.push(ConsoleEvent::SubscriberConnected);
        {
            let queue = lock(&stdout.queue);
            assert!(queue.closed, "the stream is closed");
            assert!(queue.events.is_empty(), "and takes no more events");
            assert_eq!(queue.dropped, 0, "nor counts them");
        }
        stderr.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(lines(&recorded), Vec::<String>::new());
        assert_eq!(
            lines(&said),
            ["Cannot write to stdout: broken pipe; its lines are dropped from now on.\n"]
        );
    }

    #[test]
    fn a_failing_output_counts_what_it_could_not_write_and_says_it_once_it_works() {
        let (errors, said) = Recorder::new();
        let stderr = writer(StandardStream::Stderr, errors, None);
        let (mut output, recorded) = Recorder::new();
        output.failures = 3;
        output.failure = io::ErrorKind::StorageFull;
        let stdout = writer(StandardStream::Stdout, output, Some(stderr));
        for index in 0..3 {
            stdout.push(ConsoleEvent::Program(format!("lost {index}")));
        }
        stdout.drain(std::time::Instant::now() + PATIENCE);
        stdout.push(ConsoleEvent::Program("written".into()));
        stdout.drain(std::time::Instant::now() + PATIENCE);
        stderr.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(
            lines(&recorded),
            [
                "3 console messages could not be written (the output was full or not read).\n",
                "written\n"
            ]
        );
        assert_eq!(
            lines(&said),
            [
                "Cannot write to stdout: no storage space; its lines are counted, and the count said there once it works again.\n"
            ],
            "the failure said once, when it began"
        );
    }

    #[test]
    fn a_stream_that_says_would_block_is_waited_for_and_loses_nothing() {
        let (mut output, recorded) = Recorder::new();
        output.failures = 3;
        output.failure = io::ErrorKind::WouldBlock;
        let writer: &'static StreamWriter =
            Box::leak(Box::new(StreamWriter::new(StandardStream::Stdout)));
        writer.start(Some(Box::new(Patient(output))), None);
        writer.push(ConsoleEvent::Program("waited for".into()));
        writer.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(lines(&recorded), ["waited for\n"]);
    }

    #[test]
    fn a_drain_tells_the_count_of_lost_lines_if_it_can() {
        let (mut output, recorded) = Recorder::new();
        output.failures = 2;
        output.failure = io::ErrorKind::StorageFull;
        let stdout = writer(StandardStream::Stdout, output, None);
        stdout.push(ConsoleEvent::Program("lost".into()));
        stdout.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(
            lines(&recorded),
            Vec::<String>::new(),
            "the count failed too"
        );
        stdout.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(
            lines(&recorded),
            ["1 console message could not be written (the output was full or not read).\n"],
            "the line lost; the count that could not be said is no message of its own"
        );
    }

    #[test]
    fn a_full_queue_counts_what_it_drops_and_it_is_said_once_the_output_takes_lines() {
        let (mut output, recorded) = Recorder::new();
        let (open, gate) = mpsc::channel();
        output.gate = Some(gate);
        let stdout = writer(StandardStream::Stdout, output, None);
        stdout.push(ConsoleEvent::Program("first".into()));
        // The writer has taken the first line out and waits on the gate
        // once the queue is empty again.
        let deadline = std::time::Instant::now() + PATIENCE;
        while !lock(&stdout.queue).events.is_empty() || !lock(&stdout.queue).busy {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never took the line"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        for index in 0..QUEUE_CAPACITY + 5 {
            stdout.push(ConsoleEvent::Program(format!("queued {index}")));
        }
        assert_eq!(lock(&stdout.queue).dropped, 5);
        for _ in 0..QUEUE_CAPACITY + 2 {
            open.send(()).unwrap();
        }
        stdout.drain(std::time::Instant::now() + PATIENCE);
        let written = lines(&recorded);
        assert_eq!(
            written[..3],
            [
                "first\n".to_owned(),
                "5 console messages could not be written (the output was full or not read).\n"
                    .to_owned(),
                "queued 0\n".to_owned()
            ]
        );
        assert_eq!(written.len(), QUEUE_CAPACITY + 2);
    }

    /// Waits until the writer has taken everything out of its queue and
    /// is working on it (`busy`), or waiting (`!busy`).
    fn wait_until_taken(writer: &StreamWriter, busy: bool) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            {
                let queue = lock(&writer.queue);
                if queue.events.is_empty() && queue.busy == busy && !queue.flush {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never got there"
            );
            // The writer's thread tells nobody its state: looked at again.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_drain_returns_once_all_is_written_not_at_its_deadline() {
        let (mut output, recorded) = Recorder::new();
        let (open, gate) = mpsc::channel();
        output.gate = Some(gate);
        let stdout = writer(StandardStream::Stdout, output, None);
        stdout.push(ConsoleEvent::Program("first".into()));
        wait_until_taken(stdout, true);
        let (drained, done) = mpsc::channel();
        std::thread::spawn(move || {
            stdout.drain(std::time::Instant::now() + Duration::from_secs(3_600));
            let _ = drained.send(());
        });
        // The drain has asked for the flush before the writer is let go.
        let deadline = std::time::Instant::now() + PATIENCE;
        while !lock(&stdout.queue).flush {
            assert!(
                std::time::Instant::now() < deadline,
                "the drain never began"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        open.send(()).unwrap();
        done.recv_timeout(PATIENCE)
            .expect("the drain to return once the line is written, not after its hour");
        assert_eq!(lines(&recorded), ["first\n"]);
    }

    #[test]
    fn a_drain_tells_the_counts_waiting_for_their_second_though_the_queue_is_empty() {
        let (mut output, recorded) = Recorder::new();
        // Slow, so that a drain that did not wait would return before the
        // count is written.
        output.slowness = Duration::from_millis(50);
        let stdout = writer(StandardStream::Stdout, output, None);
        for _ in 0..3 {
            stdout.push(ConsoleEvent::SubscriberConnected);
        }
        wait_until_taken(stdout, false);
        stdout.drain(std::time::Instant::now() + PATIENCE);
        assert_eq!(
            lines(&recorded),
            [
                "Subscriber connected.\n",
                "Subscriber connected. (repeated 2 times in the last second)\n"
            ]
        );
    }

    #[test]
    fn a_drain_of_a_stream_without_output_returns_at_once() {
        let writer: &'static StreamWriter =
            Box::leak(Box::new(StreamWriter::new(StandardStream::Stderr)));
        writer.start(None, None);
        writer.push(ConsoleEvent::Program("nowhere".into()));
        assert!(lock(&writer.queue).events.is_empty());
        writer.drain(std::time::Instant::now() + PATIENCE);
    }

    #[test]
    fn the_streams_are_named_as_a_shell_names_them() {
        assert_eq!(StandardStream::Stdout.to_string(), "stdout");
        assert_eq!(StandardStream::Stderr.to_string(), "stderr");
    }

    /// An open file that takes at most `room` bytes a write, and after a
    /// write it took only part of, says "would block" once: a
    /// non-blocking pipe with less room than a line. A write after `broken`
    /// fails for good.
    struct Cramped {
        taken: Vec<u8>,
        room: usize,
        refusals: usize,
        broken: bool,
    }

    impl Write for Cramped {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.broken {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if self.refusals > 0 {
                self.refusals -= 1;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let taken = bytes.len().min(self.room);
            self.taken.extend_from_slice(&bytes[..taken]);
            if taken < bytes.len() {
                self.refusals = 1;
            }
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn patient_flush_waits_for_the_part_of_a_line_stds_stdout_kept() {
        let line = format!("{}\n", "x".repeat(2_500));
        let cramped = Cramped {
            taken: Vec::new(),
            room: 2_000,
            refusals: 0,
            broken: false,
        };
        // A LineWriter, as std's stdout is: it keeps the 501 bytes the
        // open file did not take, and only the flush writes them.
        let mut output = Patient(io::LineWriter::new(cramped));
        output.write_all(line.as_bytes()).unwrap();
        output.flush().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.0.get_ref().taken), line);
    }

    #[test]
    fn patient_passes_on_a_failure_other_than_would_block() {
        let mut output = Patient(io::LineWriter::new(Cramped {
            taken: Vec::new(),
            room: 2_000,
            refusals: 0,
            broken: false,
        }));
        output.write_all(b"kept until flushed").unwrap();
        output.0.get_mut().broken = true;
        let failure = output.flush().expect_err("the open file is broken");
        assert_eq!(failure.kind(), io::ErrorKind::BrokenPipe);
    }
}
