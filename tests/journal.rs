//! The journal: real SQLite files, the real router over TCP, and the real binary (killed with
//! SIGKILL mid-burst). Restore, faults, export and replay.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roomwatch::eventlog::{EventLog, JournalOptions, Journaled as Fate, SqliteJournal};
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};
use roomwatch::outputs::headless;
use roomwatch::store::RoomStore;
use tokio::sync::oneshot;

const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");
const QUERY: &str = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI";

/// A create-room body for room `r{i}`, so every callback is told apart by its room.
fn create_body(i: usize) -> String {
    format!(
        r#"{{"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"host_{i}","RoomInfo":{{"RoomId":"r{i}","RoomName":"room {i}","Owner_Account":"host_{i}","MaxMemberCount":100}},"EventTime":{}}}"#,
        1_735_689_600_000_u64 + i as u64
    )
}

/// A journaled receiver on a loopback port, stopped (and its journal closed) by `stop`.
struct Journaled {
    base: String,
    hub: Arc<Hub>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(options: &JournalOptions, token: Option<&str>) -> (Journaled, u64) {
    let (journal, restored) = SqliteJournal::open(options).unwrap();
    let skipped = restored.skipped;
    let hub = Arc::new(Hub::with_journal(restored.store, 4096, Arc::new(journal)));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappids: Vec::new(),
            token: token.map(Into::into),
            window_s: 60,
        },
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(receiver::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (
        Journaled {
            base: format!("http://{addr}"),
            hub,
            stop,
            served,
        },
        skipped,
    )
}

impl Journaled {
    /// Stops serving and waits until the journal is closed (its writer joined).
    async fn close(self) {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
        // Connection tasks let go of the state just after the server returns.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&self.hub) > 1 {
            assert!(Instant::now() < deadline, "the hub is still held");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let hub = Arc::into_inner(self.hub).expect("the hub's last handle");
        tokio::task::spawn_blocking(move || drop(hub))
            .await
            .unwrap();
    }
}

async fn post(client: &reqwest::Client, base: &str, query: &str, body: String) -> (u16, String) {
    let response = client
        .post(format!("{base}/callback?{query}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Everything a restart must bring back: rooms, battles, counters, numbering, the log lines.
fn fingerprint(store: &RoomStore) -> (String, String, String, u64, Vec<String>) {
    (
        format!("{:?}", store.rooms()),
        format!("{:?}", store.battles()),
        format!("{:?}", store.counters()),
        store.last_seq(),
        store.log().iter().map(headless::line).collect(),
    )
}

fn options(path: &Path) -> JournalOptions {
    JournalOptions {
        log_capacity: 1000,
        ..JournalOptions::new(path)
    }
}

/// A mixed history: creates, updates (one stale, one repeated), members, rejections, unknowns.
async fn mixed_history(base: &str) {
    let client = reqwest::Client::new();
    for command in [
        "Live.CallbackAfterCreateRoom",
        "Live.CallbackAfterUpdateRoomInfo",
        "Live.CallbackAfterMemberStateChanged",
        "Live.CallbackAfterModifyAdmin",
        "Mic.CallbackAfterSeatInfoChanged",
        "Live.CallbackAfterCreateBattle",
        "Live.CallbackAfterSetMetadata",
        "Live.CallbackBeforeSendGift",
        "Live.CallbackAfterUpdateRoomInfo",
    ] {
        let body = common::sample(command);
        let query = format!("SdkAppid=1400000001&CallbackCommand={command}&contenttype=json");
        assert_eq!(post(&client, base, &query, body).await.0, 200);
    }
    for i in 0..20 {
        assert_eq!(post(&client, base, QUERY, create_body(i)).await.0, 200);
    }
    assert_eq!(
        post(&client, base, "SdkAppid=1", "{not json".into())
            .await
            .0,
        400
    );
    assert_eq!(
        post(
            &client,
            base,
            "SdkAppid=1",
            r#"{"CallbackCommand":"Trtc.Unknown"}"#.into()
        )
        .await
        .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_restores_identical_room_state_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let (server, _) = start(&options(&path), None).await;
    mixed_history(&server.base).await;
    let before = fingerprint(&server.hub.snapshot());
    server.close().await;

    let (server, skipped) = start(&options(&path), None).await;
    assert_eq!(skipped, 0);
    let after = fingerprint(&server.hub.snapshot());
    assert_eq!(before, after);
    // Numbering continues after the restored records.
    let client = reqwest::Client::new();
    post(&client, &server.base, QUERY, create_body(999)).await;
    assert_eq!(server.hub.snapshot().last_seq(), before.3 + 1);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_checkpoint_interval_restores_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let small = JournalOptions {
        checkpoint_every: 7,
        ..options(&path)
    };
    let (server, _) = start(&small, None).await;
    mixed_history(&server.base).await;
    let before = fingerprint(&server.hub.snapshot());
    server.close().await;
    // Drop the checkpoint taken at the clean stop: restore starts from an older one and
    // replays the records after it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "DELETE FROM checkpoints WHERE seq = (SELECT max(seq) FROM checkpoints)",
        [],
    )
    .unwrap();
    let older: i64 = conn
        .query_row("SELECT max(seq) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    assert!(older > 0 && (older as u64) < before.3, "{older}");
    let (server, _) = start(&small, None).await;
    assert_eq!(before, fingerprint(&server.hub.snapshot()));
    server.close().await;
}

/// Checkpoints are written with remembered deliveries in their compact layout; a journal
/// whose checkpoint has the layout written before (each delivery's command by name) restores
/// the same state from it, repeats still recognised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_in_the_previous_layout_restores_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let (server, _) = start(&options(&path), None).await;
    mixed_history(&server.base).await;
    let snapshot = server.hub.snapshot();
    let before = fingerprint(&snapshot);
    server.close().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let (seq, compact): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT seq, state FROM checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(seq as u64, before.3, "a clean stop checkpoints everything");
    assert!(
        compact.starts_with(b"\0rw3"),
        "written in the compact layout"
    );
    // The previous layout: its prefix, then the store as postcard encodes it by default.
    let mut previous = b"\0rw2".to_vec();
    previous.extend(postcard::to_allocvec(&snapshot.checkpoint().for_storage()).unwrap());
    assert!(
        previous.len() > compact.len(),
        "the compact layout is smaller"
    );
    conn.execute(
        "UPDATE checkpoints SET state = ?1 WHERE seq = ?2",
        rusqlite::params![previous, seq],
    )
    .unwrap();
    conn.execute("DELETE FROM checkpoints WHERE seq <> ?1", [seq])
        .unwrap();
    // Without the records, the state can only come from that checkpoint: one that did not
    // read would leave no rooms at all.
    conn.execute("DELETE FROM callbacks", []).unwrap();
    drop(conn);

    let (server, skipped) = start(&options(&path), None).await;
    assert_eq!(skipped, 0);
    let after = fingerprint(&server.hub.snapshot());
    assert_eq!(
        (&before.0, &before.1, &before.2, before.3),
        (&after.0, &after.1, &after.2, after.3)
    );
    assert!(before.0.contains("r19"), "rooms to compare");
    // The deliveries came back too: the first create again is a repeat.
    let client = reqwest::Client::new();
    post(&client, &server.base, QUERY, create_body(0)).await;
    let last = server.hub.snapshot().log().back().cloned().unwrap();
    assert_eq!(last.effect, roomwatch::store::Effect::Duplicate);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_taken_from_the_live_state_never_run_ahead_of_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ahead.sqlite");
    let frequent = JournalOptions {
        checkpoint_every: 1,
        ..options(&path)
    };
    let (server, _) = start(&frequent, None).await;
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    // Many requests in flight: the hub's state runs ahead of the commits.
    for c in 0..32 {
        let (client, base) = (client.clone(), server.base.clone());
        senders.push(tokio::spawn(async move {
            for n in 0..25 {
                let (status, _) = post(&client, &base, QUERY, create_body(c * 1000 + n)).await;
                assert_eq!(status, 200);
            }
        }));
    }
    // A reader sees one consistent commit at a time (WAL): a checkpoint of the hub's state
    // must never be visible before every record it includes.
    let reader = rusqlite::Connection::open(&path).unwrap();
    let mut seen_checkpoint = false;
    while senders.iter().any(|s| !s.is_finished()) {
        let (checkpoint, newest): (Option<i64>, Option<i64>) = reader
            .query_row(
                "SELECT (SELECT max(seq) FROM checkpoints), (SELECT max(seq) FROM callbacks)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if let Some(checkpoint) = checkpoint {
            seen_checkpoint = true;
            assert!(
                checkpoint <= newest.unwrap_or(0),
                "checkpoint at {checkpoint} with records only up to {newest:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for sender in senders {
        sender.await.unwrap();
    }
    drop(reader);
    assert!(seen_checkpoint, "no checkpoint was taken during the burst");
    let before = fingerprint(&server.hub.snapshot());
    server.close().await;
    // A clean stop checkpoints the hub's final state: restore replays nothing.
    let newest: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT max(seq) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(u64::try_from(newest).unwrap(), before.3);
    let (server, _) = start(&frequent, None).await;
    assert_eq!(before, fingerprint(&server.hub.snapshot()));
    server.close().await;
}

/// Starts the real binary on a free port with `args`; returns it and its address.
/// Callers kill and wait on the child.
#[allow(clippy::zombie_processes)]
fn spawn_binary(args: &[&str], data_home: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--headless"])
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .env_remove("ROOMWATCH_JOURNAL")
        .env_remove("ROOMWATCH_NO_JOURNAL")
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .env("ROOMWATCH_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, stderr, _) = common::read_listen_address(&mut child);
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, addr)
}

/// Runs the binary to completion with `args`; returns status, stdout, stderr.
fn run_binary(args: &[&str], data_home: &Path) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .env_remove("ROOMWATCH_JOURNAL")
        .env_remove("ROOMWATCH_NO_JOURNAL")
        .env_remove("ROOMWATCH_TOKEN")
        .env("ROOMWATCH_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_answered_callback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.sqlite");
    let (mut child, addr) = spawn_binary(&["--journal", path.to_str().unwrap()], dir.path());
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    // 16 concurrent keep-alive clients, each posting until the process is gone.
    for c in 0..16 {
        let (client, base, answered) = (client.clone(), base.clone(), Arc::clone(&answered));
        clients.push(tokio::spawn(async move {
            for n in 0..100_000 {
                let i = c * 1_000_000 + n;
                let sent = client
                    .post(format!("{base}/callback?{QUERY}"))
                    .body(create_body(i))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 200 => {
                        answered.lock().unwrap().push(i);
                    }
                    _ => return,
                }
            }
        }));
    }
    // Kill once a good number of answers came back, while requests are still in flight.
    let deadline = Instant::now() + Duration::from_mins(1);
    while answered.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "no answers");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for client in clients {
        client.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    let (journal, restored) = SqliteJournal::open(&options(&path)).unwrap();
    assert_eq!(restored.skipped, 0);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn.prepare("SELECT room_id FROM callbacks").unwrap();
    let journaled: std::collections::HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for i in &answered {
        let room = format!("r{i}");
        assert!(
            journaled.contains(&room),
            "answered {room} is not in the journal"
        );
        assert!(
            restored.store.room_by_id(&room).is_some(),
            "answered {room} is not in the restored state"
        );
    }
    assert!(journaled.len() >= answered.len());
    drop(journal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_roomwatch_on_the_same_journal_is_told_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.sqlite");
    let (mut first, _) = spawn_binary(&["--journal", path.to_str().unwrap()], dir.path());
    let (code, _, stderr) = run_binary(
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--journal",
            path.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("in use by another roomwatch (pid {}", first.id())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Readers are always allowed.
    let (code, _, stderr) =
        run_binary(&["export", "--journal", path.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{stderr}");
    first.kill().unwrap();
    first.wait().unwrap();
}

/// Writes a few records with the library and closes the journal.
async fn write_records(path: &Path, count: usize) {
    let (server, _) = start(&options(path), None).await;
    let client = reqwest::Client::new();
    for i in 0..count {
        assert_eq!(
            post(&client, &server.base, QUERY, create_body(i)).await.0,
            200
        );
    }
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_explicit_journal_refuses_to_start_and_a_bad_default_runs_without() {
    let dir = tempfile::tempdir().unwrap();
    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(
        &not_sqlite,
        "these are my notes, not a database\n".repeat(200),
    )
    .unwrap();
    let foreign = dir.path().join("other.sqlite");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1);")
        .unwrap();
    let newer = dir.path().join("newer.sqlite");
    write_records(&newer, 1).await;
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let blocked = not_sqlite.join("journal.sqlite"); // a folder that is a file: not writable
    let cases: [(&Path, &str); 4] = [
        (&not_sqlite, "is not a roomwatch journal"),
        (&foreign, "is not a roomwatch journal"),
        (&newer, "written by a newer roomwatch (schema 99"),
        (&blocked, "cannot create the journal's folder"),
    ];
    for (path, message) in cases {
        let (code, stdout, stderr) = run_binary(
            &[
                "--headless",
                "--listen",
                "127.0.0.1:0",
                "--journal",
                path.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert_eq!(code, 1, "{path:?}: {stderr}");
        assert!(stderr.contains(message), "{path:?}: {stderr}");
        assert!(stdout.is_empty());
    }
    // Nothing was rewritten.
    assert!(
        std::fs::read_to_string(&not_sqlite)
            .unwrap()
            .starts_with("these are my notes")
    );

    // The default location holding something else: run without a journal, and say so.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("roomwatch")).unwrap();
    std::fs::copy(&foreign, home.join("roomwatch").join("journal.sqlite")).unwrap();
    let mut child = Command::new(BIN)
        .args(["--headless", "--listen", "127.0.0.1:0"])
        .env("XDG_DATA_HOME", &home)
        .env_remove("ROOMWATCH_JOURNAL")
        .env_remove("ROOMWATCH_NO_JOURNAL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("listening on") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "exited: {seen}");
        seen.push_str(&line);
    }
    assert!(seen.contains("running without a journal"), "{seen}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_wal_tail_is_dropped_and_roomwatch_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn.sqlite");
    let copy = dir.path().join("copy.sqlite");
    {
        // Write through the journal, then copy the files while it is open: what a crash
        // leaves behind, WAL included.
        let (server, _) = start(&options(&path), None).await;
        let client = reqwest::Client::new();
        for i in 0..50 {
            post(&client, &server.base, QUERY, create_body(i)).await;
        }
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(wal(&path), wal(&copy)).unwrap();
        server.close().await;
    }
    // Tear the last frame in half.
    let wal_len = std::fs::metadata(wal(&copy)).unwrap().len();
    assert!(wal_len > 4096, "the copy has a WAL to tear");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(wal(&copy))
        .unwrap();
    file.set_len(wal_len - 700).unwrap();
    drop(file);

    let (server, skipped) = start(&options(&copy), None).await;
    assert_eq!(skipped, 0);
    let store = server.hub.snapshot();
    let restored = store.last_seq();
    assert!(
        restored > 0 && restored < 50,
        "a prefix survives: {restored}"
    );
    for i in 0..restored as usize {
        assert!(store.room_by_id(&format!("r{i}")).is_some());
    }
    // And it keeps journaling, numbering after what survived.
    let client = reqwest::Client::new();
    assert_eq!(
        post(&client, &server.base, QUERY, create_body(7000))
            .await
            .0,
        200
    );
    assert_eq!(server.hub.snapshot().last_seq(), restored + 1);
    server.close().await;
}

fn wal(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Flips one byte inside record `r17`'s body, in place.
fn corrupt_record_17(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let needle = b"room 17\"";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the record is in the file");
    bytes[at + 5] = b'X'; // "room X7"
    std::fs::write(path, &bytes).unwrap();
}

fn drop_checkpoints(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute("DELETE FROM checkpoints", [])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_is_skipped_counted_and_the_rest_restored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.sqlite");
    write_records(&path, 30).await;
    corrupt_record_17(&path);

    // The state comes from the checkpoint taken at the clean stop: r17 is in it; only its
    // log line is lost, and counted.
    let (server, skipped) = start(&options(&path), None).await;
    assert_eq!(skipped, 1);
    let store = server.hub.snapshot();
    assert!(store.room_by_id("r17").is_some());
    assert!(
        store
            .log()
            .iter()
            .all(|e| e.event.room_id.as_deref() != Some("r17"))
    );
    assert_eq!(store.log().len(), 29);
    server.close().await;

    // Without a checkpoint (as after a kill -9 before the first one), replay skips it.
    drop_checkpoints(&path);
    let (server, skipped) = start(&options(&path), None).await;
    assert_eq!(skipped, 1);
    let store = server.hub.snapshot();
    assert!(store.room_by_id("r17").is_none());
    for i in (0..30).filter(|&i| i != 17) {
        assert!(store.room_by_id(&format!("r{i}")).is_some(), "r{i}");
    }
    assert_eq!(store.last_seq(), 30);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_page_is_skipped_and_roomwatch_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page.sqlite");
    write_records(&path, 400).await;
    drop_checkpoints(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let page_size = 4096;
    // A page in the middle of the records' pages: garbage over its whole content.
    let needle = b"\"r200\"";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let page = at / page_size;
    for b in &mut bytes[page * page_size..(page + 1) * page_size] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();

    let (server, skipped) = start(&options(&path), None).await;
    let store = server.hub.snapshot();
    assert!(store.room_by_id("r200").is_none());
    assert!(store.room_by_id("r0").is_some());
    assert!(store.room_by_id("r399").is_some());
    // Every record is either restored or counted as skipped.
    let rooms = (0..400)
        .filter(|i| store.room_by_id(&format!("r{i}")).is_some())
        .count() as u64;
    assert!(skipped > 0);
    assert!(rooms + skipped >= 400, "{rooms} + {skipped}");
    assert_eq!(store.last_seq(), 400);
    server.close().await;
}

/// A receiver on a journal whose file may not grow (every commit meets `SQLITE_FULL`), with
/// the journal, the hub and the receiver's base URL.
async fn full_disk_server(options: &JournalOptions) -> (Arc<SqliteJournal>, Arc<Hub>, String) {
    let (journal, restored) = SqliteJournal::open(options).unwrap();
    let journal = Arc::new(journal);
    let used: i64 = rusqlite::Connection::open(&options.path)
        .unwrap()
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    // No room to grow: every commit now meets SQLITE_FULL.
    journal.set_max_pages(used.try_into().unwrap());
    let hub = Arc::new(Hub::with_journal(restored.store, 4096, journal.clone()));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig::default(),
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(receiver::serve(listener, state, std::future::pending()));
    (journal, hub, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_from_memory_and_journaling_resumes_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sqlite");
    let (journal, hub, base) = full_disk_server(&options(&path)).await;
    let client = reqwest::Client::new();
    for i in 0..40 {
        let (status, body) = post(&client, &base, QUERY, create_body(i)).await;
        assert_eq!(status, 200, "answered from memory");
        assert!(body.contains("\"ActionStatus\":\"OK\""));
    }
    let health = journal.health();
    let (reason, _) = health
        .failing
        .clone()
        .expect("the journal says it is failing");
    assert_eq!(reason, "disk full");
    // The pages the file already had took the first few; the rest wait in memory.
    assert!(health.backlog > 0 && health.backlog <= 40, "{health:?}");
    // Each line can tell: the backlog's callbacks wait, the ones before are journaled.
    let waiting_from = health.waiting_from.expect("the backlog's first callback");
    assert_eq!(waiting_from, 41 - health.backlog);
    assert_eq!(health.journaled(40), Fate::Waiting);
    assert_eq!(health.journaled(waiting_from), Fate::Waiting);
    assert_eq!(health.journaled(waiting_from - 1), Fate::Yes);
    assert!(health.lost_ranges.is_empty());
    assert_eq!(
        hub.snapshot().room_by_id("r39").map(|r| r.id.clone()),
        Some("r39".into())
    );

    // Space comes back: the next commit lands the backlog too, with no restart.
    journal.set_max_pages(1 << 30);
    assert_eq!(post(&client, &base, QUERY, create_body(40)).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal.health().failing.is_some() || journal.health().backlog > 0 {
        assert!(Instant::now() < deadline, "journaling did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let count: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM callbacks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 41);
    assert_eq!(journal.health().backlog, 0);
    assert_eq!(journal.health().journaled(40), Fate::Yes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_pushed_out_of_a_full_backlog_are_marked_lost_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sqlite");
    let options = JournalOptions {
        backlog_cap: 5,
        ..options(&path)
    };
    let (journal, _hub, base) = full_disk_server(&options).await;
    let client = reqwest::Client::new();
    for i in 0..30 {
        assert_eq!(post(&client, &base, QUERY, create_body(i)).await.0, 200);
    }
    let health = journal.health();
    assert_eq!(health.backlog, 5, "{health:?}");
    assert_eq!(health.waiting_from, Some(26));
    let lost = health.lost;
    assert!(lost > 0, "{health:?}");
    // The lost callbacks are the ones just before the backlog, in one range.
    assert_eq!(health.lost_ranges, vec![(26 - lost, 25)]);
    assert_eq!(health.journaled(25), Fate::Lost);
    assert_eq!(health.journaled(26 - lost), Fate::Lost);
    assert_eq!(health.journaled(26 - lost - 1), Fate::Yes);
    assert_eq!(health.journaled(30), Fate::Waiting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_filters_select_exactly_and_replay_resigns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.sqlite");
    let (server, _) = start(&options(&path), None).await;
    mixed_history(&server.base).await;
    let all: Vec<String> = server
        .hub
        .snapshot()
        .log()
        .iter()
        .map(headless::line)
        .collect();
    server.close().await;
    let journal = path.to_str().unwrap();

    let export = |extra: &[&str]| {
        let mut args = vec!["export", "--journal", journal];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = run_binary(&args, dir.path());
        assert_eq!(code, 0, "{stderr}");
        stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    // Exactly the headless lines, in order.
    assert_eq!(export(&[]), all);
    let picked = |pred: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|l| pred(&serde_json::from_str(l).unwrap()))
            .cloned()
            .collect()
    };
    let r5 = export(&["--room", "r5"]);
    assert_eq!(r5, picked(&|v| v["room_id"] == "r5"));
    assert_eq!(r5.len(), 1);
    let rejected = export(&["--verdict", "rejected"]);
    assert_eq!(rejected, picked(&|v| v["verdict"] == "rejected"));
    assert_eq!(rejected.len(), 1);
    let updates = export(&["--command", "AfterUpdateRoomInfo"]);
    assert_eq!(
        updates,
        picked(&|v| v["command"] == "Live.CallbackAfterUpdateRoomInfo")
    );
    assert_eq!(updates.len(), 2);
    assert_eq!(
        export(&[
            "--since",
            "2001-01-01T00:00:00Z",
            "--until",
            "2002-01-01T00:00:00Z"
        ])
        .len(),
        0
    );
    assert_eq!(export(&["--since", "1h"]), all);

    // Replay the creates to a receiver that checks signatures: every one validates.
    let target = common::start_server(None, Some("fresh-token"), 1 << 20).await;
    let to = format!("{}/hook", target.base);
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        let journal = journal.to_string();
        move || {
            run_binary(
                &[
                    "replay",
                    "--journal",
                    &journal,
                    "--command",
                    "Live.CallbackAfterCreateRoom",
                    "--to",
                    &to,
                    "--token",
                    "fresh-token",
                ],
                &dir,
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let sent = target.hub.snapshot();
    let creates = picked(&|v| v["command"] == "Live.CallbackAfterCreateRoom").len();
    assert_eq!(sent.counters().accepted as usize, creates);
    assert_eq!(sent.counters().rejected, 0);
    for entry in sent.log() {
        assert_eq!(entry.event.path, "/hook");
        assert!(entry.event.query.get("Sign").is_some());
    }
    // Without the token the receiver refuses them, and replay says so with its exit code.
    let to = format!("{}/hook", target.base);
    let (code, _, _) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        let journal = journal.to_string();
        move || {
            run_binary(
                &["replay", "--journal", &journal, "--room", "r1", "--to", &to],
                &dir,
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
}

/// Under the default sync setting the WAL reaches the disk only at a WAL checkpoint. With the
/// WAL far from the size that starts one (`--journal-wal-pages`), the writer still takes one
/// within about a second of a commit, so a power loss rolls back at most about the last
/// second. Seen from outside: the database file itself, not only the WAL, grows to hold the new
/// records while the journal is still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_synced_within_about_a_second_however_empty_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.sqlite");
    let (server, _) = start(&options(&path), None).await;
    let size = || std::fs::metadata(&path).unwrap().len();
    let empty = size();
    let client = reqwest::Client::new();
    // About 100 KiB of records: a few dozen pages, far below the default 10,000.
    for i in 0..200 {
        assert_eq!(
            post(&client, &server.base, QUERY, create_body(i)).await.0,
            200
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while size() <= empty {
        assert!(
            Instant::now() < deadline,
            "the WAL was not copied into the database file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_records_and_room_state_survives() {
    for (name, retain_ms, retain_bytes) in [("age", Some(1), None), ("size", None, Some(1))] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retain.sqlite");
        let retaining = JournalOptions {
            checkpoint_every: 10,
            retain_ms,
            retain_bytes,
            ..options(&path)
        };
        let (server, _) = start(&retaining, None).await;
        let client = reqwest::Client::new();
        for i in 0..30 {
            post(&client, &server.base, QUERY, create_body(i)).await;
        }
        let before = server.hub.snapshot();
        let count = || -> i64 {
            rusqlite::Connection::open(&path)
                .unwrap()
                .query_row("SELECT count(*) FROM callbacks WHERE seq <= 30", [], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        // The checkpoint at seq 30 covers everything; the rounds after it delete it all.
        let deadline = Instant::now() + Duration::from_secs(10);
        while count() > 0 {
            assert!(Instant::now() < deadline, "{name}: retention did not run");
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Wake the writer: it runs a due round after each commit (records received in
            // the same millisecond as the cutoff wait for a later round).
            post(&client, &server.base, "SdkAppid=1", String::new()).await;
        }
        server.close().await;
        let (server, _) = start(&retaining, None).await;
        let after = server.hub.snapshot();
        assert_eq!(
            format!("{:?}", before.rooms()),
            format!("{:?}", after.rooms()),
            "{name}"
        );
        assert_eq!(
            before.counters().accepted,
            after.counters().accepted,
            "{name}"
        );
        server.close().await;
    }
}

/// A retention round looks only at the oldest records, in arrival order: one dated far in the
/// future (a clock step) stays, and the old records after it still go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dated_record_does_not_hold_up_retention_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    let (server, _) = start(&options(&path), None).await;
    let client = reqwest::Client::new();
    for i in 0..30 {
        assert_eq!(
            post(&client, &server.base, QUERY, create_body(i)).await.0,
            200
        );
    }
    server.close().await;
    // Record 5 as if it arrived while the clock was a year ahead.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE callbacks SET received_at_ms = received_at_ms + 31536000000 WHERE seq = 5",
            [],
        )
        .unwrap();
    let retaining = JournalOptions {
        checkpoint_every: 10,
        retain_ms: Some(1),
        ..options(&path)
    };
    let (server, _) = start(&retaining, None).await;
    let left = || -> Vec<i64> {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT seq FROM callbacks WHERE seq <= 30 ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while left() != [5] {
        assert!(
            Instant::now() < deadline,
            "retention left {:?}, expected only the future-dated record",
            left()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Each tenth record brings a checkpoint, and a retention round right after it.
        post(&client, &server.base, "SdkAppid=1", String::new()).await;
    }
    server.close().await;
}

/// The room's index lists rooms per block of 256 records: a room seen in every block is found
/// in all of them, in order, and a journal with the older per-room index gives the same
/// answer before and after a roomwatch opens it and swaps the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_by_room_reads_every_block_and_old_journals_are_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.sqlite");
    let (server, _) = start(&options(&path), None).await;
    let client = reqwest::Client::new();
    for i in 0..600 {
        let body = create_body(i).replace(&format!("\"r{i}\""), &format!("\"r{}\"", i % 7));
        assert_eq!(post(&client, &server.base, QUERY, body).await.0, 200);
    }
    server.close().await;
    let journal = path.to_str().unwrap();
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "--journal", journal];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = run_binary(&args, dir.path());
        assert_eq!(code, 0, "{stderr}");
        stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let expected: Vec<String> = export(&[])
        .into_iter()
        .filter(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["room_id"] == "r3")
        .collect();
    assert_eq!(expected.len(), 86);
    let indexes = |path: &Path| -> Vec<String> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'callbacks' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        indexes(&path),
        ["callbacks_by_room_block", "callbacks_by_time"]
    );
    assert_eq!(export(&["--room", "r3"]), expected);

    // The layout an older roomwatch wrote: read as it is (export never writes)...
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP INDEX callbacks_by_room_block; CREATE INDEX callbacks_by_room ON callbacks(room_id, seq);",
        )
        .unwrap();
    assert_eq!(export(&["--room", "r3"]), expected);
    // ...and upgraded by the next roomwatch that opens it for writing, state intact.
    let (journal_again, restored) = SqliteJournal::open(&options(&path)).unwrap();
    assert_eq!(restored.callbacks, 600);
    assert!(restored.store.room_by_id("r3").is_some());
    drop(journal_again);
    assert_eq!(
        indexes(&path),
        ["callbacks_by_room_block", "callbacks_by_time"]
    );
    assert_eq!(export(&["--room", "r3"]), expected);
}
