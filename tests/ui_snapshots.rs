//! Whole-screen snapshots of the dashboard on ratatui's TestBackend, at 80x24 and 160x40.
#![allow(clippy::unwrap_used)]

mod ui_common;

use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use roomwatch::hub::Hub;
use roomwatch::tui::app::{Msg, update};
use ui_common::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 40)];

fn seeded() -> Hub {
    let hub = Hub::new(1000, 1024);
    for event in seed_events() {
        hub.publish(event);
    }
    hub
}

fn many() -> Hub {
    let hub = Hub::new(1000, 1024);
    many_rooms(&hub);
    hub
}

#[test]
fn empty() {
    let hub = Hub::new(1000, 16);
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        insta::assert_snapshot!(format!("empty_{w}x{h}"), render(&mut app, w, h));
    }
}

#[test]
fn seed_callbacks() {
    let hub = seeded();
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        let screen = render(&mut app, w, h);
        // The ModifyAdmin room is the most recent, so it is selected and detailed.
        assert!(screen.contains("Admins: user1, user2"), "{screen}");
        assert!(screen.contains("rname-123"));
        insta::assert_snapshot!(format!("seeds_{w}x{h}"), screen);

        // The other room: named, ApplyToTake, private; fields never sent stay unknown.
        key(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected.as_deref(), Some("live-room"));
        let screen = render(&mut app, w, h);
        assert!(screen.contains("Seat mode: ApplyToTake"));
        assert!(screen.contains("Visibility: private"));
        assert!(screen.contains("Owner: ?"));
        insta::assert_snapshot!(format!("seeds_live_room_{w}x{h}"), screen);
    }
}

#[test]
fn many_rooms_table() {
    let hub = many();
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        insta::assert_snapshot!(format!("many_{w}x{h}"), render(&mut app, w, h));
    }
}

#[test]
fn ended_rooms_are_dimmed_and_rejections_red() {
    let hub = many();
    let (w, h) = (160, 40);
    let mut app = app(&hub, w, h);
    // room-038 is ended (38 % 7 == 3) and near the top of "most recent first".
    let order = app.room_order().to_vec();
    let row = order.iter().position(|id| id == "room-038").unwrap();
    let buf = buffer(&mut app, w, h);
    let y = 4 + u16::try_from(row).unwrap();
    let cell = &buf[(0, y)];
    assert_eq!(cell.symbol(), "r");
    assert!(cell.modifier.contains(Modifier::DIM), "{cell:?}");
    // The rejected line is red and says why.
    let screen = render(&mut app, w, h);
    let line = screen
        .lines()
        .position(|l| l.contains("400 body is not JSON"))
        .unwrap();
    let x = buf
        .content()
        .chunks(usize::from(w))
        .nth(line)
        .unwrap()
        .iter()
        .position(|c| c.symbol() == "✗")
        .unwrap();
    assert_eq!(
        buf[(u16::try_from(x).unwrap(), u16::try_from(line).unwrap())].fg,
        Color::Red
    );
}

#[test]
fn filter_active() {
    let hub = many();
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "NUMBER 1");
        // Typing narrows at once, ignoring case; the selection is the first match.
        assert!(
            app.room_order()
                .iter()
                .all(|id| id.starts_with("room-01") || id == "room-001"),
            "{:?}",
            app.room_order()
        );
        assert_eq!(
            app.selected.as_deref(),
            app.room_order().first().map(String::as_str)
        );
        insta::assert_snapshot!(format!("filter_typing_{w}x{h}"), render(&mut app, w, h));
        key(&mut app, KeyCode::Enter);
        insta::assert_snapshot!(format!("filter_kept_{w}x{h}"), render(&mut app, w, h));
    }
}

#[test]
fn paused_with_new_events() {
    let hub = many();
    let mut rx = hub.subscribe();
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::BackTab);
        key(&mut app, KeyCode::Char('k'));
        key(&mut app, KeyCode::Char('k'));
        assert!(app.paused());
        for i in 0..3 {
            let at = NOW_MS - 3_000 + i * 1000;
            publish(&hub, &members("room-039", &[&format!("late{i}")], at), at);
        }
        drain(&mut app, &mut rx);
        assert_eq!(app.new_while_paused, 3);
        let screen = render(&mut app, w, h);
        assert!(screen.contains("PAUSED · 3 new"));
        insta::assert_snapshot!(format!("paused_{w}x{h}"), screen);
        // G follows the tail again.
        key(&mut app, KeyCode::Char('G'));
        assert!(!app.paused());
        assert!(render(&mut app, w, h).contains("late2"));
    }
}

#[test]
fn json_view() {
    let hub = seeded();
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Enter);
        let screen = render(&mut app, w, h);
        assert!(screen.contains("\"Admin_Account\""));
        assert!(screen.contains("CallbackCommand = Live.CallbackAfterModifyAdmin"));
        assert!(screen.contains("Reply: 200"));
        insta::assert_snapshot!(format!("json_{w}x{h}"), screen);
        key(&mut app, KeyCode::Esc);
        assert!(!render(&mut app, w, h).contains("\"Admin_Account\""));
    }
}

#[test]
fn help_overlay() {
    let hub = seeded();
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Char('?'));
        let screen = render(&mut app, w, h);
        for binding in roomwatch::tui::keymap::BINDINGS {
            assert!(screen.contains(binding.help) || w < 100, "{}", binding.help);
        }
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen);
    }
}

#[test]
fn cjk_names_keep_columns() {
    let hub = Hub::new(1000, 16);
    let names = [
        (
            "直播间-001",
            "深夜电台·爵士乐与城市的故事 — 很长很长的房间名字",
        ),
        ("room-emoji", "🎤 karaoke ナイト 🎶"),
        ("room-ascii", "plain name"),
        ("한국어-방", "라이브 방송 테스트"),
    ];
    for (i, (id, name)) in names.iter().enumerate() {
        let at = NOW_MS - 60_000 + i64::try_from(i).unwrap() * 1000;
        publish(&hub, &create_room(id, name, "主播小王", at), at);
    }
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        let screen = render(&mut app, w, h);
        // Every table row has the seat-mode column at the same display position.
        let positions: Vec<usize> = screen
            .lines()
            .filter(|l| {
                names
                    .iter()
                    .any(|(id, _)| l.starts_with(&format!("\"{id}")))
            })
            .map(|l| {
                let at = l.find("ToTake").unwrap();
                unicode_width::UnicodeWidthStr::width(&l[..at])
            })
            .collect();
        assert_eq!(positions.len(), 4, "{screen}");
        assert!(
            positions.windows(2).all(|p| p[0] - p[1] <= 2),
            "{positions:?}\n{screen}"
        );
        insta::assert_snapshot!(format!("cjk_{w}x{h}"), screen);
    }
}

#[test]
fn lag_notice_shows_in_log() {
    let hub = seeded();
    let mut app = app(&hub, 80, 24);
    update(
        &mut app,
        Msg::Lagged {
            skipped: 7,
            snapshot: Box::new(hub.snapshot()),
        },
    );
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("fell behind: skipped 7 events, resynced"),
        "{screen}"
    );
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let hub = many();
    let mut app = app(&hub, 80, 24);
    let mouse = |kind, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column: 5,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Row 2 of the table (screen row 2 header + title + 2).
    update(&mut app, mouse(MouseEventKind::Down(MouseButton::Left), 6));
    assert_eq!(app.selected.as_deref(), Some("room-037"));
    // The wheel over the log scrolls it up and pauses it.
    update(&mut app, mouse(MouseEventKind::ScrollUp, 20));
    assert!(app.paused());
}

#[test]
fn the_detail_pane_shows_a_battle_with_its_scores() {
    let hub = Hub::new(1000, 16);
    publish(
        &hub,
        &create_room("live_9001", "Evening jazz", "host_lin", NOW_MS - 9000),
        NOW_MS - 9000,
    );
    publish(
        &hub,
        &create_room("live_9002", "Late jazz", "host_mei", NOW_MS - 8000),
        NOW_MS - 8000,
    );
    let end = roomwatch::protocol::samples::find("Live.CallbackAfterEndBattle")
        .unwrap()
        .json;
    publish(&hub, end, NOW_MS - 1000);
    let mut app = app(&hub, 160, 40);
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "live_9001");
    key(&mut app, KeyCode::Enter);
    // Focus the detail pane and scroll to its end.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::End);
    let screen = render(&mut app, 160, 40);
    assert!(
        screen.contains("Battles: b-7Q2mXh0= ended 4200 vs live_9002 3900"),
        "{screen}"
    );
}

/// The x of the first cell where `needle` starts on row `y`, reading cell symbols.
fn find_in_row(buffer: &ratatui::buffer::Buffer, y: u16, needle: &str) -> Option<u16> {
    use ratatui::buffer::CellWidth;
    let width = buffer.area.width;
    (0..width).find(|&x| {
        let mut text = String::new();
        let mut at = x;
        while at < width && text.len() < needle.len() {
            // A wide grapheme hides the cells it covers: step over them as the screen does.
            let cell = &buffer[(at, y)];
            text.push_str(cell.symbol());
            at += cell.cell_width().max(1);
        }
        text.starts_with(needle)
    })
}

#[test]
fn zwj_emoji_flags_combining_marks_and_cjk_keep_columns_in_table_detail_and_log() {
    let hub = Hub::new(1000, 16);
    let rooms = [
        (
            "👨\u{200d}👩\u{200d}👧\u{200d}👦-fam",
            "👨\u{200d}👩\u{200d}👧\u{200d}👦 family night 👩\u{200d}🚀",
        ),
        ("🇯🇵-tokyo", "🇯🇵🇰🇷🇨🇳 friends"),
        ("cafe\u{301}-1", "Cafe\u{301} de\u{301}ja\u{300} vu"),
        ("深夜-1", "深夜电台直播间"),
        ("ascii-1", "plain"),
    ];
    for (i, (id, name)) in rooms.iter().enumerate() {
        let at = NOW_MS - 60_000 + i64::try_from(i).unwrap() * 1000;
        publish(&hub, &create_room(id, name, &format!("own_{i}"), at), at);
    }
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        let buffer = buffer(&mut app, w, h);
        let starts_row = |y: u16, prefix: &str| find_in_row(&buffer, y, prefix) == Some(0);
        let mut table = Vec::new();
        let mut log = Vec::new();
        let mut detail = Vec::new();
        for y in 0..h {
            // The owner column of each room row, and the operator column of each log line.
            if rooms.iter().any(|(id, _)| starts_row(y, id)) {
                table.push(find_in_row(&buffer, y, "own_"));
            } else if starts_row(y, "00:29:") {
                log.push(find_in_row(&buffer, y, "own_"));
            }
            for label in ["Name: ", "Seat mode: ", "Admins: ", "Online: "] {
                if let Some(x) = find_in_row(&buffer, y, label) {
                    detail.push(Some(x));
                }
            }
        }
        assert_eq!(table.len(), 5, "{table:?}");
        assert_eq!(log.len(), 5, "{log:?}\n{}", render(&mut app, w, h));
        assert_eq!(detail.len(), 4, "{detail:?}");
        for (what, columns) in [("table", &table), ("log", &log), ("detail", &detail)] {
            assert!(
                columns.iter().all(Option::is_some) && columns.windows(2).all(|p| p[0] == p[1]),
                "{what} columns at {w}x{h}: {columns:?}"
            );
        }
        insta::assert_snapshot!(format!("wide_graphemes_{w}x{h}"), render(&mut app, w, h));
    }
}
