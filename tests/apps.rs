//! Many apps in one roomwatch: the real router over TCP with a list of SdkAppids, rooms keyed
//! by (app, RoomId), the headless line's `sdkappid`, and a real SQLite journal restoring apps
//! apart, including a journal written before rooms had an app.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roomwatch::eventlog::{JournalOptions, SqliteJournal};
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};
use roomwatch::outputs::headless;
use roomwatch::store::{RoomKey, RoomStore, known};
use serde_json::Value;
use tokio::sync::oneshot;

const FIRST: &str = "1400000001";
const SECOND: &str = "1400000002";
const CREATE: &str = "Live.CallbackAfterCreateRoom";
const DESTROY: &str = "Live.CallbackAfterDestroyRoom";
const MEMBERS: &str = "Live.CallbackAfterMemberStateChanged";

/// A receiver on a loopback port for `apps` (empty: any), journaled when `journal` is given;
/// `close` stops it and waits until the journal is closed.
struct Server {
    base: String,
    hub: Arc<Hub>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(apps: &[&str], journal: Option<&JournalOptions>) -> Self {
        let hub = match journal {
            Some(options) => {
                let (journal, restored) = SqliteJournal::open(options).unwrap();
                assert_eq!(restored.skipped, 0);
                Hub::with_journal(restored.store, 4096, Arc::new(journal))
            }
            None => Hub::new(10_000, 4096),
        };
        let hub = Arc::new(hub);
        let state = Arc::new(ReceiverState {
            hub: Arc::clone(&hub),
            auth: AuthConfig {
                sdkappids: apps.iter().map(ToString::to_string).collect(),
                token: None,
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
        Self {
            base: format!("http://{addr}"),
            hub,
            stop,
            served,
        }
    }

    /// Posts `body` as Tencent would for `app` (no `SdkAppid` at all when `None`).
    async fn post(&self, app: Option<&str>, command: &str, body: &Value) -> (u16, Value) {
        let app = app.map(|a| format!("SdkAppid={a}&")).unwrap_or_default();
        let response = reqwest::Client::new()
            .post(format!(
                "{}/callback?{app}CallbackCommand={command}&contenttype=json",
                self.base
            ))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }

    async fn close(self) {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
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

fn sample(command: &str) -> Value {
    serde_json::from_str(&common::sample(command)).unwrap()
}

/// The sample creation of live_9001, named `name`.
fn create_named(name: &str) -> Value {
    let mut body = sample(CREATE);
    body["RoomInfo"]["RoomName"] = name.into();
    body
}

fn name_of(store: &RoomStore, app: &str, id: &str) -> Option<String> {
    store
        .room(&RoomKey::new(app, id))
        .and_then(|room| known(&room.name).cloned())
}

#[tokio::test]
async fn the_same_room_id_under_two_apps_is_two_rooms_never_merged() {
    let server = Server::start(&[FIRST, SECOND], None).await;
    assert_eq!(
        server
            .post(Some(FIRST), CREATE, &create_named("first's jazz"))
            .await
            .0,
        200
    );
    assert_eq!(
        server
            .post(Some(SECOND), CREATE, &create_named("second's jazz"))
            .await
            .0,
        200
    );
    // A member entering under the second app changes only the second app's room.
    assert_eq!(
        server.post(Some(SECOND), MEMBERS, &sample(MEMBERS)).await.0,
        200
    );
    // An app not in the list is refused as before, naming the apps expected.
    let (status, reply) = server
        .post(Some("1400000003"), CREATE, &create_named("intruder"))
        .await;
    assert_eq!(status, 403);
    assert_eq!(reply["ErrorCode"], 40302);
    let reason = reply["ErrorInfo"].as_str().unwrap();
    assert!(reason.contains("1400000001 or 1400000002"), "{reason}");
    // The first app's room ends; the second app's room with the same id stays live.
    assert_eq!(
        server.post(Some(FIRST), DESTROY, &sample(DESTROY)).await.0,
        200
    );

    server.hub.read(|store| {
        assert_eq!(store.rooms().len(), 2);
        assert_eq!(store.rooms_with_id("live_9001").count(), 2);
        assert_eq!(
            name_of(store, FIRST, "live_9001").as_deref(),
            Some("Evening jazz"),
            "the destroy's own room info is newer"
        );
        assert_eq!(
            name_of(store, SECOND, "live_9001").as_deref(),
            Some("second's jazz")
        );
        let first = store.room(&RoomKey::new(FIRST, "live_9001")).unwrap();
        let second = store.room(&RoomKey::new(SECOND, "live_9001")).unwrap();
        assert!(first.is_ended());
        assert!(!second.is_ended());
        assert_eq!((first.app.as_str(), second.app.as_str()), (FIRST, SECOND));
        assert_eq!(first.online_count(), 0);
        assert_eq!(second.online_count(), 2);
        assert_eq!(store.counters().rejected, 1);
        // Every headless line says which app the callback was for.
        let apps: Vec<Option<String>> = store
            .log()
            .iter()
            .map(|entry| {
                let line: Value = serde_json::from_str(&headless::line(entry)).unwrap();
                line["sdkappid"].as_str().map(str::to_string)
            })
            .collect();
        let expected = [FIRST, SECOND, SECOND, "1400000003", FIRST].map(|a| Some(a.to_string()));
        assert_eq!(apps, expected);
    });
    server.close().await;
}

#[tokio::test]
async fn with_any_app_rooms_are_still_kept_apart_by_app() {
    let server = Server::start(&[], None).await;
    for app in [Some(FIRST), Some(SECOND), None] {
        let name = format!("jazz for {app:?}");
        assert_eq!(server.post(app, CREATE, &create_named(&name)).await.0, 200);
    }
    server.hub.read(|store| {
        assert_eq!(store.rooms_with_id("live_9001").count(), 3);
        for app in [FIRST, SECOND] {
            assert_eq!(
                name_of(store, app, "live_9001"),
                Some(format!("jazz for Some({app:?})"))
            );
        }
        // No SdkAppid: the room has no app, and the headless line says null.
        assert_eq!(
            name_of(store, "", "live_9001").as_deref(),
            Some("jazz for None")
        );
        let last: Value =
            serde_json::from_str(&headless::line(store.log().back().unwrap())).unwrap();
        assert_eq!(last["sdkappid"], Value::Null);
    });
    server.close().await;
}

/// Creates live_9001 and a member change under both apps, and a room only the second has.
async fn two_apps_history(server: &Server) {
    for app in [FIRST, SECOND] {
        let name = format!("{app} jazz");
        assert_eq!(
            server.post(Some(app), CREATE, &create_named(&name)).await.0,
            200
        );
    }
    assert_eq!(
        server.post(Some(SECOND), MEMBERS, &sample(MEMBERS)).await.0,
        200
    );
    let mut other = create_named("only in the second");
    other["RoomInfo"]["RoomId"] = "live_2".into();
    assert_eq!(server.post(Some(SECOND), CREATE, &other).await.0, 200);
    assert_eq!(
        server.post(Some(FIRST), DESTROY, &sample(DESTROY)).await.0,
        200
    );
}

fn assert_two_apps_state(store: &RoomStore) {
    assert_eq!(store.rooms().len(), 3);
    let first = store.room(&RoomKey::new(FIRST, "live_9001")).unwrap();
    let second = store.room(&RoomKey::new(SECOND, "live_9001")).unwrap();
    assert!(first.is_ended() && !second.is_ended());
    assert_eq!(second.online_count(), 2);
    assert_eq!(first.app, FIRST);
    assert_eq!(second.app, SECOND);
    assert_eq!(
        name_of(store, SECOND, "live_2").as_deref(),
        Some("only in the second")
    );
    assert!(store.room(&RoomKey::new(FIRST, "live_2")).is_none());
}

fn journal(path: &Path) -> JournalOptions {
    JournalOptions {
        log_capacity: 1000,
        ..JournalOptions::new(path)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_apps_apart_from_a_checkpoint_and_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let server = Server::start(&[FIRST, SECOND], Some(&journal(&path))).await;
    two_apps_history(&server).await;
    let before = format!("{:?}", server.hub.snapshot().rooms());
    server.close().await;

    // From the checkpoint taken at the clean stop.
    let server = Server::start(&[FIRST, SECOND], Some(&journal(&path))).await;
    server.hub.read(assert_two_apps_state);
    assert_eq!(format!("{:?}", server.hub.snapshot().rooms()), before);
    server.close().await;

    // Without any checkpoint: every record replayed, each under the app of its query.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM checkpoints", []).unwrap();
    drop(conn);
    let server = Server::start(&[FIRST, SECOND], Some(&journal(&path))).await;
    server.hub.read(assert_two_apps_state);
    assert_eq!(format!("{:?}", server.hub.snapshot().rooms()), before);
    server.close().await;
}

/// A journal written by roomwatch before rooms were keyed by app: 300 demo callbacks for app
/// 1400000001 with a checkpoint at the end, thinned to the latest record of each room (as
/// retention would), and live_4124's last record gone too.
const BEFORE_APPS: &str = "tests/fixtures/journal-before-apps.sqlite";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_from_before_apps_restores_rooms_under_their_app() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    std::fs::copy(BEFORE_APPS, &path).unwrap();
    let server = Server::start(&[FIRST], Some(&journal(&path))).await;
    let ids = |store: &RoomStore| -> Vec<(String, String)> {
        store
            .rooms()
            .keys()
            .map(|k| (k.app.clone(), k.id.clone()))
            .collect()
    };
    let restored = server.hub.read(|store| {
        assert_eq!(store.last_seq(), 300);
        ids(store)
    });
    let expected: Vec<(String, String)> = (4118..=4124)
        .map(|n| {
            // Retention took every record of live_4124: its app is not known any more.
            let app = if n == 4124 { "" } else { FIRST };
            (app.to_string(), format!("live_{n}"))
        })
        .collect();
    assert_eq!(restored, expected);
    server.hub.read(|store| {
        for key in store.rooms().keys() {
            assert_eq!(store.room(key).unwrap().app, key.app);
        }
    });
    // New callbacks for a restored room land in it, not in a new room.
    let mut update = sample("Live.CallbackAfterUpdateRoomInfo");
    update["RoomInfo"]["RoomId"] = "live_4118".into();
    update["RoomInfo"]["RoomName"] = "renamed after the upgrade".into();
    // Later than anything in the fixture.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    update["EventTime"] = u64::try_from(now_ms).unwrap().into();
    let (status, _) = server
        .post(Some(FIRST), "Live.CallbackAfterUpdateRoomInfo", &update)
        .await;
    assert_eq!(status, 200);
    server.hub.read(|store| {
        assert_eq!(store.rooms().len(), 7);
        assert_eq!(
            name_of(store, FIRST, "live_4118").as_deref(),
            Some("renamed after the upgrade")
        );
    });
    let before = format!("{:?}", server.hub.snapshot().rooms());
    server.close().await;
    // The checkpoint written at that stop has the new layout and reads back the same.
    let server = Server::start(&[FIRST], Some(&journal(&path))).await;
    assert_eq!(format!("{:?}", server.hub.snapshot().rooms()), before);
    server.close().await;
}

/// `roomwatch export` tells the apps apart: each line carries its app, and `--sdkappid` with
/// `--room` selects one app's room of that id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_selects_one_apps_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let server = Server::start(&[FIRST, SECOND], Some(&journal(&path))).await;
    two_apps_history(&server).await;
    server.close().await;
    let export = |extra: &[&str]| -> Vec<(String, String)> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
            .args(["export", "--journal"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let line: Value = serde_json::from_str(l).unwrap();
                (
                    line["sdkappid"].as_str().unwrap().to_string(),
                    line["command"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let both = export(&["--room", "live_9001"]);
    assert_eq!(both.len(), 4, "{both:?}");
    let second = export(&["--room", "live_9001", "--sdkappid", SECOND]);
    assert_eq!(
        second,
        [
            (SECOND.to_string(), CREATE.to_string()),
            (SECOND.to_string(), MEMBERS.to_string())
        ]
    );
    let first = export(&["--sdkappid", FIRST]);
    assert_eq!(
        first,
        [
            (FIRST.to_string(), CREATE.to_string()),
            (FIRST.to_string(), DESTROY.to_string())
        ]
    );
}
