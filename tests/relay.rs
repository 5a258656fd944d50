//! The relay in front of a real backend: an axum server on loopback inside each test that
//! records exactly what it received and answers as told. Real HTTP both ways, no mocks.
#![allow(clippy::unwrap_used)]

mod common;
mod ui_common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roomwatch::ingest::auth::{self, AuthConfig, AuthVerdict};
use roomwatch::ingest::query::QueryParams;
use roomwatch::relay::outcome::RelayState;
use roomwatch::relay::{Relay, RelayConfig, RelayRecord};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use common::{TestServer, sample, start_server_with};

const SDKAPPID: &str = "1400000001";
const TOKEN: &str = "relay-test-token";

/// One request as the backend saw it.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    query: String,
    content_type: Option<String>,
    body: Bytes,
    authorization: Option<String>,
    /// `Accept` and `User-Agent`: the same whichever HTTP client relayed.
    accept: Option<String>,
    user_agent: Option<String>,
    /// The HTTP version the request came in.
    version: String,
}

/// How the backend answers.
#[derive(Clone)]
enum Behave {
    /// 200 with Tencent's ack.
    Ack,
    /// This status and body, with `Content-Type: application/json`.
    Answer(u16, &'static str),
    /// A 200 with this many bytes of JSON-looking filler.
    Huge(usize),
    /// Never answers until released.
    Hang,
    /// A random short pause, then the ack (shakes up interleavings).
    Jitter,
}

struct BackendState {
    got: Mutex<Vec<Got>>,
    behave: Mutex<Behave>,
    release: Notify,
}

struct Backend {
    addr: SocketAddr,
    state: Arc<BackendState>,
}

impl Backend {
    async fn start(behave: Behave) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, behave)
    }

    fn on(listener: TcpListener, behave: Behave) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(BackendState {
            got: Mutex::new(Vec::new()),
            behave: Mutex::new(behave),
            release: Notify::new(),
        });
        let app = Router::new()
            .fallback(backend_handler)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    /// The backend over TLS with the certificate in `dir` (see `common::private_ca`),
    /// offering HTTP/2 and HTTP/1.1 by ALPN.
    async fn start_tls(behave: Behave, dir: &std::path::Path) -> Self {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.join("server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(BackendState {
            got: Mutex::new(Vec::new()),
            behave: Mutex::new(behave),
            release: Notify::new(),
        });
        let app = Router::new()
            .fallback(backend_handler)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to serve.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Self { addr, state }
    }

    fn url(&self, path_and_query: &str) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}{path_and_query}", self.addr)).unwrap()
    }

    fn got(&self) -> Vec<Got> {
        self.state.got.lock().unwrap().clone()
    }

    fn set(&self, behave: Behave) {
        *self.state.behave.lock().unwrap() = behave;
        self.state.release.notify_waiters();
    }
}

async fn backend_handler(State(state): State<Arc<BackendState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    state.got.lock().unwrap().push(Got {
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        content_type: content_type(&parts.headers),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        accept: header_text(&parts.headers, header::ACCEPT),
        user_agent: header_text(&parts.headers, header::USER_AGENT),
        version: format!("{:?}", parts.version),
        body,
    });
    loop {
        let behave = state.behave.lock().unwrap().clone();
        let json = [(header::CONTENT_TYPE, "application/json")];
        return match behave {
            Behave::Ack => (json, roomwatch::protocol::ACK_OK).into_response(),
            Behave::Answer(status, body) => {
                (StatusCode::from_u16(status).unwrap(), json, body).into_response()
            }
            Behave::Huge(len) => (json, format!("\"{}\"", "x".repeat(len))).into_response(),
            Behave::Jitter => {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..5))).await;
                (json, roomwatch::protocol::ACK_OK).into_response()
            }
            Behave::Hang => {
                state.release.notified().await;
                continue;
            }
        };
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn config(target: reqwest::Url) -> RelayConfig {
    let mut config = RelayConfig::new(target);
    config.backoff_max = Duration::from_millis(100);
    config.before_timeout = Duration::from_millis(400);
    config.attempt_timeout = Duration::from_secs(2);
    config
}

async fn roomwatch(config: RelayConfig, token: Option<&str>) -> (TestServer, Arc<Relay>) {
    let relay = Relay::new(config).unwrap();
    let server = start_server_with(Some(SDKAPPID), token, 1 << 20, Some(Arc::clone(&relay))).await;
    (server, relay)
}

fn now_s() -> i64 {
    roomwatch::ingest::receiver::now_ms() / 1000
}

/// Tencent's query for `command`, signed with `TOKEN` at `request_time`.
fn tencent_query(command: &str, request_time: i64) -> String {
    let time = request_time.to_string();
    format!(
        "SdkAppid={SDKAPPID}&CallbackCommand={command}&contenttype=json&ClientIP=10.0.0.7&OptPlatform=Android&Sign={}&RequestTime={time}",
        auth::sign(TOKEN, &time)
    )
}

fn unsigned_query(command: &str) -> String {
    format!(
        "SdkAppid={SDKAPPID}&CallbackCommand={command}&contenttype=json&ClientIP=10.0.0.7&OptPlatform=iOS"
    )
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let response = client
        .post(format!("{base}/tencent/cb?{query}"))
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_string());
    let content_type = content_type(response.headers());
    Answer {
        status,
        retry_after,
        content_type,
        body: response.bytes().await.unwrap(),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Waits (with a deadline) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn record(relay: &Relay, seq: u64) -> RelayRecord {
    relay
        .record(seq)
        .unwrap_or_else(|| panic!("no relay record for seq {seq}"))
}

fn after_body(room: &str, n: usize) -> String {
    // Odd spacing and key order on purpose: the backend must get these exact bytes.
    format!(
        "{{ \"CallbackCommand\":\"Live.CallbackAfterUpdateRoomInfo\",\"RoomInfo\":{{\"RoomId\":\"{room}\",\"RoomName\":\"n{n} ✓\"}},  \"EventTime\":{} }}",
        1_735_692_000_000u64 + n as u64
    )
}

#[tokio::test]
async fn path_query_content_type_and_body_arrive_byte_for_byte() {
    let backend = Backend::start(Behave::Ack).await;
    let (server, relay) = roomwatch(
        config(backend.url("/live/hook?app=prod&x=%2F")),
        Some(TOKEN),
    )
    .await;
    let query = tencent_query("Live.CallbackAfterUpdateRoomInfo", now_s());
    let body = after_body("live_1", 1);
    let answer = post(&client(), &server.base, &query, body.clone()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, roomwatch::protocol::ACK_OK);
    wait_until("delivery", || !backend.got().is_empty()).await;
    let got = &backend.got()[0];
    assert_eq!(got.path, "/live/hook");
    assert_eq!(got.query, format!("app=prod&x=%2F&{query}"));
    assert_eq!(got.body, body.as_bytes());
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(got.accept.as_deref(), Some("*/*"));
    assert!(
        got.user_agent
            .as_deref()
            .is_some_and(|agent| agent.starts_with("roomwatch/")),
        "{got:?}"
    );
    wait_until("delivered", || record(&relay, 1).state.is_final()).await;
    let record = record(&relay, 1);
    assert!(
        matches!(record.state, RelayState::Delivered { status: 200, .. }),
        "{record:?}"
    );
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.answer.as_deref(), Some(roomwatch::protocol::ACK_OK));
}

/// An https backend whose certificate a private CA signed: trusted with that CA (as
/// `--forward-ca` gives it), the callback arrives byte for byte over HTTP/2; without it,
/// nothing is sent and the outcome names the certificate.
#[tokio::test]
async fn an_https_backend_with_a_private_ca_gets_every_byte_over_h2() {
    let dir = tempfile::tempdir().unwrap();
    common::private_ca(dir.path());
    let backend = Backend::start_tls(Behave::Ack, dir.path()).await;
    let target =
        reqwest::Url::parse(&format!("https://{}/live/hook?app=prod", backend.addr)).unwrap();
    let ca =
        roomwatch::relay::config::parse_forward_ca(dir.path().join("ca.pem").to_str().unwrap())
            .unwrap();
    let mut trusted = config(target.clone());
    trusted.extra_roots = ca.certificates;
    let (server, relay) = roomwatch(trusted, Some(TOKEN)).await;
    let query = tencent_query("Live.CallbackAfterUpdateRoomInfo", now_s());
    let body = after_body("live_1", 1);
    assert_eq!(
        post(&client(), &server.base, &query, body.clone())
            .await
            .status,
        200
    );
    wait_until("delivered", || record(&relay, 1).state.is_final()).await;
    let record_1 = record(&relay, 1);
    assert!(
        matches!(record_1.state, RelayState::Delivered { status: 200, .. }),
        "{record_1:?}"
    );
    let got = &backend.got()[0];
    assert_eq!(got.version, "HTTP/2.0");
    assert_eq!(got.path, "/live/hook");
    assert_eq!(got.query, format!("app=prod&{query}"));
    assert_eq!(got.body, body.as_bytes());

    let (server, relay) = roomwatch(config(target), Some(TOKEN)).await;
    let query = tencent_query("Live.CallbackAfterUpdateRoomInfo", now_s());
    assert_eq!(
        post(&client(), &server.base, &query, body).await.status,
        200
    );
    wait_until("an attempt", || !record(&relay, 1).attempts.is_empty()).await;
    let record_1 = record(&relay, 1);
    let reasons = format!("{record_1:?}");
    assert!(reasons.to_lowercase().contains("certificate"), "{reasons}");
    assert_eq!(backend.got().len(), 1, "nothing sent without the CA");
}

#[tokio::test]
async fn credentials_in_the_forward_url_go_as_basic_auth() {
    let backend = Backend::start(Behave::Ack).await;
    let target =
        reqwest::Url::parse(&format!("http://hook:s3cret@{}/live/hook", backend.addr)).unwrap();
    let (server, relay) = roomwatch(config(target), Some(TOKEN)).await;
    let query = tencent_query("Live.CallbackAfterUpdateRoomInfo", now_s());
    assert_eq!(
        post(&client(), &server.base, &query, after_body("live_1", 1))
            .await
            .status,
        200
    );
    wait_until("delivered", || record(&relay, 1).state.is_final()).await;
    let got = &backend.got()[0];
    // base64("hook:s3cret")
    assert_eq!(got.authorization.as_deref(), Some("Basic aG9vazpzM2NyZXQ="));
    assert_eq!(got.path, "/live/hook");
    // This target goes through the other HTTP client: the backend sees the same headers.
    assert_eq!(got.accept.as_deref(), Some("*/*"));
    assert!(
        got.user_agent
            .as_deref()
            .is_some_and(|agent| agent.starts_with("roomwatch/")),
        "{got:?}"
    );
}

#[tokio::test]
async fn rejected_callbacks_are_not_relayed_and_unrecognized_ones_are() {
    let backend = Backend::start(Behave::Ack).await;
    let (server, relay) = roomwatch(config(backend.url("/hook")), Some(TOKEN)).await;
    let client = client();
    let bad_sign =
        tencent_query("Live.CallbackAfterCreateRoom", now_s()).replace("Sign=", "Sign=00");
    let refused = post(
        &client,
        &server.base,
        &bad_sign,
        sample("Live.CallbackAfterCreateRoom"),
    )
    .await;
    assert_eq!(refused.status, 401);
    let trtc = format!(
        "SdkAppid={SDKAPPID}&Sign={}&RequestTime={}",
        auth::sign(TOKEN, &now_s().to_string()),
        now_s()
    );
    let unrecognized = post(
        &client,
        &server.base,
        &trtc,
        r#"{"EventGroupId":1,"EventType":103}"#,
    )
    .await;
    assert_eq!(unrecognized.status, 200);
    wait_until("the unrecognized callback", || {
        record(&relay, 2).state.is_final()
    })
    .await;
    let got = backend.got();
    assert_eq!(got.len(), 1, "only the unrecognized callback: {got:?}");
    assert_eq!(
        got[0].body,
        r#"{"EventGroupId":1,"EventType":103}"#.as_bytes()
    );
    assert!(
        relay.record(1).is_none(),
        "a rejected callback has no relay record"
    );
}

#[tokio::test]
async fn each_room_is_delivered_in_arrival_order_under_concurrency() {
    let backend = Backend::start(Behave::Jitter).await;
    let (server, relay) = roomwatch(config(backend.url("/hook")), None).await;
    let rooms = 8;
    let per_room = 40;
    let mut senders = Vec::new();
    for r in 0..rooms {
        let base = server.base.clone();
        senders.push(tokio::spawn(async move {
            let client = client();
            for n in 0..per_room {
                let answer = post(
                    &client,
                    &base,
                    &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
                    after_body(&format!("room_{r}"), n),
                )
                .await;
                assert_eq!(answer.status, 200);
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let total = rooms * per_room;
    wait_until("every delivery", || backend.got().len() >= total).await;
    wait_until("an empty backlog", || relay.status().backlog == 0).await;
    let got = backend.got();
    assert_eq!(got.len(), total, "each callback exactly once");
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    for g in &got {
        let value: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
        let room = value["RoomInfo"]["RoomId"].as_str().unwrap().to_string();
        let name = value["RoomInfo"]["RoomName"].as_str().unwrap();
        let n: usize = name
            .trim_start_matches('n')
            .trim_end_matches(" ✓")
            .parse()
            .unwrap();
        seen.entry(room).or_default().push(n);
    }
    for (room, order) in &seen {
        assert_eq!(order, &(0..per_room).collect::<Vec<_>>(), "order in {room}");
    }
}

#[tokio::test]
async fn before_callback_answers_pass_through_exactly() {
    let deny =
        "{\"ActionStatus\":\"OK\", \"ErrorInfo\":\"insufficient balance\",\"ErrorCode\":102101}\n";
    let backend = Backend::start(Behave::Answer(200, deny)).await;
    let (server, relay) = roomwatch(config(backend.url("/hook")), Some(TOKEN)).await;
    let client = client();
    let gift = sample("Live.CallbackBeforeSendGift");
    let query = tencent_query("Live.CallbackBeforeSendGift", now_s());
    let answer = post(&client, &server.base, &query, gift.clone()).await;
    assert_eq!(
        (answer.status, answer.body.as_ref()),
        (200, deny.as_bytes())
    );
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        backend.got()[0].query,
        query,
        "Sign and RequestTime untouched"
    );
    assert_eq!(backend.got()[0].body, gift.as_bytes());

    let modify = r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}]}"#;
    backend.set(Behave::Answer(200, modify));
    let query = tencent_query("Group.CallbackBeforeSendMsg", now_s());
    let answer = post(
        &client,
        &server.base,
        &query,
        sample("Group.CallbackBeforeSendMsg"),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_ref()),
        (200, modify.as_bytes())
    );

    // A deliberate 4xx from the backend is its answer too.
    backend.set(Behave::Answer(403, r#"{"error":"bad sign"}"#));
    let answer = post(
        &client,
        &server.base,
        &query,
        sample("Group.CallbackBeforeSendMsg"),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_ref()),
        (403, br#"{"error":"bad sign"}"#.as_slice())
    );

    let recorded = record(&relay, 1);
    assert!(matches!(
        recorded.state,
        RelayState::Delivered { status: 200, .. }
    ));
    assert_eq!(recorded.answer.as_deref(), Some(deny));
    let logged = server.hub.read(|store| {
        store
            .log_after(0)
            .map(|e| e.event.reply.clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(logged[0].body, deny, "the log shows what Tencent got");
}

#[tokio::test]
async fn a_hanging_backend_gets_the_fallback_in_time_while_after_callbacks_are_acknowledged() {
    let backend = Backend::start(Behave::Hang).await;
    let (server, relay) = roomwatch(config(backend.url("/hook")), None).await;
    let client = client();
    let gift = {
        let (client, base) = (client.clone(), server.base.clone());
        tokio::spawn(async move {
            post(
                &client,
                &base,
                &unsigned_query("Live.CallbackBeforeSendGift"),
                sample("Live.CallbackBeforeSendGift"),
            )
            .await
        })
    };
    // While the gift waits on the backend, "after" callbacks are answered at once.
    for n in 0..50 {
        let answer = post(
            &client,
            &server.base,
            &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
            after_body("live_9", n),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, roomwatch::protocol::ACK_OK);
    }
    let gift = gift.await.unwrap();
    assert_eq!(gift.status, 200);
    let denied: serde_json::Value = serde_json::from_slice(&gift.body).unwrap();
    assert_eq!(denied["ErrorCode"], 102_100, "gift: deny by default");
    let msg = post(
        &client,
        &server.base,
        &unsigned_query("Group.CallbackBeforeSendMsg"),
        sample("Group.CallbackBeforeSendMsg"),
    )
    .await;
    assert_eq!(
        msg.body,
        roomwatch::protocol::ACK_OK,
        "message: allow by default"
    );
    let fallbacks: Vec<RelayRecord> = (1..=52)
        .filter_map(|seq| relay.record(seq))
        .filter(|r| matches!(r.state, RelayState::Fallback { .. }))
        .collect();
    assert_eq!(
        fallbacks.len(),
        2,
        "both before-callbacks record the fallback"
    );
    assert!(
        fallbacks
            .iter()
            .all(|r| r.attempts[0].result.contains("no answer within 400 ms"))
    );
    assert!(
        relay.status().backlog > 0,
        "after-callbacks wait for the backend"
    );
    backend.set(Behave::Ack);
    wait_until("the backlog to drain", || relay.status().backlog == 0).await;
}

#[tokio::test]
async fn the_fallback_policy_can_be_overridden_per_command() {
    let backend = Backend::start(Behave::Answer(500, "oops")).await;
    let mut config = config(backend.url("/hook"));
    config.fallback = roomwatch::relay::config::parse_fallback("gift=allow,msg=deny").unwrap();
    let (server, _relay) = roomwatch(config, None).await;
    let client = client();
    let gift = post(
        &client,
        &server.base,
        &unsigned_query("Live.CallbackBeforeSendGift"),
        sample("Live.CallbackBeforeSendGift"),
    )
    .await;
    assert_eq!(gift.body, roomwatch::protocol::ACK_OK);
    let msg = post(
        &client,
        &server.base,
        &unsigned_query("Group.CallbackBeforeSendMsg"),
        sample("Group.CallbackBeforeSendMsg"),
    )
    .await;
    let denied: serde_json::Value = serde_json::from_slice(&msg.body).unwrap();
    assert_eq!(denied["ErrorCode"], 1);
}

#[tokio::test]
async fn garbage_redirects_huge_answers_and_dead_backends_give_the_fallback() {
    for (behave, reason) in [
        (Behave::Answer(200, "<html>gateway</html>"), "not JSON"),
        (Behave::Answer(302, ""), "redirects are not followed"),
        (Behave::Answer(502, "{}"), "backend error"),
        (Behave::Huge(200_000), "larger than 64 KiB"),
    ] {
        let backend = Backend::start(behave).await;
        let (server, relay) = roomwatch(config(backend.url("/hook")), None).await;
        let answer = post(
            &client(),
            &server.base,
            &unsigned_query("Live.CallbackBeforeSendGift"),
            sample("Live.CallbackBeforeSendGift"),
        )
        .await;
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["ErrorCode"], 102_100);
        match record(&relay, 1).state {
            RelayState::Fallback {
                decision,
                reason: why,
            } => {
                assert_eq!(decision, "deny");
                assert!(why.contains(reason), "{why:?} should say {reason:?}");
            }
            other => panic!("expected a fallback, got {other:?}"),
        }
    }
    let dead = dead_port().await;
    let (server, relay) = roomwatch(
        config(reqwest::Url::parse(&format!("http://{dead}/hook")).unwrap()),
        None,
    )
    .await;
    let answer = post(
        &client(),
        &server.base,
        &unsigned_query("Live.CallbackBeforeSendGift"),
        sample("Live.CallbackBeforeSendGift"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(matches!(
        record(&relay, 1).state,
        RelayState::Fallback { .. }
    ));
}

#[tokio::test]
async fn after_callbacks_4xx_is_final_3xx_is_final_and_a_huge_2xx_is_delivered() {
    for (behave, expect_final_failure) in [
        (Behave::Answer(404, "no such hook"), true),
        (Behave::Answer(301, ""), true),
        (Behave::Huge(300_000), false),
    ] {
        let backend = Backend::start(behave).await;
        let (server, relay) = roomwatch(config(backend.url("/hook")), None).await;
        post(
            &client(),
            &server.base,
            &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
            after_body("r", 0),
        )
        .await;
        wait_until("a final outcome", || {
            relay.record(1).is_some_and(|r| r.state.is_final())
        })
        .await;
        let record = record(&relay, 1);
        assert_eq!(record.attempts.len(), 1, "never retried: {record:?}");
        assert_eq!(
            matches!(record.state, RelayState::Failed { .. }),
            expect_final_failure,
            "{record:?}"
        );
        assert_eq!(backend.got().len(), 1);
    }
}

/// A loopback port with nothing listening (bound, then let go).
async fn dead_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_dead_backend_that_comes_back_gets_every_pending_callback_in_order_once() {
    let addr = dead_port().await;
    let (server, relay) = roomwatch(
        config(reqwest::Url::parse(&format!("http://{addr}/hook")).unwrap()),
        None,
    )
    .await;
    let client = client();
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    for n in 0..60 {
        let room = format!("room_{}", n % 4);
        let body = after_body(&room, n);
        let answer = post(
            &client,
            &server.base,
            &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
            body.clone(),
        )
        .await;
        assert_eq!(answer.status, 200);
        sent.entry(room).or_default().push(body);
    }
    wait_until("retries", || record(&relay, 1).attempts.len() >= 2).await;
    assert!(matches!(
        record(&relay, 1).state,
        RelayState::Retrying { .. }
    ));
    assert!(matches!(
        relay.status().health,
        roomwatch::relay::outcome::Health::Failing { .. }
    ));
    assert!(
        matches!(record(&relay, 60).state, RelayState::Pending),
        "later callbacks wait their turn"
    );
    // healthz stays up while the backend is down.
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let backend = Backend::on(TcpListener::bind(addr).await.unwrap(), Behave::Ack);
    wait_until("every pending callback", || relay.status().backlog == 0).await;
    let got = backend.got();
    assert_eq!(got.len(), 60, "each exactly once");
    let mut received: HashMap<String, Vec<String>> = HashMap::new();
    for g in got {
        let body = String::from_utf8(g.body.to_vec()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        received
            .entry(value["RoomInfo"]["RoomId"].as_str().unwrap().to_string())
            .or_default()
            .push(body);
    }
    assert_eq!(received, sent);
    assert!(matches!(
        relay.status().health,
        roomwatch::relay::outcome::Health::Ok
    ));
    assert!((1..=60).all(|seq| matches!(
        record(&relay, seq).state,
        RelayState::Delivered { status: 200, .. }
    )));
}

#[tokio::test]
async fn a_full_backlog_refuses_new_after_callbacks_with_503_and_readyz_says_so() {
    let backend = Backend::start(Behave::Hang).await;
    let mut config = config(backend.url("/hook"));
    config.backlog_count = 3;
    let (server, relay) = roomwatch(config, None).await;
    let client = client();
    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    for n in 0..3 {
        let answer = post(
            &client,
            &server.base,
            &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
            after_body("r", n),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    let refused = post(
        &client,
        &server.base,
        &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
        after_body("r", 3),
    )
    .await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.retry_after.as_deref(), Some("5"));
    let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(body["ErrorCode"], 50301);
    assert!(matches!(
        record(&relay, 4).state,
        RelayState::Refused { .. }
    ));
    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = serde_json::from_slice(&ready.bytes().await.unwrap()).unwrap();
    assert_eq!(ready["relay"]["backlog"], 3);
    // "Before" callbacks do not queue: they still get an answer.
    let gift = post(
        &client,
        &server.base,
        &unsigned_query("Live.CallbackBeforeSendGift"),
        sample("Live.CallbackBeforeSendGift"),
    )
    .await;
    assert_eq!(gift.status, 200);
    // Every acknowledged one still arrives.
    backend.set(Behave::Ack);
    wait_until("the backlog to drain", || relay.status().backlog == 0).await;
    let delivered: Vec<Bytes> = backend
        .got()
        .into_iter()
        .map(|g| g.body)
        .filter(|b| b.starts_with(b"{ "))
        .collect();
    let expected: Vec<Bytes> = (0..3).map(|n| Bytes::from(after_body("r", n))).collect();
    assert_eq!(&delivered[delivered.len() - 3..], expected.as_slice());
    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// The backend's own check, as an app would write it: Sign over a RequestTime within 60 s.
fn backend_accepts(query: &str) -> bool {
    let config = AuthConfig {
        sdkappids: vec![SDKAPPID.into()],
        token: Some(TOKEN.into()),
        window_s: 60,
    };
    auth::verify(&config, &QueryParams::parse(Some(query)), now_s()) == Ok(AuthVerdict::Signed)
}

fn request_time(query: &str) -> i64 {
    QueryParams::parse(Some(query))
        .get("RequestTime")
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn copies_sent_late_are_resigned_with_a_fresh_request_time() {
    let backend = Backend::start(Behave::Ack).await;
    let mut config = config(backend.url("/hook"));
    config.token = Some(TOKEN.into());
    let (server, relay) = roomwatch(config, Some(TOKEN)).await;
    // Tencent signed this 55 s ago: still inside roomwatch's window, stale for a relay.
    let old = now_s() - 55;
    let query = tencent_query("Live.CallbackAfterUpdateRoomInfo", old);
    let answer = post(&client(), &server.base, &query, after_body("r", 0)).await;
    assert_eq!(answer.status, 200);
    wait_until("delivery", || !backend.got().is_empty()).await;
    let got = backend.got()[0].query.clone();
    assert!(
        request_time(&got) >= now_s() - 5,
        "fresh RequestTime in {got}"
    );
    assert!(
        backend_accepts(&got),
        "the backend's own check accepts {got}"
    );
    wait_until("delivered", || record(&relay, 1).state.is_final()).await;
    assert!(record(&relay, 1).attempts[0].resigned);

    // A resend (the dashboard's `r`) of a callback signed long ago is re-signed too.
    let event = server
        .hub
        .read(|store| store.log_after(0).next().unwrap().event.clone());
    let resent = relay.resend(&event, &backend.url("/resend"), None).await;
    assert!(matches!(
        resent.state,
        RelayState::Delivered { status: 200, .. }
    ));
    assert!(resent.attempts.last().unwrap().resend);
    let got = backend.got();
    let last = got.last().unwrap();
    assert_eq!(last.path, "/resend");
    assert!(
        backend_accepts(&last.query),
        "resend accepted: {}",
        last.query
    );
    assert_eq!(last.body, after_body("r", 0).as_bytes());
}

#[tokio::test]
async fn without_a_token_a_stale_copy_goes_as_recorded_with_a_note() {
    let backend = Backend::start(Behave::Ack).await;
    let (server, relay) = roomwatch(config(backend.url("/hook")), None).await;
    let query = format!(
        "{}&Sign=abc&RequestTime={}",
        unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
        now_s() - 120
    );
    post(&client(), &server.base, &query, after_body("r", 0)).await;
    wait_until("delivered", || {
        relay.record(1).is_some_and(|r| r.state.is_final())
    })
    .await;
    assert_eq!(backend.got()[0].query, query);
    let record = record(&relay, 1);
    assert!(
        record
            .note
            .as_deref()
            .is_some_and(|n| n.contains("may refuse it as stale")),
        "{record:?}"
    );
}

#[test]
fn an_invalid_forward_target_exits_2_with_the_reason() {
    for bad in ["ftp://example.com/hook", "not a url", "http://"] {
        let first_line = refused_at_start(&["--forward-to", bad]);
        assert!(first_line.contains("--forward-to"), "{bad}: {first_line}");
    }
}

/// Runs the binary headless with `args`, which must be refused at start: exit status 2. The
/// first line of stderr.
fn refused_at_start(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args(["--headless", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    stderr.lines().next().unwrap_or_default().to_string()
}

#[test]
fn an_unreadable_or_empty_forward_ca_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for bad in [&not_pem, &missing] {
        let first_line = refused_at_start(&[
            "--forward-to",
            "https://127.0.0.1:9/hook",
            "--forward-ca",
            bad.to_str().unwrap(),
        ]);
        assert!(first_line.contains("--forward-ca"), "{bad:?}: {first_line}");
    }
}

/// The binary with `--forward-ca`: an https backend signed by a private CA receives the
/// callback (the flag reaches the relay's client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_relays_to_an_https_backend_with_forward_ca() {
    let dir = tempfile::tempdir().unwrap();
    common::private_ca(dir.path());
    let backend = Backend::start_tls(Behave::Ack, dir.path()).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args(["--headless", "--listen", "127.0.0.1:0"])
        .args(["--forward-to", &format!("https://{}/hook", backend.addr)])
        .arg("--forward-ca")
        .arg(dir.path().join("ca.pem"))
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open to the end: roomwatch goes on writing to it.
    let (addr, _stderr, _) = common::read_listen_address(&mut child);
    let body = after_body("r", 0);
    let answer = post(
        &client(),
        &format!("http://{addr}"),
        &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, 200);
    wait_until("the backend's delivery", || !backend.got().is_empty()).await;
    let _ = child.kill();
    let _ = child.wait();
    let got = &backend.got()[0];
    assert_eq!(got.path, "/hook");
    assert_eq!(got.body, body.as_bytes());
    assert_eq!(got.version, "HTTP/2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_lines_carry_the_relay_outcome_and_later_outcomes_follow() {
    use std::io::BufRead;
    let backend = Backend::start(Behave::Answer(503, "busy")).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args([
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--relay-backoff-max",
            "100ms",
        ])
        .args(["--forward-to", backend.url("/hook").as_str()])
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open to the end: roomwatch goes on writing to it.
    let (addr, _stderr, _) = common::read_listen_address(&mut child);
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let base = format!("http://{addr}");
    let answer = post(
        &client(),
        &base,
        &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
        after_body("r", 0),
    )
    .await;
    assert_eq!(answer.status, 200);
    let next = async |lines: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>| {
        tokio::time::timeout(Duration::from_secs(15), lines.recv())
            .await
            .unwrap()
            .unwrap()
    };
    let first = next(&mut lines).await;
    assert_eq!(first["seq"], 1);
    let outcome = first["relay"]["outcome"].as_str().unwrap().to_string();
    assert!(
        ["pending", "retrying"].contains(&outcome.as_str()),
        "{first}"
    );
    assert_eq!(first["relay"]["mode"], "after");
    wait_until("a retry", || backend.got().len() >= 2).await;
    backend.set(Behave::Ack);
    loop {
        let line = next(&mut lines).await;
        assert_eq!(line["kind"], "relay", "{line}");
        assert_eq!(line["seq"], 1);
        if line["relay"]["outcome"] == "delivered" {
            assert_eq!(line["relay"]["status"], 200);
            assert!(line["relay"]["attempts"].as_u64().unwrap() >= 3);
            break;
        }
        assert_eq!(line["relay"]["outcome"], "retrying", "{line}");
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

fn screen(terminal: &ratatui::Terminal<ratatui::backend::TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[tokio::test]
async fn the_dashboard_shows_outcomes_and_the_target_and_r_resends() {
    use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
    use roomwatch::tui::app::{App, RelayFeed, run_with_relay};
    let backend = Backend::start(Behave::Ack).await;
    let (server, relay) = roomwatch(config(backend.url("/hook")), None).await;
    let bus = server.hub.subscribe();
    let mut app = App::new(
        ui_common::info(),
        server.hub.snapshot(),
        ui_common::NOW_MS,
        (160, 40),
    );
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 40)).unwrap();
    let (keys, input) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let feed = RelayFeed {
        updates: relay.subscribe(),
        relay: Arc::clone(&relay),
        resend_to: backend.url("/resend"),
        editor: None,
    };
    let press = |c: char| {
        Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    };
    let script = async {
        let client = client();
        post(
            &client,
            &server.base,
            &unsigned_query("Live.CallbackAfterUpdateRoomInfo"),
            after_body("live_7", 0),
        )
        .await;
        backend.set(Behave::Hang);
        post(
            &client,
            &server.base,
            &unsigned_query("Live.CallbackBeforeSendGift"),
            sample("Live.CallbackBeforeSendGift"),
        )
        .await;
        backend.set(Behave::Ack);
        wait_until("the fallback", || {
            relay.record(2).is_some_and(|r| r.state.is_final())
        })
        .await;
        // Let the loop take the updates and draw before the resend key.
        tokio::time::sleep(Duration::from_millis(200)).await;
        keys.send(press('r')).unwrap();
        wait_until("the resend", || {
            backend.got().iter().any(|g| g.path == "/resend")
        })
        .await;
        wait_until("the resend's record", || {
            record(&relay, 2).attempts.len() == 2
        })
        .await;
        keys.send(press('q')).unwrap();
    };
    let run = run_with_relay(
        &mut terminal,
        &mut app,
        tokio_stream::wrappers::UnboundedReceiverStream::new(input),
        bus,
        &server.hub,
        std::future::pending(),
        || ui_common::NOW_MS,
        Some(feed),
    );
    let (result, ()) =
        tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(run, script) })
            .await
            .expect("the loop ended");
    result.unwrap();
    let text = screen(&terminal);
    assert!(text.contains("→ 200"), "a delivered mark:\n{text}");
    assert!(
        text.contains(&format!("→ {}", "127.0.0.1")),
        "the target in the header:\n{text}"
    );
    let resent = record(&relay, 2);
    assert!(
        resent.attempts[1].resend,
        "r resent the newest line: {resent:?}"
    );
    assert_eq!(
        backend.got().last().unwrap().body,
        sample("Live.CallbackBeforeSendGift").as_bytes()
    );
}

/// What a journal does after a restart: hand back the callbacks still pending, which the relay
/// delivers in order even past its backlog bound.
#[tokio::test]
async fn requeued_callbacks_are_delivered_in_order_even_past_the_bound() {
    let backend = Backend::start(Behave::Ack).await;
    let mut config = config(backend.url("/hook"));
    config.backlog_count = 1;
    let relay = Relay::new(config).unwrap();
    let events: Vec<_> = (0..3)
        .map(|n| {
            let body: serde_json::Value = serde_json::from_str(&after_body("r", n)).unwrap();
            common::event(n as u64 + 1, roomwatch::ingest::receiver::now_ms(), &body)
        })
        .collect();
    relay.requeue(events.iter().cloned());
    wait_until("the requeued callbacks", || backend.got().len() == 3).await;
    let got: Vec<Bytes> = backend.got().into_iter().map(|g| g.body).collect();
    let sent: Vec<Bytes> = events.iter().map(|e| e.raw_body.clone()).collect();
    assert_eq!(got, sent);
    wait_until("an empty backlog", || relay.status().backlog == 0).await;
}
