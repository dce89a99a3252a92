//! The práctica's server behaviours: steps 1 (plain text), 2 (the same on
//! a Unix socket) and 3 (line-delimited JSON).
//!
//! The shapes are the book's: `Now watching "FILE" for changes...` and
//! `File changed: DATE` in plain text; `{"type":"watching","file":FILE}`
//! and `{"type":"changed","timestamp":MS}` in JSON. Each shape is judged
//! by the one behaviour that owns it (see `wire`); the others only ask
//! whether notifications arrive. What the server prints on its console is
//! not graded.

use std::time::{Duration, Instant};

use super::edits;
use super::process::Process;
use super::subject::{Server, grader_trouble};
use super::subscriber::{Silence, Subscriber};
use super::verdict::Failure;
use super::wire::{self, expected_change, expected_greeting, is_greeting};
use super::{Behaviour, Checked, Role, Trial};
use crate::protocol::Protocol;

/// The práctica's behaviours for a server speaking `protocol` on
/// `transport`.
pub(super) fn behaviours(protocol: Protocol, transport: super::Transport) -> Vec<Behaviour> {
    use super::Transport::{Tcp, Unix};
    let group = match (protocol, transport) {
        (Protocol::Text, Tcp) => "plain text (step 1)",
        (Protocol::Text, Unix) => "plain text on a Unix socket (step 2)",
        (Protocol::Json, Tcp) => "line-delimited JSON (step 3)",
        (Protocol::Json, Unix) => "line-delimited JSON on a Unix socket (steps 2 and 3)",
    };
    let step = |id, name, check| Behaviour {
        id,
        group,
        name,
        practica: true,
        check,
        long: false,
    };
    let mut all = vec![step(
        "greeting",
        "greets each subscriber with the name of the file it watches",
        greets_with_the_file_name,
    )];
    match protocol {
        Protocol::Text => all.push(step(
            "change-line",
            "sends one \"File changed: <date>\" line per touch, with a date a person reads",
            one_change_per_touch,
        )),
        Protocol::Json => all.extend([
            step(
                "change-message",
                "sends one \"changed\" message per touch, with a timestamp in milliseconds",
                one_change_per_touch,
            ),
            step(
                "one-object-per-line",
                "sends each message as one JSON object on a line of its own",
                one_object_per_line,
            ),
        ]),
    }
    all.extend([
        step(
            "several",
            "tells every one of several subscribers",
            tells_every_subscriber,
        ),
        step(
            "departure",
            "keeps telling the others when a subscriber leaves",
            keeps_telling_when_one_leaves,
        ),
    ]);
    all
}

/// The protocol a server subject speaks.
pub(super) fn protocol(trial: &Trial) -> Protocol {
    match trial.subject.role() {
        Role::Server { protocol, .. } => protocol,
        _ => Protocol::Json,
    }
}

/// The grader's first connection (subscriber 1), its greeting read if it
/// sent one: a line that is not a greeting is put back for the behaviour
/// to read. A missing greeting is the greeting behaviour's to judge, not
/// this one's; a connection that ended is every behaviour's failure.
pub(super) fn first_subscriber(server: &mut Server, trial: &Trial) -> Result<Subscriber, Failure> {
    let (mut subscriber, line) = server.first(trial.subject)?;
    match line {
        Ok(line) => {
            if !is_greeting(&line) {
                subscriber.put_back(&line);
            }
            Ok(subscriber)
        }
        Err(Silence::Nothing { .. }) => Ok(subscriber),
        Err(silence) => Err(Failure::new(
            "the server to keep subscriber 1 (the grader's first connection) connected",
            format!("{silence}{}", server.exit_note()),
        )),
    }
}

/// Connects another subscriber (`which`, such as "subscriber 2 of 3") and
/// reads its greeting. A program that greets must greet it too; one that
/// does not greet is only asked to keep it connected. A first line that is
/// not a greeting is left for the behaviour to read.
pub(super) fn subscribe(
    server: &mut Server,
    trial: &Trial,
    which: &str,
) -> Result<Subscriber, Failure> {
    let subject = trial.subject;
    let mut subscriber = server.connect(subject.settings().patience)?;
    match subscriber.next_within(subject.greeting_wait()) {
        Ok(line) => {
            if !is_greeting(&line) {
                subscriber.put_back(&line);
            }
            Ok(subscriber)
        }
        Err(Silence::Nothing { .. }) if !subject.greets() => Ok(subscriber),
        Err(silence) => {
            let expected = if subject.greets() {
                format!("{which} to be greeted, as the grader's first connection was")
            } else {
                format!("{which} to stay connected")
            };
            Err(Failure::new(
                expected,
                format!("{silence}{}", server.exit_note()),
            ))
        }
    }
}

/// How long [`settle`] waits, at most, for a server to be idle: a
/// program that never is (a busy loop) costs this, once per change
/// series. A program that is idle waits for none of it; one that is busy
/// on a loaded machine needs it: with 1 s, the book's Node server, busy
/// with 20 hang-ups at a load average of 25, was told of a change before
/// it had seen them all, wrote to a closed connection and died (`Error:
/// write ECONNRESET`), in one spec run in a dozen.
const SETTLING: Duration = Duration::from_secs(5);

/// Gives the server its moment after a greeting or a departure (see
/// [`super::Settings::grace`]), then waits (up to [`SETTLING`]) until it
/// is idle: it has done what it does for a new subscriber (the book's
/// server places its watch just after the greeting, and on a loaded
/// machine that can come long after), and the change the grader makes
/// next will be seen.
pub(super) fn settle(server: &Server, trial: &Trial) {
    settle_process(&server.process, trial.subject.settings().grace);
}

/// [`settle`] for `process`, after `grace`.
fn settle_process(process: &Process, grace: Duration) {
    std::thread::sleep(grace);
    let members = process.group_members();
    let started = Instant::now();
    while !Process::is_idle(&members) && started.elapsed() < SETTLING {
        // Whether a program has gone back to waiting is only seen by
        // looking; every 10 ms is often enough, and cheap (a few files
        // of /proc).
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A change the grader made: when, by its clock and by the wall's.
#[derive(Debug, Clone, Copy)]
pub(super) struct Made {
    /// The wall clock, in milliseconds since the Unix epoch.
    pub ms: u64,
    /// The monotonic clock.
    pub at: Instant,
}

impl Made {
    /// Now.
    pub fn now() -> Self {
        Made {
            ms: now_ms(),
            at: Instant::now(),
        }
    }
}

/// Touches the server's file.
pub(super) fn touch(server: &Server) -> Result<Made, Failure> {
    let made = Made::now();
    edits::touch(&server.file).map_err(|error| grader_trouble("a touch of the file", &error))?;
    Ok(made)
}

/// The grader's clock, in milliseconds since the Unix epoch.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Waits for the notification of `made` on `subscriber` (any line but a
/// greeting: its shape is the change behaviour's to judge) and returns it;
/// `when` says which change, for the failure. How long it took is noted.
pub(super) fn expect_change(
    server: &mut Server,
    trial: &mut Trial,
    subscriber: &mut Subscriber,
    made: Made,
    when: &str,
) -> Result<String, Failure> {
    let expected = format!("{} {when}", expected_change(protocol(trial)));
    listen_for_change(server, trial, subscriber, made)
        .map_err(|unheard| Failure::new(expected, format!("{}{}", unheard.silence, unheard.note)))
}

/// Why no notification came: the silence, and a note on the server (how it
/// exited, or that it runs on), each said in its place by the caller.
pub(super) struct Unheard {
    /// What the subscriber met instead.
    pub silence: Silence,
    /// [`Server::exit_note`] or [`Server::closed_note`]: empty, or it
    /// starts with "; ".
    pub note: String,
}

/// [`expect_change`], with the silence and the note apart.
pub(super) fn listen_for_change(
    server: &mut Server,
    trial: &mut Trial,
    subscriber: &mut Subscriber,
    made: Made,
) -> Result<String, Unheard> {
    let deadline = made.at + trial.subject.settings().patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match subscriber.next_within(left) {
            Ok(line) if is_greeting(&line) => continue,
            Ok(line) => {
                trial.clocked(subscriber.last_arrival().unwrap_or_else(Instant::now) - made.at);
                return Ok(line);
            }
            Err(silence) => {
                // Said as the patience it was given, not what was left of it.
                let silence = match silence {
                    Silence::Nothing { partial, .. } => Silence::Nothing {
                        waited: trial.subject.settings().patience,
                        partial,
                    },
                    other => other,
                };
                let note = match silence {
                    Silence::Closed { .. } | Silence::Failed(_) => server.closed_note(),
                    _ => server.exit_note(),
                };
                return Err(Unheard { silence, note });
            }
        }
    }
}

fn greets_with_the_file_name(trial: &mut Trial) -> Checked {
    let protocol = protocol(trial);
    let mut server = trial.subject.start()?;
    let file = server.file.to_string_lossy().into_owned();
    let expected = expected_greeting(protocol, &file);
    let (_subscriber, line) = server.first(trial.subject)?;
    let line = line
        .map_err(|silence| Failure::new(&expected, format!("{silence}{}", server.exit_note())))?;
    match wire::greeting_problem(protocol, &file, &line) {
        None => Ok(()),
        Some(problem) => Err(Failure::new(expected, format!("{line:?}: {problem}")).into()),
    }
}

/// How many touches `one_change_per_touch` makes.
const TOUCHES: usize = 3;

fn one_change_per_touch(trial: &mut Trial) -> Checked {
    let protocol = protocol(trial);
    let mut server = trial.subject.start()?;
    let mut subscriber = first_subscriber(&mut server, trial)?;
    settle(&server, trial);
    if let Some(line) = subscriber
        .next_within(Duration::ZERO)
        .ok()
        .filter(|line| !is_greeting(line))
    {
        return Err(Failure::new(
            format!(
                "nothing but the greeting before the first touch, then {}",
                expected_change(protocol)
            ),
            format!("{line:?} before any touch"),
        )
        .into());
    }
    for touch_number in 1..=TOUCHES {
        let made = touch(&server)?;
        let when = format!("after touch {touch_number} of {TOUCHES}");
        let line = expect_change(&mut server, trial, &mut subscriber, made, &when)?;
        let expected = format!("{} {when}", expected_change(protocol));
        match protocol {
            Protocol::Text => {
                if let Some(problem) = wire::text_change_problem(&line, made.ms, now_ms()) {
                    return Err(Failure::new(expected, format!("{line:?}: {problem}")).into());
                }
            }
            Protocol::Json => match wire::json_change_check(&line, made.ms, now_ms()) {
                Ok(notes) => notes.into_iter().for_each(|note| trial.note(note)),
                Err(problem) => {
                    return Err(Failure::new(expected, format!("{line:?}: {problem}")).into());
                }
            },
        }
    }
    let settings = trial.subject.settings();
    let extra = subscriber.lines_until_quiet(settings.quiet, settings.quiet, 3);
    if extra.count > 0 {
        return Err(Failure::new(
            format!("one line per touch, {TOUCHES} in all, then nothing"),
            format!(
                "{} more after the third: {}",
                extra.count,
                extra.lines.join(" | ")
            ),
        )
        .into());
    }
    Ok(())
}

fn one_object_per_line(trial: &mut Trial) -> Checked {
    let mut server = trial.subject.start()?;
    let (mut subscriber, greeting) = server.first(trial.subject)?;
    // A missing greeting is the greeting behaviour's: this one judges the
    // lines that came.
    if let Ok(line) = &greeting {
        if let Some(problem) = wire::json_line_problem(line) {
            return Err(Failure::new(
                "the greeting as one JSON object on one line",
                format!("the line {line:?}, where {problem}"),
            )
            .into());
        }
    }
    settle(&server, trial);
    let made = touch(&server)?;
    let line = expect_change(&mut server, trial, &mut subscriber, made, "after a touch")?;
    if let Some(problem) = wire::json_line_problem(&line) {
        return Err(Failure::new(
            "the change as one JSON object on one line",
            format!("the line {line:?}, where {problem}"),
        )
        .into());
    }
    Ok(())
}

/// How many subscribers the fan-out behaviours connect.
const SEVERAL: usize = 3;

/// Subscriber 1 (the grader's first connection), then the others up to
/// [`SEVERAL`].
fn several_subscribers(server: &mut Server, trial: &Trial) -> Result<Vec<Subscriber>, Failure> {
    let mut subscribers = vec![first_subscriber(server, trial)?];
    for number in 2..=SEVERAL {
        subscribers.push(subscribe(
            server,
            trial,
            &format!("subscriber {number} of {SEVERAL}"),
        )?);
    }
    Ok(subscribers)
}

fn tells_every_subscriber(trial: &mut Trial) -> Checked {
    let mut server = trial.subject.start()?;
    let mut subscribers = several_subscribers(&mut server, trial)?;
    settle(&server, trial);
    let made = touch(&server)?;
    for (index, subscriber) in subscribers.iter_mut().enumerate() {
        let when = format!("for subscriber {} of {SEVERAL}", index + 1);
        expect_change(&mut server, trial, subscriber, made, &when)?;
    }
    Ok(())
}

/// How many changes `keeps_telling_when_one_leaves` makes after the
/// departure: a write to a departed subscriber's socket succeeds once (the
/// peer answers it with a reset), so a server that never notices the
/// departure fails only on the second.
const CHANGES_AFTER_LEAVING: usize = 3;

fn keeps_telling_when_one_leaves(trial: &mut Trial) -> Checked {
    let mut server = trial.subject.start()?;
    let mut subscribers = several_subscribers(&mut server, trial)?;
    // The second one hangs up.
    subscribers.remove(1).leave();
    settle(&server, trial);
    for change in 1..=CHANGES_AFTER_LEAVING {
        let made = touch(&server)?;
        for (subscriber, number) in subscribers.iter_mut().zip([1, 3]) {
            let when = format!(
                "for subscriber {number}, change {change} of {CHANGES_AFTER_LEAVING} after subscriber 2 left"
            );
            expect_change(&mut server, trial, subscriber, made, &when)?;
        }
    }
    subscribe(
        &mut server,
        trial,
        "a new subscriber, after subscriber 2 left",
    )
    .map(drop)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::Arc;

    use super::*;
    use crate::grade::fakes::{
        all_passed, failure, fake_server, grade_fake, server, settings, verdict,
    };
    use crate::grade::net::Transport::{Tcp, Unix};
    use crate::grade::verdict::Verdict;

    const TEXT: Role = server(Protocol::Text, Tcp);
    const JSON: Role = server(Protocol::Json, Tcp);
    const STEPS: [&str; 4] = ["greeting", "change-line", "several", "departure"];
    const JSON_STEPS: [&str; 5] = [
        "greeting",
        "change-message",
        "one-object-per-line",
        "several",
        "departure",
    ];
    const FAKE_PATIENCE: Duration = Duration::from_secs(2);

    #[test]
    fn a_right_server_passes_every_step_in_text_in_json_and_on_a_unix_socket() {
        all_passed(&grade_fake(TEXT, &[], &STEPS, FAKE_PATIENCE));
        all_passed(&grade_fake(JSON, &[], &JSON_STEPS, FAKE_PATIENCE));
        all_passed(&grade_fake(
            server(Protocol::Text, Unix),
            &[],
            &STEPS,
            FAKE_PATIENCE,
        ));
    }

    #[test]
    fn a_greeting_sent_again_is_not_a_notification_and_a_late_watch_is_waited_for() {
        all_passed(&grade_fake(TEXT, &["regreets"], &STEPS, FAKE_PATIENCE));
        all_passed(&grade_fake(
            TEXT,
            &["late-watch"],
            &["change-line"],
            FAKE_PATIENCE,
        ));
    }

    #[test]
    fn a_server_that_does_not_greet_fails_the_greeting_only() {
        let report = grade_fake(TEXT, &["no-greeting"], &STEPS, FAKE_PATIENCE);
        let greeting = failure(&report, "greeting");
        assert!(
            greeting.expected.starts_with("Now watching \""),
            "{greeting}"
        );
        assert_eq!(greeting.got, "nothing within 2 s");
        for id in ["change-line", "several", "departure"] {
            assert_eq!(verdict(&report, id), &Verdict::Pass, "{id}");
        }
    }

    #[test]
    fn a_line_before_any_change_fails_the_change_behaviour_greeting_or_not() {
        for mistakes in [&["chatty"][..], &["chatty", "no-greeting"]] {
            let report = grade_fake(TEXT, mistakes, &["change-line"], FAKE_PATIENCE);
            assert_eq!(
                failure(&report, "change-line").got,
                "\"Welcome!\" before any touch",
                "{mistakes:?}"
            );
        }
    }

    #[test]
    fn two_lines_per_touch_fail_the_change_behaviour() {
        let report = grade_fake(TEXT, &["twice"], &["change-line"], FAKE_PATIENCE);
        let twice = failure(&report, "change-line");
        assert_eq!(twice.expected, "one line per touch, 3 in all, then nothing");
        // How many more depends on whether the server saw two touches
        // at once; one at least.
        assert!(
            twice.got.contains(" more after the third: File changed: "),
            "{twice}"
        );
    }

    #[test]
    fn a_server_that_never_notifies_fails_what_needs_a_notification() {
        let report = grade_fake(TEXT, &["never-notifies"], &STEPS, FAKE_PATIENCE);
        assert_eq!(verdict(&report, "greeting"), &Verdict::Pass);
        assert_eq!(
            failure(&report, "change-line"),
            &Failure::new(
                "a line \"File changed: <date>\" after touch 1 of 3",
                "nothing within 2 s"
            )
        );
        assert_eq!(
            failure(&report, "several").expected,
            "a line \"File changed: <date>\" for subscriber 1 of 3"
        );
        assert_eq!(
            failure(&report, "departure").expected,
            "a line \"File changed: <date>\" for subscriber 1, change 1 of 3 after subscriber 2 left"
        );
    }

    #[test]
    fn a_server_that_serves_only_its_first_subscriber_fails_the_fan_out() {
        let report = grade_fake(TEXT, &["first-only"], &STEPS, FAKE_PATIENCE);
        assert_eq!(verdict(&report, "greeting"), &Verdict::Pass);
        assert_eq!(verdict(&report, "change-line"), &Verdict::Pass);
        let expected = Failure::new(
            "subscriber 2 of 3 to be greeted, as the grader's first connection was",
            "nothing within 2 s",
        );
        assert_eq!(failure(&report, "several"), &expected);
        assert_eq!(failure(&report, "departure"), &expected);
    }

    #[test]
    fn a_server_that_dies_when_a_subscriber_leaves_fails_the_departure_only() {
        let report = grade_fake(TEXT, &["dies-on-departure"], &STEPS, FAKE_PATIENCE);
        for id in ["greeting", "change-line", "several"] {
            assert_eq!(verdict(&report, id), &Verdict::Pass, "{id}");
        }
        let departure = failure(&report, "departure");
        assert!(
            departure.got.ends_with(
                "; the server had exited (exit status: 1); on stderr it said:\n  | BrokenPipeError: a subscriber left"
            ),
            "{departure}"
        );
    }

    #[test]
    fn a_server_that_does_not_speak_json_fails_the_json_shapes() {
        let ids = ["greeting", "change-message", "one-object-per-line"];
        let text = grade_fake(JSON, &["speaks-text"], &ids, FAKE_PATIENCE);
        let greeting = failure(&text, "greeting");
        assert!(
            greeting
                .expected
                .starts_with("{\"type\":\"watching\",\"file\":\""),
            "{greeting}"
        );
        assert!(
            greeting.got.starts_with("\"Now watching \\\""),
            "{greeting}"
        );
        let change = failure(&text, "change-message");
        assert_eq!(
            change.expected,
            "a line {\"type\":\"changed\",\"timestamp\":<milliseconds>} after touch 1 of 3"
        );
        assert!(change.got.starts_with("\"File changed: "), "{change}");
        let shape = failure(&text, "one-object-per-line");
        assert_eq!(
            shape.expected,
            "the greeting as one JSON object on one line"
        );
        assert!(
            shape.got.starts_with("the line \"Now watching \\\""),
            "{shape}"
        );
        let silent = grade_fake(
            JSON,
            &["speaks-text", "no-greeting"],
            &["one-object-per-line"],
            FAKE_PATIENCE,
        );
        let shape = failure(&silent, "one-object-per-line");
        assert_eq!(shape.expected, "the change as one JSON object on one line");
        assert!(
            shape.got.starts_with("the line \"File changed: "),
            "{shape}"
        );
    }

    #[test]
    fn a_new_subscriber_is_left_every_line_but_its_greeting() {
        // "Welcome!" after the greeting, or in its place: either way it is
        // the next line the behaviour reads, and the greeting is not.
        for mistakes in [&["chatty"][..], &["chatty", "no-greeting"]] {
            let root = tempfile::tempdir().unwrap();
            let subject = fake_server(TEXT, mistakes, settings(&root));
            let trial = Trial::new(&subject);
            let mut server = subject.start().unwrap();
            first_subscriber(&mut server, &trial).unwrap();
            let mut second = subscribe(&mut server, &trial, "subscriber 2").unwrap();
            let next = second
                .next_within(FAKE_PATIENCE)
                .map_err(|silence| silence.to_string());
            assert_eq!(next.as_deref(), Ok("Welcome!"), "{mistakes:?}");
        }
    }

    #[test]
    fn settling_waits_for_a_busy_program_and_not_for_an_idle_one() {
        let spawn = |line: &str| {
            let mut command = Command::new("sh");
            command.args(["-c", line]);
            Process::spawn(command, line.into(), Arc::default()).unwrap()
        };
        let idle = spawn("exec sleep 30");
        let started = Instant::now();
        settle_process(&idle, Duration::ZERO);
        assert!(started.elapsed() < SETTLING / 2, "{:?}", started.elapsed());
        let busy = spawn("while :; do :; done");
        let started = Instant::now();
        settle_process(&busy, Duration::from_millis(10));
        assert!(started.elapsed() >= SETTLING, "{:?}", started.elapsed());
    }
}
