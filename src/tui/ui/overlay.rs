//! Overlays drawn over the panes: help (from the keymap) and the whole callback of one event.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::text::fit;
use super::{fit_line, theme};
use crate::tui::app::EventView;
use crate::tui::keymap::{BINDINGS, keys_label};
use crate::tui::query::TERMS;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// Help's text: every key binding, the query terms, and a few notes.
fn help_lines(width: usize) -> Vec<Line<'static>> {
    let row = |left: String, right: &str| {
        fit_line(
            vec![
                (fit(&left, 17), theme::column_header()),
                (" ".into(), Style::new()),
                (right.to_string(), Style::new()),
            ],
            width,
        )
    };
    let note = |text: &str| fit_line(vec![(text.to_string(), theme::label())], width);
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| row(keys_label(b), b.help))
        .collect();
    lines.push(Line::default());
    lines.push(note(
        "Query after /: words must all match; Enter keeps, Esc clears, Ctrl-U erases.",
    ));
    lines.extend(
        TERMS
            .iter()
            .map(|(term, help)| row((*term).to_string(), help)),
    );
    lines.push(Line::default());
    lines.push(note("The mouse wheel scrolls the pane under it."));
    lines
}

/// Lines in the help overlay, for scrolling it.
pub fn help_lines_count() -> usize {
    help_lines(1).len()
}

pub fn help(frame: &mut Frame, area: Rect, scroll: usize) {
    let total = help_lines_count();
    let rect = centered(area, 92, total as u16 + 2);
    let inner_w = usize::from(rect.width.saturating_sub(2));
    let inner_h = usize::from(rect.height.saturating_sub(2));
    let scroll = scroll.min(total.saturating_sub(inner_h));
    let lines: Vec<Line> = help_lines(inner_w)
        .into_iter()
        .skip(scroll)
        .take(inner_h)
        .collect();
    let title = if total > inner_h {
        format!(
            " Keys · lines {}-{} of {total}, j/k scroll · other keys close ",
            scroll + 1,
            scroll + inner_h
        )
    } else {
        " Keys · any key closes ".to_string()
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_style(theme::title()),
        ),
        rect,
    );
}

pub fn event(frame: &mut Frame, view: &EventView, area: Rect) {
    let rect = Rect {
        x: area.x + 2.min(area.width / 10),
        y: area.y + 1.min(area.height / 10),
        width: area.width.saturating_sub(2 * 2.min(area.width / 10)),
        height: area.height.saturating_sub(2 * 1.min(area.height / 10)),
    };
    let inner_w = usize::from(rect.width.saturating_sub(2));
    let inner_h = usize::from(rect.height.saturating_sub(2));
    let lines: Vec<Line> = view
        .lines
        .iter()
        .skip(view.scroll)
        .take(inner_h)
        .map(|line| styled(line, inner_w))
        .collect();
    let position = format!(
        " {}-{} of {} · ↑↓ PgUp PgDn scroll · Esc closes ",
        (view.scroll + 1).min(view.lines.len()),
        (view.scroll + inner_h).min(view.lines.len()),
        view.lines.len()
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} ", view.title))
                .title_style(theme::title())
                .title_bottom(position),
        ),
        rect,
    );
}

/// Section headings stand out; JSON keys are coloured.
fn styled(line: &str, width: usize) -> Line<'static> {
    if !line.starts_with(' ') && line.ends_with(':') || line.starts_with("Body (") {
        return fit_line(vec![(line.to_string(), theme::title())], width);
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('"')
        && let Some(end) = trimmed.find("\": ")
    {
        let indent = line.len() - trimmed.len();
        let key_end = indent + end + 2;
        let rest = &line[key_end..];
        return fit_line(
            vec![
                (line[..key_end].to_string(), theme::json_key()),
                (rest.to_string(), json_value_style(rest.trim_start())),
            ],
            width,
        );
    }
    if let Some((label, rest)) = line.split_once(": ")
        && !label.starts_with(' ')
        && !label.contains('"')
    {
        return fit_line(
            vec![
                (format!("{label}: "), theme::label()),
                (rest.to_string(), theme::value()),
            ],
            width,
        );
    }
    fit_line(vec![(line.to_string(), json_value_style(trimmed))], width)
}

/// Strings, numbers and literals each get a colour; brackets stay plain.
fn json_value_style(value: &str) -> Style {
    match value.chars().next() {
        Some('"') => theme::json_string(),
        Some(c) if c == '-' || c.is_ascii_digit() => theme::json_number(),
        Some('t' | 'f' | 'n') => theme::json_literal(),
        _ => Style::new(),
    }
}
