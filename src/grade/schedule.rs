//! Running the behaviours of many programs at once, within one budget of
//! parallel slots: how one program is graded, and how a folder of them is.
//!
//! Each program's first behaviour runs alone first: it finds out whether
//! the program can be reached at all, where a program without an address
//! placeholder listens, and whether it greets. If it cannot be reached,
//! its other behaviours are not run (each would only wait out the same
//! timeout to say the same thing). Once it is reached, its other
//! behaviours are started as slots come free: the long ones first, then
//! in order. Programs are taken in order, so that each is done soon after
//! it began, and a later program's first behaviour fills a slot that the
//! earlier ones cannot.
//!
//! A start that must not depend on the machine (see `isolation`) runs on
//! a thread of its own in a network namespace of its own, or while this
//! grader holds the book's address's lock. A behaviour that ends after
//! the grader was interrupted is reported as not run.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::Behaviour;
use super::isolation::{self, BooksAddressLock};
use super::reaper;
use super::subject::{Needs, Subject};
use super::verdict::{Outcome, Report, Verdict};

/// How often the scheduler looks again at what it waits for without a
/// signal: a first start being reached, a lock another grader holds.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

/// The state of one program's grading.
struct Grading<'a> {
    subject: &'a Subject,
    behaviours: &'a [Behaviour],
    outcomes: Vec<Option<Outcome>>,
    /// Behaviours not yet started, after the first, long ones first.
    waiting: VecDeque<usize>,
    first_started: bool,
    running: usize,
    began: Option<Instant>,
    ended: Option<Instant>,
}

impl<'a> Grading<'a> {
    fn new(subject: &'a Subject, behaviours: &'a [Behaviour]) -> Self {
        let mut waiting: Vec<usize> = (1..behaviours.len()).collect();
        waiting.sort_by_key(|index| !behaviours[*index].long);
        Grading {
            subject,
            behaviours,
            outcomes: behaviours.iter().map(|_| None).collect(),
            waiting: waiting.into(),
            first_started: behaviours.is_empty(),
            running: 0,
            began: None,
            ended: None,
        }
    }

    /// Whether every behaviour has an outcome.
    fn is_done(&self) -> bool {
        self.outcomes.iter().all(Option::is_some)
    }

    /// The next behaviour to start, if one may start now.
    fn next(&mut self) -> Option<usize> {
        if !self.first_started {
            self.first_started = true;
            return Some(0);
        }
        if self.subject.was_reached() {
            return self.waiting.pop_front();
        }
        None
    }

    /// Gives every behaviour not yet started `verdict`.
    fn give_the_rest(&mut self, verdict: &Verdict) {
        while let Some(index) = self.waiting.pop_front() {
            let behaviour = &self.behaviours[index];
            self.outcomes[index] = Some(Outcome {
                id: behaviour.id,
                group: behaviour.group,
                name: behaviour.name,
                practica: behaviour.practica,
                verdict: verdict.clone(),
                took: Duration::ZERO,
                notes: Vec::new(),
            });
        }
    }

    /// The report, once every behaviour has an outcome.
    fn report(&mut self) -> Report {
        let subject = self.subject;
        Report {
            title: format!("{} ({})", subject.command_line(), subject.role()),
            outcomes: self
                .outcomes
                .iter_mut()
                .map(|slot| slot.take().expect("every behaviour has an outcome"))
                .collect(),
            notes: subject.notes(),
            reached: subject.was_reached(),
            took: match (self.began, self.ended) {
                (Some(began), Some(ended)) => ended - began,
                _ => Duration::ZERO,
            },
        }
    }
}

/// The reason behind a first behaviour's verdict that the others share
/// when the program was never reached.
fn not_reached(first: &Verdict) -> Verdict {
    match first {
        Verdict::NotRun(reason) => Verdict::NotRun(reason.clone()),
        _ => {
            Verdict::NotRun("the program could not be started (see the first behaviour)".to_owned())
        }
    }
}

/// What the grader was interrupted by, as a reason.
fn interruption(signal: i32) -> Verdict {
    Verdict::NotRun(format!(
        "the grader was interrupted by {}",
        reaper::signal_name(signal)
    ))
}

/// A behaviour that finished: which program, which behaviour, when.
struct Finished {
    grading: usize,
    index: usize,
    outcome: Outcome,
    at: Instant,
}

/// Grades each subject on its behaviours, at most `budget` behaviours at
/// a time across all of them, and returns one report per subject, in
/// order. `on_report` is called as each program's report is complete.
pub fn grade_many(
    gradings: &[(&Subject, Vec<Behaviour>)],
    budget: usize,
    on_report: impl Fn(usize, &Report),
) -> Vec<Report> {
    let budget = budget.max(1);
    let mut states: Vec<Grading> = gradings
        .iter()
        .map(|(subject, behaviours)| Grading::new(subject, behaviours))
        .collect();
    let mut reports: Vec<Option<Report>> = gradings.iter().map(|_| None).collect();
    let (finished, results) = mpsc::channel::<Finished>();
    let mut running = 0;
    thread::scope(|scope| {
        loop {
            // What has finished.
            let mut wait = if running == budget {
                None
            } else {
                Some(LOOK_AGAIN)
            };
            loop {
                let next = match wait {
                    None if running > 0 => results.recv().ok(),
                    None => None,
                    Some(timeout) => results.recv_timeout(timeout).ok(),
                };
                let Some(done) = next else { break };
                running -= 1;
                wait = Some(Duration::ZERO);
                let state = &mut states[done.grading];
                state.running -= 1;
                state.ended = Some(state.ended.map_or(done.at, |ended| ended.max(done.at)));
                let mut outcome = done.outcome;
                if let Some(signal) = reaper::interrupted() {
                    outcome.verdict = interruption(signal);
                }
                if done.index == 0 {
                    state.subject.mark_first_behaviour_over();
                    if !state.subject.was_reached() {
                        state.give_the_rest(&not_reached(&outcome.verdict));
                    }
                }
                state.outcomes[done.index] = Some(outcome);
            }
            if let Some(signal) = reaper::interrupted() {
                for state in &mut states {
                    state.first_started = true;
                    state.give_the_rest(&interruption(signal));
                    if state.outcomes[0].is_none()
                        && state.running == 0
                        && !state.behaviours.is_empty()
                    {
                        let first = &state.behaviours[0];
                        state.outcomes[0] = Some(Outcome {
                            id: first.id,
                            group: first.group,
                            name: first.name,
                            practica: first.practica,
                            verdict: interruption(signal),
                            took: Duration::ZERO,
                            notes: Vec::new(),
                        });
                    }
                }
            }
            // What is complete.
            for (index, state) in states.iter_mut().enumerate() {
                if reports[index].is_none() && state.running == 0 && state.is_done() {
                    let report = state.report();
                    on_report(index, &report);
                    reports[index] = Some(report);
                }
            }
            if reports.iter().all(Option::is_some) {
                break;
            }
            // What may start.
            while running < budget {
                let Some((grading, index, lock)) = pick(&mut states) else {
                    break;
                };
                running += 1;
                let state = &mut states[grading];
                state.running += 1;
                state.began.get_or_insert_with(Instant::now);
                let subject = state.subject;
                let behaviour = state.behaviours[index];
                let finished = finished.clone();
                let private = subject.needs() == Needs::PrivateNetwork;
                scope.spawn(move || {
                    let _lock = lock;
                    let outcome = if private {
                        match isolation::enter_private_network() {
                            Ok(()) => behaviour.run(subject),
                            Err(error) => Outcome {
                                id: behaviour.id,
                                group: behaviour.group,
                                name: behaviour.name,
                                practica: behaviour.practica,
                                verdict: Verdict::NotRun(format!(
                                    "the grader could not make a network namespace for this program, which ignores PORT: {error}"
                                )),
                                took: Duration::ZERO,
                                notes: Vec::new(),
                            },
                        }
                    } else {
                        behaviour.run(subject)
                    };
                    let _ = finished.send(Finished {
                        grading,
                        index,
                        outcome,
                        at: Instant::now(),
                    });
                });
            }
        }
    });
    reports
        .into_iter()
        .map(|report| report.expect("every report is complete"))
        .collect()
}

/// The next behaviour to start: one of a program already begun, in
/// program order, so that each program is done soon after it began; else
/// the first behaviour of the next program. A start that needs the book's
/// address is only picked while this grader can hold its lock, which goes
/// with it.
fn pick(states: &mut [Grading]) -> Option<(usize, usize, Option<BooksAddressLock>)> {
    pick_among(states, true).or_else(|| pick_among(states, false))
}

/// [`pick`] among the programs begun (`begun`) or not yet begun.
fn pick_among(
    states: &mut [Grading],
    begun: bool,
) -> Option<(usize, usize, Option<BooksAddressLock>)> {
    for (grading, state) in states.iter_mut().enumerate() {
        let first_pending = !state.first_started;
        if first_pending == begun {
            continue;
        }
        if !first_pending && !state.subject.first_start_is_known() {
            continue;
        }
        let lock = match state.subject.needs() {
            Needs::BooksAddress if first_pending || state.subject.was_reached() => {
                match BooksAddressLock::try_take(&state.subject.role().transport().books_address())
                {
                    Some(lock) => Some(lock),
                    None => continue,
                }
            }
            _ => None,
        };
        if let Some(index) = state.next() {
            return Some((grading, index, lock));
        }
    }
    None
}
