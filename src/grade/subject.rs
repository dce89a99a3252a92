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
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use super::subscriber::Subscriber;
use super::{Failure, Role, Settings};
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
    /// may listen on either for `localhost`.
    pub fn connect(&self) -> io::Result<Connection> {
        match self {
            Address::Tcp(port) => {
                let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, *port));
                TcpStream::connect_timeout(&v4, Duration::from_secs(1))
                    .or_else(|_| TcpStream::connect_timeout(&v6, Duration::from_secs(1)))
                    .map(Connection::Tcp)
            }
            Address::Unix(path) => UnixStream::connect(path).map(Connection::Unix),
        }
    }

    /// Whether something accepts connections there now.
    pub fn is_answering(&self) -> bool {
        self.connect().is_ok()
    }

    /// Whether something accepts connections there now; if so, the
    /// connection is held until the server has sent its first line (or
    /// closed, or `patience` has passed), as a polite subscriber would.
    /// Hanging up at once is a behaviour of its own
    /// (`robustness::survives_hang_ups`), not something to spring on a
    /// server while waiting for it to start.
    pub fn probe(&self, patience: Duration) -> bool {
        let Ok(connection) = self.connect() else {
            return false;
        };
        let _ = Subscriber::new(connection, patience).next_line();
        true
    }
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
        *self.placement.lock().unwrap() == Placement::Unknown
    }

    /// Whether each start can have an address of its own, so that several
    /// servers can run at once.
    pub fn has_own_addresses(&self) -> bool {
        matches!(
            *self.placement.lock().unwrap(),
            Placement::Placeholder | Placement::Environment
        )
    }

    /// Whether the program has been reached at least once: a server
    /// listened, or a client connected.
    pub fn was_reached(&self) -> bool {
        self.first_start.lock().unwrap().reached
    }

    /// Notes that the program was reached. For a server, where it listens
    /// is noted first, so that whoever is woken by this knows it too.
    pub fn mark_reached(&self) {
        self.first_start.lock().unwrap().reached = true;
        self.first_start_known.notify_all();
    }

    /// Notes that the first behaviour is over: whoever waits in
    /// [`Subject::wait_for_first_start`] hears it, reached or not.
    pub fn mark_first_behaviour_over(&self) {
        self.first_start.lock().unwrap().over = true;
        self.first_start_known.notify_all();
    }

    /// Waits until the program has been reached, or the first behaviour
    /// is over without reaching it; returns whether it was reached.
    pub fn wait_for_first_start(&self) -> bool {
        let known = self
            .first_start_known
            .wait_while(self.first_start.lock().unwrap(), |first| {
                !first.reached && !first.over
            })
            .unwrap();
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
            .prefix("net-watcher-grade-")
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
    pub fn start_in(&self, scene: Scene, file: &Path) -> Result<Server, Failure> {
        let mut process = self.spawn(file, &scene.address)?;
        let address = self.wait_until_listening(&mut process, &scene.address)?;
        Ok(Server {
            process,
            address,
            file: file.to_path_buf(),
            scene,
        })
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
        match *self.placement.lock().unwrap() {
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
    ) -> Result<Address, Failure> {
        let placement = *self.placement.lock().unwrap();
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
            if let Some(found) = candidates
                .iter()
                .find(|candidate| candidate.probe(patience))
            {
                if placement == Placement::Unknown {
                    *self.placement.lock().unwrap() = if *found == books {
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
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
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
            let mut kept = sink.lock().unwrap();
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
/// machine is given it between this choice and the server's bind.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let (low, high) = below_ephemeral_range();
    let span = high - low;
    if NEXT.load(Ordering::Relaxed) == 0 {
        // Each process starts in a block of the range of its own, chosen by
        // its id, so that two graders running at once (the suite, and a
        // `net-watcher-grade` it started) rarely try the same ports.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let blocks = 64u32;
        let block = (u32::from(span) / blocks).max(1);
        let seed = (std::process::id() % blocks) * block + nanos % block;
        let _ = NEXT.compare_exchange(
            0,
            (seed % u32::from(span)) as u16 + 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = low + offset;
        if port == DEFAULT_PORT {
            continue;
        }
        let free_v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
        let free_v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok()
            || TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err();
        if free_v4 && free_v6 {
            return port;
        }
    }
    // Every port below the range is taken: let the OS pick one.
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map_or(DEFAULT_PORT, |addr| addr.port())
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
