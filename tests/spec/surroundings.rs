//! describe: the service in what surrounds it: text from outside with
//! control characters in it, its console's streams closed, full or
//! stalled, and its socket path taken or raced for (issue 22).
//!
//! Each case is an adversary from `support` (a pipe nobody reads, stdout
//! on `/dev/full`, a closed pipe, a file named to forge a line), and each
//! failed before the code it holds in place.

use rstest::rstest;

use crate::support::target::{TargetFile, target};

mod a_name_with_control_characters {
    use super::*;
    use crate::support::in_process::InProcessServer;
    use net_watcher::protocol::Protocol;
    use pretty_assertions::assert_eq;

    /// As reported: a file named `a\nFile changed: FAKE` made plain-text
    /// subscribers read a `File changed:` line that no change made.
    #[rstest]
    #[tokio::test]
    async fn cannot_forge_a_line_that_a_plain_text_subscriber_reads(target: TargetFile) {
        let forger = TargetFile::at(target.dir().join("a\nFile changed: FAKE\u{1b}[2J\r"));
        std::fs::write(forger.path(), "").expect("the file can be made");
        let server = InProcessServer::start(&forger, Protocol::Text).await;
        let mut subscriber = server.subscribe().await;
        assert_eq!(
            subscriber.next_line("the greeting").await,
            format!(
                "Now watching \"{}/a\\nFile changed: FAKE\\u001b[2J\\r\" for changes...\n",
                target.dir().display()
            )
        );
        forger.touch();
        subscriber.expect_change("the one real change").await;
    }

    /// The console shows names escaped too: here a Unix socket's path in
    /// the listening line, which scripts read.
    #[rstest]
    fn cannot_forge_a_line_of_the_servers_console(target: TargetFile) {
        let socket = target.dir().join("a\nSubscriber connected.\u{1b}[2J.sock");
        let mut server = crate::support::binary::Spawned::start(
            "net-watcher",
            &[target.path_str(), "--unix", socket.to_str().unwrap()],
        );
        assert_eq!(
            server.next_stdout_line("the listening line").as_deref(),
            Some(
                format!(
                    "Listening for subscribers on {}/a\\nSubscriber connected.\\u001b[2J.sock...",
                    target.dir().display()
                )
                .as_str()
            )
        );
    }

    /// As reported: the client printed the forged line too, for `--json`.
    #[rstest]
    fn cannot_forge_a_line_of_the_clients_output(target: TargetFile) {
        let forger = TargetFile::at(target.dir().join("a\nFile changed: FAKE"));
        std::fs::write(forger.path(), "").expect("the file can be made");
        let server = crate::support::binary::TestServer::start(
            "net-watcher",
            &[forger.path_str(), "--port", "0", "--json"],
        );
        let port = server.port().to_string();
        let mut client =
            crate::support::binary::Spawned::start("net-watcher-client", &["--port", &port]);
        assert_eq!(
            client.next_stdout_line("the greeting").as_deref(),
            Some(
                format!(
                    "Now watching: {}/a\\nFile changed: FAKE",
                    target.dir().display()
                )
                .as_str()
            )
        );
    }
}

mod the_servers_console {
    use super::*;
    use crate::support::PATIENCE;
    use crate::support::binary::{LineReader, Spawned, TestServer, addresses_in_listening_line};
    use crate::support::outputs::{
        FirstLineThenClosed, StalledPipe, UnixServer, all_lines, closed_pipe, dev_full, read_only,
        serves_then_stops_cleanly, told_and_lost,
    };
    use pretty_assertions::assert_eq;

    /// As reported: `net-watcher target.txt | head -1`. After the first
    /// line, the next subscriber made the server panic on a tokio worker,
    /// which took the 127.0.0.1 listener with it, and a supervisor saw
    /// nothing wrong.
    #[rstest]
    fn read_for_one_line_then_closed_costs_only_log_lines(target: TargetFile) {
        let (pipe, stdout) = FirstLineThenClosed::new();
        let mut process = Spawned::start_configured(
            None,
            "net-watcher",
            &[target.path_str(), "--port", "0"],
            |command| {
                command.stdout(stdout);
            },
        );
        let addresses = addresses_in_listening_line(&pipe.first_line());
        assert_eq!(addresses.len(), 2, "{addresses:?}");
        // Twice on each address: the first connects after the pipe closed
        // are the ones that broke it.
        let mut greeted = Vec::new();
        for address in addresses.iter().chain(&addresses) {
            let stream = std::net::TcpStream::connect(address.as_str())
                .unwrap_or_else(|error| panic!("cannot connect to {address}: {error}"));
            let mut subscriber = LineReader::new(stream);
            subscriber.next_line(&format!("the greeting on {address}"));
            greeted.push(subscriber);
        }
        serves_then_stops_cleanly(&mut process, greeted, &target);
        assert!(
            process
                .stderr()
                .contains("Cannot write to stdout: Broken pipe"),
            "expected the closed stdout said once on stderr\n{}",
            process.report()
        );
    }

    #[rstest]
    #[case::a_closed_pipe(closed_pipe, "Broken pipe")]
    #[case::dev_full(dev_full, "No space left on device")]
    // The console writes a descriptor of its own (a duplicate of fd 1):
    // through std's stdout, this failure would pass for success.
    #[case::read_only(read_only, "Bad file descriptor")]
    fn on_stdout_that_fails_costs_only_log_lines(
        target: TargetFile,
        #[case] output: fn() -> std::process::Stdio,
        #[case] failure: &str,
    ) {
        let (mut server, first) = UnixServer::start(&target, &[], |command| {
            command.stdout(output());
        });
        let mut second = server.connect();
        second.next_line("the second greeting");
        serves_then_stops_cleanly(&mut server.process, vec![first, second], &target);
        let stderr = server.process.stderr();
        assert!(
            stderr.contains(&format!("Cannot write to stdout: {failure}")),
            "expected the failure said on stderr\n{}",
            server.process.report()
        );
    }

    /// As reported: with stdout a pipe that is no longer read (a stalled
    /// log shipper), new subscribers got no greeting once 64 KiB of log
    /// had filled it, and SIGTERM did not end the server.
    #[rstest]
    fn on_stdout_nobody_reads_costs_only_log_lines(target: TargetFile) {
        let mut stalled = StalledPipe::new();
        let (mut server, first) = UnixServer::start(&target, &[], |command| {
            command.stdout(stalled.stdio());
        });
        let mut greeted = vec![first];
        for _ in 0..20 {
            let mut subscriber = server.connect();
            subscriber.next_line("a greeting while stdout is stalled");
            greeted.push(subscriber);
        }
        serves_then_stops_cleanly(&mut server.process, greeted, &target);
    }

    /// While stdout waits, what the server has to say waits in a queue of
    /// its own; what the queue cannot hold is counted, and the count said
    /// once stdout takes lines again. Every event is either told (a line,
    /// or counted in a line's repeats) or counted as lost.
    #[rstest]
    fn on_stdout_read_again_after_a_stall_says_how_much_it_could_not_write(target: TargetFile) {
        let mut stalled = StalledPipe::new();
        let (mut server, first) =
            UnixServer::start(&target, &["--max-subscribers", "1"], |command| {
                command.stdout(stalled.stdio());
            });
        // Each refusal is an event, said before the refusal line is sent:
        // far more of them than any queue of log lines should hold.
        let refused = 3_000;
        for index in 0..refused {
            let mut subscriber = server.connect();
            let line = subscriber.next_line(&format!("refusal {index}"));
            assert!(line.starts_with("Error: the server is full"), "{line:?}");
        }
        let lines = stalled.resume();
        let first_line = lines.recv_timeout(PATIENCE).expect("the listening line");
        assert!(
            first_line.starts_with("Listening for subscribers on "),
            "{first_line:?}"
        );
        // The count of the refusals it had queued comes a second after the
        // first is told: by then the queue is written, however slowly this
        // machine runs, and only the disconnect at SIGTERM is left.
        let mut console = vec![first_line];
        while !console.last().is_some_and(|line| {
            line.starts_with("Subscriber refused") && line.contains("(repeated ")
        }) {
            let line = lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("expected the refusals counted: {console:#?}"));
            console.push(line);
        }
        drop(first);
        server.process.signal(libc::SIGTERM);
        let status = server.process.exit_status_within(PATIENCE);
        assert!(status.success(), "{}", server.process.report());
        console.extend(all_lines(&lines));
        let (told, lost) = told_and_lost(&console);
        assert!(lost > 0, "expected lost lines\n{console:#?}");
        // The first subscriber's connect and disconnect, and each refusal.
        assert_eq!(told + lost, refused + 2, "{console:#?}");
    }

    /// A stdout whose open file is non-blocking (a parent such as Node
    /// passes its own with `stdio: 'inherit'`) says "would block" where a
    /// blocking one waits. The listening line of a server started while
    /// such a pipe was full was lost, counted, and a script waiting for it
    /// waited in vain; a line longer than the room left was cut in two.
    /// The writer waits there as it does on a blocking pipe.
    #[rstest]
    fn on_a_non_blocking_stdout_nobody_reads_loses_no_line_once_read(target: TargetFile) {
        let mut stalled = StalledPipe::non_blocking();
        let (mut server, first) = UnixServer::start(&target, &[], |command| {
            command.stdout(stalled.stdio());
        });
        let lines = stalled.resume();
        let first_line = lines.recv_timeout(PATIENCE).expect("the listening line");
        assert!(
            first_line.starts_with("Listening for subscribers on "),
            "{first_line:?}"
        );
        drop(first);
        server.process.signal(libc::SIGTERM);
        let status = server.process.exit_status_within(PATIENCE);
        assert!(status.success(), "{}", server.process.report());
        let console = all_lines(&lines);
        assert_eq!(
            console,
            ["Subscriber connected.", "Subscriber disconnected."],
            "{}",
            server.process.report()
        );
        assert_eq!(server.process.stderr(), "");
    }

    /// A connection flood is not a log flood: each kind of event is told,
    /// then counted, the count told at most once a second.
    #[rstest]
    fn tells_a_flood_of_connections_in_a_few_lines(target: TargetFile) {
        let started = std::time::Instant::now();
        let mut server = TestServer::start("net-watcher", &[target.path_str(), "--port", "0"]);
        let cycles = 300;
        for index in 0..cycles {
            let mut subscriber = server.connect();
            subscriber.next_line(&format!("greeting {index}"));
        }
        server.process.signal(libc::SIGTERM);
        let (status, lines) = server.process.wait_for_exit();
        assert!(status.success(), "{}", server.process.report());
        let seconds = started.elapsed().as_secs();
        let (told, lost) = told_and_lost(&lines);
        assert_eq!((told, lost), (2 * cycles, 0), "{lines:#?}");
        // Per kind: the first line, a count a second, and a last count at
        // exit.
        let most = 2 * (seconds + 2) + 1;
        assert!(
            lines.len() as u64 <= most,
            "expected at most {most} lines in {seconds} s, got {}: {lines:#?}",
            lines.len()
        );
    }
}

mod the_servers_stderr {
    use super::*;
    use crate::support::binary::TestServer;
    use crate::support::outputs::{StalledPipe, closed_pipe, dev_full, serves_then_stops_cleanly};

    /// A zone that does not exist makes the server say so on stderr before
    /// it listens: a line it must get past whatever stderr is.
    fn start_with_stderr(target: &TargetFile, stderr: std::process::Stdio) -> TestServer {
        TestServer::start_configured(
            "net-watcher",
            &[target.path_str(), "--port", "0"],
            |command| {
                command.env("TZ", "Nowhere/Atlantis").stderr(stderr);
            },
        )
    }

    #[rstest]
    #[case::a_closed_pipe(closed_pipe)]
    #[case::dev_full(dev_full)]
    fn that_fails_costs_only_log_lines(
        target: TargetFile,
        #[case] output: fn() -> std::process::Stdio,
    ) {
        let mut server = start_with_stderr(&target, output());
        let mut subscriber = server.connect();
        subscriber.next_line("the greeting");
        serves_then_stops_cleanly(&mut server.process, vec![subscriber], &target);
    }

    #[rstest]
    fn nobody_reads_costs_only_log_lines(target: TargetFile) {
        let mut stalled = StalledPipe::new();
        let mut server = start_with_stderr(&target, stalled.stdio());
        let mut subscriber = server.connect();
        subscriber.next_line("the greeting");
        serves_then_stops_cleanly(&mut server.process, vec![subscriber], &target);
    }
}

mod the_clients_output {
    use super::*;
    use crate::support::PATIENCE;
    use crate::support::binary::{ScriptedServer, Spawned, TestServer};
    use crate::support::outputs::{BrokenOutput, StalledPipe, all_lines, closed_pipe, dev_full};
    use pretty_assertions::assert_eq;

    /// As reported: the client called its own stdout failing "reading from
    /// the server failed: Broken pipe".
    #[rstest]
    #[case::a_closed_pipe(closed_pipe, "Broken pipe")]
    #[case::dev_full(dev_full, "No space left on device")]
    fn names_its_own_stdout_failing_and_exits_non_zero(
        #[case] output: fn() -> std::process::Stdio,
        #[case] failure: &str,
    ) {
        let service = TestServer::start("test-json-service", &["--port", "0", "--delay-ms", "0"]);
        let port = service.port().to_string();
        let mut client =
            Spawned::start_configured(None, "net-watcher-client", &["--port", &port], |command| {
                command.stdout(output());
            });
        let status = client.exit_status_within(PATIENCE);
        assert_eq!(status.code(), Some(1), "{}", client.report());
        let stderr = client.stderr();
        assert!(
            stderr.starts_with(&format!(
                "net-watcher-client: cannot write to stdout: {failure}"
            )) && !stderr.contains("reading from the server"),
            "{}",
            client.report()
        );
    }

    /// Its output is what the client is for: while nobody reads it, the
    /// client waits, reading no more from the server than it can show,
    /// and shows every line once its output is read again.
    #[rstest]
    fn on_stdout_nobody_reads_waits_then_shows_every_line(target: TargetFile) {
        let mut server =
            TestServer::start("net-watcher", &[target.path_str(), "--port", "0", "--json"]);
        let port = server.port().to_string();
        let mut stalled = StalledPipe::new();
        let mut client =
            Spawned::start_configured(None, "net-watcher-client", &["--port", &port], |command| {
                command.stdout(stalled.stdio());
            });
        // Said once the client is subscribed: a change from now on is its.
        server.process.wait_for_stdout("Subscriber connected.");
        target.touch();
        let lines = stalled.resume();
        assert_eq!(
            lines.recv_timeout(PATIENCE).as_deref(),
            Ok(format!("Now watching: {}", target.path_str()).as_str())
        );
        let change = lines.recv_timeout(PATIENCE).expect("the change line");
        assert!(change.starts_with("File changed: "), "{change:?}");
        client.signal(libc::SIGTERM);
        client.exit_status_within(PATIENCE);
    }

    /// The same with a stdout whose open file is non-blocking (a parent
    /// such as Node passes its own): the client exited 1 with "cannot write
    /// to stdout: Resource temporarily unavailable" as soon as the pipe
    /// was full for a moment.
    #[rstest]
    fn on_a_non_blocking_stdout_nobody_reads_waits_then_shows_every_line() {
        let server = ScriptedServer::sending(
            b"{\"type\":\"watching\",\"file\":\"t.txt\"}\n{\"type\":\"changed\",\"timestamp\":0}\n",
        );
        let port = server.port().to_string();
        let mut stalled = StalledPipe::non_blocking();
        let mut client =
            Spawned::start_configured(None, "net-watcher-client", &["--port", &port], |command| {
                command.stdout(stalled.stdio());
            });
        // The messages are in the client's socket: its first write finds
        // the pipe full, and it must wait rather than give up.
        server.finish();
        client.assert_keeps_running("its stdout is full, not closed");
        let lines = stalled.resume();
        assert_eq!(
            all_lines(&lines),
            [
                "Now watching: t.txt",
                "File changed: Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)"
            ],
            "{}",
            client.report()
        );
        let status = client.exit_status_within(PATIENCE);
        assert!(status.success(), "{}", client.report());
    }

    /// The client's stderr is its log: a bad line from the server is
    /// reported there, and a stderr that is closed, full or not read costs
    /// that report, never the lines on stdout.
    #[rstest]
    #[case::a_closed_pipe(BrokenOutput::ClosedPipe)]
    #[case::dev_full(BrokenOutput::DevFull)]
    #[case::nobody_reads(BrokenOutput::NobodyReads)]
    fn on_stderr_that_fails_or_stalls_still_shows_every_message(#[case] output: BrokenOutput) {
        let server = ScriptedServer::sending(
            b"not json\nnot json either\n{\"type\":\"changed\",\"timestamp\":0}\n",
        );
        let port = server.port().to_string();
        let (stderr, _stalled) = output.make();
        let mut client =
            Spawned::start_configured(None, "net-watcher-client", &["--port", &port], |command| {
                command.stderr(stderr);
            });
        let (status, lines) = client.wait_for_exit();
        assert_eq!(
            lines,
            ["File changed: Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)"]
        );
        assert!(status.success(), "{}", client.report());
        server.finish();
    }
}

mod the_test_services_stdout {
    use super::*;
    use crate::support::PATIENCE;
    use crate::support::binary::{LineReader, Spawned};
    use crate::support::outputs::BrokenOutput;
    use pretty_assertions::assert_eq;

    /// Its one line, the listening line, made it panic at start (exit 101)
    /// on a closed or full stdout.
    #[rstest]
    #[case::a_closed_pipe(BrokenOutput::ClosedPipe, "Broken pipe")]
    #[case::dev_full(BrokenOutput::DevFull, "No space left on device")]
    fn that_fails_costs_only_its_listening_line(
        #[case] output: BrokenOutput,
        #[case] failure: &str,
    ) {
        let (stdout, _) = output.make();
        let mut service = Spawned::start_configured(
            None,
            "test-json-service",
            &["--port", "0", "--delay-ms", "0"],
            |command| {
                command.stdout(stdout);
            },
        );
        // Said once the listening line could not be written: it listens.
        service.wait_for_stderr(&format!("Cannot write to stdout: {failure}"));
        let ports = service.tcp_listening_ports();
        assert!(!ports.is_empty(), "{}", service.report());
        let stream = std::net::TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
        let mut subscriber = LineReader::new(stream);
        assert_eq!(
            subscriber.next_line("the message"),
            "{\"type\":\"changed\",\"timestamp\":1450694370094}\n"
        );
        service.signal(libc::SIGTERM);
        let status = service.exit_status_within(PATIENCE);
        assert!(status.success(), "{}", service.report());
    }
}

mod the_graders_output {
    use super::*;
    use crate::support::PATIENCE;
    use crate::support::binary::Spawned;
    use crate::support::outputs::{StalledPipe, all_lines, closed_pipe, wait_for_path};
    use pretty_assertions::assert_eq;
    use std::time::Duration;

    /// How long the grader gives itself, after a signal, to print its
    /// partial report before it ends anyway (`net-watcher-grade`'s main).
    const REPORT_DEADLINE: Duration = Duration::from_secs(10);

    /// What it says on a stderr that works: the problem, named by the
    /// grader, and its own exit code.
    #[rstest]
    fn says_on_stderr_why_it_cannot_grade_a_folder(target: TargetFile) {
        let missing = target.dir().join("no such folder");
        let mut grader = Spawned::start(
            "net-watcher-grade",
            &["--folder", missing.to_str().unwrap(), "--", "true"],
        );
        let (status, lines) = grader.wait_for_exit();
        assert_eq!((status.code(), lines), (Some(2), Vec::<String>::new()));
        assert_eq!(
            grader.stderr(),
            format!(
                "net-watcher-grade: cannot read {}: No such file or directory (os error 2)\n",
                missing.display()
            )
        );
    }

    /// Its errors went through `eprintln!`, which panics when stderr is a
    /// closed pipe: exit 101, not the 2 of a folder it cannot read.
    #[rstest]
    fn on_a_closed_stderr_exits_with_its_own_code_not_a_panic(target: TargetFile) {
        let missing = target.dir().join("no such folder");
        let mut grader = Spawned::start_configured(
            None,
            "net-watcher-grade",
            &["--folder", missing.to_str().unwrap(), "--", "true"],
            |command| {
                command.stderr(closed_pipe());
            },
        );
        let status = grader.exit_status_within(PATIENCE);
        assert_eq!(status.code(), Some(2), "{}", grader.report());
    }

    /// A stderr whose open file is non-blocking and full for a moment:
    /// the write of its one sentence failed with "would block", and the
    /// grader exited 2 having said nothing. It waits, as on a blocking pipe.
    #[rstest]
    fn on_a_non_blocking_stderr_nobody_reads_waits_then_says_what_is_wrong(target: TargetFile) {
        let missing = target.dir().join("no such folder");
        let mut stderr = StalledPipe::non_blocking();
        let mut grader = Spawned::start_configured(
            None,
            "net-watcher-grade",
            &["--folder", missing.to_str().unwrap(), "--", "true"],
            |command| {
                command.stderr(stderr.stdio());
            },
        );
        grader.assert_keeps_running("its stderr is full, not closed");
        let lines = all_lines(&stderr.resume());
        assert_eq!(
            lines.last(),
            Some(&format!(
                "net-watcher-grade: cannot read {}: No such file or directory (os error 2)",
                missing.display()
            )),
            "{}",
            grader.report()
        );
        let status = grader.exit_status_within(PATIENCE);
        assert_eq!(status.code(), Some(2), "{}", grader.report());
    }

    /// A stdout whose open file is non-blocking (a parent such as Node
    /// passes its own) and full for a moment: the report's write failed
    /// with "would block", the report was lost, and the grader exited 0 as
    /// if it had been printed. It waits as on a blocking pipe.
    #[rstest]
    fn on_a_non_blocking_stdout_nobody_reads_waits_then_prints_its_report(target: TargetFile) {
        let folder = target.dir().join("submissions");
        // One submission, run as `true`: it never starts, so the grading
        // is quick, and the report is its table.
        std::fs::create_dir_all(folder.join("one")).unwrap();
        let mut stdout = StalledPipe::non_blocking();
        let mut grader = Spawned::start_configured(
            None,
            "net-watcher-grade",
            &["--folder", folder.to_str().unwrap(), "--", "true"],
            |command| {
                command.stdout(stdout.stdio());
            },
        );
        grader.assert_keeps_running("its stdout is full, not closed");
        let lines = all_lines(&stdout.resume());
        assert!(
            lines
                .last()
                .is_some_and(|line| line.starts_with("1 submission graded in ")),
            "{lines:#?}\n{}",
            grader.report()
        );
        // 4: the program could not be started (and the report was printed).
        let status = grader.exit_status_within(PATIENCE);
        assert_eq!(status.code(), Some(4), "{}", grader.report());
    }

    /// The same with a report holding a line longer than the pipe takes
    /// at once (a program's 16 KiB of stderr, quoted): std's stdout keeps
    /// the part of a line that a write could not take, and the flush that
    /// ends the report said "would block" on it, so the report lost its
    /// end without a word.
    #[rstest]
    fn on_a_non_blocking_stdout_nobody_reads_prints_a_long_report_whole() {
        let said = "x".repeat(16_000);
        let program = format!("printf '%s\\n' {said} >&2; exit 1");
        let mut stdout = StalledPipe::non_blocking();
        let mut grader = Spawned::start_configured(
            None,
            "net-watcher-grade",
            &["--", "sh", "-c", &program],
            |command| {
                command.stdout(stdout.stdio());
            },
        );
        grader.assert_keeps_running("its stdout is full, not closed");
        let lines = all_lines(&stdout.resume());
        assert!(
            lines.iter().any(|line| line.ends_with(&said)),
            "the program's line is not whole in the report\n{}",
            grader.report()
        );
        assert!(
            lines
                .last()
                .is_some_and(|line| line.trim_start().starts_with("Not run: ")),
            "the report's last line is missing: {:?}\n{}",
            lines.last().map(|line| &line[..line.len().min(80)]),
            grader.report()
        );
        let status = grader.exit_status_within(PATIENCE);
        assert_eq!(status.code(), Some(4), "{}", grader.report());
    }

    /// Nobody reads its stdout nor its stderr (a stalled log shipper):
    /// a SIGTERM still ends it, at most when it gives up on printing its
    /// report. It used to wait forever on its last line, `stopped by
    /// SIGTERM`, written to the stalled stderr.
    #[rstest]
    fn a_sigterm_ends_it_though_nobody_reads_its_output(target: TargetFile) {
        let started = target.dir().join("started");
        // A server that never listens, and says it started by a file.
        let server = format!("touch '{}'; exec sleep 600", started.display());
        let mut stdout = StalledPipe::new();
        let mut stderr = StalledPipe::new();
        let mut grader = Spawned::start_configured(
            None,
            "net-watcher-grade",
            &["--start-timeout", "600", "--", "sh", "-c", &server],
            |command| {
                command.stdout(stdout.stdio()).stderr(stderr.stdio());
            },
        );
        wait_for_path(&started);
        grader.signal(libc::SIGTERM);
        let status = grader.exit_status_within(REPORT_DEADLINE + PATIENCE);
        assert_eq!(
            status.code(),
            Some(128 + libc::SIGTERM),
            "{}",
            grader.report()
        );
    }
}

mod the_socket_path {
    use super::*;
    use crate::support::PATIENCE;
    use crate::support::binary::Spawned;
    use crate::support::in_process::{InProcessServer, Options};
    use crate::support::stuck_listener::StuckListener;
    use pretty_assertions::assert_eq;
    use std::os::unix::net::{UnixListener, UnixStream};

    /// As reported: at exit the server removed whatever was at its path.
    #[rstest]
    #[tokio::test]
    async fn replaced_by_a_file_while_serving_is_left_alone_at_exit(target: TargetFile) {
        let options = Options::on_a_unix_socket(&target);
        let path = options.unix.clone().unwrap();
        let mut server = InProcessServer::start_with(&target, options).await;
        server.subscribe_greeted().await;
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone else's").unwrap();
        server.shutdown().await;
        assert_eq!(
            std::fs::read_to_string(&path).expect("the file is still there"),
            "someone else's"
        );
    }

    #[rstest]
    #[tokio::test]
    async fn replaced_by_another_servers_socket_while_serving_is_left_alone_at_exit(
        target: TargetFile,
    ) {
        let options = Options::on_a_unix_socket(&target);
        let path = options.unix.clone().unwrap();
        let mut server = InProcessServer::start_with(&target, options).await;
        server.subscribe_greeted().await;
        std::fs::remove_file(&path).unwrap();
        let other = UnixListener::bind(&path).unwrap();
        server.shutdown().await;
        let _client = UnixStream::connect(&path).expect("the other server still answers");
        other.accept().expect("and accepts");
    }

    /// As reported: several servers started at once on a stale socket
    /// could end up two listening on one path, one of them on a socket
    /// file the other had removed. Now a lock beside the socket lets one
    /// in; the others exit with a clear error.
    #[rstest]
    fn twenty_starts_at_once_on_a_stale_path_leave_one_listener(target: TargetFile) {
        let path = target.dir().join("watcher.sock");
        drop(UnixListener::bind(&path).unwrap());
        let socket = path.to_str().unwrap();
        let mut starts: Vec<Spawned> = (0..20)
            .map(|_| Spawned::start("net-watcher", &[target.path_str(), "--unix", socket]))
            .collect();
        let mut listening = Vec::new();
        let mut refused = Vec::new();
        for (index, start) in starts.iter_mut().enumerate() {
            match start.next_stdout_line("the listening line, or the end of the output") {
                Some(line) => {
                    assert_eq!(line, format!("Listening for subscribers on {socket}..."));
                    listening.push(index);
                }
                None => refused.push(index),
            }
        }
        assert_eq!(listening.len(), 1, "servers listening: {listening:?}");
        for &index in &refused {
            let start = &mut starts[index];
            let (status, _) = start.wait_for_exit();
            assert_eq!(status.code(), Some(1), "{}", start.report());
            let stderr = start.stderr();
            assert!(
                stderr.starts_with(&format!("net-watcher: cannot listen on {socket}: ")),
                "{}",
                start.report()
            );
            assert!(
                stderr.contains(&format!(
                    "another server (pid {}) holds its lock, {socket}.lock",
                    starts[listening[0]].id()
                )),
                "{}",
                starts[index].report()
            );
        }
        let mut subscriber = crate::support::binary::LineReader::unix(
            UnixStream::connect(&path).expect("the one server answers"),
        );
        let greeting = subscriber.next_line("the greeting");
        assert!(greeting.starts_with("Now watching"), "{greeting:?}");
        let winner = &mut starts[listening[0]];
        winner.signal(libc::SIGTERM);
        let (status, _) = winner.wait_for_exit();
        assert!(status.success(), "{}", winner.report());
        assert!(!path.exists(), "the socket file is left behind");
        assert!(
            !target.dir().join("watcher.sock.lock").exists(),
            "the lock file is left behind"
        );
    }

    /// A server alive on the path but taking nobody (its backlog full, as
    /// when it is stopped by `kill -STOP` under a burst of connects) is
    /// another server there: the start says so at once. It used to wait
    /// in its test of the path until that server went away, SIGTERM or
    /// not, and then take the path.
    #[rstest]
    fn held_by_a_server_that_takes_nobody_is_refused_at_once(target: TargetFile) {
        let path = target.dir().join("watcher.sock");
        let _stuck = StuckListener::at(&path);
        let socket = path.to_str().unwrap();
        let mut start = Spawned::start("net-watcher", &[target.path_str(), "--unix", socket]);
        let status = start.exit_status_within(PATIENCE);
        assert_eq!(status.code(), Some(1), "{}", start.report());
        assert!(
            start.stderr().starts_with(&format!(
                "net-watcher: cannot listen on {socket}: the address is already in use"
            )),
            "{}",
            start.report()
        );
    }

    /// The lock's path, `PATH.lock`, may name a file of another program:
    /// the server took it over as a lock left by a crash, wrote its pid
    /// over what it held, and removed it at exit. A lock file holds a pid
    /// and nothing else; any other file there is left alone, and said.
    #[rstest]
    fn whose_lock_path_holds_another_programs_file_is_left_alone(target: TargetFile) {
        let path = target.dir().join("watcher.sock");
        let lock = target.dir().join("watcher.sock.lock");
        std::fs::write(&lock, "another program's data\n").unwrap();
        let socket = path.to_str().unwrap();
        let mut start = Spawned::start("net-watcher", &[target.path_str(), "--unix", socket]);
        let (status, lines) = start.wait_for_exit();
        assert_eq!(
            (status.code(), lines),
            (Some(1), Vec::<String>::new()),
            "{}",
            start.report()
        );
        assert_eq!(
            start.stderr(),
            format!(
                "net-watcher: cannot listen on {}: it holds something other than a server's pid; it is left alone\n",
                lock.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            "another program's data\n"
        );
        assert!(!path.exists(), "no socket is made");
    }

    /// A server killed outright leaves its socket and its lock file
    /// behind; the kernel has released the lock, and the next start takes
    /// both over.
    #[rstest]
    fn left_by_a_killed_server_is_taken_over_by_the_next(target: TargetFile) {
        let path = target.dir().join("watcher.sock");
        let socket = path.to_str().unwrap();
        let args = [target.path_str(), "--unix", socket];
        let mut killed = crate::support::binary::TestServer::start("net-watcher", &args);
        killed.process.signal(libc::SIGKILL);
        killed.process.wait_for_exit();
        assert!(target.dir().join("watcher.sock.lock").exists());
        let next = crate::support::binary::TestServer::start("net-watcher", &args);
        let greeting = next.connect().next_line("the greeting");
        assert!(greeting.starts_with("Now watching"), "{greeting:?}");
    }
}
