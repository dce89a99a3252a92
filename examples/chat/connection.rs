//! The chat's network side (chapter 10): accept connections, read whole
//! lines of bounded length from each person, hand them to the room, and
//! write what the room queued for them. `room.rs` is the shared state and
//! the commands; `person.rs` one person's queue.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

use crate::person::{QUEUE_LENGTH, write_lines};
use crate::room::Room;

/// The longest line a person may send, in bytes, without its newline.
const LONGEST_LINE: usize = 1000;

/// A chat room for nc and telnet (the course's chapter 10).
#[derive(Parser)]
struct Args {
    /// The TCP port to listen on, on 127.0.0.1 (0: any free port).
    #[arg(long, env = "PORT", default_value_t = 60301)]
    port: u16,
}

// ANCHOR: main
/// Listens, and lets everyone who arrives into one room.
#[tokio::main]
pub async fn open_the_room() {
    let args = Args::parse();
    let bound = TcpListener::bind(("127.0.0.1", args.port)).await;
    let listener = bound.unwrap_or_else(|error| {
        eprintln!("chat: cannot listen on port {}: {error}", args.port);
        std::process::exit(1);
    });
    // The real address, so that `--port 0` tells which port it got.
    let address = listener
        .local_addr()
        .expect("a listening socket has an address");
    println!("Listening for people on {address}...");
    let room = Arc::new(Mutex::new(Room::default()));
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                tokio::spawn(chat(socket, Arc::clone(&room)));
            }
            Err(error) => {
                // Out of file descriptors, say: the people already here go
                // on; wait a moment rather than spin on the same error.
                eprintln!("Cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
// ANCHOR_END: main

// ANCHOR: chat
/// One person's connection, from arrival to departure.
async fn chat(socket: TcpStream, room: Arc<Mutex<Room>>) {
    let (reader, writer) = socket.into_split();
    let (outbox, inbox) = mpsc::channel(QUEUE_LENGTH);
    // Writing has its own task: the room waits for a queue, never a socket.
    let mut writing = tokio::spawn(write_lines(writer, inbox));
    let me = room.lock().await.join(outbox, writing.abort_handle()).await;
    let mut reader = BufReader::new(reader);
    loop {
        let line = tokio::select! {
            line = read_line(&mut reader) => line,
            // The writer stopped: the room cut this person off for not
            // reading, or their socket failed.
            _ = &mut writing => break,
        };
        let mut room = room.lock().await;
        match line {
            Line::Whole(text) => {
                if !room.act_on(me, &text).await {
                    break;
                }
            }
            Line::TooLong => {
                let refusal = format!("* line too long (over {LONGEST_LINE} bytes); not sent");
                room.tell(me, &refusal).await;
            }
            Line::End => break,
        }
    }
    room.lock().await.leave(me).await;
}
// ANCHOR_END: chat

// ANCHOR: read_line
/// What one read of a line found.
enum Line {
    /// A whole line, without its line ending.
    Whole(String),
    /// A line longer than [`LONGEST_LINE`], skipped up to its newline.
    TooLong,
    /// The end of input (a last line without a newline is dropped).
    End,
}

/// Reads up to the next newline, keeping at most `LONGEST_LINE + 1` bytes.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> Line {
    let mut bytes = Vec::new();
    let mut too_long = false;
    loop {
        // `take` stops a read at the limit, so a line that never ends cannot
        // fill the memory: past the limit, it is read and thrown away.
        let mut limited = reader.take(LONGEST_LINE as u64 + 1);
        let read = limited.read_until(b'\n', &mut bytes).await;
        let whole = bytes.ends_with(b"\n");
        match read {
            Ok(0) | Err(_) => return Line::End,
            Ok(_) if whole && too_long => return Line::TooLong,
            Ok(_) if whole => break,
            Ok(_) if bytes.len() > LONGEST_LINE => {
                too_long = true;
                bytes.clear();
            }
            // The input ended in the middle of a line: it is never sent.
            Ok(_) => return Line::End,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    // telnet ends lines with "\r\n", nc with "\n".
    Line::Whole(text.trim_end_matches(['\n', '\r']).to_owned())
}
// ANCHOR_END: read_line
