//! Parsing: every sample, the documented variants and quirks, and bad input.
#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;
use roomwatch::protocol::samples::SAMPLES;
use roomwatch::protocol::{self, AdminOp, Command, Payload, Rejection, SeatMode};

#[test]
fn every_sample_parses_to_its_typed_callback() {
    assert_eq!(
        SAMPLES.len(),
        Command::all().count(),
        "one sample per command"
    );
    for sample in SAMPLES {
        let parsed = protocol::parse(Some(sample.command), sample.json.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", sample.command));
        let callback = parsed
            .callback
            .unwrap_or_else(|| panic!("{} not typed", sample.command));
        assert_eq!(Command::from_name(sample.command), Some(callback.command));
        insta::assert_debug_snapshot!(sample.command, callback);
    }
}

#[test]
fn every_command_has_a_sample() {
    for command in Command::all() {
        assert!(
            roomwatch::protocol::samples::find(command.name()).is_some(),
            "no sample for {command}"
        );
    }
}

#[test]
fn the_body_command_is_used_when_the_query_has_none() {
    let body = br#"{"CallbackCommand":"Live.CallbackMemberStateChanged","RoomId":"r1","EventType":"Online","EventCause":"Enter","MemberList":[{"Member_Account":123}],"EventTime":"1735691000321"}"#;
    let parsed = protocol::parse(None, body).unwrap();
    let callback = parsed.callback.unwrap();
    assert_eq!(callback.command, Command::MemberStateChanged);
    assert_eq!(callback.event_time_ms, Some(1_735_691_000_321));
    assert_eq!(
        callback.payload,
        Payload::MemberState {
            room_id: Some("r1".into()),
            online: Some(true),
            cause: Some("Enter".into()),
            members: vec!["123".into()],
        }
    );
}

#[test]
fn name_variants_in_query_and_body_agree() {
    let body = br#"{"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":"r1"}"#;
    assert!(protocol::parse(Some("Live.CallbackMemberStateChanged"), body).is_ok());
    assert!(protocol::parse(Some("live.callbackaftermemberstatechanged"), body).is_ok());
}

#[test]
fn lenient_types_and_key_case() {
    let body = br#"{"CallbackCommand":"Live.CallbackAfterModifyAdmin","RoomId":987,"OpType":"ADD","Admin_Account":"solo","EventTime":1735691300}"#;
    let callback = protocol::parse(None, body).unwrap().callback.unwrap();
    assert_eq!(
        callback.event_time_ms,
        Some(1_735_691_300_000),
        "seconds scaled to ms"
    );
    assert_eq!(
        callback.payload,
        Payload::ModifyAdmin {
            room_id: Some("987".into()),
            admins: vec!["solo".into()],
            op: Some(AdminOp::Add),
        }
    );
    let body = br#"{"CallbackCommand":"Room.CallbackAfterUpdateRoomInfo","RoomInfo":{"RoomId":"m","IsMessageDisabled":"true","TakeSeatMode":"applytotake"}}"#;
    let Payload::UpdateRoomInfo(info) = protocol::parse(None, body)
        .unwrap()
        .callback
        .unwrap()
        .payload
    else {
        panic!("not an update");
    };
    assert_eq!(info.message_disabled, Some(true));
    assert_eq!(info.seat_mode, Some(SeatMode::ApplyToTake));
    assert_eq!(info.name, None, "absent fields stay unknown");
    assert_eq!(info.public, None);
}

#[test]
fn unknown_commands_and_commandless_bodies_are_unrecognized() {
    let parsed =
        protocol::parse(Some("Live.CallbackAfterSomethingNew"), br#"{"RoomId":"r"}"#).unwrap();
    assert_eq!(
        parsed.command_name.as_deref(),
        Some("Live.CallbackAfterSomethingNew")
    );
    assert!(parsed.callback.is_none());
    let trtc = br#"{"EventGroupId":1,"EventType":103,"CallbackTs":1735696900000,"EventInfo":{"RoomId":"12345","UserId":"u"}}"#;
    let parsed = protocol::parse(None, trtc).unwrap();
    assert!(parsed.command_name.is_none());
    assert!(parsed.callback.is_none());
}

#[test]
fn bad_bodies_are_rejected_with_their_reason() {
    assert_eq!(protocol::parse(None, b""), Err(Rejection::EmptyBody));
    assert_eq!(protocol::parse(None, b" \n\t"), Err(Rejection::EmptyBody));
    // The docs' own sample with its missing comma.
    let broken = b"{\"RoomInfo\":{\"RoomId\":\"r\"}\n\"EventTime\":1}";
    match protocol::parse(None, broken) {
        Err(Rejection::NotJson {
            line,
            column,
            message,
        }) => {
            assert_eq!((line, column), (2, 1));
            assert!(message.contains("expected"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        protocol::parse(None, b"[1,2]"),
        Err(Rejection::NotObject {
            found: "array".into()
        })
    );
    assert_eq!(
        protocol::parse(None, b"null"),
        Err(Rejection::NotObject {
            found: "null".into()
        })
    );
    assert!(matches!(
        protocol::parse(
            Some("Live.CallbackAfterCreateRoom"),
            br#"{"CallbackCommand":"Live.CallbackAfterDestroyRoom"}"#
        ),
        Err(Rejection::CommandMismatch { .. })
    ));
    assert!(matches!(
        protocol::parse(None, &[0xff, 0xfe, b'{']),
        Err(Rejection::NotJson { .. })
    ));
}

/// Arbitrary JSON values, to feed odd types into every field.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1)].prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("RoomId".to_string()),
                    Just("RoomInfo".to_string()),
                    Just("MemberList".to_string()),
                    Just("SeatList".to_string()),
                    Just("EventTime".to_string()),
                    Just("Admin_Account".to_string()),
                    Just("FromRoomInfo".to_string()),
                    Just("ToRoomList".to_string()),
                    Just("GiftWater".to_string()),
                    Just("Metadata".to_string()),
                    Just("Count".to_string()),
                    Just("Coins".to_string()),
                    Just("Time".to_string()),
                    "[A-Za-z_]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), command in prop::option::of(".{0,40}")) {
        let _ = protocol::parse(command.as_deref(), &bytes);
    }

    #[test]
    fn odd_field_types_never_panic(value in any_json(), command_index in 0usize..25) {
        let command = Command::all().nth(command_index % Command::all().count()).unwrap();
        let mut object = match value {
            serde_json::Value::Object(map) => map,
            other => {
                let mut map = serde_json::Map::new();
                map.insert("RoomInfo".into(), other);
                map
            }
        };
        object.insert("CallbackCommand".into(), command.name().into());
        let bytes = serde_json::to_vec(&object).unwrap();
        let parsed = protocol::parse(None, &bytes).unwrap();
        prop_assert_eq!(parsed.callback.as_ref().map(|c| c.command), Some(command));
        // Whatever the types, folding the callback into state must not panic either.
        let mut store = roomwatch::store::RoomStore::new(4);
        store.apply(common::event(1, 0, &serde_json::Value::Object(object)));
    }
}
