//! describe: the real programs, spawned as a user runs them.
//!
//! Servers start with `--port 0` and are found through their listening line;
//! each test has its own temporary directory. A spawned process is killed and
//! reaped when its value drops, even when the test fails.

use std::net::TcpListener as StdTcpListener;

use predicates::prelude::*;
use rstest::rstest;

use crate::support::binary::{
    LineReader, Spawned, TestServer, addresses_in_listening_line, command, limit_memory,
    limit_open_files,
};
use crate::support::target::{TargetFile, target};

mod net_watcher {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn without_a_file_fails_with_a_usage_error_naming_it() {
        command("net-watcher")
            .assert()
            .failure()
            .code(2)
            .stderr(predicate::str::contains("<FILE>"))
            .stderr(predicate::str::contains("Usage: net-watcher"));
    }

    #[rstest]
    fn with_a_missing_file_fails_before_listening(target: TargetFile) {
        let missing = target.dir().join("nope.txt");
        command("net-watcher")
            .arg(&missing)
            .args(["--port", "0"])
            .assert()
            .failure()
            .code(1)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::starts_with(format!(
                "net-watcher: cannot watch \"{}\": No such file or directory",
                missing.display()
            )));
    }

    #[test]
    fn explains_every_option_in_its_help() {
        let assert = command("net-watcher").arg("--help").assert().success();
        let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        for option in [
            "<FILE>",
            "--host",
            "--port",
            "--unix",
            "--json",
            "--max-subscribers",
            "--publish",
            "--publish-maxlen",
            "--relay <URL>",
        ] {
            assert!(help.contains(option), "--help lacks {option}:\n{help}");
        }
    }

    #[rstest]
    fn listens_on_both_loopback_addresses_by_default(target: TargetFile) {
        let server = TestServer::start("net-watcher", &[target.path_str(), "--port", "0"]);
        let port = server.port();
        assert_eq!(
            server.listening_on(),
            [format!("127.0.0.1:{port}"), format!("[::1]:{port}")]
        );
    }

    #[rstest]
    fn raises_its_open_file_limit_to_the_hard_limit(target: TargetFile) {
        // Started with a soft limit far below the hard one, as login shells
        // usually set it (1,024), and few enough subscribers asked for that
        // the hard limit has room for them on any machine.
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let mut server = TestServer::start_configured(
            "net-watcher",
            &[target.path_str(), "--port", "0", "--max-subscribers", "100"],
            |command| limit_open_files(command, hard.min(256), hard),
        );
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.process.id()))
            .expect("the server's /proc limits");
        let open_files: Vec<&str> = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .expect("a 'Max open files' line")
            .split_whitespace()
            .collect();
        // "Max open files  SOFT  HARD  files"
        let (soft, hard) = (open_files[3], open_files[4]);
        assert_eq!(
            soft, hard,
            "expected the soft limit raised to the hard one; limits:\n{limits}"
        );
        server.process.signal(libc::SIGTERM);
        server.process.wait_for_exit();
        assert!(
            !server.process.stderr().contains("open-file limit"),
            "expected no word about the limit, got:\n{}",
            server.process.stderr()
        );
    }

    mod under_a_low_open_file_limit {
        use super::{
            LineReader, Spawned, TargetFile, TestServer, addresses_in_listening_line,
            limit_open_files, rstest, target,
        };
        use pretty_assertions::assert_eq;
        use std::collections::HashSet;

        /// Whatever the limit on open files, the server either serves (a
        /// subscriber is greeted) or refuses to start, saying why on stderr
        /// and exiting 1: never a panic, never a server that listens and
        /// can serve nobody. Before, tokio's runtime or signal driver
        /// panicked below about 9 files; from there to about 38, the server
        /// exited saying nothing, or listened and refused everyone.
        #[rstest]
        fn too_low_to_serve_one_subscriber_says_why_whatever_the_limit(target: TargetFile) {
            let mut served = 0;
            for limit in (4..=48).rev() {
                let mut server = Spawned::start_configured(
                    None,
                    "net-watcher",
                    &[target.path_str(), "--port", "0"],
                    |command| limit_open_files(command, limit, limit),
                );
                if let Some(line) = server.next_stdout_line("the listening line") {
                    let addr = line
                        .strip_prefix("Listening for subscribers on ")
                        .and_then(|rest| rest.split(' ').next())
                        .unwrap_or_else(|| panic!("a listening line, got {line:?}"));
                    let stream = std::net::TcpStream::connect(addr).expect("it accepts");
                    let mut subscriber = LineReader::new(stream);
                    let greeting = subscriber.next_line(&format!("a greeting, with {limit} files"));
                    assert!(
                        greeting.starts_with("Now watching "),
                        "with {limit} open files at most, it listened and then said \
                         {greeting:?}\n{}",
                        server.report()
                    );
                    served += 1;
                    server.signal(libc::SIGTERM);
                    let (status, _) = server.wait_for_exit();
                    assert!(status.success(), "{}", server.report());
                    continue;
                }
                let (status, _) = server.wait_for_exit();
                let stderr = server.stderr();
                assert_eq!(status.code(), Some(1), "with {limit}:\n{}", server.report());
                assert!(
                    stderr.starts_with("net-watcher: ") && !stderr.contains("panicked"),
                    "with {limit} open files at most:\n{}",
                    server.report()
                );
            }
            assert!(served > 0, "no limit up to 48 files was enough to serve");
        }

        /// With browsers' listeners on both loopbacks too, a start opens the
        /// most files it can (what the check before the runtime counts): the
        /// lowest limit it starts with serves one subscriber, and refuses the
        /// next with a line. So a limit is refused only when it is too low to
        /// serve one, and never taken when it is.
        #[rstest]
        fn with_browsers_too_the_lowest_limit_it_starts_with_serves_exactly_one(
            target: TargetFile,
        ) {
            for limit in 20..=64 {
                let mut server = Spawned::start_configured(
                    None,
                    "net-watcher",
                    &[target.path_str(), "--port", "0", "--http", "localhost:0"],
                    |command| limit_open_files(command, limit, limit),
                );
                let Some(line) = server.next_stdout_line("the listening line") else {
                    let (status, _) = server.wait_for_exit();
                    assert_eq!(status.code(), Some(1), "with {limit}:\n{}", server.report());
                    continue;
                };
                // The subscribers' addresses come first, then the browsers'.
                let addr = addresses_in_listening_line(&line).remove(0);
                let mut first = LineReader::new(std::net::TcpStream::connect(&addr).unwrap());
                let greeting = first.next_line(&format!("a greeting, with {limit} files"));
                let mut second = LineReader::new(std::net::TcpStream::connect(&addr).unwrap());
                let refusal = second.next_line(&format!("a refusal, with {limit} files"));
                server.signal(libc::SIGTERM);
                server.wait_for_exit();
                assert!(
                    greeting.starts_with("Now watching ")
                        && refusal.starts_with("Error: the server is full (1 subscriber)"),
                    "with {limit} files, the lowest it started with, it said {greeting:?} \
                     then {refusal:?}\n{}",
                    server.report()
                );
                return;
            }
            panic!("no limit up to 64 files was enough to start");
        }

        /// As reported: 64 open files at most, and 100 subscribers at once.
        /// Before, 50 were greeted and 50 heard nothing, left in the backlog
        /// while accepting failed over and over.
        #[rstest]
        fn serves_what_the_limit_allows_and_refuses_the_rest_with_a_line(target: TargetFile) {
            let mut server = TestServer::start_configured(
                "net-watcher",
                &[target.path_str(), "--port", "0"],
                |command| limit_open_files(command, 64, 64),
            );
            let mut crowd: Vec<LineReader> = (0..100).map(|_| server.connect()).collect();
            // Every one gets a line (next_line fails the test after a wait
            // of PATIENCE); the greeted stay connected meanwhile.
            let lines: Vec<String> = crowd
                .iter_mut()
                .enumerate()
                .map(|(index, subscriber)| {
                    subscriber.next_line(&format!("a line for subscriber {index} of 100"))
                })
                .collect();
            let greeted = lines
                .iter()
                .filter(|line| line.starts_with("Now watching "))
                .count();
            let refusal =
                format!("Error: the server is full ({greeted} subscribers); try again later.\n");
            let refused = lines.iter().filter(|line| **line == refusal).count();
            assert!(
                greeted > 0 && greeted + refused == 100,
                "expected each of 100 to be greeted or refused with {refusal:?}; \
                 {greeted} greeted, {refused} refused, lines: {lines:?}"
            );

            server.process.signal(libc::SIGTERM);
            server.process.wait_for_exit();
            let stderr = server.process.stderr();
            assert!(
                stderr.contains(&format!(
                    "net-watcher: serving at most {greeted} subscribers, not 10000: \
                     the open-file limit is 64 (ulimit -n); more are refused\n"
                )),
                "expected the server to say how many it serves, got:\n{stderr}"
            );
            // A failure to accept (out of descriptors, while refusals are in
            // flight) may happen; each is told once, then only counted.
            let told: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("Accepting") && !line.contains("(repeated "))
                .collect();
            let distinct: HashSet<&&str> = told.iter().collect();
            assert_eq!(
                told.len(),
                distinct.len(),
                "expected each accept failure told once, got:\n{stderr}"
            );
        }
    }

    #[rstest]
    fn notifies_a_tcp_subscriber_when_the_file_is_touched(target: TargetFile) {
        let server = TestServer::start("net-watcher", &[target.path_str(), "--port", "0"]);
        let mut subscriber = server.connect();
        assert_eq!(
            subscriber.next_line("the greeting"),
            format!("Now watching \"{}\" for changes...\n", target.path_str())
        );
        target.touch();
        let line = subscriber.next_line("the change line");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }

    /// Starts the server with `TZ=zone`, touches the target once a
    /// subscriber is greeted, and returns the server and the change line.
    fn change_line_with_tz(target: &TargetFile, zone: &str) -> (TestServer, String) {
        let server = TestServer::start_configured(
            "net-watcher",
            &[target.path_str(), "--port", "0"],
            |command| {
                command.env("TZ", zone);
            },
        );
        let mut subscriber = server.connect();
        subscriber.next_line("the greeting");
        target.touch();
        let line = subscriber.next_line("the change line");
        (server, line)
    }

    /// The server's zone, as a rule rather than a name (India's time, no
    /// summer time), so that the offset is the same whatever the date.
    #[rstest]
    fn dates_changes_in_the_zone_tz_names(target: TargetFile) {
        let (_server, line) = change_line_with_tz(&target, "IST-5:30");
        assert!(
            line.starts_with("File changed: ") && line.ends_with(" GMT+0530 (IST)\n"),
            "expected a change dated in India's time, got {line:?}"
        );
    }

    #[rstest]
    fn with_a_zone_it_cannot_find_says_so_and_dates_in_utc(target: TargetFile) {
        let (mut server, line) = change_line_with_tz(&target, "Nowhere/Atlantis");
        assert!(line.ends_with(" GMT+0000 (UTC)\n"), "got {line:?}");
        server.process.signal(libc::SIGTERM);
        server.process.wait_for_exit();
        let stderr = server.process.stderr();
        assert!(
            stderr.starts_with("net-watcher: cannot use the time zone TZ=Nowhere/Atlantis: ")
                && stderr.ends_with("; dates are in UTC\n"),
            "expected one line saying why dates are in UTC, got {stderr:?}"
        );
    }

    /// As reported: `TZ=/dev/zero` grew the server to 2.5 GB within 3 s,
    /// before it listened, and `TZ=` a FIFO blocked it there. A zone file
    /// is a regular file of a few kilobytes; anything else is said, and
    /// dates are in UTC. (The memory limit only keeps a failing run from
    /// taking the machine's memory.)
    #[rstest]
    #[case::a_device("/dev/zero", "", "/dev/zero is not a regular file")]
    #[case::a_fifo("{dir}/fifo", "", "{dir}/fifo is not a regular file")]
    #[case::a_huge_file("{dir}/huge", "", "{dir}/huge is 4294967296 bytes")]
    #[case::a_fifo_in_tzdir("Zone/Fifo", "{dir}", "{dir}/Zone/Fifo is not a regular file")]
    fn with_a_zone_that_is_not_a_zone_file_says_so_and_dates_in_utc(
        target: TargetFile,
        #[case] zone: &str,
        #[case] tzdir: &str,
        #[case] reason: &str,
    ) {
        let dir = target.dir().to_str().unwrap();
        let fifo = |path: &std::path::Path| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap()
        };
        fifo(&target.dir().join("fifo"));
        std::fs::create_dir(target.dir().join("Zone")).unwrap();
        fifo(&target.dir().join("Zone/Fifo"));
        std::fs::File::create(target.dir().join("huge"))
            .and_then(|file| file.set_len(4 << 30))
            .unwrap();
        let zone = zone.replace("{dir}", dir);
        let tzdir = tzdir.replace("{dir}", dir);
        let mut server = TestServer::start_configured(
            "net-watcher",
            &[target.path_str(), "--port", "0"],
            |command| {
                command.env("TZ", &zone);
                if !tzdir.is_empty() {
                    command.env("TZDIR", &tzdir);
                }
                limit_memory(command, 2 << 30);
            },
        );
        let mut subscriber = server.connect();
        subscriber.next_line("the greeting");
        target.touch();
        let line = subscriber.next_line("the change line");
        assert!(line.ends_with(" GMT+0000 (UTC)\n"), "got {line:?}");
        let peak = server.process.peak_resident_kib();
        assert!(peak < 256 << 10, "the server's memory peaked at {peak} KiB");
        server.process.signal(libc::SIGTERM);
        server.process.wait_for_exit();
        let stderr = server.process.stderr();
        let reason = reason.replace("{dir}", dir);
        assert!(
            stderr.starts_with(&format!(
                "net-watcher: cannot use the time zone TZ={zone}: {reason}"
            )) && stderr.ends_with("; dates are in UTC\n"),
            "expected one line saying why dates are in UTC, got {stderr:?}"
        );
    }

    /// `/proc/kmsg` is a regular file that says it is empty, and a read of
    /// it waits for the kernel's next message: TZ naming it blocked the
    /// server before it listened, as a FIFO did. A zone file is never
    /// empty, so one that says it is is never read. (Where the machine has
    /// no such file, the case cannot be made, and is skipped.)
    #[rstest]
    fn with_a_zone_file_that_says_it_is_empty_says_so_without_reading_it(target: TargetFile) {
        let kernel_log = std::path::Path::new("/proc/kmsg");
        match std::fs::metadata(kernel_log) {
            Ok(metadata) if metadata.is_file() && metadata.len() == 0 => {}
            _ => {
                eprintln!("SKIPPED: this machine has no /proc/kmsg that says it is empty");
                return;
            }
        }
        let (mut server, line) = change_line_with_tz(&target, "/proc/kmsg");
        assert!(line.ends_with(" GMT+0000 (UTC)\n"), "got {line:?}");
        server.process.signal(libc::SIGTERM);
        server.process.wait_for_exit();
        assert_eq!(
            server.process.stderr(),
            "net-watcher: cannot use the time zone TZ=/proc/kmsg: /proc/kmsg is empty, as no time zone file is (the files of /proc say they are empty whatever they hold); dates are in UTC\n"
        );
    }

    #[rstest]
    fn speaks_json_with_the_json_flag(target: TargetFile) {
        let server =
            TestServer::start("net-watcher", &[target.path_str(), "--port", "0", "--json"]);
        let mut subscriber = server.connect();
        let greeting = subscriber.next_line("the greeting");
        assert_eq!(
            greeting,
            format!(
                "{{\"type\":\"watching\",\"file\":{}}}\n",
                serde_json::to_string(target.path_str()).unwrap()
            )
        );
        target.append("x");
        let line = subscriber.next_line("the changed message");
        assert!(
            line.starts_with("{\"type\":\"changed\",\"timestamp\":"),
            "got {line:?}"
        );
    }

    #[rstest]
    fn logs_subscribers_coming_and_going(target: TargetFile) {
        let mut server = TestServer::start("net-watcher", &[target.path_str(), "--port", "0"]);
        let mut subscriber = server.connect();
        subscriber.next_line("the greeting");
        server.process.wait_for_stdout("Subscriber connected.");
        drop(subscriber);
        server.process.wait_for_stdout("Subscriber disconnected.");
    }

    #[rstest]
    fn reports_a_port_that_is_taken(target: TargetFile) {
        let taken = StdTcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        command("net-watcher")
            .args([target.path_str(), "--host", "127.0.0.1", "--port", &port])
            .assert()
            .failure()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "cannot listen on 127.0.0.1:{port}: the address is already in use"
            )));
    }

    #[rstest]
    #[case::sigint(libc::SIGINT)]
    #[case::sigterm(libc::SIGTERM)]
    fn exits_zero_on_a_signal_and_closes_subscribers_cleanly(
        target: TargetFile,
        #[case] signal: i32,
    ) {
        let mut server = TestServer::start("net-watcher", &[target.path_str(), "--port", "0"]);
        let mut subscriber = server.connect();
        subscriber.next_line("the greeting");
        server.process.signal(signal);
        subscriber.expect_end("end of file when the server stops");
        let (status, _) = server.process.wait_for_exit();
        assert!(
            status.success(),
            "exit status {status}\n{}",
            server.process.report()
        );
    }

    #[rstest]
    fn serves_a_unix_socket_and_removes_it_on_exit(target: TargetFile) {
        let socket = target.dir().join("watcher.sock");
        let socket_arg = socket.to_str().unwrap();
        let mut server =
            TestServer::start("net-watcher", &[target.path_str(), "--unix", socket_arg]);
        assert_eq!(server.listening_on(), [socket_arg]);
        let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let mut subscriber = LineReader::unix(stream);
        subscriber.next_line("the greeting");
        target.touch();
        let line = subscriber.next_line("the change line");
        assert!(line.starts_with("File changed: "), "got {line:?}");

        server.process.signal(libc::SIGTERM);
        let (status, _) = server.process.wait_for_exit();
        assert!(status.success(), "exit status {status}");
        assert!(!socket.exists(), "the socket file is left behind");
    }

    #[rstest]
    fn refuses_to_remove_a_file_given_as_its_unix_socket(target: TargetFile) {
        command("net-watcher")
            .args([target.path_str(), "--unix", target.path_str()])
            // A server that took the path would serve until killed: the
            // test fails then, rather than wait for it.
            .timeout(crate::support::PATIENCE)
            .assert()
            .failure()
            .code(1)
            .stderr(predicate::str::contains(
                "is not a socket; refusing to remove it",
            ));
        assert!(
            target.path().exists(),
            "expected {} to be left alone, but it is gone",
            target.path().display()
        );
    }
}

mod net_watcher_client {
    use super::*;

    #[rstest]
    fn prints_the_greeting_then_each_change_then_exits_zero_when_the_server_stops(
        target: TargetFile,
    ) {
        let server =
            TestServer::start("net-watcher", &[target.path_str(), "--port", "0", "--json"]);
        let port = server.port().to_string();
        let mut client = Spawned::start("net-watcher-client", &["--port", &port]);
        client.wait_for_stdout(&format!("Now watching: {}", target.path_str()));
        target.touch();
        let change = client.next_stdout_line("the change line").unwrap();
        assert!(
            change.starts_with("File changed: ") && change.ends_with(" GMT+0000 (UTC)"),
            "got {change:?}"
        );
        server.process.signal(libc::SIGTERM);
        let (status, _) = client.wait_for_exit();
        assert!(
            status.success(),
            "the client exits 0: {status}\n{}",
            client.report()
        );
    }

    /// Whatever the limit on open files, the client prints the message or
    /// says on stderr why it could not, and exits 1: never a panic. Before,
    /// tokio's runtime or its signal handling panicked below about 9 files.
    #[test]
    fn under_any_open_file_limit_prints_or_says_why_it_cannot() {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "0"]);
        let port = service.port().to_string();
        let mut printed = 0;
        for limit in (4..=32).rev() {
            let mut client = Spawned::start_configured(
                None,
                "net-watcher-client",
                &["--port", &port],
                |command| limit_open_files(command, limit, limit),
            );
            let (status, stdout) = client.wait_for_exit();
            if status.success() {
                assert_eq!(
                    stdout,
                    ["File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"],
                    "with {limit}:\n{}",
                    client.report()
                );
                printed += 1;
                continue;
            }
            let stderr = client.stderr();
            assert_eq!(status.code(), Some(1), "with {limit}:\n{}", client.report());
            assert!(
                stderr.starts_with("net-watcher-client: ") && !stderr.contains("panicked"),
                "with {limit} open files at most:\n{}",
                client.report()
            );
        }
        assert!(printed > 0, "no limit up to 32 files was enough to connect");
    }

    #[test]
    fn prints_the_message_the_split_service_sends_in_two_parts() {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "20"]);
        let port = service.port().to_string();
        command("net-watcher-client")
            .args(["--port", &port])
            .assert()
            .success()
            .stdout("File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)\n")
            .stderr("");
    }

    /// The split service always sends the book's timestamp, 1450694370094.
    #[rstest]
    #[case::madrid("Europe/Madrid", "Mon Dec 21 2015 11:39:30 GMT+0100 (CET)")]
    // No abbreviation in the time zone database: the offset stands in.
    #[case::sao_paulo("America/Sao_Paulo", "Mon Dec 21 2015 08:39:30 GMT-0200 (-02)")]
    #[case::utc("UTC", "Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)")]
    fn dates_a_change_in_the_zone_tz_names(#[case] zone: &str, #[case] date: &str) {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "0"]);
        let port = service.port().to_string();
        command("net-watcher-client")
            .args(["--port", &port])
            .env("TZ", zone)
            .assert()
            .success()
            .stdout(format!("File changed: {date}\n"))
            .stderr("");
    }

    #[test]
    fn with_a_zone_it_cannot_find_says_so_and_dates_in_utc() {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "0"]);
        let port = service.port().to_string();
        command("net-watcher-client")
            .args(["--port", &port])
            .env("TZ", "Nowhere/Atlantis")
            .assert()
            .success()
            .stdout("File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)\n")
            .stderr(predicate::str::starts_with(
                "net-watcher-client: cannot use the time zone TZ=Nowhere/Atlantis: ",
            ))
            .stderr(predicate::str::ends_with("; dates are in UTC\n"));
    }

    /// As reported: the client printed `Unrecognized message type: error`
    /// for the server's own notice, dropped its words, and exited 0.
    #[rstest]
    fn prints_the_servers_error_on_stderr_and_exits_one(target: TargetFile) {
        let server = TestServer::start(
            "net-watcher",
            &[
                target.path_str(),
                "--port",
                "0",
                "--json",
                "--max-subscribers",
                "0",
            ],
        );
        let port = server.port().to_string();
        command("net-watcher-client")
            .args(["--port", &port])
            .assert()
            .code(1)
            .stdout("")
            .stderr(
                "net-watcher-client: error from the server: the server is full (0 subscribers); try again later.\n",
            );
    }

    /// As reported: `--host [::1]` was refused, and addresses were shown
    /// as `::1:1`.
    #[test]
    fn takes_an_ipv6_address_in_brackets_and_shows_it_so() {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "0"]);
        let port = service.port().to_string();
        command("net-watcher-client")
            .args(["--host", "[::1]", "--port", &port])
            .assert()
            .success()
            .stdout("File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)\n");
        let socket = tokio::net::TcpSocket::new_v6().unwrap();
        socket.bind("[::1]:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port().to_string();
        command("net-watcher-client")
            .args(["--host", "::1", "--port", &port])
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with(format!(
                "net-watcher-client: cannot connect to [::1]:{port}: Connection refused"
            )));
    }

    #[test]
    fn fails_clearly_when_the_connection_is_refused() {
        // A socket that is bound but not listening holds the port, so the
        // connection is refused for sure and no other test can take it.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port().to_string();
        command("net-watcher-client")
            .args(["--host", "127.0.0.1", "--port", &port])
            .assert()
            .failure()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "net-watcher-client: cannot connect to 127.0.0.1:{port}: Connection refused"
            )));
    }
}

mod test_json_service {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn announces_itself_like_the_book_and_listens_on_loopback() {
        let mut service = TestServer::start("test-json-service", &["--port", "0"]);
        assert_eq!(
            service.listening_on().len(),
            2,
            "{:?}",
            service.listening_on()
        );
        service.process.signal(libc::SIGTERM);
        let (status, lines) = service.process.wait_for_exit();
        assert!(
            status.success(),
            "expected exit 0 after SIGTERM, got {status}; output: {lines:?}"
        );
        assert!(
            lines[0].starts_with("Test server listening for subscribers on 127.0.0.1:"),
            "got {:?}",
            lines[0]
        );
    }

    /// As reported: SIGTERM waited out the whole `--delay-ms` of the
    /// messages under way.
    #[test]
    fn ends_on_sigterm_within_a_second_even_halfway_through_a_message() {
        use std::io::Read;
        let mut service = TestServer::start(
            "test-json-service",
            &["--port", "0", "--delay-ms", "600000"],
        );
        let mut subscriber = std::net::TcpStream::connect(service.addr()).unwrap();
        subscriber
            .set_read_timeout(Some(crate::support::PATIENCE))
            .unwrap();
        let mut first_part = [0u8; 64];
        let read = subscriber
            .read(&mut first_part)
            .expect("the message's first part");
        assert!(read > 0, "expected the first part, got end of file");
        service.process.signal(libc::SIGTERM);
        // Ten minutes of pause left: anything but a prompt exit fails.
        let status = service.process.exit_status_within(crate::support::PATIENCE);
        assert!(status.success(), "{}", service.process.report());
    }

    #[test]
    fn sends_each_subscriber_the_whole_message_then_closes() {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "5"]);
        let mut subscriber = service.connect();
        assert_eq!(
            subscriber.next_line("the message"),
            "{\"type\":\"changed\",\"timestamp\":1450694370094}\n"
        );
        subscriber.expect_end("the service to close the connection");
    }
}

mod net_watcher_grade {
    use super::*;

    /// Settings with which no grading could be honest: waiting no time at
    /// all fails every behaviour of a correct program, and no jobs run
    /// none. Refused before anything starts, as any bad flag is.
    #[rstest]
    #[case::no_patience(&["--patience", "0"], "'--patience <SECONDS>'")]
    #[case::a_negative_start_timeout(&["--start-timeout", "-1"], "'--start-timeout <SECONDS>'")]
    #[case::a_start_timeout_that_is_not_a_number(&["--start-timeout", "soon"], "'--start-timeout <SECONDS>'")]
    #[case::no_jobs(&["--jobs", "0"], "'--jobs <N>'")]
    fn refuses_a_setting_that_cannot_grade_with_a_usage_error(
        #[case] setting: &[&str],
        #[case] flag: &str,
    ) {
        command("net-watcher-grade")
            .args(setting)
            .args(["--", "true"])
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains("invalid value").and(predicate::str::contains(flag)));
    }
}
