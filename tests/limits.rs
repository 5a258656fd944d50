//! Memory and trust bounds: refused bodies, the log's byte budget, per-callback limits, the
//! room cap and its eviction order, clock skew, and the odd ids (blank, huge, repeated).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use roomwatch::event::Verdict;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};
use roomwatch::outputs::headless;
use roomwatch::protocol::limits::{MAX_ACCOUNTS, MAX_BATTLE_ROOMS};
use roomwatch::rawbody::REFUSED_BODY_KEPT;
use roomwatch::store::{BattleKey, Effect, LogEntry, RoomKey, RoomStore, StoreLimits, known};
use roomwatch::tui::app::event_view;
use serde_json::{Value, json};

const T0: i64 = 1_763_000_000_000;

fn judge(query: &str, body: Vec<u8>, at_ms: i64) -> roomwatch::event::Event {
    let arrival = Arrival {
        method: "POST".into(),
        path: "/callback".into(),
        raw_query: query.into(),
        content_type: Some("application/json".into()),
        remote: None,
        received_at_ms: at_ms,
    };
    let open = AuthConfig {
        window_s: 60,
        ..AuthConfig::default()
    };
    intake::judge(arrival, BodyRead::Complete(body), &open)
}

fn create(room: &Value, time: i64) -> Value {
    json!({"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"op",
           "RoomInfo":{"RoomId":room,"RoomName":"n"},"EventTime":time})
}

fn destroy(room: &str, time: i64) -> Value {
    json!({"CallbackCommand":"Live.CallbackAfterDestroyRoom","RoomId":room,"EventTime":time})
}

fn line(entry: &LogEntry) -> Value {
    serde_json::from_str(&headless::line(entry)).unwrap()
}

#[tokio::test]
async fn refused_megabyte_bodies_keep_only_their_first_bytes() {
    let server = common::start_server(Some("1400000001"), Some("secret"), 2 << 20).await;
    let body = format!("[{}0]", "0,".repeat((1 << 20) / 2 - 2));
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let status = client
            .post(format!("{}/callback?SdkAppid=999", server.base))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403);
    }
    server.hub.read(|store| {
        assert_eq!(store.log().len(), 20);
        for entry in store.log() {
            assert_eq!(entry.event.verdict, Verdict::Rejected);
            assert_eq!(entry.event.body_len, body.len());
            assert_eq!(entry.event.raw_body.len(), REFUSED_BODY_KEPT);
            assert!(entry.event.body_cut());
        }
        // 20 MiB arrived; the log holds a few KiB per event.
        assert!(
            store.log_bytes() < 20 * 3 * REFUSED_BODY_KEPT,
            "{}",
            store.log_bytes()
        );
    });
}

#[test]
fn the_log_is_bounded_by_bytes_as_well_as_by_count() {
    let limits = StoreLimits {
        history: 1_000,
        history_bytes: 200_000,
        max_rooms: 100,
        ..StoreLimits::default()
    };
    let mut store = RoomStore::with_limits(limits);
    let pad = "x".repeat(10_000);
    for i in 0..100 {
        let body = json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo",
            "RoomInfo":{"RoomId":"r1","CustomInfo":pad},"EventTime":T0 + i});
        store.apply(common::event(i as u64 + 1, T0 + i, &body));
        assert!(store.log_bytes() <= 200_000, "{}", store.log_bytes());
    }
    let kept = store.log().len();
    assert!((5..20).contains(&kept), "kept {kept}");
    assert_eq!(
        store.log().back().unwrap().event.seq,
        100,
        "the newest stays"
    );
    assert_eq!(store.dropped_log_entries(), 100 - kept as u64);
    // One event larger than the whole budget is still kept, alone.
    let huge = json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo",
        "RoomInfo":{"RoomId":"r1","CustomInfo":"y".repeat(300_000)},"EventTime":T0 + 500});
    store.apply(common::event(101, T0 + 500, &huge));
    assert_eq!(store.log().len(), 1);
}

#[test]
fn a_battle_listing_a_hundred_thousand_rooms_creates_only_the_first_ones_and_says_so() {
    let rooms: Vec<String> = (0..100_000).map(|i| format!("room_{i}")).collect();
    let body = json!({"CallbackCommand":"Live.CallbackAfterCreateBattle","BattleId":"b1",
        "FromRoomId":"home","ToRoomIdList":rooms,"EventTime":T0});
    let hub = Hub::new(100, 16);
    let event = hub.publish((*common::event(0, T0, &body)).clone());
    assert_eq!(event.trimmed.len(), 1);
    hub.read(|store| {
        assert_eq!(store.rooms().len(), MAX_BATTLE_ROOMS);
        assert_eq!(
            store.battles()[&BattleKey::new("", "b1")].scores.len(),
            MAX_BATTLE_ROOMS
        );
        assert_eq!(store.counters().trimmed, 1);
        let entry = store.log().back().unwrap();
        let summary = roomwatch::tui::ui::summary(entry);
        assert!(
            summary.contains("99937 rooms beyond the first 63 ignored"),
            "{summary}"
        );
        assert_eq!(
            line(entry)["trimmed"][0],
            "99937 rooms beyond the first 63 ignored"
        );
    });
}

#[test]
fn member_lists_are_cut_to_the_per_callback_limit() {
    let members: Vec<Value> = (0..5_000)
        .map(|i| json!({"Member_Account": format!("v{i}")}))
        .collect();
    let body = json!({"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":"r1",
        "EventType":"Online","MemberList":members,"EventTime":T0});
    let mut store = RoomStore::new(10);
    store.apply(common::event(1, T0, &body));
    assert_eq!(store.room_by_id("r1").unwrap().members.len(), MAX_ACCOUNTS);
}

#[test]
fn a_full_store_evicts_the_longest_ended_room_first() {
    let mut store = RoomStore::with_limits(StoreLimits {
        max_rooms: 3,
        ..StoreLimits::default()
    });
    let mut seq = 0;
    let mut send = |store: &mut RoomStore, body: Value| {
        seq += 1;
        store.apply(common::event(seq, T0, &body));
    };
    send(&mut store, create(&json!("a"), T0));
    send(&mut store, create(&json!("b"), T0 + 1));
    send(&mut store, create(&json!("c"), T0 + 2));
    send(&mut store, destroy("c", T0 + 3));
    send(&mut store, destroy("b", T0 + 4));
    send(&mut store, create(&json!("d"), T0 + 5));
    // c ended before b: c goes; the live room a stays although it is older.
    let ids: Vec<&str> = store.rooms().keys().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "d"]);
    assert_eq!(store.counters().evicted_rooms, 1);
    assert_eq!(store.counters().evicted_live_rooms, 0);
    send(&mut store, create(&json!("e"), T0 + 6));
    assert!(!store.rooms().contains_key(&RoomKey::new("", "b")));
    // Only live rooms left: the one whose latest event is oldest goes, and is counted.
    send(&mut store, create(&json!("f"), T0 + 7));
    let ids: Vec<&str> = store.rooms().keys().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["d", "e", "f"]);
    assert_eq!(store.counters().evicted_rooms, 3);
    assert_eq!(store.counters().evicted_live_rooms, 1);
}

/// Far below the cap the eviction order is not kept; it is built when the rooms reach half
/// the cap, and must then rank rooms by what happened to them before as well.
#[test]
fn the_eviction_order_built_at_half_the_cap_ranks_every_earlier_change() {
    let mut store = RoomStore::with_limits(StoreLimits {
        max_rooms: 20,
        ..StoreLimits::default()
    });
    let mut seq = 0;
    let mut send = |store: &mut RoomStore, body: Value| {
        seq += 1;
        store.apply(common::event(seq, T0, &body));
    };
    let room = |i: i64| json!(format!("r{i:02}"));
    for i in 0..9 {
        send(&mut store, create(&room(i), T0 + i));
    }
    // While the order is not kept: r00..r03 become the freshest, r05 ends.
    for i in 0..4 {
        send(&mut store, create(&room(i), T0 + 100 + i));
    }
    send(&mut store, destroy("r05", T0 + 50));
    for i in 9..20 {
        send(&mut store, create(&room(i), T0 + 200 + i));
    }
    assert_eq!(store.rooms().len(), 20);
    let gone = |store: &RoomStore| {
        (0..30)
            .map(|i| format!("r{i:02}"))
            .filter(|id| !store.rooms().contains_key(&RoomKey::new("", id.as_str())))
            .filter(|id| id.as_str() < "r20")
            .collect::<Vec<_>>()
    };
    // The ended room first, then the live rooms whose latest event is oldest.
    send(&mut store, create(&room(20), T0 + 300));
    assert_eq!(gone(&store), ["r05"]);
    send(&mut store, create(&room(21), T0 + 301));
    send(&mut store, create(&room(22), T0 + 302));
    send(&mut store, create(&room(23), T0 + 303));
    // r00..r03 were refreshed before the order existed: r00 (created first) is still here.
    assert_eq!(gone(&store), ["r04", "r05", "r06", "r07"]);
    send(&mut store, create(&room(24), T0 + 304));
    send(&mut store, create(&room(25), T0 + 305));
    // r08 (created at +8), then r00 (refreshed at +100) before r01 (+101).
    assert_eq!(gone(&store), ["r00", "r04", "r05", "r06", "r07", "r08"]);
    assert_eq!(store.counters().evicted_rooms, 6);
    assert_eq!(store.counters().evicted_live_rooms, 5);
}

#[test]
fn the_header_counts_evicted_rooms() {
    let hub = Hub::with_limits(
        StoreLimits {
            max_rooms: 2,
            ..StoreLimits::default()
        },
        64,
        300_000,
    );
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        hub.publish((*common::event(0, T0, &create(&json!(id), T0 + i as i64))).clone());
    }
    let info = roomwatch::runner::RunInfo {
        listen: "127.0.0.1:9000".parse().unwrap(),
        sdkappids: Vec::new(),
        token_auth: false,
        demo: false,
        zone: roomwatch::tui::zone::Zone::UTC,
        no_color: false,
        journal: roomwatch::runner::JournalInfo::Off,
        nats: None,
    };
    let mut app = roomwatch::tui::app::App::new(info, hub.snapshot(), T0, (120, 20));
    app.prepare();
    let backend = ratatui::backend::TestBackend::new(120, 20);
    let mut terminal = ratatui::Terminal::new(backend).unwrap();
    terminal
        .draw(|frame| roomwatch::tui::ui::draw(frame, &app))
        .unwrap();
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(ratatui::buffer::Cell::symbol)
        .collect();
    assert!(screen.contains("1 evicted (1 live)"), "{screen}");
}

#[test]
fn an_update_dated_2999_does_not_pin_the_room() {
    let hub = Hub::new(100, 16);
    let future = json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo",
        "RoomInfo":{"RoomId":"r1","RoomName":"from the future"},"EventTime":32_472_144_000_000_i64});
    let skewed = hub.publish(judge("", serde_json::to_vec(&future).unwrap(), T0));
    assert!(skewed.clock_skew);
    let genuine = json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo",
        "RoomInfo":{"RoomId":"r1","RoomName":"now"},"EventTime":T0 + 1_000});
    hub.publish(judge("", serde_json::to_vec(&genuine).unwrap(), T0 + 1_000));
    hub.read(|store| {
        let room = store.room_by_id("r1").unwrap();
        assert_eq!(known(&room.name).map(String::as_str), Some("now"));
        let entries: Vec<&LogEntry> = store.log().iter().collect();
        assert_eq!(entries[1].effect, Effect::Applied, "not stale");
        assert_eq!(line(entries[0])["clock_skew"], true);
        assert!(line(entries[1]).get("clock_skew").is_none());
        assert!(roomwatch::tui::ui::summary(entries[0]).contains("[clock-skew"));
    });
    // Within the allowed skew, EventTime is trusted as before.
    let soon = json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo",
        "RoomInfo":{"RoomId":"r2","RoomName":"soon"},"EventTime":T0 + 60_000});
    assert!(
        !hub.publish(judge("", serde_json::to_vec(&soon).unwrap(), T0))
            .clock_skew
    );
}

#[test]
fn a_battle_naming_a_room_twice_apart_is_not_a_duplicate_on_first_delivery() {
    let body = json!({"CallbackCommand":"Live.CallbackAfterCreateBattle","BattleId":"b1",
        "FromRoomId":"a","ToRoomIdList":["b","a","c","b"],"EventTime":T0});
    let mut store = RoomStore::new(10);
    assert_eq!(
        store.apply(common::event(1, T0, &body)),
        Some(Effect::Applied)
    );
    assert_eq!(store.rooms().len(), 3);
    assert_eq!(
        store.apply(common::event(2, T0, &body)),
        Some(Effect::Duplicate)
    );
}

#[test]
fn blank_room_ids_name_no_room() {
    let mut store = RoomStore::new(10);
    for (i, id) in ["", " ", "\t"].into_iter().enumerate() {
        let event = common::event(i as u64 + 1, T0, &create(&json!(id), T0));
        assert_eq!(event.room_id, None);
        assert_eq!(store.apply(event), Some(Effect::NoState));
    }
    let battle = json!({"CallbackCommand":"Live.CallbackAfterCreateBattle","BattleId":"b1",
        "FromRoomId":" ","ToRoomIdList":["", "x"],"EventTime":T0});
    store.apply(common::event(9, T0, &battle));
    let ids: Vec<&str> = store.rooms().keys().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["x"]);
}

#[test]
fn numeric_room_ids_beyond_u64_keep_their_digits() {
    let mut store = RoomStore::new(10);
    for (i, id) in [
        "123456789012345678901234567890",
        "123456789012345678901234567891",
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!(
            r#"{{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomInfo":{{"RoomId":{id}}},"EventTime":{T0}}}"#
        );
        let mut event = judge("", body.into_bytes(), T0);
        event.seq = i as u64 + 1;
        assert_eq!(event.room_id.as_deref(), Some(id));
        store.apply(Arc::new(event));
    }
    let ids: Vec<&str> = store.rooms().keys().map(|k| k.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "123456789012345678901234567890",
            "123456789012345678901234567891"
        ]
    );
}

#[test]
fn a_refused_invalid_utf8_body_keeps_its_bytes_and_shows_them_escaped() {
    let bytes = b"{\"RoomId\":\"r\xff\xfe\"".to_vec();
    let mut store = RoomStore::new(10);
    let mut event = judge("", bytes.clone(), T0);
    event.seq = 1;
    assert_eq!(event.verdict, Verdict::Rejected);
    assert_eq!(event.raw_body.as_ref(), bytes.as_slice());
    store.apply(Arc::new(event));
    let entry = store.log().back().unwrap();
    assert_eq!(line(entry)["body"], "{\"RoomId\":\"r\\xff\\xfe\"");
    let view = event_view(entry);
    assert!(
        view.lines.iter().any(|l| l.contains("r\\xff\\xfe")),
        "{:?}",
        view.lines
    );
}

#[test]
fn ndjson_bodies_are_the_json_as_received_on_one_line() {
    let raw = b"{ \"CallbackCommand\" : \"Live.CallbackAfterCreateRoom\",\n  \"RoomInfo\": {\"RoomId\": \"r1\", \"RoomName\": \"a  b\\n\"},\n  \"EventTime\": 1763000000000.0 }";
    let mut store = RoomStore::new(10);
    let mut event = judge("", raw.to_vec(), T0);
    event.seq = 1;
    store.apply(Arc::new(event));
    let text = headless::line(store.log().back().unwrap());
    assert!(!text.contains('\n'));
    assert!(
        text.ends_with(r#""body":{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomInfo":{"RoomId":"r1","RoomName":"a  b\n"},"EventTime":1763000000000.0}}"#),
        "{text}"
    );
}

#[test]
fn a_lagging_dashboard_resyncs_without_copying_rooms() {
    let hub = Hub::new(100, 16);
    for i in 0..1_000 {
        hub.publish((*common::event(0, T0, &create(&json!(format!("r{i}")), T0 + i))).clone());
    }
    let snapshot = hub.snapshot();
    hub.read(|store| {
        for (id, room) in store.rooms() {
            assert!(
                Arc::ptr_eq(room, &snapshot.rooms()[id]),
                "room {id} was copied"
            );
        }
    });
    // A write after the snapshot copies only the room written, on the writer's side.
    hub.publish((*common::event(0, T0, &destroy("r7", T0 + 5_000))).clone());
    hub.read(|store| {
        assert!(store.room_by_id("r7").unwrap().is_ended());
        assert!(!snapshot.room_by_id("r7").unwrap().is_ended());
        assert!(Arc::ptr_eq(
            &store.rooms()[&RoomKey::new("", "r8")],
            &snapshot.rooms()[&RoomKey::new("", "r8")]
        ));
    });
}
