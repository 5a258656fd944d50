//! Relay outcomes in the journal: the real binary with a real journal file and a real backend
//! on loopback; each relayed callback's final outcome is recorded, read back by
//! `roomwatch export`, and a journal written before outcomes were recorded still opens.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");

/// What the backend answers a gift pre-check: its own decision, passed on to Tencent.
const DENY: &str = r#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"no gifts today"}"#;

/// A backend that refuses one room for good, answers another with a large body, denies gifts,
/// and acknowledges the rest.
async fn backend() -> String {
    let app = Router::new().fallback(|body: String| async move {
        if body.contains("room_gone") {
            (StatusCode::NOT_FOUND, "no such room".to_string()).into_response()
        } else if body.contains("room_big") {
            let big = format!(r#"{{"ErrorCode":0,"pad":"{}"}}"#, "x".repeat(10_000));
            ([(header::CONTENT_TYPE, "application/json")], big).into_response()
        } else if body.contains("GiftId") || body.contains("Gift") {
            ([(header::CONTENT_TYPE, "application/json")], DENY).into_response()
        } else {
            (
                [(header::CONTENT_TYPE, "application/json")],
                roomwatch::protocol::ACK_OK,
            )
                .into_response()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

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
        .env_remove("ROOMWATCH_FORWARD_TO")
        .env("ROOMWATCH_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, stderr, _) = common::read_listen_address(&mut child);
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, addr)
}

fn kill_9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `roomwatch export` of `journal`, one JSON value per line.
fn export(journal: &Path, data_home: &Path) -> Vec<serde_json::Value> {
    let output = Command::new(BIN)
        .args(["export", "--journal", journal.to_str().unwrap()])
        .env("XDG_DATA_HOME", data_home)
        .env_remove("ROOMWATCH_JOURNAL")
        .env("ROOMWATCH_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn query_one<T: rusqlite::types::FromSql>(journal: &Path, sql: &str) -> T {
    let conn = roomwatch::eventlog::sqlite::open_reader(journal).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(client: &reqwest::Client, addr: &str, command: &str, body: String) -> String {
    let response = client
        .post(format!(
            "http://{addr}/cb?SdkAppid=1400000001&CallbackCommand={command}&contenttype=json&ClientIP=10.0.0.7&OptPlatform=iOS"
        ))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn update(room: &str, n: u64) -> String {
    format!(
        "{{\"CallbackCommand\":\"Live.CallbackAfterUpdateRoomInfo\",\"RoomInfo\":{{\"RoomId\":\"{room}\",\"RoomName\":\"n{n}\"}},\"EventTime\":{}}}",
        1_735_692_000_000u64 + n
    )
}

/// The `relay` object of the exported line whose body names `room` (or gift).
fn relay_of<'a>(lines: &'a [serde_json::Value], needle: &str) -> &'a serde_json::Value {
    let line = lines
        .iter()
        .find(|l| l.to_string().contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}: {lines:?}"));
    &line["relay"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_relay_outcome_is_journaled_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("outcomes.sqlite");
    let target = backend().await;
    let args = [
        "--journal",
        journal.to_str().unwrap(),
        "--forward-to",
        &target,
    ];
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (child, addr) = spawn_binary(&args, dir.path());

    post(
        &client,
        &addr,
        "Live.CallbackAfterUpdateRoomInfo",
        update("room_ok", 1),
    )
    .await;
    post(
        &client,
        &addr,
        "Live.CallbackAfterUpdateRoomInfo",
        update("room_gone", 2),
    )
    .await;
    post(
        &client,
        &addr,
        "Live.CallbackAfterUpdateRoomInfo",
        update("room_big", 3),
    )
    .await;
    let gift = roomwatch::protocol::samples::find("Live.CallbackBeforeSendGift")
        .unwrap()
        .json
        .to_string();
    let answer = post(&client, &addr, "Live.CallbackBeforeSendGift", gift).await;
    assert_eq!(answer, DENY, "the backend's decision passed on");
    wait_until("four outcomes in the journal", || {
        query_one::<i64>(&journal, "SELECT count(*) FROM relay_outcomes") == 4
    })
    .await;
    kill_9(child);

    let lines = export(&journal, dir.path());
    assert_eq!(lines.len(), 4, "{lines:?}");
    let ok = relay_of(&lines, "room_ok");
    assert_eq!(ok["outcome"], "delivered");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["attempts"], 1);
    assert_eq!(ok["mode"], "after");
    assert!(ok["latency_ms"].is_u64(), "{ok}");
    let gone = relay_of(&lines, "room_gone");
    assert_eq!(gone["outcome"], "failed", "{gone}");
    assert_eq!(gone["status"], 404);
    assert!(
        gone["reason"].as_str().unwrap().contains("not retried"),
        "{gone}"
    );
    let gift = relay_of(&lines, "Live.CallbackBeforeSendGift");
    assert_eq!(gift["mode"], "before");
    assert_eq!(gift["outcome"], "delivered");
    assert_eq!(gift["status"], 200);

    // The backend's answers, as recorded: whole when small, cut at 4 KiB when large.
    let refused: String = query_one(
        &journal,
        "SELECT CAST(reply AS TEXT) FROM relay_outcomes WHERE outcome = 'failed'",
    );
    assert_eq!(refused, "no such room");
    let denied: String = query_one(
        &journal,
        "SELECT CAST(reply AS TEXT) FROM relay_outcomes WHERE mode = 'before'",
    );
    assert_eq!(denied, DENY);
    let big: String = query_one(
        &journal,
        "SELECT CAST(reply AS TEXT) FROM relay_outcomes WHERE seq = (SELECT seq FROM callbacks WHERE room_id = 'room_big')",
    );
    assert!(big.len() <= 4096 + 64, "{} bytes kept", big.len());
    assert!(big.ends_with("(cut at 4 KiB in the journal)"), "{big}");
    let log: String = query_one(
        &journal,
        "SELECT attempt_log FROM relay_outcomes WHERE outcome = 'failed'",
    );
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    assert_eq!(log[0]["status"], 404, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_from_before_outcomes_were_recorded_opens_and_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("old.sqlite");
    let args = ["--journal", journal.to_str().unwrap()];
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (child, addr) = spawn_binary(&args, dir.path());
    post(
        &client,
        &addr,
        "Live.CallbackAfterUpdateRoomInfo",
        update("room_old", 1),
    )
    .await;
    kill_9(child);

    // Turn it into a journal as an older roomwatch wrote it: without the new columns, with a
    // give-up written the way it wrote them.
    {
        let conn = rusqlite::Connection::open(&journal).unwrap();
        conn.execute_batch(
            "ALTER TABLE relay_outcomes DROP COLUMN mode;
             ALTER TABLE relay_outcomes DROP COLUMN decision;
             ALTER TABLE relay_outcomes DROP COLUMN note;
             ALTER TABLE relay_outcomes DROP COLUMN attempt_log;
             INSERT INTO relay_outcomes (seq, attempt, at_ms, target, outcome, error)
               SELECT seq, 0, 1, 'http://127.0.0.1:9/hook', 'failed', 'older than --relay-max-age' FROM callbacks;
",
        )
        .unwrap();
    }

    // Read as it is, without a migration.
    let lines = export(&journal, dir.path());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["relay"]["outcome"], "failed");
    assert_eq!(lines[0]["relay"]["attempts"], 0);
    assert_eq!(lines[0]["relay"]["reason"], "older than --relay-max-age");

    // Opened for writing: upgraded, nothing lost, new outcomes recorded.
    let target = backend().await;
    let args = [
        "--journal",
        journal.to_str().unwrap(),
        "--forward-to",
        &target,
    ];
    let (child, addr) = spawn_binary(&args, dir.path());
    post(
        &client,
        &addr,
        "Live.CallbackAfterUpdateRoomInfo",
        update("room_new", 2),
    )
    .await;
    wait_until("the new outcome", || {
        query_one::<i64>(&journal, "SELECT count(*) FROM relay_outcomes") == 2
    })
    .await;
    kill_9(child);
    assert_eq!(
        query_one::<i64>(
            &journal,
            "SELECT count(*) FROM pragma_table_info('relay_outcomes') WHERE name IN ('mode', 'decision', 'note', 'attempt_log')"
        ),
        4
    );
    assert_eq!(query_one::<i64>(&journal, "PRAGMA user_version"), 1);
    let lines = export(&journal, dir.path());
    assert_eq!(lines.len(), 2);
    assert_eq!(relay_of(&lines, "room_old")["outcome"], "failed");
    let new = relay_of(&lines, "room_new");
    assert_eq!(new["outcome"], "delivered");
    assert_eq!(new["mode"], "after");
}
