//! A stalling proxy: a network cut with no reset, between a program and
//! the server it talks to. Part of the fault suite.
//!
//! It listens on a Unix socket of its own, or on a TCP port of loopback
//! ([`StallingProxy::start_tcp`]: the way to reach a server that listens on
//! a Unix socket only over TCP), and forwards each connection to the
//! server's socket, both ways, byte for byte. [`StallingProxy::stall`]
//! stops the bytes without closing anything, as a cable pulled out, a
//! firewall that starts dropping packets, or a machine that froze would:
//! no reset, no end of file, just silence, for the connections open and
//! for any made meanwhile. [`StallingProxy::resume`] lets the bytes through
//! again, those held back included (as TCP would send them again once the
//! network is back). Only a program's own timeouts can tell it that the
//! other end is gone.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use tempfile::TempDir;

/// Whether bytes are held back, shared by every forwarding thread; and
/// whether each chunk is sent in two writes, a pause apart
/// ([`StallingProxy::split_each_chunk`]).
#[derive(Debug, Default)]
struct Valve {
    stalled: Mutex<bool>,
    opened: Condvar,
    split: Mutex<Option<Duration>>,
}

impl Valve {
    /// Returns at once while the proxy forwards; blocks while it stalls.
    fn wait_until_open(&self) {
        let mut stalled = self.stalled.lock().unwrap();
        while *stalled {
            stalled = self.opened.wait(stalled).unwrap();
        }
    }

    fn set(&self, stalled: bool) {
        *self.stalled.lock().unwrap() = stalled;
        self.opened.notify_all();
    }
}

/// A running stalling proxy to a server's Unix socket.
pub struct StallingProxy {
    dir: TempDir,
    /// The loopback port it listens on, if it listens on TCP.
    port: Option<u16>,
    valve: Arc<Valve>,
}

impl StallingProxy {
    /// Starts a proxy, on a Unix socket, to the server listening on
    /// `server`.
    pub fn start(server: &Path) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listener =
            UnixListener::bind(dir.path().join("proxy.sock")).expect("a socket in a new directory");
        let valve = Arc::new(Valve::default());
        accept(
            move || listener.accept().map(|(client, _)| Socket::Unix(client)),
            server,
            &valve,
        );
        StallingProxy {
            dir,
            port: None,
            valve,
        }
    }

    /// Starts a proxy, on a free port of 127.0.0.1, to the server listening
    /// on `server`.
    pub fn start_tcp(server: &Path) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a bound port").port();
        let valve = Arc::new(Valve::default());
        accept(
            move || listener.accept().map(|(client, _)| Socket::Tcp(client)),
            server,
            &valve,
        );
        StallingProxy {
            dir,
            port: Some(port),
            valve,
        }
    }

    /// The proxy's socket, which a program connects to instead of the
    /// server's (when it listens on a Unix socket).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("proxy.sock")
    }

    /// The URL of stream `stream` through the proxy, as net-watcher takes
    /// it.
    pub fn url(&self, stream: &str) -> String {
        match self.port {
            Some(port) => format!("redis://127.0.0.1:{port}/{stream}"),
            None => format!("redis+unix://{}?stream={stream}", self.socket().display()),
        }
    }

    /// The loopback port it listens on, when started with
    /// [`StallingProxy::start_tcp`].
    pub fn port(&self) -> u16 {
        self.port.expect("a proxy started with start_tcp")
    }

    /// Stops every byte, both ways, on every connection, without closing
    /// any.
    pub fn stall(&self) {
        self.valve.set(true);
    }

    /// Lets the bytes through again, those held back first.
    pub fn resume(&self) {
        self.valve.set(false);
    }

    /// From now on, sends each chunk it reads, both ways, in two writes
    /// `pause` apart: its first half, then the rest. A reader that takes
    /// one read for one whole reply meets half of one.
    pub fn split_each_chunk(&self, pause: Duration) {
        *self.valve.split.lock().unwrap() = Some(pause);
    }
}

/// A connection the proxy took, over TCP or a Unix socket.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn try_clone(&self) -> std::io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(socket) => Socket::Tcp(socket.try_clone()?),
            Socket::Unix(socket) => Socket::Unix(socket.try_clone()?),
        })
    }

    fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        match self {
            Socket::Tcp(socket) => socket.shutdown(how),
            Socket::Unix(socket) => socket.shutdown(how),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(socket) => socket.read(buf),
            Socket::Unix(socket) => socket.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(socket) => socket.write(buf),
            Socket::Unix(socket) => socket.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Takes each connection `next` accepts, on a thread of its own, and
/// forwards it to `server` both ways. The accepting thread, and the
/// forwarding ones, end with the test process; a forwarding thread also
/// ends when its source closes.
fn accept(
    mut next: impl FnMut() -> std::io::Result<Socket> + Send + 'static,
    server: &Path,
    valve: &Arc<Valve>,
) {
    let server = server.to_path_buf();
    let valve = Arc::clone(valve);
    thread::spawn(move || {
        loop {
            let Ok(client) = next() else { return };
            let Ok(upstream) = UnixStream::connect(&server) else {
                continue;
            };
            let upstream = Socket::Unix(upstream);
            forward(&client, &upstream, &valve);
            forward(&upstream, &client, &valve);
        }
    });
}

/// Copies `from` to `to` on a thread of its own, holding each chunk read
/// while the valve is closed; closes `to`'s writing side at `from`'s end.
fn forward(from: &Socket, to: &Socket, valve: &Arc<Valve>) {
    let mut from = from.try_clone().expect("the socket can be cloned");
    let mut to = to.try_clone().expect("the socket can be cloned");
    let valve = Arc::clone(valve);
    thread::spawn(move || {
        let mut chunk = [0; 16 << 10];
        loop {
            valve.wait_until_open();
            let read = match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            // Read before the stall began, sent only once it is over.
            valve.wait_until_open();
            let split = *valve.split.lock().unwrap();
            let sent = match split {
                Some(pause) if read > 1 => {
                    let (first, rest) = chunk[..read].split_at(read / 2);
                    // The pause is the point: the reader must get the
                    // first half alone, as step 5's split service does.
                    to.write_all(first)
                        .and_then(|()| {
                            thread::sleep(pause);
                            to.write_all(rest)
                        })
                        .is_ok()
                }
                _ => to.write_all(&chunk[..read]).is_ok(),
            };
            if !sent {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
