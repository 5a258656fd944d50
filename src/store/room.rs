//! Everything the callbacks reveal about one room. Each field is a register that is `None`
//! until some callback tells us its value.

use std::collections::{BTreeMap, BTreeSet};

use imbl::OrdMap;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::recent::RecentDeliveries;
use super::versioned::{Stamp, Versioned, Write, known, write, write_from};
use crate::protocol::{Command, RoomInfo, SeatMode, Statistic};

/// Deliveries remembered per room for duplicate detection (about 40 bytes each).
const SEEN_PER_ROOM: usize = 4096;

/// A seat as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatState {
    pub member: Option<String>,
    pub locked: Option<bool>,
    pub video_disabled: Option<bool>,
    pub audio_disabled: Option<bool>,
}

impl SeatState {
    /// `host_lin`, `empty`, plus what is switched off: `empty, locked`, `mei, audio off`.
    pub fn describe(&self) -> String {
        let mut text = self.member.clone().unwrap_or_else(|| "empty".into());
        for (flag, label) in [
            (self.locked, "locked"),
            (self.audio_disabled, "audio off"),
            (self.video_disabled, "video off"),
        ] {
            if flag == Some(true) {
                text.push_str(", ");
                text.push_str(label);
            }
        }
        text
    }
}

/// A member's presence as last reported, with the reason given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub online: bool,
    pub cause: Option<String>,
}

/// How a room ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    pub by: Option<String>,
    /// `DestroyByUser` or `DestroyBySystem`, when said.
    pub cause: Option<String>,
    pub statistic: Option<Statistic>,
}

/// One field's change in the latest update that changed anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: Cow<'static, str>,
    /// `None` when the old value was unknown.
    pub before: Option<String>,
    pub after: String,
}

/// What the most recent state-changing callback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastChange {
    pub stamp: Stamp,
    pub seq: u64,
    pub command: Command,
    pub operator: Option<String>,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftTally {
    pub gifts: u64,
    pub items: i64,
    pub coins: i64,
}

/// How many identities one room tracks in each growing map; a 1M-viewer room, or a sender
/// inventing accounts forever, must not grow one room without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    pub members: usize,
    pub admins: usize,
    pub metadata: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        Self {
            members: 100_000,
            admins: 1_000,
            metadata: 1_000,
        }
    }
}

/// Updates about identities a room did not track because its map was full. Non-zero means
/// the matching list (and the count drawn from it) is partial: a lower bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Untracked {
    pub members: u64,
    pub admins: u64,
    pub metadata: u64,
}

impl Untracked {
    pub fn any(&self) -> bool {
        self.members + self.admins + self.metadata > 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// The app (`SdkAppid`) the room belongs to; empty when its callbacks named none. Not
    /// encoded in checkpoints: the store's key carries it and fills it in on load.
    #[serde(skip)]
    pub app: String,
    pub id: String,
    pub name: Option<Versioned<String>>,
    pub room_type: Option<Versioned<String>>,
    pub owner: Option<Versioned<String>>,
    pub max_member_count: Option<Versioned<i64>>,
    pub message_disabled: Option<Versioned<bool>>,
    pub custom_info: Option<Versioned<String>>,
    pub seat_enabled: Option<Versioned<bool>>,
    pub max_seat_count: Option<Versioned<i64>>,
    pub seat_mode: Option<Versioned<SeatMode>>,
    pub create_time_s: Option<Versioned<i64>>,
    pub public: Option<Versioned<bool>>,
    pub cover_url: Option<Versioned<String>>,
    pub category: Option<Versioned<Vec<i64>>>,
    pub activity_status: Option<Versioned<i64>>,
    pub view_count: Option<Versioned<i64>>,
    pub background_url: Option<Versioned<String>>,
    pub unlimited: Option<Versioned<bool>>,
    /// Set by a create callback: who created it.
    pub created: Option<Versioned<Option<String>>>,
    pub destroyed: Option<Versioned<Ending>>,
    /// Accounts whose admin status we were told of; `true` = admin now.
    pub admins: OrdMap<String, Versioned<bool>>,
    /// Persistent maps, here and above: a room shared with a lagging dashboard's copy is
    /// cloned on its next write, and that clone must not copy thousands of members.
    pub members: OrdMap<String, Versioned<Presence>>,
    pub seats: OrdMap<i64, Versioned<SeatState>>,
    /// Key to value; `None` once deleted.
    pub metadata: OrdMap<String, Versioned<Option<String>>>,
    pub battles: BTreeSet<String>,
    /// What the per-room caps kept out of `members`, `admins` and `metadata`.
    /// Defaulted so journal checkpoints written without it still load.
    #[serde(default)]
    pub untracked: Untracked,
    pub gifts: GiftTally,
    pub messages: u64,
    /// Latest `EventTime` seen for this room (Unix ms).
    pub last_event_ms: Option<i64>,
    /// Callbacks applied per command, duplicates not counted.
    pub counts: BTreeMap<Command, u64>,
    /// Recent body digests, to spot repeated deliveries.
    pub seen: RecentDeliveries,
    /// Not part of the converged state: it depends on arrival order by nature.
    pub last_change: Option<LastChange>,
}

/// Records field writes and what they changed, for the "what changed" view.
#[derive(Default)]
pub struct WriteLog {
    pub changes: Vec<FieldChange>,
    pub stale: bool,
    pub wrote: bool,
}

impl WriteLog {
    pub fn field<T: PartialEq + Clone>(
        &mut self,
        name: &'static str,
        field: &mut Option<Versioned<T>>,
        value: Option<T>,
        stamp: Stamp,
        show: impl Fn(&T) -> String,
    ) {
        // Only a change is shown, so the old value is rendered only when the new one differs.
        let before = value
            .as_ref()
            .and_then(|new| known(field).filter(|current| *current != new))
            .map(&show);
        let wrote = write(field, value, stamp);
        self.record(name, known(field), wrote, before, show);
    }

    /// [`Self::field`] from a borrowed value, copied into the register only when it changed.
    pub fn field_ref<T: PartialEq + Clone>(
        &mut self,
        name: &'static str,
        field: &mut Option<Versioned<T>>,
        value: Option<&T>,
        stamp: Stamp,
        show: impl Fn(&T) -> String,
    ) {
        let before = value
            .and_then(|new| known(field).filter(|current| *current != new))
            .map(&show);
        let wrote = write_from(field, value, stamp);
        self.record(name, known(field), wrote, before, show);
    }

    /// Notes what a write did; a change is listed with the value before (when known) and after.
    fn record<T>(
        &mut self,
        name: &'static str,
        now: Option<&T>,
        wrote: Write,
        before: Option<String>,
        show: impl Fn(&T) -> String,
    ) {
        match wrote {
            Write::Changed => {
                self.wrote = true;
                if let Some(after) = now.map(&show) {
                    self.changes.push(FieldChange {
                        field: Cow::Borrowed(name),
                        before,
                        after,
                    });
                }
            }
            Write::Same => self.wrote = true,
            Write::Stale => self.stale = true,
            Write::Absent => {}
        }
    }
}

pub fn show_bool(value: &bool) -> String {
    if *value { "yes" } else { "no" }.to_string()
}

pub fn show_public(value: &bool) -> String {
    if *value { "public" } else { "private" }.to_string()
}

pub fn show_list(values: &[i64]) -> String {
    values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Room {
    pub fn new(app: &str, id: &str) -> Self {
        Self {
            app: app.to_string(),
            id: id.to_string(),
            name: None,
            room_type: None,
            owner: None,
            max_member_count: None,
            message_disabled: None,
            custom_info: None,
            seat_enabled: None,
            max_seat_count: None,
            seat_mode: None,
            create_time_s: None,
            public: None,
            cover_url: None,
            category: None,
            activity_status: None,
            view_count: None,
            background_url: None,
            unlimited: None,
            created: None,
            destroyed: None,
            admins: OrdMap::new(),
            members: OrdMap::new(),
            seats: OrdMap::new(),
            metadata: OrdMap::new(),
            battles: BTreeSet::new(),
            untracked: Untracked::default(),
            gifts: GiftTally::default(),
            messages: 0,
            last_event_ms: None,
            counts: BTreeMap::new(),
            seen: RecentDeliveries::new(SEEN_PER_ROOM),
            last_change: None,
        }
    }

    /// Copies every field a room snapshot carries.
    pub fn write_info(&mut self, info: &RoomInfo, stamp: Stamp, log: &mut WriteLog) {
        let text = String::clone;
        log.field_ref("name", &mut self.name, info.name.as_ref(), stamp, text);
        log.field_ref(
            "type",
            &mut self.room_type,
            info.room_type.as_ref(),
            stamp,
            text,
        );
        log.field_ref("owner", &mut self.owner, info.owner.as_ref(), stamp, text);
        log.field_ref(
            "member cap",
            &mut self.max_member_count,
            info.max_member_count.as_ref(),
            stamp,
            i64::to_string,
        );
        log.field_ref(
            "messages off",
            &mut self.message_disabled,
            info.message_disabled.as_ref(),
            stamp,
            show_bool,
        );
        log.field_ref(
            "custom info",
            &mut self.custom_info,
            info.custom_info.as_ref(),
            stamp,
            text,
        );
        log.field_ref(
            "seats on",
            &mut self.seat_enabled,
            info.seat_enabled.as_ref(),
            stamp,
            show_bool,
        );
        log.field_ref(
            "seat count",
            &mut self.max_seat_count,
            info.max_seat_count.as_ref(),
            stamp,
            i64::to_string,
        );
        log.field_ref(
            "seat mode",
            &mut self.seat_mode,
            info.seat_mode.as_ref(),
            stamp,
            |m| m.label().to_string(),
        );
        log.field_ref(
            "created at",
            &mut self.create_time_s,
            info.create_time_s.as_ref(),
            stamp,
            i64::to_string,
        );
        log.field_ref(
            "visibility",
            &mut self.public,
            info.public.as_ref(),
            stamp,
            show_public,
        );
        log.field_ref(
            "cover",
            &mut self.cover_url,
            info.cover_url.as_ref(),
            stamp,
            text,
        );
        log.field_ref(
            "category",
            &mut self.category,
            info.category.as_ref(),
            stamp,
            |c| show_list(c),
        );
        log.field_ref(
            "activity",
            &mut self.activity_status,
            info.activity_status.as_ref(),
            stamp,
            i64::to_string,
        );
        log.field_ref(
            "views",
            &mut self.view_count,
            info.view_count.as_ref(),
            stamp,
            i64::to_string,
        );
        log.field_ref(
            "background",
            &mut self.background_url,
            info.background_url.as_ref(),
            stamp,
            text,
        );
        log.field_ref(
            "unlimited",
            &mut self.unlimited,
            info.unlimited.as_ref(),
            stamp,
            show_bool,
        );
    }

    /// A room has ended when its latest lifecycle event is a destroy.
    pub fn is_ended(&self) -> bool {
        match (&self.destroyed, &self.created) {
            // A destroy in the same millisecond as a create wins, whatever the tie-break.
            (Some(destroyed), Some(created)) => destroyed.stamp.time_ms >= created.stamp.time_ms,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Accounts that are admins now, sorted.
    pub fn admin_list(&self) -> Vec<&str> {
        self.admins
            .iter()
            .filter(|(_, v)| v.value)
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Members online now, sorted.
    pub fn online_members(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|(_, v)| v.value.online)
            .map(|(k, _)| k.as_str())
            .collect()
    }

    pub fn online_count(&self) -> usize {
        self.members.values().filter(|v| v.value.online).count()
    }

    /// The online count as text, `+` when members went untracked (a lower bound).
    pub fn online_text(&self) -> String {
        let partial = if self.untracked.members > 0 { "+" } else { "" };
        format!("{}{partial}", self.online_count())
    }

    /// Metadata pairs that are set now.
    pub fn metadata_pairs(&self) -> Vec<(&str, &str)> {
        self.metadata
            .iter()
            .filter_map(|(k, v)| v.value.as_deref().map(|value| (k.as_str(), value)))
            .collect()
    }

    /// The room's key in the store.
    pub fn key(&self) -> super::RoomKey {
        super::RoomKey::new(self.app.clone(), self.id.clone())
    }

    /// The room with its arrival-order history cleared: two rooms fed the same callbacks in
    /// any order compare equal this way.
    #[must_use]
    pub fn converged(&self) -> Self {
        Self {
            last_change: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SeatState;

    #[test]
    fn a_seat_describes_who_sits_there_and_what_is_off() {
        let seat = |member: Option<&str>, locked, audio_off| SeatState {
            member: member.map(Into::into),
            locked,
            video_disabled: None,
            audio_disabled: audio_off,
        };
        assert_eq!(seat(Some("mei"), None, Some(false)).describe(), "mei");
        assert_eq!(
            seat(Some("mei"), None, Some(true)).describe(),
            "mei, audio off"
        );
        assert_eq!(seat(None, Some(true), None).describe(), "empty, locked");
    }
}
