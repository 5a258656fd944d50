//! The filtered log is computed from a compact index of the log's lines: these tests hold it
//! to checking every stored line the direct way, while lines arrive, leave the capped log,
//! rooms are renamed and the query, the scope and the cursor change.
#![allow(clippy::unwrap_used)]

mod ui_common;

use std::collections::HashSet;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use roomwatch::hub::Hub;
use roomwatch::store::{LogEntry, RoomKey};
use roomwatch::tui::app::{App, LogRow, Msg, entry_rooms, update};
use roomwatch::tui::query::Query;
use tokio::sync::broadcast;
use ui_common::*;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn pick<'a>(rng: &mut Lcg, choices: &[&'a str]) -> &'a str {
    choices[rng.below(choices.len())]
}

fn room(i: usize) -> String {
    format!("room-{i:03}")
}

/// Mixed traffic over `rooms` rooms: creations with mixed-case and non-ASCII names, renames,
/// members, gifts, battles naming several rooms, endings, rejected bodies, commands nobody
/// knows (each a new name, so interned names come and go) and lines naming no room.
fn traffic(hub: &Hub, rng: &mut Lcg, rooms: usize, at: i64) {
    let id = room(rng.below(rooms));
    let body = match rng.below(12) {
        0 => create_room(
            &id,
            pick(rng, &["Late JAZZ", "Ünïcode Jazz", "quiet"]),
            "Host",
            at,
        ),
        1 => serde_json::json!({
            "CallbackCommand": "Live.CallbackAfterUpdateRoomInfo",
            "RoomInfo": { "RoomId": id, "RoomName": pick(rng, &["Blues", "jazz club", "ÉTÉ"]) },
            // Some renames arrive late, older than what the room already says: stale.
            "EventTime": at - 100_000 * i64::from(rng.below(3) == 0),
        })
        .to_string(),
        2 => serde_json::json!({
            "CallbackCommand": "Live.CallbackBeforeSendGift",
            "RoomId": id,
            "Operator_Account": "Bob",
            "From_Account": pick(rng, &["Bob", "alice"]),
            "To_Account": ["host"],
            "GiftId": "rose",
            "GiftCount": 1,
            "EventTime": at,
        })
        .to_string(),
        3 => serde_json::json!({
            "CallbackCommand": "Live.CallbackAfterCreateBattle",
            "BattleId": format!("b{at}"),
            "FromRoomId": id,
            "ToRoomIdList": [room(rng.below(rooms)), room(rng.below(rooms)), id],
            "EventTime": at,
        })
        .to_string(),
        4 => destroy_room(&id, at),
        5 => {
            hub.publish(event("SdkAppid=1400000001", "{not json", at));
            return;
        }
        6 => {
            let command = format!("Trtc.CallbackNumber{}", rng.below(1000));
            hub.publish(event(
                "SdkAppid=1400000001",
                &format!(r#"{{"CallbackCommand":"{command}","RoomId":"{id}"}}"#),
                at,
            ));
            return;
        }
        7 => {
            hub.publish(event(
                "SdkAppid=1400000001",
                r#"{"CallbackCommand":"Trtc.CallbackNoRoom"}"#,
                at,
            ));
            return;
        }
        _ => {
            let who = format!("Viewer{}", rng.below(20));
            members(&id, &[who.as_str()], at)
        }
    };
    publish(hub, &body, at);
}

/// The log lines the query shows, found by checking every stored line the direct way.
fn expected(app: &App) -> Vec<u64> {
    let (query, _) = Query::parse_lenient(&app.filter);
    app.store
        .log()
        .iter()
        .filter(|entry| {
            let rooms = entry_rooms(&entry.event);
            app.scope_room
                .as_ref()
                .is_none_or(|scope| rooms.contains(scope))
                && query.matches_entry(
                    entry,
                    &rooms,
                    |id| app.store.room(id),
                    app.relay.record(entry.event.seq).map(|r| &r.state),
                    app.now_ms,
                )
        })
        .map(|entry| entry.event.seq)
        .collect()
}

fn shown(app: &App) -> Vec<u64> {
    app.log_rows()
        .iter()
        .filter(|r| r.notice.is_none())
        .map(|r| r.seq)
        .collect()
}

/// Replaces the query: `/`, Ctrl-U, the text, Enter.
fn query(app: &mut App, text: &str) {
    key(app, KeyCode::Char('/'));
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    type_text(app, text);
    key(app, KeyCode::Enter);
}

const QUERIES: &[&str] = &[
    "",
    "jazz",
    "JAZZ room-00",
    "ünï",
    "été",
    "!jazz",
    "room:room-00*",
    "room:*7 !room:room-017",
    "cmd:gift",
    "cmd:CallbackNumber1",
    "!cmd:member",
    "user:bob",
    "user:viewer1*",
    "verdict:rejected",
    "!verdict:accepted jazz",
    "effect:stale",
    "effect:none",
    "relay:none",
    "since:10m",
    "since:5m cmd:battle",
    "app:1400000001 jazz",
    "!app:14*",
    "room-01 cmd:battle !user:alice",
];

fn drain_some(app: &mut App, rx: &mut broadcast::Receiver<LogEntry>) {
    drain(app, rx);
    app.prepare();
}

/// Every query, as lines arrive and leave the capped log, shows exactly the lines a direct
/// check of every stored line shows; the rooms table holds exactly the rooms that pass.
#[test]
fn the_indexed_filter_equals_checking_every_line() {
    // A log of 400 lines over 2,000 callbacks: most leave it again.
    let hub = Hub::new(400, 4096);
    let mut rng = Lcg(7);
    for i in 0..100 {
        traffic(&hub, &mut rng, 40, NOW_MS - 200_000 + i * 100);
    }
    let mut app = app(&hub, 200, 50);
    let mut rx = hub.subscribe();
    let mut at = NOW_MS - 3_900_000;
    for round in 0..19 {
        for _ in 0..100 {
            traffic(&hub, &mut rng, 40, at);
            at += 2_000;
        }
        drain_some(&mut app, &mut rx);
        for text in QUERIES {
            query(&mut app, text);
            assert_eq!(shown(&app), expected(&app), "round {round}, query {text:?}");
            let (q, _) = Query::parse_lenient(text);
            let rooms: Vec<&RoomKey> = app
                .store
                .rooms()
                .iter()
                .filter(|(_, r)| q.matches_room(r, app.now_ms))
                .map(|(id, _)| id)
                .collect();
            let mut listed: Vec<&RoomKey> = app.room_order().iter().collect();
            listed.sort();
            assert_eq!(listed, rooms, "round {round}, query {text:?}");
        }
        // With the log scoped to one room too.
        if round % 3 == 0 {
            key(&mut app, KeyCode::Char('f'));
            assert!(app.scope_room.is_some());
            for text in ["", "jazz", "cmd:battle", "!verdict:accepted"] {
                query(&mut app, text);
                assert_eq!(shown(&app), expected(&app), "scoped, query {text:?}");
            }
            key(&mut app, KeyCode::Char('f'));
        }
    }
    // The index holds each room id, command name and account the log names, once, and no
    // other: they leave with the last line naming them (most made-up commands left long ago).
    let log = app.store.log();
    let ids: HashSet<RoomKey> = log.iter().flat_map(|e| entry_rooms(&e.event)).collect();
    let names: HashSet<&str> = log
        .iter()
        .filter_map(|e| e.event.command.as_deref())
        .collect();
    let accounts: HashSet<&str> = log
        .iter()
        .filter_map(|e| e.event.callback.as_ref())
        .flat_map(roomwatch::tui::query::accounts)
        .collect();
    assert_eq!(
        app.log_index_size(),
        (log.len(), ids.len(), names.len(), accounts.len())
    );
}

/// A query typed while callbacks arrive keeps showing what a fresh filter of the same log
/// shows (for terms that do not depend on a room's changing name).
#[test]
fn a_filter_kept_while_lines_arrive_equals_a_fresh_filter() {
    let hub = Hub::new(300, 4096);
    let mut rng = Lcg(11);
    for i in 0..50 {
        traffic(&hub, &mut rng, 30, NOW_MS - 100_000 + i * 100);
    }
    for text in [
        "cmd:gift",
        "room:room-01*",
        "!verdict:accepted",
        "user:viewer1",
    ] {
        let mut app = app(&hub, 120, 40);
        let mut rx = hub.subscribe();
        query(&mut app, text);
        for burst in [1, 5, 300, 2, 40] {
            for _ in 0..burst {
                traffic(&hub, &mut rng, 30, NOW_MS - 50_000);
            }
            drain_some(&mut app, &mut rx);
            assert_eq!(shown(&app), expected(&app), "query {text:?}");
        }
    }
}

/// A paused cursor stays on its line while the query narrows and widens around it, and
/// lines that arrive meanwhile are counted, not scrolled in.
#[test]
fn the_paused_cursor_keeps_its_line_across_query_changes() {
    let hub = Hub::new(1000, 4096);
    let mut rng = Lcg(3);
    for i in 0..300 {
        traffic(&hub, &mut rng, 20, NOW_MS - 100_000 + i * 100);
    }
    let mut app = app(&hub, 120, 40);
    let mut rx = hub.subscribe();
    query(&mut app, "cmd:gift");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char(' '));
    assert!(app.paused());
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('k'));
    }
    let cursor: LogRow = app.log_cursor.unwrap();
    let gift = |app: &App, seq: u64| {
        app.entry(seq)
            .unwrap()
            .event
            .command
            .as_deref()
            .is_some_and(|c| c.contains("Gift"))
    };
    assert!(gift(&app, cursor.seq));
    // Wider, narrower again, then a query that still holds the line: the cursor stays.
    query(&mut app, "");
    let at = app.log_cursor_index().unwrap();
    assert_eq!(app.log_rows()[at], cursor);
    query(&mut app, "cmd:gift user:bob");
    let still = app.log_rows().contains(&cursor);
    query(&mut app, "cmd:gift");
    let at = app.log_cursor_index().unwrap();
    assert_eq!(app.log_rows()[at], cursor, "the line held: {still}");
    // Lines arrive while paused: the cursor's line does not move, new matches are counted.
    for _ in 0..200 {
        traffic(&hub, &mut rng, 20, NOW_MS - 1_000);
    }
    let before = shown(&app).len();
    drain_some(&mut app, &mut rx);
    assert_eq!(app.log_cursor, Some(cursor));
    let at = app.log_cursor_index().unwrap();
    assert_eq!(app.log_rows()[at], cursor);
    assert_eq!(app.new_while_paused, shown(&app).len() - before);
    assert!(app.new_while_paused > 0);
    assert_eq!(shown(&app), expected(&app));
}

/// After a lag the replica is replaced by the hub's snapshot: the index starts again from it.
#[test]
fn a_resync_reindexes_the_log() {
    let hub = Hub::new(200, 4096);
    let mut rng = Lcg(5);
    for i in 0..150 {
        traffic(&hub, &mut rng, 20, NOW_MS - 100_000 + i * 100);
    }
    let mut app = app(&hub, 120, 40);
    query(&mut app, "jazz");
    for _ in 0..500 {
        traffic(&hub, &mut rng, 20, NOW_MS - 10_000);
    }
    update(
        &mut app,
        Msg::Lagged {
            skipped: 500,
            snapshot: Box::new(hub.snapshot()),
        },
    );
    app.prepare();
    assert_eq!(shown(&app), expected(&app));
    for text in QUERIES {
        query(&mut app, text);
        assert_eq!(shown(&app), expected(&app), "query {text:?}");
    }
    assert_eq!(app.log_index_size().0, app.store.log().len());
}

/// Rooms the store lets go of (beyond `max_rooms`) are matched by id alone, as a direct check
/// finds them; the rooms that come back are matched by their new names.
#[test]
fn rooms_the_store_evicts_are_matched_as_the_store_has_them() {
    let limits = roomwatch::store::StoreLimits {
        history: 500,
        max_rooms: 12,
        ..roomwatch::store::StoreLimits::default()
    };
    let hub = Hub::with_limits(limits, 4096, 60_000);
    let mut rng = Lcg(21);
    for i in 0..100 {
        traffic(&hub, &mut rng, 40, NOW_MS - 900_000 + i * 100);
    }
    let mut app = app(&hub, 120, 40);
    let mut rx = hub.subscribe();
    let mut at = NOW_MS - 800_000;
    for round in 0..10 {
        for _ in 0..60 {
            traffic(&hub, &mut rng, 40, at);
            at += 1_000;
        }
        drain_some(&mut app, &mut rx);
        assert!(app.store.counters().evicted_rooms > 0);
        for text in ["jazz", "été", "!jazz room-01", "user:viewer1*", "number"] {
            query(&mut app, text);
            assert_eq!(shown(&app), expected(&app), "round {round}, query {text:?}");
        }
    }
}
