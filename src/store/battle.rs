//! PK battles between rooms, merged from their create, start and end callbacks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::versioned::{Stamp, Versioned, write};
use crate::protocol::{BattleRoom, Payload};

/// How far a battle got. Phases only move forward, whatever order callbacks arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BattlePhase {
    Created,
    Started,
    Ended,
}

impl BattlePhase {
    pub fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Started => "started",
            Self::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Battle {
    pub id: String,
    pub phase: BattlePhase,
    pub from_room: Option<String>,
    /// Every room involved, the caller included, with its score once known.
    pub scores: BTreeMap<String, Option<i64>>,
    pub duration_ms: Option<Versioned<i64>>,
    pub start_time_s: Option<Versioned<i64>>,
    pub end_time_s: Option<Versioned<i64>>,
    /// 0 time up, 1 all owners left, 2 never started.
    pub end_reason: Option<Versioned<i64>>,
}

impl Battle {
    pub fn new(id: String) -> Self {
        Self {
            id,
            phase: BattlePhase::Created,
            from_room: None,
            scores: BTreeMap::new(),
            duration_ms: None,
            start_time_s: None,
            end_time_s: None,
            end_reason: None,
        }
    }

    /// Folds one battle callback in.
    pub fn apply(&mut self, payload: &Payload, stamp: Stamp) {
        match payload {
            Payload::CreateBattle {
                from_room,
                to_rooms,
                duration_ms,
                ..
            } => {
                self.join(from_room.as_deref(), to_rooms.iter().map(String::as_str));
                write(&mut self.duration_ms, *duration_ms, stamp);
            }
            Payload::StartBattle {
                duration_ms,
                start_time_s,
                from,
                to,
                ..
            } => {
                self.phase = self.phase.max(BattlePhase::Started);
                self.join_rooms(from.as_ref(), to);
                write(&mut self.duration_ms, *duration_ms, stamp);
                write(&mut self.start_time_s, *start_time_s, stamp);
            }
            Payload::EndBattle {
                end_time_s,
                reason,
                from,
                to,
                ..
            } => {
                self.phase = BattlePhase::Ended;
                self.join_rooms(from.as_ref(), to);
                for room in from.iter().chain(to) {
                    if let Some(score) = room.score {
                        self.scores.insert(room.room_id.clone(), Some(score));
                    }
                }
                write(&mut self.end_time_s, *end_time_s, stamp);
                write(&mut self.end_reason, *reason, stamp);
            }
            _ => {}
        }
    }

    fn join<'a>(&mut self, from: Option<&str>, to: impl Iterator<Item = &'a str>) {
        if let Some(from) = from {
            self.from_room.get_or_insert_with(|| from.to_string());
            self.scores.entry(from.to_string()).or_insert(None);
        }
        for room in to {
            self.scores.entry(room.to_string()).or_insert(None);
        }
    }

    fn join_rooms(&mut self, from: Option<&BattleRoom>, to: &[BattleRoom]) {
        self.join(
            from.map(|r| r.room_id.as_str()),
            to.iter().map(|r| r.room_id.as_str()),
        );
    }
}
