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
use super::subject::{Needs, Subject, grader_trouble};
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
    let bad = NOT_JSON.trim_end();
    if run.stdout.contains(bad) || run.stderr.contains(bad) {
        Ok(())
    } else {
        Err(Failure::new(
            format!("an error that quotes the line {bad:?}, on stdout or stderr"),
            format!("no mention of it{}", run.describe_output()),
        )
        .into())
    }
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
    // The port was free when it was chosen; another program may have
    // taken it since. Then another one will do.
    let mut tries = 0;
    let (scene, addresses, listeners) = loop {
        let scene = subject.prepare()?;
        let mut addresses = vec![scene.address.clone()];
        let books = subject.role().transport().books_address();
        if subject.expected_address(&scene.address) == books {
            addresses = vec![books];
        } else if subject.needs() != Needs::Nothing {
            addresses.push(books);
        }
        match Listeners::bind(&addresses) {
            Ok(listeners) => break (scene, addresses, listeners),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && tries < 5 => tries += 1,
            Err(error) => return Err(grader_trouble("a fake server for the client", &error)),
        }
    };
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
