//! The terminal app: state and run loop, key bindings, view functions and the terminal itself.

pub mod app;
pub mod clipboard;
pub mod editor;
pub mod keymap;
pub mod query;
pub mod terminal;
pub mod ui;
pub mod zone;
