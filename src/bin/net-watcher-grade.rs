//! `net-watcher-grade -- COMMAND...`: grade a práctica server (or client),
//! written in any language, against the práctica's behaviours.
//!
//! Parses arguments and prints the report; the behaviours live in
//! [`net_watcher::grade`].

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use net_watcher::grade::{self, Role, Settings, Subject, Transport};
use net_watcher::protocol::Protocol;

/// Grade a net-watcher server, or with --client a client, written in any
/// language: start it, talk to it as the práctica does, and print a report
/// of what holds, behaviour by behaviour.
///
/// In the command, {file} stands for the file to watch (a fresh temporary
/// file for every start; without {file}, it is added as the last
/// argument), {port} for a TCP port and {socket} for a Unix socket path.
/// The address is also in the environment, as PORT or SOCKET. A command
/// that uses neither is expected on the book's address (port 60300, or
/// /tmp/watcher.sock), and its servers are then graded one at a time.
///
/// Examples:
///
///   net-watcher-grade -- node net-watcher.js {file}
///
///   net-watcher-grade --json -- python3 watcher.py --port {port} {file}
///
///   net-watcher-grade --client -- node net-watcher-ldj-client.js
///
/// Exits 0 when every behaviour passes, 1 when any fails.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// The server speaks line-delimited JSON (step 3) instead of plain
    /// text (step 1).
    #[arg(long)]
    json: bool,

    /// The program listens on (or, with --client, connects to) a Unix
    /// socket instead of TCP (step 2).
    #[arg(long)]
    unix: bool,

    /// Grade a client of the JSON protocol (steps 4 to 6) against a fake
    /// server, instead of a server.
    #[arg(long, conflicts_with = "json")]
    client: bool,

    /// How long a server may take to start listening, or a client to
    /// connect.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    start_timeout: Duration,

    /// How long to wait for anything expected: a greeting, a notification,
    /// a client's output.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    patience: Duration,

    /// How many behaviours to run at once, each with its own server.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,

    /// The command that starts the program under test. A single argument
    /// with spaces in it is run by `sh -c`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// A wait given in seconds (fractions allowed). Zero is refused: every
/// behaviour of a correct program would fail, for want of time.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| "expected a number of seconds, such as 5 or 0.5".to_owned())?;
    if value.is_nan() || value <= 0.0 {
        return Err("expected more than 0 seconds".to_owned());
    }
    Duration::try_from_secs_f64(value).map_err(|_| "more seconds than a wait can last".to_owned())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let transport = if args.unix {
        Transport::Unix
    } else {
        Transport::Tcp
    };
    let role = if args.client {
        Role::Client { transport }
    } else {
        Role::Server {
            protocol: if args.json {
                Protocol::Json
            } else {
                Protocol::Text
            },
            transport,
        }
    };
    let settings = Settings {
        start_timeout: args.start_timeout,
        patience: args.patience,
        jobs: usize::from(args.jobs),
        ..Settings::default()
    };
    let report = grade::grade(&Subject::new(args.command, role, settings));
    print!("{report}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
