//! The dashboard's copy of the relay's outcomes (fed by [`Msg::Relay`](super::Msg::Relay)),
//! its status for the header, and the resends asked for with `r`, which the loop carries out.

use std::collections::BTreeMap;

use super::event_view::{EventView, event_view};
use super::log_rows::Notice;
use super::{App, Overlay};
use crate::relay::{RelayRecord, RelayStatus};

/// Outcomes kept at most: as many as log lines the dashboard could hold by default.
const RECORDS_KEPT: usize = 10_000;

/// Relay outcomes by seq, the relay's status, and pending resend requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayView {
    records: BTreeMap<u64, RelayRecord>,
    pub status: Option<RelayStatus>,
    /// Where `r` sends (the forward target or `--resend-to`); `None`: `r` says it cannot.
    pub resend_to: Option<String>,
    /// Seqs to resend; the loop takes them after each update.
    pub resends: Vec<u64>,
    /// Seqs to edit in `$EDITOR` and then resend; likewise.
    pub edits: Vec<u64>,
}

impl RelayView {
    pub fn record(&self, seq: u64) -> Option<&RelayRecord> {
        self.records.get(&seq)
    }
}

impl App {
    pub(super) fn on_relay(&mut self, record: RelayRecord) {
        let seq = record.seq;
        self.relay.records.insert(seq, record);
        // A relay: query shows lines by an outcome that just changed.
        if self.query.uses_relay() {
            self.log_stale = true;
            self.dirty = true;
        }
        // An open callback view follows its relay's progress.
        if let Overlay::Event(view) = &self.overlay
            && view.seq == seq
            && let Some(entry) = self.entry(seq)
        {
            let scroll = view.scroll;
            let mut fresh = event_view(entry);
            fresh.scroll = scroll;
            self.add_relay_section(&mut fresh);
            self.overlay = Overlay::Event(fresh);
        }
        while self.relay.records.len() > RECORDS_KEPT {
            self.relay.records.pop_first();
        }
        self.dirty = true;
    }

    pub(super) fn on_relay_status(&mut self, status: RelayStatus) {
        if self.relay.status.as_ref() != Some(&status) {
            self.relay.status = Some(status);
            self.dirty = true;
        }
    }

    /// Appends the relay's section (outcome, attempts, answer) to a callback view.
    pub(super) fn add_relay_section(&self, view: &mut EventView) {
        if let Some(record) = self.relay.record(view.seq) {
            view.lines.extend(crate::tui::ui::relay::view_lines(record));
        }
    }

    /// Asks the loop to resend the callback of `seq`.
    pub(super) fn request_resend(&mut self, seq: u64) {
        if self.relay.resend_to.is_none() {
            self.push_notice("r: nowhere to resend: start with --forward-to or --resend-to".into());
            return;
        }
        if self.entry(seq).is_some_and(|e| e.event.raw_body.is_empty()) {
            self.push_notice(format!("r: #{seq} has no body to resend"));
            return;
        }
        self.relay.resends.push(seq);
        self.dirty = true;
    }

    /// Asks the loop to open the callback of `seq` in `$EDITOR`, then resend the result.
    pub(super) fn request_edit(&mut self, seq: u64) {
        if self.relay.resend_to.is_none() {
            self.push_notice("e: nowhere to send: start with --forward-to or --resend-to".into());
            return;
        }
        self.relay.edits.push(seq);
        self.dirty = true;
    }

    /// Edits the log line under the cursor (the newest line when following).
    pub(super) fn edit_at_cursor(&mut self) {
        let Some(row) = self.log_cursor_index().map(|i| self.log_rows[i]) else {
            return;
        };
        if row.notice.is_none() {
            self.request_edit(row.seq);
        }
    }

    /// Resends the log line under the cursor (the newest line when following).
    pub(super) fn resend_at_cursor(&mut self) {
        let Some(row) = self.log_cursor_index().map(|i| self.log_rows[i]) else {
            return;
        };
        if row.notice.is_none() {
            self.request_resend(row.seq);
        }
    }

    /// A line of the app's own in the log, after the newest event.
    pub(super) fn push_notice(&mut self, text: String) {
        if self.notices.len() >= 100 {
            self.notices.remove(0);
        }
        self.notices.push(Notice {
            after_seq: self.store.last_seq(),
            text,
        });
        self.view_changed();
    }
}
