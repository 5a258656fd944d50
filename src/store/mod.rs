//! The authoritative state: rooms folded from callbacks, and a capped log of every event.
//! Pure: reads no clock, does no I/O; time comes from the events themselves.

mod battle;
mod compact;
mod key;
mod legacy;
mod recent;
mod room;
mod versioned;

use std::collections::VecDeque;
use std::sync::Arc;

use imbl::{OrdMap, OrdSet, Vector};
use serde::{Deserialize, Serialize};

pub use battle::{Battle, BattlePhase};
pub use compact::compact_deliveries;
pub use key::{BattleKey, RoomKey};
pub use legacy::LegacyCheckpoint;
pub use room::{
    Ending, FieldChange, GiftTally, LastChange, Presence, Room, RoomLimits, SeatState, Untracked,
    show_bool, show_list, show_public,
};
pub use versioned::{Stamp, Versioned, Write, known};

use recent::RecentDeliveries;
use room::WriteLog;
use versioned::write;

use crate::event::{Event, Verdict};
use crate::protocol::{AdminOp, Callback, Payload};

/// Deliveries of room-less callbacks (follows, alerts) remembered for duplicate detection.
const SEEN_ROOMLESS: usize = 16_384;

/// Battles kept; beyond it the oldest-created battle is forgotten.
pub const MAX_BATTLES: usize = 10_000;

/// How much the store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Events kept in the log.
    pub history: usize,
    /// Estimated bytes the log's events may hold (see [`Event::retained_bytes`]).
    pub history_bytes: usize,
    /// Rooms kept; beyond it the longest-ended room is evicted, else the least recently
    /// active live one.
    pub max_rooms: usize,
    /// Members, admins and metadata keys tracked per room; beyond them new identities are
    /// counted in [`Room::untracked`] and not stored.
    pub per_room: RoomLimits,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            history: 10_000,
            history_bytes: 256 * 1024 * 1024,
            max_rooms: 50_000,
            per_room: RoomLimits::default(),
        }
    }
}

impl StoreLimits {
    /// Every limit raised to at least 1: a store always keeps its newest event and room.
    fn at_least_one(self) -> Self {
        Self {
            history: self.history.max(1),
            history_bytes: self.history_bytes.max(1),
            max_rooms: self.max_rooms.max(1),
            per_room: RoomLimits {
                members: self.per_room.members.max(1),
                admins: self.per_room.admins.max(1),
                metadata: self.per_room.metadata.max(1),
            },
        }
    }
}

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

/// Log entries that left the log, to be freed by whoever holds them (see
/// [`RoomStore::apply_evicting`]). The usual one is held in place: no allocation per event.
#[derive(Default)]
#[must_use = "dropping it frees the entries here and now"]
pub struct Evicted {
    first: Option<LogEntry>,
    more: Vec<LogEntry>,
}

impl Evicted {
    fn keep(&mut self, entry: LogEntry) {
        if self.first.is_none() {
            self.first = Some(entry);
        } else {
            self.more.push(entry);
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
    /// Rooms dropped from state to stay within `max_rooms`, ended and live together.
    pub evicted_rooms: u64,
    /// Of those, rooms that had not ended.
    pub evicted_live_rooms: u64,
    /// Events whose lists were cut to the per-callback limits.
    pub trimmed: u64,
}

/// The last room-count alert (`CreateRoomReachingThreshold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdAlert {
    pub current: Option<i64>,
    pub max: Option<i64>,
    pub at_ms: i64,
    pub stamp: Stamp,
}

/// Which room goes first when the store is full: ended rooms before live ones, then the
/// oldest time (when it ended; else its latest event), then the key.
type EvictKey = (bool, i64, RoomKey);

fn evict_key(room: &Room) -> EvictKey {
    let (live, time) = evict_rank(room);
    (live, time, room.key())
}

/// [`EvictKey`] without the key: what a callback can change.
fn evict_rank(room: &Room) -> (bool, i64) {
    let live = !room.is_ended();
    let time = if live {
        room.last_event_ms
    } else {
        room.destroyed.as_ref().map(|d| d.stamp.time_ms)
    };
    (live, time.unwrap_or(i64::MIN))
}

/// The store's state without its log, as a journal checkpoint stores it. Persistent
/// collections make taking one cheap (they are shared, not copied).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    rooms: OrdMap<RoomKey, Arc<Room>>,
    evict_order: OrdSet<EvictKey>,
    battles: OrdMap<BattleKey, Battle>,
    battle_order: Vector<BattleKey>,
    counters: Counters,
    threshold: Option<ThresholdAlert>,
    follows: u64,
    seen_roomless: RecentDeliveries,
    last_seq: u64,
    dropped_log_entries: u64,
}

impl Checkpoint {
    /// The checkpoint as written to a journal or a stream: the eviction order complete even
    /// where the store does not keep it (below half the room cap). Every roomwatch that reads
    /// a checkpoint evicts by that order, and an older one expects every room in it: with an
    /// empty order it could not make room at its cap.
    #[must_use]
    pub fn for_storage(mut self) -> Self {
        if self.evict_order.len() != self.rooms.len() {
            self.evict_order = self.rooms.values().map(|room| evict_key(room)).collect();
        }
        self
    }
}

impl Checkpoint {
    /// The last seq the state includes.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}

/// Rooms, battles, counters and the recent log.
///
/// Rooms and battles live in persistent maps whose rooms are shared (`Arc`): a clone of the
/// whole store (a lagging dashboard resynchronising) costs a few pointer copies however many
/// rooms there are, and a room is copied only when one side writes to it while shared.
#[derive(Debug, Clone)]
pub struct RoomStore {
    rooms: OrdMap<RoomKey, Arc<Room>>,
    evict_order: OrdSet<EvictKey>,
    battles: OrdMap<BattleKey, Battle>,
    battle_order: Vector<BattleKey>,
    log: VecDeque<LogEntry>,
    log_bytes: usize,
    limits: StoreLimits,
    counters: Counters,
    threshold: Option<ThresholdAlert>,
    follows: u64,
    /// Body digests of applied callbacks that name no room (follows, alerts).
    seen_roomless: RecentDeliveries,
    last_seq: u64,
    dropped_log_entries: u64,
    /// Room keys of the last callback, their buffers reused for the next one's lookups.
    key_scratch: Vec<RoomKey>,
}

impl RoomStore {
    /// A store keeping `log_capacity` events and otherwise the default limits.
    pub fn new(log_capacity: usize) -> Self {
        Self::with_limits(StoreLimits {
            history: log_capacity,
            ..StoreLimits::default()
        })
    }

    pub fn with_limits(limits: StoreLimits) -> Self {
        Self {
            rooms: OrdMap::new(),
            evict_order: OrdSet::new(),
            battles: OrdMap::new(),
            battle_order: Vector::new(),
            log: VecDeque::new(),
            log_bytes: 0,
            limits: limits.at_least_one(),
            counters: Counters::default(),
            threshold: None,
            follows: 0,
            seen_roomless: RecentDeliveries::new(SEEN_ROOMLESS),
            last_seq: 0,
            dropped_log_entries: 0,
            key_scratch: Vec::new(),
        }
    }

    pub fn rooms(&self) -> &OrdMap<RoomKey, Arc<Room>> {
        &self.rooms
    }

    pub fn room(&self, key: &RoomKey) -> Option<&Room> {
        self.rooms.get(key).map(AsRef::as_ref)
    }

    /// The rooms with this RoomId, under any app (in app order).
    pub fn rooms_with_id<'a>(&'a self, id: &str) -> impl Iterator<Item = &'a Room> + 'a {
        let from = RoomKey::new("", id);
        let id = id.to_string();
        self.rooms
            .range(from..)
            .take_while(move |(key, _)| key.id == id)
            .map(|(_, room)| room.as_ref())
    }

    /// The room with this RoomId under the first app that has one: the room, when one app
    /// is watched.
    pub fn room_by_id(&self, id: &str) -> Option<&Room> {
        self.rooms_with_id(id).next()
    }

    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Estimated bytes held by the log's events.
    pub fn log_bytes(&self) -> usize {
        self.log_bytes
    }

    pub fn battles(&self) -> &OrdMap<BattleKey, Battle> {
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

    /// The state without the log, for a checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            rooms: self.rooms.clone(),
            evict_order: self.evict_order.clone(),
            battles: self.battles.clone(),
            battle_order: self.battle_order.clone(),
            counters: self.counters.clone(),
            threshold: self.threshold.clone(),
            follows: self.follows,
            seen_roomless: self.seen_roomless.clone(),
            last_seq: self.last_seq,
            dropped_log_entries: self.dropped_log_entries,
        }
    }

    /// A store from a checkpoint, with an empty log of `log_capacity`.
    pub fn from_checkpoint(checkpoint: Checkpoint, log_capacity: usize) -> Self {
        // Rooms do not encode their app: the key gives it back.
        let rooms: OrdMap<RoomKey, Arc<Room>> = checkpoint
            .rooms
            .into_iter()
            .map(|(key, mut room)| {
                if room.app != key.app {
                    Arc::make_mut(&mut room).app.clone_from(&key.app);
                }
                (key, room)
            })
            .collect();
        let limits = StoreLimits::default();
        // Stored checkpoints carry the whole order (see `for_storage`); far below the cap it
        // is not kept (see `keep_evict_order_if_due`), and `set_limits` builds it if due.
        let evict_order = if rooms.len() < limits.max_rooms / 2 {
            OrdSet::new()
        } else {
            checkpoint.evict_order
        };
        Self {
            rooms,
            evict_order,
            battles: checkpoint.battles,
            battle_order: checkpoint.battle_order,
            counters: checkpoint.counters,
            threshold: checkpoint.threshold,
            follows: checkpoint.follows,
            seen_roomless: checkpoint.seen_roomless,
            last_seq: checkpoint.last_seq,
            dropped_log_entries: checkpoint.dropped_log_entries,
            ..Self::new(log_capacity)
        }
    }

    /// Appends an entry another store already applied (a dashboard copying the hub's log from
    /// the bus), without folding it: the state comes separately, by [`Self::adopt_state`].
    pub fn push_applied(&mut self, entry: LogEntry) {
        self.advance_seq(entry.event.seq);
        self.push_log(entry);
    }

    /// Takes another store's state (rooms, battles, counters; e.g. the hub's, as of the last
    /// entry given to [`Self::push_applied`]) in place of this one's, keeping this store's own
    /// log and limits. Cheap: the persistent collections are shared, not copied.
    pub fn adopt_state(&mut self, state: Checkpoint) {
        self.rooms = state.rooms;
        self.evict_order = state.evict_order;
        self.battles = state.battles;
        self.battle_order = state.battle_order;
        self.counters = state.counters;
        self.threshold = state.threshold;
        self.follows = state.follows;
        self.seen_roomless = state.seen_roomless;
        self.advance_seq(state.last_seq);
    }

    /// Lets go of the rooms and battles shared with another store (the hub's, taken with
    /// [`Self::adopt_state`]), keeping the log and counters: a reader that holds them only
    /// while it draws lets the other store write its rooms in place in between, instead of
    /// copying each room it writes. The next [`Self::adopt_state`] brings them back.
    pub fn release_rooms(&mut self) {
        self.rooms = OrdMap::new();
        self.evict_order = OrdSet::new();
        self.battles = OrdMap::new();
        self.battle_order = Vector::new();
    }

    /// Takes other limits (the run's flags) for what comes next.
    pub fn set_limits(&mut self, limits: StoreLimits) {
        self.limits = limits.at_least_one();
        self.keep_evict_order_if_due();
    }

    /// The eviction order is kept only from half the room cap up (an empty order means not
    /// kept): far below the cap no room is evicted soon, and keeping it costs two tree
    /// updates and a key copy per callback. Built whole when the rooms reach that mark.
    fn keep_evict_order_if_due(&mut self) {
        if self.evict_order.is_empty() && self.rooms.len() >= self.limits.max_rooms / 2 {
            self.evict_order = self.rooms.values().map(|room| evict_key(room)).collect();
        }
    }

    /// Puts a restored entry in the log without folding it again: its effect is already in
    /// the state (a checkpoint holds it).
    pub fn push_restored(&mut self, entry: LogEntry) {
        self.push_log(entry);
    }

    /// Appends to the log, then trims it by count and by bytes, oldest first; the newest
    /// event always stays.
    fn push_log(&mut self, entry: LogEntry) {
        drop(self.push_log_evicting(entry));
    }

    /// [`Self::push_log`], returning the entries that left the log (at most one, unless the
    /// byte budget makes room for a large event) for the caller to free.
    fn push_log_evicting(&mut self, entry: LogEntry) -> Evicted {
        self.log_bytes += entry.event.retained_bytes();
        self.log.push_back(entry);
        let mut evicted = Evicted::default();
        while self.log.len() > self.limits.history
            || (self.log_bytes > self.limits.history_bytes && self.log.len() > 1)
        {
            let Some(oldest) = self.log.pop_front() else {
                break;
            };
            self.log_bytes = self.log_bytes.saturating_sub(oldest.event.retained_bytes());
            self.dropped_log_entries += 1;
            evicted.keep(oldest);
        }
        evicted
    }

    /// Numbers given out so far reach at least `seq` (a journal's unreadable last record keeps
    /// its number).
    pub fn advance_seq(&mut self, seq: u64) {
        self.last_seq = self.last_seq.max(seq);
    }

    /// Applies one event and records it in the log. An event whose sequence number was
    /// already applied (a replica catching up after a resync) is skipped and returns `None`.
    pub fn apply(&mut self, event: Arc<Event>) -> Option<Effect> {
        self.apply_evicting(event).map(|(effect, _)| effect)
    }

    /// [`Self::apply`], handing back the log entries the event pushed out instead of freeing
    /// them: the hub frees them after letting go of its lock, so the receiving threads do not
    /// wait on one another while an old event's memory (long out of cache) is given back.
    pub fn apply_evicting(&mut self, event: Arc<Event>) -> Option<(Effect, Evicted)> {
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
        if !event.trimmed.is_empty() {
            self.counters.trimmed += 1;
        }
        let evicted = self.push_log_evicting(LogEntry { event, effect });
        Some((effect, evicted))
    }

    /// Makes room for one more room: the longest-ended room goes first; when every room is
    /// live, the one with the oldest latest event (it has likely ended unannounced).
    fn evict_one(&mut self) {
        self.keep_evict_order_if_due();
        let Some(key) = self.evict_order.remove_min() else {
            return;
        };
        let (live, _, room) = key;
        self.rooms.remove(&room);
        self.counters.evicted_rooms += 1;
        if live {
            self.counters.evicted_live_rooms += 1;
        }
    }

    /// Forgets the oldest-created battle, and its id in the rooms that took part.
    fn evict_battle(&mut self) {
        let Some(id) = self.battle_order.pop_front() else {
            return;
        };
        let Some(battle) = self.battles.remove(&id) else {
            return;
        };
        for room_id in battle.scores.keys() {
            let room_key = RoomKey::new(id.app.clone(), room_id.clone());
            if let Some(room) = self.rooms.get_mut(&room_key) {
                Arc::make_mut(room).battles.remove(&id.id);
            }
        }
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
        let app = event.sdkappid();
        let ids = callback.room_ids();
        if ids.is_empty() {
            return Effect::NoState;
        }
        // The keys are built in buffers kept from the last callback: no allocation per lookup.
        let mut rooms = std::mem::take(&mut self.key_scratch);
        rooms.truncate(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            match rooms.get_mut(i) {
                Some(key) => {
                    key.app.clear();
                    key.app.push_str(app);
                    key.id.clear();
                    key.id.push_str(id);
                }
                None => rooms.push(RoomKey::new(app, id)),
            }
        }
        let effect = self.fold_rooms(event, callback, stamp, &rooms);
        self.key_scratch = rooms;
        effect
    }

    /// The part of [`Self::fold`] for the rooms a callback names.
    fn fold_rooms(
        &mut self,
        event: &Event,
        callback: &Callback,
        stamp: Stamp,
        rooms: &[RoomKey],
    ) -> Effect {
        let app = event.sdkappid();
        let key = (callback.command, stamp.tiebreak);
        let dedupe = !callback.command.is_before();
        let mut effect = Effect::Applied;
        for room_key in rooms {
            if !self.rooms.contains_key(room_key) {
                while self.rooms.len() >= self.limits.max_rooms {
                    let rooms = self.rooms.len();
                    self.evict_one();
                    if self.rooms.len() == rooms {
                        break;
                    }
                }
                let room = Room::new(&room_key.app, &room_key.id);
                if !self.evict_order.is_empty() {
                    self.evict_order.insert(evict_key(&room));
                }
                self.rooms.insert(room_key.clone(), Arc::new(room));
                self.keep_evict_order_if_due();
            }
            let keeps_order = !self.evict_order.is_empty();
            let Some(shared) = self.rooms.get_mut(room_key) else {
                continue;
            };
            let room = Arc::make_mut(shared);
            let before = keeps_order.then(|| evict_rank(room));
            let effect_here = apply_room(
                room,
                callback,
                stamp,
                dedupe,
                key,
                event.seq,
                self.limits.per_room,
            );
            if let Some((live, time)) = before {
                let after = evict_rank(room);
                if (live, time) != after {
                    let mut key = (live, time, room.key());
                    self.evict_order.remove(&key);
                    (key.0, key.1) = after;
                    self.evict_order.insert(key);
                }
            }
            match effect_here {
                Effect::Duplicate | Effect::Stale => effect = effect_here,
                Effect::Applied | Effect::NoState => {}
            }
        }
        if let Some(id) = battle_id(&callback.payload) {
            for room_key in rooms {
                if let Some(room) = self.rooms.get_mut(room_key) {
                    Arc::make_mut(room).battles.insert(id.to_string());
                }
            }
            let battle_key = BattleKey::new(app, id);
            if !self.battles.contains_key(&battle_key) {
                while self.battles.len() >= MAX_BATTLES {
                    self.evict_battle();
                }
                self.battle_order.push_back(battle_key.clone());
                self.battles
                    .insert(battle_key.clone(), Battle::new(id.to_string()));
            }
            if let Some(battle) = self.battles.get_mut(&battle_key) {
                battle.apply(&callback.payload, stamp);
            }
        }
        effect
    }
}

/// Applies a callback to one of the rooms it names: duplicate check, counts, fields and the
/// "what changed" record.
fn apply_room(
    room: &mut Room,
    callback: &Callback,
    stamp: Stamp,
    dedupe: bool,
    key: (crate::protocol::Command, u64),
    seq: u64,
    caps: RoomLimits,
) -> Effect {
    if dedupe && !room.seen.insert(key) {
        return Effect::Duplicate;
    }
    *room.counts.entry(callback.command).or_default() += 1;
    room.last_event_ms = Some(
        room.last_event_ms
            .map_or(stamp.time_ms, |t| t.max(stamp.time_ms)),
    );
    let log = apply_to_room(room, callback, stamp, caps);
    let newest = room.last_change.as_ref().is_none_or(|c| c.stamp <= stamp);
    let effect = if log.stale {
        Effect::Stale
    } else {
        Effect::Applied
    };
    if !log.changes.is_empty() && newest {
        room.last_change = Some(LastChange {
            stamp,
            seq,
            command: callback.command,
            operator: callback.operator.clone(),
            changes: log.changes,
        });
    }
    effect
}

/// Whether `key` is tracked already or there is space to start tracking it.
fn has_room<V: Clone>(map: &OrdMap<String, V>, key: &str, cap: usize) -> bool {
    map.len() < cap || map.contains_key(key)
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
fn apply_to_room(room: &mut Room, callback: &Callback, stamp: Stamp, caps: RoomLimits) -> WriteLog {
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
                if !has_room(&room.metadata, key, caps.metadata) {
                    room.untracked.metadata += 1;
                    continue;
                }
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
                if !has_room(&room.metadata, key, caps.metadata) {
                    room.untracked.metadata += 1;
                    continue;
                }
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
                // Beyond the cap a new account is counted, not stored: its offline event then
                // finds nothing to change, so tracked counts stay right.
                if !has_room(&room.members, member, caps.members) {
                    room.untracked.members += 1;
                    continue;
                }
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
            log.field_ref(
                "owner",
                &mut room.owner,
                current.as_ref(),
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
                if !has_room(&room.admins, account, caps.admins) {
                    room.untracked.admins += 1;
                    continue;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::auth::AuthConfig;
    use crate::ingest::intake::{self, Arrival, BodyRead};

    fn create(room: &str, at_ms: i64) -> Event {
        let body = format!(
            r#"{{"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"op","RoomInfo":{{"RoomId":"{room}"}},"EventTime":{at_ms}}}"#
        );
        let arrival = Arrival {
            method: "POST".into(),
            path: "/callback".into(),
            raw_query: String::new(),
            content_type: None,
            remote: None,
            received_at_ms: at_ms,
        };
        let open = AuthConfig {
            window_s: 60,
            ..AuthConfig::default()
        };
        intake::judge(arrival, BodyRead::Complete(body.into_bytes()), &open)
    }

    /// Far below the cap the store keeps no eviction order, but what it stores does: a
    /// roomwatch reading the checkpoint (an older one among them) evicts by it.
    #[test]
    fn stored_checkpoints_carry_the_whole_eviction_order() {
        let mut store = RoomStore::with_limits(StoreLimits {
            max_rooms: 100,
            ..StoreLimits::default()
        });
        for i in 0..10 {
            let mut event = create(&format!("r{i}"), 1_700_000_000_000 + i);
            event.seq = u64::try_from(i + 1).expect("small");
            store.apply(Arc::new(event));
        }
        assert!(
            store.evict_order.is_empty(),
            "not kept this far below the cap"
        );
        let stored = store.checkpoint().for_storage();
        assert_eq!(stored.evict_order.len(), 10);
        assert_eq!(
            stored.evict_order.iter().next().map(|k| k.2.id.as_str()),
            Some("r0")
        );
        // Read back with a cap the rooms are at: the first new room evicts the oldest.
        let mut restored = RoomStore::from_checkpoint(stored, 100);
        restored.set_limits(StoreLimits {
            max_rooms: 10,
            ..StoreLimits::default()
        });
        let mut event = create("new", 1_700_000_000_100);
        event.seq = 11;
        restored.apply(Arc::new(event));
        assert_eq!(restored.rooms().len(), 10);
        assert!(!restored.rooms().keys().any(|k| k.id == "r0"));
    }
}
