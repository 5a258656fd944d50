//! Reaching a protected NATS: user and password in the URL, and TLS with a private CA
//! (`--nats-tls-ca`), against real nats-server processes; wrong or missing credentials are a
//! clear error at start.
#![allow(clippy::unwrap_used)]

mod common;
mod nats_common;

use std::process::Command;
use std::time::Duration;

use nats_common::{APP, NatsServer, Roomwatch, callback_url, member_enter};

fn post_one(base: &str, user: &str) -> u16 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(callback_url(base, "Room.CallbackAfterMemberEnter"))
                .body(member_enter("r", user, 1))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
}

/// A viewer that must fail at start: its stderr.
fn failing_viewer(args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .args(["--headless", "--no-listen"])
        .args(args)
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env("XDG_DATA_HOME", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn user_and_password_in_the_url() {
    let nats = NatsServer::start_with(&[
        "--user".into(),
        "rw".into(),
        "--pass".into(),
        "s3cret".into(),
    ]);
    let url = format!("nats://rw:s3cret@127.0.0.1:{}", nats.port);
    let receiver =
        Roomwatch::start(&["--nats", &url, "--listen", "127.0.0.1:0", "--sdkappid", APP]);
    let viewer = Roomwatch::start(&["--nats", &url, "--no-listen"]);
    assert_eq!(post_one(&receiver.url(), "u1"), 200);
    assert!(viewer.wait_for(Duration::from_secs(20), |e| e.len() == 1));

    let stderr = failing_viewer(&[
        "--nats",
        &format!("nats://rw:wrong@127.0.0.1:{}", nats.port),
    ]);
    assert!(stderr.contains("cannot connect to NATS"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the password is never printed: {stderr}"
    );
}

#[test]
fn tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    common::private_ca(dir.path());
    let nats = NatsServer::start_with(&[
        "--tls".into(),
        "--tlscert".into(),
        path("server.pem"),
        "--tlskey".into(),
        path("server.key"),
    ]);
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let ca = path("ca.pem");
    let receiver = Roomwatch::start(&[
        "--nats",
        &url,
        "--nats-tls-ca",
        &ca,
        "--listen",
        "127.0.0.1:0",
        "--sdkappid",
        APP,
    ]);
    let viewer = Roomwatch::start(&["--nats", &url, "--nats-tls-ca", &ca, "--no-listen"]);
    assert_eq!(post_one(&receiver.url(), "u1"), 200);
    assert!(viewer.wait_for(Duration::from_secs(20), |e| e.len() == 1));

    // Without the CA the server's certificate is not trusted.
    let stderr = failing_viewer(&["--nats", &url]);
    assert!(stderr.contains("cannot connect to NATS"), "{stderr}");
}
