//! The receiver over real TCP: every answer it gives, and load from concurrent connections.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{sample, start_server};
use roomwatch::event::Verdict;
use roomwatch::ingest::auth::sign;
use roomwatch::protocol::ACK_OK;
use roomwatch::store::known;
use serde_json::Value;

const APP: &str = "1400000001";
const CREATE: &str = "Live.CallbackAfterCreateRoom";

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn code(&self) -> i64 {
        self.json()["ErrorCode"].as_i64().unwrap()
    }
}

async fn post(base: &str, query: &str, body: impl Into<reqwest::Body>) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{base}/callback?{query}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: response.text().await.unwrap(),
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn an_accepted_callback_gets_the_exact_ack_and_updates_state() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let query = format!(
        "SdkAppid={APP}&CallbackCommand={CREATE}&contenttype=json&ClientIP=203.0.113.7&OptPlatform=Android"
    );
    let answer = post(&server.base, &query, sample(CREATE)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.body, ACK_OK);
    server.hub.read(|store| {
        let room = store.room_by_id("live_9001").unwrap();
        assert_eq!(known(&room.name).map(String::as_str), Some("Evening jazz"));
        let entry = store.log().back().unwrap();
        assert_eq!(entry.event.verdict, Verdict::Accepted);
        assert_eq!(entry.event.seq, 1);
        assert_eq!(entry.event.query.get("ClientIP"), Some("203.0.113.7"));
    });
}

#[tokio::test]
async fn parameter_names_match_in_any_case_and_the_body_names_the_command() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let answer = post(&server.base, &format!("sdkappid={APP}"), sample(CREATE)).await;
    assert_eq!(answer.status, 200);
    let answer = post(&server.base, &format!("SdkAppId={APP}"), sample(CREATE)).await;
    assert_eq!(answer.status, 200);
    server
        .hub
        .read(|store| assert_eq!(store.counters().accepted, 2));
}

#[tokio::test]
async fn unknown_commands_and_commandless_bodies_are_acknowledged_as_unrecognized() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let unknown = post(
        &server.base,
        &format!("SdkAppid={APP}&CallbackCommand=Live.CallbackAfterSomethingNew"),
        r#"{"CallbackCommand":"Live.CallbackAfterSomethingNew","RoomId":"r5"}"#,
    )
    .await;
    assert_eq!((unknown.status, unknown.body.as_str()), (200, ACK_OK));
    let trtc = post(
        &server.base,
        &format!("SdkAppid={APP}"),
        r#"{"EventGroupId":1,"EventType":103,"EventInfo":{"RoomId":"12345"}}"#,
    )
    .await;
    assert_eq!((trtc.status, trtc.body.as_str()), (200, ACK_OK));
    server.hub.read(|store| {
        assert!(
            store.rooms().is_empty(),
            "no state from unrecognized callbacks"
        );
        assert_eq!(store.counters().unrecognized, 2);
        let first = &store.log()[0].event;
        assert_eq!(first.verdict, Verdict::Unrecognized);
        assert_eq!(first.room_id.as_deref(), Some("r5"));
        let body: serde_json::Value = serde_json::from_slice(&first.raw_body).unwrap();
        assert_eq!(body["RoomId"], "r5");
    });
}

#[tokio::test]
async fn before_callbacks_are_allowed() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    for command in ["Live.CallbackBeforeSendGift", "Group.CallbackBeforeSendMsg"] {
        let answer = post(
            &server.base,
            &format!("SdkAppid={APP}&CallbackCommand={command}"),
            sample(command),
        )
        .await;
        assert_eq!((answer.status, answer.code()), (200, 0), "{command}");
        assert_eq!(answer.json()["ActionStatus"], "OK");
    }
}

/// Posts, then checks status, code, reason and that the rejection was logged with its body.
async fn expect_rejection(
    server: &common::TestServer,
    query: &str,
    body: &str,
    status: u16,
    code: i64,
    reason: &str,
) {
    let answer = post(&server.base, query, body.to_string()).await;
    assert_eq!(answer.status, status, "{query}: {}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let json = answer.json();
    assert_eq!(json["ActionStatus"], "FAIL");
    assert_eq!(json["ErrorCode"], code);
    let info = json["ErrorInfo"].as_str().unwrap();
    assert!(info.contains(reason), "{info:?} lacks {reason:?}");
    server.hub.read(|store| {
        let entry = store.log().back().unwrap();
        assert_eq!(entry.event.verdict, Verdict::Rejected);
        assert_eq!(entry.event.reply.status, status);
        assert!(
            entry
                .event
                .error
                .as_ref()
                .unwrap()
                .to_string()
                .contains(reason)
        );
        if !body.is_empty() && body.len() < 4096 {
            assert_eq!(
                entry.event.raw_body.as_ref(),
                body.as_bytes(),
                "the raw body is kept"
            );
        }
        assert!(store.rooms().is_empty(), "rejections never touch state");
    });
}

#[tokio::test]
async fn sdkappid_checks() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let body = sample(CREATE);
    expect_rejection(
        &server,
        &format!("CallbackCommand={CREATE}"),
        &body,
        403,
        40301,
        "SdkAppid is missing",
    )
    .await;
    expect_rejection(
        &server,
        "SdkAppid=1400000999",
        &body,
        403,
        40302,
        "not the expected 1400000001",
    )
    .await;
}

#[tokio::test]
async fn signature_checks() {
    let token = "xxxxyyyy";
    let server = start_server(Some(APP), Some(token), 1 << 20).await;
    let body = sample(CREATE);
    let now = now_s().to_string();
    let good = sign(token, &now);
    expect_rejection(
        &server,
        &format!("SdkAppid={APP}&RequestTime={now}"),
        &body,
        401,
        40101,
        "Sign is missing",
    )
    .await;
    expect_rejection(
        &server,
        &format!(
            "SdkAppid={APP}&RequestTime={now}&Sign={}",
            sign("other", &now)
        ),
        &body,
        401,
        40102,
        "Sign does not match",
    )
    .await;
    expect_rejection(
        &server,
        &format!("SdkAppid={APP}&Sign={good}"),
        &body,
        401,
        40103,
        "RequestTime is missing",
    )
    .await;
    expect_rejection(
        &server,
        &format!("SdkAppid={APP}&Sign={good}&RequestTime=yesterday"),
        &body,
        401,
        40104,
        "not a Unix time",
    )
    .await;
    let old = (now_s() - 120).to_string();
    expect_rejection(
        &server,
        &format!(
            "SdkAppid={APP}&Sign={}&RequestTime={old}",
            sign(token, &old)
        ),
        &body,
        401,
        40105,
        "outside the 60 s window",
    )
    .await;
    let answer = post(
        &server.base,
        &format!("SdkAppid={APP}&Sign={good}&RequestTime={now}"),
        body,
    )
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ACK_OK));
    server
        .hub
        .read(|store| assert!(store.room_by_id("live_9001").is_some()));
}

#[tokio::test]
async fn body_checks() {
    let server = start_server(Some(APP), None, 2048).await;
    let q = format!("SdkAppid={APP}");
    expect_rejection(&server, &q, "", 400, 40001, "body is empty").await;
    expect_rejection(
        &server,
        &q,
        "{\"RoomId\":\"r\"\n\"EventTime\":1}",
        400,
        40002,
        "line 2 column 1",
    )
    .await;
    expect_rejection(&server, &q, "[1,2,3]", 400, 40003, "JSON array").await;
    expect_rejection(
        &server,
        &format!("{q}&CallbackCommand=Live.CallbackAfterDestroyRoom"),
        &sample(CREATE),
        400,
        40004,
        "disagrees",
    )
    .await;
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
    expect_rejection(&server, &q, &big, 413, 41301, "2048 byte limit").await;
    server.hub.read(|store| {
        let entry = store.log().back().unwrap();
        assert!(entry.event.raw_body.starts_with(b"{\"pad\":\"xxx"));
        assert_eq!(store.counters().rejected, 5);
    });
}

#[tokio::test]
async fn an_oversized_chunked_body_is_refused_too() {
    let server = start_server(Some(APP), None, 1024).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 512])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let answer = post(&server.base, &format!("SdkAppid={APP}"), body).await;
    assert_eq!((answer.status, answer.code()), (413, 41301));
}

#[tokio::test]
async fn health_and_wrong_methods() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let get = reqwest::get(format!("{}/callback?SdkAppid={APP}", server.base))
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let body: Value = serde_json::from_str(&get.text().await.unwrap()).unwrap();
    assert_eq!(body["ErrorCode"], 40501);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_callbacks_over_sixteen_connections_are_all_acknowledged_and_applied() {
    const CONNECTIONS: usize = 16;
    const PER_CONNECTION: usize = 125;
    let server = start_server(Some(APP), None, 1 << 20).await;
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task with one idle connection: sixteen keep-alive connections.
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
            let mut acknowledged = 0;
            for i in 0..PER_CONNECTION {
                let body = serde_json::json!({
                    "CallbackCommand": "Live.CallbackAfterMemberStateChanged",
                    "RoomId": format!("load_{}", connection % 4),
                    "EventType": "Online", "EventCause": "Enter",
                    "MemberList": [{"Member_Account": format!("viewer_{connection}_{i}")}],
                    "EventTime": 1_735_691_000_000_i64 + i as i64,
                });
                let response = client
                    .post(format!("{base}/cb?SdkAppid={APP}&CallbackCommand=Live.CallbackAfterMemberStateChanged"))
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                if status == 200 && text == ACK_OK {
                    acknowledged += 1;
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = 0;
    for task in tasks {
        acknowledged += task.await.unwrap();
    }
    assert_eq!(acknowledged, CONNECTIONS * PER_CONNECTION);
    server.hub.read(|store| {
        assert_eq!(store.counters().accepted, 2000);
        assert_eq!(store.last_seq(), 2000);
        let online: usize = store.rooms().values().map(|room| room.online_count()).sum();
        assert_eq!(online, 2000);
        assert_eq!(store.rooms().len(), 4);
    });
}

#[tokio::test]
async fn a_post_to_healthz_is_still_a_callback() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let response = reqwest::Client::new()
        .post(format!("{}/healthz?SdkAppid={APP}", server.base))
        .body(sample(CREATE))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), ACK_OK);
    server
        .hub
        .read(|store| assert!(store.room_by_id("live_9001").is_some()));
}

#[tokio::test]
async fn refusals_carry_allow_and_keys_in_tencent_order() {
    let server = start_server(Some(APP), None, 1 << 20).await;
    let response = reqwest::Client::new()
        .put(format!("{}/callback?SdkAppid={APP}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with(r#"{"ActionStatus":"FAIL","ErrorInfo":"method PUT"#),
        "{body}"
    );
    assert!(body.ends_with(r#","ErrorCode":40501}"#), "{body}");
}

#[tokio::test]
async fn a_body_cut_short_is_refused_and_never_applied() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start_server(Some(APP), None, 1 << 20).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A valid JSON prefix, then the connection's write side closes before Content-Length.
    let prefix = r#"{"CallbackCommand":"Live.CallbackAfterDestroyRoom","RoomId":"cut"}"#;
    let request = format!(
        "POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{prefix}",
        prefix.len() + 100
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logged = server.hub.read(roomwatch::store::RoomStore::last_seq);
        if logged == 1 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.hub.read(|store| {
        let entry = store.log().back().expect("the cut-short request is logged");
        assert_eq!(entry.event.verdict, Verdict::Rejected);
        assert_eq!(entry.event.error.as_ref().unwrap().code(), 40005);
        assert!(
            store.rooms().is_empty(),
            "a partial body never reaches state"
        );
    });
}
