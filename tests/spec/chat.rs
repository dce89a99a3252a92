//! describe: the chat challenge (`examples/chat`, chapter 10), spawned as
//! people run it, on port 0, with three or more people in the room.
//! `NET_WATCHER_EXERCISE=NAME` runs the student's own chat instead,
//! `mine/examples/NAME/` (chapter 10's first exercise).
//!
//! What nobody may hear is checked by what they hear next: a line the chat
//! must not send would come before the next line it does send, since each
//! person's lines are queued in the order the room handles them.

use rstest::rstest;

use crate::support::chat::ChatRoom;

mod on_arrival {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn names_each_person_guest_and_a_number_in_order_of_arrival() {
        let chat = ChatRoom::open();
        let people = chat.three_people().await;
        let names: Vec<&str> = people.iter().map(|person| person.name.as_str()).collect();
        assert_eq!(names, ["guest1", "guest2", "guest3"]);
    }

    #[tokio::test]
    async fn tells_everyone_already_there_but_not_the_newcomer() {
        let chat = ChatRoom::open();
        let mut first = chat.join().await;
        let mut second = chat.join().await;
        first.hears("* guest2 joined").await;
        let mut third = chat.join().await;
        first.hears("* guest3 joined").await;
        second.hears("* guest3 joined").await;
        first.says("hi").await;
        third.hears("guest1: hi").await;
    }

    #[tokio::test]
    async fn skips_a_guest_name_someone_has_taken() {
        let chat = ChatRoom::open();
        let mut first = chat.join().await;
        first.says("/nick guest2").await;
        first.hears("* you are now guest2").await;
        let second = chat.join().await;
        assert_eq!(second.name, "guest3");
    }
}

mod a_line {
    use super::*;

    #[tokio::test]
    async fn reaches_every_other_person_as_name_colon_text() {
        let chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.says("hello, everyone").await;
        second.hears("guest1: hello, everyone").await;
        third.hears("guest1: hello, everyone").await;
    }

    #[tokio::test]
    async fn is_never_echoed_to_its_sender() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.says("hello").await;
        second.hears("guest1: hello").await;
        second.says("hi").await;
        // An echo of "hello" would have been queued before "hi".
        first.hears("guest2: hi").await;
    }

    #[tokio::test]
    async fn that_is_empty_goes_to_no_one() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.says("").await;
        first.says("after the empty line").await;
        second.hears("guest1: after the empty line").await;
    }
}

mod when_a_line_arrives_in_pieces {
    use super::*;

    #[tokio::test]
    async fn sends_nothing_until_its_newline_then_the_whole_line() {
        let chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        first.types("hel").await;
        second.hears_nothing("half a word").await;
        first.types("lo, wor").await;
        third.hears_nothing("a line without its newline").await;
        first.types("ld\n").await;
        second.hears("guest1: hello, world").await;
        third.hears("guest1: hello, world").await;
    }

    #[tokio::test]
    async fn sends_two_lines_that_arrive_together_one_by_one() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.types("one\ntwo\n").await;
        second.hears("guest1: one").await;
        second.hears("guest1: two").await;
    }

    #[tokio::test]
    async fn takes_telnet_line_endings_as_newlines() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.types("from telnet\r\n").await;
        second.hears("guest1: from telnet").await;
    }

    #[tokio::test]
    async fn drops_a_last_line_that_never_got_its_newline() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.types("unfinished").await;
        drop(first);
        second.hears("* guest1 left").await;
    }
}

mod nick {
    use super::*;

    #[tokio::test]
    async fn renames_and_tells_the_others() {
        let chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        second.says("/nick ana").await;
        second.hears("* you are now ana").await;
        first.hears("* guest2 is now ana").await;
        third.hears("* guest2 is now ana").await;
        second.says("hola").await;
        first.hears("ana: hola").await;
    }

    #[rstest]
    #[case::taken("/nick guest3", "that name is taken")]
    #[case::empty("/nick", "a name is needed: /nick NAME")]
    #[case::empty_after_a_space("/nick ", "a name is needed: /nick NAME")]
    #[case::with_a_space("/nick ana maria", "a name cannot contain spaces")]
    #[case::with_a_leading_space("/nick  ana", "a name cannot contain spaces")]
    #[case::with_a_tab("/nick ana\tmaria", "a name cannot contain spaces")]
    #[tokio::test]
    async fn refuses_in_one_line_and_changes_nothing(#[case] command: &str, #[case] why: &str) {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        second.says(command).await;
        second
            .hears(&format!("* {why}; you are still guest2"))
            .await;
        second.says("same name").await;
        // A rename would have been announced before this line.
        first.hears("guest2: same name").await;
    }
}

mod who {
    use super::*;

    #[tokio::test]
    async fn lists_everyone_in_order_of_arrival_with_their_names_now() {
        let chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        third.says("/who").await;
        third.hears("* here: guest1, guest2, guest3").await;
        second.says("/nick ana").await;
        third.hears("* guest2 is now ana").await;
        first.says("/quit").await;
        third.hears("* guest1 left").await;
        third.says("/who").await;
        third.hears("* here: ana, guest3").await;
    }

    #[tokio::test]
    async fn is_answered_to_the_asker_only() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.says("/who").await;
        first.hears("* here: guest1, guest2, guest3").await;
        first.says("after who").await;
        second.hears("guest1: after who").await;
    }
}

mod an_unknown_command {
    use super::*;

    #[tokio::test]
    async fn lists_the_commands_and_goes_to_no_one() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.says("/nikc ana").await;
        first.hears("* commands: /nick NAME, /who, /quit").await;
        first.says("after a typo").await;
        second.hears("guest1: after a typo").await;
    }
}

mod on_departure {
    use super::*;

    #[tokio::test]
    async fn quit_says_goodbye_closes_and_tells_the_others() {
        let chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        second.says("/quit").await;
        second.hears("* bye, guest2").await;
        second.is_let_go().await;
        first.hears("* guest2 left").await;
        third.hears("* guest2 left").await;
    }

    #[tokio::test]
    async fn closing_the_connection_tells_the_others_under_the_name_now() {
        let mut chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        third.says("/nick ana").await;
        third.hears("* you are now ana").await;
        first.hears("* guest3 is now ana").await;
        second.hears("* guest3 is now ana").await;
        drop(third);
        first.hears("* ana left").await;
        second.hears("* ana left").await;
        chat.console_says("* ana left");
    }
}

mod a_flood {
    use super::*;

    #[tokio::test]
    async fn reaches_everyone_who_keeps_reading_however_fast_it_comes() {
        let chat = ChatRoom::open();
        let [mut first, mut second, mut third] = chat.three_people().await;
        // Far more lines in one write than a queue holds: the room waits for
        // each reader to make room, so nobody who reads is cut off.
        const LINES: usize = 20_000;
        let flood: String = (0..LINES).map(|n| format!("flood {n}\n")).collect();
        first.types(&flood).await;
        for n in 0..LINES {
            second.hears(&format!("guest1: flood {n}")).await;
            third.hears(&format!("guest1: flood {n}")).await;
        }
        first.says("/who").await;
        first.hears("* here: guest1, guest2, guest3").await;
    }
}

mod a_person_who_stops_reading {
    use super::*;
    use crate::support::PATIENCE;
    use pretty_assertions::assert_eq;
    use tokio::io::AsyncReadExt;

    /// What a person who talks a lot says, about 1 KB a line.
    fn chatter(number: usize) -> String {
        format!("line {number:05} {}", "x".repeat(1000 - 11))
    }

    #[tokio::test]
    async fn is_cut_off_and_the_others_keep_talking() {
        let mut chat = ChatRoom::open();
        let mut first = chat.join().await;
        let mut second = chat.join().await;
        first.hears("* guest2 joined").await;
        let mut silent = chat.join_without_reading().await;
        first.hears("* guest3 joined").await;
        second.hears("* guest3 joined").await;

        // The first person talks until the silent one's socket buffers and
        // queue are full; the second keeps reading all along. A batch is
        // shorter than a queue, so the reader can never be the one cut off.
        const BATCH: usize = 32;
        const MOST: usize = 50_000; // 50 MB: far more than any socket buffers
        let mut said = 0;
        let mut cut_off = false;
        while !cut_off {
            assert!(said < MOST, "nobody was cut off after {said} lines");
            let batch: String = (said..said + BATCH).map(|n| chatter(n) + "\n").collect();
            first.types(&batch).await;
            for number in said..said + BATCH {
                let mut line = second.next_line("the first person's chatter").await;
                if line == "* guest3 left" {
                    cut_off = true;
                    line = second.next_line("the first person's chatter").await;
                }
                assert_eq!(line, format!("guest1: {}", chatter(number)));
            }
            said += BATCH;
        }
        chat.console_says("guest3 is not reading: disconnected.");

        first.hears("* guest3 left").await;
        first.says("still here?").await;
        second.hears("guest1: still here?").await;
        second.says("yes").await;
        first.hears("guest2: yes").await;

        // The silent person's connection is closed: after what was already
        // in its buffers, it reads the end.
        let mut sink = Vec::new();
        let read = tokio::time::timeout(PATIENCE, silent.read_to_end(&mut sink)).await;
        assert!(
            matches!(read, Ok(Ok(_))),
            "the silent person's connection is not closed: {read:?}"
        );
    }
}

mod a_line_too_long {
    use super::*;

    /// The example's limit, in bytes, without the newline.
    const MAX_LINE: usize = 1000;

    #[tokio::test]
    async fn is_refused_with_a_message_and_goes_to_no_one() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        first.says(&"x".repeat(MAX_LINE + 1)).await;
        first
            .hears("* line too long (over 1000 bytes); not sent")
            .await;
        first.says("short").await;
        second.hears("guest1: short").await;
    }

    #[tokio::test]
    async fn of_exactly_the_limit_is_sent() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        let longest = "y".repeat(MAX_LINE);
        first.says(&longest).await;
        second.hears(&format!("guest1: {longest}")).await;
    }

    /// The chat's peak resident memory, from Linux's `/proc`, in kB.
    fn peak_memory_kb(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .expect("a VmHWM line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn of_many_megabytes_leaves_the_memory_as_it_was() {
        let chat = ChatRoom::open();
        let [mut first, mut second, _third] = chat.three_people().await;
        let before = peak_memory_kb(chat.server.process.id());
        let megabyte = "z".repeat(1 << 20);
        for _ in 0..32 {
            first.types(&megabyte).await;
        }
        first.types("\n").await;
        first
            .hears("* line too long (over 1000 bytes); not sent")
            .await;
        first.says("short").await;
        second.hears("guest1: short").await;
        let grown = peak_memory_kb(chat.server.process.id()) - before;
        // Holding the line would take 32 MB; reading it takes a buffer.
        assert!(
            grown < 4 * 1024,
            "the chat's peak memory grew by {grown} kB for a 32 MB line"
        );
    }
}

mod the_program {
    use crate::support::binary::{Spawned, TestServer};
    use crate::support::chat::the_chat;
    use pretty_assertions::assert_eq;

    #[test]
    fn explains_its_port_option_and_variable_in_its_help() {
        // Without PORT in its environment, whatever the test's is.
        let mut help = Spawned::start_configured(None, &the_chat(), &["--help"], |command| {
            command.env_remove("PORT");
        });
        let (status, lines) = help.wait_for_exit();
        assert!(status.success(), "{}", help.report());
        let help = lines.join("\n");
        assert!(help.contains("--port <PORT>"), "{help}");
        assert!(help.contains("[env: PORT=]"), "{help}");
        assert!(help.contains("[default: 60301]"), "{help}");
    }

    #[test]
    fn takes_its_port_from_the_port_variable() {
        let chat = TestServer::start_configured(&the_chat(), &[], |command| {
            command.env("PORT", "0");
        });
        assert_ne!(chat.port(), 0, "{:?}", chat.listening_on());
        assert_eq!(chat.listening_on(), [format!("127.0.0.1:{}", chat.port())]);
    }

    #[test]
    fn refuses_a_port_that_is_not_a_number() {
        let mut chat = Spawned::start(&the_chat(), &["--port", "sixty"]);
        let (status, _) = chat.wait_for_exit();
        assert_eq!(status.code(), Some(2), "{}", chat.report());
        assert!(
            chat.stderr().contains("invalid value 'sixty'"),
            "{}",
            chat.report()
        );
    }

    #[test]
    fn fails_with_the_reason_when_the_port_is_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let mut chat = Spawned::start(&the_chat(), &["--port", &port]);
        let (status, _) = chat.wait_for_exit();
        assert!(!status.success(), "{}", chat.report());
        assert!(
            chat.stderr().contains("Address already in use"),
            "{}",
            chat.report()
        );
    }
}
