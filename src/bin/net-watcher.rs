//! `net-watcher FILE`: watch FILE and notify every subscriber of each change.
//!
//! Parses arguments, checks the file, binds, and hands over to
//! [`net_watcher::server::run`]. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use jiff::tz::TimeZone;
use net_watcher::console::Console;
use net_watcher::notifier::Notifier;
use net_watcher::protocol::{self, Protocol};
use net_watcher::server::{self, Config, DEFAULT_PORT};
use net_watcher::watch::{Target, settle};
use tokio::signal::unix::{SignalKind, signal};

/// Watch a file and tell every connected subscriber, over TCP or a Unix
/// socket, each time it changes.
///
/// Try it: `net-watcher target.txt`, then `nc localhost 60300` in another
/// terminal, and `touch target.txt` in a third. Plain-text dates are in the
/// local time zone: the one the `TZ` environment variable names
/// (`TZ=Europe/Madrid`), else the system's.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The file to watch. It must exist when the server starts.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The address to listen on: an IP address, a host name, or `localhost`
    /// for both loopback addresses (127.0.0.1 and ::1). Use 0.0.0.0 to take
    /// subscribers from other machines.
    #[arg(long, value_name = "ADDR", default_value = "localhost")]
    host: String,

    /// The TCP port to listen on; 0 lets the OS pick a free one (the listening
    /// line says which).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,

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

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("net-watcher: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    // The file is checked before anything listens: a typo is reported at
    // once, not when the first subscriber arrives.
    let target = Target::new(&args.file).map_err(|error| error.to_string())?;
    let protocol = if args.json {
        Protocol::Json
    } else {
        Protocol::Text
    };
    let zone = protocol::reader_time_zone().unwrap_or_else(|reason| {
        eprintln!("net-watcher: {reason}; dates are in UTC");
        TimeZone::UTC
    });
    let console = Console::stdout();
    let notifier = Notifier::new(
        target,
        protocol,
        zone,
        Duration::from_millis(args.debounce_ms),
        console.clone(),
    );

    // Signal handlers go in before the listening line is printed, so a
    // script that reads the line and then sends SIGTERM gets a clean exit.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|error| error.to_string())?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| error.to_string())?;

    let listeners = match &args.unix {
        Some(path) => vec![server::bind_unix(path).map_err(|error| error.to_string())?],
        None => server::bind_tcp(&args.host, args.port)
            .await
            .map_err(|error| error.to_string())?,
    };
    // Raised and counted once the listeners are bound (they are open files
    // too), and before the listening line, which scripts wait for.
    let room = server::room_for_subscribers();
    println!(
        "Listening for subscribers on {}...",
        server::describe_all(&listeners)
    );
    let max_subscribers = subscriber_limit(args.max_subscribers, room);

    let config = Config {
        max_subscribers,
        write_timeout: Duration::from_millis(args.write_timeout_ms),
        console,
    };
    server::run(listeners, notifier, config, async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
    .await;
    Ok(())
}

/// The most subscribers to serve: `asked`, or fewer if the open-file limit
/// leaves `room` for fewer (see [`server::room_for_subscribers`]), which is
/// then said on stderr.
fn subscriber_limit(asked: usize, room: std::io::Result<server::Room>) -> usize {
    match room {
        Ok(room) => {
            let served = asked.min(room.subscribers);
            if served != asked {
                eprintln!(
                    "net-watcher: serving at most {served} subscribers, not {asked}: the open-file limit is {} (ulimit -n); more are refused",
                    room.open_file_limit
                );
            }
            served
        }
        // Not fatal: the server still works, with room for fewer
        // subscribers, and says so.
        Err(error) => {
            eprintln!("net-watcher: cannot raise the open-file limit: {error}");
            asked
        }
    }
}
