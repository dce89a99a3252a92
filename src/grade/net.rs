//! Where the program under test listens, and one connection to it: the
//! grader's network vocabulary, used by every other part of the grader.
//!
//! [`Address`] is a TCP port on the loopback interface or a Unix socket's
//! path; [`Stream`] is one connection of either kind, read with a
//! deadline. The ports the grader hands out are chosen by [`free_port`],
//! from a block of its own (see `PortBlock`), so that two graders running
//! at once never choose the same one.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};

use crate::server::DEFAULT_PORT;

/// Where the book's step-2 server listens.
pub const DEFAULT_SOCKET: &str = "/tmp/watcher.sock";

/// TCP or a Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP on the loopback interface (steps 1 and 3).
    Tcp,
    /// A Unix socket (step 2).
    Unix,
}

impl Transport {
    /// Where the book's programs listen on this transport: port 60300, or
    /// `/tmp/watcher.sock`.
    pub fn books_address(self) -> Address {
        match self {
            Transport::Tcp => Address::Tcp(DEFAULT_PORT),
            Transport::Unix => Address::Unix(PathBuf::from(DEFAULT_SOCKET)),
        }
    }

    /// The placeholder that names an address of this kind in a command.
    pub fn placeholder(self) -> &'static str {
        match self {
            Transport::Tcp => "{port}",
            Transport::Unix => "{socket}",
        }
    }

    /// The environment variable that carries an address of this kind.
    pub fn variable(self) -> &'static str {
        match self {
            Transport::Tcp => "PORT",
            Transport::Unix => "SOCKET",
        }
    }
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

/// How long a TCP connection may take: long enough for a lost opening
/// packet to be sent again (after 1 s, on Linux), which a loaded machine
/// may need. Only a server that stops taking connections makes the grader
/// wait this long; one that is not there refuses at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Address {
    /// Connects to it. Over TCP, tries 127.0.0.1 then ::1, since a program
    /// may listen on either for `localhost`; if neither takes the
    /// connection, the error is the one that says more than "refused".
    pub fn connect(&self) -> io::Result<Stream> {
        match self {
            Address::Tcp(port) => {
                let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, *port));
                let connect = |addr| {
                    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).and_then(not_to_itself)
                };
                match connect(v4) {
                    Ok(stream) => Ok(Stream::Tcp(stream)),
                    Err(on_v4) => match connect(v6) {
                        Ok(stream) => Ok(Stream::Tcp(stream)),
                        Err(on_v6) => Err(more_telling(on_v4, on_v6)),
                    },
                }
            }
            Address::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        }
    }

    /// Connects with the smallest receive buffer the OS allows, set before
    /// the connection so that the window the server sees is small from the
    /// start: a subscriber that never reads then fills its socket as soon
    /// as possible. (A Unix socket has no such window: a plain connection.)
    pub fn connect_with_small_buffer(&self) -> io::Result<Stream> {
        let Address::Tcp(port) = self else {
            return self.connect();
        };
        let connect = |addr: SocketAddr| -> io::Result<TcpStream> {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            // The OS rounds this up to its minimum (about 2 KiB on Linux).
            socket.set_recv_buffer_size(1)?;
            socket.connect_timeout(&addr.into(), CONNECT_TIMEOUT)?;
            not_to_itself(socket.into())
        };
        connect(SocketAddr::from((Ipv4Addr::LOCALHOST, *port)))
            .or_else(|_| connect(SocketAddr::from((Ipv6Addr::LOCALHOST, *port))))
            .map(Stream::Tcp)
    }

    /// Whether something accepts connections there now.
    pub fn is_answering(&self) -> bool {
        self.connect().is_ok()
    }
}

/// `stream`, unless it is connected to itself (see
/// [`crate::client::refuse_itself`]). A grader that asks again and again
/// whether a program listens on 60300 meets this about once in 14,000
/// tries, which the spec suite reached once in a few runs.
fn not_to_itself(stream: TcpStream) -> io::Result<TcpStream> {
    crate::client::refuse_itself(socket2::SockRef::from(&stream))?;
    Ok(stream)
}

/// Of the errors of a connection to 127.0.0.1 and to ::1, the one that
/// says more: the first, unless it is a plain "refused".
fn more_telling(on_v4: io::Error, on_v6: io::Error) -> io::Error {
    if on_v4.kind() == io::ErrorKind::ConnectionRefused {
        on_v6
    } else {
        on_v4
    }
}

/// A connected socket of either kind.
#[derive(Debug)]
pub enum Stream {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix socket.
    Unix(UnixStream),
}

impl Stream {
    /// Reads what has come, waiting at most `within` (never "forever": a
    /// zero wait is taken as a millisecond).
    pub fn read_within(&mut self, buffer: &mut [u8], within: Duration) -> io::Result<usize> {
        // A zero timeout means "block forever" to the OS: never ask for it.
        let within = Some(within.max(Duration::from_millis(1)));
        match self {
            Stream::Tcp(stream) => stream.set_read_timeout(within)?,
            Stream::Unix(stream) => stream.set_read_timeout(within)?,
        }
        self.read(buffer)
    }

    /// Closes both directions, as the book's fake service does when it is
    /// done.
    pub fn close(&self) {
        // Closing a socket the peer has already closed is no news.
        let _ = match self {
            Stream::Tcp(stream) => stream.shutdown(Shutdown::Both),
            Stream::Unix(stream) => stream.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buffer),
            Stream::Unix(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(bytes),
            Stream::Unix(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TCP port that is free now, chosen below the range the OS hands out
/// for port 0 and outgoing connections, so that nothing else on the
/// machine is given it between this choice and the server's bind; and from
/// this process's own block of that range (see `PortBlock`), so that no
/// other grader chooses it meanwhile.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<HandedOut> = Mutex::new(HandedOut::new());
    let block = PortBlock::ours();
    for _ in 0..block.len {
        let port = block.first + block.next.fetch_add(1, Ordering::Relaxed) % block.len;
        // Never the book's (in the block where the OS's range starts above
        // it), so never among those handed out, nor handed out again.
        if port == DEFAULT_PORT {
            continue;
        }
        let fresh = HANDED_OUT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hand_out(port, Instant::now());
        if fresh && is_free(port) {
            return port;
        }
    }
    // Every port of the block was handed out lately (the suite grades
    // dozens of programs at once, twelve starts each): the one handed out
    // longest ago that is free now. Not one the OS picks, as before: that
    // is in the range it gives outgoing connections and other programs'
    // port 0, where nothing keeps them from taking it meanwhile, and the
    // grader then talks to the wrong program (seen in the suite: a correct
    // submission's subscriber closed by another program, and three
    // failures of a program that did nothing wrong).
    let reused = HANDED_OUT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .hand_out_again(Instant::now(), is_free);
    // Nothing in the block is free at all: only the OS can find one.
    reused.unwrap_or_else(|| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_or(DEFAULT_PORT, |addr| addr.port())
    })
}

/// Claims this process's block of ports now (see `PortBlock`), if it has
/// not yet, from the calling thread's network namespace. Called before a
/// thread leaves the machine's namespace: claimed from a private one, the
/// claim would guard nothing where other graders run.
pub fn claim_port_block() {
    PortBlock::ours();
}

/// The first port of this process's block (claiming it if need be).
#[cfg(test)]
pub(crate) fn port_block_first() -> u16 {
    PortBlock::ours().first
}

/// How long a port this process handed out is not handed out again. Until
/// the program it was for has bound it, a port looks free; a block of a
/// couple of hundred ports goes round in seconds when the suite grades
/// dozens of programs at once, and a program may take its whole start
/// timeout to bind (30 s in the specs, on a loaded machine). Handed out
/// twice, one program fails to start and its grader talks to the other's:
/// seen in .ci/run at a load average of 20.
const HANDED_OUT_FOR: Duration = Duration::from_secs(60);

/// The ports this process handed out lately, and when.
struct HandedOut {
    at: Vec<(u16, Instant)>,
}

impl HandedOut {
    const fn new() -> Self {
        HandedOut { at: Vec::new() }
    }

    /// Whether `port` may be handed out at `now` (it was not within
    /// [`HANDED_OUT_FOR`]); if so, it is taken as handed out.
    fn hand_out(&mut self, port: u16, now: Instant) -> bool {
        self.at
            .retain(|(_, when)| now.saturating_duration_since(*when) < HANDED_OUT_FOR);
        if self.at.iter().any(|(held, _)| *held == port) {
            return false;
        }
        self.at.push((port, now));
        true
    }

    /// The port handed out longest ago that `usable` takes, handed out
    /// again at `now`: for when every port has been handed out lately.
    fn hand_out_again(&mut self, now: Instant, usable: impl Fn(u16) -> bool) -> Option<u16> {
        self.at.sort_by_key(|(_, when)| *when);
        let (port, when) = self.at.iter_mut().find(|(port, _)| usable(*port))?;
        *when = now;
        Some(*port)
    }
}

/// Whether a server could listen on `port` now, on both loopback
/// addresses (on 127.0.0.1 alone where the machine has no IPv6).
fn is_free(port: u16) -> bool {
    let free_v4 = can_bind((Ipv4Addr::LOCALHOST, port).into());
    let free_v6 =
        can_bind((Ipv6Addr::LOCALHOST, port).into()) || !can_bind((Ipv6Addr::LOCALHOST, 0).into());
    free_v4 && free_v6
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
    /// This process's block, claimed on first use.
    fn ours() -> &'static PortBlock {
        static BLOCK: OnceLock<PortBlock> = OnceLock::new();
        BLOCK.get_or_init(PortBlock::claim)
    }

    /// Claims a block: the first, from one chosen by the process's id,
    /// that no other process has claimed and where nothing listens (see
    /// [`PortBlock::is_quiet`]); else the first unclaimed one; else, when
    /// every block is claimed, the chosen one, shared.
    fn claim() -> PortBlock {
        let (low, high) = below_ephemeral_range(
            &std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default(),
        );
        let len = block_len(low, high);
        let chosen = chosen_block(std::process::id());
        let first_port = |tried: u16| block_first(low, len, chosen, tried);
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
        // does not choose the ports the last one has just let go of (any
        // number will do: `free_port` takes it modulo the block's length).
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        PortBlock {
            first,
            len,
            next: AtomicU16::new(nanos as u16),
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

/// How long each of the [`PORT_BLOCKS`] blocks of the ports from `low` to
/// `high` is (one port at least).
fn block_len(low: u16, high: u16) -> u16 {
    ((high - low) / PORT_BLOCKS).max(1)
}

/// The block a process with id `pid` tries first.
fn chosen_block(pid: u32) -> u16 {
    (pid % u32::from(PORT_BLOCKS)) as u16
}

/// The first port of the block tried `tried`-th by a process that chose
/// block `chosen`: the blocks after the chosen one, round the range.
fn block_first(low: u16, len: u16, chosen: u16, tried: u16) -> u16 {
    low + (chosen + tried) % PORT_BLOCKS * len
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

/// The ports from 20000 up to the start of the OS's ephemeral range, given
/// as Linux writes it in `/proc/sys/net/ipv4/ip_local_port_range` (32768 if
/// it cannot be read); just below that range when it starts lower.
fn below_ephemeral_range(proc_range: &str) -> (u16, u16) {
    let ephemeral_low = proc_range
        .split_whitespace()
        .next()
        .and_then(|low| low.parse::<u16>().ok())
        .unwrap_or(32768);
    // From 20000 up (12,768 ports below Linux's usual 32768); where the
    // range starts lower, its thousand ports below; never the privileged
    // ones (below 1024).
    let low = ephemeral_low.saturating_sub(1000).clamp(1024, 20_000);
    (low, ephemeral_low.max(1025))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ports_handed_out_lie_below_the_oss_own() {
        assert_eq!(below_ephemeral_range("32768\t60999\n"), (20_000, 32768));
        assert_eq!(below_ephemeral_range(""), (20_000, 32768));
        assert_eq!(below_ephemeral_range("21001 60999"), (20_000, 21001));
        assert_eq!(below_ephemeral_range("21000 60999"), (20_000, 21000));
        assert_eq!(below_ephemeral_range("10000 60999"), (9000, 10000));
        assert_eq!(below_ephemeral_range("1500 60999"), (1024, 1500));
        assert_eq!(below_ephemeral_range("80 60999"), (1024, 1025));
    }

    /// Taken by the tests that hold ports of this process's block or check
    /// that a port just handed out can be bound: run at once, one holds
    /// the port the other was handed (seen once in a few hundred runs).
    static BLOCK: Mutex<()> = Mutex::new(());

    fn block_to_ourselves() -> std::sync::MutexGuard<'static, ()> {
        BLOCK.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A socket bound to a port, then connected to that same port, is
    /// connected to itself: what the OS arranges by chance when a
    /// connection is given the port it goes to.
    fn connected_to_itself() -> TcpStream {
        // Without SO_REUSEADDR, as a plain connection is made.
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        let own = socket.local_addr().unwrap();
        socket.connect(&own).unwrap();
        socket.into()
    }

    #[test]
    fn a_connection_to_itself_is_refused_and_releases_its_port() {
        let itself = connected_to_itself();
        let port = itself.local_addr().unwrap().port();
        assert_eq!(itself.peer_addr().unwrap(), itself.local_addr().unwrap());
        let error = not_to_itself(itself).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert!(error.to_string().contains("to itself"), "{error}");
        // Dropped with the error: a server can listen there now.
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }

    #[test]
    fn a_connection_to_a_listener_is_kept() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let kept = not_to_itself(stream).unwrap();
        assert_eq!(kept.peer_addr().unwrap(), listener.local_addr().unwrap());
    }

    #[test]
    fn when_every_port_was_handed_out_lately_the_oldest_usable_one_goes_again() {
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut handed_out = HandedOut::new();
        for (port, secs) in [(20_003, 3), (20_001, 1), (20_002, 2), (20_004, 4)] {
            assert!(handed_out.hand_out(port, at(secs)));
        }
        // 20_001 is the oldest, but taken: the next oldest goes.
        let usable = |port| port != 20_001;
        assert_eq!(handed_out.hand_out_again(at(5), usable), Some(20_002));
        // Handed out again, it is now the newest.
        assert_eq!(handed_out.hand_out_again(at(6), usable), Some(20_003));
        assert_eq!(handed_out.hand_out_again(at(7), usable), Some(20_004));
        assert_eq!(handed_out.hand_out_again(at(8), usable), Some(20_002));
        assert!(
            !handed_out.hand_out(20_002, at(9)),
            "still handed out lately"
        );
        assert_eq!(handed_out.hand_out_again(at(10), |_| false), None);
    }

    #[test]
    fn a_free_port_is_free_and_never_the_books() {
        let _block = block_to_ourselves();
        let block = PortBlock::ours();
        for _ in 0..5 {
            let port = free_port();
            assert!(
                (block.first..block.first + block.len).contains(&port),
                "{port} is not in this process's block"
            );
            assert_ne!(port, DEFAULT_PORT);
            assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
        }
    }

    #[test]
    fn a_port_something_listens_on_cannot_be_bound() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = listener.local_addr().unwrap();
        assert!(!can_bind(taken));
        drop(listener);
        let released = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let free = released.local_addr().unwrap();
        drop(released);
        assert!(can_bind(free));
    }

    #[test]
    fn an_address_answers_only_while_something_listens() {
        let check = || {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let address = Address::Tcp(listener.local_addr().unwrap().port());
            assert!(address.is_answering());
            assert!(address.connect_with_small_buffer().is_ok());
            drop(listener);
            // Dropping our copy of the listener does not always close it at
            // once: a test on another thread that starts a program forks, and
            // the child holds a copy of every open socket until it execs,
            // which on a loaded machine can take a while (seen once in 19
            // runs of the suite). So the port must stop answering soon, not
            // at once.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while address.is_answering() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{address} still answers"
                );
                std::thread::yield_now();
            }
            assert!(!address.is_answering());
            assert!(address.connect_with_small_buffer().is_err());
        };
        // In a network of its own where the machine allows it: on the
        // machine's, another program may listen on the same port on ::1,
        // or take it once it is let go (seen once in 30 runs beside the
        // whole suite).
        if crate::grade::isolation::private_networks_work() {
            std::thread::spawn(move || {
                crate::grade::isolation::enter_private_network().unwrap();
                check();
            })
            .join()
            .unwrap();
        } else {
            check();
        }
    }

    #[test]
    fn transports_name_their_books_address_placeholder_and_variable() {
        assert_eq!(Transport::Tcp.books_address(), Address::Tcp(60300));
        assert_eq!(
            Transport::Unix.books_address(),
            Address::Unix(PathBuf::from("/tmp/watcher.sock"))
        );
        assert_eq!(Transport::Tcp.placeholder(), "{port}");
        assert_eq!(Transport::Unix.placeholder(), "{socket}");
        assert_eq!(Transport::Tcp.variable(), "PORT");
        assert_eq!(Transport::Unix.variable(), "SOCKET");
        assert_eq!(Address::Tcp(5).to_string(), "port 5");
        assert_eq!(Transport::Unix.to_string(), "a Unix socket");
    }

    #[test]
    fn of_two_failed_connections_the_error_that_says_more_is_kept() {
        let refused = |which| io::Error::new(io::ErrorKind::ConnectionRefused, which);
        let timed_out = |which| io::Error::new(io::ErrorKind::TimedOut, which);
        let kept = |v4, v6| more_telling(v4, v6).to_string();
        assert_eq!(kept(refused("v4"), refused("v6")), "v6");
        assert_eq!(kept(refused("v4"), timed_out("v6")), "v6");
        assert_eq!(kept(timed_out("v4"), refused("v6")), "v4");
    }

    #[test]
    fn a_port_is_free_only_where_nothing_listens_on_either_loopback() {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        assert!(!is_free(v4.local_addr().unwrap().port()));
        if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
            assert!(!is_free(v6.local_addr().unwrap().port()));
        }
        let released = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = released.local_addr().unwrap().port();
        drop(released);
        assert!(is_free(port));
    }

    #[test]
    fn a_port_of_the_block_that_something_holds_is_passed_over() {
        let _block = block_to_ourselves();
        let block = PortBlock::ours();
        // The next ports free_port will look at (other tests may take
        // some of them meanwhile: they are passed over either way).
        let next = block.next.load(Ordering::Relaxed);
        let held: Vec<TcpListener> = (0..20)
            .map(|step| block.first + next.wrapping_add(step) % block.len)
            .filter_map(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).ok())
            .collect();
        assert!(held.len() >= 10, "{} of 20 held", held.len());
        let port = free_port();
        assert!(
            held.iter()
                .all(|listener| listener.local_addr().unwrap().port() != port),
            "{port} is held"
        );
    }

    #[test]
    fn a_port_handed_out_is_not_handed_out_again_for_a_minute() {
        let start = Instant::now();
        let mut handed_out = HandedOut::new();
        assert!(handed_out.hand_out(30_000, start));
        assert!(handed_out.hand_out(30_001, start), "another port");
        let later = start + HANDED_OUT_FOR - Duration::from_millis(1);
        assert!(!handed_out.hand_out(30_000, later), "still held");
        assert!(
            handed_out.hand_out(30_000, start + HANDED_OUT_FOR),
            "a minute on"
        );
        assert!(
            !handed_out.hand_out(30_000, start + HANDED_OUT_FOR),
            "held again"
        );
        assert_eq!(
            handed_out.at.len(),
            1,
            "what is over a minute old is forgotten"
        );
    }

    #[test]
    fn free_ports_come_in_turn_from_this_processs_block() {
        let _block = block_to_ourselves();
        let block = PortBlock::ours();
        let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
        for port in &ports {
            assert!(
                (block.first..block.first + block.len).contains(port),
                "{port} in {}..{}",
                block.first,
                block.first + block.len
            );
        }
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{ports:?}");
    }

    #[test]
    fn the_range_is_cut_into_blocks_taken_round_from_the_chosen_one() {
        assert_eq!(block_len(20_000, 32_768), 199);
        assert_eq!(block_len(1024, 1025), 1);
        assert_eq!(chosen_block(130), 2);
        assert_eq!(chosen_block(63), 63);
        assert_eq!(block_first(20_000, 199, 5, 0), 20_995);
        assert_eq!(block_first(20_000, 199, 5, 2), 21_393);
        assert_eq!(block_first(20_000, 199, 63, 1), 20_000);
        assert_eq!(block_first(20_000, 199, 63, 2), 20_199);
    }

    #[test]
    fn a_block_is_quiet_when_nothing_listens_in_it_nor_in_the_block_below() {
        // In a network of its own, nothing but this test listens.
        crate::grade::isolation::in_a_network_of_its_own(|| {
            let _listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 30_000)).unwrap();
            assert!(!PortBlock::is_quiet(30_000, 10, 20_000));
            assert!(!PortBlock::is_quiet(30_010, 10, 20_000), "the block below");
            assert!(!PortBlock::is_quiet(29_991, 10, 20_000));
            assert!(PortBlock::is_quiet(30_011, 10, 20_000));
            assert!(PortBlock::is_quiet(29_990, 10, 20_000));
            assert!(
                PortBlock::is_quiet(30_005, 10, 30_001),
                "not below the range"
            );
        });
    }
}
