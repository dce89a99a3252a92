//! A real `redis-server` for the relay specs: one per test, on a Unix socket
//! in a temporary directory, with nothing saved to disk, stopped when the
//! value drops.
//!
//! Where `redis-server` is not installed, [`redis_server`] prints
//! `SKIPPED: …` and returns `None`, and the spec passes without running:
//! `cargo test` works on a fresh machine. CI sets
//! `NET_WATCHER_REQUIRE_REDIS=1` (and installs Redis), and there a missing
//! server fails the spec instead.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::binary::{Spawned, TestServer};
use super::target::TargetFile;

/// The variable that makes a missing `redis-server` a failure.
pub const REQUIRE_REDIS: &str = "NET_WATCHER_REQUIRE_REDIS";

/// A running `redis-server`, or one stopped to be started again on the same
/// socket.
pub struct RedisServer {
    program: PathBuf,
    dir: TempDir,
    process: Option<Spawned>,
}

/// Starts a `redis-server` for one spec, or says why it cannot: `None` means
/// "skip this spec" (and was said on stdout).
pub fn redis_server() -> Option<RedisServer> {
    let Some(program) = find_program("redis-server") else {
        let required = std::env::var(REQUIRE_REDIS).is_ok_and(|value| value == "1");
        assert!(
            !required,
            "{REQUIRE_REDIS}=1, but redis-server is not installed (apt-get install -y redis-server)"
        );
        println!(
            "SKIPPED: redis-server is not installed; `apt-get install -y redis-server` runs this spec"
        );
        return None;
    };
    let mut server = RedisServer {
        program,
        dir: tempfile::tempdir().expect("a temporary directory"),
        process: None,
    };
    server.start_again();
    Some(server)
}

impl RedisServer {
    /// The server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The server's directory: where it would save a snapshot
    /// (`dump.rdb`), and where it loads one from when it starts.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of stream `stream` on this server, as net-watcher takes it.
    pub fn url(&self, stream: &str) -> String {
        format!("redis+unix://{}?stream={stream}", self.socket().display())
    }

    /// A connection of the spec's own, to write into a stream by hand.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(format!("redis+unix://{}", self.socket().display()))
            .and_then(|client| client.get_connection())
            .expect("the spec connects to its redis-server")
    }

    /// Stops the server (SIGTERM) and waits for it to exit. Nothing is
    /// saved: started again, it starts empty.
    pub fn stop(&mut self) {
        let mut process = self.process.take().expect("the server is running");
        process.signal(libc::SIGTERM);
        process.wait_for_exit();
    }

    /// Starts the server, on the same socket as before if it ran before, and
    /// waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the server is already running");
        let socket = self.socket();
        let socket = socket.to_str().expect("temporary paths are UTF-8 here");
        let dir = self
            .dir
            .path()
            .to_str()
            .expect("temporary paths are UTF-8 here");
        // No TCP port, no saving, no append-only file: a server that
        // starts again starts empty, as one without persistence does.
        let args = [
            "--port",
            "0",
            "--unixsocket",
            socket,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir,
        ];
        let mut process = Spawned::start_program(&self.program, &args);
        process.wait_for_stdout_containing("ready to accept connections");
        self.process = Some(process);
    }
}

/// `name`'s path, found as a shell finds it (the directories of `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// `net-watcher target.txt --publish URL --port 0`, run in `target`'s
/// directory (so the name it publishes is `target.txt`), with `extra`
/// arguments; waits until it listens.
pub fn start_publisher(target: &TargetFile, url: &str, extra: &[&str]) -> TestServer {
    let mut args = vec!["target.txt", "--publish", url, "--port", "0"];
    args.extend_from_slice(extra);
    TestServer::start_in(Some(target.dir()), "net-watcher", &args)
}

/// `net-watcher --relay URL --port 0` with `extra` arguments; waits until it
/// listens, which an edge does once the stream has named its file.
pub fn start_edge(url: &str, extra: &[&str]) -> TestServer {
    let mut args = vec!["--relay", url];
    if !extra.contains(&"--unix") {
        args.extend_from_slice(&["--port", "0"]);
    }
    args.extend_from_slice(extra);
    TestServer::start("net-watcher", &args)
}
