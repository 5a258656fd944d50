//! The connection layer under the router: HTTP/1.1 connections with a header-read deadline, a
//! body-read deadline, a keep-alive idle timeout, a connection cap that keeps `GET /healthz`
//! answering, and a shutdown that waits for in-flight requests only up to a grace period.
//!
//! Written here because the stock parts do not fit: hyper's `header_read_timeout` also runs
//! while a kept-alive connection waits for its next request (so it would double as a short idle
//! timeout), and tower-http's body timeout is per frame (a body at 1 byte/s never trips it).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::ingest::source::{Source, SourcePolicy};

/// Connections served beyond `max_connections` by default, only to answer them (503 or the
/// health check) and close; past these too, a new connection is closed at once.
pub const OVERFLOW_CONNECTIONS: usize = 64;
/// The largest request head (request line and headers) by default: hyper's own default buffer.
pub const MAX_HEAD: usize = 400 * 1024;
/// hyper refuses a smaller read buffer.
pub const MIN_HEAD: usize = 8 * 1024;

/// Timeouts, the connection cap and the shutdown grace of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Time to receive a request's whole head (request line and headers).
    pub header_timeout: Duration,
    /// Time to receive a request's whole body, from the end of its head.
    pub body_timeout: Duration,
    /// Time a kept-alive connection may wait, with no request in progress, for its next one.
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it, `overflow_connections` more are answered 503.
    pub max_connections: usize,
    /// Connections answered (503, or the health check) and closed beyond `max_connections`.
    pub overflow_connections: usize,
    /// The largest request head; a larger one gets 431 and the connection closes.
    pub max_head: usize,
    /// After a shutdown request, how long in-flight requests may take before they are cut.
    pub shutdown_grace: Duration,
    pub sources: SourcePolicy,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_mins(1),
            max_connections: 512,
            overflow_connections: OVERFLOW_CONNECTIONS,
            max_head: MAX_HEAD,
            shutdown_grace: Duration::from_secs(5),
            sources: SourcePolicy::default(),
        }
    }
}

/// How a connection is served.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Over the cap: health checks answered, callbacks turned away, then closed.
    Overflow,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets open
/// requests finish for up to `limits.shutdown_grace`, and closes whatever is left.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let normal = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let overflow = Arc::new(Semaphore::new(limits.overflow_connections));
    // Said once each time the cap fills, not once per refused connection.
    let mut at_cap = false;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning; the
                    // listener stays usable once connections close.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reap finished connection tasks so the set stays as small as the open connections.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (permit, mode) = if let Ok(permit) = Arc::clone(&normal).try_acquire_owned() {
            at_cap = false;
            (permit, Mode::Normal)
        } else if let Ok(permit) = Arc::clone(&overflow).try_acquire_owned() {
            if !std::mem::replace(&mut at_cap, true) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection cap reached: answering callbacks 503 until connections close"
                );
            }
            (permit, Mode::Overflow)
        } else {
            drop(stream);
            continue;
        };
        let router = router.clone();
        let limits = Arc::clone(&limits);
        let stop = stop_rx.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, router, &limits, mode, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace = ?limits.shutdown_grace,
            "shutdown grace over: closing connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// What one connection is doing, for its watchdog: requests in progress, when the last one
/// ended, and since when the client has been sending the next request's head.
///
/// The watchdog never sets its timer more than the header timeout ahead: a head that starts
/// later has a deadline at or after the timer's, so bytes arriving (and, when the idle timeout
/// is at least the header timeout, a request ending) need not wake it. It then costs no wake
/// and no timer reset per request, only a look every header timeout on a busy connection.
struct Activity {
    in_flight: AtomicUsize,
    clock: Mutex<Clock>,
    /// Wakes the watchdog to set an earlier deadline than the one it waits for.
    changed: Notify,
    /// A request ending sets an idle deadline that may come before the watchdog's timer.
    wake_on_done: bool,
}

#[derive(Clone, Copy)]
struct Clock {
    last_done: Instant,
    /// Set at accept and at the first byte after a response; cleared when a head is complete.
    head_started: Option<Instant>,
}

/// What the watchdog enforces next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// A head is being received: it must be complete by then, or the connection is dropped.
    Head(Instant),
    /// Nothing is being received: the connection closes at that time.
    Idle(Instant),
    /// A request is in progress (its body has its own deadline): look again later.
    Busy,
}

impl Activity {
    fn new(limits: &ServerLimits) -> Self {
        let now = Instant::now();
        Self {
            in_flight: AtomicUsize::new(0),
            clock: Mutex::new(Clock {
                last_done: now,
                head_started: Some(now),
            }),
            changed: Notify::new(),
            wake_on_done: limits.idle_timeout < limits.header_timeout,
        }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        // The lock guards two instants and is never held across a panic-prone call.
        self.clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let mut clock = self.clock();
            if clock.head_started.is_none() {
                clock.head_started = Some(Instant::now());
            }
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.clock().head_started = None;
    }

    fn request_done(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.clock().last_done = Instant::now();
        if self.wake_on_done {
            self.changed.notify_one();
        }
    }

    /// When the watchdog looks next: the deadline, or sooner (see [`Activity`]).
    fn next_look(deadline: Instant, limits: &ServerLimits) -> Instant {
        deadline.min(Instant::now() + limits.header_timeout)
    }

    fn watch(&self, limits: &ServerLimits) -> Watch {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Watch::Busy;
        }
        let clock = *self.clock();
        match clock.head_started {
            Some(started) => Watch::Head(started + limits.header_timeout),
            None => Watch::Idle(clock.last_done + limits.idle_timeout),
        }
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive.
struct WatchedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serves one connection. The header and idle deadlines are enforced here rather than with
/// hyper's `header_read_timeout`, whose clock also runs while a kept-alive connection waits
/// for its next request: with it, every idle connection would close at the header timeout.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &ServerLimits,
    mode: Mode,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new(limits));
    let service = {
        let activity = Arc::clone(&activity);
        let sources = limits.sources.clone();
        let body_timeout = limits.body_timeout;
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            let activity = Arc::clone(&activity);
            let sources = sources.clone();
            async move {
                activity.request_started();
                let response = match mode {
                    Mode::Normal => {
                        let request = prepare(request, peer, &sources, body_timeout);
                        router.oneshot(request).await
                    }
                    Mode::Overflow => Ok(overflow_answer(&request)),
                };
                activity.request_done();
                response
            }
        })
    };
    let io = WatchedStream {
        inner: stream,
        activity: Arc::clone(&activity),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .header_read_timeout(None)
        .max_buf_size(limits.max_head.max(MIN_HEAD))
        .keep_alive(mode == Mode::Normal);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut closing = false;
    // Set when an idle connection is asked to close: a client that never reads its answers
    // keeps hyper writing, so the close never finishes on its own; at this time it is dropped.
    let mut drop_at: Option<Instant> = None;
    let check = tokio::time::sleep(limits.header_timeout);
    tokio::pin!(check);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|stopped| *stopped), if !closing => {
                // Finishes the request in progress (if any), then closes.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = activity.changed.notified() => {
                if let Watch::Head(deadline) | Watch::Idle(deadline) = activity.watch(limits) {
                    check.as_mut().reset(Activity::next_look(deadline, limits));
                }
            }
            () = &mut check => {
                let now = Instant::now();
                if drop_at.is_some_and(|at| now >= at) {
                    tracing::debug!(%peer, "idle connection did not close in time (answers not read): dropping");
                    return;
                }
                match activity.watch(limits) {
                    Watch::Head(deadline) if now >= deadline => {
                        tracing::debug!(%peer, "request head not received in time: closing");
                        return;
                    }
                    Watch::Idle(deadline) if now >= deadline && !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                        drop_at = Some(now + limits.header_timeout);
                        check.as_mut().reset(now + limits.header_timeout);
                    }
                    Watch::Head(deadline) | Watch::Idle(deadline) if now < deadline => {
                        check.as_mut().reset(Activity::next_look(deadline, limits));
                    }
                    _ => check.as_mut().reset(now + limits.header_timeout.min(limits.idle_timeout)),
                }
            }
        }
    }
}

/// The request the router sees: the peer and the believed [`Source`], and a
/// body that fails once `body_timeout` has passed.
fn prepare(
    request: Request<Incoming>,
    peer: SocketAddr,
    sources: &SourcePolicy,
    body_timeout: Duration,
) -> Request<AxumBody> {
    let source = sources.source(
        peer,
        request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let allowed = sources.allows(&source);
    let (mut parts, body) = request.into_parts();
    // One extension: the peer is in `source` (each extension is an allocation per request).
    parts.extensions.insert(SourceCheck { source, allowed });
    let body = DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(body_timeout)),
        timeout: body_timeout,
    };
    Request::from_parts(parts, AxumBody::new(body))
}

/// Where a request came from and whether `--allow-from` lets its callbacks in.
#[derive(Debug, Clone, Copy)]
pub struct SourceCheck {
    pub source: Source,
    pub allowed: bool,
}

/// The answer on a connection over the cap: health checks still pass; callbacks are asked to
/// come back; either way the connection closes after it.
fn overflow_answer(request: &Request<Incoming>) -> Response<AxumBody> {
    let health = request.method() == axum::http::Method::GET && request.uri().path() == "/healthz";
    let mut response = if health {
        Response::new(AxumBody::from("ok\n"))
    } else {
        let mut response = Response::new(AxumBody::from(OVERLOADED_BODY));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The answer body at the connection cap.
pub const OVERLOADED_BODY: &str =
    r#"{"ActionStatus":"FAIL","ErrorInfo":"too many connections, retry later","ErrorCode":50301}"#;

/// The body timed out: no complete body within the limit.
#[derive(Debug, thiserror::Error)]
#[error("body not received within {0:?}")]
pub struct BodyTimeout(Duration);

/// A request body with one deadline for the whole of it.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
