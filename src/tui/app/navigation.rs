//! Moving around: the room selection, the log cursor (pausing and following), detail
//! scrolling, and opening a log line.

use ratatui::layout::Rect;

use super::event_view::event_view;
use super::{App, Overlay, Pane};

impl App {
    /// Picks the room on this row: from now on the selection stays on it.
    pub(super) fn select_index(&mut self, index: usize) {
        if let Some(id) = self.room_order.get(index) {
            self.follow_top = false;
            self.pinned = Some(id.clone());
            if self.selected.as_ref() != Some(id) {
                self.selected = Some(id.clone());
                self.selected_index = Some(index);
                self.detail_scroll = 0;
            }
        }
        self.dirty = true;
    }

    pub(super) fn move_rooms(&mut self, delta: isize) {
        if self.room_order.is_empty() {
            return;
        }
        let last = self.room_order.len() - 1;
        let current = self.selected_index.unwrap_or(0);
        let next = current.saturating_add_signed(delta).min(last);
        self.select_index(next);
    }

    pub(super) fn move_log(&mut self, delta: isize) {
        let Some(current) = self.log_cursor_index() else {
            if delta < 0 {
                // Nothing shown in memory (or nothing matches there): the journal may have it.
                self.page_back(delta);
            }
            return;
        };
        if delta > 0 && self.log_cursor.is_none() {
            return;
        }
        let target = current.cast_signed().saturating_add(delta);
        if target < 0 {
            // Above the first line: page back into the journal for the rest of the way.
            self.pause_at(0);
            self.page_back(target);
            return;
        }
        let from_journal = self.rows_from_journal();
        if delta > 0 && current < from_journal && target.cast_unsigned() >= from_journal {
            // Down past the lines read back, towards lines not read between them and memory.
            let last_read = from_journal - 1;
            if self.page_forward(target - last_read.cast_signed()) {
                self.pause_at(last_read);
                return;
            }
        }
        let last = self.log_rows.len() - 1;
        let next = target.cast_unsigned().min(last);
        self.pause_at(next);
    }

    pub(super) fn pause_at(&mut self, index: usize) {
        if self.log_cursor.is_none() {
            self.new_while_paused = 0;
        }
        self.log_cursor = self.log_rows.get(index).copied();
        self.dirty = true;
    }

    pub(super) fn follow(&mut self) {
        self.stop_paging();
        self.log_cursor = None;
        self.new_while_paused = 0;
        self.dirty = true;
    }

    /// Rows the focused list pages by.
    pub(super) fn page(&self, pane: Pane) -> usize {
        let areas = crate::tui::ui::layout(Rect::new(0, 0, self.size.0, self.size.1));
        let area = match pane {
            Pane::Rooms => areas.rooms,
            Pane::Detail => areas.detail,
            Pane::Log => areas.log,
        };
        usize::from(area.height.saturating_sub(3)).max(1)
    }

    pub(super) fn open_event(&mut self) {
        let Some(index) = self.log_cursor_index() else {
            return;
        };
        let row = self.log_rows[index];
        if row.notice.is_some() {
            return;
        }
        if let Some(entry) = self.entry(row.seq) {
            let mut view = event_view(entry);
            self.add_relay_section(&mut view);
            self.overlay = Overlay::Event(view);
            self.dirty = true;
        }
    }

    pub(super) fn scroll_detail(&mut self, delta: isize) {
        let max = crate::tui::ui::detail_max_scroll(self);
        self.detail_scroll = self.detail_scroll.saturating_add_signed(delta).min(max);
        self.dirty = true;
    }
}
