//! An answer to chapter 9's exercise "Ctrl+C, cleanly": the server of
//! step 1 (`examples/net-watcher.rs`), which on Ctrl+C stops accepting,
//! tells every subscriber's task to end, waits until each has closed its
//! connection and said `Subscriber disconnected.`, and exits with status 0.
//!
//! Only `main` and `serve` differ from step 1 (a `watch` channel that says
//! "shutting down", and a wait for Ctrl+C); the rest is step 1's code,
//! weaknesses included, so that this file is the whole program a student
//! ends up with. `cargo test --test spec exercises::a_clean_shutdown` runs
//! it.

// ANCHOR: program
use std::error::Error;
use std::path::Path;

use jiff::ZonedDateTime;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::watch;

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
    // `process.env.PORT || 60300`. Tests set PORT=0 to get a free port.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;

    // Ctrl+C makes the OS send the program SIGINT, whose default action ends
    // it at once. From here on, SIGINT is ours to handle instead, as with
    // Node's `process.on('SIGINT', ...)`: before the program says it
    // listens, so that a Ctrl+C pressed as soon as it does is handled.
    let mut ctrl_c = signal(SignalKind::interrupt())?;

    // Node's `listen(60300)` takes connections from every network; this
    // server takes them from this machine only, which is all the demo needs.
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Listening for subscribers on {}...", listener.local_addr()?);
    // One sender, kept here, and a receiver for each subscriber's task.
    // Sending `true` tells every task to end; the sender's `closed()` then
    // waits until every receiver is gone, that is, every task has ended.
    let (shutdown, shutting_down) = watch::channel(false);
    loop {
        // Wait for whichever comes first: a new subscriber, or Ctrl+C.
        tokio::select! {
            accepted = listener.accept() => {
                let (connection, _) = accepted?;
                tokio::spawn(serve(connection, filename.clone(), shutting_down.clone()));
            }
            _ = ctrl_c.recv() => break,
        }
    }
    drop(listener); // Stop accepting: a newcomer is refused by the OS now.
    // `main`'s own receiver is no task's: while it lives, `closed()` below
    // waits for ever.
    drop(shutting_down);
    // `send` fails when no receiver is left (nobody connected, and `main`'s
    // dropped above); `send_replace` stores `true` whoever is listening.
    shutdown.send_replace(true);
    shutdown.closed().await;
    Ok(())
}
// ANCHOR_END: main

// ANCHOR: serve
/// One subscriber, from connection to hang-up or shutdown.
async fn serve(
    mut connection: TcpStream,
    filename: String,
    mut shutting_down: watch::Receiver<bool>,
) {
    println!("Subscriber connected.");
    // The book greets first and watches after; watching first means that a
    // change made just after the greeting is never missed.
    let (changes_tx, mut changes) = mpsc::unbounded_channel();
    let watcher = watch(&filename, changes_tx).unwrap_or_else(|error| {
        // `fs.watch` throws, nothing catches it, and Node exits: so do we.
        eprintln!("Error: cannot watch {filename}: {error}");
        std::process::exit(1);
    });
    let greeting = format!("Now watching \"{filename}\" for changes...\n");
    let mut connected = connection.write_all(greeting.as_bytes()).await.is_ok();
    let mut typed = [0; 1024];
    while connected {
        // Wait for whichever comes first: a change, bytes from the
        // subscriber, or the news that the server is shutting down.
        tokio::select! {
            Some(()) = changes.recv() => {
                let line = format!("File changed: {}\n", js_date(&ZonedDateTime::now()));
                connected = connection.write_all(line.as_bytes()).await.is_ok();
            }
            // Anything typed is ignored. A read of 0 bytes means the
            // subscriber hung up: Node's 'close' event.
            read = connection.read(&mut typed) => {
                connected = matches!(read, Ok(bytes) if bytes > 0);
            }
            // `true` was sent (or the sender is gone): time to end.
            _ = shutting_down.changed() => connected = false,
        }
    }
    // Our end of file, Node's `connection.end()`: the subscriber sees the
    // connection end cleanly. (Failing means it is gone already.)
    let _ = connection.shutdown().await;
    drop(watcher); // `watcher.close()`: the OS watch goes with it.
    println!("Subscriber disconnected.");
    // `shutting_down` is dropped here, after the line: once every task's
    // is, `main`'s wait ends.
}
// ANCHOR_END: serve

/// `fs.watch(filename, listener)`: notify calls our closure, on a thread of
/// its own, for every event on the file; the closure passes the news down a
/// channel to the subscriber's task. The watch lasts as long as the watcher.
fn watch(filename: &str, changes: UnboundedSender<()>) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // `fs.watch` tells of changes only; notify also tells when the file
        // is opened or closed ("access"), which changes nothing.
        if event.is_ok_and(|event| !event.kind.is_access()) {
            let _ = changes.send(()); // Fails only once the task has ended.
        }
    })?;
    watcher.watch(Path::new(filename), RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// A date as JavaScript's `Date.toString()` writes it, in local time (from
/// `TZ`, or the system's setting): `Tue Dec 01 2026 23:26:22 GMT+0100 (CET)`.
fn js_date(time: &ZonedDateTime) -> String {
    time.strftime("%a %b %d %Y %H:%M:%S GMT%z (%Z)").to_string()
}
// ANCHOR_END: program
