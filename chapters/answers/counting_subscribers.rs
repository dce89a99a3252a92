//! An answer to chapter 1's exercise "How many are listening?": the server
//! of step 1 (`examples/net-watcher.rs`), which also tells each new
//! subscriber, just after the greeting, how many subscribers are connected,
//! itself included: `Subscribers connected: 2`.
//!
//! Only `main` and `serve` differ from step 1 (a shared count, passed to
//! each subscriber's task); the rest is step 1's code, weaknesses included,
//! so that this file is the whole program a student ends up with.
//! `cargo test --test spec exercises::counting_subscribers` runs it.

// ANCHOR: program
use std::error::Error;
use std::path::Path;
use std::sync::{Arc, Mutex};

use jiff::ZonedDateTime;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedSender};

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
    // How many subscribers are connected: one number that every
    // subscriber's task may change. `Arc` gives it an owner per task, and
    // `Mutex` lets one task at a time change it.
    let subscribers = Arc::new(Mutex::new(0));
    loop {
        // `net.createServer(connection => ...)`: wait for a connection, then
        // serve it in a task of its own (a lightweight thread on tokio's
        // event loop), so that the loop is back to accepting at once.
        let (connection, _) = listener.accept().await?;
        // Each task gets its own copy of the name to keep, and its own
        // handle on the one count.
        tokio::spawn(serve(
            connection,
            filename.clone(),
            Arc::clone(&subscribers),
        ));
    }
}
// ANCHOR_END: main

// ANCHOR: serve
/// One subscriber, from connection to hang-up: the book's connection callback.
async fn serve(mut connection: TcpStream, filename: String, subscribers: Arc<Mutex<usize>>) {
    println!("Subscriber connected.");
    // Count this one in. The lock is released at the end of the block,
    // before anything is awaited.
    let connected_now = {
        let mut count = subscribers.lock().unwrap();
        *count += 1;
        *count
    };
    // The book greets first and watches after; watching first means that a
    // change made just after the greeting is never missed.
    let (changes_tx, mut changes) = mpsc::unbounded_channel();
    let watcher = watch(&filename, changes_tx).unwrap_or_else(|error| {
        // `fs.watch` throws, nothing catches it, and Node exits: so do we.
        eprintln!("Error: cannot watch {filename}: {error}");
        std::process::exit(1);
    });
    let greeting = format!(
        "Now watching \"{filename}\" for changes...\nSubscribers connected: {connected_now}\n"
    );
    let mut connected = connection.write_all(greeting.as_bytes()).await.is_ok();
    let mut typed = [0; 1024];
    while connected {
        // Wait for whichever comes first: a change, or bytes from the
        // subscriber. Node calls back for either; here one task waits.
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
        }
    }
    drop(watcher); // `watcher.close()`: the OS watch goes with it.
    // Count this one out before saying so, so that whoever reads the
    // console line may count on it.
    *subscribers.lock().unwrap() -= 1;
    println!("Subscriber disconnected.");
}
// ANCHOR_END: serve

// ANCHOR: watch
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
// ANCHOR_END: watch

// ANCHOR: date
/// A date as JavaScript's `Date.toString()` writes it, in local time (from
/// `TZ`, or the system's setting): `Tue Dec 01 2026 23:26:22 GMT+0100 (CET)`.
fn js_date(time: &ZonedDateTime) -> String {
    time.strftime("%a %b %d %Y %H:%M:%S GMT%z (%Z)").to_string()
}
// ANCHOR_END: date
// ANCHOR_END: program
