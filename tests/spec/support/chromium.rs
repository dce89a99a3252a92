//! A real Chromium for the browser specs (chapter 13): Debian's `chromium`,
//! headless, in a new empty profile, driven through the DevTools protocol
//! over a pipe (`--remote-debugging-pipe`), stopped when the value drops.
//!
//! Why the pipe: Chromium reads commands on its file descriptor 3 and
//! writes answers and events on 4, each a JSON object ended by a NUL byte.
//! No port to pick (nothing to collide with another test's), no WebSocket
//! or WebDriver client to add, no chromedriver whose version must match the
//! browser's: serde_json is the whole client.
//!
//! Where `chromium` is not installed, [`chromium`] prints `SKIPPED: …` and
//! returns `None`, and the spec passes without running, as the Redis specs
//! do. CI sets `NET_WATCHER_REQUIRE_CHROMIUM=1` (and installs Chromium),
//! and there a missing browser fails the spec instead.
//!
//! Every wait is on a signal with a timeout: an answer to a command, an
//! event, or a condition on the page, which the page itself watches for
//! (a `MutationObserver`) and reports.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::PATIENCE;
use super::processes::living_processes_with;
use super::redis_server::find_program;

/// The variable that makes a missing `chromium` a failure.
pub const REQUIRE_CHROMIUM: &str = "NET_WATCHER_REQUIRE_CHROMIUM";

/// The flags every run needs. Headless, no sandbox (CI runs as root, where
/// Chromium's sandbox refuses to start), no GPU. The rest keep Chromium
/// from reaching out on its own (updates, sync, field trials, QUIC probes):
/// on a machine whose network is closed, those connections are refused,
/// and they are nothing a spec should depend on. `--disable-dev-shm-usage`
/// keeps its shared memory in TMPDIR (its own, see `start`): a
/// container's /dev/shm is often too small for it.
const FLAGS: [&str; 12] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
    "--window-size=800,480",
    "--hide-scrollbars",
];

/// A running headless Chromium with one page, attached.
pub struct Chromium {
    child: Child,
    commands: File,
    messages: Receiver<Value>,
    /// Events read while waiting for an answer, kept for a later wait.
    events: VecDeque<Value>,
    next_id: u64,
    /// The DevTools session of the page.
    session: String,
    /// Everything Chromium writes on disk: its profile (`profile/`), the
    /// `TMPDIR` it is given (`tmp/`) and its `HOME` (`home/`), removed with
    /// the value.
    own: TempDir,
}

/// Starts Chromium with one blank page, or says why it cannot: `None` means
/// "skip this spec" (and was said on stdout).
pub fn chromium() -> Option<Chromium> {
    let Some(program) = find_program("chromium") else {
        let required = std::env::var(REQUIRE_CHROMIUM).is_ok_and(|value| value == "1");
        assert!(
            !required,
            "{REQUIRE_CHROMIUM}=1, but chromium is not installed (apt-get install -y chromium)"
        );
        println!(
            "SKIPPED: chromium is not installed; `apt-get install -y chromium` runs this spec"
        );
        return None;
    };
    Some(Chromium::start(&program))
}

/// A pipe, both ends closed on exec (the child's are made anew by `dup2`).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut ends = [0; 2];
    // SAFETY: `pipe2` writes two new descriptors into the array we own.
    let made = unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(made, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) }
}

impl Chromium {
    fn start(program: &Path) -> Self {
        let own = tempfile::tempdir().expect("a temporary directory");
        let [profile, tmp, home] = ["profile", "tmp", "home"].map(|name| own.path().join(name));
        for dir in [&tmp, &home] {
            std::fs::create_dir(dir).expect("a directory for Chromium");
        }
        let (commands_in, commands_out) = pipe();
        let (messages_in, messages_out) = pipe();
        let mut command = Command::new(program);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            // Chromium makes directories of its own in TMPDIR (one for its
            // singleton socket, `org.chromium.Chromium.XXXXXX`) and removes
            // them only on a clean exit; it is killed when the value drops.
            // In a TMPDIR of its own, what it leaves goes with `own`.
            .env("TMPDIR", &tmp)
            // The same for what it writes in the user's home whatever the
            // profile (`~/.config/chromium/Crash Reports`, dconf's cache):
            // a spec leaves the user's own Chromium alone.
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A process group of its own, so that dropping the value stops
        // the browser and every helper it started at once (see `Drop`).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let (theirs_in, theirs_out) = (commands_in.as_raw_fd(), messages_out.as_raw_fd());
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the child between fork and exec
            // and only makes `fcntl` and `dup2` calls, which are
            // async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    // Copied above 3 and 4 first: either end may be 3 or 4
                    // already, and `dup2` onto itself would neither move
                    // it nor clear its close-on-exec flag.
                    let above =
                        [theirs_in, theirs_out].map(|fd| libc::fcntl(fd, libc::F_DUPFD, 10));
                    for (from, to) in above.into_iter().zip([3, 4]) {
                        if from < 0 || libc::dup2(from, to) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        // Chromium holds its ends now; ours go, so that its exit ends the
        // reader below.
        drop((commands_in, messages_out));

        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(File::from(messages_in));
            let mut message = Vec::new();
            while matches!(reader.read_until(0, &mut message), Ok(read) if read > 0) {
                if message.last() == Some(&0) {
                    message.pop();
                }
                let parsed = serde_json::from_slice(&message).expect("DevTools sends JSON");
                if sender.send(parsed).is_err() {
                    return;
                }
                message.clear();
            }
        });
        let mut chromium = Chromium {
            child,
            commands: File::from(commands_out),
            messages,
            events: VecDeque::new(),
            next_id: 0,
            session: String::new(),
            own,
        };
        let target = chromium.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].clone();
        let attached = chromium.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        chromium.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        chromium.page("Page.enable", json!({}));
        chromium
    }

    /// Sends `method` with `params` (to the page's session, or to the
    /// browser) and waits for its answer's result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|error| panic!("Chromium does not take {method}: {error}"));
        // An evaluation may itself wait up to PATIENCE on the page.
        let deadline = Instant::now() + 2 * PATIENCE;
        loop {
            let message = self.receive(deadline, method);
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("Chromium refused {method}: {error}");
                }
                return message["result"].clone();
            }
            self.events.push_back(message);
        }
    }

    fn receive(&mut self, deadline: Instant, what: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what} from Chromium"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("Chromium exited while waiting for {what}")
            }
        }
    }

    /// Sends `method` to the page and returns its result.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Waits for the page's event `method` (one not waited for before).
    pub fn wait_for_event(&mut self, method: &str) -> Value {
        if let Some(at) = self
            .events
            .iter()
            .position(|event| event["method"] == method)
        {
            return self.events.remove(at).expect("found just above");
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let message = self.receive(deadline, method);
            if message["method"] == method {
                return message;
            }
            self.events.push_back(message);
        }
    }

    /// Forgets the events read so far, so that a wait is for a new one.
    pub fn forget_events(&mut self) {
        while let Ok(message) = self.messages.try_recv() {
            self.events.push_back(message);
        }
        self.events.clear();
    }

    /// Opens `url` in the page and waits until it has loaded.
    pub fn open(&mut self, url: &str) {
        self.forget_events();
        let navigated = self.page("Page.navigate", json!({"url": url}));
        if let Some(error) = navigated.get("errorText") {
            panic!("Chromium cannot open {url}: {error}");
        }
        self.wait_for_event("Page.loadEventFired");
    }

    /// The value of JavaScript `expression` in the page (awaited, if it is
    /// a promise).
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}\nthrew: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until JavaScript `condition` holds on the page, and returns
    /// its value. The page checks it at once and on every change to the
    /// document, and gives up after [`PATIENCE`], naming `what`.
    pub fn wait_until(&mut self, what: &str, condition: &str) -> Value {
        let patience = PATIENCE.as_millis();
        let what = serde_json::to_string(what).unwrap();
        self.evaluate(&format!(
            "new Promise((resolve, reject) => {{
                const check = () => {{
                    const value = ({condition});
                    if (value) {{ stop(); resolve(value); }}
                }};
                const observer = new MutationObserver(check);
                const timer = setTimeout(() => {{
                    stop();
                    reject(new Error('timed out after {patience} ms waiting for ' + {what}));
                }}, {patience});
                function stop() {{ observer.disconnect(); clearTimeout(timer); }}
                observer.observe(document, {{subtree: true, childList: true, characterData: true, attributes: true}});
                check();
            }})"
        ))
    }

    /// The page's text in the element `selector` (empty if none).
    pub fn text(&mut self, selector: &str) -> String {
        let selector = serde_json::to_string(selector).unwrap();
        let text = self.evaluate(&format!(
            "document.querySelector({selector})?.textContent ?? ''"
        ));
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The directory Chromium made for itself to hold its singleton socket
    /// (`org.chromium.Chromium.XXXXXX`, in the `TMPDIR` it was given), read
    /// from the link `SingletonSocket` it leaves in the profile. Chromium
    /// removes it on a clean exit only; a killed Chromium cannot.
    pub fn singleton_dir(&self) -> PathBuf {
        let link = self.own.path().join("profile/SingletonSocket");
        let socket =
            std::fs::read_link(&link).unwrap_or_else(|error| panic!("{}: {error}", link.display()));
        socket.parent().expect("a directory").to_owned()
    }

    /// Where Chromium writes (profile, TMPDIR, HOME): removed with the
    /// value.
    pub fn own_dir(&self) -> PathBuf {
        self.own.path().to_owned()
    }

    /// Chromium's processes still running, each as its pid and command
    /// line: every one with its TMPDIR in its environment, whatever its
    /// process group or session.
    pub fn processes(own_dir: &Path) -> Vec<(u32, String)> {
        living_processes_with(&format!("TMPDIR={}", own_dir.join("tmp").display()))
    }

    /// Saves what the page shows now as a PNG at `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.page("Page.captureScreenshot", json!({"format": "png"}));
        let data = shot["data"].as_str().expect("base64 data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("a screenshot in base64");
        std::fs::create_dir_all(path.parent().expect("a directory")).unwrap();
        std::fs::write(path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Chromium {
    /// Stops the browser and its helpers (GPU, network, renderers), all
    /// at once, and waits until none is left before `own` is removed: a
    /// helper that outlives the browser for a moment writes in the profile
    /// (its last state, a database's journal) while the directory is being
    /// removed, and the removal fails, leaving it all behind.
    fn drop(&mut self) {
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = Chromium::processes(self.own.path());
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            // One that left the group (the crash handler, `crashpad`,
            // makes a session of its own), or was slow to go: stopped on
            // its own.
            for (pid, _) in left {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            // Nothing announces the end of a process that is not our
            // child: looking again is the signal.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Where a spec's screenshots go: cargo's temporary directory for the test
/// suite (`target/tmp`), a folder per spec, overwritten by the next run.
pub fn screenshot_dir(spec: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(spec)
}
