//! Step 6 of the práctica, chapter 6 ("From JavaScript inheritance to Rust
//! traits"): the client of step 4 (`net-watcher-json-client.rs`) rebuilt on a
//! small module, `ldj_client`, the book's `LDJClient`. It keeps the bytes
//! that arrive in a buffer and hands out a message for each complete line,
//! however the bytes were split across reads.
//!
//! ```console
//! $ cargo run --example net-watcher-ldj-client
//! File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)
//! ```
//!
//! (That is what it prints for the one message of `test-json-service`, which
//! the client of step 4 could not read.) `PORT` names another port than 60300.

// ANCHOR: program
// ANCHOR: imports
use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::net::TcpStream;
// ANCHOR_END: imports

// ANCHOR: ldj_client
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
// ANCHOR_END: ldj_client

// ANCHOR: main
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
// ANCHOR_END: main

// ANCHOR: print_message
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
// ANCHOR_END: print_message

// ANCHOR: date
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
// ANCHOR_END: date
// ANCHOR_END: program
