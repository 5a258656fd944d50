//! `y`: what is copied, and the status line that says so. The copy itself (an OSC 52
//! sequence to the terminal) is I/O and happens in the run loop.

use super::App;
use crate::tui::clipboard::MAX_COPY_BYTES;

/// How long a status message stays in the hint bar, in ms.
const STATUS_MS: i64 = 4_000;

impl App {
    /// Shows a message in the hint bar for a few seconds.
    pub(super) fn say(&mut self, text: String) {
        self.status = Some((text, self.now_ms + STATUS_MS));
        self.dirty = true;
    }

    /// Asks for `text` on the clipboard; `what` names it in the status line.
    pub(super) fn copy(&mut self, text: String, what: &str) {
        if text.len() > MAX_COPY_BYTES {
            self.say(format!(
                "not copied: {what} is {} bytes, over the {MAX_COPY_BYTES}-byte clipboard limit",
                text.len()
            ));
            return;
        }
        self.copy_request = Some(text);
        self.say(format!("copied {what} to the clipboard (OSC 52)"));
    }

    /// Copies the body of the callback with this sequence number, as received.
    pub(super) fn copy_body(&mut self, seq: u64) {
        let Some(entry) = self.entry(seq) else {
            self.say("nothing to copy: the callback is no longer held".into());
            return;
        };
        let body = String::from_utf8_lossy(&entry.event.raw_body).into_owned();
        let len = body.len();
        self.copy(body, &format!("callback #{seq} body ({len} bytes)"));
    }

    /// The status message, while it is fresh.
    pub fn status_line(&self) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|(_, until)| self.now_ms < *until)
            .map(|(text, _)| text.as_str())
    }
}
