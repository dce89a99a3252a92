//! The messages net-watcher speaks, and the two ways of writing them down.
//!
//! Chapter 1 starts with plain text meant for people at `nc` or `telnet`;
//! chapter 3 replaces it with line-delimited JSON (LDJ) meant for programs:
//! one JSON object per line, ended by `\n`. Both protocols say the same two
//! things, so one [`Message`] type carries them and [`Protocol`] decides how a
//! message is rendered on the wire.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One message of the net-watcher protocol.
///
/// The server sends [`Message::Watching`] once, on connect, and
/// [`Message::Changed`] for every change. A client may still meet a `type` it
/// does not know (a newer server, a different service); that is not a framing
/// error, so it decodes to [`Message::Unknown`] and the client can say
/// `Unrecognized message type`.
// ANCHOR: message
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Incoming", into = "WireMessage")]
pub enum Message {
    /// The greeting: which file the server watches, as the user typed it.
    Watching {
        /// The watched path, as given on the server's command line.
        file: String,
    },
    /// The watched file changed.
    Changed {
        /// When the server saw the change, in milliseconds since the Unix epoch
        /// (what JavaScript's `Date.now()` returns).
        timestamp: u64,
    },
    /// A message whose `type` this crate does not know.
    Unknown {
        /// The value of the `type` field.
        kind: String,
    },
}
// ANCHOR_END: message

impl Message {
    /// The message as one LDJ line: compact JSON followed by `\n`.
    ///
    /// The field order and the absence of whitespace match the book byte for
    /// byte, so the book's own client can talk to this server.
    // ANCHOR: json_line
    pub fn to_json_line(&self) -> String {
        // Serialising our own plain structs into a String cannot fail: every
        // key is a string and every value a string or an integer.
        let mut line = serde_json::to_string(self).expect("a Message always serialises");
        line.push('\n');
        line
    }
    // ANCHOR_END: json_line

    /// The message as a plain-text line for people, followed by `\n`.
    // ANCHOR: text_line
    pub fn to_text_line(&self) -> String {
        match self {
            Message::Watching { file } => format!("Now watching \"{file}\" for changes...\n"),
            Message::Changed { timestamp } => {
                format!("File changed: {}\n", HumanDate::from_millis(*timestamp))
            }
            Message::Unknown { kind } => format!("Unknown message: {kind}\n"),
        }
    }
    // ANCHOR_END: text_line
}

/// The shape of a message on the wire, as written: a `type` tag and the
/// fields any known type may carry.
///
/// Why not `#[serde(tag = "type")]` on [`Message`] directly? An internally
/// tagged enum cannot keep the name of an unknown tag (`#[serde(other)]` only
/// allows a unit variant), and the client must print it.
#[derive(Serialize)]
struct WireMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
}

/// The shape of a message on the wire, as read: the same fields, with the
/// `type` decoded straight into [`Kind`].
///
/// Decoding through this flat struct is a single pass over the line with no
/// intermediate `serde_json::Value`, and it allocates only for what it keeps
/// (a file name, an unknown type's name): that is what makes the decoder
/// fast.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    timestamp: Option<u64>,
}

/// The value of `type`, compared in place: no `String` for the two known
/// types.
enum Kind {
    Watching,
    Changed,
    Other(String),
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;

        impl serde::de::Visitor<'_> for KindVisitor {
            type Value = Kind;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message type (a string)")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Kind, E> {
                Ok(match name {
                    "watching" => Kind::Watching,
                    "changed" => Kind::Changed,
                    other => Kind::Other(other.to_owned()),
                })
            }
        }

        deserializer.deserialize_str(KindVisitor)
    }
}

impl TryFrom<Incoming> for Message {
    type Error = String;

    fn try_from(wire: Incoming) -> Result<Self, Self::Error> {
        match wire.kind {
            Kind::Watching => match wire.file {
                Some(file) => Ok(Message::Watching { file }),
                None => Err("a \"watching\" message needs a \"file\" field".to_owned()),
            },
            Kind::Changed => match wire.timestamp {
                Some(timestamp) => Ok(Message::Changed { timestamp }),
                None => Err("a \"changed\" message needs a \"timestamp\" field".to_owned()),
            },
            Kind::Other(kind) => Ok(Message::Unknown { kind }),
        }
    }
}

impl From<Message> for WireMessage {
    fn from(message: Message) -> Self {
        match message {
            Message::Watching { file } => WireMessage {
                kind: "watching".to_owned(),
                file: Some(file),
                timestamp: None,
            },
            Message::Changed { timestamp } => WireMessage {
                kind: "changed".to_owned(),
                file: None,
                timestamp: Some(timestamp),
            },
            Message::Unknown { kind } => WireMessage {
                kind,
                file: None,
                timestamp: None,
            },
        }
    }
}

/// Which of the two protocols a server speaks to its subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Step 1: sentences for people (`nc`, `telnet`). The default.
    #[default]
    Text,
    /// Step 3: line-delimited JSON for programs.
    Json,
}

impl Protocol {
    /// Renders `message` as one line of this protocol, newline included.
    pub fn render(self, message: &Message) -> String {
        match self {
            Protocol::Text => message.to_text_line(),
            Protocol::Json => message.to_json_line(),
        }
    }
}

impl Protocol {
    /// Renders a notice that ends a connection (the server is full, the file
    /// cannot be watched) as one line of this protocol.
    ///
    /// In JSON it is `{"type":"error","message":…}`: a type the book's client
    /// does not know, so it prints `Unrecognized message type: error` rather
    /// than failing.
    pub fn render_error(self, message: &str) -> String {
        match self {
            Protocol::Text => format!("Error: {message}\n"),
            Protocol::Json => {
                // Written by hand so that `type` comes first, as in every
                // other message; a string always serialises.
                let message = serde_json::to_string(message).expect("a string serialises");
                format!("{{\"type\":\"error\",\"message\":{message}}}\n")
            }
        }
    }
}

/// Milliseconds since the Unix epoch, now: the `timestamp` of a change.
pub fn now_millis() -> u64 {
    // A clock set before 1970 is a broken machine, not a case to serve; 0 is
    // as honest an answer as any there.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// A timestamp written for people, in the shape of JavaScript's
/// `Date.prototype.toString()`, always in UTC:
/// `Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)`.
///
/// The book prints local time. We print UTC, with its offset spelled out, so
/// that the same change reads the same on every machine and in every test, and
/// so that no time-zone database is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDate {
    millis: u64,
}

impl HumanDate {
    /// The date `millis` milliseconds after the Unix epoch.
    pub fn from_millis(millis: u64) -> Self {
        HumanDate { millis }
    }
}

impl fmt::Display for HumanDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let seconds = self.millis / 1000;
        let days = seconds / 86_400;
        let second_of_day = seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{} {} {:02} {} {:02}:{:02}:{:02} GMT+0000 (UTC)",
            // 1970-01-01 was a Thursday, hence the table's first entry.
            WEEKDAYS[(days % 7) as usize],
            MONTHS[(month - 1) as usize],
            day,
            year,
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60,
        )
    }
}

/// Year, month (1–12) and day (1–31) of the proleptic Gregorian calendar for a
/// count of days since 1970-01-01.
///
/// This is Howard Hinnant's `civil_from_days`, restricted to dates on or after
/// the epoch: it counts in 400-year eras of 146,097 days, with years starting
/// in March so that the leap day falls at the end of the year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_epoch_is_a_thursday() {
        assert_eq!(
            HumanDate::from_millis(0).to_string(),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)"
        );
    }

    #[test]
    fn the_books_timestamp_reads_as_the_books_moment_in_utc() {
        // The book's example, 1450694370094, was printed as 05:39:30 EST.
        assert_eq!(
            HumanDate::from_millis(1_450_694_370_094).to_string(),
            "Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"
        );
    }

    #[test]
    fn a_leap_day_and_the_turn_of_a_century_are_counted() {
        // 2000-02-29 (a leap day in a year divisible by 400) and 2100-03-01
        // (2100 is not a leap year) exercise both corrections of the calendar.
        assert_eq!(
            HumanDate::from_millis(951_782_400_000).to_string(),
            "Tue Feb 29 2000 00:00:00 GMT+0000 (UTC)"
        );
        assert_eq!(
            HumanDate::from_millis(4_107_542_400_000).to_string(),
            "Mon Mar 01 2100 00:00:00 GMT+0000 (UTC)"
        );
        assert_eq!(
            HumanDate::from_millis(1_798_761_599_000).to_string(),
            "Thu Dec 31 2026 23:59:59 GMT+0000 (UTC)"
        );
    }
}
