//! The demo drives the real receiver over real HTTP; the receiver's final state must equal
//! the simulator's own model of the story, whatever arrived late, twice or broken.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use roomwatch::demo::{self, DemoOptions, Leftover, RoomView};
use roomwatch::event::Verdict;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::{AuthConfig, AuthVerdict};
use roomwatch::ingest::receiver::{self, ReceiverState, now_ms};
use roomwatch::protocol::Rejection;
use roomwatch::store::{Effect, RoomStore};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const SDKAPPID: &str = "1400000001";

struct Server {
    hub: Arc<Hub>,
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(token: Option<&str>) -> Server {
    start_for(&[SDKAPPID], token).await
}

async fn start_for(apps: &[&str], token: Option<&str>) -> Server {
    let hub = Arc::new(Hub::new(1_000_000, 1 << 16));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappids: apps.iter().map(ToString::to_string).collect(),
            token: token.map(Into::into),
            window_s: 60,
        },
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(receiver::serve(listener, state, async {
        let _ = rx.await;
    }));
    Server {
        hub,
        addr,
        stop: Some(tx),
        task,
    }
}

impl Server {
    /// Waits (with a deadline, never a fixed sleep) until the hub has numbered `n` events.
    async fn wait_for_events(&self, n: u64) -> RoomStore {
        let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
        loop {
            let seen = self.hub.read(RoomStore::last_seq);
            if seen >= n {
                return self.hub.snapshot();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the hub saw only {seen} of {n} events"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

fn options(server: &Server, token: Option<&str>, seed: u64, events: u64) -> DemoOptions {
    DemoOptions {
        target: server.addr,
        sdkappids: vec![SDKAPPID.into()],
        token: token.map(Into::into),
        rate: 10_000.0,
        seed,
        events: Some(events),
        start_ms: now_ms(),
        leftover_rooms: Vec::new(),
    }
}

fn projection(store: &RoomStore) -> BTreeMap<String, RoomView> {
    store
        .rooms()
        .iter()
        .map(|(key, room)| (key.id.clone(), RoomView::of(room)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_ends_in_the_simulators_state() {
    const EVENTS: u64 = 1500;
    let server = start(None).await;
    let outcome = demo::run(options(&server, None, 42, EVENTS), std::future::pending()).await;
    let store = server.wait_for_events(EVENTS).await;

    let counts = outcome.simulator.counts().clone();
    assert_eq!(counts.total, EVENTS);
    assert_eq!(outcome.failed, 0);
    assert_eq!(
        outcome.answers,
        BTreeMap::from([(200, EVENTS - counts.malformed), (400, counts.malformed)])
    );

    // Same rooms, same facts, room by room.
    let model = outcome.simulator.model();
    let seen = projection(&store);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        model.keys().collect::<Vec<_>>()
    );
    for (id, truth) in &model {
        assert_eq!(&seen[id], truth, "room {id}");
    }

    // The story went everywhere it should.
    assert!(model.len() >= 6, "only {} rooms", model.len());
    assert!(model.values().any(|r| r.ended));
    assert!(model.values().any(|r| !r.ended));
    let causes: Vec<Option<String>> = store
        .rooms()
        .values()
        .filter_map(|r| r.destroyed.as_ref().map(|d| d.value.cause.clone()))
        .collect();
    assert!(causes.contains(&Some("DestroyByUser".into())), "{causes:?}");
    assert!(
        causes.contains(&Some("DestroyBySystem".into())),
        "{causes:?}"
    );
    assert!(store.rooms().values().any(|r| {
        r.destroyed
            .as_ref()
            .is_some_and(|d| d.value.by.as_deref() == Some("@TIM#SYSTEM"))
    }));
    assert!(!store.battles().is_empty());
    assert!(store.threshold().is_some());
    assert!(model.values().any(|r| r.name.as_deref() == Some("深夜电台")
        || r.name.as_deref().is_some_and(|n| n.starts_with("深夜电台"))));

    // Each accident shows as what it is, and only the accidents do.
    assert!(counts.late >= 2, "{counts:?}");
    assert!(counts.duplicate >= 2, "{counts:?}");
    assert_eq!(counts.malformed, 1);
    let counters = store.counters();
    assert_eq!(counters.stale, counts.late);
    assert_eq!(counters.duplicate, counts.duplicate);
    assert_eq!(counters.rejected, counts.malformed);
    assert_eq!(counters.accepted, EVENTS - counts.malformed);
    let stale: Vec<&str> = store
        .log()
        .iter()
        .filter(|e| e.effect == Effect::Stale)
        .filter_map(|e| e.event.command.as_deref())
        .collect();
    assert!(
        stale
            .iter()
            .all(|c| *c == "Live.CallbackAfterUpdateRoomInfo"),
        "{stale:?}"
    );
    let rejected: Vec<_> = store
        .log()
        .iter()
        .filter(|e| e.event.verdict == Verdict::Rejected)
        .collect();
    assert_eq!(rejected.len(), 1);
    assert!(matches!(
        rejected[0].event.error,
        Some(Rejection::NotJson { .. })
    ));
    assert_eq!(rejected[0].event.reply.status, 400);

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_tells_the_same_story() {
    let server = start(None).await;
    let a = demo::run(options(&server, None, 7, 200), std::future::pending()).await;
    let b = demo::run(options(&server, None, 7, 200), std::future::pending()).await;
    assert_eq!(a.simulator.model(), b.simulator.model());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_callback_is_signed_and_accepted() {
    const EVENTS: u64 = 300;
    let token = Some("demo-token-s3cret");
    let server = start(token).await;
    let outcome = demo::run(options(&server, token, 99, EVENTS), std::future::pending()).await;
    let store = server.wait_for_events(EVENTS).await;
    let counts = outcome.simulator.counts().clone();
    assert_eq!(outcome.failed, 0);
    assert_eq!(
        outcome.answers,
        BTreeMap::from([(200, EVENTS - counts.malformed), (400, counts.malformed)])
    );
    // The one malformed body passes auth and fails only as JSON.
    for entry in store.log() {
        assert_eq!(
            entry.event.auth,
            Some(AuthVerdict::Signed),
            "{:?}",
            entry.event.error
        );
    }
    let model = outcome.simulator.model();
    assert_eq!(projection(&store), model);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_stops_when_told() {
    let server = start(None).await;
    let mut opts = options(&server, None, 1, 0);
    opts.events = None;
    opts.rate = 1000.0;
    let (tx, rx) = oneshot::channel::<()>();
    let run = tokio::spawn(demo::run(opts, async {
        let _ = rx.await;
    }));
    // Let it post something, then stop it.
    server.wait_for_events(5).await;
    tx.send(()).unwrap();
    let outcome = run.await.unwrap();
    assert!(outcome.simulator.counts().total >= 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_seed_stopped_anywhere_still_converges() {
    for seed in 1..=8u64 {
        let events = 90 + seed * 37;
        let server = start(None).await;
        let outcome = demo::run(options(&server, None, seed, events), std::future::pending()).await;
        let store = server.wait_for_events(events).await;
        assert_eq!(outcome.failed, 0, "seed {seed}");
        assert_eq!(projection(&store), outcome.simulator.model(), "seed {seed}");
        let counts = outcome.simulator.counts();
        assert_eq!(store.counters().stale, counts.late, "seed {seed}");
        assert_eq!(store.counters().duplicate, counts.duplicate, "seed {seed}");
        server.stop().await;
    }
}

/// The real binary: `--demo --headless` prints every demo callback from the first one on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_the_demo_from_its_first_callback() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    const EVENTS: usize = 80;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args(["--demo", "--headless", "--listen", "127.0.0.1:0"])
        .args(["--demo-rate", "2000", "--demo-seed", "11", "--token", "tok"])
        .args(["--demo-events", &EVENTS.to_string()])
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .env("ROOMWATCH_LOG", "warn")
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let read = async {
        while seen.len() < EVENTS {
            let line = lines.next_line().await.unwrap().unwrap();
            seen.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_mins(1), read)
        .await
        .expect("the demo's lines within a minute");
    child.kill().await.unwrap();
    let seqs: Vec<u64> = seen.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=EVENTS as u64).collect::<Vec<_>>());
    assert_eq!(seen[0]["command"], "Live.CallbackAfterCreateRoom");
    let rejected: Vec<_> = seen.iter().filter(|l| l["verdict"] == "rejected").collect();
    assert_eq!(rejected.len(), 1, "only the malformed one");
    assert_eq!(rejected[0]["status"], 400);
    assert!(
        seen.iter()
            .filter(|l| l["verdict"] == "accepted")
            .all(|l| l["auth"] == "signed")
    );
    let query: Vec<&str> = seen[0]["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    assert_eq!(
        query,
        [
            "SdkAppid",
            "CallbackCommand",
            "contenttype",
            "ClientIP",
            "OptPlatform",
            "Sign",
            "RequestTime"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_an_earlier_demo_left_live_are_ended_before_the_new_story() {
    let server = start(None).await;
    let first = demo::run(options(&server, None, 7, 200), std::future::pending()).await;
    let store = server.wait_for_events(200).await;
    let live: Vec<Leftover> = store
        .rooms()
        .iter()
        .filter(|(_, room)| !room.is_ended())
        .map(|(key, room)| Leftover {
            room: key.clone(),
            last_event_ms: room.last_event_ms,
        })
        .collect();
    assert!(!live.is_empty(), "the first story leaves rooms live");
    drop(first);
    // At this rate the story's clock runs ahead of the wall clock (a step of at least 1 ms per
    // callback): wait until the first run is in the past, as an earlier run is, so that the
    // ending (stamped now) is newer than everything that run said.
    let latest = store
        .log()
        .iter()
        .map(|entry| entry.event.event_time_ms())
        .max()
        .unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while now_ms() <= latest {
        assert!(
            std::time::Instant::now() < deadline,
            "the story's clock ran away"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut again = options(&server, None, 8, 1);
    again.leftover_rooms.clone_from(&live);
    demo::run(again, std::future::pending()).await;
    let store = server.wait_for_events(200 + live.len() as u64 + 1).await;
    for leftover in &live {
        let room = store.room(&leftover.room).unwrap();
        assert!(room.is_ended(), "{} is still live", leftover.room);
    }
    server.stop().await;
}

/// The rooms of one app, by RoomId.
fn projection_of(store: &RoomStore, app: &str) -> BTreeMap<String, RoomView> {
    store
        .rooms()
        .iter()
        .filter(|(key, _)| key.app == app)
        .map(|(key, room)| (key.id.clone(), RoomView::of(room)))
        .collect()
}

/// With two apps listed the demo posts as each in turn, each app's own story; their rooms
/// share RoomIds and the receiver keeps every app's rooms apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_posts_for_every_app_listed() {
    const EVENTS: u64 = 800;
    const SECOND: &str = "1400000002";
    let server = start_for(&[SDKAPPID, SECOND], None).await;
    let options = DemoOptions {
        sdkappids: vec![SDKAPPID.into(), SECOND.into()],
        ..options(&server, None, 7, EVENTS)
    };
    let outcome = demo::run(options, std::future::pending()).await;
    let store = server.wait_for_events(EVENTS).await;
    assert_eq!(outcome.failed, 0);
    assert_eq!(outcome.more_apps.len(), 1);
    let second = &outcome.more_apps[0];
    assert_eq!(
        outcome.simulator.counts().total + second.counts().total,
        EVENTS
    );
    assert!(!outcome.answers.contains_key(&403), "{:?}", outcome.answers);
    assert_eq!(projection_of(&store, SDKAPPID), outcome.simulator.model());
    assert_eq!(projection_of(&store, SECOND), second.model());
    let shared = outcome
        .simulator
        .model()
        .keys()
        .filter(|id| second.model().contains_key(*id))
        .count();
    assert!(shared > 0, "no RoomId under both apps");
    server.stop().await;
}
