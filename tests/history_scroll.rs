//! Paging the dashboard's log back past the lines held in memory, into a real SQLite journal:
//! the app asks for pages, the test reads them from the journal as the run loop would.
#![allow(clippy::unwrap_used)]

mod ui_common;

use std::sync::Arc;

use crossterm::event::KeyCode;
use roomwatch::eventlog::{EventLog, JournalOptions, SqliteJournal};
use roomwatch::hub::Hub;
use roomwatch::tui::app::{App, HistoryPage, HistoryRequest, Msg, update};
use ui_common::*;

/// A hub holding `held` log lines in memory, journaling into `dir`, with `rooms` rooms created
/// in order (`h-000`, `h-001`, ...), every record committed.
fn journaled(dir: &std::path::Path, held: usize, rooms: usize) -> (Arc<Hub>, Arc<SqliteJournal>) {
    let options = JournalOptions {
        log_capacity: held,
        ..JournalOptions::new(dir.join("journal.sqlite"))
    };
    let (journal, restored) = SqliteJournal::open(&options).unwrap();
    let journal = Arc::new(journal);
    let hub = Arc::new(Hub::with_journal(
        restored.store,
        64,
        Arc::clone(&journal) as Arc<dyn EventLog>,
    ));
    more_rooms(&hub, 0, rooms);
    (hub, journal)
}

/// The dashboard on `hub`, with the journal to page into, the log pane focused.
fn dashboard(hub: &Hub) -> App {
    let mut app = app(hub, 110, 30);
    app.set_history_available(true);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    app
}

/// Reads every page the app asks for from the journal, as the run loop does.
fn serve(app: &mut App, journal: &SqliteJournal) -> usize {
    let mut served = 0;
    while let Some(request) = app.take_history_request() {
        answer(app, journal, request);
        served += 1;
        assert!(served < 10_000, "the app kept asking for pages");
    }
    served
}

/// Reads the page `request` asks for from the journal and hands it to the app.
fn answer(app: &mut App, journal: &SqliteJournal, request: HistoryRequest) {
    let result = journal
        .read_page(request.from, request.limit)
        .map_err(|e| e.to_string());
    update(app, Msg::History(Box::new(HistoryPage { request, result })));
}

/// The room id of the line under the cursor.
fn cursor_room(app: &App) -> String {
    let row = app.log_rows()[app.log_cursor_index().unwrap()];
    app.entry(row.seq)
        .unwrap()
        .event
        .room_id
        .clone()
        .unwrap_or_default()
}

#[test]
fn scrolling_up_past_the_held_lines_reads_older_ones_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 100);
    let mut app = dashboard(&hub);
    app.set_history_limits(30, 1000);
    assert_eq!(app.log_rows().len(), 20, "only the held lines at first");

    // Up to the first held line, then one more: the page before it is asked for.
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(cursor_room(&app), "h-080");
    key(&mut app, KeyCode::Up);
    assert!(app.history().busy(), "a page is asked for");
    assert!(render(&mut app, 110, 30).contains("reading the journal"));
    assert_eq!(serve(&mut app, &journal), 1);
    assert_eq!(
        cursor_room(&app),
        "h-079",
        "the cursor moved onto the line read"
    );
    assert_eq!(app.log_rows().len(), 50);

    // Page up to the very start: every line is there once, in order.
    for _ in 0..20 {
        key(&mut app, KeyCode::PageUp);
        serve(&mut app, &journal);
    }
    assert_eq!(cursor_room(&app), "h-000");
    assert!(app.history().start_reached());
    let seqs: Vec<u64> = app.log_rows().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<u64>>());
    let screen = render(&mut app, 110, 30);
    assert!(screen.contains("h-000"), "{screen}");
    assert!(
        screen.contains("80 from the journal, start reached"),
        "{screen}"
    );

    // At the start, one more Up says so and asks for nothing.
    key(&mut app, KeyCode::Up);
    assert_eq!(serve(&mut app, &journal), 0);
    assert!(render(&mut app, 110, 30).contains("start of the journal"));

    // Enter opens a line read from the journal like any other.
    key(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 110, 30);
    assert!(screen.contains("h-000"), "{screen}");
}

#[test]
fn a_filter_scans_back_until_it_finds_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 200);
    let mut app = dashboard(&hub);
    app.set_history_limits(25, 1000);
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "room:h-003");
    key(&mut app, KeyCode::Enter);
    assert!(app.log_rows().is_empty(), "no held line matches");

    // Many pages hold no match: they are read one after another without more keys.
    key(&mut app, KeyCode::Up);
    let pages = serve(&mut app, &journal);
    assert!(pages >= 7, "read {pages} pages");
    assert_eq!(app.log_rows().len(), 1);
    assert_eq!(cursor_room(&app), "h-003");
    assert!(app.paused());

    // A new filter lets the lines picked by the old one go.
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "*");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.history().len(), 0);
    assert!(app.log_rows().iter().all(|r| r.seq > 180));
}

#[test]
fn the_window_slides_both_ways_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 10, 120);
    let mut app = dashboard(&hub);
    app.set_history_limits(10, 30);

    // All the way up, line by line: the window holds at most 30 lines from the journal.
    key(&mut app, KeyCode::Char('g'));
    for _ in 0..200 {
        key(&mut app, KeyCode::Up);
        serve(&mut app, &journal);
        assert!(app.history().len() <= 30);
    }
    assert_eq!(cursor_room(&app), "h-000");

    // And all the way down again: every line shows up once, in order, and the held lines
    // follow the last line read from the journal.
    let mut seen = vec![app.log_rows()[app.log_cursor_index().unwrap()].seq];
    for _ in 0..200 {
        key(&mut app, KeyCode::Down);
        serve(&mut app, &journal);
        assert!(app.history().len() <= 30);
        let seq = app.log_rows()[app.log_cursor_index().unwrap()].seq;
        if seen.last() != Some(&seq) {
            seen.push(seq);
        }
    }
    assert_eq!(seen, (1..=120).collect::<Vec<u64>>());
    assert_eq!(cursor_room(&app), "h-119");
}

#[test]
fn following_the_tail_stops_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 100);
    let mut app = dashboard(&hub);
    app.set_history_limits(10, 1000);
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "room:nowhere");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Up);
    let request = app.take_history_request().unwrap();
    // End while the page is being read: the page still lands, nothing more is asked for.
    key(&mut app, KeyCode::End);
    answer(&mut app, &journal, request);
    assert!(app.take_history_request().is_none());
    assert!(!app.paused());
}

#[test]
fn without_a_journal_the_top_says_so() {
    let hub = Hub::new(20, 64);
    for i in 0..30_i64 {
        publish(
            &hub,
            &create_room(&format!("n-{i:02}"), "x", "o", NOW_MS),
            NOW_MS,
        );
    }
    let mut app = app(&hub, 110, 30);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Up);
    assert!(app.take_history_request().is_none());
    assert!(render(&mut app, 110, 30).contains("needs the journal"));
}

#[test]
fn keys_pressed_while_a_page_is_read_still_move_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 100);
    let mut app = dashboard(&hub);
    app.set_history_limits(50, 1000);
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Up);
    // Three more Ups before the page is in: the cursor ends four lines above the held ones.
    for _ in 0..3 {
        key(&mut app, KeyCode::Up);
    }
    assert_eq!(serve(&mut app, &journal), 1);
    assert_eq!(cursor_room(&app), "h-076");
}

#[test]
fn lines_answered_while_the_journal_fails_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 100, 3);
    let used: i64 = rusqlite::Connection::open(dir.path().join("journal.sqlite"))
        .unwrap()
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    journal.set_max_pages(used.try_into().unwrap());
    let mut failed = 0;
    for i in 3..40 {
        let body = create_room(&format!("h-{i:03}"), "hist", "owner", NOW_MS);
        let query = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom";
        let (_, commit) = hub.publish_durably(event(query, &body, NOW_MS));
        failed += usize::from(commit.unwrap().wait_blocking().is_err());
    }
    assert!(failed > 0, "the journal never filled");
    let mut app = dashboard(&hub);
    app.journal_health = hub.journal_health();
    let screen = render(&mut app, 110, 30);
    let marked = screen
        .lines()
        .filter(|l| l.contains("not journaled yet"))
        .count();
    assert!(marked > 0, "{screen}");
    assert!(
        screen
            .lines()
            .filter(|l| l.contains("h-000"))
            .all(|l| !l.contains("not journaled")),
        "{screen}"
    );
}

/// Publishes `count` more rooms after the first `from`, every record committed.
fn more_rooms(hub: &Hub, from: usize, count: usize) {
    for i in from..from + count {
        new_room(hub, i).wait_blocking().unwrap();
    }
}

/// Publishes room `h-<i>` (created `i` seconds after the first); its journal commit to wait for.
fn new_room(hub: &Hub, i: usize) -> roomwatch::eventlog::Commit {
    let at = NOW_MS - 3_600_000 + i64::try_from(i).unwrap() * 1000;
    let body = create_room(&format!("h-{i:03}"), "hist", "owner", at);
    let query = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom";
    hub.publish_durably(event(query, &body, at)).1.unwrap()
}

/// Hands the hub's new events to the app, as the run loop does each frame.
fn take_bus(app: &mut App, rx: &mut tokio::sync::broadcast::Receiver<roomwatch::store::LogEntry>) {
    drain(app, rx);
    app.prepare();
}

/// The cursor's position, then each one after `key` is pressed `times` times.
fn walk(app: &mut App, journal: &SqliteJournal, key_code: KeyCode, times: usize) -> Vec<u64> {
    let mut seen = vec![app.log_rows()[app.log_cursor_index().unwrap()].seq];
    for _ in 0..times {
        key(app, key_code);
        serve(app, journal);
        let seq = app.log_rows()[app.log_cursor_index().unwrap()].seq;
        if seen.last() != Some(&seq) {
            seen.push(seq);
        }
    }
    seen
}

#[test]
fn lines_leaving_memory_while_a_page_is_read_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 100);
    let mut rx = hub.subscribe();
    let mut app = dashboard(&hub);
    app.set_history_limits(30, 1000);
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Up);
    let request = app.take_history_request().unwrap();
    // Ten more callbacks push lines 81-90 out of memory before the page is in.
    more_rooms(&hub, 100, 10);
    take_bus(&mut app, &mut rx);
    answer(&mut app, &journal, request);
    serve(&mut app, &journal);
    // From wherever the cursor is, down to the tail: no line is skipped.
    let seen = walk(&mut app, &journal, KeyCode::Down, 80);
    let first = seen[0];
    assert!(first <= 80, "{seen:?}");
    assert_eq!(seen, (first..=110).collect::<Vec<u64>>());
}

#[test]
fn after_following_the_tail_scrolling_up_skips_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 100);
    let mut rx = hub.subscribe();
    let mut app = dashboard(&hub);
    app.set_history_limits(30, 1000);
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::PageUp);
    serve(&mut app, &journal);
    assert!(!app.history().is_empty());
    // Back to the tail; thirty more callbacks push every line seen so far out of memory.
    key(&mut app, KeyCode::End);
    more_rooms(&hub, 100, 30);
    take_bus(&mut app, &mut rx);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(cursor_room(&app), "h-110");
    let seen = walk(&mut app, &journal, KeyCode::Up, 40);
    assert_eq!(seen, (71..=111).rev().collect::<Vec<u64>>());
}

/// Lines that left memory before the journal committed them (its writer held up by another
/// process's lock) are not jumped over when scrolling down from the journal's lines: the
/// cursor waits at the last committed line, and goes on once the journal has them.
#[test]
fn scrolling_down_waits_for_lines_the_journal_has_not_committed_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, journal) = journaled(dir.path(), 20, 100);
    let mut rx = hub.subscribe();
    let mut app = dashboard(&hub);
    app.set_history_limits(30, 1000);
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Up);
    serve(&mut app, &journal);
    // Thirty more while the journal cannot commit: 101-110 leave memory uncommitted.
    let blocker = rusqlite::Connection::open(dir.path().join("journal.sqlite")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let commits: Vec<_> = (100..130).map(|i| new_room(&hub, i)).collect();
    take_bus(&mut app, &mut rx);
    app.journal_health = hub.journal_health();
    assert_eq!(app.journal_health.as_ref().unwrap().committed, 100);
    let seen = walk(&mut app, &journal, KeyCode::Down, 40);
    assert_eq!(
        *seen.last().unwrap(),
        100,
        "stops at the last committed line: {seen:?}"
    );

    blocker.execute_batch("ROLLBACK").unwrap();
    for commit in commits {
        commit.wait_blocking().unwrap();
    }
    app.journal_health = hub.journal_health();
    let rest = walk(&mut app, &journal, KeyCode::Down, 40);
    let mut all = seen;
    all.extend(rest.into_iter().skip(1));
    let first = all[0];
    assert_eq!(all, (first..=130).collect::<Vec<u64>>());
}
