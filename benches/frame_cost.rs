//! Does a frame cost what is visible, or what is stored? What do the plots (header sparkline,
//! room chart) add to a frame? And does the receiver keep answering at full speed when a
//! subscriber stalls?
//!
//! Every number is reported as a ratio against a baseline measured in the same run (a small
//! store; a receiver with no subscriber), so the machine's speed cancels out. Run with:
//!
//!     cargo bench --bench frame_cost
//!
//! A frame is what the app loop does per redraw: `App::prepare` then `ui::draw` on a
//! ratatui `TestBackend`. A "live" frame first takes one callback off the bus, as under load.
#![allow(clippy::unwrap_used)]

#[path = "../tests/ui_common/mod.rs"]
mod ui_common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};
use roomwatch::store::{Checkpoint, LogEntry, RoomStore};
use roomwatch::tui::app::{App, Msg, update};
use ui_common::{NOW_MS, create_room, destroy_room, event, key, members, publish};

/// Timed batches per case; the median batch is reported.
const REPS: usize = 9;
/// Frames (or events) per timed batch.
const BATCH: usize = 100;
/// Fresh callbacks made per store for the cases that consume them.
const POOL: usize = 7 * (REPS + 1) * BATCH + (REPS + 1) * BURST_FRAMES * BURST;
/// Callbacks in one burst, as many as the run loop takes off the bus before a frame.
const BURST: usize = 512;
/// Frames per timed batch in the burst case.
const BURST_FRAMES: usize = 2;

/// A small deterministic generator, so both stores get the same kind of traffic.
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

fn update_room(id: &str, name: &str, event_ms: i64) -> String {
    serde_json::json!({
        "CallbackCommand": "Live.CallbackAfterUpdateRoomInfo",
        "Operator_Account": "host",
        "RoomInfo": { "RoomId": id, "RoomName": name, "IsMessageDisabled": event_ms % 2 == 0 },
        "EventTime": event_ms,
    })
    .to_string()
}

/// One callback of the steady traffic: mostly presence, some renames, a few endings and
/// rejections, for a random existing room.
fn traffic(hub: &Hub, rng: &mut Lcg, rooms: usize, at: i64) {
    let id = room_id(rng.below(rooms));
    match rng.below(100) {
        0 => {
            hub.publish(event("SdkAppid=1400000001", "{not json", at));
        }
        1 => publish(hub, &destroy_room(&id, at), at),
        2..=11 => {
            let name = format!("Room number {} v{}", &id[5..], rng.below(9));
            publish(hub, &update_room(&id, &name, at), at);
        }
        _ => {
            let who = format!("viewer{}", rng.below(50));
            publish(hub, &members(&id, &[who.as_str()], at), at);
        }
    }
}

/// A dashboard over `rooms` rooms and `events` callbacks, plus a pool of fresh callbacks it
/// has not seen yet (taken off the bus, as the run loop gets them).
struct Store {
    name: String,
    app: App,
    pool: Vec<LogEntry>,
    /// The hub's state right after each pool entry, as the run loop reads it at frame time.
    states: Vec<Checkpoint>,
    next: usize,
}

impl Store {
    fn build(rooms: usize, events: usize, log_capacity: usize, size: (u16, u16)) -> Self {
        let hub = Hub::new(log_capacity, POOL + 16);
        let mut rng = Lcg(0x5eed);
        let start = NOW_MS - (events + POOL) as i64 * 100;
        for i in 0..events {
            let at = start + i as i64 * 100;
            if i < rooms {
                let id = room_id(i);
                let name = format!("Room number {}", &id[5..]);
                publish(&hub, &create_room(&id, &name, &format!("host{i}"), at), at);
            } else {
                traffic(&hub, &mut rng, rooms, at);
            }
        }
        let mut app = App::new(ui_common::info(), hub.snapshot(), NOW_MS - 150_000, size);
        update(&mut app, Msg::Tick(NOW_MS));
        let mut rx = hub.subscribe();
        let mut states = Vec::with_capacity(POOL);
        for i in 0..POOL {
            traffic(&hub, &mut rng, rooms, start + (events + i) as i64 * 100);
            states.push(hub.read(RoomStore::checkpoint));
        }
        let mut pool = Vec::with_capacity(POOL);
        while let Ok(entry) = rx.try_recv() {
            pool.push(entry);
        }
        assert_eq!(pool.len(), POOL);
        Self {
            name: format!("{rooms} rooms / {events} events"),
            app,
            pool,
            states,
            next: 0,
        }
    }

    /// The next entry with the hub's state once it was applied.
    fn take_with_state(&mut self) -> (LogEntry, Checkpoint) {
        let state = self.states[self.next].clone();
        (self.take(), state)
    }

    fn take(&mut self) -> LogEntry {
        let entry = self.pool[self.next].clone();
        self.next += 1;
        entry
    }
}

/// One timed step of a case, bound to one store.
type Step<'a> = Box<dyn FnMut() + 'a>;

/// Median ns per step on each of two stores: `REPS` batches of `batch` steps, alternating
/// between the stores (after a warm-up batch each) so that drift in the machine's speed
/// hits both alike.
fn measure_pair(batch: usize, a: &mut Step<'_>, b: &mut Step<'_>) -> (f64, f64) {
    let (mut ta, mut tb) = (Vec::with_capacity(REPS), Vec::with_capacity(REPS));
    for rep in 0..=REPS {
        let (x, y) = (time_batch(batch, a), time_batch(batch, b));
        if rep > 0 {
            ta.push(x);
            tb.push(y);
        }
    }
    (median(&mut ta), median(&mut tb))
}

/// ns per step over one batch.
fn time_batch(batch: usize, step: &mut Step<'_>) -> f64 {
    let started = Instant::now();
    for _ in 0..batch {
        step();
    }
    started.elapsed().as_nanos() as f64 / batch as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn draw(terminal: &mut Terminal<TestBackend>, app: &mut App) {
    app.prepare();
    terminal
        .draw(|frame| roomwatch::tui::ui::draw(frame, app))
        .unwrap();
    app.dirty = false;
    black_box(terminal.backend().buffer().content().len());
}

fn terminal(store: &mut Store, size: (u16, u16)) -> Terminal<TestBackend> {
    store.app.size = size;
    Terminal::new(TestBackend::new(size.0, size.1)).unwrap()
}

/// A redraw with nothing new (the 1 Hz tick).
fn idle_frame(store: &mut Store, size: (u16, u16)) -> Step<'_> {
    let mut terminal = terminal(store, size);
    Box::new(move || {
        update(&mut store.app, Msg::Tick(NOW_MS));
        draw(&mut terminal, &mut store.app);
    })
}

/// One callback off the bus, then a redraw.
fn live_frame(store: &mut Store, size: (u16, u16)) -> Step<'_> {
    let mut terminal = terminal(store, size);
    Box::new(move || {
        let entry = store.take();
        update(&mut store.app, Msg::Bus(entry));
        draw(&mut terminal, &mut store.app);
    })
}

/// One callback off the bus into the app and its view caches, no redraw.
fn app_apply(store: &mut Store) -> Step<'_> {
    Box::new(move || {
        let entry = store.take();
        update(&mut store.app, Msg::Bus(entry));
        store.app.prepare();
    })
}

/// One callback off the bus into the app with the hub's state (the run loop's way, one event
/// per frame at worst), and its view caches, no redraw.
fn app_sync(store: &mut Store) -> Step<'_> {
    Box::new(move || {
        let (entry, state) = store.take_with_state();
        update(
            &mut store.app,
            Msg::Synced {
                entries: vec![entry],
                state: Box::new(state),
            },
        );
        store.app.prepare();
    })
}

/// A burst of callbacks off the bus, then one redraw.
fn burst_frame(store: &mut Store) -> Step<'_> {
    let mut terminal = terminal(store, (160, 40));
    Box::new(move || {
        for _ in 0..BURST {
            let entry = store.take();
            update(&mut store.app, Msg::Bus(entry));
        }
        draw(&mut terminal, &mut store.app);
    })
}

/// One callback into a copy of the store alone (the hub's work per callback).
fn store_apply(store: &mut Store) -> Step<'_> {
    let mut copy = store.app.store.clone();
    Box::new(move || {
        black_box(copy.apply(store.take().event));
    })
}

/// One key that changes the filter (alternately adds and erases a character), then a redraw.
fn filter_key(store: &mut Store) -> Step<'_> {
    let mut terminal = terminal(store, (160, 40));
    let mut add = false;
    Box::new(move || {
        add = !add;
        let code = if add {
            KeyCode::Char('2')
        } else {
            KeyCode::Backspace
        };
        key(&mut store.app, code);
        draw(&mut terminal, &mut store.app);
    })
}

struct Row {
    case: String,
    small: f64,
    large: f64,
}

struct Bench<'s> {
    small: &'s mut Store,
    large: &'s mut Store,
    rows: Vec<Row>,
}

impl Bench<'_> {
    fn case(&mut self, case: &str, batch: usize, make: &dyn for<'a> Fn(&'a mut Store) -> Step<'a>) {
        let mut a = make(self.small);
        let mut b = make(self.large);
        let (small, large) = measure_pair(batch, &mut a, &mut b);
        self.rows.push(Row {
            case: case.to_string(),
            small,
            large,
        });
    }

    /// The same keys to both dashboards.
    fn keys(&mut self, codes: &[KeyCode]) {
        for app in [&mut self.small.app, &mut self.large.app] {
            for code in codes {
                key(app, *code);
            }
        }
    }
}

/// The frame and apply cases, each on the small store (baseline) and the large one.
fn frames(small: &mut Store, large: &mut Store) -> Vec<Row> {
    let mut bench = Bench {
        small,
        large,
        rows: Vec::new(),
    };
    for size in [(160, 40), (80, 24)] {
        let label = format!("{}x{}", size.0, size.1);
        bench.case(&format!("idle frame {label}"), BATCH, &|s| {
            idle_frame(s, size)
        });
        bench.case(&format!("live frame {label}"), BATCH, &|s| {
            live_frame(s, size)
        });
    }
    bench.case("apply 1 event to store", BATCH, &store_apply);
    bench.case(
        "apply 1 event to app + prepare (no draw)",
        BATCH,
        &app_apply,
    );
    bench.case("take 1 event + the hub's state + prepare", BATCH, &app_sync);
    // The rooms of so many events are not moved one by one: the frame sorts them all once.
    bench.case(
        &format!("{BURST} events + 1 frame 160x40 (sorts all)"),
        BURST_FRAMES,
        &burst_frame,
    );
    // The user picked the last row: the selection no longer follows the top.
    bench.keys(&[KeyCode::Char('G')]);
    bench.case("live frame 160x40, last row picked", BATCH, &|s| {
        live_frame(s, (160, 40))
    });
    bench.keys(&[KeyCode::Char('g')]);
    // A filter that matches about one room in a hundred on either store.
    let mut filter = vec![KeyCode::Char('/')];
    filter.extend("NUMBER 0001".chars().map(KeyCode::Char));
    filter.push(KeyCode::Enter);
    bench.keys(&filter);
    bench.case("idle frame 160x40, filter on", BATCH, &|s| {
        idle_frame(s, (160, 40))
    });
    bench.case("live frame 160x40, filter on", BATCH, &|s| {
        live_frame(s, (160, 40))
    });
    // Changing the filter must look at every room and log line once: this one is expected to
    // grow with the store, and is paid per keystroke, not per frame.
    bench.keys(&[KeyCode::Char('/')]);
    bench.case("type 1 filter key + frame (scans all)", 4, &filter_key);
    bench.keys(&[KeyCode::Esc]);
    bench.rows
}

/// Callbacks per second through the real router over `conns` keep-alive connections.
async fn throughput(bodies: &[String], conns: usize, stalled: bool) -> f64 {
    let hub = Arc::new(Hub::new(10_000, 4096));
    let _stalled = stalled.then(|| hub.subscribe());
    let state = Arc::new(ReceiverState {
        hub,
        auth: AuthConfig {
            sdkappids: vec!["1400000001".into()],
            token: None,
            window_s: 60,
        },
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(receiver::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let url = format!(
        "http://{addr}/callback?SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom"
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let client = reqwest::Client::new();
        let url = url.clone();
        let mine: Vec<String> = bodies.iter().skip(c).step_by(conns).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for body in mine {
                let response = client.post(&url).body(body).send().await.unwrap();
                assert_eq!(response.status(), 200);
                black_box(response.bytes().await.unwrap());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = bodies.len() as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    rate
}

/// Callbacks per receiver run: more than the channel (4096) holds, so a stalled subscriber
/// really falls behind.
const CALLBACKS: usize = 6_000;
/// Concurrent keep-alive connections sending them.
const CONNS: usize = 4;
/// Runs of each kind, alternating.
const RUNS: usize = 9;

/// (no subscriber, stalled subscriber) callbacks/s, medians of alternating runs.
fn receiver_rates() -> (f64, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bodies: Vec<String> = (0..CALLBACKS)
        .map(|i| create_room(&room_id(i), "bench", "host", NOW_MS + i as i64))
        .collect();
    runtime.block_on(async {
        throughput(&bodies, CONNS, false).await; // warm-up
        let (mut free, mut stalled) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            free.push(throughput(&bodies, CONNS, false).await);
            stalled.push(throughput(&bodies, CONNS, true).await);
        }
        (median(&mut free), median(&mut stalled))
    })
}

/// Live frames with the plots on (a) and off (b), on two identical stores whose selected room
/// has a chart: (plots, no plots) ns per frame.
fn plots_pair(size: (u16, u16)) -> (f64, f64) {
    let mut with = Store::build(1_000, 10_000, 20_000, size);
    let mut without = Store::build(1_000, 10_000, 20_000, size);
    without.app.show_plots = false;
    // A minute of traffic first, so the sparkline and the selected room's chart have data.
    for store in [&mut with, &mut without] {
        for _ in 0..BATCH {
            let entry = store.take();
            update(&mut store.app, Msg::Bus(entry));
        }
        store.app.prepare();
    }
    measure_pair(
        BATCH,
        &mut live_frame(&mut with, size),
        &mut live_frame(&mut without, size),
    )
}

fn human(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.1} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let started = Instant::now();
    let size = (160, 40);
    let mut small = Store::build(20, 200, 10_000, size);
    let mut large = Store::build(10_000, 100_000, 200_000, size);
    println!(
        "stores built in {:.1?}; {REPS} batches of {BATCH}, median per item",
        started.elapsed()
    );
    // Warm caches and clocks on both stores before anything is timed.
    measure_pair(
        BATCH,
        &mut idle_frame(&mut small, size),
        &mut idle_frame(&mut large, size),
    );
    let rows = frames(&mut small, &mut large);

    let mut out = String::new();
    let case_w = 42;
    let _ = writeln!(
        out,
        "\n{:<case_w$} {:>14} {:>14} {:>12}",
        "case", "small", "large", "large/small"
    );
    let _ = writeln!(out, "{:<case_w$} {:>14} {:>14}", "", small.name, large.name);
    let _ = writeln!(out, "{}", "-".repeat(case_w + 43));
    for row in &rows {
        let _ = writeln!(
            out,
            "{:<case_w$} {:>14} {:>14} {:>11.2}x",
            row.case,
            human(row.small),
            human(row.large),
            row.large / row.small
        );
    }
    print!("{out}");

    println!(
        "\nplots: live frame with the header sparkline and the room chart ÷ without (1,000 rooms)"
    );
    for size in [(200, 50), (80, 24)] {
        let (on, off) = plots_pair(size);
        println!(
            "{:<case_w$} {:>14} {:>14} {:>11.2}x",
            format!("live frame {}x{} plots on / off", size.0, size.1),
            human(on),
            human(off),
            on / off
        );
    }

    let (free, stalled) = receiver_rates();
    println!(
        "\nreceiver, real router on 127.0.0.1, {CALLBACKS} callbacks over {CONNS} connections, \
         median of {RUNS} alternating runs\n{:<case_w$} {:>14} {:>14} {:>12}\n{}\n{:<case_w$} {:>12.0}/s {:>12.0}/s {:>11.2}x",
        "case",
        "no subscriber",
        "stalled sub",
        "stalled/none",
        "-".repeat(case_w + 43),
        "callbacks per second",
        free,
        stalled,
        stalled / free
    );
    println!("\ntotal {:.1?}", started.elapsed());
}
