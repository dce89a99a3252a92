//! One connection to the server under test, read line by line, each wait
//! bounded: what `nc` shows a person, with a clock.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use super::net::{Address, Stream};

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
    /// Lines were still coming when a burst had gone on for as long as
    /// one may (see [`LONGEST_BURST`]).
    Unending {
        /// How long they had been coming.
        lasted: Duration,
    },
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
            Silence::Unending { lasted } => write!(
                f,
                "lines still coming after {} s, with no pause",
                lasted.as_secs_f64()
            ),
            Silence::Failed(error) => write!(f, "the connection failed: {error}"),
        }
    }
}

/// A connection to the server under test.
#[derive(Debug)]
pub struct Subscriber {
    stream: Stream,
    pending: Vec<u8>,
    ended: bool,
    patience: Duration,
    /// When the last line returned had arrived.
    last_arrival: Option<Instant>,
}

impl Subscriber {
    /// Reads from `stream`; `patience` is how long [`Subscriber::next_line`]
    /// waits.
    pub fn new(stream: Stream, patience: Duration) -> Self {
        Subscriber {
            stream,
            pending: Vec::new(),
            ended: false,
            patience,
            last_arrival: None,
        }
    }

    /// A subscriber that will never read, connected with the smallest
    /// receive buffer the OS allows, so that its share of the server's
    /// notifications fills its socket as soon as possible.
    pub fn that_never_reads(address: &Address, patience: Duration) -> io::Result<Subscriber> {
        Ok(Subscriber::new(
            address.connect_with_small_buffer()?,
            patience,
        ))
    }

    /// The next line, without its `\n`, waiting up to the patience given
    /// at connection.
    pub fn next_line(&mut self) -> Result<String, Silence> {
        self.next_within(self.patience)
    }

    /// When the last line returned arrived, if one has been.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last_arrival
    }

    /// The next line, without its `\n`, waiting up to `within`. A zero
    /// wait still takes what has already come.
    pub fn next_within(&mut self, within: Duration) -> Result<String, Silence> {
        let deadline = Instant::now() + within;
        // One read at least: what the OS holds for the socket is there
        // already, and "nothing before the first touch" must see it.
        let mut looked = false;
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
            if now >= deadline && looked {
                return Err(Silence::Nothing {
                    waited: within,
                    partial,
                });
            }
            looked = true;
            match self.read_more(deadline.saturating_duration_since(now)) {
                Ok(Some(chunk)) => self.pending.extend_from_slice(&chunk),
                Ok(None) => {}
                Err(silence) => return Err(silence),
            }
        }
    }

    /// What one read brings, waiting up to `within`: `None` if nothing
    /// came (or the read was interrupted); [`Silence::Closed`] once the
    /// server has closed; bytes already read into a partial line first.
    pub fn read_chunk(&mut self, within: Duration) -> Result<Option<Vec<u8>>, Silence> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        self.read_more(within)
    }

    /// One read from the connection, waiting up to `within`.
    fn read_more(&mut self, within: Duration) -> Result<Option<Vec<u8>>, Silence> {
        if self.ended {
            return Err(Silence::Closed {
                partial: String::new(),
            });
        }
        let mut chunk = [0u8; 4096];
        match self.stream.read_within(&mut chunk, within) {
            Ok(0) => {
                self.ended = true;
                Ok(None)
            }
            Ok(read) => {
                self.last_arrival = Some(Instant::now());
                Ok(Some(chunk[..read].to_vec()))
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(Silence::Failed(error.to_string())),
        }
    }

    /// Every line that comes until none has come for `quiet`, after
    /// waiting up to `first_within` for the first, and for at most
    /// [`LONGEST_BURST`] after the first. At most `limit` lines are kept;
    /// the count goes on.
    pub fn lines_until_quiet(
        &mut self,
        first_within: Duration,
        quiet: Duration,
        limit: usize,
    ) -> Burst {
        self.lines_until_quiet_or_cut(first_within, quiet, limit, LONGEST_BURST)
    }

    /// [`Subscriber::lines_until_quiet`], cut off `longest` after the
    /// first line.
    fn lines_until_quiet_or_cut(
        &mut self,
        first_within: Duration,
        quiet: Duration,
        limit: usize,
        longest: Duration,
    ) -> Burst {
        let mut burst = Burst::default();
        let mut wait = first_within;
        let mut began = None;
        loop {
            if let Some(lasted) = began.map(|began: Instant| began.elapsed())
                && lasted >= longest
            {
                burst.ending = Silence::Unending { lasted };
                return burst;
            }
            match self.next_within(wait) {
                Ok(line) => {
                    if burst.count == 0 {
                        burst.first_arrival = self.last_arrival;
                        began = Some(Instant::now());
                    }
                    burst.count += 1;
                    if burst.lines.len() < limit {
                        burst.lines.push(line);
                    }
                    wait = quiet;
                }
                Err(silence) => {
                    burst.ending = silence;
                    return burst;
                }
            }
        }
    }

    /// Puts `line` back, to be read again first: a line a subscriber read
    /// while waiting for a greeting, that was not one.
    pub fn put_back(&mut self, line: &str) {
        self.unread(format!("{line}\n").as_bytes());
    }

    /// Puts `bytes` back, to be read again first: what came after the
    /// part a reader of raw chunks ([`Subscriber::read_chunk`]) needed.
    pub fn unread(&mut self, bytes: &[u8]) {
        let mut pending = Vec::with_capacity(bytes.len() + self.pending.len());
        pending.extend_from_slice(bytes);
        pending.append(&mut self.pending);
        self.pending = pending;
    }

    /// Closes the connection, as a subscriber that leaves does.
    pub fn leave(self) {
        self.stream.close();
    }
}

/// How long a burst may go on after its first line. A server that never
/// goes quiet (a line every moment, for ever: a poll that never updates
/// what it compares with) would otherwise keep the grader listening for
/// ever; it is cut off here, and the count says how many lines came.
pub const LONGEST_BURST: Duration = Duration::from_secs(5);

/// What a subscriber heard until it was quiet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// The lines, up to the limit asked for.
    pub lines: Vec<String>,
    /// How many lines came in all.
    pub count: usize,
    /// When the first came.
    pub first_arrival: Option<Instant>,
    /// How the listening ended: quiet, or the connection closed.
    pub ending: Silence,
}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            lines: Vec::new(),
            count: 0,
            first_arrival: None,
            ending: Silence::Nothing {
                waited: Duration::ZERO,
                partial: String::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;

    fn pair() -> (Subscriber, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        (
            Subscriber::new(Stream::Unix(ours), Duration::from_millis(200)),
            theirs,
        )
    }

    #[test]
    fn a_zero_wait_takes_what_has_come_and_waits_for_nothing() {
        let (mut subscriber, mut server) = pair();
        server.write_all(b"already\n").unwrap();
        assert_eq!(subscriber.next_within(Duration::ZERO).unwrap(), "already");
        assert_eq!(
            subscriber.next_within(Duration::ZERO),
            Err(Silence::Nothing {
                waited: Duration::ZERO,
                partial: String::new()
            })
        );
    }

    #[test]
    fn lines_come_whole_whatever_the_reads() {
        let (mut subscriber, mut server) = pair();
        server.write_all(b"one\ntw").unwrap();
        assert_eq!(subscriber.next_line().unwrap(), "one");
        assert!(subscriber.last_arrival().is_some());
        assert_eq!(
            subscriber.next_within(Duration::from_millis(20)),
            Err(Silence::Nothing {
                waited: Duration::from_millis(20),
                partial: "tw".into()
            })
        );
        server.write_all(b"o\r\nthree").unwrap();
        assert_eq!(subscriber.next_line().unwrap(), "two\r");
        drop(server);
        assert_eq!(
            subscriber.next_line(),
            Err(Silence::Closed {
                partial: "three".into()
            })
        );
        assert_eq!(
            subscriber.next_line(),
            Err(Silence::Closed {
                partial: "three".into()
            })
        );
    }

    #[test]
    fn a_line_put_back_is_read_again_first() {
        let (mut subscriber, mut server) = pair();
        server.write_all(b"one\ntwo\nthr").unwrap();
        let one = subscriber.next_line().unwrap();
        subscriber.put_back(&one);
        assert_eq!(subscriber.next_line().unwrap(), "one");
        assert_eq!(subscriber.next_line().unwrap(), "two");
        subscriber.put_back("again");
        assert_eq!(subscriber.next_line().unwrap(), "again");
        server.write_all(b"ee\n").unwrap();
        assert_eq!(subscriber.next_line().unwrap(), "three");
    }

    #[test]
    fn a_burst_counts_past_its_limit_and_ends_when_quiet() {
        let (mut subscriber, mut server) = pair();
        server.write_all(b"a\nb\nc\n").unwrap();
        let burst =
            subscriber.lines_until_quiet(Duration::from_millis(200), Duration::from_millis(20), 2);
        assert_eq!(burst.lines, ["a", "b"]);
        assert_eq!(burst.count, 3);
        assert!(burst.first_arrival.is_some());
        assert_eq!(
            burst.ending,
            Silence::Nothing {
                waited: Duration::from_millis(20),
                partial: String::new()
            }
        );
        let nothing =
            subscriber.lines_until_quiet(Duration::from_millis(10), Duration::from_millis(10), 2);
        assert_eq!((nothing.count, nothing.first_arrival), (0, None));
    }

    #[test]
    fn a_burst_that_never_goes_quiet_is_cut_off() {
        let (mut subscriber, mut server) = pair();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        // A line every 10 ms until told to stop: never quiet for 100 ms.
        let writer = std::thread::spawn(move || {
            while stopped.try_recv().is_err() {
                if server.write_all(b"File changed\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let burst = subscriber.lines_until_quiet_or_cut(
            Duration::from_secs(5),
            Duration::from_millis(100),
            3,
            Duration::from_millis(300),
        );
        stop.send(()).unwrap();
        writer.join().unwrap();
        assert_eq!(burst.lines.len(), 3);
        assert!(burst.count > 3, "{}", burst.count);
        let Silence::Unending { lasted } = burst.ending else {
            panic!("{:?}", burst.ending)
        };
        assert!(lasted >= Duration::from_millis(300), "{lasted:?}");
        assert_eq!(
            Silence::Unending {
                lasted: Duration::from_millis(5500)
            }
            .to_string(),
            "lines still coming after 5.5 s, with no pause"
        );
    }

    #[test]
    fn an_endless_line_is_cut_short() {
        let (mut subscriber, mut server) = pair();
        let long = vec![b'x'; MAX_LINE + 10];
        std::thread::spawn(move || server.write_all(&long));
        assert_eq!(
            subscriber.next_within(Duration::from_secs(10)),
            Err(Silence::TooLong)
        );
    }

    #[test]
    fn raw_reads_give_what_was_buffered_first() {
        let (mut subscriber, mut server) = pair();
        server.write_all(b"par").unwrap();
        assert!(subscriber.next_within(Duration::from_millis(20)).is_err());
        assert_eq!(
            subscriber.read_chunk(Duration::from_millis(20)),
            Ok(Some(b"par".to_vec()))
        );
        assert_eq!(subscriber.read_chunk(Duration::from_millis(20)), Ok(None));
        server.write_all(b"t").unwrap();
        assert_eq!(
            subscriber.read_chunk(Duration::from_millis(200)),
            Ok(Some(b"t".to_vec()))
        );
        drop(server);
        assert_eq!(subscriber.read_chunk(Duration::from_millis(200)), Ok(None));
        assert_eq!(
            subscriber.read_chunk(Duration::from_millis(20)),
            Err(Silence::Closed {
                partial: String::new()
            })
        );
    }

    #[test]
    fn silences_say_what_came() {
        let waited = Duration::from_millis(1500);
        assert_eq!(
            Silence::Nothing {
                waited,
                partial: String::new()
            }
            .to_string(),
            "nothing within 1.5 s"
        );
        assert_eq!(
            Silence::Nothing {
                waited,
                partial: "ab".into()
            }
            .to_string(),
            "only part of a line within 1.5 s: \"ab\""
        );
        assert_eq!(
            Silence::Closed {
                partial: String::new()
            }
            .to_string(),
            "the server closed the connection"
        );
        assert_eq!(
            Silence::Closed {
                partial: "ab".into()
            }
            .to_string(),
            "the server closed the connection after an unfinished line: \"ab\""
        );
        assert_eq!(
            Silence::TooLong.to_string(),
            "a line longer than 65536 bytes"
        );
        assert_eq!(
            Silence::Failed("reset".into()).to_string(),
            "the connection failed: reset"
        );
    }

    #[test]
    fn a_line_as_long_as_allowed_is_read_whole() {
        let (mut subscriber, mut server) = pair();
        let writer = std::thread::spawn(move || {
            server.write_all(&[b'x'; MAX_LINE]).unwrap();
            // A pause, so that the subscriber holds the whole of the
            // longest line allowed, and no newline yet, before it comes.
            std::thread::sleep(Duration::from_millis(200));
            server.write_all(b"\n").unwrap();
            server
        });
        let line = subscriber.next_within(Duration::from_secs(10)).unwrap();
        assert_eq!(line.len(), MAX_LINE);
        drop(writer.join().unwrap());
    }

    #[test]
    fn a_reset_connection_is_a_failure_not_a_silence() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = Address::Tcp(listener.local_addr().unwrap().port());
        let mut subscriber = Subscriber::new(address.connect().unwrap(), Duration::from_secs(5));
        let (server, _) = listener.accept().unwrap();
        // Closing with a zero linger time sends a reset, not an end.
        socket2::SockRef::from(&server)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(server);
        assert!(
            matches!(subscriber.next_line(), Err(Silence::Failed(_))),
            "a reset"
        );
    }

    #[test]
    fn a_burst_starts_when_its_first_line_came() {
        let (mut subscriber, mut server) = pair();
        let writer = std::thread::spawn(move || {
            server.write_all(b"a\n").unwrap();
            // The second line comes later, so that the first one's arrival
            // is told from the second's.
            std::thread::sleep(Duration::from_millis(100));
            let second = Instant::now();
            server.write_all(b"b\n").unwrap();
            (server, second)
        });
        let burst =
            subscriber.lines_until_quiet(Duration::from_secs(5), Duration::from_millis(500), 5);
        let (_server, second) = writer.join().unwrap();
        assert_eq!(burst.lines, ["a", "b"]);
        assert!(burst.first_arrival.unwrap() < second);
        assert!(subscriber.last_arrival().unwrap() >= second);
    }
}
