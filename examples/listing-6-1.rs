//! Listing 6-1, chapter 6 ("From JavaScript inheritance to Rust traits"):
//! the client of step 4 with a buffer. The bytes of each read go to the end
//! of the buffer, and a message is parsed only once its whole line is
//! there, however the bytes were split across reads.
//!
//! ```console
//! $ cargo run --example listing-6-1
//! File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)
//! ```
//!
//! Listing 6-2 (`listing-6-2.rs`) moves the buffer into a type of its own;
//! listing 6-3, the step's program, is `net-watcher-ldj-client.rs`.

// ANCHOR: program
use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `process.env.PORT || 60300`, as for the server.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    let mut client = TcpStream::connect(("localhost", port)).await?;
    // The bytes received and not yet handed out as a message: the book's
    // `buffer`. A `Vec<u8>` is an array of bytes that grows.
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        // `buffer.indexOf('\n')`: is a whole line here yet?
        while let Some(boundary) = buffer.iter().position(|&byte| byte == b'\n') {
            // Take the line, newline included, out of the front of the buffer.
            let line: Vec<u8> = buffer.drain(..=boundary).collect();
            let message: Value = serde_json::from_slice(&line)?;
            print_message(&message);
        }
        // `client.on('data', data => buffer += data)`: `read_buf` adds what
        // arrives to the end of the buffer, and says how many bytes that
        // was. 0 bytes: the server has closed the connection.
        if client.read_buf(&mut buffer).await? == 0 {
            return Ok(());
        }
    }
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
