//! The three ways a [`Report`] is printed, all from the same outcomes:
//!
//! - [`mocha`], for a person: a line per behaviour under its group, `✓`
//!   for a pass, a number for a failure, `-` for a behaviour not run, the
//!   counts, then each failure with what was expected and what came;
//! - [`exercism`], for a program: the `results.json` of Exercism's test
//!   runners (version 2), which auto-graders already read, with this
//!   grader's own fields added to each test;
//! - [`junit`], the JUnit XML that GitHub Classroom, GitLab and Jenkins
//!   read.

use std::fmt::Write as _;

use serde::Serialize;

use super::verdict::{Report, Verdict};

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person, as Mocha prints a test run.
    Mocha,
    /// Exercism's `results.json`, version 2.
    Json,
    /// JUnit XML.
    Junit,
}

impl Format {
    /// Prints `report` in this format.
    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Mocha => mocha(report),
            Format::Json => {
                let mut text = serde_json::to_string_pretty(&exercism(report))
                    .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
                text.push('\n');
                text
            }
            Format::Junit => junit(report),
        }
    }

    /// The name of the file a report in this format is written to, beside
    /// a submission.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Mocha => "grade.txt",
            Format::Json => "results.json",
            Format::Junit => "junit.xml",
        }
    }
}

/// `report` as Mocha prints a run.
pub fn mocha(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Grading {}", report.title);
    for note in &report.notes {
        let _ = writeln!(out);
        write_wrapped(&mut out, "  Note: ", note);
    }
    let mut group = None;
    let mut failures = Vec::new();
    let mut not_run: Vec<&str> = Vec::new();
    for outcome in &report.outcomes {
        if group != Some(outcome.group) {
            group = Some(outcome.group);
            let _ = writeln!(out);
            let _ = writeln!(out, "  {}", outcome.group);
        }
        match &outcome.verdict {
            Verdict::Pass => {
                let _ = writeln!(out, "    ✓ {}", outcome.name);
            }
            Verdict::Fail(failure) => {
                failures.push((outcome, failure));
                let _ = writeln!(out, "    ✗ {}) {}", failures.len(), outcome.name);
            }
            Verdict::NotRun(reason) => {
                let _ = writeln!(out, "    - {} (not run)", outcome.name);
                if !not_run.contains(&reason.as_str()) {
                    not_run.push(reason);
                }
            }
        }
        for note in &outcome.notes {
            write_wrapped(&mut out, "      (", &format!("{note})"));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {} passing ({:.1}s)",
        report.passing(),
        report.took.as_secs_f64()
    );
    if !failures.is_empty() {
        let _ = writeln!(out, "  {} failing", failures.len());
    }
    if report.not_run() > 0 {
        let _ = writeln!(out, "  {} not run", report.not_run());
    }
    for (number, (outcome, failure)) in failures.iter().enumerate() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  {}) {}", number + 1, outcome.group);
        let _ = writeln!(out, "     {}:", outcome.name);
        write_field(&mut out, "expected", &failure.expected);
        write_field(&mut out, "got", &failure.got);
    }
    for reason in not_run {
        let _ = writeln!(out);
        write_wrapped(&mut out, "  Not run: ", reason);
    }
    shown_not_obeyed(out)
}

/// `text` with every control character but the newline written as an
/// escape (`\u{1b}`, as in JUnit's XML): a report quotes what a program
/// under test printed, and an escape sequence there (colours, a cleared
/// screen, a window's title) must reach the teacher's terminal as text.
fn shown_not_obeyed(text: String) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `prefix` and `text`, with the text's further lines under its first.
fn write_wrapped(out: &mut String, prefix: &str, text: &str) {
    let indent = " ".repeat(prefix.chars().count());
    for (index, line) in text.lines().enumerate() {
        let _ = writeln!(out, "{}{line}", if index == 0 { prefix } else { &indent });
    }
}

/// `     name: text`, with the text's further lines under its first.
fn write_field(out: &mut String, name: &str, text: &str) {
    write_wrapped(out, &format!("     {:<10}", format!("{name}:")), text);
}

/// Exercism's `results.json`, version 2, with this grader's own fields:
/// the fields in the order the format's documentation gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExercismResults {
    /// Always 2.
    pub version: u8,
    /// `pass`, `fail`, or `error` when nothing could run.
    pub status: &'static str,
    /// Why nothing could run, for `error`.
    pub message: Option<String>,
    /// One per behaviour.
    pub tests: Vec<ExercismTest>,
    /// Ours: what was graded.
    pub title: String,
    /// Ours: what the grader noticed about the program.
    pub notes: Vec<String>,
    /// Ours: the grader's exit code.
    pub exit: u8,
}

/// One test of [`ExercismResults`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExercismTest {
    /// The behaviour's name.
    pub name: &'static str,
    /// `pass`, `fail`, or `error` for a behaviour not run.
    pub status: &'static str,
    /// What failed, or why it was not run.
    pub message: Option<String>,
    /// The grader's notes about it.
    pub output: Option<String>,
    /// Ours: the behaviour's stable id.
    pub id: &'static str,
    /// Ours: its group (its `describe`).
    pub group: &'static str,
    /// Ours: whether it is one of the práctica's steps.
    pub practica: bool,
    /// Ours: what a correct program does, for a failure.
    pub expected: Option<String>,
    /// Ours: what this one did, for a failure.
    pub got: Option<String>,
    /// Ours: how long it took, in milliseconds.
    pub ms: u64,
}

/// `report` as Exercism's `results.json`, version 2: a `status` for the
/// run (`pass`, `fail`, or `error` when nothing could run), a `message`
/// that says why in the last case, and one entry per test with its own
/// `status` (`error` for a behaviour not run) and `message`. Added to each
/// test: `id`, `group`, `practica`, `expected`, `got`, `ms`, and the
/// grader's notes in `output`; added to the run: `title`, `notes`, `exit`.
pub fn exercism(report: &Report) -> ExercismResults {
    let status = if !report.reached {
        "error"
    } else if report.passed() {
        "pass"
    } else {
        "fail"
    };
    let message = (!report.reached).then(|| {
        report
            .outcomes
            .iter()
            .find_map(|outcome| match &outcome.verdict {
                Verdict::Fail(failure) => Some(failure.to_string()),
                Verdict::NotRun(reason) => Some(reason.clone()),
                Verdict::Pass => None,
            })
            .unwrap_or_else(|| "the program could not be started".to_owned())
    });
    let tests = report
        .outcomes
        .iter()
        .map(|outcome| {
            let (status, message, expected, got) = match &outcome.verdict {
                Verdict::Pass => ("pass", None, None, None),
                Verdict::Fail(failure) => (
                    "fail",
                    Some(failure.to_string()),
                    Some(failure.expected.clone()),
                    Some(failure.got.clone()),
                ),
                Verdict::NotRun(reason) => {
                    ("error", Some(format!("not run: {reason}")), None, None)
                }
            };
            ExercismTest {
                name: outcome.name,
                status,
                message,
                output: (!outcome.notes.is_empty()).then(|| outcome.notes.join("\n")),
                id: outcome.id,
                group: outcome.group,
                practica: outcome.practica,
                expected,
                got,
                ms: outcome.took.as_millis() as u64,
            }
        })
        .collect();
    ExercismResults {
        version: 2,
        status,
        message,
        tests,
        title: report.title.clone(),
        notes: report.notes.clone(),
        exit: report.standing().exit_code(),
    }
}

/// `report` as JUnit XML: one `testsuite` per group, one `testcase` per
/// behaviour, a `failure` with what was expected and what came, a
/// `skipped` with the reason for a behaviour not run (it is not the
/// program's failure), and the notes in `system-out`.
pub fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        attribute(&report.title),
        report.outcomes.len(),
        report.failing(),
        report.not_run(),
        report.took.as_secs_f64()
    );
    let mut groups: Vec<&str> = Vec::new();
    for outcome in &report.outcomes {
        if !groups.contains(&outcome.group) {
            groups.push(outcome.group);
        }
    }
    for group in groups {
        let members: Vec<_> = report
            .outcomes
            .iter()
            .filter(|o| o.group == group)
            .collect();
        let count =
            |test: fn(&Verdict) -> bool| members.iter().filter(|o| test(&o.verdict)).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
            attribute(group),
            members.len(),
            count(Verdict::failed),
            count(Verdict::not_run),
            members.iter().map(|o| o.took.as_secs_f64()).sum::<f64>()
        );
        for outcome in members {
            let _ = write!(
                out,
                "    <testcase id=\"{}\" classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                outcome.id,
                attribute(group),
                attribute(outcome.name),
                outcome.took.as_secs_f64()
            );
            if outcome.verdict.passed() && outcome.notes.is_empty() {
                let _ = writeln!(out, "/>");
                continue;
            }
            let _ = writeln!(out, ">");
            match &outcome.verdict {
                Verdict::Pass => {}
                Verdict::Fail(failure) => {
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\">expected: {}\ngot: {}</failure>",
                        attribute(&failure.to_string()),
                        escape(&failure.expected),
                        escape(&failure.got)
                    );
                }
                Verdict::NotRun(reason) => {
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", attribute(reason));
                }
            }
            if !outcome.notes.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    escape(&outcome.notes.join("\n"))
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    if !report.notes.is_empty() {
        let _ = writeln!(
            out,
            "  <system-out>{}</system-out>",
            escape(&report.notes.join("\n"))
        );
    }
    out.push_str("</testsuites>\n");
    out
}

/// `text` as an attribute's value: escaped as in [`escape`], and a line
/// break written as a character reference, which a reader keeps (a bare
/// one in an attribute is read as a space).
fn attribute(text: &str) -> String {
    escape(text).replace('\n', "&#10;").replace('\t', "&#9;")
}

/// `text` with what XML gives a meaning escaped, in text and in attribute
/// values alike; control characters other than tab and newline (which XML
/// 1.0 cannot carry at all) written as `\u{…}`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::grade::verdict::{Failure, Outcome};
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    /// The results as a JSON value, to compare with one written out.
    fn exercism_value(report: &Report) -> Value {
        serde_json::to_value(exercism(report)).unwrap()
    }

    fn sample() -> Report {
        Report {
            title: "node net-watcher.js {file} (a server speaking plain text on TCP)".to_owned(),
            outcomes: vec![
                Outcome {
                    id: "greeting",
                    group: "plain text (step 1)",
                    name: "greets each subscriber",
                    practica: true,
                    verdict: Verdict::Pass,
                    took: Duration::from_millis(120),
                    notes: vec!["notifications took up to 1.6 s".to_owned()],
                },
                Outcome {
                    id: "atomic-save",
                    group: "beyond the práctica",
                    name: "notices an atomic save",
                    practica: false,
                    verdict: Verdict::Fail(Failure::new("one notification", "none\nat all")),
                    took: Duration::from_millis(5000),
                    notes: vec![],
                },
                Outcome {
                    id: "flood",
                    group: "beyond the práctica",
                    name: "merges <300> & \"more\"",
                    practica: false,
                    verdict: Verdict::NotRun("interrupted by SIGINT".to_owned()),
                    took: Duration::ZERO,
                    notes: vec![],
                },
            ],
            notes: vec!["it ignores PORT".to_owned()],
            reached: true,
            took: Duration::from_millis(2500),
        }
    }

    #[test]
    fn mocha_reads_like_mochas_with_what_was_expected_and_what_came() {
        assert_eq!(
            mocha(&sample()),
            "Grading node net-watcher.js {file} (a server speaking plain text on TCP)

  Note: it ignores PORT

  plain text (step 1)
    ✓ greets each subscriber
      (notifications took up to 1.6 s)

  beyond the práctica
    ✗ 1) notices an atomic save
    - merges <300> & \"more\" (not run)

  1 passing (2.5s)
  1 failing
  1 not run

  1) beyond the práctica
     notices an atomic save:
     expected: one notification
     got:      none
               at all

  Not run: interrupted by SIGINT
"
        );
        assert_eq!(Format::Mocha.render(&sample()), mocha(&sample()));
    }

    #[test]
    fn mocha_shows_a_programs_escape_sequences_as_text() {
        let mut report = sample();
        report.outcomes[1].verdict = Verdict::Fail(Failure::new(
            "one notification",
            "it said:\n | \u{1b}[2J\u{1b}]0;owned\u{7}\r\tdone",
        ));
        let text = mocha(&report);
        assert!(
            text.contains(" | \\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{d}\\u{9}done\n"),
            "{text}"
        );
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }

    #[test]
    fn a_report_without_failures_says_only_what_passed() {
        let mut report = sample();
        report.outcomes.truncate(1);
        report.notes.clear();
        let text = mocha(&report);
        assert!(text.ends_with("  1 passing (2.5s)\n"), "{text}");
        assert!(!text.contains("failing") && !text.contains("not run") && !text.contains("Note"));
    }

    #[test]
    fn exercism_gives_a_status_per_test_and_our_own_fields() {
        assert_eq!(
            exercism_value(&sample()),
            json!({
                "version": 2,
                "status": "fail",
                "message": null,
                "tests": [
                    {"name": "greets each subscriber", "status": "pass", "message": null,
                     "output": "notifications took up to 1.6 s", "id": "greeting",
                     "group": "plain text (step 1)", "practica": true, "expected": null,
                     "got": null, "ms": 120},
                    {"name": "notices an atomic save", "status": "fail",
                     "message": "expected one notification; got none\nat all", "output": null,
                     "id": "atomic-save", "group": "beyond the práctica", "practica": false,
                     "expected": "one notification", "got": "none\nat all", "ms": 5000},
                    {"name": "merges <300> & \"more\"", "status": "error",
                     "message": "not run: interrupted by SIGINT", "output": null, "id": "flood",
                     "group": "beyond the práctica", "practica": false, "expected": null,
                     "got": null, "ms": 0},
                ],
                "title": "node net-watcher.js {file} (a server speaking plain text on TCP)",
                "notes": ["it ignores PORT"],
                "exit": 1,
            })
        );
        let text = Format::Json.render(&sample());
        assert!(text.ends_with("}\n"));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            exercism_value(&sample())
        );
        assert!(
            text.starts_with("{\n  \"version\": 2,\n  \"status\": \"fail\","),
            "{text}"
        );
    }

    #[test]
    fn exercism_says_error_with_its_reason_when_nothing_could_run() {
        let mut report = sample();
        report.reached = false;
        report.outcomes[0].verdict = Verdict::Fail(Failure::new("it to start", "it exited"));
        let value = exercism_value(&report);
        assert_eq!(value["status"], "error");
        assert_eq!(value["message"], "expected it to start; got it exited");
        assert_eq!(value["exit"], 4);
        report.outcomes.retain(|outcome| outcome.verdict.not_run());
        assert_eq!(exercism_value(&report)["message"], "interrupted by SIGINT");
        report.outcomes.clear();
        assert_eq!(
            exercism_value(&report)["message"],
            "the program could not be started"
        );
        let mut passed = sample();
        passed.outcomes.truncate(1);
        assert_eq!(exercism_value(&passed)["status"], "pass");
        assert_eq!(exercism_value(&passed)["exit"], 0);
    }

    #[test]
    fn junit_has_a_suite_per_group_and_a_case_per_behaviour() {
        assert_eq!(
            junit(&sample()),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="node net-watcher.js {file} (a server speaking plain text on TCP)" tests="3" failures="1" errors="0" skipped="1" time="2.500">
  <testsuite name="plain text (step 1)" tests="1" failures="0" errors="0" skipped="0" time="0.120">
    <testcase id="greeting" classname="plain text (step 1)" name="greets each subscriber" time="0.120">
      <system-out>notifications took up to 1.6 s</system-out>
    </testcase>
  </testsuite>
  <testsuite name="beyond the práctica" tests="2" failures="1" errors="0" skipped="1" time="5.000">
    <testcase id="atomic-save" classname="beyond the práctica" name="notices an atomic save" time="5.000">
      <failure message="expected one notification; got none&#10;at all">expected: one notification
got: none
at all</failure>
    </testcase>
    <testcase id="flood" classname="beyond the práctica" name="merges &lt;300&gt; &amp; &quot;more&quot;" time="0.000">
      <skipped message="interrupted by SIGINT"/>
    </testcase>
  </testsuite>
  <system-out>it ignores PORT</system-out>
</testsuites>
"#
        );
        assert_eq!(Format::Junit.render(&sample()), junit(&sample()));
    }

    #[test]
    fn a_passing_case_without_notes_is_one_element() {
        let mut report = sample();
        report.outcomes[0].notes.clear();
        report.outcomes.truncate(1);
        report.notes.clear();
        let xml = junit(&report);
        assert!(
            xml.contains("time=\"0.120\"/>\n  </testsuite>\n</testsuites>\n"),
            "{xml}"
        );
    }

    #[test]
    fn xml_escapes_what_it_gives_a_meaning_and_what_it_cannot_carry() {
        assert_eq!(
            escape("a<b>&\"c'\td\ne\r\u{1b}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\td\ne\\u{d}\\u{1b}"
        );
    }

    #[test]
    fn each_format_has_its_file() {
        assert_eq!(
            [Format::Mocha, Format::Json, Format::Junit].map(Format::file_name),
            ["grade.txt", "results.json", "junit.xml"]
        );
    }
}
