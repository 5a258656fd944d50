//! `w`: the log as shown (filter and scope applied) written to an NDJSON file, one line per
//! callback in exactly the headless format, and the status line says where.

use std::io::Write;
use std::path::PathBuf;

use super::App;
use crate::outputs::headless;

impl App {
    /// Writes the shown log lines to a new file in [`App::save_dir`]; says where, or why not.
    pub(super) fn save_log(&mut self) {
        let lines: Vec<String> = self
            .log_rows
            .iter()
            .filter(|row| row.notice.is_none())
            .filter_map(|row| self.entry(row.seq))
            .map(headless::line)
            .collect();
        if lines.is_empty() {
            self.say("nothing to save: the log shows no lines".into());
            return;
        }
        let base = self.save_path();
        // Never overwrite: a second save in the same second gets `-2`, `-3`, ...
        let mut attempt = 1;
        let (path, result) = loop {
            let path = if attempt == 1 {
                base.clone()
            } else {
                base.with_extension(format!("{attempt}.ndjson"))
            };
            match write_new(&path, &lines) {
                Err(error)
                    if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 =>
                {
                    attempt += 1;
                }
                result => break (path, result),
            }
        };
        match result {
            Ok(()) => {
                let what = if self.query.is_empty() && self.scope_room.is_none() {
                    String::new()
                } else {
                    " (as filtered)".to_string()
                };
                self.say(format!(
                    "saved {} log lines{what} to {}",
                    lines.len(),
                    path.display()
                ));
            }
            Err(error) => self.say(format!("not saved to {}: {error}", path.display())),
        }
    }

    /// `roomwatch-log-20261122-104501-<newest seq>.ndjson`: the time (UTC) and the newest
    /// line, so two saves never pick one name.
    fn save_path(&self) -> PathBuf {
        let stamp =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.now_ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(time::macros::format_description!(
                        "[year][month][day]-[hour][minute][second]"
                    ))
                    .ok()
                })
                .unwrap_or_else(|| "now".to_string());
        let newest = self.log_rows.last().map_or(0, |row| row.seq);
        self.save_dir
            .join(format!("roomwatch-log-{stamp}-{newest}.ndjson"))
    }
}

/// Writes `lines` to a file that must not exist yet (never overwrites).
fn write_new(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut out = std::io::BufWriter::new(file);
    for line in lines {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
