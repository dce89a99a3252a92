//! The report of a grading run, printed as Mocha prints a test run: a line
//! per behaviour under its group, `✓` for a pass and a number for a
//! failure, the counts, then each failure with what was expected and what
//! came.

use std::fmt;
use std::time::Duration;

use super::Verdict;

/// One behaviour's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its group.
    pub group: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Pass, or why not.
    pub verdict: Verdict,
    /// How long it took.
    pub took: Duration,
}

/// Every behaviour's result, in order.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was graded: the command, and as what.
    pub title: String,
    /// The results.
    pub outcomes: Vec<Outcome>,
    /// How long the whole run took.
    pub took: Duration,
}

impl Report {
    /// How many behaviours passed.
    pub fn passing(&self) -> usize {
        self.outcomes.iter().filter(|o| o.verdict.is_ok()).count()
    }

    /// How many failed.
    pub fn failing(&self) -> usize {
        self.outcomes.len() - self.passing()
    }

    /// Whether every behaviour passed.
    pub fn passed(&self) -> bool {
        self.failing() == 0
    }

    /// The verdict of the behaviour named `name`, if it ran.
    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.outcomes
            .iter()
            .find(|outcome| outcome.name == name)
            .map(|outcome| &outcome.verdict)
    }

    /// The names of the behaviours that failed, in order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.verdict.is_err())
            .map(|outcome| outcome.name)
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Grading {}", self.title)?;
        let mut group = None;
        let mut failures = Vec::new();
        for outcome in &self.outcomes {
            if group != Some(outcome.group) {
                group = Some(outcome.group);
                writeln!(f)?;
                writeln!(f, "  {}", outcome.group)?;
            }
            match &outcome.verdict {
                Ok(()) => writeln!(f, "    ✓ {}", outcome.name)?,
                Err(failure) => {
                    failures.push((outcome, failure));
                    writeln!(f, "    ✗ {}) {}", failures.len(), outcome.name)?;
                }
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "  {} passing ({:.1}s)",
            self.passing(),
            self.took.as_secs_f64()
        )?;
        if !failures.is_empty() {
            writeln!(f, "  {} failing", failures.len())?;
        }
        for (number, (outcome, failure)) in failures.iter().enumerate() {
            writeln!(f)?;
            writeln!(f, "  {}) {}", number + 1, outcome.group)?;
            writeln!(f, "     {}:", outcome.name)?;
            write_field(f, "expected", &failure.expected)?;
            write_field(f, "got", &failure.got)?;
        }
        Ok(())
    }
}

/// `     name: text`, with the text's further lines under its first.
fn write_field(f: &mut fmt::Formatter<'_>, name: &str, text: &str) -> fmt::Result {
    let indent = " ".repeat(5 + "expected: ".len());
    let mut lines = text.lines();
    writeln!(
        f,
        "     {:<10}{}",
        format!("{name}:"),
        lines.next().unwrap_or("")
    )?;
    for line in lines {
        writeln!(f, "{indent}{line}")?;
    }
    Ok(())
}
