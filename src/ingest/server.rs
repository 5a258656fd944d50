//! The connection layer under the router: HTTP/1.1 connections with a header-read deadline, a
//! body-read deadline, a keep-alive idle timeout, a connection cap that keeps `GET /healthz`
//! answering, and a shutdown that waits for in-flight requests only up to a grace period.
//!
//! hyper's own `header_read_timeout` bounds reading a request head; tower-http's body timeout
//! is per frame (a body at 1 byte/s never trips it), so the whole-body deadline and the idle
//! watchdog are written here.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::ingest::source::{Source, SourcePolicy};

/// Connections served beyond `max_connections`, only to answer them (503 or the health check)
/// and close; past this too, a new connection is closed at once.
pub const OVERFLOW_CONNECTIONS: usize = 64;

/// Timeouts, the connection cap and the shutdown grace of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Time to receive a request's whole head (request line and headers).
    pub header_timeout: Duration,
    /// Time to receive a request's whole body, from the end of its head.
    pub body_timeout: Duration,
    /// Time a kept-alive connection may wait, with no request in progress, for its next one.
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it, see [`OVERFLOW_CONNECTIONS`].
    pub max_connections: usize,
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
            max_connections: 1024,
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
    let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    let at_cap = Arc::new(AtomicBool::new(false));
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
            at_cap.store(false, Ordering::Relaxed);
            (permit, Mode::Normal)
        } else if let Ok(permit) = Arc::clone(&overflow).try_acquire_owned() {
            if !at_cap.swap(true, Ordering::Relaxed) {
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

/// Requests in progress on one connection, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last_done: std::sync::Mutex<Instant>,
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &ServerLimits,
    mode: Mode,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last_done: std::sync::Mutex::new(Instant::now()),
    });
    let service = {
        let activity = Arc::clone(&activity);
        let sources = limits.sources.clone();
        let body_timeout = limits.body_timeout;
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            let activity = Arc::clone(&activity);
            let sources = sources.clone();
            async move {
                activity.in_flight.fetch_add(1, Ordering::Relaxed);
                let response = match mode {
                    Mode::Normal => {
                        let request = prepare(request, peer, &sources, body_timeout);
                        router.oneshot(request).await
                    }
                    Mode::Overflow => Ok(overflow_answer(&request)),
                };
                activity.in_flight.fetch_sub(1, Ordering::Relaxed);
                if let Ok(mut last) = activity.last_done.lock() {
                    *last = Instant::now();
                }
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(mode == Mode::Normal);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    let mut idle_check = Box::pin(tokio::time::sleep(limits.idle_timeout));
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
            () = &mut idle_check, if !closing => {
                let last = activity.last_done.lock().map_or_else(|_| Instant::now(), |l| *l);
                let idle_until = last + limits.idle_timeout;
                if activity.in_flight.load(Ordering::Relaxed) == 0 && Instant::now() >= idle_until {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                } else {
                    let next = if Instant::now() >= idle_until {
                        Instant::now() + limits.idle_timeout
                    } else {
                        idle_until
                    };
                    idle_check.as_mut().reset(next);
                }
            }
        }
    }
}

/// The request the router sees: the peer as `ConnectInfo`, the believed [`Source`], and a
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
    parts.extensions.insert(ConnectInfo(peer));
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
