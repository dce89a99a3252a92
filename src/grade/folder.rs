//! A folder of submissions, graded in one command: each subfolder is a
//! student's submission, run in its own folder, with its own command line
//! (the first line of its `grade.args`, written as the grader's own
//! arguments: `--json -- python3 server.py`) or one command for all. Each
//! report is written beside its submission; the summary is a table for a
//! person and a CSV file for a spreadsheet.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::report::Format;
use super::verdict::{Report, Standing};
use super::{Role, Transport};
use crate::protocol::Protocol;

/// The file in a submission's folder that holds its command line.
pub const ARGS_FILE: &str = "grade.args";

/// The summary's CSV file, written in the folder of submissions.
pub const CSV_FILE: &str = "grades.csv";

/// The options that say what a program is, as the grader's command line
/// and a `grade.args` file give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleOptions {
    /// `--json`: a server of line-delimited JSON (step 3).
    pub json: bool,
    /// `--unix`: on a Unix socket (step 2).
    pub unix: bool,
    /// `--client`: a client (steps 4 to 6).
    pub client: bool,
    /// `--service`: step 5's fake service.
    pub service: bool,
}

impl RoleOptions {
    /// The role these options name, or why they name none.
    pub fn role(self) -> Result<Role, String> {
        let transport = if self.unix {
            Transport::Unix
        } else {
            Transport::Tcp
        };
        match (self.client, self.service, self.json) {
            (true, true, _) => Err("--client and --service name two roles: choose one".to_owned()),
            (true, false, true) | (false, true, true) => Err(
                "--json is for a server: a client and a fake service speak JSON anyway".to_owned(),
            ),
            (true, false, false) => Ok(Role::Client { transport }),
            (false, true, false) => Ok(Role::Service { transport }),
            (false, false, json) => Ok(Role::Server {
                protocol: if json { Protocol::Json } else { Protocol::Text },
                transport,
            }),
        }
    }
}

/// What a `grade.args` line asks for: options, `--`, and the command's
/// words (split on white space; no quoting).
pub fn parse_args(line: &str) -> Result<(Role, Vec<String>), String> {
    let mut options = RoleOptions::default();
    let mut words = line.split_whitespace();
    let mut command = Vec::new();
    for word in words.by_ref() {
        match word {
            "--json" => options.json = true,
            "--unix" => options.unix = true,
            "--client" => options.client = true,
            "--service" => options.service = true,
            "--" => break,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => {
                command.push(other.to_owned());
                break;
            }
        }
    }
    command.extend(words.map(str::to_owned));
    if command.is_empty() {
        return Err("no command after the options".to_owned());
    }
    Ok((options.role()?, command))
}

/// One submission: its name (its folder's) and folder, and what to run,
/// or why it cannot be graded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The folder's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// The role and command, or why there is none.
    pub command: Result<(Role, Vec<String>), String>,
}

/// The submissions in `folder`: every subfolder not hidden, by name. Each
/// has the command of its `grade.args`, else `common`.
pub fn submissions(
    folder: &Path,
    common: Option<&(Role, Vec<String>)>,
) -> io::Result<Vec<Submission>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    Ok(dirs
        .into_iter()
        .map(|dir| {
            let name = dir
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let command = match read_args_file(&dir.join(ARGS_FILE)) {
                Ok(Some(line)) => {
                    parse_args(&line).map_err(|problem| format!("{ARGS_FILE}: {problem}"))
                }
                Ok(None) => common
                    .cloned()
                    .ok_or_else(|| format!("no {ARGS_FILE} here, and no command given after --")),
                Err(problem) => Err(format!("{ARGS_FILE}: {problem}")),
            };
            Submission { name, dir, command }
        })
        .collect())
}

/// The most of a `grade.args` file that is read: its first line is a
/// command, and no command is this long.
const ARGS_FILE_LIMIT: u64 = 64 * 1024;

/// The first line of the `grade.args` at `path`, `None` if there is none.
/// Submissions come from students: the file may be something else than a
/// small text file, and each way is said, not taken for a missing file.
fn read_args_file(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let kind = match std::fs::metadata(path) {
        Ok(metadata) => metadata.file_type(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read it: {error}")),
    };
    // A FIFO would stop the whole folder's grading at its open.
    if !kind.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(ARGS_FILE_LIMIT).read_to_end(&mut bytes))
        .map_err(|error| format!("cannot read it: {error}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "it is not UTF-8 text (saved as UTF-16? save it as UTF-8)".to_owned())?;
    // Windows' Notepad may begin a UTF-8 file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
}

/// The report of a submission that could not be graded at all.
pub fn ungraded(submission: &Submission, why: &str) -> Report {
    Report {
        title: submission.name.clone(),
        outcomes: Vec::new(),
        notes: vec![format!("Not graded: {why}")],
        reached: false,
        took: Duration::ZERO,
    }
}

/// Writes `report` beside `submission`, in `format`; returns the file.
pub fn write_report(dir: &Path, report: &Report, format: Format) -> io::Result<PathBuf> {
    let path = dir.join(format.file_name());
    std::fs::write(&path, format.render(report))?;
    Ok(path)
}

/// How a report counts: práctica steps passed and run, the others passed
/// and run, the ids that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tally {
    practica: (usize, usize),
    beyond: (usize, usize),
    not_run: usize,
    failed: Vec<&'static str>,
}

fn tally(report: &Report) -> Tally {
    let count = |practica: bool| {
        let of: Vec<_> = report
            .outcomes
            .iter()
            .filter(|o| o.practica == practica)
            .collect();
        (of.iter().filter(|o| o.verdict.passed()).count(), of.len())
    };
    Tally {
        practica: count(true),
        beyond: count(false),
        not_run: report.not_run(),
        failed: report.failed(),
    }
}

/// The summary table: a row per submission, with what passed, the exit
/// code its own grading would have, how long it took, and what failed.
pub fn table(rows: &[(String, Report)]) -> String {
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<8}  {:<6}  {:<7}  {:>4}  {:>6}  failing",
        "submission", "práctica", "beyond", "not run", "exit", "time"
    );
    for (name, report) in rows {
        let tally = tally(report);
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:<6}  {:<7}  {:>4}  {:>5.1}s  {}",
            name,
            format!("{}/{}", tally.practica.0, tally.practica.1),
            format!("{}/{}", tally.beyond.0, tally.beyond.1),
            tally.not_run,
            report.standing().exit_code(),
            report.took.as_secs_f64(),
            tally.failed.join(" ")
        );
    }
    out
}

/// The summary as CSV, a row per submission.
pub fn csv(rows: &[(String, Report)]) -> String {
    let mut out = String::from(
        "submission,standing,exit,practica_passed,practica_total,beyond_passed,beyond_total,not_run,seconds,failed\n",
    );
    for (name, report) in rows {
        let tally = tally(report);
        let standing = report.standing();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{:.1},{}",
            csv_field(name),
            standing.word(),
            standing.exit_code(),
            tally.practica.0,
            tally.practica.1,
            tally.beyond.0,
            tally.beyond.1,
            tally.not_run,
            report.took.as_secs_f64(),
            csv_field(&tally.failed.join(" "))
        );
    }
    out
}

/// `text` as a CSV field: quoted if it holds a comma, a quote or a line
/// break, with quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The worst standing among `reports`: the folder's exit code.
pub fn worst(reports: &[(String, Report)]) -> Standing {
    reports
        .iter()
        .map(|(_, report)| report.standing())
        .max()
        .unwrap_or(Standing::AllPassed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::verdict::{Failure, Outcome, Verdict};
    use pretty_assertions::assert_eq;

    #[test]
    fn options_name_one_role() {
        let options = |json, unix, client, service| {
            RoleOptions {
                json,
                unix,
                client,
                service,
            }
            .role()
        };
        assert_eq!(
            options(false, false, false, false),
            Ok(Role::Server {
                protocol: Protocol::Text,
                transport: Transport::Tcp
            })
        );
        assert_eq!(
            options(true, true, false, false),
            Ok(Role::Server {
                protocol: Protocol::Json,
                transport: Transport::Unix
            })
        );
        assert_eq!(
            options(false, true, true, false),
            Ok(Role::Client {
                transport: Transport::Unix
            })
        );
        assert_eq!(
            options(false, false, false, true),
            Ok(Role::Service {
                transport: Transport::Tcp
            })
        );
        assert!(
            options(false, false, true, true)
                .unwrap_err()
                .contains("two roles")
        );
        assert!(
            options(true, false, true, false)
                .unwrap_err()
                .contains("--json is for a server")
        );
        assert!(
            options(true, false, false, true)
                .unwrap_err()
                .contains("--json is for a server")
        );
    }

    #[test]
    fn an_args_line_holds_options_then_the_command() {
        assert_eq!(
            parse_args("--json -- python3 server.py {file}"),
            Ok((
                Role::Server {
                    protocol: Protocol::Json,
                    transport: Transport::Tcp
                },
                vec!["python3".into(), "server.py".into(), "{file}".into()]
            ))
        );
        assert_eq!(
            parse_args("node  server.js\n"),
            Ok((
                Role::Server {
                    protocol: Protocol::Text,
                    transport: Transport::Tcp
                },
                vec!["node".into(), "server.js".into()]
            ))
        );
        assert_eq!(
            parse_args("--service --unix -- node s.js --json"),
            Ok((
                Role::Service {
                    transport: Transport::Unix
                },
                vec!["node".into(), "s.js".into(), "--json".into()]
            ))
        );
        assert_eq!(
            parse_args("--client --"),
            Err("no command after the options".into())
        );
        assert_eq!(parse_args(""), Err("no command after the options".into()));
        assert_eq!(
            parse_args("--jason -- x"),
            Err("unknown option --jason".into())
        );
        assert!(parse_args("--client --service -- x").is_err());
    }

    #[test]
    fn a_folder_holds_a_submission_per_subfolder_each_with_its_command() {
        let folder = tempfile::tempdir().unwrap();
        for name in ["b", "a", ".hidden", "c"] {
            std::fs::create_dir(folder.path().join(name)).unwrap();
        }
        std::fs::write(
            folder.path().join("a").join(ARGS_FILE),
            "--json -- node s.js\nignored\n",
        )
        .unwrap();
        std::fs::write(folder.path().join("c").join(ARGS_FILE), "--bad -- x\n").unwrap();
        std::fs::write(folder.path().join("not-a-folder"), "").unwrap();
        let found = submissions(folder.path(), None).unwrap();
        assert_eq!(
            found.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(found[0].dir, folder.path().join("a"));
        assert_eq!(
            found[0].command,
            Ok((
                Role::Server {
                    protocol: Protocol::Json,
                    transport: Transport::Tcp
                },
                vec!["node".into(), "s.js".into()]
            ))
        );
        assert_eq!(
            found[1].command,
            Err("no grade.args here, and no command given after --".into())
        );
        assert_eq!(
            found[2].command,
            Err("grade.args: unknown option --bad".into())
        );
        let common = (
            Role::Client {
                transport: Transport::Tcp,
            },
            vec!["x".to_owned()],
        );
        let with_common = submissions(folder.path(), Some(&common)).unwrap();
        assert_eq!(with_common[1].command, Ok(common.clone()));
        assert!(
            with_common[0]
                .command
                .as_ref()
                .is_ok_and(|(role, _)| *role != common.0)
        );
        assert!(submissions(&folder.path().join("none"), None).is_err());
    }

    fn outcome(id: &'static str, practica: bool, verdict: Verdict) -> Outcome {
        Outcome {
            id,
            group: "g",
            name: "n",
            practica,
            verdict,
            took: Duration::ZERO,
            notes: vec![],
        }
    }

    fn rows() -> Vec<(String, Report)> {
        let fail = || Verdict::Fail(Failure::new("e", "g"));
        let report = |outcomes, secs| Report {
            title: String::new(),
            outcomes,
            notes: vec![],
            reached: true,
            took: Duration::from_millis(secs),
        };
        vec![
            (
                "node-correct".to_owned(),
                report(
                    vec![
                        outcome("greeting", true, Verdict::Pass),
                        outcome("flood", false, fail()),
                        outcome("sed", false, fail()),
                    ],
                    9_340,
                ),
            ),
            (
                "a, \"quoted\"".to_owned(),
                report(
                    vec![
                        outcome("greeting", true, fail()),
                        outcome("flood", false, Verdict::NotRun("x".into())),
                    ],
                    120,
                ),
            ),
        ]
    }

    #[test]
    fn a_grade_args_file_from_another_editor_or_no_file_at_all_is_said_as_such() {
        let folder = tempfile::tempdir().unwrap();
        let args = |name: &str| folder.path().join(name).join(ARGS_FILE);
        for name in ["bom", "utf16", "fifo", "folder", "long", "wide", "loop"] {
            std::fs::create_dir(folder.path().join(name)).unwrap();
        }
        std::fs::write(args("bom"), "\u{feff}-- node s.js\r\n").unwrap();
        let utf16: Vec<u8> = "\u{feff}-- node s.js"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        std::fs::write(args("utf16"), utf16).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(args("fifo"))
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        std::fs::create_dir(args("folder")).unwrap();
        // Longer than is read: the first line is cut, not read for ever.
        std::fs::write(args("long"), "-- x ".repeat(100_000)).unwrap();
        // A link to itself: it is there, but cannot be read.
        std::os::unix::fs::symlink(ARGS_FILE, args("loop")).unwrap();
        // A long command (a thousand arguments) is read whole.
        std::fs::write(args("wide"), format!("-- x{}\n", " argument".repeat(1000))).unwrap();
        let found = submissions(folder.path(), None).unwrap();
        let commands: Vec<_> = found.iter().map(|s| s.command.clone()).collect();
        assert_eq!(
            commands[0],
            Ok((
                Role::Server {
                    protocol: Protocol::Text,
                    transport: Transport::Tcp
                },
                vec!["node".into(), "s.js".into()]
            )),
            "bom"
        );
        assert_eq!(
            commands[1],
            Err("grade.args: it is not a regular file".into())
        );
        assert_eq!(
            commands[2],
            Err("grade.args: it is not a regular file".into())
        );
        let Ok((_, long)) = &commands[3] else {
            panic!("{:?}", commands[3])
        };
        let read: usize = long.iter().map(String::len).sum();
        assert!(read <= ARGS_FILE_LIMIT as usize, "{read} bytes read");
        assert_eq!(
            commands[5],
            Err("grade.args: it is not UTF-8 text (saved as UTF-16? save it as UTF-8)".into())
        );
        let Ok((_, wide)) = &commands[6] else {
            panic!("{:?}", commands[6])
        };
        assert_eq!(
            commands[4],
            Err(
                "grade.args: cannot read it: Too many levels of symbolic links (os error 40)"
                    .into()
            )
        );
        assert_eq!(wide.len(), 1001);
    }

    #[test]
    fn the_table_has_a_row_per_submission() {
        assert_eq!(
            table(&rows()),
            "submission    práctica  beyond  not run  exit    time  failing
node-correct  1/1       0/2     0           1    9.3s  flood sed
a, \"quoted\"   0/1       0/1     1           3    0.1s  greeting
"
        );
    }

    #[test]
    fn the_csv_has_a_row_per_submission_quoted_where_needed() {
        assert_eq!(
            csv(&rows()),
            "submission,standing,exit,practica_passed,practica_total,beyond_passed,beyond_total,not_run,seconds,failed
node-correct,practica-passed,1,1,1,0,2,0,9.3,flood sed
\"a, \"\"quoted\"\"\",practica-failed,3,0,1,0,1,1,0.1,greeting
"
        );
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn the_folder_is_as_bad_as_its_worst_submission() {
        assert_eq!(worst(&rows()), Standing::PracticaFailed);
        assert_eq!(worst(&rows()[..1]), Standing::PracticaPassed);
        assert_eq!(worst(&[]), Standing::AllPassed);
    }

    #[test]
    fn a_submission_that_cannot_be_graded_says_why() {
        let submission = Submission {
            name: "x".into(),
            dir: PathBuf::from("/x"),
            command: Err("e".into()),
        };
        let report = ungraded(&submission, "no command");
        assert_eq!(report.standing(), Standing::NotGraded);
        assert_eq!(report.notes, ["Not graded: no command"]);
        let dir = tempfile::tempdir().unwrap();
        let written = write_report(dir.path(), &report, Format::Json).unwrap();
        assert_eq!(written, dir.path().join("results.json"));
        assert!(
            std::fs::read_to_string(written)
                .unwrap()
                .contains("\"status\": \"error\"")
        );
    }
}
