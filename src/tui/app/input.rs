//! Keys and mouse: turns terminal input into actions on the focused pane or the overlay.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::{App, Overlay, Pane};
use crate::tui::keymap::{Action, action_for};

/// Lines the mouse wheel scrolls.
const WHEEL_STEP: usize = 3;

impl App {
    fn on_filter_key(&mut self, key: &KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if key.modifiers.contains(KeyModifiers::ALT)
            && let KeyCode::Char(c) = key.code
        {
            // Esc and a key in quick succession arrive as Alt+key: close the prompt, then
            // take the key as a key.
            self.editing_filter = false;
            self.set_filter(String::new());
            self.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            return;
        }
        // Recalled text is selected: typing replaces it, Backspace erases it.
        let selected = std::mem::take(&mut self.filter_selected);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('u') if ctrl => self.set_filter(String::new()),
            KeyCode::Char(c) if !ctrl => {
                let mut filter = if selected {
                    String::new()
                } else {
                    self.filter.clone()
                };
                filter.push(c);
                self.set_filter(filter);
            }
            KeyCode::Backspace => {
                let mut filter = self.filter.clone();
                if selected {
                    filter.clear();
                } else {
                    filter.pop();
                }
                self.set_filter(filter);
            }
            // An invalid query keeps the prompt open, with its reason shown.
            KeyCode::Enter if self.query_error.is_none() => {
                self.editing_filter = false;
                if !self.filter.is_empty() {
                    self.last_filter.clone_from(&self.filter);
                }
            }
            KeyCode::Esc => {
                self.editing_filter = false;
                self.set_filter(String::new());
            }
            _ => {}
        }
        self.dirty = true;
    }

    pub(super) fn on_key(&mut self, key: &KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        if self.editing_filter {
            self.on_filter_key(key);
            return;
        }
        let Some(action) = action_for(key) else {
            return;
        };
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Help(scroll) => {
                // Moving keys scroll it (it may not fit); any other key closes it.
                let last = crate::tui::ui::help_lines_count().saturating_sub(1);
                let page = usize::from(self.size.1.saturating_sub(4)).max(1);
                match action {
                    Action::Quit => {
                        self.quit = true;
                        self.overlay = Overlay::None;
                    }
                    Action::Up => *scroll = scroll.saturating_sub(1),
                    Action::Down => *scroll = (*scroll + 1).min(last),
                    Action::PageUp => *scroll = scroll.saturating_sub(page),
                    Action::PageDown => *scroll = (*scroll + page).min(last),
                    Action::Top => *scroll = 0,
                    Action::Tail => *scroll = last.saturating_sub(page),
                    _ => self.overlay = Overlay::None,
                }
                self.dirty = true;
                return;
            }
            Overlay::Event(view) => {
                let page = usize::from(self.size.1.saturating_sub(8)).max(1);
                let last = view.lines.len().saturating_sub(1);
                match action {
                    Action::Quit => self.quit = true,
                    Action::Copy => {
                        let seq = view.seq;
                        self.copy_body(seq);
                        return;
                    }
                    Action::Back | Action::Open | Action::Help => self.overlay = Overlay::None,
                    Action::Up => view.scroll = view.scroll.saturating_sub(1),
                    Action::Down => view.scroll = (view.scroll + 1).min(last),
                    Action::PageUp => view.scroll = view.scroll.saturating_sub(page),
                    Action::PageDown => view.scroll = (view.scroll + page).min(last),
                    Action::Top => view.scroll = 0,
                    Action::Tail => view.scroll = last.saturating_sub(page),
                    Action::Resend => {
                        let seq = view.seq;
                        self.request_resend(seq);
                    }
                    Action::Edit => {
                        let seq = view.seq;
                        self.request_edit(seq);
                    }
                    _ => {}
                }
                self.dirty = true;
                return;
            }
        }
        self.on_action(action);
    }

    fn on_action(&mut self, action: Action) {
        self.dirty = true;
        match (action, self.focus) {
            (Action::Quit, _) => self.quit = true,
            (Action::Help, _) => self.overlay = Overlay::Help(0),
            (Action::Filter, _) => {
                self.editing_filter = true;
                if self.filter.is_empty() {
                    let last = self.last_filter.clone();
                    self.set_filter(last);
                }
                self.filter_selected = !self.filter.is_empty();
            }
            (Action::Back, _) => {
                if !self.filter.is_empty() {
                    self.set_filter(String::new());
                } else if self.scope_room.is_some() {
                    self.scope_room = None;
                    self.log_stale = true;
                }
            }
            (Action::SortNext, _) => {
                self.sort_key = self.sort_key.next();
                self.rooms_stale = true;
            }
            (Action::SortReverse, _) => {
                self.sort_reversed = !self.sort_reversed;
                self.rooms_stale = true;
            }
            (Action::TogglePlots, _) => self.show_plots = !self.show_plots,
            (Action::SaveLog, _) => self.save_log(),
            (Action::Copy, _) => match self.selected.clone() {
                Some(key) => self.copy(key.id.clone(), &format!("room id {}", key.id)),
                None => self.say("nothing to copy: no room selected".into()),
            },
            (Action::ToggleEnded, _) => {
                self.hide_ended = !self.hide_ended;
                self.rooms_stale = true;
            }
            (Action::NextPane, pane) => self.focus = pane.next(),
            (Action::PrevPane, pane) => self.focus = pane.next().next(),
            (Action::ToggleScope, _) => {
                self.scope_room = match self.scope_room {
                    Some(_) => None,
                    None => self.selected.clone(),
                };
                self.log_stale = true;
            }
            (Action::TogglePause, _) => {
                if self.paused() {
                    self.follow();
                } else if let Some(last) = self.log_rows.len().checked_sub(1) {
                    self.pause_at(last);
                }
            }
            // The PAUSED badge promises that End/G resumes, whichever pane has focus.
            (Action::Tail, _) if self.paused() => self.follow(),
            (Action::Up, Pane::Detail) => self.scroll_detail(-1),
            (Action::Down, Pane::Detail) => self.scroll_detail(1),
            (Action::PageUp, Pane::Detail) => {
                self.scroll_detail(-(self.page(Pane::Detail) as isize));
            }
            (Action::PageDown, Pane::Detail) => {
                self.scroll_detail(self.page(Pane::Detail) as isize);
            }
            (Action::Top, Pane::Detail) => self.detail_scroll = 0,
            (Action::Tail, Pane::Detail) => self.scroll_detail(isize::MAX),
            (Action::Open, Pane::Rooms | Pane::Detail) => {
                if self.selected.is_some() {
                    self.scope_room.clone_from(&self.selected);
                    self.log_stale = true;
                    self.focus = Pane::Log;
                }
            }
            (Action::Open, Pane::Log) => self.open_event(),
            (Action::Resend, _) => self.resend_at_cursor(),
            (Action::Edit, _) => self.edit_at_cursor(),
            (Action::Up, Pane::Rooms) => self.move_rooms(-1),
            (Action::Down, Pane::Rooms) => self.move_rooms(1),
            (Action::PageUp, Pane::Rooms) => self.move_rooms(-(self.page(Pane::Rooms) as isize)),
            (Action::PageDown, Pane::Rooms) => self.move_rooms(self.page(Pane::Rooms) as isize),
            (Action::Top, Pane::Rooms) => self.select_index(0),
            (Action::Tail, Pane::Rooms) => {
                self.select_index(self.room_order.len().saturating_sub(1));
            }
            (Action::Up, Pane::Log) => self.move_log(-1),
            (Action::Down, Pane::Log) => self.move_log(1),
            (Action::PageUp, Pane::Log) => self.move_log(-(self.page(Pane::Log) as isize)),
            (Action::PageDown, Pane::Log) => self.move_log(self.page(Pane::Log) as isize),
            (Action::Top, Pane::Log) => {
                if !self.log_rows.is_empty() {
                    self.pause_at(0);
                }
            }
            (Action::Tail, Pane::Log) => self.follow(),
        }
    }

    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) {
        let delta: isize = match mouse.kind {
            MouseEventKind::ScrollUp => -(WHEEL_STEP as isize),
            MouseEventKind::ScrollDown => WHEEL_STEP as isize,
            MouseEventKind::Down(MouseButton::Left) => {
                self.on_click(mouse.column, mouse.row);
                return;
            }
            _ => return,
        };
        if let Overlay::Event(view) = &mut self.overlay {
            let last = view.lines.len().saturating_sub(1);
            view.scroll = view.scroll.saturating_add_signed(delta).min(last);
            self.dirty = true;
            return;
        }
        let areas = crate::tui::ui::layout(Rect::new(0, 0, self.size.0, self.size.1));
        let at = Position::new(mouse.column, mouse.row);
        if areas.rooms.contains(at) {
            self.move_rooms(delta.signum());
        } else if areas.detail.contains(at) {
            self.scroll_detail(delta);
        } else if areas.log.contains(at) {
            self.move_log(delta);
        }
    }

    /// A click focuses the pane under it; on a table row it selects that room.
    fn on_click(&mut self, column: u16, row: u16) {
        if !matches!(self.overlay, Overlay::None) {
            return;
        }
        let areas = crate::tui::ui::layout(Rect::new(0, 0, self.size.0, self.size.1));
        let at = Position::new(column, row);
        if areas.rooms.contains(at) {
            self.focus = Pane::Rooms;
            self.dirty = true;
            // Same window as the view: title, column header, then rows ending at the selection.
            let rows_h = usize::from(areas.rooms.height.saturating_sub(2));
            let start = (self.selected_index.unwrap_or(0) + 1).saturating_sub(rows_h);
            if let Some(offset) = row.checked_sub(areas.rooms.y + 2) {
                let index = start + usize::from(offset);
                if index < self.room_order.len() {
                    self.select_index(index);
                }
            }
        } else if areas.detail.contains(at) {
            self.focus = Pane::Detail;
            self.dirty = true;
        } else if areas.log.contains(at) {
            self.focus = Pane::Log;
            self.dirty = true;
        }
    }
}
