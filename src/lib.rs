//! # net-watcher
//!
//! A Rust port of the net-watcher *práctica* (chapter 3 of *Node.js the Right
//! Way*): a server that watches one file and tells every connected subscriber,
//! over TCP or a Unix socket, the moment it changes; a client that frames the
//! server's line-delimited JSON correctly; and a fake service that splits a
//! message across two writes to prove that the framing matters.
//!
//! ## Layout
//!
//! One module per concept, in the order a change travels from the OS to a
//! socket, then back through a client. Each names the chapter of the course
//! (`chapters/`) that introduces it.
//!
//! | module | owns | chapter |
//! |---|---|---|
//! | [`protocol`] | the messages, their plain-text and JSON shapes, dates | 1, 3 |
//! | [`watching`] | turning the OS's file events into changes | 1, 9 |
//! | [`notifier`] | one shared OS watch (or an edge's feed) and the fan-out of the latest change | 1, 9, 12 |
//! | [`connection`] | one subscriber's life: greet, notify, discard input; how the notifier and its task share its socket | 1, 2, 9 |
//! | [`server`] | listeners (TCP, Unix), the connection limit, shutdown | 1, 2, 9 |
//! | [`console`] | what the server logs for its operator | 1 |
//! | [`ldj`] | framing bytes into lines and lines into messages | 5, 6 |
//! | [`client`] | what the client program prints for each message | 4, 6 |
//! | [`fake_service`] | the test service that splits one message in two | 5 |
//! | [`grade`] | the práctica's behaviours, run against any program: the grader | 7 |
//! | [`relay`] | changes through a Redis stream to edge servers: publisher, edge, their link to Redis and its reply limit | 12 |
//! | [`browser`] | HTTP subscribers: Server-Sent Events, the live page, live reload | 13 |
//! | `lock` | taking a lock, or waiting on one, with its data usable after a panic (private) | |
//!
//! The binaries in `src/bin/` only parse arguments, bind, and call into these
//! modules, so everything they do can be tested in-process. One of them,
//! `net-watcher-grade`, grades a práctica written in any language with the
//! same behaviours the spec suite runs against this crate's binaries.
//!
//! ## The road of one change
//!
//! ```text
//!  OS (inotify: one queue, read by the watch's own reader thread)
//!    │  events about the watched name (through its directory), about the
//!    │  file's inode (through whatever name it changed), and about each
//!    │  symlink on the path
//!    ▼
//!  watching   classify (the name's changes from the directory, the file's
//!    │        from its inode), then settle (watching::settle), on that
//!    │        thread: a finished operation is reported at once, there; a
//!    │        burst that may go on is reported by a small keeper task when
//!    │        its deadline fires
//!    │  Change { kind, timestamp }
//!    ▼
//!  notifier   render the line once; store it as the latest (one cell);
//!    │        offer it to every greeted subscriber's socket with a
//!    │        non-blocking write, on the thread or task that reported it
//!    │        (from 256 subscribers on, helper tasks on the other cores take
//!    │        shares)
//!    ▼
//!  connection only a subscriber whose socket was full (or whose task was
//!             mid-write) has its task woken; it writes the latest line when
//!             the socket drains, or is dropped after the write timeout
//! ```
//!
//! An edge server (chapter 12, [`relay`]) joins this road at the notifier:
//! its changes come from a Redis stream that a watcher appends to, and from
//! there on the road is the same. A browser's stream (chapter 13,
//! [`browser`]) is a subscriber on this road too: once hyper has read its
//! request, its socket is served by [`connection`], which writes each change
//! as a Server-Sent Event instead of a line.
//!
//! The first sketch of this design handed each event to a tokio task, which
//! published on a `tokio::sync::watch` channel that woke every subscriber's
//! task. It was simple, and measured slow: each hand-off between threads
//! cost about 200 µs on a 2-core virtual machine, and ten thousand
//! subscribers meant ten thousand task wake-ups per change. Deciding and
//! writing on the thread that hears the change, and waking only the tasks
//! that are owed a line, took the latency at one subscriber from about 1.4x
//! to between 0.4x and 0.7x the book's Node server (see `BENCHMARKS.md`).
#![deny(missing_docs)]

pub mod browser;
pub mod client;
pub mod connection;
pub mod console;
pub mod fake_service;
pub mod grade;
pub mod ldj;
mod lock;
pub mod notifier;
pub mod protocol;
pub mod relay;
pub mod server;
pub mod watching;

/// The course's Rust examples, compiled and run as doctests: every Rust block
/// in `chapters/` that is not an excerpt of this crate's source (those are
/// checked against the source by the `chapters` specs) is a doctest here.
#[cfg(doctest)]
pub mod chapters {
    #[doc = include_str!("../chapters/00-rust-for-node-developers.md")]
    pub struct Chapter00;
    #[doc = include_str!("../chapters/01-binding-a-server.md")]
    pub struct Chapter01;
    #[doc = include_str!("../chapters/02-unix-sockets.md")]
    pub struct Chapter02;
    #[doc = include_str!("../chapters/03-a-messaging-protocol.md")]
    pub struct Chapter03;
    #[doc = include_str!("../chapters/04-a-client.md")]
    pub struct Chapter04;
    #[doc = include_str!("../chapters/05-testing-network-behaviour.md")]
    pub struct Chapter05;
    #[doc = include_str!("../chapters/06-from-inheritance-to-traits.md")]
    pub struct Chapter06;
    #[doc = include_str!("../chapters/06a-the-production-decoder.md")]
    pub struct Chapter06a;
    #[doc = include_str!("../chapters/07-mocha-style-tests-in-rust.md")]
    pub struct Chapter07;
    #[doc = include_str!("../chapters/08-the-exercises.md")]
    pub struct Chapter08;
    #[doc = include_str!("../chapters/09-beyond-the-practica.md")]
    pub struct Chapter09;
    #[doc = include_str!("../chapters/09a-inside-the-server.md")]
    pub struct Chapter09a;
    #[doc = include_str!("../chapters/10-the-chat-challenge.md")]
    pub struct Chapter10;
    #[doc = include_str!("../chapters/11-tasks-and-ci.md")]
    pub struct Chapter11;
    #[doc = include_str!("../chapters/12-beyond-one-machine.md")]
    pub struct Chapter12;
    #[doc = include_str!("../chapters/13-to-the-browser.md")]
    pub struct Chapter13;
}
