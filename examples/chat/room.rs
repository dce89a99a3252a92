//! The room: the state every connection shares (chapter 10). Who is here,
//! under which name, and the queue of lines waiting to be written to each
//! person. One `Room` sits behind a `Mutex` that a connection locks for a
//! moment, never across an `.await`, so nothing here waits for a socket.

use std::collections::BTreeMap;

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::AbortHandle;

/// How many lines may wait for a person before they are cut off.
pub const QUEUE_LENGTH: usize = 64;

// ANCHOR: room
/// Someone in the room.
struct Person {
    name: String,
    /// Lines waiting to be written to them; `None` once they are cut off.
    outbox: Option<mpsc::Sender<String>>,
    /// Their writing task, stopped when they are cut off.
    writer: AbortHandle,
}

/// Everyone connected, in order of arrival.
#[derive(Default)]
pub struct Room {
    people: BTreeMap<u64, Person>,
    arrivals: u64,
}

// ANCHOR: tell
impl Person {
    /// Queues `line` for this person; cuts them off if their queue is full.
    fn tell(&mut self, line: &str) {
        let Some(outbox) = &self.outbox else { return };
        if let Err(TrySendError::Full(_)) = outbox.try_send(format!("{line}\n")) {
            // They have stopped reading. Waiting for them would stop everyone,
            // and holding more lines for them would grow without bound.
            println!("{} is not reading: disconnected.", self.name);
            self.outbox = None;
            self.writer.abort();
        }
    }
}
// ANCHOR_END: tell
// ANCHOR_END: room

impl Room {
    /// Lets someone in under the next free guest name; returns their number.
    pub fn join(&mut self, outbox: mpsc::Sender<String>, writer: AbortHandle) -> u64 {
        let name = loop {
            self.arrivals += 1;
            let name = format!("guest{}", self.arrivals);
            if !self.people.values().any(|person| person.name == name) {
                break name;
            }
        };
        let me = self.arrivals;
        self.people.insert(
            me,
            Person {
                name: name.clone(),
                outbox: Some(outbox),
                writer,
            },
        );
        self.tell(me, &format!("* welcome, {name}! /nick NAME, /who, /quit"));
        self.announce(me, &format!("* {name} joined"));
        me
    }

    // ANCHOR: act_on
    /// Acts on one line from person `me`; false when they leave.
    pub fn act_on(&mut self, me: u64, line: &str) -> bool {
        let name = self.people[&me].name.clone();
        let (command, argument) = line.split_once(' ').unwrap_or((line, ""));
        match command {
            "/quit" => return false,
            "/who" => {
                let names: Vec<&str> = self.people.values().map(|p| p.name.as_str()).collect();
                self.tell(me, &format!("* here: {}", names.join(", ")));
            }
            "/nick" => self.rename(me, &name, argument),
            _ if command.starts_with('/') => self.tell(me, "* commands: /nick NAME, /who, /quit"),
            "" => {} // An empty line is sent to no one.
            _ => self.send_to_others(me, &format!("{name}: {line}")),
        }
        true
    }
    // ANCHOR_END: act_on

    /// Gives person `me` the name `new`, or tells them why not.
    fn rename(&mut self, me: u64, old: &str, new: &str) {
        let refusal = match new {
            "" => "a name is needed: /nick NAME",
            _ if new.contains(char::is_whitespace) => "a name cannot contain spaces",
            _ if self.people.values().any(|person| person.name == new) => "that name is taken",
            _ => {
                self.people.get_mut(&me).unwrap().name = new.to_owned();
                self.tell(me, &format!("* you are now {new}"));
                self.announce(me, &format!("* {old} is now {new}"));
                return;
            }
        };
        self.tell(me, &format!("* {refusal}; you are still {old}"));
    }

    /// Lets person `me` go, and tells them and the others.
    pub fn leave(&mut self, me: u64) {
        if let Some(mut person) = self.people.remove(&me) {
            person.tell(&format!("* bye, {}", person.name));
            self.announce(me, &format!("* {} left", person.name));
        }
    }

    /// Queues `line` for person `to`.
    pub fn tell(&mut self, to: u64, line: &str) {
        if let Some(person) = self.people.get_mut(&to) {
            person.tell(line);
        }
    }

    // ANCHOR: send_to_others
    /// Queues `line` for everyone but person `from`.
    fn send_to_others(&mut self, from: u64, line: &str) {
        for (&id, person) in &mut self.people {
            if id != from {
                person.tell(line);
            }
        }
    }
    // ANCHOR_END: send_to_others

    /// Tells the others, and the console, what happened to person `from`.
    fn announce(&mut self, from: u64, event: &str) {
        println!("{event}");
        self.send_to_others(from, event);
    }
}
