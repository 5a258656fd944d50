//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr};
use std::sync::Arc;

use roomwatch::ingest::auth::AuthConfig;

use roomwatch::event::Event;
use roomwatch::ingest::intake::{self, Arrival, BodyRead};

/// The event the receiver records for an accepted body (its own judge, no HTTP involved).
pub fn event(seq: u64, received_at_ms: i64, body: &serde_json::Value) -> Arc<Event> {
    let arrival = Arrival {
        method: "POST".into(),
        path: "/callback".into(),
        raw_query: String::new(),
        content_type: Some("application/json".into()),
        remote: None,
        received_at_ms,
    };
    let open = AuthConfig {
        window_s: 60,
        ..AuthConfig::default()
    };
    let bytes = serde_json::to_vec(body).unwrap();
    let mut event = intake::judge(arrival, BodyRead::Complete(bytes), &open);
    event.seq = seq;
    Arc::new(event)
}

use roomwatch::hub::Hub;
use roomwatch::ingest::receiver::{self, ReceiverState};

/// A real receiver on a loopback port; dropped with the test's runtime.
pub struct TestServer {
    pub base: String,
    pub hub: Arc<Hub>,
}

pub async fn start_server(
    sdkappid: Option<&str>,
    token: Option<&str>,
    body_limit: usize,
) -> TestServer {
    start_server_with(sdkappid, token, body_limit, None).await
}

/// [`start_server`] with a relay in front of a backend.
pub async fn start_server_with(
    sdkappid: Option<&str>,
    token: Option<&str>,
    body_limit: usize,
    relay: Option<Arc<roomwatch::relay::Relay>>,
) -> TestServer {
    let hub = Arc::new(Hub::new(10_000, 4096));
    let state = Arc::new(ReceiverState {
        hub: Arc::clone(&hub),
        auth: AuthConfig {
            sdkappids: sdkappid.map(Into::into).into_iter().collect(),
            token: token.map(Into::into),
            window_s: 60,
        },
        body_limit,
        relay,
        stream: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(receiver::serve(listener, state, std::future::pending()));
    TestServer {
        base: format!("http://{addr}"),
        hub,
    }
}

/// Reads a sample body from assets/callbacks.
pub fn sample(command: &str) -> String {
    roomwatch::protocol::samples::find(command)
        .unwrap()
        .json
        .to_string()
}

/// Reads a started roomwatch's stderr up to its `listening on http://ADDR/` line. Returns the
/// address, the reader (positioned after that line) and everything read so far.
pub fn read_listen_address(child: &mut Child) -> (String, BufReader<ChildStderr>, String) {
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "roomwatch exited early: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest.split('/').next().unwrap().to_string();
            return (addr, stderr, seen);
        }
    }
}

/// A private CA and a server certificate it signed for 127.0.0.1, made with the `openssl`
/// command in `dir`: `ca.pem`, `server.pem`, `server.key`.
pub fn private_ca(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=roomwatch test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}
