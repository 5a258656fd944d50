//! One received callback, as everything downstream sees it: stamped by the receiver with a
//! sequence number and arrival time, with its verdict, raw body and the answer sent.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ingest::auth::AuthVerdict;
use crate::ingest::query::QueryParams;
use crate::protocol::{Callback, Rejection, Trim};

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

/// The HTTP answer roomwatch sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub status: u16,
    /// The usual acknowledgement is borrowed from its static text: no copy kept per event.
    pub body: Cow<'static, str>,
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
    /// The body bytes as received; for a refused body, at most its first
    /// [`REFUSED_BODY_KEPT`](crate::rawbody::REFUSED_BODY_KEPT) bytes. The only copy of the
    /// body kept: views parse it when they need it.
    #[serde(skip)]
    pub raw_body: Bytes,
    /// `raw_body` parsed as JSON when this event was built (on arrival, or read back from a
    /// journal or a stream): the printer copies it without checking again. Not carried by
    /// records: whoever rebuilds an event from one says it again.
    #[serde(skip)]
    pub body_parsed: bool,
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
    /// Lists in the callback that were cut to the per-callback limits.
    pub trimmed: Vec<Trim>,
    /// `EventTime` lies further ahead of arrival than the allowed clock skew: not trusted,
    /// the event is ordered by its arrival time instead.
    pub clock_skew: bool,
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
    /// An `EventTime` too far ahead of arrival (`clock_skew`) is not trusted.
    pub fn event_time_ms(&self) -> i64 {
        if self.clock_skew {
            return self.received_at_ms;
        }
        self.claimed_time_ms().unwrap_or(self.received_at_ms)
    }

    /// The callback's own `EventTime`, trusted or not (Unix ms).
    pub fn claimed_time_ms(&self) -> Option<i64> {
        self.callback.as_ref().and_then(|c| c.event_time_ms)
    }

    /// Whether the body was cut for the log (a refused body longer than what is kept).
    pub fn body_cut(&self) -> bool {
        self.raw_body.len() < self.body_len
    }

    /// Roughly the memory this event holds, for the log's byte budget: the fixed part, the
    /// kept body and query, and as much again as the body for the typed callback built from
    /// it (never more than the body's own data).
    pub fn retained_bytes(&self) -> usize {
        let callback = if self.callback.is_some() {
            self.raw_body.len()
        } else {
            0
        };
        let query = self.query.retained_bytes();
        std::mem::size_of::<Self>()
            + self.raw_body.len()
            + callback
            + self.raw_query.len()
            + query
            + self.method.len()
            + self.path.len()
            + self.reply.body.len()
            + self.remote.as_ref().map_or(0, String::len)
            + self.command.as_ref().map_or(0, String::len)
            + self.room_id.as_ref().map_or(0, String::len)
            + self.content_type.as_ref().map_or(0, String::len)
    }

    /// The app the callback was sent for: its `SdkAppid` query parameter, trimmed; empty when
    /// it named none.
    pub fn sdkappid(&self) -> &str {
        self.query.get("SdkAppid").map_or("", str::trim)
    }

    pub fn operator(&self) -> Option<&str> {
        self.callback.as_ref().and_then(|c| c.operator.as_deref())
    }
}
