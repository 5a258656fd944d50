//! What one callback may bring into room state. A body within `--max-body` can still list
//! 100,000 rooms or members; state keeps the first entries up to these limits and the event
//! records what was left out, so its log line and NDJSON say so.

use serde::Serialize;

use super::callback::{Callback, Payload};

/// Rooms one battle callback may name (the calling room included).
pub const MAX_BATTLE_ROOMS: usize = 64;
/// Accounts one callback may list (members, admins, gift receivers, follows).
pub const MAX_ACCOUNTS: usize = 1_000;
/// Metadata keys one callback may set or delete.
pub const MAX_METADATA_KEYS: usize = 100;
/// Seats one callback may describe.
pub const MAX_SEATS: usize = 256;

/// One list cut short: what it held and how many entries were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trim {
    pub what: &'static str,
    pub kept: usize,
    pub dropped: usize,
}

impl std::fmt::Display for Trim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} beyond the first {} ignored",
            self.dropped, self.what, self.kept
        )
    }
}

/// Cuts every list in `callback` to its limit; returns what was cut.
pub fn apply(callback: &mut Callback) -> Vec<Trim> {
    let mut trims = Vec::new();
    match &mut callback.payload {
        Payload::CreateBattle { to_rooms, .. } => {
            // The calling room counts towards the battle's rooms.
            cut(&mut trims, "rooms", to_rooms, MAX_BATTLE_ROOMS - 1);
        }
        Payload::StartBattle { to, .. } | Payload::EndBattle { to, .. } => {
            cut(&mut trims, "rooms", to, MAX_BATTLE_ROOMS - 1);
        }
        Payload::SetMetadata { pairs, .. } => {
            cut(&mut trims, "metadata keys", pairs, MAX_METADATA_KEYS);
        }
        Payload::DelMetadata { keys, .. } => {
            cut(&mut trims, "metadata keys", keys, MAX_METADATA_KEYS);
        }
        Payload::MemberState { members, .. } => {
            cut(&mut trims, "members", members, MAX_ACCOUNTS);
        }
        Payload::ModifyAdmin { admins, .. } => cut(&mut trims, "admins", admins, MAX_ACCOUNTS),
        Payload::SeatInfo { seats, .. } => cut(&mut trims, "seats", seats, MAX_SEATS),
        Payload::Gift { to, .. } => cut(&mut trims, "receivers", to, MAX_ACCOUNTS),
        Payload::Follow { to, .. } => cut(&mut trims, "accounts", to, MAX_ACCOUNTS),
        _ => {}
    }
    trims
}

fn cut<T>(trims: &mut Vec<Trim>, what: &'static str, list: &mut Vec<T>, limit: usize) {
    if list.len() > limit {
        trims.push(Trim {
            what,
            kept: limit,
            dropped: list.len() - limit,
        });
        list.truncate(limit);
        list.shrink_to_fit();
    }
}
