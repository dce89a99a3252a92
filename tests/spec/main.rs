//! The spec suite of net-watcher: one test binary, read as a specification.
//!
//! Each module is a subject (a Mocha `describe`), each nested module a
//! context, each test a behaviour in the present tense. `cargo test --test
//! spec -- --list` prints the specification; `cargo test --test spec
//! ldj_client::` runs one subject.
//!
//! | module | subject | chapter |
//! |---|---|---|
//! | `ldj_client` | framing bytes into messages (the book's LDJClient) | 5, 6, 7 |
//! | `exercises` | the book's exercises T1, T2, R1–R5; the chapters' own | 1–6, 8 |
//! | `message_protocol` | the two protocols' shapes | 1, 3 |
//! | `notifier` | one OS watch, and the fan-out of each change | 1, 9 |
//! | `net_watcher_server` | the server, in-process, over TCP | 1, 3 |
//! | `unix_socket` | the server on a Unix socket | 2 |
//! | `watching` | exactly one notification per change, however it is made | 9 |
//! | `fake_service` | the split-message service, in-process | 5 |
//! | `client_output` | what the client prints for each line | 4, 6 |
//! | `binaries` | the real programs, spawned | 1–5 |
//! | `steps` | the práctica's small programs (`examples/`, or the student's own), spawned | 1–6 |
//! | `chat` | the chat challenge (`examples/chat`), spawned | 10 |
//! | `relay` | changes relayed through Redis to edge servers, spawned | 12 |
//! | `browser` | `--http`: the page, reload.js, the event stream, by hand | 13 |
//! | `chromium` | the page and reload.js in a real, headless Chromium | 13 |
//! | `surroundings` | hostile names, a closed, full or stalled console, a raced socket path | 1, 2, 4, 9 |
//! | `tasks_and_ci` | the cargo aliases and the CI workflow | 11 |
//! | `grader` | the grader: passes this crate's programs, fails broken ones, grades 27 students' submissions as their `expected.txt` says | 7 |
//! | `conventions` | the crate's own conventions: each type name defined once | — |
//! | `chapters` | the course: excerpts, Rust blocks, transcripts, commands | all |
//! | `transcripts` | the chapters' transcripts, run for real | 1–5 |
//!
//! Shared fixtures and helpers live in `support`; no test file defines its
//! own.

mod support;

mod binaries;
mod browser;
mod chapters;
mod chat;
mod chromium;
mod client_output;
mod conventions;
mod exercises;
mod fake_service;
mod grader;
mod ldj_client;
mod message_protocol;
mod net_watcher_server;
mod notifier;
mod relay;
mod steps;
mod surroundings;
mod tasks_and_ci;
mod transcripts;
mod unix_socket;
mod watching;
