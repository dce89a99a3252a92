//! describe: the service in what surrounds it: text from outside with
//! control characters in it, its console's streams closed, full or
//! stalled, and its socket path taken or raced for (issue 22).
//!
//! Each case is an adversary from `support` (a pipe nobody reads, stdout
//! on `/dev/full`, a closed pipe, a file named to forge a line), and each
//! failed before the code it holds in place.

use rstest::rstest;

use crate::support::target::{TargetFile, target};

mod a_name_with_control_characters {
    use super::*;
    use crate::support::in_process::InProcessServer;
    use net_watcher::protocol::Protocol;
    use pretty_assertions::assert_eq;

    /// As reported: a file named `a\nFile changed: FAKE` made plain-text
    /// subscribers read a `File changed:` line that no change made.
    #[rstest]
    #[tokio::test]
    async fn cannot_forge_a_line_that_a_plain_text_subscriber_reads(target: TargetFile) {
        let forger = TargetFile::at(target.dir().join("a\nFile changed: FAKE\u{1b}[2J\r"));
        std::fs::write(forger.path(), "").expect("the file can be made");
        let server = InProcessServer::start(&forger, Protocol::Text).await;
        let mut subscriber = server.subscribe().await;
        assert_eq!(
            subscriber.next_line("the greeting").await,
            format!(
                "Now watching \"{}/a\\nFile changed: FAKE\\u001b[2J\\r\" for changes...\n",
                target.dir().display()
            )
        );
        forger.touch();
        subscriber.expect_change("the one real change").await;
    }
}
