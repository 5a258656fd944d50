//! The config file: every setting in the sample takes effect, the command line wins over it,
//! and a broken file is refused naming its line.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use clap::{CommandFactory, FromArgMatches};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};
use roomwatch::cli::Cli;
use roomwatch::config;
use roomwatch::tui::keymap::{self, Action, action_for};
use roomwatch::tui::ui::theme;

const SAMPLE: &str = include_str!("../assets/config.sample.toml");
const SAMPLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/config.sample.toml");

fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

/// One test: the keymap and theme are set once per process.
#[test]
fn every_setting_in_the_sample_takes_effect() {
    let sample = config::parse(SAMPLE, "config.sample.toml").unwrap();
    // [run]: folded into the command line when nothing else set them.
    let matches = Cli::command().get_matches_from(["roomwatch"]);
    let mut argv = vec!["roomwatch".into()];
    argv.extend(config::extra_args(&sample, &matches).unwrap());
    let cli = Cli::from_arg_matches(&Cli::command().get_matches_from(argv)).unwrap();
    let run = cli.run;
    assert_eq!(run.listen, "127.0.0.1:9100".parse().unwrap());
    assert_eq!(run.sdkappid, ["1400000001", "1400000002"]);
    assert_eq!(run.sign_window, 120);
    assert_eq!(run.max_body, 2 * 1024 * 1024);
    assert_eq!(run.history, 20_000);
    assert_eq!(run.header_timeout.as_secs(), 15);
    assert_eq!(run.idle_timeout.as_secs(), 120);
    assert_eq!(run.max_connections, 256);
    assert!((run.demo_rate - 8.0).abs() < f64::EPSILON);
    assert!(run.utc);
    assert!(run.no_mouse);
    assert_eq!(
        sample.run.len(),
        11,
        "a [run] key in the sample is not checked here"
    );

    // [keys]
    keymap::set_overrides(sample.keys.overrides.clone());
    let none = KeyModifiers::NONE;
    assert_eq!(
        action_for(&press(KeyCode::Char('o'), none)),
        Some(Action::SortNext)
    );
    assert_eq!(action_for(&press(KeyCode::Char('s'), none)), None);
    assert_eq!(
        action_for(&press(KeyCode::Char('O'), KeyModifiers::SHIFT)),
        Some(Action::SortReverse)
    );
    assert_eq!(
        action_for(&press(KeyCode::Char('y'), KeyModifiers::CONTROL)),
        Some(Action::Copy)
    );
    assert_eq!(
        action_for(&press(KeyCode::Char('P'), none)),
        Some(Action::TogglePlots)
    );
    assert_eq!(sample.keys.overrides.len(), 4);
    // Help follows the overrides.
    let sort = keymap::BINDINGS
        .iter()
        .find(|b| b.action == Action::SortNext)
        .unwrap();
    assert_eq!(keymap::keys_label(sort), "o");

    // [theme]
    theme::set_overrides(sample.theme.styles.clone());
    let selected = theme::selected();
    assert_eq!(selected.bg, Some(Color::Blue));
    assert_eq!(selected.fg, Some(Color::White));
    assert!(!selected.add_modifier.contains(Modifier::REVERSED));
    let rejected = theme::rejected();
    assert_eq!(rejected.fg, Some(Color::LightRed));
    assert!(rejected.add_modifier.contains(Modifier::BOLD));
    assert_eq!(sample.theme.styles.len(), 2);
    // Styles not named keep their defaults.
    assert_eq!(theme::good().fg, Some(Color::Green));
}

#[test]
fn broken_files_name_the_line() {
    let cases = [
        (
            "[run]\nlisten = \"9100\"\ncolour = 1\n",
            3,
            "unknown run option",
        ),
        ("[run]\nhistory = [1, 2]\n", 2, "takes one value"),
        (
            "[run]\nsdkappid = [1400000001, 1.5]\n",
            2,
            "a list item is text or a number",
        ),
        ("[run]\nsdkappid = [[1]]\n", 2, "a list item"),
        ("\n[run\nlisten = 1\n", 2, ""),
        ("[keys]\nsort_next = \"j\"\n", 2, "would do both"),
        ("[keys]\n\nfly = \"f\"\n", 3, "unknown action"),
        ("[keys]\ncopy = \"Hyper-y\"\n", 2, "unknown key"),
        (
            "[theme]\nselected = { fg = \"purpleish\" }\n",
            2,
            "unknown colour",
        ),
        ("[theme]\nsparkles = { fg = \"red\" }\n", 2, "unknown style"),
        ("[colours]\nx = 1\n", 1, "unknown section"),
    ];
    for (text, line, words) in cases {
        let error = config::parse(text, "c.toml").unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("c.toml:{line}: ")),
            "{text:?}: {error}"
        );
        assert!(error.contains(words), "{text:?}: {error}");
    }
}

#[test]
fn the_binary_reads_the_file_and_the_command_line_wins() {
    // The sample listens on 9100; the command line's free port wins, and the run works.
    let out = Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .args([
            "--config",
            SAMPLE_PATH,
            "--headless",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--demo", "--demo-events", "3", "--demo-rate", "500"])
        .env_remove("ROOMWATCH_LISTEN")
        .env_remove("ROOMWATCH_SDKAPPID")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(":9100"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    // A broken file: status 2, the path and line on stderr.
    let dir = std::env::temp_dir().join(format!("roomwatch-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("config.toml");
    std::fs::write(&bad, "[run]\n\nlisten = \"nowhere\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roomwatch"))
        .env("ROOMWATCH_NO_JOURNAL", "true")
        .args(["--headless"])
        .env("XDG_CONFIG_HOME", &dir)
        .env("ROOMWATCH_CONFIG", &bad)
        .env_remove("ROOMWATCH_LISTEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nowhere"), "{stderr}");
    assert!(stderr.contains("config.toml:3: "), "{stderr}");
}
