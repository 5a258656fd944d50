//! Colours and emphasis, in one place.

use ratatui::style::{Color, Modifier, Style};

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
