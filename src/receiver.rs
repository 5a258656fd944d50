//! The embedded HTTP receiver: every POST is a callback, checked and answered at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body as AxumBody, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use tokio::net::TcpListener;

use crate::auth::{self, AuthConfig};
use crate::event::{Body, Event, Reply, Verdict};
use crate::hub::Hub;
use crate::protocol::{self, ACK_OK, Rejection};
use crate::query::QueryParams;

/// Bytes of an over-limit body kept for the log.
const OVERSIZE_KEPT: usize = 4096;

/// What the receiver needs to judge a callback.
pub struct ReceiverState {
    pub hub: Arc<Hub>,
    pub auth: AuthConfig,
    pub body_limit: usize,
}

/// The router: `GET /healthz`, and a callback on POST to any path.
pub fn router(state: Arc<ReceiverState>) -> Router {
    Router::new()
        // Only GET is the health check; a callback POSTed to /healthz is still a callback.
        .route("/healthz", get(|| async { "ok\n" }).fallback(callback))
        .fallback(callback)
        .with_state(state)
}

/// Serves `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ReceiverState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn callback(State(state): State<Arc<ReceiverState>>, request: Request) -> Response {
    let received_at_ms = now_ms();
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string());
    let (parts, body) = request.into_parts();
    let query = QueryParams::parse(parts.uri.query());
    let mut event = Event {
        seq: 0,
        received_at_ms,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        command: query.get("CallbackCommand").map(str::to_string),
        query,
        remote,
        room_id: None,
        verdict: Verdict::Rejected,
        error: None,
        auth: None,
        body: Body::Text(String::new()),
        body_len: 0,
        callback: None,
        reply: Reply {
            status: 200,
            body: ACK_OK.to_string(),
        },
    };
    let declared_too_large = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > state.body_limit);
    let bytes = match read_limited(body, state.body_limit, declared_too_large).await {
        BodyRead::Complete(bytes) => bytes,
        BodyRead::TooLarge(prefix) => {
            event.body_len = prefix.len();
            event.body = Body::Text(String::from_utf8_lossy(&prefix).into_owned());
            let limit = state.body_limit;
            return reject(&state, event, Rejection::BodyTooLarge { limit });
        }
        BodyRead::Broken(prefix, error) => {
            // Never parse half a body: a valid-looking prefix must not reach room state.
            event.body_len = prefix.len();
            event.body = Body::Text(String::from_utf8_lossy(&prefix).into_owned());
            return reject(&state, event, Rejection::BodyIncomplete(error));
        }
    };
    event.body_len = bytes.len();
    event.body = Body::from_bytes(&bytes);
    if let Body::Json(value) = &event.body
        && let Some(command) = value.get("CallbackCommand").and_then(|c| c.as_str())
    {
        event.command = Some(command.to_string());
    }
    if parts.method != Method::POST {
        let method = parts.method.to_string();
        return reject(&state, event, Rejection::MethodNotAllowed(method));
    }
    match auth::verify(&state.auth, &event.query, received_at_ms / 1000) {
        Ok(verdict) => event.auth = Some(verdict),
        Err(rejection) => return reject(&state, event, rejection),
    }
    let parsed = match protocol::parse(event.query.get("CallbackCommand"), &bytes) {
        Ok(parsed) => parsed,
        Err(rejection) => return reject(&state, event, rejection),
    };
    event.command = parsed.command_name;
    event.verdict = if parsed.callback.is_some() {
        Verdict::Accepted
    } else {
        Verdict::Unrecognized
    };
    event.room_id = parsed
        .callback
        .as_ref()
        .and_then(|c| c.room_id().map(str::to_string))
        .or_else(|| guess_room_id(&parsed.body));
    event.callback = parsed.callback;
    event.body = Body::Json(parsed.body);
    state.hub.publish(event);
    json_response(StatusCode::OK, ACK_OK.to_string())
}

/// Records a rejected callback as an event, then answers with its status and reason.
fn reject(state: &ReceiverState, mut event: Event, rejection: Rejection) -> Response {
    let status = rejection.status();
    let body = rejection.body();
    tracing::warn!(path = %event.path, reason = %rejection, "callback rejected");
    event.verdict = Verdict::Rejected;
    event.reply = Reply {
        status,
        body: body.clone(),
    };
    if let Body::Json(value) = &event.body {
        event.room_id = guess_room_id(value);
    }
    let method_not_allowed = matches!(rejection, Rejection::MethodNotAllowed(_));
    event.error = Some(rejection);
    state.hub.publish(event);
    let mut response = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    );
    if method_not_allowed {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// How reading a body ended.
enum BodyRead {
    Complete(Bytes),
    /// Over the limit: the first bytes, for the log.
    TooLarge(Vec<u8>),
    /// The connection failed mid-body: what arrived, and why.
    Broken(Vec<u8>, String),
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
                return BodyRead::Broken(collected, error.to_string());
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
        BodyRead::TooLarge(collected)
    } else {
        BodyRead::Complete(Bytes::from(collected))
    }
}

/// A room id from a body roomwatch could not type, so its log line still names a room.
fn guess_room_id(value: &serde_json::Value) -> Option<String> {
    let object = value.as_object()?;
    let fields = protocol::Fields(object);
    fields
        .string("RoomId")
        .or_else(|| fields.object("RoomInfo").and_then(|r| r.string("RoomId")))
        .or_else(|| fields.string("GroupId"))
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
