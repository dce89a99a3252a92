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

use crate::notifier::Notification;

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
    /// The notification the line tells of; 0 for the greeting.
    pub(crate) seq: u64,
}

impl Job {
    /// The greeting, written whole before anything else.
    pub(crate) fn greeting(line: Arc<[u8]>) -> Self {
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
    /// The fast road's rule: writes `notification` with `try_write` if it
    /// is owed and the socket is the fast road's to write; returns whether
    /// the subscriber's task must be woken to deliver it instead.
    pub(crate) fn offer(
        &mut self,
        notification: &Notification,
        try_write: impl FnOnce(&[u8]) -> io::Result<usize>,
    ) -> bool {
        if self.delivered >= notification.seq {
            return false;
        }
        if self.busy || self.partial.is_some() {
            // The task is writing or owes the rest of a line: it writes the
            // latest notification next, once woken.
            return true;
        }
        match try_write(&notification.line) {
            Ok(written) if written == notification.line.len() => {
                self.delivered = notification.seq;
                false
            }
            Ok(written) => {
                self.partial = Some(Job {
                    line: Arc::clone(&notification.line),
                    from: written,
                    seq: notification.seq,
                });
                true
            }
            // Would block, or a failure the task will meet and report.
            Err(_) => true,
        }
    }
    // ANCHOR_END: offer

    /// The task's rule: what to write next, if anything, marking the task
    /// busy while it does: the rest of a partial line first, then `latest`
    /// if it is newer than the last delivered.
    pub(crate) fn next_job(&mut self, latest: Notification) -> Option<Job> {
        let job = match self.partial.take() {
            Some(partial) => Some(partial),
            None if latest.seq > self.delivered => Some(Job {
                line: latest.line,
                from: 0,
                seq: latest.seq,
            }),
            None => None,
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

    fn notification(seq: u64, line: &str) -> Notification {
        Notification {
            seq,
            line: line.as_bytes().into(),
            change: None,
        }
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
        let wake = delivery.offer(
            &notification(1, "changed\n"),
            socket_taking(64, &mut written),
        );
        assert_eq!((wake, written.as_slice()), (false, &b"changed\n"[..]));
        assert_eq!(
            delivery.next_job(notification(1, "changed\n")),
            None,
            "nothing is owed"
        );
    }

    #[test]
    fn a_notification_already_delivered_is_neither_written_nor_woken_for() {
        let mut delivery = Delivery::new(3);
        assert!(!delivery.offer(&notification(3, "seen at start\n"), never_written));
        assert!(!delivery.offer(&notification(2, "older\n"), never_written));
    }

    #[test]
    fn a_line_the_socket_cannot_take_now_is_left_to_the_task() {
        let mut delivery = Delivery::new(0);
        let mut written = Vec::new();
        let wake = delivery.offer(
            &notification(1, "changed\n"),
            socket_taking(0, &mut written),
        );
        assert!(wake, "the task must be woken");
        let job = delivery
            .next_job(notification(1, "changed\n"))
            .expect("a job");
        assert_eq!((job.rest(), job.seq), (&b"changed\n"[..], 1));
    }

    #[test]
    fn a_line_written_in_part_is_finished_by_the_task_before_anything_newer() {
        let mut delivery = Delivery::new(0);
        let mut written = Vec::new();
        assert!(delivery.offer(&notification(1, "first\n"), socket_taking(3, &mut written)));
        assert_eq!(written, b"fir");
        assert!(
            delivery.offer(&notification(2, "second\n"), never_written),
            "the rest of a line is owed first"
        );
        let rest = delivery
            .next_job(notification(2, "second\n"))
            .expect("the rest");
        assert_eq!((rest.rest(), rest.seq), (&b"st\n"[..], 1));
        delivery.finished(&rest);
        let next = delivery
            .next_job(notification(2, "second\n"))
            .expect("the latest");
        assert_eq!((next.rest(), next.seq), (&b"second\n"[..], 2));
    }

    #[test]
    fn while_the_task_writes_the_fast_road_keeps_off_the_socket_and_wakes_it() {
        let mut delivery = Delivery::new(0);
        let job = delivery
            .next_job(notification(1, "first\n"))
            .expect("a job");
        assert!(delivery.offer(&notification(2, "second\n"), never_written));
        delivery.finished(&job);
        let mut written = Vec::new();
        assert!(!delivery.offer(
            &notification(2, "second\n"),
            socket_taking(64, &mut written)
        ));
        assert_eq!(
            written, b"second\n",
            "once the task is done, the fast road writes again"
        );
    }

    #[test]
    fn the_greeting_written_does_not_take_back_what_was_seen_at_start() {
        let mut delivery = Delivery::new(5);
        delivery.finished(&Job::greeting(Arc::from(&b"watching\n"[..])));
        assert_eq!(
            delivery.next_job(notification(5, "changed before the greeting\n")),
            None,
            "a change made before the subscription is not owed"
        );
    }

    #[test]
    fn a_closed_delivery_keeps_the_fast_road_off_for_good() {
        let mut delivery = Delivery::new(0);
        delivery.close();
        assert!(delivery.offer(&notification(1, "changed\n"), never_written));
    }
}
