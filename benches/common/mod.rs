//! What the benchmarks share: starting a server (ours or the Node baseline)
//! on a temporary file, summarising samples, and writing the results as CSV
//! (`results`).

#![allow(dead_code)] // Each benchmark uses part of this.

pub mod results;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server under test.
#[derive(Debug, Clone)]
pub struct Contender {
    /// How the CSV files and the plots know it: `net-watcher`,
    /// `net-watcher-debounce-0`, `node`.
    pub key: String,
    /// How the tables name it.
    pub name: String,
    /// The program and its arguments before the file; `{file}` is replaced
    /// by the watched file's path, `{port}` by 0.
    pub command: Vec<String>,
}

impl Contender {
    /// net-watcher in JSON mode, with extra arguments.
    pub fn net_watcher(key: &str, name: &str, extra: &[&str]) -> Self {
        let mut command = vec![
            env!("CARGO_BIN_EXE_net-watcher").to_owned(),
            "{file}".to_owned(),
            "--json".to_owned(),
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            "0".to_owned(),
        ];
        command.extend(extra.iter().map(|arg| arg.to_string()));
        Contender {
            key: key.to_owned(),
            name: name.to_owned(),
            command,
        }
    }

    /// The same contender run from another build of net-watcher, for a
    /// before/after comparison in one run: `--before=PATH` names that
    /// build's binary (for example a worktree of the older commit, built
    /// with `cargo build --release`). `None` without the flag.
    pub fn before(&self) -> Option<Self> {
        let binary = before_binary()?;
        let mut command = self.command.clone();
        command[0] = binary;
        Some(Contender {
            key: format!("{}-before", self.key),
            name: format!("{} (before)", self.name),
            command,
        })
    }

    /// The book's step-3 server, in Node (benches/node/net-watcher-json.js),
    /// if `node` is installed.
    pub fn node() -> Option<Self> {
        let found = Command::new("node").arg("--version").output().ok()?;
        if !found.status.success() {
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/node/net-watcher-json.js");
        Some(Contender {
            key: "node".to_owned(),
            name: "node (book, step 3)".to_owned(),
            command: vec![
                "node".to_owned(),
                script.display().to_string(),
                "{file}".to_owned(),
                "0".to_owned(),
            ],
        })
    }

    /// Starts the server on `file` and waits for its listening line.
    pub fn start(&self, file: &Path) -> RunningServer {
        let args: Vec<String> = self.command[1..]
            .iter()
            .map(|arg| arg.replace("{file}", &file.display().to_string()))
            .collect();
        let mut child = Command::new(&self.command[0])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.name));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // `... on 127.0.0.1:P[, [::1]:P][ and http://127.0.0.1:H/]...`
        let addresses = first.trim_end().trim_end_matches("...");
        let addresses = addresses.rsplit(" on ").next().unwrap_or_default();
        let port_of = |entry: &str| -> Option<u16> { entry.rsplit(':').next()?.parse().ok() };
        let entries: Vec<&str> = addresses
            .split(" and ")
            .flat_map(|part| part.split(", "))
            .collect();
        let port = entries
            .iter()
            .find(|entry| !entry.starts_with("http://"))
            .and_then(|entry| port_of(entry))
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        let http_port = entries
            .iter()
            .find_map(|entry| port_of(entry.strip_prefix("http://")?.strip_suffix('/')?));
        // Keep reading the server's log, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        RunningServer {
            child,
            port,
            http_port,
        }
    }
}

impl Contender {
    /// An edge server (`net-watcher --relay URL`, chapter 12) in JSON mode:
    /// its changes come from the stream at `url`, not from a file.
    pub fn edge(key: &str, name: &str, url: &str) -> Self {
        let command = [
            env!("CARGO_BIN_EXE_net-watcher"),
            "--relay",
            url,
            "--json",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ];
        Contender {
            key: key.to_owned(),
            name: name.to_owned(),
            command: command.iter().map(|arg| arg.to_string()).collect(),
        }
    }
}

/// A `redis-server` for the relay's figures, on a Unix socket in a
/// temporary directory, saving nothing; stopped on drop.
pub struct Redis {
    dir: tempfile::TempDir,
    child: Child,
}

impl Redis {
    /// Starts one and waits until it accepts connections; `None` if
    /// `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("redis.sock");
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("ready to accept connections") {
            line.clear();
            let read = stdout.read_line(&mut line).unwrap();
            assert!(read > 0, "redis-server exited before it was ready");
        }
        std::thread::spawn(move || for _ in stdout.lines() {});
        Some(Redis { dir, child })
    }

    /// The URL of stream `stream` on it, as net-watcher takes it.
    pub fn url(&self, stream: &str) -> String {
        format!(
            "redis+unix://{}?stream={stream}",
            self.dir.path().join("redis.sock").display()
        )
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A started server; killed and reaped on drop.
pub struct RunningServer {
    child: Child,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its port for browsers on 127.0.0.1 (`--http`), if it serves them.
    pub http_port: Option<u16>,
}

impl RunningServer {
    /// The server's process id, to read its memory from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory holding the watched file.
pub struct Workspace {
    _dir: tempfile::TempDir,
    /// The watched file.
    pub file: PathBuf,
}

impl Workspace {
    /// A new directory with an empty `target.txt`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("target.txt");
        std::fs::write(&file, "").unwrap();
        Workspace { _dir: dir, file }
    }
}

/// The benchmark's first argument that is not a flag, as a count, or
/// `default`: `cargo bench --bench latency -- 120`.
pub fn count_argument(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(default)
}

/// p50, p99 and max of `samples`, in microseconds.
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99), at(1.0))
}

/// The machine, for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// The `--before=PATH` argument: an older net-watcher binary to run beside
/// this build's (see [`Contender::before`]).
pub fn before_binary() -> Option<String> {
    std::env::args().find_map(|arg| arg.strip_prefix("--before=").map(str::to_owned))
}
