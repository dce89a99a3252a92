//! describe: the exercises at the end of the chapter, each answered by a test.
//!
//! Chapter 8 of the course discusses each one and points here.

use futures_util::StreamExt;
use net_watcher::ldj::{LdjError, MessageStream};
use net_watcher::protocol::Message;
use pretty_assertions::assert_eq;

use crate::support::chunks::{ChunkedReader, Seen, changed, decode_all, seen};

const CHANGED: &str = "{\"type\":\"changed\",\"timestamp\":1450694370094}\n";

/// T1: a message split over two or more data events.
#[tokio::test]
async fn t1_a_message_split_over_three_reads_is_emitted_once() {
    let items = decode_all([&CHANGED[..5], &CHANGED[5..30], &CHANGED[30..]]).await;
    assert_eq!(seen(items), vec![changed(1_450_694_370_094)]);
}

/// T2: "passing null is an error". Rust's types rule out a null stream at
/// compile time (see the `compile_fail` example in `ldj`'s docs); the nearest
/// real case is a stream that is already over.
#[tokio::test]
async fn t2_a_stream_already_at_its_end_yields_the_end_at_once_without_error() {
    let mut messages = MessageStream::new(tokio::io::empty());
    let first = messages.next().await;
    assert!(first.is_none(), "expected the end at once, got {first:?}");
}

/// R1: what happens to a line that is not JSON? It is reported, with the line.
#[tokio::test]
async fn r1_a_line_that_is_not_json_is_reported_with_the_line() {
    let items = decode_all(["not json at all\n"]).await;
    match items.as_slice() {
        [Err(LdjError::NotJson { line, .. })] => assert_eq!(line, "not json at all"),
        other => panic!("expected one NotJson error carrying the line, got {other:?}"),
    }
}

/// R2: and then? The bad line is dropped and decoding goes on.
#[tokio::test]
async fn r2_decoding_goes_on_after_a_line_that_is_not_json() {
    let items = decode_all([format!("oops\n{CHANGED}{CHANGED}")]).await;
    assert_eq!(
        seen(items),
        vec![
            Seen::Error("NotJson", Some("oops".into())),
            changed(1_450_694_370_094),
            changed(1_450_694_370_094)
        ]
    );
}

/// R3: a last message without its newline, then the stream closes. The
/// original loses it silently.
#[tokio::test]
async fn r3_a_final_message_without_its_newline_is_delivered_at_close() {
    let items = decode_all([CHANGED, CHANGED.trim_end()]).await;
    assert_eq!(
        seen(items),
        vec![changed(1_450_694_370_094), changed(1_450_694_370_094)]
    );
}

/// R4: the rest of the buffer is processed on close, whatever it holds: a
/// cut-off message is reported, not silently dropped.
#[tokio::test]
async fn r4_a_cut_off_remainder_is_reported_at_close_not_lost() {
    let items = decode_all([CHANGED, &CHANGED[..12]]).await;
    assert_eq!(
        seen(items),
        vec![
            changed(1_450_694_370_094),
            Seen::Error("NotJson", Some(CHANGED[..12].to_owned()))
        ]
    );
}

/// R5: should the client signal "close"? Yes: the end of the stream, once,
/// after the remainder has been handled.
// ANCHOR: r5
#[tokio::test]
async fn r5_the_end_is_signalled_once_after_the_remainder_is_handled() {
    let mut messages = MessageStream::new(ChunkedReader::new([CHANGED.trim_end()]));
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(match messages.next().await {
            Some(Ok(Message::Changed { .. })) => "message",
            Some(_) => "other",
            None => "end",
        });
    }
    assert_eq!(events, ["message", "end", "end", "end"]);
    use futures_util::stream::FusedStream;
    assert!(
        messages.is_terminated(),
        "the stream knows it has ended, so no one polls it again"
    );
}
// ANCHOR_END: r5
