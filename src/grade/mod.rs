//! Grading a práctica: the behaviours of the práctica's programs, written
//! once, run against any implementation in any language. (Chapter 7,
//! "Grading a práctica".)
//!
//! A [`Subject`] is the program under test: a command line, such as
//! `node net-watcher.js {file}` or this crate's own `net-watcher {file}
//! --port {port}`, in a [`Role`]. Each [`Behaviour`] starts the program
//! itself (a fresh temporary file each time), talks to it over a socket as
//! a subscriber or a server would, and returns a [`Verdict`]: a pass, a
//! [`Failure`] that says what was expected and what came, or "not run"
//! with the reason. Each behaviour has a stable id and judges only what
//! its title names. [`grade`] runs every behaviour that applies and
//! gathers a [`Report`]; [`grade_many`] does it for many programs at once,
//! within one budget of parallel slots.
//!
//! The same behaviours serve two callers: the `net-watcher-grade` binary,
//! which grades whatever command it is given (or a folder of
//! submissions), and the spec suite (`tests/spec/grader.rs`), which grades
//! this crate's binaries, the step examples, programs broken on purpose
//! and 27 students' submissions in Node and Python. A behaviour added here
//! is run by both.
//!
//! | module | owns |
//! |---|---|
//! | [`net`] | addresses, connections, the ports the grader hands out |
//! | [`wire`] | what a line means, and whether it has the práctica's shape (no sockets) |
//! | [`subscriber`] | one connection to the program, read line by line with deadlines |
//! | [`process`] | a started program: its output, its exit, its stop |
//! | [`reaper`] | everything started and made, ended on SIGINT, SIGTERM or SIGHUP |
//! | [`isolation`] | a private network for a program that ignores `PORT`, or a lock |
//! | [`subject`] | starting the program under test: placeholders, readiness, what is learned |
//! | [`edits`] | the ways the grader changes the watched file: touch, append, saves |
//! | [`verdict`] | verdicts, outcomes, reports, and the exit code they come to |
//! | [`report`] | printing a report: Mocha-style, Exercism's `results.json`, JUnit XML |
//! | [`schedule`] | running behaviours of many programs within one budget of slots |
//! | [`folder`] | a folder of submissions: their commands, their reports, a summary and a CSV |
//! | `server_steps` | the práctica's server behaviours (steps 1 to 3) |
//! | `robustness` | behaviours beyond the práctica |
//! | `client_steps` | the client's behaviours (steps 4 to 6 and the exercises) |
//! | `service_steps` | the fake service's behaviours (step 5) |
//!
//! The grader judges only what goes over the socket: what a server prints
//! on its console is not graded, and the shapes it expects are written here
//! from the book, not taken from this crate's `protocol` module, so that a
//! mistake there cannot hide itself by agreeing with the grader.

mod client_steps;
pub mod edits;
#[cfg(test)]
mod fakes;
pub mod folder;
pub mod isolation;
pub mod net;
pub mod process;
pub mod reaper;
pub mod report;
mod robustness;
pub mod schedule;
mod server_steps;
mod service_steps;
pub mod subject;
pub mod subscriber;
pub mod verdict;
pub mod wire;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use net::Transport;
pub use report::Format;
pub use schedule::grade_many;
pub use subject::Subject;
pub use verdict::{Failure, Outcome, Report, Standing, Stop, Verdict};

use crate::protocol::Protocol;

/// What the command under test is: a server (in one protocol, on one kind
/// of socket), a client of the JSON protocol, or step 5's fake service.
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
    /// The fake service of step 5, which sends each subscriber one
    /// `changed` message in two parts.
    Service {
        /// Where it listens.
        transport: Transport,
    },
}

impl Role {
    /// The transport, whichever the role.
    pub fn transport(self) -> Transport {
        match self {
            Role::Server { transport, .. }
            | Role::Client { transport }
            | Role::Service { transport } => transport,
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
            Role::Service { transport } => write!(f, "a fake service (step 5) on {transport}"),
        }
    }
}

/// How patient the grader is, and where it works. The defaults suit a
/// student's laptop and a loaded 2-core CI machine alike: a passing
/// program never waits for any of these, only a failing one does.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a program may take to start listening (or, for a client,
    /// to connect).
    pub start_timeout: Duration,
    /// How long the grader waits for something it expects: a greeting, a
    /// notification, a client's output, a process's exit.
    pub patience: Duration,
    /// How long the grader listens to be sure that nothing more arrives
    /// (one notification, not two); also how long a subscriber waits for a
    /// greeting from a program that has been seen not to greet.
    pub quiet: Duration,
    /// The pause after a subscriber is greeted or leaves, before the grader
    /// changes the file. The práctica does not promise that the watch is in
    /// place when the greeting is sent (the book's server greets first and
    /// places it after), so the práctica's behaviours give it this moment.
    pub grace: Duration,
    /// How many behaviours run at once, each with its own server, when
    /// [`grade`] grades one program.
    pub jobs: usize,
    /// Whether a program that ignores `PORT` runs in a network namespace
    /// of its own, where the machine allows it (see `isolation`); if not,
    /// under a lock, while nothing else holds the book's address.
    pub isolate: bool,
    /// Where the grader makes its temporary directory.
    pub temp_root: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            start_timeout: Duration::from_secs(10),
            patience: Duration::from_secs(5),
            quiet: Duration::from_millis(300),
            grace: Duration::from_millis(100),
            jobs: 4,
            isolate: true,
            temp_root: std::env::temp_dir(),
        }
    }
}

/// One behaviour being run: the subject, and what the grader notices that
/// is not a failure.
#[derive(Debug)]
pub struct Trial<'s> {
    /// The program under test.
    pub subject: &'s Subject,
    notes: Vec<String>,
    slowest: Duration,
}

/// How long a notification may take before the report says how long.
const SLOW: Duration = Duration::from_secs(1);

impl<'s> Trial<'s> {
    /// A trial of `subject`, with nothing noticed yet.
    pub fn new(subject: &'s Subject) -> Self {
        Trial {
            subject,
            notes: Vec::new(),
            slowest: Duration::ZERO,
        }
    }

    /// Notes `note`, once.
    pub fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Notes that a notification came `took` after the change.
    pub fn clocked(&mut self, took: Duration) {
        self.slowest = self.slowest.max(took);
    }

    /// What was noticed, with how long notifications took if any took
    /// over a second.
    pub fn into_notes(mut self) -> Vec<String> {
        if self.slowest > SLOW {
            let slowest = self.slowest.as_secs_f64();
            self.notes.push(format!(
                "notifications took up to {slowest:.1} s after the change"
            ));
        }
        self.notes
    }
}

/// What a behaviour's check returns.
pub type Checked = Result<(), Stop>;

/// One behaviour of the práctica's programs, as a student reads it.
#[derive(Clone, Copy)]
pub struct Behaviour {
    /// Its stable id, the same in every report and release.
    pub id: &'static str,
    /// The group it is reported in (a Mocha `describe`).
    pub group: &'static str,
    /// What a correct program does, in the present tense (a Mocha `it`).
    pub name: &'static str,
    /// Whether it is one of the práctica's steps.
    pub practica: bool,
    check: fn(&mut Trial) -> Checked,
    /// Whether it goes on for seconds whatever the program does (as
    /// `robustness`'s silent subscriber does): such a behaviour is started
    /// before the others, so that a grading does not wait for it at the
    /// end. The report keeps the order of the list.
    pub long: bool,
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}: {})", self.id, self.group, self.name)
    }
}

impl Behaviour {
    /// Runs this behaviour against `subject`. A panic inside the check (a
    /// bug in the grader, not in the program) is reported as the grader's
    /// own failure rather than taking the whole run down.
    pub fn run(&self, subject: &Subject) -> Outcome {
        let began = Instant::now();
        let mut trial = Trial::new(subject);
        let checked = panic::catch_unwind(AssertUnwindSafe(|| (self.check)(&mut trial)))
            .unwrap_or_else(|cause| {
                let cause = cause
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                Err(Stop::NotRun(format!("the grader itself failed: {cause}")))
            });
        Outcome {
            id: self.id,
            group: self.group,
            name: self.name,
            practica: self.practica,
            verdict: checked.into(),
            took: began.elapsed(),
            notes: trial.into_notes(),
        }
    }

    /// This behaviour's outcome when it is not run: `verdict` says why
    /// (the grader was interrupted, the start failed, no namespace).
    pub fn outcome_without_running(&self, verdict: Verdict) -> Outcome {
        Outcome {
            id: self.id,
            group: self.group,
            name: self.name,
            practica: self.practica,
            verdict,
            took: Duration::ZERO,
            notes: Vec::new(),
        }
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
        Role::Service { .. } => service_steps::behaviours(),
    }
}

/// Runs every behaviour for `subject`'s role and reports.
pub fn grade(subject: &Subject) -> Report {
    grade_only(subject, &behaviours(subject.role()))
}

/// Runs `chosen` against `subject` and reports, in the order given, up to
/// the settings' `jobs` at a time.
pub fn grade_only(subject: &Subject, chosen: &[Behaviour]) -> Report {
    let jobs = subject.settings().jobs;
    schedule::grade_many(&[(subject, chosen.to_vec())], jobs, |_, _| {})
        .pop()
        .expect("one report per subject")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_behaviour_has_an_id_of_its_own() {
        for role in [
            Role::Server {
                protocol: Protocol::Text,
                transport: Transport::Tcp,
            },
            Role::Server {
                protocol: Protocol::Json,
                transport: Transport::Unix,
            },
            Role::Client {
                transport: Transport::Tcp,
            },
            Role::Service {
                transport: Transport::Tcp,
            },
        ] {
            let all = behaviours(role);
            let mut ids: Vec<&str> = all.iter().map(|behaviour| behaviour.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), all.len(), "{role}: {all:?}");
            assert!(all[0].practica, "{role}: the first behaviour is a step's");
            if let Role::Server { .. } = role {
                assert!(
                    all.iter().all(|b| b.practica == (b.group != BEYOND)),
                    "{role}"
                );
            }
        }
    }

    #[test]
    fn the_behaviours_of_each_role_are_the_práctica_then_beyond() {
        let ids = |role| behaviours(role).iter().map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(
            ids(Role::Server {
                protocol: Protocol::Text,
                transport: Transport::Tcp
            }),
            [
                "greeting",
                "change-line",
                "several",
                "departure",
                "atomic-save",
                "sed-in-place",
                "copy-over",
                "flood",
                "silent-subscriber",
                "hang-ups",
                "second-server",
                "missing-file"
            ]
        );
        assert_eq!(
            ids(Role::Server {
                protocol: Protocol::Json,
                transport: Transport::Unix
            }),
            [
                "greeting",
                "change-message",
                "one-object-per-line",
                "several",
                "departure",
                "atomic-save",
                "sed-in-place",
                "copy-over",
                "flood",
                "silent-subscriber",
                "hang-ups",
                "second-server",
                "missing-file",
                "stale-socket"
            ]
        );
        assert_eq!(
            ids(Role::Service {
                transport: Transport::Tcp
            }),
            [
                "service-split",
                "service-message",
                "service-every-subscriber"
            ]
        );
        assert_eq!(
            ids(Role::Client {
                transport: Transport::Tcp
            })
            .len(),
            6
        );
    }

    #[test]
    fn roles_say_what_they_are() {
        assert_eq!(
            Role::Server {
                protocol: Protocol::Json,
                transport: Transport::Unix
            }
            .to_string(),
            "a server speaking line-delimited JSON on a Unix socket"
        );
        assert_eq!(
            Role::Server {
                protocol: Protocol::Text,
                transport: Transport::Tcp
            }
            .to_string(),
            "a server speaking plain text on TCP"
        );
        assert_eq!(
            Role::Client {
                transport: Transport::Tcp
            }
            .to_string(),
            "a client of an LDJ server on TCP"
        );
        assert_eq!(
            Role::Service {
                transport: Transport::Tcp
            }
            .to_string(),
            "a fake service (step 5) on TCP"
        );
        assert_eq!(
            Role::Service {
                transport: Transport::Unix
            }
            .transport(),
            Transport::Unix
        );
    }

    #[test]
    fn a_trial_notes_once_and_says_when_notifications_were_slow() {
        let subject = Subject::new(
            vec!["x".into()],
            Role::Client {
                transport: Transport::Tcp,
            },
            Settings::default(),
        );
        let mut trial = Trial::new(&subject);
        trial.note("a".into());
        trial.note("a".into());
        trial.clocked(Duration::from_millis(900));
        trial.clocked(Duration::from_millis(1000));
        assert_eq!(trial.into_notes(), ["a"]);
        let mut slow = Trial::new(&subject);
        slow.clocked(Duration::from_millis(1560));
        slow.clocked(Duration::from_millis(1200));
        assert_eq!(
            slow.into_notes(),
            ["notifications took up to 1.6 s after the change"]
        );
    }

    #[test]
    fn a_panic_in_a_check_is_the_graders_own_and_not_run() {
        fn panics(_: &mut Trial) -> Checked {
            panic!("a bug")
        }
        let behaviour = Behaviour {
            id: "x",
            group: "g",
            name: "n",
            practica: true,
            check: panics,
            long: false,
        };
        let subject = Subject::new(
            vec!["x".into()],
            Role::Client {
                transport: Transport::Tcp,
            },
            Settings::default(),
        );
        let outcome = behaviour.run(&subject);
        assert_eq!(
            outcome.verdict,
            Verdict::NotRun("the grader itself failed: a bug".into())
        );
        assert_eq!(
            (outcome.id, outcome.group, outcome.name, outcome.practica),
            ("x", "g", "n", true)
        );
        assert_eq!(format!("{behaviour:?}"), "x (g: n)");
    }
}
