//! Nothing left behind: one registry, for the whole process, of every
//! program the grader has started (by process group) and every temporary
//! directory it has made, so that an interruption can end them all.
//!
//! A program is started through [`spawn`], which registers its group, and
//! reaped through [`reap`], which waits for its end, then reaps it and
//! forgets the group in one critical section: so [`stop_everything`],
//! which signals every registered group under the same lock, only ever
//! signals a group whose leader has not been reaped. Until then the
//! group's number is still its own (an exited leader is a zombie that
//! holds it), and no unrelated program that was given the number since
//! can be hit.
//!
//! [`watch_signals`] is for the `net-watcher-grade` binary: on SIGINT,
//! SIGTERM or SIGHUP, a thread of its own stops everything the grader
//! started, removes its directories, and lets the binary print the
//! partial report. Once stopped, the registry refuses to start anything
//! more.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use crate::lock::lock;

/// What the grader has started and made, and not yet cleaned up.
#[derive(Debug, Default)]
struct Registry {
    /// The process groups of the programs started and not yet reaped
    /// (each program leads its own group: its group's number is its pid).
    groups: Vec<u32>,
    /// The temporary directories made and not yet removed.
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    groups: Vec::new(),
    dirs: Vec::new(),
});

/// The signal that stopped everything, or 0 while none has.
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// Starts `command` (which must make its own process group) and registers
/// the group; refuses once everything has been stopped.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut registry = lock(&REGISTRY);
    if let Some(signal) = interrupted() {
        return Err(io::Error::other(format!(
            "the grader was interrupted by {}",
            signal_name(signal)
        )));
    }
    let child = command.spawn()?;
    registry.groups.push(child.id());
    Ok(child)
}

/// Waits for `child` (started by [`spawn`]) and forgets its group, in one
/// critical section (see the module's docs).
///
/// The wait for its end is made first, outside that section, and leaves
/// it a zombie (`WNOWAIT`), which keeps its group's number its own: a
/// program slow to die (stuck in the kernel after SIGKILL) then holds up
/// only its own reaper, not every grading that starts or stops a program
/// meanwhile. The reaping itself, under the lock, is then at once.
pub fn reap(child: &mut Child) -> io::Result<ExitStatus> {
    if let Ok(pid) = i32::try_from(child.id()) {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        // Interrupted by a signal: asked again. Any other error (the child
        // is gone already) is left to the wait below to report.
        while waitid(Id::Pid(Pid::from_raw(pid)), flags) == Err(nix::errno::Errno::EINTR) {}
    }
    let mut registry = lock(&REGISTRY);
    let status = child.wait();
    registry.groups.retain(|group| *group != child.id());
    status
}

/// Registers a temporary directory, to be removed if everything is
/// stopped before its owner removes it.
pub fn keep_dir(path: &Path) {
    lock(&REGISTRY).dirs.push(path.to_path_buf());
}

/// Forgets a directory its owner is about to remove.
pub fn forget_dir(path: &Path) {
    lock(&REGISTRY).dirs.retain(|dir| dir != path);
}

/// Whether `group` is registered: started and not yet reaped. For the
/// tests, which watch the registry; the grader never asks.
#[cfg(test)]
pub(crate) fn is_registered(group: u32) -> bool {
    lock(&REGISTRY).groups.contains(&group)
}

/// Kills every registered group and removes every registered directory,
/// because of `signal`; from then on, [`spawn`] refuses.
pub fn stop_everything(signal: i32) {
    let mut registry = lock(&REGISTRY);
    STOPPED_BY.store(signal, Ordering::SeqCst);
    for group in &registry.groups {
        // A group that has just ended needs nothing more.
        let _ = signal_group(*group, Signal::SIGKILL);
    }
    for dir in registry.dirs.drain(..) {
        // What its owner removes meanwhile is gone either way.
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Sends `signal` to process group `group`.
pub fn signal_group(group: u32, signal: Signal) -> io::Result<()> {
    let group = i32::try_from(group).map_err(io::Error::other)?;
    signal::killpg(Pid::from_raw(group), signal).map_err(io::Error::from)
}

/// The signal that stopped everything, if one has.
pub fn interrupted() -> Option<i32> {
    match STOPPED_BY.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The name of signal number `signal`, such as `SIGINT`.
pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(
        |_| format!("signal {signal}"),
        |known| known.as_str().to_owned(),
    )
}

/// Starts a thread that waits for SIGINT, SIGTERM and SIGHUP. On the
/// first, it stops everything ([`stop_everything`]) and calls `then` with
/// the signal's number. The handlers are in place when this returns.
///
/// The signals are caught by handlers (tokio's), not blocked: a blocked
/// signal stays blocked in every program the grader starts (a child
/// inherits its parent's signal mask), and a server that cannot receive
/// SIGTERM would be reported as ignoring it. A handler is reset to the
/// default in a child when it runs its program.
pub fn watch_signals(then: impl FnOnce(i32) + Send + 'static) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let (mut interrupt, mut terminate, mut hang_up) = {
        let _inside = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        )
    };
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let signal = runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => Signal::SIGINT,
                    _ = terminate.recv() => Signal::SIGTERM,
                    _ = hang_up.recv() => Signal::SIGHUP,
                }
            });
            stop_everything(signal as i32);
            then(signal as i32);
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;
    use std::time::Duration;

    use super::*;

    #[test]
    fn signals_are_named_as_a_shell_names_them() {
        assert_eq!(signal_name(2), "SIGINT");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(1), "SIGHUP");
        assert_eq!(signal_name(999), "signal 999");
    }

    #[test]
    fn a_program_is_registered_from_its_start_to_its_reaping() {
        let mut command = Command::new("true");
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = spawn(&mut command).unwrap();
        assert!(is_registered(child.id()));
        assert!(reap(&mut child).unwrap().success());
        assert!(!is_registered(child.id()));
    }

    /// A program that is slow to end (here, until the test lets it; in
    /// life, one stuck in the kernel after SIGKILL) keeps only its own
    /// reaper waiting: the registry is free meanwhile, and every other
    /// grading can start its programs and keep its directories.
    #[test]
    fn a_reap_that_waits_keeps_no_one_else_from_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "while [ ! -e '{}' ]; do sleep 0.01; done",
            go.display()
        ));
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut slow = spawn(&mut command).unwrap();
        let reaper = std::thread::spawn(move || reap(&mut slow).unwrap());
        // Whether the reap has begun to wait is not observable; whenever
        // it does, the registry must stay free, so the other side asks
        // several times over a while.
        let (done, asked) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..20 {
                let mut command = Command::new("true");
                std::os::unix::process::CommandExt::process_group(&mut command, 0);
                let mut other = spawn(&mut command).unwrap();
                reap(&mut other).unwrap();
            }
            let _ = done.send(());
        });
        let answered = asked.recv_timeout(Duration::from_secs(20));
        std::fs::write(&go, "").unwrap();
        assert!(reaper.join().unwrap().success());
        assert!(
            answered.is_ok(),
            "another grading could not start its programs while a reap waited"
        );
    }

    #[test]
    fn a_directory_is_registered_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        keep_dir(dir.path());
        assert!(lock(&REGISTRY).dirs.iter().any(|kept| kept == dir.path()));
        forget_dir(dir.path());
        assert!(!lock(&REGISTRY).dirs.iter().any(|kept| kept == dir.path()));
    }

    /// Set for this test binary run again, in a process of its own, to
    /// run one test there (see [`in_its_own_process`]).
    const IN_ITS_OWN_PROCESS: &str = "NET_WATCHER_GRADE_TEST_IN_ITS_OWN_PROCESS";

    /// Whether the caller, test `name`, is to run its body here: yes in
    /// the process run again for it; else runs this test binary again for
    /// that test only, checks that the test passed there and said so,
    /// and says no. Stopping everything is for the whole process, and
    /// would stop every other test's programs.
    fn in_its_own_process(name: &str) -> bool {
        if std::env::var_os(IN_ITS_OWN_PROCESS).is_some() {
            return true;
        }
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &format!("grade::reaper::tests::{name}"),
                "--nocapture",
            ])
            .env(IN_ITS_OWN_PROCESS, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("ran in its own process"),
            "{}\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        false
    }

    /// A program that runs until it is killed, in a group of its own.
    /// It holds none of the test's pipes: a test that fails leaves it
    /// running, and the test run waiting for its output must not wait for
    /// it too.
    fn sleeper() -> Child {
        let mut command = Command::new("sleep");
        command
            .arg("30")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        spawn(&mut command).unwrap()
    }

    fn killed(child: &mut Child) -> bool {
        let status = reap(child).unwrap();
        std::os::unix::process::ExitStatusExt::signal(&status) == Some(9)
    }

    #[test]
    fn stopping_everything_kills_every_group_removes_every_directory_and_refuses_more() {
        if !in_its_own_process(
            "stopping_everything_kills_every_group_removes_every_directory_and_refuses_more",
        ) {
            return;
        }
        let mut child = sleeper();
        let dir = tempfile::tempdir().unwrap();
        keep_dir(dir.path());
        assert_eq!(interrupted(), None);
        stop_everything(15);
        assert_eq!(interrupted(), Some(15));
        assert!(killed(&mut child));
        assert!(!dir.path().exists());
        let refused = spawn(&mut Command::new("true")).unwrap_err();
        assert_eq!(refused.to_string(), "the grader was interrupted by SIGTERM");
        println!("ran in its own process");
    }

    #[test]
    fn a_signal_stops_everything_and_is_told() {
        if !in_its_own_process("a_signal_stops_everything_and_is_told") {
            return;
        }
        let mut child = sleeper();
        let (told, heard) = std::sync::mpsc::channel();
        watch_signals(move |signal| told.send(signal).unwrap()).unwrap();
        // Without its handler, SIGHUP would end this process, and the test
        // with it.
        signal::raise(Signal::SIGHUP).unwrap();
        let signal = heard.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(signal, Ok(Signal::SIGHUP as i32));
        assert_eq!(interrupted(), Some(Signal::SIGHUP as i32));
        assert!(killed(&mut child));
        println!("ran in its own process");
    }

    #[test]
    fn a_group_that_is_not_there_cannot_be_signalled() {
        assert!(signal_group(u32::MAX, Signal::SIGKILL).is_err());
        assert!(signal_group(0x7fff_fff0, Signal::SIGKILL).is_err());
    }
}
