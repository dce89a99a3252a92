//! An answer to chapter 3's exercise "A third message type": the JSON
//! service of step 3 (`examples/net-watcher-json-service.rs`), which tells a
//! removal of the watched file as a message of its own,
//! `{"type":"removed","timestamp":1450694370094}`, rather than as a change.
//! (The client that prints it is chapter 4's exercise.)
//!
//! The message, the channel (which now says whether an event was a removal)
//! and the line that picks the message differ from step 3; the rest is its
//! code, weaknesses included, so that this file is the whole program a
//! student ends up with. `cargo test --test spec exercises::a_removed_message` runs it.

// ANCHOR: program
use std::error::Error;
use std::path::Path;

use jiff::Timestamp;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedSender};

// ANCHOR: messages
/// The protocol's three messages. serde writes each as one JSON object: the
/// variant's name, in lower case, as its `type` (`tag = "type"`), then its
/// fields in order; byte for byte what the book's `JSON.stringify` writes.
/// `timestamp` counts milliseconds since 1970, as JavaScript's `Date.now()`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Message<'a> {
    Watching { file: &'a str },
    Changed { timestamp: i64 },
    // The third type: `{"type":"removed","timestamp":...}`.
    Removed { timestamp: i64 },
}

/// A message as one line of LDJ: its JSON, then a newline.
fn ldj_line(message: &Message) -> String {
    serde_json::to_string(message).expect("a message always serialises") + "\n"
}
// ANCHOR_END: messages

// ANCHOR: main
// `#[tokio::main]` starts tokio's runtime, the event loop that Node gives every
// program for free, and runs `main` on it.
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `process.argv[2]`: the first argument after the program's name.
    let Some(filename) = std::env::args().nth(1) else {
        eprintln!("Error: No filename specified.");
        std::process::exit(1);
    };
    // ANCHOR: listen
    // `process.env.PORT || 60300`. Tests set PORT=0 to get a free port.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;

    // Node's `listen(60300)` takes connections from every network; this
    // server takes them from this machine only, which is all the demo needs.
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Listening for subscribers on {}...", listener.local_addr()?);
    // ANCHOR_END: listen
    loop {
        // `net.createServer(connection => ...)`: wait for a connection, then
        // serve it in a task of its own (a lightweight thread on tokio's
        // event loop), so that the loop is back to accepting at once.
        let (connection, _) = listener.accept().await?;
        // Each task gets its own copy of the name to keep.
        tokio::spawn(serve(connection, filename.clone()));
    }
}
// ANCHOR_END: main

// ANCHOR: serve
/// One subscriber, from connection to hang-up: the book's connection callback.
async fn serve(mut connection: TcpStream, filename: String) {
    println!("Subscriber connected.");
    // The book greets first and watches after; watching first means that a
    // change made just after the greeting is never missed.
    let (changes_tx, mut changes) = mpsc::unbounded_channel();
    let watcher = watch(&filename, changes_tx).unwrap_or_else(|error| {
        // `fs.watch` throws, nothing catches it, and Node exits: so do we.
        eprintln!("Error: cannot watch {filename}: {error}");
        std::process::exit(1);
    });
    let greeting = ldj_line(&Message::Watching { file: &filename });
    let mut connected = connection.write_all(greeting.as_bytes()).await.is_ok();
    let mut typed = [0; 1024];
    while connected {
        // Wait for whichever comes first: a change, or bytes from the
        // subscriber. Node calls back for either; here one task waits.
        tokio::select! {
            Some(removed) = changes.recv() => {
                let timestamp = Timestamp::now().as_millisecond();
                let message = if removed {
                    Message::Removed { timestamp }
                } else {
                    Message::Changed { timestamp }
                };
                let line = ldj_line(&message);
                connected = connection.write_all(line.as_bytes()).await.is_ok();
            }
            // Anything typed is ignored. A read of 0 bytes means the
            // subscriber hung up: Node's 'close' event.
            read = connection.read(&mut typed) => {
                connected = matches!(read, Ok(bytes) if bytes > 0);
            }
        }
    }
    drop(watcher); // `watcher.close()`: the OS watch goes with it.
    println!("Subscriber disconnected.");
}
// ANCHOR_END: serve

// ANCHOR: watch
/// `fs.watch(filename, listener)`: notify calls our closure, on a thread of
/// its own, for every event on the file; the closure passes the news down a
/// channel to the subscriber's task: `true` for a removal, `false` for any
/// other change. The watch lasts as long as the watcher.
fn watch(filename: &str, changes: UnboundedSender<bool>) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // `fs.watch` tells of changes only; notify also tells when the file
        // is opened or closed ("access"), which changes nothing.
        if let Ok(event) = event {
            if !event.kind.is_access() {
                // Fails only once the task has ended.
                let _ = changes.send(event.kind.is_remove());
            }
        }
    })?;
    watcher.watch(Path::new(filename), RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
// ANCHOR_END: watch
// ANCHOR_END: program
