//! End to end: the real binary in a real pseudo-terminal, fed callbacks over TCP.
//! Waits on what the screen shows, with deadlines; never sleeps as a check.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const DEADLINE: Duration = Duration::from_secs(30);
const UPDATE_SEED: &str = include_str!("../assets/seed/update-room-info.json");
const ADMIN_SEED: &str = include_str!("../assets/seed/modify-admin.json");

struct Dashboard {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte the program wrote, for checks on the escape sequences themselves.
    raw: Arc<Mutex<Vec<u8>>>,
    _master: Box<dyn MasterPty + Send>,
}

impl Dashboard {
    fn start() -> Self {
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
        cmd.args(["--listen", "127.0.0.1:0", "--tui"]);
        cmd.env_remove("ROOMWATCH_SDKAPPID");
        cmd.env("ROOMWATCH_NO_JOURNAL", "true");
        cmd.env_remove("ROOMWATCH_JOURNAL");
        cmd.env_remove("ROOMWATCH_TOKEN");
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: CommandBuilder) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 30,
                cols: 110,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(30).unwrap(),
            std::num::NonZeroU16::new(110).unwrap(),
            0,
        )));
        let feed = Arc::clone(&screen);
        let raw = Arc::new(Mutex::new(Vec::new()));
        let raw_feed = Arc::clone(&raw);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap().process(&buf[..n]);
                raw_feed.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            child,
            writer,
            screen,
            raw,
            _master: pair.master,
        }
    }

    fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Waits until the terminal is restored: alternate screen left and cursor shown. The pty's
    /// last bytes may still be on their way when the process has exited, so this polls too.
    fn wait_restored(&self) {
        let start = Instant::now();
        loop {
            {
                let parser = self.screen.lock().unwrap();
                let screen = parser.screen();
                if !screen.alternate_screen() && !screen.hide_cursor() {
                    return;
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the terminal was not restored; screen:\n{}",
                self.contents()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls the parsed screen until `check` holds; panics with the screen at the deadline.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.contents();
            if check(&text) {
                return text;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// The port in the header (`roomwatch  127.0.0.1:PORT`).
    fn port(&self) -> u16 {
        let text = self.wait_for("the header", |s| s.contains("127.0.0.1:"));
        let at = text.find("127.0.0.1:").unwrap() + "127.0.0.1:".len();
        let digits: String = text[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    }

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "the dashboard did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn post(port: u16, command: &str, body: &str) {
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/callback?SdkAppid=1400000001&CallbackCommand={command}&contenttype=json"
        ))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_callbacks_filter_and_quit() {
    let mut dash = Dashboard::start();
    let port = dash.port();
    post(port, "Live.CallbackAfterUpdateRoomInfo", UPDATE_SEED).await;
    post(port, "Live.CallbackAfterModifyAdmin", ADMIN_SEED).await;
    // Both callbacks were answered, but the screen may show the first before the second.
    let screen = dash.wait_for("both rooms", |s| {
        s.contains("rname-123") && s.contains("room_id")
    });
    assert!(screen.contains("room_id"), "{screen}");
    // The most recent room (ModifyAdmin) is selected: its admins in the detail pane.
    dash.wait_for("the admins line", |s| s.contains("Admins: user1, user2"));

    dash.send(b"/rname");
    let screen = dash.wait_for("the filter to narrow the table", |s| {
        s.contains("FILTER rname") && s.contains("Rooms  1 of 2")
    });
    assert!(screen.contains("live-room"));
    assert!(screen.contains("ApplyToTake"));
    assert!(screen.contains("Visibility: private"), "{screen}");
    assert!(!screen.contains("Admins: user1"), "{screen}");
    dash.send(b"\r");
    dash.wait_for("the prompt to close", |s| !s.contains("Enter keep"));

    dash.send(b"q");
    let status = dash.wait_exit();
    assert!(status.success(), "{status:?}");
    // The terminal is back: the alternate screen left, the cursor shown.
    dash.wait_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_cleanly() {
    let mut dash = Dashboard::start();
    let _ = dash.port();
    dash.wait_for("the empty dashboard", |s| s.contains("no rooms yet"));
    let pid = dash.child.process_id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = dash.wait_exit();
    assert!(status.success(), "{status:?}");
    dash.wait_restored();
}

/// Run in a pty by `panic_in_a_task_restores_the_terminal`: enters the dashboard's terminal
/// mode with the real panic hook, then panics inside a tokio task.
#[test]
#[ignore = "a helper process for panic_in_a_task_restores_the_terminal"]
fn panic_child() {
    if std::env::var_os("ROOMWATCH_PANIC_CHILD").is_none() {
        return;
    }
    roomwatch::tui::terminal::install_panic_hook();
    let _terminal = roomwatch::tui::terminal::enter(true).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let _ = tokio::spawn(async { panic!("boom in a handler task") }).await;
    });
    // Not reached: the hook ends the process.
    std::process::exit(0);
}

#[test]
fn panic_in_a_task_restores_the_terminal() {
    let mut cmd = CommandBuilder::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "panic_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env("ROOMWATCH_PANIC_CHILD", "1");
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.env("RUST_BACKTRACE", "0");
    let mut child = Dashboard::spawn(cmd);
    let status = child.wait_exit();
    assert!(!status.success(), "{status:?}");
    assert_eq!(status.exit_code(), 101);
    child.wait_for("the panic message", |s| {
        s.contains("boom in a handler task")
    });
    child.wait_restored();
}

#[tokio::test(flavor = "multi_thread")]
async fn q_exits_after_the_grace_while_a_client_holds_a_half_sent_request() {
    use tokio::io::AsyncWriteExt;
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.args(["--listen", "127.0.0.1:0", "--tui"]);
    cmd.args(["--header-timeout", "5m", "--body-timeout", "5m"]);
    cmd.args(["--shutdown-grace", "1s"]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.env_remove("ROOMWATCH_JOURNAL");
    let mut dash = Dashboard::spawn(cmd);
    let port = dash.port();
    dash.wait_for("the empty dashboard", |s| s.contains("no rooms yet"));
    let mut held = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    held.write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"Room")
        .await
        .unwrap();
    // A full callback after it proves the server has taken both connections.
    post(port, "Live.CallbackAfterModifyAdmin", ADMIN_SEED).await;
    dash.wait_for("the callback", |s| s.contains("Admins: user1, user2"));
    dash.send(b"q");
    let status = dash.wait_exit();
    assert!(status.success(), "{status:?}");
    dash.wait_restored();
    drop(held);
}

/// The dashboard with a journal in `data_home`.
fn journaled(data_home: &std::path::Path) -> Dashboard {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.args(["--listen", "127.0.0.1:0", "--tui"]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_JOURNAL");
    cmd.env_remove("ROOMWATCH_NO_JOURNAL");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env("XDG_DATA_HOME", data_home);
    Dashboard::spawn(cmd)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_shows_the_restored_rooms_and_says_so() {
    let data = tempfile::tempdir().unwrap();
    let mut dash = journaled(data.path());
    let port = dash.port();
    post(port, "Live.CallbackAfterUpdateRoomInfo", UPDATE_SEED).await;
    post(port, "Live.CallbackAfterModifyAdmin", ADMIN_SEED).await;
    dash.wait_for("the room name", |s| s.contains("rname-123"));
    dash.send(b"q");
    assert!(dash.wait_exit().success());
    dash.wait_restored();
    drop(dash);
    assert!(data.path().join("roomwatch/journal.sqlite").exists());

    let mut dash = journaled(data.path());
    let screen = dash.wait_for("the restored rooms", |s| {
        s.contains("rname-123") && s.contains("restored 2 since")
    });
    assert!(screen.contains("Admins: user1, user2"), "{screen}");
    dash.send(b"q");
    assert!(dash.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_pages_back_into_the_journal_past_what_memory_holds() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.args(["--listen", "127.0.0.1:0", "--tui", "--history", "10"]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_JOURNAL");
    cmd.env_remove("ROOMWATCH_NO_JOURNAL");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env("XDG_DATA_HOME", data.path());
    let mut dash = Dashboard::spawn(cmd);
    let port = dash.port();
    for i in 0..40 {
        let body = UPDATE_SEED.replace("\"live-room\"", &format!("\"old-{i:02}\""));
        assert_ne!(body, UPDATE_SEED, "the seed names its room");
        post(port, "Live.CallbackAfterUpdateRoomInfo", &body).await;
    }
    dash.wait_for("the newest line", |s| {
        s.contains("old-39") && s.contains("10 lines")
    });
    // To the log, to its first held line, then three pages further up.
    dash.send(b"\t\tg");
    dash.wait_for("the first held line", |s| s.contains("PAUSED"));
    dash.send(b"\x1b[5~\x1b[5~\x1b[5~\x1b[5~\x1b[5~");
    let screen = dash.wait_for("the oldest line, read from the journal", |s| {
        s.contains("old-00") && s.contains("30 from the journal, start reached")
    });
    assert!(screen.contains("40 lines"), "{screen}");
    dash.send(b"q");
    assert!(dash.wait_exit().success());
}

/// A backend on loopback that records the bodies it receives and answers Tencent's ack.
async fn recording_backend() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&got);
    let app = axum::Router::new().fallback(move |body: String| {
        let recorded = Arc::clone(&recorded);
        async move {
            recorded.lock().unwrap().push(body);
            r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn e_hands_the_terminal_to_the_editor_and_sends_the_edited_body() {
    let (backend, got) = recording_backend().await;
    let dir = std::env::temp_dir().join(format!("roomwatch-e2e-editor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The editor waits for a line typed on the terminal (so a key stolen by roomwatch would
    // hang it), then edits the body the first time and breaks it the second.
    let script = dir.join("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf 'EDITOR-OPEN\\n'\nread answer\nif [ -e '{once}' ]; then printf '{{broken' > \"$1\"; else touch '{once}'; sed -i \"s/Evening jazz/Edited $answer/\" \"$1\"; fi\n",
            once = dir.join("once").display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.args(["--listen", "127.0.0.1:0", "--tui", "--forward-to", &backend]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env("EDITOR", script.display().to_string());
    let mut dash = Dashboard::spawn(cmd);
    let port = dash.port();
    let body = roomwatch::protocol::samples::find("Live.CallbackAfterCreateRoom")
        .unwrap()
        .json
        .to_string();
    post(port, "Live.CallbackAfterCreateRoom", &body).await;
    dash.wait_for("the delivered mark", |s| s.contains("→ 200"));
    assert_eq!(got.lock().unwrap().len(), 1);

    dash.send(b"e");
    dash.wait_for("the editor", |s| s.contains("EDITOR-OPEN"));
    dash.send(b"by-hand\r");
    wait_until("the edited body", || got.lock().unwrap().len() == 2);
    let edited = got.lock().unwrap()[1].clone();
    assert!(edited.contains("Edited by-hand"), "{edited}");
    let value: serde_json::Value = serde_json::from_str(&edited).unwrap();
    assert_eq!(value["RoomInfo"]["RoomId"], "live_9001");
    dash.wait_for("the dashboard again", |s| {
        s.contains("roomwatch") && !s.contains("EDITOR-OPEN")
    });

    dash.send(b"e");
    dash.wait_for("the editor, again", |s| s.contains("EDITOR-OPEN"));
    dash.send(b"x\r");
    dash.wait_for("the parse error", |s| s.contains("not JSON"));
    assert_eq!(
        got.lock().unwrap().len(),
        2,
        "nothing sent for a broken body"
    );
    dash.send(b"q");
    assert!(dash.wait_exit().success());
    dash.wait_restored();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `NO_COLOR=1`: not one coloured cell on screen and no colour escape in the output, yet the
/// selected row is still in reverse video and titles still bold. The zone from `TZ` is named
/// once in the header.
#[tokio::test(flavor = "multi_thread")]
async fn no_color_keeps_reverse_video_and_the_zone_is_named() {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.args(["--listen", "127.0.0.1:0", "--tui"]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env_remove("ROOMWATCH_UTC");
    cmd.env("NO_COLOR", "1");
    // A POSIX zone string: nine hours east of UTC, no tz database needed.
    cmd.env("TZ", "JST-9");
    let mut dash = Dashboard::spawn(cmd);
    let port = dash.port();
    post(port, "Live.CallbackAfterUpdateRoomInfo", UPDATE_SEED).await;
    post(port, "Live.CallbackAfterModifyAdmin", ADMIN_SEED).await;
    // Open the help and close it, so filled badges and overlays were drawn too.
    dash.send(b"/rname");
    dash.wait_for("the filter badge", |s| s.contains("FILTER rname"));
    dash.send(b"\x1b");
    let screen = dash.wait_for("both rooms", |s| {
        s.contains("rname-123") && s.contains("Admins: user1, user2") && !s.contains("FILTER")
    });
    assert!(screen.contains("UTC+09:00"), "{screen}");
    {
        let parser = dash.screen.lock().unwrap();
        let vt = parser.screen();
        let (rows, cols) = vt.size();
        let (rows, cols) = (rows.get(), cols.get());
        let mut reversed_rows = 0;
        for row in 0..rows {
            let mut reversed = 0;
            for col in 0..cols {
                let cell = vt.cell(row, col).unwrap();
                assert_eq!(cell.fgcolor(), vt100::Color::Default, "fg at {row},{col}");
                assert_eq!(cell.bgcolor(), vt100::Color::Default, "bg at {row},{col}");
                reversed += usize::from(cell.inverse());
            }
            // The selected table row is reversed across the table's width (after the APP
            // column: this run accepts any app).
            if reversed > 40 && vt.contents_between(row, 0, row, 30).contains(" room_id ") {
                reversed_rows += 1;
            }
        }
        assert_eq!(reversed_rows, 1, "{}", vt.contents());
    }
    let raw = dash.raw.lock().unwrap().clone();
    for sgr in sgr_sequences(&String::from_utf8_lossy(&raw)) {
        assert!(
            !sgr.starts_with(';') && !sgr.contains(";;"),
            "garbled SGR {sgr:?}"
        );
        for param in sgr.split(';').filter_map(|p| p.parse::<u16>().ok()) {
            assert!(
                !(30..=49).contains(&param) && !(90..=107).contains(&param),
                "colour in SGR {sgr:?}"
            );
        }
    }
    dash.send(b"q");
    assert!(dash.wait_exit().success());
    dash.wait_restored();
}

/// The parameters of every SGR (`ESC[...m`) sequence in `text`.
fn sgr_sequences(text: &str) -> Vec<&str> {
    text.split("\x1b[")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(|c: char| c.is_ascii_alphabetic() || c == '~')?;
            (rest.as_bytes()[end] == b'm').then(|| &rest[..end])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn utc_flag_names_utc() {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.args(["--listen", "127.0.0.1:0", "--tui", "--utc"]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env("TZ", "JST-9");
    let mut dash = Dashboard::spawn(cmd);
    let screen = dash.wait_for("the header", |s| s.contains("no rooms yet"));
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.trim_end().ends_with(" UTC"), "{screen}");
    assert!(!screen.contains("UTC+09:00"), "{screen}");
    dash.send(b"q");
    assert!(dash.wait_exit().success());
}

/// `y` in the real binary writes an OSC 52 sequence with the selected room id.
#[tokio::test(flavor = "multi_thread")]
async fn y_sends_osc52_with_the_room_id() {
    let mut dash = Dashboard::start();
    let port = dash.port();
    post(port, "Live.CallbackAfterUpdateRoomInfo", UPDATE_SEED).await;
    dash.wait_for("the room", |s| s.contains("rname-123"));
    dash.send(b"y");
    dash.wait_for("the status line", |s| {
        s.contains("copied room id live-room to the clipboard")
    });
    // base64("live-room")
    let expected = "\x1b]52;c;bGl2ZS1yb29t\x07";
    let start = Instant::now();
    while !String::from_utf8_lossy(&dash.raw.lock().unwrap()).contains(expected) {
        assert!(start.elapsed() < DEADLINE, "no OSC 52 sequence");
        std::thread::sleep(Duration::from_millis(20));
    }
    dash.send(b"q");
    assert!(dash.wait_exit().success());
}

/// Posts `body` for `app`; returns the HTTP status.
async fn post_for(port: u16, app: &str, command: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/callback?SdkAppid={app}&CallbackCommand={command}&contenttype=json"
        ))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The real binary watching two apps: the same RoomId under both is two rows with the app in
/// the APP column, another app is refused, and `app:` narrows the screen to one app.
#[tokio::test(flavor = "multi_thread")]
async fn two_apps_show_the_same_room_id_twice_and_app_filters() {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.args(["--listen", "127.0.0.1:0", "--tui"]);
    cmd.args(["--sdkappid", "1400000001,1400000002"]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.env_remove("ROOMWATCH_JOURNAL");
    cmd.env_remove("ROOMWATCH_TOKEN");
    let mut dash = Dashboard::spawn(cmd);
    let port = dash.port();
    let create = |name: &str| {
        format!(
            r#"{{"CallbackCommand":"Live.CallbackAfterCreateRoom","Operator_Account":"host","RoomInfo":{{"RoomId":"live_9001","RoomName":"{name}"}},"EventTime":1735689600123}}"#
        )
    };
    let command = "Live.CallbackAfterCreateRoom";
    assert_eq!(
        post_for(port, "1400000001", command, &create("Jazz one")).await,
        200
    );
    assert_eq!(
        post_for(port, "1400000002", command, &create("Jazz two")).await,
        200
    );
    assert_eq!(
        post_for(port, "1400000003", command, &create("Intruder")).await,
        403
    );
    let screen = dash.wait_for("both apps' rooms", |s| {
        s.contains("Jazz one") && s.contains("Jazz two") && s.contains("1 rejected")
    });
    assert!(screen.contains("APP "), "{screen}");
    assert!(
        screen.contains("SdkAppid 1400000001,1400000002"),
        "{screen}"
    );
    // Table rows start with the app; log lines with the time.
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with("140000000") && l.contains("live_9001"))
        .collect();
    assert_eq!(rows.len(), 2, "{screen}");
    assert!(
        rows.iter().any(|r| r.starts_with("1400000001 ")),
        "{screen}"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("1400000002 ")),
        "{screen}"
    );
    dash.send(b"/app:1400000002\r");
    dash.wait_for("only the second app's room", |s| {
        s.contains("Rooms  1 of 2") && s.contains("Jazz two") && !s.contains("Jazz one")
    });
    dash.send(b"q");
    let status = dash.wait_exit();
    assert!(status.success(), "{status:?}");
}

/// The dashboard with a journal in `data_home`, relaying to `backend`.
fn journaled_relay(data_home: &std::path::Path, backend: &str) -> Dashboard {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_roomwatch"));
    cmd.args(["--listen", "127.0.0.1:0", "--tui", "--forward-to", backend]);
    cmd.env_remove("ROOMWATCH_SDKAPPID");
    cmd.env_remove("ROOMWATCH_JOURNAL");
    cmd.env_remove("ROOMWATCH_NO_JOURNAL");
    cmd.env_remove("ROOMWATCH_TOKEN");
    cmd.env("XDG_DATA_HOME", data_home);
    Dashboard::spawn(cmd)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_shows_how_the_relay_of_restored_callbacks_ended() {
    let (backend, got) = recording_backend().await;
    let data = tempfile::tempdir().unwrap();
    let mut dash = journaled_relay(data.path(), &backend);
    let port = dash.port();
    post(port, "Live.CallbackAfterUpdateRoomInfo", UPDATE_SEED).await;
    dash.wait_for("the delivered mark", |s| s.contains("→ 200"));
    dash.send(b"q");
    assert!(dash.wait_exit().success());
    dash.wait_restored();
    drop(dash);
    assert_eq!(got.lock().unwrap().len(), 1);

    // Nothing new arrives: the mark comes from the journal.
    let mut dash = journaled_relay(data.path(), &backend);
    dash.wait_for("the restored line with its relay outcome", |s| {
        s.contains("rname-123") && s.contains("→ 200")
    });
    // Tab to the log pane (rooms, detail, log), then open its line.
    dash.send(b"\t\t\r");
    dash.wait_for("the callback view", |s| s.contains("Esc closes"));
    // Page down to the relay section at its end.
    dash.send(b"\x1b[6~");
    let view = dash.wait_for("the callback view's relay section", |s| {
        s.contains("relay (after): → 200")
    });
    assert!(view.contains("attempt 1 at"), "{view}");
    assert!(view.contains("backend answered"), "{view}");
    dash.send(b"q");
    dash.send(b"q");
    assert!(dash.wait_exit().success());
    assert_eq!(got.lock().unwrap().len(), 1, "nothing relayed twice");
}
