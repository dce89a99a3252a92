//! A server running inside the test process, on port 0 or a temporary Unix
//! socket, with its console events on a channel and its shutdown in the
//! test's hands; and an async [`Subscriber`] to connect to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::tz::TimeZone;
use net_watcher::browser;
use net_watcher::console::{Console, ConsoleEvent};
use net_watcher::notifier::{Feed, Notifier};
use net_watcher::protocol::Protocol;
use net_watcher::server::{self, Config, Listener};
use net_watcher::watching::{Target, settle};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::target::TargetFile;
use super::{QUIET_PERIOD, within};

/// How to start an [`InProcessServer`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The protocol spoken to subscribers.
    pub protocol: Protocol,
    /// Listen on a Unix socket at this path instead of TCP.
    pub unix: Option<PathBuf>,
    /// The connection limit.
    pub max_subscribers: usize,
    /// The write timeout.
    pub write_timeout: Duration,
    /// The settle window (`--debounce-ms`).
    pub debounce: Duration,
    /// The zone plain-text dates are in: UTC unless a test says otherwise,
    /// whatever the zone of the machine running the tests.
    pub zone: TimeZone,
    /// Also serve browsers (`--http`, chapter 13) on 127.0.0.1, port 0.
    pub http: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            protocol: Protocol::Text,
            unix: None,
            max_subscribers: 100,
            write_timeout: Duration::from_secs(30),
            debounce: settle::DEFAULT_WINDOW,
            zone: TimeZone::UTC,
            http: false,
        }
    }
}

impl Options {
    /// The default options, speaking `protocol`.
    pub fn speaking(protocol: Protocol) -> Self {
        Options {
            protocol,
            ..Options::default()
        }
    }

    /// Plain text on a Unix socket, `watcher.sock` in `target`'s folder.
    pub fn on_a_unix_socket(target: &TargetFile) -> Self {
        Options {
            unix: Some(target.dir().join("watcher.sock")),
            ..Options::speaking(Protocol::Text)
        }
    }
}

/// A server task in this process.
pub struct InProcessServer {
    /// The notifier, to read its subscriber count and watch state.
    pub notifier: Notifier,
    addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    unix: Option<PathBuf>,
    events: mpsc::UnboundedReceiver<ConsoleEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl InProcessServer {
    /// Starts a server for `target` on 127.0.0.1, port 0, speaking `protocol`.
    pub async fn start(target: &TargetFile, protocol: Protocol) -> Self {
        Self::start_with(target, Options::speaking(protocol)).await
    }

    /// Starts a server for `target` with `options`.
    pub async fn start_with(target: &TargetFile, options: Options) -> Self {
        let path = target.path().to_owned();
        Self::start_serving(options, |options, console| {
            let target = Target::new(path).expect("the target exists");
            Notifier::new(
                target,
                options.protocol,
                options.zone.clone(),
                options.debounce,
                console,
            )
        })
        .await
    }

    /// Starts an edge server's road (chapter 12) with `options`: a notifier
    /// with no OS watch, greeting with `file`, whose changes the test hands
    /// it through the returned [`Feed`], as an edge's stream reader does.
    pub async fn start_fed(file: &str, options: Options) -> (Self, Feed) {
        let mut feed = None;
        let server = Self::start_serving(options, |options, console| {
            let (notifier, fed) =
                Notifier::fed(file, options.protocol, options.zone.clone(), console);
            feed = Some(fed);
            notifier
        })
        .await;
        (server, feed.expect("the notifier was made"))
    }

    async fn start_serving(
        options: Options,
        notifier: impl FnOnce(&Options, Console) -> Notifier,
    ) -> Self {
        let listener = match &options.unix {
            Some(path) => server::bind_unix(path).expect("the Unix socket binds"),
            None => server::bind_tcp("127.0.0.1", 0)
                .await
                .expect("port 0 binds")
                .remove(0),
        };
        let addr = listener.tcp_addr();
        let mut listeners = vec![listener];
        if options.http {
            let address = "127.0.0.1:0".parse().expect("an address");
            let http = browser::bind(&address).await.expect("port 0 binds");
            listeners.extend(http);
        }
        Self::start_on(options, listeners, addr, notifier).await
    }

    async fn start_on(
        options: Options,
        listeners: Vec<Listener>,
        addr: Option<SocketAddr>,
        notifier: impl FnOnce(&Options, Console) -> Notifier,
    ) -> Self {
        let http_addr = listeners.iter().find_map(Listener::http_addr);
        let (events_tx, events) = mpsc::unbounded_channel();
        let console = Console::new(move |event| {
            let _ = events_tx.send(event.clone());
        });
        let notifier = notifier(&options, console.clone());
        let config = Config {
            max_subscribers: options.max_subscribers,
            write_timeout: options.write_timeout,
            console,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(
            listeners,
            notifier.clone(),
            config,
            async move {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            },
        ));
        InProcessServer {
            notifier,
            addr,
            http_addr,
            unix: options.unix,
            events,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The TCP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("this server listens on TCP")
    }

    /// The address it serves browsers on (with [`Options::http`]).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr.expect("this server serves browsers")
    }

    /// Connects a new subscriber (TCP or Unix, as the server listens).
    pub async fn subscribe(&self) -> Subscriber {
        match &self.unix {
            Some(path) => Subscriber::unix(path).await,
            None => Subscriber::tcp(self.addr()).await,
        }
    }

    /// Connects a subscriber and reads its greeting, so that the shared watch
    /// is known to be in place.
    pub async fn subscribe_greeted(&self) -> Subscriber {
        let mut subscriber = self.subscribe().await;
        subscriber.next_line("the greeting").await;
        subscriber
    }

    /// Connects `count` subscribers and reads each one's greeting.
    pub async fn subscribe_greeted_many(&self, count: usize) -> Vec<Subscriber> {
        let mut subscribers = Vec::with_capacity(count);
        for _ in 0..count {
            subscribers.push(self.subscribe_greeted().await);
        }
        subscribers
    }

    /// Waits for the console event `expected`, skipping others.
    pub async fn expect_event(&mut self, expected: ConsoleEvent) {
        let what = format!("the console event {expected:?}");
        self.expect_event_matching(&what, |event| *event == expected)
            .await;
    }

    /// Waits for a console event that `wanted` accepts, skipping others,
    /// and returns it.
    pub async fn expect_event_matching(
        &mut self,
        what: &str,
        wanted: impl Fn(&ConsoleEvent) -> bool,
    ) -> ConsoleEvent {
        let events = &mut self.events;
        within(what, async {
            loop {
                match events.recv().await {
                    Some(event) if wanted(&event) => return event,
                    Some(_) => continue,
                    None => panic!("the server stopped before {what}"),
                }
            }
        })
        .await
    }

    /// The console events so far that an operator must look at (see
    /// [`ConsoleEvent::is_problem`]), without waiting for more.
    pub fn problems_so_far(&mut self) -> Vec<ConsoleEvent> {
        let mut problems = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            if event.is_problem() {
                problems.push(event);
            }
        }
        problems
    }

    /// A subscriber that does not read, on a socket with the smallest
    /// receive buffer the OS allows, so that the server's writes to it soon
    /// wait; and beside it a greeted subscriber that reads. Returns once the
    /// server has logged both connections.
    pub async fn subscribe_stalled_beside_a_reader(&mut self) -> (TcpStream, Subscriber) {
        let stalled = connect_stalled(self.addr()).await;
        let reader = self.subscribe_greeted().await;
        self.expect_event(ConsoleEvent::SubscriberConnected).await;
        self.expect_event(ConsoleEvent::SubscriberConnected).await;
        (stalled, reader)
    }

    /// Stops the server and waits until `run` has returned.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            within("the server to shut down", task)
                .await
                .expect("the server task does not panic");
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A TCP connection to `addr` that will never be read, with the smallest
/// receive buffer the OS allows, so that the server's writes to it soon wait.
pub async fn connect_stalled(addr: SocketAddr) -> TcpStream {
    let stalled = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    stalled
        .set_recv_buffer_size(1)
        .expect("the receive buffer can be shrunk");
    within("a TCP connect", stalled.connect(addr))
        .await
        .expect("the server accepts TCP connections")
}

/// Each subscriber's next line is a change notification.
pub async fn expect_change_on_each(subscribers: &mut [Subscriber], what: &str) {
    for (index, subscriber) in subscribers.iter_mut().enumerate() {
        subscriber
            .expect_change(&format!("subscriber {index}'s notification of {what}"))
            .await;
    }
}

/// A connected subscriber, reading lines with timeouts.
pub struct Subscriber {
    reader: BufReader<Box<dyn AsyncRead + Unpin + Send>>,
    writer: Box<dyn AsyncWrite + Unpin + Send>,
}

impl Subscriber {
    /// Connects over TCP.
    pub async fn tcp(addr: SocketAddr) -> Self {
        let stream = within("a TCP connect", TcpStream::connect(addr))
            .await
            .expect("the server accepts TCP connections");
        Self::from_tcp(stream)
    }

    /// A subscriber on a TCP connection made elsewhere (with its own
    /// socket options).
    pub fn from_tcp(stream: TcpStream) -> Self {
        let (reader, writer) = stream.into_split();
        Subscriber {
            reader: BufReader::new(Box::new(reader)),
            writer: Box::new(writer),
        }
    }

    /// Connects over a Unix socket.
    pub async fn unix(path: &Path) -> Self {
        let stream = within("a Unix socket connect", UnixStream::connect(path))
            .await
            .expect("the server accepts Unix connections");
        let (reader, writer) = stream.into_split();
        Subscriber {
            reader: BufReader::new(Box::new(reader)),
            writer: Box::new(writer),
        }
    }

    /// The next line, newline included. Fails the test on timeout or end of
    /// file, naming `what` was awaited.
    pub async fn next_line(&mut self, what: &str) -> String {
        let mut line = String::new();
        let read = within(what, self.reader.read_line(&mut line))
            .await
            .unwrap_or_else(|error| panic!("reading {what} failed: {error}"));
        assert_ne!(read, 0, "the connection ended while waiting for {what}");
        line
    }

    /// The next line, which must be a plain-text change notification.
    pub async fn expect_change(&mut self, what: &str) -> String {
        let line = self.next_line(what).await;
        assert!(
            line.starts_with("File changed: "),
            "expected {what}, a change line; got {line:?}"
        );
        line
    }

    /// Waits for end of file from the server; fails on more data.
    pub async fn expect_end(&mut self, what: &str) {
        let mut rest = String::new();
        let read = within(what, self.reader.read_line(&mut rest))
            .await
            .unwrap_or_else(|error| panic!("expected {what}, got: {error}"));
        assert_eq!(read, 0, "expected {what}, got the line {rest:?}");
    }

    /// Checks that nothing arrives for [`QUIET_PERIOD`].
    pub async fn expect_silence(&mut self, after: &str) {
        let mut line = String::new();
        if let Ok(read) = tokio::time::timeout(QUIET_PERIOD, self.reader.read_line(&mut line)).await
        {
            panic!("expected nothing more after {after}, got {read:?}: {line:?}");
        }
    }

    /// Reads lines until none arrives for [`QUIET_PERIOD`], and returns the
    /// last one (empty if none came).
    pub async fn last_line_until_quiet(&mut self) -> String {
        let mut last = String::new();
        while let Some(line) = self.try_next_line_within_quiet_period().await {
            last = line;
        }
        last
    }

    /// The next line if one arrives within [`QUIET_PERIOD`], else `None`.
    pub async fn try_next_line_within_quiet_period(&mut self) -> Option<String> {
        let mut line = String::new();
        match tokio::time::timeout(QUIET_PERIOD, self.reader.read_line(&mut line)).await {
            Ok(Ok(read)) if read > 0 => Some(line),
            Ok(Ok(_)) => panic!("the connection ended while counting notifications"),
            Ok(Err(error)) => panic!("reading failed while counting notifications: {error}"),
            Err(_elapsed) => None,
        }
    }

    /// Sends bytes to the server, as someone typing into `nc` does.
    pub async fn type_text(&mut self, text: &[u8]) {
        self.writer
            .write_all(text)
            .await
            .expect("the server's socket takes input");
    }
}
