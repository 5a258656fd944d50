//! `roomwatch send`, the real binary, against a recording HTTP server on loopback and against
//! roomwatch's own receiver.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use roomwatch::event::Verdict;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::{AuthConfig, AuthVerdict, sign};
use roomwatch::ingest::receiver::{self, ReceiverState, now_ms};
use roomwatch::protocol::ACK_OK;
use roomwatch::protocol::samples;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: String,
}

struct Recorder {
    seen: Mutex<Vec<Recorded>>,
    status: StatusCode,
    answer: &'static str,
}

async fn record(
    State(rec): State<Arc<Recorder>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let query = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    rec.seen.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        query,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    });
    (rec.status, rec.answer.to_string())
}

/// A server that records every request and answers `status` with `answer`.
async fn recorder(status: StatusCode, answer: &'static str) -> (String, Arc<Recorder>) {
    let rec = Arc::new(Recorder {
        seen: Mutex::new(Vec::new()),
        status,
        answer,
    });
    let app = Router::new().fallback(record).with_state(Arc::clone(&rec));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hooks/live"), rec)
}

async fn roomwatch(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args(args)
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sample(command: &str) -> Value {
    serde_json::from_str(samples::find(command).unwrap().json).unwrap()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("roomwatch-send-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn posts_exactly_what_tencent_would_with_a_valid_signature() {
    let (url, rec) = recorder(StatusCode::OK, ACK_OK).await;
    let before = now_ms();
    let out = roomwatch(&[
        "send",
        "Live.CallbackAfterCreateRoom",
        "--to",
        &url,
        "--sdkappid",
        "1400000099",
        "--token",
        "t0ken",
        "--client-ip",
        "203.0.113.9",
        "--platform",
        "Android",
        "--set",
        "RoomInfo.RoomName=深夜电台",
        "--set",
        "RoomInfo.MaxSeatCount=6",
    ])
    .await;
    let after = now_ms();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("200 OK\n"), "{stdout}");
    assert!(stdout.contains(ACK_OK), "{stdout}");

    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/hooks/live");
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let names: Vec<&str> = request.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
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
    let get = |name: &str| {
        request
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(get("SdkAppid"), "1400000099");
    assert_eq!(get("CallbackCommand"), "Live.CallbackAfterCreateRoom");
    assert_eq!(get("contenttype"), "json");
    assert_eq!(get("ClientIP"), "203.0.113.9");
    assert_eq!(get("OptPlatform"), "Android");
    let request_time: i64 = get("RequestTime").parse().unwrap();
    assert!((before / 1000..=after / 1000).contains(&request_time));
    assert_eq!(get("Sign"), sign("t0ken", get("RequestTime")));

    // The sample, with a fresh EventTime and the --set fields.
    let body: Value = serde_json::from_str(&request.body).unwrap();
    let event_time = body["EventTime"].as_i64().unwrap();
    assert!((before..=after).contains(&event_time));
    let mut expected = sample("Live.CallbackAfterCreateRoom");
    expected["EventTime"] = json!(event_time);
    expected["RoomInfo"]["RoomName"] = json!("深夜电台");
    expected["RoomInfo"]["MaxSeatCount"] = json!(6);
    assert_eq!(body, expected);
}

#[tokio::test]
async fn without_a_token_there_is_no_signature_and_keep_time_keeps_the_sample() {
    let (url, rec) = recorder(StatusCode::OK, ACK_OK).await;
    let out = roomwatch(&[
        "send",
        "mic.callbackafterseatinfochanged",
        "--to",
        &url,
        "--keep-time",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = rec.seen.lock().unwrap().clone();
    let request = &seen[0];
    assert_eq!(
        request.query,
        [
            ("SdkAppid", "1400000001"),
            ("CallbackCommand", "Mic.CallbackAfterSeatInfoChanged"),
            ("contenttype", "json"),
            ("ClientIP", "127.0.0.1"),
            ("OptPlatform", "RESTAPI"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body, sample("Mic.CallbackAfterSeatInfoChanged"));
}

#[tokio::test]
async fn a_json_file_is_sent_with_its_own_command() {
    let (url, rec) = recorder(StatusCode::OK, ACK_OK).await;
    let file = temp_file(
        "admin.json",
        r#"{"CallbackCommand":"Live.CallbackAfterModifyAdmin","RoomId":"live_1","Admin_Account":["ana"],"opType":"add","EventTime":1}"#,
    );
    let out = roomwatch(&[
        "send",
        file.to_str().unwrap(),
        "--to",
        &url,
        "--set",
        "RoomId=live_2",
    ])
    .await;
    std::fs::remove_file(&file).ok();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = rec.seen.lock().unwrap().clone();
    let request = &seen[0];
    assert!(request.query.contains(&(
        "CallbackCommand".into(),
        "Live.CallbackAfterModifyAdmin".into()
    )));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["RoomId"], "live_2");
    assert!(body["EventTime"].as_i64().unwrap() > 1);
}

#[tokio::test]
async fn the_real_receiver_accepts_it() {
    let hub = Arc::new(Hub::new(100, 16));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappids: vec!["1400000001".into()],
            token: Some("t0ken".into()),
            window_s: 60,
        },
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(receiver::serve(listener, state, std::future::pending()));
    let url = format!("http://{addr}/callback");
    let out = roomwatch(&[
        "send",
        "Live.CallbackAfterMemberStateChanged",
        "--to",
        &url,
        "--token",
        "t0ken",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("200 OK\n{ACK_OK}\n"));
    let log: Vec<_> = hub.read(|store| store.log().iter().cloned().collect());
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event.verdict, Verdict::Accepted);
    assert_eq!(log[0].event.auth, Some(AuthVerdict::Signed));

    // A wrong token is refused by the receiver: non-2xx, so a non-zero exit.
    let out = roomwatch(&[
        "send",
        "Live.CallbackAfterMemberStateChanged",
        "--to",
        &url,
        "--token",
        "nope",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).starts_with("401 Unauthorized\n"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn list_shows_every_sample() {
    let out = roomwatch(&["send", "--list"]).await;
    assert!(out.status.success());
    let listed: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    let expected: Vec<String> = samples::SAMPLES
        .iter()
        .map(|s| s.command.to_string())
        .collect();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn bad_input_fails_with_a_clear_message() {
    let (url, rec) = recorder(StatusCode::OK, ACK_OK).await;

    let out = roomwatch(&["send", "Live.CallbackAfterNothing", "--to", &url]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown callback command") && stderr.contains("--list"),
        "{stderr}"
    );

    let out = roomwatch(&["send", "CreateBattle", "--to", &url]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("did you mean Live.CallbackAfterCreateBattle?"),
        "{}",
        text(&out.stderr)
    );

    let file = temp_file("broken.json", "{\"CallbackCommand\": ");
    let out = roomwatch(&["send", file.to_str().unwrap(), "--to", &url]).await;
    std::fs::remove_file(&file).ok();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not JSON"),
        "{}",
        text(&out.stderr)
    );

    let out = roomwatch(&["send", "/no/such/file.json", "--to", &url]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot read /no/such/file.json"),
        "{}",
        text(&out.stderr)
    );

    let out = roomwatch(&[
        "send",
        "Live.CallbackAfterCreateRoom",
        "--to",
        &url,
        "--set",
        "RoomName",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad --set"),
        "{}",
        text(&out.stderr)
    );

    let out = roomwatch(&[
        "send",
        "Live.CallbackAfterCreateRoom",
        "--to",
        "ftp://example.com/",
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad --to"),
        "{}",
        text(&out.stderr)
    );

    // None of those reached the server.
    assert!(rec.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_url_fails() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/callback");
    let out = roomwatch(&["send", "Live.CallbackAfterCreateRoom", "--to", &url]).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
}

#[tokio::test]
async fn a_non_2xx_answer_fails() {
    let (url, rec) = recorder(
        StatusCode::INTERNAL_SERVER_ERROR,
        "{\"ActionStatus\":\"FAIL\"}",
    )
    .await;
    let out = roomwatch(&["send", "Live.CallbackBeforeSendGift", "--to", &url]).await;
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stdout),
        "500 Internal Server Error\n{\"ActionStatus\":\"FAIL\"}\n"
    );
    assert!(
        text(&out.stderr).contains("answered 500"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(rec.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_body_can_come_from_stdin() {
    use tokio::io::AsyncWriteExt;
    let (url, rec) = recorder(StatusCode::OK, ACK_OK).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args(["send", "-", "--to", &url, "--keep-time"])
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let body = r#"{"CallbackCommand":"Live.CallbackAfterDelMetadata","RoomId":"live_1","Keys":["theme"],"EventTime":5}"#;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        serde_json::from_str::<Value>(body).unwrap()
    );
}
