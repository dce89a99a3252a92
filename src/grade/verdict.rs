//! What a grading comes to: a [`Verdict`] per behaviour, gathered with its
//! stable id and what the grader noticed into an [`Outcome`], and the
//! outcomes of one program into a [`Report`], whose [`Standing`] is the
//! exit code. Plain data: the reporters (`report`) print it.

use std::fmt;
use std::time::Duration;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It holds.
    Pass,
    /// It does not: what was expected, and what came.
    Fail(Failure),
    /// It could not be judged: the program could not be started, its
    /// address was taken by another program, the grader was interrupted,
    /// or the grader itself could not prepare what it needed. Not counted
    /// as the program's failure.
    NotRun(String),
}

impl Verdict {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    /// Whether it failed (not "not run").
    pub fn failed(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    /// Whether it was not run.
    pub fn not_run(&self) -> bool {
        matches!(self, Verdict::NotRun(_))
    }
}

/// How a behaviour's check stops short of a pass: a failure of the
/// program, or a reason it could not be judged. What `?` carries out of a
/// check; a [`Failure`] converts into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The program failed.
    Fail(Failure),
    /// The behaviour could not be judged, for this reason.
    NotRun(String),
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Stop::Fail(failure)
    }
}

impl From<Result<(), Stop>> for Verdict {
    fn from(checked: Result<(), Stop>) -> Self {
        match checked {
            Ok(()) => Verdict::Pass,
            Err(Stop::Fail(failure)) => Verdict::Fail(failure),
            Err(Stop::NotRun(reason)) => Verdict::NotRun(reason),
        }
    }
}

/// One behaviour's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Its stable id, the same in every report and release (`greeting`,
    /// `change-line`, `departure`...).
    pub id: &'static str,
    /// Its group (a Mocha `describe`).
    pub group: &'static str,
    /// Its name (a Mocha `it`).
    pub name: &'static str,
    /// Whether it is one of the práctica's steps, rather than beyond them.
    pub practica: bool,
    /// Pass, fail, or not run.
    pub verdict: Verdict,
    /// How long it took.
    pub took: Duration,
    /// What the grader noticed that is not a failure: a field the book's
    /// message does not have, notifications that took over a second.
    pub notes: Vec<String>,
}

/// Every behaviour's result for one program, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What was graded: the command, and as what.
    pub title: String,
    /// The results.
    pub outcomes: Vec<Outcome>,
    /// What the grader noticed about the program as a whole: it ignores
    /// `PORT`, it ignored SIGTERM.
    pub notes: Vec<String>,
    /// Whether the program was ever reached: a server listened, a client
    /// connected.
    pub reached: bool,
    /// How long the whole grading took.
    pub took: Duration,
}

/// Where a report leaves the program, from best to worst: the grader's
/// exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Every behaviour passed.
    AllPassed,
    /// The práctica's steps passed; something beyond them failed or was
    /// not run.
    PracticaPassed,
    /// A práctica step failed.
    PracticaFailed,
    /// The program could not be started, or a práctica step could not be
    /// run (the report says why): nothing to grade it on.
    NotGraded,
}

impl Standing {
    /// The exit code that says it: 0, 1, 3 and 4 (2 is the usual code for
    /// a mistake in the command line, which clap keeps).
    pub fn exit_code(self) -> u8 {
        match self {
            Standing::AllPassed => 0,
            Standing::PracticaPassed => 1,
            Standing::PracticaFailed => 3,
            Standing::NotGraded => 4,
        }
    }

    /// A word for it, for a summary table or a CSV file.
    pub fn word(self) -> &'static str {
        match self {
            Standing::AllPassed => "passed",
            Standing::PracticaPassed => "practica-passed",
            Standing::PracticaFailed => "practica-failed",
            Standing::NotGraded => "not-graded",
        }
    }
}

impl Report {
    /// How many behaviours passed.
    pub fn passing(&self) -> usize {
        self.outcomes.iter().filter(|o| o.verdict.passed()).count()
    }

    /// How many failed.
    pub fn failing(&self) -> usize {
        self.outcomes.iter().filter(|o| o.verdict.failed()).count()
    }

    /// How many were not run.
    pub fn not_run(&self) -> usize {
        self.outcomes.iter().filter(|o| o.verdict.not_run()).count()
    }

    /// Whether every behaviour passed.
    pub fn passed(&self) -> bool {
        self.passing() == self.outcomes.len()
    }

    /// The outcome of the behaviour whose id is `id`, if it ran.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|outcome| outcome.id == id)
    }

    /// The ids of the behaviours that failed, in order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.verdict.failed())
            .map(|outcome| outcome.id)
            .collect()
    }

    /// Where it leaves the program (see [`Standing`]).
    pub fn standing(&self) -> Standing {
        let practica = || self.outcomes.iter().filter(|outcome| outcome.practica);
        if !self.reached || practica().any(|outcome| outcome.verdict.not_run()) {
            Standing::NotGraded
        } else if practica().any(|outcome| outcome.verdict.failed()) {
            Standing::PracticaFailed
        } else if self.passed() {
            Standing::AllPassed
        } else {
            Standing::PracticaPassed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: &'static str, practica: bool, verdict: Verdict) -> Outcome {
        Outcome {
            id,
            group: "g",
            name: "n",
            practica,
            verdict,
            took: Duration::ZERO,
            notes: Vec::new(),
        }
    }

    fn report(outcomes: Vec<Outcome>) -> Report {
        Report {
            title: String::new(),
            outcomes,
            notes: Vec::new(),
            reached: true,
            took: Duration::ZERO,
        }
    }

    fn fail() -> Verdict {
        Verdict::Fail(Failure::new("e", "g"))
    }

    #[test]
    fn the_standing_follows_the_practicas_steps_first() {
        let all = report(vec![
            outcome("a", true, Verdict::Pass),
            outcome("b", false, Verdict::Pass),
        ]);
        assert_eq!(all.standing(), Standing::AllPassed);
        let beyond = report(vec![
            outcome("a", true, Verdict::Pass),
            outcome("b", false, fail()),
        ]);
        assert_eq!(beyond.standing(), Standing::PracticaPassed);
        let beyond_not_run = report(vec![
            outcome("a", true, Verdict::Pass),
            outcome("b", false, Verdict::NotRun("x".into())),
        ]);
        assert_eq!(beyond_not_run.standing(), Standing::PracticaPassed);
        let step = report(vec![
            outcome("a", true, fail()),
            outcome("b", false, Verdict::Pass),
        ]);
        assert_eq!(step.standing(), Standing::PracticaFailed);
        let step_not_run = report(vec![
            outcome("a", true, fail()),
            outcome("c", true, Verdict::NotRun("x".into())),
        ]);
        assert_eq!(step_not_run.standing(), Standing::NotGraded);
        let mut never = report(vec![outcome("a", true, Verdict::Pass)]);
        never.reached = false;
        assert_eq!(never.standing(), Standing::NotGraded);
    }

    #[test]
    fn each_standing_has_its_own_exit_code_and_word() {
        let all = [
            Standing::AllPassed,
            Standing::PracticaPassed,
            Standing::PracticaFailed,
            Standing::NotGraded,
        ];
        assert_eq!(all.map(Standing::exit_code), [0, 1, 3, 4]);
        assert_eq!(
            all.map(Standing::word),
            ["passed", "practica-passed", "practica-failed", "not-graded"]
        );
        assert!(Standing::AllPassed < Standing::PracticaPassed);
        assert!(Standing::PracticaFailed < Standing::NotGraded);
    }

    #[test]
    fn a_report_counts_and_finds_its_outcomes() {
        let report = report(vec![
            outcome("a", true, Verdict::Pass),
            outcome("b", true, fail()),
            outcome("c", false, Verdict::NotRun("x".into())),
            outcome("d", false, fail()),
        ]);
        assert_eq!(
            (report.passing(), report.failing(), report.not_run()),
            (1, 2, 1)
        );
        assert!(!report.passed());
        assert_eq!(report.failed(), ["b", "d"]);
        assert_eq!(report.outcome("c").map(|o| o.id), Some("c"));
        assert!(report.outcome("z").is_none());
    }

    #[test]
    fn a_check_stops_with_a_failure_or_a_reason() {
        assert_eq!(Verdict::from(Ok(())), Verdict::Pass);
        let failure = Failure::new("e", "g");
        assert_eq!(
            Verdict::from(Err(Stop::from(failure.clone()))),
            Verdict::Fail(failure.clone())
        );
        assert_eq!(
            Verdict::from(Err(Stop::NotRun("why".into()))),
            Verdict::NotRun("why".into())
        );
        assert_eq!(failure.to_string(), "expected e; got g");
        assert!(Verdict::Pass.passed() && !Verdict::Pass.failed() && !Verdict::Pass.not_run());
        assert!(fail().failed() && !fail().passed());
        assert!(Verdict::NotRun(String::new()).not_run());
    }
}
