//! Copying to the clipboard with OSC 52: the terminal itself sets its clipboard, so it works
//! over SSH and inside tmux (with `set-clipboard on`), with no clipboard tool installed.

use std::io::{self, IsTerminal, Write};

use base64::Engine;

/// Largest text copied, in bytes. Many terminals drop OSC 52 sequences much longer than
/// about 100 KB of base64; a larger copy is refused with a message instead of silently lost.
pub const MAX_COPY_BYTES: usize = 74_000;

/// The escape sequence that asks the terminal to put `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{encoded}\x07")
}

/// Sends the sequence to the terminal on stdout; does nothing when stdout is not one.
pub fn send(text: &str) -> io::Result<()> {
    let mut out = io::stdout();
    if !out.is_terminal() {
        return Ok(());
    }
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_osc52() {
        assert_eq!(osc52("live_9001"), "\x1b]52;c;bGl2ZV85MDAx\x07");
    }
}
