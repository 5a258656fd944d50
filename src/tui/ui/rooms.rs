//! The rooms table and the detail pane of the selected room.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::text::{age, fit, fit_right, join_fitting};
use super::{fit_line, focused, theme, title_line};
use crate::store::{Battle, Room, Versioned, show_bool, show_list, show_public};
use crate::tui::app::{App, Pane};

const UNKNOWN: &str = "?";

/// Column widths for a table `width` cells wide: id, name, mode, visibility, owner, admins,
/// online, age (one space between columns).
fn columns(width: usize) -> [usize; 8] {
    let fixed = 11 + 7 + 3 + 4 + 4 + 7;
    let flex = width.saturating_sub(fixed).max(9);
    let id = flex * 35 / 100;
    let name = flex * 40 / 100;
    let owner = flex - id - name;
    [id, name, 11, 7, owner, 3, 4, 4]
}

fn cell(text: Option<String>, width: usize, right: bool, style: Style) -> (String, Style) {
    match text {
        Some(text) if right => (fit_right(&text, width), style),
        Some(text) => (fit(&text, width), style),
        None if right => (fit_right(UNKNOWN, width), theme::unknown()),
        None => (fit(UNKNOWN, width), theme::unknown()),
    }
}

fn shown<T>(field: Option<&Versioned<T>>, show: impl Fn(&T) -> String) -> Option<String> {
    field.map(|v| show(&v.value))
}

pub fn table(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let order = app.room_order();
    let total = app.store.rooms().len();
    let count = if order.len() == total {
        format!("{total}")
    } else {
        format!("{} of {total}", order.len())
    };
    let mut lines = vec![title_line(
        "Rooms",
        vec![(format!(" {count} · most recent first "), theme::label())],
        focused(app, Pane::Rooms),
        width,
    )];
    let cols = columns(width);
    let header = [
        "ROOM ID",
        "NAME",
        "SEAT MODE",
        "VIS",
        "OWNER",
        "ADM",
        "ONL",
        "AGE",
    ];
    let mut parts = Vec::new();
    for (i, (name, w)) in header.iter().zip(cols).enumerate() {
        let text = if i >= 5 {
            fit_right(name, w)
        } else {
            fit(name, w)
        };
        parts.push((text, theme::column_header()));
        parts.push((" ".to_string(), Style::new()));
    }
    lines.push(fit_line(parts, width));
    let rows_h = usize::from(area.height).saturating_sub(2);
    if order.is_empty() && rows_h > 0 {
        let message = if total == 0 {
            "no rooms yet: waiting for callbacks".to_string()
        } else {
            format!("no room id or name contains {:?}", app.filter)
        };
        lines.push(fit_line(vec![(message, theme::unknown())], width));
    }
    let selected = app.selected_index().unwrap_or(0);
    let start = (selected + 1).saturating_sub(rows_h);
    for (offset, id) in order.iter().skip(start).take(rows_h).enumerate() {
        let Some(room) = app.store.room(id) else {
            continue;
        };
        let mut line = room_row(app, room, &cols, width);
        if room.is_ended() {
            line = line.patch_style(theme::ended());
        }
        if start + offset == selected {
            line = line.patch_style(theme::selected());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn room_row(app: &App, room: &Room, cols: &[usize; 8], width: usize) -> Line<'static> {
    let plain = Style::new();
    let admins = (!room.admins.is_empty()).then(|| room.admin_list().len().to_string());
    // A destroyed room has nobody in it, whatever presence was last reported.
    let online = if room.is_ended() {
        Some("0".to_string())
    } else {
        (!room.members.is_empty()).then(|| room.online_count().to_string())
    };
    let last = room
        .last_event_ms
        .map(|t| age(app.now_ms.saturating_sub(t)));
    let cells = [
        cell(Some(room.id.clone()), cols[0], false, theme::value()),
        cell(
            shown(room.name.as_ref(), String::clone),
            cols[1],
            false,
            plain,
        ),
        cell(
            shown(room.seat_mode.as_ref(), |m| m.label().to_string()),
            cols[2],
            false,
            plain,
        ),
        cell(
            shown(room.public.as_ref(), show_public),
            cols[3],
            false,
            plain,
        ),
        cell(
            shown(room.owner.as_ref(), String::clone),
            cols[4],
            false,
            plain,
        ),
        cell(admins, cols[5], true, plain),
        cell(online, cols[6], true, plain),
        cell(last, cols[7], true, plain),
    ];
    let mut parts = Vec::with_capacity(16);
    for c in cells {
        parts.push(c);
        parts.push((" ".to_string(), plain));
    }
    fit_line(parts, width)
}

/// `label: value` with `?` for an unknown value.
fn kv(parts: &mut Vec<(String, Style)>, label: &str, value: Option<String>) {
    if !parts.is_empty() {
        parts.push(("   ".into(), Style::new()));
    }
    parts.push((format!("{label}: "), theme::label()));
    match value {
        Some(v) => parts.push((v, theme::value())),
        None => parts.push((UNKNOWN.into(), theme::unknown())),
    }
}

pub fn detail(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let room = app.selected.as_deref().and_then(|id| app.store.room(id));
    let body_h = usize::from(area.height).saturating_sub(1);
    let room_lines =
        room.map(|room| detail_lines(app, room, width.saturating_sub(1), body_h >= 16));
    let total = room_lines.as_ref().map_or(0, Vec::len);
    let scroll = app.detail_scroll.min(total.saturating_sub(body_h));
    let mut title = match room {
        Some(room) => vec![(format!(" {} ", room.id), theme::value())],
        None => vec![],
    };
    if total > body_h {
        let below = total - scroll - body_h.min(total - scroll);
        let arrows = match (scroll > 0, below > 0) {
            (true, true) => "↑↓",
            (true, false) => "↑",
            _ => "↓",
        };
        title.push((
            format!(
                " {arrows} lines {}-{} of {total} ",
                scroll + 1,
                scroll + body_h
            ),
            theme::label(),
        ));
    }
    let mut lines = vec![title_line("Room", title, focused(app, Pane::Detail), width)];
    let (Some(room_lines), Some(_)) = (room_lines, room) else {
        // The same one-cell margin as room lines, so the text never runs into the table.
        lines.push(fit_line(
            vec![
                (" ".to_string(), Style::new()),
                ("no room selected".into(), theme::unknown()),
            ],
            width,
        ));
        frame.render_widget(Paragraph::new(lines), area);
        return;
    };
    for parts in room_lines.into_iter().skip(scroll).take(body_h) {
        let mut with_margin = vec![(" ".to_string(), Style::new())];
        with_margin.extend(parts);
        lines.push(fit_line(with_margin, width));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The detail lines, most useful first (a short pane shows the top ones).
/// How far the detail pane can scroll for the selected room at the current size.
pub fn max_scroll(app: &App) -> usize {
    let areas = super::layout(Rect::new(0, 0, app.size.0, app.size.1));
    let body_h = usize::from(areas.detail.height).saturating_sub(1);
    let width = usize::from(areas.detail.width).saturating_sub(1);
    app.selected
        .as_deref()
        .and_then(|id| app.store.room(id))
        .map_or(0, |room| {
            detail_lines(app, room, width, body_h >= 16)
                .len()
                .saturating_sub(body_h)
        })
}

/// `roomy`: tall enough to give each change of the last update its own line.
fn detail_lines(app: &App, room: &Room, width: usize, roomy: bool) -> Vec<Vec<(String, Style)>> {
    let mut out = Vec::new();

    let mut line = Vec::new();
    kv(&mut line, "Name", shown(room.name.as_ref(), String::clone));
    kv(
        &mut line,
        "Owner",
        shown(room.owner.as_ref(), String::clone),
    );
    let status = if room.is_ended() {
        let ending = room.destroyed.as_ref().map(|d| &d.value);
        let cause = ending.and_then(|e| e.cause.clone()).unwrap_or_default();
        let by = ending
            .and_then(|e| e.by.as_ref())
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        format!("ENDED {cause}{by}")
    } else if room.created.is_some() {
        "live".into()
    } else {
        "live (creation not seen)".into()
    };
    line.push(("   ".into(), Style::new()));
    line.push((
        status,
        if room.is_ended() {
            theme::rejected()
        } else {
            theme::good()
        },
    ));
    out.push(line);

    let mut line = Vec::new();
    kv(
        &mut line,
        "Seat mode",
        shown(room.seat_mode.as_ref(), |m| m.label().to_string()),
    );
    kv(
        &mut line,
        "Visibility",
        shown(room.public.as_ref(), show_public),
    );
    kv(
        &mut line,
        "Seats on",
        shown(room.seat_enabled.as_ref(), show_bool),
    );
    kv(
        &mut line,
        "Max seats",
        shown(room.max_seat_count.as_ref(), i64::to_string),
    );
    out.push(line);

    let admins = room.admin_list();
    let admins_text = if room.admins.is_empty() {
        None
    } else if admins.is_empty() {
        Some("(none)".to_string())
    } else {
        Some(join_fitting(
            admins.iter().copied(),
            width.saturating_sub(8),
        ))
    };
    let mut line = Vec::new();
    kv(&mut line, "Admins", admins_text);
    out.push(line);

    let online = room.online_members();
    let mut line = Vec::new();
    if room.is_ended() {
        kv(&mut line, "Online", Some("nobody (room ended)".into()));
    } else if room.members.is_empty() {
        kv(&mut line, "Online", None);
    } else {
        let label = format!("Online ({})", online.len());
        let list = if online.is_empty() {
            "(none)".to_string()
        } else {
            join_fitting(
                online.iter().copied(),
                width.saturating_sub(label.len() + 2),
            )
        };
        kv(&mut line, &label, Some(list));
    }
    out.push(line);

    if let Some(change) = &room.last_change {
        let by = change
            .operator
            .as_ref()
            .map(|o| format!(" by {o}"))
            .unwrap_or_default();
        let mut line = vec![(
            format!("Changed ({}{by}): ", change.command.short()),
            theme::label(),
        )];
        for (i, c) in change.changes.iter().enumerate() {
            if roomy {
                out.push(std::mem::take(&mut line));
                line.push((format!("  {}: ", c.field), theme::label()));
            } else if i > 0 {
                line.push(("; ".into(), theme::label()));
            } else {
                line.push((format!("{} ", c.field), theme::label()));
            }
            if !roomy && i > 0 {
                line.push((format!("{} ", c.field), theme::label()));
            }
            match &c.before {
                Some(before) => line.push((before.clone(), Style::new())),
                None => line.push((UNKNOWN.into(), theme::unknown())),
            }
            line.push((" -> ".into(), theme::label()));
            line.push((c.after.clone(), theme::value()));
        }
        out.push(line);
    }

    let mut line = Vec::new();
    if room.seats.is_empty() {
        kv(&mut line, "Seats", None);
    } else {
        let seats: Vec<String> = room
            .seats
            .iter()
            .map(|(index, seat)| {
                let who = seat.value.member.as_deref().unwrap_or("empty");
                let lock = if seat.value.locked == Some(true) {
                    " (locked)"
                } else {
                    ""
                };
                format!("#{index} {who}{lock}")
            })
            .collect();
        kv(
            &mut line,
            "Seats",
            Some(join_fitting(
                seats.iter().map(String::as_str),
                width.saturating_sub(7),
            )),
        );
    }
    out.push(line);

    let pairs = room.metadata_pairs();
    let mut line = Vec::new();
    if room.metadata.is_empty() {
        kv(&mut line, "Metadata", None);
    } else {
        let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let text = if shown.is_empty() {
            "(none)".to_string()
        } else {
            join_fitting(shown.iter().map(String::as_str), width.saturating_sub(10))
        };
        kv(&mut line, "Metadata", Some(text));
    }
    out.push(line);

    let mut line = Vec::new();
    kv(
        &mut line,
        "Messages off",
        shown(room.message_disabled.as_ref(), show_bool),
    );
    kv(
        &mut line,
        "Member cap",
        shown(room.max_member_count.as_ref(), i64::to_string),
    );
    kv(
        &mut line,
        "Type",
        shown(room.room_type.as_ref(), String::clone),
    );
    out.push(line);

    let mut line = Vec::new();
    kv(
        &mut line,
        "Custom info",
        shown(room.custom_info.as_ref(), String::clone),
    );
    out.push(line);

    let mut line = Vec::new();
    kv(
        &mut line,
        "Created at",
        shown(room.create_time_s.as_ref(), |s| {
            crate::outputs::headless::rfc3339(s.saturating_mul(1000))
        }),
    );
    kv(
        &mut line,
        "Last event",
        room.last_event_ms
            .map(|t| format!("{} ago", age(app.now_ms.saturating_sub(t)))),
    );
    out.push(line);

    let mut line = Vec::new();
    kv(
        &mut line,
        "Category",
        shown(room.category.as_ref(), |c| show_list(c)),
    );
    kv(
        &mut line,
        "Activity",
        shown(room.activity_status.as_ref(), i64::to_string),
    );
    kv(
        &mut line,
        "Views",
        shown(room.view_count.as_ref(), i64::to_string),
    );
    kv(
        &mut line,
        "Unlimited",
        shown(room.unlimited.as_ref(), show_bool),
    );
    out.push(line);

    let mut line = Vec::new();
    kv(
        &mut line,
        "Cover",
        shown(room.cover_url.as_ref(), String::clone),
    );
    out.push(line);
    let mut line = Vec::new();
    kv(
        &mut line,
        "Background",
        shown(room.background_url.as_ref(), String::clone),
    );
    out.push(line);

    let mut line = Vec::new();
    kv(&mut line, "Gifts", Some(room.gifts.gifts.to_string()));
    kv(&mut line, "Coins", Some(room.gifts.coins.to_string()));
    kv(&mut line, "Messages", Some(room.messages.to_string()));
    out.push(line);
    if !room.battles.is_empty() {
        let battles = app.store.battles();
        let summaries: Vec<String> = room
            .battles
            .iter()
            .map(|id| {
                battles
                    .get(id)
                    .map_or_else(|| id.clone(), |b| battle_summary(b, &room.id))
            })
            .collect();
        let mut line = Vec::new();
        kv(
            &mut line,
            "Battles",
            Some(join_fitting(
                summaries.iter().map(String::as_str),
                width.saturating_sub(10),
            )),
        );
        out.push(line);
    }

    let counts: Vec<String> = room
        .counts
        .iter()
        .map(|(command, n)| format!("{} {n}", command.short()))
        .collect();
    let mut line = Vec::new();
    kv(
        &mut line,
        "Callbacks",
        Some(join_fitting(
            counts.iter().map(String::as_str),
            width.saturating_sub(11),
        )),
    );
    out.push(line);
    out
}

/// One battle as seen from `room_id`: `b-7Q2mXh0= ended 4200 vs live_9002 3900`.
fn battle_summary(battle: &Battle, room_id: &str) -> String {
    let score = |id: &str| {
        battle
            .scores
            .get(id)
            .copied()
            .flatten()
            .map(|s| format!(" {s}"))
            .unwrap_or_default()
    };
    let others: Vec<String> = battle
        .scores
        .keys()
        .filter(|id| id.as_str() != room_id)
        .map(|id| format!("{id}{}", score(id)))
        .collect();
    format!(
        "{} {}{} vs {}",
        battle.id,
        battle.phase.label(),
        score(room_id),
        if others.is_empty() {
            "?".to_string()
        } else {
            others.join(", ")
        }
    )
}
