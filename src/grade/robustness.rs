//! Behaviours beyond the práctica: what a server needs to be relied on,
//! reported in a group of their own so that a student reads them as the
//! next step, not as a failed step.
//!
//! None of them judges a line's shape (that is the práctica's change
//! behaviour's): a notification is any line but a greeting, and "the
//! watch ended" is said only when nothing arrived at all.

use std::path::Path;
use std::time::{Duration, Instant};
use std::{io, thread};

use super::edits;
use super::net::{Address, Stream, Transport};
use super::server_steps::{
    Made, Unheard, expect_change, first_subscriber, listen_for_change, settle, touch,
};
use super::subject::{
    FIRST_PAUSE, grader_trouble, names_an_address_in_use, next_pause, remove_if_stale,
};
use super::subscriber::{Silence, Subscriber};
use super::verdict::{Failure, Stop};
use super::wire::is_greeting;
use super::{BEYOND, Behaviour, Checked, Trial};

/// The behaviours beyond the práctica for a server on `transport`.
pub(super) fn behaviours(transport: Transport) -> Vec<Behaviour> {
    let beyond = |id, name, check| Behaviour {
        id,
        group: BEYOND,
        name,
        practica: false,
        check,
        long: false,
    };
    let mut all = vec![
        beyond(
            "atomic-save",
            "notices an atomic save (a new file renamed over it) once, and keeps watching",
            notices_an_atomic_save,
        ),
        beyond(
            "sed-in-place",
            "notices a save by `sed -i` once, and keeps watching",
            notices_sed_in_place,
        ),
        beyond(
            "copy-over",
            "notices a copy over the file by `cp`, and keeps watching",
            notices_a_copy_over_it,
        ),
        beyond(
            "flood",
            "merges 300 quick appends into a few notifications",
            does_not_flood,
        ),
        Behaviour {
            long: true,
            ..beyond(
                "silent-subscriber",
                "keeps telling the others while one subscriber never reads",
                a_silent_subscriber_does_not_stop_the_others,
            )
        },
        beyond(
            "hang-ups",
            "keeps serving after subscribers that hang up at once",
            survives_hang_ups,
        ),
        beyond(
            "second-server",
            match transport {
                Transport::Tcp => "refuses, clearly, a second server on the same port",
                Transport::Unix => "refuses, clearly, a second server on the same socket",
            },
            refuses_a_second_server,
        ),
        beyond(
            "missing-file",
            "refuses to start for a file that does not exist",
            refuses_a_missing_file,
        ),
    ];
    if transport == Transport::Unix {
        all.push(beyond(
            "stale-socket",
            "starts again where a killed server left its socket file",
            starts_over_a_stale_socket,
        ));
    }
    all
}

fn notices_an_atomic_save(trial: &mut Trial) -> Checked {
    noticed_and_still_watching(trial, "an atomic save", true, |file| {
        edits::atomic_save(file, "Saved by an editor.\n")
    })
}

fn notices_sed_in_place(trial: &mut Trial) -> Checked {
    noticed_and_still_watching(trial, "`sed -i`", true, edits::sed_in_place)
}

/// `cp` truncates and writes in place: the OS reports two modifications,
/// and whether a server that notifies per OS event sends one line or two
/// depends on whether it read the first before the second came. A grade
/// must not depend on that race, so this behaviour does not count lines;
/// a server that sends a line per event is caught by `does_not_flood`.
fn notices_a_copy_over_it(trial: &mut Trial) -> Checked {
    noticed_and_still_watching(trial, "a copy by `cp`", false, |file| {
        edits::copy_over(file, "Copied over.\n")
    })
}

/// Makes `change` (called `what`), then touches the file: a correct
/// server notifies once for each (if `once`; at least once otherwise).
fn noticed_and_still_watching(
    trial: &mut Trial,
    what: &str,
    once: bool,
    change: impl FnOnce(&Path) -> io::Result<()>,
) -> Checked {
    let settings = trial.subject.settings().clone();
    let mut server = trial.subject.start()?;
    let mut subscriber = first_subscriber(&mut server, trial)?;
    settle(&server, trial);
    let made = Made::now();
    change(&server.file).map_err(|error| grader_trouble(what, &error))?;
    let mut heard = subscriber.lines_until_quiet(settings.patience, settings.quiet, 10);
    // A greeting sent again (some servers send it before each
    // notification) is not a notification: neither kept nor counted.
    let kept = heard.lines.len();
    heard.lines.retain(|line| !is_greeting(line));
    heard.count -= kept - heard.lines.len();
    if let Some(first) = heard.first_arrival {
        trial.clocked(first - made.at);
    }
    let touched = touch(&server)?;
    let after = listen_for_change(&mut server, trial, &mut subscriber, touched);

    let expected = if once {
        format!("one notification for {what}, and one for a touch after it")
    } else {
        format!("a notification for {what}, and one for a touch after it")
    };
    let for_the_change = match heard.count {
        0 => "nothing for it".to_owned(),
        1 => "one notification for it".to_owned(),
        count => format!("{count} notifications for it"),
    };
    if let Err(Unheard { silence, note }) = after {
        let got = match silence {
            // Nothing came: the watch ended, whatever else runs on.
            Silence::Nothing { .. } => format!(
                "{for_the_change}, then {silence} for a touch after it: the watch ended{note}"
            ),
            // The connection ended, which says nothing of the watch.
            _ => format!("{for_the_change}, then, for a touch after it, {silence}{note}"),
        };
        return Err(Failure::new(expected, got).into());
    }
    if heard.count == 0 {
        return Err(Failure::new(
            expected,
            format!("nothing for {what} (a touch after it was told)"),
        )
        .into());
    }
    if once && heard.count > 1 {
        return Err(Failure::new(
            expected,
            format!("{} notifications for one save", heard.count),
        )
        .into());
    }
    Ok(())
}

/// How many appends `does_not_flood` makes, and how far apart.
const APPENDS: usize = 300;
const APPEND_GAP: Duration = Duration::from_millis(1);

/// The most notifications a server that merges changes may send for
/// appends made over `took`: 30 (a tenth of the appends), or one per
/// 20 ms of appending if the machine made them slower than planned. A
/// server that merges (polls, or settles a burst) sends about one per
/// period of its own, so its count grows with the time the appends take;
/// one that sends a line per OS event sends about one per append, however
/// long they take, and stays far above either.
fn most_notifications(took: Duration) -> usize {
    (APPENDS / 10).max((took.as_millis() / 20) as usize)
}

fn does_not_flood(trial: &mut Trial) -> Checked {
    let settings = trial.subject.settings().clone();
    let mut server = trial.subject.start()?;
    let mut subscriber = first_subscriber(&mut server, trial)?;
    settle(&server, trial);
    let started = Instant::now();
    for number in 0..APPENDS {
        edits::append(&server.file, &format!("append {number}"))
            .map_err(|error| grader_trouble("an append", &error))?;
        // Spread over a third of a second, as a busy log writer does, so
        // that each append is an OS event of its own: appends made all at
        // once are merged by the OS's own queue before any server sees them.
        thread::sleep(APPEND_GAP);
    }
    let took = started.elapsed();
    let heard = subscriber.lines_until_quiet(settings.patience, settings.quiet, 3);
    let most = most_notifications(took);
    let expected = format!(
        "between 1 and {most} notifications for {APPENDS} appends made over {} ms",
        took.as_millis()
    );
    if heard.count == 0 {
        return Err(Failure::new(
            expected,
            format!("none ({}){}", heard.ending, server.exit_note()),
        )
        .into());
    }
    if heard.count > most {
        return Err(Failure::new(expected, format!("{} notifications", heard.count)).into());
    }
    Ok(())
}

/// How long, and for how many changes, `a_silent_subscriber_…` goes on:
/// at least [`SILENT_FOR`] and [`SILENT_AT_LEAST`] changes, at most
/// [`SILENT_CHANGES`] changes or [`SILENT_AT_MOST`]. A Unix socket holds
/// about 280 lines of 60 bytes before a write to it blocks (measured on
/// this project's machine); counting changes, not only time, makes a
/// server that blocks on it fail however slow the machine is.
const SILENT_FOR: Duration = Duration::from_secs(3);
const SILENT_AT_LEAST: usize = 400;
const SILENT_CHANGES: usize = 1000;
const SILENT_AT_MOST: Duration = Duration::from_secs(10);

/// Whether `a_silent_subscriber_…` makes another change, after `changes`
/// over `elapsed`.
fn silent_goes_on(changes: usize, elapsed: Duration) -> bool {
    changes < SILENT_CHANGES
        && elapsed < SILENT_AT_MOST
        && (elapsed < SILENT_FOR || changes < SILENT_AT_LEAST)
}

/// A server that writes to every subscriber in turn, waiting for each
/// write, stops for everyone once a subscriber's socket is full. Reading
/// subscriber 1 change after change, while another never reads, shows
/// it: a server that sends a line per change fills the silent one's
/// socket (a few kilobytes with the smallest receive buffer over TCP,
/// about 280 lines on a Unix socket) within a few hundred changes.
fn a_silent_subscriber_does_not_stop_the_others(trial: &mut Trial) -> Checked {
    let settings = trial.subject.settings().clone();
    let mut server = trial.subject.start()?;
    let mut reader = first_subscriber(&mut server, trial)?;
    let _silent = match Subscriber::that_never_reads(&server.address, settings.patience) {
        Ok(silent) => silent,
        // The connection may have failed because the server is gone: then
        // that is the failure, not the grader's trouble.
        Err(error) => match server.exit_note() {
            exit if exit.is_empty() => {
                return Err(grader_trouble("a subscriber that never reads", &error).into());
            }
            exit => {
                return Err(Failure::new(
                    format!("the server to accept a subscriber on {}", server.address),
                    format!("the connection failed: {error}{exit}"),
                )
                .into());
            }
        },
    };
    settle(&server, trial);
    let started = Instant::now();
    let mut changes = 0;
    while silent_goes_on(changes, started.elapsed()) {
        let made = Made::now();
        edits::append(&server.file, &format!("change {changes}"))
            .map_err(|error| grader_trouble("an append", &error))?;
        changes += 1;
        let when = format!(
            "for change {changes}, while another subscriber has read nothing for {} ms",
            started.elapsed().as_millis()
        );
        expect_change(&mut server, trial, &mut reader, made, &when)?;
    }
    Ok(())
}

/// How many subscribers `survives_hang_ups` connects and drops.
const HANG_UPS: usize = 20;

/// How many changes `survives_hang_ups` makes after the hang-ups: as
/// after a departure, a server that never notices them fails on the
/// second write to their sockets, not the first; and one that writes to
/// subscriber 1 before them has told it that second change before it
/// dies. The third is the one that never comes.
const CHANGES_AFTER_HANG_UPS: usize = 3;

/// A health check connects, reads what the server says first, and leaves;
/// many at once. Then the changes must still reach subscriber 1, which
/// stayed.
fn survives_hang_ups(trial: &mut Trial) -> Checked {
    let mut server = trial.subject.start()?;
    let mut subscriber = first_subscriber(&mut server, trial)?;
    let greets = trial.subject.greets();
    let deadline = Instant::now() + trial.subject.settings().patience;
    // All connected first, then each left, so that they are there at once.
    let hung_up: Vec<_> = (0..HANG_UPS)
        .filter_map(|_| server.address.connect().ok())
        .collect();
    for mut stream in hung_up {
        hang_up(&mut stream, greets, deadline);
    }
    settle(&server, trial);
    for change in 1..=CHANGES_AFTER_HANG_UPS {
        let made = touch(&server)?;
        expect_change(
            &mut server,
            trial,
            &mut subscriber,
            made,
            &format!(
                "for subscriber 1, change {change} of {CHANGES_AFTER_HANG_UPS} after {HANG_UPS} others hung up at once"
            ),
        )?;
    }
    Ok(())
}

/// Leaves a connection as a health check does: once the greeting (if the
/// program greets) has been read, or at `deadline`.
///
/// Why read it: a socket closed with bytes it has not read is reset (RST)
/// rather than closed (FIN), and whether the greeting has arrived by then
/// is a race. A Node program with no `'error'` handler, like the book's,
/// dies of a reset (`Error: read ECONNRESET`) and lives through a close,
/// so with a race here its verdict would depend on the machine's load.
/// Read first, every hang-up is a close, and the verdict is the same run
/// after run.
fn hang_up(stream: &mut Stream, greets: bool, deadline: Instant) {
    let mut buffer = [0u8; 1024];
    let mut read_a_line = !greets;
    while !read_a_line {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match stream.read_within(&mut buffer, left) {
            Ok(0) | Err(_) => break,
            Ok(n) => read_a_line = buffer[..n].contains(&b'\n'),
        }
    }
    // Whatever came with the line is read too, so that nothing is left;
    // until the deadline, for a program that never stops sending.
    while Instant::now() < deadline
        && let Ok(1..) = stream.read_within(&mut buffer, Duration::from_millis(1))
    {}
}

fn refuses_a_second_server(trial: &mut Trial) -> Checked {
    let subject = trial.subject;
    let settings = subject.settings().clone();
    let mut first = subject.start()?;
    let mut subscriber = first_subscriber(&mut first, trial)?;
    let other = subject.prepare()?;
    let mut second = subject.spawn(&other.file, &first.address)?;
    let expected = format!(
        "the second server to exit with an error on stderr about {}, and the first to go on",
        first.address
    );
    match second.wait_for_exit(settings.start_timeout) {
        None => {
            // A newcomer greeted with the second server's file shows that
            // it shares the address (SO_REUSEPORT), or took it over.
            let greeted = first
                .connect(settings.patience)
                .ok()
                .and_then(|mut newcomer| newcomer.next_within(subject.greeting_wait()).ok());
            let took_over = match greeted {
                Some(greeting) if greeting.contains(&*other.file.to_string_lossy()) => {
                    "; a new subscriber was greeted by the second server: it took the address over"
                }
                _ => "",
            };
            return Err(Failure::new(
                expected,
                format!(
                    "it was still running after {} s{took_over}",
                    settings.start_timeout.as_secs_f64()
                ),
            )
            .into());
        }
        Some(status) if status.success() => {
            return Err(Failure::new(
                expected,
                "it exited with status 0, which says all went well",
            )
            .into());
        }
        Some(status) => {
            let stderr = second.stderr();
            let names_it = match &first.address {
                Address::Tcp(port) => stderr.contains(&port.to_string()),
                Address::Unix(path) => stderr.contains(&*path.to_string_lossy()),
            };
            if !(names_it || names_an_address_in_use(&stderr)) {
                let said = if stderr.trim().is_empty() {
                    "nothing on stderr".to_owned()
                } else {
                    format!(
                        "an error that names neither {} nor its being in use{}",
                        first.address,
                        second.output()
                    )
                };
                return Err(
                    Failure::new(expected, format!("it exited ({status}) with {said}")).into(),
                );
            }
        }
    }
    // The first server still tells its subscriber.
    settle(&first, trial);
    let made = touch(&first)?;
    expect_change(
        &mut first,
        trial,
        &mut subscriber,
        made,
        "for subscriber 1 of the first server, after the second was refused",
    )?;
    Ok(())
}

fn refuses_a_missing_file(trial: &mut Trial) -> Checked {
    let subject = trial.subject;
    let settings = subject.settings().clone();
    let scene = subject.prepare()?;
    let missing = scene.dir().join("does-not-exist.txt");
    let address = subject.expected_address(&scene.address);
    let mut process = subject.spawn(&missing, &scene.address)?;
    let expected = "it to exit with an error on stderr, before it listens".to_owned();
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(status) = process.exited() {
            process.wait_for_exit(settings.patience);
            if status.success() {
                return Err(Failure::new(
                    expected,
                    "it exited with status 0, which says all went well",
                )
                .into());
            }
            if process.stderr().trim().is_empty() {
                return Err(Failure::new(
                    expected,
                    format!("it exited ({status}) without a word on stderr"),
                )
                .into());
            }
            return Ok(());
        }
        if let Ok(connection) = address.connect() {
            let mut subscriber = Subscriber::new(connection, settings.patience);
            let first = subscriber.next_line();
            if let Err(Silence::Failed(_)) = first {
                // Reset before a byte came: not a server, but something
                // checking whether the port is free.
                thread::sleep(pause);
                continue;
            }
            let then = match &first {
                Ok(line) => {
                    let second = subscriber.next_line();
                    match second {
                        Ok(more) => format!("got {line:?}, then {more:?}"),
                        Err(silence) => format!("got {line:?}, then {silence}"),
                    }
                }
                Err(silence) => format!("got {silence}"),
            };
            process.wait_for_exit(settings.quiet);
            let exit = match process.exited() {
                Some(status) => format!("; the server then exited ({status}){}", process.output()),
                None => String::new(),
            };
            return Err(Failure::new(
                expected,
                format!("it listened on {address}, and a subscriber {then}{exit}"),
            )
            .into());
        }
        if started.elapsed() >= settings.start_timeout {
            return Err(Failure::new(
                expected,
                format!(
                    "it neither exited nor listened within {} s",
                    settings.start_timeout.as_secs_f64()
                ),
            )
            .into());
        }
        // As in `Subject::wait_until_listening`: asking again is the signal.
        thread::sleep(pause);
        pause = next_pause(pause);
    }
}

fn starts_over_a_stale_socket(trial: &mut Trial) -> Checked {
    let subject = trial.subject;
    let mut first = subject.start()?;
    first.process.kill();
    let Address::Unix(path) = first.address.clone() else {
        return Ok(());
    };
    if !path.exists() {
        // The server removed its socket even as it was killed (or never
        // made one on the file system): nothing is left in the way.
        return Ok(());
    }
    let mut second = subject.spawn(&first.file, &first.address)?;
    let verdict = subject
        .wait_until_listening(&mut second, &first.address, &first.file, false)
        .map(drop)
        .map_err(|stop| match stop {
            Stop::Fail(failure) => Stop::Fail(Failure {
                expected: format!(
                    "{}, although a killed server left its socket file there",
                    failure.expected
                ),
                got: failure.got,
            }),
            other => other,
        });
    second.stop();
    remove_if_stale(&path);
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_subscriber_is_kept_for_enough_changes_and_time_but_not_forever() {
        let second = Duration::from_secs(1);
        assert!(silent_goes_on(0, Duration::ZERO));
        assert!(silent_goes_on(999, 2 * second), "under 3 s");
        assert!(silent_goes_on(399, 5 * second), "under 400 changes");
        assert!(!silent_goes_on(400, 3 * second));
        assert!(!silent_goes_on(1000, second), "1000 changes at most");
        assert!(!silent_goes_on(10, 10 * second), "10 s at most");
        assert!(silent_goes_on(10, 10 * second - Duration::from_millis(1)));
    }

    #[test]
    fn a_slow_machine_allows_a_merging_server_more_notifications() {
        assert_eq!(most_notifications(Duration::from_millis(300)), 30);
        assert_eq!(most_notifications(Duration::from_millis(619)), 30);
        assert_eq!(most_notifications(Duration::from_millis(620)), 31);
        assert_eq!(most_notifications(Duration::from_millis(1661)), 83);
    }

    /// A server that greets and then reads, as Node's sockets do, and says
    /// how its read ended once the grader has left: through `hang_up`, or
    /// by closing at once.
    fn a_greeting_server_sees(through_hang_up: bool) -> io::Result<usize> {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            peer.write_all(b"Now watching \"target.txt\" for changes...\n")
                .unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            peer.read(&mut [0u8; 64])
        });
        let tcp = std::net::TcpStream::connect(address).unwrap();
        // The greeting is there, unread, before the hang-up starts: the
        // case where a socket closed at once would be reset.
        tcp.peek(&mut [0u8; 1]).unwrap();
        let mut stream = Stream::Tcp(tcp);
        if through_hang_up {
            hang_up(&mut stream, true, Instant::now() + Duration::from_secs(5));
        }
        drop(stream);
        server.join().unwrap()
    }

    #[test]
    fn a_hang_up_reads_the_greeting_first_so_that_the_server_sees_a_close_not_a_reset() {
        assert_eq!(a_greeting_server_sees(true).unwrap(), 0, "a close (FIN)");
        let unread = a_greeting_server_sees(false).unwrap_err();
        assert_eq!(
            unread.kind(),
            io::ErrorKind::ConnectionReset,
            "closed unread, the same socket is reset: what the read is for"
        );
    }
}

#[cfg(test)]
mod fake_tests {
    use super::*;
    use crate::grade::Settings;
    use crate::grade::fakes::{all_passed, failure, grade_fake, grade_fake_with, server, verdict};
    use crate::grade::verdict::Verdict;
    use crate::protocol::Protocol;

    const TEXT: super::super::Role = server(Protocol::Text, Transport::Tcp);
    const UNIX: super::super::Role = server(Protocol::Text, Transport::Unix);
    const FAKE_PATIENCE: Duration = Duration::from_secs(2);
    const SAVES: [&str; 3] = ["atomic-save", "sed-in-place", "copy-over"];

    #[test]
    fn a_right_server_passes_every_behaviour_beyond_the_práctica() {
        let tcp = [
            "atomic-save",
            "sed-in-place",
            "copy-over",
            "flood",
            "silent-subscriber",
            "hang-ups",
            "second-server",
            "missing-file",
        ];
        all_passed(&grade_fake(TEXT, &[], &tcp, FAKE_PATIENCE));
        let unix = [
            "hang-ups",
            "second-server",
            "missing-file",
            "stale-socket",
            "silent-subscriber",
        ];
        all_passed(&grade_fake(UNIX, &[], &unix, FAKE_PATIENCE));
    }

    #[test]
    fn a_server_that_watches_the_file_it_opened_misses_a_save_by_rename() {
        let report = grade_fake(TEXT, &["watch-inode"], &SAVES, FAKE_PATIENCE);
        assert_eq!(
            failure(&report, "atomic-save"),
            &Failure::new(
                "one notification for an atomic save, and one for a touch after it",
                "nothing for it, then nothing within 2 s for a touch after it: the watch ended"
            )
        );
        assert_eq!(
            failure(&report, "sed-in-place").expected,
            "one notification for `sed -i`, and one for a touch after it"
        );
        assert_eq!(verdict(&report, "copy-over"), &Verdict::Pass);
    }

    #[test]
    fn two_notifications_for_one_save_fail_a_save_but_not_a_copy() {
        let report = grade_fake(TEXT, &["twice"], &SAVES, FAKE_PATIENCE);
        assert_eq!(
            failure(&report, "atomic-save").got,
            "2 notifications for one save"
        );
        assert_eq!(verdict(&report, "copy-over"), &Verdict::Pass);
    }

    #[test]
    fn a_server_that_never_notifies_fails_and_the_watch_is_said_to_end() {
        let ids = ["copy-over", "flood", "hang-ups"];
        let report = grade_fake(TEXT, &["never-notifies"], &ids, FAKE_PATIENCE);
        assert_eq!(
            failure(&report, "copy-over"),
            &Failure::new(
                "a notification for a copy by `cp`, and one for a touch after it",
                "nothing for it, then nothing within 2 s for a touch after it: the watch ended"
            )
        );
        let flood = failure(&report, "flood");
        assert!(
            flood.expected.starts_with("between 1 and ")
                && flood
                    .expected
                    .contains(" notifications for 300 appends made over "),
            "{flood}"
        );
        assert_eq!(flood.got, "none (nothing within 2 s)");
        assert_eq!(
            failure(&report, "hang-ups").expected,
            "a line \"File changed: <date>\" for subscriber 1, change 1 of 3 after 20 others hung up at once"
        );
    }

    #[test]
    fn a_notification_per_appended_line_is_a_flood() {
        let report = grade_fake(TEXT, &["floods"], &["flood"], FAKE_PATIENCE);
        let flood = failure(&report, "flood");
        let count: usize = flood
            .got
            .strip_suffix(" notifications")
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("{flood}"));
        assert!(count > 30, "{flood}");
    }

    #[test]
    fn a_server_that_waits_for_each_write_stops_for_everyone_behind_a_silent_subscriber() {
        let report = grade_fake(UNIX, &["blocks"], &["silent-subscriber"], FAKE_PATIENCE);
        let blocked = failure(&report, "silent-subscriber");
        let change: usize = blocked
            .expected
            .split(" for change ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("{blocked}"));
        assert!(change > 1, "{blocked}");
        assert!(
            blocked
                .expected
                .contains(", while another subscriber has read nothing for "),
            "{blocked}"
        );
    }

    #[test]
    fn a_server_that_dies_when_subscribers_hang_up_fails_the_hang_ups() {
        let report = grade_fake(TEXT, &["dies-on-departure"], &["hang-ups"], FAKE_PATIENCE);
        assert!(
            failure(&report, "hang-ups")
                .got
                .contains("; the server had exited (exit status: 1)"),
            "{report:?}"
        );
    }

    #[test]
    fn a_greeting_sent_again_with_a_notification_is_not_a_second_one() {
        all_passed(&grade_fake(TEXT, &["regreets"], &SAVES, FAKE_PATIENCE));
    }

    #[test]
    fn hang_ups_are_closes_not_resets_even_after_a_long_first_write() {
        // A server that dies of a reset, as the book's does, lives through
        // hang-ups that wait for its greeting, however late (here 20 ms, so
        // that it dies within the grace before the changes if a hang-up
        // does not wait), and read all it sent (here 4 KiB more in the same
        // write) before they close.
        let report = grade_fake(
            TEXT,
            &["dies-on-reset", "banner", "late-greeting"],
            &["hang-ups"],
            FAKE_PATIENCE,
        );
        assert_eq!(verdict(&report, "hang-ups"), &Verdict::Pass, "{report:?}");
    }

    #[test]
    fn a_second_server_must_exit_with_an_error_that_names_the_address_or_its_use() {
        // A server that exits is seen at once, whatever the start timeout:
        // a long one keeps a loaded machine's slow Python start from
        // failing the test. Those that stay are waited out: 5 s.
        let second = |mistakes: &[&str], role, start_timeout: u64| {
            let report = grade_fake_with(role, mistakes, &["second-server"], |settings| Settings {
                start_timeout: Duration::from_secs(start_timeout),
                patience: FAKE_PATIENCE,
                ..settings
            });
            report.outcomes[0].verdict.clone()
        };
        for says in [
            "says=cannot listen on {named}",
            "says=address in use",
            "says=EADDRINUSE",
        ] {
            assert_eq!(second(&[says], TEXT, 10), Verdict::Pass, "{says}");
        }
        assert_eq!(
            second(&["says=cannot listen on {named}"], UNIX, 10),
            Verdict::Pass
        );
        let failed = |verdict: Verdict| match verdict {
            Verdict::Fail(failure) => failure,
            other => panic!("{other:?}"),
        };
        let vague = failed(second(&["says=something went wrong"], TEXT, 10));
        assert!(
            vague
                .expected
                .starts_with("the second server to exit with an error on stderr about port "),
            "{vague}"
        );
        assert!(
            vague
                .got
                .starts_with("it exited (exit status: 1) with an error that names neither port ")
                && vague.got.ends_with(
                    " nor its being in use; on stderr it said:\n  | something went wrong"
                ),
            "{vague}"
        );
        assert_eq!(
            failed(second(&["quiet-second"], TEXT, 10)).got,
            "it exited (exit status: 1) with nothing on stderr"
        );
        assert_eq!(
            failed(second(&["second-is-fine"], TEXT, 10)).got,
            "it exited with status 0, which says all went well"
        );
        assert_eq!(
            failed(second(&["stays-when-taken"], TEXT, 5)).got,
            "it was still running after 5 s"
        );
        assert_eq!(
            failed(second(&["steals-socket"], UNIX, 5)).got,
            "it was still running after 5 s; a new subscriber was greeted by the second server: it took the address over"
        );
    }

    #[test]
    fn a_server_for_a_missing_file_must_exit_with_a_word_on_stderr() {
        // Only a program that neither exits nor listens waits the start
        // timeout out: 5 s for it, 10 s for the others (a loaded machine
        // can take seconds to start Python).
        let missing = |mistakes: &[&str], start_timeout: u64| {
            let report = grade_fake_with(TEXT, mistakes, &["missing-file"], |settings| Settings {
                start_timeout: Duration::from_secs(start_timeout),
                patience: Duration::from_millis(500),
                ..settings
            });
            match &report.outcomes[0].verdict {
                Verdict::Fail(failure) => failure.clone(),
                other => panic!("{mistakes:?}: {other:?}"),
            }
        };
        let expected = "it to exit with an error on stderr, before it listens";
        assert_eq!(
            missing(&["quiet-missing"], 10),
            Failure::new(
                expected,
                "it exited (exit status: 1) without a word on stderr"
            )
        );
        assert_eq!(
            missing(&["missing-is-fine"], 10).got,
            "it exited with status 0, which says all went well"
        );
        assert_eq!(
            missing(&["waits-for-file"], 5).got,
            "it neither exited nor listened within 5 s"
        );
        let listened = missing(&["ignores-missing"], 10).got;
        assert!(
            listened.starts_with("it listened on port ")
                && listened.contains(", and a subscriber got \"Now watching \\\"")
                && listened.ends_with(
                    "does-not-exist.txt\\\" for changes...\", then nothing within 0.5 s"
                ),
            "{listened}"
        );
        let silent = missing(&["ignores-missing", "no-greeting"], 10).got;
        assert!(
            silent.ends_with(", and a subscriber got nothing within 0.5 s"),
            "{silent}"
        );
    }

    #[test]
    fn a_server_that_keeps_a_stale_socket_file_cannot_start_again() {
        let report = grade_fake(
            UNIX,
            &["keeps-stale-socket"],
            &["stale-socket"],
            FAKE_PATIENCE,
        );
        let stale = failure(&report, "stale-socket");
        assert!(
            stale
                .expected
                .ends_with(", although a killed server left its socket file there"),
            "{stale}"
        );
        assert!(
            stale
                .got
                .starts_with("it exited (exit status: 1) before it listened"),
            "{stale}"
        );
    }
}
