//! Per-room bounds: members, admins and metadata keys that pile up in one room across many
//! callbacks stay within their caps, and the screen says when a list is partial.
#![allow(clippy::unwrap_used)]

mod common;
mod ui_common;

use crossterm::event::KeyCode;
use roomwatch::hub::Hub;
use roomwatch::store::{RoomLimits, RoomStore, StoreLimits};
use serde_json::{Value, json};

fn presence(room: &str, accounts: &[String], online: bool, time: i64) -> Value {
    json!({"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":room,
        "EventType": if online {"Online"} else {"Offline"},
        "EventCause": if online {"Enter"} else {"Leave"},
        "MemberList": accounts.iter().map(|a| json!({"Member_Account": a})).collect::<Vec<_>>(),
        "EventTime": time})
}

fn capped(members: usize, admins: usize, metadata: usize) -> RoomStore {
    RoomStore::with_limits(StoreLimits {
        per_room: RoomLimits {
            members,
            admins,
            metadata,
        },
        ..StoreLimits::default()
    })
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn the_default_member_cap_holds_against_250k_distinct_accounts() {
    let mut store = RoomStore::with_limits(StoreLimits::default());
    let cap = StoreLimits::default().per_room.members;
    // 250 callbacks of 1,000 fresh accounts each (the per-callback account limit).
    for batch in 0..250 {
        let accounts = names("viewer_", batch * 1_000..(batch + 1) * 1_000);
        let body = presence("big", &accounts, true, 1_735_690_000_000 + batch as i64);
        store.apply(common::event(batch as u64 + 1, 0, &body));
    }
    let room = store.room_by_id("big").unwrap();
    assert_eq!(room.members.len(), cap, "the member map stops at the cap");
    assert_eq!(room.online_count(), cap);
    assert_eq!(room.untracked.members, 250_000 - cap as u64);
    assert_eq!(room.online_text(), format!("{cap}+"), "a lower bound");
}

#[test]
fn an_offline_event_for_an_untracked_member_is_harmless() {
    let mut store = capped(2, 10, 10);
    let t = 1_735_690_000_000;
    let tracked = names("in_", 0..2);
    let outsider = vec!["late".to_string()];
    store.apply(common::event(1, 0, &presence("r", &tracked, true, t)));
    store.apply(common::event(2, 0, &presence("r", &outsider, true, t + 1)));
    store.apply(common::event(3, 0, &presence("r", &outsider, false, t + 2)));
    let room = store.room_by_id("r").unwrap();
    assert_eq!(room.members.len(), 2);
    assert!(!room.members.contains_key("late"));
    assert_eq!(
        room.online_count(),
        2,
        "the tracked members are still online"
    );
    assert_eq!(room.untracked.members, 2);
    // A tracked member still comes and goes at the cap.
    store.apply(common::event(
        4,
        0,
        &presence("r", &tracked[..1], false, t + 3),
    ));
    assert_eq!(store.room_by_id("r").unwrap().online_count(), 1);
}

#[test]
fn admins_and_metadata_keys_are_capped_per_room_too() {
    let mut store = capped(10, 3, 2);
    let t = 1_735_690_000_000;
    for (i, account) in names("adm_", 0..5).iter().enumerate() {
        let body = json!({"CallbackCommand":"Live.CallbackAfterModifyAdmin","RoomId":"r",
            "Admin_Account":[account],"opType":"add","EventTime": t + i as i64});
        store.apply(common::event(i as u64 + 1, 0, &body));
    }
    for (i, key) in ["a", "b", "c", "a"].iter().enumerate() {
        let body = json!({"CallbackCommand":"Live.CallbackAfterSetMetadata","RoomId":"r",
            "Metadata":[{"Key":key,"Value":"v"}],"EventTime": t + 10 + i as i64});
        store.apply(common::event(i as u64 + 10, 0, &body));
    }
    let del = json!({"CallbackCommand":"Live.CallbackAfterDelMetadata","RoomId":"r",
        "Keys":["zz","b"],"EventTime": t + 20});
    store.apply(common::event(20, 0, &del));
    let room = store.room_by_id("r").unwrap();
    assert_eq!(room.admin_list(), ["adm_0", "adm_1", "adm_2"]);
    assert_eq!(room.untracked.admins, 2);
    assert_eq!(room.metadata.len(), 2);
    assert_eq!(
        room.metadata_pairs(),
        [("a", "v")],
        "b deleted, c never tracked"
    );
    assert_eq!(room.untracked.metadata, 2, "c and the unknown zz");
}

#[test]
fn the_dashboard_marks_a_capped_room_as_partial() {
    use ui_common::{NOW_MS, app, key, members, publish, render, type_text};
    let hub = Hub::with_limits(
        StoreLimits {
            per_room: RoomLimits {
                members: 2,
                ..RoomLimits::default()
            },
            ..StoreLimits::default()
        },
        64,
        300_000,
    );
    publish(
        &hub,
        &members("live_cap", &["ann", "bob", "cy", "dee"], NOW_MS - 2000),
        NOW_MS - 2000,
    );
    let mut app = app(&hub, 160, 40);
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "live_cap");
    key(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 160, 40);
    assert!(screen.contains("Online (2+)"), "{screen}");
    assert!(
        screen.contains("Partial: members: cap reached, 2 updates not tracked"),
        "{screen}"
    );
}

/// The real binary: a zero cap is refused at start (status 2), from the flag and from the
/// environment, and a valid cap runs (the demo's callbacks flow through a tiny cap).
#[test]
fn the_caps_are_run_options_of_the_binary() {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_roomwatch");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_remove("ROOMWATCH_LISTEN")
            .env_remove("ROOMWATCH_SDKAPPID")
            .env_remove("ROOMWATCH_TOKEN")
            .env_remove("ROOMWATCH_CONFIG")
            .env_remove("ROOMWATCH_JOURNAL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // The runs below end on their own: bad flags at once, the demo after 20 callbacks.
        cmd.output().unwrap()
    };
    for flag in [
        "--max-members-per-room",
        "--max-admins-per-room",
        "--max-metadata-per-room",
    ] {
        let out = run(&["--headless", "--listen", "127.0.0.1:0", flag, "0"], &[]);
        assert_eq!(out.status.code(), Some(2), "{flag} 0");
    }
    let out = run(
        &["--headless", "--listen", "127.0.0.1:0"],
        &[("ROOMWATCH_MAX_MEMBERS_PER_ROOM", "0")],
    );
    assert_eq!(out.status.code(), Some(2), "env 0");
    let out = run(
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--demo-events",
            "20",
            "--demo-rate",
            "500",
            "--demo-seed",
            "3",
            "--no-journal",
            "--max-admins-per-room",
            "1",
            "--max-metadata-per-room",
            "1",
        ],
        &[("ROOMWATCH_MAX_MEMBERS_PER_ROOM", "1")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 20);
}
