//! One connection to the server under test, read line by line, each wait
//! bounded: what `nc` shows a person, with a clock.

use std::fmt;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::subject::{Address, Connection};

/// The longest line the grader reads; a server that sends more without a
/// newline is failed rather than followed into unbounded memory.
pub const MAX_LINE: usize = 64 * 1024;

/// Why no line came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silence {
    /// Nothing, or only part of a line, within the time given.
    Nothing {
        /// How long the grader waited.
        waited: Duration,
        /// The part of a line that did come, if any.
        partial: String,
    },
    /// The server closed the connection (after part of a line, perhaps).
    Closed {
        /// The unfinished line before the end, if any.
        partial: String,
    },
    /// A line longer than [`MAX_LINE`].
    TooLong,
    /// The socket failed (a reset, for example).
    Failed(String),
}

impl fmt::Display for Silence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Silence::Nothing { waited, partial } if partial.is_empty() => {
                write!(f, "nothing within {} s", waited.as_secs_f64())
            }
            Silence::Nothing { waited, partial } => write!(
                f,
                "only part of a line within {} s: {partial:?}",
                waited.as_secs_f64()
            ),
            Silence::Closed { partial } if partial.is_empty() => {
                f.write_str("the server closed the connection")
            }
            Silence::Closed { partial } => write!(
                f,
                "the server closed the connection after an unfinished line: {partial:?}"
            ),
            Silence::TooLong => write!(f, "a line longer than {MAX_LINE} bytes"),
            Silence::Failed(error) => write!(f, "the connection failed: {error}"),
        }
    }
}

/// A connection to the server under test.
#[derive(Debug)]
pub struct Subscriber {
    connection: Connection,
    pending: Vec<u8>,
    ended: bool,
    patience: Duration,
}

impl Subscriber {
    /// Reads from `connection`; `patience` is how long [`Subscriber::next_line`]
    /// waits.
    pub fn new(connection: Connection, patience: Duration) -> Self {
        Subscriber {
            connection,
            pending: Vec::new(),
            ended: false,
            patience,
        }
    }

    /// A subscriber that will never read, connected with the smallest
    /// receive buffer the OS allows, so that its share of the server's
    /// notifications fills its socket as soon as possible.
    pub fn that_never_reads(address: &Address, patience: Duration) -> io::Result<Subscriber> {
        let connection = match address {
            Address::Tcp(port) => Connection::Tcp(connect_with_small_buffer(*port)?),
            Address::Unix(_) => address.connect()?,
        };
        Ok(Subscriber::new(connection, patience))
    }

    /// The next line, without its `\n`, waiting up to the patience given
    /// at connection.
    pub fn next_line(&mut self) -> Result<String, Silence> {
        self.next_within(self.patience)
    }

    /// The next line, without its `\n`, waiting up to `within`.
    pub fn next_within(&mut self, within: Duration) -> Result<String, Silence> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.pending.len() > MAX_LINE {
                return Err(Silence::TooLong);
            }
            let partial = String::from_utf8_lossy(&self.pending).into_owned();
            if self.ended {
                return Err(Silence::Closed { partial });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Silence::Nothing {
                    waited: within,
                    partial,
                });
            }
            let mut chunk = [0u8; 4096];
            match self.read(&mut chunk, deadline - now) {
                Ok(0) => self.ended = true,
                Ok(read) => self.pending.extend_from_slice(&chunk[..read]),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Silence::Failed(error.to_string())),
            }
        }
    }

    /// Every line that comes until none has come for `quiet`, after
    /// waiting up to `first_within` for the first. At most `limit` lines
    /// are kept; the count goes on.
    pub fn lines_until_quiet(
        &mut self,
        first_within: Duration,
        quiet: Duration,
        limit: usize,
    ) -> Heard {
        let mut heard = Heard::default();
        let mut wait = first_within;
        loop {
            match self.next_within(wait) {
                Ok(line) => {
                    heard.count += 1;
                    if heard.lines.len() < limit {
                        heard.lines.push(line);
                    }
                    wait = quiet;
                }
                Err(silence) => {
                    heard.ending = silence;
                    return heard;
                }
            }
        }
    }

    fn read(&mut self, buffer: &mut [u8], within: Duration) -> io::Result<usize> {
        // A zero timeout means "block forever" to the OS: never ask for it.
        let within = within.max(Duration::from_millis(1));
        match &mut self.connection {
            Connection::Tcp(stream) => {
                stream.set_read_timeout(Some(within))?;
                stream.read(buffer)
            }
            Connection::Unix(stream) => {
                stream.set_read_timeout(Some(within))?;
                stream.read(buffer)
            }
        }
    }
}

/// What a subscriber heard until it was quiet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The lines, up to the limit asked for.
    pub lines: Vec<String>,
    /// How many lines came in all.
    pub count: usize,
    /// How the listening ended: quiet, or the connection closed.
    pub ending: Silence,
}

impl Default for Heard {
    fn default() -> Self {
        Heard {
            lines: Vec::new(),
            count: 0,
            ending: Silence::Nothing {
                waited: Duration::ZERO,
                partial: String::new(),
            },
        }
    }
}

/// Connects over TCP with the smallest receive buffer, set before the
/// connection so that the window the server sees is small from the start.
fn connect_with_small_buffer(port: u16) -> io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let connect = |addr: SocketAddr| async move {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // The OS rounds this up to its minimum (about 2 KiB on Linux).
        socket.set_recv_buffer_size(1)?;
        socket.connect(addr).await
    };
    let stream = runtime.block_on(async {
        match connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
            Ok(stream) => Ok(stream),
            Err(_) => connect(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await,
        }
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}
