//! A Unix socket server that is alive but takes nobody: it listens with the
//! smallest backlog and never accepts, and that backlog is already full, as
//! with a server stopped by `kill -STOP` under a burst of connects. A
//! blocking `connect` to it waits until it goes away.

use std::io::ErrorKind;
use std::path::Path;

use socket2::{Domain, SockAddr, Socket, Type};

/// The listener, and the connections that fill its backlog; all closed
/// when it is dropped.
pub struct StuckListener {
    _listener: Socket,
    _queued: Vec<Socket>,
}

impl StuckListener {
    /// Listens at `path` and fills the backlog.
    pub fn at(path: &Path) -> Self {
        let address = SockAddr::unix(path).expect("a Unix socket address");
        let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("a socket");
        listener.bind(&address).expect("the path is free");
        listener.listen(0).expect("listening");
        let mut queued = Vec::new();
        // Linux queues one connection more than the backlog; the bound
        // only keeps a kernel that queued any number from looping forever.
        for _ in 0..64 {
            let client = Socket::new(Domain::UNIX, Type::STREAM, None).expect("a socket");
            client.set_nonblocking(true).expect("a non-blocking socket");
            match client.connect(&address) {
                Ok(()) => queued.push(client),
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    return StuckListener {
                        _listener: listener,
                        _queued: queued,
                    };
                }
                Err(error) => panic!("cannot fill the backlog: {error}"),
            }
        }
        panic!("the backlog took 64 connections and was still not full");
    }
}
