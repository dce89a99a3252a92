//! Listeners, the connection limit, and shutdown. (Chapters 1, 2 and 9.)
//!
//! [`run`] takes listeners that are already bound and a shutdown future that
//! the caller owns. The binary binds the address the user asked for and
//! passes Ctrl+C; a test binds port 0 and passes a future it completes when
//! it wants the server gone.
//!
//! Binding lives here too ([`bind_tcp`], [`bind_unix`]) because the rules are
//! part of the service: both loopback addresses by default, a backlog that
//! absorbs a burst of connects, a stale Unix socket file removed only when
//! nothing answers on it.

use std::fmt;
use std::future::Future;
use std::io;
use std::io::{Read, Seek, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use socket2::SockRef;
use tokio::net::{TcpListener, TcpSocket, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::browser::Site;
use crate::connection::{self, Ending, Framing, Lines, Socket};
use crate::console::{Console, ConsoleEvent, Repeats};
use crate::notifier::{Notifier, Subscription};

/// The TCP port of the práctica.
pub const DEFAULT_PORT: u16 = 60300;

/// How many pending connections the kernel may queue for us. tokio's default
/// (1024 for `TcpListener::bind` through std, 128 on some systems) is raised
/// to the usual Linux ceiling so a burst of simultaneous connects is queued,
/// not refused.
pub const LISTEN_BACKLOG: u32 = 4096;

/// The send buffer asked for on every subscriber's socket (the kernel
/// doubles it for its bookkeeping).
///
/// Linux lets a TCP send buffer grow to 4 MiB by default, and a subscriber
/// that never reads would hold that much kernel memory before a write ever
/// blocked. Notification lines are about 60 bytes: 16 KiB holds hundreds of
/// them, more than a reading subscriber ever has in flight, and once it is
/// full a stalled subscriber's writes block, its notifications coalesce to
/// the latest, and the write timeout ends it.
pub const SUBSCRIBER_SEND_BUFFER: usize = 16_384;

/// How long shutdown waits for subscribers' connections to close before it
/// returns anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The most subscribers served at once; more are refused with a line.
    pub max_subscribers: usize,
    /// How long a write to one subscriber may take before it is dropped.
    pub write_timeout: Duration,
    /// Where connects, disconnects and problems are reported.
    pub console: Console,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_subscribers: 10_000,
            write_timeout: Duration::from_secs(30),
            console: Console::stdout(),
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit, and
/// returns the soft limit now in force.
///
/// Every subscriber is an open socket, and the usual soft limit (1,024) is
/// far below the 10,000 subscribers the server is built for; the hard limit
/// is what an unprivileged process may raise it to.
///
/// Through the `rlimit` crate rather than `libc`'s `getrlimit` and
/// `setrlimit`: it is the same two system calls without an `unsafe` block
/// of ours, and on macOS it also keeps under `kern.maxfilesperproc`, which
/// `setrlimit` refuses to exceed there.
pub fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Open files the server needs besides its subscribers' sockets and the
/// files it has open when it starts: three for the OS watch (its inotify
/// instance, and the epoll set and the waker of its reader thread), and
/// the rest to accept connections while it is full, so that each is refused
/// with a line instead of left unanswered in the backlog; and the browsers'
/// connections accepted before their request
/// ([`PENDING_REQUESTS`](crate::browser::PENDING_REQUESTS)).
pub const SPARE_FILES: u64 = 16 + crate::browser::PENDING_REQUESTS as u64;

/// Files the server opens as it starts, before its first subscriber: the
/// runtime's (two epoll sets and a waker), the signal handlers' socket
/// pair and a copy of one end, the console's copies of stdout and stderr,
/// and its listeners: two on TCP (a Unix socket has its lock file
/// instead), and two for browsers on both loopbacks, the most a start
/// opens. Counted in `/proc/PID/fd` of a server serving nobody (10
/// without `--http`).
pub const STARTUP_FILES: u64 = 12;

/// Raises the open-file limit as far as it goes, and refuses, with the
/// reason, one too low to serve a single subscriber once the server has
/// started: [`STARTUP_FILES`], [`SPARE_FILES`] and one subscriber's
/// socket, beyond the files open now. Call it first, before tokio's
/// runtime is built: the runtime's signal handling panics when it finds no
/// descriptor free, and a server that listens and can serve nobody helps
/// no one.
pub fn room_to_start() -> Result<(), String> {
    room_for_files(STARTUP_FILES + SPARE_FILES + 1, "to serve one subscriber")
}

/// Raises the open-file limit as far as it goes, and checks that `more`
/// files can be opened beyond those open now; if not, says so, and what
/// for (`purpose`, such as "to serve one subscriber").
pub fn room_for_files(more: u64, purpose: &str) -> Result<(), String> {
    // Raising reads a file on some systems: with no descriptor free, the
    // limit as it stands is what there is.
    let limit = raise_open_file_limit()
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .map_err(|error| format!("cannot read the open-file limit: {error}"))?;
    // A listing that cannot be opened means no descriptor is free.
    let open = open_files().unwrap_or(limit);
    let needed = open + more;
    if limit < needed {
        return Err(format!(
            "the open-file limit is {limit} (ulimit -n), too low {purpose}: \
             it needs {needed} at least"
        ));
    }
    Ok(())
}

/// How many subscribers the open-file limit leaves room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// The soft limit on open files, as raised.
    pub open_file_limit: u64,
    /// The subscribers that fit: the limit, less the files open when
    /// counted and [`SPARE_FILES`].
    pub subscribers: usize,
}

impl Room {
    /// The room under `open_file_limit` with `open_files` files open.
    pub fn new(open_file_limit: u64, open_files: u64) -> Self {
        let free = open_file_limit
            .saturating_sub(open_files)
            .saturating_sub(SPARE_FILES);
        Room {
            open_file_limit,
            subscribers: usize::try_from(free).unwrap_or(usize::MAX),
        }
    }
}

/// Raises the open-file limit as far as it goes, and says how many
/// subscribers it leaves room for. Call it once the listeners are bound and
/// the runtime runs: the files open then are counted as taken.
///
/// Each subscriber is an open socket. A server that accepts more than the
/// limit allows runs out of descriptors: accepting fails, and the
/// connections left in the kernel's backlog hear nothing at all. Serving at
/// most this many (see [`Config::max_subscribers`]) keeps descriptors free
/// to accept the rest and refuse them with a line.
pub fn room_for_subscribers() -> io::Result<Room> {
    let open_file_limit = raise_open_file_limit()?;
    Ok(Room::new(open_file_limit, open_files()?))
}

/// How many files this process has open: the entries of `/proc/self/fd`
/// (Linux), or of `/dev/fd` elsewhere. The listing's own descriptor counts
/// too, one more than the files in use, which errs on the safe side.
fn open_files() -> io::Result<u64> {
    let listing = std::fs::read_dir("/proc/self/fd").or_else(|_| std::fs::read_dir("/dev/fd"))?;
    Ok(listing.count() as u64)
}

/// A bound listener, TCP or Unix.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix socket listener, with the socket file it removes when dropped.
    Unix(UnixListener, SocketFile),
    /// A TCP listener for browsers, which speak HTTP (chapter 13,
    /// [`crate::browser`]).
    Http(TcpListener),
}

impl Listener {
    /// What this listener listens on, for the listening line.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => addr.to_string(),
                Err(_) => "an unknown TCP address".to_owned(),
            },
            Listener::Unix(_, file) => file.path().display().to_string(),
            Listener::Http(listener) => match listener.local_addr() {
                Ok(addr) => format!("http://{addr}/"),
                Err(_) => "an unknown HTTP address".to_owned(),
            },
        }
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(listener) | Listener::Http(listener) => {
                Ok(Accepted::Tcp(listener.accept().await?.0))
            }
            Listener::Unix(listener, _) => Ok(Accepted::Unix(listener.accept().await?.0)),
        }
    }

    /// The TCP address, for a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().ok(),
            Listener::Unix(..) | Listener::Http(_) => None,
        }
    }

    /// The address, for a listener for browsers.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Http(listener) => listener.local_addr().ok(),
            Listener::Tcp(_) | Listener::Unix(..) => None,
        }
    }
}

/// A connection accepted by a [`Listener`].
#[derive(Debug)]
pub enum Accepted {
    /// From a TCP listener.
    Tcp(tokio::net::TcpStream),
    /// From a Unix socket listener.
    Unix(tokio::net::UnixStream),
}

impl Accepted {
    /// Sets a subscriber's socket options: no Nagle delay on TCP
    /// (notifications are small, and latency matters more than packing
    /// them), and a send buffer of [`SUBSCRIBER_SEND_BUFFER`].
    ///
    /// A failure leaves the system's defaults, which serve a subscriber
    /// well enough: the caller reports it and serves the subscriber anyway.
    pub fn set_subscriber_options(&self) -> io::Result<()> {
        match self {
            Accepted::Tcp(stream) => set_tcp_subscriber_options(stream),
            Accepted::Unix(stream) => limit_send_buffer(stream),
        }
    }
}

/// [`Accepted::set_subscriber_options`] on a TCP connection: a browser's
/// stream's too, once hyper has read its request.
pub(crate) fn set_tcp_subscriber_options(stream: &tokio::net::TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    limit_send_buffer(stream)
}

/// Sets [`SUBSCRIBER_SEND_BUFFER`] on a socket, through socket2's borrowed
/// socket: tokio has no setter for `SO_SNDBUF` on a connected stream.
fn limit_send_buffer(socket: &impl AsFd) -> io::Result<()> {
    SockRef::from(socket).set_send_buffer_size(SUBSCRIBER_SEND_BUFFER)
}

/// The addresses of `listeners`, joined for a sentence:
/// `127.0.0.1:60300 and [::1]:60300`.
///
/// The binaries' first line is `Listening for subscribers on <this>...`.
/// Tests and scripts read the port from that line, so its shape is part of
/// the interface.
pub fn describe_all(listeners: &[Listener]) -> String {
    let names: Vec<String> = listeners.iter().map(Listener::describe).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Binding failed.
#[derive(Debug)]
pub enum BindError {
    /// Another process listens on this address already.
    AddressInUse(String),
    /// The Unix socket path exists and is not a socket. It is left alone.
    NotASocket(PathBuf),
    /// The host name could not be resolved to any address.
    UnknownHost(String),
    /// Another server starts or serves on this Unix socket path: it holds
    /// the lock beside it.
    Locked {
        /// The socket's path.
        socket: PathBuf,
        /// The lock's path.
        lock: PathBuf,
        /// The process that holds it, as written in the lock.
        holder: Option<u32>,
    },
    /// Any other failure, with the address it concerns.
    Io(String, io::Error),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::AddressInUse(addr) => write!(
                f,
                "cannot listen on {addr}: the address is already in use (is another server running?)"
            ),
            BindError::NotASocket(path) => write!(
                f,
                "cannot listen on {}: the path exists and is not a socket; refusing to remove it",
                path.display()
            ),
            BindError::UnknownHost(host) => {
                write!(f, "cannot listen on {host}: no address found for that name")
            }
            BindError::Locked {
                socket,
                lock,
                holder,
            } => {
                let holder = match holder {
                    Some(pid) => format!("another server (pid {pid})"),
                    None => "another server".to_owned(),
                };
                write!(
                    f,
                    "cannot listen on {}: {holder} holds its lock, {}",
                    socket.display(),
                    lock.display()
                )
            }
            BindError::Io(addr, error) => write!(f, "cannot listen on {addr}: {error}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::Io(_, error) => Some(error),
            _ => None,
        }
    }
}

fn bind_error(addr: &str, error: io::Error) -> BindError {
    if error.kind() == io::ErrorKind::AddrInUse {
        BindError::AddressInUse(addr.to_owned())
    } else {
        BindError::Io(addr.to_owned(), error)
    }
}

/// The addresses `host` stands for. `localhost` means both loopback addresses,
/// explicitly: `nc localhost` may try `::1` first, and `/etc/hosts` does not
/// always list both.
async fn resolve(host: &str) -> Result<Vec<IpAddr>, BindError> {
    if host == "localhost" {
        return Ok(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
    }
    let host_for_brackets = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host_for_brackets.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let found = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|error| BindError::Io(host.to_owned(), error))?;
    let mut ips: Vec<IpAddr> = found.map(|addr| addr.ip()).collect();
    ips.dedup();
    if ips.is_empty() {
        return Err(BindError::UnknownHost(host.to_owned()));
    }
    Ok(ips)
}

// ANCHOR: listen_on
fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // SO_REUSEADDR lets a restarted server bind while old connections sit in
    // TIME_WAIT. On Linux it does not let two live listeners share a port, so
    // "address in use" is still reported.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
// ANCHOR_END: listen_on

/// Binds `port` on every address `host` stands for (see [`DEFAULT_PORT`]).
///
/// With port 0 the OS picks a free port for the first address, and the others
/// are bound on that same port, so one port number reaches the server on all
/// of them. For `localhost`, an IPv6 loopback that this machine lacks is
/// skipped rather than fatal.
pub async fn bind_tcp(host: &str, port: u16) -> Result<Vec<Listener>, BindError> {
    let ips = resolve(host).await?;
    // A port picked by the OS for the first address may be taken on another;
    // then start over with a new pick. A few attempts make that vanishingly
    // unlikely to matter.
    let attempts = if port == 0 { 8 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        match bind_all(&ips, port, host == "localhost") {
            Ok(listeners) => return Ok(listeners),
            Err(error @ BindError::AddressInUse(_)) if port == 0 => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.expect("at least one attempt was made"))
}

fn bind_all(ips: &[IpAddr], port: u16, ipv6_optional: bool) -> Result<Vec<Listener>, BindError> {
    let mut listeners = Vec::with_capacity(ips.len());
    let mut port = port;
    for &ip in ips {
        let addr = SocketAddr::new(ip, port);
        match listen_on(addr) {
            Ok(listener) => {
                if port == 0 {
                    port = listener
                        .local_addr()
                        .map_err(|error| bind_error(&addr.to_string(), error))?
                        .port();
                }
                listeners.push(Listener::Tcp(listener));
            }
            // A machine whose loopback has IPv6 turned off refuses the
            // address; one without IPv6 at all refuses the whole family.
            Err(error)
                if ipv6_optional
                    && ip.is_ipv6()
                    && (error.kind() == io::ErrorKind::AddrNotAvailable
                        || error.raw_os_error() == Some(libc::EAFNOSUPPORT)) =>
            {
                continue;
            }
            Err(error) => return Err(bind_error(&addr.to_string(), error)),
        }
    }
    Ok(listeners)
}

/// A Unix socket file that is removed when this value is dropped, which is
/// when the server that bound it stops, if it is still the socket this
/// server made; and the lock beside it (`SocketLock`), held until then.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// The socket's device and inode when it was bound.
    made: Option<FileIdentity>,
    /// Released after the socket file is removed (fields drop after
    /// `drop`), so that no other start takes the path in between.
    _lock: SocketLock,
}

impl SocketFile {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Only the socket this server made: a file, or another server's
        // socket, put at the path while it served is someone else's.
        // Already gone (someone removed it) is fine too. A socket still:
        // a file system may give the freed inode number of a removed
        // socket to the next file made, so the numbers alone could name a
        // regular file put there since.
        let still_a_socket = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|metadata| metadata.file_type().is_socket());
        if self.made.is_some() && still_a_socket && FileIdentity::at(&self.path) == self.made {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file's device and inode: which file a path names, whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(metadata: &std::fs::Metadata) -> Self {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }

    /// The file at `path` itself (a symlink is not followed), if any.
    fn at(path: &Path) -> Option<Self> {
        std::fs::symlink_metadata(path)
            .ok()
            .map(|metadata| Self::of(&metadata))
    }
}

/// The lock beside a Unix socket, `PATH.lock`, held while a server starts
/// on PATH and serves: starts racing for one path leave one listener, as
/// the lock files of other daemons do.
///
/// Without it, two starts could both find a stale socket, and the second
/// remove the socket the first had just bound, and both listen, one on a
/// file no longer there (1 in 30 trials of several starts at once). The
/// lock is `flock(2)`: the kernel releases it when the process ends,
/// however it ends, so a crash never leaves a path locked; the file, left
/// behind then, is taken over by the next start. It holds the pid of the
/// server that holds it, for the error of a start that finds it taken.
#[derive(Debug)]
struct SocketLock {
    path: PathBuf,
    file: std::fs::File,
}

/// How many times a start tries again when the lock file it locked was
/// removed meanwhile (by the server that held it, at its exit).
const LOCK_ATTEMPTS: usize = 8;

impl SocketLock {
    /// Takes the lock beside `socket`, or says who holds it.
    fn take(socket: &Path) -> Result<SocketLock, BindError> {
        let mut path = socket.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let failed = |error| BindError::Io(path.display().to_string(), error);
        for _ in 0..LOCK_ATTEMPTS {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                // Not through a symlink someone put there; a FIFO opened for
                // reading and writing does not wait for a peer.
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(failed)?;
            let opened = file.metadata().map_err(failed)?;
            if !opened.is_file() {
                return Err(failed(io::Error::other("it is not a regular file")));
            }
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(error) if error == rustix::io::Errno::WOULDBLOCK => {
                    return Err(BindError::Locked {
                        socket: socket.to_path_buf(),
                        lock: path,
                        holder: lock_holder(&file),
                    });
                }
                Err(error) => return Err(failed(error.into())),
            }
            // The lock is on the file opened, which its last holder may
            // have removed at exit, after this start opened it: then it
            // guards nothing, and the file at the path now is the one.
            if FileIdentity::at(&path) != Some(FileIdentity::of(&opened)) {
                continue;
            }
            // A file there before is taken over only if it is a lock a
            // crash left: empty, or a pid. Anything else is another
            // program's file that happens to have this name, which
            // writing the pid over, and removing at exit, would destroy.
            if !holds_at_most_a_pid(&mut file).map_err(failed)? {
                return Err(failed(io::Error::other(
                    "it holds something other than a server's pid; it is left alone",
                )));
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|()| file.write_all(pid.as_bytes()))
                .map_err(failed)?;
            return Ok(SocketLock { path, file });
        }
        Err(failed(io::Error::other(
            "it was removed each time it was locked; is another program removing it?",
        )))
    }
}

/// The pid of the server that holds the lock `file`, if it says. It writes
/// its pid just after it takes the lock: a start that finds the lock taken
/// in between reads an empty file, so it reads again, 10 ms apart, for
/// half a second at most (twenty starts at once on two loaded cores met
/// that gap twice in a row: the holder waits for a core behind the other
/// nineteen). Reads 32 bytes at most: the file may be another program's,
/// of any size.
fn lock_holder(file: &std::fs::File) -> Option<u32> {
    use std::os::unix::fs::FileExt;
    for _ in 0..50 {
        let mut held = [0; 32];
        let read = file.read_at(&mut held, 0).unwrap_or(0);
        // Whole only with its newline.
        if let Some(pid) = held[..read].strip_suffix(b"\n") {
            return std::str::from_utf8(pid).ok()?.parse().ok();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Whether `file` is empty or holds a pid (digits, and a newline), as a
/// [`SocketLock`]'s file does. Reads 32 bytes at most (a pid is shorter),
/// and leaves the file at its start, where the new pid is written.
fn holds_at_most_a_pid(file: &mut std::fs::File) -> io::Result<bool> {
    let mut held = Vec::new();
    (&*file).take(32).read_to_end(&mut held)?;
    file.rewind()?;
    let digits = held.strip_suffix(b"\n").unwrap_or(&held);
    Ok(digits.iter().all(u8::is_ascii_digit) && held.len() < 32)
}

impl Drop for SocketLock {
    fn drop(&mut self) {
        // Removed while still held, and only if still ours: a start that
        // opened it meanwhile finds, once it has the lock, that the file
        // is gone, and takes the one at the path instead.
        let ours = self
            .file
            .metadata()
            .ok()
            .map(|metadata| FileIdentity::of(&metadata));
        if ours.is_some() && FileIdentity::at(&self.path) == ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Connects to the Unix socket at `path` without waiting: `Ok` if a server
/// takes the connection, "connection refused" if nothing listens there,
/// "would block" if a server listens but its backlog is full.
///
/// Not `UnixStream::connect`, which waits while the backlog is full: a
/// start on the path of a server stopped by `kill -STOP` under a burst of
/// connects waited there, deaf to SIGTERM (its handler runs on the
/// runtime, which this blocks), until that server went away, and then
/// took its path.
fn knock(path: &Path) -> io::Result<()> {
    let address = socket2::SockAddr::unix(path)?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.connect(&address)
}

/// Binds a Unix socket at `path` (step 2).
///
/// The original fails with "address in use" when a crashed run left its
/// socket file behind. Here a leftover socket file is removed if, and only
/// if, nothing answers on it; a live server's socket is never stolen, and a
/// path that is not a socket is never deleted. All of it happens under the
/// lock beside the socket (`PATH.lock`, see [`SocketFile`]), so that of
/// several starts at once one listens and the others are told why not.
// ANCHOR: bind_unix
pub fn bind_unix(path: impl AsRef<Path>) -> Result<Listener, BindError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let lock = SocketLock::take(path)?;
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            match knock(path) {
                Ok(()) => return Err(BindError::AddressInUse(shown)),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)
                        .map_err(|error| BindError::Io(shown.clone(), error))?;
                }
                // Its backlog is full: alive, and not taking connections
                // now (stopped, or swamped). Someone else's.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Err(BindError::AddressInUse(shown));
                }
                Err(error) => return Err(BindError::Io(shown, error)),
            }
        }
        Ok(_) => return Err(BindError::NotASocket(path.to_path_buf())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(BindError::Io(shown, error)),
    }
    let listener = UnixListener::bind(path).map_err(|error| bind_error(&shown, error))?;
    Ok(Listener::Unix(
        listener,
        SocketFile {
            path: path.to_path_buf(),
            made: FileIdentity::at(path),
            _lock: lock,
        },
    ))
}
// ANCHOR_END: bind_unix

/// A running server's state, shared by its accept loops and subscriber
/// tasks (and by [`crate::browser`]'s, which serve its HTTP connections).
pub(crate) struct ServerState {
    pub(crate) notifier: Notifier,
    pub(crate) config: Config,
    /// The line a subscriber gets when the server is full.
    refusal: Arc<[u8]>,
    /// One permit per subscriber: `try_acquire` failing means the server is
    /// full. The permit moves into the subscriber's task and is released
    /// when the task ends, however it ends.
    slots: Arc<Semaphore>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) subscribers: TaskTracker,
    /// What browsers are served (chapter 13).
    pub(crate) site: Site,
}

/// Why a subscriber was not taken.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The server serves [`Config::max_subscribers`] already.
    Full,
    /// The file cannot be watched; the reason says why.
    WatchFailed(String),
}

impl ServerState {
    /// Takes a slot for a subscriber and subscribes it, or says why not
    /// (on the console too).
    pub(crate) fn admit(&self) -> Result<(OwnedSemaphorePermit, Subscription), Refusal> {
        let console = &self.config.console;
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            console.say(ConsoleEvent::SubscriberRefused {
                limit: self.config.max_subscribers,
            });
            return Err(Refusal::Full);
        };
        match self.notifier.subscribe() {
            Ok(subscription) => Ok((slot, subscription)),
            Err(error) => {
                let reason = error.to_string();
                console.say(ConsoleEvent::WatchFailed(reason.clone()));
                Err(Refusal::WatchFailed(reason))
            }
        }
    }

    /// What a refused subscriber is told, in words.
    pub(crate) fn reason(&self, refusal: &Refusal) -> String {
        match refusal {
            Refusal::Full => full_server_reason(self.config.max_subscribers),
            Refusal::WatchFailed(reason) => reason.clone(),
        }
    }
}

/// Why a subscriber is refused when the server is full.
fn full_server_reason(max_subscribers: usize) -> String {
    format!(
        "the server is full ({}); try again later.",
        crate::console::subscribers(max_subscribers)
    )
}

/// Serves subscribers on `listeners` until `shutdown` completes, then closes
/// every connection cleanly and returns.
///
/// Shutdown tells every subscriber's task to end (each sends its end of
/// file), stops accepting and drops the listeners (which removes a Unix
/// socket file), then waits up to [`SHUTDOWN_GRACE`] for the subscribers'
/// tasks to finish.
pub async fn run(
    listeners: Vec<Listener>,
    notifier: Notifier,
    config: Config,
    shutdown: impl Future<Output = ()>,
) {
    let refusal = notifier
        .protocol()
        .render_error(&full_server_reason(config.max_subscribers))
        .into_bytes()
        .into();
    let site = Site::new(&notifier);
    let server = Arc::new(ServerState {
        site,
        slots: Arc::new(Semaphore::new(config.max_subscribers)),
        notifier,
        config,
        refusal,
        shutdown: CancellationToken::new(),
        subscribers: TaskTracker::new(),
    });
    let mut accept_loops = tokio::task::JoinSet::new();
    for listener in listeners {
        accept_loops.spawn(accept_loop(listener, Arc::clone(&server)));
    }
    shutdown.await;
    server.shutdown.cancel();
    // Subscribers wait on their own wake-up, not on the token: wake them.
    server.notifier.wake_all();
    // The accept loops end on cancellation and drop their listeners.
    while accept_loops.join_next().await.is_some() {}
    server.subscribers.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server.subscribers.wait()).await;
}

// ANCHOR: accept_loop
async fn accept_loop(listener: Listener, server: Arc<ServerState>) {
    let console = &server.config.console;
    let mut failures = AcceptFailures::default();
    loop {
        // A browser's connection is accepted only when there is room for
        // one more waiting for its request (see `browser`).
        let pending = match &listener {
            Listener::Http(_) => tokio::select! {
                () = server.shutdown.cancelled() => return,
                pending = server.site.room_for_a_request() => Some(pending),
            },
            _ => None,
        };
        let count_due = failures.count_due();
        let accepted = tokio::select! {
            () = server.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
            // Repeats of a failure are counted, and the count told once a
            // second at most.
            () = sleep_until(count_due.unwrap_or_else(Instant::now)), if count_due.is_some() => {
                failures.tell_count(Instant::now(), console);
                continue;
            }
        };
        match accepted {
            Ok(accepted) => {
                failures.succeeded();
                match (pending, accepted) {
                    (Some(pending), Accepted::Tcp(stream)) => {
                        let browser = crate::browser::serve(stream, Arc::clone(&server), pending);
                        server.subscribers.spawn(browser);
                    }
                    (_, accepted) => start_subscriber(accepted, &server),
                }
            }
            Err(error) => {
                // Out of file descriptors, most often: wait a little before
                // trying again instead of spinning.
                let pause = failures.failed(error.to_string(), Instant::now(), console);
                tokio::select! {
                    () = server.shutdown.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
// ANCHOR_END: accept_loop

/// What an accept loop has seen fail, so that a failure that repeats is
/// told once, then counted ([`Repeats`]), instead of filling the console: a
/// server out of file descriptors fails to accept every few milliseconds.
#[derive(Debug)]
struct AcceptFailures {
    /// The failure told last, and its repeats.
    told: Option<String>,
    repeats: Repeats,
    /// The pause before the next accept: doubled while failures go on, up
    /// to [`MAX_ACCEPT_PAUSE`].
    pause: Duration,
}

/// The pause after a first failure to accept.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// The longest pause between failures to accept.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

impl Default for AcceptFailures {
    fn default() -> Self {
        AcceptFailures {
            told: None,
            repeats: Repeats::default(),
            pause: FIRST_ACCEPT_PAUSE,
        }
    }
}

impl AcceptFailures {
    /// Tells `reason` on `console`, or counts it if it repeats the failure
    /// told last; returns how long to pause before accepting again.
    fn failed(&mut self, reason: String, now: Instant, console: &Console) -> Duration {
        if self.told.as_ref() != Some(&reason) {
            // Another failure: the count of the last one first, then this
            // one, told at once.
            self.tell_count(now, console);
            self.repeats = Repeats::default();
            self.told = Some(reason.clone());
        }
        if self.repeats.heard(now) {
            console.say(ConsoleEvent::AcceptFailed(reason));
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_ACCEPT_PAUSE);
        pause
    }

    /// An accept succeeded: the next failure pauses briefly again. (What
    /// was told stays told: failures between successes are counted too.)
    fn succeeded(&mut self) {
        self.pause = FIRST_ACCEPT_PAUSE;
    }

    /// When the count of repeats is to be told, if there are any.
    fn count_due(&self) -> Option<Instant> {
        self.repeats.count_due()
    }

    /// Tells how often the last failure repeated, if it did.
    fn tell_count(&mut self, now: Instant, console: &Console) {
        if let (Some(reason), Some(times)) = (&self.told, self.repeats.take_count(now)) {
            console.say(ConsoleEvent::Repeated {
                event: Box::new(ConsoleEvent::AcceptFailed(reason.clone())),
                times,
            });
        }
    }
}

/// Sets a new subscriber's socket options and starts its task.
fn start_subscriber(accepted: Accepted, server: &Arc<ServerState>) {
    if let Err(error) = accepted.set_subscriber_options() {
        let reason = error.to_string();
        server
            .config
            .console
            .say(ConsoleEvent::SocketOptionsFailed(reason));
    }
    let tasks = &server.subscribers;
    match accepted {
        Accepted::Tcp(stream) => tasks.spawn(subscriber(stream, Arc::clone(server))),
        Accepted::Unix(stream) => tasks.spawn(subscriber(stream, Arc::clone(server))),
    };
}

/// Writes one last line and closes. Best effort: a peer that does not read
/// is not waited for beyond the write timeout.
async fn say_goodbye<S: Socket>(stream: &S, line: &[u8], server: &ServerState) {
    let written =
        connection::write_all(stream, line, server.config.write_timeout, &server.shutdown).await;
    if written.is_ok() {
        if let Err(error) = stream.shutdown_write() {
            report_failure(&error, &server.config.console);
        }
    }
}

/// Reports a subscriber's socket failing, unless the failure is the usual
/// way a peer leaves (a reset, a broken pipe, a network gone): those are
/// routine, and the console only says `Subscriber disconnected.`
fn report_failure(error: &io::Error, console: &Console) {
    use io::ErrorKind::*;
    if !matches!(
        error.kind(),
        ConnectionReset
            | ConnectionAborted
            | BrokenPipe
            | NotConnected
            | TimedOut
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    ) {
        console.say(ConsoleEvent::SubscriberFailed(error.to_string()));
    }
}

/// One subscriber's task: take a slot, subscribe, serve, report.
///
/// The checks that need no waiting happen before the future is built, and
/// the rare paths (refusing, failing to watch) are boxed, so that the future
/// every connected subscriber keeps is little more than [`connection::serve`]'s.
fn subscriber<S: Socket>(stream: S, server: Arc<ServerState>) -> impl Future<Output = ()> + Send {
    let (slot, subscription) = match server.admit() {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let line: Arc<[u8]> = match refusal {
                Refusal::Full => Arc::clone(&server.refusal),
                Refusal::WatchFailed(reason) => server
                    .notifier
                    .protocol()
                    .render_error(&reason)
                    .into_bytes()
                    .into(),
            };
            return Either::Left(Box::pin(async move {
                say_goodbye(&stream, &line, &server).await;
            }) as Pin<Box<dyn Future<Output = ()> + Send>>);
        }
    };
    let seen = subscription.seen_at_start();
    Either::Right(serving(stream, Lines, seen, slot, subscription, server))
}

/// An admitted subscriber's life: served in `framing`, owed every change
/// after `seen` (see [`connection::serve_framed`]), its slot freed and its
/// end reported once it is over.
pub(crate) fn serving<S: Socket, F: Framing>(
    stream: S,
    framing: F,
    seen: u64,
    slot: OwnedSemaphorePermit,
    subscription: Subscription,
    server: Arc<ServerState>,
) -> impl Future<Output = ()> + Send {
    server.config.console.say(ConsoleEvent::SubscriberConnected);
    let serving = connection::serve_framed(
        stream,
        framing,
        seen,
        subscription,
        server.config.write_timeout,
        server.shutdown.clone(),
    );
    // `map` rather than an `async` block awaiting `serving`: a block would
    // hold the future twice (captured, then pinned for the await).
    serving.map(move |ending| {
        // The slot is freed only once the connection is over.
        drop(slot);
        let console = &server.config.console;
        match ending {
            Ending::TooSlow => console.say(ConsoleEvent::SubscriberTooSlow {
                timeout_ms: server.config.write_timeout.as_millis() as u64,
            }),
            Ending::Failed(error) => report_failure(&error, console),
            Ending::PeerClosed | Ending::Shutdown => {}
        }
        console.say(ConsoleEvent::SubscriberDisconnected);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// An IPv6 address reserved for documentation: no machine has it, so
    /// binding it fails as binding `::1` does where IPv6 is turned off.
    const ABSENT_IPV6: IpAddr =
        IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_locks_holder_is_its_whole_pid_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sock.lock");
        for (held, holder) in [
            ("42\n", Some(42)),
            ("42", None),
            ("", None),
            ("junk\n", None),
            ("99999999999999999999\n", None),
        ] {
            std::fs::write(&path, held).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(lock_holder(&file), holder, "{held:?}");
        }
    }

    #[tokio::test]
    async fn an_optional_ipv6_address_that_cannot_be_bound_is_skipped() {
        let listeners = bind_all(&[LOOPBACK, ABSENT_IPV6], 0, true)
            .unwrap_or_else(|error| panic!("expected the IPv6 address skipped, got {error}"));
        assert_eq!(listeners.len(), 1, "expected only the IPv4 listener");
    }

    #[tokio::test]
    async fn an_ipv6_address_that_cannot_be_bound_is_an_error_unless_optional() {
        match bind_all(&[LOOPBACK, ABSENT_IPV6], 0, false) {
            Err(BindError::Io(addr, _)) => assert!(addr.starts_with("[2001:db8::1]:"), "{addr}"),
            other => panic!("expected an error naming [2001:db8::1], got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_optional_ipv6_address_taken_by_another_server_is_an_error() {
        let taken = std::net::TcpListener::bind("[::1]:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let ipv6_loopback = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        // 127.0.0.1 is tried first, and another test may, by chance, hold
        // that port there: either way the answer is "in use", never a skip.
        match bind_all(&[LOOPBACK, ipv6_loopback], port, true) {
            Err(BindError::AddressInUse(_)) => {}
            other => panic!("expected port {port} reported in use, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_ipv4_address_that_cannot_be_bound_is_an_error_even_when_ipv6_is_optional() {
        let absent_ipv4 = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        match bind_all(&[absent_ipv4], 0, true) {
            Err(BindError::Io(addr, _)) => assert_eq!(addr, "192.0.2.1:0"),
            other => panic!("expected an error naming 192.0.2.1:0, got {other:?}"),
        }
    }

    /// A console whose events the test reads from the returned receiver.
    fn recording_console() -> (Console, std::sync::mpsc::Receiver<ConsoleEvent>) {
        let (events, heard) = std::sync::mpsc::channel();
        let events = std::sync::Mutex::new(events);
        let console = Console::new(move |event| {
            let _ = events.lock().unwrap().send(event.clone());
        });
        (console, heard)
    }

    fn server_for_one(notifier: Notifier, console: Console) -> Arc<ServerState> {
        Arc::new(ServerState {
            site: Site::new(&notifier),
            slots: Arc::new(Semaphore::new(1)),
            notifier,
            config: Config {
                console,
                ..Config::default()
            },
            refusal: Arc::from(&b""[..]),
            shutdown: CancellationToken::new(),
            subscribers: TaskTracker::new(),
        })
    }

    fn socket_in_a_temp_dir() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("watcher.sock");
        let lock = dir.path().join("watcher.sock.lock");
        (dir, socket, lock)
    }

    #[test]
    fn a_second_lock_on_a_socket_path_is_refused_naming_the_holder() {
        let (_dir, socket, lock) = socket_in_a_temp_dir();
        let held = SocketLock::take(&socket).expect("the first lock");
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            format!("{}\n", std::process::id())
        );
        match SocketLock::take(&socket) {
            Err(BindError::Locked {
                socket: locked,
                lock: lock_path,
                holder,
            }) => {
                assert_eq!((locked, lock_path), (socket.clone(), lock.clone()));
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected the path locked, got {other:?}"),
        }
        drop(held);
        assert!(!lock.exists(), "the lock file is removed with the lock");
        SocketLock::take(&socket).expect("the lock, once released");
    }

    #[test]
    fn a_lock_file_left_by_a_crash_is_taken_over() {
        let (_dir, socket, lock) = socket_in_a_temp_dir();
        // Longer than any pid: ours replaces it whole.
        std::fs::write(&lock, "99999999\n").unwrap();
        let held = SocketLock::take(&socket).expect("an unlocked file is taken");
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            format!("{}\n", std::process::id()),
            "the old holder's pid replaced by ours"
        );
        drop(held);
        std::fs::write(&lock, "").unwrap();
        SocketLock::take(&socket).expect("an empty file is taken: a crash at its start");
    }

    #[test]
    fn a_file_of_another_program_at_the_lock_path_is_left_alone() {
        let (_dir, socket, lock) = socket_in_a_temp_dir();
        for held in ["12345 and more\n", "data", &"1".repeat(40)] {
            std::fs::write(&lock, held).unwrap();
            match SocketLock::take(&socket) {
                Err(BindError::Io(path, error)) => {
                    assert_eq!(path, lock.display().to_string());
                    assert_eq!(
                        error.to_string(),
                        "it holds something other than a server's pid; it is left alone"
                    );
                }
                other => panic!("expected the file left alone, got {other:?}"),
            }
            assert_eq!(std::fs::read_to_string(&lock).unwrap(), held);
        }
    }

    /// A file system may give a freed inode number to the next file made:
    /// the socket's device and inode alone could then name a regular file
    /// put at the path after the socket was removed.
    #[test]
    fn a_socket_file_removes_at_drop_only_a_socket_though_the_inode_matches() {
        let (_dir, socket, _lock) = socket_in_a_temp_dir();
        std::fs::write(&socket, "someone else's").unwrap();
        let file = SocketFile {
            path: socket.clone(),
            made: FileIdentity::at(&socket),
            _lock: SocketLock::take(&socket).unwrap(),
        };
        drop(file);
        assert_eq!(std::fs::read_to_string(&socket).unwrap(), "someone else's");
    }

    #[test]
    fn a_lock_file_replaced_while_held_is_left_to_its_owner() {
        let (_dir, socket, lock) = socket_in_a_temp_dir();
        let held = SocketLock::take(&socket).unwrap();
        std::fs::remove_file(&lock).unwrap();
        std::fs::write(&lock, "someone else's").unwrap();
        drop(held);
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), "someone else's");
    }

    #[test]
    fn a_lock_path_that_is_not_a_regular_file_or_is_a_symlink_is_an_error() {
        let (dir, socket, lock) = socket_in_a_temp_dir();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &lock,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        match SocketLock::take(&socket) {
            Err(error @ BindError::Io(..)) => assert_eq!(
                error.to_string(),
                format!(
                    "cannot listen on {}: it is not a regular file",
                    lock.display()
                )
            ),
            other => panic!("expected a FIFO refused, got {other:?}"),
        }
        std::fs::remove_file(&lock).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &lock).unwrap();
        match SocketLock::take(&socket) {
            Err(BindError::Io(_, error)) => assert_eq!(error.raw_os_error(), Some(libc::ELOOP)),
            other => panic!("expected a symlink refused, got {other:?}"),
        }
    }

    #[test]
    fn a_locked_path_says_which_server_holds_it() {
        let locked = |holder| BindError::Locked {
            socket: "/run/w.sock".into(),
            lock: "/run/w.sock.lock".into(),
            holder,
        };
        assert_eq!(
            locked(Some(42)).to_string(),
            "cannot listen on /run/w.sock: another server (pid 42) holds its lock, /run/w.sock.lock"
        );
        assert_eq!(
            locked(None).to_string(),
            "cannot listen on /run/w.sock: another server holds its lock, /run/w.sock.lock"
        );
    }

    #[test]
    fn a_socket_failing_as_peers_leave_is_not_reported_and_any_other_failure_is() {
        let (console, heard) = recording_console();
        for routine in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::NotConnected,
            io::ErrorKind::TimedOut,
            io::ErrorKind::HostUnreachable,
            io::ErrorKind::NetworkUnreachable,
            io::ErrorKind::NetworkDown,
        ] {
            report_failure(&routine.into(), &console);
        }
        assert_eq!(heard.try_iter().collect::<Vec<_>>(), []);
        report_failure(&io::Error::other("a bad descriptor"), &console);
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [ConsoleEvent::SubscriberFailed("a bad descriptor".into())]
        );
    }

    #[tokio::test]
    async fn a_subscriber_whose_end_of_file_cannot_be_sent_is_reported_then_disconnected() {
        use crate::connection::testing::SharedSocket;
        let (_directory, notifier) =
            crate::notifier::testing::notifier_on_a_temp_file(crate::protocol::Protocol::Text);
        let (console, heard) = recording_console();
        let server = server_for_one(notifier, console);
        let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
        let socket = SharedSocket {
            shutdown_fails_with: Some(io::ErrorKind::InvalidInput),
            ..SharedSocket::new(&Arc::new(ours))
        };
        let task = tokio::spawn(subscriber(socket, Arc::clone(&server)));
        let mut greeting = [0u8; 256];
        let read = tokio::io::AsyncReadExt::read(&mut theirs, &mut greeting)
            .await
            .unwrap();
        assert!(read > 0, "expected the greeting, got end of file");
        server.shutdown.cancel();
        server.notifier.wake_all();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the subscriber's task should end at shutdown")
            .unwrap();
        let reason = io::Error::from(io::ErrorKind::InvalidInput).to_string();
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [
                ConsoleEvent::SubscriberConnected,
                ConsoleEvent::SubscriberFailed(reason),
                ConsoleEvent::SubscriberDisconnected,
            ]
        );
    }

    #[tokio::test]
    async fn a_subscribers_socket_sends_at_once_and_its_send_buffer_is_capped() {
        let listener = Listener::Tcp(TcpListener::bind((LOOPBACK, 0)).await.unwrap());
        let _peer = tokio::net::TcpStream::connect(listener.tcp_addr().unwrap())
            .await
            .unwrap();
        let accepted = listener.accept().await.unwrap();
        accepted.set_subscriber_options().unwrap();
        let Accepted::Tcp(stream) = accepted else {
            panic!("expected a TCP connection, got {accepted:?}");
        };
        assert!(stream.nodelay().unwrap(), "expected TCP_NODELAY set");
        // Linux doubles what is asked for, for its bookkeeping.
        let size = SockRef::from(&stream).send_buffer_size().unwrap();
        assert!(
            (SUBSCRIBER_SEND_BUFFER..=2 * SUBSCRIBER_SEND_BUFFER).contains(&size),
            "expected a send buffer of about {SUBSCRIBER_SEND_BUFFER} bytes, got {size}"
        );
    }

    #[test]
    fn capping_the_send_buffer_of_something_that_is_not_a_socket_is_an_error() {
        let file = tempfile::tempfile().unwrap();
        let error = limit_send_buffer(&file).expect_err("a file has no send buffer");
        assert_eq!(error.raw_os_error(), Some(libc::ENOTSOCK));
    }

    #[test]
    fn a_failure_to_accept_is_told_once_then_counted_and_the_count_told_a_second_later() {
        let (console, heard) = recording_console();
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        let mut failures = AcceptFailures::default();
        failures.failed("Too many open files".into(), at(0), &console);
        assert_eq!(failures.count_due(), None, "nothing to count yet");
        failures.failed("Too many open files".into(), at(10), &console);
        failures.failed("Too many open files".into(), at(30), &console);
        assert_eq!(
            failures.count_due(),
            Some(at(1_000)),
            "the count is due a second after the failure was told"
        );
        failures.tell_count(at(1_000), &console);
        assert_eq!(failures.count_due(), None, "the count was told");
        failures.tell_count(at(1_001), &console);
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [
                ConsoleEvent::AcceptFailed("Too many open files".into()),
                ConsoleEvent::Repeated {
                    event: Box::new(ConsoleEvent::AcceptFailed("Too many open files".into())),
                    times: 2
                },
            ]
        );
    }

    #[test]
    fn another_failure_to_accept_is_told_at_once_after_the_count_of_the_last() {
        let (console, heard) = recording_console();
        let now = Instant::now();
        let mut failures = AcceptFailures::default();
        failures.failed("Too many open files".into(), now, &console);
        failures.failed("Too many open files".into(), now, &console);
        failures.succeeded();
        failures.failed("Too many open files".into(), now, &console);
        failures.failed("Connection aborted".into(), now, &console);
        assert_eq!(
            heard.try_iter().collect::<Vec<_>>(),
            [
                ConsoleEvent::AcceptFailed("Too many open files".into()),
                ConsoleEvent::Repeated {
                    event: Box::new(ConsoleEvent::AcceptFailed("Too many open files".into())),
                    times: 2
                },
                ConsoleEvent::AcceptFailed("Connection aborted".into()),
            ]
        );
    }

    #[test]
    fn the_pause_after_a_failure_to_accept_doubles_up_to_a_second_and_starts_again_after_a_success()
    {
        let console = Console::silent();
        let now = Instant::now();
        let mut failures = AcceptFailures::default();
        let mut pauses = Vec::new();
        for _ in 0..9 {
            pauses.push(failures.failed("EMFILE".into(), now, &console).as_millis());
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1_000, 1_000]);
        failures.succeeded();
        assert_eq!(
            failures.failed("EMFILE".into(), now, &console),
            FIRST_ACCEPT_PAUSE
        );
    }

    #[test]
    fn the_room_for_subscribers_is_the_open_file_limit_less_the_files_open_and_the_spares() {
        assert_eq!(
            Room::new(64, 13).subscribers,
            64 - 13 - SPARE_FILES as usize
        );
        assert_eq!(Room::new(20, 13).subscribers, 0, "no room at all");
        assert_eq!(Room::new(10, 13).subscribers, 0, "more open than the limit");
        assert!(
            Room::new(u64::MAX, 13).subscribers > 1 << 30,
            "no limit (RLIM_INFINITY) leaves room for any number asked"
        );
    }

    #[test]
    fn this_process_has_its_standard_streams_among_its_open_files() {
        let open = open_files().unwrap();
        assert!(
            open >= 3,
            "expected at least stdin, stdout, stderr, got {open}"
        );
    }

    /// tokio keeps each task in a cell aligned to 128 bytes: 256 bytes for
    /// a future of up to about 145 bytes (measured by spawning futures of
    /// growing size under a counting allocator), 384 past it. An idle
    /// subscriber's ~1 KiB (BENCHMARKS.md) counts on the smaller cell; a
    /// field added to the connection's state can cost 128 bytes a
    /// subscriber without anyone noticing, except here.
    #[tokio::test]
    async fn an_idle_subscribers_task_fits_tokios_256_byte_cell() {
        let (_directory, notifier) =
            crate::notifier::testing::notifier_on_a_temp_file(crate::protocol::Protocol::Json);
        let server = server_for_one(notifier, Console::silent());
        let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let _peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();

        // What `accept_loop` hands to tokio: the subscriber, tracked.
        let task = server
            .subscribers
            .track_future(subscriber(stream, Arc::clone(&server)));
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= 144,
            "expected a subscriber's task future of at most 144 bytes, got {size}"
        );
    }
}
