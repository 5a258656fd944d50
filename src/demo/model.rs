//! What a room looks like, reduced to the facts the simulator decides: the simulator's own
//! truth and a projection of the receiver's [`store::Room`](crate::store::Room) share this
//! shape, so a test can compare the two directly.

use std::collections::BTreeMap;

use crate::store::{Room, known};

/// One seat as the simulator last set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatView {
    pub member: Option<String>,
    pub locked: Option<bool>,
    pub audio_disabled: Option<bool>,
}

/// The comparable facts about one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub name: Option<String>,
    pub seat_mode: Option<String>,
    pub public: Option<bool>,
    pub cover_url: Option<String>,
    pub category: Option<Vec<i64>>,
    pub owner: Option<String>,
    /// Admins now, sorted.
    pub admins: Vec<String>,
    /// Members online now, sorted.
    pub online: Vec<String>,
    /// Every seat reported so far, by index.
    pub seats: BTreeMap<i64, SeatView>,
    /// Metadata pairs set now.
    pub metadata: BTreeMap<String, String>,
    pub ended: bool,
}

impl RoomView {
    /// The same facts, read from the receiver's store.
    pub fn of(room: &Room) -> Self {
        Self {
            name: known(&room.name).cloned(),
            seat_mode: known(&room.seat_mode).map(|m| m.label().to_string()),
            public: known(&room.public).copied(),
            cover_url: known(&room.cover_url).cloned(),
            category: known(&room.category).cloned(),
            owner: known(&room.owner).cloned(),
            admins: room.admin_list().into_iter().map(str::to_string).collect(),
            online: room
                .online_members()
                .into_iter()
                .map(str::to_string)
                .collect(),
            seats: room
                .seats
                .iter()
                .map(|(index, seat)| {
                    (
                        *index,
                        SeatView {
                            member: seat.value.member.clone(),
                            locked: seat.value.locked,
                            audio_disabled: seat.value.audio_disabled,
                        },
                    )
                })
                .collect(),
            metadata: room
                .metadata_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ended: room.is_ended(),
        }
    }
}
