//! An answer to chapter 5's exercise "Split in three": the fake service of
//! step 5 as a small program, cutting the book's message into three writes
//! instead of two, a pause apart, then closing the connection.
//!
//! ```console
//! $ cargo run --example answer-three-way-split-service
//! Test server listening for subscribers on 127.0.0.1:60300...
//! ```
//!
//! `PORT` names another port than 60300, and `PAUSE_MS` another pause than
//! 100 ms. `cargo test --test spec exercises::a_three_way_split` runs it.

// ANCHOR: program
use std::error::Error;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The book's message in three parts: its first part, then its second part
/// cut again in the middle of the number.
const PARTS: [&[u8]; 3] = [
    br#"{"type":"changed","timesta"#,
    br#"mp":1450694"#,
    b"370094}\n",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    // The tests ask for a longer pause than the book's 100 ms, so that each
    // part surely arrives on its own even on a busy machine.
    let pause: u64 = std::env::var("PAUSE_MS").unwrap_or("100".into()).parse()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "Test server listening for subscribers on {}...",
        listener.local_addr()?
    );
    loop {
        let (connection, _) = listener.accept().await?;
        println!("Subscriber connected.");
        tokio::spawn(send_in_parts(connection, Duration::from_millis(pause)));
    }
}

/// Writes each part, a pause before every part but the first, then ends the
/// connection (`connection.end()`). A subscriber that leaves early makes a
/// write fail, and the task ends there: nothing else to clean up.
async fn send_in_parts(mut connection: TcpStream, pause: Duration) -> std::io::Result<()> {
    for (number, part) in PARTS.iter().enumerate() {
        if number > 0 {
            tokio::time::sleep(pause).await;
        }
        // A `TcpStream` has no buffer of its own: each `write_all` goes to
        // the socket now, so each part leaves as its own segment.
        connection.write_all(part).await?;
    }
    connection.shutdown().await
}
// ANCHOR_END: program
