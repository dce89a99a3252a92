//! An answer to chapter 5's exercise "Split in three": the fake service of
//! step 5, changed to cut the book's message into three writes instead of
//! two, a pause before each but the first, then to close the connection;
//! and its paused-clock test, changed to expect the three parts.
//!
//! ```console
//! $ cargo run --example answer-three-way-split-service
//! Test server listening for subscribers on 127.0.0.1:60300...
//! ```
//!
//! `PORT` names another port than 60300, and `PAUSE_MS` another pause than
//! 100 ms. `cargo test --test spec exercises::a_three_way_split` runs it,
//! and its test.

use std::error::Error;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

// ANCHOR: parts
/// The book's one message, cut inside the word `timestamp`: the first write.
const FIRST_PART: &str = r#"{"type":"changed","timesta"#;

/// The second write: the rest of `timestamp`, and half the number.
const SECOND_PART: &str = r#"mp":1450694"#;

/// The third write: the rest of the number, and the newline.
const THIRD_PART: &str = "370094}\n";
// ANCHOR_END: parts

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

// ANCHOR: send_split_message
/// Writes the message in its three parts, `pause` apart, then ends the
/// connection (Node's `connection.end()`). `impl AsyncWrite + Unpin` is any
/// writer: a socket here, an in-memory pipe in the test below.
async fn send_split_message(
    mut connection: impl AsyncWrite + Unpin,
    pause: Duration,
) -> std::io::Result<()> {
    connection.write_all(FIRST_PART.as_bytes()).await?;
    tokio::time::sleep(pause).await;
    connection.write_all(SECOND_PART.as_bytes()).await?;
    // The second pause: each `.await` holds up this subscriber's task alone.
    tokio::time::sleep(pause).await;
    connection.write_all(THIRD_PART.as_bytes()).await?;
    connection.shutdown().await
}
// ANCHOR_END: send_split_message

// ANCHOR: test
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

    #[tokio::test(start_paused = true)]
    async fn sends_the_message_in_three_parts_a_pause_apart_then_hangs_up() {
        let (service_end, mut subscriber) = tokio::io::duplex(1024);
        let pause = Duration::from_millis(100);
        tokio::spawn(send_split_message(service_end, pause));
        let early = Duration::from_millis(99);

        assert_eq!(
            read_once(&mut subscriber).await,
            FIRST_PART,
            "the first part, alone"
        );
        let too_soon = tokio::time::timeout(early, read_once(&mut subscriber)).await;
        assert!(too_soon.is_err(), "the second part came before the pause");

        assert_eq!(
            read_once(&mut subscriber).await,
            SECOND_PART,
            "the second part, alone"
        );
        // The new check: a pause after the second part too.
        let too_soon = tokio::time::timeout(early, read_once(&mut subscriber)).await;
        assert!(too_soon.is_err(), "the third part came before the pause");

        assert_eq!(
            read_once(&mut subscriber).await,
            THIRD_PART,
            "the third part"
        );
        assert_eq!(read_once(&mut subscriber).await, "", "then the end");
    }
}
// ANCHOR_END: test
