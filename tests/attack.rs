//! Hostile and broken peers found by attacking the running receiver from outside: each test
//! reproduces one over real TCP and pins the fixed behaviour.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use roomwatch::relay::outcome::RelayState;
use roomwatch::relay::{Relay, RelayConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::start_server_with;
use roomwatch::hub::Hub;
use roomwatch::ingest::auth::AuthConfig;
use roomwatch::ingest::receiver::{self, ReceiverState};
use roomwatch::ingest::server::ServerLimits;
use roomwatch::ingest::source::SourcePolicy;

const SDKAPPID: &str = "1400000001";

/// How a raw backend ends its answer after sending a 200 status line.
#[derive(Clone, Copy)]
enum Cut {
    /// Closes the connection after part of the declared body.
    Close,
    /// Sends part of the declared body, then stays silent while holding the connection.
    Stall,
}

/// A backend written on bare TCP, so it can break an answer in ways a server library will not:
/// it reads each whole request, counts it, sends `200 OK` with a short body, then cuts.
async fn raw_backend(cut: Cut) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(serve_one(socket, counter, cut));
        }
    });
    (url, received)
}

async fn serve_one(mut socket: TcpStream, counter: Arc<AtomicUsize>, cut: Cut) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = socket.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    counter.fetch_add(1, Ordering::SeqCst);
    let _ = socket
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Act")
        .await;
    if matches!(cut, Cut::Stall) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A backend that said `200` has taken the callback, even when the rest of its answer breaks
/// off: sending it again would deliver it twice.
#[tokio::test]
async fn an_after_callback_answered_200_is_delivered_once_even_when_the_answer_breaks_off() {
    for cut in [Cut::Close, Cut::Stall] {
        let (url, received) = raw_backend(cut).await;
        let mut config = RelayConfig::new(reqwest::Url::parse(&url).unwrap());
        config.backoff_max = Duration::from_millis(50);
        config.attempt_timeout = Duration::from_millis(500);
        let relay = Relay::new(config).unwrap();
        let server =
            start_server_with(Some(SDKAPPID), None, 1 << 20, Some(Arc::clone(&relay))).await;
        let answer = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!(
                "{}/cb?SdkAppid={SDKAPPID}&CallbackCommand=Live.CallbackAfterUpdateRoomInfo",
                server.base
            ))
            .body(r#"{"RoomInfo":{"RoomId":"r1","RoomName":"x"},"EventTime":1735692000000}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        wait_until("a final outcome", || {
            relay.record(1).is_some_and(|r| r.state.is_final())
        })
        .await;
        let record = relay.record(1).unwrap();
        assert!(
            matches!(record.state, RelayState::Delivered { status: 200, .. }),
            "{record:?}"
        );
        assert_eq!(record.attempts.len(), 1, "never sent again: {record:?}");
        assert_eq!(received.load(Ordering::SeqCst), 1);
        assert!(
            record
                .answer
                .as_deref()
                .is_some_and(|a| a.contains("broke off")),
            "the record says the answer broke off: {record:?}"
        );
    }
}

/// POSTs one callback on a fresh connection; returns the status, or `None` when the
/// connection was closed unanswered.
async fn post_status(addr: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let body = r#"{"RoomInfo":{"RoomId":"r1"},"EventTime":1735692000000}"#;
    let request = format!(
        "POST /cb?SdkAppid={SDKAPPID}&CallbackCommand=Live.CallbackAfterUpdateRoomInfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
}

/// A client that pipelines requests and never reads the answers leaves hyper unable to finish
/// writing: the idle close never completed, so the connection (and its place under the cap)
/// was held until shutdown. It must be dropped after the idle and header timeouts.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_loses_its_connection() {
    let limits = ServerLimits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(300),
        max_connections: 1,
        shutdown_grace: Duration::from_secs(1),
        sources: SourcePolicy::default(),
        ..ServerLimits::default()
    };
    let state = Arc::new(ReceiverState {
        hub: Arc::new(Hub::new(1000, 1024)),
        auth: AuthConfig {
            sdkappids: vec![SDKAPPID.into()],
            token: None,
            window_s: 60,
        },
        body_limit: 1 << 20,
        relay: None,
        stream: None,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(receiver::serve_with(
        listener,
        state,
        limits,
        std::future::pending(),
    ));

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut reader_that_never_reads = socket.connect(addr.parse().unwrap()).await.unwrap();
    // Health checks pipelined until the buffers on both sides are full (a write blocks).
    let batch = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10_000);
    for _ in 0..200 {
        let wrote = tokio::time::timeout(
            Duration::from_millis(500),
            reader_that_never_reads.write_all(&batch),
        )
        .await;
        if !matches!(wrote, Ok(Ok(()))) {
            break;
        }
    }
    // While it holds the only place, a callback is turned away (503); once it is dropped, the
    // place is free again and a callback is acknowledged.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if post_status(&addr).await == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connection that never reads is still held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(reader_that_never_reads);
}

mod binary {
    //! The same attacks on the real binary.
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");

    /// Starts the binary headless on a free port; returns it, its address and a thread
    /// collecting the rest of its stderr.
    #[allow(clippy::zombie_processes)]
    fn spawn(args: &[&str]) -> (Child, String, JoinHandle<String>) {
        let mut child = Command::new(BIN)
            .args(["--headless", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .env_remove("ROOMWATCH_JOURNAL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, mut stderr, mut seen) = crate::common::read_listen_address(&mut child);
        let rest = std::thread::spawn(move || {
            let _ = stderr.read_to_string(&mut seen);
            seen
        });
        (child, addr, rest)
    }

    fn terminate_and_wait(child: &mut Child) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("roomwatch did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Posts an "after" callback for `room`; panics unless it is acknowledged.
    fn post_acknowledged(addr: &str, room: &str, n: usize) {
        let body = format!(
            r#"{{"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","RoomInfo":{{"RoomId":"{room}","RoomName":"n{n}"}},"EventTime":{}}}"#,
            1_735_692_000_000u64 + n as u64
        );
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /cb?CallbackCommand=Live.CallbackAfterUpdateRoomInfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// A backend that takes `delay` to answer each request `200`, counting them.
    fn slow_backend(delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || answer_slowly(stream, &counter, delay));
            }
        });
        (url, received)
    }

    fn answer_slowly(stream: TcpStream, counter: &AtomicUsize, delay: Duration) {
        let mut reader = BufReader::new(stream);
        loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            std::thread::sleep(delay);
            counter.fetch_add(1, Ordering::SeqCst);
            let ok = r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ok}",
                ok.len()
            );
            if reader.get_mut().write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    /// Acknowledged callbacks still queued for a slow backend at SIGTERM went nowhere: the
    /// process exited at once, silently. They get the shutdown grace to go out.
    #[test]
    fn sigterm_lets_queued_relays_reach_a_slow_backend_within_the_grace() {
        let (url, received) = slow_backend(Duration::from_millis(150));
        let (mut child, addr, stderr) = spawn(&["--forward-to", &url, "--shutdown-grace", "10s"]);
        for n in 0..5 {
            post_acknowledged(&addr, "one_room", n);
        }
        let status = terminate_and_wait(&mut child);
        assert!(status.success(), "{status:?}");
        let stderr = stderr.join().unwrap();
        assert_eq!(received.load(Ordering::SeqCst), 5, "stderr: {stderr}");
        assert!(!stderr.contains("not relayed"), "{stderr}");
    }

    /// What cannot go out within the grace is counted on stderr, never dropped silently.
    #[test]
    fn sigterm_counts_acknowledged_callbacks_a_dead_backend_never_got() {
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", dead.local_addr().unwrap());
        drop(dead);
        let (mut child, addr, stderr) = spawn(&["--forward-to", &url, "--shutdown-grace", "300ms"]);
        for n in 0..3 {
            post_acknowledged(&addr, &format!("room_{n}"), n);
        }
        let status = terminate_and_wait(&mut child);
        assert!(status.success(), "{status:?}");
        let stderr = stderr.join().unwrap();
        assert!(
            stderr.contains("3 acknowledged callbacks were not relayed"),
            "{stderr}"
        );
    }
}
