//! View functions only: they read an [`App`] and draw; they never change it.
//! Each frame formats only what is visible.

mod log;
mod overlay;
pub mod relay;
mod rooms;
pub mod text;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar};

use crate::runner::JournalInfo;
use crate::tui::app::{App, Overlay, Pane};
use crate::tui::keymap;

pub use log::summary;
pub use overlay::help_lines_count;
pub use rooms::max_scroll as detail_max_scroll;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub rooms: Rect,
    pub detail: Rect,
    pub log: Rect,
    pub hints: Rect,
}

/// Terminals at least this wide put the detail pane beside the rooms table.
const WIDE: u16 = 120;

/// Splits the screen: two header lines, the panes, one hint line.
pub fn layout(area: Rect) -> Areas {
    let header_h = area.height.min(2);
    let hints_h = u16::from(area.height > 2);
    let body = Rect {
        x: area.x,
        y: area.y + header_h,
        width: area.width,
        height: area.height - header_h - hints_h,
    };
    let hints = Rect {
        y: body.y + body.height,
        height: hints_h,
        ..body
    };
    let header = Rect {
        height: header_h,
        ..area
    };
    let row = |y: u16, height: u16| Rect {
        x: body.x,
        y,
        width: body.width,
        height,
    };
    // Wide: rooms and detail side by side above the log. Narrow: three stacked thirds.
    let (rooms, detail, log) = if area.width >= WIDE {
        let top_h = body.height * 11 / 20;
        let rooms_w = body.width * 3 / 5;
        let rooms = Rect {
            width: rooms_w,
            ..row(body.y, top_h)
        };
        let detail = Rect {
            x: body.x + rooms_w,
            width: body.width - rooms_w,
            ..rooms
        };
        (rooms, detail, row(body.y + top_h, body.height - top_h))
    } else {
        let third = body.height / 3;
        (
            row(body.y, third),
            row(body.y + third, third),
            row(body.y + 2 * third, body.height - 2 * third),
        )
    };
    Areas {
        header,
        rooms,
        detail,
        log,
        hints,
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let areas = layout(area);
    header(frame, app, areas.header);
    rooms::table(frame, app, areas.rooms);
    rooms::detail(frame, app, areas.detail);
    log::pane(frame, app, areas.log);
    hint_bar(frame, app, areas.hints);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help(scroll) => overlay::help(frame, area, *scroll),
        Overlay::Event(view) => overlay::event(frame, view, area),
    }
    if app.info.no_color {
        theme::monochrome(frame.buffer_mut());
    }
}

/// Styled pieces cut to `width` cells as one line (the last piece that does not fit ends in `…`).
pub fn fit_line(parts: Vec<(String, Style)>, width: usize) -> Line<'static> {
    let mut spans = Vec::with_capacity(parts.len());
    let mut used = 0;
    for (content, style) in parts {
        if used >= width {
            break;
        }
        let cut = text::truncate(&content, width - used);
        used += text::width(&cut);
        spans.push(Span::styled(cut, style));
    }
    Line::from(spans)
}

/// A pane's title line: name, then details; highlighted when the pane has the focus.
pub fn title_line(
    name: &str,
    details: Vec<(String, Style)>,
    focused: bool,
    width: usize,
) -> Line<'static> {
    let style = if focused {
        theme::title_focused()
    } else {
        theme::title()
    };
    let mut parts = vec![(format!(" {name} "), style)];
    parts.extend(details);
    let mut line = fit_line(parts, width);
    let used = line.width();
    if used < width {
        line.spans
            .push(Span::styled("─".repeat(width - used), theme::unknown()));
    }
    line
}

fn header(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let mut badges: Vec<(String, Style)> = Vec::new();
    if app.editing_filter || !app.filter.is_empty() {
        let cursor = if app.editing_filter { "▏" } else { "" };
        badges.push((
            format!(
                " FILTER {}{cursor} ",
                text::truncate(&app.filter, (width / 4).max(20))
            ),
            theme::badge_filter(),
        ));
    }
    if let Some(room) = &app.scope_room {
        badges.push((
            format!(" ROOM {} ", text::truncate(&room.id, 16)),
            theme::badge_scope(),
        ));
    }
    if app.paused() {
        badges.push((
            format!(" PAUSED · {} new ", app.new_while_paused),
            theme::badge_paused(),
        ));
    }
    if let Some(badge) = journal_badge(app) {
        badges.push(badge);
    }
    if let Some(badge) = stream_badge(app) {
        badges.push(badge);
    }
    if let Some(badge) = app.relay.status.as_ref().and_then(relay::header_badge) {
        badges.push(badge);
    }
    let badge_w: usize = badges.iter().map(|(t, _)| text::width(t) + 1).sum();
    let info = &app.info;
    // Narrow terminals get shorter labels so the badges and uptime still fit.
    let narrow = width < 100;
    let gap = if narrow { " " } else { "  " };
    let mut left = vec![
        (" roomwatch ".to_string(), theme::title()),
        (format!(" {}", info.source()), theme::value()),
        (
            format!(
                "{gap}{}",
                match (narrow, info.sdkappids.len()) {
                    (true, 2..) => "apps ",
                    (true, _) => "app ",
                    (false, _) => "SdkAppid ",
                }
            ),
            theme::label(),
        ),
        (
            match (narrow, info.sdkappids.as_slice()) {
                (_, []) => "any".into(),
                // The list is in the table's APP column; a narrow header only counts them.
                (true, [_, _, ..]) => info.sdkappids.len().to_string(),
                _ => info.sdkappids.join(","),
            },
            theme::value(),
        ),
        (format!("{gap}auth "), theme::label()),
        (
            if info.token_auth { "on" } else { "off" }.into(),
            theme::value(),
        ),
        (format!("{gap}up "), theme::label()),
        (
            text::uptime(app.now_ms.saturating_sub(app.started_ms)),
            theme::value(),
        ),
    ];
    // Every time on screen is in this zone; it is said once, here.
    left.push((format!("{gap}{}", info.zone.label()), theme::label()));
    if info.demo {
        left.push(("  demo".into(), theme::stale()));
    }
    let mut line = fit_line(left, width.saturating_sub(badge_w));
    let left_w = line.width();
    let pad = width.saturating_sub(line.width() + badge_w);
    line.spans.push(Span::raw(" ".repeat(pad)));
    for (badge, style) in badges {
        line.spans.push(Span::raw(" "));
        line.spans.push(Span::styled(badge, style));
    }
    let (live_rooms, ended_rooms) = app.room_counts();
    let c = app.store.counters();
    let [ok, rejected, unrecognized, stale, dup] = if narrow {
        ["ok", "rej", "unrec", "stale", "dup"]
    } else {
        ["ok", "rejected", "unrecognized", "stale", "duplicate"]
    };
    let mut second = vec![
        (" rooms ".to_string(), theme::label()),
        (live_rooms.to_string(), theme::value()),
        (" live / ".into(), theme::label()),
        (ended_rooms.to_string(), theme::value()),
        (
            if app.hidden_ended() > 0 {
                " ended (hidden)"
            } else {
                " ended"
            }
            .to_string(),
            theme::label(),
        ),
        (format!("{gap} callbacks "), theme::label()),
        (c.accepted.to_string(), theme::good()),
        (format!(" {ok} · "), theme::label()),
        count(c.rejected, theme::rejected()),
        (format!(" {rejected} · "), theme::label()),
        count(c.unrecognized, theme::unrecognized()),
        (format!(" {unrecognized}"), theme::label()),
    ];
    if c.evicted_rooms > 0 {
        // Loud: rooms left state to stay within --max-rooms, live ones included when counted.
        let of_them_live = if c.evicted_live_rooms > 0 {
            format!(" ({} live)", c.evicted_live_rooms)
        } else {
            String::new()
        };
        second.insert(
            5,
            (
                format!(" · {} evicted{of_them_live}", c.evicted_rooms),
                theme::rejected(),
            ),
        );
    }
    if c.stale + c.duplicate > 0 {
        second.push((
            format!(" · {} {stale} · {} {dup}", c.stale, c.duplicate),
            theme::stale(),
        ));
    }
    second.push((format!("{gap} {:.1}/s", app.rate), theme::value()));
    if let Some(status) = &app.relay.status {
        second.extend(relay::header_segment(status, narrow));
    }
    if let JournalInfo::On {
        restored, since_ms, ..
    } = &app.info.journal
        && *restored > 0
    {
        let since = since_ms.map(text::clock).unwrap_or_default();
        second.push((
            format!(
                "{gap} restored {} since {}",
                thousands(*restored),
                since.get(..5).unwrap_or(&since)
            ),
            theme::label(),
        ));
    }
    let second = fit_line(second, width);
    let used = second.width();
    let lines = vec![line, second];
    frame.render_widget(Paragraph::new(lines), area);
    if app.show_plots && area.height >= 2 {
        // After the counters; on a narrow screen where they fill the line, in the gap
        // before the badges on the first line instead.
        let free_second = width.saturating_sub(used + 2);
        let free_first = width.saturating_sub(left_w + 2 + badge_w + 1);
        let (x, y, free) = if free_second >= SPARK_MIN {
            (used + 2, 1, free_second)
        } else {
            (left_w + 2, 0, free_first)
        };
        if free >= SPARK_MIN {
            let spark = Rect {
                x: area.x + x as u16,
                y: area.y + y,
                width: free.min(SPARK_MAX) as u16,
                height: 1,
            };
            throughput_sparkline(frame, app, spark);
        }
    }
}

/// The header sparkline is drawn when at least this many cells are free, and spans at most
/// this many seconds.
const SPARK_MIN: usize = 8;
const SPARK_MAX: usize = 120;

/// Callbacks per second, one bar a second, newest right; seconds with a rejection in red.
fn throughput_sparkline(frame: &mut Frame, app: &App, area: Rect) {
    let buckets = app
        .throughput
        .last_seconds(app.now_ms, usize::from(area.width));
    let bars: Vec<SparklineBar> = buckets
        .iter()
        .map(|b| {
            let style = if b.rejected > 0 {
                theme::rejected()
            } else {
                theme::spark()
            };
            SparklineBar::from(b.total).style(Some(style))
        })
        .collect();
    frame.render_widget(Sparkline::default().data(bars), area);
}

/// A loud badge when the journal is missing or failing; nothing when it works or is off.
fn journal_badge(app: &App) -> Option<(String, Style)> {
    if let JournalInfo::Unavailable(_) = &app.info.journal {
        return Some((" NO JOURNAL ".into(), theme::badge_alarm()));
    }
    let health = app.journal_health.as_ref()?;
    let (reason, _) = health.failing.as_ref()?;
    Some((
        format!(
            " JOURNAL: {} · {} not journaled ",
            text::truncate(reason, 24),
            health.backlog + health.lost
        ),
        theme::badge_alarm(),
    ))
}

/// With `--nats`: NATS away (callbacks spooled), the spool draining, or a viewer still
/// catching up with the stream. Nothing while all is well.
fn stream_badge(app: &App) -> Option<(String, Style)> {
    let nats = app.info.nats.as_ref()?;
    let spooled = nats.spool.as_ref().map_or(0, |spool| spool.pending());
    if !nats.stream.connected() {
        let what = if nats.listening {
            format!(" NATS DOWN · {} spooled ", thousands(spooled))
        } else {
            " NATS DOWN ".to_string()
        };
        return Some((what, theme::badge_alarm()));
    }
    if spooled > 0 {
        return Some((
            format!(" draining spool · {} ", thousands(spooled)),
            theme::badge_alarm(),
        ));
    }
    let status = *nats.status.borrow();
    if status.unreadable > 0 {
        return Some((
            format!(
                " {} unreadable stream records skipped ",
                thousands(status.unreadable)
            ),
            theme::badge_alarm(),
        ));
    }
    if !status.caught_up() && status.start_last > 0 {
        let percent = status.applied.saturating_mul(100) / status.start_last.max(1);
        return Some((format!(" catching up {percent}% "), theme::badge_paused()));
    }
    None
}

/// 12345 as "12,345".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn hint_bar(frame: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let line = if app.editing_filter {
        let prompt = format!("/{}", app.filter);
        let typed = if app.filter_selected {
            theme::selected()
        } else {
            theme::value()
        };
        let mut parts = vec![
            ("/".to_string(), theme::value()),
            (app.filter.clone(), typed),
        ];
        match &app.query_error {
            Some(error) => parts.push((format!("   ✗ {error}"), theme::rejected())),
            None => parts.push((
                "   Enter keep · Esc clear · Ctrl-U erase · room: app: cmd: user: verdict: \
                 effect: since: !not"
                    .into(),
                theme::label(),
            )),
        }
        let cursor_x = area.x + text::width(&prompt).min(width.saturating_sub(1)) as u16;
        frame.set_cursor_position((cursor_x, area.y));
        fit_line(parts, width)
    } else if let Some(status) = app.status_line() {
        fit_line(vec![(format!(" {status}"), theme::value())], width)
    } else {
        // What fits, most wanted first: `? help` always, the rest as the width allows.
        let back_first = !app.filter.is_empty() || app.scope_room.is_some();
        let cost = |key: &str, hint: &str| text::width(key) + text::width(hint) + 3;
        let mut parts = Vec::new();
        for (key, hint) in keymap::hints_within(width, back_first, cost) {
            parts.push((format!(" {key} "), theme::hint_key()));
            parts.push((format!("{hint} "), theme::label()));
        }
        fit_line(parts, width)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// Whether a pane has the keyboard focus (and no overlay covers it).
fn focused(app: &App, pane: Pane) -> bool {
    app.focus == pane && matches!(app.overlay, Overlay::None)
}

/// A counter, in `alarm` once it is above zero.
fn count(n: u64, alarm: Style) -> (String, Style) {
    (n.to_string(), if n > 0 { alarm } else { theme::value() })
}
