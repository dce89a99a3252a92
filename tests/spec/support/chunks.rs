//! A reader that hands out scripted chunks, one per read, with a pending poll
//! (a "tick") between them: the Rust stand-in for the book's fake stream that
//! emits `data` events.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use net_watcher::ldj::{LdjCodec, LdjError, MessageStream};
use net_watcher::protocol::Message;
use tokio::io::{AsyncRead, ReadBuf};

/// An [`AsyncRead`] that yields each chunk in its own read, then end of file.
/// Before each chunk it returns `Pending` once (waking itself), so the reader
/// sees every chunk arrive on a later tick, as from a socket.
#[derive(Debug, Default)]
pub struct ChunkedReader {
    chunks: VecDeque<Vec<u8>>,
    ticked: bool,
    failure: Option<io::ErrorKind>,
}

impl ChunkedReader {
    /// A reader of `chunks`, in order.
    pub fn new<C: AsRef<[u8]>>(chunks: impl IntoIterator<Item = C>) -> Self {
        ChunkedReader {
            chunks: chunks.into_iter().map(|c| c.as_ref().to_vec()).collect(),
            ..Self::default()
        }
    }

    /// After the chunks, fail with `kind` instead of reaching end of file.
    pub fn then_fail(mut self, kind: io::ErrorKind) -> Self {
        self.failure = Some(kind);
        self
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.ticked {
            self.ticked = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ticked = false;
        match self.chunks.pop_front() {
            Some(mut chunk) => {
                let fits = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..fits]);
                if fits < chunk.len() {
                    // The reader's buffer was too small: the rest comes next.
                    let rest = chunk.split_off(fits);
                    self.chunks.push_front(rest);
                }
                Poll::Ready(Ok(()))
            }
            None => match self.failure {
                Some(kind) => Poll::Ready(Err(io::Error::new(kind, "scripted failure"))),
                None => Poll::Ready(Ok(())),
            },
        }
    }
}

/// Everything a [`MessageStream`] yields for `chunks`, to the end.
pub async fn decode_all<C: AsRef<[u8]>>(
    chunks: impl IntoIterator<Item = C>,
) -> Vec<Result<Message, LdjError>> {
    MessageStream::new(ChunkedReader::new(chunks))
        .collect()
        .await
}

/// Like [`decode_all`], with a line limit of `max_line_length` bytes.
pub async fn decode_all_with_limit<C: AsRef<[u8]>>(
    max_line_length: usize,
    chunks: impl IntoIterator<Item = C>,
) -> Vec<Result<Message, LdjError>> {
    MessageStream::with_codec(
        ChunkedReader::new(chunks),
        LdjCodec::with_max_line_length(max_line_length),
    )
    .collect()
    .await
}

/// A decoded item in a form that compares with `assert_eq!`: the message, or
/// the error's variant name and offending line.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// A message.
    Message(Message),
    /// An error: its kind, and the line it carries (if any).
    Error(&'static str, Option<String>),
}

/// Turns decoded items into [`Seen`] values.
pub fn seen(items: Vec<Result<Message, LdjError>>) -> Vec<Seen> {
    items
        .into_iter()
        .map(|item| match item {
            Ok(message) => Seen::Message(message),
            Err(error) => {
                let kind = match &error {
                    LdjError::NotJson { .. } => "NotJson",
                    LdjError::NotAMessage { .. } => "NotAMessage",
                    LdjError::InvalidUtf8 { .. } => "InvalidUtf8",
                    LdjError::LineTooLong { .. } => "LineTooLong",
                    LdjError::Io(_) => "Io",
                };
                Seen::Error(kind, error.line().map(str::to_owned))
            }
        })
        .collect()
}

/// The `changed` message with `timestamp`.
pub fn changed(timestamp: u64) -> Seen {
    Seen::Message(Message::Changed { timestamp })
}

/// The `watching` message for `file`.
pub fn watching(file: &str) -> Seen {
    Seen::Message(Message::Watching {
        file: file.to_owned(),
    })
}

/// A writer whose every write fails with "broken pipe": an output whose
/// reader is gone.
pub struct FailingWriter;

impl std::io::Write for FailingWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}
