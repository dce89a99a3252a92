//! describe: the grader (`net_watcher::grade` and `net-watcher-grade`).
//!
//! A grader is only worth its reports if it passes programs that are right
//! and fails programs that are wrong, for the right reason, and only in
//! the behaviour that owns the mistake. This crate's programs pass every
//! behaviour; programs broken on purpose (`tests/fixtures/broken-server.rs`)
//! each fail the behaviour they break; 27 students' submissions in Node
//! and Python (`tests/fixtures/submissions/`) each get the verdict written
//! down in their `expected.txt`. After every grading, no program it
//! started is still running and its temporary directory is gone. The
//! book's Node programs are graded for real in `transcripts::chapter_7_…`.
//!
//! Every grading these specs inspect is listed once, in [`gradings`], and
//! they all run at the same time, once, the first time a spec asks for a
//! report (Mocha's `before`, for the whole file): a grading spends its time
//! waiting (for a server to answer, or to be sure that nothing more comes),
//! so many of them at once take hardly longer than the slowest. Each spec
//! then reads the report it is about, so no program is graded twice for
//! two specs.
//!
//! Port 60300 is only ever bound by a program under test, and only in a
//! network namespace of its own or under the grader's lock on it: the
//! specs that take it "by something else" do so in a private namespace
//! too, so no spec races another test (or anything else on the machine)
//! for it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use net_watcher::grade::folder;
use net_watcher::grade::isolation;
use net_watcher::grade::{
    self, Behaviour, Failure, Report, Role, Settings, Standing, Subject, Transport, Verdict,
    behaviours,
};
use net_watcher::protocol::Protocol;
use rstest::rstest;
use tempfile::TempDir;

use crate::support::PATIENCE;
use crate::support::binary::bin;
use crate::support::broken::broken_server;
use crate::support::submissions::{
    expected, left_in, names, programs_left_running, submissions_dir,
};

const fn server(protocol: Protocol, transport: Transport) -> Role {
    Role::Server {
        protocol,
        transport,
    }
}

const TEXT_ON_TCP: Role = server(Protocol::Text, Transport::Tcp);
const JSON_ON_TCP: Role = server(Protocol::Json, Transport::Tcp);
const TEXT_ON_UNIX: Role = server(Protocol::Text, Transport::Unix);
const CLIENT: Role = Role::Client {
    transport: Transport::Tcp,
};

/// The grader's defaults, with the suite's patience, for every behaviour a
/// spec expects to pass: a correct program never waits for it, and a
/// loaded machine gets its full measure.
fn patient(temp_root: &Path) -> Settings {
    Settings {
        patience: PATIENCE,
        start_timeout: START_TIMEOUT,
        temp_root: temp_root.to_path_buf(),
        ..Settings::default()
    }
}

/// How long a program may take to start listening, in the specs: three
/// times the grader's default. A program that starts waits for none of
/// it, and one that never listens exits (the specs' broken programs do),
/// so this costs nothing; but `python3` took over 10 s to start while
/// .ci/run shared this 2-core machine at a load average of 30, and six
/// correct programs were failed as "did not start listening within 10 s".
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// For the behaviours a spec expects to fail by waiting for something that
/// never comes (a notification, a second line): the whole of this patience
/// is spent on each. It is still many times what the waits before that
/// one take (a greeting, a first notification): measured on this 2-core
/// machine under a load average of up to 22, the longest of half a million
/// such waits took 0.33 s. A behaviour a spec expects to fail for what it
/// receives, or because the program exits, is graded [`patient`]ly: it
/// never waits out the patience, so the full measure costs nothing.
fn brief(temp_root: &Path) -> Settings {
    Settings {
        patience: Duration::from_secs(2),
        start_timeout: START_TIMEOUT,
        temp_root: temp_root.to_path_buf(),
        ..Settings::default()
    }
}

/// `program` and its arguments, as words of a command.
fn command(program: &Path, args: &[&str]) -> Vec<String> {
    std::iter::once(program.to_string_lossy().into_owned())
        .chain(args.iter().map(|arg| (*arg).to_owned()))
        .collect()
}

/// The behaviour of `role` whose id is `id`.
fn named(role: Role, id: &str) -> Behaviour {
    behaviours(role)
        .into_iter()
        .find(|behaviour| behaviour.id == id)
        .unwrap_or_else(|| panic!("no behaviour of {role} has the id {id:?}"))
}

/// The failure of behaviour `id` in `report`; fails the test if it did
/// not fail.
fn failure_of<'r>(report: &'r Report, id: &str) -> &'r Failure {
    let outcome = report
        .outcome(id)
        .unwrap_or_else(|| panic!("no behaviour {id:?} ran:\n{}", grade::report::mocha(report)));
    match &outcome.verdict {
        Verdict::Fail(failure) => failure,
        other => panic!(
            "expected {id:?} to fail, but it is {other:?}:\n{}",
            grade::report::mocha(report)
        ),
    }
}

/// Fails the test, showing the report, unless behaviour `id` passed.
fn assert_passed(report: &Report, id: &str) {
    let outcome = report
        .outcome(id)
        .unwrap_or_else(|| panic!("no behaviour {id:?} ran:\n{}", grade::report::mocha(report)));
    assert!(
        outcome.verdict.passed(),
        "expected {id:?} to pass:\n{}",
        grade::report::mocha(report)
    );
}

/// A step example, as the grader starts it, and the behaviours it fails,
/// as measured: the step examples keep the book's design, weaknesses
/// included.
struct StepExample {
    /// Its name in `examples/`.
    name: &'static str,
    args: &'static [&'static str],
    role: Role,
    failing: &'static [&'static str],
    /// Those it fails by waiting out the patience (see [`brief`]): a
    /// touch after a save that ended the watch is never told.
    waiting_out: &'static [&'static str],
}

/// Servers read `PORT` (the grader finds that out); the clients are given
/// it through `env`, so that the fake server the grader runs for them never
/// takes the book's port.
const STEP_EXAMPLES: &[StepExample] = &[
    StepExample {
        name: "net-watcher",
        args: &["{file}"],
        role: TEXT_ON_TCP,
        failing: &["atomic-save", "sed-in-place", "flood", "missing-file"],
        waiting_out: &["atomic-save", "sed-in-place"],
    },
    StepExample {
        name: "net-watcher-unix",
        args: &["{file}", "{socket}"],
        role: TEXT_ON_UNIX,
        failing: &[
            "atomic-save",
            "sed-in-place",
            "flood",
            "missing-file",
            "stale-socket",
        ],
        waiting_out: &["atomic-save", "sed-in-place"],
    },
    StepExample {
        name: "net-watcher-json-service",
        args: &["{file}"],
        role: JSON_ON_TCP,
        failing: &["atomic-save", "sed-in-place", "flood", "missing-file"],
        waiting_out: &["atomic-save", "sed-in-place"],
    },
    StepExample {
        name: "net-watcher-json-client",
        args: &[],
        role: CLIENT,
        failing: &["client-split", "client-two-in-one-read", "client-not-json"],
        waiting_out: &[],
    },
    StepExample {
        name: "net-watcher-ldj-client",
        args: &[],
        role: CLIENT,
        failing: &["client-last-without-newline", "client-not-json"],
        waiting_out: &[],
    },
];

/// One grading that the specs inspect: a command graded in a role, on
/// all of the role's behaviours or on some.
struct Grading {
    /// What the specs call it.
    name: String,
    command: Vec<String>,
    role: Role,
    /// The behaviours graded, by id; all of the role's when empty.
    only: Vec<&'static str>,
    /// Those it is expected to fail by waiting out the patience: graded
    /// [`brief`]ly, the others [`patient`]ly, by two subjects at once.
    waiting_out: Vec<&'static str>,
    /// How long the programs graded briefly may take to start.
    start_timeout: Option<Duration>,
}

impl Grading {
    fn of(name: impl Into<String>, command: Vec<String>, role: Role) -> Self {
        Grading {
            name: name.into(),
            command,
            role,
            only: Vec::new(),
            waiting_out: Vec::new(),
            start_timeout: None,
        }
    }

    /// A program broken on purpose, of `kind`, with `extra` arguments. It
    /// is told its address through `env`, as a placeholder: a command
    /// without one may listen where the book's server does, and the
    /// grader would also wait for it there.
    fn broken(kind: &str, extra: &[&str], role: Role) -> Self {
        let address = match role.transport() {
            Transport::Tcp => "PORT={port}",
            Transport::Unix => "SOCKET={socket}",
        };
        let mut words = vec!["env".to_owned(), address.to_owned()];
        words.extend(command(broken_server(), &[kind]));
        words.extend(extra.iter().map(|arg| (*arg).to_owned()));
        words.push("{file}".to_owned());
        Grading::of(kind, words, role)
    }

    fn only(mut self, behaviours: &[&'static str]) -> Self {
        self.only = behaviours.to_vec();
        self
    }

    fn waiting_out(mut self, behaviours: &[&'static str]) -> Self {
        self.waiting_out = behaviours.to_vec();
        self
    }

    /// Every behaviour is graded with the [`brief`] settings.
    fn all_brief(mut self) -> Self {
        self.waiting_out = behaviours(self.role).iter().map(|b| b.id).collect();
        self
    }

    /// The program is given `timeout` to start listening, in the
    /// behaviours graded briefly.
    fn starting_within(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// Its parts: the behaviours to grade briefly and the others, each
    /// as a subject with its settings, all under `temp_root`.
    fn parts(&self, temp_root: &Path) -> Vec<(Subject, Vec<Behaviour>)> {
        let chosen: Vec<Behaviour> = if self.only.is_empty() {
            behaviours(self.role)
        } else {
            self.only.iter().map(|id| named(self.role, id)).collect()
        };
        let (briefly, patiently): (Vec<Behaviour>, Vec<Behaviour>) = chosen
            .iter()
            .partition(|behaviour| self.waiting_out.contains(&behaviour.id));
        let mut brief_settings = brief(temp_root);
        if let Some(timeout) = self.start_timeout {
            brief_settings.start_timeout = timeout;
        }
        [(patiently, patient(temp_root)), (briefly, brief_settings)]
            .into_iter()
            .filter(|(behaviours, _)| !behaviours.is_empty())
            .map(|(behaviours, settings)| {
                (
                    Subject::new(self.command.clone(), self.role, settings),
                    behaviours,
                )
            })
            .collect()
    }
}

/// One report from the reports of a grading's parts, in the role's order.
fn joined(role: Role, parts: &[Report]) -> Report {
    let order = behaviours(role);
    let mut outcomes: Vec<_> = parts
        .iter()
        .flat_map(|part| part.outcomes.clone())
        .collect();
    outcomes.sort_by_key(|outcome| order.iter().position(|b| b.id == outcome.id));
    Report {
        title: parts[0].title.clone(),
        outcomes,
        notes: parts.iter().flat_map(|part| part.notes.clone()).collect(),
        reached: parts.iter().all(|part| part.reached),
        took: parts.iter().map(|part| part.took).max().unwrap_or_default(),
    }
}

/// A report, and what its grading left behind, looked for once it was
/// over.
struct Graded {
    report: Report,
    left_running: Vec<String>,
    left_files: Vec<String>,
}

impl Graded {
    /// `report`, with what its grading (whose temporary directories were
    /// all under `temp_root`) left behind.
    fn checked(report: Report, temp_root: TempDir) -> Self {
        Graded {
            report,
            left_running: programs_left_running(temp_root.path()),
            left_files: left_in(temp_root.path()),
        }
    }
}

/// A run of `net-watcher-grade` the specs inspect.
struct Run {
    name: &'static str,
    args: Vec<String>,
}

/// Every grading the specs inspect, by name.
fn gradings() -> Vec<Grading> {
    let net_watcher = |protocol: Protocol, transport: Transport| {
        let mut args = vec!["{file}"];
        args.extend(match transport {
            Transport::Tcp => ["--port", "{port}"],
            Transport::Unix => ["--unix", "{socket}"],
        });
        if protocol == Protocol::Json {
            args.push("--json");
        }
        let role = server(protocol, transport);
        Grading::of(
            format!("net-watcher, {role}"),
            command(&bin("net-watcher"), &args),
            role,
        )
    };
    let mut all = vec![
        net_watcher(Protocol::Text, Transport::Tcp),
        net_watcher(Protocol::Json, Transport::Tcp),
        net_watcher(Protocol::Text, Transport::Unix),
        net_watcher(Protocol::Json, Transport::Unix),
        Grading::of(
            "net-watcher-client",
            command(&bin("net-watcher-client"), &["--port", "{port}"]),
            CLIENT,
        ),
        Grading::of(
            "test-json-service",
            command(&bin("test-json-service"), &["--port", "{port}"]),
            Role::Service {
                transport: Transport::Tcp,
            },
        ),
        Grading::broken("never-sends", &[], TEXT_ON_TCP)
            .only(&["greeting", "change-line", "missing-file"])
            .waiting_out(&["change-line", "missing-file"]),
        Grading::broken("splits-json", &["--json"], JSON_ON_TCP).only(&[
            "greeting",
            "one-object-per-line",
            "change-message",
        ]),
        Grading::broken("greets-late", &[], TEXT_ON_TCP).only(&["greeting", "change-line"]),
        Grading::broken("crashes-on-second", &[], TEXT_ON_TCP).only(&["greeting", "several"]),
        Grading::broken("never-quiet", &["--json"], JSON_ON_TCP).only(&[
            "greeting",
            "change-message",
            "flood",
        ]),
        Grading::broken("hangs-up-on-change", &[], TEXT_ON_TCP).only(&["atomic-save"]),
        Grading::broken("never-listens", &[], TEXT_ON_TCP)
            .all_brief()
            .starting_within(Duration::from_secs(1)),
        Grading::broken("no-such-kind", &[], TEXT_ON_TCP).only(&["greeting"]),
        // On a Unix socket: a few dozen unread lines fill it, where TCP on
        // the loopback interface buffers a megabyte (see the behaviour's
        // docs).
        Grading::broken("blocks-on-silent", &["--unix"], TEXT_ON_UNIX)
            .only(&["greeting", "silent-subscriber"])
            .waiting_out(&["silent-subscriber"]),
        Grading::of(
            "naive-client",
            command(broken_server(), &["naive-client", "{port}"]),
            CLIENT,
        ),
    ];
    for example in STEP_EXAMPLES {
        let program = bin(&format!("examples/{}", example.name));
        let words = match example.role {
            Role::Client { .. } => {
                let mut words = vec!["env".to_owned(), "PORT={port}".to_owned()];
                words.extend(command(&program, example.args));
                words
            }
            _ => command(&program, example.args),
        };
        all.push(
            Grading::of(format!("examples/{}", example.name), words, example.role)
                .waiting_out(example.waiting_out),
        );
    }
    all
}

/// How many behaviours of the in-process gradings run at once: the suite
/// runs other tests beside them, on two cores, and a Node program costs a
/// fair share of one to start.
const BUDGET: usize = 12;

/// Whose a subject is: a grading of [`gradings`], or a submission.
#[derive(Clone, Copy)]
enum Owner {
    Grading(usize),
    Submission(usize),
}

/// Grades, within one budget of slots, every part of every grading of
/// [`gradings`] and every submission in `tests/fixtures/submissions` (as
/// `net-watcher-grade --folder` does: each in its folder, with its
/// `grade.args`, with the grader's own settings but a longer start
/// timeout); returns the gradings'
/// and the submissions' reports by name, each with what it left behind.
fn grade_in_process() -> (BTreeMap<String, Graded>, BTreeMap<String, Graded>) {
    let gradings = gradings();
    let roots: Vec<TempDir> = gradings
        .iter()
        .map(|_| TempDir::new().expect("a temporary directory"))
        .collect();
    let submissions_root = TempDir::new().expect("a temporary directory");
    let submissions = folder::submissions(&submissions_dir(), None).expect("the submissions");
    let mut subjects: Vec<(Owner, Subject, Vec<Behaviour>)> = Vec::new();
    for (index, (grading, root)) in gradings.iter().zip(&roots).enumerate() {
        for (subject, behaviours) in grading.parts(root.path()) {
            subjects.push((Owner::Grading(index), subject, behaviours));
        }
    }
    // The grader's own settings, but the suite's start timeout: on this
    // machine under .ci/run's load, python3 took over the default 10 s to
    // start, and a dozen correct submissions failed at once as "did not
    // start listening within 10 s" (see [`START_TIMEOUT`]).
    let settings = Settings {
        temp_root: submissions_root.path().to_path_buf(),
        start_timeout: START_TIMEOUT,
        ..Settings::default()
    };
    for (index, submission) in submissions.iter().enumerate() {
        let (role, command) = submission
            .command
            .clone()
            .unwrap_or_else(|problem| panic!("{}: {problem}", submission.name));
        let subject = Subject::new(command, role, settings.clone()).in_dir(&submission.dir);
        subjects.push((Owner::Submission(index), subject, behaviours(role)));
    }
    let work: Vec<(&Subject, Vec<Behaviour>)> = subjects
        .iter()
        .map(|(_, subject, behaviours)| (subject, behaviours.clone()))
        .collect();
    let reports = grade::grade_many(&work, BUDGET, |_, _| {});
    drop(work);
    let owners: Vec<Owner> = subjects.iter().map(|(owner, _, _)| *owner).collect();
    drop(subjects);
    let mut graded = BTreeMap::new();
    for (index, (grading, root)) in gradings.iter().zip(roots).enumerate() {
        let parts: Vec<Report> = owners
            .iter()
            .zip(&reports)
            .filter(|(owner, _)| matches!(owner, Owner::Grading(of) if *of == index))
            .map(|(_, report)| report.clone())
            .collect();
        graded.insert(
            grading.name.clone(),
            Graded::checked(joined(grading.role, &parts), root),
        );
    }
    let left_running = programs_left_running(submissions_root.path());
    let left_files = left_in(submissions_root.path());
    let mut by_submission = BTreeMap::new();
    for (owner, report) in owners.iter().zip(reports) {
        if let Owner::Submission(index) = owner {
            by_submission.insert(
                submissions[*index].name.clone(),
                Graded {
                    report,
                    left_running: left_running.clone(),
                    left_files: left_files.clone(),
                },
            );
        }
    }
    (graded, by_submission)
}

/// Where port 60300 is, for the gradings of a program that ignores
/// `PORT`: taken by something else or free, and whether the grader may
/// use a network namespace of its own.
#[derive(Debug, Clone, Copy)]
struct PortCase {
    name: &'static str,
    taken: bool,
    isolate: bool,
}

const PORT_CASES: &[PortCase] = &[
    PortCase {
        name: "taken, in a namespace of its own",
        taken: true,
        isolate: true,
    },
    PortCase {
        name: "free, in a namespace of its own",
        taken: false,
        isolate: true,
    },
    PortCase {
        name: "taken, with no namespace",
        taken: true,
        isolate: false,
    },
    PortCase {
        name: "free, with no namespace",
        taken: false,
        isolate: false,
    },
];

/// Grades `python-ignores-port` from a thread in a private network
/// namespace (so that the port 60300 it takes, or leaves free, is its
/// own), in `case`. `None` where the machine allows no such namespace.
fn grade_ignoring_port(case: PortCase) -> Option<Graded> {
    if !isolation::private_networks_work() {
        return None;
    }
    thread::spawn(move || {
        isolation::enter_private_network().expect("a private network");
        // Something else, in this namespace, holds the book's port. The
        // one place test code binds 60300: on this thread, once it is in
        // the private network namespace entered above, where nothing else
        // on the machine sees the port or can hold it (every other test
        // binds port 0).
        let _squatter = case.taken.then(|| {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 60300))
                .expect("port 60300 in a private network")
        });
        let temp_root = TempDir::new().expect("a temporary directory");
        let settings = Settings {
            isolate: case.isolate,
            temp_root: temp_root.path().to_path_buf(),
            // Beside the suite's other gradings (see [`BUDGET`]).
            jobs: 2,
            // It passes every behaviour: the patient settings (see
            // [`patient`]).
            patience: PATIENCE,
            start_timeout: START_TIMEOUT,
            ..Settings::default()
        };
        let dir = submissions_dir().join("python-ignores-port");
        let (role, command) = folder::parse_args(
            std::fs::read_to_string(dir.join(folder::ARGS_FILE))
                .expect("its grade.args")
                .trim(),
        )
        .expect("its command");
        let subject = Subject::new(command, role, settings).in_dir(dir);
        let report = grade::grade(&subject);
        drop(subject);
        Graded::checked(report, temp_root)
    })
    .join()
    .ok()
}

/// Every run of `net-watcher-grade` the specs inspect.
fn runs() -> Vec<Run> {
    let words = |words: &[&str]| words.iter().map(|word| (*word).to_owned()).collect();
    let submission = |name: &str| submissions_dir().join(name).to_string_lossy().into_owned();
    vec![
        Run {
            name: "net-watcher-client, as one line",
            args: vec![
                "--client".to_owned(),
                format!("{} --port {{port}}", bin("net-watcher-client").display()),
            ],
        },
        Run {
            name: "naive-client",
            args: words(&[
                "--client",
                "--",
                &broken_server().to_string_lossy(),
                "naive-client",
                "{port}",
            ]),
        },
        Run {
            name: "a server whose práctica passes, as JSON",
            args: words(&[
                "--format",
                "json",
                "--",
                "node",
                &format!("{}/server.js", submission("node-correct-text")),
            ]),
        },
        Run {
            name: "a server that fails a step, as JUnit",
            args: words(&[
                "--format",
                "junit",
                "--",
                "python3",
                &format!("{}/server.py", submission("python-bare-number")),
            ]),
        },
        Run {
            name: "a server that does not start",
            args: words(&[
                "--",
                "python3",
                &format!("{}/server.py", submission("python-syntax-error")),
            ]),
        },
    ]
}

/// What one grading or run came to, and its name.
enum Finished {
    InProcess(BTreeMap<String, Graded>, BTreeMap<String, Graded>),
    IgnoringPort(&'static str, Option<Graded>),
    Ran(&'static str, Output),
}

/// What came of every grading and run, by name.
#[derive(Default)]
struct Done {
    gradings: BTreeMap<String, Graded>,
    submissions: BTreeMap<String, Graded>,
    ignoring_port: BTreeMap<&'static str, Option<Graded>>,
    outputs: BTreeMap<&'static str, Output>,
}

/// How long the gradings may take, all together, before the ones still
/// running are taken to hang: far more than the slowest takes, so that
/// only a grader that hangs is caught by it.
const HANG: Duration = Duration::from_secs(240);

/// Everything [`gradings`] and [`runs`] list, the submissions and the
/// port cases, each done once, all at the same time, on the first call
/// (the in-process gradings within one [`BUDGET`]). A grading that hangs
/// is missing, and only its spec fails.
fn done() -> &'static Done {
    static DONE: OnceLock<Done> = OnceLock::new();
    DONE.get_or_init(|| {
        let (finished, results) = mpsc::channel();
        let mut work: Vec<Box<dyn FnOnce() -> Finished + Send>> = Vec::new();
        work.push(Box::new(|| {
            let (gradings, submissions) = grade_in_process();
            Finished::InProcess(gradings, submissions)
        }));
        for case in PORT_CASES {
            work.push(Box::new(move || {
                Finished::IgnoringPort(case.name, grade_ignoring_port(*case))
            }));
        }
        for run in runs() {
            work.push(Box::new(move || {
                let output = std::process::Command::new(bin("net-watcher-grade"))
                    .args(["--jobs", "2", "--start-timeout", "30"])
                    .args(&run.args)
                    .output()
                    .expect("net-watcher-grade runs");
                Finished::Ran(run.name, output)
            }));
        }
        for job in work {
            let finished = finished.clone();
            thread::spawn(move || {
                let _ = finished.send(job());
            });
        }
        drop(finished);
        let deadline = Instant::now() + HANG;
        let mut done = Done::default();
        while let Ok(result) =
            results.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            match result {
                Finished::InProcess(gradings, submissions) => {
                    done.gradings = gradings;
                    done.submissions = submissions;
                }
                Finished::IgnoringPort(name, graded) => {
                    done.ignoring_port.insert(name, graded);
                }
                Finished::Ran(name, output) => {
                    done.outputs.insert(name, output);
                }
            }
        }
        done
    })
}

/// The report of the grading called `name` in [`gradings`].
fn graded(name: &str) -> &'static Report {
    &graded_with_leftovers(name).report
}

/// The grading called `name` in [`gradings`], with what it left behind.
fn graded_with_leftovers(name: &str) -> &'static Graded {
    done()
        .gradings
        .get(name)
        .unwrap_or_else(|| panic!("the grading {name:?} did not return within {HANG:?}"))
}

/// What `net-watcher-grade` printed on the run called `name` in [`runs`].
fn ran(name: &str) -> &'static Output {
    done().outputs.get(name).unwrap_or_else(|| {
        panic!("net-watcher-grade, run for {name:?}, did not return within {HANG:?}")
    })
}

mod passes_this_crates_programs {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[case::plain_text_on_tcp(Protocol::Text, Transport::Tcp)]
    #[case::json_on_tcp(Protocol::Json, Transport::Tcp)]
    #[case::plain_text_on_a_unix_socket(Protocol::Text, Transport::Unix)]
    #[case::json_on_a_unix_socket(Protocol::Json, Transport::Unix)]
    fn net_watcher_on_every_behaviour(#[case] protocol: Protocol, #[case] transport: Transport) {
        let role = server(protocol, transport);
        let report = graded(&format!("net-watcher, {role}"));
        assert!(report.passed(), "{}", grade::report::mocha(report));
        assert_eq!(report.outcomes.len(), behaviours(role).len());
        assert_eq!(report.notes, Vec::<String>::new());
    }

    #[test]
    fn net_watcher_client_on_every_behaviour() {
        let report = graded("net-watcher-client");
        assert!(report.passed(), "{}", grade::report::mocha(report));
        assert_eq!(report.outcomes.len(), behaviours(CLIENT).len());
    }

    #[test]
    fn test_json_service_on_every_behaviour() {
        let report = graded("test-json-service");
        assert!(report.passed(), "{}", grade::report::mocha(report));
        assert_eq!(report.outcomes.len(), 3);
    }
}

/// The step examples keep the book's design, weaknesses included: graded,
/// they pass the práctica's behaviours and fail, beyond it, where the
/// book's programs do (see chapter 7's run against the book's Node
/// programs). [`STEP_EXAMPLES`] states the behaviours each fails.
mod grades_the_step_examples {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[case::step_1("net-watcher")]
    #[case::step_2("net-watcher-unix")]
    #[case::step_3("net-watcher-json-service")]
    #[case::step_4_client("net-watcher-json-client")]
    #[case::step_6_client("net-watcher-ldj-client")]
    fn failing_only_beyond_their_step(#[case] name: &str) {
        let example = STEP_EXAMPLES
            .iter()
            .find(|example| example.name == name)
            .expect("the example is in STEP_EXAMPLES");
        let report = graded(&format!("examples/{name}"));
        assert_eq!(
            report.failed(),
            example.failing,
            "{}",
            grade::report::mocha(report)
        );
    }
}

mod fails_a_server_that {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn never_sends_the_change() {
        let report = graded("never-sends");
        assert_passed(report, "greeting");
        let failure = failure_of(report, "change-line");
        assert_eq!(
            failure.expected,
            "a line \"File changed: <date>\" after touch 1 of 3"
        );
        assert_eq!(failure.got, "nothing within 2 s");
    }

    /// A server that, once the file has changed, never stops sending:
    /// the grader used to listen to it for ever, waiting for a pause.
    #[test]
    fn never_goes_quiet_after_a_change() {
        let report = graded("never-quiet");
        assert_passed(report, "greeting");
        let failure = failure_of(report, "change-message");
        assert_eq!(
            failure.expected,
            "one line per touch, 3 in all, then nothing"
        );
        assert!(failure.got.contains(" more after the third: "), "{failure}");
        let failure = failure_of(report, "flood");
        let told: usize = failure
            .got
            .strip_suffix(" notifications")
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("{failure}"));
        assert!(told > 30, "{failure}");
    }

    /// A server that closes a subscriber's connection, and runs on: the
    /// report says it was still running, and what it said, so that it is
    /// told from one that crashed.
    #[test]
    fn hangs_up_on_a_subscriber_it_has_told_of_a_change() {
        let failure = failure_of(graded("hangs-up-on-change"), "atomic-save");
        assert_eq!(
            failure.got,
            "one notification for it, then, for a touch after it, the server closed the \
             connection; the server was still running; on stderr it said:\n  \
             | broken-server: told them once, and hung up on them"
        );
    }

    #[test]
    fn sends_the_json_change_split_across_two_lines() {
        let report = graded("splits-json");
        assert_passed(report, "greeting");
        let failure = failure_of(report, "one-object-per-line");
        assert_eq!(
            failure.expected,
            "the change as one JSON object on one line"
        );
        assert!(
            failure
                .got
                .starts_with("the line \"{\\\"type\\\":\\\"changed\\\",\", where it is not JSON"),
            "{failure}"
        );
        let failure = failure_of(report, "change-message");
        assert!(failure.got.contains("it is not JSON"), "{failure}");
    }

    #[test]
    fn greets_after_a_change_instead_of_before() {
        let report = graded("greets-late");
        let failure = failure_of(report, "greeting");
        assert!(failure.expected.starts_with("Now watching \""), "{failure}");
        assert!(failure.got.starts_with("\"File changed: "), "{failure}");
        let failure = failure_of(report, "change-line");
        assert!(failure.got.ends_with("before any touch"), "{failure}");
    }

    #[test]
    fn crashes_on_a_second_subscriber() {
        let report = graded("crashes-on-second");
        assert_passed(report, "greeting");
        let failure = failure_of(report, "several");
        assert!(
            failure
                .got
                .contains("the server had exited (exit status: 1)")
                && failure
                    .got
                    .contains("a second subscriber, and down it goes"),
            "{failure}"
        );
    }

    #[test]
    fn never_listens_with_a_timeout_not_a_hang() {
        // A grader that hung would be missing from the gradings, and
        // `graded` would fail this test instead of stalling the suite.
        let report = graded("never-listens");
        assert!(
            report.took < PATIENCE,
            "the grader returned only after {:?}:\n{}",
            report.took,
            grade::report::mocha(report)
        );
        let failure = failure_of(report, "greeting");
        assert!(
            failure
                .expected
                .starts_with("it to start listening on port "),
            "{failure}"
        );
        assert_eq!(failure.got, "it did not start listening within 1 s");
        assert_eq!(report.outcomes.len(), behaviours(TEXT_ON_TCP).len());
        assert_eq!(
            (report.failing(), report.not_run()),
            (1, report.outcomes.len() - 1)
        );
        assert!(report.outcomes[1..].iter().all(|outcome| outcome.verdict
            == Verdict::NotRun(
                "the program could not be started (see the first behaviour)".to_owned()
            )));
        assert_eq!(report.standing(), Standing::NotGraded);
    }

    #[test]
    fn exits_before_listening() {
        let report = graded("no-such-kind");
        let failure = failure_of(report, "greeting");
        assert_eq!(
            failure.got,
            "it exited (exit status: 2) before it listened; on stderr it said:\n  | broken-server: unknown kind \"no-such-kind\""
        );
    }

    #[test]
    fn listens_for_a_file_that_does_not_exist() {
        let report = graded("never-sends");
        let failure = failure_of(report, "missing-file");
        assert!(failure.got.starts_with("it listened on port "), "{failure}");
        assert!(failure.got.contains("does-not-exist.txt"), "{failure}");
    }

    #[test]
    fn stops_for_everyone_while_a_subscriber_never_reads() {
        let report = graded("blocks-on-silent");
        assert_passed(report, "greeting");
        let failure = failure_of(report, "silent-subscriber");
        assert!(
            failure
                .expected
                .contains("while another subscriber has read nothing"),
            "{failure}"
        );
        assert!(failure.got.starts_with("nothing within"), "{failure}");
    }
}

mod fails_a_client_that {
    use super::*;

    #[test]
    fn takes_each_read_for_a_whole_message() {
        let report = graded("naive-client");
        assert_passed(report, "client-greeting-and-change");
        for id in ["client-split", "client-two-in-one-read"] {
            let failure = failure_of(report, id);
            assert!(
                failure
                    .got
                    .starts_with("no such line; it exited (exit status: 1)")
                    && failure.got.contains("SyntaxError: not one JSON message"),
                "{failure}"
            );
        }
    }
}

/// The students' submissions each get the verdict their `expected.txt`
/// records, behaviour by behaviour, with the reason it records.
mod grades_the_submissions {
    use super::*;
    use pretty_assertions::assert_eq;

    /// The submission called `name`, graded.
    fn submission(name: &str) -> &'static Graded {
        done()
            .submissions
            .get(name)
            .unwrap_or_else(|| panic!("the submission {name:?} was not graded within {HANG:?}"))
    }

    #[rstest]
    #[case::node_correct_json("node-correct-json")]
    #[case::node_correct_text("node-correct-text")]
    #[case::node_fractional_ms("node-fractional-ms")]
    #[case::node_invalid_date("node-invalid-date")]
    #[case::node_iso_date("node-iso-date")]
    #[case::node_json_graded_as_text("node-json-graded-as-text")]
    #[case::node_missing_type("node-missing-type")]
    #[case::node_no_greeting("node-no-greeting")]
    #[case::node_service_sends_whole("node-service-sends-whole")]
    #[case::node_test_json_service("node-test-json-service")]
    #[case::node_undefined_date("node-undefined-date")]
    #[case::python_bare_number("python-bare-number")]
    #[case::python_broken_pipe("python-broken-pipe")]
    #[case::python_correct_json("python-correct-json")]
    #[case::python_correct_text("python-correct-text")]
    #[case::python_crlf("python-crlf")]
    #[case::python_extra_field("python-extra-field")]
    #[case::python_first_connection_only("python-first-connection-only")]
    #[case::python_ignores_port("python-ignores-port")]
    #[case::python_ignores_sigterm("python-ignores-sigterm")]
    #[case::python_now_not_called("python-now-not-called")]
    #[case::python_seconds("python-seconds")]
    #[case::python_slow_notifications("python-slow-notifications")]
    #[case::python_split_service("python-split-service")]
    #[case::python_string_timestamp("python-string-timestamp")]
    #[case::python_syntax_error("python-syntax-error")]
    #[case::python_text_graded_as_json("python-text-graded-as-json")]
    fn as_its_expected_file_says(#[case] name: &str) {
        let graded = submission(name);
        let report = &graded.report;
        let shown = grade::report::mocha(report);
        let expected = expected(name);
        let statuses: Vec<(String, String)> = report
            .outcomes
            .iter()
            .map(|outcome| {
                let status = match outcome.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Fail(_) => "fail",
                    Verdict::NotRun(_) => "error",
                };
                (outcome.id.to_owned(), status.to_owned())
            })
            .collect();
        let wanted: Vec<(String, String)> = expected
            .verdicts
            .iter()
            .map(|verdict| (verdict.id.clone(), verdict.status.clone()))
            .collect();
        assert_eq!(statuses, wanted, "{shown}");
        for verdict in &expected.verdicts {
            let Some(fragment) = &verdict.fragment else {
                continue;
            };
            let outcome = report.outcome(&verdict.id).expect("every behaviour ran");
            let said = match &outcome.verdict {
                Verdict::Fail(failure) => failure.to_string(),
                Verdict::NotRun(reason) => reason.clone(),
                Verdict::Pass => outcome.notes.join("\n"),
            };
            assert!(
                said.contains(fragment.as_str()),
                "{}: expected {fragment:?} in {said:?}\n{shown}",
                verdict.id
            );
        }
        let notes: Vec<&String> = report
            .notes
            .iter()
            .chain(report.outcomes.iter().flat_map(|outcome| &outcome.notes))
            .collect();
        for fragment in &expected.notes {
            assert!(
                notes.iter().any(|note| note.contains(fragment.as_str())),
                "expected a note with {fragment:?}\n{shown}"
            );
        }
        assert_eq!(report.standing().exit_code(), expected.exit, "{shown}");
    }

    #[test]
    fn every_submission_has_its_case() {
        assert_eq!(names().len(), 27);
        assert_eq!(
            done().submissions.keys().cloned().collect::<Vec<_>>(),
            names()
        );
    }
}

/// A program that ignores `PORT` and listens on the book's port gets the
/// same verdicts whether something else holds port 60300 or not; where
/// the grader cannot give it a network of its own and the port is taken,
/// its behaviours are not run, with the reason, rather than failed.
mod a_program_that_ignores_port {
    use super::*;

    fn graded_when(case: &str) -> Option<&'static Graded> {
        let graded = done()
            .ignoring_port
            .get(case)
            .unwrap_or_else(|| panic!("the grading {case:?} did not return within {HANG:?}"));
        if graded.is_none() {
            eprintln!("SKIPPED: this machine allows no private network namespace");
        }
        graded.as_ref()
    }

    #[rstest]
    #[case::port_60300_taken("taken, in a namespace of its own")]
    #[case::port_60300_free("free, in a namespace of its own")]
    #[case::port_60300_free_and_no_namespace("free, with no namespace")]
    fn passes_every_behaviour_and_is_told_it_ignores_port(#[case] case: &str) {
        let Some(graded) = graded_when(case) else {
            return;
        };
        let report = &graded.report;
        assert!(report.passed(), "{}", grade::report::mocha(report));
        assert!(
            report.notes[0].starts_with("This program ignores PORT and listens on port 60300"),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn is_not_run_when_60300_is_taken_and_no_namespace_is_allowed() {
        let Some(graded) = graded_when("taken, with no namespace") else {
            return;
        };
        let report = &graded.report;
        assert_eq!(
            report.standing(),
            Standing::NotGraded,
            "{}",
            grade::report::mocha(report)
        );
        for outcome in &report.outcomes {
            match &outcome.verdict {
                Verdict::NotRun(reason) => assert!(
                    reason.starts_with(
                        "this program ignores PORT and wants port 60300, the book's address, which another program on this machine holds"
                    ),
                    "{reason}"
                ),
                other => panic!("{}: {other:?}", outcome.id),
            }
        }
    }

    #[test]
    fn leaves_nothing_behind_in_any_case() {
        for case in PORT_CASES {
            let Some(graded) = graded_when(case.name) else {
                return;
            };
            assert_eq!(graded.left_running, Vec::<String>::new(), "{}", case.name);
            assert_eq!(graded.left_files, Vec::<String>::new(), "{}", case.name);
        }
    }
}

/// After every grading, nothing it started still runs, and its temporary
/// directory is gone.
mod leaves_nothing_behind {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn after_the_gradings_of_this_crate_and_of_broken_programs() {
        for grading in gradings() {
            let graded = graded_with_leftovers(&grading.name);
            assert_eq!(
                graded.left_running,
                Vec::<String>::new(),
                "{}",
                grading.name
            );
            assert_eq!(graded.left_files, Vec::<String>::new(), "{}", grading.name);
        }
    }

    #[test]
    fn after_the_submissions() {
        let graded = done().submissions.values().next().expect("a submission");
        assert_eq!(graded.left_running, Vec::<String>::new());
        assert_eq!(graded.left_files, Vec::<String>::new());
    }
}

mod the_command_line {
    use super::*;
    use assert_cmd::Command;
    use pretty_assertions::assert_eq;
    use serde_json::Value;

    #[test]
    fn explains_the_placeholders_formats_and_exit_codes_in_its_help() {
        let assert = Command::new(bin("net-watcher-grade"))
            .arg("--help")
            .assert()
            .success();
        let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        for word in [
            "{file}",
            "{port}",
            "{socket}",
            "PORT",
            "--json",
            "--unix",
            "--client",
            "--service",
            "--folder",
            "--format",
            "grade.args",
            "Exit codes: 0 every behaviour passed; 1 the práctica's steps passed",
            "2 the command line is wrong; 3 a práctica",
            "4 the program could not be started",
            "128+N the grader was stopped by",
        ] {
            assert!(help.contains(word), "--help lacks {word}:\n{help}");
        }
    }

    /// How long a program may take to listen is what `--start-timeout`
    /// says (the default is 10 s), and the report names it.
    #[test]
    fn gives_a_program_as_long_to_listen_as_its_start_timeout_says() {
        let output = Command::new(bin("net-watcher-grade"))
            .args(["--start-timeout", "1", "--"])
            .args(command(broken_server(), &["never-listens"]))
            .output()
            .expect("net-watcher-grade runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(4), "{stdout}");
        assert!(
            stdout.contains("got:      it did not start listening within 1 s\n"),
            "{stdout}"
        );
    }

    /// How long it waits for a notification is what `--patience` says
    /// (the default is 5 s), and the report names it.
    #[test]
    fn waits_for_a_notification_as_long_as_its_patience_says() {
        let output = Command::new(bin("net-watcher-grade"))
            .args(["--patience", "1", "--"])
            .args(command(broken_server(), &["never-sends"]))
            .output()
            .expect("net-watcher-grade runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(3), "{stdout}");
        assert!(
            stdout.contains("got:      nothing within 1 s\n"),
            "{stdout}"
        );
        assert!(!stdout.contains("within 5 s"), "{stdout}");
    }

    /// `--no-private-network` runs a program that ignores `PORT` on this
    /// machine's own port 60300, one grading at a time, and the note says
    /// so. The grader runs in a namespace this test made (where nothing
    /// else holds 60300), so the verdicts are the same on every machine.
    #[test]
    fn runs_a_program_that_ignores_port_on_the_machines_network_when_told() {
        if !isolation::private_networks_work() {
            eprintln!("SKIPPED: this machine allows no private network namespace");
            return;
        }
        let output = thread::spawn(|| {
            isolation::enter_private_network().expect("a private network");
            std::process::Command::new(bin("net-watcher-grade"))
                .args(["--no-private-network", "--start-timeout", "30", "--"])
                .args(["python3", "server.py"])
                .current_dir(submissions_dir().join("python-ignores-port"))
                .output()
                .expect("net-watcher-grade runs")
        })
        .join()
        .expect("the grading's thread");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains(
                "This program ignores PORT and listens on port 60300, the book's address: the grader ran it one server at a time"
            ),
            "{stdout}"
        );
        assert!(!stdout.contains("namespace of its own"), "{stdout}");
    }

    #[test]
    fn exits_zero_and_reports_every_behaviour_passing() {
        let output = ran("net-watcher-client, as one line");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        let passing = format!("  {} passing (", behaviours(CLIENT).len());
        assert!(stdout.contains(&passing), "{stdout}");
        assert!(!stdout.contains("failing"), "{stdout}");
    }

    #[test]
    fn exits_three_when_a_step_fails_and_reports_each_failure() {
        let output = ran("naive-client");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(3), "{output:?}");
        assert!(stdout.contains("  3 failing\n"), "{stdout}");
        assert!(
            stdout.contains("\n  1) the client and message boundaries (steps 5 and 6)\n"),
            "{stdout}"
        );
        assert!(
            stdout.contains("     expected: the client to print"),
            "{stdout}"
        );
    }

    #[test]
    fn exits_one_with_exercisms_results_when_only_beyond_the_practica_fails() {
        let output = ran("a server whose práctica passes, as JSON");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let results: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
        assert_eq!(results["version"], 2);
        assert_eq!(results["status"], "fail");
        assert_eq!(results["message"], Value::Null);
        let tests = results["tests"].as_array().expect("tests");
        assert_eq!(tests.len(), 12);
        assert_eq!(
            tests[0]["name"],
            "greets each subscriber with the name of the file it watches"
        );
        assert_eq!(tests[0]["status"], "pass");
        assert_eq!(tests[0]["group"], "plain text (step 1)");
        assert_eq!(tests[0]["practica"], true);
        assert!(tests[0]["ms"].as_u64().is_some());
        let atomic = tests
            .iter()
            .find(|test| test["id"] == "atomic-save")
            .expect("atomic-save");
        assert_eq!(atomic["status"], "fail");
        assert_eq!(atomic["practica"], false);
        assert_eq!(
            atomic["expected"],
            "one notification for an atomic save, and one for a touch after it"
        );
        assert!(
            atomic["got"].as_str().unwrap().ends_with("the watch ended"),
            "{atomic}"
        );
        assert_eq!(results["exit"], 1);
    }

    #[test]
    fn exits_three_with_junit_when_a_step_fails() {
        let output = ran("a server that fails a step, as JUnit");
        assert_eq!(output.status.code(), Some(3), "{output:?}");
        let xml = String::from_utf8_lossy(&output.stdout);
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "),
            "{xml}"
        );
        assert!(
            xml.contains(" tests=\"12\" failures=\"1\" errors=\"0\" skipped=\"0\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase id=\"change-line\" classname=\"plain text (step 1)\""),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"expected a line &quot;File changed: &lt;date&gt;&quot;"
            ),
            "{xml}"
        );
        assert!(xml.contains("a bare number"), "{xml}");
        assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
    }

    #[test]
    fn exits_four_when_the_program_does_not_start_keeping_its_file_and_line() {
        let output = ran("a server that does not start");
        assert_eq!(output.status.code(), Some(4), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("server.py\", line 17\n"), "{stdout}");
        assert!(
            stdout.contains("  | SyntaxError: expected ':'\n"),
            "{stdout}"
        );
        assert!(stdout.contains("  11 not run\n"), "{stdout}");
        assert!(
            stdout.contains("Not run: the program could not be started"),
            "{stdout}"
        );
    }

    #[test]
    fn exits_two_for_a_mistake_in_its_own_command_line() {
        for args in [
            &["--client", "--json", "--", "x"][..],
            &["--format", "xml", "--", "x"],
            &[],
        ] {
            let output = Command::new(bin("net-watcher-grade"))
                .args(args)
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        }
        let output = Command::new(bin("net-watcher-grade"))
            .args(["--client", "--service", "--", "x"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
    }

    /// A reader that quits early (`| head`) closes the grader's stdout:
    /// the grading is done either way, so that is a normal end, not a
    /// panic, and the exit code still says how the program stands.
    #[test]
    fn ends_normally_when_its_reader_has_gone() {
        let service = bin("test-json-service");
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; '{}' --service -- '{}' --port {{port}} | true",
                bin("net-watcher-grade").display(),
                service.display()
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    #[test]
    fn runs_a_command_given_as_one_line_through_the_shell() {
        let output = ran("net-watcher-client, as one line");
        assert!(output.status.success(), "{output:?}");
    }
}

/// SIGINT (Ctrl+C), SIGTERM (`timeout`) or SIGHUP (a closed terminal)
/// stop the grader cleanly: every program it started is stopped, its
/// temporary directories are gone, it prints what it had, and it exits
/// with 128 and the signal's number.
mod when_interrupted {
    use super::*;
    use crate::support::binary::Spawned;
    use nix::sys::signal::Signal;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[case::by_sigint(Signal::SIGINT)]
    #[case::by_sigterm(Signal::SIGTERM)]
    #[case::by_sighup(Signal::SIGHUP)]
    fn stops_everything_it_started_and_prints_what_it_had(#[case] signal: Signal) {
        let temp_root = TempDir::new().expect("a temporary directory");
        let server = submissions_dir().join("python-slow-notifications/server.py");
        let mut grader = Spawned::start_configured(
            None,
            "net-watcher-grade",
            &["--", "python3", &server.to_string_lossy()],
            |command| {
                command.env("TMPDIR", temp_root.path());
            },
        );
        let deadline = Instant::now() + PATIENCE;
        while programs_left_running(temp_root.path()).len() < 2 {
            assert!(
                Instant::now() < deadline,
                "no program under test started within {PATIENCE:?}\n{}",
                grader.report()
            );
            // Nothing announces a program's start: looking is the signal.
            thread::sleep(Duration::from_millis(10));
        }
        grader.signal(signal as i32);
        let (status, stdout) = grader.wait_for_exit();
        let stdout = stdout.join("\n");
        assert_eq!(status.code(), Some(128 + signal as i32), "{stdout}");
        assert!(stdout.starts_with("Grading python3 "), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "Not run: the grader was interrupted by {}",
                signal.as_str()
            )),
            "{stdout}"
        );
        assert_eq!(
            programs_left_running(temp_root.path()),
            Vec::<String>::new()
        );
        assert_eq!(left_in(temp_root.path()), Vec::<String>::new());
    }
}

/// `--folder`: every submission in a folder, each run in its own folder
/// with its own `grade.args`, its report written beside it, a table and a
/// CSV for all.
mod grading_a_folder {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::Value;

    /// Copies submission `name` into `folder`.
    fn copy(name: &str, folder: &Path) {
        let from = submissions_dir().join(name);
        let to = folder.join(name);
        std::fs::create_dir(&to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    /// A folder with no submission in it is a mistake in the command (the
    /// wrong folder, most likely), not a grading that passed: said, exit
    /// 2, and no CSV written there.
    #[test]
    fn refuses_a_folder_that_holds_no_submission() {
        let folder = TempDir::new().unwrap();
        std::fs::write(folder.path().join("server.js"), "// not a folder\n").unwrap();
        std::fs::create_dir(folder.path().join(".git")).unwrap();
        let output = std::process::Command::new(bin("net-watcher-grade"))
            .args(["--folder", &folder.path().to_string_lossy()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "net-watcher-grade: {} holds no submission: each submission is a folder in it, \
                 with its program (or grade each with its own command line)\n",
                folder.path().display()
            )
        );
        assert!(!folder.path().join("grades.csv").exists());
    }

    #[test]
    fn writes_each_report_beside_its_submission_and_sums_them_up() {
        let folder = TempDir::new().unwrap();
        let temp_root = TempDir::new().unwrap();
        for name in [
            "python-bare-number",
            "python-correct-text",
            "python-syntax-error",
        ] {
            copy(name, folder.path());
        }
        std::fs::create_dir(folder.path().join("without-a-command")).unwrap();
        let output = std::process::Command::new(bin("net-watcher-grade"))
            .args([
                "--folder",
                &folder.path().to_string_lossy(),
                "--format",
                "json",
            ])
            .env("TMPDIR", temp_root.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(4), "the worst of them\n{stdout}");
        let results = |name: &str| -> Value {
            let text = std::fs::read_to_string(folder.path().join(name).join("results.json"))
                .unwrap_or_else(|error| panic!("{name}: {error}\n{stdout}"));
            serde_json::from_str(&text).unwrap()
        };
        assert_eq!(results("python-correct-text")["status"], "pass");
        assert_eq!(results("python-bare-number")["status"], "fail");
        assert_eq!(results("python-syntax-error")["status"], "error");
        assert_eq!(results("without-a-command")["status"], "error");
        let table: Vec<&str> = stdout
            .lines()
            .skip_while(|line| !line.starts_with("submission "))
            .collect();
        assert_eq!(table.len(), 7, "{stdout}");
        assert!(
            table[1].starts_with("python-bare-number   3/4       8/8     0           3"),
            "{stdout}"
        );
        assert!(table[1].ends_with("change-line"), "{stdout}");
        assert!(
            table[2].starts_with("python-correct-text  4/4       8/8     0           0"),
            "{stdout}"
        );
        assert!(
            table[3].starts_with("python-syntax-error  0/4       0/8     11          4"),
            "{stdout}"
        );
        assert!(
            table[4].starts_with("without-a-command    0/0       0/0     0           4"),
            "{stdout}"
        );
        assert!(table[6].starts_with("4 submissions graded in "), "{stdout}");
        let csv = std::fs::read_to_string(folder.path().join("grades.csv")).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(
            rows[0],
            "submission,standing,exit,practica_passed,practica_total,beyond_passed,beyond_total,not_run,seconds,failed"
        );
        assert!(
            rows[1].starts_with("python-bare-number,practica-failed,3,3,4,8,8,0,"),
            "{csv}"
        );
        assert!(rows[1].ends_with(",change-line"), "{csv}");
        assert!(
            rows[2].starts_with("python-correct-text,passed,0,4,4,8,8,0,"),
            "{csv}"
        );
        assert!(
            rows[3].starts_with("python-syntax-error,not-graded,4,0,4,0,8,11,"),
            "{csv}"
        );
        assert!(
            rows[4].starts_with("without-a-command,not-graded,4,0,0,0,0,0,"),
            "{csv}"
        );
        assert_eq!(rows.len(), 5);
        assert_eq!(
            programs_left_running(temp_root.path()),
            Vec::<String>::new()
        );
        assert_eq!(left_in(temp_root.path()), Vec::<String>::new());
    }
}
