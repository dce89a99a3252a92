//! The chat of chapter 10 (`examples/chat`, an exercise's, or a student's
//! own), spawned on port 0, and the people who join it: each one a TCP
//! connection that also keeps what their terminal would show (what they
//! typed, what they were sent), for the transcripts.

use pretty_assertions::assert_eq;
use tokio::net::TcpStream;

use super::binary::{TestServer, exercise_program};
use super::in_process::{Subscriber, connect_stalled};

/// The chat the `chat::` specs check (a name [`super::binary::bin`] takes):
/// `examples/chat`, or the student's own chat when `NET_WATCHER_EXERCISE=NAME`
/// names one (`mine/examples/NAME/`), as every exercise's and step's specs
/// do, so that a student who writes the whole chat can run the whole spec on
/// it (chapter 10).
pub fn the_chat() -> String {
    exercise_program("examples/chat")
}

/// A running chat room.
pub struct ChatRoom {
    /// The `chat` process.
    pub server: TestServer,
}

impl ChatRoom {
    /// Starts [`the_chat`] with `PORT=0` and waits until it listens.
    pub fn open() -> Self {
        Self::open_program(&the_chat())
    }

    /// Starts chat program `name` (a name [`super::binary::bin`] takes,
    /// as an exercise's answer or a student's own) with `PORT=0` and waits
    /// until it listens.
    pub fn open_program(name: &str) -> Self {
        let server = TestServer::start_configured(name, &[], |command| {
            command.env("PORT", "0");
        });
        ChatRoom { server }
    }

    /// Someone joins and reads their welcome, which tells their name.
    pub async fn join(&self) -> Person {
        let mut person = Person {
            name: String::new(),
            connection: Subscriber::tcp(self.server.addr()).await,
            terminal: String::new(),
        };
        let welcome = person.next_line("the welcome").await;
        let name = welcome
            .strip_prefix("* welcome, ")
            .and_then(|rest| rest.split_once('!'))
            .map(|(name, _)| name.to_owned())
            .unwrap_or_else(|| panic!("expected a welcome naming the newcomer, got {welcome:?}"));
        person.name = name;
        person
    }

    /// Three people who joined in turn, each of whom has heard of those who
    /// came after: `guest1`, `guest2`, `guest3`.
    pub async fn three_people(&self) -> [Person; 3] {
        let mut first = self.join().await;
        let mut second = self.join().await;
        first.hears(&format!("* {} joined", second.name)).await;
        let third = self.join().await;
        for earlier in [&mut first, &mut second] {
            earlier.hears(&format!("* {} joined", third.name)).await;
        }
        [first, second, third]
    }

    /// Someone joins who will never read: a connection with the smallest
    /// receive buffer, so that the chat's writes to it soon wait.
    pub async fn join_without_reading(&self) -> TcpStream {
        connect_stalled(self.server.addr()).await
    }

    /// Waits for the line `expected` on the chat's console.
    pub fn console_says(&mut self, expected: &str) {
        self.server.process.wait_for_stdout(expected);
    }
}

/// Someone in the chat.
pub struct Person {
    /// The name the chat gave them on arrival.
    pub name: String,
    connection: Subscriber,
    terminal: String,
}

impl Person {
    /// Types `text` and presses Enter.
    pub async fn says(&mut self, text: &str) {
        self.types(&format!("{text}\n")).await;
    }

    /// Types `text` as it is: the chat sees these bytes in one piece.
    pub async fn types(&mut self, text: &str) {
        self.terminal.push_str(text);
        self.connection.type_text(text.as_bytes()).await;
    }

    /// The next line the chat sends, without its newline.
    pub async fn next_line(&mut self, what: &str) -> String {
        let line = self.connection.next_line(what).await;
        self.terminal.push_str(&line);
        line.strip_suffix('\n').unwrap_or(&line).to_owned()
    }

    /// The next line the chat sends is `expected`.
    pub async fn hears(&mut self, expected: &str) {
        let what = format!("{expected:?} on {}'s terminal", self.name);
        assert_eq!(self.next_line(&what).await, expected, "{what}");
    }

    /// Nothing more arrives for a while (an absence can only be awaited).
    pub async fn hears_nothing(&mut self, after: &str) {
        self.connection.expect_silence(after).await;
    }

    /// The chat closes the connection, with nothing more before it.
    pub async fn is_let_go(&mut self) {
        let what = format!("the chat to close {}'s connection", self.name);
        self.connection.expect_end(&what).await;
    }

    /// What their terminal shows so far: what they typed, and what they
    /// were sent, in order.
    pub fn terminal(&self) -> &str {
        &self.terminal
    }
}
