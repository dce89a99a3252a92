//! Fan-out: how long until every subscriber has a change, how each one's
//! latency is spread, and what each idle subscriber costs in memory, at 1,
//! 100, 1,000, 5,000 and 10,000 subscribers; net-watcher (`--debounce-ms 0`)
//! against the book's Node server, alternating, in one run. Then churn:
//! connect/disconnect cycles, and what they leave behind.
//!
//! `cargo bench --bench fanout -- [--quick]`. See BENCHMARKS.md.
//!
//! The harness reads every subscriber on one thread (a current-thread tokio
//! runtime), timestamps each line the moment its read returns, and reports
//! its own CPU share, so it can be seen not to be the bottleneck.

mod common;

use std::cell::RefCell;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use common::{Contender, RunningServer, Workspace, percentiles};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Subscriber counts measured, and changes per count.
const SIZES: [(usize, usize); 5] = [(1, 60), (100, 40), (1_000, 30), (5_000, 20), (10_000, 20)];

/// Connects in flight at once while filling the server.
const CONNECT_BATCH: usize = 500;

/// Pause between changes once everyone has the previous one.
const GAP: Duration = Duration::from_millis(60);

fn main() {
    raise_open_file_limit();
    let quick = std::env::args().any(|arg| arg == "--quick");
    let sizes: Vec<(usize, usize)> = if quick {
        vec![(1, 10), (100, 5), (1_000, 5)]
    } else {
        SIZES.to_vec()
    };
    let mut contenders = vec![Contender::net_watcher(
        "net-watcher --debounce-ms 0",
        &["--debounce-ms", "0"],
    )];
    match Contender::node() {
        Some(node) => contenders.push(node),
        None => eprintln!("node is not installed: the baseline is skipped"),
    }
    println!("# fan-out: one change, every subscriber notified");
    println!("machine: {}", common::machine());
    println!();
    println!(
        "| subscribers | server | changes | latency p50 µs | p99 µs | max µs | all notified p50 µs | all notified max µs | RSS per idle subscriber | harness CPU |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut all_notified_p50 = Vec::new();
    for &(size, changes) in &sizes {
        let mut row = Vec::new();
        for contender in &contenders {
            let result = runtime.block_on(fan_out(contender, size, changes));
            println!(
                "| {size} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0}% |",
                contender.name,
                result.changes,
                result.latency.0,
                result.latency.1,
                result.latency.2,
                result.all_notified.0,
                result.all_notified.2,
                result
                    .rss_per_subscriber
                    .map_or("-".to_owned(), |bytes| format!("{bytes:.0} B")),
                result.harness_cpu * 100.0
            );
            row.push(result.all_notified.0);
        }
        all_notified_p50.push((size, row));
    }
    if contenders.len() == 2 {
        println!();
        for (size, row) in &all_notified_p50 {
            println!(
                "all notified, p50 ratio at {size} subscribers: net-watcher / node = {:.2}",
                row[0] / row[1]
            );
        }
    }
    if !quick {
        println!();
        runtime.block_on(churn(&contenders[0], 50_000));
    }
}

struct FanOut {
    changes: usize,
    latency: (f64, f64, f64),
    all_notified: (f64, f64, f64),
    rss_per_subscriber: Option<f64>,
    harness_cpu: f64,
}

/// What the reading tasks share; one thread, so `Rc<RefCell>`.
#[derive(Default)]
struct Arrivals {
    /// When each subscriber read each line since the last change was made.
    times: Vec<Instant>,
    greeted: usize,
    /// The counts the main task waits for; reaching either wakes it.
    want_times: usize,
    want_greeted: usize,
    wake: Rc<tokio::sync::Notify>,
}

async fn fan_out(contender: &Contender, size: usize, changes: usize) -> FanOut {
    let workspace = Workspace::new();
    let server = contender.start(&workspace.file);
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            // One subscriber first, so the baseline includes the OS watch
            // and the first connection's one-off costs.
            let arrivals = Rc::new(RefCell::new(Arrivals {
                want_greeted: 1,
                want_times: 1,
                ..Arrivals::default()
            }));
            connect(addr, 1, &arrivals).await;
            wait_for(&arrivals, |a| a.greeted == 1, "the first greeting").await;
            // The Node server sometimes misses a change made the moment it
            // has greeted its first subscriber; retry the warm-up a few
            // times rather than stall the run.
            let mut warmed_up = false;
            for _ in 0..5 {
                touch(&workspace.file);
                if wait_for_within(&arrivals, |a| !a.times.is_empty(), Duration::from_secs(2)).await
                {
                    warmed_up = true;
                    break;
                }
            }
            assert!(
                warmed_up,
                "{}: no notification for the warm-up changes",
                contender.name
            );
            settle_down().await;
            let before = rss(&server);

            {
                let mut arrivals = arrivals.borrow_mut();
                arrivals.want_greeted = size;
                arrivals.want_times = size;
            }
            connect(addr, size - 1, &arrivals).await;
            wait_for(&arrivals, |a| a.greeted == size, "every greeting").await;
            settle_down().await;
            let after = rss(&server);
            let rss_per_subscriber = match (before, after) {
                (Some(before), Some(after)) if size > 1 => {
                    Some((after as f64 - before as f64) / (size - 1) as f64)
                }
                _ => None,
            };

            let cpu_before = cpu_time();
            let wall_before = Instant::now();
            let mut latencies = Vec::with_capacity(size * changes);
            let mut all_notified = Vec::with_capacity(changes);
            let mut done = 0;
            for _ in 0..changes {
                arrivals.borrow_mut().times.clear();
                let started = Instant::now();
                touch(&workspace.file);
                let complete = wait_for_within(
                    &arrivals,
                    |a| a.times.len() >= size,
                    Duration::from_secs(10),
                )
                .await;
                if !complete {
                    eprintln!(
                        "{}: only {} of {size} subscribers notified",
                        contender.name,
                        arrivals.borrow().times.len()
                    );
                }
                {
                    let times = arrivals.borrow();
                    latencies.extend(times.times.iter().map(|at| *at - started));
                    if let Some(last) = times.times.iter().max() {
                        all_notified.push(*last - started);
                    }
                }
                done += 1;
                tokio::time::sleep(GAP).await;
            }
            let harness_cpu =
                (cpu_time() - cpu_before).as_secs_f64() / wall_before.elapsed().as_secs_f64();
            drop(server);
            FanOut {
                changes: done,
                latency: percentiles(&mut latencies),
                all_notified: percentiles(&mut all_notified),
                rss_per_subscriber,
                harness_cpu,
            }
        })
        .await
}

/// Connects `count` subscribers, `CONNECT_BATCH` at a time, each read by a
/// task that records when every line after the greeting arrives.
async fn connect(addr: SocketAddr, count: usize, arrivals: &Rc<RefCell<Arrivals>>) {
    let mut connected = 0;
    while connected < count {
        let batch = CONNECT_BATCH.min(count - connected);
        let mut pending = Vec::with_capacity(batch);
        for _ in 0..batch {
            pending.push(tokio::task::spawn_local(TcpStream::connect(addr)));
        }
        for handle in pending {
            let stream = handle
                .await
                .unwrap()
                .unwrap_or_else(|error| panic!("connect to {addr}: {error}"));
            tokio::task::spawn_local(read_lines(stream, Rc::clone(arrivals)));
        }
        connected += batch;
    }
}

async fn read_lines(mut stream: TcpStream, arrivals: Rc<RefCell<Arrivals>>) -> io::Result<()> {
    let mut buffer = [0u8; 512];
    let mut greeted = false;
    loop {
        let read = stream.read(&mut buffer).await?;
        // The timestamp is taken right where the read returns.
        let now = Instant::now();
        if read == 0 {
            return Ok(());
        }
        let mut arrivals = arrivals.borrow_mut();
        for _ in buffer[..read].iter().filter(|&&byte| byte == b'\n') {
            if greeted {
                arrivals.times.push(now);
                if arrivals.times.len() == arrivals.want_times {
                    arrivals.wake.notify_one();
                }
            } else {
                greeted = true;
                arrivals.greeted += 1;
                if arrivals.greeted == arrivals.want_greeted {
                    arrivals.wake.notify_one();
                }
            }
        }
    }
}

async fn wait_for(arrivals: &Rc<RefCell<Arrivals>>, done: impl Fn(&Arrivals) -> bool, what: &str) {
    if !wait_for_within(arrivals, done, Duration::from_secs(60)).await {
        panic!("timed out waiting for {what}");
    }
}

/// Waits until `done` holds, woken by the reading tasks when a count the
/// main task wants is reached (no spinning: the harness must leave the CPU
/// to the server).
async fn wait_for_within(
    arrivals: &Rc<RefCell<Arrivals>>,
    done: impl Fn(&Arrivals) -> bool,
    limit: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let wake = Rc::clone(&arrivals.borrow().wake);
    loop {
        if done(&arrivals.borrow()) {
            return true;
        }
        if tokio::time::timeout_at(deadline, wake.notified())
            .await
            .is_err()
        {
            return done(&arrivals.borrow());
        }
    }
}

/// Lets the server finish logging connects before memory is read.
async fn settle_down() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// A touch as GNU touch does it: open for writing, set the times, close.
fn touch(file: &Path) {
    let handle = OpenOptions::new().write(true).open(file).unwrap();
    handle
        .set_times(fs::FileTimes::new().set_modified(SystemTime::now()))
        .unwrap();
}

/// The server's resident memory, in bytes.
fn rss(server: &RunningServer) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of the server.
fn open_fds(server: &RunningServer) -> usize {
    fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Inotify instances the server holds (each OS watch is one).
fn inotify_instances(server: &RunningServer) -> usize {
    fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|entry| {
                    fs::read_link(entry.path())
                        .map(|target| target.to_string_lossy().contains("inotify"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

/// This process's CPU time (user and system).
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` writes into the struct we own and pass; a zeroed
    // `rusage` is a valid value of it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let to = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
    };
    to(usage.ru_utime) + to(usage.ru_stime)
}

/// Raises this process's soft limit on open files to its hard limit: the
/// harness holds one socket per subscriber.
fn raise_open_file_limit() {
    // SAFETY: plain system calls on a struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Connect/disconnect cycles against one server: what is left afterwards.
async fn churn(contender: &Contender, cycles: usize) {
    let workspace = Workspace::new();
    let server = contender.start(&workspace.file);
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    // Warm up: the first cycles pay for one-off allocations.
    cycle(addr, 1_000).await;
    settle_down().await;
    let (rss_before, fds_before) = (rss(&server), open_fds(&server));
    let started = Instant::now();
    cycle(addr, cycles).await;
    let took = started.elapsed();
    settle_down().await;
    let (rss_after, fds_after) = (rss(&server), open_fds(&server));
    println!(
        "# churn: {cycles} connect/read greeting/disconnect cycles, {}",
        contender.name
    );
    println!();
    println!("| | before | after |");
    println!("|---|---:|---:|");
    println!(
        "| RSS | {} KiB | {} KiB |",
        rss_before.unwrap_or(0) / 1024,
        rss_after.unwrap_or(0) / 1024
    );
    println!("| open file descriptors | {fds_before} | {fds_after} |");
    println!(
        "| inotify instances (OS watches) | - | {} |",
        inotify_instances(&server)
    );
    println!();
    println!(
        "{cycles} cycles in {:.1} s ({:.0} per second); RSS change {:+} KiB",
        took.as_secs_f64(),
        cycles as f64 / took.as_secs_f64(),
        (rss_after.unwrap_or(0) as i64 - rss_before.unwrap_or(0) as i64) / 1024
    );
}

/// `cycles` subscribers, 50 at a time: connect, read the greeting, leave.
async fn cycle(addr: SocketAddr, cycles: usize) {
    let mut done = 0;
    while done < cycles {
        let batch = 50.min(cycles - done);
        let mut tasks = Vec::with_capacity(batch);
        for _ in 0..batch {
            tasks.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await?;
                let mut greeting = [0u8; 256];
                let read = stream.read(&mut greeting).await?;
                assert!(read > 0, "the server closed before greeting");
                Ok::<_, io::Error>(())
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        done += batch;
    }
}
