//! The práctica's server behaviours: steps 1 (plain text), 2 (the same on
//! a Unix socket) and 3 (line-delimited JSON).
//!
//! The shapes are the book's: `Now watching "FILE" for changes...` and
//! `File changed: DATE` in plain text; `{"type":"watching","file":FILE}`
//! and `{"type":"changed","timestamp":MS}` in JSON. What the server prints
//! on its console is not graded.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::edits;
use super::subject::{Server, Subject, Transport, grader_trouble};
use super::subscriber::Subscriber;
use super::{Behaviour, Failure, Role, Verdict};
use crate::protocol::Protocol;

/// The práctica's behaviours for a server speaking `protocol` on
/// `transport`.
pub(super) fn behaviours(protocol: Protocol, transport: Transport) -> Vec<Behaviour> {
    let group = match (protocol, transport) {
        (Protocol::Text, Transport::Tcp) => "plain text (step 1)",
        (Protocol::Text, Transport::Unix) => "plain text on a Unix socket (step 2)",
        (Protocol::Json, Transport::Tcp) => "line-delimited JSON (step 3)",
        (Protocol::Json, Transport::Unix) => "line-delimited JSON on a Unix socket (steps 2 and 3)",
    };
    let mut all = vec![Behaviour {
        group,
        name: "greets each subscriber with the name of the file it watches",
        check: greets_with_the_file_name,
        long: false,
    }];
    match protocol {
        Protocol::Text => all.push(Behaviour {
            group,
            name: "sends one \"File changed:\" line per touch",
            check: one_change_per_touch,
            long: false,
        }),
        Protocol::Json => all.extend([
            Behaviour {
                group,
                name: "sends one \"changed\" message per touch, with a timestamp in milliseconds",
                check: one_change_per_touch,
                long: false,
            },
            Behaviour {
                group,
                name: "sends each message as one JSON object on a line of its own",
                check: one_object_per_line,
                long: false,
            },
        ]),
    }
    all.extend([
        Behaviour {
            group,
            name: "tells every one of several subscribers",
            check: tells_every_subscriber,
            long: false,
        },
        Behaviour {
            group,
            name: "keeps telling the others when a subscriber leaves",
            check: keeps_telling_when_one_leaves,
            long: false,
        },
    ]);
    all
}

/// The protocol a server subject speaks.
pub(super) fn protocol(subject: &Subject) -> Protocol {
    match subject.role() {
        Role::Server { protocol, .. } => protocol,
        Role::Client { .. } => Protocol::Json,
    }
}

/// The greeting a correct server sends for `file`, as a reader sees it.
pub(super) fn expected_greeting(protocol: Protocol, file: &str) -> String {
    match protocol {
        Protocol::Text => format!("Now watching \"{file}\" for changes..."),
        Protocol::Json => format!(
            "{{\"type\":\"watching\",\"file\":{}}}",
            Value::String(file.to_owned())
        ),
    }
}

/// A change notification, as a reader sees it.
pub(super) fn expected_change(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Text => "a line \"File changed: <date>\"",
        Protocol::Json => "a line {\"type\":\"changed\",\"timestamp\":<milliseconds>}",
    }
}

/// What is wrong with `line` as the greeting for `file`, if anything.
fn greeting_problem(protocol: Protocol, file: &str, line: &str) -> Option<String> {
    match protocol {
        Protocol::Text => (line != expected_greeting(protocol, file)).then(String::new),
        Protocol::Json => {
            let object = match json_object(line) {
                Ok(object) => object,
                Err(problem) => return Some(problem),
            };
            let expected: Map<String, Value> = [
                ("type".to_owned(), Value::from("watching")),
                ("file".to_owned(), Value::from(file)),
            ]
            .into_iter()
            .collect();
            (object != expected)
                .then(|| "not the fields and values of the book's message".to_owned())
        }
    }
}

/// What is wrong with `line` as a change notification sent after
/// `since_ms` (the grader's clock), if anything.
pub(super) fn change_problem(protocol: Protocol, line: &str, since_ms: u64) -> Option<String> {
    match protocol {
        Protocol::Text => match line.strip_prefix("File changed: ") {
            None => Some("it does not start with \"File changed: \"".to_owned()),
            Some(date) if date.trim().is_empty() => {
                Some("no date after \"File changed: \"".to_owned())
            }
            Some(_) => None,
        },
        Protocol::Json => {
            let object = match json_object(line) {
                Ok(object) => object,
                Err(problem) => return Some(problem),
            };
            if object.get("type") != Some(&Value::from("changed")) {
                return Some("its \"type\" is not \"changed\"".to_owned());
            }
            if object.len() != 2 {
                return Some(format!(
                    "it has the fields {:?}; the book's has \"type\" and \"timestamp\" only",
                    object.keys().collect::<Vec<_>>()
                ));
            }
            let Some(timestamp) = object.get("timestamp").and_then(Value::as_u64) else {
                return Some("its \"timestamp\" is not a whole number of milliseconds".to_owned());
            };
            plausibility(timestamp, since_ms)
        }
    }
}

/// What is wrong with `timestamp` as the time of a change made at
/// `since_ms`, if anything: it must be milliseconds since the Unix epoch,
/// within a minute of the grader's clock.
fn plausibility(timestamp: u64, since_ms: u64) -> Option<String> {
    const MINUTE: u64 = 60_000;
    let now = now_ms();
    if timestamp + MINUTE < since_ms || timestamp > now + MINUTE {
        let hint = if timestamp < since_ms / 100 {
            " (seconds, not milliseconds?)"
        } else {
            ""
        };
        Some(format!(
            "its timestamp is {timestamp}, more than a minute from the grader's clock ({now}){hint}"
        ))
    } else {
        None
    }
}

/// `line` as a JSON object, or what is wrong with it.
fn json_object(line: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("it is JSON, but not an object".to_owned()),
        Err(error) => Err(format!("it is not JSON ({error})")),
    }
}

/// The grader's clock, in milliseconds since the Unix epoch.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Connects a subscriber and reads its first line, which must be a
/// greeting (checked loosely here: the greeting's own behaviour checks it
/// exactly).
pub(super) fn subscribe(server: &mut Server, subject: &Subject) -> Result<Subscriber, Failure> {
    let protocol = protocol(subject);
    let mut subscriber = server.connect(subject.settings().patience)?;
    let expected = format!(
        "the greeting first ({})",
        expected_greeting(protocol, &server.file.to_string_lossy())
    );
    let line = subscriber
        .next_line()
        .map_err(|silence| Failure::new(&expected, format!("{silence}{}", server.exit_note())))?;
    let greets = match protocol {
        Protocol::Text => line.starts_with("Now watching"),
        Protocol::Json => json_object(&line)
            .is_ok_and(|object| object.get("type") == Some(&Value::from("watching"))),
    };
    if greets {
        Ok(subscriber)
    } else {
        Err(Failure::new(expected, format!("{line:?}")))
    }
}

/// Gives the server its moment after a greeting or a departure (see
/// [`super::Settings::grace`]).
pub(super) fn grace(subject: &Subject) {
    std::thread::sleep(subject.settings().grace);
}

/// Touches the server's file.
pub(super) fn touch(server: &Server) -> Result<u64, Failure> {
    let since = now_ms();
    edits::touch(&server.file).map_err(|error| grader_trouble("a touch of the file", &error))?;
    Ok(since)
}

/// Waits for one change notification on `subscriber`, sent after
/// `since_ms`; `when` says which change, for the failure.
pub(super) fn expect_change(
    server: &mut Server,
    subject: &Subject,
    subscriber: &mut Subscriber,
    since_ms: u64,
    when: &str,
) -> Verdict {
    let protocol = protocol(subject);
    let expected = format!("{} {when}", expected_change(protocol));
    let line = subscriber
        .next_line()
        .map_err(|silence| Failure::new(&expected, format!("{silence}{}", server.exit_note())))?;
    match change_problem(protocol, &line, since_ms) {
        None => Ok(()),
        Some(problem) => Err(Failure::new(expected, format!("{line:?}: {problem}"))),
    }
}

fn greets_with_the_file_name(subject: &Subject) -> Verdict {
    let protocol = protocol(subject);
    let mut server = subject.start()?;
    let file = server.file.to_string_lossy().into_owned();
    let mut subscriber = server.connect(subject.settings().patience)?;
    let expected = expected_greeting(protocol, &file);
    let line = subscriber
        .next_line()
        .map_err(|silence| Failure::new(&expected, format!("{silence}{}", server.exit_note())))?;
    match greeting_problem(protocol, &file, &line) {
        None => Ok(()),
        Some(problem) if problem.is_empty() => Err(Failure::new(expected, format!("{line:?}"))),
        Some(problem) => Err(Failure::new(expected, format!("{line:?}: {problem}"))),
    }
}

/// How many touches `one_change_per_touch` makes.
const TOUCHES: usize = 3;

fn one_change_per_touch(subject: &Subject) -> Verdict {
    let mut server = subject.start()?;
    let mut subscriber = subscribe(&mut server, subject)?;
    grace(subject);
    for touch_number in 1..=TOUCHES {
        let since = touch(&server)?;
        let when = format!("after touch {touch_number} of {TOUCHES}");
        expect_change(&mut server, subject, &mut subscriber, since, &when)?;
    }
    let settings = subject.settings();
    let extra = subscriber.lines_until_quiet(settings.quiet, settings.quiet, 3);
    if extra.count > 0 {
        return Err(Failure::new(
            format!("one line per touch, {TOUCHES} in all, then nothing"),
            format!(
                "{} more after the third: {}",
                extra.count,
                extra.lines.join(" | ")
            ),
        ));
    }
    Ok(())
}

fn one_object_per_line(subject: &Subject) -> Verdict {
    let mut server = subject.start()?;
    let mut subscriber = server.connect(subject.settings().patience)?;
    for which in ["the greeting", "the change"] {
        if which == "the change" {
            grace(subject);
            touch(&server)?;
        }
        let expected = format!("{which} as one JSON object on one line");
        let line = subscriber.next_line().map_err(|silence| {
            Failure::new(&expected, format!("{silence}{}", server.exit_note()))
        })?;
        if let Err(problem) = json_object(&line) {
            return Err(Failure::new(
                expected,
                format!("the line {line:?}, where {problem}"),
            ));
        }
    }
    Ok(())
}

/// How many subscribers the fan-out behaviours connect.
const SEVERAL: usize = 3;

fn tells_every_subscriber(subject: &Subject) -> Verdict {
    let mut server = subject.start()?;
    let mut subscribers = Vec::new();
    for _ in 0..SEVERAL {
        subscribers.push(subscribe(&mut server, subject)?);
    }
    grace(subject);
    let since = touch(&server)?;
    for (index, subscriber) in subscribers.iter_mut().enumerate() {
        let when = format!("for subscriber {} of {SEVERAL}", index + 1);
        expect_change(&mut server, subject, subscriber, since, &when)?;
    }
    Ok(())
}

fn keeps_telling_when_one_leaves(subject: &Subject) -> Verdict {
    let mut server = subject.start()?;
    let mut subscribers = Vec::new();
    for _ in 0..SEVERAL {
        subscribers.push(subscribe(&mut server, subject)?);
    }
    // The second one hangs up.
    drop(subscribers.remove(1));
    grace(subject);
    let since = touch(&server)?;
    for (subscriber, number) in subscribers.iter_mut().zip([1, 3]) {
        let when = format!("for subscriber {number} after subscriber 2 left");
        expect_change(&mut server, subject, subscriber, since, &when)?;
    }
    subscribe(&mut server, subject)
        .map(drop)
        .map_err(|failure| Failure {
            expected: format!("{}, for a new subscriber after one left", failure.expected),
            ..failure
        })
}
