//! Students' submissions for the grader's specs
//! (`tests/fixtures/submissions/NAME/`), each with the verdict it should
//! get, written down by hand in its `expected.txt`; and what a grading
//! may leave behind, looked for.
//!
//! `expected.txt` holds `#` comments, `exit: N` (the grader's exit code),
//! a line `ID: STATUS` per behaviour (`pass`, `fail` or `error`, which is
//! "not run"), optionally followed by `: FRAGMENT` that the failure (or
//! the reason) must contain, and `note: FRAGMENT` lines that the report's
//! notes must contain. The verdicts are not recorded from a run: a fixture
//! blessed from the grader would agree with whatever it gets wrong.

use std::path::{Path, PathBuf};

use super::processes::living_processes_with;
use super::root;

/// The folder of submissions.
pub fn submissions_dir() -> PathBuf {
    root().join("tests/fixtures/submissions")
}

/// What a behaviour's verdict should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedVerdict {
    /// The behaviour's id.
    pub id: String,
    /// `pass`, `fail` or `error`.
    pub status: String,
    /// What the failure or the reason must say.
    pub fragment: Option<String>,
}

/// What a submission's grading should come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The grader's exit code.
    pub exit: u8,
    /// Every behaviour's verdict, in order.
    pub verdicts: Vec<ExpectedVerdict>,
    /// What the notes must say.
    pub notes: Vec<String>,
}

/// The expected verdicts of submission `name`.
pub fn expected(name: &str) -> Expected {
    let path = submissions_dir().join(name).join("expected.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut expected = Expected {
        exit: u8::MAX,
        verdicts: Vec::new(),
        notes: Vec::new(),
    };
    for line in text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
    {
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}: not `key: value`: {line}", path.display()));
        match key {
            "exit" => expected.exit = value.parse().expect("an exit code"),
            "note" => expected.notes.push(value.to_owned()),
            id => {
                let (status, fragment) = match value.split_once(": ") {
                    Some((status, fragment)) => (status, Some(fragment.to_owned())),
                    None => (value, None),
                };
                assert!(
                    ["pass", "fail", "error"].contains(&status),
                    "{}: {id}: unknown status {status}",
                    path.display()
                );
                expected.verdicts.push(ExpectedVerdict {
                    id: id.to_owned(),
                    status: status.to_owned(),
                    fragment,
                });
            }
        }
    }
    assert_ne!(
        expected.exit,
        u8::MAX,
        "{}: no `exit:` line",
        path.display()
    );
    expected
}

/// Every submission's name, in order.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(submissions_dir())
        .expect("the submissions' folder")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The programs still running that a grading under `temp_root` started:
/// every process whose environment names a directory there (the grader
/// gives each program `NET_WATCHER_GRADE_RUN`, its grading's directory),
/// each as its pid and command line.
pub fn programs_left_running(temp_root: &Path) -> Vec<String> {
    let marker = format!("NET_WATCHER_GRADE_RUN={}", temp_root.display());
    living_processes_with(&marker)
        .into_iter()
        .map(|(pid, command)| format!("{pid} {command}"))
        .collect()
}

/// What a grading left in `temp_root`: every entry's name.
pub fn left_in(temp_root: &Path) -> Vec<String> {
    std::fs::read_dir(temp_root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
