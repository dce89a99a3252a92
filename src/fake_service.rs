//! The test service of step 5: one `changed` message, split across two
//! writes. (Chapter 5.)
//!
//! A real server's messages are short, and on loopback each one usually
//! arrives in one read, which hides the framing problem. This service makes
//! the problem certain: it writes the first part of a message, waits, and
//! writes the rest. A client that parses each read as a message fails on the
//! first part; a client that frames by newline prints one message.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::server::{Accepted, Listener};

// ANCHOR: parts
/// The timestamp of the one message this service sends: the book's.
pub const TIMESTAMP: u64 = 1_450_694_370_094;

/// The first write: a message cut inside the word `timestamp`.
pub const FIRST_CHUNK: &[u8] = br#"{"type":"changed","timesta"#;

/// The second write: the rest of the message and its newline.
pub const SECOND_CHUNK: &[u8] = b"mp\":1450694370094}\n";

/// The pause between the two writes when none is given: the book's 100 ms.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(100);
// ANCHOR_END: parts

/// Writes the split message to `writer`: [`FIRST_CHUNK`], a flush, `delay`,
/// then [`SECOND_CHUNK`], then closes the writing side.
// ANCHOR: split_message
pub async fn send_split_message<W>(mut writer: W, delay: Duration) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    writer.write_all(FIRST_CHUNK).await?;
    // Flushing makes the first part leave now, as its own segment, rather
    // than wait in a buffer for the second.
    writer.flush().await?;
    tokio::time::sleep(delay).await;
    writer.write_all(SECOND_CHUNK).await?;
    writer.shutdown().await
}
// ANCHOR_END: split_message

// ANCHOR: serve
/// Serves every connection on `listeners` with [`send_split_message`] until
/// `shutdown` completes; the messages under way are cut short then, rather
/// than waited for through their pause.
pub async fn serve(listeners: Vec<Listener>, delay: Duration, shutdown: impl Future<Output = ()>) {
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    for listener in listeners {
        tasks.spawn(accept_loop(listener, delay, stop.clone(), tasks.clone()));
    }
    shutdown.await;
    stop.cancel();
    tasks.close();
    tasks.wait().await;
}

async fn accept_loop(
    listener: Listener,
    delay: Duration,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        // A client that leaves early is its own business, hence the ignored
        // results. A message under way stops at shutdown: its pause may be
        // long (`--delay-ms`), and Ctrl+C should not wait it out.
        match accepted {
            Ok(Accepted::Tcp(stream)) => {
                let message = send_split_message(stream, delay);
                tasks.spawn(stop.clone().run_until_cancelled_owned(message));
            }
            Ok(Accepted::Unix(stream)) => {
                let message = send_split_message(stream, delay);
                tasks.spawn(stop.clone().run_until_cancelled_owned(message));
            }
            // Out of descriptors, most likely; the next accept may succeed.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}
// ANCHOR_END: serve
