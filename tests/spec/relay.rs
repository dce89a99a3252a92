//! describe: changes relayed through a Redis stream, from a publishing
//! watcher to edge servers (chapter 12).
//!
//! Each spec starts its own `redis-server` on a Unix socket in a temporary
//! directory (see `support::redis_server`), and skips, saying so, where
//! `redis-server` is not installed, unless `NET_WATCHER_REQUIRE_REDIS=1`.

use std::time::Duration;

use pretty_assertions::assert_eq;

use rstest::rstest;

use crate::support::binary::{LineReader, Spawned, TestServer};
use crate::support::redis_server::{RedisServer, redis_server, start_edge, start_publisher};
use crate::support::target::{TargetFile, target};

const TEXT_GREETING: &str = "Now watching \"target.txt\" for changes...\n";
const JSON_GREETING: &str = "{\"type\":\"watching\",\"file\":\"target.txt\"}\n";

/// A greeted subscriber of `server`.
fn subscribe(server: &TestServer, greeting: &str) -> LineReader {
    let mut subscriber = server.connect();
    assert_eq!(subscriber.next_line("the greeting"), greeting);
    subscriber
}

/// The timestamp of a JSON change line.
fn timestamp_of(line: &str) -> u64 {
    let message: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("not a JSON line: {line:?} ({error})"));
    assert_eq!(message["type"], "changed", "not a change: {line:?}");
    message["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no timestamp in {line:?}"))
}

/// Appends an entry with id `id` to the stream `changes` by hand, as a
/// publisher would.
fn append(redis: &RedisServer, id: &str, fields: &[(&str, &str)]) {
    let mut command = redis::cmd("XADD");
    command.arg("changes").arg(id);
    for (name, value) in fields {
        command.arg(name).arg(value);
    }
    let _: String = command
        .query(&mut redis.connection())
        .expect("Redis takes the entry");
}

/// Appends, by hand, a change made at `timestamp` under id `id`.
fn change(redis: &RedisServer, id: &str, timestamp: &str) {
    append(
        redis,
        id,
        &[
            ("type", "changed"),
            ("file", "target.txt"),
            ("timestamp", timestamp),
        ],
    );
}

/// Appends, by hand, the entry that names the file.
fn watching(redis: &RedisServer, id: &str) {
    append(redis, id, &[("type", "watching"), ("file", "target.txt")]);
}

/// An edge on a stream written by hand (ids 5000-0 and 6000-0), and its
/// JSON subscriber, which has been told the change made at 6000.
fn an_edge_that_told_a_change_at_6000(redis: &RedisServer) -> (TestServer, LineReader) {
    watching(redis, "5000-0");
    let edge = start_edge(&redis.url("changes"), &["--json"]);
    let mut subscriber = subscribe(&edge, JSON_GREETING);
    change(redis, "6000-0", "6000");
    let line = subscriber.next_line("the change before the restart");
    assert_eq!(timestamp_of(&line), 6000);
    (edge, subscriber)
}

mod a_change_on_the_publisher {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn reaches_the_subscribers_of_two_edges_once_each_in_text_and_json(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let publisher = start_publisher(&target, &url, &["--json"]);
        let text_edge = start_edge(&url, &[]);
        let json_edge = start_edge(&url, &["--json"]);
        let mut local = subscribe(&publisher, JSON_GREETING);
        let mut on_text_edge = subscribe(&text_edge, TEXT_GREETING);
        let mut on_json_edge = subscribe(&json_edge, JSON_GREETING);

        target.touch();

        let told_locally = timestamp_of(&local.next_line("the change, on the publisher"));
        let on_text = on_text_edge.next_line("the change, on the text edge");
        assert!(on_text.starts_with("File changed: "), "got {on_text:?}");
        let on_json = on_json_edge.next_line("the change, on the JSON edge");
        assert_eq!(timestamp_of(&on_json), told_locally);
        on_text_edge.expect_silence("the one change line");
        on_json_edge.expect_silence("the one change line");
    }
}

mod an_edge_started_after_some_changes {
    use super::*;

    #[rstest]
    fn replays_none_of_them_to_its_subscribers(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let publisher = start_publisher(&target, &url, &[]);
        let early_edge = start_edge(&url, &[]);
        let mut local = subscribe(&publisher, TEXT_GREETING);
        let mut on_early_edge = subscribe(&early_edge, TEXT_GREETING);
        // The early edge's lines are the signal that each change is in the
        // stream before the late edge starts.
        for change in ["first", "second"] {
            target.append(change);
            local.next_line(&format!("the {change} change, on the publisher"));
            on_early_edge.next_line(&format!("the {change} change, on the early edge"));
        }

        let late_edge = start_edge(&url, &[]);
        let mut on_late_edge = subscribe(&late_edge, TEXT_GREETING);
        on_late_edge.expect_silence("the greeting of an edge started after two changes");

        target.touch();
        on_late_edge.next_line("the change made after the edge started");
        on_late_edge.expect_silence("the one change made after it started");
    }
}

mod when_redis_stops_and_starts_again {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn the_publishers_own_subscribers_are_told_throughout(target: TargetFile) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let url = redis.url("changes");
        let mut publisher = start_publisher(&target, &url, &[]);
        let mut local = subscribe(&publisher, TEXT_GREETING);

        redis.stop();
        for change in ["one", "two"] {
            target.append(change);
            local.next_line(&format!("change {change}, told while Redis is down"));
        }
        publisher.process.wait_for_stderr("Cannot reach the stream");
        redis.start_again();
        publisher
            .process
            .wait_for_stdout_containing("answers again");
        target.touch();
        local.next_line("a change once Redis is back");

        // Said once per outage, however many changes could not be appended.
        let said = publisher.process.stderr();
        assert_eq!(
            said.matches("Cannot reach the stream").count(),
            1,
            "one outage, said once:\n{said}"
        );
    }

    #[rstest]
    fn a_change_made_meanwhile_reaches_the_edges_subscribers_once(target: TargetFile) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let url = redis.url("changes");
        let publisher = start_publisher(&target, &url, &["--json"]);
        let edges = [start_edge(&url, &["--json"]), start_edge(&url, &["--json"])];
        let mut local = subscribe(&publisher, JSON_GREETING);
        let mut on_edges = edges.each_ref().map(|edge| subscribe(edge, JSON_GREETING));

        redis.stop();
        target.touch();
        let told_locally = timestamp_of(&local.next_line("the change made while Redis is down"));
        publisher.process.wait_for_stderr("Cannot reach the stream");
        redis.start_again();

        for on_edge in &mut on_edges {
            let line = on_edge.next_line("the change made while Redis was down");
            assert_eq!(timestamp_of(&line), told_locally);
        }
        for on_edge in &mut on_edges {
            on_edge.expect_silence("the change made during the outage");
        }

        target.touch();
        for on_edge in &mut on_edges {
            let next = on_edge.next_line("a change after Redis is back");
            assert!(timestamp_of(&next) > told_locally, "got {next:?}");
            on_edge.expect_silence("the change after Redis is back");
        }
        for edge in &edges {
            let said = edge.process.stderr();
            assert_eq!(
                said.matches("Cannot reach the stream").count(),
                1,
                "an edge says so once per outage:\n{said}"
            );
        }
    }
}

mod an_edge_whose_stream_comes_back_with_lower_ids {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Redis restarted empty, and its new stream's ids are below the old
    /// ones (a publisher that restarted too, with a clock behind): the
    /// changes' own timestamps tell a stale change from a new one.
    #[test]
    fn tells_a_newer_change_once_and_never_a_stale_one() {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let (mut edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);

        redis.stop();
        edge.process.wait_for_stderr("Cannot reach the stream");
        redis.start_again();
        change(&redis, "1-0", "5999");
        edge.process.wait_for_stdout_containing("answers again");
        subscriber.expect_silence("a change older than the last one told");

        change(&redis, "2-0", "7000");
        let line = subscriber.next_line("a change newer than the last one told");
        assert_eq!(timestamp_of(&line), 7000);
        subscriber.expect_silence("the newer change");
    }
}

mod an_edge_whose_stream_comes_back_holding_a_change_it_told {
    use super::*;
    use pretty_assertions::assert_eq;

    /// A publisher's append reached Redis, and the edge told it, but the
    /// answer never reached the publisher; then Redis restarted empty. The
    /// publisher, which cannot know that the first append arrived, appends
    /// the change again, above every id it had: above the edge's last id
    /// too. Here Redis comes back from a snapshot that holds just that, so
    /// that the edge cannot reconnect before the stream is written.
    #[test]
    fn does_not_tell_it_twice() {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let Some(snapshot) = redis_server() else {
            return;
        };
        let (mut edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);

        watching(&snapshot, "7000-0");
        change(&snapshot, "7001-0", "6000");
        let _: () = redis::cmd("SAVE")
            .query(&mut snapshot.connection())
            .expect("the snapshot is saved");
        redis.stop();
        edge.process.wait_for_stderr("Cannot reach the stream");
        std::fs::copy(
            snapshot.dir().join("dump.rdb"),
            redis.dir().join("dump.rdb"),
        )
        .expect("the snapshot is put in place");
        redis.start_again();
        edge.process.wait_for_stdout_containing("answers again");
        subscriber.expect_silence("the change told before the restart, appended again");

        change(&redis, "8000-0", "8000");
        let line = subscriber.next_line("a change newer than the last one told");
        assert_eq!(timestamp_of(&line), 8000);
    }
}

mod an_entry_written_above_the_publishers_ids {
    use super::*;

    /// Someone (another publisher, or a person with redis-cli) appended an
    /// entry whose id is above every id the publisher would choose: Redis
    /// refuses the publisher's next id, and the publisher, finding that
    /// its entry is not there, appends it again above that entry.
    #[rstest]
    fn does_not_stop_the_next_change(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);
        // An id in the year 2286, above any change's timestamp today.
        let _: String = redis::cmd("XADD")
            .arg("changes")
            .arg("9999999999999-0")
            .arg("type")
            .arg("watching")
            .arg("file")
            .arg("target.txt")
            .query(&mut redis.connection())
            .expect("Redis takes the entry");

        target.touch();
        let line = subscriber.next_line("the change after the entry with a higher id");
        assert!(line.starts_with("File changed: "), "got {line:?}");
        subscriber.expect_silence("the one change");
    }
}

mod a_publisher_whose_redis_refuses_its_first_entry {
    use super::*;

    /// Redis answers, but refuses writes (out of memory here; a read-only
    /// replica does the same): the publisher cannot name its file in the
    /// stream. Once Redis takes entries again, it does, with no change
    /// made meanwhile, and says that the outage is over.
    #[rstest]
    fn names_its_file_once_redis_takes_entries_again(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let set_maxmemory = |bytes: &str| {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(bytes)
                .query(&mut redis.connection())
                .expect("Redis takes the setting");
        };
        set_maxmemory("1");
        let url = redis.url("changes");
        let mut publisher = start_publisher(&target, &url, &[]);
        publisher
            .process
            .wait_for_stderr("command not allowed when used memory");
        let said = publisher.process.stderr();
        assert!(!said.contains(".."), "one full stop ends a line:\n{said}");

        set_maxmemory("0");
        publisher
            .process
            .wait_for_stdout_containing("answers again");
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);
        target.touch();
        let line = subscriber.next_line("the change after Redis took entries again");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }
}

mod an_edge_whose_redis_is_unreachable {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn says_so_and_keeps_trying_without_spinning() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nobody.sock");
        let url = format!("redis+unix://{}?stream=changes", socket.display());
        let mut edge = Spawned::start("net-watcher", &["--relay", &url, "--port", "0"]);
        edge.wait_for_stderr(&format!(
            "Cannot reach the stream redis+unix://{}?stream=changes",
            socket.display()
        ));
        let cpu_before = edge.cpu_time();
        // Time must pass to show that nothing happens in it: the edge keeps
        // trying, with a back-off, and must not spin while it does.
        std::thread::sleep(Duration::from_millis(1500));
        let cpu_spent = edge.cpu_time() - cpu_before;
        assert!(edge.is_running(), "the edge gave up\n{}", edge.report());
        assert!(
            cpu_spent < Duration::from_millis(200),
            "the edge used {cpu_spent:?} of processor time in 1.5 s of waiting\n{}",
            edge.report()
        );
        assert_eq!(edge.stderr().matches("Cannot reach").count(), 1);
    }

    #[rstest]
    fn starts_serving_once_redis_answers(target: TargetFile) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        redis.stop();
        let url = redis.url("changes");
        let mut edge = Spawned::start("net-watcher", &["--relay", &url, "--port", "0"]);
        edge.wait_for_stderr("Cannot reach the stream");
        redis.start_again();
        let _publisher = start_publisher(&target, &url, &[]);
        let listening = edge.wait_for_stdout_containing("Listening for subscribers on ");
        assert!(listening.ends_with("..."), "got {listening:?}");
    }
}

mod a_malformed_entry {
    use super::*;

    #[rstest]
    fn is_reported_and_skipped(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);

        let id: String = redis::cmd("XADD")
            .arg("changes")
            .arg("*")
            .arg("type")
            .arg("changed")
            .arg("file")
            .arg("target.txt")
            .arg("timestamp")
            .arg("soon")
            .query(&mut redis.connection())
            .expect("Redis takes the entry");

        edge.process.wait_for_stderr(&format!(
            "Skipped the malformed stream entry {id}: its timestamp \"soon\" is not a number"
        ));
        target.touch();
        let line = subscriber.next_line("the change after the malformed entry");
        assert!(line.starts_with("File changed: "), "got {line:?}");
        subscriber.expect_silence("the one well-formed change");
    }
}

mod an_edge {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn serves_a_unix_socket_with_the_same_limit_and_shutdown_as_a_watcher(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let socket = target.dir().join("edge.sock");
        let socket_arg = socket.to_str().unwrap();
        let mut edge = start_edge(&url, &["--unix", socket_arg, "--max-subscribers", "1"]);
        assert_eq!(edge.listening_on(), [socket_arg]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);
        let mut refused = edge.connect();
        let refusal = refused.next_line("the refusal");
        assert!(
            refusal.starts_with("Error: the server is full (1 subscribers)"),
            "got {refusal:?}"
        );
        refused.expect_end("the refused connection to close");

        target.touch();
        let line = subscriber.next_line("the change");
        assert!(line.starts_with("File changed: "), "got {line:?}");

        edge.process.signal(libc::SIGTERM);
        subscriber.expect_end("end of file when the edge stops");
        let (status, _) = edge.process.wait_for_exit();
        assert!(status.success(), "exit status {status}");
        assert!(!socket.exists(), "the socket file is left behind");
    }

    #[test]
    fn refuses_a_url_that_is_not_a_stream_with_a_usage_error() {
        for url in ["http://localhost/changes", "redis://localhost"] {
            let assert = assert_cmd::cargo::cargo_bin_cmd!("net-watcher")
                .args(["--relay", url])
                .assert()
                .failure()
                .code(2);
            let said = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
            assert!(
                said.contains(&format!("invalid value '{url}' for '--relay <URL>'"))
                    && said.contains("expected redis://HOST[:PORT]/STREAM"),
                "{url}: {said}"
            );
        }
    }
}

/// An edge's road from its notifier on, in-process, with changes handed to
/// it as its stream reader hands them: no Redis needed.
mod an_edges_notifier {
    use std::time::Duration;

    use net_watcher::console::ConsoleEvent;
    use net_watcher::protocol::now_millis;
    use net_watcher::watching::{Change, ChangeKind};

    use crate::support::in_process::{InProcessServer, Options};

    #[tokio::test]
    async fn drops_a_subscriber_that_never_reads_and_keeps_telling_the_others() {
        let options = Options {
            write_timeout: Duration::from_millis(300),
            ..Options::default()
        };
        let (mut server, feed) = InProcessServer::start_fed("target.txt", options).await;
        let (stalled, mut reader) = server.subscribe_stalled_beside_a_reader().await;
        let start = now_millis();
        let published = std::cell::Cell::new(0);
        // Changes until the stalled one is dropped, not a fixed number of
        // them: how many bytes fill its socket is the OS's to say, and
        // varies with the machine's load (see `keep_appending`).
        let publishing = async {
            loop {
                feed.publish(Change {
                    kind: ChangeKind::Modified,
                    timestamp: start + published.get(),
                });
                published.set(published.get() + 1);
                // The server's tasks run on this test's thread: let them,
                // as a stream reader's task does between reads, so that
                // the stalled subscriber is attached and its socket fills.
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            () = server.expect_event(ConsoleEvent::SubscriberTooSlow { timeout_ms: 300 }) => {}
            () = publishing => unreachable!("publishing goes on until the event"),
        }
        let last = reader.last_line_until_quiet().await;
        assert!(last.starts_with("File changed: "), "got {last:?}");
        feed.publish(Change {
            kind: ChangeKind::Modified,
            timestamp: start + published.get(),
        });
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
