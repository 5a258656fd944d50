//! The per-callback work outside the HTTP stack, as ratios and counts in one run:
//!
//! - the headless printer's line: the hand-written serialiser against the serde version it
//!   replaced (time per line as a ratio, allocations per line as counts);
//! - allocations per callback on the receiver's side of the hub (judge + publish);
//! - reducer throughput: callbacks applied per second by the store on one core, with the
//!   default history limits, a baseline for every later change to the reducer.
//!
//!     cargo bench --bench hot_path
//!
//! Allocations are counted by dhat's allocator while its profiler runs; the timings run with
//! the profiler stopped.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use roomwatch::event::Event;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};
use roomwatch::outputs::headless::{LineWriter, reference};
use roomwatch::store::{LogEntry, RoomStore, StoreLimits};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Timed rounds per case, alternating between the two sides; the median is reported.
const ROUNDS: usize = 9;
/// Lines formatted per timed round.
const LINES: usize = 2_000;
/// Callbacks applied per reducer round.
const APPLIES: usize = 100_000;
/// Rooms the reducer's traffic is spread over.
const ROOMS: usize = 10_000;
const T0: i64 = 1_735_690_200_000;
const QUERY: &str = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterUpdateRoomInfo&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI";

/// The same callback body as `scripts/bench-callbacks.lua` sends.
fn body(i: usize) -> Vec<u8> {
    format!(
        r#"{{"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","Operator_Account":"host_{}","RoomInfo":{{"RoomId":"bench_{}","RoomName":"Bench room {i}","MaxMemberCount":1000,"IsMessageDisabled":false,"CustomInfo":"{{\"tier\":3}}","TakeSeatMode":"FreeToTake","IsPublicVisible":true,"CoverURL":"https://cdn.example.com/c/{i}.jpg","Category":[3],"ActivityStatus":1}},"EventTime":{}}}"#,
        i % 50,
        i % ROOMS,
        T0 + i as i64
    )
    .into_bytes()
}

fn judge(i: usize, body: Vec<u8>) -> Event {
    let arrival = Arrival {
        method: "POST".into(),
        path: "/callback".into(),
        raw_query: QUERY.into(),
        content_type: Some("application/json".into()),
        remote: Some("127.0.0.1:40000".into()),
        received_at_ms: T0 + i as i64,
    };
    let open = AuthConfig {
        window_s: 60,
        ..AuthConfig::default()
    };
    intake::judge(arrival, BodyRead::Complete(body), &open)
}

fn entries(count: usize) -> Vec<LogEntry> {
    let hub = Hub::new(count, count);
    let mut rx = hub.subscribe();
    for i in 0..count {
        hub.publish(judge(i, body(i)));
    }
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Heap blocks allocated while `f` runs.
fn blocks(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

fn printer(entries: &[LogEntry]) {
    let mut writer = LineWriter::default();
    let mut buffer = Vec::with_capacity(1 << 20);
    let mut old = Vec::new();
    let mut new = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for entry in entries {
            black_box(reference::line(entry));
        }
        old.push(start.elapsed().as_secs_f64() / entries.len() as f64);
        let start = Instant::now();
        buffer.clear();
        for entry in entries {
            writer.write(&mut buffer, entry, None);
        }
        black_box(&buffer);
        new.push(start.elapsed().as_secs_f64() / entries.len() as f64);
    }
    let (old, new) = (median(&mut old), median(&mut new));
    println!(
        "printer line        serde {:>7.2} us   hand-written {:>7.2} us   ratio {:.2}x faster",
        old * 1e6,
        new * 1e6,
        old / new
    );
}

fn allocations(entries: &[LogEntry]) {
    let _profiler = dhat::Profiler::builder().testing().build();
    let count = entries.len() as u64;
    let old = blocks(|| {
        for entry in entries {
            black_box(reference::line(entry));
        }
    });
    let mut writer = LineWriter::default();
    let mut buffer = Vec::with_capacity(1 << 20);
    let new = blocks(|| {
        for entry in entries {
            writer.write(&mut buffer, entry, None);
        }
    });
    println!(
        "allocations/line    serde {:>7.1}      hand-written {:>7.1}",
        old as f64 / count as f64,
        new as f64 / count as f64
    );
    let bodies: Vec<Vec<u8>> = (0..entries.len()).map(body).collect();
    let hub = Hub::new(10_000, 1024);
    let mut judged = 0;
    let receiver = blocks(|| {
        for (i, body) in bodies.into_iter().enumerate() {
            black_box(hub.publish(judge(i, body)));
            judged += 1;
        }
    });
    println!(
        "allocations/callbk  judge + publish {:>5.1}  (the body's own buffer not counted: it arrives allocated)",
        receiver as f64 / f64::from(judged)
    );
}

fn reducer() {
    let events: Vec<Arc<Event>> = (0..APPLIES * 2)
        .map(|i| {
            let mut event = judge(i, body(i));
            event.seq = i as u64 + 1;
            Arc::new(event)
        })
        .collect();
    let mut rates = Vec::new();
    for round in 0..ROUNDS {
        let mut store = RoomStore::with_limits(StoreLimits::default());
        // The first half fills the rooms and the log; the second half is timed, at the limits.
        let (warm, timed) = events.split_at(APPLIES);
        for event in warm {
            store.apply(Arc::clone(event));
        }
        let timed: Vec<Arc<Event>> = timed.iter().map(Arc::clone).collect();
        let start = Instant::now();
        for event in timed {
            black_box(store.apply(event));
        }
        rates.push(APPLIES as f64 / start.elapsed().as_secs_f64());
        if round == 0 {
            black_box(store.last_seq());
        }
    }
    println!(
        "reducer             {:>9.0} callbacks/s applied, one core ({ROOMS} rooms, default history limits)",
        median(&mut rates)
    );
}

fn main() {
    let entries = entries(LINES);
    printer(&entries);
    allocations(&entries);
    reducer();
}
