//! The network edge on the real binary: shutdown with a half-sent request, blank tokens,
//! and terminal escapes from remote text kept off stderr, the log file and `send`'s output.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");
/// A generous bound on the process's exit; the grace it is given is 1 s.
const EXIT_DEADLINE: Duration = Duration::from_secs(20);

/// Starts the real binary headless on a free port; returns it, its address, and a thread
/// collecting the rest of its stderr.
#[allow(clippy::zombie_processes)]
fn spawn(args: &[&str]) -> (Child, String, JoinHandle<Vec<u8>>) {
    let mut child = Command::new(BIN)
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .args(["--headless", "--listen", "127.0.0.1:0"])
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .env_remove("ROOMWATCH_JOURNAL")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    loop {
        let mut line = Vec::new();
        assert!(
            stderr.read_until(b'\n', &mut line).unwrap() > 0,
            "roomwatch exited early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some(rest) = text.split("listening on http://").nth(1) {
            let addr = rest.split('/').next().unwrap().to_string();
            let rest = collect(stderr, seen);
            return (child, addr, rest);
        }
    }
}

fn collect(mut stderr: BufReader<ChildStderr>, mut seen: Vec<u8>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let _ = stderr.read_to_end(&mut seen);
        seen
    })
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit; kills it and fails if it has not by [`EXIT_DEADLINE`].
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + EXIT_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("roomwatch did not exit within {EXIT_DEADLINE:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_signal_ends_the_run_with_status_0_while_a_client_holds_a_half_sent_request() {
    for name in ["TERM", "INT", "HUP"] {
        let (mut child, addr, stderr) = spawn(&[
            "--header-timeout",
            "5m",
            "--body-timeout",
            "5m",
            "--shutdown-grace",
            "1s",
        ]);
        let mut held = TcpStream::connect(&addr).unwrap();
        held.write_all(
            b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"CallbackCommand\":",
        )
        .unwrap();
        // A second client that has sent only half its headers.
        let mut slow = TcpStream::connect(&addr).unwrap();
        slow.write_all(b"POST /callback HTTP/1.1\r\nHost:").unwrap();
        // The requests are in the server before the signal: a health check on a third
        // connection is answered, so the accept loop has run past both.
        let mut probe = TcpStream::connect(&addr).unwrap();
        probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        probe.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        signal(&child, name);
        let status = wait_bounded(&mut child);
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
        assert_eq!(status.code(), Some(0), "SIG{name}: {status:?}; {stderr}");
        assert!(stderr.contains("shutdown grace over"), "{stderr}");
    }
}

#[test]
fn an_empty_or_blank_token_is_refused_at_start() {
    let outputs = [
        Command::new(BIN)
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .args(["--headless", "--listen", "127.0.0.1:0", "--token", ""])
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
        Command::new(BIN)
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .args(["--headless", "--listen", "127.0.0.1:0"])
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .env("ROOMWATCH_TOKEN", " \t ")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    ];
    for output in outputs {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--token"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

fn assert_no_terminal_controls(what: &str, bytes: &[u8]) {
    for forbidden in [0x1b_u8, 0x07, 0x9b, 0x7f] {
        assert!(
            !bytes.contains(&forbidden),
            "{what} holds byte {forbidden:#04x}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // The UTF-8 encodings of C1 CSI (U+009B) and RIGHT-TO-LEFT OVERRIDE (U+202E).
    for forbidden in ["\u{9b}", "\u{202e}"] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(forbidden),
            "{what} holds {forbidden:?}"
        );
    }
}

const HOSTILE_QUERY: &str =
    "SdkAppid=%1b]0;pwned%07%1b[2J%c2%9b31m%e2%80%ae&CallbackCommand=%1b]52;c;aGk=%07";

fn post_hostile(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = "{\"RoomId\":\"\u{1b}[2J\u{202e}\"}";
    write!(
        stream,
        "POST /cb%1b[2J?{HOSTILE_QUERY} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_hostile_sdkappid_reaches_stderr_and_the_log_file_escaped() {
    let dir = std::env::temp_dir().join(format!("roomwatch-edge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_file = dir.join("roomwatch.log");
    let log_path = log_file.to_str().unwrap();
    for with_log_file in [false, true] {
        let mut args = vec!["--sdkappid", "1400000001"];
        if with_log_file {
            args.extend(["--log-file", log_path]);
        }
        let (mut child, addr, stderr) = spawn(&args);
        let answer = post_hostile(&addr);
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = Vec::new();
        stdout.read_until(b'\n', &mut line).unwrap();
        assert_no_terminal_controls("an NDJSON line", &line);
        let parsed: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            parsed["query"][0][1], "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}",
            "NDJSON keeps the value exactly, as JSON escapes"
        );
        signal(&child, "TERM");
        assert!(wait_bounded(&mut child).success());
        let stderr = stderr.join().unwrap();
        assert_no_terminal_controls("stderr", &stderr);
        let logged = if with_log_file {
            std::fs::read(&log_file).unwrap()
        } else {
            stderr
        };
        let text = String::from_utf8_lossy(&logged);
        assert!(
            text.contains(r"\x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{202e}"),
            "the rejection is logged, visibly escaped: {text}"
        );
        assert_no_terminal_controls("the log", &logged);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn send_prints_a_hostile_servers_answer_escaped() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for status in ["200 OK", "500 Internal Server Error", "500 \u{1b}]0;x\u{7}"] {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = vec![0u8; 65536];
            let _ = stream.read(&mut request);
            let body = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{9b}31m\u{202e}done";
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    // 2xx, another status, and a reason phrase with escapes (which the client refuses to parse:
    // then the error text is what reaches stderr).
    for (expected_exit, body_printed) in [(0, true), (1, true), (1, false)] {
        let output = Command::new(BIN)
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .args([
                "send",
                "Live.CallbackAfterCreateRoom",
                "--to",
                &format!("http://{addr}/callback"),
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(expected_exit), "{output:?}");
        assert_no_terminal_controls("send's stdout", &output.stdout);
        assert_no_terminal_controls("send's stderr", &output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.contains(r"\x1b]0;pwned\x07\x1b[2J\x1b]52;c;aGk=\x07\u{9b}31m\u{202e}done"),
            body_printed,
            "{stdout}"
        );
    }
    server.join().unwrap();
}
