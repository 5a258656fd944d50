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
        assert_eq!(
            app.selected.as_ref().map(|k| k.id.as_str()),
            Some("live-room")
        );
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
    // room-031 and room-038 are ended (n % 7 == 3): they sink below the live rooms.
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "room-03");
    key(&mut app, KeyCode::Enter);
    let order: Vec<String> = app.room_order().iter().map(|k| k.id.clone()).collect();
    assert_eq!(order[order.len() - 2..], ["room-038", "room-031"]);
    let row = order.iter().position(|id| id == "room-038").unwrap();
    let buf = buffer(&mut app, w, h);
    let y = 4 + u16::try_from(row).unwrap();
    let cell = &buf[(0, y)];
    assert_eq!(cell.symbol(), "r");
    assert!(cell.modifier.contains(Modifier::DIM), "{cell:?}");
    // The rejected line is red and says why.
    key(&mut app, KeyCode::Esc);
    let buf = buffer(&mut app, w, h);
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
        // Typing narrows at once, ignoring case, every word must match; the selection is the
        // first match.
        assert_eq!(app.room_order().len(), 13);
        assert!(
            app.room_order().iter().all(|key| key.id.contains('1')),
            "{:?}",
            app.room_order()
        );
        assert_eq!(
            app.selected.as_ref().map(|k| k.id.as_str()),
            app.room_order().first().map(|k| k.id.as_str())
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
        // Every table row has the state column at the same display position.
        let positions: Vec<usize> = screen
            .lines()
            .filter(|l| {
                names
                    .iter()
                    .any(|(id, _)| l.starts_with(&format!("\"{id}")))
            })
            .map(|l| {
                let at = l.find(" live ").unwrap();
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
    // Row 2 of the table (screen row 2 header + title + 2); the ended room-038 sank.
    update(&mut app, mouse(MouseEventKind::Down(MouseButton::Left), 6));
    assert_eq!(
        app.selected.as_ref().map(|k| k.id.as_str()),
        Some("room-036")
    );
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

/// The sizes the newer screens are reviewed at.
const REVIEW_SIZES: [(u16, u16); 2] = [(80, 24), (200, 50)];

#[test]
fn sorted_by_online_reversed_by_id() {
    let hub = many();
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        // recent -> id -> name -> online
        for _ in 0..3 {
            key(&mut app, KeyCode::Char('s'));
        }
        let screen = render(&mut app, w, h);
        assert!(screen.contains("most online first"), "{screen}");
        insta::assert_snapshot!(format!("sorted_online_{w}x{h}"), screen);
        // Back to id, reversed.
        for _ in 0..5 {
            key(&mut app, KeyCode::Char('s'));
        }
        key(&mut app, KeyCode::Char('S'));
        let screen = render(&mut app, w, h);
        assert!(screen.contains("by id, reversed"), "{screen}");
        insta::assert_snapshot!(format!("sorted_id_reversed_{w}x{h}"), screen);
    }
}

#[test]
fn ended_rooms_hidden() {
    let hub = many();
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Char('x'));
        let screen = render(&mut app, w, h);
        assert!(screen.contains("6 ended (hidden)"), "{screen}");
        insta::assert_snapshot!(format!("ended_hidden_{w}x{h}"), screen);
    }
}

#[test]
fn query_with_several_terms() {
    let hub = many();
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "room:room-0* !cmd:destroy since:5m");
        key(&mut app, KeyCode::Enter);
        let screen = render(&mut app, w, h);
        assert!(screen.contains("FILTER room:room-0*"), "{screen}");
        insta::assert_snapshot!(format!("query_terms_{w}x{h}"), screen);
        // Typing a bad term: the prompt says why.
        key(&mut app, KeyCode::Char('/'));
        key(&mut app, KeyCode::End);
        type_text(&mut app, " verdict:maybe");
        let screen = render(&mut app, w, h);
        assert!(screen.contains("✗ verdict: is accepted"), "{screen}");
        insta::assert_snapshot!(format!("query_error_{w}x{h}"), screen);
    }
}

#[test]
fn help_lists_query_terms_and_scrolls() {
    let hub = seeded();
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Char('?'));
        let mut seen = String::new();
        for _ in 0..40 {
            seen.push_str(&render(&mut app, w, h));
            key(&mut app, KeyCode::Char('j'));
        }
        for (term, _) in roomwatch::tui::query::TERMS {
            assert!(seen.contains(term), "{term}");
        }
        key(&mut app, KeyCode::Char('g'));
        insta::assert_snapshot!(format!("help_terms_{w}x{h}"), render(&mut app, w, h));
    }
}

/// Monochrome: no cell keeps a colour; the selected row, filled badges and the focused title
/// are in reverse video instead.
#[test]
fn no_color_is_monochrome_with_reverse_video() {
    let hub = many();
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        app.info.no_color = true;
        key(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "room");
        key(&mut app, KeyCode::Enter);
        let buf = buffer(&mut app, w, h);
        assert!(
            buf.content()
                .iter()
                .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
            "a coloured cell"
        );
        // The selected (first) row: reverse video across it.
        let row = 4;
        assert!(buf[(0, row)].modifier.contains(Modifier::REVERSED));
        assert!(buf[(w / 3, row)].modifier.contains(Modifier::REVERSED));
        // The FILTER badge, filled in colour otherwise, is reversed too.
        let screen = render(&mut app, w, h);
        let x = screen.lines().next().unwrap().find("FILTER").unwrap();
        assert!(
            buf[(u16::try_from(x).unwrap() - 1, 0)]
                .modifier
                .contains(Modifier::REVERSED)
        );
        insta::assert_snapshot!(format!("no_color_{w}x{h}"), screen);
    }
}

/// The room view shows everything: a room with 60 members online lists every one (the
/// detail pane scrolls instead of `+N more`); once destroyed, its Statistic block, its
/// lifetime, and the table's state, seats and age columns.
#[test]
fn room_view_lists_every_member_and_the_statistic() {
    let hub = Hub::new(1000, 64);
    let created = 1_735_696_800_456 - 3_600_000;
    publish(
        &hub,
        &create_room("live_9001", "Evening jazz", "host_lin", created),
        created,
    );
    let who: Vec<String> = (0..60).map(|i| format!("viewer_{i:02}")).collect();
    let refs: Vec<&str> = who.iter().map(String::as_str).collect();
    publish(
        &hub,
        &members("live_9001", &refs, created + 1000),
        created + 1000,
    );
    let seats = roomwatch::protocol::samples::find("Mic.CallbackAfterSeatInfoChanged")
        .unwrap()
        .json;
    publish(&hub, seats, created + 2000);
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        app.now_ms = created + 600_000;
        key(&mut app, KeyCode::Tab);
        let mut seen = String::new();
        for _ in 0..40 {
            seen.push_str(&render(&mut app, w, h));
            key(&mut app, KeyCode::Char('j'));
        }
        for name in &who {
            assert!(
                seen.contains(name.as_str()),
                "{name} never shown at {w}x{h}"
            );
        }
        assert!(!seen.contains("more"), "{seen}");
        assert!(seen.contains("Age: 10m"), "{seen}");
        key(&mut app, KeyCode::Char('g'));
        insta::assert_snapshot!(format!("room_view_live_{w}x{h}"), render(&mut app, w, h));
    }
    let destroy = roomwatch::protocol::samples::find("Live.CallbackAfterDestroyRoom")
        .unwrap()
        .json;
    publish(&hub, destroy, 1_735_696_800_456);
    for (w, h) in REVIEW_SIZES {
        let mut app = app(&hub, w, h);
        key(&mut app, KeyCode::Tab);
        let mut seen = String::new();
        for _ in 0..40 {
            seen.push_str(&render(&mut app, w, h));
            key(&mut app, KeyCode::Char('j'));
        }
        for part in [
            "Statistic: viewers 412",
            "gifts sent 57",
            "gift coins 8800",
            "gift senders 19",
            "likes 2301",
            "Lasted: 1h",
            "ended",
        ] {
            assert!(seen.contains(part), "{part} at {w}x{h}: {seen}");
        }
        key(&mut app, KeyCode::Char('g'));
        insta::assert_snapshot!(format!("room_view_ended_{w}x{h}"), render(&mut app, w, h));
    }
}

/// The header sparkline (callbacks per second, seconds with a rejection in red) and the room
/// chart (online and callbacks per minute), fed by callbacks arriving over ten minutes.
#[test]
fn plots_sparkline_and_room_chart() {
    let hub = Hub::new(5000, 8192);
    let mut rx = hub.subscribe();
    let mut app = app(&hub, 200, 50);
    let start = NOW_MS - 600_000;
    publish(&hub, &create_room("live_7", "Plots", "host", start), start);
    for i in 0..600_i64 {
        let at = start + i * 1000;
        // Presence grows then falls: a visible shape.
        let online = if i < 300 { i / 20 } else { (600 - i) / 20 };
        let who: Vec<String> = (0..=online).map(|n| format!("v{n}")).collect();
        let refs: Vec<&str> = who.iter().map(String::as_str).collect();
        publish(&hub, &members("live_7", &refs, at), at);
        for _ in 0..(i % 7) {
            publish(&hub, &members("live_7", &["v0"], at), at);
        }
        if i % 45 == 0 || i == 598 {
            hub.publish(event("SdkAppid=1400000001", "{broken", at));
        }
    }
    drain(&mut app, &mut rx);
    let sparks = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    for (w, h) in REVIEW_SIZES {
        let buf = buffer(&mut app, w, h);
        let screen = render(&mut app, w, h);
        let header: String = screen.lines().take(2).collect();
        assert!(header.contains(sparks), "{screen}");
        // A second with a rejection is red on the header's sparkline.
        let red = (0..w).any(|x| {
            (0..2).any(|y| {
                let cell = &buf[(x, y)];
                cell.fg == Color::Red && sparks.iter().any(|s| cell.symbol().starts_with(*s))
            })
        });
        assert!(red, "{screen}");
        if h >= 50 {
            assert!(screen.contains("Online per minute"), "{screen}");
            assert!(screen.contains("Callbacks per minute"), "{screen}");
        } else {
            assert!(screen.contains(" · calls/min "), "{screen}");
        }
        insta::assert_snapshot!(format!("plots_{w}x{h}"), screen);
        // p hides both plots.
        key(&mut app, KeyCode::Char('p'));
        let plain = render(&mut app, w, h);
        assert!(!plain.contains("Online per minute"), "{plain}");
        assert!(!plain.contains("calls/min"), "{plain}");
        let header: String = plain.lines().take(2).collect();
        assert!(!header.contains(sparks), "{plain}");
        key(&mut app, KeyCode::Char('p'));
    }
    // Bounded: the per-second series keeps at most five minutes.
    assert!(
        app.throughput
            .last_seconds(NOW_MS, 1000)
            .iter()
            .filter(|b| b.total > 0)
            .count()
            <= roomwatch::tui::app::SECONDS_KEPT
    );
}

/// Several apps: an APP column, the app in the room view and log title, and `app:` terms;
/// the same RoomId under two apps is two rows.
#[test]
fn many_apps_show_the_app_column_and_filter_by_app() {
    let hub = Hub::new(1000, 1024);
    two_apps(&hub);
    for (w, h) in [(80, 24), (200, 50)] {
        let mut app =
            roomwatch::tui::app::App::new(info_two_apps(), hub.snapshot(), STARTED_MS, (w, h));
        update(&mut app, Msg::Tick(NOW_MS));
        let rows: Vec<(String, String)> = app
            .room_order()
            .iter()
            .map(|k| (k.app.clone(), k.id.clone()))
            .collect();
        assert_eq!(rows.len(), 4);
        assert!(rows.contains(&(FIRST_APP.into(), "live_1".into())));
        assert!(rows.contains(&(SECOND_APP.into(), "live_1".into())));
        let screen = render(&mut app, w, h);
        assert!(screen.contains("APP "), "{screen}");
        let header = if w < 100 {
            "apps 2"
        } else {
            "SdkAppid 1400000001,1400000002"
        };
        assert!(screen.contains(header), "{screen}");
        insta::assert_snapshot!(format!("apps_{w}x{h}"), screen);

        // The second app's live_1, scoped: its own log lines only.
        let second = rows
            .iter()
            .position(|r| *r == (SECOND_APP.into(), "live_1".into()))
            .unwrap();
        update(
            &mut app,
            Msg::Key(crossterm::event::KeyEvent::new(
                KeyCode::Home,
                crossterm::event::KeyModifiers::NONE,
            )),
        );
        for _ in 0..second {
            key(&mut app, KeyCode::Char('j'));
        }
        key(&mut app, KeyCode::Char('f'));
        let scope = app.scope_room.clone().unwrap();
        assert_eq!(
            (scope.app.as_str(), scope.id.as_str()),
            (SECOND_APP, "live_1")
        );
        assert_eq!(app.log_rows().len(), 2, "its creation and its members");
        let screen = render(&mut app, w, h);
        assert!(screen.contains("app 1400000002"), "{screen}");
        assert!(screen.contains("Jazz of the second app"), "{screen}");
        key(&mut app, KeyCode::Char('f'));

        key(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "app:1400000002");
        key(&mut app, KeyCode::Enter);
        assert!(app.room_order().iter().all(|k| k.app == SECOND_APP));
        assert_eq!(app.room_order().len(), 2);
        assert_eq!(app.log_rows().len(), 3);
        insta::assert_snapshot!(format!("apps_filtered_{w}x{h}"), render(&mut app, w, h));
        // Negated, and with a prefix pattern.
        key(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "!app:*2");
        key(&mut app, KeyCode::Enter);
        assert!(app.room_order().iter().all(|k| k.app == FIRST_APP));
        assert_eq!(app.room_order().len(), 2);
        assert_eq!(app.log_rows().len(), 3);
        key(&mut app, KeyCode::Esc);
    }
}

/// With exactly one app, nothing about apps is on screen.
#[test]
fn one_app_shows_no_app_column() {
    let hub = seeded();
    let mut app = app(&hub, 200, 50);
    let screen = render(&mut app, 200, 50);
    assert!(!screen.contains("APP "), "{screen}");
    assert!(!screen.contains(" app 1400000001"), "{screen}");
}

/// A failing backend is an alarm on the header's first line at every size, not only in the
/// relay segment at the end of the second, which a narrow screen cuts off.
#[test]
fn a_failing_relay_is_a_badge_even_on_a_narrow_screen() {
    let hub = seeded();
    let failing = roomwatch::relay::RelayStatus {
        target: "http://127.0.0.1:9/hook".into(),
        health: roomwatch::relay::outcome::Health::Failing {
            since_ms: 1_735_690_200_000,
            reason: "connection refused".into(),
        },
        backlog: 21,
        backlog_bytes: 8_000,
        backlog_full: false,
        p50_ms: None,
        p99_ms: None,
    };
    for (w, h) in SIZES {
        let mut app = app(&hub, w, h);
        update(&mut app, Msg::RelayStatus(failing.clone()));
        let screen = render(&mut app, w, h);
        let first = screen.lines().next().unwrap();
        assert!(first.contains("RELAY FAILING · 21 waiting"), "{screen}");
        // Healthy again: the alarm goes.
        let ok = roomwatch::relay::RelayStatus {
            health: roomwatch::relay::outcome::Health::Ok,
            backlog: 0,
            ..failing.clone()
        };
        update(&mut app, Msg::RelayStatus(ok));
        let screen = render(&mut app, w, h);
        assert!(!screen.contains("RELAY"), "{screen}");
    }
    // A full backlog says so whatever the health.
    let full = roomwatch::relay::RelayStatus {
        health: roomwatch::relay::outcome::Health::Ok,
        backlog_full: true,
        ..failing
    };
    let mut app = app(&hub, 80, 24);
    update(&mut app, Msg::RelayStatus(full));
    let screen = render(&mut app, 80, 24);
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .contains("RELAY BACKLOG FULL · 21 waiting"),
        "{screen}"
    );
}
