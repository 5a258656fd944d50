//! The callback command names Tencent sends, with the spellings the docs disagree on.

use std::fmt;

/// Every callback command roomwatch understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    CreateRoom,
    DestroyRoom,
    UpdateRoomInfo,
    SetMetadata,
    DelMetadata,
    CreateRoomReachingThreshold,
    MemberStateChanged,
    ChangeOwner,
    ModifyAdmin,
    SeatInfoChanged,
    CreateBattle,
    StartBattle,
    EndBattle,
    BeforeSendGift,
    BeforeCallBackNotBlock,
    BeforeSendMsg,
    AfterSendMsg,
    FollowAdd,
    FollowDelete,
    CloudRecordingChanged,
    RoomCreateRoom,
    RoomDestroyRoom,
    RoomUpdateRoomInfo,
    RoomMemberEnter,
    RoomMemberLeave,
}

/// Canonical name first; the other spellings seen in the docs follow.
const NAMES: &[(Command, &[&str])] = &[
    (Command::CreateRoom, &["Live.CallbackAfterCreateRoom"]),
    (Command::DestroyRoom, &["Live.CallbackAfterDestroyRoom"]),
    (
        Command::UpdateRoomInfo,
        &["Live.CallbackAfterUpdateRoomInfo"],
    ),
    (Command::SetMetadata, &["Live.CallbackAfterSetMetadata"]),
    (Command::DelMetadata, &["Live.CallbackAfterDelMetadata"]),
    (
        Command::CreateRoomReachingThreshold,
        &["Live.CallbackAfterCreateRoomReachingThreshold"],
    ),
    (
        Command::MemberStateChanged,
        &[
            "Live.CallbackAfterMemberStateChanged",
            "Live.CallbackMemberStateChanged",
        ],
    ),
    (Command::ChangeOwner, &["Live.CallbackAfterChangeOwner"]),
    (Command::ModifyAdmin, &["Live.CallbackAfterModifyAdmin"]),
    (
        Command::SeatInfoChanged,
        &["Mic.CallbackAfterSeatInfoChanged"],
    ),
    (Command::CreateBattle, &["Live.CallbackAfterCreateBattle"]),
    (Command::StartBattle, &["Live.CallbackAfterStartBattle"]),
    (Command::EndBattle, &["Live.CallbackAfterEndBattle"]),
    (Command::BeforeSendGift, &["Live.CallbackBeforeSendGift"]),
    (
        Command::BeforeCallBackNotBlock,
        &["Live.CallbackBeforeCallBackNotBlock"],
    ),
    (Command::BeforeSendMsg, &["Group.CallbackBeforeSendMsg"]),
    (Command::AfterSendMsg, &["Group.CallbackAfterSendMsg"]),
    (Command::FollowAdd, &["Follow.CallbackAfterFollowAdd"]),
    (Command::FollowDelete, &["Follow.CallbackAfterFollowDelete"]),
    (
        Command::CloudRecordingChanged,
        &[
            "Live.CallbackAfterCloudRecordingChanged",
            "Follow.CallbackAfterCloudRecordingChanged",
        ],
    ),
    (Command::RoomCreateRoom, &["Room.CallbackAfterCreateRoom"]),
    (Command::RoomDestroyRoom, &["Room.CallbackAfterDestroyRoom"]),
    (
        Command::RoomUpdateRoomInfo,
        &[
            "Room.CallbackAfterUpdateRoomInfo",
            "Room.CallbackUpdateRoomInfo",
        ],
    ),
    (Command::RoomMemberEnter, &["Room.CallbackAfterMemberEnter"]),
    (Command::RoomMemberLeave, &["Room.CallbackAfterMemberLeave"]),
];

impl Command {
    /// Looks a command up by any of its spellings, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        NAMES
            .iter()
            .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(command, _)| *command)
    }

    /// The name the current docs use.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(command, _)| *command == self)
            .map_or("?", |(_, names)| names[0])
    }

    /// All commands, in catalog order.
    pub fn all() -> impl Iterator<Item = Self> {
        NAMES.iter().map(|(command, _)| *command)
    }

    /// "Before" callbacks ask the app to allow or deny an action; roomwatch always allows.
    pub fn is_before(self) -> bool {
        matches!(
            self,
            Self::BeforeSendGift | Self::BeforeCallBackNotBlock | Self::BeforeSendMsg
        )
    }

    /// A label of at most 14 characters for the log's command column. "Before" callbacks keep
    /// the word, so a message's before and after callbacks read apart.
    pub fn short(self) -> &'static str {
        match self {
            Self::CreateRoom | Self::RoomCreateRoom => "CreateRoom",
            Self::DestroyRoom | Self::RoomDestroyRoom => "DestroyRoom",
            Self::UpdateRoomInfo | Self::RoomUpdateRoomInfo => "UpdateRoomInfo",
            Self::SetMetadata => "SetMetadata",
            Self::DelMetadata => "DelMetadata",
            Self::CreateRoomReachingThreshold => "RoomThreshold",
            Self::MemberStateChanged => "MemberState",
            Self::RoomMemberEnter => "MemberEnter",
            Self::RoomMemberLeave => "MemberLeave",
            Self::ChangeOwner => "ChangeOwner",
            Self::ModifyAdmin => "ModifyAdmin",
            Self::SeatInfoChanged => "SeatInfo",
            Self::CreateBattle => "CreateBattle",
            Self::StartBattle => "StartBattle",
            Self::EndBattle => "EndBattle",
            Self::BeforeSendGift => "BeforeSendGift",
            Self::BeforeCallBackNotBlock => "GiftNotBlock",
            Self::BeforeSendMsg => "BeforeSendMsg",
            Self::AfterSendMsg => "SendMsg",
            Self::FollowAdd => "FollowAdd",
            Self::FollowDelete => "FollowDelete",
            Self::CloudRecordingChanged => "Recording",
        }
    }
}

/// Shortens any command name, known or not, for the log's command column.
pub fn short_name(name: &str) -> &str {
    if let Some(command) = Command::from_name(name) {
        return command.short();
    }
    let tail = name.rsplit_once('.').map_or(name, |(_, t)| t);
    for prefix in ["CallbackAfter", "CallbackBefore", "Callback"] {
        if let Some(rest) = tail.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return rest;
        }
    }
    tail
}

impl serde::Serialize for Command {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Command {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown command {name:?}")))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for command in Command::all() {
            assert_eq!(Command::from_name(command.name()), Some(command));
        }
    }

    #[test]
    fn variants_and_case_are_accepted() {
        assert_eq!(
            Command::from_name("live.callbackmemberstatechanged"),
            Some(Command::MemberStateChanged)
        );
        assert_eq!(
            Command::from_name("Follow.CallbackAfterCloudRecordingChanged"),
            Some(Command::CloudRecordingChanged)
        );
        assert_eq!(Command::from_name("Live.CallbackAfterNothing"), None);
    }

    #[test]
    fn short_names() {
        assert_eq!(Command::UpdateRoomInfo.short(), "UpdateRoomInfo");
        assert_eq!(Command::BeforeSendGift.short(), "BeforeSendGift");
        assert_eq!(short_name("Group.CallbackAfterSendMsg"), "SendMsg");
        assert_eq!(short_name("Live.CallbackAfterSomethingNew"), "SomethingNew");
        assert!(Command::all().all(|c| c.short().len() <= 14));
        assert_eq!(short_name("Trtc.Event"), "Event");
    }
}
