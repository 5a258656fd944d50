//! `[theme]`: `style = { fg = "red", bg = "black", bold = true, ... }` changes only what it
//! names in that style.

use ratatui::style::{Color, Modifier};
use toml::Value;

use crate::tui::ui::theme::{STYLE_NAMES, StylePatch};

#[derive(Debug, Default, Clone)]
pub struct ThemeOverrides {
    pub styles: Vec<(&'static str, StylePatch)>,
}

fn color(name: &str, value: &Value) -> Result<Color, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{name}: a colour name like \"red\" or \"#ff8800\""))?;
    text.parse::<Color>()
        .map_err(|_| format!("{name}: unknown colour {text:?} (red, light_blue, #ff8800, 208...)"))
}

impl ThemeOverrides {
    pub fn add(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let style = STYLE_NAMES
            .iter()
            .find(|s| **s == name)
            .ok_or_else(|| format!("unknown style {name:?}: one of {}", STYLE_NAMES.join(", ")))?;
        let Value::Table(fields) = value else {
            return Err(format!(
                "{name}: a table like {{ fg = \"red\", bold = true }}"
            ));
        };
        let mut patch = StylePatch::default();
        for (field, v) in fields {
            match field.as_str() {
                "fg" => patch.fg = Some(color(field, v)?),
                "bg" => patch.bg = Some(color(field, v)?),
                "bold" | "dim" | "italic" | "underlined" | "reversed" => {
                    let on = v
                        .as_bool()
                        .ok_or_else(|| format!("{name}.{field}: true or false"))?;
                    let modifier = match field.as_str() {
                        "bold" => Modifier::BOLD,
                        "dim" => Modifier::DIM,
                        "italic" => Modifier::ITALIC,
                        "underlined" => Modifier::UNDERLINED,
                        _ => Modifier::REVERSED,
                    };
                    if on {
                        patch.add |= modifier;
                    } else {
                        patch.remove |= modifier;
                    }
                }
                other => {
                    return Err(format!(
                        "{name}: unknown field {other:?} (fg, bg, bold, dim, italic, underlined, reversed)"
                    ));
                }
            }
        }
        self.styles.retain(|(s, _)| s != style);
        self.styles.push((style, patch));
        Ok(())
    }
}
