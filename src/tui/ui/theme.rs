//! Colours and emphasis, in one place.

use ratatui::buffer::Buffer;
use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};

/// The named styles a config file's `[theme]` may change.
pub const STYLE_NAMES: &[&str] = &[
    "title",
    "title_focused",
    "label",
    "value",
    "column_header",
    "selected",
    "ended",
    "unknown",
    "rejected",
    "unrecognized",
    "stale",
    "duplicate",
    "notice",
    "badge_filter",
    "badge_paused",
    "badge_scope",
    "spark",
    "good",
    "hint_key",
    "json_key",
    "json_string",
    "json_number",
    "json_literal",
];

/// A partial change to a named style: only what is set changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StylePatch {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub add: Modifier,
    pub remove: Modifier,
}

/// The theme's changes, set once at start-up from the config file.
static OVERRIDES: OnceLock<Vec<(&'static str, StylePatch)>> = OnceLock::new();

/// Installs the config file's style changes; only the first call counts.
pub fn set_overrides(styles: Vec<(&'static str, StylePatch)>) {
    let _ = OVERRIDES.set(styles);
}

/// A named style with the config's changes applied.
fn themed(name: &str, base: Style) -> Style {
    let Some(patch) = OVERRIDES
        .get()
        .and_then(|o| o.iter().find(|(n, _)| *n == name).map(|(_, p)| *p))
    else {
        return base;
    };
    let mut style = base.add_modifier(patch.add).remove_modifier(patch.remove);
    if let Some(fg) = patch.fg {
        style = style.fg(fg);
    }
    if let Some(bg) = patch.bg {
        style = style.bg(bg);
    }
    style
}

/// Turns a drawn frame monochrome: every colour becomes the terminal's default, and what
/// colour told apart is kept with emphasis (filled badges and the focused title in reverse
/// video, alarms in bold).
///
/// No colour is left for the backend to emit at all. That matters beyond taste: with
/// `NO_COLOR` set, crossterm 0.29 writes a colour change as `ESC[m` / `ESC[;m`, which resets
/// bold and reverse video in the middle of a row.
pub fn monochrome(buffer: &mut Buffer) {
    for cell in &mut buffer.content {
        if cell.bg != Color::Reset {
            cell.modifier.insert(Modifier::REVERSED);
        }
        if matches!(cell.fg, Color::Red | Color::LightRed | Color::Magenta) {
            cell.modifier.insert(Modifier::BOLD);
        }
        cell.fg = Color::Reset;
        cell.bg = Color::Reset;
        cell.underline_color = Color::Reset;
    }
}

pub fn title() -> Style {
    themed(
        "title",
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    )
}

pub fn title_focused() -> Style {
    themed(
        "title_focused",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    )
}

pub fn label() -> Style {
    themed("label", Style::new().fg(Color::Gray))
}

pub fn value() -> Style {
    themed("value", Style::new().add_modifier(Modifier::BOLD))
}

pub fn column_header() -> Style {
    themed(
        "column_header",
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    )
}

pub fn selected() -> Style {
    themed("selected", Style::new().add_modifier(Modifier::REVERSED))
}

pub fn ended() -> Style {
    themed(
        "ended",
        Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM),
    )
}

pub fn unknown() -> Style {
    themed("unknown", Style::new().fg(Color::DarkGray))
}

pub fn rejected() -> Style {
    themed("rejected", Style::new().fg(Color::Red))
}

pub fn unrecognized() -> Style {
    themed("unrecognized", Style::new().fg(Color::Magenta))
}

pub fn stale() -> Style {
    themed("stale", Style::new().fg(Color::Yellow))
}

pub fn duplicate() -> Style {
    themed("duplicate", Style::new().fg(Color::DarkGray))
}

pub fn notice() -> Style {
    themed(
        "notice",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
    )
}

pub fn badge_filter() -> Style {
    themed(
        "badge_filter",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
    )
}

pub fn badge_paused() -> Style {
    themed(
        "badge_paused",
        Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD),
    )
}

/// Something is wrong that loses data if ignored (no journal, journal failing).
pub fn badge_alarm() -> Style {
    Style::new()
        .fg(Color::Yellow)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD)
}

pub fn badge_scope() -> Style {
    themed(
        "badge_scope",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Green)
            .add_modifier(Modifier::BOLD),
    )
}

pub fn spark() -> Style {
    themed("spark", Style::new().fg(Color::Cyan))
}

pub fn good() -> Style {
    themed("good", Style::new().fg(Color::Green))
}

pub fn hint_key() -> Style {
    themed(
        "hint_key",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Gray)
            .add_modifier(Modifier::BOLD),
    )
}

pub fn json_key() -> Style {
    themed("json_key", Style::new().fg(Color::Cyan))
}

pub fn json_string() -> Style {
    themed("json_string", Style::new().fg(Color::Green))
}

pub fn json_number() -> Style {
    themed("json_number", Style::new().fg(Color::Yellow))
}

pub fn json_literal() -> Style {
    themed("json_literal", Style::new().fg(Color::Magenta))
}

/// A "before" callback answered by the fallback policy, not the backend.
pub fn relay_fallback() -> Style {
    Style::new()
        .fg(Color::LightBlue)
        .add_modifier(Modifier::BOLD)
}

/// A relay still on its way: pending or retrying.
pub fn relay_waiting() -> Style {
    Style::new().fg(Color::Yellow)
}
