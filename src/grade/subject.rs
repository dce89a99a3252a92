//! The program under test, and starting it: placeholders, addresses,
//! readiness, and what the grader learns about it on the way.
//!
//! A command names where things go with placeholders: `{file}` (the
//! watched file, a fresh one in its own temporary directory for every
//! start), `{port}` (a TCP port the grader chose) and `{socket}` (a Unix
//! socket path in that directory). The address is also in the environment,
//! as `PORT` or `SOCKET`. A server's command without `{file}` gets the file
//! as its last argument, as the book's `node net-watcher.js target.txt`
//! does. The program runs in its submission's folder, if it has one.
//!
//! A command with no address placeholder may still read `PORT` (or
//! `SOCKET`), or it may listen where the book does: port 60300, or
//! `/tmp/watcher.sock`. The first start finds out which, by waiting on
//! both; it runs where the book's address cannot be anybody else's (see
//! `isolation`), and so does every later start of a program that ignores
//! `PORT`.
//!
//! Readiness is a connection: the grader connects until the program takes
//! one, and reads its first line. That connection is not thrown away: it
//! is the behaviour's first subscriber ([`Server::first`]), so that no
//! program meets a subscriber that no report mentions. The first start
//! also learns whether the program greets at all; if not, later
//! subscribers wait for a greeting only briefly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::isolation;
use super::net::{Address, Transport, free_port};
use super::process::{Process, TERM_PATIENCE, TermAnswers};
use super::reaper;
use super::subscriber::{Silence, Subscriber};
use super::verdict::{Failure, Stop};
use super::{Role, Settings};
use crate::lock::{lock, wait_while};

/// What the watched file holds when a server starts.
pub const FIRST_CONTENT: &str = "The first line.\n";

/// The beginning of the name of every directory the grader makes.
pub const RUN_PREFIX: &str = "net-watcher-grade-";

/// The environment variable every program under test is given, naming its
/// grading's temporary directory: how the specs (or a teacher) find a
/// program that a grading left running.
pub const RUN_VARIABLE: &str = "NET_WATCHER_GRADE_RUN";

/// How the command learns its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// It has a `{port}` or `{socket}` placeholder.
    Placeholder,
    /// It may read `PORT`/`SOCKET`, or listen on the book's address: the
    /// first start finds out.
    Unknown,
    /// It reads `PORT`/`SOCKET`.
    Environment,
    /// It listens on the book's address whatever it is told.
    BooksAddress,
}

/// Where a start must run for its verdict not to depend on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Anywhere: the program listens where the grader tells it.
    Nothing,
    /// In a network namespace of its own (see `isolation`).
    PrivateNetwork,
    /// Holding the book's address's lock (see `isolation`).
    BooksAddress,
}

/// The program under test: a command line, its role and folder, and what
/// the grader has learned about it.
#[derive(Debug)]
pub struct Subject {
    command: Vec<String>,
    role: Role,
    settings: Settings,
    dir: Option<PathBuf>,
    /// The grading's own temporary directory, where every start gets a
    /// directory of its own; removed when the subject is dropped.
    run: Result<TempDir, String>,
    placement: Mutex<Placement>,
    first_start: Mutex<FirstStart>,
    first_start_known: Condvar,
    /// Whether the program sends a line as soon as a subscriber connects
    /// (a greeting, usually); learned on the first start.
    speaks_first: Mutex<Option<bool>>,
    term_answers: Arc<TermAnswers>,
}

/// What the first start of the program has shown so far.
#[derive(Debug, Clone, Copy, Default)]
struct FirstStart {
    /// A server listened (and its first line, if any, was read), or a
    /// client connected.
    reached: bool,
    /// The first behaviour is over, whether it reached the program or not.
    over: bool,
}

impl Subject {
    /// A subject that runs `command` (its words, placeholders included) in
    /// `role`. A single word with spaces in it is run by `sh -c`, so a
    /// whole command line can be given as one argument.
    pub fn new(command: Vec<String>, role: Role, settings: Settings) -> Self {
        let placement = if command
            .iter()
            .any(|word| word.contains(role.transport().placeholder()))
        {
            Placement::Placeholder
        } else {
            Placement::Unknown
        };
        let run = tempfile::Builder::new()
            .prefix(RUN_PREFIX)
            .tempdir_in(&settings.temp_root)
            .map_err(|error| error.to_string());
        if let Ok(run) = &run {
            reaper::keep_dir(run.path());
        }
        Subject {
            command,
            role,
            settings,
            dir: None,
            run,
            placement: Mutex::new(placement),
            first_start: Mutex::default(),
            first_start_known: Condvar::new(),
            speaks_first: Mutex::new(None),
            term_answers: Arc::default(),
        }
    }

    /// The same subject, run in folder `dir` (a student's submission).
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The command as it was given.
    pub fn command_line(&self) -> String {
        self.command.join(" ")
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The grader's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The grading's temporary directory, where every start gets one of
    /// its own.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run.as_ref().ok().map(TempDir::path)
    }

    /// Where the next start must run (see [`Needs`]).
    pub fn needs(&self) -> Needs {
        match *lock(&self.placement) {
            Placement::Placeholder | Placement::Environment => Needs::Nothing,
            Placement::Unknown | Placement::BooksAddress => {
                if self.role.transport() == Transport::Tcp
                    && self.settings.isolate
                    && isolation::private_networks_work()
                {
                    Needs::PrivateNetwork
                } else {
                    Needs::BooksAddress
                }
            }
        }
    }

    /// Whether the program has been reached at least once: a server
    /// listened, or a client connected.
    pub fn was_reached(&self) -> bool {
        lock(&self.first_start).reached
    }

    /// Notes that the program was reached. For a server, where it listens
    /// and whether it greets are noted first, so that whoever is woken by
    /// this knows them too.
    pub fn mark_reached(&self) {
        lock(&self.first_start).reached = true;
        self.first_start_known.notify_all();
    }

    /// Notes that the first behaviour is over: whoever waits in
    /// [`Subject::wait_for_first_start`] hears it, reached or not.
    pub fn mark_first_behaviour_over(&self) {
        lock(&self.first_start).over = true;
        self.first_start_known.notify_all();
    }

    /// Waits until the program has been reached, or the first behaviour
    /// is over without reaching it; returns whether it was reached.
    pub fn wait_for_first_start(&self) -> bool {
        wait_while(&self.first_start_known, lock(&self.first_start), |first| {
            !first.reached && !first.over
        })
        .reached
    }

    /// Whether the first behaviour is over, or the program was reached:
    /// whether the others may start.
    pub fn first_start_is_known(&self) -> bool {
        let first = lock(&self.first_start);
        first.reached || first.over
    }

    /// What the grader noticed about the program as a whole, for its
    /// report.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if *lock(&self.placement) == Placement::BooksAddress {
            let address = self.role.transport().books_address();
            let variable = self.role.transport().variable();
            let how = match self.needs() {
                Needs::PrivateNetwork => "in a network namespace of its own, where nothing else holds it, so that its verdicts do not depend on what else runs on this machine".to_owned(),
                _ => format!("one server at a time, while no other grading used {address}"),
            };
            notes.push(format!(
                "This program ignores {variable} and listens on {address}, the book's address: the grader ran it {how}."
            ));
        }
        if let Some(asked) = self.term_answers.always_ignored() {
            let times = match asked {
                1 => "the one time".to_owned(),
                _ => format!("each of the {asked} times"),
            };
            notes.push(format!(
                "This program ignored SIGTERM: {times} the grader asked it to stop, it had to kill it (SIGKILL) {} s later. A server should end when it is asked to.",
                TERM_PATIENCE.as_secs_f64()
            ));
        }
        notes
    }

    /// How long a new subscriber waits for a greeting: the patience, until
    /// the program has been seen not to greet.
    pub fn greeting_wait(&self) -> Duration {
        match *lock(&self.speaks_first) {
            Some(false) => self.settings.quiet,
            _ => self.settings.patience,
        }
    }

    /// Whether the program is known to send a line when a subscriber
    /// connects.
    pub fn greets(&self) -> bool {
        *lock(&self.speaks_first) == Some(true)
    }

    /// A fresh directory holding `target.txt`, and an address of its own.
    pub fn prepare(&self) -> Result<Scene, Failure> {
        let run = self.run.as_ref().map_err(|error| {
            Failure::new(
                "the grader to make a temporary directory",
                format!("it could not: {error}"),
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("start-")
            .tempdir_in(run.path())
            .map_err(|error| grader_trouble("a temporary directory", &error))?;
        let file = dir.path().join("target.txt");
        std::fs::write(&file, FIRST_CONTENT)
            .map_err(|error| grader_trouble("the file to watch", &error))?;
        let address = match self.role.transport() {
            Transport::Tcp => Address::Tcp(free_port()),
            Transport::Unix => Address::Unix(dir.path().join("watcher.sock")),
        };
        Ok(Scene { dir, file, address })
    }

    /// Starts the program for a fresh file and waits until it listens.
    pub fn start(&self) -> Result<Server, Stop> {
        let scene = self.prepare()?;
        let file = scene.file.clone();
        self.start_in(scene, &file)
    }

    /// Starts the program in `scene`, telling it to watch `file` (which
    /// need not exist), and waits until it listens.
    pub fn start_in(&self, mut scene: Scene, file: &Path) -> Result<Server, Stop> {
        let mut ports_lost = 0;
        loop {
            let books_taken = self.books_address_taken()?;
            let mut process = self.spawn(file, &scene.address)?;
            match self.wait_until_listening(&mut process, &scene.address, file, books_taken) {
                Ok(ready) => {
                    return Ok(Server {
                        process,
                        address: ready.address,
                        file: file.to_path_buf(),
                        first: Some((ready.subscriber, ready.first_line)),
                        scene,
                    });
                }
                // The port was free when the grader chose it; another
                // program may have taken it since. Another port will do.
                Err(_) if ports_lost < 3 && self.lost_its_port(&mut process, &scene.address) => {
                    ports_lost += 1;
                    scene.address = Address::Tcp(free_port());
                }
                Err(stop) => return Err(stop),
            }
        }
    }

    /// Whether something other than this program answers on the book's
    /// address now, when the program may want it: then a program that
    /// ignores `PORT` cannot be run here, and the start is not run (a
    /// fact about the machine, not about the program). `Ok(true)` for a
    /// program whose placement is still unknown: the first start then
    /// waits only on the address it gave.
    fn books_address_taken(&self) -> Result<bool, Stop> {
        let placement = *lock(&self.placement);
        if !matches!(placement, Placement::Unknown | Placement::BooksAddress) {
            return Ok(false);
        }
        let books = self.role.transport().books_address();
        if !books.is_answering() {
            return Ok(false);
        }
        if placement == Placement::Unknown {
            return Ok(true);
        }
        Err(Stop::NotRun(taken_reason(&books, self.role.transport())))
    }

    /// Whether `process` exited because another program had taken the TCP
    /// port the grader chose for it at `address`: it says so ("address
    /// already in use", in every language's words). Not for the book's
    /// port, which the grader did not choose.
    fn lost_its_port(&self, process: &mut Process, address: &Address) -> bool {
        let chosen =
            matches!(address, Address::Tcp(_)) && *lock(&self.placement) != Placement::BooksAddress;
        chosen && process.exited().is_some() && says_in_use(process)
    }

    /// Starts the program, telling it to watch `file` and to listen at
    /// `address`; does not wait for anything.
    pub fn spawn(&self, file: &Path, address: &Address) -> Result<Process, Failure> {
        let file = file.to_string_lossy();
        let (port, socket) = match address {
            Address::Tcp(port) => (port.to_string(), String::new()),
            Address::Unix(path) => (String::new(), path.to_string_lossy().into_owned()),
        };
        let fill = |word: &str| {
            word.replace("{file}", &file)
                .replace("{port}", &port)
                .replace("{socket}", &socket)
        };
        let names_the_file = self.command.iter().any(|word| word.contains("{file}"));
        let add_the_file = !names_the_file && matches!(self.role, Role::Server { .. });
        let one_line = match self.command.as_slice() {
            [line] if line.contains(char::is_whitespace) => Some(line),
            _ => None,
        };
        let mut command = if let Some(line) = one_line {
            let mut line = fill(line);
            if add_the_file {
                // In single quotes, where the shell takes every character
                // as it is but a single quote, which ends them: each is
                // closed, escaped and opened again.
                line.push_str(&format!(" '{}'", file.replace('\'', r"'\''")));
            }
            let mut command = Command::new("sh");
            command.arg("-c").arg(line);
            command
        } else {
            let mut words = self.command.iter().map(|word| fill(word));
            let program = words.next().unwrap_or_default();
            let mut command = Command::new(program);
            command.args(words);
            if add_the_file {
                command.arg(file.as_ref());
            }
            command
        };
        match address {
            Address::Tcp(port) => command.env("PORT", port.to_string()),
            Address::Unix(path) => command.env("SOCKET", path),
        };
        // Dates in a client's output come out the same on every machine.
        command.env("TZ", "UTC");
        if let Some(run) = self.run_dir() {
            command.env(RUN_VARIABLE, run);
        }
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        Process::spawn(command, self.command_line(), Arc::clone(&self.term_answers))
    }

    /// Where a server started in a scene for `address` will listen, as far
    /// as the grader knows: the book's address once the program has shown
    /// that it listens there whatever it is told.
    pub fn expected_address(&self, address: &Address) -> Address {
        match *lock(&self.placement) {
            Placement::BooksAddress => self.role.transport().books_address(),
            _ => address.clone(),
        }
    }

    /// Notes where a client connected: to the address it was given, or to
    /// the book's.
    pub fn mark_connected_to(&self, books: bool) {
        let mut placement = lock(&self.placement);
        if *placement == Placement::Unknown {
            *placement = if books {
                Placement::BooksAddress
            } else {
                Placement::Environment
            };
        }
        drop(placement);
        self.mark_reached();
    }

    /// Waits until the program takes a connection at `address` (or, for a
    /// command that may not read `PORT`, at the book's address, unless
    /// `books_taken` says something else is there), within the start
    /// timeout, and reads its first line. Returns where it listens, and
    /// the connection.
    pub fn wait_until_listening(
        &self,
        process: &mut Process,
        address: &Address,
        file: &Path,
        books_taken: bool,
    ) -> Result<Ready, Stop> {
        let placement = *lock(&self.placement);
        let books = self.role.transport().books_address();
        let mut candidates = vec![match placement {
            Placement::BooksAddress => books.clone(),
            _ => address.clone(),
        }];
        if placement == Placement::Unknown && !books_taken {
            candidates.push(books.clone());
        }
        let timeout = self.settings.start_timeout;
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            if let Some(ready) = candidates
                .iter()
                .find_map(|candidate| self.try_connection(candidate, file))
            {
                if placement == Placement::Unknown {
                    *lock(&self.placement) = if ready.address == books {
                        Placement::BooksAddress
                    } else {
                        Placement::Environment
                    };
                }
                lock(&self.speaks_first).get_or_insert(ready.first_line.is_ok());
                self.mark_reached();
                return Ok(ready);
            }
            let expected = format!(
                "it to start listening on {} within {} s",
                candidates[0],
                timeout.as_secs_f64()
            );
            let exited = process.exited();
            if exited.is_some() || started.elapsed() >= timeout {
                if books_taken && says_in_use(process) {
                    return Err(Stop::NotRun(taken_reason(&books, self.role.transport())));
                }
                let got = match exited {
                    Some(status) => format!("it exited ({status}) before it listened"),
                    None => format!(
                        "it did not start listening within {} s",
                        timeout.as_secs_f64()
                    ),
                };
                let note = if books_taken {
                    format!(
                        " (something else listens on {books}, so the grader could not see \
                         whether this program listens there: stop it, or put the address's \
                         placeholder in the command)"
                    )
                } else {
                    String::new()
                };
                return Err(
                    Failure::new(expected, format!("{got}{note}{}", process.output())).into(),
                );
            }
            // No portable way exists to be told when another program starts
            // listening; asking again, a little less often each time, is
            // the signal.
            thread::sleep(pause);
            pause = next_pause(pause);
        }
    }

    /// A connection to `candidate`, if the program takes one there, with
    /// its first line read (for a server: a service's first bytes are its
    /// behaviours' to read).
    fn try_connection(&self, candidate: &Address, file: &Path) -> Option<Ready> {
        let stream = candidate.connect().ok()?;
        let mut subscriber = Subscriber::new(stream, self.settings.patience);
        let first_line = match self.role {
            Role::Server { .. } => subscriber.next_within(self.greeting_wait()),
            _ => Err(Silence::Nothing {
                waited: Duration::ZERO,
                partial: String::new(),
            }),
        };
        match &first_line {
            // Reset before a byte came: what a program that listens on
            // the port for an instant (to see whether it is free) does to
            // a connection it never accepts. Not yet the program.
            Err(Silence::Failed(_)) => return None,
            // The greeting of a server that another grader started on a
            // port both chose: not this program.
            Ok(line) if names_another_graders_file(line, file) => return None,
            _ => {}
        }
        Some(Ready {
            address: candidate.clone(),
            subscriber,
            first_line,
        })
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        if let Ok(run) = &self.run {
            reaper::forget_dir(run.path());
        }
    }
}

/// The first pause between two looks at a program that has not listened
/// yet (see [`next_pause`]).
pub(super) const FIRST_PAUSE: Duration = Duration::from_millis(5);

/// The pause after `pause` between two looks at a program that has not
/// listened yet: twice as long, up to 50 ms, so that a quick program is
/// seen at once and a slow one is not asked a hundred times a second.
pub(super) fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(Duration::from_millis(50))
}

/// Why a program that listens on the book's address cannot be run while
/// something else holds it.
fn taken_reason(books: &Address, transport: Transport) -> String {
    format!(
        "this program ignores {} and wants {books}, the book's address, which another program on this machine holds; stop that program (or give this one its address through {} or a placeholder) and grade again",
        transport.variable(),
        transport.variable()
    )
}

/// Whether `process` said that its address was in use, in any language's
/// words.
fn says_in_use(process: &Process) -> bool {
    [process.stderr(), process.stdout()]
        .iter()
        .any(|said| names_an_address_in_use(said))
}

/// Whether `said` tells of an address in use, in any language's words
/// (Node's `EADDRINUSE`, Python's "Address already in use", ours).
pub(super) fn names_an_address_in_use(said: &str) -> bool {
    let lowered = said.to_lowercase();
    lowered.contains("in use") || lowered.contains("eaddrinuse")
}

/// Whether `line` names a file in another grader's directory than
/// `file`'s: it is then the greeting of a server that another grader
/// started on a port that both chose (the grader makes sure no other of
/// its own version does), and the program under test has not listened yet.
fn names_another_graders_file(line: &str, file: &Path) -> bool {
    let ours = file
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|dir| dir.to_string_lossy().into_owned());
    line.contains(RUN_PREFIX) && !ours.is_some_and(|dir| line.contains(&dir))
}

/// A failure of the grader's own surroundings, not of the program.
pub fn grader_trouble(what: &str, error: &std::io::Error) -> Failure {
    Failure::new(
        format!("the grader to prepare {what}"),
        format!("it could not: {error}"),
    )
}

/// A program that has taken a connection: where, the connection, and the
/// first line it sent on it (or why none came).
#[derive(Debug)]
pub struct Ready {
    /// Where it listens.
    pub address: Address,
    /// The connection.
    pub subscriber: Subscriber,
    /// Its first line, or why none came within the wait.
    pub first_line: Result<String, Silence>,
}

/// A temporary directory with the file to watch, and an address.
#[derive(Debug)]
pub struct Scene {
    dir: TempDir,
    /// The file a server watches.
    pub file: PathBuf,
    /// Where it is told to listen.
    pub address: Address,
}

impl Scene {
    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A server under test that is listening.
#[derive(Debug)]
pub struct Server {
    /// The running program.
    pub process: Process,
    /// Where it listens.
    pub address: Address,
    /// The file it was told to watch.
    pub file: PathBuf,
    /// The connection the grader made to see that it listens, and the
    /// first line it sent there: subscriber 1, until a behaviour takes it.
    first: Option<(Subscriber, Result<String, Silence>)>,
    scene: Scene,
}

impl Server {
    /// The temporary directory it runs in.
    pub fn dir(&self) -> &Path {
        self.scene.dir()
    }

    /// The grader's first connection and the first line it got (or why
    /// none came), once: later calls connect anew.
    pub fn first(
        &mut self,
        subject: &Subject,
    ) -> Result<(Subscriber, Result<String, Silence>), Failure> {
        match self.first.take() {
            Some(first) => Ok(first),
            None => {
                let mut subscriber = self.connect(subject.settings().patience)?;
                let line = subscriber.next_within(subject.greeting_wait());
                Ok((subscriber, line))
            }
        }
    }

    /// Connects a subscriber, without reading anything.
    pub fn connect(&mut self, patience: Duration) -> Result<Subscriber, Failure> {
        match self.address.connect() {
            Ok(stream) => Ok(Subscriber::new(stream, patience)),
            Err(error) => Err(self.connection_failure(&error)),
        }
    }

    /// The failure of a subscriber's connection that ended in `error`:
    /// the server's, whether it has exited (then how is said too) or runs
    /// on and no longer listens.
    pub fn connection_failure(&mut self, error: &std::io::Error) -> Failure {
        Failure::new(
            format!("the server to accept a subscriber on {}", self.address),
            format!("the connection failed: {error}{}", self.exit_note()),
        )
    }

    /// A note on how it exited, if it has: empty while it runs. Called as
    /// a failure is written, when a connection may have closed because the
    /// server is exiting: the OS closes a dying program's sockets before
    /// its parent can see it exit, so this gives it a moment to finish.
    pub fn exit_note(&mut self) -> String {
        self.exit_note_within(Duration::from_millis(500))
    }

    /// [`Server::exit_note`], giving the server `moment` to finish exiting.
    fn exit_note_within(&mut self, moment: Duration) -> String {
        match self.process.wait_for_exit(moment) {
            Some(status) => format!(
                "; the server had exited ({status}){}",
                self.process.output()
            ),
            None => String::new(),
        }
    }

    /// [`Server::exit_note`] for a connection the server closed or reset:
    /// if it has not exited, says so, with what it has said so far (a
    /// server that closes a subscriber on purpose, or a thread of it that
    /// died, is told apart from one that crashed).
    pub fn closed_note(&mut self) -> String {
        // Longer than for a silence: "still running" must not be said of a
        // server that is dying, slowly, on a loaded machine (a closed
        // connection from a correct program was seen once in the suite,
        // under a load average of 20, with no exit seen within 500 ms).
        match self.exit_note_within(Duration::from_secs(2)) {
            note if note.is_empty() => {
                format!("; the server was still running{}", self.process.output())
            }
            note => note,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.stop();
        // A server stopped by a signal leaves its socket file behind. On
        // the book's socket path, not in a temporary directory of its own,
        // the next one could then not start; in a temporary directory, the
        // file goes with the directory anyway.
        if let Address::Unix(path) = &self.address {
            remove_if_stale(path);
        }
    }
}

/// Removes the socket file at `path` if it is one and nothing answers on
/// it: what a killed server left behind.
pub(super) fn remove_if_stale(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket());
    if is_socket && !Address::Unix(path.to_path_buf()).is_answering() {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    fn text_server() -> Role {
        Role::Server {
            protocol: Protocol::Text,
            transport: Transport::Tcp,
        }
    }

    #[test]
    fn a_greeting_from_another_graders_directory_is_not_this_programs() {
        let ours = Path::new("/tmp/net-watcher-grade-Ab12/start-Xy/target.txt");
        assert!(!names_another_graders_file(
            "Now watching \"/tmp/net-watcher-grade-Ab12/start-Xy/target.txt\" for changes...",
            ours
        ));
        assert!(names_another_graders_file(
            "Now watching \"/tmp/net-watcher-grade-Cd34/start-Zz/target.txt\" for changes...",
            ours
        ));
        assert!(!names_another_graders_file(
            "Now watching \"target.txt\" for changes...",
            ours
        ));
    }

    #[test]
    fn a_placeholder_gives_each_start_its_own_address() {
        let settings = Settings::default();
        let with = Subject::new(
            vec!["x".into(), "{port}".into()],
            text_server(),
            settings.clone(),
        );
        assert_eq!(with.needs(), Needs::Nothing);
        let unix = Subject::new(
            vec!["x".into(), "{port}".into()],
            Role::Server {
                protocol: Protocol::Text,
                transport: Transport::Unix,
            },
            settings.clone(),
        );
        assert_ne!(
            unix.needs(),
            Needs::Nothing,
            "{{port}} is not a Unix socket's placeholder"
        );
        let without = Subject::new(
            vec!["x".into()],
            text_server(),
            Settings {
                isolate: false,
                ..settings
            },
        );
        assert_eq!(without.needs(), Needs::BooksAddress);
    }

    #[test]
    fn a_program_that_ignores_port_runs_apart_where_the_machine_allows() {
        let subject = Subject::new(vec!["x".into()], text_server(), Settings::default());
        let expected = if isolation::private_networks_work() {
            Needs::PrivateNetwork
        } else {
            Needs::BooksAddress
        };
        assert_eq!(subject.needs(), expected);
        subject.mark_connected_to(false);
        assert_eq!(subject.needs(), Needs::Nothing);
        assert!(subject.was_reached());
    }

    #[test]
    fn a_client_that_connects_to_the_books_port_is_noted() {
        let client = Subject::new(
            vec!["x".into()],
            Role::Client {
                transport: Transport::Tcp,
            },
            Settings::default(),
        );
        client.mark_connected_to(true);
        assert_eq!(
            client.expected_address(&Address::Tcp(5)),
            Address::Tcp(60300)
        );
        assert!(
            client.notes()[0].starts_with("This program ignores PORT and listens on port 60300")
        );
        client.mark_connected_to(false);
        assert_eq!(
            client.expected_address(&Address::Tcp(5)),
            Address::Tcp(60300),
            "learned once"
        );
    }

    #[test]
    fn the_first_start_is_known_when_reached_or_over() {
        let subject = Subject::new(vec!["x".into()], text_server(), Settings::default());
        assert!(!subject.first_start_is_known());
        subject.mark_first_behaviour_over();
        assert!(subject.first_start_is_known());
        assert!(!subject.wait_for_first_start());
        let reached = Subject::new(vec!["x".into()], text_server(), Settings::default());
        reached.mark_reached();
        assert!(reached.first_start_is_known());
        assert!(reached.wait_for_first_start());
    }

    #[test]
    fn a_program_that_does_not_greet_is_waited_for_briefly_after_the_first_time() {
        let settings = Settings::default();
        let subject = Subject::new(vec!["x".into()], text_server(), settings.clone());
        assert_eq!(subject.greeting_wait(), settings.patience);
        assert!(!subject.greets());
        *lock(&subject.speaks_first) = Some(false);
        assert_eq!(subject.greeting_wait(), settings.quiet);
        *lock(&subject.speaks_first) = Some(true);
        assert_eq!(subject.greeting_wait(), settings.patience);
        assert!(subject.greets());
    }

    #[test]
    fn the_grading_directory_is_removed_with_the_subject() {
        let root = tempfile::tempdir().unwrap();
        let settings = Settings {
            temp_root: root.path().to_path_buf(),
            ..Settings::default()
        };
        let subject = Subject::new(vec!["x".into()], text_server(), settings);
        let run = subject.run_dir().unwrap().to_path_buf();
        assert!(run.starts_with(root.path()));
        let scene = subject.prepare().unwrap();
        assert!(scene.file.starts_with(&run));
        assert_eq!(std::fs::read_to_string(&scene.file).unwrap(), FIRST_CONTENT);
        assert!(
            reaper::is_kept(&run),
            "removed if the grading is interrupted"
        );
        drop(scene);
        drop(subject);
        assert!(!run.exists());
        // Forgotten too, or a folder's grading would keep a path for each
        // of its submissions until it ends.
        assert!(!reaper::is_kept(&run));
    }

    #[test]
    fn a_missing_temporary_root_is_the_graders_trouble() {
        let settings = Settings {
            temp_root: PathBuf::from("/no/such/root"),
            ..Settings::default()
        };
        let subject = Subject::new(vec!["x".into()], text_server(), settings);
        let failure = subject.prepare().unwrap_err();
        assert_eq!(failure.expected, "the grader to make a temporary directory");
        assert!(subject.run_dir().is_none());
    }

    #[test]
    fn a_wait_for_the_first_start_lasts_until_it_is_known() {
        for reached in [true, false] {
            let subject = &Subject::new(vec!["x".into()], text_server(), Settings::default());
            let (returned, told) = std::sync::mpsc::channel::<()>();
            // Taken before the news's thread starts its 50 ms, so that the
            // wait measured cannot be shorter than they are.
            let started = Instant::now();
            thread::scope(|scope| {
                scope.spawn(move || {
                    // The news comes late on purpose: a wait that ends at
                    // once is the mistake this test is for.
                    thread::sleep(Duration::from_millis(50));
                    if reached {
                        subject.mark_reached();
                    } else {
                        subject.mark_first_behaviour_over();
                    }
                    // A wait that does not end there is ended by the other
                    // news, late, so that the test fails rather than hangs.
                    if told.recv_timeout(Duration::from_secs(2)).is_err() {
                        subject.mark_reached();
                        subject.mark_first_behaviour_over();
                    }
                });
                assert_eq!(subject.wait_for_first_start(), reached);
                let waited = started.elapsed();
                returned.send(()).unwrap();
                assert!(waited >= Duration::from_millis(50), "{waited:?}");
                assert!(waited < Duration::from_secs(1), "{waited:?}");
            });
        }
    }

    #[test]
    fn a_program_on_a_unix_socket_without_its_placeholder_takes_the_books_lock() {
        let unix = Subject::new(
            vec!["x".into()],
            Role::Server {
                protocol: Protocol::Text,
                transport: Transport::Unix,
            },
            Settings::default(),
        );
        assert_eq!(unix.needs(), Needs::BooksAddress);
        assert_eq!(unix.role().transport(), Transport::Unix);
        assert_eq!(unix.command_line(), "x");
    }

    #[test]
    fn a_program_that_ignores_port_is_noted_with_how_it_was_run() {
        let locked = Subject::new(
            vec!["x".into()],
            text_server(),
            Settings {
                isolate: false,
                ..Settings::default()
            },
        );
        assert!(locked.notes().is_empty());
        locked.mark_connected_to(true);
        assert_eq!(
            locked.notes(),
            [
                "This program ignores PORT and listens on port 60300, the book's address: the grader ran it one server at a time, while no other grading used port 60300."
            ]
        );
        if isolation::private_networks_work() {
            let apart = Subject::new(vec!["x".into()], text_server(), Settings::default());
            apart.mark_connected_to(true);
            assert_eq!(
                apart.notes(),
                [
                    "This program ignores PORT and listens on port 60300, the book's address: the grader ran it in a network namespace of its own, where nothing else holds it, so that its verdicts do not depend on what else runs on this machine."
                ]
            );
        }
        locked.term_answers.answered(true);
        assert_eq!(
            locked.notes()[1],
            "This program ignored SIGTERM: the one time the grader asked it to stop, it had to kill it (SIGKILL) 1 s later. A server should end when it is asked to."
        );
        locked.term_answers.answered(true);
        assert_eq!(
            locked.notes()[1],
            "This program ignored SIGTERM: each of the 2 times the grader asked it to stop, it had to kill it (SIGKILL) 1 s later. A server should end when it is asked to."
        );
        // Once slow on a loaded machine is not ignoring it.
        locked.term_answers.answered(false);
        assert_eq!(locked.notes().len(), 1, "{:?}", locked.notes());
    }

    #[test]
    fn a_stale_socket_file_is_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let live = dir.path().join("live.sock");
        let _listening = std::os::unix::net::UnixListener::bind(&live).unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "x").unwrap();
        for path in [&stale, &live, &plain] {
            remove_if_stale(path);
        }
        assert!(!stale.exists());
        assert!(live.exists());
        assert!(plain.exists());
    }

    /// A server in Python, told what to do by its second argument: greet
    /// each subscriber with the book's line (`greets`), say nothing
    /// (`silent`), listen on the book's port whatever `PORT` says
    /// (`books`), reset its first connection before greeting the others
    /// (`resets-first`), or greet its first one as a server of another
    /// grader's would (`another-graders-first`).
    const A_SERVER: &str = r#"
import os, socket, struct, sys
file, mode = sys.argv[1], sys.argv[2]
port = 60300 if mode == "books" else int(os.environ["PORT"])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen()
print("listening", flush=True)
kept = []
while True:
    connection, _ = server.accept()
    if mode == "resets-first" and not kept:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
        kept.append(None)
        continue
    if mode == "another-graders-first" and not kept:
        connection.sendall(b'Now watching "/tmp/net-watcher-grade-Other/start-x/target.txt" for changes...\n')
    elif mode != "silent":
        connection.sendall(('Now watching "%s" for changes...\n' % file).encode())
    kept.append(connection)
"#;

    /// A server subject running [`A_SERVER`] in `mode`, with the port's
    /// placeholder or not.
    fn python_server(mode: &str, placeholder: bool, settings: Settings) -> Subject {
        let mut words: Vec<String> = vec!["python3".into(), "-c".into(), A_SERVER.into()];
        words.extend(["{file}".into(), mode.into()]);
        let subject = Subject::new(words, text_server(), settings);
        if placeholder {
            *lock(&subject.placement) = Placement::Placeholder;
        }
        subject
    }

    fn settings_in(root: &TempDir) -> Settings {
        Settings {
            temp_root: root.path().to_path_buf(),
            ..Settings::default()
        }
    }

    /// The greeting [`A_SERVER`] sends to the grader of `server`.
    fn greeting_of(server: &Server) -> String {
        format!("Now watching \"{}\" for changes...", server.file.display())
    }

    #[test]
    fn a_program_that_reads_port_is_found_where_it_was_told_and_greets() {
        isolation::in_a_network_of_its_own(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = python_server("greets", false, settings_in(&root));
            let mut server = subject.start().unwrap();
            assert_ne!(server.address, Address::Tcp(60300));
            assert!(subject.was_reached());
            assert!(subject.greets());
            assert_eq!(subject.needs(), Needs::Nothing);
            assert!(subject.notes().is_empty());
            let (_, line) = server.first(&subject).unwrap();
            assert_eq!(line.unwrap(), greeting_of(&server));
            // Later calls connect anew, and are greeted too.
            let (_, again) = server.first(&subject).unwrap();
            assert_eq!(again.unwrap(), greeting_of(&server));
            assert!(server.dir().starts_with(subject.run_dir().unwrap()));
            assert!(server.file.starts_with(server.dir()));
        });
    }

    #[test]
    fn a_program_that_does_not_greet_is_waited_for_briefly_after_the_first_start() {
        let root = tempfile::tempdir().unwrap();
        let settings = Settings {
            quiet: Duration::from_millis(50),
            patience: Duration::from_millis(300),
            ..settings_in(&root)
        };
        let subject = python_server("silent", true, settings);
        let mut server = subject.start().unwrap();
        assert!(!subject.greets());
        assert_eq!(subject.greeting_wait(), Duration::from_millis(50));
        let (_, line) = server.first(&subject).unwrap();
        assert_eq!(
            line,
            Err(Silence::Nothing {
                waited: Duration::from_millis(300),
                partial: String::new()
            })
        );
    }

    #[test]
    fn a_program_that_ignores_port_is_found_on_the_books_address_and_kept_there() {
        isolation::in_a_network_of_its_own(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = python_server("books", false, settings_in(&root));
            let server = subject.start().unwrap();
            assert_eq!(server.address, Address::Tcp(60300));
            assert_eq!(
                subject.expected_address(&Address::Tcp(5)),
                Address::Tcp(60300)
            );
            assert_eq!(subject.notes().len(), 1);
            drop(server);
            // Started again, it is looked for there only.
            let again = subject.start().unwrap();
            assert_eq!(again.address, Address::Tcp(60300));
            drop(again);
            // And while something else holds it, it is not run.
            let _squatter = std::net::TcpListener::bind(("127.0.0.1", 60300)).unwrap();
            let Err(Stop::NotRun(reason)) = subject.start() else {
                panic!("not run, since port 60300 is held");
            };
            assert_eq!(reason, taken_reason(&Address::Tcp(60300), Transport::Tcp));
        });
    }

    #[test]
    fn a_first_start_beside_something_on_the_books_port_looks_only_where_it_told() {
        isolation::in_a_network_of_its_own(|| {
            let root = tempfile::tempdir().unwrap();
            let _squatter = std::net::TcpListener::bind(("127.0.0.1", 60300)).unwrap();
            let reads_port = python_server("greets", false, settings_in(&root));
            let server = reads_port.start().unwrap();
            assert_ne!(server.address, Address::Tcp(60300));
            assert_eq!(reads_port.needs(), Needs::Nothing);
            let ignores_port = python_server("books", false, settings_in(&root));
            let Err(Stop::NotRun(reason)) = ignores_port.start() else {
                panic!("not run, since port 60300 is held");
            };
            assert_eq!(reason, taken_reason(&Address::Tcp(60300), Transport::Tcp));
            let exits = Subject::new(
                vec!["sh".into(), "-c".into(), "echo boom >&2; exit 1".into()],
                text_server(),
                settings_in(&root),
            );
            let Err(Stop::Fail(failure)) = exits.start() else {
                panic!("a failure");
            };
            assert!(
                failure.got.starts_with("it exited (exit status: 1) before it listened (something else listens on port 60300, so the grader could not see whether this program listens there: stop it, or put the address's placeholder in the command); on stderr it said:"),
                "{failure}"
            );
        });
    }

    #[test]
    fn a_program_that_exits_or_never_listens_fails_with_what_it_said() {
        let root = tempfile::tempdir().unwrap();
        let sh = |line: &str, settings: Settings| {
            Subject::new(
                vec!["sh".into(), "-c".into(), format!("{line} # {{port}}")],
                text_server(),
                settings,
            )
        };
        let exits = sh("echo boom >&2; exit 1", settings_in(&root));
        let Err(Stop::Fail(failure)) = exits.start() else {
            panic!("a failure");
        };
        assert!(
            failure
                .expected
                .starts_with("it to start listening on port "),
            "{failure}"
        );
        assert!(failure.expected.ends_with(" within 10 s"), "{failure}");
        assert_eq!(
            failure.got,
            "it exited (exit status: 1) before it listened; on stderr it said:\n  | boom"
        );
        let quick = Settings {
            start_timeout: Duration::from_millis(300),
            ..settings_in(&root)
        };
        let sleeps = sh("echo waiting; exec sleep 30", quick);
        let started = Instant::now();
        let Err(Stop::Fail(failure)) = sleeps.start() else {
            panic!("a failure");
        };
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            failure.got,
            "it did not start listening within 0.3 s; on stdout it said:\n  | waiting"
        );
        assert!(!sleeps.was_reached());
    }

    #[test]
    fn a_port_lost_to_another_program_is_replaced_three_times_at_most() {
        let root = tempfile::tempdir().unwrap();
        // Each start leaves a line in a file of its own (the scene's
        // directory goes with a start that failed).
        let counted = |name: &str, said: &str, placeholder: &str, role: Role| {
            let starts = root.path().join(name);
            let ending = if name == "running" {
                "exec sleep 30"
            } else {
                "exit 1"
            };
            let line = format!(
                "echo start >> '{}'; echo '{said}' >&2; {ending} # {placeholder}",
                starts.display()
            );
            let subject = Subject::new(
                vec!["sh".into(), "-c".into(), line],
                role,
                Settings {
                    start_timeout: Duration::from_millis(500),
                    ..settings_in(&root)
                },
            );
            let stop = subject.start().err();
            let count = std::fs::read_to_string(&starts).unwrap().lines().count();
            (stop, count)
        };
        let in_use = "OSError: [Errno 98] Address already in use";
        let (stop, starts) = counted("tcp", in_use, "{port}", text_server());
        assert_eq!(starts, 4);
        assert!(matches!(stop, Some(Stop::Fail(_))), "{stop:?}");
        let unix = Role::Server {
            protocol: Protocol::Text,
            transport: Transport::Unix,
        };
        assert_eq!(
            counted("unix", in_use, "{socket}", unix).1,
            1,
            "a socket's path is the grader's own"
        );
        assert_eq!(
            counted("other", "it failed", "{port}", text_server()).1,
            1,
            "it did not say its port was taken"
        );
        assert_eq!(
            counted("running", in_use, "{port}", text_server()).1,
            1,
            "it has not exited: its port may not be what it speaks of"
        );
    }

    #[test]
    fn a_connection_reset_before_a_byte_or_another_graders_greeting_is_not_the_program() {
        let root = tempfile::tempdir().unwrap();
        for mode in ["resets-first", "another-graders-first"] {
            let subject = python_server(mode, true, settings_in(&root));
            let mut server = subject.start().unwrap();
            let (_, line) = server.first(&subject).unwrap();
            assert_eq!(line.unwrap(), greeting_of(&server), "{mode}");
        }
    }

    #[test]
    fn a_program_is_started_with_its_placeholders_filled_its_address_and_folder() {
        let root = tempfile::tempdir().unwrap();
        let folder = tempfile::tempdir().unwrap();
        let report = "echo \"$PORT|$SOCKET|$TZ|$NET_WATCHER_GRADE_RUN|$(pwd)|$*\"";
        let words = Subject::new(
            vec![
                "sh".into(),
                "-c".into(),
                report.into(),
                "sh".into(),
                "port={port}".into(),
            ],
            text_server(),
            settings_in(&root),
        )
        .in_dir(folder.path());
        let said = |subject: &Subject, address: &Address| {
            let mut process = subject.spawn(Path::new("/w/t.txt"), address).unwrap();
            process.wait_for_exit(Duration::from_secs(10)).unwrap();
            process.stdout().trim_end().to_owned()
        };
        let run = words.run_dir().unwrap().display().to_string();
        let here = folder.path().display().to_string();
        assert_eq!(
            said(&words, &Address::Tcp(5)),
            format!("5||UTC|{run}|{here}|port=5 /w/t.txt")
        );
        let line = Subject::new(
            vec![format!("{report} --socket {{socket}}")],
            Role::Server {
                protocol: Protocol::Json,
                transport: Transport::Unix,
            },
            settings_in(&root),
        );
        let run = line.run_dir().unwrap().display().to_string();
        let said_by_line = said(&line, &Address::Unix(PathBuf::from("/s/w.sock")));
        assert!(
            said_by_line.starts_with(&format!("|/s/w.sock|UTC|{run}|")),
            "{said_by_line}"
        );
        assert!(
            said_by_line.ends_with("| --socket /s/w.sock /w/t.txt"),
            "{said_by_line}"
        );
        // A file the grader adds to a line reaches the program whole, as
        // one word, whatever its name holds.
        let mut process = line
            .spawn(
                Path::new("/w/it's a \"file\" $HOME.txt"),
                &Address::Unix(PathBuf::from("/s/w.sock")),
            )
            .unwrap();
        process.wait_for_exit(Duration::from_secs(10)).unwrap();
        let said_of_the_name = process.stdout();
        assert!(
            said_of_the_name.ends_with("| --socket /s/w.sock /w/it's a \"file\" $HOME.txt\n"),
            "{said_of_the_name}"
        );
        let client = Subject::new(
            vec![
                "sh".into(),
                "-c".into(),
                report.into(),
                "sh".into(),
                "{file}".into(),
            ],
            Role::Client {
                transport: Transport::Tcp,
            },
            settings_in(&root),
        );
        assert!(
            said(&client, &Address::Tcp(7)).ends_with("|/w/t.txt"),
            "a named file only"
        );
        let no_file = Subject::new(
            vec![
                "sh".into(),
                "-c".into(),
                report.into(),
                "sh".into(),
                "x".into(),
            ],
            Role::Client {
                transport: Transport::Tcp,
            },
            settings_in(&root),
        );
        assert!(
            said(&no_file, &Address::Tcp(7)).ends_with("|x"),
            "a client is not given the file"
        );
    }

    #[test]
    fn a_single_word_is_the_program_itself_so_a_missing_one_is_said_not_to_start() {
        // A student's typo, or a program not built yet: run through the
        // shell, it would start (the shell), say "not found" and exit 127,
        // which reads as a program that exited before it listened.
        let root = tempfile::tempdir().unwrap();
        let subject = Subject::new(
            vec!["no-such-watcher-program".into()],
            text_server(),
            settings_in(&root),
        );
        let scene = subject.prepare().unwrap();
        let failure = subject.spawn(&scene.file, &scene.address).unwrap_err();
        assert_eq!(
            failure.expected,
            "the command `no-such-watcher-program` to start"
        );
        assert!(
            failure.got.starts_with("it could not be started: "),
            "{failure}"
        );
    }

    #[test]
    fn a_server_that_stopped_answering_is_a_failure_with_how_it_exited() {
        let root = tempfile::tempdir().unwrap();
        let subject = python_server("greets", true, settings_in(&root));
        let mut server = subject.start().unwrap();
        server.process.kill();
        let failure = server.connect(Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            failure.expected,
            format!("the server to accept a subscriber on {}", server.address)
        );
        assert!(
            failure.got.starts_with("the connection failed: ")
                && failure
                    .got
                    .contains("; the server had exited (signal: 9 (SIGKILL))"),
            "{failure}"
        );
    }

    /// A plain-text server on a Unix socket: Python's `script`, given
    /// `words` (placeholders and all).
    fn python_unix_server(script: &str, words: &[&str], root: &TempDir) -> Subject {
        let mut command: Vec<String> = vec!["python3".into(), "-c".into(), script.into()];
        command.extend(words.iter().map(|word| (*word).to_owned()));
        let role = Role::Server {
            protocol: Protocol::Text,
            transport: Transport::Unix,
        };
        Subject::new(command, role, settings_in(root))
    }

    #[test]
    fn a_server_on_a_unix_socket_leaves_no_socket_file_behind() {
        let root = tempfile::tempdir().unwrap();
        let script = r#"
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen()
while True:
    server.accept()[0].sendall(b"hello\n")
"#;
        let subject = python_unix_server(script, &["{socket}", "{file}"], &root);
        let server = subject.start().unwrap();
        let Address::Unix(path) = server.address.clone() else {
            panic!("a Unix socket");
        };
        assert!(path.exists());
        drop(server);
        assert!(!path.exists(), "killed, its socket file is removed");
    }

    #[test]
    fn a_server_killed_on_the_books_socket_path_leaves_it_free_for_the_next() {
        // The book's Unix server, ignoring SOCKET: killed, it leaves
        // /tmp/watcher.sock behind, outside any directory of the grader's,
        // and its next start would find the path taken.
        let books = Transport::Unix.books_address();
        let Address::Unix(path) = books.clone() else {
            unreachable!("a Unix socket's address is a path");
        };
        // The path is the machine's: one grading at a time uses it (see
        // `isolation`), so this test waits its turn as a grading does. The
        // lock gives no signal when it is let go; asking again is the one.
        let waiting = Instant::now();
        let _turn = loop {
            if let Some(turn) = isolation::BooksAddressLock::try_take(&books) {
                break turn;
            }
            assert!(
                waiting.elapsed() < Duration::from_secs(60),
                "another grading held {books} for a minute"
            );
            thread::sleep(Duration::from_millis(20));
        };
        if path.exists() {
            eprintln!("SKIPPED: {} is there already", path.display());
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let script = r#"
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind("/tmp/watcher.sock")
server.listen()
while True:
    server.accept()[0].sendall(('Now watching "%s" for changes...\n' % sys.argv[1]).encode())
"#;
        let subject = python_unix_server(script, &["{file}"], &root);
        let server = subject.start().unwrap();
        assert_eq!(server.address, books);
        drop(server);
        let left = path.exists();
        if left {
            // Not to be left for the next grading, whatever this test says.
            let _ = std::fs::remove_file(&path);
        }
        assert!(!left, "the stale {} is removed", path.display());
    }

    #[test]
    fn the_pause_between_looks_doubles_up_to_50_ms() {
        assert_eq!(FIRST_PAUSE, Duration::from_millis(5));
        assert_eq!(next_pause(FIRST_PAUSE), Duration::from_millis(10));
        assert_eq!(
            next_pause(Duration::from_millis(20)),
            Duration::from_millis(40)
        );
        assert_eq!(
            next_pause(Duration::from_millis(40)),
            Duration::from_millis(50)
        );
        assert_eq!(
            next_pause(Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }
}
