//! Each room's accounts, as `user:` sees them, copied into one buffer per room and made again
//! only for rooms an event changed since: a `user:` query over thousands of rooms then reads
//! one small buffer per room instead of walking each room's member, admin and seat trees.

use std::collections::HashMap;

use crate::store::{Room, RoomKey, RoomStore};
use crate::tui::query::{Pattern, room_accounts};

/// Copies kept beyond the rooms the store holds before those of rooms it let go are dropped.
const SLACK: usize = 1024;

/// One room's accounts, end to end in one string.
#[derive(Debug, Clone)]
struct Accounts {
    text: String,
    /// Where each account ends in `text`.
    ends: Vec<usize>,
}

impl Accounts {
    fn of(room: &Room) -> Self {
        let mut text = String::new();
        let mut ends = Vec::new();
        for account in room_accounts(room) {
            text.push_str(account);
            ends.push(text.len());
        }
        Self { text, ends }
    }

    fn any(&self, pattern: &Pattern) -> bool {
        let mut start = 0;
        self.ends.iter().any(|&end| {
            let account = &self.text[start..end];
            start = end;
            pattern.matches(account)
        })
    }
}

/// Copies by app, then room id (a room is known by both), so that a look-up borrows the
/// room's own strings.
#[derive(Debug, Clone, Default)]
pub(super) struct RoomUsers {
    apps: HashMap<String, HashMap<String, Accounts>>,
    len: usize,
}

impl RoomUsers {
    /// The room changed: its copy is made again when next needed.
    pub(super) fn forget(&mut self, room: &RoomKey) {
        if let Some(rooms) = self.apps.get_mut(&room.app)
            && rooms.remove(&room.id).is_some()
        {
            self.len -= 1;
        }
    }

    pub(super) fn clear(&mut self) {
        self.apps.clear();
        self.len = 0;
    }

    /// Whether any account of `room` passes `pattern`, from its copy (made now if missing).
    pub(super) fn any(&mut self, room: &Room, pattern: &Pattern) -> bool {
        if let Some(accounts) = self
            .apps
            .get(room.app.as_str())
            .and_then(|rooms| rooms.get(room.id.as_str()))
        {
            return accounts.any(pattern);
        }
        let accounts = Accounts::of(room);
        let hit = accounts.any(pattern);
        self.apps
            .entry(room.app.clone())
            .or_default()
            .insert(room.id.clone(), accounts);
        self.len += 1;
        hit
    }

    /// Drops the copies of rooms the store no longer holds, once there are many: memory
    /// stays bounded by the store's rooms.
    pub(super) fn trim(&mut self, store: &RoomStore) {
        if self.len > store.rooms().len() + SLACK {
            for (app, rooms) in &mut self.apps {
                rooms.retain(|id, _| {
                    store
                        .room(&RoomKey::new(app.as_str(), id.as_str()))
                        .is_some()
                });
            }
            self.apps.retain(|_, rooms| !rooms.is_empty());
            self.len = self.apps.values().map(HashMap::len).sum();
        }
    }
}
