//! describe: the exercises of the course, each answered by a test.
//!
//! The book's exercises at the end of its chapter (T1, T2, R1–R5), as the
//! production decoder (`MessageStream`) answers them, come first. Then the
//! exercises of chapters 1 to 10 and 12, each a program a student writes (chapter
//! 8's are T1 to R5 again, on the student's own step-6 client): these
//! specs run the answer checked in under `chapters/answers/`, or the
//! student's own program, `mine/examples/NAME.rs`, when
//! `NET_WATCHER_EXERCISE=NAME` names it, as in
//! `NET_WATCHER_EXERCISE=a_third_message_type cargo test --test spec
//! exercises::a_third_message_type` (chapter 1, "Where your programs go";
//! `your_own_programs` below proves that place is safe).

use futures_util::StreamExt;
use net_watcher::ldj::{LdjError, MessageStream};
use net_watcher::protocol::Message;
use pretty_assertions::assert_eq;

use crate::support::chunks::{ChunkedReader, Seen, changed, decode_all, seen};

const CHANGED: &str = "{\"type\":\"changed\",\"timestamp\":1450694370094}\n";

/// T1: a message split over two or more data events.
#[tokio::test]
async fn t1_a_message_split_over_three_reads_is_emitted_once() {
    let items = decode_all([&CHANGED[..5], &CHANGED[5..30], &CHANGED[30..]]).await;
    assert_eq!(seen(items), vec![changed(1_450_694_370_094)]);
}

/// T2: "passing null is an error". Rust's types rule out a null stream at
/// compile time (see the `compile_fail` example in `ldj`'s docs); the nearest
/// real case is a stream that is already over.
#[tokio::test]
async fn t2_a_stream_already_at_its_end_yields_the_end_at_once_without_error() {
    let mut messages = MessageStream::new(tokio::io::empty());
    let first = messages.next().await;
    assert!(first.is_none(), "expected the end at once, got {first:?}");
}

/// R1: what happens to a line that is not JSON? It is reported, with the line.
#[tokio::test]
async fn r1_a_line_that_is_not_json_is_reported_with_the_line() {
    let items = decode_all(["not json at all\n"]).await;
    match items.as_slice() {
        [Err(LdjError::NotJson { line, .. })] => assert_eq!(line, "not json at all"),
        other => panic!("expected one NotJson error carrying the line, got {other:?}"),
    }
}

/// R2: and then? The bad line is dropped and decoding goes on.
#[tokio::test]
async fn r2_decoding_goes_on_after_a_line_that_is_not_json() {
    let items = decode_all([format!("oops\n{CHANGED}{CHANGED}")]).await;
    assert_eq!(
        seen(items),
        vec![
            Seen::Error("NotJson", Some("oops".into())),
            changed(1_450_694_370_094),
            changed(1_450_694_370_094)
        ]
    );
}

/// R3: a last message without its newline, then the stream closes. The
/// original loses it silently.
#[tokio::test]
async fn r3_a_final_message_without_its_newline_is_delivered_at_close() {
    let items = decode_all([CHANGED, CHANGED.trim_end()]).await;
    assert_eq!(
        seen(items),
        vec![changed(1_450_694_370_094), changed(1_450_694_370_094)]
    );
}

/// R4: the rest of the buffer is processed on close, whatever it holds: a
/// cut-off message is reported, not silently dropped.
#[tokio::test]
async fn r4_a_cut_off_remainder_is_reported_at_close_not_lost() {
    let items = decode_all([CHANGED, &CHANGED[..12]]).await;
    assert_eq!(
        seen(items),
        vec![
            changed(1_450_694_370_094),
            Seen::Error("NotJson", Some(CHANGED[..12].to_owned()))
        ]
    );
}

/// R5: should the client signal "close"? Yes: the end of the stream, once,
/// after the remainder has been handled.
// ANCHOR: r5
#[tokio::test]
async fn r5_the_end_is_signalled_once_after_the_remainder_is_handled() {
    let mut messages = MessageStream::new(ChunkedReader::new([CHANGED.trim_end()]));
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(match messages.next().await {
            Some(Ok(Message::Changed { .. })) => "message",
            Some(_) => "other",
            None => "end",
        });
    }
    assert_eq!(events, ["message", "end", "end", "end"]);
    use futures_util::stream::FusedStream;
    assert!(
        messages.is_terminated(),
        "the stream knows it has ended, so no one polls it again"
    );
}
// ANCHOR_END: r5

/// Chapter 1: the server of step 1 tells each new subscriber, after the
/// greeting, how many subscribers are connected, itself included.
mod counting_subscribers {
    use crate::support::binary::{LineReader, TestServer, exercise_program};
    use crate::support::target::{TargetFile, target};
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    fn start(target: &TargetFile) -> TestServer {
        let program = exercise_program("examples/answer-counting-subscribers");
        TestServer::step(Some(target.dir()), &program, &["target.txt"])
    }

    /// Connects a subscriber and checks its first two lines: the greeting,
    /// then the count it is told.
    fn subscribe(server: &TestServer, told: usize) -> LineReader {
        let mut subscriber = server.connect();
        assert_eq!(
            subscriber.next_line("the greeting"),
            "Now watching \"target.txt\" for changes...\n"
        );
        assert_eq!(
            subscriber.next_line("the count, after the greeting"),
            format!("Subscribers connected: {told}\n"),
            "the count a newcomer is told (< your program's, > the right one)"
        );
        subscriber
    }

    #[rstest]
    fn tells_each_newcomer_how_many_are_connected_itself_included(target: TargetFile) {
        let server = start(&target);
        let _first = subscribe(&server, 1);
        let _second = subscribe(&server, 2);
        let _third = subscribe(&server, 3);
    }

    #[rstest]
    fn no_longer_counts_a_subscriber_that_left(target: TargetFile) {
        let mut server = start(&target);
        let first = subscribe(&server, 1);
        let _second = subscribe(&server, 2);
        drop(first);
        // The server counts the leaver out before it says so.
        server.process.wait_for_stdout("Subscriber disconnected.");
        let _third = subscribe(&server, 2);
    }

    #[rstest]
    fn still_tells_every_subscriber_of_a_change(target: TargetFile) {
        let server = start(&target);
        let mut subscribers = [subscribe(&server, 1), subscribe(&server, 2)];
        target.touch();
        for (number, subscriber) in subscribers.iter_mut().enumerate() {
            let line = subscriber.next_line(&format!("the change, at subscriber {number}"));
            assert!(line.starts_with("File changed: "), "got {line:?}");
        }
    }
}

/// Chapter 2: the server of step 2 removes the socket file a stopped server
/// left, and nothing else: not a live server's socket, not a file that is
/// not a socket.
mod a_leftover_socket_file {
    use std::os::unix::net::UnixListener;

    use crate::support::binary::{Spawned, TestServer, exercise_program, step_environment};
    use crate::support::target::{TargetFile, target};
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    fn program() -> String {
        exercise_program("examples/answer-unix-leftover-socket")
    }

    /// Runs the program on `target.txt` and `socket`, expecting it to fail
    /// to start; returns what it wrote on stderr.
    fn fails_to_start(target: &TargetFile, socket: &str) -> String {
        let mut server = Spawned::start_configured(
            Some(target.dir()),
            &program(),
            &["target.txt", socket],
            step_environment,
        );
        // A server that listens must be told so at once, not after the
        // wait for an exit that will not come.
        let waiting = "your server to stop with \"Address already in use\"";
        if let Some(line) = server.next_stdout_line(waiting) {
            panic!(
                "expected your server to refuse {socket:?} and stop, with \"Address already \
                 in use\"; it printed {line:?} instead\n{}",
                server.report()
            );
        }
        let (status, _) = server.wait_for_exit();
        assert!(!status.success(), "{}", server.report());
        server.stderr()
    }

    #[rstest]
    fn listens_where_a_stopped_server_left_its_socket_file(target: TargetFile) {
        let socket = target.dir().join("watcher.sock");
        // A socket file that nothing answers on, as a server stopped with
        // Ctrl+C leaves it: std's listener does not remove its file when
        // dropped.
        drop(UnixListener::bind(&socket).expect("a socket file can be made"));
        let server = TestServer::step(
            Some(target.dir()),
            &program(),
            &["target.txt", socket.to_str().unwrap()],
        );
        let mut subscriber = server.connect();
        assert_eq!(
            subscriber.next_line("the greeting"),
            "Now watching \"target.txt\" for changes...\n"
        );
    }

    #[rstest]
    fn leaves_the_socket_of_a_server_that_still_answers(target: TargetFile) {
        let socket = target.dir().join("watcher.sock");
        let socket = socket.to_str().unwrap();
        let first = TestServer::step(Some(target.dir()), &program(), &["target.txt", socket]);
        let stderr = fails_to_start(&target, socket);
        assert!(stderr.contains("Address already in use"), "got {stderr:?}");
        // The first server still serves on its socket.
        let mut subscriber = first.connect();
        assert_eq!(
            subscriber.next_line("the greeting, from the first server"),
            "Now watching \"target.txt\" for changes...\n"
        );
    }

    #[rstest]
    fn never_removes_a_file_that_is_not_a_socket(target: TargetFile) {
        let notes = target.dir().join("notes.txt");
        std::fs::write(&notes, "keep me\n").unwrap();
        let stderr = fails_to_start(&target, notes.to_str().unwrap());
        assert!(stderr.contains("Address already in use"), "got {stderr:?}");
        assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep me\n");
    }
}

/// Chapter 3: the JSON service of step 3 tells a removal of the watched
/// file as a third message type, `{"type":"removed","timestamp":...}`.
mod a_removed_message {
    use jiff::Timestamp;

    use crate::support::binary::{LineReader, TestServer, exercise_program};
    use crate::support::target::{TargetFile, target};
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    /// Starts the service on `target.txt`, connects, and checks the
    /// greeting.
    fn subscribe(target: &TargetFile) -> (TestServer, LineReader) {
        let program = exercise_program("examples/answer-json-service-removed");
        let server = TestServer::step(Some(target.dir()), &program, &["target.txt"]);
        let mut subscriber = server.connect();
        assert_eq!(
            subscriber.next_line("the greeting"),
            "{\"type\":\"watching\",\"file\":\"target.txt\"}\n"
        );
        (server, subscriber)
    }

    /// The timestamp of a line `{"type":"KIND","timestamp":N}`, or `None`
    /// if the line is not exactly that.
    fn timestamp_of(kind: &str, line: &str) -> Option<i64> {
        line.strip_prefix(&format!("{{\"type\":\"{kind}\",\"timestamp\":"))?
            .strip_suffix("}\n")?
            .parse()
            .ok()
    }

    #[rstest]
    fn tells_a_removal_as_a_removed_message_with_its_time(target: TargetFile) {
        let (_server, mut subscriber) = subscribe(&target);
        let before = Timestamp::now().as_millisecond();
        std::fs::remove_file(target.path()).unwrap();
        // Removing a file first changes its link count, which the OS may
        // report as a change of its own: `changed` lines may come first.
        // Count the `changed` lines skipped, so that a program that never
        // says `removed` is told what it said instead.
        let mut changed = 0;
        let timestamp = loop {
            let what = format!("the removed message (after {changed} changed messages)");
            let line = subscriber.next_line(&what);
            if let Some(timestamp) = timestamp_of("removed", &line) {
                break timestamp;
            }
            assert!(
                timestamp_of("changed", &line).is_some(),
                "expected a removed or changed message, got {line:?}"
            );
            changed += 1;
        };
        let after = Timestamp::now().as_millisecond();
        assert!(
            (before..=after).contains(&timestamp),
            "{timestamp} is not between {before} and {after}"
        );
    }

    #[rstest]
    fn still_tells_a_change_as_a_changed_message(target: TargetFile) {
        let (_server, mut subscriber) = subscribe(&target);
        target.touch();
        let line = subscriber.next_line("the change");
        assert!(timestamp_of("changed", &line).is_some(), "got {line:?}");
    }
}

/// Chapter 4: the client of step 4 prints a third message type, `removed`,
/// as `File removed: <date>`, and still prints the others as before. The
/// scripted server sends one message per connection, in one write, which
/// the client of step 4 reads as one read.
mod a_third_message_type {
    use crate::support::binary::{ScriptedServer, Spawned, exercise_program};
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    #[rstest]
    #[case::removed(
        b"{\"type\":\"removed\",\"timestamp\":1450694370094}\n",
        "File removed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"
    )]
    #[case::changed(
        b"{\"type\":\"changed\",\"timestamp\":1450694370094}\n",
        "File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"
    )]
    #[case::watching(
        b"{\"type\":\"watching\",\"file\":\"target.txt\"}\n",
        "Now watching: target.txt"
    )]
    #[case::any_other(
        b"{\"type\":\"renamed\",\"file\":\"x\"}\n",
        "Unrecognized message type: renamed"
    )]
    fn prints_each_message_type(#[case] sent: &'static [u8], #[case] printed: &str) {
        let server = ScriptedServer::sending(sent);
        let program = exercise_program("examples/answer-a-third-message-type");
        let mut client = Spawned::step_client(&program, server.port());
        let (status, lines) = client.wait_for_exit();
        server.finish();
        assert!(
            status.success(),
            "expected your client to exit with status 0, got {status}\n{}",
            client.report()
        );
        assert_eq!(lines, [printed]);
    }
}

/// Chapter 5: a fake service that splits the book's message in three
/// writes, a pause apart; the client of step 4 fails on it, and the client
/// of step 6 prints the one message; and its own paused-clock test, which
/// the student changes from step 5's to expect three parts, passes.
mod a_three_way_split {
    use super::*;
    use pretty_assertions::assert_eq;

    use crate::support::binary::{OwnTests, Spawned, TestServer, exercise_program};

    /// The service, on a free port, with a pause long enough that each part
    /// arrives in a read of its own, however busy the machine.
    fn start_service() -> TestServer {
        TestServer::split_service(&exercise_program("examples/answer-three-way-split-service"))
    }

    #[test]
    fn sends_the_books_message_in_three_reads_a_pause_apart_then_closes() {
        let reads = start_service().reads_until_the_end();
        assert_eq!(reads.texts.concat(), CHANGED, "the parts, joined");
        assert_eq!(reads.texts.len(), 3, "one read per part, got {reads:?}");
        if let Some(short) = reads.short_pause() {
            panic!("each part must come a pause after the one before; {short}: {reads:?}");
        }
    }

    #[test]
    fn makes_the_client_of_step_4_fail_with_a_json_error() {
        let service = start_service();
        let mut client = Spawned::step_client("examples/net-watcher-json-client", service.port());
        let (status, lines) = client.wait_for_exit();
        assert_eq!(status.code(), Some(1), "{}", client.report());
        assert_eq!(lines, Vec::<String>::new());
        let stderr = client.stderr();
        assert!(
            stderr.starts_with("Error: Error(\"EOF while parsing"),
            "got {stderr:?}"
        );
    }

    /// Step 5's test, copied with the program, expects two parts: a
    /// service that sends three fails it until the test is changed too.
    #[test]
    fn has_a_test_of_its_own_that_passes() {
        let tests = OwnTests::of(&exercise_program("examples/answer-three-way-split-service"));
        assert!(
            !tests.names.is_empty(),
            "the program has no #[test] of its own: keep step 5's, changed for three parts"
        );
        tests.assert_pass();
    }

    #[test]
    fn is_read_by_the_client_of_step_6_as_one_message() {
        let service = start_service();
        let mut client = Spawned::step_client("examples/net-watcher-ldj-client", service.port());
        let (status, lines) = client.wait_for_exit();
        assert!(
            status.success(),
            "expected our step-6 client to exit with status 0 on your service, got {status}\n{}",
            client.report()
        );
        assert_eq!(
            lines,
            ["File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"]
        );
    }
}

/// Chapter 6: the client of step 6 reads standard input when its argument
/// is `-`, and the server otherwise. From /dev/null it prints nothing and
/// ends at once, without an error: the students' reading of T2.
mod a_client_on_any_stream {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::process::Stdio;

    use assert_cmd::Command;

    use crate::support::PATIENCE;
    use crate::support::binary::{Spawned, TestServer, bin, exercise_program, step_environment};

    fn program() -> String {
        exercise_program("examples/answer-ldj-client-on-any-stream")
    }

    // In the tests of `-`, `PORT=0` (from `step_environment`): a client
    // that ignores `-` and connects fails at once, even with a server
    // running on the práctica's port.

    #[test]
    fn prints_nothing_and_exits_zero_when_standard_input_is_dev_null() {
        let mut client = Spawned::start_configured(None, &program(), &["-"], |command| {
            step_environment(command);
            command.stdin(Stdio::null());
        });
        let (status, lines) = client.wait_for_exit();
        assert!(
            status.success(),
            "expected your client to exit with status 0, got {status}\n{}",
            client.report()
        );
        assert_eq!(lines, Vec::<String>::new());
        assert_eq!(client.stderr(), "");
    }

    #[test]
    fn prints_each_message_it_reads_from_a_pipe() {
        let mut command = std::process::Command::new(bin(&program()));
        step_environment(&mut command);
        Command::from_std(command)
            .arg("-")
            .timeout(PATIENCE)
            .write_stdin(format!(
                "{{\"type\":\"watching\",\"file\":\"target.txt\"}}\n{CHANGED}"
            ))
            .assert()
            .success()
            .stdout(
                "Now watching: target.txt\nFile changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)\n",
            )
            .stderr("");
    }

    /// Without `-`, it is step 6's client still, here against step 5's
    /// split service, so that this branch must frame messages too. Its
    /// standard input is /dev/null: a client that reads it whatever its
    /// argument prints nothing, and fails at once.
    #[test]
    fn reads_the_server_without_an_argument() {
        let service = TestServer::split_service("examples/test-json-service");
        let mut client = Spawned::start_configured(None, &program(), &[], |command| {
            step_environment(command);
            command
                .env("PORT", service.port().to_string())
                .stdin(Stdio::null());
        });
        let (status, lines) = client.wait_for_exit();
        assert!(
            status.success(),
            "expected your client to exit with status 0, got {status}\n{}",
            client.report()
        );
        assert_eq!(
            lines,
            ["File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"]
        );
    }
}

/// Chapter 7: the práctica's step 7, the book's Mocha suite for
/// `LDJClient`, written as tests inside the step-6 program: one message
/// from a single data event, and one from a line split across two data
/// events. They pass on the program, and the split one fails on the same
/// program with a client that takes each read for a message (so a test
/// that asserts nothing does not count).
mod a_mocha_suite {
    use crate::support::binary::{
        LDJ_CLIENT_GIVING_NO_MESSAGE, LDJ_CLIENT_TAKING_EACH_READ_FOR_A_MESSAGE, OwnTests,
        SwappedProgram, exercise_program, program_source,
    };

    const ANSWER: &str = "examples/answer-a-mocha-suite";
    const SINGLE: &str = "a_single_data_event";
    const SPLIT: &str = "split_data_events";

    #[test]
    fn has_the_books_two_tests_and_they_pass() {
        let tests = OwnTests::of(&exercise_program(ANSWER));
        tests.assert_named(&[SINGLE, SPLIT]);
        tests.assert_pass();
    }

    /// The tests of the program with its `ldj_client` module swapped for
    /// `module`. The student's own program is built first, so that a typo
    /// in it is reported at its own file and line, not in the swapped copy.
    fn with_its_client_swapped_for(module: &str) -> (SwappedProgram, OwnTests) {
        let program = exercise_program(ANSWER);
        OwnTests::of(&program);
        let source = program_source(&program, "chapters/answers/a_mocha_suite.rs");
        let swapped = SwappedProgram::new(&source, "ldj_client", module);
        let tests = OwnTests::of(&swapped.program);
        (swapped, tests)
    }

    #[test]
    fn has_a_split_test_that_fails_on_a_client_that_takes_each_read_for_a_message() {
        let (_naive, tests) =
            with_its_client_swapped_for(LDJ_CLIENT_TAKING_EACH_READ_FOR_A_MESSAGE);
        tests.assert_fail(
            SPLIT,
            "your split_data_events test passes on a client that takes each read \
             for a message (step 4's bug): it must fail there",
        );
    }

    #[test]
    fn has_a_single_event_test_that_fails_on_a_client_that_gives_no_message() {
        let (_silent, tests) = with_its_client_swapped_for(LDJ_CLIENT_GIVING_NO_MESSAGE);
        tests.assert_fail(
            SINGLE,
            "your a_single_data_event test passes on a client that never gives a \
             message: it must check the message it gets",
        );
    }
}

/// Chapter 8: the client of step 6, made robust (the book's T1, T2 and R1
/// to R5). It passes every client behaviour of the grader, R1 to R4
/// included; it reports a cut-off last line and ends well; and it has a
/// test of its own for each exercise, named after it, which passes.
mod a_robust_client {
    use std::process::Command;

    use crate::support::binary::{OwnTests, ScriptedServer, Spawned, bin, exercise_program};
    use pretty_assertions::assert_eq;

    fn program() -> String {
        exercise_program("examples/answer-a-robust-client")
    }

    #[test]
    fn passes_every_behaviour_the_grader_checks_on_a_client() {
        // A long patience: on a loaded machine a client may take more
        // than the default 5 s to print, and this spec is about what it
        // prints, not how soon.
        let output = Command::new(bin("net-watcher-grade"))
            .args(["--patience", "30", "--client", "--"])
            .arg(bin(&program()))
            .output()
            .expect("the grader runs");
        assert!(
            output.status.success(),
            "the grader failed the client:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// R4: the rest of the buffer at the end is handed out, whatever it
    /// holds; R5: then the client ends, as at any end of the stream.
    #[test]
    fn reports_a_cut_off_last_line_quoting_it_then_exits_zero() {
        let server = ScriptedServer::sending(
            b"{\"type\":\"watching\",\"file\":\"target.txt\"}\n{\"type\":\"chan",
        );
        let mut client = Spawned::step_client(&program(), server.port());
        let (status, lines) = client.wait_for_exit();
        server.finish();
        assert!(
            status.success(),
            "expected your client to exit with status 0, got {status}\n{}",
            client.report()
        );
        assert_eq!(
            lines,
            ["Now watching: target.txt"],
            "stdout: only the greeting; the cut-off line belongs on stderr"
        );
        let stderr = client.stderr();
        assert!(
            stderr.contains("{\"type\":\"chan"),
            "expected the cut-off line on stderr as it came, {{\"type\":\"chan (printed \
             with {{}}: {{:?}} escapes its quotes), got {stderr:?}"
        );
    }

    #[test]
    fn has_a_test_of_its_own_for_each_exercise_and_they_pass() {
        let tests = OwnTests::of(&program());
        tests.assert_named(&["t1_", "t2_", "r1_", "r2_", "r3_", "r4_", "r5_"]);
        tests.assert_pass();
    }
}

/// Chapter 9: the server of step 1, stopped with Ctrl+C, ends cleanly:
/// every subscriber's task ends and logs its subscriber out, and the
/// program exits with status 0 once they have.
///
/// What the subscribers see is not checked: when a program exits, however
/// it exits, the OS closes its connections, and each subscriber reads the
/// same end of file. A program that calls `std::process::exit(0)` on
/// Ctrl+C passes any such check; it fails the log-outs' (seen: it printed
/// no `Subscriber disconnected.`), and so does a `main` that returns
/// without waiting for the tasks (seen: fewer than three, 6 runs of 6).
mod a_clean_shutdown {
    use crate::support::binary::{LineReader, TestServer, exercise_program};
    use crate::support::target::{TargetFile, target};
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    /// The program, listening, with SIGINT's default action restored as in
    /// a terminal: a program that does not handle it is ended by it.
    fn start(target: &TargetFile) -> TestServer {
        let program = exercise_program("examples/answer-a-clean-shutdown");
        TestServer::step_interruptible(Some(target.dir()), &program, &["target.txt"])
    }

    /// `count` subscribers, each greeted and logged by the server.
    fn subscribe(server: &mut TestServer, count: usize) -> Vec<LineReader> {
        let mut subscribers = Vec::new();
        for number in 1..=count {
            let mut subscriber = server.connect();
            subscriber.next_line(&format!("subscriber {number}'s greeting"));
            server.process.wait_for_stdout("Subscriber connected.");
            subscribers.push(subscriber);
        }
        subscribers
    }

    /// Presses Ctrl+C, expects exit status 0, and returns every line the
    /// program printed.
    fn ctrl_c(server: &mut TestServer) -> Vec<String> {
        server.process.signal(libc::SIGINT);
        let (status, lines) = server.process.wait_for_exit();
        assert!(
            status.success(),
            "expected exit status 0 after Ctrl+C, got {status}\n{}",
            server.process.report()
        );
        lines
    }

    #[rstest]
    fn exits_with_status_zero_when_nobody_is_connected(target: TargetFile) {
        let mut server = start(&target);
        ctrl_c(&mut server);
    }

    #[rstest]
    fn logs_every_subscriber_out_before_it_exits(target: TargetFile) {
        let mut server = start(&target);
        let _subscribers = subscribe(&mut server, 3);
        let lines = ctrl_c(&mut server);
        let logged_out = lines
            .iter()
            .filter(|line| *line == "Subscriber disconnected.")
            .count();
        assert_eq!(
            logged_out, 3,
            "one \"Subscriber disconnected.\" per subscriber, printed by its task before the program exits \
             (a program that exits at once, or whose main returns without waiting for the tasks, \
             prints fewer); it printed {lines:?}"
        );
    }

    #[rstest]
    fn still_tells_every_subscriber_of_a_change(target: TargetFile) {
        let mut server = start(&target);
        let mut subscribers = subscribe(&mut server, 2);
        target.touch();
        for (number, subscriber) in subscribers.iter_mut().enumerate() {
            let line = subscriber.next_line(&format!("the change, at subscriber {number}"));
            assert!(line.starts_with("File changed: "), "got {line:?}");
        }
        ctrl_c(&mut server);
    }
}

/// Chapter 10: the chat, with two more commands. `/me ACTION` tells the
/// others `* NAME ACTION`; `/msg NAME TEXT` tells only the one named, as
/// `SENDER (to you): TEXT`, and tells the sender when nobody has that name.
/// A `/me` with no action goes to no one; a `/msg` with no text goes to no
/// one and tells the sender what is needed. What someone must not hear is checked by what they hear next, as in
/// `chat::`.
mod chat_commands {
    use rstest::rstest;

    use crate::support::binary::exercise_program;
    use crate::support::chat::ChatRoom;

    fn open() -> ChatRoom {
        ChatRoom::open_program(&exercise_program("examples/answer-chat-commands"))
    }

    #[tokio::test]
    async fn me_tells_the_others_what_you_do() {
        let chat = open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.says("/me waves").await;
        second.hears("* guest1 waves").await;
        third.hears("* guest1 waves").await;
        // Not echoed: the first line the sender hears next is another's.
        second.says("hi").await;
        first.hears("guest2: hi").await;
    }

    #[rstest]
    #[case::alone("/me")]
    #[case::empty_after_a_space("/me ")]
    #[tokio::test]
    async fn me_without_an_action_goes_to_no_one(#[case] command: &str) {
        let chat = open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.says(command).await;
        // Had the others been told anything, it would come before this line
        // from the same person.
        first.says("still here").await;
        second.hears("guest1: still here").await;
        third.hears("guest1: still here").await;
        // Said after the room handled both: had the sender been told
        // anything, it would come before it.
        second.says("yes").await;
        first.hears("guest2: yes").await;
    }

    #[tokio::test]
    async fn msg_reaches_the_one_named_and_nobody_else() {
        let chat = open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.says("/msg guest3 just between us").await;
        third.hears("guest1 (to you): just between us").await;
        // A line for everyone, sent after it: the first the others hear.
        first.says("hello, all").await;
        second.hears("guest1: hello, all").await;
        third.hears("guest1: hello, all").await;
    }

    #[tokio::test]
    async fn msg_tells_the_sender_when_nobody_has_that_name() {
        let chat = open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.says("/msg bob are you there?").await;
        first.hears("* nobody here is called bob; not sent").await;
        first.says("anyone?").await;
        second.hears("guest1: anyone?").await;
    }

    #[rstest]
    #[case::alone("/msg")]
    #[case::a_name_alone("/msg guest3")]
    #[case::empty_after_a_space("/msg guest3 ")]
    #[tokio::test]
    async fn msg_without_a_text_tells_the_sender_and_goes_to_no_one(#[case] command: &str) {
        let chat = open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.says(command).await;
        first
            .hears("* a name and a text are needed: /msg NAME TEXT")
            .await;
        first.says("hello, all").await;
        second.hears("guest1: hello, all").await;
        third.hears("guest1: hello, all").await;
    }

    #[tokio::test]
    async fn still_sends_a_plain_line_to_everyone_else() {
        let chat = open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.says("plain words").await;
        second.hears("guest1: plain words").await;
        third.hears("guest1: plain words").await;
    }
}

/// Chapter 12: an edge of the student's own, which reads the stream
/// `changes` with `XREAD`, speaking RESP itself over a TCP socket (here a
/// loopback port forwarded to the spec's Redis, which listens on a Unix
/// socket only), and prints each entry appended after it started as step
/// 4's client prints a message.
mod an_edge_of_your_own {
    use std::time::Duration;

    use crate::support::binary::{SPLIT_PAUSE_MS, Spawned, exercise_program};
    use crate::support::redis_server::{Monitor, RedisServer, redis_server};
    use crate::support::stalling_proxy::StallingProxy;
    use pretty_assertions::assert_eq;

    /// The book's message's timestamp, and how step 4's client prints it
    /// (the specs' time zone is UTC).
    const CHANGED: (&str, &str) = (
        "1450694370094",
        "File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)",
    );

    /// A Redis, the student's edge reading from it, and a view of what
    /// Redis is asked.
    struct Edge {
        redis: RedisServer,
        monitor: Monitor,
        program: Spawned,
        proxy: StallingProxy,
    }

    /// Starts Redis with a stream that already holds a `watching` entry, as
    /// a publisher leaves it, then the edge, and waits until the edge's
    /// first `XREAD` waits for the next entry. `None` where Redis is not
    /// installed (the spec is skipped).
    fn start() -> Option<Edge> {
        let redis = redis_server()?;
        append(&redis, &["type", "watching", "file", "before.txt"]);
        let proxy = StallingProxy::start_tcp(&redis.socket());
        let mut monitor = redis.monitor();
        let port = proxy.port().to_string();
        let program = exercise_program("examples/answer-an-edge-of-your-own");
        let program = Spawned::start_configured(None, &program, &[], |command| {
            command.env("REDIS_PORT", &port);
        });
        monitor.next("XREAD");
        Some(Edge {
            redis,
            monitor,
            program,
            proxy,
        })
    }

    /// Appends an entry of `fields` (name, value, ...) to `changes`, and
    /// returns its id.
    fn append(redis: &RedisServer, fields: &[&str]) -> String {
        redis::cmd("XADD")
            .arg("changes")
            .arg("*")
            .arg(fields)
            .query(&mut redis.connection())
            .expect("Redis takes the entry")
    }

    /// Appends the book's change of `target.txt`, and returns its id.
    fn change(redis: &RedisServer) -> String {
        append(
            redis,
            &[
                "type",
                "changed",
                "file",
                "target.txt",
                "timestamp",
                CHANGED.0,
            ],
        )
    }

    impl Edge {
        /// The edge's next line on stdout.
        fn prints(&mut self, expected: &str) {
            let line = self
                .program
                .next_stdout_line(&format!("your edge to print {expected:?}"));
            assert_eq!(
                line.as_deref(),
                Some(expected),
                "(< what your edge printed, > what it should)\n{}",
                self.program.report()
            );
        }
    }

    #[test]
    fn prints_an_entry_appended_while_it_reads_and_none_from_before() {
        let Some(mut edge) = start() else { return };
        change(&edge.redis);
        // The first line: the entry from before it started is not told.
        edge.prints(CHANGED.1);
    }

    #[test]
    fn prints_each_entry_of_a_reply_that_holds_several_in_order() {
        let Some(mut edge) = start() else { return };
        // One transaction: Redis wakes the edge's read once both are in,
        // and its reply holds both entries.
        let _: () = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&["changes", "*", "type", "watching", "file", "target.txt"])
            .ignore()
            .cmd("XADD")
            .arg(&["changes", "*", "type", "changed", "file", "target.txt"])
            .arg(&["timestamp", CHANGED.0])
            .ignore()
            .query(&mut edge.redis.connection())
            .expect("Redis takes both entries");
        edge.prints("Now watching: target.txt");
        edge.prints(CHANGED.1);
    }

    #[test]
    fn reads_a_value_by_its_length_though_it_holds_the_end_of_a_line() {
        let Some(mut edge) = start() else { return };
        // `\r\n`, which ends every part of a reply, inside a value: a
        // reader that reads a string up to `\n` or `\r\n` instead of by
        // its length takes `two` for the whole name.
        append(
            &edge.redis,
            &["type", "watching", "file", "two\r\nlines.txt"],
        );
        edge.prints("Now watching: two");
        edge.prints("lines.txt");
        // Once it reads again, whatever it asks for: that is the next
        // spec's concern, not this one's.
        edge.monitor.next("XREAD");
        change(&edge.redis);
        edge.prints(CHANGED.1);
    }

    #[test]
    fn reads_a_reply_that_comes_in_two_parts_as_one() {
        let Some(mut edge) = start() else { return };
        edge.proxy
            .split_each_chunk(Duration::from_millis(SPLIT_PAUSE_MS));
        change(&edge.redis);
        edge.prints(CHANGED.1);
    }

    #[test]
    fn asks_next_for_the_entries_after_the_last_one_it_read() {
        let Some(mut edge) = start() else { return };
        let id = change(&edge.redis);
        edge.prints(CHANGED.1);
        let asked = edge.monitor.next("XREAD");
        assert_eq!(
            asked.last(),
            Some(&id),
            "after reading the entry {id}, your edge asked {asked:?}: it must ask for the \
             entries after the last id it read, or an entry appended between two reads is lost"
        );
    }
}

/// The student's own programs (chapter 1, "Where your programs go"): files
/// in `mine/examples/`, a package of its own. Nothing there is built,
/// linted or formatted by what `.ci/run` runs on net-watcher (`cargo fmt
/// --all -- --check`, `cargo clippy --all-targets`, `cargo test`), so a
/// program half written never breaks them; and `NET_WATCHER_EXERCISE=NAME`
/// makes an exercise's specs build and run `mine/examples/NAME.rs`.
mod your_own_programs {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fs;
    use std::path::Path;
    use std::process::Command;

    use pretty_assertions::assert_eq;
    use serde_json::Value;

    use crate::support::binary::{MINE, build_example, exercise_program_named};
    use crate::support::root;

    /// What `cargo metadata --no-deps` says of the package at `manifest`:
    /// the workspace's members, their targets and their dependencies.
    fn metadata(manifest: &Path) -> Value {
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .arg("--manifest-path")
            .arg(manifest)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo metadata fails on {}:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("cargo metadata writes JSON")
    }

    /// A file written for the length of a test, removed when dropped, even
    /// when the test fails.
    struct Written(std::path::PathBuf);

    impl Drop for Written {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    /// A student's program half written: not formatted, and not even Rust
    /// that compiles.
    const HALF_WRITTEN: &str = "fn main( ) {let   x = ; }\n";

    /// `cargo clippy --all-targets` and `cargo test` build the targets of
    /// the workspace's members, as `cargo metadata` lists them, and the
    /// modules those declare: none of them is under `mine/`.
    #[test]
    fn are_no_target_that_clippy_or_cargo_test_builds() {
        let metadata = metadata(&root().join("Cargo.toml"));
        let members = metadata["workspace_members"].as_array().unwrap();
        assert_eq!(members.len(), 1, "net-watcher alone: {members:?}");
        let mine = root().join("mine");
        let mut targets = 0;
        for package in metadata["packages"].as_array().unwrap() {
            for target in package["targets"].as_array().unwrap() {
                targets += 1;
                let source = Path::new(target["src_path"].as_str().unwrap());
                assert!(
                    !source.starts_with(&mine),
                    "{} is a target of net-watcher",
                    source.display()
                );
            }
        }
        assert!(targets > 10, "only {targets} targets listed");
    }

    /// The real `cargo fmt --all -- --check`, with a half-written program
    /// in `mine/examples/`: rustfmt refuses the program when given it, and
    /// the check never names it.
    #[test]
    fn are_left_alone_by_cargo_fmt_all() {
        let name = format!("half-written-{}", std::process::id());
        let program = Written(root().join(format!("mine/examples/{name}.rs")));
        fs::write(&program.0, HALF_WRITTEN).unwrap();
        let alone = Command::new("rustfmt")
            .args(["--edition", "2024", "--check"])
            .arg(&program.0)
            .output()
            .expect("rustfmt runs (CI installs it: rustup component add rustfmt)");
        assert!(!alone.status.success(), "rustfmt accepts {HALF_WRITTEN:?}");

        let check = Command::new(env!("CARGO"))
            .args(["fmt", "--all", "--", "--check"])
            .current_dir(root())
            .output()
            .expect("cargo fmt runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(
            !said.contains(&name),
            "cargo fmt --all looked at it:\n{said}"
        );
    }

    /// `NET_WATCHER_EXERCISE=step1` names `mine/examples/step1.rs`, as
    /// `cargo mine step1` does; without it, the answer runs.
    #[test]
    fn are_named_by_net_watcher_exercise_as_cargo_mine_names_them() {
        let answer = "examples/answer-counting-subscribers";
        assert_eq!(
            exercise_program_named(Some("step1".into()), answer),
            format!("{MINE}step1")
        );
        assert_eq!(exercise_program_named(None, answer), answer);
    }

    #[test]
    #[should_panic(expected = "NET_WATCHER_EXERCISE=step1 for mine/examples/step1.rs")]
    fn are_not_named_by_their_path() {
        exercise_program_named(Some("mine/examples/step1.rs".into()), "unused");
    }

    /// A package of the same shape as `mine/`, but with no dependencies to
    /// build, whose `examples/step1.rs` is `step1`.
    fn a_package_like_mine(step1: &str) -> tempfile::TempDir {
        let package = tempfile::tempdir().unwrap();
        fs::create_dir(package.path().join("examples")).unwrap();
        fs::write(
            package.path().join("Cargo.toml"),
            "[package]\nname = \"mine\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
        )
        .unwrap();
        fs::write(package.path().join("examples/step1.rs"), step1).unwrap();
        package
    }

    /// What `bin("mine/NAME")` does, on a package like `mine/`: cargo
    /// builds the program named, and says where its executable is.
    #[test]
    fn are_built_and_run_by_name() {
        let package = a_package_like_mine(
            "fn main() {\n    println!(\"Listening for subscribers on 127.0.0.1:0...\");\n}\n",
        );
        fs::write(package.path().join("examples/other.rs"), HALF_WRITTEN).unwrap();
        let executable = build_example(&package.path().join("Cargo.toml"), "step1");
        let output = Command::new(&executable).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "Listening for subscribers on 127.0.0.1:0...\n",
            "{} printed something else",
            executable.display()
        );
    }

    /// A program that does not compile fails the exercise's specs with the
    /// compiler's own message.
    #[test]
    #[should_panic(expected = "expected expression")]
    fn that_do_not_compile_fail_with_the_compilers_message() {
        let package = a_package_like_mine(HALF_WRITTEN);
        build_example(&package.path().join("Cargo.toml"), "step1");
    }

    /// The dependencies of a package, by name: their version requirement,
    /// whether they keep their default features, and their features (those
    /// of every kind of dependency on that crate, together).
    fn dependencies(metadata: &Value) -> BTreeMap<String, (String, bool, BTreeSet<String>)> {
        let mut found: BTreeMap<String, (String, bool, BTreeSet<String>)> = BTreeMap::new();
        for dependency in metadata["packages"][0]["dependencies"].as_array().unwrap() {
            let name = dependency["name"].as_str().unwrap().to_owned();
            let entry = found.entry(name).or_insert_with(|| {
                (
                    dependency["req"].as_str().unwrap().to_owned(),
                    dependency["uses_default_features"].as_bool().unwrap(),
                    BTreeSet::new(),
                )
            });
            for feature in dependency["features"].as_array().unwrap() {
                entry.2.insert(feature.as_str().unwrap().to_owned());
            }
        }
        found
    }

    /// A program copied from `examples/` into `mine/examples/` builds
    /// unchanged: every crate the course's programs name is a dependency
    /// of `mine`, with net-watcher's version requirement and at least its
    /// features.
    #[test]
    fn have_every_crate_the_step_programs_use() {
        let ours = dependencies(&metadata(&root().join("Cargo.toml")));
        let theirs = dependencies(&metadata(&root().join("mine/Cargo.toml")));
        let mut used = BTreeSet::new();
        // The programs of `examples/`: a file each, or a folder of files
        // (the chat of chapter 10).
        let mut files = Vec::new();
        for entry in fs::read_dir(root().join("examples")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(
                    fs::read_dir(&path)
                        .unwrap()
                        .map(|file| file.unwrap().path()),
                );
            } else {
                files.push(path);
            }
        }
        for path in files {
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let source = fs::read_to_string(&path).unwrap();
            for name in ours.keys() {
                if source.contains(&format!("{}::", name.replace('-', "_"))) {
                    used.insert(name.clone());
                }
            }
        }
        assert!(
            used.contains("tokio") && used.contains("notify"),
            "{used:?}"
        );
        for name in used {
            let (req, defaults, features) = &ours[&name];
            let Some((their_req, their_defaults, their_features)) = theirs.get(&name) else {
                panic!("mine/Cargo.toml lacks {name}, which the step programs use");
            };
            assert_eq!((their_req, their_defaults), (req, defaults), "{name}");
            assert!(
                their_features.is_superset(features),
                "{name}: mine asks for {their_features:?}, net-watcher for {features:?}"
            );
        }
    }

    /// The versions a Cargo.lock pins: name → versions.
    fn locked(file: &str) -> BTreeMap<String, BTreeSet<String>> {
        let text = fs::read_to_string(root().join(file)).unwrap();
        let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for package in text.split("[[package]]").skip(1) {
            let field = |key: &str| {
                package.lines().find_map(|line| {
                    let value = line.strip_prefix(key)?.strip_prefix(" = \"")?;
                    Some(value.trim_end_matches('"').to_owned())
                })
            };
            let (Some(name), Some(version)) = (field("name"), field("version")) else {
                panic!("{file}: a package without a name or version");
            };
            versions.entry(name).or_default().insert(version);
        }
        versions
    }

    /// `mine/Cargo.lock` pins the versions net-watcher's does, so that the
    /// crates behave as the chapters show them.
    #[test]
    fn are_built_with_the_crate_versions_net_watcher_locks() {
        let ours = locked("Cargo.lock");
        let theirs = locked("mine/Cargo.lock");
        assert!(theirs.contains_key("tokio"), "{theirs:?}");
        for (name, versions) in theirs.iter().filter(|(name, _)| *name != "mine") {
            let pinned = ours.get(name).cloned().unwrap_or_default();
            assert!(
                pinned.is_superset(versions),
                "mine/Cargo.lock pins {name} {versions:?}, Cargo.lock {pinned:?}"
            );
        }
    }
}
