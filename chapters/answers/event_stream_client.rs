//! An answer to chapter 13's exercise "An event-stream client": a program
//! that asks `net-watcher --http` for its stream, as a browser's
//! `EventSource` does, and prints each message as the step-4 client
//! (`examples/net-watcher-json-client.rs`) prints it. It is that client,
//! with its reads framed into events instead of taken whole.
//!
//! ```console
//! $ cargo run --example answer-event-stream-client -- 127.0.0.1:8080
//! Now watching: target.txt
//! File changed: Mon Dec 07 2026 04:12:03 GMT+0000 (UTC)
//! ```
//!
//! `cargo test browser::the_exercise` runs it.

// ANCHOR: program
use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The address `--http` listens on, as `HOST:PORT`.
    let address = std::env::args()
        .nth(1)
        .ok_or("usage: answer-event-stream-client HOST:PORT")?;
    let mut socket = TcpStream::connect(&address).await?;
    // What `new EventSource("/events")` sends, give or take some headers.
    let request = format!("GET /events HTTP/1.1\r\nHost: {address}\r\n\r\n");
    socket.write_all(request.as_bytes()).await?;
    // Whole lines, however the bytes arrive, as chapter 6's decoder gives
    // messages. Each comes without its ending, "\n" or HTTP's "\r\n".
    let mut lines = BufReader::new(socket).lines();
    // ANCHOR_END: main

    // ANCHOR: head
    // The response's head: a status line, headers, then an empty line.
    // An `Err` returned from `main` is printed on stderr (`Error: ...`), and
    // the program exits with status 1.
    let status = lines
        .next_line()
        .await?
        .ok_or("the server closed without answering")?;
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(format!("the server answered {status}").into());
    }
    while let Some(header) = lines.next_line().await? {
        if header.is_empty() {
            break;
        }
    }
    // ANCHOR_END: head

    // ANCHOR: events
    // Then events: `field: value` lines, and an empty line after each
    // event. Only `data` matters here, and an event may carry it on several
    // `data:` lines, joined by "\n". `id`, `event`, `retry` and comments
    // (lines that start with ":") are left to browsers.
    let mut data = String::new();
    while let Some(line) = lines.next_line().await? {
        if line.is_empty() {
            // The event is whole: handle it, then start the next one.
            if !data.is_empty() {
                let message: Value = serde_json::from_str(&data)?;
                print_message(&message);
            }
            data.clear();
        } else if let Some(value) = line.strip_prefix("data:") {
            // Each `data:` line is one line of the event's data (JSON does
            // not mind the "\n" after the last).
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
            data.push('\n');
        }
    }
    // The server ended the stream.
    Ok(())
    // ANCHOR_END: events
}

/// What the step-4 client prints for one message (chapter 4).
fn print_message(message: &Value) {
    let kind = &message["type"];
    match kind.as_str() {
        Some("watching") => println!("Now watching: {}", message["file"].as_str().unwrap_or("")),
        Some("changed") => println!("File changed: {}", js_date(message["timestamp"].as_i64())),
        Some(other) => println!("Unrecognized message type: {other}"),
        None => println!("Unrecognized message type: {kind}"),
    }
}

/// `new Date(milliseconds).toString()`, in local time.
fn js_date(milliseconds: Option<i64>) -> String {
    match milliseconds.map(Timestamp::from_millisecond) {
        Some(Ok(time)) => time
            .to_zoned_datetime(TimeZone::system())
            .strftime("%a %b %d %Y %H:%M:%S GMT%z (%Z)")
            .to_string(),
        _ => "Invalid Date".to_owned(),
    }
}
// ANCHOR_END: program
