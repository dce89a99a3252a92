//! An answer to chapter 6's exercise "A client on any stream": the client of
//! step 6 (`examples/net-watcher-ldj-client.rs`), which reads its messages
//! from standard input when its argument is `-`, as `cat -` does, and from
//! the server otherwise.
//!
//! ```console
//! $ cargo run --example answer-ldj-client-on-any-stream -- - < /dev/null
//! ```
//!
//! prints nothing and exits with status 0: given a stream that is over
//! before it starts, the client behaves as the students' reading of
//! exercise T2 asks, nothing, then the end. Only `main` differs from the
//! step-6 client; `cargo test --test spec exercises::a_client_on_any_stream` runs it.

// ANCHOR: program
use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::io::AsyncRead;
use tokio::net::TcpStream;

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
    // `-` names standard input: a pipe, a file, or /dev/null.
    if std::env::args().nth(1).as_deref() == Some("-") {
        let client = ldj_client::LdjClient::connect(tokio::io::stdin());
        return print_all(client).await;
    }
    // `process.env.PORT || 60300`, as for the server.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    let connection = TcpStream::connect(("localhost", port)).await?;
    print_all(ldj_client::LdjClient::connect(connection)).await
}

/// `ldjClient.on('message', message => ...)`, for a client on any stream:
/// the compiler makes one copy of this function for each type `S` it is
/// called with, here `Stdin` and `TcpStream`.
async fn print_all<S>(mut client: ldj_client::LdjClient<S>) -> Result<(), Box<dyn Error>>
where
    S: AsyncRead + Unpin,
{
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
