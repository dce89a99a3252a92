//! Latency from a file change to one subscriber's notification, and how many
//! notifications each operation gives: net-watcher with its default settle
//! window, net-watcher with `--debounce-ms 0`, and the book's Node server,
//! measured in one run, alternating.
//!
//! `cargo bench --bench latency -- [CHANGES] [--csv=DIR] [--before=PATH]` (default 200 per
//! operation and server; `--csv=DIR` also writes `DIR/latency.csv`). See
//! BENCHMARKS.md.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::results::{LatencyRow, Run, csv_dir, tenth, write as write_csv};
use common::{Contender, Workspace, percentiles};

/// Time left after each change for stray extra notifications, and for the
/// settle window and its cool-down to pass, so changes never interact.
const GAP: Duration = Duration::from_millis(120);

/// Rounds: each contender measures `CHANGES / ROUNDS` changes per operation
/// in each round, in turn, so drift on the machine hits all of them alike.
const ROUNDS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Operation {
    /// What GNU touch does: open for writing, set the times, close.
    Touch,
    /// The real `touch` program (includes starting a process).
    TouchProgram,
    /// `echo x >> file`.
    Append,
    /// chmod, alternating two modes.
    Chmod,
    /// Write a temporary file and rename it over.
    AtomicSave,
}

impl Operation {
    const ALL: [Operation; 5] = [
        Operation::Touch,
        Operation::TouchProgram,
        Operation::Append,
        Operation::Chmod,
        Operation::AtomicSave,
    ];

    fn name(self) -> &'static str {
        match self {
            Operation::Touch => "touch (in-process, as GNU touch)",
            Operation::TouchProgram => "touch(1) program",
            Operation::Append => "append (echo x >>)",
            Operation::Chmod => "chmod",
            Operation::AtomicSave => "atomic save (rename over)",
        }
    }

    /// The operation's name in the CSV file.
    fn key(self) -> &'static str {
        match self {
            Operation::Touch => "touch",
            Operation::TouchProgram => "touch-program",
            Operation::Append => "append",
            Operation::Chmod => "chmod",
            Operation::AtomicSave => "atomic-save",
        }
    }

    fn perform(self, file: &Path, counter: usize) {
        match self {
            Operation::Touch => {
                let handle = OpenOptions::new().write(true).open(file).unwrap();
                handle
                    .set_times(fs::FileTimes::new().set_modified(SystemTime::now()))
                    .unwrap();
            }
            Operation::TouchProgram => {
                let status = Command::new("touch").arg(file).status().unwrap();
                assert!(status.success());
            }
            Operation::Append => {
                let mut handle = OpenOptions::new().append(true).open(file).unwrap();
                handle.write_all(b"x\n").unwrap();
            }
            Operation::Chmod => {
                // Read the mode back and flip it, so every chmod is a change.
                let current = fs::metadata(file).unwrap().permissions().mode() & 0o777;
                let _ = counter;
                let mode = if current == 0o600 { 0o644 } else { 0o600 };
                fs::set_permissions(file, fs::Permissions::from_mode(mode)).unwrap();
            }
            Operation::AtomicSave => {
                let temporary = file.with_file_name(".target.txt.tmp");
                fs::write(&temporary, format!("{counter}\n")).unwrap();
                fs::rename(&temporary, file).unwrap();
            }
        }
    }
}

struct Samples {
    latencies: Vec<Duration>,
    notifications: usize,
    changes: usize,
    missed: usize,
}

/// Measures `count` changes of one operation against a running subscriber.
fn measure(
    subscriber: &mut BufReader<TcpStream>,
    file: &Path,
    operation: Operation,
    count: usize,
    samples: &mut Samples,
    counter: &mut usize,
) {
    let mut line = String::new();
    for _ in 0..count {
        let started = Instant::now();
        // A counter across every call, so chmod always changes the mode.
        *counter += 1;
        operation.perform(file, *counter);
        subscriber
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        line.clear();
        match subscriber.read_line(&mut line) {
            Ok(read) if read > 0 => {
                // The timestamp is taken where the line is read.
                samples.latencies.push(started.elapsed());
                samples.notifications += 1;
            }
            _ => {
                samples.missed += 1;
                continue;
            }
        }
        // Count extra notifications of the same change until the gap ends.
        let quiet_until = started + GAP;
        loop {
            let left = quiet_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            subscriber.get_ref().set_read_timeout(Some(left)).unwrap();
            line.clear();
            match subscriber.read_line(&mut line) {
                Ok(read) if read > 0 => samples.notifications += 1,
                _ => break,
            }
        }
    }
    samples.changes += count;
}

fn main() {
    let changes: usize = common::count_argument(200);
    let run = Run::now();
    let mut contenders = vec![
        Contender::net_watcher("net-watcher", "net-watcher (default, 50 ms window)", &[]),
        Contender::net_watcher(
            "net-watcher-debounce-0",
            "net-watcher --debounce-ms 0",
            &["--debounce-ms", "0"],
        ),
    ];
    // `--before=PATH`: each net-watcher contender again, from an older
    // build, so a change is measured before and after in the same run.
    let before: Vec<Contender> = contenders.iter().filter_map(Contender::before).collect();
    contenders.extend(before);
    match Contender::node() {
        Some(node) => contenders.push(node),
        None => eprintln!("node is not installed: the baseline is skipped"),
    }

    println!("# latency: one subscriber, {changes} changes per operation and server");
    println!("machine: {}", common::machine());
    let mut results: Vec<Vec<Samples>> = contenders
        .iter()
        .map(|_| {
            Operation::ALL
                .iter()
                .map(|_| Samples {
                    latencies: Vec::new(),
                    notifications: 0,
                    changes: 0,
                    missed: 0,
                })
                .collect()
        })
        .collect();

    // `LATENCY_OPS=touch,append` limits the run to some operations.
    let only: Option<String> = std::env::var("LATENCY_OPS").ok();
    let wanted = |operation: Operation| match &only {
        Some(list) => list
            .split(',')
            .any(|name| operation.name().starts_with(name)),
        None => true,
    };
    let mut chmod_counter = 0;
    for round in 0..ROUNDS {
        for (c, contender) in contenders.iter().enumerate() {
            for (o, &operation) in Operation::ALL.iter().enumerate() {
                if !wanted(operation) {
                    continue;
                }
                // The book's server watches the inode: after a rename over
                // the file it never notifies again. Measured last and on a
                // fresh server each time, so its failure stays contained.
                let workspace = Workspace::new();
                let server = contender.start(&workspace.file);
                let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut subscriber = BufReader::new(stream);
                let mut greeting = String::new();
                subscriber.read_line(&mut greeting).unwrap();
                // Warm-up: the first changes pay for first-time paths.
                let mut warmup = Samples {
                    latencies: Vec::new(),
                    notifications: 0,
                    changes: 0,
                    missed: 0,
                };
                measure(
                    &mut subscriber,
                    &workspace.file,
                    operation,
                    3,
                    &mut warmup,
                    &mut chmod_counter,
                );
                let share = changes / ROUNDS + usize::from(round < changes % ROUNDS);
                measure(
                    &mut subscriber,
                    &workspace.file,
                    operation,
                    share,
                    &mut results[c][o],
                    &mut chmod_counter,
                );
                drop(server);
            }
        }
        eprintln!("round {} of {ROUNDS} done", round + 1);
    }

    println!();
    println!(
        "| operation | server | p50 µs | p99 µs | max µs | notifications per change | missed |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (o, operation) in Operation::ALL.iter().enumerate() {
        for (c, contender) in contenders.iter().enumerate() {
            let samples = &mut results[c][o];
            if samples.changes == 0 {
                continue;
            }
            // A change that was never notified has no latency: its
            // percentiles stay empty in the CSV, and `missed` counts it.
            let figures = (!samples.latencies.is_empty())
                .then(|| percentiles(&mut samples.latencies.clone()));
            rows.push(LatencyRow {
                machine: run.machine.clone(),
                date: run.date.clone(),
                arguments: run.arguments.clone(),
                operation: operation.key().to_owned(),
                operation_label: operation.name().to_owned(),
                server: contender.key.clone(),
                server_label: contender.name.clone(),
                changes: samples.changes,
                missed: samples.missed,
                notifications: samples.notifications,
                p50_us: figures.map(|(p50, _, _)| tenth(p50)),
                p99_us: figures.map(|(_, p99, _)| tenth(p99)),
                max_us: figures.map(|(_, _, max)| tenth(max)),
            });
            if samples.latencies.is_empty() {
                println!(
                    "| {} | {} | - | - | - | 0 | {} |",
                    operation.name(),
                    contender.name,
                    samples.missed
                );
                continue;
            }
            let (p50, p99, max) = percentiles(&mut samples.latencies);
            println!(
                "| {} | {} | {p50:.0} | {p99:.0} | {max:.0} | {:.2} | {} |",
                operation.name(),
                contender.name,
                samples.notifications as f64 / samples.changes as f64,
                samples.missed
            );
        }
    }
    if contenders.len() == 3 {
        println!();
        for (o, operation) in Operation::ALL.iter().enumerate() {
            let p50 = |c: usize| percentiles(&mut results[c][o].latencies.clone()).0;
            if results[2][o].latencies.is_empty() || results[1][o].latencies.is_empty() {
                continue;
            }
            println!(
                "{}: p50 ratio net-watcher --debounce-ms 0 / node = {:.2}; default / --debounce-ms 0 = {:+.0} µs",
                operation.name(),
                p50(1) / p50(2),
                p50(0) - p50(1)
            );
        }
    }
    if let Some(dir) = csv_dir() {
        write_csv(&dir, "latency", &rows);
    }
}
