//! One person in the chat (chapter 10): a name, and a bounded queue of
//! lines that their connection's writing task (`write_lines`) empties into
//! their socket. A queue that stays full means they have stopped
//! reading: they are cut off, so that they cannot stop the others.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc::{self, error::SendTimeoutError};
use tokio::task::AbortHandle;

/// How many lines may wait for a person before the room waits for them.
pub const QUEUE_LENGTH: usize = 64;
/// How long a full queue may keep the room waiting before it gives up.
const QUEUE_PATIENCE: Duration = Duration::from_secs(2);

// ANCHOR: person
/// Someone in the room.
pub struct Person {
    /// What the others call them.
    pub name: String,
    /// Lines waiting to be written to them; `None` once they are cut off.
    outbox: Option<mpsc::Sender<String>>,
    /// Their writing task, stopped when they are cut off.
    writer: AbortHandle,
}

impl Person {
    /// Someone called `name`, whose lines `writer` takes from `outbox`.
    pub fn new(name: String, outbox: mpsc::Sender<String>, writer: AbortHandle) -> Self {
        Person {
            name,
            outbox: Some(outbox),
            writer,
        }
    }

    /// Queues `line` for this person, waiting while their queue is full;
    /// cuts them off if it stays full.
    pub async fn tell(&mut self, line: &str) {
        let Some(outbox) = &self.outbox else { return };
        let sent = outbox
            .send_timeout(format!("{line}\n"), QUEUE_PATIENCE)
            .await;
        if let Err(SendTimeoutError::Timeout(_)) = sent {
            // They have stopped reading. Waiting longer would stop everyone,
            // and holding more lines for them would grow without bound.
            println!("{} is not reading: disconnected.", self.name);
            self.outbox = None;
            self.writer.abort();
        }
    }
}
// ANCHOR_END: person

/// Writes each queued line to the socket until the room drops the queue.
pub async fn write_lines(mut writer: OwnedWriteHalf, mut inbox: mpsc::Receiver<String>) {
    while let Some(line) = inbox.recv().await {
        if writer.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}
