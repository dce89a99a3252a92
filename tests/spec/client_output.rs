//! describe: what the client prints (`client::run`), for every kind of line.

use jiff::tz::TimeZone;
use net_watcher::client::{self, ClientError, describe, describe_error};
use net_watcher::ldj::LdjError;
use net_watcher::protocol::Message;
use pretty_assertions::assert_eq;

use crate::support::chunks::{ChunkedReader, FailingWriter};

/// Runs the client over `chunks` and returns (stdout, stderr).
async fn print(chunks: Vec<&[u8]>) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    client::run(
        ChunkedReader::new(chunks),
        &TimeZone::UTC,
        &mut out,
        &mut err,
    )
    .await
    .expect("reading scripted chunks does not fail");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn prints_what_the_books_client_prints() {
    assert_eq!(
        describe(
            &Message::Watching {
                file: "target.txt".into()
            },
            &TimeZone::UTC
        ),
        "Now watching: target.txt"
    );
    assert_eq!(
        describe(
            &Message::Changed {
                timestamp: 1_450_694_370_094
            },
            &TimeZone::UTC
        ),
        "File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"
    );
    assert_eq!(
        describe(
            &Message::Unknown {
                kind: "party".into()
            },
            &TimeZone::UTC
        ),
        "Unrecognized message type: party"
    );
    assert_eq!(
        describe(
            &Message::Error {
                message: "full\n".into()
            },
            &TimeZone::UTC
        ),
        "Error from the server: full\\n"
    );
}

/// Each way of stopping says what stopped it, and keeps the OS's error
/// behind it as its source.
#[test]
fn names_each_way_it_stops_and_keeps_the_cause() {
    use std::error::Error;
    let read = ClientError::Read(std::io::ErrorKind::ConnectionReset.into());
    let write = ClientError::Write(std::io::ErrorKind::BrokenPipe.into());
    let server = ClientError::Server("full\u{1b}[2J".into());
    assert_eq!(
        read.to_string(),
        "reading from the server failed: connection reset"
    );
    assert_eq!(write.to_string(), "cannot write to stdout: broken pipe");
    assert_eq!(server.to_string(), "error from the server: full\\u001b[2J");
    assert!(read.source().is_some() && write.source().is_some());
    assert!(server.source().is_none());
}

/// What a server sends is text from outside: a name or a type with a
/// newline, CR or ESC is shown with escapes, so that it can neither forge a
/// line of the client's output nor drive the terminal.
#[test]
fn writes_control_characters_from_the_server_as_escapes() {
    assert_eq!(
        describe(
            &Message::Watching {
                file: "a\nFile changed: FAKE".into()
            },
            &TimeZone::UTC
        ),
        "Now watching: a\\nFile changed: FAKE"
    );
    assert_eq!(
        describe(
            &Message::Unknown {
                kind: "\u{1b}[2J\r".into()
            },
            &TimeZone::UTC
        ),
        "Unrecognized message type: \\u001b[2J\\r"
    );
    let error = LdjError::InvalidUtf8 {
        line: "bad\u{1b}]0;title\u{7}\r".into(),
    };
    assert_eq!(
        describe_error(&error),
        "Bad line from server (line is not valid UTF-8): bad\\u001b]0;title\\u0007\\r"
    );
}

#[test]
fn quotes_at_most_eighty_characters_of_a_bad_line() {
    let error = LdjError::InvalidUtf8 {
        line: "é".repeat(200),
    };
    assert_eq!(
        describe_error(&error),
        format!(
            "Bad line from server (line is not valid UTF-8): {}... [cut]",
            "é".repeat(80)
        )
    );
}

#[tokio::test]
async fn for_the_session_fixture_prints_the_recorded_output_whatever_the_chunking() {
    let stream = include_bytes!("../../fixtures/ldj/session.ldj");
    let expected_out = include_str!("../../fixtures/ldj/session.stdout");
    let expected_err = include_str!("../../fixtures/ldj/session.stderr");
    for chunk_size in [1, 7, 64, stream.len()] {
        let (out, err) = print(stream.chunks(chunk_size).collect()).await;
        assert_eq!(out, expected_out, "stdout with {chunk_size}-byte reads");
        assert_eq!(err, expected_err, "stderr with {chunk_size}-byte reads");
    }
}

#[tokio::test]
async fn returns_a_read_failure_after_printing_what_came_before() {
    let reader = ChunkedReader::new([&b"{\"type\":\"changed\",\"timestamp\":0}\n"[..]])
        .then_fail(std::io::ErrorKind::ConnectionReset);
    let mut out = Vec::new();
    let result = client::run(reader, &TimeZone::UTC, &mut out, std::io::sink()).await;
    match result {
        Err(ClientError::Read(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset)
        }
        other => panic!("expected the read failure returned, got {other:?}"),
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "File changed: Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)\n"
    );
}

/// A write to stdout that fails is the client's own failure, not the
/// server's: it is returned as such, and ends the client.
#[tokio::test]
async fn returns_a_failure_to_write_its_output_as_its_own() {
    let reader = ChunkedReader::new([&b"{\"type\":\"changed\",\"timestamp\":0}\n"[..]]);
    let result = client::run(reader, &TimeZone::UTC, FailingWriter, std::io::sink()).await;
    match result {
        Err(ClientError::Write(error)) => assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("expected the write failure returned, got {other:?}"),
    }
}

/// Its log is stderr: a report it cannot write costs that report, and the
/// client goes on.
#[tokio::test]
async fn goes_on_when_a_report_of_a_bad_line_cannot_be_written() {
    let reader = ChunkedReader::new([&b"not json\n{\"type\":\"changed\",\"timestamp\":0}\n"[..]]);
    let mut out = Vec::new();
    client::run(reader, &TimeZone::UTC, &mut out, FailingWriter)
        .await
        .expect("a failing stderr does not stop the client");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "File changed: Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)\n"
    );
}

/// The server's error message ends the client with that message, printed
/// on neither stream by `run`: the program says it, and exits with 1.
#[tokio::test]
async fn returns_the_servers_error_message() {
    let reader = ChunkedReader::new([&b"{\"type\":\"error\",\"message\":\"the server is full\"}\n{\"type\":\"changed\",\"timestamp\":0}\n"[..]]);
    let mut out = Vec::new();
    let result = client::run(reader, &TimeZone::UTC, &mut out, std::io::sink()).await;
    match result {
        Err(error @ ClientError::Server(_)) => {
            assert_eq!(
                error.to_string(),
                "error from the server: the server is full"
            )
        }
        other => panic!("expected the server's error returned, got {other:?}"),
    }
    assert_eq!(out, b"", "nothing after the error is shown");
}

/// A socket bound to a port, then connected to that same port, is
/// connected to itself (what the OS arranges by chance now and then when
/// nothing listens there): refused, so the client says so and exits
/// instead of waiting forever for a greeting; and the port is let go at
/// once, so that the server the user starts next can listen there.
#[tokio::test]
async fn refuses_a_connection_made_to_itself_and_keeps_one_to_a_server() {
    // Without SO_REUSEADDR, as the client's own connection is made.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let own = socket.local_addr().unwrap();
    let itself = socket.connect(own).await.unwrap();
    let error = client::refuse_a_connection_to_itself(itself).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        error.to_string(),
        "nothing listens there (the connection was made to itself)"
    );
    assert!(
        std::net::TcpListener::bind(own).is_ok(),
        "a server can listen on {own} once the client has refused it"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to_a_server = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let kept = client::refuse_a_connection_to_itself(to_a_server).unwrap();
    assert_eq!(kept.peer_addr().unwrap(), listener.local_addr().unwrap());
}
