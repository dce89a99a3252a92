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
            self.outcomes[index] = Some(behaviour.outcome_without_running(verdict.clone()));
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
    schedule(gradings, budget, on_report, reaper::interrupted)
}

/// [`grade_many`], told by `interrupted` whether (and by which signal) the
/// grader has been interrupted: the reaper's word, or a unit test's, since
/// the reaper's is for the whole process and cannot be taken back.
fn schedule(
    gradings: &[(&Subject, Vec<Behaviour>)],
    budget: usize,
    on_report: impl Fn(usize, &Report),
    interrupted: impl Fn() -> Option<i32>,
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
                    // Every slot is taken (the budget is at least 1): only
                    // a behaviour that ends can free one.
                    None => results.recv().ok(),
                    Some(timeout) => results.recv_timeout(timeout).ok(),
                };
                let Some(done) = next else { break };
                running -= 1;
                wait = Some(Duration::ZERO);
                let state = &mut states[done.grading];
                state.running -= 1;
                state.ended = Some(state.ended.map_or(done.at, |ended| ended.max(done.at)));
                let mut outcome = done.outcome;
                if let Some(signal) = interrupted() {
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
            if let Some(signal) = interrupted() {
                for state in &mut states {
                    state.first_started = true;
                    state.give_the_rest(&interruption(signal));
                    // A first behaviour never started (a program with no
                    // behaviours has none to give a verdict to).
                    if state.running == 0 && state.outcomes.first().is_some_and(Option::is_none) {
                        let first = &state.behaviours[0];
                        state.outcomes[0] =
                            Some(first.outcome_without_running(interruption(signal)));
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
                            Err(error) => behaviour.outcome_without_running(Verdict::NotRun(format!(
                                "the grader could not make a network namespace for this program, which ignores PORT: {error}"
                            ))),
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
            // (A program begun and not reached has nothing more to start:
            // taking the lock then only to let it go changes nothing.)
            Needs::BooksAddress => {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    use super::*;
    use crate::grade::net::Transport;
    use crate::grade::verdict::{Failure, Stop};
    use crate::grade::{Checked, Role, Settings, Trial};
    use crate::lock::lock;
    use crate::protocol::Protocol;

    const TEXT_ON_TCP: Role = Role::Server {
        protocol: Protocol::Text,
        transport: Transport::Tcp,
    };

    /// A behaviour called `id` that runs `check`.
    fn behaviour(id: &'static str, check: fn(&mut Trial) -> Checked) -> Behaviour {
        Behaviour {
            id,
            group: "g",
            name: id,
            practica: true,
            check,
            long: false,
        }
    }

    fn reaches(trial: &mut Trial) -> Checked {
        trial.subject.mark_reached();
        Ok(())
    }

    fn passes(_: &mut Trial) -> Checked {
        Ok(())
    }

    fn fails(_: &mut Trial) -> Checked {
        Err(Failure::new("it to start", "it did not").into())
    }

    fn cannot_run(_: &mut Trial) -> Checked {
        Err(Stop::NotRun("port 60300 is taken".into()))
    }

    /// A subject that listens where it is told (its start needs nothing),
    /// or, `told` false, one that may ignore `PORT`.
    fn subject(command: &str, told: bool, settings: Settings) -> Subject {
        let mut words = vec![command.to_owned()];
        if told {
            words.push("{port}".to_owned());
        }
        Subject::new(words, TEXT_ON_TCP, settings)
    }

    /// The settings of a unit test's gradings: their directories under
    /// `root`.
    fn settings(root: &tempfile::TempDir) -> Settings {
        Settings {
            temp_root: root.path().to_path_buf(),
            ..Settings::default()
        }
    }

    /// Runs `work` on a thread of its own and returns what it returns; a
    /// schedule that never ends fails the test after 20 s, rather than
    /// hanging the run.
    fn within_time<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(work());
        });
        result
            .recv_timeout(Duration::from_secs(20))
            .expect("the schedule ended (and did not panic) within 20 s")
    }

    /// The verdicts of `report`, by id.
    fn verdicts(report: &Report) -> Vec<(&'static str, Verdict)> {
        report
            .outcomes
            .iter()
            .map(|outcome| (outcome.id, outcome.verdict.clone()))
            .collect()
    }

    #[test]
    fn a_program_never_reached_gives_its_first_behaviours_reason_to_the_rest() {
        let reports = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let failing = subject("a", true, settings(&root));
            let not_run = subject("b", true, settings(&root));
            let fail_first = vec![behaviour("one", fails), behaviour("two", passes)];
            let not_run_first = vec![
                behaviour("one", cannot_run),
                behaviour("two", passes),
                behaviour("three", passes),
            ];
            grade_many(
                &[(&failing, fail_first), (&not_run, not_run_first)],
                4,
                |_, _| {},
            )
        });
        assert_eq!(
            verdicts(&reports[0]),
            [
                (
                    "one",
                    Verdict::Fail(Failure::new("it to start", "it did not"))
                ),
                (
                    "two",
                    Verdict::NotRun(
                        "the program could not be started (see the first behaviour)".into()
                    )
                ),
            ]
        );
        assert!(!reports[0].reached);
        assert_eq!(reports[0].outcomes[1].took, Duration::ZERO);
        let taken = Verdict::NotRun("port 60300 is taken".into());
        assert_eq!(
            verdicts(&reports[1]),
            [
                ("one", taken.clone()),
                ("two", taken.clone()),
                ("three", taken)
            ]
        );
    }

    #[test]
    fn a_reached_program_has_every_behaviour_run_long_ones_first_reported_in_order() {
        static STARTED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
        fn first(trial: &mut Trial) -> Checked {
            lock(&STARTED).push("first");
            // Time must pass, for the report's `took` to have a length to
            // show (it is asserted at least 30 ms below).
            thread::sleep(Duration::from_millis(30));
            reaches(trial)
        }
        fn short(_: &mut Trial) -> Checked {
            lock(&STARTED).push("short");
            Ok(())
        }
        fn long(_: &mut Trial) -> Checked {
            lock(&STARTED).push("long");
            Err(Failure::new("more", "less").into())
        }
        let (report, reported) = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = subject("a-program", true, settings(&root));
            let mut list = vec![
                behaviour("first", first),
                behaviour("short", short),
                behaviour("long", long),
            ];
            list[2].long = true;
            let reported = Mutex::new(Vec::new());
            let report = grade_many(&[(&subject, list)], 1, |index, report| {
                lock(&reported).push((index, report.outcomes.len()));
            })
            .pop()
            .unwrap();
            (report, reported.into_inner().unwrap())
        });
        assert_eq!(*lock(&STARTED), ["first", "long", "short"]);
        assert_eq!(
            verdicts(&report),
            [
                ("first", Verdict::Pass),
                ("short", Verdict::Pass),
                ("long", Verdict::Fail(Failure::new("more", "less"))),
            ]
        );
        assert_eq!(reported, [(0, 3)], "reported once, when complete");
        assert_eq!(
            report.title,
            "a-program {port} (a server speaking plain text on TCP)"
        );
        assert!(report.reached);
        assert!(report.notes.is_empty());
        assert!(
            report.took >= Duration::from_millis(30),
            "{:?}",
            report.took
        );
        assert!(report.took < Duration::from_secs(10), "{:?}", report.took);
    }

    #[test]
    fn programs_are_graded_in_order_each_to_its_end_and_reported_as_each_ends() {
        static STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
        fn noted(trial: &mut Trial) -> Checked {
            let command = trial.subject.command_line();
            lock(&STARTED).push(command);
            trial.subject.mark_reached();
            Ok(())
        }
        let (reports, reported) = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let a = subject("a", true, settings(&root));
            let b = subject("b", true, settings(&root));
            let empty = subject("nothing", true, settings(&root));
            let three = || {
                vec![
                    behaviour("1", noted),
                    behaviour("2", noted),
                    behaviour("3", noted),
                ]
            };
            let reported = Mutex::new(Vec::new());
            let reports = grade_many(
                &[(&a, three()), (&empty, Vec::new()), (&b, three())],
                1,
                |index, _| lock(&reported).push(index),
            );
            (reports, reported.into_inner().unwrap())
        });
        let (a, b) = ("a {port}", "b {port}");
        assert_eq!(*lock(&STARTED), [a, a, a, b, b, b]);
        // The program with nothing to run is complete at once.
        assert_eq!(reported, [1, 0, 2]);
        assert_eq!(reports.len(), 3);
        assert!(reports[0].title.starts_with(a));
        assert!(reports[1].outcomes.is_empty());
        assert!(reports[2].title.starts_with(b));
        assert!(reports[2].outcomes.iter().all(|o| o.verdict.passed()));
    }

    #[test]
    fn no_more_behaviours_run_at_once_than_the_budget_and_as_many_as_it_allows() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        fn crowded(_: &mut Trial) -> Checked {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            // Until another runs beside it (a budget of 2 allows it), then
            // long enough for a third, which the budget forbids, to show.
            let started = Instant::now();
            while RUNNING.load(Ordering::SeqCst) < 2 && started.elapsed() < Duration::from_secs(5) {
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(Duration::from_millis(100));
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
        let report = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = subject("a", true, settings(&root));
            let mut list = vec![behaviour("first", reaches)];
            list.extend(["1", "2", "3", "4"].map(|id| behaviour(id, crowded)));
            grade_many(&[(&subject, list)], 2, |_, _| {}).pop().unwrap()
        });
        assert_eq!(MOST.load(Ordering::SeqCst), 2);
        assert_eq!(report.passing(), 5);
    }

    #[test]
    fn a_budget_of_nothing_is_one_at_a_time() {
        let report = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = subject("a", true, settings(&root));
            let list = vec![behaviour("first", reaches), behaviour("second", passes)];
            grade_many(&[(&subject, list)], 0, |_, _| {}).pop().unwrap()
        });
        assert_eq!(report.passing(), 2);
    }

    #[test]
    fn once_the_program_is_reached_the_others_start_while_the_first_still_runs() {
        static SECOND_STARTED: AtomicUsize = AtomicUsize::new(0);
        fn first(trial: &mut Trial) -> Checked {
            trial.subject.mark_reached();
            let started = Instant::now();
            while SECOND_STARTED.load(Ordering::SeqCst) == 0 {
                if started.elapsed() > Duration::from_secs(5) {
                    return Err(Failure::new("the second to start", "it waited").into());
                }
                // Nothing announces the second's start: looking is the signal.
                thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        }
        fn second(_: &mut Trial) -> Checked {
            SECOND_STARTED.store(1, Ordering::SeqCst);
            Ok(())
        }
        let report = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = subject("a", true, settings(&root));
            let list = vec![behaviour("first", first), behaviour("second", second)];
            grade_many(&[(&subject, list)], 3, |_, _| {}).pop().unwrap()
        });
        assert_eq!(
            verdicts(&report),
            [("first", Verdict::Pass), ("second", Verdict::Pass)]
        );
    }

    #[test]
    fn an_interruption_makes_every_behaviour_not_over_not_run() {
        static SIGNAL: AtomicI32 = AtomicI32::new(0);
        fn interrupts(_: &mut Trial) -> Checked {
            SIGNAL.store(15, Ordering::SeqCst);
            Ok(())
        }
        let reports = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let begun = subject("a", true, settings(&root));
            let later = subject("b", true, settings(&root));
            let empty = subject("c", true, settings(&root));
            let list = || {
                vec![
                    behaviour("first", reaches),
                    behaviour("second", interrupts),
                    behaviour("third", passes),
                ]
            };
            schedule(
                &[(&begun, list()), (&later, list()), (&empty, Vec::new())],
                1,
                |_, _| {},
                || match SIGNAL.load(Ordering::SeqCst) {
                    0 => None,
                    signal => Some(signal),
                },
            )
        });
        let interrupted = Verdict::NotRun("the grader was interrupted by SIGTERM".into());
        assert_eq!(
            verdicts(&reports[0]),
            [
                ("first", Verdict::Pass),
                ("second", interrupted.clone()),
                ("third", interrupted.clone()),
            ]
        );
        assert_eq!(
            verdicts(&reports[1]),
            [
                ("first", interrupted.clone()),
                ("second", interrupted.clone()),
                ("third", interrupted),
            ]
        );
        assert!(reports[2].outcomes.is_empty());
    }

    #[test]
    fn a_behaviour_running_when_the_grader_is_interrupted_is_not_run_when_it_ends() {
        static SIGNAL: AtomicI32 = AtomicI32::new(0);
        fn interrupted_meanwhile(trial: &mut Trial) -> Checked {
            trial.subject.mark_reached();
            SIGNAL.store(2, Ordering::SeqCst);
            // The scheduler looks at the interruption while this runs.
            thread::sleep(Duration::from_millis(100));
            Ok(())
        }
        let report = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let subject = subject("a", true, settings(&root));
            let list = vec![
                behaviour("first", interrupted_meanwhile),
                behaviour("second", passes),
            ];
            schedule(
                &[(&subject, list)],
                2,
                |_, _| {},
                || match SIGNAL.load(Ordering::SeqCst) {
                    0 => None,
                    signal => Some(signal),
                },
            )
            .pop()
            .unwrap()
        });
        let interrupted = Verdict::NotRun("the grader was interrupted by SIGINT".into());
        assert_eq!(
            verdicts(&report),
            [("first", interrupted.clone()), ("second", interrupted)]
        );
        assert!(report.outcomes[0].took >= Duration::from_millis(100));
    }

    #[test]
    fn the_reasons_of_the_behaviours_not_run_say_why() {
        assert_eq!(
            not_reached(&Verdict::NotRun("taken".into())),
            Verdict::NotRun("taken".into())
        );
        assert_eq!(
            not_reached(&Verdict::Pass),
            Verdict::NotRun("the program could not be started (see the first behaviour)".into())
        );
        assert_eq!(
            interruption(1),
            Verdict::NotRun("the grader was interrupted by SIGHUP".into())
        );
    }

    /// Whether the calling thread is in the process's own network
    /// namespace (the main thread's).
    fn in_the_process_network() -> bool {
        std::fs::read_link("/proc/self/ns/net").ok() == isolation::network_namespace()
    }

    #[test]
    fn a_program_that_ignores_port_is_graded_in_a_network_of_its_own_and_no_other_is() {
        if !isolation::private_networks_work() {
            eprintln!("SKIPPED: this machine allows no private network namespace");
            return;
        }
        fn apart(trial: &mut Trial) -> Checked {
            trial.subject.mark_reached();
            match in_the_process_network() {
                false => Ok(()),
                true => Err(Failure::new("a network of its own", "the grader's").into()),
            }
        }
        fn at_home(trial: &mut Trial) -> Checked {
            trial.subject.mark_reached();
            match in_the_process_network() {
                true => Ok(()),
                false => Err(Failure::new("the grader's network", "another").into()),
            }
        }
        let reports = within_time(|| {
            let root = tempfile::tempdir().unwrap();
            let ignores = subject("a", false, settings(&root));
            assert_eq!(ignores.needs(), Needs::PrivateNetwork);
            let told = subject("b", true, settings(&root));
            grade_many(
                &[
                    (&ignores, vec![behaviour("1", apart), behaviour("2", apart)]),
                    (
                        &told,
                        vec![behaviour("1", at_home), behaviour("2", at_home)],
                    ),
                ],
                4,
                |_, _| {},
            )
        });
        for report in reports {
            assert_eq!(report.passing(), 2, "{:?}", verdicts(&report));
        }
    }

    #[test]
    fn a_start_that_needs_the_books_address_holds_its_lock_one_at_a_time() {
        if !isolation::private_networks_work() {
            eprintln!("SKIPPED: this machine allows no private network namespace");
            return;
        }
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        fn holds_the_lock(trial: &mut Trial) -> Checked {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            trial.subject.mark_reached();
            let books = trial.subject.role().transport().books_address();
            let free = BooksAddressLock::try_take(&books).is_some();
            // Held a while, so that another started beside it (the budget
            // of 4 would allow it) shows in MOST: only time shows an absence.
            thread::sleep(Duration::from_millis(20));
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            match free {
                false => Ok(()),
                true => Err(Failure::new("the lock held by the grader", "free").into()),
            }
        }
        let reports = within_time(|| {
            // The lock is machine-wide: in a network namespace of this
            // test's own, no other grader on the machine holds it.
            thread::spawn(|| {
                isolation::enter_private_network().unwrap();
                let root = tempfile::tempdir().unwrap();
                let alone = Settings {
                    isolate: false,
                    ..settings(&root)
                };
                let one = subject("a", false, alone.clone());
                let other = subject("b", false, alone);
                assert_eq!(one.needs(), Needs::BooksAddress);
                let three = || {
                    vec![
                        behaviour("1", holds_the_lock),
                        behaviour("2", holds_the_lock),
                        behaviour("3", holds_the_lock),
                    ]
                };
                grade_many(&[(&one, three()), (&other, three())], 4, |_, _| {})
            })
            .join()
            .unwrap()
        });
        for report in reports {
            assert_eq!(report.passing(), 3, "{:?}", verdicts(&report));
        }
        assert_eq!(MOST.load(Ordering::SeqCst), 1);
    }
}
