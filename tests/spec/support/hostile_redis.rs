//! A hostile "Redis": it speaks enough of Redis's protocol (RESP) to be
//! connected to, then answers the first stream command on each connection
//! with a reply no Redis sends, of a size chosen to exhaust the client's
//! memory ([`HostileReply`]). Part of the fault suite: a publisher or an
//! edge pointed at it must give up on the reply after a bounded part of
//! it, say so, and keep serving.
//!
//! It listens on a Unix socket in a temporary directory; each connection
//! is served by a thread of its own, and every thread ends once its client
//! hangs up.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use tempfile::TempDir;

use super::PATIENCE;

/// What the hostile server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileReply {
    /// A bulk string said to be 1 GiB long (`$1073741824`), then its bytes.
    HugeBulkString,
    /// An array said to hold two billion values (`*2000000000`), then
    /// values (`:1`), each four bytes that a client holds in some fifty.
    HugeArray,
}

impl HostileReply {
    /// The reply's first line, which says how large it is.
    fn header(self) -> &'static [u8] {
        match self {
            HostileReply::HugeBulkString => b"$1073741824\r\n",
            HostileReply::HugeArray => b"*2000000000\r\n",
        }
    }

    /// The most bytes of it a connection is sent: far above what a client
    /// that bounds its replies takes, and few enough that a client that
    /// does not (as before the reply limit) grows by hundreds of megabytes,
    /// not by the gigabytes the header announces.
    fn most_sent(self) -> u64 {
        match self {
            HostileReply::HugeBulkString => 256 << 20,
            // Each value costs a client about fourteen times its bytes.
            HostileReply::HugeArray => 32 << 20,
        }
    }

    /// A chunk of what follows the header.
    fn chunk(self) -> Vec<u8> {
        match self {
            HostileReply::HugeBulkString => vec![b'x'; 64 << 10],
            HostileReply::HugeArray => b":1\r\n".repeat(16 << 10),
        }
    }
}

/// What the hostile server saw: for each connection that got a hostile
/// reply and then hung up, how many bytes of it the kernel took before.
#[derive(Debug, Default)]
struct Seen {
    taken: Vec<u64>,
}

/// A running hostile server (see the module docs).
pub struct HostileRedis {
    dir: TempDir,
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

impl HostileRedis {
    /// Starts a hostile server that answers with `reply`.
    pub fn start(reply: HostileReply) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listener =
            UnixListener::bind(dir.path().join("redis.sock")).expect("a socket in a new directory");
        let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let record = Arc::clone(&seen);
        // The accepting thread ends when the test ends: the listener is
        // dropped with the process (the socket's directory goes first).
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let record = Arc::clone(&record);
                thread::spawn(move || serve(client, reply, &record));
            }
        });
        HostileRedis { dir, seen }
    }

    /// The server's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The URL of stream `stream` on this server, as net-watcher takes it.
    pub fn url(&self, stream: &str) -> String {
        format!("redis+unix://{}?stream={stream}", self.socket().display())
    }

    /// Waits until a client has hung up on a hostile reply, and returns how
    /// many of its bytes the kernel took from the server before that (the
    /// client read them, or they sat in the socket's buffers).
    pub fn wait_for_a_hang_up(&self) -> u64 {
        let (seen, changed) = &*self.seen;
        let deadline = Instant::now() + PATIENCE;
        let mut seen = seen.lock().unwrap();
        loop {
            if let Some(&taken) = seen.taken.first() {
                return taken;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no client hung up on the hostile reply within {PATIENCE:?}"
            );
            seen = changed.wait_timeout(seen, left).unwrap().0;
        }
    }
}

/// Serves one client: `+OK` to its setup commands (`CLIENT SETINFO`,
/// `CLIENT SETNAME`), `reply` to the first other command.
fn serve(client: UnixStream, reply: HostileReply, seen: &(Mutex<Seen>, Condvar)) {
    let mut writer = client.try_clone().expect("the socket can be cloned");
    let mut commands = BufReader::new(client);
    loop {
        let Some(name) = next_command(&mut commands) else {
            return;
        };
        if name.eq_ignore_ascii_case("CLIENT") {
            if writer.write_all(b"+OK\r\n").is_err() {
                return;
            }
            continue;
        }
        let taken = send_hostile(&mut writer, reply);
        let (seen, changed) = seen;
        if let Some(taken) = taken {
            seen.lock().unwrap().taken.push(taken);
            changed.notify_all();
        }
        // Sent all it sends, or hung up on: wait for the client to leave.
        let _ = std::io::copy(&mut commands, &mut std::io::sink());
        return;
    }
}

/// Sends `reply`, up to its most bytes; `Some(bytes taken)` if the
/// client hung up before, `None` if it took them all.
fn send_hostile(writer: &mut UnixStream, reply: HostileReply) -> Option<u64> {
    let header = reply.header();
    if writer.write_all(header).is_err() {
        return Some(0);
    }
    let mut taken = header.len() as u64;
    let chunk = reply.chunk();
    while taken < reply.most_sent() {
        match writer.write(&chunk) {
            Ok(0) | Err(_) => return Some(taken),
            Ok(written) => taken += written as u64,
        }
    }
    None
}

/// Reads one command (an array of bulk strings) and returns its name;
/// `None` at end of input.
fn next_command(commands: &mut BufReader<UnixStream>) -> Option<String> {
    let count: usize = next_line(commands)?.strip_prefix('*')?.parse().ok()?;
    let mut name = None;
    for _ in 0..count {
        let length: usize = next_line(commands)?.strip_prefix('$')?.parse().ok()?;
        let mut argument = vec![0; length + 2];
        commands.read_exact(&mut argument).ok()?;
        argument.truncate(length);
        name.get_or_insert_with(|| String::from_utf8_lossy(&argument).into_owned());
    }
    name
}

fn next_line(commands: &mut BufReader<UnixStream>) -> Option<String> {
    let mut line = String::new();
    match commands.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_owned()),
    }
}
