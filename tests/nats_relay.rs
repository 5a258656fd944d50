//! The relay shared by two receivers over a real nats-server, to a real backend on loopback:
//! each callback reaches the backend once, in order per room; with a receiver killed mid-burst,
//! nothing answered is lost and each room keeps its order (the one callback a dead receiver
//! held may arrive twice in a row: at least once).
#![allow(clippy::unwrap_used)]

mod nats_common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use nats_common::{APP, NatsServer, Roomwatch, callback_url, member_enter};

const MEMBER_ENTER: &str = "Room.CallbackAfterMemberEnter";
const ROOMS: usize = 8;

type Got = Arc<Mutex<Vec<(String, String)>>>;

/// A backend on loopback that records (room, user) of each callback it gets, in arrival order.
fn backend(rt: &tokio::runtime::Runtime) -> (String, Got) {
    let got: Got = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .fallback(
            |State(got): State<Got>, body: axum::body::Bytes| async move {
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let room = value["RoomId"].as_str().unwrap_or("").to_string();
                let user = value["Operator_Account"].as_str().unwrap_or("").to_string();
                // A little latency, so that relays overlap the burst.
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..3))).await;
                got.lock().unwrap().push((room, user));
                roomwatch::protocol::ACK_OK
            },
        )
        .with_state(Arc::clone(&got));
    rt.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

fn receiver(nats: &str, forward: &str, name: &str) -> Roomwatch {
    Roomwatch::start(&[
        "--nats",
        nats,
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
        "--nats-receiver",
        name,
        "--forward-to",
        forward,
        "--nats-relay-claim",
        "2s",
    ])
}

/// Posts `per_room` callbacks to each room, each room's one after another (alternating
/// receivers), rooms in parallel; `kill` runs once after `kill_after` answers. Returns each
/// room's answered users in the order they were answered.
fn burst(
    rt: &tokio::runtime::Runtime,
    bases: &[String],
    per_room: usize,
    tag: &str,
    kill_after: Option<(usize, Box<dyn FnOnce() + Send>)>,
) -> BTreeMap<String, Vec<String>> {
    let answered: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let kill = Arc::new(Mutex::new(kill_after));
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut tasks = Vec::new();
        for r in 0..ROOMS {
            let (client, answered, count, kill) = (
                client.clone(),
                Arc::clone(&answered),
                Arc::clone(&count),
                Arc::clone(&kill),
            );
            let bases = bases.to_vec();
            let tag = tag.to_string();
            tasks.push(tokio::spawn(async move {
                let room = format!("room_{r}");
                for i in 0..per_room {
                    let user = format!("{tag}{r}_{i:03}");
                    let body = member_enter(&room, &user, 1_735_700_000_000 + i as i64);
                    let base = &bases[(r + i) % bases.len()];
                    let ok = client
                        .post(callback_url(base, MEMBER_ENTER))
                        .body(body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        answered
                            .lock()
                            .unwrap()
                            .entry(room.clone())
                            .or_default()
                            .push(user);
                        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        let mut kill = kill.lock().unwrap();
                        if kill.as_ref().is_some_and(|(after, _)| n >= *after) {
                            let (_, f) = kill.take().unwrap();
                            f();
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    answered.lock().unwrap().clone()
}

/// The backend's arrivals per room, for the users whose names start with `tag`.
fn arrivals(got: &Got, tag: &str) -> BTreeMap<String, Vec<String>> {
    let mut by_room: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (room, user) in got.lock().unwrap().iter() {
        if user.starts_with(tag) {
            by_room.entry(room.clone()).or_default().push(user.clone());
        }
    }
    by_room
}

fn wait_until(within: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn two_receivers_relay_each_callback_once_in_order_per_room_even_when_one_dies() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let nats = NatsServer::start();
    let (hook, got) = backend(&rt);
    let a = receiver(&nats.url(), &hook, "a");
    let b = Arc::new(Mutex::new(receiver(&nats.url(), &hook, "b")));
    let bases = vec![a.url(), b.lock().unwrap().url()];

    // Both alive: exactly once, in order per room.
    let answered = burst(&rt, &bases, 20, "x", None);
    assert_eq!(answered.values().map(Vec::len).sum::<usize>(), ROOMS * 20);
    assert!(wait_until(Duration::from_secs(30), || {
        arrivals(&got, "x").values().map(Vec::len).sum::<usize>() >= ROOMS * 20
    }));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        arrivals(&got, "x"),
        answered,
        "each once, in the order answered"
    );

    // b is killed with relays in flight: a takes over its partitions.
    let victim = Arc::clone(&b);
    let answered = burst(
        &rt,
        &bases,
        25,
        "y",
        Some((ROOMS * 10, Box::new(move || victim.lock().unwrap().kill()))),
    );
    let expected: usize = answered.values().map(Vec::len).sum();
    assert!(expected >= ROOMS * 10, "answered: {expected}");
    let all_arrived = wait_until(Duration::from_secs(45), || {
        let got = arrivals(&got, "y");
        answered.iter().all(|(room, users)| {
            got.get(room)
                .is_some_and(|g| users.iter().all(|u| g.contains(u)))
        })
    });
    let got_y = arrivals(&got, "y");
    assert!(
        all_arrived,
        "answered but never relayed: answered {answered:?}, got {got_y:?}"
    );
    let mut repeats = 0;
    for (room, users) in &answered {
        let mut seen = got_y[room].clone();
        let before = seen.len();
        seen.dedup();
        repeats += before - seen.len();
        // Callbacks b answered but never published cannot be there; every answered one is,
        // in the order it was answered.
        let in_order: Vec<&String> = seen.iter().filter(|u| users.contains(u)).collect();
        assert_eq!(in_order, users.iter().collect::<Vec<_>>(), "room {room}");
    }
    assert!(
        repeats <= nats_common_partitions(),
        "only callbacks held by the dead receiver may repeat: {repeats}"
    );
    drop(a);
}

fn nats_common_partitions() -> usize {
    roomwatch::nats::subject::PARTITIONS as usize
}

#[test]
fn callbacks_spooled_before_nats_existed_still_reach_the_backend_in_order() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (hook, got) = backend(&rt);
    let port = nats_common::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    // NATS is not there yet: the receiver starts anyway and answers from its spool.
    let a = receiver(&url, &hook, "a");
    let answered = burst(&rt, &[a.url()], 3, "z", None);
    assert_eq!(answered.values().map(Vec::len).sum::<usize>(), ROOMS * 3);
    // The first NATS ever: the stream and the relay's consumers are made now, and the spool
    // drains only once the consumers exist, so none of it is skipped.
    let _nats = NatsServer::start_on(port);
    let all_arrived = wait_until(Duration::from_secs(45), || {
        arrivals(&got, "z").values().map(Vec::len).sum::<usize>() >= ROOMS * 3
    });
    assert!(all_arrived, "relayed: {:?}", arrivals(&got, "z"));
    assert_eq!(arrivals(&got, "z"), answered);
}
