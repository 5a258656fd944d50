//! The relay's marks on the dashboard: the outcome beside each log line, the header segment,
//! and the section of the callback view.

use std::fmt::Write as _;

use ratatui::style::Style;

use super::text::{clock, fit};
use super::theme;
use crate::relay::RelayStatus;
use crate::relay::outcome::{Health, RelayRecord, RelayState};

/// Width of the outcome column in a log line.
const MARK_WIDTH: usize = 22;

/// `→ 200 12ms`, `→ pending`, `→ retrying (attempt 3)`, `→ failed: ...` (red),
/// `→ fallback deny` (a colour of its own), fitted to a column.
pub fn mark(record: &RelayRecord) -> (String, Style) {
    let style = match &record.state {
        RelayState::Delivered { status, .. } if (200..300).contains(status) => theme::good(),
        RelayState::Delivered { .. } | RelayState::Failed { .. } | RelayState::Refused { .. } => {
            theme::rejected()
        }
        RelayState::Pending | RelayState::Retrying { .. } => theme::relay_waiting(),
        RelayState::Fallback { .. } => theme::relay_fallback(),
    };
    (fit(&record.label(), MARK_WIDTH), style)
}

/// The header's relay segment: target host, health, backlog, latency.
pub fn header_segment(status: &RelayStatus, narrow: bool) -> Vec<(String, Style)> {
    let host = reqwest::Url::parse(&status.target)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| status.target.clone());
    let gap = if narrow { " " } else { "  " };
    let mut parts = vec![
        (format!("{gap}→ "), theme::label()),
        (host, theme::value()),
        (" ".into(), Style::new()),
    ];
    match &status.health {
        Health::Ok => parts.push(("ok".into(), theme::good())),
        Health::Unknown => parts.push(("not tried".into(), theme::unknown())),
        Health::Failing { since_ms, .. } => parts.push((
            format!("failing since {}", clock(*since_ms)),
            theme::rejected(),
        )),
    }
    let backlog_style = if status.backlog_full {
        theme::rejected()
    } else {
        theme::value()
    };
    parts.push((" · backlog ".into(), theme::label()));
    parts.push((status.backlog.to_string(), backlog_style));
    if status.backlog_full {
        parts.push((" FULL".into(), theme::rejected()));
    }
    if let (Some(p50), Some(p99)) = (status.p50_ms, status.p99_ms) {
        parts.push((" · p50/p99 ".into(), theme::label()));
        parts.push((format!("{p50}/{p99}ms"), theme::value()));
    }
    parts
}

/// A loud badge while the backend fails or the backlog is full, so that the alarm shows on a
/// narrow screen too, where the header's relay segment is cut off.
pub fn header_badge(status: &RelayStatus) -> Option<(String, Style)> {
    let what = match (&status.health, status.backlog_full) {
        (_, true) => "BACKLOG FULL",
        (Health::Failing { .. }, false) => "FAILING",
        _ => return None,
    };
    Some((
        format!(" RELAY {what} · {} waiting ", status.backlog),
        theme::badge_alarm(),
    ))
}

/// The callback view's relay section: outcome, every attempt, the backend's answer.
pub fn view_lines(record: &RelayRecord) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        format!("Relay ({:?}): {}", record.mode, record.label()).to_lowercase(),
    ];
    match &record.state {
        RelayState::Retrying { reason, .. }
        | RelayState::Failed { reason }
        | RelayState::Refused { reason } => lines.push(format!("  reason: {reason}")),
        RelayState::Fallback { decision, reason } => {
            lines.push(format!("  answered by the fallback ({decision}): {reason}"));
        }
        RelayState::Pending | RelayState::Delivered { .. } => {}
    }
    if let Some(note) = &record.note {
        lines.push(format!("  note: {note}"));
    }
    if record.earlier_attempts > 0 {
        lines.push(format!(
            "  {} earlier attempt(s) not kept",
            record.earlier_attempts
        ));
    }
    let first = record.earlier_attempts as usize + 1;
    for (n, attempt) in record.attempts.iter().enumerate() {
        let mut line = format!(
            "  attempt {} at {}  {}  {} ms",
            first + n,
            clock(attempt.at_ms),
            attempt.result,
            attempt.latency_ms
        );
        if attempt.resigned {
            line.push_str("  (re-signed)");
        }
        if attempt.resend {
            line.push_str("  (resend)");
        }
        lines.push(line);
    }
    if let Some(answer) = &record.answer {
        lines.push("  backend answered:".into());
        let pretty = serde_json::from_str::<serde_json::Value>(answer)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok());
        let text = pretty.as_deref().unwrap_or(answer);
        for line in text.lines() {
            let mut indented = String::from("    ");
            let _ = write!(indented, "{line}");
            lines.push(indented);
        }
    }
    lines
}
