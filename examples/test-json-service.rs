//! Step 5 of the práctica, chapter 5 ("Testing network behaviour"): the
//! book's `test-json-service.js`, a fake service that sends each subscriber
//! one message cut in two, a pause apart, then hangs up. A client that takes
//! each read for a whole message fails on it every time.
//!
//! ```console
//! $ cargo run --example test-json-service
//! Test server listening for subscribers on 127.0.0.1:60300...
//! ```
//!
//! `PORT` names another port than 60300, and `PAUSE_MS` another pause than
//! the book's 100 ms. `cargo test --example test-json-service` runs its test.

// ANCHOR: program
// ANCHOR: imports
use std::error::Error;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
// ANCHOR_END: imports

// ANCHOR: parts
/// The book's one message, cut inside the word `timestamp`: the first write.
const FIRST_PART: &str = r#"{"type":"changed","timesta"#;

/// The second write: the rest of the message, and its newline.
const SECOND_PART: &str = "mp\":1450694370094}\n";
// ANCHOR_END: parts

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `process.env.PORT || 60300`, as for the servers of steps 1 to 3.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    // The book's 100 ms, unless `PAUSE_MS` asks for another pause.
    let pause: u64 = std::env::var("PAUSE_MS").unwrap_or("100".into()).parse()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "Test server listening for subscribers on {}...",
        listener.local_addr()?
    );
    loop {
        let (connection, _) = listener.accept().await?;
        println!("Subscriber connected.");
        // A task per subscriber, as in the servers of steps 1 to 3, so that
        // one subscriber's pause holds up no one else.
        tokio::spawn(send_split_message(connection, Duration::from_millis(pause)));
    }
}
// ANCHOR_END: main

// ANCHOR: send_split_message
/// Writes the message in its two parts, `pause` apart, then ends the
/// connection (Node's `connection.end()`). `impl AsyncWrite + Unpin` is any
/// writer: a socket here, an in-memory pipe in the test below.
async fn send_split_message(
    mut connection: impl AsyncWrite + Unpin,
    pause: Duration,
) -> std::io::Result<()> {
    connection.write_all(FIRST_PART.as_bytes()).await?;
    // `setTimeout(..., 100)`: a pause that holds up this task alone.
    tokio::time::sleep(pause).await;
    connection.write_all(SECOND_PART.as_bytes()).await?;
    connection.shutdown().await
}
// ANCHOR_END: send_split_message

// ANCHOR: test
/// Compiled only for `cargo test` (`cfg(test)`): a test beside the code it
/// tests, as chapter 0's first project has one.
#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, DuplexStream};

    /// What one read from `subscriber` gets, as text: `""` at the end.
    async fn read_once(subscriber: &mut DuplexStream) -> String {
        let mut read = vec![0; 1024];
        let length = subscriber.read(&mut read).await.unwrap();
        String::from_utf8_lossy(&read[..length]).into_owned()
    }

    // `start_paused`: tokio's clock stands still, and jumps straight to
    // the next timer whenever every task is waiting. The 100 ms pause
    // takes no real time, and the test cannot be late.
    #[tokio::test(start_paused = true)]
    async fn sends_the_message_in_two_parts_a_pause_apart_then_hangs_up() {
        // An in-memory pipe: the service writes into one end, the test
        // reads the other.
        let (service_end, mut subscriber) = tokio::io::duplex(1024);
        let pause = Duration::from_millis(100);
        tokio::spawn(send_split_message(service_end, pause));

        assert_eq!(
            read_once(&mut subscriber).await,
            FIRST_PART,
            "the first part, alone"
        );

        // A 99 ms wait ends before the service's pause does: nothing may
        // arrive in it.
        let early = Duration::from_millis(99);
        let too_soon = tokio::time::timeout(early, read_once(&mut subscriber)).await;
        assert!(too_soon.is_err(), "the second part came before the pause");

        assert_eq!(
            read_once(&mut subscriber).await,
            SECOND_PART,
            "the second part"
        );
        assert_eq!(read_once(&mut subscriber).await, "", "then the end");
    }
}
// ANCHOR_END: test
// ANCHOR_END: program
