//! The room table's order, kept incrementally. Live rooms come first, ended ones sink below
//! them; within each, the chosen [`SortKey`] (optionally reversed); ties by id.
//!
//! An event moves only the rooms it names: each is taken out before the event and put back
//! after it by binary search. An event naming many rooms (a battle listing thousands), or a
//! burst of events between two frames, falls back to one full sort at the next frame, so no
//! event costs more than a sort of the table.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::App;
use crate::event::{Event, Verdict};
use crate::store::{Room, RoomKey};

/// Events between two frames whose rooms are moved in the order one by one; after a bigger
/// burst one full sort at the next frame is cheaper.
pub(super) const PLACE_LIMIT: usize = 256;

/// Rooms one event may move one by one. Each move shifts the table's tail, so beyond this many
/// one sort at the next frame costs less than moving them all.
const ROOMS_PER_EVENT: usize = 32;

/// What the rooms table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Latest event time, newest first.
    Recent,
    Id,
    Name,
    /// Members online, most first.
    Online,
    /// Admins, most first.
    Admins,
    /// Creation time, newest first.
    Created,
    /// Gift coins received, most first.
    Gifts,
}

impl SortKey {
    /// The order the sort key cycles through.
    pub const ALL: [Self; 7] = [
        Self::Recent,
        Self::Id,
        Self::Name,
        Self::Online,
        Self::Admins,
        Self::Created,
        Self::Gifts,
    ];

    #[must_use]
    pub fn next(self) -> Self {
        let at = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()]
    }

    /// How the table title names the order.
    pub fn label(self, reversed: bool) -> &'static str {
        match (self, reversed) {
            (Self::Recent, false) => "most recent first",
            (Self::Recent, true) => "least recent first",
            (Self::Id, false) => "by id",
            (Self::Id, true) => "by id, reversed",
            (Self::Name, false) => "by name",
            (Self::Name, true) => "by name, reversed",
            (Self::Online, false) => "most online first",
            (Self::Online, true) => "fewest online first",
            (Self::Admins, false) => "most admins first",
            (Self::Admins, true) => "fewest admins first",
            (Self::Created, false) => "newest first",
            (Self::Created, true) => "oldest first",
            (Self::Gifts, false) => "most coins first",
            (Self::Gifts, true) => "fewest coins first",
        }
    }
}

/// The value a room sorts by. Unknown values always sort last, whichever the direction.
#[derive(Debug, PartialEq, Eq)]
enum Primary<'a> {
    /// Larger first when not reversed.
    Number(Option<i64>),
    /// Alphabetical when not reversed.
    Text(Option<&'a str>),
}

/// Everything a room sorts by.
struct Rank<'a> {
    ended: bool,
    primary: Primary<'a>,
    id: &'a str,
    app: &'a str,
}

fn rank(room: &Room, key: SortKey) -> Rank<'_> {
    let primary = match key {
        SortKey::Recent => Primary::Number(room.last_event_ms),
        SortKey::Id => Primary::Text(Some(&room.id)),
        SortKey::Name => Primary::Text(room.name.as_ref().map(|n| n.value.as_str())),
        // A destroyed room has nobody in it, as the table shows.
        SortKey::Online => Primary::Number(Some(if room.is_ended() {
            0
        } else {
            room.online_count() as i64
        })),
        SortKey::Admins => Primary::Number(Some(room.admin_list().len() as i64)),
        SortKey::Created => Primary::Number(room.create_time_s.as_ref().map(|t| t.value)),
        SortKey::Gifts => Primary::Number(Some(room.gifts.coins)),
    };
    Rank {
        ended: room.is_ended(),
        primary,
        id: &room.id,
        app: &room.app,
    }
}

/// Known values before unknown ones; known ones in `known`'s order.
fn known_first<T>(a: Option<T>, b: Option<T>, known: impl FnOnce(T, T) -> Ordering) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => known(a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn compare_ranks(a: &Rank, b: &Rank, reversed: bool) -> Ordering {
    let direct = |o: Ordering| if reversed { o.reverse() } else { o };
    let primary = match (&a.primary, &b.primary) {
        (Primary::Number(x), Primary::Number(y)) => known_first(*x, *y, |x, y| direct(y.cmp(&x))),
        (Primary::Text(x), Primary::Text(y)) => known_first(*x, *y, |x, y| direct(x.cmp(y))),
        // Never mixed: both come from the same key.
        _ => Ordering::Equal,
    };
    a.ended
        .cmp(&b.ended)
        .then(primary)
        .then_with(|| a.id.cmp(b.id))
        .then_with(|| a.app.cmp(b.app))
}

impl App {
    /// Whether an ended room is left out of the table.
    fn listed(&self, room: &Room) -> bool {
        !(self.hide_ended && room.is_ended()) && self.room_matches(room)
    }

    /// Compares two rooms in table order, counting the comparison as work.
    fn compare_rooms(&self, a: &Room, b: &Room) -> Ordering {
        self.order_work.set(self.order_work.get() + 1);
        compare_ranks(
            &rank(a, self.sort_key),
            &rank(b, self.sort_key),
            self.sort_reversed,
        )
    }

    /// Sorts every room shown and recounts live and ended rooms.
    pub(super) fn rebuild_room_order(&mut self) {
        let key = self.sort_key;
        // One pass over the rooms for both the rows and the counts: with thousands of rooms,
        // reaching each room's memory is most of the cost.
        let mut ended = 0;
        let mut order: Vec<Rank> = Vec::new();
        let (query, now_ms) = (&self.query, self.now_ms);
        let by_accounts = query.uses_accounts();
        let users = &mut self.room_users;
        for room in self.store.rooms().values() {
            let is_ended = room.is_ended();
            ended += usize::from(is_ended);
            if self.hide_ended && is_ended {
                continue;
            }
            let listed = if by_accounts {
                query.matches_room_by(room, now_ms, |pattern| users.any(room, pattern))
            } else {
                query.is_empty() || query.matches_room(room, now_ms)
            };
            if listed {
                order.push(rank(room, key));
            }
        }
        users.trim(&self.store);
        let work = &self.order_work;
        let reversed = self.sort_reversed;
        work.set(work.get() + order.len() as u64);
        order.sort_by(|a, b| {
            work.set(work.get() + 1);
            compare_ranks(a, b, reversed)
        });
        self.room_order = order
            .into_iter()
            .map(|r| RoomKey::new(r.app, r.id))
            .collect();
        self.ended_rooms = ended;
        // Charts of rooms the store no longer holds go too.
        if self.room_series.len() > self.store.rooms().len() {
            let rooms = self.store.rooms();
            self.room_series.retain(|id| rooms.contains_key(id));
        }
        self.live_rooms = self.store.rooms().len() - ended;
    }

    /// The rooms to move one by one for this event; none when a full sort is due anyway
    /// (already stale, too many events since the last frame, or too many rooms in this one).
    pub(super) fn rooms_to_place(&mut self, event: &Event) -> Vec<RoomKey> {
        if self.rooms_stale {
            return Vec::new();
        }
        let rooms = touched_rooms(event);
        if self.placed == PLACE_LIMIT || rooms.len() > ROOMS_PER_EVENT {
            self.rooms_stale = true;
            return Vec::new();
        }
        self.placed += 1;
        rooms
    }

    /// Where a room is in [`Self::room_order`], found by its sort key. `None` when it is not
    /// shown.
    pub(super) fn order_index(&self, key: &RoomKey) -> Option<usize> {
        let room = self.store.room(key)?;
        self.order_search(room).ok()
    }

    /// Binary search of [`Self::room_order`] for this room.
    fn order_search(&self, room: &Room) -> Result<usize, usize> {
        self.room_order
            .binary_search_by(|probe| match self.store.room(probe) {
                Some(probe) => self.compare_rooms(probe, room),
                // Every listed id is a stored room; an impossible miss sorts first.
                None => Ordering::Less,
            })
    }

    /// Takes a room out of the order and the counts before an event may change it.
    pub(super) fn unlist(&mut self, key: &RoomKey) {
        let Some(room) = self.store.room(key) else {
            return;
        };
        let ended = room.is_ended();
        if let Some(i) = self.order_index(key) {
            self.count_shift(i);
            self.room_order.remove(i);
        }
        if ended {
            self.ended_rooms -= 1;
        } else {
            self.live_rooms -= 1;
        }
    }

    /// Puts a room back after an event, where it now sorts, if it is shown.
    pub(super) fn relist(&mut self, key: &RoomKey) {
        let Some(room) = self.store.room(key) else {
            return;
        };
        if room.is_ended() {
            self.ended_rooms += 1;
        } else {
            self.live_rooms += 1;
        }
        if !self.listed(room) {
            return;
        }
        let at = self.order_search(room).unwrap_or_else(|at| at);
        self.count_shift(at);
        self.room_order.insert(at, key.clone());
    }

    /// Inserting or removing at `at` moves every row after it: that is work too.
    fn count_shift(&self, at: usize) {
        let moved = self.room_order.len().saturating_sub(at) as u64;
        self.order_work.set(self.order_work.get() + moved);
    }

    /// Comparisons and row moves spent keeping the room order, since the app started. Lets
    /// tests check the cost of an event without timing it.
    pub fn order_work(&self) -> u64 {
        self.order_work.get()
    }
}

/// The rooms applying an event to the store may create or change, each once.
fn touched_rooms(event: &Event) -> Vec<RoomKey> {
    let (Verdict::Accepted, Some(callback)) = (event.verdict, &event.callback) else {
        return Vec::new();
    };
    let ids = callback.room_ids();
    let app = event.sdkappid();
    let mut seen: HashSet<&str> = HashSet::with_capacity(ids.len());
    ids.into_iter()
        .filter(|id| seen.insert(id))
        .map(|id| RoomKey::new(app, id))
        .collect()
}
