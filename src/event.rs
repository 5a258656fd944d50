//! One received callback, as everything downstream sees it: stamped by the receiver with a
//! sequence number and arrival time, with its verdict, raw body and the answer sent.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ingest::auth::AuthVerdict;
use crate::ingest::query::QueryParams;
use crate::protocol::{Callback, Rejection};

/// What roomwatch made of a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Authenticated and parsed; a known command.
    Accepted,
    /// Refused with a 4xx; never touches room state.
    Rejected,
    /// Acknowledged, but no command roomwatch knows (e.g. TRTC events on the same URL).
    Unrecognized,
}

/// The body as received: JSON when it parsed, the text otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    Json(Value),
    Text(String),
}

impl Body {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match serde_json::from_slice(bytes) {
            Ok(value) => Self::Json(value),
            Err(_) => Self::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }
}

/// The HTTP answer roomwatch sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A received callback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Arrival order, from 1; assigned by the hub.
    pub seq: u64,
    /// Arrival time, Unix milliseconds.
    pub received_at_ms: i64,
    pub method: String,
    pub path: String,
    /// The query string exactly as received (no leading `?`), for relaying byte for byte.
    #[serde(skip)]
    pub raw_query: String,
    pub query: QueryParams,
    pub remote: Option<String>,
    /// The command name as received (body first, then query).
    pub command: Option<String>,
    pub room_id: Option<String>,
    pub verdict: Verdict,
    pub error: Option<Rejection>,
    pub auth: Option<AuthVerdict>,
    pub body: Body,
    /// The body bytes as received; for a refused oversize or broken body, its first bytes.
    #[serde(skip)]
    pub raw_body: Bytes,
    /// The request's `Content-Type`, relayed as received.
    #[serde(skip)]
    pub content_type: Option<String>,
    /// Size of the body as received, in bytes.
    pub body_len: usize,
    #[serde(skip)]
    pub callback: Option<Callback>,
    pub reply: Reply,
    /// A digest of the body bytes, computed once on arrival: it spots repeated deliveries and
    /// breaks ties between updates that carry the same `EventTime`.
    #[serde(skip)]
    pub fingerprint: u64,
}

/// The first 8 bytes of the body's SHA-256: stable across runs, so replays agree.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl Event {
    /// The time the event happened by its own account, else when it arrived (Unix ms).
    pub fn event_time_ms(&self) -> i64 {
        self.callback
            .as_ref()
            .and_then(|c| c.event_time_ms)
            .unwrap_or(self.received_at_ms)
    }

    pub fn operator(&self) -> Option<&str> {
        self.callback.as_ref().and_then(|c| c.operator.as_deref())
    }
}
