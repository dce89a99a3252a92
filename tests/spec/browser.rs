//! describe: `net-watcher --http`, a browser's side of the server (chapter
//! 13): the page, the live-reload script, and the stream of Server-Sent
//! Events, asked for by hand over a socket as a browser asks.
//!
//! In-process specs run on a multi-threaded runtime: the spec's client
//! reads with blocking sockets (bounded by `PATIENCE`) on the test's own
//! thread while the server runs on the runtime's workers.

use std::time::Duration;

use net_watcher::browser::{GRACE_WHEN_FULL, PAGE, PENDING_REQUESTS, RELOAD_SCRIPT};
use net_watcher::console::ConsoleEvent;
use net_watcher::protocol::Protocol;
use pretty_assertions::assert_eq;
use rstest::rstest;
use tokio::io::AsyncWriteExt;

use crate::support::binary::{Spawned, TestServer, command, limit_open_files};
use crate::support::http::{Event, Reply, get, request, send};
use crate::support::in_process::{InProcessServer, Options, connect_stalled};
use crate::support::redis_server::{redis_server, start_edge, start_publisher};
use crate::support::target::{TargetFile, target};

/// In-process options: a server that also serves browsers.
fn serving_browsers() -> Options {
    Options {
        http: true,
        ..Options::speaking(Protocol::Json)
    }
}

/// Opens a stream on `server` with `headers`, checks its head, and returns
/// it with its first event (the `watching` one) read.
fn open_stream(server: &InProcessServer, headers: &[(&str, &str)]) -> (Reply, Event) {
    let mut stream = get(server.http_addr(), "/events", headers);
    assert_eq!(stream.status(), 200, "{}", stream.status_line);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    let watching = stream.next_event("the watching event");
    assert_eq!(watching.field("event"), Some("watching"), "{watching:?}");
    (stream, watching)
}

/// The `LIFE` part of an event's `LIFE-SEQ` id, and its `SEQ`.
fn id_of(event: &Event) -> (u64, u64) {
    let id = event
        .field("id")
        .unwrap_or_else(|| panic!("no id in {event:?}"));
    let (life, seq) = id
        .split_once('-')
        .unwrap_or_else(|| panic!("the id {id:?} is not LIFE-SEQ"));
    (life.parse().unwrap(), seq.parse().unwrap())
}

/// The next event of `stream`, which must be a change; returns its id's
/// number.
fn expect_changed(stream: &mut Reply, what: &str) -> u64 {
    let event = stream.next_event(what);
    assert_eq!(event.field("event"), Some("changed"), "{what}: {event:?}");
    let json = event.json();
    assert_eq!(json["type"], "changed", "{what}: {event:?}");
    assert!(json["timestamp"].is_u64(), "{what}: {event:?}");
    id_of(&event).1
}

mod the_page {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn is_served_at_the_root_with_no_outside_assets(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let reply = get(server.http_addr(), "/", &[]);
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let body = reply.body();
        assert_eq!(body, PAGE);
        assert!(body.contains("new EventSource(\"/events\")"));
        for outside in ["src=", "href=", "@import", "url("] {
            assert!(!body.contains(outside), "the page loads {outside}");
        }
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn answers_head_with_the_headers_and_no_body(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let reply = send(server.http_addr(), request("HEAD", "/", &[]).as_bytes());
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.header("content-length"),
            Some(PAGE.len().to_string().as_str())
        );
        assert_eq!(reply.body(), "");
    }
}

mod the_reload_script {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn is_served_as_javascript(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let reply = get(server.http_addr(), "/reload.js", &[]);
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(reply.body(), RELOAD_SCRIPT);
    }
}

mod any_other_request {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn gets_404(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        for (method, path) in [
            ("GET", "/nothing-here"),
            ("GET", "/events/more"),
            ("POST", "/"),
            ("POST", "/events"),
            ("HEAD", "/events"),
            ("DELETE", "/reload.js"),
        ] {
            let reply = send(server.http_addr(), request(method, path, &[]).as_bytes());
            assert_eq!(reply.status(), 404, "{method} {path}");
            // An answer to HEAD has the headers of the answer to GET, and no
            // body.
            let said = match method {
                "HEAD" => "",
                _ => "Not found: net-watcher serves /, /events and /reload.js.\n",
            };
            assert_eq!(reply.body(), said, "{method} {path}");
        }
    }
}

mod a_request_that_is_not_http {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn gets_400_at_once_and_the_server_serves_on(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        for junk in [
            &b"hello\r\n\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ] {
            let reply = send(server.http_addr(), junk);
            assert_eq!(reply.status(), 400, "{junk:?}");
        }
        let (mut stream, _) = open_stream(&server, &[]);
        target.touch();
        expect_changed(&mut stream, "a change after the bad requests");
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn that_never_ends_its_head_is_closed_after_the_write_timeout(target: TargetFile) {
        let options = Options {
            write_timeout: Duration::from_millis(300),
            ..serving_browsers()
        };
        let server = InProcessServer::start_with(&target, options).await;
        let stream = std::net::TcpStream::connect(server.http_addr()).unwrap();
        let mut half = crate::support::binary::LineReader::new(stream);
        half.type_text("GET /events HTTP/1.1\r\nHost: loc");
        half.expect_end("the connection closed, its request unfinished");
        assert_eq!(server.notifier.subscriber_count(), 0);
    }
}

mod a_stream {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn starts_with_a_watching_event_naming_the_file_as_ldj_does(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let (stream, watching) = open_stream(&server, &[]);
        assert_eq!(stream.header("cache-control"), Some("no-store"));
        assert_eq!(stream.header("access-control-allow-origin"), Some("*"));
        assert_eq!(watching.field("retry"), Some("1000"));
        assert_eq!(
            watching.field("data"),
            Some(format!("{{\"type\":\"watching\",\"file\":{:?}}}", target.path_str()).as_str())
        );
        let (life, seq) = id_of(&watching);
        assert_eq!(seq, 0, "no change yet");
        assert!(life > 1_700_000_000_000, "a life in milliseconds: {life}");
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn tells_each_change_as_a_changed_event_numbered_in_turn(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let (mut stream, watching) = open_stream(&server, &[]);
        target.touch();
        assert_eq!(expect_changed(&mut stream, "the first change"), 1);
        target.append("more");
        assert_eq!(expect_changed(&mut stream, "the second change"), 2);
        let _ = watching;
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn is_told_the_same_change_as_a_tcp_subscriber(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let mut tcp = server.subscribe_greeted().await;
        let (mut stream, _) = open_stream(&server, &[]);
        target.touch();
        let line = tcp.next_line("the change, over TCP").await;
        let event = stream.next_event("the change, as an event");
        assert_eq!(
            event.field("data"),
            Some(line.trim_end()),
            "the same JSON as the LDJ line"
        );
    }
}

mod when_a_browser_reconnects {
    use super::*;
    use pretty_assertions::assert_eq;

    /// A server that has told two changes to a stream, and the id of the
    /// first and of the second.
    async fn after_two_changes(target: &TargetFile) -> (InProcessServer, String, String) {
        let server = InProcessServer::start_with(target, serving_browsers()).await;
        let (mut stream, watching) = open_stream(&server, &[]);
        let (life, _) = id_of(&watching);
        target.touch();
        expect_changed(&mut stream, "the first change");
        target.append("second");
        expect_changed(&mut stream, "the second change");
        (server, format!("{life}-1"), format!("{life}-2"))
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn with_an_id_behind_the_latest_it_gets_the_latest_at_once(target: TargetFile) {
        let (server, first, second) = after_two_changes(&target).await;
        let (mut stream, watching) = open_stream(&server, &[("Last-Event-ID", &first)]);
        assert_eq!(watching.field("id"), Some(first.as_str()));
        let event = stream.next_event("the latest change, at once");
        assert_eq!(event.field("id"), Some(second.as_str()));
        stream.expect_silence("the latest change: only the latest is owed");
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn with_the_latest_id_it_gets_nothing_until_the_next_change(target: TargetFile) {
        let (server, _, second) = after_two_changes(&target).await;
        let (mut stream, watching) = open_stream(&server, &[("Last-Event-ID", &second)]);
        assert_eq!(watching.field("id"), Some(second.as_str()));
        stream.expect_silence("the greeting of a browser that saw the latest change");
        target.touch();
        assert_eq!(expect_changed(&mut stream, "the next change"), 3);
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn with_an_id_of_an_earlier_run_it_gets_the_latest_at_once(target: TargetFile) {
        let (server, _, second) = after_two_changes(&target).await;
        // Change 57 of a run that started in 2020: a bigger number than
        // this run's, and behind every one of its changes.
        let (mut stream, _) = open_stream(&server, &[("Last-Event-ID", "1600000000000-57")]);
        let event = stream.next_event("the latest change, at once");
        assert_eq!(event.field("id"), Some(second.as_str()));
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn before_any_change_it_gets_only_the_greeting(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let (mut stream, _) = open_stream(&server, &[("Last-Event-ID", "1600000000000-57")]);
        stream.expect_silence("the greeting of a server that has seen no change");
    }
}

mod when_full {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stream_over_the_limit_gets_503_with_the_reason(target: TargetFile) {
        let options = Options {
            max_subscribers: 2,
            ..serving_browsers()
        };
        let mut server = InProcessServer::start_with(&target, options).await;
        // A TCP subscriber and a stream: both count.
        let _tcp = server.subscribe_greeted().await;
        let _stream = open_stream(&server, &[]);
        let refused = get(server.http_addr(), "/events", &[]);
        assert_eq!(refused.status(), 503);
        assert_eq!(
            refused.body(),
            "the server is full (2 subscribers); try again later.\n"
        );
        server
            .expect_event(ConsoleEvent::SubscriberRefused { limit: 2 })
            .await;
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_flood_of_streams_over_the_limit_is_refused_while_the_streams_in_are_told(
        target: TargetFile,
    ) {
        let options = Options {
            max_subscribers: 2,
            ..serving_browsers()
        };
        let server = InProcessServer::start_with(&target, options).await;
        let (mut first, _) = open_stream(&server, &[]);
        let (mut second, _) = open_stream(&server, &[]);
        let addr = server.http_addr();
        let flood: Vec<_> = (0..40)
            .map(|_| std::thread::spawn(move || get(addr, "/events", &[]).status()))
            .collect();
        for asked in flood {
            assert_eq!(asked.join().unwrap(), 503);
        }
        target.touch();
        expect_changed(&mut first, "the change, on the first stream");
        expect_changed(&mut second, "the change, on the second stream");
        assert_eq!(server.notifier.subscriber_count(), 2);
    }
}

mod with_connections_that_ask_for_nothing {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stream_still_gets_the_one_place_left(target: TargetFile) {
        let options = Options {
            max_subscribers: 1,
            ..serving_browsers()
        };
        let server = InProcessServer::start_with(&target, options).await;
        // Only a stream is a subscriber: connections that have not asked
        // for one (yet) take no place. Three times the connections that
        // may wait for their request at once: had each kept its place for
        // the whole request timeout (5 s), the stream would have waited
        // 15 s, more than the test's patience. Once every place is taken,
        // one that has waited a second gives its place up.
        let idle: Vec<_> = (0..3 * PENDING_REQUESTS)
            .map(|_| std::net::TcpStream::connect(server.http_addr()).unwrap())
            .collect();
        let (mut stream, _) = open_stream(&server, &[]);
        target.touch();
        expect_changed(&mut stream, "the change, with 24 idle connections beside");
        drop(idle);
    }

    /// A full house is not a reason to drop a browser that is merely slow:
    /// each connection keeps its place for its grace, crowded or not.
    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn that_fill_every_place_each_get_their_grace_before_giving_way(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let slow: Vec<_> = (0..PENDING_REQUESTS)
            .map(|_| std::net::TcpStream::connect(server.http_addr()).unwrap())
            .collect();
        // The subject: peers a little slow to send their requests, while
        // every place is taken. A tenth of the grace, from their connect
        // (their grace counts from their accept, which comes later).
        std::thread::sleep(GRACE_WHEN_FULL / 10);
        for (i, connection) in slow.into_iter().enumerate() {
            let mut connection = connection;
            std::io::Write::write_all(&mut connection, request("GET", "/", &[]).as_bytes())
                .unwrap();
            let reply = Reply::read(crate::support::binary::LineReader::new(connection));
            assert_eq!(reply.status(), 200, "connection {i}: {}", reply.status_line);
        }
    }

    /// The grace is cut short only while every place is taken: once the
    /// crowd has gone, a connection may take its time again (up to the
    /// request timeout).
    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn once_the_crowd_has_gone_may_take_longer_than_the_grace(target: TargetFile) {
        let server = InProcessServer::start_with(&target, serving_browsers()).await;
        let crowd: Vec<_> = (0..=PENDING_REQUESTS)
            .map(|_| std::net::TcpStream::connect(server.http_addr()).unwrap())
            .collect();
        // Answered once the crowd ahead of it has given way: the server
        // has a place for every connection again.
        let (_stream, _) = open_stream(&server, &[]);
        drop(crowd);
        let mut slow = std::net::TcpStream::connect(server.http_addr()).unwrap();
        // The subject: a peer slower than the grace, with places free.
        std::thread::sleep(2 * GRACE_WHEN_FULL);
        std::io::Write::write_all(&mut slow, request("GET", "/", &[]).as_bytes()).unwrap();
        let reply = Reply::read(crate::support::binary::LineReader::new(slow));
        assert_eq!(reply.status(), 200, "{}", reply.status_line);
    }

    /// As reviewed: each connection held a descriptor for up to the write
    /// timeout (30 s) before its request, and nothing bounded how many
    /// did. Under 64 open files, a hundred idle connections took every
    /// descriptor: accepting failed, and a TCP subscriber heard nothing.
    /// Now a few wait for their request at a time, each a few seconds at
    /// most; the rest wait in the kernel's backlog, costing nothing.
    #[rstest]
    fn a_hundred_cost_a_tcp_subscriber_nothing_and_are_closed_in_turn(target: TargetFile) {
        let server = TestServer::start_configured(
            "net-watcher",
            &[target.path_str(), "--port", "0", "--http", "127.0.0.1:0"],
            |command| limit_open_files(command, 64, 64),
        );
        let idle: Vec<_> = (0..100)
            .map(|_| std::net::TcpStream::connect(http_addr(&server)).unwrap())
            .collect();
        let mut subscriber = server.connect();
        let greeting = subscriber.next_line("the greeting, with 100 idle connections beside");
        assert!(greeting.starts_with("Now watching "), "{greeting:?}");
        // The first was accepted first: it is closed once it has waited
        // its few seconds (the reader fails the test after PATIENCE).
        let mut first = crate::support::binary::LineReader::new(idle[0].try_clone().unwrap());
        first.expect_end("the idle connection closed, having asked for nothing");
        let said = server.process.stderr();
        assert!(!said.contains("Accepting"), "{said}");
    }

    /// The few accepted before their request have descriptors of their
    /// own: a server full of subscribers, with as many of them as may be,
    /// still has one to refuse the next subscriber with a line.
    #[rstest]
    fn leave_a_full_server_the_descriptors_to_refuse_with_a_line(target: TargetFile) {
        let server = TestServer::start_configured(
            "net-watcher",
            &[target.path_str(), "--port", "0", "--http", "127.0.0.1:0"],
            |command| limit_open_files(command, 64, 64),
        );
        let before = server.process.open_files();
        let idle: Vec<_> = (0..net_watcher::browser::PENDING_REQUESTS)
            .map(|_| std::net::TcpStream::connect(http_addr(&server)).unwrap())
            .collect();
        server.process.wait_for_open_files(before + idle.len());
        let mut greeted = Vec::new();
        let refusal = loop {
            let mut subscriber = server.connect();
            let line = subscriber.next_line(&format!("a line for subscriber {}", greeted.len()));
            if !line.starts_with("Now watching ") {
                break line;
            }
            greeted.push(subscriber);
            assert!(greeted.len() < 64, "more greeted than the limit allows");
        };
        assert!(
            refusal.starts_with("Error: the server is full"),
            "{refusal:?}"
        );
        // And the refusal did not wait for them to be dropped (after 5 s):
        // the first is still open, with nothing to read.
        idle[0].set_nonblocking(true).unwrap();
        let still_open = std::io::Read::read(&mut &idle[0], &mut [0; 1]);
        assert!(
            still_open
                .as_ref()
                .is_err_and(|error| error.kind() == std::io::ErrorKind::WouldBlock),
            "the refusal came only once the idle connections were dropped: {still_open:?}"
        );
    }
}

mod with_a_stream_that_never_reads {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn it_is_dropped_after_the_write_timeout_while_another_is_told(target: TargetFile) {
        let options = Options {
            write_timeout: Duration::from_millis(300),
            debounce: Duration::ZERO,
            ..serving_browsers()
        };
        let mut server = InProcessServer::start_with(&target, options).await;
        let mut stalled = connect_stalled(server.http_addr()).await;
        stalled
            .write_all(request("GET", "/events", &[]).as_bytes())
            .await
            .unwrap();
        server.expect_event(ConsoleEvent::SubscriberConnected).await;
        let (mut reader, _) = open_stream(&server, &[]);
        server.expect_event(ConsoleEvent::SubscriberConnected).await;

        let appending = target.keep_appending();
        server
            .expect_event(ConsoleEvent::SubscriberTooSlow { timeout_ms: 300 })
            .await;
        appending.stop();
        // The reader was told all along; it is told what comes next too.
        let _ = reader.next_event("a change told to the reader");
        assert_eq!(server.notifier.subscriber_count(), 1);
        drop(stalled);
    }
}

mod on_shutdown {
    use super::*;

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stream_ends_so_the_browser_does_not_hang(target: TargetFile) {
        let mut server = InProcessServer::start_with(&target, serving_browsers()).await;
        let (mut stream, _) = open_stream(&server, &[]);
        server.shutdown().await;
        stream.expect_end("the end of the stream at shutdown");
    }

    #[rstest]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_connection_still_sending_its_request_is_closed(target: TargetFile) {
        let mut server = InProcessServer::start_with(&target, serving_browsers()).await;
        let stream = std::net::TcpStream::connect(server.http_addr()).unwrap();
        let mut half = crate::support::binary::LineReader::new(stream);
        half.type_text("GET / HTTP/1.1\r\n");
        // Accepted in turn: once a later stream is served, this connection
        // has been accepted too (one still in the listener's queue at
        // shutdown is reset by the kernel, whatever the server does).
        let _later = open_stream(&server, &[]);
        server.expect_event(ConsoleEvent::SubscriberConnected).await;
        server.shutdown().await;
        half.expect_end("the connection closed at shutdown");
    }

    #[rstest]
    fn the_binary_ends_its_streams_and_exits_zero_on_sigterm(target: TargetFile) {
        let mut server = TestServer::start_in(
            Some(target.dir()),
            "net-watcher",
            &["target.txt", "--http", "127.0.0.1:0"],
        );
        let mut stream = get(http_addr(&server), "/events", &[]);
        let _ = stream.next_event("the watching event");
        server.process.wait_for_stdout("Subscriber connected.");
        server.process.signal(libc::SIGTERM);
        stream.expect_end("the end of the stream at SIGTERM");
        let (status, _) = server.process.wait_for_exit();
        assert!(status.success(), "{status}");
    }
}

/// The address in a listening line's `http://ADDR/`.
fn http_addr(server: &TestServer) -> std::net::SocketAddr {
    server
        .listening_on()
        .iter()
        .find_map(|entry| entry.strip_prefix("http://")?.strip_suffix('/'))
        .unwrap_or_else(|| panic!("no http:// address in {:?}", server.listening_on()))
        .parse()
        .expect("an address")
}

mod the_binary {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn with_http_alone_listens_only_for_browsers(target: TargetFile) {
        let server = TestServer::start_in(
            Some(target.dir()),
            "net-watcher",
            &["target.txt", "--http", "127.0.0.1:0"],
        );
        let [only] = server.listening_on() else {
            panic!("expected one address, got {:?}", server.listening_on());
        };
        assert_eq!(only, &format!("http://{}/", http_addr(&server)));
    }

    #[rstest]
    fn with_a_port_too_listens_for_sockets_and_browsers(target: TargetFile) {
        let server = TestServer::start_in(
            Some(target.dir()),
            "net-watcher",
            &[
                "target.txt",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--http",
                "127.0.0.1:0",
            ],
        );
        let mut subscriber = server.connect();
        assert_eq!(
            subscriber.next_line("the greeting over TCP"),
            "Now watching \"target.txt\" for changes...\n"
        );
        let mut stream = get(http_addr(&server), "/events", &[]);
        let watching = stream.next_event("the watching event");
        assert_eq!(watching.json()["file"], "target.txt");
        target.touch();
        subscriber.next_line("the change over TCP");
        expect_changed(&mut stream, "the change as an event");
    }

    #[test]
    fn refuses_an_http_address_without_a_port() {
        command("net-watcher")
            .args(["Cargo.toml", "--http", "localhost"])
            .assert()
            .failure()
            .stderr(predicates::str::contains(
                "expected HOST:PORT (such as 127.0.0.1:8080)",
            ));
    }

    #[rstest]
    fn says_so_when_the_http_port_is_taken(target: TargetFile) {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap().to_string();
        let mut process = Spawned::start_in(
            Some(target.dir()),
            "net-watcher",
            &["target.txt", "--http", &address],
        );
        let (status, _) = process.wait_for_exit();
        assert!(!status.success());
        assert!(
            process.stderr().contains(&format!(
                "cannot listen on {address}: the address is already in use"
            )),
            "{}",
            process.stderr()
        );
    }
}

mod an_edge {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn serves_browsers_the_changes_of_its_stream(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &["--json"]);
        let edge = start_edge(&url, &["--http", "127.0.0.1:0"]);
        let mut stream = get(http_addr(&edge), "/events", &[]);
        let watching = stream.next_event("the watching event, on the edge");
        assert_eq!(watching.json()["file"], "target.txt");
        target.touch();
        expect_changed(&mut stream, "the change, on the edge");
    }
}

/// Chapter 13's exercise: a client of the event stream that prints what
/// the step-4 client prints. Runs the answer
/// (`chapters/answers/event_stream_client.rs`), or the student's program
/// that `NET_WATCHER_EXERCISE` names (`mine/examples/NAME.rs`).
mod the_exercise_an_event_stream_client {
    use super::*;
    use crate::support::binary::exercise_program;
    use crate::support::http::{SPLIT_EVENTS_PRINTED, split_event_service};
    use pretty_assertions::assert_eq;

    /// The exercise's program (yours or the answer), given `address`.
    fn client(address: &str) -> Spawned {
        let program = exercise_program("examples/answer-event-stream-client");
        Spawned::start(&program, &[address])
    }

    #[rstest]
    fn prints_the_greeting_and_each_change_as_the_step_4_client_does(target: TargetFile) {
        let server = TestServer::start_in(
            Some(target.dir()),
            "net-watcher",
            &["target.txt", "--http", "127.0.0.1:0"],
        );
        let mut client = client(&http_addr(&server).to_string());
        assert_eq!(
            client.next_stdout_line("the greeting").as_deref(),
            Some("Now watching: target.txt")
        );
        for change in ["first", "second"] {
            target.append(change);
            let line = client
                .next_stdout_line(&format!("the {change} change"))
                .unwrap_or_default();
            assert!(line.starts_with("File changed: "), "{line:?}");
            assert!(line.ends_with(" GMT+0000 (UTC)"), "{line:?}");
        }
        server.process.signal(libc::SIGTERM);
        let (status, _) = client.wait_for_exit();
        assert!(
            status.success(),
            "the stream's end is the client's: {status}"
        );
    }

    #[test]
    fn frames_each_event_however_its_bytes_arrive() {
        // Not the real server, which writes each event at once: a fake one
        // that cuts an event across two writes and spreads one over two
        // `data:` lines, as chapter 5's fake service cuts a message.
        let server = split_event_service();
        let mut client = client(&format!("127.0.0.1:{}", server.port()));
        let (status, printed) = client.wait_for_exit();
        assert_eq!(
            printed,
            SPLIT_EVENTS_PRINTED,
            "the stream held the greeting and two changes: the first cut in \
             the middle of its `data:` line, across two reads a second apart; \
             the second with its JSON on two `data:` lines, ended by one empty \
             line. Does the program keep what a read left over, and handle an \
             event only at its empty line?\n{}",
            client.report()
        );
        assert!(
            status.success(),
            "the stream's end is the client's: {status}\n{}",
            client.report()
        );
        let request = server.finish();
        assert!(
            request.starts_with("GET /events HTTP/1.1\r\n") && request.contains("\r\nHost: "),
            "the request: {request:?}"
        );
    }

    #[rstest]
    fn says_why_when_the_server_refuses_the_stream(target: TargetFile) {
        let server = TestServer::start_in(
            Some(target.dir()),
            "net-watcher",
            &[
                "target.txt",
                "--http",
                "127.0.0.1:0",
                "--max-subscribers",
                "0",
            ],
        );
        let mut client = client(&http_addr(&server).to_string());
        let (status, _) = client.wait_for_exit();
        assert!(
            !status.success(),
            "a refused stream is a failure: {status}\n{}",
            client.report()
        );
        let expected = "the server answered HTTP/1.1 503 Service Unavailable";
        assert!(
            client.stderr().contains(expected),
            "expected stderr to say {expected:?} (the exercise's words, then \
             the status line the server answered); it said: {:?}",
            client.stderr()
        );
    }
}
