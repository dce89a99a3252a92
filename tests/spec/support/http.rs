//! A browser's side of HTTP, by hand: a spec's request, written as bytes on
//! a socket, and what it reads back: a response's status line and headers,
//! its body, or the events of a stream (chapter 13). Every read waits at
//! most [`super::PATIENCE`] (through [`LineReader`]).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use net_watcher::browser::events::STREAM_HEAD;

use super::binary::{LineReader, ScriptedServer};

/// A response being read: its head is read, the rest is still on the
/// socket.
pub struct Reply {
    /// The status line, without its line ending (`HTTP/1.1 200 OK`).
    pub status_line: String,
    /// The headers, names in lower case, in the order they came.
    pub headers: Vec<(String, String)>,
    reader: LineReader,
}

/// One event of a stream: its fields, in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `(name, value)` for each line; a comment has the name `""`.
    pub fields: Vec<(String, String)>,
}

impl Event {
    /// The value of field `name`, if the event has one.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `data` field, read as JSON.
    pub fn json(&self) -> serde_json::Value {
        let data = self
            .field("data")
            .unwrap_or_else(|| panic!("no data in {self:?}"));
        serde_json::from_str(data).unwrap_or_else(|error| panic!("{data:?}: {error}"))
    }
}

/// A fake `--http` server for a client of its event stream (chapter 13's
/// exercise), as chapter 5's fake service is for a client of LDJ: it answers
/// one request with a stream head and three events, in two writes a pause
/// apart ([`ScriptedServer::answering_in_writes`]), then ends the stream.
///
/// - The first `changed` event is cut in its `data` line, across the two
///   writes: a client that takes a read for whole events gets half a JSON.
/// - The second carries its JSON on two `data:` lines, which make one
///   event's data: a client that takes each `data:` line for a message,
///   without waiting for the empty line, gets half a JSON.
/// - A `: keep-alive` comment comes between them, as the real server sends
///   one to an idle stream: a client must skip it.
///
/// What a right client prints is [`SPLIT_EVENTS_PRINTED`].
pub fn split_event_service() -> ScriptedServer {
    let first = format!(
        "{STREAM_HEAD}retry: 1000\n\
         id: 1-0\nevent: watching\ndata: {{\"type\":\"watching\",\"file\":\"target.txt\"}}\n\n\
         : keep-alive\n\n\
         id: 1-1\nevent: changed\ndata: {{\"type\":\"chan"
    );
    let second = "ged\",\"timestamp\":1450694370094}\n\n\
                  id: 1-2\nevent: changed\n\
                  data: {\"type\":\"changed\",\n\
                  data: \"timestamp\":1450694371094}\n\n";
    ScriptedServer::answering_in_writes(vec![first.into_bytes(), second.as_bytes().to_vec()])
}

/// What the step-4 client prints (in `TZ=UTC`) for the events of
/// [`split_event_service`].
pub const SPLIT_EVENTS_PRINTED: [&str; 3] = [
    "Now watching: target.txt",
    "File changed: Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)",
    "File changed: Mon Dec 21 2015 10:39:31 GMT+0000 (UTC)",
];

/// Sends `bytes` to `addr` as they are, and reads the response's head.
pub fn send(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream.write_all(bytes).expect("the server takes a request");
    Reply::read(LineReader::new(stream))
}

/// `GET path` with `headers`, as a browser sends it.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, request("GET", path, headers).as_bytes())
}

/// The text of a request without a body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

impl Reply {
    /// Reads the head of a response from `reader`.
    pub fn read(mut reader: LineReader) -> Self {
        let status_line = reader.next_line("the status line").trim_end().to_owned();
        let mut headers = Vec::new();
        loop {
            let line = reader.next_line("a header or the end of the head");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header: {line:?}"));
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        Reply {
            status_line,
            headers,
            reader,
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status code in {:?}", self.status_line))
    }

    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body: everything until the server closes.
    pub fn body(mut self) -> String {
        self.reader.rest("the body")
    }

    /// The next line of the body, line ending included.
    pub fn next_line(&mut self, what: &str) -> String {
        self.reader.next_line(what)
    }

    /// The next event of a stream: lines up to a blank one.
    pub fn next_event(&mut self, what: &str) -> Event {
        let mut fields = Vec::new();
        loop {
            let line = self.reader.next_line(what);
            let line = line.strip_suffix('\n').unwrap_or(&line);
            if line.is_empty() {
                return Event { fields };
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            fields.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Waits for the server to end the stream; fails on more data.
    pub fn expect_end(&mut self, what: &str) {
        self.reader.expect_end(what);
    }

    /// Checks that nothing more comes for a while, and the stream stays
    /// open.
    pub fn expect_silence(&mut self, after: &str) {
        self.reader.expect_silence(after);
    }
}
