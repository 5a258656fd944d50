//! The room state does not depend on which receiver got what first: the same callbacks posted
//! through two real receivers (HTTP over TCP to the real router) in different orders and splits,
//! each run into its own stream on a real nats-server, fold into the same rooms in viewers that
//! follow those streams.
#![allow(clippy::unwrap_used)]

mod nats_common;

use std::collections::BTreeMap;
use std::sync::Arc;

use nats_common::{APP, NatsServer};
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};
use roomwatch::nats::follow::FollowStatus;
use roomwatch::nats::{NatsOptions, StreamLog, StreamSink};
use roomwatch::store::{Room, RoomKey};
use serde_json::{Value, json};

fn callbacks() -> Vec<Value> {
    let mut all = Vec::new();
    for r in 0..4 {
        let room = format!("live_{r}");
        let t = 1_735_700_000_000_i64 + r * 1000;
        all.push(json!({"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"host",
            "RoomInfo":{"RoomId":room,"RoomName":"first","Owner_Account":"host","MaxSeatCount":4},"EventTime":t}));
        for (i, name) in ["second", "third", "fourth"].iter().enumerate() {
            all.push(json!({"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","Operator_Account":"host",
                "RoomInfo":{"RoomId":room,"RoomName":name},"EventTime":t + 10 + i as i64}));
        }
        for m in 0..4 {
            all.push(json!({"CallbackCommand":"Room.CallbackAfterMemberEnter","Operator_Account":format!("m{m}"),
                "RoomId":room,"MemberCount":1,"Type":"Enter","MemberList_Account":[format!("m{m}")],
                "EventTime":t + 20 + m}));
        }
        all.push(json!({"CallbackCommand":"Room.CallbackAfterMemberLeave","Operator_Account":"m1",
            "RoomId":room,"MemberCount":1,"Type":"Leave","MemberList_Account":["m1"],"EventTime":t + 40}));
        if r == 0 {
            all.push(
                json!({"CallbackCommand":"Live.CallbackAfterDestroyRoom","Operator_Account":"host",
                "RoomId":room,"EventType":"DestroyByUser","EventTime":t + 50,
                "RoomInfo":{"RoomId":room}}),
            );
        }
    }
    all
}

fn command_of(body: &Value) -> String {
    body["CallbackCommand"].as_str().unwrap().to_string()
}

struct Group {
    bases: Vec<String>,
    viewer: StreamLog,
}

/// Two receivers publishing to `stream`, and a viewer's connection to it.
async fn group(nats: &str, stream: &str) -> Group {
    let mut bases = Vec::new();
    for name in ["a", "b"] {
        let mut options = NatsOptions::new(vec![nats.to_string()]);
        options.stream = stream.to_string();
        options.subject_prefix = stream.to_lowercase();
        options.receiver = name.to_string();
        options.max_bytes = 64 << 20;
        let log = StreamLog::connect(options, false).await.unwrap();
        let state = Arc::new(ReceiverState {
            hub: Arc::new(Hub::new(100, 256)),
            auth: AuthConfig {
                sdkappids: vec![APP.into()],
                token: None,
                window_s: 60,
            },
            body_limit: 1 << 20,
            relay: None,
            stream: Some(Arc::new(StreamSink {
                stream: log,
                spool: None,
                relay_ready: None,
            })),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(receiver::serve(listener, state, std::future::pending()));
    }
    let mut options = NatsOptions::new(vec![nats.to_string()]);
    options.stream = stream.to_string();
    options.subject_prefix = stream.to_lowercase();
    options.max_bytes = 64 << 20;
    let viewer = StreamLog::connect(options, false).await.unwrap();
    Group { bases, viewer }
}

/// Posts `bodies` with `concurrency` requests in flight, the i-th through receiver `pick(i)`.
async fn post_all(
    group: &Group,
    bodies: &[Value],
    pick: impl Fn(usize) -> usize,
    concurrency: usize,
) {
    let client = reqwest::Client::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
        let url = format!(
            "{}/?SdkAppid={APP}&CallbackCommand={}",
            group.bases[pick(i) % 2],
            command_of(body)
        );
        let (client, body) = (client.clone(), body.to_string());
        tasks.push(tokio::spawn(async move {
            let status = client.post(url).body(body).send().await.unwrap().status();
            assert!(status.is_success(), "{status}");
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The rooms a viewer folds from the whole stream.
async fn rooms(group: &Group) -> BTreeMap<RoomKey, Room> {
    let hub = Arc::new(Hub::new(10_000, 4096));
    let (status, _) = tokio::sync::watch::channel(FollowStatus::default());
    group
        .viewer
        .follow_into(&hub, 0, &status, true, std::future::pending())
        .await
        .unwrap();
    hub.read(|store| {
        store
            .rooms()
            .iter()
            .map(|(id, room)| (id.clone(), room.converged()))
            .collect()
    })
}

#[test]
fn rooms_converge_whichever_receiver_took_what_and_in_which_order() {
    let nats = NatsServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bodies = callbacks();
    let mut reversed = bodies.clone();
    reversed.reverse();
    let mut shuffled = bodies.clone();
    fastrand::seed(7);
    fastrand::shuffle(&mut shuffled);
    let states = rt.block_on(async {
        // In order, alternating receivers, one at a time.
        let first = group(&nats.url(), "ORDERED").await;
        post_all(&first, &bodies, |i| i, 1).await;
        // Reversed, all through b then a, concurrently.
        let second = group(&nats.url(), "REVERSED").await;
        post_all(
            &second,
            &reversed,
            |i| usize::from(i >= reversed.len() / 2),
            8,
        )
        .await;
        // Shuffled, random split, with every body sent again through the other receiver
        // (a client retrying elsewhere).
        let third = group(&nats.url(), "SHUFFLED").await;
        let mut twice = shuffled.clone();
        twice.extend(shuffled.iter().cloned());
        post_all(&third, &twice, |i| (i + i / shuffled.len()) % 2, 8).await;
        [
            rooms(&first).await,
            rooms(&second).await,
            rooms(&third).await,
        ]
    });
    assert_eq!(states[0].len(), 4);
    assert!(states[0][&RoomKey::new(APP, "live_0")].is_ended());
    assert_eq!(
        states[0][&RoomKey::new(APP, "live_1")]
            .name
            .as_ref()
            .map(|n| n.value.as_str()),
        Some("fourth")
    );
    assert_eq!(states[1], states[0], "reversed order through two receivers");
    assert_eq!(
        states[2], states[0],
        "shuffled, split, and every callback retried elsewhere"
    );
}

/// The rooms a hub that starts from `store` (or empty) holds once caught up with the stream.
async fn rooms_from(
    log: &StreamLog,
    store: Option<roomwatch::store::RoomStore>,
) -> BTreeMap<RoomKey, Room> {
    let after = store
        .as_ref()
        .map_or(0, roomwatch::store::RoomStore::last_seq);
    let hub = Arc::new(match store {
        Some(store) => Hub::with_store(store, 4096, 5 * 60 * 1000),
        None => Hub::new(10_000, 4096),
    });
    let (status, _) = tokio::sync::watch::channel(FollowStatus::default());
    log.follow_into(&hub, after, &status, true, std::future::pending())
        .await
        .unwrap();
    hub.read(|store| {
        store
            .rooms()
            .iter()
            .map(|(id, room)| (id.clone(), room.converged()))
            .collect()
    })
}

#[test]
fn a_viewer_from_the_receivers_checkpoint_plus_the_tail_sees_what_a_full_rebuild_sees() {
    let nats = NatsServer::start();
    let receiver = nats_common::Roomwatch::start(&[
        "--nats",
        &nats.url(),
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
        "--nats-checkpoint-every",
        "20",
    ]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bodies = callbacks();
    assert!(bodies.len() > 20);
    let (checkpoint_seq, from_checkpoint, full) = rt.block_on(async {
        let client = reqwest::Client::new();
        for body in &bodies {
            let url = format!(
                "{}/?SdkAppid={APP}&CallbackCommand={}",
                receiver.url(),
                command_of(body)
            );
            assert!(
                client
                    .post(url)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .is_success()
            );
        }
        let mut options = NatsOptions::new(vec![nats.url()]);
        options.max_bytes = 64 << 20;
        let log = StreamLog::connect(options, false).await.unwrap();
        // The receiver stores its checkpoint in the background once it folded 20 records.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let store = loop {
            if let Some(store) = log.load_checkpoint(1000).await {
                break store;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no checkpoint was stored"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let seq = store.last_seq();
        (
            seq,
            rooms_from(&log, Some(store)).await,
            rooms_from(&log, None).await,
        )
    });
    assert!(
        checkpoint_seq >= 20 && checkpoint_seq < bodies.len() as u64,
        "{checkpoint_seq}"
    );
    assert_eq!(from_checkpoint, full);

    // The binary says where it started, and prints only what came after the checkpoint.
    let viewer = nats_common::Roomwatch::start(&["--nats", &nats.url(), "--no-listen"]);
    let tail = bodies.len() as u64;
    assert!(viewer.wait_for(std::time::Duration::from_secs(20), |e| {
        e.last().is_some_and(|e| e["seq"].as_u64() == Some(tail))
    }));
    let first = viewer.events()[0]["seq"].as_u64().unwrap();
    assert!(first > checkpoint_seq, "{first} after {checkpoint_seq}");
    assert!(viewer.stderr.lock().unwrap().contains("checkpoint at seq"));
    // What the checkpoint held was never this run's to print: no false alarm at exit.
    let mut viewer = viewer;
    assert_eq!(viewer.terminate(), Some(0));
    let stderr = viewer.stderr.lock().unwrap().clone();
    assert!(!stderr.contains("were not printed"), "{stderr}");
}
