//! Where the journal lives: `--journal PATH`, else the user's data directory
//! (`$XDG_DATA_HOME/roomwatch/`, falling back to `~/.local/share/roomwatch/`). The demo gets a
//! file of its own there, so demo traffic never mixes into a real app's history.

use std::path::PathBuf;

/// The journal to open, and whether the user named it (an explicit path that cannot be used
/// stops roomwatch; the default one only turns journaling off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub path: PathBuf,
    pub explicit: bool,
}

/// File name of the journal in the data directory.
pub const DEFAULT_FILE: &str = "journal.sqlite";
/// File name of the demo's journal in the data directory.
pub const DEMO_FILE: &str = "demo.sqlite";

/// `$XDG_DATA_HOME/roomwatch`, else `$HOME/.local/share/roomwatch`; `None` without either.
pub fn data_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|home| home.join(".local").join("share"))
        })
        .map(|base| base.join("roomwatch"))
}

/// The journal for a run, or `None` when journaling is off or no data directory is known.
pub fn choose(explicit: Option<PathBuf>, disabled: bool, demo: bool) -> Option<Choice> {
    if disabled {
        return None;
    }
    if let Some(path) = explicit {
        return Some(Choice {
            path,
            explicit: true,
        });
    }
    let file = if demo { DEMO_FILE } else { DEFAULT_FILE };
    data_dir().map(|dir| Choice {
        path: dir.join(file),
        explicit: false,
    })
}

/// The journal `export` and `replay` read: `--journal PATH`, else the default one.
pub fn for_reading(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| data_dir().map(|dir| dir.join(DEFAULT_FILE)))
}
