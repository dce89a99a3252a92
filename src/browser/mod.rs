//! To the browser: the same changes as Server-Sent Events, a live page, and
//! live reload. (Chapter 13.)
//!
//! `net-watcher FILE --http ADDR` listens for browsers on `ADDR` and
//! answers three requests:
//!
//! - `GET /events`: a stream of events (`text/event-stream`): `watching`
//!   first, then `changed` for each change (see [`events`] for the
//!   framing and the ids);
//! - `GET /`: a page with no build step and no outside assets that shows
//!   the file's name, whether it is connected, and each change;
//! - `GET /reload.js`: a script that reloads the page that loads it when
//!   the file changes;
//!
//! and `404` to anything else. hyper reads each request: bytes that are not
//! HTTP get its `400`, and a request that does not arrive whole within
//! [`REQUEST_TIMEOUT`] (or the write timeout, if shorter) is dropped.
//!
//! A connection holds a descriptor from the moment it is accepted, and
//! until its request is read it holds no subscriber's place. So at most
//! [`PENDING_REQUESTS`] are accepted at a time before their request;
//! the others wait in the kernel's backlog, which costs the server no
//! descriptor. While every place is taken, a connection that has sent no
//! request within [`GRACE_WHEN_FULL`] gives its place up to the next. So
//! idle connections opened as fast as a client can cost the browsers a
//! wait of a second for each [`PENDING_REQUESTS`] of them ahead, and the TCP
//! subscribers nothing: their descriptors are left to them (the server
//! counts these few among the files it keeps spare,
//! [`server::SPARE_FILES`]).
//!
//! ## A stream is a subscriber
//!
//! A stream counts toward `--max-subscribers` (over it, `503` and the
//! reason), and once its request is read it is served exactly as a TCP
//! subscriber is ([`crate::connection`]): the notifier's fast road writes
//! each event on its socket, a slow reader owes only the latest, the write
//! timeout drops one that stopped reading, and at shutdown the stream ends
//! (our end of file), so the browser reconnects rather than hang. Only the
//! bytes differ: [`events::EventStream`] frames each change as an event.
//!
//! For that, hyper gives the socket back once it has read the request (its
//! `into_parts`), and the stream's task writes the response head itself
//! ([`events::STREAM_HEAD`]): a constant, followed by events until the
//! connection ends. Served through hyper to the end, each stream would keep
//! hyper's connection (its 8 KiB read buffer among it), and each change
//! would wake every stream's task to write through it, where a TCP
//! subscriber's is written without waking anyone.
//!
//! One connection, one request: the page and the script are answered with
//! `Connection: close`. A page opens its stream on a connection of its
//! own, and no request waits behind another.

pub mod events;

use std::convert::Infallible;
use std::future::{Future, Pending, Ready};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::console::ConsoleEvent;
use crate::lock::lock;
use crate::notifier::{Notifier, Subscription};
use crate::protocol::{Message, now_millis};
use crate::server::{self, BindError, Listener, ServerState};
use events::{EventStream, seen_for};

/// The page, as `GET /` serves it.
pub const PAGE: &str = include_str!("page.html");

/// The live-reload script, as `GET /reload.js` serves it.
pub const RELOAD_SCRIPT: &str = include_str!("reload.js");

/// The most a request's head may take: hyper answers a longer one with
/// `431`. (hyper's least; a browser's request is well under 2 KiB.)
const MAX_REQUEST_HEAD: usize = 8_192;

/// The longest wait for a request's head: a browser sends its request as
/// soon as it connects.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The most connections accepted whose request is not read yet (see the
/// module docs). A page opens three at most, at once, and each is read
/// within milliseconds.
pub const PENDING_REQUESTS: usize = 8;

/// How long a connection keeps its place among the [`PENDING_REQUESTS`]
/// without sending a request once every place is taken. A browser sends
/// its request as soon as it connects; an idle one holding its place for
/// the whole [`REQUEST_TIMEOUT`] would make each browser behind a few
/// dozen of them wait for minutes.
pub const GRACE_WHEN_FULL: Duration = Duration::from_secs(1);

/// Where `--http` listens: `HOST:PORT`, with `HOST` as `--host` takes it
/// (an IP address, a name, `localhost` for both loopbacks) and port 0 for
/// one the OS picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAddress {
    /// The host to bind.
    pub host: String,
    /// The port; 0 lets the OS pick.
    pub port: u16,
}

impl FromStr for HttpAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = || format!("expected HOST:PORT (such as 127.0.0.1:8080), got {text:?}");
        let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
        let port = port.parse().map_err(|_| expected())?;
        if host.is_empty() {
            return Err(expected());
        }
        Ok(HttpAddress {
            host: host.to_owned(),
            port,
        })
    }
}

/// Binds `address` for browsers, on every address its host stands for
/// (as [`server::bind_tcp`] does).
pub async fn bind(address: &HttpAddress) -> Result<Vec<Listener>, BindError> {
    let listeners = server::bind_tcp(&address.host, address.port).await?;
    Ok(listeners
        .into_iter()
        .map(|listener| match listener {
            Listener::Tcp(listener) => Listener::Http(listener),
            other => other,
        })
        .collect())
}

/// What every stream of one server shares.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// When the server started, in milliseconds since the Unix epoch: the
    /// first half of every id it gives (see [`events`]).
    life: u64,
    /// The `watching` message, in JSON.
    watching: Arc<str>,
    /// One permit per connection accepted whose request is not read yet.
    pending: Arc<Semaphore>,
    /// How many accept loops wait for a permit now.
    waiting: Arc<watch::Sender<usize>>,
}

/// An accept loop counted among those waiting for a place, for as long as
/// the value lives (a wait cut short by shutdown is uncounted too).
struct Waiting<'a>(&'a watch::Sender<usize>);

impl<'a> Waiting<'a> {
    fn new(waiting: &'a watch::Sender<usize>) -> Self {
        waiting.send_modify(|count| *count += 1);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

impl Site {
    /// The site of a server that starts now, with `notifier`.
    pub(crate) fn new(notifier: &Notifier) -> Self {
        let watching = Message::Watching {
            file: notifier.file().to_owned(),
        }
        .to_json_line();
        Site {
            life: now_millis(),
            watching: Arc::from(watching.trim_end()),
            pending: Arc::new(Semaphore::new(PENDING_REQUESTS)),
            waiting: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Waits until one more connection may be accepted before its request
    /// (see the module docs); the permit goes to [`serve`].
    pub(crate) async fn room_for_a_request(&self) -> OwnedSemaphorePermit {
        let pending = Arc::clone(&self.pending);
        if let Ok(permit) = Arc::clone(&pending).try_acquire_owned() {
            return permit;
        }
        // Every place is taken: the connections that have had their grace
        // give theirs up (see `time_to_give_way`).
        let _waiting = Waiting::new(&self.waiting);
        pending
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Ends once a connection accepted now has held its place for
    /// [`GRACE_WHEN_FULL`] and another waits for one.
    async fn time_to_give_way(&self) {
        tokio::time::sleep(GRACE_WHEN_FULL).await;
        let mut waiting = self.waiting.subscribe();
        // The sender lives in `self`, which outlives this wait: it cannot
        // end in an error.
        let _ = waiting.wait_for(|count| *count > 0).await;
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the page.
    Page,
    /// `GET /reload.js`: the live-reload script.
    ReloadScript,
    /// `GET /events`: a stream.
    Events,
    /// Anything else.
    NotFound,
}

// ANCHOR: route
/// What `method` and `path` ask for. `HEAD` is answered as `GET` without
/// the body (by hyper), except for a stream, which has no end to measure.
pub fn route(method: &Method, path: &str) -> Route {
    let get = method == Method::GET;
    let get_or_head = get || method == Method::HEAD;
    match path {
        "/" if get_or_head => Route::Page,
        "/reload.js" if get_or_head => Route::ReloadScript,
        "/events" if get => Route::Events,
        _ => Route::NotFound,
    }
}
// ANCHOR_END: route

/// A stream admitted while its request was read: its slot, its
/// subscription, and what it is owed.
struct Admitted {
    slot: OwnedSemaphorePermit,
    subscription: Subscription,
    seen: u64,
}

/// hyper's service for one connection: answers the page, the script, a
/// refusal or a 404 through hyper; a stream's request is admitted and left
/// unanswered, for [`serve`] to take the socket back.
struct Router {
    server: Arc<ServerState>,
    admitted: Arc<Mutex<Option<Admitted>>>,
}

type Answer = Either<
    Ready<Result<Response<String>, Infallible>>,
    Pending<Result<Response<String>, Infallible>>,
>;

impl hyper::service::Service<Request<Incoming>> for Router {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        let answer = |response| Either::Left(std::future::ready(Ok(response)));
        match route(request.method(), request.uri().path()) {
            Route::Page => answer(response(StatusCode::OK, "text/html; charset=utf-8", PAGE)),
            Route::ReloadScript => answer(response(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                RELOAD_SCRIPT,
            )),
            Route::NotFound => answer(response(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "Not found: net-watcher serves /, /events and /reload.js.\n",
            )),
            Route::Events => match self.server.admit() {
                Err(refusal) => {
                    let reason = self.server.reason(&refusal);
                    answer(response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        &format!("{reason}\n"),
                    ))
                }
                Ok((slot, subscription)) => {
                    let last_event_id = request
                        .headers()
                        .get("last-event-id")
                        .and_then(|id| id.to_str().ok());
                    let site = &self.server.site;
                    let seen = seen_for(last_event_id, site.life, subscription.seen_at_start());
                    *lock(&self.admitted) = Some(Admitted {
                        slot,
                        subscription,
                        seen,
                    });
                    // Never answered through hyper: `serve` takes the
                    // socket back and the stream's task answers.
                    Either::Right(std::future::pending())
                }
            },
        }
    }
}

/// A whole response with `body`, not to be stored by caches: a page that
/// follows a file under edit is never stale.
fn response(status: StatusCode, content_type: &'static str, body: &str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Serves one browser's connection: reads its request with hyper and
/// answers it, or, for a stream, takes the socket back and starts the
/// stream's task (a subscriber's, see [`server`]). Ends at shutdown too.
/// `pending` is the connection's place among those whose request is not
/// read yet, given back once it is answered or admitted.
pub(crate) fn serve(
    stream: TcpStream,
    server: Arc<ServerState>,
    pending: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send {
    let admitted = Arc::new(Mutex::new(None));
    let router = Router {
        server: Arc::clone(&server),
        admitted: Arc::clone(&admitted),
    };
    let mut connection = http1::Builder::new()
        .timer(TokioTimer::new())
        // A browser sends its request at once; a peer that takes longer
        // than the write timeout is as stuck as one that takes that long
        // to read.
        .header_read_timeout(REQUEST_TIMEOUT.min(server.config.write_timeout))
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), router);
    async move {
        // Until hyper has answered (the page, the script, a refusal, a
        // 404, a 400) or a stream has been admitted.
        let answered_or_admitted = std::future::poll_fn(|cx| {
            let done = Pin::new(&mut connection).poll(cx);
            if lock(&admitted).is_some() {
                return Poll::Ready(());
            }
            done.map(drop)
        });
        tokio::select! {
            // In this order: hyper reads what has come first, so that a
            // request is answered even when its grace is over, and what the
            // peer sent is read before the connection is dropped at
            // shutdown. (Dropped with bytes unread, it would be closed with
            // a reset, not an end; seen when this task first ran after
            // shutdown, on a loaded machine.)
            biased;
            () = answered_or_admitted => {}
            // Dropped, the connection closes (what arrives later is the
            // peer's own lookout).
            () = server.shutdown.cancelled() => return,
            // Its place is wanted. (A request read is answered in the same
            // poll: the page and the script fit in the socket's buffer.)
            () = server.site.time_to_give_way() => return,
        }
        drop(pending);
        let Some(Admitted {
            slot,
            subscription,
            seen,
        }) = lock(&admitted).take()
        else {
            return;
        };
        // What the browser sent after its request (nothing, from a
        // browser) is dropped with hyper's buffer, as a subscriber's
        // input is.
        let stream = connection.into_parts().io.into_inner();
        if let Err(error) = server::set_tcp_subscriber_options(&stream) {
            let reason = error.to_string();
            let console = &server.config.console;
            console.say(ConsoleEvent::SocketOptionsFailed(reason));
        }
        let site = &server.site;
        let framing = EventStream::new(site.life, seen, Arc::clone(&site.watching));
        let stream_task = server::serving(
            stream,
            framing,
            seen,
            slot,
            subscription,
            Arc::clone(&server),
        );
        server.subscribers.spawn(stream_task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn an_http_address_is_a_host_and_a_port() {
        let address = |host: &str, port| HttpAddress {
            host: host.to_owned(),
            port,
        };
        assert_eq!("127.0.0.1:8080".parse(), Ok(address("127.0.0.1", 8080)));
        assert_eq!("localhost:0".parse(), Ok(address("localhost", 0)));
        assert_eq!("[::1]:8080".parse(), Ok(address("[::1]", 8080)));
    }

    #[test]
    fn an_http_address_without_a_host_or_a_port_is_refused_with_an_example() {
        for text in [
            "localhost",
            ":8080",
            "localhost:",
            "localhost:http",
            "localhost:65536",
        ] {
            assert_eq!(
                text.parse::<HttpAddress>(),
                Err(format!(
                    "expected HOST:PORT (such as 127.0.0.1:8080), got {text:?}"
                )),
            );
        }
    }

    #[test]
    fn a_request_is_routed_by_its_method_and_path() {
        let routes = [
            (Method::GET, "/", Route::Page),
            (Method::HEAD, "/", Route::Page),
            (Method::GET, "/reload.js", Route::ReloadScript),
            (Method::HEAD, "/reload.js", Route::ReloadScript),
            (Method::GET, "/events", Route::Events),
            (Method::HEAD, "/events", Route::NotFound),
            (Method::POST, "/", Route::NotFound),
            (Method::POST, "/reload.js", Route::NotFound),
            (Method::GET, "/index.html", Route::NotFound),
        ];
        for (method, path, expected) in routes {
            assert_eq!(route(&method, path), expected, "{method} {path}");
        }
    }
}
