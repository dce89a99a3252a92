//! The program under test, and starting it: placeholders, addresses,
//! readiness, and stopping it without leaving anything behind.
//!
//! A command names where things go with placeholders: `{file}` (the
//! watched file, a fresh one in its own temporary directory for every
//! start), `{port}` (a TCP port the grader chose) and `{socket}` (a Unix
//! socket path in that directory). The address is also in the environment,
//! as `PORT` or `SOCKET`. A command without `{file}` gets the file as its
//! last argument, as the book's `node net-watcher.js target.txt` does.
//!
//! A command with no address placeholder may still read `PORT` (or
//! `SOCKET`), or it may listen where the book does: port 60300, or
//! `/tmp/watcher.sock`. The first start finds out which, by waiting on
//! both; on the book's address, servers can only run one at a time.

use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};
use tempfile::TempDir;

use super::subscriber::{Silence, Subscriber};
use super::{Failure, Role, Settings};
use crate::lock::{lock, wait_while};
use crate::server::DEFAULT_PORT;

/// Where the book's step-2 server listens.
pub const DEFAULT_SOCKET: &str = "/tmp/watcher.sock";

/// What the watched file holds when a server starts.
pub const FIRST_CONTENT: &str = "The first line.\n";

/// How much of a program's output is kept for failure reports (its tail).
const KEPT_OUTPUT: usize = 16 * 1024;

/// TCP or a Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP on the loopback interface (steps 1 and 3).
    Tcp,
    /// A Unix socket (step 2).
    Unix,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "TCP",
            Transport::Unix => "a Unix socket",
        })
    }
}

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP port on the loopback interface (127.0.0.1 or ::1).
    Tcp(u16),
    /// A Unix socket's path.
    Unix(PathBuf),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(port) => write!(f, "port {port}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A connected socket of either kind.
#[derive(Debug)]
pub enum Connection {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix socket.
    Unix(UnixStream),
}

impl Address {
    /// Connects to it. Over TCP, tries 127.0.0.1 then ::1, since a program
    /// may listen on either for `localhost`; if neither takes the
    /// connection, the error is the one that says more than "refused".
    pub fn connect(&self) -> io::Result<Connection> {
        match self {
            Address::Tcp(port) => {
                let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, *port));
                match TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT) {
                    Ok(stream) => Ok(Connection::Tcp(stream)),
                    Err(on_v4) => match TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT) {
                        Ok(stream) => Ok(Connection::Tcp(stream)),
                        Err(_) if on_v4.kind() != io::ErrorKind::ConnectionRefused => Err(on_v4),
                        Err(on_v6) => Err(on_v6),
                    },
                }
            }
            Address::Unix(path) => UnixStream::connect(path).map(Connection::Unix),
        }
    }

    /// Whether something accepts connections there now.
    pub fn is_answering(&self) -> bool {
        self.connect().is_ok()
    }

    /// Whether a server answers there now, and if so the first line it
    /// sent. The connection is held until the server has sent its first
    /// line (or closed, or `patience` has passed), as a polite subscriber
    /// would: hanging up at once is a behaviour of its own
    /// (`robustness::survives_hang_ups`), not something to spring on a
    /// server while waiting for it to start.
    pub fn probe(&self, patience: Duration) -> Probe {
        let Ok(connection) = self.connect() else {
            return Probe::Nothing;
        };
        match Subscriber::new(connection, patience).next_line() {
            Ok(line) => Probe::Line(line),
            Err(Silence::Nothing { .. } | Silence::Closed { .. } | Silence::TooLong) => {
                Probe::Silent
            }
            // The connection was reset before a byte came: what a program
            // that listens on the port for an instant (to see whether it
            // is free) does to a connection it never accepts.
            Err(Silence::Failed(_)) => Probe::Reset,
        }
    }
}

/// How long a TCP connection may take: long enough for a lost opening
/// packet to be sent again (after 1 s, on Linux), which a loaded machine
/// may need. Only a server that stops taking connections makes the grader
/// wait this long; one that is not there refuses at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a probe of an address found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Nothing took the connection.
    Nothing,
    /// Something took it, and reset it before sending a byte.
    Reset,
    /// A server sent this first line.
    Line(String),
    /// A server took the connection, and sent no line within the patience
    /// (or closed it).
    Silent,
}

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

/// The program under test: a command line and its role.
#[derive(Debug)]
pub struct Subject {
    command: Vec<String>,
    role: Role,
    settings: Settings,
    placement: Mutex<Placement>,
    first_start: Mutex<FirstStart>,
    first_start_known: Condvar,
}

/// What the first start of the program has shown so far.
#[derive(Debug, Clone, Copy, Default)]
struct FirstStart {
    /// A server listened, or a client connected.
    reached: bool,
    /// The first behaviour is over, whether it reached the program or not.
    over: bool,
}

impl Subject {
    /// A subject that runs `command` (its words, placeholders included) in
    /// `role`. A single word with spaces in it is run by `sh -c`, so a
    /// whole command line can be given as one argument.
    pub fn new(command: Vec<String>, role: Role, settings: Settings) -> Self {
        let placeholder = match role.transport() {
            Transport::Tcp => "{port}",
            Transport::Unix => "{socket}",
        };
        let placement = if command.iter().any(|word| word.contains(placeholder)) {
            Placement::Placeholder
        } else {
            Placement::Unknown
        };
        Subject {
            command,
            role,
            settings,
            placement: Mutex::new(placement),
            first_start: Mutex::default(),
            first_start_known: Condvar::new(),
        }
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

    /// Whether the next start will find out where the program listens.
    pub fn must_find_its_address(&self) -> bool {
        *lock(&self.placement) == Placement::Unknown
    }

    /// Whether each start can have an address of its own, so that several
    /// servers can run at once.
    pub fn has_own_addresses(&self) -> bool {
        matches!(
            *lock(&self.placement),
            Placement::Placeholder | Placement::Environment
        )
    }

    /// Whether the program has been reached at least once: a server
    /// listened, or a client connected.
    pub fn was_reached(&self) -> bool {
        lock(&self.first_start).reached
    }

    /// Notes that the program was reached. For a server, where it listens
    /// is noted first, so that whoever is woken by this knows it too.
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
        let known = wait_while(&self.first_start_known, lock(&self.first_start), |first| {
            !first.reached && !first.over
        });
        known.reached
    }

    /// The book's address for this subject's transport.
    pub fn books_address(&self) -> Address {
        match self.role.transport() {
            Transport::Tcp => Address::Tcp(DEFAULT_PORT),
            Transport::Unix => Address::Unix(PathBuf::from(DEFAULT_SOCKET)),
        }
    }

    /// A fresh directory holding `target.txt`, and an address of its own.
    pub fn prepare(&self) -> Result<Scene, Failure> {
        let dir = tempfile::Builder::new()
            .prefix(SCENE_PREFIX)
            .tempdir()
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
    pub fn start(&self) -> Result<Server, Failure> {
        let scene = self.prepare()?;
        let file = scene.file.clone();
        self.start_in(scene, &file)
    }

    /// Starts the program in `scene`, telling it to watch `file` (which
    /// need not exist), and waits until it listens.
    pub fn start_in(&self, mut scene: Scene, file: &Path) -> Result<Server, Failure> {
        let mut ports_lost = 0;
        loop {
            let mut process = self.spawn(file, &scene.address)?;
            match self.wait_until_listening(&mut process, &scene.address, file) {
                Ok(address) => {
                    return Ok(Server {
                        process,
                        address,
                        file: file.to_path_buf(),
                        scene,
                    });
                }
                // The port was free when the grader chose it; another
                // program may have taken it since. Another port will do.
                Err(_) if ports_lost < 3 && self.lost_its_port(&mut process, &scene.address) => {
                    ports_lost += 1;
                    scene.address = Address::Tcp(free_port());
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// Whether `process` exited because another program had taken the TCP
    /// port the grader chose for it at `address`: it says so ("address
    /// already in use", in every language's words). Not for the book's
    /// port, which the grader did not choose.
    fn lost_its_port(&self, process: &mut Process, address: &Address) -> bool {
        let chosen =
            matches!(address, Address::Tcp(_)) && *lock(&self.placement) != Placement::BooksAddress;
        chosen
            && process.exited().is_some()
            && [process.stderr(), process.stdout()]
                .iter()
                .any(|said| said.to_lowercase().contains("in use"))
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
        let one_line = match self.command.as_slice() {
            [line] if line.contains(char::is_whitespace) => Some(line),
            _ => None,
        };
        let mut command = if let Some(line) = one_line {
            let mut line = fill(line);
            if !names_the_file && matches!(self.role, Role::Server { .. }) {
                line.push_str(&format!(" '{file}'"));
            }
            let mut command = Command::new("sh");
            command.arg("-c").arg(line);
            command
        } else {
            let mut words = self.command.iter().map(|word| fill(word));
            let program = words.next().unwrap_or_default();
            let mut command = Command::new(program);
            command.args(words);
            if !names_the_file && matches!(self.role, Role::Server { .. }) {
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
        // Its own process group, so that stopping it also stops whatever
        // it started (`sh -c`, `npm start`, `cargo run`).
        command.process_group(0);
        Process::spawn(command, self.command_line())
    }

    /// Where a server started in a scene for `address` will listen, as far
    /// as the grader knows: the book's address once the program has shown
    /// that it listens there whatever it is told.
    pub fn expected_address(&self, address: &Address) -> Address {
        match *lock(&self.placement) {
            Placement::BooksAddress => self.books_address(),
            _ => address.clone(),
        }
    }

    /// Waits until the program accepts connections at `address` (or, for a
    /// command that may not read `PORT`, at the book's address), within
    /// the start timeout. Returns where it listens.
    pub fn wait_until_listening(
        &self,
        process: &mut Process,
        address: &Address,
        file: &Path,
    ) -> Result<Address, Failure> {
        let placement = *lock(&self.placement);
        let mut candidates = vec![match placement {
            Placement::BooksAddress => self.books_address(),
            _ => address.clone(),
        }];
        let books = self.books_address();
        // Something already answering on the book's address is not this
        // program: waiting on it would grade the wrong server.
        let books_taken_before = placement == Placement::Unknown && books.is_answering();
        if placement == Placement::Unknown && !books_taken_before {
            candidates.push(books.clone());
        }
        let timeout = self.settings.start_timeout;
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let patience = self.settings.patience;
            let answers = |candidate: &&Address| match candidate.probe(patience) {
                Probe::Line(line) => !names_another_graders_file(&line, file),
                Probe::Silent => true,
                Probe::Nothing | Probe::Reset => false,
            };
            if let Some(found) = candidates.iter().find(answers) {
                if placement == Placement::Unknown {
                    *lock(&self.placement) = if *found == books {
                        Placement::BooksAddress
                    } else {
                        Placement::Environment
                    };
                }
                self.mark_reached();
                return Ok(found.clone());
            }
            let expected = format!(
                "it to start listening on {} within {} s",
                candidates[0],
                timeout.as_secs_f64()
            );
            if let Some(status) = process.exited() {
                return Err(Failure::new(
                    expected,
                    format!(
                        "it exited ({status}) before it listened{}",
                        process.output()
                    ),
                ));
            }
            if started.elapsed() >= timeout {
                let note = if books_taken_before {
                    format!(
                        " (something else already listens on {books}, so the grader could not \
                         tell whether this program does: stop it, or put the address's \
                         placeholder in the command)"
                    )
                } else {
                    String::new()
                };
                return Err(Failure::new(
                    expected,
                    format!(
                        "it did not start listening within {} s{note}{}",
                        timeout.as_secs_f64(),
                        process.output()
                    ),
                ));
            }
            // No portable way exists to be told when another program starts
            // listening; asking again, a little less often each time, is
            // the signal.
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// The beginning of the name of every directory the grader makes.
const SCENE_PREFIX: &str = "net-watcher-grade-";

/// Whether `line` names a file in another grader's directory than
/// `file`'s: it is then the greeting of a server that another grader
/// started on a port that both chose (the grader makes sure no other of
/// its own version does), and the program under test has not listened yet.
fn names_another_graders_file(line: &str, file: &Path) -> bool {
    let ours = file
        .parent()
        .and_then(Path::file_name)
        .map(|dir| dir.to_string_lossy().into_owned());
    line.contains(SCENE_PREFIX) && !ours.is_some_and(|dir| line.contains(&dir))
}

/// A failure of the grader's own surroundings, not of the program.
pub(super) fn grader_trouble(what: &str, error: &io::Error) -> Failure {
    Failure::new(
        format!("the grader to prepare {what}"),
        format!("it could not: {error}"),
    )
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

/// A started program whose output is kept; stopped (with everything it
/// started) when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    command_line: String,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
    /// Whether [`Process::stop`] has run: its group is gone, and its
    /// number may since have been given to someone else's.
    stopped: bool,
}

impl Process {
    fn spawn(mut command: Command, command_line: String) -> Result<Process, Failure> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| {
                Failure::new(
                    format!("the command `{command_line}` to start"),
                    format!("it could not be started: {error}"),
                )
            })?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        // Read on threads, so the program never blocks on a full pipe.
        let readers = vec![
            keep_tail(child.stdout.take(), Arc::clone(&stdout)),
            keep_tail(child.stderr.take(), Arc::clone(&stderr)),
        ];
        Ok(Process {
            child,
            command_line,
            stdout,
            stderr,
            readers,
            status: None,
            stopped: false,
        })
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
            if self.status.is_some() {
                self.finish_reading();
            }
        }
        self.status
    }

    /// Waits (up to a second) for the threads that read its output to
    /// reach the end, so that a failure report shows all it said. A program
    /// it started may still hold its pipes open: then what came so far is
    /// shown.
    fn finish_reading(&mut self) {
        let started = Instant::now();
        while self.readers.iter().any(|reader| !reader.is_finished())
            && started.elapsed() < Duration::from_secs(1)
        {
            // The threads end when the pipes close; polling their state is
            // the signal std offers.
            thread::sleep(Duration::from_millis(2));
        }
        let (finished, running): (Vec<_>, Vec<_>) = self
            .readers
            .drain(..)
            .partition(|reader| reader.is_finished());
        for reader in finished {
            let _ = reader.join();
        }
        self.readers = running;
    }

    /// Waits up to `patience` for it to exit.
    pub fn wait_for_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if started.elapsed() >= patience {
                return None;
            }
            // std has no wait with a timeout; polling is the signal here.
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stdout)).into_owned()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    /// What it said, for a failure report: its error lines on stderr (the
    /// lines that mention an error, not a stack trace's frames), else the
    /// last lines of stderr, else of stdout; empty if it printed nothing.
    pub fn output(&self) -> String {
        let stderr = self.stderr();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        let errors: Vec<&str> = lines
            .iter()
            .filter(|line| {
                line.to_lowercase().contains("error:") && !line.trim_start().starts_with("at ")
            })
            .take(3)
            .copied()
            .collect();
        let stdout = self.stdout();
        let (name, shown): (&str, Vec<&str>) = if !errors.is_empty() {
            ("stderr", errors)
        } else if !lines.is_empty() {
            ("stderr", lines[lines.len().saturating_sub(3)..].to_vec())
        } else {
            let lines: Vec<&str> = stdout
                .lines()
                .filter(|line| !line.trim().is_empty())
                .collect();
            ("stdout", lines[lines.len().saturating_sub(3)..].to_vec())
        };
        if shown.is_empty() {
            return String::new();
        }
        let mut said = format!("; on {name} it said:");
        for line in shown {
            said.push_str(&format!("\n  | {}", line.trim_end()));
        }
        said
    }

    /// Stops it and everything it started: SIGTERM to its process group,
    /// then SIGKILL if it is still there a second later.
    pub fn stop(&mut self) {
        // Once only: `Server`'s drop, `kill` and this value's own drop all
        // come here, and a later signal to the group's old number could
        // reach an unrelated program that has been given it meanwhile.
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.exited().is_none() {
            signal_group(&self.child, libc::SIGTERM);
            if self.wait_for_exit(Duration::from_secs(1)).is_none() {
                signal_group(&self.child, libc::SIGKILL);
                self.status = self.child.wait().ok();
            }
        }
        // What it left running in its group (a child of `sh -c`) goes too.
        signal_group(&self.child, libc::SIGKILL);
        self.finish_reading();
    }

    /// Kills it and everything it started at once, as a crash would end
    /// it: no chance to clean up.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            signal_group(&self.child, libc::SIGKILL);
            self.status = self.child.wait().ok();
        }
        self.stop();
    }

    /// The command line it was started from.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `signal` to the process group `child` leads.
fn signal_group(child: &Child, signal: i32) {
    let group = child.id() as libc::pid_t;
    // SAFETY: `kill` has no memory-safety preconditions. The group is our
    // child's, made with `process_group(0)`. `stop` signals it once, while
    // the child runs or just after reaping it; the number stays the
    // group's while any member lives, and is only free again (and then
    // only rarely given out at once) when none does.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Reads `pipe` to its end on a thread, keeping the last [`KEPT_OUTPUT`]
/// bytes in `sink`.
fn keep_tail(
    pipe: Option<impl Read + Send + 'static>,
    sink: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut chunk = [0u8; 4096];
        while let Ok(read) = pipe.read(&mut chunk) {
            if read == 0 {
                break;
            }
            let mut kept = lock(&sink);
            kept.extend_from_slice(&chunk[..read]);
            if kept.len() > KEPT_OUTPUT {
                let excess = kept.len() - KEPT_OUTPUT;
                kept.drain(..excess);
            }
        }
    })
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
    scene: Scene,
}

impl Server {
    /// The temporary directory it runs in.
    pub fn dir(&self) -> &Path {
        self.scene.dir()
    }

    /// Connects a subscriber, without reading anything.
    pub fn connect(&mut self, patience: Duration) -> Result<Subscriber, Failure> {
        match self.address.connect() {
            Ok(connection) => Ok(Subscriber::new(connection, patience)),
            Err(error) => Err(Failure::new(
                format!("the server to accept a subscriber on {}", self.address),
                format!("the connection failed: {error}{}", self.exit_note()),
            )),
        }
    }

    /// A note on how it exited, if it has: empty while it runs. Called as
    /// a failure is written, when a connection may have closed because the
    /// server is exiting: the OS closes a dying program's sockets before
    /// its parent can see it exit, so this gives it a moment to finish.
    pub fn exit_note(&mut self) -> String {
        match self.process.wait_for_exit(Duration::from_millis(500)) {
            Some(status) => format!(
                "; the server had exited ({status}){}",
                self.process.output()
            ),
            None => String::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.stop();
        // On the book's socket path, not in a temporary directory of its
        // own, a server stopped by a signal leaves its socket file behind,
        // and the next one could not start.
        if self.address == Address::Unix(PathBuf::from(DEFAULT_SOCKET)) {
            if let Address::Unix(path) = &self.address {
                remove_if_stale(path);
            }
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

/// A TCP port that is free now, chosen below the range the OS hands out
/// for port 0 and outgoing connections, so that nothing else on the
/// machine is given it between this choice and the server's bind; and from
/// this process's own block of that range (see `PortBlock`), so that no
/// other grader chooses it meanwhile.
pub fn free_port() -> u16 {
    static BLOCK: OnceLock<PortBlock> = OnceLock::new();
    let block = BLOCK.get_or_init(PortBlock::claim);
    for _ in 0..block.len {
        let port = block.first + block.next.fetch_add(1, Ordering::Relaxed) % block.len;
        if port == DEFAULT_PORT {
            continue;
        }
        let free_v4 = can_bind((Ipv4Addr::LOCALHOST, port).into());
        let free_v6 = can_bind((Ipv6Addr::LOCALHOST, port).into())
            || !can_bind((Ipv6Addr::LOCALHOST, 0).into());
        if free_v4 && free_v6 {
            return port;
        }
    }
    // Every port of the block is taken: let the OS pick one.
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_or(DEFAULT_PORT, |addr| addr.port())
}

/// The ports one grader process chooses from: one of [`PORT_BLOCKS`]
/// blocks of the range below the OS's ephemeral ports, its own while the
/// process lives.
///
/// A port is chosen free, but the server under test binds it a moment
/// later; another grader running at the same time (the suite runs dozens
/// of servers at once, a teacher may grade several submissions at once,
/// each grader's own `net-watcher-grade`) must not choose it meanwhile, or
/// one server fails to start and the other grader talks to the wrong one.
/// So each process claims a block by binding a UDP socket on the block's
/// first port: UDP ports are apart from TCP ones, so the claim takes no
/// port from a server; a second bind of the same UDP port fails, so no two
/// processes claim one block; and the OS ends the claim when the process
/// ends, however it ends.
#[derive(Debug)]
struct PortBlock {
    first: u16,
    len: u16,
    next: AtomicU16,
    /// The claim; `None` if every block was claimed, and this process
    /// shares one.
    _claim: Option<UdpSocket>,
}

/// How many blocks the range is cut into: how many graders can run at once
/// without sharing one.
const PORT_BLOCKS: u16 = 64;

impl PortBlock {
    /// Claims a block: the first, from one chosen by the process's id,
    /// that no other process has claimed and where nothing listens (see
    /// [`PortBlock::is_quiet`]); else the first unclaimed one; else, when
    /// every block is claimed, the chosen one, shared.
    fn claim() -> PortBlock {
        let (low, high) = below_ephemeral_range();
        let len = ((high - low) / PORT_BLOCKS).max(1);
        let chosen = (std::process::id() % u32::from(PORT_BLOCKS)) as u16;
        let first_port = |tried: u16| low + (chosen + tried) % PORT_BLOCKS * len;
        let mut unquiet = None;
        let mut claimed = None;
        for tried in 0..PORT_BLOCKS {
            let first = first_port(tried);
            let Ok(claim) = UdpSocket::bind((Ipv4Addr::LOCALHOST, first)) else {
                continue;
            };
            if Self::is_quiet(first, len, low) {
                claimed = Some((first, claim));
                break;
            }
            unquiet.get_or_insert((first, claim));
        }
        let (first, claim) = match claimed.or(unquiet) {
            Some((first, claim)) => (first, Some(claim)),
            None => (first_port(0), None),
        };
        // Start anywhere in the block, so that the next process to claim it
        // does not choose the ports the last one has just let go of.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        PortBlock {
            first,
            len,
            next: AtomicU16::new((nanos % u32::from(len)) as u16),
            _claim: claim,
        }
    }

    /// Whether nothing listens in the block that starts at `first`, nor in
    /// the block below it. A grader of an older version, which claims no
    /// block, chooses ports upward from a place of its own, a few hundred
    /// in a run: a block it is busy in, or about to reach, is left to it.
    fn is_quiet(first: u16, len: u16, low: u16) -> bool {
        (first.saturating_sub(len).max(low)..first.saturating_add(len))
            .all(|port| can_bind((Ipv4Addr::LOCALHOST, port).into()))
    }
}

/// Whether a TCP socket can be bound to `address` now, by a server that
/// does not ask to reuse it (`SO_REUSEADDR`): nothing listens there, and
/// no connection of a server that was there is still closing. The socket
/// is bound, never listening: a listening one, even for an instant, could
/// be taken for a server by a grader waiting for one there.
fn can_bind(address: SocketAddr) -> bool {
    Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .and_then(|socket| socket.bind(&address.into()))
    .is_ok()
}

/// The ports from 20000 up to the start of the OS's ephemeral range
/// (Linux: `/proc/sys/net/ipv4/ip_local_port_range`, 32768 by default).
fn below_ephemeral_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_low > 21_000 {
        (20_000, ephemeral_low)
    } else {
        (
            ephemeral_low.saturating_sub(1000).max(1024),
            ephemeral_low.max(1025),
        )
    }
}
