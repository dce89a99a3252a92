//! The rules two writers follow on one subscriber's socket: the notifier's
//! fast road and the subscriber's own task (see [`crate::connection`]).
//! (Chapter 9.)
//!
//! A [`Delivery`] record says which notification was delivered last,
//! whether the task is mid-write, and what is left of a line the fast road
//! could only partly write. Both roads read and update it under one lock,
//! and only the one that finds a line owed and the socket free writes it:
//! whoever delivers notification `n` first wins, the other sees `n`
//! delivered and does nothing, and no two writes ever interleave bytes.
//!
//! The rules take the write as a function (`try_write`), not a socket, so
//! they are tested here on plain values.

use std::io;
use std::sync::Arc;

/// What was delivered to one subscriber, shared by the two roads.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The sequence number of the last notification written whole.
    delivered: u64,
    /// The task is writing (or the connection is over): the fast road must
    /// keep off the socket.
    busy: bool,
    /// A line the fast road could only partly write; the task finishes it
    /// before anything else.
    partial: Option<Job>,
}

/// A line the subscriber's task is to write: the greeting, the rest of a
/// line the fast road began, or the latest notification.
#[derive(Debug, PartialEq)]
pub(crate) struct Job {
    pub(crate) line: Arc<[u8]>,
    /// Where to start: bytes before it were written already.
    pub(crate) from: usize,
    /// The notification the line tells of; 0 for the greeting or a
    /// keep-alive.
    pub(crate) seq: u64,
}

impl Job {
    /// Bytes that tell no notification: the greeting, written whole before
    /// anything else, or a keep-alive.
    pub(crate) fn unnumbered(line: Arc<[u8]>) -> Self {
        Job {
            line,
            from: 0,
            seq: 0,
        }
    }

    /// The bytes still to write.
    pub(crate) fn rest(&self) -> &[u8] {
        &self.line[self.from..]
    }
}

impl Delivery {
    /// A subscriber who has, in effect, seen every notification up to
    /// `seen_at_start`.
    pub(crate) fn new(seen_at_start: u64) -> Self {
        Delivery {
            delivered: seen_at_start,
            busy: false,
            partial: None,
        }
    }

    // ANCHOR: offer
    /// The fast road's rule: writes `line`, which tells notification
    /// `seq`, with `try_write` if it is owed and the socket is the fast
    /// road's to write; returns whether the subscriber's task must be woken
    /// to deliver it instead.
    pub(crate) fn offer(
        &mut self,
        seq: u64,
        line: &[u8],
        try_write: impl FnOnce(&[u8]) -> io::Result<usize>,
    ) -> bool {
        if self.delivered >= seq {
            return false;
        }
        if self.busy || self.partial.is_some() {
            // The task is writing or owes the rest of a line: it writes the
            // latest notification next, once woken.
            return true;
        }
        match try_write(line) {
            Ok(written) if written == line.len() => {
                self.delivered = seq;
                false
            }
            Ok(written) => {
                self.partial = Some(Job {
                    line: Arc::from(line),
                    from: written,
                    seq,
                });
                true
            }
            // Would block, or a failure the task will meet and report.
            Err(_) => true,
        }
    }
    // ANCHOR_END: offer

    /// The task's rule: what to write next, if anything, marking the task
    /// busy while it does: the rest of a partial line first, then the
    /// latest notification (number `latest`, its bytes made by `line`) if
    /// it is newer than the last delivered, else whatever `idle` gives (a
    /// keep-alive, for a stream that sends them).
    pub(crate) fn next_job(
        &mut self,
        latest: u64,
        line: impl FnOnce() -> Arc<[u8]>,
        idle: impl FnOnce() -> Option<Arc<[u8]>>,
    ) -> Option<Job> {
        let job = match self.partial.take() {
            Some(partial) => Some(partial),
            None if latest > self.delivered => Some(Job {
                line: line(),
                from: 0,
                seq: latest,
            }),
            // Neither raises what was delivered: its seq is the greeting's.
            None => idle().map(Job::unnumbered),
        };
        self.busy = job.is_some();
        job
    }

    /// The task wrote `job` whole: the fast road may write again.
    pub(crate) fn finished(&mut self, job: &Job) {
        self.delivered = self.delivered.max(job.seq);
        self.busy = false;
    }

    /// The connection is over: the fast road keeps off the socket for good.
    pub(crate) fn close(&mut self) {
        self.busy = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn line(text: &str) -> Arc<[u8]> {
        text.as_bytes().into()
    }

    fn nothing_idle() -> Option<Arc<[u8]>> {
        None
    }

    /// A `try_write` that takes up to `room` bytes and records what it
    /// was given.
    fn socket_taking(
        room: usize,
        written: &mut Vec<u8>,
    ) -> impl FnOnce(&[u8]) -> io::Result<usize> + '_ {
        move |bytes| {
            let taken = bytes.len().min(room);
            if taken == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            written.extend_from_slice(&bytes[..taken]);
            Ok(taken)
        }
    }

    fn never_written(_: &[u8]) -> io::Result<usize> {
        panic!("the fast road should not have written")
    }

    #[test]
    fn the_fast_road_writes_an_owed_line_the_socket_takes_whole_and_wakes_nobody() {
        let mut delivery = Delivery::new(0);
        let mut written = Vec::new();
        let wake = delivery.offer(1, b"changed\n", socket_taking(64, &mut written));
        assert_eq!((wake, written.as_slice()), (false, &b"changed\n"[..]));
        assert_eq!(
            delivery.next_job(1, || line("changed\n"), nothing_idle),
            None,
            "nothing is owed"
        );
    }

    #[test]
    fn a_notification_already_delivered_is_neither_written_nor_woken_for() {
        let mut delivery = Delivery::new(3);
        assert!(!delivery.offer(3, b"seen at start\n", never_written));
        assert!(!delivery.offer(2, b"older\n", never_written));
    }

    #[test]
    fn a_line_the_socket_cannot_take_now_is_left_to_the_task() {
        let mut delivery = Delivery::new(0);
        let mut written = Vec::new();
        let wake = delivery.offer(1, b"changed\n", socket_taking(0, &mut written));
        assert!(wake, "the task must be woken");
        let job = delivery
            .next_job(1, || line("changed\n"), nothing_idle)
            .expect("a job");
        assert_eq!((job.rest(), job.seq), (&b"changed\n"[..], 1));
    }

    #[test]
    fn a_line_written_in_part_is_finished_by_the_task_before_anything_newer() {
        let mut delivery = Delivery::new(0);
        let mut written = Vec::new();
        assert!(delivery.offer(1, b"first\n", socket_taking(3, &mut written)));
        assert_eq!(written, b"fir");
        assert!(
            delivery.offer(2, b"second\n", never_written),
            "the rest of a line is owed first"
        );
        let rest = delivery
            .next_job(2, || line("second\n"), nothing_idle)
            .expect("the rest");
        assert_eq!((rest.rest(), rest.seq), (&b"st\n"[..], 1));
        delivery.finished(&rest);
        let next = delivery
            .next_job(2, || line("second\n"), nothing_idle)
            .expect("the latest");
        assert_eq!((next.rest(), next.seq), (&b"second\n"[..], 2));
    }

    #[test]
    fn while_the_task_writes_the_fast_road_keeps_off_the_socket_and_wakes_it() {
        let mut delivery = Delivery::new(0);
        let job = delivery
            .next_job(1, || line("first\n"), nothing_idle)
            .expect("a job");
        assert!(delivery.offer(2, b"second\n", never_written));
        delivery.finished(&job);
        let mut written = Vec::new();
        assert!(!delivery.offer(2, b"second\n", socket_taking(64, &mut written)));
        assert_eq!(
            written, b"second\n",
            "once the task is done, the fast road writes again"
        );
    }

    #[test]
    fn the_greeting_written_does_not_take_back_what_was_seen_at_start() {
        let mut delivery = Delivery::new(5);
        delivery.finished(&Job::unnumbered(Arc::from(&b"watching\n"[..])));
        assert_eq!(
            delivery.next_job(5, || line("changed before the greeting\n"), nothing_idle),
            None,
            "a change made before the subscription is not owed"
        );
    }

    #[test]
    fn a_closed_delivery_keeps_the_fast_road_off_for_good() {
        let mut delivery = Delivery::new(0);
        delivery.close();
        assert!(delivery.offer(1, b"changed\n", never_written));
    }

    #[test]
    fn with_nothing_owed_the_task_writes_what_idle_gives_without_counting_it_delivered() {
        let mut delivery = Delivery::new(2);
        let job = delivery
            .next_job(2, || line("not owed\n"), || Some(line(": keep-alive\n\n")))
            .expect("the keep-alive");
        assert_eq!((job.rest(), job.seq), (&b": keep-alive\n\n"[..], 0));
        assert!(
            delivery.offer(3, b"changed\n", never_written),
            "the fast road keeps off while the task writes it"
        );
        delivery.finished(&job);
        let next = delivery
            .next_job(3, || line("changed\n"), nothing_idle)
            .expect("the change is still owed");
        assert_eq!(next.seq, 3);
    }

    #[test]
    fn a_change_owed_goes_before_what_idle_gives() {
        let mut delivery = Delivery::new(0);
        let job = delivery
            .next_job(1, || line("changed\n"), || panic!("idle is not asked"))
            .expect("the change");
        assert_eq!(job.seq, 1);
    }
}
