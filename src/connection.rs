//! One subscriber's life: greet, write each change, discard what it types,
//! and end cleanly. (Chapters 1 and 2.)
//!
//! [`serve`] is generic over the stream, so a TCP connection, a Unix socket
//! connection and a test's in-memory `tokio::io::duplex` pipe all run the
//! same code.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::notifier::Subscription;

/// How a subscriber's connection ended.
#[derive(Debug)]
pub enum Ending {
    /// The subscriber closed its side (end of file on our read side).
    PeerClosed,
    /// The server is shutting down; we closed our side cleanly.
    Shutdown,
    /// A write made no progress for the write timeout; we gave up on it.
    TooSlow,
    /// Reading or writing failed (a reset, a broken pipe).
    Failed(io::Error),
}

/// Bytes read and thrown away per read of what a subscriber types.
///
/// Small on purpose: this buffer lives in every subscriber's task for as long
/// as it is connected, and what people type at `nc` is a few bytes at a time.
const DISCARD_CHUNK: usize = 64;

/// Serves one subscriber until it leaves, it is too slow, or `shutdown` is
/// cancelled.
///
/// The greeting is written first. Because the subscription already exists,
/// a change made after the subscriber has read its greeting is never missed.
pub async fn serve<S>(
    stream: S,
    mut subscription: Subscription,
    write_timeout: Duration,
    shutdown: CancellationToken,
) -> Ending
where
    S: AsyncRead + AsyncWrite,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut discard = [0u8; DISCARD_CHUNK];

    let greeting = subscription.greeting();
    let ending = match write_line(&mut writer, &greeting, write_timeout, &shutdown).await {
        Some(ending) => ending,
        None => loop {
            // `biased`: check shutdown first, so a server that is stopping
            // does not start one more write.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break Ending::Shutdown,
                notification = subscription.next_change() => {
                    let written =
                        write_line(&mut writer, &notification.line, write_timeout, &shutdown).await;
                    if let Some(ending) = written {
                        break ending;
                    }
                }
                // The server needs nothing from subscribers, but what they
                // type must be read, or it piles up in the kernel's buffers
                // and closing the socket would then send a reset instead of a
                // clean end of file.
                read = reader.read(&mut discard) => match read {
                    Ok(0) => break Ending::PeerClosed,
                    Ok(_) => {}
                    Err(error) => break Ending::Failed(error),
                },
            }
        },
    };
    if !matches!(ending, Ending::Failed(_)) {
        // Sends our end of file. A peer that already left makes this fail,
        // and then there is nobody to tell.
        let _ = writer.shutdown().await;
    }
    ending
}

/// Writes one line, giving up after `write_timeout` without completing, or at
/// shutdown. `None` means the line was written.
async fn write_line<W>(
    writer: &mut W,
    line: &[u8],
    write_timeout: Duration,
    shutdown: &CancellationToken,
) -> Option<Ending>
where
    W: AsyncWrite + Unpin,
{
    tokio::select! {
        biased;
        () = shutdown.cancelled() => Some(Ending::Shutdown),
        written = tokio::time::timeout(write_timeout, writer.write_all(line)) => match written {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(Ending::Failed(error)),
            Err(_elapsed) => Some(Ending::TooSlow),
        },
    }
}
