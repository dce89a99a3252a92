//! An answer to chapter 7's exercise "The práctica's Mocha suite": the
//! client of step 6 (`examples/net-watcher-ldj-client.rs`), unchanged, with
//! the book's two tests of `LDJClient` (step 7) in a test module of its own
//! at the end: one message from a single data event, and one message from
//! a line split across two data events.
//!
//! ```console
//! $ cargo test --example answer-a-mocha-suite
//! ```
//!
//! runs the two tests; `cargo test --test spec exercises::a_mocha_suite`
//! checks them, as it checks a student's.

use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::net::TcpStream;

/// The book's `lib/ldj-client.js`. Where the book's class `extends
/// EventEmitter` and emits a 'message' event, this type hands out the next
/// message when asked, and the caller's loop is the listener.
mod ldj_client {
    use std::error::Error;

    use serde_json::Value;
    use tokio::io::{AsyncRead, AsyncReadExt};

    /// A stream of messages read from `stream`: any type that implements the
    /// `AsyncRead` trait (a TCP socket, a Unix socket, a test's fake stream).
    /// Wrapping the stream, rather than extending a class, is composition.
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

        /// The next message, or `None` once the stream has ended.
        pub async fn next_message(&mut self) -> Result<Option<Value>, Box<dyn Error>> {
            loop {
                // `buffer.indexOf('\n')`: is a whole line here yet?
                if let Some(boundary) = self.buffer.iter().position(|&byte| byte == b'\n') {
                    // Take the line, newline included, out of the buffer.
                    let line: Vec<u8> = self.buffer.drain(..=boundary).collect();
                    return Ok(Some(serde_json::from_slice(&line)?));
                }
                // Not yet: `buffer += data`, with the next read's bytes. At the
                // end of the stream, what is left in the buffer is dropped, as
                // the book's is (the exercises of chapter 8 take this up).
                if self.stream.read_buf(&mut self.buffer).await? == 0 {
                    return Ok(None);
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `process.env.PORT || 60300`, as for the server.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    let connection = TcpStream::connect(("localhost", port)).await?;
    // `ldjClient.on('message', message => ...)`: one turn of the loop per
    // message, until the server closes the connection.
    let mut client = ldj_client::LdjClient::connect(connection);
    while let Some(message) = client.next_message().await? {
        print_message(&message);
    }
    Ok(())
}

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

// ANCHOR: tests_module
#[cfg(test)] // Compiled only by `cargo test`.
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tokio::io::AsyncWriteExt; // `write_all`

    // The client above, in the same file.
    use super::ldj_client::LdjClient;
    // ANCHOR_END: tests_module

    const CHANGED: &str = "{\"type\":\"changed\",\"timestamp\":1450694370094}\n";

    // ANCHOR: single
    /// The book's "should emit a message event from a single data event".
    #[tokio::test]
    async fn a_single_data_event_gives_one_message() {
        // `duplex` is an in-memory pipe: the test writes into `server`, as
        // the book's test emits 'data' on its fake stream, and the client
        // reads from the other end.
        let (mut server, far_end) = tokio::io::duplex(1024);
        let mut client = LdjClient::connect(far_end);
        server.write_all(CHANGED.as_bytes()).await.unwrap();
        let message = client.next_message().await.expect("valid JSON");
        assert_eq!(
            message,
            Some(json!({"type": "changed", "timestamp": 1450694370094_i64}))
        );
    }
    // ANCHOR_END: single

    // ANCHOR: split
    /// The book's "should emit a message event from split data events".
    #[tokio::test(start_paused = true)]
    async fn split_data_events_give_one_message() {
        let (mut server, far_end) = tokio::io::duplex(1024);
        let mut client = LdjClient::connect(far_end);
        let (first_half, second_half) = CHANGED.split_at(20);
        server.write_all(first_half.as_bytes()).await.unwrap();
        // Nothing from half a line. The clock is paused: once the client
        // has read the half and waits for more, tokio jumps the clock to
        // the timeout's end, at once. A client that took the half for a
        // message would have answered before, with a JSON error.
        let nothing = tokio::time::timeout(Duration::from_secs(1), client.next_message()).await;
        assert!(nothing.is_err(), "expected nothing yet, got {nothing:?}");
        // The book's "next tick": the rest of the line.
        server.write_all(second_half.as_bytes()).await.unwrap();
        let message = client.next_message().await.expect("valid JSON");
        assert_eq!(
            message,
            Some(json!({"type": "changed", "timestamp": 1450694370094_i64}))
        );
    }
    // ANCHOR_END: split
}
