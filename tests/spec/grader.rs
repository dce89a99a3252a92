//! describe: the grader (`net_watcher::grade` and `net-watcher-grade`).
//!
//! A grader is only worth its reports if it passes programs that are right
//! and fails programs that are wrong, for the right reason. This crate's
//! programs pass every behaviour; programs broken on purpose
//! (`tests/fixtures/broken-server.rs`) each fail the behaviour they break,
//! with a reason that says what came instead. The book's Node programs are
//! graded for real in `transcripts::chapter_7_…`.
//!
//! Every grading these specs inspect is listed once, in [`gradings`], and
//! they all run at the same time, once, the first time a spec asks for a
//! report (Mocha's `before`, for the whole file): a grading spends its time
//! waiting (for a server to answer, or to be sure that nothing more comes),
//! so twenty of them at once take hardly longer than the slowest, where one
//! after another they took most of the suite's time. Each spec then reads
//! the report it is about, so no program is graded twice for two specs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use net_watcher::grade::{
    self, Behaviour, Failure, Report, Role, Settings, Subject, Transport, behaviours,
};
use net_watcher::protocol::Protocol;
use rstest::rstest;

use crate::support::PATIENCE;
use crate::support::binary::bin;
use crate::support::broken::broken_server;

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
fn patient() -> Settings {
    Settings {
        patience: PATIENCE,
        ..Settings::default()
    }
}

/// For the behaviours a spec expects to fail by waiting for something that
/// never comes (a notification, a second line): the whole of this patience
/// is spent on each. It is still many times what the waits before that
/// one take (a greeting, a first notification): measured on this 2-core
/// machine under a load average of up to 22, the longest of half a million
/// such waits took 0.33 s. A behaviour a spec expects to fail for what it
/// receives, or because the program exits, is graded [`patient`]ly: it
/// never waits out the patience, so the full measure costs nothing.
fn brief() -> Settings {
    Settings {
        patience: Duration::from_secs(2),
        ..Settings::default()
    }
}

/// `program` and its arguments, as words of a command.
fn command(program: &Path, args: &[&str]) -> Vec<String> {
    std::iter::once(program.to_string_lossy().into_owned())
        .chain(args.iter().map(|arg| (*arg).to_owned()))
        .collect()
}

/// The behaviour of `role` whose name starts with `start`.
fn named(role: Role, start: &str) -> Behaviour {
    behaviours(role)
        .into_iter()
        .find(|behaviour| behaviour.name.starts_with(start))
        .unwrap_or_else(|| panic!("no behaviour of {role} starts with {start:?}"))
}

/// The failure of behaviour `start` in `report`; fails the test if it
/// passed.
fn failure_of<'r>(report: &'r Report, start: &str) -> &'r Failure {
    let outcome = report
        .outcomes
        .iter()
        .find(|outcome| outcome.name.starts_with(start))
        .unwrap_or_else(|| panic!("no behaviour starting with {start:?} ran:\n{report}"));
    match &outcome.verdict {
        Err(failure) => failure,
        Ok(()) => panic!("expected {start:?} to fail, but it passed:\n{report}"),
    }
}

/// Fails the test, showing the report, unless behaviour `start` passed.
fn assert_passed(report: &Report, start: &str) {
    let outcome = report
        .outcomes
        .iter()
        .find(|outcome| outcome.name.starts_with(start))
        .unwrap_or_else(|| panic!("no behaviour starting with {start:?} ran:\n{report}"));
    assert!(
        outcome.verdict.is_ok(),
        "expected {start:?} to pass:\n{report}"
    );
}

// The beginnings of the names of the behaviours the specs pick out.
const GREETS: &str = "greets each subscriber";
const ONE_PER_TOUCH: &str = "sends one \"File changed:\" line per touch";
const ONE_OBJECT: &str = "sends each message as one JSON object";
const ONE_CHANGED_PER_TOUCH: &str = "sends one \"changed\" message per touch";
const SEVERAL: &str = "tells every one of several subscribers";
const SILENT: &str = "keeps telling the others while one subscriber never reads";
const ATOMIC: &str = "notices an atomic save (a new file renamed over it) once, and keeps watching";
const SED: &str = "notices a save by `sed -i` once, and keeps watching";
const FLOOD: &str = "merges 300 quick appends into a few notifications (at most 30)";
const MISSING: &str = "refuses to start for a file that does not exist";
const STALE: &str = "starts again where a killed server left its socket file";
const PRINTS_THE_GREETING: &str = "prints \"Now watching: <file>\"";
const SPLIT: &str = "prints a message that arrives split across two reads, once";
const TWO: &str = "prints both of two messages that arrive in one read";
const NO_NEWLINE: &str =
    "prints a last message that has no newline when the server closes (R3, R4)";
const NOT_JSON: &str = "reports a line that is not JSON, quoting it, and goes on (R1, R2)";

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
        failing: &[ATOMIC, SED, FLOOD, MISSING],
        waiting_out: &[ATOMIC, SED],
    },
    StepExample {
        name: "net-watcher-unix",
        args: &["{file}", "{socket}"],
        role: TEXT_ON_UNIX,
        failing: &[ATOMIC, SED, FLOOD, MISSING, STALE],
        waiting_out: &[ATOMIC, SED],
    },
    StepExample {
        name: "net-watcher-json-service",
        args: &["{file}"],
        role: JSON_ON_TCP,
        failing: &[ATOMIC, SED, FLOOD, MISSING],
        waiting_out: &[ATOMIC, SED],
    },
    StepExample {
        name: "net-watcher-json-client",
        args: &[],
        role: CLIENT,
        failing: &[SPLIT, TWO, NOT_JSON],
        waiting_out: &[],
    },
    StepExample {
        name: "net-watcher-ldj-client",
        args: &[],
        role: CLIENT,
        failing: &[NO_NEWLINE, NOT_JSON],
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
    /// The behaviours graded, by the beginnings of their names; all of the
    /// role's when empty.
    only: Vec<&'static str>,
    /// Those it is expected to fail by waiting out the patience: graded
    /// [`brief`]ly, the others [`patient`]ly, by two subjects at once.
    waiting_out: Vec<&'static str>,
    /// The settings for those.
    brief: Settings,
}

impl Grading {
    fn of(name: impl Into<String>, command: Vec<String>, role: Role) -> Self {
        Grading {
            name: name.into(),
            command,
            role,
            only: Vec::new(),
            waiting_out: Vec::new(),
            brief: brief(),
        }
    }

    /// A program broken on purpose, of `kind`, with `extra` arguments. It
    /// is told its address through `env`, as a placeholder: a command
    /// without one may listen where the book's server does, and the
    /// grader would also wait for it there, where anything else on the
    /// machine that listens on port 60300 would be taken for it.
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
        self.waiting_out = behaviours(self.role)
            .iter()
            .map(|behaviour| behaviour.name)
            .collect();
        self
    }

    /// The program is given `timeout` to start listening, in the
    /// behaviours graded briefly.
    fn starting_within(mut self, timeout: Duration) -> Self {
        self.brief.start_timeout = timeout;
        self
    }

    /// Runs it: the behaviours to grade briefly and the others, each with
    /// their settings, at the same time; one report, in the role's order.
    fn run(&self) -> Report {
        let chosen: Vec<Behaviour> = if self.only.is_empty() {
            behaviours(self.role)
        } else {
            self.only
                .iter()
                .map(|start| named(self.role, start))
                .collect()
        };
        let waits_out = |behaviour: &Behaviour| {
            self.waiting_out
                .iter()
                .any(|start| behaviour.name.starts_with(start))
        };
        let (briefly, patiently): (Vec<Behaviour>, Vec<Behaviour>) =
            chosen.iter().partition(|behaviour| waits_out(behaviour));
        let grade = |behaviours: &[Behaviour], settings: &Settings| {
            (!behaviours.is_empty()).then(|| {
                let subject = Subject::new(self.command.clone(), self.role, settings.clone());
                grade::grade_only(&subject, behaviours)
            })
        };
        let (patient_part, brief_part) = thread::scope(|scope| {
            let patient_part = scope.spawn(|| grade(&patiently, &patient()));
            let brief_part = grade(&briefly, &self.brief);
            (patient_part.join().expect("a grading returns"), brief_part)
        });
        let parts: Vec<Report> = patient_part.into_iter().chain(brief_part).collect();
        let mut outcomes: Vec<_> = parts
            .iter()
            .flat_map(|part| part.outcomes.clone())
            .collect();
        outcomes.sort_by_key(|outcome| {
            chosen
                .iter()
                .position(|behaviour| behaviour.name == outcome.name)
        });
        Report {
            title: parts[0].title.clone(),
            outcomes,
            took: parts.iter().map(|part| part.took).max().unwrap_or_default(),
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
        Grading::broken("never-sends", &[], TEXT_ON_TCP)
            .only(&[GREETS, ONE_PER_TOUCH, MISSING])
            .waiting_out(&[ONE_PER_TOUCH, MISSING]),
        Grading::broken("splits-json", &["--json"], JSON_ON_TCP).only(&[
            GREETS,
            ONE_OBJECT,
            ONE_CHANGED_PER_TOUCH,
        ]),
        Grading::broken("greets-late", &[], TEXT_ON_TCP).only(&[GREETS, ONE_PER_TOUCH]),
        Grading::broken("crashes-on-second", &[], TEXT_ON_TCP).only(&[GREETS, SEVERAL]),
        Grading::broken("never-listens", &[], TEXT_ON_TCP)
            .all_brief()
            .starting_within(Duration::from_secs(1)),
        Grading::broken("no-such-kind", &[], TEXT_ON_TCP).only(&[GREETS]),
        // On a Unix socket: a few dozen unread lines fill it, where TCP on
        // the loopback interface buffers a megabyte (see the behaviour's
        // docs).
        Grading::broken("blocks-on-silent", &["--unix"], TEXT_ON_UNIX)
            .only(&[GREETS, SILENT])
            .waiting_out(&[SILENT]),
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
            Role::Server { .. } => command(&program, example.args),
        };
        all.push(
            Grading::of(format!("examples/{}", example.name), words, example.role)
                .waiting_out(example.waiting_out),
        );
    }
    all
}

/// Every run of `net-watcher-grade` the specs inspect.
fn runs() -> Vec<Run> {
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
            args: [
                "--client",
                "--",
                &broken_server().to_string_lossy(),
                "naive-client",
                "{port}",
            ]
            .map(str::to_owned)
            .to_vec(),
        },
    ]
}

/// What one grading or run came to, and its name.
enum Finished {
    Graded(String, Report),
    Ran(&'static str, Output),
}

/// What came of every grading and run, by name.
#[derive(Default)]
struct Done {
    reports: BTreeMap<String, Report>,
    outputs: BTreeMap<&'static str, Output>,
}

/// How long the gradings may take, all together, before the ones still
/// running are taken to hang: far more than the slowest takes (a few
/// seconds), so that only a grader that hangs is caught by it.
const HANG: Duration = Duration::from_secs(60);

/// Everything [`gradings`] and [`runs`] list, each done once, all at the
/// same time, on the first call. A grading that hangs is missing, and only
/// its spec fails.
fn done() -> &'static Done {
    static DONE: OnceLock<Done> = OnceLock::new();
    DONE.get_or_init(|| {
        let (finished, results) = mpsc::channel();
        for grading in gradings() {
            let finished = finished.clone();
            thread::spawn(move || {
                let report = grading.run();
                let _ = finished.send(Finished::Graded(grading.name, report));
            });
        }
        for run in runs() {
            let finished = finished.clone();
            thread::spawn(move || {
                let output = std::process::Command::new(bin("net-watcher-grade"))
                    .args(&run.args)
                    .output()
                    .expect("net-watcher-grade runs");
                let _ = finished.send(Finished::Ran(run.name, output));
            });
        }
        drop(finished);
        let deadline = Instant::now() + HANG;
        let mut done = Done::default();
        while let Ok(result) =
            results.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            match result {
                Finished::Graded(name, report) => {
                    done.reports.insert(name, report);
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
    done()
        .reports
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
        assert!(report.passed(), "{report}");
        assert_eq!(report.outcomes.len(), behaviours(role).len());
    }

    #[test]
    fn net_watcher_client_on_every_behaviour() {
        let report = graded("net-watcher-client");
        assert!(report.passed(), "{report}");
        assert_eq!(report.outcomes.len(), behaviours(CLIENT).len());
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
        assert_eq!(report.failed(), example.failing, "{report}");
    }
}

mod fails_a_server_that {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn never_sends_the_change() {
        let report = graded("never-sends");
        assert_passed(report, GREETS);
        let failure = failure_of(report, ONE_PER_TOUCH);
        assert_eq!(
            failure.expected,
            "a line \"File changed: <date>\" after touch 1 of 3"
        );
        assert!(failure.got.starts_with("nothing within"), "{report}");
    }

    #[test]
    fn sends_the_json_change_split_across_two_lines() {
        let report = graded("splits-json");
        assert_passed(report, GREETS);
        let failure = failure_of(report, ONE_OBJECT);
        assert_eq!(
            failure.expected,
            "the change as one JSON object on one line"
        );
        assert!(
            failure
                .got
                .starts_with("the line \"{\\\"type\\\":\\\"changed\\\",\", where it is not JSON"),
            "{report}"
        );
        let failure = failure_of(report, ONE_CHANGED_PER_TOUCH);
        assert!(failure.got.contains("it is not JSON"), "{report}");
    }

    #[test]
    fn greets_after_a_change_instead_of_before() {
        let report = graded("greets-late");
        let failure = failure_of(report, GREETS);
        assert!(failure.expected.starts_with("Now watching \""), "{report}");
        assert!(failure.got.starts_with("\"File changed: "), "{report}");
        let failure = failure_of(report, ONE_PER_TOUCH);
        assert!(
            failure.expected.starts_with("the greeting first"),
            "{report}"
        );
    }

    #[test]
    fn crashes_on_a_second_subscriber() {
        let report = graded("crashes-on-second");
        assert_passed(report, GREETS);
        let failure = failure_of(report, SEVERAL);
        assert!(
            failure
                .got
                .contains("the server had exited (exit status: 1)")
                && failure
                    .got
                    .contains("a second subscriber, and down it goes"),
            "{report}"
        );
    }

    #[test]
    fn never_listens_with_a_timeout_not_a_hang() {
        // A grader that hung would be missing from the gradings, and
        // `graded` would fail this test instead of stalling the suite.
        let report = graded("never-listens");
        assert!(
            report.took < PATIENCE,
            "the grader returned only after {:?}:\n{report}",
            report.took
        );
        let first = &report.outcomes[0].verdict;
        let Err(failure) = first else {
            panic!("expected the first behaviour to fail:\n{report}");
        };
        assert!(
            failure
                .expected
                .starts_with("it to start listening on port "),
            "{report}"
        );
        assert_eq!(failure.got, "it did not start listening within 1 s");
        assert_eq!(report.outcomes.len(), behaviours(TEXT_ON_TCP).len());
        assert_eq!(report.failing(), report.outcomes.len(), "{report}");
        assert!(
            report.outcomes[1..].iter().all(|outcome| outcome
                .verdict
                .as_ref()
                .is_err_and(|failure| failure.got.starts_with("not run:"))),
            "{report}"
        );
    }

    #[test]
    fn exits_before_listening() {
        let report = graded("no-such-kind");
        let failure = failure_of(report, GREETS);
        assert_eq!(
            failure.got,
            "it exited (exit status: 2) before it listened; on stderr it said:\n  | broken-server: unknown kind \"no-such-kind\""
        );
    }

    #[test]
    fn listens_for_a_file_that_does_not_exist() {
        let report = graded("never-sends");
        let failure = failure_of(report, MISSING);
        assert!(failure.got.starts_with("it listened on port "), "{report}");
        assert!(failure.got.contains("does-not-exist.txt"), "{report}");
    }

    #[test]
    fn stops_for_everyone_while_a_subscriber_never_reads() {
        let report = graded("blocks-on-silent");
        assert_passed(report, GREETS);
        let failure = failure_of(report, SILENT);
        assert!(
            failure
                .expected
                .contains("while another subscriber has read nothing"),
            "{report}"
        );
        assert!(failure.got.starts_with("nothing within"), "{report}");
    }
}

mod fails_a_client_that {
    use super::*;

    #[test]
    fn takes_each_read_for_a_whole_message() {
        let report = graded("naive-client");
        assert_passed(report, PRINTS_THE_GREETING);
        for start in [SPLIT, TWO] {
            let failure = failure_of(report, start);
            assert!(
                failure
                    .got
                    .starts_with("no such line; it exited (exit status: 1)")
                    && failure.got.contains("SyntaxError: not one JSON message"),
                "{report}"
            );
        }
    }
}

mod the_command_line {
    use super::*;
    use assert_cmd::Command;

    #[test]
    fn explains_the_placeholders_in_its_help() {
        let assert = Command::new(bin("net-watcher-grade"))
            .arg("--help")
            .assert()
            .success();
        let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        for word in [
            "{file}", "{port}", "{socket}", "PORT", "--json", "--unix", "--client",
        ] {
            assert!(help.contains(word), "--help lacks {word}:\n{help}");
        }
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
    fn exits_one_and_reports_each_failure() {
        let output = ran("naive-client");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
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
    fn runs_a_command_given_as_one_line_through_the_shell() {
        let output = ran("net-watcher-client, as one line");
        assert!(output.status.success(), "{output:?}");
    }
}

mod the_report {
    use super::*;
    use net_watcher::grade::Outcome;
    use pretty_assertions::assert_eq;

    #[test]
    fn reads_like_mochas_with_what_was_expected_and_what_came() {
        let report = Report {
            title: "node net-watcher.js {file} (a server speaking plain text on TCP)".to_owned(),
            outcomes: vec![
                Outcome {
                    group: "plain text (step 1)",
                    name: "greets each subscriber",
                    verdict: Ok(()),
                    took: Duration::ZERO,
                },
                Outcome {
                    group: "beyond the práctica",
                    name: "notices an atomic save",
                    verdict: Err(Failure::new("one notification", "none\nat all")),
                    took: Duration::ZERO,
                },
            ],
            took: Duration::from_millis(2500),
        };
        assert_eq!(
            report.to_string(),
            "Grading node net-watcher.js {file} (a server speaking plain text on TCP)

  plain text (step 1)
    ✓ greets each subscriber

  beyond the práctica
    ✗ 1) notices an atomic save

  1 passing (2.5s)
  1 failing

  1) beyond the práctica
     notices an atomic save:
     expected: one notification
     got:      none
               at all
"
        );
    }
}
