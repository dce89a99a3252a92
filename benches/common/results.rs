//! The benchmarks' results as CSV, for the plots (`benches/plots.rs`) and
//! for anyone who wants the numbers without copying them from a table.
//!
//! A benchmark writes CSV only when asked, with `--csv=DIR`: one file per
//! table, one row per observation (a server at a size, a server and an
//! operation), each row carrying the machine, the date and the arguments of
//! its run, so a file read on its own says where it came from. Why opt-in,
//! and not a fixed folder: the same programs also serve for quick and
//! partial runs (`--quick`, `--size=N`, `LATENCY_OPS=…`) while profiling,
//! and those must not overwrite the full run the committed plots are drawn
//! from.
//!
//! Each table is one row type here, written and read back with serde, so a
//! benchmark and the plots cannot disagree about a column. Times are in
//! microseconds, memory in bytes; a figure that does not exist (no
//! notification arrived, so no latency) is an empty field, never a zero.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The folder given with `--csv=DIR`, if any.
pub fn csv_dir() -> Option<PathBuf> {
    std::env::args().find_map(|arg| arg.strip_prefix("--csv=").map(PathBuf::from))
}

/// What every row says about the run that produced it.
#[derive(Debug, Clone)]
pub struct Run {
    /// Cores and CPU model (`common::machine`).
    pub machine: String,
    /// When the run started, UTC: `2026-11-27 10:43 UTC`.
    pub date: String,
    /// The benchmark's own arguments (`--quick`, `--size=100`, a count), or
    /// `default` for a full run with the defaults. The `--csv` argument, and
    /// the `--bench` that cargo adds, are left out.
    pub arguments: String,
}

impl Run {
    /// This run, now.
    pub fn now() -> Self {
        let arguments: Vec<String> = std::env::args()
            .skip(1)
            .filter(|arg| arg != "--bench" && !arg.starts_with("--csv="))
            .collect();
        Run {
            machine: super::machine(),
            date: utc_now(),
            arguments: if arguments.is_empty() {
                "default".to_owned()
            } else {
                arguments.join(" ")
            },
        }
    }
}

/// The time now, UTC, to the minute: `2026-11-27 10:43 UTC`.
fn utc_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// A figure in microseconds, to a tenth: enough for any plot or table, and
/// short, so the files diff well.
pub fn tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Writes `rows` to `DIR/NAME.csv`, making DIR if needed, and says so on
/// stderr.
pub fn write<T: Serialize>(dir: &Path, name: &str, rows: &[T]) {
    std::fs::create_dir_all(dir)
        .unwrap_or_else(|error| panic!("cannot make {}: {error}", dir.display()));
    let path = dir.join(format!("{name}.csv"));
    let mut writer = csv::Writer::from_path(&path)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    for row in rows {
        writer.serialize(row).unwrap();
    }
    writer.flush().unwrap();
    eprintln!("wrote {}", path.display());
}

/// Reads every row of `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// `fanout.csv`: one server at one number of subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanOutRow {
    pub machine: String,
    pub date: String,
    pub arguments: String,
    /// How the harness's readers wait: `woken per line`, or
    /// `sleeping N µs after each batch` (`--poll-us=N`).
    pub harness: String,
    pub subscribers: usize,
    /// A short, stable name: `net-watcher-debounce-0`, `node`.
    pub server: String,
    /// The name the tables use: `net-watcher --debounce-ms 0`.
    pub server_label: String,
    pub changes: usize,
    /// Per subscriber, pooled over all changes.
    pub latency_p50_us: f64,
    pub latency_p99_us: f64,
    pub latency_max_us: f64,
    /// Until the last subscriber of a change had its line, over the changes.
    pub all_notified_p50_us: f64,
    pub all_notified_p99_us: f64,
    pub all_notified_max_us: f64,
    /// The server's resident memory from 1 to N idle subscribers, / (N − 1);
    /// empty at one subscriber.
    pub rss_per_idle_subscriber_bytes: Option<f64>,
    pub harness_cpu_cores: f64,
    pub server_cpu_cores: Option<f64>,
}

/// `fanout-churn.csv`: connect/disconnect cycles against one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnRow {
    pub machine: String,
    pub date: String,
    pub arguments: String,
    pub server: String,
    pub server_label: String,
    pub cycles: usize,
    pub seconds: f64,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub open_fds_before: usize,
    pub open_fds_after: usize,
    pub inotify_instances_after: usize,
}

/// `latency.csv`: one server and one kind of change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyRow {
    pub machine: String,
    pub date: String,
    pub arguments: String,
    /// A short, stable name: `touch`, `touch-program`, `append`, `chmod`,
    /// `atomic-save`.
    pub operation: String,
    /// The name the table uses: `append (echo x >>)`.
    pub operation_label: String,
    /// `net-watcher`, `net-watcher-debounce-0`, `node`.
    pub server: String,
    pub server_label: String,
    pub changes: usize,
    /// Changes that brought no notification within two seconds.
    pub missed: usize,
    pub notifications: usize,
    /// Of the changes that were notified; empty when every one was missed.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
}

/// `memory.csv`: what the added idle subscribers keep allocated, by the
/// size and alignment of the allocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryRow {
    pub machine: String,
    pub date: String,
    pub arguments: String,
    /// Idle subscribers added while counting.
    pub subscribers: usize,
    pub size_bytes: usize,
    pub alignment: usize,
    pub live_allocations: i64,
    pub allocations_per_subscriber: f64,
    pub bytes_per_subscriber: f64,
}

/// `decoder.csv`: one way of decoding the stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecoderRow {
    pub machine: String,
    pub date: String,
    pub arguments: String,
    pub messages: usize,
    pub decoder: String,
    /// The median of the runs.
    pub runs: usize,
    pub megabytes_per_second: f64,
    pub messages_per_second: f64,
}
