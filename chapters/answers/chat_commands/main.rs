//! An answer to chapter 10's exercises: the chat of `examples/chat/`, whose
//! room knows two more commands, `/me ACTION` and `/msg NAME TEXT`.
//!
//! Only the room differs (`room.rs`, beside this file). The network side
//! and a person's queue are the example's own files, used as they are:
//! this program is what a student has who copied `examples/chat/` and
//! changed `room.rs`. `cargo test --test spec exercises::chat_commands`
//! runs it.

#[path = "../../../examples/chat/connection.rs"]
mod connection;
#[path = "../../../examples/chat/person.rs"]
mod person;
mod room;

fn main() {
    connection::open_the_room();
}
