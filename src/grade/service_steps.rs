//! The fake service's behaviours (step 5): a service that sends each
//! subscriber one `changed` message in two parts, a pause apart, so that
//! a client which takes each read for a whole message is caught.
//!
//! The grader reads the service's bytes as they come, with the time each
//! read brought them: from outside, a pause between two writes is all
//! that tells them apart. A message that arrives in one read is read once
//! more, on a new connection, before the behaviour fails: a reader that
//! was slow to wake could have found both parts waiting.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::net::Address;
use super::subscriber::{MAX_LINE, Silence, Subscriber};
use super::verdict::Failure;
use super::{Behaviour, Checked, Trial};

/// The group of the fake service's behaviours.
const STEP_5: &str = "the fake service (step 5)";

/// The shortest pause between the parts that counts as one (the book's
/// service pauses 100 ms).
const PAUSE: Duration = Duration::from_millis(50);

/// Every behaviour of a fake service, in report order.
pub(super) fn behaviours() -> Vec<Behaviour> {
    let step = |id, name, check| Behaviour {
        id,
        group: STEP_5,
        name,
        practica: true,
        check,
        long: false,
    };
    vec![
        step(
            "service-split",
            "sends its \"changed\" message in two writes or more, a pause apart",
            sends_the_message_in_parts,
        ),
        step(
            "service-message",
            "sends a whole, valid \"changed\" message once the parts are joined",
            the_joined_message_is_valid,
        ),
        step(
            "service-every-subscriber",
            "does so for each subscriber, then closes the connection",
            does_so_for_each_subscriber,
        ),
    ]
}

/// What a subscriber received: each read's bytes and when they came, up
/// to the end of the first line that is not a greeting (what came after
/// it is left to be read).
#[derive(Debug, Default)]
struct Received {
    reads: Vec<(Instant, Vec<u8>)>,
    /// The message: the first whole line after any greeting.
    message: Option<String>,
    /// Where the message's bytes began: which read, and where in it.
    message_starts: (usize, usize),
    /// How reading ended, if before a whole message.
    ending: Option<Silence>,
}

impl Received {
    /// Reads from `subscriber` until a whole line that is not a greeting
    /// has come, or `patience` has passed, or the service closed.
    fn from(subscriber: &mut Subscriber, patience: Duration) -> Received {
        let deadline = Instant::now() + patience;
        let mut received = Received::default();
        let mut joined: Vec<u8> = Vec::new();
        let mut line_start = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                received.ending = Some(Silence::Nothing {
                    waited: patience,
                    partial: String::from_utf8_lossy(&joined[line_start..]).into_owned(),
                });
                return received;
            }
            match subscriber.read_chunk(left) {
                Ok(Some(chunk)) => {
                    received.reads.push((Instant::now(), chunk.clone()));
                    joined.extend_from_slice(&chunk);
                    // A service that never ends its line (or sends
                    // greetings without end) is not kept in memory beyond
                    // a long line's worth, as a subscriber's lines are not.
                    if joined.len() > MAX_LINE {
                        received.ending = Some(Silence::TooLong);
                        return received;
                    }
                }
                Ok(None) => continue,
                Err(silence) => {
                    let partial = String::from_utf8_lossy(&joined[line_start..]).into_owned();
                    received.ending = Some(match silence {
                        Silence::Closed { .. } => Silence::Closed { partial },
                        other => other,
                    });
                    return received;
                }
            }
            while let Some(end) = joined[line_start..].iter().position(|byte| *byte == b'\n') {
                let line =
                    String::from_utf8_lossy(&joined[line_start..line_start + end]).into_owned();
                if super::wire::is_greeting(&line) {
                    line_start += end + 1;
                    continue;
                }
                received.message_starts = received.locate(line_start);
                received.message = Some(line);
                // What came after the message in the same read is the
                // next reader's (more than the message is a failure).
                subscriber.unread(&joined[line_start + end + 1..]);
                return received;
            }
        }
    }

    /// Which read holds byte `at` of all received, and where in it.
    fn locate(&self, mut at: usize) -> (usize, usize) {
        for (index, (_, bytes)) in self.reads.iter().enumerate() {
            if at < bytes.len() {
                return (index, at);
            }
            at -= bytes.len();
        }
        (self.reads.len(), 0)
    }

    /// How the message was split: the number of reads it came in, and
    /// the time from its first part to its last.
    fn split(&self) -> (usize, Duration) {
        let (first, _) = self.message_starts;
        let last = self.reads.len().saturating_sub(1);
        if self.reads.is_empty() || first > last {
            return (0, Duration::ZERO);
        }
        (last - first + 1, self.reads[last].0 - self.reads[first].0)
    }

    /// Why the message does not count as split, twice (said after a
    /// second connection came to the same): `None` if it came in two reads
    /// or more, the last at least [`PAUSE`] after the first.
    fn not_split(&self) -> Option<String> {
        let (reads, gap) = self.split();
        if reads < 2 {
            Some(format!(
                "{}, whole in one read, twice: a client that takes each read for a message still works, so this service tests nothing",
                self.described()
            ))
        } else if gap < PAUSE {
            Some(format!(
                "{}, in {reads} reads only {} ms apart, twice",
                self.described(),
                gap.as_millis()
            ))
        } else {
            None
        }
    }

    /// What came, for a failure: the message, or why none.
    fn described(&self) -> String {
        match (&self.message, &self.ending) {
            (Some(message), _) => format!("{message:?}"),
            (None, Some(silence)) => silence.to_string(),
            (None, None) => "nothing".to_owned(),
        }
    }
}

/// What is wrong with `line` as step 5's message: one JSON object, type
/// `changed`, a whole number for a timestamp (any time: the book's is
/// from 2015).
fn message_problem(line: &str) -> Option<String> {
    let object = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Some("it is JSON, but not an object".to_owned()),
        Err(error) => return Some(format!("it is not JSON ({error})")),
    };
    if object.get("type") != Some(&Value::from("changed")) {
        return Some("its \"type\" is not \"changed\"".to_owned());
    }
    match object.get("timestamp") {
        Some(Value::Number(number)) if number.is_u64() => None,
        Some(other) => Some(format!(
            "its \"timestamp\" is {other}, not a whole number of milliseconds"
        )),
        None => Some("it has no \"timestamp\"".to_owned()),
    }
}

/// Connects to the service at `address` (or takes the grader's first
/// connection) and receives.
fn receive(
    trial: &Trial,
    subscriber: Option<Subscriber>,
    address: &Address,
) -> Result<Received, Failure> {
    let patience = trial.subject.settings().patience;
    let mut subscriber = match subscriber {
        Some(subscriber) => subscriber,
        None => address
            .connect()
            .map(|stream| Subscriber::new(stream, patience))
            .map_err(|error| {
                Failure::new(
                    format!("the service to accept a subscriber on {address}"),
                    format!("the connection failed: {error}"),
                )
            })?,
    };
    Ok(Received::from(&mut subscriber, patience))
}

/// The first connection's message, for the first behaviour of each.
fn first_message(trial: &mut Trial) -> Result<(super::subject::Server, Received), super::Stop> {
    let mut server = trial.subject.start()?;
    let (subscriber, _) = server.first(trial.subject)?;
    let address = server.address.clone();
    let received = receive(trial, Some(subscriber), &address)?;
    Ok((server, received))
}

const EXPECTED_MESSAGE: &str = "a \"changed\" message on a line of its own, such as {\"type\":\"changed\",\"timestamp\":1450694370094}";

fn sends_the_message_in_parts(trial: &mut Trial) -> Checked {
    let expected = "the message in two reads or more, the last at least 50 ms after the first (the book's service pauses 100 ms between its two writes)";
    let (mut server, mut received) = first_message(trial)?;
    for attempt in 0..2 {
        if received.message.is_none() {
            return Err(Failure::new(
                expected,
                format!("{}{}", received.described(), server.exit_note()),
            )
            .into());
        }
        let Some(got) = received.not_split() else {
            return Ok(());
        };
        if attempt == 0 {
            received = receive(trial, None, &server.address.clone())?;
            continue;
        }
        return Err(Failure::new(expected, got).into());
    }
    Ok(())
}

fn the_joined_message_is_valid(trial: &mut Trial) -> Checked {
    let (mut server, received) = first_message(trial)?;
    let Some(message) = &received.message else {
        return Err(Failure::new(
            EXPECTED_MESSAGE,
            format!("{}{}", received.described(), server.exit_note()),
        )
        .into());
    };
    match message_problem(message) {
        None => Ok(()),
        Some(problem) => {
            Err(Failure::new(EXPECTED_MESSAGE, format!("{message:?}: {problem}")).into())
        }
    }
}

fn does_so_for_each_subscriber(trial: &mut Trial) -> Checked {
    let mut server = trial.subject.start()?;
    let (first, _) = server.first(trial.subject)?;
    let address = server.address.clone();
    let second = server.connect(trial.subject.settings().patience)?;
    let patience = trial.subject.settings().patience;
    for (number, mut subscriber) in [(1, first), (2, second)] {
        let received = Received::from(&mut subscriber, patience);
        if received.message.is_none() {
            return Err(Failure::new(
                format!("{EXPECTED_MESSAGE}, for subscriber {number} of 2"),
                format!("{}{}", received.described(), server.exit_note()),
            )
            .into());
        }
        match subscriber.next_within(patience) {
            Err(Silence::Closed { partial }) if partial.is_empty() => {}
            other => {
                let got = match other {
                    Ok(line) => format!("then {line:?}"),
                    Err(silence) => format!("then {silence}"),
                };
                return Err(Failure::new(
                    format!("the service to close subscriber {number}'s connection after the message, on {address}"),
                    got,
                )
                .into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_5s_message_is_a_changed_object_with_a_whole_timestamp() {
        assert_eq!(
            message_problem("{\"type\":\"changed\",\"timestamp\":1450694370094}"),
            None
        );
        assert_eq!(
            message_problem("{\"type\":\"changed\",\"timestamp\":1,\"x\":2}"),
            None
        );
        assert_eq!(
            message_problem("[]").as_deref(),
            Some("it is JSON, but not an object")
        );
        assert!(
            message_problem("{\"type\":\"changed\",\"timesta")
                .unwrap()
                .starts_with("it is not JSON (")
        );
        assert_eq!(
            message_problem("{\"type\":\"watching\"}").as_deref(),
            Some("its \"type\" is not \"changed\"")
        );
        assert_eq!(
            message_problem("{\"type\":\"changed\",\"timestamp\":1.5}").as_deref(),
            Some("its \"timestamp\" is 1.5, not a whole number of milliseconds")
        );
        assert_eq!(
            message_problem("{\"type\":\"changed\",\"timestamp\":\"1\"}").as_deref(),
            Some("its \"timestamp\" is \"1\", not a whole number of milliseconds")
        );
        assert_eq!(
            message_problem("{\"type\":\"changed\"}").as_deref(),
            Some("it has no \"timestamp\"")
        );
    }

    fn received(reads: &[(u64, &str)]) -> Received {
        let start = Instant::now();
        let mut received = Received {
            reads: reads
                .iter()
                .map(|(ms, bytes)| {
                    (
                        start + Duration::from_millis(*ms),
                        bytes.as_bytes().to_vec(),
                    )
                })
                .collect(),
            ..Received::default()
        };
        received.message = Some("m".to_owned());
        received
    }

    #[test]
    fn the_split_is_counted_from_the_messages_first_read() {
        let mut split = received(&[(0, "{\"ty"), (100, "pe\"}\n")]);
        assert_eq!(split.split(), (2, Duration::from_millis(100)));
        split.message_starts = split.locate(4);
        assert_eq!(split.message_starts, (1, 0));
        assert_eq!(split.split(), (1, Duration::ZERO));
        let greeted = received(&[(0, "hello\n{"), (30, "x"), (90, "}\n")]);
        assert_eq!(greeted.locate(6), (0, 6));
        assert_eq!(greeted.locate(7), (1, 0));
        assert_eq!(greeted.locate(9), (2, 1));
        assert_eq!(greeted.locate(99), (3, 0));
        assert_eq!(Received::default().split(), (0, Duration::ZERO));
    }

    #[test]
    fn what_came_is_described() {
        assert_eq!(received(&[]).described(), "\"m\"");
        let closed = Received {
            ending: Some(Silence::Closed {
                partial: "{".into(),
            }),
            ..Received::default()
        };
        assert_eq!(
            closed.described(),
            "the server closed the connection after an unfinished line: \"{\""
        );
        assert_eq!(Received::default().described(), "nothing");
    }

    #[test]
    fn a_service_is_read_up_to_its_first_line_after_a_greeting() {
        use std::io::Write;
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut subscriber = Subscriber::new(
            super::super::net::Stream::Unix(ours),
            Duration::from_secs(5),
        );
        theirs
            .write_all(b"{\"type\":\"watching\",\"file\":\"x\"}\n{\"type\":\"ch")
            .unwrap();
        let writer = std::thread::spawn(move || {
            // The rest comes later, so that the first part is read alone:
            // a message split across reads is what is tested.
            std::thread::sleep(Duration::from_millis(60));
            theirs.write_all(b"anged\",\"timestamp\":1}\nmore").unwrap();
            theirs
        });
        let received = Received::from(&mut subscriber, Duration::from_secs(5));
        let theirs = writer.join().unwrap();
        assert_eq!(
            received.message.as_deref(),
            Some("{\"type\":\"changed\",\"timestamp\":1}")
        );
        let (reads, gap) = received.split();
        assert_eq!(reads, 2);
        assert!(gap >= Duration::from_millis(50), "{gap:?}");
        drop(theirs);
        // The end comes at once; the bound is for a loaded machine, where
        // 50 ms was seen to be too short.
        let nothing = Received::from(&mut subscriber, Duration::from_secs(5));
        assert_eq!(nothing.message, None);
        assert_eq!(
            nothing.ending,
            Some(Silence::Closed {
                partial: "more".into()
            }),
            "what came after the message is left to be read"
        );
    }

    #[test]
    fn what_is_read_may_reach_a_long_lines_length_but_not_pass_it() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut subscriber = Subscriber::new(
            super::super::net::Stream::Unix(ours),
            Duration::from_secs(5),
        );
        // Bytes already read come first, whole: the limit meets exactly
        // the lengths given here, however the OS would have cut them.
        let mut longest = vec![b'x'; MAX_LINE - 1];
        longest.push(b'\n');
        subscriber.unread(&longest);
        let received = Received::from(&mut subscriber, Duration::from_secs(1));
        assert_eq!(
            received.message.map(|message| message.len()),
            Some(MAX_LINE - 1),
            "ended {:?}",
            received.ending
        );
        subscriber.unread(&vec![b'x'; MAX_LINE + 1]);
        let received = Received::from(&mut subscriber, Duration::from_secs(1));
        assert!(
            matches!(received.ending, Some(Silence::TooLong)),
            "ended {:?}",
            received.ending
        );
        drop(theirs);
    }

    #[test]
    fn a_service_that_never_ends_its_line_is_read_no_further_than_a_long_line() {
        use std::io::Write;
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut subscriber = Subscriber::new(
            super::super::net::Stream::Unix(ours),
            Duration::from_secs(5),
        );
        // Twice the longest line, with no end: the write only returns
        // once most of it has been read.
        let writer = std::thread::spawn(move || {
            let _ = theirs.write_all(&vec![b'x'; 2 * MAX_LINE]);
            theirs
        });
        let received = Received::from(&mut subscriber, Duration::from_secs(60));
        drop(subscriber);
        drop(writer.join().unwrap());
        // Compared by kind: a wrong ending would hold the whole partial line.
        assert!(
            matches!(received.ending, Some(Silence::TooLong)),
            "ended otherwise, after {} reads",
            received.reads.len()
        );
        assert_eq!(received.message, None);
        let kept: usize = received.reads.iter().map(|(_, bytes)| bytes.len()).sum();
        assert!(kept <= MAX_LINE + 4096, "{kept} bytes kept");
    }

    #[test]
    fn a_message_is_split_in_two_reads_or_more_a_pause_apart() {
        assert_eq!(received(&[(0, "{\"ty"), (50, "pe\"}\n")]).not_split(), None);
        assert_eq!(
            received(&[(0, "{"), (10, "\"ty"), (60, "pe\"}\n")]).not_split(),
            None
        );
        assert_eq!(
            received(&[(0, "{\"ty"), (49, "pe\"}\n")]).not_split(),
            Some("\"m\", in 2 reads only 49 ms apart, twice".into())
        );
        assert_eq!(
            received(&[(0, "{\"type\"}\n")]).not_split(),
            Some("\"m\", whole in one read, twice: a client that takes each read for a message still works, so this service tests nothing".into())
        );
    }

    /// A fake service in Python: on each connection, it sends step 5's
    /// message as its argument says: `split` (in two writes, 100 ms
    /// apart, as the book's), `whole` (one write), `whole-first` (whole to
    /// its first subscriber only), `greets` (a greeting first, then
    /// split), `wrong` (split, of the wrong type), `stays` (split, then
    /// keeps the connection open), `more` (split, then another line),
    /// `unfinished` (split, then part of a line), `nothing` (closes at
    /// once); then it closes the connection.
    const A_SERVICE: &str = r#"
import os, socket, sys, time
mode = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
served = 0
kept = []
while True:
    connection, _ = server.accept()
    served += 1
    kind = "changing" if mode == "wrong" else "changed"
    message = ('{"type":"%s","timestamp":1450694370094}\n' % kind).encode()
    if mode == "greets":
        connection.sendall(b'{"type":"watching","file":"target.txt"}\n')
    if mode == "whole" or (mode == "whole-first" and served == 1):
        connection.sendall(message)
    elif mode != "nothing":
        connection.sendall(message[:13])
        time.sleep(0.1)
        connection.sendall(message[13:])
    if mode == "more":
        connection.sendall(b"more\n")
    if mode == "unfinished":
        connection.sendall(b"mo")
    if mode == "stays":
        kept.append(connection)
    else:
        connection.close()
"#;

    fn grade_service(mode: &str) -> super::super::Report {
        let root = tempfile::tempdir().unwrap();
        let subject = super::super::Subject::new(
            vec![
                "python3".into(),
                "-c".into(),
                A_SERVICE.into(),
                mode.into(),
                "{port}".into(),
            ],
            super::super::Role::Service {
                transport: super::super::Transport::Tcp,
            },
            super::super::fakes::settings(&root),
        );
        super::super::grade_only(&subject, &behaviours())
    }

    #[test]
    fn a_service_like_the_books_passes_greeting_first_or_not() {
        super::super::fakes::all_passed(&grade_service("split"));
        super::super::fakes::all_passed(&grade_service("greets"));
        super::super::fakes::all_passed(&grade_service("whole-first"));
    }

    #[test]
    fn a_service_that_sends_its_message_whole_fails_the_split_only() {
        use super::super::fakes::{failure, verdict};
        let report = grade_service("whole");
        assert!(
            failure(&report, "service-split")
                .got
                .ends_with(", whole in one read, twice: a client that takes each read for a message still works, so this service tests nothing"),
            "{report:?}"
        );
        assert!(verdict(&report, "service-message").passed());
        assert!(verdict(&report, "service-every-subscriber").passed());
    }

    #[test]
    fn a_wrong_message_or_connection_fails_the_behaviour_that_owns_it() {
        use super::super::fakes::{failure, verdict};
        let wrong = grade_service("wrong");
        assert!(verdict(&wrong, "service-split").passed());
        assert_eq!(
            failure(&wrong, "service-message"),
            &Failure::new(
                EXPECTED_MESSAGE,
                "\"{\\\"type\\\":\\\"changing\\\",\\\"timestamp\\\":1450694370094}\": its \"type\" is not \"changed\""
            )
        );
        let stays = grade_service("stays");
        let open = failure(&stays, "service-every-subscriber");
        assert!(
            open.expected.starts_with(
                "the service to close subscriber 1's connection after the message, on port "
            ),
            "{open}"
        );
        assert_eq!(open.got, "then nothing within 2 s");
        let more = grade_service("more");
        assert_eq!(
            failure(&more, "service-every-subscriber").got,
            "then \"more\""
        );
        let unfinished = grade_service("unfinished");
        assert_eq!(
            failure(&unfinished, "service-every-subscriber").got,
            "then the server closed the connection after an unfinished line: \"mo\""
        );
        let nothing = grade_service("nothing");
        for id in ["service-split", "service-message"] {
            assert_eq!(
                failure(&nothing, id).got,
                "the server closed the connection",
                "{id}"
            );
        }
        assert_eq!(
            failure(&nothing, "service-every-subscriber"),
            &Failure::new(
                format!("{EXPECTED_MESSAGE}, for subscriber 1 of 2"),
                "the server closed the connection"
            )
        );
    }
}
