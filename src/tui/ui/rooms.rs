//! The rooms table and the detail pane of the selected room.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar};

use super::text::{age, fit, fit_right};
use super::{fit_line, focused, theme, title_line};
use crate::store::{Battle, BattleKey, Room, Versioned, show_bool, show_list, show_public};
use crate::tui::app::{App, Pane};

const UNKNOWN: &str = "?";

/// A column of the rooms table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    /// The room's app (SdkAppid), shown when rooms of several apps can be listed.
    App,
    Id,
    Name,
    State,
    SeatMode,
    Vis,
    Owner,
    Admins,
    Online,
    Seats,
    Age,
    Last,
}

impl Col {
    fn header(self) -> &'static str {
        match self {
            Self::App => "APP",
            Self::Id => "ROOM ID",
            Self::Name => "NAME",
            Self::State => "STATE",
            Self::SeatMode => "SEAT MODE",
            Self::Vis => "VIS",
            Self::Owner => "OWNER",
            Self::Admins => "ADM",
            Self::Online => "ONL",
            Self::Seats => "SEATS",
            Self::Age => "AGE",
            Self::Last => "LAST",
        }
    }

    /// Fixed width; `None` for the columns sharing what is left.
    fn fixed(self) -> Option<usize> {
        match self {
            Self::Id | Self::Name | Self::Owner => None,
            Self::State | Self::Seats => Some(5),
            Self::SeatMode => Some(11),
            // SDKAppIDs are ten digits today.
            Self::App => Some(10),
            Self::Vis => Some(7),
            Self::Admins => Some(3),
            Self::Online | Self::Age | Self::Last => Some(4),
        }
    }

    fn right_aligned(self) -> bool {
        matches!(
            self,
            Self::Admins | Self::Online | Self::Seats | Self::Age | Self::Last
        )
    }
}

/// Tables narrower than this leave out seat mode, visibility and admins.
const FULL_TABLE: usize = 100;

/// The columns and their widths for a table `width` cells wide (one space between columns);
/// with `apps`, the APP column first.
fn columns(width: usize, apps: bool) -> Vec<(Col, usize)> {
    use Col::{Admins, Age, App, Id, Last, Name, Online, Owner, SeatMode, Seats, State, Vis};
    let cols: &[Col] = match (width >= FULL_TABLE, apps) {
        (true, false) => &[
            Id, Name, State, SeatMode, Vis, Owner, Admins, Online, Seats, Age, Last,
        ],
        (true, true) => &[
            App, Id, Name, State, SeatMode, Vis, Owner, Admins, Online, Seats, Age, Last,
        ],
        (false, false) => &[Id, Name, State, Owner, Online, Seats, Age, Last],
        (false, true) => &[App, Id, Name, State, Owner, Online, Seats, Age, Last],
    };
    let fixed: usize = cols.iter().filter_map(|c| c.fixed()).sum::<usize>() + cols.len();
    let flex = width.saturating_sub(fixed).max(9);
    cols.iter()
        .map(|&c| {
            let w = c.fixed().unwrap_or(match c {
                Col::Id => flex * 35 / 100,
                Col::Name => flex * 40 / 100,
                _ => flex - flex * 35 / 100 - flex * 40 / 100,
            });
            (c, w)
        })
        .collect()
}

/// When the room started: its `CreateTime`, else the create callback's time (Unix ms).
fn started_ms(room: &Room) -> Option<i64> {
    room.create_time_s
        .as_ref()
        .map(|t| t.value.saturating_mul(1000))
        .or_else(|| room.created.as_ref().map(|c| c.stamp.time_ms))
}

/// How long the room has been live, or lasted once ended (ms).
fn lifetime_ms(room: &Room, now_ms: i64) -> Option<i64> {
    let start = started_ms(room)?;
    let end = match (&room.destroyed, room.is_ended()) {
        (Some(ending), true) => ending.stamp.time_ms,
        _ => now_ms,
    };
    Some(end.saturating_sub(start))
}

/// Seats taken / seats in the room: `2/4`; `?` for what no callback said.
fn seats_text(room: &Room) -> Option<String> {
    let max = room.max_seat_count.as_ref().map(|m| m.value);
    if room.seats.is_empty() && max.is_none() {
        return None;
    }
    let used = if room.seats.is_empty() {
        UNKNOWN.to_string()
    } else {
        room.seats
            .values()
            .filter(|s| s.value.member.is_some())
            .count()
            .to_string()
    };
    let max = max.map_or_else(|| UNKNOWN.to_string(), |m| m.to_string());
    Some(format!("{used}/{max}"))
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
        vec![(
            format!(" {count} · {} ", app.sort_key.label(app.sort_reversed)),
            theme::label(),
        )],
        focused(app, Pane::Rooms),
        width,
    )];
    let cols = columns(width, app.shows_apps());
    let mut parts = Vec::new();
    for &(col, w) in &cols {
        let text = if col.right_aligned() {
            fit_right(col.header(), w)
        } else {
            fit(col.header(), w)
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
            format!("no room matches {:?}", app.filter)
        };
        lines.push(fit_line(vec![(message, theme::unknown())], width));
    }
    let selected = app.selected_index().unwrap_or(0);
    let start = (selected + 1).saturating_sub(rows_h);
    for (offset, key) in order.iter().skip(start).take(rows_h).enumerate() {
        let Some(room) = app.store.room(key) else {
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

fn room_row(app: &App, room: &Room, cols: &[(Col, usize)], width: usize) -> Line<'static> {
    let plain = Style::new();
    let mut parts = Vec::with_capacity(2 * cols.len());
    for &(col, w) in cols {
        let (text, style) = match col {
            Col::App => ((!room.app.is_empty()).then(|| room.app.clone()), plain),
            Col::Id => (Some(room.id.clone()), theme::value()),
            Col::Name => (shown(room.name.as_ref(), String::clone), plain),
            Col::State => (
                Some(if room.is_ended() { "ended" } else { "live" }.to_string()),
                if room.is_ended() {
                    plain
                } else {
                    theme::good()
                },
            ),
            Col::SeatMode => (
                shown(room.seat_mode.as_ref(), |m| m.label().to_string()),
                plain,
            ),
            Col::Vis => (shown(room.public.as_ref(), show_public), plain),
            Col::Owner => (shown(room.owner.as_ref(), String::clone), plain),
            Col::Admins => (
                (!room.admins.is_empty()).then(|| {
                    let partial = if room.untracked.admins > 0 { "+" } else { "" };
                    format!("{}{partial}", room.admin_list().len())
                }),
                plain,
            ),
            // A destroyed room has nobody in it, whatever presence was last reported.
            Col::Online => (
                if room.is_ended() {
                    Some("0".to_string())
                } else {
                    (!room.members.is_empty()).then(|| room.online_text())
                },
                plain,
            ),
            Col::Seats => (seats_text(room), plain),
            Col::Age => (lifetime_ms(room, app.now_ms).map(age), plain),
            Col::Last => (
                room.last_event_ms
                    .map(|t| age(app.now_ms.saturating_sub(t))),
                plain,
            ),
        };
        parts.push(cell(text, w, col.right_aligned(), style));
        parts.push((" ".to_string(), plain));
    }
    fit_line(parts, width)
}

/// `label: a, b, c` over as many lines as the items need (continuation lines indented), so
/// every member, seat and key is reachable by scrolling the pane.
fn list_lines(out: &mut Vec<Vec<(String, Style)>>, label: &str, items: &[String], width: usize) {
    let mut line = vec![(format!("{label}: "), theme::label())];
    let mut used = super::text::width(label) + 2;
    let mut first_on_line = true;
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        let piece = format!("{}{item}{sep}", if first_on_line { "" } else { " " });
        let piece_w = super::text::width(&piece);
        if !first_on_line && used + piece_w > width {
            out.push(std::mem::take(&mut line));
            line.push(("  ".into(), Style::new()));
            used = 2;
            let piece = format!("{item}{sep}");
            used += super::text::width(&piece);
            line.push((piece, theme::value()));
        } else {
            used += piece_w;
            line.push((piece, theme::value()));
        }
        first_on_line = false;
    }
    out.push(line);
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
    let room = app.selected_room();
    let chart_h = room.map_or(0, |room| chart_rows(app, room, area));
    let body_h = usize::from(area.height - chart_h).saturating_sub(1);
    if let Some(room) = room
        && chart_h > 0
    {
        room_chart(
            frame,
            app,
            room,
            Rect {
                x: area.x + 1,
                y: area.y + area.height - chart_h,
                width: area.width.saturating_sub(2),
                height: chart_h,
            },
        );
    }
    let room_lines =
        room.map(|room| detail_lines(app, room, width.saturating_sub(1), body_h >= 16));
    let total = room_lines.as_ref().map_or(0, Vec::len);
    let scroll = app.detail_scroll.min(total.saturating_sub(body_h));
    let mut title = match room {
        Some(room) => vec![(format!(" {} ", room.id), theme::value())],
        None => vec![],
    };
    if let Some(room) = room.filter(|_| app.shows_apps()) {
        let app_id = if room.app.is_empty() {
            UNKNOWN
        } else {
            &room.app
        };
        title.push((format!("app {app_id} "), theme::label()));
    }
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

/// Rows at the bottom of the detail pane for the room chart: none when plots are off, the
/// room has no history since the dashboard started, or the pane is too short to spare them.
fn chart_rows(app: &App, room: &Room, area: Rect) -> u16 {
    if !app.show_plots || !app.room_series.has(&room.key()) {
        0
    } else if area.height >= CHART_MIN_PANE {
        CHART_ROWS
    } else {
        u16::from(area.height >= COMPACT_CHART_MIN_PANE)
    }
}

/// The room chart: two labelled one-row plots.
const CHART_ROWS: u16 = 4;
/// Detail panes shorter than this get the compact, one-row chart.
const CHART_MIN_PANE: u16 = 14;
/// Detail panes shorter than this keep every row for text.
const COMPACT_CHART_MIN_PANE: u16 = 6;

/// Members online at the end of each minute, and callbacks per minute, for the room's last
/// minutes (newest right), from the app's bounded per-room history.
fn room_chart(frame: &mut Frame, app: &App, room: &Room, area: Rect) {
    let minutes = usize::from(area.width).min(crate::tui::app::MINUTES_KEPT);
    let series = app
        .room_series
        .last_minutes(&room.key(), app.now_ms, minutes);
    let online: Vec<Option<u64>> = series.iter().map(|(_, o)| *o).collect();
    let calls: Vec<u64> = series.iter().map(|(c, _)| *c).collect();
    let peak_online = online.iter().flatten().max().copied();
    let now_online = online.last().copied().flatten();
    let show = |v: Option<u64>| v.map_or_else(|| UNKNOWN.to_string(), |v| v.to_string());
    // The current minute is still filling: the last whole one is the honest rate.
    let last_minute = calls.len().checked_sub(2).map_or(0, |i| calls[i]);
    let width = usize::from(area.width);
    let row = |y: u16| Rect {
        y: area.y + y,
        height: 1,
        ..area
    };
    if area.height < CHART_ROWS {
        // Compact: `online 16 ▂▃▅ · calls/min 9 ▃▁▂` on one row, the plots sharing it.
        let online_text = format!("online {} ", show(now_online));
        let calls_text = format!(" · calls/min {last_minute} ");
        let texts_w = super::text::width(&online_text) + super::text::width(&calls_text);
        let plot_w = (usize::from(area.width).saturating_sub(texts_w) / 2) as u16;
        let [a, b, c, d] = Layout::horizontal([
            Constraint::Length(super::text::width(&online_text) as u16),
            Constraint::Length(plot_w),
            Constraint::Length(super::text::width(&calls_text) as u16),
            Constraint::Length(plot_w),
        ])
        .areas(row(0));
        let recent = |n: usize| n.saturating_sub(usize::from(plot_w));
        frame.render_widget(Paragraph::new(online_text).style(theme::label()), a);
        frame.render_widget(
            Sparkline::default()
                .data(
                    online[recent(online.len())..]
                        .iter()
                        .map(|o| SparklineBar::from(*o)),
                )
                .style(theme::spark()),
            b,
        );
        frame.render_widget(Paragraph::new(calls_text).style(theme::label()), c);
        frame.render_widget(
            Sparkline::default()
                .data(calls[recent(calls.len())..].iter().map(SparklineBar::from))
                .style(theme::good()),
            d,
        );
        return;
    }
    let online_label = fit_line(
        vec![
            ("Online per minute".into(), theme::label()),
            (
                format!(
                    "  now {} · peak {} · last {minutes} min",
                    show(now_online),
                    show(peak_online)
                ),
                theme::value(),
            ),
        ],
        width,
    );
    frame.render_widget(Paragraph::new(online_label), row(0));
    frame.render_widget(
        Sparkline::default()
            .data(online.iter().map(|o| SparklineBar::from(*o)))
            .style(theme::spark()),
        row(1),
    );
    let calls_label = fit_line(
        vec![
            ("Callbacks per minute".into(), theme::label()),
            (
                format!(
                    "  last minute {last_minute} · peak {}",
                    calls.iter().max().copied().unwrap_or(0)
                ),
                theme::value(),
            ),
        ],
        width,
    );
    frame.render_widget(Paragraph::new(calls_label), row(2));
    frame.render_widget(
        Sparkline::default()
            .data(calls.iter().map(SparklineBar::from))
            .style(theme::good()),
        row(3),
    );
}

/// How far the detail pane can scroll for the selected room at the current size.
pub fn max_scroll(app: &App) -> usize {
    let areas = super::layout(Rect::new(0, 0, app.size.0, app.size.1));
    let width = usize::from(areas.detail.width).saturating_sub(1);
    app.selected_room().map_or(0, |room| {
        let chart_h = chart_rows(app, room, areas.detail);
        let body_h = usize::from(areas.detail.height - chart_h).saturating_sub(1);
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

    if let Some(stat) = room
        .destroyed
        .as_ref()
        .and_then(|d| d.value.statistic.as_ref())
        .filter(|_| room.is_ended())
    {
        let n = |v: Option<i64>| v.map_or_else(|| UNKNOWN.to_string(), |v| v.to_string());
        let items = [
            format!("viewers {}", n(stat.total_viewers)),
            format!("gifts sent {}", n(stat.total_gifts_sent)),
            format!("gift coins {}", n(stat.total_gift_coins)),
            format!("gift senders {}", n(stat.total_unique_gift_senders)),
            format!("likes {}", n(stat.total_likes_received)),
        ];
        list_lines(&mut out, "Statistic", &items, width);
    }

    let admins = room.admin_list();
    if room.admins.is_empty() {
        let mut line = Vec::new();
        kv(&mut line, "Admins", None);
        out.push(line);
    } else if admins.is_empty() {
        let mut line = Vec::new();
        kv(&mut line, "Admins", Some("(none)".to_string()));
        out.push(line);
    } else {
        let admins: Vec<String> = admins.iter().map(|a| (*a).to_string()).collect();
        list_lines(&mut out, "Admins", &admins, width);
    }

    let online = room.online_members();
    let mut line = Vec::new();
    if room.is_ended() {
        kv(&mut line, "Online", Some("nobody (room ended)".into()));
    } else if room.members.is_empty() {
        kv(&mut line, "Online", None);
    } else if online.is_empty() {
        kv(&mut line, "Online (0)", Some("(none)".into()));
    } else {
        let online: Vec<String> = online.iter().map(|m| (*m).to_string()).collect();
        list_lines(
            &mut out,
            &format!("Online ({})", room.online_text()),
            &online,
            width,
        );
    }
    if !line.is_empty() {
        out.push(line);
    }
    // The caps keep a room bounded; say plainly which lists are therefore partial.
    for (label, left_out) in [
        ("members", room.untracked.members),
        ("admins", room.untracked.admins),
        ("metadata", room.untracked.metadata),
    ] {
        if left_out > 0 {
            let mut line = Vec::new();
            kv(
                &mut line,
                "Partial",
                Some(format!(
                    "{label}: cap reached, {left_out} updates not tracked"
                )),
            );
            out.push(line);
        }
    }

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

    if room.seats.is_empty() {
        let mut line = Vec::new();
        kv(&mut line, "Seats", None);
        out.push(line);
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
        let label = match seats_text(room) {
            Some(used) => format!("Seats {used}"),
            None => "Seats".to_string(),
        };
        list_lines(&mut out, &label, &seats, width);
    }

    let pairs = room.metadata_pairs();
    let shown_pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if shown_pairs.is_empty() {
        let mut line = Vec::new();
        let value = (!room.metadata.is_empty()).then(|| "(none)".to_string());
        kv(&mut line, "Metadata", value);
        out.push(line);
    } else {
        list_lines(&mut out, "Metadata", &shown_pairs, width);
    }

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
            app.info.zone.date_time(s.saturating_mul(1000))
        }),
    );
    kv(
        &mut line,
        if room.is_ended() { "Lasted" } else { "Age" },
        lifetime_ms(room, app.now_ms).map(age),
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
                    .get(&BattleKey::new(room.app.clone(), id.clone()))
                    .map_or_else(|| id.clone(), |b| battle_summary(b, &room.id))
            })
            .collect();
        list_lines(&mut out, "Battles", &summaries, width);
    }

    let counts: Vec<String> = room
        .counts
        .iter()
        .map(|(command, n)| format!("{} {n}", command.short()))
        .collect();
    list_lines(&mut out, "Callbacks", &counts, width);
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
