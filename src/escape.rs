//! One rule for remote text on its way to a terminal, stderr or a log file: every character that
//! a terminal could act on (C0 and C1 controls, ESC, DEL) or that reorders what is shown (bidi
//! controls) is written as a visible escape instead, so a callback cannot retitle the terminal,
//! clear the screen, write the clipboard (OSC 52) or disguise a log line.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Whether `c` must not reach a terminal as is.
pub fn is_unsafe(c: char) -> bool {
    // `is_control` covers C0, DEL and C1 (U+0080..U+009F, which some terminals obey as CSI/OSC).
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every unsafe character written as `\t`, `\n`, `\r`, `\x1b` (ASCII) or
/// `\u{202e}` (others); borrowed when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii() && is_unsafe(c) => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// Displays its text escaped; for `tracing` fields and `eprintln!`: `%Escaped(&text)`.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// A serialized JSON text with the unsafe characters that JSON allows raw (DEL, C1, bidi)
/// written as `\uXXXX` escapes: the same JSON value, safe to print. JSON already escapes C0,
/// and these characters can only occur inside strings, so the replacement is exact.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_unsafe(c) {
            // All unsafe characters are in the Basic Multilingual Plane: one \uXXXX each.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_visibly() {
        assert_eq!(
            escape("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            "\\x1b]0;pwned\\x07\\x1b[2J"
        );
        assert_eq!(escape("a\u{7f}b\u{9b}c"), "a\\x7fb\\u{9b}c");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(escape("line\nforged"), "line\\nforged");
        assert!(matches!(escape("直播 👨‍👩‍👧‍👦 é"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_the_same_value() {
        let value = serde_json::json!({"name": "a\u{9b}31m\u{202e}b\u{7f}", "esc": "\u{1b}"});
        let text = value.to_string();
        let safe = escape_json(&text);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap_or_default();
        assert_eq!(back, value);
    }
}
