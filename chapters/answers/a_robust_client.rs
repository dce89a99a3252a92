//! An answer to the exercises of chapter 8 (the book's T1, T2 and R1 to
//! R5): the client of step 6 (`examples/net-watcher-ldj-client.rs`), made
//! robust, with a test for each exercise.
//!
//! `next_message` becomes `next_event`, which hands out the events the
//! book's `LDJClient` would emit: a message, a line that is not JSON (R1,
//! R2: reported with the line, and the client goes on), and the end of
//! the stream (R5), which comes only once what was left in the buffer has
//! been handed out (R3, R4). `print_message` and `js_date` are step 6's.
//! `cargo test --test spec exercises::a_robust_client` runs it, and runs
//! its tests.

// ANCHOR: program
use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::net::TcpStream;

// ANCHOR: ldj_client
/// The book's `lib/ldj-client.js`, with the exercises' answers.
mod ldj_client {
    use std::io;

    use serde_json::Value;
    use tokio::io::{AsyncRead, AsyncReadExt};

    // ANCHOR: event
    /// What the client hands out: the events the book's `LDJClient` emits.
    #[derive(Debug, PartialEq)]
    pub enum Event {
        /// A line that is JSON: the book's 'message' event.
        Message(Value),
        /// A line that is not JSON, as it came, without its newline (R1).
        /// The client goes on with the next line (R2).
        NotJson(String),
        /// The end of the stream, once everything before it has been handed
        /// out (R3, R4): the book's 'close' event (R5). Every call after it
        /// says `Close` again.
        Close,
    }
    // ANCHOR_END: event

    /// A stream of events read from `stream`: any type that implements the
    /// `AsyncRead` trait (a TCP socket, a test's fake stream).
    pub struct LdjClient<S> {
        stream: S,
        buffer: Vec<u8>,
    }

    // `Unpin` is asked for by `read_buf` below; every socket type has it.
    impl<S: AsyncRead + Unpin> LdjClient<S> {
        /// `LDJClient.connect(stream)`.
        pub fn connect(stream: S) -> Self {
            LdjClient {
                stream,
                buffer: Vec::new(),
            }
        }

        // ANCHOR: next_event
        /// The next event. An error is the stream's own (a connection
        /// reset, say), not the data's.
        pub async fn next_event(&mut self) -> io::Result<Event> {
            loop {
                // `buffer.indexOf('\n')`: is a whole line here yet?
                if let Some(boundary) = self.buffer.iter().position(|&byte| byte == b'\n') {
                    let line: Vec<u8> = self.buffer.drain(..=boundary).collect();
                    return Ok(event_of(&line));
                }
                if self.stream.read_buf(&mut self.buffer).await? == 0 {
                    // The end of the stream (a read of 0 bytes, here and at
                    // every later call). What is left is the last line,
                    // without its newline (R3): it goes out before the end
                    // (R4, R5).
                    if self.buffer.is_empty() {
                        return Ok(Event::Close);
                    }
                    let rest = std::mem::take(&mut self.buffer);
                    return Ok(event_of(&rest));
                }
            }
        }
        // ANCHOR_END: next_event
    }

    // ANCHOR: event_of
    /// `JSON.parse(line)`, without throwing: a line that is not JSON is
    /// handed out as it came, so that it can be shown.
    fn event_of(line: &[u8]) -> Event {
        match serde_json::from_slice(line) {
            Ok(message) => Event::Message(message),
            Err(_) => {
                let text = String::from_utf8_lossy(line);
                Event::NotJson(text.trim_end_matches(['\n', '\r']).to_owned())
            }
        }
    }
    // ANCHOR_END: event_of
}
// ANCHOR_END: ldj_client

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `process.env.PORT || 60300`, as for the server.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    let connection = TcpStream::connect(("localhost", port)).await?;
    let mut client = ldj_client::LdjClient::connect(connection);
    // One turn of the loop per event, until the end of the stream.
    loop {
        match client.next_event().await? {
            ldj_client::Event::Message(message) => print_message(&message),
            // R1, R2: say which line it was, and go on with the next.
            ldj_client::Event::NotJson(line) => eprintln!("Not JSON, skipped: {line}"),
            ldj_client::Event::Close => return Ok(()),
        }
    }
}
// ANCHOR_END: main

/// What the book's client prints for one message. A field that is missing
/// reads as `Value::Null`, much as JavaScript's `undefined`.
fn print_message(message: &Value) {
    let kind = &message["type"];
    match kind.as_str() {
        Some("watching") => println!("Now watching: {}", message["file"].as_str().unwrap_or("")),
        Some("changed") => println!("File changed: {}", js_date(message["timestamp"].as_i64())),
        // A JSON string is printed without its quotes, as JavaScript does.
        Some(other) => println!("Unrecognized message type: {other}"),
        None => println!("Unrecognized message type: {kind}"),
    }
}

/// `new Date(milliseconds).toString()`, in local time (from `TZ`, or the
/// system's setting): `Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)`.
fn js_date(milliseconds: Option<i64>) -> String {
    match milliseconds.map(Timestamp::from_millisecond) {
        Some(Ok(time)) => time
            .to_zoned_datetime(TimeZone::system())
            .strftime("%a %b %d %Y %H:%M:%S GMT%z (%Z)")
            .to_string(),
        // No number, or one out of range: JavaScript's answer.
        _ => "Invalid Date".to_owned(),
    }
}

// ANCHOR: tests
/// One test per exercise, named after it. `cargo test --example NAME`
/// runs them (with `--manifest-path mine/Cargo.toml` for your own).
// ANCHOR: tests_module
#[cfg(test)] // Compiled only by `cargo test`.
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncRead, AsyncReadExt};

    // The code above, in the same file.
    use super::ldj_client::{Event, LdjClient};
    // ANCHOR_END: tests_module

    // ANCHOR: test_helpers
    const CHANGED: &[u8] = b"{\"type\":\"changed\",\"timestamp\":1450694370094}\n";

    /// Every event a client on `stream` hands out, up to the first `Close`.
    async fn events(stream: impl AsyncRead + Unpin) -> Vec<Event> {
        let mut client = LdjClient::connect(stream);
        let mut events = Vec::new();
        loop {
            let event = client
                .next_event()
                .await
                .expect("a fake stream never fails");
            let closed = event == Event::Close;
            events.push(event);
            if closed {
                return events;
            }
        }
    }

    fn changed() -> Event {
        Event::Message(json!({"type": "changed", "timestamp": 1450694370094_i64}))
    }
    // ANCHOR_END: test_helpers

    // ANCHOR: t1
    #[tokio::test]
    async fn t1_a_message_split_over_three_reads_is_one_message() {
        // Cut in a key and in a number: `{"typ` | `e":…,"timestamp":14506`
        // | `94370094}\n`. `chain` reads its first part to the end before
        // the next: each part comes in a read of its own, as data events
        // would.
        let stream = (&CHANGED[..5]).chain(&CHANGED[5..35]).chain(&CHANGED[35..]);
        assert_eq!(events(stream).await, [changed(), Event::Close]);
    }
    // ANCHOR_END: t1

    // ANCHOR: t2
    #[tokio::test]
    async fn t2_a_stream_that_is_over_before_it_starts_gives_the_end_at_once() {
        // Rust has no `null` stream: the nearest is one that is over at
        // once, `tokio::io::empty()`, Rust's /dev/null.
        assert_eq!(events(tokio::io::empty()).await, [Event::Close]);
    }
    // ANCHOR_END: t2

    // ANCHOR: r1
    #[tokio::test]
    async fn r1_a_line_that_is_not_json_is_handed_out_with_the_line() {
        let stream = &b"not json at all\n"[..];
        let expected = [Event::NotJson("not json at all".into()), Event::Close];
        assert_eq!(events(stream).await, expected);
    }
    // ANCHOR_END: r1

    // ANCHOR: r2
    #[tokio::test]
    async fn r2_the_client_goes_on_after_a_line_that_is_not_json() {
        let stream = (&b"oops\n"[..]).chain(CHANGED);
        let expected = [Event::NotJson("oops".into()), changed(), Event::Close];
        assert_eq!(events(stream).await, expected);
    }
    // ANCHOR_END: r2

    // ANCHOR: r3
    #[tokio::test]
    async fn r3_a_last_message_without_its_newline_is_handed_out() {
        let stream = &CHANGED[..CHANGED.len() - 1];
        assert_eq!(events(stream).await, [changed(), Event::Close]);
    }
    // ANCHOR_END: r3

    // ANCHOR: r4
    #[tokio::test]
    async fn r4_a_cut_off_last_line_is_handed_out_not_dropped() {
        let stream = CHANGED.chain(&CHANGED[..12]);
        let cut_off = String::from_utf8_lossy(&CHANGED[..12]).into_owned();
        let expected = [changed(), Event::NotJson(cut_off), Event::Close];
        assert_eq!(events(stream).await, expected);
    }
    // ANCHOR_END: r4

    // ANCHOR: r5
    #[tokio::test]
    async fn r5_the_end_comes_after_the_last_line_and_stays() {
        let mut client = LdjClient::connect(&CHANGED[..CHANGED.len() - 1]);
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(client.next_event().await.unwrap());
        }
        assert_eq!(seen, [changed(), Event::Close, Event::Close]);
    }
    // ANCHOR_END: r5
}
// ANCHOR_END: tests
// ANCHOR_END: program
