//! Checkpoints written before rooms were keyed by app: the same fields with rooms and
//! battles keyed by their id alone. Read so that an older journal keeps its state.

use std::sync::Arc;

use imbl::{OrdMap, OrdSet, Vector};
use serde::{Deserialize, Serialize};

use super::key::{BattleKey, RoomKey};
use super::recent::RecentDeliveries;
use super::{Battle, Checkpoint, Counters, Room, ThresholdAlert, evict_key};

/// The checkpoint layout of journals written before rooms had an app.
#[derive(Debug, Serialize, Deserialize)]
pub struct LegacyCheckpoint {
    rooms: OrdMap<String, Arc<Room>>,
    evict_order: OrdSet<(bool, i64, String)>,
    battles: OrdMap<String, Battle>,
    battle_order: Vector<String>,
    counters: Counters,
    threshold: Option<ThresholdAlert>,
    follows: u64,
    seen_roomless: RecentDeliveries,
    last_seq: u64,
    dropped_log_entries: u64,
}

impl LegacyCheckpoint {
    /// The room ids it holds, for finding their apps.
    pub fn room_ids(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    /// Today's checkpoint, each room under the app `app_of` gives for its id (empty when
    /// unknown), each battle under the app of the first of its rooms found.
    pub fn upgrade(self, mut app_of: impl FnMut(&str) -> String) -> Checkpoint {
        let mut rooms = OrdMap::new();
        let mut evict_order = OrdSet::new();
        let mut apps: OrdMap<String, String> = OrdMap::new();
        for (id, mut room) in self.rooms {
            let app = app_of(&id);
            Arc::make_mut(&mut room).app.clone_from(&app);
            evict_order.insert(evict_key(&room));
            apps.insert(id.clone(), app.clone());
            rooms.insert(RoomKey::new(app, id), room);
        }
        let battle_app = |battle: &Battle| {
            battle
                .from_room
                .iter()
                .chain(battle.scores.keys())
                .find_map(|room| apps.get(room).cloned())
                .unwrap_or_default()
        };
        let mut battles = OrdMap::new();
        let mut keys: OrdMap<String, BattleKey> = OrdMap::new();
        for (id, battle) in self.battles {
            let key = BattleKey::new(battle_app(&battle), id.clone());
            keys.insert(id, key.clone());
            battles.insert(key, battle);
        }
        let battle_order = self
            .battle_order
            .into_iter()
            .filter_map(|id| keys.get(&id).cloned())
            .collect();
        Checkpoint {
            rooms,
            evict_order,
            battles,
            battle_order,
            counters: self.counters,
            threshold: self.threshold,
            follows: self.follows,
            seen_roomless: self.seen_roomless,
            last_seq: self.last_seq,
            dropped_log_entries: self.dropped_log_entries,
        }
    }
}
