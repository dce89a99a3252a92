//! The messages net-watcher speaks, and the two ways of writing them down.
//!
//! Chapter 1 starts with plain text meant for people at `nc` or `telnet`;
//! chapter 3 replaces it with line-delimited JSON (LDJ) meant for programs:
//! one JSON object per line, ended by `\n`. Both protocols say the same two
//! things, so one [`Message`] type carries them and [`Protocol`] decides how a
//! message is rendered on the wire. JSON carries a change's timestamp as a
//! number; plain text writes it as a date ([`HumanDate`]) in the reader's
//! time zone ([`reader_time_zone`]), with jiff's calendar and time zone
//! rules.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde::{Deserialize, Serialize};

/// One message of the net-watcher protocol.
///
/// The server sends [`Message::Watching`] once, on connect, and
/// [`Message::Changed`] for every change; or, instead of the greeting,
/// [`Message::Error`] before it closes (it is full, or cannot watch). A client may still meet a `type` it
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
    /// The server's last word before it closes the connection: it is
    /// full, or cannot watch the file.
    Error {
        /// What went wrong, in the server's words.
        message: String,
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

    /// The message as a plain-text line for people, followed by `\n`, with
    /// a date in `zone` (see [`reader_time_zone`]).
    // ANCHOR: text_line
    pub fn to_text_line(&self, zone: &TimeZone) -> String {
        match self {
            Message::Watching { file } => {
                format!(
                    "Now watching \"{}\" for changes...\n",
                    escape_controls(file)
                )
            }
            Message::Changed { timestamp } => {
                format!("File changed: {}\n", HumanDate::new(*timestamp, zone))
            }
            Message::Error { message } => format!("Error: {}\n", escape_controls(message)),
            Message::Unknown { kind } => format!("Unknown message: {}\n", escape_controls(kind)),
        }
    }
    // ANCHOR_END: text_line
}

/// How [`Message::to_json_line`] (and the book's `JSON.stringify`) begins a
/// `changed` message; the timestamp's digits and `}` follow.
pub(crate) const CHANGED_PREFIX: &[u8] = br#"{"type":"changed","timestamp":"#;

/// How a `watching` message begins; the file name and `"}` follow.
const WATCHING_PREFIX: &[u8] = br#"{"type":"watching","file":""#;

impl Message {
    /// Reads `line` (without its line ending) if it is written exactly the
    /// way [`Message::to_json_line`] writes a `changed` or `watching`
    /// message: compact, `type` first, a plain decimal timestamp, a file name
    /// with no escapes. Returns `None` for anything else, and the caller
    /// parses that line with serde_json, which has the last word on what is
    /// valid JSON.
    ///
    /// Why a second parser? Every line our server and the book's server send
    /// has one of these two shapes, and recognising them takes a compare and
    /// a digit loop where serde_json walks a general grammar: it is what lets
    /// the decoder keep up with loopback (BENCHMARKS.md). Whatever it accepts,
    /// serde_json reads as the same message; a property test holds it to
    /// that.
    // ANCHOR: canonical
    pub(crate) fn from_canonical_json(line: &[u8]) -> Option<Message> {
        if let Some(rest) = line.strip_prefix(CHANGED_PREFIX) {
            let digits = rest.strip_suffix(b"}")?;
            return decimal_u64(digits).map(|timestamp| Message::Changed { timestamp });
        }
        let name = line.strip_prefix(WATCHING_PREFIX)?.strip_suffix(b"\"}")?;
        // A quote or backslash means escapes (or a malformed line), and JSON
        // forbids raw control characters in strings: serde_json decides those.
        if name
            .iter()
            .any(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        {
            return None;
        }
        let file = std::str::from_utf8(name).ok()?;
        Some(Message::Watching {
            file: file.to_owned(),
        })
    }
    // ANCHOR_END: canonical
}

/// A JSON integer that fits a `u64`: one or more digits, no sign, no leading
/// zero (JSON forbids it), no fraction or exponent.
fn decimal_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
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
    #[serde(default)]
    message: Option<String>,
}

/// The value of `type`, compared in place: no `String` for the known
/// types.
enum Kind {
    Watching,
    Changed,
    Error,
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
                    "error" => Kind::Error,
                    other => Kind::Other(other.to_owned()),
                })
            }
        }

        deserializer.deserialize_str(KindVisitor)
    }
}

impl TryFrom<Incoming> for Message {
    type Error = String;

    fn try_from(wire: Incoming) -> Result<Self, String> {
        match wire.kind {
            Kind::Watching => match wire.file {
                Some(file) => Ok(Message::Watching { file }),
                None => Err("a \"watching\" message needs a \"file\" field".to_owned()),
            },
            Kind::Changed => match wire.timestamp {
                Some(timestamp) => Ok(Message::Changed { timestamp }),
                None => Err("a \"changed\" message needs a \"timestamp\" field".to_owned()),
            },
            Kind::Error => match wire.message {
                Some(message) => Ok(Message::Error { message }),
                None => Err("an \"error\" message needs a \"message\" field".to_owned()),
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
                message: None,
            },
            Message::Changed { timestamp } => WireMessage {
                kind: "changed".to_owned(),
                file: None,
                timestamp: Some(timestamp),
                message: None,
            },
            Message::Error { message } => WireMessage {
                kind: "error".to_owned(),
                file: None,
                timestamp: None,
                message: Some(message),
            },
            Message::Unknown { kind } => WireMessage {
                kind,
                file: None,
                timestamp: None,
                message: None,
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
    /// Plain text dates a change in `zone`; JSON carries the timestamp
    /// itself, and ignores it.
    pub fn render(self, message: &Message, zone: &TimeZone) -> String {
        match self {
            Protocol::Text => message.to_text_line(zone),
            Protocol::Json => message.to_json_line(),
        }
    }
}

impl Protocol {
    /// Renders a notice that ends a connection (the server is full, the file
    /// cannot be watched) as one line of this protocol: a
    /// [`Message::Error`].
    ///
    /// In JSON it is `{"type":"error","message":…}`: a type the book's client
    /// does not know, so it prints `Unrecognized message type: error` rather
    /// than failing; this crate's client prints the message on stderr, and
    /// exits with status 1.
    pub fn render_error(self, message: &str) -> String {
        let notice = Message::Error {
            message: message.to_owned(),
        };
        // A notice carries no date: any zone renders it the same.
        self.render(&notice, &TimeZone::UTC)
    }
}

/// `text` as it is shown to people: every control character written as an
/// escape, so that text from outside (a file name, a message's type, an
/// error's words) is shown and never obeyed.
///
/// A newline in a file name would otherwise end a line of ours and start one
/// of the name's choosing (`a\nFile changed: FAKE`), and ESC or CR would
/// drive the reader's terminal (colours, a window's title, a line written
/// over). The escapes are JSON's: `\n`, `\r`, `\t`, and `\u001b` for the
/// rest of the C0 controls, DEL and the C1 controls (U+0080 to U+009F, which
/// some terminals obey as ESC sequences). Everything else, backslashes
/// included, is left as it is: nothing but a control character can break a
/// line or reach a terminal as a command, and names stay readable.
///
/// Borrowed when there is nothing to escape, which is almost always.
///
/// ```
/// use net_watcher::protocol::escape_controls;
///
/// assert_eq!(escape_controls("target.txt"), "target.txt");
/// assert_eq!(escape_controls("a\nb\u{1b}[31m"), "a\\nb\\u001b[31m");
/// ```
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        match character {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            // Writing to a String cannot fail.
            control if control.is_control() => {
                let _ = write!(shown, "\\u{:04x}", u32::from(control));
            }
            other => shown.push(other),
        }
    }
    Cow::Owned(shown)
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

/// The time zone dates are written in for the person who reads them: the
/// zone the `TZ` environment variable names, else the system's (on Linux,
/// `/etc/localtime`), else UTC.
///
/// What `TZ` may hold is what the C library and jiff take: a zone's name
/// (`Europe/Madrid`), looked up in the system's time zone database
/// (`/usr/share/zoneinfo`, or the directory `TZDIR` names); a rule
/// (`CET-1CEST,M3.5.0,M10.5.0/3`), which needs no database; or a file.
///
/// The error says why `TZ` cannot be used (an unknown name, no time zone
/// database installed, or a file that is not a zone's: a device, a FIFO,
/// a file of gigabytes): the caller then writes dates in UTC, and should
/// say so, since the person asked for another zone. Without `TZ`, a
/// system zone that cannot be read is UTC without a word, as it is for
/// `date` and every other program on that machine.
pub fn reader_time_zone() -> Result<TimeZone, String> {
    if let Some(asked) = std::env::var_os("TZ") {
        check_zone_files(&asked, std::env::var_os("TZDIR")).map_err(|reason| {
            format!(
                "cannot use the time zone TZ={}: {reason}",
                asked.to_string_lossy()
            )
        })?;
    }
    match TimeZone::try_system() {
        Ok(zone) => Ok(zone),
        Err(error) => match std::env::var_os("TZ") {
            Some(asked) => Err(format!(
                "cannot use the time zone TZ={}: {error}",
                asked.to_string_lossy()
            )),
            None => Ok(TimeZone::UTC),
        },
    }
}

/// The largest time zone file read: the system's are a few kilobytes, the
/// largest in the time zone database under 5 KiB.
pub const MAX_ZONE_FILE: u64 = 1 << 20;

/// The zoneinfo directories jiff looks in when `TZDIR` is not set.
const ZONEINFO_DIRECTORIES: [&str; 3] = [
    "/usr/share/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/etc/zoneinfo",
];

/// Checks that every file `TZ` (`asked`) could make jiff read, with `TZDIR`
/// as given, is a regular file of at most [`MAX_ZONE_FILE`] bytes, or
/// absent.
///
/// jiff reads a zone's file whole: `TZ=/dev/zero` grew the server to 2.5 GB
/// within 3 s, before it listened, and `TZ=` a FIFO blocked it there. Which
/// files it may read: `TZ` itself as a path (absolute, or from the current
/// directory), and the name in the zone database's directory (`TZDIR`, or
/// the system's), with or without what comes before `zoneinfo/`. A rule
/// (`CET-1CEST,M3.5.0,M10.5.0/3`) names no file, and none of these exists.
/// (A directory is passed: reading one fails at once, and jiff says so.)
/// What is left: a database that holds a device under a name that matches
/// only when case is ignored, which someone would have to put there.
fn check_zone_files(
    asked: &std::ffi::OsStr,
    tzdir: Option<std::ffi::OsString>,
) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    // `:` before a name or a path says "implementation-defined" (POSIX),
    // and changes nothing for jiff.
    let bytes = asked.as_bytes();
    let name = std::path::Path::new(std::ffi::OsStr::from_bytes(
        bytes.strip_prefix(b":").unwrap_or(bytes),
    ));
    let mut candidates = vec![name.to_path_buf()];
    let directories: Vec<std::path::PathBuf> = match tzdir {
        Some(dir) => vec![dir.into()],
        None => ZONEINFO_DIRECTORIES.iter().map(Into::into).collect(),
    };
    let after_zoneinfo = name
        .to_str()
        .and_then(|name| name.rsplit_once("zoneinfo/"))
        .map(|(_, rest)| rest);
    for directory in &directories {
        candidates.push(directory.join(name));
        if let Some(rest) = after_zoneinfo {
            candidates.push(directory.join(rest));
        }
    }
    for path in candidates {
        // Following symlinks, as reading does.
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            continue;
        }
        if !metadata.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        if metadata.len() > MAX_ZONE_FILE {
            return Err(format!(
                "{} is {} bytes, more than a time zone file ever is",
                path.display(),
                metadata.len()
            ));
        }
    }
    Ok(())
}

/// The last instant JavaScript's `Date` holds: 8.64e15 ms (a hundred
/// million days) after the epoch, in September of the year 275760. Past it,
/// JavaScript writes `Invalid Date`.
pub const LAST_JAVASCRIPT_MILLIS: u64 = 8_640_000_000_000_000;

/// Four hundred years of the Gregorian calendar, in milliseconds: 146,097
/// days, which is a whole number of weeks (20,871).
const FOUR_CENTURIES_MILLIS: u64 = 146_097 * 86_400_000;

/// A timestamp written for people, in the shape of JavaScript's
/// `Date.prototype.toString()` as the book's server prints it:
/// `Mon Dec 21 2015 11:39:30 GMT+0100 (CET)` in Madrid, `Mon Dec 21 2015
/// 10:39:30 GMT+0000 (UTC)` in UTC.
///
/// The zone's abbreviation is the time zone database's. Where that
/// database has none for a zone, it gives the offset instead, so São Paulo
/// reads `GMT-0300 (-03)`; JavaScript prints a long name there from its own
/// tables (`Brasilia Standard Time`), which we do not carry. Everything
/// before the parenthesis is what JavaScript prints, up to its last instant
/// ([`LAST_JAVASCRIPT_MILLIS`], in the year 275760); past it, `Invalid
/// Date`, as JavaScript writes it.
///
/// jiff's calendar ends late in the year 9999. A later date is written as
/// the one a whole number of 400-year cycles earlier, with the cycles added
/// back to its year: the Gregorian calendar repeats every 400 years,
/// weekdays included, and so do a zone's rules once its table of past
/// changes ends (from then on, one yearly rule: "summer time from the last
/// Sunday of March"). That is jiff's own calendar and zone rules, not a
/// calendar of ours; the `human_date` specs hold it to what Node prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanDate {
    /// The date within jiff's range, and the years to add to it.
    at: Option<(ZonedDateTime, i64)>,
}

impl HumanDate {
    /// The date `millis` milliseconds after the Unix epoch, in `zone`.
    pub fn new(millis: u64, zone: &TimeZone) -> Self {
        if millis > LAST_JAVASCRIPT_MILLIS {
            return HumanDate { at: None };
        }
        // Both fit an i64 with room to spare: the last JavaScript instant is
        // about 2^53.
        let last = Timestamp::MAX.as_millisecond() as u64;
        let cycles = millis.saturating_sub(last).div_ceil(FOUR_CENTURIES_MILLIS);
        let within = (millis - cycles * FOUR_CENTURIES_MILLIS) as i64;
        let at = Timestamp::from_millisecond(within).ok().map(|timestamp| {
            (
                timestamp.to_zoned_datetime(zone.clone()),
                400 * cycles as i64,
            )
        });
        HumanDate { at }
    }
}

impl fmt::Display for HumanDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some((at, years)) => write!(
                f,
                "{} {:04} {}",
                at.strftime("%a %b %d"),
                i64::from(at.year()) + years,
                at.strftime("%H:%M:%S GMT%z (%Z)")
            ),
            None => f.write_str("Invalid Date"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn canonical(message: &Message) -> Vec<u8> {
        let mut line = message.to_json_line().into_bytes();
        assert_eq!(line.pop(), Some(b'\n'));
        line
    }

    fn any_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            any::<String>().prop_map(|file| Message::Watching { file }),
            // Short names too, printable or not, so that quotes, backslashes
            // and control characters turn up often.
            "[a-z\"\\\\\\x00-\\x1f\\x7f é]{0,6}".prop_map(|file| Message::Watching { file }),
            any::<u64>().prop_map(|timestamp| Message::Changed { timestamp }),
            (0u64..1000).prop_map(|timestamp| Message::Changed { timestamp }),
        ]
    }

    /// A byte an edit puts into a line: any byte, or one that matters to the
    /// grammar more often than chance would pick it.
    fn any_edit_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            prop::sample::select(b"\"\\}{0123456789 -.eE:,\r\n".to_vec()),
        ]
    }

    proptest! {
        #[test]
        fn the_short_road_reads_every_line_we_write_without_escapes(message in any_message()) {
            let line = canonical(&message);
            let read = Message::from_canonical_json(&line);
            if line.contains(&b'\\') {
                prop_assert_eq!(read, None, "an escaped name is serde_json's to read");
            } else {
                prop_assert_eq!(read, Some(message));
            }
        }

        #[test]
        fn whatever_the_short_road_accepts_serde_json_reads_the_same(
            message in any_message(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any_edit_byte()), 0..4),
        ) {
            let mut line = canonical(&message);
            for (at, what, byte) in edits {
                let at = at.index(line.len() + 1);
                match what {
                    0 => line.insert(at, byte),
                    1 if at < line.len() => { line.remove(at); }
                    _ if at < line.len() => line[at] = byte,
                    _ => line.push(byte),
                }
            }
            if let Some(read) = Message::from_canonical_json(&line) {
                let by_serde = serde_json::from_slice::<Message>(&line);
                prop_assert!(
                    matches!(&by_serde, Ok(message) if *message == read),
                    "the short road read {:?} as {:?}; serde_json says {:?}",
                    String::from_utf8_lossy(&line), read, by_serde
                );
            }
        }
    }

    proptest! {
        #[test]
        fn whatever_fills_a_known_shape_the_short_road_and_serde_json_agree_on(
            changed in any::<bool>(),
            middle in prop::collection::vec(any_edit_byte(), 0..8),
        ) {
            let (prefix, suffix): (&[u8], &[u8]) = if changed {
                (CHANGED_PREFIX, b"}")
            } else {
                (WATCHING_PREFIX, b"\"}")
            };
            let line = [prefix, &middle, suffix].concat();
            let by_serde = serde_json::from_slice::<Message>(&line).ok();
            // Only valid UTF-8 reaches the decoder's JSON step; for the rest,
            // the short road must simply stay out of the way.
            let expected = if std::str::from_utf8(&line).is_ok() { by_serde } else { None };
            let read = Message::from_canonical_json(&line);
            // The short road may leave a line to serde_json, but never read
            // it differently; and it must take every plain timestamp.
            prop_assert!(read.is_none() || read == expected, "{:?}: {:?} vs {:?}", String::from_utf8_lossy(&line), read, expected);
            if changed && !middle.is_empty() && middle.iter().all(u8::is_ascii_digit) && expected.is_some() {
                prop_assert_eq!(read, expected);
            }
        }
    }

    #[test]
    fn the_short_road_leaves_every_other_number_to_serde_json() {
        for digits in [
            "",
            "01",
            "00",
            "-1",
            "1.0",
            "1e3",
            "+1",
            " 1",
            "1 ",
            "18446744073709551616",
            "99999999999999999999",
        ] {
            let line = format!("{{\"type\":\"changed\",\"timestamp\":{digits}}}");
            assert_eq!(
                Message::from_canonical_json(line.as_bytes()),
                None,
                "{line} should be left to serde_json"
            );
        }
        for (digits, timestamp) in [("0", 0), ("7", 7), ("18446744073709551615", u64::MAX)] {
            let line = format!("{{\"type\":\"changed\",\"timestamp\":{digits}}}");
            assert_eq!(
                Message::from_canonical_json(line.as_bytes()),
                Some(Message::Changed { timestamp }),
                "{line}"
            );
        }
        let line = "{\"type\":\"watching\",\"file\":\" ~\x7f\"}";
        assert_eq!(
            Message::from_canonical_json(line.as_bytes()),
            Some(Message::Watching {
                file: " ~\x7f".into()
            }),
            "a space, a tilde and DEL need no escape"
        );
    }

    #[test]
    fn the_short_road_leaves_spaced_escaped_or_extended_messages_to_serde_json() {
        for line in [
            r#"{"type": "changed","timestamp":1}"#,
            r#"{"type":"changed","timestamp":1,"extra":2}"#,
            r#"{"timestamp":1,"type":"changed"}"#,
            r#"{"type":"watching","file":"a\"b"}"#,
            r#"{"type":"watching","file":"a\\b"}"#,
            "{\"type\":\"watching\",\"file\":\"a\tb\"}",
            "{\"type\":\"watching\",\"file\":\"a\x1fb\"}",
            r#"{"type":"watching","file":"a"}"}"#,
            r#"{"type":"watching","file":"a"} "#,
        ] {
            assert_eq!(
                Message::from_canonical_json(line.as_bytes()),
                None,
                "{line} should be left to serde_json"
            );
        }
        assert_eq!(
            Message::from_canonical_json(b"{\"type\":\"watching\",\"file\":\"\xff\"}"),
            None,
            "a name that is not UTF-8 should be left to the decoder's UTF-8 check"
        );
    }

    #[test]
    fn every_control_character_is_escaped_and_nothing_else() {
        assert_eq!(escape_controls("\n\r\t"), "\\n\\r\\t");
        assert_eq!(
            escape_controls("\u{0}\u{7}\u{1b}\u{1f}\u{7f}\u{80}\u{9b}\u{9f}"),
            "\\u0000\\u0007\\u001b\\u001f\\u007f\\u0080\\u009b\\u009f"
        );
        let printable = " ~\\\"ñandú \u{a0}\u{2028}\u{1f600}";
        assert!(
            matches!(escape_controls(printable), Cow::Borrowed(text) if text == printable),
            "expected {printable:?} borrowed as it is"
        );
    }

    #[test]
    fn a_zone_given_by_name_rule_or_path_to_a_zone_file_passes_the_check() {
        for asked in [
            "UTC",
            "Europe/Madrid",
            ":Europe/Madrid",
            "/usr/share/zoneinfo/Europe/Madrid",
            ":/usr/share/zoneinfo/Europe/Madrid",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "Nowhere/Atlantis",
            // A directory: jiff fails to read it at once, and says so.
            "Europe",
        ] {
            assert_eq!(check_zone_files(asked.as_ref(), None), Ok(()), "{asked}");
        }
    }

    #[test]
    fn a_zone_file_that_is_a_device_or_too_big_fails_the_check_wherever_it_is_found() {
        assert_eq!(
            check_zone_files(":/dev/zero".as_ref(), None),
            Err("/dev/zero is not a regular file".to_owned())
        );
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("zoneinfo/Huge");
        std::fs::create_dir(huge.parent().unwrap()).unwrap();
        std::fs::File::create(&huge)
            .and_then(|file| file.set_len(MAX_ZONE_FILE + 1))
            .unwrap();
        let too_big = format!(
            "{} is {} bytes, more than a time zone file ever is",
            huge.display(),
            MAX_ZONE_FILE + 1
        );
        assert_eq!(
            check_zone_files(huge.as_os_str(), None),
            Err(too_big.clone())
        );
        // In the database's directory, by name, or by a path whose part
        // after `zoneinfo/` is the name.
        let database = Some(dir.path().join("zoneinfo").into_os_string());
        assert_eq!(
            check_zone_files("Huge".as_ref(), database.clone()),
            Err(too_big.clone())
        );
        assert_eq!(
            check_zone_files("/elsewhere/zoneinfo/Huge".as_ref(), database.clone()),
            Err(too_big)
        );
        std::fs::File::create(&huge)
            .and_then(|file| file.set_len(MAX_ZONE_FILE))
            .unwrap();
        assert_eq!(check_zone_files("Huge".as_ref(), database), Ok(()));
    }

    fn in_zone(millis: u64, name: &str) -> String {
        HumanDate::new(millis, &TimeZone::get(name).unwrap()).to_string()
    }

    #[test]
    fn the_epoch_is_a_thursday() {
        assert_eq!(
            HumanDate::new(0, &TimeZone::UTC).to_string(),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)"
        );
    }

    #[test]
    fn the_books_timestamp_reads_as_the_books_moment_in_new_york() {
        // The book's example, 1450694370094, was printed as 05:39:30 EST.
        assert_eq!(
            in_zone(1_450_694_370_094, "America/New_York"),
            "Mon Dec 21 2015 05:39:30 GMT-0500 (EST)"
        );
        assert_eq!(
            HumanDate::new(1_450_694_370_094, &TimeZone::UTC).to_string(),
            "Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)"
        );
    }

    #[test]
    fn a_leap_day_and_the_turn_of_a_century_are_counted() {
        // 2000-02-29 (a leap day in a year divisible by 400) and 2100-03-01
        // (2100 is not a leap year).
        let utc = |millis| HumanDate::new(millis, &TimeZone::UTC).to_string();
        assert_eq!(
            utc(951_782_400_000),
            "Tue Feb 29 2000 00:00:00 GMT+0000 (UTC)"
        );
        assert_eq!(
            utc(4_107_542_400_000),
            "Mon Mar 01 2100 00:00:00 GMT+0000 (UTC)"
        );
        assert_eq!(
            utc(1_798_761_599_000),
            "Thu Dec 31 2026 23:59:59 GMT+0000 (UTC)"
        );
    }

    #[test]
    fn summer_time_changes_the_offset_and_the_abbreviation() {
        // 2026-07-01 12:00 UTC, and the same hour in winter, in Madrid.
        assert_eq!(
            in_zone(1_782_907_200_000, "Europe/Madrid"),
            "Wed Jul 01 2026 14:00:00 GMT+0200 (CEST)"
        );
        assert_eq!(
            in_zone(1_798_718_400_000, "Europe/Madrid"),
            "Thu Dec 31 2026 13:00:00 GMT+0100 (CET)"
        );
    }

    /// Recorded from Node v20.20.2 (`TZ=ZONE node -e 'console.log(new
    /// Date(MILLIS).toString())'`), up to the parenthesis, where Node
    /// writes a long name of its own.
    #[test]
    fn a_date_past_the_year_9999_reads_as_javascript_reads_it() {
        for (millis, zone, javascript) in [
            (
                253_402_207_200_000,
                "UTC",
                "Thu Dec 30 9999 22:00:00 GMT+0000",
            ),
            (
                253_402_300_799_999,
                "UTC",
                "Fri Dec 31 9999 23:59:59 GMT+0000",
            ),
            (
                253_402_300_800_000,
                "UTC",
                "Sat Jan 01 10000 00:00:00 GMT+0000",
            ),
            (
                253_402_300_799_999,
                "Europe/Madrid",
                "Sat Jan 01 10000 00:59:59 GMT+0100",
            ),
            (
                253_402_300_800_000,
                "America/New_York",
                "Fri Dec 31 9999 19:00:00 GMT-0500",
            ),
            (
                1_000_000_000_000_000,
                "Europe/Madrid",
                "Fri Sep 27 33658 03:46:40 GMT+0200",
            ),
            (
                1_000_000_000_000_000,
                "Australia/Lord_Howe",
                "Fri Sep 27 33658 12:16:40 GMT+1030",
            ),
            (
                8_639_991_360_000_000,
                "America/New_York",
                "Wed Jun 04 275760 20:00:00 GMT-0400",
            ),
            (
                8_640_000_000_000_000,
                "UTC",
                "Sat Sep 13 275760 00:00:00 GMT+0000",
            ),
            (
                8_640_000_000_000_000,
                "Europe/Madrid",
                "Sat Sep 13 275760 02:00:00 GMT+0200",
            ),
            (
                8_640_000_000_000_000,
                "America/New_York",
                "Fri Sep 12 275760 20:00:00 GMT-0400",
            ),
            (
                8_640_000_000_000_000,
                "America/Sao_Paulo",
                "Fri Sep 12 275760 21:00:00 GMT-0300",
            ),
            (
                8_640_000_000_000_000,
                "Australia/Lord_Howe",
                "Sat Sep 13 275760 10:30:00 GMT+1030",
            ),
        ] {
            let shown = in_zone(millis, zone);
            assert_eq!(
                shown.split(" (").next(),
                Some(javascript),
                "{millis} in {zone}: {shown}"
            );
        }
        assert_eq!(
            in_zone(8_640_000_000_000_000, "Europe/Madrid"),
            "Sat Sep 13 275760 02:00:00 GMT+0200 (CEST)"
        );
    }

    #[test]
    fn a_date_past_javascripts_last_instant_is_an_invalid_date_as_javascript_says() {
        for millis in [LAST_JAVASCRIPT_MILLIS + 1, u64::MAX] {
            assert_eq!(
                HumanDate::new(millis, &TimeZone::UTC).to_string(),
                "Invalid Date"
            );
        }
    }
}
