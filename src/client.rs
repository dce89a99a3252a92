//! The client program's logic: read LDJ messages, print what the book's
//! client prints. (Chapters 4 and 6.)
//!
//! The book's first client treated every `data` event as one message, and
//! broke as soon as TCP split or joined messages (chapter 4 shows it
//! failing). This one reads through [`MessageStream`], which frames by
//! newline, so what it prints does not depend on how the bytes arrived.

use std::fmt;
use std::io::{self, Write};

use futures_util::StreamExt;
use jiff::tz::TimeZone;
use tokio::io::AsyncRead;

use crate::ldj::{LdjError, MessageStream};
use crate::protocol::{HumanDate, Message, escape_controls};

/// `stream`, unless it is connected to itself, which is refused as the
/// connection it stands for would have been (see [`refuse_itself`]).
pub fn refuse_a_connection_to_itself(
    stream: tokio::net::TcpStream,
) -> io::Result<tokio::net::TcpStream> {
    refuse_itself(socket2::SockRef::from(&stream))?;
    Ok(stream)
}

/// Refuses a TCP socket connected to itself, and lets its port go at once.
///
/// When nothing listens on a port in the range the OS hands out for
/// outgoing connections (60300, the book's, is in it), a connection to it
/// is now and then (about once in 14,000 tries on Linux) given that same
/// port as its own, and TCP connects the socket to itself: the connection
/// succeeds, and nothing will ever come. A client would wait forever for
/// a greeting; the grader would take itself for the program. Both use
/// this check.
pub fn refuse_itself(socket: socket2::SockRef<'_>) -> io::Result<()> {
    if socket.local_addr()?.as_socket() == socket.peer_addr()?.as_socket() {
        // Closed as usual, the socket would go on holding the port through
        // TCP's closing states, and the server about to listen there would
        // fail with "address already in use": a zero linger closes it with
        // a reset, at once.
        socket.set_linger(Some(std::time::Duration::ZERO))?;
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "nothing listens there (the connection was made to itself)",
        ));
    }
    Ok(())
}

/// Files the client opens as it runs: the runtime's (two epoll sets and
/// a waker), tokio's signal handling (a socket pair and a copy of one
/// end), the console's copies of stdout and stderr, the connection, and
/// two more that looking up a host name opens for a moment. Counted in
/// `/proc/PID/fd` of a connected client, and by the lowest `ulimit -n`
/// under which `localhost` is still found.
pub const CLIENT_FILES: u64 = 12;

/// How much of a bad line is quoted in an error report.
const QUOTED_LINE_CHARS: usize = 80;

/// The line the client prints for `message`, as the book's client does,
/// with a date in `zone` (see [`crate::protocol::reader_time_zone`]).
// ANCHOR: describe
pub fn describe(message: &Message, zone: &TimeZone) -> String {
    match message {
        Message::Watching { file } => format!("Now watching: {}", escape_controls(file)),
        Message::Changed { timestamp } => {
            format!("File changed: {}", HumanDate::new(*timestamp, zone))
        }
        Message::Error { message } => {
            format!("Error from the server: {}", escape_controls(message))
        }
        Message::Unknown { kind } => {
            format!("Unrecognized message type: {}", escape_controls(kind))
        }
    }
}
// ANCHOR_END: describe

/// The report for a line that could not be decoded: what went wrong, and the
/// line itself, cut to 80 characters, its control characters escaped.
pub fn describe_error(error: &LdjError) -> String {
    // The error's own words may quote the line too (serde_json's "invalid
    // type: string ..."): the whole report is escaped, not only the quote.
    let report = match error.line() {
        Some(line) => format!("Bad line from server ({error}): {}", quote(line)),
        None => format!("Bad line from server ({error})"),
    };
    escape_controls(&report).into_owned()
}

fn quote(line: &str) -> String {
    let mut chars = line.chars();
    let head: String = chars.by_ref().take(QUOTED_LINE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}... [cut]")
    } else {
        head
    }
}

/// Why [`run`] stopped before the server closed the connection.
#[derive(Debug)]
pub enum ClientError {
    /// Reading from the server failed.
    Read(io::Error),
    /// Writing a line to the client's output (stdout) failed: it is closed,
    /// or full. Not the server's doing, and said as such.
    Write(io::Error),
    /// The server said why it closes the connection
    /// (`{"type":"error","message":…}`): it is full, or cannot watch its
    /// file.
    Server(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Read(error) => write!(f, "reading from the server failed: {error}"),
            ClientError::Write(error) => write!(f, "cannot write to stdout: {error}"),
            ClientError::Server(message) => {
                write!(f, "error from the server: {}", escape_controls(message))
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Read(error) | ClientError::Write(error) => Some(error),
            ClientError::Server(_) => None,
        }
    }
}

/// Reads messages from `reader` until it ends, printing one line per message
/// on `out` (dates in `zone`) and one per bad line on `err`.
///
/// Bad lines do not stop the client, and neither does a report of one that
/// `err` cannot take: `err` is the client's log. A failed read stops it, a
/// failed write to `out` (its output) too, and so does an error message
/// from the server: each is returned, as such. The writes to `out` are
/// plain blocking writes: this is the only task of the client program, and
/// while nobody reads its output it reads no more from the server.
// ANCHOR: client_run
pub async fn run<R, O, E>(
    reader: R,
    zone: &TimeZone,
    mut out: O,
    mut err: E,
) -> Result<(), ClientError>
where
    R: AsyncRead + Unpin,
    O: Write,
    E: Write,
{
    let mut messages = MessageStream::new(reader);
    while let Some(item) = messages.next().await {
        match item {
            Ok(Message::Error { message }) => return Err(ClientError::Server(message)),
            Ok(message) => {
                writeln!(out, "{}", describe(&message, zone)).map_err(ClientError::Write)?;
                // Each line is shown as it arrives, even when stdout is a pipe.
                out.flush().map_err(ClientError::Write)?;
            }
            Err(LdjError::Io(error)) => return Err(ClientError::Read(error)),
            Err(error) => {
                let _ = writeln!(err, "{}", describe_error(&error));
            }
        }
    }
    Ok(())
}
// ANCHOR_END: client_run
