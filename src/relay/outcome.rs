//! What happened to each relayed callback, kept beside the (immutable) events and keyed by
//! their `seq`: the current state, every attempt, and the backend's last answer. Plus the
//! target's health and recent latency, for the header and `/readyz`.

use std::collections::{BTreeMap, VecDeque};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// How a callback reaches the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A "before" callback: relayed while Tencent waits, the backend's answer passed back.
    Before,
    /// Acknowledged at once, delivered in the background with retries.
    After,
}

/// Where a relayed callback stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RelayState {
    /// Waiting for its turn (its room's earlier callbacks go first).
    Pending,
    /// The last attempt failed and another will follow.
    Retrying { attempt: u32, reason: String },
    /// The backend answered with a final status (2xx, or for "before" callbacks any answer
    /// passed through to Tencent).
    Delivered { status: u16, latency_ms: u64 },
    /// Given up: a 3xx/4xx answer, or no success before `--relay-max-age`.
    Failed { reason: String },
    /// A "before" callback the backend did not decide in time: roomwatch answered.
    Fallback { decision: String, reason: String },
    /// Not taken: the backlog was full and Tencent was told to retry later (503).
    Refused { reason: String },
}

impl RelayState {
    /// No further change will come (until a resend).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Pending | Self::Retrying { .. })
    }
}

/// One try at the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it was sent, Unix ms.
    pub at_ms: i64,
    pub latency_ms: u64,
    /// The HTTP status, when the backend answered.
    pub status: Option<u16>,
    /// `200`, `503`, `timeout after 10000 ms`, `connection refused`, ...
    pub result: String,
    /// Sent with a fresh `RequestTime` and `Sign`.
    pub resigned: bool,
    /// A resend asked for from the dashboard.
    pub resend: bool,
}

/// Everything known about one callback's relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayRecord {
    pub seq: u64,
    pub mode: Mode,
    #[serde(flatten)]
    pub state: RelayState,
    pub attempts: Vec<Attempt>,
    /// The backend's last answer body (lossy UTF-8, capped).
    pub answer: Option<String>,
    /// A note for the operator, e.g. that a stale copy went unsigned.
    pub note: Option<String>,
    /// Attempts made but no longer listed in `attempts` (a record read back from a journal,
    /// which keeps the last ones only).
    #[serde(skip_serializing_if = "is_zero")]
    pub earlier_attempts: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RelayRecord {
    pub fn new(seq: u64, mode: Mode) -> Self {
        Self {
            seq,
            mode,
            state: RelayState::Pending,
            attempts: Vec::new(),
            answer: None,
            note: None,
            earlier_attempts: 0,
        }
    }

    /// Every attempt made, listed or not.
    pub fn attempt_count(&self) -> usize {
        self.attempts.len() + self.earlier_attempts as usize
    }

    /// The `relay` object of a headless line.
    pub fn summary(&self) -> serde_json::Value {
        let (status, latency_ms) = match &self.state {
            RelayState::Delivered { status, latency_ms } => (Some(*status), Some(*latency_ms)),
            _ => self
                .attempts
                .last()
                .map_or((None, None), |a| (a.status, Some(a.latency_ms))),
        };
        // The state's own fields (outcome, reason, decision...) sit at the top level.
        let mut value = serde_json::to_value(&self.state).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("mode".into(), serde_json::json!(self.mode));
            object.insert("status".into(), serde_json::json!(status));
            object.insert("latency_ms".into(), serde_json::json!(latency_ms));
            object.insert("attempts".into(), self.attempt_count().into());
            if let Some(note) = &self.note {
                object.insert("note".into(), note.clone().into());
            }
        }
        value
    }

    /// The `relay` object of a headless line, serialized straight into the output: the same
    /// text as [`summary`](Self::summary) without building a JSON value per line.
    pub fn summary_fields(&self) -> Summary<'_> {
        Summary(self)
    }

    /// A short label for a log line: `→ 200 12ms`, `pending`, `retrying (attempt 3)`, ...
    pub fn label(&self) -> String {
        match &self.state {
            RelayState::Pending => "→ pending".into(),
            RelayState::Retrying { attempt, .. } => format!("→ retrying (attempt {attempt})"),
            RelayState::Delivered { status, latency_ms } => format!("→ {status} {latency_ms}ms"),
            RelayState::Failed { reason } => format!("→ failed: {reason}"),
            RelayState::Fallback { decision, .. } => format!("→ fallback {decision}"),
            RelayState::Refused { .. } => "→ refused: backlog full".into(),
        }
    }
}

/// See [`RelayRecord::summary_fields`]: the state's own fields first (`outcome`, then e.g.
/// `reason`), then `mode`, `status`, `latency_ms`, `attempts` and `note`.
pub struct Summary<'a>(&'a RelayRecord);

impl Serialize for Summary<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.0;
        let mut map = serializer.serialize_map(None)?;
        let (status, latency_ms) = record
            .attempts
            .last()
            .map_or((None, None), |a| (a.status, Some(a.latency_ms)));
        let mut delivered = false;
        match &record.state {
            RelayState::Pending => map.serialize_entry("outcome", "pending")?,
            RelayState::Retrying { attempt, reason } => {
                map.serialize_entry("outcome", "retrying")?;
                map.serialize_entry("attempt", attempt)?;
                map.serialize_entry("reason", reason)?;
            }
            RelayState::Delivered { status, latency_ms } => {
                delivered = true;
                map.serialize_entry("outcome", "delivered")?;
                map.serialize_entry("status", status)?;
                map.serialize_entry("latency_ms", latency_ms)?;
            }
            RelayState::Failed { reason } => {
                map.serialize_entry("outcome", "failed")?;
                map.serialize_entry("reason", reason)?;
            }
            RelayState::Fallback { decision, reason } => {
                map.serialize_entry("outcome", "fallback")?;
                map.serialize_entry("decision", decision)?;
                map.serialize_entry("reason", reason)?;
            }
            RelayState::Refused { reason } => {
                map.serialize_entry("outcome", "refused")?;
                map.serialize_entry("reason", reason)?;
            }
        }
        map.serialize_entry("mode", &record.mode)?;
        if !delivered {
            map.serialize_entry("status", &status)?;
            map.serialize_entry("latency_ms", &latency_ms)?;
        }
        map.serialize_entry("attempts", &record.attempt_count())?;
        if let Some(note) = &record.note {
            map.serialize_entry("note", note)?;
        }
        map.end()
    }
}

/// The target's health as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// Nothing sent yet (and the start-up probe, if any, got through).
    Unknown,
    Ok,
    /// Failing since this time (Unix ms), for this reason.
    Failing {
        since_ms: i64,
        reason: String,
    },
}

/// Latencies of the last minute, for p50/p99.
const LATENCY_WINDOW_MS: i64 = 60_000;
/// Samples kept at most, so a flood cannot grow the window without bound.
const LATENCY_SAMPLES: usize = 10_000;

/// Outcomes by seq (bounded), health and latency.
#[derive(Debug, Default)]
pub struct Board {
    records: BTreeMap<u64, RelayRecord>,
    capacity: usize,
    health: Option<Health>,
    latencies: VecDeque<(i64, u64)>,
}

impl Board {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            health: Some(Health::Unknown),
            ..Self::default()
        }
    }

    pub fn get(&self, seq: u64) -> Option<&RelayRecord> {
        self.records.get(&seq)
    }

    /// Puts records read back from a journal in place (a newer record of the same seq, from
    /// this run, wins), without going past the capacity.
    pub fn restore(&mut self, records: impl IntoIterator<Item = RelayRecord>) {
        for record in records {
            self.records.entry(record.seq).or_insert(record);
        }
        while self.records.len() > self.capacity {
            self.records.pop_first();
        }
    }

    /// Every record held, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &RelayRecord> {
        self.records.values()
    }

    /// Applies `change` to the record of `seq` (creating it), and returns a copy of the result.
    pub fn update(
        &mut self,
        seq: u64,
        mode: Mode,
        change: impl FnOnce(&mut RelayRecord),
    ) -> RelayRecord {
        let record = self
            .records
            .entry(seq)
            .or_insert_with(|| RelayRecord::new(seq, mode));
        change(record);
        let copy = record.clone();
        // The oldest outcomes go with the oldest log lines.
        while self.records.len() > self.capacity {
            self.records.pop_first();
        }
        copy
    }

    /// Notes what an attempt says about the target.
    pub fn observe(&mut self, at_ms: i64, answered: Option<u64>, failure: Option<&str>) {
        if let Some(latency) = answered {
            self.latencies.push_back((at_ms, latency));
            while self.latencies.len() > LATENCY_SAMPLES {
                self.latencies.pop_front();
            }
        }
        match failure {
            None => self.health = Some(Health::Ok),
            Some(reason) => {
                if !matches!(self.health, Some(Health::Failing { .. })) {
                    self.health = Some(Health::Failing {
                        since_ms: at_ms,
                        reason: reason.to_string(),
                    });
                }
            }
        }
    }

    pub fn health(&self) -> Health {
        self.health.clone().unwrap_or(Health::Unknown)
    }

    /// p50 and p99 of the latencies of the minute before `now_ms`.
    pub fn latency(&mut self, now_ms: i64) -> Option<(u64, u64)> {
        while self
            .latencies
            .front()
            .is_some_and(|(at, _)| now_ms - at > LATENCY_WINDOW_MS)
        {
            self.latencies.pop_front();
        }
        let mut sorted: Vec<u64> = self.latencies.iter().map(|(_, l)| *l).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        let at = |q: usize| sorted[(sorted.len() - 1) * q / 100];
        Some((at(50), at(99)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streamed_summary_is_the_summary() {
        let attempt = Attempt {
            at_ms: 5,
            latency_ms: 7,
            status: Some(503),
            result: "503".into(),
            resigned: false,
            resend: false,
        };
        let states = [
            RelayState::Pending,
            RelayState::Retrying {
                attempt: 2,
                reason: "503".into(),
            },
            RelayState::Delivered {
                status: 200,
                latency_ms: 3,
            },
            RelayState::Failed {
                reason: "gone \"quoted\"".into(),
            },
            RelayState::Fallback {
                decision: "deny".into(),
                reason: "timeout".into(),
            },
            RelayState::Refused {
                reason: "full".into(),
            },
        ];
        for state in states {
            for (attempts, note, earlier) in [
                (vec![], None, 0),
                (vec![attempt.clone()], Some("stale".to_string()), 3),
            ] {
                let mut record = RelayRecord::new(9, Mode::Before);
                record.state = state.clone();
                record.attempts = attempts;
                record.note = note;
                record.earlier_attempts = earlier;
                assert_eq!(
                    serde_json::to_string(&record.summary_fields()).expect("json"),
                    record.summary().to_string(),
                    "{state:?}"
                );
            }
        }
    }

    #[test]
    fn board_is_bounded_and_health_tracks_the_first_failure() {
        let mut board = Board::new(2);
        for seq in 1..=3 {
            board.update(seq, Mode::After, |_| {});
        }
        assert!(board.get(1).is_none());
        assert!(board.get(3).is_some());
        board.observe(10, None, Some("refused"));
        board.observe(20, None, Some("refused again"));
        assert_eq!(
            board.health(),
            Health::Failing {
                since_ms: 10,
                reason: "refused".into()
            }
        );
        board.observe(30, Some(5), None);
        assert_eq!(board.health(), Health::Ok);
        assert_eq!(board.latency(40), Some((5, 5)));
        assert_eq!(board.latency(70_000), None);
    }
}
