//! Real nats-server processes for the JetStream tests (single nodes and a three-node cluster
//! on loopback, each with a temporary store), and roomwatch processes around them.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The nats-server binary: `NATS_SERVER_BIN` (set by scripts/test), else the one on PATH.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let on_path = Command::new("nats-server").arg("--version").output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "nats-server not found: run the suite with scripts/test (it installs one), or set NATS_SERVER_BIN"
    );
    PathBuf::from("nats-server")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One nats-server with JetStream.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    store: tempfile::TempDir,
}

impl NatsServer {
    /// A single node on a free port with a temporary store.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A single node on `port` with a temporary store.
    pub fn start_on(port: u16) -> Self {
        let server = Self::spawn_with(port, &[]);
        server.wait_ready();
        server
    }

    /// A single node with extra arguments (auth, TLS), ready once its port takes connections:
    /// the plain client used by [`Self::wait_ready`] cannot log in to it.
    pub fn start_with(extra: &[String]) -> Self {
        let server = Self::spawn_with(free_port(), extra);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn spawn_with(port: u16, extra: &[String]) -> Self {
        let store = tempfile::tempdir().unwrap();
        let args = vec![
            "-js".to_string(),
            "-a".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            port.to_string(),
            "-sd".to_string(),
            store.path().display().to_string(),
        ];
        let mut server = Self {
            child: None,
            port,
            args: args.into_iter().chain(extra.iter().cloned()).collect(),
            store,
        };
        server.spawn();
        server
    }

    /// Three nodes in one cluster on loopback, each with its own store.
    pub fn start_cluster() -> Vec<Self> {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, cluster)| format!("nats-route://127.0.0.1:{cluster}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<Self> = ports
            .iter()
            .enumerate()
            .map(|(i, (port, cluster))| {
                let store = tempfile::tempdir().unwrap();
                let args = vec![
                    "-js".to_string(),
                    "-a".to_string(),
                    "127.0.0.1".to_string(),
                    "-p".to_string(),
                    port.to_string(),
                    "-sd".to_string(),
                    store.path().display().to_string(),
                    "-n".to_string(),
                    format!("n{i}"),
                    "--cluster_name".to_string(),
                    "rw".to_string(),
                    "--cluster".to_string(),
                    format!("nats://127.0.0.1:{cluster}"),
                    "--routes".to_string(),
                    routes.clone(),
                ];
                Self {
                    child: None,
                    port: *port,
                    args,
                    store,
                }
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        for node in &nodes {
            node.wait_ready();
        }
        nodes
    }

    fn spawn(&mut self) {
        let child = Command::new(server_binary())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
    }

    /// Waits until JetStream answers on this node (a cluster needs its meta leader first).
    pub fn wait_ready(&self) {
        let url = self.url();
        let deadline = Instant::now() + Duration::from_secs(30);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        loop {
            let ready = runtime.block_on(async {
                let Ok(Ok(client)) =
                    tokio::time::timeout(Duration::from_secs(2), async_nats::connect(&url)).await
                else {
                    return false;
                };
                let js = async_nats::jetstream::new(client);
                matches!(
                    tokio::time::timeout(Duration::from_secs(2), js.query_account()).await,
                    Ok(Ok(_))
                )
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server on {url} never became ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no goodbye to clients or to the cluster.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A roomwatch process, headless, with its stdout lines collected as they come.
pub struct Roomwatch {
    child: Child,
    /// `host:port` it listens on, unless `--no-listen`.
    pub addr: Option<String>,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<String>>,
    /// Its data directory (the spool lives there unless `--nats-spool` says otherwise).
    pub data: tempfile::TempDir,
    /// Reads stderr until the process closes it; joined once the process has exited, so
    /// that what it said last is in `stderr`.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Roomwatch {
    /// Starts `roomwatch --headless` with `args`; waits until it listens (or, with
    /// `--no-listen`, follows the stream).
    pub fn start(args: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomwatch"))
            .arg("--headless")
            .args(args)
            .env("ROOMWATCH_NO_JOURNAL", "true")
            .env("XDG_DATA_HOME", data.path())
            // JetStream refuses a stream larger than its storage; keep tests small.
            .env("ROOMWATCH_NATS_MAX_BYTES", "256MiB")
            .env_remove("ROOMWATCH_NATS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roomwatch starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stderr_reader = {
            let stderr_text = Arc::clone(&stderr_text);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let _ = addr_tx.send(Some(rest.split('/').next().unwrap().to_string()));
                    } else if line.contains("roomwatch: following") {
                        let _ = addr_tx.send(None);
                    }
                    let mut text = stderr_text.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            })
        };
        let no_listen = args.contains(&"--no-listen");
        let mut addr = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match addr_rx.recv_timeout(left) {
                Ok(Some(a)) => addr = Some(a),
                Ok(None) => {
                    if no_listen || addr.is_some() {
                        break;
                    }
                }
                Err(error) => panic!(
                    "roomwatch did not start ({error}): {}",
                    stderr_text.lock().unwrap()
                ),
            }
            if addr.is_some() && !no_listen {
                // The "following" line comes right after; either order is fine.
                break;
            }
        }
        Self {
            child,
            addr,
            lines,
            stderr: stderr_text,
            data,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.as_deref().unwrap())
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_stderr();
    }

    fn join_stderr(&mut self) {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }

    /// SIGTERM, then waits for the exit (bounded) and returns its status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.join_stderr();
                return status.code();
            }
            if Instant::now() > deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The NDJSON lines so far, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("seq").is_some())
            .collect()
    }

    /// Waits until `done` holds for the lines so far (bounded); returns whether it did.
    pub fn wait_for(&self, within: Duration, done: impl Fn(&[serde_json::Value]) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.events()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Roomwatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A MemberEnter callback for `room` naming the unique member `user`.
pub fn member_enter(room: &str, user: &str, event_time: i64) -> String {
    serde_json::json!({
        "CallbackCommand": "Room.CallbackAfterMemberEnter",
        "Operator_Account": user,
        "RoomId": room,
        "MemberCount": 1,
        "Type": "Enter",
        "MemberList_Account": [user],
        "EventTime": event_time,
    })
    .to_string()
}

pub const APP: &str = "1400000001";

pub fn callback_url(base: &str, command: &str) -> String {
    format!("{base}/?SdkAppid={APP}&CallbackCommand={command}")
}

/// A small multi-threaded runtime for the tests' own HTTP clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The user an NDJSON line's body names (the tests give every callback a unique one).
pub fn user_of(event: &serde_json::Value) -> Option<String> {
    event["body"]["Operator_Account"]
        .as_str()
        .map(str::to_string)
}
