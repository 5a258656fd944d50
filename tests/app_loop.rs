//! The app loop itself: scripted keys and real callbacks through a hub, against TestBackend.
#![allow(clippy::unwrap_used)]

mod ui_common;

use std::io;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use futures_util::stream;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use roomwatch::hub::Hub;
use roomwatch::store::RoomKey;
use roomwatch::tui::app::{App, Msg, run, update};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use ui_common::*;

/// The RoomId of a selection or scope.
fn id_of(key: Option<&RoomKey>) -> Option<&str> {
    key.map(|k| k.id.as_str())
}

/// The RoomIds of the table's rows, in order.
fn ids(order: &[RoomKey]) -> Vec<&str> {
    order.iter().map(|k| k.id.as_str()).collect()
}

#[allow(clippy::unnecessary_wraps)] // the input stream yields io::Result items
fn press(c: KeyCode) -> io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

fn chars(text: &str) -> Vec<io::Result<TermEvent>> {
    text.chars().map(|c| press(KeyCode::Char(c))).collect()
}

/// Runs the loop to its end (the script must quit), with a generous deadline against hangs.
async fn run_script(
    hub: &Hub,
    app: &mut App,
    rx: tokio::sync::broadcast::Receiver<roomwatch::store::LogEntry>,
    keys: Vec<io::Result<TermEvent>>,
    size: (u16, u16),
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        run(
            &mut terminal,
            app,
            stream::iter(keys),
            rx,
            hub,
            std::future::pending(),
            || NOW_MS,
        ),
    )
    .await
    .expect("the loop ended")
    .unwrap();
    terminal
}

#[tokio::test]
async fn scripted_keys_filter_and_quit() {
    let hub = Hub::new(1000, 1024);
    // Subscribe first, then snapshot, as the dashboard does.
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (80, 24));
    // Callbacks arriving after start-up reach the app through the bus.
    for event in seed_events() {
        hub.publish(event);
    }
    many_rooms(&hub);
    let mut keys = chars("/rname");
    keys.push(press(KeyCode::Enter));
    keys.push(press(KeyCode::Char('q')));
    let _terminal = run_script(&hub, &mut app, rx, keys, (80, 24)).await;
    assert!(app.quit);
    assert_eq!(app.filter, "rname");
    assert_eq!(app.last_filter, "rname");
    assert_eq!(ids(app.room_order()), ["live-room".to_string()]);
    assert_eq!(id_of(app.selected.as_ref()), Some("live-room"));
    // The replica has everything the hub has.
    assert_eq!(
        app.store.last_seq(),
        hub.read(roomwatch::store::RoomStore::last_seq)
    );
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("FILTER rname"), "{screen}");
    assert!(screen.contains("Rooms  1 of 42"), "{screen}");
    // The log is narrowed to the matching room too.
    assert_eq!(app.log_rows().len(), 1);
}

#[tokio::test]
async fn events_while_running_are_drawn() {
    let hub = Hub::new(1000, 1024);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (100, 30));
    let (keys_tx, keys_rx) = mpsc::unbounded_channel();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let script = async {
        for event in seed_events() {
            hub.publish(event);
        }
        // Keys sent after the callbacks are handled after them (the loop takes the bus first).
        keys_tx.send(press(KeyCode::Char('j'))).unwrap();
        keys_tx.send(press(KeyCode::Char('f'))).unwrap();
        keys_tx.send(press(KeyCode::Char('q'))).unwrap();
    };
    let looped = run(
        &mut terminal,
        &mut app,
        UnboundedReceiverStream::new(keys_rx),
        rx,
        &hub,
        std::future::pending(),
        || NOW_MS,
    );
    let (result, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(looped, script)
    })
    .await
    .unwrap();
    result.unwrap();
    assert_eq!(id_of(app.selected.as_ref()), Some("live-room"));
    assert_eq!(id_of(app.scope_room.as_ref()), Some("live-room"));
    // The log is scoped to the selected room: only its update.
    assert_eq!(app.log_rows().len(), 1);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("ROOM live-room"), "{screen}");
    assert!(screen.contains("Log  room live-room"), "{screen}");
}

#[tokio::test]
async fn shutdown_future_ends_the_loop() {
    let hub = Hub::new(1000, 16);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (80, 24));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        run(
            &mut terminal,
            &mut app,
            stream::pending(),
            rx,
            &hub,
            async {
                let _ = stop_rx.await;
            },
            || NOW_MS,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!app.quit);
}

#[tokio::test]
async fn lagged_subscriber_resyncs_and_says_so() {
    // A channel of 4: publishing 60 events before the app reads overflows it.
    let hub = Hub::new(1000, 4);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (80, 24));
    for event in seed_events() {
        hub.publish(event);
    }
    many_rooms(&hub);
    let total = hub.read(roomwatch::store::RoomStore::last_seq);
    assert!(total > 50);
    let terminal = run_script(
        &hub,
        &mut app,
        rx,
        vec![press(KeyCode::Char('q'))],
        (80, 24),
    )
    .await;
    // Correct state despite the lag: the replica equals the hub's store.
    assert_eq!(app.store.last_seq(), total);
    assert_eq!(app.store.rooms(), hub.snapshot().rooms());
    assert_eq!(app.store.counters(), hub.snapshot().counters());
    let room = app.store.room_by_id("room_id").unwrap();
    assert_eq!(room.admin_list(), ["user1", "user2"]);
    assert_eq!(app.notices.len(), 1);
    let skipped = total - 4;
    assert_eq!(
        app.notices[0].text,
        format!("fell behind: skipped {skipped} events, resynced")
    );
    // Shown in the log, at the tail.
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("fell behind: skipped"), "{screen}");
    let _ = terminal;
}

/// TestBackend that counts frames (one flush per drawn frame).
struct Counting {
    inner: TestBackend,
    frames: usize,
}

impl Backend for Counting {
    type Error = <TestBackend as Backend>::Error;
    fn draw<'a, I: Iterator<Item = (u16, u16, &'a Cell)>>(
        &mut self,
        content: I,
    ) -> Result<(), Self::Error> {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.frames += 1;
        self.inner.flush()
    }
}

#[tokio::test]
async fn a_burst_of_callbacks_costs_few_frames() {
    let hub = Hub::new(10_000, 4096);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (80, 24));
    for i in 0..1000_i64 {
        let at = NOW_MS - 100_000 + i;
        publish(
            &hub,
            &create_room(&format!("burst-{i:04}"), "burst", "host", at),
            at,
        );
    }
    let mut terminal = Terminal::new(Counting {
        inner: TestBackend::new(80, 24),
        frames: 0,
    })
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        run(
            &mut terminal,
            &mut app,
            stream::iter(vec![press(KeyCode::Char('?')), press(KeyCode::Char('q'))]),
            rx,
            &hub,
            std::future::pending(),
            || NOW_MS,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(app.store.rooms().len(), 1000);
    // Frames follow changes at a bounded rate, not one per callback.
    let frames = terminal.backend().frames;
    assert!(
        (1..50).contains(&frames),
        "{frames} frames for 1000 callbacks"
    );
    // The help closed on the 'q' press that quit.
    assert!(app.quit);
    assert!(matches!(app.overlay, roomwatch::tui::app::Overlay::None));
}

fn seeded_app() -> App {
    let hub = Hub::new(1000, 64);
    for event in seed_events() {
        hub.publish(event);
    }
    many_rooms(&hub);
    app(&hub, 80, 24)
}

#[test]
fn slash_recalls_the_last_filter_and_esc_clears() {
    let mut app = seeded_app();
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "ROOM_ID");
    key(&mut app, KeyCode::Enter);
    assert!(!app.editing_filter);
    assert_eq!(ids(app.room_order()), ["room_id".to_string()]);
    // Esc clears; every room is back.
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    assert_eq!(app.room_order().len(), 42);
    // `/` starts from the last filter kept with Enter, selected: typing replaces it.
    key(&mut app, KeyCode::Char('/'));
    assert!(app.editing_filter);
    assert!(app.filter_selected);
    assert_eq!(app.filter, "ROOM_ID");
    assert_eq!(id_of(app.selected.as_ref()), Some("room_id"));
    type_text(&mut app, "room-01");
    assert_eq!(app.filter, "room-01");
    // Backspace on recalled text erases it all; past it, one character.
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.filter, "");
    type_text(&mut app, "ROOM_ID");
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.filter, "ROOM");
    // Right arrow keeps recalled text and types after it.
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Right);
    type_text(&mut app, "-03");
    assert_eq!(app.filter, "ROOM-03");
    // Esc inside the prompt clears too.
    key(&mut app, KeyCode::Esc);
    assert!(!app.editing_filter);
    assert_eq!(app.filter, "");
}

#[test]
fn scope_pause_and_tail_keys() {
    let mut app = seeded_app();
    let all = app.log_rows().len();
    // Enter on a room: the log shows that room only, and the log pane has the focus.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.scope_room, app.selected);
    let selected = app.selected.clone().unwrap();
    assert!(app.log_rows().len() < all);
    for row in app.log_rows() {
        let entry = app.entry(row.seq).unwrap();
        assert_eq!(entry.event.room_id.as_deref(), Some(selected.id.as_str()));
    }
    // f toggles back to every room.
    key(&mut app, KeyCode::Char('f'));
    assert_eq!(app.log_rows().len(), all);
    // Space pauses at the tail, g goes to the top, G follows again.
    key(&mut app, KeyCode::Char(' '));
    assert!(app.paused());
    assert_eq!(app.log_cursor_index(), Some(all - 1));
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.log_cursor_index(), Some(0));
    key(&mut app, KeyCode::PageDown);
    assert!(app.log_cursor_index().unwrap() > 0);
    key(&mut app, KeyCode::End);
    assert!(!app.paused());
    // Tab back to rooms; j/k move the selection, G goes to the last room.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_index(), Some(app.room_order().len() - 1));
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected_index(), Some(app.room_order().len() - 2));
}

#[test]
fn ctrl_c_quits_even_in_the_filter_prompt() {
    let mut app = seeded_app();
    key(&mut app, KeyCode::Char('/'));
    roomwatch::tui::app::update(
        &mut app,
        roomwatch::tui::app::Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(app.quit);
}

#[test]
fn selection_follows_the_newest_room_until_the_user_picks_one() {
    let hub = Hub::new(1000, 64);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 80, 24);
    publish(
        &hub,
        &create_room("first", "First", "h", NOW_MS - 3000),
        NOW_MS - 3000,
    );
    publish(
        &hub,
        &create_room("second", "Second", "h", NOW_MS - 2000),
        NOW_MS - 2000,
    );
    drain(&mut app, &mut rx);
    app.prepare();
    assert_eq!(id_of(app.selected.as_ref()), Some("second"));
    // Picking a row pins the selection to that room, whatever arrives next.
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(id_of(app.selected.as_ref()), Some("first"));
    publish(
        &hub,
        &create_room("third", "Third", "h", NOW_MS - 1000),
        NOW_MS - 1000,
    );
    drain(&mut app, &mut rx);
    app.prepare();
    assert_eq!(id_of(app.selected.as_ref()), Some("first"));
    assert_eq!(app.selected_index(), Some(2));
    // g picks the top row's room; it does not follow the top again.
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(id_of(app.selected.as_ref()), Some("third"));
    publish(&hub, &create_room("fourth", "Fourth", "h", NOW_MS), NOW_MS);
    drain(&mut app, &mut rx);
    app.prepare();
    assert_eq!(id_of(app.selected.as_ref()), Some("third"));
    assert_eq!(app.selected_index(), Some(1));
}

#[test]
fn log_lines_leave_with_the_store_cap() {
    // The hub and the replica keep 20 log entries.
    let hub = Hub::new(20, 64);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 80, 24);
    for i in 0..50_i64 {
        let at = NOW_MS - 50_000 + i * 1000;
        publish(
            &hub,
            &create_room(&format!("cap-{i:02}"), "cap", "h", at),
            at,
        );
    }
    drain(&mut app, &mut rx);
    app.prepare();
    assert_eq!(app.log_rows().len(), 20);
    assert!(app.log_rows().iter().all(|r| app.entry(r.seq).is_some()));
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("cap-49"));
    assert!(!screen.contains("no longer held"));
}

#[test]
fn the_detail_pane_scrolls_to_every_field_on_a_small_screen() {
    let mut app = seeded_app();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, roomwatch::tui::app::Pane::Detail);
    let top = render(&mut app, 80, 24);
    assert!(top.contains("↓ lines 1-6 of"), "{top}");
    assert!(!top.contains("Callbacks: "));
    key(&mut app, KeyCode::Char('G'));
    let bottom = render(&mut app, 80, 24);
    assert!(bottom.contains("Callbacks: ModifyAdmin 1"), "{bottom}");
    assert!(!bottom.contains(" Name: "));
    // Another room starts at the top again.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.detail_scroll, 0);
}

/// The room order is kept up to date one event at a time; it must always equal the order a
/// full rebuild gives, with and without a filter, whatever order the events come in.
#[test]
fn the_room_order_kept_per_event_equals_a_full_rebuild() {
    let battle = |from: &str, to: &[&str], id: u64, at: i64| {
        serde_json::json!({
            "CallbackCommand": "Live.CallbackAfterCreateBattle",
            "Operator_Account": "host",
            "BattleId": format!("b-{id}"),
            "FromRoomId": from,
            "ToRoomIdList": to,
            "EventTime": at,
        })
        .to_string()
    };
    let rename = |id: &str, name: &str, at: i64| {
        serde_json::json!({
            "CallbackCommand": "Live.CallbackAfterUpdateRoomInfo",
            "RoomInfo": { "RoomId": id, "RoomName": name },
            "EventTime": at,
        })
        .to_string()
    };
    for filter in ["", "blue"] {
        let hub = Hub::new(1000, 4096);
        let mut rx = hub.subscribe();
        let mut app = app(&hub, 160, 40);
        if !filter.is_empty() {
            key(&mut app, KeyCode::Char('/'));
            type_text(&mut app, filter);
            key(&mut app, KeyCode::Enter);
        }
        let mut state = 7_u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        for i in 0..400_i64 {
            let room = format!("r{}", next(12));
            let other = format!("r{}", next(12));
            // Event times jump back and forth, and some repeat exactly.
            let at = NOW_MS - 100_000 + i * 100 - i64::try_from(next(5)).unwrap() * 1000;
            let body = match next(6) {
                0 => create_room(&room, "Blue room", "h", at),
                1 => rename(&room, if next(2) == 0 { "blue" } else { "red" }, at),
                2 => destroy_room(&room, at),
                3 => battle(&room, &[&other, &room], next(1000), at),
                4 => members(&room, &["v"], NOW_MS - 200_000),
                _ => members(&room, &["w"], at),
            };
            publish(&hub, &body, at);
            if i % 3 == 0 {
                // Sometimes several events arrive between two frames.
                continue;
            }
            if i == 200 {
                // A burst bigger than the app places one by one before a frame.
                for n in 0..300 {
                    let room = format!("r{}", next(12));
                    publish(&hub, &members(&room, &["x"], at + n), at + n);
                }
            }
            if i % 50 == 10 {
                // A picked row that is not the top one.
                key(&mut app, KeyCode::Char('j'));
            }
            drain(&mut app, &mut rx);
            app.prepare();
            let mut fresh = App::new(info(), app.store.clone(), NOW_MS, (160, 40));
            if !filter.is_empty() {
                key(&mut fresh, KeyCode::Char('/'));
                type_text(&mut fresh, filter);
            }
            assert_eq!(app.room_order(), fresh.room_order(), "after event {i}");
            assert_eq!(app.room_counts(), fresh.room_counts(), "after event {i}");
            let shown = app.selected_index().and_then(|i| app.room_order().get(i));
            assert_eq!(app.selected.as_ref(), shown, "after event {i}");
        }
    }
}

/// The selection is a room: it stays on the picked room while 1,000 callbacks for other rooms
/// arrive and reorder the table, under every sort key.
#[test]
fn the_selection_stays_on_its_room_while_callbacks_reorder_the_table() {
    let hub = Hub::new(2000, 4096);
    many_rooms(&hub);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 80, 24);
    // Pick the fifth row.
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('j'));
    }
    let picked = app.selected.clone().unwrap();
    let mut state = 11_u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) % n
    };
    let mut moved = 0;
    for i in 0..1000_i64 {
        let other = loop {
            let id = format!("room-{:03}", next(40));
            if id != picked.id {
                break id;
            }
        };
        let at = NOW_MS + i * 10;
        let viewer = format!("v{}", next(30));
        publish(&hub, &members(&other, &[viewer.as_str()], at), at);
        if i % 10 == 9 {
            drain(&mut app, &mut rx);
            app.prepare();
            let row = app.selected_index().unwrap();
            assert_eq!(
                id_of(app.selected.as_ref()),
                Some(picked.id.as_str()),
                "after {i}"
            );
            assert_eq!(app.room_order()[row], picked, "after {i}");
            if row != 4 {
                moved += 1;
            }
        }
        if i % 150 == 149 {
            // Another sort key reorders everything at once.
            key(&mut app, KeyCode::Char('s'));
        }
    }
    // The rows did move around the picked room.
    assert!(moved > 0);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains(&picked.id), "{screen}");
}

/// `f` scopes the log to the room selected at that moment, and it stays there while the
/// (unpicked, following) selection moves to newer rooms.
#[test]
fn room_scope_never_switches_rooms_by_itself() {
    let hub = Hub::new(2000, 4096);
    many_rooms(&hub);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 80, 24);
    let first = app.selected.clone().unwrap();
    key(&mut app, KeyCode::Char('f'));
    assert_eq!(id_of(app.scope_room.as_ref()), Some(first.id.as_str()));
    for i in 0..50_i64 {
        let id = format!("room-{:03}", i % 40);
        publish(&hub, &members(&id, &["late"], NOW_MS + i), NOW_MS + i);
        drain(&mut app, &mut rx);
        app.prepare();
        assert_eq!(
            id_of(app.scope_room.as_ref()),
            Some(first.id.as_str()),
            "after {i}"
        );
    }
    // The selection followed the newest room; the scope did not.
    assert_ne!(id_of(app.selected.as_ref()), Some(first.id.as_str()));
    assert!(!app.log_rows().is_empty());
    for row in app.log_rows() {
        let entry = app.entry(row.seq).unwrap();
        assert!(
            roomwatch::tui::app::entry_rooms(&entry.event).contains(&first),
            "{entry:?}"
        );
    }
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains(&format!("ROOM {}", first.id)), "{screen}");
    // f again: every room.
    key(&mut app, KeyCode::Char('f'));
    assert_eq!(app.scope_room, None);
}

/// A filter that hides the picked room highlights the first match; clearing it (or a filter
/// that matches it again) returns to the picked room.
#[test]
fn filter_round_trips_keep_the_picked_room() {
    let mut app = seeded_app();
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'));
    }
    let picked = app.selected.clone().unwrap();
    assert!(picked.id.starts_with("room-"), "{picked}");
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "room_id");
    assert_eq!(id_of(app.selected.as_ref()), Some("room_id"));
    assert_eq!(id_of(app.pinned.as_ref()), Some(picked.id.as_str()));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Esc);
    assert_eq!(id_of(app.selected.as_ref()), Some(picked.id.as_str()));
    // A filter the picked room passes keeps it highlighted, as each key is typed.
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.filter, "room_id");
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    assert_eq!(app.filter, "");
    type_text(&mut app, &picked.id);
    assert_eq!(id_of(app.selected.as_ref()), Some(picked.id.as_str()));
    key(&mut app, KeyCode::Esc);
    assert_eq!(id_of(app.selected.as_ref()), Some(picked.id.as_str()));
    let row = app.selected_index().unwrap();
    assert_eq!(app.room_order()[row], picked);
}

#[test]
fn sort_keys_cycle_reverse_and_ended_rooms_sink_or_hide() {
    let mut app = seeded_app();
    let order = app.room_order().to_vec();
    // Ended rooms (room-003, room-010, ...) come after every live one.
    let first_ended = order
        .iter()
        .position(|id| app.store.room(id).unwrap().is_ended())
        .unwrap();
    assert!(
        order[first_ended..]
            .iter()
            .all(|id| app.store.room(id).unwrap().is_ended())
    );
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("most recent first"), "{screen}");
    // By id, then reversed.
    key(&mut app, KeyCode::Char('s'));
    let live = app.room_order()[..first_ended].to_vec();
    let mut sorted = live.clone();
    sorted.sort();
    assert_eq!(live, sorted);
    key(&mut app, KeyCode::Char('S'));
    let live = app.room_order()[..first_ended].to_vec();
    sorted.reverse();
    assert_eq!(live, sorted);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("by id, reversed"), "{screen}");
    key(&mut app, KeyCode::Char('S'));
    // Online: rooms with viewers first.
    for _ in 0..2 {
        key(&mut app, KeyCode::Char('s'));
    }
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("most online first"), "{screen}");
    let top = app.store.room(&app.room_order()[0]).unwrap();
    assert_eq!(top.online_count(), 2);
    // x hides the ended rooms; the header says so.
    let ended = app.room_counts().1;
    assert!(ended > 0);
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(app.room_order().len(), first_ended);
    assert_eq!(app.hidden_ended(), ended);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("ended (hidden)"), "{screen}");
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(app.room_order().len(), order.len());
}

/// A battle callback listing many rooms must not cost a move per room (each shifting the
/// whole table): the order work for it stays within a few sorts of the table, where moving
/// its rooms one by one would cost listed × rooms.
#[test]
fn a_battle_naming_many_rooms_costs_about_one_sort() {
    const ROOMS: usize = 20_000;
    let hub = Hub::new(100, 64);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 80, 24);
    for i in 0..ROOMS {
        let at = NOW_MS - 1_000_000 + i as i64;
        let body = members(&format!("b{i:05}"), &["v"], at);
        app.store.apply(std::sync::Arc::new(event(
            "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterMemberStateChanged",
            &body,
            at,
        )));
    }
    // The replica was filled behind the view's back: sort it once.
    let snapshot = Box::new(app.store.clone());
    update(
        &mut app,
        Msg::Lagged {
            skipped: 0,
            snapshot,
        },
    );
    app.prepare();
    assert_eq!(app.room_order().len(), ROOMS);
    // As many rooms as a battle may name, newest first: moved one by one, each would shift
    // the whole table.
    let listed = roomwatch::protocol::limits::MAX_BATTLE_ROOMS - 1;
    let ids: Vec<String> = (0..ROOMS)
        .rev()
        .step_by(2)
        .take(listed)
        .map(|i| format!("b{i:05}"))
        .collect();
    let battle = serde_json::json!({
        "CallbackCommand": "Live.CallbackAfterCreateBattle",
        "BattleId": "big",
        "FromRoomId": "b00001",
        "ToRoomIdList": ids,
        "EventTime": NOW_MS,
    })
    .to_string();
    let before = app.order_work();
    publish(&hub, &battle, NOW_MS);
    drain(&mut app, &mut rx);
    app.prepare();
    let work = app.order_work() - before;
    let log2 = usize::BITS - ROOMS.leading_zeros();
    let one_sort = (ROOMS * log2 as usize) as u64;
    assert!(work <= 3 * one_sort, "work {work}, one sort ~{one_sort}");
    // Every room is still listed exactly once, newest first.
    assert_eq!(app.room_order().len(), ROOMS);
    assert_eq!(app.room_order()[0].id, "b00001");
    assert_eq!(app.room_order()[1].id, ids[listed - 1]);
    // A callback for one room afterwards is placed by binary search, not by a sort.
    let before = app.order_work();
    publish(&hub, &members("b12345", &["w"], NOW_MS + 1), NOW_MS + 1);
    drain(&mut app, &mut rx);
    app.prepare();
    let work = app.order_work() - before;
    assert!(work <= 2 * ROOMS as u64 + 4 * u64::from(log2), "{work}");
    assert_eq!(app.room_order()[0].id, "b12345");
}

/// Field terms narrow the rooms table and the log together; `!` negates; bad terms say why
/// in the prompt and leave the last good query in force.
#[test]
fn queries_with_field_terms_narrow_rooms_and_log() {
    let hub = Hub::new(2000, 4096);
    many_rooms(&hub);
    let gift = |room: &str, from: &str, at: i64| {
        serde_json::json!({
            "CallbackCommand": "Live.CallbackBeforeSendGift",
            "RoomId": room,
            "Operator_Account": from,
            "From_Account": from,
            "To_Account": ["host"],
            "GiftId": "rose",
            "GiftCount": 1,
            "EventTime": at,
        })
        .to_string()
    };
    publish(&hub, &gift("room-021", "bob", NOW_MS - 3000), NOW_MS - 3000);
    publish(
        &hub,
        &gift("room-022", "alice", NOW_MS - 2000),
        NOW_MS - 2000,
    );
    publish(
        &hub,
        &members("room-025", &["bob"], NOW_MS - 1000),
        NOW_MS - 1000,
    );
    let mut app = app(&hub, 200, 50);
    let query = |app: &mut App, text: &str| {
        key(app, KeyCode::Char('/'));
        update(
            app,
            Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        );
        type_text(app, text);
        key(app, KeyCode::Enter);
    };
    let log_commands = |app: &App| -> Vec<String> {
        app.log_rows()
            .iter()
            .map(|r| {
                app.entry(r.seq)
                    .unwrap()
                    .event
                    .command
                    .clone()
                    .unwrap_or_default()
            })
            .collect()
    };
    // cmd: matches loosely, in the log and in the rooms that had such callbacks.
    query(&mut app, "cmd:gift");
    assert_eq!(log_commands(&app).len(), 2);
    assert_eq!(ids(app.room_order()), ["room-022", "room-021"]);
    query(&mut app, "cmd:Live.CallbackBeforeSendGift room:room-02*");
    assert_eq!(log_commands(&app).len(), 2);
    // user: finds the gift sender and the member, in both panes.
    query(&mut app, "user:BOB");
    assert_eq!(ids(app.room_order()), ["room-025"]);
    assert_eq!(
        log_commands(&app),
        [
            "Live.CallbackBeforeSendGift",
            "Live.CallbackAfterMemberStateChanged"
        ]
    );
    // Negation and AND.
    query(&mut app, "cmd:gift !user:bob");
    assert_eq!(log_commands(&app).len(), 1);
    // A room's users are its owner, admins, members online and seats: bob only sent a gift.
    assert_eq!(ids(app.room_order()), ["room-022", "room-021"]);
    query(&mut app, "cmd:gift !user:alice !user:host22");
    assert_eq!(ids(app.room_order()), ["room-021"]);
    // verdict: narrows the log only.
    query(&mut app, "verdict:rejected");
    assert_eq!(app.log_rows().len(), 1);
    assert_eq!(app.room_order().len(), 40);
    query(&mut app, "effect:duplicate");
    assert!(app.log_rows().is_empty());
    // relay: matches the relay outcome; without relaying every line is relay:none.
    query(&mut app, "relay:failed");
    assert!(app.log_rows().is_empty());
    query(&mut app, "relay:none");
    assert_eq!(app.log_rows().len(), app.store.log().len());
    // since: rooms and lines of the last 5 seconds.
    query(&mut app, "since:5s");
    assert_eq!(ids(app.room_order()), ["room-025", "room-022", "room-021"]);
    let screen = render(&mut app, 200, 50);
    assert!(screen.contains("FILTER since:5s"), "{screen}");
    // A bad term says why in the prompt and is left out; the other terms apply. Enter does
    // not close the prompt until the query is valid.
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Right);
    type_text(&mut app, " room:room-02* colour:red");
    key(&mut app, KeyCode::Enter);
    assert!(app.editing_filter);
    assert!(app.query_error.is_some());
    assert_eq!(ids(app.room_order()), ["room-025", "room-022", "room-021"]);
    (0..11).for_each(|_| key(&mut app, KeyCode::Backspace));
    assert_eq!(app.filter, "since:5s room:room-02*");
    assert_eq!(app.query_error, None);
    type_text(&mut app, " !");
    assert_eq!(app.query_error.as_deref(), Some("a lone ! negates nothing"));
    type_text(&mut app, "room:room-025");
    assert_eq!(ids(app.room_order()), ["room-022", "room-021"]);
    type_text(&mut app, " colour:red");
    let screen = render(&mut app, 200, 50);
    assert!(screen.contains("✗ unknown term \"colour:\""), "{screen}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.room_order().len(), 40);
}

/// `y` copies the selected room id, or in the JSON view the callback body as received; the
/// hint bar says what was copied.
#[test]
fn y_copies_the_room_id_or_the_callback_body() {
    let mut app = seeded_app();
    let room = app.selected.clone().unwrap();
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.copy_request.as_deref(), Some(room.id.as_str()));
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains(&format!("copied room id {} to the clipboard", room.id)),
        "{screen}"
    );
    app.copy_request = None;
    // The JSON view of the newest log line: y copies its body, byte for byte.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Enter);
    assert!(matches!(
        app.overlay,
        roomwatch::tui::app::Overlay::Event(_)
    ));
    key(&mut app, KeyCode::Char('y'));
    let seq = app.log_rows()[app.log_cursor_index().unwrap()].seq;
    let body = String::from_utf8_lossy(&app.entry(seq).unwrap().event.raw_body).into_owned();
    assert!(!body.is_empty());
    assert_eq!(app.copy_request.as_deref(), Some(body.as_str()));
    assert!(
        app.status_line().unwrap().contains("body"),
        "{:?}",
        app.status
    );
    // The message leaves after a few seconds.
    update(&mut app, Msg::Tick(NOW_MS + 10_000));
    assert_eq!(app.status_line(), None);
}

/// The selection and the room scope hold a room of one app while callbacks keep arriving for
/// the room with the same RoomId under the other app, which the sort moves to the top.
#[test]
fn selection_and_scope_stay_on_their_app_when_the_same_room_id_is_busy_elsewhere() {
    let hub = Hub::new(2000, 4096);
    two_apps(&hub);
    let mut rx = hub.subscribe();
    let mut app =
        roomwatch::tui::app::App::new(info_two_apps(), hub.snapshot(), STARTED_MS, (80, 24));
    update(&mut app, Msg::Tick(NOW_MS));
    let target = RoomKey::new(SECOND_APP, "live_1");
    let row = app.room_order().iter().position(|k| *k == target).unwrap();
    key(&mut app, KeyCode::Char('g'));
    for _ in 0..row {
        key(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(app.selected.as_ref(), Some(&target));
    key(&mut app, KeyCode::Char('f'));
    assert_eq!(app.scope_room.as_ref(), Some(&target));
    let scoped = app.log_rows().len();
    for i in 0..200_i64 {
        let who = format!("viewer{i}");
        publish_for(
            &hub,
            FIRST_APP,
            &members("live_1", &[&who], NOW_MS + i),
            NOW_MS + i,
        );
        drain(&mut app, &mut rx);
        app.prepare();
        assert_eq!(app.selected.as_ref(), Some(&target), "after {i}");
        assert_eq!(app.scope_room.as_ref(), Some(&target), "after {i}");
    }
    // The other app's live_1 is the most recent now, and it did not take over.
    assert_eq!(app.room_order()[0], RoomKey::new(FIRST_APP, "live_1"));
    assert_eq!(app.log_rows().len(), scoped);
    let ours = app.store.room(&target).unwrap();
    assert_eq!(ours.online_count(), 3);
    let theirs = app.store.room(&RoomKey::new(FIRST_APP, "live_1")).unwrap();
    assert_eq!(theirs.online_count(), 200);
}

#[tokio::test]
async fn w_writes_the_log_as_filtered_to_a_new_ndjson_file_and_says_where() {
    let hub = Hub::new(1000, 1024);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (80, 24));
    let dir = tempfile::tempdir().unwrap();
    app.save_dir = dir.path().to_path_buf();
    for event in seed_events() {
        hub.publish(event);
    }
    many_rooms(&hub);
    let mut keys = chars("/rname");
    keys.push(press(KeyCode::Enter));
    keys.push(press(KeyCode::Char('w')));
    keys.push(press(KeyCode::Char('w')));
    keys.push(press(KeyCode::Char('q')));
    let _terminal = run_script(&hub, &mut app, rx, keys, (80, 24)).await;
    let shown = app.log_rows().len();
    assert!(shown > 0);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The second save never overwrites the first: it takes a name of its own.
    assert_eq!(files.len(), 2, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), shown, "one line per log line shown");
    assert!(lines.iter().all(|l| l["room_id"] == "live-room"), "{text}");
    let status = app.status_line().unwrap_or_default().to_string();
    assert!(
        status.starts_with(&format!("saved {shown} log lines (as filtered) to ")),
        "{status}"
    );
}

/// Hands everything queued on `rx` to the app the way the run loop does: in one batch, with
/// the hub's state as of the last of them.
fn sync(
    app: &mut App,
    hub: &Hub,
    rx: &mut tokio::sync::broadcast::Receiver<roomwatch::store::LogEntry>,
) {
    let state = hub.read(roomwatch::store::RoomStore::checkpoint);
    let mut entries = Vec::new();
    while let Ok(entry) = rx.try_recv() {
        entries.push(entry);
    }
    update(
        app,
        Msg::Synced {
            entries,
            state: Box::new(state),
        },
    );
}

/// The dashboard reads the hub's state at frame time instead of folding every event itself:
/// after any batch of events, it must show exactly what folding each event shows (rooms,
/// counts, order, selection, log lines), with and without a filter, including batches bigger
/// than the log keeps.
#[test]
fn reading_the_hubs_state_per_frame_equals_folding_each_event() {
    for filter in ["", "blue"] {
        // A log of 50: the burst below is bigger than it.
        let hub = Hub::new(50, 4096);
        let mut rx_folded = hub.subscribe();
        let mut rx_synced = hub.subscribe();
        let mut folded = app(&hub, 160, 40);
        let mut synced = app(&hub, 160, 40);
        for app in [&mut folded, &mut synced] {
            if !filter.is_empty() {
                key(app, KeyCode::Char('/'));
                type_text(app, filter);
                key(app, KeyCode::Enter);
            }
        }
        let mut state = 11_u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        for i in 0..300_i64 {
            let room = format!("r{}", next(15));
            let at = NOW_MS - 100_000 + i * 100 - i64::try_from(next(5)).unwrap() * 1000;
            let body = match next(5) {
                0 => create_room(
                    &room,
                    if next(2) == 0 { "Blue room" } else { "Red" },
                    "h",
                    at,
                ),
                1 => destroy_room(&room, at),
                2 => members(&room, &["v"], NOW_MS - 200_000),
                _ => members(&room, &["w", "x"], at),
            };
            publish(&hub, &body, at);
            if next(3) == 0 {
                // Several events between two frames.
                continue;
            }
            if i == 150 {
                for n in 0..120 {
                    let room = format!("r{}", next(15));
                    publish(&hub, &members(&room, &["y"], at + n), at + n);
                }
            }
            if i % 40 == 7 {
                key(&mut folded, KeyCode::Char('j'));
                key(&mut synced, KeyCode::Char('j'));
            }
            drain(&mut folded, &mut rx_folded);
            sync(&mut synced, &hub, &mut rx_synced);
            folded.prepare();
            synced.prepare();
            assert_eq!(
                synced.store.rooms(),
                folded.store.rooms(),
                "after event {i}"
            );
            assert_eq!(synced.store.counters(), folded.store.counters());
            assert_eq!(synced.store.last_seq(), folded.store.last_seq());
            assert_eq!(synced.store.log(), folded.store.log(), "after event {i}");
            assert_eq!(synced.room_order(), folded.room_order(), "after event {i}");
            assert_eq!(synced.room_counts(), folded.room_counts());
            assert_eq!(synced.selected, folded.selected, "after event {i}");
            assert_eq!(synced.log_rows(), folded.log_rows(), "after event {i}");
            assert_eq!(synced.log_index_size(), folded.log_index_size());
            assert_eq!(
                render(&mut synced, 160, 40),
                render(&mut folded, 160, 40),
                "after event {i}"
            );
        }
    }
}

/// Events the hub applied after it closed never come over the bus; the state still shows
/// them, and the table is rebuilt from it rather than left in a stale order.
#[test]
fn a_state_ahead_of_the_bus_rebuilds_the_table() {
    let hub = Hub::new(100, 64);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 80, 24);
    publish(
        &hub,
        &create_room("first", "one", "h", NOW_MS - 2000),
        NOW_MS - 2000,
    );
    sync(&mut app, &hub, &mut rx);
    app.prepare();
    hub.close();
    publish(
        &hub,
        &create_room("second", "two", "h", NOW_MS - 1000),
        NOW_MS - 1000,
    );
    sync(&mut app, &hub, &mut rx);
    app.prepare();
    assert_eq!(ids(app.room_order()), ["second", "first"]);
    assert_eq!(app.room_counts(), (2, 0));
    // Only what came over the bus is in the log.
    assert_eq!(app.log_rows().len(), 1);
}

/// A dashboard whose bus dropped events takes them from the hub's log: every line the hub
/// still holds is in its log, in order, with one notice saying it fell behind.
#[tokio::test]
async fn a_lagged_dashboard_catches_up_every_line_the_hub_holds() {
    let hub = Hub::new(1000, 4);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (80, 24));
    for event in seed_events() {
        hub.publish(event);
    }
    many_rooms(&hub);
    let held: Vec<u64> = hub.read(|store| store.log().iter().map(|e| e.event.seq).collect());
    assert!(held.len() > 50);
    let _terminal = run_script(
        &hub,
        &mut app,
        rx,
        vec![press(KeyCode::Char('q'))],
        (80, 24),
    )
    .await;
    let logged: Vec<u64> = app.store.log().iter().map(|e| e.event.seq).collect();
    assert_eq!(logged, held);
    let lines: Vec<u64> = app
        .log_rows()
        .iter()
        .filter(|r| r.notice.is_none())
        .map(|r| r.seq)
        .collect();
    assert_eq!(lines, held);
    assert_eq!(app.notices.len(), 1);
    assert_eq!(app.log_index_size().0, held.len());
}

/// Under a flood the dashboard lets go of the hub's rooms after each frame (so the hub writes
/// them in place instead of copying each one it writes) and reads them back at the next sync:
/// what it shows must be exactly what an app holding them all along shows, through floods,
/// quiet frames, keys and a filter; and a quiet frame keeps them.
#[test]
fn letting_go_of_the_rooms_between_flooded_frames_changes_nothing_shown() {
    for filter in ["", "blue"] {
        let hub = Hub::new(2000, 8192);
        let mut rx_kept = hub.subscribe();
        let mut rx_released = hub.subscribe();
        let mut kept = app(&hub, 160, 40);
        let mut released = app(&hub, 160, 40);
        let mut state = 7_u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        let mut floods = 0;
        for frame in 0..24_i64 {
            // Every third frame is quiet; the others bring more events than are placed one
            // by one.
            let events = if frame % 3 == 2 { 3 } else { 300 };
            for i in 0..events {
                let room = format!("r{}", next(40));
                let at = NOW_MS - 100_000 + frame * 1000 + i;
                let body = match next(6) {
                    0 => create_room(&room, if next(2) == 0 { "Blue" } else { "Red" }, "h", at),
                    1 => destroy_room(&room, at),
                    _ => members(&room, &["w", "x"], at),
                };
                publish(&hub, &body, at);
            }
            if frame == 8 && !filter.is_empty() {
                // As the run loop does: a key after a frame that let go reads them back first.
                if released.rooms_released() {
                    sync(&mut released, &hub, &mut rx_released);
                }
                for app in [&mut kept, &mut released] {
                    key(app, KeyCode::Char('/'));
                    type_text(app, filter);
                    key(app, KeyCode::Enter);
                }
            }
            sync(&mut kept, &hub, &mut rx_kept);
            sync(&mut released, &hub, &mut rx_released);
            if frame % 5 == 4 {
                key(&mut kept, KeyCode::Char('j'));
                key(&mut released, KeyCode::Char('j'));
            }
            assert_eq!(released.store.rooms(), kept.store.rooms(), "frame {frame}");
            let shown = render(&mut released, 160, 40);
            assert_eq!(shown, render(&mut kept, 160, 40), "frame {frame}");
            assert_eq!(released.room_order(), kept.room_order(), "frame {frame}");
            assert_eq!(released.room_counts(), kept.room_counts());
            assert_eq!(released.selected, kept.selected, "frame {frame}");
            assert_eq!(released.log_rows(), kept.log_rows(), "frame {frame}");
            // Only a flooded frame lets go, and then nothing is held until the next sync. (A
            // key prepares the view itself, so the frame after it counts no new events.)
            let flooded = events > 256 && frame % 5 != 4;
            assert_eq!(released.release_rooms(), flooded, "frame {frame}");
            assert_eq!(released.rooms_released(), flooded);
            if flooded {
                floods += 1;
                assert!(released.store.rooms().is_empty());
            }
        }
        assert!(floods > 5);
    }
}

/// A key after a flooded frame acts on the hub's rooms read back first: a filter typed right
/// after the frame that let them go lists exactly the matching rooms.
#[tokio::test]
async fn a_key_after_a_flooded_frame_reads_the_rooms_back_first() {
    let hub = Hub::new(2000, 4096);
    let rx = hub.subscribe();
    let mut app = App::new(info(), hub.snapshot(), STARTED_MS, (160, 40));
    update(&mut app, Msg::Tick(NOW_MS));
    for i in 0..300_i64 {
        let name = if i % 3 == 0 { "Blue" } else { "Red" };
        let at = NOW_MS - 10_000 + i;
        publish(&hub, &create_room(&format!("r{i}"), name, "h", at), at);
    }
    let mut keys = vec![press(KeyCode::Char('/'))];
    keys.extend(chars("blue"));
    keys.push(press(KeyCode::Enter));
    keys.push(press(KeyCode::Char('q')));
    let _terminal = run_script(&hub, &mut app, rx, keys, (160, 40)).await;
    assert_eq!(app.room_order().len(), 100);
    assert!(app.room_order().iter().all(|k| {
        app.store
            .room(k)
            .is_some_and(|r| r.name.as_ref().is_some_and(|n| n.value == "Blue"))
    }));
    assert_eq!(app.store.rooms().len(), 300);
}
