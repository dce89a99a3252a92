//! describe: the fake service of step 5, in-process on a paused clock.

use std::time::Duration;

use net_watcher::fake_service::{FIRST_CHUNK, SECOND_CHUNK, send_split_message};
use pretty_assertions::assert_eq;
use tokio::io::AsyncReadExt;

// ANCHOR: paused_clock
#[tokio::test(start_paused = true)]
async fn writes_one_message_in_two_parts_a_delay_apart_then_closes() {
    let (writer, mut reader) = tokio::io::duplex(1024);
    let delay = Duration::from_millis(100);
    tokio::spawn(send_split_message(writer, delay));

    let mut first = vec![0u8; 1024];
    let read = reader.read(&mut first).await.unwrap();
    assert_eq!(&first[..read], FIRST_CHUNK, "the first write alone");

    // The clock is paused and jumps to the next timer when every task waits:
    // a 99 ms timeout fires before the service's 100 ms pause is over, so
    // nothing may arrive in it.
    let mut second = vec![0u8; 1024];
    let early = tokio::time::timeout(delay - Duration::from_millis(1), reader.read(&mut second));
    assert!(
        early.await.is_err(),
        "the second part came before the delay"
    );

    let read = reader.read(&mut second).await.unwrap();
    assert_eq!(&second[..read], SECOND_CHUNK, "the second write");
    let read = reader.read(&mut second).await.unwrap();
    assert_eq!(read, 0, "then the connection closes");
}
// ANCHOR_END: paused_clock

#[test]
fn its_two_parts_make_the_books_message() {
    let whole = [FIRST_CHUNK, SECOND_CHUNK].concat();
    assert_eq!(
        String::from_utf8(whole).unwrap(),
        "{\"type\":\"changed\",\"timestamp\":1450694370094}\n"
    );
}
