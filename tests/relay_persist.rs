//! Pending relays survive a restart: the real binary with a real journal file and a real
//! backend on loopback that is down, then `kill -9`, then up again.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");
const QUERY: &str = "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterUpdateRoomInfo&contenttype=json&ClientIP=10.0.0.7&OptPlatform=iOS";

/// Bodies in the order the backend received them.
type Received = Arc<Mutex<Vec<Bytes>>>;

fn backend_on(listener: TcpListener) -> Received {
    let got: Received = Arc::default();
    let app = Router::new()
        .fallback(|State(got): State<Received>, request: Request| async move {
            let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                .await
                .unwrap();
            got.lock().unwrap().push(body);
            (
                [(header::CONTENT_TYPE, "application/json")],
                roomwatch::protocol::ACK_OK,
            )
                .into_response()
        })
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(listener, app).await });
    got
}

/// Starts the real binary; returns it, its address and what it said on stderr before
/// listening. Callers kill and wait on the child.
#[allow(clippy::zombie_processes)]
fn spawn_binary(args: &[&str], data_home: &Path) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--headless"])
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .env_remove("ROOMWATCH_JOURNAL")
        .env_remove("ROOMWATCH_NO_JOURNAL")
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .env_remove("ROOMWATCH_FORWARD_TO")
        .env_remove("ROOMWATCH_RELAY_MAX_AGE")
        .env("ROOMWATCH_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, stderr, seen) = common::read_listen_address(&mut child);
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, addr, seen)
}

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn body(room: &str, n: usize) -> String {
    format!(
        "{{\"CallbackCommand\":\"Live.CallbackAfterUpdateRoomInfo\",\"RoomInfo\":{{\"RoomId\":\"{room}\",\"RoomName\":\"n{n}\"}},\"EventTime\":{}}}",
        1_735_692_000_000u64 + n as u64
    )
}

async fn post(client: &reqwest::Client, addr: &str, body: String) -> u16 {
    client
        .post(format!("http://{addr}/cb?{QUERY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn count(journal: &Path, sql: &str) -> i64 {
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

fn by_room(bodies: &[Bytes]) -> HashMap<String, Vec<String>> {
    let mut rooms: HashMap<String, Vec<String>> = HashMap::new();
    for b in bodies {
        let text = String::from_utf8(b.to_vec()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let room = value["RoomInfo"]["RoomId"].as_str().unwrap().to_string();
        rooms.entry(room).or_default().push(text);
    }
    rooms
}

/// A loopback port with nothing listening (bound, then let go).
async fn dead_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_callbacks_reach_the_backend_once_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("relay.sqlite");
    let backend_addr = dead_port().await;
    let target = format!("http://{backend_addr}/hook");
    let args = [
        "--journal",
        journal.to_str().unwrap(),
        "--forward-to",
        &target,
    ];
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    // The backend is down: every callback is acknowledged and waits.
    let (child, addr, _) = spawn_binary(&args, dir.path());
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    for n in 0..40 {
        let room = format!("room_{}", n % 4);
        let body = body(&room, n);
        assert_eq!(post(&client, &addr, body.clone()).await, 200);
        sent.entry(room).or_default().push(body);
    }
    kill_9(child);
    assert_eq!(count(&journal, "SELECT count(*) FROM relay_pending"), 40);

    // The backend comes up; the restarted roomwatch delivers everything, in order per room.
    let got = backend_on(TcpListener::bind(backend_addr).await.unwrap());
    let (child, addr, said) = spawn_binary(&args, dir.path());
    assert!(
        said.contains("resumed 40 pending relay(s)"),
        "stderr: {said}"
    );
    wait_until("every pending callback", || got.lock().unwrap().len() >= 40).await;
    wait_until("the pending marks cleared", || {
        count(&journal, "SELECT count(*) FROM relay_pending") == 0
    })
    .await;
    assert_eq!(
        by_room(&got.lock().unwrap()),
        sent,
        "each once, in order per room"
    );
    kill_9(child);

    // A second restart sends nothing again: one new callback per room arrives, and only it.
    let (child, addr2, said) = spawn_binary(&args, dir.path());
    assert!(!said.contains("resumed"), "stderr: {said}");
    for r in 0..4 {
        let room = format!("room_{r}");
        let body = body(&room, 100 + r);
        assert_eq!(post(&client, &addr2, body.clone()).await, 200);
        sent.entry(room).or_default().push(body);
    }
    wait_until("the new callbacks", || got.lock().unwrap().len() >= 44).await;
    kill_9(child);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 44);
    assert_eq!(by_room(&got), sent);
    let _ = addr;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_relays_older_than_the_max_age_are_given_up_and_recorded_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("old.sqlite");
    let backend_addr = dead_port().await;
    let target = format!("http://{backend_addr}/hook");
    let journal_arg = journal.to_str().unwrap();
    let args = ["--journal", journal_arg, "--forward-to", &target];
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let (child, addr, _) = spawn_binary(&args, dir.path());
    for n in 0..3 {
        assert_eq!(post(&client, &addr, body("room_old", n)).await, 200);
    }
    kill_9(child);

    let got = backend_on(TcpListener::bind(backend_addr).await.unwrap());
    // Whatever waited longer than 1 ms is too old by the time roomwatch is back.
    let mut short = args.to_vec();
    short.extend(["--relay-max-age", "1ms"]);
    let (child, addr, said) = spawn_binary(&short, dir.path());
    assert!(
        said.contains("resumed 0 pending relay(s)") && said.contains("3 given up"),
        "stderr: {said}"
    );
    wait_until("the give-ups recorded", || {
        count(
            &journal,
            "SELECT count(*) FROM relay_outcomes WHERE outcome = 'failed'",
        ) == 3
    })
    .await;
    assert_eq!(count(&journal, "SELECT count(*) FROM relay_pending"), 0);
    // Only a new callback reaches the backend, none of the given-up ones.
    let fresh = body("room_old", 9);
    assert_eq!(post(&client, &addr, fresh.clone()).await, 200);
    wait_until("the new callback", || !got.lock().unwrap().is_empty()).await;
    kill_9(child);
    let got = got.lock().unwrap().clone();
    assert_eq!(got, vec![Bytes::from(fresh)]);
}
