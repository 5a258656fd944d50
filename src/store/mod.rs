//! The authoritative state: rooms folded from callbacks, and a capped log of every event.
//! Pure: reads no clock, does no I/O; time comes from the events themselves.

mod battle;
mod recent;
mod room;
mod versioned;

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use battle::{Battle, BattlePhase};
pub use room::{
    Ending, FieldChange, GiftTally, LastChange, Presence, Room, SeatState, show_bool, show_list,
    show_public,
};
pub use versioned::{Stamp, Versioned, Write, known};

use recent::RecentDeliveries;
use room::WriteLog;
use versioned::write;

use crate::event::{Event, Verdict};
use crate::protocol::{AdminOp, Callback, Payload};

/// Deliveries of room-less callbacks (follows, alerts) remembered for duplicate detection.
const SEEN_ROOMLESS: usize = 16_384;

/// What applying an event did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// State took the event in.
    Applied,
    /// Some of what it says is older than what is known; that part was ignored.
    Stale,
    /// The same callback was delivered before; not applied twice.
    Duplicate,
    /// Nothing to apply: rejected, unrecognized, or no room named.
    NoState,
}

impl Effect {
    pub fn label(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
            Self::NoState => "",
        }
    }
}

/// An event with what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub event: Arc<Event>,
    pub effect: Effect,
}

/// Running totals over every event applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub accepted: u64,
    pub rejected: u64,
    pub unrecognized: u64,
    pub stale: u64,
    pub duplicate: u64,
}

/// The last room-count alert (`CreateRoomReachingThreshold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdAlert {
    pub current: Option<i64>,
    pub max: Option<i64>,
    pub at_ms: i64,
    pub stamp: Stamp,
}

/// The store's state without its log, as a checkpoint stores it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint<'a> {
    rooms: Cow<'a, BTreeMap<String, Room>>,
    battles: Cow<'a, BTreeMap<String, Battle>>,
    counters: Cow<'a, Counters>,
    threshold: Cow<'a, Option<ThresholdAlert>>,
    follows: u64,
    seen_roomless: Cow<'a, RecentDeliveries>,
    last_seq: u64,
    dropped_log_entries: u64,
}

/// Rooms, battles, counters and the recent log.
#[derive(Debug, Clone)]
pub struct RoomStore {
    rooms: BTreeMap<String, Room>,
    battles: BTreeMap<String, Battle>,
    log: VecDeque<LogEntry>,
    log_capacity: usize,
    counters: Counters,
    threshold: Option<ThresholdAlert>,
    follows: u64,
    /// Body digests of applied callbacks that name no room (follows, alerts).
    seen_roomless: RecentDeliveries,
    last_seq: u64,
    dropped_log_entries: u64,
}

impl RoomStore {
    pub fn new(log_capacity: usize) -> Self {
        Self {
            rooms: BTreeMap::new(),
            battles: BTreeMap::new(),
            log: VecDeque::new(),
            log_capacity: log_capacity.max(1),
            counters: Counters::default(),
            threshold: None,
            follows: 0,
            seen_roomless: RecentDeliveries::new(SEEN_ROOMLESS),
            last_seq: 0,
            dropped_log_entries: 0,
        }
    }

    pub fn rooms(&self) -> &BTreeMap<String, Room> {
        &self.rooms
    }

    pub fn room(&self, id: &str) -> Option<&Room> {
        self.rooms.get(id)
    }

    pub fn battles(&self) -> &BTreeMap<String, Battle> {
        &self.battles
    }

    pub fn log(&self) -> &VecDeque<LogEntry> {
        &self.log
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn threshold(&self) -> Option<&ThresholdAlert> {
        self.threshold.as_ref()
    }

    pub fn follows(&self) -> u64 {
        self.follows
    }

    /// The highest sequence number applied so far.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Log entries that fell off the front because of the cap.
    pub fn dropped_log_entries(&self) -> u64 {
        self.dropped_log_entries
    }

    /// Entries with a sequence number above `seq`, oldest first.
    pub fn log_after(&self, seq: u64) -> impl Iterator<Item = &LogEntry> {
        let start = self.log.partition_point(|entry| entry.event.seq <= seq);
        self.log.range(start..)
    }

    /// The state without the log, for a checkpoint: everything a restore cannot rebuild from
    /// the recent records alone.
    pub fn checkpoint(&self) -> Checkpoint<'_> {
        Checkpoint {
            rooms: Cow::Borrowed(&self.rooms),
            battles: Cow::Borrowed(&self.battles),
            counters: Cow::Borrowed(&self.counters),
            threshold: Cow::Borrowed(&self.threshold),
            follows: self.follows,
            seen_roomless: Cow::Borrowed(&self.seen_roomless),
            last_seq: self.last_seq,
            dropped_log_entries: self.dropped_log_entries,
        }
    }

    /// A store from a checkpoint, with an empty log of `log_capacity`.
    pub fn from_checkpoint(checkpoint: Checkpoint<'_>, log_capacity: usize) -> Self {
        Self {
            rooms: checkpoint.rooms.into_owned(),
            battles: checkpoint.battles.into_owned(),
            log: VecDeque::new(),
            log_capacity: log_capacity.max(1),
            counters: checkpoint.counters.into_owned(),
            threshold: checkpoint.threshold.into_owned(),
            follows: checkpoint.follows,
            seen_roomless: checkpoint.seen_roomless.into_owned(),
            last_seq: checkpoint.last_seq,
            dropped_log_entries: checkpoint.dropped_log_entries,
        }
    }

    /// Puts a restored entry in the log without folding it again: its effect is already in
    /// the state (a checkpoint holds it).
    pub fn push_restored(&mut self, entry: LogEntry) {
        if self.log.len() == self.log_capacity {
            self.log.pop_front();
            self.dropped_log_entries += 1;
        }
        self.log.push_back(entry);
    }

    /// Numbers given out so far reach at least `seq` (a journal's unreadable last record keeps
    /// its number).
    pub fn advance_seq(&mut self, seq: u64) {
        self.last_seq = self.last_seq.max(seq);
    }

    /// Applies one event and records it in the log. An event whose sequence number was
    /// already applied (a replica catching up after a resync) is skipped and returns `None`.
    pub fn apply(&mut self, event: Arc<Event>) -> Option<Effect> {
        if event.seq != 0 && event.seq <= self.last_seq {
            return None;
        }
        self.last_seq = self.last_seq.max(event.seq);
        let effect = self.fold(&event);
        match event.verdict {
            Verdict::Accepted => self.counters.accepted += 1,
            Verdict::Rejected => self.counters.rejected += 1,
            Verdict::Unrecognized => self.counters.unrecognized += 1,
        }
        match effect {
            Effect::Stale => self.counters.stale += 1,
            Effect::Duplicate => self.counters.duplicate += 1,
            Effect::Applied | Effect::NoState => {}
        }
        if self.log.len() == self.log_capacity {
            self.log.pop_front();
            self.dropped_log_entries += 1;
        }
        self.log.push_back(LogEntry { event, effect });
        Some(effect)
    }

    /// App-wide callbacks that name no room.
    fn fold_roomless(&mut self, payload: &Payload, stamp: Stamp) {
        match payload {
            Payload::Threshold { current, max, .. }
                if self.threshold.as_ref().is_none_or(|t| t.stamp <= stamp) =>
            {
                self.threshold = Some(ThresholdAlert {
                    current: *current,
                    max: *max,
                    at_ms: stamp.time_ms,
                    stamp,
                });
            }
            Payload::Follow { .. } => self.follows += 1,
            _ => {}
        }
    }

    fn fold(&mut self, event: &Event) -> Effect {
        let (Verdict::Accepted, Some(callback)) = (event.verdict, &event.callback) else {
            return Effect::NoState;
        };
        let stamp = Stamp {
            time_ms: event.event_time_ms(),
            tiebreak: event.fingerprint,
        };
        // Tencent never retries "before" callbacks, and two equal gifts in the same second
        // are two gifts: only "after" callbacks are checked for repeated delivery.
        let key = (callback.command, stamp.tiebreak);
        let dedupe = !callback.command.is_before();
        match &callback.payload {
            Payload::Threshold { .. } | Payload::Follow { .. } => {
                if !self.seen_roomless.insert(key) {
                    return Effect::Duplicate;
                }
                self.fold_roomless(&callback.payload, stamp);
                return Effect::Applied;
            }
            _ => {}
        }
        let rooms: Vec<String> = callback
            .room_ids()
            .into_iter()
            .map(str::to_string)
            .collect();
        if rooms.is_empty() {
            return Effect::NoState;
        }
        let mut effect = Effect::Applied;
        for room_id in &rooms {
            let room = self
                .rooms
                .entry(room_id.clone())
                .or_insert_with(|| Room::new(room_id));
            if dedupe && !room.seen.insert(key) {
                effect = Effect::Duplicate;
                continue;
            }
            *room.counts.entry(callback.command).or_default() += 1;
            room.last_event_ms = Some(
                room.last_event_ms
                    .map_or(stamp.time_ms, |t| t.max(stamp.time_ms)),
            );
            let log = apply_to_room(room, callback, stamp);
            if log.stale {
                effect = Effect::Stale;
            }
            let newest = room.last_change.as_ref().is_none_or(|c| c.stamp <= stamp);
            if !log.changes.is_empty() && newest {
                room.last_change = Some(LastChange {
                    stamp,
                    seq: event.seq,
                    command: callback.command,
                    operator: callback.operator.clone(),
                    changes: log.changes,
                });
            }
        }
        if let Some(id) = battle_id(&callback.payload) {
            for room_id in &rooms {
                if let Some(room) = self.rooms.get_mut(room_id) {
                    room.battles.insert(id.to_string());
                }
            }
            self.battles
                .entry(id.to_string())
                .or_insert_with(|| Battle::new(id.to_string()))
                .apply(&callback.payload, stamp);
        }
        effect
    }
}

fn battle_id(payload: &Payload) -> Option<&str> {
    match payload {
        Payload::CreateBattle { battle_id, .. }
        | Payload::StartBattle { battle_id, .. }
        | Payload::EndBattle { battle_id, .. } => battle_id.as_deref(),
        _ => None,
    }
}

/// The per-room part of the reducer.
fn apply_to_room(room: &mut Room, callback: &Callback, stamp: Stamp) -> WriteLog {
    let mut log = WriteLog::default();
    match &callback.payload {
        Payload::CreateRoom(info) => {
            log.field(
                "created",
                &mut room.created,
                Some(callback.operator.clone()),
                stamp,
                |by| by.clone().unwrap_or_else(|| "yes".into()),
            );
            room.write_info(info, stamp, &mut log);
        }
        Payload::UpdateRoomInfo(info) => room.write_info(info, stamp, &mut log),
        Payload::DestroyRoom {
            cause,
            room: info,
            statistic,
            ..
        } => {
            let ending = Ending {
                by: callback.operator.clone(),
                cause: cause.clone(),
                statistic: statistic.clone(),
            };
            log.field("ended", &mut room.destroyed, Some(ending), stamp, |e| {
                e.cause.clone().unwrap_or_else(|| "destroyed".into())
            });
            if let Some(info) = info {
                room.write_info(info, stamp, &mut log);
            }
        }
        Payload::SetMetadata { pairs, .. } => {
            for (key, value) in pairs {
                let mut field = room.metadata.get(key).cloned();
                log.field(
                    "metadata",
                    &mut field,
                    Some(Some(value.clone())),
                    stamp,
                    |v| format!("{key}={}", v.as_deref().unwrap_or("(deleted)")),
                );
                if let Some(field) = field {
                    room.metadata.insert(key.clone(), field);
                }
            }
        }
        Payload::DelMetadata { keys, .. } => {
            for key in keys {
                let mut field = room.metadata.get(key).cloned();
                log.field("metadata", &mut field, Some(None), stamp, |v| match v {
                    Some(value) => format!("{key}={value}"),
                    None => format!("{key} deleted"),
                });
                if let Some(field) = field {
                    room.metadata.insert(key.clone(), field);
                }
            }
        }
        Payload::MemberState {
            online: Some(online),
            cause,
            members,
            ..
        } => {
            // Presence changes are frequent and noisy: they update state without entering
            // the "what changed" list.
            for member in members {
                let presence = Presence {
                    online: *online,
                    cause: cause.clone(),
                };
                let mut field = room.members.get(member).cloned();
                match write(&mut field, Some(presence), stamp) {
                    Write::Stale => log.stale = true,
                    _ => log.wrote = true,
                }
                if let Some(field) = field {
                    room.members.insert(member.clone(), field);
                }
            }
        }
        Payload::ChangeOwner { current, .. } => {
            log.field(
                "owner",
                &mut room.owner,
                current.clone(),
                stamp,
                String::clone,
            );
        }
        Payload::ModifyAdmin {
            admins,
            op: Some(op),
            ..
        } => {
            let granted = *op == AdminOp::Add;
            for account in admins {
                let mut field = room.admins.get(account).cloned();
                log.field("admin", &mut field, Some(granted), stamp, |g| {
                    format!("{account} {}", if *g { "added" } else { "removed" })
                });
                if let Some(field) = field {
                    room.admins.insert(account.clone(), field);
                }
            }
        }
        Payload::SeatInfo { seats, .. } => {
            for seat in seats {
                let state = SeatState {
                    member: seat.member.clone(),
                    locked: seat.locked,
                    video_disabled: seat.video_disabled,
                    audio_disabled: seat.audio_disabled,
                };
                let mut field = room.seats.get(&seat.index).cloned();
                let index = seat.index;
                log.field("seat", &mut field, Some(state), stamp, |s| {
                    format!("#{index} {}", s.describe())
                });
                if let Some(field) = field {
                    room.seats.insert(seat.index, field);
                }
            }
        }
        Payload::Gift { count, coins, .. } => {
            // Counts come from the network: saturate rather than overflow.
            let count = count.unwrap_or(1);
            room.gifts.gifts = room.gifts.gifts.saturating_add(1);
            room.gifts.items = room.gifts.items.saturating_add(count);
            room.gifts.coins = room
                .gifts
                .coins
                .saturating_add(coins.unwrap_or(0).saturating_mul(count));
        }
        Payload::Message { before: false, .. } => room.messages = room.messages.saturating_add(1),
        _ => {}
    }
    log
}
