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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use tokio::net::{TcpListener, TcpSocket, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Ending, Socket};
use crate::console::{Console, ConsoleEvent};
use crate::notifier::Notifier;

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

/// Raises this process's soft limit on open files to its hard limit.
///
/// Every subscriber is an open socket, and the usual soft limit (1,024) is
/// far below the 10,000 subscribers the server is built for; the hard limit
/// is what an unprivileged process may raise it to. (Setting it when it is
/// already there is harmless, so there is no check.)
pub fn raise_open_file_limit() -> io::Result<()> {
    // SAFETY: `getrlimit` and `setrlimit` only read and write the struct we
    // own and pass; a zeroed `rlimit` is a valid value of it.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A bound listener, TCP or Unix.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix socket listener, with the socket file it removes when dropped.
    Unix(UnixListener, SocketFile),
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
        }
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, _peer) = listener.accept().await?;
                // Notifications are small and latency matters more than
                // packing them: send each at once.
                let _ = stream.set_nodelay(true);
                limit_send_buffer(&stream);
                Ok(Accepted::Tcp(stream))
            }
            Listener::Unix(listener, _) => {
                let (stream, _peer) = listener.accept().await?;
                limit_send_buffer(&stream);
                Ok(Accepted::Unix(stream))
            }
        }
    }

    /// The TCP address, for a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().ok(),
            Listener::Unix(..) => None,
        }
    }
}

/// Sets [`SUBSCRIBER_SEND_BUFFER`] on an accepted socket. A failure only
/// leaves the system's default, so it is not worth refusing the subscriber.
fn limit_send_buffer(socket: &impl AsRawFd) {
    let size = SUBSCRIBER_SEND_BUFFER as libc::c_int;
    // SAFETY: `setsockopt` reads `size_of::<c_int>()` bytes from a live
    // `c_int`; the descriptor belongs to a socket `socket` keeps open.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
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
/// when the server that bound it stops.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
}

impl SocketFile {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Already gone (someone removed it) is fine: the goal is that it is
        // not left behind.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds a Unix socket at `path` (step 2).
///
/// The original fails with "address in use" when a crashed run left its
/// socket file behind. Here a leftover socket file is removed if, and only
/// if, nothing answers on it; a live server's socket is never stolen, and a
/// path that is not a socket is never deleted.
// ANCHOR: bind_unix
pub fn bind_unix(path: impl AsRef<Path>) -> Result<Listener, BindError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(BindError::AddressInUse(shown)),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)
                        .map_err(|error| BindError::Io(shown.clone(), error))?;
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
        },
    ))
}
// ANCHOR_END: bind_unix

/// What every accept loop and subscriber task shares.
struct Shared {
    notifier: Notifier,
    config: Config,
    refusal: Arc<[u8]>,
    /// One permit per subscriber: `try_acquire` failing means the server is
    /// full. The permit moves into the subscriber's task and is released
    /// when the task ends, however it ends.
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    subscribers: TaskTracker,
}

/// Serves subscribers on `listeners` until `shutdown` completes, then closes
/// every connection cleanly and returns.
///
/// Shutdown stops accepting, tells every subscriber's task to end (each sends
/// its end of file), waits up to [`SHUTDOWN_GRACE`] for them, and drops the
/// listeners, which removes a Unix socket file.
pub async fn run(
    listeners: Vec<Listener>,
    notifier: Notifier,
    config: Config,
    shutdown: impl Future<Output = ()>,
) {
    let refusal = notifier
        .protocol()
        .render_error(&format!(
            "the server is full ({} subscribers); try again later.",
            config.max_subscribers
        ))
        .into_bytes()
        .into();
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(config.max_subscribers)),
        notifier,
        config,
        refusal,
        shutdown: CancellationToken::new(),
        subscribers: TaskTracker::new(),
    });
    let mut accept_loops = tokio::task::JoinSet::new();
    for listener in listeners {
        accept_loops.spawn(accept_loop(listener, Arc::clone(&shared)));
    }
    shutdown.await;
    shared.shutdown.cancel();
    // Subscribers wait on their own wake-up, not on the token: wake them.
    shared.notifier.wake_all();
    // The accept loops end on cancellation and drop their listeners.
    while accept_loops.join_next().await.is_some() {}
    shared.subscribers.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, shared.subscribers.wait()).await;
}

// ANCHOR: accept_loop
async fn accept_loop(listener: Listener, shared: Arc<Shared>) {
    // After an accept error (out of file descriptors, most often), wait a
    // little before trying again instead of spinning; double the wait while
    // errors continue, up to a second.
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(Accepted::Tcp(stream)) => {
                shared
                    .subscribers
                    .spawn(subscriber(stream, Arc::clone(&shared)));
            }
            Ok(Accepted::Unix(stream)) => {
                shared
                    .subscribers
                    .spawn(subscriber(stream, Arc::clone(&shared)));
            }
            Err(error) => {
                shared
                    .config
                    .console
                    .say(ConsoleEvent::AcceptFailed(error.to_string()));
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        }
        backoff = Duration::from_millis(10);
    }
}
// ANCHOR_END: accept_loop

/// Writes one last line and closes. Best effort: a peer that does not read
/// is not waited for beyond the write timeout.
async fn say_goodbye<S: Socket>(stream: &S, line: &[u8], shared: &Shared) {
    let written =
        connection::write_all(stream, line, shared.config.write_timeout, &shared.shutdown).await;
    if written.is_ok() {
        stream.shutdown_write();
    }
}

/// One subscriber's task: take a slot, subscribe, serve, report.
///
/// The checks that need no waiting happen before the future is built, and
/// the rare paths (refusing, failing to watch) are boxed, so that the future
/// every connected subscriber keeps is little more than [`connection::serve`]'s.
fn subscriber<S: Socket>(stream: S, shared: Arc<Shared>) -> impl Future<Output = ()> + Send {
    let console = &shared.config.console;
    let Ok(slot) = Arc::clone(&shared.slots).try_acquire_owned() else {
        console.say(ConsoleEvent::SubscriberRefused {
            limit: shared.config.max_subscribers,
        });
        return Either::Left(Box::pin(async move {
            say_goodbye(&stream, &shared.refusal, &shared).await;
        }) as Pin<Box<dyn Future<Output = ()> + Send>>);
    };
    let subscription = match shared.notifier.subscribe() {
        Ok(subscription) => subscription,
        Err(error) => {
            let reason = error.to_string();
            let line = shared.notifier.protocol().render_error(&reason);
            console.say(ConsoleEvent::WatchFailed(reason));
            return Either::Left(Box::pin(async move {
                say_goodbye(&stream, line.as_bytes(), &shared).await;
            }));
        }
    };
    console.say(ConsoleEvent::SubscriberConnected);
    let serving = connection::serve(
        stream,
        subscription,
        shared.config.write_timeout,
        shared.shutdown.clone(),
    );
    // `map` rather than an `async` block awaiting `serving`: a block would
    // hold the future twice (captured, then pinned for the await).
    Either::Right(serving.map(move |ending| {
        // The slot is freed only once the connection is over.
        drop(slot);
        let console = &shared.config.console;
        if let Ending::TooSlow = ending {
            console.say(ConsoleEvent::SubscriberTooSlow {
                timeout_ms: shared.config.write_timeout.as_millis() as u64,
            });
        }
        console.say(ConsoleEvent::SubscriberDisconnected);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 address reserved for documentation: no machine has it, so
    /// binding it fails as binding `::1` does where IPv6 is turned off.
    const ABSENT_IPV6: IpAddr =
        IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

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
        let shared = Arc::new(Shared {
            slots: Arc::new(Semaphore::new(1)),
            notifier,
            config: Config {
                console: Console::silent(),
                ..Config::default()
            },
            refusal: Arc::from(&b""[..]),
            shutdown: CancellationToken::new(),
            subscribers: TaskTracker::new(),
        });
        let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let _peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();

        // What `accept_loop` hands to tokio: the subscriber, tracked.
        let task = shared
            .subscribers
            .track_future(subscriber(stream, Arc::clone(&shared)));
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= 144,
            "expected a subscriber's task future of at most 144 bytes, got {size}"
        );
    }
}
