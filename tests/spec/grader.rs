//! describe: the grader (`net_watcher::grade` and `net-watcher-grade`).
//!
//! A grader is only worth its reports if it passes programs that are right
//! and fails programs that are wrong, for the right reason. This crate's
//! programs pass every behaviour; programs broken on purpose
//! (`tests/fixtures/broken-server.rs`) each fail the behaviour they break,
//! with a reason that says what came instead. The book's Node programs are
//! graded for real in `transcripts::chapter_7_…`.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use assert_cmd::Command;
use net_watcher::grade::{
    self, Behaviour, Failure, Report, Role, Settings, Subject, Transport, behaviours,
};
use net_watcher::protocol::Protocol;
use rstest::rstest;

use crate::support::PATIENCE;
use crate::support::binary::bin;
use crate::support::broken::broken_server;

fn server(protocol: Protocol, transport: Transport) -> Role {
    Role::Server {
        protocol,
        transport,
    }
}

/// The grader's defaults, with the suite's patience: a correct program
/// never waits for it, and a loaded machine gets its full measure.
fn patient() -> Settings {
    Settings {
        patience: PATIENCE,
        ..Settings::default()
    }
}

/// For programs expected to fail some behaviours: each of those waits out
/// the patience, so it is shorter; still long enough that the behaviours
/// such a program passes are not failed by a loaded machine.
fn brisk() -> Settings {
    Settings {
        patience: Duration::from_secs(3),
        ..Settings::default()
    }
}

/// `program` and its arguments, as words of a command.
fn command(program: &Path, args: &[&str]) -> Vec<String> {
    std::iter::once(program.to_string_lossy().into_owned())
        .chain(args.iter().map(|arg| (*arg).to_owned()))
        .collect()
}

/// The behaviour of `role` whose name starts with `start`.
fn named(role: Role, start: &str) -> Behaviour {
    behaviours(role)
        .into_iter()
        .find(|behaviour| behaviour.name.starts_with(start))
        .unwrap_or_else(|| panic!("no behaviour of {role} starts with {start:?}"))
}

/// The failure of behaviour `start` in `report`; fails the test if it
/// passed.
fn failure_of<'r>(report: &'r Report, start: &str) -> &'r Failure {
    let outcome = report
        .outcomes
        .iter()
        .find(|outcome| outcome.name.starts_with(start))
        .unwrap_or_else(|| panic!("no behaviour starting with {start:?} ran:\n{report}"));
    match &outcome.verdict {
        Err(failure) => failure,
        Ok(()) => panic!("expected {start:?} to fail, but it passed:\n{report}"),
    }
}

/// Fails the test, showing the report, unless behaviour `start` passed.
fn assert_passed(report: &Report, start: &str) {
    let outcome = report
        .outcomes
        .iter()
        .find(|outcome| outcome.name.starts_with(start))
        .unwrap_or_else(|| panic!("no behaviour starting with {start:?} ran:\n{report}"));
    assert!(
        outcome.verdict.is_ok(),
        "expected {start:?} to pass:\n{report}"
    );
}

mod passes_this_crates_programs {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[case::plain_text_on_tcp(Protocol::Text, Transport::Tcp)]
    #[case::json_on_tcp(Protocol::Json, Transport::Tcp)]
    #[case::plain_text_on_a_unix_socket(Protocol::Text, Transport::Unix)]
    #[case::json_on_a_unix_socket(Protocol::Json, Transport::Unix)]
    fn net_watcher_on_every_behaviour(#[case] protocol: Protocol, #[case] transport: Transport) {
        let mut args = vec!["{file}"];
        args.extend(match transport {
            Transport::Tcp => ["--port", "{port}"],
            Transport::Unix => ["--unix", "{socket}"],
        });
        if protocol == Protocol::Json {
            args.push("--json");
        }
        let role = server(protocol, transport);
        let report = grade::grade(&Subject::new(
            command(&bin("net-watcher"), &args),
            role,
            patient(),
        ));
        assert!(report.passed(), "{report}");
        assert_eq!(report.outcomes.len(), behaviours(role).len());
    }

    #[test]
    fn net_watcher_client_on_every_behaviour() {
        let role = Role::Client {
            transport: Transport::Tcp,
        };
        let report = grade::grade(&Subject::new(
            command(&bin("net-watcher-client"), &["--port", "{port}"]),
            role,
            patient(),
        ));
        assert!(report.passed(), "{report}");
        assert_eq!(report.outcomes.len(), behaviours(role).len());
    }
}

/// The step examples keep the book's design, weaknesses included: graded,
/// they pass the práctica's behaviours and fail, beyond it, where the
/// book's programs do (see chapter 7's run against the book's Node
/// programs). Each case states the behaviours it fails, as measured.
mod grades_the_step_examples {
    use super::*;
    use pretty_assertions::assert_eq;

    const ATOMIC: &str =
        "notices an atomic save (a new file renamed over it) once, and keeps watching";
    const SED: &str = "notices a save by `sed -i` once, and keeps watching";
    const FLOOD: &str = "merges 300 quick appends into a few notifications (at most 30)";
    const MISSING: &str = "refuses to start for a file that does not exist";
    const STALE: &str = "starts again where a killed server left its socket file";
    const SPLIT: &str = "prints a message that arrives split across two reads, once";
    const TWO: &str = "prints both of two messages that arrive in one read";
    const NO_NEWLINE: &str =
        "prints a last message that has no newline when the server closes (R3, R4)";
    const NOT_JSON: &str = "reports a line that is not JSON, quoting it, and goes on (R1, R2)";

    const TCP: Transport = Transport::Tcp;
    const TEXT_ON_TCP: Role = Role::Server {
        protocol: Protocol::Text,
        transport: Transport::Tcp,
    };

    #[rstest]
    #[case::step_1("net-watcher", &["{file}"], TEXT_ON_TCP, &[ATOMIC, SED, FLOOD, MISSING])]
    #[case::step_2(
        "net-watcher-unix",
        &["{file}", "{socket}"],
        Role::Server { protocol: Protocol::Text, transport: Transport::Unix },
        &[ATOMIC, SED, FLOOD, MISSING, STALE]
    )]
    #[case::step_3(
        "net-watcher-json-service",
        &["{file}"],
        Role::Server { protocol: Protocol::Json, transport: TCP },
        &[ATOMIC, SED, FLOOD, MISSING]
    )]
    #[case::step_4_client("net-watcher-json-client", &[], Role::Client { transport: TCP }, &[SPLIT, TWO, NOT_JSON])]
    #[case::step_6_client("net-watcher-ldj-client", &[], Role::Client { transport: TCP }, &[NO_NEWLINE, NOT_JSON])]
    fn failing_only_beyond_their_step(
        #[case] example: &str,
        #[case] args: &[&str],
        #[case] role: Role,
        #[case] failing: &[&str],
    ) {
        let program = bin(&format!("examples/{example}"));
        // Servers read `PORT` (the grader finds that out); the clients
        // are given it through `env`, so that the fake server the grader
        // runs for them never takes the book's port.
        let words = match role {
            Role::Client { .. } => {
                let mut words = vec!["env".to_owned(), "PORT={port}".to_owned()];
                words.extend(command(&program, args));
                words
            }
            Role::Server { .. } => command(&program, args),
        };
        let report = grade::grade(&Subject::new(words, role, brisk()));
        assert_eq!(report.failed(), failing, "{report}");
    }
}

/// Grades `behaviours` of `role` for the broken program of `kind`.
fn grade_broken(kind: &str, extra: &[&str], role: Role, behaviours: &[&str]) -> Report {
    let mut args = vec![kind];
    args.extend(extra);
    args.push("{file}");
    let chosen: Vec<Behaviour> = behaviours.iter().map(|start| named(role, start)).collect();
    grade::grade_only(
        &Subject::new(command(broken_server(), &args), role, brisk()),
        &chosen,
    )
}

mod fails_a_server_that {
    use super::*;
    use pretty_assertions::assert_eq;

    const GREETS: &str = "greets each subscriber";
    const ONE_PER_TOUCH: &str = "sends one \"File changed:\" line per touch";

    #[test]
    fn never_sends_the_change() {
        let role = server(Protocol::Text, Transport::Tcp);
        let report = grade_broken("never-sends", &[], role, &[GREETS, ONE_PER_TOUCH]);
        assert_passed(&report, GREETS);
        let failure = failure_of(&report, ONE_PER_TOUCH);
        assert_eq!(
            failure.expected,
            "a line \"File changed: <date>\" after touch 1 of 3"
        );
        assert!(failure.got.starts_with("nothing within"), "{report}");
    }

    #[test]
    fn sends_the_json_change_split_across_two_lines() {
        let role = server(Protocol::Json, Transport::Tcp);
        let one_object = "sends each message as one JSON object";
        let one_per_touch = "sends one \"changed\" message per touch";
        let report = grade_broken(
            "splits-json",
            &["--json"],
            role,
            &[GREETS, one_object, one_per_touch],
        );
        assert_passed(&report, GREETS);
        let failure = failure_of(&report, one_object);
        assert_eq!(
            failure.expected,
            "the change as one JSON object on one line"
        );
        assert!(
            failure
                .got
                .starts_with("the line \"{\\\"type\\\":\\\"changed\\\",\", where it is not JSON"),
            "{report}"
        );
        let failure = failure_of(&report, one_per_touch);
        assert!(failure.got.contains("it is not JSON"), "{report}");
    }

    #[test]
    fn greets_after_a_change_instead_of_before() {
        let role = server(Protocol::Text, Transport::Tcp);
        let report = grade_broken("greets-late", &[], role, &[GREETS, ONE_PER_TOUCH]);
        let failure = failure_of(&report, GREETS);
        assert!(failure.expected.starts_with("Now watching \""), "{report}");
        assert!(failure.got.starts_with("\"File changed: "), "{report}");
        let failure = failure_of(&report, ONE_PER_TOUCH);
        assert!(
            failure.expected.starts_with("the greeting first"),
            "{report}"
        );
    }

    #[test]
    fn crashes_on_a_second_subscriber() {
        let role = server(Protocol::Text, Transport::Tcp);
        let several = "tells every one of several subscribers";
        let report = grade_broken("crashes-on-second", &[], role, &[GREETS, several]);
        assert_passed(&report, GREETS);
        let failure = failure_of(&report, several);
        assert!(
            failure
                .got
                .contains("the server had exited (exit status: 1)")
                && failure
                    .got
                    .contains("a second subscriber, and down it goes"),
            "{report}"
        );
    }

    #[test]
    fn never_listens_with_a_timeout_not_a_hang() {
        let role = server(Protocol::Text, Transport::Tcp);
        let settings = Settings {
            start_timeout: Duration::from_secs(1),
            ..Settings::default()
        };
        let subject = Subject::new(
            command(broken_server(), &["never-listens", "{file}"]),
            role,
            settings,
        );
        // On a thread of its own, so that a grader that hung would fail
        // this test instead of stalling the suite.
        let (done, report) = mpsc::channel();
        thread::spawn(move || done.send(grade::grade(&subject)));
        let report = report
            .recv_timeout(PATIENCE)
            .expect("the grader returns within the suite's patience");
        let first = &report.outcomes[0].verdict;
        let Err(failure) = first else {
            panic!("expected the first behaviour to fail:\n{report}");
        };
        assert!(
            failure
                .expected
                .starts_with("it to start listening on port "),
            "{report}"
        );
        assert_eq!(failure.got, "it did not start listening within 1 s");
        assert_eq!(report.failing(), report.outcomes.len(), "{report}");
        assert!(
            report.outcomes[1..].iter().all(|outcome| outcome
                .verdict
                .as_ref()
                .is_err_and(|failure| failure.got.starts_with("not run:"))),
            "{report}"
        );
    }

    #[test]
    fn exits_before_listening() {
        let role = server(Protocol::Text, Transport::Tcp);
        let report = grade_broken("no-such-kind", &[], role, &[GREETS]);
        let failure = failure_of(&report, GREETS);
        assert_eq!(
            failure.got,
            "it exited (exit status: 2) before it listened; on stderr it said:\n  | broken-server: unknown kind \"no-such-kind\""
        );
    }

    #[test]
    fn listens_for_a_file_that_does_not_exist() {
        let role = server(Protocol::Text, Transport::Tcp);
        let missing = "refuses to start for a file that does not exist";
        let report = grade_broken("never-sends", &[], role, &[GREETS, missing]);
        let failure = failure_of(&report, missing);
        assert!(failure.got.starts_with("it listened on port "), "{report}");
        assert!(failure.got.contains("does-not-exist.txt"), "{report}");
    }

    #[test]
    fn stops_for_everyone_while_a_subscriber_never_reads() {
        // On a Unix socket: a few dozen unread lines fill it, where TCP on
        // the loopback interface buffers a megabyte (see the behaviour's
        // docs).
        let role = server(Protocol::Text, Transport::Unix);
        let silent = "keeps telling the others while one subscriber never reads";
        let report = grade_broken("blocks-on-silent", &["--unix"], role, &[GREETS, silent]);
        assert_passed(&report, GREETS);
        let failure = failure_of(&report, silent);
        assert!(
            failure
                .expected
                .contains("while another subscriber has read nothing"),
            "{report}"
        );
        assert!(failure.got.starts_with("nothing within"), "{report}");
    }
}

mod fails_a_client_that {
    use super::*;

    #[test]
    fn takes_each_read_for_a_whole_message() {
        let role = Role::Client {
            transport: Transport::Tcp,
        };
        let report = grade::grade(&Subject::new(
            command(broken_server(), &["naive-client", "{port}"]),
            role,
            brisk(),
        ));
        assert_passed(&report, "prints \"Now watching: <file>\"");
        for start in [
            "prints a message that arrives split",
            "prints both of two messages",
        ] {
            let failure = failure_of(&report, start);
            assert!(
                failure
                    .got
                    .starts_with("no such line; it exited (exit status: 1)")
                    && failure.got.contains("SyntaxError: not one JSON message"),
                "{report}"
            );
        }
    }
}

mod the_command_line {
    use super::*;

    #[test]
    fn explains_the_placeholders_in_its_help() {
        let assert = Command::new(bin("net-watcher-grade"))
            .arg("--help")
            .assert()
            .success();
        let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        for word in [
            "{file}", "{port}", "{socket}", "PORT", "--json", "--unix", "--client",
        ] {
            assert!(help.contains(word), "--help lacks {word}:\n{help}");
        }
    }

    #[test]
    fn exits_zero_and_reports_every_behaviour_passing() {
        let role = Role::Client {
            transport: Transport::Tcp,
        };
        let assert = Command::new(bin("net-watcher-grade"))
            .args(["--client", "--"])
            .arg(bin("net-watcher-client"))
            .args(["--port", "{port}"])
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        let passing = format!("  {} passing (", behaviours(role).len());
        assert!(stdout.contains(&passing), "{stdout}");
        assert!(!stdout.contains("failing"), "{stdout}");
    }

    #[test]
    fn exits_one_and_reports_each_failure() {
        let assert = Command::new(bin("net-watcher-grade"))
            .args(["--client", "--"])
            .arg(broken_server())
            .args(["naive-client", "{port}"])
            .assert()
            .code(1);
        let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        assert!(stdout.contains("  3 failing\n"), "{stdout}");
        assert!(
            stdout.contains("\n  1) the client and message boundaries (steps 5 and 6)\n"),
            "{stdout}"
        );
        assert!(
            stdout.contains("     expected: the client to print"),
            "{stdout}"
        );
    }

    #[test]
    fn runs_a_command_given_as_one_line_through_the_shell() {
        let line = format!("{} --port {{port}}", bin("net-watcher-client").display());
        Command::new(bin("net-watcher-grade"))
            .args(["--client", &line])
            .assert()
            .success();
    }
}

mod the_report {
    use super::*;
    use net_watcher::grade::Outcome;
    use pretty_assertions::assert_eq;

    #[test]
    fn reads_like_mochas_with_what_was_expected_and_what_came() {
        let report = Report {
            title: "node net-watcher.js {file} (a server speaking plain text on TCP)".to_owned(),
            outcomes: vec![
                Outcome {
                    group: "plain text (step 1)",
                    name: "greets each subscriber",
                    verdict: Ok(()),
                    took: Duration::ZERO,
                },
                Outcome {
                    group: "beyond the práctica",
                    name: "notices an atomic save",
                    verdict: Err(Failure::new("one notification", "none\nat all")),
                    took: Duration::ZERO,
                },
            ],
            took: Duration::from_millis(2500),
        };
        assert_eq!(
            report.to_string(),
            "Grading node net-watcher.js {file} (a server speaking plain text on TCP)

  plain text (step 1)
    ✓ greets each subscriber

  beyond the práctica
    ✗ 1) notices an atomic save

  1 passing (2.5s)
  1 failing

  1) beyond the práctica
     notices an atomic save:
     expected: one notification
     got:      none
               at all
"
        );
    }
}
