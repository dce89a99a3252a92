//! describe: the server on a Unix socket (step 2).

use std::os::unix::net::UnixListener as StdUnixListener;

use net_watcher::server::{self, BindError};
use pretty_assertions::assert_eq;
use rstest::rstest;

use crate::support::in_process::{InProcessServer, Options};
use crate::support::target::{TargetFile, target};

#[rstest]
#[tokio::test]
async fn greets_and_notifies_like_tcp(target: TargetFile) {
    let server = InProcessServer::start_with(&target, Options::on_a_unix_socket(&target)).await;
    let mut subscriber = server.subscribe().await;
    assert_eq!(
        subscriber.next_line("the greeting").await,
        format!("Now watching \"{}\" for changes...\n", target.path_str())
    );
    target.touch();
    subscriber.expect_change("the change line").await;
}

#[rstest]
#[tokio::test]
async fn removes_its_socket_file_on_shutdown(target: TargetFile) {
    let options = Options::on_a_unix_socket(&target);
    let path = options.unix.clone().unwrap();
    let mut server = InProcessServer::start_with(&target, options).await;
    let mut subscriber = server.subscribe_greeted().await;
    assert!(
        path.exists(),
        "expected the socket file at {} while serving",
        path.display()
    );
    server.shutdown().await;
    subscriber.expect_end("end of file at shutdown").await;
    assert!(!path.exists(), "{} is left behind", path.display());
}

mod when_the_path_exists {
    use super::*;
    use pretty_assertions::assert_eq;

    #[rstest]
    #[tokio::test]
    async fn replaces_a_stale_socket_that_nothing_answers_on(target: TargetFile) {
        let path = target.dir().join("watcher.sock");
        // A listener that is dropped leaves its socket file behind, as a
        // crashed server does.
        drop(StdUnixListener::bind(&path).unwrap());
        assert!(
            path.exists(),
            "expected a stale socket file at {}",
            path.display()
        );
        let server = InProcessServer::start_with(&target, Options::on_a_unix_socket(&target)).await;
        let mut subscriber = server.subscribe().await;
        let greeting = subscriber.next_line("the greeting").await;
        assert!(greeting.starts_with("Now watching"), "got {greeting:?}");
    }

    #[rstest]
    #[tokio::test]
    async fn refuses_a_socket_that_a_live_server_answers_on(target: TargetFile) {
        let path = target.dir().join("watcher.sock");
        let _live = StdUnixListener::bind(&path).unwrap();
        match server::bind_unix(&path) {
            Err(BindError::AddressInUse(shown)) => assert_eq!(shown, path.display().to_string()),
            other => panic!("expected AddressInUse, got {other:?}"),
        }
        assert!(path.exists(), "the live server's socket is not removed");
    }

    /// A datagram socket that a live program holds takes no stream
    /// connection. It is not a server of ours, nor stale: the start says
    /// the system's reason, and the socket is left alone.
    #[rstest]
    #[tokio::test]
    async fn leaves_a_live_socket_of_another_kind_alone_with_the_systems_reason(
        target: TargetFile,
    ) {
        let path = target.dir().join("watcher.sock");
        let _other = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        match server::bind_unix(&path) {
            Err(error @ BindError::Io(..)) => assert_eq!(
                error.to_string(),
                format!(
                    "cannot listen on {}: {}",
                    path.display(),
                    std::io::Error::from_raw_os_error(libc::EPROTOTYPE)
                )
            ),
            other => panic!("expected the system's reason, got {other:?}"),
        }
        assert!(path.exists(), "the other program's socket is not removed");
    }

    #[rstest]
    #[tokio::test]
    async fn never_deletes_a_path_that_is_not_a_socket(target: TargetFile) {
        let error = server::bind_unix(target.path()).expect_err("a regular file is refused");
        assert!(
            matches!(error, BindError::NotASocket(_)),
            "expected NotASocket, got {error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("is not a socket; refusing to remove it"),
            "a clear message: {error}"
        );
        assert!(target.path().exists(), "the file is still there");
    }
}
