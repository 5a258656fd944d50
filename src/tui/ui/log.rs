//! The event log pane: only the visible lines are formatted.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::text::fit;
use super::{fit_line, focused, theme, title_line};
use crate::event::Verdict;
use crate::eventlog::Journaled;
use crate::protocol::{AdminOp, Payload, RoomInfo, short_name};
use crate::store::{Effect, LogEntry, show_public};
use crate::tui::app::{App, LogRow, Pane};

pub fn pane(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let rows = app.log_rows();
    let scope = match &app.scope_room {
        Some(room) if app.shows_apps() && !room.app.is_empty() => {
            format!(" room {} · app {} ", room.id, room.app)
        }
        Some(room) => format!(" room {} ", room.id),
        None => " all rooms ".to_string(),
    };
    let mut details = vec![(scope, theme::label())];
    details.push((format!("· {} lines ", rows.len()), theme::label()));
    let history = app.history();
    if history.busy() {
        details.push(("· reading the journal… ".into(), theme::badge_paused()));
    } else if !history.is_empty() {
        let at_start = history.start_reached() && app.log_cursor_index() == Some(0);
        let text = if at_start {
            format!("· {} from the journal, start reached ", history.len())
        } else {
            format!("· {} from the journal ", history.len())
        };
        details.push((text, theme::label()));
    }
    // Lines only show the time of day: say the day when the cursor is on an earlier one.
    if let Some(entry) = app.log_cursor.and_then(|row| app.entry(row.seq)) {
        let zone = app.info.zone;
        let (at, now) = (
            zone.date_time(entry.event.received_at_ms),
            zone.date_time(app.now_ms),
        );
        if at.get(..10) != now.get(..10) {
            details.push((format!("· {} ", at.get(..10).unwrap_or("")), theme::label()));
        }
    }
    if app.paused() {
        details.push((
            format!(" PAUSED · {} new ", app.new_while_paused),
            theme::badge_paused(),
        ));
        details.push((" End/G resumes ".into(), theme::label()));
    } else {
        details.push(("· following ".into(), theme::label()));
    }
    let mut lines = vec![title_line("Log", details, focused(app, Pane::Log), width)];
    let height = usize::from(area.height).saturating_sub(1);
    if rows.is_empty() && height > 0 {
        let message = if app.store.log().is_empty() {
            app.info.waiting_for()
        } else {
            "no log lines match".to_string()
        };
        lines.push(fit_line(vec![(message, theme::unknown())], width));
    }
    let cursor = app.log_cursor_index();
    let end = match (app.log_cursor, cursor) {
        (Some(_), Some(c)) => (c + 1).max(height.min(rows.len())),
        _ => rows.len(),
    };
    let start = end.saturating_sub(height);
    let highlight = app.paused() || focused(app, Pane::Log);
    for (i, row) in rows[start..end].iter().enumerate() {
        let mut line = log_line(app, *row, width);
        if highlight && Some(start + i) == cursor {
            line = line.patch_style(theme::selected());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// Width of the app column, shown when rooms of several apps can be listed: SDKAppIDs are
/// ten digits today.
const APP_W: usize = 10;

fn log_line(app: &App, row: LogRow, width: usize) -> Line<'static> {
    if let Some(i) = row.notice {
        let text = app.notices.get(i).map_or("", |n| n.text.as_str());
        return fit_line(vec![(format!(" ⚠ {text} "), theme::notice())], width);
    }
    let Some(entry) = app.entry(row.seq) else {
        return fit_line(
            vec![(format!("#{} (no longer held)", row.seq), theme::unknown())],
            width,
        );
    };
    let event = &entry.event;
    let (cmd_w, room_w, op_w) = if width >= 120 {
        (24, 20, 14)
    } else {
        (14, 12, 10)
    };
    let (mark, style) = match (event.verdict, entry.effect) {
        (Verdict::Rejected, _) => ("✗", theme::rejected()),
        (Verdict::Unrecognized, _) => ("?", theme::unrecognized()),
        (_, Effect::Stale) => ("~", theme::stale()),
        (_, Effect::Duplicate) => ("=", theme::duplicate()),
        _ => (" ", Style::new()),
    };
    let command = event.command.as_deref().map_or("—", short_name);
    let room = event.room_id.as_deref().unwrap_or("—");
    let operator = event.operator().unwrap_or("—");
    let mut parts = vec![
        (app.info.zone.clock(event.received_at_ms), theme::label()),
        (format!(" {mark} "), style),
        (fit(command, cmd_w), style),
        (" ".into(), Style::new()),
    ];
    if app.shows_apps() {
        // The same RoomId under two apps is two rooms: the line says which.
        let sdkappid = Some(event.sdkappid()).filter(|a| !a.is_empty());
        parts.push((fit(sdkappid.unwrap_or("—"), APP_W), style));
        parts.push((" ".into(), Style::new()));
    }
    parts.extend([
        (fit(room, room_w), style.patch(theme::value())),
        (" ".into(), Style::new()),
        (fit(operator, op_w), style),
        (" ".into(), Style::new()),
    ]);
    if let Some(record) = app.relay.record(event.seq) {
        parts.push(super::relay::mark(record));
        parts.push((" ".into(), Style::new()));
    }
    // Answered from memory while the journal failed: said on the line itself, not only in
    // the header's count.
    let journaled = app
        .journal_health
        .as_ref()
        .map_or(Journaled::Yes, |health| health.journaled(event.seq));
    match journaled {
        Journaled::Yes => {}
        Journaled::Waiting => parts.push(("not journaled yet ".into(), theme::badge_alarm())),
        Journaled::Lost => parts.push(("not journaled ".into(), theme::badge_alarm())),
    }
    if journaled != Journaled::Yes {
        parts.push((" ".into(), Style::new()));
    }
    parts.push((summary(entry), style));
    fit_line(parts, width)
}

fn info_summary(info: &RoomInfo) -> String {
    let mut parts = Vec::new();
    if let Some(name) = &info.name {
        parts.push(format!("name={name}"));
    }
    if let Some(mode) = &info.seat_mode {
        parts.push(mode.label().to_string());
    }
    if let Some(public) = &info.public {
        parts.push(show_public(public));
    }
    if let Some(owner) = &info.owner {
        parts.push(format!("owner={owner}"));
    }
    if let Some(max) = info.max_member_count {
        parts.push(format!("cap={max}"));
    }
    if let Some(off) = info.message_disabled {
        parts.push(format!("messages {}", if off { "off" } else { "on" }));
    }
    parts.join(" ")
}

/// One line about what an event says.
pub fn summary(entry: &LogEntry) -> String {
    let event = &entry.event;
    let mut text = match entry.effect {
        Effect::Stale => "[stale, older than state] ".to_string(),
        Effect::Duplicate => "[duplicate, ignored] ".to_string(),
        _ => String::new(),
    };
    if event.clock_skew {
        text.push_str("[clock-skew, ordered by arrival] ");
    }
    for trim in &event.trimmed {
        let _ = write!(text, "[{trim}] ");
    }
    if event.verdict == Verdict::Rejected {
        let reason = event
            .error
            .as_ref()
            .map_or_else(|| "rejected".to_string(), ToString::to_string);
        let _ = write!(text, "{} {reason}", event.reply.status);
        return text;
    }
    let Some(callback) = &event.callback else {
        text.push_str("unrecognized command, acknowledged");
        return text;
    };
    let list = |items: &[String]| items.join(", ");
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let body = match &callback.payload {
        Payload::CreateRoom(info) => format!("created {}", info_summary(info)),
        Payload::UpdateRoomInfo(info) => info_summary(info),
        Payload::DestroyRoom { cause, .. } => {
            format!("ended {}", cause.clone().unwrap_or_default())
        }
        Payload::SetMetadata { pairs, .. } => format!(
            "set {}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Payload::DelMetadata { keys, .. } => format!("deleted {}", list(keys)),
        Payload::Threshold { current, max, .. } => format!(
            "room count {} of {}",
            current.map_or("?".into(), |c| c.to_string()),
            max.map_or("?".into(), |c| c.to_string())
        ),
        Payload::MemberState {
            online,
            cause,
            members,
            ..
        } => {
            let state = match online {
                Some(true) => "online",
                Some(false) => "offline",
                None => "state ?",
            };
            let cause = cause
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            format!("{state}{cause}: {}", list(members))
        }
        Payload::ChangeOwner {
            current, original, ..
        } => format!("owner {} -> {}", opt(original), opt(current)),
        Payload::ModifyAdmin { admins, op, .. } => {
            let verb = match op {
                Some(AdminOp::Add) => "admins added",
                Some(AdminOp::Delete) => "admins removed",
                None => "admins ?",
            };
            format!("{verb}: {}", list(admins))
        }
        Payload::SeatInfo { seats, .. } => seats
            .iter()
            .map(|s| format!("#{} {}", s.index, s.member.as_deref().unwrap_or("empty")))
            .collect::<Vec<_>>()
            .join(", "),
        Payload::CreateBattle {
            battle_id,
            to_rooms,
            ..
        } => format!("battle {} invites {}", opt(battle_id), list(to_rooms)),
        Payload::StartBattle { battle_id, .. } => format!("battle {} started", opt(battle_id)),
        Payload::EndBattle { battle_id, .. } => format!("battle {} ended", opt(battle_id)),
        Payload::Gift {
            from,
            to,
            gift_id,
            count,
            ..
        } => format!(
            "gift {}×{} {} -> {}",
            opt(gift_id),
            count.unwrap_or(1),
            opt(from),
            list(to)
        ),
        Payload::Message { from, summary, .. } => {
            format!("{}: {}", opt(from), summary.clone().unwrap_or_default())
        }
        Payload::Follow { add, from, to } => format!(
            "{} {} {}",
            opt(from),
            if *add { "follows" } else { "unfollows" },
            list(to)
        ),
        Payload::Recording {
            user_id, status, ..
        } => format!(
            "recording {} status {}",
            opt(user_id),
            status.map_or("?".into(), |s| s.to_string())
        ),
    };
    text.push_str(&body);
    text
}
