//! describe: LDJClient, the Rust way (`ldj::MessageStream` over
//! `ldj::LdjCodec`).
//!
//! Section 4 of the foundation issue, case by case: how bytes that arrive in
//! any pieces become messages, and what becomes of bad input.

use futures_util::stream::FusedStream;
use futures_util::{FutureExt, StreamExt};
use net_watcher::ldj::{LdjCodec, MessageStream};
use net_watcher::protocol::Message;
use tokio::io::AsyncWriteExt;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::support::chunks::{Seen, changed, decode_all, decode_all_with_limit, seen, watching};
use crate::support::within;

const CHANGED: &str = "{\"type\":\"changed\",\"timestamp\":1450694370094}\n";

/// The book's two Mocha tests, ported: a fresh stream and client for each
/// (Mocha's `beforeEach`), data written by the test as the fake stream's
/// `data` events.
mod the_books_mocha_tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn emits_a_message_event_from_a_single_data_event() {
        let (mut stream, far_end) = tokio::io::duplex(1024);
        let mut client = MessageStream::new(far_end);
        stream.write_all(CHANGED.as_bytes()).await.unwrap();
        let message = within("the message", client.next())
            .await
            .expect("one message")
            .expect("a valid message");
        assert_eq!(
            message,
            Message::Changed {
                timestamp: 1_450_694_370_094
            }
        );
    }

    // ANCHOR: mocha_split
    #[tokio::test]
    async fn emits_a_message_event_from_split_data_events() {
        let (mut stream, far_end) = tokio::io::duplex(1024);
        let mut client = MessageStream::new(far_end);
        let (first_half, second_half) = CHANGED.split_at(20);
        stream.write_all(first_half.as_bytes()).await.unwrap();
        assert!(
            client.next().now_or_never().is_none(),
            "no message may be emitted from half a line"
        );
        // "On the next tick": the second half arrives after the client has
        // already read and buffered the first.
        stream.write_all(second_half.as_bytes()).await.unwrap();
        let message = within("the reassembled message", client.next())
            .await
            .expect("one message")
            .expect("a valid message");
        assert_eq!(
            message,
            Message::Changed {
                timestamp: 1_450_694_370_094
            }
        );
    }
    // ANCHOR_END: mocha_split
}

mod when_a_message_is_split {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn emits_it_once_from_two_reads() {
        let items = decode_all([&CHANGED[..10], &CHANGED[10..]]).await;
        assert_eq!(seen(items), vec![changed(1_450_694_370_094)]);
    }

    #[tokio::test]
    async fn emits_it_once_from_one_byte_per_read() {
        let items = decode_all(CHANGED.as_bytes().chunks(1)).await;
        assert_eq!(seen(items), vec![changed(1_450_694_370_094)]);
    }

    #[tokio::test]
    async fn emits_it_once_when_a_multi_byte_character_is_split_between_reads() {
        let line = "{\"type\":\"watching\",\"file\":\"ñandú.txt\"}\n".as_bytes();
        // 'ñ' is two bytes; cut between them.
        let cut = line.iter().position(|&b| b == 0xC3).unwrap() + 1;
        let items = decode_all([&line[..cut], &line[cut..]]).await;
        assert_eq!(seen(items), vec![watching("ñandú.txt")]);
    }
}

mod when_several_messages_arrive_in_one_read {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn emits_each_of_them_in_order() {
        let read = format!("{{\"type\":\"watching\",\"file\":\"a\"}}\n{CHANGED}{CHANGED}");
        let items = decode_all([read]).await;
        assert_eq!(
            seen(items),
            vec![
                watching("a"),
                changed(1_450_694_370_094),
                changed(1_450_694_370_094)
            ]
        );
    }

    #[tokio::test]
    async fn keeps_the_partial_last_one_for_the_next_read() {
        let read = format!("{CHANGED}{}", &CHANGED[..7]);
        let items = decode_all([read.as_str(), &CHANGED[7..]]).await;
        assert_eq!(
            seen(items),
            vec![changed(1_450_694_370_094), changed(1_450_694_370_094)]
        );
    }
}

mod line_endings {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn accepts_crlf() {
        let items = decode_all(["{\"type\":\"changed\",\"timestamp\":1}\r\n"]).await;
        assert_eq!(seen(items), vec![changed(1)]);
    }

    #[tokio::test]
    async fn accepts_crlf_split_between_the_cr_and_the_lf() {
        let items = decode_all(["{\"type\":\"changed\",\"timestamp\":1}\r", "\n"]).await;
        assert_eq!(seen(items), vec![changed(1)]);
    }

    #[tokio::test]
    async fn skips_blank_lines() {
        let items = decode_all(["\n\r\n   \n{\"type\":\"changed\",\"timestamp\":2}\n\n"]).await;
        assert_eq!(seen(items), vec![changed(2)]);
    }
}

mod at_the_end_of_the_stream {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn delivers_a_last_message_that_has_no_newline() {
        let items = decode_all([CHANGED.trim_end()]).await;
        assert_eq!(seen(items), vec![changed(1_450_694_370_094)]);
    }

    #[tokio::test]
    async fn ends_once_and_stays_ended() {
        let mut messages = MessageStream::new(CHANGED.as_bytes());
        assert!(!messages.is_terminated(), "not over before it starts");
        let first = messages.next().await;
        assert!(
            matches!(first, Some(Ok(_))),
            "expected the message, got {first:?}"
        );
        assert!(
            !messages.is_terminated(),
            "not over until the end has been seen"
        );
        let end = messages.next().await;
        assert!(end.is_none(), "expected the end, got {end:?}");
        // Fused: callers such as `select!` may ask instead of polling.
        assert!(messages.is_terminated(), "over once the end was seen");
        assert!(
            messages.next().await.is_none(),
            "still the end: nothing may follow it"
        );
    }

    #[tokio::test]
    async fn reports_a_read_failure_once_then_ends() {
        let reader = crate::support::chunks::ChunkedReader::new([CHANGED])
            .then_fail(std::io::ErrorKind::ConnectionReset);
        let items: Vec<_> = MessageStream::new(reader).collect().await;
        assert_eq!(
            seen(items),
            vec![changed(1_450_694_370_094), Seen::Error("Io", None)]
        );
    }
}

mod when_a_line_is_not_json {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn yields_an_error_that_carries_the_line_then_goes_on() {
        let items = decode_all(["this is not json\r\n", CHANGED]).await;
        assert_eq!(
            seen(items),
            vec![
                Seen::Error("NotJson", Some("this is not json".into())),
                changed(1_450_694_370_094)
            ]
        );
    }

    #[tokio::test]
    async fn reports_truncated_json_as_not_json() {
        let items = decode_all(["{\"type\":\"changed\",\"timesta\n"]).await;
        assert_eq!(
            seen(items),
            vec![Seen::Error(
                "NotJson",
                Some("{\"type\":\"changed\",\"timesta".into())
            )]
        );
    }
}

mod when_a_line_is_json_but_not_a_message {
    use super::*;
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    #[rstest]
    #[case::an_array("[1,2,3]")]
    #[case::an_object_without_type("{\"file\":\"target.txt\"}")]
    #[case::watching_without_file("{\"type\":\"watching\"}")]
    #[case::changed_without_timestamp("{\"type\":\"changed\"}")]
    #[case::a_timestamp_that_is_a_string("{\"type\":\"changed\",\"timestamp\":\"soon\"}")]
    #[tokio::test]
    async fn yields_a_not_a_message_error_then_goes_on(#[case] line: &str) {
        let items = decode_all([format!("{line}\n{CHANGED}")]).await;
        assert_eq!(
            seen(items),
            vec![
                Seen::Error("NotAMessage", Some(line.to_owned())),
                changed(1_450_694_370_094)
            ]
        );
    }

    #[tokio::test]
    async fn decodes_an_unknown_type_as_a_message_not_an_error() {
        let items = decode_all(["{\"type\":\"party\",\"when\":\"now\"}\n"]).await;
        assert_eq!(
            seen(items),
            vec![Seen::Message(Message::Unknown {
                kind: "party".into()
            })]
        );
    }
}

mod when_a_line_is_not_utf8 {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn yields_an_invalid_utf8_error_then_goes_on() {
        let items = decode_all([&b"{\"type\":\"\xff\xfe\"}\n"[..], CHANGED.as_bytes()]).await;
        assert_eq!(
            seen(items),
            vec![
                Seen::Error(
                    "InvalidUtf8",
                    Some("{\"type\":\"\u{fffd}\u{fffd}\"}".into())
                ),
                changed(1_450_694_370_094)
            ]
        );
    }
}

mod when_a_line_is_too_long {
    use super::*;
    use pretty_assertions::assert_eq;

    #[tokio::test]
    async fn yields_one_error_for_a_long_line_that_arrives_whole_then_goes_on() {
        let long = format!(
            "{{\"type\":\"watching\",\"file\":\"{}\"}}\n",
            "x".repeat(100)
        );
        let items = decode_all_with_limit(64, [format!("{long}{CHANGED}")]).await;
        assert_eq!(
            seen(items),
            vec![Seen::Error("LineTooLong", None), changed(1_450_694_370_094)]
        );
    }

    #[tokio::test]
    async fn yields_one_error_for_a_long_line_that_arrives_in_pieces_then_goes_on() {
        let mut chunks = vec!["y".repeat(50); 10];
        chunks.push(format!("tail of the long line\n{CHANGED}"));
        let items = decode_all_with_limit(64, chunks).await;
        assert_eq!(
            seen(items),
            vec![Seen::Error("LineTooLong", None), changed(1_450_694_370_094)]
        );
    }

    #[test]
    fn holds_no_more_than_the_limit_while_discarding() {
        let mut codec = LdjCodec::with_max_line_length(64);
        let mut buffer = BytesMut::new();
        let mut errors = 0;
        for _ in 0..1000 {
            buffer.extend_from_slice(&[b'z'; 50]);
            if let Some(item) = codec.decode(&mut buffer).expect("no I/O here") {
                assert!(item.is_err(), "only the length error may come out");
                errors += 1;
            }
            assert!(
                buffer.len() <= 64 + 50,
                "the buffer holds {} bytes while discarding a line",
                buffer.len()
            );
        }
        assert_eq!(errors, 1, "one long line, one error");
        buffer.extend_from_slice(format!("end\n{CHANGED}").as_bytes());
        let next = codec.decode(&mut buffer).expect("no I/O here");
        assert!(
            matches!(next, Some(Ok(Message::Changed { .. }))),
            "decoding resumes after the long line: {next:?}"
        );
    }

    #[tokio::test]
    async fn drops_a_long_final_line_at_the_end_of_the_stream() {
        let items = decode_all_with_limit(64, [format!("{CHANGED}{}", "w".repeat(100))]).await;
        assert_eq!(
            seen(items),
            vec![changed(1_450_694_370_094), Seen::Error("LineTooLong", None)]
        );
    }
}

mod whatever_the_split {
    use super::*;
    use crate::support::chunks::ChunkedReader;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            any::<u64>().prop_map(|timestamp| Message::Changed { timestamp }),
            // Any text, multi-byte characters included, as a file name.
            ".{0,12}".prop_map(|file| Message::Watching { file }),
            "[a-z]{1,8}".prop_filter_map("a type of our own", |kind| {
                (!["watching", "changed", "error"].contains(&kind.as_str()))
                    .then_some(Message::Unknown { kind })
            }),
        ]
    }

    fn to_line(message: &Message, crlf: bool) -> String {
        match message {
            Message::Unknown { kind } => format!("{{\"type\":\"{kind}\"}}\n"),
            known => known.to_json_line(),
        }
        .replace('\n', if crlf { "\r\n" } else { "\n" })
    }

    proptest! {
        #[test]
        fn yields_the_same_messages(
            messages in prop::collection::vec(message(), 1..8),
            crlf in any::<bool>(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let bytes: Vec<u8> = messages
                .iter()
                .flat_map(|message| to_line(message, crlf).into_bytes())
                .collect();
            let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len())).collect();
            positions.push(0);
            positions.push(bytes.len());
            positions.sort_unstable();
            positions.dedup();
            let chunks: Vec<&[u8]> = positions.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();

            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let decoded: Vec<Message> = runtime.block_on(async {
                MessageStream::new(ChunkedReader::new(chunks))
                    .map(|item| item.expect("every line is a valid message"))
                    .collect()
                    .await
            });
            prop_assert_eq!(decoded, messages);
        }
    }
}

mod with_the_default_limit {
    use super::*;
    use net_watcher::ldj::DEFAULT_MAX_LINE_LENGTH;
    use pretty_assertions::assert_eq;

    #[test]
    fn accepts_a_line_of_one_mebibyte_and_refuses_one_byte_more() {
        assert_eq!(DEFAULT_MAX_LINE_LENGTH, 1 << 20);
        let mut codec = LdjCodec::new();
        assert_eq!(codec.max_line_length(), DEFAULT_MAX_LINE_LENGTH);
        assert_eq!(LdjCodec::with_max_line_length(64).max_line_length(), 64);
        let mut at_limit = BytesMut::from(&vec![b'x'; DEFAULT_MAX_LINE_LENGTH][..]);
        at_limit.extend_from_slice(b"\n");
        let item = codec.decode(&mut at_limit).unwrap().expect("one item");
        assert!(
            matches!(item, Err(net_watcher::ldj::LdjError::NotJson { .. })),
            "a line of exactly the limit is decoded (and is not JSON)"
        );
        let mut over = BytesMut::from(&vec![b'x'; DEFAULT_MAX_LINE_LENGTH + 1][..]);
        over.extend_from_slice(b"\n");
        let item = codec.decode(&mut over).unwrap().expect("one item");
        assert!(
            matches!(item, Err(net_watcher::ldj::LdjError::LineTooLong { max_line_length }) if max_line_length == DEFAULT_MAX_LINE_LENGTH),
            "one byte over the limit is refused"
        );
    }
}

mod its_errors {
    use super::*;
    use net_watcher::ldj::LdjError;
    use std::error::Error;

    #[tokio::test]
    async fn name_their_cause_when_they_have_one() {
        let items = decode_all(["not json\n"]).await;
        let Some(Err(not_json)) = items.into_iter().next() else {
            panic!("expected an error item");
        };
        assert!(
            not_json.source().is_some(),
            "the JSON parser's error is the cause"
        );
        let io = LdjError::Io(std::io::Error::other("reset"));
        assert_eq!(
            io.source().map(ToString::to_string),
            Some("reset".to_owned())
        );
        let too_long = LdjError::LineTooLong { max_line_length: 8 };
        assert!(
            too_long.source().is_none(),
            "a limit has no underlying cause"
        );
        assert_eq!(too_long.to_string(), "line is longer than 8 bytes");
    }
}
