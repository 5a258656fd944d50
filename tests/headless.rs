//! Headless mode: the real binary printing NDJSON, and the printer catching up after a lag.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roomwatch::hub::Hub;
use roomwatch::outputs::headless::{Progress, print_events};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");

/// Starts roomwatch on a free port and returns it with its address, read from its stderr.
/// Callers wait on the child.
#[allow(clippy::zombie_processes)]
fn spawn(args: &[&str]) -> (Child, String, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--sdkappid", "1400000001"])
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, stderr, _) = common::read_listen_address(&mut child);
    (child, addr, stderr)
}

fn post(addr: &str, query: &str, body: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("http://{addr}/callback?{query}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn without_a_terminal_it_falls_back_to_ndjson_and_exits_cleanly_on_sigterm() {
    let (mut child, addr, _stderr) = spawn(&[]);
    let body = common::sample("Live.CallbackAfterCreateRoom");
    assert_eq!(
        post(
            &addr,
            "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom",
            &body
        ),
        200
    );
    assert_eq!(post(&addr, "SdkAppid=1400000001", "{not json"), 400);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let accepted = &lines[0];
    assert_eq!(accepted["seq"], 1);
    assert_eq!(accepted["verdict"], "accepted");
    assert_eq!(accepted["command"], "Live.CallbackAfterCreateRoom");
    assert_eq!(accepted["room_id"], "live_9001");
    assert_eq!(accepted["error"], Value::Null);
    assert_eq!(accepted["body"]["RoomInfo"]["RoomName"], "Evening jazz");
    let received_at = accepted["received_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(received_at, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    let rejected = &lines[1];
    assert_eq!(rejected["verdict"], "rejected");
    assert_eq!(rejected["room_id"], Value::Null);
    assert_eq!(rejected["body"], "{not json", "the raw text is kept");
    assert!(
        rejected["error"]
            .as_str()
            .unwrap()
            .starts_with("body is not JSON")
    );
    terminate(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_fallback_is_announced_on_stderr() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("stdout is not a terminal"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_address_in_use_is_a_plain_error_and_a_failure_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .args(["--headless", "--listen", &addr])
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn unknown_flags_are_refused_with_usage() {
    let output = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("--frobnicate")
    );
}

/// A writer the test can read while the printer thread still holds it.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_printer_that_lags_past_the_channel_capacity_still_prints_every_event_in_order() {
    let hub = Arc::new(Hub::new(1_000, 4));
    let rx = hub.subscribe();
    for i in 0..50 {
        let body = json!({"CallbackCommand":"Live.CallbackAfterMemberStateChanged","RoomId":"r1",
            "EventType":"Online","EventCause":"Enter","MemberList":[{"Member_Account":format!("v{i}")}],"EventTime":1_735_691_000_000_i64 + i});
        let mut event = (*common::event(0, 0, &body)).clone();
        event.seq = 0;
        hub.publish(event);
    }
    let buffer = SharedBuffer::default();
    let printer_hub = Arc::clone(&hub);
    let out = buffer.clone();
    std::thread::spawn(move || print_events(&printer_hub, rx, out, &Progress::default()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 50 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    hub.read(|store| assert_eq!(store.room_by_id("r1").unwrap().online_count(), 50));
}

/// Posts `count` distinct callbacks over 8 connections; returns how many were acknowledged.
fn post_many(addr: &str, count: usize) -> usize {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/callback?SdkAppid=1400000001");
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut acked = 0;
                for i in (worker..count).step_by(8) {
                    let body = json!({"CallbackCommand":"Live.CallbackAfterMemberStateChanged",
                        "RoomId":format!("room_{i}"),"EventType":"Online","EventCause":"Enter",
                        "MemberList":[{"Member_Account":format!("viewer_{i}")}],
                        "EventTime":1_763_000_000_000_i64 + i as i64});
                    let response = client.post(&url).body(body.to_string()).send().await;
                    if response.is_ok_and(|r| r.status() == 200) {
                        acked += 1;
                    }
                }
                acked
            }));
        }
        let mut acked = 0;
        for task in tasks {
            acked += task.await.unwrap();
        }
        acked
    })
}

/// "roomwatch: N of M events were not printed: why" on stderr, as (N, M).
fn unprinted(stderr: &str) -> Option<(usize, usize)> {
    let line = stderr
        .lines()
        .find(|l| l.contains("events were not printed"))?;
    let mut words = line.trim_start_matches("roomwatch: ").split(' ');
    let missing = words.next()?.parse().ok()?;
    let total = words.nth(1)?.parse().ok()?;
    Some((missing, total))
}

fn rest_of_stderr(
    mut stderr: BufReader<std::process::ChildStderr>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    })
}

#[test]
fn after_sigterm_a_slow_reader_still_gets_every_acknowledged_event() {
    let (mut child, addr, stderr) = spawn(&["--headless", "--drain-timeout", "120"]);
    let stderr = rest_of_stderr(stderr);
    // Nobody reads stdout meanwhile: the pipe fills and the printer falls behind.
    let acked = post_many(&addr, 3_000);
    assert_eq!(acked, 3_000);
    terminate(&child);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seqs = Vec::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        let value: Value = serde_json::from_str(&line).unwrap();
        seqs.push(value["seq"].as_u64().unwrap());
        line.clear();
        // Slower than the old fixed 2 s drain allowed: about 3 s for everything.
        if seqs.len() % 20 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(child.wait().unwrap().success());
    let stderr = stderr.join().unwrap();
    assert_eq!(seqs, (1..=3_000).collect::<Vec<u64>>(), "{stderr}");
    assert_eq!(unprinted(&stderr), None, "{stderr}");
}

#[test]
fn a_stdout_nobody_reads_gets_an_exact_count_of_what_was_not_printed() {
    let (mut child, addr, stderr) = spawn(&["--headless", "--drain-timeout", "1"]);
    let stderr = rest_of_stderr(stderr);
    let acked = post_many(&addr, 3_000);
    terminate(&child);
    // Exits after the drain timeout although stdout is still full.
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut text).unwrap();
    let complete = text.matches('\n').count();
    let stderr = stderr.join().unwrap();
    let (missing, total) = unprinted(&stderr).expect(&stderr);
    assert_eq!(total, acked, "{stderr}");
    assert!(missing > 0);
    assert_eq!(complete + missing, acked, "{stderr}");
    assert!(stderr.contains("--drain-timeout"), "{stderr}");
}

#[test]
fn a_stderr_nobody_reads_never_stalls_the_receiver() {
    // Every refused callback logs a warning on stderr; nobody reads it, so the pipe fills after
    // a few hundred lines. The handlers must keep answering all the same.
    let (mut child, addr, _unread_stderr) = spawn(&["--headless"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let printed = std::thread::spawn(move || {
        let mut lines = 0usize;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            lines += 1;
            line.clear();
        }
        lines
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answered = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let url = format!("http://{addr}/callback?SdkAppid=1400009999&CallbackCommand=Live.CallbackAfterCreateRoom");
        let mut answered = 0;
        for i in 0..2_000 {
            let body = format!(r#"{{"CallbackCommand":"Live.CallbackAfterCreateRoom","RoomInfo":{{"RoomId":"r{i}"}}}}"#);
            match client.post(&url).body(body).send().await {
                Ok(response) if response.status() == 403 => answered += 1,
                Ok(response) => panic!("unexpected status {}", response.status()),
                Err(error) => panic!("callback {i} got no answer: {error}"),
            }
        }
        answered
    });
    assert_eq!(answered, 2_000);
    terminate(&child);
    assert!(child.wait().unwrap().success());
    assert_eq!(printed.join().unwrap(), 2_000);
}
