//! Judging one request: from what arrived (method, path, query, body) to the [`Event`] that
//! records it, answer included. Pure, so tests build events exactly as the receiver does.

use std::borrow::Cow;

use bytes::Bytes;

use crate::event::{Event, Reply, Verdict, fingerprint};
use crate::ingest::auth::{self, AuthConfig};
use crate::ingest::query::QueryParams;
use crate::protocol::json::{Json, Object};
use crate::protocol::{self, ACK_OK, Rejection};
use crate::rawbody::REFUSED_BODY_KEPT;

/// Everything about a request but its body.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub method: String,
    pub path: String,
    /// The query string as received, without the `?`.
    pub raw_query: String,
    pub content_type: Option<String>,
    pub remote: Option<String>,
    /// Unix milliseconds.
    pub received_at_ms: i64,
}

/// How reading the body ended.
#[derive(Debug, Clone)]
pub enum BodyRead {
    Complete(Vec<u8>),
    /// Over the limit: the first bytes, kept for the log.
    TooLarge {
        prefix: Vec<u8>,
        limit: usize,
    },
    /// The connection failed mid-body: what arrived, and why.
    Broken {
        prefix: Vec<u8>,
        error: String,
    },
}

/// Checks a request in the documented order (size, method, SdkAppid, signature, body) and
/// returns its event: accepted, unrecognized, or rejected with the reason and the answer.
pub fn judge(arrival: Arrival, body: BodyRead, auth_config: &AuthConfig) -> Event {
    let query = QueryParams::parse(Some(&arrival.raw_query));
    let mut event = Event {
        seq: 0,
        received_at_ms: arrival.received_at_ms,
        method: arrival.method,
        path: arrival.path,
        // Set from the body once parsed; from the query only if refused before that.
        command: None,
        query,
        raw_query: arrival.raw_query,
        content_type: arrival.content_type,
        raw_body: Bytes::new(),
        body_parsed: false,
        remote: arrival.remote,
        room_id: None,
        verdict: Verdict::Accepted,
        error: None,
        auth: None,
        body_len: 0,
        callback: None,
        reply: Reply {
            status: 200,
            body: Cow::Borrowed(ACK_OK),
        },
        fingerprint: 0,
        trimmed: Vec::new(),
        clock_skew: false,
    };
    let bytes = match body {
        BodyRead::Complete(bytes) => bytes,
        BodyRead::TooLarge { prefix, limit } => {
            return reject(event, &prefix, Rejection::BodyTooLarge { limit });
        }
        // Never parse half a body: a valid-looking prefix must not reach room state.
        BodyRead::Broken { prefix, error } => {
            return reject(event, &prefix, Rejection::BodyIncomplete(error));
        }
    };
    if event.method != "POST" {
        let method = event.method.clone();
        return reject(event, &bytes, Rejection::MethodNotAllowed(method));
    }
    match auth::verify(auth_config, &event.query, event.received_at_ms / 1000) {
        Ok(verdict) => event.auth = Some(verdict),
        Err(rejection) => return reject(event, &bytes, rejection),
    }
    let parsed = match protocol::parse(event.query.get("CallbackCommand"), &bytes) {
        Ok(parsed) => parsed,
        Err(rejection) => return reject(event, &bytes, rejection),
    };
    event.body_len = bytes.len();
    event.fingerprint = fingerprint(&bytes);
    event.raw_body = Bytes::from(bytes);
    event.body_parsed = true;
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
        .or(parsed.guessed_room_id);
    event.callback = parsed.callback;
    event.trimmed = parsed.trimmed;
    event
}

/// The event for a request refused before any check of its own (e.g. its source): the
/// request as it arrived, refused with `rejection`. The body is kept for the log like any
/// refused body.
pub fn refuse(arrival: Arrival, body: BodyRead, rejection: Rejection) -> Event {
    let event = judge(
        arrival,
        BodyRead::Complete(Vec::new()),
        &AuthConfig::default(),
    );
    let bytes = match body {
        BodyRead::Complete(bytes)
        | BodyRead::TooLarge { prefix: bytes, .. }
        | BodyRead::Broken { prefix: bytes, .. } => bytes,
    };
    let mut event = reject(event, &bytes, rejection);
    event.auth = None;
    event
}

/// Fills in a rejection: the first bytes of the body for the log, the reason, the answer.
fn reject(mut event: Event, bytes: &[u8], rejection: Rejection) -> Event {
    event.body_len = bytes.len();
    event.fingerprint = fingerprint(bytes);
    // Anyone can send refused bodies: keep a bounded prefix, never the whole body.
    event.raw_body = Bytes::copy_from_slice(&bytes[..bytes.len().min(REFUSED_BODY_KEPT)]);
    let (command, room_id) = guess_from_raw(bytes);
    event.room_id = room_id;
    event.command = command.or_else(|| event.query.get("CallbackCommand").map(str::to_string));
    event.verdict = Verdict::Rejected;
    event.reply = Reply {
        status: rejection.status(),
        body: rejection.body().into(),
    };
    event.error = Some(rejection);
    event
}

/// The command and room a refused body names, so its log line still says them. Only the
/// top level is read (values stay unparsed slices), and only the few fields needed are
/// parsed: a refused body never becomes a whole tree.
fn guess_from_raw(bytes: &[u8]) -> (Option<String>, Option<String>) {
    use serde_json::value::RawValue;
    let Ok(top) = serde_json::from_slice::<std::collections::BTreeMap<String, &RawValue>>(bytes)
    else {
        return (None, None);
    };
    let wanted = ["CallbackCommand", "RoomId", "RoomInfo", "GroupId"];
    let object = Object(
        top.iter()
            .filter(|(key, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(key)))
            .filter_map(|(key, raw)| {
                Some((
                    Cow::Borrowed(key.as_str()),
                    Json::parse(raw.get().as_bytes()).ok()?,
                ))
            })
            .collect(),
    );
    let fields = protocol::Fields(&object);
    (
        fields.string("CallbackCommand"),
        protocol::guess_room_id(fields),
    )
}
