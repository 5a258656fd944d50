//! A small record per stored log line, kept in step with the store's log, so that a new
//! query filters the whole log (100,000 lines with `--history 100000`) within a frame.
//!
//! Matching a line the direct way visits its event (cold memory for an old line), lists its
//! rooms and looks each one up in the store, once per line and term. Here each line's rooms,
//! command and accounts are interned once, on arrival; a query then answers its room, command
//! and account terms once per distinct value, and the scan over the lines only reads these
//! records.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use super::LogRow;
use super::log_rows::entry_rooms_in;
use crate::event::Verdict;
use crate::relay::outcome::RelayState;
use crate::store::{Effect, LogEntry, Room, RoomKey, RoomStore};
use crate::tui::query::{LineTest, Query, accounts};

/// A slot in an [`Interner`].
type Slot = u32;

/// Strings shared by many lines (room ids, command names, accounts), each stored once and counted, so
/// that a slot is freed when the last line naming it leaves the log: memory stays bounded by
/// the log, even when every line names a room never seen again.
#[derive(Debug, Clone)]
struct Interner<K> {
    slots: HashMap<K, Slot>,
    /// The key in each slot; `None` while the slot is free.
    names: Vec<Option<K>>,
    /// Lines naming each slot; 0 when free.
    refs: Vec<u32>,
    free: Vec<Slot>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
            names: Vec::new(),
            refs: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    /// The slot of `key`, and whether it was new.
    fn acquire<Q>(&mut self, key: &Q) -> (Slot, bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&slot) = self.slots.get(key) {
            self.refs[slot as usize] += 1;
            return (slot, false);
        }
        let owned = key.to_owned();
        let slot = if let Some(slot) = self.free.pop() {
            self.names[slot as usize] = Some(owned.clone());
            self.refs[slot as usize] = 1;
            slot
        } else {
            // Slots never outnumber the log's lines, which a u32 holds many times over.
            let slot = Slot::try_from(self.names.len()).unwrap_or(Slot::MAX);
            self.names.push(Some(owned.clone()));
            self.refs.push(1);
            slot
        };
        self.slots.insert(owned, slot);
        (slot, true)
    }

    fn release(&mut self, slot: Slot) {
        let at = slot as usize;
        let Some(refs) = self.refs.get_mut(at) else {
            return;
        };
        *refs = refs.saturating_sub(1);
        if *refs == 0
            && let Some(name) = self.names[at].take()
        {
            self.slots.remove(&name);
            self.free.push(slot);
        }
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    /// The slots in use, with their keys.
    fn used(&self) -> impl Iterator<Item = (Slot, &K)> {
        self.slots.iter().map(|(name, slot)| (*slot, name))
    }
}

/// A line's slots: the first kept inline (most lines name one room and one or two accounts),
/// the rest boxed, so that scanning most lines reads no memory beyond their record.
#[derive(Debug, Clone, Default)]
struct Slots {
    first: Option<Slot>,
    rest: Box<[Slot]>,
}

impl Slots {
    fn new(mut slots: impl Iterator<Item = Slot>) -> Self {
        Self {
            first: slots.next(),
            rest: slots.collect(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        self.first.into_iter().chain(self.rest.iter().copied())
    }

    /// Whether any slot is a hit.
    fn any(&self, hits: &[bool]) -> bool {
        self.first.is_some_and(|s| hits[s as usize]) || self.rest.iter().any(|&s| hits[s as usize])
    }

    fn contains(&self, slot: Slot) -> bool {
        self.first == Some(slot) || self.rest.contains(&slot)
    }
}

/// What a query may ask of one log line, in a few bytes.
#[derive(Debug, Clone)]
struct LineKey {
    seq: u64,
    received_at_ms: i64,
    /// The line's rooms (as [`super::entry_rooms`] lists them), most often one.
    rooms: Slots,
    app: Slot,
    command: Option<Slot>,
    /// Every account the callback names, as `user:` sees them.
    accounts: Slots,
    verdict: Verdict,
    effect: Effect,
}

/// A room's name as the index last read it from the store.
#[derive(Debug, Clone, Default)]
enum Name {
    #[default]
    Unread,
    /// `None`: the room has no name, or the store does not hold it.
    Read(Option<Box<str>>),
}

/// One line record per entry of the store's log, in the same order.
#[derive(Debug, Clone, Default)]
pub(super) struct LogIndex {
    lines: VecDeque<LineKey>,
    rooms: Interner<RoomKey>,
    apps: Interner<String>,
    commands: Interner<String>,
    accounts: Interner<String>,
    /// Each room slot's name as last read from the store: unread until needed, and again
    /// after an event changed the room. Reading thousands of names from the store per
    /// keystroke costs more than the rest of the scan.
    room_names: Vec<Name>,
    /// The store's count of evicted rooms when `room_names` was last checked: an evicted
    /// room has no name any more, yet no event says so.
    names_evicted: u64,
}

/// A term answered for every room or command slot at once, or per line.
enum Check {
    Rooms(Vec<bool>),
    App(Vec<bool>),
    Command(Vec<bool>),
    Accounts(Vec<bool>),
    Verdict(Verdict),
    Effect(Effect),
    /// Arrived at or after this time (Unix ms).
    Since(i64),
    /// Asks the line itself; the index of the term in the query.
    Line(usize),
}

impl LogIndex {
    /// Brings the records in step with the log: drops those whose lines left it, adds the
    /// new lines. A log that no longer lines up (replaced by a snapshot) is indexed afresh.
    pub(super) fn sync(&mut self, log: &VecDeque<LogEntry>) {
        let first = log.front().map_or(u64::MAX, |e| e.event.seq);
        while self.lines.front().is_some_and(|k| k.seq < first) {
            if let Some(key) = self.lines.pop_front() {
                self.forget(&key);
            }
        }
        // New lines are at the back: count them from there, touching no older event.
        let new = match self.lines.back() {
            Some(last) => log
                .iter()
                .rev()
                .take_while(|e| e.event.seq > last.seq)
                .count(),
            None => log.len(),
        };
        for entry in log.range(log.len() - new..) {
            let key = self.key(entry);
            self.lines.push_back(key);
        }
        let aligned = self.lines.len() == log.len()
            && self.lines.front().map(|k| k.seq) == log.front().map(|e| e.event.seq);
        if !aligned {
            self.reset();
            for entry in log {
                let key = self.key(entry);
                self.lines.push_back(key);
            }
        }
    }

    /// Forgets every record, e.g. when the store was replaced by a snapshot whose lines may
    /// carry other effects under the same sequence numbers.
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    fn key(&mut self, entry: &LogEntry) -> LineKey {
        let event = &entry.event;
        // Read once: finding it in the query costs more than the rest of the record.
        let app = event.sdkappid();
        LineKey {
            seq: event.seq,
            received_at_ms: event.received_at_ms,
            rooms: Slots::new(entry_rooms_in(event, app).iter().map(|key| {
                let (slot, new) = self.rooms.acquire(key);
                if new {
                    let at = slot as usize;
                    if self.room_names.len() <= at {
                        self.room_names.resize(at + 1, Name::Unread);
                    }
                    self.room_names[at] = Name::Unread;
                }
                slot
            })),
            app: self.apps.acquire(app).0,
            command: event.command.as_deref().map(|c| self.commands.acquire(c).0),
            accounts: event
                .callback
                .as_ref()
                .map(|c| Slots::new(accounts(c).map(|a| self.accounts.acquire(a).0)))
                .unwrap_or_default(),
            verdict: event.verdict,
            effect: entry.effect,
        }
    }

    /// An event changed this room: its name is read from the store again when needed.
    pub(super) fn room_changed(&mut self, room: &RoomKey) {
        if let Some(&slot) = self.rooms.slots.get(room) {
            self.room_names[slot as usize] = Name::Unread;
        }
    }

    fn forget(&mut self, key: &LineKey) {
        for slot in key.rooms.iter() {
            self.rooms.release(slot);
        }
        self.apps.release(key.app);
        if let Some(slot) = key.command {
            self.commands.release(slot);
        }
        for slot in key.accounts.iter() {
            self.accounts.release(slot);
        }
    }

    /// The log lines that pass the query and concern `scope` (when set), oldest first: the
    /// same lines as checking each entry with [`Query::matches_entry`] against the store as
    /// it is now, once the index is synced with the store's log.
    pub(super) fn matching<'a>(
        &mut self,
        store: &RoomStore,
        query: &Query,
        scope: Option<&RoomKey>,
        relay: impl Fn(u64) -> Option<&'a RelayState>,
        now_ms: i64,
    ) -> Vec<LogRow> {
        let scope = match scope {
            // A room no line names: no line is shown.
            Some(id) => match self.rooms.slots.get(id) {
                Some(&slot) => Some(slot),
                None => return Vec::new(),
            },
            None => None,
        };
        let checks = self.checks(store, query, now_ms);
        let terms = query.terms();
        let mut found = Vec::new();
        for key in &self.lines {
            if scope.is_some_and(|s| !key.rooms.contains(s)) {
                continue;
            }
            let pass = checks.iter().zip(terms).all(|(check, term)| {
                let hit = match check {
                    Check::Rooms(hits) => key.rooms.any(hits),
                    Check::App(hits) => hits[key.app as usize],
                    Check::Command(hits) => key.command.is_some_and(|s| hits[s as usize]),
                    Check::Accounts(hits) => key.accounts.any(hits),
                    Check::Verdict(verdict) => key.verdict == *verdict,
                    Check::Effect(effect) => key.effect == *effect,
                    Check::Since(cutoff) => key.received_at_ms >= *cutoff,
                    Check::Line(t) => terms[*t].line_hit(relay(key.seq)),
                };
                hit != term.negated()
            });
            if pass {
                found.push(LogRow {
                    seq: key.seq,
                    notice: None,
                });
            }
        }
        found
    }

    /// Each term answered once per room or command slot where that is how it looks at a line.
    fn checks(&mut self, store: &RoomStore, query: &Query, now_ms: i64) -> Vec<Check> {
        let terms = query.terms();
        let mut room_hits: Vec<Option<Vec<bool>>> = terms
            .iter()
            .map(|t| (t.line_test() == LineTest::AnyRoom).then(|| vec![false; self.rooms.len()]))
            .collect();
        let by_name = terms
            .iter()
            .any(|t| t.line_test() == LineTest::AnyRoom && t.reads_room_state());
        if by_name {
            self.read_names(store);
        }
        for (slot, key) in self.rooms.used() {
            let name = match &self.room_names[slot as usize] {
                Name::Read(name) if by_name => name.as_deref(),
                // `room:` patterns look at the id alone.
                _ => None,
            };
            for (term, hits) in terms.iter().zip(&mut room_hits) {
                if let Some(hits) = hits {
                    hits[slot as usize] = term.room_hit_named(&key.id, name);
                }
            }
        }
        terms
            .iter()
            .zip(room_hits)
            .enumerate()
            .map(|(i, (term, rooms))| match term.line_test() {
                // Always answered above.
                LineTest::AnyRoom => {
                    Check::Rooms(rooms.unwrap_or_else(|| vec![false; self.rooms.len()]))
                }
                LineTest::App => Check::App(per_slot(&self.apps, |app| term.app_hit(app))),
                LineTest::Command => {
                    Check::Command(per_slot(&self.commands, |name| term.command_hit(name)))
                }
                LineTest::Account => {
                    Check::Accounts(per_slot(&self.accounts, |name| term.account_hit(name)))
                }
                LineTest::Verdict(verdict) => Check::Verdict(verdict),
                LineTest::Effect(effect) => Check::Effect(effect),
                LineTest::Since(window) => Check::Since(now_ms.saturating_sub(window)),
                LineTest::Line => Check::Line(i),
            })
            .collect()
    }

    /// Reads the names not known (all of them after the store evicted rooms).
    fn read_names(&mut self, store: &RoomStore) {
        let evicted = store.counters().evicted_rooms;
        if evicted != self.names_evicted {
            self.names_evicted = evicted;
            self.room_names.fill(Name::Unread);
        }
        let name_of = |room: &Room| room.name.as_ref().map(|n| Box::from(n.value.as_str()));
        let unknown = self
            .rooms
            .used()
            .filter(|(slot, _)| matches!(self.room_names[*slot as usize], Name::Unread))
            .count();
        if unknown > store.rooms().len() / 8 {
            // Walking the stored rooms in order is far cheaper than a tree look-up per id.
            for (id, room) in store.rooms() {
                if let Some(&slot) = self.rooms.slots.get(id) {
                    self.room_names[slot as usize] = Name::Read(name_of(room));
                }
            }
        }
        for (slot, id) in self.rooms.used() {
            let known = &mut self.room_names[slot as usize];
            if matches!(known, Name::Unread) {
                *known = Name::Read(store.room(id).and_then(name_of));
            }
        }
    }

    /// (lines, room ids, command names, accounts) held.
    pub(super) fn size(&self) -> (usize, usize, usize, usize) {
        (
            self.lines.len(),
            self.rooms.slots.len(),
            self.commands.slots.len(),
            self.accounts.slots.len(),
        )
    }
}

/// A term's answer for each slot in use (free slots: no line names them).
fn per_slot(interner: &Interner<String>, hit: impl Fn(&str) -> bool) -> Vec<bool> {
    let mut hits = vec![false; interner.len()];
    for (slot, name) in interner.used() {
        hits[slot as usize] = hit(name);
    }
    hits
}
