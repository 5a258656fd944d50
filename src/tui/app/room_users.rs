//! Each room's accounts, as `user:` sees them, copied into one buffer per room and made again
//! only for rooms an event changed since: a `user:` query over thousands of rooms then reads
//! one small buffer per room instead of walking each room's member, admin and seat trees.

use std::collections::HashMap;

use crate::store::{Room, RoomStore};
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

#[derive(Debug, Clone, Default)]
pub(super) struct RoomUsers {
    rooms: HashMap<String, Accounts>,
}

impl RoomUsers {
    /// The room changed: its copy is made again when next needed.
    pub(super) fn forget(&mut self, id: &str) {
        self.rooms.remove(id);
    }

    pub(super) fn clear(&mut self) {
        self.rooms.clear();
    }

    /// Whether any account of `room` passes `pattern`, from its copy (made now if missing).
    pub(super) fn any(&mut self, room: &Room, pattern: &Pattern) -> bool {
        if let Some(accounts) = self.rooms.get(room.id.as_str()) {
            return accounts.any(pattern);
        }
        let accounts = Accounts::of(room);
        let hit = accounts.any(pattern);
        self.rooms.insert(room.id.clone(), accounts);
        hit
    }

    /// Drops the copies of rooms the store no longer holds, once there are many: memory
    /// stays bounded by the store's rooms.
    pub(super) fn trim(&mut self, store: &RoomStore) {
        if self.rooms.len() > store.rooms().len() + SLACK {
            self.rooms.retain(|id, _| store.rooms().contains_key(id));
        }
    }
}
