//! What one keystroke in the `/` query prompt costs, end to end: the key, the new query
//! applied to the rooms table and the whole log, and the next frame at 200x50. Goal: within
//! one frame (16 ms) at 10,000 rooms and 100,000 log lines.
//!
//! Each case runs on a small dashboard (100 rooms, 1,000 lines) and a large one (10,000
//! rooms, 100,000 lines) in alternating batches, and is reported in absolute time, as the
//! ratio large/small, and as the ratio to an idle frame of the small dashboard, so the
//! machine's speed cancels out of the ratios. Run with:
//!
//!     cargo bench --bench query_keystroke
//!
//! `QUICK=1` runs one short batch per case (a check that the bench still runs); `CASE=text`
//! runs only the cases whose name contains `text` (e.g. under a profiler).
#![allow(clippy::unwrap_used)]

#[path = "../tests/ui_common/mod.rs"]
mod ui_common;

use std::hint::black_box;
use std::time::Instant;

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use roomwatch::hub::Hub;
use roomwatch::tui::app::{App, Msg, update};
use ui_common::{NOW_MS, create_room, destroy_room, event, key, members, publish};

const SIZE: (u16, u16) = (200, 50);
/// The goal for one keystroke, in ms: one frame.
const GOAL_MS: f64 = 16.0;

/// A small deterministic generator, so both dashboards get the same kind of traffic.
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

fn room_id(i: usize) -> String {
    format!("room-{i:05}")
}

/// A dashboard over `rooms` rooms and `events` callbacks: each room created, then mostly
/// presence, some renames and gifts, a few endings and rejections for random rooms.
fn dashboard(rooms: usize, events: usize) -> App {
    let hub = Hub::new(events, 16);
    let mut rng = Lcg(0x5eed);
    let start = NOW_MS - events as i64 * 100;
    for i in 0..events {
        let at = start + i as i64 * 100;
        let id = room_id(if i < rooms { i } else { rng.below(rooms) });
        let body = match rng.below(100) {
            _ if i < rooms => create_room(
                &id,
                &format!("Room number {}", &id[5..]),
                &format!("host{i}"),
                at,
            ),
            0 => {
                hub.publish(event("SdkAppid=1400000001", "{not json", at));
                continue;
            }
            1 => destroy_room(&id, at),
            2..=6 => serde_json::json!({
                "CallbackCommand": "Live.CallbackAfterUpdateRoomInfo",
                "RoomInfo": { "RoomId": id, "RoomName": format!("Room number {} v{}", &id[5..], rng.below(9)) },
                "EventTime": at,
            })
            .to_string(),
            7..=11 => serde_json::json!({
                "CallbackCommand": "Live.CallbackBeforeSendGift",
                "RoomId": id,
                "Operator_Account": format!("viewer{}", rng.below(50)),
                "From_Account": format!("viewer{}", rng.below(50)),
                "To_Account": ["host"],
                "GiftId": "rose",
                "GiftCount": 1,
                "EventTime": at,
            })
            .to_string(),
            _ => members(&id, &[format!("viewer{}", rng.below(50)).as_str()], at),
        };
        publish(&hub, &body, at);
    }
    let mut app = App::new(ui_common::info(), hub.snapshot(), NOW_MS - 150_000, SIZE);
    update(&mut app, Msg::Tick(NOW_MS));
    assert_eq!(app.store.log().len(), events);
    app
}

struct Board {
    app: App,
    terminal: Terminal<TestBackend>,
}

impl Board {
    fn new(rooms: usize, events: usize) -> Self {
        Self {
            app: dashboard(rooms, events),
            terminal: Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap(),
        }
    }

    /// What the run loop does per redraw.
    fn draw(&mut self) {
        self.app.prepare();
        self.terminal
            .draw(|frame| roomwatch::tui::ui::draw(frame, &self.app))
            .unwrap();
        self.app.dirty = false;
        black_box(self.terminal.backend().buffer().content().len());
    }

    /// Opens the prompt on `text` (the recalled query is cleared first).
    fn prompt(&mut self, text: &str) {
        let app = &mut self.app;
        key(app, KeyCode::Esc);
        key(app, KeyCode::Char('/'));
        for c in text.chars() {
            key(app, KeyCode::Char(c));
        }
        assert_eq!(app.filter, text);
        self.draw();
    }
}

/// One timed step: a key and a frame, or a frame alone.
type Step = fn(&mut Board, usize);

/// Types `c` on even steps and erases it on odd ones: each step changes the query.
fn type_and_erase(c: char) -> impl Fn(&mut Board, usize) {
    move |board, i| {
        let code = if i % 2 == 0 {
            KeyCode::Char(c)
        } else {
            KeyCode::Backspace
        };
        key(&mut board.app, code);
        board.draw();
    }
}

fn idle(board: &mut Board, _: usize) {
    update(&mut board.app, Msg::Tick(NOW_MS));
    board.draw();
}

/// CPU time this thread has used. Timings count it rather than wall time: the machine is
/// shared, and time spent waiting for a core is not the dashboard's cost.
fn cpu_ns() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

/// (CPU, wall) ns per step over `steps` steps.
fn time(board: &mut Board, steps: usize, step: &dyn Fn(&mut Board, usize)) -> (f64, f64) {
    let (cpu, wall) = (cpu_ns(), Instant::now());
    for i in 0..steps {
        step(board, i);
    }
    let n = steps as f64;
    ((cpu_ns() - cpu) / n, wall.elapsed().as_nanos() as f64 / n)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median CPU ns per step on each board, and the large board's median wall ns; batches
/// alternate between the boards after a warm-up batch each.
fn pair(
    small: &mut Board,
    large: &mut Board,
    reps: usize,
    steps: usize,
    step: &dyn Fn(&mut Board, usize),
) -> (f64, f64, f64) {
    let (mut small_ns, mut large_ns, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..=reps {
        let (s, (l, w)) = (time(small, steps, step).0, time(large, steps, step));
        if rep > 0 {
            small_ns.push(s);
            large_ns.push(l);
            wall.push(w);
        }
    }
    (
        median(&mut small_ns),
        median(&mut large_ns),
        median(&mut wall),
    )
}

fn ms(ns: f64) -> f64 {
    ns / 1_000_000.0
}

fn main() {
    let quick = std::env::var_os("QUICK").is_some();
    let (reps, steps) = if quick { (1, 2) } else { (9, 8) };
    let started = Instant::now();
    let mut small = Board::new(100, 1_000);
    let mut large = Board::new(10_000, 100_000);
    println!(
        "dashboards built in {:.1?}; {SIZE:?} cells; median of {reps} batches of {steps} steps",
        started.elapsed()
    );
    let idle_step: Step = idle;
    let (idle_small, idle_large, idle_wall) =
        pair(&mut small, &mut large, reps, steps * 4, &idle_step);

    // (case, prompt text before the timed keys, the key typed and erased)
    let cases: &[(&str, &str, char)] = &[
        ("first key: '' <-> 'r' (all match)", "", 'r'),
        ("text: 'number 0001' <-> +'2'", "number 0001", '2'),
        ("room: 'room:room-001*' <-> +'2'", "room:room-001*", '2'),
        ("cmd: 'cmd:gif' <-> +'t'", "cmd:gif", 't'),
        ("user: 'user:viewer1' <-> +'2'", "user:viewer1", '2'),
        (
            "two terms: 'number 00 !cmd:gift' <-> +'s'",
            "number 00 !cmd:gift",
            's',
        ),
    ];
    println!(
        "\n{:<44} {:>11} {:>11} {:>12} {:>13} {:>6} {:>11}",
        "case (one key + one frame), CPU time",
        "small",
        "large",
        "large/small",
        "large/frame*",
        "goal",
        "large wall"
    );
    println!("{}", "-".repeat(114));
    println!(
        "{:<44} {:>8.3} ms {:>8.3} ms {:>11.2}x {:>12.2}x {:>6} {:>8.3} ms",
        "idle frame, no key",
        ms(idle_small),
        ms(idle_large),
        idle_large / idle_small,
        idle_large / idle_small,
        "",
        ms(idle_wall)
    );
    let only = std::env::var("CASE").unwrap_or_default();
    let mut worst: f64 = 0.0;
    for (name, text, c) in cases.iter().filter(|(name, ..)| name.contains(&only)) {
        small.prompt(text);
        large.prompt(text);
        let step = type_and_erase(*c);
        let (s, l, wall) = pair(&mut small, &mut large, reps, steps, &step);
        worst = worst.max(ms(l));
        println!(
            "{name:<44} {:>8.3} ms {:>8.3} ms {:>11.2}x {:>12.2}x {:>6} {:>8.3} ms",
            ms(s),
            ms(l),
            l / s,
            l / idle_small,
            if ms(l) <= GOAL_MS { "ok" } else { "OVER" },
            ms(wall)
        );
    }
    println!(
        "\nsmall: 100 rooms / 1,000 lines; large: 10,000 rooms / 100,000 lines. Times are the \
         thread's CPU time;\n\"large wall\" is wall-clock time (it grows when the machine is busy).\n\
         * large/frame: the keystroke on the large dashboard / an idle frame on the small one.\n\
         slowest keystroke on the large dashboard: {worst:.2} ms CPU (goal {GOAL_MS} ms)\n\
         total {:.1?}",
        started.elapsed()
    );
}
