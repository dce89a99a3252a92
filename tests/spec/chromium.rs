//! describe: the page and `reload.js` in a real browser (chapter 13):
//! Debian's Chromium, headless, against `net-watcher --http`.
//!
//! The browser itself leaves nothing behind once dropped: what Chromium
//! writes (profile, TMPDIR, HOME) is in a temporary directory of its own.
//!
//! Each spec starts its own Chromium (see `support::chromium`) and skips,
//! saying so, where `chromium` is not installed, unless
//! `NET_WATCHER_REQUIRE_CHROMIUM=1`. Screenshots go to
//! `target/tmp/screenshots/`; `NET_WATCHER_BLESS=1` also copies the page's
//! into the chapter (`chapters/images/13-the-page.png`).

use std::time::Instant;

use rstest::rstest;

use crate::support::binary::TestServer;
use crate::support::chromium::{Chromium, chromium, screenshot_dir};
use crate::support::root;
use crate::support::target::{TargetFile, target};

/// `net-watcher target.txt --http 127.0.0.1:PORT` in `target`'s directory
/// (port 0: one the OS picks), and the page's URL.
fn serve_browsers(target: &TargetFile, port: u16) -> (TestServer, String) {
    let address = format!("127.0.0.1:{port}");
    let server = TestServer::start_in(
        Some(target.dir()),
        "net-watcher",
        &["target.txt", "--http", &address],
    );
    let url = server
        .listening_on()
        .iter()
        .find(|entry| entry.starts_with("http://"))
        .unwrap_or_else(|| panic!("no http:// address in {:?}", server.listening_on()))
        .clone();
    (server, url)
}

/// The page's state, as its status line's class says.
const STATUS: &str = "document.getElementById('status').className";

/// How many changes the page lists.
const CHANGES: &str = "document.querySelectorAll('#changes li').length";

mod the_page {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn shows_the_files_name_and_a_change_as_it_happens(target: TargetFile) {
        let Some(mut browser) = chromium() else {
            return;
        };
        let (_server, url) = serve_browsers(&target, 0);
        browser.open(&url);
        browser.wait_until(
            "the file's name",
            "document.getElementById('file').textContent === 'target.txt'",
        );
        browser.wait_until("the page connected", &format!("{STATUS} === 'connected'"));
        assert_eq!(browser.text("#changes"), "", "no change yet");

        let touched = Instant::now();
        target.touch();
        browser.wait_until("the change on the page", &format!("{CHANGES} === 1"));
        // Printed, not asserted: speeds are measured in benchmarks.
        println!(
            "the change was on the page {:?} after the touch",
            touched.elapsed()
        );
        let item = browser.text("#changes li");
        assert!(item.starts_with("Changed at "), "{item:?}");
        browser.screenshot(&screenshot_dir("the_page").join("a-change.png"));
    }

    #[rstest]
    fn after_the_server_restarts_reconnects_and_shows_the_next_change(target: TargetFile) {
        let Some(mut browser) = chromium() else {
            return;
        };
        let (mut server, url) = serve_browsers(&target, 0);
        let port: u16 = url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a port in the URL");
        browser.open(&url);
        browser.wait_until("the page connected", &format!("{STATUS} === 'connected'"));
        target.touch();
        browser.wait_until("the first change", &format!("{CHANGES} === 1"));

        server.process.signal(libc::SIGTERM);
        let (status, _) = server.process.wait_for_exit();
        assert!(status.success(), "{status}");
        browser.wait_until(
            "the page reconnecting",
            &format!("{STATUS} === 'reconnecting'"),
        );
        assert_eq!(browser.text("#status"), "Reconnecting…");
        let shots = screenshot_dir("the_page");
        browser.screenshot(&shots.join("reconnecting.png"));

        // The same port: the browser reconnects to the address it knows.
        let (_server, _) = serve_browsers(&target, port);
        browser.wait_until(
            "the page connected again",
            &format!("{STATUS} === 'connected'"),
        );
        target.append("a change after the restart");
        browser.wait_until("the change after the restart", &format!("{CHANGES} === 2"));
        browser.wait_until(
            "the file's name",
            "document.getElementById('file').textContent === 'target.txt'",
        );
        let shot = shots.join("after-a-restart.png");
        browser.screenshot(&shot);
        if std::env::var_os("NET_WATCHER_BLESS").is_some() {
            let kept = root().join("chapters/images/13-the-page.png");
            std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
            std::fs::copy(&shot, &kept).unwrap();
        }
    }
}

mod a_page_using_reload_js {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    fn reloads_when_the_file_changes(target: TargetFile) {
        let Some(mut browser) = chromium() else {
            return;
        };
        let (mut server, url) = serve_browsers(&target, 0);
        // A developer's own page, from elsewhere (a file), with the one
        // line the README gives.
        let page = target.dir().join("my-page.html");
        std::fs::write(
            &page,
            format!("<!doctype html>\n<title>My page</title>\n<script src=\"{url}reload.js\"></script>\n<p>Hello</p>\n"),
        )
        .unwrap();
        browser.open(&format!("file://{}", page.display()));
        // Set on this load only: a reload starts a new window object.
        browser.evaluate("window.loadedBeforeTheChange = true");
        server.process.wait_for_stdout("Subscriber connected.");

        browser.forget_events();
        target.touch();
        browser.wait_for_event("Page.loadEventFired");
        assert_eq!(
            browser.evaluate("typeof window.loadedBeforeTheChange"),
            "undefined",
            "the page was loaded again"
        );
        assert_eq!(browser.text("p"), "Hello");
    }
}

mod the_browser {
    use super::*;

    #[test]
    fn leaves_nothing_behind_once_dropped() {
        let Some(browser) = chromium() else {
            return;
        };
        // Chromium's own directory, made outside its profile, where the
        // TMPDIR it was given says; and all it writes.
        let made = browser.singleton_dir();
        let own = browser.own_dir();
        assert!(made.is_dir(), "{} while Chromium runs", made.display());
        assert!(
            Chromium::processes(&own).len() > 1,
            "a browser, with its helpers, while Chromium runs: {:?}",
            Chromium::processes(&own)
        );
        drop(browser);
        assert_eq!(Chromium::processes(&own), [], "left running");
        for left in [made, own] {
            assert!(!left.exists(), "{} is left behind", left.display());
        }
    }
}
