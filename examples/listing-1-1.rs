//! Listing 1-1, chapter 1 ("Binding a server to a port"): the smallest
//! server that runs. It greets each subscriber, then hangs up.
//!
//! ```console
//! $ cargo run --example listing-1-1 -- target.txt
//! Listening for subscribers on 127.0.0.1:60300...
//! ```
//!
//! Listing 1-2 (`listing-1-2.rs`) adds the watch; listing 1-3, the step's
//! program, is `net-watcher.rs`.

// ANCHOR: program
use std::error::Error;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `process.argv[2]`: the first argument after the program's name.
    let Some(filename) = std::env::args().nth(1) else {
        eprintln!("Error: No filename specified.");
        std::process::exit(1);
    };
    // `process.env.PORT || 60300`. Tests set PORT=0 to get a free port.
    let port: u16 = std::env::var("PORT").unwrap_or("60300".into()).parse()?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Listening for subscribers on {}...", listener.local_addr()?);
    loop {
        // Wait for the next subscriber.
        let (mut connection, _) = listener.accept().await?;
        println!("Subscriber connected.");
        let greeting = format!("Now watching \"{filename}\" for changes...\n");
        // A subscriber that left already makes the write fail: no matter.
        let _ = connection.write_all(greeting.as_bytes()).await;
        // `connection` ends here, at the end of its block: the socket closes.
    }
}
// ANCHOR_END: program
