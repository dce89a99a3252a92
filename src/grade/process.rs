//! A program the grader started: its output, kept; its exit, seen without
//! reaping it; and its stop, with everything it started.
//!
//! Each program leads a process group of its own, so that stopping it
//! also stops what it started (`sh -c`, `npm start`). The group is
//! signalled only while its leader is unreaped (see `reaper`): the exit
//! is looked at with `waitid(WNOWAIT)`, which leaves the leader a zombie
//! that holds the group's number, and the leader is reaped last, once the
//! whole group has been sent SIGKILL.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

use super::reaper;
use super::verdict::Failure;
use crate::lock::lock;

/// How much of a program's output is kept for failure reports (its tail).
const KEPT_OUTPUT: usize = 16 * 1024;

/// How long a program is given to end after SIGTERM before it is killed.
pub const TERM_PATIENCE: Duration = Duration::from_secs(1);

/// A started program whose output is kept; stopped (with everything it
/// started) when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    command_line: String,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
    /// Whether [`Process::stop`] has run: the leader is reaped, and the
    /// group's number may since have been given to someone else.
    stopped: bool,
    /// Where its answers to SIGTERM are counted.
    term_answers: Arc<TermAnswers>,
}

/// How a program answered the grader's SIGTERMs, over all its starts: how
/// often it was asked to stop while running, and how often it was still
/// running [`TERM_PATIENCE`] later and had to be killed.
#[derive(Debug, Default)]
pub struct TermAnswers {
    asked: AtomicUsize,
    ignored: AtomicUsize,
}

impl TermAnswers {
    /// Counts one SIGTERM sent to it while it ran, and whether it ignored
    /// it (was still running [`TERM_PATIENCE`] later).
    pub fn answered(&self, ignored: bool) {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if ignored {
            self.ignored.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// How many times it was asked, if it ignored SIGTERM every time (and
    /// was asked at least once). A program that ends when asked, but once
    /// took longer than [`TERM_PATIENCE`] on a loaded machine, has not
    /// ignored it: seen in the suite, with this crate's own server.
    pub fn always_ignored(&self) -> Option<usize> {
        let asked = self.asked.load(Ordering::SeqCst);
        (asked > 0 && self.ignored.load(Ordering::SeqCst) == asked).then_some(asked)
    }
}

impl Process {
    /// Starts `command` in a process group of its own, its output read on
    /// threads (so that it never blocks on a full pipe). How it answers
    /// SIGTERM when stopped is counted in `term_answers`.
    pub fn spawn(
        mut command: Command,
        command_line: String,
        term_answers: Arc<TermAnswers>,
    ) -> Result<Process, Failure> {
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = reaper::spawn(&mut command).map_err(|error| {
            Failure::new(
                format!("the command `{command_line}` to start"),
                format!("it could not be started: {error}"),
            )
        })?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            keep_tail(child.stdout.take(), Arc::clone(&stdout)),
            keep_tail(child.stderr.take(), Arc::clone(&stderr)),
        ];
        Ok(Process {
            child,
            command_line,
            stdout,
            stderr,
            readers,
            status: None,
            stopped: false,
            term_answers,
        })
    }

    /// Its exit status, if it has exited. Looking does not reap it.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.peek_exit();
            if self.status.is_some() {
                self.finish_reading();
            }
        }
        self.status
    }

    /// The leader's exit, seen with `WNOWAIT`: it stays a zombie, and its
    /// group's number stays its own, until [`Process::stop`] reaps it.
    fn peek_exit(&self) -> Option<ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).ok()?);
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags).ok()? {
            WaitStatus::Exited(_, code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
            WaitStatus::Signaled(_, signal, dumped) => Some(ExitStatus::from_raw(
                signal as i32 | if dumped { 0x80 } else { 0 },
            )),
            _ => None,
        }
    }

    /// Waits (up to a second) for the threads that read its output to
    /// reach the end, so that a failure report shows all it said. A program
    /// it started may still hold its pipes open: then what came so far is
    /// shown.
    fn finish_reading(&mut self) {
        let started = Instant::now();
        while self.readers.iter().any(|reader| !reader.is_finished())
            && started.elapsed() < Duration::from_secs(1)
        {
            // The threads end when the pipes close; polling their state is
            // the signal std offers.
            thread::sleep(Duration::from_millis(2));
        }
        let (finished, running): (Vec<_>, Vec<_>) = self
            .readers
            .drain(..)
            .partition(|reader| reader.is_finished());
        for reader in finished {
            let _ = reader.join();
        }
        self.readers = running;
    }

    /// Waits up to `patience` for it to exit.
    pub fn wait_for_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if started.elapsed() >= patience {
                return None;
            }
            // std has no wait with a timeout; polling is the signal here.
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether it is still running. For the tests: the grader asks
    /// [`Process::exited`], which says how.
    #[cfg(test)]
    pub(crate) fn is_running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stdout)).into_owned()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    /// What it said, for a failure report (see [`what_it_said`]).
    pub fn output(&self) -> String {
        what_it_said(&self.stderr(), &self.stdout())
    }

    /// Stops it and everything it started: SIGTERM to its group, then,
    /// when its leader has ended or [`TERM_PATIENCE`] has passed, SIGKILL
    /// to whatever is left of the group; then it is reaped. If the leader
    /// was still running when SIGKILL was sent, it ignored SIGTERM.
    pub fn stop(&mut self) {
        // Once only: a later signal to the group's old number could reach
        // an unrelated program that has been given it meanwhile.
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.exited().is_none() {
            let _ = reaper::signal_group(self.child.id(), Signal::SIGTERM);
            let ignored = self.wait_for_exit(TERM_PATIENCE).is_none();
            self.term_answers.answered(ignored);
        }
        // The leader is a zombie at most, so the group is still its own:
        // whatever it left running (a child of `sh -c`) goes too.
        let _ = reaper::signal_group(self.child.id(), Signal::SIGKILL);
        let reaped = reaper::reap(&mut self.child).ok();
        self.status = self.status.or(reaped);
        self.finish_reading();
    }

    /// Kills it and everything it started at once, as a crash would end
    /// it: no chance to clean up.
    pub fn kill(&mut self) {
        if !self.stopped {
            let _ = reaper::signal_group(self.child.id(), Signal::SIGKILL);
        }
        self.stop();
    }

    /// The processes of its group now: their ids. Programs start others
    /// rarely (`sh -c` its program, `npm start` node), so a caller that
    /// looks often looks this up once.
    pub fn group_members(&self) -> Vec<u32> {
        let group = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| stat_of(&stat))
                    .is_some_and(|(_, pgrp)| pgrp == group)
            })
            .collect()
    }

    /// Whether `members` (its group's, from [`Process::group_members`])
    /// are idle: every thread of each is asleep (waiting for something: a
    /// connection, a timer, a file event), none running or ready to run.
    /// After a server has greeted a subscriber, this says it has also done
    /// what it does next (the book's server places its watch just after
    /// the greeting): on a loaded machine, that can be long after the
    /// greeting came.
    pub fn is_idle(members: &[u32]) -> bool {
        members.iter().all(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|tasks| {
                    tasks.filter_map(Result::ok).all(|task| {
                        std::fs::read_to_string(task.path().join("stat"))
                            .ok()
                            .and_then(|stat| stat_of(&stat))
                            .is_none_or(|(state, _)| is_asleep(state))
                    })
                })
                .unwrap_or(true)
        })
    }

    /// Its process id (and its group's number).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started from.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads `pipe` to its end on a thread, keeping the last [`KEPT_OUTPUT`]
/// bytes in `sink`.
fn keep_tail(
    pipe: Option<impl Read + Send + 'static>,
    sink: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut chunk = [0u8; 4096];
        while let Ok(read) = pipe.read(&mut chunk) {
            if read == 0 {
                break;
            }
            let mut kept = lock(&sink);
            kept.extend_from_slice(&chunk[..read]);
            if kept.len() > KEPT_OUTPUT {
                let excess = kept.len() - KEPT_OUTPUT;
                kept.drain(..excess);
            }
        }
    })
}

/// The state and the process group in a line of `/proc/PID/stat` (`PID
/// (NAME) STATE PPID PGRP ...`, where the name may hold spaces and
/// parentheses: the fields are counted from the last `)`).
fn stat_of(stat: &str) -> Option<(char, u32)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _parent = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}

/// Whether a thread in `state` waits rather than works: asleep (`S`),
/// idle (`I`), stopped (`T`, `t`) or ended (`Z`, `X`); not running or
/// ready to run (`R`) nor in the middle of a disk read (`D`).
fn is_asleep(state: char) -> bool {
    !matches!(state, 'R' | 'D')
}

/// What a program said, for a failure report: its error lines on stderr
/// (those that mention an error, not a stack trace's frames), each with
/// the line before it that says where (`File "server.py", line 17`, or
/// `/path/server.js:12`), so that a student sees the `file:line` of a
/// crash; else the last lines of stderr, else of stdout; empty if it
/// printed nothing.
pub fn what_it_said(stderr: &str, stdout: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let errors: Vec<usize> = (0..lines.len())
        .filter(|at| {
            let line = lines[*at];
            line.to_lowercase().contains("error:") && !line.trim_start().starts_with("at ")
        })
        .take(3)
        .collect();
    let (name, shown): (&str, Vec<&str>) = if !errors.is_empty() {
        let mut chosen: Vec<usize> = Vec::new();
        for at in errors {
            if let Some(place) = (at.saturating_sub(4)..at)
                .rev()
                .find(|place| is_a_place(lines[*place]))
            {
                if !chosen.contains(&place) {
                    chosen.push(place);
                }
            }
            chosen.push(at);
        }
        ("stderr", chosen.into_iter().map(|at| lines[at]).collect())
    } else if !lines.is_empty() {
        ("stderr", lines[lines.len().saturating_sub(3)..].to_vec())
    } else {
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        ("stdout", lines[lines.len().saturating_sub(3)..].to_vec())
    };
    if shown.is_empty() {
        return String::new();
    }
    let mut said = format!("; on {name} it said:");
    for line in shown {
        said.push_str(&format!("\n  | {}", line.trim_end()));
    }
    said
}

/// Whether `line` says where in a program something went wrong: Python's
/// `File "PATH", line N`, or Node's `PATH:N` above the line it quotes (not
/// one of Node's own files, `node:internal/...`).
fn is_a_place(line: &str) -> bool {
    let trimmed = line.trim();
    if trimmed.starts_with("File \"") && trimmed.contains("\", line ") {
        return true;
    }
    match trimmed.rsplit_once(':') {
        Some((path, number)) => {
            !path.is_empty()
                && !path.starts_with("node:")
                && !path.contains(' ')
                && !number.is_empty()
                && number.bytes().all(|byte| byte.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_python_syntax_error_keeps_its_file_and_line() {
        let stderr = "  File \"/s/server.py\", line 17\n    def version(path)\n                     ^\nSyntaxError: expected ':'\n";
        assert_eq!(
            what_it_said(stderr, ""),
            "; on stderr it said:\n  |   File \"/s/server.py\", line 17\n  | SyntaxError: expected ':'"
        );
    }

    #[test]
    fn a_python_crash_keeps_the_last_place_of_its_traceback() {
        let stderr = "Traceback (most recent call last):\n  File \"/s/server.py\", line 45, in <module>\n    connection.sendall(line)\nBrokenPipeError: [Errno 32] Broken pipe\n";
        assert_eq!(
            what_it_said(stderr, "Listening...\n"),
            "; on stderr it said:\n  |   File \"/s/server.py\", line 45, in <module>\n  | BrokenPipeError: [Errno 32] Broken pipe"
        );
    }

    #[test]
    fn a_node_syntax_error_keeps_its_file_and_line_not_nodes_own() {
        let stderr = "/s/server.js:12\n    foo(;\n        ^\n\nSyntaxError: Unexpected token ';'\n    at internalCompileFunction (node:internal/vm:76:18)\n\nNode.js v20.20.2\n";
        assert_eq!(
            what_it_said(stderr, ""),
            "; on stderr it said:\n  | /s/server.js:12\n  | SyntaxError: Unexpected token ';'"
        );
        let internal = "node:events:497\n      throw er; // Unhandled 'error' event\n      ^\n\nError: listen EADDRINUSE: address already in use :::60300\n    at Server.setupListenHandle (node:net:1872:16)\n";
        assert_eq!(
            what_it_said(internal, ""),
            "; on stderr it said:\n  | Error: listen EADDRINUSE: address already in use :::60300"
        );
    }

    #[test]
    fn at_most_three_errors_are_shown_and_a_shared_place_once() {
        let stderr = "x.py:3\nError: one\nError: two\nError: three\nError: four\n";
        assert_eq!(
            what_it_said(stderr, ""),
            "; on stderr it said:\n  | x.py:3\n  | Error: one\n  | Error: two\n  | Error: three"
        );
    }

    #[test]
    fn without_an_error_line_the_last_lines_are_shown() {
        assert_eq!(
            what_it_said("one\ntwo\n\nthree\nfour\n", "ignored"),
            "; on stderr it said:\n  | two\n  | three\n  | four"
        );
        assert_eq!(
            what_it_said("  \n", "a\nb\n"),
            "; on stdout it said:\n  | a\n  | b"
        );
        assert_eq!(what_it_said("", ""), "");
    }

    #[test]
    fn a_stat_line_gives_its_state_and_group_whatever_the_name() {
        assert_eq!(stat_of("123 (node) S 1 123 123 0 -1"), Some(('S', 123)));
        assert_eq!(stat_of("77 (a (b) c) R 5 70 70 0"), Some(('R', 70)));
        assert_eq!(stat_of("77 (x) D 5"), None);
        assert_eq!(stat_of("77 x S 5 6"), None);
        assert_eq!(stat_of("77 (x) S 5 six"), None);
        assert!(is_asleep('S') && is_asleep('I') && is_asleep('Z') && is_asleep('T'));
        assert!(!is_asleep('R') && !is_asleep('D'));
    }

    #[test]
    fn a_sleeping_program_is_idle_and_a_busy_one_is_not() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo ready; exec sleep 30"]);
        let sleeping = Process::spawn(command, "sleep".into(), Arc::default()).unwrap();
        // Its output and its state in /proc are only there to be looked
        // at, so they are looked at again and again, for at most 10 s.
        let started = Instant::now();
        while !(sleeping.stdout().contains("ready") && Process::is_idle(&sleeping.group_members()))
            && started.elapsed() < Duration::from_secs(10)
        {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sleeping.group_members(), [sleeping.id()]);
        assert!(Process::is_idle(&sleeping.group_members()));
        let mut command = Command::new("sh");
        command.args(["-c", "while :; do :; done"]);
        let busy = Process::spawn(command, "busy".into(), Arc::default()).unwrap();
        // A busy loop is running or ready to run, whenever it is looked at.
        let members = busy.group_members();
        assert_eq!(members, [busy.id()]);
        let started = Instant::now();
        let mut seen_busy = false;
        while !seen_busy && started.elapsed() < Duration::from_secs(10) {
            seen_busy = !Process::is_idle(&members);
        }
        assert!(seen_busy);
        assert!(Process::is_idle(&[]));
    }

    #[test]
    fn a_place_is_a_python_frame_or_a_path_and_line() {
        for place in ["  File \"a.py\", line 3", "/a/b.js:12", "b.js:1"] {
            assert!(is_a_place(place), "{place}");
        }
        for other in [
            "node:events:497",
            "File \"a.py\"",
            "Error: x:1",
            ":12",
            "a.js:",
            "a.js:1x",
            "no colon",
        ] {
            assert!(!is_a_place(other), "{other}");
        }
    }

    #[test]
    fn a_program_ignored_sigterm_only_if_it_did_every_time_it_was_asked() {
        let answers = TermAnswers::default();
        assert_eq!(answers.always_ignored(), None, "never asked");
        answers.answered(true);
        assert_eq!(answers.always_ignored(), Some(1));
        answers.answered(true);
        assert_eq!(answers.always_ignored(), Some(2));
        answers.answered(false);
        assert_eq!(answers.always_ignored(), None, "once it ended when asked");
        let ended = TermAnswers::default();
        ended.answered(false);
        assert_eq!(ended.always_ignored(), None);
    }

    #[test]
    fn a_stopped_program_is_reaped_and_one_that_ignores_sigterm_is_told() {
        let ignored = Arc::new(TermAnswers::default());
        let mut command = Command::new("sh");
        command.args(["-c", "trap '' TERM; echo ready; exec sleep 30"]);
        let mut process = Process::spawn(command, "sh".into(), Arc::clone(&ignored)).unwrap();
        let id = process.id();
        // The trap is set once "ready" is out; the output is only there
        // to be looked at, so it is looked at again and again.
        let started = Instant::now();
        while !process.stdout().contains("ready") && started.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(process.is_running());
        process.stop();
        assert_eq!(ignored.always_ignored(), Some(1));
        assert!(!reaper::is_registered(id));
        assert_eq!(process.exited().and_then(|status| status.signal()), Some(9));

        let ended = Arc::new(TermAnswers::default());
        let mut command = Command::new("sh");
        command.args(["-c", "echo oops >&2; exit 3"]);
        let mut process = Process::spawn(command, "sh".into(), Arc::clone(&ended)).unwrap();
        assert_eq!(
            process
                .wait_for_exit(Duration::from_secs(10))
                .and_then(|s| s.code()),
            Some(3)
        );
        assert!(
            reaper::is_registered(process.id()),
            "an exit seen is not reaped"
        );
        assert_eq!(process.output(), "; on stderr it said:\n  | oops");
        assert_eq!(process.command_line(), "sh");
        drop(process);
        assert_eq!(ended.asked.load(Ordering::SeqCst), 0, "it had ended");
        assert_eq!(ended.always_ignored(), None);
    }

    #[test]
    fn a_program_that_cannot_be_started_is_a_failure_that_says_so() {
        let failure = Process::spawn(
            Command::new("/no/such/program"),
            "/no/such/program x".into(),
            Arc::default(),
        )
        .unwrap_err();
        assert_eq!(
            failure.expected,
            "the command `/no/such/program x` to start"
        );
        assert!(
            failure.got.starts_with("it could not be started: "),
            "{failure}"
        );
    }

    fn sh(line: &str) -> Process {
        let mut command = Command::new("sh");
        command.args(["-c", line]);
        Process::spawn(command, line.into(), Arc::default()).unwrap()
    }

    #[test]
    fn a_programs_output_is_read_to_its_end_and_its_last_16_kib_kept() {
        let mut process = sh("head -c 200000 /dev/zero | tr '\\0' x; echo END");
        assert!(process.wait_for_exit(Duration::from_secs(10)).is_some());
        assert!(!process.is_running());
        let stdout = process.stdout();
        assert_eq!(stdout.len(), 16 * 1024);
        assert!(
            stdout.ends_with("xxEND\n"),
            "{:?}",
            &stdout[stdout.len() - 10..]
        );
    }

    #[test]
    fn a_program_killed_by_a_signal_is_seen_to_end_by_it_at_once() {
        let mut process = sh("kill -9 $$");
        let started = Instant::now();
        let status = process.wait_for_exit(Duration::from_secs(10));
        assert_eq!(status.and_then(|status| status.signal()), Some(9));
        assert!(!status.unwrap().core_dumped());
        // Its output is read to the end at once too (the pipes closed with
        // it), not after the second the readers may be given.
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_process_dropped_is_stopped_and_reaped() {
        let process = sh("exec sleep 30");
        let id = process.id();
        assert!(reaper::is_registered(id));
        drop(process);
        assert!(!reaper::is_registered(id));
        // Reaped, not a zombie: nothing is left of it.
        assert!(!std::path::Path::new(&format!("/proc/{id}")).exists());
    }

    #[test]
    fn a_kill_gives_no_chance_to_clean_up_and_a_stop_does() {
        let dir = tempfile::tempdir().unwrap();
        let start = |name: &str| {
            let marker = dir.path().join(name);
            // Short sleeps in a loop, not one long one: sh runs a trap
            // only once the command in the foreground has ended.
            let line = format!(
                "trap 'echo cleaned > {}; exit 0' TERM; echo ready; while :; do sleep 0.01; done",
                marker.display()
            );
            let process = sh(&line);
            let started = Instant::now();
            // The trap is set once "ready" is out; the output is only
            // there to be looked at, so it is looked at again and again.
            while !process.stdout().contains("ready") && started.elapsed() < Duration::from_secs(10)
            {
                thread::sleep(Duration::from_millis(5));
            }
            (process, marker)
        };
        let (mut killed, marker) = start("killed");
        killed.kill();
        assert_eq!(killed.exited().and_then(|status| status.signal()), Some(9));
        assert!(!marker.exists());
        let (mut stopped, marker) = start("stopped");
        stopped.stop();
        assert_eq!(stopped.exited().and_then(|status| status.code()), Some(0));
        assert!(marker.exists());
    }
}
