//! Text cut to a display width. Widths are counted exactly as ratatui's buffer draws them
//! (grapheme by grapheme, with its own cell-width rule), so a ZWJ emoji sequence, a flag, a
//! combining mark or a CJK character takes in the layout the cells it takes on screen. Remote
//! text is escaped first (`\x1b`, `\u{202e}`): the same rule as stderr and the log file.

use std::fmt::Write as _;

use ratatui::buffer::CellWidth;
use unicode_segmentation::UnicodeSegmentation;

use crate::escape::escape;

/// Cells one grapheme takes when ratatui draws it (graphemes it would skip take none).
fn grapheme_width(grapheme: &str) -> usize {
    if grapheme.contains(char::is_control) {
        0
    } else {
        usize::from(grapheme.cell_width())
    }
}

/// Display width of `text` as ratatui draws it; the one width count of the dashboard.
pub fn width(text: &str) -> usize {
    if text.is_ascii() {
        // Most of what a frame measures. In ASCII every grapheme is one byte (or CR LF, both
        // controls): printable ones take a cell, controls none.
        return text.bytes().map(ascii_cells).sum();
    }
    text.graphemes(true).map(grapheme_width).sum()
}

/// Cells an ASCII byte takes: one when printable, none for a control.
fn ascii_cells(byte: u8) -> usize {
    usize::from(matches!(byte, b' '..=b'~'))
}

/// `text` escaped and cut to at most `max` cells, with `…` when cut; not padded.
pub fn truncate(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let text = escape(text);
    if width(&text) <= max {
        return text.into_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    if text.is_ascii() {
        // As below, byte by byte: controls take no cell and never end the cut.
        for byte in text.bytes() {
            let w = ascii_cells(byte);
            if used + w > max - 1 {
                break;
            }
            out.push(char::from(byte));
            used += w;
        }
        out.push('…');
        return out;
    }
    for grapheme in text.graphemes(true) {
        let w = grapheme_width(grapheme);
        if used + w > max - 1 {
            break;
        }
        out.push_str(grapheme);
        used += w;
    }
    out.push('…');
    out
}

/// `text` cut to `cells` (with `…`) and padded with spaces to exactly `cells` wide.
pub fn fit(text: &str, cells: usize) -> String {
    let mut out = truncate(text, cells);
    let used = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(used)));
    out
}

/// Like [`fit`] but aligned right.
pub fn fit_right(text: &str, cells: usize) -> String {
    let cut = truncate(text, cells);
    let pad = cells.saturating_sub(width(&cut));
    let mut out: String = std::iter::repeat_n(' ', pad).collect();
    out.push_str(&cut);
    out
}

/// Joins items with `, ` until `max` cells are used, then says how many more there are.
pub fn join_fitting<'a>(items: impl ExactSizeIterator<Item = &'a str>, max: usize) -> String {
    let total = items.len();
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        // Measured as shown: escaped.
        let item = escape(item);
        let sep = if i == 0 { "" } else { ", " };
        let rest = total - i - 1;
        let tail = if rest > 0 {
            format!(", +{rest} more")
        } else {
            String::new()
        };
        if i > 0 && width(&out) + sep.len() + width(&item) + width(&tail) > max {
            let _ = write!(out, ", +{} more", total - i);
            return out;
        }
        out.push_str(sep);
        out.push_str(&item);
    }
    out
}

/// `HH:MM:SS` (UTC) of a Unix time in ms; [`crate::tui::zone::Zone::clock`] shifts it.
pub fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A short age: `12s`, `5m`, `3h`, `2d`.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// An uptime: `42s`, `12m03s`, `3h05m`.
pub fn uptime(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_wide_characters() {
        assert_eq!(fit("直播间房间", 6), "直播… ");
        assert_eq!(width(&fit("直播间房间", 6)), 6);
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("a\nb", 4), "a\\nb");
        assert_eq!(fit("\u{1b}[2J", 6), "\\x1b[…");
        assert_eq!(fit_right("7", 3), "  7");
    }

    /// Where ratatui draws a marker placed right after `fit(text, cells)`.
    fn marker_column(text: &str, cells: usize) -> Option<u16> {
        use ratatui::buffer::Buffer;
        use ratatui::layout::Rect;
        use ratatui::text::{Line, Span};
        let mut buffer = Buffer::empty(Rect::new(0, 0, 40, 1));
        let line = Line::from(vec![Span::raw(fit(text, cells)), Span::raw("|")]);
        buffer.set_line(0, 0, &line, 40);
        (0..40).find(|&x| buffer[(x, 0)].symbol() == "|")
    }

    #[test]
    fn columns_line_up_as_ratatui_draws_them() {
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        let cases = [
            family.to_string(),
            format!("{family}{family} team"),
            "🇯🇵 Tokyo".to_string(),
            "🇯🇵🇰🇷🇨🇳🇺🇸🇫🇷".to_string(),
            "cafe\u{301} re\u{301}sume\u{301}".to_string(),
            "深夜电台直播间".to_string(),
            "mixed 深夜 👨\u{200d}👩\u{200d}👧 e\u{301}".to_string(),
            "plain ascii".to_string(),
        ];
        for text in &cases {
            for cells in [3, 6, 9, 12, 20] {
                let fitted = fit(text, cells);
                assert_eq!(width(&fitted), cells, "{text:?} at {cells}");
                assert_eq!(
                    marker_column(text, cells),
                    Some(cells as u16),
                    "{text:?} fitted to {cells} cells: {fitted:?}"
                );
            }
        }
        assert_eq!(width(family), 2);
        assert_eq!(width("🇯🇵"), 2);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("直播"), 4);
    }

    /// The ASCII shortcut counts and cuts exactly as the grapheme walk does, controls and
    /// CR LF included.
    #[test]
    fn ascii_widths_and_cuts_equal_the_grapheme_walk() {
        let slow_width = |t: &str| t.graphemes(true).map(grapheme_width).sum::<usize>();
        let slow_truncate = |t: &str, max: usize| {
            let t = escape(t).into_owned();
            if slow_width(&t) <= max {
                return t;
            }
            let mut out = String::new();
            let mut used = 0;
            for g in t.graphemes(true) {
                let w = grapheme_width(g);
                if used + w > max - 1 {
                    break;
                }
                out.push_str(g);
                used += w;
            }
            out.push('…');
            out
        };
        let cases = [
            "plain ascii",
            "",
            "a\r\nb",
            "tab\there",
            "\r\n\r\n",
            "x\u{7f}y\u{1}z",
            "a\u{1b}[2Jb",
            "bench_1_430 Bench room 110430",
        ];
        for text in cases {
            assert_eq!(width(text), slow_width(text), "{text:?}");
            for max in 1..=text.len() + 8 {
                assert_eq!(
                    truncate(text, max),
                    slow_truncate(text, max),
                    "{text:?} at {max}"
                );
            }
        }
    }

    #[test]
    fn joins_until_full() {
        let items = ["alice", "bob", "carol", "dave"];
        assert_eq!(
            join_fitting(items.iter().copied(), 100),
            "alice, bob, carol, dave"
        );
        assert_eq!(
            join_fitting(items.iter().copied(), 20),
            "alice, bob, +2 more"
        );
    }

    #[test]
    fn times() {
        assert_eq!(clock(1_735_690_200_789), "00:10:00");
        assert_eq!(age(61_000), "1m");
        assert_eq!(uptime(3_723_000), "1h02m");
    }
}
