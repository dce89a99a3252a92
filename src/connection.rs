//! One subscriber's life: greet, write each change, discard what it types,
//! and end cleanly. (Chapters 1 and 2.)
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
//!   writes the notifier's latest notification
//!   as soon as the socket takes it: changes that came meanwhile are
//!   coalesced, so a slow subscriber only ever owes one line.
//!
//! The two never interleave bytes: a [`Delivery`] record, behind a lock that
//! the fast road only *tries* to take, says which notification was
//! delivered last and whether the task is mid-write. Whoever delivers
//! notification `n` first wins; the other sees `n` delivered and does
//! nothing. A slow subscriber costs the fast road one failed non-blocking
//! write, and then nothing until its task has caught up.

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

use crate::notifier::{Notification, Outbox, Subscription};

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

/// What was delivered to one subscriber, shared by the two roads.
#[derive(Debug)]
pub struct Delivery {
    /// The sequence number of the last notification written whole.
    delivered: u64,
    /// The task is writing: the fast road must keep off the socket.
    busy: bool,
    /// A line the fast road could only partly write; the task finishes it
    /// before anything else.
    partial: Option<(Notification, usize)>,
}

/// A subscriber as the notifier's fast road sees it.
struct Subscriber<S> {
    socket: S,
    delivery: Mutex<Delivery>,
    /// Wakes the subscriber's task when the fast road could not deliver, or
    /// at shutdown. Only those tasks wake: with thousands of subscribers,
    /// waking every task for every change would cost more than the writes.
    wake: Wake,
}

impl<S> Subscriber<S> {
    fn delivery(&self) -> MutexGuard<'_, Delivery> {
        // Every update leaves the record consistent.
        self.delivery.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the task should write next, if anything, marking it busy: the
    /// rest of a partial line first, then the latest notification if it is
    /// newer than the last delivered.
    fn next_job(&self, latest: &Notification) -> Option<(Notification, usize)> {
        let mut delivery = self.delivery();
        let job = match delivery.partial.take() {
            Some(partial) => Some(partial),
            None if latest.seq > delivery.delivered => Some((latest.clone(), 0)),
            None => None,
        };
        delivery.busy = job.is_some();
        job
    }

    fn finished_job(&self, seq: u64) {
        let mut delivery = self.delivery();
        delivery.delivered = delivery.delivered.max(seq);
        delivery.busy = false;
    }
}

impl<S: Socket> Outbox for Subscriber<S> {
    fn wake(&self) {
        self.wake.wake();
    }

    // ANCHOR: offer
    fn offer(&self, notification: &Notification) {
        // Never wait here: this runs on the thread that fans out to every
        // subscriber.
        let Ok(mut delivery) = self.delivery.try_lock() else {
            // The task holds the record for a moment and may have read the
            // latest notification before this one was published: wake it.
            return self.wake.wake();
        };
        if delivery.delivered >= notification.seq {
            return;
        }
        if delivery.busy || delivery.partial.is_some() {
            // The task is writing or owes the rest of a line: it writes the
            // latest notification next, once woken.
            drop(delivery);
            return self.wake.wake();
        }
        match self.socket.try_write(&notification.line) {
            Ok(written) if written == notification.line.len() => {
                delivery.delivered = notification.seq;
                return;
            }
            Ok(written) => delivery.partial = Some((notification.clone(), written)),
            // Would block, or a failure the task will meet and report.
            Err(_) => {}
        }
        drop(delivery);
        self.wake.wake();
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
) -> Serving<S> {
    let subscriber = Arc::new(Subscriber {
        socket,
        delivery: Mutex::new(Delivery {
            delivered: subscription.seen_at_start(),
            busy: false,
            partial: None,
        }),
        wake: Wake::default(),
    });
    let greeting = write_owned(
        Arc::clone(&subscriber),
        subscription.greeting(),
        0,
        write_timeout,
        shutdown.clone(),
    );
    Serving {
        subscriber,
        subscription: Some(subscription),
        write_timeout,
        shutdown,
        state: State::Greeting(greeting),
    }
}

/// A subscriber's life as a [`Future`]: what [`serve`] returns.
///
/// Written out by hand rather than as an `async fn`, because there is one
/// of these per connected subscriber and it is most of what an idle
/// subscriber costs: the compiler's state machine for the same steps took
/// over 200 bytes, this one under 100. The steps are the ones an `async fn`
/// would take:
///
/// ```text
/// Greeting ──▶ Attached ◀──▶ Writing
///    │            │             │
///    └────────────┴─────────────┴──▶ ended (Ready)
/// ```
pub struct Serving<S> {
    subscriber: Arc<Subscriber<S>>,
    /// `None` once the connection is over (dropping it unsubscribes).
    subscription: Option<Subscription>,
    write_timeout: Duration,
    shutdown: CancellationToken,
    state: State,
}

/// A write under way: boxed, since writes are rare (the fast road does
/// most) and their state, timer included, would otherwise sit in every
/// idle subscriber's task.
type Write = Pin<Box<dyn Future<Output = Result<(), Ending>> + Send>>;

enum State {
    /// Writing the greeting; the fast road may not write yet.
    Greeting(Write),
    /// Greeted, registered with the fast road, waiting for news or input.
    Attached,
    /// Writing what the fast road could not deliver: the notification with
    /// this sequence number.
    Writing(Write, u64),
}

impl<S: Socket> Future for Serving<S> {
    type Output = Ending;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ending> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Greeting(write) => match std::task::ready!(write.as_mut().poll(cx)) {
                    Ok(()) => {
                        // Only now may the fast road write: nothing goes
                        // before the greeting.
                        if let Some(subscription) = &mut this.subscription {
                            subscription.attach(Arc::clone(&this.subscriber) as Arc<dyn Outbox>);
                        }
                        this.state = State::Attached;
                    }
                    Err(ending) => return Poll::Ready(this.end(ending)),
                },
                State::Writing(write, seq) => match std::task::ready!(write.as_mut().poll(cx)) {
                    Ok(()) => {
                        this.subscriber.finished_job(*seq);
                        this.state = State::Attached;
                    }
                    Err(ending) => return Poll::Ready(this.end(ending)),
                },
                State::Attached => {
                    // Checked on every turn: at shutdown the server cancels
                    // the token, then wakes every subscriber.
                    if this.shutdown.is_cancelled() {
                        return Poll::Ready(this.end(Ending::Shutdown));
                    }
                    let Some(subscription) = &this.subscription else {
                        return Poll::Ready(this.end(Ending::Shutdown));
                    };
                    if let Some((notification, from)) =
                        this.subscriber.next_job(&subscription.latest())
                    {
                        let write = write_owned(
                            Arc::clone(&this.subscriber),
                            notification.line,
                            from,
                            this.write_timeout,
                            this.shutdown.clone(),
                        );
                        this.state = State::Writing(write, notification.seq);
                        continue;
                    }
                    // Wait for news, or for input. The server needs nothing
                    // from subscribers, but what they type must be read, or
                    // it piles up in the kernel's buffers and closing the
                    // socket would then send a reset instead of a clean end
                    // of file.
                    if this.subscriber.wake.poll_take(cx).is_ready() {
                        continue;
                    }
                    let ending = std::task::ready!(poll_discard_input(&this.subscriber.socket, cx));
                    return Poll::Ready(this.end(ending));
                }
            }
        }
    }
}

impl<S: Socket> Serving<S> {
    /// Ends the connection: unsubscribes, keeps the fast road off the
    /// socket, and sends our end of file unless the socket failed. If that
    /// fails, the connection ends as failed.
    fn end(&mut self, ending: Ending) -> Ending {
        self.subscriber.delivery().busy = true;
        self.subscription = None;
        if matches!(ending, Ending::Failed(_)) {
            return ending;
        }
        // Our end of file goes out now, not when the last handle on the
        // socket is dropped: whoever still holds one (a fan-out in flight),
        // the subscriber sees a clean end.
        match self.subscriber.socket.shutdown_write() {
            // The peer reset the connection meanwhile: nobody is left to
            // tell, and that is how this connection was going to end.
            Err(error) if error.kind() == io::ErrorKind::NotConnected => ending,
            Err(error) => Ending::Failed(error),
            Ok(()) => ending,
        }
    }
}

/// Writes `line` from byte `from` on, as an owned, boxed future.
fn write_owned<S: Socket>(
    subscriber: Arc<Subscriber<S>>,
    line: Arc<[u8]>,
    from: usize,
    write_timeout: Duration,
    shutdown: CancellationToken,
) -> Write {
    Box::pin(
        async move { write_all(&subscriber.socket, &line[from..], write_timeout, &shutdown).await },
    )
}

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
