//! What the lines a server sends mean, and whether each has the shape the
//! práctica asks for: the grader's reading of the wire, with no sockets in
//! it, so that every rule here is tested on its own.
//!
//! Two readings, kept apart on purpose:
//!
//! - [`is_greeting`] is lenient and speaks both protocols. Every behaviour
//!   uses it to tell a greeting from a notification, so that it can judge
//!   what its title names (do notifications arrive? does the watch go
//!   on?) whatever the lines look like.
//! - The strict checks, [`greeting_problem`], [`text_change_problem`],
//!   [`json_change_check`] and [`json_line_problem`], are each called by
//!   the one behaviour that owns that shape. One mistake in a shape then
//!   fails that behaviour, not every behaviour that reads a line.
//!
//! The oracle is what the práctica's own users see. In plain text, a
//! person reading `nc`: the change line carries a date they can read, in
//! the shape of JavaScript's `Date.toString()`, within a minute of the
//! change. In JSON, the book's client: what it prints right is accepted
//! (an extra field, a fraction of a millisecond, a `\r` before the
//! newline, each with a note), and what makes it print something wrong
//! fails, with a hint at the usual cause.

use serde_json::{Map, Value};

use crate::protocol::Protocol;

/// A `Date.toString()` the grader shows as an example of the shape.
pub const DATE_EXAMPLE: &str = "Fri Dec 18 2015 05:44:00 GMT-0500 (EST)";

/// The greeting a correct server sends for `file`, as a reader sees it.
pub fn expected_greeting(protocol: Protocol, file: &str) -> String {
    match protocol {
        Protocol::Text => format!("Now watching \"{file}\" for changes..."),
        Protocol::Json => format!(
            "{{\"type\":\"watching\",\"file\":{}}}",
            Value::String(file.to_owned())
        ),
    }
}

/// A change notification, as a reader sees it.
pub fn expected_change(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Text => "a line \"File changed: <date>\"",
        Protocol::Json => "a line {\"type\":\"changed\",\"timestamp\":<milliseconds>}",
    }
}

/// Whether `line` is a greeting, in either protocol: what a behaviour that
/// counts notifications skips. Anything else a server sends after a change
/// counts as a notification there, whatever its shape.
pub fn is_greeting(line: &str) -> bool {
    let line = line.trim_end_matches('\r');
    line.starts_with("Now watching")
        || json_object(line)
            .is_ok_and(|object| object.get("type") == Some(&Value::from("watching")))
}

/// What is wrong with `line` as the greeting for `file`, if anything.
pub fn greeting_problem(protocol: Protocol, file: &str, line: &str) -> Option<String> {
    match protocol {
        Protocol::Text => {
            let expected = expected_greeting(protocol, file);
            if line == expected {
                None
            } else if line.strip_suffix('\r') == Some(expected.as_str()) {
                Some(CARRIAGE_RETURN.to_owned())
            } else if looks_like_json(line) {
                Some(LOOKS_LIKE_JSON.to_owned())
            } else {
                Some("not the book's greeting".to_owned())
            }
        }
        Protocol::Json => {
            let object = match json_object(line) {
                Ok(object) => object,
                Err(problem) => return Some(problem),
            };
            match object.get("type") {
                Some(kind) if kind.as_str() == Some("watching") => {}
                Some(kind) => return Some(format!("its \"type\" is {kind}, not \"watching\"")),
                None => return Some("it has no \"type\" field".to_owned()),
            }
            match object.get("file") {
                Some(named) if named.as_str() == Some(file) => None,
                Some(named) => Some(format!(
                    "its \"file\" is {named}, not the file it was given"
                )),
                None => Some("it has no \"file\" field".to_owned()),
            }
        }
    }
}

/// The problem a line ending in `\r\n` has in plain text.
const CARRIAGE_RETURN: &str = "it ends with \"\\r\" (a carriage return) before its newline: the book's lines end with \"\\n\" alone";

/// The hint for JSON graded as plain text.
const LOOKS_LIKE_JSON: &str = "this looks like JSON: grade it with --json?";

/// The hint for plain text graded as JSON.
const LOOKS_LIKE_TEXT: &str = "this looks like plain text: grade it without --json?";

/// What is wrong with `line` as a plain-text change line for a change made
/// at `since_ms` and read by `now_ms` (the grader's clock), if anything.
pub fn text_change_problem(line: &str, since_ms: u64, now_ms: u64) -> Option<String> {
    if line.ends_with('\r') {
        return Some(CARRIAGE_RETURN.to_owned());
    }
    let Some(date) = line.strip_prefix("File changed: ") else {
        if looks_like_json(line) {
            return Some(LOOKS_LIKE_JSON.to_owned());
        }
        return Some("it does not start with \"File changed: \"".to_owned());
    };
    if date.trim().is_empty() {
        return Some("no date after \"File changed: \"".to_owned());
    }
    match parse_date_string(date) {
        Some(ms) => far_from_the_change(ms, since_ms, now_ms).then(|| {
            format!(
                "its date is more than a minute from the change (the grader's clock said {})",
                describe_ms(now_ms)
            )
        }),
        None => Some(format!(
            "{}; the book's is in the shape of JavaScript's Date.toString(), such as \"{DATE_EXAMPLE}\"",
            misshapen_date(date)
        )),
    }
}

/// Whether a time of `ms` is more than a minute before the change (made
/// at `since_ms`) or after it was read (at `now_ms`).
fn far_from_the_change(ms: i64, since_ms: u64, now_ms: u64) -> bool {
    const MINUTE: i64 = 60_000;
    // Saturating: a timestamp of 1e300 reads as i64::MAX.
    ms.saturating_add(MINUTE) < since_ms as i64 || ms > (now_ms as i64).saturating_add(MINUTE)
}

/// `ms` as a date a person reads, in UTC.
fn describe_ms(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(
        |_| format!("{ms} ms"),
        |at| at.strftime("%a %b %d %Y %H:%M:%S UTC").to_string(),
    )
}

/// What a date that is not in the shape of `Date.toString()` looks like:
/// the usual mistakes, named.
fn misshapen_date(date: &str) -> String {
    let trimmed = date.trim();
    if ["undefined", "null", "None", "NaN", "nil"].contains(&trimmed) {
        format!("its date is {trimmed:?}: the time was never set")
    } else if trimmed == "Invalid Date" {
        "its date is \"Invalid Date\": new Date() was given something that is not a time".to_owned()
    } else if is_a_function_printout(trimmed) {
        "its date is a function's printout: the function was named, not called (add the parentheses)"
            .to_owned()
    } else if trimmed == "[object Object]"
        || (trimmed.starts_with('<') && trimmed.contains(" object at 0x"))
    {
        "its date is an object's printout, not a date".to_owned()
    } else if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
        "its date is a bare number (milliseconds since the epoch?), where a person reads a date"
            .to_owned()
    } else if is_iso_date(trimmed) {
        "its date is an ISO 8601 date (as toISOString() or Python's datetime print it)".to_owned()
    } else {
        "its date is not in the shape of Date.toString()".to_owned()
    }
}

/// Whether `text` is how JavaScript or Python print a function or method
/// that was named where it should have been called.
fn is_a_function_printout(text: &str) -> bool {
    [
        "<built-in method ",
        "<bound method ",
        "<function ",
        "<built-in function ",
        "function ",
        "[Function",
    ]
    .iter()
    .any(|start| text.starts_with(start))
        || text.contains("=>")
}

/// Whether `text` starts as an ISO 8601 date and time does:
/// `YYYY-MM-DDTHH:MM` (or with a space for the `T`).
fn is_iso_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .into_iter()
            .all(|at| bytes.get(at).is_some_and(u8::is_ascii_digit))
    };
    digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(bytes.get(10), Some(b'T' | b' '))
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The time `date` names, in milliseconds since the Unix epoch, if it is
/// in the shape of JavaScript's `Date.toString()`: `Fri Dec 18 2015
/// 05:44:00 GMT-0500 (EST)`, the zone's name in parentheses optional, the
/// weekday the one of that date.
pub fn parse_date_string(date: &str) -> Option<i64> {
    let mut words = date.splitn(7, ' ');
    let (weekday, month) = (words.next()?, words.next()?);
    let weekday = WEEKDAYS.iter().position(|day| *day == weekday)?;
    let month = MONTHS.iter().position(|name| *name == month)? as i64 + 1;
    let day = two_digits(words.next()?)?;
    let year = words
        .next()
        .filter(|year| year.len() == 4)?
        .parse::<i64>()
        .ok()?;
    let clock: Vec<i64> = words
        .next()?
        .split(':')
        .map(two_digits)
        .collect::<Option<_>>()?;
    let [hours, minutes, seconds] = clock[..] else {
        return None;
    };
    let offset = words.next()?.strip_prefix("GMT")?;
    let (sign, offset) = match offset.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    // By `get`, not by index: four bytes may not be four characters
    // (`+1é1`), and an index inside a character panics.
    let offset_minutes =
        sign * (two_digits(offset.get(..2)?)? * 60 + two_digits(offset.get(2..)?)?);
    if let Some(zone) = words.next() {
        if !(zone.starts_with('(') && zone.ends_with(')') && zone.len() > 2) {
            return None;
        }
    }
    // The calendar is jiff's: it refuses a day the month does not have,
    // and knows the weekday.
    let date = jiff::civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    if usize::from(date.weekday().to_sunday_zero_offset().unsigned_abs()) != weekday {
        return None;
    }
    let time = jiff::civil::Time::new(
        i8::try_from(hours).ok()?,
        i8::try_from(minutes).ok()?,
        i8::try_from(seconds).ok()?,
        0,
    )
    .ok()?;
    let offset = jiff::tz::Offset::from_seconds(i32::try_from(offset_minutes * 60).ok()?).ok()?;
    let at = offset.to_timestamp(date.to_datetime(time)).ok()?;
    Some(at.as_millisecond())
}

/// Two ASCII digits as a number.
fn two_digits(text: &str) -> Option<i64> {
    (text.len() == 2 && text.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Whether a JSON `changed` line is one the book's client prints right,
/// for a change made at `since_ms` and read by `now_ms`: `Ok` with notes
/// about what it accepted that the book's message does not have, or the
/// problem that makes the client print something wrong.
pub fn json_change_check(line: &str, since_ms: u64, now_ms: u64) -> Result<Vec<String>, String> {
    let object = json_object(line)?;
    let mut notes = Vec::new();
    match object.get("type") {
        Some(kind) if kind.as_str() == Some("changed") => {}
        Some(kind) => {
            return Err(format!(
                "its \"type\" is {kind}, not \"changed\": the book's client prints \"Unrecognized message type: {}\"",
                kind.as_str()
                    .map_or_else(|| kind.to_string(), str::to_owned)
            ));
        }
        None => {
            return Err("it has no \"type\" field: the book's client prints \"Unrecognized message type: undefined\"".to_owned());
        }
    }
    let timestamp = match object.get("timestamp") {
        None => {
            return Err("it has no \"timestamp\" field: the book's client prints \"File changed: Invalid Date\"".to_owned());
        }
        Some(Value::String(text)) => {
            return Err(format!(
                "its \"timestamp\" is a string ({text:?}), where the protocol has a number of milliseconds: the book's client prints \"Invalid Date\" for a string of digits"
            ));
        }
        Some(Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return Err(format!(
                "its \"timestamp\" is {other}, not a number of milliseconds"
            ));
        }
    };
    if timestamp.fract() != 0.0 {
        notes.push(
            "its timestamps have a fraction of a millisecond; the book's client prints the right date, as new Date() drops the fraction"
                .to_owned(),
        );
    }
    if !timestamp.is_finite() || far_from_the_change(timestamp.trunc() as i64, since_ms, now_ms) {
        let hint = if timestamp < (since_ms / 100) as f64 {
            " (seconds, not milliseconds?)"
        } else {
            ""
        };
        return Err(format!(
            "its timestamp is {timestamp}, more than a minute from the grader's clock ({now_ms}){hint}"
        ));
    }
    let extra: Vec<&String> = object
        .keys()
        .filter(|key| !["type", "timestamp"].contains(&key.as_str()))
        .collect();
    if !extra.is_empty() {
        let (word, verb) = if extra.len() == 1 {
            ("a field", "it")
        } else {
            ("fields", "them")
        };
        notes.push(format!(
            "the message has {word} the book's message does not have ({}); the book's client ignores {verb}",
            extra.iter().map(|key| format!("{key:?}")).collect::<Vec<_>>().join(", ")
        ));
    }
    if line.ends_with('\r') {
        notes.push(
            "its line ends with \"\\r\\n\"; the book's client reads it, as JSON allows the \"\\r\""
                .to_owned(),
        );
    }
    Ok(notes)
}

/// What is wrong with `line` as one JSON object on a line, if anything.
pub fn json_line_problem(line: &str) -> Option<String> {
    json_object(line).err()
}

/// `line` as a JSON object, or what is wrong with it (with a hint if it
/// is plain text).
fn json_object(line: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("it is JSON, but not an object".to_owned()),
        Err(_) if looks_like_text(line) => Err(LOOKS_LIKE_TEXT.to_owned()),
        Err(error) => Err(format!("it is not JSON ({error})")),
    }
}

/// Whether `line` is a JSON object.
fn looks_like_json(line: &str) -> bool {
    matches!(serde_json::from_str::<Value>(line), Ok(Value::Object(_)))
}

/// Whether `line` starts as one of the plain-text protocol's lines does.
fn looks_like_text(line: &str) -> bool {
    line.starts_with("Now watching") || line.starts_with("File changed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// 2026-12-07 01:28:33.484 UTC, and a moment later.
    const SINCE: u64 = 1_796_606_913_484;
    const NOW: u64 = SINCE + 40;

    #[test]
    fn a_greeting_is_told_from_a_notification_in_either_protocol() {
        assert!(is_greeting("Now watching \"x\" for changes..."));
        assert!(is_greeting("Now watching \"x\" for changes...\r"));
        assert!(is_greeting("{\"type\":\"watching\",\"file\":\"x\"}"));
        assert!(!is_greeting("{\"type\":\"changed\",\"timestamp\":1}"));
        assert!(!is_greeting("File changed: whenever"));
        assert!(!is_greeting("{\"type\":3}"));
        assert!(!is_greeting("[1]"));
    }

    #[test]
    fn the_text_greeting_must_be_the_books_and_a_mistake_is_named() {
        let file = "/tmp/x.txt";
        assert_eq!(
            greeting_problem(
                Protocol::Text,
                file,
                "Now watching \"/tmp/x.txt\" for changes..."
            ),
            None
        );
        assert_eq!(
            greeting_problem(
                Protocol::Text,
                file,
                "Now watching \"/tmp/x.txt\" for changes...\r"
            )
            .as_deref(),
            Some(CARRIAGE_RETURN)
        );
        assert!(CARRIAGE_RETURN.contains("\\r"));
        assert_eq!(
            greeting_problem(
                Protocol::Text,
                file,
                "{\"type\":\"watching\",\"file\":\"/tmp/x.txt\"}"
            )
            .as_deref(),
            Some("this looks like JSON: grade it with --json?")
        );
        assert_eq!(
            greeting_problem(Protocol::Text, file, "Now watching x").as_deref(),
            Some("not the book's greeting")
        );
    }

    #[test]
    fn the_json_greeting_must_name_the_file_and_may_carry_more() {
        let file = "/tmp/x.txt";
        assert_eq!(
            greeting_problem(
                Protocol::Json,
                file,
                "{\"type\":\"watching\",\"file\":\"/tmp/x.txt\"}"
            ),
            None
        );
        assert_eq!(
            greeting_problem(
                Protocol::Json,
                file,
                "{\"file\": \"/tmp/x.txt\", \"type\": \"watching\", \"pid\": 3}"
            ),
            None
        );
        assert_eq!(
            greeting_problem(
                Protocol::Json,
                file,
                "{\"type\":\"watch\",\"file\":\"/tmp/x.txt\"}"
            )
            .as_deref(),
            Some("its \"type\" is \"watch\", not \"watching\"")
        );
        assert_eq!(
            greeting_problem(Protocol::Json, file, "{\"file\":\"/tmp/x.txt\"}").as_deref(),
            Some("it has no \"type\" field")
        );
        assert_eq!(
            greeting_problem(
                Protocol::Json,
                file,
                "{\"type\":\"watching\",\"file\":\"y\"}"
            )
            .as_deref(),
            Some("its \"file\" is \"y\", not the file it was given")
        );
        assert_eq!(
            greeting_problem(Protocol::Json, file, "{\"type\":\"watching\"}").as_deref(),
            Some("it has no \"file\" field")
        );
        assert_eq!(
            greeting_problem(
                Protocol::Json,
                file,
                "Now watching \"/tmp/x.txt\" for changes..."
            )
            .as_deref(),
            Some("this looks like plain text: grade it without --json?")
        );
        assert_eq!(
            greeting_problem(Protocol::Json, file, "[]").as_deref(),
            Some("it is JSON, but not an object")
        );
        assert!(
            greeting_problem(Protocol::Json, file, "{oops")
                .unwrap()
                .starts_with("it is not JSON (")
        );
    }

    #[test]
    fn a_date_in_the_shape_of_date_to_string_is_read_with_its_offset() {
        // 2015-12-18 10:44:00 UTC, the book's example.
        let book = 1_450_435_440_000;
        assert_eq!(parse_date_string(DATE_EXAMPLE), Some(book));
        assert_eq!(
            parse_date_string("Fri Dec 18 2015 10:44:00 GMT+0000 (Coordinated Universal Time)"),
            Some(book)
        );
        assert_eq!(
            parse_date_string("Fri Dec 18 2015 11:44:00 GMT+0100"),
            Some(book)
        );
        assert_eq!(
            parse_date_string("Fri Dec 18 2015 16:14:00 GMT+0530 (IST)"),
            Some(book)
        );
        assert_eq!(
            parse_date_string("Thu Jan 01 1970 00:00:00 GMT+0000 (UTC)"),
            Some(0)
        );
        assert_eq!(
            parse_date_string("Tue Feb 29 2000 00:00:00 GMT+0000 (UTC)"),
            Some(951_782_400_000)
        );
        assert_eq!(
            parse_date_string("Mon Mar 01 2100 00:00:00 GMT+0000 (UTC)"),
            Some(4_107_542_400_000)
        );
        assert_eq!(
            parse_date_string("Sat Dec 31 2016 23:59:59 GMT+0000 (UTC)"),
            Some(1_483_228_799_000)
        );
    }

    #[test]
    fn a_date_out_of_that_shape_is_not_read() {
        for date in [
            "Thu Dec 18 2015 05:44:00 GMT-0500 (EST)",
            "Fri Dec 18 15 05:44:00 GMT-0500 (EST)",
            "Fri Dec 18 2015 05:44 GMT-0500 (EST)",
            "Fri Dec 18 2015 05:44:00:00 GMT-0500 (EST)",
            "Fri Dec 18 2015 05:44:00 UTC-0500 (EST)",
            "Fri Dec 18 2015 05:44:00 GMT~0500 (EST)",
            "Fri Dec 18 2015 05:44:00 GMT-05 (EST)",
            "Fri Dec 18 2015 05:44:00 GMT-0500 EST",
            "Fri Dec 18 2015 05:44:00 GMT-0500 ()",
            "Fri Dec 18 2015 05:44:00 GMT-0500 (EST",
            "Fri Dex 18 2015 05:44:00 GMT-0500 (EST)",
            "Fri Dec 8 2015 05:44:00 GMT-0500 (EST)",
            "Tue Dec 8 2015 05:44:00 GMT-0500 (EST)",
            "Fri Dec 18 2015 5:44:00 GMT-0500 (EST)",
            "Fri Dec 32 2015 05:44:00 GMT-0500 (EST)",
            "Sat Feb 29 2015 05:44:00 GMT-0500 (EST)",
            "Fri Dec 00 2015 05:44:00 GMT-0500 (EST)",
            "Fri Dec 18 2015 24:44:00 GMT-0500 (EST)",
            "Fri Dec 18 2015 05:60:00 GMT-0500 (EST)",
            "Fri Dec 18 2015 05:44:60 GMT-0500 (EST)",
            "Fri Dec 18 2015 05:44:00",
            "Fri Dec 18 2015",
            "",
        ] {
            assert_eq!(parse_date_string(date), None, "{date}");
        }
    }

    #[test]
    fn a_date_is_read_by_the_calendar_leap_days_included() {
        let read = |date: &str| parse_date_string(date);
        assert_eq!(read("Thu Jan 01 1970 00:00:00 GMT+0000"), Some(0));
        assert_eq!(read("Wed Dec 31 1969 23:59:59 GMT+0000"), Some(-1000));
        assert_eq!(
            read("Mon Feb 29 2016 00:00:00 GMT+0000"),
            Some(1_456_704_000_000)
        );
        assert_eq!(
            read("Tue Feb 29 2000 00:00:00 GMT+0000"),
            Some(951_782_400_000)
        );
        assert_eq!(read("Sun Feb 29 2015 00:00:00 GMT+0000"), None);
        assert_eq!(read("Thu Feb 29 1900 00:00:00 GMT+0000"), None);
        assert_eq!(read("Thu Apr 31 2015 00:00:00 GMT+0000"), None);
    }

    /// Lines a server may send that used to panic the grader (caught, but
    /// reported as the grader's own failure and the program as not graded).
    #[test]
    fn a_line_that_used_to_panic_the_grader_gets_a_verdict() {
        assert_eq!(
            parse_date_string("Fri Dec 18 2015 05:44:00 GMT+1\u{e9}1 (EST)"),
            None
        );
        let far = json_change_check("{\"type\":\"changed\",\"timestamp\":1e300}", SINCE, NOW);
        assert!(far.is_err(), "{far:?}");
        assert!(far_from_the_change(i64::MAX, SINCE, NOW));
        assert!(far_from_the_change(i64::MIN, SINCE, NOW));
    }

    /// `File changed: DATE` for a time `offset_ms` away from [`SINCE`].
    fn change_line(offset_ms: i64) -> String {
        let at = jiff::Timestamp::from_millisecond(SINCE as i64 + offset_ms).unwrap();
        format!(
            "File changed: {}",
            at.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (UTC)")
        )
    }

    #[test]
    fn a_text_change_line_carries_a_readable_date_within_a_minute() {
        assert_eq!(text_change_problem(&change_line(0), SINCE, NOW), None);
        assert_eq!(text_change_problem(&change_line(-59_000), SINCE, NOW), None);
        assert_eq!(text_change_problem(&change_line(59_000), SINCE, NOW), None);
        for far in [-61_000, 61_000, -3_600_000] {
            let problem = text_change_problem(&change_line(far), SINCE, NOW).unwrap();
            assert_eq!(
                problem,
                "its date is more than a minute from the change (the grader's clock said Mon Dec 07 2026 01:28:33 UTC)",
                "{far}"
            );
        }
    }

    #[test]
    fn a_text_change_line_of_another_shape_is_named_for_what_it_is() {
        let shape = format!(
            "; the book's is in the shape of JavaScript's Date.toString(), such as \"{DATE_EXAMPLE}\""
        );
        for (date, what) in [
            (
                "2026-12-07T01:28:33.484Z",
                "its date is an ISO 8601 date (as toISOString() or Python's datetime print it)",
            ),
            (
                "2026-12-07 01:28:33.484123",
                "its date is an ISO 8601 date (as toISOString() or Python's datetime print it)",
            ),
            (
                "undefined",
                "its date is \"undefined\": the time was never set",
            ),
            ("None", "its date is \"None\": the time was never set"),
            (
                "Invalid Date",
                "its date is \"Invalid Date\": new Date() was given something that is not a time",
            ),
            (
                "<built-in method now of type object at 0x7f3a>",
                "its date is a function's printout: the function was named, not called (add the parentheses)",
            ),
            (
                "function now() { [native code] }",
                "its date is a function's printout: the function was named, not called (add the parentheses)",
            ),
            (
                "[Function: now]",
                "its date is a function's printout: the function was named, not called (add the parentheses)",
            ),
            (
                "() => new Date()",
                "its date is a function's printout: the function was named, not called (add the parentheses)",
            ),
            (
                "[object Object]",
                "its date is an object's printout, not a date",
            ),
            (
                "<datetime.datetime object at 0x7f3a>",
                "its date is an object's printout, not a date",
            ),
            (
                "1796606913484",
                "its date is a bare number (milliseconds since the epoch?), where a person reads a date",
            ),
            (
                "1796606913.484",
                "its date is a bare number (milliseconds since the epoch?), where a person reads a date",
            ),
            (
                "Mon Dec  7 01:28:33 2026",
                "its date is not in the shape of Date.toString()",
            ),
            (
                "2026-12-07",
                "its date is not in the shape of Date.toString()",
            ),
            ("<html>", "its date is not in the shape of Date.toString()"),
        ] {
            assert_eq!(
                text_change_problem(&format!("File changed: {date}"), SINCE, NOW),
                Some(format!("{what}{shape}")),
                "{date}"
            );
        }
    }

    #[test]
    fn a_text_change_line_with_a_carriage_return_json_or_no_date_fails() {
        assert_eq!(
            text_change_problem(&format!("{}\r", change_line(0)), SINCE, NOW).as_deref(),
            Some(CARRIAGE_RETURN)
        );
        assert_eq!(
            text_change_problem("{\"type\":\"changed\",\"timestamp\":1}", SINCE, NOW).as_deref(),
            Some("this looks like JSON: grade it with --json?")
        );
        assert_eq!(
            text_change_problem("Changed!", SINCE, NOW).as_deref(),
            Some("it does not start with \"File changed: \"")
        );
        assert_eq!(
            text_change_problem("File changed:  ", SINCE, NOW).as_deref(),
            Some("no date after \"File changed: \"")
        );
    }

    #[test]
    fn the_books_change_message_passes_without_a_note() {
        let line = format!("{{\"type\":\"changed\",\"timestamp\":{SINCE}}}");
        assert_eq!(json_change_check(&line, SINCE, NOW), Ok(vec![]));
        let spaced = format!(
            "{{\"type\": \"changed\", \"timestamp\": {}}}",
            SINCE - 59_000
        );
        assert_eq!(json_change_check(&spaced, SINCE, NOW), Ok(vec![]));
        let late = format!("{{\"type\":\"changed\",\"timestamp\":{}}}", NOW + 60_000);
        assert_eq!(json_change_check(&late, SINCE, NOW), Ok(vec![]));
        let a_minute_before = format!("{{\"type\":\"changed\",\"timestamp\":{}}}", SINCE - 60_000);
        assert_eq!(json_change_check(&a_minute_before, SINCE, NOW), Ok(vec![]));
    }

    #[test]
    fn what_the_books_client_prints_right_passes_with_a_note() {
        let fraction = format!("{{\"type\":\"changed\",\"timestamp\":{SINCE}.25}}");
        assert_eq!(
            json_change_check(&fraction, SINCE, NOW),
            Ok(vec!["its timestamps have a fraction of a millisecond; the book's client prints the right date, as new Date() drops the fraction".to_owned()])
        );
        let extra = format!("{{\"type\":\"changed\",\"timestamp\":{SINCE},\"file\":\"x\"}}");
        assert_eq!(
            json_change_check(&extra, SINCE, NOW),
            Ok(vec!["the message has a field the book's message does not have (\"file\"); the book's client ignores it".to_owned()])
        );
        let extras =
            format!("{{\"type\":\"changed\",\"timestamp\":{SINCE},\"file\":\"x\",\"seq\":1}}\r");
        assert_eq!(
            json_change_check(&extras, SINCE, NOW),
            Ok(vec![
                "the message has fields the book's message does not have (\"file\", \"seq\"); the book's client ignores them".to_owned(),
                "its line ends with \"\\r\\n\"; the book's client reads it, as JSON allows the \"\\r\"".to_owned(),
            ])
        );
    }

    #[test]
    fn what_makes_the_books_client_print_something_wrong_fails_with_a_hint() {
        let seconds = SINCE / 1000;
        for (line, problem) in [
            (
                format!("{{\"type\":\"changed\",\"timestamp\":{seconds}}}"),
                format!("its timestamp is {seconds}, more than a minute from the grader's clock ({NOW}) (seconds, not milliseconds?)"),
            ),
            (
                format!("{{\"type\":\"changed\",\"timestamp\":{}}}", SINCE / 100),
                format!("its timestamp is {}, more than a minute from the grader's clock ({NOW})", SINCE / 100),
            ),
            (
                format!("{{\"type\":\"changed\",\"timestamp\":{}}}", SINCE - 61_000),
                format!("its timestamp is {}, more than a minute from the grader's clock ({NOW})", SINCE - 61_000),
            ),
            (
                format!("{{\"type\":\"changed\",\"timestamp\":{}}}", NOW + 61_000),
                format!("its timestamp is {}, more than a minute from the grader's clock ({NOW})", NOW + 61_000),
            ),
            (
                format!("{{\"type\":\"changed\",\"timestamp\":\"{SINCE}\"}}"),
                format!("its \"timestamp\" is a string (\"{SINCE}\"), where the protocol has a number of milliseconds: the book's client prints \"Invalid Date\" for a string of digits"),
            ),
            (
                format!("{{\"timestamp\":{SINCE}}}"),
                "it has no \"type\" field: the book's client prints \"Unrecognized message type: undefined\"".to_owned(),
            ),
            (
                format!("{{\"type\":\"change\",\"timestamp\":{SINCE}}}"),
                "its \"type\" is \"change\", not \"changed\": the book's client prints \"Unrecognized message type: change\"".to_owned(),
            ),
            (
                format!("{{\"type\":7,\"timestamp\":{SINCE}}}"),
                "its \"type\" is 7, not \"changed\": the book's client prints \"Unrecognized message type: 7\"".to_owned(),
            ),
            (
                "{\"type\":\"changed\"}".to_owned(),
                "it has no \"timestamp\" field: the book's client prints \"File changed: Invalid Date\"".to_owned(),
            ),
            (
                "{\"type\":\"changed\",\"timestamp\":null}".to_owned(),
                "its \"timestamp\" is null, not a number of milliseconds".to_owned(),
            ),
            (
                "File changed: now".to_owned(),
                "this looks like plain text: grade it without --json?".to_owned(),
            ),
        ] {
            assert_eq!(json_change_check(&line, SINCE, NOW), Err(problem), "{line}");
        }
    }

    #[test]
    fn a_json_line_must_be_one_object() {
        assert_eq!(
            json_line_problem("{\"type\":\"changed\",\"timestamp\":1}"),
            None
        );
        assert_eq!(
            json_line_problem("{\"type\":\"changed\",\"timestamp\":1}\r"),
            None
        );
        assert_eq!(
            json_line_problem("3").as_deref(),
            Some("it is JSON, but not an object")
        );
        assert!(
            json_line_problem("{\"type\":\"changed\",")
                .unwrap()
                .starts_with("it is not JSON (")
        );
        assert_eq!(
            json_line_problem("Now watching \"x\" for changes...").as_deref(),
            Some("this looks like plain text: grade it without --json?")
        );
    }

    #[test]
    fn the_expected_lines_are_the_books() {
        assert_eq!(
            expected_greeting(Protocol::Text, "a\"b"),
            "Now watching \"a\"b\" for changes..."
        );
        assert_eq!(
            expected_greeting(Protocol::Json, "a\"b"),
            "{\"type\":\"watching\",\"file\":\"a\\\"b\"}"
        );
        assert_eq!(
            expected_change(Protocol::Text),
            "a line \"File changed: <date>\""
        );
        assert_eq!(
            expected_change(Protocol::Json),
            "a line {\"type\":\"changed\",\"timestamp\":<milliseconds>}"
        );
    }
}
