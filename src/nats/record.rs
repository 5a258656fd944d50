//! One callback as a JetStream message. The payload is the body exactly as it arrived (a
//! refused body: its first bytes), so `nats sub` shows the callback itself; what roomwatch
//! judged travels in one `Roomwatch-Record` header of escaped JSON (never a raw remote byte:
//! a CR or LF in a header would end it). Reading a message back re-parses the body with the
//! receiver's own parser, as the journal does, so every viewer folds the same typed callback.

use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::header::HeaderValue;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{Event, Verdict};
use crate::eventlog::record::StoredRow;

/// The header that carries the record.
pub const RECORD_HEADER: &str = "Roomwatch-Record";
/// The version of the record's shape; a reader refuses versions it does not know.
const VERSION: u32 = 1;
/// Path and query kept in a record at most: anyone can send a 400 KiB query, and the record
/// and body must fit in one NATS message.
pub const TEXT_KEPT: usize = 4 * 1024;
/// Room a record takes beside the body, at most: its texts, each cut to [`TEXT_KEPT`] and at
/// worst six times longer escaped, and the rest.
pub const RECORD_ROOM: usize = 256 * 1024;

/// `text` cut to [`TEXT_KEPT`] bytes on a character boundary.
fn kept(mut text: String) -> String {
    if text.len() > TEXT_KEPT {
        let mut end = TEXT_KEPT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// What the receiver judged, beside the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub received_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    pub method: String,
    pub path: String,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub body_len: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rejection, as the journal stores it (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    pub status: u16,
    pub reply: String,
    #[serde(default)]
    pub clock_skew: bool,
    /// Which receiver took it (`--nats-receiver`).
    #[serde(default)]
    pub receiver: String,
}

/// Why a message could not be read back into an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("no {RECORD_HEADER} header")]
    Missing,
    #[error("unreadable {RECORD_HEADER} header: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record version {0} is newer than this roomwatch reads")]
    Version(u32),
    #[error("{0}")]
    Row(#[from] crate::eventlog::record::DecodeError),
}

/// A message ready to publish.
pub struct Outgoing {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
    /// The de-duplication id, for callbacks that passed the checks.
    pub message_id: Option<String>,
}

/// The message for `event`. `receiver` names the receiver that took it.
pub fn encode(prefix: &str, event: &Event, receiver: &str) -> Outgoing {
    use crate::eventlog::record::{auth_name, verdict_name};
    // Built from the event's fields directly: the receive path never copies the event.
    let record = Record {
        v: VERSION,
        received_at_ms: event.received_at_ms,
        remote: event.remote.clone().map(kept),
        method: kept(event.method.clone()),
        path: kept(event.path.clone()),
        query: kept(event.raw_query.clone()),
        content_type: event.content_type.clone().map(kept),
        body_len: event.body_len as u64,
        command: event.command.clone().map(kept),
        room_id: event.room_id.clone().map(kept),
        verdict: verdict_name(event.verdict).to_string(),
        error: event.error.as_ref().map(|e| kept(e.to_string())),
        error_detail: event
            .error
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok())
            .filter(|d| d.len() <= TEXT_KEPT),
        auth: event.auth.map(|a| auth_name(a).to_string()),
        status: event.reply.status,
        reply: kept(event.reply.body.to_string()),
        clock_skew: event.clock_skew,
        receiver: kept(receiver.to_string()),
    };
    let mut headers = HeaderMap::new();
    // serde_json escapes every control character, so the value holds no CR or LF; `from_str`
    // checks again rather than panicking as `From<&str>` would.
    let json = serde_json::to_string(&record).unwrap_or_default();
    if let Ok(value) = json.parse::<HeaderValue>() {
        headers.insert(RECORD_HEADER, value);
    }
    Outgoing {
        subject: super::subject::for_event(prefix, event),
        headers,
        payload: event.raw_body.clone(),
        message_id: message_id(event).or_else(|| Some(refusal_id(event, receiver))),
    }
}

/// The de-duplication id of a callback that passed the checks: a digest of its app, command
/// and body, which a retry of the same callback repeats (its signature and request time
/// differ, so the query is not part of it). A refused request has none here: each is its own
/// attempt (see [`refusal_id`]).
pub fn message_id(event: &Event) -> Option<String> {
    if event.verdict == Verdict::Rejected {
        return None;
    }
    let mut digest = Sha256::new();
    for part in [
        event.query.get("SdkAppid").unwrap_or(""),
        event.query.get("CallbackCommand").unwrap_or(""),
    ] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    digest.update(&event.raw_body);
    Some(format!("rw1-{}", hex::encode(&digest.finalize()[..16])))
}

/// A refused request's id: its own arrival at this receiver, so that publishing it again (from
/// the spool after a late acknowledgement) stores it once, while two refusals of the same body
/// stay two.
fn refusal_id(event: &Event, receiver: &str) -> String {
    let mut digest = Sha256::new();
    for part in [
        receiver.as_bytes(),
        &event.received_at_ms.to_le_bytes(),
        event.remote.as_deref().unwrap_or("").as_bytes(),
        event.raw_query.as_bytes(),
        &event.fingerprint.to_le_bytes(),
    ] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    format!("rwr-{}", hex::encode(&digest.finalize()[..16]))
}

/// The event a message recorded, numbered `seq` (its stream sequence).
pub fn decode(
    headers: Option<&HeaderMap>,
    payload: &Bytes,
    seq: u64,
) -> Result<Event, DecodeError> {
    let value = headers
        .and_then(|h| h.get(RECORD_HEADER))
        .ok_or(DecodeError::Missing)?;
    let record: Record = serde_json::from_str(value.as_str())?;
    if record.v > VERSION {
        return Err(DecodeError::Version(record.v));
    }
    let verdict = crate::eventlog::record::verdict_from(&record.verdict)
        .map(crate::eventlog::record::verdict_name)
        .ok_or_else(|| {
            crate::eventlog::record::DecodeError::Unknown("verdict", record.verdict.clone())
        })?;
    let auth = match record.auth.as_deref() {
        None => None,
        Some("signed") => Some("signed"),
        Some("unchecked") => Some("unchecked"),
        Some(other) => {
            return Err(
                crate::eventlog::record::DecodeError::Unknown("auth", other.to_string()).into(),
            );
        }
    };
    let row = StoredRow {
        seq: i64::try_from(seq).unwrap_or(i64::MAX),
        received_at_ms: record.received_at_ms,
        remote: record.remote,
        method: record.method,
        path: record.path,
        raw_query: record.query,
        content_type: record.content_type,
        body: payload.clone(),
        body_len: i64::try_from(record.body_len).unwrap_or(i64::MAX),
        command: record.command,
        room_id: record.room_id,
        verdict,
        error_code: None,
        error: record.error,
        error_detail: record.error_detail,
        auth,
        effect: "no_state",
        status: i64::from(record.status),
        reply: record.reply,
        checksum: 0,
        clock_skew: record.clock_skew,
    };
    let entry = row.into_entry()?;
    Ok(Arc::try_unwrap(entry.event).unwrap_or_else(|shared| (*shared).clone()))
}

/// The receiver named in a message's record, for the log line.
pub fn receiver_of(headers: Option<&HeaderMap>) -> Option<String> {
    let value = headers?.get(RECORD_HEADER)?;
    serde_json::from_str::<Record>(value.as_str())
        .ok()
        .map(|r| r.receiver)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ingest::auth::AuthConfig;
    use crate::ingest::intake::{Arrival, BodyRead, judge};

    /// An event judged as the receiver judges one.
    pub(crate) fn judged(query: &str, body: &str) -> Event {
        let arrival = Arrival {
            method: "POST".into(),
            path: "/callback".into(),
            raw_query: query.into(),
            content_type: Some("application/json".into()),
            remote: Some("127.0.0.1:5000".into()),
            received_at_ms: 1_700_000_000_000,
        };
        judge(
            arrival,
            BodyRead::Complete(body.as_bytes().to_vec()),
            &AuthConfig {
                sdkappids: vec!["1400000001".into()],
                ..AuthConfig::default()
            },
        )
    }

    fn sample(command: &str) -> Event {
        let sample = crate::protocol::samples::find(command).expect("sample");
        judged(
            &format!("SdkAppid=1400000001&CallbackCommand={command}"),
            sample.json,
        )
    }

    #[test]
    fn every_sample_reads_back_as_the_event_that_was_judged() {
        for known in crate::protocol::samples::SAMPLES {
            let event = sample(known.command);
            let out = encode("roomwatch", &event, "r1");
            let back = decode(Some(&out.headers), &out.payload, 7).expect("decodes");
            assert_eq!(back.seq, 7);
            assert_eq!(back.raw_body, event.raw_body, "{}", known.command);
            assert_eq!(back.callback, event.callback, "{}", known.command);
            assert_eq!(back.room_id, event.room_id);
            assert_eq!(back.verdict, event.verdict);
            assert_eq!(back.reply, event.reply);
            assert_eq!(back.received_at_ms, event.received_at_ms);
            assert_eq!(back.fingerprint, event.fingerprint);
        }
    }

    #[test]
    fn a_rejected_request_travels_with_its_reason_and_no_message_id() {
        let event = judged("SdkAppid=999&CallbackCommand=x", "{}");
        assert_eq!(event.verdict, Verdict::Rejected);
        assert!(message_id(&event).is_none());
        let out = encode("roomwatch", &event, "r1");
        let mut again = event.clone();
        again.received_at_ms += 1;
        assert_ne!(encode("roomwatch", &again, "r1").message_id, out.message_id);
        assert!(out.subject.starts_with("roomwatch.999.Rejected."));
        let back = decode(Some(&out.headers), &out.payload, 1).expect("decodes");
        assert_eq!(back.error, event.error);
        assert_eq!(back.reply.status, event.reply.status);
    }

    #[test]
    fn control_characters_in_remote_text_stay_inside_the_header() {
        let event = judged(
            "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&x=%0d%0aEvil:%201",
            "{\"RoomInfo\":{\"RoomId\":\"r\\r\\nX: y\"},\"EventTime\":1}",
        );
        let out = encode("roomwatch", &event, "r\r\n1");
        let header = out.headers.get(RECORD_HEADER).expect("header");
        assert!(!header.as_str().contains(['\r', '\n']));
        let back = decode(Some(&out.headers), &out.payload, 1).expect("decodes");
        assert_eq!(back.room_id, event.room_id);
        assert_eq!(back.raw_query, event.raw_query);
    }

    #[test]
    fn a_retry_has_the_same_message_id_and_another_callback_another() {
        let a = sample("Live.CallbackAfterCreateRoom");
        let mut retry = a.clone();
        retry.raw_query.push_str("&Sign=abc&RequestTime=2");
        assert_eq!(message_id(&a), message_id(&retry));
        let b = sample("Live.CallbackAfterDestroyRoom");
        assert_ne!(message_id(&a), message_id(&b));
    }

    #[test]
    fn a_huge_query_and_path_are_cut_so_the_record_fits_beside_the_body() {
        let mut event = judged(
            &format!(
                "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&x={}",
                "\u{1}".repeat(300_000)
            ),
            r#"{"RoomInfo":{"RoomId":"r"},"EventTime":1}"#,
        );
        event.path = "/\u{7}".repeat(200_000);
        let out = encode("roomwatch", &event, "r1");
        let header = out.headers.get(RECORD_HEADER).expect("header");
        assert!(
            header.as_str().len() < RECORD_ROOM,
            "{}",
            header.as_str().len()
        );
        let back = decode(Some(&out.headers), &out.payload, 1).expect("decodes");
        assert!(back.raw_query.starts_with("SdkAppid=1400000001"));
    }

    #[test]
    fn garbage_headers_are_an_error_not_a_panic() {
        let mut headers = HeaderMap::new();
        headers.insert(RECORD_HEADER, "not json");
        assert!(decode(Some(&headers), &Bytes::new(), 1).is_err());
        assert!(decode(None, &Bytes::new(), 1).is_err());
        headers.insert(RECORD_HEADER, r#"{"v":99}"#);
        assert!(decode(Some(&headers), &Bytes::new(), 1).is_err());
    }
}
