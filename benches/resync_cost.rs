//! What a lagging dashboard costs the receiver. When the dashboard falls behind it takes a
//! copy of the hub's state under the hub's lock (`Hub::snapshot`), and every room it then
//! shares with that copy is cloned by the receiver on its next write. Both should cost the
//! same whatever the store's size.
//!
//! Reported as ratios against a small store measured in the same run, so the machine's speed
//! cancels out. Run with:
//!
//!     cargo bench --bench resync_cost
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use roomwatch::event::Event;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};

const T0: i64 = 1_763_000_000_000;
/// Timed repetitions per case; the median is reported.
const REPS: usize = 31;

fn event(body: &serde_json::Value) -> Event {
    let arrival = Arrival {
        method: "POST".into(),
        path: "/callback".into(),
        raw_query: "SdkAppid=1400000001".into(),
        content_type: Some("application/json".into()),
        remote: None,
        received_at_ms: T0,
    };
    let open = AuthConfig {
        window_s: 60,
        ..AuthConfig::default()
    };
    intake::judge(
        arrival,
        BodyRead::Complete(serde_json::to_vec(body).unwrap()),
        &open,
    )
}

/// A hub with `rooms` rooms of `members` online members each and a full log.
fn hub_with(rooms: usize, members: usize) -> Hub {
    // Only what older versions also have, so the same file measures them for comparison.
    let hub = Hub::new(10_000, 16);
    for r in 0..rooms {
        let id = format!("room-{r:06}");
        hub.publish(event(&serde_json::json!({
            "CallbackCommand":"Live.CallbackAfterCreateRoom",
            "RoomInfo":{"RoomId":id,"RoomName":"a room"},"EventTime":T0 + r as i64})));
        let list: Vec<serde_json::Value> = (0..members)
            .map(|m| serde_json::json!({"Member_Account": format!("viewer-{m}")}))
            .collect();
        hub.publish(event(&serde_json::json!({
            "CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":id,
            "EventType":"Online","MemberList":list,"EventTime":T0 + r as i64})));
    }
    hub
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The lock-held part of a resync: the snapshot (dropped outside the timing, as the
/// dashboard drops its old copy on its own thread).
fn snapshot_cost(hub: &Hub) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..REPS {
        let start = Instant::now();
        let copy = hub.snapshot();
        samples.push(start.elapsed());
        drop(black_box(copy));
    }
    median(samples)
}

/// The receiver's next publish to a room shared with a fresh snapshot.
fn write_after_snapshot_cost(hub: &Hub, room: &str) -> Duration {
    let mut samples = Vec::new();
    for i in 0..REPS {
        let copy = hub.snapshot();
        let update = event(&serde_json::json!({
            "CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":room,
            "EventType":"Offline","MemberList":[{"Member_Account":"viewer-1"}],
            "EventTime":T0 + 1_000_000 + i as i64}));
        let start = Instant::now();
        hub.publish(update);
        samples.push(start.elapsed());
        drop(black_box(copy));
    }
    median(samples)
}

fn main() {
    let small = hub_with(100, 10);
    let large = hub_with(20_000, 200);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let (s, l) = (snapshot_cost(&small), snapshot_cost(&large));
    println!(
        "snapshot under the lock, 20,000 rooms x 200 members / 100 rooms x 10 members: {:.2}x ({:?} / {:?})",
        ratio(l, s),
        l,
        s
    );
    let (s, l) = (
        write_after_snapshot_cost(&small, "room-000050"),
        write_after_snapshot_cost(&large, "room-010000"),
    );
    println!(
        "first write to a shared room after a snapshot, same stores: {:.2}x ({:?} / {:?})",
        ratio(l, s),
        l,
        s
    );
}
