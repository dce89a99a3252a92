//! Shared support for the spec suite: fixtures (the `beforeEach` of Mocha),
//! waits with timeouts, scripted streams, and servers in-process or spawned.
//!
//! Every wait here has a timeout and a message that says what was awaited:
//! tests wait on signals (a line, an event, end of file), never on time.

#![allow(dead_code)] // Not every test module uses every helper.

pub mod binary;
pub mod broken;
pub mod chat;
pub mod chromium;
pub mod chunks;
pub mod hostile_redis;
pub mod http;
pub mod in_process;
pub mod outputs;
pub mod processes;
pub mod redis_server;
pub mod sources;
pub mod stalling_proxy;
pub mod stuck_listener;
pub mod submissions;
pub mod target;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// How long any single wait may take before the test fails. Generous, since
/// a loaded 2-core CI machine is slow; a passing test never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How long a test listens to be sure that nothing more arrives. Only used
/// to check an absence; presence is always awaited as a signal.
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// The repository's root, where `Cargo.toml`, `README.md` and `chapters/`
/// are.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Awaits `future`, failing the test with `what` if it takes longer than
/// [`PATIENCE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}
