//! Where a spawned program's stdout or stderr goes when it is not a pipe the
//! test reads line by line: the adversaries of the console specs.
//!
//! - [`closed_pipe`]: a pipe whose reader is gone, as after `| head -1`
//!   has its line: every write fails with "broken pipe";
//! - [`dev_full`]: `/dev/full`, on which every write fails with "no space
//!   left on device";
//! - [`read_only`]: a file opened for reading only, on which every write
//!   fails with "bad file descriptor" (`1</dev/null` in a shell);
//! - [`StalledPipe`]: a pipe nobody reads, already full, as a log shipper
//!   that stopped: every write waits, until the test reads it again;
//! - [`FirstLineThenClosed`]: a pipe read for one line, then closed
//!   (`| head -1` itself).
//!
//! A program whose stdout is one of these cannot announce that it listens:
//! [`connect_when_listening`] connects to its Unix socket as soon as it
//! takes connections instead.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use super::PATIENCE;
use super::binary::{LineReader, Spawned};
use super::target::TargetFile;

/// A pipe: its reading end and its writing end, both blocking, the writing
/// end filled first if `full`.
///
/// Made with tokio's pipe (std's `std::io::pipe` needs Rust 1.87, past the
/// crate's `rust-version`), in a runtime of its own on a thread, so that any
/// test, async or not, can call this. Filling goes through tokio too: its
/// writing end is non-blocking, so "full" shows as "would block", and it is
/// handed back blocking (the flag belongs to the open file, which the
/// program shares, and its writes must wait, not fail).
fn pipe(full: bool) -> (File, OwnedFd) {
    pipe_with(full, true)
}

/// Like [`pipe`], the writing end left non-blocking unless `blocking`.
fn pipe_with(full: bool, blocking: bool) -> (File, OwnedFd) {
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime");
        let _entered = runtime.enter();
        let (sender, receiver) = tokio::net::unix::pipe::pipe().expect("a pipe");
        if full {
            // tokio knows the pipe is writable once its reactor says so;
            // from then on each "would block" is the pipe's own.
            runtime
                .block_on(sender.writable())
                .expect("the pipe is writable");
            // Whole pages first, then single bytes: a write of up to 4 KiB
            // that does not fit is refused whole, and would leave room for
            // a short line. Newlines, which a reader of lines skips.
            for chunk in [&[b'\n'; 4096][..], b"\n"] {
                loop {
                    match sender.try_write(chunk) {
                        Ok(_) => continue,
                        Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                        Err(error) => panic!("filling the pipe failed: {error}"),
                    }
                }
            }
        }
        let reader = receiver.into_blocking_fd().expect("the reading end");
        let writer = if blocking {
            sender.into_blocking_fd()
        } else {
            sender.into_nonblocking_fd()
        }
        .expect("the writing end");
        (File::from(reader), writer)
    })
    .join()
    .expect("a pipe is made")
}

/// Each adversary as a value, for specs that take them in turn (rstest
/// cases).
#[derive(Debug, Clone, Copy)]
pub enum BrokenOutput {
    /// [`closed_pipe`].
    ClosedPipe,
    /// [`dev_full`].
    DevFull,
    /// A [`StalledPipe`], never read.
    NobodyReads,
}

impl BrokenOutput {
    /// The output for a program, and the stalled pipe behind it, which the
    /// test keeps until the program is done (dropping it closes the pipe).
    pub fn make(self) -> (Stdio, Option<StalledPipe>) {
        match self {
            BrokenOutput::ClosedPipe => (closed_pipe(), None),
            BrokenOutput::DevFull => (dev_full(), None),
            BrokenOutput::NobodyReads => {
                let mut stalled = StalledPipe::new();
                (stalled.stdio(), Some(stalled))
            }
        }
    }
}

/// A pipe whose reading end is already closed.
pub fn closed_pipe() -> Stdio {
    let (reader, writer) = pipe(false);
    drop(reader);
    Stdio::from(writer)
}

/// `/dev/full`, opened for writing.
pub fn dev_full() -> Stdio {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full opens for writing");
    Stdio::from(full)
}

/// `/dev/null`, opened for reading only. std's own stdout and stderr take
/// the EBADF of a write there for success (as for a closed descriptor), so
/// a program that writes through them says nothing of it.
pub fn read_only() -> Stdio {
    Stdio::from(File::open("/dev/null").expect("/dev/null opens for reading"))
}

/// A pipe that nobody reads, filled before the program starts, so that its
/// first write waits; [`StalledPipe::resume`] starts reading it.
pub struct StalledPipe {
    reader: File,
    writer: Option<OwnedFd>,
}

impl StalledPipe {
    /// A full pipe. It is filled with newlines, which a reader of lines
    /// skips as empty lines.
    pub fn new() -> Self {
        let (reader, writer) = pipe(true);
        StalledPipe {
            reader,
            writer: Some(writer),
        }
    }

    /// A full pipe whose open file is non-blocking, as a parent may pass
    /// its own (Node's `stdio: 'inherit'`): a write that does not fit
    /// fails with "would block" instead of waiting.
    pub fn non_blocking() -> Self {
        let (reader, writer) = pipe_with(true, false);
        StalledPipe {
            reader,
            writer: Some(writer),
        }
    }

    /// The writing end, for the program's stdout or stderr (once).
    pub fn stdio(&mut self) -> Stdio {
        Stdio::from(self.writer.take().expect("the writing end is given once"))
    }

    /// Starts reading the pipe on a thread, and returns its lines (without
    /// the filling) as they come. The channel closes when the program's
    /// end of the pipe closes.
    pub fn resume(self) -> Receiver<String> {
        assert!(
            self.writer.is_none(),
            "the writing end was never given to a program"
        );
        let (lines, received) = mpsc::channel();
        let reader = self.reader;
        thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                if !line.is_empty() && lines.send(line).is_err() {
                    return;
                }
            }
        });
        received
    }
}

/// A pipe read for its first line, then closed: `| head -1`.
pub struct FirstLineThenClosed {
    reader: BufReader<File>,
}

impl FirstLineThenClosed {
    /// The pipe, and its writing end for a program.
    pub fn new() -> (Self, Stdio) {
        let (reader, writer) = pipe(false);
        (
            FirstLineThenClosed {
                reader: BufReader::new(reader),
            },
            Stdio::from(writer),
        )
    }

    /// Reads the first line (with a timeout of [`PATIENCE`]), then closes
    /// the reading end, and returns the line.
    pub fn first_line(self) -> String {
        let (line_tx, line) = mpsc::channel();
        let mut reader = self.reader;
        // A read has no timeout of its own; a thread and a channel give it
        // one. The thread drops the reading end when it has the line.
        thread::spawn(move || {
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = line_tx.send(first);
        });
        let first = line
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for the first line of output"));
        first.trim_end_matches('\n').to_owned()
    }
}

/// Everything `lines` brings until it closes (the program's end of the pipe
/// closed) or nothing comes for [`PATIENCE`].
pub fn all_lines(lines: &Receiver<String>) -> Vec<String> {
    let mut all = Vec::new();
    while let Ok(line) = lines.recv_timeout(PATIENCE) {
        all.push(line);
    }
    all
}

/// Connects to the Unix socket at `path` as soon as a server listens on it,
/// failing after [`PATIENCE`]: the readiness signal of a server whose
/// listening line the test cannot read. The connection is the test's own
/// subscriber, not a probe, so that the server's console has nothing the
/// test did not ask for. Nothing announces the socket, so this tries again
/// every few milliseconds.
pub fn connect_when_listening(path: &Path) -> UnixStream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return stream,
            // Not there yet, or there and not listening yet.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::NotFound | ErrorKind::ConnectionRefused
                ) => {}
            Err(error) => panic!("cannot connect to {}: {error}", path.display()),
        }
        assert!(
            Instant::now() < deadline,
            "nothing listened on {} within {PATIENCE:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until something exists at `path`, failing after [`PATIENCE`]:
/// the readiness signal of a program whose output the test cannot read,
/// which touches a file when it starts. Nothing announces a new file, so
/// this looks again every few milliseconds.
pub fn wait_for_path(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while std::fs::symlink_metadata(path).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing appeared at {} within {PATIENCE:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reads `reader` to its end on a thread; the text arrives on the channel.
pub fn read_to_end_on_a_thread(mut reader: impl Read + Send + 'static) -> Receiver<String> {
    let (text_tx, text) = mpsc::channel();
    thread::spawn(move || {
        let mut all = String::new();
        let _ = reader.read_to_string(&mut all);
        let _ = text_tx.send(all);
    });
    text
}

/// A `net-watcher` on a Unix socket in `target`'s directory, whose output
/// the test may not be able to read: found through its socket rather than
/// its listening line.
pub struct UnixServer {
    /// The running process.
    pub process: Spawned,
    /// Its socket.
    pub socket: PathBuf,
}

impl UnixServer {
    /// Starts `net-watcher` on `target` with `args`, on a Unix socket, with
    /// `configure` applied to the command (its stdout or stderr sent
    /// elsewhere); returns it and its first subscriber, greeted.
    pub fn start(
        target: &TargetFile,
        args: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> (Self, LineReader) {
        let socket = target.dir().join("watcher.sock");
        let mut all_args = vec![target.path_str(), "--unix", socket.to_str().unwrap()];
        all_args.extend_from_slice(args);
        let process = Spawned::start_configured(None, "net-watcher", &all_args, configure);
        let mut first = LineReader::unix(connect_when_listening(&socket));
        first.next_line("the first subscriber's greeting");
        (UnixServer { process, socket }, first)
    }

    /// Connects another subscriber.
    pub fn connect(&self) -> LineReader {
        let stream = UnixStream::connect(&self.socket)
            .unwrap_or_else(|error| panic!("cannot connect to the server: {error}"));
        LineReader::unix(stream)
    }
}

/// The lines of a console: how many events they tell (a line each, and
/// the repeats a count line counts), and how many messages they say were
/// lost, the listening line left out.
pub fn told_and_lost(lines: &[String]) -> (u64, u64) {
    let (mut told, mut lost) = (0, 0);
    for line in lines {
        if line.starts_with("Listening for subscribers on ") {
            continue;
        }
        if let Some((count, _)) = line.split_once(" console message") {
            lost += count.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"));
        } else if line.ends_with(" (repeated once in the last second)") {
            told += 1;
        } else if let Some((_, count)) = line.split_once(" (repeated ") {
            // The event itself was told on a line of its own before.
            let times = count.strip_suffix(" times in the last second)").unwrap();
            told += times.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"));
        } else {
            told += 1;
        }
    }
    (told, lost)
}

/// Checks that a server still serves and stops as it should: changes
/// `target`, checks that each of its `greeted` subscribers is told, stops
/// it with SIGTERM, and checks that it exits 0, without a panic, within
/// [`PATIENCE`].
pub fn serves_then_stops_cleanly(
    process: &mut Spawned,
    mut greeted: Vec<LineReader>,
    target: &TargetFile,
) {
    target.touch();
    for subscriber in &mut greeted {
        let line = subscriber.next_line("the change line");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }
    process.signal(libc::SIGTERM);
    let status = process.exit_status_within(PATIENCE);
    assert!(
        status.success(),
        "exit status {status}\n{}",
        process.report()
    );
    assert!(
        !process.stderr().contains("panicked"),
        "{}",
        process.report()
    );
}
