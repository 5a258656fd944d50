//! Colours and emphasis, in one place.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};

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
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn title_focused() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}

pub fn label() -> Style {
    Style::new().fg(Color::Gray)
}

pub fn value() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn column_header() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

pub fn ended() -> Style {
    Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM)
}

pub fn unknown() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn rejected() -> Style {
    Style::new().fg(Color::Red)
}

pub fn unrecognized() -> Style {
    Style::new().fg(Color::Magenta)
}

pub fn stale() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn duplicate() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn notice() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD)
}

pub fn badge_filter() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD)
}

pub fn badge_paused() -> Style {
    Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD)
}

pub fn badge_scope() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Green)
        .add_modifier(Modifier::BOLD)
}

pub fn spark() -> Style {
    Style::new().fg(Color::Cyan)
}

pub fn good() -> Style {
    Style::new().fg(Color::Green)
}

pub fn hint_key() -> Style {
    Style::new()
        .fg(Color::Black)
        .bg(Color::Gray)
        .add_modifier(Modifier::BOLD)
}

pub fn json_key() -> Style {
    Style::new().fg(Color::Cyan)
}

pub fn json_string() -> Style {
    Style::new().fg(Color::Green)
}

pub fn json_number() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn json_literal() -> Style {
    Style::new().fg(Color::Magenta)
}
