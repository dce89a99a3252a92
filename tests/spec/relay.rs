//! describe: changes relayed through a Redis stream, from a publishing
//! watcher to edge servers (chapter 12).
//!
//! Each spec starts its own `redis-server` on a Unix socket in a temporary
//! directory (see `support::redis_server`), and skips, saying so, where
//! `redis-server` is not installed, unless `NET_WATCHER_REQUIRE_REDIS=1`.

use std::time::Duration;

use pretty_assertions::assert_eq;

use rstest::rstest;

use net_watcher::protocol::now_millis;
use net_watcher::relay::edge::EDGE_NAME;
use net_watcher::relay::publisher::PUBLISHER_NAME;

use crate::support::binary::{LineReader, Spawned, TestServer};
use crate::support::redis_server::{
    RedisServer, Refusal, redis_server, refusal_answer, start_edge, start_publisher,
    start_publisher_of,
};
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

/// Deletes, by hand, the entry with id `id` (`XDEL`).
fn delete(redis: &RedisServer, id: &str) {
    let deleted: u64 = redis::cmd("XDEL")
        .arg("changes")
        .arg(id)
        .query(&mut redis.connection())
        .expect("Redis deletes the entry");
    assert_eq!(deleted, 1, "the entry {id} was there");
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

/// Waits until an edge that has read an entry has looked at the stream
/// `looks` more times than `before` (Redis's count of `XREVRANGE`: a look
/// first asks for the entry read last). An edge looks after each read that
/// found nothing new, every block time (2 s), and after each that did.
fn wait_for_looks(redis: &RedisServer, before: u64, looks: u64) {
    let deadline = std::time::Instant::now() + 3 * crate::support::PATIENCE;
    while redis.times_asked("xrevrange") < before + looks {
        assert!(
            std::time::Instant::now() < deadline,
            "the edge did not look at the stream {looks} times"
        );
        // Polling Redis's count: nothing tells us when the edge looks.
        std::thread::sleep(Duration::from_millis(50));
    }
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

mod a_stream_on_a_tcp_port {
    use super::*;

    use crate::support::stalling_proxy::StallingProxy;

    /// `redis://HOST:PORT/STREAM`: the specs' Redis listens on a Unix
    /// socket only, so a proxy on a loopback port that is never stalled
    /// puts it on TCP.
    #[rstest]
    fn carries_a_change_from_the_publisher_to_an_edge(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let proxy = StallingProxy::start_tcp(&redis.socket());
        let url = proxy.url("changes");
        assert!(url.starts_with("redis://127.0.0.1:"), "{url}");
        let _publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);
        target.touch();
        let line = subscriber.next_line("the change, over TCP");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }
}

mod an_edge_on_a_stream_that_names_no_file_yet {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The stream holds only junk: the edge skips it, says it waits for a
    /// publisher, and listens once one names its file.
    #[rstest]
    fn says_it_waits_and_listens_once_a_publisher_names_its_file(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        append(&redis, "1-0", &[("type", "watching")]);
        let mut edge = Spawned::start("net-watcher", &["--relay", &url, "--port", "0"]);
        edge.wait_for_stderr(&format!(
            "Waiting for a publisher to name its file in the stream {url}..."
        ));
        let said = edge.stderr();
        assert!(
            said.starts_with("Skipped the malformed stream entry 1-0: it has no \"file\" field.\n"),
            "{said}"
        );

        let _publisher = start_publisher(&target, &url, &[]);
        let listening = edge.wait_for_stdout_containing("Listening for subscribers on ");
        assert!(listening.ends_with("..."), "got {listening:?}");
        assert_eq!(edge.stderr().matches("Waiting for a publisher").count(), 1);
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

    /// The stream made again, with lower ids, while the edge stays
    /// connected; its newest entry is for another file. The edge's newer
    /// change just below it was lost: the edge looked at the newest entry
    /// alone (found by a fresh attack on issue 22).
    #[rstest]
    #[case::for_another_file(&[("type", "changed"), ("file", "other.txt"), ("timestamp", "7001")])]
    #[case::malformed(&[("type", "changed"), ("file", "target.txt")])]
    fn tells_its_newer_change_below_an_entry_that_is_not_its_own(#[case] newest: &[(&str, &str)]) {
        let Some(redis) = redis_server() else {
            return;
        };
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);

        // In one transaction, so that the edge never finds the stream
        // gone in between (it would then read it from its start).
        let mut newest_entry = redis::cmd("XADD");
        newest_entry.arg("changes").arg("3-2");
        for (name, value) in newest {
            newest_entry.arg(name).arg(value);
        }
        let _: () = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg("changes")
            .ignore()
            .cmd("XADD")
            .arg(&["changes", "3-1", "type", "changed", "file", "target.txt"])
            .arg(&["timestamp", "7000"])
            .ignore()
            .add_command(newest_entry)
            .ignore()
            .query(&mut redis.connection())
            .expect("the stream is made again");
        edge.process.wait_for_stderr("went back");
        let line = subscriber.next_line("the change below the newest entry");
        assert_eq!(timestamp_of(&line), 7000);
        subscriber.expect_silence("the one change");
    }

    /// The stream made again with its first ids below the edge's last one
    /// and its newest above it: a publisher with a clock behind wrote a
    /// change, then a second writer appended for another file, all before
    /// the edge looked. Ids alone took that for growth, and the change
    /// below the edge's last id was lost (found by a fresh attack on
    /// issue 22). An entry the edge read, gone though nothing in this
    /// stream's history deleted it, tells a stream made again.
    #[test]
    fn tells_its_change_below_its_last_id_under_a_newest_entry_above_it() {
        let Some(redis) = redis_server() else {
            return;
        };
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);

        let _: () = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg("changes")
            .ignore()
            .cmd("XADD")
            .arg(&["changes", "3-1", "type", "changed", "file", "target.txt"])
            .arg(&["timestamp", "7000"])
            .ignore()
            .cmd("XADD")
            .arg(&["changes", "9000-0", "type", "watching", "file", "other.txt"])
            .ignore()
            .query(&mut redis.connection())
            .expect("the stream is made again");
        edge.process.wait_for_stderr("was made again");
        let line = subscriber.next_line("the change below the edge's last id");
        assert_eq!(timestamp_of(&line), 7000);
        subscriber.expect_silence("the one change");
    }
}

mod an_edge_whose_newest_entries_are_deleted {
    use super::*;
    use pretty_assertions::assert_eq;

    /// `XDEL` of the entries the edge read last leaves the stream's newest
    /// entry below the edge's last id, as a stream made again with lower
    /// ids does. Taken for one, the stream was read again from its start,
    /// and a change told long ago whose timestamp is ahead of the last one
    /// told (the publisher's clock stepped back since) was told again
    /// (found by a fresh attack on issue 22). Redis's own record of the
    /// stream (its last id given and its largest deleted one) tells the two
    /// apart.
    #[test]
    fn reads_on_and_tells_no_change_again() {
        let Some(redis) = redis_server() else {
            return;
        };
        watching(&redis, "5000-0");
        let edge = start_edge(&redis.url("changes"), &["--json"]);
        let mut subscriber = subscribe(&edge, JSON_GREETING);
        change(&redis, "5500-0", "9000");
        let line = subscriber.next_line("the change with a clock ahead");
        assert_eq!(timestamp_of(&line), 9000);
        change(&redis, "6000-0", "6000");
        let line = subscriber.next_line("the change once the clock stepped back");
        assert_eq!(timestamp_of(&line), 6000);

        let looks = redis.times_asked("xrevrange");
        delete(&redis, "6000-0");
        // Two looks: the first found the entry deleted and acted on it.
        wait_for_looks(&redis, looks, 2);
        subscriber.expect_silence("the deletion of the newest entry");
        let said = edge.process.stderr();
        assert!(!said.contains("went back"), "{said}");

        change(&redis, "7000-0", "7000");
        let line = subscriber.next_line("the next change");
        assert_eq!(timestamp_of(&line), 7000);
        subscriber.expect_silence("the next change");
    }
}

mod an_edge_whose_stream_is_trimmed_or_emptied {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Trimming past the entry the edge read last (a publisher's own
    /// `MAXLEN`, `XTRIM`) records no deletion in Redis 7. Taken for a
    /// stream made again, the stream was read again under the timestamp
    /// rule, and a change whose timestamp was behind the last one told (a
    /// clock stepped back while connected, when ids alone decide) was not
    /// told (found by a fresh attack on issue 22). Nothing is left at or
    /// below the id read: what comes is above it, and the same stream's.
    #[test]
    fn by_an_append_reads_on_and_tells_it() {
        let Some(redis) = redis_server() else {
            return;
        };
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);
        let _: String = redis::cmd("XADD")
            .arg("changes")
            .arg("MAXLEN")
            .arg(1)
            .arg("7000-0")
            .arg(&["type", "changed", "file", "target.txt", "timestamp", "5000"])
            .query(&mut redis.connection())
            .expect("Redis takes the entry and trims the rest");
        let line = subscriber.next_line("the change that trimmed the stream");
        assert_eq!(timestamp_of(&line), 5000);
        let said = edge.process.stderr();
        assert!(!said.contains("made again"), "{said}");
    }

    /// Every entry deleted or trimmed, the key kept: an empty stream was
    /// taken for a stream gone, and the next change held to the timestamp
    /// rule (found by the same attack).
    #[rstest]
    #[case::deleted(&["XDEL", "changes", "5000-0", "6000-0"])]
    #[case::trimmed(&["XTRIM", "changes", "MAXLEN", "0"])]
    fn to_nothing_reads_on_and_tells_the_next_change(#[case] emptying: &[&str]) {
        let Some(redis) = redis_server() else {
            return;
        };
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);
        let looks = redis.times_asked("xrevrange");
        let mut command = redis::cmd(emptying[0]);
        command.arg(&emptying[1..]);
        let emptied: u64 = command
            .query(&mut redis.connection())
            .expect("Redis empties the stream");
        assert_eq!(emptied, 2, "both entries gone");
        // Two looks: the first found the stream empty and acted on it.
        wait_for_looks(&redis, looks, 2);
        change(&redis, "7000-0", "5000");
        let line = subscriber.next_line("the change after the stream was emptied");
        assert_eq!(timestamp_of(&line), 5000);
        let said = edge.process.stderr();
        assert!(!said.contains("made again"), "{said}");
    }
}

mod an_idle_edge {
    use super::*;
    use pretty_assertions::assert_eq;

    /// An idle edge looks at the stream every block time, and finds the
    /// entry it read last: the stream is the same, so the next change is
    /// told by its id, even with a timestamp behind the last one told (the
    /// publisher's clock stepped back while the edge stayed connected).
    #[test]
    fn tells_the_next_change_by_its_id_even_behind_in_time() {
        let Some(redis) = redis_server() else {
            return;
        };
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);
        let looks = redis.times_asked("xrevrange");
        let reads = redis.times_asked("xread");
        wait_for_looks(&redis, looks, 3);
        // One read between looks (and one under way): an edge that took
        // the same stream for another would read it again from its start
        // after each look.
        let reads = redis.times_asked("xread") - reads;
        assert!(reads <= 4, "{reads} reads for 3 looks");
        change(&redis, "7000-0", "5000");
        let line = subscriber.next_line("the change after two looks");
        assert_eq!(timestamp_of(&line), 5000);
        let said = edge.process.stderr();
        assert!(!said.contains("stream"), "{said}");
    }

    /// Its stream deleted, an idle edge reads the next one from its start,
    /// holding its first change to the last one told; Redis's "no such
    /// key" to `XINFO` is the stream gone, not a refusal to say.
    #[test]
    fn whose_stream_is_deleted_reads_the_next_from_its_start() {
        let Some(redis) = redis_server() else {
            return;
        };
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);
        let looks = redis.times_asked("xrevrange");
        let _: u64 = redis::cmd("DEL")
            .arg("changes")
            .query(&mut redis.connection())
            .expect("Redis deletes the stream");
        wait_for_looks(&redis, looks, 2);
        change(&redis, "1-0", "5000");
        change(&redis, "2-0", "7000");
        let line = subscriber.next_line("the change newer than the last one told");
        assert_eq!(timestamp_of(&line), 7000);
        let said = edge.process.stderr();
        assert!(!said.contains("does not describe"), "{said}");
    }
}

mod an_edge_whose_redis_does_not_describe_the_stream {
    use super::*;
    use pretty_assertions::assert_eq;

    /// A user allowed to read the stream but not `XINFO`: without the
    /// stream's record, the edge takes deleted entries for a stream that
    /// went back, as it did before it asked. The operator is told once
    /// why (found by a fresh attack on issue 22: nothing said so).
    #[test]
    fn says_so_once_and_goes_by_the_newest_id() {
        let Some(redis) = redis_server() else {
            return;
        };
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "default", "-xinfo"])
            .query(&mut redis.connection())
            .expect("Redis takes the rule");
        let (edge, mut subscriber) = an_edge_that_told_a_change_at_6000(&redis);
        delete(&redis, "6000-0");
        edge.process.wait_for_stderr("went back");
        let said = edge.process.stderr();
        assert!(
            said.contains("Redis does not describe the stream redis+unix://")
                && said.contains("(XINFO STREAM: NOPERM"),
            "{said}"
        );
        change(&redis, "7000-0", "7000");
        let line = subscriber.next_line("the next change");
        assert_eq!(timestamp_of(&line), 7000);
        let looks = redis.times_asked("xrevrange");
        delete(&redis, "7000-0");
        wait_for_looks(&redis, looks, 2);
        let said = edge.process.stderr();
        assert_eq!(said.matches("does not describe").count(), 1, "{said}");
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

mod an_entry_written_at_the_id_the_publisher_takes_next {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Someone appended, by hand, an entry at the very id the publisher's
    /// next change takes: Redis refuses the publisher's append, the entry
    /// found at that id is not the publisher's, and the change goes in
    /// above it.
    #[rstest]
    fn is_not_taken_for_the_publishers_change(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        // An id above any change's timestamp, naming another file: the
        // publisher names its file in the next id, and its first change
        // takes the one after.
        append(
            &redis,
            "9999999999999-0",
            &[("type", "watching"), ("file", "another.txt")],
        );
        let url = redis.url("changes");
        let publisher = start_publisher(&target, &url, &["--json"]);
        redis.wait_for_an_entry("changes", "9999999999999-0");
        let edge = start_edge(&url, &["--json"]);
        let mut local = subscribe(&publisher, JSON_GREETING);
        let mut on_edge = subscribe(&edge, JSON_GREETING);
        change(&redis, "9999999999999-2", "6000");
        let line = on_edge.next_line("the change written by hand");
        assert_eq!(timestamp_of(&line), 6000);

        target.touch();
        let told = timestamp_of(&local.next_line("the publisher's change"));
        let line = on_edge.next_line("the publisher's change, above the one by hand");
        assert_eq!(timestamp_of(&line), told);
        on_edge.expect_silence("the publisher's change");
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
        let Some(mut redis) = redis_server() else {
            return;
        };
        redis.refuse(Refusal::OutOfMemory, "changes");
        let url = redis.url("changes");
        let mut publisher = start_publisher(&target, &url, &[]);
        let answer = refusal_answer(Refusal::OutOfMemory);
        publisher.process.wait_for_stderr(&format!(
            "Redis refused the entry for the stream {url}: {answer}. Trying again until it takes it.\n"
        ));

        redis.take_again(Refusal::OutOfMemory, "changes");
        publisher
            .process
            .wait_for_stdout_containing(&format!("The stream {url} takes entries again."));
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
    use pretty_assertions::assert_eq;

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

    /// Thousands of junk entries cost a line for the first and a count
    /// for the rest, told at most once a second, not a line each.
    #[rstest]
    fn in_a_flood_is_counted_not_told_one_by_one(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);

        let junk = 3_000;
        let mut flood = redis::pipe();
        for _ in 0..junk {
            flood
                .cmd("XADD")
                .arg("changes")
                .arg("*")
                .arg("type")
                .arg("changed")
                .arg("file")
                .arg("target.txt")
                .arg("timestamp")
                .arg("soon")
                .ignore();
        }
        // The last one says so, and the line that counts it shows it.
        flood
            .cmd("XADD")
            .arg("changes")
            .arg("*")
            .arg("type")
            .arg("the last junk")
            .arg("file")
            .arg("target.txt")
            .ignore();
        let () = flood
            .query(&mut redis.connection())
            .expect("Redis takes the flood");

        edge.process
            .wait_for_stderr("unknown type \"the last junk\"");
        let said = edge.process.stderr();
        let lines: Vec<&str> = said
            .lines()
            .filter(|line| line.starts_with("Skipped"))
            .collect();
        // One line for the first, then at most one a read (a read takes up
        // to a thousand entries) and one a second.
        assert!(lines.len() <= 5, "{} lines:\n{said}", lines.len());
        let counted: u64 = lines
            .iter()
            .map(
                |line| match line.strip_prefix("Skipped the malformed stream entry") {
                    Some(_) => 1,
                    None => line["Skipped ".len()..]
                        .split(' ')
                        .next()
                        .and_then(|count| count.parse().ok())
                        .unwrap_or_else(|| panic!("no count in {line:?}")),
                },
            )
            .sum();
        assert_eq!(counted, junk + 1, "{said}");

        target.touch();
        let line = subscriber.next_line("the change after the flood");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }
}

/// An entry of `bytes` bytes (a field of junk beside the name), appended
/// by hand with an id Redis picks; its id.
fn a_large_entry(redis: &RedisServer, bytes: usize) -> String {
    redis::cmd("XADD")
        .arg("changes")
        .arg("*")
        .arg("type")
        .arg("watching")
        .arg("file")
        .arg("target.txt")
        .arg("junk")
        .arg("j".repeat(bytes))
        .query(&mut redis.connection())
        .expect("Redis takes the entry")
}

/// Nine megabytes, more than the 8 MiB that one reply may take.
const TOO_LARGE: usize = 9_000_000;

mod an_entry_larger_than_a_reply_may_take {
    use super::*;
    use pretty_assertions::assert_eq;

    /// As reviewed: the edge's read was refused whole, sent again, refused
    /// again, every two seconds for good, and the operator was told that
    /// the server "answered as Redis never does".
    #[rstest]
    fn is_skipped_and_told_and_the_next_change_reaches_the_edges_subscribers(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);

        let id = a_large_entry(&redis, TOO_LARGE);
        edge.process.wait_for_stderr(&format!(
            "Skipped the malformed stream entry {id}: it is larger than the 8 MiB or 100000 values that one read may take.\n"
        ));
        target.touch();
        let line = subscriber.next_line("the change after the large entry");
        assert!(line.starts_with("File changed: "), "got {line:?}");
        let said = edge.process.stderr();
        assert!(!said.contains("never does"), "{said}");
    }

    /// The newest entry is the large one when an edge starts: it skips it
    /// and reads on, greeting once a publisher names its file.
    #[rstest]
    fn as_the_newest_when_an_edge_starts_is_skipped(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        watching(&redis, "1-0");
        let id = a_large_entry(&redis, TOO_LARGE);
        let mut edge = Spawned::start("net-watcher", &["--relay", &url, "--port", "0"]);
        edge.wait_for_stderr(&format!(
            "Skipped the malformed stream entry {id}: it is larger than the 8 MiB or 100000 values that one read may take.\n"
        ));
        let _publisher = start_publisher(&target, &url, &[]);
        edge.wait_for_stdout_containing("Listening for subscribers on ");
        assert!(!edge.stderr().contains("never does"), "{}", edge.stderr());
    }

    /// The publisher reads the stream's newest entry before it names its
    /// file: it was refused for good, the file was never named, and no
    /// edge could start.
    #[rstest]
    fn as_the_newest_when_a_publisher_starts_stops_neither_it_nor_its_edges(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        a_large_entry(&redis, TOO_LARGE);
        let publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);
        target.touch();
        let line = subscriber.next_line("the change after the publisher started");
        assert!(line.starts_with("File changed: "), "got {line:?}");
        let said = publisher.process.stderr();
        assert!(!said.contains("never does"), "{said}");
    }

    /// Entries that each fit but not a read's worth of them together (a
    /// thousand of 9 KB): the edge reads fewer at a time, skipping none.
    #[rstest]
    fn many_of_which_fit_one_by_one_are_all_read(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);

        // In one transaction: the edge's read, waiting, is answered with
        // them all at once.
        let mut many = redis::pipe();
        many.atomic();
        for _ in 0..1_000 {
            many.cmd("XADD")
                .arg("changes")
                .arg("*")
                .arg("type")
                .arg("watching")
                .arg("file")
                .arg("target.txt")
                .arg("junk")
                .arg("j".repeat(9_000))
                .ignore();
        }
        let () = many
            .query(&mut redis.connection())
            .expect("Redis takes the entries");
        target.touch();
        let line = subscriber.next_line("the change after the entries");
        assert!(line.starts_with("File changed: "), "got {line:?}");
        let said = edge.process.stderr();
        assert!(
            !said.contains("Skipped") && !said.contains("never does"),
            "{said}"
        );
        // Half as many at a time fit: none was read on its own.
        assert_eq!(redis.times_asked("xrange"), 0);
    }
}

mod an_entry_for_another_file {
    use super::*;

    /// A second publisher on the same stream, with another file: an edge
    /// greets with one file's name, and tells that file's changes only.
    #[rstest]
    fn is_skipped_and_told_on_the_console(target: TargetFile) {
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
            .arg("other.txt")
            .arg("timestamp")
            .arg(now_millis())
            .query(&mut redis.connection())
            .expect("Redis takes the entry");

        edge.process.wait_for_stderr(&format!(
            "Skipped the stream entry {id}: it is for another file, \"other.txt\"."
        ));
        subscriber.expect_silence("a change of another file");
        target.touch();
        let line = subscriber.next_line("a change of the edge's own file");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }
}

mod a_publisher_of_a_file_whose_name_holds_a_newline {
    use super::*;
    use pretty_assertions::assert_eq;

    use jiff::tz::TimeZone;
    use net_watcher::protocol::{Message, Protocol};

    /// Redis keeps any bytes, so the name travels as it is; an edge greets
    /// with it exactly as the publisher does (the greeting's rendering is
    /// the protocol's, on both, control characters escaped).
    #[rstest]
    fn is_served_by_its_edges_as_by_itself(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let name = "a\nFile changed: FAKE";
        let file = TargetFile::at(target.dir().join(name));
        std::fs::File::create(file.path()).expect("the file can be made");
        let url = redis.url("changes");
        let publisher = start_publisher_of(&target, name, &url, &["--json"]);
        let json_edge = start_edge(&url, &["--json"]);
        let text_edge = start_edge(&url, &[]);

        let greeting = |server: &TestServer, protocol: Protocol| {
            let expected = protocol.render(
                &Message::Watching {
                    file: name.to_owned(),
                },
                &TimeZone::UTC,
            );
            let mut subscriber = server.connect();
            let greeting: String = (0..expected.matches('\n').count())
                .map(|_| subscriber.next_line("the greeting"))
                .collect();
            (subscriber, greeting, expected)
        };
        let (_, on_publisher, _) = greeting(&publisher, Protocol::Json);
        let (mut on_json_edge, on_edge, expected) = greeting(&json_edge, Protocol::Json);
        assert_eq!(on_edge, on_publisher);
        assert_eq!(on_edge, expected);
        let (mut on_text_edge, on_edge, expected) = greeting(&text_edge, Protocol::Text);
        assert_eq!(on_edge, expected);
        // Escaped, as the watcher's own: one line, which forges none.
        assert_eq!(
            on_edge,
            "Now watching \"a\\nFile changed: FAKE\" for changes...\n"
        );

        file.touch();
        timestamp_of(&on_json_edge.next_line("the change, on the JSON edge"));
        let line = on_text_edge.next_line("the change, on the text edge");
        assert!(line.starts_with("File changed: "), "got {line:?}");
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
            refusal.starts_with("Error: the server is full (1 subscriber)"),
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

mod a_publisher {
    use super::*;

    /// Redis takes `MAXLEN` up to 2^63 - 1 (a signed 64-bit number): a cap
    /// above it would make every append fail, so it is refused at start.
    #[test]
    fn refuses_a_maxlen_that_redis_cannot_take_with_a_usage_error() {
        for maxlen in ["0", "9223372036854775808", "18446744073709551615"] {
            let assert = assert_cmd::cargo::cargo_bin_cmd!("net-watcher")
                .args(["target.txt", "--publish", "redis://localhost/changes"])
                .args(["--publish-maxlen", maxlen])
                .assert()
                .failure()
                .code(2);
            let said = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
            assert!(
                said.contains(&format!(
                    "invalid value '{maxlen}' for '--publish-maxlen <N>'"
                )) && said.contains("1..=9223372036854775807"),
                "{maxlen}: {said}"
            );
        }
    }

    #[rstest]
    fn appends_with_the_largest_maxlen_that_redis_takes(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let _publisher =
            start_publisher(&target, &url, &["--publish-maxlen", "9223372036854775807"]);
        let edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);
        target.touch();
        let line = subscriber.next_line("the change");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }
}

mod a_publisher_whose_redis_refuses_its_entries {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Redis answers, but refuses each append: an outage, said once with
    /// Redis's own answer, tried again with a back-off on the connection
    /// the publisher has; and the change kept meanwhile is appended once
    /// Redis takes entries again.
    #[rstest]
    #[case::out_of_memory(Refusal::OutOfMemory)]
    #[case::as_a_read_only_replica(Refusal::ReadOnlyReplica)]
    #[case::as_its_key_holds_another_type(Refusal::WrongType)]
    fn says_so_once_backs_off_and_appends_the_kept_change_when_redis_takes_it(
        target: TargetFile,
        #[case] refusal: Refusal,
    ) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let url = redis.url("changes");
        let mut publisher = start_publisher(&target, &url, &["--json"]);
        let edge = start_edge(&url, &["--json"]);
        let mut local = subscribe(&publisher, JSON_GREETING);
        let mut on_edge = subscribe(&edge, JSON_GREETING);

        redis.refuse(refusal, "changes");
        target.touch();
        let told = timestamp_of(&local.next_line("the change, on the publisher"));
        let answer = refusal_answer(refusal);
        publisher.process.wait_for_stderr(&format!(
            "Redis refused the entry for the stream {url}: {answer}"
        ));
        redis
            .watch("xadd", PUBLISHER_NAME)
            .assert_backed_off()
            .assert_kept_its_connection();
        let said = publisher.process.stderr();
        assert_eq!(said.matches(answer).count(), 1, "said once:\n{said}");
        assert!(!said.contains("Cannot reach"), "Redis answered:\n{said}");

        redis.take_again(refusal, "changes");
        publisher
            .process
            .wait_for_stdout_containing(&format!("The stream {url} takes entries again."));
        let line = on_edge.next_line("the change kept while Redis refused it");
        assert_eq!(timestamp_of(&line), told);
        on_edge.expect_silence("the one change");
    }
}

mod a_publisher_whose_redis_asks_for_a_password {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The URL has no password and Redis asks for one: every command is
    /// refused with `NOAUTH`, which the publisher says once; it serves its
    /// own subscribers meanwhile, and names its file once Redis stops
    /// asking.
    #[rstest]
    fn serves_says_so_once_and_names_its_file_once_redis_takes_it(target: TargetFile) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        redis.refuse(Refusal::Password, "changes");
        let url = redis.url("changes");
        let mut publisher = start_publisher(&target, &url, &[]);
        let mut local = subscribe(&publisher, TEXT_GREETING);
        let answer = refusal_answer(Refusal::Password);
        publisher
            .process
            .wait_for_stderr(&format!("Redis refused to read the stream {url}: {answer}"));
        redis
            .watch("xrevrange", PUBLISHER_NAME)
            .assert_backed_off()
            .assert_made_no_connection();
        target.touch();
        local.next_line("a change, told while Redis refuses");
        let said = publisher.process.stderr();
        assert_eq!(said.matches(answer).count(), 1, "said once:\n{said}");

        redis.take_again(Refusal::Password, "changes");
        publisher
            .process
            .wait_for_stdout_containing(&format!("The stream {url} can be read again."));
        let edge = start_edge(&url, &[]);
        let mut on_edge = subscribe(&edge, TEXT_GREETING);
        target.touch();
        on_edge.next_line("a change once Redis takes entries");
    }
}

mod an_edge_whose_redis_refuses_to_read {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The stream's key is made a string while an edge reads it: each read
    /// is refused with `WRONGTYPE`, said once, and tried again with a
    /// back-off on the same connection; once the key is a stream again,
    /// the edge tells its changes.
    #[rstest]
    fn says_so_once_backs_off_and_reads_on_when_it_can(target: TargetFile) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        let mut edge = start_edge(&url, &[]);
        let mut subscriber = subscribe(&edge, TEXT_GREETING);

        redis.refuse(Refusal::WrongType, "changes");
        let answer = refusal_answer(Refusal::WrongType);
        edge.process
            .wait_for_stderr(&format!("Redis refused to read the stream {url}: {answer}"));
        redis
            .watch("xread", EDGE_NAME)
            .assert_backed_off()
            .assert_kept_its_connection();
        let said = edge.process.stderr();
        assert_eq!(said.matches(answer).count(), 1, "said once:\n{said}");

        redis.take_again(Refusal::WrongType, "changes");
        edge.process
            .wait_for_stdout_containing(&format!("The stream {url} can be read again."));
        target.touch();
        let line = subscriber.next_line("the change once the key is a stream again");
        assert!(line.starts_with("File changed: "), "got {line:?}");
    }

    /// Redis asks for a password the URL does not give: the edge cannot
    /// learn its file's name, says why once, and listens once it can.
    #[rstest]
    fn says_so_once_and_listens_once_it_can(target: TargetFile) {
        let Some(mut redis) = redis_server() else {
            return;
        };
        let url = redis.url("changes");
        let _publisher = start_publisher(&target, &url, &[]);
        // The publisher names its file after it listens: done before the
        // password, or its own attempts would be counted with the edge's.
        redis.wait_for_an_entry("changes", "0-0");
        redis.refuse(Refusal::Password, "changes");
        let mut edge = Spawned::start("net-watcher", &["--relay", &url, "--port", "0"]);
        let answer = refusal_answer(Refusal::Password);
        edge.wait_for_stderr(&format!("Redis refused to read the stream {url}: {answer}"));
        redis
            .watch("xrevrange", EDGE_NAME)
            .assert_backed_off()
            .assert_made_no_connection();
        assert_eq!(edge.stderr().matches(answer).count(), 1);

        redis.take_again(Refusal::Password, "changes");
        let listening = edge.wait_for_stdout_containing("Listening for subscribers on ");
        assert!(listening.ends_with("..."), "got {listening:?}");
    }
}

mod a_stream_that_holds_the_last_possible_id {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Someone appended `18446744073709551615-18446744073709551615`: no id
    /// is above it, so no entry can follow. The publisher says so once
    /// (no id arithmetic overflows, in any build) and keeps its change;
    /// once the stream is deleted, it appends it to the new stream, and an
    /// edge, whose last id was that last one, tells it.
    #[rstest]
    fn stops_nothing_but_that_stream_and_is_left_once_deleted(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let url = redis.url("changes");
        let mut publisher = start_publisher(&target, &url, &[]);
        let edge = start_edge(&url, &[]);
        let mut local = subscribe(&publisher, TEXT_GREETING);
        let mut on_edge = subscribe(&edge, TEXT_GREETING);
        let last = "18446744073709551615-18446744073709551615";
        watching(&redis, last);

        target.touch();
        local.next_line("the change, on the publisher");
        publisher.process.wait_for_stderr(&format!(
            "No entry can go into the stream {url}: its newest id, {last}, is the last possible one"
        ));
        target.append("more");
        local.next_line("a change after the stream is full");

        let _: u64 = redis::cmd("DEL")
            .arg("changes")
            .query(&mut redis.connection())
            .expect("Redis deletes the stream");
        publisher
            .process
            .wait_for_stdout_containing(&format!("The stream {url} takes entries again."));
        let line = on_edge.next_line("the change kept while the stream was full");
        assert!(line.starts_with("File changed: "), "got {line:?}");
        on_edge.expect_silence("the latest change");
        let said = publisher.process.stderr();
        assert_eq!(said.matches("last possible one").count(), 1, "{said}");
    }
}

mod a_hostile_server_in_the_place_of_redis {
    use super::*;

    use crate::support::hostile_redis::{HostileRedis, HostileReply};

    /// The most bytes of a hostile reply a publisher or an edge may take
    /// before it hangs up: a reply is refused past 8 MiB, and the kernel's
    /// socket buffers hold a little more that nobody reads.
    const MOST_TAKEN: u64 = 16 << 20;

    /// What the program says it was sent, for each reply.
    fn said_of(reply: HostileReply) -> &'static str {
        match reply {
            HostileReply::HugeBulkString => {
                "a bulk string of 1073741824 bytes, and a reply may take 8388608 at most"
            }
            HostileReply::HugeArray => {
                "an array of 2000000000 values, and a reply may hold 100000 at most"
            }
        }
    }

    #[rstest]
    #[case::a_huge_bulk_string(HostileReply::HugeBulkString)]
    #[case::a_huge_array(HostileReply::HugeArray)]
    fn costs_a_publisher_a_bounded_part_of_the_reply_and_no_subscriber(
        target: TargetFile,
        #[case] reply: HostileReply,
    ) {
        let hostile = HostileRedis::start(reply);
        let url = hostile.url("changes");
        let publisher = start_publisher(&target, &url, &[]);
        let mut local = subscribe(&publisher, TEXT_GREETING);

        let taken = hostile.wait_for_a_hang_up();
        assert!(taken <= MOST_TAKEN, "the publisher took {taken} bytes");
        publisher.process.wait_for_stderr(&format!(
            "The server of the stream {url} answered as Redis never does: {}",
            said_of(reply)
        ));
        target.touch();
        local.next_line("a change, told while the server is hostile");
    }

    #[rstest]
    #[case::a_huge_bulk_string(HostileReply::HugeBulkString)]
    #[case::a_huge_array(HostileReply::HugeArray)]
    fn costs_an_edge_a_bounded_part_of_the_reply(#[case] reply: HostileReply) {
        let hostile = HostileRedis::start(reply);
        let url = hostile.url("changes");
        let mut edge = Spawned::start("net-watcher", &["--relay", &url, "--port", "0"]);

        let taken = hostile.wait_for_a_hang_up();
        assert!(taken <= MOST_TAKEN, "the edge took {taken} bytes");
        edge.wait_for_stderr(&format!(
            "The server of the stream {url} answered as Redis never does: {}",
            said_of(reply)
        ));
        assert!(edge.is_running(), "{}", edge.report());
    }
}

mod a_network_cut_with_no_reset {
    use super::*;
    use pretty_assertions::assert_eq;

    use crate::support::stalling_proxy::StallingProxy;

    /// Between an edge and Redis, nothing passes and nothing closes: the
    /// edge's read, unanswered past its block time and a margin (2 s and
    /// 5 s), counts as Redis gone. Once the network is back, the change
    /// made meanwhile reaches its subscribers once.
    #[rstest]
    fn is_noticed_by_an_edge_which_tells_the_change_made_meanwhile_once(target: TargetFile) {
        let Some(redis) = redis_server() else { return };
        let publisher = start_publisher(&target, &redis.url("changes"), &["--json"]);
        let proxy = StallingProxy::start(&redis.socket());
        let through = proxy.url("changes");
        let mut edge = start_edge(&through, &["--json"]);
        let mut local = subscribe(&publisher, JSON_GREETING);
        let mut on_edge = subscribe(&edge, JSON_GREETING);

        proxy.stall();
        target.touch();
        let told = timestamp_of(&local.next_line("the change made during the cut"));
        edge.process
            .wait_for_stderr(&format!("Cannot reach the stream {through}: "));
        proxy.resume();
        edge.process
            .wait_for_stdout_containing(&format!("The stream {through} answers again."));
        let line = on_edge.next_line("the change made during the cut");
        assert_eq!(timestamp_of(&line), told);
        on_edge.expect_silence("the one change");
        assert_eq!(edge.process.stderr().matches("Cannot reach").count(), 1);
    }

    /// Between a publisher and Redis: an append unanswered within 3 s
    /// counts as Redis gone; the publisher's own subscribers are told
    /// throughout, and the latest change is appended once the network is
    /// back. The append sent into the cut may arrive then too (the network
    /// held it, as TCP would send it again): edges tell it before the
    /// latest, never after, and nothing twice.
    #[rstest]
    fn is_noticed_by_a_publisher_which_appends_the_latest_change_once_it_is_back(
        target: TargetFile,
    ) {
        let Some(redis) = redis_server() else { return };
        let proxy = StallingProxy::start(&redis.socket());
        let through = proxy.url("changes");
        let mut publisher = start_publisher(&target, &through, &["--json"]);
        // The edge starts once the publisher has named its file, so that
        // it has nothing to say (it would say it waits for a publisher).
        redis.wait_for_an_entry("changes", "0-0");
        let edge = start_edge(&redis.url("changes"), &["--json"]);
        let mut local = subscribe(&publisher, JSON_GREETING);
        let mut on_edge = subscribe(&edge, JSON_GREETING);

        proxy.stall();
        target.touch();
        let first = timestamp_of(&local.next_line("a change made during the cut"));
        publisher
            .process
            .wait_for_stderr(&format!("Cannot reach the stream {through}: "));
        target.append("more");
        let latest = timestamp_of(&local.next_line("the latest change made during the cut"));
        proxy.resume();
        publisher
            .process
            .wait_for_stdout_containing(&format!("The stream {through} answers again."));
        let mut told = timestamp_of(&on_edge.next_line("a change made during the cut"));
        if told == first {
            told = timestamp_of(&on_edge.next_line("the latest change made during the cut"));
        }
        assert_eq!(told, latest);
        on_edge.expect_silence("the latest change");
        assert_eq!(
            publisher.process.stderr().matches("Cannot reach").count(),
            1
        );
        // The edge read nothing for seconds, and looked at the stream after
        // each empty read: a stream as it was is no trouble to report.
        assert_eq!(edge.process.stderr(), "", "nothing went wrong for the edge");
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
