//! Relay outcomes in the journal: each relayed callback's final outcome (status, latency,
//! attempts, the backend's answer) is a `relay_outcomes` row, written by the journal's writer
//! in the next group commit, and read back after a restart (for the dashboard) and by
//! `roomwatch export` (the `relay` object of each line).

use rusqlite::{Connection, OptionalExtension, Row};

use super::schema;
use crate::relay::outcome::{Attempt, Mode, RelayRecord, RelayState};

/// Bytes of the backend's answer kept in the journal; a longer answer is cut there (at a
/// character boundary) and says so. The full answer (up to 64 KiB) lives in memory only.
pub const ANSWER_KEPT: usize = 4096;

/// Attempts listed in the journal, the last ones; the count of all attempts is kept beside.
pub const ATTEMPTS_KEPT: usize = 32;

/// Writes the final outcome of `record` (reached at `at_ms`, relayed to `target`).
pub(crate) fn insert(
    tx: &rusqlite::Transaction<'_>,
    at_ms: i64,
    target: &str,
    record: &RelayRecord,
) -> rusqlite::Result<()> {
    let (status, latency_ms) = match &record.state {
        RelayState::Delivered { status, latency_ms } => (Some(*status), Some(*latency_ms)),
        _ => record
            .attempts
            .last()
            .map_or((None, None), |a| (a.status, Some(a.latency_ms))),
    };
    let (outcome, error, decision) = match &record.state {
        RelayState::Delivered { .. } => ("delivered", None, None),
        RelayState::Failed { reason } => ("failed", Some(reason.as_str()), None),
        RelayState::Fallback { decision, reason } => {
            ("fallback", Some(reason.as_str()), Some(decision.as_str()))
        }
        RelayState::Refused { reason } => ("refused", Some(reason.as_str()), None),
        // Not final: nothing to keep (the pending list covers these).
        RelayState::Pending | RelayState::Retrying { .. } => return Ok(()),
    };
    let mode = match record.mode {
        Mode::Before => "before",
        Mode::After => "after",
    };
    let kept = &record.attempts[record.attempts.len().saturating_sub(ATTEMPTS_KEPT)..];
    let attempt_log = serde_json::to_string(kept).unwrap_or_else(|_| "[]".into());
    let reply = record.answer.as_deref().map(bounded_answer);
    tx.prepare_cached(
        "INSERT INTO relay_outcomes (seq, attempt, at_ms, target, outcome, status, latency_ms, error, reply, mode, decision, note, attempt_log) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(rusqlite::params![
        i64::try_from(record.seq).unwrap_or(i64::MAX),
        i64::try_from(record.attempt_count()).unwrap_or(i64::MAX),
        at_ms,
        target,
        outcome,
        status,
        latency_ms.map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
        error,
        reply.as_deref().map(str::as_bytes),
        mode,
        decision,
        record.note,
        attempt_log,
    ])?;
    Ok(())
}

/// The answer as kept in the journal: at most [`ANSWER_KEPT`] bytes, cut at a character.
fn bounded_answer(answer: &str) -> String {
    if answer.len() <= ANSWER_KEPT {
        return answer.to_string();
    }
    let mut end = ANSWER_KEPT;
    while !answer.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} … (cut at {} KiB in the journal)",
        &answer[..end],
        ANSWER_KEPT / 1024
    )
}

/// Reads outcomes, from a journal of any age (columns added later read as NULL where missing).
pub struct OutcomeReader {
    columns: &'static str,
}

impl OutcomeReader {
    pub fn new(conn: &Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            columns: if schema::has_outcome_columns(conn)? {
                "seq, attempt, outcome, status, latency_ms, error, reply, mode, decision, note, attempt_log"
            } else {
                "seq, attempt, outcome, status, latency_ms, error, reply, NULL, NULL, NULL, NULL"
            },
        })
    }

    /// The newest outcome of `seq`, if it was relayed and recorded.
    pub fn newest(&self, conn: &Connection, seq: u64) -> rusqlite::Result<Option<RelayRecord>> {
        let sql = format!(
            "SELECT {} FROM relay_outcomes WHERE seq = ?1 ORDER BY id DESC LIMIT 1",
            self.columns
        );
        conn.prepare_cached(&sql)?
            .query_row([i64::try_from(seq).unwrap_or(i64::MAX)], from_row)
            .optional()
    }

    /// The newest outcome of every callback from `first_seq` on, in seq order.
    pub fn since(&self, conn: &Connection, first_seq: u64) -> rusqlite::Result<Vec<RelayRecord>> {
        let sql = format!(
            "SELECT {} FROM relay_outcomes WHERE id IN \
             (SELECT max(id) FROM relay_outcomes WHERE seq >= ?1 GROUP BY seq) ORDER BY seq",
            self.columns
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([i64::try_from(first_seq).unwrap_or(i64::MAX)], from_row)?;
        rows.collect()
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<RelayRecord> {
    let seq: i64 = row.get(0)?;
    let attempt_count: i64 = row.get(1)?;
    let outcome: String = row.get(2)?;
    let status: Option<u16> = row.get(3)?;
    let latency_ms: Option<i64> = row.get(4)?;
    let error: Option<String> = row.get(5)?;
    let reply: Option<Vec<u8>> = row.get(6)?;
    let mode: Option<String> = row.get(7)?;
    let decision: Option<String> = row.get(8)?;
    let note: Option<String> = row.get(9)?;
    let attempt_log: Option<String> = row.get(10)?;
    let reason = error.unwrap_or_default();
    let state = match outcome.as_str() {
        "delivered" => RelayState::Delivered {
            status: status.unwrap_or_default(),
            latency_ms: latency_ms.map_or(0, |l| u64::try_from(l).unwrap_or(0)),
        },
        "fallback" => RelayState::Fallback {
            decision: decision.unwrap_or_default(),
            reason,
        },
        "refused" => RelayState::Refused { reason },
        _ => RelayState::Failed { reason },
    };
    // A damaged attempt log loses the list, never the outcome.
    let attempts: Vec<Attempt> = attempt_log
        .and_then(|log| serde_json::from_str(&log).ok())
        .unwrap_or_default();
    let total = usize::try_from(attempt_count).unwrap_or(0);
    let mut record = RelayRecord::new(
        u64::try_from(seq).unwrap_or(0),
        if mode.as_deref() == Some("before") {
            Mode::Before
        } else {
            Mode::After
        },
    );
    record.earlier_attempts =
        u32::try_from(total.saturating_sub(attempts.len())).unwrap_or(u32::MAX);
    record.attempts = attempts;
    record.state = state;
    record.answer = reply.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    record.note = note;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_answer_is_cut_at_a_character_boundary() {
        let answer = "é".repeat(ANSWER_KEPT);
        let kept = bounded_answer(&answer);
        assert!(kept.starts_with(&"é".repeat(ANSWER_KEPT / 2)));
        assert!(kept.ends_with("(cut at 4 KiB in the journal)"));
        assert!(kept.len() < ANSWER_KEPT + 64);
        assert_eq!(bounded_answer("{}"), "{}");
    }
}
