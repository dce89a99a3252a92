//! Replies from Redis, bounded: what a server may send before the link
//! hangs up on it. (Chapter 12.)
//!
//! The Redis crate reads a reply whole, as long as the server says it is:
//! a server that announces a bulk string of a gigabyte, or an array of two
//! billion values, and sends them, grows its client by as much (by more:
//! each value read costs some fifty bytes). The crate has no setting that
//! bounds a reply. So every connection's socket is wrapped in a
//! [`MeteredStream`], which reads Redis's protocol (RESP) just enough to
//! know where each reply begins and ends, and fails the read, before the
//! crate sees the bytes, as soon as a reply is known to exceed
//! [`MAX_REPLY_BYTES`] or [`MAX_REPLY_VALUES`]: at its header, when it says
//! its size, or as its bytes arrive. The link drops the connection. A
//! reply refused for its size alone is not the server's fault: a stream
//! may hold an entry of any size Redis takes (up to 512 MB). So the meter
//! keeps the first bulk string of each reply, when it is short and read
//! whole before the refusal: in the reply to `XRANGE … COUNT 1` that is
//! the entry's id, which lets a reader skip the entry without reading it.
//!
//! The limits are far above any reply the relay asks for: an edge reads at
//! most 1,000 entries at a time, of about 4 KiB each at most (a file name
//! is at most 4,096 bytes), about 4 MiB and 12,000 values.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::lock::lock;

/// The most bytes one reply may take.
pub const MAX_REPLY_BYTES: u64 = 8 << 20;

/// The most values one reply may hold, nested ones included.
pub const MAX_REPLY_VALUES: u64 = 100_000;

/// The longest first bulk string of a reply that the meter keeps: an
/// entry's id (two 64-bit numbers and a dash) with room to spare.
const MAX_KEPT_STRING: u64 = 64;

/// The longest line that gives a length or a count (`$5`, `*2`): the
/// digits of any 64-bit number, with room to spare.
const MAX_HEADER: usize = 32;

/// Why a reply was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyRefused {
    /// A bulk string said to be longer than the reply may be.
    BulkTooLong {
        /// The length it said.
        bytes: i64,
    },
    /// An aggregate (array, map, set) said to hold more values than a reply
    /// may.
    TooManyValues {
        /// The number of values it said (for a map, keys and values).
        values: u128,
    },
    /// The reply's bytes went, or were said to go, past
    /// [`MAX_REPLY_BYTES`] (a line with no end, strings that add up).
    TooLong,
    /// A byte where a value's type should be that is no RESP type.
    NotAType(u8),
    /// A length or count that is not a number, or a negative one where
    /// only nil may have one.
    BadHeader,
}

impl fmt::Display for ReplyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyRefused::BulkTooLong { bytes } => write!(
                f,
                "a bulk string of {bytes} bytes, and a reply may take {MAX_REPLY_BYTES} at most"
            ),
            ReplyRefused::TooManyValues { values } => write!(
                f,
                "an array of {values} values, and a reply may hold {MAX_REPLY_VALUES} at most"
            ),
            ReplyRefused::TooLong => write!(
                f,
                "a reply of more than {MAX_REPLY_BYTES} bytes, which a reply may take at most"
            ),
            ReplyRefused::NotAType(byte) => {
                write!(f, "the byte {byte:#04x}, where a value's type should be")
            }
            ReplyRefused::BadHeader => {
                write!(f, "a length that is not a number, or is negative")
            }
        }
    }
}

impl ReplyRefused {
    /// Whether the reply was refused for its size alone: a reply Redis
    /// may well send (a large entry), where the others are not RESP.
    pub fn for_its_size(&self) -> bool {
        matches!(
            self,
            ReplyRefused::BulkTooLong { .. }
                | ReplyRefused::TooManyValues { .. }
                | ReplyRefused::TooLong
        )
    }
}

impl std::error::Error for ReplyRefused {}

/// A reply refused: why, and its first bulk string when the meter kept
/// it (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedReply {
    /// Why it was refused.
    pub why: ReplyRefused,
    /// Its first bulk string, if it was at most `MAX_KEPT_STRING` bytes
    /// and read whole before the refusal.
    pub first_string: Option<Vec<u8>>,
}

/// What a line being read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineOf {
    /// A value that is the line itself (`+OK`, `:1`, `-ERR …`).
    Simple,
    /// A bulk string's length (`$`, or `!` and `=`, which may not be nil).
    Length { nil_allowed: bool },
    /// An aggregate's count: `per` values for each counted, plus `extra`
    /// (an attribute is followed by the value it is about).
    Count {
        per: u64,
        extra: u64,
        nil_allowed: bool,
    },
}

/// Where the meter is within the bytes it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// At a value's first byte, its type.
    Type,
    /// In a line, up to `\r\n`; a header's text is kept (at most
    /// [`MAX_HEADER`] bytes).
    Line {
        of: LineOf,
        text: Vec<u8>,
        after_cr: bool,
    },
    /// In a bulk string: this many bytes left, its `\r\n` included.
    Payload { left: u64 },
}

/// Follows replies through their bytes (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyMeter {
    place: Place,
    /// Values still to read before the reply ends; 0 between replies.
    owed: u64,
    /// The reply's bytes so far.
    bytes: u64,
    /// The reply's values so far, announced ones included.
    values: u64,
    /// Whether a bulk string of the reply has begun.
    bulk_begun: bool,
    /// The bytes of the reply's first bulk string as they come, its
    /// `\r\n` included, while it is short enough to keep.
    keeping: Option<Vec<u8>>,
    /// The reply's first bulk string, read whole.
    first_string: Option<Vec<u8>>,
}

impl Default for ReplyMeter {
    fn default() -> Self {
        ReplyMeter {
            place: Place::Type,
            owed: 0,
            bytes: 0,
            values: 0,
            bulk_begun: false,
            keeping: None,
            first_string: None,
        }
    }
}

impl ReplyMeter {
    /// Takes the next bytes read from the server; an error as soon as they
    /// make a reply too large or not RESP.
    pub fn take(&mut self, mut bytes: &[u8]) -> Result<(), ReplyRefused> {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.owed == 0 {
                // A new reply.
                self.owed = 1;
                self.bytes = 0;
                self.values = 1;
                self.bulk_begun = false;
                self.first_string = None;
            }
            if let Place::Payload { left } = self.place {
                // Skipped whole: a payload is not looked into.
                let skipped = left.min(bytes.len() as u64);
                self.bytes += skipped;
                if let Some(kept) = &mut self.keeping {
                    kept.extend_from_slice(&bytes[..skipped as usize]);
                }
                bytes = &bytes[skipped as usize..];
                if skipped == left {
                    self.place = Place::Type;
                    if let Some(mut kept) = self.keeping.take() {
                        kept.truncate(kept.len() - 2);
                        self.first_string = Some(kept);
                    }
                    self.value_done();
                } else {
                    self.place = Place::Payload {
                        left: left - skipped,
                    };
                }
                continue;
            }
            self.bytes += 1;
            if self.bytes > MAX_REPLY_BYTES {
                return Err(ReplyRefused::TooLong);
            }
            bytes = rest;
            match &mut self.place {
                Place::Type => {
                    let of = match byte {
                        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => LineOf::Simple,
                        b'$' => LineOf::Length { nil_allowed: true },
                        b'!' | b'=' => LineOf::Length { nil_allowed: false },
                        b'*' | b'~' | b'>' => LineOf::Count {
                            per: 1,
                            extra: 0,
                            nil_allowed: true,
                        },
                        b'%' => LineOf::Count {
                            per: 2,
                            extra: 0,
                            nil_allowed: false,
                        },
                        b'|' => LineOf::Count {
                            per: 2,
                            extra: 1,
                            nil_allowed: false,
                        },
                        other => return Err(ReplyRefused::NotAType(other)),
                    };
                    self.place = Place::Line {
                        of,
                        text: Vec::new(),
                        after_cr: false,
                    };
                }
                Place::Line { after_cr: true, .. } if byte == b'\n' => self.line_done()?,
                Place::Line { of, text, after_cr } => {
                    *after_cr = byte == b'\r';
                    if *of != LineOf::Simple && !*after_cr {
                        if text.len() == MAX_HEADER {
                            return Err(ReplyRefused::BadHeader);
                        }
                        text.push(byte);
                    }
                }
                Place::Payload { .. } => unreachable!("payloads are skipped above"),
            }
        }
        Ok(())
    }

    /// A line ended: a simple value is done; a header says what follows.
    fn line_done(&mut self) -> Result<(), ReplyRefused> {
        let Place::Line { of, text, .. } = std::mem::replace(&mut self.place, Place::Type) else {
            unreachable!("called at the end of a line");
        };
        let number = || -> Result<i64, ReplyRefused> {
            std::str::from_utf8(&text)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or(ReplyRefused::BadHeader)
        };
        match of {
            LineOf::Simple => self.value_done(),
            LineOf::Length { nil_allowed } => match u64::try_from(number()?) {
                Ok(length) => {
                    // The string, and the `\r\n` after it.
                    let needed = length.saturating_add(2);
                    if needed > MAX_REPLY_BYTES {
                        return Err(ReplyRefused::BulkTooLong {
                            bytes: length as i64,
                        });
                    }
                    if needed > MAX_REPLY_BYTES - self.bytes {
                        return Err(ReplyRefused::TooLong);
                    }
                    if !self.bulk_begun {
                        self.bulk_begun = true;
                        if length <= MAX_KEPT_STRING {
                            self.keeping = Some(Vec::new());
                        }
                    }
                    self.place = Place::Payload { left: length + 2 };
                }
                Err(_) if nil_allowed => self.value_done(),
                Err(_) => return Err(ReplyRefused::BadHeader),
            },
            LineOf::Count {
                per,
                extra,
                nil_allowed,
            } => match u64::try_from(number()?) {
                Ok(count) => {
                    let announced = u128::from(count) * u128::from(per) + u128::from(extra);
                    let room = MAX_REPLY_VALUES - self.values;
                    if announced > u128::from(room) {
                        return Err(ReplyRefused::TooManyValues { values: announced });
                    }
                    // Both fit in a u64: announced is at most the room.
                    let announced = announced as u64;
                    self.values += announced;
                    self.owed += announced;
                    self.value_done();
                }
                Err(_) if nil_allowed => self.value_done(),
                Err(_) => return Err(ReplyRefused::BadHeader),
            },
        }
        Ok(())
    }

    /// The first bulk string of the reply being read, or of the last one,
    /// if it was short and is read whole (see the module docs).
    pub fn first_string(&self) -> Option<&[u8]> {
        self.first_string.as_deref()
    }

    /// One value read whole; the reply ends with the last one owed.
    fn value_done(&mut self) {
        self.owed -= 1;
    }
}

/// Where a [`MeteredStream`] leaves why it refused a reply, for the link
/// to read when the command fails.
#[derive(Debug, Clone, Default)]
pub struct RefusalSlot(Arc<Mutex<Option<RefusedReply>>>);

impl RefusalSlot {
    /// The reply refused, if one was (once).
    pub fn take(&self) -> Option<RefusedReply> {
        lock(&self.0).take()
    }

    /// Leaves `refused` for the link (the meter does; tests too).
    pub(crate) fn put(&self, refused: RefusedReply) {
        *lock(&self.0) = Some(refused);
    }
}

/// A socket whose reads go through a [`ReplyMeter`]: the bytes of a reply
/// that is too large are never handed on (see the module docs). Writes
/// pass through.
#[derive(Debug)]
pub struct MeteredStream<S> {
    inner: S,
    meter: ReplyMeter,
    refused: RefusalSlot,
}

impl<S> MeteredStream<S> {
    /// Wraps `inner`; why a reply was refused is left in `refused`.
    pub fn new(inner: S, refused: RefusalSlot) -> Self {
        MeteredStream {
            inner,
            meter: ReplyMeter::default(),
            refused,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Err(refused) = this.meter.take(&buf.filled()[before..]) {
            // Taken back: the crate never sees a byte of this reply's rest.
            buf.set_filled(before);
            this.refused.put(RefusedReply {
                why: refused.clone(),
                first_string: this.meter.first_string().map(<[u8]>::to_vec),
            });
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, refused)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Feeds `bytes` one at a time, as the slowest network would.
    fn byte_by_byte(meter: &mut ReplyMeter, bytes: &[u8]) -> Result<(), ReplyRefused> {
        bytes.chunks(1).try_for_each(|byte| meter.take(byte))
    }

    fn between_replies(meter: &ReplyMeter) -> bool {
        meter.owed == 0 && meter.place == Place::Type
    }

    #[test]
    fn a_reply_of_every_kind_is_followed_to_its_end_in_any_pieces() {
        let replies: [&[u8]; 12] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n$3\r\n1-0\r\n*4\r\n$4\r\ntype\r\n$8\r\nwatching\r\n$4\r\nfile\r\n$1\r\na\r\n",
            b"%1\r\n+key\r\n:1\r\n",
            b"|1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n",
            b"~1\r\n_\r\n",
            b">2\r\n+message\r\n,1.5\r\n",
        ];
        for reply in replies {
            let mut meter = ReplyMeter::default();
            byte_by_byte(&mut meter, reply).unwrap();
            assert!(
                between_replies(&meter),
                "{:?}",
                String::from_utf8_lossy(reply)
            );
            let mut meter = ReplyMeter::default();
            let (head, tail) = reply.split_at(reply.len() - 1);
            meter.take(head).unwrap();
            assert!(
                !between_replies(&meter),
                "{:?}",
                String::from_utf8_lossy(reply)
            );
            meter.take(tail).unwrap();
            assert!(
                between_replies(&meter),
                "{:?}",
                String::from_utf8_lossy(reply)
            );
        }
        let mut meter = ReplyMeter::default();
        meter.take(&replies.concat()).unwrap();
        assert!(between_replies(&meter));
        let verbatim_and_error = b"=7\r\ntxt:abc\r\n!3\r\nERR\r\n#t\r\n(12\r\n";
        meter.take(verbatim_and_error).unwrap();
        assert!(between_replies(&meter));
    }

    #[test]
    fn a_bulk_string_longer_than_a_reply_may_be_is_refused_at_its_length() {
        // A header of ten bytes ($, seven digits, \r\n), the string, and
        // its \r\n: twelve bytes besides the string.
        let longest = MAX_REPLY_BYTES - 12;
        let mut meter = ReplyMeter::default();
        meter.take(format!("${longest}\r\n").as_bytes()).unwrap();
        meter.take(&vec![b'x'; longest as usize]).unwrap();
        meter.take(b"\r\n").unwrap();
        assert!(between_replies(&meter));
        assert_eq!(meter.bytes, MAX_REPLY_BYTES);
        let too_long = longest + 1;
        assert_eq!(
            ReplyMeter::default().take(format!("${too_long}\r\n").as_bytes()),
            Err(ReplyRefused::TooLong)
        );
        assert_eq!(
            ReplyMeter::default().take(b"$1073741824\r\n"),
            Err(ReplyRefused::BulkTooLong { bytes: 1 << 30 })
        );
        // The bytes before count: the second string would pass alone, and
        // makes the reply too long.
        let mut meter = ReplyMeter::default();
        let half = MAX_REPLY_BYTES / 2;
        meter.take(format!("*2\r\n${half}\r\n").as_bytes()).unwrap();
        meter.take(&vec![b'x'; half as usize + 2]).unwrap();
        assert_eq!(
            meter.take(format!("${half}\r\n").as_bytes()),
            Err(ReplyRefused::TooLong)
        );
        // A string that would fill the limit with its \r\n alone leaves no
        // room for its header: the reply is too long, the string is not.
        assert_eq!(
            ReplyMeter::default().take(format!("${}\r\n", MAX_REPLY_BYTES - 2).as_bytes()),
            Err(ReplyRefused::TooLong)
        );
        // Alone, a string of the whole limit cannot fit with its \r\n.
        assert_eq!(
            ReplyMeter::default().take(format!("${}\r\n", MAX_REPLY_BYTES - 1).as_bytes()),
            Err(ReplyRefused::BulkTooLong {
                bytes: (MAX_REPLY_BYTES - 1) as i64
            })
        );
    }

    #[test]
    fn an_aggregate_of_more_values_than_a_reply_may_hold_is_refused_at_its_count() {
        // The reply's own array is one value: it may announce one fewer.
        let most = format!("*{}\r\n", MAX_REPLY_VALUES - 1);
        ReplyMeter::default().take(most.as_bytes()).unwrap();
        let too_many = format!("*{}\r\n", MAX_REPLY_VALUES);
        assert_eq!(
            ReplyMeter::default().take(too_many.as_bytes()),
            Err(ReplyRefused::TooManyValues {
                values: u128::from(MAX_REPLY_VALUES)
            })
        );
        assert_eq!(
            ReplyMeter::default().take(b"*2000000000\r\n"),
            Err(ReplyRefused::TooManyValues {
                values: 2_000_000_000
            })
        );
        // A map counts its keys and its values; an attribute, one more.
        let pairs = MAX_REPLY_VALUES / 2;
        assert_eq!(
            ReplyMeter::default().take(format!("%{pairs}\r\n").as_bytes()),
            Err(ReplyRefused::TooManyValues {
                values: u128::from(pairs * 2)
            })
        );
        // Inside an array of one, there is room for 2 * (pairs - 1)
        // values: a map of that many pairs, but no attribute, which is
        // followed by one more.
        let mut meter = ReplyMeter::default();
        meter
            .take(format!("*1\r\n%{}\r\n", pairs - 1).as_bytes())
            .unwrap();
        assert_eq!(meter.values, MAX_REPLY_VALUES);
        assert_eq!(
            ReplyMeter::default().take(format!("*1\r\n|{}\r\n", pairs - 1).as_bytes()),
            Err(ReplyRefused::TooManyValues {
                values: u128::from(pairs * 2 - 1)
            })
        );
        assert_eq!(
            ReplyMeter::default().take(b"%9223372036854775807\r\n"),
            Err(ReplyRefused::TooManyValues {
                values: 9_223_372_036_854_775_807 * 2
            })
        );
        // Nested values add up: two arrays that would pass alone.
        let half = MAX_REPLY_VALUES / 2;
        let mut meter = ReplyMeter::default();
        meter.take(format!("*2\r\n*{half}\r\n").as_bytes()).unwrap();
        meter.take(&b":1\r\n".repeat(half as usize)).unwrap();
        assert!(meter.take(format!("*{half}\r\n").as_bytes()).is_err());
    }

    #[test]
    fn a_line_with_no_end_is_refused_once_it_passes_the_limit() {
        let mut meter = ReplyMeter::default();
        meter.take(b"+").unwrap();
        meter
            .take(&vec![b'a'; (MAX_REPLY_BYTES - 1) as usize])
            .unwrap();
        assert_eq!(meter.take(b"a"), Err(ReplyRefused::TooLong));
    }

    #[test]
    fn each_reply_has_the_whole_limit_to_itself() {
        let mut meter = ReplyMeter::default();
        let length = MAX_REPLY_BYTES - 16;
        for _ in 0..3 {
            meter.take(format!("${length}\r\n").as_bytes()).unwrap();
            meter.take(&vec![b'x'; length as usize + 2]).unwrap();
        }
        for _ in 0..3 {
            meter
                .take(format!("*{}\r\n", MAX_REPLY_VALUES - 1).as_bytes())
                .unwrap();
            meter
                .take(&b"_\r\n".repeat((MAX_REPLY_VALUES - 1) as usize))
                .unwrap();
        }
        assert!(between_replies(&meter));
    }

    #[test]
    fn what_is_not_resp_is_refused() {
        let cases: [(&[u8], ReplyRefused); 6] = [
            (b"?1\r\n", ReplyRefused::NotAType(b'?')),
            (b"$abc\r\n", ReplyRefused::BadHeader),
            (b"*12\rx\r\n", ReplyRefused::BadHeader),
            (b"!-1\r\n", ReplyRefused::BadHeader),
            (b"%-1\r\n", ReplyRefused::BadHeader),
            (&[b'$'; MAX_HEADER + 2], ReplyRefused::BadHeader),
        ];
        for (bytes, refused) in cases {
            assert_eq!(
                ReplyMeter::default().take(bytes),
                Err(refused),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let mut meter = ReplyMeter::default();
        meter.take(format!("${}\r\n", " 3 ").as_bytes()).unwrap();
        meter.take(b"abc\r\n").unwrap();
        assert!(between_replies(&meter));
        assert_eq!(
            ReplyRefused::NotAType(b'?').to_string(),
            "the byte 0x3f, where a value's type should be"
        );
        assert_eq!(
            ReplyRefused::TooLong.to_string(),
            "a reply of more than 8388608 bytes, which a reply may take at most"
        );
        assert_eq!(
            ReplyRefused::BadHeader.to_string(),
            "a length that is not a number, or is negative"
        );
    }

    /// `what`, or a failure after 5 s: a stream that never hands a write
    /// on, or a meter that lets a reply of any size through, fails the test
    /// instead of hanging it.
    async fn in_time<T>(what: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(5), what)
            .await
            .expect("done within 5 s")
    }

    #[tokio::test]
    async fn a_metered_stream_hands_on_what_fits_and_fails_what_does_not() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        let refused = RefusalSlot::default();
        // A buffered stream: what is written reaches the server only when
        // the metered stream hands on its flush, or its shutdown.
        let mut metered = MeteredStream::new(tokio::io::BufWriter::new(client), refused.clone());
        server.write_all(b"+OK\r\n").await.unwrap();
        let mut read = [0; 5];
        metered.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"+OK\r\n");
        metered.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
        metered.flush().await.unwrap();
        let mut sent = [0; 14];
        in_time(server.read_exact(&mut sent)).await.unwrap();
        assert_eq!(&sent, b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(refused.take(), None);

        server.write_all(b"$1073741824\r\nxxxx").await.unwrap();
        let mut rest = Vec::new();
        let error = in_time(metered.read_to_end(&mut rest)).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(rest.is_empty(), "handed on: {rest:?}");
        assert_eq!(
            refused.take(),
            Some(RefusedReply {
                why: ReplyRefused::BulkTooLong { bytes: 1 << 30 },
                first_string: None
            })
        );
        assert_eq!(refused.take(), None, "taken once");
        metered.write_all(b"*1\r\n$4\r\nQUIT\r\n").await.unwrap();
        metered.shutdown().await.unwrap();
        let mut end = Vec::new();
        in_time(server.read_to_end(&mut end)).await.unwrap();
        assert_eq!(end, b"*1\r\n$4\r\nQUIT\r\n");
    }

    #[test]
    fn the_first_short_bulk_string_of_a_refused_reply_is_kept() {
        // XRANGE's answer for an entry with a field too large: its id
        // comes first.
        let mut meter = ReplyMeter::default();
        let reply = b"*1\r\n*2\r\n$3\r\n5-0\r\n*4\r\n$4\r\njunk\r\n$9000000\r\n";
        assert_eq!(
            byte_by_byte(&mut meter, reply),
            Err(ReplyRefused::BulkTooLong { bytes: 9_000_000 })
        );
        assert_eq!(meter.first_string(), Some(&b"5-0"[..]));

        // In one piece, the second string is not the first.
        let mut meter = ReplyMeter::default();
        let reply = b"*3\r\n$2\r\nid\r\n$3\r\nabc\r\n*100001\r\n";
        assert!(meter.take(reply).unwrap_err().for_its_size());
        assert_eq!(meter.first_string(), Some(&b"id"[..]));

        // A new reply forgets the last one's; a long first string is not
        // kept, nor one not yet read whole.
        let long = format!("$65\r\n{}\r\n", "x".repeat(65));
        let mut meter = ReplyMeter::default();
        meter.take(b"$2\r\nab\r\n").unwrap();
        assert_eq!(meter.first_string(), Some(&b"ab"[..]));
        meter.take(long.as_bytes()).unwrap();
        assert_eq!(meter.first_string(), None);
        let exactly = format!("$64\r\n{}\r\n", "y".repeat(64));
        meter.take(exactly.as_bytes()).unwrap();
        assert_eq!(meter.first_string(), Some("y".repeat(64).as_bytes()));
        meter.take(b"$3\r\nab").unwrap();
        assert_eq!(meter.first_string(), None);
    }

    #[test]
    fn only_a_refusal_for_size_is_one_redis_may_cause() {
        assert!(ReplyRefused::BulkTooLong { bytes: 1 }.for_its_size());
        assert!(ReplyRefused::TooManyValues { values: 1 }.for_its_size());
        assert!(ReplyRefused::TooLong.for_its_size());
        assert!(!ReplyRefused::NotAType(b'x').for_its_size());
        assert!(!ReplyRefused::BadHeader.for_its_size());
    }
}
