//! An answer to chapter 4's exercise "A third message type": the client of
//! step 4 (`examples/net-watcher-json-client.rs`), which also prints a
//! `removed` message, `{"type":"removed","timestamp":1450694370094}`, as
//! `File removed: <date>`.
//!
//! Only `print_message` differs from the step-4 client (one new arm); the
//! rest is its code, unchanged, bug included, so that this file is the whole
//! program a student ends up with. `cargo test --test spec exercises::a_third_message_type`
//! runs it.

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
    // `net.connect({port: 60300})`: to this machine, like Node's default.
    let mut client = TcpStream::connect(("localhost", port)).await?;
    let mut data = [0; 4096];
    loop {
        // `client.on('data', data => ...)`: a read gives whatever bytes have
        // arrived so far, however many messages they hold. 0 bytes: the
        // server has closed the connection, and the client is done.
        let read = client.read(&mut data).await?;
        if read == 0 {
            return Ok(());
        }
        // The bug: this takes the bytes of one read to be one whole message.
        // `?` hands a JSON error up to `main`'s caller, which prints it and
        // exits with 1, as an uncaught `JSON.parse` error ends Node.
        let message: Value = serde_json::from_slice(&data[..read])?;
        print_message(&message);
    }
}
// ANCHOR_END: main

// ANCHOR: print_message
/// What the client prints for one message: the book's two types, the new
/// `removed`, and a line for anything else. A field that is missing
/// reads as `Value::Null`, much as JavaScript's `undefined`.
fn print_message(message: &Value) {
    let kind = &message["type"];
    match kind.as_str() {
        Some("watching") => println!("Now watching: {}", message["file"].as_str().unwrap_or("")),
        Some("changed") => println!("File changed: {}", js_date(message["timestamp"].as_i64())),
        // The new arm: the date as for `changed`, another verb.
        Some("removed") => println!("File removed: {}", js_date(message["timestamp"].as_i64())),
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
