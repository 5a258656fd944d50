//! `[keys]`: `action = "key"` or `action = ["key", "key"]` replaces that action's keys.

use crossterm::event::KeyCode;
use toml::Value;

use crate::tui::keymap::{Action, BINDINGS, Key};

/// Key overrides, checked: known actions, known keys, no key bound to two actions.
#[derive(Debug, Default, Clone)]
pub struct KeyOverrides {
    pub overrides: Vec<(Action, Vec<Key>)>,
}

/// An action's name in the config file: `sort_next`, `toggle_pause`, ...
pub fn action_name(action: Action) -> String {
    let debug = format!("{action:?}");
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// Parses `j`, `space`, `Enter`, `Esc`, `Tab`, `S-Tab`, `Up`, `Down`, `PgUp`, `PgDn`,
/// `Home`, `End`, `Backspace`, `Ctrl-x`.
pub fn parse_key(text: &str) -> Result<Key, String> {
    let (ctrl, rest) = match text
        .strip_prefix("Ctrl-")
        .or_else(|| text.strip_prefix("ctrl-"))
    {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => KeyCode::Char(c),
        _ => match rest.to_ascii_lowercase().as_str() {
            "space" => KeyCode::Char(' '),
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "s-tab" | "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            _ => {
                return Err(format!(
                    "unknown key {text:?}: a character, space, Enter, Esc, Tab, S-Tab, Up, \
                     Down, PgUp, PgDn, Home, End, Backspace, or Ctrl- before one"
                ));
            }
        },
    };
    Ok(Key { code, ctrl })
}

impl KeyOverrides {
    pub fn add(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let action = BINDINGS
            .iter()
            .map(|b| b.action)
            .find(|a| action_name(*a) == name)
            .ok_or_else(|| {
                let names: Vec<String> = BINDINGS.iter().map(|b| action_name(b.action)).collect();
                format!("unknown action {name:?}: one of {}", names.join(", "))
            })?;
        let texts: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| format!("{name}: keys are strings"))
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(format!(
                    "{name}: a key like \"j\" or a list [\"j\", \"Down\"]"
                ));
            }
        };
        if texts.is_empty() {
            return Err(format!("{name}: at least one key"));
        }
        let keys = texts
            .into_iter()
            .map(parse_key)
            .collect::<Result<Vec<_>, _>>()?;
        self.overrides.retain(|(a, _)| *a != action);
        self.overrides.push((action, keys));
        self.check()
    }

    /// The keys of an action with the overrides applied.
    fn keys_of(&self, action: Action) -> Vec<Key> {
        self.overrides
            .iter()
            .find(|(a, _)| *a == action)
            .map_or_else(
                || {
                    BINDINGS
                        .iter()
                        .find(|b| b.action == action)
                        .map(|b| b.keys.to_vec())
                        .unwrap_or_default()
                },
                |(_, keys)| keys.clone(),
            )
    }

    /// No key may do two things.
    fn check(&self) -> Result<(), String> {
        let mut seen: Vec<(Key, Action)> = Vec::new();
        for binding in BINDINGS {
            for key in self.keys_of(binding.action) {
                if let Some((_, other)) = seen.iter().find(|(k, _)| *k == key) {
                    return Err(format!(
                        "key {} would do both {} and {}",
                        crate::tui::keymap::key_label(key),
                        action_name(*other),
                        action_name(binding.action)
                    ));
                }
                seen.push((key, binding.action));
            }
        }
        Ok(())
    }
}
