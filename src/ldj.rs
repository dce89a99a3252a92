//! Line-delimited JSON: from a stream of bytes to a stream of [`Message`]s.
//!
//! This is the Rust form of the práctica's `LDJClient` (chapters 5 and 6).
//! TCP delivers bytes, not messages: one read may hold half a message, or
//! three. The book's first client parsed each read as one message and broke
//! on both; `LDJClient` fixed it by buffering and splitting on `\n`.
//!
//! ## From `extends EventEmitter` to composition
//!
//! In JavaScript, `LDJClient extends EventEmitter` and wraps a stream: it
//! listens for `data` events and emits `message` events. Rust has no
//! inheritance, and needs none here. The same job splits into two parts that
//! each do one thing:
//!
//! - [`LdjCodec`] is a [`Decoder`]: a plain, synchronous state machine that
//!   takes a buffer of bytes and hands out at most one decoded line at a time.
//!   It knows nothing about sockets, so its tests feed it bytes directly.
//! - [`MessageStream`] composes the codec with any [`AsyncRead`] through
//!   tokio-util's [`FramedRead`], which owns the read buffer and the "read
//!   more, then try again" loop. It is a [`Stream`] of
//!   `Result<Message, LdjError>`: where the book's listeners receive `message`
//!   events, a Rust caller `await`s the next item.
//!
//! ## Errors are items, and the stream goes on
//!
//! A line that is not JSON, is not valid UTF-8, or is longer than the limit is
//! one bad line, not a broken connection (exercises R1 and R2). Each such line
//! becomes one `Err` item that carries what went wrong, and decoding resumes
//! at the next line. Only an I/O error from the reader ends the stream.
//!
//! This is why the codec's `Item` is itself a `Result`: tokio-util's
//! `FramedRead` ends the stream after a decoder *error*, so recoverable
//! problems travel as data and only I/O failures use the error channel.
//!
//! ## The end of the stream (R3, R4, R5)
//!
//! When the reader reaches end of file, a final line without its `\n` is
//! still decoded and delivered; then the stream yields `None`, exactly once
//! in the sense that matters: it is a [`FusedStream`], so every later poll
//! also says `None` and nothing can follow the end.
//!
//! ## The null stream (T2), read two ways
//!
//! Exercise T2 asks what happens when `LDJClient` is built with `null`
//! instead of a stream. In Rust that program does not compile:
//! [`MessageStream::new`] takes an `R: AsyncRead`, and there is no `null` of
//! that type. The students' write-up reads T2 further: `null` is accepted,
//! and the client behaves as a stream from `/dev/null`. That reading is a
//! stream already at its end, such as `tokio::io::empty()`; it yields `None`
//! at once, without an error.
//!
//! ```compile_fail
//! use net_watcher::ldj::MessageStream;
//! let stream = MessageStream::new(None); // `Option<_>` is not an AsyncRead
//! ```

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::stream::FusedStream;
use tokio::io::AsyncRead;
use tokio_util::bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, FramedRead};

use crate::protocol::Message;

/// Bytes asked of the reader at a time: fewer, larger reads when a lot
/// arrives at once (tokio-util's default is 8 KiB).
const READ_BUFFER: usize = 65_536;

/// The longest line [`LdjCodec::new`] accepts: 1 MiB.
///
/// Longer than any message this protocol sends by several orders of
/// magnitude, and small enough that a peer cannot make us hold much memory.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 1_048_576;

/// What can go wrong with one line, or with the stream under it.
#[derive(Debug)]
pub enum LdjError {
    /// The line is not JSON at all (R1/R2). Decoding goes on.
    NotJson {
        /// The offending line, without its line ending.
        line: String,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// The line is JSON, but not a message: not an object, no `type`, or a
    /// known type without its field. Decoding goes on.
    NotAMessage {
        /// The offending line, without its line ending.
        line: String,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// The line is not valid UTF-8, so it cannot be JSON. Decoding goes on.
    InvalidUtf8 {
        /// The offending line, with each invalid sequence replaced by U+FFFD.
        line: String,
    },
    /// The line is longer than the limit. Its bytes are discarded up to the
    /// next `\n`, without being kept in memory; decoding then goes on.
    LineTooLong {
        /// The limit, in bytes.
        max_line_length: usize,
    },
    /// Reading from the underlying stream failed. This ends the stream.
    Io(io::Error),
}

impl LdjError {
    /// The offending line, for the errors that have one.
    pub fn line(&self) -> Option<&str> {
        match self {
            LdjError::NotJson { line, .. }
            | LdjError::NotAMessage { line, .. }
            | LdjError::InvalidUtf8 { line } => Some(line),
            LdjError::LineTooLong { .. } | LdjError::Io(_) => None,
        }
    }
}

impl fmt::Display for LdjError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LdjError::NotJson { source, .. } => write!(f, "line is not JSON: {source}"),
            LdjError::NotAMessage { source, .. } => write!(f, "line is not a message: {source}"),
            LdjError::InvalidUtf8 { .. } => write!(f, "line is not valid UTF-8"),
            LdjError::LineTooLong { max_line_length } => {
                write!(f, "line is longer than {max_line_length} bytes")
            }
            LdjError::Io(source) => write!(f, "reading failed: {source}"),
        }
    }
}

impl std::error::Error for LdjError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LdjError::NotJson { source, .. } | LdjError::NotAMessage { source, .. } => Some(source),
            LdjError::Io(source) => Some(source),
            LdjError::InvalidUtf8 { .. } | LdjError::LineTooLong { .. } => None,
        }
    }
}

// ANCHOR: codec
/// A [`Decoder`] from bytes to LDJ messages: the framing half of `LDJClient`.
///
/// - `\n` ends a line; a `\r` before it is dropped, so `\r\n` works too.
/// - Blank lines are skipped.
/// - A line over the length limit is reported once and discarded up to the
///   next `\n`; memory stays bounded by the limit whatever the peer sends.
/// - At end of stream, a last line without its `\n` is decoded all the same.
#[derive(Debug, Clone)]
pub struct LdjCodec {
    /// The longest line accepted, in bytes, its `\n` left out.
    max_line_length: usize,
    /// Where the next search for `\n` starts: everything before it in the
    /// buffer was already searched. Without it a line arriving one byte per
    /// read would be rescanned from its start on every read.
    next_index: usize,
    /// True while throwing away the rest of an over-long line.
    discarding: bool,
}
// ANCHOR_END: codec

impl LdjCodec {
    /// A codec with the default line limit, [`DEFAULT_MAX_LINE_LENGTH`].
    pub fn new() -> Self {
        Self::with_max_line_length(DEFAULT_MAX_LINE_LENGTH)
    }

    /// A codec that rejects lines longer than `max_line_length` bytes.
    pub fn with_max_line_length(max_line_length: usize) -> Self {
        LdjCodec {
            max_line_length,
            next_index: 0,
            discarding: false,
        }
    }

    /// The line limit, in bytes.
    pub fn max_line_length(&self) -> usize {
        self.max_line_length
    }
}

impl Default for LdjCodec {
    fn default() -> Self {
        Self::new()
    }
}

// ANCHOR: decode_line
/// Decodes one complete line, its `\n` already removed.
///
/// Returns `None` for a blank line, which is skipped rather than reported: a
/// stray empty line is harmless and common (`echo` at a prompt).
fn decode_line(line: &[u8]) -> Option<Result<Message, LdjError>> {
    // ANCHOR_END: decode_line
    // ANCHOR: decode_line_body
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // The lines servers actually send take the short road; anything else,
    // including every malformed line, is serde_json's to judge.
    if let Some(message) = Message::from_canonical_json(line) {
        return Some(Ok(message));
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    // Validating UTF-8 first gives a precise error, and lets serde_json parse
    // from a `&str`, which skips its own validation.
    let text = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(_) => {
            return Some(Err(LdjError::InvalidUtf8 {
                line: String::from_utf8_lossy(line).into_owned(),
            }));
        }
    };
    Some(serde_json::from_str(text).map_err(|source| {
        let line = text.to_owned();
        if source.is_data() {
            LdjError::NotAMessage { line, source }
        } else {
            LdjError::NotJson { line, source }
        }
    }))
    // ANCHOR_END: decode_line_body
}

// ANCHOR: item
impl Decoder for LdjCodec {
    type Item = Result<Message, LdjError>;
    type Error = io::Error;
    // ANCHOR_END: item

    // ANCHOR: decode
    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        loop {
            let unsearched = &buf[self.next_index..];
            let Some(offset) = memchr::memchr(b'\n', unsearched) else {
                if self.discarding {
                    // Still inside an over-long line: drop what came so far.
                    buf.clear();
                    self.next_index = 0;
                } else if buf.len() > self.max_line_length {
                    buf.clear();
                    self.next_index = 0;
                    self.discarding = true;
                    return Ok(Some(Err(LdjError::LineTooLong {
                        max_line_length: self.max_line_length,
                    })));
                } else {
                    self.next_index = buf.len();
                }
                return Ok(None);
            };
            let end = self.next_index + offset;
            self.next_index = 0;
            if self.discarding {
                // The tail of a line already reported as too long.
                self.discarding = false;
                buf.advance(end + 1);
                continue;
            }
            let decoded = if end > self.max_line_length {
                Some(Err(LdjError::LineTooLong {
                    max_line_length: self.max_line_length,
                }))
            } else {
                decode_line(&buf[..end])
            };
            buf.advance(end + 1);
            if let Some(item) = decoded {
                return Ok(Some(item));
            }
        }
    }
    // ANCHOR_END: decode

    // ANCHOR: decode_eof
    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        // No `\n` left in the buffer: what remains is a last line that lost
        // its newline (R3/R4), or the tail of an over-long one.
        let remainder = buf.split();
        self.next_index = 0;
        if std::mem::take(&mut self.discarding) {
            return Ok(None);
        }
        Ok(decode_line(&remainder))
    }
    // ANCHOR_END: decode_eof
}

/// A stream of decoded messages read from any [`AsyncRead`]: the Rust
/// `LDJClient`.
///
/// Each item is one message, or one [`LdjError`] for one bad line; after a
/// line error the stream goes on. The stream ends (yields `None`) once the
/// reader is at end of file and every complete or final line was delivered,
/// or after an [`LdjError::Io`].
///
/// ```
/// use futures_util::StreamExt;
/// use net_watcher::ldj::MessageStream;
/// use net_watcher::protocol::Message;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let bytes: &[u8] = b"{\"type\":\"watching\",\"file\":\"target.txt\"}\n";
/// let mut messages = MessageStream::new(bytes);
/// let first = messages.next().await.unwrap().unwrap();
/// assert_eq!(first, Message::Watching { file: "target.txt".into() });
/// assert!(messages.next().await.is_none());
/// # });
/// ```
#[derive(Debug)]
pub struct MessageStream<R> {
    frames: FramedRead<R, LdjCodec>,
    finished: bool,
}

impl<R: AsyncRead + Unpin> MessageStream<R> {
    /// Decodes messages from `reader` with the default line limit.
    pub fn new(reader: R) -> Self {
        Self::with_codec(reader, LdjCodec::new())
    }

    /// Decodes messages from `reader` with the given codec (for another line
    /// limit).
    pub fn with_codec(reader: R, codec: LdjCodec) -> Self {
        MessageStream {
            frames: FramedRead::with_capacity(reader, codec, READ_BUFFER),
            finished: false,
        }
    }

    /// The reader, for callers that need it back.
    pub fn into_inner(self) -> R {
        self.frames.into_inner()
    }
}

impl<R: AsyncRead + Unpin> Stream for MessageStream<R> {
    type Item = Result<Message, LdjError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let item = match Pin::new(&mut self.frames).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(item))) => Some(item),
            Poll::Ready(Some(Err(io_error))) => {
                self.finished = true;
                Some(Err(LdjError::Io(io_error)))
            }
            Poll::Ready(None) => {
                self.finished = true;
                None
            }
        };
        Poll::Ready(item)
    }
}

impl<R: AsyncRead + Unpin> FusedStream for MessageStream<R> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}
