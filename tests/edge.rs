//! The network edge over real TCP: slow and idle clients are cut off by their timeouts, the
//! connection cap keeps the health check answering, shutdown has a deadline, oversize
//! `Expect: 100-continue` requests are refused unread, and `--allow-from` / `--trusted-proxy`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use roomwatch::event::Verdict;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};
use roomwatch::ingest::server::ServerLimits;
use roomwatch::ingest::source::SourcePolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

const APP: &str = "1400000001";
/// The bound on any wait in these tests; every timeout configured below is far shorter.
const PATIENCE: Duration = Duration::from_secs(20);

struct Edge {
    addr: String,
    hub: Arc<Hub>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Sends `GET /healthz` on a kept-alive connection.
async fn ask_healthz(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
}

fn limits() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 64,
        overflow_connections: 64,
        max_head: 400 * 1024,
        shutdown_grace: Duration::from_secs(5),
        sources: SourcePolicy::default(),
    }
}

async fn start(limits: ServerLimits, body_limit: usize) -> Edge {
    let hub = Arc::new(Hub::new(1000, 1024));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappids: vec![APP.into()],
            token: None,
            window_s: 60,
        },
        body_limit,
        relay: None,
        stream: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(receiver::serve_with(listener, state, limits, async move {
        let _ = stopped.await;
    }));
    Edge {
        addr,
        hub,
        stop: Some(stop),
        server,
    }
}

/// Reads until the server closes the connection (EOF or reset); returns what arrived.
/// Panics if the connection is still open after [`PATIENCE`].
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let result = timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "the server kept the connection open; it sent {:?}",
        String::from_utf8_lossy(&seen)
    );
    String::from_utf8_lossy(&seen).into_owned()
}

/// Writes `bytes` one at a time, pausing between them, until the server closes the
/// connection; returns what the server sent. Panics if it never does within [`PATIENCE`].
async fn dribble_until_closed(stream: TcpStream, bytes: &[u8], pause: Duration) -> String {
    let (mut read, mut write) = stream.into_split();
    let bytes = bytes.to_vec();
    let writer = tokio::spawn(async move {
        for byte in bytes.iter().cycle() {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    });
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = timeout(PATIENCE, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    assert!(
        closed.is_ok(),
        "a client sending 1 byte per {pause:?} kept its connection past every timeout"
    );
    String::from_utf8_lossy(&seen).into_owned()
}

/// Waits until the hub has logged `n` events.
async fn logged(hub: &Hub, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    while hub.read(roomwatch::store::RoomStore::last_seq) < n {
        assert!(Instant::now() < deadline, "fewer than {n} events logged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn status_of(answer: &str) -> Option<u16> {
    answer.split(' ').nth(1)?.parse().ok()
}

#[tokio::test]
async fn slowloris_headers_are_cut_at_the_header_timeout() {
    let edge = start(
        ServerLimits {
            header_timeout: Duration::from_millis(400),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    stream
        .write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Headers that never end: one byte every 50 ms.
    let answer = dribble_until_closed(stream, b"X-Slow: aaaa\r\n", Duration::from_millis(50)).await;
    assert!(answer.is_empty(), "{answer}");
    // A connection that never sends a byte is held no longer.
    let mut silent = TcpStream::connect(&edge.addr).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_empty());
}

#[tokio::test]
async fn a_slow_head_after_a_kept_alive_answer_is_cut_at_the_header_timeout() {
    // The idle timeout (30 s) is longer than the test's patience: only the header timeout,
    // counted from the next head's first byte, can close this connection in time.
    let edge = start(
        ServerLimits {
            header_timeout: Duration::from_millis(400),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    ask_healthz(&mut stream).await;
    let answer = read_one_response(&mut stream).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    // Idle past one header timeout, then a head that never ends.
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream
        .write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = dribble_until_closed(stream, b"X-Slow: aaaa\r\n", Duration::from_millis(50)).await;
    assert!(answer.is_empty(), "{answer}");
}

/// Reads one response with a `content-length`, leaving the connection open.
async fn read_one_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    timeout(PATIENCE, async {
        loop {
            let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .split("content-length: ")
                    .nth(1)
                    .and_then(|rest| rest.split("\r\n").next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                if seen.len() >= head_end + 4 + length {
                    return;
                }
            }
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed early");
            seen.push(byte[0]);
        }
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_kept_alive_connection_waits_for_the_idle_timeout_not_the_header_timeout() {
    let edge = start(
        ServerLimits {
            header_timeout: Duration::from_millis(200),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    for _ in 0..2 {
        ask_healthz(&mut stream).await;
        let answer = read_one_response(&mut stream).await;
        assert_eq!(status_of(&answer), Some(200), "{answer}");
        // Idle well past the header timeout: the connection stays usable.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
}

#[tokio::test]
async fn a_body_at_one_byte_per_interval_is_refused_at_the_body_timeout() {
    let edge = start(
        ServerLimits {
            body_timeout: Duration::from_millis(500),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = dribble_until_closed(stream, b" ", Duration::from_millis(50)).await;
    assert_eq!(status_of(&answer), Some(400), "{answer}");
    assert!(answer.contains("40005"), "{answer}");
    assert!(answer.contains("body not received within"), "{answer}");
    logged(&edge.hub, 1).await;
    edge.hub.read(|store| {
        let event = &store.log().back().unwrap().event;
        assert_eq!(event.verdict, Verdict::Rejected);
        assert_eq!(event.error.as_ref().unwrap().code(), 40005);
    });
}

#[tokio::test]
async fn a_never_ending_chunked_body_is_refused_at_the_body_timeout() {
    let edge = start(
        ServerLimits {
            body_timeout: Duration::from_millis(500),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // One small chunk after another, never the final zero-length chunk.
    let answer = dribble_until_closed(stream, b"1\r\n \r\n", Duration::from_millis(10)).await;
    assert_eq!(status_of(&answer), Some(400), "{answer}");
    assert!(answer.contains("40005"), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let edge = start(
        ServerLimits {
            idle_timeout: Duration::from_millis(400),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    ask_healthz(&mut stream).await;
    // The answer arrives, then the kept-alive connection sits idle until the server closes it.
    let answer = read_until_closed(&mut stream).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
}

#[tokio::test]
async fn at_the_connection_cap_health_checks_pass_and_callbacks_get_503() {
    let edge = start(
        ServerLimits {
            max_connections: 2,
            ..limits()
        },
        1 << 20,
    )
    .await;
    // Two connections that say nothing hold the cap.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(&edge.addr).await.unwrap());
    }
    // Make sure both were accepted before the next one: a request on a fresh connection
    // answered 503 proves the cap is full.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut probe = TcpStream::connect(&edge.addr).await.unwrap();
        probe
            .write_all(
                format!("POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let answer = read_until_closed(&mut probe).await;
        if status_of(&answer) == Some(503) {
            assert!(answer.contains("retry-after: 1"), "{answer}");
            assert!(answer.contains("connection: close"), "{answer}");
            assert!(answer.contains("\"ErrorCode\":50301"), "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "the cap never filled: {answer}");
    }
    let mut health = TcpStream::connect(&edge.addr).await.unwrap();
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut health).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    // Once a held connection goes, callbacks are served again.
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = reqwest::Client::new()
            .post(format!(
                "http://{}/callback?SdkAppid={APP}&CallbackCommand=Live.CallbackAfterCreateRoom",
                edge.addr
            ))
            .body(r#"{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomId":"r1"}"#)
            .send()
            .await
            .unwrap();
        if answer.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "callbacks never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_oversize_expect_continue_request_gets_413_at_once_and_no_100() {
    let edge = start(limits(), 1024).await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // No body is ever sent: the answer must come anyway, and the connection close after it.
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("41301"), "{answer}");
    logged(&edge.hub, 1).await;
}

#[tokio::test]
async fn shutdown_cuts_a_half_sent_request_after_the_grace() {
    let mut edge = start(
        ServerLimits {
            shutdown_grace: Duration::from_millis(300),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Let the request reach the handler before the stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    edge.stop.take().unwrap().send(()).unwrap();
    let ended = timeout(PATIENCE, &mut edge.server).await;
    assert!(
        ended.is_ok(),
        "serve did not return while a client held a request"
    );
    assert!(ended.unwrap().unwrap().is_ok());
    read_until_closed(&mut stream).await;
    // The listener is gone too.
    assert!(TcpStream::connect(&edge.addr).await.is_err());
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish_within_the_grace() {
    let mut edge = start(limits(), 1 << 20).await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    let body = r#"{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomId":"r1"}"#;
    stream
        .write_all(
            format!(
                "POST /callback?SdkAppid={APP} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    edge.stop.take().unwrap().send(()).unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    assert!(timeout(PATIENCE, &mut edge.server).await.is_ok());
}

async fn post_from(addr: &str, forwarded_for: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!(
            "http://{addr}/callback?SdkAppid={APP}&CallbackCommand=Live.CallbackAfterCreateRoom"
        ))
        .body(r#"{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomId":"r1"}"#);
    if let Some(hop) = forwarded_for {
        request = request.header("X-Forwarded-For", hop);
    }
    let answer = request.send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn allow_from_refuses_other_sources_and_spoofed_forwarding_is_ignored() {
    let edge = start(
        ServerLimits {
            sources: SourcePolicy {
                allow_from: "192.0.2.0/24".parse().unwrap(),
                trusted_proxies: "".parse().unwrap(),
            },
            ..limits()
        },
        1 << 20,
    )
    .await;
    let (status, body) = post_from(&edge.addr, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"ErrorCode\":40303"), "{body}");
    // The peer is not a trusted proxy: its X-Forwarded-For naming an allowed address is ignored.
    let (status, body) = post_from(&edge.addr, Some("192.0.2.5")).await;
    assert_eq!(status, 403, "{body}");
    // The health check answers everyone.
    let health = reqwest::get(format!("http://{}/healthz", edge.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    logged(&edge.hub, 2).await;
    edge.hub.read(|store| {
        assert!(
            store.rooms().is_empty(),
            "refused sources never reach state"
        );
        let event = &store.log().back().unwrap().event;
        assert_eq!(event.verdict, Verdict::Rejected);
        assert_eq!(event.error.as_ref().unwrap().code(), 40303);
        assert!(event.remote.as_deref().unwrap().starts_with("127.0.0.1:"));
    });
}

#[tokio::test]
async fn a_trusted_proxy_names_the_source() {
    let edge = start(
        ServerLimits {
            sources: SourcePolicy {
                allow_from: "192.0.2.0/24".parse().unwrap(),
                trusted_proxies: "127.0.0.1".parse().unwrap(),
            },
            ..limits()
        },
        1 << 20,
    )
    .await;
    let (status, body) = post_from(&edge.addr, Some("192.0.2.5")).await;
    assert_eq!(status, 200, "{body}");
    // The client put an allowed address first; the proxy appended the real one.
    let (status, body) = post_from(&edge.addr, Some("192.0.2.5, 198.51.100.7")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("198.51.100.7"), "{body}");
    logged(&edge.hub, 2).await;
    edge.hub.read(|store| {
        let first = &store.log().front().unwrap().event;
        assert_eq!(first.verdict, Verdict::Accepted);
        assert!(
            first
                .remote
                .as_deref()
                .unwrap()
                .starts_with("192.0.2.5 via 127.0.0.1:")
        );
    });
}

#[tokio::test]
async fn past_the_overflow_slots_new_connections_are_closed_at_once() {
    const OVERFLOW_CONNECTIONS: usize = 3;
    let edge = start(
        ServerLimits {
            max_connections: 1,
            overflow_connections: OVERFLOW_CONNECTIONS,
            ..limits()
        },
        1 << 20,
    )
    .await;
    // Silent connections hold the one normal slot and every overflow slot (they would wait
    // for the 30 s header timeout). The listener accepts in order, so a later connection finds
    // them all taken.
    let mut held = Vec::new();
    for _ in 0..=OVERFLOW_CONNECTIONS {
        held.push(TcpStream::connect(&edge.addr).await.unwrap());
    }
    let mut late = TcpStream::connect(&edge.addr).await.unwrap();
    let _ = late
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut late).await;
    assert!(answer.is_empty(), "closed unanswered, got {answer}");
    // One overflow connection going frees its slot: health checks are answered again.
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut probe = TcpStream::connect(&edge.addr).await.unwrap();
        let _ = probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        if status_of(&read_until_closed(&mut probe).await) == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_request_head_over_max_head_gets_431_and_one_under_it_passes() {
    let edge = start(
        ServerLimits {
            max_head: 16 * 1024,
            ..limits()
        },
        1 << 20,
    )
    .await;
    let request = |header_len: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(header_len)
        )
    };
    let mut small = TcpStream::connect(&edge.addr).await.unwrap();
    small.write_all(request(8 * 1024).as_bytes()).await.unwrap();
    assert_eq!(status_of(&read_until_closed(&mut small).await), Some(200));
    let mut big = TcpStream::connect(&edge.addr).await.unwrap();
    let _ = big.write_all(request(20 * 1024).as_bytes()).await;
    assert_eq!(status_of(&read_until_closed(&mut big).await), Some(431));
}

/// The default shape (idle timeout longer than the header timeout, 60 s against 10 s): the
/// watchdog is not woken when a request ends, and reaches the idle deadline by looks of at most
/// one header timeout each. An idle keep-alive connection stays usable past several header
/// timeouts, and is closed at the idle timeout.
#[tokio::test]
async fn idle_longer_than_header_keeps_then_closes_an_idle_connection() {
    let edge = start(
        ServerLimits {
            header_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(2),
            ..limits()
        },
        1 << 20,
    )
    .await;
    let mut stream = TcpStream::connect(&edge.addr).await.unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        ask_healthz(&mut stream).await;
        let n = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        // Idle past two header timeouts, well within the idle timeout: still usable.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Then the idle timeout closes it.
    let closed = timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "idle connection never closed");
}
