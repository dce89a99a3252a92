//! When to notify: turning a burst of OS signals into exactly one change.
//!
//! One logical operation on a file produces several OS events. `touch` gives
//! a metadata change and then a close-after-write; `echo x >> f` a data
//! change and a close; an editor's save a rename away, a create, writes and a
//! close. Subscribers want one notification per operation, and they want it
//! at once.
//!
//! ## The rules
//!
//! Each OS event that concerns the file is a [`Signal`]:
//!
//! - [`Signal::Ongoing`]: a change that may be followed by more of the same
//!   operation (data written by a writer that still has the file open, a bare
//!   metadata change, a removal, a rename away, a create);
//! - [`Signal::Finished`]: the OS says an operation is over: a writer closed
//!   the file (`IN_CLOSE_WRITE`), or a rename landed on the name. A close
//!   carries no change of its own: opening for writing and closing without
//!   writing is not a change.
//!
//! The [`Settler`] then decides:
//!
//! 1. A finished operation is notified **at once**, together with whatever
//!    was pending. No window is paid when the OS already says "done", which is
//!    how `touch` and an append are as fast as with no settling at all.
//! 2. An ongoing change waits for the **window** to pass (the burst may go
//!    on), then is notified once, merged with whatever came meanwhile. The
//!    window is measured from the first pending signal, not pushed back by
//!    each new one, so a constant stream of events still gives a
//!    notification once per window and no writer is starved.
//! 3. After any notification the settler **cools down** for one window:
//!    what arrives meanwhile is held and notified when the window ends. Fifty
//!    appends in a few milliseconds give two notifications, one at once and
//!    one when the series is over; appends further apart than the window each
//!    get their own.
//! 4. With a window of zero, every change signal is notified at once
//!    (lowest latency, no merging); a bare close adds nothing, since the
//!    write before it was already notified.
//!
//! The settler is a plain state machine that takes the time as an argument,
//! so its rules are unit-tested without a file system or a clock; the watch
//! task drives it with tokio's clock.

use std::time::Duration;

use tokio::time::Instant;

use super::ChangeKind;

/// The default settle window: 50 ms.
///
/// The window only has to cover the gaps between the system calls of one
/// operation (an editor's rename, create, write, chmod), which are
/// microseconds apart on an idle machine and a few milliseconds on a busy
/// one. 50 ms is the top of what well-known watchers use (20 to 50 ms): it
/// keeps the signals of one operation together on a loaded 2-core machine,
/// while a removal or a `chmod`, the only operations that pay it, is still
/// notified faster than a person notices. Operations the OS reports as
/// finished never pay it.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(50);

// ANCHOR: signal
/// One OS event about the watched file, as the settler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A change that more events of the same operation may follow.
    Ongoing(PendingChange),
    /// The OS says an operation is over; `Some` if the signal is itself a
    /// change (a rename onto the name), `None` for a writer's close.
    Finished(Option<ChangeKind>),
}

/// A change waiting to be notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingChange {
    /// What happened, merged over the burst.
    pub kind: ChangeKind,
    /// True while every signal of the burst was a bare metadata change
    /// (`IN_ATTRIB`). Such a burst is dropped if nothing visible changed (see
    /// the watch task), which keeps an editor's trailing `chmod` to the same
    /// mode from counting as a second change.
    pub metadata_only: bool,
}
// ANCHOR_END: signal

impl PendingChange {
    /// A pending change of `kind` that is not a bare metadata change.
    pub fn of(kind: ChangeKind) -> Self {
        PendingChange {
            kind,
            metadata_only: false,
        }
    }

    /// A bare metadata change.
    pub fn metadata() -> Self {
        PendingChange {
            kind: ChangeKind::Modified,
            metadata_only: true,
        }
    }

    /// Both changes as one: the later kind wins, except that a lost-events
    /// rescan is never hidden.
    fn merge(self, later: PendingChange) -> PendingChange {
        PendingChange {
            kind: match (self.kind, later.kind) {
                (ChangeKind::Rescan, _) | (_, ChangeKind::Rescan) => ChangeKind::Rescan,
                (_, later) => later,
            },
            metadata_only: self.metadata_only && later.metadata_only,
        }
    }
}

/// What the settler says to do with a signal or a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to notify now.
    Wait,
    /// Notify this change now.
    Notify(PendingChange),
}

/// The settle state machine. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Settler {
    window: Duration,
    pending: Option<PendingChange>,
    /// When the pending change is due.
    due: Option<Instant>,
    /// Until when signals are held after a notification.
    cooling_until: Option<Instant>,
}

impl Settler {
    /// A settler with the given window; zero means "notify every change at
    /// once".
    pub fn new(window: Duration) -> Self {
        Settler {
            window,
            pending: None,
            due: None,
            cooling_until: None,
        }
    }

    /// When [`Settler::on_deadline`] must be called next, if at all.
    pub fn deadline(&self) -> Option<Instant> {
        self.due
    }

    /// Takes one signal that arrived at `now`.
    // ANCHOR: on_signal
    pub fn on_signal(&mut self, signal: Signal, now: Instant) -> Decision {
        if self.window.is_zero() {
            return match signal {
                Signal::Ongoing(pending) => Decision::Notify(pending),
                Signal::Finished(Some(kind)) => Decision::Notify(PendingChange::of(kind)),
                Signal::Finished(None) => Decision::Wait,
            };
        }
        let cooling = self.cooling_until.is_some_and(|until| now < until);
        match signal {
            Signal::Finished(own) => {
                let merged = match (self.pending, own) {
                    (Some(pending), Some(kind)) => Some(pending.merge(PendingChange::of(kind))),
                    (Some(pending), None) => Some(pending),
                    (None, Some(kind)) => Some(PendingChange::of(kind)),
                    // A close with nothing written: not a change.
                    (None, None) => None,
                };
                let Some(merged) = merged else {
                    return Decision::Wait;
                };
                if cooling {
                    self.hold(merged);
                    Decision::Wait
                } else {
                    self.notify_now(merged, now)
                }
            }
            Signal::Ongoing(change) => {
                let merged = match self.pending {
                    Some(pending) => pending.merge(change),
                    None => change,
                };
                self.pending = Some(merged);
                if self.due.is_none() {
                    // Due one window after the first pending signal, or, in a
                    // cool-down, when the cool-down ends.
                    self.due = Some(match self.cooling_until {
                        Some(until) if cooling => until,
                        _ => now + self.window,
                    });
                }
                Decision::Wait
            }
        }
    }
    // ANCHOR_END: on_signal

    /// Called at (or after) [`Settler::deadline`].
    pub fn on_deadline(&mut self, now: Instant) -> Decision {
        match (self.due, self.pending) {
            (Some(due), Some(pending)) if now >= due => self.notify_now(pending, now),
            _ => Decision::Wait,
        }
    }

    fn hold(&mut self, pending: PendingChange) {
        self.pending = Some(pending);
        if self.due.is_none() {
            self.due = self.cooling_until;
        }
    }

    fn notify_now(&mut self, pending: PendingChange, now: Instant) -> Decision {
        self.pending = None;
        self.due = None;
        self.cooling_until = Some(now + self.window);
        Decision::Notify(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const WINDOW: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn modified() -> Signal {
        Signal::Ongoing(PendingChange::of(ChangeKind::Modified))
    }

    fn attrib() -> Signal {
        Signal::Ongoing(PendingChange::metadata())
    }

    fn closed() -> Signal {
        Signal::Finished(None)
    }

    /// Feeds `signals` at their offsets from a start instant, firing
    /// deadlines as a clock would, and returns the offsets (in ms) at which a
    /// notification went out.
    fn run(
        window: Duration,
        signals: &[(u64, Signal)],
        until_ms: u64,
    ) -> Vec<(u64, PendingChange)> {
        let start = Instant::now();
        let mut settler = Settler::new(window);
        let mut out = Vec::new();
        let mut signals = signals.iter().peekable();
        loop {
            let next_signal = signals.peek().map(|(at, _)| start + ms(*at));
            let next_deadline = settler.deadline();
            let (at, decision) = match (next_signal, next_deadline) {
                (Some(signal_at), Some(due)) if due < signal_at => (due, settler.on_deadline(due)),
                (Some(signal_at), _) => {
                    let (_, signal) = signals.next().unwrap();
                    (signal_at, settler.on_signal(*signal, signal_at))
                }
                (None, Some(due)) => (due, settler.on_deadline(due)),
                (None, None) => break,
            };
            if at > start + ms(until_ms) {
                break;
            }
            if let Decision::Notify(pending) = decision {
                out.push(((at - start).as_millis() as u64, pending));
            }
        }
        out
    }

    fn times(notified: Vec<(u64, PendingChange)>) -> Vec<u64> {
        notified.into_iter().map(|(at, _)| at).collect()
    }

    #[test]
    fn a_touch_is_notified_once_at_its_close_without_waiting() {
        let notified = run(WINDOW, &[(0, attrib()), (0, closed())], 1000);
        assert_eq!(notified, vec![(0, PendingChange::metadata())]);
    }

    #[test]
    fn an_append_is_notified_once_at_its_close() {
        assert_eq!(
            times(run(WINDOW, &[(0, modified()), (1, closed())], 1000)),
            [1]
        );
    }

    #[test]
    fn a_rename_onto_the_name_is_notified_at_once() {
        let rename = Signal::Finished(Some(ChangeKind::Created));
        let notified = run(WINDOW, &[(5, rename)], 1000);
        assert_eq!(notified, vec![(5, PendingChange::of(ChangeKind::Created))]);
    }

    #[test]
    fn a_bare_metadata_change_waits_one_window() {
        assert_eq!(times(run(WINDOW, &[(0, attrib())], 1000)), [50]);
    }

    #[test]
    fn a_removal_waits_one_window_and_says_removed() {
        let removed = Signal::Ongoing(PendingChange::of(ChangeKind::Removed));
        let notified = run(WINDOW, &[(0, removed)], 1000);
        assert_eq!(notified, vec![(50, PendingChange::of(ChangeKind::Removed))]);
    }

    #[test]
    fn opening_for_writing_and_closing_without_writing_is_nothing() {
        assert_eq!(
            times(run(WINDOW, &[(0, closed()), (3, closed())], 1000)),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn an_editors_save_by_rename_away_create_write_close_is_one_notification() {
        let signals = [
            (0, Signal::Ongoing(PendingChange::of(ChangeKind::Removed))),
            (1, Signal::Ongoing(PendingChange::of(ChangeKind::Created))),
            (1, modified()),
            (2, closed()),
        ];
        let notified = run(WINDOW, &signals, 1000);
        assert_eq!(notified, vec![(2, PendingChange::of(ChangeKind::Modified))]);
    }

    #[test]
    fn fifty_appends_in_quick_succession_give_one_at_once_and_one_when_settled() {
        let mut signals = Vec::new();
        for i in 0..50 {
            signals.push((i / 10, modified()));
            signals.push((i / 10, closed()));
        }
        assert_eq!(times(run(WINDOW, &signals, 1000)), [0, 50]);
    }

    #[test]
    fn appends_further_apart_than_the_window_each_get_their_own_at_once() {
        let signals: Vec<_> = (0..5)
            .flat_map(|i| [(i * 120, modified()), (i * 120, closed())])
            .collect();
        assert_eq!(times(run(WINDOW, &signals, 1000)), [0, 120, 240, 360, 480]);
    }

    #[test]
    fn a_constant_stream_still_notifies_once_per_window() {
        // A writer that never closes: a data change every 5 ms for 300 ms.
        let signals: Vec<_> = (0..60).map(|i| (i * 5, modified())).collect();
        assert_eq!(
            times(run(WINDOW, &signals, 400)),
            [50, 100, 150, 200, 250, 300]
        );
    }

    #[test]
    fn a_change_during_the_cool_down_is_held_until_it_ends() {
        let signals = [(0, modified()), (0, closed()), (10, attrib())];
        assert_eq!(times(run(WINDOW, &signals, 1000)), [0, 50]);
    }

    #[test]
    fn a_rename_onto_the_name_during_the_cool_down_is_held_not_lost() {
        let rename = Signal::Finished(Some(ChangeKind::Created));
        let signals = [(0, modified()), (0, closed()), (10, rename)];
        let notified = run(WINDOW, &signals, 1000);
        assert_eq!(
            notified,
            vec![
                (0, PendingChange::of(ChangeKind::Modified)),
                (50, PendingChange::of(ChangeKind::Created))
            ]
        );
    }

    #[test]
    fn a_burst_is_metadata_only_only_if_every_signal_was() {
        let merged = PendingChange::metadata().merge(PendingChange::of(ChangeKind::Modified));
        assert!(!merged.metadata_only, "a data change makes the burst real");
        let merged = PendingChange::of(ChangeKind::Modified).merge(PendingChange::metadata());
        assert!(!merged.metadata_only, "whichever comes first");
        assert!(
            PendingChange::metadata()
                .merge(PendingChange::metadata())
                .metadata_only,
            "two metadata signals make a metadata-only burst"
        );
    }

    #[test]
    fn a_lost_events_rescan_is_never_merged_away() {
        let rescan = Signal::Ongoing(PendingChange::of(ChangeKind::Rescan));
        let notified = run(WINDOW, &[(0, rescan), (1, modified()), (2, closed())], 1000);
        assert_eq!(notified, vec![(2, PendingChange::of(ChangeKind::Rescan))]);
    }

    /// The same rules on tokio's clock, paused: time only moves when every
    /// task waits, so the window is observed exactly, with no real sleeping.
    mod on_a_paused_tokio_clock {
        use super::*;
        use pretty_assertions::assert_eq;

        #[tokio::test(start_paused = true)]
        async fn a_chmod_is_notified_exactly_one_window_later() {
            let start = Instant::now();
            let mut settler = Settler::new(WINDOW);
            assert_eq!(settler.on_signal(attrib(), Instant::now()), Decision::Wait);
            let due = settler.deadline().expect("a deadline is set");
            tokio::time::sleep_until(due).await;
            assert_eq!(start.elapsed(), WINDOW);
            assert_eq!(
                settler.on_deadline(Instant::now()),
                Decision::Notify(PendingChange::metadata())
            );
            assert_eq!(settler.deadline(), None, "nothing left pending");
        }

        #[tokio::test(start_paused = true)]
        async fn a_deadline_that_fires_early_notifies_nothing() {
            let mut settler = Settler::new(WINDOW);
            settler.on_signal(modified(), Instant::now());
            // The clock is paused: these sleeps move its time on at once,
            // to the instants the test is about; nothing waits for real.
            tokio::time::sleep(WINDOW / 2).await;
            assert_eq!(settler.on_deadline(Instant::now()), Decision::Wait);
            tokio::time::sleep(WINDOW / 2).await;
            assert!(matches!(
                settler.on_deadline(Instant::now()),
                Decision::Notify(_)
            ));
        }
    }

    mod with_a_zero_window {
        use super::*;
        use pretty_assertions::assert_eq;

        #[test]
        fn notifies_every_change_signal_at_once() {
            let signals = [(0, attrib()), (0, closed()), (1, modified()), (1, closed())];
            assert_eq!(times(run(Duration::ZERO, &signals, 1000)), [0, 1]);
        }
    }
}
