//! describe: the net-watcher server, run in-process on port 0.
//!
//! Each test gets its own `target.txt` in its own temporary directory (the
//! `target` fixture) and its own server; tests wait for the greeting before
//! changing the file, since the greeting means the watch is in place.

use net_watcher::console::ConsoleEvent;
use net_watcher::protocol::{Message, Protocol};
use rstest::rstest;

use crate::support::in_process::{InProcessServer, Options, expect_change_on_each};
use crate::support::target::{TargetFile, target};

mod in_plain_text {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn greets_with_the_path_as_typed(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Text).await;
        let mut subscriber = server.subscribe().await;
        assert_eq!(
            subscriber.next_line("the greeting").await,
            format!("Now watching \"{}\" for changes...\n", target.path_str())
        );
    }

    // ANCHOR: fixture_use
    #[rstest]
    #[tokio::test]
    async fn notifies_after_a_touch(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Text).await;
        let mut subscriber = server.subscribe_greeted().await;
        target.touch();
        let line = subscriber.next_line("the change line").await;
        assert!(
            line.starts_with("File changed: ") && line.ends_with(" GMT+0000 (UTC)\n"),
            "a dated change line, got {line:?}"
        );
    }
    // ANCHOR_END: fixture_use

    #[rstest]
    #[tokio::test]
    async fn notifies_after_an_append(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Text).await;
        let mut subscriber = server.subscribe_greeted().await;
        target.append("one more line");
        subscriber.expect_change("the change line").await;
    }
}

mod in_json {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn greets_with_a_watching_message(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Json).await;
        let mut subscriber = server.subscribe().await;
        let expected = Message::Watching {
            file: target.path_str().to_owned(),
        };
        assert_eq!(
            subscriber.next_line("the greeting").await,
            expected.to_json_line()
        );
    }

    #[rstest]
    #[tokio::test]
    async fn notifies_with_the_time_of_the_change_in_milliseconds(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Json).await;
        let mut subscriber = server.subscribe_greeted().await;
        // The clock read here, not through the crate, so that a broken
        // `now_millis` cannot agree with itself.
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let before = now();
        target.touch();
        let line = subscriber.next_line("the changed message").await;
        let after = now();
        let message: Message = serde_json::from_str(&line).expect("one JSON message");
        match message {
            Message::Changed { timestamp } => assert!(
                (before..=after).contains(&timestamp),
                "timestamp {timestamp} is not between {before} and {after}"
            ),
            other => panic!("expected a changed message, got {other:?}"),
        }
        assert_eq!(line.matches('\n').count(), 1, "exactly one line: {line:?}");
    }
}

mod with_several_subscribers {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn notifies_every_one_of_them(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Text).await;
        let mut subscribers = server.subscribe_greeted_many(5).await;
        target.touch();
        expect_change_on_each(&mut subscribers, "a touch").await;
    }

    #[rstest]
    #[tokio::test]
    async fn shares_one_os_watch_and_releases_it_when_the_last_one_leaves(target: TargetFile) {
        let mut server = InProcessServer::start(&target, Protocol::Text).await;
        assert!(
            !server.notifier.is_watching(),
            "no watch before anyone subscribes"
        );
        let first = server.subscribe_greeted().await;
        let second = server.subscribe_greeted().await;
        assert_eq!(server.notifier.subscriber_count(), 2);
        assert!(
            server.notifier.is_watching(),
            "expected the OS watch in place for two subscribers, found none"
        );

        drop(first);
        server
            .expect_event(ConsoleEvent::SubscriberDisconnected)
            .await;
        assert_eq!(server.notifier.subscriber_count(), 1);
        assert!(
            server.notifier.is_watching(),
            "one subscriber still listens"
        );

        drop(second);
        server
            .expect_event(ConsoleEvent::SubscriberDisconnected)
            .await;
        assert_eq!(server.notifier.subscriber_count(), 0);
        assert!(!server.notifier.is_watching(), "the watch is released");
    }

    #[rstest]
    #[tokio::test]
    async fn tells_a_latecomer_nothing_of_changes_made_before_it_came(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Text).await;
        let mut first = server.subscribe_greeted().await;
        target.touch();
        first.expect_change("the change before the latecomer").await;

        let mut latecomer = server.subscribe_greeted().await;
        latecomer
            .expect_silence("the latecomer's greeting: the change was before its time")
            .await;
        target.touch();
        expect_change_on_each(&mut [first, latecomer], "a change made after both came").await;
    }

    #[rstest]
    #[tokio::test]
    async fn places_the_watch_again_for_a_subscriber_after_a_quiet_spell(target: TargetFile) {
        let mut server = InProcessServer::start(&target, Protocol::Text).await;
        drop(server.subscribe_greeted().await);
        server
            .expect_event(ConsoleEvent::SubscriberDisconnected)
            .await;
        assert!(
            !server.notifier.is_watching(),
            "expected the OS watch released with the last subscriber, but it is still placed"
        );

        let mut subscriber = server.subscribe_greeted().await;
        target.touch();
        subscriber
            .expect_change("a change after the watch came back")
            .await;
    }
}

mod on_the_console {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn logs_each_connect_and_disconnect(target: TargetFile) {
        let mut server = InProcessServer::start(&target, Protocol::Text).await;
        let subscriber = server.subscribe_greeted().await;
        server.expect_event(ConsoleEvent::SubscriberConnected).await;
        drop(subscriber);
        server
            .expect_event(ConsoleEvent::SubscriberDisconnected)
            .await;
    }

    #[test]
    fn uses_the_books_sentences() {
        assert_eq!(
            ConsoleEvent::SubscriberConnected.to_string(),
            "Subscriber connected."
        );
        assert_eq!(
            ConsoleEvent::SubscriberDisconnected.to_string(),
            "Subscriber disconnected."
        );
    }

    #[rstest]
    #[case::too_slow(
        ConsoleEvent::SubscriberTooSlow { timeout_ms: 300 },
        "Subscriber too slow: a write did not complete in 300 ms; disconnected."
    )]
    #[case::refused(
        ConsoleEvent::SubscriberRefused { limit: 2 },
        "Subscriber refused: the limit of 2 subscribers is reached."
    )]
    #[case::subscriber_failed(
        ConsoleEvent::SubscriberFailed("Bad file descriptor (os error 9)".into()),
        "Subscriber connection failed: Bad file descriptor (os error 9); disconnected."
    )]
    #[case::socket_options_failed(
        ConsoleEvent::SocketOptionsFailed("Invalid argument (os error 22)".into()),
        "Cannot set a subscriber's socket options: Invalid argument (os error 22); serving it with the system's defaults."
    )]
    #[case::watch_failed(
        ConsoleEvent::WatchFailed("the directory /x was removed".into()),
        "Watch failed: the directory /x was removed"
    )]
    #[case::accept_failed(
        ConsoleEvent::AcceptFailed("Too many open files".into()),
        "Accepting a connection failed: Too many open files"
    )]
    #[case::accept_failed_again_once(
        ConsoleEvent::Repeated {
            event: Box::new(ConsoleEvent::AcceptFailed("Too many open files".into())),
            times: 1,
        },
        "Accepting a connection failed: Too many open files (repeated once in the last second)"
    )]
    #[case::accept_failed_again(
        ConsoleEvent::Repeated {
            event: Box::new(ConsoleEvent::AcceptFailed("Too many open files".into())),
            times: 57,
        },
        "Accepting a connection failed: Too many open files (repeated 57 times in the last second)"
    )]
    #[case::a_burst_of_connections(
        ConsoleEvent::Repeated {
            event: Box::new(ConsoleEvent::SubscriberConnected),
            times: 299,
        },
        "Subscriber connected. (repeated 299 times in the last second)"
    )]
    #[case::listening(
        ConsoleEvent::Listening { on: "127.0.0.1:1 and [::1]:1".into() },
        "Listening for subscribers on 127.0.0.1:1 and [::1]:1..."
    )]
    #[case::the_test_service_listening(
        ConsoleEvent::TestServiceListening { on: "127.0.0.1:1".into() },
        "Test server listening for subscribers on 127.0.0.1:1..."
    )]
    #[case::the_program_about_itself(
        ConsoleEvent::Program("net-watcher: cannot listen".into()),
        "net-watcher: cannot listen"
    )]
    #[case::stdout_closed(
        ConsoleEvent::OutputFailed {
            stream: net_watcher::console::StandardStream::Stdout,
            reason: "Broken pipe (os error 32)".into(),
            closed: true,
        },
        "Cannot write to stdout: Broken pipe (os error 32); its lines are dropped from now on."
    )]
    #[case::stderr_full(
        ConsoleEvent::OutputFailed {
            stream: net_watcher::console::StandardStream::Stderr,
            reason: "No space left on device (os error 28)".into(),
            closed: false,
        },
        "Cannot write to stderr: No space left on device (os error 28); its lines are counted, and the count said there once it works again."
    )]
    #[case::one_line_lost(
        ConsoleEvent::Lost { messages: 1 },
        "1 console message could not be written (the output was full or not read)."
    )]
    #[case::lines_lost(
        ConsoleEvent::Lost { messages: 1977 },
        "1977 console messages could not be written (the output was full or not read)."
    )]
    fn says_what_went_wrong_in_one_sentence(#[case] event: ConsoleEvent, #[case] line: &str) {
        assert_eq!(event.to_string(), line);
    }
}

mod when_a_subscriber_types {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn ignores_the_input_and_keeps_notifying(target: TargetFile) {
        let server = InProcessServer::start(&target, Protocol::Text).await;
        let mut subscriber = server.subscribe_greeted().await;
        // More than any socket buffer holds: the server must keep reading and
        // discarding, or this write would block.
        let typing = b"hello server, are you there?\n".repeat(40_000);
        crate::support::within(
            "a megabyte of typing to be taken",
            subscriber.type_text(&typing),
        )
        .await;
        target.touch();
        subscriber
            .expect_change("the change line after typing")
            .await;
    }
}

mod when_a_subscriber_resets_its_connection {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    #[rstest]
    #[tokio::test]
    async fn counts_it_gone_and_keeps_notifying_the_others(target: TargetFile) {
        let mut server = InProcessServer::start(&target, Protocol::Text).await;
        let mut other = server.subscribe_greeted().await;
        let mut rude = crate::support::within(
            "a TCP connect",
            tokio::net::TcpStream::connect(server.addr()),
        )
        .await
        .unwrap();
        let mut greeting = [0u8; 256];
        let read = crate::support::within("the greeting", rude.read(&mut greeting))
            .await
            .unwrap();
        assert!(read > 0, "expected the greeting, got end of file");
        // A linger time of zero makes the close a reset (RST), not an end
        // of file: the server's next read fails with "connection reset".
        // (tokio deprecates set_linger because a non-zero linger blocks the
        // dropping thread; a zero one resets at once.)
        #[expect(deprecated)]
        rude.set_linger(Some(Duration::ZERO)).unwrap();
        drop(rude);

        server
            .expect_event(ConsoleEvent::SubscriberDisconnected)
            .await;
        assert_eq!(server.notifier.subscriber_count(), 1);
        target.touch();
        other
            .expect_change("the change, after the other subscriber's reset")
            .await;
    }

    #[rstest]
    #[tokio::test]
    async fn while_a_write_to_it_waits_ends_it_at_once_not_after_the_write_timeout(
        target: TargetFile,
    ) {
        let options = Options {
            // Far longer than the test waits: only the reset can end it.
            write_timeout: Duration::from_secs(60),
            debounce: Duration::ZERO,
            ..Options::default()
        };
        let mut server = InProcessServer::start_with(&target, options).await;
        let (stalled, mut reader) = server.subscribe_stalled_beside_a_reader().await;
        target.append_changes(3_000);
        // Once the reader hears nothing more, every change was fanned out,
        // and the stalled subscriber's write has long been waiting.
        reader.last_line_until_quiet().await;

        #[expect(deprecated)] // a zero linger resets at once; see above
        stalled.set_linger(Some(Duration::ZERO)).unwrap();
        drop(stalled);
        let event = server
            .expect_event_matching("the reset subscriber to be let go", |event| {
                matches!(
                    event,
                    ConsoleEvent::SubscriberDisconnected | ConsoleEvent::SubscriberTooSlow { .. }
                )
            })
            .await;
        assert_eq!(
            event,
            ConsoleEvent::SubscriberDisconnected,
            "a failed write should end the connection at once"
        );
        assert_eq!(server.notifier.subscriber_count(), 1);
    }
}

mod when_it_cannot_listen {
    use net_watcher::server::{self, BindError};
    use pretty_assertions::assert_eq;
    use std::error::Error;

    #[tokio::test]
    async fn names_the_address_and_keeps_the_os_error_as_the_cause() {
        // 192.0.2.1 is reserved for documentation: no machine has it, so
        // the OS refuses to bind it ("cannot assign requested address").
        let error = server::bind_tcp("192.0.2.1", 0)
            .await
            .expect_err("an address this machine does not have");
        assert!(
            matches!(&error, BindError::Io(addr, _) if addr == "192.0.2.1:0"),
            "expected an I/O error naming 192.0.2.1:0, got {error:?}"
        );
        let cause = error
            .source()
            .and_then(|cause| cause.downcast_ref::<std::io::Error>())
            .unwrap_or_else(|| panic!("expected the OS error as the cause of {error:?}"));
        assert_eq!(cause.kind(), std::io::ErrorKind::AddrNotAvailable);
        assert_eq!(
            error.to_string(),
            format!("cannot listen on 192.0.2.1:0: {cause}")
        );
    }
}

mod when_full {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn refuses_one_more_subscriber_with_a_line_and_serves_the_others(target: TargetFile) {
        let options = Options {
            max_subscribers: 1,
            ..Options::default()
        };
        let mut server = InProcessServer::start_with(&target, options).await;
        let mut served = server.subscribe_greeted().await;

        let mut refused = server.subscribe().await;
        assert_eq!(
            refused.next_line("the refusal").await,
            "Error: the server is full (1 subscriber); try again later.\n"
        );
        refused.expect_end("the refused connection to close").await;
        server
            .expect_event(ConsoleEvent::SubscriberRefused { limit: 1 })
            .await;

        target.touch();
        served.expect_change("the served subscriber's change").await;
    }
}

mod on_shutdown {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn closes_every_subscriber_with_end_of_file(target: TargetFile) {
        let mut server = InProcessServer::start(&target, Protocol::Json).await;
        let mut first = server.subscribe_greeted().await;
        let mut second = server.subscribe_greeted().await;
        server.shutdown().await;
        first
            .expect_end("end of file on the first subscriber")
            .await;
        second
            .expect_end("end of file on the second subscriber")
            .await;
        assert_eq!(server.notifier.subscriber_count(), 0);
        assert!(
            !server.notifier.is_watching(),
            "expected the OS watch released after shutdown, but it is still placed"
        );
    }
}

mod with_a_subscriber_that_never_reads {
    use super::*;
    use std::time::Duration;

    #[rstest]
    #[tokio::test]
    async fn keeps_notifying_the_others_and_drops_the_slow_one_after_the_write_timeout(
        target: TargetFile,
    ) {
        let options = Options {
            write_timeout: Duration::from_millis(300),
            debounce: Duration::ZERO,
            ..Options::default()
        };
        let mut server = InProcessServer::start_with(&target, options).await;
        // Both subscribed before the changes start.
        let (stalled, mut reader) = server.subscribe_stalled_beside_a_reader().await;
        // Changes until the stalled one is dropped, not a fixed number of
        // them: see `keep_appending`.
        let appending = target.keep_appending();
        server
            .expect_event(ConsoleEvent::SubscriberTooSlow { timeout_ms: 300 })
            .await;
        appending.stop();
        // The reader is not held back: it sees the latest change, and then
        // a new one promptly.
        let last = reader.last_line_until_quiet().await;
        assert!(last.starts_with("File changed: "), "got {last:?}");
        target.touch();
        reader
            .expect_change("a change after the slow one was dropped")
            .await;
        assert_eq!(
            server.notifier.subscriber_count(),
            1,
            "only the reader is left"
        );
        drop(stalled);
    }
}

mod with_a_subscriber_that_falls_behind {
    use super::*;
    use crate::support::in_process::Subscriber;
    use pretty_assertions::assert_eq;
    use std::time::Duration;

    #[rstest]
    #[tokio::test]
    async fn gets_the_latest_change_once_it_reads_again(target: TargetFile) {
        let options = Options {
            protocol: Protocol::Json,
            // Longer than the test: falling behind is not being too slow.
            write_timeout: Duration::from_secs(60),
            debounce: Duration::ZERO,
            ..Options::default()
        };
        let mut server = InProcessServer::start_with(&target, options).await;
        // No reading from this one for now: the server's socket to it fills
        // up, and the changes that come then can only be written later, by
        // its task.
        let (behind, mut reader) = server.subscribe_stalled_beside_a_reader().await;
        let mut behind = Subscriber::from_tcp(behind);
        target.append_changes(3_000);
        // The reader, never behind, ends on the latest change once every
        // change has been fanned out.
        let latest = reader.last_line_until_quiet().await;
        assert!(latest.contains("\"changed\""), "got {latest:?}");

        // Now the one behind reads everything it was sent: the last line
        // must be that same latest change (changes in between may have been
        // skipped; only the latest matters).
        let caught_up = behind.last_line_until_quiet().await;
        assert_eq!(caught_up, latest);
    }
}

mod after_many_subscribers_come_and_go {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn counts_none_and_holds_no_watch(target: TargetFile) {
        let mut server = InProcessServer::start(&target, Protocol::Text).await;
        for round in 0..20 {
            let mut batch = Vec::new();
            for _ in 0..10 {
                batch.push(server.subscribe_greeted().await);
            }
            assert_eq!(server.notifier.subscriber_count(), 10, "round {round}");
            drop(batch);
            for _ in 0..10 {
                server
                    .expect_event(ConsoleEvent::SubscriberDisconnected)
                    .await;
            }
            assert_eq!(server.notifier.subscriber_count(), 0, "round {round}");
            assert!(
                !server.notifier.is_watching(),
                "round {round}: the watch is released"
            );
        }
        // And the watch comes back for the next one.
        let mut subscriber = server.subscribe_greeted().await;
        target.touch();
        subscriber.expect_change("a change after the churn").await;
    }
}

mod with_hundreds_of_subscribers {
    use super::*;
    use net_watcher::notifier::SPLIT_FAN_OUT_AT;

    /// Past `SPLIT_FAN_OUT_AT` greeted subscribers, helper tasks write some
    /// of the shards: every subscriber must be notified, every time.
    #[rstest]
    #[tokio::test]
    async fn notifies_every_one_whichever_thread_writes_to_it(target: TargetFile) {
        let options = Options {
            max_subscribers: 1_000,
            ..Options::default()
        };
        let server = InProcessServer::start_with(&target, options).await;
        let mut subscribers = server.subscribe_greeted_many(SPLIT_FAN_OUT_AT + 44).await;
        for change in 0..2 {
            target.touch();
            expect_change_on_each(&mut subscribers, &format!("change {change}")).await;
        }
    }
}
