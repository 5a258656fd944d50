//! Text cut to a display width: wide (CJK) characters count as two cells, control
//! characters become spaces, and anything cut ends in `…`.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

fn cell_width(c: char) -> usize {
    if c.is_control() {
        1
    } else {
        c.width().unwrap_or(0)
    }
}

/// Display width of `text` as [`fit`] counts it.
pub fn width(text: &str) -> usize {
    text.chars().map(cell_width).sum()
}

/// `text` cut to at most `max` cells, with `…` when cut; not padded.
pub fn truncate(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if width(text) <= max {
        return text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = cell_width(c);
        if used + w > max - 1 {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
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
        let sep = if i == 0 { "" } else { ", " };
        let rest = total - i - 1;
        let tail = if rest > 0 {
            format!(", +{rest} more")
        } else {
            String::new()
        };
        if i > 0 && width(&out) + sep.len() + width(item) + width(&tail) > max {
            let _ = write!(out, ", +{} more", total - i);
            return out;
        }
        out.push_str(sep);
        out.push_str(item);
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
        assert_eq!(fit("a\nb", 3), "a b");
        assert_eq!(fit_right("7", 3), "  7");
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
