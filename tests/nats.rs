//! Many receivers and viewers over a real nats-server with JetStream: every answered callback
//! reaches every viewer once, viewers agree, a receiver killed mid-burst loses nothing it
//! answered, and a retry through another receiver is stored once.
#![allow(clippy::unwrap_used)]

mod nats_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nats_common::{APP, NatsServer, Roomwatch, callback_url, member_enter, runtime, user_of};

const MEMBER_ENTER: &str = "Room.CallbackAfterMemberEnter";

fn receiver(nats: &str, name: &str) -> Roomwatch {
    Roomwatch::start(&[
        "--nats",
        nats,
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
        "--nats-receiver",
        name,
    ])
}

fn viewer(nats: &str) -> Roomwatch {
    Roomwatch::start(&["--nats", nats, "--no-listen"])
}

/// What a viewer folded, line by line: enough to tell two viewers' states apart.
fn folded(events: &[serde_json::Value]) -> Vec<(u64, String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["room_id"].to_string(),
                e["command"].to_string(),
                e["effect"].to_string(),
            )
        })
        .collect()
}

#[test]
fn two_receivers_and_viewers_lose_nothing_answered_when_one_receiver_is_killed() {
    let nats = NatsServer::start();
    let a = receiver(&nats.url(), "a");
    let b = Arc::new(Mutex::new(receiver(&nats.url(), "b")));
    let first_viewer = viewer(&nats.url());
    let targets = [a.url(), b.lock().unwrap().url()];

    let total = 400usize;
    let answered = Arc::new(Mutex::new(BTreeSet::new()));
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let sem = Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = Vec::new();
        for i in 0..total {
            if i == total / 2 {
                // Halfway: receiver b dies without a goodbye while requests are in flight.
                b.lock().unwrap().kill();
            }
            let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
            let client = client.clone();
            let url = callback_url(&targets[i % 2], MEMBER_ENTER);
            let answered = Arc::clone(&answered);
            tasks.push(tokio::spawn(async move {
                let user = format!("u{i:04}");
                let body = member_enter(
                    &format!("room_{}", i % 10),
                    &user,
                    1_735_700_000_000 + i as i64,
                );
                let ok = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    answered.lock().unwrap().insert(user);
                }
                drop(permit);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= total / 2,
        "receiver a answered: {}",
        answered.len()
    );
    assert!(
        answered.len() < total,
        "b was killed, so some requests must have failed"
    );

    // Every answered callback reaches the viewer, once.
    let all_seen = first_viewer.wait_for(Duration::from_secs(30), |events| {
        let seen: BTreeSet<String> = events.iter().filter_map(user_of).collect();
        answered.is_subset(&seen)
    });
    let events = first_viewer.events();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for user in events.iter().filter_map(user_of) {
        *count.entry(user).or_default() += 1;
    }
    let missing: Vec<&String> = answered
        .iter()
        .filter(|u| !count.contains_key(*u))
        .collect();
    assert!(all_seen, "answered but not in the viewer: {missing:?}");
    assert!(
        count.values().all(|n| *n == 1),
        "stored more than once: {count:?}"
    );

    // A viewer started afterwards rebuilds the same state from the stream.
    let later = viewer(&nats.url());
    let n = events.len();
    assert!(later.wait_for(Duration::from_secs(30), |e| e.len() >= n));
    assert_eq!(folded(&later.events()[..n]), folded(&events));
    drop(a);
}

#[test]
fn a_retry_through_another_receiver_is_stored_once() {
    let nats = NatsServer::start();
    let a = receiver(&nats.url(), "a");
    let b = receiver(&nats.url(), "b");
    let watcher = viewer(&nats.url());
    let body = member_enter("room_retry", "retried_user", 1_735_700_000_000);
    let other = member_enter("room_retry", "next_user", 1_735_700_000_001);
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for (base, body) in [
            (a.url(), &body),
            (b.url(), &body),
            (a.url(), &body),
            (b.url(), &other),
        ] {
            let status = client
                .post(callback_url(&base, MEMBER_ENTER))
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{status}");
        }
    });
    assert!(watcher.wait_for(Duration::from_secs(20), |e| {
        e.iter().any(|e| user_of(e).as_deref() == Some("next_user"))
    }));
    let users: Vec<String> = watcher.events().iter().filter_map(user_of).collect();
    assert_eq!(
        users,
        vec!["retried_user".to_string(), "next_user".to_string()]
    );
}

#[test]
fn refused_callbacks_are_in_the_stream_for_every_viewer_with_their_reason() {
    let nats = NatsServer::start();
    let a = receiver(&nats.url(), "a");
    let watcher = viewer(&nats.url());
    let rt = runtime();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!(
                "{}/?SdkAppid=999&CallbackCommand={MEMBER_ENTER}",
                a.url()
            ))
            .body(member_enter("r", "intruder", 1))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 403);
    assert!(watcher.wait_for(Duration::from_secs(20), |e| !e.is_empty()));
    let event = &watcher.events()[0];
    assert_eq!(event["verdict"], "rejected");
    assert!(event["error"].as_str().unwrap().contains("999"), "{event}");
}

#[test]
fn without_nats_at_start_a_viewer_or_a_receiver_without_spool_says_so_and_exits() {
    let port = nats_common::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let data = tempfile::tempdir().unwrap();
    for args in [
        vec!["--no-listen"],
        vec!["--listen", "127.0.0.1:0", "--no-nats-spool"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
            .arg("--headless")
            .args(&args)
            .args(["--nats", &url])
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .env("XDG_DATA_HOME", data.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot connect to NATS"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_three_node_cluster_with_three_replicas_loses_nothing_answered_when_a_node_dies() {
    let mut nodes = NatsServer::start_cluster();
    let urls = nodes
        .iter()
        .map(NatsServer::url)
        .collect::<Vec<_>>()
        .join(",");
    let a = Roomwatch::start(&[
        "--nats",
        &urls,
        "--nats-replicas",
        "3",
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
    ]);
    let total = 300usize;
    let mut answered = BTreeSet::new();
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        for i in 0..total {
            if i == total / 3 {
                // The node the receiver most likely talks to, or the stream's leader: either
                // way a node of three, with replicas 3, dies without a goodbye.
                nodes[0].kill();
            }
            let user = format!("c{i:04}");
            let body = member_enter(
                &format!("room_{}", i % 7),
                &user,
                1_735_700_000_000 + i as i64,
            );
            let ok = client
                .post(callback_url(&a.url(), MEMBER_ENTER))
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                answered.insert(user);
            }
        }
    });
    assert_eq!(
        answered.len(),
        total,
        "the receiver answers throughout (stream or spool)"
    );
    let survivors = nodes[1..]
        .iter()
        .map(NatsServer::url)
        .collect::<Vec<_>>()
        .join(",");
    let watcher = viewer(&survivors);
    let all_seen = watcher.wait_for(Duration::from_mins(1), |events| {
        let seen: BTreeSet<String> = events.iter().filter_map(user_of).collect();
        answered.is_subset(&seen)
    });
    let users: Vec<String> = watcher.events().iter().filter_map(user_of).collect();
    let missing: Vec<&String> = answered.iter().filter(|u| !users.contains(u)).collect();
    assert!(all_seen, "answered but lost: {missing:?}");
    let unique: BTreeSet<&String> = users.iter().collect();
    assert_eq!(unique.len(), users.len(), "stored once each");
}

#[test]
fn export_reads_the_stream_with_the_journal_filters() {
    let nats = NatsServer::start();
    let a = receiver(&nats.url(), "a");
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for (room, user) in [("r1", "x1"), ("r2", "x2"), ("r1", "x3")] {
            let body = member_enter(room, user, 1_735_700_000_000);
            client
                .post(callback_url(&a.url(), MEMBER_ENTER))
                .body(body)
                .send()
                .await
                .unwrap();
        }
    });
    let export = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
            .args(["export", "--nats", &nats.url()])
            .args(extra)
            .env("ROOMWATCH_NATS_MAX_BYTES", "256MiB")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let all = export(&[]);
    assert_eq!(
        all.iter().filter_map(user_of).collect::<Vec<_>>(),
        ["x1", "x2", "x3"]
    );
    assert_eq!(all[0]["effect"], "applied");
    let r1 = export(&["--room", "r1"]);
    assert_eq!(
        r1.iter().filter_map(user_of).collect::<Vec<_>>(),
        ["x1", "x3"]
    );
    assert!(export(&["--verdict", "rejected"]).is_empty());
}

#[test]
fn a_body_too_large_for_a_nats_message_is_refused_up_front_and_blocks_nothing() {
    let nats = NatsServer::start();
    let a = receiver(&nats.url(), "a");
    assert!(
        a.stderr.lock().unwrap().contains("max_payload") || {
            std::thread::sleep(Duration::from_millis(300));
            a.stderr.lock().unwrap().contains("max_payload")
        },
        "says at start that NATS lowers the body limit"
    );
    let watcher = viewer(&nats.url());
    let rt = runtime();
    let (big, small) = rt.block_on(async {
        let client = reqwest::Client::new();
        let padding = "x".repeat(900 * 1024);
        let body = serde_json::json!({"CallbackCommand": MEMBER_ENTER, "RoomId": "r",
            "Operator_Account": "big", "MemberList_Account": ["big"], "EventTime": 1, "Pad": padding})
        .to_string();
        let big = client
            .post(callback_url(&a.url(), MEMBER_ENTER))
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        let small = client
            .post(callback_url(&a.url(), MEMBER_ENTER))
            .body(member_enter("r", "small", 2))
            .send()
            .await
            .unwrap()
            .status();
        (big, small)
    });
    assert_eq!(big.as_u16(), 413);
    assert!(small.is_success());
    assert!(watcher.wait_for(Duration::from_secs(20), |e| {
        e.iter().any(|e| user_of(e).as_deref() == Some("small"))
    }));
    let refused = &watcher.events()[0];
    assert_eq!(
        refused["verdict"], "rejected",
        "the refusal is in the stream too: {refused}"
    );
}

#[test]
fn garbage_published_into_the_stream_is_skipped_and_said_never_fatal() {
    let nats = NatsServer::start();
    let a = receiver(&nats.url(), "a");
    let watcher = viewer(&nats.url());
    let rt = runtime();
    rt.block_on(async {
        // Anyone with access to the subjects can publish; none of this is a record.
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Roomwatch-Record", "{\"v\":1,\"verdict\":\"\\u001b[31m\"}");
        for (subject, headers) in [
            ("roomwatch.1.x.p00", None),
            ("roomwatch.1400000001.CreateRoom.p01", Some(headers)),
        ] {
            let publish = match headers {
                Some(h) => {
                    js.publish_with_headers(subject, h, "\u{1b}]52;c;x\u{7}".into())
                        .await
                }
                None => js.publish(subject, "not a callback".into()).await,
            };
            publish.unwrap().await.unwrap();
        }
        reqwest::Client::new()
            .post(callback_url(&a.url(), MEMBER_ENTER))
            .body(member_enter("r", "after_garbage", 1))
            .send()
            .await
            .unwrap();
    });
    assert!(watcher.wait_for(Duration::from_secs(20), |e| {
        e.iter()
            .any(|e| user_of(e).as_deref() == Some("after_garbage"))
    }));
    assert_eq!(watcher.events().len(), 1, "garbage never becomes an event");
    // stderr is read on its own thread: give it a moment to catch up with stdout.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while watcher
        .stderr
        .lock()
        .unwrap()
        .matches("unreadable record in the stream")
        .count()
        < 2
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = watcher.stderr.lock().unwrap().clone();
    assert_eq!(
        stderr.matches("unreadable record in the stream").count(),
        2,
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no raw escape reaches the terminal: {stderr:?}"
    );
}
