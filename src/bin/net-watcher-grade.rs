//! `net-watcher-grade -- COMMAND...`: grade a práctica server (or client,
//! or step 5's fake service), written in any language, against the
//! práctica's behaviours; or `--folder DIR`, a folder of submissions.
//!
//! Parses arguments, prints the reports, and turns SIGINT, SIGTERM and
//! SIGHUP into a clean stop; the behaviours live in
//! [`net_watcher::grade`].

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use net_watcher::console::standard::Patient;
use net_watcher::grade::folder::{self, RoleOptions};
use net_watcher::grade::{self, Format, Report, Settings, Subject, reaper};

/// Grade a net-watcher server, or with --client a client, or with
/// --service step 5's fake service, written in any language: start it,
/// talk to it as the práctica does, and print a report of what holds,
/// behaviour by behaviour.
///
/// In the command, {file} stands for the file to watch (a fresh temporary
/// file for every start; without {file}, a server gets it as the last
/// argument), {port} for a TCP port and {socket} for a Unix socket path.
/// The address is also in the environment, as PORT or SOCKET. A program
/// that uses neither is expected on the book's address (port 60300, or
/// /tmp/watcher.sock): it runs in a network namespace of its own where the
/// machine allows it, else one server at a time while nothing else holds
/// that address.
///
/// Examples:
///
///   net-watcher-grade -- node net-watcher.js {file}
///
///   net-watcher-grade --json -- python3 watcher.py --port {port} {file}
///
///   net-watcher-grade --client -- node net-watcher-ldj-client.js
///
///   net-watcher-grade --service -- node test-json-service.js
///
///   net-watcher-grade --folder submissions -- node net-watcher.js
///
/// With --folder, each subfolder of DIR is a submission, run in its own
/// folder with the command of its grade.args file (one line: options, --,
/// the command) or else the one given here. Each report is written beside
/// it (grade.txt, results.json or junit.xml, as --format says), and a
/// summary is printed, and written as DIR/grades.csv.
///
/// Exit codes: 0 every behaviour passed; 1 the práctica's steps passed and
/// something beyond them failed; 2 the command line is wrong; 3 a práctica
/// step failed; 4 the program could not be started, or a práctica step
/// could not be run (the report says why); 128+N the grader was stopped by
/// signal N (130 for Ctrl+C), after printing what it had. With --folder,
/// the worst code of all the submissions.
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
    #[arg(long, conflicts_with_all = ["json", "service"])]
    client: bool,

    /// Grade step 5's fake service: one "changed" message, in parts.
    #[arg(long, conflicts_with = "json")]
    service: bool,

    /// How to print the report: mocha (for a person), json (Exercism's
    /// results.json, version 2) or junit (JUnit XML).
    #[arg(long, value_enum, default_value = "mocha")]
    format: FormatArg,

    /// Grade every submission in this folder (see above).
    #[arg(long, value_name = "DIR")]
    folder: Option<PathBuf>,

    /// How long a server may take to start listening, or a client to
    /// connect.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    start_timeout: Duration,

    /// How long to wait for anything expected: a greeting, a notification,
    /// a client's output.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    patience: Duration,

    /// How many behaviours to run at once, each with its own server (with
    /// --folder, across all the submissions).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,

    /// Never run a program that ignores PORT in a network namespace of its
    /// own: run it only while nothing else holds the book's address.
    #[arg(long)]
    no_private_network: bool,

    /// The command that starts the program under test. A single argument
    /// with spaces in it is run by `sh -c`.
    #[arg(
        required_unless_present = "folder",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// The report formats, as the command line names them.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Mocha,
    Json,
    Junit,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Mocha => Format::Mocha,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
        }
    }
}

/// A wait given in seconds (fractions allowed). Zero is refused: every
/// behaviour of a correct program would fail, for want of time.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| "expected a number of seconds, such as 5 or 0.5".to_owned())?;
    if value.is_nan() || value <= 0.0 {
        return Err("expected more than 0 seconds".to_owned());
    }
    Duration::try_from_secs_f64(value).map_err(|_| "more seconds than a wait can last".to_owned())
}

/// How many behaviours run at once across a folder, unless told: enough
/// to keep two cores busy while most behaviours wait.
const FOLDER_JOBS: u16 = 10;

/// Writes `text` to stdout. A closed stdout (`| head`, a reader that
/// quit) is a normal end, not an error: the grading is done either way.
fn say(text: &str) {
    // Patient: a stdout whose open file is non-blocking (a parent such as
    // Node may pass its own) said "would block" when full for a moment,
    // and the report was lost; it is waited for, as a blocking one is.
    let mut stdout = Patient(io::stdout().lock());
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Writes `text` and a newline to stderr. Not `eprintln!`, which panics
/// when stderr is a closed pipe (exit 101 instead of the grader's own
/// code): a problem that cannot be said is still the grader's, and its
/// exit code says it. Patient, as [`say`] is: a non-blocking stderr that
/// is full for a moment lost the sentence.
fn say_problem(text: &str) {
    let mut stderr = Patient(io::stderr().lock());
    let _ = writeln!(stderr, "{text}");
}

/// How long the last line after a signal may take to be written before
/// the grader ends without it.
const LAST_WORD_PATIENCE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    // First, before any program is started (see `reaper::watch_signals`).
    // If the grading has not printed its partial report 10 s after the
    // signal, the grader ends anyway.
    let watching = reaper::watch_signals(|signal| {
        std::thread::sleep(Duration::from_secs(10));
        // Said from a thread of its own, waited for a moment only: the
        // report is late because stdout is not read, and stderr may be the
        // same stalled pipe, on which this line would wait forever, and
        // the grader with it.
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            say_problem(&format!(
                "net-watcher-grade: stopped by {}",
                reaper::signal_name(signal)
            ));
            let _ = said.send(());
        });
        let _ = heard.recv_timeout(LAST_WORD_PATIENCE);
        std::process::exit(128 + signal);
    });
    if let Err(error) = watching {
        say_problem(&format!(
            "net-watcher-grade: cannot watch for signals ({error}); a Ctrl+C may leave programs running"
        ));
    }
    let args = Args::parse();
    let options = RoleOptions {
        json: args.json,
        unix: args.unix,
        client: args.client,
        service: args.service,
    };
    let role = match options.role() {
        Ok(role) => role,
        Err(problem) => {
            say_problem(&format!("net-watcher-grade: {problem}"));
            return ExitCode::from(2);
        }
    };
    let settings = Settings {
        start_timeout: args.start_timeout,
        patience: args.patience,
        jobs: usize::from(args.jobs.unwrap_or(4)),
        isolate: !args.no_private_network,
        ..Settings::default()
    };
    let format = Format::from(args.format);
    let code = match &args.folder {
        None => {
            let subject = Subject::new(args.command, role, settings);
            let report = grade::grade(&subject);
            drop(subject);
            say(&format.render(&report));
            report.standing().exit_code()
        }
        Some(dir) => {
            let common = (!args.command.is_empty()).then(|| (role, args.command.clone()));
            let jobs = usize::from(args.jobs.unwrap_or(FOLDER_JOBS));
            match grade_folder(dir, common, &settings, jobs, format) {
                Ok(code) => code,
                Err(FolderTrouble::Empty) => {
                    say_problem(&format!(
                        "net-watcher-grade: {} holds no submission: each submission is a \
                         folder in it, with its program (or grade each with its own command \
                         line)",
                        dir.display()
                    ));
                    2
                }
                Err(FolderTrouble::Unreadable(error)) => {
                    say_problem(&format!(
                        "net-watcher-grade: cannot read {}: {error}",
                        dir.display()
                    ));
                    2
                }
            }
        }
    };
    match reaper::interrupted() {
        Some(signal) => ExitCode::from((128 + signal) as u8),
        None => ExitCode::from(code),
    }
}

/// Why a folder could not be graded at all.
enum FolderTrouble {
    /// It could not be listed.
    Unreadable(io::Error),
    /// It holds no submission folder.
    Empty,
}

/// Grades every submission in `dir`, writing each report beside it as it
/// is done; prints the table and writes the CSV. Returns the exit code.
fn grade_folder(
    dir: &std::path::Path,
    common: Option<(grade::Role, Vec<String>)>,
    settings: &Settings,
    jobs: usize,
    format: Format,
) -> Result<u8, FolderTrouble> {
    let started = Instant::now();
    let submissions =
        folder::submissions(dir, common.as_ref()).map_err(FolderTrouble::Unreadable)?;
    // The wrong folder, most likely: a grading of nothing would pass.
    if submissions.is_empty() {
        return Err(FolderTrouble::Empty);
    }
    let subjects: Vec<Option<Subject>> = submissions
        .iter()
        .map(|submission| {
            submission.command.as_ref().ok().map(|(role, command)| {
                Subject::new(command.clone(), *role, settings.clone()).in_dir(&submission.dir)
            })
        })
        .collect();
    let gradings: Vec<(&Subject, Vec<grade::Behaviour>)> = subjects
        .iter()
        .flatten()
        .map(|subject| (subject, grade::behaviours(subject.role())))
        .collect();
    let graded: Vec<&folder::Submission> = submissions
        .iter()
        .zip(&subjects)
        .filter(|(_, subject)| subject.is_some())
        .map(|(submission, _)| submission)
        .collect();
    let written = Mutex::new(());
    let reports = grade::grade_many(&gradings, jobs, |index, report| {
        let _one_at_a_time = written.lock();
        let submission = graded[index];
        let line = match folder::write_report(&submission.dir, report, format) {
            Ok(path) => format!(
                "{:>5.1}s  {} (exit {}): {}\n",
                started.elapsed().as_secs_f64(),
                submission.name,
                report.standing().exit_code(),
                path.display()
            ),
            Err(error) => format!("{}: cannot write its report: {error}\n", submission.name),
        };
        say(&line);
    });
    drop(gradings);
    drop(subjects);
    let mut graded_reports = reports.into_iter();
    let rows: Vec<(String, Report)> = submissions
        .iter()
        .map(|submission| {
            let report = match &submission.command {
                Ok(_) => graded_reports
                    .next()
                    .expect("a report per graded submission"),
                Err(why) => {
                    let report = folder::ungraded(submission, why);
                    let _ = folder::write_report(&submission.dir, &report, format);
                    report
                }
            };
            (submission.name.clone(), report)
        })
        .collect();
    let csv = dir.join(folder::CSV_FILE);
    let written = std::fs::write(&csv, folder::csv(&rows));
    say(&format!(
        "\n{}\n{} graded in {:.1} s; {}\n",
        folder::table(&rows),
        match rows.len() {
            1 => "1 submission".to_owned(),
            count => format!("{count} submissions"),
        },
        started.elapsed().as_secs_f64(),
        match written {
            Ok(()) => format!("CSV: {}", csv.display()),
            Err(error) => format!("the CSV could not be written to {}: {error}", csv.display()),
        }
    ));
    Ok(folder::worst(&rows).exit_code())
}
