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
//! - the **task road**: each subscriber's task also wakes on every change
//!   (through the notifier's `watch` channel) and writes whatever the fast
//!   road did not deliver: a line that did not fit, or any line while the
//!   task itself was writing.
//!
//! The two never interleave bytes: a [`Delivery`] record, behind a lock that
//! the fast road only *tries* to take, says which notification was
//! delivered last and whether the task is mid-write. Whoever delivers
//! notification `n` first wins; the other sees `n` delivered and does
//! nothing. A slow subscriber costs the fast road one failed non-blocking
//! write, and then nothing until its task has caught up.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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
    /// Reading or writing failed (a reset, a broken pipe).
    Failed(io::Error),
}

/// A connected stream socket that can be used through a shared reference,
/// from any thread, without blocking: what both roads need.
pub trait Socket: Send + Sync + 'static {
    /// Writes what the socket takes now; `WouldBlock` if nothing.
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize>;
    /// Reads what has arrived; `WouldBlock` if nothing, `Ok(0)` at end.
    fn try_read(&self, buffer: &mut [u8]) -> io::Result<usize>;
    /// Waits until the socket may take more bytes.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send + '_;
    /// Waits until the socket may have bytes (or end of file) to read.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_;
    /// Sends end of file (`shutdown(SHUT_WR)`); reading still works.
    fn shutdown_write(&self) -> io::Result<()>;
}

/// `shutdown(fd, SHUT_WR)`: tokio offers it only through `&mut`, and the
/// fast road shares the socket.
fn shutdown_write(socket: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: `shutdown` has no memory-safety preconditions; the descriptor
    // belongs to a socket that `socket` keeps open for this whole call.
    let result = unsafe { libc::shutdown(socket.as_raw_fd(), libc::SHUT_WR) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
            fn writable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
                <$stream>::writable(self)
            }
            fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
                <$stream>::readable(self)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                shutdown_write(self)
            }
        }
    };
}

impl_socket!(TcpStream);
impl_socket!(UnixStream);

/// Bytes read and thrown away per read of what a subscriber types.
///
/// Small on purpose: this buffer lives in every subscriber's task for as long
/// as it is connected, and what people type at `nc` is a few bytes at a time.
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
    fn offer(&self, notification: &Notification) {
        // Never wait here: this runs on the thread that fans out to every
        // subscriber. A busy record means the task has it in hand.
        let Ok(mut delivery) = self.delivery.try_lock() else {
            return;
        };
        if delivery.busy || delivery.partial.is_some() || delivery.delivered >= notification.seq {
            return;
        }
        match self.socket.try_write(&notification.line) {
            Ok(written) if written == notification.line.len() => {
                delivery.delivered = notification.seq;
            }
            Ok(written) => delivery.partial = Some((notification.clone(), written)),
            // Would block, or a failure the task will meet and report.
            Err(_) => {}
        }
    }
}

/// Serves one subscriber until it leaves, it is too slow, or `shutdown` is
/// cancelled.
///
/// The greeting is written first. Because the subscription already exists,
/// a change made after the subscriber has read its greeting is never missed.
pub async fn serve<S: Socket>(
    socket: S,
    mut subscription: Subscription,
    write_timeout: Duration,
    shutdown: CancellationToken,
) -> Ending {
    let subscriber = Arc::new(Subscriber {
        socket,
        delivery: Mutex::new(Delivery {
            delivered: subscription.latest().seq,
            busy: false,
            partial: None,
        }),
    });
    let greeting = subscription.greeting();
    let ending = match write_all(&subscriber.socket, &greeting, write_timeout, &shutdown).await {
        Err(ending) => ending,
        Ok(()) => {
            // Only now may the fast road write: nothing goes before the
            // greeting.
            subscription.attach(Arc::clone(&subscriber) as Arc<dyn Outbox>);
            deliver_until_the_end(&subscriber, &mut subscription, write_timeout, &shutdown).await
        }
    };
    // Keep the fast road off the socket from here on.
    subscriber.delivery().busy = true;
    drop(subscription);
    if !matches!(ending, Ending::Failed(_)) {
        // Sends our end of file. A peer that already left makes this fail,
        // and then there is nobody to tell.
        let _ = subscriber.socket.shutdown_write();
    }
    ending
}

async fn deliver_until_the_end<S: Socket>(
    subscriber: &Subscriber<S>,
    subscription: &mut Subscription,
    write_timeout: Duration,
    shutdown: &CancellationToken,
) -> Ending {
    let mut discard = [0u8; DISCARD_CHUNK];
    loop {
        while let Some((notification, from)) = subscriber.next_job(&subscription.latest()) {
            let rest = &notification.line[from..];
            if let Err(ending) = write_all(&subscriber.socket, rest, write_timeout, shutdown).await
            {
                return ending;
            }
            subscriber.finished_job(notification.seq);
        }
        // `biased`: check shutdown first, so a server that is stopping does
        // not start one more write.
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ending::Shutdown,
            () = subscription.changed() => {}
            // The server needs nothing from subscribers, but what they type
            // must be read, or it piles up in the kernel's buffers and
            // closing the socket would then send a reset instead of a clean
            // end of file.
            ending = discard_input(&subscriber.socket, &mut discard) => return ending,
        }
    }
}

/// Reads and drops whatever the subscriber sends, until end of file or an
/// error.
async fn discard_input<S: Socket>(socket: &S, buffer: &mut [u8]) -> Ending {
    loop {
        if let Err(error) = socket.readable().await {
            return Ending::Failed(error);
        }
        loop {
            match socket.try_read(buffer) {
                Ok(0) => return Ending::PeerClosed,
                Ok(_) => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => return Ending::Failed(error),
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
            socket.writable().await?;
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
