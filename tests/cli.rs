//! The command line as a new user meets it, on the real binary: short listen addresses, a
//! demo that ends the headless run, refused SDKAppIDs, versions everywhere, `send` defaults
//! and its typo hint.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_roomwatch");
const DEADLINE: Duration = Duration::from_secs(30);

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env("ROOMWATCH_NO_JOURNAL", "true");
    cmd.args(args)
        .env_remove("ROOMWATCH_LISTEN")
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_with_deadline(&mut child);
    child.wait_with_output().unwrap()
}

/// Waits for the child to exit, killing it (and failing) past the deadline.
fn wait_with_deadline(child: &mut Child) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("roomwatch did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A headless roomwatch on a free loopback port given as `:0`; returns it and its address.
/// Callers kill and wait on the child.
#[allow(clippy::zombie_processes)]
fn serve() -> (Child, String) {
    let mut child = Command::new(BIN)
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .args(["--headless", "--listen", ":0"])
        .env_remove("ROOMWATCH_SDKAPPID")
        .env_remove("ROOMWATCH_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "exited early");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            return (child, rest.split('/').next().unwrap().to_string());
        }
    }
}

#[test]
fn a_bare_port_listens_on_loopback_and_demo_events_end_the_headless_run() {
    let out = run(
        &[
            "--headless",
            "--listen",
            ":0",
            "--demo",
            "--demo-events",
            "25",
            "--demo-rate",
            "500",
            "--demo-seed",
            "3",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(
        stderr.contains("listening on http://127.0.0.1:"),
        "{stderr}"
    );
    // Every callback the demo sent was answered, so every one is printed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 25, "{stdout}");
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

/// `--workers`: any positive count runs (here 3 receiving threads, the demo's callbacks all
/// printed); zero or a word is refused with status 2.
#[test]
fn the_receiving_threads_are_set_by_workers() {
    let out = run(
        &[
            "--headless",
            "--listen",
            ":0",
            "--workers",
            "3",
            "--demo",
            "--demo-events",
            "25",
            "--demo-rate",
            "500",
        ],
        &[],
    );
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 25);
    for bad in ["0", "many"] {
        let out = run(&["--headless", "--workers", bad], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--workers"), "{stderr}");
    }
}

#[test]
fn a_bad_sdkappid_is_refused_with_status_2() {
    for args in [
        &["--sdkappid", "abc"][..],
        &["send", "Live.CallbackAfterCreateRoom", "--sdkappid", "14x"][..],
    ] {
        let out = run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not an SDKAppID"), "{stderr}");
    }
}

#[test]
fn a_list_of_sdkappids_from_the_environment_is_accepted_and_checked() {
    let out = run(
        &[
            "--headless",
            "--listen",
            ":0",
            "--demo",
            "--demo-events",
            "12",
            "--demo-rate",
            "500",
            "--demo-seed",
            "3",
        ],
        &[("ROOMWATCH_SDKAPPID", "1400000002,1400000001")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    // The demo posts for each app listed in turn; every line says which, and none was
    // refused for its app.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        let app = if i % 2 == 0 {
            "1400000002"
        } else {
            "1400000001"
        };
        assert_eq!(line["sdkappid"], app, "{line}");
        assert_ne!(line["status"], 403, "{line}");
    }
    // One bad item refuses the whole list, from the command line or the environment.
    let out = run(&["--sdkappid", "1400000001,abc"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"abc\" is not an SDKAppID"));
    let out = run(&[], &[("ROOMWATCH_SDKAPPID", "1400000001,,1400000002")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_works_on_every_subcommand() {
    for args in [&["--version"][..], &["send", "--version"][..]] {
        let out = run(args, &[]);
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("roomwatch"), "{stdout}");
        assert!(
            stdout.trim_end().ends_with(env!("CARGO_PKG_VERSION")),
            "{stdout}"
        );
    }
}

#[test]
fn send_defaults_to_the_local_listener_and_takes_host_port() {
    let (mut server, addr) = serve();
    // No --to: the listener named by ROOMWATCH_LISTEN.
    let out = run(
        &["send", "Live.CallbackAfterCreateRoom"],
        &[("ROOMWATCH_LISTEN", &addr)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // host:port, no scheme.
    let out = run(
        &["send", "Live.CallbackAfterCreateRoom", "--to", &addr],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("http://{addr}")), "{stderr}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn send_suggests_the_nearest_command_for_a_typo() {
    let out = run(
        &["send", "Live.CallbackAfterCreatRoom", "--to", "127.0.0.1:1"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let mut stderr = String::new();
    out.stderr.as_slice().read_to_string(&mut stderr).unwrap();
    assert!(
        stderr.contains("did you mean Live.CallbackAfterCreateRoom"),
        "{stderr}"
    );
    let out = run(&["send", "AfterDestoryRoom", "--to", "127.0.0.1:1"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean"), "{stderr}");
    assert!(stderr.contains("DestroyRoom"), "{stderr}");
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef roomwatch"),
        ("fish", "complete -c roomwatch"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(&["completions", shell], &[]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // The flags come from the real definitions.
        assert!(script.contains("demo-events"), "{shell}");
    }
    let out = run(&["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["man"], &[]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH roomwatch"),
        "{page}"
    );
    assert!(page.contains("sdkappid"), "{page}");
}
