//! An answer to chapter 10's exercises: the room of `examples/chat/room.rs`,
//! with two more commands, `/me ACTION` and `/msg NAME TEXT`. The rest of
//! the file is the example's.
//!
//! The room: the state every connection shares (chapter 10). Who is here,
//! in order of arrival and under which name, and what each command does.
//! One `Room` sits behind a tokio `Mutex`: a connection holds it while it
//! hands a line to everyone's queue, so everyone hears the room's lines in
//! the same order, and a full queue makes the room wait (see `person.rs`).

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::person::Person;

/// The commands, as the welcome and the reply to an unknown one list them.
const COMMANDS: &str = "/nick NAME, /who, /me ACTION, /msg NAME TEXT, /quit";

/// Everyone connected, in order of arrival.
#[derive(Default)]
pub struct Room {
    people: BTreeMap<u64, Person>,
    arrivals: u64,
}

impl Room {
    /// Lets someone in under the next free guest name; returns their number.
    pub async fn join(&mut self, outbox: mpsc::Sender<String>, writer: AbortHandle) -> u64 {
        let name = loop {
            self.arrivals += 1;
            let name = format!("guest{}", self.arrivals);
            if !self.people.values().any(|person| person.name == name) {
                break name;
            }
        };
        let me = self.arrivals;
        self.people
            .insert(me, Person::new(name.clone(), outbox, writer));
        let welcome = format!("* welcome, {name}! {COMMANDS}");
        self.tell(me, &welcome).await;
        self.announce(me, &format!("* {name} joined")).await;
        me
    }

    // ANCHOR: act_on
    /// Acts on one line from person `me`; false when they leave.
    pub async fn act_on(&mut self, me: u64, line: &str) -> bool {
        let name = self.people[&me].name.clone();
        let (command, argument) = line.split_once(' ').unwrap_or((line, ""));
        match command {
            "/quit" => return false,
            "/who" => {
                let names: Vec<&str> = self.people.values().map(|p| p.name.as_str()).collect();
                self.tell(me, &format!("* here: {}", names.join(", ")))
                    .await;
            }
            "/nick" => self.rename(me, &name, argument).await,
            // Before the arm below, which takes every other `/` word.
            "/me" if argument.is_empty() => {} // No action: sent to no one.
            "/me" => {
                self.send_to_others(me, &format!("* {name} {argument}"))
                    .await
            }
            "/msg" => self.whisper(me, &name, argument).await,
            _ if command.starts_with('/') => {
                self.tell(me, &format!("* commands: {COMMANDS}")).await
            }
            "" => {} // An empty line is sent to no one.
            _ => self.send_to_others(me, &format!("{name}: {line}")).await,
        }
        true
    }
    // ANCHOR_END: act_on

    /// Gives person `me` the name `new`, or tells them why not.
    async fn rename(&mut self, me: u64, old: &str, new: &str) {
        let refusal = match new {
            "" => "a name is needed: /nick NAME",
            _ if new.contains(char::is_whitespace) => "a name cannot contain spaces",
            _ if self.people.values().any(|person| person.name == new) => "that name is taken",
            _ => {
                self.people.get_mut(&me).unwrap().name = new.to_owned();
                self.tell(me, &format!("* you are now {new}")).await;
                self.announce(me, &format!("* {old} is now {new}")).await;
                return;
            }
        };
        self.tell(me, &format!("* {refusal}; you are still {old}"))
            .await;
    }

    // ANCHOR: whisper
    /// `/msg NAME TEXT` from person `me`, called `name`: `TEXT` goes to
    /// the one called `NAME` only; the sender hears why when it cannot.
    async fn whisper(&mut self, me: u64, name: &str, argument: &str) {
        // A name alone, or a name and a space, is not a message.
        let parts = argument.split_once(' ');
        let Some((to, text)) = parts.filter(|(_, text)| !text.is_empty()) else {
            return self
                .tell(me, "* a name and a text are needed: /msg NAME TEXT")
                .await;
        };
        let found = self.people.iter().find(|(_, person)| person.name == to);
        match found.map(|(&id, _)| id) {
            Some(id) => self.tell(id, &format!("{name} (to you): {text}")).await,
            None => {
                let refusal = format!("* nobody here is called {to}; not sent");
                self.tell(me, &refusal).await
            }
        }
    }
    // ANCHOR_END: whisper

    /// Lets person `me` go, and tells them and the others.
    pub async fn leave(&mut self, me: u64) {
        if let Some(mut person) = self.people.remove(&me) {
            person.tell(&format!("* bye, {}", person.name)).await;
            self.announce(me, &format!("* {} left", person.name)).await;
        }
    }

    /// Queues `line` for person `to`.
    pub async fn tell(&mut self, to: u64, line: &str) {
        if let Some(person) = self.people.get_mut(&to) {
            person.tell(line).await;
        }
    }

    /// Queues `line` for everyone but person `from`.
    async fn send_to_others(&mut self, from: u64, line: &str) {
        for (&id, person) in &mut self.people {
            if id != from {
                person.tell(line).await;
            }
        }
    }

    /// Tells the others, and the console, what happened to person `from`.
    async fn announce(&mut self, from: u64, event: &str) {
        println!("{event}");
        self.send_to_others(from, event).await;
    }
}
