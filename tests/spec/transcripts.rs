//! describe: the transcripts the chapters show, run for real.
//!
//! Each test runs the programs as a chapter tells a reader to, and compares
//! what they print with the fixture under `fixtures/transcripts/`, after
//! normalising what changes from run to run: dates and timestamps. Ports
//! and temporary paths are written as a reader would see them (the
//! práctica's port, `/tmp`) before comparing.
//!
//! `NET_WATCHER_BLESS=1 cargo test transcripts::` records the fixtures
//! again from the real runs.

use std::fs;
use std::path::Path;

use net_watcher::server::DEFAULT_PORT;
use pretty_assertions::assert_eq;
use rstest::rstest;

use crate::support::binary::{LineReader, Spawned, TestServer};
use crate::support::target::{TargetFile, target};

/// Replaces what differs between runs: every `<weekday> <month> <day>
/// <year> <hh:mm:ss> GMT+0000 (UTC)` date by `<date>`, and every JSON
/// timestamp by `<ms>`.
fn normalise(text: &str) -> String {
    const DATE_TAIL: &str = " GMT+0000 (UTC)";
    const DATE_HEAD: usize = "Fri Nov 27 2026 06:40:12".len();
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        while let Some(at) = line.find(DATE_TAIL) {
            let start = at.saturating_sub(DATE_HEAD);
            line.replace_range(start..at + DATE_TAIL.len(), "<date>");
        }
        if let Some(at) = line.find("\"timestamp\":") {
            let digits_start = at + "\"timestamp\":".len();
            let digits_end = line[digits_start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(line.len(), |end| digits_start + end);
            line.replace_range(digits_start..digits_end, "<ms>");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Compares a real run with its fixture, or records it when blessing.
fn check(fixture: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
    if std::env::var_os("NET_WATCHER_BLESS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let recorded = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{fixture}: {error} (record it with NET_WATCHER_BLESS=1)"));
    assert_eq!(
        normalise(&recorded),
        normalise(actual),
        "{fixture} no longer matches a real run (if the change is intended: NET_WATCHER_BLESS=1 cargo test transcripts::)"
    );
}

/// Replaces the real port with the one the chapters use, the práctica's.
/// (Nothing here binds it: the servers run on port 0.)
fn as_default_port(line: &str, port: u16) -> String {
    line.replace(&format!(":{port}"), &format!(":{DEFAULT_PORT}"))
}

/// The command line a reader types to subscribe over TCP.
fn nc_command() -> String {
    format!("$ nc localhost {DEFAULT_PORT}\n")
}

#[test]
fn normalising_hides_dates_and_timestamps_only() {
    assert_eq!(
        normalise(
            "File changed: Fri Nov 27 2026 06:40:12 GMT+0000 (UTC)\n{\"type\":\"changed\",\"timestamp\":17}\nNow watching"
        ),
        "File changed: <date>\n{\"type\":\"changed\",\"timestamp\":<ms>}\nNow watching\n"
    );
}

/// Chapter 1: the server's console and what `nc` shows, in plain text.
#[rstest]
fn chapter_1_the_plain_text_demo(target: TargetFile) {
    let mut server = TestServer::start_in(
        Some(target.dir()),
        "net-watcher",
        &["target.txt", "--port", "0"],
    );
    let port = server.port();
    let mut nc = server.connect();
    let mut session = nc_command();
    session.push_str(&nc.next_line("the greeting"));
    for change in 0..2 {
        target.touch();
        session.push_str(&nc.next_line(&format!("change {change}")));
    }
    drop(nc);
    server.process.wait_for_stdout("Subscriber disconnected.");
    server.process.signal(libc::SIGINT);
    let (status, lines) = server.process.wait_for_exit();
    assert!(
        status.success(),
        "expected exit 0 after the signal, got {status}; output: {lines:?}"
    );

    let mut console = String::from("$ cargo run -- target.txt\n");
    for line in &lines {
        console.push_str(&as_default_port(line, port));
        console.push('\n');
    }
    check("fixtures/transcripts/01-server-console.txt", &console);
    check("fixtures/transcripts/01-nc-session.txt", &session);
}

/// Chapter 2: the server on a Unix socket, and `nc -U`.
#[rstest]
fn chapter_2_the_unix_socket_demo(target: TargetFile) {
    let socket = target.dir().join("watcher.sock");
    let socket_arg = socket.to_str().unwrap();
    let mut server = TestServer::start_in(
        Some(target.dir()),
        "net-watcher",
        &["target.txt", "--unix", socket_arg],
    );
    let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let mut nc = LineReader::unix(stream);
    let mut session = String::from("$ nc -U /tmp/watcher.sock\n");
    session.push_str(&nc.next_line("the greeting"));
    target.touch();
    session.push_str(&nc.next_line("the change"));
    server.process.wait_for_stdout("Subscriber connected.");
    server.process.signal(libc::SIGTERM);
    let (status, lines) = server.process.wait_for_exit();
    assert!(
        status.success(),
        "expected exit 0 after the signal, got {status}; output: {lines:?}"
    );

    let dir = target.dir().to_str().unwrap();
    let console: String = lines
        .iter()
        .take_while(|line| *line != "Subscriber disconnected.")
        .map(|line| format!("{}\n", line.replace(dir, "/tmp")))
        .collect();
    check("fixtures/transcripts/02-unix-server-console.txt", &console);
    check("fixtures/transcripts/02-unix-session.txt", &session);
}

/// `cargo run -- target.txt --json`, in the target's directory, on port 0.
fn json_server(target: &TargetFile) -> TestServer {
    TestServer::start_in(
        Some(target.dir()),
        "net-watcher",
        &["target.txt", "--port", "0", "--json"],
    )
}

/// Chapter 3: the JSON protocol, raw.
#[rstest]
fn chapter_3_the_json_protocol(target: TargetFile) {
    let server = json_server(&target);
    let mut nc = server.connect();
    let mut session = nc_command();
    session.push_str(&nc.next_line("the greeting"));
    target.touch();
    session.push_str(&nc.next_line("the change"));
    check("fixtures/transcripts/03-json-session.txt", &session);
}

/// Chapter 4: the client against the JSON server.
#[rstest]
fn chapter_4_the_client(target: TargetFile) {
    let server = json_server(&target);
    let port = server.port().to_string();
    let mut client = Spawned::start("net-watcher-client", &["--port", &port]);
    client.wait_for_stdout("Now watching: target.txt");
    target.touch();
    client.next_stdout_line("the change line");
    server.process.signal(libc::SIGTERM);
    let (status, lines) = client.wait_for_exit();
    assert!(status.success(), "{}", client.report());
    let output: String = lines.iter().map(|line| format!("{line}\n")).collect();
    check("fixtures/transcripts/04-client-session.txt", &output);
}

/// Chapter 5: the client against the split-message service.
#[test]
fn chapter_5_the_split_service() {
    let service = TestServer::start("test-json-service", &["--port", "0"]);
    let port = service.port().to_string();
    let mut client = Spawned::start("net-watcher-client", &["--port", &port]);
    let (status, lines) = client.wait_for_exit();
    assert!(status.success(), "{}", client.report());
    let output: String = lines.iter().map(|line| format!("{line}\n")).collect();
    check("fixtures/transcripts/05-split-service.txt", &output);
}
