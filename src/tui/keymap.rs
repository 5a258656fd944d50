//! Every key the dashboard knows, in one table: the key handler, the `?` help overlay and the
//! hint bar are all drawn from [`BINDINGS`], so they cannot disagree.

use std::sync::OnceLock;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks the dashboard to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Tail,
    NextPane,
    PrevPane,
    Filter,
    ToggleScope,
    TogglePause,
    Open,
    Back,
    Help,
    Resend,
    Edit,
    SortNext,
    SortReverse,
    ToggleEnded,
    TogglePlots,
    Copy,
    SaveLog,
}

/// One key as written in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

/// One row of the table: the keys, what they do, how help describes it, and the short label
/// for the hint bar (empty: not in the hint bar).
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
    pub hint: &'static str,
}

/// The default key bindings, in the order help lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[ch('j'), key(KeyCode::Down)],
        action: Action::Down,
        help: "move down (rooms) / scroll down (detail, log)",
        hint: "",
    },
    Binding {
        keys: &[ch('k'), key(KeyCode::Up)],
        action: Action::Up,
        help: "move up (rooms) / scroll up (detail; pauses the log)",
        hint: "",
    },
    Binding {
        keys: &[key(KeyCode::PageDown)],
        action: Action::PageDown,
        help: "page down",
        hint: "",
    },
    Binding {
        keys: &[key(KeyCode::PageUp)],
        action: Action::PageUp,
        help: "page up (pauses the log; past its top: the journal)",
        hint: "",
    },
    Binding {
        keys: &[ch('g'), key(KeyCode::Home)],
        action: Action::Top,
        help: "go to the top",
        hint: "",
    },
    Binding {
        keys: &[ch('G'), key(KeyCode::End)],
        action: Action::Tail,
        help: "go to the tail; the log follows again",
        hint: "",
    },
    Binding {
        keys: &[key(KeyCode::Tab)],
        action: Action::NextPane,
        help: "next pane (rooms, detail, log)",
        hint: "pane",
    },
    Binding {
        keys: &[key(KeyCode::BackTab)],
        action: Action::PrevPane,
        help: "previous pane",
        hint: "",
    },
    Binding {
        keys: &[ch('/')],
        action: Action::Filter,
        help: "query rooms and log (terms below); recalls the last query, selected",
        hint: "filter",
    },
    Binding {
        keys: &[ch('s')],
        action: Action::SortNext,
        help: "sort rooms: recent, id, name, online, admins, created, coins",
        hint: "sort",
    },
    Binding {
        keys: &[ch('S')],
        action: Action::SortReverse,
        help: "reverse the room sort",
        hint: "reverse",
    },
    Binding {
        keys: &[ch('x')],
        action: Action::ToggleEnded,
        help: "hide / show ended rooms (shown below the live ones)",
        hint: "ended",
    },
    Binding {
        keys: &[ch('p')],
        action: Action::TogglePlots,
        help: "show / hide the header sparkline and the room chart",
        hint: "plots",
    },
    Binding {
        keys: &[ch('y')],
        action: Action::Copy,
        help: "copy the room id (JSON view: the callback body) via OSC 52",
        hint: "copy",
    },
    Binding {
        keys: &[ch('w')],
        action: Action::SaveLog,
        help: "save the log lines shown (filter, scope) as NDJSON",
        hint: "save",
    },
    Binding {
        keys: &[ch('f')],
        action: Action::ToggleScope,
        help: "log: all rooms / the selected room only (stays on that room)",
        hint: "scope",
    },
    Binding {
        keys: &[ch(' ')],
        action: Action::TogglePause,
        help: "pause / resume the log",
        hint: "pause",
    },
    Binding {
        keys: &[key(KeyCode::Enter)],
        action: Action::Open,
        help: "log: whole callback (JSON, query, reply); rooms: its log",
        hint: "open",
    },
    Binding {
        keys: &[key(KeyCode::Esc)],
        action: Action::Back,
        help: "close overlay / clear filter / leave room scope",
        hint: "back",
    },
    Binding {
        keys: &[ch('r')],
        action: Action::Resend,
        help: "log: resend the callback to the backend",
        hint: "resend",
    },
    Binding {
        keys: &[ch('e')],
        action: Action::Edit,
        help: "log: edit the body in $EDITOR, then resend it",
        hint: "edit",
    },
    Binding {
        keys: &[ch('?')],
        action: Action::Help,
        help: "this help",
        hint: "help",
    },
    Binding {
        keys: &[
            ch('q'),
            Key {
                code: KeyCode::Char('c'),
                ctrl: true,
            },
        ],
        action: Action::Quit,
        help: "quit",
        hint: "quit",
    },
];

/// Keys replaced by the config file, set once at start-up.
static OVERRIDES: OnceLock<Vec<(Action, Vec<Key>)>> = OnceLock::new();

/// Installs the config file's key changes (already checked for clashes); only the first call
/// counts.
pub fn set_overrides(overrides: Vec<(Action, Vec<Key>)>) {
    let _ = OVERRIDES.set(overrides);
}

/// A binding's keys, as the config file may have changed them.
pub fn keys_of(binding: &Binding) -> &[Key] {
    OVERRIDES
        .get()
        .and_then(|o| o.iter().find(|(a, _)| *a == binding.action))
        .map_or(binding.keys, |(_, keys)| keys.as_slice())
}

/// The action bound to a key press, if any. Key releases and repeats of nothing are ignored.
pub fn action_for(event: &KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    BINDINGS
        .iter()
        .find(|b| {
            keys_of(b).iter().any(|k| {
                k.ctrl == ctrl
                    && match (k.code, event.code) {
                        // Shifted letters arrive as the capital, sometimes with SHIFT set.
                        (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
                        (a, b) => a == b,
                    }
            })
        })
        .map(|b| b.action)
}

/// How a key is written in help and hints.
pub fn key_label(key: Key) -> String {
    let name = match key.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Home => "Home".into(),
        KeyCode::End => "End".into(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => "S-Tab".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        other => format!("{other:?}"),
    };
    if key.ctrl {
        format!("Ctrl-{name}")
    } else {
        name
    }
}

/// All keys of a binding, e.g. `j ↓`.
pub fn keys_label(binding: &Binding) -> String {
    keys_of(binding)
        .iter()
        .map(|k| key_label(*k))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The hint bar's actions, most wanted first: a narrow bar keeps a prefix of this list.
/// Help comes first so that every other key stays one `?` away.
pub const HINT_PRIORITY: &[Action] = &[
    Action::Help,
    Action::Filter,
    Action::Open,
    Action::ToggleScope,
    Action::TogglePause,
    Action::SortNext,
    Action::ToggleEnded,
    Action::Quit,
    Action::NextPane,
    Action::Copy,
    Action::TogglePlots,
    Action::Back,
    Action::SortReverse,
    Action::Resend,
    Action::Edit,
    Action::SaveLog,
];

/// The hints that fit in `width` cells when each takes `cost(key, hint)` cells: taken in
/// [`HINT_PRIORITY`] order up to the first that does not fit (with `back_first`, Esc ahead
/// of all but help: something is open to go back from), then shown in the key table's order.
pub fn hints_within(
    width: usize,
    back_first: bool,
    cost: impl Fn(&str, &str) -> usize,
) -> Vec<(String, &'static str)> {
    let mut priority: Vec<Action> = HINT_PRIORITY.to_vec();
    if back_first && let Some(at) = priority.iter().position(|a| *a == Action::Back) {
        let back = priority.remove(at);
        priority.insert(1, back);
    }
    let hint_of = |action: Action| {
        BINDINGS
            .iter()
            .find(|b| b.action == action && !b.hint.is_empty())
            .and_then(|b| keys_of(b).first().map(|k| (b, key_label(*k))))
    };
    let mut chosen = Vec::new();
    let mut used = 0;
    for action in priority {
        let Some((binding, key)) = hint_of(action) else {
            continue;
        };
        let w = cost(&key, binding.hint);
        if used + w > width {
            break;
        }
        used += w;
        chosen.push(binding.action);
    }
    BINDINGS
        .iter()
        .filter(|b| chosen.contains(&b.action))
        .filter_map(|b| keys_of(b).first().map(|k| (key_label(*k), b.hint)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn every_hint_has_a_priority_and_help_always_fits_first() {
        for binding in BINDINGS.iter().filter(|b| !b.hint.is_empty()) {
            assert!(
                HINT_PRIORITY.contains(&binding.action),
                "{:?} has a hint but no priority",
                binding.action
            );
        }
        let cost = |key: &str, hint: &str| key.len() + hint.len() + 3;
        let narrow = hints_within(10, false, cost);
        assert_eq!(narrow, [("?".to_string(), "help")]);
        assert!(hints_within(3, false, cost).is_empty());
        let wide = hints_within(500, false, cost);
        assert_eq!(wide.len(), HINT_PRIORITY.len());
        // Esc moves up when there is something to go back from.
        let back = hints_within(20, true, cost);
        assert_eq!(
            back,
            [("Esc".to_string(), "back"), ("?".to_string(), "help")]
        );
    }

    #[test]
    fn keys_resolve() {
        assert_eq!(
            action_for(&press(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Tail)
        );
        assert_eq!(
            action_for(&press(KeyCode::Char('c'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn every_action_has_a_key_and_help() {
        for b in BINDINGS {
            assert!(!b.keys.is_empty());
            assert!(!b.help.is_empty());
        }
    }
}
