//! The built-in sample payloads from `assets/callbacks/`, one per command, embedded in the
//! binary for `roomwatch send` and the demo.

/// A sample callback body.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub command: &'static str,
    pub json: &'static str,
}

macro_rules! samples {
    ($($name:literal),* $(,)?) => {
        &[$(Sample { command: $name, json: include_str!(concat!("../../assets/callbacks/", $name, ".json")) }),*]
    };
}

/// Every sample, sorted by command name.
pub const SAMPLES: &[Sample] = samples![
    "Follow.CallbackAfterFollowAdd",
    "Follow.CallbackAfterFollowDelete",
    "Group.CallbackAfterSendMsg",
    "Group.CallbackBeforeSendMsg",
    "Live.CallbackAfterChangeOwner",
    "Live.CallbackAfterCloudRecordingChanged",
    "Live.CallbackAfterCreateBattle",
    "Live.CallbackAfterCreateRoom",
    "Live.CallbackAfterCreateRoomReachingThreshold",
    "Live.CallbackAfterDelMetadata",
    "Live.CallbackAfterDestroyRoom",
    "Live.CallbackAfterEndBattle",
    "Live.CallbackAfterMemberStateChanged",
    "Live.CallbackAfterModifyAdmin",
    "Live.CallbackAfterSetMetadata",
    "Live.CallbackAfterStartBattle",
    "Live.CallbackAfterUpdateRoomInfo",
    "Live.CallbackBeforeCallBackNotBlock",
    "Live.CallbackBeforeSendGift",
    "Mic.CallbackAfterSeatInfoChanged",
    "Room.CallbackAfterCreateRoom",
    "Room.CallbackAfterDestroyRoom",
    "Room.CallbackAfterMemberEnter",
    "Room.CallbackAfterMemberLeave",
    "Room.CallbackAfterUpdateRoomInfo",
];

/// The sample for a command, matched ignoring ASCII case and the docs' name variants.
pub fn find(command: &str) -> Option<&'static Sample> {
    let wanted = crate::protocol::Command::from_name(command);
    SAMPLES.iter().find(|s| {
        s.command.eq_ignore_ascii_case(command.trim())
            || (wanted.is_some() && crate::protocol::Command::from_name(s.command) == wanted)
    })
}
