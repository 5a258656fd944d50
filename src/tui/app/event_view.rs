//! The overlay that shows one callback in full: verdict, request, reply and pretty body.

use std::fmt::Write as _;

use crate::store::LogEntry;

/// The whole callback of one log line, laid out once when opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    pub seq: u64,
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: usize,
}

/// Lays out the JSON view of one event.
pub fn event_view(entry: &LogEntry) -> EventView {
    let event = &entry.event;
    let command = event.command.as_deref().unwrap_or("(no command)");
    let mut lines = Vec::new();
    let mut verdict = format!("{:?}", event.verdict).to_lowercase();
    if !entry.effect.label().is_empty() {
        let _ = write!(verdict, ", {}", entry.effect.label());
    }
    lines.push(format!("Verdict: {verdict}"));
    if let Some(error) = &event.error {
        lines.push(format!("Reason:  {error}"));
    }
    for trim in &event.trimmed {
        lines.push(format!("Limit:   {trim}"));
    }
    if event.clock_skew {
        lines.push(format!(
            "Clock skew: EventTime {} is ahead of arrival beyond the allowed skew; ordered by arrival",
            event
                .claimed_time_ms()
                .map_or_else(String::new, crate::outputs::headless::rfc3339)
        ));
    }
    lines.push(format!(
        "Received: {}  from {}",
        crate::outputs::headless::rfc3339(event.received_at_ms),
        event.remote.as_deref().unwrap_or("?")
    ));
    lines.push(format!("Request: {} {}", event.method, event.path));
    let auth = match event.auth {
        Some(crate::ingest::auth::AuthVerdict::Signed) => "signed, signature checked",
        Some(crate::ingest::auth::AuthVerdict::Unchecked) => "unchecked (no token configured)",
        None => "not reached",
    };
    lines.push(format!("Auth: {auth}"));
    lines.push(String::new());
    lines.push("Query parameters:".into());
    if event.query.is_empty() {
        lines.push("  (none)".into());
    }
    for (key, value) in event.query.redacted() {
        lines.push(format!("  {key} = {value}"));
    }
    lines.push(String::new());
    lines.push(format!(
        "Reply: {}  {}",
        event.reply.status, event.reply.body
    ));
    lines.push(String::new());
    if event.body_cut() {
        lines.push(format!(
            "Body ({} bytes, the first {} kept):",
            event.body_len,
            event.raw_body.len()
        ));
    } else {
        lines.push(format!("Body ({} bytes):", event.body_len));
    }
    if event.raw_body.is_empty() {
        lines.push("(empty)".into());
    } else {
        // Parsed only now, for this view: the log keeps bytes, not trees.
        lines.extend(crate::rawbody::pretty_lines(&event.raw_body));
    }
    EventView {
        seq: event.seq,
        title: format!("#{} {command}", event.seq),
        lines,
        scroll: 0,
    }
}
