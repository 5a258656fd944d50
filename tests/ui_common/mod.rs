//! Helpers for the dashboard tests: events built by the real parser, keys, and rendering.
#![allow(dead_code, clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use roomwatch::event::Event;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};
use roomwatch::runner::RunInfo;
use roomwatch::store::LogEntry;
use roomwatch::tui::app::{App, Msg, update};
use serde_json::Value;
use tokio::sync::broadcast;

/// Fixed clock for every screen: 2025-01-01T00:30:00Z.
pub const NOW_MS: i64 = 1_735_691_400_000;
/// When the fake dashboard started (uptime 2m30s at NOW_MS).
pub const STARTED_MS: i64 = NOW_MS - 150_000;

pub const UPDATE_SEED: &str = include_str!("../../assets/seed/update-room-info.json");
pub const ADMIN_SEED: &str = include_str!("../../assets/seed/modify-admin.json");

pub fn info() -> RunInfo {
    RunInfo {
        listen: "127.0.0.1:9000".parse().unwrap(),
        sdkappids: vec!["1400000001".into()],
        token_auth: false,
        demo: false,
        zone: roomwatch::tui::zone::Zone::UTC,
        no_color: false,
        journal: roomwatch::runner::JournalInfo::Off,
        nats: None,
    }
}

/// The event the receiver records for `body` posted with `query` (the receiver's own judge).
pub fn event(query: &str, body: &str, received_at_ms: i64) -> Event {
    let arrival = Arrival {
        method: "POST".into(),
        path: "/callback".into(),
        raw_query: query.to_string(),
        content_type: Some("application/json".into()),
        remote: Some("127.0.0.1:40000".into()),
        received_at_ms,
    };
    let open = AuthConfig {
        window_s: 60,
        ..AuthConfig::default()
    };
    intake::judge(arrival, BodyRead::Complete(body.as_bytes().to_vec()), &open)
}

pub fn seed_events() -> Vec<Event> {
    vec![
        event(
            "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterUpdateRoomInfo",
            UPDATE_SEED,
            NOW_MS - 20_000,
        ),
        event(
            "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterModifyAdmin",
            ADMIN_SEED,
            NOW_MS - 10_000,
        ),
    ]
}

/// A create-room body for a room with this id and name, at this event time.
pub fn create_room(id: &str, name: &str, owner: &str, event_ms: i64) -> String {
    serde_json::json!({
        "CallbackCommand": "Live.CallbackAfterCreateRoom",
        "Operator_Account": owner,
        "RoomInfo": {
            "RoomId": id,
            "RoomName": name,
            "RoomType": "Live",
            "Owner_Account": owner,
            "MaxMemberCount": 1000,
            "IsSeatEnabled": true,
            "MaxSeatCount": 8,
            "TakeSeatMode": if event_ms % 2 == 0 { "ApplyToTake" } else { "FreeToTake" },
            "IsPublicVisible": event_ms % 3 != 0,
        },
        "EventTime": event_ms,
    })
    .to_string()
}

pub fn destroy_room(id: &str, event_ms: i64) -> String {
    serde_json::json!({
        "CallbackCommand": "Live.CallbackAfterDestroyRoom",
        "Operator_Account": "system",
        "RoomId": id,
        "EventType": "DestroyByUser",
        "EventTime": event_ms,
    })
    .to_string()
}

pub fn members(id: &str, who: &[&str], event_ms: i64) -> String {
    serde_json::json!({
        "CallbackCommand": "Live.CallbackAfterMemberStateChanged",
        "RoomId": id,
        "EventType": "Online",
        "EventCause": "Enter",
        "MemberList": who.iter().map(|m| serde_json::json!({"Member_Account": m})).collect::<Vec<_>>(),
        "EventTime": event_ms,
    })
    .to_string()
}

/// Posts (as the receiver would) a body with its command in the query.
pub fn publish(hub: &Hub, body: &str, received_at_ms: i64) {
    let command = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("CallbackCommand")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    hub.publish(event(
        &format!("SdkAppid=1400000001&CallbackCommand={command}"),
        body,
        received_at_ms,
    ));
}

/// [`publish`] for another app: the same body posted with that `SdkAppid`.
pub fn publish_for(hub: &Hub, sdkappid: &str, body: &str, received_at_ms: i64) {
    let command = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("CallbackCommand")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    hub.publish(event(
        &format!("SdkAppid={sdkappid}&CallbackCommand={command}"),
        body,
        received_at_ms,
    ));
}

pub const FIRST_APP: &str = "1400000001";
pub const SECOND_APP: &str = "1400000002";

/// Two apps with a RoomId in common: live_1 under both (named apart, members only in the
/// second's), live_2 only in the first (ended), live_3 only in the second.
pub fn two_apps(hub: &Hub) {
    let at = |s: i64| NOW_MS - 300_000 + s * 1_000;
    let rooms = [
        (FIRST_APP, "live_1", "Jazz of the first app", "host_a"),
        (SECOND_APP, "live_1", "Jazz of the second app", "host_b"),
        (FIRST_APP, "live_2", "Talk", "host_c"),
        (SECOND_APP, "live_3", "Games", "host_d"),
    ];
    for (i, (app, id, name, owner)) in rooms.into_iter().enumerate() {
        let t = at(10 * i as i64);
        publish_for(hub, app, &create_room(id, name, owner, t), t);
    }
    publish_for(
        hub,
        SECOND_APP,
        &members("live_1", &["mei", "kai", "lin"], at(50)),
        at(50),
    );
    publish_for(hub, FIRST_APP, &destroy_room("live_2", at(60)), at(60));
}

/// Run information for a roomwatch watching both apps.
pub fn info_two_apps() -> RunInfo {
    RunInfo {
        sdkappids: vec![FIRST_APP.into(), SECOND_APP.into()],
        ..info()
    }
}

/// 40 rooms, a few ended, some with members, plus one rejected and one unrecognized callback.
pub fn many_rooms(hub: &Hub) {
    for i in 0..40_i64 {
        let at = NOW_MS - 600_000 + i * 10_000;
        publish(
            hub,
            &create_room(
                &format!("room-{i:03}"),
                &format!("Room number {i}"),
                &format!("host{i}"),
                at,
            ),
            at,
        );
        if i % 7 == 3 {
            publish(
                hub,
                &destroy_room(&format!("room-{i:03}"), at + 5_000),
                at + 5_000,
            );
        }
        if i % 5 == 0 {
            publish(
                hub,
                &members(&format!("room-{i:03}"), &["viewer1", "viewer2"], at + 1_000),
                at + 1_000,
            );
        }
    }
    hub.publish(event("SdkAppid=1400000001", "{not json", NOW_MS - 5_000));
    hub.publish(event(
        "SdkAppid=1400000001",
        r#"{"CallbackCommand":"Trtc.CallbackAfterSomething","RoomId":"room-039"}"#,
        NOW_MS - 4_000,
    ));
}

/// A dashboard over the hub's current state, at the fixed clock.
pub fn app(hub: &Hub, width: u16, height: u16) -> App {
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (width, height));
    update(&mut app, Msg::Tick(NOW_MS));
    app
}

/// Hands everything queued on `rx` to the app, as the run loop would.
pub fn drain(app: &mut App, rx: &mut broadcast::Receiver<LogEntry>) {
    while let Ok(entry) = rx.try_recv() {
        update(app, Msg::Bus(entry));
    }
}

pub fn key(app: &mut App, code: KeyCode) {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The screen as text, one quoted line per row.
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    app.size = (width, height);
    app.prepare();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| roomwatch::tui::ui::draw(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

pub fn buffer(app: &mut App, width: u16, height: u16) -> ratatui::buffer::Buffer {
    app.size = (width, height);
    app.prepare();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| roomwatch::tui::ui::draw(frame, app))
        .unwrap();
    terminal.backend().buffer().clone()
}
