//! `net-watcher-client`: connect to a `net-watcher --json` server and print
//! each message the way the book's client does.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use jiff::tz::TimeZone;
use net_watcher::server::DEFAULT_PORT;
use net_watcher::{client, protocol};
use tokio::net::{TcpStream, UnixStream};

/// Connect to a net-watcher server speaking JSON (`net-watcher --json`) and
/// print each message: `Now watching: …`, `File changed: …`.
///
/// Dates are in the local time zone: the one the `TZ` environment variable
/// names (`TZ=Europe/Madrid`), else the system's. Exits 0 when the server
/// closes the connection.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's host.
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    host: String,

    /// The server's TCP port.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Connect to a Unix socket at PATH instead of TCP.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    unix: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let zone = protocol::reader_time_zone().unwrap_or_else(|reason| {
        eprintln!("net-watcher-client: {reason}; dates are in UTC");
        TimeZone::UTC
    });
    let outcome = match &args.unix {
        Some(path) => match UnixStream::connect(path).await {
            Ok(stream) => read_messages(stream, &zone).await,
            Err(error) => Err(format!("cannot connect to {}: {error}", path.display())),
        },
        None => match TcpStream::connect((args.host.as_str(), args.port)).await {
            Ok(stream) => read_messages(stream, &zone).await,
            Err(error) => Err(format!(
                "cannot connect to {}:{}: {error}",
                args.host, args.port
            )),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("net-watcher-client: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn read_messages<S>(stream: S, zone: &TimeZone) -> Result<(), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    client::run(stream, zone, io::stdout(), io::stderr())
        .await
        .map_err(|error| format!("reading from the server failed: {error}"))
}
