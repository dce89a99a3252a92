//! The notifier on its own, with outboxes that record what they are
//! offered instead of sockets: the fan-out's threads, and its helper's end.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use net_watcher::console::Console;
use net_watcher::notifier::{Notification, Notifier, Outbox, SPLIT_FAN_OUT_AT};
use net_watcher::protocol::Protocol;
use net_watcher::watch::Target;
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
}

impl Outbox for Recorder {
    fn offer(&self, _notification: &Notification) {
        self.offered_on
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.rung.notify_one();
    }

    fn wake(&self) {}
}

fn notifier_for(target: &TargetFile) -> Notifier {
    Notifier::new(
        Target::new(target.path()).unwrap(),
        Protocol::Text,
        Duration::ZERO,
        Console::silent(),
    )
}

mod past_the_split_point {
    use super::*;

    #[rstest]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offers_each_change_from_two_threads(target: TargetFile) {
        let notifier = notifier_for(&target);
        let rung = Arc::new(Notify::new());
        let count = SPLIT_FAN_OUT_AT + 10;
        let mut recorders = Vec::new();
        let mut subscriptions = Vec::new();
        for _ in 0..count {
            let subscription = notifier.subscribe().unwrap();
            let recorder = Arc::new(Recorder {
                rung: Arc::clone(&rung),
                ..Recorder::default()
            });
            subscription.attach(Arc::clone(&recorder) as Arc<dyn Outbox>);
            recorders.push(recorder);
            subscriptions.push(subscription);
        }

        target.touch();
        let offered = || {
            recorders
                .iter()
                .filter(|recorder| !recorder.offered_on.lock().unwrap().is_empty())
                .count()
        };
        within("an offer to every outbox", async {
            while offered() < count {
                rung.notified().await;
            }
        })
        .await;

        let threads: HashSet<ThreadId> = recorders
            .iter()
            .flat_map(|recorder| recorder.offered_on.lock().unwrap().clone())
            .collect();
        assert_eq!(
            threads.len(),
            2,
            "expected {count} outboxes to be offered the change by two threads at once, \
             got {} thread(s)",
            threads.len()
        );
    }
}

mod when_dropped {
    use super::*;

    #[rstest]
    #[tokio::test]
    async fn leaves_no_task_behind(target: TargetFile) {
        let notifier = notifier_for(&target);
        // The first subscription starts the helper task of the fan-out (and
        // the OS watch's own task, which ends with the watch).
        drop(notifier.subscribe().unwrap());
        let metrics = tokio::runtime::Handle::current().metrics();
        assert_ne!(metrics.num_alive_tasks(), 0, "expected the helper task");

        drop(notifier);
        within("the helper task to end", async {
            while metrics.num_alive_tasks() > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
}
