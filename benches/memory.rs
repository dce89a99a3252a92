//! Where an idle subscriber's memory goes: the heap allocations a greeted,
//! idle subscriber keeps, counted by a global allocator that tallies what
//! is live, by size and alignment.
//!
//! `cargo bench --bench memory -- [N] [--edge | --http] [--csv=DIR]`
//! (default 1,000 subscribers; `--csv=DIR` also writes `DIR/memory.csv`,
//! or with `--edge` `DIR/memory-edge.csv`, with `--http`
//! `DIR/memory-http.csv`). `--http` counts browsers' streams (`GET
//! /events`, chapter 13) instead of TCP subscribers. `--edge` serves from a notifier fed as an edge
//! server's is (chapter 12), with no OS watch and no Redis. The
//! server runs in this process (the library's `server::run`, as the binary
//! runs it); the subscribers are plain blocking sockets, which allocate
//! nothing, so every allocation counted is the server's. See BENCHMARKS.md.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::tz::TimeZone;
use net_watcher::console::Console;
use net_watcher::notifier::Notifier;
use net_watcher::protocol::Protocol;
use net_watcher::server::{self, Config};
use net_watcher::watching::Target;

use common::results::{MemoryRow, Run, csv_dir, tenth, write as write_csv};

/// The system allocator, with a tally of live allocations while `COUNTING`.
struct Tally;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Live allocations by (size, alignment): how many were made minus how many
/// were freed while counting.
static LIVE: Mutex<BTreeMap<(usize, usize), i64>> = Mutex::new(BTreeMap::new());

thread_local! {
    /// Set while this thread updates the tally, whose map may allocate.
    static TALLYING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn tally(layout: Layout, change: i64) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    TALLYING.with(|tallying| {
        if tallying.replace(true) {
            return;
        }
        *LIVE
            .lock()
            .unwrap()
            .entry((layout.size(), layout.align()))
            .or_default() += change;
        tallying.set(false);
    });
}

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Tally {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally(layout, 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        tally(layout, -1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        tally(layout, -1);
        tally(Layout::from_size_align(size, layout.align()).unwrap(), 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tally = Tally;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1_000);
    let run = Run::now();
    server::raise_open_file_limit().expect("the open-file limit can be raised");
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("target.txt");
    std::fs::write(&file, "watched\n").unwrap();
    // An edge's notifier, fed by its stream reader: here the feed is only
    // held, since idle subscribers are what is measured.
    let edge = std::env::args().any(|arg| arg == "--edge");
    let (notifier, _feed) = if edge {
        let (notifier, feed) = Notifier::fed(
            "target.txt",
            Protocol::Json,
            TimeZone::UTC,
            Console::silent(),
        );
        (notifier, Some(feed))
    } else {
        let notifier = Notifier::new(
            Target::new(&file).unwrap(),
            Protocol::Json,
            TimeZone::UTC,
            Duration::ZERO,
            Console::silent(),
        );
        (notifier, None)
    };
    let http = std::env::args().any(|arg| arg == "--http");
    let listeners = if http {
        let address = "127.0.0.1:0".parse().unwrap();
        net_watcher::browser::bind(&address).await.unwrap()
    } else {
        server::bind_tcp("127.0.0.1", 0).await.unwrap()
    };
    let addr = listeners[0]
        .tcp_addr()
        .or_else(|| listeners[0].http_addr())
        .unwrap();
    let config = Config {
        console: Console::silent(),
        ..Config::default()
    };
    tokio::spawn(server::run(
        listeners,
        notifier,
        config,
        std::future::pending(),
    ));

    // The first subscriber pays for one-off things (the OS watch, the
    // helper tasks); counting starts after it is greeted.
    let subscribe = |addr| subscribe(addr, http);
    let mut subscribers = vec![subscribe(addr)];
    settle().await;
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..count {
        subscribers.push(subscribe(addr));
    }
    settle().await;
    COUNTING.store(false, Ordering::Relaxed);

    let server = if edge { "an edge server" } else { "a watcher" };
    let subscribers_are = if http {
        "browsers' streams"
    } else {
        "subscribers"
    };
    println!("# what {count} more idle {subscribers_are} of {server} keep allocated");
    println!();
    println!("| size | alignment | live allocations | per subscriber | bytes per subscriber |");
    println!("|---:|---:|---:|---:|---:|");
    let mut total = 0;
    let mut rows = Vec::new();
    for (&(size, align), &live) in LIVE.lock().unwrap().iter() {
        // Below zero: freed now, allocated before counting began.
        if live <= 0 {
            continue;
        }
        let bytes = live * size as i64;
        total += bytes;
        rows.push(MemoryRow {
            machine: run.machine.clone(),
            date: run.date.clone(),
            arguments: run.arguments.clone(),
            subscribers: count,
            size_bytes: size,
            alignment: align,
            live_allocations: live,
            allocations_per_subscriber: live as f64 / count as f64,
            bytes_per_subscriber: tenth(bytes as f64 / count as f64),
        });
        println!(
            "| {size} | {align} | {live} | {:.2} | {:.1} |",
            live as f64 / count as f64,
            bytes as f64 / count as f64
        );
    }
    println!();
    println!(
        "requested: {:.0} bytes per subscriber",
        total as f64 / count as f64
    );
    if let Some(dir) = csv_dir() {
        let name = match (edge, http) {
            (true, _) => "memory-edge",
            (false, true) => "memory-http",
            (false, false) => "memory",
        };
        write_csv(&dir, name, &rows);
    }
    drop(subscribers);
}

/// Connects (and with `http` asks for a stream) and reads the greeting,
/// so the subscriber is greeted and idle.
fn subscribe(addr: std::net::SocketAddr, http: bool) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    if http {
        stream
            .write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
    }
    // A stream's greeting (its head and `watching` event) ends with a
    // blank line; a subscriber's is one line.
    let end: &[u8] = if http { b"\n\n" } else { b"\n" };
    let mut greeting = Vec::new();
    while !greeting.ends_with(end) {
        let mut chunk = [0u8; 512];
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "expected a greeting");
        greeting.extend_from_slice(&chunk[..read]);
    }
    stream
}

/// Lets the server finish what each connect set off (its log line, the
/// task's first poll) before the tally is read.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}
