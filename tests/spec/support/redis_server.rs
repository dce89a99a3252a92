//! A real `redis-server` for the relay specs: one per test, on a Unix socket
//! in a temporary directory, with nothing saved to disk, stopped when the
//! value drops.
//!
//! Where `redis-server` is not installed, [`redis_server`] prints
//! `SKIPPED: …` and returns `None`, and the spec passes without running:
//! `cargo test` works on a fresh machine. CI sets
//! `NET_WATCHER_REQUIRE_REDIS=1` (and installs Redis), and there a missing
//! server fails the spec instead.
//!
//! It is also the fault suite's **broker that refuses**: a Redis that keeps
//! answering but refuses what it is asked ([`RedisServer::refuse`], one
//! [`Refusal`] at a time), and counts what it was sent, so that a spec can
//! tell an outage handled with a back-off from a loop.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::binary::{Spawned, TestServer};
use super::target::TargetFile;

/// The variable that makes a missing `redis-server` a failure.
pub const REQUIRE_REDIS: &str = "NET_WATCHER_REQUIRE_REDIS";

/// A running `redis-server`, or one stopped to be started again on the same
/// socket.
pub struct RedisServer {
    program: PathBuf,
    dir: TempDir,
    process: Option<Spawned>,
    /// The password Redis asks for now, if any (see [`Refusal::Password`]).
    password: Cell<Option<&'static str>>,
    /// How many connections the spec's own helpers made since the server
    /// last started: Redis counts them too.
    own_connections: Cell<u64>,
    /// What a replica is told is its master: a port that takes connections
    /// and never answers, held while the server lives (see
    /// [`Refusal::ReadOnlyReplica`]).
    silent_master: Option<TcpListener>,
}

/// A way for a running Redis to answer and refuse, as a real one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Out of memory (`CONFIG SET maxmemory 1`): writes are refused with
    /// `OOM command not allowed when used memory > 'maxmemory'.`, reads go
    /// on.
    OutOfMemory,
    /// A read-only replica (`REPLICAOF` a master that never answers):
    /// writes are refused with `READONLY You can't write against a read
    /// only replica.`; a blocked read is ended with `UNBLOCKED`.
    ReadOnlyReplica,
    /// The stream's key holds a string (`SET`): every stream command is
    /// refused with `WRONGTYPE Operation against a key holding the wrong
    /// kind of value`. Taking entries again deletes the key.
    WrongType,
    /// A password is required (`CONFIG SET requirepass`): a connection made
    /// from now on is refused every command with `NOAUTH Authentication
    /// required.` (connections made before stay authenticated).
    Password,
}

/// What Redis answers a refused request with, for each [`Refusal`].
pub fn refusal_answer(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::OutOfMemory => "OOM command not allowed when used memory > 'maxmemory'",
        Refusal::ReadOnlyReplica => "READONLY You can't write against a read only replica",
        Refusal::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value",
        Refusal::Password => "NOAUTH Authentication required",
    }
}

/// Starts a `redis-server` for one spec, or says why it cannot: `None` means
/// "skip this spec" (and was said on stdout).
pub fn redis_server() -> Option<RedisServer> {
    let Some(program) = find_program("redis-server") else {
        let required = std::env::var(REQUIRE_REDIS).is_ok_and(|value| value == "1");
        assert!(
            !required,
            "{REQUIRE_REDIS}=1, but redis-server is not installed (apt-get install -y redis-server)"
        );
        println!(
            "SKIPPED: redis-server is not installed; `apt-get install -y redis-server` runs this spec"
        );
        return None;
    };
    let mut server = RedisServer {
        program,
        dir: tempfile::tempdir().expect("a temporary directory"),
        process: None,
        password: Cell::new(None),
        own_connections: Cell::new(0),
        silent_master: None,
    };
    server.start_again();
    Some(server)
}

impl RedisServer {
    /// The server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The server's directory: where it would save a snapshot
    /// (`dump.rdb`), and where it loads one from when it starts.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of stream `stream` on this server, as net-watcher takes it.
    pub fn url(&self, stream: &str) -> String {
        format!("redis+unix://{}?stream={stream}", self.socket().display())
    }

    /// A connection of the spec's own, to write into a stream by hand
    /// (authenticated while Redis asks for a password).
    pub fn connection(&self) -> redis::Connection {
        self.own_connections.set(self.own_connections.get() + 1);
        let password = match self.password.get() {
            Some(password) => format!("?pass={password}"),
            None => String::new(),
        };
        redis::Client::open(format!(
            "redis+unix://{}{password}",
            self.socket().display()
        ))
        .and_then(|client| client.get_connection())
        .expect("the spec connects to its redis-server")
    }

    /// Runs `command` on a connection of the spec's own, which must succeed.
    fn run(&self, command: &mut redis::Cmd) {
        let _: redis::Value = command
            .query(&mut self.connection())
            .unwrap_or_else(|error| panic!("Redis runs {command:?}: {error}"));
    }

    /// Waits until `stream` holds an entry above `after` (`0-0`: any
    /// entry; a publisher started names its file in an entry), woken by
    /// Redis's own blocking read, for at most [`PATIENCE`](super::PATIENCE).
    pub fn wait_for_an_entry(&self, stream: &str, after: &str) {
        let read: redis::Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(super::PATIENCE.as_millis() as u64)
            .arg("STREAMS")
            .arg(stream)
            .arg(after)
            .query(&mut self.connection())
            .expect("Redis answers XREAD");
        assert_ne!(
            read,
            redis::Value::Nil,
            "no entry above {after} in {stream} within {:?}",
            super::PATIENCE
        );
    }

    /// Makes Redis refuse as `refusal` says, from now until
    /// [`RedisServer::take_again`]. `stream` is the key that
    /// [`Refusal::WrongType`] fills with a string.
    pub fn refuse(&mut self, refusal: Refusal, stream: &str) {
        match refusal {
            Refusal::OutOfMemory => {
                self.run(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(1))
            }
            Refusal::ReadOnlyReplica => {
                let master = self
                    .silent_master
                    .get_or_insert_with(|| TcpListener::bind("127.0.0.1:0").expect("a free port"));
                let port = master.local_addr().expect("a bound port").port();
                self.run(redis::cmd("REPLICAOF").arg("127.0.0.1").arg(port));
            }
            Refusal::WrongType => {
                self.run(redis::cmd("DEL").arg(stream));
                self.run(redis::cmd("SET").arg(stream).arg("not a stream"));
            }
            Refusal::Password => {
                self.run(
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("requirepass")
                        .arg("secret"),
                );
                self.password.set(Some("secret"));
            }
        }
    }

    /// Makes Redis take what it refused since [`RedisServer::refuse`].
    pub fn take_again(&mut self, refusal: Refusal, stream: &str) {
        match refusal {
            Refusal::OutOfMemory => {
                self.run(redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0))
            }
            Refusal::ReadOnlyReplica => self.run(redis::cmd("REPLICAOF").arg("NO").arg("ONE")),
            Refusal::WrongType => self.run(redis::cmd("DEL").arg(stream)),
            Refusal::Password => {
                self.run(redis::cmd("CONFIG").arg("SET").arg("requirepass").arg(""));
                self.password.set(None);
            }
        }
    }

    /// How many connections Redis has accepted since it last started from
    /// anyone but the spec's own helpers: from the programs under test.
    pub fn connections_from_others(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query(&mut self.connection())
            .expect("Redis answers INFO");
        info_field(&info, "total_connections_received") - self.own_connections.get()
    }

    /// The ids of the connections open now that gave themselves `name`
    /// (`CLIENT SETNAME`): Redis numbers connections in the order it
    /// accepts them, so the same ids later mean no new connection.
    pub fn connections_named(&self, name: &str) -> Vec<u64> {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut self.connection())
            .expect("Redis answers CLIENT LIST");
        clients
            .lines()
            .filter(|client| {
                client
                    .split(' ')
                    .any(|field| field == format!("name={name}"))
            })
            .map(|client| {
                let id = client
                    .split(' ')
                    .find_map(|field| field.strip_prefix("id="))
                    .expect("each client has an id");
                id.parse().expect("a client id is a number")
            })
            .collect()
    }

    /// Watches Redis for [`WATCHED_FOR`]: how often it is asked `command`
    /// (lower case, `xadd`), what connections it is sent, and which of
    /// those named `name` are open before and after.
    pub fn watch(&self, command: &str, name: &str) -> Watched {
        let named_before = self.connections_named(name);
        // Timed from before the first count to after the second: on a
        // loaded machine this thread may wake long after the sleep, and the
        // program under test goes on trying meanwhile.
        let began = Instant::now();
        let asked = self.times_asked(command);
        let connections = self.connections_from_others();
        // Time must pass to show what does not happen in it.
        std::thread::sleep(WATCHED_FOR);
        let asked = self.times_asked(command) - asked;
        let lasted = began.elapsed();
        Watched {
            asked,
            lasted,
            new_connections: self.connections_from_others() - connections,
            named: (named_before, self.connections_named(name)),
        }
    }

    /// How many times Redis was asked `command` (lower case, `xadd`), run or
    /// refused, since it started.
    pub fn times_asked(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.connection())
            .expect("Redis answers INFO");
        // cmdstat_xadd:calls=3,usec=...,rejected_calls=2,failed_calls=1:
        // `calls` counts the commands run (failed or not), `rejected_calls`
        // those refused before running (out of memory, read-only).
        let Some(line) = info
            .lines()
            .find(|line| line.starts_with(&format!("cmdstat_{command}:")))
        else {
            return 0;
        };
        let count = |name: &str| -> u64 {
            line.split([':', ','])
                .find_map(|field| field.strip_prefix(&format!("{name}=")))
                .map_or(0, |value| value.parse().expect("a count"))
        };
        count("calls") + count("rejected_calls")
    }

    /// Redis's `MONITOR`: every command it runs from now on, in the order
    /// it runs them, whoever sent it.
    pub fn monitor(&self) -> Monitor {
        let mut socket = UnixStream::connect(self.socket()).expect("Redis takes a connection");
        socket
            .set_read_timeout(Some(super::PATIENCE))
            .expect("a read timeout can be set");
        socket
            .write_all(b"MONITOR\r\n")
            .expect("Redis takes MONITOR");
        let mut monitor = Monitor {
            lines: BufReader::new(socket),
        };
        assert_eq!(monitor.line(), "+OK", "Redis's answer to MONITOR");
        monitor
    }

    /// Stops the server (SIGTERM) and waits for it to exit. Nothing is
    /// saved: started again, it starts empty.
    pub fn stop(&mut self) {
        let mut process = self.process.take().expect("the server is running");
        process.signal(libc::SIGTERM);
        process.wait_for_exit();
    }

    /// Starts the server, on the same socket as before if it ran before, and
    /// waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the server is already running");
        let socket = self.socket();
        let socket = socket.to_str().expect("temporary paths are UTF-8 here");
        let dir = self
            .dir
            .path()
            .to_str()
            .expect("temporary paths are UTF-8 here");
        // No TCP port, no saving, no append-only file: a server that
        // starts again starts empty, as one without persistence does.
        let args = [
            "--port",
            "0",
            "--unixsocket",
            socket,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir,
        ];
        let mut process = Spawned::start_program(&self.program, &args);
        process.wait_for_stdout_containing("ready to accept connections");
        self.process = Some(process);
        self.own_connections.set(0);
    }
}

/// The number after `name:` in an `INFO` reply.
fn info_field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO has no {name}:\n{info}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in INFO"))
}

/// How long [`RedisServer::watch`] watches a program facing a refusing or
/// unreachable Redis, to show that nothing happens in that time but a few
/// attempts with a back-off (50 ms, doubling, up to 2 s: five attempts in
/// 1.5 s). A loop would make hundreds.
pub const WATCHED_FOR: Duration = Duration::from_millis(1500);

/// The most attempts a program backing off makes in `lasted`: one at its
/// start, one after each wait of the back-off (50 ms, doubling, up to 2 s)
/// that fits in it, and one to spare for an attempt under way when the
/// watch begins. Six in [`WATCHED_FOR`]; more only when the watch lasted
/// longer (a loaded machine wakes the watching thread late).
pub fn most_attempts(lasted: Duration) -> u64 {
    let mut attempts = 2;
    let mut wait = Duration::from_millis(50);
    let mut waited = wait;
    while waited <= lasted {
        attempts += 1;
        wait = (wait * 2).min(Duration::from_secs(2));
        waited += wait;
    }
    attempts
}

/// What Redis was sent while a spec watched ([`RedisServer::watch`]).
#[derive(Debug)]
pub struct Watched {
    /// How many times the command watched was asked.
    pub asked: u64,
    /// How long the watch lasted, from the first count to the second.
    pub lasted: Duration,
    /// How many connections the programs under test made.
    pub new_connections: u64,
    /// The ids of the connections with the name watched, before and after.
    pub named: (Vec<u64>, Vec<u64>),
}

impl Watched {
    /// Fails unless the command was asked at most [`most_attempts`] times
    /// in the time the watch lasted: tried again with a back-off, not in a
    /// loop.
    pub fn assert_backed_off(&self) -> &Self {
        let most = most_attempts(self.lasted);
        assert!(
            self.asked <= most,
            "asked {} times in {:?} (at most {most} with a back-off): {self:?}",
            self.asked,
            self.lasted
        );
        self
    }

    /// Fails unless the named connection was the same one throughout.
    pub fn assert_kept_its_connection(&self) -> &Self {
        let (before, after) = &self.named;
        assert!(
            before.len() == 1 && before == after,
            "not one connection kept: {self:?}"
        );
        self
    }

    /// Fails unless no program under test made a connection meanwhile.
    pub fn assert_made_no_connection(&self) -> &Self {
        assert_eq!(self.new_connections, 0, "{self:?}");
        self
    }
}

/// `name`'s path, found as a shell finds it (the directories of `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// `net-watcher target.txt --publish URL --port 0`, run in `target`'s
/// directory (so the name it publishes is `target.txt`), with `extra`
/// arguments; waits until it listens.
pub fn start_publisher(target: &TargetFile, url: &str, extra: &[&str]) -> TestServer {
    start_publisher_of(target, "target.txt", url, extra)
}

/// Like [`start_publisher`], for the file `name` in `target`'s directory.
pub fn start_publisher_of(
    target: &TargetFile,
    name: &str,
    url: &str,
    extra: &[&str],
) -> TestServer {
    let mut args = vec![name, "--publish", url, "--port", "0"];
    args.extend_from_slice(extra);
    TestServer::start_in(Some(target.dir()), "net-watcher", &args)
}

/// `net-watcher --relay URL --port 0` with `extra` arguments; waits until it
/// listens, which an edge does once the stream has named its file.
pub fn start_edge(url: &str, extra: &[&str]) -> TestServer {
    let mut args = vec!["--relay", url];
    if !extra.contains(&"--unix") {
        args.extend_from_slice(&["--port", "0"]);
    }
    args.extend_from_slice(extra);
    TestServer::start("net-watcher", &args)
}

/// A connection in `MONITOR` mode ([`RedisServer::monitor`]): a line per
/// command Redis runs, `+1733560000.123456 [0 unix:/…] "XREAD" "BLOCK" …`.
/// Redis runs one command at a time, so once a command is seen here, every
/// command sent after it runs after it: a reader's blocking `XREAD` seen
/// here is already waiting for the next entry.
pub struct Monitor {
    lines: BufReader<UnixStream>,
}

impl Monitor {
    /// The next line, without its `\r\n`; fails the test after
    /// [`PATIENCE`](super::PATIENCE) without one.
    fn line(&mut self) -> String {
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) => panic!("Redis closed its MONITOR connection"),
            Ok(_) => line.trim_end_matches("\r\n").to_owned(),
            Err(error) => panic!(
                "no command ran within {:?} ({error}); seen of the line: {line:?}",
                super::PATIENCE
            ),
        }
    }

    /// The words of the next command named `name` (upper case, `XREAD`),
    /// its name first, skipping the others; fails the test after
    /// [`PATIENCE`](super::PATIENCE) without one.
    pub fn next(&mut self, name: &str) -> Vec<String> {
        loop {
            let words = monitored_words(&self.line());
            if words
                .first()
                .is_some_and(|first| first.eq_ignore_ascii_case(name))
            {
                return words;
            }
        }
    }
}

/// The quoted words of a `MONITOR` line, unescaped where Redis escapes
/// (`\"`, `\\`, `\n`, `\r`, `\t`, `\xHH`; a `\xHH` becomes the character
/// of that number, enough for the ids and names the specs compare).
fn monitored_words(line: &str) -> Vec<String> {
    let Some((_, command)) = line.split_once("] ") else {
        return Vec::new();
    };
    let mut words = Vec::new();
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('r') => word.push('\r'),
                    Some('t') => word.push('\t'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        word.push(char::from(u8::from_str_radix(&hex, 16).unwrap_or(b'?')));
                    }
                    Some(other) => word.push(other),
                    None => break,
                },
                other => word.push(other),
            }
        }
        words.push(word);
    }
    words
}
