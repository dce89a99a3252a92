//! Fan-out: how long until every subscriber has a change, how each one's
//! latency is spread, and what each idle subscriber costs in memory, at 1,
//! 100, 1,000, 5,000 and 10,000 subscribers; net-watcher (`--debounce-ms 0`)
//! against the book's Node server, alternating, in one run. Then churn:
//! connect/disconnect cycles, and what they leave behind.
//!
//! `cargo bench --bench fanout -- [--quick | --size=N] [--poll-us=N] [--csv=DIR] [--before=PATH]`
//! (`--csv=DIR` also writes `DIR/fanout.csv` and, after a full run,
//! `DIR/fanout-churn.csv`). See BENCHMARKS.md.
//!
//! `cargo bench --bench fanout -- --http [--quick]` measures browsers'
//! streams (Server-Sent Events, chapter 13) beside TCP subscribers of the
//! same server, in one run: at 1,000 and 10,000, N TCP subscribers, then N
//! streams, and the ratio of their all-notified times. `--csv=DIR` writes
//! `DIR/fanout-http.csv`.
//!
//! `cargo bench --bench fanout -- --relay [--quick]` measures the road
//! through Redis instead (chapter 12): a publisher, a `redis-server` and two
//! edges, beside one server, in one run: one subscriber (the end-to-end
//! latency of a change), then 10,000 subscribers (5,000 on each edge
//! against 10,000 on the one server). The memory column is then the first
//! edge's. `--csv=DIR` writes `DIR/fanout-relay.csv`.
//!
//! The harness reads the subscribers on one thread per core (`readers.rs`),
//! timestamps each line the moment its read returns, and reports its own CPU
//! while a change is being delivered, next to the server's.

#[path = "../common/mod.rs"]
mod common;
mod readers;

use std::fs::{self, OpenOptions};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::results::{ChurnRow, FanOutRow, Run, csv_dir, tenth, write as write_csv};
use common::{Contender, Redis, RunningServer, Workspace, percentiles};
use readers::{Readers, Speech, Want};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Subscriber counts measured, and changes per count.
const SIZES: [(usize, usize); 5] = [(1, 60), (100, 40), (1_000, 30), (5_000, 20), (10_000, 20)];

/// Pause between changes once everyone has the previous one.
const GAP: Duration = Duration::from_millis(60);

fn main() {
    // The harness holds one socket per subscriber, as the server does.
    net_watcher::server::raise_open_file_limit().expect("the open-file limit can be raised");
    let quick = std::env::args().any(|arg| arg == "--quick");
    if std::env::args().any(|arg| arg == "--relay") {
        relay(quick);
        return;
    }
    if std::env::args().any(|arg| arg == "--http") {
        browsers(quick);
        return;
    }
    // `--size=N`: only N subscribers (40 changes), e.g. to profile one size.
    let only: Option<usize> = std::env::args().find_map(|arg| {
        arg.strip_prefix("--size=")
            .map(|n| n.parse().expect("--size=N"))
    });
    let sizes: Vec<(usize, usize)> = match only {
        Some(size) => vec![(size, 40)],
        None if quick => vec![(1, 10), (100, 5), (1_000, 5)],
        None => SIZES.to_vec(),
    };
    // `--poll-us=N`: readers that sleep N µs between batches instead of
    // being woken per line (see `readers::read_loop`).
    let poll: Option<Duration> = std::env::args().find_map(|arg| {
        arg.strip_prefix("--poll-us=")
            .map(|n| Duration::from_micros(n.parse().expect("--poll-us=N")))
    });
    let run = Run::now();
    let mut contenders = vec![Contender::net_watcher(
        "net-watcher-debounce-0",
        "net-watcher --debounce-ms 0",
        &["--debounce-ms", "0"],
    )];
    // `--before=PATH`: net-watcher again, from an older build, so a change
    // is measured before and after in the same run.
    let before: Vec<Contender> = contenders.iter().filter_map(Contender::before).collect();
    contenders.extend(before);
    match Contender::node() {
        Some(node) => contenders.push(node),
        None => eprintln!("node is not installed: the baseline is skipped"),
    }
    println!("# fan-out: one change, every subscriber notified");
    println!("machine: {}", common::machine());
    let waiting = match poll {
        Some(period) => format!("sleeping {} µs after each batch", period.as_micros()),
        None => "woken per line".to_owned(),
    };
    println!(
        "harness: {} reading threads (one per core), edge-triggered epoll, {waiting}",
        readers::reading_threads(),
    );
    println!();
    println!(
        "| subscribers | server | changes | latency p50 µs | p99 µs | max µs | all notified p50 µs | all notified max µs | RSS per idle subscriber | harness CPU (cores) | server CPU (cores) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut all_notified_p50 = Vec::new();
    let mut rows = Vec::new();
    for &(size, changes) in &sizes {
        let mut row = Vec::new();
        for contender in &contenders {
            let result = fan_out(&Road::Direct(contender), size, changes, poll);
            println!(
                "| {size} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.2} | {} |",
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
                result.harness_cpu,
                result
                    .server_cores
                    .map_or("-".to_owned(), |cores| format!("{cores:.2}")),
            );
            row.push(result.all_notified.0);
            let road = Road::Direct(contender);
            rows.push(result.row(&run, &waiting, size, &road));
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
    let csv = csv_dir();
    if let Some(dir) = &csv {
        write_csv(dir, "fanout", &rows);
    }
    if !quick && only.is_none() {
        println!();
        let churned = runtime.block_on(churn(&contenders[0], 50_000, &run));
        if let Some(dir) = &csv {
            write_csv(dir, "fanout-churn", &[churned]);
        }
    }
}

struct FanOut {
    changes: usize,
    latency: (f64, f64, f64),
    all_notified: (f64, f64, f64),
    rss_per_subscriber: Option<f64>,
    harness_cpu: f64,
    server_cores: Option<f64>,
    /// The server's CPU time over the changes, per subscriber told, in µs.
    server_cpu_per_delivery_us: Option<f64>,
}

impl FanOut {
    /// The result as a row of `fanout.csv` (or `fanout-relay.csv`).
    fn row(&self, run: &Run, harness: &str, size: usize, road: &Road) -> FanOutRow {
        FanOutRow {
            machine: run.machine.clone(),
            date: run.date.clone(),
            arguments: run.arguments.clone(),
            harness: harness.to_owned(),
            subscribers: size,
            server: road.key(),
            server_label: road.name(),
            changes: self.changes,
            latency_p50_us: tenth(self.latency.0),
            latency_p99_us: tenth(self.latency.1),
            latency_max_us: tenth(self.latency.2),
            all_notified_p50_us: tenth(self.all_notified.0),
            all_notified_p99_us: tenth(self.all_notified.1),
            all_notified_max_us: tenth(self.all_notified.2),
            rss_per_idle_subscriber_bytes: self.rss_per_subscriber.map(f64::round),
            harness_cpu_cores: (self.harness_cpu * 100.0).round() / 100.0,
            server_cpu_cores: self
                .server_cores
                .map(|cores| (cores * 100.0).round() / 100.0),
        }
    }
}

/// How subscribers are served: by the watcher itself, or by edge servers
/// that relay its changes through a Redis stream (chapter 12), or by the
/// watcher to browsers, as Server-Sent Events (`--http`, chapter 13).
enum Road<'a> {
    Direct(&'a Contender),
    Relayed { edges: usize },
    Browsers(&'a Contender),
}

/// The processes of one road, running: killed on drop.
struct Deployment {
    servers: Vec<RunningServer>,
    _redis: Option<Redis>,
    /// Where subscribers connect, shared out in turn.
    entries: Vec<SocketAddr>,
    /// The server whose memory and processor time are reported: the one
    /// server, or the first edge.
    measured: usize,
}

impl Road<'_> {
    fn name(&self) -> String {
        match self {
            Road::Direct(contender) => contender.name.clone(),
            Road::Relayed { edges } => format!("publisher → Redis → {edges} edges"),
            Road::Browsers(contender) => format!("{}, SSE streams", contender.name),
        }
    }

    /// What its subscribers speak.
    fn speech(&self) -> Speech {
        match self {
            Road::Direct(_) | Road::Relayed { .. } => Speech::Lines,
            Road::Browsers(_) => Speech::Events,
        }
    }

    fn key(&self) -> String {
        match self {
            Road::Direct(contender) => contender.key.clone(),
            Road::Relayed { edges } => format!("relay-{edges}-edges"),
            Road::Browsers(contender) => format!("{}-sse", contender.key),
        }
    }

    fn deploy(&self, file: &Path) -> Deployment {
        let at = |server: &RunningServer| SocketAddr::from(([127, 0, 0, 1], server.port));
        match self {
            Road::Direct(contender) => {
                let server = contender.start(file);
                Deployment {
                    entries: vec![at(&server)],
                    servers: vec![server],
                    _redis: None,
                    measured: 0,
                }
            }
            Road::Browsers(contender) => {
                let server = contender.start(file);
                let port = server.http_port.expect("the contender serves browsers");
                Deployment {
                    entries: vec![SocketAddr::from(([127, 0, 0, 1], port))],
                    servers: vec![server],
                    _redis: None,
                    measured: 0,
                }
            }
            Road::Relayed { edges } => {
                let redis = Redis::start().expect("redis-server is installed");
                let url = redis.url("changes");
                // As the direct contender: no settling, JSON.
                let publisher = Contender::net_watcher(
                    "publisher",
                    "publisher",
                    &["--debounce-ms", "0", "--publish", &url],
                );
                let mut servers = vec![publisher.start(file)];
                let edge = Contender::edge("edge", "edge", &url);
                servers.extend((0..*edges).map(|_| edge.start(file)));
                Deployment {
                    entries: servers[1..].iter().map(at).collect(),
                    servers,
                    _redis: Some(redis),
                    measured: 1,
                }
            }
        }
    }
}

impl Deployment {
    fn measured(&self) -> &RunningServer {
        &self.servers[self.measured]
    }

    /// How many of `size` subscribers connect to each entry point: as even
    /// as can be, the first taking what is left over.
    fn shares(&self, size: usize) -> Vec<usize> {
        let entries = self.entries.len();
        (0..entries)
            .map(|entry| size / entries + usize::from(entry < size % entries))
            .collect()
    }
}

fn fan_out(road: &Road, size: usize, changes: usize, poll: Option<Duration>) -> FanOut {
    let workspace = Workspace::new();
    let deployment = road.deploy(&workspace.file);
    let shares = deployment.shares(size);
    let name = road.name();
    let readers = Readers::start(poll, road.speech());
    // One subscriber first, so the baseline includes the OS watch and the
    // first connection's one-off costs.
    readers.connect(deployment.entries[0], 1);
    readers.wait_for(Want::Greetings(1), LONG, "the first greeting");
    // The Node server sometimes misses a change made the moment it has
    // greeted its first subscriber; retry the warm-up a few times rather
    // than stall the run.
    let warmed_up = (0..5).any(|_| {
        touch(&workspace.file);
        readers.wait_until(Want::Lines(1), Duration::from_secs(2))
    });
    assert!(warmed_up, "{name}: no notification for the warm-up changes");
    settle_down();
    let before = rss(deployment.measured());

    for (entry, (addr, share)) in deployment.entries.iter().zip(&shares).enumerate() {
        // The first entry point already has the warm-up's subscriber.
        readers.connect(*addr, share - usize::from(entry == 0));
    }
    readers.wait_for(Want::Greetings(size), LONG, "every greeting");
    settle_down();
    let after = rss(deployment.measured());
    // The measured server holds the first share, the warm-up's subscriber
    // among them.
    let rss_per_subscriber = match (before, after) {
        (Some(before), Some(after)) if shares[0] > 1 => {
            Some((after as f64 - before as f64) / (shares[0] - 1) as f64)
        }
        _ => None,
    };

    let mut latencies = Vec::with_capacity(size * changes);
    let mut all_notified = Vec::with_capacity(changes);
    let (mut busy_cpu, mut busy_wall) = (Duration::ZERO, Duration::ZERO);
    let server_cpu_before = server_cpu(deployment.measured());
    let mut done = 0;
    for _ in 0..changes {
        readers.take_times();
        let cpu_before = cpu_time();
        let started = Instant::now();
        touch(&workspace.file);
        let complete = readers.wait_until(Want::Lines(size), Duration::from_secs(10));
        busy_wall += started.elapsed();
        busy_cpu += cpu_time() - cpu_before;
        let times = readers.take_times();
        if !complete {
            eprintln!(
                "{name}: only {} of {size} subscribers notified",
                times.len()
            );
        }
        latencies.extend(times.iter().map(|at| *at - started));
        if let Some(last) = times.iter().max() {
            all_notified.push(*last - started);
        }
        done += 1;
        std::thread::sleep(GAP);
    }
    // The server is idle between changes, so its CPU time over the loop is
    // its CPU time during the deliveries.
    let server_busy = match (server_cpu_before, server_cpu(deployment.measured())) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let server_cores = server_busy.map(|busy| busy.as_secs_f64() / busy_wall.as_secs_f64());
    // What each delivery cost the server, whoever else shared the cores:
    // on a loaded machine the wall-clock figures measure the load as much
    // as the server, its own CPU time far less.
    let server_cpu_per_delivery_us =
        server_busy.map(|busy| busy.as_secs_f64() * 1e6 / (done * size) as f64);
    drop(deployment);
    FanOut {
        changes: done,
        latency: percentiles(&mut latencies),
        all_notified: percentiles(&mut all_notified),
        rss_per_subscriber,
        harness_cpu: busy_cpu.as_secs_f64() / busy_wall.as_secs_f64(),
        server_cores,
        server_cpu_per_delivery_us,
    }
}

/// Long enough for any greeting; a run that needs longer is broken.
const LONG: Duration = Duration::from_secs(60);

/// Lets the server finish logging connects before memory is read.
fn settle_down() {
    std::thread::sleep(Duration::from_millis(300));
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

/// The server's CPU time so far (user and system, all threads), to the
/// kernel's clock tick (10 ms here).
fn server_cpu(server: &RunningServer) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{}/stat", server.pid())).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
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

/// Connect/disconnect cycles against one server: what is left afterwards.
async fn churn(contender: &Contender, cycles: usize, run: &Run) -> ChurnRow {
    let workspace = Workspace::new();
    let server = contender.start(&workspace.file);
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    // Warm up: the first cycles pay for one-off allocations.
    cycle(addr, 1_000).await;
    settle_down();
    let (rss_before, fds_before) = (rss(&server), open_fds(&server));
    let started = Instant::now();
    cycle(addr, cycles).await;
    let took = started.elapsed();
    settle_down();
    let (rss_after, fds_after) = (rss(&server), open_fds(&server));
    let watches = inotify_instances(&server);
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
    println!("| inotify instances (OS watches) | - | {watches} |");
    println!();
    println!(
        "{cycles} cycles in {:.1} s ({:.0} per second); RSS change {:+} KiB",
        took.as_secs_f64(),
        cycles as f64 / took.as_secs_f64(),
        (rss_after.unwrap_or(0) as i64 - rss_before.unwrap_or(0) as i64) / 1024
    );
    ChurnRow {
        machine: run.machine.clone(),
        date: run.date.clone(),
        arguments: run.arguments.clone(),
        server: contender.key.clone(),
        server_label: contender.name.clone(),
        cycles,
        seconds: (took.as_secs_f64() * 100.0).round() / 100.0,
        rss_before_kib: rss_before.map(|bytes| bytes / 1024),
        rss_after_kib: rss_after.map(|bytes| bytes / 1024),
        open_fds_before: fds_before,
        open_fds_after: fds_after,
        inotify_instances_after: watches,
    }
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

/// `--relay`: the road through Redis beside the direct one, in one run. One
/// subscriber first (a change's end-to-end latency, file to subscriber),
/// then 10,000 (two edges of 5,000 against one server of 10,000).
fn relay(quick: bool) {
    if Redis::start().is_none() {
        eprintln!("redis-server is not installed (apt-get install -y redis-server)");
        std::process::exit(1);
    }
    let run = Run::now();
    let direct = Contender::net_watcher(
        "net-watcher-debounce-0",
        "net-watcher --debounce-ms 0",
        &["--debounce-ms", "0"],
    );
    let roads = [Road::Direct(&direct), Road::Relayed { edges: 2 }];
    let sizes: &[(usize, usize)] = if quick {
        &[(1, 30), (1_000, 5)]
    } else {
        &[(1, 200), (10_000, 20)]
    };
    println!("# relayed through Redis: one change, every subscriber notified");
    println!("machine: {}", common::machine());
    println!(
        "harness: {} reading threads (one per core), edge-triggered epoll, woken per line",
        readers::reading_threads()
    );
    println!();
    println!(
        "| subscribers | road | changes | latency p50 µs | p99 µs | max µs | all notified p50 µs | all notified p99 µs | RSS per idle subscriber | server CPU (cores) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for &(size, changes) in sizes {
        for road in &roads {
            let result = fan_out(road, size, changes, None);
            println!(
                "| {size} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |",
                road.name(),
                result.changes,
                result.latency.0,
                result.latency.1,
                result.latency.2,
                result.all_notified.0,
                result.all_notified.1,
                result
                    .rss_per_subscriber
                    .map_or("-".to_owned(), |bytes| format!("{bytes:.0} B")),
                result
                    .server_cores
                    .map_or("-".to_owned(), |cores| format!("{cores:.2}")),
            );
            rows.push(result.row(&run, "woken per line", size, road));
        }
    }
    if let Some(dir) = csv_dir() {
        write_csv(&dir, "fanout-relay", &rows);
    }
}

/// `--http`: browsers' streams beside TCP subscribers, in one run, from one
/// server that serves both (chapter 13): at each size, first N TCP
/// subscribers, then N streams, each on a fresh server. The ratio of the
/// two is the figure.
fn browsers(quick: bool) {
    let run = Run::now();
    let both = Contender::net_watcher(
        "net-watcher-debounce-0",
        "net-watcher --debounce-ms 0",
        &["--debounce-ms", "0", "--http", "127.0.0.1:0"],
    );
    let roads = [Road::Direct(&both), Road::Browsers(&both)];
    let sizes: &[(usize, usize)] = if quick {
        &[(100, 10), (1_000, 5)]
    } else {
        &[(1_000, 30), (10_000, 20)]
    };
    println!("# to the browser: one change, every subscriber told, TCP lines against SSE streams");
    println!("machine: {}", common::machine());
    println!(
        "harness: {} reading threads (one per core), edge-triggered epoll, woken per message",
        readers::reading_threads()
    );
    println!();
    println!(
        "| subscribers | road | changes | latency p50 µs | p99 µs | max µs | all notified p50 µs | all notified p99 µs | RSS per idle subscriber | server CPU (cores) | server CPU per subscriber told, µs |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for &(size, changes) in sizes {
        let (mut all_notified, mut cpu) = (Vec::new(), Vec::new());
        for road in &roads {
            let result = fan_out(road, size, changes, None);
            println!(
                "| {size} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
                road.name(),
                result.changes,
                result.latency.0,
                result.latency.1,
                result.latency.2,
                result.all_notified.0,
                result.all_notified.1,
                result
                    .rss_per_subscriber
                    .map_or("-".to_owned(), |bytes| format!("{bytes:.0} B")),
                result
                    .server_cores
                    .map_or("-".to_owned(), |cores| format!("{cores:.2}")),
                result
                    .server_cpu_per_delivery_us
                    .map_or("-".to_owned(), |us| format!("{us:.1}")),
            );
            all_notified.push(result.all_notified.0);
            cpu.push(result.server_cpu_per_delivery_us.unwrap_or(f64::NAN));
            rows.push(result.row(&run, "woken per message", size, road));
        }
        ratios.push((size, all_notified[1] / all_notified[0], cpu[1] / cpu[0]));
    }
    println!();
    for (size, ratio, cpu) in ratios {
        println!(
            "at {size} subscribers, SSE / TCP: all notified (p50) {ratio:.2} (goal: 1.5 at most), server CPU per subscriber told {cpu:.2}"
        );
    }
    if let Some(dir) = csv_dir() {
        write_csv(&dir, "fanout-http", &rows);
    }
}
