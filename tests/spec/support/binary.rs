//! The real programs, spawned: a [`Spawned`] child whose output is read on
//! threads, and a [`TestServer`] that waits for the listening line and reads
//! the port from it. Dropping either kills and reaps the child, so a failing
//! test leaves no process behind. The programs are this package's binaries
//! and the práctica's step examples (`examples/`), or the student's own
//! programs (`mine/examples/`, see [`exercise_program`]); a [`ScriptedServer`] sends
//! a spawned client exactly the bytes a test chooses.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::{PATIENCE, QUIET_PERIOD};

/// The path of one of this package's programs, built by cargo for the tests:
/// a binary by its name (`net-watcher`), or a step example by its path in the
/// repository (`examples/net-watcher`), since the two share names; or one
/// of the student's own programs, `mine/NAME` ([`exercise_program`]).
pub fn bin(name: &str) -> PathBuf {
    if let Some(example) = name.strip_prefix("examples/") {
        return example_bin(example);
    }
    if let Some(program) = name.strip_prefix(MINE) {
        return program_of_mine(program);
    }
    let path = match name {
        "net-watcher" => assert_cmd::cargo::cargo_bin!("net-watcher"),
        "net-watcher-client" => assert_cmd::cargo::cargo_bin!("net-watcher-client"),
        "test-json-service" => assert_cmd::cargo::cargo_bin!("test-json-service"),
        "net-watcher-grade" => assert_cmd::cargo::cargo_bin!("net-watcher-grade"),
        other => panic!("no binary named {other}"),
    };
    path.to_path_buf()
}

/// The time zone every spawned binary runs in (`TZ`) unless a test sets
/// another: the dates they print are then the same on every machine.
pub const TIME_ZONE: &str = "UTC";

/// A command for binary `name`, in [`TIME_ZONE`], to run to its end and
/// check with assert_cmd.
pub fn command(name: &str) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(bin(name));
    command.env("TZ", TIME_ZONE);
    command
}

/// The path of example `name`, built for this test run (see
/// [`examples_build`]).
fn example_bin(name: &str) -> PathBuf {
    let path = examples_build().dir.join(name);
    assert!(
        path.is_file(),
        "the example {name} is not built at {}",
        path.display()
    );
    path
}

/// What cargo built for this test run's examples: where they are, and
/// what cargo said of every library and program it built for them.
pub struct ExamplesBuild {
    /// The folder the examples' executables are in.
    pub dir: PathBuf,
    /// Cargo's `compiler-artifact` messages, one per library or program
    /// (this package's and its dependencies', dev-dependencies included).
    pub artifacts: Vec<serde_json::Value>,
}

/// Cargo sets no variable for examples as it does for binaries, but builds
/// them into `examples/` beside the `deps/` directory that holds this test
/// executable. `cargo test` builds them; `cargo test --test spec` alone, or
/// a mutation run, does not, and an example left from an older build would
/// be stale. So the first call builds them all, with this test
/// executable's profile and target directory: when they are fresh, as
/// after a plain `cargo test`, that takes cargo a fraction of a second.
pub fn examples_build() -> &'static ExamplesBuild {
    static BUILD: OnceLock<ExamplesBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        let test_executable = std::env::current_exe().expect("the test executable's path");
        let profile_dir = test_executable
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lives in target/<profile>/deps");
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("no profile directory above {}", test_executable.display()),
        };
        let target_dir = profile_dir.parent().expect("a target directory");
        let output = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples", "--profile", profile])
            .arg("--message-format=json-render-diagnostics")
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let artifacts = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .collect();
        ExamplesBuild {
            dir: profile_dir.join("examples"),
            artifacts,
        }
    })
}

/// How rustc is told where this package's crates are, to compile one file
/// as cargo compiles the examples (a chapter's `compile_fail` block, a step
/// program changed as a chapter has the student change it): `-L
/// dependency=DIR` and one `--extern NAME=FILE` for this package's library
/// and each of its direct dependencies (dev-dependencies too), as cargo
/// built them for the examples ([`examples_build`]).
pub fn rustc_crate_flags() -> &'static Vec<String> {
    static FLAGS: OnceLock<Vec<String>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let manifest = std::fs::read_to_string(super::root().join("Cargo.toml")).unwrap();
        let mut flags = Vec::new();
        for artifact in &examples_build().artifacts {
            let name = artifact["target"]["name"].as_str().unwrap_or("");
            let package = name.replace('_', "-");
            let is_direct = name == "net_watcher"
                || manifest.contains(&format!("\n{package} = "))
                || manifest.contains(&format!("\n{name} = "));
            let rlib = artifact["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|file| file.as_str())
                .find(|file| file.ends_with(".rlib"));
            if let (true, Some(rlib)) = (is_direct, rlib) {
                let rlib = Path::new(rlib);
                if flags.is_empty() {
                    let deps = rlib.parent().unwrap();
                    flags.push(format!("-Ldependency={}", deps.display()));
                    // The library itself is one folder up from deps/.
                    flags.push(format!("-Ldependency={}", deps.parent().unwrap().display()));
                }
                flags.push(format!("--extern={name}={}", rlib.display()));
            }
        }
        assert!(
            flags.iter().any(|flag| flag.starts_with("--extern=tokio=")),
            "cargo named no tokio library: {flags:?}"
        );
        flags
    })
}

/// How the step examples run under test: `PORT=0`, so that the OS picks a
/// free port that the listening line names, and `TZ=UTC`, so that dates read
/// the same on every machine (as the transcripts' normaliser expects).
pub fn step_environment(command: &mut Command) {
    command.env("PORT", "0").env("TZ", TIME_ZONE);
}

/// How long the fake service of step 5 (`examples/test-json-service`, as
/// `PAUSE_MS`) or an exercise's (chapter 5) pauses between the parts of its
/// message when a step's client is tested against it: long enough that the client
/// surely reads the first part on its own, even on a loaded machine. A test
/// waits for it only when the client frames messages correctly. Ten times
/// the book's 100 ms; measured on this 2-core machine, with the pause at
/// 100 ms, the specs that need the parts apart passed about a hundred runs
/// in a row under a load average of 5 to 22 (2 s, the pause before, made
/// these specs the slowest of the suite).
pub const SPLIT_PAUSE_MS: u64 = 1000;

/// The least time a spec accepts between two reads of a split service's
/// parts (see [`SubscriberReads`]), when the service pauses
/// [`SPLIT_PAUSE_MS`] between its writes: half the pause.
///
/// A lower bound only, never an upper one: a loaded machine can make any
/// read late, and an upper bound would fail a right service. This one fails
/// a right service only if the first read comes back more than half a
/// second after its part arrived (the pause was chosen so that even 100 ms
/// is rare), and it fails a service without a pause every time: its parts
/// then come microseconds apart, or in one read.
pub const PARTS_APART_AT_LEAST: Duration = Duration::from_millis(SPLIT_PAUSE_MS / 2);

/// What one subscriber got from a server, read by read
/// ([`TestServer::reads_until_the_end`]).
#[derive(Debug, Default)]
pub struct SubscriberReads {
    /// What each read got, as text, in order (the final read of 0 bytes
    /// left out).
    pub texts: Vec<String>,
    /// How long after the one before each read but the first returned:
    /// one fewer than `texts`.
    pub pauses: Vec<Duration>,
}

impl SubscriberReads {
    /// The first pause between two reads shorter than
    /// [`PARTS_APART_AT_LEAST`], said in words that point at its likely
    /// cause; `None` when every pause is long enough.
    ///
    /// A gap of microseconds is a service that does not pause. A gap
    /// of at least half the book's 100 ms is a pause, only shorter than
    /// the one the spec asked for: a service that never reads `PAUSE_MS`
    /// (it pauses 100 ms, its default), and a student who is told "no
    /// pause" looks for a bug that is not there.
    pub fn short_pause(&self) -> Option<String> {
        let (index, pause) = self
            .pauses
            .iter()
            .enumerate()
            .find(|(_, pause)| **pause < PARTS_APART_AT_LEAST)?;
        let part = ["second", "third"].get(index).copied().unwrap_or("next");
        let before = if index == 0 {
            "the first"
        } else {
            "the one before"
        };
        let why = if *pause >= Duration::from_millis(50) {
            format!(
                "a pause, but less than half the PAUSE_MS={SPLIT_PAUSE_MS} the test set: \
                 does your service read PAUSE_MS?"
            )
        } else {
            "no pause between them".to_owned()
        };
        Some(format!(
            "the {part} part came {pause:?} after {before}: {why}"
        ))
    }
}

/// The prefix of [`bin`]'s names for the student's own programs:
/// `mine/step1` is `mine/examples/step1.rs`, in the package of its own
/// under `mine/` (chapter 1, "Where your programs go").
pub const MINE: &str = "mine/";

/// The program an exercise's or a step's spec runs: the student's own,
/// `mine/examples/NAME.rs`, when `NET_WATCHER_EXERCISE=NAME` names one (as
/// `cargo mine NAME` does), else `answer`: the exercise's answer checked in
/// under `chapters/answers/` (`examples/answer-...`), or the step's program
/// (`examples/net-watcher`).
pub fn exercise_program(answer: &str) -> String {
    let program = exercise_program_named(std::env::var("NET_WATCHER_EXERCISE").ok(), answer);
    // A passing test shows nothing else: this line says whose program it
    // ran, under a failure, or for every test with `-- --show-output`.
    match program.strip_prefix(MINE) {
        Some(name) => {
            // A program of several files (the chat's) is a folder.
            let folder =
                Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("mine/examples/{name}"));
            let file = if folder.is_dir() { "/" } else { ".rs" };
            println!("the program under test: yours, mine/examples/{name}{file}")
        }
        None => println!("the program under test: ours, {program}"),
    }
    program
}

/// [`exercise_program`], for the value `named` of `NET_WATCHER_EXERCISE`.
pub fn exercise_program_named(named: Option<String>, answer: &str) -> String {
    match named {
        Some(name) => {
            assert!(
                !name.is_empty() && !name.contains(['/', '.']),
                "NET_WATCHER_EXERCISE names one of your programs as `cargo mine` does: \
                 NET_WATCHER_EXERCISE=step1 for mine/examples/step1.rs, not {name:?}"
            );
            format!("{MINE}{name}")
        }
        None => answer.to_owned(),
    }
}

/// The executable of `mine/examples/NAME.rs` (or `mine/examples/NAME/main.rs`),
/// built now: the student may have changed it since the last run. Built
/// once per name and test run; a program that does not compile fails the
/// test with the compiler's messages.
fn program_of_mine(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    // Held while building, so that two tests wanting the same program
    // build it once.
    let mut built = built
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("mine/Cargo.toml");
    let path = build_example(&manifest, name);
    built.insert(name.to_owned(), path.clone());
    path
}

/// Builds example `name` of the package whose manifest is `manifest`, and
/// returns its executable, as cargo reports it (wherever `CARGO_TARGET_DIR`
/// or the package's configuration puts it). Fails the test with cargo's
/// messages if it does not build.
pub fn build_example(manifest: &Path, name: &str) -> PathBuf {
    built_by_cargo(&["build"], manifest, name)
}

/// How much of each end of a stream [`Spawned::report`] shows: enough for
/// a greeting and a few errors at the start, and for the last lines before
/// the failure. (A student's client that looped at its end once printed
/// 14 MB there.)
pub const REPORT_END: usize = 4 * 1024;

/// `text` whole if it is at most `2 * end` bytes long; else its first and
/// last `end` bytes (or a little less, not to cut a character in two),
/// with a line between them that says how many bytes were left out.
pub fn cut_for_report(text: &str, end: usize) -> String {
    if text.len() <= 2 * end {
        return text.to_owned();
    }
    let mut head = end;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - end;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// The test executable of `program` (a name [`exercise_program`] gives):
/// example `name` built with its `#[test]`s (`cargo test --no-run
/// --example name`), from this package or, for `mine/NAME`, from the
/// student's. Run it to run them; `--list` lists them.
pub fn example_tests(program: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (manifest, name) = match program.strip_prefix(MINE) {
        Some(name) => (root.join("mine/Cargo.toml"), name),
        None => {
            let name = program.strip_prefix("examples/").unwrap_or(program);
            (root.join("Cargo.toml"), name)
        }
    };
    built_by_cargo(&["test", "--no-run"], &manifest, name)
}

/// The `#[test]`s a program carries beside its code, built with
/// [`example_tests`]: a student's program, or its answer.
pub struct OwnTests {
    executable: PathBuf,
    /// Each test's name, without its modules (`t1_...` for `tests::t1_...`).
    pub names: Vec<String>,
}

impl OwnTests {
    /// Builds the tests of `program` (a name [`exercise_program`] gives)
    /// and lists them.
    pub fn of(program: &str) -> Self {
        let executable = example_tests(program);
        let listed = Command::new(&executable)
            .args(["--list", "--format", "terse"])
            .output()
            .expect("the program's tests list");
        // "tests::t1_a_message_split...: test", one per line.
        let names = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(|path| path.rsplit("::").next().unwrap_or(path).to_owned())
            .collect();
        OwnTests { executable, names }
    }

    /// Fails the test unless, for each of `prefixes`, a test's name
    /// starts with it: the names an exercise agreed on.
    pub fn assert_named(&self, prefixes: &[&str]) {
        let missing: Vec<&str> = prefixes
            .iter()
            .copied()
            .filter(|prefix| !self.names.iter().any(|name| name.starts_with(prefix)))
            .collect();
        assert!(
            missing.is_empty(),
            "no test named {missing:?}... among the program's tests {:?}",
            self.names
        );
    }

    /// Runs them all; fails the test with their output if one fails.
    pub fn assert_pass(&self) {
        let run = Command::new(&self.executable)
            .output()
            .expect("the program's tests run");
        assert!(
            run.status.success(),
            "the program's own tests fail:\n{}",
            String::from_utf8_lossy(&run.stdout)
        );
    }

    /// Runs the tests whose name contains `filter`, on a program they
    /// should find wrong; fails the test, saying `why`, if they all pass.
    pub fn assert_fail(&self, filter: &str, why: &str) {
        let run = Command::new(&self.executable)
            .arg(filter)
            .output()
            .expect("the program's tests run");
        let output = String::from_utf8_lossy(&run.stdout);
        assert!(
            !output.contains("running 0 tests"),
            "no test named {filter}... to run"
        );
        assert!(!run.status.success(), "{why}:\n{output}");
    }
}

/// The source file of `program` (a name [`exercise_program`] gives):
/// `mine/examples/NAME.rs` for `mine/NAME`, else `answer`, the answer's
/// path in the repository.
pub fn program_source(program: &str, answer: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match program.strip_prefix(MINE) {
        Some(name) => root.join(format!("mine/examples/{name}.rs")),
        None => root.join(answer),
    }
}

/// A copy of a program in which one top-level module is swapped for
/// another: the adversary its own tests should fail on. It is written to
/// `mine/examples/` (the package that builds any such file by its name)
/// for the length of a test, and removed when dropped, even when the test
/// fails.
pub struct SwappedProgram {
    path: PathBuf,
    /// Its name for [`OwnTests::of`]: `mine/NAME`.
    pub program: String,
}

impl SwappedProgram {
    /// `source` with its `mod MODULE { ... }` replaced by `replacement`.
    /// The module is found as `cargo fmt` writes one: `mod MODULE {` (or
    /// `pub mod`) at the start of a line, to the first line that is `}`.
    pub fn new(source: &Path, module: &str, replacement: &str) -> Self {
        let text = std::fs::read_to_string(source)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", source.display()));
        let lines: Vec<&str> = text.lines().collect();
        let opening = [format!("mod {module} {{"), format!("pub mod {module} {{")];
        let start = lines
            .iter()
            .position(|line| opening.contains(&line.to_string()));
        let end = start.and_then(|start| (start..lines.len()).find(|&index| lines[index] == "}"));
        let (Some(start), Some(end)) = (start, end) else {
            panic!(
                "this check swaps the `mod {module} {{ ... }}` of {} for a wrong one, \
                 and found none: keep step 6's module, its first line `mod {module} {{` \
                 and its last `}}` each at the start of a line (as `cargo fmt` writes them)",
                source.display()
            )
        };
        let swapped = [&lines[..start], &[replacement], &lines[end + 1..]]
            .concat()
            .join("\n");
        // Several swaps of one module may be in use at once in this
        // process (one spec per adversary): each gets a file of its own.
        static SWAPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let swap = SWAPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("swapped-{module}-{}-{swap}", std::process::id());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("mine/examples/{name}.rs"));
        std::fs::write(&path, swapped).expect("mine/examples/ is writable");
        SwappedProgram {
            path,
            program: format!("{MINE}{name}"),
        }
    }
}

impl Drop for SwappedProgram {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Step 6's `mod ldj_client`, with the bug of step 4 put back: it takes
/// each read for a whole message. The same API as step 6's (`connect`,
/// `next_message`), so that a program's tests build against it.
pub const LDJ_CLIENT_TAKING_EACH_READ_FOR_A_MESSAGE: &str = r#"mod ldj_client {
    use std::error::Error;

    use serde_json::Value;
    use tokio::io::{AsyncRead, AsyncReadExt};

    pub struct LdjClient<S> {
        stream: S,
    }

    impl<S: AsyncRead + Unpin> LdjClient<S> {
        pub fn connect(stream: S) -> Self {
            LdjClient { stream }
        }

        pub async fn next_message(&mut self) -> Result<Option<Value>, Box<dyn Error>> {
            let mut data = Vec::new();
            if self.stream.read_buf(&mut data).await? == 0 {
                return Ok(None);
            }
            Ok(Some(serde_json::from_slice(&data)?))
        }
    }
}"#;

/// The same module as [`LDJ_CLIENT_TAKING_EACH_READ_FOR_A_MESSAGE`], for a
/// client that never gives a message: its `next_message` says the stream
/// ended. A single-event test that asserts nothing passes on it.
pub const LDJ_CLIENT_GIVING_NO_MESSAGE: &str = r#"mod ldj_client {
    use std::error::Error;

    use serde_json::Value;
    use tokio::io::AsyncRead;

    pub struct LdjClient<S> {
        _stream: S,
    }

    impl<S: AsyncRead + Unpin> LdjClient<S> {
        pub fn connect(stream: S) -> Self {
            LdjClient { _stream: stream }
        }

        pub async fn next_message(&mut self) -> Result<Option<Value>, Box<dyn Error>> {
            Ok(None)
        }
    }
}"#;

/// Runs `cargo SUBCOMMAND` (`build`, or `test --no-run`) on example `name`
/// of `manifest`'s package, and returns the executable cargo reports.
fn built_by_cargo(subcommand: &[&str], manifest: &Path, name: &str) -> PathBuf {
    built_target_by_cargo(subcommand, manifest, &["--example", name], name)
}

/// The library's unit tests (`cargo test --lib`), built now if they are
/// not yet (a plain `cargo test` builds them before it runs the specs).
pub fn library_tests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = super::root().join("Cargo.toml");
        built_target_by_cargo(&["test", "--no-run"], &manifest, &["--lib"], "net_watcher")
    })
}

/// Runs `cargo SUBCOMMAND` on the target `selector` picks (`--example
/// NAME`, `--lib`) of `manifest`'s package, and returns the executable
/// cargo reports for the target named `name`.
fn built_target_by_cargo(
    subcommand: &[&str],
    manifest: &Path,
    selector: &[&str],
    name: &str,
) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args(subcommand)
        .args(["--quiet", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(manifest)
        .args(selector)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cannot build the program {name} of {}:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built no executable named {name}"))
}

/// Makes the process `command` starts run under these limits on open
/// files, set in the child between fork and exec (as `ulimit -n` would).
///
/// The program starts with stdin, stdout and stderr alone: descriptors
/// the test process holds without close-on-exec (cargo-mutants' jobserver
/// pipe, at 3 and 4) would take the lowest numbers, and under a limit of
/// 5 the dynamic loader found none and the program never ran (exit 127).
/// Best effort: a kernel before 5.11 refuses the flag, and leaves them.
pub fn limit_open_files(command: &mut Command, soft: u64, hard: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, and only
    // makes two system calls (setrlimit, and close_range marking
    // descriptors 3 and up close-on-exec; both async-signal-safe) and
    // allocates nothing.
    unsafe {
        command.pre_exec(move || {
            rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard)?;
            // Through syscall: glibc's wrapper is newer than some systems'.
            libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

/// Makes the process `command` starts take Ctrl+C's signal, SIGINT, as a
/// program started from a terminal does: unless the program says
/// otherwise, SIGINT ends it. (A test run started in the background,
/// `cargo test &`, ignores SIGINT, and its children would inherit that.)
pub fn interruptible(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, and only
    // makes one system call (sigaction, through `signal`: async-signal-safe)
    // and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::signal(libc::SIGINT, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes the process `command` starts run with at most `bytes` of address
/// space (as `ulimit -v` would): a spec that feeds a program something it
/// might read without end (`/dev/zero`) then fails fast, rather than take
/// the machine's memory.
pub fn limit_memory(command: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: as in `limit_open_files`: one async-signal-safe system call,
    // no allocation, between fork and exec.
    unsafe {
        command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::AS, bytes, bytes));
    }
}

/// A child's stderr as read so far: its reader thread wakes the waiters
/// on `changed` after each read and at the end, so that a wait for a line
/// on stderr is a wait on a signal, not a look every few milliseconds.
#[derive(Default)]
struct GatheredStderr {
    read: Mutex<ReadSoFar>,
    changed: Condvar,
}

/// What [`GatheredStderr`] holds.
#[derive(Default)]
struct ReadSoFar {
    text: String,
    /// The pipe is closed (or there was none): nothing more will come.
    ended: bool,
}

impl GatheredStderr {
    fn push(&self, text: &str) {
        self.read.lock().unwrap().text.push_str(text);
        self.changed.notify_all();
    }

    fn end(&self) {
        self.read.lock().unwrap().ended = true;
        self.changed.notify_all();
    }

    fn text(&self) -> String {
        self.read.lock().unwrap().text.clone()
    }

    /// Waits until `done` holds of what was read, for at most `patience`;
    /// says whether it holds.
    fn wait_until(&self, patience: Duration, done: impl Fn(&ReadSoFar) -> bool) -> bool {
        let read = self.read.lock().unwrap();
        let (read, _) = self
            .changed
            .wait_timeout_while(read, patience, |read| !done(read))
            .unwrap();
        done(&read)
    }
}

/// A running child process whose stdout lines arrive on a channel and whose
/// stderr is collected, both by threads, so the child never blocks on a full
/// pipe however much it prints.
pub struct Spawned {
    command_line: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// `Some(line)` for each stdout line; `None` once stdout is closed.
    stdout: Receiver<Option<String>>,
    stdout_seen: Vec<String>,
    stdout_closed: bool,
    stderr: Arc<GatheredStderr>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Spawned {
    /// Starts binary `name` with `args`.
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::start_in(None, name, args)
    }

    /// Starts binary `name` with `args` in directory `dir` (or the test's
    /// own), so that relative paths are the user's.
    pub fn start_in(dir: Option<&Path>, name: &str, args: &[&str]) -> Self {
        Self::start_configured(dir, name, args, |_| {})
    }

    /// Like [`Spawned::start_in`], with `configure` applied to the command
    /// before it starts (limits, environment, another stdin than a pipe;
    /// `TZ` is [`TIME_ZONE`] unless `configure` sets it).
    pub fn start_configured(
        dir: Option<&Path>,
        name: &str,
        args: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        let program = bin(name);
        let mut command = Command::new(&program);
        command.env("TZ", TIME_ZONE);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.args(args);
        // The executable's path, not `name`: a command the reader of a
        // failure can run as it is (`mine/step1` is no path).
        let command_line = format!("{} {}", program.display(), args.join(" "));
        Self::spawn(command_line, command, configure)
    }

    /// Starts `program` (a path: another project's program, such as
    /// `redis-server`) with `args`.
    pub fn start_program(program: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(program);
        command.args(args);
        let command_line = format!("{} {}", program.display(), args.join(" "));
        Self::spawn(command_line, command, |_| {})
    }

    fn spawn(
        command_line: String,
        mut command: Command,
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // After the pipes, so that a test may give the child another stdin
        // (`Stdio::null()`: /dev/null).
        configure(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start `{command_line}`: {error}"));

        // A stream that `configure` sent elsewhere (a file, a pipe of the
        // test's own) reads here as empty.
        let (lines_tx, stdout) = mpsc::channel();
        let child_stdout = child.stdout.take();
        thread::spawn(move || {
            for line in child_stdout
                .into_iter()
                .flat_map(|out| BufReader::new(out).lines())
            {
                let Ok(line) = line else { break };
                if lines_tx.send(Some(line)).is_err() {
                    return;
                }
            }
            let _ = lines_tx.send(None);
        });

        let stderr = Arc::new(GatheredStderr::default());
        let child_stderr = child.stderr.take();
        let stderr_sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            if let Some(mut child_stderr) = child_stderr {
                let mut chunk = [0u8; 4096];
                while let Ok(read) = child_stderr.read(&mut chunk) {
                    if read == 0 {
                        break;
                    }
                    stderr_sink.push(&String::from_utf8_lossy(&chunk[..read]));
                }
            }
            stderr_sink.end();
        });

        let stdin = child.stdin.take();
        Spawned {
            command_line,
            child,
            stdin,
            stdout,
            stdout_seen: Vec::new(),
            stdout_closed: false,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// Starts step example `name`'s client (`examples/net-watcher-ldj-client`)
    /// in the [`step_environment`], connecting to `port`.
    pub fn step_client(name: &str, port: u16) -> Self {
        Self::start_configured(None, name, &[], |command| {
            step_environment(command);
            command.env("PORT", port.to_string());
        })
    }

    /// What the failure message of a test shows about this child: each
    /// stream cut to its two ends ([`cut_for_report`]), so that a child
    /// that printed in a loop does not bury the failure.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nstdout so far:\n{}\nstderr so far:\n{}",
            self.command_line,
            cut_for_report(&self.stdout_seen.join("\n"), REPORT_END),
            cut_for_report(&self.stderr.text(), REPORT_END)
        )
    }

    /// The next stdout line, waiting up to [`PATIENCE`]; `None` at end of
    /// output. Fails the test on timeout, naming `what` was awaited.
    pub fn next_stdout_line(&mut self, what: &str) -> Option<String> {
        if self.stdout_closed {
            return None;
        }
        match self.stdout.recv_timeout(PATIENCE) {
            Ok(Some(line)) => {
                self.stdout_seen.push(line.clone());
                Some(line)
            }
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                self.stdout_closed = true;
                None
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "timed out after {PATIENCE:?} waiting for {what}\n{}",
                self.report()
            ),
        }
    }

    /// Waits for a stdout line equal to `expected`, skipping others.
    pub fn wait_for_stdout(&mut self, expected: &str) {
        loop {
            match self.next_stdout_line(&format!("the line {expected:?} on stdout")) {
                Some(line) if line == expected => return,
                Some(_) => continue,
                None => panic!(
                    "stdout ended without the line {expected:?}\n{}",
                    self.report()
                ),
            }
        }
    }

    /// Waits for a stdout line that contains `part`, skipping others, and
    /// returns it.
    pub fn wait_for_stdout_containing(&mut self, part: &str) -> String {
        loop {
            match self.next_stdout_line(&format!("a line with {part:?} on stdout")) {
                Some(line) if line.contains(part) => return line,
                Some(_) => continue,
                None => panic!(
                    "stdout ended without a line with {part:?}\n{}",
                    self.report()
                ),
            }
        }
    }

    /// Waits until stderr holds `part`, failing after [`PATIENCE`], or at
    /// once when stderr ends without it.
    pub fn wait_for_stderr(&self, part: &str) {
        let found = self
            .stderr
            .wait_until(PATIENCE, |read| read.ended || read.text.contains(part));
        assert!(
            found && self.stderr().contains(part),
            "{} {part:?} on stderr\n{}",
            if found {
                "stderr ended without".to_owned()
            } else {
                format!("waited {PATIENCE:?} for")
            },
            self.report()
        );
    }

    /// The processor time the child has used so far (user and system), read
    /// from `/proc`.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.id()))
            .unwrap_or_else(|error| panic!("cannot read the child's stat: {error}"));
        // The command name, in parentheses, may hold spaces: count the
        // fields after its closing parenthesis. utime and stime are the
        // 14th and 15th fields of the line, the 12th and 13th after it.
        let after_name = &stat[stat.rfind(')').expect("a stat line names its command") + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // In clock ticks of USER_HZ, which Linux fixes at 100 a second for
        // everything it reports to user space.
        Duration::from_millis(ticks * 10)
    }

    /// The most resident memory the child has used so far, in KiB
    /// (`VmHWM` in `/proc/PID/status`).
    pub fn peak_resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.id()))
            .unwrap_or_else(|error| panic!("cannot read the child's status: {error}"));
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .expect("a VmHWM line");
        line.split_whitespace()
            .nth(1)
            .and_then(|kib| kib.parse().ok())
            .expect("VmHWM in kB")
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("the child can be polled")
            .is_none()
    }

    /// Closes the child's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our
        // own child's, which we have not reaped yet, so it is still ours.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "could not signal `{}`", self.command_line);
    }

    /// Waits for the child to exit (its stdout closes first), and returns
    /// its status and every stdout line it printed. Fails the test if it
    /// has not exited [`PATIENCE`] after its stdout closed.
    pub fn wait_for_exit(&mut self) -> (ExitStatus, Vec<String>) {
        while self
            .next_stdout_line("the process to exit (its stdout to close)")
            .is_some()
        {}
        let status = self.exit_status_within(PATIENCE);
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        (status, self.stdout_seen.clone())
    }

    /// The child's exit status, once it exits, failing the test if that
    /// takes longer than `patience`. A child's exit sends no signal a test
    /// can wait on with a timeout (its stdout may be a pipe of another's, or
    /// a file), so this looks every few milliseconds.
    ///
    /// Its stderr is read to the end before this returns (for at most
    /// [`PATIENCE`] more, in case a process it started holds the pipe):
    /// the child's last words may still be in the pipe when it has
    /// exited, and [`Spawned::stderr`] right after read without them
    /// about once in a hundred runs.
    pub fn exit_status_within(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be polled") {
                if self.stderr.wait_until(PATIENCE, |read| read.ended) {
                    let _ = self.stderr_reader.take().map(thread::JoinHandle::join);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "`{}` did not exit within {patience:?}\n{}",
                self.command_line,
                self.report()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Checks that the child is still running after [`QUIET_PERIOD`]: an
    /// absence (it does not give up, nor crash), which only time shows.
    pub fn assert_keeps_running(&mut self, what: &str) {
        let until = Instant::now() + QUIET_PERIOD;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().expect("the child can be polled") {
                panic!(
                    "expected `{}` to keep running ({what}); it exited with {status}\n{}",
                    self.command_line,
                    self.report()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// The TCP ports the child listens on, read from `/proc`: for a
    /// server whose listening line the test cannot read (its stdout is
    /// `/dev/full`). Its sockets are the `socket:[INODE]` links among its
    /// open files; `/proc/PID/net/tcp` and `tcp6` give each listening
    /// socket's inode and local port.
    pub fn tcp_listening_ports(&self) -> Vec<u16> {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.id()))
            .unwrap_or_else(|error| panic!("cannot list the child's fds: {error}"));
        let inodes: Vec<String> = fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_str()?;
                Some(
                    target
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_owned(),
                )
            })
            .collect();
        let mut ports = Vec::new();
        for table in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/{}/net/{table}", self.id()))
                .unwrap_or_else(|error| panic!("cannot read the child's {table} table: {error}"));
            // "sl local_address rem_address st ... inode ...": the local
            // address is ADDRESS:PORT in hex, state 0A is LISTEN, the
            // inode is the tenth field.
            for fields in text
                .lines()
                .skip(1)
                .map(|line| line.split_whitespace().collect::<Vec<_>>())
            {
                if fields.get(3) == Some(&"0A")
                    && inodes
                        .iter()
                        .any(|inode| Some(&inode.as_str()) == fields.get(9))
                {
                    let port = fields[1].rsplit(':').next().expect("ADDRESS:PORT");
                    ports.push(u16::from_str_radix(port, 16).expect("a port in hex"));
                }
            }
        }
        ports
    }

    /// Waits until the child holds `expected` inotify instances, failing
    /// after [`PATIENCE`]. A dropped file watch closes its instance on
    /// its own reader thread a moment later, and nothing announces it: so this looks
    /// again every few milliseconds rather than wait on a signal.
    pub fn wait_for_inotify_instances(&self, expected: usize) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let held = self.inotify_instances();
            if held == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {expected} inotify instances within {PATIENCE:?}, the child holds {held}\n{}",
                self.report()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many files the child holds open (`/proc/PID/fd`).
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.id()))
            .unwrap_or_else(|error| panic!("cannot list the child's fds: {error}"))
            .count()
    }

    /// Waits until the child holds at least `expected` open files, failing
    /// after [`PATIENCE`]: the sign that it has accepted connections that
    /// tell it nothing. Nothing announces an accept, so this looks again
    /// every few milliseconds.
    pub fn wait_for_open_files(&self, expected: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.open_files() < expected {
            assert!(
                Instant::now() < deadline,
                "expected {expected} open files within {PATIENCE:?}, the child holds {}\n{}",
                self.open_files(),
                self.report()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many inotify instances the child holds open: on Linux, one per
    /// file watch (`watching::FileWatch`), so the number of OS watches it
    /// has made and kept.
    pub fn inotify_instances(&self) -> usize {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.id()))
            .unwrap_or_else(|error| panic!("cannot list the child's fds: {error}"));
        fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.as_os_str() == "anon_inode:inotify")
            .count()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Already exited is fine; the point is that nothing is left running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server binary (`net-watcher` or `test-json-service`) that has printed
/// its listening line.
pub struct TestServer {
    /// The running process.
    pub process: Spawned,
    listening_on: Vec<String>,
}

impl TestServer {
    // ANCHOR: test_server_start
    /// Starts binary `name` with `args` and waits until it listens.
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::start_in(None, name, args)
    }

    /// Like [`TestServer::start`], in directory `dir`.
    pub fn start_in(dir: Option<&Path>, name: &str, args: &[&str]) -> Self {
        Self::listening(Spawned::start_in(dir, name, args))
    }

    /// Like [`TestServer::start`], with `configure` applied to the command.
    pub fn start_configured(
        name: &str,
        args: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Self {
        Self::listening(Spawned::start_configured(None, name, args, configure))
    }

    /// Waits until `process` prints its listening line, and reads it.
    fn listening(mut process: Spawned) -> Self {
        let first = process
            .next_stdout_line("the listening line")
            .unwrap_or_else(|| panic!("the server exited before listening\n{}", process.report()));
        let listening_on = addresses_in_listening_line(&first);
        TestServer {
            process,
            listening_on,
        }
    }
    // ANCHOR_END: test_server_start

    /// Starts step example `name` (`examples/net-watcher`) with `args` in
    /// `dir`, in the [`step_environment`], and waits until it listens.
    pub fn step(dir: Option<&Path>, name: &str, args: &[&str]) -> Self {
        Self::listening(Spawned::start_configured(dir, name, args, step_environment))
    }

    /// Like [`TestServer::step`], [`interruptible`] as in a terminal: for a
    /// test that stops it as a reader's Ctrl+C does.
    pub fn step_interruptible(dir: Option<&Path>, name: &str, args: &[&str]) -> Self {
        let process = Spawned::start_configured(dir, name, args, |command| {
            step_environment(command);
            interruptible(command);
        });
        Self::listening(process)
    }

    /// Every address or path the listening line names.
    pub fn listening_on(&self) -> &[String] {
        &self.listening_on
    }

    /// The first TCP address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listening_on[0]
            .parse()
            .unwrap_or_else(|_| panic!("not a TCP address: {:?}", self.listening_on[0]))
    }

    /// The TCP port, read from the listening line.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Starts a fake service of step 5, `program` (`examples/test-json-service`,
    /// or an exercise's), on a free port, with a pause of
    /// [`SPLIT_PAUSE_MS`] between the parts of its message, and waits
    /// until it listens.
    pub fn split_service(program: &str) -> Self {
        Self::start_configured(program, &[], |command| {
            step_environment(command);
            command.env("PAUSE_MS", SPLIT_PAUSE_MS.to_string());
        })
    }

    /// Connects one subscriber over TCP and reads until the server ends
    /// the connection: what each read got, in order, and how long after
    /// each other the reads got it. Each read waits at most [`PATIENCE`].
    pub fn reads_until_the_end(&self) -> SubscriberReads {
        let mut subscriber = TcpStream::connect(self.addr()).expect("the server accepts");
        subscriber.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reads = SubscriberReads::default();
        let mut last_read: Option<Instant> = None;
        let mut buffer = [0u8; 1024];
        loop {
            let read = subscriber
                .read(&mut buffer)
                .unwrap_or_else(|error| panic!("after the reads {:?}: {error}", reads.texts));
            if read == 0 {
                return reads;
            }
            // Timed when the read returns, on this side: what a client
            // sees. The server's writes are never timed, so a service that
            // writes its parts back to back cannot pass for one that pauses.
            let now = Instant::now();
            if let Some(previous) = last_read.replace(now) {
                reads.pauses.push(now - previous);
            }
            reads
                .texts
                .push(String::from_utf8_lossy(&buffer[..read]).into_owned());
        }
    }

    /// Connects a subscriber: over TCP, or to the Unix socket when the
    /// listening line names a path.
    pub fn connect(&self) -> LineReader {
        let first = &self.listening_on[0];
        if first.starts_with('/') {
            let stream = std::os::unix::net::UnixStream::connect(first)
                .unwrap_or_else(|error| panic!("cannot connect to {first}: {error}"));
            return LineReader::unix(stream);
        }
        LineReader::new(TcpStream::connect(self.addr()).expect("the server accepts"))
    }

    /// A subscriber that connects and then never reads, with the smallest
    /// receive buffer the OS allows: as a stopped `socat ...,rcvbuf=4096`
    /// in chapter 9, so that the server's writes to it soon wait. (With the
    /// OS's default, Linux lets a stopped reader's buffer grow to megabytes
    /// first.)
    pub fn connect_stalled(&self) -> TcpStream {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(self.addr()),
            socket2::Type::STREAM,
            None,
        )
        .expect("a TCP socket");
        socket
            .set_recv_buffer_size(1)
            .expect("the receive buffer can be shrunk");
        socket
            .connect(&self.addr().into())
            .expect("the server accepts");
        socket.into()
    }

    /// A subscriber that reads everything on a thread of its own, as a
    /// terminal running `nc` does, until the server closes the connection;
    /// joining the thread gives the lines it read.
    pub fn connect_reading(&self) -> thread::JoinHandle<usize> {
        let stream = TcpStream::connect(self.addr()).expect("the server accepts");
        thread::spawn(move || BufReader::new(stream).lines().map_while(Result::ok).count())
    }
}

/// The addresses a listening line names:
/// `Listening for subscribers on 127.0.0.1:60300 and [::1]:60300...`, or
/// for the people of a chat room: what is listened for may vary, the
/// addresses come after " on ".
pub fn addresses_in_listening_line(line: &str) -> Vec<String> {
    let Some((_, addresses)) = line
        .split_once("istening for ")
        .and_then(|(_, rest)| rest.split_once(" on "))
    else {
        panic!("the first line is not a listening line: {line:?}");
    };
    let addresses = addresses
        .strip_suffix("...")
        .unwrap_or_else(|| panic!("the listening line does not end in '...': {line:?}"));
    addresses
        .split(" and ")
        .flat_map(|part| part.split(", "))
        .map(str::to_owned)
        .collect()
}

/// Reads lines from a connected socket, each wait bounded by [`PATIENCE`].
pub struct LineReader {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: Box<dyn Write + Send>,
    /// Sets the socket's read timeout, through a clone of the socket.
    set_read_timeout: Box<dyn Fn(Duration) + Send>,
}

impl LineReader {
    /// Reads from a TCP connection.
    pub fn new(stream: TcpStream) -> Self {
        let writer = stream.try_clone().expect("the socket can be cloned");
        let timeouts = stream.try_clone().expect("the socket can be cloned");
        Self::reading(Box::new(stream), Box::new(writer), move |timeout| {
            timeouts.set_read_timeout(Some(timeout))
        })
    }

    /// Reads from a Unix socket connection.
    pub fn unix(stream: std::os::unix::net::UnixStream) -> Self {
        let writer = stream.try_clone().expect("the socket can be cloned");
        let timeouts = stream.try_clone().expect("the socket can be cloned");
        Self::reading(Box::new(stream), Box::new(writer), move |timeout| {
            timeouts.set_read_timeout(Some(timeout))
        })
    }

    fn reading(
        reader: Box<dyn Read + Send>,
        writer: Box<dyn Write + Send>,
        set_read_timeout: impl Fn(Duration) -> std::io::Result<()> + Send + 'static,
    ) -> Self {
        let set_read_timeout = move |timeout| {
            set_read_timeout(timeout).expect("a read timeout can be set");
        };
        set_read_timeout(PATIENCE);
        LineReader {
            reader: BufReader::new(reader),
            writer,
            set_read_timeout: Box::new(set_read_timeout),
        }
    }

    /// The next line, newline included. Fails the test on timeout or end of
    /// file, naming `what` was awaited.
    pub fn next_line(&mut self, what: &str) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the connection ended while waiting for {what}"),
            Ok(_) => line,
            // A read timeout shows as "would block" or "timed out"; say it
            // plainly rather than quoting the OS's words for it.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let partial = if line.is_empty() {
                    "nothing came".to_owned()
                } else {
                    format!("only part of a line came: {line:?}")
                };
                panic!("waited {PATIENCE:?} for {what}; {partial}")
            }
            Err(error) => panic!("reading {what} failed: {error} (got {line:?})"),
        }
    }

    /// Waits for the server to close the connection; fails on more data.
    pub fn expect_end(&mut self, what: &str) {
        let mut rest = String::new();
        match self.reader.read_line(&mut rest) {
            Ok(0) => {}
            Ok(_) => panic!("expected {what}, got the line {rest:?}"),
            // As in `next_line`: a read timeout, said plainly.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "expected {what}; nothing came within {PATIENCE:?}: the connection stayed open"
                )
            }
            Err(error) => panic!("expected {what}, got: {error}"),
        }
    }

    /// Everything until the server closes the connection, naming `what`
    /// in a failure.
    pub fn rest(&mut self, what: &str) -> String {
        let mut rest = String::new();
        match self.reader.read_to_string(&mut rest) {
            Ok(_) => rest,
            Err(error) => panic!("reading {what} failed: {error} (got {rest:?})"),
        }
    }

    /// Checks that no more data comes for [`QUIET_PERIOD`] (and that the
    /// connection stays open).
    pub fn expect_silence(&mut self, after: &str) {
        (self.set_read_timeout)(QUIET_PERIOD);
        let mut line = String::new();
        let read = self.reader.read_line(&mut line);
        (self.set_read_timeout)(PATIENCE);
        match read {
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => panic!("expected nothing more after {after}, but the connection ended"),
            Ok(_) => panic!("expected nothing more after {after}, got {line:?}"),
            Err(error) => panic!("expected nothing more after {after}, got: {error}"),
        }
    }

    /// Sends bytes to the server, as someone typing into `nc` does.
    pub fn type_text(&mut self, text: &str) {
        self.writer
            .write_all(text.as_bytes())
            .expect("the server's socket takes input");
    }
}

/// A TCP server on a free port that sends its first subscriber `bytes` in one
/// write, then closes the connection: the far end of a spawned client when a
/// test must choose the exact bytes (two messages in one read, a message type
/// no server sends). On loopback, one small write arrives in one read.
pub struct ScriptedServer {
    port: u16,
    sender: Option<thread::JoinHandle<String>>,
}

impl ScriptedServer {
    /// Listens on a free port and sends `bytes` to the first subscriber.
    pub fn sending(bytes: &'static [u8]) -> Self {
        Self::serving_one(move |mut stream| {
            stream
                .write_all(bytes)
                .expect("the subscriber takes the bytes");
            String::new()
        })
    }

    /// Listens on a free port as an HTTP server of one request: reads the
    /// first client's request head, then answers with `writes`, each in a
    /// write of its own, [`SPLIT_PAUSE_MS`] apart, and closes the
    /// connection. Chapter 5's fake service, for a reader of HTTP (chapter
    /// 13's event stream): a client that takes a read for whole messages
    /// gets a part of one. [`ScriptedServer::finish`] gives the request.
    pub fn answering_in_writes(writes: Vec<Vec<u8>>) -> Self {
        Self::serving_one(move |mut stream| {
            let request = read_request_head(&mut stream);
            for (index, bytes) in writes.iter().enumerate() {
                if index > 0 {
                    // A bare sleep, as in chapter 5's service: the pause is
                    // what is tested. Long enough that the client surely
                    // reads the part before on its own.
                    thread::sleep(Duration::from_millis(SPLIT_PAUSE_MS));
                }
                // A client that failed on a part has left: what it printed
                // says so, and the rest has nobody to go to.
                if stream.write_all(bytes).is_err() {
                    break;
                }
            }
            request
        })
    }

    /// Accepts one connection on a free port and hands it to `serve` on a
    /// thread of its own; `serve` returns what the client sent.
    fn serving_one(serve: impl FnOnce(TcpStream) -> String + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let sender = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a subscriber connects");
            serve(stream)
        });
        ScriptedServer {
            port,
            sender: Some(sender),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until the bytes are sent and the connection is closed; fails
    /// the test if sending failed. Returns the request an
    /// [`ScriptedServer::answering_in_writes`] read (empty for
    /// [`ScriptedServer::sending`]).
    pub fn finish(mut self) -> String {
        let sender = self.sender.take().expect("finished once");
        sender
            .join()
            .unwrap_or_else(|_| panic!("the scripted server failed to send"))
    }
}

/// What a client sends up to the end of its request's head (an empty line),
/// or until it stops sending for [`PATIENCE`]. Read before answering: a
/// socket closed with bytes left unread ends in a reset, not an end of file.
fn read_request_head(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Whether `node` can be run; if not, says that the test is skipped.
pub fn node_is_installed(what: &str) -> bool {
    let installed = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        eprintln!("SKIPPED: node is not installed, so {what} was not run");
    }
    installed
}

/// describe: [`cut_for_report`], which keeps a failure's report short.
mod a_long_report {
    use super::cut_for_report;

    #[test]
    fn keeps_both_ends_and_says_how_much_it_left_out() {
        let text = format!("start{}end", "x".repeat(100));
        assert_eq!(
            cut_for_report(&text, 10),
            "startxxxxx\n[... 88 bytes left out ...]\nxxxxxxxend"
        );
    }

    #[test]
    fn keeps_a_text_of_twice_the_end_whole() {
        let text = "a".repeat(20);
        assert_eq!(cut_for_report(&text, 10), text);
    }

    #[test]
    fn never_cuts_a_character_in_two() {
        // "é" is two bytes: byte 3 falls inside the second one.
        let text = "éééééééé";
        assert_eq!(cut_for_report(text, 3), "é\n[... 12 bytes left out ...]\né");
    }
}
