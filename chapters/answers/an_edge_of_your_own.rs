//! An answer to chapter 12's exercise "An edge of your own": a program that
//! reads the stream `changes` from Redis, speaking Redis's protocol (RESP)
//! itself over a plain TCP socket, and prints each entry appended after it
//! started as step 4's client prints a message:
//!
//! ```console
//! $ cargo run --example answer-an-edge-of-your-own
//! File changed: Mon Dec 07 2026 07:56:08 GMT+0000 (UTC)
//! ```
//!
//! `REDIS_PORT` names another port than 6380, the demo's.
//! `cargo test --test spec exercises::an_edge_of_your_own` runs it.

// ANCHOR: program
use std::error::Error;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let port: u16 = std::env::var("REDIS_PORT")
        .unwrap_or("6380".into())
        .parse()?;
    let connection = TcpStream::connect(("localhost", port)).await?;
    // A reader that keeps what it has read past a line, for the next one.
    let mut redis = BufReader::new(connection);
    // `$` asks for what comes after the newest entry: a new edge tells new
    // changes only. After that, the id of the last entry read: an entry
    // appended between two reads comes in the next one.
    let mut last = "$".to_owned();
    loop {
        let ask = command(&["XREAD", "BLOCK", "0", "STREAMS", "changes", &last]);
        redis.get_mut().write_all(&ask).await?;
        // The reply, in XREAD's shape: [[stream, [[id, [field, value, ...]], ...]]].
        // `BLOCK 0` waits as long as it takes, so it always holds entries.
        for _ in 0..array(&mut redis).await? {
            array(&mut redis).await?; // the stream's two parts:
            bulk(&mut redis).await?; // its name,
            for _ in 0..array(&mut redis).await? {
                // and its entries, each an id and a list of fields.
                array(&mut redis).await?;
                last = bulk(&mut redis).await?;
                let mut fields = Vec::new();
                for _ in 0..array(&mut redis).await? {
                    fields.push(bulk(&mut redis).await?);
                }
                print_entry(&fields);
            }
        }
    }
}
// ANCHOR_END: main

// ANCHOR: resp
/// A command as RESP frames it: an array (`*` and its length) of bulk
/// strings (`$`, a length in bytes, the bytes), each part ended by `\r\n`.
fn command(words: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        bytes.extend(format!("${}\r\n{word}\r\n", word.len()).into_bytes());
    }
    bytes
}

/// The next line of a reply, without its `\r\n`. A `-` line is Redis's
/// error, handed up to `main`; an end of file, Redis gone.
async fn header(redis: &mut BufReader<TcpStream>) -> Result<String, Box<dyn Error>> {
    let mut line = String::new();
    if redis.read_line(&mut line).await? == 0 {
        return Err("Redis closed the connection".into());
    }
    let line = line.trim_end_matches("\r\n");
    match line.strip_prefix('-') {
        Some(error) => Err(format!("Redis says: {error}").into()),
        None => Ok(line.to_owned()),
    }
}

/// `*N`: an array of N values follows. Returns N.
async fn array(redis: &mut BufReader<TcpStream>) -> Result<usize, Box<dyn Error>> {
    let line = header(redis).await?;
    let count = line
        .strip_prefix('*')
        .ok_or(format!("expected an array, got {line:?}"))?;
    Ok(count.parse()?)
}

/// `$N`: a bulk string of N bytes. It is read by its length, not up to a
/// newline, so it may hold any bytes, newlines included.
async fn bulk(redis: &mut BufReader<TcpStream>) -> Result<String, Box<dyn Error>> {
    let line = header(redis).await?;
    let length = line
        .strip_prefix('$')
        .ok_or(format!("expected a string, got {line:?}"))?;
    let length: usize = length.parse()?;
    // The bytes, then their `\r\n`. This trusts the length Redis gives:
    // a server that is not Redis could ask for gigabytes. net-watcher's own
    // edge reads replies through a meter that refuses one past 8 MiB.
    let mut bytes = vec![0; length + 2];
    redis.read_exact(&mut bytes).await?;
    bytes.truncate(length);
    Ok(String::from_utf8(bytes)?)
}
// ANCHOR_END: resp

// ANCHOR: print_entry
/// An entry's fields, `type`, `file`, `timestamp`, are the LDJ message's:
/// made into that message, step 4's `print_message` prints it.
fn print_entry(fields: &[String]) {
    let mut message = Map::new();
    for pair in fields.chunks(2) {
        if let [name, value] = pair {
            // The stream keeps text; the message's timestamp is a number.
            let value = match value.parse::<i64>() {
                Ok(number) if name == "timestamp" => Value::from(number),
                _ => Value::from(value.as_str()),
            };
            message.insert(name.clone(), value);
        }
    }
    print_message(&Value::Object(message));
}
// ANCHOR_END: print_entry

/// What step 4's client prints for one message.
fn print_message(message: &Value) {
    let kind = &message["type"];
    match kind.as_str() {
        Some("watching") => println!("Now watching: {}", message["file"].as_str().unwrap_or("")),
        Some("changed") => println!("File changed: {}", js_date(message["timestamp"].as_i64())),
        Some(other) => println!("Unrecognized message type: {other}"),
        None => println!("Unrecognized message type: {kind}"),
    }
}

/// `new Date(milliseconds).toString()`, as step 4's client writes it.
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
