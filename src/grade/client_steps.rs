//! The client's behaviours (steps 4 to 6, and the chapter's exercises),
//! graded against a fake LDJ server: for each behaviour the grader listens,
//! starts the client, sends it a scripted exchange, closes the connection,
//! and reads what the client printed.
//!
//! Only the lines that start as the book's client's do (`Now watching:`,
//! `File changed:`, `Unrecognized message type:`) are compared; anything
//! else a client prints is its own business. The client runs with
//! `TZ=UTC`, and a date is accepted in any format that shows the year of
//! the timestamp sent (2015).

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use super::net::{Address, Stream};
use super::subject::{Needs, Scene, Subject, grader_trouble};
use super::verdict::Failure;
use super::{Behaviour, Checked, Trial};

/// The pause between two parts of a scripted exchange: long enough for a
/// client to read the first part on its own, even on a loaded machine (the
/// book's step-5 service pauses 100 ms; a client that takes each read for
/// a message would then fail, now and then, where it should pass).
const PAUSE: Duration = Duration::from_millis(500);

const WATCHING: &str = "{\"type\":\"watching\",\"file\":\"target.txt\"}\n";
const CHANGED: &str = "{\"type\":\"changed\",\"timestamp\":1450694370094}\n";
const NOT_JSON: &str = "this is not JSON\n";

/// What the book's client prints for [`WATCHING`].
const NOW_WATCHING: &str = "Now watching: target.txt";

/// Every client behaviour, in report order.
pub(super) fn behaviours() -> Vec<Behaviour> {
    const STEP_4: &str = "the client (step 4)";
    const BOUNDARIES: &str = "the client and message boundaries (steps 5 and 6)";
    const EXERCISES: &str = "the client and the chapter's exercises (R1 to R4)";
    vec![
        Behaviour {
            id: "client-greeting-and-change",
            practica: true,
            group: STEP_4,
            name: "prints \"Now watching: <file>\", then \"File changed: <date>\"",
            check: prints_the_greeting_and_a_change,
            long: false,
        },
        Behaviour {
            group: STEP_4,
            id: "client-unknown-type",
            practica: true,
            name: "prints \"Unrecognized message type: <type>\" for a type it does not know",
            check: prints_an_unknown_type,
            long: false,
        },
        Behaviour {
            group: BOUNDARIES,
            id: "client-split",
            practica: true,
            name: "prints a message that arrives split across two reads, once",
            check: prints_a_split_message,
            long: false,
        },
        Behaviour {
            group: BOUNDARIES,
            id: "client-two-in-one-read",
            practica: true,
            name: "prints both of two messages that arrive in one read",
            check: prints_two_messages_from_one_read,
            long: false,
        },
        Behaviour {
            group: EXERCISES,
            id: "client-last-without-newline",
            practica: false,
            name: "prints a last message that has no newline when the server closes (R3, R4)",
            check: prints_a_last_message_without_newline,
            long: false,
        },
        Behaviour {
            group: EXERCISES,
            id: "client-not-json",
            practica: false,
            name: "reports a line that is not JSON, quoting it, and goes on (R1, R2)",
            check: reports_a_line_that_is_not_json,
            long: false,
        },
    ]
}

fn prints_the_greeting_and_a_change(trial: &mut Trial) -> Checked {
    let run = run_client(trial.subject, &[WATCHING, CHANGED])?;
    run.expect_lines(&[Expected::Exactly(NOW_WATCHING), Expected::ChangeIn2015])
}

fn prints_an_unknown_type(trial: &mut Trial) -> Checked {
    let run = run_client(trial.subject, &["{\"type\":\"mystery\",\"level\":3}\n"])?;
    run.expect_lines(&[Expected::Exactly("Unrecognized message type: mystery")])
}

fn prints_a_split_message(trial: &mut Trial) -> Checked {
    let (first, second) = CHANGED.split_at(26);
    let run = run_client(trial.subject, &[first, second])?;
    run.expect_lines(&[Expected::ChangeIn2015])
}

fn prints_two_messages_from_one_read(trial: &mut Trial) -> Checked {
    let run = run_client(trial.subject, &[&format!("{WATCHING}{CHANGED}")])?;
    run.expect_lines(&[Expected::Exactly(NOW_WATCHING), Expected::ChangeIn2015])
}

fn prints_a_last_message_without_newline(trial: &mut Trial) -> Checked {
    let run = run_client(trial.subject, &[CHANGED.trim_end()])?;
    run.expect_lines(&[Expected::ChangeIn2015])
}

fn reports_a_line_that_is_not_json(trial: &mut Trial) -> Checked {
    let run = run_client(trial.subject, &[&format!("{NOT_JSON}{CHANGED}")])?;
    run.expect_lines(&[Expected::ChangeIn2015])?;
    run.expect_quoted(NOT_JSON.trim_end())
}

/// A line the client must print.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// This line, exactly.
    Exactly(&'static str),
    /// `File changed: ` and a date in 2015 (the timestamp 1450694370094 is
    /// Mon Dec 21 2015 10:39:30 UTC).
    ChangeIn2015,
}

impl Expected {
    fn matches(self, line: &str) -> bool {
        match self {
            Expected::Exactly(expected) => line == expected,
            Expected::ChangeIn2015 => line
                .strip_prefix("File changed: ")
                .is_some_and(|date| date.contains("2015")),
        }
    }

    fn describe(self) -> String {
        match self {
            Expected::Exactly(line) => format!("{line:?}"),
            Expected::ChangeIn2015 => "\"File changed: <a date in 2015>\"".to_owned(),
        }
    }
}

/// What a client did in one scripted exchange.
#[derive(Debug)]
struct ClientRun {
    stdout: String,
    stderr: String,
    /// How it ended: `None` if it was still running after the patience.
    exit: Option<String>,
}

impl ClientRun {
    /// The client's lines that a book client would print, in order.
    fn message_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|line| {
                [
                    "Now watching:",
                    "File changed:",
                    "Unrecognized message type:",
                ]
                .iter()
                .any(|start| line.starts_with(start))
            })
            .collect()
    }

    /// Checks that the client printed `expected` and nothing else of the
    /// book's kind, then exited.
    fn expect_lines(&self, expected: &[Expected]) -> Checked {
        let printed = self.message_lines();
        let wanted = expected
            .iter()
            .map(|line| line.describe())
            .collect::<Vec<_>>()
            .join(", then ");
        let matches = printed.len() == expected.len()
            && printed
                .iter()
                .zip(expected)
                .all(|(line, expected)| expected.matches(line));
        if !matches {
            return Err(Failure::new(
                format!("the client to print {wanted}"),
                format!(
                    "{}{}",
                    if printed.is_empty() {
                        "no such line".to_owned()
                    } else {
                        printed
                            .iter()
                            .map(|line| format!("{line:?}"))
                            .collect::<Vec<_>>()
                            .join(", then ")
                    },
                    self.describe_output()
                ),
            )
            .into());
        }
        match &self.exit {
            Some(_) => Ok(()),
            None => Err(Failure::new(
                "the client to exit when the server closes the connection",
                "it was still running",
            )
            .into()),
        }
    }

    /// Checks that the client quoted `bad`, on stdout or stderr.
    fn expect_quoted(&self, bad: &str) -> Checked {
        if self.stdout.contains(bad) || self.stderr.contains(bad) {
            Ok(())
        } else {
            Err(Failure::new(
                format!("an error that quotes the line {bad:?}, on stdout or stderr"),
                format!("no mention of it{}", self.describe_output()),
            )
            .into())
        }
    }

    /// How it exited and what it said on stderr, for a failure.
    fn describe_output(&self) -> String {
        let mut described = match &self.exit {
            Some(status) => format!("; it exited ({status})"),
            None => "; it was still running".to_owned(),
        };
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|line| line.to_lowercase().contains("error"))
            .take(2)
            .collect();
        if !errors.is_empty() {
            described.push_str(", saying on stderr:");
            for line in errors {
                described.push_str(&format!("\n  | {}", line.trim()));
            }
        }
        described
    }
}

/// Listens where the client will connect, starts it, plays `parts` to it
/// a pause apart, closes, and waits for it to exit.
fn run_client(subject: &Subject, parts: &[&str]) -> Result<ClientRun, Failure> {
    let settings = subject.settings();
    let (scene, addresses, listeners) = listen_for(subject, Listeners::bind)?;
    let mut client = subject.spawn(&scene.file, &scene.address)?;
    let started = Instant::now();
    let mut connection = loop {
        if let Some((connection, to_the_books)) = listeners
            .accept()
            .map_err(|error| grader_trouble("a connection from the client", &error))?
        {
            subject.mark_connected_to(to_the_books);
            break connection;
        }
        let expected = format!(
            "the client to connect to {} within {} s",
            addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            settings.start_timeout.as_secs_f64()
        );
        if let Some(status) = client.exited() {
            client.wait_for_exit(settings.patience);
            return Err(Failure::new(
                expected,
                format!("it exited ({status}) without connecting{}", client.output()),
            ));
        }
        if started.elapsed() >= settings.start_timeout {
            return Err(Failure::new(
                expected,
                format!("it did not connect{}", client.output()),
            ));
        }
        // A listener cannot wait for a connection and for a process's exit
        // at once without more machinery; asking every few milliseconds is
        // the signal.
        thread::sleep(Duration::from_millis(5));
    };
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            thread::sleep(PAUSE);
        }
        // A client that already crashed cannot take the rest: what it
        // printed says why.
        if connection.write_all(part.as_bytes()).is_err() {
            break;
        }
    }
    connection.close();
    let exit = client
        .wait_for_exit(settings.patience)
        .map(|status| status.to_string());
    client.stop();
    Ok(ClientRun {
        stdout: client.stdout(),
        stderr: client.stderr(),
        exit,
    })
}

/// A fresh scene for `subject`, and the fake server listening (with
/// `bind`) where its client may connect: the scene's address, and the
/// book's too while the client may ignore `PORT`; only the book's once it
/// has shown that it does.
fn listen_for(
    subject: &Subject,
    bind: impl Fn(&[Address]) -> io::Result<Listeners>,
) -> Result<(Scene, Vec<Address>, Listeners), Failure> {
    // The port was free when it was chosen; another program may have
    // taken it since. Then another one will do.
    let mut tries = 0;
    loop {
        let scene = subject.prepare()?;
        let mut addresses = vec![scene.address.clone()];
        let books = subject.role().transport().books_address();
        if subject.expected_address(&scene.address) == books {
            addresses = vec![books];
        } else if subject.needs() != Needs::Nothing {
            addresses.push(books);
        }
        match bind(&addresses) {
            Ok(listeners) => return Ok((scene, addresses, listeners)),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && tries < 5 => tries += 1,
            Err(error) => return Err(grader_trouble("a fake server for the client", &error)),
        }
    }
}

/// The fake server's listening sockets, polled without blocking.
/// Each with whether it is on the book's address (not the first given).
struct Listeners {
    tcp: Vec<(TcpListener, bool)>,
    unix: Vec<(UnixListener, PathBuf, bool)>,
}

impl Listeners {
    /// Listens on each address it can: both loopback addresses for a port,
    /// since a client may connect to either for `localhost`. The book's
    /// address is skipped if something else has it.
    fn bind(addresses: &[Address]) -> io::Result<Listeners> {
        let mut listeners = Listeners {
            tcp: Vec::new(),
            unix: Vec::new(),
        };
        for (index, address) in addresses.iter().enumerate() {
            let books = index > 0;
            let bound = match address {
                Address::Tcp(port) => {
                    let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, *port));
                    if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, *port)) {
                        v6.set_nonblocking(true)?;
                        listeners.tcp.push((v6, books));
                    }
                    v4.and_then(|v4| {
                        v4.set_nonblocking(true)?;
                        listeners.tcp.push((v4, books));
                        Ok(())
                    })
                }
                Address::Unix(path) => UnixListener::bind(path).and_then(|listener| {
                    listener.set_nonblocking(true)?;
                    listeners.unix.push((listener, path.clone(), books));
                    Ok(())
                }),
            };
            // Only the grader's own address must be had.
            if index == 0 {
                bound?;
            }
        }
        Ok(listeners)
    }

    /// A connection, if one is waiting, and whether it came to the book's
    /// address.
    fn accept(&self) -> io::Result<Option<(Stream, bool)>> {
        for (listener, books) in &self.tcp {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    return Ok(Some((Stream::Tcp(stream), *books)));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        for (listener, _, books) in &self.unix {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    return Ok(Some((Stream::Unix(stream), *books)));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for (_, path, _) in &self.unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::grade::net::{Transport, free_port};
    use crate::grade::verdict::{Stop, Verdict};
    use crate::grade::{Role, Settings, grade_only};
    use pretty_assertions::assert_eq;

    fn run(stdout: &str, stderr: &str, exit: Option<&str>) -> ClientRun {
        ClientRun {
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
            exit: exit.map(str::to_owned),
        }
    }

    /// The failure a check stopped with; panics on anything else.
    fn failure(checked: Checked) -> Failure {
        match checked {
            Err(Stop::Fail(failure)) => failure,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn an_expected_line_is_the_books_line_or_a_change_in_2015() {
        assert!(Expected::Exactly("Now watching: a").matches("Now watching: a"));
        assert!(!Expected::Exactly("Now watching: a").matches("Now watching: b"));
        assert!(Expected::ChangeIn2015.matches("File changed: Mon Dec 21 2015 10:39:30"));
        assert!(!Expected::ChangeIn2015.matches("File changed: Thu Jan 01 1970"));
        assert!(!Expected::ChangeIn2015.matches("Changed: 2015"));
        assert_eq!(Expected::Exactly("x").describe(), "\"x\"");
        assert_eq!(
            Expected::ChangeIn2015.describe(),
            "\"File changed: <a date in 2015>\""
        );
    }

    #[test]
    fn only_the_books_kinds_of_line_are_compared() {
        let printed = run(
            "Connected.\nNow watching: t\nnoise\nFile changed: x\nUnrecognized message type: y\n",
            "",
            None,
        );
        assert_eq!(
            printed.message_lines(),
            [
                "Now watching: t",
                "File changed: x",
                "Unrecognized message type: y"
            ]
        );
    }

    #[test]
    fn the_lines_must_be_those_expected_in_order_and_the_client_must_exit() {
        let expected = [Expected::Exactly(NOW_WATCHING), Expected::ChangeIn2015];
        let good = run(
            "Now watching: target.txt\nFile changed: 2015\n",
            "",
            Some("exit status: 0"),
        );
        assert_eq!(good.expect_lines(&expected), Ok(()));
        let wanted = "the client to print \"Now watching: target.txt\", then \"File changed: <a date in 2015>\"";
        assert_eq!(
            failure(run("", "", Some("exit status: 0")).expect_lines(&expected)),
            Failure::new(wanted, "no such line; it exited (exit status: 0)")
        );
        assert_eq!(
            failure(
                run("File changed: 2015\nNow watching: target.txt\n", "", None)
                    .expect_lines(&expected)
            ),
            Failure::new(
                wanted,
                "\"File changed: 2015\", then \"Now watching: target.txt\"; it was still running"
            )
        );
        assert_eq!(
            failure(run("Now watching: target.txt\n", "", Some("x")).expect_lines(&expected)).got,
            "\"Now watching: target.txt\"; it exited (x)"
        );
        assert_eq!(
            failure(
                run("Now watching: target.txt\nFile changed: 2015\n", "", None)
                    .expect_lines(&expected)
            ),
            Failure::new(
                "the client to exit when the server closes the connection",
                "it was still running"
            )
        );
    }

    #[test]
    fn a_failure_says_how_the_client_ended_and_its_first_errors() {
        let stderr = "a warning\nSyntaxError: one \nTypeError: two\nerror three\n";
        assert_eq!(
            run("", stderr, Some("exit status: 1")).describe_output(),
            "; it exited (exit status: 1), saying on stderr:\n  | SyntaxError: one\n  | TypeError: two"
        );
        assert_eq!(
            run("", "ERROR here", None).describe_output(),
            "; it was still running, saying on stderr:\n  | ERROR here"
        );
        assert_eq!(
            run("", "fine", None).describe_output(),
            "; it was still running"
        );
    }

    #[test]
    fn a_line_that_is_not_json_must_be_quoted_on_stdout_or_stderr() {
        assert_eq!(run("bad: x y", "", None).expect_quoted("x y"), Ok(()));
        assert_eq!(run("", "bad: x y", None).expect_quoted("x y"), Ok(()));
        assert_eq!(
            failure(run("x", "y", Some("exit status: 0")).expect_quoted("x y")),
            Failure::new(
                "an error that quotes the line \"x y\", on stdout or stderr",
                "no mention of it; it exited (exit status: 0)"
            )
        );
    }

    #[test]
    fn the_fake_server_takes_connections_on_both_loopbacks_and_says_which_address() {
        let ours = free_port();
        let books = free_port();
        let listeners = Listeners::bind(&[Address::Tcp(ours), Address::Tcp(books)]).unwrap();
        assert!(listeners.accept().unwrap().is_none());
        let _v4 = TcpStream::connect((Ipv4Addr::LOCALHOST, ours)).unwrap();
        let (_, to_the_books) = listeners.accept().unwrap().expect("a connection");
        assert!(!to_the_books);
        let _v6 = TcpStream::connect((Ipv6Addr::LOCALHOST, books)).unwrap();
        let (_, to_the_books) = listeners.accept().unwrap().expect("a connection");
        assert!(to_the_books);
        assert!(listeners.accept().unwrap().is_none());
    }

    #[test]
    fn the_fake_server_must_have_its_own_address_not_the_books() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let refused = Listeners::bind(&[Address::Tcp(port)]).err().expect("taken");
        assert_eq!(refused.kind(), io::ErrorKind::AddrInUse);
        let ours = free_port();
        let listeners = Listeners::bind(&[Address::Tcp(ours), Address::Tcp(port)]).unwrap();
        let _client = TcpStream::connect((Ipv4Addr::LOCALHOST, ours)).unwrap();
        assert!(listeners.accept().unwrap().is_some());
    }

    #[test]
    fn the_fake_server_on_a_unix_socket_removes_its_file_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let other = dir.path().join("books.sock");
        let listeners =
            Listeners::bind(&[Address::Unix(path.clone()), Address::Unix(other.clone())]).unwrap();
        assert!(listeners.accept().unwrap().is_none());
        let _client = UnixStream::connect(&other).unwrap();
        let (stream, to_the_books) = listeners.accept().unwrap().expect("a connection");
        assert!(to_the_books);
        assert!(matches!(stream, Stream::Unix(_)));
        let _client = UnixStream::connect(&path).unwrap();
        assert!(!listeners.accept().unwrap().expect("a connection").1);
        drop(listeners);
        assert!(!path.exists() && !other.exists());
    }

    /// A client in Python, as a student would write step 4's: it connects
    /// to `PORT`, frames lines, and prints what the book's client prints.
    const A_GOOD_CLIENT: &str = r#"
import json, os, socket, sys, time
connection = socket.create_connection(("localhost", int(os.environ["PORT"])))
def show(line):
    try:
        message = json.loads(line)
    except ValueError:
        print("Not JSON: " + line.decode(), file=sys.stderr)
        return
    if message["type"] == "watching":
        print("Now watching: " + message["file"])
    elif message["type"] == "changed":
        print("File changed: " + time.asctime(time.gmtime(message["timestamp"] / 1000)))
    else:
        print("Unrecognized message type: " + message["type"])
pending = b""
while True:
    chunk = connection.recv(4096)
    if not chunk:
        break
    pending += chunk
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        show(line)
if pending:
    show(pending)
"#;

    /// A client that connects, reads to the end, and prints nothing.
    const A_MUTE_CLIENT: &str = r#"
import os, socket
connection = socket.create_connection(("localhost", int(os.environ["PORT"])))
while connection.recv(4096):
    pass
"#;

    fn python(script: &str, settings: Settings) -> Subject {
        Subject::new(
            vec!["python3".into(), "-c".into(), script.into()],
            Role::Client {
                transport: Transport::Tcp,
            },
            settings,
        )
    }

    fn settings(root: &tempfile::TempDir) -> Settings {
        Settings {
            temp_root: root.path().to_path_buf(),
            jobs: 6,
            ..Settings::default()
        }
    }

    #[test]
    fn a_client_that_frames_its_lines_passes_every_behaviour() {
        let root = tempfile::tempdir().unwrap();
        let report = grade_only(&python(A_GOOD_CLIENT, settings(&root)), &behaviours());
        for outcome in &report.outcomes {
            assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.id);
        }
        assert_eq!(report.outcomes.len(), 6);
        assert!(report.reached);
    }

    #[test]
    fn a_client_that_prints_nothing_fails_every_behaviour_saying_what_it_expected() {
        let root = tempfile::tempdir().unwrap();
        let report = grade_only(&python(A_MUTE_CLIENT, settings(&root)), &behaviours());
        let expected: Vec<(&str, String)> = report
            .outcomes
            .iter()
            .map(|outcome| match &outcome.verdict {
                Verdict::Fail(failure) => {
                    assert_eq!(failure.got, "no such line; it exited (exit status: 0)");
                    (outcome.id, failure.expected.clone())
                }
                other => panic!("{}: {other:?}", outcome.id),
            })
            .collect();
        let change = "\"File changed: <a date in 2015>\"";
        assert_eq!(
            expected,
            [
                (
                    "client-greeting-and-change",
                    format!("the client to print \"{NOW_WATCHING}\", then {change}")
                ),
                (
                    "client-unknown-type",
                    "the client to print \"Unrecognized message type: mystery\"".to_owned()
                ),
                ("client-split", format!("the client to print {change}")),
                (
                    "client-two-in-one-read",
                    format!("the client to print \"{NOW_WATCHING}\", then {change}")
                ),
                (
                    "client-last-without-newline",
                    format!("the client to print {change}")
                ),
                ("client-not-json", format!("the client to print {change}")),
            ]
        );
    }

    fn sh(line: &str, settings: Settings) -> Subject {
        Subject::new(
            vec!["sh".into(), "-c".into(), line.into()],
            Role::Client {
                transport: Transport::Tcp,
            },
            settings,
        )
    }

    #[test]
    fn a_client_that_exits_without_connecting_is_told_what_it_said() {
        let root = tempfile::tempdir().unwrap();
        let client = sh("echo oops >&2; exit 3", settings(&root));
        let failure = run_client(&client, &[CHANGED]).unwrap_err();
        assert!(
            failure
                .expected
                .starts_with("the client to connect to port "),
            "{failure}"
        );
        assert!(failure.expected.ends_with(" within 10 s"), "{failure}");
        assert_eq!(
            failure.got,
            "it exited (exit status: 3) without connecting; on stderr it said:\n  | oops"
        );
        assert!(!client.was_reached());
    }

    #[test]
    fn a_client_that_never_connects_is_given_up_on_at_the_start_timeout() {
        let root = tempfile::tempdir().unwrap();
        let client = sh(
            "echo waiting; exec sleep 30",
            Settings {
                start_timeout: Duration::from_millis(300),
                ..settings(&root)
            },
        );
        let started = Instant::now();
        let failure = run_client(&client, &[CHANGED]).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(failure.expected.ends_with(" within 0.3 s"), "{failure}");
        assert_eq!(
            failure.got,
            "it did not connect; on stdout it said:\n  | waiting"
        );
    }

    /// A fake `Listeners::bind` that fails with `kind` `failures` times,
    /// then listens nowhere; it counts its calls and keeps the addresses.
    fn binding(
        kind: io::ErrorKind,
        failures: usize,
        calls: &std::cell::RefCell<Vec<Vec<Address>>>,
    ) -> impl Fn(&[Address]) -> io::Result<Listeners> + '_ {
        move |addresses| {
            let mut calls = calls.borrow_mut();
            calls.push(addresses.to_vec());
            assert!(calls.len() <= 10, "bound again and again");
            if calls.len() <= failures {
                Err(io::Error::from(kind))
            } else {
                Ok(Listeners {
                    tcp: Vec::new(),
                    unix: Vec::new(),
                })
            }
        }
    }

    #[test]
    fn a_port_taken_meanwhile_is_replaced_five_times_at_most() {
        let root = tempfile::tempdir().unwrap();
        let client = sh("c {port}", settings(&root));
        let calls = std::cell::RefCell::default();
        let (scene, addresses, _) =
            listen_for(&client, binding(io::ErrorKind::AddrInUse, 5, &calls)).unwrap();
        assert_eq!(calls.borrow().len(), 6);
        assert_eq!(addresses, std::slice::from_ref(&scene.address));
        assert_eq!(calls.borrow()[5], addresses);
        let calls = std::cell::RefCell::default();
        let failure = listen_for(&client, binding(io::ErrorKind::AddrInUse, 6, &calls))
            .err()
            .expect("a failure");
        assert_eq!(calls.borrow().len(), 6);
        assert_eq!(
            failure.expected,
            "the grader to prepare a fake server for the client"
        );
        let calls = std::cell::RefCell::default();
        let failure = listen_for(&client, binding(io::ErrorKind::PermissionDenied, 1, &calls))
            .err()
            .expect("a failure");
        assert_eq!(calls.borrow().len(), 1);
        assert!(failure.got.starts_with("it could not: "), "{failure}");
    }

    #[test]
    fn the_fake_server_listens_on_the_books_address_too_while_the_client_may_ignore_port() {
        let root = tempfile::tempdir().unwrap();
        let calls = std::cell::RefCell::default();
        let books = Address::Tcp(crate::server::DEFAULT_PORT);
        let ignoring = sh("c", settings(&root));
        let (scene, addresses, _) =
            listen_for(&ignoring, binding(io::ErrorKind::AddrInUse, 0, &calls)).unwrap();
        assert_eq!(addresses, [scene.address.clone(), books.clone()]);
        ignoring.mark_connected_to(true);
        let (_, addresses, _) =
            listen_for(&ignoring, binding(io::ErrorKind::AddrInUse, 0, &calls)).unwrap();
        assert_eq!(addresses, [books]);
        let told = sh("c", settings(&root));
        told.mark_connected_to(false);
        let (scene, addresses, _) =
            listen_for(&told, binding(io::ErrorKind::AddrInUse, 0, &calls)).unwrap();
        assert_eq!(addresses, [scene.address]);
    }

    /// A client that takes each read for a whole message, as step 4's
    /// first version does before step 6 fixes it.
    const A_NAIVE_CLIENT: &str = r#"
import json, os, socket, time
connection = socket.create_connection(("localhost", int(os.environ["PORT"])))
while True:
    chunk = connection.recv(4096)
    if not chunk:
        break
    message = json.loads(chunk)
    if message["type"] == "changed":
        print("File changed: " + time.asctime(time.gmtime(message["timestamp"] / 1000)))
"#;

    #[test]
    fn a_client_that_takes_each_read_for_a_message_fails_on_a_split_one() {
        let root = tempfile::tempdir().unwrap();
        let split = behaviours()
            .into_iter()
            .filter(|behaviour| behaviour.id == "client-split")
            .collect::<Vec<_>>();
        let report = grade_only(&python(A_NAIVE_CLIENT, settings(&root)), &split);
        let Verdict::Fail(failure) = &report.outcomes[0].verdict else {
            panic!("{report:?}");
        };
        assert!(
            failure
                .got
                .starts_with("no such line; it exited (exit status: 1), saying on stderr:"),
            "{failure}"
        );
    }
}
