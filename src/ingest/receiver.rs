//! The embedded HTTP receiver: every POST is a callback, checked and answered at once.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use tokio::net::TcpListener;

use crate::escape::Escaped;
use crate::event::{Event, Reply, Verdict};
use crate::eventlog::Commit;
use crate::hub::Hub;
use crate::ingest::auth::AuthConfig;
use crate::ingest::intake::{self, Arrival, BodyRead};
use crate::ingest::server::{self, ServerLimits, SourceCheck};
use crate::nats::{Durable, StreamSink};
use crate::protocol::Rejection;
use crate::relay::{Relay, request::is_synchronous};

/// Bytes of an over-limit body kept for the log.
const OVERSIZE_KEPT: usize = 4096;

/// What the receiver needs to judge a callback.
pub struct ReceiverState {
    pub hub: Arc<Hub>,
    pub auth: AuthConfig,
    pub body_limit: usize,
    /// Relays callbacks to the app's backend (`--forward-to`).
    pub relay: Option<Arc<Relay>>,
    /// With `--nats`: callbacks go to the JetStream stream, and are answered once stored
    /// there; the hub is fed from the stream instead.
    pub stream: Option<Arc<StreamSink>>,
}

/// Seconds Tencent is asked to wait before retrying when the relay backlog is full.
const RETRY_AFTER_S: u32 = 5;

/// The router: `GET /healthz`, `GET /readyz`, and a callback on POST to any path.
pub fn router(state: Arc<ReceiverState>) -> Router {
    Router::new()
        // Only GET is the health check; a callback POSTed to /healthz is still a callback.
        .route("/healthz", get(|| async { "ok\n" }).fallback(callback))
        .route("/readyz", get(readyz).fallback(callback))
        .fallback(callback)
        .with_state(state)
}

/// Serves `listener` with the default [`ServerLimits`] until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ReceiverState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServerLimits::default(), shutdown).await
}

/// Serves `listener` with `limits` (timeouts, connection cap, sources, shutdown grace) until
/// `shutdown` resolves and the grace has passed or every connection has closed.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<ReceiverState>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router(state), limits, shutdown).await
}

async fn callback(State(state): State<Arc<ReceiverState>>, request: Request) -> Response {
    let received_at_ms = now_ms();
    let source_check = request.extensions().get::<SourceCheck>().copied();
    let remote = match source_check {
        Some(check) => Some(check.source.describe()),
        None => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.to_string()),
    };
    let (parts, body) = request.into_parts();
    let arrival = Arrival {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_string(),
        raw_query: parts.uri.query().unwrap_or_default().to_string(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        remote,
        received_at_ms,
    };
    let declared_too_large = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > state.body_limit as u64);
    // A declared oversize body that waits for `100 Continue` is refused unread: no 100, no
    // drain, and the connection closes after the answer (its body was never sent). Without
    // `Expect` the sender is already sending, so the first bytes are kept for the log and the
    // rest drained (bounded) so the sender reads the 413 rather than a reset.
    let expects_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let refuse_unread = declared_too_large && expects_continue;
    let body = if refuse_unread {
        BodyRead::TooLarge {
            prefix: Vec::new(),
            limit: state.body_limit,
        }
    } else {
        read_limited(body, state.body_limit, declared_too_large).await
    };
    let event = match source_check {
        Some(check) if !check.allowed => intake::refuse(
            arrival,
            body,
            Rejection::SourceNotAllowed(check.source.client().to_string()),
        ),
        _ => intake::judge(arrival, body, &state.auth),
    };
    if let Some(rejection) = &event.error {
        // Remote text (path, the reason quoting the query) is escaped for the log file.
        tracing::warn!(
            path = %Escaped(&event.path),
            remote = %Escaped(event.remote.as_deref().unwrap_or("-")),
            reason = %Escaped(&rejection.to_string()),
            "callback rejected"
        );
    }
    let allow_post = matches!(event.error, Some(Rejection::MethodNotAllowed(_)));
    let relay = state
        .relay
        .as_ref()
        .filter(|_| event.verdict != Verdict::Rejected);
    if let Some(stream) = &state.stream {
        // Judged here, once, and carried in the record: every viewer folds the same way
        // whatever its own --max-clock-skew.
        let mut event = event;
        let skew = state.hub.max_clock_skew_ms();
        event.clock_skew = event
            .claimed_time_ms()
            .is_some_and(|t| t > event.received_at_ms.saturating_add(skew));
        return streamed(stream, relay, event, allow_post, refuse_unread).await;
    }
    if let Some(relay) = relay {
        return relayed(&state, relay, event).await;
    }
    // The usual acknowledgement is static text: taking the answer copies nothing.
    let Reply { status, body } = event.reply.clone();
    durable(state.hub.publish_durably(event)).await;
    own_answer(status, body, allow_post, refuse_unread)
}

/// roomwatch's own answer: the judged status and body, with `Allow: POST` for a wrong method
/// and `Connection: close` for an oversize body refused unread.
fn own_answer(
    status: u16,
    body: Cow<'static, str>,
    allow_post: bool,
    refuse_unread: bool,
) -> Response {
    let mut response = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    );
    if allow_post {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if refuse_unread {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The backend's decision on a "before" callback, passed through: status, body, content type.
fn backend_answer(answer: crate::relay::BeforeAnswer) -> Response {
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
        answer.body,
    )
        .into_response();
    if let Some(value) = answer
        .content_type
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// Waits until a published callback's record is durable, so the answer goes out only then. A
/// journal that cannot take it (disk full) does not hold the answer back: the callback is
/// answered from memory, and the log and the header say it is not journaled.
async fn durable((published, commit): (Arc<Event>, Option<Commit>)) {
    if let Some(commit) = commit
        && let Err(error) = commit.wait().await
    {
        tracing::warn!(seq = published.seq, %error, "callback answered but not journaled");
    }
}

/// A callback that passed the checks, with a forward target: a "before" callback is answered
/// with the backend's decision (or the fallback's); any other is acknowledged once it holds a
/// place in the relay backlog, or refused with 503 + Retry-After when the backlog is full.
async fn relayed(state: &ReceiverState, relay: &Arc<Relay>, mut event: Event) -> Response {
    let synchronous = event
        .callback
        .as_ref()
        .map(|c| c.command)
        .filter(|command| is_synchronous(*command));
    if let Some(command) = synchronous {
        let answer = relay.before(&event, command).await;
        event.reply = Reply {
            status: answer.status,
            body: String::from_utf8_lossy(&answer.body).into_owned().into(),
        };
        durable(
            state
                .hub
                .publish_durably_with(event, |numbered| relay.record_before(numbered.seq, &answer)),
        )
        .await;
        return backend_answer(answer);
    }
    match relay.reserve(event.raw_body.len()) {
        Ok(reservation) => {
            let Reply { status, body } = event.reply.clone();
            durable(
                state
                    .hub
                    .publish_durably_with(event, |numbered| reservation.enqueue(numbered)),
            )
            .await;
            json_response(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body)
        }
        Err(full) => {
            let body = crate::relay::busy_body(&full);
            event.reply = Reply {
                status: 503,
                body: body.clone().into(),
            };
            durable(state.hub.publish_durably_with(event, |numbered| {
                relay.record_refused(numbered.seq, &full);
            }))
            .await;
            let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
            response
        }
    }
}

/// With `--nats`: a "before" callback gets the backend's decision first (when relaying), then
/// the record is published and the answer goes out once JetStream acknowledged it. A callback
/// JetStream did not take is answered 503 with Retry-After, so that Tencent sends it again.
async fn streamed(
    sink: &StreamSink,
    relay: Option<&Arc<Relay>>,
    mut event: Event,
    allow_post: bool,
    refuse_unread: bool,
) -> Response {
    let synchronous = event
        .callback
        .as_ref()
        .map(|c| c.command)
        .filter(|command| is_synchronous(*command));
    let before = match (relay, synchronous) {
        (Some(relay), Some(command)) => {
            let answer = relay.before(&event, command).await;
            event.reply = Reply {
                status: answer.status,
                body: String::from_utf8_lossy(&answer.body).into_owned().into(),
            };
            Some((relay, answer))
        }
        _ => None,
    };
    let durable = match sink.store(&event).await {
        Ok(durable) => durable,
        Err(error) => {
            tracing::error!(
                command = %Escaped(event.command.as_deref().unwrap_or("-")),
                room = %Escaped(event.room_id.as_deref().unwrap_or("-")),
                %error,
                "callback not stored (JetStream nor spool); answered 503 so that it may be sent again"
            );
            let body = serde_json::json!({
                "ActionStatus": "FAIL",
                "ErrorInfo": format!("not stored: {error}"),
                "ErrorCode": 50302,
            })
            .to_string();
            let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
            return response;
        }
    };
    if let Some((relay, answer)) = before {
        if let Durable::Stream(stored) = durable {
            relay.record_before(stored.seq, &answer);
        }
        return backend_answer(answer);
    }
    let Reply { status, body } = event.reply;
    own_answer(status, body, allow_post, refuse_unread)
}

/// Ready unless callbacks would be refused: the relay backlog is full (after-callbacks would
/// be refused), or, with `--nats`, neither JetStream nor the spool can take one. A failing
/// backend alone, or NATS away while the spool takes callbacks, does not make roomwatch
/// unready: it still answers, and the body says what waits.
async fn readyz(State(state): State<Arc<ReceiverState>>) -> Response {
    let relay = state.relay.as_ref().map(|relay| relay.status());
    let relay_ready = relay.as_ref().is_none_or(|status| !status.backlog_full);
    let nats = state.stream.as_ref().map(|sink| {
        let connected = sink.stream.connected();
        let spooled = sink.spool.as_ref().map(|spool| spool.pending());
        let spool_full = sink
            .spool
            .as_ref()
            .is_some_and(|spool| spool.pending() >= spool.max());
        let ready =
            (connected && spooled.unwrap_or(0) == 0) || (sink.spool.is_some() && !spool_full);
        serde_json::json!({
            "ready": ready,
            "connected": connected,
            "stream": sink.stream.options.stream,
            "spooled": spooled,
            "spool_full": spool_full,
        })
    });
    let nats_ready = nats.as_ref().is_none_or(|n| n["ready"] == true);
    let ready = relay_ready && nats_ready;
    let body = serde_json::json!({ "ready": ready, "relay": relay, "nats": nats }).to_string();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(code, body)
}

fn json_response(status: StatusCode, body: impl Into<Cow<'static, str>>) -> Response {
    let body = match body.into() {
        Cow::Borrowed(text) => AxumBody::from(text),
        Cow::Owned(text) => AxumBody::from(text),
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads the body up to `limit` bytes. Over the limit, the rest is read and dropped (up to a
/// bound) so the sender gets our 413, not a reset.
async fn read_limited(mut body: AxumBody, limit: usize, declared_too_large: bool) -> BodyRead {
    let drain_bound = limit.saturating_mul(16).max(OVERSIZE_KEPT);
    let mut collected: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let mut over = declared_too_large;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) if !over => {
                collected.truncate(OVERSIZE_KEPT);
                return BodyRead::Broken {
                    prefix: collected,
                    error: error.to_string(),
                };
            }
            Err(_) => break,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            over = true;
        }
        if over {
            let room = OVERSIZE_KEPT.saturating_sub(collected.len());
            collected.extend_from_slice(&data[..room.min(data.len())]);
            if seen > drain_bound {
                break;
            }
        } else {
            collected.extend_from_slice(&data);
        }
    }
    if over {
        collected.truncate(OVERSIZE_KEPT);
        BodyRead::TooLarge {
            prefix: collected,
            limit,
        }
    } else {
        BodyRead::Complete(collected)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
