//! An answer to chapter 2's exercise "A leftover socket file": the server
//! of step 2 (`examples/net-watcher-unix.rs`), which removes the socket
//! file a stopped server left behind before it listens, and only that: not
//! the socket of a server that still answers, and never a file that is not
//! a socket.
//!
//! Only `main` calls one more function, `remove_leftover_socket`; the rest
//! is step 2's code, weaknesses included, so that this file is the whole
//! program a student ends up with. `cargo test --test spec
//! exercises::a_leftover_socket_file` runs it.

// ANCHOR: program
use std::error::Error;
use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use jiff::ZonedDateTime;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
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
    // The book's path, or the one given after the file's name.
    let socket = std::env::args()
        .nth(2)
        .unwrap_or("/tmp/watcher.sock".to_owned());

    // A stopped server's socket file would make `bind` fail: remove it.
    remove_leftover_socket(&socket)?;
    // `listen('/tmp/watcher.sock')`: a socket file instead of a port.
    let listener = UnixListener::bind(&socket)?;
    println!("Listening for subscribers on {socket}...");
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

// ANCHOR: remove_leftover_socket
/// Removes the socket file at `path` if a server left it there and is gone.
/// Anything else is left alone, for `bind` to refuse with "Address already
/// in use": the socket of a server that still answers, and a file that is
/// not a socket (a typo must not delete someone's file).
fn remove_leftover_socket(path: &str) -> std::io::Result<()> {
    // `symlink_metadata` looks at the path itself, not where a link points.
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if !metadata.file_type().is_socket() {
        return Ok(());
    }
    // Knock: a live server accepts; a leftover file refuses the connection.
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(error) => Err(error),
    }
}
// ANCHOR_END: remove_leftover_socket

// ANCHOR: serve
/// One subscriber, from connection to hang-up: the book's connection callback.
async fn serve(mut connection: UnixStream, filename: String) {
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
