//! `net-watcher FILE`: watch FILE and notify every subscriber of each change.
//! `net-watcher FILE --publish URL` also appends each change to a Redis
//! stream; `net-watcher --relay URL` is an edge server that tells its own
//! subscribers what the stream says (chapter 12).
//!
//! Parses arguments, checks the file, binds, and hands over to
//! [`net_watcher::server::run`]. Everything else lives in the library.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use jiff::tz::TimeZone;
use net_watcher::browser::{self, HttpAddress};
use net_watcher::console::standard::Patient;
use net_watcher::console::{Console, ConsoleEvent};
use net_watcher::notifier::Notifier;
use net_watcher::protocol::{self, Protocol};
use net_watcher::relay::edge::StreamReader;
use net_watcher::relay::publisher::{self, PublishConfig};
use net_watcher::relay::{DEFAULT_MAXLEN, StreamAddress};
use net_watcher::server::{self, Config, DEFAULT_PORT};
use net_watcher::watching::{Target, settle};
use tokio::signal::unix::{SignalKind, signal};

/// Watch a file and tell every connected subscriber, over TCP or a Unix
/// socket, each time it changes.
///
/// Try it: `net-watcher target.txt`, then `nc localhost 60300` in another
/// terminal, and `touch target.txt` in a third. Plain-text dates are in the
/// local time zone: the one the `TZ` environment variable names
/// (`TZ=Europe/Madrid`), else the system's.
///
/// Beyond one machine: `net-watcher target.txt --publish
/// redis://localhost:6379/changes` also appends every change to a Redis
/// stream, and `net-watcher --relay redis://localhost:6379/changes --port
/// 60310` on any machine that reaches Redis serves the same changes to its
/// own subscribers.
///
/// In a browser: `net-watcher target.txt --http 127.0.0.1:8080`, then open
/// http://127.0.0.1:8080/ to see each change as it happens.
#[derive(Debug, Parser)]
#[command(
    version,
    override_usage = "net-watcher [OPTIONS] <FILE>\n       net-watcher [OPTIONS] --relay <URL>"
)]
struct Args {
    /// The file to watch. It must exist when the server starts. Not given
    /// with --relay, whose changes come from the stream.
    #[arg(value_name = "FILE", required_unless_present = "relay")]
    file: Option<PathBuf>,

    /// Also append every change to a Redis stream, for edge servers
    /// (--relay) to serve. URL: redis://HOST[:PORT]/STREAM, or
    /// redis+unix:///PATH/TO/redis.sock?stream=STREAM. Local subscribers are
    /// told whether or not Redis answers; when it is down, the latest change
    /// is appended once it is back.
    #[arg(long, value_name = "URL", conflicts_with = "relay")]
    publish: Option<StreamAddress>,

    /// About how many entries the stream keeps (XADD MAXLEN ~ N); older ones
    /// are trimmed. At most 9223372036854775807, the largest Redis takes.
    // Redis reads MAXLEN as a signed 64-bit number: a larger cap would be
    // accepted here, then refused by Redis on every append.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAXLEN as u64, requires = "publish",
          value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    publish_maxlen: u64,

    /// Be an edge server: take changes from the Redis stream at URL (which a
    /// `net-watcher FILE --publish URL` appends to) instead of watching a
    /// file, and tell them to this server's subscribers. New changes only:
    /// older entries are not replayed. After an outage the edge reads on
    /// from the last entry it saw.
    #[arg(long, value_name = "URL", conflicts_with_all = ["file", "debounce_ms"])]
    relay: Option<StreamAddress>,

    /// The address to listen on: an IP address, a host name, or `localhost`
    /// for both loopback addresses (127.0.0.1 and ::1). Use 0.0.0.0 to take
    /// subscribers from other machines.
    #[arg(long, value_name = "ADDR", default_value = "localhost")]
    host: String,

    /// The TCP port to listen on; 0 lets the OS pick a free one (the listening
    /// line says which).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Also serve browsers on ADDR (HOST:PORT, such as 127.0.0.1:8080; port
    /// 0 lets the OS pick): a live page at /, the changes as Server-Sent
    /// Events at /events, and a live-reload script at /reload.js. Given
    /// alone, it is the only listener; with --host, --port or --unix, the
    /// server listens there too.
    #[arg(long, value_name = "ADDR")]
    http: Option<HttpAddress>,

    /// Listen on a Unix socket at PATH instead of TCP (`nc -U PATH`).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    unix: Option<PathBuf>,

    /// Speak line-delimited JSON (for net-watcher-client) instead of plain
    /// text (for people).
    #[arg(long)]
    json: bool,

    /// How long to wait for a burst of file events to settle when the OS has
    /// not said the operation is over (a bare chmod, a removal, a writer that
    /// keeps the file open). 0 notifies on every event at once.
    #[arg(long, value_name = "MS", default_value_t = settle::DEFAULT_WINDOW.as_millis() as u64)]
    debounce_ms: u64,

    /// The most subscribers served at once; more are refused with a line.
    /// Fewer if the open-file limit leaves room for fewer (the server then
    /// says so at start).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_subscribers: usize,

    /// Disconnect a subscriber when writing one notification to it takes
    /// longer than this (it stopped reading).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    write_timeout_ms: u64,
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    // Before the runtime, which panics when it finds no descriptor free:
    // too few is said, as any other reason not to start.
    let runtime = server::room_to_start().and_then(|()| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start: {error}"))
    });
    match runtime {
        Ok(runtime) => runtime.block_on(run(args, matches)),
        Err(message) => {
            // No console yet (it needs descriptors too): one line, waited
            // for as a blocking write would be.
            let _ = writeln!(Patient(io::stderr()), "net-watcher: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, matches: clap::ArgMatches) -> ExitCode {
    // `--http` alone serves browsers only: a socket listener only where
    // one is asked for.
    let sockets = args.http.is_none()
        || ["host", "port", "unix"]
            .iter()
            .any(|id| matches.value_source(id) == Some(ValueSource::CommandLine));
    // Every line goes through the console, which never waits for a stream
    // nobody reads and never panics on one that is closed or full; what
    // was said is written before the program exits.
    let console = Console::stdout();
    let _drained = console.drain_on_drop();
    match serve(args, sockets, console.clone()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            console.say(ConsoleEvent::Program(format!("net-watcher: {message}")));
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args, sockets: bool, console: Console) -> Result<(), String> {
    // The file is checked before anything listens: a typo is reported at
    // once, not when the first subscriber arrives.
    let target = match &args.file {
        Some(file) => Some(Target::new(file).map_err(|error| error.to_string())?),
        None => None,
    };
    let protocol = if args.json {
        Protocol::Json
    } else {
        Protocol::Text
    };
    let zone = protocol::reader_time_zone().unwrap_or_else(|reason| {
        console.say(ConsoleEvent::Program(format!(
            "net-watcher: {reason}; dates are in UTC"
        )));
        TimeZone::UTC
    });

    // Signal handlers go in before the listening line is printed, so a
    // script that reads the line and then sends SIGTERM gets a clean exit.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| error.to_string())?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| error.to_string())?;
    let mut stop = async move || {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };

    // Bound before an edge waits for its stream: a taken port is reported
    // at once, whether Redis answers or not.
    let mut listeners = match &args.unix {
        _ if !sockets => Vec::new(),
        Some(path) => vec![server::bind_unix(path).map_err(|error| error.to_string())?],
        None => server::bind_tcp(&args.host, args.port)
            .await
            .map_err(|error| error.to_string())?,
    };
    if let Some(address) = &args.http {
        let http = browser::bind(address).await;
        listeners.extend(http.map_err(|error| error.to_string())?);
    }
    // Raised and counted once the listeners are bound (they are open files
    // too), and before the listening line, which scripts wait for.
    let room = server::room_for_subscribers();

    // The notifier, and what must stop with the server: the task that
    // appends to the stream, or the one that reads it.
    let (notifier, relay_task) = match (target, args.relay) {
        (Some(target), _) => {
            let file = target.as_typed().to_owned();
            let notifier = Notifier::new(
                target,
                protocol,
                zone,
                Duration::from_millis(args.debounce_ms),
                console.clone(),
            );
            let publishing = match args.publish {
                Some(address) => {
                    let config = PublishConfig {
                        max_len: args.publish_maxlen as usize,
                        ..PublishConfig::new(address, file, console.clone())
                    };
                    Some(publisher::spawn(&notifier, config).map_err(|error| error.to_string())?)
                }
                None => None,
            };
            (notifier, publishing)
        }
        (None, Some(address)) => {
            // Until the stream names its file there is nothing to greet
            // with, so the edge listens only then; Ctrl+C still works.
            let reader = tokio::select! {
                reader = StreamReader::start(address, console.clone()) => reader,
                () = stop() => return Ok(()),
            };
            let (notifier, feed) = Notifier::fed(reader.file(), protocol, zone, console.clone());
            (notifier, Some(tokio::spawn(reader.run(feed))))
        }
        (None, None) => unreachable!("clap requires FILE unless --relay is given"),
    };

    console.say(ConsoleEvent::Listening {
        on: server::describe_all(&listeners),
    });
    let max_subscribers = subscriber_limit(args.max_subscribers, room, &console);

    let config = Config {
        max_subscribers,
        write_timeout: Duration::from_millis(args.write_timeout_ms),
        console,
    };
    server::run(listeners, notifier, config, stop()).await;
    if let Some(task) = relay_task {
        task.abort();
    }
    Ok(())
}

/// The most subscribers to serve: `asked`, or fewer if the open-file limit
/// leaves `room` for fewer (see [`server::room_for_subscribers`]), which is
/// then said on stderr.
fn subscriber_limit(asked: usize, room: std::io::Result<server::Room>, console: &Console) -> usize {
    match room {
        Ok(room) => {
            let served = asked.min(room.subscribers);
            if served != asked {
                console.say(ConsoleEvent::Program(format!(
                    "net-watcher: serving at most {served} subscribers, not {asked}: the open-file limit is {} (ulimit -n); more are refused",
                    room.open_file_limit
                )));
            }
            served
        }
        // Not fatal: the server still works, with room for fewer
        // subscribers, and says so.
        Err(error) => {
            console.say(ConsoleEvent::Program(format!(
                "net-watcher: cannot raise the open-file limit: {error}"
            )));
            asked
        }
    }
}
