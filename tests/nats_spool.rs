//! The receiver's spool over a real nats-server: NATS stopped in the middle of a burst, the
//! receiver answers every callback from its spool and drains it in order once NATS is back;
//! a receiver killed with callbacks still spooled publishes them at its next start.
#![allow(clippy::unwrap_used)]

mod nats_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nats_common::{APP, NatsServer, Roomwatch, callback_url, member_enter, runtime, user_of};

const MEMBER_ENTER: &str = "Room.CallbackAfterMemberEnter";

/// Posts callbacks `range` one after another (so their order is defined); returns the users
/// whose callback was answered 200.
async fn post_range(base: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut answered = Vec::new();
    for i in range {
        let user = format!("u{i:04}");
        let body = member_enter(
            &format!("room_{}", i % 5),
            &user,
            1_735_700_000_000 + i as i64,
        );
        let ok = client
            .post(callback_url(base, MEMBER_ENTER))
            .body(body)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            answered.push(user);
        }
    }
    answered
}

async fn readyz(base: &str) -> serde_json::Value {
    let text = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn nats_stopped_mid_burst_loses_nothing_answered_and_the_spool_drains_in_order() {
    let mut nats = NatsServer::start();
    let receiver = Roomwatch::start(&[
        "--nats",
        &nats.url(),
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
    ]);
    let rt = runtime();
    let base = receiver.url();
    let mut answered = rt.block_on(post_range(&base, 0..100));
    nats.kill();
    answered.extend(rt.block_on(post_range(&base, 100..200)));
    let while_down = rt.block_on(readyz(&base));
    assert_eq!(while_down["nats"]["connected"], false, "{while_down}");
    assert!(
        while_down["nats"]["spooled"].as_u64().unwrap() > 0,
        "{while_down}"
    );
    assert_eq!(
        while_down["ready"], true,
        "the spool still takes callbacks: {while_down}"
    );
    nats.restart();
    answered.extend(rt.block_on(post_range(&base, 200..300)));
    assert_eq!(
        answered.len(),
        300,
        "every callback is answered, from the spool if need be"
    );

    let viewer = Roomwatch::start(&["--nats", &nats.url(), "--no-listen"]);
    let all: BTreeSet<String> = answered.iter().cloned().collect();
    let seen_all = viewer.wait_for(Duration::from_mins(1), |events| {
        let seen: BTreeSet<String> = events.iter().filter_map(user_of).collect();
        all.is_subset(&seen)
    });
    let users: Vec<String> = viewer.events().iter().filter_map(user_of).collect();
    let missing: Vec<&String> = all.iter().filter(|u| !users.contains(u)).collect();
    assert!(
        seen_all,
        "answered but never reached the stream: {missing:?}"
    );
    let mut count: BTreeMap<&String, usize> = BTreeMap::new();
    for user in &users {
        *count.entry(user).or_default() += 1;
    }
    assert!(count.values().all(|n| *n == 1), "stored twice: {count:?}");
    // One receiver, callbacks sent one after another: the stream holds them in that order,
    // the spooled ones included.
    assert_eq!(
        users, answered,
        "the stream's order is the order they were answered"
    );
    // The receiver follows the stream too, across the restart: its own output has them all.
    let receiver_saw_all = receiver.wait_for(Duration::from_mins(1), |events| {
        let seen: BTreeSet<String> = events.iter().filter_map(user_of).collect();
        all.is_subset(&seen)
    });
    assert!(
        receiver_saw_all,
        "the receiver stopped following after NATS came back"
    );
    let after = rt.block_on(readyz(&base));
    assert_eq!(after["nats"]["spooled"], 0, "{after}");
    assert_eq!(after["nats"]["connected"], true, "{after}");
}

#[test]
fn callbacks_spooled_before_a_kill_are_published_at_the_next_start() {
    let mut nats = NatsServer::start();
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("spool.sqlite");
    let spool_arg = spool.display().to_string();
    let args = [
        "--nats",
        &nats.url(),
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
        "--nats-spool",
        &spool_arg,
    ];
    let mut receiver = Roomwatch::start(&args);
    let rt = runtime();
    nats.kill();
    let answered = rt.block_on(post_range(&receiver.url(), 0..20));
    assert_eq!(answered.len(), 20);
    receiver.kill();
    nats.restart();

    let again = Roomwatch::start(&args);
    assert!(
        again.stderr.lock().unwrap().contains("from an earlier run") || {
            std::thread::sleep(Duration::from_millis(500));
            again.stderr.lock().unwrap().contains("from an earlier run")
        }
    );
    let viewer = Roomwatch::start(&["--nats", &nats.url(), "--no-listen"]);
    assert!(viewer.wait_for(Duration::from_secs(30), |events| events.len() >= 20));
    let users: Vec<String> = viewer.events().iter().filter_map(user_of).collect();
    assert_eq!(users, answered);
    drop(again);
}

#[test]
fn a_receiver_started_while_nats_is_away_answers_from_its_spool_and_drains_when_nats_comes() {
    let port = nats_common::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let receiver =
        Roomwatch::start(&["--nats", &url, "--listen", "127.0.0.1:0", "--sdkappid", APP]);
    let rt = runtime();
    let answered = rt.block_on(post_range(&receiver.url(), 0..15));
    assert_eq!(answered.len(), 15, "answered from the spool");
    let down = rt.block_on(readyz(&receiver.url()));
    assert_eq!(down["nats"]["spooled"], 15, "{down}");
    let _nats = NatsServer::start_on(port);
    let viewer = Roomwatch::start(&["--nats", &url, "--no-listen"]);
    assert!(
        viewer.wait_for(Duration::from_secs(30), |events| events.len() >= 15),
        "the spool never drained: {}",
        receiver.stderr.lock().unwrap()
    );
    let users: Vec<String> = viewer.events().iter().filter_map(user_of).collect();
    assert_eq!(users, answered);
}
