//! Typed views of each callback. Every field is optional: a field a payload leaves out is
//! unknown, never a default that looks like data. The raw JSON stays with the event.

use serde::Serialize;

use super::command::Command;
use super::fields::{Fields, as_string};
use super::json::{Json, Object};

/// One parsed callback of a known command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Callback {
    pub command: Command,
    pub operator: Option<String>,
    /// When the event happened, in Unix milliseconds (the docs' `EventTime`).
    pub event_time_ms: Option<i64>,
    pub payload: Payload,
}

/// How viewers get a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum SeatMode {
    None,
    FreeToTake,
    ApplyToTake,
    Other(String),
}

impl SeatMode {
    fn parse(text: &str) -> Self {
        // Compared in place: no lower-cased copy per callback.
        if text.eq_ignore_ascii_case("none") {
            Self::None
        } else if text.eq_ignore_ascii_case("freetotake") {
            Self::FreeToTake
        } else if text.eq_ignore_ascii_case("applytotake") {
            Self::ApplyToTake
        } else {
            Self::Other(text.to_string())
        }
    }

    /// The docs' spelling.
    pub fn label(&self) -> &str {
        match self {
            Self::None => "None",
            Self::FreeToTake => "FreeToTake",
            Self::ApplyToTake => "ApplyToTake",
            Self::Other(text) => text,
        }
    }
}

/// A room snapshot as carried by create, update and destroy callbacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoomInfo {
    pub room_id: Option<String>,
    pub name: Option<String>,
    pub room_type: Option<String>,
    pub owner: Option<String>,
    pub max_member_count: Option<i64>,
    pub message_disabled: Option<bool>,
    pub custom_info: Option<String>,
    pub seat_enabled: Option<bool>,
    pub max_seat_count: Option<i64>,
    pub seat_mode: Option<SeatMode>,
    pub create_time_s: Option<i64>,
    pub public: Option<bool>,
    pub cover_url: Option<String>,
    pub category: Option<Vec<i64>>,
    pub activity_status: Option<i64>,
    pub view_count: Option<i64>,
    pub background_url: Option<String>,
    pub unlimited: Option<bool>,
}

impl RoomInfo {
    fn parse(f: Fields<'_>) -> Self {
        Self {
            room_id: f.string("RoomId"),
            name: f.string("RoomName"),
            room_type: f.string("RoomType"),
            owner: f.string("Owner_Account"),
            max_member_count: f.int("MaxMemberCount"),
            message_disabled: f.bool("IsMessageDisabled"),
            custom_info: f.string("CustomInfo"),
            seat_enabled: f.bool("IsSeatEnabled"),
            max_seat_count: f.int("MaxSeatCount"),
            seat_mode: f.text("TakeSeatMode").map(SeatMode::parse),
            create_time_s: f.int("CreateTime"),
            public: f.bool("IsPublicVisible"),
            cover_url: f.string("CoverURL"),
            category: f.ints("Category"),
            activity_status: f.int("ActivityStatus"),
            view_count: f.int("ViewCount"),
            background_url: f.string("BackgroundURL"),
            unlimited: f.bool("IsUnlimitedRoomEnabled"),
        }
    }
}

/// End-of-room statistics from a destroy callback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Statistic {
    pub total_viewers: Option<i64>,
    pub total_gifts_sent: Option<i64>,
    pub total_gift_coins: Option<i64>,
    pub total_unique_gift_senders: Option<i64>,
    pub total_likes_received: Option<i64>,
}

/// One seat (mic slot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seat {
    pub index: i64,
    /// Who sits there; `None` means the seat is empty.
    pub member: Option<String>,
    pub locked: Option<bool>,
    pub video_disabled: Option<bool>,
    pub audio_disabled: Option<bool>,
}

/// A room taking part in a battle, with its score once the battle ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BattleRoom {
    pub room_id: String,
    pub owner: Option<String>,
    pub score: Option<i64>,
}

/// Whether admins were granted or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AdminOp {
    Add,
    Delete,
}

/// What a callback says, per command family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Payload {
    CreateRoom(RoomInfo),
    UpdateRoomInfo(RoomInfo),
    DestroyRoom {
        room_id: Option<String>,
        /// `DestroyByUser` or `DestroyBySystem`.
        cause: Option<String>,
        room: Option<RoomInfo>,
        statistic: Option<Statistic>,
    },
    SetMetadata {
        room_id: Option<String>,
        pairs: Vec<(String, String)>,
    },
    DelMetadata {
        room_id: Option<String>,
        keys: Vec<String>,
    },
    Threshold {
        room_id: Option<String>,
        current: Option<i64>,
        max: Option<i64>,
    },
    MemberState {
        room_id: Option<String>,
        /// `Some(true)` for Online / Enter, `Some(false)` for Offline / Leave.
        online: Option<bool>,
        /// `Enter`, `Leave`, `HeartbeatInterrupt`, `HeartbeatRecover`, `Kicked`, ...
        cause: Option<String>,
        members: Vec<String>,
    },
    ChangeOwner {
        room_id: Option<String>,
        current: Option<String>,
        original: Option<String>,
    },
    ModifyAdmin {
        room_id: Option<String>,
        admins: Vec<String>,
        op: Option<AdminOp>,
    },
    SeatInfo {
        room_id: Option<String>,
        seats: Vec<Seat>,
    },
    CreateBattle {
        battle_id: Option<String>,
        from_room: Option<String>,
        to_rooms: Vec<String>,
        timeout_ms: Option<i64>,
        duration_ms: Option<i64>,
        need_response: Option<bool>,
    },
    StartBattle {
        battle_id: Option<String>,
        duration_ms: Option<i64>,
        start_time_s: Option<i64>,
        from: Option<BattleRoom>,
        to: Vec<BattleRoom>,
    },
    EndBattle {
        battle_id: Option<String>,
        end_time_s: Option<i64>,
        /// 0 time up, 1 all owners left, 2 never started.
        reason: Option<i64>,
        from: Option<BattleRoom>,
        to: Vec<BattleRoom>,
    },
    Gift {
        room_id: Option<String>,
        from: Option<String>,
        to: Vec<String>,
        gift_id: Option<String>,
        count: Option<i64>,
        coins: Option<i64>,
    },
    Message {
        room_id: Option<String>,
        before: bool,
        from: Option<String>,
        msg_seq: Option<i64>,
        /// The text elements joined, or the element types when there is no text.
        summary: Option<String>,
    },
    Follow {
        add: bool,
        from: Option<String>,
        to: Vec<String>,
    },
    Recording {
        room_id: Option<String>,
        user_id: Option<String>,
        task_id: Option<String>,
        event_type: Option<i64>,
        status: Option<i64>,
    },
}

impl Callback {
    /// The room this callback is about, if any (the calling room for battles). A blank id
    /// (`""`, `" "`) names no room.
    pub fn room_id(&self) -> Option<&str> {
        let id = match &self.payload {
            Payload::CreateRoom(info) | Payload::UpdateRoomInfo(info) => info.room_id.as_deref(),
            Payload::DestroyRoom { room_id, room, .. } => room_id
                .as_deref()
                .filter(|id| !is_blank(id))
                .or_else(|| room.as_ref().and_then(|r| r.room_id.as_deref())),
            Payload::SetMetadata { room_id, .. }
            | Payload::DelMetadata { room_id, .. }
            | Payload::Threshold { room_id, .. }
            | Payload::MemberState { room_id, .. }
            | Payload::ChangeOwner { room_id, .. }
            | Payload::ModifyAdmin { room_id, .. }
            | Payload::SeatInfo { room_id, .. }
            | Payload::Gift { room_id, .. }
            | Payload::Message { room_id, .. }
            | Payload::Recording { room_id, .. } => room_id.as_deref(),
            Payload::CreateBattle { from_room, .. } => from_room.as_deref(),
            Payload::StartBattle { from, .. } | Payload::EndBattle { from, .. } => {
                from.as_ref().map(|r| r.room_id.as_str())
            }
            Payload::Follow { .. } => None,
        };
        id.filter(|id| !is_blank(id))
    }

    /// Every room this callback touches, each once, in the order named: battles involve
    /// several. Blank ids are left out.
    pub fn room_ids(&self) -> Vec<&str> {
        let mut rooms: Vec<&str> = self.room_id().into_iter().collect();
        let others: Vec<&str> = match &self.payload {
            Payload::CreateBattle { to_rooms, .. } => to_rooms.iter().map(String::as_str).collect(),
            Payload::StartBattle { to, .. } | Payload::EndBattle { to, .. } => {
                to.iter().map(|r| r.room_id.as_str()).collect()
            }
            // One room at most: nothing to merge (this runs for every callback).
            _ => return rooms,
        };
        // Lists are capped (see `limits`), so a set is cheap; repeats need not be adjacent.
        let mut seen: std::collections::HashSet<&str> = rooms.iter().copied().collect();
        for id in others {
            if !is_blank(id) && seen.insert(id) {
                rooms.push(id);
            }
        }
        rooms
    }
}

/// Empty or whitespace only: no id at all.
pub fn is_blank(id: &str) -> bool {
    id.trim().is_empty()
}

/// Builds the typed callback for a known command from its JSON object.
pub fn parse_callback(command: Command, body: &Object<'_>) -> Callback {
    let f = Fields(body);
    let payload = match command {
        Command::CreateRoom | Command::RoomCreateRoom => Payload::CreateRoom(
            f.object("RoomInfo")
                .map(RoomInfo::parse)
                .unwrap_or_default(),
        ),
        Command::UpdateRoomInfo | Command::RoomUpdateRoomInfo => Payload::UpdateRoomInfo(
            f.object("RoomInfo")
                .map(RoomInfo::parse)
                .unwrap_or_default(),
        ),
        Command::DestroyRoom | Command::RoomDestroyRoom => Payload::DestroyRoom {
            room_id: f.string("RoomId"),
            cause: f.string("EventType"),
            room: f.object("RoomInfo").map(RoomInfo::parse),
            statistic: f.object("Statistic").map(|s| Statistic {
                total_viewers: s.int("TotalViewers"),
                total_gifts_sent: s.int("TotalGiftsSent"),
                total_gift_coins: s.int("TotalGiftCoins"),
                total_unique_gift_senders: s.int("TotalUniqueGiftSenders"),
                total_likes_received: s.int("TotalLikesReceived"),
            }),
        },
        Command::SetMetadata => Payload::SetMetadata {
            room_id: f.string("RoomId"),
            pairs: f
                .objects("Metadata")
                .into_iter()
                .filter_map(|pair| {
                    Some((
                        pair.string("Key")?,
                        pair.string("Value").unwrap_or_default(),
                    ))
                })
                .collect(),
        },
        Command::DelMetadata => Payload::DelMetadata {
            room_id: f.string("RoomId"),
            keys: f.strings("Keys").unwrap_or_default(),
        },
        Command::CreateRoomReachingThreshold => Payload::Threshold {
            room_id: f.string("RoomId"),
            current: f.int("CurRoomCount"),
            max: f.int("MaxRoomCount"),
        },
        Command::MemberStateChanged => Payload::MemberState {
            room_id: f.string("RoomId"),
            online: f.text("EventType").and_then(online_from),
            cause: f.string("EventCause"),
            members: members(f),
        },
        Command::RoomMemberEnter | Command::RoomMemberLeave => {
            let cause = f.string("Type");
            Payload::MemberState {
                room_id: f.string("RoomId"),
                online: Some(command == Command::RoomMemberEnter),
                cause,
                members: f.strings("MemberList_Account").unwrap_or_default(),
            }
        }
        Command::ChangeOwner => Payload::ChangeOwner {
            room_id: f.string("RoomId"),
            current: f.string("CurrentOwner_Account"),
            original: f.string("OriginalOwner_Account"),
        },
        Command::ModifyAdmin => Payload::ModifyAdmin {
            room_id: f.string("RoomId"),
            admins: f.strings("Admin_Account").unwrap_or_default(),
            op: f
                .string("opType")
                .and_then(|op| match op.to_ascii_lowercase().as_str() {
                    "add" | "0" => Some(AdminOp::Add),
                    "delete" | "del" | "remove" | "1" => Some(AdminOp::Delete),
                    _ => None,
                }),
        },
        Command::SeatInfoChanged => Payload::SeatInfo {
            room_id: f.string("RoomId"),
            seats: f
                .objects("SeatList")
                .into_iter()
                .filter_map(|seat| {
                    Some(Seat {
                        index: seat.int("Index")?,
                        member: seat.string("Member_Account").filter(|m| !m.is_empty()),
                        locked: seat.bool("IsTakenDisabled"),
                        video_disabled: seat.bool("IsVideoDisabled"),
                        audio_disabled: seat.bool("IsAudioDisabled"),
                    })
                })
                .collect(),
        },
        Command::CreateBattle => Payload::CreateBattle {
            battle_id: f.string("BattleId"),
            from_room: f.string("FromRoomId"),
            to_rooms: f.strings("ToRoomIdList").unwrap_or_default(),
            timeout_ms: f.int("Timeout"),
            duration_ms: f.int("Duration"),
            need_response: f.bool("NeedResponse"),
        },
        Command::StartBattle => Payload::StartBattle {
            battle_id: f.string("BattleId"),
            duration_ms: f.int("Duration"),
            start_time_s: f.int("StartTime"),
            from: battle_from(f),
            to: battle_rooms(f),
        },
        Command::EndBattle => Payload::EndBattle {
            battle_id: f.string("BattleId"),
            end_time_s: f.int("EndTime"),
            reason: f.int("OpType"),
            from: battle_from(f),
            to: battle_rooms(f),
        },
        Command::BeforeSendGift | Command::BeforeCallBackNotBlock => {
            let gift = f.object("GiftWater");
            Payload::Gift {
                room_id: f.string("RoomId"),
                from: gift.and_then(|g| g.string("From_Account")),
                to: gift
                    .and_then(|g| g.strings("To_Account"))
                    .unwrap_or_default(),
                gift_id: gift.and_then(|g| g.string("GiftId")),
                count: gift.and_then(|g| g.int("Count")),
                coins: gift.and_then(|g| g.int("Coins")),
            }
        }
        Command::BeforeSendMsg | Command::AfterSendMsg => Payload::Message {
            room_id: f.string("GroupId").or_else(|| f.string("RoomId")),
            before: command == Command::BeforeSendMsg,
            from: f.string("From_Account"),
            msg_seq: f.int("MsgSeq"),
            summary: message_summary(f),
        },
        Command::FollowAdd => Payload::Follow {
            add: true,
            from: f.string("From_Account"),
            to: f
                .list("FollowList")
                .filter_map(|item| match item {
                    Json::Object(o) => Fields(o).string("To_Account"),
                    other => as_string(other),
                })
                .collect(),
        },
        Command::FollowDelete => Payload::Follow {
            add: false,
            from: f.string("From_Account"),
            to: f.strings("To_Account").unwrap_or_default(),
        },
        Command::CloudRecordingChanged => {
            let info = f.object("EventInfo");
            Payload::Recording {
                room_id: info
                    .and_then(|i| i.string("RoomId"))
                    .or_else(|| f.string("RoomId")),
                user_id: info.and_then(|i| i.string("UserId")),
                task_id: info.and_then(|i| i.string("TaskId")),
                event_type: f.int("EventType"),
                status: info
                    .and_then(|i| i.object("Payload"))
                    .and_then(|p| p.int("Status")),
            }
        }
    };
    Callback {
        command,
        operator: f.string("Operator_Account"),
        event_time_ms: event_time_ms(f),
        payload,
    }
}

fn online_from(event_type: &str) -> Option<bool> {
    let is = |name: &str| event_type.eq_ignore_ascii_case(name);
    if is("online") || is("enter") {
        Some(true)
    } else if is("offline") || is("leave") {
        Some(false)
    } else {
        None
    }
}

fn members(f: Fields<'_>) -> Vec<String> {
    f.list("MemberList")
        .filter_map(|item| match item {
            Json::Object(o) => Fields(o).string("Member_Account"),
            other => as_string(other),
        })
        .collect()
}

fn battle_room(f: Fields<'_>) -> Option<BattleRoom> {
    Some(BattleRoom {
        room_id: f.string("RoomId")?,
        owner: f.string("Owner_Account"),
        score: f.int("Score"),
    })
}

fn battle_from(f: Fields<'_>) -> Option<BattleRoom> {
    f.object("FromRoomInfo").and_then(battle_room)
}

fn battle_rooms(f: Fields<'_>) -> Vec<BattleRoom> {
    f.objects("ToRoomList")
        .into_iter()
        .filter_map(battle_room)
        .collect()
}

fn message_summary(f: Fields<'_>) -> Option<String> {
    let elements = f.objects("MsgBody");
    let texts: Vec<String> = elements
        .iter()
        .filter_map(|e| e.object("MsgContent").and_then(|c| c.string("Text")))
        .collect();
    if !texts.is_empty() {
        return Some(texts.join(" "));
    }
    let kinds: Vec<String> = elements
        .iter()
        .filter_map(|e| e.string("MsgType"))
        .collect();
    (!kinds.is_empty()).then(|| kinds.join(", "))
}

/// `EventTime` wherever a payload puts it, in milliseconds. Values that look like seconds
/// (before the year 5138 in ms terms) are scaled, since some samples mix the two.
fn event_time_ms(f: Fields<'_>) -> Option<i64> {
    let raw = f
        .int("EventTime")
        .or_else(|| f.object("RoomInfo").and_then(|r| r.int("EventTime")))
        .or_else(|| f.int("CallbackTs"))
        .or_else(|| f.object("EventInfo").and_then(|i| i.int("EventMsTs")))
        .or_else(|| f.object("GiftWater").and_then(|g| g.int("Time")))?;
    let ms = if raw.unsigned_abs() < 100_000_000_000 {
        raw.saturating_mul(1000)
    } else {
        raw
    };
    // A time before 1970 or after 3000 is no time at all: leave it unknown, so the event is
    // ordered by its arrival instead.
    (0..=LATEST_PLAUSIBLE_MS).contains(&ms).then_some(ms)
}

/// 3000-01-01T00:00:00Z in Unix milliseconds.
const LATEST_PLAUSIBLE_MS: i64 = 32_503_680_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_modes_and_member_events_match_ignoring_case() {
        assert_eq!(SeatMode::parse("freetotake"), SeatMode::FreeToTake);
        assert_eq!(SeatMode::parse("APPLYTOTAKE"), SeatMode::ApplyToTake);
        assert_eq!(SeatMode::parse("None"), SeatMode::None);
        assert_eq!(
            SeatMode::parse("Lottery"),
            SeatMode::Other("Lottery".into())
        );
        assert_eq!(online_from("ENTER"), Some(true));
        assert_eq!(online_from("Offline"), Some(false));
        assert_eq!(online_from("kicked"), None);
    }
}
