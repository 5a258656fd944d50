//! How long a restart takes to rebuild the state from a journal of 1,000,000 callbacks, with
//! checkpoints (the default) against a full replay of every record (the baseline, measured in
//! the same run on the same file). Run with:
//!
//!     cargo bench --bench journal_restore            # 1,000,000 callbacks
//!     RECORDS=200000 cargo bench --bench journal_restore
//!
//! The journal is written through the real hub and journal writer (group commit), with a mix
//! of creates, updates and member changes over 10,000 rooms.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use roomwatch::eventlog::{JournalOptions, SqliteJournal};
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};

const ROOMS: usize = 10_000;
/// Appends queued before waiting for their commit (bounds memory while writing).
const WINDOW: usize = 20_000;

fn body(i: usize) -> (String, String) {
    let room = i % ROOMS;
    let time = 1_735_689_600_000_u64 + i as u64;
    match (i / ROOMS, i % 3) {
        (0, _) => (
            "Live.CallbackAfterCreateRoom".into(),
            format!(
                r#"{{"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"host_{room}","RoomInfo":{{"RoomId":"room_{room}","RoomName":"Room {room}","Owner_Account":"host_{room}","MaxMemberCount":1000,"IsSeatEnabled":true,"MaxSeatCount":8,"TakeSeatMode":"ApplyToTake","IsPublicVisible":true}},"EventTime":{time}}}"#
            ),
        ),
        (_, 0) => (
            "Live.CallbackAfterUpdateRoomInfo".into(),
            format!(
                r#"{{"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","Operator_Account":"host_{room}","RoomInfo":{{"RoomId":"room_{room}","RoomName":"Room {room} #{i}","IsMessageDisabled":false}},"EventTime":{time}}}"#
            ),
        ),
        (_, n) => (
            "Live.CallbackAfterMemberStateChanged".into(),
            format!(
                r#"{{"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":"room_{room}","EventType":"{}","EventCause":"Enter","MemberList":[{{"Member_Account":"viewer_{}"}}],"EventTime":{time}}}"#,
                if n == 1 { "Online" } else { "Offline" },
                i % 97
            ),
        ),
    }
}

fn write(path: &std::path::Path, records: usize) {
    let (journal, restored) = SqliteJournal::open(&JournalOptions::new(path)).unwrap();
    let hub = Hub::with_journal(restored.store, 16, Arc::new(journal));
    let auth = AuthConfig::default();
    let mut waits = Vec::with_capacity(WINDOW);
    for i in 0..records {
        let (command, body) = body(i);
        let arrival = Arrival {
            method: "POST".into(),
            path: "/callback".into(),
            raw_query: format!("SdkAppid=1400000001&CallbackCommand={command}&contenttype=json"),
            content_type: Some("application/json".into()),
            remote: Some("127.0.0.1:40000".into()),
            received_at_ms: 1_795_000_000_000 + i as i64,
        };
        let event = intake::judge(arrival, BodyRead::Complete(body.into_bytes()), &auth);
        let (_, commit) = hub.publish_durably(event);
        waits.push(commit.unwrap());
        if waits.len() == WINDOW {
            for wait in waits.drain(..) {
                wait.wait_blocking().unwrap();
            }
        }
    }
    for wait in waits {
        wait.wait_blocking().unwrap();
    }
}

fn restore(path: &std::path::Path) -> (f64, u64, usize) {
    let started = Instant::now();
    let (journal, restored) = SqliteJournal::open(&JournalOptions::new(path)).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let rooms = restored.store.rooms().len();
    drop(journal);
    (seconds, restored.callbacks, rooms)
}

fn main() {
    let records: usize = std::env::var("RECORDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sqlite");
    let started = Instant::now();
    write(&path, records);
    let wrote = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "wrote {records} callbacks in {wrote:.1} s ({:.0}/s), journal {:.0} MiB",
        records as f64 / wrote,
        size as f64 / f64::from(1 << 20)
    );

    let (clean, callbacks, rooms) = restore(&path);
    println!(
        "restore after a clean stop (checkpoint at the end): {clean:.2} s ({callbacks} callbacks, {rooms} rooms)"
    );
    // As after a crash: without the checkpoint of the clean stop, the newest one is up to
    // 20,000 records behind the end (checkpoints are taken from the live state, so their seqs
    // are not exact multiples).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "DELETE FROM checkpoints WHERE seq = (SELECT max(seq) FROM checkpoints)",
        [],
    )
    .unwrap();
    let behind: i64 = conn
        .query_row(
            "SELECT ?1 - coalesce(max(seq), 0) FROM checkpoints",
            [records as i64],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let (with_checkpoint, _, _) = restore(&path);
    println!("restore from a checkpoint {behind} records behind: {with_checkpoint:.2} s");
    // The baseline: the same file without checkpoints, so every record is replayed.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM checkpoints", [])
        .unwrap();
    let (full, _, rooms_full) = restore(&path);
    assert_eq!(rooms, rooms_full);
    println!("restore replaying every record: {full:.2} s");
    println!(
        "ratio (checkpoint behind) / full replay: {:.3}",
        with_checkpoint / full
    );
}
