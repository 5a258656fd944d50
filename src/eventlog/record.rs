//! One journal row: written from a [`LogEntry`], read back into the same entry. Reading
//! re-parses the stored body with the same parser the receiver used, so a restored event is
//! the event that was answered (typed callback included) without storing it twice.

use std::sync::Arc;

use bytes::Bytes;
use rusqlite::Row;

use crate::event::{Event, Reply, Verdict, fingerprint};
use crate::ingest::auth::AuthVerdict;
use crate::ingest::query::QueryParams;
use crate::protocol::{self, Rejection};
use crate::store::{Effect, LogEntry};

/// The columns, in the order [`insert_params`] binds them and [`from_row`] reads them.
pub const COLUMNS: &str = "seq, received_at_ms, remote, method, path, raw_query, content_type, \
     body, body_len, command, room_id, verdict, error_code, error, error_detail, auth, effect, \
     status, reply, checksum, clock_skew";

pub const INSERT: &str = "INSERT OR REPLACE INTO callbacks (seq, received_at_ms, remote, method, \
     path, raw_query, content_type, body, body_len, command, room_id, verdict, error_code, error, \
     error_detail, auth, effect, status, reply, checksum, clock_skew) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

/// What the checksum takes for an absent text field (borrowed, not copied: the checksum runs for
/// every row written and every row read back).
const ABSENT: &str = "\u{0}";

/// A row as stored, owned, so the writer thread can hold it across a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub seq: i64,
    pub received_at_ms: i64,
    pub remote: Option<String>,
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub body_len: i64,
    pub command: Option<String>,
    pub room_id: Option<String>,
    pub verdict: &'static str,
    pub error_code: Option<i64>,
    pub error: Option<String>,
    pub error_detail: Option<String>,
    pub auth: Option<&'static str>,
    pub effect: &'static str,
    pub status: i64,
    pub reply: String,
    pub checksum: i64,
    /// `EventTime` was too far ahead of arrival and not trusted (the hub's judgement).
    pub clock_skew: bool,
}

/// Why a row could not be turned back into an entry.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("checksum mismatch")]
    Checksum,
    #[error("unknown {0} value {1:?}")]
    Unknown(&'static str, String),
    #[error("unreadable column: {0}")]
    Column(#[from] rusqlite::Error),
    #[error("stored reason is not readable: {0}")]
    Detail(#[from] serde_json::Error),
}

impl StoredRow {
    pub fn from_entry(entry: &LogEntry) -> Self {
        let event = &entry.event;
        let mut row = Self {
            seq: i64::try_from(event.seq).unwrap_or(i64::MAX),
            received_at_ms: event.received_at_ms,
            remote: event.remote.clone(),
            method: event.method.clone(),
            path: event.path.clone(),
            raw_query: event.raw_query.clone(),
            content_type: event.content_type.clone(),
            body: event.raw_body.clone(),
            body_len: i64::try_from(event.body_len).unwrap_or(i64::MAX),
            command: event.command.clone(),
            room_id: event.room_id.clone(),
            verdict: verdict_name(event.verdict),
            error_code: event.error.as_ref().map(|e| i64::from(e.code())),
            error: event.error.as_ref().map(ToString::to_string),
            error_detail: event
                .error
                .as_ref()
                .and_then(|e| serde_json::to_string(e).ok()),
            auth: event.auth.map(auth_name),
            effect: effect_name(entry.effect),
            status: i64::from(event.reply.status),
            reply: event.reply.body.to_string(),
            checksum: 0,
            clock_skew: event.clock_skew,
        };
        row.checksum = row.compute_checksum();
        row
    }

    /// About the bytes the row takes in the table (its text and blob fields).
    pub fn stored_bytes(&self) -> u64 {
        let text = |field: &Option<String>| field.as_ref().map_or(0, String::len);
        let len = self.method.len()
            + self.path.len()
            + self.raw_query.len()
            + self.body.len()
            + self.reply.len()
            + text(&self.remote)
            + text(&self.content_type)
            + text(&self.command)
            + text(&self.room_id)
            + text(&self.error)
            + text(&self.error_detail);
        len as u64
    }

    /// CRC-32 over every stored field, each length-prefixed so that moving bytes between
    /// fields changes it too.
    pub fn compute_checksum(&self) -> i64 {
        let mut crc = crc32fast::Hasher::new();
        let mut field = |bytes: &[u8]| {
            crc.update(&(bytes.len() as u64).to_le_bytes());
            crc.update(bytes);
        };
        field(&self.seq.to_le_bytes());
        field(&self.received_at_ms.to_le_bytes());
        field(self.remote.as_deref().unwrap_or(ABSENT).as_bytes());
        field(self.method.as_bytes());
        field(self.path.as_bytes());
        field(self.raw_query.as_bytes());
        field(self.content_type.as_deref().unwrap_or(ABSENT).as_bytes());
        field(&self.body);
        field(&self.body_len.to_le_bytes());
        field(self.command.as_deref().unwrap_or(ABSENT).as_bytes());
        field(self.room_id.as_deref().unwrap_or(ABSENT).as_bytes());
        field(self.verdict.as_bytes());
        field(&self.error_code.unwrap_or(-1).to_le_bytes());
        field(self.error.as_deref().unwrap_or(ABSENT).as_bytes());
        field(self.error_detail.as_deref().unwrap_or(ABSENT).as_bytes());
        field(self.auth.unwrap_or(ABSENT).as_bytes());
        field(self.effect.as_bytes());
        field(&self.status.to_le_bytes());
        field(self.reply.as_bytes());
        field(&[u8::from(self.clock_skew)]);
        i64::from(crc.finalize())
    }

    pub fn insert(&self, stmt: &mut rusqlite::Statement<'_>) -> rusqlite::Result<usize> {
        stmt.execute(rusqlite::params![
            self.seq,
            self.received_at_ms,
            self.remote,
            self.method,
            self.path,
            self.raw_query,
            self.content_type,
            &self.body[..],
            self.body_len,
            self.command,
            self.room_id,
            self.verdict,
            self.error_code,
            self.error,
            self.error_detail,
            self.auth,
            self.effect,
            self.status,
            self.reply,
            self.checksum,
            self.clock_skew,
        ])
    }

    /// Reads a row selected with [`COLUMNS`].
    pub fn from_row(row: &Row<'_>) -> Result<Self, DecodeError> {
        let text = |i: usize| -> Result<String, DecodeError> { Ok(row.get::<_, String>(i)?) };
        let verdict: String = row.get(11)?;
        let auth: Option<String> = row.get(15)?;
        let effect: String = row.get(16)?;
        let body: Vec<u8> = row.get(7)?;
        let stored = Self {
            seq: row.get(0)?,
            received_at_ms: row.get(1)?,
            remote: row.get(2)?,
            method: text(3)?,
            path: text(4)?,
            raw_query: text(5)?,
            content_type: row.get(6)?,
            body: Bytes::from(body),
            body_len: row.get(8)?,
            command: row.get(9)?,
            room_id: row.get(10)?,
            verdict: verdict_from(&verdict)
                .map(verdict_name)
                .ok_or(DecodeError::Unknown("verdict", verdict))?,
            error_code: row.get(12)?,
            error: row.get(13)?,
            error_detail: row.get(14)?,
            auth: match auth {
                None => None,
                Some(name) => Some(
                    auth_from(&name)
                        .map(auth_name)
                        .ok_or(DecodeError::Unknown("auth", name))?,
                ),
            },
            effect: effect_from(&effect)
                .map(effect_name)
                .ok_or(DecodeError::Unknown("effect", effect))?,
            status: row.get(17)?,
            reply: text(18)?,
            checksum: row.get(19)?,
            clock_skew: row.get(20)?,
        };
        if stored.compute_checksum() == stored.checksum {
            Ok(stored)
        } else {
            Err(DecodeError::Checksum)
        }
    }

    /// The entry this row recorded, with the body parsed again.
    pub fn into_entry(self) -> Result<LogEntry, DecodeError> {
        let query = QueryParams::parse(Some(&self.raw_query));
        let verdict = verdict_from(self.verdict).unwrap_or(Verdict::Rejected);
        let error: Option<Rejection> = match &self.error_detail {
            Some(detail) => Some(serde_json::from_str(detail)?),
            None => None,
        };
        let (callback, trimmed, body_parsed) = if verdict == Verdict::Rejected {
            (None, Vec::new(), false)
        } else {
            match protocol::parse(query.get("CallbackCommand"), &self.body) {
                Ok(parsed) => (parsed.callback, parsed.trimmed, true),
                // It parsed when it arrived; keep it readable even if the parser changed
                // (or the record did not come from a roomwatch: nothing in it is trusted).
                Err(_) => (None, Vec::new(), false),
            }
        };
        let event = Event {
            seq: u64::try_from(self.seq).unwrap_or(0),
            received_at_ms: self.received_at_ms,
            method: self.method,
            path: self.path,
            raw_query: self.raw_query,
            query,
            remote: self.remote,
            command: self.command,
            room_id: self.room_id,
            verdict,
            error,
            auth: self.auth.and_then(auth_from),
            fingerprint: fingerprint(&self.body),
            raw_body: self.body,
            body_parsed,
            content_type: self.content_type,
            body_len: usize::try_from(self.body_len).unwrap_or(0),
            callback,
            reply: Reply {
                status: u16::try_from(self.status).unwrap_or(0),
                body: self.reply.into(),
            },
            trimmed,
            clock_skew: self.clock_skew,
        };
        Ok(LogEntry {
            event: Arc::new(event),
            effect: effect_from(self.effect).unwrap_or(Effect::NoState),
        })
    }
}

pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Accepted => "accepted",
        Verdict::Rejected => "rejected",
        Verdict::Unrecognized => "unrecognized",
    }
}

pub fn verdict_from(name: &str) -> Option<Verdict> {
    [Verdict::Accepted, Verdict::Rejected, Verdict::Unrecognized]
        .into_iter()
        .find(|v| verdict_name(*v) == name)
}

pub fn auth_name(auth: AuthVerdict) -> &'static str {
    match auth {
        AuthVerdict::Signed => "signed",
        AuthVerdict::Unchecked => "unchecked",
    }
}

fn auth_from(name: &str) -> Option<AuthVerdict> {
    [AuthVerdict::Signed, AuthVerdict::Unchecked]
        .into_iter()
        .find(|a| auth_name(*a) == name)
}

fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Applied => "applied",
        Effect::Stale => "stale",
        Effect::Duplicate => "duplicate",
        Effect::NoState => "no_state",
    }
}

fn effect_from(name: &str) -> Option<Effect> {
    [
        Effect::Applied,
        Effect::Stale,
        Effect::Duplicate,
        Effect::NoState,
    ]
    .into_iter()
    .find(|e| effect_name(*e) == name)
}
