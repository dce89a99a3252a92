//! `test-json-service`: the fake service of step 5. Each subscriber gets one
//! `changed` message split across two writes, then the connection closes.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use net_watcher::console::{Console, ConsoleEvent};
use net_watcher::fake_service;
use net_watcher::server::{self, DEFAULT_PORT};
use tokio::signal::unix::{SignalKind, signal};

/// A fake net-watcher that sends every subscriber one `changed` message in
/// two parts, a pause apart, then closes: the message-boundary problem, made
/// certain.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The address to listen on (`localhost`: both loopback addresses).
    #[arg(long, value_name = "ADDR", default_value = "localhost")]
    host: String,

    /// The TCP port to listen on; 0 lets the OS pick.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,

    /// The pause between the two parts of the message.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    delay_ms: u64,
}

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Its lines go through the console, which never fails on a stdout
    // that is closed or full, nor waits on one nobody reads.
    let console = Console::stdout();
    let _drained = console.drain_on_drop();
    let say_error = |error: String| {
        console.say(ConsoleEvent::Program(format!("test-json-service: {error}")));
        ExitCode::FAILURE
    };
    let signals = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    let (Ok(mut interrupt), Ok(mut terminate)) = signals else {
        return say_error("cannot install signal handlers".to_owned());
    };
    let listeners = match server::bind_tcp(&args.host, args.port).await {
        Ok(listeners) => listeners,
        Err(error) => return say_error(error.to_string()),
    };
    console.say(ConsoleEvent::TestServiceListening {
        on: server::describe_all(&listeners),
    });
    fake_service::serve(
        listeners,
        Duration::from_millis(args.delay_ms),
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        },
    )
    .await;
    ExitCode::SUCCESS
}
// ANCHOR_END: main
