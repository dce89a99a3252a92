//! The notifier on its own, with outboxes that record what they are
//! offered instead of sockets: the fan-out's threads, and its helper's end.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use jiff::tz::TimeZone;
use net_watcher::console::Console;
use net_watcher::notifier::{Notification, Notifier, Outbox, SPLIT_FAN_OUT_AT, Subscription};
use net_watcher::protocol::Protocol;
use net_watcher::watching::Target;
use rstest::rstest;
use tokio::sync::Notify;

use crate::support::target::{TargetFile, target};
use crate::support::within;

/// An outbox that notes which thread offered it each notification.
#[derive(Default)]
struct Recorder {
    offered_on: Mutex<Vec<ThreadId>>,
    /// Shared by all recorders: rung after every offer.
    rung: Arc<Notify>,
    /// If set, every offer waits there for a second thread.
    meeting: Option<Arc<Meeting>>,
}

impl Outbox for Recorder {
    fn offer(&self, _notification: &Notification) {
        let thread = std::thread::current().id();
        self.offered_on.lock().unwrap().push(thread);
        self.rung.notify_one();
        if let Some(meeting) = &self.meeting {
            meeting.wait_for_a_second_thread(thread);
        }
    }

    fn wake(&self) {}
}

/// Where offers wait until two threads have made one: a thread held up in
/// its first offer must be relieved by another, or the meeting gives up
/// (once, after `patience`) and lets every offer through.
struct Meeting {
    /// The threads seen so far, and whether the meeting has given up.
    seen: Mutex<(HashSet<ThreadId>, bool)>,
    changed: Condvar,
    patience: Duration,
}

impl Meeting {
    fn new(patience: Duration) -> Arc<Self> {
        Arc::new(Meeting {
            seen: Mutex::default(),
            changed: Condvar::new(),
            patience,
        })
    }

    fn wait_for_a_second_thread(&self, thread: ThreadId) {
        let mut seen = self.seen.lock().unwrap();
        seen.0.insert(thread);
        self.changed.notify_all();
        let (mut seen, waited) = self
            .changed
            .wait_timeout_while(seen, self.patience, |(threads, gave_up)| {
                threads.len() < 2 && !*gave_up
            })
            .unwrap();
        if waited.timed_out() {
            seen.1 = true;
        }
    }
}

fn notifier_for(target: &TargetFile) -> Notifier {
    Notifier::new(
        Target::new(target.path()).unwrap(),
        Protocol::Text,
        TimeZone::UTC,
        Duration::ZERO,
        Console::silent(),
    )
}

/// Attaches `attached` recorders that meet at `meeting`, then ends the
/// first `leaving` subscriptions, touches the target and returns the
/// threads that offered the change to those still subscribed.
async fn threads_offering(
    target: &TargetFile,
    attached: usize,
    leaving: usize,
    meeting: Arc<Meeting>,
) -> HashSet<ThreadId> {
    let notifier = notifier_for(target);
    let rung = Arc::new(Notify::new());
    let mut recorders = Vec::new();
    let mut subscriptions = Vec::new();
    for _ in 0..attached {
        let mut subscription = notifier.subscribe().unwrap();
        let recorder = Arc::new(Recorder {
            rung: Arc::clone(&rung),
            meeting: Some(Arc::clone(&meeting)),
            ..Recorder::default()
        });
        subscription.attach(Arc::clone(&recorder) as Arc<dyn Outbox>);
        recorders.push(recorder);
        subscriptions.push(subscription);
    }
    subscriptions.drain(..leaving);
    recorders.drain(..leaving);

    target.touch();
    let recorders: Vec<&Arc<Recorder>> = recorders.iter().collect();
    until_offered(&recorders, &rung).await;
    recorders
        .iter()
        .flat_map(|recorder| recorder.offered_on.lock().unwrap().clone())
        .collect()
}

mod past_the_split_point {
    use super::*;

    #[rstest]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_thread_takes_over_while_the_publishing_thread_is_held_up(target: TargetFile) {
        // Every offer waits until a second thread has offered too: the
        // publishing thread stops at its first outbox, and only a thread that
        // takes the other shards meanwhile can let it go on. Enough
        // subscribers that each shard holds dozens.
        let count = 2_000;
        let threads =
            threads_offering(&target, count, 0, Meeting::new(Duration::from_secs(3))).await;
        // Two at least: more cores than the runtime's two workers may
        // bring a third (the publishing thread is not a worker).
        assert!(
            threads.len() >= 2,
            "expected {count} outboxes to be offered the change by two threads at once, \
             got {} thread(s)",
            threads.len()
        );
    }
}

mod below_the_split_point {
    use super::*;

    #[rstest]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_publishing_thread_offers_to_everyone_itself(target: TargetFile) {
        // More subscribers than the split point have come, but enough have
        // left to bring those remaining under it: no helper may be woken.
        // Every offer waits a moment for a second thread; none may come.
        let (attached, leaving) = (SPLIT_FAN_OUT_AT + 50, 100);
        let threads = threads_offering(
            &target,
            attached,
            leaving,
            Meeting::new(Duration::from_millis(500)),
        )
        .await;
        assert_eq!(
            threads.len(),
            1,
            "expected the {} remaining outboxes to be offered the change by the publishing \
             thread alone, got {} threads",
            attached - leaving,
            threads.len()
        );
    }
}

/// A recorder ringing `rung`, attached to a new subscription.
fn attached(notifier: &Notifier, rung: &Arc<Notify>) -> (Subscription, Arc<Recorder>) {
    let mut subscription = notifier.subscribe().unwrap();
    let recorder = recorder(rung);
    subscription.attach(Arc::clone(&recorder) as Arc<dyn Outbox>);
    (subscription, recorder)
}

fn recorder(rung: &Arc<Notify>) -> Arc<Recorder> {
    Arc::new(Recorder {
        rung: Arc::clone(rung),
        ..Recorder::default()
    })
}

fn offers(recorder: &Recorder) -> usize {
    recorder.offered_on.lock().unwrap().len()
}

/// Waits until every one of `recorders` has had an offer.
async fn until_offered(recorders: &[&Arc<Recorder>], rung: &Notify) {
    within("an offer to each outbox", async {
        while recorders.iter().any(|recorder| offers(recorder) == 0) {
            rung.notified().await;
        }
    })
    .await;
}

mod with_subscribers_coming_and_going {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn offers_nothing_to_one_that_left_and_everything_to_the_one_in_its_place(
        target: TargetFile,
    ) {
        let notifier = notifier_for(&target);
        let rung = Arc::new(Notify::new());
        // Subscribers join the two halves of the table in turn: the third
        // joins the first's half, and takes the slot the first left.
        let (first, left) = attached(&notifier, &rung);
        let (_second, stayed) = attached(&notifier, &rung);
        drop(first);
        let (_third, came) = attached(&notifier, &rung);

        target.touch();
        // Each half is offered in one pass: once both others have the
        // change, the one that left would have had it too.
        until_offered(&[&stayed, &came], &rung).await;
        assert_eq!(
            (offers(&left), offers(&stayed), offers(&came)),
            (0, 1, 1),
            "expected offers to (the one that left, the one that stayed, the newcomer)"
        );
    }

    #[rstest]
    #[tokio::test]
    async fn a_second_attach_replaces_the_first_outbox(target: TargetFile) {
        let notifier = notifier_for(&target);
        let rung = Arc::new(Notify::new());
        let (mut subscription, replaced) = attached(&notifier, &rung);
        let replacement = recorder(&rung);
        subscription.attach(Arc::clone(&replacement) as Arc<dyn Outbox>);

        target.touch();
        until_offered(&[&replacement], &rung).await;
        assert_eq!(
            (offers(&replaced), offers(&replacement)),
            (0, 1),
            "expected offers to (the replaced outbox, its replacement)"
        );
    }
}

mod when_dropped {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn leaves_no_task_behind(target: TargetFile) {
        let notifier = notifier_for(&target);
        // The first subscription starts the helper tasks of the fan-out (and
        // the OS watch's own task, which ends with the watch).
        drop(notifier.subscribe().unwrap());
        let metrics = tokio::runtime::Handle::current().metrics();
        assert_ne!(metrics.num_alive_tasks(), 0, "expected the helper tasks");

        drop(notifier);
        within("the helper tasks to end", async {
            while metrics.num_alive_tasks() > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
}
