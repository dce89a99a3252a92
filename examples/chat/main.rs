//! # The chat challenge (chapter 10)
//!
//! A chat room that people join with `nc localhost 60301`, `telnet localhost
//! 60301` or `socat - TCP:localhost:60301`. Each arrival is named `guest1`,
//! `guest2`, ...; a line someone types reaches every other person as
//! `NAME: text`; `/nick NAME` changes your name, `/who` lists who is here,
//! `/quit` leaves. Arrivals, new names and departures are announced.
//!
//! ```console
//! cargo run --example chat                 # port 60301, beside the watcher's 60300
//! cargo run --example chat -- --port 0     # any free port (or PORT=0)
//! ```
//!
//! It reuses the watcher's three lessons (listening, framing, fan-out) and
//! adds two: messages flow both ways, and the connections share state. Its
//! three parts: `connection.rs`, the network side (accept, read whole
//! lines, write what the room queued); `room.rs`, the shared state and the
//! commands; `person.rs`, one person's queue.

mod connection;
mod person;
mod room;

fn main() {
    connection::open_the_room();
}
