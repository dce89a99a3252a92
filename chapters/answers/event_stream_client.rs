//! An answer to chapter 13's exercise "An event-stream client": a program
//! that asks `net-watcher --http` for its stream, as a browser's
//! `EventSource` does, and prints each message as the step-4 client
//! (`examples/net-watcher-json-client.rs`) prints it.
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
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

fn main() {
    if let Err(error) = run() {
        eprintln!("event-stream-client: {error}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let address = std::env::args()
        .nth(1)
        .ok_or("usage: answer-event-stream-client HOST:PORT")?;
    let mut socket = TcpStream::connect(&address)?;
    // What `new EventSource("/events")` sends, give or take some headers.
    write!(socket, "GET /events HTTP/1.1\r\nHost: {address}\r\n\r\n")?;
    let mut lines = BufReader::new(socket).lines();

    // ANCHOR: head
    // The response's head: a status line, headers, then an empty line. Its
    // lines end in "\r\n"; `lines()` takes off the "\n" only.
    let status = lines
        .next()
        .ok_or("the server closed without answering")??;
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(format!("the server answered {}", status.trim_end()).into());
    }
    for header in lines.by_ref() {
        if header?.trim_end().is_empty() {
            break;
        }
    }
    // ANCHOR_END: head

    // ANCHOR: events
    // Then events: `field: value` lines, and an empty line after each
    // event. Only `data` matters here; `id`, `event`, `retry` and comments
    // (lines that start with ":") are left to browsers.
    let mut data = String::new();
    for line in lines {
        let line = line?;
        if line.is_empty() {
            if !data.is_empty() {
                let message: Value = serde_json::from_str(&data)?;
                print_message(&message);
                std::io::stdout().flush()?;
            }
            data.clear();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    // ANCHOR_END: events
    Ok(())
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
