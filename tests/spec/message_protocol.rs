//! describe: the messages, in plain text and in line-delimited JSON.

use jiff::tz::TimeZone;
use net_watcher::protocol::{Message, Protocol};
use rstest::rstest;

mod in_json {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn writes_watching_byte_for_byte_as_the_book() {
        let message = Message::Watching {
            file: "target.txt".into(),
        };
        assert_eq!(
            message.to_json_line(),
            "{\"type\":\"watching\",\"file\":\"target.txt\"}\n"
        );
    }

    #[test]
    fn writes_changed_byte_for_byte_as_the_book() {
        let message = Message::Changed {
            timestamp: 1_450_694_370_094,
        };
        assert_eq!(
            message.to_json_line(),
            "{\"type\":\"changed\",\"timestamp\":1450694370094}\n"
        );
    }

    #[test]
    fn escapes_a_file_name_so_the_line_stays_one_json_object() {
        let message = Message::Watching {
            file: "odd \"name\"\nwith a newline.txt".into(),
        };
        let line = message.to_json_line();
        assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
        let parsed: Message = serde_json::from_str(&line).expect("the line parses back");
        assert_eq!(parsed, message);
    }

    #[rstest]
    #[case::watching(Message::Watching { file: "ñandú.txt".into() })]
    #[case::changed(Message::Changed { timestamp: u64::MAX })]
    #[case::error(Message::Error { message: "full\n".into() })]
    #[case::unknown(Message::Unknown { kind: "renamed".into() })]
    fn reads_back_what_it_writes(#[case] message: Message) {
        let parsed: Message =
            serde_json::from_str(&message.to_json_line()).expect("the line parses back");
        assert_eq!(parsed, message);
    }

    #[test]
    fn keeps_the_name_of_an_unknown_type_and_ignores_extra_fields() {
        let parsed: Message =
            serde_json::from_str(r#"{"type":"renamed","to":"other.txt"}"#).expect("parses");
        assert_eq!(
            parsed,
            Message::Unknown {
                kind: "renamed".into()
            }
        );
    }

    #[test]
    fn refuses_a_type_that_is_not_a_string_saying_what_it_expected() {
        let error = serde_json::from_str::<Message>(r#"{"type":5}"#)
            .expect_err("a number is not a message type");
        assert_eq!(
            error.to_string(),
            "invalid type: integer `5`, expected a message type (a string) at line 1 column 9"
        );
    }
}

mod a_closing_notice {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn is_a_sentence_in_plain_text() {
        assert_eq!(Protocol::Text.render_error("full"), "Error: full\n");
    }

    #[test]
    fn is_an_error_message_in_json_that_the_books_client_calls_unrecognized() {
        let line = Protocol::Json.render_error("full");
        assert_eq!(line, "{\"type\":\"error\",\"message\":\"full\"}\n");
        let parsed: Message = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            Message::Error {
                message: "full".into()
            }
        );
    }

    #[test]
    fn needs_its_message() {
        let error = serde_json::from_str::<Message>(r#"{"type":"error"}"#)
            .expect_err("an error without a message");
        assert!(
            error
                .to_string()
                .contains("an \"error\" message needs a \"message\" field"),
            "{error}"
        );
    }
}

mod in_plain_text {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn greets_with_the_path_in_quotes() {
        let message = Message::Watching {
            file: "target.txt".into(),
        };
        assert_eq!(
            Protocol::Text.render(&message, &TimeZone::UTC),
            "Now watching \"target.txt\" for changes...\n"
        );
    }

    /// The book's timestamp, 1450694370094, in several zones.
    #[rstest]
    #[case::utc("UTC", "Mon Dec 21 2015 10:39:30 GMT+0000 (UTC)")]
    #[case::new_york_as_in_the_book("America/New_York", "Mon Dec 21 2015 05:39:30 GMT-0500 (EST)")]
    #[case::madrid("Europe/Madrid", "Mon Dec 21 2015 11:39:30 GMT+0100 (CET)")]
    // The time zone database has no abbreviation for São Paulo's time,
    // and gives the offset in its place.
    #[case::sao_paulo_without_an_abbreviation(
        "America/Sao_Paulo",
        "Mon Dec 21 2015 08:39:30 GMT-0200 (-02)"
    )]
    #[case::a_half_hour_offset("Asia/Kolkata", "Mon Dec 21 2015 16:09:30 GMT+0530 (IST)")]
    fn dates_a_change_in_the_readers_zone_with_its_offset_and_abbreviation(
        #[case] zone: &str,
        #[case] date: &str,
    ) {
        let zone = TimeZone::get(zone).unwrap_or_else(|error| {
            panic!("{zone}: {error} (these specs need the system's time zone database: tzdata)")
        });
        let message = Message::Changed {
            timestamp: 1_450_694_370_094,
        };
        assert_eq!(
            Protocol::Text.render(&message, &zone),
            format!("File changed: {date}\n")
        );
    }

    /// A name is text from outside: shown, never obeyed. A newline in it
    /// would end the greeting and start a line of the name's choosing; ESC
    /// and CR would drive the reader's terminal.
    #[test]
    fn writes_control_characters_in_a_file_name_as_escapes() {
        let message = Message::Watching {
            file: "a\nFile changed: FAKE\u{1b}[31m\r\u{9b}\u{7f}".into(),
        };
        assert_eq!(
            Protocol::Text.render(&message, &TimeZone::UTC),
            "Now watching \"a\\nFile changed: FAKE\\u001b[31m\\r\\u009b\\u007f\" for changes...\n"
        );
    }

    #[test]
    fn writes_control_characters_in_an_unknown_type_and_a_notice_as_escapes() {
        let message = Message::Unknown {
            kind: "x\r\u{1b}]0;title\u{7}".into(),
        };
        assert_eq!(
            Protocol::Text.render(&message, &TimeZone::UTC),
            "Unknown message: x\\r\\u001b]0;title\\u0007\n"
        );
        assert_eq!(
            Protocol::Text.render_error("cannot watch \"a\nb\""),
            "Error: cannot watch \"a\\nb\"\n"
        );
    }

    #[test]
    fn ignores_the_zone_in_json() {
        let message = Message::Changed {
            timestamp: 1_450_694_370_094,
        };
        let madrid = TimeZone::get("Europe/Madrid").unwrap();
        assert_eq!(
            Protocol::Json.render(&message, &madrid),
            Protocol::Json.render(&message, &TimeZone::UTC)
        );
    }
}

mod a_date {
    use super::*;
    use crate::support::binary::node_is_installed;
    use net_watcher::protocol::{HumanDate, LAST_JAVASCRIPT_MILLIS};
    use pretty_assertions::assert_eq;

    /// As reported: a timestamp in the year 9999 printed `Invalid Date`,
    /// where JavaScript prints a date. Node itself is the reference: every
    /// date, from 1970 to JavaScript's last instant in the year 275760, in
    /// zones east and west, with summer time north and south and offsets of
    /// half and three quarters of an hour, reads as `Date.toString()` reads
    /// it, up to the zone's name in parentheses (Node writes a long name
    /// from tables of its own).
    #[test]
    fn reads_as_javascripts_date_to_string_up_to_the_year_275760() {
        if !node_is_installed("the comparison of dates with JavaScript's") {
            return;
        }
        // Fixed, spread over the whole range, and the edges.
        let mut timestamps = vec![
            0,
            253_402_300_799_999,
            253_402_300_800_000,
            LAST_JAVASCRIPT_MILLIS,
        ];
        let mut next: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..400 {
            next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            timestamps.push((next >> 11) % (LAST_JAVASCRIPT_MILLIS + 1));
        }
        let list = serde_json::to_string(&timestamps).unwrap();
        for zone in [
            "UTC",
            "Europe/Madrid",
            "America/New_York",
            "America/Sao_Paulo",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "America/St_Johns",
        ] {
            let output = std::process::Command::new("node")
                .env("TZ", zone)
                .arg("-e")
                .arg("for (const t of JSON.parse(process.argv[1])) console.log(new Date(t).toString())")
                .arg(&list)
                .output()
                .expect("node runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let javascript = String::from_utf8(output.stdout).unwrap();
            let zone_rules = TimeZone::get(zone).unwrap();
            for (millis, expected) in timestamps.iter().zip(javascript.lines()) {
                let ours = HumanDate::new(*millis, &zone_rules).to_string();
                assert_eq!(
                    ours.split(" (").next(),
                    expected.split(" (").next(),
                    "{millis} in {zone}"
                );
            }
        }
    }
}
