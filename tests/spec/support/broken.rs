//! Programs that are broken on purpose (`tests/fixtures/broken-server.rs`),
//! compiled once per source version with the toolchain's own `rustc`, for
//! the grader's specs.
//!
//! Why not a binary or an example of the crate: a `[[bin]]` would be
//! installed with the real ones, and an example would sit among the
//! student's, and `cargo test --test spec` (as the mutation runs use it)
//! does not build examples. One std-only file, compiled here into the
//! target directory in a fraction of a second, is built for the suite alone.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The compiled program, built on first use.
pub fn broken_server() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build)
}

fn build() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken-server.rs");
    let text = std::fs::read_to_string(&source).expect("the fixture's source");
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let program = dir.join(format!("broken-server-{:016x}", hasher.finish()));
    if program.exists() {
        return program;
    }
    // Built under a name of its own, then renamed: another test process
    // (cargo nextest runs each test in one) may be building it too.
    let partial = dir.join(format!("broken-server-{}.partial", std::process::id()));
    let output = Command::new(rustc())
        .args(["--edition", "2021", "-o"])
        .arg(&partial)
        .arg(&source)
        .output()
        .expect("rustc runs");
    assert!(
        output.status.success(),
        "cannot compile {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &program).expect("the compiled fixture can be moved in place");
    program
}

/// The `rustc` of the toolchain running the tests: beside `$CARGO`, which
/// cargo sets for the tests it runs, else the one on the `PATH`.
fn rustc() -> PathBuf {
    std::env::var_os("RUSTC")
        .map(PathBuf::from)
        .or_else(|| {
            let cargo = PathBuf::from(std::env::var_os("CARGO")?);
            let rustc = cargo.with_file_name("rustc");
            rustc.exists().then_some(rustc)
        })
        .unwrap_or_else(|| PathBuf::from("rustc"))
}
