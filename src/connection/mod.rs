//! One subscriber's life: greet, write each change, discard what it types,
//! and end cleanly. (Chapters 1, 2 and 9.)
//!
//! [`serve`] is generic over the [`Socket`] trait, which TCP and Unix stream
//! sockets both implement, so both run the same code.
//!
//! ## Two writers, one line at a time
//!
//! A notification reaches a subscriber by one of two roads:
//!
//! - the **fast road**: the notifier, on the thread that learnt of the
//!   change, offers the line to every subscriber ([`Outbox::offer`]), and
//!   each writes it at once if its socket can take it whole without
//!   waiting. No thread is woken, which is most of the latency saved on a
//!   small machine;
//! - the **task road**: when the fast road cannot deliver (the socket is
//!   full, or the task is mid-write), it wakes that subscriber's task, which
//!   writes the notifier's latest notification as soon as the socket takes
//!   it: changes that came meanwhile are coalesced, so a slow subscriber
//!   only ever owes one line.
//!
//! The two never interleave bytes: they follow the rules in `delivery.rs`,
//! on one record behind a lock that the fast road only *tries* to take. A
//! slow subscriber costs the fast road one failed non-blocking write, and
//! then nothing until its task has caught up.
//!
//! ## Why no change is missed
//!
//! Each step below is registered before it is checked, so that whatever
//! happens between the two is seen by the check:
//!
//! 1. The subscription is taken (the OS watch placed, the latest sequence
//!    number read) before the greeting is written: every change after it
//!    has a higher number and is owed.
//! 2. The outbox joins the fast road only once the greeting is written, so
//!    nothing goes before the greeting; the task then looks at the latest
//!    notification, so a change made while it was greeting is written too.
//! 3. The notifier stores the latest notification before it offers it, and
//!    the task reads it while it holds the record: an offer that finds
//!    the record locked by the task, or the task writing, wakes the task,
//!    which looks again.
//! 4. Waiting, the task registers its waker and then checks whether it was
//!    woken (`Wake::poll_take`): a wake before the check is seen by it,
//!    one after wakes the registered waker.
//!
//! ## Why an `async` block, with boxed writes
//!
//! There is one of these futures per connected subscriber, and it is most
//! of what an idle subscriber costs. Written as the `async` block in
//! [`serve`], it keeps the subscription, the record's `Arc`, the timeout and
//! the shutdown token, and, while waiting, one boxed write or one borrowed
//! wait: the task's future is 136 bytes, the same as the hand-written state
//! machine it replaced, and fits tokio's 256-byte task cell
//! (`server::tests::an_idle_subscribers_task_fits_tokios_256_byte_cell`).
//! The memory benchmark (`cargo bench --bench memory`) counts 668 bytes
//! requested per idle subscriber, against 684 for the state machine. A
//! write is boxed because writes are rare (the fast road does most) and its
//! state, timer included, is 300 bytes that would otherwise sit in every
//! idle task.

mod delivery;

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use socket2::SockRef;
use tokio::net::{TcpStream, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::lock::lock;
use crate::notifier::{Notification, Outbox, Subscription};
use delivery::{Delivery, Job};

/// How a subscriber's connection ended.
#[derive(Debug)]
pub enum Ending {
    /// The subscriber closed its side (end of file on our read side).
    PeerClosed,
    /// The server is shutting down; we closed our side cleanly.
    Shutdown,
    /// A write did not complete within the write timeout; we gave up on it.
    TooSlow,
    /// Reading, writing or sending our end of file failed (a reset, a
    /// broken pipe).
    Failed(io::Error),
}

/// A connected stream socket that can be used through a shared reference,
/// from any thread, without blocking: what both roads need.
///
/// Readiness is polled (`poll_*_ready`) rather than awaited through a
/// future: the futures tokio offers for it are 150 bytes each, and an idle
/// subscriber's task is mostly the futures it waits on.
pub trait Socket: Send + Sync + 'static {
    /// Writes what the socket takes now; `WouldBlock` if nothing.
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize>;
    /// Reads what has arrived; `WouldBlock` if nothing, `Ok(0)` at end.
    fn try_read(&self, buffer: &mut [u8]) -> io::Result<usize>;
    /// Ready once the socket may take more bytes (registers `cx` if not).
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ready once the socket may have bytes or end of file to read.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Sends end of file (`shutdown(SHUT_WR)`); reading still works.
    fn shutdown_write(&self) -> io::Result<()>;
}

/// `shutdown(fd, SHUT_WR)`, through socket2's borrowed socket: tokio offers
/// it only through `&mut` (`AsyncWriteExt::shutdown`), and the fast road
/// shares the socket.
fn shutdown_write(socket: &impl AsFd) -> io::Result<()> {
    SockRef::from(socket).shutdown(std::net::Shutdown::Write)
}

macro_rules! impl_socket {
    ($stream:ty) => {
        impl Socket for $stream {
            fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
                <$stream>::try_write(self, bytes)
            }
            fn try_read(&self, buffer: &mut [u8]) -> io::Result<usize> {
                <$stream>::try_read(self, buffer)
            }
            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$stream>::poll_write_ready(self, cx)
            }
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$stream>::poll_read_ready(self, cx)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                shutdown_write(self)
            }
        }
    };
}

impl_socket!(TcpStream);
impl_socket!(UnixStream);

/// How one subscriber's socket tells it things: the greeting, each
/// notification, and (for a stream that needs them) keep-alives.
///
/// A TCP or Unix subscriber is written the notifier's lines as they are
/// ([`Lines`]); a browser's event stream frames the same changes as
/// Server-Sent Events (chapter 13, [`crate::browser`]). Everything else
/// about a subscriber's life (the two roads, the write timeout, the end)
/// is the same for both, in [`serve_framed`].
pub trait Framing: Send + Sync + 'static {
    /// What the subscriber is sent first.
    fn greeting(&self, subscription: &Subscription) -> Arc<[u8]>;

    /// Calls `write` with the bytes that tell `notification`. On the fast
    /// road, once per subscriber and change: made without waiting, and
    /// best without allocating.
    fn frame<R>(&self, notification: &Notification, write: impl FnOnce(&[u8]) -> R) -> R;

    /// The bytes that tell `notification`, to keep while the task writes
    /// them.
    fn owned(&self, notification: &Notification) -> Arc<[u8]> {
        self.frame(notification, |bytes| Arc::from(bytes))
    }

    /// Ready when a keep-alive is due: the task then asks
    /// [`Framing::keep_alive`] for it. Never, unless a framing says so.
    fn poll_keep_alive(&self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }

    /// The keep-alive that is due, if one is (and no longer due once
    /// taken).
    fn keep_alive(&self) -> Option<Arc<[u8]>> {
        None
    }
}

/// The framing of TCP and Unix subscribers: the notifier's greeting, and
/// each notification's line in the server's protocol, shared by every
/// subscriber.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines;

impl Framing for Lines {
    fn greeting(&self, subscription: &Subscription) -> Arc<[u8]> {
        subscription.greeting()
    }

    fn frame<R>(&self, notification: &Notification, write: impl FnOnce(&[u8]) -> R) -> R {
        write(&notification.line)
    }

    fn owned(&self, notification: &Notification) -> Arc<[u8]> {
        Arc::clone(&notification.line)
    }
}

/// A one-slot wake-up for a subscriber's task: set by whoever has news for
/// it, taken by the task. Sixteen bytes of waker and a flag; waiting on it
/// adds nothing to the task's state.
#[derive(Default)]
struct Wake {
    waker: AtomicWaker,
    woken: AtomicBool,
}

impl Wake {
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Ready (and reset) if woken since the last take.
    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Register first, then check: a wake between the two is not lost.
        self.waker.register(cx.waker());
        if self.woken.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Bytes read and thrown away per read of what a subscriber types; what
/// people type at `nc` is a few bytes at a time.
const DISCARD_CHUNK: usize = 64;

/// A subscriber's outbox: its socket, which the notifier writes each line to
/// directly (the fast road), and how far the latest line's delivery got.
struct SocketOutbox<S, F> {
    socket: S,
    framing: F,
    delivery: Mutex<Delivery>,
    /// Wakes the subscriber's task when the fast road could not deliver, or
    /// at shutdown. Only those tasks wake: with thousands of subscribers,
    /// waking every task for every change would cost more than the writes.
    wake: Wake,
}

impl<S, F: Framing> SocketOutbox<S, F> {
    fn delivery(&self) -> MutexGuard<'_, Delivery> {
        lock(&self.delivery)
    }

    /// The task's next write, if any (see `Delivery::next_job`), `latest`
    /// framed for this subscriber.
    fn next_job(&self, latest: Notification) -> Option<Job> {
        self.delivery().next_job(
            latest.seq,
            || self.framing.owned(&latest),
            || self.framing.keep_alive(),
        )
    }
}

impl<S: Socket, F: Framing> Outbox for SocketOutbox<S, F> {
    fn wake(&self) {
        self.wake.wake();
    }

    // ANCHOR: offer
    fn offer(&self, notification: &Notification) {
        // Never wait here: this runs on the thread that fans out to every
        // subscriber.
        let wake = match self.delivery.try_lock() {
            Ok(mut delivery) => self.framing.frame(notification, |line| {
                delivery.offer(notification.seq, line, |line| self.socket.try_write(line))
            }),
            // The task holds the record for a moment and may have read the
            // latest notification before this one was published: wake it.
            Err(_) => true,
        };
        if wake {
            self.wake.wake();
        }
    }
    // ANCHOR_END: offer
}

/// Serves one subscriber until it leaves, it is too slow, or `shutdown` is
/// cancelled.
///
/// The greeting is written first. Because the subscription already exists,
/// a change made after the subscriber has read its greeting is never missed.
pub fn serve<S: Socket>(
    socket: S,
    subscription: Subscription,
    write_timeout: Duration,
    shutdown: CancellationToken,
) -> impl Future<Output = Ending> + Send {
    let seen = subscription.seen_at_start();
    serve_framed(socket, Lines, seen, subscription, write_timeout, shutdown)
}

/// Like [`serve`], telling the subscriber things in `framing`, and owing
/// it every notification numbered above `seen` (the subscription's
/// [`Subscription::seen_at_start`], or less to owe it the latest at once:
/// a browser that reconnects after missing a change, chapter 13).
pub fn serve_framed<S: Socket, F: Framing>(
    socket: S,
    framing: F,
    seen: u64,
    mut subscription: Subscription,
    write_timeout: Duration,
    shutdown: CancellationToken,
) -> impl Future<Output = Ending> + Send {
    // Built before the `async` block, so that the block keeps only the
    // `Arc`, not the socket it was built from as well.
    let subscriber = Arc::new(SocketOutbox {
        socket,
        framing,
        delivery: Mutex::new(Delivery::new(seen)),
        wake: Wake::default(),
    });
    async move {
        // Every way out of the loop leads through `end`.
        let ending = 'life: {
            let greeting = Job::unnumbered(subscriber.framing.greeting(&subscription));
            let write = write_owned(&subscriber, greeting, write_timeout, &shutdown);
            if let Err(ending) = write.await {
                break 'life ending;
            }
            // Only now may the fast road write: nothing goes before the
            // greeting.
            subscription.attach(Arc::clone(&subscriber) as Arc<dyn Outbox>);
            loop {
                // Checked on every turn: at shutdown the server cancels the
                // token, then wakes every subscriber.
                if shutdown.is_cancelled() {
                    break 'life Ending::Shutdown;
                }
                // The record's lock is let go before the `else` block runs
                // (as every temporary of a `let`-`else` is): the task never
                // waits holding it. (One statement, not two: a named
                // `Option` would be kept across the wait, 32 bytes more in
                // every idle subscriber's task.)
                let Some(job) = subscriber.next_job(subscription.latest()) else {
                    if let Some(ending) = news_or_input(&subscriber).await {
                        break 'life ending;
                    }
                    continue;
                };
                let write = write_owned(&subscriber, job, write_timeout, &shutdown);
                if let Err(ending) = write.await {
                    break 'life ending;
                }
            }
        };
        end(&subscriber, subscription, ending)
    }
}

/// Waits for news (`None`: the task was woken, or a keep-alive is due) or
/// for input, which it reads and drops; ready with how the connection ends
/// at end of file or on an error.
///
/// The server needs nothing from subscribers, but what they type must be
/// read, or it piles up in the kernel's buffers and closing the socket
/// would then send a reset instead of a clean end of file.
fn news_or_input<S: Socket, F: Framing>(
    subscriber: &SocketOutbox<S, F>,
) -> impl Future<Output = Option<Ending>> {
    std::future::poll_fn(|cx| {
        if subscriber.wake.poll_take(cx).is_ready()
            || subscriber.framing.poll_keep_alive(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        poll_discard_input(&subscriber.socket, cx).map(Some)
    })
}

/// Ends the connection: unsubscribes, keeps the fast road off the socket,
/// and sends our end of file unless the socket failed. If that fails, the
/// connection ends as failed.
fn end<S: Socket, F: Framing>(
    subscriber: &SocketOutbox<S, F>,
    subscription: Subscription,
    ending: Ending,
) -> Ending {
    subscriber.delivery().close();
    drop(subscription);
    if matches!(ending, Ending::Failed(_)) {
        return ending;
    }
    // Our end of file goes out now, not when the last handle on the socket
    // is dropped: whoever still holds one (a fan-out in flight), the
    // subscriber sees a clean end.
    match subscriber.socket.shutdown_write() {
        // The peer reset the connection meanwhile: nobody is left to tell,
        // and that is how this connection was going to end.
        Err(error) if error.kind() == io::ErrorKind::NotConnected => ending,
        Err(error) => Ending::Failed(error),
        Ok(()) => ending,
    }
}

/// Writes `job` as an owned, boxed future; once its line is written whole,
/// its notification counts as delivered and the fast road may write again.
fn write_owned<S: Socket, F: Framing>(
    subscriber: &Arc<SocketOutbox<S, F>>,
    job: Job,
    write_timeout: Duration,
    shutdown: &CancellationToken,
) -> Write {
    let subscriber = Arc::clone(subscriber);
    let shutdown = shutdown.clone();
    Box::pin(async move {
        write_all(&subscriber.socket, job.rest(), write_timeout, &shutdown).await?;
        subscriber.delivery().finished(&job);
        Ok(())
    })
}

/// A write under way: boxed, since writes are rare (the fast road does
/// most) and their state, timer included, would otherwise sit in every
/// idle subscriber's task.
type Write = Pin<Box<dyn Future<Output = Result<(), Ending>> + Send>>;

/// Reads and drops whatever the subscriber sent; ready only at end of file
/// or on an error.
fn poll_discard_input<S: Socket>(socket: &S, cx: &mut Context<'_>) -> Poll<Ending> {
    let mut buffer = [0u8; DISCARD_CHUNK];
    loop {
        if let Err(error) = std::task::ready!(socket.poll_read_ready(cx)) {
            return Poll::Ready(Ending::Failed(error));
        }
        // Drain; `WouldBlock` clears the readiness, and the next poll above
        // registers the task to be woken when more arrives.
        loop {
            match socket.try_read(&mut buffer) {
                Ok(0) => return Poll::Ready(Ending::PeerClosed),
                Ok(_) => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => return Poll::Ready(Ending::Failed(error)),
            }
        }
    }
}

/// Writes all of `bytes`, giving up after `write_timeout` without completing
/// or at shutdown.
pub async fn write_all<S: Socket>(
    socket: &S,
    bytes: &[u8],
    write_timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<(), Ending> {
    let writing = async {
        let mut written = 0;
        while written < bytes.len() {
            std::future::poll_fn(|cx| socket.poll_write_ready(cx)).await?;
            match socket.try_write(&bytes[written..]) {
                Ok(n) => written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    };
    tokio::select! {
        biased;
        () = shutdown.cancelled() => Err(Ending::Shutdown),
        written = tokio::time::timeout(write_timeout, writing) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Ending::Failed(error)),
            Err(_elapsed) => Err(Ending::TooSlow),
        },
    }
}

/// For unit tests elsewhere in the crate that need a socket they control.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A Unix socket the test shares with [`serve`]: when the server drops
    /// its handle the socket stays open, so the peer sees an end of file
    /// only if the server sent one on purpose. Sending end of file can be
    /// made to fail.
    pub(crate) struct SharedSocket {
        pub(crate) stream: Arc<UnixStream>,
        /// If set, `shutdown_write` fails with this instead of sending.
        pub(crate) shutdown_fails_with: Option<io::ErrorKind>,
    }

    impl SharedSocket {
        pub(crate) fn new(stream: &Arc<UnixStream>) -> Self {
            SharedSocket {
                stream: Arc::clone(stream),
                shutdown_fails_with: None,
            }
        }
    }

    impl Socket for SharedSocket {
        fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
            self.stream.try_write(bytes)
        }
        fn try_read(&self, buffer: &mut [u8]) -> io::Result<usize> {
            self.stream.try_read(buffer)
        }
        fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.stream.poll_write_ready(cx)
        }
        fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.stream.poll_read_ready(cx)
        }
        fn shutdown_write(&self) -> io::Result<()> {
            match self.shutdown_fails_with {
                Some(kind) => Err(kind.into()),
                None => self.stream.shutdown_write(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::SharedSocket;
    use super::*;
    use crate::notifier::testing::notifier_on_a_temp_file;
    use crate::protocol::Protocol;
    use tokio::io::AsyncReadExt;

    /// Serves `socket` until the test's shutdown, after the greeting has
    /// arrived at `theirs`, and returns how the connection ended.
    async fn serve_until_shutdown(socket: SharedSocket, theirs: &mut UnixStream) -> Ending {
        let (_dir, notifier) = notifier_on_a_temp_file(Protocol::Text);
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(serve(
            socket,
            notifier.subscribe().unwrap(),
            Duration::from_secs(10),
            shutdown.clone(),
        ));
        let mut greeting = [0u8; 256];
        let read = theirs.read(&mut greeting).await.unwrap();
        assert!(read > 0, "expected the greeting, got end of file");
        shutdown.cancel();
        notifier.wake_all();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve should end at shutdown")
            .unwrap()
    }

    #[tokio::test]
    async fn a_subscriber_whose_end_of_file_cannot_be_sent_ends_as_failed() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let socket = SharedSocket {
            shutdown_fails_with: Some(io::ErrorKind::InvalidInput),
            ..SharedSocket::new(&Arc::new(ours))
        };
        let ending = serve_until_shutdown(socket, &mut theirs).await;
        assert!(
            matches!(&ending, Ending::Failed(error) if error.kind() == io::ErrorKind::InvalidInput),
            "ended with {ending:?}"
        );
    }

    #[tokio::test]
    async fn a_subscriber_already_gone_when_its_end_of_file_is_sent_ends_as_it_was_ending() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let socket = SharedSocket {
            shutdown_fails_with: Some(io::ErrorKind::NotConnected),
            ..SharedSocket::new(&Arc::new(ours))
        };
        let ending = serve_until_shutdown(socket, &mut theirs).await;
        assert!(matches!(ending, Ending::Shutdown), "ended with {ending:?}");
    }

    #[tokio::test]
    async fn a_subscriber_ended_by_shutdown_gets_end_of_file_while_the_socket_is_still_open() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let ours = Arc::new(ours);
        let ending = serve_until_shutdown(SharedSocket::new(&ours), &mut theirs).await;
        assert!(matches!(ending, Ending::Shutdown), "ended with {ending:?}");

        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), theirs.read_to_end(&mut rest))
            .await
            .expect("expected end of file while the socket is still open, got nothing");
        assert_eq!(read.unwrap(), 0, "expected end of file, got {rest:?}");
        // Still open on our side: the end of file was sent, not caused by a close.
        assert_eq!(
            Arc::strong_count(&ours),
            1,
            "expected serve to have let go of the socket"
        );
    }
}
