//! `net-watcher-client`: connect to a `net-watcher --json` server and print
//! each message the way the book's client does.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use jiff::tz::TimeZone;
use net_watcher::console::standard::Patient;
use net_watcher::console::{Console, ConsoleEvent, ConsoleLines};
use net_watcher::server::{self, DEFAULT_PORT};
use net_watcher::{client, protocol};
use tokio::net::{TcpStream, UnixStream};

/// Connect to a net-watcher server speaking JSON (`net-watcher --json`) and
/// print each message: `Now watching: …`, `File changed: …`.
///
/// Dates are in the local time zone: the one the `TZ` environment variable
/// names (`TZ=Europe/Madrid`), else the system's. Exits 0 when the server
/// closes the connection; 1 when it cannot connect, when the server sends
/// an error (it is full, or cannot watch its file), or when stdout cannot
/// take a line.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's host: a name, or an IP address (`::1` or `[::1]`).
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    host: String,

    /// The server's TCP port.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Connect to a Unix socket at PATH instead of TCP.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    unix: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before the runtime, whose signal handling panics when it finds no
    // descriptor free: too few is said, as any other reason not to start.
    // One connection, read in order: one thread is enough.
    let runtime = server::room_for_files(client::CLIENT_FILES, "to connect").and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start: {error}"))
    });
    match runtime {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(message) => {
            // No console yet (it needs descriptors too): one line, waited
            // for as a blocking write would be.
            let _ = writeln!(Patient(io::stderr()), "net-watcher-client: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> ExitCode {
    // The client's stdout is its output, written as each message comes;
    // its stderr is its log, through the console, which never waits for a
    // stderr nobody reads and never fails on a closed or full one.
    let console = Console::stdout();
    let _drained = console.drain_on_drop();
    let zone = protocol::reader_time_zone().unwrap_or_else(|reason| {
        console.say(ConsoleEvent::Program(format!(
            "net-watcher-client: {reason}; dates are in UTC"
        )));
        TimeZone::UTC
    });
    let outcome = match &args.unix {
        Some(path) => match UnixStream::connect(path).await {
            Ok(stream) => read_messages(stream, &zone, &console).await,
            Err(error) => Err(format!("cannot connect to {}: {error}", path.display())),
        },
        None => {
            // `[::1]`, as an address is written beside a port, is the host
            // `::1`; and an IPv6 address is shown in brackets beside its
            // port: `[::1]:60300`.
            let host = args
                .host
                .strip_prefix('[')
                .and_then(|host| host.strip_suffix(']'))
                .unwrap_or(&args.host);
            let shown = match host.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, args.port).to_string(),
                Err(_) => format!("{host}:{}", args.port),
            };
            let connected = TcpStream::connect((host, args.port))
                .await
                .and_then(client::refuse_a_connection_to_itself);
            match connected {
                Ok(stream) => read_messages(stream, &zone, &console).await,
                Err(error) => Err(format!("cannot connect to {shown}: {error}")),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            console.say(ConsoleEvent::Program(format!(
                "net-watcher-client: {message}"
            )));
            ExitCode::FAILURE
        }
    }
}

async fn read_messages<S>(stream: S, zone: &TimeZone, console: &Console) -> Result<(), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    client::run(
        stream,
        zone,
        // Waited for when its open file is non-blocking and full (a parent
        // such as Node may pass its own): the client gave up at once, with
        // "Resource temporarily unavailable".
        Patient(io::stdout()),
        ConsoleLines::new(console.clone()),
    )
    .await
    .map_err(|error| error.to_string())
}
