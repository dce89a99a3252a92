//! The harness's subscribers: every socket read by plain threads, one per
//! core, each with an edge-triggered epoll set; one `read` per ready socket,
//! each line timestamped the moment its read returns.
//!
//! Why not tokio: an async runtime adds a task wake-up and a second, empty
//! read per line. Why not one thread: at 10,000 subscribers a single reading
//! thread could not keep up with net-watcher's two sending threads, so the
//! harness, not the server, decided when the last line arrived (its epoll
//! batches came back full: a backlog), and once the server had finished
//! sending, one core sat idle while the lone reader caught up. Why
//! edge-triggered: level-triggered epoll checks every socket it reported
//! once more on the next wait, one more poll of the socket per line.
//! (io_uring, one system call per batch of receives, was tried too: it was
//! slower here, 50–55 ms for 10,000 subscribers against epoll's 43–45,
//! same build, same deal of subscribers.)

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the reading threads record, shared with the main thread.
#[derive(Default)]
pub struct Arrivals {
    /// When each subscriber read each line since the times were last taken.
    times: Vec<Instant>,
    greeted: usize,
    /// What the main thread waits for; a reading thread wakes it only once
    /// that is reached, not after every batch. (Waking it per batch cost a
    /// cross-CPU wake-up every few lines: CPU the servers need.)
    want: Option<Want>,
}

/// A count the main thread waits for.
#[derive(Clone, Copy)]
pub enum Want {
    Greetings(usize),
    Lines(usize),
}

impl Want {
    fn met(self, arrivals: &Arrivals) -> bool {
        match self {
            Want::Greetings(count) => arrivals.greeted >= count,
            Want::Lines(count) => arrivals.times.len() >= count,
        }
    }
}

type Shared = (Mutex<Arrivals>, Condvar);

/// What the subscribers speak: the server's lines (TCP), or HTTP, where a
/// subscriber asks for `/events` and is told in Server-Sent Events
/// (`--http`, chapter 13).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Speech {
    /// One line per message: the greeting, then a line per change.
    Lines,
    /// `GET /events`, then events, each ended by a blank line: the
    /// response head and `watching` event, then an event per change.
    Events,
}

impl Speech {
    /// What ends one message.
    fn end(self) -> &'static [u8] {
        match self {
            Speech::Lines => b"\n",
            Speech::Events => b"\n\n",
        }
    }
}

/// What a browser sends for its stream.
const EVENTS_REQUEST: &[u8] = b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

pub struct Readers {
    /// One epoll set per reading thread; subscribers are dealt out by
    /// [`spread`].
    epolls: Vec<Arc<OwnedFd>>,
    shared: Arc<Shared>,
    /// The sockets stay open as long as the readers do.
    streams: RefCell<Vec<std::net::TcpStream>>,
    speech: Speech,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Readers {
    /// One reading thread per core, for subscribers that speak `speech`.
    /// With `poll`, a thread that has read a batch sleeps that long before
    /// it looks again (see [`read_loop`]).
    pub fn start(poll: Option<Duration>, speech: Speech) -> Self {
        let shared = Arc::new((Mutex::new(Arrivals::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (mut epolls, mut threads) = (Vec::new(), Vec::new());
        for _ in 0..reading_threads() {
            // SAFETY: epoll_create1 returns a new descriptor we then own, or -1.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            assert!(fd >= 0, "epoll_create1: {}", io::Error::last_os_error());
            // SAFETY: `fd` is a fresh descriptor owned by nobody else.
            let epoll = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
            let (mine, shared, stop) = (Arc::clone(&epoll), Arc::clone(&shared), Arc::clone(&stop));
            threads.push(std::thread::spawn(move || {
                read_loop(&mine, &shared, &stop, poll, speech.end())
            }));
            epolls.push(epoll);
        }
        Readers {
            epolls,
            shared,
            streams: RefCell::new(Vec::new()),
            speech,
            stop,
            threads,
        }
    }

    /// Connects `count` subscribers one after another (never more than one
    /// handshake in flight, so no listen queue can overflow) and hands each
    /// to the reading thread [`spread`] picks.
    pub fn connect(&self, addr: SocketAddr, count: usize) {
        let mut streams = self.streams.borrow_mut();
        for _ in 0..count {
            let mut stream = std::net::TcpStream::connect(addr)
                .unwrap_or_else(|error| panic!("connect to {addr}: {error}"));
            if self.speech == Speech::Events {
                std::io::Write::write_all(&mut stream, EVENTS_REQUEST).unwrap();
            }
            stream.set_nonblocking(true).unwrap();
            // The event carries the descriptor itself: the reading thread
            // reads it and keys its greeted-or-not record by it.
            let fd = stream.as_raw_fd();
            let mut event = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: fd as u64,
            };
            let epoll = &self.epolls[spread(streams.len()) % self.epolls.len()];
            // SAFETY: both descriptors are open; `event` lives for the call.
            let added =
                unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
            assert_eq!(added, 0, "epoll_ctl: {}", io::Error::last_os_error());
            streams.push(stream);
        }
    }

    /// Waits until `want` is met or `limit` passes; says whether it was.
    /// The main thread sleeps until a reading thread sees it met.
    pub fn wait_until(&self, want: Want, limit: Duration) -> bool {
        let (arrivals, signal) = &*self.shared;
        let mut arrivals = arrivals.lock().unwrap();
        arrivals.want = Some(want);
        let (mut arrivals, _) = signal
            .wait_timeout_while(arrivals, limit, |a| !want.met(a))
            .unwrap();
        arrivals.want = None;
        want.met(&arrivals)
    }

    pub fn wait_for(&self, want: Want, limit: Duration, what: &str) {
        assert!(self.wait_until(want, limit), "timed out waiting for {what}");
    }

    /// The times recorded so far, leaving none behind.
    pub fn take_times(&self) -> Vec<Instant> {
        std::mem::take(&mut self.shared.0.lock().unwrap().times)
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            thread.join().unwrap();
        }
    }
}

/// Scrambles the connection number, so that which thread reads a subscriber
/// has nothing to do with the order it connected in, which a server might
/// use (net-watcher's fan-out table does): a pattern shared by both sides
/// would flatter one server's figures by chance. (splitmix64's finaliser.)
// ANCHOR: spread
fn spread(index: usize) -> usize {
    let mut x = index as u64;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) as usize
}
// ANCHOR_END: spread

/// One reading thread per core.
pub fn reading_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Records one batch of lines: a socket's first line is its greeting, the
/// others are notifications. Wakes the main thread if what it waits for is
/// now met.
fn record(shared: &Shared, greeted: &mut Vec<bool>, lines: &[(RawFd, Instant)]) {
    if lines.is_empty() {
        return;
    }
    let (arrivals, signal) = shared;
    let mut arrivals = arrivals.lock().unwrap();
    for &(fd, at) in lines {
        let index = fd as usize;
        if greeted.len() <= index {
            greeted.resize(index + 1, false);
        }
        if greeted[index] {
            arrivals.times.push(at);
        } else {
            greeted[index] = true;
            arrivals.greeted += 1;
        }
    }
    if arrivals.want.is_some_and(|want| want.met(&arrivals)) {
        arrivals.want = None;
        signal.notify_all();
    }
}

/// Adds one `(fd, at)` per message in `bytes`, each ended by `end`.
fn push_lines(lines: &mut Vec<(RawFd, Instant)>, fd: RawFd, bytes: &[u8], at: Instant, end: &[u8]) {
    for _ in memchr::memmem::find_iter(bytes, end) {
        lines.push((fd, at));
    }
}

/// Reads until `stop`. A thread blocked in `epoll_wait` is woken by the
/// next line written to any of its sockets, and on loopback that wake-up is
/// paid for by the writer, inside its `send`: a server writing to thousands
/// of subscribers pays for waking their readers over and over, which it
/// would not if they were on other machines. With `poll`, a thread that has
/// just read a batch (not a full one: then it is behind) sleeps for `poll`
/// instead of waiting in epoll, so lines written meanwhile wake no one; only
/// the first line after a quiet spell does. Each timestamp may then be late
/// by up to `poll` (plus the timer's slack).
fn read_loop(
    epoll: &OwnedFd,
    shared: &Shared,
    stop: &AtomicBool,
    poll: Option<Duration>,
    end: &[u8],
) {
    const BATCH: usize = 1024;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; BATCH];
    let mut greeted = Vec::new();
    let mut lines = Vec::with_capacity(BATCH);
    let mut buffer = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `events` has room for BATCH entries.
        let ready =
            unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, 50) };
        lines.clear();
        for event in &events[..ready.max(0) as usize] {
            let fd = event.u64 as RawFd;
            // Edge-triggered: read until a short read says the socket is
            // empty (one read, nearly always: a line is far shorter than
            // the buffer).
            loop {
                // SAFETY: the descriptor stays open while this thread runs
                // (the sockets are closed only after it is joined); the read
                // writes into our buffer, at most its length.
                let read = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
                // The timestamp is taken right where the read returns.
                let now = Instant::now();
                if read <= 0 {
                    break;
                }
                push_lines(&mut lines, fd, &buffer[..read as usize], now, end);
                if (read as usize) < buffer.len() {
                    break;
                }
            }
        }
        record(shared, &mut greeted, &lines);
        if let Some(period) = poll
            && ready > 0
            && (ready as usize) < BATCH
        {
            std::thread::sleep(period);
        }
    }
}
