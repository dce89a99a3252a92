//! Grading a práctica: the behaviours of the práctica's programs, written
//! once, run against any implementation in any language. (Chapter 7,
//! "Grading a práctica".)
//!
//! A [`Subject`] is the program under test: a command line, such as
//! `node net-watcher.js {file}` or this crate's own `net-watcher {file}
//! --port {port}`. Each [`Behaviour`] starts the program itself (a fresh
//! temporary file each time), talks to it over a socket as a subscriber
//! or a server would, and returns a [`Verdict`]: a pass, or a [`Failure`]
//! that says what was expected and what came. [`grade`] runs every
//! behaviour that applies and gathers a [`Report`], printed Mocha-style.
//!
//! The same behaviours serve two callers: the `net-watcher-grade` binary,
//! which grades whatever command it is given, and the spec suite
//! (`tests/spec/grader.rs`), which grades this crate's binaries and the
//! step examples with them, and checks that the grader fails programs that
//! are broken on purpose. A behaviour added here is run by both.
//!
//! | module | owns |
//! |---|---|
//! | [`subject`] | starting the program under test: placeholders, ports, readiness, stopping |
//! | [`subscriber`] | one connection to it, read line by line with deadlines |
//! | [`edits`] | the ways the grader changes the watched file: touch, append, saves |
//! | [`report`] | the Mocha-style report |
//! | `server_steps` | the práctica's server behaviours (steps 1 to 3) |
//! | `robustness` | behaviours beyond the práctica |
//! | `client_steps` | the client's behaviours (steps 4 to 6 and the exercises) |
//!
//! The grader judges only what goes over the socket: what a server prints
//! on its console is not graded, and the shapes it expects are written here
//! from the book, not taken from this crate's `protocol` module, so that a
//! mistake there cannot hide itself by agreeing with the grader.

mod client_steps;
pub mod edits;
pub mod report;
mod robustness;
mod server_steps;
pub mod subject;
pub mod subscriber;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use report::{Outcome, Report};
pub use subject::{Subject, Transport};

use crate::lock::lock;
use crate::protocol::Protocol;

/// What the command under test is: a server (in one protocol, on one kind
/// of socket), or a client of the JSON protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A watching server, as in steps 1 to 3.
    Server {
        /// What it speaks: plain text (step 1) or LDJ (step 3).
        protocol: Protocol,
        /// Where it listens: TCP (step 1) or a Unix socket (step 2).
        transport: Transport,
    },
    /// A client of an LDJ server, as in steps 4 to 6.
    Client {
        /// Where it connects.
        transport: Transport,
    },
}

impl Role {
    /// The transport, whichever the role.
    pub fn transport(self) -> Transport {
        match self {
            Role::Server { transport, .. } | Role::Client { transport } => transport,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Server {
                protocol,
                transport,
            } => {
                let protocol = match protocol {
                    Protocol::Text => "plain text",
                    Protocol::Json => "line-delimited JSON",
                };
                write!(f, "a server speaking {protocol} on {transport}")
            }
            Role::Client { transport } => write!(f, "a client of an LDJ server on {transport}"),
        }
    }
}

/// How patient the grader is. The defaults suit a student's laptop and a
/// loaded 2-core CI machine alike: a passing program never waits for any of
/// these, only a failing one does.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a program may take to start listening (or, for a client,
    /// to connect).
    pub start_timeout: Duration,
    /// How long the grader waits for something it expects: a greeting, a
    /// notification, a client's output, a process's exit.
    pub patience: Duration,
    /// How long the grader listens to be sure that nothing more arrives
    /// (one notification, not two).
    pub quiet: Duration,
    /// The pause after a subscriber is greeted or leaves, before the grader
    /// changes the file. The práctica does not promise that the watch is in
    /// place when the greeting is sent (the book's server greets first and
    /// places it after), so the práctica's behaviours give it this moment.
    pub grace: Duration,
    /// How many behaviours run at once, each with its own server. Only
    /// used when each server can be given its own address.
    pub jobs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            start_timeout: Duration::from_secs(10),
            patience: Duration::from_secs(5),
            quiet: Duration::from_millis(300),
            grace: Duration::from_millis(100),
            jobs: 4,
        }
    }
}

/// Why a behaviour failed: what the grader expected, and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What a correct program does, in a sentence.
    pub expected: String,
    /// What this one did.
    pub got: String,
}

impl Failure {
    /// A failure that expected `expected` and got `got`.
    pub fn new(expected: impl Into<String>, got: impl Into<String>) -> Self {
        Failure {
            expected: expected.into(),
            got: got.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}; got {}", self.expected, self.got)
    }
}

/// The result of one behaviour.
pub type Verdict = Result<(), Failure>;

/// One behaviour of the práctica's programs, as a student reads it.
#[derive(Clone, Copy)]
pub struct Behaviour {
    /// The group it is reported in (a Mocha `describe`).
    pub group: &'static str,
    /// What a correct program does, in the present tense (a Mocha `it`).
    pub name: &'static str,
    check: fn(&Subject) -> Verdict,
    /// Whether it goes on for seconds whatever the program does (as
    /// `robustness`'s silent subscriber does): such a behaviour is started
    /// before the others, so that a grading does not wait for it at the
    /// end. The report keeps the order of the list.
    long: bool,
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.group, self.name)
    }
}

impl Behaviour {
    /// Runs this behaviour against `subject`. A panic inside the check (a
    /// bug in the grader, not in the program) is reported as a failure
    /// rather than taking the whole run down.
    pub fn check(&self, subject: &Subject) -> Verdict {
        panic::catch_unwind(AssertUnwindSafe(|| (self.check)(subject))).unwrap_or_else(|cause| {
            let cause = cause
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(Failure::new(
                "the grader to finish this check",
                format!("the grader itself failed: {cause}"),
            ))
        })
    }
}

/// The group of behaviours that go beyond the práctica, reported apart.
pub const BEYOND: &str = "beyond the práctica";

/// Every behaviour that applies to a program in `role`, in report order.
pub fn behaviours(role: Role) -> Vec<Behaviour> {
    match role {
        Role::Server {
            protocol,
            transport,
        } => {
            let mut all = server_steps::behaviours(protocol, transport);
            all.extend(robustness::behaviours(transport));
            all
        }
        Role::Client { .. } => client_steps::behaviours(),
    }
}

/// Runs every behaviour for `subject`'s role and reports.
pub fn grade(subject: &Subject) -> Report {
    grade_only(subject, &behaviours(subject.role()))
}

/// Runs `chosen` against `subject` and reports, in the order given.
///
/// Behaviours run `jobs` at a time when every server can have its own
/// address. When the program listens on a fixed address instead (the
/// book's port 60300), they run one at a time.
pub fn grade_only(subject: &Subject, chosen: &[Behaviour]) -> Report {
    let started = Instant::now();
    let results: Vec<Mutex<Option<Outcome>>> = chosen.iter().map(|_| Mutex::new(None)).collect();
    let run = |index: usize| {
        let behaviour = chosen[index];
        let began = Instant::now();
        let verdict = behaviour.check(subject);
        *lock(&results[index]) = Some(Outcome {
            group: behaviour.group,
            name: behaviour.name,
            verdict,
            took: began.elapsed(),
        });
    };
    // After the first, the long behaviours start first (see
    // `Behaviour::long`), each list in its order.
    let mut order: Vec<usize> = (1..chosen.len()).collect();
    order.sort_by_key(|index| !chosen[*index].long);
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            run(*index);
        }
    };
    std::thread::scope(|scope| {
        if chosen.is_empty() {
            return;
        }
        // The first behaviour starts alone: it finds out whether the
        // program can be reached at all, and where a program without an
        // address placeholder listens. If it cannot be reached, the others
        // are not run: each would only wait out the same timeout to say
        // the same thing. Once it is reached, the first behaviour's thread
        // goes on to the others when it is done.
        scope.spawn(|| {
            run(0);
            subject.mark_first_behaviour_over();
            if subject.was_reached() {
                work();
            }
        });
        // The others start as soon as the program has been reached, not
        // when the first behaviour ends (which, for a failing program,
        // may be a whole patience later), if each server can have its own
        // address. On the book's address, one server at a time: the first
        // behaviour's thread does them all.
        if subject.wait_for_first_start() && subject.has_own_addresses() {
            for _ in 1..subject.settings().jobs.max(1) {
                scope.spawn(work);
            }
        }
    });
    if !subject.was_reached() {
        for (index, behaviour) in chosen.iter().enumerate().skip(1) {
            *lock(&results[index]) = Some(Outcome {
                group: behaviour.group,
                name: behaviour.name,
                verdict: Err(Failure::new(
                    "the program to be reached, as in the first behaviour",
                    "not run: the first behaviour could not reach it (see failure 1)",
                )),
                took: Duration::ZERO,
            });
        }
    }
    Report {
        title: format!("{} ({})", subject.command_line(), subject.role()),
        outcomes: results
            .into_iter()
            .map(|slot| lock(&slot).take().expect("every behaviour ran"))
            .collect(),
        took: started.elapsed(),
    }
}
