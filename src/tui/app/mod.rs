//! The dashboard's state and its reducer: [`App`] holds a copy of the room store plus
//! everything about the view (selection, filter, follow/pause, overlays); [`update`] applies
//! one [`Msg`] to it and does no I/O. The loop that feeds it lives in [`run`].
//!
//! One job per file: `state` the [`App`] itself, `feed` what arrives from the hub and the
//! clock, `intake` the hub's events on their way in, `order` the room table's order,
//! `log_rows` the log's lines, `log_index` a compact record per log line for filtering it
//! fast, `history` the lines paged back from the journal, `room_users` each room's
//! accounts kept together for `user:`, `input` keys and mouse,
//! `navigation` moving selections and cursors, `event_view` the JSON overlay, `series` the
//! plots' bounded history, `order` the rooms table's order.

mod copy;
mod event_view;
mod feed;
mod history;
mod input;
mod intake;
mod log_index;
mod log_rows;
mod navigation;
mod order;
mod relay_view;
mod room_users;
mod run;
mod save;
mod series;
mod state;

use crossterm::event::{KeyEvent, MouseEvent};

pub use event_view::{EventView, event_view};
pub use history::{HISTORY_PAGE, HISTORY_WINDOW, History, HistoryPage, HistoryRequest};
pub use log_rows::{LogRow, Notice, entry_rooms};
pub use order::SortKey;
pub use relay_view::RelayView;
pub use run::{RelayFeed, run, run_dashboard, run_with_relay};
pub use series::{MINUTES_KEPT, RoomSeries, SECONDS_KEPT, SecondBucket, Throughput};
pub use state::{App, Overlay, Pane};

use crate::relay::{RelayRecord, RelayStatus};
use crate::store::{Checkpoint, LogEntry, RoomStore};

/// Everything that can happen to the dashboard.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The clock, once a second (Unix ms).
    Tick(i64),
    /// An event from the hub, folded into the app's own store.
    Bus(LogEntry),
    /// Events from the hub, oldest first, with the hub's state once they were applied (see
    /// [`RoomStore::checkpoint`]): the store takes the entries into its log and the state as
    /// it is, without folding anything itself.
    Synced {
        entries: Vec<LogEntry>,
        state: Box<Checkpoint>,
    },
    /// The bus dropped `skipped` events for the dashboard, which then caught up from the hub:
    /// the log says so.
    Skipped(u64),
    /// The subscriber fell behind by `skipped` events; `snapshot` is the hub's state now.
    Lagged {
        skipped: u64,
        snapshot: Box<RoomStore>,
    },
    Quit,
    /// A relay outcome changed.
    Relay(RelayRecord),
    /// The relay's status, once a second.
    RelayStatus(RelayStatus),
    /// A page read back from the journal, as asked by [`App::take_history_request`].
    History(Box<HistoryPage>),
}

/// Applies one message. Pure: no I/O, no clock.
pub fn update(app: &mut App, msg: Msg) {
    match msg {
        // Input acts on what is on screen, so the caches are brought up to date around it.
        Msg::Key(key) => {
            app.prepare();
            app.on_key(&key);
            app.prepare();
        }
        Msg::Mouse(mouse) => {
            app.prepare();
            app.on_mouse(mouse);
            app.prepare();
        }
        Msg::Resize(width, height) => {
            app.size = (width, height);
            app.dirty = true;
        }
        Msg::Tick(now_ms) => app.on_tick(now_ms),
        Msg::Bus(entry) => app.on_bus(&entry),
        Msg::Synced { entries, state } => app.on_synced(&entries, *state),
        Msg::Lagged { skipped, snapshot } => app.on_lagged(skipped, *snapshot),
        Msg::Skipped(skipped) => app.on_skipped(skipped),
        Msg::Quit => app.quit = true,
        Msg::Relay(record) => app.on_relay(record),
        Msg::RelayStatus(status) => app.on_relay_status(status),
        Msg::History(page) => app.on_history(*page),
    }
}
