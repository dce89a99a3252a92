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
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    start_timeout: f64,

    /// How long to wait for anything expected: a greeting, a notification,
    /// a client's output.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    patience: f64,

    /// How many behaviours to run at once, each with its own server.
    #[arg(long, value_name = "N", default_value_t = 4)]
    jobs: usize,

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

fn main() -> ExitCode {
    let args = Args::parse();
    let seconds = |value: f64, name: &str| {
        Duration::try_from_secs_f64(value).unwrap_or_else(|_| {
            eprintln!("net-watcher-grade: --{name} must be a number of seconds, not {value}");
            std::process::exit(2);
        })
    };
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
        start_timeout: seconds(args.start_timeout, "start-timeout"),
        patience: seconds(args.patience, "patience"),
        jobs: args.jobs.max(1),
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
